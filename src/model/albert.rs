//! ALBERT for sequence classification, as transformers' `modeling_albert.py`: narrow embeddings
//! (`embedding_size`) mapped to the hidden size, BERT's layer under ALBERT's names, shared: each of
//! the `num_hidden_layers` steps runs one group of `inner_group_num` layers, and steps share a
//! group's weights (`num_hidden_groups`, usually 1). Then BERT's pooler and classifier.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear};

use super::bert::{BertEmbeddings, BertInput, BertLayer, SequenceClassifierOutput, run_layers};
use super::config::{BertConfig, Family};
use super::dropout::dropout;
use super::lora::LoraLinear;
use super::weights::{Exporter, Vars};
use crate::error::Result;


#[derive(Module, Debug)]
pub struct AlbertModel {
    pub embeddings: BertEmbeddings,
    /// transformers: `encoder.embedding_hidden_mapping_in`
    pub embedding_hidden_mapping_in: LoraLinear,
    /// transformers: `encoder.albert_layer_groups.G.albert_layers.J`
    pub albert_layer_groups: Vec<Vec<BertLayer>>,
    /// transformers: `pooler`
    pub pooler: LoraLinear,
    #[module(skip)]
    pub num_hidden_layers: usize,
}

#[derive(Module, Debug)]
pub struct AlbertForSequenceClassification {
    pub albert: AlbertModel,
    pub dropout: Dropout,
    pub classifier: Linear,
}

fn layer_name(g: usize, j: usize) -> String {
    format!("albert.encoder.albert_layer_groups.{g}.albert_layers.{j}")
}

impl AlbertForSequenceClassification {
    pub fn load(vars: &mut Vars, c: &BertConfig, config_path: &str) -> Result<Self> {
        let act = c.activation(config_path)?;
        let width = c.embedding_size.unwrap_or(128);
        let (groups, inner) = (c.num_hidden_groups.unwrap_or(1), c.inner_group_num.unwrap_or(1));
        let albert_layer_groups = (0..groups)
            .map(|g| (0..inner).map(|j| BertLayer::load(vars, &layer_name(g, j), &Family::Albert.layout(), c, act)).collect())
            .collect::<Result<_>>()?;
        Ok(Self {
            albert: AlbertModel {
                embeddings: BertEmbeddings::load(vars, "albert.embeddings", c, width, true, 0)?,
                embedding_hidden_mapping_in: vars.dense("albert.encoder.embedding_hidden_mapping_in", width, c.hidden_size)?,
                albert_layer_groups,
                pooler: vars.dense("albert.pooler", c.hidden_size, c.hidden_size)?,
                num_hidden_layers: c.num_hidden_layers,
            },
            dropout: DropoutConfig::new(c.classifier_dropout.unwrap_or(0.1)).init(),
            classifier: vars.linear("classifier", c.hidden_size, c.num_labels())?,
        })
    }

    pub fn export(&self, ex: &mut Exporter) {
        let a = &self.albert;
        a.embeddings.export(ex, "albert.embeddings");
        ex.dense("albert.encoder.embedding_hidden_mapping_in", &a.embedding_hidden_mapping_in);
        for (g, group) in a.albert_layer_groups.iter().enumerate() {
            for (j, layer) in group.iter().enumerate() {
                layer.export(ex, &layer_name(g, j), &Family::Albert.layout());
            }
        }
        ex.dense("albert.pooler", &a.pooler);
        ex.linear("classifier", &self.classifier);
    }

    /// Logits, the pooled output they came from, and the last layer's attention if asked for.
    pub fn forward(&self, input: BertInput, output_attentions: bool) -> SequenceClassifierOutput {
        let a = &self.albert;
        let x = a.embeddings.forward(input.input_ids.clone(), input.token_type_ids.clone());
        let x = a.embedding_hidden_mapping_in.forward(x);
        let groups = a.albert_layer_groups.len();
        // transformers: step i runs group int(i / (num_hidden_layers / num_hidden_groups))
        let steps = (0..a.num_hidden_layers).flat_map(|i| &a.albert_layer_groups[((i * groups) / a.num_hidden_layers).min(groups - 1)]);
        let (first, attention) = run_layers(steps, x, &input, output_attentions);
        let pooled = a.pooler.forward(first).tanh();
        let logits = self.classifier.forward(dropout(&self.dropout, pooled.clone()));
        SequenceClassifierOutput { logits, features: pooled, attention }
    }
}

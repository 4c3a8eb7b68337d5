//! DistilBERT for sequence classification, as transformers' `modeling_distilbert.py`: BERT's layer
//! under DistilBERT's names (`q_lin`, `sa_layer_norm`, `ffn.lin1`, …), embeddings without token
//! types, and `pre_classifier` → ReLU → dropout → `classifier` on [CLS].

use burn::module::Module;

use super::bert::{BertEmbeddings, BertInput, BertLayer, SequenceClassifierOutput, run_layers};
use super::config::{Activation, BertConfig, Family};
use super::head::ClassificationHead;
use super::weights::{Exporter, Vars};
use crate::error::Result;


#[derive(Module, Debug)]
pub struct DistilBertModel {
    pub embeddings: BertEmbeddings,
    /// transformers: `transformer.layer`
    pub layer: Vec<BertLayer>,
}

#[derive(Module, Debug)]
pub struct DistilBertForSequenceClassification {
    pub distilbert: DistilBertModel,
    /// transformers: `pre_classifier` and `classifier`.
    pub classifier: ClassificationHead,
}

impl DistilBertForSequenceClassification {
    pub fn load(vars: &mut Vars, c: &BertConfig, config_path: &str) -> Result<Self> {
        let act = c.activation(config_path)?;
        Ok(Self {
            distilbert: DistilBertModel {
                embeddings: BertEmbeddings::load(vars, "distilbert.embeddings", c, c.hidden_size, false, 0)?,
                layer: (0..c.num_hidden_layers)
                    .map(|i| BertLayer::load(vars, &format!("distilbert.transformer.layer.{i}"), &Family::DistilBert.layout(), c, act))
                    .collect::<Result<_>>()?,
            },
            classifier: ClassificationHead::load(
                vars,
                c,
                ("pre_classifier", "classifier"),
                Some(Activation::Relu),
                false,
                c.classifier_dropout.unwrap_or(0.2),
            )?,
        })
    }

    pub fn export(&self, ex: &mut Exporter) {
        self.distilbert.embeddings.export(ex, "distilbert.embeddings");
        for (i, layer) in self.distilbert.layer.iter().enumerate() {
            layer.export(ex, &format!("distilbert.transformer.layer.{i}"), &Family::DistilBert.layout());
        }
        self.classifier.export(ex);
    }

    pub fn forward(&self, input: BertInput, output_attentions: bool) -> SequenceClassifierOutput {
        let x = self.distilbert.embeddings.forward(input.input_ids.clone(), input.token_type_ids.clone());
        let (first, attention) = run_layers(&self.distilbert.layer, x, &input, output_attentions);
        SequenceClassifierOutput { logits: self.classifier.forward(first.clone()), features: first, attention }
    }
}

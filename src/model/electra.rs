//! ELECTRA's discriminator for sequence classification, as transformers' `modeling_electra.py`:
//! BERT's embeddings (possibly narrower than the hidden size, then `electra.embeddings_project`) and
//! encoder under `electra.`, no pooler, and a two-layer GELU head on [CLS] (`classifier.dense`,
//! `classifier.out_proj`).

use burn::module::Module;

use super::bert::{BertInput, BertModel, SequenceClassifierOutput};
use super::config::{Activation, BertConfig};
use super::head::ClassificationHead;
use super::lora::LoraLinear;
use super::weights::{Exporter, Vars};
use crate::error::Result;

#[derive(Module, Debug)]
pub struct ElectraForSequenceClassification {
    pub electra: BertModel,
    /// transformers: `electra.embeddings_project`, when `embedding_size` differs from the hidden size.
    pub embeddings_project: Option<LoraLinear>,
    pub classifier: ClassificationHead,
}

impl ElectraForSequenceClassification {
    pub fn load(vars: &mut Vars, c: &BertConfig, config_path: &str) -> Result<Self> {
        let width = c.embedding_size.unwrap_or(c.hidden_size);
        let p = c.classifier_dropout.unwrap_or(c.hidden_dropout_prob);
        Ok(Self {
            electra: BertModel::load(vars, "electra", c, config_path, false, 0)?,
            embeddings_project: match width == c.hidden_size {
                true => None,
                false => Some(vars.dense("electra.embeddings_project", width, c.hidden_size)?),
            },
            // transformers' head uses GELU whatever the encoder's activation.
            classifier: ClassificationHead::load(
                vars,
                c,
                ("classifier.dense", "classifier.out_proj"),
                Some(Activation::Gelu),
                true,
                p,
            )?,
        })
    }

    pub fn export(&self, ex: &mut Exporter) {
        self.electra.export(ex, "electra");
        if let Some(project) = &self.embeddings_project {
            ex.dense("electra.embeddings_project", project);
        }
        self.classifier.export(ex);
    }

    pub fn forward(&self, input: BertInput, output_attentions: bool) -> SequenceClassifierOutput {
        let mut x = self.electra.embeddings.forward(input.input_ids.clone(), input.token_type_ids.clone());
        if let Some(project) = &self.embeddings_project {
            x = project.forward(x);
        }
        let (first, attention) = self.electra.encode(x, &input, output_attentions);
        SequenceClassifierOutput { logits: self.classifier.forward(first.clone()), features: first, attention }
    }
}

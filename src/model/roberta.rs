//! RoBERTa (and XLM-RoBERTa, the same modules) for sequence classification, as transformers'
//! `modeling_roberta.py`: BERT's encoder under `roberta.` without a pooler, positions numbered from
//! `pad_token_id + 1`, and a two-layer head on `<s>` (`classifier.dense`, `classifier.out_proj`).

use burn::module::Module;
use burn::tensor::Tensor;

use super::bert::{BertInput, BertModel, first_token};
use super::config::BertConfig;
use super::head::ClassificationHead;
use super::weights::{Exporter, Vars};
use crate::error::Result;

#[derive(Module, Debug)]
pub struct RobertaForSequenceClassification {
    pub roberta: BertModel,
    pub classifier: ClassificationHead,
}

impl RobertaForSequenceClassification {
    pub fn load(vars: &mut Vars, c: &BertConfig, config_path: &str) -> Result<Self> {
        let p = c.classifier_dropout.unwrap_or(c.hidden_dropout_prob);
        Ok(Self {
            roberta: BertModel::load(vars, "roberta", c, config_path, false, c.position_offset())?,
            classifier: ClassificationHead::load(vars, c, ("classifier.dense", "classifier.out_proj"), None, true, p)?,
        })
    }

    pub fn export(&self, ex: &mut Exporter) {
        self.roberta.export(ex, "roberta");
        self.classifier.export(ex);
    }

    /// Logits and the first token's hidden state the head read.
    pub fn forward_with_features(&self, input: BertInput) -> (Tensor<2>, Tensor<2>) {
        let (x, _) = self.roberta.forward(input);
        let first = first_token(x);
        (self.classifier.forward(first.clone()), first)
    }
}

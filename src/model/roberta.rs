//! RoBERTa (and XLM-RoBERTa, the same modules) for sequence classification, as transformers'
//! `modeling_roberta.py`: BERT's encoder under `roberta.` without a pooler, positions numbered from
//! `pad_token_id + 1`, and a two-layer head on `<s>` (`classifier.dense`, `classifier.out_proj`).

use burn::module::Module;
use super::bert::{BertInput, BertModel, SequenceClassifierOutput};
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

    /// Logits, the first token's hidden state the head read, and the last layer's attention if asked for.
    pub fn forward(&self, input: BertInput, output_attentions: bool) -> SequenceClassifierOutput {
        // Without a pooler, what the encoder gives is the first token's hidden state.
        let (first, attention) = self.roberta.forward(input, output_attentions);
        SequenceClassifierOutput { logits: self.classifier.forward(first.clone()), features: first, attention }
    }
}

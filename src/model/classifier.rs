//! The model a run trains, whatever its family: one type the loop, the optimizer, checkpoints,
//! evaluation and export use without knowing which family it is. An enum rather than a trait:
//! burn derives `Module` for it (the optimizer's moments and checkpoints are laid out as "a model
//! shaped like this one"), and a run holds exactly one of a closed list of families.

use burn::module::Module;
use burn::tensor::Tensor;

use super::albert::AlbertForSequenceClassification;
use super::bert::{BertForSequenceClassification, BertInput, SequenceClassifierOutput};
use super::config::{BertConfig, Family};
use super::distilbert::DistilBertForSequenceClassification;
use super::electra::ElectraForSequenceClassification;
use super::roberta::RobertaForSequenceClassification;
use super::weights::{Exporter, Vars};
use crate::error::Result;

#[derive(Module, Debug)]
pub enum SequenceClassifier {
    Bert(BertForSequenceClassification),
    DistilBert(DistilBertForSequenceClassification),
    /// RoBERTa and XLM-RoBERTa.
    Roberta(RobertaForSequenceClassification),
    Electra(ElectraForSequenceClassification),
    Albert(AlbertForSequenceClassification),
}

impl SequenceClassifier {
    /// The family `c.model_type` names, built from `vars`; `config_path` names config.json in errors.
    pub fn load(vars: &mut Vars, c: &BertConfig, config_path: &str) -> Result<Self> {
        Ok(match c.model_type {
            Family::Bert => Self::Bert(BertForSequenceClassification::load(vars, c, config_path)?),
            Family::DistilBert => Self::DistilBert(DistilBertForSequenceClassification::load(vars, c, config_path)?),
            Family::Roberta | Family::XlmRoberta => Self::Roberta(RobertaForSequenceClassification::load(vars, c, config_path)?),
            Family::Electra => Self::Electra(ElectraForSequenceClassification::load(vars, c, config_path)?),
            Family::Albert => Self::Albert(AlbertForSequenceClassification::load(vars, c, config_path)?),
        })
    }

    /// Every tensor under its transformers name, in transformers' layout (adapters merged).
    pub async fn export(&self) -> Result<Vec<(String, Vec<usize>, Vec<f32>)>> {
        self.export_with(Exporter::new()).await
    }

    /// The tensors `ex` selects: a whole model, or an adapter's ([`Exporter::adapter`]).
    pub async fn export_with(&self, mut ex: Exporter) -> Result<Vec<(String, Vec<usize>, Vec<f32>)>> {
        match self {
            Self::Bert(m) => m.export(&mut ex),
            Self::DistilBert(m) => m.export(&mut ex),
            Self::Roberta(m) => m.export(&mut ex),
            Self::Electra(m) => m.export(&mut ex),
            Self::Albert(m) => m.export(&mut ex),
        }
        ex.read().await
    }

    /// Logits [batch, num_labels], the features the head read [batch, hidden], and with
    /// `output_attentions` the last layer's attention probabilities (transformers' argument).
    pub fn forward_outputs(&self, input: BertInput, output_attentions: bool) -> SequenceClassifierOutput {
        match self {
            Self::Bert(m) => m.forward(input, output_attentions),
            Self::DistilBert(m) => m.forward(input, output_attentions),
            Self::Roberta(m) => m.forward(input, output_attentions),
            Self::Electra(m) => m.forward(input, output_attentions),
            Self::Albert(m) => m.forward(input, output_attentions),
        }
    }

    pub fn forward(&self, input: BertInput) -> Tensor<2> {
        self.forward_outputs(input, false).logits
    }
}

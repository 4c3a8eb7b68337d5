//! The two-layer classification head RoBERTa, ELECTRA and DistilBERT put on the first token
//! (`RobertaClassificationHead`, `ElectraClassificationHead`, DistilBERT's `pre_classifier` and
//! `classifier`): dropout, dense, activation, dropout, projection to the labels. BERT and ALBERT
//! put one linear layer on the pooler instead.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::tensor::Tensor;

use super::bert::activate;
use super::config::{Activation, BertConfig};
use super::dropout::dropout;
use super::weights::{Exporter, Vars};
use crate::error::Result;

#[derive(Module, Debug)]
pub struct ClassificationHead {
    pub dense: Linear,
    pub out_proj: Linear,
    pub dropout: Dropout,
    /// `None`: tanh (RoBERTa's).
    #[module(skip)]
    pub activation: Option<Activation>,
    /// DistilBERT applies no dropout before its dense layer.
    #[module(skip)]
    pub dropout_first: bool,
    #[module(skip)]
    pub names: (&'static str, &'static str),
}

impl ClassificationHead {
    /// `names`: the dense layer's and the projection's tensor names.
    pub fn load(
        vars: &mut Vars,
        c: &BertConfig,
        names: (&'static str, &'static str),
        activation: Option<Activation>,
        dropout_first: bool,
        p: f64,
    ) -> Result<Self> {
        Ok(Self {
            dense: vars.linear(names.0, c.hidden_size, c.hidden_size)?,
            out_proj: vars.linear(names.1, c.hidden_size, c.num_labels())?,
            dropout: DropoutConfig::new(p).init(),
            activation,
            dropout_first,
            names,
        })
    }

    pub fn export(&self, ex: &mut Exporter) {
        ex.linear(self.names.0, &self.dense);
        ex.linear(self.names.1, &self.out_proj);
    }

    /// Logits from the first token's hidden state [batch, hidden].
    pub fn forward(&self, first: Tensor<2>) -> Tensor<2> {
        let x = if self.dropout_first { dropout(&self.dropout, first) } else { first };
        let x = self.dense.forward(x);
        let x = match self.activation {
            Some(act) => activate(act, x),
            None => x.tanh(),
        };
        self.out_proj.forward(dropout(&self.dropout, x))
    }
}

//! BERT for sequence classification, module for module as in transformers' `modeling_bert.py`:
//! the Rust field names are snake_case, the tensor names passed to `Vars`/`Exporter` are
//! transformers' own, so a reader can follow either file with the other open.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, LayerNorm, Linear};
use burn::tensor::activation::{gelu_approximate, relu};
use burn::tensor::{Int, Tensor};

use super::config::{Activation, BertConfig};
use super::dropout::dropout;
use super::gelu::gelu;
use super::softmax::attention_probs;
use super::weights::{Exporter, Vars};
use crate::error::Result;

/// The inputs of one batch, as transformers names them.
#[derive(Debug, Clone)]
pub struct BertInput {
    /// [batch, seq]
    pub input_ids: Tensor<2, Int>,
    /// [batch, seq]
    pub token_type_ids: Tensor<2, Int>,
    /// [batch, seq], 1.0 for real tokens and 0.0 for padding.
    pub attention_mask: Tensor<2>,
}

#[derive(Module, Debug)]
pub struct BertEmbeddings {
    pub word_embeddings: Embedding,
    pub position_embeddings: Embedding,
    pub token_type_embeddings: Embedding,
    pub layer_norm: LayerNorm,
    pub dropout: Dropout,
}

impl BertEmbeddings {
    fn load(vars: &mut Vars, p: &str, c: &BertConfig) -> Result<Self> {
        Ok(Self {
            word_embeddings: vars.embedding(&format!("{p}.word_embeddings"), c.vocab_size, c.hidden_size)?,
            position_embeddings: vars.embedding(
                &format!("{p}.position_embeddings"),
                c.max_position_embeddings,
                c.hidden_size,
            )?,
            token_type_embeddings: vars.embedding(
                &format!("{p}.token_type_embeddings"),
                c.type_vocab_size,
                c.hidden_size,
            )?,
            layer_norm: vars.layer_norm(&format!("{p}.LayerNorm"), c.hidden_size, c.layer_norm_eps)?,
            dropout: DropoutConfig::new(c.hidden_dropout_prob).init(),
        })
    }

    fn export(&self, ex: &mut Exporter, p: &str) {
        ex.embedding(&format!("{p}.word_embeddings"), &self.word_embeddings);
        ex.embedding(&format!("{p}.position_embeddings"), &self.position_embeddings);
        ex.embedding(&format!("{p}.token_type_embeddings"), &self.token_type_embeddings);
        ex.layer_norm(&format!("{p}.LayerNorm"), &self.layer_norm);
    }

    pub fn forward(&self, input_ids: Tensor<2, Int>, token_type_ids: Tensor<2, Int>) -> Tensor<3> {
        let [_, seq] = input_ids.dims();
        // Absolute positions 0..seq: a slice of the table, broadcast over the batch.
        let positions = self
            .position_embeddings
            .weight
            .val()
            .slice([0..seq])
            .unsqueeze_dim::<3>(0);
        let x = self.word_embeddings.forward(input_ids)
            + self.token_type_embeddings.forward(token_type_ids)
            + positions;
        dropout(&self.dropout, self.layer_norm.forward(x))
    }
}

#[derive(Module, Debug)]
pub struct BertSelfAttention {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub dropout: Dropout,
    pub num_heads: usize,
}

impl BertSelfAttention {
    fn load(vars: &mut Vars, p: &str, c: &BertConfig) -> Result<Self> {
        let h = c.hidden_size;
        Ok(Self {
            query: vars.linear(&format!("{p}.query"), h, h)?,
            key: vars.linear(&format!("{p}.key"), h, h)?,
            value: vars.linear(&format!("{p}.value"), h, h)?,
            dropout: DropoutConfig::new(c.attention_probs_dropout_prob).init(),
            num_heads: c.num_attention_heads,
        })
    }

    fn export(&self, ex: &mut Exporter, p: &str) {
        ex.linear(&format!("{p}.query"), &self.query);
        ex.linear(&format!("{p}.key"), &self.key);
        ex.linear(&format!("{p}.value"), &self.value);
    }

    /// `mask` is additive, [batch, 1, 1, seq]: 0 for tokens, a large negative for padding.
    pub fn forward(&self, x: Tensor<3>, mask: Tensor<4>) -> Tensor<3> {
        let [batch, seq, hidden] = x.dims();
        let head_dim = hidden / self.num_heads;
        let heads = |t: Tensor<3>| t.reshape([batch, seq, self.num_heads, head_dim]).swap_dims(1, 2);
        let q = heads(self.query.forward(x.clone()));
        let k = heads(self.key.forward(x.clone()));
        let v = heads(self.value.forward(x));
        let probs = dropout(&self.dropout, attention_probs(q.matmul(k.swap_dims(2, 3)), head_dim, mask));
        probs.matmul(v).swap_dims(1, 2).reshape([batch, seq, hidden])
    }
}

/// The dense + dropout + residual LayerNorm that closes both the attention and the MLP block
/// (`BertSelfOutput` and `BertOutput` in transformers).
#[derive(Module, Debug)]
pub struct BertResidual {
    pub dense: Linear,
    pub layer_norm: LayerNorm,
    pub dropout: Dropout,
}

impl BertResidual {
    fn load(vars: &mut Vars, p: &str, d_in: usize, c: &BertConfig) -> Result<Self> {
        Ok(Self {
            dense: vars.linear(&format!("{p}.dense"), d_in, c.hidden_size)?,
            layer_norm: vars.layer_norm(&format!("{p}.LayerNorm"), c.hidden_size, c.layer_norm_eps)?,
            dropout: DropoutConfig::new(c.hidden_dropout_prob).init(),
        })
    }

    fn export(&self, ex: &mut Exporter, p: &str) {
        ex.linear(&format!("{p}.dense"), &self.dense);
        ex.layer_norm(&format!("{p}.LayerNorm"), &self.layer_norm);
    }

    pub fn forward(&self, x: Tensor<3>, residual: Tensor<3>) -> Tensor<3> {
        self.layer_norm
            .forward(dropout(&self.dropout, self.dense.forward(x)) + residual)
    }
}

#[derive(Module, Debug)]
pub struct BertLayer {
    /// transformers: `attention.self`
    pub attention: BertSelfAttention,
    /// transformers: `attention.output`
    pub attention_output: BertResidual,
    /// transformers: `intermediate.dense`
    pub intermediate: Linear,
    /// transformers: `output`
    pub output: BertResidual,
    #[module(skip)]
    pub activation: Activation,
}

impl BertLayer {
    fn load(vars: &mut Vars, p: &str, c: &BertConfig, act: Activation) -> Result<Self> {
        Ok(Self {
            attention: BertSelfAttention::load(vars, &format!("{p}.attention.self"), c)?,
            attention_output: BertResidual::load(vars, &format!("{p}.attention.output"), c.hidden_size, c)?,
            intermediate: vars.linear(&format!("{p}.intermediate.dense"), c.hidden_size, c.intermediate_size)?,
            output: BertResidual::load(vars, &format!("{p}.output"), c.intermediate_size, c)?,
            activation: act,
        })
    }

    fn export(&self, ex: &mut Exporter, p: &str) {
        self.attention.export(ex, &format!("{p}.attention.self"));
        self.attention_output.export(ex, &format!("{p}.attention.output"));
        ex.linear(&format!("{p}.intermediate.dense"), &self.intermediate);
        self.output.export(ex, &format!("{p}.output"));
    }

    pub fn forward(&self, x: Tensor<3>, mask: Tensor<4>) -> Tensor<3> {
        let attended = self
            .attention_output
            .forward(self.attention.forward(x.clone(), mask), x);
        let h = self.intermediate.forward(attended.clone());
        let h = match self.activation {
            Activation::Gelu => gelu(h),
            Activation::GeluTanh => gelu_approximate(h),
            Activation::Relu => relu(h),
        };
        self.output.forward(h, attended)
    }
}

#[derive(Module, Debug)]
pub struct BertModel {
    pub embeddings: BertEmbeddings,
    /// transformers: `encoder.layer`
    pub layer: Vec<BertLayer>,
    /// transformers: `pooler.dense`
    pub pooler: Linear,
}

impl BertModel {
    pub fn load(vars: &mut Vars, p: &str, c: &BertConfig, config_path: &str) -> Result<Self> {
        let act = c.activation(config_path)?;
        Ok(Self {
            embeddings: BertEmbeddings::load(vars, &format!("{p}.embeddings"), c)?,
            layer: (0..c.num_hidden_layers)
                .map(|i| BertLayer::load(vars, &format!("{p}.encoder.layer.{i}"), c, act))
                .collect::<Result<_>>()?,
            pooler: vars.linear(&format!("{p}.pooler.dense"), c.hidden_size, c.hidden_size)?,
        })
    }

    fn export(&self, ex: &mut Exporter, p: &str) {
        self.embeddings.export(ex, &format!("{p}.embeddings"));
        for (i, layer) in self.layer.iter().enumerate() {
            layer.export(ex, &format!("{p}.encoder.layer.{i}"));
        }
        ex.linear(&format!("{p}.pooler.dense"), &self.pooler);
    }

    /// Returns (last hidden state [batch, seq, hidden], pooled output [batch, hidden]).
    pub fn forward(&self, input: BertInput) -> (Tensor<3>, Tensor<2>) {
        let [batch, seq] = input.attention_mask.dims();
        // transformers' extended mask: (1 - mask) * finfo(float32).min, added to the scores.
        let mask = (input.attention_mask.neg() + 1.0)
            .mul_scalar(f32::MIN)
            .reshape([batch, 1, 1, seq]);
        let mut x = self.embeddings.forward(input.input_ids, input.token_type_ids);
        for layer in &self.layer {
            x = layer.forward(x, mask.clone());
        }
        let hidden = x.dims()[2];
        let first = x.clone().slice([0..batch, 0..1, 0..hidden]).reshape([batch, hidden]);
        let pooled = self.pooler.forward(first).tanh();
        (x, pooled)
    }
}

#[derive(Module, Debug)]
pub struct BertForSequenceClassification {
    pub bert: BertModel,
    pub dropout: Dropout,
    pub classifier: Linear,
}

impl BertForSequenceClassification {
    /// Builds the model from `vars`; `config_path` names config.json in errors.
    pub fn load(vars: &mut Vars, c: &BertConfig, config_path: &str) -> Result<Self> {
        Ok(Self {
            bert: BertModel::load(vars, "bert", c, config_path)?,
            dropout: DropoutConfig::new(c.classifier_dropout.unwrap_or(c.hidden_dropout_prob)).init(),
            classifier: vars.linear("classifier", c.hidden_size, c.num_labels())?,
        })
    }

    /// Every tensor under its transformers name, in transformers' layout.
    pub async fn export(&self) -> Result<Vec<(String, Vec<usize>, Vec<f32>)>> {
        let mut ex = Exporter::new();
        self.bert.export(&mut ex, "bert");
        ex.linear("classifier", &self.classifier);
        ex.read().await
    }

    /// Logits [batch, num_labels] and the pooled output they came from.
    pub fn forward_with_pooled(&self, input: BertInput) -> (Tensor<2>, Tensor<2>) {
        let (_, pooled) = self.bert.forward(input);
        let logits = self.classifier.forward(dropout(&self.dropout, pooled.clone()));
        (logits, pooled)
    }

    pub fn forward(&self, input: BertInput) -> Tensor<2> {
        self.forward_with_pooled(input).0
    }
}

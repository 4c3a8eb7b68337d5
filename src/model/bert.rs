//! BERT for sequence classification, module for module as in transformers' `modeling_bert.py`:
//! the Rust field names are snake_case, the tensor names passed to `Vars`/`Exporter` are
//! transformers' own, so a reader can follow either file with the other open.
//!
//! The other families reuse these modules as transformers' own files copy them ("Copied from
//! transformers.models.bert.modeling_bert.BertLayer"): RoBERTa and ELECTRA under the same tensor
//! names, DistilBERT and ALBERT under theirs ([`Family::layout`]).

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, LayerNorm, Linear};
use burn::tensor::activation::{gelu_approximate, relu};
use burn::tensor::{Int, Tensor};

use super::config::{Activation, BertConfig, Family, LayerLayout};
use super::layer_norm::add_norm;
use super::dropout::{dropout, dropout_rows};
use super::embedding::embed;
use super::gelu::gelu;
use super::lora::LoraLinear;
use super::softmax::attend;
use super::tokens::TokenRows;
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
    /// The rows the encoder computes (on the CPU, the tokens only).
    pub tokens: TokenRows,
}

/// What a forward pass gives besides the logits, as transformers' `SequenceClassifierOutput`.
#[derive(Debug, Clone)]
pub struct SequenceClassifierOutput {
    /// [batch, num_labels]
    pub logits: Tensor<2>,
    /// What the head read, [batch, hidden]: the pooled output (BERT, ALBERT) or the first token's
    /// hidden state (the others).
    pub features: Tensor<2>,
    /// With `output_attentions`, the last layer's attention probabilities [batch, heads, query,
    /// key]: transformers' `attentions[-1]`. Only the last layer's: that is what people look at
    /// (what the token the head reads attends to), and keeping every layer's costs a batch ×
    /// heads × seq² tensor each.
    pub attention: Option<Tensor<4>>,
}

impl SequenceClassifierOutput {
    /// How the first token (what every head reads) attends in the last layer: [batch, heads, key].
    pub fn first_token_attention(&self) -> Option<Tensor<3>> {
        let attention = self.attention.clone()?;
        let [batch, heads, _, keys] = attention.dims();
        Some(attention.slice([0..batch, 0..heads, 0..1, 0..keys]).reshape([batch, heads, keys]))
    }
}

/// Word, position and (except DistilBERT) token-type embeddings, summed and normalised.
#[derive(Module, Debug)]
pub struct BertEmbeddings {
    pub word_embeddings: Embedding,
    pub position_embeddings: Embedding,
    /// DistilBERT has none.
    pub token_type_embeddings: Option<Embedding>,
    pub layer_norm: LayerNorm,
    /// The LayerNorm's ε (burn's `LayerNorm` keeps its own private).
    #[module(skip)]
    pub layer_norm_eps: f64,
    pub dropout: Dropout,
    /// RoBERTa numbers positions from `pad_token_id + 1` (0 for the others).
    #[module(skip)]
    pub position_offset: usize,
}

impl BertEmbeddings {
    /// `width` is the embedding size: the hidden size, or ALBERT's and ELECTRA's smaller one.
    pub fn load(vars: &mut Vars, p: &str, c: &BertConfig, width: usize, token_types: bool, position_offset: usize) -> Result<Self> {
        Ok(Self {
            word_embeddings: vars.embedding(&format!("{p}.word_embeddings"), c.vocab_size, width)?,
            position_embeddings: vars.embedding(&format!("{p}.position_embeddings"), c.max_position_embeddings, width)?,
            token_type_embeddings: match token_types {
                true => Some(vars.embedding(&format!("{p}.token_type_embeddings"), c.type_vocab_size, width)?),
                false => None,
            },
            layer_norm: vars.layer_norm(&format!("{p}.LayerNorm"), width, c.layer_norm_eps)?,
            layer_norm_eps: c.layer_norm_eps,
            dropout: DropoutConfig::new(c.hidden_dropout_prob).init(),
            position_offset,
        })
    }

    pub fn export(&self, ex: &mut Exporter, p: &str) {
        ex.embedding(&format!("{p}.word_embeddings"), &self.word_embeddings);
        ex.embedding(&format!("{p}.position_embeddings"), &self.position_embeddings);
        if let Some(types) = &self.token_type_embeddings {
            ex.embedding(&format!("{p}.token_type_embeddings"), types);
        }
        ex.layer_norm(&format!("{p}.LayerNorm"), &self.layer_norm);
    }

    pub fn forward(&self, input_ids: Tensor<2, Int>, token_type_ids: Tensor<2, Int>) -> Tensor<3> {
        let [_, seq] = input_ids.dims();
        // Absolute positions: a slice of the table, broadcast over the batch. (RoBERTa gives
        // padding the position `pad_token_id`; padding never reaches the loss, so numbering it on
        // like the tokens computes the same.)
        let start = self.position_offset;
        let positions = self.position_embeddings.weight.val().slice([start..start + seq]).unsqueeze_dim::<3>(0);
        let mut x = embed(&self.word_embeddings, input_ids) + positions;
        if let Some(types) = &self.token_type_embeddings {
            x = x + types.forward(token_type_ids);
        }
        dropout(&self.dropout, add_norm(&self.layer_norm, self.layer_norm_eps, x, None))
    }
}

#[derive(Module, Debug)]
pub struct BertSelfAttention {
    pub query: LoraLinear,
    pub key: LoraLinear,
    pub value: LoraLinear,
    pub dropout: Dropout,
    pub num_heads: usize,
}

impl BertSelfAttention {
    fn load(vars: &mut Vars, p: &str, n: &LayerLayout, c: &BertConfig) -> Result<Self> {
        let h = c.hidden_size;
        Ok(Self {
            query: vars.dense(&format!("{p}.{}", n.query), h, h)?,
            key: vars.dense(&format!("{p}.{}", n.key), h, h)?,
            value: vars.dense(&format!("{p}.{}", n.value), h, h)?,
            dropout: DropoutConfig::new(c.attention_probs_dropout_prob).init(),
            num_heads: c.num_attention_heads,
        })
    }

    fn export(&self, ex: &mut Exporter, p: &str, n: &LayerLayout) {
        ex.dense(&format!("{p}.{}", n.query), &self.query);
        ex.dense(&format!("{p}.{}", n.key), &self.key);
        ex.dense(&format!("{p}.{}", n.value), &self.value);
    }

    /// What the rows `queries` (at `at`) attend to in `x`, the encoder's `rows` [rows, hidden]
    /// (the queries are `x` itself but in the last layer). `mask` is additive, [batch, 1, 1, seq]:
    /// 0 for tokens, a large negative for padding. With `keep_probs`, also the attention
    /// probabilities (before dropout, which is off in eval mode).
    pub fn forward(
        &self,
        queries: Tensor<2>,
        at: &TokenRows,
        x: Tensor<2>,
        rows: &TokenRows,
        mask: Tensor<4>,
        keep_probs: bool,
    ) -> (Tensor<2>, Option<Tensor<4>>) {
        let head_dim = x.dims()[1] / self.num_heads;
        let q = at.to_heads(self.query.forward_rows(queries, at), self.num_heads);
        let k = rows.to_heads(self.key.forward_rows(x.clone(), rows), self.num_heads);
        let v = rows.to_heads(self.value.forward_rows(x, rows), self.num_heads);
        let (context, probs) = attend(q.matmul(k.swap_dims(2, 3)), head_dim, mask, &self.dropout, v);
        (at.from_heads(context), keep_probs.then_some(probs))
    }
}

/// The dense + dropout + residual LayerNorm that closes both the attention and the MLP block
/// (`BertSelfOutput` and `BertOutput` in transformers).
#[derive(Module, Debug)]
pub struct BertResidual {
    pub dense: LoraLinear,
    pub layer_norm: LayerNorm,
    /// The LayerNorm's ε (burn's `LayerNorm` keeps its own private).
    #[module(skip)]
    pub layer_norm_eps: f64,
    pub dropout: Dropout,
}

impl BertResidual {
    fn load(vars: &mut Vars, dense: &str, norm: &str, d_in: usize, c: &BertConfig, dropout: bool) -> Result<Self> {
        Ok(Self {
            dense: vars.dense(dense, d_in, c.hidden_size)?,
            layer_norm: vars.layer_norm(norm, c.hidden_size, c.layer_norm_eps)?,
            layer_norm_eps: c.layer_norm_eps,
            dropout: DropoutConfig::new(if dropout { c.hidden_dropout_prob } else { 0.0 }).init(),
        })
    }

    fn export(&self, ex: &mut Exporter, dense: &str, norm: &str) {
        ex.dense(dense, &self.dense);
        ex.layer_norm(norm, &self.layer_norm);
    }

    pub fn forward(&self, x: Tensor<2>, residual: Tensor<2>, rows: &TokenRows) -> Tensor<2> {
        let dropped = dropout_rows(&self.dropout, self.dense.forward_rows(x, rows), rows);
        add_norm(&self.layer_norm, self.layer_norm_eps, dropped, Some(residual))
    }
}

#[derive(Module, Debug)]
pub struct BertLayer {
    /// transformers: `attention.self`
    pub attention: BertSelfAttention,
    /// transformers: `attention.output`
    pub attention_output: BertResidual,
    /// transformers: `intermediate.dense`
    pub intermediate: LoraLinear,
    /// transformers: `output`
    pub output: BertResidual,
    #[module(skip)]
    pub activation: Activation,
}

impl BertLayer {
    pub fn load(vars: &mut Vars, p: &str, n: &LayerLayout, c: &BertConfig, act: Activation) -> Result<Self> {
        let name = |suffix: &str| format!("{p}.{suffix}");
        Ok(Self {
            attention: BertSelfAttention::load(vars, p, n, c)?,
            attention_output: BertResidual::load(
                vars,
                &name(n.attention_dense),
                &name(n.attention_norm),
                c.hidden_size,
                c,
                n.attention_output_dropout,
            )?,
            intermediate: vars.dense(&name(n.intermediate), c.hidden_size, c.intermediate_size)?,
            output: BertResidual::load(vars, &name(n.output_dense), &name(n.output_norm), c.intermediate_size, c, true)?,
            activation: act,
        })
    }

    pub fn export(&self, ex: &mut Exporter, p: &str, n: &LayerLayout) {
        let name = |suffix: &str| format!("{p}.{suffix}");
        self.attention.export(ex, p, n);
        self.attention_output.export(ex, &name(n.attention_dense), &name(n.attention_norm));
        ex.dense(&name(n.intermediate), &self.intermediate);
        self.output.export(ex, &name(n.output_dense), &name(n.output_norm));
    }

    /// The layer's output for the encoder's `rows` ([rows, hidden]) and, with `keep_probs`, its
    /// attention probabilities.
    pub fn forward(&self, x: Tensor<2>, rows: &TokenRows, mask: Tensor<4>, keep_probs: bool) -> (Tensor<2>, Option<Tensor<4>>) {
        self.forward_at(x.clone(), rows, x, rows, mask, keep_probs)
    }

    /// The layer's output at each sequence's first token only, [batch, hidden]: all the last layer
    /// needs to give, since the head reads nothing else. Keys and values are still every row's;
    /// the queries, the attention's output and the MLP are the first tokens' (for all-MiniLM-L6-v2,
    /// a seventh of the encoder's arithmetic not done). Their dropout masks are the ones the whole
    /// layer draws there.
    pub fn forward_first(&self, x: Tensor<2>, rows: &TokenRows, mask: Tensor<4>) -> Tensor<2> {
        let firsts = TokenRows::padded(rows.batch, 1);
        self.forward_at(rows.first(x.clone()), &firsts, x, rows, mask, false).0
    }

    /// The layer's output at the rows `queries` (at `at`) of `x` (at `rows`).
    fn forward_at(
        &self,
        queries: Tensor<2>,
        at: &TokenRows,
        x: Tensor<2>,
        rows: &TokenRows,
        mask: Tensor<4>,
        keep_probs: bool,
    ) -> (Tensor<2>, Option<Tensor<4>>) {
        let (context, probs) = self.attention.forward(queries.clone(), at, x, rows, mask, keep_probs);
        let attended = self.attention_output.forward(context, queries, at);
        let h = self.intermediate.forward_rows(attended.clone(), at);
        (self.output.forward(activate(self.activation, h), attended, at), probs)
    }
}

/// `layers` in order over `x` [batch, seq, hidden] (every family's encoder: ALBERT's repeats a
/// group's layers), computing the rows `input.tokens` names: the last hidden state of each
/// sequence's first token ([CLS] or `<s>`, what every head reads), [batch, hidden], and with
/// `output_attentions` the last layer's attention probabilities.
pub fn run_layers<'a>(
    layers: impl IntoIterator<Item = &'a BertLayer>,
    x: Tensor<3>,
    input: &BertInput,
    output_attentions: bool,
) -> (Tensor<2>, Option<Tensor<4>>) {
    let rows = &input.tokens;
    let mask = additive_mask(input.attention_mask.clone());
    let mut x = rows.pack(x);
    let mut layers = layers.into_iter().peekable();
    while let Some(layer) = layers.next() {
        if layers.peek().is_none() {
            // The last layer: its probabilities are all asked for, or only the first tokens go on.
            return match output_attentions {
                true => {
                    let (x, attention) = layer.forward(x, rows, mask, true);
                    (rows.first(x), attention)
                }
                false => (layer.forward_first(x, rows, mask), None),
            };
        }
        x = layer.forward(x, rows, mask.clone(), false).0;
    }
    (rows.first(x), None)
}

pub fn activate<const D: usize>(activation: Activation, x: Tensor<D>) -> Tensor<D> {
    match activation {
        Activation::Gelu => gelu(x),
        Activation::GeluTanh => gelu_approximate(x),
        Activation::Relu => relu(x),
    }
}

/// transformers' extended attention mask: (1 - mask) · finfo(float32).min, added to the scores.
pub fn additive_mask(attention_mask: Tensor<2>) -> Tensor<4> {
    let [batch, seq] = attention_mask.dims();
    (attention_mask.neg() + 1.0).mul_scalar(f32::MIN).reshape([batch, 1, 1, seq])
}

#[derive(Module, Debug)]
pub struct BertModel {
    pub embeddings: BertEmbeddings,
    /// transformers: `encoder.layer`
    pub layer: Vec<BertLayer>,
    /// transformers: `pooler.dense`; RoBERTa's and ELECTRA's heads read the first token instead.
    pub pooler: Option<LoraLinear>,
}

impl BertModel {
    /// BERT's encoder under `p` (`bert`, `roberta`, `electra`); `position_offset` is RoBERTa's.
    pub fn load(vars: &mut Vars, p: &str, c: &BertConfig, config_path: &str, pooler: bool, position_offset: usize) -> Result<Self> {
        let act = c.activation(config_path)?;
        let width = c.embedding_size.unwrap_or(c.hidden_size);
        Ok(Self {
            embeddings: BertEmbeddings::load(vars, &format!("{p}.embeddings"), c, width, true, position_offset)?,
            layer: (0..c.num_hidden_layers)
                .map(|i| BertLayer::load(vars, &format!("{p}.encoder.layer.{i}"), &Family::Bert.layout(), c, act))
                .collect::<Result<_>>()?,
            pooler: match pooler {
                true => Some(vars.dense(&format!("{p}.pooler.dense"), c.hidden_size, c.hidden_size)?),
                false => None,
            },
        })
    }

    pub fn export(&self, ex: &mut Exporter, p: &str) {
        self.embeddings.export(ex, &format!("{p}.embeddings"));
        for (i, layer) in self.layer.iter().enumerate() {
            layer.export(ex, &format!("{p}.encoder.layer.{i}"), &Family::Bert.layout());
        }
        if let Some(pooler) = &self.pooler {
            ex.dense(&format!("{p}.pooler.dense"), pooler);
        }
    }

    /// The encoder's layers over `x` (embeddings already projected to the hidden size): the first
    /// token's last hidden state, and with `output_attentions` the last layer's attention probabilities.
    pub fn encode(&self, x: Tensor<3>, input: &BertInput, output_attentions: bool) -> (Tensor<2>, Option<Tensor<4>>) {
        run_layers(&self.layer, x, input, output_attentions)
    }

    /// Returns the pooled output [batch, hidden] (without a pooler, the first token's last hidden
    /// state), and the last layer's attention probabilities with `output_attentions`.
    pub fn forward(&self, input: BertInput, output_attentions: bool) -> (Tensor<2>, Option<Tensor<4>>) {
        let x = self.embeddings.forward(input.input_ids.clone(), input.token_type_ids.clone());
        let (first, attention) = self.encode(x, &input, output_attentions);
        let pooled = match &self.pooler {
            Some(pooler) => pooler.forward(first).tanh(),
            None => first,
        };
        (pooled, attention)
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
            bert: BertModel::load(vars, "bert", c, config_path, true, 0)?,
            dropout: DropoutConfig::new(c.classifier_dropout.unwrap_or(c.hidden_dropout_prob)).init(),
            classifier: vars.linear("classifier", c.hidden_size, c.num_labels())?,
        })
    }

    pub fn export(&self, ex: &mut Exporter) {
        self.bert.export(ex, "bert");
        ex.linear("classifier", &self.classifier);
    }

    /// Logits, the pooled output they came from, and the last layer's attention if asked for.
    pub fn forward(&self, input: BertInput, output_attentions: bool) -> SequenceClassifierOutput {
        let (pooled, attention) = self.bert.forward(input, output_attentions);
        let logits = self.classifier.forward(dropout(&self.dropout, pooled.clone()));
        SequenceClassifierOutput { logits, features: pooled, attention }
    }
}

//! `BertConfig`, read straight from a Hugging Face `config.json` of any family this crate trains
//! (`model_type`: BERT, DistilBERT, RoBERTa, XLM-RoBERTa, ELECTRA, ALBERT). The fields are BERT's;
//! DistilBERT's own names (`dim`, `n_layers`, …) are read as their BERT equivalents, and the few
//! fields only some families have are optional.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

fn default_act() -> String {
    "gelu".into()
}
fn default_dropout() -> f64 {
    0.1
}
fn default_max_positions() -> usize {
    512
}
fn default_type_vocab() -> usize {
    2
}
fn default_init_range() -> f64 {
    0.02
}
fn default_ln_eps() -> f64 {
    1e-12
}

/// The model families, by `config.json`'s `model_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Family {
    #[default]
    #[serde(rename = "bert")]
    Bert,
    #[serde(rename = "distilbert")]
    DistilBert,
    #[serde(rename = "roberta")]
    Roberta,
    /// RoBERTa's modules with a SentencePiece vocabulary.
    #[serde(rename = "xlm-roberta")]
    XlmRoberta,
    #[serde(rename = "electra")]
    Electra,
    #[serde(rename = "albert")]
    Albert,
}

impl Family {
    /// `model_type` as transformers writes it.
    pub fn model_type(self) -> &'static str {
        match self {
            Family::Bert => "bert",
            Family::DistilBert => "distilbert",
            Family::Roberta => "roberta",
            Family::XlmRoberta => "xlm-roberta",
            Family::Electra => "electra",
            Family::Albert => "albert",
        }
    }

    /// The sequence-classification class transformers loads a fine-tuned folder as.
    pub fn architecture(self) -> &'static str {
        match self {
            Family::Bert => "BertForSequenceClassification",
            Family::DistilBert => "DistilBertForSequenceClassification",
            Family::Roberta => "RobertaForSequenceClassification",
            Family::XlmRoberta => "XLMRobertaForSequenceClassification",
            Family::Electra => "ElectraForSequenceClassification",
            Family::Albert => "AlbertForSequenceClassification",
        }
    }

    /// The tokenizer class transformers' `AutoTokenizer` picks for this `model_type` when
    /// tokenizer_config.json names none.
    pub fn tokenizer_class(self) -> &'static str {
        match self {
            Family::Bert => "BertTokenizer",
            Family::DistilBert => "DistilBertTokenizer",
            Family::Roberta => "RobertaTokenizer",
            Family::XlmRoberta => "XLMRobertaTokenizer",
            Family::Electra => "ElectraTokenizer",
            Family::Albert => "AlbertTokenizer",
        }
    }

    /// Where this family keeps a layer's tensors (transformers' names, relative to the layer).
    pub fn layout(self) -> LayerLayout {
        match self {
            Family::DistilBert => LayerLayout {
                query: "attention.q_lin",
                key: "attention.k_lin",
                value: "attention.v_lin",
                attention_dense: "attention.out_lin",
                attention_norm: "sa_layer_norm",
                intermediate: "ffn.lin1",
                output_dense: "ffn.lin2",
                output_norm: "output_layer_norm",
                attention_output_dropout: false,
            },
            Family::Albert => LayerLayout {
                query: "attention.query",
                key: "attention.key",
                value: "attention.value",
                attention_dense: "attention.dense",
                attention_norm: "attention.LayerNorm",
                intermediate: "ffn",
                output_dense: "ffn_output",
                output_norm: "full_layer_layer_norm",
                attention_output_dropout: true,
            },
            // RoBERTa, XLM-RoBERTa and ELECTRA keep BERT's names.
            Family::Bert | Family::Roberta | Family::XlmRoberta | Family::Electra => LayerLayout {
                query: "attention.self.query",
                key: "attention.self.key",
                value: "attention.self.value",
                attention_dense: "attention.output.dense",
                attention_norm: "attention.output.LayerNorm",
                intermediate: "intermediate.dense",
                output_dense: "output.dense",
                output_norm: "output.LayerNorm",
                attention_output_dropout: true,
            },
        }
    }

    /// A layer's six linear layers, named relative to the layer: query, key, value, the attention's
    /// output, the feed-forward's two.
    pub fn layer_linears(self) -> [&'static str; 6] {
        let l = self.layout();
        [l.query, l.key, l.value, l.attention_dense, l.intermediate, l.output_dense]
    }

    /// The last part of the names of its encoder's linear layers: what LoRA's target modules match.
    pub fn linear_names(self) -> &'static [&'static str] {
        match self {
            Family::DistilBert => &["q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2"],
            Family::Albert => &["query", "key", "value", "dense", "ffn", "ffn_output", "embedding_hidden_mapping_in", "pooler"],
            Family::Electra => &["query", "key", "value", "dense", "embeddings_project"],
            Family::Bert | Family::Roberta | Family::XlmRoberta => &["query", "key", "value", "dense"],
        }
    }
}

/// Where a family keeps a layer's tensors, relative to the layer, and the one way a family's layer
/// computes differently.
pub struct LayerLayout {
    pub query: &'static str,
    pub key: &'static str,
    pub value: &'static str,
    pub attention_dense: &'static str,
    pub attention_norm: &'static str,
    pub intermediate: &'static str,
    pub output_dense: &'static str,
    pub output_norm: &'static str,
    /// DistilBERT adds the attention's output to the residual without dropout.
    pub attention_output_dropout: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BertConfig {
    #[serde(default)]
    pub model_type: Family,
    pub vocab_size: usize,
    #[serde(alias = "dim")]
    pub hidden_size: usize,
    #[serde(alias = "n_layers")]
    pub num_hidden_layers: usize,
    #[serde(alias = "n_heads")]
    pub num_attention_heads: usize,
    #[serde(alias = "hidden_dim")]
    pub intermediate_size: usize,
    #[serde(default = "default_act", alias = "activation")]
    pub hidden_act: String,
    #[serde(default = "default_dropout", alias = "dropout")]
    pub hidden_dropout_prob: f64,
    #[serde(default = "default_dropout", alias = "attention_dropout")]
    pub attention_probs_dropout_prob: f64,
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_init_range")]
    pub initializer_range: f64,
    #[serde(default = "default_ln_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub pad_token_id: Option<usize>,
    /// DistilBERT's `seq_classif_dropout`, ALBERT's `classifier_dropout_prob`.
    #[serde(default, alias = "seq_classif_dropout", alias = "classifier_dropout_prob")]
    pub classifier_dropout: Option<f64>,
    /// ALBERT's and ELECTRA's embedding width, when smaller than the hidden size.
    #[serde(default)]
    pub embedding_size: Option<usize>,
    /// ALBERT: layers sharing one set of weights are a group.
    #[serde(default)]
    pub num_hidden_groups: Option<usize>,
    /// ALBERT: layers per group.
    #[serde(default)]
    pub inner_group_num: Option<usize>,
    /// DistilBERT: fixed sinusoidal positions instead of learned ones (not supported).
    #[serde(default)]
    pub sinusoidal_pos_embds: Option<bool>,
    #[serde(default)]
    pub position_embedding_type: Option<String>,
    #[serde(default)]
    pub id2label: Option<BTreeMap<String, String>>,
}

/// The activations BERT checkpoints use, by their transformers names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    Gelu,
    GeluTanh,
    Relu,
}

impl BertConfig {
    /// Parses `config.json`; `path` only names the file in errors.
    pub fn from_json(bytes: &[u8], path: &str) -> Result<Self> {
        let config: BertConfig = serde_json::from_slice(bytes).map_err(|e| {
            // serde names the missing or mistyped field in its message; keep it.
            Error::json(path, e)
        })?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &str) -> Result<()> {
        let bad = |field: &str, reason: String| Error::Config {
            path: path.into(),
            field: field.into(),
            reason,
        };
        for (field, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ] {
            if v == 0 {
                return Err(bad(field, "must be at least 1".into()));
            }
        }
        // Sizes whose products overflow (or ask for more than a trillion weights) are typos or
        // damage, and would abort an allocation instead of failing with a message.
        const MAX_WEIGHTS: u128 = 1_000_000_000_000;
        let h = self.hidden_size as u128;
        for (field, v) in [
            ("vocab_size", self.vocab_size as u128 * h),
            ("hidden_size", h * h),
            ("intermediate_size", self.intermediate_size as u128 * h),
            ("max_position_embeddings", self.max_position_embeddings as u128 * h),
            ("type_vocab_size", self.type_vocab_size as u128 * h),
            ("num_hidden_layers", self.num_hidden_layers as u128 * (4 * h * h + 2 * self.intermediate_size as u128 * h)),
        ] {
            if v > MAX_WEIGHTS {
                return Err(bad(field, format!("gives a model of more than {MAX_WEIGHTS} weights")));
            }
        }
        if self.hidden_size % self.num_attention_heads != 0 {
            return Err(bad(
                "num_attention_heads",
                format!(
                    "hidden_size {} is not a multiple of {}",
                    self.hidden_size, self.num_attention_heads
                ),
            ));
        }
        self.activation(path)?;
        for (field, v) in [
            ("embedding_size", self.embedding_size),
            ("num_hidden_groups", self.num_hidden_groups),
            ("inner_group_num", self.inner_group_num),
        ] {
            if v == Some(0) {
                return Err(bad(field, "must be at least 1".into()));
            }
        }
        if let Some(e) = self.embedding_size {
            if e as u128 * (self.vocab_size as u128 + h) > MAX_WEIGHTS {
                return Err(bad("embedding_size", format!("gives a model of more than {MAX_WEIGHTS} weights")));
            }
        }
        if self.sinusoidal_pos_embds == Some(true) {
            return Err(bad("sinusoidal_pos_embds", "fixed sinusoidal positions are not supported".into()));
        }
        if self.max_tokens() == 0 {
            return Err(bad("max_position_embeddings", "leaves no room for a token after RoBERTa's position offset".into()));
        }
        if let Some(kind) = &self.position_embedding_type {
            if kind != "absolute" {
                return Err(bad(
                    "position_embedding_type",
                    format!("`{kind}` is not supported (only `absolute`)"),
                ));
            }
        }
        for (field, p) in [
            ("hidden_dropout_prob", Some(self.hidden_dropout_prob)),
            ("attention_probs_dropout_prob", Some(self.attention_probs_dropout_prob)),
            ("classifier_dropout", self.classifier_dropout),
        ] {
            if let Some(p) = p {
                if !(0.0..1.0).contains(&p) {
                    return Err(bad(field, format!("{p} is not a probability in [0, 1)")));
                }
            }
        }
        if let Some(map) = &self.id2label {
            let mut ids: Vec<usize> = Vec::new();
            for key in map.keys() {
                ids.push(key.parse().map_err(|_| {
                    bad("id2label", format!("key `{key}` is not a label id"))
                })?);
            }
            ids.sort();
            if ids.is_empty() || ids.iter().enumerate().any(|(i, &id)| i != id) {
                return Err(bad("id2label", "ids must be 0, 1, …, n-1".into()));
            }
        }
        Ok(())
    }

    pub fn activation(&self, path: &str) -> Result<Activation> {
        match self.hidden_act.as_str() {
            "gelu" => Ok(Activation::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" => Ok(Activation::GeluTanh),
            "relu" => Ok(Activation::Relu),
            other => Err(Error::Config {
                path: path.into(),
                field: "hidden_act".into(),
                reason: format!("activation `{other}` is not supported"),
            }),
        }
    }

    /// The first position a sequence uses: RoBERTa numbers positions from `pad_token_id + 1`.
    pub fn position_offset(&self) -> usize {
        match self.model_type {
            Family::Roberta | Family::XlmRoberta => self.pad_token_id.unwrap_or(1) + 1,
            _ => 0,
        }
    }

    /// The longest sequence the model reads (its positions, less RoBERTa's offset).
    pub fn max_tokens(&self) -> usize {
        self.max_position_embeddings.saturating_sub(self.position_offset())
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Label names in id order; transformers' `LABEL_i` when the config names none.
    pub fn labels(&self) -> Vec<String> {
        match &self.id2label {
            Some(map) => {
                let mut pairs: Vec<(usize, &String)> = map
                    .iter()
                    .filter_map(|(k, v)| k.parse().ok().map(|k| (k, v)))
                    .collect();
                pairs.sort();
                pairs.into_iter().map(|(_, v)| v.clone()).collect()
            }
            None => (0..2).map(|i| format!("LABEL_{i}")).collect(),
        }
    }

    pub fn num_labels(&self) -> usize {
        self.labels().len()
    }

    pub fn with_labels(mut self, labels: &[&str]) -> Self {
        self.id2label = Some(
            labels
                .iter()
                .enumerate()
                .map(|(i, l)| (i.to_string(), l.to_string()))
                .collect(),
        );
        self
    }

    /// The `config.json` a fine-tuned model is saved with: the original file's fields (so nothing
    /// a checkpoint carried is lost) with the classification fields transformers reads.
    pub fn to_pretrained_json(&self, original: Option<&[u8]>) -> String {
        let mut obj = original
            .and_then(|b| serde_json::from_slice::<Value>(b).ok())
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default();
        // A family's own file keeps its own field names (DistilBERT's `dim`): ours fill only what
        // it lacks (a config made here, for benchmarks, has everything to fill).
        if let Value::Object(ours) = serde_json::to_value(self).expect("config serializes") {
            let own_names: &[(&str, &str)] = match self.model_type {
                Family::DistilBert => &[("hidden_size", "dim"), ("num_hidden_layers", "n_layers"),
                    ("num_attention_heads", "n_heads"), ("intermediate_size", "hidden_dim"), ("hidden_act", "activation"),
                    ("hidden_dropout_prob", "dropout"), ("attention_probs_dropout_prob", "attention_dropout"),
                    ("classifier_dropout", "seq_classif_dropout")],
                Family::Albert => &[("classifier_dropout", "classifier_dropout_prob")],
                _ => &[],
            };
            for (k, v) in ours {
                let spelled = own_names.iter().find(|(ours, _)| *ours == k).map_or(k.as_str(), |(_, theirs)| *theirs);
                if !v.is_null() && !obj.contains_key(spelled) {
                    obj.insert(spelled.to_string(), v);
                }
            }
        }
        let labels = self.labels();
        let label2id: serde_json::Map<String, Value> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l.clone(), Value::from(i)))
            .collect();
        obj.insert("architectures".into(), Value::from(vec![self.model_type.architecture()]));
        obj.insert("model_type".into(), Value::from(self.model_type.model_type()));
        let id2label: serde_json::Map<String, Value> =
            labels.iter().enumerate().map(|(i, l)| (i.to_string(), Value::from(l.clone()))).collect();
        obj.insert("id2label".into(), Value::Object(id2label));
        obj.insert("label2id".into(), Value::Object(label2id));
        obj.insert("num_labels".into(), Value::from(labels.len()));
        // transformers' own rule when it meets a config without one: one output is a regression.
        let problem = if labels.len() == 1 { "regression" } else { "single_label_classification" };
        obj.insert("problem_type".into(), Value::from(problem));
        obj.remove("_name_or_path");
        serde_json::to_string_pretty(&Value::Object(obj)).expect("json serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: &str = r#"{"vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1,
        "num_attention_heads": 2, "intermediate_size": 16}"#;

    #[test]
    fn a_size_too_large_to_allocate_is_named() {
        let huge = TINY.replace("\"vocab_size\": 10", "\"vocab_size\": 99888888888888222");
        let msg = BertConfig::from_json(huge.as_bytes(), "config.json").unwrap_err().to_string();
        assert!(msg.contains("field `vocab_size`") && msg.contains("more than"), "{msg}");
        let albert = TINY.replace("{", "{\"model_type\": \"albert\", \"embedding_size\": 0,");
        let msg = BertConfig::from_json(albert.as_bytes(), "config.json").unwrap_err().to_string();
        assert!(msg.contains("field `embedding_size`"), "{msg}");
        let unknown = TINY.replace("{", "{\"model_type\": \"gpt2\",");
        let msg = BertConfig::from_json(unknown.as_bytes(), "config.json").unwrap_err().to_string();
        assert!(msg.contains("gpt2") && msg.contains("roberta"), "{msg}");
    }

    /// DistilBERT's own field names read as BERT's, and are written back as DistilBERT's.
    #[test]
    fn distilbert_names_its_fields_its_own_way() {
        let json = r#"{"model_type": "distilbert", "vocab_size": 10, "dim": 8, "n_layers": 1, "n_heads": 2,
            "hidden_dim": 16, "activation": "gelu", "dropout": 0.1, "attention_dropout": 0.1,
            "seq_classif_dropout": 0.2, "max_position_embeddings": 32}"#;
        let c = BertConfig::from_json(json.as_bytes(), "config.json").unwrap();
        assert_eq!((c.model_type, c.hidden_size, c.intermediate_size, c.classifier_dropout), (Family::DistilBert, 8, 16, Some(0.2)));
        let out: Value = serde_json::from_str(&c.with_labels(&["a", "b", "c"]).to_pretrained_json(Some(json.as_bytes()))).unwrap();
        assert_eq!((out["dim"].as_u64(), out.get("hidden_size")), (Some(8), None));
        assert_eq!(out["architectures"][0], "DistilBertForSequenceClassification");
        assert_eq!((out["num_labels"].as_u64(), out["id2label"]["2"].as_str()), (Some(3), Some("c")));
        let roberta = TINY.replace("{", "{\"model_type\": \"roberta\", \"pad_token_id\": 1, \"max_position_embeddings\": 514,");
        let c = BertConfig::from_json(roberta.as_bytes(), "config.json").unwrap();
        assert_eq!((c.position_offset(), c.max_tokens()), (2, 512));
    }

    #[test]
    fn defaults_are_transformers_defaults() {
        let c = BertConfig::from_json(TINY.as_bytes(), "config.json").unwrap();
        assert_eq!(c.layer_norm_eps, 1e-12);
        assert_eq!(c.max_position_embeddings, 512);
        assert_eq!(c.labels(), vec!["LABEL_0", "LABEL_1"]);
    }

    #[test]
    fn errors_name_file_and_field() {
        let err = BertConfig::from_json(b"{\"vocab_size\": 3}", "m/config.json").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("m/config.json") && msg.contains("hidden_size"), "{msg}");

        let bad_heads = TINY.replace("\"num_attention_heads\": 2", "\"num_attention_heads\": 3");
        let msg = BertConfig::from_json(bad_heads.as_bytes(), "c.json").unwrap_err().to_string();
        assert!(msg.contains("num_attention_heads"), "{msg}");

        let msg = BertConfig::from_json(b"{not json", "c.json").unwrap_err().to_string();
        assert!(msg.contains("c.json") && msg.contains("invalid JSON"), "{msg}");
    }

    #[test]
    fn pretrained_json_keeps_original_fields_and_sets_labels() {
        let c = BertConfig::from_json(TINY.as_bytes(), "c")
            .unwrap()
            .with_labels(&["no", "yes"]);
        let out: Value = serde_json::from_str(&c.to_pretrained_json(Some(
            br#"{"custom_field": 7, "_name_or_path": "x"}"#,
        )))
        .unwrap();
        assert_eq!(out["custom_field"], 7);
        assert_eq!(out["id2label"]["1"], "yes");
        assert_eq!(out["label2id"]["no"], 0);
        assert_eq!(out["architectures"][0], "BertForSequenceClassification");
        assert!(out.get("_name_or_path").is_none());
    }
}

//! LoRA's settings as peft writes them in `adapter_config.json` (`LoraConfig`): read from an adapter
//! folder, written beside the adapter a run trains, and — plain data — shared with the page's bundle,
//! whose memory estimate counts what LoRA saves.

use serde_json::Value;

use super::config::Family;
use crate::error::{Error, Result};

/// peft's `target_modules`: module names (a module matches when its full name is the name or ends
/// with `.name`), or `all-linear`: every linear layer but the task head.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetModules {
    Names(Vec<String>),
    AllLinear,
}

impl TargetModules {
    /// `query,value` or `all-linear`, as the CLI and the page take them.
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        if s == "all-linear" {
            return Ok(Self::AllLinear);
        }
        let names: Vec<String> = s.split(',').map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).collect();
        if names.is_empty() {
            return Err(Error::Invalid(format!("LoRA target modules `{s}`: name at least one module, or all-linear")));
        }
        Ok(Self::Names(names))
    }

    /// What peft targets for a family when none are named (its `query` and `value` projections).
    pub fn default_for(family: Family) -> Self {
        let names: &[&str] = match family {
            Family::DistilBert => &["q_lin", "v_lin"],
            _ => &["query", "value"],
        };
        Self::Names(names.iter().map(|s| s.to_string()).collect())
    }

    /// Whether the linear layer called `module` (its full transformers name, e.g.
    /// `bert.encoder.layer.0.attention.self.query`) gets an adapter. Task heads never reach here.
    pub fn matches(&self, module: &str) -> bool {
        match self {
            Self::AllLinear => true,
            Self::Names(names) => names.iter().any(|n| module == n || module.ends_with(&format!(".{n}"))),
        }
    }

    pub fn to_string_list(&self) -> String {
        match self {
            Self::AllLinear => "all-linear".into(),
            Self::Names(names) => names.join(","),
        }
    }
}

/// The LoRA a run trains or an adapter folder holds.
#[derive(Debug, Clone, PartialEq)]
pub struct LoraConfig {
    pub r: usize,
    pub lora_alpha: f64,
    pub lora_dropout: f64,
    pub target_modules: TargetModules,
    /// The scaling is `lora_alpha / √r` instead of `lora_alpha / r` (peft's rsLoRA).
    pub use_rslora: bool,
    /// Modules trained whole and saved in the adapter (peft's `modules_to_save`): the task head.
    pub modules_to_save: Vec<String>,
    /// The model the adapter was trained on: a Hub id or the folder a run started from.
    pub base_model_name_or_path: Option<String>,
}

impl LoraConfig {
    /// peft's defaults for sequence classification (alpha 8, no dropout, the family's query and
    /// value projections), rank `r`.
    pub fn new(r: usize, family: Family) -> Self {
        Self {
            r,
            lora_alpha: 8.0,
            lora_dropout: 0.0,
            target_modules: TargetModules::default_for(family),
            use_rslora: false,
            modules_to_save: modules_to_save(family),
            base_model_name_or_path: None,
        }
    }

    pub fn scaling(&self) -> f64 {
        match self.use_rslora {
            true => self.lora_alpha / (self.r as f64).sqrt(),
            false => self.lora_alpha / self.r as f64,
        }
    }

    pub fn validate(&self) -> Result<()> {
        self.invalid_field().map_or(Ok(()), |(_, why)| Err(Error::Invalid(why)))
    }

    /// The first setting out of range, by peft's name, and why.
    fn invalid_field(&self) -> Option<(&'static str, String)> {
        // A rank past any layer's width gains nothing and would only size absurd tensors.
        if !(1..=MAX_RANK).contains(&self.r) {
            return Some(("r", format!("LoRA rank r {} must be between 1 and {MAX_RANK}", self.r)));
        }
        if !self.lora_alpha.is_finite() || self.lora_alpha <= 0.0 {
            return Some(("lora_alpha", format!("lora_alpha {} must be a positive number", self.lora_alpha)));
        }
        if !(0.0..1.0).contains(&self.lora_dropout) {
            return Some(("lora_dropout", format!("lora_dropout {} must be in [0, 1)", self.lora_dropout)));
        }
        None
    }

    /// Reads peft's `adapter_config.json`; `path` names the file in errors. Settings this crate does
    /// not implement (DoRA, biases, per-layer ranks, regular expressions) are refused by name rather
    /// than silently trained or loaded as something else.
    pub fn from_adapter_json(bytes: &[u8], path: &str) -> Result<Self> {
        let v: Value = serde_json::from_slice(bytes).map_err(|e| Error::json(path, e))?;
        let field = |name: &str| v.get(name).filter(|x| !x.is_null());
        let bad = |name: &str, why: String| Error::Config { path: path.into(), field: name.into(), reason: why };
        match field("peft_type").and_then(Value::as_str) {
            Some("LORA") => {}
            other => return Err(bad("peft_type", format!("{other:?}: only LORA adapters are supported"))),
        }
        if let Some(t) = field("task_type").and_then(Value::as_str) {
            if t != "SEQ_CLS" {
                return Err(bad("task_type", format!("`{t}`: only SEQ_CLS (sequence classification) adapters are supported")));
            }
        }
        let unsupported = [
            ("use_dora", Value::Bool(false)),
            ("fan_in_fan_out", Value::Bool(false)),
            ("lora_bias", Value::Bool(false)),
            ("bias", Value::String("none".into())),
        ];
        for (name, supported) in unsupported {
            if let Some(x) = field(name) {
                if *x != supported {
                    return Err(bad(name, format!("{x} is not supported (only {supported})")));
                }
            }
        }
        for name in ["rank_pattern", "alpha_pattern"] {
            if field(name).and_then(Value::as_object).is_some_and(|o| !o.is_empty()) {
                return Err(bad(name, "per-module ranks or alphas are not supported".into()));
            }
        }
        for name in ["layers_to_transform", "layer_replication", "exclude_modules", "target_parameters", "trainable_token_indices"] {
            if field(name).is_some_and(|x| x.as_array().is_none_or(|a| !a.is_empty())) {
                return Err(bad(name, "is not supported".into()));
            }
        }
        let r = field("r")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("r", "missing or not a positive integer".into()))? as usize;
        let lora_alpha = field("lora_alpha").map_or(Some(8.0), Value::as_f64).ok_or_else(|| bad("lora_alpha", "not a number".into()))?;
        let lora_dropout = field("lora_dropout").map_or(Some(0.0), Value::as_f64).ok_or_else(|| bad("lora_dropout", "not a number".into()))?;
        let target_modules = match field("target_modules") {
            Some(Value::String(s)) if s == "all-linear" => TargetModules::AllLinear,
            Some(Value::String(s)) => {
                return Err(bad("target_modules", format!("`{s}`: a regular expression is not supported; list the module names")));
            }
            Some(Value::Array(a)) => {
                let mut names = a
                    .iter()
                    .map(|x| x.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| bad("target_modules", "expected a list of module names".into()))?;
                // peft writes a set, in no particular order.
                names.sort();
                TargetModules::Names(names)
            }
            _ => return Err(bad("target_modules", "missing: name the modules the adapter was trained on".into())),
        };
        let modules_to_save = match field("modules_to_save") {
            None => Vec::new(),
            Some(x) => x
                .as_array()
                .and_then(|a| a.iter().map(|x| x.as_str().map(str::to_string)).collect::<Option<Vec<_>>>())
                .ok_or_else(|| bad("modules_to_save", "expected a list of module names".into()))?,
        };
        let config = Self {
            r,
            lora_alpha,
            lora_dropout,
            target_modules,
            use_rslora: match field("use_rslora") {
                None => false,
                Some(x) => x.as_bool().ok_or_else(|| bad("use_rslora", format!("{x} is not true or false")))?,
            },
            modules_to_save,
            base_model_name_or_path: field("base_model_name_or_path").and_then(Value::as_str).map(str::to_string),
        };
        match config.invalid_field() {
            Some((name, why)) => Err(bad(name, why)),
            None => Ok(config),
        }
    }

    /// `adapter_config.json` as peft writes it for sequence classification, so that
    /// `PeftModel.from_pretrained` loads the adapter.
    pub fn to_adapter_json(&self) -> String {
        let targets = match &self.target_modules {
            TargetModules::AllLinear => Value::String("all-linear".into()),
            TargetModules::Names(n) => Value::from(n.clone()),
        };
        let v = serde_json::json!({
            "peft_type": "LORA",
            "task_type": "SEQ_CLS",
            "base_model_name_or_path": self.base_model_name_or_path,
            "r": self.r,
            "lora_alpha": self.lora_alpha,
            "lora_dropout": self.lora_dropout,
            "target_modules": targets,
            "modules_to_save": self.modules_to_save,
            "use_rslora": self.use_rslora,
            "bias": "none",
            "fan_in_fan_out": false,
            "init_lora_weights": true,
            "inference_mode": true,
            "use_dora": false,
            "revision": null,
        });
        serde_json::to_string_pretty(&v).expect("a JSON value serialises")
    }

    /// Whether the tensor `name` (a transformers name) belongs to a module trained whole. As peft
    /// matches `modules_to_save`: a module whose name ends with one of them, so its default
    /// `classifier` also takes DistilBERT's `pre_classifier`.
    pub fn saves(&self, name: &str) -> bool {
        let mut module = String::new();
        for part in name.split('.') {
            if !module.is_empty() {
                module.push('.');
            }
            module.push_str(part);
            if self.modules_to_save.iter().any(|m| module.ends_with(m.as_str())) {
                return true;
            }
        }
        false
    }
}

/// The task head of each family, trained whole beside the adapters. peft adds `classifier` for
/// sequence classification; DistilBERT's head starts with `pre_classifier`, which a base model does
/// not have either, so it is saved too (else a loaded adapter would meet a new random layer).
pub fn modules_to_save(family: Family) -> Vec<String> {
    match family {
        Family::DistilBert => vec!["pre_classifier".into(), "classifier".into()],
        _ => vec!["classifier".into()],
    }
}

/// The largest rank taken: wider than any layer of the models this crate trains.
pub const MAX_RANK: usize = 4096;

/// The prefix peft puts before every tensor name in `adapter_model.safetensors`.
pub const ADAPTER_PREFIX: &str = "base_model.model.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_match_module_names_as_peft_does() {
        let t = TargetModules::parse("query, value").unwrap();
        assert!(t.matches("bert.encoder.layer.0.attention.self.query"));
        assert!(t.matches("value"));
        assert!(!t.matches("bert.encoder.layer.0.attention.self.query_proj"));
        assert!(!t.matches("bert.encoder.layer.0.attention.self.key"));
        assert!(TargetModules::parse("all-linear").unwrap().matches("bert.pooler.dense"));
        assert!(TargetModules::parse(" , ").is_err());
    }

    #[test]
    fn modules_to_save_match_as_peft_matches_them() {
        let c = LoraConfig { modules_to_save: vec!["classifier".into()], ..LoraConfig::new(8, Family::Bert) };
        assert!(c.saves("classifier.weight") && c.saves("classifier.out_proj.bias") && c.saves("pre_classifier.weight"));
        assert!(!c.saves("bert.pooler.dense.weight") && !c.saves("bert.encoder.layer.0.attention.self.query.weight"));
    }

    #[test]
    fn peft_adapter_config_round_trips_and_refuses_what_it_cannot_load() {
        let mut c = LoraConfig::new(8, Family::Bert);
        c.base_model_name_or_path = Some("bert-base-uncased".into());
        let back = LoraConfig::from_adapter_json(c.to_adapter_json().as_bytes(), "adapter_config.json").unwrap();
        assert_eq!(back, c);
        assert_eq!(c.scaling(), 1.0);
        for (field, value) in [
            ("use_dora", "true"),
            ("peft_type", "\"IA3\""),
            ("target_modules", "\".*query\""),
            ("rank_pattern", "{\"query\": 4}"),
            ("r", "0"),
            ("lora_alpha", "-1"),
            ("use_rslora", "\"yes\""),
            ("layer_replication", "[[0, 2]]"),
            ("task_type", "\"CAUSAL_LM\""),
        ] {
            let mut v: Value = serde_json::from_str(&c.to_adapter_json()).unwrap();
            v[field] = serde_json::from_str(value).unwrap();
            let err = LoraConfig::from_adapter_json(v.to_string().as_bytes(), "a/adapter_config.json").unwrap_err().to_string();
            assert!(err.contains("a/adapter_config.json") && err.contains(field), "{field}: {err}");
        }
    }
}

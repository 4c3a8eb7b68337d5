//! Our models against transformers on the same inputs: the features the head reads (BERT's pooled
//! output), logits and loss, and the gradients of one backward pass, compared with the golden values that `scripts/goldens.py` writes
//! (`tests/goldens/*.json`). The parity tests run this on the CPU and wgpu backends; the page's worker
//! runs it on the browser's WebGPU (`check=` in a link), because a browser's GPU stack can compute
//! differently from native wgpu on the same kernels.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Result;
// The report types are plain data (the page shows them); computing one is the trainer's.
#[cfg(feature = "trainer")]
use {
    crate::error::Error,
    crate::model::lora_config::LoraConfig,
    crate::model::weights::{Exporter, Vars, WeightFile},
    crate::model::tokens::TokenRows,
    crate::model::{BertConfig, BertInput, SequenceClassifier},
    crate::train::adamw::AdamW,
    crate::train::{AdamWSettings, cross_entropy},
    burn::module::{Module, ModuleMapper, Param},
    burn::optim::GradientsParams,
    burn::tensor::{Device, Int, Tensor, TensorData},
};

/// transformers' numbers for one batch (`scripts/goldens.py`, model in eval mode).
#[derive(Debug, Clone, Deserialize)]
pub struct Golden {
    pub input_ids: Vec<Vec<i64>>,
    pub token_type_ids: Vec<Vec<i64>>,
    pub attention_mask: Vec<Vec<i64>>,
    pub labels: Vec<i64>,
    pub pooled_output: Vec<Vec<f32>>,
    pub logits: Vec<Vec<f32>>,
    pub loss: f32,
    /// By transformers' parameter name; only a prefix of each flattened gradient, and its sum.
    pub grads: BTreeMap<String, GradientGolden>,
    /// The task head transformers drew at random, for a base model that has none.
    #[serde(default)]
    pub classifier: Option<Head>,
    /// How the first token attends in the last layer, [batch][head][key] (`output_attentions`).
    #[serde(default)]
    pub first_token_attention: Option<Vec<Vec<Vec<f32>>>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GradientGolden {
    pub shape: Vec<usize>,
    pub prefix: Vec<f32>,
    pub sum: f32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Head {
    pub weight: Vec<Vec<f32>>,
    pub bias: Vec<f32>,
}

/// How far one computed tensor is from transformers'.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    /// `pooled_output`, `logits`, `loss`, or a parameter's name for its gradient.
    pub name: String,
    /// NaN where any value computed was NaN.
    #[serde(deserialize_with = "nan_if_null")]
    pub max_abs_diff: f32,
    /// For gradients: the sum of the whole gradient, ours and transformers'.
    #[serde(deserialize_with = "nan_if_null_pair")]
    pub sum: Option<[f32; 2]>,
}

// JSON has no NaN: serde_json writes it as `null`, which must read back as NaN (the page receives
// reports as JSON, and a NaN is exactly what a check must be able to show).
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    Ok(Option::<f32>::deserialize(d)?.unwrap_or(f32::NAN))
}

fn nan_if_null_pair<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<[f32; 2]>, D::Error> {
    Ok(Option::<[Option<f32>; 2]>::deserialize(d)?.map(|p| p.map(|x| x.unwrap_or(f32::NAN))))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParityReport {
    pub differences: Vec<Difference>,
}

impl ParityReport {
    /// The largest difference of any value compared.
    pub fn max_abs_diff(&self) -> f32 {
        self.differences.iter().map(|d| d.max_abs_diff).fold(0.0, nan_max)
    }

    /// Every tensor beyond `tolerance` (a NaN is beyond any), and every gradient whose sum is off by
    /// more than 1e-3 of its size (at least 1e-3), named.
    pub fn failures(&self, tolerance: f32) -> Vec<String> {
        let mut out = Vec::new();
        for d in &self.differences {
            if d.max_abs_diff.is_nan() || d.max_abs_diff > tolerance {
                out.push(format!("{} differs by {} (tolerance {tolerance})", d.name, d.max_abs_diff));
            }
            if let Some([ours, theirs]) = d.sum {
                if !((ours - theirs).abs() <= 1e-3_f32.max(theirs.abs() * 1e-3)) {
                    out.push(format!("the gradient of {} sums to {ours}, transformers' to {theirs}", d.name));
                }
            }
        }
        out
    }
}

#[cfg(feature = "trainer")]
impl Golden {
    pub fn from_json(bytes: &[u8], path: &str) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| Error::json(path, e))
    }

    fn input(&self, device: &Device) -> Result<BertInput> {
        let shape = [self.input_ids.len(), self.input_ids.first().map_or(0, Vec::len)];
        let ints = |name: &str, rows: &[Vec<i64>]| -> Result<Vec<i64>> {
            if rows.len() != shape[0] || rows.iter().any(|r| r.len() != shape[1]) {
                return Err(Error::Invalid(format!("golden `{name}`: expected {} rows of {} values", shape[0], shape[1])));
            }
            Ok(rows.concat())
        };
        if self.labels.len() != shape[0] {
            return Err(Error::Invalid(format!("golden `labels`: {} labels for {} rows", self.labels.len(), shape[0])));
        }
        let ids = ints("input_ids", &self.input_ids)?;
        let types = ints("token_type_ids", &self.token_type_ids)?;
        let mask: Vec<f32> = ints("attention_mask", &self.attention_mask)?.into_iter().map(|m| m as f32).collect();
        Ok(BertInput {
            input_ids: Tensor::from_data(TensorData::new(ids, shape), device),
            token_type_ids: Tensor::from_data(TensorData::new(types, shape), device),
            tokens: TokenRows::new(&mask, shape[0], shape[1], device),
            attention_mask: Tensor::from_data(TensorData::new(mask, shape), device),
        })
    }

    /// The model these goldens were computed with: `weights` and `config` as given, plus the
    /// golden's own task head where it has one, dropout off (transformers' `model.eval()`), on an
    /// autodiff `device`. Refused if any tensor would have to be drawn at random.
    pub fn model(&self, config: &BertConfig, mut weights: WeightFile, device: &Device, config_path: &str) -> Result<SequenceClassifier> {
        if let Some(head) = &self.classifier {
            let rows = head.weight.len();
            let cols = head.weight.first().map_or(0, Vec::len);
            weights.insert("classifier.weight", vec![rows, cols], head.weight.concat());
            weights.insert("classifier.bias", vec![head.bias.len()], head.bias.clone());
        }
        let mut config = config.clone();
        config.hidden_dropout_prob = 0.0;
        config.attention_probs_dropout_prob = 0.0;
        config.classifier_dropout = Some(0.0);
        let path = weights.path().to_string();
        let mut vars = Vars::from_file(weights, 0, config.initializer_range, device);
        let model = SequenceClassifier::load(&mut vars, &config, config_path)?;
        if !vars.initialized().is_empty() {
            return Err(Error::Invalid(format!(
                "{path}: no values for {} (the golden file has no task head either)",
                vars.initialized().join(", ")
            )));
        }
        Ok(model)
    }
}

/// Runs `model` (on an autodiff device) on the golden batch, one backward pass of the mean
/// cross-entropy, and compares. Values are read in awaited transactions.
#[cfg(feature = "trainer")]
pub async fn compare(model: &SequenceClassifier, golden: &Golden, device: &Device) -> Result<ParityReport> {
    compare_with(model, golden, device, None).await
}

/// [`compare`], with gradients named as an adapter file names them where `lora` is given (the
/// adapters' and the head's: nothing else is trained).
#[cfg(feature = "trainer")]
async fn compare_with(model: &SequenceClassifier, golden: &Golden, device: &Device, lora: Option<&LoraConfig>) -> Result<ParityReport> {
    let input = golden.input(device)?;
    let out = model.forward_outputs(input, golden.first_token_attention.is_some());
    let attention = out.first_token_attention();
    let (logits, features) = (out.logits, out.features);
    let n = golden.labels.len();
    let labels = Tensor::<1, Int>::from_data(TensorData::new(golden.labels.clone(), [n]), device);
    let loss = cross_entropy(logits.clone(), labels);
    let grads = GradientsParams::from_grads(loss.backward(), model);
    // The gradients laid out as a model, so the model's own export names them as transformers
    // does, whatever the family.
    let exporter = match lora {
        None => Exporter::new(),
        Some(c) => Exporter::adapter(c),
    };
    let gradients: BTreeMap<String, (Vec<usize>, Vec<f32>)> = model
        .clone()
        .map(&mut AsGradients { grads })
        .export_with(exporter)
        .await?
        .into_iter()
        .map(|(name, shape, v)| (name, (shape, v)))
        .collect();

    let mut read = Exporter::new();
    read.tensor("pooled_output", features.inner());
    read.tensor("logits", logits.inner());
    read.tensor("loss", loss.inner());
    if let Some(attention) = attention {
        read.tensor("first_token_attention", attention.inner());
    }
    let values: BTreeMap<String, (Vec<usize>, Vec<f32>)> =
        read.read().await?.into_iter().map(|(name, shape, v)| (name, (shape, v))).collect();

    let mut differences = vec![
        difference("pooled_output", &values["pooled_output"].1, &golden.pooled_output.concat())?,
        difference("logits", &values["logits"].1, &golden.logits.concat())?,
        difference("loss", &values["loss"].1, &[golden.loss])?,
    ];
    if let Some(expected) = &golden.first_token_attention {
        let expected: Vec<f32> = expected.iter().flatten().flatten().copied().collect();
        differences.push(difference("first_token_attention", &values["first_token_attention"].1, &expected)?);
    }
    for (name, expected) in &golden.grads {
        let (shape, ours) = gradients
            .get(name)
            .ok_or_else(|| Error::Invalid(format!("golden gradient `{name}`: the model has no such tensor")))?;
        if *shape != expected.shape {
            return Err(Error::Invalid(format!("gradient of `{name}`: shape {shape:?}, the golden file has {:?}", expected.shape)));
        }
        let mut d = difference(name, &ours[..expected.prefix.len().min(ours.len())], &expected.prefix)?;
        d.sum = Some([ours.iter().sum(), expected.sum]);
        differences.push(d);
    }
    Ok(ParityReport { differences })
}

/// peft's numbers for LoRA on a tiny model (`scripts/goldens.py lora`): the adapter it drew, two
/// steps' losses and gradients, and the adapter after one AdamW step between them.
#[derive(Debug, Clone, Deserialize)]
pub struct LoraGolden {
    /// The fixture folder under tests/fixtures.
    pub fixture: String,
    pub adapter_config: serde_json::Value,
    pub lr: f64,
    /// `adapter_model.safetensors`'s tensors as peft initialised them (B zero), and the head.
    pub initial: BTreeMap<String, NamedTensor>,
    pub first: Golden,
    pub after_step: BTreeMap<String, NamedTensor>,
    pub second: Golden,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NamedTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

#[cfg(feature = "trainer")]
impl LoraGolden {
    pub fn from_json(bytes: &[u8], path: &str) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| Error::json(path, e))
    }

    /// The base model (`weights`, `config`) with peft's initial adapter, dropout off, compared at
    /// the first step; one AdamW step at the golden learning rate; the adapter and the second step
    /// compared. Names in the report start with `step 1`, `after the step` or `step 2`.
    pub async fn compare(&self, config: &BertConfig, weights: WeightFile, device: &Device) -> Result<ParityReport> {
        let path = format!("{}'s LoRA golden", self.fixture);
        let lora = LoraConfig::from_adapter_json(self.adapter_config.to_string().as_bytes(), &path)?;
        let mut initial = WeightFile::empty(&path);
        for (name, t) in &self.initial {
            initial.insert(name, t.shape.clone(), t.values.clone());
        }
        let mut config = config.clone();
        config.hidden_dropout_prob = 0.0;
        config.attention_probs_dropout_prob = 0.0;
        config.classifier_dropout = Some(0.0);
        let mut vars = Vars::from_file(weights, 0, config.initializer_range, device).with_lora(lora.clone(), Some(initial));
        let model = SequenceClassifier::load(&mut vars, &config, &path)?;
        let unused = vars.unused_adapter_tensors();
        if !unused.is_empty() {
            return Err(Error::Invalid(format!("{path}: the model has no place for {}", unused.join(", "))));
        }
        fn named(prefix: &'static str, r: ParityReport) -> impl Iterator<Item = Difference> {
            r.differences.into_iter().map(move |mut d| {
                d.name = format!("{prefix} {}", d.name);
                d
            })
        }
        let mut differences: Vec<Difference> = named("step 1", compare_with(&model, &self.first, device, Some(&lora)).await?).collect();

        let input = self.first.input(device)?;
        let n = self.first.labels.len();
        let labels = Tensor::<1, Int>::from_data(TensorData::new(self.first.labels.clone(), [n]), device);
        let grads = GradientsParams::from_grads(cross_entropy(model.forward(input), labels).backward(), &model);
        let settings = AdamWSettings { weight_decay: 0.0, ..Default::default() };
        let model = AdamW::new(settings).step(self.lr, model, grads);

        let after: BTreeMap<String, (Vec<usize>, Vec<f32>)> =
            model.export_with(Exporter::adapter(&lora)).await?.into_iter().map(|(n, s, v)| (n, (s, v))).collect();
        for (name, expected) in &self.after_step {
            let (_, ours) = after
                .get(name)
                .ok_or_else(|| Error::Invalid(format!("{path}: the adapter has no `{name}` after the step")))?;
            differences.push(difference(&format!("after the step {name}"), ours, &expected.values)?);
        }
        differences.extend(named("step 2", compare_with(&model, &self.second, device, Some(&lora)).await?));
        Ok(ParityReport { differences })
    }
}

/// Replaces every parameter by its gradient (zeros where none reached it).
#[cfg(feature = "trainer")]
struct AsGradients {
    grads: GradientsParams,
}

#[cfg(feature = "trainer")]
impl ModuleMapper for AsGradients {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let value = self.grads.remove::<D>(id).unwrap_or_else(|| tensor.inner().zeros_like());
        Param::from_mapped_value(id, value, mapper)
    }
}

#[cfg(feature = "trainer")]
fn difference(name: &str, ours: &[f32], theirs: &[f32]) -> Result<Difference> {
    if ours.len() != theirs.len() {
        return Err(Error::Invalid(format!("`{name}`: {} values computed, {} in the golden file", ours.len(), theirs.len())));
    }
    let max_abs_diff = ours.iter().zip(theirs).map(|(a, b)| (a - b).abs()).fold(0.0, nan_max);
    Ok(Difference { name: name.into(), max_abs_diff, sum: None })
}

/// The larger of two differences, NaN if either is: `f32::max` drops a NaN, and a NaN must fail
/// a check, not pass as 0.
fn nan_max(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() { f32::NAN } else { a.max(b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(diffs: &[(&str, f32, Option<[f32; 2]>)]) -> ParityReport {
        ParityReport {
            differences: diffs.iter().map(|&(n, d, sum)| Difference { name: n.into(), max_abs_diff: d, sum }).collect(),
        }
    }

    #[test]
    fn failures_name_each_value_beyond_the_tolerance() {
        let r = report(&[("logits", 5e-5, None), ("loss", 2e-4, None), ("w", 0.0, Some([1.0, 1.0005]))]);
        assert_eq!(r.failures(1e-4), vec!["loss differs by 0.0002 (tolerance 0.0001)".to_string()]);
        assert_eq!(r.max_abs_diff(), 2e-4);
        let sums = report(&[("w", 0.0, Some([1.0, 1.01])), ("v", 0.0, Some([0.0, 5e-4]))]);
        assert_eq!(sums.failures(1e-4), vec!["the gradient of w sums to 1, transformers' to 1.01".to_string()]);
    }

    #[test]
    fn a_nan_fails_however_it_arrives() {
        assert!(difference("logits", &[0.0, f32::NAN], &[0.0, 0.0]).unwrap().max_abs_diff.is_nan());
        assert!(difference("logits", &[f32::NAN, 0.0], &[0.0, 0.0]).unwrap().max_abs_diff.is_nan());
        let r = report(&[("logits", f32::NAN, None), ("w", 0.0, Some([f32::NAN, 1.0]))]);
        assert!(r.max_abs_diff().is_nan());
        assert_eq!(r.failures(1e-4).len(), 2, "{:?}", r.failures(1e-4));
        assert!(difference("loss", &[1.0, 2.0], &[1.0]).is_err(), "lengths must agree");
    }

    #[test]
    fn a_nan_survives_json() {
        let r = report(&[("logits", f32::NAN, None), ("w", 0.5, Some([f32::NAN, 1.0])), ("v", 0.0, None)]);
        let back: ParityReport = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert!(back.differences[0].max_abs_diff.is_nan());
        let [ours, theirs] = back.differences[1].sum.unwrap();
        assert!(ours.is_nan() && theirs == 1.0);
        assert_eq!(back.differences[2], r.differences[2]);
    }
}

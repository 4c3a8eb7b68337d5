//! safetensors ⇄ burn. Modules ask for their tensors by Hugging Face name through `Vars`; the
//! checkpoint answers with a shape-checked tensor, or — for heads a pretrained checkpoint does not
//! have — `Vars` initialises them as transformers does. `Exporter` walks the same names back out.

use std::collections::{HashMap, HashSet};

use burn::module::Param;
use burn::nn::{DropoutConfig, Embedding, LayerNorm, LayerNormConfig, Linear};
use burn::tensor::{Device, Tensor, TensorData, Transaction};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal, Uniform};
use safetensors::{Dtype, SafeTensors};

use super::lora::{Lora, LoraLinear};
use super::lora_config::{ADAPTER_PREFIX, LoraConfig};
use crate::error::{Error, Result};

/// All tensors of a `model.safetensors`, as f32 on the host.
pub struct WeightFile {
    path: String,
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

impl WeightFile {
    pub fn from_bytes(bytes: &[u8], path: &str) -> Result<Self> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| Error::Safetensors {
            path: path.into(),
            reason: e.to_string(),
        })?;
        let mut tensors = HashMap::new();
        for (name, view) in st.tensors() {
            if name.ends_with("position_ids") {
                continue; // a buffer, not a weight
            }
            let data = view.data();
            let values: Vec<f32> = match view.dtype() {
                Dtype::F32 => data
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
                Dtype::F16 => data
                    .chunks_exact(2)
                    .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect(),
                Dtype::BF16 => data
                    .chunks_exact(2)
                    .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect(),
                // Integer buffers and heads we never read are skipped, not rejected.
                _ if !is_weight_name(&name) => continue,
                other => {
                    return Err(Error::TensorDtype {
                        path: path.into(),
                        tensor: name,
                        dtype: format!("{other:?}"),
                    });
                }
            };
            tensors.insert(name, (view.shape().to_vec(), values));
        }
        Ok(Self {
            path: path.into(),
            tensors,
        })
    }

    /// A file with no tensors yet, to be filled with [`Self::insert`].
    pub fn empty(path: &str) -> Self {
        Self { path: path.into(), tensors: HashMap::new() }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Every tensor's name and shape, in no particular order.
    pub fn shapes(&self) -> impl Iterator<Item = (&str, &[usize])> {
        self.tensors.iter().map(|(name, (shape, _))| (name.as_str(), shape.as_slice()))
    }

    /// Adds or replaces a tensor (transformers' name and layout).
    pub fn insert(&mut self, name: &str, shape: Vec<usize>, values: Vec<f32>) {
        self.tensors.insert(name.to_string(), (shape, values));
    }

    /// Looks a transformers name up under the spellings checkpoints use: with or without the
    /// family's prefix (`bert.`, `roberta.`, …: a base model's file has none), and LayerNorm's old
    /// `gamma`/`beta` (bert-base-uncased still has them).
    fn find(&self, name: &str) -> Option<(&str, &(Vec<usize>, Vec<f32>))> {
        let mut candidates = vec![name.to_string()];
        if let Some(stripped) = FAMILY_PREFIXES.iter().find_map(|p| name.strip_prefix(p)) {
            candidates.push(stripped.to_string());
        }
        for c in candidates.clone() {
            if let Some(base) = c.strip_suffix("LayerNorm.weight") {
                candidates.push(format!("{base}LayerNorm.gamma"));
            }
            if let Some(base) = c.strip_suffix("LayerNorm.bias") {
                candidates.push(format!("{base}LayerNorm.beta"));
            }
        }
        candidates
            .into_iter()
            .find_map(|c| self.tensors.get_key_value(&c))
            .map(|(k, v)| (k.as_str(), v))
    }
}

/// Where each family keeps its base model in a task model's file.
const FAMILY_PREFIXES: [&str; 5] = ["bert.", "roberta.", "electra.", "albert.", "distilbert."];

fn is_weight_name(name: &str) -> bool {
    FAMILY_PREFIXES.iter().any(|p| name.starts_with(p))
        || ["classifier", "pre_classifier.", "embeddings.", "encoder.", "pooler.", "transformer.", "embeddings_project."]
            .iter()
            .any(|p| name.starts_with(p))
}

/// How a tensor is initialised when no checkpoint provides it (transformers' `_init_weights`).
#[derive(Clone, Copy)]
pub enum Init {
    Normal,
    Zeros,
    Ones,
}

/// Where a model's tensors come from while it is being built.
pub struct Vars {
    checkpoint: Option<WeightFile>,
    /// Names that may be absent from the checkpoint and are then initialised (task heads).
    optional_prefixes: Vec<String>,
    initialized: Vec<String>,
    used: HashSet<String>,
    rng: StdRng,
    seed: u64,
    std: f64,
    device: Device,
    /// Set while a model is built for LoRA: every tensor is frozen except the adapters and the
    /// modules the adapter saves whole.
    lora: Option<Adapting>,
    /// Frozen tensors are one-element stand-ins (`Vars::adapter_only`).
    frozen_stand_ins: bool,
}

const LORA_STREAM: u64 = 0x4c6f_5241;

/// The LoRA a model is being built with, and the adapter file it continues from.
struct Adapting {
    config: LoraConfig,
    /// An adapter folder's `adapter_model.safetensors` (`base_model.model.`-prefixed names).
    adapter: Option<WeightFile>,
    used: HashSet<String>,
    /// The layers given an adapter so far.
    adapted: usize,
    rng: StdRng,
}

impl Vars {
    pub fn from_file(checkpoint: WeightFile, init_seed: u64, std: f64, device: &Device) -> Self {
        Self {
            checkpoint: Some(checkpoint),
            // The task heads: BERT's and ALBERT's `classifier`, RoBERTa's and ELECTRA's
            // `classifier.dense`/`out_proj`, DistilBERT's `pre_classifier` and `classifier`.
            optional_prefixes: vec!["classifier.".into(), "pre_classifier.".into()],
            initialized: Vec::new(),
            used: HashSet::new(),
            rng: StdRng::seed_from_u64(init_seed),
            seed: init_seed,
            std,
            device: device.clone(),
            lora: None,
            frozen_stand_ins: false,
        }
    }

    /// A LoRA model of the adapter's and the head's tensors alone, from `adapter` (a file in
    /// `adapter_model.safetensors`' layout): each frozen tensor is a one-element stand-in. What a
    /// checkpoint's optimizer moments are read into, which exist only for the trained tensors; a
    /// copy of the base weights for each would cost two models' memory at resume.
    pub fn adapter_only(config: LoraConfig, adapter: WeightFile, device: &Device) -> Self {
        let vars = Self { checkpoint: None, frozen_stand_ins: true, ..Self::random(0, 0.0, device) };
        vars.with_lora(config, Some(adapter))
    }

    /// Builds the model with LoRA adapters on `config.target_modules`, everything else frozen but
    /// `config.modules_to_save`; the adapters and saved modules come from `adapter` when given
    /// (a trained adapter), else A is drawn as peft draws it (Kaiming-uniform) and B is zero.
    pub fn with_lora(mut self, config: LoraConfig, adapter: Option<WeightFile>) -> Self {
        // A stream of its own (from the run's seed), so the head is drawn the same with or without LoRA.
        let rng = StdRng::seed_from_u64(self.seed ^ LORA_STREAM);
        self.lora = Some(Adapting { config, adapter, used: HashSet::new(), adapted: 0, rng });
        self
    }

    /// Every tensor must come from `file` (a checkpoint's own files, where nothing is optional).
    pub fn strict(file: WeightFile, device: &Device) -> Self {
        Self { optional_prefixes: Vec::new(), ..Self::from_file(file, 0, 0.0, device) }
    }

    /// Every tensor freshly initialised: for benchmarks with a model's shape but no weights.
    pub fn random(init_seed: u64, std: f64, device: &Device) -> Self {
        Self {
            checkpoint: None,
            optional_prefixes: Vec::new(),
            initialized: Vec::new(),
            used: HashSet::new(),
            rng: StdRng::seed_from_u64(init_seed),
            seed: init_seed,
            std,
            device: device.clone(),
            lora: None,
            frozen_stand_ins: false,
        }
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Tensors that were initialised rather than loaded (transformers warns about the same ones).
    pub fn initialized(&self) -> &[String] {
        &self.initialized
    }

    /// A tensor by its transformers name and shape, as laid out in the checkpoint.
    pub fn host(&mut self, name: &str, shape: &[usize], init: Init) -> Result<Vec<f32>> {
        // A trained adapter carries the modules it trained whole (the head): those come from it.
        if let Some(lora) = &mut self.lora {
            if lora.adapter.is_some() && lora.config.saves(name) {
                return lora.tensor(&format!("{ADAPTER_PREFIX}{name}"), shape);
            }
        }
        let optional = self.optional_prefixes.iter().any(|p| name.starts_with(p));
        let mut reason = String::new();
        if let Some(ckpt) = &self.checkpoint {
            if let Some((key, (found, values))) = ckpt.find(name) {
                if found.as_slice() != shape && optional {
                    // A task head for other labels (a model fine-tuned on MRPC, trained on MNLI):
                    // a new head, said as transformers' `ignore_mismatched_sizes` says it.
                    reason = format!(" (shape {found:?} in the checkpoint, {shape:?} for these labels)");
                } else if found.as_slice() != shape {
                    return Err(Error::TensorShape {
                        path: ckpt.path.clone(),
                        tensor: key.into(),
                        expected: shape.to_vec(),
                        found: found.clone(),
                    });
                } else {
                    self.used.insert(key.to_string());
                    return Ok(values.clone());
                }
            } else if !optional {
                return Err(Error::MissingTensor {
                    path: ckpt.path.clone(),
                    tensor: name.into(),
                });
            }
        }
        self.initialized.push(format!("{name}{reason}"));
        let n: usize = shape.iter().product();
        Ok(match init {
            Init::Zeros => vec![0.0; n],
            Init::Ones => vec![1.0; n],
            Init::Normal => {
                let normal = Normal::new(0.0, self.std).expect("std is finite");
                (0..n).map(|_| normal.sample(&mut self.rng) as f32).collect()
            }
        })
    }

    pub fn tensor<const D: usize>(&mut self, name: &str, shape: [usize; D], init: Init) -> Result<Tensor<D>> {
        if self.stands_in(name) {
            return Ok(Tensor::zeros([1; D], &self.device));
        }
        let values = self.host(name, &shape, init)?;
        Ok(Tensor::from_data(TensorData::new(values, shape), &self.device))
    }

    /// `nn.Linear(d_in, d_out)`: transformers stores the weight as [out, in], burn as [in, out].
    pub fn linear(&mut self, name: &str, d_in: usize, d_out: usize) -> Result<Linear> {
        if self.stands_in(name) {
            let (w, b) = (Tensor::zeros([1, 1], &self.device), Tensor::zeros([1], &self.device));
            return Ok(Linear { weight: self.param(name, w), bias: Some(self.param(name, b)) });
        }
        let w = self.host(&format!("{name}.weight"), &[d_out, d_in], Init::Normal)?;
        let b = self.tensor(&format!("{name}.bias"), [d_out], Init::Zeros)?;
        let w = Tensor::from_data(TensorData::new(transpose(&w, d_out, d_in), [d_in, d_out]), &self.device);
        Ok(Linear {
            weight: self.param(name, w),
            bias: Some(self.param(name, b)),
        })
    }

    /// A linear layer of the encoder, with a LoRA adapter when one is being built and `name` is
    /// among its targets.
    pub fn dense(&mut self, name: &str, d_in: usize, d_out: usize) -> Result<LoraLinear> {
        let base_layer = self.linear(name, d_in, d_out)?;
        let Some(lora) = &mut self.lora else {
            return Ok(LoraLinear::plain(base_layer));
        };
        if !lora.config.target_modules.matches(name) {
            return Ok(LoraLinear::plain(base_layer));
        }
        lora.adapted += 1;
        let r = lora.config.r;
        let (a_name, b_name) = (format!("{ADAPTER_PREFIX}{name}.lora_A.weight"), format!("{ADAPTER_PREFIX}{name}.lora_B.weight"));
        let (a, b) = match lora.adapter.is_some() {
            true => (lora.tensor(&a_name, &[r, d_in])?, lora.tensor(&b_name, &[d_out, r])?),
            false => {
                // peft: kaiming_uniform_(A, a=√5), i.e. U(-1/√in, 1/√in); B = 0.
                let bound = 1.0 / (d_in as f64).sqrt();
                let uniform = Uniform::new_inclusive(-bound, bound).expect("bound is finite");
                ((0..r * d_in).map(|_| uniform.sample(&mut lora.rng) as f32).collect(), vec![0.0; d_out * r])
            }
        };
        let weight = |values: Vec<f32>, rows: usize, cols: usize| {
            Param::from_tensor(Tensor::from_data(TensorData::new(transpose(&values, rows, cols), [cols, rows]), &self.device))
        };
        let (dropout, scaling) = (lora.config.lora_dropout, lora.config.scaling());
        let lora = Lora {
            lora_a: Linear { weight: weight(a, r, d_in), bias: None },
            lora_b: Linear { weight: weight(b, d_out, r), bias: None },
            dropout: DropoutConfig::new(dropout).init(),
            scaling,
        };
        Ok(LoraLinear { base_layer, lora: Some(lora) })
    }

    pub fn embedding(&mut self, name: &str, n: usize, d: usize) -> Result<Embedding> {
        let weight = self.tensor(&format!("{name}.weight"), [n, d], Init::Normal)?;
        Ok(Embedding { weight: self.param(name, weight) })
    }

    pub fn layer_norm(&mut self, name: &str, d: usize, eps: f64) -> Result<LayerNorm> {
        let mut ln = LayerNormConfig::new(d).with_epsilon(eps).init(&self.device);
        let (gamma, beta) = (self.tensor(&format!("{name}.weight"), [d], Init::Ones)?, self.tensor(&format!("{name}.bias"), [d], Init::Zeros)?);
        ln.gamma = self.param(name, gamma);
        ln.beta = Some(self.param(name, beta));
        Ok(ln)
    }

    /// Whether the tensor or module `name` is frozen and only stood in for (`Vars::adapter_only`).
    fn stands_in(&self, name: &str) -> bool {
        self.frozen_stand_ins && self.lora.as_ref().is_some_and(|l| !l.config.saves(name))
    }

    /// A parameter of the module `name`: trainable, or frozen when LoRA is being built and the
    /// module is not one it saves whole. Frozen parameters get no gradients, so AdamW keeps no
    /// moments for them.
    fn param<const D: usize>(&self, module: &str, tensor: Tensor<D>) -> Param<Tensor<D>> {
        let param = Param::from_tensor(tensor);
        match &self.lora {
            Some(lora) if !lora.config.saves(module) => param.set_require_grad(false),
            _ => param,
        }
    }

    /// How many layers got an adapter (0 without LoRA).
    pub fn adapted(&self) -> usize {
        self.lora.as_ref().map_or(0, |l| l.adapted)
    }

    /// Adapter tensors the adapter file had that no module asked for: an adapter trained with other
    /// targets than its config names, refused rather than silently dropped.
    pub fn unused_adapter_tensors(&self) -> Vec<String> {
        let Some(Adapting { adapter: Some(file), used, .. }) = &self.lora else { return Vec::new() };
        let mut unused: Vec<String> = file.tensors.keys().filter(|k| !used.contains(*k)).cloned().collect();
        unused.sort();
        unused
    }
}

impl Adapting {
    /// A tensor of the adapter file, with its shape checked.
    fn tensor(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let file = self.adapter.as_ref().expect("called with an adapter file");
        match file.tensors.get(name) {
            None => Err(Error::MissingTensor { path: file.path.clone(), tensor: name.into() }),
            Some((found, _)) if found.as_slice() != shape => Err(Error::TensorShape {
                path: file.path.clone(),
                tensor: name.into(),
                expected: shape.to_vec(),
                found: found.clone(),
            }),
            Some((_, values)) => {
                self.used.insert(name.to_string());
                Ok(values.clone())
            }
        }
    }
}

fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

/// Collects a model's tensors under transformers' names and writes them as safetensors, reading
/// everything back from the device in one transaction.
#[derive(Default)]
pub struct Exporter {
    names: Vec<(String, Option<(usize, usize)>)>,
    transaction: Transaction,
    /// Set for an adapter's file: only the adapters and the modules saved whole, under peft's names.
    adapter: Option<LoraConfig>,
}

impl Exporter {
    /// A whole model, adapters merged into their layers.
    pub fn new() -> Self {
        Self::default()
    }

    /// `adapter_model.safetensors` as peft writes it: each adapter's `lora_A`/`lora_B` and the
    /// modules `config` saves whole, every name prefixed with `base_model.model.`.
    pub fn adapter(config: &LoraConfig) -> Self {
        Self { adapter: Some(config.clone()), ..Self::default() }
    }

    /// Whether a tensor of the base model is written, and under which name.
    fn written_as(&self, name: &str) -> Option<String> {
        match &self.adapter {
            None => Some(name.to_string()),
            Some(c) if c.saves(name) => Some(format!("{ADAPTER_PREFIX}{name}")),
            Some(_) => None,
        }
    }

    pub fn tensor<const D: usize>(&mut self, name: &str, tensor: Tensor<D>) {
        if let Some(name) = self.written_as(name) {
            self.push(name, None, tensor);
        }
    }

    fn push<const D: usize>(&mut self, name: String, linear: Option<(usize, usize)>, tensor: Tensor<D>) {
        self.names.push((name, linear));
        self.transaction = std::mem::take(&mut self.transaction).register(tensor);
    }

    pub fn linear(&mut self, name: &str, linear: &Linear) {
        self.linear_weight(&format!("{name}.weight"), linear.weight.val());
        if let Some(bias) = &linear.bias {
            self.tensor(&format!("{name}.bias"), bias.val());
        }
    }

    /// A layer that may carry an adapter: merged into the weight for a whole model, the adapter's
    /// two matrices alone for an adapter file.
    pub fn dense(&mut self, name: &str, layer: &LoraLinear) {
        match (&self.adapter, &layer.lora) {
            (None, _) => {
                self.linear_weight(&format!("{name}.weight"), layer.merged_weight());
                if let Some(bias) = &layer.base_layer.bias {
                    self.tensor(&format!("{name}.bias"), bias.val());
                }
            }
            (Some(_), Some(lora)) => {
                for (matrix, linear) in [("lora_A", &lora.lora_a), ("lora_B", &lora.lora_b)] {
                    let weight = linear.weight.val();
                    let [d_in, d_out] = weight.dims();
                    self.push(format!("{ADAPTER_PREFIX}{name}.{matrix}.weight"), Some((d_in, d_out)), weight);
                }
            }
            (Some(_), None) => self.linear(name, &layer.base_layer),
        }
    }

    /// A tensor laid out as a burn `Linear`'s weight, [in, out]; read as transformers' [out, in].
    pub fn linear_weight(&mut self, name: &str, weight: Tensor<2>) {
        if let Some(name) = self.written_as(name) {
            let [d_in, d_out] = weight.dims();
            self.push(name, Some((d_in, d_out)), weight);
        }
    }

    pub fn embedding(&mut self, name: &str, emb: &Embedding) {
        self.tensor(&format!("{name}.weight"), emb.weight.val());
    }

    pub fn layer_norm(&mut self, name: &str, ln: &LayerNorm) {
        self.tensor(&format!("{name}.weight"), ln.gamma.val());
        if let Some(beta) = &ln.beta {
            self.tensor(&format!("{name}.bias"), beta.val());
        }
    }

    /// The tensors as (name, shape, values) in transformers' layout.
    pub async fn read(self) -> Result<Vec<(String, Vec<usize>, Vec<f32>)>> {
        let datas = self.transaction.execute_async().await?;
        let mut out = Vec::with_capacity(datas.len());
        for ((name, linear), data) in self.names.into_iter().zip(datas) {
            let shape = data.shape().to_vec();
            let values: Vec<f32> = data
                .convert::<f32>()
                .try_into_vec()
                .map_err(|e| Error::Device(format!("reading `{name}`: {e:?}")))?;
            out.push(match linear {
                Some((d_in, d_out)) => (name, vec![d_out, d_in], transpose(&values, d_in, d_out)),
                None => (name, shape, values),
            });
        }
        Ok(out)
    }
}

/// Serialises named f32 tensors to safetensors bytes.
pub fn to_safetensors(tensors: &[(String, Vec<usize>, Vec<f32>)]) -> Result<Vec<u8>> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), b)| {
            safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), b)
                .map(|view| (name.clone(), view))
                .map_err(|e| Error::Invalid(format!("tensor `{name}`: {e}")))
        })
        .collect::<Result<_>>()?;
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    safetensors::serialize(views, Some(meta)).map_err(|e| Error::Invalid(format!("writing safetensors: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(tensors: &[(&str, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
        let owned: Vec<(String, Vec<usize>, Vec<f32>)> =
            tensors.iter().map(|(n, s, v)| (n.to_string(), s.clone(), v.clone())).collect();
        to_safetensors(&owned).unwrap()
    }

    #[test]
    fn truncated_file_is_a_named_error() {
        let bytes = checkpoint(&[("bert.pooler.dense.bias", vec![4], vec![1.0; 4])]);
        for cut in [0, 7, bytes.len() / 2, bytes.len() - 1] {
            let err = WeightFile::from_bytes(&bytes[..cut], "m/model.safetensors").err().unwrap();
            assert!(err.to_string().starts_with("m/model.safetensors: not a valid safetensors"), "{err}");
        }
    }

    #[test]
    fn finds_names_with_or_without_prefix_and_old_layernorm_names() {
        let bytes = checkpoint(&[
            ("pooler.dense.bias", vec![2], vec![1.0, 2.0]),
            ("bert.embeddings.LayerNorm.gamma", vec![2], vec![3.0, 4.0]),
        ]);
        let ckpt = WeightFile::from_bytes(&bytes, "x").unwrap();
        assert_eq!(ckpt.find("bert.pooler.dense.bias").unwrap().1.1, vec![1.0, 2.0]);
        assert_eq!(ckpt.find("bert.embeddings.LayerNorm.weight").unwrap().1.1, vec![3.0, 4.0]);
    }

    #[test]
    fn wrong_shape_and_missing_tensor_name_file_and_tensor() {
        let bytes = checkpoint(&[("bert.pooler.dense.bias", vec![3], vec![0.0; 3])]);
        let device = Device::flex();
        let mut vars = Vars::from_file(WeightFile::from_bytes(&bytes, "w.safetensors").unwrap(), 0, 0.02, &device);
        let msg = vars.host("bert.pooler.dense.bias", &[4], Init::Zeros).unwrap_err().to_string();
        assert!(msg.contains("w.safetensors") && msg.contains("pooler.dense.bias") && msg.contains("[3]"), "{msg}");
        let msg = vars.host("bert.pooler.dense.weight", &[4, 4], Init::Normal).unwrap_err().to_string();
        assert!(msg.contains("w.safetensors") && msg.contains("is missing"), "{msg}");
        // Task heads may be absent: they are initialised (normal, std 0.02) and reported.
        let w = vars.host("classifier.weight", &[2, 4], Init::Normal).unwrap();
        assert!(w.iter().all(|x| x.abs() < 0.2) && w.iter().any(|x| *x != 0.0));
        assert_eq!(vars.initialized(), &["classifier.weight".to_string()]);
    }

    #[test]
    fn an_integer_weight_is_named_and_integer_buffers_are_skipped() {
        let ints = vec![0u8; 8];
        let views = vec![
            ("bert.pooler.dense.bias", safetensors::tensor::TensorView::new(Dtype::I32, vec![2], &ints).unwrap()),
            ("other.buffer", safetensors::tensor::TensorView::new(Dtype::I64, vec![1], &ints).unwrap()),
        ];
        let bytes = safetensors::serialize(views.clone(), None).unwrap();
        let msg = WeightFile::from_bytes(&bytes, "w.safetensors").err().unwrap().to_string();
        assert!(msg.contains("w.safetensors") && msg.contains("bert.pooler.dense.bias") && msg.contains("I32"), "{msg}");
        let bytes = safetensors::serialize(views[1..].to_vec(), None).unwrap();
        assert!(WeightFile::from_bytes(&bytes, "w.safetensors").is_ok());
    }

    #[test]
    fn transpose_round_trips() {
        let v: Vec<f32> = (0..6).map(|x| x as f32).collect();
        assert_eq!(transpose(&v, 2, 3), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        assert_eq!(transpose(&transpose(&v, 2, 3), 3, 2), v);
    }
}

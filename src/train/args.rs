//! What a run is asked to do, named as in transformers' `TrainingArguments`. Plain data: the
//! page's own bundle, built without the trainer, shares these types with the worker.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::lora_config::LoraConfig;

/// Hyperparameters, named as in transformers' `TrainingArguments`; defaults are the course's
/// recipe (batch 8, lr 5e-5 decaying linearly to 0, 3 epochs).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingArgs {
    pub num_train_epochs: usize,
    pub per_device_train_batch_size: usize,
    pub per_device_eval_batch_size: usize,
    pub learning_rate: f64,
    pub adamw: AdamWSettings,
    pub warmup_steps: usize,
    pub max_grad_norm: Option<f64>,
    pub gradient_accumulation_steps: usize,
    pub seed: u64,
    pub max_steps: Option<usize>,
    pub logging_steps: usize,
    pub save_strategy: SaveStrategy,
    /// Data parallelism: the devices (autodiff) that each take `per_device_train_batch_size`
    /// examples of every batch. Empty: the run's own device does all the work. See `run.rs`'s
    /// `forward_backward`. (Only with the trainer: a device is burn's.)
    #[cfg(feature = "trainer")]
    pub replicas: Vec<burn::tensor::Device>,
    /// transformers' `group_by_length`: batches of similar lengths (less padding, faster steps);
    /// off by default, as in the course's recipe. See `data::group_by_length`.
    pub group_by_length: bool,
    /// transformers' `--bf16` / `--fp16`: forward and backward in a 16-bit float, f32 weights and
    /// optimizer. See `precision.rs`.
    pub precision: Precision,
    /// peft's LoRA (`--lora-r`): the model was built with these adapters, everything else frozen but
    /// the task head; checkpoints and the saved model then hold the adapter alone. `None`: a full
    /// fine-tune.
    pub lora: Option<LoraConfig>,
}

impl Default for TrainingArgs {
    fn default() -> Self {
        Self {
            num_train_epochs: 3,
            per_device_train_batch_size: 8,
            per_device_eval_batch_size: 8,
            learning_rate: 5e-5,
            adamw: AdamWSettings::default(),
            warmup_steps: 0,
            max_grad_norm: None,
            gradient_accumulation_steps: 1,
            seed: 42,
            max_steps: None,
            logging_steps: 10,
            save_strategy: SaveStrategy::No,
            #[cfg(feature = "trainer")]
            replicas: Vec::new(),
            group_by_length: false,
            precision: Precision::F32,
            lora: None,
        }
    }
}

impl TrainingArgs {
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("num_train_epochs", self.num_train_epochs),
            ("per_device_train_batch_size", self.per_device_train_batch_size),
            ("per_device_eval_batch_size", self.per_device_eval_batch_size),
            ("gradient_accumulation_steps", self.gradient_accumulation_steps),
            ("logging_steps", self.logging_steps),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(Error::Invalid(format!("{name} must be at least 1")));
            }
        }
        if self.save_strategy == SaveStrategy::Steps(0) {
            return Err(Error::Invalid("save_steps must be at least 1".into()));
        }
        if self.max_steps == Some(0) {
            return Err(Error::Invalid("max_steps must be at least 1".into()));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(Error::Invalid(format!("learning_rate {} must be > 0", self.learning_rate)));
        }
        if let Some(lora) = &self.lora {
            lora.validate()?;
        }
        if let Some(n) = self.max_grad_norm {
            if !(n.is_finite() && n > 0.0) {
                return Err(Error::Invalid(format!("max_grad_norm {n} must be > 0")));
            }
        }
        Ok(())
    }

    /// Examples per forward pass over all devices (Accelerate's `total_batch_size` before
    /// accumulation).
    pub fn global_batch_size(&self) -> usize {
        #[cfg(feature = "trainer")]
        let devices = self.replicas.len().max(1);
        #[cfg(not(feature = "trainer"))]
        let devices = 1;
        self.per_device_train_batch_size * devices
    }

    /// Optimizer steps in one epoch of `n` examples (transformers: batches // accumulation, ≥ 1).
    pub fn steps_per_epoch(&self, n: usize) -> usize {
        (n.div_ceil(self.global_batch_size()) / self.gradient_accumulation_steps).max(1)
    }

    pub fn total_steps(&self, n: usize) -> usize {
        self.max_steps
            .unwrap_or(self.num_train_epochs * self.steps_per_epoch(n))
    }
}

/// When a run writes checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SaveStrategy {
    #[default]
    No,
    /// After each epoch's evaluation.
    Epoch,
    /// Every N optimizer steps (at an epoch's end, after its evaluation).
    Steps(usize),
}

impl SaveStrategy {
    /// Whether a checkpoint is due once `step` is done; `epoch_end` when it finished an epoch.
    pub fn due(self, step: usize, epoch_end: bool) -> bool {
        match self {
            SaveStrategy::No => false,
            SaveStrategy::Epoch => epoch_end,
            SaveStrategy::Steps(n) => n > 0 && step % n == 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AdamWSettings {
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
    pub weight_decay: f64,
}

impl Default for AdamWSettings {
    /// transformers' TrainingArguments defaults (burn's own are eps 1e-5, decay 1e-4).
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    F32,
    Bf16,
    F16,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "f16",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies() {
        assert!(!SaveStrategy::No.due(10, true));
        assert!(SaveStrategy::Epoch.due(7, true) && !SaveStrategy::Epoch.due(8, false));
        assert!(SaveStrategy::Steps(5).due(10, false) && !SaveStrategy::Steps(5).due(11, true));
    }
}

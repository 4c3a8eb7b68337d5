//! A run's state after an optimizer step, as the files of a checkpoint: the weights
//! (`model.safetensors`), AdamW's two moments laid out like the weights (`exp_avg.safetensors`,
//! `exp_avg_sq.safetensors`), and `trainer_state.json` — the step (which fixes the schedule and the
//! position in the epoch's data order), the losses not logged yet, the history of logs and
//! evaluations, and the settings a resumed run must share. The shells decide where the files go
//! (a folder on disk, the browser's private file system) and make the write atomic.

use serde::{Deserialize, Serialize};

use super::adamw::AdamW;
use super::event::Event;
use super::args::{Precision, TrainingArgs};
use super::precision::LossScale;
use crate::error::{Error, Result};
use crate::model::lora_config::LoraConfig;
use crate::model::weights::{Exporter, Vars, WeightFile, to_safetensors};
use crate::model::{BertConfig, SequenceClassifier};
use crate::pretrained::{ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, NamedBytes};

pub const MODEL_FILE: &str = "model.safetensors";
pub const EXP_AVG_FILE: &str = "exp_avg.safetensors";
pub const EXP_AVG_SQ_FILE: &str = "exp_avg_sq.safetensors";
pub const TRAINER_STATE_FILE: &str = "trainer_state.json";

/// Bumped when the files change meaning; an old checkpoint is then refused by name.
pub(crate) const FORMAT: u32 = 1;

/// What must be equal for a resumed run to continue the same run: these fix the data order and
/// the number of steps. The learning rate, decay and clipping may change (a run that diverged is
/// resumed with a lower rate); the schedule then continues from the checkpoint's step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    pub num_train_examples: usize,
    pub per_device_train_batch_size: usize,
    pub gradient_accumulation_steps: usize,
    pub seed: u64,
    pub total_steps: usize,
    /// Data-parallel devices (1: one device); with the per-device batch, the data order.
    #[serde(default = "one")]
    pub devices: usize,
    #[serde(default)]
    pub group_by_length: bool,
    #[serde(default)]
    pub precision: Precision,
    /// LoRA's rank: a LoRA run's checkpoint holds the adapter alone, a full run's the whole model.
    #[serde(default)]
    pub lora_r: Option<usize>,
}

fn one() -> usize {
    1
}

impl RunSettings {
    pub fn of(args: &TrainingArgs, num_train_examples: usize) -> Self {
        RunSettings {
            num_train_examples,
            per_device_train_batch_size: args.per_device_train_batch_size,
            gradient_accumulation_steps: args.gradient_accumulation_steps,
            seed: args.seed,
            total_steps: args.total_steps(num_train_examples),
            devices: args.replicas.len().max(1),
            group_by_length: args.group_by_length,
            precision: args.precision,
            lora_r: args.lora.as_ref().map(|l| l.r),
        }
    }

    /// Names the first setting of this run that differs from the checkpoint's (`path`).
    pub fn check_same_as(&self, saved: &RunSettings, path: &str) -> Result<()> {
        let (now, then) = (serde_json::to_value(self), serde_json::to_value(saved));
        let (Ok(serde_json::Value::Object(now)), Ok(serde_json::Value::Object(then))) = (now, then) else {
            return Ok(());
        };
        for (field, value) in &now {
            let old = then.get(field).unwrap_or(&serde_json::Value::Null);
            if old != value {
                return Err(Error::Config {
                    path: path.into(),
                    field: format!("settings.{field}"),
                    reason: format!(
                        "the checkpoint was trained with {old}, this run has {value}; resume with the same data and settings"
                    ),
                });
            }
        }
        Ok(())
    }
}

/// `trainer_state.json` (transformers keeps a file of the same name in its checkpoints).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainerState {
    pub format: u32,
    pub global_step: usize,
    pub samples: usize,
    /// Training time so far, without evaluation, pauses and checkpoint writing.
    pub train_runtime_s: f64,
    /// Losses of the steps since the last logged mean, oldest first.
    pub pending_losses: Vec<f32>,
    /// The `log` and `evaluated` events so far, replayed to the shell on resume.
    pub log_history: Vec<Event>,
    pub settings: RunSettings,
    /// `--fp16`'s loss scale at this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_scale: Option<LossScale>,
}

/// The files of one checkpoint, named as in a checkpoint folder.
pub struct Checkpoint {
    pub step: usize,
    pub files: Vec<(String, Vec<u8>)>,
}

/// With LoRA (`lora`), the weights are the adapter's files and the moments only the adapter's and
/// the head's: the frozen base model is the one the run started from.
pub(crate) async fn snapshot(
    model: &SequenceClassifier,
    optimizer: &AdamW,
    state: &TrainerState,
    lora: Option<&LoraConfig>,
) -> Result<Checkpoint> {
    let (exp_avg, exp_avg_sq) = optimizer.moments(model);
    let exporter = || match lora {
        None => Exporter::new(),
        Some(c) => Exporter::adapter(c),
    };
    let mut files = Vec::with_capacity(5);
    match lora {
        None => files.push((MODEL_FILE.to_string(), to_safetensors(&model.export_with(exporter()).await?)?)),
        Some(c) => {
            files.push((ADAPTER_WEIGHTS_FILE.to_string(), to_safetensors(&model.export_with(exporter()).await?)?));
            files.push((ADAPTER_CONFIG_FILE.to_string(), c.to_adapter_json().into_bytes()));
        }
    }
    files.push((EXP_AVG_FILE.to_string(), to_safetensors(&exp_avg.export_with(exporter()).await?)?));
    files.push((EXP_AVG_SQ_FILE.to_string(), to_safetensors(&exp_avg_sq.export_with(exporter()).await?)?));
    let json = serde_json::to_vec_pretty(state).map_err(|e| Error::Invalid(format!("{TRAINER_STATE_FILE}: {e}")))?;
    files.push((TRAINER_STATE_FILE.to_string(), json));
    Ok(Checkpoint { step: state.global_step, files })
}

/// A checkpoint read back: the state, and the optimizer's moments as model-shaped weights.
pub struct Resume {
    pub state: TrainerState,
    pub(crate) state_path: String,
    pub(crate) exp_avg: SequenceClassifier,
    pub(crate) exp_avg_sq: SequenceClassifier,
}

impl Resume {
    /// Reads a checkpoint's optimizer and trainer files for `config` (the model itself is loaded
    /// from the checkpoint's `model.safetensors` like any model). Every missing tensor, wrong shape
    /// or bad field is an error naming the file.
    pub fn load(
        config: &BertConfig,
        trainer_state: &NamedBytes,
        exp_avg: &NamedBytes,
        exp_avg_sq: &NamedBytes,
        device: &burn::tensor::Device,
    ) -> Result<Self> {
        Self::load_adapted(config, trainer_state, exp_avg, exp_avg_sq, device, None)
    }

    /// [`Self::load`] for a LoRA run (`lora`: its settings): the moment files hold the adapters' and
    /// the head's moments, under the adapter's names; the frozen tensors, which have none, are
    /// one-element stand-ins (`Vars::adapter_only`) that `AdamW::from_moments` passes over.
    pub fn load_adapted(
        config: &BertConfig,
        trainer_state: &NamedBytes,
        exp_avg: &NamedBytes,
        exp_avg_sq: &NamedBytes,
        device: &burn::tensor::Device,
        lora: Option<&LoraConfig>,
    ) -> Result<Self> {
        let state: TrainerState =
            serde_json::from_slice(&trainer_state.bytes).map_err(|e| Error::json(&trainer_state.name, e))?;
        if state.format != FORMAT {
            return Err(Error::Config {
                path: trainer_state.name.clone(),
                field: "format".into(),
                reason: format!("{} is not a format this version reads ({FORMAT})", state.format),
            });
        }
        let device = device.clone().without_autodiff();
        let moments = |file: &NamedBytes| -> Result<SequenceClassifier> {
            let weights = WeightFile::from_bytes(&file.bytes, &file.name)?;
            let mut vars = match lora {
                None => Vars::strict(weights, &device),
                Some(lora) => Vars::adapter_only(lora.clone(), weights, &device),
            };
            let moments = SequenceClassifier::load(&mut vars, config, &file.name)?;
            match vars.unused_adapter_tensors().first() {
                Some(extra) => Err(Error::Invalid(format!("{}: `{extra}` is no adapter or head tensor of this run", file.name))),
                None => Ok(moments),
            }
        };
        Ok(Resume {
            exp_avg: moments(exp_avg)?,
            exp_avg_sq: moments(exp_avg_sq)?,
            state_path: trainer_state.name.clone(),
            state,
        })
    }

    pub fn step(&self) -> usize {
        self.state.global_step
    }

    /// The optimizer as it was, for `model` (loaded from the same checkpoint).
    pub(crate) fn optimizer(&self, args: &TrainingArgs, model: &SequenceClassifier) -> Result<AdamW> {
        let skipped = self.state.loss_scale.as_ref().map_or(0, |s| s.skipped_steps);
        AdamW::from_moments(args.adamw.clone(), model, &self.exp_avg, &self.exp_avg_sq, self.state.global_step - skipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_setting_is_named() {
        let args = TrainingArgs::default();
        let saved = RunSettings::of(&args, 100);
        let now = RunSettings::of(&TrainingArgs { per_device_train_batch_size: 16, ..args.clone() }, 100);
        let err = now.check_same_as(&saved, "ck/trainer_state.json").unwrap_err().to_string();
        assert!(err.contains("ck/trainer_state.json") && err.contains("per_device_train_batch_size"), "{err}");
        assert!(RunSettings::of(&args, 100).check_same_as(&saved, "x").is_ok());
        let err = RunSettings::of(&args, 99).check_same_as(&saved, "x").unwrap_err().to_string();
        assert!(err.contains("num_train_examples"), "{err}");
        let fp16 = TrainingArgs { precision: Precision::F16, ..args.clone() };
        let err = RunSettings::of(&fp16, 100).check_same_as(&saved, "x").unwrap_err().to_string();
        assert!(err.contains("settings.precision") && err.contains("\"f16\""), "{err}");
        // a checkpoint of a version without mixed precision reads as f32
        let mut old = serde_json::to_value(&saved).unwrap();
        old.as_object_mut().unwrap().remove("precision");
        let old: RunSettings = serde_json::from_value(old).unwrap();
        assert_eq!(old.precision, Precision::F32);
    }
}

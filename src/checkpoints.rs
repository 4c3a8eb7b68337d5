//! Checkpoints on disk, as transformers' Trainer lays them out: `checkpoint-STEP/` folders in the
//! output folder, each a loadable model folder (weights, config, tokenizer) plus the optimizer's
//! moments and `trainer_state.json`.
//!
//! A folder is written under a temporary name, flushed, and renamed into place, so a run killed at
//! any moment leaves either the complete checkpoint or none (a leftover `.tmp-*` folder is never
//! read, and is cleared by the next write).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::tensor::Device;

use crate::error::{Error, Result};
use crate::model::BertConfig;
use crate::pretrained::{ADAPTER_CONFIG_FILE, Adapter, ModelFiles, NamedBytes};
use crate::train::checkpoint::{EXP_AVG_FILE, EXP_AVG_SQ_FILE, TRAINER_STATE_FILE};
use crate::train::{Checkpoint, Resume};

const PREFIX: &str = "checkpoint-";

/// Writes `checkpoint` (and `extra` files, e.g. config and tokenizer) as `output_dir/checkpoint-STEP`,
/// then keeps only the newest `keep` checkpoints if a limit is given. Returns the folder.
pub fn write(output_dir: &Path, checkpoint: &Checkpoint, extra: &[(String, Vec<u8>)], keep: Option<usize>) -> Result<PathBuf> {
    let dir = output_dir.join(format!("{PREFIX}{}", checkpoint.step));
    let tmp = output_dir.join(format!(".tmp-{PREFIX}{}", checkpoint.step));
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |e| Error::io(path, e)
    };
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let written = checkpoint.files.iter().chain(extra).try_for_each(|(name, bytes)| {
        let path = tmp.join(name);
        let mut file = File::create(&path).map_err(io(&path))?;
        file.write_all(bytes).map_err(io(&path))?;
        // The rename below must not reach the disk before the contents do.
        file.sync_all().map_err(io(&path))
    });
    if let Err(e) = written {
        // A disk that refused a file (full, or a size limit) gets its space back.
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if dir.exists() {
        // An older run's checkpoint of the same step (a run resumed from an earlier one).
        std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
    }
    std::fs::rename(&tmp, &dir).map_err(io(&dir))?;
    if let Ok(parent) = File::open(output_dir) {
        let _ = parent.sync_all();
    }
    if let Some(keep) = keep {
        let all = list(output_dir)?;
        for (_, old) in all.iter().take(all.len().saturating_sub(keep.max(1))) {
            std::fs::remove_dir_all(old).map_err(io(old))?;
        }
    }
    Ok(dir)
}

/// The checkpoint folders in `output_dir`, oldest (lowest step) first.
pub fn list(output_dir: &Path) -> Result<Vec<(usize, PathBuf)>> {
    let entries = match std::fs::read_dir(output_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(output_dir.display(), e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(output_dir.display(), e))?;
        let name = entry.file_name();
        if let Some(step) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)).and_then(|s| s.parse::<usize>().ok()) {
            if entry.path().is_dir() {
                found.push((step, entry.path()));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The newest checkpoint in `output_dir`, or an error saying there is none.
pub fn latest(output_dir: &Path) -> Result<PathBuf> {
    list(output_dir)?.pop().map(|(_, dir)| dir).ok_or_else(|| {
        Error::Invalid(format!("{}: no {PREFIX}STEP folder to resume from", output_dir.display()))
    })
}

/// A checkpoint folder as read from disk.
pub struct SavedCheckpoint {
    /// The weights, config and tokenizer: a model folder like any other (a LoRA run's: the model
    /// it started from, with the checkpoint's config and tokenizer).
    pub model: ModelFiles,
    /// A LoRA run's trained adapter.
    pub adapter: Option<Adapter>,
    trainer_state: NamedBytes,
    exp_avg: NamedBytes,
    exp_avg_sq: NamedBytes,
}

impl SavedCheckpoint {
    pub fn read(dir: &Path) -> Result<Self> {
        let read = |name: &str| -> Result<NamedBytes> {
            let path = dir.join(name);
            let bytes = std::fs::read(&path).map_err(|e| Error::io(path.display(), e))?;
            Ok(NamedBytes { name: path.display().to_string(), bytes })
        };
        // A LoRA run's checkpoint is an adapter folder over the model the run started from.
        let (model, adapter) = match Adapter::is_adapter_dir(dir) {
            false => (ModelFiles::from_dir(dir)?, None),
            true => {
                let adapter = Adapter::from_dir(dir)?;
                let base = adapter.config.base_model_name_or_path.clone().ok_or_else(|| Error::Config {
                    path: dir.join(ADAPTER_CONFIG_FILE).display().to_string(),
                    field: "base_model_name_or_path".into(),
                    reason: "missing: the checkpoint does not say which model its run started from".into(),
                })?;
                let mut files = ModelFiles::from_dir(&crate::source::resolve_model(&base)?)?;
                files.overlay_dir(dir)?;
                (files, Some(adapter))
            }
        };
        Ok(SavedCheckpoint {
            model,
            adapter,
            trainer_state: read(TRAINER_STATE_FILE)?,
            exp_avg: read(EXP_AVG_FILE)?,
            exp_avg_sq: read(EXP_AVG_SQ_FILE)?,
        })
    }

    /// The training state for a run with `config` (the task's config, as the run trains it).
    pub fn resume(&self, config: &BertConfig, device: &Device) -> Result<Resume> {
        let lora = self.adapter.as_ref().map(|a| &a.config);
        Resume::load_adapted(config, &self.trainer_state, &self.exp_avg, &self.exp_avg_sq, device, lora)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(step: usize) -> Checkpoint {
        Checkpoint { step, files: vec![("trainer_state.json".into(), b"{}".to_vec())] }
    }

    #[test]
    fn only_complete_folders_count_and_the_limit_keeps_the_newest() {
        let out = tempfile::tempdir().unwrap();
        for step in [30, 60, 90] {
            write(out.path(), &checkpoint(step), &[("config.json".into(), b"{}".to_vec())], Some(2)).unwrap();
        }
        let steps: Vec<usize> = list(out.path()).unwrap().into_iter().map(|(s, _)| s).collect();
        assert_eq!(steps, vec![60, 90]);
        assert!(out.path().join("checkpoint-90/config.json").exists());
        // A write killed half-way leaves a temporary folder, which is never taken for a checkpoint.
        std::fs::create_dir_all(out.path().join(".tmp-checkpoint-120")).unwrap();
        assert_eq!(latest(out.path()).unwrap(), out.path().join("checkpoint-90"));
        write(out.path(), &checkpoint(120), &[], None).unwrap();
        assert_eq!(latest(out.path()).unwrap(), out.path().join("checkpoint-120"));
        assert!(!out.path().join(".tmp-checkpoint-120").exists());
        let empty = tempfile::tempdir().unwrap();
        assert!(latest(empty.path()).unwrap_err().to_string().contains("no checkpoint-STEP folder"));
    }
}

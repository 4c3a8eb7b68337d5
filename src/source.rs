//! Where a model folder comes from natively: a local path, or a Hugging Face Hub id downloaded
//! once into the usual Hugging Face cache (`HF_HOME`). `HF_ENDPOINT` points at another hub (tests
//! serve one on localhost) and `HF_HUB_OFFLINE=1` uses the cache only, as in Python.

use std::path::{Path, PathBuf};

use hf_hub::api::sync::{ApiBuilder, ApiError};
use hf_hub::{Cache, Repo};

use crate::error::{Error, Result};

const REQUIRED: [&str; 2] = ["config.json", "model.safetensors"];
const OPTIONAL: [&str; 4] = ["tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"];

/// A folder holding the model's files: `model` itself when it is a folder, else the Hub cache
/// snapshot of the repository `model` names.
pub fn resolve_model(model: &str) -> Result<PathBuf> {
    let path = Path::new(model);
    if path.is_dir() {
        return Ok(path.to_path_buf());
    }
    if path.exists() || model.starts_with('.') || model.starts_with('/') || model.split('/').count() > 2 {
        return Err(Error::Invalid(format!("--model {model}: not a model folder nor a Hub id")));
    }
    let offline = std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "TRUE" | "ON"));
    let repo = || Repo::model(model.to_string());
    let api = if offline {
        None
    } else {
        Some(
            ApiBuilder::from_env()
                .with_progress(true)
                .build()
                .map_err(|e| Error::Invalid(format!("Hugging Face Hub: {e}")))?,
        )
    };
    let fetch = |name: &str| -> Result<Option<PathBuf>> {
        let Some(api) = &api else {
            return Ok(Cache::from_env().repo(repo()).get(name));
        };
        match api.repo(repo()).get(name) {
            Ok(p) => Ok(Some(p)),
            Err(ApiError::RequestError(e)) if matches!(*e, ureq::Error::Status(404, _)) => Ok(None),
            Err(e) => Err(Error::Invalid(format!("downloading {name} of `{model}` from the Hub: {e}"))),
        }
    };
    let mut folder = None;
    for name in REQUIRED {
        let file = fetch(name)?.ok_or_else(|| {
            Error::Invalid(if offline {
                format!("`{model}`: {name} is not in the Hugging Face cache and HF_HUB_OFFLINE is set")
            } else {
                format!("`{model}` on the Hub has no {name}")
            })
        })?;
        folder = file.parent().map(Path::to_path_buf);
    }
    for name in OPTIONAL {
        fetch(name)?;
    }
    folder.ok_or_else(|| Error::Invalid(format!("`{model}`: no files")))
}

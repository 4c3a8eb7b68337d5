//! A model folder in Hugging Face's layout — `config.json`, `model.safetensors`, `tokenizer.json`
//! or `vocab.txt` — as bytes, whichever way they arrived (disk, Hub, browser upload), and the
//! same layout written back out after fine-tuning.

use burn::tensor::Device;

use crate::data::{Task, TextTokenizer, gives_token_types};
use crate::error::{Error, Result};
use crate::model::lora_config::LoraConfig;
use crate::model::weights::{Exporter, WeightFile, Vars, to_safetensors};
use crate::model::{BertConfig, SequenceClassifier};

/// A file's name (for messages) and contents.
#[derive(Clone)]
pub struct NamedBytes {
    pub name: String,
    pub bytes: Vec<u8>,
}

#[derive(Clone)]
pub struct ModelFiles {
    pub config: NamedBytes,
    pub weights: NamedBytes,
    pub tokenizer_json: Option<NamedBytes>,
    pub vocab_txt: Option<NamedBytes>,
    pub tokenizer_config: Option<NamedBytes>,
    pub special_tokens_map: Option<NamedBytes>,
}

/// Files a fine-tuned model folder carries over unchanged from the model it started from.
const TOKENIZER_FILES: [&str; 4] = ["tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"];

impl ModelFiles {
    /// Reads a folder; `config.json` and `model.safetensors` are required, and one of
    /// `tokenizer.json` / `vocab.txt`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_dir(dir: &std::path::Path) -> Result<Self> {
        let read = |name: &str| read_if_there(dir, name);
        let require = |name: &str| read_required(dir, name);
        let files = Self {
            config: require("config.json")?,
            weights: require("model.safetensors")?,
            tokenizer_json: read("tokenizer.json")?,
            vocab_txt: read("vocab.txt")?,
            tokenizer_config: read("tokenizer_config.json")?,
            special_tokens_map: read("special_tokens_map.json")?,
        };
        if files.tokenizer_json.is_none() && files.vocab_txt.is_none() {
            return Err(Error::Tokenizer {
                path: dir.display().to_string(),
                reason: "neither tokenizer.json nor vocab.txt is in the folder".into(),
            });
        }
        Ok(files)
    }

    /// Takes config.json and the tokenizer files from `dir` where it has them (an adapter folder
    /// over its base model).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn overlay_dir(&mut self, dir: &std::path::Path) -> Result<()> {
        let read = |name: &str| read_if_there(dir, name);
        if let Some(config) = read("config.json")? {
            self.config = config;
        }
        for (name, slot) in TOKENIZER_FILES.iter().zip([
            &mut self.tokenizer_json,
            &mut self.vocab_txt,
            &mut self.tokenizer_config,
            &mut self.special_tokens_map,
        ]) {
            if let Some(file) = read(name)? {
                *slot = Some(file);
            }
        }
        Ok(())
    }

    pub fn config(&self) -> Result<BertConfig> {
        BertConfig::from_json(&self.config.bytes, &self.config.name)
    }

    pub fn tokenizer(&self, config: &BertConfig) -> Result<TextTokenizer> {
        let tc = self.tokenizer_config.as_ref().map(|f| f.bytes.as_slice());
        let tokenizer = match (&self.tokenizer_json, &self.vocab_txt) {
            (Some(t), _) => TextTokenizer::from_tokenizer_json(&t.bytes, &t.name, tc, config.max_tokens()),
            (None, Some(v)) => TextTokenizer::from_vocab_txt(&v.bytes, &v.name, tc, config.max_tokens()),
            (None, None) => Err(Error::Tokenizer {
                path: self.config.name.clone(),
                reason: "the model has neither tokenizer.json nor vocab.txt".into(),
            }),
        }?;
        Ok(tokenizer.with_token_types(gives_token_types(tc, config.model_type.tokenizer_class())))
    }

    /// Builds the classifier. A checkpoint without a classification head (a pretrained encoder)
    /// gets a fresh one, drawn with `seed`; their names come back as the second value.
    pub fn load_model(
        &self,
        config: &BertConfig,
        device: &Device,
        seed: u64,
    ) -> Result<(SequenceClassifier, Vec<String>)> {
        self.load_adapted(config, device, seed, None)
    }

    /// [`Self::load_model`] with LoRA adapters (`adapter`: a fresh one to train, or a trained one).
    pub fn load_adapted(
        &self,
        config: &BertConfig,
        device: &Device,
        seed: u64,
        adapter: Option<&Adapter>,
    ) -> Result<(SequenceClassifier, Vec<String>)> {
        let checkpoint = WeightFile::from_bytes(&self.weights.bytes, &self.weights.name)?;
        let mut vars = Vars::from_file(checkpoint, seed, config.initializer_range, device);
        if let Some(adapter) = adapter {
            let weights = match &adapter.weights {
                Some(file) => Some(WeightFile::from_bytes(&file.bytes, &file.name)?),
                None => None,
            };
            vars = vars.with_lora(adapter.config.clone(), weights);
        }
        let model = SequenceClassifier::load(&mut vars, config, &self.config.name)?;
        if let Some(adapter) = adapter {
            if vars.adapted() == 0 {
                return Err(Error::Invalid(format!(
                    "LoRA target modules `{}` match no linear layer of this {} model (its names end in {})",
                    adapter.config.target_modules.to_string_list(),
                    config.model_type.model_type(),
                    config.model_type.linear_names().join(", ")
                )));
            }
        }
        if let Some(file) = adapter.and_then(|a| a.weights.as_ref()) {
            let unused = vars.unused_adapter_tensors();
            if !unused.is_empty() {
                return Err(Error::Invalid(format!(
                    "{}: {} tensors match no module of this model or no target of its adapter_config.json, e.g. `{}`",
                    file.name,
                    unused.len(),
                    unused[0]
                )));
            }
        }
        Ok((model, vars.initialized().to_vec()))
    }
}

/// A LoRA adapter as peft keeps it in a folder: `adapter_config.json` and, once trained,
/// `adapter_model.safetensors`.
#[derive(Clone)]
pub struct Adapter {
    pub config: LoraConfig,
    pub weights: Option<NamedBytes>,
}

pub const ADAPTER_CONFIG_FILE: &str = "adapter_config.json";
pub const ADAPTER_WEIGHTS_FILE: &str = "adapter_model.safetensors";

impl Adapter {
    /// Reads an adapter folder's two files.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_dir(dir: &std::path::Path) -> Result<Self> {
        let read = |name: &str| read_required(dir, name);
        let config = read(ADAPTER_CONFIG_FILE)?;
        Ok(Self {
            config: LoraConfig::from_adapter_json(&config.bytes, &config.name)?,
            weights: Some(read(ADAPTER_WEIGHTS_FILE)?),
        })
    }

    /// Whether `dir` holds an adapter rather than a whole model.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn is_adapter_dir(dir: &std::path::Path) -> bool {
        dir.join(ADAPTER_CONFIG_FILE).is_file()
    }
}

/// A file of `dir`, or `None` where it has none.
#[cfg(not(target_arch = "wasm32"))]
fn read_if_there(dir: &std::path::Path, name: &str) -> Result<Option<NamedBytes>> {
    let path = dir.join(name);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(NamedBytes { name: path.display().to_string(), bytes })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path.display(), e)),
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn read_required(dir: &std::path::Path, name: &str) -> Result<NamedBytes> {
    read_if_there(dir, name)?.ok_or_else(|| {
        Error::io(dir.join(name).display(), std::io::Error::new(std::io::ErrorKind::NotFound, "file not found"))
    })
}

/// The config a model is fine-tuned with: the checkpoint's, with the task's labels.
pub fn task_config(config: &BertConfig, task: Task) -> BertConfig {
    config.clone().with_labels(task.labels())
}

/// The files of a fine-tuned model folder (name, contents), loadable by transformers'
/// `AutoModelForSequenceClassification.from_pretrained` and by this crate.
pub async fn save_pretrained(
    model: &SequenceClassifier,
    config: &BertConfig,
    base: &ModelFiles,
) -> Result<Vec<(String, Vec<u8>)>> {
    let tensors = model.export().await?;
    let mut files = vec![("model.safetensors".to_string(), to_safetensors(&tensors)?)];
    files.extend(folder_files(config, base));
    Ok(files)
}

/// The files of a trained adapter's folder: peft's `adapter_model.safetensors` (the adapters and
/// the task head) and `adapter_config.json`, which `PeftModel.from_pretrained` loads, plus the task's
/// config.json (its labels) and the tokenizer, so the folder also serves `webtune predict`.
pub async fn save_adapter(
    model: &SequenceClassifier,
    lora: &LoraConfig,
    config: &BertConfig,
    base: &ModelFiles,
) -> Result<Vec<(String, Vec<u8>)>> {
    let tensors = model.export_with(Exporter::adapter(lora)).await?;
    let mut files = vec![
        (ADAPTER_WEIGHTS_FILE.to_string(), to_safetensors(&tensors)?),
        (ADAPTER_CONFIG_FILE.to_string(), lora.to_adapter_json().into_bytes()),
    ];
    files.extend(folder_files(config, base));
    Ok(files)
}

/// The files of a model folder besides the weights: `config` as config.json, and the tokenizer
/// files of `base`.
pub fn folder_files(config: &BertConfig, base: &ModelFiles) -> Vec<(String, Vec<u8>)> {
    let mut files = vec![("config.json".to_string(), config.to_pretrained_json(Some(&base.config.bytes)).into_bytes())];
    for (name, file) in TOKENIZER_FILES.iter().zip([
        &base.tokenizer_json,
        &base.vocab_txt,
        &base.tokenizer_config,
        &base.special_tokens_map,
    ]) {
        if let Some(f) = file {
            files.push((name.to_string(), f.bytes.clone()));
        }
    }
    files
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn a_folder_needs_config_weights_and_a_tokenizer() {
        let dir = tempfile::tempdir().unwrap();
        let err = ModelFiles::from_dir(dir.path()).err().unwrap().to_string();
        assert!(err.contains("config.json") && err.contains("file not found"), "{err}");
        std::fs::write(dir.path().join("config.json"), "{}").unwrap();
        std::fs::write(dir.path().join("model.safetensors"), "").unwrap();
        let err = ModelFiles::from_dir(dir.path()).err().unwrap().to_string();
        assert!(err.contains("neither tokenizer.json nor vocab.txt"), "{err}");
    }
}

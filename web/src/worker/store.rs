//! The run's checkpoints in the browser's origin private file system (OPFS), so that a reload, a
//! closed tab or a lost GPU costs at most the steps since the last checkpoint.
//!
//! Layout under `webtune-run/`: `run.json` (the request and the data files' names), `model/` (the
//! base model's config and tokenizer; a LoRA run's also its frozen weights, which its checkpoints
//! do not hold), `data/` (the training and validation files as they arrived),
//! and `checkpoint-STEP/` folders. A checkpoint counts once its `complete` marker exists, and the
//! marker is written after every other file of it is closed: a tab killed mid-write leaves the
//! previous checkpoint as the one to resume. One run is kept; a new run's first checkpoint
//! replaces it, and a run that finishes removes it.
//!
//! One tab at a time owns the saved run: the one whose run holds the Web Lock `webtune-saved-run`
//! (`navigator.locks`, released by the browser when that tab goes away). A run in another tab trains
//! without checkpoints and leaves the saved run alone.
//!
//! The File System API is called through `Reflect` (web-sys's bindings of it need unstable cfg
//! flags, and new web-sys features would rebuild burn's whole wasm tree).

use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use serde::{Deserialize, Serialize};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use webtune::model::lora_config::LoraConfig;
use webtune::pretrained::{ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, Adapter, ModelFiles, NamedBytes};
use webtune::train::checkpoint::{
    EXP_AVG_FILE, EXP_AVG_SQ_FILE, MODEL_FILE, RunSettings, TRAINER_STATE_FILE, TrainerState,
};
use webtune::train::Checkpoint;

use crate::protocol::{RunRequest, SavedSummary};

const ROOT: &str = "webtune-run";
const RUN: &str = "run.json";
const COMPLETE: &str = "complete";
const PREFIX: &str = "checkpoint-";

/// `run.json`: what a resumed run needs besides the files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedRun {
    pub request: RunRequest,
    /// Under `model/`: config.json and the tokenizer files (the weights are the checkpoint's), and
    /// a LoRA run's base weights (`model.safetensors`; its checkpoints hold the adapter).
    pub model_files: Vec<String>,
    /// Under `data/`, as they arrived (a `.parquet` name is read as the Hub's parquet).
    pub train_file: String,
    pub validation_file: String,
    /// MNLI's mismatched validation set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mismatched_file: Option<String>,
}

/// Everything a resumed run reads back.
pub struct Loaded {
    pub run: SavedRun,
    pub model: ModelFiles,
    pub train: NamedBytes,
    pub validation: NamedBytes,
    pub mismatched: Option<NamedBytes>,
    /// trainer_state.json, exp_avg.safetensors, exp_avg_sq.safetensors
    pub state: [NamedBytes; 3],
    /// A LoRA run's adapter at the checkpoint (`model`'s weights are then the base model's).
    pub adapter: Option<Adapter>,
}

fn js_text(e: &JsValue) -> String {
    let name = Reflect::get(e, &"name".into()).ok().and_then(|n| n.as_string());
    let message = Reflect::get(e, &"message".into()).ok().and_then(|m| m.as_string());
    match (name, message, e.as_string()) {
        (Some(n), Some(m), _) => format!("{n}: {m}"),
        (_, _, Some(s)) => s,
        _ => format!("{e:?}"),
    }
}

fn is_not_found(e: &JsValue) -> bool {
    Reflect::get(e, &"name".into()).ok().and_then(|n| n.as_string()).as_deref() == Some("NotFoundError")
}

/// `target.method(...args)`, awaited when it returns a promise.
async fn call(target: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: Function = Reflect::get(target, &method.into())?
        .dyn_into()
        .map_err(|_| JsValue::from(format!("{method} is not supported by this browser")))?;
    let result = f.apply(target, &args.iter().collect::<Array>())?;
    match result.dyn_into::<Promise>() {
        Ok(p) => JsFuture::from(p).await,
        Err(value) => Ok(value),
    }
}

fn flag(key: &str, value: bool) -> JsValue {
    let o = Object::new();
    let _ = Reflect::set(&o, &key.into(), &value.into());
    o.into()
}

async fn opfs() -> Result<JsValue, JsValue> {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into())?;
    let storage = Reflect::get(&navigator, &"storage".into())?;
    if storage.is_undefined() {
        return Err("this browser has no origin private file system (navigator.storage)".into());
    }
    call(&storage, "getDirectory", &[]).await
}

async fn dir(parent: &JsValue, name: &str, create: bool) -> Result<JsValue, JsValue> {
    call(parent, "getDirectoryHandle", &[name.into(), flag("create", create)]).await
}

async fn write(dir: &JsValue, name: &str, bytes: &[u8]) -> Result<(), JsValue> {
    let file = call(dir, "getFileHandle", &[name.into(), flag("create", true)]).await?;
    let writable = call(&file, "createWritable", &[]).await?;
    // A copy in JS memory: a view on wasm memory could move while the write is pending.
    call(&writable, "write", &[Uint8Array::from(bytes).into()]).await?;
    call(&writable, "close", &[]).await?;
    Ok(())
}

async fn read(dir: &JsValue, name: &str) -> Result<Vec<u8>, JsValue> {
    let file = call(dir, "getFileHandle", &[name.into()]).await?;
    let blob = call(&file, "getFile", &[]).await?;
    let buffer = call(&blob, "arrayBuffer", &[]).await?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

async fn remove(dir: &JsValue, name: &str) -> Result<(), JsValue> {
    match call(dir, "removeEntry", &[name.into(), flag("recursive", true)]).await {
        Err(e) if !is_not_found(&e) => Err(e),
        _ => Ok(()),
    }
}

async fn names(dir: &JsValue) -> Result<Vec<String>, JsValue> {
    let iterator = call(dir, "keys", &[]).await?;
    let mut out = Vec::new();
    loop {
        let next = call(&iterator, "next", &[]).await?;
        if Reflect::get(&next, &"done".into())?.is_truthy() {
            return Ok(out);
        }
        if let Some(name) = Reflect::get(&next, &"value".into())?.as_string() {
            out.push(name);
        }
    }
}

/// The complete checkpoints in the run folder, oldest first.
async fn checkpoints(run: &JsValue) -> Result<Vec<usize>, JsValue> {
    let mut steps = Vec::new();
    for name in names(run).await? {
        let Some(step) = name.strip_prefix(PREFIX).and_then(|s| s.parse::<usize>().ok()) else { continue };
        let folder = dir(run, &name, false).await?;
        match call(&folder, "getFileHandle", &[COMPLETE.into()]).await {
            Ok(_) => steps.push(step),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e),
        }
    }
    steps.sort();
    Ok(steps)
}

/// The run folder, its `run.json` and its newest complete checkpoint; `None` without either.
async fn newest() -> Result<Option<(JsValue, SavedRun, usize)>, JsValue> {
    let run = match dir(&opfs().await?, ROOT, false).await {
        Ok(d) => d,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(&step) = checkpoints(&run).await?.last() else { return Ok(None) };
    let saved: SavedRun =
        serde_json::from_slice(&read(&run, RUN).await?).map_err(|e| JsValue::from(format!("{ROOT}/{RUN}: {e}")))?;
    Ok(Some((run, saved, step)))
}

/// The saved run, if there is one with a complete checkpoint: what the page offers to resume.
pub async fn saved() -> Result<Option<SavedSummary>, String> {
    let inner = async {
        let Some((run, saved, step)) = newest().await? else { return Ok(None) };
        let folder = dir(&run, &format!("{PREFIX}{step}"), false).await?;
        let state: TrainerState = serde_json::from_slice(&read(&folder, TRAINER_STATE_FILE).await?)
            .map_err(|e| JsValue::from(format!("{ROOT}/{PREFIX}{step}/{TRAINER_STATE_FILE}: {e}")))?;
        let settings: RunSettings = state.settings;
        Ok::<_, JsValue>(Some(SavedSummary {
            step,
            total_steps: settings.total_steps,
            model: saved.request.model.describe(),
            data: saved.request.data.describe(),
            task: saved.request.task.clone(),
            lora_r: saved.request.lora_r,
        }))
    };
    inner.await.map_err(|e| format!("the saved run could not be read: {}", js_text(&e)))
}

/// Reads the saved run back for resuming.
pub async fn load() -> Result<Loaded, String> {
    let inner = async {
        let (run, saved, step) = newest().await?.ok_or_else(|| JsValue::from("there is no saved run with a checkpoint"))?;
        let named = |folder: &str, name: &str, bytes: Vec<u8>| NamedBytes { name: format!("{ROOT}/{folder}/{name}"), bytes };
        let model_dir = dir(&run, "model", false).await?;
        let mut model: Vec<NamedBytes> = Vec::new();
        for name in &saved.model_files {
            model.push(named("model", name, read(&model_dir, name).await?));
        }
        // Taken out rather than copied: a base model's weights are hundreds of MB.
        let mut take = |name: &str| {
            let at = model.iter().position(|f| f.name.ends_with(&format!("/{name}")))?;
            Some(model.swap_remove(at))
        };
        let folder_name = format!("{PREFIX}{step}");
        let ckpt = dir(&run, &folder_name, false).await?;
        let (weights, adapter) = match take(MODEL_FILE) {
            None => (named(&folder_name, MODEL_FILE, read(&ckpt, MODEL_FILE).await?), None),
            Some(base) => {
                let config = named(&folder_name, ADAPTER_CONFIG_FILE, read(&ckpt, ADAPTER_CONFIG_FILE).await?);
                let config = LoraConfig::from_adapter_json(&config.bytes, &config.name)
                    .map_err(|e| JsValue::from(e.to_string()))?;
                let weights = named(&folder_name, ADAPTER_WEIGHTS_FILE, read(&ckpt, ADAPTER_WEIGHTS_FILE).await?);
                (base, Some(Adapter { config, weights: Some(weights) }))
            }
        };
        let files = ModelFiles {
            config: take("config.json").ok_or_else(|| JsValue::from("model/config.json is missing"))?,
            weights,
            tokenizer_json: take("tokenizer.json"),
            vocab_txt: take("vocab.txt"),
            tokenizer_config: take("tokenizer_config.json"),
            special_tokens_map: take("special_tokens_map.json"),
        };
        let data = dir(&run, "data", false).await?;
        let train = named("data", &saved.train_file, read(&data, &saved.train_file).await?);
        let validation = named("data", &saved.validation_file, read(&data, &saved.validation_file).await?);
        let mismatched = match &saved.mismatched_file {
            Some(file) => Some(named("data", file, read(&data, file).await?)),
            None => None,
        };
        let mut state = Vec::new();
        for name in [TRAINER_STATE_FILE, EXP_AVG_FILE, EXP_AVG_SQ_FILE] {
            state.push(named(&folder_name, name, read(&ckpt, name).await?));
        }
        let state: [NamedBytes; 3] = state.try_into().map_err(|_| JsValue::from("three state files"))?;
        Ok::<_, JsValue>(Loaded { run: saved, model: files, train, validation, mismatched, state, adapter })
    };
    inner.await.map_err(|e| format!("the saved run could not be read: {}", js_text(&e)))
}

/// Forgets the saved run.
pub async fn clear() -> Result<(), String> {
    let inner = async { remove(&opfs().await?, ROOT).await };
    inner.await.map_err(|e| format!("the saved run could not be removed: {}", js_text(&e)))
}

/// Writes a run's checkpoints. A new run writes its files with its first checkpoint (replacing
/// the saved run then, not before: a run that fails early leaves the old one resumable).
pub struct Writer<'a> {
    run: Option<JsValue>,
    /// What a new run writes first; `None` for a resumed run, whose files are there.
    first: Option<(SavedRun, ModelFiles, Vec<NamedBytes>)>,
    /// A new LoRA run's base weights, written with its first checkpoint (borrowed: the run keeps
    /// them in memory anyway).
    base: Option<&'a NamedBytes>,
}

impl<'a> Writer<'a> {
    /// `base`: a LoRA run's frozen weights.
    pub fn new_run(
        request: &RunRequest,
        model: &ModelFiles,
        base: Option<&'a NamedBytes>,
        train: &NamedBytes,
        validation: &NamedBytes,
        mismatched: Option<&NamedBytes>,
    ) -> Self {
        let file_name = |f: &NamedBytes| f.name.rsplit('/').next().unwrap_or(&f.name).to_string();
        let saved = SavedRun {
            request: request.clone(),
            model_files: Vec::new(),
            train_file: file_name(train),
            validation_file: file_name(validation),
            mismatched_file: mismatched.map(file_name),
        };
        // Only the small files: the weights a checkpoint holds are its own, and a copy of the base
        // model's would double the worker's memory for the run's length.
        let small = ModelFiles {
            config: model.config.clone(),
            weights: NamedBytes { name: model.weights.name.clone(), bytes: Vec::new() },
            tokenizer_json: model.tokenizer_json.clone(),
            vocab_txt: model.vocab_txt.clone(),
            tokenizer_config: model.tokenizer_config.clone(),
            special_tokens_map: model.special_tokens_map.clone(),
        };
        let data = [Some(train), Some(validation), mismatched].into_iter().flatten().cloned().collect();
        Writer { run: None, first: Some((saved, small, data)), base }
    }

    pub fn resumed() -> Self {
        Writer { run: None, first: None, base: None }
    }

    /// A failure names the step, the browser's reason, and the space a checkpoint needs against what
    /// the browser allows this page; the run goes on (its previous checkpoint stays).
    pub async fn save(&mut self, checkpoint: &Checkpoint) -> Result<(), String> {
        match self.save_inner(checkpoint).await {
            Ok(()) => Ok(()),
            Err(e) => {
                // The half-written folder would only hold space the next checkpoint needs.
                if let Some(run) = &self.run {
                    let _ = remove(run, &format!("{PREFIX}{}", checkpoint.step)).await;
                }
                // A LoRA run's first checkpoint also writes the base weights.
                let first = self.base.map_or(0, |b| b.bytes.len());
                let needs: usize = checkpoint.files.iter().map(|(_, b)| b.len()).sum::<usize>() + first;
                Err(format!(
                    "the checkpoint at step {} could not be saved in the browser: {}; a checkpoint needs about {}{}",
                    checkpoint.step,
                    js_text(&e),
                    megabytes(needs as f64),
                    space().await.unwrap_or_default()
                ))
            }
        }
    }

    async fn save_inner(&mut self, checkpoint: &Checkpoint) -> Result<(), JsValue> {
        if self.run.is_none() {
            let root = opfs().await?;
            // Taken only once written: after a failure the next checkpoint writes them again.
            if let Some((saved, model, data_files)) = &self.first {
                let mut saved = saved.clone();
                remove(&root, ROOT).await?;
                let run = dir(&root, ROOT, true).await?;
                let model_dir = dir(&run, "model", true).await?;
                let named = [
                    ("config.json", Some(&model.config)),
                    ("tokenizer.json", model.tokenizer_json.as_ref()),
                    ("vocab.txt", model.vocab_txt.as_ref()),
                    ("tokenizer_config.json", model.tokenizer_config.as_ref()),
                    ("special_tokens_map.json", model.special_tokens_map.as_ref()),
                ];
                for (name, file) in named.into_iter().chain([(MODEL_FILE, self.base)]) {
                    if let Some(f) = file {
                        write(&model_dir, name, &f.bytes).await?;
                        saved.model_files.push(name.to_string());
                    }
                }
                let data = dir(&run, "data", true).await?;
                let names = [Some(&saved.train_file), Some(&saved.validation_file), saved.mismatched_file.as_ref()];
                for (name, file) in names.into_iter().flatten().zip(data_files) {
                    write(&data, name, &file.bytes).await?;
                }
                let json = serde_json::to_vec(&saved).map_err(|e| JsValue::from(e.to_string()))?;
                write(&run, RUN, &json).await?;
                self.run = Some(run);
                self.first = None;
                self.base = None;
            } else {
                self.run = Some(dir(&root, ROOT, true).await?);
            }
        }
        let run = self.run.as_ref().expect("opened above");
        let name = format!("{PREFIX}{}", checkpoint.step);
        remove(run, &name).await?;
        let folder = dir(run, &name, true).await?;
        for (file, bytes) in &checkpoint.files {
            write(&folder, file, bytes).await?;
        }
        write(&folder, COMPLETE, b"").await?;
        // Older checkpoints (and any half-written one) go only once this one is complete.
        for other in names(run).await? {
            if other.starts_with(PREFIX) && other != name {
                remove(run, &other).await?;
            }
        }
        Ok(())
    }
}

fn megabytes(bytes: f64) -> String {
    if bytes < 1e6 { format!("{:.0} kB", bytes / 1e3) } else { format!("{:.1} MB", bytes / 1e6) }
}

/// "; this browser lets the page store 2.1 MB and 1.9 MB of it is used", from
/// `navigator.storage.estimate()` (what the quota allows, not the disk's free space).
async fn space() -> Option<String> {
    let storage = Reflect::get(&js_sys::global(), &"navigator".into()).and_then(|n| Reflect::get(&n, &"storage".into())).ok()?;
    let estimate = call(&storage, "estimate", &[]).await.ok()?;
    let number = |key: &str| Reflect::get(&estimate, &key.into()).ok().and_then(|v| v.as_f64());
    let (quota, usage) = (number("quota")?, number("usage")?);
    Some(format!("; this browser lets the page store {} and {} of it is used", megabytes(quota), megabytes(usage)))
}

const LOCK: &str = "webtune-saved-run";

/// The saved run's Web Lock, held until dropped.
pub struct RunLock {
    release: Option<Function>,
}

impl Drop for RunLock {
    fn drop(&mut self) {
        if let Some(release) = &self.release {
            let _ = release.call0(&JsValue::NULL);
        }
    }
}

/// The saved run's lock, unless another tab holds it. A browser without Web Locks has one owner.
pub async fn lock() -> Option<RunLock> {
    let locks = Reflect::get(&js_sys::global(), &"navigator".into())
        .and_then(|n| Reflect::get(&n, &"locks".into()))
        .ok()
        .filter(|l| !l.is_undefined());
    let Some(locks) = locks else { return Some(RunLock { release: None }) };
    let request: Function = Reflect::get(&locks, &"request".into()).ok()?.dyn_into().ok()?;
    // `request(name, {ifAvailable: true}, callback)` calls back with the lock (or null when another
    // tab holds it) and holds it until the promise the callback returns settles: `granted` hands out
    // that promise's resolver, which `RunLock` calls when dropped.
    let granted = Promise::new(&mut |resolve: Function, _reject: Function| {
        let callback = Closure::once_into_js(move |lock: JsValue| -> JsValue {
            if lock.is_null() {
                let _ = resolve.call1(&JsValue::NULL, &JsValue::NULL);
                return JsValue::NULL;
            }
            Promise::new(&mut |release: Function, _| {
                let _ = resolve.call1(&JsValue::NULL, &release);
            })
            .into()
        });
        let _ = request.call3(&locks, &LOCK.into(), &flag("ifAvailable", true), &callback);
    });
    let release = JsFuture::from(granted).await.ok()?.dyn_into::<Function>().ok()?;
    Some(RunLock { release: Some(release) })
}

/// Why a tab without the lock leaves the saved run alone.
pub const ANOTHER_TAB: &str = "a run is going on in another tab of this page, and the run saved in this browser is its own";

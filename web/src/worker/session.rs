//! One run in the worker: model and data bytes → tokens → the core's training loop on WebGPU,
//! reporting every event to the page; then the fine-tuned model, kept for "Try it" and "Download".

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;

use burn::module::Module;
use burn::tensor::Device;
use gloo_timers::future::TimeoutFuture;
use webtune::data::{Example, Split, Task, TextTokenizer};
use webtune::device::Backend;
use webtune::model::lora_config::LoraConfig;
use webtune::model::{BertConfig, Family, SequenceClassifier};
use webtune::bench::BenchReport;
use webtune::model::dropout;
use webtune::model::weights::WeightFile;
use webtune::parity::{Golden, ParityReport};
use webtune::predict::{Prediction, predict};
use webtune::pretrained::{Adapter, ModelFiles, NamedBytes, save_adapter, save_pretrained, task_config};
use webtune::train::{Checkpoint, Control, Event, Flow, Resume, TaskData, TrainingArgs, train_with_control};

use super::fetch::{FetchError, Keep, fetch};
use super::{Controls, gpu, post, store};
use crate::bridge::Files;
use crate::protocol::{BenchRequest, FromWorker, RunRequest, Source};

/// A fine-tuned model, ready to classify and to export.
pub struct Trained {
    model: SequenceClassifier,
    config: BertConfig,
    tokenizer: TextTokenizer,
    files: ModelFiles,
    device: Device,
    /// A LoRA run's adapter settings.
    lora: Option<LoraConfig>,
}

impl Trained {
    pub async fn predict(&self, text_a: &str, text_b: Option<&str>) -> webtune::Result<Prediction> {
        predict(&self.model, &self.config, &self.tokenizer, text_a, text_b, &self.device).await
    }

    /// A LoRA run's adapter folder, or (`merged`, and every full fine-tune) a whole model folder:
    /// exporting the model merges its adapters into the weights.
    pub async fn export(&self, merged: bool) -> webtune::Result<Files> {
        match (&self.lora, merged) {
            (Some(lora), false) => save_adapter(&self.model, lora, &self.config, &self.files).await,
            _ => save_pretrained(&self.model, &self.config, &self.files).await,
        }
    }
}

/// The LoRA a new run trains (`lora_r`) on a model of `family`, with peft's other defaults. The
/// adapter names its base model as peft and `webtune predict` look for it: the Hub id, or the URL.
fn new_lora(request: &RunRequest, family: Family) -> Option<Adapter> {
    let r = request.lora_r?;
    let config = LoraConfig {
        base_model_name_or_path: match &request.model {
            Source::Hub(id) | Source::Url(id) => Some(id.clone()),
            // Picked files have no name another program could find them by.
            Source::Files => None,
        },
        ..LoraConfig::new(r, family)
    };
    Some(Adapter { config, weights: None })
}

fn stage(text: &str) {
    post(&FromWorker::Stage(text.into()), &Vec::new());
}

/// A picked file, or the file at the source's URL; `Ok(None)` when an optional one is absent.
async fn get_file(
    hub: &str,
    source: &Source,
    picked: &Files,
    prefix: &str,
    name: &str,
    dataset_dir: Option<&str>,
    keep: Keep,
) -> Result<Option<NamedBytes>, String> {
    match source.file_url(hub, name, dataset_dir) {
        None => Ok(picked
            .iter()
            .find(|(n, _)| n.strip_prefix(prefix) == Some(name))
            .map(|(_, bytes)| NamedBytes { name: name.to_string(), bytes: bytes.clone() })),
        Some(url) => match fetch(&url, name, keep).await {
            Ok(bytes) => Ok(Some(NamedBytes { name: url, bytes })),
            Err(FetchError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into_message()),
        },
    }
}

fn missing(source: &Source, what: &str) -> String {
    match source {
        Source::Files => format!("{what} is not among the picked files"),
        Source::Hub(id) => format!("{what} is not in the Hub repository `{id}`"),
        Source::Url(base) => format!("{base}/{what}: not found (HTTP 404)"),
    }
}

async fn model_files(hub: &str, source: &Source, picked: &Files) -> Result<ModelFiles, String> {
    let get = |name: &'static str, keep: Keep| get_file(hub, source, picked, "model/", name, None, keep);
    let config = get("config.json", Keep::Fallback).await?.ok_or_else(|| missing(source, "config.json"))?;
    let tokenizer_json = get("tokenizer.json", Keep::Fallback).await?;
    let vocab_txt = match tokenizer_json {
        Some(_) => None,
        None => get("vocab.txt", Keep::Fallback).await?,
    };
    if tokenizer_json.is_none() && vocab_txt.is_none() {
        return Err(missing(source, "tokenizer.json (or vocab.txt)"));
    }
    let tokenizer_config = get("tokenizer_config.json", Keep::Fallback).await?;
    let weights = get("model.safetensors", Keep::First)
        .await?
        .ok_or_else(|| missing(source, "model.safetensors (PyTorch .bin checkpoints are not read)"))?;
    Ok(ModelFiles { config, weights, tokenizer_json, vocab_txt, tokenizer_config, special_tokens_map: None })
}

/// A split's file: the Hub's parquet file (`nyu-mll/glue`), or GLUE's TSV file at a URL or picked
/// (picked files may also be the Hub's parquet ones).
async fn split_file(task: Task, hub: &str, source: &Source, picked: &Files, split: Split) -> Result<NamedBytes, String> {
    let (tsv_name, parquet_name) = (task.file_name(split), task.hub_file(split));
    match source {
        Source::Hub(_) => get_file(hub, source, picked, "data/", parquet_name, Some(task.hub_dir()), Keep::Fallback)
            .await?
            .ok_or_else(|| missing(source, &format!("{}/{parquet_name}", task.hub_dir()))),
        Source::Url(_) => get_file(hub, source, picked, "data/", tsv_name, None, Keep::Fallback)
            .await?
            .ok_or_else(|| missing(source, tsv_name)),
        Source::Files => {
            if let Some(file) = get_file(hub, source, picked, "data/", tsv_name, None, Keep::Fallback).await? {
                Ok(file)
            } else if let Some(file) = get_file(hub, source, picked, "data/", parquet_name, None, Keep::Fallback).await? {
                Ok(file)
            } else {
                Err(missing(source, &format!("{tsv_name} (or {parquet_name})")))
            }
        }
    }
}

thread_local! {
    /// The WebGPU device, once opened. burn registers one per worker and refuses a second `init`
    /// ("a server is still registered"), so a job that fails after opening it (a bad weights file)
    /// must not take it along: the next run would find no GPU.
    static OPENED: RefCell<Option<Device>> = const { RefCell::new(None) };
}

/// The worker's WebGPU device: the one it opened before, or a new one.
async fn gpu_device(opened: Option<Device>) -> Result<Device, String> {
    if let Some(device) = opened.or_else(|| OPENED.with(|o| o.borrow().clone())) {
        return Ok(device);
    }
    let device = Backend::Wgpu.init().await.map_err(|e| e.to_string())?;
    OPENED.with(|o| *o.borrow_mut() = Some(device.clone()));
    Ok(device)
}

/// A split's examples; the file's name says whether it is parquet or TSV.
fn parse_split(task: Task, file: &NamedBytes) -> Result<Vec<Example>, String> {
    if file.name.ends_with(".parquet") {
        return task.parse_parquet(&file.bytes, &file.name).map_err(|e| e.to_string());
    }
    let text = std::str::from_utf8(&file.bytes).map_err(|e| format!("{}: not UTF-8 text ({e})", file.name))?;
    task.parse_tsv(text, &file.name).map_err(|e| e.to_string())
}

/// Lets the page's messages in between steps, holds the run while it is paused, and keeps its
/// checkpoints in the browser's storage.
struct PageControl<'a> {
    controls: &'a Controls,
    last_yield: web_time::Instant,
    /// `None` while another tab owns the saved run.
    store: Option<store::Writer<'a>>,
}

impl Control for PageControl<'_> {
    fn after_step(&mut self) -> Pin<Box<dyn Future<Output = Flow> + '_>> {
        Box::pin(async move {
            // A macrotask boundary lets pending messages (pause, stop) run; browsers clamp nested
            // timeouts to ~4 ms, so yield at most every 50 ms rather than every step.
            if self.last_yield.elapsed().as_millis() >= 50 {
                TimeoutFuture::new(0).await;
                self.last_yield = web_time::Instant::now();
            }
            if self.controls.paused.get() && !self.controls.stop.get() {
                post(&FromWorker::Paused, &Vec::new());
                while self.controls.paused.get() && !self.controls.stop.get() {
                    TimeoutFuture::new(100).await;
                }
                post(&FromWorker::Resumed, &Vec::new());
            }
            if self.controls.stop.get() { Flow::Stop } else { Flow::Continue }
        })
    }

    fn save(&mut self, checkpoint: Checkpoint) -> Pin<Box<dyn Future<Output = webtune::Result<()>> + '_>> {
        Box::pin(async move {
            let Some(store) = &mut self.store else { return Ok(()) };
            // A full or unavailable storage costs the checkpoint, not the run.
            match store.save(&checkpoint).await {
                Ok(()) => post(&FromWorker::Checkpointed { step: checkpoint.step }, &Vec::new()),
                Err(e) => post(&FromWorker::Warning(e), &Vec::new()),
            }
            Ok(())
        })
    }
}

/// A run's inputs, downloaded (a new run) or read back from the browser's storage (a resumed one).
struct Inputs {
    request: RunRequest,
    files: ModelFiles,
    train: NamedBytes,
    validation: NamedBytes,
    /// MNLI's mismatched validation set.
    mismatched: Option<NamedBytes>,
    /// The checkpoint's trainer_state.json and moments, when resuming.
    resume: Option<[NamedBytes; 3]>,
    /// A resumed LoRA run's adapter, as its checkpoint holds it (`files` are then the base model's).
    adapter: Option<Adapter>,
}

/// A new run: downloads the model and the data, then trains.
pub async fn run(
    request: RunRequest,
    picked: Files,
    device: Option<Device>,
    controls: &Controls,
) -> Result<(Trained, Device), String> {
    let task = Task::parse(&request.task).map_err(|e| e.to_string())?;
    request.training_args().validate().map_err(|e| e.to_string())?;
    stage("Downloading the model");
    let files = model_files(&request.hub, &request.model, &picked).await?;
    stage("Downloading the dataset");
    let train = split_file(task, &request.hub, &request.data, &picked, Split::Train).await?;
    let validation = split_file(task, &request.hub, &request.data, &picked, Split::Validation).await?;
    let mismatched = match task.validation_splits() {
        [_, second] => Some(split_file(task, &request.hub, &request.data, &picked, *second).await?),
        _ => None,
    };
    let inputs = Inputs { request, files, train, validation, mismatched, resume: None, adapter: None };
    train_inputs(inputs, None, device, controls).await
}

/// `webtune bench` in the page: the request's model trained on the first `(warmup + steps) × batch`
/// training pairs in file order (the CLI's batches, so the two figures compare), nothing kept.
pub async fn bench(
    request: RunRequest,
    size: BenchRequest,
    picked: Files,
    device: Option<Device>,
) -> Result<(BenchReport, Device), String> {
    let task = Task::parse(&request.task).map_err(|e| e.to_string())?;
    stage("Downloading the model");
    let files = model_files(&request.hub, &request.model, &picked).await?;
    stage("Downloading the dataset");
    let train = split_file(task, &request.hub, &request.data, &picked, Split::Train).await?;
    let base_config = files.config().map_err(|e| e.to_string())?;
    let tokenizer = files.tokenizer(&base_config).map_err(|e| e.to_string())?;
    let config = task_config(&base_config, task);
    let rows = parse_split(task, &train)?;
    let needed = (size.warmup + size.steps) * request.batch;
    if rows.len() < needed {
        return Err(format!("{}: {} examples, the benchmark needs {needed}", train.name, rows.len()));
    }
    stage("Tokenizing");
    let (encoded, labels) =
        webtune::bench::examples(task, rows, &train.name, &tokenizer, needed).map_err(|e| e.to_string())?;
    let device = gpu_device(device).await?;
    stage("Loading the weights");
    let autodiff = device.clone().autodiff();
    let adapter = new_lora(&request, base_config.model_type);
    let (model, _) = files.load_adapted(&config, &autodiff, request.seed, adapter.as_ref()).map_err(|e| e.to_string())?;
    dropout::seed(&autodiff, request.seed);
    stage("Benchmarking (the warm-up steps also compile the GPU kernels)");
    let report = webtune::bench::bench(model, &encoded, &labels, request.batch, size.warmup, size.steps, tokenizer.pad_id(), 0, webtune::train::Precision::F32, &autodiff)
        .await
        .map_err(|e| e.to_string())?;
    Ok((report, device))
}

/// "Prepare for offline": the request's model and both splits of its dataset into the browser's
/// cache (`Keep` in `fetch.rs` reads them there when the network is gone), then a few training
/// steps timed, which also tells the page how long a run will take here.
pub async fn prepare(request: RunRequest, picked: Files, device: Option<Device>) -> Result<(BenchReport, Device), String> {
    let task = Task::parse(&request.task).map_err(|e| e.to_string())?;
    stage("Downloading the dataset");
    for split in task.validation_splits() {
        split_file(task, &request.hub, &request.data, &picked, *split).await?;
    }
    // One warm-up step compiles the kernels; three timed ones are enough for an estimate.
    bench(request, BenchRequest { warmup: 1, steps: 3 }, picked, device).await
}

/// The request's model on this browser's GPU against transformers' numbers for the same batch (the
/// golden file at `golden_url`): one forward and backward pass, nothing trained. A browser's WebGPU
/// stack can compute differently from native wgpu on the same kernels; this shows whether it does.
pub async fn check(
    request: RunRequest,
    golden_url: String,
    picked: Files,
    device: Option<Device>,
) -> Result<(ParityReport, Device), String> {
    stage("Downloading the model");
    let files = model_files(&request.hub, &request.model, &picked).await?;
    stage("Downloading the golden values");
    let bytes = fetch(&golden_url, &golden_url, Keep::No).await.map_err(FetchError::into_message)?;
    let golden = Golden::from_json(&bytes, &golden_url).map_err(|e| e.to_string())?;
    let config = files.config().map_err(|e| e.to_string())?;
    let weights = WeightFile::from_bytes(&files.weights.bytes, &files.weights.name).map_err(|e| e.to_string())?;
    let device = gpu_device(device).await?;
    stage("Comparing with transformers (this also compiles the GPU kernels)");
    let autodiff = device.clone().autodiff();
    let model = golden.model(&config, weights, &autodiff, &files.config.name).map_err(|e| e.to_string())?;
    let report = webtune::parity::compare(&model, &golden, &autodiff).await.map_err(|e| e.to_string())?;
    Ok((report, device))
}

/// The run saved in the browser, from its last checkpoint.
pub async fn resume(device: Option<Device>, controls: &Controls) -> Result<(Trained, Device), String> {
    let lock = store::lock().await.ok_or_else(|| format!("{}: it cannot be resumed here", store::ANOTHER_TAB))?;
    stage("Reading the saved run");
    let saved = store::load().await?;
    let inputs = Inputs {
        request: saved.run.request,
        files: saved.model,
        train: saved.train,
        validation: saved.validation,
        mismatched: saved.mismatched,
        resume: Some(saved.state),
        adapter: saved.adapter,
    };
    train_inputs(inputs, Some(lock), device, controls).await
}

async fn train_inputs(
    inputs: Inputs,
    lock: Option<store::RunLock>,
    device: Option<Device>,
    controls: &Controls,
) -> Result<(Trained, Device), String> {
    let Inputs { request, files, train, validation, mismatched, resume, adapter } = inputs;
    let task = Task::parse(&request.task).map_err(|e| e.to_string())?;
    let base_config = files.config().map_err(|e| e.to_string())?;
    // A resumed LoRA run goes on with its checkpoint's adapter; a new one draws a fresh one.
    let adapter = match (&resume, adapter) {
        (_, Some(trained)) => Some(trained),
        (Some(_), None) => None,
        (None, None) => new_lora(&request, base_config.model_type),
    };
    let mut args = request.training_args();
    args.lora = adapter.as_ref().map(|a| a.config.clone());
    args.validate().map_err(|e| e.to_string())?;
    let tokenizer = files.tokenizer(&base_config).map_err(|e| e.to_string())?;
    let config = task_config(&base_config, task);
    let mut train_rows = parse_split(task, &train)?;
    let mut eval_rows = parse_split(task, &validation)?;
    if let Some(n) = request.max_train_samples {
        train_rows.truncate(n);
    }
    if let Some(n) = request.max_eval_samples {
        eval_rows.truncate(n);
    }

    stage("Tokenizing");
    let mut data = TaskData::from_examples(task, &tokenizer, &train_rows, &train.name, &eval_rows, &validation.name)
        .map_err(|e| e.to_string())?;
    if let Some(file) = &mismatched {
        let mut rows = parse_split(task, file)?;
        rows.truncate(request.max_eval_samples.unwrap_or(usize::MAX));
        data = data.with_mismatched(&tokenizer, &rows, &file.name).map_err(|e| e.to_string())?;
    }

    stage("Checking the GPU");
    let info = gpu::adapter_info().await?;
    let full = args.lora.is_some().then(|| data.memory_estimate(&config, &TrainingArgs { lora: None, ..args.clone() }));
    post(&FromWorker::Memory(data.memory_estimate(&config, &args), full), &Vec::new());
    data.check_memory(&config, &args, &gpu::memory_limits(&info)).map_err(|e| e.to_string())?;
    let device = gpu_device(device).await?;

    stage("Loading the weights");
    let autodiff = device.clone().autodiff();
    let (model, initialized) =
        files.load_adapted(&config, &autodiff, args.seed, adapter.as_ref()).map_err(|e| e.to_string())?;
    let (resume, store) = match &resume {
        Some([state, exp_avg, exp_avg_sq]) => {
            let r = Resume::load_adapted(&config, state, exp_avg, exp_avg_sq, &autodiff, args.lora.as_ref())
                .map_err(|e| e.to_string())?;
            (Some(r), store::Writer::resumed())
        }
        None => {
            // A LoRA checkpoint holds the adapter alone: the saved run keeps the base weights.
            let base = args.lora.is_some().then_some(&files.weights);
            (None, store::Writer::new_run(&request, &files, base, &train, &validation, mismatched.as_ref()))
        }
    };
    // The tab that holds the lock owns the saved run; a run in another tab goes on without
    // checkpoints. A resumed run took the lock before reading the saved run (`resume`).
    let lock = match lock {
        Some(lock) => Some(lock),
        None => store::lock().await,
    };
    if lock.is_none() {
        post(
            &FromWorker::Warning(format!("{}: this run trains without checkpoints", store::ANOTHER_TAB)),
            &Vec::new(),
        );
    }

    stage("Training (the first steps also compile the GPU kernels)");
    let mut sink = |event: &Event| post(&FromWorker::Train(event.clone()), &Vec::new());
    let store = lock.as_ref().map(|_| store);
    let mut control = PageControl { controls, last_yield: web_time::Instant::now(), store };
    let (model, report) =
        train_with_control(model, &data, &args, &autodiff, initialized, &mut sink, &mut control, resume)
            .await
            .map_err(|e| e.to_string())?;
    // A finished run needs no checkpoint; a stopped one stays resumable.
    if !report.stopped && lock.is_some() {
        if let Err(e) = store::clear().await {
            post(&FromWorker::Warning(e), &Vec::new());
        }
    }
    post(&FromWorker::Finished(report), &Vec::new());
    let trained = Trained { model: model.valid(), config, tokenizer, files, device: device.clone(), lora: args.lora };
    Ok((trained, device))
}

//! `webtune`: the command-line shell over the core. It parses flags, reads files, drives
//! `webtune::train::train` with a simple executor, and renders events as a progress bar,
//! `metrics.jsonl`, `report.html` and, when asked, TensorBoard's event files.

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;

use burn::module::Module;
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use webtune::data::{Split, Task, TextTokenizer};
use webtune::device::Backend;
use webtune::checkpoints;
use webtune::model::lora_config::{LoraConfig, TargetModules};
use webtune::pretrained::{Adapter, ModelFiles, folder_files, save_adapter, save_pretrained, task_config};
use webtune::tensorboard::SummaryWriter;
use webtune::train::reference::{reference, whole_task};
use webtune::train::{
    Checkpoint, Control, Event, Flow, History, Precision, SaveStrategy, TaskData, TrainingArgs, evaluate, labels_of,
    tokenize, train_with_control,
};
use webtune::{Error, Result};

#[derive(Parser)]
#[command(name = "webtune", version, about = "Fine-tune BERT models for sentence(-pair) classification")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fine-tune a model on a GLUE task and save it in Hugging Face's layout.
    Train(TrainCmd),
    /// Score a model on a split; prints the task's metrics ({"accuracy", "f1", "examples"} for MRPC).
    Evaluate(EvaluateCmd),
    /// Classify one sentence or sentence pair; prints {"label", "label_id", "probabilities", "logits",
    /// "tokens"} (each token's text, id, segment, and whether the tokenizer added it).
    Predict(PredictCmd),
    /// Measure training speed on MRPC batches; prints one JSON object.
    Bench(BenchCmd),
    /// Serve this machine's device to `webtune train --devices ws://HOST:PORT` on another machine
    /// (a burn remote server over WebSocket). Runs until stopped (Ctrl+C).
    Serve(ServeCmd),
}

#[derive(Args)]
struct ServeCmd {
    /// cpu, wgpu or cuda
    #[arg(long, default_value = "wgpu")]
    device: String,
    #[arg(long, default_value_t = 3000)]
    port: u16,
}

#[derive(Args)]
struct Common {
    /// A model folder (config.json, model.safetensors, tokenizer.json or vocab.txt) or a Hub id
    /// such as bert-base-uncased. Default: all-MiniLM-L6-v2 as installed by scripts/setup. Or a
    /// named shape with random weights, for timing where no checkpoint can be fetched: minilm-l6,
    /// bert-base.
    #[arg(long)]
    model: Option<String>,
    /// wgpu (Vulkan/Metal/DX12), cpu, or cuda (build with --features cuda).
    #[arg(long, default_value = "wgpu")]
    backend: String,
}

#[derive(Args)]
struct TaskArgs {
    /// A GLUE task: cola, sst2, mrpc, stsb, qqp, mnli, qnli, rte or wnli.
    #[arg(long, default_value = "mrpc")]
    task: String,
    /// The task's folder: GLUE's TSV files (train.tsv, dev.tsv; MNLI's dev_matched.tsv and
    /// dev_mismatched.tsv) or the Hub's parquet files (train-00000-of-00001.parquet, …).
    /// Default: ../shared/data/glue/<TASK> (GLUE's folder name: CoLA, SST-2, STS-B, …).
    #[arg(long)]
    data: Option<PathBuf>,
}

impl TaskArgs {
    fn resolve(&self) -> Result<(Task, PathBuf)> {
        let task = Task::parse(&self.task)?;
        let data = self.data.clone().unwrap_or_else(|| default_data(task));
        Ok((task, data))
    }
}

fn default_data(task: Task) -> PathBuf {
    PathBuf::from("../shared/data/glue").join(task.dir_name())
}

#[derive(Args)]
struct TrainCmd {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    task: TaskArgs,
    /// Default: output/<task>.
    #[arg(long)]
    output_dir: Option<PathBuf>,
    #[arg(long, default_value_t = 3)]
    num_train_epochs: usize,
    #[arg(long, default_value_t = 8)]
    per_device_train_batch_size: usize,
    #[arg(long, default_value_t = 8)]
    per_device_eval_batch_size: usize,
    #[arg(long, default_value_t = 5e-5)]
    learning_rate: f64,
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f64,
    #[arg(long, default_value_t = 0)]
    warmup_steps: usize,
    /// Clip gradients to this global L2 norm (off by default, as in the course's loop).
    #[arg(long)]
    max_grad_norm: Option<f64>,
    #[arg(long, default_value_t = 1)]
    gradient_accumulation_steps: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Stop after this many optimizer steps (then evaluate).
    #[arg(long)]
    max_steps: Option<usize>,
    #[arg(long, default_value_t = 10)]
    logging_steps: usize,
    /// Train on the first N training examples only (quick runs and tests).
    #[arg(long)]
    max_train_samples: Option<usize>,
    /// Evaluate on the first N validation examples only.
    #[arg(long)]
    max_eval_samples: Option<usize>,
    /// No progress bar (logs and CI).
    #[arg(long)]
    quiet: bool,
    /// When to write checkpoint-STEP folders in the output folder: no, epoch (after each epoch's
    /// evaluation) or steps (every --save-steps).
    #[arg(long, default_value = "epoch")]
    save_strategy: String,
    /// Write a checkpoint every N optimizer steps (implies --save-strategy steps).
    #[arg(long)]
    save_steps: Option<usize>,
    /// Keep only the newest N checkpoints.
    #[arg(long)]
    save_total_limit: Option<usize>,
    /// Continue a run from a checkpoint folder, or from the newest one in the output folder with
    /// `last`. The model, its config and tokenizer are the checkpoint's; the data and settings
    /// must be those of the run that wrote it.
    #[arg(long)]
    resume_from_checkpoint: Option<String>,
    /// Data parallelism: a comma-separated list of devices that each take
    /// --per-device-train-batch-size examples of every batch (cpu, wgpu, cuda:N, or ws://HOST:PORT
    /// for a `webtune serve` on another machine). Gradients are averaged on --backend's device,
    /// which keeps the weights and the optimizer.
    #[arg(long, value_delimiter = ',')]
    devices: Vec<String>,
    /// Batch examples of similar length together (transformers' group_by_length): less padding,
    /// faster steps, but not the course's recipe (off by default).
    #[arg(long)]
    group_by_length: bool,
    #[command(flatten)]
    mixed_precision: MixedPrecision,
    #[command(flatten)]
    lora: LoraArgs,
    /// Where else the run's scalars go besides metrics.jsonl, as transformers' report_to: none, or
    /// tensorboard (event files in OUTPUT_DIR/runs/, one folder per run, for `tensorboard --logdir`).
    #[arg(long, value_delimiter = ',', default_value = "none")]
    report_to: Vec<String>,
    /// Do not write OUTPUT_DIR/report.html, the run's charts as one page (written by default).
    #[arg(long)]
    no_report: bool,
}

/// peft's LoRA, by peft's names.
#[derive(Args, Debug, Clone)]
struct LoraArgs {
    /// Train LoRA adapters of rank R beside the frozen model (and the task head whole) instead of
    /// every weight: far less memory, and the output is a small adapter peft loads. Off by default.
    #[arg(long, value_name = "R")]
    lora_r: Option<usize>,
    /// The adapters' output is scaled by lora_alpha / r (peft's default, 8, where not given).
    #[arg(long, requires = "lora_r")]
    lora_alpha: Option<f64>,
    /// Dropout on the adapters' input (peft's default, 0, where not given).
    #[arg(long, requires = "lora_r")]
    lora_dropout: Option<f64>,
    /// The layers given adapters, by their names' last part: query,value (the default; DistilBERT's
    /// q_lin,v_lin), any of key, dense, ..., or all-linear.
    #[arg(long, requires = "lora_r")]
    lora_target_modules: Option<String>,
    /// Also write the model with the adapters merged into its weights, a plain model folder, to
    /// OUTPUT_DIR/merged (a LoRA run, or one resumed from a LoRA checkpoint).
    #[arg(long)]
    merge_lora: bool,
}

impl LoraArgs {
    /// The LoRA to train on a model of `family` given as `model` (recorded as the adapter's base).
    fn config(&self, family: webtune::model::Family, model: &str) -> Result<Option<LoraConfig>> {
        let Some(r) = self.lora_r else { return Ok(None) };
        let mut c = LoraConfig::new(r, family);
        // Unset, they keep LoraConfig's defaults, which are peft's.
        c.lora_alpha = self.lora_alpha.unwrap_or(c.lora_alpha);
        c.lora_dropout = self.lora_dropout.unwrap_or(c.lora_dropout);
        if let Some(t) = &self.lora_target_modules {
            c.target_modules = TargetModules::parse(t)?;
        }
        // A local folder by its absolute path, so the adapter finds its base from anywhere.
        c.base_model_name_or_path = Some(match std::fs::canonicalize(model) {
            Ok(path) => path.display().to_string(),
            Err(_) => model.to_string(),
        });
        c.validate()?;
        Ok(Some(c))
    }
}

/// transformers' flags of the same names.
#[derive(Args, Debug, Clone)]
struct MixedPrecision {
    /// Mixed precision: forward and backward in bfloat16, weights and optimizer in f32 (CUDA, CPU;
    /// WebGPU and Vulkan have no bf16).
    #[arg(long, conflicts_with = "fp16")]
    bf16: bool,
    /// Mixed precision: forward and backward in float16 with a dynamic loss scale, weights and
    /// optimizer in f32 (CUDA; wgpu where the GPU has shader-f16).
    #[arg(long)]
    fp16: bool,
}

impl MixedPrecision {
    fn precision(&self) -> Precision {
        match (self.bf16, self.fp16) {
            (true, _) => Precision::Bf16,
            (_, true) => Precision::F16,
            _ => Precision::F32,
        }
    }
}

impl TrainCmd {
    fn save_strategy(&self) -> Result<SaveStrategy> {
        match (self.save_strategy.as_str(), self.save_steps) {
            (_, Some(0)) => Err(Error::Invalid("--save-steps must be at least 1".into())),
            ("steps" | "epoch", Some(n)) => Ok(SaveStrategy::Steps(n)),
            ("steps", None) => Err(Error::Invalid("--save-strategy steps needs --save-steps N".into())),
            ("epoch", None) => Ok(SaveStrategy::Epoch),
            ("no", _) => Ok(SaveStrategy::No),
            (other, _) => Err(Error::Invalid(format!("--save-strategy {other}: expected no, epoch or steps"))),
        }
    }

    /// Whether `--report-to` asks for TensorBoard's event files.
    fn tensorboard(&self) -> Result<bool> {
        let mut tensorboard = false;
        for to in &self.report_to {
            match to.trim() {
                "tensorboard" | "all" => tensorboard = true,
                "none" | "" => {}
                other => return Err(Error::Invalid(format!("--report-to {other}: expected none, tensorboard or all"))),
            }
        }
        Ok(tensorboard)
    }
}

#[derive(Args)]
struct EvaluateCmd {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    task: TaskArgs,
    /// validation, test, or MNLI's validation_mismatched
    #[arg(long, default_value = "validation")]
    split: String,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
}

#[derive(Args)]
struct PredictCmd {
    #[command(flatten)]
    common: Common,
    /// The sentence (or the first of a pair).
    text_a: String,
    /// The second sentence, for pair tasks.
    text_b: Option<String>,
}

#[derive(Args)]
struct BenchCmd {
    /// A model folder or Hub id, or a named shape with random weights: minilm-l6, bert-base.
    #[arg(long, default_value = "minilm-l6")]
    model: String,
    #[arg(long, default_value = "wgpu")]
    backend: String,
    /// Measured steps.
    #[arg(long, default_value_t = 20)]
    steps: usize,
    /// Steps run first and not measured (kernel compilation, autotune, allocator warm-up).
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    #[arg(long, default_value_t = 8)]
    per_device_train_batch_size: usize,
    /// The MRPC folder. Default: ../shared/data/glue/MRPC.
    #[arg(long)]
    data: Option<PathBuf>,
    #[command(flatten)]
    mixed_precision: MixedPrecision,
    /// Train LoRA adapters of rank R instead of every weight (see `train --lora-r`).
    #[arg(long, value_name = "R")]
    lora_r: Option<usize>,
    /// With --lora-r: the layers given adapters (query,value by default, or all-linear).
    #[arg(long, requires = "lora_r")]
    lora_target_modules: Option<String>,
    /// Pad every batch to at least N tokens (transformers' padding="max_length"): a fixed shape,
    /// to hold the measured memory against the estimate for that shape.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pad_to_length: usize,
}

fn main() -> ExitCode {
    keep_freed_memory();
    let cli = Cli::parse();
    let training = matches!(cli.command, Command::Train(_));
    // burn reports some device faults (an allocation the GPU cannot make, a lost device) by
    // panicking. The user gets a sentence naming the fault instead of a backtrace.
    static PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "an unknown fault".into());
        let at = info.location().map(|l| format!(" (at {}:{})", l.file(), l.line())).unwrap_or_default();
        *PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{what}{at}"));
    }));
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pollster::block_on(async {
            match cli.command {
                Command::Train(cmd) => run_train(cmd).await,
                Command::Evaluate(cmd) => run_evaluate(cmd).await,
                Command::Predict(cmd) => run_predict(cmd).await,
                Command::Bench(cmd) => run_bench(cmd).await,
                Command::Serve(cmd) => run_serve(cmd).await,
            }
        })
    }));
    let result = run.unwrap_or_else(|_| {
        let what = PANIC.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_default();
        Err(backend_fault(&what, training))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A training step allocates and frees hundreds of tensors, most above glibc's 128 KiB mmap
/// threshold, so by default every one is a fresh mapping that the kernel zero-fills page by page and
/// every free unmaps it again: a fifth of a CPU step went to page faults (perf). Served from the heap
/// and never trimmed, freed blocks are reused by the next step instead. The cost is that the process
/// keeps its peak footprint until it exits, which a training run reaches in its first step anyway.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

/// The error for a fault the backend raised as a panic.
fn backend_fault(what: &str, training: bool) -> Error {
    let kept = if training { "; checkpoints written so far are kept (--resume-from-checkpoint last)" } else { "" };
    let lower = what.to_lowercase();
    if lower.contains("out of memory") || lower.contains("outofmemory") || lower.contains("allocat") {
        Error::OutOfMemory(format!(
            "{what}; try a smaller --per-device-train-batch-size (with --gradient-accumulation-steps to keep the \
             effective batch){kept}"
        ))
    } else {
        Error::Device(format!("the backend stopped: {what}{kept}"))
    }
}

fn default_model() -> String {
    let cache = std::env::var_os("WEBTUNE_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/webtune")))
        .unwrap_or_else(|| PathBuf::from(".cache/webtune"));
    cache.join("models/all-MiniLM-L6-v2").display().to_string()
}

struct Loaded {
    files: ModelFiles,
    config: webtune::model::BertConfig,
    tokenizer: TextTokenizer,
    device: burn::tensor::Device,
    /// A trained LoRA adapter, when --model named an adapter folder (`files` are then its base's).
    adapter: Option<Adapter>,
}

impl Loaded {
    fn load_model(&self, config: &webtune::model::BertConfig, device: &burn::tensor::Device, seed: u64) -> Result<(webtune::model::SequenceClassifier, Vec<String>)> {
        self.files.load_adapted(config, device, seed, self.adapter.as_ref())
    }
}

async fn load(common: &Common) -> Result<Loaded> {
    let model = common.model.clone().unwrap_or_else(default_model);
    let vocabulary = || ModelFiles::from_dir(&webtune::source::resolve_model(&default_model())?);
    let named = match webtune::bench::named_config(&model) {
        Some(_) => webtune::bench::named_files(&model, vocabulary()?).await?,
        None => None,
    };
    let (files, adapter) = match named {
        Some(files) => (files, None),
        None => model_or_adapter(&webtune::source::resolve_model(&model)?)?,
    };
    let mut loaded = load_files(files, &common.backend).await?;
    loaded.adapter = adapter;
    Ok(loaded)
}

/// A model folder, or an adapter folder and the base model its adapter_config.json names (the
/// adapter folder's own config.json, with the task's labels, and tokenizer files win over the base's).
fn model_or_adapter(dir: &Path) -> Result<(ModelFiles, Option<Adapter>)> {
    if !Adapter::is_adapter_dir(dir) {
        return Ok((ModelFiles::from_dir(dir)?, None));
    }
    let adapter = Adapter::from_dir(dir)?;
    let base = adapter.config.base_model_name_or_path.clone().ok_or_else(|| Error::Config {
        path: dir.join(webtune::pretrained::ADAPTER_CONFIG_FILE).display().to_string(),
        field: "base_model_name_or_path".into(),
        reason: "missing: the adapter does not say which model it was trained on".into(),
    })?;
    let mut files = ModelFiles::from_dir(&webtune::source::resolve_model(&base)?)?;
    files.overlay_dir(dir)?;
    Ok((files, Some(adapter)))
}

async fn load_files(files: ModelFiles, backend: &str) -> Result<Loaded> {
    let config = files.config()?;
    let tokenizer = files.tokenizer(&config)?;
    let device = Backend::parse(backend)?.init().await?;
    Ok(Loaded { files, config, tokenizer, device, adapter: None })
}

async fn run_train(cmd: TrainCmd) -> Result<()> {
    let (task, data_dir) = cmd.task.resolve()?;
    let output_dir = cmd.output_dir.clone().unwrap_or_else(|| PathBuf::from("output").join(task.name()));
    let mut args = TrainingArgs {
        num_train_epochs: cmd.num_train_epochs,
        per_device_train_batch_size: cmd.per_device_train_batch_size,
        per_device_eval_batch_size: cmd.per_device_eval_batch_size,
        learning_rate: cmd.learning_rate,
        adamw: webtune::train::AdamWSettings { weight_decay: cmd.weight_decay, ..Default::default() },
        warmup_steps: cmd.warmup_steps,
        max_grad_norm: cmd.max_grad_norm,
        gradient_accumulation_steps: cmd.gradient_accumulation_steps,
        seed: cmd.seed,
        max_steps: cmd.max_steps,
        logging_steps: cmd.logging_steps,
        save_strategy: cmd.save_strategy()?,
        // Filled below, once the devices are open.
        replicas: Vec::new(),
        group_by_length: cmd.group_by_length,
        precision: cmd.mixed_precision.precision(),
        lora: None,
    };
    let tensorboard = cmd.tensorboard()?;

    // A resumed run takes its model from the checkpoint, which is a model folder too.
    let saved = match cmd.resume_from_checkpoint.as_deref() {
        None => None,
        Some("last") => Some(checkpoints::SavedCheckpoint::read(&checkpoints::latest(&output_dir)?)?),
        Some(dir) => Some(checkpoints::SavedCheckpoint::read(Path::new(dir))?),
    };
    let loaded = match &saved {
        Some(saved) => load_files(saved.model.clone(), &cmd.common.backend).await?,
        None => load(&cmd.common).await?,
    };
    let config = task_config(&loaded.config, task);
    if loaded.adapter.is_some() {
        return Err(Error::Invalid(format!(
            "--model {}: a LoRA adapter folder; train from the model its adapter_config.json names (with --lora-r for \
             a new adapter), or from its merged model (--merge-lora writes one)",
            cmd.common.model.as_deref().unwrap_or_default()
        )));
    }
    // A resumed LoRA run continues with its checkpoint's adapter and settings; a full one cannot
    // turn into LoRA.
    args.lora = match (saved.as_ref(), saved.as_ref().and_then(|s| s.adapter.as_ref())) {
        (_, Some(adapter)) => Some(adapter.config.clone()),
        (Some(_), None) if cmd.lora.lora_r.is_some() => {
            return Err(Error::Invalid(format!(
                "--resume-from-checkpoint {}: a full fine-tune's checkpoint, which cannot continue as LoRA (--lora-r)",
                cmd.resume_from_checkpoint.as_deref().unwrap_or_default()
            )));
        }
        _ => cmd.lora.config(config.model_type, &cmd.common.model.clone().unwrap_or_else(default_model))?,
    };
    if cmd.lora.merge_lora && args.lora.is_none() {
        return Err(Error::Invalid("--merge-lora: this run trains no LoRA adapter (add --lora-r)".into()));
    }
    args.validate()?;
    let mut train_rows = task.read_split(&data_dir, Split::Train)?;
    let mut eval_rows = task.read_split(&data_dir, Split::Validation)?;
    if let Some(n) = cmd.max_train_samples {
        train_rows.truncate(n);
    }
    if let Some(n) = cmd.max_eval_samples {
        eval_rows.truncate(n);
    }
    let (train_examples, eval_examples) = (train_rows.len(), eval_rows.len());
    let file = |split| data_dir.join(task.file_name(split)).display().to_string();
    let mut data = TaskData::from_examples(
        task,
        &loaded.tokenizer,
        &train_rows,
        &file(Split::Train),
        &eval_rows,
        &file(Split::Validation),
    )?;
    if task.validation_splits().contains(&Split::ValidationMismatched) {
        let mut rows = task.read_split(&data_dir, Split::ValidationMismatched)?;
        rows.truncate(cmd.max_eval_samples.unwrap_or(usize::MAX));
        data = data.with_mismatched(&loaded.tokenizer, &rows, &file(Split::ValidationMismatched))?;
    }

    data.check_memory(&config, &args, &webtune::device::memory_limits(&loaded.device))?;
    let device = loaded.device.clone().autodiff();
    for spec in &cmd.devices {
        args.replicas.push(webtune::device::open(spec).await?.autodiff());
    }
    let adapter = match saved.as_ref().and_then(|s| s.adapter.clone()) {
        Some(trained) => Some(trained),
        None => args.lora.clone().map(|config| Adapter { config, weights: None }),
    };
    let (model, initialized) = loaded.files.load_adapted(&config, &device, args.seed, adapter.as_ref())?;
    let resume = match &saved {
        Some(saved) => Some(saved.resume(&config, &device)?),
        None => None,
    };
    std::fs::create_dir_all(&output_dir).map_err(|e| Error::io(output_dir.display(), e))?;
    let metrics_path = output_dir.join("metrics.jsonl");
    let mut metrics =
        std::fs::File::create(&metrics_path).map_err(|e| Error::io(metrics_path.display(), e))?;
    let mut write_error: Option<Error> = None;
    let mut events = match tensorboard {
        // transformers' logging_dir: OUTPUT_DIR/runs/<a folder per run>.
        true => {
            let seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            Some(SummaryWriter::create(&output_dir.join("runs").join(format!("run-{seconds}")))?)
        }
        false => None,
    };
    let mut history = History::default();

    let bar = if cmd.quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}")
            .expect("valid template"),
    );
    // A hidden bar swallows println: with --quiet, messages go to stderr.
    let say = |msg: String| if cmd.quiet { eprintln!("{msg}") } else { bar.println(msg) };
    let mut last_loss = f32::NAN;
    let mut sink = |event: &Event| {
        history.record(event);
        // TensorBoard's file is an extra view of metrics.jsonl: one that cannot be written is
        // said once and given up, and the run goes on.
        if let Some(e) = events.as_mut().and_then(|w| tensorboard_scalars(w, event, history.samples_per_second).err()) {
            let msg = format!("TensorBoard's event file is not written any more: {e}");
            if cmd.quiet { eprintln!("{msg}") } else { bar.println(msg) }
            events = None;
        }
        let line = match event {
            Event::Started { total_steps, num_examples, num_epochs, initialized, resumed_from_step } => {
                bar.set_length(*total_steps as u64);
                let init = if initialized.is_empty() { String::new() } else { format!("; newly initialised: {}", initialized.join(", ")) };
                let resumed = resumed_from_step.map(|s| format!(", resuming at step {s}")).unwrap_or_default();
                let parallel = if cmd.devices.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; data parallel over {} ({} examples each), gradients averaged on the main device",
                        cmd.devices.join(", "),
                        cmd.per_device_train_batch_size
                    )
                };
                say(format!(
                    "training {} examples, {num_epochs} epochs, {total_steps} steps on {:?}{init}{resumed}{parallel}",
                    num_examples,
                    device.clone().without_autodiff()
                ));
                if let Some(step) = resumed_from_step {
                    bar.set_position(*step as u64);
                    bar.reset_eta();
                }
                None
            }
            Event::Step { step, learning_rate, samples, elapsed_s, .. } => {
                bar.set_position(*step as u64);
                bar.set_message(format!(
                    "loss {last_loss:.4} lr {learning_rate:.2e} {:.1} samples/s",
                    *samples as f64 / elapsed_s.max(1e-9)
                ));
                None
            }
            Event::Log { step, epoch, loss, learning_rate } => {
                last_loss = *loss;
                if cmd.quiet {
                    eprintln!("step {step} epoch {epoch:.2} loss {loss:.4} lr {learning_rate:.3e}");
                }
                Some(json!({"epoch": epoch, "step": step, "loss": loss, "learning_rate": learning_rate}))
            }
            Event::Evaluated { step, epoch, metrics, mismatched, confusion, mistakes } => {
                // run_glue's names: eval_accuracy, and MNLI's mismatched set as eval_accuracy_mm.
                let mut line = json!({"epoch": epoch, "step": step});
                let mut said = Vec::new();
                for (suffix, m) in std::iter::once(("", metrics)).chain(mismatched.iter().map(|m| ("_mm", m))) {
                    for (name, value) in m.scores() {
                        line[format!("eval_{name}{suffix}")] = json!(value);
                        said.push(format!("{name}{suffix} {value:.4}"));
                    }
                }
                // What it got wrong, for a look at the run afterwards: [true][predicted], and the
                // most confident mistakes with their text and line in the validation file.
                if let Some(confusion) = confusion {
                    line["eval_confusion_matrix"] = json!(confusion);
                }
                if !mistakes.is_empty() {
                    line["eval_mistakes"] = json!(mistakes);
                }
                say(format!("epoch {epoch:.2} (step {step}): {}", said.join(", ")));
                Some(line)
            }
        };
        if let Some(line) = line {
            if let Err(e) = writeln!(metrics, "{line}") {
                write_error.get_or_insert(Error::io(metrics_path.display(), e));
            }
        }
    };
    let mut control = SaveToFolder {
        output_dir: &output_dir,
        extra: folder_files(&config, &loaded.files),
        keep: cmd.save_total_limit,
        bar: &bar,
        quiet: cmd.quiet,
        last: None,
    };
    let trained = train_with_control(model, &data, &args, &device, initialized, &mut sink, &mut control, resume).await;
    bar.finish();
    let (model, report) = match trained {
        Ok(done) => done,
        Err(e) => {
            // This run's newest checkpoint, or the one it resumed from.
            let last = control.last.clone().or_else(|| checkpoints::latest(&output_dir).ok());
            if let Some(dir) = last {
                eprintln!("the last checkpoint: {} (continue with --resume-from-checkpoint)", dir.display());
            }
            return Err(e);
        }
    };
    if let Some(e) = write_error {
        return Err(e);
    }

    let model = model.valid();
    let files = match &args.lora {
        None => save_pretrained(&model, &config, &loaded.files).await?,
        Some(lora) => save_adapter(&model, lora, &config, &loaded.files).await?,
    };
    for (name, bytes) in files {
        write_atomically(&output_dir.join(name), &bytes)?;
    }
    // A folder reused from a run of the other kind would otherwise load as that run's model.
    let other_kind: &[&str] = match &args.lora {
        None => &[webtune::pretrained::ADAPTER_CONFIG_FILE, webtune::pretrained::ADAPTER_WEIGHTS_FILE],
        Some(_) => &["model.safetensors"],
    };
    for name in other_kind {
        let path = output_dir.join(name);
        if path.exists() {
            std::fs::remove_file(&path).map_err(|e| Error::io(path.display(), e))?;
        }
    }
    if cmd.lora.merge_lora {
        let merged = output_dir.join("merged");
        std::fs::create_dir_all(&merged).map_err(|e| Error::io(merged.display(), e))?;
        for (name, bytes) in save_pretrained(&model, &config, &loaded.files).await? {
            write_atomically(&merged.join(name), &bytes)?;
        }
    }
    let mut summary = json!({
        "output_dir": output_dir.display().to_string(),
        "steps": report.steps,
        "train_runtime_s": report.train_runtime_s,
        "train_samples_per_second": report.train_samples_per_second,
        "eval": report.evaluations.last().map(|(_, m)| m),
    });
    if let Some(mm) = &report.mismatched {
        summary["eval_mm"] = json!(mm);
    }
    if !cmd.no_report {
        // The model as the run was given it: a resumed run's is its checkpoint.
        let model_name = match (cmd.resume_from_checkpoint.as_deref(), &cmd.common.model) {
            (Some("last"), _) => format!("{} (resumed from its newest checkpoint)", output_dir.display()),
            (Some(dir), _) => dir.to_string(),
            (None, Some(model)) => model.clone(),
            (None, None) => default_model(),
        };
        let reference = reference(&model_name, task, &args).filter(|_| whole_task(task, train_examples, eval_examples));
        let run = webtune::report_html::RunSummary { model: &model_name, task, report: &report, reference };
        let path = output_dir.join("report.html");
        write_atomically(&path, webtune::report_html::render(&run, &history).as_bytes())?;
        summary["report"] = json!(path.display().to_string());
    }
    if let Some(w) = &events {
        summary["tensorboard"] = json!(w.path().display().to_string());
    }
    println!("{summary}");
    Ok(())
}

/// An event's scalars for TensorBoard, by the tags transformers' TensorBoardCallback writes
/// (`train/loss`, `eval/accuracy`, MNLI's `eval/accuracy_mm`), and the training speed so far as
/// `train/samples_per_second` (transformers logs only the whole run's, at its end).
fn tensorboard_scalars(writer: &mut SummaryWriter, event: &Event, samples_per_second: f64) -> Result<()> {
    match event {
        Event::Log { step, epoch, loss, learning_rate } => {
            let mut scalars = vec![("train/loss", *loss as f64), ("train/learning_rate", *learning_rate), ("train/epoch", *epoch)];
            // Unknown for the logs a resumed run replays before its first step.
            if samples_per_second > 0.0 {
                scalars.push(("train/samples_per_second", samples_per_second));
            }
            writer.add_scalars(*step, &scalars)
        }
        Event::Evaluated { step, epoch, metrics, mismatched, .. } => {
            let mut scalars: Vec<(String, f64)> = vec![("train/epoch".into(), *epoch)];
            for (suffix, m) in std::iter::once(("", metrics)).chain(mismatched.iter().map(|m| ("_mm", m))) {
                scalars.extend(m.scores().into_iter().map(|(name, v)| (format!("eval/{name}{suffix}"), v)));
            }
            let scalars: Vec<(&str, f64)> = scalars.iter().map(|(t, v)| (t.as_str(), *v)).collect();
            writer.add_scalars(*step, &scalars)
        }
        Event::Started { .. } | Event::Step { .. } => Ok(()),
    }
}

/// The CLI's run never pauses; its checkpoints go to `checkpoint-STEP` folders.
struct SaveToFolder<'a> {
    output_dir: &'a Path,
    /// config.json and the tokenizer, so that a checkpoint is a model folder too.
    extra: Vec<(String, Vec<u8>)>,
    keep: Option<usize>,
    bar: &'a ProgressBar,
    quiet: bool,
    last: Option<PathBuf>,
}

impl Control for SaveToFolder<'_> {
    fn after_step(&mut self) -> Pin<Box<dyn Future<Output = Flow> + '_>> {
        Box::pin(std::future::ready(Flow::Continue))
    }

    fn save(&mut self, checkpoint: Checkpoint) -> Pin<Box<dyn Future<Output = Result<()>> + '_>> {
        let step = checkpoint.step;
        // A refused checkpoint stops the run (docs/reliability.md): the disk that refused it would
        // refuse the final model too, and the steps since the last checkpoint are all that is lost.
        let result = checkpoints::write(self.output_dir, &checkpoint, &self.extra, self.keep)
            .map(|dir| {
                let msg = format!("saved {}", dir.display());
                if self.quiet { eprintln!("{msg}") } else { self.bar.println(msg) }
                self.last = Some(dir);
            })
            .map_err(|e| Error::Invalid(format!("the checkpoint of step {step} could not be written, so the run stops: {e}")));
        Box::pin(std::future::ready(result))
    }
}

/// A file is either its old contents or its new ones, never half written.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(tmp.display(), e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path.display(), e))
}

async fn run_evaluate(cmd: EvaluateCmd) -> Result<()> {
    let (task, data_dir) = cmd.task.resolve()?;
    let split = match cmd.split.as_str() {
        "validation" | "dev" | "validation_matched" => Split::Validation,
        "validation_mismatched" if task == Task::Mnli => Split::ValidationMismatched,
        "test" => Split::Test,
        other => {
            let mm = if task == Task::Mnli { ", validation_mismatched" } else { "" };
            return Err(Error::Invalid(format!("--split {other}: expected validation{mm} or test")));
        }
    };
    let loaded = load(&cmd.common).await?;
    let rows = task.read_split(&data_dir, split)?;
    let labels = labels_of(task, &rows, &data_dir.join(task.file_name(split)).display().to_string())?;
    let encoded = tokenize(&loaded.tokenizer, &rows)?;
    check_labels(&loaded.config, task)?;
    let (model, initialized) = loaded.load_model(&loaded.config, &loaded.device, 0)?;
    refuse_untrained(&initialized, &loaded.files)?;
    let metrics = evaluate(&model, task, &encoded, &labels, cmd.batch_size, loaded.tokenizer.pad_id(), &loaded.device).await?.metrics;
    println!("{}", serde_json::to_string(&metrics).expect("metrics serialize"));
    Ok(())
}

async fn run_predict(cmd: PredictCmd) -> Result<()> {
    let loaded = load(&cmd.common).await?;
    let (model, initialized) = loaded.load_model(&loaded.config, &loaded.device, 0)?;
    refuse_untrained(&initialized, &loaded.files)?;
    let p = webtune::predict::predict(
        &model,
        &loaded.config,
        &loaded.tokenizer,
        &cmd.text_a,
        cmd.text_b.as_deref(),
        &loaded.device,
    )
    .await?;
    println!("{}", serde_json::to_string(&p).expect("prediction serializes"));
    Ok(())
}

/// Scoring or predicting with a random head would print numbers that mean nothing.
fn refuse_untrained(initialized: &[String], files: &ModelFiles) -> Result<()> {
    if initialized.is_empty() {
        Ok(())
    } else {
        Err(Error::MissingTensor { path: files.weights.name.clone(), tensor: initialized.join(", ") })
    }
}

fn check_labels(config: &webtune::model::BertConfig, task: Task) -> Result<()> {
    if config.num_labels() != task.labels().len() {
        return Err(Error::Invalid(format!(
            "the model has {} labels, task {} has {}",
            config.num_labels(),
            task.name(),
            task.labels().len()
        )));
    }
    Ok(())
}

async fn run_bench(cmd: BenchCmd) -> Result<()> {
    let backend = Backend::parse(&cmd.backend)?;
    let device = backend.init().await?;
    let ad = device.clone().autodiff();
    let lora = LoraArgs {
        lora_r: cmd.lora_r,
        lora_alpha: None,
        lora_dropout: None,
        lora_target_modules: cmd.lora_target_modules.clone(),
        merge_lora: false,
    };
    let (model, config, tokenizer, lora) = match webtune::bench::named_config(&cmd.model) {
        Some(config) => {
            // Named shapes share bert-base-uncased's vocabulary, which all-MiniLM-L6-v2's
            // tokenizer has too.
            let files = ModelFiles::from_dir(&webtune::source::resolve_model(&default_model())?)?;
            let tokenizer = files.tokenizer(&config)?;
            let lora = lora.config(config.model_type, &cmd.model)?;
            let config = config.with_labels(Task::Mrpc.labels());
            (webtune::bench::random_model(&config, &ad, lora.as_ref())?, config, tokenizer, lora)
        }
        None => {
            let files = ModelFiles::from_dir(&webtune::source::resolve_model(&cmd.model)?)?;
            let config = task_config(&files.config()?, Task::Mrpc);
            let tokenizer = files.tokenizer(&config)?;
            let lora = lora.config(config.model_type, &cmd.model)?;
            let adapter = lora.clone().map(|config| Adapter { config, weights: None });
            (files.load_adapted(&config, &ad, 42, adapter.as_ref())?.0, config, tokenizer, lora)
        }
    };
    let data = cmd.data.clone().unwrap_or_else(|| default_data(Task::Mrpc));
    let rows = Task::Mrpc.read_split(&data, Split::Train)?;
    let count = (cmd.warmup + cmd.steps) * cmd.per_device_train_batch_size;
    let (encoded, labels) =
        webtune::bench::examples(Task::Mrpc, rows, &data.join("train.tsv").display().to_string(), &tokenizer, count)?;
    webtune::model::dropout::seed(&ad, 42);
    let precision = cmd.mixed_precision.precision();
    // The model, the data and the runtime: what the steps' own memory is counted from.
    let host_mb_before_steps = host_mb("VmRSS:");
    let report = webtune::bench::bench(
        model,
        &encoded,
        &labels,
        cmd.per_device_train_batch_size,
        cmd.warmup,
        cmd.steps,
        tokenizer.pad_id(),
        cmd.pad_to_length,
        precision,
        &ad,
    )
    .await?;
    let estimate = webtune::train::memory::estimate(&config, cmd.per_device_train_batch_size, report.max_seq_len, lora.as_ref());
    let mut out = serde_json::to_value(&report).expect("report serializes");
    let obj = out.as_object_mut().expect("an object");
    obj.insert("peak_host_mb".into(), json!(host_mb("VmHWM:")));
    obj.insert("host_mb_before_steps".into(), json!(host_mb_before_steps));
    let mb = |bytes: u64| (bytes as f64 / 1e5).round() / 10.0;
    obj.insert(
        "estimate_mb".into(),
        json!({"total": mb(estimate.total_bytes()), "weights": mb(estimate.weights_bytes),
               "gradients": mb(estimate.gradients_bytes), "optimizer": mb(estimate.optimizer_bytes),
               "activations": mb(estimate.activations_bytes), "seq_len": report.max_seq_len}),
    );
    obj.insert("backend".into(), json!(backend.name()));
    obj.insert("device".into(), json!(format!("{device:?}")));
    obj.insert("model".into(), json!(cmd.model));
    obj.insert("batch_size".into(), json!(cmd.per_device_train_batch_size));
    obj.insert("precision".into(), json!(precision.name()));
    if let Some(lora) = &lora {
        obj.insert("lora".into(), json!({"r": lora.r, "target_modules": lora.target_modules.to_string_list()}));
    }
    obj.insert("versions".into(), json!({"webtune": env!("CARGO_PKG_VERSION"), "burn": "0.22.1"}));
    println!("{out}");
    Ok(())
}

async fn run_serve(cmd: ServeCmd) -> Result<()> {
    use burn::server::{RemoteServer, WebSocketTransport};
    let device = Backend::parse(&cmd.device)?.init().await?;
    eprintln!("serving {device:?} on ws://0.0.0.0:{} (Ctrl+C stops)", cmd.port);
    RemoteServer::new([device])
        .serve(WebSocketTransport::new(cmd.port))
        .map_err(|e| Error::Backend { backend: format!("serve on port {}", cmd.port), reason: e.to_string() })
}

/// One of the process's memory figures in `/proc/self/status` (Linux), in MB: `VmHWM:` the peak
/// resident memory, `VmRSS:` the current.
fn host_mb(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_faults_read_as_errors() {
        let oom = backend_fault("Out of memory: could not allocate a buffer of 4 GB", true).to_string();
        assert!(oom.starts_with("not enough device memory") && oom.contains("--per-device-train-batch-size"), "{oom}");
        assert!(oom.contains("--resume-from-checkpoint last"), "{oom}");
        let lost = backend_fault("Device lost", false).to_string();
        assert_eq!(lost, "device error: the backend stopped: Device lost");
    }
}

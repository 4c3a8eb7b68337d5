//! What the page and the worker say to each other, and how a run is described: by the form, or by
//! the query string of a shared link (`?model=…&data=…&task=mrpc&epochs=…&autostart=1`, or a
//! teacher's `?preset=tiny`).

use serde::{Deserialize, Serialize};
use webtune::bench::BenchReport;
use webtune::model::Family;
use webtune::model::lora_config::LoraConfig;
use webtune::parity::ParityReport;
use webtune::predict::Prediction;
use webtune::train::memory::MemoryEstimate;
use webtune::train::{Event, Report, SaveStrategy, TrainingArgs};

use crate::plan::Preset;

/// The Hub's address; models are read from its `resolve` URLs, which allow cross-origin reads.
pub const HUB: &str = "https://huggingface.co";
pub const DEFAULT_MODEL: &str = "bert-base-uncased";
/// The Cache API's cache of model and dataset files, keyed by their URLs: the worker keeps its
/// downloads there, the page looks in it to say what a run still has to download.
pub const MODEL_CACHE: &str = "webtune-models-v1";

/// Where a model or a dataset comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Source {
    /// A Hub repository id (`bert-base-uncased`, `sentence-transformers/all-MiniLM-L6-v2`).
    Hub(String),
    /// A folder URL: `<url>/config.json`, … (or `<url>/train.tsv`, `<url>/dev.tsv`).
    Url(String),
    /// Files the user picked; they travel with the message.
    Files,
}

impl Source {
    /// A form or query-string value: a URL (absolute, or starting with `/` or `.`) or a Hub id.
    /// Relative URLs are resolved against `page` so the worker, which lives at another address,
    /// reads the same files.
    pub fn parse(value: &str, page: &str) -> Source {
        let v = value.trim();
        if v.contains("://") {
            Source::Url(v.trim_end_matches('/').to_string())
        } else if v.starts_with('/') || v.starts_with('.') {
            Source::Url(join_url(page, v).trim_end_matches('/').to_string())
        } else {
            Source::Hub(v.to_string())
        }
    }

    /// In words, for the page.
    pub fn describe(&self) -> String {
        match self {
            Source::Hub(id) | Source::Url(id) => id.clone(),
            Source::Files => "picked files".into(),
        }
    }

    /// The URL of `file` in this source (none for picked files); `hub` is the Hub's address.
    pub fn file_url(&self, hub: &str, file: &str, dataset_dir: Option<&str>) -> Option<String> {
        match self {
            Source::Hub(id) => Some(match dataset_dir {
                None => format!("{hub}/{id}/resolve/main/{file}"),
                Some(dir) => format!("{hub}/datasets/{id}/resolve/main/{dir}/{file}"),
            }),
            Source::Url(base) => Some(format!("{base}/{file}")),
            Source::Files => None,
        }
    }
}

/// `relative` resolved against the page URL `page` (enough for `/x` and `./x`, `../x`).
fn join_url(page: &str, relative: &str) -> String {
    let origin_end = page.find("://").map(|i| i + 3).and_then(|s| page[s..].find('/').map(|p| s + p));
    let Some(origin_end) = origin_end else { return relative.to_string() };
    let origin = &page[..origin_end];
    if relative.starts_with('/') {
        return format!("{origin}{relative}");
    }
    let path = page[origin_end..].split(['?', '#']).next().unwrap_or("/");
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.pop(); // the page's own file name
    for seg in relative.split('/') {
        match seg {
            "." | "" => {}
            ".." => {
                if parts.len() > 1 {
                    parts.pop();
                }
            }
            s => parts.push(s),
        }
    }
    format!("{origin}{}", parts.join("/"))
}

/// Everything a run needs; defaults are the course's recipe on bert-base-uncased and GLUE MRPC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRequest {
    /// The Hub's address (`HUB`); another one serves a mirror, or a test's fake Hub (as
    /// `HF_ENDPOINT` does for the CLI).
    pub hub: String,
    pub model: Source,
    pub data: Source,
    pub task: String,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub max_steps: Option<usize>,
    pub max_train_samples: Option<usize>,
    pub max_eval_samples: Option<usize>,
    pub seed: u64,
    pub logging_steps: usize,
    /// A checkpoint every N steps; none: after each epoch.
    #[serde(default)]
    pub save_steps: Option<usize>,
    /// Batches of similar lengths (`TrainingArgs::group_by_length`).
    #[serde(default)]
    pub group_by_length: bool,
    /// LoRA's rank: train adapters of this rank beside the frozen model (and the task head whole),
    /// with peft's other defaults, instead of every weight.
    #[serde(default)]
    pub lora_r: Option<usize>,
}

/// The Hub dataset GLUE lives in.
pub const GLUE_HUB: &str = "nyu-mll/glue";

impl Default for RunRequest {
    fn default() -> Self {
        let args = TrainingArgs::default();
        RunRequest {
            hub: HUB.into(),
            model: Source::Hub(DEFAULT_MODEL.into()),
            data: Source::Hub(GLUE_HUB.into()),
            task: "mrpc".into(),
            epochs: args.num_train_epochs,
            batch: args.per_device_train_batch_size,
            lr: args.learning_rate,
            max_steps: None,
            max_train_samples: None,
            max_eval_samples: None,
            seed: args.seed,
            logging_steps: 5,
            save_steps: None,
            group_by_length: args.group_by_length,
            lora_r: None,
        }
    }
}

/// A speed measurement of the run's model on its training data: `warmup` steps not measured,
/// then `steps` measured (as `webtune bench` does natively).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BenchRequest {
    pub warmup: usize,
    pub steps: usize,
}

impl Default for BenchRequest {
    fn default() -> Self {
        BenchRequest { warmup: 2, steps: 10 }
    }
}

/// A query string, parsed: the run it describes, and whether to start it at once.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub request: RunRequest,
    pub autostart: bool,
    /// The Benchmark button's size (`bench_steps`, `bench_warmup`).
    pub bench: BenchRequest,
    /// `bench=1`: run the benchmark at once, instead of training.
    pub autobench: bool,
    /// `check=URL`: compare the model's numbers on this GPU with transformers' golden values at URL
    /// (a file `scripts/goldens.py` writes), instead of training.
    pub check: Option<String>,
    /// `view=present`: the presenter view, for a projector (large type, the charts first, the form
    /// folded away).
    pub present: bool,
}

impl Query {
    /// `pairs` are the decoded query parameters; `page` is the page's URL. An unusable value is
    /// an error naming the parameter, so a broken shared link says what is wrong with it.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>, page: &str) -> Result<Query, String> {
        let mut q =
            Query {
            request: RunRequest::default(),
            autostart: false,
            bench: BenchRequest::default(),
            autobench: false,
            check: None,
            present: false,
        };
        let r = &mut q.request;
        let (mut model_given, mut preset) = (false, None);
        fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, String> {
            value.trim().parse().map_err(|_| format!("query parameter `{key}`: `{value}` is not a valid number"))
        }
        for (key, value) in pairs {
            match key {
                "hub" => {
                    r.hub = match Source::parse(value, page) {
                        Source::Url(url) => url,
                        _ => return Err(format!("query parameter `hub`: `{value}` is not a URL")),
                    }
                }
                "model" => {
                    r.model = Source::parse(value, page);
                    model_given = true;
                }
                "preset" => {
                    let p = Preset::find(value).ok_or_else(|| {
                        format!("query parameter `preset`: `{value}` is not one of {}", Preset::keys())
                    })?;
                    preset = Some(p);
                }
                "data" => r.data = Source::parse(value, page),
                "task" => {
                    webtune::data::Task::parse(value).map_err(|e| format!("query parameter `task`: {e}"))?;
                    r.task = value.to_ascii_lowercase();
                }
                "epochs" => r.epochs = number(key, value)?,
                "batch" => r.batch = number(key, value)?,
                "lr" => r.lr = number(key, value)?,
                "max_steps" => r.max_steps = Some(number(key, value)?),
                "max_train_samples" => r.max_train_samples = Some(number(key, value)?),
                "max_eval_samples" => r.max_eval_samples = Some(number(key, value)?),
                "seed" => r.seed = number(key, value)?,
                "logging_steps" => r.logging_steps = number(key, value)?,
                "save_steps" => r.save_steps = Some(number(key, value)?),
                "lora_r" => {
                    let rank = number(key, value)?;
                    // The family does not change what a valid rank is.
                    LoraConfig::new(rank, Family::Bert).validate().map_err(|e| format!("query parameter `lora_r`: {e}"))?;
                    r.lora_r = Some(rank);
                }
                "autostart" => q.autostart = matches!(value, "1" | "true" | "yes"),
                "group_by_length" => r.group_by_length = matches!(value, "1" | "true" | "yes"),
                "bench" => q.autobench = matches!(value, "1" | "true" | "yes"),
                "bench_steps" => q.bench.steps = number(key, value)?,
                "bench_warmup" => q.bench.warmup = number(key, value)?,
                "check" => {
                    q.check = match Source::parse(value, page) {
                        Source::Url(url) => Some(url),
                        _ => return Err(format!("query parameter `check`: `{value}` is not a URL")),
                    }
                }
                "view" => {
                    q.present = match value.trim() {
                        "present" => true,
                        "" | "default" => false,
                        other => return Err(format!("query parameter `view`: `{other}` is not a view (present or default)")),
                    }
                }
                _ => {}
            }
        }
        // A link may name a preset and still say which model to use.
        if let (Some(p), false) = (preset, model_given) {
            r.model = Source::Hub(p.model.to_string());
        }
        if q.bench.steps == 0 {
            return Err("query parameter `bench_steps`: must be at least 1".into());
        }
        r.training_args().validate().map_err(|e| format!("query string: {e}"))?;
        Ok(q)
    }
}

impl RunRequest {
    pub fn training_args(&self) -> TrainingArgs {
        TrainingArgs {
            num_train_epochs: self.epochs,
            per_device_train_batch_size: self.batch,
            per_device_eval_batch_size: self.batch.max(8),
            learning_rate: self.lr,
            seed: self.seed,
            max_steps: self.max_steps,
            logging_steps: self.logging_steps,
            group_by_length: self.group_by_length,
            // Checkpoints go to the browser's private file system (the worker's `store.rs`).
            save_strategy: match self.save_steps {
                Some(n) => SaveStrategy::Steps(n),
                None => SaveStrategy::Epoch,
            },
            ..TrainingArgs::default()
        }
    }
}

/// The GPU the worker trains on, as WebGPU describes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AdapterInfo {
    pub vendor: String,
    pub architecture: String,
    pub device: String,
    pub description: String,
    pub max_buffer_size: f64,
    pub max_storage_buffer_binding_size: f64,
    pub shader_f16: bool,
    /// burn's kernels need it in a browser (see the worker's `gpu.rs`).
    pub subgroups: bool,
    /// `navigator.deviceMemory` (GiB, rounded by the browser), when it tells.
    pub device_memory_gib: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ToWorker {
    /// Picked files (if any) travel with the message.
    Start(RunRequest),
    Pause,
    Resume,
    Stop,
    Predict { text_a: String, text_b: Option<String> },
    /// Reply: `Exported`, with the fine-tuned model's files: a LoRA run's adapter folder, or
    /// (`merged`, and every full fine-tune) a whole model folder.
    Export { merged: bool },
    /// Forget the model files kept in the browser's cache. Reply: `CacheCleared`.
    ClearCache,
    /// Continue the run saved in the browser from its last checkpoint.
    ResumeSaved,
    /// Forget the saved run. Reply: `Saved(None)`.
    DiscardSaved,
    /// Measure training speed on the request's model and data. Reply: `Benched`.
    Bench(RunRequest, BenchRequest),
    /// Compare the request's model on this GPU with transformers' golden values at the URL
    /// (`webtune::parity`). Reply: `Checked`.
    Check(RunRequest, String),
    /// Download the request's model and dataset into the browser's cache (so the run works without
    /// the network) and time a few training steps of it. Reply: `Prepared`.
    Prepare(RunRequest),
}

/// A run kept in the browser, as the page offers it for resuming.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedSummary {
    pub step: usize,
    pub total_steps: usize,
    pub model: String,
    pub data: String,
    pub task: String,
    #[serde(default)]
    pub lora_r: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum FromWorker {
    /// The trainer's wasm is downloading (bytes before compression); sent by `web/worker-loader.js`
    /// before the wasm runs.
    LoadingTrainer { loaded: u64, total: Option<u64> },
    /// The worker is up and WebGPU answered.
    Ready(AdapterInfo),
    /// The browser has no usable WebGPU; the text says what to do.
    NoWebGpu(String),
    /// What the worker is doing now, in words.
    Stage(String),
    Download { file: String, loaded: u64, total: Option<u64>, cached: bool },
    /// The run's memory estimate, and for a LoRA run a full fine-tune's, to say what it saves.
    Memory(MemoryEstimate, Option<MemoryEstimate>),
    Train(Event),
    Paused,
    Resumed,
    /// A checkpoint of this step is in the browser's storage.
    Checkpointed { step: usize },
    /// The run saved in the browser (after start-up, and whenever it changes).
    Saved(Option<SavedSummary>),
    /// Something the user should know that does not stop the run.
    Warning(String),
    Finished(Report),
    Benched(BenchReport),
    Checked(ParityReport),
    /// The model and the dataset are kept; the steps timed on the way.
    Prepared(BenchReport),
    Prediction(Prediction),
    Exported,
    CacheCleared,
    /// `fatal`: the worker cannot go on (a panic, a lost device) and is replaced.
    Failed { message: String, fatal: bool },
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "http://127.0.0.1:8080/app/index.html?autostart=1";

    #[test]
    fn values_are_urls_or_hub_ids() {
        assert_eq!(Source::parse("bert-base-uncased", PAGE), Source::Hub("bert-base-uncased".into()));
        assert_eq!(Source::parse("http://x/m/", PAGE), Source::Url("http://x/m".into()));
        assert_eq!(Source::parse("/models/tiny", PAGE), Source::Url("http://127.0.0.1:8080/models/tiny".into()));
        assert_eq!(Source::parse("./m", PAGE), Source::Url("http://127.0.0.1:8080/app/m".into()));
        assert_eq!(Source::parse("../d/MRPC", PAGE), Source::Url("http://127.0.0.1:8080/d/MRPC".into()));
        assert_eq!(
            Source::Hub("bert-base-uncased".into()).file_url(HUB, "config.json", None).unwrap(),
            "https://huggingface.co/bert-base-uncased/resolve/main/config.json"
        );
        assert_eq!(
            Source::Hub(GLUE_HUB.into()).file_url(HUB, "train-00000-of-00001.parquet", Some("mrpc")).unwrap(),
            "https://huggingface.co/datasets/nyu-mll/glue/resolve/main/mrpc/train-00000-of-00001.parquet"
        );
    }

    #[test]
    fn a_shared_link_describes_a_run() {
        let q = Query::parse(
            [("model", "/m"), ("data", "/d/MRPC"), ("task", "SST2"), ("epochs", "2"), ("batch", "4"),
             ("lr", "3e-5"), ("max_steps", "20"), ("autostart", "1")],
            PAGE,
        )
        .unwrap();
        assert!(q.autostart);
        let r = q.request;
        assert_eq!(r.hub, HUB);
        assert_eq!((r.task.as_str(), r.epochs, r.batch, r.lr, r.max_steps), ("sst2", 2, 4, 3e-5, Some(20)));
        assert_eq!(r.model, Source::Url("http://127.0.0.1:8080/m".into()));
        let d = Query::parse([], PAGE).unwrap();
        assert_eq!(d.request, RunRequest::default());
        assert!(!d.autostart);
        assert_eq!(d.request.training_args().save_strategy, SaveStrategy::Epoch, "checkpoints by default");
        assert!(!d.autobench);
        let b = Query::parse([("bench", "1"), ("bench_steps", "4")], PAGE).unwrap();
        assert!(b.autobench);
        assert_eq!(b.bench, BenchRequest { warmup: 2, steps: 4 });
        assert!(Query::parse([("bench", "1"), ("bench_steps", "0")], PAGE).unwrap_err().contains("bench_steps"));
        let c = Query::parse([("save_steps", "5")], PAGE).unwrap();
        assert_eq!(c.request.training_args().save_strategy, SaveStrategy::Steps(5));
        assert!(!d.request.training_args().group_by_length, "the course's batches by default");
        assert!(Query::parse([("group_by_length", "1")], PAGE).unwrap().request.training_args().group_by_length);
        assert!(Query::parse([("save_steps", "0")], PAGE).unwrap_err().contains("save_steps"));
        assert_eq!(d.check, None);
        let check = Query::parse([("check", "/goldens/minilm.json")], PAGE).unwrap();
        assert_eq!(check.check.as_deref(), Some("http://127.0.0.1:8080/goldens/minilm.json"));
        assert!(Query::parse([("check", "minilm.json")], PAGE).unwrap_err().contains("`check`"));
        assert_eq!(d.request.lora_r, None, "every weight trained by default");
        assert_eq!(Query::parse([("lora_r", "8")], PAGE).unwrap().request.lora_r, Some(8));
    }

    #[test]
    fn a_broken_link_names_the_parameter() {
        let e = Query::parse([("batch", "eight")], PAGE).unwrap_err();
        assert!(e.contains("`batch`") && e.contains("eight"), "{e}");
        let e = Query::parse([("task", "squad")], PAGE).unwrap_err();
        assert!(e.contains("`task`"), "{e}");
        let q = Query::parse([("hub", "/fake-hub/")], PAGE).unwrap();
        assert_eq!(q.request.hub, "http://127.0.0.1:8080/fake-hub");
        let e = Query::parse([("lr", "0")], PAGE).unwrap_err();
        assert!(e.contains("learning_rate"), "{e}");
        let e = Query::parse([("lora_r", "0")], PAGE).unwrap_err();
        assert!(e.contains("`lora_r`") && e.contains("rank"), "{e}");
    }
}

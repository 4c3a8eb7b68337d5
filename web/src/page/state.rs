//! What the page shows, as signals: one `RunState` that the worker's messages update and the
//! view reads.

use leptos::prelude::*;
use webtune::bench::BenchReport;
use webtune::data::Task;
use webtune::parity::ParityReport;
use webtune::predict::Prediction;
use webtune::train::memory::MemoryEstimate;
pub use webtune::train::history::{EvalRow, LossPoint};
use webtune::train::reference::Reference;
use webtune::train::Report;

use crate::bridge::Files;
use crate::protocol::{AdapterInfo, SavedSummary};

/// The page's phase; `data-state` on the status line carries its name for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Starting,
    Ready,
    NoWebGpu,
    Loading,
    Training,
    Paused,
    Stopping,
    Finished,
    Failed,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Ready => "ready",
            Phase::NoWebGpu => "no-webgpu",
            Phase::Loading => "loading",
            Phase::Training => "training",
            Phase::Paused => "paused",
            Phase::Stopping => "stopping",
            Phase::Finished => "finished",
            Phase::Failed => "failed",
        }
    }

    pub fn is_running(self) -> bool {
        matches!(self, Phase::Loading | Phase::Training | Phase::Paused | Phase::Stopping)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    pub step: usize,
    pub total: usize,
    pub samples: usize,
    pub elapsed_s: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Download {
    pub file: String,
    pub loaded: u64,
    pub total: Option<u64>,
    pub cached: bool,
}

/// A file of the fine-tuned model, as a link the user can click.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedFile {
    pub name: String,
    pub url: String,
    pub bytes: usize,
}

#[derive(Clone, Copy)]
pub struct RunState {
    pub phase: RwSignal<Phase>,
    pub status: RwSignal<String>,
    pub adapter: RwSignal<Option<AdapterInfo>>,
    pub webgpu_error: RwSignal<Option<String>>,
    /// One entry per file fetched in this run, in order.
    pub downloads: RwSignal<Vec<Download>>,
    /// The run's memory estimate, and a full fine-tune's when the run trains LoRA.
    pub memory: RwSignal<Option<(MemoryEstimate, Option<MemoryEstimate>)>>,
    /// The trained model's download sizes when it is a LoRA run's: the adapter's, and the merged
    /// model's (bytes). Kept past a benchmark, as the model is.
    pub lora_sizes: RwSignal<Option<(u64, u64)>>,
    pub progress: RwSignal<Progress>,
    pub initialized: RwSignal<Vec<String>>,
    pub losses: RwSignal<Vec<LossPoint>>,
    pub evals: RwSignal<Vec<EvalRow>>,
    /// The label names of the run's task, by class id (the form's task may change after it starts).
    pub labels: RwSignal<Vec<String>>,
    /// The run's task, and PyTorch's scores for its recipe, where it is the course's on a model
    /// measured so and on the whole task.
    pub task: RwSignal<Option<Task>>,
    pub reference: RwSignal<Option<&'static Reference>>,
    pub report: RwSignal<Option<Report>>,
    pub trained: RwSignal<bool>,
    pub prediction: RwSignal<Option<Prediction>>,
    pub exported: RwSignal<Vec<ExportedFile>>,
    pub error: RwSignal<Option<String>>,
    pub cache_note: RwSignal<Option<String>>,
    /// The run kept in the browser's storage, which the page offers to resume.
    pub saved: RwSignal<Option<SavedSummary>>,
    /// The step of this run's latest checkpoint.
    pub checkpoint: RwSignal<Option<usize>>,
    pub warning: RwSignal<Option<String>>,
    /// The last benchmark's figures.
    pub bench: RwSignal<Option<BenchReport>>,
    /// The last check against transformers' numbers (`check=`).
    pub check: RwSignal<Option<ParityReport>>,
    /// The trainer's download while the worker starts: bytes so far, and of how many.
    pub trainer_load: RwSignal<Option<(u64, Option<u64>)>>,
}

impl RunState {
    pub fn new() -> Self {
        RunState {
            phase: RwSignal::new(Phase::Starting),
            status: RwSignal::new("Starting the training worker".into()),
            adapter: RwSignal::new(None),
            webgpu_error: RwSignal::new(None),
            downloads: RwSignal::new(Vec::new()),
            memory: RwSignal::new(None),
            lora_sizes: RwSignal::new(None),
            progress: RwSignal::new(Progress::default()),
            initialized: RwSignal::new(Vec::new()),
            losses: RwSignal::new(Vec::new()),
            evals: RwSignal::new(Vec::new()),
            labels: RwSignal::new(Vec::new()),
            task: RwSignal::new(None),
            reference: RwSignal::new(None),
            report: RwSignal::new(None),
            trained: RwSignal::new(false),
            prediction: RwSignal::new(None),
            exported: RwSignal::new(Vec::new()),
            error: RwSignal::new(None),
            cache_note: RwSignal::new(None),
            saved: RwSignal::new(None),
            checkpoint: RwSignal::new(None),
            warning: RwSignal::new(None),
            bench: RwSignal::new(None),
            check: RwSignal::new(None),
            trainer_load: RwSignal::new(None),
        }
    }

    pub fn set_phase(&self, phase: Phase, status: &str) {
        self.phase.set(phase);
        self.status.set(status.to_string());
    }

    /// Shows an error and keeps everything the run has shown so far.
    pub fn fail(&self, message: String) {
        self.error.set(Some(message.clone()));
        // The message itself is the alert below the status: once is enough.
        self.set_phase(Phase::Failed, "Failed: see the error below");
    }

    /// A new run of `task` (run_glue's name) starts from a clean slate (but the adapter and the
    /// cache stay); its scores are drawn against `reference`.
    pub fn reset_for_run(&self, task: &str, reference: Option<&'static Reference>) {
        let task = Task::parse(task).ok();
        self.labels.set(task.map(|t| t.labels().iter().map(|l| l.to_string()).collect()).unwrap_or_default());
        self.task.set(task);
        self.reference.set(reference);
        self.downloads.set(Vec::new());
        self.memory.set(None);
        self.lora_sizes.set(None);
        self.progress.set(Progress::default());
        self.initialized.set(Vec::new());
        self.losses.set(Vec::new());
        self.evals.set(Vec::new());
        self.report.set(None);
        self.trained.set(false);
        self.prediction.set(None);
        self.clear_exported();
        self.error.set(None);
        self.checkpoint.set(None);
        self.warning.set(None);
        self.bench.set(None);
        self.check.set(None);
        self.set_phase(Phase::Loading, "Starting");
    }

    /// A benchmark or a check replaces the last one's figures and leaves the trained model and its
    /// scores as they are (the worker keeps the model).
    pub fn reset_for_job(&self, stage: &str) {
        self.downloads.set(Vec::new());
        self.memory.set(None);
        self.error.set(None);
        self.warning.set(None);
        self.bench.set(None);
        self.check.set(None);
        self.set_phase(Phase::Loading, stage);
    }

    /// The download links go (a new run, or another download being prepared).
    pub fn clear_exported(&self) {
        for f in self.exported.get_untracked() {
            let _ = web_sys::Url::revoke_object_url(&f.url);
        }
        self.exported.set(Vec::new());
    }

    /// Turns exported files into download links.
    pub fn set_exported(&self, files: Files) {
        self.clear_exported();
        let mut links = Vec::new();
        for (name, bytes) in files {
            let array = js_sys::Uint8Array::from(bytes.as_slice());
            let parts = js_sys::Array::of1(&array);
            let blob = match web_sys::Blob::new_with_u8_array_sequence(&parts) {
                Ok(b) => b,
                Err(e) => return self.fail(format!("could not prepare {name} for download: {e:?}")),
            };
            match web_sys::Url::create_object_url_with_blob(&blob) {
                Ok(url) => links.push(ExportedFile { name, url, bytes: bytes.len() }),
                Err(e) => return self.fail(format!("could not prepare {name} for download: {e:?}")),
            }
        }
        self.exported.set(links);
    }
}

//! The page's end of the worker: starts it, queues messages until it is ready, turns its
//! messages into signal updates, and replaces it when it dies (keeping what the page shows).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{ErrorEvent, MessageEvent, Worker};

use super::state::{Download, EvalRow, LossPoint, Phase, RunState};
use crate::bridge::{self, Files};
use crate::protocol::{FromWorker, ToWorker};
use webtune::data::Split;
use webtune::train::Event;

/// The worker bundle's entry (`web/worker-loader.js`), next to index.html.
const WORKER_URL: &str = "./worker-loader.js";

pub struct WorkerLink {
    state: RunState,
    worker: RefCell<Option<Worker>>,
    ready: Cell<bool>,
    queue: RefCell<Vec<(ToWorker, Files)>>,
    // Kept alive as long as the worker they are attached to.
    handlers: RefCell<Vec<Closure<dyn FnMut(web_sys::Event)>>>,
    // Which worker is current: messages still queued from a replaced one are ignored.
    generation: Cell<u32>,
    // A training run (new or resumed) is under way: only then does a death concern a checkpoint.
    training: Cell<bool>,
}

impl WorkerLink {
    pub fn new(state: RunState) -> Rc<Self> {
        let link = Rc::new(WorkerLink {
            state,
            worker: RefCell::new(None),
            ready: Cell::new(false),
            queue: RefCell::new(Vec::new()),
            handlers: RefCell::new(Vec::new()),
            generation: Cell::new(0),
            training: Cell::new(false),
        });
        link.spawn();
        link
    }

    fn spawn(self: &Rc<Self>) {
        self.ready.set(false);
        let generation = self.generation.get() + 1;
        self.generation.set(generation);
        // `test_hooks=1` goes on to the worker (its `gpu.rs`), for the browser test's faults.
        let search = window().location().search().unwrap_or_default();
        let hooks = web_sys::UrlSearchParams::new_with_str(&search).ok().is_some_and(|p| p.has("test_hooks"));
        let url = if hooks { format!("{WORKER_URL}?test_hooks=1") } else { WORKER_URL.to_string() };
        let worker = match Worker::new(&url) {
            Ok(w) => w,
            Err(e) => {
                self.state.fail(format!("the training worker could not start: {e:?}"));
                return;
            }
        };
        let this = Rc::downgrade(self);
        let on_message = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
            let Some(this) = this.upgrade() else { return };
            if this.generation.get() != generation {
                return;
            }
            let event: MessageEvent = event.unchecked_into();
            match bridge::decode::<FromWorker>(&event.data()) {
                Ok((message, files)) => this.receive(message, files),
                Err(e) => this.state.fail(format!("the page received {e}")),
            }
        });
        let this = Rc::downgrade(self);
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
            let Some(this) = this.upgrade() else { return };
            if this.generation.get() != generation {
                return;
            }
            let message = event
                .dyn_ref::<ErrorEvent>()
                .map(|e| e.message())
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| format!("the worker script at {WORKER_URL} could not load"));
            this.died(format!("the training worker failed: {message}"));
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        // The old handlers may be the ones running now (a worker reporting its own death): drop
        // them only after this callback returns.
        let old = std::mem::replace(&mut *self.handlers.borrow_mut(), vec![on_message, on_error]);
        wasm_bindgen_futures::spawn_local(async move { drop(old) });
        *self.worker.borrow_mut() = Some(worker);
    }

    /// The worker is gone (a panic, a lost GPU): keep the page as it is and start a fresh one for
    /// the next run. Its fine-tuned model went with it.
    fn died(self: &Rc<Self>, message: String) {
        if let Some(w) = self.worker.borrow_mut().take() {
            w.terminate();
        }
        // The run's last checkpoint outlives the worker (it is in the browser's storage): say so,
        // and the fresh worker offers it (`report_saved`).
        let kept = match (self.training.replace(false), self.state.checkpoint.get_untracked()) {
            (false, _) => String::new(),
            (true, Some(step)) => format!("\nThe run's checkpoint at step {step} is kept, and the page offers to resume from it."),
            (true, None) => "\nNo checkpoint of this run was saved before this.".to_string(),
        };
        self.state.fail(format!("{message}{kept}"));
        self.state.trained.set(false);
        self.queue.borrow_mut().clear();
        self.spawn();
    }

    pub fn send(self: &Rc<Self>, message: ToWorker, files: Files) {
        match message {
            ToWorker::Start(_) | ToWorker::ResumeSaved => self.training.set(true),
            ToWorker::Bench(..) | ToWorker::Check(..) | ToWorker::Prepare(_) => self.training.set(false),
            _ => {}
        }
        if !self.ready.get() {
            self.queue.borrow_mut().push((message, files));
            return;
        }
        let Some(worker) = self.worker.borrow().clone() else { return };
        let (data, transfer) = bridge::encode(&message, &files);
        if let Err(e) = worker.post_message_with_transfer(&data, &transfer) {
            self.state.fail(format!("could not reach the training worker: {e:?}"));
        }
    }

    fn receive(self: &Rc<Self>, message: FromWorker, files: Files) {
        let s = &self.state;
        match message {
            FromWorker::LoadingTrainer { loaded, total } => s.trainer_load.set(Some((loaded, total))),
            FromWorker::Ready(info) => {
                s.adapter.set(Some(info));
                if s.phase.get_untracked() == Phase::Starting {
                    s.set_phase(Phase::Ready, "Ready");
                }
                self.flush();
            }
            FromWorker::NoWebGpu(reason) => {
                s.webgpu_error.set(Some(reason.clone()));
                s.set_phase(Phase::NoWebGpu, "No WebGPU");
                self.queue.borrow_mut().clear();
                s.error.set(Some(reason));
                // Messages still get an answer (an error) rather than vanishing.
                self.ready.set(true);
            }
            FromWorker::Stage(text) => {
                s.set_phase(Phase::Loading, &text);
            }
            FromWorker::Download { file, loaded, total, cached } => {
                s.downloads.update(|list| {
                    let d = Download { file, loaded, total, cached };
                    match list.iter_mut().find(|x| x.file == d.file) {
                        Some(x) => *x = d,
                        None => list.push(d),
                    }
                });
            }
            FromWorker::Memory(estimate, full) => {
                // f32 weights: the adapter file holds the trained tensors, the merged model all but the adapters.
                s.lora_sizes.set(full.map(|f| (4 * estimate.trainable_parameters, 4 * f.parameters)));
                s.memory.set(Some((estimate, full)));
            }
            FromWorker::Train(event) => self.train_event(event),
            FromWorker::Paused => s.set_phase(Phase::Paused, "Paused"),
            FromWorker::Checkpointed { step } => s.checkpoint.set(Some(step)),
            FromWorker::Saved(saved) => {
                // Nothing saved (discarded here or in another tab, or a finished run's removed).
                if saved.is_none() {
                    s.checkpoint.set(None);
                }
                s.saved.set(saved);
            }
            FromWorker::Warning(text) => s.warning.set(Some(text)),
            FromWorker::Resumed => s.set_phase(Phase::Training, "Training"),
            FromWorker::Finished(report) => {
                self.training.set(false);
                // A finished run's checkpoint is removed; a stopped one's stays, to resume.
                if !report.stopped {
                    s.checkpoint.set(None);
                }
                let text = if report.stopped { "Stopped; the model so far is ready" } else { "Finished" };
                s.report.set(Some(report));
                s.trained.set(true);
                s.set_phase(Phase::Finished, text);
            }
            FromWorker::Benched(report) => {
                s.bench.set(Some(report));
                s.set_phase(Phase::Finished, "Benchmark done");
            }
            FromWorker::Prepared(report) => {
                s.bench.set(Some(report));
                s.set_phase(Phase::Finished, "Ready for offline: the model and the dataset are kept in this browser");
            }
            FromWorker::Checked(report) => {
                s.check.set(Some(report));
                s.set_phase(Phase::Finished, "Check done");
            }
            FromWorker::Prediction(p) => s.prediction.set(Some(p)),
            FromWorker::Exported => s.set_exported(files),
            FromWorker::CacheCleared => s.cache_note.set(Some("Downloaded models forgotten".into())),
            FromWorker::Failed { message, fatal } => {
                if fatal {
                    self.died(message);
                } else {
                    // A run that failed can still be followed by its worker's death (a lost GPU
                    // fails the step first): that still concerns the run's checkpoint.
                    s.fail(message);
                }
            }
        }
    }

    fn train_event(&self, event: Event) {
        let s = &self.state;
        match event {
            Event::Started { total_steps, num_examples, initialized, resumed_from_step, .. } => {
                // PyTorch's scores compare only with a run on the whole task.
                if s.task.get_untracked().is_none_or(|t| num_examples != t.published_size(Split::Train)) {
                    s.reference.set(None);
                }
                // A resumed run replays its history next: the curve and scores are drawn again.
                s.progress.update(|p| {
                    p.total = total_steps;
                    p.step = resumed_from_step.unwrap_or(0);
                });
                s.losses.set(Vec::new());
                s.evals.set(Vec::new());
                s.initialized.set(initialized);
                s.set_phase(Phase::Training, "Training (the first steps also compile the GPU kernels)");
            }
            Event::Step { step, total_steps, samples, elapsed_s, .. } => {
                s.progress.update(|p| {
                    p.step = step;
                    p.total = total_steps;
                    p.samples = samples;
                    p.elapsed_s = elapsed_s;
                });
                if s.phase.get_untracked() == Phase::Training && step == 1 {
                    s.set_phase(Phase::Training, "Training");
                }
            }
            Event::Log { step, loss, learning_rate, .. } => {
                s.losses.update(|l| l.push(LossPoint { step, loss, learning_rate }));
            }
            Event::Evaluated { step, epoch, metrics, mismatched, confusion, mistakes } => {
                if s.task.get_untracked().is_none_or(|t| metrics.examples != t.published_size(Split::Validation)) {
                    s.reference.set(None);
                }
                s.evals.update(|e| e.push(EvalRow { step, epoch, metrics, mismatched, confusion, mistakes }));
            }
        }
    }

    fn flush(self: &Rc<Self>) {
        self.ready.set(true);
        let queued: Vec<_> = self.queue.borrow_mut().drain(..).collect();
        for (message, files) in queued {
            self.send(message, files);
        }
    }
}

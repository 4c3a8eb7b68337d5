//! The worker: takes `ToWorker` messages, runs one training session at a time on WebGPU, reports
//! `FromWorker` messages, and keeps the fine-tuned model for "Try it" and "Download".

mod fetch;
mod gpu;
mod session;
mod store;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use wasm_bindgen_futures::spawn_local;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use crate::bridge::{self, Files};
use crate::protocol::{FromWorker, ToWorker};

/// Sends a message to the page.
pub fn post(message: &FromWorker, files: &Files) {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let (data, transfer) = bridge::encode(message, files);
    if let Err(e) = scope.post_message_with_transfer(&data, &transfer) {
        web_sys::console::error_2(&"webtune worker: postMessage failed".into(), &e);
    }
}

fn fail(message: impl Into<String>) {
    post(&FromWorker::Failed { message: message.into(), fatal: false }, &Vec::new());
}

/// Pause and stop requests, read by the training loop between steps.
#[derive(Default)]
pub struct Controls {
    pub paused: Cell<bool>,
    pub stop: Cell<bool>,
}

#[derive(Default)]
struct Worker {
    controls: Rc<Controls>,
    running: Cell<bool>,
    device: RefCell<Option<burn::tensor::Device>>,
    trained: RefCell<Option<Rc<session::Trained>>>,
}

impl Worker {
    /// A new run (`Some`: the request and the picked files) or the saved one (`None`).
    fn train(self: &Rc<Self>, new: Option<(crate::protocol::RunRequest, Files)>) {
        if self.running.get() {
            return fail("a run is already going; stop it first");
        }
        self.running.set(true);
        self.controls.paused.set(false);
        self.controls.stop.set(false);
        let this = self.clone();
        spawn_local(async move {
            let device = this.device.borrow().clone();
            let result = match new {
                Some((request, files)) => session::run(request, files, device, &this.controls).await,
                None => session::resume(device, &this.controls).await,
            };
            match result {
                Ok((trained, device)) => {
                    *this.trained.borrow_mut() = Some(Rc::new(trained));
                    *this.device.borrow_mut() = Some(device);
                }
                Err(e) => fail(e),
            }
            this.running.set(false);
            report_saved().await;
        });
    }

    /// A one-off job on the worker's device (a benchmark, a check), refused while a run goes on;
    /// the device it opened stays for what follows.
    fn job<T: 'static, F: Future<Output = Result<(T, burn::tensor::Device), String>> + 'static>(
        self: &Rc<Self>,
        work: impl FnOnce(Option<burn::tensor::Device>) -> F + 'static,
        reply: impl FnOnce(T) -> FromWorker + 'static,
    ) {
        if self.running.get() {
            return fail("a run is already going; stop it first");
        }
        self.running.set(true);
        let this = self.clone();
        spawn_local(async move {
            let device = this.device.borrow().clone();
            match work(device).await {
                Ok((value, device)) => {
                    *this.device.borrow_mut() = Some(device);
                    post(&reply(value), &Vec::new());
                }
                Err(e) => fail(e),
            }
            this.running.set(false);
        });
    }

    fn handle(self: &Rc<Self>, message: ToWorker, files: Files) {
        match message {
            ToWorker::Bench(request, size) => {
                self.job(move |device| session::bench(request, size, files, device), FromWorker::Benched)
            }
            ToWorker::Check(request, golden) => {
                self.job(move |device| session::check(request, golden, files, device), FromWorker::Checked)
            }
            ToWorker::Prepare(request) => {
                self.job(move |device| session::prepare(request, files, device), FromWorker::Prepared)
            }
            ToWorker::Start(request) => self.train(Some((request, files))),
            ToWorker::ResumeSaved => self.train(None),
            ToWorker::DiscardSaved => spawn_local(async {
                match store::lock().await {
                    Some(_lock) => {
                        if let Err(e) = store::clear().await {
                            fail(e);
                        }
                    }
                    None => fail(format!("{}: it cannot be discarded here", store::ANOTHER_TAB)),
                }
                report_saved().await;
            }),
            ToWorker::Pause => self.controls.paused.set(true),
            ToWorker::Resume => self.controls.paused.set(false),
            ToWorker::Stop => {
                self.controls.stop.set(true);
                self.controls.paused.set(false);
            }
            ToWorker::Predict { text_a, text_b } => {
                let Some(trained) = self.trained.borrow().clone() else {
                    return fail("there is no fine-tuned model yet: train one first");
                };
                spawn_local(async move {
                    match trained.predict(&text_a, text_b.as_deref()).await {
                        Ok(p) => post(&FromWorker::Prediction(p), &Vec::new()),
                        Err(e) => fail(format!("Try it: {e}")),
                    }
                });
            }
            ToWorker::ClearCache => spawn_local(async {
                fetch::clear_cache().await;
                post(&FromWorker::CacheCleared, &Vec::new());
            }),
            ToWorker::Export { merged } => {
                let Some(trained) = self.trained.borrow().clone() else {
                    return fail("there is no fine-tuned model yet: train one first");
                };
                spawn_local(async move {
                    match trained.export(merged).await {
                        Ok(files) => post(&FromWorker::Exported, &files),
                        Err(e) => fail(format!("Download: {e}")),
                    }
                });
            }
        }
    }
}

/// Tells the page which run, if any, can be resumed.
async fn report_saved() {
    match store::saved().await {
        Ok(saved) => post(&FromWorker::Saved(saved), &Vec::new()),
        Err(e) => post(&FromWorker::Warning(e), &Vec::new()),
    }
}

/// Forwards burn's and wgpu's warnings and errors (a WGSL compilation failure, say) to the
/// browser console, where they would otherwise vanish.
struct ConsoleLog;

impl log::Log for ConsoleLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            let text = format!("{} {}: {}", record.level(), record.target(), record.args());
            match record.level() {
                log::Level::Error => web_sys::console::error_1(&text.into()),
                _ => web_sys::console::warn_1(&text.into()),
            }
        }
    }

    fn flush(&self) {}
}

/// What the page shows for a panic: a fault the user can act on (the GPU out of memory: a
/// buffer the driver refused, reported by wgpu) in plain words with what to change, anything
/// else as an internal error with its place in the code, for a bug report.
fn panic_message(info: &std::panic::PanicHookInfo) -> String {
    let payload = info.payload_as_str().unwrap_or("");
    let lower = payload.to_lowercase();
    if lower.contains("out of memory") || lower.contains("outofmemory") {
        return format!(
            "the GPU ran out of memory ({}): start a new run with a smaller batch size or a smaller model \
             (resuming keeps the run's batch size)",
            payload.trim()
        );
    }
    let mut message = format!("the trainer stopped on an internal error: {info}");
    if message.contains("subgroups") {
        message.push_str("\n(The GPU kernels need WebGPU's `subgroups` feature: use Chrome or Edge 134 or later.)");
    }
    message
}

/// The worker's entry point: installs the message handler and reports the adapter.
pub fn start() {
    if log::set_logger(&ConsoleLog).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
    // A panic aborts this wasm instance (panic=abort): tell the page first, so it can show the
    // reason and start a fresh worker while keeping what the run already showed. The page says
    // whether a checkpoint survives (it knows; this instance is past asking).
    std::panic::set_hook(Box::new(|info| {
        // Events the browser still delivers into the aborted instance (a refused buffer is followed
        // by an error for every command that used it) panic again: the first reason is the news.
        static TOLD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if TOLD.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let message = panic_message(info);
        web_sys::console::error_1(&format!("{info}").into());
        post(&FromWorker::Failed { message, fatal: true }, &Vec::new());
    }));
    gpu::request_subgroups();
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let worker = Rc::new(Worker::default());
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        match bridge::decode::<ToWorker>(&event.data()) {
            Ok((message, files)) => worker.handle(message, files),
            Err(e) => fail(format!("the worker received {e}")),
        }
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    spawn_local(async {
        match gpu::adapter_info().await {
            Ok(info) => {
                post(&FromWorker::Ready(info), &Vec::new());
                report_saved().await;
            }
            Err(reason) => post(&FromWorker::NoWebGpu(reason), &Vec::new()),
        }
    });
}

//! The page: the run's settings (from the form or the query string), the device, live progress,
//! the loss curve, scores per epoch, "Try it" and "Download". Everything that trains lives in the
//! worker; this side only sends requests and draws what comes back.

mod chart;
mod link;
mod mistakes;
mod plan;
mod shell;
mod state;

use std::rc::Rc;

use leptos::html::Input;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen_futures::JsFuture;

use webtune::data::Task;
use crate::bridge::Files;
use crate::plan::{Estimate, PRESETS, Preset, Speed, estimate, steps};
use crate::protocol::{BenchRequest, Query, RunRequest, Source, ToWorker};
use chart::Charts;
use link::WorkerLink;
use mistakes::Mistakes;
use shell::Shell;
use state::{Phase, RunState};

const QUERY_KEYS: [&str; 22] = [
    "hub", "preset", "model", "data", "task", "epochs", "batch", "lr", "max_steps", "max_train_samples", "max_eval_samples",
    "seed", "logging_steps", "save_steps", "group_by_length", "lora_r", "autostart", "bench", "bench_steps", "bench_warmup",
    "check", "view",
];

/// The query string as (key, value) pairs of the keys the page knows.
fn query_pairs() -> Vec<(String, String)> {
    let search = window().location().search().unwrap_or_default();
    let Ok(params) = web_sys::UrlSearchParams::new_with_str(&search) else { return Vec::new() };
    QUERY_KEYS
        .iter()
        .filter_map(|k| params.get(k).map(|v| (k.to_string(), v)))
        .collect()
}

fn source_text(source: &Source) -> String {
    match source {
        Source::Hub(id) | Source::Url(id) => id.clone(),
        Source::Files => String::new(),
    }
}

fn opt_text(v: Option<usize>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// The form: every field as text, parsed into a request when the user presses Train.
#[derive(Clone, Copy)]
struct Form {
    hub: RwSignal<String>,
    model: RwSignal<String>,
    data: RwSignal<String>,
    task: RwSignal<String>,
    epochs: RwSignal<String>,
    batch: RwSignal<String>,
    lr: RwSignal<String>,
    max_steps: RwSignal<String>,
    max_train_samples: RwSignal<String>,
    max_eval_samples: RwSignal<String>,
    seed: RwSignal<String>,
    logging_steps: RwSignal<String>,
    save_steps: RwSignal<String>,
    group_by_length: RwSignal<bool>,
    lora_r: RwSignal<String>,
}

impl Form {
    fn new(r: &RunRequest) -> Self {
        Form {
            hub: RwSignal::new(r.hub.clone()),
            model: RwSignal::new(source_text(&r.model)),
            data: RwSignal::new(source_text(&r.data)),
            task: RwSignal::new(r.task.clone()),
            epochs: RwSignal::new(r.epochs.to_string()),
            batch: RwSignal::new(r.batch.to_string()),
            lr: RwSignal::new(r.lr.to_string()),
            max_steps: RwSignal::new(opt_text(r.max_steps)),
            max_train_samples: RwSignal::new(opt_text(r.max_train_samples)),
            max_eval_samples: RwSignal::new(opt_text(r.max_eval_samples)),
            seed: RwSignal::new(r.seed.to_string()),
            logging_steps: RwSignal::new(r.logging_steps.to_string()),
            save_steps: RwSignal::new(opt_text(r.save_steps)),
            group_by_length: RwSignal::new(r.group_by_length),
            lora_r: RwSignal::new(opt_text(r.lora_r)),
        }
    }

    /// The request, through the same parser as a shared link, so both say the same about bad values.
    fn request(&self, page: &str) -> Result<RunRequest, String> {
        let fields = [
            ("hub", self.hub), ("model", self.model), ("data", self.data), ("task", self.task), ("epochs", self.epochs),
            ("batch", self.batch), ("lr", self.lr), ("max_steps", self.max_steps),
            ("max_train_samples", self.max_train_samples), ("max_eval_samples", self.max_eval_samples),
            ("seed", self.seed), ("logging_steps", self.logging_steps), ("save_steps", self.save_steps),
            ("lora_r", self.lora_r),
        ];
        let values: Vec<(&str, String)> = fields
            .iter()
            .map(|(k, s)| (*k, s.get_untracked().trim().to_string()))
            .filter(|(_, v)| !v.is_empty())
            .chain(self.group_by_length.get_untracked().then(|| ("group_by_length", "1".to_string())))
            .collect();
        Query::parse(values.iter().map(|(k, v)| (*k, v.as_str())), page).map(|q| q.request)
    }

    /// The request, subscribing the caller to every field; `None` while a field is unusable.
    fn track_request(&self, page: &str) -> Option<RunRequest> {
        self.track();
        self.request(page).ok()
    }

    /// Subscribes the calling effect to every field.
    fn track(&self) {
        for s in [self.hub, self.model, self.data, self.task, self.epochs, self.batch, self.lr, self.max_steps,
            self.max_train_samples, self.max_eval_samples, self.seed, self.logging_steps, self.save_steps, self.lora_r] {
            s.track();
        }
        self.group_by_length.track();
    }
}

/// The bytes of the files picked in a file input, named `<prefix><file name>`.
async fn read_picked(input: Option<web_sys::HtmlInputElement>, prefix: &str) -> Result<Files, String> {
    let mut out = Vec::new();
    let Some(list) = input.and_then(|i| i.files()) else { return Ok(out) };
    for i in 0..list.length() {
        let Some(file) = list.item(i) else { continue };
        let buffer = JsFuture::from(file.array_buffer())
            .await
            .map_err(|e| format!("{}: could not be read ({e:?})", file.name()))?;
        out.push((format!("{prefix}{}", file.name()), js_sys::Uint8Array::new(&buffer).to_vec()));
    }
    Ok(out)
}

fn picked_count(input: &NodeRef<Input>) -> u32 {
    input.get_untracked().and_then(|i| i.files()).map(|f| f.length()).unwrap_or(0)
}

fn mb(bytes: u64) -> String {
    match bytes {
        b if b < 1_000 => format!("{b} B"),
        b if b < 1_000_000 => format!("{:.1} kB", b as f64 / 1e3),
        b => format!("{:.1} MB", b as f64 / 1e6),
    }
}

fn count(n: u64) -> String {
    match n {
        n if n < 1_000_000 => format!("{:.1} thousand", n as f64 / 1e3),
        n => format!("{:.1} million", n as f64 / 1e6),
    }
}

fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

/// What the page asks the worker to do with the form's model and data.
enum Job {
    Train,
    /// The Benchmark button, or `bench=1`.
    Bench(BenchRequest),
    /// `check=URL`: compare with transformers' golden values at URL.
    Check(String),
    /// "Prepare for offline": keep the model and the dataset, time a few steps.
    Prepare,
}

/// "about 12 min", for an estimate.
fn duration(seconds: f64) -> String {
    match seconds {
        s if s < 90.0 => format!("about {:.0} s", s.max(1.0)),
        s if s < 5400.0 => format!("about {:.0} min", s / 60.0),
        s => format!("about {:.1} h", s / 3600.0),
    }
}

/// The plan line: what Train will download and about how long it will take here.
fn plan_text(files: &[plan::PlannedFile], preset: Option<&Preset>, steps: Option<usize>, estimate: &Estimate) -> String {
    let to_fetch: u64 = files.iter().filter(|f| !f.kept).filter_map(|f| f.bytes).sum();
    let kept: u64 = files.iter().filter(|f| f.kept).filter_map(|f| f.bytes).sum();
    let unknown: Vec<&str> =
        files.iter().filter(|f| !f.kept && !f.missing && f.bytes.is_none()).map(|f| f.name.as_str()).collect();
    let missing: Vec<&str> = files.iter().filter(|f| f.missing).map(|f| f.name.as_str()).collect();
    if !missing.is_empty() {
        return format!("Not found where the form points: {} (the run needs it)", missing.join(", "));
    }
    let mut text = if files.is_empty() {
        "This run reads the picked files: nothing to download".to_string()
    } else if to_fetch == 0 && unknown.is_empty() {
        format!("Everything this run reads is in this browser ({})", mb(kept))
    } else if to_fetch == 0 && kept == 0 {
        match preset {
            Some(p) => format!("This run downloads about {} (the server could not be asked for the exact sizes)", mb(p.bytes)),
            None => "The server could not be asked what this run downloads".to_string(),
        }
    } else {
        let mut t = format!("This run downloads {}", mb(to_fetch));
        if !unknown.is_empty() {
            t += &format!(" and {} of unknown size", unknown.join(", "));
        }
        if kept > 0 {
            t += &format!(" ({} more already in this browser)", mb(kept));
        }
        t
    };
    if let Some(n) = steps {
        text += &format!(" · {n} training steps");
    }
    text += &match estimate {
        Estimate::Measured { seconds } => format!(", {} here (measured on this device)", duration(*seconds)),
        Estimate::Scaled { seconds, from } => {
            format!(", roughly {} here (scaled from {from}'s speed on this device)", duration(*seconds))
        }
        Estimate::Unknown => ": the time here is not known yet; Prepare for offline or Benchmark times a few steps".into(),
    };
    text
}

/// How close a check's values must be to transformers' (the parity tests' tolerance).
const PARITY_TOLERANCE: f32 = 1e-4;

#[component]
pub fn App() -> impl IntoView {
    let state = RunState::new();
    let page = window().location().href().unwrap_or_default();
    let pairs = query_pairs();
    let query = Query::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), &page);
    let (request, autostart, bench, autobench, check, present) = match &query {
        Ok(q) => (q.request.clone(), q.autostart, q.bench, q.autobench, q.check.clone(), q.present),
        Err(e) => {
            state.fail(e.clone());
            (RunRequest::default(), false, BenchRequest::default(), false, None, false)
        }
    };
    // The presenter view is the body's class: style.css lays the page out for a projector.
    let show_settings = RwSignal::new(!present);
    if present {
        if let Some(body) = document().body() {
            let _ = body.class_list().add_1("present");
        }
    }
    let form = Form::new(&request);
    let link = StoredValue::new_local(WorkerLink::new(state));
    let shell = Shell::start();
    let model_files: NodeRef<Input> = NodeRef::new();
    let data_files: NodeRef<Input> = NodeRef::new();
    // The plan: the run's files as the browser finds them, the speeds measured here, and a count
    // that changes whenever what is kept or measured may have changed.
    let planned: RwSignal<Option<Vec<plan::PlannedFile>>> = RwSignal::new(None);
    let speeds: RwSignal<Vec<Speed>> = RwSignal::new(Vec::new());
    let plan_epoch = RwSignal::new(0u64);
    // The model of the job under way, whose speed a benchmark or a run measures.
    let job_model = StoredValue::new(String::new());
    // Whether it trains LoRA: its speed is not a full fine-tune's, which the estimates are made of.
    let job_lora = StoredValue::new(false);

    // Train, measure speed or check the numbers with the form's model and data.
    let start = {
        let page = page.clone();
        move |job: Job| {
            let mut request = match form.request(&page) {
                Ok(r) => r,
                Err(e) => return state.fail(e),
            };
            let link: Rc<WorkerLink> = link.get_value();
            match &job {
                Job::Train => state.reset_for_run(&request.task, run_reference(&request, picked_count(&model_files) > 0)),
                Job::Bench(_) => state.reset_for_job("Starting the benchmark"),
                Job::Check(_) => state.reset_for_job("Starting the check"),
                Job::Prepare => state.reset_for_job("Preparing for offline"),
            }
            job_model.set_value(form.model.get_untracked().trim().to_string());
            job_lora.set_value(request.lora_r.is_some());
            let (model_input, data_input) = (model_files.get_untracked(), data_files.get_untracked());
            if picked_count(&model_files) > 0 {
                request.model = Source::Files;
            }
            if picked_count(&data_files) > 0 {
                request.data = Source::Files;
            }
            spawn_local(async move {
                let mut files = match read_picked(model_input, "model/").await {
                    Ok(f) => f,
                    Err(e) => return state.fail(e),
                };
                match read_picked(data_input, "data/").await {
                    Ok(f) => files.extend(f),
                    Err(e) => return state.fail(e),
                }
                let message = match job {
                    Job::Train => ToWorker::Start(request),
                    Job::Bench(size) => ToWorker::Bench(request, size),
                    Job::Check(golden) => ToWorker::Check(request, golden),
                    Job::Prepare => ToWorker::Prepare(request),
                };
                link.send(message, files);
            });
        }
    };
    if let Some(golden) = check {
        start(Job::Check(golden));
    } else if autobench {
        start(Job::Bench(bench));
    } else if autostart {
        start(Job::Train);
    }
    let send = move |message: ToWorker| link.get_value().send(message, Vec::new());

    // The speeds measured with this adapter, once the worker has named it; a benchmark (or
    // Prepare's few steps) and a run long enough to mean something add to them.
    Effect::new(move |_| {
        if let Some(a) = state.adapter.get() {
            speeds.set(plan::speeds(&a));
        }
    });
    let measured = move |samples_per_s: f64| {
        if let Some(a) = state.adapter.get_untracked() {
            let model = job_model.get_value();
            if !model.is_empty() && !job_lora.get_value() {
                speeds.set(plan::remember(&a, &model, samples_per_s));
            }
        }
        plan_epoch.update(|n| *n += 1);
    };
    Effect::new(move |_| {
        if let Some(b) = state.bench.get() {
            measured(b.samples_per_s);
        }
    });
    Effect::new(move |_| {
        // The first steps compile the GPU's kernels: a short run would make every estimate long.
        match state.report.get() {
            Some(r) if !r.stopped && r.steps >= 50 => measured(r.train_samples_per_second),
            Some(_) => plan_epoch.update(|n| *n += 1),
            None => {}
        }
    });
    Effect::new(move |_| {
        if state.cache_note.get().is_some() {
            plan_epoch.update(|n| *n += 1);
        }
    });
    // The files of the form's run, looked up a moment after the form stops changing.
    let plan_generation = StoredValue::new(0u64);
    Effect::new({
        let page = page.clone();
        move |_| {
            // Only these change which files a run reads; the other fields change its steps.
            for s in [form.hub, form.model, form.data, form.task] {
                s.track();
            }
            plan_epoch.track();
            let generation = plan_generation.get_value() + 1;
            plan_generation.set_value(generation);
            let Ok(mut request) = form.request(&page) else { return planned.set(None) };
            if picked_count(&model_files) > 0 {
                request.model = Source::Files;
            }
            if picked_count(&data_files) > 0 {
                request.data = Source::Files;
            }
            spawn_local(async move {
                gloo_timers::future::TimeoutFuture::new(300).await;
                if plan_generation.get_value() != generation {
                    return;
                }
                let files = plan::files(&request).await;
                if plan_generation.get_value() == generation {
                    planned.set(Some(files));
                }
            });
        }
    });
    let run_steps = {
        let page = page.clone();
        move || form.track_request(&page).and_then(|r| steps(&r))
    };
    let run_estimate = {
        let run_steps = run_steps.clone();
        move |model: &str| match run_steps() {
            Some((_, samples)) => speeds.with(|s| estimate(model, samples, s)),
            None => Estimate::Unknown,
        }
    };
    let preset_label = {
        let run_estimate = run_estimate.clone();
        move |p: &Preset| {
            let time = match run_estimate(p.model) {
                Estimate::Measured { seconds } => format!(" · {} here", duration(seconds)),
                Estimate::Scaled { seconds, .. } => format!(" · roughly {} here", duration(seconds)),
                Estimate::Unknown => String::new(),
            };
            format!("{} · {}{time}", p.title, mb(p.bytes))
        }
    };

    let phase = move || state.phase.get();
    let running = move || phase().is_running();
    let is_pair = move || Task::parse(&form.task.get()).map_or(true, Task::is_pair);
    let text_a = RwSignal::new(String::from("The company said profit rose 5 percent."));
    let text_b = RwSignal::new(String::from("Profit at the company increased by 5 percent, it said."));

    let progress = move || state.progress.get();
    let rate = move || {
        let p = progress();
        if p.elapsed_s > 0.0 { p.samples as f64 / p.elapsed_s } else { 0.0 }
    };
    let eta = move || {
        let p = progress();
        if p.step == 0 { return String::from("–") }
        clock(p.elapsed_s / p.step as f64 * (p.total.saturating_sub(p.step)) as f64)
    };
    let last_loss = move || state.losses.with(|l| l.last().map(|p| p.loss));

    let field = move |label: &'static str, id: &'static str, signal: RwSignal<String>| {
        view! {
            <label for=id>{label}</label>
            <input id=id type="text" prop:value=move || signal.get()
                on:input=move |ev| signal.set(event_target_value(&ev)) prop:disabled=running />
        }
    };

    view! {
        <header>
            <h1>"webtune"</h1>
            <p class="tagline">"Fine-tune BERT for sentence classification, in this tab, on your GPU."</p>
        </header>

        <section class="device" data-testid="device">
            <h2>"Device"</h2>
            {move || match (state.adapter.get(), state.webgpu_error.get()) {
                (_, Some(reason)) => view! { <p class="error" data-testid="no-webgpu">{reason}</p> }.into_any(),
                (Some(a), None) => view! {
                    <p data-testid="adapter" data-vendor=a.vendor.clone() data-architecture=a.architecture.clone()>
                        {format!("{} {} {}", a.vendor, a.architecture, a.description).trim().to_string()}
                        " · largest buffer " {mb(a.max_buffer_size.min(a.max_storage_buffer_binding_size) as u64)}
                        " · shader-f16 " {if a.shader_f16 { "yes" } else { "no" }}
                        " · subgroups " {if a.subgroups { "yes" } else { "no" }}
                    </p>
                }.into_any(),
                (None, None) => match state.trainer_load.get() {
                    Some((loaded, Some(total))) if loaded >= total => {
                        view! { <p data-testid="trainer-load" data-loaded=loaded data-total=total>
                            "The trainer is loaded (" {mb(total)} "); asking the browser for WebGPU…"</p> }.into_any()
                    }
                    Some((loaded, total)) => view! {
                        <p data-testid="trainer-load" data-loaded=loaded data-total=total.unwrap_or(0)>
                            "Loading the trainer: " {mb(loaded)}
                            {total.map(|t| format!(" of {}", mb(t)))}
                            " " <progress max=total.unwrap_or(0) as f64 value=loaded as f64></progress>
                        </p>
                    }.into_any(),
                    None => view! { <p>"Loading the trainer…"</p> }.into_any(),
                },
            }}
            <p class="shell" data-testid="offline" data-offline=move || shell.offline.get().to_string()>
                {move || match (shell.offline.get(), shell.unavailable.get()) {
                    (true, _) => "This page is kept in the browser: it opens without the network.".to_string(),
                    (false, Some(why)) => why,
                    (false, None) => String::new(),
                }}
            </p>
            {move || shell.update.get().then(|| view! {
                <p class="update" data-testid="update">
                    "A new version of webtune has been downloaded. "
                    <button data-testid="take-update" on:click=move |_| shell.take_update() prop:disabled=running>
                        "Reload into it"
                    </button>
                    {move || running().then_some(" (after this run: a reload would stop it)")}
                </p>
            })}
        </section>

        <section class="settings">
            <h2>"Run"
                {present.then(|| view! {
                    " " <button class="secondary" data-testid="show-settings"
                        on:click=move |_| show_settings.update(|s| *s = !*s)>
                        {move || if show_settings.get() { "Hide the settings" } else { "Show the settings" }}</button>
                })}
            </h2>
            <div class="grid" class:folded=move || !show_settings.get()>
                <label for="preset">"Model"</label>
                <select id="preset" data-testid="preset" prop:disabled=running
                    prop:value=move || Preset::of_model(&form.model.get()).map(|p| p.key).unwrap_or("other")
                    on:change=move |ev| {
                        if let Some(p) = Preset::find(&event_target_value(&ev)) {
                            form.model.set(p.model.to_string());
                        }
                    }>
                    {PRESETS.iter().map(|p| {
                        let label = preset_label.clone();
                        view! { <option value=p.key>{move || label(p)}</option> }
                    }).collect_view()}
                    <option value="other">"Another model: its Hub id or URL below"</option>
                </select>
                {field("Model (Hub id or URL)", "model", form.model)}
                <label for="model-files">"…or model files"</label>
                <input id="model-files" type="file" multiple node_ref=model_files prop:disabled=running
                    on:change=move |_| plan_epoch.update(|n| *n += 1)
                    title="config.json, model.safetensors, tokenizer.json or vocab.txt" />
                <label for="task">"Task"</label>
                <select id="task" prop:value=move || form.task.get()
                    on:change=move |ev| form.task.set(event_target_value(&ev)) prop:disabled=running>
                    {Task::ALL.into_iter().map(|t| view! { <option value=t.name()>{task_title(t)}</option> }).collect_view()}
                </select>
                {field("Dataset (Hub or URL of a GLUE folder)", "data", form.data)}
                <label for="data-files">"…or dataset files"</label>
                <input id="data-files" type="file" multiple accept=".tsv,.parquet" node_ref=data_files prop:disabled=running
                    on:change=move |_| plan_epoch.update(|n| *n += 1)
                    title="train.tsv and dev.tsv" />
                {field("Epochs", "epochs", form.epochs)}
                {field("Batch size", "batch", form.batch)}
                {field("Learning rate", "lr", form.lr)}
                {field("Max steps (optional)", "max_steps", form.max_steps)}
                {field("Training examples (optional)", "max_train_samples", form.max_train_samples)}
                {field("Validation examples (optional)", "max_eval_samples", form.max_eval_samples)}
                {field("Seed", "seed", form.seed)}
                {field("Checkpoint every N steps (optional; default: each epoch)", "save_steps", form.save_steps)}
                <label for="group_by_length">"Group batches by length (faster; not the course's recipe)"</label>
                <input id="group_by_length" type="checkbox" prop:checked=move || form.group_by_length.get()
                    on:change=move |ev| form.group_by_length.set(event_target_checked(&ev)) prop:disabled=running />
                {field("LoRA rank (optional: small adapters trained beside the frozen model, e.g. 8; \
                    they usually want a higher learning rate, e.g. 3e-4)", "lora_r", form.lora_r)}
            </div>
            {move || planned.get().map(|files| {
                let (n, est) = (run_steps().map(|(n, _)| n), run_estimate(&form.model.get()));
                let sum = |kept: bool| files.iter().filter(|f| f.kept == kept).filter_map(|f| f.bytes).sum::<u64>();
                let unknown = files.iter().filter(|f| !f.kept && !f.missing && f.bytes.is_none()).count();
                let missing: Vec<String> = files.iter().filter(|f| f.missing).map(|f| f.name.clone()).collect();
                view! {
                    <p class="plan" data-testid="plan" data-download-bytes=sum(false) data-kept-bytes=sum(true)
                        data-unknown=unknown data-missing=missing.join(" ")
                        data-steps=n.unwrap_or(0) data-estimate=est.kind()
                        data-seconds=est.seconds().map(|s| format!("{s:.1}")).unwrap_or_default()>
                        {plan_text(&files, Preset::of_model(&form.model.get()), n, &est)}
                    </p>
                }
            })}
            <div class="buttons">
                <button data-testid="train" prop:disabled=move || running() || phase() == Phase::Starting
                    on:click={ let start = start.clone(); move |_| start(Job::Train) }>"Train"</button>
                <button data-testid="pause" prop:disabled=move || phase() != Phase::Training
                    on:click=move |_| send(ToWorker::Pause)>"Pause"</button>
                <button data-testid="resume" prop:disabled=move || phase() != Phase::Paused
                    on:click=move |_| send(ToWorker::Resume)>"Resume"</button>
                <button data-testid="stop" prop:disabled=move || !matches!(phase(), Phase::Training | Phase::Paused)
                    on:click=move |_| { state.set_phase(Phase::Stopping, "Stopping after this step"); send(ToWorker::Stop) }>"Stop"</button>
                <button class="secondary" data-testid="bench" prop:disabled=move || running() || phase() == Phase::Starting
                    title="Times training steps of this model on this data (forward, backward, optimizer) without training a model"
                    on:click={ let start = start.clone(); move |_| start(Job::Bench(bench)) }>"Benchmark"</button>
                <button class="secondary" data-testid="prepare" prop:disabled=move || running() || phase() == Phase::Starting
                    title="Downloads the model and the dataset into this browser and times a few steps, so the run works without the network"
                    on:click={ let start = start.clone(); move |_| start(Job::Prepare) }>"Prepare for offline"</button>
                <button class="secondary" prop:disabled=running title="Model weights are kept in the browser's cache so a reload does not download them again"
                    on:click=move |_| send(ToWorker::ClearCache)>"Forget downloaded models"</button>
            </div>
            {move || state.cache_note.get().map(|n| view! { <p class="note">{n}</p> })}
            {move || state.saved.get().filter(|_| !running()).map(|s| view! {
                <div class="resume-offer" data-testid="resume-offer" data-step=s.step.to_string()>
                    <p>{format!(
                        "A run of {} on {} ({}{}) is saved at step {} of {}: it can go on from there.",
                        s.model, s.data, s.task, s.lora_r.map(|r| format!(", LoRA rank {r}")).unwrap_or_default(),
                        s.step, s.total_steps
                    )}</p>
                    <button data-testid="resume-run" prop:disabled=move || phase() == Phase::Starting
                        on:click=move |_| {
                            state.reset_for_run(&s.task, None);
                            // Its checkpoint is in the browser's storage until a newer one replaces it.
                            state.checkpoint.set(Some(s.step));
                            state.saved.set(None);
                            send(ToWorker::ResumeSaved);
                        }>"Resume it"</button>
                    <button class="secondary" data-testid="discard-run"
                        on:click=move |_| send(ToWorker::DiscardSaved)>"Discard it"</button>
                </div>
            })}
        </section>

        <section class="progress">
            <style>{webtune::charts::STYLE}</style>
            <h2>"Progress"</h2>
            <p data-testid="status" data-state=move || phase().name() role="status">{move || state.status.get()}</p>
            {move || state.error.get().map(|e| view! { <p class="error" data-testid="error" role="alert">{e}</p> })}
            {move || state.warning.get().map(|w| view! { <p class="warning" data-testid="warning">{w}</p> })}
            {move || state.downloads.get().into_iter().map(|d| {
                let pct = d.total.map(|t| 100.0 * d.loaded as f64 / t.max(1) as f64);
                view! {
                    <p class="download" data-testid="download" data-file=d.file.clone() data-cached=d.cached.to_string()>
                        {format!("{}: {}{}{}", d.file, mb(d.loaded),
                            d.total.map(|t| format!(" of {}", mb(t))).unwrap_or_default(),
                            if d.cached { " (from the browser's cache)" } else { "" })}
                        <progress max="100" value=pct.unwrap_or(0.0).to_string()></progress>
                    </p>
                }
            }).collect_view()}
            {move || state.memory.get().map(|(m, full)| view! {
                <p class="memory" data-testid="memory" data-bytes=m.total_bytes().to_string()
                    data-parameters=m.parameters.to_string() data-trainable=m.trainable_parameters.to_string()
                    data-full-bytes=full.map(|f| f.total_bytes().to_string()).unwrap_or_default()>
                    {match full {
                        None => format!("{} parameters; training needs about {} of GPU memory", count(m.parameters), mb(m.total_bytes())),
                        Some(f) => format!(
                            "{} parameters, {} of them trained (LoRA's adapters and the task head); training needs about {} \
                             of GPU memory, a full fine-tune {}",
                            count(m.parameters), count(m.trainable_parameters), mb(m.total_bytes()), mb(f.total_bytes())
                        ),
                    }}
                </p>
            })}
            <progress data-testid="progress" data-step=move || progress().step.to_string()
                data-total=move || progress().total.to_string()
                data-elapsed=move || format!("{:.3}", progress().elapsed_s)
                max=move || progress().total.max(1).to_string() value=move || progress().step.to_string()></progress>
            <p class="numbers">
                {move || format!("step {} / {}", progress().step, progress().total)}
                " · " {move || format!("{:.2} samples/s", rate())}
                " · ETA " {eta}
                " · loss " <span data-testid="loss" data-value=move || last_loss().map(|l| l.to_string()).unwrap_or_default()>
                    {move || last_loss().map(|l| format!("{l:.4}")).unwrap_or_else(|| "–".into())}</span>
            </p>
            {move || state.bench.get().map(|b| view! {
                <p class="bench" data-testid="bench-result" data-report=serde_json::to_string(&b).unwrap_or_default()>
                    {format!(
                        "Benchmark: {:.2} samples/s · {:.0} tokens/s · {:.0} ms per step (forward {:.0}, backward {:.0}, \
                         optimizer {:.0}), {} measured steps",
                        b.samples_per_s, b.tokens_per_s, b.ms_per_step, b.ms_forward, b.ms_backward, b.ms_optimizer, b.steps
                    )}
                </p>
            })}
            {move || state.check.get().map(|r| {
                let failures = r.failures(PARITY_TOLERANCE);
                let verdict = if failures.is_empty() {
                    format!("all {} within {PARITY_TOLERANCE:e}", r.differences.len())
                } else {
                    format!("{} of {} off: {}", failures.len(), r.differences.len(), failures.join("; "))
                };
                view! {
                    <p class="bench" data-testid="check-result" data-ok=failures.is_empty().to_string()
                        data-report=serde_json::to_string(&r).unwrap_or_default()>
                        {format!("Check against transformers (pooled output, logits, loss, gradients): largest difference {:.2e}; {verdict}",
                            r.max_abs_diff())}
                    </p>
                }
            })}
            {move || state.checkpoint.get().map(|n| view! {
                <p class="note" data-testid="checkpoint" data-step=n.to_string()>
                    {format!("Checkpoint saved in this browser at step {n}: a reload can resume from it")}
                </p>
            })}
            {move || (!state.initialized.get().is_empty()).then(|| view! {
                <p class="note">{format!("New classification head: {}", state.initialized.get().join(", "))}</p>
            })}
            <Charts state=state />
            <table class="scores">
                // The task's own metrics (evaluate's names), as many columns as it has.
                <thead><tr><th>"Epoch"</th><th>"Step"</th>
                    {move || state.evals.get().first().map(|r| r.scores().into_iter().map(|(name, _)| view! {
                        <th>{webtune::charts::metric_title(&name)}</th>
                    }).collect_view())}
                    <th>"Examples"</th></tr></thead>
                <tbody>
                    {move || state.evals.get().into_iter().map(|r| view! {
                        <tr data-testid="eval-row">
                            <td>{format!("{:.2}", r.epoch)}</td>
                            <td>{r.step}</td>
                            {r.scores().into_iter().map(|(name, v)| view! {
                                <td data-testid=format!("eval-{name}") data-value=v.to_string()>{format!("{v:.4}")}</td>
                            }).collect_view()}
                            <td>{r.metrics.examples}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
            <Mistakes state=state />
        </section>

        <section class="try" data-testid="try-it">
            <h2>"Try it"</h2>
            <textarea data-testid="text-a" prop:value=move || text_a.get()
                on:input=move |ev| text_a.set(event_target_value(&ev))></textarea>
            {move || is_pair().then(|| view! {
                <textarea data-testid="text-b" prop:value=move || text_b.get()
                    on:input=move |ev| text_b.set(event_target_value(&ev))></textarea>
            })}
            <button data-testid="classify" prop:disabled=move || !state.trained.get() || running()
                on:click=move |_| send(ToWorker::Predict {
                    text_a: text_a.get_untracked(),
                    text_b: is_pair().then(|| text_b.get_untracked()),
                })>"Classify"</button>
            {move || state.prediction.get().map(|p| view! {
                <p data-testid="prediction" data-label=p.label.clone()
                    data-probabilities=serde_json::to_string(&p.probabilities).unwrap_or_default()
                    data-score=p.score.map(|s| s.to_string()).unwrap_or_default()>
                    {match p.score {
                        // A regression (STS-B): the score is the answer.
                        Some(score) => view! { <strong>{format!("similarity {score:.2}")}</strong> " (0 to 5)" }.into_any(),
                        None => view! {
                            <strong>{p.label.clone()}</strong>
                            {p.probabilities.iter().enumerate().map(|(i, q)| format!(" · {i}: {q:.3}")).collect::<String>()}
                        }.into_any(),
                    }}
                </p>
            })}
            {move || state.prediction.get().map(|p| view! { <Reading prediction=p labels=state.labels.get() /> })}
        </section>

        <section class="export">
            <h2>"Download"</h2>
            {move || match state.lora_sizes.get() {
                // A LoRA run's own result is its adapter; the merged model is a whole model's size.
                Some((adapter_bytes, merged_bytes)) => view! { <div class="buttons">
                    <button data-testid="export" prop:disabled=move || !state.trained.get() || running()
                        title="adapter_model.safetensors and adapter_config.json, which peft's PeftModel.from_pretrained and webtune predict load with the base model"
                        on:click=move |_| { state.clear_exported(); send(ToWorker::Export { merged: false }) }>
                        {format!("Prepare the adapter (about {})", mb(adapter_bytes))}</button>
                    <button class="secondary" data-testid="export-merged" prop:disabled=move || !state.trained.get() || running()
                        title="The adapters merged into the weights: a plain model folder transformers loads"
                        on:click=move |_| { state.clear_exported(); send(ToWorker::Export { merged: true }) }>
                        {format!("Prepare the merged model (about {})", mb(merged_bytes))}</button>
                </div> }.into_any(),
                _ => view! {
                    <button data-testid="export" prop:disabled=move || !state.trained.get() || running()
                        on:click=move |_| send(ToWorker::Export { merged: false })>"Prepare the fine-tuned model"</button>
                }.into_any(),
            }}
            <ul>
                {move || state.exported.get().into_iter().map(|f| view! {
                    <li><a data-testid="download-file" data-name=f.name.clone() href=f.url.clone()
                        download=f.name.clone()>{f.name.clone()}</a>{format!(" ({})", mb(f.bytes as u64))}</li>
                }).collect_view()}
            </ul>
        </section>
    }
}

/// A task in the menu: GLUE's name and what it asks.
fn task_title(task: Task) -> &'static str {
    match task {
        Task::Cola => "CoLA (is the sentence grammatical?)",
        Task::Sst2 => "SST-2 (sentiment)",
        Task::Mrpc => "MRPC (paraphrase pairs)",
        Task::Stsb => "STS-B (similarity score, 0 to 5)",
        Task::Qqp => "QQP (duplicate questions)",
        Task::Mnli => "MNLI (entailment, neutral, contradiction)",
        Task::Qnli => "QNLI (does the sentence answer the question?)",
        Task::Rte => "RTE (entailment)",
        Task::Wnli => "WNLI (which noun the pronoun means)",
    }
}

/// How the model read Try it's input: the tokens as its tokenizer split them, coloured by segment
/// (`token_type_ids`), word pieces and the tokenizer's own tokens marked; and each class's
/// probability as a bar.
#[component]
fn Reading(prediction: webtune::predict::Prediction, labels: Vec<String>) -> impl IntoView {
    let tokens = serde_json::to_string(
        &prediction.tokens.iter().map(|t| (t.text.as_str(), t.segment, t.special)).collect::<Vec<_>>(),
    )
    .unwrap_or_default();
    let name = move |i: usize| labels.get(i).cloned().unwrap_or_else(|| format!("class {i}"));
    view! {
        <div class="reading">
            <p class="tokens" data-testid="tokens" data-tokens=tokens>
                {prediction.tokens.iter().map(|t| view! {
                    <span class="token" class:special=t.special class:piece=t.text.starts_with("##")
                        class:second=t.segment == 1 title=format!("id {}, segment {}", t.id, t.segment)>{t.text.clone()}</span>
                }).collect_view()}
            </p>
            <p class="note">{format!(
                "{} tokens: blue the first sentence (segment 0), orange the second (segment 1); grey the tokenizer's own; \
                 ## starts a piece of a word.",
                prediction.tokens.len()
            )}</p>
            <AttentionStrip prediction=prediction.clone() />
            <div class="bars" data-testid="probability-bars">
                {prediction.probabilities.iter().enumerate().map(|(i, &q)| view! {
                    <div class="bar-row" data-testid="probability-bar" data-class=i.to_string() data-value=q.to_string()>
                        <span class="bar-label">{name(i)}</span>
                        <span class="bar"><span style=format!("width: {:.1}%", 100.0 * q)></span></span>
                        <span class="bar-value">{format!("{:.1}%", 100.0 * q)}</span>
                    </div>
                }).collect_view()}
            </div>
        </div>
    }
}

/// Where `[CLS]` looks in the last layer, as a heat strip over the tokens: the mean of the heads,
/// or one head. Shaded by the square root of the weight: linear shading leaves a long input's
/// weights (a few percent each) all but white, and shading relative to the row's largest weight
/// paints an even row as dark as a sharp one. The exact weight is in each cell's title and `data-value`.
#[component]
fn AttentionStrip(prediction: webtune::predict::Prediction) -> impl IntoView {
    if prediction.attention.is_empty() {
        return None;
    }
    let heads = prediction.attention.len();
    let head = RwSignal::new(None::<usize>);
    let all = serde_json::to_string(&prediction.attention).unwrap_or_default();
    let texts: Vec<String> = prediction.tokens.iter().map(|t| t.text.clone()).collect();
    let row = Memo::new(move |_| prediction.attention_row(head.get()));
    let cells = move || {
        texts
            .iter()
            .zip(row.get())
            .map(|(text, a)| {
                let shade = a.clamp(0.0, 1.0).sqrt();
                let style = format!(
                    "background: rgba(37, 99, 235, {shade:.3}); color: {}",
                    if shade > 0.55 { "white" } else { "inherit" }
                );
                view! { <span class="cell" style=style title=format!("{:.1}%", 100.0 * a) data-value=a.to_string()>{text.clone()}</span> }
            })
            .collect_view()
    };
    Some(view! {
        <figure class="attention" data-testid="attention" data-attention=all
            data-head=move || head.get().map_or("mean".to_string(), |h| h.to_string())
            data-shown=move || serde_json::to_string(&row.get()).unwrap_or_default()>
            <figcaption>
                "Where [CLS] looks in the last layer (what the classifier reads): "
                <select data-testid="attention-head" on:change=move |ev| head.set(event_target_value(&ev).parse().ok())>
                    <option value="mean">{format!("mean of the {heads} heads")}</option>
                    {(0..heads).map(|h| view! { <option value=h.to_string()>{format!("head {}", h + 1)}</option> }).collect_view()}
                </select>
            </figcaption>
            <p class="strip">{cells}</p>
            <p class="note">"Darker means more weight (the shade grows with its square root, so that small weights show); \
                point at a token for its share."</p>
        </figure>
    })
}

/// PyTorch's scores for this run, where it is the course's recipe on a model measured so (and, as
/// `link.rs` checks when the data has been read, on the whole task).
fn run_reference(request: &RunRequest, picked_model: bool) -> Option<&'static webtune::train::reference::Reference> {
    let task = Task::parse(&request.task).ok()?;
    let model = match &request.model {
        Source::Hub(id) | Source::Url(id) if !picked_model => id,
        _ => return None,
    };
    // The worker adds LoRA to the request's arguments; a subset is not the whole task.
    let subset = request.max_train_samples.is_some() || request.max_eval_samples.is_some();
    if request.lora_r.is_some() || subset {
        return None;
    }
    webtune::train::reference::reference(model, task, &request.training_args())
}

/// Mounts the page.
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}


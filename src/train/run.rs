//! The training loop: epochs of shuffled, dynamically padded batches; cross-entropy; gradient
//! accumulation; optional global-norm clipping; AdamW on a linear schedule; evaluation after each
//! epoch. It is `async` and reads from the GPU only by awaiting, so a native executor and the
//! browser's event loop drive the same code.

use std::future::Future;
use std::pin::Pin;

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor};

use super::args::{Precision, SaveStrategy, TrainingArgs};
use super::checkpoint::{Checkpoint, FORMAT, Resume, RunSettings, TrainerState, snapshot};
use super::eval::evaluate;
use super::event::{Event, Report};
use super::metrics::Metrics;
use super::optim::{clip_grad_norm, linear_schedule};
use super::memory::{self, MemoryEstimate, MemoryLimits};
use super::precision::unscaled;
use crate::data::{Encoded, Example, Label, Labels, Targets, Task, TextTokenizer, collate, epoch_order, group_by_length};
use crate::error::{Error, Result};
use crate::model::{BertConfig, BertForSequenceClassification, dropout};

/// A tokenized task: what the loop consumes.
pub struct TaskData {
    pub task: Task,
    pub train: Vec<Encoded>,
    pub train_labels: Labels,
    pub validation: Vec<Encoded>,
    pub validation_labels: Labels,
    /// MNLI's second validation set (`validation_mismatched`), scored beside the first as
    /// run_glue does (its metrics carry the suffix `_mm`).
    pub mismatched: Option<(Vec<Encoded>, Labels)>,
    pub pad_id: u32,
}

impl TaskData {
    /// Tokenizes labelled splits; `train_name` / `validation_name` name them in errors.
    pub fn from_examples(
        task: Task,
        tokenizer: &TextTokenizer,
        train: &[Example],
        train_name: &str,
        validation: &[Example],
        validation_name: &str,
    ) -> Result<Self> {
        Ok(TaskData {
            task,
            train_labels: labels_of(task, train, train_name)?,
            validation_labels: labels_of(task, validation, validation_name)?,
            train: tokenize(tokenizer, train)?,
            validation: tokenize(tokenizer, validation)?,
            mismatched: None,
            pad_id: tokenizer.pad_id(),
        })
    }

    /// With MNLI's mismatched validation set (`name` names it in errors).
    pub fn with_mismatched(mut self, tokenizer: &TextTokenizer, examples: &[Example], name: &str) -> Result<Self> {
        self.mismatched = Some((tokenize(tokenizer, examples)?, labels_of(self.task, examples, name)?));
        Ok(self)
    }

    /// What one training step of `args` on this data needs.
    pub fn memory_estimate(&self, config: &BertConfig, args: &TrainingArgs) -> MemoryEstimate {
        memory::estimate(config, batch_of(args.per_device_train_batch_size, &self.train), longest(&self.train))
    }

    /// Refuses a run of `args` that cannot fit in `limits`, with what to change: its training
    /// step, and its evaluation's own batch. Checked before the first step: past the limits, a
    /// step fails only once it is queued whole (a minute on a software GPU), and an evaluation
    /// only after the last step.
    pub fn check_memory(&self, config: &BertConfig, args: &TrainingArgs, limits: &MemoryLimits) -> Result<()> {
        let batch = batch_of(args.per_device_train_batch_size, &self.train);
        memory::check_fits(&self.memory_estimate(config, args), limits, batch)?;
        for split in std::iter::once(&self.validation).chain(self.mismatched.as_ref().map(|(e, _)| e)) {
            let eval_batch = batch_of(args.per_device_eval_batch_size, split);
            memory::check_eval_fits(config, eval_batch, longest(split), limits)?;
        }
        Ok(())
    }
}

/// The largest batch a split gives: a batch is at most the split.
fn batch_of(asked: usize, split: &[Encoded]) -> usize {
    asked.min(split.len()).max(1)
}

fn longest(split: &[Encoded]) -> usize {
    split.iter().map(|e| e.input_ids.len()).max().unwrap_or(1)
}

pub fn tokenize(tokenizer: &TextTokenizer, examples: &[Example]) -> Result<Vec<Encoded>> {
    examples
        .iter()
        .map(|e| tokenizer.encode(&e.text_a, e.text_b.as_deref()))
        .collect()
}

/// The labels of a labelled split of `task`: class ids, or STS-B's scores; `name` names the file
/// in errors.
pub fn labels_of(task: Task, examples: &[Example], name: &str) -> Result<Labels> {
    let label = |e: &Example| e.label.ok_or_else(|| Error::data(name, e.line, "this split has no labels"));
    let wrong = |e: &Example| Error::data(name, e.line, format!("{:?} is not a label of task {}", e.label, task.name()));
    if task.is_regression() {
        let scores = examples.iter().map(|e| match label(e)? {
            Label::Score(s) => Ok(s),
            Label::Class(_) => Err(wrong(e)),
        });
        Ok(Labels::Scores(scores.collect::<Result<_>>()?))
    } else {
        let classes = examples.iter().map(|e| match label(e)? {
            Label::Class(c) if c < task.labels().len() => Ok(c),
            _ => Err(wrong(e)),
        });
        Ok(Labels::Classes(classes.collect::<Result<_>>()?))
    }
}

/// What the driver of a run wants once an optimizer step is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// End the run now: it is checkpointed (if it saves checkpoints), evaluated and returned as
    /// it stands.
    Stop,
}

/// The driver's side of a run. `after_step` is awaited after every optimizer step: the page
/// pauses a run by not resolving it yet, and gets a chance to handle its messages because awaiting
/// may yield to the event loop. `save` stores a checkpoint (atomically: a reader sees the old one
/// or the new one) when [`TrainingArgs::save_strategy`] says one is due.
pub trait Control {
    fn after_step(&mut self) -> Pin<Box<dyn Future<Output = Flow> + '_>>;
    fn save(&mut self, checkpoint: Checkpoint) -> Pin<Box<dyn Future<Output = Result<()>> + '_>>;
}

/// A run nobody interrupts and that keeps no checkpoints (tests, benchmarks).
pub struct RunToEnd;

impl Control for RunToEnd {
    fn after_step(&mut self) -> Pin<Box<dyn Future<Output = Flow> + '_>> {
        Box::pin(std::future::ready(Flow::Continue))
    }

    fn save(&mut self, checkpoint: Checkpoint) -> Pin<Box<dyn Future<Output = Result<()>> + '_>> {
        let step = checkpoint.step;
        Box::pin(std::future::ready(Err(Error::Invalid(format!(
            "a checkpoint is due at step {step} but this run has nowhere to save it"
        )))))
    }
}

/// The loss transformers' `…ForSequenceClassification` computes: cross-entropy over the classes,
/// or, for a regression (one output), the mean squared error of that output.
pub fn loss(logits: Tensor<2>, targets: Targets) -> Tensor<1> {
    match targets {
        Targets::Classes(labels) => cross_entropy(logits, labels),
        Targets::Scores(scores) => mse(logits, scores),
    }
}

/// Mean squared error of `logits` [batch, 1] against `scores` [batch] (torch's `MSELoss` of the
/// squeezed logits).
pub fn mse(logits: Tensor<2>, scores: Tensor<1>) -> Tensor<1> {
    let [batch, _] = logits.dims();
    let diff = logits.reshape([batch]) - scores;
    (diff.clone() * diff).mean()
}

/// Mean cross-entropy of `logits` [batch, classes] against `labels` [batch].
pub fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let [batch, _] = logits.dims();
    log_softmax(logits, 1)
        .gather(1, labels.reshape([batch, 1]))
        .neg()
        .mean()
}

/// Fine-tunes `model` (its parameters on an autodiff device) and returns it with a report.
pub async fn train(
    model: BertForSequenceClassification,
    data: &TaskData,
    args: &TrainingArgs,
    device: &Device,
    initialized: Vec<String>,
    sink: &mut dyn FnMut(&Event),
) -> Result<(BertForSequenceClassification, Report)> {
    train_with_control(model, data, args, device, initialized, sink, &mut RunToEnd, None).await
}

/// The dropout stream restarts from (seed, step) at every checkpoint, so a run resumed from one
/// draws the same masks as the run that wrote it. (Reseeding at every step would be simpler, but
/// with burn's fusion a random kernel reads the seed when it runs, which may be a step later.)
fn checkpoint_seed(seed: u64, step: usize) -> u64 {
    // splitmix64 of the pair: nearby steps get unrelated streams.
    let mut z = seed ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Where a run stands: all of it goes into a checkpoint.
#[derive(Default)]
struct Progress {
    step: usize,
    samples: usize,
    /// Losses read back but not logged yet.
    pending: Vec<f32>,
    /// Per-step losses still on the device.
    window: Vec<Tensor<1>>,
    history: Vec<Event>,
}

impl Progress {
    /// Moves the device losses to `pending`; a non-finite one ends the run, naming its step.
    async fn read_losses(&mut self) -> Result<()> {
        if !self.window.is_empty() {
            let losses = Tensor::cat(std::mem::take(&mut self.window), 0);
            let values: Vec<f32> = losses
                .into_data_async()
                .await?
                .convert::<f32>()
                .try_into_vec()
                .map_err(|e| Error::Device(format!("reading the losses: {e:?}")))?;
            self.pending.extend(values);
        }
        let first = self.step + 1 - self.pending.len();
        if let Some((i, &loss)) = self.pending.iter().enumerate().find(|(_, l)| !l.is_finite()) {
            return Err(Error::NonFiniteLoss { step: first + i, loss });
        }
        Ok(())
    }

    fn evaluations(&self) -> Vec<(f64, Metrics)> {
        self.history
            .iter()
            .filter_map(|e| match e {
                Event::Evaluated { epoch, metrics, .. } => Some((*epoch, metrics.clone())),
                _ => None,
            })
            .collect()
    }
}

/// [`train`], asking `control` after every optimizer step whether to go on and handing it the
/// checkpoints [`TrainingArgs::save_strategy`] asks for; with `resume`, the run continues from a
/// checkpoint (whose weights `model` already holds) as if it had never stopped.
#[allow(clippy::too_many_arguments)]
pub async fn train_with_control(
    mut model: BertForSequenceClassification,
    data: &TaskData,
    args: &TrainingArgs,
    device: &Device,
    initialized: Vec<String>,
    sink: &mut dyn FnMut(&Event),
    control: &mut dyn Control,
    resume: Option<Resume>,
) -> Result<(BertForSequenceClassification, Report)> {
    args.validate()?;
    if data.train.is_empty() {
        return Err(Error::Invalid("the training split is empty".into()));
    }
    let n = data.train.len();
    let batch_size = args.global_batch_size();
    let accumulation = args.gradient_accumulation_steps;
    let steps_per_epoch = args.steps_per_epoch(n);
    let total_steps = args.total_steps(n);
    let num_epochs = total_steps.div_ceil(steps_per_epoch);
    let settings = RunSettings::of(args, n);
    let plain = device.clone().without_autodiff();
    for d in std::iter::once(device).chain(&args.replicas) {
        args.precision.check_supported(d)?;
    }
    // --fp16's loss scale; a resumed run continues with the checkpoint's.
    let mut loss_scale = (args.precision == Precision::F16)
        .then(|| resume.as_ref().and_then(|r| r.state.loss_scale.clone()).unwrap_or_default());

    let (mut optimizer, mut progress) = match &resume {
        None => {
            dropout::seed(&device, args.seed);
            (args.adamw.init(), Progress::default())
        }
        Some(r) => {
            settings.check_same_as(&r.state.settings, &r.state_path)?;
            dropout::seed(&device, checkpoint_seed(args.seed, r.step()));
            let s = &r.state;
            let progress = Progress {
                step: s.global_step,
                samples: s.samples,
                pending: s.pending_losses.clone(),
                window: Vec::new(),
                history: s.log_history.clone(),
            };
            (r.optimizer(args, &model)?, progress)
        }
    };
    // Training time of earlier sessions of this run (a resumed run continues the count).
    let earlier_runtime_s = resume.map_or(0.0, |r| r.state.train_runtime_s);

    sink(&Event::Started {
        total_steps,
        num_examples: n,
        num_epochs,
        initialized,
        resumed_from_step: (progress.step > 0).then_some(progress.step),
    });
    for event in &progress.history {
        sink(event);
    }

    // web-time: std's Instant on native, performance.now() in the browser (std's panics there).
    let started = web_time::Instant::now();
    let mut stopped = false;
    // Throughput counts training only, as transformers' train_samples_per_second does not
    // include evaluation; pauses and checkpoint writing are left out too.
    let mut not_training_s = 0.0;
    let training_s = |not_training_s: f64| earlier_runtime_s + started.elapsed().as_secs_f64() - not_training_s;
    let epoch_of = |step: usize| step as f64 / steps_per_epoch as f64;
    let mut accumulator: GradientsAccumulator<BertForSequenceClassification> = GradientsAccumulator::new();

    macro_rules! save_checkpoint {
        () => {{
            let saving = web_time::Instant::now();
            progress.read_losses().await?;
            let state = TrainerState {
                format: FORMAT,
                global_step: progress.step,
                samples: progress.samples,
                train_runtime_s: training_s(not_training_s),
                pending_losses: progress.pending.clone(),
                log_history: progress.history.clone(),
                settings: settings.clone(),
                loss_scale: loss_scale.clone(),
            };
            control.save(snapshot(&model, &optimizer, &state).await?).await?;
            dropout::seed(&device, checkpoint_seed(args.seed, progress.step));
            not_training_s += saving.elapsed().as_secs_f64();
        }};
    }

    let lengths: Option<Vec<usize>> =
        args.group_by_length.then(|| data.train.iter().map(|e| e.input_ids.len()).collect());
    let first_epoch = progress.step / steps_per_epoch;
    'epochs: for epoch in first_epoch..num_epochs {
        if progress.step >= total_steps {
            break;
        }
        let mut order = epoch_order(n, args.seed, epoch);
        if let Some(lengths) = &lengths {
            // transformers groups over the examples of one optimizer step.
            order = group_by_length(order, lengths, batch_size * accumulation);
        }
        let batches: Vec<&[usize]> = order.chunks(batch_size).collect();
        // Batches that do not fill a whole accumulation group at the epoch's end are dropped,
        // as transformers does when it counts steps per epoch.
        let usable = (batches.len() / accumulation).max(1) * accumulation;
        // A resumed run starts where its checkpoint was in this epoch's order.
        let done = (progress.step - epoch * steps_per_epoch) * accumulation;
        let mut step_loss: Option<Tensor<1>> = None;
        for (i, idx) in batches.iter().take(usable).enumerate().skip(done) {
            let scale = loss_scale.as_ref().map(|s| s.scale);
            let (detached, grads) = forward_backward(&model, idx, data, device, args, scale);
            accumulator.accumulate(&model, grads);
            progress.samples += idx.len();
            step_loss = Some(match step_loss.take() {
                Some(l) => l + detached,
                None => detached,
            });
            if (i + 1) % accumulation != 0 {
                continue;
            }

            let grads = unscaled(loss_scale.as_mut(), &model, accumulator.grads()).await?;
            let lr = linear_schedule(args.learning_rate, progress.step, args.warmup_steps, total_steps);
            if let Some(mut grads) = grads {
                if let Some(max_norm) = args.max_grad_norm {
                    grads = clip_grad_norm(&model, grads, max_norm);
                }
                model = optimizer.step(lr, model, grads);
            }
            progress.step += 1;
            let step = progress.step;
            progress.window.push(step_loss.take().expect("a step has a loss"));
            sink(&Event::Step {
                step,
                total_steps,
                epoch: epoch_of(step),
                learning_rate: lr,
                samples: progress.samples,
                elapsed_s: training_s(not_training_s),
            });

            if step % args.logging_steps == 0 || step == total_steps {
                progress.read_losses().await?;
                let mean = progress.pending.iter().map(|&l| l as f64).sum::<f64>() / progress.pending.len() as f64;
                progress.pending.clear();
                let log = Event::Log { step, epoch: epoch_of(step), loss: mean as f32, learning_rate: lr };
                sink(&log);
                progress.history.push(log);
            }
            if step == total_steps {
                break 'epochs;
            }
            // Time spent paused is not training time.
            let asked = web_time::Instant::now();
            let flow = control.after_step().await;
            not_training_s += asked.elapsed().as_secs_f64();
            if flow == Flow::Stop {
                stopped = true;
                if args.save_strategy != SaveStrategy::No {
                    save_checkpoint!();
                }
                break 'epochs;
            }
            // At an epoch's end the checkpoint waits for the evaluation, so that it holds it.
            let epoch_end = i + 1 == usable;
            if !epoch_end && args.save_strategy.due(step, false) {
                save_checkpoint!();
            }
        }
        let evaluating = web_time::Instant::now();
        let evaluated = run_eval(&model, data, args, &plain, progress.step, epoch_of(progress.step)).await?;
        not_training_s += evaluating.elapsed().as_secs_f64();
        sink(&evaluated);
        progress.history.push(evaluated);
        if args.save_strategy.due(progress.step, true) {
            save_checkpoint!();
        }
    }
    let step = progress.step;
    let runtime = training_s(not_training_s);
    // A run cut short by max_steps or a stop still ends with a score.
    if step > 0 && progress.evaluations().last().map(|(e, _)| *e) != Some(epoch_of(step)) {
        let evaluated = run_eval(&model, data, args, &plain, step, epoch_of(step)).await?;
        sink(&evaluated);
        progress.history.push(evaluated);
    }
    let report = Report {
        steps: step,
        stopped,
        train_runtime_s: runtime,
        train_samples_per_second: progress.samples as f64 / runtime.max(1e-9),
        evaluations: progress.evaluations(),
        mismatched: progress.history.iter().rev().find_map(|e| match e {
            Event::Evaluated { mismatched, .. } => Some(mismatched.clone()),
            _ => None,
        }).flatten(),
    };
    Ok((model, report))
}

/// The loss of one batch (divided by `accumulation`, detached) and its gradients, on `device`.
///
/// With replicas, the batch is split into one shard per device (sizes differ by at most one), each
/// replica — a copy of `model` forked onto its device — computes its shard's loss weighted by the
/// shard's share of the batch, and the gradients come back to `device` and are summed there. The
/// sum of weighted shard gradients is the gradient of the whole batch's mean loss, so the run is
/// the single-device run (up to float rounding, and except for dropout masks, which each device
/// draws itself). This needs no collective operation: burn's all-reduce exists only for CUDA
/// (NCCL), and not between servers, so averaging on the main device is the path that works for
/// every device kind, remote ones included.
///
/// With `loss_scale` (`--fp16`), the gradients are those of the loss times the scale; the returned
/// loss is not scaled.
fn forward_backward(
    model: &BertForSequenceClassification,
    idx: &[usize],
    data: &TaskData,
    device: &Device,
    args: &TrainingArgs,
    loss_scale: Option<f64>,
) -> (Tensor<1>, GradientsParams) {
    let (replicas, accumulation) = (&args.replicas, args.gradient_accumulation_steps);
    let shard_loss = |model: &BertForSequenceClassification, shard: &[usize], device: &Device, weight: f64| {
        let encoded: Vec<&Encoded> = shard.iter().map(|&i| &data.train[i]).collect();
        let labels = data.train_labels.select(shard);
        let batch = collate(&encoded, Some(&labels), data.pad_id, device);
        let logits = args.precision.logits(model, batch.input);
        let loss = loss(logits, batch.labels.expect("training batches are labelled"));
        if weight == 1.0 { loss } else { loss.mul_scalar(weight) }
    };
    let scaled = |loss: &Tensor<1>| match loss_scale {
        Some(scale) => loss.clone().mul_scalar(scale),
        None => loss.clone(),
    };
    if replicas.is_empty() {
        let loss = shard_loss(model, idx, device, 1.0 / accumulation as f64);
        let grads = GradientsParams::from_grads(scaled(&loss).backward(), model);
        return (loss.detach(), grads);
    }
    let plain = device.clone().without_autodiff();
    let n = replicas.len();
    let (base, extra) = (idx.len() / n, idx.len() % n);
    let mut start = 0;
    // Every replica's work is queued before any result is read back, so the devices run at once.
    let mut pending = Vec::with_capacity(n);
    for (r, replica_device) in replicas.iter().enumerate() {
        let len = base + usize::from(r < extra);
        let shard = &idx[start..start + len];
        start += len;
        if shard.is_empty() {
            continue;
        }
        let replica = model.clone().fork(replica_device);
        let weight = shard.len() as f64 / idx.len() as f64 / accumulation as f64;
        let loss = shard_loss(&replica, shard, replica_device, weight);
        let grads = GradientsParams::from_grads(scaled(&loss).backward(), &replica);
        pending.push((loss.detach().inner(), grads, replica));
    }
    let mut sum: GradientsAccumulator<BertForSequenceClassification> = GradientsAccumulator::new();
    let mut total: Option<Tensor<1>> = None;
    for (loss, grads, replica) in pending {
        sum.accumulate(model, grads.to_device(&plain, &replica));
        let loss = loss.to_device(&plain);
        total = Some(match total.take() {
            Some(t) => t + loss,
            None => loss,
        });
    }
    (total.expect("a batch has at least one example"), sum.grads())
}

/// The model scored on the task's validation set(s), as an event.
async fn run_eval(
    model: &BertForSequenceClassification,
    data: &TaskData,
    args: &TrainingArgs,
    plain: &Device,
    step: usize,
    epoch: f64,
) -> Result<Event> {
    let valid = model.valid();
    let score = |examples, labels| {
        evaluate(&valid, data.task, examples, labels, args.per_device_eval_batch_size, data.pad_id, plain)
    };
    let metrics = score(&data.validation, &data.validation_labels).await?;
    let mismatched = match &data.mismatched {
        Some((examples, labels)) => Some(score(examples, labels).await?),
        None => None,
    };
    Ok(Event::Evaluated { step, epoch, metrics, mismatched })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mrpc_recipe_has_1377_steps() {
        let args = TrainingArgs::default();
        assert_eq!(args.total_steps(3668), 1377);
        let accum = TrainingArgs { gradient_accumulation_steps: 2, ..TrainingArgs::default() };
        assert_eq!(accum.steps_per_epoch(3668), 229);
        let capped = TrainingArgs { max_steps: Some(20), ..TrainingArgs::default() };
        assert_eq!(capped.total_steps(3668), 20);
    }

    #[test]
    fn bad_arguments_are_named() {
        let args = TrainingArgs { per_device_train_batch_size: 0, ..TrainingArgs::default() };
        assert!(args.validate().unwrap_err().to_string().contains("per_device_train_batch_size"));
        let args = TrainingArgs { learning_rate: -1.0, ..TrainingArgs::default() };
        assert!(args.validate().unwrap_err().to_string().contains("learning_rate"));
    }

    #[test]
    fn cross_entropy_is_the_mean_negative_log_likelihood() {
        let device = Device::flex();
        let logits = Tensor::<2>::from_floats([[0.0, 0.0], [2.0, 0.0]], &device);
        let labels = Tensor::<1, Int>::from_ints([1, 0], &device);
        let loss = cross_entropy(logits, labels).into_scalar::<f32>();
        let expected = (2f32.ln() + (1.0 + (-2f32).exp()).ln()) / 2.0;
        assert!((loss - expected).abs() < 1e-6, "{loss} vs {expected}");
    }
}

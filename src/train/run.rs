//! The training loop, as the course writes it: for each epoch, for each batch — forward and
//! backward, an optimizer step on the schedule, progress — with logging, evaluation and checkpoints
//! as named steps of a [`Run`]. It is `async` and reads from the GPU only by awaiting, so a native
//! executor and the browser's event loop drive the same code.

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::{Device, Tensor};

use super::adamw::AdamW;
use super::args::{Precision, SaveStrategy, TrainingArgs};
use super::checkpoint::{FORMAT, Resume, RunSettings, TrainerState, snapshot};
use super::control::{Control, Flow, RunToEnd};
use super::eval::evaluate;
use super::event::{Event, Report};
use super::loss::loss;
use super::metrics::Metrics;
use super::mistakes::{MISTAKES_KEPT, confusion, most_confident_mistakes};
use super::optim::{clip_grad_norm, linear_schedule};
use super::precision::{LossScale, unscaled};
use super::task_data::TaskData;
use crate::data::{Encoded, Labels, collate, epoch_order, group_by_length};
use crate::error::{Error, Result};
use crate::model::{SequenceClassifier, dropout};

/// Fine-tunes `model` (its parameters on an autodiff device) and returns it with a report.
pub async fn train(
    model: SequenceClassifier,
    data: &TaskData,
    args: &TrainingArgs,
    device: &Device,
    initialized: Vec<String>,
    sink: &mut dyn FnMut(&Event),
) -> Result<(SequenceClassifier, Report)> {
    train_with_control(model, data, args, device, initialized, sink, &mut RunToEnd, None).await
}

/// [`train`], asking `control` after every optimizer step whether to go on and handing it the
/// checkpoints [`TrainingArgs::save_strategy`] asks for; with `resume`, the run continues from a
/// checkpoint (whose weights `model` already holds) as if it had never stopped.
#[allow(clippy::too_many_arguments)]
pub async fn train_with_control(
    model: SequenceClassifier,
    data: &TaskData,
    args: &TrainingArgs,
    device: &Device,
    initialized: Vec<String>,
    sink: &mut dyn FnMut(&Event),
    control: &mut dyn Control,
    resume: Option<Resume>,
) -> Result<(SequenceClassifier, Report)> {
    let mut run = Run::new(&model, data, args, device, sink, control, resume)?;
    let mut model = model;
    run.start(initialized);
    let accumulation = args.gradient_accumulation_steps;
    'epochs: for epoch in run.first_epoch()..run.plan.num_epochs {
        if run.is_done() {
            break;
        }
        let batches = run.batches(epoch);
        for (i, batch) in batches.iter().enumerate().skip(run.batches_done(epoch)) {
            run.forward_backward(&model, batch);
            if (i + 1) % accumulation != 0 {
                continue;
            }
            model = run.optimizer_step(model).await?;
            if run.log_due() {
                run.log().await?;
            }
            if run.is_done() {
                break 'epochs;
            }
            if run.ask_control().await == Flow::Stop {
                run.stop(&model).await?;
                break 'epochs;
            }
            // At an epoch's end the checkpoint waits for the evaluation, so that it holds it.
            let epoch_end = i + 1 == batches.len();
            if !epoch_end && args.save_strategy.due(run.progress.step, false) {
                run.save(&model).await?;
            }
        }
        run.evaluate(&model).await?;
        if args.save_strategy.due(run.progress.step, true) {
            run.save(&model).await?;
        }
    }
    run.finish(model).await
}

/// How many steps and epochs a run has.
struct Plan {
    examples: usize,
    /// Examples per forward pass (over all devices).
    batch_size: usize,
    steps_per_epoch: usize,
    total_steps: usize,
    num_epochs: usize,
}

impl Plan {
    fn epoch_of(&self, step: usize) -> f64 {
        step as f64 / self.steps_per_epoch as f64
    }
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

/// Training time as transformers' `train_runtime` counts it: evaluations, pauses and checkpoint
/// writing left out, a resumed run's earlier sessions counted in.
struct Clock {
    // web-time: std's Instant natively, performance.now() in the browser (std's panics there).
    started: web_time::Instant,
    earlier_s: f64,
    not_training_s: f64,
}

impl Clock {
    fn training_s(&self) -> f64 {
        self.earlier_s + self.started.elapsed().as_secs_f64() - self.not_training_s
    }

    /// Time since `since` was not training.
    fn exclude(&mut self, since: web_time::Instant) {
        self.not_training_s += since.elapsed().as_secs_f64();
    }
}

/// A run in progress: the model's optimizer and everything else a checkpoint holds, and the named
/// steps the loop above is written in. The model itself is the loop's: each optimizer step takes
/// it and returns the updated one, as burn's optimizers do (no second reference to its tensors, so
/// they can be updated in place).
struct Run<'a> {
    optimizer: AdamW,
    /// Gradients of the batches of the optimizer step being accumulated.
    accumulator: GradientsAccumulator<SequenceClassifier>,
    /// Their summed loss, on the device.
    step_loss: Option<Tensor<1>>,
    /// `--fp16`'s loss scale (a resumed run continues with the checkpoint's).
    loss_scale: Option<LossScale>,
    progress: Progress,
    plan: Plan,
    /// The schedule's rate at the last step.
    learning_rate: f64,
    clock: Clock,
    stopped: bool,
    settings: RunSettings,
    data: &'a TaskData,
    args: &'a TrainingArgs,
    device: &'a Device,
    sink: &'a mut dyn FnMut(&Event),
    control: &'a mut dyn Control,
}

impl<'a> Run<'a> {
    fn new(
        model: &SequenceClassifier,
        data: &'a TaskData,
        args: &'a TrainingArgs,
        device: &'a Device,
        sink: &'a mut dyn FnMut(&Event),
        control: &'a mut dyn Control,
        resume: Option<Resume>,
    ) -> Result<Self> {
        args.validate()?;
        if data.train.is_empty() {
            return Err(Error::Invalid("the training split is empty".into()));
        }
        for d in std::iter::once(device).chain(&args.replicas) {
            args.precision.check_supported(d)?;
        }
        let n = data.train.len();
        let steps_per_epoch = args.steps_per_epoch(n);
        let total_steps = args.total_steps(n);
        let plan = Plan {
            examples: n,
            batch_size: args.global_batch_size(),
            steps_per_epoch,
            total_steps,
            num_epochs: total_steps.div_ceil(steps_per_epoch),
        };
        let settings = RunSettings::of(args, n);
        let loss_scale = (args.precision == Precision::F16)
            .then(|| resume.as_ref().and_then(|r| r.state.loss_scale.clone()).unwrap_or_default());
        let (optimizer, progress, earlier_s) = match &resume {
            None => {
                dropout::seed(device, args.seed);
                (args.adamw.init(), Progress::default(), 0.0)
            }
            Some(r) => {
                settings.check_same_as(&r.state.settings, &r.state_path)?;
                dropout::seed(device, checkpoint_seed(args.seed, r.step()));
                let s = &r.state;
                let progress = Progress {
                    step: s.global_step,
                    samples: s.samples,
                    pending: s.pending_losses.clone(),
                    window: Vec::new(),
                    history: s.log_history.clone(),
                };
                (r.optimizer(args, model)?, progress, s.train_runtime_s)
            }
        };
        Ok(Run {
            optimizer,
            accumulator: GradientsAccumulator::new(),
            step_loss: None,
            loss_scale,
            progress,
            plan,
            learning_rate: args.learning_rate,
            clock: Clock { started: web_time::Instant::now(), earlier_s, not_training_s: 0.0 },
            stopped: false,
            settings,
            data,
            args,
            device,
            sink,
            control,
        })
    }

    /// Tells the driver what the run will be, and replays a resumed run's history.
    fn start(&mut self, initialized: Vec<String>) {
        let step = self.progress.step;
        (self.sink)(&Event::Started {
            total_steps: self.plan.total_steps,
            num_examples: self.plan.examples,
            num_epochs: self.plan.num_epochs,
            initialized,
            resumed_from_step: (step > 0).then_some(step),
        });
        for event in &self.progress.history {
            (self.sink)(event);
        }
        self.clock.started = web_time::Instant::now();
    }

    fn first_epoch(&self) -> usize {
        self.progress.step / self.plan.steps_per_epoch
    }

    fn is_done(&self) -> bool {
        self.progress.step >= self.plan.total_steps
    }

    /// An epoch's batches: the seeded shuffle (grouped by length if asked), cut into batches; those
    /// that do not fill a whole accumulation group at the epoch's end are dropped, as transformers
    /// does when it counts steps per epoch.
    fn batches(&self, epoch: usize) -> Vec<Vec<usize>> {
        let (args, plan) = (self.args, &self.plan);
        let mut order = epoch_order(plan.examples, args.seed, epoch);
        if args.group_by_length {
            let lengths: Vec<usize> = self.data.train.iter().map(|e| e.input_ids.len()).collect();
            // transformers groups over the examples of one optimizer step.
            order = group_by_length(order, &lengths, plan.batch_size * args.gradient_accumulation_steps);
        }
        let batches: Vec<Vec<usize>> = order.chunks(plan.batch_size).map(<[usize]>::to_vec).collect();
        let accumulation = args.gradient_accumulation_steps;
        let usable = (batches.len() / accumulation).max(1) * accumulation;
        batches.into_iter().take(usable).collect()
    }

    /// Batches of `epoch` a resumed run has done already: it starts where its checkpoint was in
    /// that epoch's order.
    fn batches_done(&self, epoch: usize) -> usize {
        (self.progress.step - epoch * self.plan.steps_per_epoch) * self.args.gradient_accumulation_steps
    }

    /// Forward and backward of one batch; its gradients wait in the accumulator for the step.
    fn forward_backward(&mut self, model: &SequenceClassifier, batch: &[usize]) {
        let scale = self.loss_scale.as_ref().map(|s| s.scale);
        let (loss, grads) = forward_backward(model, batch, self.data, self.device, self.args, scale, self.progress.step);
        self.accumulator.accumulate(model, grads);
        self.progress.samples += batch.len();
        self.step_loss = Some(match self.step_loss.take() {
            Some(l) => l + loss,
            None => loss,
        });
    }

    /// AdamW on the accumulated gradients (unscaled for `--fp16`, clipped if asked) at the
    /// schedule's learning rate, then the step's progress event.
    async fn optimizer_step(&mut self, mut model: SequenceClassifier) -> Result<SequenceClassifier> {
        let grads = unscaled(self.loss_scale.as_mut(), &model, self.accumulator.grads()).await?;
        let lr = linear_schedule(self.args.learning_rate, self.progress.step, self.args.warmup_steps, self.plan.total_steps);
        self.learning_rate = lr;
        // `None`: --fp16's scaled gradients overflowed; the step is skipped, as torch's GradScaler does.
        if let Some(mut grads) = grads {
            if let Some(max_norm) = self.args.max_grad_norm {
                grads = clip_grad_norm(&model, grads, max_norm);
            }
            model = self.optimizer.step(lr, model, grads);
        }
        self.progress.step += 1;
        self.progress.window.push(self.step_loss.take().expect("a step has a loss"));
        let step = self.progress.step;
        (self.sink)(&Event::Step {
            step,
            total_steps: self.plan.total_steps,
            epoch: self.plan.epoch_of(step),
            learning_rate: lr,
            samples: self.progress.samples,
            elapsed_s: self.clock.training_s(),
        });
        Ok(model)
    }

    fn log_due(&self) -> bool {
        let step = self.progress.step;
        step % self.args.logging_steps == 0 || step == self.plan.total_steps
    }

    /// The mean training loss since the last log (one read of the device).
    async fn log(&mut self) -> Result<()> {
        self.progress.read_losses().await?;
        let pending = std::mem::take(&mut self.progress.pending);
        let mean = pending.iter().map(|&l| l as f64).sum::<f64>() / pending.len() as f64;
        let step = self.progress.step;
        let log = Event::Log { step, epoch: self.plan.epoch_of(step), loss: mean as f32, learning_rate: self.learning_rate };
        (self.sink)(&log);
        self.progress.history.push(log);
        Ok(())
    }

    /// Hands the driver the turn (time paused is not training time).
    async fn ask_control(&mut self) -> Flow {
        let asked = web_time::Instant::now();
        let flow = self.control.after_step().await;
        self.clock.exclude(asked);
        flow
    }

    /// The driver stopped the run: its checkpoint is kept (when it keeps any); the model so far is
    /// evaluated by [`Run::finish`].
    async fn stop(&mut self, model: &SequenceClassifier) -> Result<()> {
        self.stopped = true;
        if self.args.save_strategy != SaveStrategy::No {
            self.save(model).await?;
        }
        Ok(())
    }

    /// The model scored on the task's validation set(s).
    async fn evaluate(&mut self, model: &SequenceClassifier) -> Result<()> {
        let evaluating = web_time::Instant::now();
        let valid = model.valid();
        let (data, args, plain) = (self.data, self.args, self.device.clone().without_autodiff());
        let score = |examples, labels| {
            evaluate(&valid, data.task, examples, labels, args.per_device_eval_batch_size, data.pad_id, &plain)
        };
        let scored = score(&data.validation, &data.validation_labels).await?;
        let mismatched = match &data.mismatched {
            Some((examples, labels)) => Some(score(examples, labels).await?.metrics),
            None => None,
        };
        let (confusion, mistakes) = match (&scored.predictions.labels, &data.validation_labels) {
            (Labels::Classes(predicted), Labels::Classes(labels)) => {
                let probabilities = &scored.predictions.probabilities;
                (
                    Some(confusion(predicted, labels, data.task.labels().len())),
                    most_confident_mistakes(predicted, probabilities, labels, &data.validation_examples, MISTAKES_KEPT),
                )
            }
            _ => (None, Vec::new()),
        };
        self.clock.exclude(evaluating);
        let step = self.progress.step;
        let evaluated =
            Event::Evaluated { step, epoch: self.plan.epoch_of(step), metrics: scored.metrics, mismatched, confusion, mistakes };
        (self.sink)(&evaluated);
        self.progress.history.push(evaluated);
        Ok(())
    }

    /// A checkpoint of the run as it stands, handed to the driver to store.
    async fn save(&mut self, model: &SequenceClassifier) -> Result<()> {
        let saving = web_time::Instant::now();
        self.progress.read_losses().await?;
        let p = &self.progress;
        let state = TrainerState {
            format: FORMAT,
            global_step: p.step,
            samples: p.samples,
            train_runtime_s: self.clock.training_s(),
            pending_losses: p.pending.clone(),
            log_history: p.history.clone(),
            settings: self.settings.clone(),
            loss_scale: self.loss_scale.clone(),
        };
        self.control.save(snapshot(model, &self.optimizer, &state, self.args.lora.as_ref()).await?).await?;
        dropout::seed(self.device, checkpoint_seed(self.args.seed, p.step));
        self.clock.exclude(saving);
        Ok(())
    }

    /// The model and its report. A run cut short by `max_steps` or a stop still ends with a score.
    async fn finish(mut self, model: SequenceClassifier) -> Result<(SequenceClassifier, Report)> {
        let step = self.progress.step;
        let runtime = self.clock.training_s();
        let last_scored = self.progress.evaluations().last().map(|(epoch, _)| *epoch);
        if step > 0 && last_scored != Some(self.plan.epoch_of(step)) {
            self.evaluate(&model).await?;
        }
        let report = Report {
            steps: step,
            stopped: self.stopped,
            train_runtime_s: runtime,
            train_samples_per_second: self.progress.samples as f64 / runtime.max(1e-9),
            evaluations: self.progress.evaluations(),
            mismatched: self.progress.history.iter().rev().find_map(|e| match e {
                Event::Evaluated { mismatched, .. } => Some(mismatched.clone()),
                _ => None,
            }).flatten(),
        };
        Ok((model, report))
    }
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

/// The loss of one batch (divided by `accumulation`, detached) and its gradients, on `device`.
///
/// With replicas, the batch is split into one shard per device (sizes differ by at most one), each
/// replica — a copy of `model` forked onto its device — computes its shard's loss weighted by the
/// shard's share of the batch, and the gradients come back to `device` and are summed there. The
/// sum of weighted shard gradients is the gradient of the whole batch's mean loss, so the run is
/// the single-device run (up to float rounding: each example's dropout masks are keyed by the
/// example, wherever it runs; `dropout::per_example`). This needs no collective operation: burn's all-reduce exists only for CUDA
/// (NCCL), and not between servers, so averaging on the main device is the path that works for
/// every device kind, remote ones included.
///
/// With `loss_scale` (`--fp16`), the gradients are those of the loss times the scale; the returned
/// loss is not scaled.
fn forward_backward(
    model: &SequenceClassifier,
    idx: &[usize],
    data: &TaskData,
    device: &Device,
    args: &TrainingArgs,
    loss_scale: Option<f64>,
    step: usize,
) -> (Tensor<1>, GradientsParams) {
    let (replicas, accumulation) = (&args.replicas, args.gradient_accumulation_steps);
    let shard_loss = |model: &SequenceClassifier, shard: &[usize], device: &Device, weight: f64| {
        // Each example's dropout masks from (seed, step, its index), on whichever device it runs.
        let _masks = dropout::per_example(args.seed, step, shard, !replicas.is_empty());
        let encoded: Vec<&Encoded> = shard.iter().map(|&i| &data.train[i]).collect();
        let labels = data.train_labels.select(shard);
        let batch = collate(&encoded, Some(&labels), data.pad_id, device);
        let logits = args.precision.logits(model, batch.input);
        let value = loss(logits, batch.labels.expect("training batches are labelled"));
        if weight == 1.0 { value } else { value.mul_scalar(weight) }
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
    let mut sum: GradientsAccumulator<SequenceClassifier> = GradientsAccumulator::new();
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
}

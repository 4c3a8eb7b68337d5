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

use super::eval::{Metrics, evaluate};
use super::event::Event;
use super::optim::{AdamWSettings, clip_grad_norm, linear_schedule};
use crate::data::{Encoded, Example, Task, TextTokenizer, collate, epoch_order};
use crate::error::{Error, Result};
use crate::model::BertForSequenceClassification;

/// Hyperparameters, named as in transformers' `TrainingArguments`; defaults are the course's
/// recipe (batch 8, lr 5e-5 decaying linearly to 0, 3 epochs).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingArgs {
    pub num_train_epochs: usize,
    pub per_device_train_batch_size: usize,
    pub per_device_eval_batch_size: usize,
    pub learning_rate: f64,
    pub adamw: AdamWSettings,
    pub warmup_steps: usize,
    pub max_grad_norm: Option<f64>,
    pub gradient_accumulation_steps: usize,
    pub seed: u64,
    pub max_steps: Option<usize>,
    pub logging_steps: usize,
}

impl Default for TrainingArgs {
    fn default() -> Self {
        Self {
            num_train_epochs: 3,
            per_device_train_batch_size: 8,
            per_device_eval_batch_size: 8,
            learning_rate: 5e-5,
            adamw: AdamWSettings::default(),
            warmup_steps: 0,
            max_grad_norm: None,
            gradient_accumulation_steps: 1,
            seed: 42,
            max_steps: None,
            logging_steps: 10,
        }
    }
}

impl TrainingArgs {
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("num_train_epochs", self.num_train_epochs),
            ("per_device_train_batch_size", self.per_device_train_batch_size),
            ("per_device_eval_batch_size", self.per_device_eval_batch_size),
            ("gradient_accumulation_steps", self.gradient_accumulation_steps),
            ("logging_steps", self.logging_steps),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(Error::Invalid(format!("{name} must be at least 1")));
            }
        }
        if self.max_steps == Some(0) {
            return Err(Error::Invalid("max_steps must be at least 1".into()));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(Error::Invalid(format!("learning_rate {} must be > 0", self.learning_rate)));
        }
        if let Some(n) = self.max_grad_norm {
            if !(n.is_finite() && n > 0.0) {
                return Err(Error::Invalid(format!("max_grad_norm {n} must be > 0")));
            }
        }
        Ok(())
    }

    /// Optimizer steps in one epoch of `n` examples (transformers: batches // accumulation, ≥ 1).
    pub fn steps_per_epoch(&self, n: usize) -> usize {
        (n.div_ceil(self.per_device_train_batch_size) / self.gradient_accumulation_steps).max(1)
    }

    pub fn total_steps(&self, n: usize) -> usize {
        self.max_steps
            .unwrap_or(self.num_train_epochs * self.steps_per_epoch(n))
    }
}

/// A tokenized task: what the loop consumes.
pub struct TaskData {
    pub task: Task,
    pub train: Vec<Encoded>,
    pub train_labels: Vec<usize>,
    pub validation: Vec<Encoded>,
    pub validation_labels: Vec<usize>,
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
            train_labels: labels_of(train, train_name)?,
            validation_labels: labels_of(validation, validation_name)?,
            train: tokenize(tokenizer, train)?,
            validation: tokenize(tokenizer, validation)?,
            pad_id: tokenizer.pad_id(),
        })
    }
}

pub fn tokenize(tokenizer: &TextTokenizer, examples: &[Example]) -> Result<Vec<Encoded>> {
    examples
        .iter()
        .map(|e| tokenizer.encode(&e.text_a, e.text_b.as_deref()))
        .collect()
}

/// Label ids of a labelled split; `name` names the file in errors.
pub fn labels_of(examples: &[Example], name: &str) -> Result<Vec<usize>> {
    examples
        .iter()
        .map(|e| e.label.ok_or_else(|| Error::data(name, e.line, "this split has no labels")))
        .collect()
}

/// What the driver of a run wants once an optimizer step is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// End the run now: it is evaluated and returned as it stands.
    Stop,
}

/// Awaited after every optimizer step. The page pauses a run by not resolving it yet, and gets
/// a chance to handle its messages because awaiting it may yield to the event loop.
pub trait Control {
    fn after_step(&mut self) -> Pin<Box<dyn Future<Output = Flow> + '_>>;
}

/// A run nobody interrupts (the CLI, tests).
pub struct RunToEnd;

impl Control for RunToEnd {
    fn after_step(&mut self) -> Pin<Box<dyn Future<Output = Flow> + '_>> {
        Box::pin(std::future::ready(Flow::Continue))
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Report {
    pub steps: usize,
    /// Stopped by its driver before the planned number of steps.
    pub stopped: bool,
    pub train_runtime_s: f64,
    pub train_samples_per_second: f64,
    pub evaluations: Vec<(f64, Metrics)>,
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
    train_with_control(model, data, args, device, initialized, sink, &mut RunToEnd).await
}

/// [`train`], asking `control` after every optimizer step whether to go on.
pub async fn train_with_control(
    mut model: BertForSequenceClassification,
    data: &TaskData,
    args: &TrainingArgs,
    device: &Device,
    initialized: Vec<String>,
    sink: &mut dyn FnMut(&Event),
    control: &mut dyn Control,
) -> Result<(BertForSequenceClassification, Report)> {
    args.validate()?;
    if data.train.is_empty() {
        return Err(Error::Invalid("the training split is empty".into()));
    }
    let n = data.train.len();
    let batch_size = args.per_device_train_batch_size;
    let accumulation = args.gradient_accumulation_steps;
    let steps_per_epoch = args.steps_per_epoch(n);
    let total_steps = args.total_steps(n);
    let num_epochs = total_steps.div_ceil(steps_per_epoch);
    let plain = device.clone().without_autodiff();
    device.seed(args.seed);

    sink(&Event::Started {
        total_steps,
        num_examples: n,
        num_epochs,
        initialized,
    });

    let mut optimizer = args.adamw.init();
    let mut accumulator: GradientsAccumulator<BertForSequenceClassification> = GradientsAccumulator::new();
    // web-time: std's Instant on native, performance.now() in the browser (std's panics there).
    let started = web_time::Instant::now();
    let mut step = 0;
    let mut samples = 0;
    let mut window: Option<Tensor<1>> = None;
    let mut window_steps = 0;
    let mut evaluations = Vec::new();
    let mut stopped = false;
    // Throughput counts training only, as transformers' train_samples_per_second does not
    // include evaluation.
    let mut paused_or_eval_s = 0.0;
    let epoch_of = |step: usize| step as f64 / steps_per_epoch as f64;

    'epochs: for epoch in 0..num_epochs {
        let order = epoch_order(n, args.seed, epoch);
        let batches: Vec<&[usize]> = order.chunks(batch_size).collect();
        // Batches that do not fill a whole accumulation group at the epoch's end are dropped,
        // as transformers does when it counts steps per epoch.
        let usable = (batches.len() / accumulation).max(1) * accumulation;
        for (i, idx) in batches.iter().take(usable).enumerate() {
            let encoded: Vec<&Encoded> = idx.iter().map(|&i| &data.train[i]).collect();
            let labels: Vec<usize> = idx.iter().map(|&i| data.train_labels[i]).collect();
            let batch = collate(&encoded, Some(&labels), data.pad_id, device);
            let logits = model.forward(batch.input);
            let loss = cross_entropy(logits, batch.labels.expect("training batches are labelled"));
            let scaled = if accumulation > 1 { loss.clone().div_scalar(accumulation as f64) } else { loss.clone() };
            let grads = GradientsParams::from_grads(scaled.backward(), &model);
            accumulator.accumulate(&model, grads);
            samples += batch.size;
            let detached = loss.detach();
            window = Some(match window.take() {
                Some(w) => w + detached.div_scalar(accumulation as f64),
                None => detached.div_scalar(accumulation as f64),
            });
            if (i + 1) % accumulation != 0 {
                continue;
            }

            let mut grads = accumulator.grads();
            if let Some(max_norm) = args.max_grad_norm {
                grads = clip_grad_norm(&model, grads, max_norm);
            }
            let lr = linear_schedule(args.learning_rate, step, args.warmup_steps, total_steps);
            model = optimizer.step(lr, model, grads);
            step += 1;
            window_steps += 1;
            sink(&Event::Step {
                step,
                total_steps,
                epoch: epoch_of(step),
                learning_rate: lr,
                samples,
                elapsed_s: started.elapsed().as_secs_f64() - paused_or_eval_s,
            });

            if step % args.logging_steps == 0 || step == total_steps {
                let mean = window.take().expect("a step adds to the window").div_scalar(window_steps as f64);
                let loss: f32 = mean.into_scalar_async::<f32>().await?;
                window_steps = 0;
                if !loss.is_finite() {
                    return Err(Error::NonFiniteLoss { step, loss });
                }
                sink(&Event::Log { step, epoch: epoch_of(step), loss, learning_rate: lr });
            }
            if step == total_steps {
                break 'epochs;
            }
            // Time spent paused is not training time.
            let asked = web_time::Instant::now();
            let flow = control.after_step().await;
            paused_or_eval_s += asked.elapsed().as_secs_f64();
            if flow == Flow::Stop {
                stopped = true;
                break 'epochs;
            }
        }
        let paused_or_eval_started = web_time::Instant::now();
        let metrics = run_eval(&model, data, args, &plain).await?;
        paused_or_eval_s += paused_or_eval_started.elapsed().as_secs_f64();
        sink(&Event::Evaluated { step, epoch: epoch_of(step), metrics: metrics.clone() });
        evaluations.push((epoch_of(step), metrics));
    }
    let runtime = started.elapsed().as_secs_f64() - paused_or_eval_s;
    // A run cut short by max_steps or a stop still ends with a score.
    if step > 0 && evaluations.last().map(|(e, _)| *e) != Some(epoch_of(step)) {
        let metrics = run_eval(&model, data, args, &plain).await?;
        sink(&Event::Evaluated { step, epoch: epoch_of(step), metrics: metrics.clone() });
        evaluations.push((epoch_of(step), metrics));
    }
    let report = Report {
        steps: step,
        stopped,
        train_runtime_s: runtime,
        train_samples_per_second: samples as f64 / runtime.max(1e-9),
        evaluations,
    };
    Ok((model, report))
}

async fn run_eval(
    model: &BertForSequenceClassification,
    data: &TaskData,
    args: &TrainingArgs,
    plain: &Device,
) -> Result<Metrics> {
    let valid = model.valid();
    evaluate(
        &valid,
        data.task,
        &data.validation,
        &data.validation_labels,
        args.per_device_eval_batch_size,
        data.pad_id,
        plain,
    )
    .await
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

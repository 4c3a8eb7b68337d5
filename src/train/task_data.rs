//! A tokenized task, what the loop consumes: the training split and the validation set(s), their
//! labels, and the checks a run of it must pass before its first step (memory).

use super::args::TrainingArgs;
use super::memory::{self, MemoryEstimate, MemoryLimits};
use crate::data::{Encoded, Example, Label, Labels, Task, TextTokenizer};
use crate::error::{Error, Result};
use crate::model::BertConfig;

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
    /// The validation set's rows, which its mistakes are shown with (none: shown by their place
    /// in the split alone).
    pub validation_examples: Vec<Example>,
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
            validation_examples: validation.to_vec(),
        })
    }

    /// With MNLI's mismatched validation set (`name` names it in errors).
    pub fn with_mismatched(mut self, tokenizer: &TextTokenizer, examples: &[Example], name: &str) -> Result<Self> {
        self.mismatched = Some((tokenize(tokenizer, examples)?, labels_of(self.task, examples, name)?));
        Ok(self)
    }

    /// What one training step of `args` on this data needs.
    pub fn memory_estimate(&self, config: &BertConfig, args: &TrainingArgs) -> MemoryEstimate {
        memory::estimate(config, batch_of(args.per_device_train_batch_size, &self.train), longest(&self.train), args.lora.as_ref())
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


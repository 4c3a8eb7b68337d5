//! What PyTorch reaches with the course's recipe ("A full training": batch 8, AdamW lr 5e-5 without
//! weight decay, linear decay to 0 without warmup, 3 epochs, MRPC's whole training split), for the
//! models it has been measured with: the line a run's scores are drawn against. Plain data.

use serde::Serialize;

use super::args::{AdamWSettings, Precision, TrainingArgs};
use crate::data::{Split, Task};

/// Validation scores PyTorch reached, by `evaluate`'s names, and where they come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reference {
    pub source: &'static str,
    pub scores: &'static [(&'static str, f64)],
}

/// By the model's Hub name (the last part of its id or folder).
const REFERENCES: &[(&str, Task, Reference)] = &[
    (
        "bert-base-uncased",
        Task::Mrpc,
        // The course prints this run's metric.compute() in chapter 3, "A full training".
        Reference {
            source: "PyTorch, the course's run (chapter 3, \"A full training\")",
            scores: &[("accuracy", 0.8431372549019608), ("f1", 0.8907849829351535)],
        },
    ),
    (
        "all-MiniLM-L6-v2",
        Task::Mrpc,
        // docs/accuracy.md: scripts/reference_train.py, seeds 42–46, the mean.
        Reference { source: "PyTorch, mean of 5 seeds (docs/accuracy.md)", scores: &[("accuracy", 0.7985), ("f1", 0.8599)] },
    ),
];

/// The reference for a run of `model` (a Hub id or a folder's path) on `task` with `args`, when
/// `args` are the recipe; none otherwise, since another recipe's scores would not be comparable.
/// The run must also train and evaluate on the whole task (`whole_task`), which a shell knows once
/// it has read the data.
pub fn reference(model: &str, task: Task, args: &TrainingArgs) -> Option<&'static Reference> {
    let recipe = TrainingArgs::default();
    let is_recipe = args.num_train_epochs == recipe.num_train_epochs
        && args.per_device_train_batch_size == recipe.per_device_train_batch_size
        && args.learning_rate == recipe.learning_rate
        && same_adamw(&args.adamw, &recipe.adamw)
        && args.warmup_steps == 0
        && args.max_grad_norm.is_none()
        && args.gradient_accumulation_steps == 1
        && args.max_steps.is_none()
        && !args.group_by_length
        && args.precision == Precision::F32
        && args.lora.is_none()
        && !has_replicas(args);
    let name = model.trim_end_matches(['/', '\\']).rsplit(['/', '\\']).next().unwrap_or(model);
    REFERENCES.iter().find(|(m, t, _)| is_recipe && *t == task && m.eq_ignore_ascii_case(name)).map(|(_, _, r)| r)
}

/// Whether a run's splits are the task's whole ones, as GLUE publishes them (MRPC: 3668 and 408).
pub fn whole_task(task: Task, train_examples: usize, eval_examples: usize) -> bool {
    train_examples == task.published_size(Split::Train) && eval_examples == task.published_size(Split::Validation)
}

fn same_adamw(a: &AdamWSettings, b: &AdamWSettings) -> bool {
    (a.beta1, a.beta2, a.epsilon, a.weight_decay) == (b.beta1, b.beta2, b.epsilon, b.weight_decay)
}

/// Data parallelism changes the batch each step sees.
fn has_replicas(args: &TrainingArgs) -> bool {
    #[cfg(feature = "trainer")]
    return !args.replicas.is_empty();
    #[cfg(not(feature = "trainer"))]
    {
        let _ = args;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_recipe_on_a_measured_model_has_a_reference() {
        let recipe = TrainingArgs::default();
        let r = reference("bert-base-uncased", Task::Mrpc, &recipe).unwrap();
        assert_eq!(r.scores[0], ("accuracy", 0.8431372549019608));
        let minilm = reference("/root/.cache/webtune/models/all-MiniLM-L6-v2/", Task::Mrpc, &recipe);
        assert_eq!(minilm.unwrap().scores[1], ("f1", 0.8599));
        assert!(reference("sentence-transformers/all-MiniLM-L6-v2", Task::Mrpc, &recipe).is_some());
        assert!(reference("bert-base-uncased", Task::Sst2, &recipe).is_none());
        assert!(reference("roberta-base", Task::Mrpc, &recipe).is_none());
        assert!(reference("output/mrpc/checkpoint-459", Task::Mrpc, &recipe).is_none());
        let other = [
            TrainingArgs { learning_rate: 2e-5, ..recipe.clone() },
            TrainingArgs { max_steps: Some(20), ..recipe.clone() },
            TrainingArgs { num_train_epochs: 1, ..recipe.clone() },
            TrainingArgs { lora: Some(crate::model::lora_config::LoraConfig::new(8, crate::model::Family::Bert)), ..recipe.clone() },
            TrainingArgs { precision: Precision::Bf16, ..recipe.clone() },
        ];
        for args in other {
            assert!(reference("bert-base-uncased", Task::Mrpc, &args).is_none(), "{args:?}");
        }
        assert!(whole_task(Task::Mrpc, 3668, 408));
        assert!(!whole_task(Task::Mrpc, 160, 408) && !whole_task(Task::Mrpc, 3668, 32));
    }
}

//! What a run tells whoever drives it. The CLI renders these as a progress bar and
//! `metrics.jsonl`; the page as signals.

use serde::{Deserialize, Serialize};

use super::metrics::Metrics;
use super::mistakes::Mistake;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Started {
        total_steps: usize,
        num_examples: usize,
        num_epochs: usize,
        /// Tensors initialised rather than loaded (the new classifier head).
        initialized: Vec<String>,
        /// The checkpoint's step when the run continues one; its history follows as events.
        #[serde(default)]
        resumed_from_step: Option<usize>,
    },
    /// After every optimizer step. Carries no loss, so it costs no GPU read.
    Step {
        step: usize,
        total_steps: usize,
        epoch: f64,
        learning_rate: f64,
        samples: usize,
        elapsed_s: f64,
    },
    /// Every `logging_steps`: the mean training loss since the previous log.
    Log {
        step: usize,
        epoch: f64,
        loss: f32,
        learning_rate: f64,
    },
    Evaluated {
        step: usize,
        epoch: f64,
        /// On the validation set (MNLI's matched one).
        metrics: Metrics,
        /// On MNLI's mismatched validation set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mismatched: Option<Metrics>,
        /// On the validation set, `[true class][predicted class]`; none for a regression.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        confusion: Option<Vec<Vec<usize>>>,
        /// The validation set's wrong answers, most confident first (at most `MISTAKES_KEPT`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        mistakes: Vec<Mistake>,
    },
}

/// How a run ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub steps: usize,
    /// Stopped by its driver before the planned number of steps.
    pub stopped: bool,
    pub train_runtime_s: f64,
    pub train_samples_per_second: f64,
    pub evaluations: Vec<(f64, Metrics)>,
    /// MNLI's mismatched validation set at the last evaluation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mismatched: Option<Metrics>,
}

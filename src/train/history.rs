//! A run's story as its charts tell it: the logged losses and every evaluation, gathered from its
//! events. Plain data: the CLI folds its events into a `History` for `report.html`; the page keeps
//! the same `LossPoint`s and `EvalRow`s as signals of their own (a chart redraws when its own part
//! changes); `charts` draws from them.

use serde::{Deserialize, Serialize};

use super::event::Event;
use super::metrics::Metrics;
use super::mistakes::Mistake;

/// One `Log` event: the mean training loss since the previous one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossPoint {
    pub step: usize,
    pub loss: f32,
    pub learning_rate: f64,
}

/// One `Evaluated` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRow {
    pub step: usize,
    pub epoch: f64,
    pub metrics: Metrics,
    /// MNLI's mismatched validation set.
    pub mismatched: Option<Metrics>,
    /// `[true class][predicted class]`; none for a regression.
    pub confusion: Option<Vec<Vec<usize>>>,
    /// The wrong answers, most confident first.
    pub mistakes: Vec<Mistake>,
}

impl EvalRow {
    /// The row's scores by `evaluate`'s names, then MNLI's mismatched ones with run_glue's `_mm`.
    pub fn scores(&self) -> Vec<(String, f64)> {
        let mut cells: Vec<(String, f64)> = self.metrics.scores().into_iter().map(|(n, v)| (n.to_string(), v)).collect();
        if let Some(mm) = &self.mismatched {
            cells.extend(mm.scores().into_iter().map(|(n, v)| (format!("{n}_mm"), v)));
        }
        cells
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    pub total_steps: usize,
    /// The step reached, and the training samples per second so far.
    pub step: usize,
    pub samples_per_second: f64,
    pub losses: Vec<LossPoint>,
    pub evaluations: Vec<EvalRow>,
}

impl History {
    pub fn record(&mut self, event: &Event) {
        match event {
            // A resumed run replays its history after this, so it starts from nothing too.
            Event::Started { total_steps, .. } => *self = History { total_steps: *total_steps, ..History::default() },
            Event::Step { step, total_steps, samples, elapsed_s, .. } => {
                self.total_steps = *total_steps;
                self.step = *step;
                self.samples_per_second = *samples as f64 / elapsed_s.max(1e-9);
            }
            Event::Log { step, loss, learning_rate, .. } => {
                self.losses.push(LossPoint { step: *step, loss: *loss, learning_rate: *learning_rate })
            }
            Event::Evaluated { step, epoch, metrics, mismatched, confusion, mistakes } => self.evaluations.push(EvalRow {
                step: *step,
                epoch: *epoch,
                metrics: metrics.clone(),
                mismatched: mismatched.clone(),
                confusion: confusion.clone(),
                mistakes: mistakes.clone(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(accuracy: f64) -> Metrics {
        Metrics { accuracy: Some(accuracy), f1: Some(0.5), matthews_correlation: None, pearson: None, spearmanr: None, examples: 4 }
    }

    #[test]
    fn a_started_event_begins_a_new_story() {
        let mut h = History::default();
        let started = Event::Started { total_steps: 9, num_examples: 72, num_epochs: 3, initialized: vec![], resumed_from_step: None };
        h.record(&started);
        h.record(&Event::Log { step: 5, epoch: 0.5, loss: 0.7, learning_rate: 1e-5 });
        let evaluated = Event::Evaluated {
            step: 9, epoch: 1.0, metrics: metrics(0.75), mismatched: None, confusion: Some(vec![vec![2, 1], vec![0, 1]]), mistakes: vec![],
        };
        h.record(&evaluated);
        h.record(&Event::Step { step: 9, total_steps: 9, epoch: 1.0, learning_rate: 0.0, samples: 72, elapsed_s: 2.0 });
        assert_eq!(h.losses, vec![LossPoint { step: 5, loss: 0.7, learning_rate: 1e-5 }]);
        assert_eq!(h.evaluations[0].scores(), vec![("accuracy".to_string(), 0.75), ("f1".to_string(), 0.5)]);
        assert_eq!((h.step, h.samples_per_second), (9, 36.0));
        h.record(&started);
        assert_eq!(h, History { total_steps: 9, ..History::default() });
    }
}

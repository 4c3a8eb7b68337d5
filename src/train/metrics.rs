//! The scores of an evaluation: accuracy, and F1 of the positive class (label 1) for the tasks
//! that report it.

use serde::{Deserialize, Serialize};

use crate::data::Task;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub accuracy: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub f1: Option<f64>,
    pub examples: usize,
}

impl Metrics {
    pub fn compute(task: Task, predictions: &[usize], labels: &[usize]) -> Self {
        let n = labels.len();
        let correct = predictions.iter().zip(labels).filter(|(p, l)| p == l).count();
        let f1 = task.has_f1().then(|| {
            let tp = predictions.iter().zip(labels).filter(|&(&p, &l)| p == 1 && l == 1).count() as f64;
            let fp = predictions.iter().zip(labels).filter(|&(&p, &l)| p == 1 && l != 1).count() as f64;
            let fn_ = predictions.iter().zip(labels).filter(|&(&p, &l)| p != 1 && l == 1).count() as f64;
            if tp == 0.0 { 0.0 } else { 2.0 * tp / (2.0 * tp + fp + fn_) }
        });
        Metrics {
            accuracy: if n == 0 { 0.0 } else { correct as f64 / n as f64 },
            f1,
            examples: n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_and_f1_of_the_positive_class() {
        let m = Metrics::compute(Task::Mrpc, &[1, 1, 0, 0, 1], &[1, 0, 0, 1, 1]);
        assert_eq!(m.accuracy, 0.6);
        // tp 2, fp 1, fn 1 → 2·2 / (4 + 1 + 1)
        assert!((m.f1.unwrap() - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(Metrics::compute(Task::Sst2, &[1], &[1]).f1, None);
        assert_eq!(Metrics::compute(Task::Mrpc, &[0, 0], &[1, 0]).f1, Some(0.0));
    }
}

//! Scoring a split: accuracy, and F1 of the positive class (label 1) for tasks that report it.

use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

use crate::data::{Encoded, Task, collate};
use crate::error::{Error, Result};
use crate::model::BertForSequenceClassification;

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

/// Predicted label ids for `examples`, in order. `model` should be in evaluation mode
/// (`Module::valid`), `device` the plain (non-autodiff) device. One GPU read at the end.
pub async fn predict_labels(
    model: &BertForSequenceClassification,
    examples: &[Encoded],
    batch_size: usize,
    pad_id: u32,
    device: &Device,
) -> Result<Vec<usize>> {
    let mut preds: Vec<Tensor<1, Int>> = Vec::new();
    for chunk in examples.chunks(batch_size.max(1)) {
        let refs: Vec<&Encoded> = chunk.iter().collect();
        let batch = collate(&refs, None, pad_id, device);
        let [b, _] = batch.input.input_ids.dims();
        preds.push(model.forward(batch.input).argmax(1).reshape([b]));
    }
    if preds.is_empty() {
        return Ok(Vec::new());
    }
    let data = Tensor::cat(preds, 0).into_data_async().await?;
    let values = data
        .convert::<i64>()
        .try_into_vec::<i64>()
        .map_err(|e| Error::Device(format!("reading predictions: {e:?}")))?;
    Ok(values.into_iter().map(|v| v as usize).collect())
}

pub async fn evaluate(
    model: &BertForSequenceClassification,
    task: Task,
    examples: &[Encoded],
    labels: &[usize],
    batch_size: usize,
    pad_id: u32,
    device: &Device,
) -> Result<Metrics> {
    let preds = predict_labels(model, examples, batch_size, pad_id, device).await?;
    Ok(Metrics::compute(task, &preds, labels))
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

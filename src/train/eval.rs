//! Scoring a split: the model's predicted labels, and their metrics (`metrics.rs`).

use burn::tensor::{Device, Int, Tensor};

use super::metrics::Metrics;
use crate::data::{Encoded, Task, collate};
use crate::error::{Error, Result};
use crate::model::BertForSequenceClassification;

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

//! Scoring a split: the model's predictions, and their metrics (`metrics.rs`).

use burn::tensor::{Device, Tensor};

use super::metrics::Metrics;
use crate::data::{Encoded, Labels, Task, collate};
use crate::error::{Error, Result};
use crate::model::SequenceClassifier;

/// The model's answers for `examples`, in order: the most likely class ids, or, for a model with
/// one output (a regression, as transformers decides by `num_labels == 1`), that output. `model`
/// should be in evaluation mode (`Module::valid`), `device` the plain (non-autodiff) device. One
/// GPU read at the end.
pub async fn predict_labels(
    model: &SequenceClassifier,
    examples: &[Encoded],
    batch_size: usize,
    pad_id: u32,
    device: &Device,
) -> Result<Labels> {
    let mut outputs: Vec<Tensor<1>> = Vec::new();
    let mut regression = false;
    for chunk in examples.chunks(batch_size.max(1)) {
        let refs: Vec<&Encoded> = chunk.iter().collect();
        let batch = collate(&refs, None, pad_id, device);
        let [b, _] = batch.input.input_ids.dims();
        let logits = model.forward(batch.input);
        let [_, width] = logits.dims();
        regression = width == 1;
        // Class ids are small integers: carried as floats, they share one read with scores.
        outputs.push(if regression { logits.reshape([b]) } else { logits.argmax(1).reshape([b]).float() });
    }
    if outputs.is_empty() {
        return Ok(Labels::Classes(Vec::new()));
    }
    let values = Tensor::cat(outputs, 0)
        .into_data_async()
        .await?
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| Error::Device(format!("reading predictions: {e:?}")))?;
    Ok(if regression { Labels::Scores(values) } else { Labels::Classes(values.into_iter().map(|v| v as usize).collect()) })
}

pub async fn evaluate(
    model: &SequenceClassifier,
    task: Task,
    examples: &[Encoded],
    labels: &Labels,
    batch_size: usize,
    pad_id: u32,
    device: &Device,
) -> Result<Metrics> {
    let predictions = predict_labels(model, examples, batch_size, pad_id, device).await?;
    Metrics::compute(task, &predictions, labels)
}

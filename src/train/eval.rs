//! Scoring a split: the model's predictions, their metrics (`metrics.rs`), and what it got wrong
//! (`mistakes.rs`).

use burn::tensor::{Device, Tensor, activation};

use super::metrics::Metrics;
use crate::data::{Encoded, Labels, Task, collate};
use crate::error::{Error, Result};
use crate::model::SequenceClassifier;

/// The model's answers for a split, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    /// The most likely class ids, or, for a model with one output (a regression, as transformers
    /// decides by `num_labels == 1`), that output.
    pub labels: Labels,
    /// Each example's class probabilities (softmax of the logits); empty for a regression.
    pub probabilities: Vec<Vec<f32>>,
}

/// The model's answers for `examples`. `model` should be in evaluation mode (`Module::valid`),
/// `device` the plain (non-autodiff) device. One GPU read at the end, of the class ids and the
/// probabilities together.
pub async fn predict(
    model: &SequenceClassifier,
    examples: &[Encoded],
    batch_size: usize,
    pad_id: u32,
    device: &Device,
) -> Result<Predictions> {
    let mut outputs: Vec<Tensor<2>> = Vec::new();
    let mut width = 0;
    for chunk in examples.chunks(batch_size.max(1)) {
        let refs: Vec<&Encoded> = chunk.iter().collect();
        let batch = collate(&refs, None, pad_id, device);
        let [b, _] = batch.input.input_ids.dims();
        let logits = model.forward(batch.input);
        width = logits.dims()[1];
        // The class id (a small integer, carried as a float) first, then the probabilities: one read.
        outputs.push(match width {
            1 => logits,
            _ => Tensor::cat(vec![logits.clone().argmax(1).reshape([b, 1]).float(), activation::softmax(logits, 1)], 1),
        });
    }
    if outputs.is_empty() {
        return Ok(Predictions { labels: Labels::Classes(Vec::new()), probabilities: Vec::new() });
    }
    let values = Tensor::cat(outputs, 0)
        .into_data_async()
        .await?
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| Error::Device(format!("reading predictions: {e:?}")))?;
    if width == 1 {
        return Ok(Predictions { labels: Labels::Scores(values), probabilities: Vec::new() });
    }
    let rows = values.chunks_exact(width + 1);
    Ok(Predictions {
        labels: Labels::Classes(rows.clone().map(|row| row[0] as usize).collect()),
        probabilities: rows.map(|row| row[1..].to_vec()).collect(),
    })
}

/// A split scored: its metrics and the predictions they come from.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub metrics: Metrics,
    pub predictions: Predictions,
}

pub async fn evaluate(
    model: &SequenceClassifier,
    task: Task,
    examples: &[Encoded],
    labels: &Labels,
    batch_size: usize,
    pad_id: u32,
    device: &Device,
) -> Result<Evaluation> {
    let predictions = predict(model, examples, batch_size, pad_id, device).await?;
    let metrics = Metrics::compute(task, &predictions.labels, labels)?;
    Ok(Evaluation { metrics, predictions })
}

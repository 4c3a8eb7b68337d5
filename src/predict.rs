//! Classifying one input with a (fine-tuned) model: the label and its probabilities.

use burn::tensor::Device;
use burn::tensor::activation::softmax;
use serde::Serialize;

use crate::data::{TextTokenizer, collate};
use crate::error::{Error, Result};
use crate::model::{BertConfig, BertForSequenceClassification};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Prediction {
    pub label: String,
    pub label_id: usize,
    /// In label-id order.
    pub probabilities: Vec<f32>,
}

/// `model` in evaluation mode on the plain `device`.
pub async fn predict(
    model: &BertForSequenceClassification,
    config: &BertConfig,
    tokenizer: &TextTokenizer,
    text_a: &str,
    text_b: Option<&str>,
    device: &Device,
) -> Result<Prediction> {
    let encoded = tokenizer.encode(text_a, text_b)?;
    let batch = collate(&[&encoded], None, tokenizer.pad_id(), device);
    let probs = softmax(model.forward(batch.input), 1).into_data_async().await?;
    let probabilities = probs
        .convert::<f32>()
        .into_vec::<f32>()
        .map_err(|e| Error::Device(format!("reading probabilities: {e:?}")))?;
    let (label_id, _) = probabilities
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &p)| if p > best.1 { (i, p) } else { best });
    let label = config.labels().get(label_id).cloned().unwrap_or_else(|| format!("LABEL_{label_id}"));
    Ok(Prediction { label, label_id, probabilities })
}

//! Classifying one input with a (fine-tuned) model: the label and its probabilities, or the score
//! of a regression model (STS-B), and the tokens the model read.

use serde::{Deserialize, Serialize};

// A prediction is plain data (the page shows it); computing one is the trainer's.
#[cfg(feature = "trainer")]
use {
    crate::data::{TextTokenizer, collate},
    crate::error::{Error, Result},
    crate::model::{BertConfig, SequenceClassifier},
    burn::tensor::Device,
    burn::tensor::activation::softmax,
};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Prediction {
    /// The most likely label (a regression model's one output is named `LABEL_0`).
    pub label: String,
    pub label_id: usize,
    /// In label-id order; empty for a regression model.
    pub probabilities: Vec<f32>,
    pub logits: Vec<f32>,
    /// A regression model's output (STS-B: similarity from 0 to 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    /// The input as the model read it: `[CLS] a … [SEP] b … [SEP]` as the tokenizer split it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<Token>,
    /// How the first token (`[CLS]`, what the head reads) attends over `tokens` in the last layer:
    /// one row per head, each summing to 1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attention: Vec<Vec<f32>>,
}

impl Prediction {
    /// How `[CLS]` attends over the tokens in the last layer: one head's row, or (`None`) the mean
    /// of every head's, which is also a distribution (each row sums to 1). Empty without attention.
    pub fn attention_row(&self, head: Option<usize>) -> Vec<f32> {
        match head {
            Some(h) => self.attention.get(h).cloned().unwrap_or_default(),
            None => {
                let heads = self.attention.len().max(1) as f32;
                let mut mean = vec![0.0; self.attention.first().map_or(0, Vec::len)];
                for row in &self.attention {
                    mean.iter_mut().zip(row).for_each(|(m, a)| *m += a / heads);
                }
                mean
            }
        }
    }
}

/// One token of an input, for people to see how the model reads a sentence.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Token {
    /// As the vocabulary spells it: WordPiece marks a piece inside a word with `##`.
    pub text: String,
    pub id: u32,
    /// `token_type_ids`: 0 for the first sentence (and `[CLS]`), 1 for the second.
    pub segment: u32,
    /// Added by the tokenizer (`[CLS]`, `[SEP]`), not from the text.
    pub special: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mean_over_heads_is_a_distribution_and_a_head_is_its_own_row() {
        let p = Prediction {
            label: "a".into(),
            label_id: 0,
            probabilities: vec![1.0],
            logits: vec![0.0],
            score: None,
            tokens: Vec::new(),
            attention: vec![vec![0.5, 0.5, 0.0], vec![0.1, 0.3, 0.6]],
        };
        let mean = p.attention_row(None);
        assert!(mean.iter().zip([0.3, 0.4, 0.3]).all(|(a, b)| (a - b).abs() < 1e-6), "{mean:?}");
        assert_eq!(p.attention_row(Some(1)), vec![0.1, 0.3, 0.6]);
        assert!(p.attention_row(Some(2)).is_empty());
        assert!(Prediction { attention: Vec::new(), ..p }.attention_row(None).is_empty());
    }
}

#[cfg(feature = "trainer")]
/// `model` in evaluation mode on the plain `device`.
pub async fn predict(
    model: &SequenceClassifier,
    config: &BertConfig,
    tokenizer: &TextTokenizer,
    text_a: &str,
    text_b: Option<&str>,
    device: &Device,
) -> Result<Prediction> {
    let encoded = tokenizer.encode(text_a, text_b)?;
    let tokens = tokenizer.tokens(text_a, text_b)?;
    let batch = collate(&[&encoded], None, tokenizer.pad_id(), device);
    let out = model.forward_outputs(batch.input, true);
    let attention = out.first_token_attention().expect("asked for");
    let [_, heads, keys] = attention.dims();
    let probs = softmax(out.logits.clone(), 1);
    let mut read = burn::tensor::Transaction::default()
        .register(out.logits)
        .register(probs)
        .register(attention)
        .execute_async()
        .await?;
    let host = |d: burn::tensor::TensorData| {
        d.convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| Error::Device(format!("reading the prediction: {e:?}")))
    };
    let attention: Vec<Vec<f32>> = host(read.pop().expect("three tensors read"))?.chunks(keys).map(<[f32]>::to_vec).collect();
    let probabilities = host(read.pop().expect("three tensors read"))?;
    let logits = host(read.pop().expect("three tensors read"))?;
    debug_assert_eq!((attention.len(), keys), (heads, tokens.len()), "one batch of one input has no padding");
    let (label_id, _) = probabilities
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &p)| if p > best.1 { (i, p) } else { best });
    let label = config.labels().get(label_id).cloned().unwrap_or_else(|| format!("LABEL_{label_id}"));
    // transformers' rule: one output is a regression, whose softmax (always 1) means nothing.
    if let [score] = logits[..] {
        return Ok(Prediction { label, label_id, probabilities: Vec::new(), logits, score: Some(score), tokens, attention });
    }
    Ok(Prediction { label, label_id, probabilities, logits, score: None, tokens, attention })
}

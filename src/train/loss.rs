//! The loss of a batch, as transformers' `…ForSequenceClassification` computes it from its labels.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor};

use crate::data::Targets;

/// The loss transformers' `…ForSequenceClassification` computes: cross-entropy over the classes,
/// or, for a regression (one output), the mean squared error of that output.
pub fn loss(logits: Tensor<2>, targets: Targets) -> Tensor<1> {
    match targets {
        Targets::Classes(labels) => cross_entropy(logits, labels),
        Targets::Scores(scores) => mse(logits, scores),
    }
}

/// Mean squared error of `logits` [batch, 1] against `scores` [batch] (torch's `MSELoss` of the
/// squeezed logits).
pub fn mse(logits: Tensor<2>, scores: Tensor<1>) -> Tensor<1> {
    let [batch, _] = logits.dims();
    let diff = logits.reshape([batch]) - scores;
    (diff.clone() * diff).mean()
}

/// Mean cross-entropy of `logits` [batch, classes] against `labels` [batch].
pub fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let [batch, _] = logits.dims();
    log_softmax(logits, 1)
        .gather(1, labels.reshape([batch, 1]))
        .neg()
        .mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn cross_entropy_is_the_mean_negative_log_likelihood() {
        let device = Device::flex();
        let logits = Tensor::<2>::from_floats([[0.0, 0.0], [2.0, 0.0]], &device);
        let labels = Tensor::<1, Int>::from_ints([1, 0], &device);
        let loss = cross_entropy(logits, labels).into_scalar::<f32>();
        let expected = (2f32.ln() + (1.0 + (-2f32).exp()).ln()) / 2.0;
        assert!((loss - expected).abs() < 1e-6, "{loss} vs {expected}");
    }

    #[test]
    fn mse_is_torchs_mse_of_the_squeezed_output() {
        let device = Device::flex();
        let logits = Tensor::<2>::from_floats([[1.0], [3.5]], &device);
        let scores = Tensor::<1>::from_floats([2.0, 0.5], &device);
        let loss = mse(logits, scores).into_scalar::<f32>();
        assert!((loss - (1.0 + 9.0) / 2.0).abs() < 1e-6, "{loss}");
    }
}

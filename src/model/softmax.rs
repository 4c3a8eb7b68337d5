//! The attention probabilities: softmax(scores / √head_dim + mask) over the keys.
//!
//! Under autodiff burn composes softmax from five operations (max, subtract, exp, sum, divide),
//! each a single-threaded pass on the CPU backend, and differentiates each: with the scaling and
//! the mask, about 3 ms per all-MiniLM-L6-v2 layer and step. On the CPU the probabilities y are
//! computed here in one parallel pass over the rows. Their derivative is the symmetric
//! c·(diag(y) − y·yᵀ) (c = 1/√head_dim), so autodiff is handed, with w = c·(x − detach(x)) (zero):
//!
//!   y ⊙ (w − Σ_keys(y ⊙ w)) + y
//!
//! whose value is y to the bit and whose backward is grad ↦ c·(y ⊙ grad − y·Σ_keys(y ⊙ grad)).
//! Both products keep the same y for the backward pass: one batch × heads × seq² tensor per layer,
//! where keeping c·y as well took two (75 MB of bert-base's step at batch 8 and 128 tokens).
//! Other devices keep burn's softmax.

use burn::tensor::{DType, Tensor, activation};
use rayon::prelude::*;

use super::host::{constant, exp, tracked_zero, values};
use crate::device::in_host_memory;

/// `scores` [batch, heads, queries, keys]; `mask` additive, [batch, 1, 1, keys].
pub fn attention_probs(scores: Tensor<4>, head_dim: usize, mask: Tensor<4>) -> Tensor<4> {
    // In mixed precision, in f32 (as torch's autocast does): exp and the sum need the range.
    let dtype = scores.dtype();
    if dtype != DType::F32 {
        return attention_probs(scores.cast(DType::F32), head_dim, mask).cast(dtype);
    }
    let device = scores.device();
    let sqrt_d = (head_dim as f64).sqrt();
    // (`values` reads the tensor: only on the CPU, where that costs a copy and no wait)
    let host = in_host_memory(&device).then(|| values(&scores).zip(values(&mask))).flatten();
    let Some((input, additive)) = host else {
        return activation::softmax(scores.div_scalar(sqrt_d) + mask, 3);
    };
    let [batch, heads, queries, keys] = scores.dims();
    assert_eq!(mask.dims(), [batch, 1, 1, keys], "attention mask shape");
    let sqrt_d = sqrt_d as f32;
    let mut probs = vec![0.0f32; input.len()];
    // one task per (batch, head): `queries` rows of `keys`
    probs
        .par_chunks_mut(queries * keys)
        .zip(input.par_chunks(queries * keys))
        .enumerate()
        .for_each(|(i, (probs, input))| {
            let mask = &additive[(i / heads) * keys..][..keys];
            for (row, x) in probs.chunks_exact_mut(keys).zip(input.chunks_exact(keys)) {
                for ((p, x), m) in row.iter_mut().zip(x).zip(mask) {
                    *p = x / sqrt_d + m;
                }
                let max = row.iter().fold(f32::NEG_INFINITY, |a, b| a.max(*b));
                for p in row.iter_mut() {
                    *p = exp(*p - max);
                }
                let sum: f32 = row.iter().sum();
                for p in row.iter_mut() {
                    *p /= sum;
                }
            }
        });
    if !device.is_autodiff() {
        return constant(probs, &scores, &device);
    }
    let probs = constant(probs, &scores, &device);
    let zero = tracked_zero(scores.clone()).div_scalar(sqrt_d);
    let centred = zero.clone() - (probs.clone() * zero).sum_dim(3);
    probs.clone() * centred + probs
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution, TensorData};

    fn values(t: Tensor<4>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_into_vec().unwrap()
    }

    /// On the CPU: burn's composed softmax's values and gradients (with and without autodiff),
    /// with padded keys getting exactly zero.
    #[test]
    fn matches_burns_softmax_and_its_gradient() {
        let device = Device::flex().autodiff();
        let shape = [2, 3, 5, 7];
        let raw = Tensor::<4>::random(shape, Distribution::Normal(0.0, 4.0), &device.clone().without_autodiff());
        // the second sequence has its last two keys padded
        let mut mask = vec![0.0f32; 14];
        mask[12] = f32::MIN;
        mask[13] = f32::MIN;
        let mask = Tensor::<4>::from_data(TensorData::new(mask, [2, 1, 1, 7]), &device);
        let weights = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);

        let run = |ours: bool| {
            let x = Tensor::from_inner(raw.clone()).require_grad();
            let y = if ours {
                attention_probs(x.clone(), 16, mask.clone())
            } else {
                activation::softmax(x.clone().div_scalar(4.0) + mask.clone(), 3)
            };
            let grad = x.grad(&(y.clone() * weights.clone()).sum().backward()).unwrap();
            (values(y), grad.into_data().convert::<f32>().try_into_vec::<f32>().unwrap())
        };
        let ((y, grad), (y_burn, grad_burn)) = (run(true), run(false));
        for (a, b) in y.iter().zip(&y_burn).chain(grad.iter().zip(&grad_burn)) {
            assert!((a - b).abs() < 1e-6, "{a} vs burn's {b}");
        }
        for row in y.chunks(7).skip(15) {
            assert_eq!(row[5..], [0.0, 0.0], "padded keys get no attention");
        }
        assert!(grad.iter().any(|g| g.abs() > 1e-2), "a gradient flows");
        let plain = attention_probs(raw, 16, mask.inner());
        assert_eq!(values(plain), y);
    }
}

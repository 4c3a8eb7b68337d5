//! The attention: softmax(scores / √head_dim + mask) over the keys, dropped out, times the values.
//!
//! Under autodiff burn composes softmax from five operations (max, subtract, exp, sum, divide),
//! each a single-threaded pass on the CPU backend, and differentiates each: with the scaling and
//! the mask, about 3 ms per all-MiniLM-L6-v2 layer and step. Here the probabilities y are computed
//! without autodiff (on the CPU in one parallel pass over the rows), and autodiff is handed an
//! expression with y's value and the softmax's derivative. That derivative is the symmetric
//! c·(diag(y) − y·yᵀ) (c = 1/√head_dim), so with w = c·(x − detach(x)) (zero):
//!
//!   y ⊙ (w − Σ_keys(y ⊙ w)) + y
//!
//! has the value y to the bit and the backward grad ↦ c·(y ⊙ grad − y·Σ_keys(y ⊙ grad)). Both
//! products keep the same y for the backward pass: one batch × heads × seq² tensor per layer.
//!
//! Dropout multiplies the probabilities by a mask m: d = m ⊙ y, whose derivative is
//! c·(d ⊙ grad − y·Σ_keys(d ⊙ grad)). Dropout as a layer of its own, then the product with the
//! values, keep y, m and d for the backward pass: three such tensors per layer, the largest
//! activations of a LoRA step. Written as
//!
//!   context = d·V + (d ⊙ (w − Σ_keys(y ⊙ w)))·detach(V)
//!
//! the first product gives V its gradient from the constant d, the second (zero) gives the scores
//! theirs, and only y and d are kept: 75 MB less for bert-base at batch 8 and 128 tokens, on every
//! device. It costs one product of zeros in the forward pass.

use burn::nn::Dropout;
use burn::tensor::{DType, Tensor, activation};
use rayon::prelude::*;

use super::dropout;
use super::host::{constant, exp, tracked_zero, values};
use crate::device::in_host_memory;

/// dropout(softmax(`scores` / √`head_dim` + `mask`)) · `values`, and the probabilities before
/// dropout. `scores` [batch, heads, queries, keys]; `mask` additive, [batch, 1, 1, keys]; `values`
/// [batch, heads, keys, head_dim].
pub fn attend(scores: Tensor<4>, head_dim: usize, mask: Tensor<4>, layer: &Dropout, values: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
    // (In mixed precision, dropout after the probabilities: the mask is drawn once, by either path.)
    let drop = match scores.dtype() {
        DType::F32 => dropout::mask(layer, &scores),
        _ => None,
    };
    let Some(drop) = drop else {
        let probs = attention_probs(scores, head_dim, mask);
        return (dropout::dropout(layer, probs.clone()).matmul(values), probs);
    };
    let y = probabilities(&scores, head_dim, &mask);
    let dropped = Tensor::from_inner(y.clone() * drop.inner());
    let y = Tensor::from_inner(y);
    let zero = tracked_zero(scores).div_scalar((head_dim as f64).sqrt());
    let centred = zero.clone() - (y.clone() * zero).sum_dim(3);
    let context = dropped.clone().matmul(values.clone()) + (dropped * centred).matmul(values.detach());
    (context, y)
}

/// softmax(`scores` / √`head_dim` + `mask`), with the softmax's derivative under autodiff.
/// `scores` [batch, heads, queries, keys]; `mask` additive, [batch, 1, 1, keys].
pub fn attention_probs(scores: Tensor<4>, head_dim: usize, mask: Tensor<4>) -> Tensor<4> {
    // In mixed precision, in f32 (as torch's autocast does): exp and the sum need the range.
    let dtype = scores.dtype();
    if dtype != DType::F32 {
        return attention_probs(scores.cast(DType::F32), head_dim, mask).cast(dtype);
    }
    let device = scores.device();
    if !device.is_autodiff() {
        return probabilities(&scores, head_dim, &mask);
    }
    let probs = Tensor::from_inner(probabilities(&scores, head_dim, &mask));
    let zero = tracked_zero(scores).div_scalar((head_dim as f64).sqrt());
    let centred = zero.clone() - (probs.clone() * zero).sum_dim(3);
    probs.clone() * centred + probs
}

/// The probabilities' values, without autodiff: on the CPU in one parallel pass here, elsewhere
/// by burn's softmax.
fn probabilities(scores: &Tensor<4>, head_dim: usize, mask: &Tensor<4>) -> Tensor<4> {
    let device = scores.device();
    let sqrt_d = (head_dim as f64).sqrt();
    // (`values` reads the tensor: only on the CPU, where that costs a copy and no wait)
    let host = in_host_memory(&device).then(|| values(scores).zip(values(mask))).flatten();
    let Some((input, additive)) = host else {
        return activation::softmax(scores.clone().inner().div_scalar(sqrt_d) + mask.clone().inner(), 3);
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
    constant(probs, scores, &device.without_autodiff())
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

    /// With dropout on: the context and the gradients of the scores and of the values are those of
    /// burn's softmax, dropout's mask and the product composed, with the same mask.
    #[test]
    fn attend_matches_dropout_then_the_product() {
        use burn::nn::DropoutConfig;
        let _generators = super::dropout::TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let device = Device::flex().autodiff();
        let plain = device.clone().without_autodiff();
        let shape = [2, 3, 5, 7];
        let raw = Tensor::<4>::random(shape, Distribution::Normal(0.0, 4.0), &plain);
        let raw_values = Tensor::<4>::random([2, 3, 7, 4], Distribution::Normal(0.0, 1.0), &plain);
        let mut mask = vec![0.0f32; 14];
        mask[13] = f32::MIN;
        let mask = Tensor::<4>::from_data(TensorData::new(mask, [2, 1, 1, 7]), &device);
        let weights = Tensor::<4>::random([2, 3, 5, 4], Distribution::Normal(0.0, 1.0), &device);
        let layer = DropoutConfig::new(0.3).init();
        let grads = |x: &Tensor<4>, v: &Tensor<4>, context: &Tensor<4>| {
            let g = (context.clone() * weights.clone()).sum().backward();
            let read = |t: Tensor<4>| t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
            (read(x.grad(&g).unwrap()), read(v.grad(&g).unwrap()))
        };

        super::dropout::seed(&device, 11);
        let (x, v) = (Tensor::from_inner(raw.clone()).require_grad(), Tensor::from_inner(raw_values.clone()).require_grad());
        let (context, probs) = attend(x.clone(), 16, mask.clone(), &layer, v.clone());
        let (grad_x, grad_v) = grads(&x, &v, &context);

        super::dropout::seed(&device, 11);
        let (x, v) = (Tensor::from_inner(raw).require_grad(), Tensor::from_inner(raw_values).require_grad());
        let burns = activation::softmax(x.clone().div_scalar(4.0) + mask.clone(), 3);
        let m = super::dropout::mask(&layer, &burns).unwrap();
        let burns_context = (burns.clone() * m.clone()).matmul(v.clone());
        let (burns_x, burns_v) = grads(&x, &v, &burns_context);

        let dropped = values(m).iter().filter(|m| **m == 0.0).count();
        assert!(dropped > 20 && dropped < 120, "{dropped} of 210 dropped");
        let close = |a: &[f32], b: &[f32], what: &str| {
            assert_eq!(a.len(), b.len());
            for (a, b) in a.iter().zip(b) {
                assert!((a - b).abs() < 1e-5, "{what}: {a} vs burn's {b}");
            }
        };
        close(&values(probs), &values(burns), "probabilities before dropout");
        close(&values(context), &values(burns_context), "context");
        close(&grad_x, &burns_x, "the scores' gradient");
        close(&grad_v, &burns_v, "the values' gradient");
        assert!(grad_x.iter().any(|g| g.abs() > 1e-2) && grad_v.iter().any(|g| g.abs() > 1e-2), "gradients flow");
    }
}

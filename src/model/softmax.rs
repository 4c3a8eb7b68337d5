//! The attention: softmax(scores / √head_dim + mask) over the keys, dropped out, times the values.
//!
//! Under autodiff burn composes softmax from five operations (max, subtract, exp, sum, divide),
//! each a single-threaded pass on the CPU backend, and differentiates each: with the scaling and
//! the mask, about 3 ms per all-MiniLM-L6-v2 layer and step. On the CPU the probabilities (and the
//! dropped ones) are one operation with its own backward step, one parallel pass over the rows each
//! way (`host` below). On other devices y is computed without autodiff by burn's softmax, and
//! autodiff is handed an expression with y's value and the softmax's derivative. That derivative is the symmetric
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
//! device (the CPU's operation keeps the same two). It costs one product of zeros in the forward pass.

use burn::nn::Dropout;
use burn::tensor::{DType, Tensor, activation};

use super::dropout;
use super::host::tracked_zero;
#[cfg(not(target_arch = "wasm32"))]
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
    #[cfg(not(target_arch = "wasm32"))]
    if in_host_memory(&scores.device()) && scores.dtype() == DType::F32 {
        let (dropped, probs) = host::softmax(scores, mask, drop, head_dim);
        return (dropped.matmul(values), probs);
    }
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
    #[cfg(not(target_arch = "wasm32"))]
    if in_host_memory(&device) {
        return host::softmax(scores, mask, None, head_dim).0;
    }
    if !device.is_autodiff() {
        return probabilities(&scores, head_dim, &mask);
    }
    let probs = Tensor::from_inner(probabilities(&scores, head_dim, &mask));
    let zero = tracked_zero(scores).div_scalar((head_dim as f64).sqrt());
    let centred = zero.clone() - (probs.clone() * zero).sum_dim(3);
    probs.clone() * centred + probs
}

/// The probabilities' values, without autodiff, by burn's softmax (the CPU's are `host::softmax`).
fn probabilities(scores: &Tensor<4>, head_dim: usize, mask: &Tensor<4>) -> Tensor<4> {
    let sqrt_d = (head_dim as f64).sqrt();
    activation::softmax(scores.clone().inner().div_scalar(sqrt_d) + mask.clone().inner(), 3)
}

/// On the CPU, the probabilities (and, in training, the dropped probabilities) as one operation with
/// its own backward step (burn's backend extension, as in `linear.rs`): one parallel pass over the
/// rows each way, where the expression above costs eight tensor operations on one thread and a
/// product of zeros with the values. Kept for the backward pass: y, and d = m ⊙ y with dropout on.
#[cfg(not(target_arch = "wasm32"))]
mod host {
    use burn::backend::autodiff::Autodiff;
    use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::flex::FlexTensor;
    use burn::backend::{AutodiffBackend, Backend, Dispatch, Flex, TensorMetadata, backend_extension, tensor::FloatTensor};
    use burn::tensor::Tensor;
    use rayon::prelude::*;

    use crate::model::host::{CHUNK, exp};
    use crate::model::host::flex::{tensor, values};

    /// (dropout(softmax(`scores` / √`head_dim` + `mask`)), softmax(…)); without a `drop` mask the
    /// two are the same tensor. Only the first is differentiated.
    pub fn softmax(scores: Tensor<4>, mask: Tensor<4>, drop: Option<Tensor<4>>, head_dim: usize) -> (Tensor<4>, Tensor<4>) {
        let scale = (head_dim as f64).sqrt();
        let (scores, mask) = (scores.into_dispatch(), mask.into_dispatch());
        match drop {
            None => {
                let probs = Tensor::<4>::from_dispatch(<Dispatch as AttentionOps>::softmax(scores, mask, scale));
                (probs.clone(), probs)
            }
            Some(drop) => {
                let (dropped, probs) = <Dispatch as AttentionOps>::dropped_softmax(scores, mask, drop.into_dispatch(), scale);
                (Tensor::from_dispatch(dropped), Tensor::from_dispatch(probs))
            }
        }
    }

    #[backend_extension(Flex, Autodiff)]
    pub trait AttentionOps: Backend {
        /// softmax(`scores` / `scale` + `mask`) over the last dimension; `mask` [batch, 1, 1, keys].
        fn softmax(scores: FloatTensor<Self>, mask: FloatTensor<Self>, scale: f64) -> FloatTensor<Self>;
        /// (`drop` ⊙ softmax(…), softmax(…)); only the first is differentiated.
        fn dropped_softmax(
            scores: FloatTensor<Self>,
            mask: FloatTensor<Self>,
            drop: FloatTensor<Self>,
            scale: f64,
        ) -> (FloatTensor<Self>, FloatTensor<Self>);
    }

    impl AttentionOps for Flex {
        fn softmax(scores: FlexTensor, mask: FlexTensor, scale: f64) -> FlexTensor {
            tensor(probabilities(&scores, &mask, scale), scores.shape())
        }

        fn dropped_softmax(scores: FlexTensor, mask: FlexTensor, drop: FlexTensor, scale: f64) -> (FlexTensor, FlexTensor) {
            let probs = probabilities(&scores, &mask, scale);
            let dropped = times(&probs, &values(&drop));
            (tensor(dropped, scores.shape()), tensor(probs, scores.shape()))
        }
    }

    impl<C: CheckpointStrategy> AttentionOps for Autodiff<Flex, C> {
        fn softmax(scores: FloatTensor<Self>, mask: FloatTensor<Self>, scale: f64) -> FloatTensor<Self> {
            let shape = scores.primitive().shape();
            let probs = probabilities(scores.primitive(), mask.primitive(), scale);
            match SoftmaxBackward.prepare::<C>([scores.node()]).compute_bound().stateful() {
                OpsKind::Tracked(prep) => {
                    let probs = tensor(probs, shape);
                    prep.finish((probs.clone(), None, scale as f32), probs)
                }
                OpsKind::UnTracked(prep) => prep.finish(tensor(probs, shape)),
            }
        }

        fn dropped_softmax(
            scores: FloatTensor<Self>,
            mask: FloatTensor<Self>,
            drop: FloatTensor<Self>,
            scale: f64,
        ) -> (FloatTensor<Self>, FloatTensor<Self>) {
            let shape = scores.primitive().shape();
            let probs = probabilities(scores.primitive(), mask.primitive(), scale);
            let dropped = tensor(times(&probs, &values(drop.primitive())), shape.clone());
            let probs = tensor(probs, shape);
            let constant = <Self as AutodiffBackend>::from_inner(probs.clone());
            match SoftmaxBackward.prepare::<C>([scores.node()]).compute_bound().stateful() {
                OpsKind::Tracked(prep) => (prep.finish((probs, Some(dropped.clone()), scale as f32), dropped), constant),
                OpsKind::UnTracked(prep) => (prep.finish(dropped), constant),
            }
        }
    }

    #[derive(Debug)]
    struct SoftmaxBackward;

    impl Backward<Flex, 1> for SoftmaxBackward {
        /// y, d (with dropout) and √head_dim: the scores' gradient is (p ⊙ g − y·Σ_keys(p ⊙ g)) / √head_dim,
        /// p = d with dropout, y without.
        type State = (FlexTensor, Option<FlexTensor>, f32);

        fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let grad: FlexTensor = grads.consume::<Flex>(&ops.node);
            let [Some(node)] = ops.parents else { return };
            let (probs, dropped, scale) = ops.state;
            let shape = grad.shape();
            let keys = shape[shape.num_dims() - 1];
            let (g, y) = (values(&grad), values(&probs));
            let p = dropped.as_ref().map(values);
            let p = p.as_deref().unwrap_or(&y);
            let mut ds = vec![0.0f32; g.len()];
            ds.par_chunks_mut(keys * 64).zip(g.par_chunks(keys * 64)).zip(y.par_chunks(keys * 64)).zip(p.par_chunks(keys * 64)).for_each(
                |(((ds, g), y), p)| {
                    for (((ds, g), y), p) in ds.chunks_mut(keys).zip(g.chunks(keys)).zip(y.chunks(keys)).zip(p.chunks(keys)) {
                        let dot: f32 = p.iter().zip(g).map(|(p, g)| p * g).sum();
                        for (((d, g), y), p) in ds.iter_mut().zip(g).zip(y).zip(p) {
                            *d = (p * g - y * dot) / scale;
                        }
                    }
                },
            );
            grads.register::<Flex>(node.id, tensor(ds, shape));
        }
    }

    fn times(a: &[f32], b: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0f32; a.len()];
        out.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK))
            .zip(b.par_chunks(CHUNK))
            .for_each(|((o, a), b)| o.iter_mut().zip(a).zip(b).for_each(|((o, a), b)| *o = a * b));
        out
    }

    /// softmax(`scores` / `scale` + `mask`) over the keys, one task per (batch, head).
    fn probabilities(scores: &FlexTensor, mask: &FlexTensor, scale: f64) -> Vec<f32> {
        let shape = scores.shape();
        let [batch, heads, queries, keys] = [shape[0], shape[1], shape[2], shape[3]];
        assert_eq!(mask.shape().num_elements(), batch * keys, "attention mask shape");
        let (input, additive) = (values(scores), values(mask));
        let scale = scale as f32;
        let mut probs = vec![0.0f32; input.len()];
        probs.par_chunks_mut(queries * keys).zip(input.par_chunks(queries * keys)).enumerate().for_each(|(i, (probs, input))| {
            let mask = &additive[(i / heads) * keys..][..keys];
            for (row, x) in probs.chunks_exact_mut(keys).zip(input.chunks_exact(keys)) {
                for ((p, x), m) in row.iter_mut().zip(x).zip(mask) {
                    *p = x / scale + m;
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
        probs
    }
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

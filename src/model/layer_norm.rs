//! LayerNorm over the last dimension, optionally of a sum `x + residual` (transformers'
//! `LayerNorm(hidden_states + input_tensor)`), as one operation on the CPU.
//!
//! burn composes LayerNorm from eight tensor operations (mean, subtraction, square, mean, square
//! root, division, scale, shift) and autodiff differentiates each; on its CPU backend every one is
//! a pass over memory on one thread, three times per layer forward and again backward, while the
//! matrix products' threads waited. Here one parallel pass over the rows computes the sum, the
//! statistics and the output, keeping the normalised rows and each row's 1/σ for the backward
//! pass, which is one parallel pass too: with g = dy·γ,
//! dx = (g − mean(g) − x̂·mean(g·x̂)) / σ, and γ's and β's gradients are column sums of dy·x̂ and dy.
//! The statistics are burn's (the biased variance of the centred row, σ = √(var + ε), x̂ = (z − μ)/σ).
//! Other devices, and 16-bit types, use burn's `LayerNorm` (after adding the residual).
//!
//! burn's `LayerNorm` keeps ε private, so the modules that hold one pass it alongside.

use burn::nn::LayerNorm;
use burn::tensor::Tensor;

/// `norm(x + residual)`, or `norm(x)` without a residual.
pub fn add_norm<const D: usize>(norm: &LayerNorm, eps: f64, x: Tensor<D>, residual: Option<Tensor<D>>) -> Tensor<D> {
    #[cfg(not(target_arch = "wasm32"))]
    if let Some(beta) = &norm.beta
        && crate::device::in_host_memory(&x.device())
        && std::iter::once(&x).chain(&residual).all(|t| t.dtype() == burn::tensor::DType::F32)
        && norm.gamma.val().dtype() == burn::tensor::DType::F32
    {
        return host::add_norm(x, residual, norm.gamma.val(), beta.val(), eps);
    }
    let _ = eps; // burn's LayerNorm holds its own
    norm.forward(match residual {
        Some(residual) => x + residual,
        None => x,
    })
}

#[cfg(not(target_arch = "wasm32"))]
mod host {
    use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::autodiff::Autodiff;
    use burn::backend::flex::FlexTensor;
    use burn::backend::{Backend, Dispatch, Flex, TensorMetadata, backend_extension, tensor::FloatTensor};
    use burn::tensor::{Shape, Tensor};
    use rayon::prelude::*;

    use crate::model::host::CHUNK;
    use crate::model::host::flex::{tensor, values};

    pub fn add_norm<const D: usize>(
        x: Tensor<D>,
        residual: Option<Tensor<D>>,
        gamma: Tensor<1>,
        beta: Tensor<1>,
        eps: f64,
    ) -> Tensor<D> {
        let dims = x.dims();
        let (x, gamma, beta) = (x.into_dispatch(), gamma.into_dispatch(), beta.into_dispatch());
        let out = match residual {
            Some(residual) => <Dispatch as LayerNormOps>::add_layer_norm(x, residual.into_dispatch(), gamma, beta, eps),
            None => <Dispatch as LayerNormOps>::layer_norm(x, gamma, beta, eps),
        };
        Tensor::<D>::from_dispatch(out).reshape(dims)
    }

    #[backend_extension(Flex, Autodiff)]
    pub trait LayerNormOps: Backend {
        fn layer_norm(x: FloatTensor<Self>, gamma: FloatTensor<Self>, beta: FloatTensor<Self>, eps: f64) -> FloatTensor<Self>;
        fn add_layer_norm(
            x: FloatTensor<Self>,
            residual: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            eps: f64,
        ) -> FloatTensor<Self>;
    }

    impl LayerNormOps for Flex {
        fn layer_norm(x: FlexTensor, gamma: FlexTensor, beta: FlexTensor, eps: f64) -> FlexTensor {
            normalize(&x, None, &gamma, &beta, eps, false).0
        }

        fn add_layer_norm(x: FlexTensor, residual: FlexTensor, gamma: FlexTensor, beta: FlexTensor, eps: f64) -> FlexTensor {
            normalize(&x, Some(&residual), &gamma, &beta, eps, false).0
        }
    }

    impl<C: CheckpointStrategy> LayerNormOps for Autodiff<Flex, C> {
        fn layer_norm(x: FloatTensor<Self>, gamma: FloatTensor<Self>, beta: FloatTensor<Self>, eps: f64) -> FloatTensor<Self> {
            match NormBackward::<3>.prepare::<C>([x.node(), gamma.node(), beta.node()]).compute_bound().stateful() {
                OpsKind::Tracked(prep) => {
                    let (out, saved) = normalize(x.primitive(), None, gamma.primitive(), beta.primitive(), eps, true);
                    prep.finish(saved.expect("kept"), out)
                }
                OpsKind::UnTracked(prep) => {
                    prep.finish(normalize(x.primitive(), None, gamma.primitive(), beta.primitive(), eps, false).0)
                }
            }
        }

        fn add_layer_norm(
            x: FloatTensor<Self>,
            residual: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            eps: f64,
        ) -> FloatTensor<Self> {
            let parents = [x.node(), residual.node(), gamma.node(), beta.node()];
            let (x, residual, beta) = (x.primitive(), Some(residual.primitive()), beta.primitive());
            match NormBackward::<4>.prepare::<C>(parents).compute_bound().stateful() {
                OpsKind::Tracked(prep) => {
                    let (out, saved) = normalize(x, residual, gamma.primitive(), beta, eps, true);
                    prep.finish(saved.expect("kept"), out)
                }
                OpsKind::UnTracked(prep) => prep.finish(normalize(x, residual, gamma.primitive(), beta, eps, false).0),
            }
        }
    }

    /// What the backward pass reads: the normalised rows x̂, each row's 1/σ, and γ.
    #[derive(Debug, Clone)]
    struct Saved {
        normalized: Vec<f32>,
        inv_std: Vec<f32>,
        gamma: FlexTensor,
    }

    /// The rows of `x (+ residual)` normalised, scaled by `gamma` and shifted by `beta`; with `keep`,
    /// also x̂ and 1/σ (`gamma` is the caller's to fill in).
    fn normalize(
        x: &FlexTensor,
        residual: Option<&FlexTensor>,
        gamma: &FlexTensor,
        beta: &FlexTensor,
        eps: f64,
        keep: bool,
    ) -> (FlexTensor, Option<Saved>) {
        let shape = x.shape();
        let width = shape[shape.num_dims() - 1];
        let rows = shape.num_elements() / width;
        let (xs, gamma_v, beta_v) = (values(x), values(gamma), values(beta));
        let residual = residual.map(values);
        let mut out = vec![0.0f32; rows * width];
        let mut normalized = vec![0.0f32; if keep { rows * width } else { 0 }];
        let mut inv_std = vec![0.0f32; if keep { rows } else { 0 }];
        let block = (CHUNK / width).max(1);
        let eps = eps as f32;
        let norm_block = |b: usize, out: &mut [f32], mut normalized: Option<&mut [f32]>, mut inv_std: Option<&mut [f32]>| {
            let mut z = vec![0.0f32; width];
            for (i, out) in out.chunks_mut(width).enumerate() {
                let start = (b * block + i) * width;
                let row = &xs[start..start + width];
                match &residual {
                    Some(r) => z.iter_mut().zip(row).zip(&r[start..start + width]).for_each(|((z, x), r)| *z = x + r),
                    None => z.copy_from_slice(row),
                }
                let mean = z.iter().sum::<f32>() / width as f32;
                let var = z.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / width as f32;
                let std = (var + eps).sqrt();
                for (j, o) in out.iter_mut().enumerate() {
                    let n = (z[j] - mean) / std;
                    *o = n * gamma_v[j] + beta_v[j];
                    if let Some(normalized) = normalized.as_deref_mut() {
                        normalized[i * width + j] = n;
                    }
                }
                if let Some(inv_std) = inv_std.as_deref_mut() {
                    inv_std[i] = 1.0 / std;
                }
            }
        };
        if keep {
            out.par_chunks_mut(block * width)
                .zip(normalized.par_chunks_mut(block * width))
                .zip(inv_std.par_chunks_mut(block))
                .enumerate()
                .for_each(|(b, ((out, normalized), inv_std))| norm_block(b, out, Some(normalized), Some(inv_std)));
        } else {
            out.par_chunks_mut(block * width).enumerate().for_each(|(b, out)| norm_block(b, out, None, None));
        }
        let saved = keep.then(|| Saved { normalized, inv_std, gamma: gamma.clone() });
        (tensor(out, shape), saved)
    }

    #[derive(Debug)]
    struct NormBackward<const N: usize>;

    impl<const N: usize> Backward<Flex, N> for NormBackward<N> {
        type State = Saved;

        fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
            let grad: FlexTensor = grads.consume::<Flex>(&ops.node);
            let shape = grad.shape();
            let dy = values(&grad);
            let Saved { normalized, inv_std, gamma } = ops.state;
            let gamma = values(&gamma);
            let width = gamma.len();
            let rows = dy.len() / width;
            let (inputs, params) = ops.parents.split_at(N - 2);
            let wants_input = inputs.iter().any(Option::is_some);
            let mut dx = vec![0.0f32; if wants_input { rows * width } else { 0 }];
            let block = (CHUNK / width).max(1);
            let blocks = rows.div_ceil(block);
            // Per block of rows: dx for those rows, and their share of γ's and β's gradients.
            let dx_blocks: Vec<Option<&mut [f32]>> = if wants_input {
                dx.chunks_mut(block * width).map(Some).collect()
            } else {
                (0..blocks).map(|_| None).collect()
            };
            let (dgamma, dbeta) = dx_blocks
                .into_par_iter()
                .enumerate()
                .map(|(b, mut dx)| {
                    let (mut dgamma, mut dbeta) = (vec![0.0f32; width], vec![0.0f32; width]);
                    let mut g = vec![0.0f32; width];
                    for i in b * block..((b + 1) * block).min(rows) {
                        let (dy, n) = (&dy[i * width..(i + 1) * width], &normalized[i * width..(i + 1) * width]);
                        for j in 0..width {
                            dgamma[j] += dy[j] * n[j];
                            dbeta[j] += dy[j];
                            g[j] = dy[j] * gamma[j];
                        }
                        if let Some(dx) = dx.as_deref_mut() {
                            let mean_g = g.iter().sum::<f32>() / width as f32;
                            let mean_gn = g.iter().zip(n).map(|(g, n)| g * n).sum::<f32>() / width as f32;
                            let row = &mut dx[(i - b * block) * width..(i - b * block + 1) * width];
                            for j in 0..width {
                                row[j] = inv_std[i] * (g[j] - mean_g - n[j] * mean_gn);
                            }
                        }
                    }
                    (dgamma, dbeta)
                })
                .reduce(
                    || (vec![0.0f32; width], vec![0.0f32; width]),
                    |(mut ga, mut ba), (gb, bb)| {
                        ga.iter_mut().zip(&gb).for_each(|(a, b)| *a += b);
                        ba.iter_mut().zip(&bb).for_each(|(a, b)| *a += b);
                        (ga, ba)
                    },
                );
            if wants_input {
                let dx = tensor(dx, shape.clone());
                for node in inputs.iter().flatten() {
                    grads.register::<Flex>(node.id, dx.clone());
                }
            }
            if let Some(node) = &params[0] {
                grads.register::<Flex>(node.id, tensor(dgamma, Shape::new([width])));
            }
            if let Some(node) = &params[1] {
                grads.register::<Flex>(node.id, tensor(dbeta, Shape::new([width])));
            }
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::model::host::testing::{assert_close, read};
    use burn::module::{Module, Param};
    use burn::nn::LayerNormConfig;
    use burn::tensor::{Device, Distribution};

    /// `norm(x + residual)` and `norm(x)`: values and the gradients of x, the residual, γ and β are
    /// those of burn's `LayerNorm` after the sum; a frozen norm passes the input's gradient on.
    #[test]
    fn matches_burns_layer_norm_and_its_gradients() {
        let device = Device::flex().autodiff();
        let eps = 1e-12;
        let mut norm = LayerNormConfig::new(48).with_epsilon(eps).init(&device);
        norm.gamma = Param::from_tensor(Tensor::random([48], Distribution::Normal(1.0, 0.5), &device));
        norm.beta = Some(Param::from_tensor(Tensor::random([48], Distribution::Normal(0.0, 0.5), &device)));
        // rows with a large common offset: the variance must be of the centred row
        let x = Tensor::<3>::random([3, 5, 48], Distribution::Normal(2.0, 3.0), &device);
        let r = Tensor::<3>::random([3, 5, 48], Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<3>::random([3, 5, 48], Distribution::Normal(0.0, 1.0), &device);
        for (with_residual, frozen) in [(true, false), (false, false), (true, true)] {
            let norm = if frozen { norm.clone().no_grad() } else { norm.clone() };
            let run = |ours: bool| {
                let (x, r) = (x.clone().require_grad(), r.clone().require_grad());
                let residual = with_residual.then(|| r.clone());
                let y = match (ours, residual) {
                    (true, residual) => add_norm(&norm, eps, x.clone(), residual),
                    (false, Some(residual)) => norm.forward(x.clone() + residual),
                    (false, None) => norm.forward(x.clone()),
                };
                let g = (y.clone() * w.clone()).sum().backward();
                let params = [norm.gamma.val().grad(&g), norm.beta.as_ref().unwrap().val().grad(&g)].map(|t| t.map(read));
                (read(y), read(x.grad(&g).unwrap()), r.grad(&g).map(read), params)
            };
            let (ours, burns) = (run(true), run(false));
            assert_close(&ours.0, &burns.0, 2e-5, "values");
            assert_close(&ours.1, &burns.1, 2e-5, "input's gradient");
            assert_eq!(ours.2.is_some(), with_residual);
            if let (Some(a), Some(b)) = (&ours.2, &burns.2) {
                assert_close(a, b, 2e-5, "residual's gradient");
            }
            for (name, (a, b)) in ["γ", "β"].iter().zip(ours.3.iter().zip(&burns.3)) {
                assert_eq!(a.is_some(), !frozen, "{name}'s gradient only when trained");
                if let (Some(a), Some(b)) = (a, b) {
                    assert_close(a, b, 2e-5, &format!("{name}'s gradient"));
                }
            }
        }
        let plain = norm.valid();
        let (x, r) = (x.inner(), r.inner());
        assert_close(&read(add_norm(&plain, eps, x.clone(), Some(r.clone()))), &read(plain.forward(x + r)), 2e-5, "without autodiff");
    }
}

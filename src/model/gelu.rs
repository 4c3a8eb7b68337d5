//! GELU, x·Φ(x) with the exact (erf) normal CDF, as BERT's `hidden_act = "gelu"`.
//!
//! On burn's CPU backend the activation ran on one core through a scalar `erff`, and its backward
//! through a second one plus `expf`: about 18 ms per all-MiniLM-L6-v2 layer and step, a fifth of
//! the step. Here, on the CPU, one parallel pass over the input computes both GELU and its slope
//! Φ(x) + x·φ(x) with branch-free arithmetic the compiler vectorizes, and the backward step (burn's
//! backend extension, as in `linear.rs`) is `grad · slope`, one parallel pass. Other devices hand
//! autodiff `(x − detach(x)) · slope + gelu`, computed with tensor ops (fusion makes a kernel of them),
//! which has exactly that value and derivative: burn's
//! own GELU backward is the derivative of the *tanh approximation*, through `tanh` of a cubic, and
//! WGSL's `tanh` may overflow to NaN for large arguments (the spec derives its accuracy from
//! sinh/cosh). Chromium's SwiftShader does: tanh(88) = 1 but tanh(±100) is NaN (`tests/browser/tanh-probe.mjs`),
//! so pre-activations beyond about ±14 gave all-MiniLM-L6-v2 NaN gradients in the page while lavapipe's
//! tanh saturated (cubecl clamps tanh's argument only when compiling for macOS, for Metal's). Φ and φ here use only `erf` and `exp` of −x²/2, which
//! cannot overflow, and are the exact derivative transformers' autograd computes.
//!
//! On the CPU, erf is Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), the formula PyTorch's own
//! vectorized CPU GELU uses, so the values are those transformers computes on a CPU; GPUs use burn's erf.

use burn::tensor::{Tensor, activation};

use super::host::{exp, tracked_zero};

pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(not(target_arch = "wasm32"))]
    if crate::device::in_host_memory(&x.device()) {
        if x.dtype() != burn::tensor::DType::F32 {
            return activation::gelu(x); // 16-bit: burn's own
        }
        return host::gelu(x);
    }
    on_device(x)
}

/// On the CPU: one parallel pass computes GELU and, under autodiff, its slope, which the backward
/// step multiplies the gradient by (one parallel pass), through burn's backend extension.
#[cfg(not(target_arch = "wasm32"))]
mod host {
    use burn::backend::autodiff::Autodiff;
    use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::flex::FlexTensor;
    use burn::backend::{Backend, Dispatch, Flex, TensorMetadata, backend_extension, tensor::FloatTensor};
    use burn::tensor::Tensor;
    use rayon::prelude::*;

    use super::gelu_and_slope;
    use crate::model::host::CHUNK;
    use crate::model::host::flex::{tensor, values};

    pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
        Tensor::from_dispatch(<Dispatch as GeluOps>::gelu(x.into_dispatch()))
    }

    #[backend_extension(Flex, Autodiff)]
    pub trait GeluOps: Backend {
        fn gelu(x: FloatTensor<Self>) -> FloatTensor<Self>;
    }

    impl GeluOps for Flex {
        fn gelu(x: FlexTensor) -> FlexTensor {
            let input = values(&x);
            let mut value = vec![0.0f32; input.len()];
            value.par_chunks_mut(CHUNK).zip(input.par_chunks(CHUNK)).for_each(|(value, input)| {
                value.iter_mut().zip(input).for_each(|(v, x)| *v = gelu_and_slope(*x).0);
            });
            tensor(value, x.shape())
        }
    }

    impl<C: CheckpointStrategy> GeluOps for Autodiff<Flex, C> {
        fn gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
            match GeluBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
                OpsKind::Tracked(prep) => {
                    let input = values(x.primitive());
                    let (mut value, mut slope) = (vec![0.0f32; input.len()], vec![0.0f32; input.len()]);
                    value.par_chunks_mut(CHUNK).zip(slope.par_chunks_mut(CHUNK)).zip(input.par_chunks(CHUNK)).for_each(
                        |((value, slope), input)| {
                            for ((v, s), x) in value.iter_mut().zip(slope.iter_mut()).zip(input) {
                                (*v, *s) = gelu_and_slope(*x);
                            }
                        },
                    );
                    let shape = x.primitive().shape();
                    prep.finish(slope, tensor(value, shape))
                }
                OpsKind::UnTracked(prep) => prep.finish(Flex::gelu(x.into_primitive())),
            }
        }
    }

    #[derive(Debug)]
    struct GeluBackward;

    impl Backward<Flex, 1> for GeluBackward {
        /// GELU's slope at each input.
        type State = Vec<f32>;

        fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let grad: FlexTensor = grads.consume::<Flex>(&ops.node);
            let [Some(node)] = ops.parents else { return };
            let slope = ops.state;
            let upstream = values(&grad);
            let mut dx = vec![0.0f32; slope.len()];
            dx.par_chunks_mut(CHUNK).zip(slope.par_chunks(CHUNK)).zip(upstream.par_chunks(CHUNK)).for_each(
                |((dx, slope), g)| dx.iter_mut().zip(slope).zip(g).for_each(|((d, s), g)| *d = g * s),
            );
            grads.register::<Flex>(node.id, tensor(dx, grad.shape()));
        }
    }
}

/// GELU on a device's own kernels: `(x − detach x) · slope + gelu(x)` with slope Φ(x) + x·φ(x), all
/// computed from the detached input (so autodiff sees one multiplication backward).
fn on_device<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !x.device().is_autodiff() {
        return activation::gelu(x);
    }
    let input = x.clone().detach();
    let cdf = (input.clone() * std::f32::consts::FRAC_1_SQRT_2).erf().add_scalar(1.0).mul_scalar(0.5);
    let density = (input.clone().powi_scalar(2) * -0.5).exp().mul_scalar(INV_SQRT_2PI);
    let value = input.clone() * cdf.clone();
    let slope = cdf + input * density;
    tracked_zero(x) * slope + value
}

const INV_SQRT_2PI: f32 = 0.398_942_28;

/// GELU(x) and its derivative Φ(x) + x·φ(x), sharing erf's exponential: φ(x) = exp(−x²/2)/√(2π).
#[inline(always)]
#[cfg_attr(target_arch = "wasm32", allow(dead_code))] // the CPU's (and the tests')
fn gelu_and_slope(x: f32) -> (f32, f32) {
    let z = x * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (0.327_591_1 * z.abs() + 1.0);
    let poly = (((1.061_405_429 * t - 1.453_152_027) * t + 1.421_413_741) * t - 0.284_496_736) * t + 0.254_829_592;
    let e = exp(-z * z);
    let erf = (1.0 - poly * t * e).copysign(z);
    let cdf = 0.5 * (1.0 + erf);
    (x * cdf, cdf + x * e * INV_SQRT_2PI)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    /// erf in f64 through its Taylor series (|z| < 3) and the continued fraction of erfc beyond:
    /// a reference independent of the approximation under test.
    fn erf64(z: f64) -> f64 {
        if z.abs() < 3.0 {
            let (mut term, mut sum, mut n) = (z, z, 0.0);
            while term.abs() > 1e-17 {
                n += 1.0;
                term *= -z * z / n;
                sum += term / (2.0 * n + 1.0);
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            let a = z.abs();
            let mut f = a;
            for k in (1..60).rev() {
                f = a + (k as f64 / 2.0) / f;
            }
            let erfc = (-a * a).exp() / std::f64::consts::PI.sqrt() / f;
            (1.0 - erfc).copysign(z)
        }
    }

    fn reference(x: f64) -> (f64, f64) {
        let cdf = 0.5 * (1.0 + erf64(x / std::f64::consts::SQRT_2));
        let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
        (x * cdf, cdf + x * pdf)
    }

    #[test]
    fn value_and_slope_match_the_exact_gelu() {
        for i in -12_000..=12_000 {
            let x = i as f32 * 1e-3;
            let (value, slope) = gelu_and_slope(x);
            let (v, s) = reference(x as f64);
            // erf's error (< 1.5e-7) and the rounding of 1 + erf, scaled by x
            let tolerance = 3e-7 * x.abs() as f64 + 2e-7 * v.abs() + 1e-9;
            assert!((value as f64 - v).abs() < tolerance, "gelu({x}) = {value}, expected {v}");
            assert!((slope as f64 - s).abs() < 4e-7, "gelu'({x}) = {slope}, expected {s}");
        }
        let (value, slope) = gelu_and_slope(-60.0);
        assert!(value == 0.0 && slope.abs() < 1e-30, "far left: {value}, {slope}");
        assert_eq!(gelu_and_slope(60.0), (60.0, 1.0));
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_into_vec().unwrap()
    }

    /// On the CPU, with and without autodiff: the values of burn's GELU, and as gradient the exact
    /// derivative (burn's CPU backward is also exact; checked against the f64 reference).
    #[test]
    fn tensor_gelu_and_its_gradient() {
        let device = Device::flex().autodiff();
        let xs: Vec<f32> = (0..3000).map(|i| (i as f32 - 1500.0) * 7e-3).collect();
        let x = Tensor::<2>::from_data(TensorData::new(xs.clone(), [30, 100]), &device).require_grad();
        let y = gelu(x.clone());
        let expected = values(activation::gelu(x.clone().inner()));
        for (a, b) in values(y.clone()).iter().zip(&expected) {
            assert!((a - b).abs() < 3e-7 * (1.0 + b.abs()), "{a} vs burn's {b}");
        }
        // weights so that each element's gradient is its own
        let w: Vec<f32> = (0..3000).map(|i| 1.0 + (i % 7) as f32).collect();
        let w = Tensor::<2>::from_data(TensorData::new(w.clone(), [30, 100]), &device);
        let grads = (y * w.clone()).sum().backward();
        let grad = values(x.grad(&grads).unwrap());
        for ((g, x), w) in grad.iter().zip(&xs).zip(values(w)) {
            let exact = reference(*x as f64).1 * w as f64;
            assert!((*g as f64 - exact).abs() < 1e-6 * w as f64, "grad at {x}: {g}, expected {exact}");
        }
        let plain = device.without_autodiff();
        let x = Tensor::<2>::from_data(TensorData::new(xs, [30, 100]), &plain);
        assert_eq!(values(gelu(x.clone())), values(gelu(Tensor::from_inner(x).require_grad())));
    }

    /// The expression the GPU devices run, here on the CPU backend's tensor ops: GELU's values and
    /// its exact derivative, finite out to ±60, where a tanh-based derivative overflows on adapters
    /// whose tanh does.
    #[test]
    fn device_expression_has_the_exact_gradient() {
        let device = Device::flex().autodiff();
        let xs: Vec<f32> = (0..=1200).map(|i| (i as f32 - 600.0) * 0.1).collect();
        let x = Tensor::<1>::from_data(TensorData::new(xs.clone(), [xs.len()]), &device).require_grad();
        let y = on_device(x.clone());
        for (v, x) in values(y.clone()).iter().zip(&xs) {
            let exact = reference(*x as f64).0;
            assert!((*v as f64 - exact).abs() < 1e-6 * (1.0 + exact.abs()), "gelu({x}) = {v}, expected {exact}");
        }
        let grads = y.sum().backward();
        for (g, x) in values(x.grad(&grads).unwrap()).iter().zip(&xs) {
            let exact = reference(*x as f64).1;
            assert!((*g as f64 - exact).abs() < 1e-6, "gelu'({x}) = {g}, expected {exact}");
        }
    }
}

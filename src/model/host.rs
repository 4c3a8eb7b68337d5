//! Element-wise kernels run on the host for burn's CPU backend.
//!
//! burn's CPU backend runs each element-wise operation on one thread, one pass over memory per
//! operation, and an autodiff graph adds as many again backward; the matrix products, which it
//! spreads over all cores, were left waiting. What the CPU's own operations share lives here: the
//! task size, a vectorisable `exp`, the constants dropout's masks become, and (`flex`) reading and
//! making the CPU backend's buffers for the operations with their own backward step (`linear.rs`,
//! `layer_norm.rs`, `embedding.rs`, `gelu.rs`, `softmax.rs`).

use burn::tensor::{DType, Device, Tensor, TensorData};

/// Elements per parallel task: large enough that the split costs nothing beside the arithmetic.
pub const CHUNK: usize = 16 * 1024;

/// A constant tensor (no gradient) of `values` shaped like `like` and of its element type, on `device`.
pub fn constant<const D: usize>(values: Vec<f32>, like: &Tensor<D>, device: &Device) -> Tensor<D> {
    let mut plain = Tensor::<D>::from_data(TensorData::new(values, like.shape()), &device.clone().without_autodiff());
    if like.dtype() != DType::F32 {
        plain = plain.cast(like.dtype());
    }
    if device.is_autodiff() { Tensor::from_inner(plain) } else { plain }
}

/// `x − detach(x)`: zero, with derivative one. `zero · slope + value` is a tensor with the host's
/// `value` to the bit and the host's `slope` as derivative.
pub fn tracked_zero<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.clone() - x.detach()
}

/// eˣ to within 1e-7 relative for x ≥ −87 (Cephes' `expf` polynomial), 0 below; written without
/// calls or branches so that a loop over it vectorizes.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let clamped = x.max(-87.0);
    // x·log₂e rounded to an integer n: adding 1.5·2²³ leaves n in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let shifted = clamped * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let k = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    // r = x − n·ln 2, ln 2 split in two so that n·ln2_hi is exact
    let r = clamped - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 5.000_000_1e-1;
    let value = (p * r * r + r + 1.0) * f32::from_bits(((k + 127) << 23) as u32);
    if x < -87.0 { 0.0 } else { value }
}

/// The CPU backend's buffers as the fused operations (`linear.rs`, `layer_norm.rs`, `embedding.rs`)
/// read and make them.
#[cfg(not(target_arch = "wasm32"))]
pub mod flex {
    use burn::backend::flex::{FlexTensor, Layout};
    use burn::tensor::{Bytes, DType, Shape};
    use std::borrow::Cow;

    /// A tensor's f32 values in row-major order (a copy only when its layout is not contiguous).
    pub fn values(t: &FlexTensor) -> Cow<'_, [f32]> {
        match t.as_slice::<f32>() {
            Some(slice) => Cow::Borrowed(slice),
            None => Cow::Owned(t.to_contiguous().as_slice::<f32>().expect("contiguous f32").to_vec()),
        }
    }

    /// A tensor owning `values` (no copy: burn's own constructor from bytes copies to realign).
    pub fn tensor(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
        FlexTensor::new(Bytes::from_elems(values), Layout::contiguous(shape.into()), DType::F32)
    }
}

/// What the tests of the fused operations share: a tensor's values, compared with burn's.
#[cfg(test)]
pub mod testing {
    use burn::tensor::Tensor;

    pub fn read<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
    }

    /// Each of `ours` within `tolerance` (relative, plus as much absolute) of burn's.
    pub fn assert_close(ours: &[f32], burns: &[f32], tolerance: f32, what: &str) {
        assert_eq!(ours.len(), burns.len(), "{what}");
        for (a, b) in ours.iter().zip(burns) {
            assert!((a - b).abs() < tolerance * (1.0 + b.abs()), "{what}: {a} vs burn's {b}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate_down_to_underflow() {
        for i in 0..87_000 {
            let x = -(i as f32) * 1e-3;
            let (ours, exact) = (exp(x) as f64, (x as f64).exp());
            assert!(((ours - exact) / exact).abs() < 2e-7, "exp({x}) = {ours}, expected {exact}");
        }
        assert_eq!(exp(-88.0), 0.0);
        assert_eq!(exp(-3.4e38), 0.0);
        assert_eq!(exp(0.0), 1.0);
    }
}

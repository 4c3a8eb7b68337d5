//! Dropout, and the seed of its random masks.
//!
//! burn's `Dropout` draws its mask through `Tensor::random_like`, which on the CPU backend samples
//! every element through a generic distribution object, then multiplies twice: about a tenth of an
//! all-MiniLM-L6-v2 training step on the CPU went to drawing masks (perf). On the CPU the mask here
//! is drawn on the host, on all cores; on every other device (a GPU draws its own random numbers)
//! by the device as burn's layer draws it. Either way it is scaled by 1 / keep before it is
//! applied, in one multiplication.

use std::sync::Mutex;

use burn::nn::Dropout;
use burn::tensor::{Device, Distribution, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use rayon::prelude::*;

use super::host::{CHUNK, constant};
use crate::device::in_host_memory;

/// The host generator for CPU masks, seeded with the device by [`seed`]. Process-wide, like burn's
/// own CPU generator.
static HOST_RNG: Mutex<Option<StdRng>> = Mutex::new(None);

/// Held by the unit tests that seed [`HOST_RNG`] and then draw from it, which run side by side.
#[cfg(test)]
pub static TEST_LOCK: Mutex<()> = Mutex::new(());

/// Seeds the random numbers of dropout on `device`: the device's own generator and, for the CPU,
/// the host generator of [`dropout`]. The same seed gives the same masks again (checkpoints rely on it).
pub fn seed(device: &Device, seed: u64) {
    device.seed(seed);
    *HOST_RNG.lock().unwrap_or_else(|e| e.into_inner()) = Some(StdRng::seed_from_u64(seed));
}

/// `layer.forward(x)`: zeroes each element with probability `layer.prob` and scales the rest by
/// 1 / (1 − prob) while training; the identity otherwise.
pub fn dropout<const D: usize>(layer: &Dropout, x: Tensor<D>) -> Tensor<D> {
    match mask(layer, &x) {
        Some(mask) => x * mask,
        None => x,
    }
}

/// What [`dropout`] multiplies `like` by: a constant (no gradient) of 0 or 1 / (1 − prob) per
/// element, on `like`'s device; `None` where dropout is the identity. The attention multiplies it
/// into its probabilities itself (`softmax.rs`), to keep one tensor fewer for the backward pass.
pub fn mask<const D: usize>(layer: &Dropout, like: &Tensor<D>) -> Option<Tensor<D>> {
    let device = like.device();
    // The same conditions as burn's layer: a frozen layer or an evaluation (no autodiff) is the identity.
    if !layer.training.is_enabled() || !device.is_autodiff() || layer.prob == 0.0 {
        return None;
    }
    let keep = 1.0 - layer.prob;
    let scale = 1.0 / keep;
    // One draw from the seeded generator per call; each chunk of the mask then has a generator of
    // its own seeded from it, so that the chunks are drawn in parallel and the same every time.
    let base = match in_host_memory(&device) {
        true => HOST_RNG.lock().unwrap_or_else(|e| e.into_inner()).as_mut().map(|rng| rng.next_u64()),
        false => None,
    };
    let Some(base) = base else {
        // A GPU (or an unseeded CPU): the device's generator, as burn's layer draws it.
        let plain = device.clone().without_autodiff();
        let bits = Tensor::<D>::random(like.shape(), Distribution::Bernoulli(keep), &plain).cast(like.dtype());
        return Some(Tensor::from_inner(bits.mul_scalar(scale)));
    };
    let scale = scale as f32;
    // An element is kept when a uniform u32 falls below keep · 2³² (bias below 2⁻³²).
    let threshold = (keep * 4_294_967_296.0).round().min(u32::MAX as f64) as u32;
    let mut mask = vec![0.0f32; like.shape().num_elements()];
    mask.par_chunks_mut(CHUNK).enumerate().for_each(|(i, mask)| {
        let mut bits = vec![0u32; mask.len()];
        StdRng::seed_from_u64(base.wrapping_add(i as u64)).fill(&mut bits[..]);
        for (m, bits) in mask.iter_mut().zip(&bits) {
            *m = if *bits < threshold { scale } else { 0.0 };
        }
    });
    Some(constant(mask, like, &device))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;
    use burn::nn::DropoutConfig;

    fn values(t: Tensor<2>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_into_vec().unwrap()
    }

    /// On the CPU: about `prob` of the elements are zeroed, the rest scaled by 1 / keep; the same
    /// seed gives the same mask; gradients flow through the kept elements only.
    #[test]
    fn masks_scale_repeat_and_backpropagate() {
        let device = Device::flex().autodiff();
        let layer = DropoutConfig::new(0.1).init();
        let x = || Tensor::<2>::ones([200, 500], &device).require_grad();
        let _generators = TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        seed(&device, 7);
        let input = x();
        let y = dropout(&layer, input.clone());
        let first = values(y.clone());
        let zeros = first.iter().filter(|v| **v == 0.0).count() as f64 / first.len() as f64;
        assert!((zeros - 0.1).abs() < 0.005, "dropped share {zeros}");
        let scale = 1.0 / 0.9f32;
        assert!(first.iter().all(|v| *v == 0.0 || (*v - scale).abs() < 1e-6));
        // drawn on the host: the first chunk from a generator seeded by the seeded generator's first u64
        let mut bits = [0u32; 64];
        StdRng::seed_from_u64(StdRng::seed_from_u64(7).next_u64()).fill(&mut bits[..]);
        let threshold = (0.9f64 * 4_294_967_296.0).round() as u32;
        let expected: Vec<f32> = bits.iter().map(|u| if *u < threshold { scale } else { 0.0 }).collect();
        assert_eq!(first[..64], expected[..]);
        let grad = input.grad(&y.sum().backward()).unwrap();
        let grad: Vec<f32> = grad.into_data().convert::<f32>().try_into_vec().unwrap();
        assert_eq!(grad, first, "d(sum of y)/dx is the mask");

        seed(&device, 7);
        assert_eq!(values(dropout(&layer, x())), first);
        seed(&device, 8);
        assert_ne!(values(dropout(&layer, x())), first);
    }

    /// Evaluation (a device without autodiff) and a frozen layer leave the input as it is. (No
    /// `seed` here: the generator is process-wide, and the test above runs alongside.)
    #[test]
    fn identity_outside_training() {
        let device = Device::flex().autodiff();
        let layer = DropoutConfig::new(0.5).init();
        let plain = Tensor::<2>::ones([4, 4], &device.clone().without_autodiff());
        assert!(values(dropout(&layer, plain)).iter().all(|v| *v == 1.0));
        let frozen = layer.freeze();
        assert!(values(dropout(&frozen, Tensor::ones([4, 4], &device))).iter().all(|v| *v == 1.0));
    }
}

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
use super::tokens::TokenRows;
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

/// The examples of the forward pass under way, for masks drawn per example (see [`per_example`]).
struct Pass {
    seed: u64,
    step: u64,
    /// Each batch row's index in the training set.
    examples: Vec<u64>,
    /// Masks drawn so far in this pass: which dropout of the model the next one is.
    calls: u64,
    /// Drawn here even for a device with a generator of its own (a GPU), and uploaded.
    everywhere: bool,
}

static PASS: Mutex<Option<Pass>> = Mutex::new(None);

/// Until the guard is dropped, masks on the CPU and on remote devices are drawn per example: each
/// element from (seed, step, the example's index in the training set, which dropout of the forward
/// pass, the element's place in the example's rows), not from a stream. A batch split across
/// devices, or into accumulated parts, then gets the masks one device drawing it whole gets, and
/// padding (each part pads to its own longest) moves nothing. `examples`: each batch row's index.
/// A GPU draws its own masks unless `everywhere` (a run over several devices, which must all draw
/// alike): the masks are then drawn here and uploaded.
pub fn per_example(seed: u64, step: usize, examples: &[usize], everywhere: bool) -> PassGuard {
    let examples = examples.iter().map(|&e| e as u64).collect();
    *PASS.lock().unwrap_or_else(|e| e.into_inner()) = Some(Pass { seed, step: step as u64, examples, calls: 0, everywhere });
    PassGuard
}

/// Ends [`per_example`]'s keying when dropped.
pub struct PassGuard;

impl Drop for PassGuard {
    fn drop(&mut self) {
        *PASS.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// splitmix64's finaliser: a well-mixed 64-bit function of its input.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The key of one row of a keyed mask: the pass's key, the row's example, then the row's place
/// within the example's rows as indices, outermost first (the same row whatever the padding).
fn row_key(key: u64, example: u64, indices: impl Iterator<Item = usize>) -> u64 {
    indices.fold(mix(key ^ mix(example)), |row_key, i| mix(row_key ^ i as u64))
}

/// The keys of the rows of a mask of `dims` ([batch, …, row]), example b's rows keyed by `examples[b]`.
fn row_keys(key: u64, examples: &[u64], dims: &[usize]) -> Vec<u64> {
    let inner = &dims[1..dims.len().saturating_sub(1)];
    let rows_per_example = inner.iter().product::<usize>();
    (0..dims[0] * rows_per_example)
        .map(|r| {
            let (b, mut within) = (r / rows_per_example.max(1), r % rows_per_example.max(1));
            let mut indices = [0usize; 8];
            for (slot, &d) in indices.iter_mut().zip(inner.iter().rev()) {
                *slot = within % d;
                within /= d;
            }
            row_key(key, examples[b], indices[..inner.len()].iter().rev().copied())
        })
        .collect()
}

/// A mask of rows of `width` elements: element j of the row keyed k kept when mix(k + j) falls
/// below `threshold`.
fn keyed_mask(row_keys: &[u64], width: usize, threshold: u32, scale: f32) -> Vec<f32> {
    let mut mask = vec![0.0f32; row_keys.len() * width];
    mask.par_chunks_mut(width.max(1)).with_min_len((CHUNK / width.max(1)).max(1)).zip(row_keys.par_iter()).for_each(
        |(out, &row_key)| {
            for (j, m) in out.iter_mut().enumerate() {
                let bits = (mix(row_key.wrapping_add(j as u64)) >> 32) as u32;
                *m = if bits < threshold { scale } else { 0.0 };
            }
        },
    );
    mask
}

/// `layer.forward(x)`: zeroes each element with probability `layer.prob` and scales the rest by
/// 1 / (1 − prob) while training; the identity otherwise.
pub fn dropout<const D: usize>(layer: &Dropout, x: Tensor<D>) -> Tensor<D> {
    match mask(layer, &x) {
        Some(mask) => x * mask,
        None => x,
    }
}

/// [`dropout`] of the encoder's rows `x` [rows, width] (`tokens.rs`).
pub fn dropout_rows(layer: &Dropout, x: Tensor<2>, rows: &TokenRows) -> Tensor<2> {
    match mask_rows(layer, &x, rows) {
        Some(mask) => x * mask,
        None => x,
    }
}

/// What [`dropout`] multiplies `like` by: a constant (no gradient) of 0 or 1 / (1 − prob) per
/// element, on `like`'s device; `None` where dropout is the identity. The attention multiplies it
/// into its probabilities itself (`softmax.rs`), to keep one tensor fewer for the backward pass.
pub fn mask<const D: usize>(layer: &Dropout, like: &Tensor<D>) -> Option<Tensor<D>> {
    let dims = like.dims();
    draw(layer, like, |key, examples| {
        ((2..=10).contains(&D) && dims[0] == examples.len()).then(|| row_keys(key, examples, &dims))
    })
}

/// [`mask`] for the encoder's rows `like` [rows, width]. Keyed per example, each row is keyed by
/// its place in the padded batch: the mask of the padded [batch, seq, width] at the tokens, however
/// many rows are computed.
pub fn mask_rows(layer: &Dropout, like: &Tensor<2>, rows: &TokenRows) -> Option<Tensor<2>> {
    draw(layer, like, |key, examples| {
        (rows.batch == examples.len()).then(|| {
            (0..rows.len())
                .map(|r| {
                    let (b, t) = rows.place(r);
                    row_key(key, examples[b], std::iter::once(t))
                })
                .collect()
        })
    })
}

/// A mask shaped like `like`: keyed per example during [`per_example`] where `keys` gives the
/// keys of its rows from the pass's key and examples, else from the seeded stream (CPU) or the
/// device's generator.
fn draw<const D: usize>(layer: &Dropout, like: &Tensor<D>, keys: impl FnOnce(u64, &[u64]) -> Option<Vec<u64>>) -> Option<Tensor<D>> {
    let device = like.device();
    // The same conditions as burn's layer: a frozen layer or an evaluation (no autodiff) is the identity.
    if !layer.training.is_enabled() || !device.is_autodiff() || layer.prob == 0.0 {
        return None;
    }
    let keep = 1.0 - layer.prob;
    let scale = 1.0 / keep;
    // An element is kept when a uniform u32 falls below keep · 2³² (bias below 2⁻³²).
    let threshold = (keep * 4_294_967_296.0).round().min(u32::MAX as f64) as u32;
    let dims = like.dims();
    if let Some(pass) = PASS.lock().unwrap_or_else(|e| e.into_inner()).as_mut()
        && (pass.everywhere || in_host_memory(&device))
        && let Some(keys) = keys(mix(mix(mix(pass.seed) ^ pass.step) ^ pass.calls), &pass.examples)
    {
        pass.calls += 1;
        return Some(constant(keyed_mask(&keys, dims[D - 1], threshold, scale as f32), like, &device));
    }
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

    /// Keyed per example: an example's masks are the same in a batch of two padded to 5 tokens and
    /// alone padded to 3 (hidden states and attention probabilities), differ by step and by which
    /// dropout of the pass they are, and drop about `prob` of the elements.
    #[test]
    fn masks_per_example_follow_the_example_not_the_batch() {
        let _generators = TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let device = Device::flex().autodiff();
        let layer = DropoutConfig::new(0.1).init();
        let draw = |step: usize, examples: &[usize], seq: usize| {
            let _pass = per_example(3, step, examples, false);
            let b = examples.len();
            let hidden = values(mask(&layer, &Tensor::<3>::ones([b, seq, 300], &device)).unwrap().reshape([b * seq, 300]));
            let attention = mask(&layer, &Tensor::<4>::ones([b, 2, seq, seq], &device)).unwrap();
            (hidden, attention.into_data().convert::<f32>().try_into_vec::<f32>().unwrap())
        };
        let (pair_hidden, pair_attention) = draw(7, &[10, 11], 5);
        let (alone_hidden, alone_attention) = draw(7, &[11], 3);
        // example 11 is the pair's second row: tokens 0..3 of 5, then each head's 3 × 3 corner of 5 × 5
        assert_eq!(alone_hidden[..], pair_hidden[5 * 300..8 * 300]);
        for head in 0..2 {
            for q in 0..3 {
                let pair = &pair_attention[((2 + head) * 5 + q) * 5..][..3];
                assert_eq!(alone_attention[(head * 3 + q) * 3..][..3], pair[..], "head {head}, query {q}");
            }
        }
        let zeros = pair_hidden.iter().filter(|v| **v == 0.0).count() as f64 / pair_hidden.len() as f64;
        assert!((zeros - 0.1).abs() < 0.02, "dropped share {zeros}");
        assert_ne!(draw(8, &[10, 11], 5).0, pair_hidden, "another step");
        assert_ne!(pair_hidden[..300], pair_hidden[5 * 300..6 * 300], "another example");
        assert_ne!(draw(7, &[10, 11], 5).1[..25], pair_attention[25..50], "another head");
        // the second mask of a pass is not the first's
        let _pass = per_example(3, 7, &[10, 11], false);
        let first = values(mask(&layer, &Tensor::<3>::ones([2, 5, 300], &device)).unwrap().reshape([10, 300]));
        let second = values(mask(&layer, &Tensor::<3>::ones([2, 5, 300], &device)).unwrap().reshape([10, 300]));
        assert_eq!(first, pair_hidden);
        assert_ne!(first, second);
    }

    /// The encoder's rows (the tokens only, on the CPU) get the masks the padded batch draws at the
    /// tokens' places.
    #[test]
    fn masks_of_rows_are_the_padded_masks_at_the_tokens() {
        let _generators = TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let device = Device::flex().autodiff();
        let layer = DropoutConfig::new(0.1).init();
        let (seq, width) = (5, 64);
        let lengths = [2, 5];
        let attention: Vec<f32> = lengths.iter().flat_map(|&n| (0..seq).map(move |t| (t < n) as u8 as f32)).collect();
        let rows = TokenRows::new(&attention, 2, seq, &device);
        assert_eq!(rows.len(), 7);
        let drawn = |packed: bool| {
            let _pass = per_example(3, 7, &[10, 11], false);
            match packed {
                true => values(mask_rows(&layer, &Tensor::<2>::ones([rows.len(), width], &device), &rows).unwrap()),
                false => values(mask(&layer, &Tensor::<3>::ones([2, seq, width], &device)).unwrap().reshape([2 * seq, width])),
            }
        };
        let padded = drawn(false);
        let at_tokens: Vec<f32> =
            padded.chunks(width).enumerate().filter(|(p, _)| attention[*p] != 0.0).flat_map(|(_, r)| r.to_vec()).collect();
        assert_eq!(drawn(true), at_tokens);
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

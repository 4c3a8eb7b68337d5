//! Encoded examples → batches of tensors: a seeded shuffle per epoch and dynamic padding (each
//! batch padded to its own longest sequence, like transformers' `DataCollatorWithPadding`).

use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::label::Labels;
use super::tokenize::Encoded;
use crate::model::BertInput;
use crate::model::tokens::TokenRows;

pub struct Batch {
    pub input: BertInput,
    /// Absent for unlabelled splits.
    pub labels: Option<Targets>,
    pub size: usize,
    /// Real (unpadded) tokens in the batch.
    pub tokens: usize,
}

/// A batch's labels as the loss takes them: class ids, or scores for a regression.
pub enum Targets {
    /// [batch]
    Classes(Tensor<1, Int>),
    /// [batch]
    Scores(Tensor<1>),
}

/// The order in which an epoch visits the training set: the same seed and epoch give the same
/// order on every platform.
pub fn epoch_order(len: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add((epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)));
    order.shuffle(&mut rng);
    order
}

/// `order` regrouped so that a batch holds examples of similar length, as transformers'
/// `group_by_length` does (`LengthGroupedSampler`): `order` is cut into megabatches of up to 50
/// batches, and each megabatch is sorted longest first. Less padding, so less work per step; the
/// batches of an epoch are no longer independent draws, which is why it is an option, off by default.
pub fn group_by_length(order: Vec<usize>, lengths: &[usize], batch_size: usize) -> Vec<usize> {
    let mega = (order.len() / (batch_size * 4)).clamp(1, 50) * batch_size;
    let mut grouped = order;
    for chunk in grouped.chunks_mut(mega) {
        // Stable: ties keep the seeded order, so a run is reproducible.
        chunk.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
    }
    grouped
}

/// Pads `examples` to the longest among them and moves them to `device`.
pub fn collate(examples: &[&Encoded], labels: Option<&Labels>, pad_id: u32, device: &Device) -> Batch {
    collate_to(examples, labels, pad_id, 1, device)
}

/// [`collate`], padding to at least `min_len` tokens (transformers' `padding="max_length"`): the
/// benchmark's fixed shapes, which the memory estimate is reckoned for.
pub fn collate_to(examples: &[&Encoded], labels: Option<&Labels>, pad_id: u32, min_len: usize, device: &Device) -> Batch {
    let size = examples.len();
    let seq = examples.iter().map(|e| e.input_ids.len()).max().unwrap_or(1).max(min_len).max(1);
    let mut ids = Vec::with_capacity(size * seq);
    let mut types = Vec::with_capacity(size * seq);
    let mut mask = Vec::with_capacity(size * seq);
    let mut tokens = 0;
    for e in examples {
        let n = e.input_ids.len();
        tokens += n;
        ids.extend(e.input_ids.iter().map(|&x| x as i64));
        ids.extend(std::iter::repeat_n(pad_id as i64, seq - n));
        types.extend(e.token_type_ids.iter().map(|&x| x as i64));
        types.extend(std::iter::repeat_n(0i64, seq - n));
        mask.extend(std::iter::repeat_n(1.0f32, n));
        mask.extend(std::iter::repeat_n(0.0f32, seq - n));
    }
    let input = BertInput {
        input_ids: Tensor::from_data(TensorData::new(ids, [size, seq]), device),
        token_type_ids: Tensor::from_data(TensorData::new(types, [size, seq]), device),
        tokens: TokenRows::new(&mask, size, seq, device),
        attention_mask: Tensor::from_data(TensorData::new(mask, [size, seq]), device),
    };
    let labels = labels.map(|labels| match labels {
        Labels::Classes(ids) => {
            let ids: Vec<i64> = ids.iter().map(|&x| x as i64).collect();
            Targets::Classes(Tensor::from_data(TensorData::new(ids, [size]), device))
        }
        Labels::Scores(scores) => Targets::Scores(Tensor::from_data(TensorData::new(scores.clone(), [size]), device)),
    });
    Batch {
        input,
        labels,
        size,
        tokens,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_seeded_and_differs_per_epoch() {
        assert_eq!(epoch_order(100, 42, 0), epoch_order(100, 42, 0));
        assert_ne!(epoch_order(100, 42, 0), epoch_order(100, 42, 1));
        assert_ne!(epoch_order(100, 42, 0), epoch_order(100, 7, 0));
        let mut sorted = epoch_order(100, 42, 3);
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    }

    /// Grouped batches are a permutation of the epoch, sorted longest first within each megabatch,
    /// and need much less padding than the shuffled order they come from.
    #[test]
    fn length_grouping_cuts_padding() {
        let n = 1000;
        let lengths: Vec<usize> = (0..n).map(|i| 20 + (i * 7919) % 80).collect();
        let order = epoch_order(n, 42, 0);
        let grouped = group_by_length(order.clone(), &lengths, 8);
        let mut sorted = grouped.clone();
        sorted.sort();
        assert_eq!(sorted, (0..n).collect::<Vec<_>>());
        let mega = 31 * 8; // min(1000 / (8 · 4), 50) batches of 8
        for chunk in grouped.chunks(mega) {
            assert!(chunk.windows(2).all(|w| lengths[w[0]] >= lengths[w[1]]));
        }
        let padded = |o: &[usize]| o.chunks(8).map(|b| b.len() * b.iter().map(|&i| lengths[i]).max().unwrap()).sum::<usize>();
        let real: usize = lengths.iter().sum();
        let (shuffled, grouped_tokens) = (padded(&order), padded(&grouped));
        assert!(grouped_tokens < real + real / 20, "grouped: {grouped_tokens} padded tokens for {real}");
        assert!(shuffled > real + real / 4, "shuffled: {shuffled} padded tokens for {real}");
        assert_eq!(group_by_length(order.clone(), &lengths, 8), grouped, "deterministic");
    }

    #[test]
    fn pads_to_the_longest_in_the_batch() {
        let a = Encoded { input_ids: vec![2, 5, 3], token_type_ids: vec![0, 0, 0] };
        let b = Encoded { input_ids: vec![2, 5, 6, 3, 7, 3], token_type_ids: vec![0, 0, 0, 0, 1, 1] };
        let device = Device::flex();
        let batch = collate(&[&a, &b], Some(&Labels::Classes(vec![1, 0])), 0, &device);
        assert_eq!(batch.input.input_ids.dims(), [2, 6]);
        assert_eq!(batch.tokens, 9);
        let ids = batch.input.input_ids.into_data().convert::<i64>().try_into_vec::<i64>().unwrap();
        assert_eq!(ids, vec![2, 5, 3, 0, 0, 0, 2, 5, 6, 3, 7, 3]);
        let mask = batch.input.attention_mask.into_data().try_into_vec::<f32>().unwrap();
        assert_eq!(&mask[..6], &[1.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
        let types = batch.input.token_type_ids.into_data().convert::<i64>().try_into_vec::<i64>().unwrap();
        assert_eq!(&types[6..], &[0, 0, 0, 0, 1, 1]);
        let fixed = collate_to(&[&a, &b], None, 0, 8, &device);
        assert_eq!((fixed.input.input_ids.dims(), fixed.tokens), ([2, 8], 9));
        let mask = fixed.input.attention_mask.into_data().try_into_vec::<f32>().unwrap();
        assert_eq!(&mask[8..], &[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
    }
}

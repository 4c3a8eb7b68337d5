//! An embedding lookup, and its gradient, on the CPU.
//!
//! The word-embedding table is the largest tensor of these models (30,522 × 384 floats, 47 MB, for
//! all-MiniLM-L6-v2), and its gradient is dense: PyTorch's AdamW, which webtune follows exactly,
//! decays the moments of every row, used or not, so the optimizer reads a full table either way.
//! burn's CPU backend built that table on one thread — allocated zeroed, copied once more to align
//! it, then each token's row added. Here the table is zeroed on all cores and the used rows are added
//! into it, the rows of one table row by one task (no two tasks write a row), so the whole backward
//! pass is two parallel passes and no copy. The lookup itself copies each token's row in parallel.
//! Other devices, and 16-bit types, use burn's `Embedding`.

use burn::nn::Embedding;
use burn::tensor::{Int, Tensor};

pub fn embed(table: &Embedding, ids: Tensor<2, Int>) -> Tensor<3> {
    #[cfg(not(target_arch = "wasm32"))]
    if crate::device::in_host_memory(&ids.device()) && table.weight.val().dtype() == burn::tensor::DType::F32 {
        return host::embed(table.weight.val(), ids);
    }
    table.forward(ids)
}

#[cfg(not(target_arch = "wasm32"))]
mod host {
    use burn::backend::autodiff::Autodiff;
    use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::flex::FlexTensor;
    use burn::backend::{Backend, Dispatch, Flex, TensorMetadata, backend_extension};
    use burn::backend::tensor::{FloatTensor, IntTensor};
    use burn::tensor::{DType, Int, Shape, Tensor};
    use rayon::prelude::*;

    use crate::model::host::CHUNK;
    use crate::model::host::flex::{tensor, values};

    pub fn embed(weight: Tensor<2>, ids: Tensor<2, Int>) -> Tensor<3> {
        let [batch, seq] = ids.dims();
        let width = weight.dims()[1];
        let out = <Dispatch as EmbeddingOps>::embedding(weight.into_dispatch(), ids.into_dispatch());
        Tensor::<2>::from_dispatch(out).reshape([batch, seq, width])
    }

    #[backend_extension(Flex, Autodiff)]
    pub trait EmbeddingOps: Backend {
        /// The rows of `weight` [vocab, width] at `ids` (any shape): [ids, width].
        fn embedding(weight: FloatTensor<Self>, ids: IntTensor<Self>) -> FloatTensor<Self>;
    }

    impl EmbeddingOps for Flex {
        fn embedding(weight: FlexTensor, ids: FlexTensor) -> FlexTensor {
            let [vocab, width] = weight.shape().dims();
            let ids = indices(&ids, vocab);
            let table = values(&weight);
            let mut out = vec![0.0f32; ids.len() * width];
            let rows_per_task = (CHUNK / width).max(1);
            out.par_chunks_mut(rows_per_task * width).zip(ids.par_chunks(rows_per_task)).for_each(|(out, ids)| {
                for (row, &id) in out.chunks_mut(width).zip(ids) {
                    row.copy_from_slice(&table[id * width..(id + 1) * width]);
                }
            });
            tensor(out, Shape::new([ids.len(), width]))
        }
    }

    impl<C: CheckpointStrategy> EmbeddingOps for Autodiff<Flex, C> {
        fn embedding(weight: FloatTensor<Self>, ids: IntTensor<Self>) -> FloatTensor<Self> {
            let vocab = weight.primitive().shape()[0];
            match EmbeddingBackward.prepare::<C>([weight.node()]).compute_bound().stateful() {
                OpsKind::Tracked(prep) => {
                    let out = Flex::embedding(weight.into_primitive(), ids.clone());
                    prep.finish((ids, vocab), out)
                }
                OpsKind::UnTracked(prep) => prep.finish(Flex::embedding(weight.into_primitive(), ids)),
            }
        }
    }

    #[derive(Debug)]
    struct EmbeddingBackward;

    impl Backward<Flex, 1> for EmbeddingBackward {
        /// The ids looked up and the table's number of rows.
        type State = (FlexTensor, usize);

        fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let grad: FlexTensor = grads.consume::<Flex>(&ops.node);
            let [node] = ops.parents;
            let Some(node) = node else { return };
            let (ids, vocab) = ops.state;
            let width = grad.shape()[grad.shape().num_dims() - 1];
            let ids = indices(&ids, vocab);
            let grad = values(&grad);
            // The tokens of each table row, so that one task owns each row it writes.
            let mut order: Vec<usize> = (0..ids.len()).collect();
            order.sort_unstable_by_key(|&t| ids[t]);
            let mut table = vec![0.0f32; vocab * width];
            let rows_per_task = (CHUNK / width).max(1);
            table.par_chunks_mut(rows_per_task * width).enumerate().for_each(|(b, block)| {
                let first = b * rows_per_task;
                let last = first + block.len() / width;
                let start = order.partition_point(|&t| ids[t] < first);
                for &t in order[start..].iter().take_while(|&&t| ids[t] < last) {
                    let row = &mut block[(ids[t] - first) * width..(ids[t] - first + 1) * width];
                    row.iter_mut().zip(&grad[t * width..(t + 1) * width]).for_each(|(r, g)| *r += g);
                }
            });
            grads.register::<Flex>(node.id, tensor(table, Shape::new([vocab, width])));
        }
    }

    /// Token ids as row numbers. An id outside the table would be a tokenizer that does not belong
    /// to the model; burn's lookup panics on it too, and the message says which.
    fn indices(ids: &FlexTensor, vocab: usize) -> Vec<usize> {
        let ids: Vec<i64> = match ids.dtype() {
            DType::I64 => ids.as_slice::<i64>().map(<[i64]>::to_vec),
            DType::I32 => ids.as_slice::<i32>().map(|s| s.iter().map(|&i| i as i64).collect()),
            other => panic!("token ids of type {other:?}"),
        }
        .unwrap_or_else(|| ids.to_contiguous().into_data().convert::<i64>().try_into_vec().expect("ids"));
        ids.into_iter()
            .map(|id| {
                assert!((0..vocab as i64).contains(&id), "token id {id} is outside the embedding table ({vocab} rows)");
                id as usize
            })
            .collect()
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::model::host::testing::read;
    use burn::module::Module;
    use burn::nn::EmbeddingConfig;
    use burn::tensor::{Device, Distribution, TensorData};

    /// The rows looked up, and the table's gradient with repeated ids summed (spread over more
    /// table rows than one parallel task holds), are exactly burn's `Embedding`'s.
    #[test]
    fn matches_burns_embedding_and_its_gradient() {
        let device = Device::flex().autodiff();
        let table = EmbeddingConfig::new(3000, 16).init(&device);
        let ids: Vec<i64> = (0..40).map(|i| (i * 977 % 3000) as i64).chain([5, 5, 2999, 0, 5]).collect();
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [5, 9]), &device);
        let w = Tensor::<3>::random([5, 9, 16], Distribution::Normal(0.0, 1.0), &device);
        let run = |ours: bool| {
            let y = if ours { embed(&table, ids.clone()) } else { table.forward(ids.clone()) };
            let g = (y.clone() * w.clone()).sum().backward();
            (read(y), read(table.weight.val().grad(&g).unwrap()))
        };
        let (ours, burns) = (run(true), run(false));
        assert_eq!(ours.0, burns.0, "rows");
        for (a, b) in ours.1.iter().zip(&burns.1) {
            assert!((a - b).abs() < 1e-6, "table gradient {a} vs burn's {b}");
        }
        assert!(ours.1[5 * 16..6 * 16].iter().all(|g| *g != 0.0), "a repeated id's row gets its sum");
        let plain = table.valid();
        assert_eq!(read(embed(&plain, ids.clone().inner())), read(plain.forward(ids.inner())));
    }
}

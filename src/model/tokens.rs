//! Which rows of a padded batch the encoder computes.
//!
//! A batch is padded to its longest example: MRPC's batches of 8 are about a quarter padding. Every
//! linear layer, LayerNorm, GELU and dropout acts on each token's row alone, and a padding row
//! reaches no token (the attention's mask gives it the weight exp(−3.4e38 − max) = 0, exactly) nor
//! the head (which reads each example's first token). So on the CPU, where a step's time is the
//! products' arithmetic, the encoder computes the tokens' rows only: its hidden states are
//! [tokens, hidden] ("packed"), and only the attention sets them out in the padded layout
//! [batch, heads, seq, head_dim] (zeros where padding was) and takes them back. Each token's values
//! are what the padded computation gives it; the padding's own rows, which nothing reads, are not
//! computed. On the CPU the setting out and taking back are one parallel pass each (`host` below),
//! which also replaces the copies that split and merged the heads.
//!
//! Other devices compute the padded batch as transformers does, flattened to [batch·seq, hidden]: a
//! GPU computes a batch's padding alongside its tokens at little cost, and WebGPU in the page runs
//! the operations it was checked with.

use std::sync::Arc;

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::device::in_host_memory;

/// The rows of a batch that the encoder computes, and where each sits in the padded batch.
#[derive(Debug, Clone)]
pub struct TokenRows {
    pub batch: usize,
    pub seq: usize,
    /// Each computed row's place in the padded batch, b·seq + t, in order; `None`: every place
    /// (the padded batch flattened).
    packed: Option<Arc<[u32]>>,
}

impl TokenRows {
    /// The rows for `attention_mask` (1 for tokens, 0 for padding, [batch, seq] row-major) on
    /// `device`: the tokens, and each example's first place whatever its mask (the head reads it),
    /// on the CPU; every place elsewhere.
    pub fn new(attention_mask: &[f32], batch: usize, seq: usize, device: &Device) -> Self {
        let packed = in_host_memory(device).then(|| {
            (0..batch * seq).filter(|&p| p % seq == 0 || attention_mask[p] != 0.0).map(|p| p as u32).collect()
        });
        Self { batch, seq, packed }
    }

    /// Every place of a padded batch, in order.
    pub fn padded(batch: usize, seq: usize) -> Self {
        Self { batch, seq, packed: None }
    }

    /// How many rows the encoder computes.
    pub fn len(&self) -> usize {
        self.packed.as_ref().map_or(self.batch * self.seq, |rows| rows.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `r`'s example and position in the padded batch.
    pub fn place(&self, r: usize) -> (usize, usize) {
        let p = self.packed.as_ref().map_or(r, |rows| rows[r] as usize);
        (p / self.seq, p % self.seq)
    }

    /// `x` [batch, seq, width] as the encoder's rows: [rows, width].
    pub fn pack(&self, x: Tensor<3>) -> Tensor<2> {
        let [batch, seq, width] = x.dims();
        let flat = x.reshape([batch * seq, width]);
        match &self.packed {
            None => flat,
            Some(rows) => {
                let device = flat.device();
                flat.select(0, index(rows.iter().map(|&p| p as i64).collect(), &device))
            }
        }
    }

    /// Each example's first token's row of `x` [rows, width]: [batch, width].
    pub fn first(&self, x: Tensor<2>) -> Tensor<2> {
        let device = x.device();
        let firsts = match &self.packed {
            None => (0..self.batch).map(|b| (b * self.seq) as i64).collect(),
            Some(rows) => rows.iter().enumerate().filter(|(_, p)| **p as usize % self.seq == 0).map(|(r, _)| r as i64).collect(),
        };
        x.select(0, index(firsts, &device))
    }

    /// The rows `x` [rows, heads·head_dim] set out as the attention computes: [batch, heads, seq,
    /// head_dim], zeros at the places no row computes.
    pub fn to_heads(&self, x: Tensor<2>, heads: usize) -> Tensor<4> {
        let [_, hidden] = x.dims();
        let (batch, seq, head_dim) = (self.batch, self.seq, hidden / heads);
        let Some(rows) = &self.packed else {
            return x.reshape([batch, seq, heads, head_dim]).swap_dims(1, 2);
        };
        #[cfg(not(target_arch = "wasm32"))]
        if x.dtype() == burn::tensor::DType::F32 {
            return host::to_heads(x, self.layout(rows, heads));
        }
        // 16-bit types on the CPU: a zero row appended, and each place takes its row or that one.
        let device = x.device();
        let mut of_place = vec![rows.len() as i64; batch * seq];
        for (r, &p) in rows.iter().enumerate() {
            of_place[p as usize] = r as i64;
        }
        let zero = Tensor::<2>::zeros([1, hidden], &device).cast(x.dtype());
        Tensor::cat(vec![x, zero], 0)
            .select(0, index(of_place, &device))
            .reshape([batch, seq, heads, head_dim])
            .swap_dims(1, 2)
    }

    /// The inverse of [`Self::to_heads`]: `x` [batch, heads, seq, head_dim] as the rows, [rows,
    /// heads·head_dim].
    pub fn from_heads(&self, x: Tensor<4>) -> Tensor<2> {
        let [batch, heads, seq, head_dim] = x.dims();
        let Some(rows) = &self.packed else {
            return x.swap_dims(1, 2).reshape([batch * seq, heads * head_dim]);
        };
        #[cfg(not(target_arch = "wasm32"))]
        if x.dtype() == burn::tensor::DType::F32 {
            return host::from_heads(x, self.layout(rows, heads));
        }
        let device = x.device();
        let flat = x.swap_dims(1, 2).reshape([batch * seq, heads * head_dim]);
        flat.select(0, index(rows.iter().map(|&p| p as i64).collect(), &device))
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn layout(&self, rows: &Arc<[u32]>, heads: usize) -> host::Layout {
        host::Layout { batch: self.batch, seq: self.seq, heads, places: rows.clone() }
    }
}

fn index(values: Vec<i64>, device: &Device) -> Tensor<1, Int> {
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n]), &device.clone().without_autodiff())
}

/// On the CPU: setting the rows out by heads, and taking them back, as operations of the backend
/// (burn's backend extension, as in `linear.rs`), each the other's backward step.
#[cfg(not(target_arch = "wasm32"))]
mod host {
    use std::sync::Arc;

    use burn::backend::autodiff::Autodiff;
    use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::flex::FlexTensor;
    use burn::backend::{Backend, Dispatch, Flex, backend_extension, tensor::FloatTensor};
    use burn::tensor::Tensor;
    use rayon::prelude::*;

    use crate::model::host::CHUNK;
    use crate::model::host::flex::{tensor, values};

    /// A batch's layout: each row's place b·seq + t, in order.
    #[derive(Debug, Clone)]
    pub struct Layout {
        pub batch: usize,
        pub seq: usize,
        pub heads: usize,
        pub places: Arc<[u32]>,
    }

    pub fn to_heads(x: Tensor<2>, layout: Layout) -> Tensor<4> {
        Tensor::from_dispatch(<Dispatch as HeadOps>::to_heads(x.into_dispatch(), layout))
    }

    pub fn from_heads(x: Tensor<4>, layout: Layout) -> Tensor<2> {
        Tensor::from_dispatch(<Dispatch as HeadOps>::from_heads(x.into_dispatch(), layout))
    }

    #[backend_extension(Flex, Autodiff)]
    pub trait HeadOps: Backend {
        /// [rows, heads·head_dim] → [batch, heads, seq, head_dim], zeros where no row is.
        fn to_heads(x: FloatTensor<Self>, layout: Layout) -> FloatTensor<Self>;
        /// [batch, heads, seq, head_dim] → [rows, heads·head_dim].
        fn from_heads(x: FloatTensor<Self>, layout: Layout) -> FloatTensor<Self>;
    }

    impl HeadOps for Flex {
        fn to_heads(x: FlexTensor, layout: Layout) -> FlexTensor {
            let Layout { batch, seq, heads, ref places } = layout;
            let x = values(&x);
            let head_dim = x.len() / places.len().max(1) / heads;
            let hidden = heads * head_dim;
            let mut out = vec![0.0f32; batch * heads * seq * head_dim];
            // One task per (example, head): its seq × head_dim block, filled from the example's rows.
            out.par_chunks_mut(seq * head_dim).enumerate().for_each(|(block, out)| {
                let (b, h) = (block / heads, block % heads);
                for (r, t) in rows_of(places, b, seq) {
                    out[t * head_dim..][..head_dim].copy_from_slice(&x[r * hidden + h * head_dim..][..head_dim]);
                }
            });
            tensor(out, [batch, heads, seq, head_dim])
        }

        fn from_heads(x: FlexTensor, layout: Layout) -> FlexTensor {
            let Layout { seq, heads, ref places, .. } = layout;
            let x = values(&x);
            let head_dim = x.len() / (layout.batch * heads * seq).max(1);
            let hidden = heads * head_dim;
            let mut out = vec![0.0f32; places.len() * hidden];
            out.par_chunks_mut(hidden).with_min_len((CHUNK / hidden.max(1)).max(1)).zip(places.par_iter()).for_each(|(row, &p)| {
                let (b, t) = (p as usize / seq, p as usize % seq);
                for (h, out) in row.chunks_mut(head_dim).enumerate() {
                    out.copy_from_slice(&x[((b * heads + h) * seq + t) * head_dim..][..head_dim]);
                }
            });
            tensor(out, [places.len(), hidden])
        }
    }

    /// Example `b`'s rows and their positions: a run of `places`, which are in order.
    fn rows_of(places: &[u32], b: usize, seq: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        let start = places.partition_point(|&p| (p as usize) < b * seq);
        let end = places.partition_point(|&p| (p as usize) < (b + 1) * seq);
        (start..end).map(move |r| (r, places[r] as usize - b * seq))
    }

    impl<C: CheckpointStrategy> HeadOps for Autodiff<Flex, C> {
        fn to_heads(x: FloatTensor<Self>, layout: Layout) -> FloatTensor<Self> {
            record::<C>(x, layout, Direction::ToHeads)
        }

        fn from_heads(x: FloatTensor<Self>, layout: Layout) -> FloatTensor<Self> {
            record::<C>(x, layout, Direction::FromHeads)
        }
    }

    /// Which way the rows moved; the backward step moves the gradient the other way.
    #[derive(Debug, Clone, Copy)]
    enum Direction {
        ToHeads,
        FromHeads,
    }

    fn moved(x: FlexTensor, layout: Layout, direction: Direction) -> FlexTensor {
        match direction {
            Direction::ToHeads => Flex::to_heads(x, layout),
            Direction::FromHeads => Flex::from_heads(x, layout),
        }
    }

    fn record<C: CheckpointStrategy>(x: FloatTensor<Autodiff<Flex, C>>, layout: Layout, direction: Direction) -> FloatTensor<Autodiff<Flex, C>> {
        match MoveBackward(direction).prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let out = moved(x.into_primitive(), layout.clone(), direction);
                prep.finish(layout, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(moved(x.into_primitive(), layout, direction)),
        }
    }

    #[derive(Debug)]
    struct MoveBackward(Direction);

    impl Backward<Flex, 1> for MoveBackward {
        type State = Layout;

        fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let grad: FlexTensor = grads.consume::<Flex>(&ops.node);
            let back = match self.0 {
                Direction::ToHeads => Direction::FromHeads,
                Direction::FromHeads => Direction::ToHeads,
            };
            if let [Some(node)] = ops.parents {
                grads.register::<Flex>(node.id, moved(grad, ops.state, back));
            }
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::model::host::testing::{assert_close, read};
    use burn::tensor::Distribution;

    /// Packed rows set out by heads and taken back give, at the tokens' places, what the padded
    /// batch gives through burn's reshape and transpose; zeros elsewhere; and the gradients of both
    /// directions are the padded ones' at the tokens.
    #[test]
    fn heads_match_the_padded_layout() {
        let device = Device::flex().autodiff();
        let (batch, seq, heads, head_dim) = (3, 5, 2, 4);
        let hidden = heads * head_dim;
        // example 0 has 5 tokens, example 1 has 2, example 2 has 3
        let lengths = [5, 2, 3];
        let mask: Vec<f32> = lengths.iter().flat_map(|&n| (0..seq).map(move |t| if t < n { 1.0 } else { 0.0 })).collect();
        let rows = TokenRows::new(&mask, batch, seq, &device);
        assert_eq!(rows.len(), 10);
        assert_eq!(rows.place(6), (1, 1));
        assert_eq!(rows.place(7), (2, 0));
        let padded = TokenRows::padded(batch, seq);

        let x = Tensor::<3>::random([batch, seq, hidden], Distribution::Normal(0.0, 1.0), &device).require_grad();
        let weights = Tensor::<4>::random([batch, heads, seq, head_dim], Distribution::Normal(0.0, 1.0), &device);
        let run = |rows: &TokenRows| {
            let set_out = rows.to_heads(rows.pack(x.clone()), heads);
            let back = rows.from_heads(set_out.clone() * weights.clone());
            let firsts = rows.first(back.clone());
            let grads = (back.clone().sum() + firsts.clone().sum()).backward();
            (read(set_out), read(back), read(firsts), read(x.grad(&grads).unwrap()))
        };
        let (ours, burns) = (run(&rows), run(&padded));
        let token = |p: usize| mask[p] != 0.0;
        // set out: the tokens' values where they are, zeros at padding
        for (i, (a, b)) in ours.0.iter().zip(&burns.0).enumerate() {
            let (bh, t) = (i / head_dim / seq, i / head_dim % seq);
            let expected = if token(bh / heads * seq + t) { *b } else { 0.0 };
            assert_eq!(*a, expected, "set out, element {i}");
        }
        let tokens: Vec<f32> = burns.1.chunks(hidden).enumerate().filter(|(p, _)| token(*p)).flat_map(|(_, r)| r.to_vec()).collect();
        assert_eq!(ours.1, tokens, "taken back");
        assert_eq!(ours.2, burns.2, "first tokens");
        // x's gradient: the padded one at the tokens, zero at padding (which computes nothing)
        let expected: Vec<f32> =
            burns.3.chunks(hidden).enumerate().flat_map(|(p, r)| if token(p) { r.to_vec() } else { vec![0.0; hidden] }).collect();
        assert_close(&ours.3, &expected, 1e-6, "gradient");
    }
}

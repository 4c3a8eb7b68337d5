//! A linear layer, `x·W + b`, as one operation on the CPU.
//!
//! burn's CPU backend computes a linear layer as a matrix product into a fresh buffer (which it
//! allocates zeroed and then copies once more to align it), then the bias added in a second pass on
//! one thread; backward, the bias's gradient is a column sum on one thread and each product
//! allocates the same way. Those passes ran on the main thread while the product's threads waited.
//! Here the output buffer starts as the bias, rows repeated, and the product accumulates into it
//! (gemm's `dst := dst + x·W`); backward, the two products write straight into their gradients and
//! the bias's gradient is summed on all cores. The products are the `gemm` crate's, the one burn's
//! CPU backend calls, with the same operands and strides, so forward values are the same to the bit.
//!
//! The operation reaches burn's autodiff through a backend extension (burn's `#[backend_extension]`):
//! the CPU backend computes it, and the autodiff backend records it with its own backward step,
//! keeping, as burn's product does, each factor only for the other's gradient (a frozen layer's
//! input is not kept). Other devices, and 16-bit types, use burn's `Linear`.

use burn::nn::Linear;
use burn::tensor::Tensor;

pub fn linear<const D: usize>(layer: &Linear, x: Tensor<D>) -> Tensor<D> {
    #[cfg(not(target_arch = "wasm32"))]
    if let Some(bias) = &layer.bias
        && crate::device::in_host_memory(&x.device())
        && [x.dtype(), layer.weight.val().dtype()].iter().all(|d| *d == burn::tensor::DType::F32)
    {
        return host::linear(x, layer.weight.val(), bias.val());
    }
    layer.forward(x)
}

#[cfg(not(target_arch = "wasm32"))]
mod host {
    use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::autodiff::{Autodiff, NodeId};
    use burn::backend::flex::FlexTensor;
    use burn::backend::{Backend, Dispatch, Flex, backend_extension, tensor::FloatTensor};
    use burn::backend::TensorMetadata;
    use burn::tensor::Tensor;
    use rayon::prelude::*;

    use crate::model::host::CHUNK;
    use crate::model::host::flex::{tensor, values};

    /// `x` [.., in] · `weight` [in, out] + `bias` [out], as burn lays out a linear layer.
    pub fn linear<const D: usize>(x: Tensor<D>, weight: Tensor<2>, bias: Tensor<1>) -> Tensor<D> {
        let mut dims = x.dims();
        let [d_in, d_out] = weight.dims();
        let rows = x.shape().num_elements() / d_in;
        let flat = x.reshape([rows, d_in]).into_dispatch();
        let out = <Dispatch as LinearOps>::linear(flat, weight.into_dispatch(), bias.into_dispatch());
        dims[D - 1] = d_out;
        Tensor::<2>::from_dispatch(out).reshape(dims)
    }

    #[backend_extension(Flex, Autodiff)]
    pub trait LinearOps: Backend {
        /// `x` [rows, in] · `weight` [in, out] + `bias` [out].
        fn linear(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self>;
    }

    impl LinearOps for Flex {
        fn linear(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
            let (rows, d_in) = dims2(&x);
            let d_out = dims2(&weight).1;
            let (x, weight, bias) = (values(&x), values(&weight), values(&bias));
            let mut out = Vec::<f32>::with_capacity(rows * d_out);
            let rows_per_task = (CHUNK / d_out).max(1);
            out.spare_capacity_mut().par_chunks_mut(rows_per_task * d_out).for_each(|chunk| {
                for row in chunk.chunks_mut(d_out) {
                    row.iter_mut().zip(bias.iter()).for_each(|(o, b)| _ = o.write(*b));
                }
            });
            // out [rows, out] += x [rows, in] · weight [in, out]
            unsafe {
                product(rows, d_out, d_in, out.as_mut_ptr(), d_out, true, (x.as_ptr(), d_in as isize, 1), (
                    weight.as_ptr(),
                    d_out as isize,
                    1,
                ));
                // SAFETY: every element was written (the bias, then the product added to it).
                out.set_len(rows * d_out);
            }
            tensor(out, [rows, d_out])
        }
    }

    impl<C: CheckpointStrategy> LinearOps for Autodiff<Flex, C> {
        fn linear(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
            let (x_tracked, weight_tracked) = (x.is_tracked(), weight.is_tracked());
            match LinearBackward.prepare::<C>([x.node(), weight.node(), bias.node()]).compute_bound().stateful() {
                OpsKind::Tracked(mut prep) => {
                    // Each factor is kept only for the other's gradient.
                    let x_state = weight_tracked.then(|| prep.checkpoint(&x));
                    let weight_state = x_tracked.then(|| prep.checkpoint(&weight));
                    let out = Flex::linear(x.into_primitive(), weight.into_primitive(), bias.into_primitive());
                    prep.finish((x_state, weight_state), out)
                }
                OpsKind::UnTracked(prep) => {
                    prep.finish(Flex::linear(x.into_primitive(), weight.into_primitive(), bias.into_primitive()))
                }
            }
        }
    }

    #[derive(Debug)]
    struct LinearBackward;

    impl Backward<Flex, 3> for LinearBackward {
        type State = (Option<NodeId>, Option<NodeId>);

        fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
            let [x_node, weight_node, bias_node] = ops.parents;
            let grad: FlexTensor = grads.consume::<Flex>(&ops.node);
            let (rows, d_out) = dims2(&grad);
            let grad = values(&grad);
            let (x_state, weight_state) = ops.state;
            if let (Some(node), Some(state)) = (x_node, weight_state) {
                let weight: FlexTensor = checkpointer.retrieve_node_output(state);
                let d_in = dims2(&weight).0;
                let weight = values(&weight);
                // dx [rows, in] = grad [rows, out] · weightᵀ [out, in]
                let dx = written(rows * d_in, |dx| unsafe {
                    product(rows, d_in, d_out, dx, d_in, false, (grad.as_ptr(), d_out as isize, 1), (
                        weight.as_ptr(),
                        1,
                        d_out as isize,
                    ))
                });
                grads.register::<Flex>(node.id, tensor(dx, [rows, d_in]));
            }
            if let (Some(node), Some(state)) = (weight_node, x_state) {
                let x: FlexTensor = checkpointer.retrieve_node_output(state);
                let d_in = dims2(&x).1;
                let x = values(&x);
                // dw [in, out] = xᵀ [in, rows] · grad [rows, out]
                let dw = written(d_in * d_out, |dw| unsafe {
                    product(d_in, d_out, rows, dw, d_out, false, (x.as_ptr(), 1, d_in as isize), (
                        grad.as_ptr(),
                        d_out as isize,
                        1,
                    ))
                });
                grads.register::<Flex>(node.id, tensor(dw, [d_in, d_out]));
            }
            if let Some(node) = bias_node {
                grads.register::<Flex>(node.id, tensor(column_sums(&grad, d_out), [d_out]));
            }
        }
    }

    /// The sum of `values`' rows (each `width` long), in parallel over blocks of rows.
    fn column_sums(values: &[f32], width: usize) -> Vec<f32> {
        let rows_per_task = (CHUNK / width).max(1);
        values
            .par_chunks(rows_per_task * width)
            .map(|block| {
                let mut sums = vec![0.0f32; width];
                for row in block.chunks(width) {
                    sums.iter_mut().zip(row).for_each(|(s, v)| *s += v);
                }
                sums
            })
            .reduce(
                || vec![0.0f32; width],
                |mut a, b| {
                    a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                    a
                },
            )
    }

    /// `dst` [m, n] (row-major, `dst_row` apart) := `dst` (if `accumulate`) + lhs [m, k] · rhs [k, n],
    /// each operand given as (pointer, row stride, column stride). Threads as burn's CPU product does.
    ///
    /// # Safety
    /// The pointers must address matrices of those shapes and strides.
    #[allow(clippy::too_many_arguments)]
    unsafe fn product(
        m: usize,
        n: usize,
        k: usize,
        dst: *mut f32,
        dst_row: usize,
        accumulate: bool,
        (lhs, lhs_rs, lhs_cs): (*const f32, isize, isize),
        (rhs, rhs_rs, rhs_cs): (*const f32, isize, isize),
    ) {
        let parallelism = if m.saturating_mul(n).saturating_mul(k) >= 192 * 192 * 192 {
            gemm::Parallelism::Rayon(0)
        } else {
            gemm::Parallelism::None
        };
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst,
                1,
                dst_row as isize,
                accumulate,
                lhs,
                lhs_cs,
                lhs_rs,
                rhs,
                rhs_cs,
                rhs_rs,
                1.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            )
        }
    }

    fn dims2(t: &FlexTensor) -> (usize, usize) {
        let shape = t.shape();
        (shape[0], shape[shape.num_dims() - 1])
    }

    /// A buffer of `len` values, all of which `write` writes (a product without `accumulate` reads
    /// none of its destination, so the buffer need not be zeroed first).
    fn written(len: usize, write: impl FnOnce(*mut f32)) -> Vec<f32> {
        let mut v = Vec::with_capacity(len);
        write(v.as_mut_ptr());
        // SAFETY: `write` wrote all `len` values.
        unsafe { v.set_len(len) };
        v
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::model::host::testing::{assert_close, read};
    use burn::module::Module;
    use burn::nn::LinearConfig;
    use burn::tensor::{Device, Distribution};

    /// Values and the gradients of input, weight and bias are those of burn's `Linear`; a frozen
    /// weight gets none and the input still does; without autodiff, the same values.
    #[test]
    fn matches_burns_linear_and_its_gradients() {
        let device = Device::flex().autodiff();
        let layer = LinearConfig::new(40, 24).init(&device);
        let x = Tensor::<3>::random([3, 7, 40], Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<3>::random([3, 7, 24], Distribution::Normal(0.0, 1.0), &device);
        for frozen in [false, true] {
            let layer = if frozen { layer.clone().no_grad() } else { layer.clone() };
            let run = |ours: bool| {
                let x = x.clone().require_grad();
                let y = if ours { linear(&layer, x.clone()) } else { layer.forward(x.clone()) };
                let g = (y.clone() * w.clone()).sum().backward();
                let weight = layer.weight.val().grad(&g).map(read);
                let bias = layer.bias.as_ref().unwrap().val().grad(&g).map(read);
                (read(y), read(x.grad(&g).unwrap()), weight, bias)
            };
            let (ours, burns) = (run(true), run(false));
            assert_close(&ours.0, &burns.0, 1e-5, "values");
            assert_close(&ours.1, &burns.1, 1e-5, "input's gradient");
            assert_eq!(ours.2.is_some(), !frozen, "a weight gradient only when trained");
            if let (Some(a), Some(b)) = (&ours.2, &burns.2) {
                assert_close(a, b, 1e-5, "weight's gradient");
                assert_close(ours.3.as_ref().unwrap(), burns.3.as_ref().unwrap(), 1e-5, "bias's gradient");
            }
        }
        let plain = layer.valid();
        let x = x.inner();
        assert_close(&read(linear(&plain, x.clone())), &read(plain.forward(x)), 1e-5, "without autodiff");
    }
}

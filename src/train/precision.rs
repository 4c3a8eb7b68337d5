//! Mixed precision, as transformers' `--bf16` / `--fp16`: the forward and backward passes in a
//! 16-bit float, the weights, gradients and AdamW's moments in f32 ("master weights").
//!
//! burn has no autocast: each step casts every weight to the 16-bit type (a tracked cast, so the
//! gradients arrive at the f32 weights in f32) and runs the model on the copy. Softmax and
//! LayerNorm compute in f32 inside (`model/softmax.rs`; burn's LayerNorm widens by itself), and the
//! logits are cast to f32 before the loss, as torch's autocast does.
//!
//! f16's range ends at 65504 and its smallest normal number is 6e-5, so small gradients vanish:
//! with `--fp16` the loss is multiplied by a scale before the backward pass and the gradients
//! divided by it after; a step whose gradients overflowed is skipped and the scale halved, and
//! after 2000 good steps in a row it doubles (torch's `GradScaler` and its defaults). bf16 has f32's
//! range and needs none of this.

use burn::module::{Module, ModuleMapper, Param};
use burn::optim::GradientsParams;
use burn::tensor::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use super::args::Precision;
use crate::error::{Error, Result};
use crate::model::{SequenceClassifier, BertInput};

impl Precision {
    /// The 16-bit type of the forward and backward passes; `None` for plain f32.
    pub fn compute_dtype(self) -> Option<DType> {
        match self {
            Precision::F32 => None,
            Precision::Bf16 => Some(DType::BF16),
            Precision::F16 => Some(DType::F16),
        }
    }

    /// An error naming the flag when `device` cannot compute in this type (WebGPU and Vulkan have
    /// no bf16; f16 needs the `shader-f16` feature).
    pub fn check_supported(self, device: &Device) -> Result<()> {
        match self.compute_dtype() {
            Some(dtype) if !device.supports_dtype(dtype) => Err(Error::Invalid(format!(
                "--{} (mixed precision): this device ({device:?}) cannot compute in {}",
                self.flag(),
                self.name()
            ))),
            _ => Ok(()),
        }
    }

    /// The model's logits for `input`, computed in this precision and returned in f32 (the loss
    /// is computed in f32, as under torch's autocast).
    pub fn logits(self, model: &SequenceClassifier, input: BertInput) -> Tensor<2> {
        match self.compute_dtype() {
            Some(dtype) => compute_copy(model, dtype).forward(input).cast(DType::F32),
            None => model.forward(input),
        }
    }

    fn flag(self) -> &'static str {
        match self {
            Precision::Bf16 => "bf16",
            Precision::F16 => "fp16",
            Precision::F32 => "f32",
        }
    }
}

/// `model` with every float weight cast to `dtype`: tracked casts of the f32 weights, so that the
/// backward pass of the copy's loss gives the original weights their (f32) gradients.
pub fn compute_copy<M: Module>(model: &M, dtype: DType) -> M {
    struct Cast(DType);
    impl ModuleMapper for Cast {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let (id, tensor, mapper) = param.consume();
            Param::from_mapped_value(id, tensor.cast(self.0), mapper)
        }
    }
    model.clone().map(&mut Cast(dtype))
}

/// The loss scale of `--fp16` (torch's `GradScaler`): kept in checkpoints, so a resumed run
/// continues with the scale it had.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossScale {
    pub scale: f64,
    /// Steps in a row whose gradients were finite.
    pub good_steps: usize,
    /// Steps skipped so far (AdamW's own count is the run's steps less these).
    pub skipped_steps: usize,
}

impl Default for LossScale {
    fn default() -> Self {
        Self { scale: 65536.0, good_steps: 0, skipped_steps: 0 }
    }
}

impl LossScale {
    const GROWTH_INTERVAL: usize = 2000;

    /// Divides the gradients (of the loss times [`LossScale::scale`]) by the scale and returns them,
    /// or `None` if any is infinite or NaN: then the step is to be skipped, and the scale is halved.
    /// Reads one number back from the device.
    pub async fn unscale<M: Module>(&mut self, model: &M, grads: GradientsParams) -> Result<Option<GradientsParams>> {
        struct Unscale {
            grads: GradientsParams,
            inverse: f64,
            finite: Option<Tensor<1>>,
        }
        impl burn::module::ModuleVisitor for Unscale {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let Some(grad) = self.grads.remove::<D>(param.id) else { return };
                let grad = grad.mul_scalar(self.inverse);
                // a sum is NaN or infinite exactly when an element is (or overflows, which counts too)
                let sum = grad.clone().sum();
                self.finite = Some(match self.finite.take() {
                    Some(total) => total + sum,
                    None => sum,
                });
                self.grads.register::<D>(param.id, grad);
            }
        }
        let mut visitor = Unscale { grads, inverse: 1.0 / self.scale, finite: None };
        model.visit(&mut visitor);
        let total = match visitor.finite {
            Some(total) => total.into_data_async().await?.convert::<f32>().try_to_vec::<f32>().map_or(f32::NAN, |v| v[0]),
            None => 0.0,
        };
        Ok(if total.is_finite() {
            self.good_steps += 1;
            if self.good_steps == Self::GROWTH_INTERVAL {
                self.scale *= 2.0;
                self.good_steps = 0;
            }
            Some(visitor.grads)
        } else {
            self.scale /= 2.0;
            self.good_steps = 0;
            self.skipped_steps += 1;
            None
        })
    }
}

/// The gradients to step with: as they are without a loss scale; with one, unscaled, or `None`
/// when they overflowed (the step is skipped, AdamW's count too, as torch's `GradScaler` does).
pub async fn unscaled<M: Module>(
    loss_scale: Option<&mut LossScale>,
    model: &M,
    grads: GradientsParams,
) -> Result<Option<GradientsParams>> {
    match loss_scale {
        Some(scale) => scale.unscale(model, grads).await,
        None => Ok(Some(grads)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::{Distribution, TensorData};

    fn cpu() -> Device {
        Device::flex().autodiff()
    }

    /// The copy computes in the 16-bit type; its loss's gradients land on the f32 weights, in f32,
    /// close to the f32 model's own.
    #[test]
    fn the_copy_computes_in_half_and_the_weights_get_f32_gradients() {
        let device = cpu();
        let model: Linear = LinearConfig::new(16, 4).init(&device);
        let x = Tensor::<2>::random([8, 16], Distribution::Normal(0.0, 1.0), &device);
        let reference = {
            let grads = GradientsParams::from_grads(model.forward(x.clone()).powf_scalar(2.0).sum().backward(), &model);
            grads.get::<2>(model.weight.id).unwrap().into_data().try_to_vec::<f32>().unwrap()
        };
        for dtype in [DType::BF16, DType::F16] {
            let copy = compute_copy(&model, dtype);
            let y = copy.forward(x.clone().cast(dtype));
            assert_eq!(y.dtype(), dtype);
            let loss = y.cast(DType::F32).powf_scalar(2.0).sum();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let grad = grads.get::<2>(model.weight.id).expect("the f32 weight has a gradient");
            assert_eq!(grad.dtype(), DType::F32);
            let grad = grad.into_data().try_to_vec::<f32>().unwrap();
            let scale = reference.iter().fold(0f32, |a, b| a.max(b.abs()));
            for (a, b) in grad.iter().zip(&reference) {
                assert!((a - b).abs() < 0.05 * scale, "{dtype:?}: {a} vs f32's {b}");
            }
        }
    }

    #[test]
    fn the_loss_scale_halves_on_overflow_and_doubles_after_2000_good_steps() {
        let device = cpu();
        let model: Linear = LinearConfig::new(2, 1).init(&device);
        let grads_of = |value: f32| {
            let mut grads = GradientsParams::new();
            let g = Tensor::<2>::from_data(TensorData::new(vec![value, 1.0], [2, 1]), &device.clone().without_autodiff());
            grads.register::<2>(model.weight.id, g);
            grads
        };
        let mut scale = LossScale::default();
        let unscale = |scale: &mut LossScale, g| pollster::block_on(scale.unscale(&model, g)).unwrap();
        let unscaled = unscale(&mut scale, grads_of(65536.0)).expect("finite gradients pass");
        let g = unscaled.get::<2>(model.weight.id).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(g, vec![1.0, 1.0 / 65536.0]);
        assert_eq!(scale.good_steps, 1);
        assert!(unscale(&mut scale, grads_of(f32::INFINITY)).is_none());
        assert!(unscale(&mut scale, grads_of(f32::NAN)).is_none());
        assert_eq!(scale, LossScale { scale: 16384.0, good_steps: 0, skipped_steps: 2 });
        for _ in 0..2000 {
            unscale(&mut scale, grads_of(1.0)).unwrap();
        }
        assert_eq!(scale, LossScale { scale: 32768.0, good_steps: 0, skipped_steps: 2 });
    }
}

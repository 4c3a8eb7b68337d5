//! The optimizer side of the recipe, with PyTorch's semantics where burn's defaults differ:
//! AdamW's settings with torch's eps and no decay unless asked (the optimizer is in `adamw.rs`),
//! transformers' linear schedule, and clipping by the global norm over all parameters
//! (`torch.nn.utils.clip_grad_norm_`).

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

use super::adamw::AdamW;
use super::args::AdamWSettings;

impl AdamWSettings {
    pub fn init(&self) -> AdamW {
        AdamW::new(self.clone())
    }
}

/// transformers' `get_linear_schedule_with_warmup`: the rate for optimizer step `step` (0-based),
/// rising linearly over `warmup` steps, then falling linearly to 0 at `total`.
pub fn linear_schedule(base_lr: f64, step: usize, warmup: usize, total: usize) -> f64 {
    let factor = if step < warmup {
        step as f64 / warmup.max(1) as f64
    } else {
        ((total as f64 - step as f64) / (total.saturating_sub(warmup)).max(1) as f64).max(0.0)
    };
    base_lr * factor
}

/// Scales all gradients so that their global L2 norm is at most `max_norm`, computed on the
/// device (no read-back), as `clip_grad_norm_` does: coef = min(1, max_norm / (norm + 1e-6)).
pub fn clip_grad_norm<M: Module>(model: &M, grads: GradientsParams, max_norm: f64) -> GradientsParams {
    let mut norm = SumOfSquares { grads: &grads, total: None };
    model.visit(&mut norm);
    let Some(total) = norm.total else {
        return grads;
    };
    let coef = (total.sqrt() + 1e-6).recip().mul_scalar(max_norm).clamp_max(1.0);
    let mut scale = Scale { grads, coef };
    model.visit(&mut scale);
    scale.grads
}

struct SumOfSquares<'a> {
    grads: &'a GradientsParams,
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for SumOfSquares<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let sq = g.square().sum();
            self.total = Some(match self.total.take() {
                Some(t) => t + sq,
                None => sq,
            });
        }
    }
}

struct Scale {
    grads: GradientsParams,
    coef: Tensor<1>,
}

impl ModuleVisitor for Scale {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            let coef = self.coef.clone().reshape([1usize; D]);
            self.grads.register::<D>(param.id, g * coef);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn schedule_matches_transformers() {
        // no warmup: starts at the base rate and reaches 0 at the last step
        assert_eq!(linear_schedule(5e-5, 0, 0, 1377), 5e-5);
        assert!((linear_schedule(5e-5, 1376, 0, 1377) - 5e-5 / 1377.0).abs() < 1e-15);
        assert_eq!(linear_schedule(5e-5, 1377, 0, 1377), 0.0);
        // warmup: 0 at step 0, the full rate at the end of warmup
        assert_eq!(linear_schedule(1.0, 0, 10, 110), 0.0);
        assert_eq!(linear_schedule(1.0, 5, 10, 110), 0.5);
        assert_eq!(linear_schedule(1.0, 10, 10, 110), 1.0);
        assert_eq!(linear_schedule(1.0, 60, 10, 110), 0.5);
    }

    #[derive(Module, Debug)]
    struct Two {
        a: Param<Tensor<2>>,
        b: Param<Tensor<1>>,
    }

    fn grads_of(model: &Two, device: &Device) -> GradientsParams {
        let loss = (model.a.val() * 3.0).sum() + (model.b.val() * 4.0).sum();
        let g = loss.backward();
        let _ = device;
        GradientsParams::from_grads(g, model)
    }

    #[test]
    fn clips_by_the_global_norm_not_per_tensor() {
        let device = Device::flex().autodiff();
        let model = Two {
            a: Param::from_data(TensorData::new(vec![1.0f32], [1, 1]), &device),
            b: Param::from_data(TensorData::new(vec![1.0f32], [1]), &device),
        };
        // grads are 3 and 4: global norm 5. Clipping to 1 scales both by ~1/5.
        let clipped = clip_grad_norm(&model, grads_of(&model, &device), 1.0);
        let ga = clipped.get::<2>(model.a.id).unwrap().into_data().try_into_vec::<f32>().unwrap()[0];
        let gb = clipped.get::<1>(model.b.id).unwrap().into_data().try_into_vec::<f32>().unwrap()[0];
        assert!((ga - 0.6).abs() < 1e-5 && (gb - 0.8).abs() < 1e-5, "{ga} {gb}");
        // a norm under the limit is left alone
        let kept = clip_grad_norm(&model, grads_of(&model, &device), 10.0);
        let ga = kept.get::<2>(model.a.id).unwrap().into_data().try_into_vec::<f32>().unwrap()[0];
        assert!((ga - 3.0).abs() < 1e-5);
    }
}

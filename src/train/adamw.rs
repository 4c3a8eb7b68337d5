//! AdamW as `torch.optim.AdamW` computes it, with its state kept where a checkpoint can reach it.
//!
//! burn has an AdamW, but its state is private to the optimizer, keyed by the parameters' random
//! ids, and serialised with synchronous GPU reads — which a browser cannot do. Here the two
//! moments of every parameter are plain tensors that [`AdamW::moments`] lays out as two
//! model-shaped sets of weights (`exp_avg`, `exp_avg_sq`, torch's names), so a checkpoint saves
//! them with the same exporter as the weights and loads them with the same shape checks.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

use super::args::AdamWSettings;
use crate::error::{Error, Result};

/// A parameter's first and second moments, flattened (a parameter's own shape is restored on use).
#[derive(Clone)]
struct Moments {
    exp_avg: Tensor<1>,
    exp_avg_sq: Tensor<1>,
}

pub struct AdamW {
    settings: AdamWSettings,
    state: HashMap<ParamId, Moments>,
    /// Optimizer steps taken. torch counts per parameter; every parameter of a BERT gets a gradient
    /// at every step, so one count is the same thing.
    steps: usize,
    /// Off only in tests, to compare the CPU's one-pass update with the tensor operations.
    fused: bool,
}

impl AdamW {
    pub fn new(settings: AdamWSettings) -> Self {
        Self { settings, state: HashMap::new(), steps: 0, fused: true }
    }

    pub fn steps(&self) -> usize {
        self.steps
    }

    /// One update of every parameter that has a gradient in `grads`, at learning rate `lr`.
    pub fn step<M: Module>(&mut self, lr: f64, model: M, mut grads: GradientsParams) -> M {
        self.steps += 1;
        let t = self.steps as i32;
        let s = &self.settings;
        let mut update = Update {
            state: &mut self.state,
            grads: &mut grads,
            lr,
            beta1: s.beta1,
            beta2: s.beta2,
            epsilon: s.epsilon,
            weight_decay: s.weight_decay,
            bias_correction1: 1.0 - s.beta1.powi(t),
            bias_correction2_sqrt: (1.0 - s.beta2.powi(t)).sqrt(),
            fused: self.fused,
        };
        model.map(&mut update)
    }

    /// The moments as two models shaped like `model` (its parameters replaced by `exp_avg`, then
    /// by `exp_avg_sq`), ready for the model's own exporter. A parameter without state yet gets
    /// zeros, which is what its state would start from.
    pub fn moments<M: Module + Clone>(&self, model: &M) -> (M, M) {
        let first = model.clone().map(&mut Replace { state: &self.state, second: false });
        let second = model.clone().map(&mut Replace { state: &self.state, second: true });
        (first, second)
    }

    /// An optimizer that continues from saved moments: `exp_avg` and `exp_avg_sq` are models shaped
    /// like `model` (loaded from the checkpoint's files), `steps` the steps already taken.
    pub fn from_moments<M: Module>(settings: AdamWSettings, model: &M, exp_avg: &M, exp_avg_sq: &M, steps: usize) -> Result<Self> {
        // `None` for a frozen parameter (LoRA's base model), which has no moments.
        let ids = collect(model, |_, id, trainable| Some(trainable.then_some(id)));
        let firsts = collect(exp_avg, |t, _, _| Some(t));
        let seconds = collect(exp_avg_sq, |t, _, _| Some(t));
        if ids.len() != firsts.len() || ids.len() != seconds.len() {
            return Err(Error::Invalid(format!(
                "optimizer state has {} / {} tensors for a model with {} parameters",
                firsts.len(),
                seconds.len(),
                ids.len()
            )));
        }
        let state = ids
            .into_iter()
            .zip(firsts.into_iter().zip(seconds))
            .filter_map(|(id, (exp_avg, exp_avg_sq))| Some((id?, Moments { exp_avg, exp_avg_sq })))
            .collect();
        Ok(Self { settings, state, steps, fused: true })
    }
}

/// Every float parameter of `module` in visiting order (the order is the module's structure, so
/// two models of one config pair up), mapped through `f(flattened tensor, id, requires a gradient)`.
fn collect<M: Module, T>(module: &M, f: impl Fn(Tensor<1>, ParamId, bool) -> Option<T>) -> Vec<T> {
    struct Collect<F, T> {
        f: F,
        out: Vec<T>,
    }
    impl<F: Fn(Tensor<1>, ParamId, bool) -> Option<T>, T> ModuleVisitor for Collect<F, T> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let tensor = param.val();
            let trainable = tensor.is_require_grad();
            let n = tensor.shape().num_elements();
            if let Some(v) = (self.f)(tensor.inner().reshape([n]), param.id, trainable) {
                self.out.push(v);
            }
        }
    }
    let mut c = Collect { f, out: Vec::new() };
    module.visit(&mut c);
    c.out
}

struct Update<'a> {
    state: &'a mut HashMap<ParamId, Moments>,
    grads: &'a mut GradientsParams,
    lr: f64,
    beta1: f64,
    beta2: f64,
    epsilon: f64,
    weight_decay: f64,
    bias_correction1: f64,
    bias_correction2_sqrt: f64,
    /// Whether parameters on the CPU are updated in one pass over host memory ([`host::update`]).
    fused: bool,
}

impl Update<'_> {
    /// The update as tensor operations, for every backend (fusion joins them into one kernel on a GPU).
    fn update(&self, p: Tensor<1>, g: Tensor<1>, m: Option<Moments>) -> (Tensor<1>, Moments) {
        // torch: m = β1·m + (1-β1)·g ; v = β2·v + (1-β2)·g²  (from zeros on the first step)
        let g_scaled = g.clone().mul_scalar(1.0 - self.beta1);
        let g2_scaled = g.square().mul_scalar(1.0 - self.beta2);
        let (exp_avg, exp_avg_sq) = match m {
            Some(m) => (m.exp_avg.mul_scalar(self.beta1) + g_scaled, m.exp_avg_sq.mul_scalar(self.beta2) + g2_scaled),
            None => (g_scaled, g2_scaled),
        };
        // torch: p ← p·(1 - lr·wd) - (lr / bc1) · m / (√v / √bc2 + eps)
        let decayed = if self.weight_decay == 0.0 { p } else { p.mul_scalar(1.0 - self.lr * self.weight_decay) };
        let denom = exp_avg_sq.clone().sqrt().div_scalar(self.bias_correction2_sqrt).add_scalar(self.epsilon);
        let updated = decayed - exp_avg.clone().mul_scalar(self.lr / self.bias_correction1) / denom;
        (updated, Moments { exp_avg, exp_avg_sq })
    }
}

impl ModuleMapper for Update<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let require_grad = tensor.is_require_grad();
        let dims = tensor.dims();
        let n = tensor.shape().num_elements();
        let p = tensor.inner().reshape([n]);
        let g = grad.reshape([n]);
        let m = self.state.remove(&id);
        let on_host = if self.fused { host::update(self, p, g, m) } else { Err((p, g, m)) };
        let (updated, moments) = on_host.unwrap_or_else(|(p, g, m)| self.update(p, g, m));
        self.state.insert(id, moments);
        let mut updated = Tensor::from_inner(updated.reshape(dims));
        if require_grad {
            updated = updated.require_grad();
        }
        Param::from_mapped_value(id, updated, mapper)
    }
}

/// On burn's CPU backend every tensor operation of [`Update::update`] is a pass over memory, a dozen
/// per parameter, where torch's CPU AdamW is one loop. Here a parameter on the CPU is read, updated
/// and written back with its moments in one pass, in the same arithmetic, so both paths give the
/// same result (test below). CPU tensors hand their buffer to `TensorData` and take it back without
/// copying when the optimizer holds the only reference.
mod host {
    use burn::tensor::{DType, Tensor, TensorData};
    use rayon::prelude::*;

    use super::{Moments, Update};
    use crate::device::in_host_memory;

    /// The inputs, untouched, when they are not f32 tensors on the CPU.
    pub(super) type Declined = (Tensor<1>, Tensor<1>, Option<Moments>);

    pub(super) fn update(u: &Update, p: Tensor<1>, g: Tensor<1>, m: Option<Moments>) -> Result<(Tensor<1>, Moments), Declined> {
        let device = p.device();
        let moments = m.as_ref().map(|m| [&m.exp_avg, &m.exp_avg_sq]);
        let f32s = [&p, &g].into_iter().chain(moments.into_iter().flatten()).all(|t| t.dtype() == DType::F32);
        if !in_host_memory(&device) || !f32s {
            return Err((p, g, m));
        }
        let n = p.shape().num_elements();
        let (mut p, g) = (p.into_data(), g.into_data());
        let (mut m, mut v) = match m {
            Some(m) => (m.exp_avg.into_data(), m.exp_avg_sq.into_data()),
            None => (TensorData::zeros::<f32, _>([n]), TensorData::zeros::<f32, _>([n])),
        };
        let f32 = "checked above to be f32";
        let (ps, ms, vs) = (p.as_mut_slice::<f32>().expect(f32), m.as_mut_slice::<f32>().expect(f32), v.as_mut_slice::<f32>().expect(f32));
        let gs = g.as_slice::<f32>().expect(f32);
        let (beta1, beta2) = (u.beta1 as f32, u.beta2 as f32);
        let (one_minus_beta1, one_minus_beta2) = ((1.0 - u.beta1) as f32, (1.0 - u.beta2) as f32);
        let decay = (1.0 - u.lr * u.weight_decay) as f32;
        let bc2_sqrt = u.bias_correction2_sqrt as f32;
        let eps = u.epsilon as f32;
        let step = (u.lr / u.bias_correction1) as f32;
        const CHUNK: usize = 1 << 14;
        ps.par_chunks_mut(CHUNK)
            .zip(ms.par_chunks_mut(CHUNK))
            .zip(vs.par_chunks_mut(CHUNK))
            .zip(gs.par_chunks(CHUNK))
            .for_each(|(((p, m), v), g)| {
                for i in 0..p.len() {
                    let g = g[i];
                    m[i] = m[i] * beta1 + g * one_minus_beta1;
                    v[i] = v[i] * beta2 + g * g * one_minus_beta2;
                    p[i] = p[i] * decay - m[i] * step / (v[i].sqrt() / bc2_sqrt + eps);
                }
            });
        let back = |data| Tensor::<1>::from_data(data, &device);
        Ok((back(p), Moments { exp_avg: back(m), exp_avg_sq: back(v) }))
    }
}

struct Replace<'a> {
    state: &'a HashMap<ParamId, Moments>,
    second: bool,
}

impl ModuleMapper for Replace<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let dims = tensor.dims();
        let value = match self.state.get(&id) {
            Some(m) if self.second => m.exp_avg_sq.clone().reshape(dims),
            Some(m) => m.exp_avg.clone().reshape(dims),
            // A frozen parameter (LoRA's base model) never has moments and is not exported with
            // them; it stays as it is rather than costing a model's worth of zeros.
            None if !tensor.is_require_grad() => tensor.inner(),
            None => tensor.inner().zeros_like(),
        };
        Param::from_mapped_value(id, value, mapper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[derive(Module, Debug)]
    struct One {
        w: Param<Tensor<2>>,
    }

    fn value(model: &One) -> Vec<f32> {
        model.w.val().into_data().convert::<f32>().try_into_vec().unwrap()
    }

    /// Two steps of `torch.optim.AdamW([w], lr=0.1, weight_decay=0.01)` on w = [[1, -2]] with
    /// loss = sum(w * c) for c = [[3, 0.5]] (so the gradient is c at every step), worked by hand
    /// from torch's algorithm: after step 1, w = w·(1-0.001) - 0.1·sign(c); step 2 again.
    #[test]
    fn matches_torch_adamw() {
        let device = Device::flex().autodiff();
        let mut model = One { w: Param::from_data(TensorData::new(vec![1.0f32, -2.0], [1, 2]), &device) };
        let settings = AdamWSettings { weight_decay: 0.01, ..AdamWSettings::default() };
        let mut opt = AdamW::new(settings);
        let c = Tensor::<2>::from_floats([[3.0, 0.5]], &device);
        let mut expected = [1.0f64, -2.0];
        for _ in 0..2 {
            let loss = (model.w.val() * c.clone()).sum();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = opt.step(0.1, model, grads);
            // a constant gradient makes m̂ = g and v̂ = g², so the step is lr·g/(|g| + eps)
            for (e, g) in expected.iter_mut().zip([3.0f64, 0.5]) {
                *e = *e * (1.0 - 0.1 * 0.01) - 0.1 * g / (g.abs() + 1e-8);
            }
        }
        let got = value(&model);
        for (g, e) in got.iter().zip(expected) {
            assert!((*g as f64 - e).abs() < 1e-6, "{got:?} vs {expected:?}");
        }
        assert!(model.w.val().is_require_grad(), "parameters stay trainable");
    }

    /// The one-pass CPU update and the tensor-operation update agree over several steps with weight
    /// decay (the CPU backend runs the first, every other backend the second).
    #[test]
    fn fused_cpu_update_matches_tensor_update() {
        let device = Device::flex().autodiff();
        // The CPU backend does take the one-pass path (it declines tensors elsewhere).
        let (mut state, mut grads) = (HashMap::new(), GradientsParams::new());
        let u = Update {
            state: &mut state,
            grads: &mut grads,
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.0,
            bias_correction1: 0.1,
            bias_correction2_sqrt: 0.03,
            fused: true,
        };
        let t = || Tensor::<1>::from_floats([1.0, 2.0], &Device::flex());
        assert!(host::update(&u, t(), t(), None).is_ok());

        let n = 50_000;
        let init: Vec<f32> = (0..n).map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 250.0).collect();
        let c: Vec<f32> = (0..n).map(|i| ((i * 104_729 % 997) as f32 - 498.0) / 100.0).collect();
        let c = Tensor::<2>::from_data(TensorData::new(c, [100, 500]), &device);
        let run = |fused: bool| {
            let mut model = One { w: Param::from_data(TensorData::new(init.clone(), [100, 500]), &device) };
            let mut opt = AdamW::new(AdamWSettings { weight_decay: 0.01, ..AdamWSettings::default() });
            opt.fused = fused;
            for k in 1..=4 {
                let loss = (model.w.val() * c.clone().mul_scalar(k as f32)).sum() + model.w.val().powf_scalar(4.0).sum();
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = opt.step(1e-3 * k as f64, model, grads);
            }
            let (m, v) = opt.moments(&model);
            (value(&model), value(&m), value(&v))
        };
        let (fused, plain) = (run(true), run(false));
        for (a, b) in [(&fused.0, &plain.0), (&fused.1, &plain.1), (&fused.2, &plain.2)] {
            let worst = a.iter().zip(b).map(|(x, y)| (x - y).abs() / y.abs().max(1e-3)).fold(0.0f32, f32::max);
            assert!(worst < 1e-5, "relative difference {worst}");
        }
        assert_ne!(fused.0, init, "the parameters moved");
    }

    /// Saving the moments as model-shaped weights and loading them back continues the same way.
    #[test]
    fn moments_round_trip() {
        let device = Device::flex().autodiff();
        let fresh = || One { w: Param::from_data(TensorData::new(vec![0.5f32, 1.5, -1.0], [1, 3]), &device) };
        let c = Tensor::<2>::from_floats([[1.0, -2.0, 0.25]], &device);
        let grads_of = |m: &One, k: f32| {
            let loss = (m.w.val() * c.clone().mul_scalar(k)).sum() + m.w.val().square().sum();
            GradientsParams::from_grads(loss.backward(), m)
        };
        let mut a = fresh();
        let mut opt = AdamW::new(AdamWSettings::default());
        for k in 1..=3 {
            let g = grads_of(&a, k as f32);
            a = opt.step(0.01, a, g);
        }
        let (m, v) = opt.moments(&a);
        // A new model with the same values but new parameter ids, as after a reload.
        let mut b = One { w: Param::from_data(a.w.val().into_data(), &device) };
        let mut resumed = AdamW::from_moments(AdamWSettings::default(), &b, &m, &v, opt.steps()).unwrap();
        let (ga, gb) = (grads_of(&a, 4.0), grads_of(&b, 4.0));
        a = opt.step(0.01, a, ga);
        b = resumed.step(0.01, b, gb);
        assert_eq!(value(&a), value(&b));
    }
}

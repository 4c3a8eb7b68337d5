//! LoRA as peft computes it (`peft.tuners.lora.layer.Linear`): beside a frozen linear layer W, two
//! small matrices A (r × in) and B (out × r) add `scaling · B·A·dropout(x)` to its output. Only A and
//! B (and the task head) are trained, so their gradients and AdamW moments are all a run keeps.
//!
//! Every linear layer of an encoder is a [`LoraLinear`]; without LoRA, or when the layer is not a
//! target, it holds no adapter and computes exactly what the plain `Linear` did.

use burn::module::Module;
use burn::nn::{Dropout, Linear};
use burn::tensor::Tensor;

use super::dropout::dropout;
use super::linear::linear;

#[derive(Module, Debug)]
pub struct Lora {
    /// peft: `lora_A`, [in, r] here as burn lays out a linear layer's weight (peft's [r, in]).
    pub lora_a: Linear,
    /// peft: `lora_B`, [r, out]; starts at zero, so a fresh adapter changes nothing.
    pub lora_b: Linear,
    pub dropout: Dropout,
    #[module(skip)]
    pub scaling: f64,
}

impl Lora {
    /// The adapter's weight delta in burn's [in, out] layout: `scaling · (B·A)ᵀ`.
    pub fn delta(&self) -> Tensor<2> {
        self.lora_a.weight.val().matmul(self.lora_b.weight.val()).mul_scalar(self.scaling)
    }
}

#[derive(Module, Debug)]
pub struct LoraLinear {
    /// peft: `base_layer`, frozen while an adapter trains.
    pub base_layer: Linear,
    pub lora: Option<Lora>,
}

impl LoraLinear {
    pub fn plain(base_layer: Linear) -> Self {
        Self { base_layer, lora: None }
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match &self.lora {
            None => linear(&self.base_layer, x),
            Some(lora) => {
                let adapted = lora.lora_b.forward(lora.lora_a.forward(dropout(&lora.dropout, x.clone())));
                linear(&self.base_layer, x) + adapted.mul_scalar(lora.scaling)
            }
        }
    }

    /// The weight with the adapter merged in ([in, out]): what `--merge-lora` and a plain model
    /// folder hold.
    pub fn merged_weight(&self) -> Tensor<2> {
        let w = self.base_layer.weight.val();
        match &self.lora {
            None => w,
            Some(lora) => w + lora.delta(),
        }
    }
}

//! LoRA as peft computes it (`peft.tuners.lora.layer.Linear`): beside a frozen linear layer W, two
//! small matrices A (r × in) and B (out × r) add `scaling · B·A·dropout(x)` to its output. Only A and
//! B (and the task head) are trained, so their gradients and AdamW moments are all a run keeps.
//!
//! Every linear layer of an encoder is a [`LoraLinear`]; without LoRA, or when the layer is not a
//! target, it holds no adapter and computes exactly what the plain `Linear` did.

use burn::module::Module;
use burn::nn::{Dropout, Linear};
use burn::tensor::Tensor;

use super::dropout::{dropout, dropout_rows};
use super::linear::linear;
use super::tokens::TokenRows;

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
        self.apply(x, dropout)
    }

    /// [`Self::forward`] of the encoder's `rows` ([rows, in]): the adapter's dropout masks keyed by
    /// each row's place in the padded batch (`dropout_rows`), as a padded batch's would be.
    pub fn forward_rows(&self, x: Tensor<2>, rows: &TokenRows) -> Tensor<2> {
        self.apply(x, |layer, x| dropout_rows(layer, x, rows))
    }

    fn apply<const D: usize>(&self, x: Tensor<D>, drop: impl FnOnce(&Dropout, Tensor<D>) -> Tensor<D>) -> Tensor<D> {
        match &self.lora {
            None => linear(&self.base_layer, x),
            Some(lora) => {
                let adapted = lora.lora_b.forward(lora.lora_a.forward(drop(&lora.dropout, x.clone())));
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

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::model::dropout::{TEST_LOCK, per_example};
    use crate::model::host::testing::{assert_close, read};
    use burn::nn::{DropoutConfig, LinearConfig};
    use burn::tensor::{Device, Distribution};

    /// The adapter's dropout on the encoder's rows (the tokens only, on the CPU) drops what it drops
    /// in the padded batch at the tokens: several devices, which compute padding, draw the same.
    #[test]
    fn the_adapters_masks_on_rows_are_the_padded_batchs() {
        let _generators = TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let device = Device::flex().autodiff();
        let (seq, width) = (4, 16);
        let layer = LoraLinear {
            base_layer: LinearConfig::new(width, width).init(&device),
            lora: Some(Lora {
                lora_a: LinearConfig::new(width, 4).with_bias(false).init(&device),
                lora_b: LinearConfig::new(4, width).with_bias(false).init(&device),
                dropout: DropoutConfig::new(0.5).init(),
                scaling: 2.0,
            }),
        };
        let attention = [1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0];
        let rows = TokenRows::new(&attention, 2, seq, &device);
        assert_eq!(rows.len(), 6);
        let x = Tensor::<3>::random([2, seq, width], Distribution::Normal(0.0, 1.0), &device);
        let padded = {
            let _pass = per_example(5, 1, &[3, 9], false);
            read(layer.forward(x.clone()))
        };
        let packed = {
            let _pass = per_example(5, 1, &[3, 9], false);
            read(layer.forward_rows(rows.pack(x.clone()), &rows))
        };
        let at_tokens: Vec<f32> =
            padded.chunks(width).enumerate().filter(|(p, _)| attention[*p] != 0.0).flat_map(|(_, r)| r.to_vec()).collect();
        assert_close(&packed, &at_tokens, 1e-5, "adapted rows");
        let unmasked = read(linear(&layer.base_layer, x.clone()));
        assert_ne!(padded, unmasked, "the adapter adds something");
    }
}

//! webtune: fine-tunes BERT-family models for sentence and sentence-pair classification.
//!
//! The path a run takes, top to bottom: [`pretrained`] (bytes of a model folder) → [`data`]
//! (examples, tokens, batches) → [`model`] (BERT) → [`train`] (loss, AdamW, the loop, events).
//! [`device`] picks the backend. The CLI (`src/bin/webtune.rs`) and the browser page are thin
//! shells over these; nothing here blocks on the GPU, so both can drive it.

pub mod bench;
#[cfg(not(target_arch = "wasm32"))]
pub mod checkpoints;
pub mod data;
pub mod device;
pub mod error;
pub mod model;
pub mod parity;
pub mod predict;
pub mod pretrained;
#[cfg(not(target_arch = "wasm32"))]
pub mod source;
pub mod train;

pub use error::{Error, Result};

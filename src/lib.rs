//! webtune: fine-tunes BERT-family models for sentence and sentence-pair classification.
//!
//! The path a run takes, top to bottom: [`pretrained`] (bytes of a model folder) → [`data`]
//! (examples, tokens, batches) → [`model`] (BERT) → [`train`] (loss, AdamW, the loop, events).
//! [`device`] picks the backend. The CLI (`src/bin/webtune.rs`) and the browser page are thin
//! shells over these; nothing here blocks on the GPU, so both can drive it.

//!
//! Without the `trainer` feature only the run's vocabulary compiles: its arguments, events and
//! reports, the tasks, the model's config, the memory estimate, and the pictures of a run
//! (`charts`, `report_html`). The page's own bundle is built that way, so it stays small;
//! everything that computes needs the feature (on by default).

pub mod bench;
pub mod charts;
#[cfg(all(feature = "trainer", not(target_arch = "wasm32")))]
pub mod checkpoints;
pub mod data;
#[cfg(feature = "trainer")]
pub mod device;
pub mod error;
pub mod model;
pub mod parity;
pub mod predict;
pub mod report_html;
#[cfg(feature = "trainer")]
pub mod pretrained;
#[cfg(all(feature = "trainer", not(target_arch = "wasm32")))]
pub mod source;
#[cfg(all(feature = "trainer", not(target_arch = "wasm32")))]
pub mod tensorboard;
pub mod train;

pub use error::{Error, Result};

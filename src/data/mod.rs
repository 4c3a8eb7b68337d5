//! Bytes → examples → token ids → batches. The tasks themselves (`glue.rs`'s `Task`) are also
//! known without the `trainer` feature (the page's bundle); reading parquet, tokenizing and
//! batching are the trainer's.

#[cfg(feature = "trainer")]
pub mod batch;
pub mod glue;
#[cfg(feature = "trainer")]
pub mod tokenize;

#[cfg(feature = "trainer")]
pub use batch::{Batch, collate, epoch_order, group_by_length};
pub use glue::{Example, Split, Task};
#[cfg(feature = "trainer")]
pub use tokenize::{Encoded, TextTokenizer};

//! Bytes → examples → token ids → batches. The tasks themselves (`glue.rs`'s `Task`) and their
//! labels are also known without the `trainer` feature (the page's bundle); reading parquet,
//! tokenizing and batching are the trainer's.

#[cfg(feature = "trainer")]
pub mod batch;
pub mod glue;
pub mod label;
#[cfg(feature = "trainer")]
pub mod tokenize;

#[cfg(feature = "trainer")]
pub use batch::{Batch, Targets, collate, collate_to, epoch_order, group_by_length};
pub use glue::{Example, Split, Task};
pub use label::{Label, Labels};
#[cfg(feature = "trainer")]
pub use tokenize::{Encoded, TextTokenizer, gives_token_types};

//! Bytes → examples → token ids → batches.

pub mod batch;
pub mod glue;
pub mod tokenize;

pub use batch::{Batch, collate, epoch_order, group_by_length};
pub use glue::{Example, Split, Task};
pub use tokenize::{Encoded, TextTokenizer};

//! Loss, optimizer, loop, evaluation, and the events a run reports.
//!
//! `args`, `event`, `history`, `metrics`, `mistakes`, `reference` and `memory` are plain data and
//! arithmetic, compiled also without the `trainer` feature (the page's bundle); the rest is the trainer.

pub mod args;
pub mod event;
pub mod history;
pub mod memory;
pub mod metrics;
pub mod mistakes;
pub mod reference;

#[cfg(feature = "trainer")]
pub mod adamw;
#[cfg(feature = "trainer")]
pub mod checkpoint;
#[cfg(feature = "trainer")]
pub mod control;
#[cfg(feature = "trainer")]
pub mod eval;
#[cfg(feature = "trainer")]
pub mod loss;
#[cfg(feature = "trainer")]
pub mod optim;
#[cfg(feature = "trainer")]
pub mod precision;
#[cfg(feature = "trainer")]
pub mod run;
#[cfg(feature = "trainer")]
pub mod task_data;

pub use args::{AdamWSettings, Precision, SaveStrategy, TrainingArgs};
pub use event::{Event, Report};
pub use history::{EvalRow, History, LossPoint};
pub use metrics::Metrics;

#[cfg(feature = "trainer")]
pub use checkpoint::{Checkpoint, Resume, TrainerState};
#[cfg(feature = "trainer")]
pub use eval::{Evaluation, Predictions, evaluate, predict};
#[cfg(feature = "trainer")]
pub use control::{Control, Flow, RunToEnd};
#[cfg(feature = "trainer")]
pub use loss::{cross_entropy, loss, mse};
#[cfg(feature = "trainer")]
pub use run::{train, train_with_control};
#[cfg(feature = "trainer")]
pub use task_data::{TaskData, labels_of, tokenize};

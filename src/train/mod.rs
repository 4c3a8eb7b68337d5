//! Loss, optimizer, loop, evaluation, and the events a run reports.

pub mod adamw;
pub mod checkpoint;
pub mod eval;
pub mod event;
pub mod memory;
pub mod optim;
pub mod precision;
pub mod run;

pub use checkpoint::{Checkpoint, Resume, SaveStrategy, TrainerState};
pub use eval::{Metrics, evaluate, predict_labels};
pub use event::Event;
pub use precision::Precision;
pub use run::{Control, Flow, Report, RunToEnd, TaskData, TrainingArgs, cross_entropy, labels_of, tokenize, train, train_with_control};

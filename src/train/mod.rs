//! Loss, optimizer, loop, evaluation, and the events a run reports.

pub mod eval;
pub mod event;
pub mod optim;
pub mod run;

pub use eval::{Metrics, evaluate, predict_labels};
pub use event::Event;
pub use run::{Report, TaskData, TrainingArgs, cross_entropy, train};

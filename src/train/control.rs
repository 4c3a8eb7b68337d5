//! The driver's side of a run: the page pauses and stops one, the CLI only saves its checkpoints.

use std::future::Future;
use std::pin::Pin;

use super::checkpoint::Checkpoint;
use crate::error::{Error, Result};

/// What the driver of a run wants once an optimizer step is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// End the run now: it is checkpointed (if it saves checkpoints), evaluated and returned as
    /// it stands.
    Stop,
}

/// The driver's side of a run. `after_step` is awaited after every optimizer step: the page
/// pauses a run by not resolving it yet, and gets a chance to handle its messages because awaiting
/// may yield to the event loop. `save` stores a checkpoint (atomically: a reader sees the old one
/// or the new one) when [`TrainingArgs::save_strategy`] says one is due.
pub trait Control {
    fn after_step(&mut self) -> Pin<Box<dyn Future<Output = Flow> + '_>>;
    fn save(&mut self, checkpoint: Checkpoint) -> Pin<Box<dyn Future<Output = Result<()>> + '_>>;
}

/// A run nobody interrupts and that keeps no checkpoints (tests, benchmarks).
pub struct RunToEnd;

impl Control for RunToEnd {
    fn after_step(&mut self) -> Pin<Box<dyn Future<Output = Flow> + '_>> {
        Box::pin(std::future::ready(Flow::Continue))
    }

    fn save(&mut self, checkpoint: Checkpoint) -> Pin<Box<dyn Future<Output = Result<()>> + '_>> {
        let step = checkpoint.step;
        Box::pin(std::future::ready(Err(Error::Invalid(format!(
            "a checkpoint is due at step {step} but this run has nowhere to save it"
        )))))
    }
}


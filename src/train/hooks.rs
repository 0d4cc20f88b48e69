//! What `fit` reports after each epoch, and who listens: progress lines, checkpoints, early stops.
//!
//! The loop itself writes no file. A hook sees each finished epoch (its record, the history so
//! far, the parameters and the optimizer's state) and may stop the run; the checkpoint policy
//! (last, best, final and history files) is one such hook, the checkpoint module's `Checkpointer`
//! (a layer above: this module imports nothing from it).

use super::config::{EpochRecord, TrainConfig};
use crate::params::Params;
use crate::Result;
use candle_core::Tensor;
use std::collections::HashMap;

/// A finished epoch, as hooks see it.
pub struct EpochEnd<'a> {
    /// This epoch's record.
    pub record: &'a EpochRecord,
    /// Every epoch so far, this one last (resumed ones included).
    pub history: &'a [EpochRecord],
    /// The configuration being trained with.
    pub config: &'a TrainConfig,
    /// The parameters after this epoch.
    pub params: &'a Params,
    /// The optimizer's state after this epoch, by `<param>.<slot>`, and the hooks' (see
    /// [`EpochHook::state`]).
    pub optimizer_state: Vec<(String, Tensor)>,
    /// Wall-clock seconds of training so far, across resumes.
    pub wall_seconds: f64,
    /// True after the run's last epoch (`config.epochs`).
    pub last: bool,
}

/// Whether training goes on after an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Train the next epoch.
    Continue,
    /// Stop now: the epochs done so far are the run.
    Stop,
}

/// A finished optimizer step, as hooks see it.
pub struct StepEnd<'a> {
    /// Steps done so far in the run, this one included (1-based; resumed epochs count).
    pub step: usize,
    /// Steps in the whole run.
    pub total: usize,
    /// The parameters after this step.
    pub params: &'a Params,
}

/// Something called after every epoch (and, if it wants, after every step).
pub trait EpochHook {
    /// Sees a finished epoch; an error ends training with that error.
    fn after_epoch(&mut self, end: &EpochEnd<'_>) -> Result<Control>;

    /// Sees each optimizer step once it is applied (a moving average of the weights updates
    /// here); nothing by default.
    fn after_step(&mut self, _end: &StepEnd<'_>) -> Result<()> {
        Ok(())
    }

    /// State to save with the optimizer's in resumable checkpoints, keyed by unique names.
    fn state(&self) -> Vec<(String, Tensor)> {
        vec![]
    }

    /// Restores what [`EpochHook::state`] saved, from the optimizer state of a resumed run.
    fn load_state(&mut self, _state: &HashMap<String, Tensor>) -> Result<()> {
        Ok(())
    }

    /// Called once, after every hook has seen the epoch, when one of them stopped the run
    /// before its last epoch (a checkpointer writes its resumable file here).
    fn on_stop(&mut self, _end: &EpochEnd<'_>) -> Result<()> {
        Ok(())
    }
}

/// Any `FnMut(&EpochRecord) -> bool` is a hook: `false` stops the run.
impl<F: FnMut(&EpochRecord) -> bool> EpochHook for F {
    fn after_epoch(&mut self, end: &EpochEnd<'_>) -> Result<Control> {
        Ok(if self(end.record) { Control::Continue } else { Control::Stop })
    }
}

/// Where an earlier run stopped, read from a resumable checkpoint (`--resume`).
#[derive(Default)]
pub struct ResumeFrom {
    /// Epochs already done.
    pub epoch: usize,
    /// Optimizer state by name.
    pub optimizer_state: HashMap<String, Tensor>,
    /// History so far.
    pub history: Vec<EpochRecord>,
    /// Wall-clock seconds of training so far.
    pub wall_seconds: f64,
}

/// How a `fit` call runs, beside what it trains: where it starts, what it prints, who listens.
#[derive(Default)]
pub struct Session<'h> {
    /// Continue an earlier run instead of starting at epoch 0.
    pub resume: Option<ResumeFrom>,
    /// Print one line per epoch and draw progress bars.
    pub verbose: bool,
    /// Called after each epoch, in order; the run stops when any says [`Control::Stop`] (the
    /// later ones still see that epoch).
    pub hooks: Vec<Box<dyn EpochHook + 'h>>,
}

impl<'h> Session<'h> {
    /// A quiet session from epoch 0 with no hooks.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same session with `hook` added.
    pub fn hook(mut self, hook: impl EpochHook + 'h) -> Self {
        self.hooks.push(Box::new(hook));
        self
    }

    /// The same session, printing progress when `verbose`.
    pub fn verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }

    /// The same session, continuing from `resume` when given.
    pub fn resume(mut self, resume: Option<ResumeFrom>) -> Self {
        self.resume = resume;
        self
    }
}

//! The checkpoint policy of a training run, as an epoch hook: what `train --save PATH` writes.
//!
//! - `PATH.last.safetensors`: parameters and optimizer state after the latest epoch, for
//!   `--resume`; written at most every few seconds (thousands of tiny epochs on a toy problem
//!   would otherwise spend their time writing files), and always after the last epoch and when
//!   the run stops early;
//! - `PATH.history.json`: every epoch's record, beside it;
//! - `PATH.best.safetensors`: the epoch with the best validation accuracy (only with a
//!   validation split);
//! - `PATH`: the final model, after the last epoch.

use super::{history_path, save, sibling, write_atomic, CheckpointMeta};
use crate::train::{Control, EpochEnd, EpochHook};
use crate::Result;
use std::path::PathBuf;
use std::time::Instant;

/// Minimum seconds between two writes of the resumable checkpoint.
const SAVE_EVERY_S: f64 = 5.0;

/// Writes a run's checkpoints after each epoch.
pub struct Checkpointer {
    path: PathBuf,
    meta: CheckpointMeta,
    last_save: Option<Instant>,
    best_val: f64,
}

impl Checkpointer {
    /// Checkpoints to `path` and its siblings, with `meta` as the template (its epoch, metrics,
    /// training configuration and wall time are filled in each epoch). `best_so_far` is the best
    /// validation accuracy of a resumed run's earlier epochs.
    pub fn new(path: impl Into<PathBuf>, meta: CheckpointMeta, best_so_far: Option<f64>) -> Self {
        Checkpointer { path: path.into(), meta, last_save: None, best_val: best_so_far.unwrap_or(f64::NEG_INFINITY) }
    }

    fn meta_at(&self, end: &EpochEnd<'_>) -> CheckpointMeta {
        let mut meta = self.meta.clone();
        meta.epoch = end.record.epoch;
        meta.metrics = Some(crate::train::EpochRecord { step_losses: vec![], ..end.record.clone() });
        meta.train = Some(end.config.clone());
        meta.wall_seconds = Some(end.wall_seconds);
        meta
    }

    fn save_last(&mut self, end: &EpochEnd<'_>, meta: &CheckpointMeta) -> Result<()> {
        save(&sibling(&self.path, "last.safetensors"), meta, end.params, &end.optimizer_state)?;
        let json = serde_json::to_string_pretty(end.history).expect("history serializes");
        write_atomic(&history_path(&self.path), json.as_bytes())?;
        self.last_save = Some(Instant::now());
        Ok(())
    }
}

impl EpochHook for Checkpointer {
    fn after_epoch(&mut self, end: &EpochEnd<'_>) -> Result<Control> {
        let meta = self.meta_at(end);
        let due = self.last_save.is_none_or(|t| t.elapsed().as_secs_f64() > SAVE_EVERY_S);
        if end.last || due {
            self.save_last(end, &meta)?;
        }
        if let Some(v) = end.record.val_acc {
            if v > self.best_val {
                self.best_val = v;
                save(&sibling(&self.path, "best.safetensors"), &meta, end.params, &[])?;
            }
        }
        if end.last {
            save(&self.path, &meta, end.params, &[])?;
        }
        Ok(Control::Continue)
    }

    fn on_stop(&mut self, end: &EpochEnd<'_>) -> Result<()> {
        let meta = self.meta_at(end);
        self.save_last(end, &meta)
    }
}

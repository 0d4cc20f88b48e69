//! The configuration of a training run and the record of each epoch: both saved in checkpoints.

use crate::data::augment::Augment;
use crate::loss::{LossKind, RegKind};
use crate::optim::{OptimizerConfig, ParamGroup, Schedule};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Minibatch size, or the whole training set at once (full-batch gradient descent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BatchSize {
    /// All training samples in one batch.
    Full,
    /// This many samples per batch.
    Mini(usize),
}

impl BatchSize {
    /// Parses `full` or a positive integer.
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        if s == "full" {
            return Ok(BatchSize::Full);
        }
        match s.parse::<usize>() {
            Ok(0) => Err("`batch_size` must be at least 1 (or 'full')".into()),
            Ok(n) => Ok(BatchSize::Mini(n)),
            Err(_) => Err(format!("`batch_size` '{s}': expected a positive integer or 'full'")),
        }
    }

    /// The number of samples per batch for a set of `n`.
    pub fn resolve(self, n: usize) -> usize {
        match self {
            BatchSize::Full => n.max(1),
            BatchSize::Mini(b) => b.min(n.max(1)),
        }
    }
}

/// Hyper-parameters of a training run; saved in checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Data loss.
    pub loss: LossKind,
    /// Regularization strength λ.
    pub reg: f64,
    /// Regularizer.
    pub reg_kind: RegKind,
    /// Optimizer and base learning rate.
    pub optimizer: OptimizerConfig,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Number of epochs.
    pub epochs: usize,
    /// Batch size.
    pub batch_size: BatchSize,
    /// Seed for initialization, shuffling and augmentation.
    pub seed: u64,
    /// Augmentation of training batches.
    pub augment: Augment,
    /// Label smoothing ε of the softmax loss (0: none).
    #[serde(default)]
    pub label_smoothing: f64,
    /// Parameters with their own learning rate, weight decay or epochs; each joins the first
    /// group whose pattern matches its name, the rest train with the base settings.
    #[serde(default)]
    pub groups: Vec<ParamGroup>,
    /// Leave out each epoch's last batch when it is smaller than the others.
    #[serde(default)]
    pub drop_last: bool,
    /// A moving average of the weights that they jump back to every few steps.
    #[serde(default)]
    pub lookahead: Option<super::LookaheadConfig>,
}

impl TrainConfig {
    /// Checks ranges: a clear error for each bad value.
    pub fn validate(&self) -> Result<()> {
        let lr = self.optimizer.lr;
        if !lr.is_finite() || lr <= 0.0 {
            return Err(Error::invalid("`lr`", format!("{lr}: the learning rate must be a positive number")));
        }
        if !self.reg.is_finite() || self.reg < 0.0 {
            return Err(Error::invalid("`reg`", format!("{}: must be 0 or positive", self.reg)));
        }
        if self.epochs == 0 {
            return Err(Error::invalid("`epochs`", "must be at least 1"));
        }
        if self.batch_size == BatchSize::Mini(0) {
            return Err(Error::invalid("`batch_size`", "must be at least 1 (or 'full')"));
        }
        let ls = self.label_smoothing;
        if !(0.0..1.0).contains(&ls) {
            return Err(Error::invalid("`label_smoothing`", format!("{ls}: must be in [0, 1)")));
        }
        if ls > 0.0 && self.loss != LossKind::Softmax {
            return Err(Error::invalid("`label_smoothing`", "applies to the softmax loss only"));
        }
        for g in &self.groups {
            if !(g.lr_scale.is_finite()
                && g.lr_scale >= 0.0
                && g.weight_decay_scale.is_finite()
                && g.weight_decay_scale >= 0.0)
            {
                return Err(Error::invalid("parameter group", format!("{}: scales must be 0 or positive", g.names)));
            }
        }
        if self.lookahead.is_some_and(|l| l.every == 0 || !(0.0..=1.0).contains(&l.base)) {
            return Err(Error::invalid("lookahead", "every must be at least 1 and base in [0, 1]"));
        }
        let wd = self.optimizer.weight_decay;
        if !wd.is_finite() || wd < 0.0 {
            return Err(Error::invalid("`weight_decay`", format!("{wd}: must be 0 or positive")));
        }
        Ok(())
    }
}

/// One epoch of history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch number, 1-based.
    pub epoch: usize,
    /// Mean training loss (data loss plus regularization) over the epoch.
    pub train_loss: f64,
    /// Training accuracy over the epoch (on augmented batches, in training mode).
    pub train_acc: f64,
    /// Validation accuracy after the epoch, when a validation split exists.
    pub val_acc: Option<f64>,
    /// Learning rate at the end of the epoch.
    pub lr: f64,
    /// Wall-clock seconds of the epoch's training steps.
    pub seconds: f64,
    /// Training throughput.
    pub images_per_s: f64,
    /// Loss after each logged step (for optimizer comparisons and curves).
    #[serde(default)]
    pub step_losses: Vec<f32>,
}

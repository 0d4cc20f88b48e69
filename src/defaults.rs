//! Default hyper-parameters for each model and data set, in one table.
//!
//! Each figure in the README's results table comes from these defaults: a user gets it without
//! tuning. They were tuned on validation splits carved from the training data only (for CIFAR-10,
//! from batches 1-4; batch 5 is never used for tuning).

use crate::data::augment::Augment;
use crate::data::DatasetName;
use crate::loss::{LossKind, RegKind};
use crate::models::ModelKind;
use crate::optim::{OptimizerConfig, OptimizerKind, Schedule};
use crate::train::{BatchSize, TrainConfig};

/// The default training configuration for `model` with `loss` on `dataset`.
pub fn train_config(dataset: DatasetName, model: ModelKind, loss: LossKind) -> TrainConfig {
    use DatasetName::*;
    let toy = dataset.toy().is_some();
    let (optimizer, lr, epochs, batch, reg) = match (model, dataset) {
        (ModelKind::Linear, _) if toy => (OptimizerKind::Momentum, 0.1, 200, BatchSize::Full, 1e-3),
        (ModelKind::Linear, Cifar10) => match loss {
            LossKind::Softmax => (
                OptimizerKind::Momentum,
                0.002,
                20,
                BatchSize::Mini(128),
                5e-4,
            ),
            LossKind::Svm => (
                OptimizerKind::Momentum,
                0.0005,
                20,
                BatchSize::Mini(128),
                5e-4,
            ),
        },
        (ModelKind::Linear, Shapes) => (
            OptimizerKind::Momentum,
            0.002,
            10,
            BatchSize::Mini(128),
            1e-4,
        ),
        (ModelKind::Linear, _) => (
            OptimizerKind::Momentum,
            0.005,
            10,
            BatchSize::Mini(128),
            1e-4,
        ),
    };
    TrainConfig {
        loss,
        reg,
        reg_kind: RegKind::L2,
        optimizer: OptimizerConfig::new(optimizer, lr),
        schedule: Schedule::Cosine { warmup: 0 },
        epochs,
        batch_size: batch,
        seed: 0,
        // Mirror images of natural photos are as likely as the originals; not so for digits.
        augment: Augment { hflip: matches!(dataset, Cifar10), crop_pad: 0 },
    }
}

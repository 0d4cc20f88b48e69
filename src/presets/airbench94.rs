//! The airbench94 recipe (`train --recipe airbench94`): Keller Jordan's CIFAR-10 recipe ("94% on CIFAR-10 in 3.29 seconds on a single
//! GPU", arXiv 2404.00498; code at github.com/KellerJordan/cifar10-airbench, `legacy/airbench94.py`),
//! 94.01% mean test accuracy over 1,000 runs of 9.9 epochs there. Written here from the paper's
//! description on kindling's own layers, optimizer and loop:
//!
//! - network: a fixed 2×2 whitening convolution (3 → 24 channels, [`Whitening`]) and GELU, then
//!   three groups `conv3×3 → max-pool 2 → batch norm → GELU → conv3×3 → batch norm → GELU` of
//!   widths 64, 256, 256, max-pool 3, a linear head without bias scaled by 1/9. Convolutions without
//!   bias, identity (dirac) initialized; batch norm with a fixed scale, ε = 1e-12 and running
//!   averages that keep 0.6 of the old value per step (PyTorch momentum 0.4). Every piece is a
//!   [`CnnExtras`] option saved in the checkpoint, set in [`network`].
//! - training: SGD with Nesterov momentum 0.85, batches of 1,024 (the last, smaller one dropped),
//!   label smoothing 0.2, learning rate 11.5 per 1,024 examples of summed loss (1.5 on kindling's
//!   mean loss) with weight decay 0.0153 per 1,024 examples, batch-norm shifts at 64× the rate,
//!   the whitening bias trained for 3 epochs only, a triangular schedule (0.2× → 1× at 23% of the
//!   steps → 0.07×), [`Lookahead`](crate::train::Lookahead) every 5 steps, alternating flip and
//!   random 2-pixel translation with reflect padding. 10 epochs here (the paper's 9.9, rounded up).
//! - evaluation: six-view test-time augmentation ([`Tta::FlipTranslate`]).

use crate::data::augment::Augment;
use crate::loss::{LossKind, RegKind};
use crate::models::{
    Activation, Architecture, CnnConfig, CnnExtras, CnnLayers, ConvInit, NormOptions, Pool, Whitening,
};
use crate::optim::{OptimizerConfig, OptimizerKind, ParamGroup, Schedule};
use crate::train::{BatchSize, LookaheadConfig, TrainConfig};
use crate::tta::Tta;

/// airbench94's momentum and batch size, from which its rates per 1,024 examples convert.
const MOMENTUM: f64 = 0.85;
const BATCH: usize = 1024;

/// The test-time augmentation the recipe is scored with: six views.
pub const TTA: Tta = Tta::FlipTranslate;

/// The network: whitening, three stages of two 3×3 convolutions (widths 64, 256, 256; pool after
/// each stage's first), GELU, a final 3×3 max pool and a bias-free head scaled by 1/9.
pub fn network() -> Architecture {
    Architecture::Cnn(CnnLayers {
        blocks: CnnConfig::stages(&[64, 256, 256], 2, Pool::Max),
        batch_norm: true,
        activation: Activation::GeluErf,
        fc: vec![],
        dropout: 0.0,
        extras: CnnExtras {
            whiten: Some(Whitening { kernel: 2, eps: 5e-4, images: 5000 }),
            conv_bias: false,
            conv_init: ConvInit::Dirac,
            norm: NormOptions { eps: 1e-12, momentum: 0.4, scale: false },
            pool_before_norm: true,
            head_pool: 3,
            head_bias: false,
            head_scale: 1.0 / 9.0,
            head_std: None,
        },
    })
}

/// The training: Nesterov SGD at the paper's rates converted to kindling's mean loss, parameter
/// groups, the triangular schedule, lookahead, alternating flip and 2-pixel translations.
pub fn training() -> TrainConfig {
    // The paper's rates are per 1,024 examples of a summed loss, with Nesterov momentum μ:
    // lr = 11.5 / (1024·(1 + 1/(1-μ))) per example, times the batch on a mean loss.
    let kilostep = 1024.0 * (1.0 + 1.0 / (1.0 - MOMENTUM));
    let lr = 11.5 / kilostep * BATCH as f64;
    // Weight decay: each step shrinks the weights by 0.0153·1024/kilostep (times the schedule);
    // kindling's SGD shrinks them by lr·weight_decay.
    let decay_per_step = 0.0153 * BATCH as f64 / kilostep;
    let bias_scaler = 64.0;
    let mut optimizer = OptimizerConfig::new(OptimizerKind::Nesterov, lr);
    optimizer.momentum = MOMENTUM;
    optimizer.weight_decay = decay_per_step / lr;
    TrainConfig {
        loss: LossKind::Softmax,
        reg: 0.0,
        reg_kind: RegKind::L2,
        optimizer,
        schedule: Schedule::Triangle { start: 0.2, peak: 0.23, end: 0.07 },
        epochs: 10,
        batch_size: BatchSize::Mini(BATCH),
        seed: 0,
        augment: Augment { hflip: true, crop_pad: 2, alternate_flip: true, reflect: true },
        label_smoothing: 0.2,
        groups: vec![
            // The same decay per step at 64× the rate.
            ParamGroup::scaled("norms.*.bias", bias_scaler, 1.0 / bias_scaler),
            ParamGroup { epochs: Some(3), ..ParamGroup::scaled("whiten.bias", 1.0, 1.0) },
        ],
        drop_last: true,
        lookahead: Some(LookaheadConfig::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The network's shapes and cost are the paper's: 24 whitened channels at 31×31, then
    /// 64@15, 256@7, 256@3, pooled to 1×1, and about 118 M multiply-adds per image.
    #[test]
    fn airbench94_network() {
        let crate::models::ModelConfig::Cnn(c) = network().config([3, 32, 32], 10) else { panic!() };
        assert_eq!(c.stem_shape().unwrap(), [24, 31, 31]);
        let shapes = c.shapes().unwrap();
        assert_eq!(shapes.last(), Some(&[256, 3, 3]));
        assert_eq!(shapes[2], [64, 15, 15]);
        assert_eq!(c.head_input().unwrap(), [256, 1, 1]);
        let macs = c.macs().unwrap();
        assert!((117_000_000..120_000_000).contains(&macs), "{macs} multiply-adds");
        let t = training();
        assert!((t.optimizer.lr - 1.5).abs() < 1e-9);
        assert!((t.optimizer.lr * t.optimizer.weight_decay - 0.0153 * 1024.0 / 7_850.666_666).abs() < 1e-9);
        t.validate().unwrap();
    }
}

//! airbench94's Muon variant (`train --recipe airbench94-muon`): the same network trained for 8
//! epochs instead of 10, with [`Muon`](crate::optim::Muon) on the convolution filters (Keller
//! Jordan's `airbench94_muon.py` in github.com/KellerJordan/cifar10-airbench: 94.01% mean test
//! accuracy over 200 runs there, with 0.81× airbench94's FLOPs). Written here from that
//! description on kindling's layers, optimizers and loop:
//!
//! - network: [`airbench94::network`], with the head's weights
//!   started at standard deviation 1 and the logits divided by 256 (the features' width) instead
//!   of 9.
//! - training: batches of 2,000 (the last, smaller one dropped), 8 epochs, label smoothing 0.2,
//!   every rate falling linearly from its start to 0 over the run (`triangle:1:0:0`), no
//!   lookahead. The convolution filters: Muon, rate 0.24, Nesterov momentum 0.6, each filter
//!   bank kept at Frobenius norm `sqrt(out)`, no weight decay. The batch-norm shifts and the
//!   whitening bias: Nesterov SGD (momentum 0.85), rate 0.053 per example of summed loss; the
//!   head: rate 0.67; both with weight decay `2e-6 · 2000` per step (divided by their rate, as
//!   PyTorch's SGD applies it). On kindling's mean loss the SGD rates are 2,000× those.
//!   The whitening bias trains for the first 3 epochs only (the original's rate falls to 0 over
//!   those 3 epochs; here it follows the common schedule and then stops, as in
//!   [`airbench94`]).
//! - evaluation: six-view test-time augmentation, as airbench94.

use super::airbench94;
use crate::models::Architecture;
use crate::optim::{OptimizerConfig, OptimizerKind, ParamGroup, Schedule};
use crate::train::{BatchSize, TrainConfig};
use crate::tta::Tta;

/// Examples per step.
const BATCH: usize = 2000;
/// The original's rates per example of summed loss: batch-norm shifts and whitening bias, head.
const BIAS_LR: f64 = 0.053;
const HEAD_LR: f64 = 0.67;
/// Muon's rate on the filters (scale-free: the update is orthogonalized).
const FILTER_LR: f64 = 0.24;

/// The test-time augmentation the recipe is scored with: six views.
pub const TTA: Tta = Tta::FlipTranslate;

/// airbench94's network with the Muon variant's head: weights at standard deviation 1, logits
/// divided by 256.
pub fn network() -> Architecture {
    let mut net = airbench94::network();
    let Architecture::Cnn(layers) = &mut net else { unreachable!("airbench94 is a CNN") };
    layers.extras.head_scale = 1.0 / 256.0;
    layers.extras.head_std = Some(1.0);
    net
}

/// The training: Muon on the filters, Nesterov SGD on the rest, rates falling linearly to 0.
pub fn training() -> TrainConfig {
    // The base optimizer steps the batch-norm shifts and the whitening bias; the rates convert from
    // a summed loss to kindling's mean loss by the batch size.
    let lr = BIAS_LR * BATCH as f64;
    // Weight decay as PyTorch's SGD applies it, `lr · wd` = 2e-6 · 2000 per step for every group.
    let decay_per_step = 2e-6 * BATCH as f64;
    let mut optimizer = OptimizerConfig::new(OptimizerKind::Nesterov, lr);
    optimizer.momentum = 0.85;
    optimizer.weight_decay = decay_per_step / lr;
    let filters = ParamGroup {
        optimizer: Some(OptimizerKind::Muon),
        momentum: Some(0.6),
        ..ParamGroup::scaled("features.*.weight", FILTER_LR / lr, 0.0)
    };
    let head = ParamGroup::scaled("classifier.*", HEAD_LR / BIAS_LR, BIAS_LR / HEAD_LR);
    TrainConfig {
        epochs: 8,
        batch_size: BatchSize::Mini(BATCH),
        optimizer,
        schedule: Schedule::Triangle { start: 1.0, peak: 0.0, end: 0.0 },
        groups: vec![filters, head, ParamGroup { epochs: Some(3), ..ParamGroup::scaled("whiten.bias", 1.0, 1.0) }],
        lookahead: None,
        ..airbench94::training()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DatasetName;
    use crate::models::{ModelConfig, Network};
    use candle_core::Device;

    /// The parameters land in the intended groups at the intended rates: Muon for the six filter
    /// banks at 0.24, the head at 0.67·2000, the shifts and whitening bias at 0.053·2000, every
    /// SGD group decaying its weights by 0.004 per step; the head starts at standard deviation 1.
    #[test]
    fn groups_rates_and_head() {
        let t = training();
        t.validate().unwrap();
        let run = crate::presets::Recipe::Airbench94Muon.run(DatasetName::Cifar10).unwrap();
        assert_eq!(run.train, t);
        let net = Network::new(&run.model_config([3, 32, 32], 10), 0, &Device::Cpu).unwrap();
        let ModelConfig::Cnn(c) = &net.config else { panic!() };
        assert_eq!(c.macs().unwrap(), {
            let ModelConfig::Cnn(a) = airbench94::network().config([3, 32, 32], 10) else { panic!() };
            a.macs().unwrap()
        });
        let names: Vec<String> = net.trainable().into_iter().map(|p| p.name).collect();
        let group_of = |name: &str| t.groups.iter().position(|g| g.matches(name));
        let filters: Vec<&String> = names.iter().filter(|n| group_of(n) == Some(0)).collect();
        assert_eq!(filters.len(), 6, "{names:?}");
        assert_eq!(names.iter().filter(|n| group_of(n) == Some(1)).count(), 1, "the head: {names:?}");
        assert_eq!(names.iter().filter(|n| group_of(n) == Some(2)).count(), 1, "whiten.bias: {names:?}");
        // The rest are the six batch-norm shifts (and their running statistics, which no gradient
        // reaches).
        let rest: Vec<&String> = names.iter().filter(|n| group_of(n).is_none() && !n.contains(".running_")).collect();
        assert!(rest.len() == 6 && rest.iter().all(|n| n.starts_with("norms.") && n.ends_with(".bias")), "{rest:?}");
        let rate = |g: usize| t.optimizer.lr * t.groups[g].lr_scale;
        assert!((rate(0) - 0.24).abs() < 1e-12);
        assert!((rate(1) - 0.67 * 2000.0).abs() < 1e-9);
        assert!((t.optimizer.lr - 0.053 * 2000.0).abs() < 1e-9);
        let decay = |g: usize| rate(g) * t.optimizer.weight_decay * t.groups[g].weight_decay_scale;
        assert!((decay(1) - 0.004).abs() < 1e-12 && (decay(2) - 0.004).abs() < 1e-12 && decay(0) == 0.0);
        let head = net.params.get("classifier.0.weight").unwrap().as_tensor().flatten_all().unwrap();
        let std = head.var(0).unwrap().sqrt().unwrap().to_scalar::<f32>().unwrap();
        assert!((std - 1.0).abs() < 1e-4, "head std {std}");
        // The schedule falls linearly from the base rate to 0.
        assert_eq!(t.schedule.lr(1.0, 0, 25, 200), 1.0);
        assert!((t.schedule.lr(1.0, 150, 25, 200) - 0.25).abs() < 1e-12);
    }
}

//! Helpers for the 2-D toy experiments: quick training runs and label noise.

use crate::data::{Dataset, Normalization};
use crate::models::{Architecture, Model};
use crate::preprocess::Preprocess;
use crate::train::{self, Session, TrainConfig, TrainData};
use crate::Result;
use candle_core::Device;
use rand::{Rng, SeedableRng};

/// Trains a `model` on `ds` in memory (no checkpoint) and returns it with its final training
/// accuracy (in evaluation mode).
pub fn train_toy(
    ds: &Dataset,
    norm: &Normalization,
    model: &Architecture,
    cfg: &TrainConfig,
    device: &Device,
) -> Result<(Model, f64)> {
    let pre = Preprocess { features: None, normalization: norm.clone() };
    let data = TrainData::from_inputs(ds.clone(), None, pre);
    let net = data.network(model, cfg.seed, device)?;
    train::fit(&net, &data, cfg, device, Session::new())?;
    let acc = train::evaluate(&net.model, ds, norm, device)?.accuracy();
    Ok((net.model, acc))
}

/// A copy of `ds` with a fraction `p` of labels replaced by random other classes.
pub fn with_label_noise(ds: &Dataset, p: f64, seed: u64) -> Dataset {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x0153);
    let mut out = ds.clone();
    let k = ds.num_classes() as u8;
    for l in out.labels.iter_mut() {
        if rng.random_bool(p) {
            *l = (*l + rng.random_range(1..k)) % k;
        }
    }
    out
}

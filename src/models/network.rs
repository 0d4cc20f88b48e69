//! A model together with its named parameters: the one place that builds both.
//!
//! Training needs the parameters (to step them), evaluation the model, checkpoints the
//! configuration to rebuild them from; a [`Network`] keeps the three together.

use super::{Model, ModelConfig};
use crate::params::Params;
use crate::Result;
use candle_core::{DType, Device};

/// A built model, its parameters and the configuration it was built from.
#[derive(Debug, Clone)]
pub struct Network {
    /// The model, ready to run.
    pub model: Model,
    /// Its trainable parameters (and batch-norm statistics), by name.
    pub params: Params,
    /// What it was built from.
    pub config: ModelConfig,
}

impl Network {
    /// Builds `config` on `device` in f32, with parameters drawn from `seed`.
    pub fn new(config: &ModelConfig, seed: u64, device: &Device) -> Result<Self> {
        let params = Params::new(seed);
        let model = Model::new(config, params.var_builder(DType::F32, device))?;
        if let ModelConfig::Cnn(c) = config {
            super::cnn::dirac_init(c, &params)?;
        }
        Ok(Network { model, params, config: config.clone() })
    }

    /// The parameters an optimizer steps, by name: all of them but the fixed ones
    /// ([`ModelConfig::fixed_parameters`]).
    pub fn trainable(&self) -> Vec<crate::optim::NamedVar> {
        let fixed = self.config.fixed_parameters();
        self.params
            .named_vars()
            .into_iter()
            .filter(|(name, _)| !fixed.contains(name))
            .map(|(name, var)| crate::optim::NamedVar { name, var })
            .collect()
    }

    /// Sets what a new network computes from its training data before the first step: the
    /// whitening filters of a CNN with [`Whitening`](super::Whitening), from `train` normalized by
    /// `norm`. Nothing for other models.
    pub fn init_from_data(&self, train: &crate::data::Dataset, norm: &crate::data::Normalization) -> Result<()> {
        let ModelConfig::Cnn(c) = &self.config else { return Ok(()) };
        let Some(wh) = c.extras.whiten else { return Ok(()) };
        let var = self.params.get("whiten.weight").expect("a CNN with whitening has whiten.weight");
        var.set(&wh.filters(train, norm, var.device())?)?;
        Ok(())
    }
}

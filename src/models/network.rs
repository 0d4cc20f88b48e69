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
    /// Every layer but the last is frozen ([`Network::freeze_features`]): a linear probe.
    pub frozen_features: bool,
}

impl Network {
    /// Builds `config` on `device` in f32, with parameters drawn from `seed`.
    pub fn new(config: &ModelConfig, seed: u64, device: &Device) -> Result<Self> {
        let params = Params::new(seed);
        let model = Model::new(config, params.var_builder(DType::F32, device))?;
        if let ModelConfig::Cnn(c) = config {
            super::cnn::dirac_init(c, &params)?;
            super::cnn::head_std_init(c, &params)?;
        }
        Ok(Network { model, params, config: config.clone(), frozen_features: false })
    }

    /// A loaded model and its parameters, as a network.
    pub fn loaded(model: Model, params: Params, config: ModelConfig) -> Self {
        Network { model, params, config, frozen_features: false }
    }

    /// A network for `classes` classes that starts from `pretrained`: every parameter copied from
    /// it but the last layer's, which is new (drawn from `seed`) unless `keep_head` (the same
    /// classes: the whole network is copied).
    pub fn transfer(pretrained: &Network, classes: usize, keep_head: bool, seed: u64, device: &Device) -> Result<Self> {
        let config = pretrained.config.with_classes(classes);
        let keep_head = keep_head && classes == pretrained.config.classes();
        let net = Network::new(&config, seed, device)?;
        let head = format!("{}.", config.head());
        for (name, var) in net.params.named_vars() {
            if !keep_head && name.starts_with(&head) {
                continue;
            }
            let from = pretrained.params.get(&name).expect("the same architecture has the same parameters");
            var.set(&from.as_tensor().to_device(device)?)?;
        }
        Ok(net)
    }

    /// Freezes every layer but the last (a linear probe): only the last layer's parameters are
    /// [`trainable`](Self::trainable), and the frozen layers run as in evaluation. An error for the
    /// linear classifier, which has no layer but the last.
    pub fn freeze_features(&mut self) -> Result<()> {
        if !self.model.freeze_features() {
            return Err(crate::Error::invalid(
                "`freeze`",
                "the linear classifier is a single layer: there are no features to freeze (train it whole)",
            ));
        }
        self.frozen_features = true;
        Ok(())
    }

    /// The parameters an optimizer steps, by name: all of them but the fixed ones
    /// ([`ModelConfig::fixed_parameters`]), or only the last layer's when the features are frozen.
    pub fn trainable(&self) -> Vec<crate::optim::NamedVar> {
        let fixed = self.config.fixed_parameters();
        let head = format!("{}.", self.config.head());
        self.params
            .named_vars()
            .into_iter()
            .filter(|(name, _)| !fixed.contains(name) && (!self.frozen_features || name.starts_with(&head)))
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

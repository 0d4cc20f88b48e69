//! The models: one file each, one line each in [`ModelConfig`] and [`Model`].
//!
//! Every model maps a `[B, C, H, W]` batch to `[B, classes]` logits and implements
//! [`ModuleT`], so the one training loop and the one evaluation serve them all.

pub mod knn;
pub mod linear;

pub use linear::{LinearClassifier, LinearConfig};

use candle_core::{ModuleT, Result, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

/// Which model, with its configuration; saved in every checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ModelConfig {
    /// [`LinearClassifier`].
    Linear(LinearConfig),
}

/// The model kinds, as chosen on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// `f(x) = Wx + b`.
    Linear,
}

impl ModelConfig {
    /// The kind of this configuration.
    pub fn kind(&self) -> ModelKind {
        match self {
            ModelConfig::Linear(_) => ModelKind::Linear,
        }
    }

    /// The input shape `[C, H, W]` the model expects.
    pub fn input_shape(&self) -> [usize; 3] {
        match self {
            ModelConfig::Linear(c) => c.input_shape,
        }
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        match self {
            ModelConfig::Linear(c) => c.classes,
        }
    }
}

/// A built model.
#[derive(Debug, Clone)]
pub enum Model {
    /// [`LinearClassifier`].
    Linear(LinearClassifier),
}

impl Model {
    /// Builds the model described by `cfg`, taking (or creating) its parameters from `vb`.
    pub fn new(cfg: &ModelConfig, vb: VarBuilder) -> Result<Self> {
        Ok(match cfg {
            ModelConfig::Linear(c) => Model::Linear(LinearClassifier::new(c, vb)?),
        })
    }
}

impl ModuleT for Model {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        match self {
            Model::Linear(m) => m.forward_t(xs, train),
        }
    }
}

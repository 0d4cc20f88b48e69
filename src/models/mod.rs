//! The models: one file each, one line each in [`ModelConfig`] and [`Model`].
//!
//! Every model maps a `[B, C, H, W]` batch to `[B, classes]` logits and implements
//! [`ModuleT`], so the one training loop and the one evaluation serve them all.

pub mod activation;
pub mod batch_norm;
pub mod cnn;
pub mod knn;
pub mod linear;
pub mod mlp;
pub mod network;
pub mod whiten;

pub use activation::Activation;
pub use batch_norm::{BatchNorm, NormOptions};
pub use cnn::{Cnn, CnnConfig, CnnExtras, CnnLayers, ConvBlock, ConvInit, Pool};
pub use linear::{LinearClassifier, LinearConfig};
pub use mlp::{InitKind, Mlp, MlpConfig, MlpLayers};
pub use network::Network;
pub use whiten::Whitening;

use candle_core::{ModuleT, Result, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

/// Which model, with its configuration; saved in every checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ModelConfig {
    /// [`LinearClassifier`].
    Linear(LinearConfig),
    /// [`Mlp`].
    Mlp(MlpConfig),
    /// [`Cnn`].
    Cnn(CnnConfig),
}

/// The model kinds, as chosen on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// `f(x) = Wx + b`.
    Linear,
    /// Multi-layer perceptron.
    Mlp,
    /// Convolutional network: VGG-style stages of 3×3 convolutions with batch norm by default
    /// (AlexNet's overlapping pooling, dropout and fully connected head as options).
    Cnn,
}

impl ModelKind {
    /// The name used on the command line and in file names.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Linear => "linear",
            ModelKind::Mlp => "mlp",
            ModelKind::Cnn => "cnn",
        }
    }
}

/// A model before the data decide its input shape and class count: what a run description holds
/// ([`crate::presets::Run`]), and what [`Architecture::config`] completes into a [`ModelConfig`].
#[derive(Debug, Clone, PartialEq)]
pub enum Architecture {
    /// [`LinearClassifier`]: nothing to choose.
    Linear,
    /// [`Mlp`].
    Mlp(MlpLayers),
    /// [`Cnn`].
    Cnn(CnnLayers),
}

impl Architecture {
    /// The configuration for inputs of `shape` and `classes` classes.
    pub fn config(&self, shape: [usize; 3], classes: usize) -> ModelConfig {
        match self {
            Architecture::Linear => ModelConfig::Linear(LinearConfig { input_shape: shape, classes }),
            Architecture::Mlp(l) => ModelConfig::Mlp(l.config(shape, classes)),
            Architecture::Cnn(l) => ModelConfig::Cnn(l.config(shape, classes)),
        }
    }

    /// The architecture of `cfg` (its input shape and class count dropped).
    pub fn of(cfg: &ModelConfig) -> Self {
        match cfg {
            ModelConfig::Linear(_) => Architecture::Linear,
            ModelConfig::Mlp(c) => Architecture::Mlp(MlpLayers::of(c)),
            ModelConfig::Cnn(c) => Architecture::Cnn(CnnLayers::of(c)),
        }
    }

    /// Its kind.
    pub fn kind(&self) -> ModelKind {
        match self {
            Architecture::Linear => ModelKind::Linear,
            Architecture::Mlp(_) => ModelKind::Mlp,
            Architecture::Cnn(_) => ModelKind::Cnn,
        }
    }
}

impl ModelConfig {
    /// The kind of this configuration.
    pub fn kind(&self) -> ModelKind {
        match self {
            ModelConfig::Linear(_) => ModelKind::Linear,
            ModelConfig::Mlp(_) => ModelKind::Mlp,
            ModelConfig::Cnn(_) => ModelKind::Cnn,
        }
    }

    /// The input shape `[C, H, W]` the model expects.
    pub fn input_shape(&self) -> [usize; 3] {
        match self {
            ModelConfig::Linear(c) => c.input_shape,
            ModelConfig::Mlp(c) => c.input_shape,
            ModelConfig::Cnn(c) => c.input_shape,
        }
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        match self {
            ModelConfig::Linear(c) => c.classes,
            ModelConfig::Mlp(c) => c.classes,
            ModelConfig::Cnn(c) => c.classes,
        }
    }

    /// Parameters that no optimizer steps: the whitening convolution's filters, computed from the
    /// data ([`Network::init_from_data`]) and fixed.
    pub fn fixed_parameters(&self) -> Vec<String> {
        match self {
            ModelConfig::Cnn(c) if c.extras.whiten.is_some() => vec!["whiten.weight".to_string()],
            _ => vec![],
        }
    }

    /// Multiply-accumulate operations of one forward pass of one sample (the layers' products;
    /// activations, pooling and normalization are not counted).
    pub fn macs(&self) -> crate::Result<usize> {
        Ok(match self {
            ModelConfig::Linear(c) => c.input_shape.iter().product::<usize>() * c.classes,
            ModelConfig::Mlp(c) => {
                let mut fan_in: usize = c.input_shape.iter().product();
                let mut total = 0;
                for &w in &c.hidden {
                    total += fan_in * w * c.activation.pieces();
                    fan_in = w;
                }
                total + fan_in * c.classes
            }
            ModelConfig::Cnn(c) => c.macs()?,
        })
    }
}

/// A built model.
#[derive(Debug, Clone)]
pub enum Model {
    /// [`LinearClassifier`].
    Linear(LinearClassifier),
    /// [`Mlp`].
    Mlp(Mlp),
    /// [`Cnn`].
    Cnn(Cnn),
}

impl Model {
    /// Builds the model described by `cfg`, taking (or creating) its parameters from `vb`.
    pub fn new(cfg: &ModelConfig, vb: VarBuilder) -> Result<Self> {
        Ok(match cfg {
            ModelConfig::Linear(c) => Model::Linear(LinearClassifier::new(c, vb)?),
            ModelConfig::Mlp(c) => Model::Mlp(Mlp::new(c, vb)?),
            ModelConfig::Cnn(c) => Model::Cnn(Cnn::new(c, vb)?),
        })
    }

    /// The weights of the first layer, `[units, inputs...]`: the linear templates, the MLP's
    /// first-layer weights, the CNN's first filters.
    pub fn first_layer_weights(&self) -> &Tensor {
        match self {
            Model::Linear(m) => m.weight(),
            Model::Mlp(m) => m.first_layer(),
            Model::Cnn(m) => m.first_filters(),
        }
    }
}

impl ModuleT for Model {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        match self {
            Model::Linear(m) => m.forward_t(xs, train),
            Model::Mlp(m) => m.forward_t(xs, train),
            Model::Cnn(m) => m.forward_t(xs, train),
        }
    }
}

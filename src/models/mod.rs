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

    /// The same model for `classes` classes: only the last layer changes shape.
    pub fn with_classes(&self, classes: usize) -> ModelConfig {
        let mut c = self.clone();
        match &mut c {
            ModelConfig::Linear(l) => l.classes = classes,
            ModelConfig::Mlp(m) => m.classes = classes,
            ModelConfig::Cnn(n) => n.classes = classes,
        }
        c
    }

    /// The name prefix of the last layer's parameters (the head a fine-tuned network replaces):
    /// `fc` for the linear classifier, `layers.{last}` for an MLP, `classifier.{last}` for a CNN.
    pub fn head(&self) -> String {
        match self {
            ModelConfig::Linear(_) => "fc".to_string(),
            ModelConfig::Mlp(m) => format!("layers.{}", m.hidden.len()),
            ModelConfig::Cnn(c) => format!("classifier.{}", c.fc.len()),
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

    /// The same model, sharing its weights, but recording no autograd graph: what evaluation and
    /// inference run. A model built from trainable variables makes candle keep every intermediate
    /// tensor of a forward pass alive until the output is dropped (for the backward pass that
    /// inference never takes); six test-time views of a 500-image batch through the airbench94
    /// network then held about 3.8 GB at once. The copy is cheap: its tensors share their storage
    /// with this model's, so a later training step is seen by both.
    pub fn detached(&self) -> Model {
        match self {
            Model::Linear(m) => Model::Linear(m.detached()),
            Model::Mlp(m) => Model::Mlp(m.detached()),
            Model::Cnn(m) => Model::Cnn(m.detached()),
        }
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

    /// Freezes every layer but the last ([`Mlp::freeze_features`], [`Cnn::freeze_features`]);
    /// `false` for the linear classifier, which is all last layer.
    pub fn freeze_features(&mut self) -> bool {
        match self {
            Model::Linear(_) => false,
            Model::Mlp(m) => {
                m.freeze_features();
                true
            }
            Model::Cnn(c) => {
                c.freeze_features();
                true
            }
        }
    }
}

/// `l` with its tensors detached from any autograd graph (see [`Model::detached`]).
pub(crate) fn detached_linear(l: &candle_nn::Linear) -> candle_nn::Linear {
    candle_nn::Linear::new(l.weight().detach(), l.bias().map(Tensor::detach))
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

//! Multi-layer perceptron: any depth and widths, any [`Activation`], optional batch norm and
//! dropout between layers.
//!
//! Parameters (readable from PyTorch): `layers.{i}.weight` `[out, in]` and `layers.{i}.bias` for
//! the i-th linear layer (the last one is the classifier), and `norms.{i}.{weight,bias,
//! running_mean,running_var}` for the batch norm after hidden layer i. With Maxout, hidden layer
//! i has `k × width` outputs.

use super::activation::Activation;
use super::batch_norm::BatchNorm;
use candle_core::{ModuleT, Result, Tensor};
use candle_nn::{Init, Linear, VarBuilder};
use serde::{Deserialize, Serialize};

/// Weight initialization.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum InitKind {
    /// He et al. (2015): N(0, gain²/fan_in), gain from the activation.
    Kaiming,
    /// Glorot & Bengio (2010): U(±gain·√(6/(fan_in+fan_out))).
    Xavier,
    /// A plain Gaussian N(0, σ²), as in CS231n's first networks.
    Gaussian {
        /// Standard deviation.
        std: f64,
    },
}

impl InitKind {
    /// Parses `kaiming`, `xavier` or `gaussian:SIGMA`.
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        match s.split_once(':') {
            None if s == "kaiming" => Ok(InitKind::Kaiming),
            None if s == "xavier" => Ok(InitKind::Xavier),
            Some(("gaussian", v)) => v
                .parse::<f64>()
                .ok()
                .filter(|v| *v > 0.0 && v.is_finite())
                .map(|std| InitKind::Gaussian { std })
                .ok_or_else(|| format!("'{s}': gaussian needs a positive σ, e.g. gaussian:0.01")),
            _ => Err(format!("unknown init '{s}': use kaiming, xavier or gaussian:SIGMA")),
        }
    }

    /// The candle init hint for a `[fan_out, fan_in]` weight followed by `act`.
    pub fn hint(&self, fan_in: usize, fan_out: usize, act: Activation) -> Init {
        match *self {
            InitKind::Kaiming => Init::Randn { mean: 0.0, stdev: act.gain() / (fan_in as f64).sqrt() },
            InitKind::Xavier => {
                let b = act.gain() * (6.0 / (fan_in + fan_out) as f64).sqrt();
                Init::Uniform { lo: -b, up: b }
            }
            InitKind::Gaussian { std } => Init::Randn { mean: 0.0, stdev: std },
        }
    }
}

/// Configuration of an [`Mlp`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Input shape `[C, H, W]` (flattened).
    pub input_shape: [usize; 3],
    /// Widths of the hidden layers, e.g. `[512, 256]`.
    pub hidden: Vec<usize>,
    /// Number of classes.
    pub classes: usize,
    /// Activation after each hidden layer.
    pub activation: Activation,
    /// Dropout probability after each hidden activation (0 disables; off in evaluation).
    pub dropout: f32,
    /// Batch norm between each hidden linear layer and its activation.
    pub batch_norm: bool,
    /// Weight initialization.
    pub init: InitKind,
}

/// An MLP's layers before the data decide its input shape and class count: the part of a run
/// description that [`MlpLayers::config`] completes.
#[derive(Debug, Clone, PartialEq)]
pub struct MlpLayers {
    /// Widths of the hidden layers.
    pub hidden: Vec<usize>,
    /// Activation after each hidden layer.
    pub activation: Activation,
    /// Dropout probability after each hidden activation.
    pub dropout: f32,
    /// Batch norm between each hidden linear layer and its activation.
    pub batch_norm: bool,
    /// Weight initialization.
    pub init: InitKind,
}

impl MlpLayers {
    /// The configuration for inputs of `input_shape` and `classes` classes.
    pub fn config(&self, input_shape: [usize; 3], classes: usize) -> MlpConfig {
        MlpConfig {
            input_shape,
            hidden: self.hidden.clone(),
            classes,
            activation: self.activation,
            dropout: self.dropout,
            batch_norm: self.batch_norm,
            init: self.init,
        }
    }

    /// The layers of `cfg`.
    pub fn of(cfg: &MlpConfig) -> Self {
        MlpLayers {
            hidden: cfg.hidden.clone(),
            activation: cfg.activation,
            dropout: cfg.dropout,
            batch_norm: cfg.batch_norm,
            init: cfg.init,
        }
    }
}

/// A multi-layer perceptron.
#[derive(Debug, Clone)]
pub struct Mlp {
    layers: Vec<Linear>,
    norms: Vec<Option<BatchNorm>>,
    cfg: MlpConfig,
    /// Every layer but the last is frozen (a linear probe): see [`Mlp::freeze_features`].
    frozen_features: bool,
}

impl Mlp {
    /// Freezes every layer but the last (a linear probe): from now on the batch norms use their
    /// running statistics and no gradient reaches the frozen layers, in training as well.
    pub fn freeze_features(&mut self) {
        self.frozen_features = true;
    }

    /// Builds the network, creating or loading `layers.*` and `norms.*` from `vb`.
    pub fn new(cfg: &MlpConfig, vb: VarBuilder) -> Result<Self> {
        if cfg.hidden.contains(&0) {
            candle_core::bail!("`hidden` widths must be positive, got {:?}", cfg.hidden)
        }
        let mut fan_in: usize = cfg.input_shape.iter().product();
        let (mut layers, mut norms) = (vec![], vec![]);
        let k = cfg.activation.pieces();
        for (i, &width) in cfg.hidden.iter().enumerate() {
            let out = width * k;
            layers.push(linear(fan_in, out, cfg.init.hint(fan_in, out, cfg.activation), vb.pp(format!("layers.{i}")))?);
            norms.push(if cfg.batch_norm { Some(BatchNorm::new(out, vb.pp(format!("norms.{i}")))?) } else { None });
            fan_in = width;
        }
        let last = cfg.hidden.len();
        let hint = cfg.init.hint(fan_in, cfg.classes, Activation::Sigmoid); // gain 1 for the classifier
        layers.push(linear(fan_in, cfg.classes, hint, vb.pp(format!("layers.{last}")))?);
        Ok(Mlp { layers, norms, cfg: cfg.clone(), frozen_features: false })
    }

    /// The same network recording no autograd graph (see [`super::Model::detached`]).
    pub fn detached(&self) -> Self {
        Mlp {
            layers: self.layers.iter().map(super::detached_linear).collect(),
            norms: self.norms.iter().map(|n| n.as_ref().map(BatchNorm::detached)).collect(),
            cfg: self.cfg.clone(),
            frozen_features: self.frozen_features,
        }
    }

    /// The first layer's weights `[width (× k), C*H*W]`, for pictures.
    pub fn first_layer(&self) -> &Tensor {
        self.layers[0].weight()
    }
}

fn linear(fan_in: usize, fan_out: usize, hint: Init, vb: VarBuilder) -> Result<Linear> {
    let w = vb.get_with_hints((fan_out, fan_in), "weight", hint)?;
    let b = vb.get_with_hints(fan_out, "bias", Init::Const(0.0))?;
    Ok(Linear::new(w, Some(b)))
}

impl ModuleT for Mlp {
    /// # Shapes
    /// `xs`: `[B, C, H, W]` -> logits `[B, classes]`.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let mut h = xs.flatten_from(1)?; // [B, D]
        let n = self.layers.len();
        for (i, layer) in self.layers.iter().enumerate() {
            if self.frozen_features && i + 1 == n {
                h = h.detach(); // the last layer's input: no gradient below it
            }
            h = crate::ops::linear_layer(&h, layer)?; // [B, width·k] or [B, classes]
            if i + 1 == n {
                break;
            }
            h = match &self.norms[i] {
                Some(bn) => bn.forward_act(&h, train && !self.frozen_features, self.cfg.activation)?, // one op where it can be
                None => self.cfg.activation.forward(&h)?,
            }; // [B, width]
               // Frozen layers run as in evaluation; the last layer's input keeps its dropout.
            if train && self.cfg.dropout > 0.0 && (!self.frozen_features || i + 2 == n) {
                h = crate::ops::dropout::dropout(&h, self.cfg.dropout)?;
            }
        }
        Ok(h)
    }
}

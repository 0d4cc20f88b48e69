//! The linear classifier `f(x) = Wx + b`: one template per class.
//!
//! Parameters: `fc.weight` `[classes, C*H*W]` and `fc.bias` `[classes]`, the layout of PyTorch's
//! `nn.Linear`, so `W`'s rows are the class templates.

use candle_core::{ModuleT, Result, Tensor};
use candle_nn::{Init, Linear, VarBuilder};
use serde::{Deserialize, Serialize};

/// Configuration of a [`LinearClassifier`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearConfig {
    /// Input shape `[C, H, W]`.
    pub input_shape: [usize; 3],
    /// Number of classes.
    pub classes: usize,
}

/// `f(x) = Wx + b` on flattened inputs.
#[derive(Debug, Clone)]
pub struct LinearClassifier {
    fc: Linear,
}

impl LinearClassifier {
    /// Builds the classifier; new weights are drawn from N(0, 0.01²), biases start at 0.
    pub fn new(cfg: &LinearConfig, vb: VarBuilder) -> Result<Self> {
        let d: usize = cfg.input_shape.iter().product();
        let vb = vb.pp("fc");
        let w = vb.get_with_hints((cfg.classes, d), "weight", Init::Randn { mean: 0.0, stdev: 0.01 })?;
        let b = vb.get_with_hints(cfg.classes, "bias", Init::Const(0.0))?;
        Ok(Self { fc: Linear::new(w, Some(b)) })
    }

    /// The same classifier recording no autograd graph (see [`super::Model::detached`]).
    pub fn detached(&self) -> Self {
        Self { fc: super::detached_linear(&self.fc) }
    }

    /// The weight matrix `W` `[classes, D]`.
    pub fn weight(&self) -> &Tensor {
        self.fc.weight()
    }
}

impl ModuleT for LinearClassifier {
    /// # Shapes
    /// `xs`: `[B, C, H, W]` -> logits `[B, classes]`.
    fn forward_t(&self, xs: &Tensor, _train: bool) -> Result<Tensor> {
        crate::ops::linear_layer(&xs.flatten_from(1)?, &self.fc) // [B, classes]
    }
}

//! The batch-normalization layer of the MLP and the CNN, on kindling's op
//! ([`crate::ops::batch_norm_train`]).
//!
//! Same parameters, names and semantics as PyTorch's `BatchNorm1d`/`BatchNorm2d` (and candle's
//! `BatchNorm`): `weight` (γ, 1 at first), `bias` (β, 0), `running_mean` (0) and `running_var` (1),
//! momentum 0.1, ε = 1e-5; in training mode it normalizes by the batch's statistics and moves the
//! running ones toward them (the variance unbiased), in evaluation mode it uses the running ones.

use candle_core::{ModuleT, Result, Tensor, Var};
use candle_nn::{Init, VarBuilder};

/// PyTorch's default momentum of the running statistics.
const MOMENTUM: f64 = 0.1;
/// PyTorch's default ε.
const EPS: f64 = 1e-5;

/// A batch-normalization layer over dimension 1 of `[N, C]` or `[N, C, H, W]` inputs.
#[derive(Debug, Clone)]
pub struct BatchNorm {
    weight: Tensor,
    bias: Tensor,
    running_mean: Var,
    running_var: Var,
}

impl BatchNorm {
    /// Creates (or loads) the layer's four tensors for `channels` channels from `vb`.
    pub fn new(channels: usize, vb: VarBuilder) -> Result<Self> {
        let weight = vb.get_with_hints(channels, "weight", Init::Const(1.0))?;
        let bias = vb.get_with_hints(channels, "bias", Init::Const(0.0))?;
        // The running statistics live in the same VarMap (they are saved in checkpoints), but get
        // no gradient: the optimizers skip them.
        let running_mean = Var::from_tensor(&vb.get_with_hints(channels, "running_mean", Init::Const(0.0))?)?;
        let running_var = Var::from_tensor(&vb.get_with_hints(channels, "running_var", Init::Const(1.0))?)?;
        Ok(Self { weight, bias, running_mean, running_var })
    }
}

impl ModuleT for BatchNorm {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        if !train {
            let (mean, var) = (self.running_mean.as_tensor(), self.running_var.as_tensor());
            return crate::ops::batch_norm_eval(xs, &self.weight, &self.bias, mean, var, EPS);
        }
        let (ys, mean, var) = crate::ops::batch_norm_train(xs, &self.weight, &self.bias, EPS)?;
        let m = (xs.elem_count() / xs.dim(1)?) as f64;
        let unbiased = (var * (m / (m - 1.0)))?;
        let rm = ((self.running_mean.as_tensor() * (1.0 - MOMENTUM))? + (mean * MOMENTUM)?)?;
        let rv = ((self.running_var.as_tensor() * (1.0 - MOMENTUM))? + (unbiased * MOMENTUM)?)?;
        self.running_mean.set(&rm.to_dtype(self.running_mean.dtype())?)?;
        self.running_var.set(&rv.to_dtype(self.running_var.dtype())?)?;
        Ok(ys)
    }
}

//! The batch-normalization layer of the MLP and the CNN, on kindling's op
//! ([`crate::ops::batch_norm_train`]).
//!
//! Same parameters, names and semantics as PyTorch's `BatchNorm1d`/`BatchNorm2d` (and candle's
//! `BatchNorm`): `weight` (γ, 1 at first), `bias` (β, 0), `running_mean` (0) and `running_var` (1),
//! momentum 0.1, ε = 1e-5; in training mode it normalizes by the batch's statistics and moves the
//! running ones toward them (the variance unbiased), in evaluation mode it uses the running ones.
//! [`NormOptions`] changes ε and the momentum, or fixes the scale γ at 1 (no `weight` tensor: a
//! PyTorch user builds `BatchNorm2d` and sets `weight.requires_grad = False`).
//! [`BatchNorm::forward_act`] applies the activation that follows inside the same op where it can.

use candle_core::{ModuleT, Result, Tensor, Var};

use super::activation::Activation;
use crate::ops::NormActivation;
use candle_nn::{Init, VarBuilder};
use serde::{Deserialize, Serialize};

/// ε, momentum and whether the scale is learned; PyTorch's defaults by default.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NormOptions {
    /// Added to the variance (1e-5).
    pub eps: f64,
    /// Weight of the batch's statistics in the running ones, PyTorch's convention (0.1):
    /// `running = (1 - momentum)·running + momentum·batch`.
    pub momentum: f64,
    /// A learned scale γ (true); false fixes it at 1, with no `weight` tensor.
    pub scale: bool,
}

impl Default for NormOptions {
    fn default() -> Self {
        NormOptions { eps: 1e-5, momentum: 0.1, scale: true }
    }
}

/// A batch-normalization layer over dimension 1 of `[N, C]` or `[N, C, H, W]` inputs.
#[derive(Debug, Clone)]
pub struct BatchNorm {
    weight: Tensor,
    bias: Tensor,
    running_mean: Var,
    running_var: Var,
    opts: NormOptions,
}

impl BatchNorm {
    /// Creates (or loads) the layer's four tensors for `channels` channels from `vb`, with
    /// PyTorch's defaults.
    pub fn new(channels: usize, vb: VarBuilder) -> Result<Self> {
        Self::with_options(channels, vb, NormOptions::default())
    }

    /// Creates (or loads) the layer for `channels` channels with `opts`.
    pub fn with_options(channels: usize, vb: VarBuilder, opts: NormOptions) -> Result<Self> {
        let weight = if opts.scale {
            vb.get_with_hints(channels, "weight", Init::Const(1.0))?
        } else {
            Tensor::ones(channels, vb.dtype(), vb.device())?
        };
        let bias = vb.get_with_hints(channels, "bias", Init::Const(0.0))?;
        // The running statistics live in the same VarMap (they are saved in checkpoints), but get
        // no gradient: the optimizers skip them.
        let running_mean = Var::from_tensor(&vb.get_with_hints(channels, "running_mean", Init::Const(0.0))?)?;
        let running_var = Var::from_tensor(&vb.get_with_hints(channels, "running_var", Init::Const(1.0))?)?;
        Ok(Self { weight, bias, running_mean, running_var, opts })
    }
}

impl BatchNorm {
    /// The same layer with its scale and shift detached from any autograd graph (see
    /// [`super::Model::detached`]); the running statistics stay shared, and evaluation mode reads
    /// them detached anyway.
    pub fn detached(&self) -> Self {
        BatchNorm {
            weight: self.weight.detach(),
            bias: self.bias.detach(),
            running_mean: self.running_mean.clone(),
            running_var: self.running_var.clone(),
            opts: self.opts,
        }
    }

    /// Batch norm followed by the activation `act`: ReLU and the exact GELU run inside the
    /// batch-norm op on the CPU ([`crate::ops::batch_norm_act_train`]), which then does not keep
    /// the normalized values for the backward pass; other activations run after it. Same values
    /// and gradients as `act.forward(&xs.apply_t(self, train)?)`.
    pub fn forward_act(&self, xs: &Tensor, train: bool, act: Activation) -> Result<Tensor> {
        let fused = match act {
            Activation::Relu => NormActivation::Relu,
            Activation::GeluErf => NormActivation::Gelu,
            _ => return act.forward(&self.forward_t(xs, train)?),
        };
        self.normalize(xs, train, fused)
    }

    /// The normalization (and the fused activation `act`), updating the running statistics in
    /// training mode.
    fn normalize(&self, xs: &Tensor, train: bool, act: NormActivation) -> Result<Tensor> {
        let (w, b, eps) = (&self.weight, &self.bias, self.opts.eps);
        if !train {
            // The running statistics are variables (checkpoints save them) that get no gradient:
            // read detached, so that they make no graph of their own.
            let (mean, var) = (self.running_mean.as_tensor().detach(), self.running_var.as_tensor().detach());
            return crate::ops::batch_norm_act_eval(xs, w, b, &mean, &var, eps, act);
        }
        let (ys, mean, var) = crate::ops::batch_norm_act_train(xs, w, b, eps, act)?;
        let momentum = self.opts.momentum;
        let m = (xs.elem_count() / xs.dim(1)?) as f64;
        let unbiased = (var * (m / (m - 1.0)))?;
        let rm = ((self.running_mean.as_tensor() * (1.0 - momentum))? + (mean * momentum)?)?;
        let rv = ((self.running_var.as_tensor() * (1.0 - momentum))? + (unbiased * momentum)?)?;
        self.running_mean.set(&rm.to_dtype(self.running_mean.dtype())?)?;
        self.running_var.set(&rv.to_dtype(self.running_var.dtype())?)?;
        Ok(ys)
    }
}

impl ModuleT for BatchNorm {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        self.normalize(xs, train, NormActivation::Identity)
    }
}

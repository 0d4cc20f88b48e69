//! Optimizers and learning-rate schedules.
//!
//! candle-nn ships plain SGD and AdamW; kindling adds momentum, Nesterov momentum, RMSProp, Adam and
//! Muon.
//! Each implements [`candle_nn::Optimizer`], so `backward_step` works and candle's own optimizers
//! stay interchangeable. Per-parameter state is kept by parameter name, so it can be saved in a
//! checkpoint and restored with `--resume`.

pub mod adam;
pub mod fused;
pub mod groups;
pub mod muon;
pub mod rmsprop;
pub mod schedule;
pub mod sgd;

pub use adam::{Adam, AdamConfig, WeightDecay};
pub use groups::{GroupedOptimizer, ParamGroup};
pub use muon::{Muon, MuonConfig};
pub use rmsprop::{RmsProp, RmsPropConfig};
pub use schedule::Schedule;
pub use sgd::{Momentum, Sgd, SgdConfig};

use candle_core::{backprop::GradStore, Result, Tensor, Var};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The optimizers, as chosen with `--optimizer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// Plain (minibatch or full-batch) gradient descent.
    Sgd,
    /// SGD with classical momentum.
    Momentum,
    /// SGD with Nesterov momentum.
    Nesterov,
    /// RMSProp (Hinton's lecture 6e).
    Rmsprop,
    /// Adam (Kingma & Ba, 2015), weight decay as an L2 term in the gradient.
    Adam,
    /// AdamW (Loshchilov & Hutter, 2019), decoupled weight decay.
    Adamw,
    /// Muon (Jordan, 2024): Nesterov momentum, each matrix's update orthogonalized and each weight
    /// tensor kept at norm `sqrt(out)` ([`muon`]); no weight decay.
    Muon,
}

impl OptimizerKind {
    /// The name on the command line and in checkpoints.
    pub fn as_str(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Momentum => "momentum",
            OptimizerKind::Nesterov => "nesterov",
            OptimizerKind::Rmsprop => "rmsprop",
            OptimizerKind::Adam => "adam",
            OptimizerKind::Adamw => "adamw",
            OptimizerKind::Muon => "muon",
        }
    }
}

/// Everything needed to build an optimizer; saved in checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizerConfig {
    /// Which optimizer.
    pub kind: OptimizerKind,
    /// Base learning rate (the schedule scales it).
    pub lr: f64,
    /// Momentum coefficient for `momentum`, `nesterov` and `muon` (default 0.9).
    pub momentum: f64,
    /// Weight decay: L2 in the gradient for SGD, RMSProp and Adam; decoupled for AdamW.
    pub weight_decay: f64,
    /// Adam's β1 / β2 (0.9, 0.999); RMSProp's smoothing α is `beta2` too (default 0.99 for it).
    pub beta1: f64,
    /// See `beta1`.
    pub beta2: f64,
    /// Added to the denominator (1e-8).
    pub eps: f64,
}

impl OptimizerConfig {
    /// Defaults for `kind` at learning rate `lr`.
    pub fn new(kind: OptimizerKind, lr: f64) -> Self {
        let beta2 = if kind == OptimizerKind::Rmsprop { 0.99 } else { 0.999 };
        OptimizerConfig { kind, lr, momentum: 0.9, weight_decay: 0.0, beta1: 0.9, beta2, eps: 1e-8 }
    }
}

/// A parameter with the name under which its optimizer state is saved.
#[derive(Debug, Clone)]
pub struct NamedVar {
    /// Parameter name, e.g. `fc.weight`.
    pub name: String,
    /// The parameter.
    pub var: Var,
}

/// Names `vars` `param.0`, `param.1`, ... (for the [`candle_nn::Optimizer::new`] entry point).
pub fn anonymous(vars: Vec<Var>) -> Vec<NamedVar> {
    vars.into_iter().enumerate().map(|(i, var)| NamedVar { name: format!("param.{i}"), var }).collect()
}

/// Optimizer state that can be saved and restored by parameter name.
pub trait OptimizerState {
    /// All state tensors, keyed `<param>.<slot>`.
    fn state(&self) -> Vec<(String, Tensor)>;
    /// Restores state saved by [`OptimizerState::state`]; missing keys are an error.
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()>;
}

/// Zeros shaped like `var`, as a new variable.
pub(crate) fn zeros_like(var: &Var) -> Result<Var> {
    Var::zeros(var.shape(), var.dtype(), var.device())
}

/// Copies `state[key]` into `slot`, checking the shape.
pub(crate) fn restore(slot: &Var, state: &HashMap<String, Tensor>, key: &str) -> Result<()> {
    let t = state.get(key).ok_or_else(|| candle_core::Error::Msg(format!("optimizer state {key} missing")))?;
    if t.shape() != slot.shape() {
        candle_core::bail!("optimizer state {key}: shape {:?}, the parameter has {:?}", t.dims(), slot.dims())
    }
    slot.set(&t.to_device(slot.device())?.to_dtype(slot.dtype())?)
}

/// Any of kindling's optimizers, built from an [`OptimizerConfig`].
#[derive(Debug)]
pub enum AnyOptimizer {
    /// SGD, momentum or Nesterov.
    Sgd(Sgd),
    /// RMSProp.
    RmsProp(RmsProp),
    /// Adam or AdamW.
    Adam(Adam),
    /// Muon.
    Muon(Muon),
}

impl AnyOptimizer {
    /// Builds the optimizer `cfg` describes over `params`.
    pub fn new(cfg: &OptimizerConfig, params: Vec<NamedVar>) -> Result<Self> {
        Ok(match cfg.kind {
            OptimizerKind::Sgd | OptimizerKind::Momentum | OptimizerKind::Nesterov => {
                let momentum = match cfg.kind {
                    OptimizerKind::Momentum => Momentum::Classic(cfg.momentum),
                    OptimizerKind::Nesterov => Momentum::Nesterov(cfg.momentum),
                    _ => Momentum::None,
                };
                AnyOptimizer::Sgd(Sgd::with_names(
                    params,
                    SgdConfig { lr: cfg.lr, momentum, weight_decay: cfg.weight_decay },
                )?)
            }
            OptimizerKind::Rmsprop => AnyOptimizer::RmsProp(RmsProp::with_names(
                params,
                RmsPropConfig { lr: cfg.lr, alpha: cfg.beta2, eps: cfg.eps, weight_decay: cfg.weight_decay },
            )?),
            OptimizerKind::Adam | OptimizerKind::Adamw => {
                let weight_decay = if cfg.weight_decay == 0.0 {
                    WeightDecay::None
                } else if cfg.kind == OptimizerKind::Adamw {
                    WeightDecay::Decoupled(cfg.weight_decay)
                } else {
                    WeightDecay::L2(cfg.weight_decay)
                };
                AnyOptimizer::Adam(Adam::with_names(
                    params,
                    AdamConfig { lr: cfg.lr, beta1: cfg.beta1, beta2: cfg.beta2, eps: cfg.eps, weight_decay },
                )?)
            }
            OptimizerKind::Muon => {
                if cfg.weight_decay != 0.0 {
                    candle_core::bail!(
                        "Muon keeps each weight tensor at a fixed norm, so weight decay {} would do nothing: set it \
                         to 0",
                        cfg.weight_decay
                    )
                }
                AnyOptimizer::Muon(Muon::with_names(
                    params,
                    MuonConfig {
                        lr: cfg.lr,
                        momentum: cfg.momentum,
                        nesterov: true,
                        ns_steps: muon::NS_STEPS,
                        normalize: true,
                    },
                )?)
            }
        })
    }

    /// Applies one update from `grads`.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        use candle_nn::Optimizer;
        match self {
            AnyOptimizer::Sgd(o) => o.step(grads),
            AnyOptimizer::RmsProp(o) => o.step(grads),
            AnyOptimizer::Adam(o) => o.step(grads),
            AnyOptimizer::Muon(o) => o.step(grads),
        }
    }

    /// Sets the learning rate (schedules call this every step).
    pub fn set_learning_rate(&mut self, lr: f64) {
        use candle_nn::Optimizer;
        match self {
            AnyOptimizer::Sgd(o) => o.set_learning_rate(lr),
            AnyOptimizer::RmsProp(o) => o.set_learning_rate(lr),
            AnyOptimizer::Adam(o) => o.set_learning_rate(lr),
            AnyOptimizer::Muon(o) => o.set_learning_rate(lr),
        }
    }
}

impl OptimizerState for AnyOptimizer {
    fn state(&self) -> Vec<(String, Tensor)> {
        match self {
            AnyOptimizer::Sgd(o) => o.state(),
            AnyOptimizer::RmsProp(o) => o.state(),
            AnyOptimizer::Adam(o) => o.state(),
            AnyOptimizer::Muon(o) => o.state(),
        }
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        match self {
            AnyOptimizer::Sgd(o) => o.load_state(state),
            AnyOptimizer::RmsProp(o) => o.load_state(state),
            AnyOptimizer::Adam(o) => o.load_state(state),
            AnyOptimizer::Muon(o) => o.load_state(state),
        }
    }
}

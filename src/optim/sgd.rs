//! Stochastic gradient descent, with optional classical or Nesterov momentum (PyTorch's
//! formulation: `v = μv + g`, `p -= lr·v`, or `p -= lr·(g + μv)` for Nesterov; Sutskever et al.,
//! 2013). Full-batch gradient descent is the same update with one batch per epoch.

use super::{anonymous, fused, restore, zeros_like, NamedVar, OptimizerState};
use candle_core::{backprop::GradStore, Result, Tensor, Var};
use std::collections::HashMap;

/// Momentum variant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Momentum {
    /// Plain SGD.
    None,
    /// Classical (heavy-ball) momentum with coefficient μ.
    Classic(f64),
    /// Nesterov momentum with coefficient μ.
    Nesterov(f64),
}

/// SGD hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdConfig {
    /// Learning rate.
    pub lr: f64,
    /// Momentum variant.
    pub momentum: Momentum,
    /// L2 weight decay added to the gradient.
    pub weight_decay: f64,
}

#[derive(Debug)]
struct Slot {
    p: NamedVar,
    velocity: Option<Var>,
}

/// SGD with optional momentum.
#[derive(Debug)]
pub struct Sgd {
    slots: Vec<Slot>,
    cfg: SgdConfig,
}

impl Sgd {
    /// Builds the optimizer over named parameters.
    pub fn with_names(params: Vec<NamedVar>, cfg: SgdConfig) -> Result<Self> {
        let slots = params
            .into_iter()
            .filter(|p| p.var.dtype().is_float())
            .map(|p| {
                let velocity = match cfg.momentum {
                    Momentum::None => None,
                    _ => Some(zeros_like(&p.var)?),
                };
                Ok(Slot { p, velocity })
            })
            .collect::<Result<_>>()?;
        Ok(Sgd { slots, cfg })
    }
}

impl candle_nn::Optimizer for Sgd {
    type Config = SgdConfig;

    fn new(vars: Vec<Var>, cfg: SgdConfig) -> Result<Self> {
        Self::with_names(anonymous(vars), cfg)
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        let lr = self.cfg.lr;
        for s in &self.slots {
            let Some(g) = grads.get(&s.p.var) else { continue };
            if let (Some(v), 0.0) = (&s.velocity, self.cfg.weight_decay) {
                let p = s.p.var.as_tensor();
                if fused::applicable(&[p, g, v.as_tensor()]) {
                    let (mu, nesterov) = match self.cfg.momentum {
                        Momentum::Nesterov(mu) => (mu, true),
                        Momentum::Classic(mu) => (mu, false),
                        Momentum::None => unreachable!("plain SGD keeps no velocity"),
                    };
                    v.as_tensor().inplace_op2(g, &fused::Axpby { a: mu as f32, b: 1.0, square: false })?;
                    p.inplace_op3(
                        g,
                        v.as_tensor(),
                        &fused::SgdStep { lr: lr as f32, nesterov_mu: mu as f32, nesterov },
                    )?;
                    continue;
                }
            }
            let g = if self.cfg.weight_decay != 0.0 {
                (g + (s.p.var.as_tensor() * self.cfg.weight_decay)?)?
            } else {
                g.clone()
            };
            let step: Tensor = match (self.cfg.momentum, &s.velocity) {
                (Momentum::Classic(mu), Some(v)) => {
                    let nv = ((v.as_tensor() * mu)? + &g)?;
                    v.set(&nv)?;
                    nv
                }
                (Momentum::Nesterov(mu), Some(v)) => {
                    let nv = ((v.as_tensor() * mu)? + &g)?;
                    v.set(&nv)?;
                    (g + (nv * mu)?)?
                }
                _ => g,
            };
            s.p.var.set(&(s.p.var.as_tensor() - (step * lr)?)?)?;
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.cfg.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.cfg.lr = lr;
    }
}

impl OptimizerState for Sgd {
    fn state(&self) -> Vec<(String, Tensor)> {
        self.slots
            .iter()
            .filter_map(|s| s.velocity.as_ref().map(|v| (format!("{}.velocity", s.p.name), v.as_tensor().clone())))
            .collect()
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        for s in &self.slots {
            if let Some(v) = &s.velocity {
                restore(v, state, &format!("{}.velocity", s.p.name))?;
            }
        }
        Ok(())
    }
}

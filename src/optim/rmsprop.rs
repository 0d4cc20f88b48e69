//! RMSProp (Tieleman & Hinton, 2012, lecture 6e), PyTorch's formulation:
//! `s = αs + (1-α)g²`, `p -= lr·g / (√s + ε)`.

use super::{anonymous, fused, restore, zeros_like, NamedVar, OptimizerState};
use candle_core::{backprop::GradStore, Result, Tensor, Var};
use std::collections::HashMap;

/// RMSProp hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RmsPropConfig {
    /// Learning rate.
    pub lr: f64,
    /// Smoothing constant α (0.99).
    pub alpha: f64,
    /// ε (1e-8).
    pub eps: f64,
    /// L2 weight decay added to the gradient.
    pub weight_decay: f64,
}

#[derive(Debug)]
struct Slot {
    p: NamedVar,
    square_avg: Var,
}

/// RMSProp.
#[derive(Debug)]
pub struct RmsProp {
    slots: Vec<Slot>,
    cfg: RmsPropConfig,
}

impl RmsProp {
    /// Builds the optimizer over named parameters.
    pub fn with_names(params: Vec<NamedVar>, cfg: RmsPropConfig) -> Result<Self> {
        let slots = params
            .into_iter()
            .filter(|p| p.var.dtype().is_float())
            .map(|p| Ok(Slot { square_avg: zeros_like(&p.var)?, p }))
            .collect::<Result<_>>()?;
        Ok(RmsProp { slots, cfg })
    }
}

impl candle_nn::Optimizer for RmsProp {
    type Config = RmsPropConfig;

    fn new(vars: Vec<Var>, cfg: RmsPropConfig) -> Result<Self> {
        Self::with_names(anonymous(vars), cfg)
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        let c = self.cfg;
        for s in &self.slots {
            let Some(g) = grads.get(&s.p.var) else { continue };
            let p = s.p.var.as_tensor();
            if c.weight_decay == 0.0 && fused::applicable(&[p, g, s.square_avg.as_tensor()]) {
                s.square_avg
                    .as_tensor()
                    .inplace_op2(g, &fused::Axpby { a: c.alpha as f32, b: (1.0 - c.alpha) as f32, square: true })?;
                p.inplace_op3(g, s.square_avg.as_tensor(), &fused::RmsStep { lr: c.lr as f32, eps: c.eps as f32 })?;
                continue;
            }
            let g = if c.weight_decay != 0.0 { (g + (s.p.var.as_tensor() * c.weight_decay)?)? } else { g.clone() };
            let sq = ((s.square_avg.as_tensor() * c.alpha)? + (g.sqr()? * (1.0 - c.alpha))?)?;
            s.square_avg.set(&sq)?;
            let update = (g / (sq.sqrt()? + c.eps)?)?;
            s.p.var.set(&(s.p.var.as_tensor() - (update * c.lr)?)?)?;
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

impl OptimizerState for RmsProp {
    fn state(&self) -> Vec<(String, Tensor)> {
        self.slots.iter().map(|s| (format!("{}.square_avg", s.p.name), s.square_avg.as_tensor().clone())).collect()
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        for s in &self.slots {
            restore(&s.square_avg, state, &format!("{}.square_avg", s.p.name))?;
        }
        Ok(())
    }
}

//! Adam (Kingma & Ba, 2015) and AdamW (Loshchilov & Hutter, 2019), PyTorch's formulation with
//! bias correction: `m = β1·m + (1-β1)g`, `v = β2·v + (1-β2)g²`,
//! `p -= lr·m̂ / (√v̂ + ε)`.

use super::{anonymous, fused, restore, zeros_like, NamedVar, OptimizerState};
use candle_core::{backprop::GradStore, Result, Tensor, Var};
use std::collections::HashMap;

/// How weight decay enters the update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WeightDecay {
    /// None.
    None,
    /// Adam's: `λp` added to the gradient.
    L2(f64),
    /// AdamW's: `p *= 1 - lr·λ` before the Adam step.
    Decoupled(f64),
}

/// Adam hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f64,
    /// β1 (0.9).
    pub beta1: f64,
    /// β2 (0.999).
    pub beta2: f64,
    /// ε (1e-8).
    pub eps: f64,
    /// Weight decay.
    pub weight_decay: WeightDecay,
}

#[derive(Debug)]
struct Slot {
    p: NamedVar,
    m: Var,
    v: Var,
}

/// Adam or AdamW.
#[derive(Debug)]
pub struct Adam {
    slots: Vec<Slot>,
    cfg: AdamConfig,
    t: u64,
}

impl Adam {
    /// Builds the optimizer over named parameters.
    pub fn with_names(params: Vec<NamedVar>, cfg: AdamConfig) -> Result<Self> {
        let slots = params
            .into_iter()
            .filter(|p| p.var.dtype().is_float())
            .map(|p| Ok(Slot { m: zeros_like(&p.var)?, v: zeros_like(&p.var)?, p }))
            .collect::<Result<_>>()?;
        Ok(Adam { slots, cfg, t: 0 })
    }
}

impl candle_nn::Optimizer for Adam {
    type Config = AdamConfig;

    fn new(vars: Vec<Var>, cfg: AdamConfig) -> Result<Self> {
        Self::with_names(anonymous(vars), cfg)
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.t += 1;
        let c = self.cfg;
        let bc1 = 1.0 - c.beta1.powi(self.t as i32);
        let bc2 = 1.0 - c.beta2.powi(self.t as i32);
        for s in &self.slots {
            let Some(g) = grads.get(&s.p.var) else { continue };
            let p = s.p.var.as_tensor();
            if !matches!(c.weight_decay, WeightDecay::L2(_))
                && fused::applicable(&[p, g, s.m.as_tensor(), s.v.as_tensor()])
            {
                let decay = match c.weight_decay {
                    WeightDecay::Decoupled(wd) => 1.0 - c.lr * wd,
                    _ => 1.0,
                };
                s.m.as_tensor()
                    .inplace_op2(g, &fused::Axpby { a: c.beta1 as f32, b: (1.0 - c.beta1) as f32, square: false })?;
                s.v.as_tensor()
                    .inplace_op2(g, &fused::Axpby { a: c.beta2 as f32, b: (1.0 - c.beta2) as f32, square: true })?;
                let step = fused::AdamStep {
                    lr: c.lr as f32,
                    bc1: bc1 as f32,
                    bc2: bc2 as f32,
                    eps: c.eps as f32,
                    decay: decay as f32,
                };
                p.inplace_op3(s.m.as_tensor(), s.v.as_tensor(), &step)?;
                continue;
            }
            let (g, p) = match c.weight_decay {
                WeightDecay::None => (g.clone(), p.clone()),
                WeightDecay::L2(wd) => ((g + (p * wd)?)?, p.clone()),
                WeightDecay::Decoupled(wd) => (g.clone(), (p * (1.0 - c.lr * wd))?),
            };
            let m = ((s.m.as_tensor() * c.beta1)? + (&g * (1.0 - c.beta1))?)?;
            let v = ((s.v.as_tensor() * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
            s.m.set(&m)?;
            s.v.set(&v)?;
            let denom = ((v / bc2)?.sqrt()? + c.eps)?;
            let update = ((m / bc1)? / denom)?;
            s.p.var.set(&(p - (update * c.lr)?)?)?;
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

impl OptimizerState for Adam {
    fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        if let Some(first) = self.slots.first() {
            let t = Tensor::new(&[self.t as f32], first.p.var.device()).expect("scalar on device");
            out.push(("adam.step".to_string(), t));
        }
        for s in &self.slots {
            out.push((format!("{}.exp_avg", s.p.name), s.m.as_tensor().clone()));
            out.push((format!("{}.exp_avg_sq", s.p.name), s.v.as_tensor().clone()));
        }
        out
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        if let Some(t) = state.get("adam.step") {
            self.t = t.flatten_all()?.to_vec1::<f32>()?[0] as u64;
        }
        for s in &self.slots {
            restore(&s.m, state, &format!("{}.exp_avg", s.p.name))?;
            restore(&s.v, state, &format!("{}.exp_avg_sq", s.p.name))?;
        }
        Ok(())
    }
}

//! Lookahead with a moving average of the weights (airbench94's, from hlb-CIFAR10): every few steps
//! the average moves toward the weights, and the weights jump back to the average.
//!
//! Every `every` steps, at step `t` of `T`, with `decay = base · (t / T)^power`:
//! `avg ← decay·avg + (1 − decay)·w`, then `w ← avg`. Early in the run `decay` is near 0 and the
//! weights are left alone; late it approaches `base` (0.95⁵ ≈ 0.77) and each jump averages out the
//! last steps' noise. After the last step the weights become the average. Every floating-point
//! tensor of the model takes part, batch-norm running statistics included. A hook of the one
//! training loop ([`EpochHook::after_step`]); its average is saved in resumable checkpoints.

use super::hooks::{Control, EpochEnd, EpochHook, StepEnd};
use crate::params::Params;
use crate::Result;
use candle_core::Tensor;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// When and how strongly the average moves; saved in the training configuration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LookaheadConfig {
    /// Steps between updates (5).
    pub every: usize,
    /// The decay at the last step (0.95⁵).
    pub base: f64,
    /// How the decay grows over the run: `(t / T)^power` (3).
    pub power: f64,
}

impl Default for LookaheadConfig {
    fn default() -> Self {
        LookaheadConfig { every: 5, base: 0.95f64.powi(5), power: 3.0 }
    }
}

impl LookaheadConfig {
    /// The decay at step `t` (1-based) of `total`.
    pub fn decay(&self, t: usize, total: usize) -> f64 {
        self.base * (t as f64 / total.max(1) as f64).powf(self.power)
    }
}

/// The averaged weights, a hook of `fit`.
pub struct Lookahead {
    cfg: LookaheadConfig,
    average: Vec<(String, candle_core::Var, Tensor)>,
}

/// The key of a parameter's average in saved state.
fn key(name: &str) -> String {
    format!("lookahead.{name}")
}

impl Lookahead {
    /// Starts the average at the current value of every floating-point tensor of `params`.
    pub fn new(cfg: LookaheadConfig, params: &Params) -> Result<Self> {
        let average = params
            .named_vars()
            .into_iter()
            .filter(|(_, v)| v.dtype().is_float())
            .map(|(n, v)| Ok((n, v.clone(), v.as_tensor().copy()?.detach())))
            .collect::<Result<_>>()?;
        Ok(Lookahead { cfg, average })
    }

    /// `avg ← decay·avg + (1 − decay)·w; w ← avg` for every tensor, computed as
    /// `avg + (1 − decay)·(w − avg)` (PyTorch's `lerp_`), which leaves a tensor that did not move
    /// (a fixed one) exactly as it was.
    ///
    /// The new average is detached: computed from a variable, it would otherwise record the
    /// operations that made it, holding the previous average and both intermediate tensors alive,
    /// so that every update kept three more copies of the weights until training ended (2.3 GB over
    /// airbench94's 96 updates).
    pub fn update(&mut self, decay: f64) -> Result<()> {
        for (_, var, avg) in &mut self.average {
            let next = (&*avg + ((var.as_tensor() - &*avg)? * (1.0 - decay))?)?.detach();
            var.set(&next)?;
            *avg = next;
        }
        Ok(())
    }
}

impl EpochHook for Lookahead {
    fn after_epoch(&mut self, _end: &EpochEnd<'_>) -> Result<Control> {
        Ok(Control::Continue)
    }

    fn after_step(&mut self, end: &StepEnd<'_>) -> Result<()> {
        if end.step.is_multiple_of(self.cfg.every.max(1)) {
            self.update(self.cfg.decay(end.step, end.total))?;
        }
        if end.step == end.total {
            self.update(1.0)?;
        }
        Ok(())
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        self.average.iter().map(|(n, _, avg)| (key(n), avg.clone())).collect()
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        for (name, _, avg) in &mut self.average {
            let saved = state.get(&key(name)).ok_or_else(|| {
                crate::Error::invalid("`resume`", format!("the checkpoint holds no lookahead average of {name}"))
            })?;
            *avg = saved.to_device(avg.device())?.to_dtype(avg.dtype())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::Init;

    /// Hand-computed: w starts at 1; the steps set it to 2, 3, ...; with every = 2, base 0.5,
    /// power 1 and 4 steps, step 2 has decay 0.25: avg = 0.25·1 + 0.75·3 = 2.5 (w jumps to 2.5);
    /// step 4 (w = 5 after the optimizer) has decay 0.5: avg = 0.5·2.5 + 0.5·5 = 3.75, and the
    /// last step leaves w at the average.
    #[test]
    fn matches_hand_computed_values() {
        let params = Params::new(0);
        let vb = params.var_builder(DType::F32, &Device::Cpu);
        vb.get_with_hints(1, "w", Init::Const(1.0)).unwrap();
        let var = params.get("w").unwrap();
        let cfg = LookaheadConfig { every: 2, base: 0.5, power: 1.0 };
        let mut la = Lookahead::new(cfg, &params).unwrap();
        let value = || var.as_tensor().to_vec1::<f32>().unwrap()[0];
        let mut seen = vec![];
        for step in 1..=4 {
            // What the optimizer leaves after each step, set by hand.
            let after_optimizer = match step {
                1 => 2.0,
                2 => 3.0,
                3 => 4.0,
                _ => 5.0,
            };
            var.set(&Tensor::new(&[after_optimizer as f32], &Device::Cpu).unwrap()).unwrap();
            la.after_step(&StepEnd { step, total: 4, params: &params }).unwrap();
            seen.push(value());
        }
        assert_eq!(seen, vec![2.0, 2.5, 4.0, 3.75]);
        let saved = la.state();
        assert_eq!(saved[0].0, "lookahead.w");
        assert_eq!(saved[0].1.to_vec1::<f32>().unwrap(), vec![3.75]);
    }

    /// The average is a plain tensor after every update: it records no operations, so it holds
    /// no earlier average alive (each update used to keep three more copies of the weights).
    #[test]
    fn average_holds_no_history() {
        let params = Params::new(0);
        let vb = params.var_builder(DType::F32, &Device::Cpu);
        vb.get_with_hints(1000, "w", Init::Const(1.0)).unwrap();
        let var = params.get("w").unwrap();
        let mut la = Lookahead::new(LookaheadConfig { every: 1, base: 0.5, power: 1.0 }, &params).unwrap();
        assert!(!la.average[0].2.track_op(), "the starting average records its copy from the variable");
        for step in 1..=3 {
            var.set(&(var.as_tensor() + 1.0).unwrap()).unwrap();
            la.after_step(&StepEnd { step, total: 10, params: &params }).unwrap();
            assert!(!la.average[0].2.track_op(), "step {step}: the average records the operations that made it");
        }
    }

    #[test]
    fn airbench_decay() {
        let c = LookaheadConfig::default();
        assert!((c.decay(480, 480) - 0.95f64.powi(5)).abs() < 1e-12);
        assert!((c.decay(240, 480) - 0.95f64.powi(5) / 8.0).abs() < 1e-12);
    }
}

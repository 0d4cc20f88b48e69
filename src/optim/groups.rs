//! Parameter groups: some parameters train with their own learning rate and weight decay, or only
//! for the first epochs (PyTorch's `param_groups`).
//!
//! airbench94 steps its batch-norm shifts at 64× the base learning rate (with the weight decay
//! scaled down to match) and trains its whitening layer's bias for the first 3 epochs only. A
//! [`ParamGroup`] names such parameters by a pattern; [`GroupedOptimizer`] runs one optimizer
//! per group, of the base kind unless the group names its own (airbench94's Muon variant steps its
//! convolution filters with Muon and the rest with Nesterov SGD), and the one training loop steps
//! them together.

use super::{AnyOptimizer, NamedVar, OptimizerConfig, OptimizerKind, OptimizerState};
use candle_core::{backprop::GradStore, Result, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Parameters that train differently from the rest; saved in the training configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamGroup {
    /// Which parameters: a name pattern where `*` matches any characters, e.g. `norms.*.bias`.
    pub names: String,
    /// Their learning rate, as a multiple of the scheduled base rate.
    pub lr_scale: f64,
    /// Their weight decay, as a multiple of the base weight decay.
    pub weight_decay_scale: f64,
    /// Trained for the first this-many epochs only, then left as they are (`None`: throughout).
    pub epochs: Option<usize>,
    /// Their own optimizer (`None`: the base one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimizer: Option<OptimizerKind>,
    /// Their own momentum coefficient (`None`: the base one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub momentum: Option<f64>,
}

impl ParamGroup {
    /// Parameters matching `names`, trained like the rest but at `lr_scale` times the rate and
    /// `weight_decay_scale` times the weight decay.
    pub fn scaled(names: &str, lr_scale: f64, weight_decay_scale: f64) -> Self {
        ParamGroup { names: names.into(), lr_scale, weight_decay_scale, epochs: None, optimizer: None, momentum: None }
    }

    /// Whether `name` matches this group's pattern.
    pub fn matches(&self, name: &str) -> bool {
        glob(self.names.as_bytes(), name.as_bytes())
    }
}

/// `*` matches any run of characters (none included); everything else matches itself.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| glob(rest, &name[i..])),
        Some((c, rest)) => name.first() == Some(c) && glob(rest, &name[1..]),
    }
}

/// One optimizer per group plus one for the parameters no group names.
#[derive(Debug)]
pub struct GroupedOptimizer {
    parts: Vec<Part>,
}

#[derive(Debug)]
struct Part {
    lr_scale: f64,
    epochs: Option<usize>,
    opt: AnyOptimizer,
}

impl GroupedOptimizer {
    /// Builds the optimizers: each parameter joins the first group whose pattern matches its name,
    /// the others train with `cfg` as it is. Groups that match nothing are skipped.
    pub fn new(cfg: &OptimizerConfig, groups: &[ParamGroup], params: Vec<NamedVar>) -> Result<Self> {
        let mut members: Vec<Vec<NamedVar>> = vec![vec![]; groups.len() + 1];
        for p in params {
            let g = groups.iter().position(|g| g.matches(&p.name)).unwrap_or(groups.len());
            members[g].push(p);
        }
        let mut parts = vec![];
        for (i, vars) in members.into_iter().enumerate() {
            if vars.is_empty() {
                continue;
            }
            let (lr_scale, wd_scale, epochs) = match groups.get(i) {
                Some(g) => (g.lr_scale, g.weight_decay_scale, g.epochs),
                None => (1.0, 1.0, None),
            };
            let mut c =
                OptimizerConfig { lr: cfg.lr * lr_scale, weight_decay: cfg.weight_decay * wd_scale, ..cfg.clone() };
            if let Some(g) = groups.get(i) {
                c.kind = g.optimizer.unwrap_or(c.kind);
                c.momentum = g.momentum.unwrap_or(c.momentum);
            }
            parts.push(Part { lr_scale, epochs, opt: AnyOptimizer::new(&c, vars)? });
        }
        Ok(GroupedOptimizer { parts })
    }

    /// Applies one update from `grads` during `epoch` (0-based): groups past their epochs stay.
    pub fn step(&mut self, grads: &GradStore, epoch: usize) -> Result<()> {
        for p in &mut self.parts {
            if p.epochs.is_none_or(|e| epoch < e) {
                p.opt.step(grads)?;
            }
        }
        Ok(())
    }

    /// Sets the base learning rate; each group gets its multiple.
    pub fn set_learning_rate(&mut self, lr: f64) {
        for p in &mut self.parts {
            p.opt.set_learning_rate(lr * p.lr_scale);
        }
    }
}

impl OptimizerState for GroupedOptimizer {
    fn state(&self) -> Vec<(String, Tensor)> {
        let parts = self.parts.iter().enumerate();
        parts.flat_map(|(i, p)| p.opt.state().into_iter().map(move |(name, t)| (part_key(i, name), t))).collect()
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        for (i, p) in self.parts.iter_mut().enumerate() {
            // Each part reads its own optimizer-wide entries under their plain names.
            let mut own = state.clone();
            for key in OPTIMIZER_WIDE {
                own.remove(*key);
                if let Some(t) = state.get(&part_key(i, key.to_string())) {
                    own.insert(key.to_string(), t.clone());
                }
            }
            p.opt.load_state(&own)?;
        }
        Ok(())
    }
}

/// State entries that belong to an optimizer rather than to a parameter (Adam's step count):
/// each part of a [`GroupedOptimizer`] has its own.
const OPTIMIZER_WIDE: &[&str] = &["adam.step"];

/// The name part `i`'s state entry `name` is saved under: the first part's entries keep their names
/// (so files from before parameter groups load), a later part's optimizer-wide ones get `#i`.
fn part_key(i: usize, name: String) -> String {
    if i > 0 && OPTIMIZER_WIDE.contains(&name.as_str()) {
        format!("{name}#{i}")
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::OptimizerKind;
    use candle_core::{Device, Var};

    /// Two groups of AdamW each keep a step count; both are saved, under different names, and each
    /// part reads its own back.
    #[test]
    fn each_part_saves_and_loads_its_own_step_count() {
        let dev = Device::Cpu;
        let var =
            |name: &str| NamedVar { name: name.into(), var: Var::zeros(2, candle_core::DType::F32, &dev).unwrap() };
        let cfg = OptimizerConfig::new(OptimizerKind::Adamw, 0.1);
        let groups = [ParamGroup { epochs: Some(1), ..ParamGroup::scaled("head.*", 1.0, 1.0) }];
        let mut opt = GroupedOptimizer::new(&cfg, &groups, vec![var("head.w"), var("body.w")]).unwrap();
        let params = [opt.parts[0].opt.state().len(), opt.parts[1].opt.state().len()];
        let state = opt.state();
        let names: Vec<&str> = state.iter().map(|(n, _)| n.as_str()).collect();
        let unique: std::collections::HashSet<&&str> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "no two entries share a name: {names:?}");
        assert_eq!(names.len(), params[0] + params[1]);
        let mut map: HashMap<String, Tensor> = state.into_iter().map(|(n, t)| (n, t.copy().unwrap())).collect();
        map.insert("adam.step#1".into(), Tensor::new(&[7f32], &dev).unwrap());
        opt.load_state(&map).unwrap();
        let steps: Vec<f32> = opt
            .parts
            .iter()
            .map(|p| {
                p.opt
                    .state()
                    .into_iter()
                    .find(|(n, _)| n == "adam.step")
                    .map_or(-1.0, |(_, t)| t.to_vec1::<f32>().unwrap()[0])
            })
            .collect();
        assert_eq!(steps[1], 7.0, "the second part read its own step count: {steps:?}");
        assert_ne!(steps[0], 7.0);
    }

    #[test]
    fn patterns() {
        let g = ParamGroup::scaled("norms.*.bias", 1.0, 1.0);
        assert!(g.matches("norms.3.bias"));
        assert!(g.matches("norms.12.bias"));
        assert!(!g.matches("norms.3.weight"));
        assert!(!g.matches("features.3.bias"));
        assert!(glob(b"*", b""));
        assert!(glob(b"whiten.bias", b"whiten.bias"));
        assert!(!glob(b"whiten.bias", b"whiten.bias2"));
    }

    /// Plain SGD, base rate 0.1: the grouped parameter moves 10× as far, the one limited to one
    /// epoch stops moving in the second, the rest move at the base rate.
    #[test]
    fn groups_have_their_own_rate_and_epochs() {
        let dev = Device::Cpu;
        let var =
            |name: &str| NamedVar { name: name.into(), var: Var::ones(1, candle_core::DType::F32, &dev).unwrap() };
        let (a, b, c) = (var("norms.0.bias"), var("whiten.bias"), var("features.0.weight"));
        let groups = vec![
            ParamGroup::scaled("norms.*.bias", 10.0, 0.0),
            ParamGroup { epochs: Some(1), ..ParamGroup::scaled("whiten.bias", 1.0, 1.0) },
        ];
        let cfg = OptimizerConfig::new(OptimizerKind::Sgd, 0.1);
        let mut opt = GroupedOptimizer::new(&cfg, &groups, vec![a.clone(), b.clone(), c.clone()]).unwrap();
        let value = |v: &NamedVar| v.var.as_tensor().to_vec1::<f32>().unwrap()[0];
        for epoch in 0..2 {
            let loss = (a.var.as_tensor() + b.var.as_tensor()).unwrap().add(c.var.as_tensor()).unwrap();
            let grads = loss.sum_all().unwrap().backward().unwrap();
            opt.set_learning_rate(0.1);
            opt.step(&grads, epoch).unwrap();
        }
        assert!((value(&a) - (1.0 - 2.0 * 1.0)).abs() < 1e-6, "grouped: {}", value(&a));
        assert!((value(&b) - 0.9).abs() < 1e-6, "one epoch only: {}", value(&b));
        assert!((value(&c) - 0.8).abs() < 1e-6, "base rate: {}", value(&c));
    }
}

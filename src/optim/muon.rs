//! Muon ("MomentUm Orthogonalized by Newton-Schulz", Keller Jordan, 2024; used on the convolution
//! filters of airbench94's faster variant, `airbench94_muon.py`): Nesterov momentum whose update
//! for each weight matrix is replaced by the nearest semi-orthogonal matrix, so every direction of
//! the update moves at the same rate whatever the gradient's scale.
//!
//! For a parameter of shape `[out, ...]` the gradient is read as an `out × rest` matrix `G`:
//! `v = μv + G`, `U = G + μv` (Nesterov) or `v`, then `W ← W·sqrt(out)/‖W‖` (the weights kept at
//! a fixed Frobenius norm, when [`MuonConfig::normalize`]) and `W ← W − lr·NS(U)`, where `NS` runs
//! [`MuonConfig::ns_steps`] quintic Newton-Schulz iterations `X ← aX + (bA + cA²)X`, `A = XXᵀ`,
//! from `X = U/‖U‖` with `(a, b, c) = (3.4445, −4.7750, 2.0315)`. These coefficients trade
//! convergence for slope at zero: the result's singular values lie around 1 rather than at 1
//! (between 0.5 and 1.25 after 5 iterations on a matrix whose singular values span two orders of
//! magnitude, in this module's test), which the original reports trains as well. kindling computes
//! it in f32 (the original in bf16 on the GPU).
//!
//! Biases and other parameters of rank below 2 have no matrix to orthogonalize: they take the
//! plain (Nesterov) momentum step at the same rate. Recipes put them in their own
//! [`ParamGroup`](super::ParamGroup) with another optimizer, as airbench94's Muon variant does.

use super::{anonymous, restore, zeros_like, NamedVar, OptimizerState};
use candle_core::{backprop::GradStore, Result, Tensor, Var};
use std::collections::HashMap;

/// The Newton-Schulz iterations an [`OptimizerConfig`](super::OptimizerConfig) Muon runs
/// (airbench94's Muon variant's 3).
pub const NS_STEPS: usize = 3;

/// The quintic iteration's coefficients.
const NS_COEFFS: (f64, f64, f64) = (3.4445, -4.7750, 2.0315);

/// Muon's hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MuonConfig {
    /// Learning rate: the step along each orthogonalized direction.
    pub lr: f64,
    /// Momentum coefficient μ.
    pub momentum: f64,
    /// Nesterov momentum (`G + μv`) rather than the momentum buffer itself.
    pub nesterov: bool,
    /// Newton-Schulz iterations.
    pub ns_steps: usize,
    /// Rescale each weight tensor to Frobenius norm `sqrt(out)` before each step.
    pub normalize: bool,
}

#[derive(Debug)]
struct Slot {
    p: NamedVar,
    velocity: Var,
}

/// The Muon optimizer.
#[derive(Debug)]
pub struct Muon {
    slots: Vec<Slot>,
    cfg: MuonConfig,
}

impl Muon {
    /// Builds the optimizer over named parameters.
    pub fn with_names(params: Vec<NamedVar>, cfg: MuonConfig) -> Result<Self> {
        let slots = params
            .into_iter()
            .filter(|p| p.var.dtype().is_float())
            .map(|p| Ok(Slot { velocity: zeros_like(&p.var)?, p }))
            .collect::<Result<_>>()?;
        Ok(Muon { slots, cfg })
    }
}

/// The semi-orthogonal matrix nearest to `g` (a 2-D tensor), approximately: `steps` quintic
/// Newton-Schulz iterations from `g / ‖g‖`. The result has `g`'s shape and singular vectors, its
/// singular values pushed towards 1.
pub fn orthogonalize(g: &Tensor, steps: usize) -> Result<Tensor> {
    let (rows, cols) = g.dims2()?;
    let (a, b, c) = NS_COEFFS;
    let norm = g.sqr()?.sum_all()?.sqrt()?.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
    let mut x = (g / (norm + 1e-7))?;
    // Iterate on the wide orientation: X·Xᵀ is then the smaller square.
    let tall = rows > cols;
    if tall {
        x = x.t()?.contiguous()?;
    }
    for _ in 0..steps {
        let xt = x.t()?.contiguous()?;
        let gram = x.matmul(&xt)?;
        let poly = ((&gram * b)? + (gram.matmul(&gram)? * c)?)?;
        x = ((&x * a)? + poly.matmul(&x)?)?;
    }
    if tall {
        x = x.t()?.contiguous()?;
    }
    Ok(x)
}

impl candle_nn::Optimizer for Muon {
    type Config = MuonConfig;

    fn new(vars: Vec<Var>, cfg: MuonConfig) -> Result<Self> {
        Self::with_names(anonymous(vars), cfg)
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        let MuonConfig { lr, momentum: mu, nesterov, ns_steps, normalize } = self.cfg;
        for s in &self.slots {
            let Some(g) = grads.get(&s.p.var) else { continue };
            let v = ((s.velocity.as_tensor() * mu)? + g)?;
            s.velocity.set(&v)?;
            let u = if nesterov { (g + (v * mu)?)? } else { v };
            let w = s.p.var.as_tensor();
            if w.rank() < 2 {
                s.p.var.set(&(w - (u * lr)?)?)?;
                continue;
            }
            let dims = w.dims().to_vec();
            let out = dims[0];
            let w = if normalize {
                let norm = w.sqr()?.sum_all()?.sqrt()?.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
                (w * ((out as f64).sqrt() / norm.max(1e-30)))?
            } else {
                w.clone()
            };
            let update = orthogonalize(&u.reshape((out, ()))?, ns_steps)?.reshape(dims)?;
            s.p.var.set(&(w - (update * lr)?)?)?;
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

impl OptimizerState for Muon {
    fn state(&self) -> Vec<(String, Tensor)> {
        self.slots.iter().map(|s| (format!("{}.velocity", s.p.name), s.velocity.as_tensor().clone())).collect()
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        for s in &self.slots {
            restore(&s.velocity, state, &format!("{}.velocity", s.p.name))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::Optimizer;

    /// Singular values of a small matrix, from the eigenvalues of `MᵀM` by Jacobi rotations.
    fn singular_values(m: &Tensor) -> Vec<f64> {
        let m = m.to_dtype(DType::F64).unwrap();
        let mut a: Vec<Vec<f64>> = m.t().unwrap().matmul(&m).unwrap().to_vec2().unwrap();
        let n = a.len();
        for _ in 0..100 {
            for p in 0..n {
                for q in p + 1..n {
                    if a[p][q].abs() < 1e-15 {
                        continue;
                    }
                    let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                    let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                    let (c, s) = (1.0 / (t * t + 1.0).sqrt(), t / (t * t + 1.0).sqrt());
                    for row in a.iter_mut() {
                        let (akp, akq) = (row[p], row[q]);
                        row[p] = c * akp - s * akq;
                        row[q] = s * akp + c * akq;
                    }
                    let (low, high) = a.split_at_mut(q);
                    for (x, y) in low[p].iter_mut().zip(high[0].iter_mut()) {
                        let (apk, aqk) = (*x, *y);
                        *x = c * apk - s * aqk;
                        *y = s * apk + c * aqk;
                    }
                }
            }
        }
        let mut sv: Vec<f64> = (0..n).map(|i| a[i][i].max(0.0).sqrt()).collect();
        sv.sort_by(|x, y| y.partial_cmp(x).unwrap());
        sv
    }

    /// A matrix with singular values spread over two orders of magnitude comes out with all of
    /// them near 1 (the quintic's band), tall or wide, and any scale of the input gives the same.
    #[test]
    fn newton_schulz_flattens_the_spectrum() {
        let dev = Device::Cpu;
        for (rows, cols) in [(6, 9), (9, 6)] {
            // A fixed pseudo-random matrix, its columns stretched so the singular values spread.
            let vals: Vec<f32> = (0..rows * cols).map(|i| ((i as f32 * 12.9898).sin() * 43758.547).fract()).collect();
            let g = Tensor::from_vec(vals, (rows, cols), &dev).unwrap();
            let scales: Vec<f32> = (0..cols).map(|j| 10f32.powf(-2.0 * j as f32 / cols as f32)).collect();
            let g = g.broadcast_mul(&Tensor::new(scales.as_slice(), &dev).unwrap()).unwrap();
            let before = singular_values(&g);
            assert!(before[0] / before[before.len().min(rows) - 1] > 50.0, "spread input: {before:?}");
            let o = orthogonalize(&g, 5).unwrap();
            assert_eq!(o.dims2().unwrap(), (rows, cols));
            let after = singular_values(&o);
            let k = rows.min(cols);
            for s in &after[..k] {
                assert!((0.5..1.25).contains(s), "{rows}x{cols}: singular values {after:?}");
            }
            let scaled = orthogonalize(&(g * 1000.0).unwrap(), 5).unwrap();
            let diff = (scaled - &o).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(diff < 1e-4, "scale-free: {diff}");
        }
    }

    /// One step by hand: the velocity, the weight renormalized to norm sqrt(out), the step of
    /// length lr along the orthogonalized update; a bias takes the momentum step.
    #[test]
    fn one_step_matches_the_definition() {
        let dev = Device::Cpu;
        let w = Var::from_tensor(&Tensor::randn(0f32, 1.0, (4, 2, 3), &dev).unwrap()).unwrap();
        let b = Var::from_tensor(&Tensor::new(&[1f32, 2.0], &dev).unwrap()).unwrap();
        let cfg = MuonConfig { lr: 0.1, momentum: 0.6, nesterov: true, ns_steps: 3, normalize: true };
        let mut opt = Muon::new(vec![w.clone(), b.clone()], cfg).unwrap();
        let target = Tensor::randn(0f32, 1.0, (4, 2, 3), &dev).unwrap();
        let loss = (w.as_tensor() - &target)
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .add(&b.as_tensor().sum_all().unwrap())
            .unwrap();
        let grads = loss.backward().unwrap();
        let g = grads.get(&w).unwrap().clone();
        let w0 = w.as_tensor().copy().unwrap();
        opt.step(&grads).unwrap();
        // First step: v = g, Nesterov update g + 0.6·g.
        let u = (&g * 1.6).unwrap();
        let norm = w0.sqr().unwrap().sum_all().unwrap().sqrt().unwrap().to_scalar::<f32>().unwrap();
        let w_norm = (w0 * (2.0 / norm as f64)).unwrap();
        let expect = (w_norm
            - (orthogonalize(&u.reshape((4, 6)).unwrap(), 3).unwrap().reshape((4, 2, 3)).unwrap() * 0.1))
            .unwrap();
        let diff = (w.as_tensor() - expect).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-6, "weights: {diff}");
        // The bias's gradient is 1: v = 1, step 0.1·1.6.
        let bias: Vec<f32> = b.as_tensor().to_vec1().unwrap();
        assert!((bias[0] - (1.0 - 0.16)).abs() < 1e-6 && (bias[1] - (2.0 - 0.16)).abs() < 1e-6, "{bias:?}");
        // The velocity is saved and restored by name.
        let state: HashMap<String, Tensor> = opt.state().into_iter().map(|(n, t)| (n, t.copy().unwrap())).collect();
        assert_eq!(state.len(), 2);
        let v = state["param.0.velocity"].copy().unwrap();
        opt.load_state(&state).unwrap();
        assert!(v.eq(&g).unwrap().min_all().unwrap().to_scalar::<u8>().unwrap() == 1);
    }
}

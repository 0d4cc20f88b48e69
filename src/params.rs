//! Model parameters: a [`candle_nn::VarMap`] whose new variables are drawn from a seeded RNG.
//!
//! candle's CPU backend cannot be seeded, so `VarBuilder::from_varmap` gives different weights on
//! every run. [`Params`] draws each new variable on the host from a generator seeded by `--seed`
//! and the variable's name, following the [`Init`] hint the layer asked for: the same seed gives
//! the same model, whatever order layers are built in. [`randn`] is the seeded `Tensor::randn`
//! for inputs (tests, benchmarks).

use candle_core::{DType, Device, Result, Shape, Tensor, Var};
use candle_nn::init::{FanInOut, NormalOrUniform};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder, VarMap};
use rand::{Rng, SeedableRng};

/// Named trainable parameters with seeded initialization.
#[derive(Clone)]
pub struct Params {
    map: VarMap,
    seed: u64,
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Params").field("seed", &self.seed).field("tensors", &self.named_vars().len()).finish()
    }
}

impl Params {
    /// An empty set whose new variables derive from `seed`.
    pub fn new(seed: u64) -> Self {
        Params { map: VarMap::new(), seed }
    }

    /// A builder that creates missing variables in this set.
    pub fn var_builder(&self, dtype: DType, device: &Device) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(self.clone()), dtype, device.clone())
    }

    /// The variables sorted by name.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        let data = self.map.data().lock().unwrap();
        let mut v: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The variable called `name`.
    pub fn get(&self, name: &str) -> Option<Var> {
        self.map.data().lock().unwrap().get(name).cloned()
    }

    /// Total number of scalar parameters.
    pub fn count(&self) -> usize {
        self.named_vars().iter().map(|(_, v)| v.elem_count()).sum()
    }

    fn init_tensor(&self, shape: &Shape, name: &str, init: Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        let n = shape.elem_count();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(name, &mut h);
        let mut rng = rand::rngs::StdRng::seed_from_u64(self.seed ^ std::hash::Hasher::finish(&h));
        let values: Vec<f64> = match init {
            Init::Const(c) => vec![c; n],
            Init::Randn { mean, stdev } => (0..n).map(|_| mean + stdev * normal(&mut rng)).collect(),
            Init::Uniform { lo, up } => (0..n).map(|_| rng.random_range(lo..up)).collect(),
            Init::Kaiming { dist, fan, non_linearity } => {
                let fan = match fan {
                    FanInOut::FanIn | FanInOut::FanOut => fan.for_shape(shape),
                };
                let std = non_linearity.gain() / (fan.max(1) as f64).sqrt();
                match dist {
                    NormalOrUniform::Normal => (0..n).map(|_| std * normal(&mut rng)).collect(),
                    NormalOrUniform::Uniform => {
                        let b = 3f64.sqrt() * std;
                        (0..n).map(|_| rng.random_range(-b..b)).collect()
                    }
                }
            }
        };
        Tensor::from_vec(values, shape.clone(), dev)?.to_dtype(dtype)
    }
}

/// One draw from N(0, 1) (Box-Muller).
fn normal(rng: &mut rand::rngs::StdRng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// An f32 tensor of `shape` drawn from N(`mean`, `stdev`²) by a generator seeded with `seed`: a
/// `Tensor::randn` that gives the same values on every run (candle's CPU backend cannot be
/// seeded), so that a test that fails on it can be replayed.
///
/// ```
/// let dev = candle_core::Device::Cpu;
/// let a = kindling::params::randn(7, (2, 3), 0.0, 1.0, &dev)?;
/// let b = kindling::params::randn(7, (2, 3), 0.0, 1.0, &dev)?;
/// assert_eq!(a.to_vec2::<f32>()?, b.to_vec2::<f32>()?);
/// # Ok::<(), candle_core::Error>(())
/// ```
pub fn randn(seed: u64, shape: impl Into<Shape>, mean: f64, stdev: f64, device: &Device) -> Result<Tensor> {
    let shape = shape.into();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let values: Vec<f32> = (0..shape.elem_count()).map(|_| (mean + stdev * normal(&mut rng)) as f32).collect();
    Tensor::from_vec(values, shape, device)
}

impl SimpleBackend for Params {
    fn get(&self, s: Shape, name: &str, h: Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        if let Some(v) = self.get(name) {
            if v.shape() != &s {
                candle_core::bail!("parameter {name}: shape {:?}, the model asks for {:?}", v.dims(), s.dims())
            }
            return Ok(v.as_tensor().clone());
        }
        let t = self.init_tensor(&s, name, h, dtype, dev)?;
        let var = Var::from_tensor(&t)?;
        let out = var.as_tensor().clone();
        self.map.data().lock().unwrap().insert(name.to_string(), var);
        Ok(out)
    }

    fn get_unchecked(&self, name: &str, _dtype: DType, _dev: &Device) -> Result<Tensor> {
        match self.get(name) {
            Some(v) => Ok(v.as_tensor().clone()),
            None => candle_core::bail!("no parameter named {name}"),
        }
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.map.data().lock().unwrap().contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_weights() {
        let draw = |seed| {
            let p = Params::new(seed);
            let vb = p.var_builder(DType::F32, &Device::Cpu);
            vb.get_with_hints((4, 5), "w", candle_nn::init::DEFAULT_KAIMING_NORMAL).unwrap().to_vec2::<f32>().unwrap()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
    }
}

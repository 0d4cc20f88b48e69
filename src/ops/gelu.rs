//! The exact GELU, `x·Φ(x)` with `Φ` the standard normal CDF (PyTorch's default `nn.GELU()`), as one
//! op with a one-sweep backward pass.
//!
//! candle's `gelu_erf` differentiates through a chain of element-wise tensor ops (an erf, an exp,
//! several products), each writing a full tensor; the recipe network applies GELU to ~80 M values
//! per batch of 1,024, so here the forward and the backward pass are each one sweep across the
//! cores. `Φ` uses an erf accurate to 1.5e-7 (Abramowitz & Stegun 7.1.26), below f32's rounding of
//! the results it feeds.
//!
//! ```
//! use candle_core::{Device, Var};
//! let xs = Var::new(&[-1f32, 0.0, 2.0], &Device::Cpu)?;
//! let ys = kindling::ops::gelu(&xs)?;
//! let g = ys.sum_all()?.backward()?;
//! assert!((ys.to_vec1::<f32>()?[2] - 1.9545).abs() < 1e-4);
//! assert!((g.get(&xs).unwrap().to_vec1::<f32>()?[1] - 0.5).abs() < 1e-6); // Φ(0)
//! # Ok::<(), candle_core::Error>(())
//! ```

use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::storage::{contiguous_f32, with_f32};

const NAME: &str = "kindling-gelu";

/// Values per rayon task.
const CHUNK: usize = 1 << 14;

/// `x·Φ(x)` element-wise, differentiable. On the CPU in `f32` kindling's kernels run both passes;
/// elsewhere (or for other dtypes) it is candle's `gelu_erf`.
pub fn gelu(xs: &Tensor) -> Result<Tensor> {
    if !xs.device().is_cpu() || xs.dtype() != DType::F32 {
        return xs.gelu_erf();
    }
    xs.contiguous()?.apply_op1(Gelu)
}

struct Gelu;

/// erf(x), |error| <= 1.5e-7 (Abramowitz & Stegun 7.1.26).
#[inline]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t * (0.254_829_6 + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let y = 1.0 - poly * (-a * a).exp();
    y.copysign(x)
}

/// Φ(x), the standard normal CDF.
#[inline]
pub(super) fn cdf(x: f32) -> f32 {
    0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// GELU's derivative: Φ(x) + x·φ(x).
#[inline]
pub(super) fn derivative(x: f32) -> f32 {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    cdf(x) + x * INV_SQRT_2PI * (-0.5 * x * x).exp()
}

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cpu_fwd(&self, xs: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(NAME, xs, layout)?;
        let mut ys = vec![0f32; x.len()];
        ys.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).for_each(|(y, x)| {
            for (y, &x) in y.iter_mut().zip(x) {
                *y = x * cdf(x);
            }
        });
        Ok((CpuStorage::F32(ys), layout.shape().clone()))
    }

    fn bwd(&self, xs: &Tensor, _ys: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let dx = with_f32(NAME, xs, |x| {
            with_f32(NAME, grad, |g| {
                let mut dx = vec![0f32; x.len()];
                dx.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).zip(g.par_chunks(CHUNK)).for_each(|((d, x), g)| {
                    for ((d, &x), &g) in d.iter_mut().zip(x).zip(g) {
                        *d = g * derivative(x);
                    }
                });
                Ok(dx)
            })
        })?;
        Ok(Some(Tensor::from_vec(dx, xs.shape(), &Device::Cpu)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Var;

    /// Values and gradients match candle's exact `gelu_erf` (and its autograd) within f32 noise.
    #[test]
    fn matches_candles_gelu_erf() {
        let dev = Device::Cpu;
        let xs = Var::from_tensor(&crate::params::randn(1, 50_000, 0.0, 3.0, &dev).unwrap()).unwrap();
        let ours = gelu(&xs).unwrap();
        let want = xs.gelu_erf().unwrap();
        let diff = (&ours - &want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 2e-6, "values differ by {diff}");
        let w = crate::params::randn(2, 50_000, 0.0, 1.0, &dev).unwrap();
        let g1 = (ours * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let g2 = (want * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let (g1, g2) = (g1.get(&xs).unwrap(), g2.get(&xs).unwrap());
        let diff = (g1 - g2).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-5, "gradients differ by {diff}");
    }
}

//! The exact GELU, `x·Φ(x)` with `Φ` the standard normal CDF (PyTorch's default `nn.GELU()`), as one
//! op with a one-sweep backward pass.
//!
//! candle's `gelu_erf` differentiates through a chain of element-wise tensor ops (an erf, an exp,
//! several products), each writing a full tensor; the recipe network applies GELU to ~80 M values
//! per batch of 1,024, so here the forward and the backward pass are each one sweep across the
//! cores. `Φ` uses an erf accurate to 1.5e-7 (Abramowitz & Stegun 7.1.26), below f32's rounding of
//! the results it feeds.
//!
//! Its exponentials are computed inline (`exp_nonpositive`: a power of two from the exponent
//! bits, a degree-7 polynomial on the rest) instead of calling the C library's `expf`, one value at
//! a time: the loops (`forward_affine`, `backward_affine`, also used by batch norm's fused GELU)
//! then compile to vector instructions, 16 values at a time with AVX-512. `expf` had taken 6% of
//! airbench94's training step.
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

use super::simd::{multiversion, Level};
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
/// `eˣ` for `x ≤ 0`, within 2 ulp, in plain arithmetic the compiler vectorizes: `x = n·ln 2 + r`
/// with `n` an integer and `|r| ≤ ln 2 / 2`, `eʳ` by its Taylor polynomial to degree 7 (error below
/// `r⁸/8! ≈ 5e-9` relative), `2ⁿ` written into the exponent bits. Below −87 (where `eˣ` leaves
/// f32's normal range) it returns `e⁻⁸⁷ ≈ 1.6e-38`, which every use here multiplies into nothing.
#[inline(always)]
pub(super) fn exp_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 in two parts: `n·LN2_HI` is exact for the `n` that occur (|n| ≤ 126).
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // 1.5·2²³: adding it rounds to the nearest integer and leaves that integer in the low bits.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 0.0);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    let bits = (t.to_bits() as i32 - ROUND.to_bits() as i32 + 127) << 23;
    p * f32::from_bits(bits as u32)
}

/// Abramowitz & Stegun 7.1.26 (error below 1.5e-7).
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t * (0.254_829_6 + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let y = 1.0 - poly * exp_nonpositive(-a * a);
    y.copysign(x)
}

/// `Φ(x)`, the standard normal CDF.
#[inline(always)]
pub(super) fn cdf(x: f32) -> f32 {
    0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// `d/dx x·Φ(x) = Φ(x) + x·φ(x)`.
#[inline(always)]
pub(super) fn derivative(x: f32) -> f32 {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    cdf(x) + x * INV_SQRT_2PI * exp_nonpositive(-0.5 * x * x)
}

multiversion! {
    /// `yᵢ = GELU(xᵢ·a + b)` (`a = 1`, `b = 0` for the plain op; batch norm's scale and shift for
    /// its fused activation).
    pub(super) fn forward_affine(level: Level, y: &mut [f32], x: &[f32], a: f32, b: f32) {
        for (y, &x) in y.iter_mut().zip(x) {
            let z = x * a + b;
            *y = z * cdf(z);
        }
    }
}

multiversion! {
    /// `dᵢ = gᵢ·GELU'(xᵢ·a + b)`.
    pub(super) fn backward_affine(level: Level, d: &mut [f32], x: &[f32], g: &[f32], a: f32, b: f32) {
        for ((d, &x), &g) in d.iter_mut().zip(x).zip(g) {
            *d = g * derivative(x * a + b);
        }
    }
}

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cpu_fwd(&self, xs: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(NAME, xs, layout)?;
        let mut ys = vec![0f32; x.len()];
        let level = Level::chosen();
        ys.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).for_each(|(y, x)| forward_affine(level, y, x, 1.0, 0.0));
        Ok((CpuStorage::F32(ys), layout.shape().clone()))
    }

    fn bwd(&self, xs: &Tensor, _ys: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let dx = with_f32(NAME, xs, |x| {
            with_f32(NAME, grad, |g| {
                let mut dx = vec![0f32; x.len()];
                let level = Level::chosen();
                dx.par_chunks_mut(CHUNK)
                    .zip(x.par_chunks(CHUNK))
                    .zip(g.par_chunks(CHUNK))
                    .for_each(|((d, x), g)| backward_affine(level, d, x, g, 1.0, 0.0));
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

    /// Within 2 ulp of the C library's `expf` down to −87, and negligible below; every SIMD copy of
    /// the loops gives the same bits.
    #[test]
    fn inline_exp_is_accurate_and_the_same_at_every_level() {
        let mut worst = 0f32;
        for i in 0..=2_000_000 {
            let x = -87.0 * i as f32 / 2_000_000.0;
            let (got, want) = (exp_nonpositive(x), x.exp());
            worst = worst.max((got - want).abs() / (want * f32::EPSILON));
        }
        assert!(worst <= 2.0, "worst error {worst} ulp");
        for x in [-87.5f32, -100.0, -1e30, f32::NEG_INFINITY] {
            assert!(exp_nonpositive(x) < 1.7e-38, "{x}");
        }
        assert_eq!(exp_nonpositive(0.0), 1.0);
        let x: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) / 37.0).collect();
        let g: Vec<f32> = (0..1000).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
        let run = |level: Level| {
            let (mut y, mut d) = (vec![0f32; x.len()], vec![0f32; x.len()]);
            forward_affine(level, &mut y, &x, 1.5, -0.25);
            backward_affine(level, &mut d, &x, &g, 1.5, -0.25);
            (y, d)
        };
        let base = run(Level::Baseline);
        for level in Level::tested() {
            assert_eq!(run(level), base, "{level:?}");
        }
    }

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

//! Batch normalization as one op with its own backward pass.
//!
//! candle 0.11's `BatchNorm` in training mode transposes the batch to channel-major order, makes
//! it contiguous, and builds the normalization out of a dozen broadcast ops, each of which
//! allocates and, in the backward pass, is differentiated on its own: on kindling's default
//! CIFAR-10 CNN it cost more than the convolutions' backward pass and most of the memory. Here
//! the forward pass is two sweeps over the data (statistics, then `γ·x̂ + β`) and the backward
//! pass two more (the two per-channel sums, then the input gradient), in place on `[N, C, ...]`
//! rows, across the cores.
//!
//! The gradient is the textbook one (Ioffe and Szegedy 2015), with `x̂ = (x − μ)/σ` and `M` the
//! number of values per channel:
//! `∂β = Σ dy`, `∂γ = Σ dy·x̂`, `∂x = γ/σ · (dy − ∂β/M − x̂·∂γ/M)` in training mode, where `μ` and
//! `σ` depend on `x`, and `∂x = γ/σ · dy` in evaluation mode, where they are constants.
//!
//! The activation that follows batch norm in a network (ReLU, the exact GELU) can run inside the
//! op ([`batch_norm_act_train`], [`batch_norm_act_eval`]): `y = f(γ·x̂ + β)` in the same sweep, so the
//! normalized values `z = γ·x̂ + β` are never stored (a full activation tensor less kept for the
//! backward pass: about 240 MB of the airbench94 network's step at batch 1,024). The backward pass
//! recomputes `z` from `x` and starts from `dz = dy·f'(z)`, in its first sweep. Values and gradients
//! are those of batch norm followed by the separate activation op.
//!
//! ```
//! use candle_core::{Device, Tensor, Var};
//! let dev = Device::Cpu;
//! let xs = Var::randn(3f32, 2., (8, 4, 5, 5), &dev)?;
//! let (gamma, beta) = (Var::ones(4, candle_core::DType::F32, &dev)?, Var::zeros(4, candle_core::DType::F32, &dev)?);
//! let (ys, mean, var) = kindling::ops::batch_norm_train(&xs, &gamma, &beta, 1e-5)?;
//! // Every channel now has mean 0 and variance 1.
//! let m = ys.transpose(0, 1)?.flatten_from(1)?.mean(1)?.to_vec1::<f32>()?;
//! assert!(m.iter().all(|m| m.abs() < 1e-5));
//! assert_eq!(mean.dims(), &[4]);
//! assert_eq!(var.dims(), &[4]);
//! # Ok::<(), candle_core::Error>(())
//! ```

use candle_core::{bail, CpuStorage, CustomOp3, DType, Device, Layout, Result, Shape, Tensor, D};
use rayon::prelude::*;

use super::simd::{lane_sums, Level};
use super::storage::{contiguous_f32, with_f32, zeros};

const NAME: &str = "kindling-batch-norm";

/// Batch normalization in training mode: normalizes each channel (dimension 1) of `xs` by the
/// mean and (biased) variance over the batch and every other dimension, then scales by `gamma` and
/// shifts by `beta`. Returns the output and the batch's per-channel mean and biased variance
/// (detached), from which the caller updates its running statistics.
///
/// On the CPU in `f32` this is kindling's op; elsewhere (CUDA, Metal, other dtypes) the same
/// formula is written with candle's tensor ops and differentiated by candle.
///
/// # Shapes
/// - `xs`: `[N, C]` or `[N, C, ...]`; `gamma`, `beta`: `[C]`
/// - result: `xs`'s shape, `[C]`, `[C]`
pub fn batch_norm_train(xs: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<(Tensor, Tensor, Tensor)> {
    batch_norm_act_train(xs, gamma, beta, eps, NormActivation::Identity)
}

/// An activation applied inside the batch-norm op, to `z = γ·x̂ + β` (see the module's text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NormActivation {
    /// None: `y = z`.
    #[default]
    Identity,
    /// `max(z, 0)`, with candle's gradient (1 where `z >= 0`).
    Relu,
    /// The exact GELU `z·Φ(z)`, as [`super::gelu()`].
    Gelu,
}

impl NormActivation {
    /// `f(z)`.
    #[inline]
    fn value(self, z: f32) -> f32 {
        match self {
            NormActivation::Identity => z,
            NormActivation::Relu => z.max(0.0),
            NormActivation::Gelu => z * super::gelu::cdf(z),
        }
    }

    /// `f'(z)`.
    #[inline]
    fn derivative(self, z: f32) -> f32 {
        match self {
            NormActivation::Identity => 1.0,
            NormActivation::Relu => (z >= 0.0) as u8 as f32,
            NormActivation::Gelu => super::gelu::derivative(z),
        }
    }

    /// The activation as candle's tensor ops, for the generic path.
    fn apply(self, zs: Tensor) -> Result<Tensor> {
        match self {
            NormActivation::Identity => Ok(zs),
            NormActivation::Relu => zs.relu(),
            NormActivation::Gelu => super::gelu(&zs),
        }
    }
}

/// [`batch_norm_train`] followed by the activation `act`, as one op that does not store the
/// normalized values. Returns the activation's output and the batch's per-channel mean and biased
/// variance (detached).
///
/// # Shapes
/// As [`batch_norm_train`].
pub fn batch_norm_act_train(
    xs: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
    act: NormActivation,
) -> Result<(Tensor, Tensor, Tensor)> {
    let g = Geometry::new(xs.dims(), gamma, beta)?;
    if g.n * g.plane < 2 {
        bail!("batch_norm: training needs more than one value per channel, got shape {:?}", xs.dims())
    }
    if !fast_path(xs, gamma, beta) {
        let (ys, mean, var) = batch_norm_train_generic(xs, gamma, beta, eps)?;
        return Ok((act.apply(ys)?, mean, var));
    }
    let xs = xs.contiguous()?;
    let (mean, var) = with_f32(NAME, &xs, |x| Ok(g.stats(x)))?;
    let invstd: Vec<f32> = var.iter().map(|&v| 1.0 / (v + eps as f32).sqrt()).collect();
    let op = BatchNormOp { g, mean: mean.clone(), invstd, train: true, act };
    let ys = xs.apply_op3(gamma, beta, op)?;
    let dev = xs.device();
    Ok((ys, Tensor::from_vec(mean, g.c, dev)?, Tensor::from_vec(var, g.c, dev)?))
}

/// Batch normalization in evaluation mode: `(xs − mean) / sqrt(var + eps) · gamma + beta` per
/// channel, with `mean` and `var` constants (the running statistics).
///
/// # Shapes
/// As [`batch_norm_train`]; `mean`, `var`: `[C]`.
pub fn batch_norm_eval(
    xs: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    mean: &Tensor,
    var: &Tensor,
    eps: f64,
) -> Result<Tensor> {
    batch_norm_act_eval(xs, gamma, beta, mean, var, eps, NormActivation::Identity)
}

/// [`batch_norm_eval`] followed by the activation `act`, as one op.
///
/// # Shapes
/// As [`batch_norm_eval`].
pub fn batch_norm_act_eval(
    xs: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    mean: &Tensor,
    var: &Tensor,
    eps: f64,
    act: NormActivation,
) -> Result<Tensor> {
    let g = Geometry::new(xs.dims(), gamma, beta)?;
    if !fast_path(xs, gamma, beta) || mean.dtype() != DType::F32 || var.dtype() != DType::F32 {
        let shape = g.channel_shape(xs.rank());
        let scale = (gamma / (var + eps)?.sqrt()?)?.reshape(shape.clone())?;
        let shift = (beta - (mean * gamma / (var + eps)?.sqrt()?)?)?.reshape(shape)?;
        return act.apply(xs.broadcast_mul(&scale)?.broadcast_add(&shift)?);
    }
    let mean = mean.detach().to_vec1::<f32>()?;
    let invstd = var.detach().to_vec1::<f32>()?.iter().map(|&v| 1.0 / (v + eps as f32).sqrt()).collect();
    xs.contiguous()?.apply_op3(gamma, beta, BatchNormOp { g, mean, invstd, train: false, act })
}

/// Whether kindling's CPU kernels apply.
fn fast_path(xs: &Tensor, gamma: &Tensor, beta: &Tensor) -> bool {
    xs.device().is_cpu() && [xs, gamma, beta].iter().all(|t| t.dtype() == DType::F32)
}

/// The training-mode formula in candle's tensor ops, for devices and dtypes the kernels do not
/// cover. Statistics are computed in `f32` at least.
fn batch_norm_train_generic(xs: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<(Tensor, Tensor, Tensor)> {
    let dtype = xs.dtype();
    let internal = if matches!(dtype, DType::F16 | DType::BF16) { DType::F32 } else { dtype };
    let c = xs.dim(1)?;
    // [N, C, ...] -> [C, N·...]
    let per_channel = xs.to_dtype(internal)?.transpose(0, 1)?.contiguous()?.reshape((c, ()))?;
    let mean = per_channel.mean_keepdim(D::Minus1)?;
    let centered = per_channel.broadcast_sub(&mean)?;
    let var = centered.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = centered.broadcast_div(&(&var + eps)?.sqrt()?)?;
    let ys = normed
        .broadcast_mul(&gamma.to_dtype(internal)?.reshape((c, 1))?)?
        .broadcast_add(&beta.to_dtype(internal)?.reshape((c, 1))?)?;
    let mut dims = xs.dims().to_vec();
    dims.swap(0, 1);
    let ys = ys.reshape(dims)?.transpose(0, 1)?.to_dtype(dtype)?;
    Ok((ys, mean.flatten_all()?.detach(), var.flatten_all()?.detach()))
}

/// Sizes: `n` rows of `c` channels of `plane` values each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Geometry {
    n: usize,
    c: usize,
    plane: usize,
}

impl Geometry {
    fn new(dims: &[usize], gamma: &Tensor, beta: &Tensor) -> Result<Self> {
        if dims.len() < 2 {
            bail!("batch_norm: expected xs [N, C] or [N, C, ...], got {dims:?}")
        }
        let c = dims[1];
        if gamma.dims() != [c] || beta.dims() != [c] {
            bail!("batch_norm: {c} channels but gamma {:?} and beta {:?}", gamma.dims(), beta.dims())
        }
        Ok(Self { n: dims[0], c, plane: dims[2..].iter().product() })
    }

    fn channel_shape(&self, rank: usize) -> Vec<usize> {
        let mut shape = vec![1; rank];
        shape[1] = self.c;
        shape
    }

    fn row(&self) -> usize {
        self.c * self.plane
    }

    /// Rows per rayon task: at least 16k values, so small layers do not drown in task overhead.
    fn rows_per_task(&self) -> usize {
        (16384 / self.row().max(1)).max(1)
    }

    /// Per-channel sums over all rows of `f(row, channel, plane slice)`, accumulated in `f64`.
    ///
    /// Rows are summed in fixed blocks of [`Self::rows_per_task`] and the blocks' sums added in
    /// block order: the result does not depend on how rayon shared the blocks among threads (a
    /// `fold`/`reduce` splits where work-stealing happens to split, and floating-point addition
    /// is not associative, so the same step gave different bits from run to run).
    fn channel_sums<const K: usize>(&self, f: impl Fn(usize, usize) -> [f64; K] + Sync) -> Vec<[f64; K]> {
        let per = self.rows_per_task();
        let blocks: Vec<Vec<[f64; K]>> = (0..self.n.div_ceil(per))
            .into_par_iter()
            .map(|b| {
                let mut acc = vec![[0f64; K]; self.c];
                for row in b * per..((b + 1) * per).min(self.n) {
                    for (ch, a) in acc.iter_mut().enumerate() {
                        let v = f(row, ch);
                        for k in 0..K {
                            a[k] += v[k];
                        }
                    }
                }
                acc
            })
            .collect();
        blocks.into_iter().fold(vec![[0f64; K]; self.c], merge)
    }

    /// `dz = dy·f'(γ·x̂ + β)` into `dz`, row by row across the cores, and its per-channel sums
    /// `Σ dz` and `Σ dz·x̂` (the fused activation's first backward sweep). `scale`, `shift`: `γ/σ`
    /// and `β − μ·γ/σ` per channel, as in the forward pass.
    /// `derivative(dz, x, dy, a, b)` fills one channel's plane `dz = dy·f'(x·a + b)`.
    fn activation_gradient(
        &self,
        x: &[f32],
        dy: &[f32],
        dz: &mut [f32],
        (scale, shift): (&[f32], &[f32]),
        (mean, invstd): (&[f32], &[f32]),
        derivative: impl Fn(&mut [f32], &[f32], &[f32], f32, f32) + Sync,
    ) -> Vec<[f64; 2]> {
        let (p, row, per) = (self.plane, self.row(), self.rows_per_task());
        // Fixed blocks of rows, their sums added in block order (see `channel_sums`).
        let blocks: Vec<Vec<[f64; 2]>> = dz
            .par_chunks_mut(per * row)
            .zip(x.par_chunks(per * row).zip(dy.par_chunks(per * row)))
            .map(|(dzb, (xb, dyb))| {
                let mut acc = vec![[0f64; 2]; self.c];
                for (dzr, (xr, dyr)) in dzb.chunks_mut(row).zip(xb.chunks(row).zip(dyb.chunks(row))) {
                    for (ch, a) in acc.iter_mut().enumerate() {
                        let (k, b, mu, is) = (scale[ch], shift[ch], mean[ch], invstd[ch]);
                        let range = ch * p..(ch + 1) * p;
                        let (dzc, xc, dyc) = (&mut dzr[range.clone()], &xr[range.clone()], &dyr[range]);
                        derivative(dzc, xc, dyc, k, b);
                        let (s, sx) = lane_sums(dzc, xc, |d, v| (d, d * (v - mu) * is));
                        a[0] += s as f64;
                        a[1] += sx as f64;
                    }
                }
                acc
            })
            .collect();
        blocks.into_iter().fold(vec![[0f64; 2]; self.c], merge)
    }

    /// Per-channel mean and biased variance of `x`.
    fn stats(&self, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let p = self.plane;
        // A shift by the first row's value keeps Σx² − (Σx)²/M well conditioned for data far from 0.
        let shift: Vec<f32> = (0..self.c).map(|ch| x[ch * p]).collect();
        let sums = self.channel_sums(|row, ch| {
            let s = shift[ch];
            let vals = &x[row * self.row() + ch * p..][..p];
            let (a, b) = lane_sums(vals, vals, |v, _| {
                let d = v - s;
                (d, d * d)
            });
            [a as f64, b as f64]
        });
        let m = (self.n * p) as f64;
        let mut mean = Vec::with_capacity(self.c);
        let mut var = Vec::with_capacity(self.c);
        for (ch, [s1, s2]) in sums.into_iter().enumerate() {
            let d = s1 / m;
            mean.push((shift[ch] as f64 + d) as f32);
            var.push((s2 / m - d * d).max(0.0) as f32);
        }
        (mean, var)
    }
}

/// Element-wise sum of two lists of per-channel partial sums.
fn merge<const K: usize>(mut a: Vec<[f64; K]>, b: Vec<[f64; K]>) -> Vec<[f64; K]> {
    for (x, y) in a.iter_mut().zip(b) {
        for k in 0..K {
            x[k] += y[k];
        }
    }
    a
}

/// The op handed to candle: the statistics are computed before and kept here for the backward pass.
struct BatchNormOp {
    g: Geometry,
    mean: Vec<f32>,
    invstd: Vec<f32>,
    train: bool,
    act: NormActivation,
}

impl BatchNormOp {
    /// `γ/σ` and `β − μ·γ/σ` per channel: `z = x·scale + shift`.
    fn affine(&self, gamma: &[f32], beta: &[f32]) -> (Vec<f32>, Vec<f32>) {
        (0..self.g.c)
            .map(|ch| {
                let s = gamma[ch] * self.invstd[ch];
                (s, beta[ch] - self.mean[ch] * s)
            })
            .unzip()
    }

    /// `ys = f(x·scale + shift)` row by row across the cores; `f(y, x, a, b)` fills one channel's
    /// plane `y` from `x`.
    fn forward_rows(
        &self,
        x: &[f32],
        scale: &[f32],
        shift: &[f32],
        f: impl Fn(&mut [f32], &[f32], f32, f32) + Sync,
    ) -> Vec<f32> {
        let g = &self.g;
        let mut ys = zeros(x.len());
        ys.par_chunks_mut(g.row()).zip(x.par_chunks(g.row())).with_min_len(g.rows_per_task()).for_each(|(y, x)| {
            for ch in 0..g.c {
                let range = ch * g.plane..(ch + 1) * g.plane;
                f(&mut y[range.clone()], &x[range], scale[ch], shift[ch]);
            }
        });
        ys
    }
}

impl CustomOp3 for BatchNormOp {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        gamma: &CpuStorage,
        gl: &Layout,
        beta: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(NAME, xs, xl)?;
        let (gamma, beta) = (contiguous_f32(NAME, gamma, gl)?, contiguous_f32(NAME, beta, bl)?);
        let (scale, shift) = self.affine(gamma, beta);
        // One monomorphic loop per activation.
        let ys = match self.act {
            NormActivation::Identity => self
                .forward_rows(x, &scale, &shift, |y, x, a, b| y.iter_mut().zip(x).for_each(|(y, &x)| *y = x * a + b)),
            NormActivation::Relu => self.forward_rows(x, &scale, &shift, |y, x, a, b| {
                y.iter_mut().zip(x).for_each(|(y, &x)| *y = NormActivation::Relu.value(x * a + b))
            }),
            // The GELU loop compiled for the CPU's vector width (see `super::gelu`).
            NormActivation::Gelu => {
                let level = Level::chosen();
                self.forward_rows(x, &scale, &shift, |y, x, a, b| super::gelu::forward_affine(level, y, x, a, b))
            }
        };
        Ok((CpuStorage::F32(ys), xl.shape().clone()))
    }

    fn bwd(
        &self,
        xs: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        _ys: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = self.g;
        let p = g.plane;
        let gamma_v = gamma.detach().to_vec1::<f32>()?;
        let (dgamma, dbeta, dx) = with_f32(NAME, xs, |x| {
            with_f32(NAME, grad, |dy| {
                // The gradient reaching the normalization, `dz` (`dy·f'(z)` with a fused
                // activation, else `dy` itself), and Σ dz and Σ dz·x̂ per channel.
                let stats = (&self.mean[..], &self.invstd[..]);
                let (dz, sums) = match self.act {
                    NormActivation::Identity => {
                        let sums = g.channel_sums(|row, ch| {
                            let at = row * g.row() + ch * p;
                            let (mu, is) = (self.mean[ch], self.invstd[ch]);
                            let (s, sx) = lane_sums(&dy[at..at + p], &x[at..at + p], |d, v| (d, d * (v - mu) * is));
                            [s as f64, sx as f64]
                        });
                        (None, sums)
                    }
                    act => {
                        let (scale, shift) = self.affine(&gamma_v, &beta.detach().to_vec1::<f32>()?);
                        let affine = (&scale[..], &shift[..]);
                        let mut dz = zeros(x.len());
                        let sums = match act {
                            NormActivation::Relu => {
                                g.activation_gradient(x, dy, &mut dz, affine, stats, |dz, x, dy, k, b| {
                                    for ((o, &v), &d) in dz.iter_mut().zip(x).zip(dy) {
                                        *o = d * NormActivation::Relu.derivative(v * k + b);
                                    }
                                })
                            }
                            _ => {
                                let level = Level::chosen();
                                g.activation_gradient(x, dy, &mut dz, affine, stats, |dz, x, dy, k, b| {
                                    super::gelu::backward_affine(level, dz, x, dy, k, b)
                                })
                            }
                        };
                        (Some(dz), sums)
                    }
                };
                let dbeta: Vec<f32> = sums.iter().map(|s| s[0] as f32).collect();
                let dgamma: Vec<f32> = sums.iter().map(|s| s[1] as f32).collect();
                let dx = if xs.track_op() {
                    let m = (g.n * p) as f32;
                    // In place over `dz` when there is one; else each row starts as a copy of `dy`'s.
                    let dy = if dz.is_none() { Some(dy) } else { None };
                    let mut dx = dz.unwrap_or_else(|| zeros(x.len()));
                    dx.par_chunks_mut(g.row())
                        .zip(x.par_chunks(g.row()))
                        .enumerate()
                        .with_min_len(g.rows_per_task())
                        .for_each(|(row, (dxr, xr))| {
                            if let Some(dy) = dy {
                                dxr.copy_from_slice(&dy[row * g.row()..][..g.row()]);
                            }
                            for ch in 0..g.c {
                                let (mu, is) = (self.mean[ch], self.invstd[ch]);
                                let k = gamma_v[ch] * is;
                                let range = ch * p..(ch + 1) * p;
                                let xr = &xr[range.clone()];
                                if self.train {
                                    let (mb, mg) = (dbeta[ch] / m, dgamma[ch] / m);
                                    for (o, &v) in dxr[range].iter_mut().zip(xr) {
                                        *o = k * (*o - mb - (v - mu) * is * mg);
                                    }
                                } else {
                                    for o in &mut dxr[range] {
                                        *o *= k;
                                    }
                                }
                            }
                        });
                    Some(dx)
                } else {
                    None
                };
                Ok((dgamma, dbeta, dx))
            })
        })?;
        let dev = Device::Cpu;
        let dx = dx.map(|dx| Tensor::from_vec(dx, xs.shape(), &dev)).transpose()?;
        Ok((dx, Some(Tensor::from_vec(dgamma, g.c, &dev)?), Some(Tensor::from_vec(dbeta, g.c, &dev)?)))
    }
}

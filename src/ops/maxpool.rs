//! Max pooling with any square kernel and stride, overlapping windows included, with a backward
//! pass.
//!
//! candle 0.11 can only differentiate a max pool whose kernel equals its stride ("backward not
//! supported for maxpool2d if ksize != stride"), which rules out AlexNet's overlapping 3×3
//! stride-2 pooling. Here the backward pass routes each output gradient to the position of its
//! window's maximum (the first one in row-major order on ties, a NaN if there is one), adding up
//! where overlapping windows share a maximum. The argmax is recomputed in the backward pass
//! rather than stored, which costs one more scan of the input and no memory between passes.
//!
//! ```
//! use candle_core::{Device, Tensor, Var};
//! let xs = Var::randn(0f32, 1., (2, 3, 13, 13), &Device::Cpu)?;
//! let ys = kindling::ops::max_pool2d(&xs, 3, 2)?; // [2, 3, 6, 6]
//! assert_eq!(ys.dims(), &[2, 3, 6, 6]);
//! let grads = ys.sum_all()?.backward()?;
//! // 36 windows per plane, each sends its gradient of 1 to one position.
//! assert_eq!(grads.get(&xs).unwrap().sum_all()?.to_scalar::<f32>()?, 2. * 3. * 36.);
//! # Ok::<(), candle_core::Error>(())
//! ```

use candle_core::backend::BackendStorage;
use candle_core::{
    bail, CpuStorage, CudaStorage, CustomOp1, DType, Device, Layout, MetalStorage, Result, Shape, Tensor,
};
use rayon::prelude::*;

use super::simd::{multiversion, Level};
use super::storage::{contiguous_f32, with_f32, zeros};

const NAME: &str = "kindling-max-pool2d";

/// Outputs per rayon task at the least: a pooled plane can be as small as 3×3, too little work
/// to be worth a task of its own.
const MIN_OUTPUTS_PER_TASK: usize = 4096;

/// The maximum of each `kernel`×`kernel` window, windows `stride` apart, no padding, floor
/// rounding (PyTorch's `MaxPool2d(kernel, stride)`), differentiable for any kernel and stride.
///
/// On the CPU, kindling's kernels run both passes, in `f32` (other dtypes are converted there and
/// back). On CUDA or Metal, the forward pass is candle's own device kernel, called from the op,
/// and the backward pass copies the input and the gradient to the CPU, runs kindling's kernel in
/// `f32` and copies the result back: two transfers per backward pass, but correct, where candle
/// 0.11's own max-pool backward refuses `kernel != stride` and otherwise scales the gradient by
/// (maxima in the window) / kernel² instead of routing it whole. That device path compiles
/// against candle's backend trait in every build but is not exercised by kindling's tests,
/// which run on the CPU.
///
/// # Shapes
/// - `xs`: `[N, C, H, W]`
/// - result: `[N, C, (H - kernel) / stride + 1, (W - kernel) / stride + 1]`
///
/// # Errors
/// If `xs` is not 4-D, the kernel or the stride is 0, or the kernel is larger than the image.
pub fn max_pool2d(xs: &Tensor, kernel: usize, stride: usize) -> Result<Tensor> {
    PoolGeometry::new(xs.dims(), kernel, stride)?;
    if xs.device().is_cpu() && xs.dtype() != DType::F32 {
        return max_pool2d(&xs.to_dtype(DType::F32)?, kernel, stride)?.to_dtype(xs.dtype());
    }
    // The kernels read plain row-major data; `contiguous` is free when it already is.
    xs.contiguous()?.apply_op1(MaxPool2d { kernel, stride })
}

/// The op handed to candle.
struct MaxPool2d {
    kernel: usize,
    stride: usize,
}

impl MaxPool2d {
    /// candle's own forward kernel on a device storage, through its backend trait.
    fn device_fwd<S: BackendStorage>(&self, xs: &S, layout: &Layout) -> Result<(S, Shape)> {
        let g = PoolGeometry::new(layout.dims(), self.kernel, self.stride)?;
        let ys = xs.max_pool2d(layout, (self.kernel, self.kernel), (self.stride, self.stride))?;
        Ok((ys, Shape::from((g.n, g.c, g.ho, g.wo))))
    }
}

impl CustomOp1 for MaxPool2d {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cpu_fwd(&self, xs: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = PoolGeometry::new(layout.dims(), self.kernel, self.stride)?;
        let ys = forward(&g, contiguous_f32(NAME, xs, layout)?);
        Ok((CpuStorage::F32(ys), Shape::from((g.n, g.c, g.ho, g.wo))))
    }

    fn cuda_fwd(&self, xs: &CudaStorage, layout: &Layout) -> Result<(CudaStorage, Shape)> {
        self.device_fwd(xs, layout)
    }

    fn metal_fwd(&self, xs: &MetalStorage, layout: &Layout) -> Result<(MetalStorage, Shape)> {
        self.device_fwd(xs, layout)
    }

    fn bwd(&self, xs: &Tensor, _ys: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let g = PoolGeometry::new(xs.dims(), self.kernel, self.stride)?;
        // Both conversions are free for f32 on the CPU, the common case.
        let to_cpu = |t: &Tensor| t.to_device(&Device::Cpu)?.to_dtype(DType::F32);
        let (x, gy) = (to_cpu(xs)?, to_cpu(grad)?);
        let dx = with_f32(NAME, &x, |x| with_f32(NAME, &gy, |gy| Ok(backward(&g, x, gy))))?;
        let dx = Tensor::from_vec(dx, xs.shape(), &Device::Cpu)?;
        Ok(Some(dx.to_dtype(xs.dtype())?.to_device(xs.device())?))
    }
}

/// Sizes of one pooling, checked once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PoolGeometry {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    kernel: usize,
    stride: usize,
    ho: usize,
    wo: usize,
}

impl PoolGeometry {
    fn new(dims: &[usize], kernel: usize, stride: usize) -> Result<Self> {
        let &[n, c, h, w] = dims else { bail!("max_pool2d: expected xs [N, C, H, W], got {dims:?}") };
        if kernel == 0 || stride == 0 {
            bail!("max_pool2d: kernel ({kernel}) and stride ({stride}) must be at least 1")
        }
        if h < kernel || w < kernel {
            bail!("max_pool2d: the {kernel}x{kernel} kernel is larger than the {h}x{w} image; use a smaller kernel")
        }
        let (ho, wo) = ((h - kernel) / stride + 1, (w - kernel) / stride + 1);
        Ok(Self { n, c, h, w, kernel, stride, ho, wo })
    }

    /// The maximum of each window of output row `oh` into `vals` and its index in `plane`
    /// (`[H, W]`) into `idx`: the first in row-major order on ties; the first NaN if there is
    /// one, as in PyTorch.
    fn row_argmax(&self, plane: &[f32], oh: usize, vals: &mut [f32], idx: &mut [usize]) {
        let (k, s, w) = (self.kernel, self.stride, self.w);
        let first_row = oh * s * w;
        let rows = &plane[first_row..first_row + (k - 1) * w + (self.wo - 1) * s + k];
        for (ow, (val, i)) in vals.iter_mut().zip(idx.iter_mut()).enumerate() {
            let (mut best, mut best_v, mut nan) = (ow * s, rows[ow * s], false);
            for r in 0..k {
                let start = r * w + ow * s;
                for (j, &x) in rows[start..start + k].iter().enumerate() {
                    // NaNs are only noted here: testing for them in the branch doubles its cost.
                    nan |= x.is_nan();
                    if x > best_v {
                        (best, best_v) = (start + j, x);
                    }
                }
            }
            if nan {
                let mut window = (0..k).flat_map(|r| (0..k).map(move |j| r * w + ow * s + j));
                best = window.find(|&at| rows[at].is_nan()).unwrap_or(best);
                best_v = rows[best];
            }
            (*val, *i) = (best_v, first_row + best);
        }
    }

    /// 2×2 windows two apart, which [`halve_forward`] and [`halve_backward`] run.
    fn is_2x2(&self) -> bool {
        (self.kernel, self.stride) == (2, 2)
    }

    /// Rayon tasks get at least this many planes.
    fn planes_per_task(&self) -> usize {
        (MIN_OUTPUTS_PER_TASK / (self.ho * self.wo)).max(1)
    }
}

/// The pooled planes, plane by plane across the cores.
fn forward(g: &PoolGeometry, x: &[f32]) -> Vec<f32> {
    let level = Level::chosen();
    let mut ys = zeros(g.n * g.c * g.ho * g.wo);
    ys.par_chunks_mut(g.ho * g.wo).zip(x.par_chunks(g.h * g.w)).with_min_len(g.planes_per_task()).for_each_init(
        || vec![0; g.wo],
        |idx, (yp, xp)| {
            if g.is_2x2() {
                return halve_forward(level, g, xp, yp);
            }
            for (oh, yrow) in yp.chunks_exact_mut(g.wo).enumerate() {
                g.row_argmax(xp, oh, yrow, idx);
            }
        },
    );
    ys
}

/// The input gradient: each output gradient added at its window's argmax.
fn backward(g: &PoolGeometry, x: &[f32], gy: &[f32]) -> Vec<f32> {
    let level = Level::chosen();
    let mut dx = zeros(x.len());
    dx.par_chunks_mut(g.h * g.w)
        .zip(x.par_chunks(g.h * g.w))
        .zip(gy.par_chunks(g.ho * g.wo))
        .with_min_len(g.planes_per_task())
        .for_each_init(
            || (vec![0f32; g.wo], vec![0; g.wo]),
            |(vals, idx), ((dp, xp), gp)| {
                if g.is_2x2() {
                    return halve_backward(level, g, xp, gp, dp);
                }
                for (oh, grow) in gp.chunks_exact(g.wo).enumerate() {
                    g.row_argmax(xp, oh, vals, idx);
                    for (&i, &gv) in idx.iter().zip(grow) {
                        dp[i] += gv;
                    }
                }
            },
        );
    dx
}

/// The 2×2, stride-2 max pool of `x` (`[N, C, H, W]` in `dims`) and, for each output, the
/// position (0-3, row-major) of its window's maximum, as [`argmax4`] picks it: what a fused
/// convolution and pool keeps for its backward pass instead of the convolution's output (one byte
/// per pooled value against sixteen).
pub(crate) fn halve_with_argmax(dims: &[usize], x: &[f32]) -> Result<(Vec<f32>, Vec<u8>, Shape)> {
    let g = PoolGeometry::new(dims, 2, 2)?;
    let level = Level::chosen();
    let plane = g.ho * g.wo;
    let (mut ys, mut at) = (zeros(g.n * g.c * plane), zeros(g.n * g.c * plane));
    ys.par_chunks_mut(plane)
        .zip(at.par_chunks_mut(plane))
        .zip(x.par_chunks(g.h * g.w))
        .with_min_len(g.planes_per_task())
        .for_each(|((yp, ap), xp)| halve_forward_argmax(level, &g, xp, yp, ap));
    Ok((ys, at, Shape::from((g.n, g.c, g.ho, g.wo))))
}

/// The input gradient (`[N, C, H, W]` in `dims`) of a 2×2, stride-2 max pool from the positions
/// [`halve_with_argmax`] recorded: each output gradient to its window's maximum, zeros elsewhere
/// (a last odd row or column included).
pub(crate) fn halve_backward_from_argmax(dims: &[usize], at: &[u8], gy: &[f32]) -> Result<Vec<f32>> {
    let g = PoolGeometry::new(dims, 2, 2)?;
    let plane = g.ho * g.wo;
    if at.len() != g.n * g.c * plane || gy.len() != at.len() {
        bail!(
            "max_pool2d: {} recorded positions and {} gradients for {} outputs",
            at.len(),
            gy.len(),
            g.n * g.c * plane
        )
    }
    let mut dx = zeros(g.n * g.c * g.h * g.w);
    dx.par_chunks_mut(g.h * g.w)
        .zip(at.par_chunks(plane))
        .zip(gy.par_chunks(plane))
        .with_min_len(g.planes_per_task())
        .for_each(|((dp, ap), gp)| {
            for (oh, (arow, grow)) in ap.chunks_exact(g.wo).zip(gp.chunks_exact(g.wo)).enumerate() {
                let (dtop, dbottom) = dp[2 * oh * g.w..].split_at_mut(g.w);
                let grads = dtop[..2 * g.wo].chunks_exact_mut(2).zip(dbottom[..2 * g.wo].chunks_exact_mut(2));
                for (((dt, db), &a), &gv) in grads.zip(arow).zip(grow) {
                    dt[0] = if a == 0 { gv } else { 0.0 };
                    dt[1] = if a == 1 { gv } else { 0.0 };
                    db[0] = if a == 2 { gv } else { 0.0 };
                    db[1] = if a == 3 { gv } else { 0.0 };
                }
            }
        });
    Ok(dx)
}

/// The position (0-3, row-major) of the maximum of a 2×2 window `a b / c d` and its value, as
/// [`PoolGeometry::row_argmax`] picks it: the first on ties, the first NaN if there is one.
/// Branch-free (each step a compare and a select), so that the compiler vectorizes the loops
/// that call it.
#[inline(always)]
pub(crate) fn argmax4(a: f32, b: f32, c: f32, d: f32) -> (u32, f32) {
    let (mut at, mut best) = (0u32, a);
    for (i, x) in [(1, b), (2, c), (3, d)] {
        let more = x > best;
        at = if more { i } else { at };
        best = if more { x } else { best };
    }
    let first_nan = if d.is_nan() { 3 } else { at };
    let first_nan = if c.is_nan() { 2 } else { first_nan };
    let first_nan = if b.is_nan() { 1 } else { first_nan };
    let first_nan = if a.is_nan() { 0 } else { first_nan };
    let nan = a.is_nan() | b.is_nan() | c.is_nan() | d.is_nan();
    (if nan { first_nan } else { at }, if nan { f32::NAN } else { best })
}

multiversion! {
    /// The forward pass of 2×2 windows two apart (every CNN here pools so) on one plane `xp`
    /// (`[H, W]`) into `yp` (`[H/2, W/2]`): the maxima only, no index.
    fn halve_forward(level: Level, g: &PoolGeometry, xp: &[f32], yp: &mut [f32]) {
        for (oh, yrow) in yp.chunks_exact_mut(g.wo).enumerate() {
            let top = &xp[2 * oh * g.w..][..2 * g.wo];
            let bottom = &xp[(2 * oh + 1) * g.w..][..2 * g.wo];
            for ((y, t), b) in yrow.iter_mut().zip(top.chunks_exact(2)).zip(bottom.chunks_exact(2)) {
                *y = argmax4(t[0], t[1], b[0], b[1]).1;
            }
        }
    }
}

multiversion! {
    /// [`halve_forward`] that also writes each window's argmax position (0-3) into `ap`.
    fn halve_forward_argmax(level: Level, g: &PoolGeometry, xp: &[f32], yp: &mut [f32], ap: &mut [u8]) {
        for (oh, (yrow, arow)) in yp.chunks_exact_mut(g.wo).zip(ap.chunks_exact_mut(g.wo)).enumerate() {
            let top = &xp[2 * oh * g.w..][..2 * g.wo];
            let bottom = &xp[(2 * oh + 1) * g.w..][..2 * g.wo];
            for (((y, a), t), b) in yrow.iter_mut().zip(arow.iter_mut()).zip(top.chunks_exact(2)).zip(bottom.chunks_exact(2)) {
                let (i, v) = argmax4(t[0], t[1], b[0], b[1]);
                (*y, *a) = (v, i as u8);
            }
        }
    }
}

multiversion! {
    /// The backward pass of 2×2 windows two apart on one plane: each window's gradient to its
    /// argmax, zeros to the rest (the windows do not overlap; a last odd row or column keeps the
    /// zeros `dp` starts with).
    fn halve_backward(level: Level, g: &PoolGeometry, xp: &[f32], gp: &[f32], dp: &mut [f32]) {
        for (oh, grow) in gp.chunks_exact(g.wo).enumerate() {
            let top = &xp[2 * oh * g.w..][..2 * g.wo];
            let bottom = &xp[(2 * oh + 1) * g.w..][..2 * g.wo];
            let (dtop, dbottom) = dp[2 * oh * g.w..].split_at_mut(g.w);
            let windows = top.chunks_exact(2).zip(bottom.chunks_exact(2));
            let grads = dtop[..2 * g.wo].chunks_exact_mut(2).zip(dbottom[..2 * g.wo].chunks_exact_mut(2));
            for (((t, b), (dt, db)), &gv) in windows.zip(grads).zip(grow) {
                let at = argmax4(t[0], t[1], b[0], b[1]).0;
                dt[0] = if at == 0 { gv } else { 0.0 };
                dt[1] = if at == 1 { gv } else { 0.0 };
                db[0] = if at == 2 { gv } else { 0.0 };
                db[1] = if at == 3 { gv } else { 0.0 };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_size_follows_pytorch() {
        let g = PoolGeometry::new(&[1, 1, 13, 8], 3, 2).unwrap();
        assert_eq!((g.ho, g.wo), (6, 3));
        assert!(PoolGeometry::new(&[1, 1, 2, 8], 3, 2).is_err());
        assert!(PoolGeometry::new(&[1, 1, 8, 8], 0, 2).is_err());
        assert!(PoolGeometry::new(&[1, 8, 8], 2, 2).is_err());
    }

    #[test]
    fn argmax_takes_the_first_of_ties_and_nan() {
        let g = PoolGeometry::new(&[1, 1, 3, 3], 3, 1).unwrap();
        let argmax = |plane: &[f32]| {
            let (mut v, mut i) = ([0f32], [0usize]);
            g.row_argmax(plane, 0, &mut v, &mut i);
            i[0]
        };
        assert_eq!(argmax(&[0., 5., 1., 5., 2., 5., 0., 0., 0.]), 1);
        assert_eq!(argmax(&[0., 5., 1., 5., f32::NAN, 9., f32::NAN, 0., 0.]), 4);
        assert_eq!(argmax(&[f32::NAN, 5., 1., 5., f32::NAN, 9., 0., 0., 0.]), 0);
    }

    #[test]
    fn row_argmax_matches_brute_force() {
        let g = PoolGeometry::new(&[1, 1, 11, 9], 3, 2).unwrap();
        let plane: Vec<f32> = (0..99).map(|i| ((i * 37 % 23) as f32).sin()).collect();
        let (mut vals, mut idx) = (vec![0f32; g.wo], vec![0usize; g.wo]);
        for oh in 0..g.ho {
            g.row_argmax(&plane, oh, &mut vals, &mut idx);
            for ow in 0..g.wo {
                let window = (0..3).flat_map(|r| (0..3).map(move |c| (oh * 2 + r) * 9 + ow * 2 + c));
                let first_max = window.reduce(|a, b| if plane[b] > plane[a] { b } else { a }).unwrap();
                assert_eq!((idx[ow], vals[ow]), (first_max, plane[first_max]));
            }
        }
    }

    #[test]
    fn overlapping_windows_add_their_gradients() {
        // The centre of a 5x5 plane is in all four 3x3 stride-2 windows.
        let g = PoolGeometry::new(&[1, 1, 5, 5], 3, 2).unwrap();
        let mut x = vec![0f32; 25];
        x[12] = 1.0;
        assert_eq!(forward(&g, &x), vec![1.0; 4]);
        let dx = backward(&g, &x, &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(dx[12], 10.0);
        assert_eq!(dx.iter().sum::<f32>(), 10.0);
    }

    /// The 2×2 fast path against the general one, values and gradients bit for bit, on even and
    /// odd sides, with ties (small integers) and NaNs, at every SIMD level this CPU runs.
    /// The recorded positions give the values and the gradients of the scanning passes, ties,
    /// NaNs and an odd last row and column included.
    #[test]
    fn recorded_argmax_matches_the_scanning_passes() {
        let dims = [2, 3, 7, 9];
        let mut x: Vec<f32> = (0..2 * 3 * 7 * 9).map(|i| ((i * 37) % 11) as f32).collect();
        (x[5], x[40], x[41]) = (f32::NAN, f32::NAN, f32::NAN);
        let g = PoolGeometry::new(&dims, 2, 2).unwrap();
        let (ys, at, shape) = halve_with_argmax(&dims, &x).unwrap();
        assert_eq!(shape.dims(), &[2, 3, 3, 4]);
        let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(p, q)| p == q || (p.is_nan() && q.is_nan()));
        assert!(same(&ys, &forward(&g, &x)));
        let gy: Vec<f32> = (0..ys.len()).map(|i| i as f32 + 1.0).collect();
        let dx = halve_backward_from_argmax(&dims, &at, &gy).unwrap();
        assert_eq!(dx, backward(&g, &x, &gy));
        assert!(halve_backward_from_argmax(&dims, &at[1..], &gy[1..]).is_err());
    }

    #[test]
    fn two_by_two_matches_the_general_path() {
        let levels = Level::tested();
        for (h, w) in [(2, 2), (6, 8), (7, 9), (5, 4), (32, 32)] {
            let g = PoolGeometry::new(&[1, 1, h, w], 2, 2).unwrap();
            let x: Vec<f32> = (0..h * w)
                .map(|i| match (i * 7919) % 23 {
                    0 => f32::NAN,
                    1 => -0.0,
                    2 => 0.0,
                    r => (r % 5) as f32 - 2.0,
                })
                .collect();
            let gy: Vec<f32> = (0..g.ho * g.wo).map(|i| i as f32 + 1.0).collect();
            let (mut vals, mut idx) = (vec![0f32; g.wo], vec![0usize; g.wo]);
            let (mut want_y, mut want_dx) = (Vec::new(), vec![0f32; h * w]);
            for oh in 0..g.ho {
                g.row_argmax(&x, oh, &mut vals, &mut idx);
                want_y.extend(vals.iter().map(|v| v.to_bits()));
                for (&i, &gv) in idx.iter().zip(&gy[oh * g.wo..]) {
                    want_dx[i] += gv;
                }
            }
            for &level in &levels {
                let mut y = vec![0f32; g.ho * g.wo];
                halve_forward(level, &g, &x, &mut y);
                let y: Vec<u32> = y.iter().map(|v| if v.is_nan() { f32::NAN.to_bits() } else { v.to_bits() }).collect();
                let want: Vec<u32> =
                    want_y.iter().map(|&b| if f32::from_bits(b).is_nan() { f32::NAN.to_bits() } else { b }).collect();
                assert_eq!(y, want, "{h}x{w} {level:?}");
                let mut dx = vec![0f32; h * w];
                halve_backward(level, &g, &x, &gy, &mut dx);
                assert_eq!(dx, want_dx, "{h}x{w} {level:?}");
            }
        }
    }
}

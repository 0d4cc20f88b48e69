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

use candle_core::{bail, CpuStorage, CustomOp1, DType, Device, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::storage::{contiguous_f32, with_f32};

const NAME: &str = "kindling-max-pool2d";

/// Outputs per rayon task at the least: a pooled plane can be as small as 3×3, too little work
/// to be worth a task of its own.
const MIN_OUTPUTS_PER_TASK: usize = 4096;

/// The maximum of each `kernel`×`kernel` window, windows `stride` apart, no padding, floor
/// rounding (PyTorch's `MaxPool2d(kernel, stride)`).
///
/// `f32` on the CPU runs kindling's op, forward and backward, for any kernel and stride. Elsewhere:
/// when `kernel == stride` it is candle's `max_pool2d_with_stride`, forward and backward on the
/// tensor's own device; when the windows overlap, the tensor makes a round trip through the CPU
/// (and `f32`), differentiable both ways, because candle cannot differentiate that pool on the
/// device, at the price of two copies per pass.
///
/// # Shapes
/// - `xs`: `[N, C, H, W]`
/// - result: `[N, C, (H - kernel) / stride + 1, (W - kernel) / stride + 1]`
///
/// # Errors
/// If `xs` is not 4-D, the kernel or the stride is 0, or the kernel is larger than the image.
pub fn max_pool2d(xs: &Tensor, kernel: usize, stride: usize) -> Result<Tensor> {
    PoolGeometry::new(xs.dims(), kernel, stride)?;
    if xs.device().is_cpu() && xs.dtype() == DType::F32 {
        return xs.contiguous()?.apply_op1(MaxPool2d { kernel, stride });
    }
    if kernel == stride {
        return xs.max_pool2d_with_stride(kernel, stride);
    }
    let on_cpu = xs.to_device(&Device::Cpu)?.to_dtype(DType::F32)?;
    max_pool2d(&on_cpu, kernel, stride)?.to_dtype(xs.dtype())?.to_device(xs.device())
}

/// The op handed to candle.
struct MaxPool2d {
    kernel: usize,
    stride: usize,
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

    fn bwd(&self, xs: &Tensor, _ys: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let g = PoolGeometry::new(xs.dims(), self.kernel, self.stride)?;
        let dx = with_f32(NAME, xs, |x| with_f32(NAME, grad, |gy| Ok(backward(&g, x, gy))))?;
        Ok(Some(Tensor::from_vec(dx, xs.shape(), xs.device())?))
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

    /// Index in `plane` (`[H, W]`) of the maximum of the window of output `(oh, ow)`: the first
    /// in row-major order on ties; a NaN wins, as in PyTorch.
    fn argmax(&self, plane: &[f32], oh: usize, ow: usize) -> usize {
        let (r0, c0) = (oh * self.stride, ow * self.stride);
        let mut best = r0 * self.w + c0;
        let mut best_v = plane[best];
        for r in r0..r0 + self.kernel {
            let row = r * self.w;
            for (i, &v) in plane[row + c0..row + c0 + self.kernel].iter().enumerate() {
                if v > best_v || (v.is_nan() && !best_v.is_nan()) {
                    (best, best_v) = (row + c0 + i, v);
                }
            }
        }
        best
    }

    /// Rayon tasks get at least this many planes.
    fn planes_per_task(&self) -> usize {
        (MIN_OUTPUTS_PER_TASK / (self.ho * self.wo)).max(1)
    }
}

/// The pooled planes, plane by plane across the cores.
fn forward(g: &PoolGeometry, x: &[f32]) -> Vec<f32> {
    let mut ys = vec![0f32; g.n * g.c * g.ho * g.wo];
    ys.par_chunks_mut(g.ho * g.wo).zip(x.par_chunks(g.h * g.w)).with_min_len(g.planes_per_task()).for_each(
        |(yp, xp)| {
            for (oh, yrow) in yp.chunks_exact_mut(g.wo).enumerate() {
                for (ow, y) in yrow.iter_mut().enumerate() {
                    *y = xp[g.argmax(xp, oh, ow)];
                }
            }
        },
    );
    ys
}

/// The input gradient: each output gradient added at its window's argmax.
fn backward(g: &PoolGeometry, x: &[f32], gy: &[f32]) -> Vec<f32> {
    let mut dx = vec![0f32; x.len()];
    dx.par_chunks_mut(g.h * g.w)
        .zip(x.par_chunks(g.h * g.w))
        .zip(gy.par_chunks(g.ho * g.wo))
        .with_min_len(g.planes_per_task())
        .for_each(|((dp, xp), gp)| {
            for (oh, grow) in gp.chunks_exact(g.wo).enumerate() {
                for (ow, &gv) in grow.iter().enumerate() {
                    dp[g.argmax(xp, oh, ow)] += gv;
                }
            }
        });
    dx
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
        assert_eq!(g.argmax(&[0., 5., 1., 5., 2., 5., 0., 0., 0.], 0, 0), 1);
        assert_eq!(g.argmax(&[0., 5., 1., 5., f32::NAN, 9., f32::NAN, 0., 0.], 0, 0), 4);
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
}

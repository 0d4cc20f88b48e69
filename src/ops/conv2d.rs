//! 2-D convolution plus bias as one candle custom op, with kindling's own CPU backward pass.
//!
//! candle 0.11's CPU convolution backward is slow: the input gradient is a naive
//! `conv_transpose2d` loop, the weight gradient is several times slower than PyTorch's, and both
//! are computed even for the image batch that no one differentiates. It also fails on some
//! non-square inputs (its output padding is derived from the height alone). This op fixes all
//! three for `f32` on the CPU:
//!
//! - forward: samples are spread over the cores with rayon; each sample is unfolded (im2col),
//!   a band of output rows at a time, into a per-thread scratch buffer kept within the L2 cache,
//!   and one GEMM per band writes `W · cols` straight into the NCHW output, bias pre-filled;
//! - backward: `dW = Σₙ g[n] · cols[n]ᵀ` accumulated per thread then summed, `db` the per-channel
//!   sum of `g`, and `dx = col2im(Wᵀ · g[n])` only when the input is itself part of the graph
//!   ([`Tensor::track_op`]), so the first layer of a network never computes it.
//!
//! ```
//! use candle_core::{DType, Device, Tensor, Var};
//! let dev = Device::Cpu;
//! let xs = Tensor::randn(0f32, 1., (2, 3, 8, 10), &dev)?; // [batch, channels, height, width]
//! let w = Var::randn(0f32, 0.1, (4, 3, 3, 5), &dev)?; // [out, in, kh, kw]
//! let b = Var::zeros(4, DType::F32, &dev)?;
//! let ys = kindling::ops::conv2d(&xs, &w, &b, 1, 1)?; // [2, 4, 8, 8]
//! assert_eq!(ys.dims(), &[2, 4, 8, 8]);
//! let grads = ys.sum_all()?.backward()?;
//! assert!(grads.get(&w).is_some() && grads.get(&xs).is_none());
//! # Ok::<(), candle_core::Error>(())
//! ```

use candle_core::{bail, CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor};
use gemm::{gemm, Parallelism};
use rayon::prelude::*;

use super::simd::{self, Level};
use super::storage::{contiguous_f32, transpose_into, with_f32, zeros};
use super::winograd::{self, Planes};

const NAME: &str = "kindling-conv2d";

/// Floats of im2col scratch per thread: 128 Ki floats is 512 KiB, half of this machine's 1 MiB
/// per-core L2, leaving room for the GEMM's packed weights and the output band.
const SCRATCH_FLOATS: usize = 128 * 1024;

/// Convolves `xs` with `w` and adds `b`: `y[n, o] = b[o] + Σ_c w[o, c] ⋆ x[n, c]`.
///
/// The same `stride` and zero `padding` apply to both directions; the kernel and the image may be
/// rectangular. With `f32` tensors on the CPU this is kindling's own op (see the
/// [module docs](self)); on any other device (CUDA, Metal) or dtype it falls back to candle's
/// `xs.conv2d(w, padding, stride, 1, 1)` plus a broadcast bias, with candle's backward pass,
/// which always computes the input gradient and, in candle 0.11, fails for some rectangular
/// images (an 8×9 input with stride 2, for one).
///
/// # Shapes
/// - `xs`: `[N, C, H, W]`
/// - `w`: `[O, C, kh, kw]`
/// - `b`: `[O]`
/// - result: `[N, O, (H + 2p - kh) / s + 1, (W + 2p - kw) / s + 1]`
///
/// # Errors
/// If the ranks or the channel counts disagree, the stride is 0, or the padded image is smaller
/// than the kernel.
pub fn conv2d(xs: &Tensor, w: &Tensor, b: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    conv2d_with(xs, w, b, stride, padding, Algorithm::chosen())
}

/// [`conv2d`] with the CPU algorithm given rather than [`Algorithm::chosen`] (for comparisons).
pub fn conv2d_with(
    xs: &Tensor,
    w: &Tensor,
    b: &Tensor,
    stride: usize,
    padding: usize,
    algorithm: Algorithm,
) -> Result<Tensor> {
    let g = Geometry::new(xs.dims(), w.dims(), b.dims(), stride, padding)?;
    let own_kernel = [xs, w, b].iter().all(|t| t.device().is_cpu() && t.dtype() == DType::F32);
    if !own_kernel {
        return xs.conv2d(w, padding, stride, 1, 1)?.broadcast_add(&b.reshape((1, g.o, 1, 1))?);
    }
    // The kernels read plain row-major data; `contiguous` is free when it already is.
    let (xs, w, b) = (xs.contiguous()?, w.contiguous()?, b.contiguous()?);
    if algorithm.winograd(&g) {
        return xs.apply_op3(&w, &b, Winograd(algorithm));
    }
    xs.apply_op3(&w, &b, Conv2d { stride, padding })
}

/// [`conv2d`] followed by a 2×2, stride-2 max pool ([`max_pool2d`](super::max_pool2d)`(ys, 2, 2)`),
/// as one op: the same values and gradients, but the convolution's output is freed at once
/// instead of staying alive for the pool's backward pass, which needs only the position of each
/// window's maximum (one byte per pooled value). In airbench94's network (each stage pools right
/// after its first convolution) a training step of 1,024 images peaks at 1.46 GB instead of 2.4.
///
/// With `f32` tensors on the CPU; elsewhere it is the two ops in turn.
///
/// # Shapes
/// - as [`conv2d`], then the pool halves the height and the width (rounding down).
///
/// # Errors
/// As [`conv2d`], and if the convolution's output is smaller than 2×2.
pub fn conv2d_max_pool2(xs: &Tensor, w: &Tensor, b: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    let algorithm = Algorithm::chosen();
    let g = Geometry::new(xs.dims(), w.dims(), b.dims(), stride, padding)?;
    let own_kernel = [xs, w, b].iter().all(|t| t.device().is_cpu() && t.dtype() == DType::F32);
    if !own_kernel {
        return super::max_pool2d(&conv2d_with(xs, w, b, stride, padding, algorithm)?, 2, 2);
    }
    let (xs, w, b) = (xs.contiguous()?, w.contiguous()?, b.contiguous()?);
    let conv =
        if algorithm.winograd(&g) { PooledConv::Winograd(algorithm) } else { PooledConv::Im2col { stride, padding } };
    xs.apply_op3(&w, &b, ConvMaxPool { conv, saved: std::sync::Mutex::new(None) })
}

/// The op of [`conv2d_max_pool2`]: its convolution, and what its forward pass saved for the
/// backward one (one op per call, so one batch's): the shape of the convolution's output and the
/// argmax position of each pooled value.
struct ConvMaxPool {
    conv: PooledConv,
    saved: std::sync::Mutex<Option<Saved>>,
}

/// The convolution under a [`ConvMaxPool`]. Winograd's pools each chunk's output tiles as it
/// transforms them ([`winograd::forward_max_pool2`]), so the convolution's whole output is never
/// stored; im2col's output is pooled after it.
enum PooledConv {
    Winograd(Algorithm),
    Im2col { stride: usize, padding: usize },
}

/// The shape of the convolution's output and the argmax position of each pooled value.
type Saved = (Shape, Vec<u8>);

impl ConvMaxPool {
    fn saved(&self) -> Result<std::sync::MutexGuard<'_, Option<Saved>>> {
        self.saved.lock().map_err(|_| candle_core::Error::Msg(format!("{}: poisoned lock", self.name())))
    }
}

impl CustomOp3 for ConvMaxPool {
    fn name(&self) -> &'static str {
        "kindling-conv2d-max-pool2"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xs_l: &Layout,
        w: &CpuStorage,
        w_l: &Layout,
        b: &CpuStorage,
        b_l: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (pooled, argmax, shape) = match self.conv {
            PooledConv::Winograd(algorithm) => {
                let s = Winograd(algorithm).shape(xs_l.dims(), w_l.dims(), b_l.dims())?;
                if s.h < 2 || s.w < 2 {
                    bail!("max_pool2d: the 2x2 kernel is larger than the {}x{} image; use a smaller kernel", s.h, s.w)
                }
                let (xs, w, b) =
                    (contiguous_f32(NAME, xs, xs_l)?, contiguous_f32(NAME, w, w_l)?, contiguous_f32(NAME, b, b_l)?);
                let (pooled, argmax) = winograd::forward_max_pool2(Level::chosen(), &s, xs, w, b);
                (pooled, argmax, Shape::from((s.n, s.o, s.h, s.w)))
            }
            PooledConv::Im2col { stride, padding } => {
                let (ys, shape) = Conv2d { stride, padding }.cpu_fwd(xs, xs_l, w, w_l, b, b_l)?;
                let (pooled, argmax, _) = super::maxpool::halve_with_argmax(shape.dims(), ys.as_slice::<f32>()?)?;
                (pooled, argmax, shape)
            }
        };
        let d = shape.dims();
        let pooled_shape = Shape::from((d[0], d[1], d[2] / 2, d[3] / 2));
        *self.saved()? = Some((shape, argmax));
        Ok((CpuStorage::F32(pooled), pooled_shape))
    }

    fn bwd(
        &self,
        xs: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _ys: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let saved = self.saved()?;
        let Some((shape, argmax)) = saved.as_ref() else { bail!("{}: backward before forward", self.name()) };
        match self.conv {
            // Without a bias gradient to sum, both gradients come straight from the pooled one,
            // unpooled as the transforms copy each sample: the convolution-sized gradient is never
            // built.
            PooledConv::Winograd(algorithm) if !b.track_op() && algorithm != Algorithm::Im2colWeightGradient => {
                let s = Winograd(algorithm).shape(xs.dims(), w.dims(), b.dims())?;
                let (dx, dw) = with_f32(NAME, xs, |x| {
                    with_f32(NAME, w, |wd| {
                        with_f32(NAME, grad, |gy| {
                            let (level, planes) = (Level::chosen(), Planes::Unpooled { gy, at: argmax });
                            let dx = xs.track_op().then(|| winograd::input_gradient(level, &s, wd, planes));
                            let dw = w.track_op().then(|| winograd::weight_gradient(level, &s, x, planes));
                            Ok((dx, dw))
                        })
                    })
                })?;
                gradients((dx, dw, None), (xs, w, b))
            }
            _ => {
                let dy =
                    with_f32(NAME, grad, |gy| super::maxpool::halve_backward_from_argmax(shape.dims(), argmax, gy))?;
                let dy = Tensor::from_vec(dy, shape.clone(), xs.device())?;
                drop(saved);
                // Neither convolution op reads its output in the backward pass: `dy` stands in for it.
                match self.conv {
                    PooledConv::Winograd(algorithm) => Winograd(algorithm).bwd(xs, w, b, &dy, &dy),
                    PooledConv::Im2col { stride, padding } => Conv2d { stride, padding }.bwd(xs, w, b, &dy, &dy),
                }
            }
        }
    }
}

/// How kindling's CPU kernels compute a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// For 3×3, stride-1, padding-1 convolutions of at least 8 input and output channels,
    /// Winograd F(4×4, 3×3) (`src/ops/winograd/`) for the forward pass and the
    /// input gradient and its dual F(3×3, 4×4) for the weight gradient; for 5×5, stride-1, padding-2 ones,
    /// F(2×2, 5×5) for all three; im2col + GEMM for every other convolution. The default.
    Auto,
    /// [`Algorithm::Auto`] with F(2×2, 3×3) tiles for the 3×3 forward pass and both gradients
    /// (`KINDLING_CONV=winograd-f2`): fewer savings, f32 accuracy within a few ulps of im2col's.
    WinogradF2,
    /// [`Algorithm::Auto`] with the weight gradient by im2col + GEMM (`KINDLING_CONV=im2col-dw`).
    Im2colWeightGradient,
    /// im2col + GEMM for every convolution (`KINDLING_CONV=im2col`).
    Im2col,
}

impl Algorithm {
    /// The algorithm this process uses, from the environment variable `KINDLING_CONV`
    /// (`im2col`, `im2col-dw`, `winograd-f2`; anything else or unset: `Auto`), read once.
    pub fn chosen() -> Algorithm {
        static CHOSEN: std::sync::OnceLock<Algorithm> = std::sync::OnceLock::new();
        *CHOSEN.get_or_init(|| match std::env::var("KINDLING_CONV").as_deref() {
            Ok("im2col") => Algorithm::Im2col,
            Ok("im2col-dw") => Algorithm::Im2colWeightGradient,
            Ok("winograd-f2") => Algorithm::WinogradF2,
            _ => Algorithm::Auto,
        })
    }

    fn winograd(self, g: &Geometry) -> bool {
        let same = matches!((g.kh, g.kw, g.stride, g.pad), (3, 3, 1, 1) | (5, 5, 1, 2));
        self != Algorithm::Im2col && same && g.c >= 8 && g.o >= 8
    }

    /// The tile of the Winograd forward pass and input gradient for a `kernel × kernel` filter.
    fn tile(self, kernel: usize) -> winograd::Tile {
        match (self, kernel) {
            (_, 5) => winograd::Tile::F2K5,
            (Algorithm::WinogradF2, _) => winograd::Tile::F2,
            _ => winograd::Tile::F4,
        }
    }
}

/// The Winograd op handed to candle (3×3 with padding 1 or 5×5 with padding 2, stride 1), with
/// the algorithm for its weight gradient.
struct Winograd(Algorithm);

impl Winograd {
    fn geometry(&self, xs: &[usize], w: &[usize], b: &[usize]) -> Result<Geometry> {
        let kernel = w.get(2).copied().unwrap_or(0);
        Geometry::new(xs, w, b, 1, kernel / 2)
    }

    fn shape(&self, xs: &[usize], w: &[usize], b: &[usize]) -> Result<winograd::Shape> {
        let g = self.geometry(xs, w, b)?;
        Ok(winograd::Shape { n: g.n, c: g.c, h: g.h, w: g.w, o: g.o, tile: self.0.tile(g.kh) })
    }
}

impl CustomOp3 for Winograd {
    fn name(&self) -> &'static str {
        "kindling-conv2d-winograd"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xs_l: &Layout,
        w: &CpuStorage,
        w_l: &Layout,
        b: &CpuStorage,
        b_l: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let s = self.shape(xs_l.dims(), w_l.dims(), b_l.dims())?;
        let ys = winograd::forward(
            Level::chosen(),
            &s,
            contiguous_f32(NAME, xs, xs_l)?,
            contiguous_f32(NAME, w, w_l)?,
            contiguous_f32(NAME, b, b_l)?,
        );
        Ok((CpuStorage::F32(ys), Shape::from((s.n, s.o, s.h, s.w))))
    }

    fn bwd(
        &self,
        xs: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _ys: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let s = self.shape(xs.dims(), w.dims(), b.dims())?;
        let (dx, dw, db) = with_f32(NAME, xs, |x| {
            with_f32(NAME, w, |wd| {
                with_f32(NAME, grad, |gy| {
                    let dx =
                        xs.track_op().then(|| winograd::input_gradient(Level::chosen(), &s, wd, Planes::Dense(gy)));
                    // The bias gradient, and the weight gradient unless Winograd computes it, by the
                    // im2col backward pass (which skips what is not asked for).
                    let by_winograd = w.track_op() && self.0 != Algorithm::Im2colWeightGradient;
                    let g = self.geometry(xs.dims(), w.dims(), b.dims())?;
                    let want = Wanted { xs: false, w: w.track_op() && !by_winograd, b: b.track_op() };
                    let (_, dw, db) = backward(&g, x, wd, gy, want);
                    let dw = if by_winograd {
                        Some(winograd::weight_gradient(Level::chosen(), &s, x, Planes::Dense(gy)))
                    } else {
                        dw
                    };
                    Ok((dx, dw, db))
                })
            })
        })?;
        gradients((dx, dw, db), (xs, w, b))
    }
}

/// [`conv2d`] without a bias (a batch norm's shift follows): the same op with a constant zero bias,
/// which gets no gradient.
pub fn conv2d_no_bias(xs: &Tensor, w: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    let zero = Tensor::zeros(w.dim(0)?, w.dtype(), w.device())?;
    conv2d(xs, w, &zero, stride, padding)
}

/// The op handed to candle; the shapes come from the layouts on every call.
struct Conv2d {
    stride: usize,
    padding: usize,
}

impl CustomOp3 for Conv2d {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xs_l: &Layout,
        w: &CpuStorage,
        w_l: &Layout,
        b: &CpuStorage,
        b_l: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = Geometry::new(xs_l.dims(), w_l.dims(), b_l.dims(), self.stride, self.padding)?;
        let ys =
            forward(&g, contiguous_f32(NAME, xs, xs_l)?, contiguous_f32(NAME, w, w_l)?, contiguous_f32(NAME, b, b_l)?);
        Ok((CpuStorage::F32(ys), Shape::from((g.n, g.o, g.ho, g.wo))))
    }

    fn bwd(
        &self,
        xs: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _ys: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = Geometry::new(xs.dims(), w.dims(), b.dims(), self.stride, self.padding)?;
        // candle asks for all three gradients whenever any argument is tracked; answering `None`
        // for the others is how their work is skipped.
        let want = Wanted { xs: xs.track_op(), w: w.track_op(), b: b.track_op() };
        let (dx, dw, db) = with_f32(NAME, xs, |x| {
            with_f32(NAME, w, |wd| with_f32(NAME, grad, |gy| Ok(backward(&g, x, wd, gy, want))))
        })?;
        gradients((dx, dw, db), (xs, w, b))
    }
}

/// The three gradients as tensors shaped like the arguments they belong to.
#[allow(clippy::type_complexity)]
fn gradients(
    (dx, dw, db): (Option<Vec<f32>>, Option<Vec<f32>>, Option<Vec<f32>>),
    (xs, w, b): (&Tensor, &Tensor, &Tensor),
) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
    let tensor =
        |v: Option<Vec<f32>>, like: &Tensor| v.map(|v| Tensor::from_vec(v, like.shape(), like.device())).transpose();
    Ok((tensor(dx, xs)?, tensor(dw, w)?, tensor(db, b)?))
}

/// Sizes of one convolution, checked once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Geometry {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    pad: usize,
    ho: usize,
    wo: usize,
}

impl Geometry {
    fn new(xs: &[usize], w: &[usize], b: &[usize], stride: usize, pad: usize) -> Result<Self> {
        let (&[n, c, h, wd], &[o, wc, kh, kw], &[bo]) = (xs, w, b) else {
            bail!("conv2d: expected xs [N, C, H, W], w [O, C, kh, kw] and b [O], got {xs:?}, {w:?}, {b:?}")
        };
        if wc != c || bo != o {
            bail!("conv2d: xs {xs:?}, w {w:?} and b {b:?} disagree on the channels; w must be [O, C, kh, kw] and b [O]")
        }
        if stride == 0 {
            bail!("conv2d: the stride must be at least 1")
        }
        if [c, h, wd, o, kh, kw].contains(&0) {
            bail!("conv2d: empty image or kernel, xs {xs:?}, w {w:?}")
        }
        if h + 2 * pad < kh || wd + 2 * pad < kw {
            bail!("conv2d: the {kh}x{kw} kernel is larger than the {h}x{wd} image padded by {pad}; pad more or use a smaller kernel")
        }
        let ho = (h + 2 * pad - kh) / stride + 1;
        let wo = (wd + 2 * pad - kw) / stride + 1;
        Ok(Self { n, c, h, w: wd, o, kh, kw, stride, pad, ho, wo })
    }

    /// Elements of one input sample.
    fn chw(&self) -> usize {
        self.c * self.h * self.w
    }

    /// Rows of the unfolded input: one per (channel, kernel row, kernel column).
    fn k(&self) -> usize {
        self.c * self.kh * self.kw
    }

    /// Output pixels per channel.
    fn p(&self) -> usize {
        self.ho * self.wo
    }

    /// Output rows unfolded at a time, so that the scratch stays within [`SCRATCH_FLOATS`]
    /// (but always at least one row).
    fn band_rows(&self) -> usize {
        (SCRATCH_FLOATS / (self.k() * self.wo)).clamp(1, self.ho)
    }

    /// The bands `[oh0, oh1)` of output rows, covering all of them.
    fn bands(&self) -> impl Iterator<Item = (usize, usize)> {
        let (rows, ho) = (self.band_rows(), self.ho);
        (0..ho).step_by(rows).map(move |oh0| (oh0, (oh0 + rows).min(ho)))
    }

    /// Floats of scratch one thread needs for a band.
    fn scratch_len(&self) -> usize {
        self.k() * self.band_rows() * self.wo
    }

    /// The input row that output row `oh` reads through kernel row `ki`, if not in the padding.
    fn input_row(&self, oh: usize, ki: usize) -> Option<usize> {
        (oh * self.stride + ki).checked_sub(self.pad).filter(|&ih| ih < self.h)
    }

    /// The output columns `[lo, hi)` whose input column `ow * stride + kj - pad` lies inside the
    /// image, for kernel column `kj`; outside it the unfolded value is padding, zero.
    fn valid_cols(&self, kj: usize) -> (usize, usize) {
        let s = self.stride;
        let lo = self.pad.saturating_sub(kj).div_ceil(s);
        let hi = match (self.w + self.pad).checked_sub(kj + 1) {
            Some(last) => (last / s + 1).min(self.wo),
            None => 0,
        };
        (lo.min(hi), hi)
    }
}

/// Which gradients the graph needs.
#[derive(Debug, Clone, Copy)]
struct Wanted {
    xs: bool,
    w: bool,
    b: bool,
}

/// Unfolds output rows `[oh0, oh1)` of one sample `xn` (`[C, H, W]`) into `cols`
/// (`[C·kh·kw, (oh1 - oh0)·Wo]`, row-major), zeros where the kernel reads padding.
fn im2col(g: &Geometry, xn: &[f32], (oh0, oh1): (usize, usize), cols: &mut [f32]) {
    let mut rows = cols.chunks_exact_mut((oh1 - oh0) * g.wo);
    for plane in xn.chunks_exact(g.h * g.w) {
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = rows.next().expect("cols holds C·kh·kw rows");
                let (lo, hi) = g.valid_cols(kj);
                for (oh, out) in (oh0..oh1).zip(row.chunks_exact_mut(g.wo)) {
                    let Some(ih) = g.input_row(oh, ki).filter(|_| lo < hi) else {
                        out.fill(0.0);
                        continue;
                    };
                    out[..lo].fill(0.0);
                    out[hi..].fill(0.0);
                    let src = &plane[ih * g.w..(ih + 1) * g.w];
                    let first = lo * g.stride + kj - g.pad;
                    if g.stride == 1 {
                        out[lo..hi].copy_from_slice(&src[first..first + hi - lo]);
                    } else {
                        for (o, &v) in out[lo..hi].iter_mut().zip(src[first..].iter().step_by(g.stride)) {
                            *o = v;
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds each unfolded value back onto the input pixel it came from.
fn col2im(g: &Geometry, cols: &[f32], (oh0, oh1): (usize, usize), dxn: &mut [f32]) {
    let mut rows = cols.chunks_exact((oh1 - oh0) * g.wo);
    for plane in dxn.chunks_exact_mut(g.h * g.w) {
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = rows.next().expect("cols holds C·kh·kw rows");
                let (lo, hi) = g.valid_cols(kj);
                if lo == hi {
                    continue;
                }
                for (oh, src) in (oh0..oh1).zip(row.chunks_exact(g.wo)) {
                    let Some(ih) = g.input_row(oh, ki) else { continue };
                    let dst = &mut plane[ih * g.w..(ih + 1) * g.w];
                    let first = lo * g.stride + kj - g.pad;
                    for (d, &v) in dst[first..].iter_mut().step_by(g.stride).zip(&src[lo..hi]) {
                        *d += v;
                    }
                }
            }
        }
    }
}

/// `y[n] = W · im2col(x[n]) + b`, sample by sample across the cores.
fn forward(g: &Geometry, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
    let (k, p) = (g.k(), g.p());
    let mut ys = zeros(g.n * g.o * p);
    ys.par_chunks_mut(g.o * p).zip(x.par_chunks(g.chw())).for_each_init(
        || vec![0f32; g.scratch_len()],
        |cols, (yn, xn)| {
            for (row, &bias) in yn.chunks_exact_mut(p).zip(b) {
                row.fill(bias);
            }
            for band in g.bands() {
                let pt = (band.1 - band.0) * g.wo;
                let cols = &mut cols[..k * pt];
                im2col(g, xn, band, cols);
                // SAFETY: dst is the [O, pt] block of yn starting at column band.0·Wo with row
                // stride P, inside yn; lhs is W as [O, K]; rhs is cols as [K, pt]. The
                // single-threaded GEMM runs inside this rayon task.
                unsafe {
                    gemm(
                        g.o,
                        pt,
                        k,
                        yn[band.0 * g.wo..].as_mut_ptr(),
                        1,
                        p as isize,
                        true,
                        w.as_ptr(),
                        1,
                        k as isize,
                        cols.as_ptr(),
                        1,
                        pt as isize,
                        1.0,
                        1.0,
                        false,
                        false,
                        false,
                        Parallelism::None,
                    );
                }
            }
        },
    );
    ys
}

/// The weight and bias gradients of one chunk of samples, summed afterwards.
struct Partial {
    dw: Vec<f32>,
    db: Vec<f32>,
}

/// The gradients `(dx, dw, db)` that `want` asks for, given the output gradient `gy`.
#[allow(clippy::type_complexity)]
fn backward(
    g: &Geometry,
    x: &[f32],
    w: &[f32],
    gy: &[f32],
    want: Wanted,
) -> (Option<Vec<f32>>, Option<Vec<f32>>, Option<Vec<f32>>) {
    let (k, p, chw) = (g.k(), g.p(), g.chw());
    // One chunk of consecutive samples per thread, so there are only as many weight-gradient
    // buffers to sum as there are threads.
    let per_chunk = g.n.div_ceil(rayon::current_num_threads()).max(1);
    let chunk = |first: usize, mut dx: Option<&mut [f32]>| -> Partial {
        let mut part =
            Partial { dw: vec![0.0; if want.w { g.o * k } else { 0 }], db: vec![0.0; if want.b { g.o } else { 0 }] };
        let mut cols = vec![0f32; if want.w || want.xs { g.scratch_len() } else { 0 }];
        let mut gyt = vec![0f32; if want.w { g.o * g.band_rows() * g.wo } else { 0 }];
        for n in first..(first + per_chunk).min(g.n) {
            let xn = &x[n * chw..(n + 1) * chw];
            let gyn = &gy[n * g.o * p..(n + 1) * g.o * p];
            for (db, row) in part.db.iter_mut().zip(gyn.chunks_exact(p)) {
                *db += simd::sum(row);
            }
            let mut dxn = dx.as_deref_mut().map(|d| &mut d[(n - first) * chw..(n - first + 1) * chw]);
            if !want.w && dxn.is_none() {
                continue;
            }
            for band in g.bands() {
                let pt = (band.1 - band.0) * g.wo;
                let cols = &mut cols[..k * pt];
                let gy_band = gyn[band.0 * g.wo..].as_ptr();
                if want.w {
                    im2col(g, xn, band, cols);
                    // The band of gy transposed to [pt, O]: read as the product's left operand,
                    // output channels contiguous. Both operands as they are run along the pixels,
                    // which `gemm` packs element by element (see `ops::dense`).
                    transpose_into(&gyn[band.0 * g.wo..], g.o, pt, p, &mut gyt[..pt * g.o]);
                    // SAFETY: dw += gy_band · colsᵀ: dst dw is [O, K] row-major; lhs is gyt read
                    // as [O, pt] (row stride 1, column stride O); rhs is cols read transposed as
                    // [pt, K] (row stride 1, column stride pt).
                    unsafe {
                        gemm(
                            g.o,
                            k,
                            pt,
                            part.dw.as_mut_ptr(),
                            1,
                            k as isize,
                            true,
                            gyt.as_ptr(),
                            g.o as isize,
                            1,
                            cols.as_ptr(),
                            pt as isize,
                            1,
                            1.0,
                            1.0,
                            false,
                            false,
                            false,
                            Parallelism::None,
                        );
                    }
                }
                if let Some(dxn) = dxn.as_deref_mut() {
                    // SAFETY: cols = Wᵀ · gy_band: dst cols is [K, pt] row-major; lhs is W read
                    // transposed as [K, O] (row stride 1, column stride K); rhs is the [O, pt]
                    // block of gyn with row stride P. The unfolded input is no longer needed.
                    unsafe {
                        gemm(
                            k,
                            pt,
                            g.o,
                            cols.as_mut_ptr(),
                            1,
                            pt as isize,
                            false,
                            w.as_ptr(),
                            k as isize,
                            1,
                            gy_band,
                            1,
                            p as isize,
                            0.0,
                            1.0,
                            false,
                            false,
                            false,
                            Parallelism::None,
                        );
                    }
                    col2im(g, cols, band, dxn);
                }
            }
        }
        part
    };
    let (dx, parts): (_, Vec<Partial>) = if want.xs {
        let mut dx = zeros(g.n * chw);
        let parts =
            dx.par_chunks_mut(per_chunk * chw).enumerate().map(|(i, d)| chunk(i * per_chunk, Some(d))).collect();
        (Some(dx), parts)
    } else {
        let chunks = g.n.div_ceil(per_chunk);
        (None, (0..chunks).into_par_iter().map(|i| chunk(i * per_chunk, None)).collect())
    };
    // Summed in chunk order, so the result does not depend on which thread finished first.
    let sum = |pick: fn(&Partial) -> &Vec<f32>, len: usize| {
        parts.iter().map(pick).fold(vec![0f32; len], |mut acc, v| {
            acc.iter_mut().zip(v).for_each(|(a, b)| *a += b);
            acc
        })
    };
    let dw = want.w.then(|| sum(|p| &p.dw, g.o * k));
    let db = want.b.then(|| sum(|p| &p.db, g.o));
    (dx, dw, db)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    /// The largest difference relative to the largest magnitude of `want`.
    fn rel_diff(got: &[f32], want: &[f32]) -> f32 {
        assert_eq!(got.len(), want.len());
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-20);
        got.iter().zip(want).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale
    }

    /// The fused convolution and pool gives exactly the values and the gradients of the two ops in
    /// turn: on the Winograd path (3×3, 16 channels, an odd 9×11 image, so the last row and column
    /// are pooled away) with a trained bias and with a fixed one (then the gradients come from the
    /// pooled gradient without the convolution-sized one), and on the im2col path (stride 2).
    #[test]
    fn fused_max_pool_matches_the_two_ops() {
        use candle_core::{Device, Var};
        let cases = [([2, 8, 9, 11], [16, 8, 3, 3], 1, 1), ([3, 2, 12, 13], [4, 2, 3, 3], 2, 1)];
        for ((dims, wdims, stride, pad), train_bias) in cases.into_iter().flat_map(|c| [(c, true), (c, false)]) {
            let dev = Device::Cpu;
            let n = |d: &[usize]| d.iter().product::<usize>();
            let xs = Var::from_vec(random(n(&dims), 1), dims.to_vec(), &dev).unwrap();
            let w = Var::from_vec(random(n(&wdims), 2), wdims.to_vec(), &dev).unwrap();
            let bv = Var::from_vec(random(wdims[0], 3), wdims[0], &dev).unwrap();
            let b = if train_bias { bv.as_tensor().clone() } else { bv.as_tensor().detach() };
            let fused = conv2d_max_pool2(&xs, &w, &b, stride, pad).unwrap();
            let apart = crate::ops::max_pool2d(&conv2d(&xs, &w, &b, stride, pad).unwrap(), 2, 2).unwrap();
            assert_eq!(fused.dims(), apart.dims());
            let values = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert_eq!(values(&fused), values(&apart), "{dims:?}: values");
            // A loss that weighs every output differently, so that each gradient is its own.
            let weights = Tensor::from_vec(random(fused.elem_count(), 4), fused.shape(), &dev).unwrap();
            let (gf, ga) = (
                (&fused * &weights).unwrap().sum_all().unwrap().backward().unwrap(),
                (&apart * &weights).unwrap().sum_all().unwrap().backward().unwrap(),
            );
            for (name, v) in [("xs", &xs), ("w", &w)] {
                let case = format!("{dims:?}, bias trained: {train_bias}: gradient of {name}");
                assert_eq!(values(gf.get(v).unwrap()), values(ga.get(v).unwrap()), "{case}");
            }
            match train_bias {
                true => assert_eq!(values(gf.get(&bv).unwrap()), values(ga.get(&bv).unwrap()), "{dims:?}: bias"),
                false => assert!(gf.get(&bv).is_none() && ga.get(&bv).is_none(), "{dims:?}: a fixed bias"),
            }
        }
    }

    /// The gradients from the pooled gradient (`Planes::Unpooled`) are those from the pool's full
    /// backward pass, bit for bit: every tile, every SIMD level, even and odd sides (an odd last
    /// row and column get zeros), one sample to several chunks.
    #[test]
    fn winograd_gradients_from_the_pooled_gradient_match_the_pool_backward() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(8);
        for (n, c, h, w, o) in [(1, 8, 2, 2, 8), (3, 8, 9, 11, 9), (2, 24, 31, 31, 16), (40, 16, 7, 7, 24)] {
            let plane = (h / 2) * (w / 2);
            let gy = random(n * o * plane, 9);
            let at: Vec<u8> = (0..n * o * plane).map(|_| rng.random_range(0..4u8)).collect();
            let full = crate::ops::maxpool::halve_backward_from_argmax(&[n, o, h, w], &at, &gy).unwrap();
            let unpooled = Planes::Unpooled { gy: &gy, at: &at };
            for tile in [winograd::Tile::F2, winograd::Tile::F4, winograd::Tile::F2K5] {
                let s = winograd::Shape { n, c, h, w, o, tile };
                let (x, wt) = (random(n * c * h * w, 10), random(o * c * tile.kernel().pow(2), 11));
                for level in Level::tested() {
                    let case = format!("n {n} c {c} {h}x{w} o {o}, {tile:?}, {level:?}");
                    let (want, got) = (
                        winograd::input_gradient(level, &s, &wt, Planes::Dense(&full)),
                        winograd::input_gradient(level, &s, &wt, unpooled),
                    );
                    assert!(want == got, "dx, {case}");
                    let (want, got) = (
                        winograd::weight_gradient(level, &s, &x, Planes::Dense(&full)),
                        winograd::weight_gradient(level, &s, &x, unpooled),
                    );
                    assert!(want == got, "dw, {case}");
                }
            }
        }
    }

    /// Winograd's forward pass pooled on the way out gives the pooled values and argmax positions of
    /// its forward pass then the pool, bit for bit: every tile, every SIMD level, even and odd
    /// sides, one sample to several chunks; also where windows tie (a zero filter: every value is
    /// the bias) and where one holds a NaN (the pool's own rules: the first maximum, the first NaN).
    #[test]
    fn winograd_pooled_forward_matches_forward_then_pool() {
        for (n, c, h, w, o) in [(1, 8, 2, 2, 8), (3, 8, 9, 11, 9), (2, 24, 31, 31, 16), (40, 16, 7, 7, 24)] {
            for tile in [winograd::Tile::F2, winograd::Tile::F4, winograd::Tile::F2K5] {
                let kk = tile.kernel().pow(2);
                let s = winograd::Shape { n, c, h, w, o, tile };
                let mut x = random(n * c * h * w, 5);
                x[c * h * w / 2] = f32::NAN;
                let mut wt = random(o * c * kk, 6);
                wt[..c * kk].fill(0.0); // output channel 0: the bias everywhere
                let b = random(o, 7);
                for level in Level::tested() {
                    let case = format!("n {n} c {c} {h}x{w} o {o}, {tile:?}, {level:?}");
                    let full = winograd::forward(level, &s, &x, &wt, &b);
                    let (want, want_at, _) = crate::ops::maxpool::halve_with_argmax(&[n, o, h, w], &full).unwrap();
                    let (got, got_at) = winograd::forward_max_pool2(level, &s, &x, &wt, &b);
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&got), bits(&want), "values, {case}");
                    assert_eq!(got_at, want_at, "argmax, {case}");
                    assert!(got.iter().any(|v| v.is_nan()), "{case}: the NaN reached the pooled output");
                }
            }
        }
    }

    /// Winograd against im2col, forward, input gradient, weight gradient and bias gradient, on
    /// even and odd sides (partial tiles), one to many samples per chunk, with both tiles: within
    /// 1e-5 of the largest value for F(2×2, 3×3) (f32 rounding of differently ordered sums), 1e-4
    /// for F(4×4, 3×3) (its transforms' larger entries cost about a digit). Every SIMD level this
    /// CPU runs gives bit-identical results (the same additions in the same order).
    #[test]
    fn winograd_matches_im2col() {
        let levels = Level::tested();
        for (n, c, h, w, o) in [
            (3, 8, 8, 8, 9),
            (2, 16, 7, 5, 8),
            (5, 9, 3, 3, 12),
            (1, 24, 31, 31, 16),
            (70, 8, 2, 1, 8),
            (4, 64, 15, 15, 32),
        ] {
            for (kernel, tiles) in [
                (3, &[(winograd::Tile::F2, 1e-5), (winograd::Tile::F4, 5e-5)][..]),
                (5, &[(winograd::Tile::F2K5, 5e-5)][..]),
            ] {
                let kk = kernel * kernel;
                let (x, wt, b, gy) =
                    (random(n * c * h * w, 1), random(o * c * kk, 2), random(o, 3), random(n * o * h * w, 4));
                let g = Geometry::new(&[n, c, h, w], &[o, c, kernel, kernel], &[o], 1, kernel / 2).unwrap();
                let (dx, dw, db) = backward(&g, &x, &wt, &gy, Wanted { xs: true, w: true, b: true });
                assert_eq!(db.unwrap().len(), o);
                for &(tile, bound) in tiles {
                    let s = winograd::Shape { n, c, h, w, o, tile };
                    let mut first: Option<[Vec<f32>; 3]> = None;
                    for &level in &levels {
                        let case = format!("n {n} c {c} {h}x{w} o {o}, {tile:?}, {level:?}");
                        let y = winograd::forward(level, &s, &x, &wt, &b);
                        let e = rel_diff(&y, &forward(&g, &x, &wt, &b));
                        assert!(e < bound, "forward, {case}: {e}");
                        let wdx = winograd::input_gradient(level, &s, &wt, Planes::Dense(&gy));
                        let e = rel_diff(&wdx, dx.as_ref().unwrap());
                        assert!(e < bound, "dx, {case}: {e}");
                        let wdw = winograd::weight_gradient(level, &s, &x, Planes::Dense(&gy));
                        let e = rel_diff(&wdw, dw.as_ref().unwrap());
                        assert!(e < bound, "dw, {case}: {e}");
                        match &first {
                            None => first = Some([y, wdx, wdw]),
                            Some(base) => assert!(base == &[y, wdx, wdw], "{case} differs from the baseline"),
                        }
                    }
                }
            }
        }
    }

    /// Through candle: the op's gradients against central finite differences of
    /// `Σ ys ⊙ r` in f64 arithmetic on f32 values (step 1e-2; the loss is linear in each
    /// argument, so the only error is rounding).
    #[test]
    fn winograd_gradients_match_finite_differences() {
        let dev = candle_core::Device::Cpu;
        let (n, c, h, w, o) = (2, 8, 5, 6, 8);
        let x = candle_core::Var::from_vec(random(n * c * h * w, 5), (n, c, h, w), &dev).unwrap();
        let b = candle_core::Var::from_vec(random(o, 7), o, &dev).unwrap();
        let r = Tensor::from_vec(random(n * o * h * w, 8), (n, o, h, w), &dev).unwrap();
        // The default (Winograd F(4×4) forward and input gradient, its dual for the weight gradient), F(2×2)
        // tiles, and the weight gradient by im2col; for 5×5 kernels, F(2×2, 5×5).
        for (k, algorithm) in [
            (3, Algorithm::Auto),
            (3, Algorithm::WinogradF2),
            (3, Algorithm::Im2colWeightGradient),
            (5, Algorithm::Auto),
            (5, Algorithm::Im2colWeightGradient),
        ] {
            let wt = candle_core::Var::from_vec(random(o * c * k * k, 6), (o, c, k, k), &dev).unwrap();
            let loss = |x: &Tensor, wt: &Tensor| -> f64 {
                let y = conv2d_with(x, wt, &b, 1, k / 2, algorithm).unwrap();
                (y * &r).unwrap().sum_all().unwrap().to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap()
            };
            let y = conv2d_with(&x, &wt, &b, 1, k / 2, algorithm).unwrap();
            let grads = (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
            let (gx, gw) =
                (grads.get(&x).unwrap().flatten_all().unwrap(), grads.get(&wt).unwrap().flatten_all().unwrap());
            let (gx, gw) = (gx.to_vec1::<f32>().unwrap(), gw.to_vec1::<f32>().unwrap());
            let eps = 1e-2f32;
            for (var, grad, picks) in [(&x, &gx, [0usize, 17, 100, 479]), (&wt, &gw, [0, 5, 300, 575])] {
                let base = var.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                for i in picks {
                    let mut plus = base.clone();
                    plus[i] += eps;
                    let mut minus = base.clone();
                    minus[i] -= eps;
                    let t = |v: Vec<f32>| Tensor::from_vec(v, var.shape(), &dev).unwrap();
                    let (lp, lm) = if var.dims().len() == 4 && var.dim(0).unwrap() == n {
                        (loss(&t(plus), &wt), loss(&t(minus), &wt))
                    } else {
                        (loss(&x, &t(plus)), loss(&x, &t(minus)))
                    };
                    let fd = (lp - lm) / (2.0 * eps as f64);
                    assert!(
                        (fd - grad[i] as f64).abs() < 2e-3 * (1.0 + fd.abs()),
                        "{algorithm:?}, element {i}: {fd} vs {}",
                        grad[i]
                    );
                }
            }
        }
    }

    fn geometry(h: usize, w: usize, kh: usize, kw: usize, stride: usize, pad: usize) -> Geometry {
        Geometry::new(&[1, 2, h, w], &[3, 2, kh, kw], &[3], stride, pad).unwrap()
    }

    #[test]
    fn output_size_follows_pytorch() {
        let g = geometry(7, 10, 3, 2, 2, 1);
        assert_eq!((g.ho, g.wo), ((7 + 2 - 3) / 2 + 1, (10 + 2 - 2) / 2 + 1));
        assert!(Geometry::new(&[1, 2, 2, 2], &[3, 2, 5, 5], &[3], 1, 1).is_err());
        assert!(Geometry::new(&[1, 2, 4, 4], &[3, 1, 3, 3], &[3], 1, 1).is_err());
        assert!(Geometry::new(&[1, 2, 4, 4], &[3, 2, 3, 3], &[3], 0, 1).is_err());
    }

    #[test]
    fn valid_cols_match_brute_force() {
        for (w, kw, stride, pad) in [(5, 3, 1, 1), (6, 5, 2, 2), (4, 3, 3, 2), (3, 5, 1, 2), (9, 2, 3, 0)] {
            let g = geometry(4, w, 1, kw, stride, pad);
            for kj in 0..kw {
                let inside: Vec<usize> =
                    (0..g.wo).filter(|ow| (ow * stride + kj).checked_sub(pad).is_some_and(|iw| iw < w)).collect();
                let (lo, hi) = g.valid_cols(kj);
                assert_eq!((lo..hi).collect::<Vec<_>>(), inside, "w {w} kw {kw} s {stride} p {pad} kj {kj}");
            }
        }
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), c> = <x, col2im(c)> for every x and c, band by band.
        let g = geometry(5, 7, 3, 2, 2, 1);
        let x: Vec<f32> = (0..g.chw()).map(|i| (i as f32 * 0.37).sin()).collect();
        for band in g.bands() {
            let len = g.k() * (band.1 - band.0) * g.wo;
            let c: Vec<f32> = (0..len).map(|i| (i as f32 * 0.11).cos()).collect();
            let mut cols = vec![f32::NAN; len];
            im2col(&g, &x, band, &mut cols);
            let mut dx = vec![0f32; g.chw()];
            col2im(&g, &c, band, &mut dx);
            let lhs: f32 = cols.iter().zip(&c).map(|(a, b)| a * b).sum();
            let rhs: f32 = x.iter().zip(&dx).map(|(a, b)| a * b).sum();
            assert!((lhs - rhs).abs() < 1e-4, "{lhs} vs {rhs}");
        }
    }

    #[test]
    fn bands_cover_every_output_row_once() {
        let g = Geometry::new(&[1, 64, 40, 40], &[8, 64, 5, 5], &[8], 1, 2).unwrap();
        assert!(g.band_rows() < g.ho, "this shape should need several bands");
        let rows: Vec<usize> = g.bands().flat_map(|(a, b)| a..b).collect();
        assert_eq!(rows, (0..g.ho).collect::<Vec<_>>());
        assert!(g.scratch_len() <= SCRATCH_FLOATS);
    }
}

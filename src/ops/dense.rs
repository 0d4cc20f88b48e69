//! A fully connected layer, `y = x·Wᵀ + b`, as one op whose backward pass skips the input
//! gradient when nothing needs it.
//!
//! candle differentiates `x.matmul(&w.t())` by computing both operands' gradients, whether or not
//! `x` tracks one: for the first layer of a model (`x` the image batch), the product `dy·W` it
//! throws away costs as much as the weight gradient itself. Here the input gradient is computed
//! only when `x` is a variable or the output of one (`Tensor::track_op`), the bias is added in
//! the same GEMM, and the forward pass writes straight into the output.
//!
//! ```
//! use candle_core::{DType, Device, Tensor, Var};
//! let dev = Device::Cpu;
//! let xs = Tensor::randn(0f32, 1., (4, 6), &dev)?; // a batch: no gradient wanted
//! let w = Var::randn(0f32, 0.1, (3, 6), &dev)?;
//! let b = Var::zeros(3, DType::F32, &dev)?;
//! let ys = kindling::ops::linear(&xs, &w, &b)?; // [4, 3]
//! let want = xs.matmul(&w.t()?)?.broadcast_add(&b)?;
//! assert!((ys.clone() - want)?.abs()?.max_all()?.to_scalar::<f32>()? < 1e-6);
//! let grads = ys.sum_all()?.backward()?;
//! assert_eq!(grads.get(&w).unwrap().dims(), &[3, 6]);
//! assert!(grads.get(&xs).is_none());
//! # Ok::<(), candle_core::Error>(())
//! ```

use candle_core::{bail, CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor};
use gemm::{gemm, Parallelism};

use super::storage::contiguous_f32;

const NAME: &str = "kindling-linear";

/// Multiply-adds below which one thread does the GEMM: splitting a small product costs more
/// than it saves.
const PARALLEL_MACS: usize = 1 << 18;

/// Below this many samples or outputs the product runs on the operands as they are.
const NARROW: usize = 16;

/// `xs·wᵀ + b`.
///
/// On the CPU in `f32` this is kindling's op; elsewhere candle's `matmul` and `broadcast_add`.
///
/// # Shapes
/// - `xs`: `[B, D]`, `w`: `[O, D]`, `b`: `[O]`
/// - result: `[B, O]`
pub fn linear(xs: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (&[n, d], &[o, dw], &[ob]) = (xs.dims(), w.dims(), b.dims()) else {
        bail!("linear: expected xs [B, D], w [O, D], b [O], got {:?}, {:?}, {:?}", xs.dims(), w.dims(), b.dims())
    };
    if d != dw || o != ob {
        bail!("linear: xs [{n}, {d}] does not fit w [{o}, {dw}] and b [{ob}]")
    }
    let cpu_f32 = xs.device().is_cpu() && [xs, w, b].iter().all(|t| t.dtype() == DType::F32);
    if !cpu_f32 {
        return xs.matmul(&w.t()?)?.broadcast_add(b);
    }
    xs.contiguous()?.apply_op3(&w.contiguous()?, &b.contiguous()?, Linear)
}

struct Linear;

impl CustomOp3 for Linear {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        w: &CpuStorage,
        wl: &Layout,
        b: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, w, b) = (contiguous_f32(NAME, xs, xl)?, contiguous_f32(NAME, w, wl)?, contiguous_f32(NAME, b, bl)?);
        let (n, d, o) = (xl.dims()[0], xl.dims()[1], wl.dims()[0]);
        let threads = rayon::current_num_threads();
        let parallelism =
            if n * d * o >= PARALLEL_MACS && threads > 1 { Parallelism::Rayon(threads) } else { Parallelism::None };
        if n == 0 || o == 0 || d == 0 {
            let ys: Vec<f32> = (0..n).flat_map(|_| b.iter().copied()).collect();
            return Ok((CpuStorage::F32(ys), Shape::from((n, o))));
        }
        // Both x and W run along d, and `gemm` packs such a pair element by element: on the MLP's
        // first layer (128×3072 by 3072×512) 7.2 ms, 56 GFLOP/s, against 1.9 ms once either
        // operand is transposed first. So the smaller of the two is transposed (a blocked copy),
        // unless either side is narrow: for the linear classifier (3072 → 10) the direct product
        // was the faster (about 225 k against 195 k images/s).
        let (nn, oo, dd) = (n as isize, o as isize, d as isize);
        // `dst = lhs·rhs` (`+ dst` when `add`), [n, d]·[d, o], each matrix as (column, row) strides.
        let product = |dst: &mut [f32],
                       ds: (isize, isize),
                       add: bool,
                       lhs: &[f32],
                       ls: (isize, isize),
                       rhs: &[f32],
                       rs: (isize, isize)| {
            assert!(dst.len() == n * o && lhs.len() == n * d && rhs.len() == d * o);
            let alpha = if add { 1.0 } else { 0.0 };
            // SAFETY: the lengths were just checked, and the strides of every caller below address
            // exactly those elements.
            unsafe {
                gemm(
                    n,
                    o,
                    d,
                    dst.as_mut_ptr(),
                    ds.0,
                    ds.1,
                    add,
                    lhs.as_ptr(),
                    ls.0,
                    ls.1,
                    rhs.as_ptr(),
                    rs.0,
                    rs.1,
                    alpha,
                    1.0,
                    false,
                    false,
                    false,
                    parallelism,
                );
            }
        };
        let with_bias = || -> Vec<f32> { (0..n).flat_map(|_| b.iter().copied()).collect() };
        let ys = if n.min(o) < NARROW {
            let mut ys = with_bias();
            product(&mut ys, (1, oo), true, x, (1, dd), w, (dd, 1));
            ys
        } else if n <= o {
            // yᵀ is computed column-major with xᵀ as the left operand, then written out row-major
            // with the bias.
            let xt = transpose(x, n, d);
            let mut yt = vec![0f32; n * o];
            product(&mut yt, (nn, 1), false, &xt, (nn, 1), w, (dd, 1));
            let mut ys = transpose(&yt, o, n);
            for (y, bias) in ys.iter_mut().zip(b.iter().cycle()) {
                *y += bias;
            }
            ys
        } else {
            // Wᵀ row-major as the right operand; the bias is the destination's starting value.
            let wt = transpose(w, o, d);
            let mut ys = with_bias();
            product(&mut ys, (1, oo), true, x, (1, dd), &wt, (1, oo));
            ys
        };
        Ok((CpuStorage::F32(ys), Shape::from((n, o))))
    }

    fn bwd(
        &self,
        xs: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _ys: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dw = grad.t()?.matmul(xs)?; // [O, B]·[B, D]
        let db = grad.sum(0)?;
        let dx = if xs.track_op() { Some(grad.matmul(w)?) } else { None }; // [B, O]·[O, D]
        Ok((dx, Some(dw), Some(db)))
    }
}

/// `a` (`[rows, cols]`, row-major) transposed.
fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; rows * cols];
    super::storage::transpose_into(a, rows, cols, cols, &mut t);
    t
}

/// `layer` (candle's `Linear`, which holds the parameters) applied through [`linear`].
pub fn linear_layer(xs: &Tensor, layer: &candle_nn::Linear) -> Result<Tensor> {
    match layer.bias() {
        Some(b) => linear(xs, layer.weight(), b),
        None => candle_core::Module::forward(layer, xs),
    }
}

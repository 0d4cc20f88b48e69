//! 3×3, stride-1, padding-1 convolutions by Winograd's minimal filtering F(2×2, 3×3) (Lavin &
//! Gray, 2016): 16 multiplications per 2×2 output tile and input-output channel pair instead of
//! im2col's 36, in the forward pass, the input gradient and the weight gradient alike.
//!
//! With `d` a 4×4 input tile, `g` a 3×3 filter and the constant matrices `Bᵀ`, `G`, `Aᵀ` below, a
//! 2×2 output tile is `Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A`. Summed over input channels, the element-wise
//! product becomes 16 matrix products, one per position ξ of the 4×4 transformed tile:
//! `M_ξ[o, t] = Σ_c U_ξ[o, c] · V_ξ[c, t]` over tiles `t`, which the GEMM kernels run.
//! - input gradient: the same convolution of the output gradient with the filters flipped and
//!   their channels swapped (`W'[c, o] = rot180(W[o, c])`), padding 1 again;
//! - weight gradient: with `Z = A dY Aᵀ` the 4×4 transform of an output-gradient tile,
//!   `dU_ξ[o, c] = Σ_t Z_ξ[o, t] · V_ξ[c, t]` (16 products again) and `dW = Gᵀ dU G`.
//!
//! Samples are processed in chunks across the cores (enough per chunk to give each product a few
//! hundred tile columns), each chunk's transformed tiles in a per-thread buffer. The transforms
//! work channels-last: each sample is copied into a zero-bordered `[H, W, C]` buffer, and every
//! tile is transformed eight channels at a time (one AVX2 register, see [`super::simd`]), so the
//! vector width does not depend on the image's width (7×7 and 3×3 maps have 4 and 2 tiles per
//! row); the transformed tiles are stored `[16][tiles][C]`, which the matrix products read
//! through their strides. This cut the transforms' share of the airbench94 step from about 27%
//! to 12% (`perf`), the width-wise version having run scalar on small maps. Partial tiles at
//! odd image sides are computed whole and cropped. F(2×2, 3×3)'s transforms have entries 0, ±½, ±1,
//! so its floating-point error stays within a few ulps of im2col's (the tests bound the
//! difference at 1e-5 relative); larger tiles (F(4×4, 3×3)) save more multiplications but lose
//! about a digit of f32 accuracy, and are not used.

use gemm::{gemm, Parallelism};
use rayon::prelude::*;

use super::simd::{multiversion, Level};

/// Tile columns a chunk aims for in each of its 16 products.
const TILE_COLUMNS: usize = 512;

/// The sizes of one convolution `[N, C, H, W] ⋆ [O, C, 3, 3]`, padding 1, stride 1.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
}

impl Shape {
    /// Tiles per image row and column.
    fn tiles(&self) -> (usize, usize) {
        (self.h.div_ceil(2), self.w.div_ceil(2))
    }

    /// Tiles per image.
    fn t(&self) -> usize {
        let (a, b) = self.tiles();
        a * b
    }

    /// Samples per chunk.
    fn chunk(&self) -> usize {
        (TILE_COLUMNS / self.t()).clamp(1, self.n.div_ceil(rayon::current_num_threads()).max(1))
    }
}

/// `U_ξ = (G g Gᵀ)_ξ` for every filter: `[16][O][C]` from `w` `[O, C, 3, 3]`.
fn filter_transform(o: usize, c: usize, w: &[f32]) -> Vec<f32> {
    let mut u = vec![0f32; 16 * o * c];
    for oc in 0..o * c {
        let g = &w[oc * 9..oc * 9 + 9];
        // t = G g (4×3), then t Gᵀ (4×4). G = [[1,0,0],[½,½,½],[½,-½,½],[0,0,1]].
        let mut t = [[0f32; 3]; 4];
        for j in 0..3 {
            let (g0, g1, g2) = (g[j], g[3 + j], g[6 + j]);
            t[0][j] = g0;
            t[1][j] = 0.5 * (g0 + g1 + g2);
            t[2][j] = 0.5 * (g0 - g1 + g2);
            t[3][j] = g2;
        }
        for (i, row) in t.iter().enumerate() {
            let v = [row[0], 0.5 * (row[0] + row[1] + row[2]), 0.5 * (row[0] - row[1] + row[2]), row[2]];
            for (j, &x) in v.iter().enumerate() {
                u[(i * 4 + j) * o * c + oc] = x;
            }
        }
    }
    u
}

/// `dW = Gᵀ dU G` for every filter, from `du` `[16][O][C]` into `[O, C, 3, 3]`.
fn filter_gradient(o: usize, c: usize, du: &[f32]) -> Vec<f32> {
    let mut dw = vec![0f32; o * c * 9];
    for oc in 0..o * c {
        let m = |i: usize, j: usize| du[(i * 4 + j) * o * c + oc];
        // Gᵀ = [[1,½,½,0],[0,½,-½,0],[0,½,½,1]]; t = Gᵀ dU (3×4), then t G (3×3).
        let column = |j: usize| {
            let (a, b, cc, d) = (m(0, j), m(1, j), m(2, j), m(3, j));
            [a + 0.5 * (b + cc), 0.5 * (b - cc), 0.5 * (b + cc) + d]
        };
        let cols = [column(0), column(1), column(2), column(3)];
        let t: [[f32; 4]; 3] = std::array::from_fn(|i| std::array::from_fn(|j| cols[j][i]));
        for (i, row) in t.iter().enumerate() {
            let (a, b, cc, d) = (row[0], row[1], row[2], row[3]);
            let out = &mut dw[oc * 9 + i * 3..oc * 9 + i * 3 + 3];
            out[0] = a + 0.5 * (b + cc);
            out[1] = 0.5 * (b - cc);
            out[2] = 0.5 * (b + cc) + d;
        }
    }
    dw
}

/// Scratch buffers kept per thread between calls, grown when too small and never zeroed again:
/// every element a transform or product reads was written by the step before it.
fn with_scratch<R>(lens: [usize; 2], f: impl FnOnce(&mut [f32], &mut [f32]) -> R) -> R {
    thread_local! {
        static SCRATCH: std::cell::RefCell<[Vec<f32>; 2]> = const { std::cell::RefCell::new([Vec::new(), Vec::new()]) };
    }
    SCRATCH.with(|cell| {
        let mut bufs = cell.borrow_mut();
        for (buf, &len) in bufs.iter_mut().zip(&lens) {
            if buf.len() < len {
                buf.resize(len, 0.0);
            }
        }
        let [a, b] = &mut *bufs;
        f(&mut a[..lens[0]], &mut b[..lens[1]])
    })
}

/// Lanes per block in the tile transforms: 8 f32 fill one AVX2 register (two SSE ones).
const LANES: usize = 8;

/// `x - y`, `x + y` lane by lane.
#[inline(always)]
fn sub<const L: usize>(x: [f32; L], y: [f32; L]) -> [f32; L] {
    std::array::from_fn(|i| x[i] - y[i])
}

#[inline(always)]
fn add<const L: usize>(x: [f32; L], y: [f32; L]) -> [f32; L] {
    std::array::from_fn(|i| x[i] + y[i])
}

#[inline(always)]
fn neg<const L: usize>(x: [f32; L]) -> [f32; L] {
    std::array::from_fn(|i| -x[i])
}

/// Copies sample `plane` (`[C, H, W]`) into `hwc`, a zero-bordered `[Hp, Wp, C]` image whose
/// interior starts at row and column `pad`: channels last, so that the transforms below read and
/// write runs of channels, the SIMD lanes, whatever the image's width.
#[inline(always)]
fn to_channels_last(plane: &[f32], c: usize, h: usize, w: usize, pad: usize, wp: usize, hwc: &mut [f32]) {
    for ch in 0..c {
        for y in 0..h {
            let row = &plane[(ch * h + y) * w..][..w];
            let base = ((y + pad) * wp + pad) * c + ch;
            for (x, &value) in row.iter().enumerate() {
                hwc[base + x * c] = value;
            }
        }
    }
}

/// `V = Bᵀ d B` on lanes `c0 .. c0 + L` of one tile: `d[a][b]` is `hwc[at[a][b] + c0 ..]`, and
/// position ξ goes to `v[to[ξ] + c0 ..]`.
#[inline(always)]
fn input_block<const L: usize>(hwc: &[f32], at: &[[usize; 4]; 4], c0: usize, v: &mut [f32], to: &[usize; 16]) {
    let d = |a: usize, b: usize| -> [f32; L] { hwc[at[a][b] + c0..][..L].try_into().unwrap() };
    // Bᵀ = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]] on the rows, then B on the columns.
    let t: [[[f32; L]; 4]; 4] = std::array::from_fn(|b| {
        let (d0, d1, d2, d3) = (d(0, b), d(1, b), d(2, b), d(3, b));
        [sub(d0, d2), add(d1, d2), sub(d2, d1), sub(d1, d3)]
    });
    for i in 0..4 {
        let (t0, t1, t2, t3) = (t[0][i], t[1][i], t[2][i], t[3][i]);
        for (j, x) in [sub(t0, t2), add(t1, t2), sub(t2, t1), sub(t1, t3)].into_iter().enumerate() {
            v[to[i * 4 + j] + c0..][..L].copy_from_slice(&x);
        }
    }
}

multiversion! {
    /// `V_ξ = (Bᵀ d B)_ξ` for the tiles of samples `xs` (`[S, C, H, W]`) into `v`
    /// `[16][S·T][C]` (channels contiguous).
    ///
    /// Each sample is first copied channels-last into a buffer with a zero border (one row and
    /// column before the image, up to three after), then every 4×4 tile is transformed a block
    /// of channels at a time.
    fn input_transform(s: &Shape, samples: usize, xs: &[f32], v: &mut [f32]) {
        let (th, tw) = s.tiles();
        let (t, cols, c) = (s.t(), samples * s.t(), s.c);
        let wp = 2 * tw + 2;
        let mut hwc = vec![0f32; (2 * th + 2) * wp * c];
        for n in 0..samples {
            to_channels_last(&xs[n * c * s.h * s.w..][..c * s.h * s.w], c, s.h, s.w, 1, wp, &mut hwc);
            for ty in 0..th {
                for tx in 0..tw {
                    let at: [[usize; 4]; 4] = std::array::from_fn(|a| std::array::from_fn(|b| ((2 * ty + a) * wp + 2 * tx + b) * c));
                    let col = n * t + ty * tw + tx;
                    let to: [usize; 16] = std::array::from_fn(|xi| (xi * cols + col) * c);
                    let mut c0 = 0;
                    while c0 + LANES <= c {
                        input_block::<LANES>(&hwc, &at, c0, v, &to);
                        c0 += LANES;
                    }
                    for c0 in c0..c {
                        input_block::<1>(&hwc, &at, c0, v, &to);
                    }
                }
            }
        }
    }
}

/// `Y = Aᵀ M A + bias` on lanes `o0 .. o0 + L` of one tile: position ξ is `m[from[ξ] + o0 ..]`,
/// and output pixel `(a, b)` goes to `out[to[a][b] + o0 ..]`.
#[inline(always)]
fn output_block<const L: usize>(
    m: &[f32],
    from: &[usize; 16],
    bias: &[f32],
    o0: usize,
    out: &mut [f32],
    to: &[[usize; 2]; 2],
) {
    let e = |xi: usize| -> [f32; L] { m[from[xi] + o0..][..L].try_into().unwrap() };
    // Aᵀ = [[1,1,1,0],[0,1,-1,-1]] on the columns of each row i, then on the rows.
    let r: [[[f32; L]; 2]; 4] = std::array::from_fn(|i| {
        let (e0, e1, e2, e3) = (e(i * 4), e(i * 4 + 1), e(i * 4 + 2), e(i * 4 + 3));
        [add(add(e0, e1), e2), sub(sub(e1, e2), e3)]
    });
    let bias: [f32; L] = bias[o0..][..L].try_into().unwrap();
    for b in 0..2 {
        let (q0, q1, q2, q3) = (r[0][b], r[1][b], r[2][b], r[3][b]);
        let top = add(add(add(q0, q1), q2), bias);
        let bottom = add(sub(sub(q1, q2), q3), bias);
        out[to[0][b] + o0..][..L].copy_from_slice(&top);
        out[to[1][b] + o0..][..L].copy_from_slice(&bottom);
    }
}

multiversion! {
    /// `Y = Aᵀ M A` for the tiles of `m` `[16][S·T][O]`, plus `bias`, cropped into `ys`
    /// `[S, O, H, W]`: each sample's tiles into a channels-last buffer, then copied out.
    fn output_transform(s: &Shape, samples: usize, m: &[f32], bias: &[f32], ys: &mut [f32]) {
        let (th, tw) = s.tiles();
        let (t, cols, o) = (s.t(), samples * s.t(), s.o);
        let wo = 2 * tw;
        let mut hwc = vec![0f32; 2 * th * wo * o];
        for n in 0..samples {
            for ty in 0..th {
                for tx in 0..tw {
                    let col = n * t + ty * tw + tx;
                    let from: [usize; 16] = std::array::from_fn(|xi| (xi * cols + col) * o);
                    let to: [[usize; 2]; 2] = std::array::from_fn(|a| std::array::from_fn(|b| ((2 * ty + a) * wo + 2 * tx + b) * o));
                    let mut o0 = 0;
                    while o0 + LANES <= o {
                        output_block::<LANES>(m, &from, bias, o0, &mut hwc, &to);
                        o0 += LANES;
                    }
                    for o0 in o0..o {
                        output_block::<1>(m, &from, bias, o0, &mut hwc, &to);
                    }
                }
            }
            let plane = &mut ys[n * o * s.h * s.w..][..o * s.h * s.w];
            for (ch, out) in plane.chunks_exact_mut(s.h * s.w).enumerate() {
                for (y, row) in out.chunks_exact_mut(s.w).enumerate() {
                    for (x, p) in row.iter_mut().enumerate() {
                        *p = hwc[(y * wo + x) * o + ch];
                    }
                }
            }
        }
    }
}

/// `Z = A g Aᵀ` on lanes `o0 .. o0 + L` of one 2×2 output-gradient tile: `g[a][b]` is
/// `hwc[at[a][b] + o0 ..]`, position ξ goes to `z[to[ξ] + o0 ..]`.
#[inline(always)]
fn gradient_block<const L: usize>(hwc: &[f32], at: &[[usize; 2]; 2], o0: usize, z: &mut [f32], to: &[usize; 16]) {
    let g = |a: usize, b: usize| -> [f32; L] { hwc[at[a][b] + o0..][..L].try_into().unwrap() };
    // A = [[1,0],[1,1],[1,-1],[0,-1]] on the rows, then Aᵀ on the columns.
    let r: [[[f32; L]; 4]; 2] = std::array::from_fn(|b| {
        let (g0, g1) = (g(0, b), g(1, b));
        [g0, add(g0, g1), sub(g0, g1), neg(g1)]
    });
    for i in 0..4 {
        let (a, b) = (r[0][i], r[1][i]);
        for (j, x) in [a, add(a, b), sub(a, b), neg(b)].into_iter().enumerate() {
            z[to[i * 4 + j] + o0..][..L].copy_from_slice(&x);
        }
    }
}

multiversion! {
    /// `Z = A dY Aᵀ` for the 2×2 output-gradient tiles of `gy` `[S, O, H, W]` (zero beyond the
    /// image) into `z` `[16][S·T][O]`.
    fn gradient_transform(s: &Shape, samples: usize, gy: &[f32], z: &mut [f32]) {
        let (th, tw) = s.tiles();
        let (t, cols, o) = (s.t(), samples * s.t(), s.o);
        let wp = 2 * tw;
        let mut hwc = vec![0f32; 2 * th * wp * o];
        for n in 0..samples {
            to_channels_last(&gy[n * o * s.h * s.w..][..o * s.h * s.w], o, s.h, s.w, 0, wp, &mut hwc);
            for ty in 0..th {
                for tx in 0..tw {
                    let at: [[usize; 2]; 2] = std::array::from_fn(|a| std::array::from_fn(|b| ((2 * ty + a) * wp + 2 * tx + b) * o));
                    let col = n * t + ty * tw + tx;
                    let to: [usize; 16] = std::array::from_fn(|xi| (xi * cols + col) * o);
                    let mut o0 = 0;
                    while o0 + LANES <= o {
                        gradient_block::<LANES>(&hwc, &at, o0, z, &to);
                        o0 += LANES;
                    }
                    for o0 in o0..o {
                        gradient_block::<1>(&hwc, &at, o0, z, &to);
                    }
                }
            }
        }
    }
}

/// A matrix in a buffer of 16: its first element's offset in block ξ is `ξ · len`, and the
/// strides between rows and between columns.
#[derive(Clone, Copy)]
struct Operand {
    len: usize,
    row: isize,
    col: isize,
}

impl Operand {
    /// `[rows, cols]` row-major.
    fn rows(rows: usize, cols: usize) -> Operand {
        Operand { len: rows * cols, row: cols as isize, col: 1 }
    }

    /// `[rows, cols]` column-major (each column contiguous).
    fn columns(rows: usize, cols: usize) -> Operand {
        Operand { len: rows * cols, row: 1, col: rows as isize }
    }
}

/// `dst_ξ (+)= lhs_ξ · rhs_ξ` for the 16 positions, `[m, k] · [k, n]`, single-threaded (the
/// caller runs chunks across the cores).
#[allow(clippy::too_many_arguments)]
fn products(
    (m, n, k): (usize, usize, usize),
    lhs: &[f32],
    l: Operand,
    rhs: &[f32],
    r: Operand,
    dst: &mut [f32],
    d: Operand,
    accumulate: bool,
) {
    assert!(lhs.len() >= 16 * l.len && rhs.len() >= 16 * r.len && dst.len() >= 16 * d.len);
    for xi in 0..16 {
        // SAFETY: each block lies inside its slice (16 blocks of `len` elements, checked above),
        // and the strides walk an `[m, k]`, `[k, n]` or `[m, n]` matrix within its block.
        unsafe {
            gemm(
                m,
                n,
                k,
                dst[xi * d.len..].as_mut_ptr(),
                d.col,
                d.row,
                accumulate,
                lhs[xi * l.len..].as_ptr(),
                l.col,
                l.row,
                rhs[xi * r.len..].as_ptr(),
                r.col,
                r.row,
                1.0,
                1.0,
                false,
                false,
                false,
                Parallelism::None,
            );
        }
    }
}

/// The convolution `ys = xs ⋆ w + b` (`w` `[O, C, 3, 3]`), padding 1: `[N, O, H, W]`, with the
/// tile transforms at `level` (see [`super::simd`]).
pub(crate) fn forward(level: Level, s: &Shape, xs: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
    let u = filter_transform(s.o, s.c, w);
    let mut ys = vec![0f32; s.n * s.o * s.h * s.w];
    let per = s.chunk();
    let (img_in, img_out) = (s.c * s.h * s.w, s.o * s.h * s.w);
    ys.par_chunks_mut(per * img_out).zip(xs.par_chunks(per * img_in)).for_each(|(yc, xc)| {
        let samples = xc.len() / img_in;
        let cols = samples * s.t();
        with_scratch([16 * s.c * cols, 16 * s.o * cols], |v, m| {
            input_transform(level, s, samples, xc, v);
            // M_ξ [O, cols] (stored column by column) = U_ξ [O, C] · V_ξ [C, cols].
            let (uo, vo, mo) = (Operand::rows(s.o, s.c), Operand::columns(s.c, cols), Operand::columns(s.o, cols));
            products((s.o, cols, s.c), &u, uo, v, vo, m, mo, false);
            output_transform(level, s, samples, m, b, yc);
        });
    });
    ys
}

/// The input gradient: the output gradient `gy` `[N, O, H, W]` convolved with the flipped,
/// transposed filters.
pub(crate) fn input_gradient(level: Level, s: &Shape, w: &[f32], gy: &[f32]) -> Vec<f32> {
    let mut flipped = vec![0f32; w.len()];
    for o in 0..s.o {
        for c in 0..s.c {
            for k in 0..9 {
                flipped[(c * s.o + o) * 9 + 8 - k] = w[(o * s.c + c) * 9 + k];
            }
        }
    }
    let t = Shape { c: s.o, o: s.c, ..*s };
    forward(level, &t, gy, &flipped, &vec![0f32; s.c])
}

/// The weight gradient `[O, C, 3, 3]` from the input `xs` and the output gradient `gy`.
pub(crate) fn weight_gradient(level: Level, s: &Shape, xs: &[f32], gy: &[f32]) -> Vec<f32> {
    let per = s.chunk();
    let (img_in, img_out) = (s.c * s.h * s.w, s.o * s.h * s.w);
    let du = xs
        .par_chunks(per * img_in)
        .zip(gy.par_chunks(per * img_out))
        .fold(
            || vec![0f32; 16 * s.o * s.c],
            |mut du, (xc, gc)| {
                let samples = xc.len() / img_in;
                let cols = samples * s.t();
                with_scratch([16 * s.c * cols, 16 * s.o * cols], |v, z| {
                    input_transform(level, s, samples, xc, v);
                    gradient_transform(level, s, samples, gc, z);
                    // dU_ξ [O, C] += Z_ξ [O, cols] · V_ξᵀ [cols, C].
                    let (zo, vo, uo) = (Operand::columns(s.o, cols), Operand::rows(cols, s.c), Operand::rows(s.o, s.c));
                    products((s.o, s.c, cols), z, zo, v, vo, &mut du, uo, true);
                });
                du
            },
        )
        .reduce(|| vec![0f32; 16 * s.o * s.c], |a, b| a.iter().zip(&b).map(|(x, y)| x + y).collect());
    filter_gradient(s.o, s.c, &du)
}

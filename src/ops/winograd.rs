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
//! hundred tile columns), each chunk's transformed tiles in a per-thread buffer. Partial tiles at
//! odd image sides are computed whole and cropped. F(2×2, 3×3)'s transforms have entries 0, ±½, ±1,
//! so its floating-point error stays within a few ulps of im2col's (the tests bound the
//! difference at 1e-5 relative); larger tiles (F(4×4, 3×3)) save more multiplications but lose
//! about a digit of f32 accuracy, and are not used.

use gemm::{gemm, Parallelism};
use rayon::prelude::*;

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

/// Splits `row` (a padded image row) into its even and odd columns.
fn deinterleave(row: &[f32], even: &mut [f32], odd: &mut [f32]) {
    for (k, pair) in row.chunks_exact(2).enumerate() {
        even[k] = pair[0];
        odd[k] = pair[1];
    }
}

/// `V_ξ = (Bᵀ d B)_ξ` for the tiles of samples `xs` (`[S, C, H, W]`) into `v` `[16][C][S·T]`.
///
/// A row of tiles at a time: the four input rows it reads (zero-padded by one on the left and
/// up to three on the right, zero rows beyond the image), split into even and odd columns, are
/// combined by `Bᵀ` across the whole width; then `B` on tile `tx`'s columns `2tx .. 2tx+3`, which
/// are `even[tx], odd[tx], even[tx+1], odd[tx+1]`, gives one contiguous run per position ξ.
fn input_transform(s: &Shape, samples: usize, xs: &[f32], v: &mut [f32]) {
    let (th, tw) = s.tiles();
    let (t, cols) = (s.t(), samples * s.t());
    let width = 2 * tw + 2; // padded row: one zero on the left, the row, zeros to 2·tw + 2
    let half = tw + 1;
    let mut padded = vec![0f32; width];
    // d[k] = (even, odd) of input row k; r[i] likewise after Bᵀ.
    let mut d = vec![0f32; 4 * 2 * half];
    let mut r = vec![0f32; 4 * 2 * half];
    for n in 0..samples {
        for ch in 0..s.c {
            let plane = &xs[(n * s.c + ch) * s.h * s.w..(n * s.c + ch + 1) * s.h * s.w];
            for ty in 0..th {
                for (k, dk) in d.chunks_exact_mut(2 * half).enumerate() {
                    match (2 * ty + k).checked_sub(1).filter(|&y| y < s.h) {
                        Some(y) => {
                            padded[1..1 + s.w].copy_from_slice(&plane[y * s.w..(y + 1) * s.w]);
                            let (even, odd) = dk.split_at_mut(half);
                            deinterleave(&padded, even, odd);
                        }
                        None => dk.fill(0.0),
                    }
                }
                let w2 = 2 * half;
                // Bᵀ = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]] on the rows.
                for x in 0..w2 {
                    let (d0, d1, d2, d3) = (d[x], d[w2 + x], d[2 * w2 + x], d[3 * w2 + x]);
                    r[x] = d0 - d2;
                    r[w2 + x] = d1 + d2;
                    r[2 * w2 + x] = d2 - d1;
                    r[3 * w2 + x] = d1 - d3;
                }
                let first = n * t + ty * tw;
                for (i, ri) in r.chunks_exact(w2).enumerate() {
                    let (even, odd) = ri.split_at(half);
                    let at = |j: usize| ((i * 4 + j) * s.c + ch) * cols + first;
                    let v0 = &mut v[at(0)..at(0) + tw];
                    for tx in 0..tw {
                        v0[tx] = even[tx] - even[tx + 1];
                    }
                    let v1 = &mut v[at(1)..at(1) + tw];
                    for tx in 0..tw {
                        v1[tx] = odd[tx] + even[tx + 1];
                    }
                    let v2 = &mut v[at(2)..at(2) + tw];
                    for tx in 0..tw {
                        v2[tx] = even[tx + 1] - odd[tx];
                    }
                    let v3 = &mut v[at(3)..at(3) + tw];
                    for tx in 0..tw {
                        v3[tx] = odd[tx] - odd[tx + 1];
                    }
                }
            }
        }
    }
}

/// `Y = Aᵀ M A` for the tiles of `m` `[16][O][S·T]`, cropped, plus `bias`, into `ys` `[S, O, H, W]`.
fn output_transform(s: &Shape, samples: usize, m: &[f32], bias: &[f32], ys: &mut [f32]) {
    let (th, tw) = s.tiles();
    let (t, cols) = (s.t(), samples * s.t());
    // r[i][b] for the tiles of one tile row: Aᵀ = [[1,1,1,0],[0,1,-1,-1]] on the columns.
    let mut r = vec![0f32; 8 * tw];
    // The two output rows, even and odd columns apart: [row][b][tx].
    let mut out = vec![0f32; 4 * tw];
    for n in 0..samples {
        for o in 0..s.o {
            let plane = &mut ys[(n * s.o + o) * s.h * s.w..(n * s.o + o + 1) * s.h * s.w];
            let bias = bias[o];
            for ty in 0..th {
                let first = n * t + ty * tw;
                for i in 0..4 {
                    let e = |j: usize| &m[((i * 4 + j) * s.o + o) * cols + first..][..tw];
                    let (e0, e1, e2, e3) = (e(0), e(1), e(2), e(3));
                    let (ra, rb) = r[i * 2 * tw..(i + 1) * 2 * tw].split_at_mut(tw);
                    for tx in 0..tw {
                        ra[tx] = e0[tx] + e1[tx] + e2[tx];
                        rb[tx] = e1[tx] - e2[tx] - e3[tx];
                    }
                }
                // ... then on the rows: output rows 2ty and 2ty + 1.
                for b in 0..2 {
                    let ri = |i: usize| &r[i * 2 * tw + b * tw..][..tw];
                    let (q0, q1, q2, q3) = (ri(0), ri(1), ri(2), ri(3));
                    let (top, rest) = out[b * tw..].split_at_mut(2 * tw);
                    let bottom = &mut rest[..tw];
                    for tx in 0..tw {
                        top[tx] = q0[tx] + q1[tx] + q2[tx] + bias;
                        bottom[tx] = q1[tx] - q2[tx] - q3[tx] + bias;
                    }
                }
                // out holds [b=0 top | b=1 top | b=0 bottom | b=1 bottom]: interleave into the rows.
                for row in 0..2 {
                    let y = 2 * ty + row;
                    if y >= s.h {
                        break;
                    }
                    let (even, odd) = (&out[row * 2 * tw..][..tw], &out[row * 2 * tw + tw..][..tw]);
                    for (x, p) in plane[y * s.w..(y + 1) * s.w].iter_mut().enumerate() {
                        *p = if x % 2 == 0 { even[x / 2] } else { odd[x / 2] };
                    }
                }
            }
        }
    }
}

/// `Z = A dY Aᵀ` for the 2×2 output-gradient tiles of `gy` `[S, O, H, W]` (zero beyond the image)
/// into `z` `[16][O][S·T]`.
fn gradient_transform(s: &Shape, samples: usize, gy: &[f32], z: &mut [f32]) {
    let (th, tw) = s.tiles();
    let (t, cols) = (s.t(), samples * s.t());
    let mut padded = vec![0f32; 2 * tw];
    // g[k] = (even, odd) of gradient row k; r[i] likewise after A.
    let mut g = vec![0f32; 2 * 2 * tw];
    let mut r = vec![0f32; 4 * 2 * tw];
    for n in 0..samples {
        for o in 0..s.o {
            let plane = &gy[(n * s.o + o) * s.h * s.w..(n * s.o + o + 1) * s.h * s.w];
            for ty in 0..th {
                for (k, gk) in g.chunks_exact_mut(2 * tw).enumerate() {
                    let y = 2 * ty + k;
                    if y < s.h {
                        padded[..s.w].copy_from_slice(&plane[y * s.w..(y + 1) * s.w]);
                        let (even, odd) = gk.split_at_mut(tw);
                        deinterleave(&padded, even, odd);
                    } else {
                        gk.fill(0.0);
                    }
                }
                let w2 = 2 * tw;
                // A = [[1,0],[1,1],[1,-1],[0,-1]] on the rows ...
                for x in 0..w2 {
                    let (g0, g1) = (g[x], g[w2 + x]);
                    r[x] = g0;
                    r[w2 + x] = g0 + g1;
                    r[2 * w2 + x] = g0 - g1;
                    r[3 * w2 + x] = -g1;
                }
                let first = n * t + ty * tw;
                for (i, ri) in r.chunks_exact(w2).enumerate() {
                    // ... and Aᵀ on each tile's two columns (even[tx], odd[tx]).
                    let (a, b) = ri.split_at(tw);
                    let at = |j: usize| ((i * 4 + j) * s.o + o) * cols + first;
                    z[at(0)..at(0) + tw].copy_from_slice(a);
                    let z1 = &mut z[at(1)..at(1) + tw];
                    for tx in 0..tw {
                        z1[tx] = a[tx] + b[tx];
                    }
                    let z2 = &mut z[at(2)..at(2) + tw];
                    for tx in 0..tw {
                        z2[tx] = a[tx] - b[tx];
                    }
                    let z3 = &mut z[at(3)..at(3) + tw];
                    for tx in 0..tw {
                        z3[tx] = -b[tx];
                    }
                }
            }
        }
    }
}

/// `dst_ξ (+)= lhs_ξ · rhs_ξ` for the 16 positions, single-threaded (the caller runs chunks
/// across the cores). `lhs_ξ` is `[m, k]` row-major; `rhs_ξ` is `[k, n]` row-major, or `[n, k]`
/// read transposed when `rhs_t`; `dst_ξ` is `[m, n]` row-major.
#[allow(clippy::too_many_arguments)]
fn products(m: usize, n: usize, k: usize, lhs: &[f32], rhs: &[f32], rhs_t: bool, dst: &mut [f32], accumulate: bool) {
    let (rcs, rrs) = if rhs_t { (k as isize, 1) } else { (1, n as isize) };
    for xi in 0..16 {
        // SAFETY: the three blocks lie inside their slices (16 blocks each of the stated
        // shapes), with the strides given.
        unsafe {
            gemm(
                m,
                n,
                k,
                dst[xi * m * n..].as_mut_ptr(),
                1,
                n as isize,
                accumulate,
                lhs[xi * m * k..].as_ptr(),
                1,
                k as isize,
                rhs[xi * k * n..].as_ptr(),
                rcs,
                rrs,
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

/// The convolution `ys = xs ⋆ w + b` (`w` `[O, C, 3, 3]`), padding 1: `[N, O, H, W]`.
pub(crate) fn forward(s: &Shape, xs: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
    let u = filter_transform(s.o, s.c, w);
    let mut ys = vec![0f32; s.n * s.o * s.h * s.w];
    let per = s.chunk();
    let (img_in, img_out) = (s.c * s.h * s.w, s.o * s.h * s.w);
    ys.par_chunks_mut(per * img_out).zip(xs.par_chunks(per * img_in)).for_each(|(yc, xc)| {
        let samples = xc.len() / img_in;
        let cols = samples * s.t();
        with_scratch([16 * s.c * cols, 16 * s.o * cols], |v, m| {
            input_transform(s, samples, xc, v);
            products(s.o, cols, s.c, &u, v, false, m, false);
            output_transform(s, samples, m, b, yc);
        });
    });
    ys
}

/// The input gradient: the output gradient `gy` `[N, O, H, W]` convolved with the flipped,
/// transposed filters.
pub(crate) fn input_gradient(s: &Shape, w: &[f32], gy: &[f32]) -> Vec<f32> {
    let mut flipped = vec![0f32; w.len()];
    for o in 0..s.o {
        for c in 0..s.c {
            for k in 0..9 {
                flipped[(c * s.o + o) * 9 + 8 - k] = w[(o * s.c + c) * 9 + k];
            }
        }
    }
    let t = Shape { c: s.o, o: s.c, ..*s };
    forward(&t, gy, &flipped, &vec![0f32; s.c])
}

/// The weight gradient `[O, C, 3, 3]` from the input `xs` and the output gradient `gy`.
pub(crate) fn weight_gradient(s: &Shape, xs: &[f32], gy: &[f32]) -> Vec<f32> {
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
                    input_transform(s, samples, xc, v);
                    gradient_transform(s, samples, gc, z);
                    products(s.o, s.c, cols, z, v, true, &mut du, true);
                });
                du
            },
        )
        .reduce(|| vec![0f32; 16 * s.o * s.c], |a, b| a.iter().zip(&b).map(|(x, y)| x + y).collect());
    filter_gradient(s.o, s.c, &du)
}

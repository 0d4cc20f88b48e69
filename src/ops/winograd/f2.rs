//! Winograd F(2×2, 3×3)'s transforms: 4×4 input tiles, 2×2 output tiles, 16 positions.
//!
//! `Bᵀ`, `G` and `Aᵀ` have entries 0, ±½ and ±1, so the transforms add and halve only, and the
//! result stays within a few ulps of im2col's. Also the weight gradient's transforms (`Z = A dY
//! Aᵀ` of each output-gradient tile and `dW = Gᵀ dU G`), which [`super::weight_gradient`] uses.

use super::{add, fill, load, neg, sub, Planes, Shape, Sink};
use crate::ops::simd::{for_lanes, multiversion, Lanes};

/// `U = G g Gᵀ` of one 3×3 filter `g` (row-major), its 16 positions in order.
pub(super) fn filter_transform(g: &[f32]) -> [f32; 16] {
    // t = G g (4×3), then t Gᵀ (4×4). G = [[1,0,0],[½,½,½],[½,-½,½],[0,0,1]].
    let mut t = [[0f32; 3]; 4];
    for j in 0..3 {
        let (g0, g1, g2) = (g[j], g[3 + j], g[6 + j]);
        t[0][j] = g0;
        t[1][j] = 0.5 * (g0 + g1 + g2);
        t[2][j] = 0.5 * (g0 - g1 + g2);
        t[3][j] = g2;
    }
    let mut u = [0f32; 16];
    for (i, row) in t.iter().enumerate() {
        let v = [row[0], 0.5 * (row[0] + row[1] + row[2]), 0.5 * (row[0] - row[1] + row[2]), row[2]];
        u[i * 4..i * 4 + 4].copy_from_slice(&v);
    }
    u
}

/// `dW = Gᵀ dU G` for every filter, from `du` `[16][O][C]` into `[O, C, 3, 3]`.
pub(super) fn filter_gradient(o: usize, c: usize, du: &[f32]) -> Vec<f32> {
    let mut dw = vec![0f32; o * c * 9];
    for oc in 0..o * c {
        let m = |i: usize, j: usize| du[(i * 4 + j) * o * c + oc];
        // Gᵀ = [[1,½,½,0],[0,½,-½,0],[0,½,½,1]]; t = Gᵀ dU (3×4), then t G (3×3).
        let column = |j: usize| {
            let (a, b, cc, d) = (m(0, j), m(1, j), m(2, j), m(3, j));
            [a + 0.5 * (b + cc), 0.5 * (b - cc), 0.5 * (b + cc) + d]
        };
        let cols = [column(0), column(1), column(2), column(3)];
        let t: [[f32; 4]; 3] = fill(|i| fill(|j| cols[j][i]));
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

/// `V = Bᵀ d B` on lanes `c0 .. c0 + V::N` of one tile: `d[a][b]` is `hwc[at[a][b] + c0 ..]`, and
/// position ξ goes to `v[to[ξ] + c0 ..]`.
#[inline(always)]
fn input_block<V: Lanes>(hwc: &[f32], at: &[[usize; 4]; 4], c0: usize, v: &mut [f32], to: &[usize; 16]) {
    // Bᵀ = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]] on the rows, then B on the columns.
    let mut t = [[V::splat(0.0); 4]; 4];
    for (b, tb) in t.iter_mut().enumerate() {
        let [d0, d1, d2, d3] = [0, 1, 2, 3].map(|a| at[a][b] + c0);
        let (d0, d1, d2, d3) = (load::<V>(hwc, d0), load(hwc, d1), load(hwc, d2), load(hwc, d3));
        *tb = [sub(d0, d2), add(d1, d2), sub(d2, d1), sub(d1, d3)];
    }
    for i in 0..4 {
        let (t0, t1, t2, t3) = (t[0][i], t[1][i], t[2][i], t[3][i]);
        for (j, x) in [sub(t0, t2), add(t1, t2), sub(t2, t1), sub(t1, t3)].into_iter().enumerate() {
            x.store(v, to[i * 4 + j] + c0);
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
    pub(super) fn input_transform(level: Level, s: &Shape, samples: usize, xs: Planes<'_>, v: &mut [f32]) {
        let (th, tw) = s.tiles();
        let (t, cols, c) = (s.t(), samples * s.t(), s.c);
        let wp = 2 * tw + 2;
        let mut hwc = vec![0f32; (2 * th + 2) * wp * c];
        for n in 0..samples {
            xs.to_channels_last(level, n, (c, s.h, s.w), 1, wp, &mut hwc);
            for ty in 0..th {
                for tx in 0..tw {
                    let at: [[usize; 4]; 4] = fill(|a| fill(|b| ((2 * ty + a) * wp + 2 * tx + b) * c));
                    let col = n * t + ty * tw + tx;
                    let to: [usize; 16] = fill(|xi| (xi * cols + col) * c);
                    for_lanes!(level, c, |c0, V| {
                        input_block::<V>(&hwc, &at, c0, v, &to);
                    });
                }
            }
        }
    }
}

/// `Y = Aᵀ M A + bias` on lanes `o0 .. o0 + V::N` of one tile: position ξ is `m[from[ξ] + o0 ..]`,
/// and output pixel `(a, b)` goes to `out[to[a][b] + o0 ..]`.
#[inline(always)]
fn output_block<V: Lanes>(
    m: &[f32],
    from: &[usize; 16],
    bias: &[f32],
    o0: usize,
    out: &mut [f32],
    to: &[[usize; 2]; 2],
) {
    // Aᵀ = [[1,1,1,0],[0,1,-1,-1]] on the columns of each row i, then on the rows.
    let mut r = [[V::splat(0.0); 2]; 4];
    for (i, ri) in r.iter_mut().enumerate() {
        let e = &from[i * 4..i * 4 + 4];
        let (e0, e1, e2, e3) = (load::<V>(m, e[0] + o0), load(m, e[1] + o0), load(m, e[2] + o0), load(m, e[3] + o0));
        *ri = [add(add(e0, e1), e2), sub(sub(e1, e2), e3)];
    }
    let bias: V = load(bias, o0);
    for b in 0..2 {
        let (q0, q1, q2, q3) = (r[0][b], r[1][b], r[2][b], r[3][b]);
        let top = add(add(add(q0, q1), q2), bias);
        let bottom = add(sub(sub(q1, q2), q3), bias);
        top.store(out, to[0][b] + o0);
        bottom.store(out, to[1][b] + o0);
    }
}

multiversion! {
    /// `Y = Aᵀ M A` for the tiles of `m` `[16][S·T][O]`, plus `bias`, cropped to `[S, O, H, W]`
    /// into `out`: each sample's tiles into a channels-last buffer, then out through the sink.
    pub(super) fn output_transform(level: Level, s: &Shape, samples: usize, m: &[f32], bias: &[f32], out: &mut Sink<'_>) {
        let (th, tw) = s.tiles();
        let (t, cols, o) = (s.t(), samples * s.t(), s.o);
        let wo = 2 * tw;
        let mut hwc = vec![0f32; 2 * th * wo * o];
        for n in 0..samples {
            for ty in 0..th {
                for tx in 0..tw {
                    let col = n * t + ty * tw + tx;
                    let from: [usize; 16] = fill(|xi| (xi * cols + col) * o);
                    let to: [[usize; 2]; 2] = fill(|a| fill(|b| ((2 * ty + a) * wo + 2 * tx + b) * o));
                    for_lanes!(level, o, |o0, V| {
                        output_block::<V>(m, &from, bias, o0, &mut hwc, &to);
                    });
                }
            }
            out.sample(level, n, &hwc, wo, (o, s.h, s.w));
        }
    }
}

/// `Z = A g Aᵀ` on lanes `o0 .. o0 + V::N` of one 2×2 output-gradient tile: `g[a][b]` is
/// `hwc[at[a][b] + o0 ..]`, position ξ goes to `z[to[ξ] + o0 ..]`.
#[inline(always)]
fn gradient_block<V: Lanes>(hwc: &[f32], at: &[[usize; 2]; 2], o0: usize, z: &mut [f32], to: &[usize; 16]) {
    // A = [[1,0],[1,1],[1,-1],[0,-1]] on the rows, then Aᵀ on the columns.
    let mut r = [[V::splat(0.0); 4]; 2];
    for (b, rb) in r.iter_mut().enumerate() {
        let (g0, g1) = (load::<V>(hwc, at[0][b] + o0), load::<V>(hwc, at[1][b] + o0));
        *rb = [g0, add(g0, g1), sub(g0, g1), neg(g1)];
    }
    for i in 0..4 {
        let (a, b) = (r[0][i], r[1][i]);
        for (j, x) in [a, add(a, b), sub(a, b), neg(b)].into_iter().enumerate() {
            x.store(z, to[i * 4 + j] + o0);
        }
    }
}

multiversion! {
    /// `Z = A dY Aᵀ` for the 2×2 output-gradient tiles of `gy` `[S, O, H, W]` (zero beyond the
    /// image) into `z` `[16][S·T][O]`.
    pub(super) fn gradient_transform(level: Level, s: &Shape, samples: usize, gy: Planes<'_>, z: &mut [f32]) {
        gradient_tiles!(level, s, samples, gy, z, 2, 16, gradient_block);
    }
}

//! Winograd F(4×4, 3×3)'s transforms: 6×6 input tiles, 4×4 output tiles, 36 positions (36
//! multiplications per output tile and channel pair against im2col's 144, 2.25 per output pixel
//! against F(2×2)'s 4).
//!
//! The interpolation points are 0, ±1, ±2 and ∞ (Lavin & Gray's choice):
//! ```text
//! Bᵀ = [ 4  0 -5  0  1  0 ]    G = [  1/4     0     0  ]    Aᵀ = [ 1  1  1  1  1  0 ]
//!      [ 0 -4 -4  1  1  0 ]        [ -1/6  -1/6  -1/6 ]         [ 0  1 -1  2 -2  0 ]
//!      [ 0  4 -4 -1  1  0 ]        [ -1/6   1/6  -1/6 ]         [ 0  1  1  4  4  0 ]
//!      [ 0 -2 -1  2  1  0 ]        [ 1/24  1/12   1/6 ]         [ 0  1 -1  8 -8  1 ]
//!      [ 0  2 -1 -2  1  0 ]        [ 1/24 -1/12   1/6 ]
//!      [ 0  4  0 -5  0  1 ]        [   0     0     1  ]
//! ```
//! The filter transform runs in f64 (once per step, on the weights), the tile transforms in f32.

use super::{add, fill, load, scale, sub, Planes, Shape, Sink};
use crate::ops::simd::{for_lanes, multiversion, Lanes, Level};

/// `G x` for one column `x` of a 3×3 filter (or one row of `G g`), in f64, by multiplications
/// (divisions here took 4% of a CNN step at batch 128).
#[inline(always)]
fn g_times(x: [f64; 3]) -> [f64; 6] {
    const SIXTH: f64 = 1.0 / 6.0;
    const TWELFTH: f64 = 1.0 / 12.0;
    const TWENTY_FOURTH: f64 = 1.0 / 24.0;
    let [x0, x1, x2] = x;
    let (even, odd) = (x0 + x2, x1);
    let (outer, inner) = (TWENTY_FOURTH * x0 + SIXTH * x2, TWELFTH * x1);
    [0.25 * x0, -SIXTH * (even + odd), -SIXTH * (even - odd), outer + inner, outer - inner, x2]
}

/// `U = G g Gᵀ` of one 3×3 filter `g` (row-major), its 36 positions in order.
pub(super) fn filter_transform(g: &[f32]) -> [f32; 36] {
    let g = |i: usize, j: usize| g[i * 3 + j] as f64;
    // t = G g (6×3), column by column; then each row of t times Gᵀ.
    let columns: [[f64; 6]; 3] = fill(|j| g_times([g(0, j), g(1, j), g(2, j)]));
    let mut u = [0f32; 36];
    for i in 0..6 {
        let row = g_times([columns[0][i], columns[1][i], columns[2][i]]);
        for (j, &x) in row.iter().enumerate() {
            u[i * 6 + j] = x as f32;
        }
    }
    u
}

/// `Bᵀ d` for one column `d` of six lanes-wide values.
#[inline(always)]
fn bt_times<V: Lanes>(d: [V; 6]) -> [V; 6] {
    let [d0, d1, d2, d3, d4, d5] = d;
    let (p, q) = (sub(d4, scale(4.0, d2)), sub(d3, scale(4.0, d1)));
    let (r, s) = (sub(d4, d2), scale(2.0, sub(d3, d1)));
    [
        add(sub(scale(4.0, d0), scale(5.0, d2)), d4),
        add(p, q),
        sub(p, q),
        add(r, s),
        sub(r, s),
        add(sub(scale(4.0, d1), scale(5.0, d3)), d5),
    ]
}

/// `Aᵀ m` for one column `m` of six lanes-wide values.
#[inline(always)]
fn at_times<V: Lanes>(m: [V; 6]) -> [V; 4] {
    let [m0, m1, m2, m3, m4, m5] = m;
    let (a, b, c, d) = (add(m1, m2), sub(m1, m2), add(m3, m4), sub(m3, m4));
    [add(add(m0, a), c), add(b, scale(2.0, d)), add(a, scale(4.0, c)), add(add(b, scale(8.0, d)), m5)]
}

/// `Bᵀ` applied to every column of one band of six padded rows (`row0 ..= row0 + 5` of `hwc`,
/// `[Hp, wp, C]`), lanes `c0 .. c0 + V::N`: column `x`'s six values go to `cols[(6x + i)·V::N ..]`.
/// Neighbouring tiles overlap by `6 - m` columns, so transforming each column once per band
/// rather than once per tile saves a third of the work for F(2×2, 5×5) (tiles two apart).
#[inline(always)]
fn band_columns<V: Lanes>(hwc: &[f32], row0: usize, wp: usize, c: usize, c0: usize, cols: &mut [f32]) {
    let row = wp * c;
    for (x, out) in cols.chunks_exact_mut(6 * V::N).take(wp).enumerate() {
        let at = (row0 * wp + x) * c + c0;
        let d = [
            load(hwc, at),
            load(hwc, at + row),
            load(hwc, at + 2 * row),
            load(hwc, at + 3 * row),
            load(hwc, at + 4 * row),
            load(hwc, at + 5 * row),
        ];
        for (i, t) in bt_times::<V>(d).into_iter().enumerate() {
            t.store(out, i * V::N);
        }
    }
}

/// `V = Bᵀ d B` on lanes `c0 .. c0 + V::N` of one tile, from its six columns' `Bᵀ d` (`t`, six
/// consecutive columns of [`band_columns`]' output): position ξ goes to `v[to[ξ] + c0 ..]`.
#[inline(always)]
fn tile_rows<V: Lanes>(t: &[f32], c0: usize, v: &mut [f32], to: &[usize; 36]) {
    // Row i of Bᵀ d B = Bᵀ (row i of Bᵀ d).
    for i in 0..6 {
        let column = [
            load(t, i * V::N),
            load(t, (6 + i) * V::N),
            load(t, (12 + i) * V::N),
            load(t, (18 + i) * V::N),
            load(t, (24 + i) * V::N),
            load(t, (30 + i) * V::N),
        ];
        let row = bt_times::<V>(column);
        for (j, x) in row.into_iter().enumerate() {
            x.store(v, to[i * 6 + j] + c0);
        }
    }
}

multiversion! {
    /// `V_ξ = (Bᵀ d B)_ξ` for the tiles of samples `xs` (`[S, C, H, W]`) into `v`
    /// `[36][S·T][C]` (channels contiguous): each sample copied channels-last into a buffer with
    /// a zero border (`s.tile.pad()` rows and columns before the image, enough after it for the
    /// last tile), then, a band of tiles and a block of channels at a time, every column of the
    /// band transformed once and every 6×6 tile finished from its six columns. Tiles step by the
    /// output tile's side: 4 for F(4×4, 3×3), 2 for F(2×2, 5×5), which shares this transform.
    pub(super) fn input_transform(level: Level, s: &Shape, samples: usize, xs: Planes<'_>, v: &mut [f32]) {
        let (th, tw) = s.tiles();
        let (t, cols, c) = (s.t(), samples * s.t(), s.c);
        let (m, pad) = (s.tile.side(), s.tile.pad());
        let wp = m * tw + 6 - m;
        let mut hwc = vec![0f32; (m * th + 6 - m) * wp * c];
        let mut band = vec![0f32; wp * 6 * level.lanes()];
        for n in 0..samples {
            xs.to_channels_last(level, n, (c, s.h, s.w), pad, wp, &mut hwc);
            for ty in 0..th {
                for_lanes!(level, c, |c0, V| {
                    band_columns::<V>(&hwc, m * ty, wp, c, c0, &mut band);
                    for tx in 0..tw {
                        let col = n * t + ty * tw + tx;
                        let to: [usize; 36] = fill(|xi| (xi * cols + col) * c);
                        tile_rows::<V>(&band[m * tx * 6 * V::N..], c0, v, &to);
                    }
                });
            }
        }
    }
}

/// The output side of a transform on these six points, `M×M` output tiles: `Aᵀ`, for
/// [`output_tiles`]. F(4×4, 3×3) here, F(2×2, 5×5) in [`super::f2k5`].
pub(super) trait OutputTransform<const M: usize> {
    /// `Aᵀ m` for one column `m` of six lanes-wide values.
    fn at_times<V: Lanes>(m: [V; 6]) -> [V; M];
}

/// F(4×4, 3×3)'s output transform.
pub(super) struct F4;

impl OutputTransform<4> for F4 {
    #[inline(always)]
    fn at_times<V: Lanes>(m: [V; 6]) -> [V; 4] {
        at_times(m)
    }
}

/// `Y = Aᵀ M A + bias` on lanes `o0 .. o0 + V::N` of one tile: position ξ is `m[from[ξ] + o0 ..]`,
/// and output pixel `(a, b)` goes to `out[to[a][b] + o0 ..]`.
#[inline(always)]
fn output_block<A: OutputTransform<M>, const M: usize, V: Lanes>(
    m: &[f32],
    from: &[usize; 36],
    bias: &[f32],
    o0: usize,
    out: &mut [f32],
    to: &[[usize; M]; M],
) {
    // r[i] = Aᵀ (row i of M) = row i of M A; then column b of Aᵀ M A = Aᵀ (column b of M A).
    let mut r = [[V::splat(0.0); M]; 6];
    for (i, ri) in r.iter_mut().enumerate() {
        let e = &from[i * 6..i * 6 + 6];
        *ri = A::at_times([
            load(m, e[0] + o0),
            load(m, e[1] + o0),
            load(m, e[2] + o0),
            load(m, e[3] + o0),
            load(m, e[4] + o0),
            load(m, e[5] + o0),
        ]);
    }
    let bias: V = load(bias, o0);
    for b in 0..M {
        let column = A::at_times([r[0][b], r[1][b], r[2][b], r[3][b], r[4][b], r[5][b]]);
        for (a, y) in column.into_iter().enumerate() {
            add(y, bias).store(out, to[a][b] + o0);
        }
    }
}

/// `Y = Aᵀ M A` for the tiles of `m` `[36][S·T][O]`, plus `bias`, cropped to `[S, O, H, W]`
/// into `out`: each sample's `M×M` tiles into a channels-last buffer, then out through the sink.
/// Inlined into each tile's multiversioned `output_transform`.
#[inline(always)]
pub(super) fn output_tiles<A: OutputTransform<M>, const M: usize>(
    level: Level,
    s: &Shape,
    samples: usize,
    m: &[f32],
    bias: &[f32],
    out: &mut Sink<'_>,
) {
    let (th, tw) = s.tiles();
    let (t, cols, o) = (s.t(), samples * s.t(), s.o);
    let wo = M * tw;
    let mut hwc = vec![0f32; M * th * wo * o];
    for n in 0..samples {
        for ty in 0..th {
            for tx in 0..tw {
                let col = n * t + ty * tw + tx;
                let from: [usize; 36] = fill(|xi| (xi * cols + col) * o);
                let to: [[usize; M]; M] = fill(|a| fill(|b| ((M * ty + a) * wo + M * tx + b) * o));
                for_lanes!(level, o, |o0, V| {
                    output_block::<A, M, V>(m, &from, bias, o0, &mut hwc, &to);
                });
            }
        }
        out.sample(level, n, &hwc, wo, (o, s.h, s.w));
    }
}

multiversion! {
    /// F(4×4, 3×3)'s [`output_tiles`].
    pub(super) fn output_transform(level: Level, s: &Shape, samples: usize, m: &[f32], bias: &[f32], out: &mut Sink<'_>) {
        output_tiles::<F4, 4>(level, s, samples, m, bias, out)
    }
}

/// `Gᵀ x` for one column `x` of a 6×6 transformed weight gradient (or one row of `Gᵀ dU`), in
/// f64: `G` is [`g_times`]' matrix.
#[inline(always)]
fn gt_times(x: [f64; 6]) -> [f64; 3] {
    const SIXTH: f64 = 1.0 / 6.0;
    const TWELFTH: f64 = 1.0 / 12.0;
    const TWENTY_FOURTH: f64 = 1.0 / 24.0;
    let [x0, x1, x2, x3, x4, x5] = x;
    let (sum, diff) = (x1 + x2, x1 - x2);
    let (outer, inner) = (x3 + x4, x3 - x4);
    [
        0.25 * x0 - SIXTH * sum + TWENTY_FOURTH * outer,
        -SIXTH * diff + TWELFTH * inner,
        -SIXTH * sum + SIXTH * outer + x5,
    ]
}

/// `dW = Gᵀ dU G` for every filter, from `du` `[36][O][C]` into `[O, C, 3, 3]`, in f64: the
/// weight gradient's F(3×3, 4×4), the dual of F(4×4, 3×3) (see [`gradient_transform`]).
pub(super) fn filter_gradient(o: usize, c: usize, du: &[f32]) -> Vec<f32> {
    let mut dw = vec![0f32; o * c * 9];
    for oc in 0..o * c {
        let m = |i: usize, j: usize| du[(i * 6 + j) * o * c + oc] as f64;
        // t = Gᵀ dU (3×6), column by column; then each row of t times G.
        let columns: [[f64; 3]; 6] = fill(|j| gt_times(fill(|i| m(i, j))));
        for i in 0..3 {
            let row = gt_times(fill(|j| columns[j][i]));
            for (j, &x) in row.iter().enumerate() {
                dw[oc * 9 + i * 3 + j] = x as f32;
            }
        }
    }
    dw
}

/// `A x` for one column `x` of a 4×4 output-gradient tile: six lanes-wide values (`A` is the
/// transpose of [`at_times`]' `Aᵀ`).
#[inline(always)]
fn a_times<V: Lanes>(x: [V; 4]) -> [V; 6] {
    let [x0, x1, x2, x3] = x;
    let (even, odd) = (add(x0, x2), add(x1, x3));
    let (even4, odd4) = (add(x0, scale(4.0, x2)), add(scale(2.0, x1), scale(8.0, x3)));
    [x0, add(even, odd), sub(even, odd), add(even4, odd4), sub(even4, odd4), x3]
}

/// `Z = A g Aᵀ` on lanes `o0 .. o0 + V::N` of one 4×4 output-gradient tile: `g[a][b]` is
/// `hwc[at[a][b] + o0 ..]`, position ξ goes to `z[to[ξ] + o0 ..]`.
#[inline(always)]
fn gradient_block<V: Lanes>(hwc: &[f32], at: &[[usize; 4]; 4], o0: usize, z: &mut [f32], to: &[usize; 36]) {
    // A on each column of g, then A on each row of the result.
    let mut r = [[V::splat(0.0); 6]; 4];
    for (b, rb) in r.iter_mut().enumerate() {
        *rb = a_times([
            load(hwc, at[0][b] + o0),
            load(hwc, at[1][b] + o0),
            load(hwc, at[2][b] + o0),
            load(hwc, at[3][b] + o0),
        ]);
    }
    for i in 0..6 {
        for (j, x) in a_times([r[0][i], r[1][i], r[2][i], r[3][i]]).into_iter().enumerate() {
            x.store(z, to[i * 6 + j] + o0);
        }
    }
}

multiversion! {
    /// `Z = A dY Aᵀ` for the 4×4 output-gradient tiles of `gy` `[S, O, H, W]` (zero beyond the
    /// image) into `z` `[36][S·T][O]`: the weight gradient's side of F(3×3, 4×4), whose input
    /// transform is [`input_transform`] (the forward pass's `V`) and whose output transform is
    /// [`filter_gradient`]. With `Σ_ab g_ab z_ab` for `z` a forward tile `Aᵀ[(G w Gᵀ) ⊙ V]A`
    /// rewritten as `Σ w ⊙ Gᵀ[(A g Aᵀ) ⊙ V]G`, the weight gradient of one tile is
    /// `Gᵀ[(A g Aᵀ) ⊙ V]G`: 36 products per 4×4 tile where F(2×2, 3×3) takes 64.
    pub(super) fn gradient_transform(level: Level, s: &Shape, samples: usize, gy: Planes<'_>, z: &mut [f32]) {
        gradient_tiles!(level, s, samples, gy, z, 4, 36, gradient_block);
    }
}

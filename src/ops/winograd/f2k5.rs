//! Winograd F(2×2, 5×5)'s transforms: 6×6 input tiles, 2×2 output tiles, 36 positions (36
//! multiplications per output tile and channel pair against im2col's 100, 9 per output pixel
//! against 25).
//!
//! The interpolation points are those of F(4×4, 3×3) (0, ±1, ±2 and ∞), so the input transform
//! `Bᵀ` is the same and [`super::f4::input_transform`] computes it (with tiles two apart and a
//! border of two); only the filter and output transforms differ:
//! ```text
//! G = [  1/4    0     0     0     0  ]    Aᵀ = [ 1  1  1  1  1  0 ]
//!     [ -1/6  -1/6  -1/6  -1/6  -1/6 ]         [ 0  1 -1  2 -2  1 ]
//!     [ -1/6   1/6  -1/6   1/6  -1/6 ]
//!     [ 1/24  1/12   1/6   1/3   2/3 ]
//!     [ 1/24 -1/12   1/6  -1/3   2/3 ]
//!     [   0     0     0     0     1  ]
//! ```
//! (row `i` of `G` is `(1, p, p², p³, p⁴) / Π_{q≠p}(p - q)` for the point `p`, the last row the
//! point ∞). The filter transform runs in f64, the output transform in f32.

use super::f4::{output_tiles, OutputTransform};
use super::{add, fill, load, scale, sub, Planes, Shape, Sink};
use crate::ops::simd::{for_lanes, multiversion, Lanes};

/// `G`, row by row: row `i` is `(1, p, p², p³, p⁴) / Π_{q≠p}(p - q)` for the point `p`, the last
/// row the point ∞.
const G: [[f64; 5]; 6] = [
    [1.0 / 4.0, 0.0, 0.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0, 1.0 / 3.0, 2.0 / 3.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0, -1.0 / 3.0, 2.0 / 3.0],
    [0.0, 0.0, 0.0, 0.0, 1.0],
];

/// `G x` for one column `x` of a 5×5 filter (or one row of `G g`), in f64.
#[inline(always)]
fn g_times(x: [f64; 5]) -> [f64; 6] {
    fill(|i| (0..5).map(|j| G[i][j] * x[j]).sum())
}

/// `Gᵀ x` for one column `x` of a 6×6 transformed gradient (or one row of `Gᵀ dU`), in f64.
#[inline(always)]
fn gt_times(x: [f64; 6]) -> [f64; 5] {
    fill(|j| (0..6).map(|i| G[i][j] * x[i]).sum())
}

/// `U = G g Gᵀ` of one 5×5 filter `g` (row-major), its 36 positions in order.
pub(super) fn filter_transform(g: &[f32]) -> [f32; 36] {
    let g = |i: usize, j: usize| g[i * 5 + j] as f64;
    // t = G g (6×5), column by column; then each row of t times Gᵀ.
    let columns: [[f64; 6]; 5] = fill(|j| g_times(fill(|i| g(i, j))));
    let mut u = [0f32; 36];
    for i in 0..6 {
        let row = g_times(fill(|j| columns[j][i]));
        for (j, &x) in row.iter().enumerate() {
            u[i * 6 + j] = x as f32;
        }
    }
    u
}

/// `dW = Gᵀ dU G` for every filter, from `du` `[36][O][C]` into `[O, C, 5, 5]`, in f64.
pub(super) fn filter_gradient(o: usize, c: usize, du: &[f32]) -> Vec<f32> {
    let mut dw = vec![0f32; o * c * 25];
    for oc in 0..o * c {
        let m = |i: usize, j: usize| du[(i * 6 + j) * o * c + oc] as f64;
        // t = Gᵀ dU (5×6), column by column; then each row of t times G.
        let columns: [[f64; 5]; 6] = fill(|j| gt_times(fill(|i| m(i, j))));
        for i in 0..5 {
            let row = gt_times(fill(|j| columns[j][i]));
            for (j, &x) in row.iter().enumerate() {
                dw[oc * 25 + i * 5 + j] = x as f32;
            }
        }
    }
    dw
}

/// `Aᵀ m` for one column `m` of six lanes-wide values.
#[inline(always)]
fn at_times<V: Lanes>(m: [V; 6]) -> [V; 2] {
    let [m0, m1, m2, m3, m4, m5] = m;
    [add(add(m0, add(m1, m2)), add(m3, m4)), add(add(sub(m1, m2), scale(2.0, sub(m3, m4))), m5)]
}

/// F(2×2, 5×5)'s output transform, for [`super::f4::output_tiles`].
struct F2K5;

impl OutputTransform<2> for F2K5 {
    #[inline(always)]
    fn at_times<V: Lanes>(m: [V; 6]) -> [V; 2] {
        at_times(m)
    }
}

multiversion! {
    /// `Y = Aᵀ M A` for the tiles of `m` `[36][S·T][O]`, plus `bias`, cropped to `[S, O, H, W]`
    /// into `out` ([`super::f4::output_tiles`] with 2×2 tiles).
    pub(super) fn output_transform(level: Level, s: &Shape, samples: usize, m: &[f32], bias: &[f32], out: &mut Sink<'_>) {
        output_tiles::<F2K5, 2>(level, s, samples, m, bias, out)
    }
}

/// `A x` for one column `x` of a 2×2 gradient tile: six lanes-wide values.
#[inline(always)]
fn a_times<V: Lanes>(x0: V, x1: V) -> [V; 6] {
    let twice = scale(2.0, x1);
    [x0, add(x0, x1), sub(x0, x1), add(x0, twice), sub(x0, twice), x1]
}

/// `Z = A g Aᵀ` on lanes `o0 .. o0 + V::N` of one 2×2 output-gradient tile: `g[a][b]` is
/// `hwc[at[a][b] + o0 ..]`, position ξ goes to `z[to[ξ] + o0 ..]`.
#[inline(always)]
fn gradient_block<V: Lanes>(hwc: &[f32], at: &[[usize; 2]; 2], o0: usize, z: &mut [f32], to: &[usize; 36]) {
    // A = Aᵀᵀ = [[1,0],[1,1],[1,-1],[1,2],[1,-2],[0,1]] on the rows, then Aᵀ on the columns.
    let r = [
        a_times::<V>(load(hwc, at[0][0] + o0), load(hwc, at[1][0] + o0)),
        a_times::<V>(load(hwc, at[0][1] + o0), load(hwc, at[1][1] + o0)),
    ];
    for i in 0..6 {
        for (j, x) in a_times(r[0][i], r[1][i]).into_iter().enumerate() {
            x.store(z, to[i * 6 + j] + o0);
        }
    }
}

multiversion! {
    /// `Z = A dY Aᵀ` for the 2×2 output-gradient tiles of `gy` `[S, O, H, W]` (zero beyond the
    /// image) into `z` `[36][S·T][O]`.
    pub(super) fn gradient_transform(level: Level, s: &Shape, samples: usize, gy: Planes<'_>, z: &mut [f32]) {
        gradient_tiles!(level, s, samples, gy, z, 2, 36, gradient_block);
    }
}

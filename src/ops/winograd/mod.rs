//! "Same" stride-1 convolutions (3×3 with padding 1, 5×5 with padding 2) by Winograd's minimal
//! filtering (Lavin & Gray, 2016): F(2×2, 3×3) ([`f2`]: 16 multiplications per 2×2 output tile
//! and input-output channel pair, where im2col needs 36), F(4×4, 3×3) ([`f4`]: 36 per 4×4 tile,
//! where im2col needs 144) and F(2×2, 5×5) ([`f2k5`]: 36 per 2×2 tile, where im2col needs 100;
//! it shares F(4×4, 3×3)'s interpolation points, so its 6×6 input transform is [`f4`]'s).
//!
//! With `d` an `α×α` input tile (`α = m + k - 1`), `g` a `k×k` filter and the constant matrices
//! `Bᵀ`, `G`, `Aᵀ` of the tile, an `m×m` output tile is `Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A`. Summed
//! over input channels, the element-wise product becomes one matrix product per position ξ of
//! the transformed tile (16 or 36): `M_ξ[o, t] = Σ_c U_ξ[o, c] · V_ξ[c, t]` over tiles `t`, which
//! the GEMM kernels run.
//! - input gradient: the same convolution of the output gradient with the filters flipped and
//!   their channels swapped (`W'[c, o] = rot180(W[o, c])`), same padding;
//! - weight gradient (the same tile's dual: F(3×3, 4×4) for F(4×4, 3×3), F(3×3, 2×2) for F(2×2,
//!   3×3), F(5×5, 2×2) for F(2×2, 5×5)): with `Z = A dY Aᵀ` the `α×α` transform of an
//!   output-gradient tile, `dU_ξ[o, c] = Σ_t Z_ξ[o, t] · V_ξ[c, t]` (16 or 36 products again, `V`
//!   the forward pass's input tiles) and `dW = Gᵀ dU G`.
//!
//! Samples are processed in chunks across the cores (enough per chunk to give each product a few
//! hundred tile columns), each chunk's transformed tiles in a per-thread buffer. The transforms
//! work channels-last: each sample is copied into a zero-bordered `[H, W, C]` buffer, and every
//! tile is transformed eight channels at a time (one AVX2 register, see [`super::simd`]), so the
//! vector width does not depend on the image's width (7×7 and 3×3 maps have 4 and 2 tiles per
//! row); the transformed tiles are stored `[positions][tiles][C]`, which the matrix products read
//! through their strides. This cut the transforms' share of the airbench94 step from about 27%
//! to 12% (`perf`), the width-wise version having run scalar on small maps. Partial tiles at
//! odd image sides are computed whole and cropped.
//!
//! Accuracy: F(2×2, 3×3)'s transforms have entries 0, ±½, ±1, so its result stays within a few
//! ulps of im2col's (the tests bound the difference at 1e-5 of the largest value). The 6×6 tiles'
//! have entries up to 8 and fractions down to 1/24, and lose about a digit: the tests bound them at 5e-5 (observed up to 5.3e-6 forward, 1.0e-5 for
//! the 5×5 weight gradient); the gradients still match finite differences.

use gemm::{gemm, Parallelism};
use rayon::prelude::*;

use super::simd::{Lanes, Level};
use super::storage::zeros;

/// The body of a `gradient_transform`: `Z = A dY Aᵀ` for the `M×M` output-gradient tiles (`M =
/// $m`, the tile's side) of `$gy` (planes `[S, O, H, W]`, zero beyond the image) into `$z`
/// `[P][S·T][O]`, with `$block::<V>` transforming lanes `o0 .. o0 + V::N` of one tile into its `P`
/// positions. A macro, not a function taking a closure, so that the lane loop is compiled inside
/// each multiversioned copy with its target features.
macro_rules! gradient_tiles {
    ($level:expr, $s:expr, $samples:expr, $gy:expr, $z:expr, $m:literal, $p:literal, $block:ident) => {{
        let s = $s;
        let (th, tw) = s.tiles();
        let (t, cols, o) = (s.t(), $samples * s.t(), s.o);
        let wp = $m * tw;
        let mut hwc = vec![0f32; $m * th * wp * o];
        for n in 0..$samples {
            $gy.to_channels_last($level, n, (o, s.h, s.w), 0, wp, &mut hwc);
            for ty in 0..th {
                for tx in 0..tw {
                    let at: [[usize; $m]; $m] = fill(|a| fill(|b| (($m * ty + a) * wp + $m * tx + b) * o));
                    let col = n * t + ty * tw + tx;
                    let to: [usize; $p] = fill(|xi| (xi * cols + col) * o);
                    for_lanes!($level, o, |o0, V| {
                        $block::<V>(&hwc, &at, o0, $z, &to);
                    });
                }
            }
        }
    }};
}

mod channels_last;
mod f2;
mod f2k5;
mod f4;

use channels_last::{from_channels_last, pool_from_channels_last, to_channels_last, unpool_to_channels_last};

/// The output tile of a Winograd transform, and the kernel it is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tile {
    /// F(2×2, 3×3): 2×2 output tiles from 4×4 input tiles, 16 products.
    F2,
    /// F(4×4, 3×3): 4×4 output tiles from 6×6 input tiles, 36 products.
    F4,
    /// F(2×2, 5×5): 2×2 output tiles from 6×6 input tiles, 36 products (im2col: 100). Same
    /// interpolation points, hence the same input transform, as [`Tile::F4`].
    F2K5,
}

impl Tile {
    /// The output tile's side.
    pub fn side(self) -> usize {
        match self {
            Tile::F2 | Tile::F2K5 => 2,
            Tile::F4 => 4,
        }
    }

    /// The kernel's side.
    pub fn kernel(self) -> usize {
        match self {
            Tile::F2 | Tile::F4 => 3,
            Tile::F2K5 => 5,
        }
    }

    /// The zero padding on each side ("same" convolution): half the kernel.
    pub fn pad(self) -> usize {
        self.kernel() / 2
    }

    /// The input tile's side: output tile + kernel - 1.
    pub fn alpha(self) -> usize {
        self.side() + self.kernel() - 1
    }

    /// Positions of the transformed tile: one matrix product each.
    pub fn positions(self) -> usize {
        self.alpha().pow(2)
    }

    /// Tile columns a chunk aims for in each of its products. F(4×4) holds 36 transformed values a
    /// tile against F(2×2)'s 16, so it takes fewer columns a chunk: with 512 the airbench94 step's
    /// peak memory rose above PyTorch's (2646 MB against 2439), with 128 it stays at ~2370 MB, and
    /// the step's speed did not change measurably between 128, 256 and 512.
    fn columns(self) -> usize {
        match self {
            Tile::F2 => 512,
            Tile::F4 | Tile::F2K5 => 128,
        }
    }
}

/// The sizes of one convolution `[N, C, H, W] ⋆ [O, C, k, k]`, stride 1, padding `k / 2` (the
/// "same" size out), and the tile it is computed with (which sets `k`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub tile: Tile,
}

impl Shape {
    /// Tiles per image row and column.
    fn tiles(&self) -> (usize, usize) {
        let m = self.tile.side();
        (self.h.div_ceil(m), self.w.div_ceil(m))
    }

    /// Tiles per image.
    fn t(&self) -> usize {
        let (a, b) = self.tiles();
        a * b
    }

    /// Samples per chunk of the forward pass.
    fn chunk(&self) -> usize {
        self.chunk_of(self.tile.columns())
    }

    /// Samples per chunk for chunks of about `columns` tile columns.
    fn chunk_of(&self, columns: usize) -> usize {
        (columns / self.t()).clamp(1, self.n.div_ceil(rayon::current_num_threads()).max(1))
    }
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

/// `[f(0), f(1), …, f(N - 1)]`, for the transforms' index tables (once per tile, outside the
/// loops over channels).
#[inline(always)]
fn fill<T: Copy, const N: usize>(mut f: impl FnMut(usize) -> T) -> [T; N] {
    let mut a = [const { std::mem::MaybeUninit::<T>::uninit() }; N];
    for (i, x) in a.iter_mut().enumerate() {
        x.write(f(i));
    }
    // SAFETY: every element was written just above, and `MaybeUninit<T>` has `T`'s layout.
    unsafe { std::mem::transmute_copy(&a) }
}

/// `V::N` lanes of `s` from `at`.
#[inline(always)]
fn load<V: Lanes>(s: &[f32], at: usize) -> V {
    V::load(s, at)
}

/// `x - y`, `x + y`, `k · x`, `-x` lane by lane (see [`Lanes`]).
#[inline(always)]
fn sub<V: Lanes>(x: V, y: V) -> V {
    x.sub(y)
}

#[inline(always)]
fn add<V: Lanes>(x: V, y: V) -> V {
    x.add(y)
}

#[inline(always)]
fn scale<V: Lanes>(k: f32, x: V) -> V {
    V::splat(k).mul(x)
}

#[inline(always)]
fn neg<V: Lanes>(x: V) -> V {
    x.neg()
}

/// A matrix in a buffer of one block per position: its first element's offset in block ξ is
/// `ξ · len`, and the strides between rows and between columns.
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

    /// The `[O, C]` matrices of transformed filters stored `[C][positions][O]` (see
    /// [`transform_filters`]): block ξ starts at `ξ·O`, columns `positions·O` apart.
    fn filters(positions: usize, o: usize) -> Operand {
        Operand { len: o, row: 1, col: (positions * o) as isize }
    }

    /// The elements a `[rows, cols]` matrix in each of `positions` blocks spans: one past its
    /// last element's offset.
    fn extent(self, positions: usize, rows: usize, cols: usize) -> usize {
        let last = |n: usize| n.saturating_sub(1) as isize;
        ((positions.saturating_sub(1) * self.len) as isize + last(rows) * self.row + last(cols) * self.col + 1) as usize
    }

    /// `[rows, cols]` column-major (each column contiguous).
    fn columns(rows: usize, cols: usize) -> Operand {
        Operand { len: rows * cols, row: 1, col: rows as isize }
    }
}

/// The transformed filters `U = G g Gᵀ` of `w` (`[O, C, k, k]`, `kk = k²` values a filter), by
/// `transform` (one filter's `P` positions), stored `[C][P][O]`: each `U_ξ` is then an `[O, C]`
/// matrix with its output channels contiguous. The `gemm` crate packs a left operand that runs
/// along the shared dimension element by element, and the transformed tiles `V_ξ` (the right
/// operand) already run along it (channels last); with `U_ξ` row-major as well, packing took 15%
/// of the airbench94 step. Each input channel is one task across the cores (done serially, the
/// transform took 7.6% of the default CIFAR-10 CNN's step while the other core waited).
fn transform_filters<const P: usize>(
    o: usize,
    c: usize,
    kk: usize,
    w: &[f32],
    transform: impl Fn(&[f32]) -> [f32; P] + Sync,
) -> Vec<f32> {
    let mut u = vec![0f32; c * P * o];
    u.par_chunks_mut(P * o).enumerate().for_each(|(ci, uc)| {
        for oi in 0..o {
            for (xi, x) in transform(&w[(oi * c + ci) * kk..][..kk]).into_iter().enumerate() {
                uc[xi * o + oi] = x;
            }
        }
    });
    u
}

/// `dst_ξ (+)= lhs_ξ · rhs_ξ` for the `positions` positions, `[m, k] · [k, n]`, single-threaded
/// (the caller runs chunks across the cores).
#[allow(clippy::too_many_arguments)]
fn products(
    positions: usize,
    (m, n, k): (usize, usize, usize),
    lhs: &[f32],
    l: Operand,
    rhs: &[f32],
    r: Operand,
    dst: &mut [f32],
    d: Operand,
    accumulate: bool,
) {
    let p = positions;
    assert!(lhs.len() >= l.extent(p, m, k) && rhs.len() >= r.extent(p, k, n) && dst.len() >= d.extent(p, m, n));
    for xi in 0..p {
        // SAFETY: every matrix of every block lies inside its slice (the extents checked above;
        // all strides are positive).
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

/// The convolution `ys = xs ⋆ w + b` (`w` `[O, C, k, k]`), padding `k / 2`: `[N, O, H, W]`, with
/// `s.tile`'s transforms at `level` (see [`super::simd`]).
pub(crate) fn forward(level: Level, s: &Shape, xs: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
    forward_full(level, s, Planes::Dense(xs), w, b)
}

/// [`forward`] from any planes: the whole `[N, O, H, W]` output.
fn forward_full(level: Level, s: &Shape, xs: Planes<'_>, w: &[f32], b: &[f32]) -> Vec<f32> {
    let img = s.o * s.h * s.w;
    let mut ys = zeros(s.n * img);
    let sinks = ys.chunks_mut(s.chunk() * img).map(Sink::Full).collect();
    forward_into(level, s, xs, w, b, sinks);
    ys
}

/// [`forward`] followed by a 2×2, stride-2 max pool, the pool taken from each chunk's output tiles
/// as they are transformed (the convolution's whole output is never stored): the pooled
/// `[N, O, H/2, W/2]` (rounding down) and the position (0-3, row-major) of each pooled value in
/// its window, as [`super::maxpool::argmax4`] picks it. The same values, bit for bit, as
/// [`forward`] then [`super::maxpool::halve_with_argmax`]. `H` and `W` are at least 2.
pub(crate) fn forward_max_pool2(level: Level, s: &Shape, xs: &[f32], w: &[f32], b: &[f32]) -> (Vec<f32>, Vec<u8>) {
    let img = s.o * (s.h / 2) * (s.w / 2);
    let (mut ys, mut at) = (zeros(s.n * img), zeros(s.n * img));
    let per = s.chunk() * img;
    let sinks = ys.chunks_mut(per).zip(at.chunks_mut(per)).map(|(ys, at)| Sink::MaxPool2 { ys, at }).collect();
    forward_into(level, s, Planes::Dense(xs), w, b, sinks);
    (ys, at)
}

/// The forward pass, chunk by chunk across the cores (`s.chunk()` samples each), each chunk's
/// output into its sink.
fn forward_into(level: Level, s: &Shape, xs: Planes<'_>, w: &[f32], b: &[f32], sinks: Vec<Sink<'_>>) {
    let u = match s.tile {
        Tile::F2 => transform_filters(s.o, s.c, 9, w, f2::filter_transform),
        Tile::F4 => transform_filters(s.o, s.c, 9, w, f4::filter_transform),
        Tile::F2K5 => transform_filters(s.o, s.c, 25, w, f2k5::filter_transform),
    };
    let p = s.tile.positions();
    let per = s.chunk();
    let inputs: Vec<_> = (0..s.n.div_ceil(per)).map(|i| xs.samples(i * per, ((i + 1) * per).min(s.n), s)).collect();
    sinks.into_par_iter().zip(inputs).for_each(|(mut sink, (xc, samples))| {
        let cols = samples * s.t();
        with_scratch([p * s.c * cols, p * s.o * cols], |v, m| {
            match s.tile {
                Tile::F2 => f2::input_transform(level, s, samples, xc, v),
                // The same six interpolation points, so the same 6×6 input transform.
                Tile::F4 | Tile::F2K5 => f4::input_transform(level, s, samples, xc, v),
            }
            // M_ξ [O, cols] (stored column by column) = U_ξ [O, C] · V_ξ [C, cols].
            let (uo, vo, mo) = (Operand::filters(p, s.o), Operand::columns(s.c, cols), Operand::columns(s.o, cols));
            products(p, (s.o, cols, s.c), &u, uo, v, vo, m, mo, false);
            match s.tile {
                Tile::F2 => f2::output_transform(level, s, samples, m, b, &mut sink),
                Tile::F4 => f4::output_transform(level, s, samples, m, b, &mut sink),
                Tile::F2K5 => f2k5::output_transform(level, s, samples, m, b, &mut sink),
            }
        });
    });
}

/// The per-sample planes a transform reads: stored whole, or the gradient a 2×2, stride-2 max pool
/// hands back, kept pooled (each value goes to its window's argmax, zeros elsewhere, unpooled as
/// each sample is copied channels-last), so that a fused convolution and pool never builds the
/// convolution-sized gradient.
#[derive(Clone, Copy)]
pub(crate) enum Planes<'a> {
    /// `[S, C, H, W]`.
    Dense(&'a [f32]),
    /// The pool's output gradient `gy` `[S, C, H/2, W/2]` and its forward pass's argmax positions
    /// (0-3, row-major), standing for the `[S, C, H, W]` gradient of the pool's input.
    Unpooled { gy: &'a [f32], at: &'a [u8] },
}

impl<'a> Planes<'a> {
    /// Samples `a .. b` of planes of `s.c` channels of `s.h × s.w`, and their number.
    fn samples(self, a: usize, b: usize, s: &Shape) -> (Planes<'a>, usize) {
        let part = match self {
            Planes::Dense(x) => {
                let img = s.c * s.h * s.w;
                Planes::Dense(&x[a * img..b * img])
            }
            Planes::Unpooled { gy, at } => {
                let img = s.c * (s.h / 2) * (s.w / 2);
                Planes::Unpooled { gy: &gy[a * img..b * img], at: &at[a * img..b * img] }
            }
        };
        (part, b - a)
    }

    /// Sample `n` (`c` channels of `h × w`) into `hwc`, as [`to_channels_last`] does.
    #[inline(always)]
    fn to_channels_last(
        self,
        level: Level,
        n: usize,
        (c, h, w): (usize, usize, usize),
        pad: usize,
        wp: usize,
        hwc: &mut [f32],
    ) {
        match self {
            Planes::Dense(x) => to_channels_last(level, &x[n * c * h * w..][..c * h * w], (c, h, w), pad, wp, hwc),
            Planes::Unpooled { gy, at } => {
                let img = c * (h / 2) * (w / 2);
                unpool_to_channels_last(level, &gy[n * img..][..img], &at[n * img..][..img], (c, h, w), pad, wp, hwc)
            }
        }
    }
}

/// Where an output transform puts a chunk's samples, each first transformed into a channels-last
/// buffer: copied out as they are, or max-pooled on the way out.
pub(super) enum Sink<'a> {
    /// The convolution's output, `[S, O, H, W]`.
    Full(&'a mut [f32]),
    /// Its 2×2, stride-2 max pool, `[S, O, H/2, W/2]`, and each pooled value's argmax (0-3).
    MaxPool2 { ys: &'a mut [f32], at: &'a mut [u8] },
}

impl Sink<'_> {
    /// Sample `n` of the chunk, `o` channels, from `hwc` (`[Hp, wp, O]`) cropped to `h × w`.
    #[inline(always)]
    fn sample(&mut self, level: Level, n: usize, hwc: &[f32], wp: usize, (o, h, w): (usize, usize, usize)) {
        match self {
            Sink::Full(ys) => from_channels_last(level, hwc, wp, h, w, &mut ys[n * o * h * w..][..o * h * w]),
            Sink::MaxPool2 { ys, at } => {
                let img = o * (h / 2) * (w / 2);
                pool_from_channels_last(level, hwc, wp, h, w, &mut ys[n * img..][..img], &mut at[n * img..][..img]);
            }
        }
    }
}

/// The input gradient: the output gradient `gy` (planes `[N, O, H, W]`) convolved with the
/// flipped, transposed filters.
pub(crate) fn input_gradient(level: Level, s: &Shape, w: &[f32], gy: Planes<'_>) -> Vec<f32> {
    let kk = s.tile.kernel().pow(2);
    let mut flipped = vec![0f32; w.len()];
    for o in 0..s.o {
        for c in 0..s.c {
            for k in 0..kk {
                flipped[(c * s.o + o) * kk + kk - 1 - k] = w[(o * s.c + c) * kk + k];
            }
        }
    }
    let t = Shape { c: s.o, o: s.c, ..*s };
    forward_full(level, &t, gy, &flipped, &vec![0f32; s.c])
}

/// The weight gradient `[O, C, k, k]` from the input `xs` and the output gradient `gy` (planes
/// `[N, O, H, W]`), on `s.tile`'s tiles: 36 products per 4×4 output tile with [`Tile::F4`] (the
/// default), where [`Tile::F2`]'s 2×2 tiles take 64. F(4×4) became the weight gradient's tile on
/// 2026-12-07: the airbench94 step (batch 1,024) went from 412-437 to 466-498 images/s, three
/// rounds alternating; its error against im2col grew from below 8e-7 to below 3.5e-6 of the
/// largest value.
pub(crate) fn weight_gradient(level: Level, s: &Shape, xs: &[f32], gy: Planes<'_>) -> Vec<f32> {
    let tile = s.tile;
    let p = tile.positions();
    // 128 tile columns a chunk, as F(4×4)'s forward pass: with F(2×2)'s 512, the two threads'
    // buffers of transformed tiles and gradients took the airbench94 step's peak memory above
    // PyTorch's (2435 MB against 2432).
    let per = s.chunk_of(128);
    let img_in = s.c * s.h * s.w;
    // One accumulator per thread, each over a fixed run of chunks, added in order: a rayon
    // `fold`/`reduce` would split where work-stealing happens to split, and the f32 sums (not
    // associative) changed from run to run. Fixed runs give the same bits for the same thread
    // count, with the same memory (one accumulator per thread).
    let chunks = s.n.div_ceil(per);
    let runs = chunks.min(rayon::current_num_threads()).max(1);
    let partial: Vec<Vec<f32>> = (0..runs)
        .into_par_iter()
        .map(|r| {
            let mut du = vec![0f32; p * s.o * s.c];
            for c in r * chunks / runs..(r + 1) * chunks / runs {
                let (a, b) = (c * per, ((c + 1) * per).min(s.n));
                let (xc, (gc, samples)) = (&xs[a * img_in..b * img_in], gy.samples(a, b, &Shape { c: s.o, ..*s }));
                let cols = samples * s.t();
                with_scratch([p * s.c * cols, p * s.o * cols], |v, z| {
                    match tile {
                        Tile::F2 => {
                            f2::input_transform(level, s, samples, Planes::Dense(xc), v);
                            f2::gradient_transform(level, s, samples, gc, z);
                        }
                        // V is the forward pass's: the same 6×6 input tiles.
                        Tile::F4 => {
                            f4::input_transform(level, s, samples, Planes::Dense(xc), v);
                            f4::gradient_transform(level, s, samples, gc, z);
                        }
                        Tile::F2K5 => {
                            f4::input_transform(level, s, samples, Planes::Dense(xc), v);
                            f2k5::gradient_transform(level, s, samples, gc, z);
                        }
                    }
                    // dU_ξ [O, C] += Z_ξ [O, cols] · V_ξᵀ [cols, C].
                    let (zo, vo, uo) = (Operand::columns(s.o, cols), Operand::rows(cols, s.c), Operand::rows(s.o, s.c));
                    products(p, (s.o, s.c, cols), z, zo, v, vo, &mut du, uo, true);
                });
            }
            du
        })
        .collect();
    let mut du = vec![0f32; p * s.o * s.c];
    for part in &partial {
        du.iter_mut().zip(part).for_each(|(a, b)| *a += b);
    }
    match tile {
        Tile::F2 => f2::filter_gradient(s.o, s.c, &du),
        Tile::F4 => f4::filter_gradient(s.o, s.c, &du),
        Tile::F2K5 => f2k5::filter_gradient(s.o, s.c, &du),
    }
}

//! The layout changes around the transforms: each sample's `[C, H, W]` planes into a zero-bordered
//! channels-last `[Hp, Wp, C]` buffer (from stored planes, or from a 2×2 max pool's gradient,
//! unpooled on the way), and the output transform's channels-last tiles back into planes (whole,
//! or 2×2 max-pooled on the way).
//!
//! Each is a transpose of `C × W` blocks, one image row at a time. Element by element, the loads
//! or the stores of one side stride across the planes; these loops took a third of the input and
//! output transforms' time and half the gradient transform's. With AVX-512 they move 16×16 blocks
//! through the registers instead ([`avx512::transpose16`]): 16 rows loaded, four rounds of
//! permutes, 16 rows stored, both sides a cache line at a time. The other levels run the scalar
//! loops. Every path writes the same values, bit for bit (the transforms' tests compare the levels).

use super::super::maxpool::argmax4;
use crate::ops::simd::Level;

/// Channels a block of the scalar loops moves: a cache line of f32.
const BLOCK: usize = 16;

/// Copies sample `plane` (`[C, H, W]`) into `hwc`, a zero-bordered `[Hp, Wp, C]` image whose
/// interior starts at row and column `pad` (`Wp = wp`): channels last, so that the transforms
/// read and write runs of channels, the SIMD lanes, whatever the image's width. The border is
/// left as it is (zero: the buffer is reused from sample to sample).
#[inline(always)]
pub(super) fn to_channels_last(
    level: Level,
    plane: &[f32],
    (c, h, w): (usize, usize, usize),
    pad: usize,
    wp: usize,
    hwc: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if level >= Level::Avx512 {
        for y in 0..h {
            // SAFETY: `level` is at most what the CPU runs (see `simd::multiversion!`).
            unsafe { avx512::transpose(&plane[y * w..], h * w, c, w, &mut hwc[((y + pad) * wp + pad) * c..], c) };
        }
        return;
    }
    let _ = level;
    // A block of channels at a time, so that each pixel's run of them is written whole (one
    // scattered store per channel and pixel took a third of the input transform's time).
    for ch0 in (0..c).step_by(BLOCK) {
        let cb = BLOCK.min(c - ch0);
        for y in 0..h {
            let rows: [&[f32]; BLOCK] =
                super::fill(|k| if k < cb { &plane[((ch0 + k) * h + y) * w..][..w] } else { &[] });
            let base = ((y + pad) * wp + pad) * c + ch0;
            for x in 0..w {
                for (k, out) in hwc[base + x * c..][..cb].iter_mut().enumerate() {
                    *out = rows[k][x];
                }
            }
        }
    }
}

/// Copies the `[Hp, Wp, C]` buffer `hwc` (`Wp = wp`, `C = plane.len() / (h·w)`) cropped to `h × w`
/// into `plane` (`[C, H, W]`): the inverse of [`to_channels_last`] without a border.
#[inline(always)]
pub(super) fn from_channels_last(level: Level, hwc: &[f32], wp: usize, h: usize, w: usize, plane: &mut [f32]) {
    let c = plane.len() / (h * w);
    #[cfg(target_arch = "x86_64")]
    if level >= Level::Avx512 {
        for y in 0..h {
            // SAFETY: as in `to_channels_last`.
            unsafe { avx512::transpose(&hwc[y * wp * c..], c, w, c, &mut plane[y * w..], h * w) };
        }
        return;
    }
    let _ = level;
    for (block, planes) in plane.chunks_mut(BLOCK * h * w).enumerate() {
        let ch0 = block * BLOCK;
        let cb = planes.len() / (h * w);
        for y in 0..h {
            for x in 0..w {
                for (k, &value) in hwc[(y * wp + x) * c + ch0..][..cb].iter().enumerate() {
                    planes[(k * h + y) * w + x] = value;
                }
            }
        }
    }
}

/// The 2×2, stride-2 max pool of the `[Hp, Wp, C]` buffer `hwc` (`Wp = wp`) cropped to `h × w`,
/// into `plane` (`[C, H/2, W/2]`, `C = plane.len() / (H/2 · W/2)`), and each window's argmax
/// position into `at`, as [`argmax4`] picks them: [`from_channels_last`] then the pool, without
/// the copy in between.
#[inline(always)]
pub(super) fn pool_from_channels_last(
    level: Level,
    hwc: &[f32],
    wp: usize,
    h: usize,
    w: usize,
    plane: &mut [f32],
    at: &mut [u8],
) {
    let (ho, wo) = (h / 2, w / 2);
    let c = plane.len() / (ho * wo);
    #[cfg(target_arch = "x86_64")]
    if level >= Level::Avx512 {
        // SAFETY: as in `to_channels_last`.
        unsafe { avx512::pool_from_channels_last(hwc, wp, (c, ho, wo), plane, at) };
        return;
    }
    let _ = level;
    for ch0 in (0..c).step_by(BLOCK) {
        let cb = BLOCK.min(c - ch0);
        for y in 0..ho {
            for x in 0..wo {
                let p = (2 * y * wp + 2 * x) * c + ch0;
                let (q, r) = (p + wp * c, &hwc[p..][..c + cb]);
                let s = &hwc[q..][..c + cb];
                for k in 0..cb {
                    let (i, v) = argmax4(r[k], r[c + k], s[k], s[c + k]);
                    let out = ((ch0 + k) * ho + y) * wo + x;
                    (plane[out], at[out]) = (v, i as u8);
                }
            }
        }
    }
}

/// [`to_channels_last`] of the `[C, H, W]` gradient a 2×2, stride-2 max pool passes back from
/// `gy` (`[C, H/2, W/2]`) and the argmax positions `at`: each value at its window's argmax, zeros
/// at the window's other three pixels and on a last odd row or column (every interior pixel of
/// `hwc` is written: the buffer is reused from sample to sample).
#[inline(always)]
pub(super) fn unpool_to_channels_last(
    level: Level,
    gy: &[f32],
    at: &[u8],
    (c, h, w): (usize, usize, usize),
    pad: usize,
    wp: usize,
    hwc: &mut [f32],
) {
    let (ho, wo) = (h / 2, w / 2);
    let row = wp * c;
    #[cfg(target_arch = "x86_64")]
    let done = level >= Level::Avx512 && {
        // SAFETY: as in `to_channels_last`.
        unsafe { avx512::unpool_to_channels_last(gy, at, (c, ho, wo), pad, wp, hwc) };
        true
    };
    #[cfg(not(target_arch = "x86_64"))]
    let done = false;
    let _ = level;
    if !done {
        for ch0 in (0..c).step_by(BLOCK) {
            let cb = BLOCK.min(c - ch0);
            for y in 0..ho {
                for x in 0..wo {
                    let top = ((2 * y + pad) * wp + 2 * x + pad) * c + ch0;
                    for k in 0..cb {
                        let i = ((ch0 + k) * ho + y) * wo + x;
                        let (g, a) = (gy[i], at[i]);
                        hwc[top + k] = if a == 0 { g } else { 0.0 };
                        hwc[top + c + k] = if a == 1 { g } else { 0.0 };
                        hwc[top + row + k] = if a == 2 { g } else { 0.0 };
                        hwc[top + row + c + k] = if a == 3 { g } else { 0.0 };
                    }
                }
            }
        }
    }
    if w % 2 == 1 {
        for y in 0..h {
            hwc[((y + pad) * wp + w - 1 + pad) * c..][..c].fill(0.0);
        }
    }
    if h % 2 == 1 {
        hwc[((h - 1 + pad) * wp + pad) * c..][..w * c].fill(0.0);
    }
}

/// The AVX-512 paths: `unsafe` because they run AVX-512F instructions, which the caller checks the
/// CPU has; every load and store is of a slice bounds-checked just before it.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// The permutes of one round of [`transpose16`]: for blocks `b` wide, lane `j` of the first
    /// (`hi = false`) or second output of a pair of rows `i`, `i + b`, as an index into the pair's
    /// 32 lanes (`16 +` for the second row).
    const fn round(b: usize, hi: bool) -> [i32; 16] {
        let mut idx = [0i32; 16];
        let mut j = 0;
        while j < 16 {
            let first = j & b == 0;
            idx[j] = match (hi, first) {
                (false, true) => j,
                (false, false) => 16 + j - b,
                (true, true) => j + b,
                (true, false) => 16 + j,
            } as i32;
            j += 1;
        }
        idx
    }

    /// One round of [`transpose16`]: the off-diagonal `B`-wide blocks of every pair of rows `i`,
    /// `i + B` (`i & B == 0`) swapped, two permutes per pair.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn swap_blocks<const B: usize>(r: &mut [__m512; 16]) {
        let (lo, hi) = (const { round(B, false) }, const { round(B, true) });
        // SAFETY: 16 i32 read from arrays of 16.
        let (lo, hi) = unsafe { (_mm512_loadu_si512(lo.as_ptr().cast()), _mm512_loadu_si512(hi.as_ptr().cast())) };
        for i in 0..16 {
            if i & B == 0 {
                let (x, y) = (r[i], r[i + B]);
                r[i] = _mm512_permutex2var_ps(x, lo, y);
                r[i + B] = _mm512_permutex2var_ps(x, hi, y);
            }
        }
    }

    /// The 16×16 transpose of `r` (lane `j` of row `i` to lane `i` of row `j`): the transpose of
    /// `[[A, B], [C, D]]` is `[[Aᵀ, Cᵀ], [Bᵀ, Dᵀ]]`, so each round swaps the off-diagonal blocks,
    /// 8, then 4, 2 and 1 wide (64 permutes in all). Every index is a constant, so that the 16
    /// rows stay in registers.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) fn transpose16(mut r: [__m512; 16]) -> [__m512; 16] {
        swap_blocks::<8>(&mut r);
        swap_blocks::<4>(&mut r);
        swap_blocks::<2>(&mut r);
        swap_blocks::<1>(&mut r);
        r
    }

    /// The mask of the first `n` lanes (`n ≤ 16`).
    #[inline(always)]
    fn first(n: usize) -> __mmask16 {
        ((1u32 << n) - 1) as __mmask16
    }

    /// Lanes `0 .. n` of `s` from `at`, zeros in the others.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn load(s: &[f32], at: usize, n: usize) -> __m512 {
        let s = &s[at..at + n];
        // SAFETY: the masked load reads lanes `0 .. n`, all in `s`.
        unsafe { _mm512_maskz_loadu_ps(first(n), s.as_ptr()) }
    }

    /// Lanes `0 .. n` of `v` into `s` from `at`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn store(v: __m512, s: &mut [f32], at: usize, n: usize) {
        let s = &mut s[at..at + n];
        // SAFETY: the masked store writes lanes `0 .. n`, all in `s`.
        unsafe { _mm512_mask_storeu_ps(s.as_mut_ptr(), first(n), v) }
    }

    /// `n ≤ 16` bytes of `s` from `at` as the i32 lanes of a vector, zeros beyond.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn load_bytes(s: &[u8], at: usize, n: usize) -> __m512i {
        let mut b = [0u8; 16];
        b[..n].copy_from_slice(&s[at..at + n]);
        // SAFETY: 16 bytes read from an array of 16.
        _mm512_cvtepu8_epi32(unsafe { _mm_loadu_si128(b.as_ptr().cast()) })
    }

    /// The low bytes of lanes `0 .. n` of `v` into `s` from `at`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn store_bytes(v: __m512i, s: &mut [u8], at: usize, n: usize) {
        let mut b = [0u8; 16];
        // SAFETY: 16 bytes written to an array of 16.
        unsafe { _mm_storeu_si128(b.as_mut_ptr().cast(), _mm512_cvtepi32_epi8(v)) };
        s[at..at + n].copy_from_slice(&b[..n]);
    }

    /// `dst[j·ds + i] = src[i·ss + j]` for `i < rows`, `j < cols`: the `rows × cols` matrix at the
    /// start of `src` (rows `ss` apart) transposed into `dst` (rows `ds` apart), in 16×16 blocks.
    #[target_feature(enable = "avx512f")]
    pub(super) fn transpose(src: &[f32], ss: usize, rows: usize, cols: usize, dst: &mut [f32], ds: usize) {
        for i0 in (0..rows).step_by(16) {
            let ni = 16.min(rows - i0);
            for j0 in (0..cols).step_by(16) {
                let nj = 16.min(cols - j0);
                // Constant trip counts (rows past the matrix are zeros, not loads), so that the rows
                // stay in registers.
                let mut r = [_mm512_setzero_ps(); 16];
                for (i, ri) in r.iter_mut().enumerate() {
                    if i < ni {
                        *ri = load(src, (i0 + i) * ss + j0, nj);
                    }
                }
                for (j, t) in transpose16(r).into_iter().enumerate() {
                    if j < nj {
                        store(t, dst, (j0 + j) * ds + i0, ni);
                    }
                }
            }
        }
    }

    /// [`super::pool_from_channels_last`] for `c` channels pooled to `ho × wo`: 16 channels (the
    /// lanes) and 16 pooled pixels at a time, each window's maximum and argmax by [`argmax4`]'s
    /// rules, lane by lane, then both 16×16 blocks transposed into the planes.
    #[target_feature(enable = "avx512f")]
    pub(super) fn pool_from_channels_last(
        hwc: &[f32],
        wp: usize,
        (c, ho, wo): (usize, usize, usize),
        plane: &mut [f32],
        at: &mut [u8],
    ) {
        let row = wp * c;
        for ch0 in (0..c).step_by(16) {
            let cb = 16.min(c - ch0);
            for y in 0..ho {
                for x0 in (0..wo).step_by(16) {
                    let nx = 16.min(wo - x0);
                    let (mut best, mut arg) = ([_mm512_setzero_ps(); 16], [_mm512_setzero_ps(); 16]);
                    for x in 0..16 {
                        if x < nx {
                            let p = (2 * y * wp + 2 * (x0 + x)) * c + ch0;
                            let window = [
                                load(hwc, p, cb),
                                load(hwc, p + c, cb),
                                load(hwc, p + row, cb),
                                load(hwc, p + row + c, cb),
                            ];
                            let (i, v) = argmax4(window);
                            (best[x], arg[x]) = (v, _mm512_castsi512_ps(i));
                        }
                    }
                    let (best, arg) = (transpose16(best), transpose16(arg));
                    for k in 0..16 {
                        if k < cb {
                            let out = ((ch0 + k) * ho + y) * wo + x0;
                            store(best[k], plane, out, nx);
                            store_bytes(_mm512_castps_si512(arg[k]), at, out, nx);
                        }
                    }
                }
            }
        }
    }

    /// [`crate::ops::maxpool::argmax4`] lane by lane: the position (0-3) of each lane's maximum
    /// of `a b / c d` and its value, the first on ties, the first NaN if there is one.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn argmax4([a, b, c, d]: [__m512; 4]) -> (__m512i, __m512) {
        let (mut at, mut best) = (_mm512_setzero_si512(), a);
        for (i, x) in [(1, b), (2, c), (3, d)] {
            let more = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(x, best);
            at = _mm512_mask_mov_epi32(at, more, _mm512_set1_epi32(i));
            best = _mm512_mask_mov_ps(best, more, x);
        }
        let (mut first_nan, mut nan) = (at, 0);
        for (i, x) in [(3, d), (2, c), (1, b), (0, a)] {
            let is_nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(x, x);
            first_nan = _mm512_mask_mov_epi32(first_nan, is_nan, _mm512_set1_epi32(i));
            nan |= is_nan;
        }
        (_mm512_mask_mov_epi32(at, nan, first_nan), _mm512_mask_mov_ps(best, nan, _mm512_set1_ps(f32::NAN)))
    }

    /// [`super::unpool_to_channels_last`]'s windows for `c` channels pooled to `ho × wo` (the odd
    /// last row and column are the caller's): 16 pooled pixels and 16 channels at a time, the
    /// gradient and the argmax positions transposed to channels-last, then each window's four
    /// pixels written whole, the value where the position matches and zero elsewhere.
    #[target_feature(enable = "avx512f")]
    pub(super) fn unpool_to_channels_last(
        gy: &[f32],
        at: &[u8],
        (c, ho, wo): (usize, usize, usize),
        pad: usize,
        wp: usize,
        hwc: &mut [f32],
    ) {
        let row = wp * c;
        let position = [_mm512_set1_epi32(0), _mm512_set1_epi32(1), _mm512_set1_epi32(2), _mm512_set1_epi32(3)];
        for ch0 in (0..c).step_by(16) {
            let cb = 16.min(c - ch0);
            for y in 0..ho {
                for x0 in (0..wo).step_by(16) {
                    let nx = 16.min(wo - x0);
                    let (mut g, mut a) = ([_mm512_setzero_ps(); 16], [_mm512_setzero_ps(); 16]);
                    for k in 0..16 {
                        if k < cb {
                            let i = ((ch0 + k) * ho + y) * wo + x0;
                            g[k] = load(gy, i, nx);
                            a[k] = _mm512_castsi512_ps(load_bytes(at, i, nx));
                        }
                    }
                    let (g, a) = (transpose16(g), transpose16(a));
                    for x in 0..16 {
                        if x >= nx {
                            break;
                        }
                        let top = ((2 * y + pad) * wp + 2 * (x0 + x) + pad) * c + ch0;
                        let a = _mm512_castps_si512(a[x]);
                        for (p, to) in [top, top + c, top + row, top + row + c].into_iter().enumerate() {
                            let here = _mm512_cmpeq_epi32_mask(a, position[p]);
                            store(_mm512_maskz_mov_ps(here, g[x]), hwc, to, cb);
                        }
                    }
                }
            }
        }
    }
}

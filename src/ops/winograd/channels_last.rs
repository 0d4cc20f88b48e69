//! The layout changes around the transforms: each sample's `[C, H, W]` planes into a zero-bordered
//! channels-last `[Hp, Wp, C]` buffer (from stored planes, or from a 2×2 max pool's gradient,
//! unpooled on the way), and the output transform's channels-last tiles back into planes (whole,
//! or 2×2 max-pooled on the way).
//!
//! Each is a transpose of `C × W` blocks, one image row at a time. Element by element, the loads
//! or the stores of one side stride across the planes; these loops took a third of the input and
//! output transforms' time and half the gradient transform's. With AVX-512 they move 16×16 blocks
//! through the registers instead (16 rows loaded, four rounds of permutes, 16 rows stored, both
//! sides a cache line at a time), with AVX2 8×8 blocks (unpacks, shuffles and a swap of 128-bit
//! halves); the baseline runs the scalar loops. Every path writes the same values, bit for bit (the
//! transforms' tests compare the levels).

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
    if level >= Level::Avx2 {
        for y in 0..h {
            let (src, dst) = (&plane[y * w..], &mut hwc[((y + pad) * wp + pad) * c..]);
            // SAFETY: `level` is at most what the CPU runs (see `simd::multiversion!`).
            unsafe {
                if level >= Level::Avx512 {
                    x86::transpose16(src, h * w, c, w, dst, c)
                } else {
                    x86::transpose8(src, h * w, c, w, dst, c)
                }
            }
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
    if level >= Level::Avx2 {
        for y in 0..h {
            let (src, dst) = (&hwc[y * wp * c..], &mut plane[y * w..]);
            // SAFETY: as in `to_channels_last`.
            unsafe {
                if level >= Level::Avx512 {
                    x86::transpose16(src, c, w, c, dst, h * w)
                } else {
                    x86::transpose8(src, c, w, c, dst, h * w)
                }
            }
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
    if level >= Level::Avx2 {
        // SAFETY: as in `to_channels_last`.
        unsafe {
            if level >= Level::Avx512 {
                x86::pool16(hwc, wp, (c, ho, wo), plane, at)
            } else {
                x86::pool8(hwc, wp, (c, ho, wo), plane, at)
            }
        }
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
    let done = level >= Level::Avx2 && {
        // SAFETY: as in `to_channels_last`.
        unsafe {
            if level >= Level::Avx512 {
                x86::unpool16(gy, at, (c, ho, wo), pad, wp, hwc)
            } else {
                x86::unpool8(gy, at, (c, ho, wo), pad, wp, hwc)
            }
        }
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

/// The register paths, one generic loop per copy over a `Block` of registers: 16×16 with AVX-512
/// (`Zmm`), 8×8 with AVX2 (`Ymm`). Each entry point is `unsafe` because it runs those
/// instructions, which its caller checks the CPU has (see `simd::multiversion!`); the blocks'
/// methods are inlined into it, and every load and store is of a slice bounds-checked just before.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// One register of `N` f32 lanes (or of `N` i32 lanes, for argmax positions), with the
    /// operations the copies need, each inlined into a target-feature entry point below.
    trait Block: Copy {
        /// Lanes in a register, rows in a block.
        const N: usize;
        /// `N` registers: a block's rows.
        type Rows: Copy + AsRef<[Self]> + AsMut<[Self]>;
        /// A block of zeros.
        fn rows() -> Self::Rows;
        /// Lanes `0 .. n` of `s` from `at`, zeros in the others.
        fn load(s: &[f32], at: usize, n: usize) -> Self;
        /// Lanes `0 .. n` into `s` from `at`.
        fn store(self, s: &mut [f32], at: usize, n: usize);
        /// `n` bytes of `s` from `at` as the integers of lanes `0 .. n`, zeros beyond.
        fn load_bytes(s: &[u8], at: usize, n: usize) -> Self;
        /// The integers of lanes `0 .. n` (each below 256) into `s` from `at`, as bytes.
        fn store_bytes(self, s: &mut [u8], at: usize, n: usize);
        /// Lane `j` of row `i` to lane `i` of row `j`.
        fn transpose(r: Self::Rows) -> Self::Rows;
        /// [`crate::ops::maxpool::argmax4`] lane by lane on the window `a b / c d`: each lane's
        /// position (0-3, as an integer) and value, the first on ties, the first NaN if any.
        fn argmax4(window: [Self; 4]) -> (Self, Self);
        /// The lanes of `self` whose integer in `at` is `p`, +0.0 in the others.
        fn where_at(self, at: Self, p: i32) -> Self;
    }

    /// Sixteen lanes in an AVX-512 register.
    #[derive(Clone, Copy)]
    struct Zmm(__m512);

    /// Eight lanes in an AVX register.
    #[derive(Clone, Copy)]
    struct Ymm(__m256);

    /// The mask of the first `n` lanes (`n ≤ 16`).
    #[inline(always)]
    fn first(n: usize) -> __mmask16 {
        ((1u32 << n) - 1) as __mmask16
    }

    /// The permutes of one round of [`Zmm::transpose`]: for blocks `b` wide, lane `j` of the first
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

    /// One round of [`Zmm::transpose`]: the off-diagonal `B`-wide blocks of every pair of rows
    /// `i`, `i + B` (`i & B == 0`) swapped, two permutes per pair.
    #[inline(always)]
    fn swap_blocks<const B: usize>(r: &mut [Zmm; 16]) {
        let (lo, hi) = (const { round(B, false) }, const { round(B, true) });
        // SAFETY: 16 i32 read from arrays of 16.
        let (lo, hi) = unsafe { (_mm512_loadu_si512(lo.as_ptr().cast()), _mm512_loadu_si512(hi.as_ptr().cast())) };
        for i in 0..16 {
            if i & B == 0 {
                let (x, y) = (r[i].0, r[i + B].0);
                r[i] = Zmm(unsafe { _mm512_permutex2var_ps(x, lo, y) });
                r[i + B] = Zmm(unsafe { _mm512_permutex2var_ps(x, hi, y) });
            }
        }
    }

    // SAFETY (every `unsafe` in the impls below): the instructions run only inside the entry
    // points, whose callers check the CPU; the loads and stores touch only lanes of a slice just
    // bounds-checked, or of a local array of the register's size.
    impl Block for Zmm {
        const N: usize = 16;
        type Rows = [Zmm; 16];

        #[inline(always)]
        fn rows() -> [Zmm; 16] {
            [Zmm(unsafe { _mm512_setzero_ps() }); 16]
        }

        #[inline(always)]
        fn load(s: &[f32], at: usize, n: usize) -> Zmm {
            let s = &s[at..at + n];
            Zmm(unsafe { _mm512_maskz_loadu_ps(first(n), s.as_ptr()) })
        }

        #[inline(always)]
        fn store(self, s: &mut [f32], at: usize, n: usize) {
            let s = &mut s[at..at + n];
            unsafe { _mm512_mask_storeu_ps(s.as_mut_ptr(), first(n), self.0) }
        }

        #[inline(always)]
        fn load_bytes(s: &[u8], at: usize, n: usize) -> Zmm {
            let mut b = [0u8; 16];
            b[..n].copy_from_slice(&s[at..at + n]);
            Zmm(unsafe { _mm512_castsi512_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(b.as_ptr().cast()))) })
        }

        #[inline(always)]
        fn store_bytes(self, s: &mut [u8], at: usize, n: usize) {
            let mut b = [0u8; 16];
            unsafe { _mm_storeu_si128(b.as_mut_ptr().cast(), _mm512_cvtepi32_epi8(_mm512_castps_si512(self.0))) };
            s[at..at + n].copy_from_slice(&b[..n]);
        }

        /// The transpose of `[[A, B], [C, D]]` is `[[Aᵀ, Cᵀ], [Bᵀ, Dᵀ]]`: each round swaps the
        /// off-diagonal blocks, 8, then 4, 2 and 1 wide (64 permutes in all). Every index is a
        /// constant, so that the 16 rows stay in registers.
        #[inline(always)]
        fn transpose(mut r: [Zmm; 16]) -> [Zmm; 16] {
            swap_blocks::<8>(&mut r);
            swap_blocks::<4>(&mut r);
            swap_blocks::<2>(&mut r);
            swap_blocks::<1>(&mut r);
            r
        }

        #[inline(always)]
        fn argmax4([a, b, c, d]: [Zmm; 4]) -> (Zmm, Zmm) {
            unsafe {
                let (mut at, mut best) = (_mm512_setzero_si512(), a.0);
                for (i, x) in [(1, b.0), (2, c.0), (3, d.0)] {
                    let more = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(x, best);
                    at = _mm512_mask_mov_epi32(at, more, _mm512_set1_epi32(i));
                    best = _mm512_mask_mov_ps(best, more, x);
                }
                let (mut first_nan, mut nan) = (at, 0);
                for (i, x) in [(3, d.0), (2, c.0), (1, b.0), (0, a.0)] {
                    let is_nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(x, x);
                    first_nan = _mm512_mask_mov_epi32(first_nan, is_nan, _mm512_set1_epi32(i));
                    nan |= is_nan;
                }
                let at = _mm512_mask_mov_epi32(at, nan, first_nan);
                (Zmm(_mm512_castsi512_ps(at)), Zmm(_mm512_mask_mov_ps(best, nan, _mm512_set1_ps(f32::NAN))))
            }
        }

        #[inline(always)]
        fn where_at(self, at: Zmm, p: i32) -> Zmm {
            unsafe {
                let here = _mm512_cmpeq_epi32_mask(_mm512_castps_si512(at.0), _mm512_set1_epi32(p));
                Zmm(_mm512_maskz_mov_ps(here, self.0))
            }
        }
    }

    impl Ymm {
        /// All ones in lanes `0 .. n`, zeros in the others (`n ≤ 8`), for the masked moves.
        #[inline(always)]
        fn first(n: usize) -> __m256i {
            unsafe { _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)) }
        }
    }

    impl Block for Ymm {
        const N: usize = 8;
        type Rows = [Ymm; 8];

        #[inline(always)]
        fn rows() -> [Ymm; 8] {
            [Ymm(unsafe { _mm256_setzero_ps() }); 8]
        }

        #[inline(always)]
        fn load(s: &[f32], at: usize, n: usize) -> Ymm {
            let s = &s[at..at + n];
            Ymm(unsafe {
                if n == 8 {
                    _mm256_loadu_ps(s.as_ptr())
                } else {
                    _mm256_maskload_ps(s.as_ptr(), Ymm::first(n))
                }
            })
        }

        #[inline(always)]
        fn store(self, s: &mut [f32], at: usize, n: usize) {
            let s = &mut s[at..at + n];
            unsafe {
                if n == 8 {
                    _mm256_storeu_ps(s.as_mut_ptr(), self.0)
                } else {
                    _mm256_maskstore_ps(s.as_mut_ptr(), Ymm::first(n), self.0)
                }
            }
        }

        #[inline(always)]
        fn load_bytes(s: &[u8], at: usize, n: usize) -> Ymm {
            let mut b = [0u8; 16];
            b[..n].copy_from_slice(&s[at..at + n]);
            Ymm(unsafe { _mm256_castsi256_ps(_mm256_cvtepu8_epi32(_mm_loadu_si128(b.as_ptr().cast()))) })
        }

        #[inline(always)]
        fn store_bytes(self, s: &mut [u8], at: usize, n: usize) {
            let mut v = [0i32; 8];
            unsafe { _mm256_storeu_si256(v.as_mut_ptr().cast(), _mm256_castps_si256(self.0)) };
            for (out, &x) in s[at..at + n].iter_mut().zip(&v) {
                *out = x as u8;
            }
        }

        /// Pairs of rows interleaved, then pairs of pairs, then the 128-bit halves swapped.
        #[inline(always)]
        fn transpose(r: [Ymm; 8]) -> [Ymm; 8] {
            unsafe {
                let r = r.map(|x| x.0);
                let t = [
                    _mm256_unpacklo_ps(r[0], r[1]),
                    _mm256_unpackhi_ps(r[0], r[1]),
                    _mm256_unpacklo_ps(r[2], r[3]),
                    _mm256_unpackhi_ps(r[2], r[3]),
                    _mm256_unpacklo_ps(r[4], r[5]),
                    _mm256_unpackhi_ps(r[4], r[5]),
                    _mm256_unpacklo_ps(r[6], r[7]),
                    _mm256_unpackhi_ps(r[6], r[7]),
                ];
                let u = [
                    _mm256_shuffle_ps::<0x44>(t[0], t[2]),
                    _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
                    _mm256_shuffle_ps::<0x44>(t[1], t[3]),
                    _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
                    _mm256_shuffle_ps::<0x44>(t[4], t[6]),
                    _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
                    _mm256_shuffle_ps::<0x44>(t[5], t[7]),
                    _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
                ];
                [
                    Ymm(_mm256_permute2f128_ps::<0x20>(u[0], u[4])),
                    Ymm(_mm256_permute2f128_ps::<0x20>(u[1], u[5])),
                    Ymm(_mm256_permute2f128_ps::<0x20>(u[2], u[6])),
                    Ymm(_mm256_permute2f128_ps::<0x20>(u[3], u[7])),
                    Ymm(_mm256_permute2f128_ps::<0x31>(u[0], u[4])),
                    Ymm(_mm256_permute2f128_ps::<0x31>(u[1], u[5])),
                    Ymm(_mm256_permute2f128_ps::<0x31>(u[2], u[6])),
                    Ymm(_mm256_permute2f128_ps::<0x31>(u[3], u[7])),
                ]
            }
        }

        #[inline(always)]
        fn argmax4([a, b, c, d]: [Ymm; 4]) -> (Ymm, Ymm) {
            unsafe {
                let (mut at, mut best) = (_mm256_setzero_ps(), a.0);
                for (i, x) in [(1, b.0), (2, c.0), (3, d.0)] {
                    let more = _mm256_cmp_ps::<_CMP_GT_OQ>(x, best);
                    at = _mm256_blendv_ps(at, _mm256_castsi256_ps(_mm256_set1_epi32(i)), more);
                    best = _mm256_blendv_ps(best, x, more);
                }
                let (mut first_nan, mut nan) = (at, _mm256_setzero_ps());
                for (i, x) in [(3, d.0), (2, c.0), (1, b.0), (0, a.0)] {
                    let is_nan = _mm256_cmp_ps::<_CMP_UNORD_Q>(x, x);
                    first_nan = _mm256_blendv_ps(first_nan, _mm256_castsi256_ps(_mm256_set1_epi32(i)), is_nan);
                    nan = _mm256_or_ps(nan, is_nan);
                }
                (Ymm(_mm256_blendv_ps(at, first_nan, nan)), Ymm(_mm256_blendv_ps(best, _mm256_set1_ps(f32::NAN), nan)))
            }
        }

        #[inline(always)]
        fn where_at(self, at: Ymm, p: i32) -> Ymm {
            unsafe {
                let here = _mm256_cmpeq_epi32(_mm256_castps_si256(at.0), _mm256_set1_epi32(p));
                Ymm(_mm256_and_ps(_mm256_castsi256_ps(here), self.0))
            }
        }
    }

    /// `dst[j·ds + i] = src[i·ss + j]` for `i < rows`, `j < cols`: the `rows × cols` matrix at the
    /// start of `src` (rows `ss` apart) transposed into `dst` (rows `ds` apart), a block at a time.
    #[inline(always)]
    fn transpose<B: Block>(src: &[f32], ss: usize, rows: usize, cols: usize, dst: &mut [f32], ds: usize) {
        for i0 in (0..rows).step_by(B::N) {
            let ni = B::N.min(rows - i0);
            for j0 in (0..cols).step_by(B::N) {
                let nj = B::N.min(cols - j0);
                // Constant trip counts (rows past the matrix are zeros, not loads), so that the rows
                // stay in registers.
                let mut r = B::rows();
                for (i, ri) in r.as_mut().iter_mut().enumerate() {
                    if i < ni {
                        *ri = B::load(src, (i0 + i) * ss + j0, nj);
                    }
                }
                for (j, t) in B::transpose(r).as_ref().iter().enumerate() {
                    if j < nj {
                        t.store(dst, (j0 + j) * ds + i0, ni);
                    }
                }
            }
        }
    }

    /// [`super::pool_from_channels_last`] for `c` channels pooled to `ho × wo`: a block of
    /// channels (the lanes) and of pooled pixels at a time, each window's maximum and argmax lane
    /// by lane, then both blocks transposed into the planes.
    #[inline(always)]
    fn pool<B: Block>(hwc: &[f32], wp: usize, (c, ho, wo): (usize, usize, usize), plane: &mut [f32], at: &mut [u8]) {
        let row = wp * c;
        for ch0 in (0..c).step_by(B::N) {
            let cb = B::N.min(c - ch0);
            for y in 0..ho {
                for x0 in (0..wo).step_by(B::N) {
                    let nx = B::N.min(wo - x0);
                    let (mut arg, mut best) = (B::rows(), B::rows());
                    for (x, (a, v)) in arg.as_mut().iter_mut().zip(best.as_mut()).enumerate() {
                        if x < nx {
                            let p = (2 * y * wp + 2 * (x0 + x)) * c + ch0;
                            let window = [
                                B::load(hwc, p, cb),
                                B::load(hwc, p + c, cb),
                                B::load(hwc, p + row, cb),
                                B::load(hwc, p + row + c, cb),
                            ];
                            (*a, *v) = B::argmax4(window);
                        }
                    }
                    let (arg, best) = (B::transpose(arg), B::transpose(best));
                    for (k, (a, v)) in arg.as_ref().iter().zip(best.as_ref()).enumerate() {
                        if k < cb {
                            let out = ((ch0 + k) * ho + y) * wo + x0;
                            v.store(plane, out, nx);
                            a.store_bytes(at, out, nx);
                        }
                    }
                }
            }
        }
    }

    /// [`super::unpool_to_channels_last`]'s windows for `c` channels pooled to `ho × wo` (the odd
    /// last row and column are the caller's): a block of pooled pixels and of channels at a time,
    /// the gradient and the argmax positions transposed to channels-last, then each window's four
    /// pixels written whole, the value where the position matches and zero elsewhere.
    #[inline(always)]
    fn unpool<B: Block>(
        gy: &[f32],
        at: &[u8],
        (c, ho, wo): (usize, usize, usize),
        pad: usize,
        wp: usize,
        hwc: &mut [f32],
    ) {
        let row = wp * c;
        for ch0 in (0..c).step_by(B::N) {
            let cb = B::N.min(c - ch0);
            for y in 0..ho {
                for x0 in (0..wo).step_by(B::N) {
                    let nx = B::N.min(wo - x0);
                    let (mut g, mut a) = (B::rows(), B::rows());
                    for (k, (g, a)) in g.as_mut().iter_mut().zip(a.as_mut()).enumerate() {
                        if k < cb {
                            let i = ((ch0 + k) * ho + y) * wo + x0;
                            (*g, *a) = (B::load(gy, i, nx), B::load_bytes(at, i, nx));
                        }
                    }
                    let (g, a) = (B::transpose(g), B::transpose(a));
                    for (x, (&g, &a)) in g.as_ref().iter().zip(a.as_ref()).enumerate().take(nx) {
                        let top = ((2 * y + pad) * wp + 2 * (x0 + x) + pad) * c + ch0;
                        for (p, to) in [top, top + c, top + row, top + row + c].into_iter().enumerate() {
                            g.where_at(a, p as i32).store(hwc, to, cb);
                        }
                    }
                }
            }
        }
    }

    /// The entry points: each loop compiled with the instructions of its block.
    macro_rules! entry {
        ($($feature:literal: $block:ty => $transpose:ident, $pool:ident, $unpool:ident;)*) => {$(
            /// [`transpose`] on this block. Safety: the CPU runs these instructions.
            #[target_feature(enable = $feature)]
            pub(super) unsafe fn $transpose(src: &[f32], ss: usize, rows: usize, cols: usize, dst: &mut [f32], ds: usize) {
                transpose::<$block>(src, ss, rows, cols, dst, ds)
            }

            /// [`pool`] on this block. Safety: the CPU runs these instructions.
            #[target_feature(enable = $feature)]
            pub(super) unsafe fn $pool(hwc: &[f32], wp: usize, dims: (usize, usize, usize), plane: &mut [f32], at: &mut [u8]) {
                pool::<$block>(hwc, wp, dims, plane, at)
            }

            /// [`unpool`] on this block. Safety: the CPU runs these instructions.
            #[target_feature(enable = $feature)]
            pub(super) unsafe fn $unpool(gy: &[f32], at: &[u8], dims: (usize, usize, usize), pad: usize, wp: usize, hwc: &mut [f32]) {
                unpool::<$block>(gy, at, dims, pad, wp, hwc)
            }
        )*};
    }

    entry! {
        "avx512f": Zmm => transpose16, pool16, unpool16;
        "avx2": Ymm => transpose8, pool8, unpool8;
    }
}

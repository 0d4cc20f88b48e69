//! Run-time choice of the vector instructions kindling's own loops are compiled for.
//!
//! The crate is built for the x86-64 baseline (SSE2), so that one binary runs on any x86-64 CPU.
//! Loops that matter (the Winograd tile transforms) are compiled three times by `multiversion!`:
//! for the baseline, with AVX2 (256-bit vectors) and with AVX-512F (512-bit), and the copy to run
//! is chosen when the loop is called, from what the CPU reports; the AVX-512 copy works on 16
//! channels at a time, the others on 8 ([`Level::lanes`]). Every copy runs the same additions and
//! multiplications in the same order on each value (Rust never fuses them into FMAs on its own),
//! so they give bit-identical results (the tests check it on every level the CPU runs).
//!
//! `KINDLING_SIMD=baseline|avx2|avx512` caps the level (never above what the CPU runs), to
//! measure what each gains, to run the fallback paths on a CPU that has more, or to rule the
//! vector code out when hunting a bug. The matrix products run on the `gemm` crate's kernels,
//! which make the same run-time choice up to AVX-512 (its `x86-v4` feature is on).

/// The vector instructions a multiversioned loop runs with, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// The x86-64 baseline (SSE2), or the target's own baseline on other architectures.
    Baseline,
    /// AVX2 (x86-64 only).
    Avx2,
    /// AVX-512F (x86-64 only).
    Avx512,
}

impl Level {
    /// The best level this CPU runs, capped by `KINDLING_SIMD` (`baseline`, `avx2` or `avx512`);
    /// read once per process.
    pub fn chosen() -> Level {
        static CHOSEN: std::sync::OnceLock<Level> = std::sync::OnceLock::new();
        *CHOSEN.get_or_init(|| {
            let cap = match std::env::var("KINDLING_SIMD").as_deref() {
                Ok("baseline") => Level::Baseline,
                Ok("avx2") => Level::Avx2,
                _ => Level::Avx512,
            };
            Level::detected().min(cap)
        })
    }

    /// The best level this CPU runs.
    pub fn detected() -> Level {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Level::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Level::Avx2;
            }
        }
        Level::Baseline
    }

    /// Every level this CPU runs, baseline first (for tests that compare them).
    pub fn available() -> Vec<Level> {
        [Level::Baseline, Level::Avx2, Level::Avx512].into_iter().filter(|&l| l <= Level::detected()).collect()
    }

    /// [`Level::available`], for a test that compares the levels: says in the test output which
    /// copies this CPU cannot run, and so were not compared (`NOT RUN`, see [`crate::require`]).
    #[cfg(test)]
    pub(crate) fn tested() -> Vec<Level> {
        let levels = Level::available();
        let missing: Vec<Level> = [Level::Avx2, Level::Avx512].into_iter().filter(|l| !levels.contains(l)).collect();
        if !missing.is_empty() {
            crate::require::not_run(&format!(
                "the {missing:?} copies of the multiversioned loops (this CPU lacks them); compared {levels:?} only"
            ));
        }
        levels
    }

    /// f32 lanes a block of a multiversioned loop works on: one register's worth (two SSE
    /// registers' at the baseline).
    pub fn lanes(self) -> usize {
        match self {
            Level::Avx512 => 16,
            _ => 8,
        }
    }
}

/// Defines `fn name(level: Level, args...)` (the first parameter a `Level`, under any name) whose
/// body is compiled for the baseline and, on x86-64, again with AVX2 and with AVX-512F enabled;
/// `level` picks the copy (a level the CPU lacks falls back to the next one down, so no call can
/// run an instruction the CPU does not have), and the body reads it capped at its copy's level
/// (what [`for_lanes`] relies on to pick its registers).
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($level:ident: Level, $($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        $vis fn $name($level: $crate::ops::simd::Level, $($arg: $ty),*) {
            #[inline(always)]
            #[allow(unused_variables)]
            fn body($level: $crate::ops::simd::Level, $($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512($level: $crate::ops::simd::Level, $($arg: $ty),*) {
                    body($level, $($arg),*)
                }
                #[target_feature(enable = "avx2")]
                unsafe fn avx2($level: $crate::ops::simd::Level, $($arg: $ty),*) {
                    body($level.min($crate::ops::simd::Level::Avx2), $($arg),*)
                }
                if $level >= $crate::ops::simd::Level::Avx512 && std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU runs AVX-512F, checked just above.
                    return unsafe { avx512($level, $($arg),*) };
                }
                if $level >= $crate::ops::simd::Level::Avx2 && std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU runs AVX2, checked just above.
                    return unsafe { avx2($level, $($arg),*) };
                }
            }
            body($level.min($crate::ops::simd::Level::Baseline), $($arg),*)
        }
    };
}
pub(crate) use multiversion;

/// Runs `$block` for each block of lanes `$c0 .. $c0 + $V::N` covering `0 .. $n`, with `$V` a
/// type alias for the [`Lanes`] the block computes with: at [`Level::Avx512`] 16 lanes in one
/// AVX-512 register ([`F32x16`]), then at [`Level::Avx2`] and above 8 in one AVX register
/// ([`F32x8`]), then at any level 8 as an array (`[f32; 8]`, which the compiler vectorizes as it
/// can), then one by one. Use it inside a [`multiversion!`] body with that body's `level`: the
/// register arms run only at the levels whose instructions the body's copy was compiled for.
macro_rules! for_lanes {
    ($level:expr, $n:expr, |$c0:ident, $v:ident| $block:block) => {{
        let (level, n): ($crate::ops::simd::Level, usize) = ($level, $n);
        let mut $c0 = 0;
        #[cfg(target_arch = "x86_64")]
        {
            if level >= $crate::ops::simd::Level::Avx512 {
                while $c0 + 16 <= n {
                    type $v = $crate::ops::simd::F32x16;
                    $block
                    $c0 += 16;
                }
            }
            if level >= $crate::ops::simd::Level::Avx2 {
                while $c0 + 8 <= n {
                    type $v = $crate::ops::simd::F32x8;
                    $block
                    $c0 += 8;
                }
            }
        }
        while $c0 + 8 <= n {
            type $v = [f32; 8];
            $block
            $c0 += 8;
        }
        while $c0 < n {
            type $v = [f32; 1];
            $block
            $c0 += 1;
        }
        let _ = level;
    }};
}
pub(crate) use for_lanes;

/// A run of f32 lanes the transforms compute with as one value: loaded from and stored to a
/// slice (bounds-checked), added, subtracted, multiplied and negated lane by lane, each lane
/// rounded as f32 arithmetic rounds it (no fused multiply-adds), so every implementation gives
/// the same bits. Arrays (`[f32; L]`) for any `L`; on x86-64 also one AVX register ([`F32x8`])
/// and one AVX-512 register ([`F32x16`]), with which the compiler cannot split the lanes into
/// scalars and shuffles as it did with 16-lane arrays (a third of the F(4×4, 3×3) input
/// transform's time went to stores of such pieces).
pub(crate) trait Lanes: Copy {
    /// Lanes in one value.
    const N: usize;
    /// Lanes `at .. at + N` of `s`.
    fn load(s: &[f32], at: usize) -> Self;
    /// Into lanes `at .. at + N` of `s`.
    fn store(self, s: &mut [f32], at: usize);
    /// `x` in every lane.
    fn splat(x: f32) -> Self;
    fn add(self, y: Self) -> Self;
    fn sub(self, y: Self) -> Self;
    fn mul(self, y: Self) -> Self;
    /// The sign bit flipped.
    fn neg(self) -> Self;
}

impl<const L: usize> Lanes for [f32; L] {
    const N: usize = L;

    #[inline(always)]
    fn load(s: &[f32], at: usize) -> Self {
        s[at..at + L].try_into().unwrap()
    }

    #[inline(always)]
    fn store(self, s: &mut [f32], at: usize) {
        s[at..at + L].copy_from_slice(&self);
    }

    #[inline(always)]
    fn splat(x: f32) -> Self {
        [x; L]
    }

    // Plain loops: a closure (as `std::array::from_fn` takes) is compiled as a function of its
    // own, without the multiversioned copies' target features, unless the compiler inlines it.
    #[inline(always)]
    fn add(mut self, y: Self) -> Self {
        for i in 0..L {
            self[i] += y[i];
        }
        self
    }

    #[inline(always)]
    fn sub(mut self, y: Self) -> Self {
        for i in 0..L {
            self[i] -= y[i];
        }
        self
    }

    #[inline(always)]
    fn mul(mut self, y: Self) -> Self {
        for i in 0..L {
            self[i] *= y[i];
        }
        self
    }

    #[inline(always)]
    fn neg(mut self) -> Self {
        for v in &mut self {
            *v = -*v;
        }
        self
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{F32x16, F32x8};

/// The register [`Lanes`]. Their methods run AVX and AVX-512F instructions, so a value of either
/// type is made only where the CPU runs them: by [`for_lanes`], in its arms for [`Level::Avx2`]
/// and [`Level::Avx512`], whose `level` [`multiversion!`] caps at what the running copy was
/// compiled for (and so at what the CPU runs). Inlined there, each method is one instruction.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::Lanes;

    /// Eight f32 lanes in one AVX register.
    #[derive(Clone, Copy)]
    pub(crate) struct F32x8(__m256);

    /// Sixteen f32 lanes in one AVX-512 register.
    #[derive(Clone, Copy)]
    pub(crate) struct F32x16(__m512);

    // SAFETY (every `unsafe` below): the loads and stores touch exactly the lanes of a slice
    // just bounds-checked; the instructions run only where the CPU has them (see the module).
    impl Lanes for F32x8 {
        const N: usize = 8;

        #[inline(always)]
        fn load(s: &[f32], at: usize) -> Self {
            let s = &s[at..at + 8];
            F32x8(unsafe { _mm256_loadu_ps(s.as_ptr()) })
        }

        #[inline(always)]
        fn store(self, s: &mut [f32], at: usize) {
            let s = &mut s[at..at + 8];
            unsafe { _mm256_storeu_ps(s.as_mut_ptr(), self.0) }
        }

        #[inline(always)]
        fn splat(x: f32) -> Self {
            F32x8(unsafe { _mm256_set1_ps(x) })
        }

        #[inline(always)]
        fn add(self, y: Self) -> Self {
            F32x8(unsafe { _mm256_add_ps(self.0, y.0) })
        }

        #[inline(always)]
        fn sub(self, y: Self) -> Self {
            F32x8(unsafe { _mm256_sub_ps(self.0, y.0) })
        }

        #[inline(always)]
        fn mul(self, y: Self) -> Self {
            F32x8(unsafe { _mm256_mul_ps(self.0, y.0) })
        }

        #[inline(always)]
        fn neg(self) -> Self {
            F32x8(unsafe { _mm256_xor_ps(self.0, _mm256_set1_ps(-0.0)) })
        }
    }

    impl Lanes for F32x16 {
        const N: usize = 16;

        #[inline(always)]
        fn load(s: &[f32], at: usize) -> Self {
            let s = &s[at..at + 16];
            F32x16(unsafe { _mm512_loadu_ps(s.as_ptr()) })
        }

        #[inline(always)]
        fn store(self, s: &mut [f32], at: usize) {
            let s = &mut s[at..at + 16];
            unsafe { _mm512_storeu_ps(s.as_mut_ptr(), self.0) }
        }

        #[inline(always)]
        fn splat(x: f32) -> Self {
            F32x16(unsafe { _mm512_set1_ps(x) })
        }

        #[inline(always)]
        fn add(self, y: Self) -> Self {
            F32x16(unsafe { _mm512_add_ps(self.0, y.0) })
        }

        #[inline(always)]
        fn sub(self, y: Self) -> Self {
            F32x16(unsafe { _mm512_sub_ps(self.0, y.0) })
        }

        #[inline(always)]
        fn mul(self, y: Self) -> Self {
            F32x16(unsafe { _mm512_mul_ps(self.0, y.0) })
        }

        #[inline(always)]
        fn neg(self) -> Self {
            // AVX-512F has no f32 xor (that is AVX-512DQ): flip the sign bits as integers.
            let bits = unsafe { _mm512_xor_si512(_mm512_castps_si512(self.0), _mm512_set1_epi32(i32::MIN)) };
            F32x16(unsafe { _mm512_castsi512_ps(bits) })
        }
    }
}

/// Independent partial sums [`lane_sums`] keeps: enough that the compiler vectorizes the loop.
/// One `f32` accumulator is one chain of dependent additions (about 4 cycles an element, which
/// made batch norm's statistics a scalar loop); sixteen interleaved ones change the order of the
/// summation, not its precision.
const LANES: usize = 16;

/// `(Σ f(aᵢ, bᵢ).0, Σ f(aᵢ, bᵢ).1)` over the pairs of `a` and `b` (equal lengths), in [`LANES`]
/// interleaved partial sums.
#[inline(always)]
pub(crate) fn lane_sums(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> (f32, f32)) -> (f32, f32) {
    debug_assert_eq!(a.len(), b.len());
    let (mut s0, mut s1) = ([0f32; LANES], [0f32; LANES]);
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (xa, xb) in ca.zip(cb) {
        for l in 0..LANES {
            let (u, v) = f(xa[l], xb[l]);
            s0[l] += u;
            s1[l] += v;
        }
    }
    let (mut t0, mut t1) = (s0.iter().sum::<f32>(), s1.iter().sum::<f32>());
    for (&xa, &xb) in ra.iter().zip(rb) {
        let (u, v) = f(xa, xb);
        t0 += u;
        t1 += v;
    }
    (t0, t1)
}

/// `Σ xᵢ` in [`LANES`] interleaved partial sums.
#[inline(always)]
pub(crate) fn sum(xs: &[f32]) -> f32 {
    lane_sums(xs, xs, |x, _| (x, 0.0)).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn for_lanes_covers_each_lane_once_in_the_widest_blocks_first() {
        for level in [Level::Baseline, Level::Avx2, Level::Avx512] {
            for n in [0, 1, 7, 8, 9, 16, 23, 24, 40] {
                let mut blocks = Vec::new();
                for_lanes!(level, n, |c0, L| {
                    blocks.push((c0, <L as Lanes>::N));
                });
                let covered: Vec<usize> = blocks.iter().flat_map(|&(c0, l)| c0..c0 + l).collect();
                assert_eq!(covered, (0..n).collect::<Vec<_>>(), "{level:?}, {n} lanes");
                assert!(blocks.windows(2).all(|b| b[0].1 >= b[1].1), "{level:?}, {n}: {blocks:?}");
                let wide = blocks.iter().filter(|&&(_, l)| l == level.lanes()).count();
                assert_eq!(wide, n / level.lanes(), "{level:?}, {n}: {blocks:?}");
            }
        }
    }

    #[test]
    fn available_levels_run_up_to_the_detected_one() {
        let levels = Level::available();
        assert_eq!(levels.first(), Some(&Level::Baseline));
        assert_eq!(levels.last(), Some(&Level::detected()));
        assert!(Level::chosen() <= Level::detected());
    }

    #[test]
    fn lane_sums_add_every_pair_once() {
        for n in [0, 1, 15, 16, 17, 40, 1000] {
            let a: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let b: Vec<f32> = (0..n).map(|i| (i % 7) as f32).collect();
            let (s, p) = lane_sums(&a, &b, |x, y| (x, x * y));
            assert_eq!(s, (0..n).map(|i| i as f32).sum::<f32>(), "{n}");
            assert_eq!(p, (0..n).map(|i| (i * (i % 7)) as f32).sum::<f32>(), "{n}");
            assert_eq!(sum(&a), s);
        }
    }
}

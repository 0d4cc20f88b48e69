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
/// run an instruction the CPU does not have), and the body can read it (for [`Level::lanes`]).
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
                    body($level, $($arg),*)
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
            body($level, $($arg),*)
        }
    };
}
pub(crate) use multiversion;

/// Runs `$block` for each block of lanes `$c0 .. $c0 + $l` covering `0 .. $n`: [`Level::lanes`]
/// at a time (16 or 8), then 8, then one by one; `$l` is a `const` the block can pass as a const
/// generic.
macro_rules! for_lanes {
    ($level:expr, $n:expr, |$c0:ident, $l:ident| $block:block) => {{
        let n: usize = $n;
        let mut $c0 = 0;
        if $level.lanes() >= 16 {
            while $c0 + 16 <= n {
                const $l: usize = 16;
                $block
                $c0 += 16;
            }
        }
        while $c0 + 8 <= n {
            const $l: usize = 8;
            $block
            $c0 += 8;
        }
        while $c0 < n {
            const $l: usize = 1;
            $block
            $c0 += 1;
        }
    }};
}
pub(crate) use for_lanes;

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
                    blocks.push((c0, L));
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

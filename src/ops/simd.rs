//! Run-time choice of the vector instructions kindling's own loops are compiled for.
//!
//! The crate is built for the x86-64 baseline (SSE2), so that one binary runs on any x86-64 CPU.
//! Loops that matter (the Winograd tile transforms) are compiled twice by `multiversion!`: once
//! for the baseline and once with AVX2 enabled (256-bit vectors, twice SSE's width), and the copy
//! to run is chosen when the loop is called, from what the CPU reports. The two copies run the
//! same additions in the same order, so they give bit-identical results (the tests check it).
//!
//! `KINDLING_SIMD=baseline` forces the baseline copies on a CPU with AVX2, to measure what AVX2
//! gains or to rule it out when hunting a bug. The matrix products run on the `gemm` crate's
//! kernels, which make the same run-time choice up to AVX-512 (its `x86-v4` feature is on).

/// The vector instructions a multiversioned loop runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The x86-64 baseline (SSE2), or the target's own baseline on other architectures.
    Baseline,
    /// AVX2 (x86-64 only).
    Avx2,
}

impl Level {
    /// The best level this CPU runs, unless `KINDLING_SIMD=baseline` asks for the baseline; read
    /// once per process.
    pub fn chosen() -> Level {
        static CHOSEN: std::sync::OnceLock<Level> = std::sync::OnceLock::new();
        *CHOSEN.get_or_init(|| {
            if std::env::var("KINDLING_SIMD").as_deref() == Ok("baseline") {
                Level::Baseline
            } else {
                Level::detected()
            }
        })
    }

    /// The best level this CPU runs.
    pub fn detected() -> Level {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            return Level::Avx2;
        }
        Level::Baseline
    }

    /// Every level this CPU runs, baseline first (for tests that compare them).
    pub fn available() -> Vec<Level> {
        match Level::detected() {
            Level::Baseline => vec![Level::Baseline],
            Level::Avx2 => vec![Level::Baseline, Level::Avx2],
        }
    }
}

/// Defines `fn name(level: Level, args...)` whose body is compiled for the baseline and, on
/// x86-64, again with AVX2 enabled; `level` picks the copy (a level the CPU lacks falls back to
/// the baseline, so no call can run an instruction the CPU does not have).
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        $vis fn $name(level: $crate::ops::simd::Level, $($arg: $ty),*) {
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                unsafe fn avx2($($arg: $ty),*) {
                    body($($arg),*)
                }
                if level == $crate::ops::simd::Level::Avx2 && std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU runs AVX2, checked just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            let _ = level;
            body($($arg),*)
        }
    };
}
pub(crate) use multiversion;

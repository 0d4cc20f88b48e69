//! What kindling's binaries set up first thing in `main`, before any other thread exists.
//!
//! - [`crate::support::allocator::keep_freed_pages`]: mimalloc keeps freed pages instead of handing them
//!   back to the kernel, which would zero them again on the next step.
//! - [`limit_candle_spinning`]: candle 0.11 runs its element-wise CPU ops on a pool of its own
//!   threads, which spin for 25,000 rounds after each op before they sleep. On a 2-core machine
//!   they spin on the cores that kindling's matrix products (rayon) need: `perf record` of the MLP
//!   step put 15% of its samples in that spin loop.

/// The spin rounds kindling gives candle's pool, unless `CANDLE_BARRIER_POOL_SPIN_LIMIT` is set.
/// MLP step (`bench --model mlp`, 3 alternating rounds, 2-core AVX-512 machine, 2026-12-06):
/// 15,700-16,100 images/s with candle's 25,000, 17,200-18,300 with 1,000, 15,700-17,700 with 0
/// (every op then wakes sleeping threads); the CNN steps did not move beyond the noise.
pub const CANDLE_SPIN_LIMIT: u32 = 1000;

/// Everything above, in order. Call it at the start of `main`.
pub fn startup() {
    crate::support::allocator::keep_freed_pages();
    limit_candle_spinning();
}

/// Sets `CANDLE_BARRIER_POOL_SPIN_LIMIT` to [`CANDLE_SPIN_LIMIT`] unless the environment already
/// sets it. candle reads it when its pool starts, at the first parallel op; the environment is
/// only safe to change while no other thread runs, hence "first thing in `main`".
pub fn limit_candle_spinning() {
    const VAR: &str = "CANDLE_BARRIER_POOL_SPIN_LIMIT";
    if std::env::var_os(VAR).is_none() {
        std::env::set_var(VAR, CANDLE_SPIN_LIMIT.to_string());
    }
}

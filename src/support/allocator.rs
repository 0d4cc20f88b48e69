//! The global allocator of kindling's binaries: mimalloc, set up for training loops.
//!
//! candle allocates a fresh buffer for every tensor, so one training step frees and re-allocates
//! hundreds of megabytes. By default mimalloc hands freed pages back to the kernel after 10 ms, and
//! the kernel must then zero them again on the next touch: `perf` showed `clear_page_erms` at 15% of
//! a CIFAR-10 CNN step (23 623 page faults in 10 steps; 490 with the pages kept). [`keep_freed_pages`]
//! turns that purging off. Peak memory can rise a little, as freed pages wait for re-use instead of
//! going back (the previous default CIFAR-10 CNN's training step: 650 → 810 MB; the plain CNN's fell
//! to 414 MB), still well under PyTorch's (~930-1060 MB on the same steps).
//!
//! Each example declares `#[global_allocator] static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;`
//! and calls [`crate::support::startup::startup`] (which calls [`keep_freed_pages`]) first thing in `main`.

/// mimalloc's `mi_option_purge_delay` (position 15 in `mi_option_e`, in both v2 and v3 headers).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc never to return freed pages to the operating system, unless the environment
/// sets `MIMALLOC_PURGE_DELAY` (which then wins). Call it at the start of `main`, before other
/// threads start: mimalloc's option setter is not thread safe. Harmless when mimalloc is linked but
/// not the global allocator.
pub fn keep_freed_pages() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a plain integer option; called before other threads exist.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
    }
}

/// The current purge delay in milliseconds (-1: never purge).
pub fn purge_delay() -> i64 {
    // SAFETY: reads a plain integer option.
    unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) as i64 }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keep_freed_pages_sets_the_purge_delay() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            crate::require::skip("MIMALLOC_PURGE_DELAY is set in the environment (unset it to run this test)");
            return;
        }
        assert_ne!(super::purge_delay(), -1, "mimalloc's default purges");
        super::keep_freed_pages();
        assert_eq!(super::purge_delay(), -1);
    }
}

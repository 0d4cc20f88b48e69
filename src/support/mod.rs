//! Machine support for the example binaries, benchmarks and tests: the allocator settings
//! ([`allocator`]), what every binary sets first ([`startup`]), step timing ([`bench`]) and the
//! one-line machine description written into checkpoints ([`machine`]).

#[cfg(feature = "cli")]
pub mod allocator;
#[doc(hidden)] // step timing for `examples/bench.rs` and the benchmarks, not a library API
pub mod bench;
#[doc(hidden)] // the one-line machine description written into checkpoints and benchmark reports
pub mod machine;
#[cfg(feature = "cli")]
pub mod startup;

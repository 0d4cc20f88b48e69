//! The applications: what the example binaries do, as library code. A whole training run
//! ([`run`]), the `evaluate` report ([`report`]), shipping checkpoints ([`publish`]), pictures
//! ([`visualize`] and [`plot`]), hyper-parameter search ([`sweep`]), the local web page
//! ([`serve`]), and the flags the examples share ([`cli`], [`device`]).
//!
//! Each module sits behind the default-on cargo feature it needs (`cli`, `plot`, `serve`), so a
//! library build without default features has none of their dependencies. Everything here sits above the core and the training machinery and imports only downwards.

#[cfg(feature = "cli")]
pub mod cli;
pub mod device;
#[cfg(feature = "plot")]
pub mod plot;
#[cfg(feature = "cli")]
pub mod publish;
#[cfg(feature = "cli")]
pub mod report;
#[cfg(feature = "cli")]
pub mod run;
#[cfg(feature = "serve")]
pub mod serve;
#[cfg(feature = "cli")]
pub mod sweep;
#[cfg(feature = "plot")]
pub mod visualize;

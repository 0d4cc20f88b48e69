//! The applications: what the example binaries do, as library code. A whole training run
//! ([`run`]), the `evaluate` report ([`report`]), `predict` over many files ([`predict`]),
//! shipping checkpoints ([`publish`]), pictures ([`visualize`] and [`plot`]), hyper-parameter search ([`sweep`]), the local web page
//! ([`serve`]), and the flags the examples share ([`cli`], [`device`]).
//!
//! Everything here sits above the core and the training machinery and imports only downwards.

pub mod cli;
pub mod device;
pub mod plot;
pub mod predict;
pub mod publish;
pub mod report;
pub mod run;
pub mod serve;
pub mod sweep;
pub mod visualize;

//! Training machinery: the one loop ([`fit()`]), its configuration ([`TrainConfig`]), the hooks it
//! calls after each epoch and step (the [`Lookahead`] average is one), and the one evaluation
//! ([`evaluate`]).
//!
//! ```
//! use kindling::data::{shapes, DatasetName, Split};
//! use kindling::models::{Architecture, ModelKind};
//! use kindling::train::{fit, Session, TrainData};
//! # fn main() -> kindling::Result<()> {
//! let device = candle_core::Device::Cpu;
//! let data = TrainData::measure(&shapes::generate(Split::Train, 200), None, None, false)?;
//! let net = data.network(&Architecture::Linear, 0, &device)?;
//! let mut cfg = kindling::presets::defaults::train_config(DatasetName::Shapes, ModelKind::Linear, kindling::loss::LossKind::Softmax);
//! cfg.epochs = 2;
//! let report = fit(&net, &data, &cfg, &device, Session::new())?;
//! assert_eq!(report.history.len(), 2);
//! # Ok(())
//! # }
//! ```

pub mod config;
mod data;
pub mod evaluation;
mod fit;
pub mod hooks;
pub mod lookahead;

pub use config::{BatchSize, EpochRecord, TrainConfig};
pub use data::TrainData;
pub use evaluation::{evaluate, evaluate_with, predict, predict_with, EVAL_BATCH};
pub use fit::{fit, FitReport};
pub use hooks::{Control, EpochEnd, EpochHook, ResumeFrom, Session, StepEnd};
pub use lookahead::{Lookahead, LookaheadConfig};

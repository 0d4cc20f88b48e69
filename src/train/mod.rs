//! Training machinery: the one loop ([`fit()`]), its configuration ([`TrainConfig`]), the hooks it
//! calls after each epoch and step (the [`Lookahead`] average is one), and the one evaluation
//! ([`evaluate`]).
//!
//! ```
//! use kindling::data::{shapes, DatasetName, Normalization, Split};
//! use kindling::models::{ModelConfig, ModelKind, Network};
//! use kindling::train::{fit, Session, TrainData};
//! # fn main() -> kindling::Result<()> {
//! let train = shapes::generate(Split::Train, 200);
//! let normalization = Normalization::fit(&train);
//! let options = kindling::presets::defaults::model_options(DatasetName::Shapes, ModelKind::Linear);
//! let net = Network::new(&ModelConfig::new(ModelKind::Linear, train.shape, 10, &options), 0, &candle_core::Device::Cpu)?;
//! let mut cfg = kindling::presets::defaults::train_config(DatasetName::Shapes, ModelKind::Linear, kindling::loss::LossKind::Softmax);
//! cfg.epochs = 2;
//! let data = TrainData { train: &train, val: None, normalization: &normalization };
//! let report = fit(&net, &data, &cfg, &candle_core::Device::Cpu, Session::new())?;
//! assert_eq!(report.history.len(), 2);
//! # Ok(())
//! # }
//! ```

pub mod config;
pub mod evaluation;
mod fit;
pub mod hooks;
pub mod lookahead;

pub use config::{BatchSize, EpochRecord, TrainConfig};
pub use evaluation::{evaluate, evaluate_with, predict, predict_with, EVAL_BATCH};
pub use fit::{fit, FitReport, TrainData};
pub use hooks::{Control, EpochEnd, EpochHook, ResumeFrom, Session, StepEnd};
pub use lookahead::{Lookahead, LookaheadConfig};

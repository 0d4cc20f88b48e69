//! # kindling
//!
//! The classic image-classification ladder, from nearest neighbour to convolutional networks, as
//! thin models on [candle](https://github.com/huggingface/candle).
//!
//! - [`data`]: CIFAR-10, MNIST, Fashion-MNIST, the generated `shapes` set and 2-D toy problems,
//!   kept as `u8` and batched as normalized `f32`.
//! - [`models`]: the classifiers; [`loss`]: softmax and hinge losses with regularization.
//! - [`optim`]: SGD, momentum, Nesterov, RMSProp, Adam, AdamW and schedules.
//! - [`train`]: the one training loop and the one evaluation; [`checkpoint`]: self-describing
//!   safetensors files; [`tta`]: test-time augmentation.
//!
//! ```no_run
//! use kindling::{cli, data::{self, DatasetName, Split}, defaults, models::*, params::Params, train};
//! let train_set = data::load(DatasetName::Shapes, Split::Train, &Default::default())?;
//! let norm = data::Normalization::fit(&train_set);
//! let params = Params::new(0);
//! let cfg = ModelConfig::Linear(LinearConfig { input_shape: train_set.shape, classes: 10 });
//! let dev = candle_core::Device::Cpu;
//! let model = Model::new(&cfg, params.var_builder(candle_core::DType::F32, &dev))?;
//! let tc = defaults::train_config(DatasetName::Shapes, ModelKind::Linear, kindling::loss::LossKind::Softmax);
//! train::fit(&model, &params, &train_set, None, &norm, &tc, &dev, &Default::default(), None, |_| true)?;
//! # Ok::<(), kindling::Error>(())
//! ```
#![warn(missing_docs)]

pub mod allocator;
pub mod bench;
pub mod checkpoint;
pub mod classifier;
pub mod cli;
pub mod data;
pub mod defaults;
pub mod device;
pub mod error;
pub mod evaluate;
pub mod features;
pub mod loss;
pub mod machine;
pub mod manual_backprop;
pub mod metrics;
pub mod models;
pub mod ops;
pub mod optim;
pub mod params;
pub mod plot;
pub mod progress;
pub mod publish;
pub mod run;
pub mod toy;
pub mod train;
pub mod tta;
pub mod visualize;

pub use classifier::{Classifier, Prediction};
pub use error::{Error, Result};

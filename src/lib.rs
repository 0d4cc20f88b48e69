//! # kindling
//!
//! The classic image-classification ladder, from nearest neighbour to convolutional networks, as
//! thin models on [candle](https://github.com/huggingface/candle).
//!
//! Classify an image with a shipped checkpoint:
//!
//! ```
//! # fn main() -> kindling::Result<()> {
//! # let png = std::env::temp_dir().join(format!("kindling-lib-doc-{}.png", std::process::id()));
//! # image::RgbImage::from_fn(32, 32, |x, y| image::Rgb([(x * 8) as u8, (y * 8) as u8, 90])).save(&png).unwrap();
//! let model = kindling::Classifier::load("weights/cifar10-cnn.safetensors", &candle_core::Device::Cpu)?;
//! let prediction = model.classify_file(&png)?;
//! let (class, probability) = prediction.best();
//! println!("{class}: {:.1}%", 100.0 * probability);
//! # Ok(())
//! # }
//! ```
//!
//! ## Layers
//!
//! Imports point downwards only:
//!
//! 1. **Core** — tensors in, tensors out; nothing here knows about files, flags or pictures:
//!    [`ops`] (kindling's own CPU kernels with backward passes), [`models`] (the classifiers and
//!    [`models::Network`], a model with its parameters), [`loss`], [`optim`], [`params`],
//!    [`data`] (data sets in memory, splits, batches), [`features`] (HOG, colour histograms, and
//!    [`features::model_input`], the one way from images to a model's input), [`metrics`],
//!    [`tta`] (test-time augmentation).
//! 2. **Training machinery** — [`train`] (the one loop [`train::fit()`], its configuration, its
//!    epoch hooks, the one evaluation) and [`checkpoint`] (self-describing safetensors files, and
//!    [`checkpoint::Checkpointer`], the hook that writes them during training).
//! 3. **Applications** — [`Classifier`] (load a checkpoint, classify images), `onnx` (a
//!    checkpoint as an ONNX file, with the default `onnx` feature), [`run`] (a whole
//!    training run as `train` performs it), [`evaluate`] (the report `evaluate` prints),
//!    [`recipe`] (named recipes: airbench94), [`sweep`] (hyper-parameter search), [`serve`] (the local web page), [`cli`] (the examples' shared flags), [`defaults`] (tuned hyper-parameters), [`visualize`]
//!    and [`plot`] (pictures), [`publish`] (shipping checkpoints to `weights/`),
//!    [`manual_backprop`] and [`toy`] (the lecture's demonstrations).
//!
//! Beside them: [`error`], [`device`] (`--device` parsing), [`progress`] (progress bars), and
//! [`allocator`] (the examples' allocator settings). The step timing of the benchmarks (`bench`)
//! and the machine description of checkpoints (`machine`) are public for the examples and tests
//! but hidden from these docs.
#![warn(missing_docs)]

pub mod allocator;
#[doc(hidden)] // step timing for `examples/bench.rs` and the benchmarks, not a library API
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
#[doc(hidden)] // the one-line machine description written into checkpoints and benchmark reports
pub mod machine;
pub mod manual_backprop;
pub mod metrics;
pub mod models;
#[cfg(feature = "onnx")]
pub mod onnx;
pub mod ops;
pub mod optim;
pub mod params;
pub mod plot;
pub mod progress;
pub mod publish;
pub mod recipe;
pub mod run;
pub mod serve;
pub mod startup;
pub mod sweep;
pub mod toy;
pub mod train;
pub mod tta;
pub mod visualize;

pub use classifier::{Classifier, Prediction};
pub use error::{Error, Result};

/// The README's Rust snippets, run as doctests so that they keep working.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

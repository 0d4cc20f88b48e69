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
//! The folders show the layers; imports point downwards only:
//!
//! 1. **Core** — tensors in, tensors out; nothing here knows about files, flags or pictures:
//!    [`ops`] (kindling's own CPU kernels with backward passes), [`models`] (the classifiers and
//!    [`models::Network`], a model with its parameters), [`loss`], [`optim`], [`params`],
//!    [`data`] (data sets in memory, splits, batches), [`features`] (HOG, colour histograms),
//!    [`metrics`], [`tta`] (test-time augmentation), with [`error`] and [`progress`].
//! 2. **Training machinery** — [`train`] (the one loop [`train::fit()`], its configuration, its
//!    epoch hooks, the one evaluation), [`checkpoint`] (self-describing safetensors files, and
//!    [`checkpoint::Checkpointer`], the hook that writes them during training) and the library's
//!    front door, [`Classifier`] (load a checkpoint, classify images).
//! 3. **Run descriptions** — [`presets`]: the tuned defaults of every model and data set, and the
//!    named recipes (airbench94).
//! 4. **Applications** — [`app`]: a whole training run, the `evaluate` report, publishing, pictures,
//!    hyper-parameter search, the web page, the examples' shared flags. Beside them, [`support`]
//!    (allocator, start-up settings, step timing for the examples and benchmarks) and [`lecture`]
//!    (the lecture's hand-written network and 2-D toys).

#![warn(missing_docs)]

pub mod app;
pub mod checkpoint;
pub mod classifier;
pub mod data;
pub mod error;
pub mod features;
pub mod lecture;
pub mod loss;
pub mod metrics;
pub mod models;
pub mod ops;
pub mod optim;
pub mod params;
pub mod preprocess;
pub mod presets;
pub mod progress;
pub mod support;
pub mod train;
pub mod tta;

/// "Needs X" for the unit tests: skip visibly when a font or file is absent, fail under
/// `KINDLING_REQUIRE_ALL=1`; the same file as the integration tests' (`tests/common/require.rs`).
#[cfg(test)]
#[path = "../tests/common/require.rs"]
pub(crate) mod require;

pub use classifier::{Classifier, Prediction};
pub use error::{Error, Result};

/// The README's Rust snippets, run as doctests so that they keep working.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

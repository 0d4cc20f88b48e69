//! Everything between a stored image and a model's input, as one object: the hand-made features a
//! model may read, then the per-channel normalization fitted on its training split.
//!
//! A checkpoint stores the two parts as its `features` and `normalization` metadata fields (so a
//! PyTorch user reads them there); [`CheckpointMeta::preprocess`](crate::checkpoint::CheckpointMeta::preprocess)
//! puts them back together. Training, evaluation, prediction and pictures all go through it, so a
//! model always sees what it was trained on.

use super::{transform, FeatureConfig};
use crate::data::{Dataset, Normalization};
use crate::Result;
use candle_core::{Device, Tensor};

/// Features (optional), then normalization.
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocess {
    /// Hand-made features computed from the images (`None`: the pixels themselves).
    pub features: Option<FeatureConfig>,
    /// Per-channel mean and standard deviation of the training split (of its features, when the
    /// model reads features).
    pub normalization: Normalization,
}

impl Preprocess {
    /// The samples a model reads for `ds`: its features when the model reads features (with a
    /// progress bar when `progress`), else the images themselves.
    pub fn input(&self, ds: &Dataset, progress: bool) -> Result<Dataset> {
        model_input(ds, self.features.as_ref(), progress)
    }

    /// The samples at `indices` of `input` (an [`input`](Self::input)) as a normalized
    /// `[B, C, H, W]` batch and their labels, on `device`.
    pub fn batch(&self, input: &Dataset, indices: &[usize], device: &Device) -> Result<(Tensor, Tensor)> {
        input.batch(indices, &self.normalization, device)
    }
}

/// A model's input for `ds`: its features when `features` is set (a progress bar when
/// `progress`), else the images themselves. Training computes its inputs here before it has fitted
/// the normalization that completes a [`Preprocess`].
pub fn model_input(ds: &Dataset, features: Option<&FeatureConfig>, progress: bool) -> Result<Dataset> {
    match features {
        Some(f) => transform(ds, f, progress),
        None => Ok(ds.clone()),
    }
}

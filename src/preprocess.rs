//! Everything between a stored image and a model's input, as one object: the hand-made features a
//! model may read, then the per-channel normalization measured on its training split; and, for new
//! images ([`Preprocess::images`]), the fitting to the model's size and colour before them
//! ([`crate::data::image`]).
//!
//! A checkpoint stores the parts as its `features` and `normalization` metadata fields (so a
//! PyTorch user reads them there); [`CheckpointMeta::preprocess`](crate::checkpoint::CheckpointMeta::preprocess)
//! puts them back together, and [`Preprocess::measure`] makes them for a new model from its
//! training split. Training, search, evaluation, prediction (the [`Classifier`](crate::Classifier)),
//! saliency pictures and the web page's kNN all go through it, so a model always sees what it was
//! trained on.
//!
//! ```
//! use kindling::data::{shapes, Split};
//! use kindling::preprocess::Preprocess;
//! let train = shapes::generate(Split::Train, 50);
//! let (pre, input) = Preprocess::measure(&train, None, false)?;
//! assert_eq!(input.shape, [3, 32, 32]);
//! let (xs, ys) = pre.batch(&input, &[0, 1, 2], &candle_core::Device::Cpu)?;
//! assert_eq!((xs.dims(), ys.dims()), (&[3, 3, 32, 32][..], &[3][..]));
//! # Ok::<(), kindling::Error>(())
//! ```

use crate::data::image::{fit_note, push_pixels, ImageSpec};
use crate::data::{Dataset, Normalization, Pixels};
use crate::features::{transform, FeatureConfig};
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
    /// The preprocessing of a new model trained on `train`: its `features` (if any), then the
    /// normalization measured on them. Returns the model's input for `train` beside it (with a
    /// progress bar when `progress`).
    pub fn measure(train: &Dataset, features: Option<FeatureConfig>, progress: bool) -> Result<(Self, Dataset)> {
        let input = model_input(train, features.as_ref(), progress)?;
        let normalization = Normalization::measure(&input);
        Ok((Preprocess { features, normalization }, input))
    }

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

    /// `images` as the model reads them, on `device`: fitted to `spec` (size, resize policy,
    /// colour: the one path of [`crate::data::image`], which training images took too), then
    /// features and normalization as for a data set.
    pub fn images(&self, images: &[image::DynamicImage], spec: &ImageSpec, device: &Device) -> Result<Fitted> {
        let mut px = Vec::with_capacity(images.len() * spec.len());
        let notes = images
            .iter()
            .map(|img| {
                push_pixels(img, spec, &mut px);
                fit_note(img, spec)
            })
            .collect();
        let pixels = Dataset::new("images", Pixels::U8(px), vec![0; images.len()], spec.shape(), vec!["image".into()])?;
        let input = self.input(&pixels, false)?;
        let all: Vec<usize> = (0..images.len()).collect();
        let (xs, _) = self.batch(&input, &all, device)?;
        Ok(Fitted { xs, pixels, notes })
    }

    /// Every sample of `input` as one normalized `[N, D]` matrix on `device` (what kNN compares).
    pub fn matrix(&self, input: &Dataset, device: &Device) -> Result<Tensor> {
        input.matrix(&self.normalization, device)
    }
}

/// New images as a model reads them ([`Preprocess::images`]).
#[derive(Debug, Clone)]
pub struct Fitted {
    /// The normalized `[N, C, H, W]` batch (`[N, D]` features for a model on hand-made features).
    pub xs: Tensor,
    /// The images fitted to the model's size and colour, before features and normalization (for
    /// pictures); their labels are all 0, of one class named `image`.
    pub pixels: Dataset,
    /// For each image, what fitting it changed (`None`: nothing), e.g. its size.
    pub notes: Vec<Option<String>>,
}

/// A model's input for `ds`: its features when `features` is set, else the images themselves.
fn model_input(ds: &Dataset, features: Option<&FeatureConfig>, progress: bool) -> Result<Dataset> {
    match features {
        Some(f) => transform(ds, f, progress),
        None => Ok(ds.clone()),
    }
}

//! Hand-made image features, the step between raw-pixel and convolutional classifiers (CS231n
//! assignment 1, "features"): [`hog`] (histogram of oriented gradients, shape) and [`color_hist`]
//! (hue histogram, colour).
//!
//! [`extract`] turns a whole [`Dataset`] into an `N × D` feature matrix in parallel;
//! [`to_dataset`] wraps the result as a data set of shape `[D, 1, 1]`, so the linear classifier,
//! the MLP and kNN train on features exactly as they do on pixels, and the per-channel
//! [`Normalization`](crate::data::Normalization) of the training split standardizes each feature.
//!
//! ```
//! use kindling::data::{shapes, Split};
//! use kindling::data::Normalization;
//! use kindling::features::{self, FeatureConfig};
//! let ds = shapes::generate(Split::Train, 6);
//! let cfg = FeatureConfig::default(); // HOG (8×8 cells, 9 bins) + 10-bin hue histogram
//! let dim = cfg.dim(ds.shape)?;
//! assert_eq!(dim, 4 * 4 * 9 + 10);
//! let xs = features::extract(&ds, &cfg, false)?;
//! let fs = features::to_dataset(xs, dim, ds.labels.clone(), ds.classes.clone(), "shapes-features")?;
//! assert_eq!(fs.shape, [dim, 1, 1]);
//! let norm = Normalization::measure(&fs); // one mean and standard deviation per feature
//! assert_eq!(norm.mean.len(), dim);
//! # Ok::<(), kindling::Error>(())
//! ```

pub mod color_hist;
pub mod hog;

pub use hog::HogConfig;

use crate::data::{Dataset, Pixels};
use crate::{Error, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// One kind of feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeatureKind {
    /// Histogram of oriented gradients ([`hog`]); 1- or 3-channel images.
    Hog,
    /// Hue histogram ([`color_hist`]); RGB images only.
    Color,
}

impl FeatureKind {
    /// The name used in `hog,color` lists, file names and checkpoints.
    pub fn as_str(self) -> &'static str {
        match self {
            FeatureKind::Hog => "hog",
            FeatureKind::Color => "color",
        }
    }

    /// The kind named `name` (case-insensitive), if any.
    pub fn parse(name: &str) -> Option<Self> {
        [FeatureKind::Hog, FeatureKind::Color].into_iter().find(|k| k.as_str().eq_ignore_ascii_case(name))
    }
}

/// Which features to compute and how; the feature vector is the concatenation of `kinds`, in
/// that order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureConfig {
    /// The features, concatenated in this order (default `[Hog, Color]`, as CS231n).
    pub kinds: Vec<FeatureKind>,
    /// HOG cell size and orientation bins (default 8×8 pixels, 9 bins).
    pub hog: HogConfig,
    /// Hue bins of the colour histogram (default [`color_hist::DEFAULT_BINS`], 10).
    pub color_bins: usize,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            kinds: vec![FeatureKind::Hog, FeatureKind::Color],
            hog: HogConfig::default(),
            color_bins: color_hist::DEFAULT_BINS,
        }
    }
}

impl FeatureConfig {
    /// Length of the feature vector of an image of `shape = [C, H, W]`. Fails when `kinds` is
    /// empty or a kind does not fit the images (colour on 1-channel images, HOG cells larger
    /// than the image, zero bins).
    pub fn dim(&self, shape: [usize; 3]) -> Result<usize> {
        if self.kinds.is_empty() {
            return Err(Error::invalid("`features`", "no feature selected: name at least one of hog, color"));
        }
        self.kinds.iter().map(|&k| self.kind_dim(k, shape)).sum()
    }

    fn kind_dim(&self, kind: FeatureKind, shape: [usize; 3]) -> Result<usize> {
        match kind {
            FeatureKind::Hog => self.hog.dim(shape),
            FeatureKind::Color => color_hist::dim(shape, self.color_bins),
        }
    }

    /// The feature vector of one image (`C × H × W` values in CHW order, in `[0, 1]`), e.g. an
    /// image given for prediction. Allocates; use [`extract`] for a data set.
    pub fn compute(&self, image: &[f32], shape: [usize; 3]) -> Result<Vec<f32>> {
        let dim = self.dim(shape)?;
        if image.len() != shape.iter().product::<usize>() {
            return Err(Error::invalid("image", format!("{} values for shape {shape:?}", image.len())));
        }
        let mut scratch = Scratch::new(shape);
        scratch.image.copy_from_slice(image);
        let mut out = vec![0f32; dim];
        self.compute_into(&mut scratch, shape, &mut out);
        Ok(out)
    }

    /// Features of `scratch.image` into `out`; `self.dim(shape)` must have succeeded.
    fn compute_into(&self, scratch: &mut Scratch, shape: [usize; 3], out: &mut [f32]) {
        let [_, h, w] = shape;
        if self.kinds.contains(&FeatureKind::Hog) {
            hog::grayscale_into(&scratch.image, shape, &mut scratch.gray);
        }
        let mut rest = out;
        for &kind in &self.kinds {
            let d = self.kind_dim(kind, shape).expect("validated by dim");
            let (part, tail) = rest.split_at_mut(d);
            rest = tail;
            match kind {
                FeatureKind::Hog => hog::hog_gray_into(&scratch.gray, h, w, &self.hog, part),
                FeatureKind::Color => color_hist::color_histogram_into(&scratch.image, h * w, part),
            }
        }
    }
}

/// Per-thread buffers, reused from image to image.
struct Scratch {
    image: Vec<f32>,
    gray: Vec<f32>,
}

impl Scratch {
    fn new(shape: [usize; 3]) -> Self {
        Scratch { image: vec![0.0; shape.iter().product()], gray: vec![0.0; shape[1] * shape[2]] }
    }

    /// Loads sample `i` of `pixels` as `f32` in `[0, 1]` (`u8` scaled by 1/255).
    fn load(&mut self, pixels: &Pixels, i: usize) {
        let d = self.image.len();
        match pixels {
            Pixels::U8(v) => {
                for (o, &p) in self.image.iter_mut().zip(&v[i * d..(i + 1) * d]) {
                    *o = p as f32 / 255.0;
                }
            }
            Pixels::F32(v) => self.image.copy_from_slice(&v[i * d..(i + 1) * d]),
        }
    }
}

/// The features of every image of `ds` as an `N × D` row-major matrix (`D = cfg.dim(ds.shape)`),
/// computed in parallel over images, with a progress bar on stderr when `progress` is true.
///
/// `u8` pixels are scaled to `[0, 1]` first, so HOG magnitudes do not depend on storage.
pub fn extract(ds: &Dataset, cfg: &FeatureConfig, progress: bool) -> Result<Vec<f32>> {
    let dim = cfg.dim(ds.shape).map_err(|e| match e {
        Error::InvalidArgument { name, problem } => Error::invalid(name, format!("{}: {problem}", ds.name)),
        e => e,
    })?;
    let mut out = vec![0f32; ds.len() * dim];
    if out.is_empty() {
        return Ok(out);
    }
    let bar = crate::progress::bar(progress, ds.len() as u64, "features");
    out.par_chunks_mut(dim).enumerate().for_each_init(
        || Scratch::new(ds.shape),
        |scratch, (i, row)| {
            scratch.load(&ds.pixels, i);
            cfg.compute_into(scratch, ds.shape, row);
            bar.inc(1);
        },
    );
    bar.finish_and_clear();
    Ok(out)
}

/// Wraps an `N × dim` feature matrix as a data set of `f32` samples of shape `[dim, 1, 1]`, the
/// crate's form for non-image samples, ready for the models and the training loop.
pub fn to_dataset(
    features: Vec<f32>,
    dim: usize,
    labels: Vec<u8>,
    classes: Vec<String>,
    name: &str,
) -> Result<Dataset> {
    Dataset::new(name, Pixels::F32(features), labels, [dim, 1, 1], classes)
}

/// The features of every image of `ds`, as a data set of shape `[D, 1, 1]` (not standardized:
/// the training loop's per-channel normalization standardizes each feature column).
pub fn transform(ds: &Dataset, cfg: &FeatureConfig, progress: bool) -> Result<Dataset> {
    let dim = cfg.dim(ds.shape)?;
    let xs = extract(ds, cfg, progress)?;
    to_dataset(xs, dim, ds.labels.clone(), ds.classes.clone(), &ds.name)
}

/// Parses `--features hog,color` (or `none`).
pub fn parse_list(s: &str) -> std::result::Result<Option<FeatureConfig>, String> {
    if s == "none" || s.is_empty() {
        return Ok(None);
    }
    let mut kinds = Vec::new();
    for part in s.split(',') {
        let k = FeatureKind::parse(part.trim())
            .ok_or_else(|| format!("unknown feature '{part}': use hog, color or hog,color"))?;
        if !kinds.contains(&k) {
            kinds.push(k);
        }
    }
    Ok(Some(FeatureConfig { kinds, ..FeatureConfig::default() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` deterministic pseudo-random u8 images of `shape`.
    fn random_set(n: usize, shape: [usize; 3]) -> Dataset {
        let d: usize = shape.iter().product();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let pixels = (0..n * d)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 56) as u8
            })
            .collect();
        let labels = (0..n).map(|i| (i % 2) as u8).collect();
        Dataset::new("random", Pixels::U8(pixels), labels, shape, vec!["a".into(), "b".into()]).unwrap()
    }

    #[test]
    fn dims() {
        let cfg = FeatureConfig::default();
        assert_eq!(cfg.dim([3, 32, 32]).unwrap(), 154);
        let hog_only = FeatureConfig { kinds: vec![FeatureKind::Hog], ..Default::default() };
        assert_eq!(hog_only.dim([1, 28, 28]).unwrap(), 81);
        let empty = FeatureConfig { kinds: vec![], ..Default::default() };
        assert!(empty.dim([3, 32, 32]).is_err());
    }

    #[test]
    fn extract_equals_per_image_features() {
        let ds = random_set(3, [3, 32, 32]);
        let cfg = FeatureConfig {
            kinds: vec![FeatureKind::Color, FeatureKind::Hog],
            hog: HogConfig { cell: 8, bins: 9 },
            color_bins: 7,
        };
        let xs = extract(&ds, &cfg, false).unwrap();
        assert_eq!(xs.len(), 3 * (7 + 144));
        let d = ds.sample_dim();
        let mut want = Vec::new();
        for i in 0..3 {
            let img: Vec<f32> = (0..d).map(|j| ds.pixels.get(i * d + j)).collect();
            want.extend(color_hist::color_histogram(&img, ds.shape, 7).unwrap());
            want.extend(hog::hog(&img, ds.shape, &cfg.hog).unwrap());
            assert_eq!(cfg.compute(&img, ds.shape).unwrap(), want[i * 151..]);
        }
        assert_eq!(xs, want);
        // f32 pixels give the same features as the u8 ones they came from.
        let mut f = ds.clone();
        f.pixels = Pixels::F32((0..3 * d).map(|j| ds.pixels.get(j)).collect());
        assert_eq!(extract(&f, &cfg, false).unwrap(), xs);
    }

    #[test]
    fn color_on_grayscale_is_a_clear_error() {
        let ds = random_set(2, [1, 28, 28]);
        let err = extract(&ds, &FeatureConfig::default(), false).unwrap_err().to_string();
        assert!(err.contains("colour histogram needs RGB images"), "{err}");
        assert!(err.contains("random"), "{err}");
        let hog_only = FeatureConfig { kinds: vec![FeatureKind::Hog], ..Default::default() };
        assert_eq!(extract(&ds, &hog_only, false).unwrap().len(), 2 * 81);
    }

    #[test]
    fn to_dataset_has_feature_shape() {
        let fs = to_dataset(vec![0.5; 6], 3, vec![0, 1], vec!["a".into(), "b".into()], "f").unwrap();
        assert_eq!((fs.shape, fs.len(), fs.sample_dim()), ([3, 1, 1], 2, 3));
        assert!(to_dataset(vec![0.5; 5], 3, vec![0, 1], vec!["a".into(), "b".into()], "f").is_err());
    }

    #[test]
    fn names_are_kebab_case() {
        assert_eq!(serde_json::to_string(&FeatureKind::Hog).unwrap(), "\"hog\"");
        assert_eq!(serde_json::to_string(&FeatureKind::Color).unwrap(), "\"color\"");
        assert_eq!(FeatureKind::parse("color"), Some(FeatureKind::Color));
        assert_eq!(FeatureKind::parse("HOG"), Some(FeatureKind::Hog));
        assert_eq!(FeatureKind::parse("colour"), None);
        let cfg = FeatureConfig::default();
        let json = serde_json::to_string(&cfg).unwrap();
        assert_eq!(serde_json::from_str::<FeatureConfig>(&json).unwrap(), cfg);
    }

    /// `cargo test --release --lib features::tests::extract_timing -- --ignored --nocapture`
    #[test]
    #[ignore = "timing, not behaviour"]
    fn extract_timing_cifar_sized() {
        let ds = random_set(50_000, [3, 32, 32]);
        for kinds in [vec![FeatureKind::Hog], vec![FeatureKind::Color], vec![FeatureKind::Hog, FeatureKind::Color]] {
            let cfg = FeatureConfig { kinds, ..Default::default() };
            let t = std::time::Instant::now();
            let xs = extract(&ds, &cfg, false).unwrap();
            println!(
                "extract {:?}: 50000 × 3×32×32 → {} features in {:.2} s on {} threads",
                cfg.kinds,
                xs.len() / 50_000,
                t.elapsed().as_secs_f64(),
                rayon::current_num_threads()
            );
        }
    }
}

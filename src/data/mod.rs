//! Data sets held in memory as compact pixels and turned into normalized `f32` batches on demand.
//!
//! Images stay `u8` (CIFAR-10's 50000 images are 150 MB so, 600 MB as `f32`); each batch is
//! converted, normalized with per-channel statistics of the training split, and sent to the
//! device. 2-D toy problems use the same type with `f32` "pixels" of shape `[2, 1, 1]`.
//!
//! A folder of the user's own images is a data set like the others ([`folder`]); every image file
//! becomes pixels by one path ([`image`]).
//!
//! ```
//! use kindling::data::{shapes, Split};
//! let ds = shapes::generate(Split::Train, 20);
//! assert_eq!(ds.len(), 20);
//! assert_eq!(ds.shape, [3, 32, 32]);
//! ```

pub mod augment;
pub mod cache;
pub mod cifar10;
pub mod folder;
pub mod folds;
#[cfg(feature = "hub")]
pub mod hub;
pub mod idx;
pub mod image;
pub mod normalize;
pub mod prefetch;
pub mod shapes;
pub mod source;
pub mod split;
pub mod toy2d;

pub use normalize::Normalization;
pub use source::{load, select_classes, DataOptions, DatasetName, Holdout};
pub use split::{Prepared, SplitRecord, ValSize};

use crate::{Error, Result};
use candle_core::{Device, Tensor};

/// Which split of a data set to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// The training images (CIFAR-10 batches 1-5, MNIST's 60000).
    Train,
    /// The official test images.
    Test,
}

/// Pixel storage: `u8` images, or `f32` points for the 2-D toy problems.
#[derive(Debug, Clone)]
pub enum Pixels {
    /// 8-bit pixels, scaled by 1/255 when batched.
    U8(Vec<u8>),
    /// Real-valued samples, used as they are.
    F32(Vec<f32>),
}

impl Pixels {
    fn len(&self) -> usize {
        match self {
            Pixels::U8(v) => v.len(),
            Pixels::F32(v) => v.len(),
        }
    }

    /// The value at `i` as `f32`, with `u8` scaled to `[0, 1]`.
    #[inline]
    pub fn get(&self, i: usize) -> f32 {
        match self {
            Pixels::U8(v) => v[i] as f32 / 255.0,
            Pixels::F32(v) => v[i],
        }
    }
}

/// An in-memory labelled data set, images in `[C, H, W]` order.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Short name, e.g. `cifar10`.
    pub name: String,
    /// `len() * C * H * W` values, sample after sample, each in CHW order.
    pub pixels: Pixels,
    /// One label per sample, `< classes.len()`.
    pub labels: Vec<u8>,
    /// `[channels, height, width]` of one sample.
    pub shape: [usize; 3],
    /// Class names in label order.
    pub classes: Vec<String>,
}

impl Dataset {
    /// Builds a data set, checking that sizes and labels agree.
    pub fn new(name: &str, pixels: Pixels, labels: Vec<u8>, shape: [usize; 3], classes: Vec<String>) -> Result<Self> {
        let dim: usize = shape.iter().product();
        if pixels.len() != labels.len() * dim {
            return Err(Error::invalid(
                "dataset",
                format!("{name}: {} values for {} labels of {dim} values each", pixels.len(), labels.len()),
            ));
        }
        if let Some(&bad) = labels.iter().find(|&&l| l as usize >= classes.len()) {
            return Err(Error::invalid("dataset", format!("{name}: label {bad} but only {} classes", classes.len())));
        }
        Ok(Dataset { name: name.to_string(), pixels, labels, shape, classes })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the set holds no sample.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per sample (`C * H * W`).
    pub fn sample_dim(&self) -> usize {
        self.shape.iter().product()
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// The samples at `indices`, in that order, as a new data set.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let d = self.sample_dim();
        let pixels = match &self.pixels {
            Pixels::U8(v) => Pixels::U8(indices.iter().flat_map(|&i| v[i * d..(i + 1) * d].iter().copied()).collect()),
            Pixels::F32(v) => {
                Pixels::F32(indices.iter().flat_map(|&i| v[i * d..(i + 1) * d].iter().copied()).collect())
            }
        };
        Dataset {
            name: self.name.clone(),
            pixels,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            shape: self.shape,
            classes: self.classes.clone(),
        }
    }

    /// This set's samples followed by `other`'s, as a new data set (both of the same data set:
    /// the same sample shape, classes and pixel kind).
    pub fn concat(&self, other: &Dataset) -> Result<Dataset> {
        let pixels = match (&self.pixels, &other.pixels) {
            (Pixels::U8(a), Pixels::U8(b)) => Pixels::U8([a.as_slice(), b].concat()),
            (Pixels::F32(a), Pixels::F32(b)) => Pixels::F32([a.as_slice(), b].concat()),
            _ => return Err(Error::invalid("dataset", "cannot join 8-bit images to real-valued samples")),
        };
        if self.shape != other.shape || self.classes != other.classes {
            return Err(Error::invalid(
                "dataset",
                format!(
                    "cannot join {:?} samples of {} classes to {:?} samples of {}",
                    other.shape,
                    other.classes.len(),
                    self.shape,
                    self.classes.len()
                ),
            ));
        }
        Dataset::new(
            &self.name,
            pixels,
            [self.labels.as_slice(), &other.labels].concat(),
            self.shape,
            self.classes.clone(),
        )
    }

    /// The first `n` samples (all of them when `n >= len`).
    pub fn take(&self, n: usize) -> Dataset {
        let idx: Vec<usize> = (0..n.min(self.len())).collect();
        self.subset(&idx)
    }

    /// Splits off the last `n` samples: `(first len - n, last n)`. CIFAR-10's `--val-size 10000`
    /// thus holds out `data_batch_5`.
    pub fn split_tail(&self, n: usize) -> Result<(Dataset, Dataset)> {
        if n >= self.len() {
            return Err(Error::invalid(
                "`val_size`",
                format!("{n} leaves no training data: the training split of {} has {} samples", self.name, self.len()),
            ));
        }
        let head: Vec<usize> = (0..self.len() - n).collect();
        let tail: Vec<usize> = (self.len() - n..self.len()).collect();
        Ok((self.subset(&head), self.subset(&tail)))
    }

    /// Fills `out` with sample `i`, normalized.
    pub fn write_sample(&self, i: usize, norm: &Normalization, out: &mut [f32]) {
        let d = self.sample_dim();
        let plane = self.shape[1] * self.shape[2];
        for (j, o) in out.iter_mut().enumerate().take(d) {
            let c = j / plane;
            *o = (self.pixels.get(i * d + j) - norm.mean[c]) / norm.std[c];
        }
    }

    /// The samples at `indices` as a normalized `[B, C, H, W]` f32 tensor and their labels as a
    /// `[B]` u32 tensor, on `device`.
    pub fn batch(&self, indices: &[usize], norm: &Normalization, device: &Device) -> Result<(Tensor, Tensor)> {
        self.batch_with(indices, norm, device, |_, _| {})
    }

    /// [`batch`](Self::batch), with `each` applied to every normalized sample (its index and its
    /// `C·H·W` values in CHW order) before the batch is assembled: how training augments its batches.
    pub fn batch_with(
        &self,
        indices: &[usize],
        norm: &Normalization,
        device: &Device,
        mut each: impl FnMut(usize, &mut [f32]),
    ) -> Result<(Tensor, Tensor)> {
        let d = self.sample_dim();
        let mut xs = vec![0f32; indices.len() * d];
        for (k, &i) in indices.iter().enumerate() {
            let s = &mut xs[k * d..(k + 1) * d];
            self.write_sample(i, norm, s);
            each(i, s);
        }
        let [c, h, w] = self.shape;
        let xs = Tensor::from_vec(xs, (indices.len(), c, h, w), device)?;
        let ys: Vec<u32> = indices.iter().map(|&i| self.labels[i] as u32).collect();
        let ys = Tensor::from_vec(ys, indices.len(), device)?;
        Ok((xs, ys))
    }

    /// All samples as one normalized `[N, C*H*W]` f32 matrix on `device` (for kNN and features).
    pub fn matrix(&self, norm: &Normalization, device: &Device) -> Result<Tensor> {
        let d = self.sample_dim();
        let mut xs = vec![0f32; self.len() * d];
        for (i, row) in xs.chunks_mut(d.max(1)).enumerate() {
            self.write_sample(i, norm, row);
        }
        Ok(Tensor::from_vec(xs, (self.len(), d), device)?)
    }

    /// Labels as `u32`.
    pub fn labels_u32(&self) -> Vec<u32> {
        self.labels.iter().map(|&l| l as u32).collect()
    }

    /// Number of samples per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes()];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }
}

/// Appends an image in CHW order at its own size (see [`image::push_chw`]).
pub use self::image::push_chw;

/// The shuffled order of `n` samples for one epoch: a pure function of `seed` and `epoch`, so a
/// resumed run sees the same batches as an uninterrupted one.
pub fn epoch_permutation(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    use rand::{seq::SliceRandom, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (epoch as u64 + 1));
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut rng);
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Dataset {
        let pixels: Vec<u8> = (0..4 * 3 * 2 * 2).map(|v| v as u8).collect();
        Dataset::new("tiny", Pixels::U8(pixels), vec![0, 1, 0, 1], [3, 2, 2], vec!["a".into(), "b".into()]).unwrap()
    }

    #[test]
    fn split_and_subset() {
        let ds = tiny();
        let (a, b) = ds.split_tail(1).unwrap();
        assert_eq!((a.len(), b.len()), (3, 1));
        assert_eq!(b.pixels.get(0), 36.0 / 255.0);
        assert!(ds.split_tail(4).is_err());
        assert_eq!(ds.subset(&[3, 0]).labels, vec![1, 0]);
    }

    #[test]
    fn bad_labels_rejected() {
        let err = Dataset::new("x", Pixels::U8(vec![0; 4]), vec![0, 5], [2, 1, 1], vec!["a".into(), "b".into()]);
        assert!(err.is_err());
    }

    /// Each value is `(pixel / 255 - mean[c]) / std[c]` with its own channel's mean and std, in CHW
    /// order, samples in the order asked for.
    #[test]
    fn batch_is_normalized_chw() {
        let ds = tiny();
        let norm = Normalization { mean: vec![0.1, 0.2, 0.3], std: vec![0.5, 0.25, 2.0] };
        let (xs, ys) = ds.batch(&[3, 1], &norm, &Device::Cpu).unwrap();
        assert_eq!(xs.dims(), &[2, 3, 2, 2]);
        let v = xs.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (k, sample) in [3usize, 1].into_iter().enumerate() {
            for c in 0..3 {
                for p in 0..4 {
                    // Sample i's pixel p of channel c is the byte 12·i + 4·c + p (see `tiny`).
                    let byte = (12 * sample + 4 * c + p) as f64;
                    let want = (byte / 255.0 - norm.mean[c] as f64) / norm.std[c] as f64;
                    let got = v[k * 12 + c * 4 + p] as f64;
                    assert!((got - want).abs() < 1e-6, "sample {sample}, channel {c}, pixel {p}: {got} vs {want}");
                }
            }
        }
        assert_eq!(ys.to_vec1::<u32>().unwrap(), vec![1, 1]);
    }

    /// Each epoch's order holds every sample exactly once, is a pure function of seed and epoch,
    /// and differs between epochs and seeds.
    #[test]
    fn epoch_permutation_is_a_seeded_permutation() {
        for n in [0, 1, 2, 50, 1000] {
            let mut p = epoch_permutation(n, 7, 3);
            p.sort_unstable();
            assert_eq!(p, (0..n).collect::<Vec<_>>(), "n = {n}: not a permutation");
        }
        assert_eq!(epoch_permutation(50, 7, 3), epoch_permutation(50, 7, 3));
        assert_ne!(epoch_permutation(50, 7, 3), epoch_permutation(50, 7, 4));
        assert_ne!(epoch_permutation(50, 7, 3), epoch_permutation(50, 8, 3));
        assert_ne!(epoch_permutation(50, 7, 3), (0..50).collect::<Vec<_>>(), "shuffled");
    }
}

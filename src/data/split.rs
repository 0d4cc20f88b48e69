//! Which images of a data set's training split a model trained on and which it held out.
//!
//! `--exclude-last M` drops the last `M` training images, `--val-size N` holds out the last `N` of
//! the rest, and `--train-size T` keeps the first `T` of what remains: the images trained on are
//! always `[0, train)`, the held-out ones `[total - M - N, total - M)`. A checkpoint records this
//! so that `evaluate --split val` scores the model's own held-out images, and refuses a split that
//! would score images it trained on.
//!
//! ```
//! use kindling::data::SplitRecord;
//! let s = SplitRecord { total: 50_000, train: 40_000, val_size: 10_000, exclude_last: 0 };
//! assert_eq!(s.val_range(), 40_000..50_000);
//! assert_eq!(SplitRecord::parse(&s.describe("cifar10")), Some(s));
//! // Holding out the last 20,000 would score 10,000 images the model trained on.
//! let wider = SplitRecord { val_size: 20_000, ..s };
//! assert_eq!(s.overlap_with_training(&wider.val_range()), 10_000);
//! ```

use super::{DataOptions, Dataset};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// The carving of a training split into trained-on, held-out and excluded images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitRecord {
    /// Images in the data set's training split.
    pub total: usize,
    /// Images trained on: `[0, train)`.
    pub train: usize,
    /// Held-out images: the last `val_size` before the excluded ones.
    pub val_size: usize,
    /// Images at the end left out entirely (`--exclude-last`).
    pub exclude_last: usize,
}

impl SplitRecord {
    /// The indices of the held-out images in the training split.
    pub fn val_range(&self) -> Range<usize> {
        let kept = self.total - self.exclude_last;
        kept - self.val_size..kept
    }

    /// The indices of the images trained on.
    pub fn train_range(&self) -> Range<usize> {
        0..self.train
    }

    /// How many images of `range` the model trained on.
    pub fn overlap_with_training(&self, range: &Range<usize>) -> usize {
        let t = self.train_range();
        range.end.min(t.end).saturating_sub(range.start.max(t.start))
    }

    /// The description stored in checkpoints since the first release (and printed by `train`),
    /// e.g. `cifar10 train split of 50000: train = [0, 40000), val = [40000, 50000)`.
    pub fn describe(&self, dataset: &str) -> String {
        let val = self.val_range();
        let kept = self.total - self.exclude_last;
        format!(
            "{dataset} train split of {}: train = [0, {}), val = [{}, {}){}",
            self.total,
            self.train,
            val.start,
            val.end,
            if self.exclude_last > 0 { format!(", excluded = [{kept}, {})", self.total) } else { String::new() }
        )
    }

    /// Reads a [`describe`](Self::describe) string back (checkpoints written before the split
    /// was stored as numbers hold only the string).
    pub fn parse(s: &str) -> Option<SplitRecord> {
        let total: usize = between(s, "train split of ", ":")?.parse().ok()?;
        let train: usize = between(s, "train = [0, ", ")")?.parse().ok()?;
        let val = between(s, "val = [", ")")?;
        let (a, b) = val.split_once(", ")?;
        let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
        let record = SplitRecord { total, train, val_size: b.checked_sub(a)?, exclude_last: total.checked_sub(b)? };
        (record.train <= total && b <= total).then_some(record)
    }
}

/// `--val-size`: a number of training images, or a fraction of them (`0.2`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum ValSize {
    /// This many images.
    Count(usize),
    /// This fraction of the training images, in `(0, 1)`.
    Fraction(f64),
}

impl Default for ValSize {
    fn default() -> Self {
        ValSize::Count(0)
    }
}

impl From<usize> for ValSize {
    fn from(n: usize) -> Self {
        ValSize::Count(n)
    }
}

impl ValSize {
    /// Reads `N` (a count) or a fraction such as `0.2`.
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        if let Ok(n) = s.parse::<usize>() {
            return Ok(ValSize::Count(n));
        }
        match s.parse::<f64>() {
            Ok(f) if f > 0.0 && f < 1.0 => Ok(ValSize::Fraction(f)),
            _ => Err(format!(
                "'{s}' is neither a number of images (e.g. 5000) nor a fraction of them between 0 and 1 (e.g. 0.2)"
            )),
        }
    }

    /// True for no held-out split.
    pub fn is_zero(self) -> bool {
        self == ValSize::Count(0)
    }

    /// The number of images held out of `total` (a fraction rounded, at least 1).
    pub fn of(self, total: usize) -> usize {
        match self {
            ValSize::Count(n) => n,
            ValSize::Fraction(f) => ((f * total as f64).round() as usize).max(1),
        }
    }
}

impl std::fmt::Display for ValSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ValSize::Count(n) => write!(f, "{n}"),
            ValSize::Fraction(x) => write!(f, "{x}"),
        }
    }
}

/// Training and validation splits, ready to use.
pub struct Prepared {
    /// Training samples.
    pub train: Dataset,
    /// Held-out validation samples, when `--val-size` > 0.
    pub val: Option<Dataset>,
    /// Which images were trained on and which held out, saved in checkpoints.
    pub split: SplitRecord,
    /// [`SplitRecord::describe`] of `split`, printed and saved in checkpoints.
    pub description: String,
    /// Where the data came from (to find the test split too), with a folder's image size, resize
    /// policy and channels settled.
    pub options: DataOptions,
    /// For a folder data set: its folder, classes, image format, skipped files and the files
    /// held out, as checkpoints record them.
    pub folder: Option<super::folder::FolderRecord>,
}

impl Prepared {
    /// The official test split of `name`, from where the training split came, read as it was
    /// (a folder's `test/` subfolder at the training images' size and channels).
    pub fn test_split(&self, name: super::DatasetName) -> crate::Result<Dataset> {
        super::load(name, super::Split::Test, &self.options)
    }
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &s[s.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_and_parse_round_trip() {
        for s in [
            SplitRecord { total: 60_000, train: 60_000, val_size: 0, exclude_last: 0 },
            SplitRecord { total: 50_000, train: 1_000, val_size: 5_000, exclude_last: 10_000 },
        ] {
            assert_eq!(SplitRecord::parse(&s.describe("x")), Some(s));
        }
        // The strings of the shipped checkpoints.
        let mnist = "mnist train split of 60000: train = [0, 60000), val = [60000, 60000)";
        assert_eq!(
            SplitRecord::parse(mnist),
            Some(SplitRecord { total: 60_000, train: 60_000, val_size: 0, exclude_last: 0 })
        );
        assert_eq!(SplitRecord::parse("nonsense"), None);
    }

    #[test]
    fn overlap_counts_training_images() {
        let s = SplitRecord { total: 100, train: 70, val_size: 20, exclude_last: 10 };
        assert_eq!(s.val_range(), 70..90);
        assert_eq!(s.overlap_with_training(&s.val_range()), 0);
        assert_eq!(s.overlap_with_training(&(60..90)), 10);
        assert_eq!(s.overlap_with_training(&(90..100)), 0);
    }
}

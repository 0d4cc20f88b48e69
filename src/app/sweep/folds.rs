//! K-fold cross-validation for a search: the training and validation splits pooled, the last K
//! runs of validation-split size taken as parts, each trial trained K times, each time validated
//! on one part and trained on the rest, and scored on all K parts' images at once. A single
//! 10,000-image split measures the difference between two nearby settings with a standard error
//! of about 0.27 points on CIFAR-10 (see [`super::paired`]); K folds validate on K times the
//! images. The last fold is the validation split as given, so one fold is the plain search.

use crate::data::{Dataset, Normalization};
use crate::features::FeatureConfig;
use crate::preprocess::Preprocess;
use crate::train::TrainData;
use crate::{Error, Result};

/// The `[start, end)` of each of `k` parts of `v` images at the end of `n` pooled images, in
/// order: the last part is `[n - v, n)`, the validation split pooled after the training images.
/// `None` when `k` parts do not fit, or `v` is 0.
pub fn parts(n: usize, v: usize, k: usize) -> Option<Vec<(usize, usize)>> {
    let start = n.checked_sub(k.checked_mul(v)?)?;
    (v > 0).then(|| (0..k).map(|f| (start + f * v, start + (f + 1) * v)).collect())
}

/// The folds of `train` and `val` (model inputs, read with `features`) pooled (training images
/// first): `k` parts the size of `val`, the last one `val` itself; one fold, the splits as they are
/// (not copied), when `k` is 1. Each fold's normalization is measured on its training part.
pub fn split(train: Dataset, val: Dataset, k: usize, features: Option<&FeatureConfig>) -> Result<Vec<TrainData>> {
    let fold = |train: Dataset, val: Dataset| {
        let preprocess = Preprocess { features: features.cloned(), normalization: Normalization::measure(&train) };
        TrainData::from_inputs(train, Some(val), preprocess)
    };
    if k == 0 {
        return Err(Error::invalid("--folds", "give 1 (the validation split as it is) or more"));
    }
    if k == 1 {
        return Ok(vec![fold(train, val)]);
    }
    let pooled = train.concat(&val)?;
    let (n, v) = (pooled.len(), val.len());
    let parts = parts(n, v, k).ok_or_else(|| {
        Error::invalid(
            "--folds",
            format!(
                "{k} folds of the validation split's {v} images need {} images; training and validation hold {n}",
                k * v
            ),
        )
    })?;
    Ok(parts
        .into_iter()
        .map(|(a, b)| {
            let outside: Vec<usize> = (0..a).chain(b..n).collect();
            let inside: Vec<usize> = (a..b).collect();
            fold(pooled.subset(&outside), pooled.subset(&inside))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Pixels;

    fn numbered(name: &str, from: u8, n: u8) -> Dataset {
        let classes: Vec<String> = (0..=255).map(|c: u8| c.to_string()).collect();
        Dataset::new(name, Pixels::U8((from..from + n).collect()), (from..from + n).collect(), [1, 1, 1], classes)
            .unwrap()
    }

    #[test]
    fn parts_cover_every_image_once_and_the_last_is_the_validation_split() {
        let batches = vec![(0, 10_000), (10_000, 20_000), (20_000, 30_000), (30_000, 40_000)];
        assert_eq!(parts(40_000, 10_000, 4), Some(batches));
        assert_eq!(parts(10, 3, 2), Some(vec![(4, 7), (7, 10)]), "the first images always train");
        assert_eq!(parts(10, 3, 4), None);
        assert_eq!(parts(10, 0, 2), None);
        let train = numbered("t", 0, 30);
        let val = numbered("t", 30, 10);
        let folds = split(train.clone(), val.clone(), 4, None).unwrap();
        assert_eq!(folds.len(), 4);
        let mut seen: Vec<u8> = folds.iter().flat_map(|f| f.val.as_ref().unwrap().labels.clone()).collect();
        seen.sort();
        assert_eq!(seen, (0..40).collect::<Vec<u8>>(), "every pooled image validates exactly once");
        for f in &folds {
            assert_eq!(f.train.len() + f.val.as_ref().unwrap().len(), 40);
            assert!(
                f.val.as_ref().unwrap().labels.iter().all(|l| !f.train.labels.contains(l)),
                "a fold trains on its own part"
            );
        }
        assert_eq!(folds[3].val.as_ref().unwrap().labels, val.labels, "the last part is the validation split");
        assert_eq!(folds[3].train.labels, train.labels);
        // One fold: the splits as given.
        let one = split(train.clone(), val.clone(), 1, None).unwrap();
        assert_eq!(
            (one[0].train.labels.clone(), one[0].val.as_ref().unwrap().labels.clone()),
            (train.labels.clone(), val.labels.clone())
        );
    }

    #[test]
    fn bad_fold_counts_and_mismatched_splits_are_refused() {
        let train = numbered("t", 0, 6);
        let val = numbered("t", 6, 2);
        assert!(split(train.clone(), val.clone(), 0, None).is_err());
        assert!(split(train.clone(), val.clone(), 5, None).is_err(), "5 parts of 2 images from 8");
        assert_eq!(split(train.clone(), val.clone(), 4, None).unwrap().len(), 4);
        let other =
            Dataset::new("o", Pixels::U8(vec![0; 8]), vec![0, 1], [1, 2, 2], vec!["a".into(), "b".into()]).unwrap();
        assert!(split(train, other, 2, None).is_err());
    }
}

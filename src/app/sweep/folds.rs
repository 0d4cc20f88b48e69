//! K-fold cross-validation for a search: the training and validation splits pooled, K parts of
//! validation-split size taken from them, each trial trained K times, each time validated on one
//! part and trained on the rest, and scored on all K parts' images at once. A single
//! 10,000-image split measures the difference between two nearby settings with a standard error
//! of about 0.27 points on CIFAR-10 (see [`super::paired`]); K folds validate on K times the
//! images.
//!
//! The last part is the validation split as given, so one fold is the plain search and the best
//! trial's model from that fold is the one `train` with its values would give (what
//! `--save-best` writes, with the split its checkpoint records). The other K − 1 parts are drawn
//! from the training images, stratified by class and shuffled by the search's seed
//! ([`stratified_parts`]): each holds every class in the training split's proportion, drawn from
//! all along the split whatever order the images come in (the 2-D toy sets come sorted along
//! each arm). The assignment is a
//! pure function of the training labels, K and the seed, which the results file records, so a
//! resumed search validates on the same images.

use crate::data::folds::stratified_parts;
use crate::data::{Dataset, Normalization};
use crate::features::FeatureConfig;
use crate::preprocess::Preprocess;
use crate::train::TrainData;
use crate::{Error, Result};

/// The images each of `k` parts of `v` images validates on, as indices into the training images
/// (labels `train_labels`) followed by `v` validation images: the first `k − 1` parts drawn from
/// the training images ([`stratified_parts`] by `seed`), the last the validation split. `None`
/// when the `k − 1` drawn parts do not fit in the training images, or `v` is 0.
pub fn parts(train_labels: &[u8], v: usize, k: usize, seed: u64) -> Option<Vec<Vec<usize>>> {
    let n = train_labels.len();
    let mut parts = stratified_parts(train_labels, v, k.checked_sub(1)?, seed)?;
    parts.push((n..n + v).collect());
    Some(parts)
}

/// The folds of `train` and `val` (model inputs, read with `features`) pooled (training images
/// first): `k` parts the size of `val` (see [`parts`]), the last one `val` itself; one fold, the
/// splits as they are (not copied), when `k` is 1. Each fold's normalization is measured on its
/// training part.
pub fn split(
    train: Dataset,
    val: Dataset,
    k: usize,
    seed: u64,
    features: Option<&FeatureConfig>,
) -> Result<Vec<TrainData>> {
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
    let parts = parts(&train.labels, v, k, seed).ok_or_else(|| {
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
        .map(|inside| {
            let mut held = vec![false; n];
            inside.iter().for_each(|&i| held[i] = true);
            let outside: Vec<usize> = (0..n).filter(|&i| !held[i]).collect();
            fold(pooled.subset(&outside), pooled.subset(&inside))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Pixels;

    /// Images numbered `from..from + n` (the number is the pixel), labelled by `label(number)`.
    fn numbered(from: u8, n: u8, label: impl Fn(u8) -> u8) -> Dataset {
        let classes: Vec<String> = (0..4).map(|c: u8| c.to_string()).collect();
        let ids: Vec<u8> = (from..from + n).collect();
        Dataset::new("t", Pixels::U8(ids.clone()), ids.iter().map(|&i| label(i)).collect(), [1, 1, 1], classes).unwrap()
    }

    fn val_of(f: &TrainData) -> &Dataset {
        f.val.as_ref().expect("every fold validates")
    }

    fn ids(ds: &Dataset) -> Vec<u8> {
        match &ds.pixels {
            Pixels::U8(v) => v.clone(),
            Pixels::F32(_) => unreachable!("numbered images are u8"),
        }
    }

    #[test]
    fn parts_are_disjoint_stratified_and_the_last_is_the_validation_split() {
        // 120 training images sorted by class (30 of each of 4), as the toy sets come; 20 held out.
        let train = numbered(0, 120, |i| i / 30);
        let val = numbered(120, 20, |i| i % 4);
        let folds = split(train.clone(), val.clone(), 4, 7, None).unwrap();
        assert_eq!(folds.len(), 4);
        let mut seen: Vec<u8> = folds.iter().flat_map(|f| ids(val_of(f))).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 80, "4 disjoint parts of 20");
        for f in &folds {
            assert_eq!(f.train.len() + val_of(f).len(), 140);
            let trained = ids(&f.train);
            assert!(ids(val_of(f)).iter().all(|i| !trained.contains(i)), "a fold trains on its own part");
        }
        for f in &folds[..3] {
            for c in 0..4u8 {
                let of = val_of(f).labels.iter().filter(|&&l| l == c).count();
                assert!((4..=6).contains(&of), "5 of each class in a part of 20, got {of} of class {c}");
            }
        }
        assert_eq!(ids(val_of(&folds[3])), ids(&val), "the last part is the validation split");
        assert_eq!(ids(&folds[3].train), ids(&train), "... trained on the training split");
        // The seed fixes the assignment; another seed draws other parts.
        let again = split(train.clone(), val.clone(), 4, 7, None).unwrap();
        assert!(folds.iter().zip(&again).all(|(a, b)| ids(val_of(a)) == ids(val_of(b))));
        let other = split(train.clone(), val.clone(), 4, 8, None).unwrap();
        assert_ne!(ids(val_of(&folds[0])), ids(val_of(&other[0])));
        // One fold: the splits as given.
        let one = split(train.clone(), val.clone(), 1, 7, None).unwrap();
        assert_eq!((one[0].train.labels.clone(), val_of(&one[0]).labels.clone()), (train.labels, val.labels));
    }

    #[test]
    fn bad_fold_counts_and_mismatched_splits_are_refused() {
        let train = numbered(0, 6, |i| i % 2);
        let val = numbered(6, 2, |i| i % 2);
        assert!(split(train.clone(), val.clone(), 0, 0, None).is_err());
        assert!(split(train.clone(), val.clone(), 5, 0, None).is_err(), "5 parts of 2 images from 8");
        assert_eq!(split(train.clone(), val.clone(), 4, 0, None).unwrap().len(), 4);
        assert_eq!(parts(&train.labels, 0, 2, 0), None);
        let other =
            Dataset::new("o", Pixels::U8(vec![0; 8]), vec![0, 1], [1, 2, 2], vec!["a".into(), "b".into()]).unwrap();
        assert!(split(train, other, 2, 0, None).is_err());
    }
}

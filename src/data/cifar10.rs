//! CIFAR-10, binary version: `data_batch_1.bin` .. `data_batch_5.bin`, `test_batch.bin`,
//! `batches.meta.txt`.
//!
//! Each record is 3073 bytes: a label byte, then the red, green and blue 32×32 planes, row-major.
//! That is already CHW order, so the bytes are kept as they are. Any whole number of records per
//! file is accepted, and each split loads on its own.

use super::{Dataset, Pixels, Split};
use crate::{Error, Result};
use std::path::Path;

const RECORD: usize = 1 + 3 * 32 * 32;

/// The ten class names, used when `batches.meta.txt` is absent.
pub const CLASSES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

/// The files of a split, in order.
pub fn split_files(split: Split) -> Vec<String> {
    match split {
        Split::Train => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
        Split::Test => vec!["test_batch.bin".to_string()],
    }
}

/// True when `dir` holds at least the first file of `split`.
pub fn has_split(dir: &Path, split: Split) -> bool {
    dir.join(&split_files(split)[0]).is_file()
}

/// Loads a split from a folder of binary batches.
///
/// For the training split, the batches present among `data_batch_1..5.bin` are read in order;
/// a missing batch after a present one is an error (it would silently shift `--val-size`).
pub fn load(dir: &Path, split: Split) -> Result<Dataset> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    let mut missing_after: Option<String> = None;
    for name in split_files(split) {
        let path = dir.join(&name);
        if !path.exists() {
            if labels.is_empty() {
                return Err(Error::DataNotFound(format!(
                    "CIFAR-10: {} not found. Point `data_dir` (or $KINDLING_DATA) at the folder \
                     cifar-10-batches-bin from https://www.cs.toronto.edu/~kriz/cifar.html",
                    path.display()
                )));
            }
            missing_after.get_or_insert(name);
            continue;
        }
        if let Some(m) = &missing_after {
            return Err(Error::data(&path, format!("present, but {m} before it is missing: restore it")));
        }
        read_batch(&path, &mut pixels, &mut labels)?;
    }
    let classes = read_classes(dir)?;
    Dataset::new("cifar10", Pixels::U8(pixels), labels, [3, 32, 32], classes)
}

/// Appends the records of one batch file.
pub fn read_batch(path: &Path, pixels: &mut Vec<u8>, labels: &mut Vec<u8>) -> Result<()> {
    if path.is_dir() {
        return Err(Error::data(path, "is a directory, expected a CIFAR-10 batch file"));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::data(path, format!("cannot read: {e}")))?;
    if bytes.is_empty() || bytes.len() % RECORD != 0 {
        return Err(Error::data(
            path,
            format!(
                "{} bytes is not a whole number of {RECORD}-byte records (truncated or not a CIFAR-10 binary batch); \
                 download it again",
                bytes.len()
            ),
        ));
    }
    for (i, rec) in bytes.chunks_exact(RECORD).enumerate() {
        if rec[0] >= 10 {
            return Err(Error::data(
                path,
                format!("record {i} has label byte {} (must be 0..9): corrupt file", rec[0]),
            ));
        }
        labels.push(rec[0]);
        pixels.extend_from_slice(&rec[1..]);
    }
    Ok(())
}

fn read_classes(dir: &Path) -> Result<Vec<String>> {
    let meta = dir.join("batches.meta.txt");
    let names: Vec<String> = match std::fs::read_to_string(&meta) {
        Ok(text) => text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect(),
        Err(_) => vec![],
    };
    if names.len() == 10 {
        Ok(names)
    } else {
        Ok(CLASSES.iter().map(|s| s.to_string()).collect())
    }
}

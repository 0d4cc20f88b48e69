//! MNIST and Fashion-MNIST in LeCun's IDX format, plain or gzip-compressed.
//!
//! Files: `train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`, and `t10k-...` for the
//! test split. Images are 28×28 grayscale, stored as `[1, 28, 28]`.

use super::{Dataset, Pixels, Split};
use crate::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// MNIST's class names.
pub const MNIST_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
/// Fashion-MNIST's class names.
pub const FASHION_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

fn prefix(split: Split) -> &'static str {
    match split {
        Split::Train => "train",
        Split::Test => "t10k",
    }
}

/// Finds `stem` or `stem.gz` in `dir`.
fn find(dir: &Path, stem: &str) -> Option<PathBuf> {
    [dir.join(stem), dir.join(format!("{stem}.gz"))].into_iter().find(|p| p.exists())
}

/// True when `dir` holds the images of `split`.
pub fn has_split(dir: &Path, split: Split) -> bool {
    find(dir, &format!("{}-images-idx3-ubyte", prefix(split))).is_some()
}

/// Reads a whole file, gunzipping it when it starts with the gzip magic.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    if path.is_dir() {
        return Err(Error::data(path, "is a directory, expected an IDX file"));
    }
    let raw = std::fs::read(path).map_err(|e| Error::data(path, format!("cannot read: {e}")))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::data(path, format!("corrupt gzip data ({e}): download the file again")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Parses an IDX file of unsigned bytes: returns its dimensions and data.
pub fn parse_idx(path: &Path, bytes: &[u8], expected_dims: usize) -> Result<(Vec<usize>, Vec<u8>)> {
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 || bytes[3] as usize != expected_dims {
        return Err(Error::data(
            path,
            format!(
                "wrong magic number {:02x?}: expected an IDX file of unsigned bytes with {expected_dims} dimension(s) \
                 (00 00 08 0{expected_dims})",
                &bytes[..bytes.len().min(4)]
            ),
        ));
    }
    let header = 4 + 4 * expected_dims;
    if bytes.len() < header {
        return Err(Error::data(path, "truncated header: download the file again"));
    }
    let dims: Vec<usize> = (0..expected_dims)
        .map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize)
        .collect();
    let n: usize = dims.iter().product();
    if bytes.len() - header != n {
        return Err(Error::data(
            path,
            format!(
                "header promises {n} bytes of data ({dims:?}) but {} follow: truncated or corrupt",
                bytes.len() - header
            ),
        ));
    }
    Ok((dims, bytes[header..].to_vec()))
}

/// Loads a split of MNIST or Fashion-MNIST from `dir`.
pub fn load(dir: &Path, split: Split, name: &str, classes: &[&str]) -> Result<Dataset> {
    let p = prefix(split);
    let img_path = find(dir, &format!("{p}-images-idx3-ubyte")).ok_or_else(|| {
        Error::DataNotFound(format!(
            "{name}: {p}-images-idx3-ubyte(.gz) not found in {}. Point `data_dir` (or $KINDLING_DATA) at a folder \
             with the four IDX files",
            dir.display()
        ))
    })?;
    let lbl_path = find(dir, &format!("{p}-labels-idx1-ubyte")).ok_or_else(|| {
        Error::data(dir.join(format!("{p}-labels-idx1-ubyte.gz")), "missing: the labels file is needed too")
    })?;
    let (dims, pixels) = parse_idx(&img_path, &read_maybe_gz(&img_path)?, 3)?;
    let (ldims, labels) = parse_idx(&lbl_path, &read_maybe_gz(&lbl_path)?, 1)?;
    if ldims[0] != dims[0] {
        return Err(Error::data(
            &lbl_path,
            format!("{} labels for {} images in {}", ldims[0], dims[0], img_path.display()),
        ));
    }
    if let Some(bad) = labels.iter().position(|&l| l as usize >= classes.len()) {
        return Err(Error::data(
            &lbl_path,
            format!("label {} at index {bad} is out of range 0..9: corrupt file", labels[bad]),
        ));
    }
    Dataset::new(
        name,
        Pixels::U8(pixels),
        labels,
        [1, dims[1], dims[2]],
        classes.iter().map(|s| s.to_string()).collect(),
    )
}

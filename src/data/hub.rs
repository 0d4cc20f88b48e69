//! Downloads from the Hugging Face Hub (`hf-hub`) and decoding of its parquet image tables.
//!
//! The Hub serves each data set as parquet files on the `refs/convert/parquet` revision: one row per
//! image, an image column (a struct holding PNG `bytes`) and an integer `label`. Images are decoded
//! to `[C, H, W]`, the orientation of the CIFAR-10 binary files. (candle-datasets' own parquet
//! loader permutes `(0, 3, 2, 1)`, which transposes every image; kindling permutes HWC -> CHW.)

use super::{push_chw, Dataset, Pixels};
use crate::{Error, Result};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use std::path::{Path, PathBuf};

/// The revision on which the Hub serves the parquet conversion of a data set.
pub const PARQUET_REVISION: &str = "refs/convert/parquet";

/// Where a data set lives on the Hub.
#[derive(Debug, Clone, Copy)]
pub struct HubDataset {
    /// The repository, e.g. `uoft-cs/cifar10`.
    pub repo: &'static str,
    /// The training parquet file within the parquet revision.
    pub train_file: &'static str,
    /// The test parquet file.
    pub test_file: &'static str,
}

/// CIFAR-10.
pub const CIFAR10: HubDataset = HubDataset {
    repo: "uoft-cs/cifar10",
    train_file: "plain_text/train/0000.parquet",
    test_file: "plain_text/test/0000.parquet",
};
/// MNIST.
pub const MNIST: HubDataset =
    HubDataset { repo: "ylecun/mnist", train_file: "mnist/train/0000.parquet", test_file: "mnist/test/0000.parquet" };
/// Fashion-MNIST.
pub const FASHION_MNIST: HubDataset = HubDataset {
    repo: "zalando-datasets/fashion_mnist",
    train_file: "fashion_mnist/train/0000.parquet",
    test_file: "fashion_mnist/test/0000.parquet",
};

/// Returns the local path of `file` in data set `repo`, from the Hub cache or by downloading it.
///
/// `cache_dir` overrides the Hub cache folder (default: `$HF_HUB_CACHE` or `~/.cache/huggingface/hub`).
/// Failures name the other ways to provide the data instead of a network stack trace.
pub fn fetch(repo: &str, file: &str, cache_dir: Option<&Path>) -> Result<PathBuf> {
    let mut builder = hf_hub::HFClient::builder();
    if let Some(dir) = cache_dir {
        builder = builder.cache_dir(dir.to_path_buf());
    }
    let explain = |e: &dyn std::fmt::Display| {
        Error::Download(format!(
            "could not get {file} of {repo} from the Hugging Face Hub: {e}.\n\
             Without network access, provide the data instead: `data_dir` (a folder), or $KINDLING_DATA, or ./data \
             (see README, 'Getting the data')"
        ))
    };
    let client = builder.build_sync().map_err(|e| explain(&e))?;
    let (owner, name) = hf_hub::split_id(repo);
    let ds = client.dataset(owner, name);
    let request = ds.download_file().filename(file).revision(PARQUET_REVISION);
    match request.clone().local_files_only(true).send() {
        Ok(path) => Ok(path),
        Err(_) => request.send().map_err(|e| explain(&e)),
    }
}

/// Decodes a parquet table of images and labels into a data set of `[C, H, W]` images.
///
/// Every image must have the same size and colour type as the first.
pub fn load_parquet(path: &Path, name: &str, classes: &[&str]) -> Result<Dataset> {
    let file = std::fs::File::open(path).map_err(|e| Error::data(path, format!("cannot open: {e}")))?;
    let reader =
        SerializedFileReader::new(file).map_err(|e| Error::data(path, format!("not a readable parquet file: {e}")))?;
    let rows = reader.get_row_iter(None).map_err(|e| Error::data(path, format!("cannot read rows: {e}")))?;
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    let mut shape: Option<[usize; 3]> = None;
    for (i, row) in rows.enumerate() {
        let row = row.map_err(|e| Error::data(path, format!("row {i}: {e}")))?;
        let (mut image, mut label) = (None, None);
        for (_, field) in row.get_column_iter() {
            match field {
                Field::Group(group) => {
                    for (_, f) in group.get_column_iter() {
                        if let Field::Bytes(b) = f {
                            image = Some(b.data().to_vec());
                        }
                    }
                }
                Field::Bytes(b) => image = Some(b.data().to_vec()),
                Field::Long(l) => label = Some(*l),
                Field::Int(l) => label = Some(*l as i64),
                _ => {}
            }
        }
        let (Some(bytes), Some(label)) = (image, label) else {
            return Err(Error::data(path, format!("row {i} has no image bytes or no integer label")));
        };
        if label < 0 || label as usize >= classes.len() {
            return Err(Error::data(path, format!("row {i}: label {label} out of range 0..{}", classes.len())));
        }
        let img = image::load_from_memory(&bytes)
            .map_err(|e| Error::data(path, format!("row {i}: image does not decode: {e}")))?;
        let channels = if img.color().has_color() { 3 } else { 1 };
        let this = [channels, img.height() as usize, img.width() as usize];
        if *shape.get_or_insert(this) != this {
            return Err(Error::data(
                path,
                format!("row {i}: image of shape {this:?}, the first was {:?}", shape.unwrap()),
            ));
        }
        push_chw(&img, channels, &mut pixels);
        labels.push(label as u8);
    }
    let shape = shape.ok_or_else(|| Error::data(path, "holds no rows"))?;
    Dataset::new(name, Pixels::U8(pixels), labels, shape, classes.iter().map(|s| s.to_string()).collect())
}

//! Flags shared by the example binaries (`clap` derive), and the data preparation they imply.
//!
//! Every example spells the shared flags the same way: `--dataset --data-dir --train-size
//! --val-size --exclude-last --device --seed`.

use crate::data::{self, DataOptions, Dataset, DatasetName, Split};
use crate::Result;
use clap::Args;
use std::path::PathBuf;

/// Which data, from where, and how to split it.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Data set: shapes (generated, offline), cifar10, mnist, fashion-mnist, spiral, circles, moons, blobs.
    #[arg(long, value_enum)]
    pub dataset: Option<DatasetName>,
    /// Folder holding the data set's files (else $KINDLING_DATA/<name>, ./data/<name>, then the Hugging Face Hub).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Drop the last N training images entirely (e.g. 10000 keeps CIFAR-10's batch 5 out of a tuning run).
    #[arg(long, default_value_t = 0)]
    pub exclude_last: usize,
    /// Hold out the last N training images (after --exclude-last) as the validation split.
    #[arg(long, default_value_t = 0)]
    pub val_size: usize,
    /// Train on only the first N of the remaining training images.
    #[arg(long)]
    pub train_size: Option<usize>,
    /// Size of generated data sets (shapes, spiral, ...); default: their own.
    #[arg(long)]
    pub generated_size: Option<usize>,
    /// Never download from the Hugging Face Hub.
    #[arg(long)]
    pub offline: bool,
}

/// Training and validation splits, ready to use.
pub struct Prepared {
    /// Training samples.
    pub train: Dataset,
    /// Held-out validation samples, when `--val-size` > 0.
    pub val: Option<Dataset>,
    /// A description of the split, saved in checkpoints.
    pub description: String,
    /// Where the data came from (to find the test split too).
    pub options: DataOptions,
}

impl DataArgs {
    /// Where to look for files.
    pub fn options(&self) -> DataOptions {
        DataOptions {
            data_dir: self.data_dir.clone(),
            allow_download: !self.offline,
            generated_size: self.generated_size,
        }
    }

    /// Loads the training split of `name` and carves `--exclude-last`, `--val-size` and
    /// `--train-size` out of it, in that order.
    pub fn prepare(&self, name: DatasetName) -> Result<Prepared> {
        let full = data::load(name, Split::Train, &self.options())?;
        let total = full.len();
        let mut train = full;
        if self.exclude_last > 0 {
            train = train
                .split_tail(self.exclude_last)
                .map_err(|_| {
                    crate::Error::invalid("--exclude-last", format!("{} leaves no data of {total}", self.exclude_last))
                })?
                .0;
        }
        let kept = train.len();
        let mut val = None;
        if self.val_size > 0 {
            let (t, v) = train.split_tail(self.val_size)?;
            train = t;
            val = Some(v);
        }
        if let Some(n) = self.train_size {
            if n == 0 {
                return Err(crate::Error::invalid("--train-size", "must be at least 1"));
            }
            train = train.take(n);
        }
        let description = format!(
            "{name} train split of {total}: train = [0, {}), val = [{}, {kept}){}",
            train.len(),
            kept - self.val_size,
            if self.exclude_last > 0 { format!(", excluded = [{kept}, {total})") } else { String::new() }
        );
        Ok(Prepared { train, val, description, options: self.options() })
    }

    /// The split `evaluate` and `knn` score on: the validation split when `split` is `Val`, else
    /// the official test split.
    pub fn eval_split(&self, name: DatasetName, split: EvalSplit) -> Result<Dataset> {
        match split {
            EvalSplit::Test => data::load(name, Split::Test, &self.options()),
            EvalSplit::Val => {
                if self.val_size == 0 {
                    return Err(crate::Error::invalid("--split val", "needs --val-size N (the same N as in training)"));
                }
                self.prepare(name)?.val.ok_or_else(|| crate::Error::invalid("--val-size", "empty validation split"))
            }
        }
    }
}

/// The split to score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalSplit {
    /// The official test split.
    Test,
    /// The held-out validation split (`--val-size`).
    Val,
}

/// `--device` and its parsing.
#[derive(Debug, Clone, Args)]
pub struct DeviceArgs {
    /// cpu, cuda, cuda:N or auto (CUDA when built with --features cuda and a GPU is present).
    #[arg(long, default_value = "auto")]
    pub device: String,
}

impl DeviceArgs {
    /// Opens the device and prints which one was chosen.
    pub fn open(&self) -> Result<candle_core::Device> {
        let dev = crate::device::parse_device(&self.device)?;
        eprintln!("device: {}", crate::device::device_name(&dev));
        Ok(dev)
    }
}

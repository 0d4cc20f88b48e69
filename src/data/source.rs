//! Which data set, and where its files are: `--dataset`, `--data-dir`, `$KINDLING_DATA`, `./data`,
//! Debian's Fashion-MNIST package, then the Hugging Face Hub; or a folder of the user's own images
//! ([`DatasetName::Folder`], see [`folder`]). `--classes` keeps a subset of any of
//! them.

use super::folder::{self, ImageRequest};
#[cfg(feature = "hub")]
use super::hub;
use super::{cifar10, idx, shapes, toy2d, Dataset, Split, ValSize};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The data sets kindling knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetName {
    /// Generated offline: 10 classes of 32×32 RGB shapes.
    Shapes,
    /// CIFAR-10, 32×32 RGB, 10 classes.
    Cifar10,
    /// MNIST digits, 28×28 grayscale.
    Mnist,
    /// Fashion-MNIST, 28×28 grayscale.
    FashionMnist,
    /// 2-D spiral, 3 classes.
    Spiral,
    /// 2-D concentric circles.
    Circles,
    /// 2-D half moons.
    Moons,
    /// 2-D Gaussian blobs.
    Blobs,
    /// The user's own images: one subfolder per class in the folder `--data-dir` names.
    Folder,
}

impl DatasetName {
    /// The name as typed on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetName::Shapes => "shapes",
            DatasetName::Cifar10 => "cifar10",
            DatasetName::Mnist => "mnist",
            DatasetName::FashionMnist => "fashion-mnist",
            DatasetName::Spiral => "spiral",
            DatasetName::Circles => "circles",
            DatasetName::Moons => "moons",
            DatasetName::Blobs => "blobs",
            DatasetName::Folder => "folder",
        }
    }

    /// The folder name under `$KINDLING_DATA` or `./data`.
    pub fn folder(self) -> Option<&'static str> {
        match self {
            DatasetName::Cifar10 => Some("cifar-10-batches-bin"),
            DatasetName::Mnist => Some("mnist"),
            DatasetName::FashionMnist => Some("fashion-mnist"),
            _ => None,
        }
    }

    /// True for the sets generated here (shapes and the 2-D toys), read from no file.
    pub fn is_generated(self) -> bool {
        self == DatasetName::Shapes || self.toy().is_some()
    }

    /// The 2-D toy problem, if this is one.
    pub fn toy(self) -> Option<toy2d::Toy> {
        match self {
            DatasetName::Spiral => Some(toy2d::Toy::Spiral),
            DatasetName::Circles => Some(toy2d::Toy::Circles),
            DatasetName::Moons => Some(toy2d::Toy::Moons),
            DatasetName::Blobs => Some(toy2d::Toy::Blobs),
            _ => None,
        }
    }
}

impl std::fmt::Display for DatasetName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where to look for data files, which classes to keep, and how a folder's images are read.
#[derive(Debug, Clone, Default)]
pub struct DataOptions {
    /// `--data-dir`: the data set's own folder (or a folder holding it under its usual name); a
    /// folder data set's folder.
    pub data_dir: Option<PathBuf>,
    /// Allow the Hugging Face Hub download when no folder has the files (default true in the
    /// examples).
    pub allow_download: bool,
    /// Number of samples for generated sets (`None`: their default size).
    pub generated_size: Option<usize>,
    /// `--classes`: keep only these classes (names, or numbers in the data set's class order),
    /// relabelled 0, 1, ... in the data set's order.
    pub classes: Option<Vec<String>>,
    /// Folder data sets: the image size, resize policy and channels (unset: 32x32, squash, grey
    /// when every training image is grey).
    pub image: ImageRequest,
    /// Folder data sets: a file that is not a readable image is an error, not skipped.
    pub strict: bool,
    /// Folder data sets: where decoded images are cached (`None`: no cache).
    pub cache_dir: Option<PathBuf>,
    /// Folder data sets: the held-out split to set apart (it goes last in the training split)
    /// and the training subset to put first.
    pub holdout: Holdout,
    /// Print what a folder holds (classes, counts, cache use) and a progress bar while decoding.
    pub verbose: bool,
    /// Where a folder's notes and warnings go (skipped files, class imbalance, what was found):
    /// `None` prints them to standard error as they are (naming settings by their field names,
    /// `` `strict` ``); the command line passes a printer that names its flags.
    pub notes: Option<fn(&str)>,
}

/// How a folder data set's training images are ordered: a stratified, seeded held-out split
/// last (so that [`SplitRecord`](super::SplitRecord)'s ranges find it), and a stratified training
/// subset first.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Holdout {
    /// `--val-size`: images held out (none when the folder has a `val/` subfolder, which is the
    /// held-out split).
    pub val: ValSize,
    /// `--train-size`: images trained on, taken in proportion to each class's count.
    pub train_size: Option<usize>,
    /// `--split-seed`: which images of each class are held out.
    pub seed: u64,
}

/// Debian's `dataset-fashion-mnist` package installs here.
pub const DEBIAN_FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

/// The folders searched for `name`, in order.
pub fn candidate_dirs(name: DatasetName, opts: &DataOptions) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let folder = name.folder();
    if let Some(dir) = &opts.data_dir {
        if let Some(f) = folder {
            dirs.push(dir.join(f));
        }
        dirs.push(dir.clone());
        return dirs;
    }
    if let (Ok(root), Some(f)) = (std::env::var("KINDLING_DATA"), folder) {
        if !root.is_empty() {
            dirs.push(Path::new(&root).join(f));
        }
    }
    if let Some(f) = folder {
        dirs.push(Path::new("data").join(f));
    }
    if name == DatasetName::FashionMnist {
        dirs.push(PathBuf::from(DEBIAN_FASHION_MNIST));
    }
    dirs
}

/// Loads `split` of data set `name`.
///
/// Files are found in `--data-dir`, else `$KINDLING_DATA/<folder>`, else `./data/<folder>` (and
/// Debian's folder for Fashion-MNIST), else downloaded from the Hugging Face Hub when allowed.
pub fn load(name: DatasetName, split: Split, opts: &DataOptions) -> Result<Dataset> {
    if name == DatasetName::Folder {
        return Ok(folder::load(split, opts)?.data);
    }
    let ds = load_all_classes(name, split, opts)?;
    match &opts.classes {
        Some(keep) => select_classes(&ds, keep, name.as_str()),
        None => Ok(ds),
    }
}

/// The classes of `all` that `keep` names (class names, or numbers in `all`'s order), in `all`'s
/// order, as indices; an unknown name, or fewer than two classes, is an error that lists them.
pub fn resolve_classes(all: &[String], keep: &[String], dataset: &str) -> Result<Vec<usize>> {
    let mut idx = vec![];
    for token in keep.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        let i = all.iter().position(|c| c == token).or_else(|| token.parse::<usize>().ok().filter(|&i| i < all.len()));
        match i {
            Some(i) => idx.push(i),
            None => {
                return Err(Error::invalid(
                    "`classes`",
                    format!(
                        "{dataset} has no class '{token}': its classes are {} (names, or numbers 0 to {})",
                        all.join(", "),
                        all.len().saturating_sub(1)
                    ),
                ))
            }
        }
    }
    idx.sort_unstable();
    idx.dedup();
    if idx.len() < 2 {
        return Err(Error::invalid(
            "`classes`",
            format!("keeps {} class of {dataset}: a classifier needs at least two", idx.len()),
        ));
    }
    Ok(idx)
}

/// The samples of `ds` in the classes `keep` names (see [`resolve_classes`]), relabelled 0, 1,
/// ... in `ds`'s class order.
pub fn select_classes(ds: &Dataset, keep: &[String], dataset: &str) -> Result<Dataset> {
    let kept = resolve_classes(&ds.classes, keep, dataset)?;
    let mut new_label = vec![u8::MAX; ds.num_classes()];
    for (j, &c) in kept.iter().enumerate() {
        new_label[c] = j as u8;
    }
    let indices: Vec<usize> = (0..ds.len()).filter(|&i| new_label[ds.labels[i] as usize] != u8::MAX).collect();
    let sub = ds.subset(&indices);
    let labels = sub.labels.iter().map(|&l| new_label[l as usize]).collect();
    let classes = kept.iter().map(|&c| ds.classes[c].clone()).collect();
    Dataset::new(&ds.name, sub.pixels, labels, ds.shape, classes)
}

fn load_all_classes(name: DatasetName, split: Split, opts: &DataOptions) -> Result<Dataset> {
    let folder_only = [
        ("`image_size`", opts.image.size.is_some()),
        ("`resize`", opts.image.resize.is_some()),
        ("`strict`", opts.strict),
    ];
    if let Some((field, _)) = folder_only.iter().find(|(_, given)| *given) {
        return Err(Error::invalid(
            field.to_string(),
            format!("applies to folder data sets (`dataset` folder); {name}'s images have their own size and colour"),
        ));
    }
    if name == DatasetName::Shapes {
        let n = opts.generated_size.unwrap_or(match split {
            Split::Train => shapes::DEFAULT_TRAIN,
            Split::Test => shapes::DEFAULT_TEST,
        });
        return Ok(shapes::generate(split, n));
    }
    if let Some(toy) = name.toy() {
        let per_class = opts.generated_size.map(|n| n.div_ceil(toy.classes())).unwrap_or(toy2d::DEFAULT_PER_CLASS);
        return Ok(toy2d::generate(toy, split, per_class));
    }
    let dirs = candidate_dirs(name, opts);
    if let Some(dir) = &opts.data_dir {
        if !dir.is_dir() {
            return Err(Error::invalid("`data_dir`", format!("{} is not a folder", dir.display())));
        }
    }
    for dir in &dirs {
        let found = match name {
            DatasetName::Cifar10 => cifar10::has_split(dir, split),
            _ => idx::has_split(dir, split),
        };
        if found {
            return match name {
                DatasetName::Cifar10 => cifar10::load(dir, split),
                DatasetName::Mnist => idx::load(dir, split, "mnist", &idx::MNIST_CLASSES),
                _ => idx::load(dir, split, "fashion-mnist", &idx::FASHION_CLASSES),
            };
        }
    }
    let searched = dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ");
    if opts.data_dir.is_some() || !opts.allow_download {
        return Err(Error::DataNotFound(format!(
            "{name} ({} split) not found in {searched}. Give the folder with `data_dir`, or set \
             KINDLING_DATA to a folder holding {}/ (see README, 'Getting the data')",
            match split {
                Split::Train => "training",
                Split::Test => "test",
            },
            name.folder().unwrap_or("")
        )));
    }
    download(name, split, &searched)
}

/// `split` of `name` from the Hugging Face Hub, after it was not found in `searched`.
#[cfg(feature = "hub")]
fn download(name: DatasetName, split: Split, searched: &str) -> Result<Dataset> {
    let (spec, classes): (hub::HubDataset, Vec<&str>) = match name {
        DatasetName::Cifar10 => (hub::CIFAR10, cifar10::CLASSES.to_vec()),
        DatasetName::Mnist => (hub::MNIST, idx::MNIST_CLASSES.to_vec()),
        _ => (hub::FASHION_MNIST, idx::FASHION_CLASSES.to_vec()),
    };
    eprintln!("{name}: not found in {searched}; trying the Hugging Face Hub ({})", spec.repo);
    let file = match split {
        Split::Train => spec.train_file,
        Split::Test => spec.test_file,
    };
    let path = hub::fetch(spec.repo, file, None)?;
    hub::load_parquet(&path, name.as_str(), &classes)
}

/// Without the `hub` feature there is no download: the error says where the files were looked for.
#[cfg(not(feature = "hub"))]
fn download(name: DatasetName, split: Split, searched: &str) -> Result<Dataset> {
    Err(Error::DataNotFound(format!(
        "{name} ({split:?} split) not found in {searched}, and this kindling was built without the `hub` feature \
         (no download): give the folder (`data_dir`), or set KINDLING_DATA to a folder holding {}/",
        name.folder().unwrap_or("")
    )))
}

//! Flags shared by the example binaries (`clap` derive), and the data preparation they imply.
//!
//! Every example spells the shared flags the same way: `--dataset --data-dir --train-size
//! --val-size --exclude-last --classes --device --seed`, and for folder data sets `--image-size
//! --resize --strict --split-seed`.

mod choices;
mod train_args;
pub use train_args::TrainArgs;

use crate::data::folder::ImageRequest;
use crate::data::image::ResizePolicy;
use crate::data::{self, DataOptions, Dataset, DatasetName, Holdout, Prepared, Split, SplitRecord, ValSize};
use crate::{Error, Result};
use clap::Args;
use std::path::PathBuf;

/// The settings the library names in its messages (as `` `field` ``), each set on the command
/// line by the flag of the same name in kebab case: `` `batch_size` `` is `--batch-size`.
const FLAG_FIELDS: &[&str] = &[
    "batch_size",
    "classes",
    "data_dir",
    "dataset",
    "epochs",
    "exclude_last",
    "features",
    "folds",
    "freeze",
    "hidden",
    "image_size",
    "init_from",
    "k",
    "label_smoothing",
    "lr",
    "model",
    "momentum",
    "pretrained_lr",
    "recipe",
    "reg",
    "resize",
    "resume",
    "split_seed",
    "strict",
    "train_size",
    "tta",
    "val_size",
    "weight_decay",
    "weights",
];

/// `message` with every setting the library names (`` `lr` ``) written as the flag that sets it
/// (`--lr`): the library speaks of its configuration fields, the examples of their flags.
pub fn flags_in(message: &str) -> String {
    let mut out = message.to_string();
    for field in FLAG_FIELDS {
        out = out.replace(&format!("`{field}`"), &format!("--{}", field.replace('_', "-")));
    }
    out
}

/// The body of every example's `main`: start-up settings ([`startup`](crate::support::startup::startup)),
/// then `body`; an error is printed as `Error: ...` with the library's setting names written as
/// flags ([`flags_in`]), and the process exits with status 1.
pub fn main(body: impl FnOnce() -> anyhow::Result<()>) -> std::process::ExitCode {
    crate::support::startup::startup();
    finish(body)
}

/// [`main`] for a long-running server (`serve`): the same, but mimalloc keeps its default of
/// handing freed pages back to the system, so that memory taken by a burst of work comes back
/// (training keeps them, for speed: [`crate::support::allocator::keep_freed_pages`]).
pub fn server_main(body: impl FnOnce() -> anyhow::Result<()>) -> std::process::ExitCode {
    crate::support::startup::limit_candle_spinning();
    finish(body)
}

fn finish(body: impl FnOnce() -> anyhow::Result<()>) -> std::process::ExitCode {
    match body() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {}", flags_in(&format!("{e:?}")));
            std::process::ExitCode::FAILURE
        }
    }
}

/// Which data, from where, and how to split it.
#[derive(Debug, Clone, Default, Args)]
pub struct DataArgs {
    /// Data set: shapes (generated, offline), cifar10, mnist, fashion-mnist, spiral, circles, moons,
    /// blobs, or folder (your own images: --data-dir PATH alone means folder).
    #[arg(long, value_enum)]
    pub dataset: Option<DatasetName>,
    /// A folder of your own images, one subfolder per class (no --dataset); or the folder holding a
    /// built-in data set's files (else $KINDLING_DATA/NAME, ./data/NAME, then the Hugging Face Hub).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Drop the last N training images entirely (e.g. 10000 keeps CIFAR-10's batch 5 out of a tuning run).
    #[arg(long, default_value_t = 0)]
    pub exclude_last: usize,
    /// Hold out N training images, or a fraction such as 0.2, as the validation split: the last N
    /// (after --exclude-last) of a built-in set; the same share of every class of a folder, drawn
    /// with --split-seed.
    #[arg(long, default_value = "0", value_parser = ValSize::parse)]
    pub val_size: ValSize,
    /// Train on only the first N of the remaining training images (of a folder: the same share of
    /// every class).
    #[arg(long)]
    pub train_size: Option<usize>,
    /// Size of generated data sets (shapes, spiral, ...); default: their own.
    #[arg(long)]
    pub generated_size: Option<usize>,
    /// Never download from the Hugging Face Hub.
    #[arg(long)]
    pub offline: bool,
    /// Keep only these classes, by name or number, e.g. cat,dog or 0,1,2 (any data set).
    #[arg(long, value_delimiter = ',')]
    pub classes: Option<Vec<String>>,
    /// Folder data sets: the size images are brought to, N or WxH [default: 32, what every shipped
    /// network reads].
    #[arg(long, value_parser = data::image::parse_size, value_name = "N|WxH")]
    pub image_size: Option<(usize, usize)>,
    /// Folder data sets: how an image of another shape is fitted: squash (the whole image, aspect
    /// ratio not kept), crop (the centre), pad (the whole image, black borders) [default: squash].
    #[arg(long, value_enum)]
    pub resize: Option<ResizePolicy>,
    /// Folder data sets: a file that is not a readable image is an error (default: skipped, with a
    /// summary line).
    #[arg(long)]
    pub strict: bool,
    /// Folder data sets: the seed that draws the held-out images of --val-size.
    #[arg(long, default_value_t = 0)]
    pub split_seed: u64,
    /// Print no description of the data (set by the examples' --quiet).
    #[arg(skip)]
    pub quiet: bool,
}

impl DataArgs {
    /// The data set the flags name: `--dataset`, else a folder when `--data-dir` is given, else
    /// the generated shapes.
    pub fn dataset_name(&self) -> DatasetName {
        match (self.dataset, &self.data_dir) {
            (Some(d), _) => d,
            (None, Some(_)) => DatasetName::Folder,
            (None, None) => DatasetName::Shapes,
        }
    }

    /// Where to look for files, which classes to keep, how a folder's images are read.
    pub fn options(&self) -> DataOptions {
        DataOptions {
            data_dir: self.data_dir.clone(),
            allow_download: !self.offline,
            generated_size: self.generated_size,
            classes: self.classes.clone(),
            image: ImageRequest { size: self.image_size, resize: self.resize, channels: None },
            strict: self.strict,
            cache_dir: data::cache::default_dir(),
            holdout: Holdout { val: self.val_size, train_size: self.train_size, seed: self.split_seed },
            verbose: !self.quiet,
            notes: Some(|note| eprintln!("{}", flags_in(note))),
        }
    }

    /// The same flags, with the split a checkpoint recorded filled in where none of
    /// `--exclude-last`, `--val-size`, `--train-size` and `--generated-size` was given (a resumed
    /// run continues on the images it started on).
    pub fn or_recorded(&self, name: DatasetName, record: Option<SplitRecord>) -> DataArgs {
        let mut args = self.clone();
        let given = self.exclude_last > 0
            || !self.val_size.is_zero()
            || self.train_size.is_some()
            || self.generated_size.is_some();
        if let (false, Some(r)) = (given, record) {
            args.exclude_last = r.exclude_last;
            args.val_size = ValSize::Count(r.val_size);
            let available = r.total - r.exclude_last - r.val_size;
            args.train_size = (r.train < available).then_some(r.train);
            if name == DatasetName::Shapes || name.toy().is_some() {
                args.generated_size = Some(r.total);
            }
        }
        args
    }

    /// [`prepare`](Self::prepare) for a resumed run of checkpoint `meta`: the split it recorded
    /// unless data flags say otherwise (and its folder, image format, classes and split seed), and
    /// an error when the flags carve another split (the run would go on with other images than it
    /// started with).
    pub fn prepare_resumed(
        &self,
        name: DatasetName,
        meta: Option<&crate::checkpoint::CheckpointMeta>,
    ) -> Result<Prepared> {
        let recorded = meta.and_then(|m| m.split_record());
        let mut args = self.or_recorded(name, recorded);
        if let Some(m) = meta.filter(|m| m.class_filter.is_some()) {
            args.generated_size = self.generated_size.or(m.generated_size);
        }
        let folder = meta.and_then(|m| m.folder.as_ref());
        if let Some(f) = folder {
            if self.split_seed == 0 {
                args.split_seed = f.split_seed;
            }
            if f.splits.iter().any(|s| s == "val") && self.val_size.is_zero() {
                args.val_size = ValSize::Count(0);
            }
        }
        let options = match meta {
            Some(m) => m.data_options(&args.options(), name)?,
            None => args.options(),
        };
        let data = args.prepare_with(name, options)?;
        if let Some(r) = recorded.filter(|r| *r != data.split) {
            return Err(crate::Error::invalid(
                "--resume",
                format!(
                    "the checkpoint trained on {}, but these flags give {}: resume without data flags to continue \
                     on its own split",
                    r.describe(name.as_str()),
                    data.description
                ),
            ));
        }
        if let (Some(f), Some(now)) = (folder, &data.folder) {
            if f.held_out != now.held_out {
                return Err(crate::Error::invalid(
                    "--resume",
                    format!(
                        "the folder {} now holds out other files than the checkpoint recorded (were images added, \
                         removed or renamed?): the run cannot go on with the images it started with",
                        f.root.display()
                    ),
                ));
            }
        }
        Ok(data)
    }

    /// The data a fine-tuning run from the checkpoint `parent` trains on: a folder's images are read
    /// in the format the parent's network reads (its size and channels; `--resize`, else the
    /// parent's policy), so that they fit it. An `--image-size` of another size is an error.
    pub fn prepare_for_parent(
        &self,
        name: DatasetName,
        parent: &crate::checkpoint::CheckpointMeta,
    ) -> Result<Prepared> {
        let mut options = self.options();
        if name == DatasetName::Folder {
            if let Ok(spec) = parent.image_spec() {
                if let Some((w, h)) = self.image_size.filter(|&s| s != (spec.width, spec.height)) {
                    return Err(Error::invalid(
                        "--image-size",
                        format!(
                            "{w}x{h}: the network of --init-from reads {}x{} images, and the folder's images are \
                             read at that size: leave --image-size out",
                            spec.width, spec.height
                        ),
                    ));
                }
                options.image = ImageRequest {
                    size: Some((spec.width, spec.height)),
                    resize: self.resize.or(Some(spec.resize)),
                    channels: Some(spec.channels),
                };
            }
        }
        self.prepare_with(name, options)
    }

    /// Loads the training split of `name` and carves `--exclude-last`, `--val-size` and
    /// `--train-size` out of it, in that order.
    pub fn prepare(&self, name: DatasetName) -> Result<Prepared> {
        self.prepare_with(name, self.options())
    }

    /// [`prepare`](Self::prepare) with data options `options` (a checkpoint's, for instance).
    pub fn prepare_with(&self, name: DatasetName, options: DataOptions) -> Result<Prepared> {
        self.check_flags(name)?;
        if name == DatasetName::Folder {
            return self.prepare_folder(options);
        }
        for (flag, given) in [("--strict", self.strict), ("--split-seed", self.split_seed != 0)] {
            if given {
                return Err(Error::invalid(flag, format!("applies to folder data sets, not to {name}")));
            }
        }
        let full = data::load(name, Split::Train, &options)?;
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
        let mut val = None;
        let val_size = self.val_size.of(train.len());
        if val_size > 0 {
            let (t, v) = train.split_tail(val_size)?;
            train = t;
            val = Some(v);
        }
        if let Some(n) = self.train_size {
            if n == 0 {
                return Err(crate::Error::invalid("--train-size", "must be at least 1"));
            }
            if n > train.len() {
                return Err(crate::Error::invalid(
                    "--train-size",
                    format!(
                        "{n} is more than the {} training images {name} has{}",
                        train.len(),
                        if train.len() < total { " after --val-size and --exclude-last" } else { "" }
                    ),
                ));
            }
            train = train.take(n);
        }
        let split = SplitRecord { total, train: train.len(), val_size, exclude_last: self.exclude_last };
        let description = split.describe(name.as_str());
        Ok(Prepared { train, val, split, description, options, folder: None })
    }

    /// A folder's training split: the loader puts the held-out images last (a `val/` subfolder, or
    /// `--val-size`'s stratified share) and `--train-size`'s stratified subset first.
    fn prepare_folder(&self, mut options: DataOptions) -> Result<Prepared> {
        if self.exclude_last > 0 {
            return Err(Error::invalid(
                "--exclude-last",
                "applies to the built-in data sets' fixed order; a folder's held-out images are chosen by --val-size                  (or are its val/ subfolder)",
            ));
        }
        let loaded = data::folder::load(Split::Train, &options)?;
        let total = loaded.data.len();
        let (mut train, val) = match loaded.held_out {
            0 => (loaded.data, None),
            n => {
                let (t, v) = loaded.data.split_tail(n)?;
                (t, Some(v))
            }
        };
        if let Some(n) = self.train_size {
            if n == 0 {
                return Err(Error::invalid("--train-size", "must be at least 1"));
            }
            if n > train.len() {
                return Err(Error::invalid(
                    "--train-size",
                    format!("{n} is more than the {} training images of the folder", train.len()),
                ));
            }
            train = train.take(n);
        }
        let split = SplitRecord { total, train: train.len(), val_size: loaded.held_out, exclude_last: 0 };
        let record = loaded.record;
        let mut description = split.describe(DatasetName::Folder.as_str());
        if record.skipped > 0 {
            description += &format!("; {} unreadable files skipped", record.skipped);
        }
        if loaded.held_out > 0 && !record.splits.iter().any(|s| s == "val") {
            description += &format!("; held out: the same share of each class, --split-seed {}", record.split_seed);
        }
        // The test split and every later load read the images as the training split did.
        options.image = ImageRequest::exactly(record.image);
        Ok(Prepared { train, val, split, description, options, folder: Some(record) })
    }

    /// Refuses data flags that `name` would not use: a folder for a generated set, a generated
    /// size for one read from files.
    pub fn check_flags(&self, name: DatasetName) -> Result<()> {
        let generated = name == DatasetName::Shapes || name.toy().is_some();
        if generated && self.data_dir.is_some() {
            return Err(crate::Error::invalid(
                "--data-dir",
                format!(
                    "{name} is generated and reads no files; name the data set the folder holds with --dataset \
                     (cifar10, mnist, fashion-mnist)"
                ),
            ));
        }
        if !generated && self.generated_size.is_some() {
            return Err(crate::Error::invalid(
                "--generated-size",
                format!("{name} is read from files, not generated; --train-size N keeps the first N training images"),
            ));
        }
        Ok(())
    }

    /// The official test split of `name` (what `knn` scores when there is no `--val-size`).
    pub fn test_split(&self, name: DatasetName) -> Result<Dataset> {
        data::load(name, Split::Test, &self.options())
    }

    /// The held-out images `record` names, taken from `name`'s training split. A generated set
    /// is generated at the recorded size unless `--generated-size` says otherwise.
    pub fn held_out(&self, name: DatasetName, record: &SplitRecord) -> Result<Dataset> {
        self.held_out_with(name, record, self.options())
    }

    /// [`held_out`](Self::held_out) with data options `options` (a checkpoint's class subset, for
    /// instance).
    pub fn held_out_with(&self, name: DatasetName, record: &SplitRecord, mut options: DataOptions) -> Result<Dataset> {
        let generated = name == DatasetName::Shapes || name.toy().is_some();
        // Generated at the size the record counts (a class subset counts fewer than were made:
        // its checkpoint records the size instead).
        if generated && options.classes.is_none() {
            options.generated_size.get_or_insert(record.total);
        }
        let full = data::load(name, Split::Train, &options)?;
        if full.len() != record.total {
            return Err(crate::Error::invalid(
                "--split val",
                format!(
                    "the held-out split was recorded on a {name} training split of {} images, but the one found \
                     here has {}{}",
                    record.total,
                    full.len(),
                    if generated { format!(": pass --generated-size {}", record.total) } else { String::new() }
                ),
            ));
        }
        let idx: Vec<usize> = record.val_range().collect();
        Ok(full.subset(&idx))
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

impl EvalSplit {
    /// How reports name the split: `test` or `held-out`.
    pub fn as_str(self) -> &'static str {
        match self {
            EvalSplit::Test => "test",
            EvalSplit::Val => "held-out",
        }
    }
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
        self.open_verbose(true)
    }

    /// Opens the device, printing which one was chosen when `verbose` is set.
    pub fn open_verbose(&self, verbose: bool) -> Result<candle_core::Device> {
        let dev = crate::app::device::parse_device(&self.device)?;
        if verbose {
            eprintln!("device: {}", crate::app::device::device_name(&dev));
        }
        Ok(dev)
    }
}

/// clap's parser for a count that must be at least 1 (`--top`, `--jobs`): its message names the
/// bound in words, where clap's own ranged parser prints `not in 1..18446744073709551615`.
pub fn at_least_one(s: &str) -> std::result::Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err("expected a whole number of at least 1".to_string()),
    }
}

#[cfg(test)]
mod tests {
    /// Every setting a library error names (a string literal that opens with `` `field` ``) is
    /// written as its flag by [`super::flags_in`]: none reaches the user in the library's words.
    #[test]
    fn every_setting_the_library_names_is_a_flag() {
        fn scan(dir: &std::path::Path, found: &mut Vec<(String, String)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    scan(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for piece in text.split("\"`").skip(1) {
                        let name: String = piece.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                        if !name.is_empty() && piece[name.len()..].starts_with('`') {
                            found.push((name, path.display().to_string()));
                        }
                    }
                }
            }
        }
        let mut found = vec![];
        scan(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut found);
        assert!(found.len() > 20, "the scan finds the library's setting names: {found:?}");
        for (name, file) in found {
            assert!(super::FLAG_FIELDS.contains(&name.as_str()), "`{name}` ({file}) is not in FLAG_FIELDS");
            assert_eq!(super::flags_in(&format!("`{name}`")), format!("--{}", name.replace('_', "-")));
        }
    }
}

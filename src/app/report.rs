//! Scoring a checkpoint on a data set: the report `evaluate` prints.

use crate::app::cli::{DataArgs, EvalSplit};
use crate::checkpoint::Checkpoint;
use crate::checkpoint::CheckpointMeta;
use crate::data::{Dataset, DatasetName, SplitRecord};
use crate::metrics::Confusion;
use crate::tta::Tta;
use crate::{Error, Result};
use candle_core::Device;
use std::path::Path;

/// Accuracy, per-class accuracy and confusion matrix of one checkpoint on one split.
pub struct Report {
    /// The confusion matrix.
    pub confusion: Confusion,
    /// Class names.
    pub classes: Vec<String>,
    /// The test-time augmentation scored with.
    pub tta: Tta,
}

/// The held-out images `evaluate --split val` scores.
pub struct HeldOut {
    /// The images.
    pub data: Dataset,
    /// Where they sit in the data set's training split.
    pub record: SplitRecord,
    /// How many of them the model trained on (0 unless `--allow-train-overlap` let it through).
    pub training_images: usize,
    /// Which images they are, in words, e.g. ` (training images [40000, 50000))`.
    pub note: String,
}

/// The held-out split of `dataset` to score `meta`'s model on.
///
/// Without `--val-size` or `--exclude-last` in `args`, the checkpoint's own held-out images, as
/// it recorded them. With them, the split they carve, refused when it holds images the model
/// trained on unless `allow_train_overlap` is set (the caller then says so beside the figure).
pub fn held_out(
    meta: &CheckpointMeta,
    dataset: DatasetName,
    args: &DataArgs,
    allow_train_overlap: bool,
) -> Result<HeldOut> {
    let options = meta.data_options(&args.options(), dataset)?;
    if dataset == DatasetName::Folder {
        return folder_held_out(meta, args, &options);
    }
    let recorded = meta.split_record().filter(|_| meta.dataset == dataset.as_str());
    let range_note = |r: &SplitRecord| {
        let v = r.val_range();
        format!(" (training images [{}, {}))", v.start, v.end)
    };
    if args.val_size.is_zero() && args.exclude_last == 0 {
        return match recorded {
            Some(r) if r.val_size == 0 => Err(Error::invalid(
                "--split val",
                format!(
                    "the checkpoint was trained on all {} training images of {dataset} and held none out: score \
                     it with --split test",
                    r.train
                ),
            )),
            Some(r) => Ok(HeldOut {
                data: args.held_out_with(dataset, &r, options)?,
                record: r,
                training_images: 0,
                note: range_note(&r),
            }),
            None => Err(Error::invalid(
                "--split val",
                format!(
                    "the checkpoint records no held-out split of {dataset}{}: give one with --val-size N (and \
                     --exclude-last M)",
                    if meta.dataset == dataset.as_str() {
                        String::new()
                    } else {
                        format!(" (it was trained on {})", meta.dataset)
                    }
                ),
            )),
        };
    }
    if args.val_size.is_zero() {
        return Err(Error::invalid("--val-size", "--split val with --exclude-last needs --val-size N too"));
    }
    let mut asked = DataArgs { train_size: None, ..args.clone() };
    if let Some(r) = recorded.filter(|_| dataset.is_generated() && meta.class_filter.is_none()) {
        // A generated set is the recorded size unless told otherwise, so that the split's
        // indices mean the same images as in training.
        asked.generated_size.get_or_insert(r.total);
    }
    let prepared = asked.prepare_with(dataset, meta.data_options(&asked.options(), dataset)?)?;
    let data = prepared.val.ok_or_else(|| Error::invalid("--val-size", "empty validation split"))?;
    let training_images = recorded.map_or(0, |r| r.overlap_with_training(&prepared.split.val_range()));
    if training_images > 0 && !allow_train_overlap {
        let r = recorded.expect("an overlap needs a record");
        let (v, own) = (prepared.split.val_range(), r.val_range());
        return Err(Error::invalid(
            "--val-size",
            format!(
                "--val-size {} --exclude-last {} holds out {dataset} training images [{}, {}), but the checkpoint \
                 trained on [0, {}): {training_images} of them are its own training images and would inflate \
                 the accuracy. {}, or pass --allow-train-overlap to score them anyway",
                args.val_size,
                args.exclude_last,
                v.start,
                v.end,
                r.train,
                if own.is_empty() {
                    "It held no images out: score it with --split test".to_string()
                } else {
                    format!("Leave out --val-size to score its own held-out images [{}, {})", own.start, own.end)
                }
            ),
        ));
    }
    let mut note = range_note(&prepared.split);
    if training_images > 0 {
        note += &format!(", INCLUDING {training_images} IMAGES THE MODEL TRAINED ON");
    }
    Ok(HeldOut { data, record: prepared.split, training_images, note })
}

/// A folder model's held-out split: exactly the files its checkpoint recorded.
fn folder_held_out(meta: &CheckpointMeta, args: &DataArgs, options: &crate::data::DataOptions) -> Result<HeldOut> {
    if !args.val_size.is_zero() || args.exclude_last > 0 {
        return Err(Error::invalid(
            "--val-size",
            "a folder model's held-out split is the files its checkpoint recorded: leave out --val-size and \
             --exclude-last",
        ));
    }
    let f = meta.folder.as_ref().ok_or_else(|| {
        Error::invalid(
            "--split val",
            format!(
                "the checkpoint records no held-out split of folder: it was trained on {}, not on a folder",
                meta.dataset
            ),
        )
    })?;
    if f.held_out.is_empty() {
        return Err(Error::invalid(
            "--split val",
            format!(
                "the checkpoint was trained on every image of {} and held none out: score it with --split test \
                 (its test/ subfolder), or on another folder with --data-dir",
                f.root.display()
            ),
        ));
    }
    let data = crate::data::folder::load_files(f, &f.held_out, &meta.classes, options)?;
    let record = meta.split_record().unwrap_or(SplitRecord {
        total: f.held_out.len(),
        train: 0,
        val_size: f.held_out.len(),
        exclude_last: 0,
    });
    let root = options.data_dir.clone().unwrap_or_else(|| f.root.clone());
    let note = format!(" (the {} files of {} it held out)", f.held_out.len(), root.display());
    Ok(HeldOut { data, record, training_images: 0, note })
}

/// The test split to score `meta`'s model on: `dataset`'s test split (read with the classes and,
/// for a folder model, the image format it records); for a folder data set, its `test/`
/// subfolder, or, when `--data-dir` names another folder than the model's own, every image of that
/// folder (classes among the model's). Returns the images and a note on where they come from.
pub fn test_split(meta: &CheckpointMeta, dataset: DatasetName, args: &DataArgs) -> Result<(Dataset, String)> {
    let mut options = meta.data_options(&args.options(), dataset)?;
    if dataset != DatasetName::Folder {
        return Ok((crate::data::load(dataset, crate::data::Split::Test, &options)?, String::new()));
    }
    let own = meta.folder.as_ref().map(|f| f.root.clone());
    let given = args.data_dir.as_ref().map(|d| std::fs::canonicalize(d).unwrap_or_else(|_| d.clone()));
    match (own, given) {
        (Some(own), Some(dir)) if own != dir => {}
        (Some(_), _) => return Ok((crate::data::load(dataset, crate::data::Split::Test, &options)?, String::new())),
        (None, None) => {
            return Err(Error::invalid("--dataset folder", "needs --data-dir PATH: the folder of images to score"))
        }
        (None, Some(_)) => {}
    }
    // Another folder: every image, read as the model reads images.
    let spec = meta.image_spec()?;
    options.image = crate::data::folder::ImageRequest::exactly(spec);
    let loaded = crate::data::folder::load_as_test(&options, &meta.classes)?;
    let note = format!(" of {}", loaded.record.root.display());
    Ok((loaded.data, note))
}

/// Scores `ck` on `ds` with test-time augmentation `tta`, checking that the data fits the model:
/// the same sample shape and the same classes, in the same order.
pub fn score(ck: &Checkpoint, ds: &Dataset, device: &Device, tta: Tta) -> Result<Report> {
    if ds.classes != ck.meta.classes {
        let list = |c: &[String]| {
            let shown: Vec<&str> = c.iter().take(5).map(String::as_str).collect();
            format!("{}{}", shown.join(", "), if c.len() > 5 { ", ..." } else { "" })
        };
        return Err(Error::invalid(
            "--dataset",
            format!(
                "{}'s classes ({}) are not the checkpoint's ({}; trained on {}): score it on the data set it \
                 was trained on",
                ds.name,
                list(&ds.classes),
                list(&ck.meta.classes),
                ck.meta.dataset
            ),
        ));
    }
    if let Some(img) = ck.meta.image_shape {
        if ds.shape != img {
            return Err(Error::invalid(
                "--dataset",
                format!(
                    "{} has samples of shape {:?} but the checkpoint's model reads {:?} (trained on {})",
                    ds.name, ds.shape, img, ck.meta.dataset
                ),
            ));
        }
    }
    let pre = ck.meta.preprocess();
    let ds = &pre.input(ds, false)?;
    let want = ck.meta.model.input_shape();
    if ds.shape != want {
        return Err(Error::invalid(
            "--dataset",
            format!(
                "{} has samples of shape {:?} but the checkpoint's model takes {:?} (trained on {})",
                ds.name, ds.shape, want, ck.meta.dataset
            ),
        ));
    }
    if ds.num_classes() != ck.meta.model.classes() {
        return Err(Error::invalid(
            "--dataset",
            format!(
                "{} has {} classes but the checkpoint's model has {}",
                ds.name,
                ds.num_classes(),
                ck.meta.model.classes()
            ),
        ));
    }
    let confusion = crate::train::evaluate_with(&ck.model, ds, &pre.normalization, device, tta)?;
    Ok(Report { confusion, classes: ck.meta.classes.clone(), tta })
}

impl Report {
    /// `{"accuracy", "classes", "per_class", "confusion", "n", "tta"}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "accuracy": self.confusion.accuracy(),
            "classes": self.classes,
            "per_class": self.confusion.per_class(),
            "confusion": self.confusion.counts,
            "n": self.confusion.total(),
            "tta": self.tta.as_str(),
        })
    }

    /// The human-readable report; `note` follows the split's name (e.g. which images it holds).
    pub fn render(&self, weights: &Path, dataset: DatasetName, split: EvalSplit, note: &str) -> String {
        let mut s = format!(
            "{}: {dataset} {} split{note}, {} images: accuracy {:.2}%{}\n\nper class:\n",
            weights.display(),
            split.as_str(),
            self.confusion.total(),
            100.0 * self.confusion.accuracy(),
            match self.tta {
                Tta::None => "",
                Tta::Flip => " (test-time augmentation: mean of each image and its mirror image)",
                Tta::FlipTranslate => {
                    " (test-time augmentation: six views, mirrored and moved by one pixel, logits averaged)"
                }
            }
        );
        for (name, acc) in self.classes.iter().zip(self.confusion.per_class()) {
            s += &format!("  {name:>12}  {:6.2}%\n", 100.0 * acc);
        }
        s += "\nconfusion matrix (rows: true class, columns: predicted):\n";
        s += &self.confusion.render(&self.classes);
        s
    }
}

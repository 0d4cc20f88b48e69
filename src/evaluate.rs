//! Scoring a checkpoint on a data set: the report `evaluate` prints.

use crate::checkpoint::Checkpoint;
use crate::cli::EvalSplit;
use crate::data::{Dataset, DatasetName};
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

/// Scores `ck` on `ds` with test-time augmentation `tta`, checking that the data fits the model.
pub fn score(ck: &Checkpoint, ds: &Dataset, device: &Device, tta: Tta) -> Result<Report> {
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
    let ds = &crate::run::model_input(ds, ck.meta.features.as_ref(), false)?;
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
    let confusion = crate::train::evaluate_with(&ck.model, ds, &ck.meta.normalization, device, tta)?;
    Ok(Report { confusion, classes: ck.meta.classes.clone(), tta })
}

impl Report {
    /// `{"accuracy", "per_class", "confusion", "n", "tta"}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "accuracy": self.confusion.accuracy(),
            "per_class": self.confusion.per_class(),
            "confusion": self.confusion.counts,
            "n": self.confusion.total(),
            "tta": self.tta.as_str(),
        })
    }

    /// The human-readable report.
    pub fn render(&self, weights: &Path, dataset: DatasetName, split: EvalSplit) -> String {
        let mut s = format!(
            "{}: {dataset} {split:?} split, {} images: accuracy {:.2}%{}\n\nper class:\n",
            weights.display(),
            self.confusion.total(),
            100.0 * self.confusion.accuracy(),
            match self.tta {
                Tta::None => "",
                Tta::Flip => " (test-time augmentation: mean of each image and its mirror image)",
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

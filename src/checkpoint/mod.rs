//! Self-describing safetensors checkpoints, written atomically.
//!
//! The tensors are the model's parameters under their model names (`fc.weight`, ...) and, in
//! resumable checkpoints, the optimizer state under `optim.<param>.<slot>`. The metadata key
//! `kindling` holds [`CheckpointMeta`] as JSON: model configuration, class names, normalization,
//! data set, epoch, metrics and training configuration, so `evaluate` and `predict` rebuild the
//! model from the file alone. Files are written to a temporary name, synced, then renamed, so a
//! crash never leaves a truncated checkpoint behind.

mod checkpointer;
pub use checkpointer::Checkpointer;

use crate::data::Normalization;
use crate::models::{Model, ModelConfig, Network};
use crate::params::Params;
use crate::train::config::{EpochRecord, TrainConfig};
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Prefix of optimizer-state tensors.
pub const OPTIM_PREFIX: &str = "optim.";
/// The metadata key holding [`CheckpointMeta`].
pub const META_KEY: &str = "kindling";

/// Everything a checkpoint says about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// kindling's version that wrote the file.
    pub kindling_version: String,
    /// The model's configuration.
    pub model: ModelConfig,
    /// Class names in label order.
    pub classes: Vec<String>,
    /// Input normalization computed on the training split.
    pub normalization: Normalization,
    /// Data set trained on.
    pub dataset: String,
    /// Epochs completed.
    pub epoch: usize,
    /// Metrics of the last completed epoch.
    pub metrics: Option<EpochRecord>,
    /// The training configuration (needed by `--resume`).
    pub train: Option<TrainConfig>,
    /// The data split used, in words: [`SplitRecord::describe`](crate::data::SplitRecord::describe).
    pub split: Option<String>,
    /// The same split as numbers: which training images the model saw and which it held out
    /// (files written before this field have only [`split`](Self::split); see
    /// [`split_record`](Self::split_record)).
    #[serde(default)]
    pub data_split: Option<crate::data::SplitRecord>,
    /// The command line that produced the file.
    pub command: Option<String>,
    /// Hand-made features computed from the images before the model (`--features`).
    #[serde(default)]
    pub features: Option<crate::features::FeatureConfig>,
    /// Shape `[C, H, W]` of the images the model (or its features) reads.
    #[serde(default)]
    pub image_shape: Option<[usize; 3]>,
    /// Wall-clock seconds of training so far (across `--resume`s), evaluation between epochs
    /// included.
    #[serde(default)]
    pub wall_seconds: Option<f64>,
    /// The machine that trained it ([`crate::support::machine::describe`]).
    #[serde(default)]
    pub machine: Option<String>,
    /// The accuracy measured on this very file, written by `evaluate --record`.
    #[serde(default)]
    pub evaluation: Option<Evaluation>,
    /// Accuracies measured on this file on other splits than [`evaluation`](Self::evaluation)'s,
    /// written by `evaluate --record-extra`: the official test score of a CIFAR-10 model tuned on
    /// held-out batch 5, for instance. Reported beside the main figure, never used in its place.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_evaluations: Vec<Evaluation>,
    /// The hyper-parameter search this model won, when `sweep --save-best` wrote it: its space and
    /// every trial's result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<serde_json::Value>,
    /// How an image becomes the model's input: size, resize policy, channels. Files written
    /// before it was recorded squash images to [`image_shape`](Self::image_shape); see
    /// [`image_spec`](Self::image_spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_image: Option<crate::data::image::ImageSpec>,
    /// The folder a folder data set's model was trained on: its path, classes, image format,
    /// skipped files and held-out files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<crate::data::folder::FolderRecord>,
    /// `--classes`: the subset of the data set's classes the model was trained on (its
    /// [`classes`](Self::classes) are these names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_filter: Option<Vec<String>>,
    /// The size a generated data set was generated at (before [`class_filter`](Self::class_filter)),
    /// when it was not its default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_size: Option<usize>,
    /// The checkpoint a fine-tuned model started from, and what of it was trained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Parent>,
}

/// What of a pretrained network a fine-tuning run trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Freeze {
    /// Every layer trains (the pretrained ones at their own, usually smaller, learning rate).
    #[default]
    None,
    /// Only the last layer trains; the layers below it keep the pretrained values (a linear probe).
    Features,
}

impl Freeze {
    /// The name on the command line and in checkpoints.
    pub fn as_str(self) -> &'static str {
        match self {
            Freeze::None => "none",
            Freeze::Features => "features",
        }
    }
}

/// The checkpoint a fine-tuned model started from: its file, its content, its classes, and what the
/// fine-tuning trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parent {
    /// The parent's file name, as given.
    pub file: String,
    /// SHA-256 of the parent file's bytes, in hex ([`file_sha256`]).
    pub sha256: String,
    /// The parent's class names.
    pub classes: Vec<String>,
    /// Whether the last layer was kept (the same classes) or replaced by a new one.
    pub head_kept: bool,
    /// What trained.
    pub freeze: Freeze,
    /// The pretrained layers' learning rate, as a multiple of the run's (when they trained).
    pub pretrained_lr: f64,
}

/// SHA-256 of the file at `path`, in lower-case hex.
pub fn file_sha256(path: &Path) -> Result<String> {
    Ok(sha256_hex(&read_file(path)?))
}

/// SHA-256 of `bytes`, in lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl CheckpointMeta {
    /// The data set the model was trained on, as a [`DatasetName`](crate::data::DatasetName).
    pub fn dataset_name(&self) -> std::result::Result<crate::data::DatasetName, String> {
        serde_json::from_value(serde_json::Value::String(self.dataset.clone()))
            .map_err(|_| format!("unknown data set '{}'", self.dataset))
    }

    /// What stands between a stored image and this model's input: the recorded features and
    /// normalization, as one object.
    pub fn preprocess(&self) -> crate::preprocess::Preprocess {
        crate::preprocess::Preprocess { features: self.features.clone(), normalization: self.normalization.clone() }
    }

    /// The test-time augmentation the recorded accuracy was measured with (none if no accuracy
    /// is recorded): what `evaluate`, `predict` and [`Classifier`](crate::Classifier) apply by
    /// default.
    pub fn recorded_tta(&self) -> crate::tta::Tta {
        self.evaluation.as_ref().map(|e| e.tta).unwrap_or_default()
    }

    /// Which training images the model saw and which it held out, from [`data_split`](Self::data_split)
    /// or, in older files, from the words of [`split`](Self::split).
    pub fn split_record(&self) -> Option<crate::data::SplitRecord> {
        self.data_split.or_else(|| self.split.as_deref().and_then(crate::data::SplitRecord::parse))
    }

    /// How any image is made the model's input: the recorded [`input_image`](Self::input_image),
    /// else (older files) the image shape, squashed; an error for a model of 2-D points.
    pub fn image_spec(&self) -> Result<crate::data::image::ImageSpec> {
        let shape = self.image_input()?;
        Ok(self.input_image.filter(|s| s.shape() == shape).unwrap_or_else(|| {
            crate::data::image::ImageSpec::of_shape(shape, crate::data::image::ResizePolicy::Squash)
        }))
    }

    /// `base`, for reading data set `dataset`, with what the checkpoint records of its data filled
    /// in where `base` leaves it open: for its own data set, the `--classes` subset; for a folder,
    /// the folder's path (`data_dir`), image size, resize policy and channels. An image format that
    /// `base` gives and that differs from the recorded one is an error: the model reads only its
    /// own (a class subset that differs is refused when the data are scored, as any other data set
    /// of other classes).
    pub fn data_options(
        &self,
        base: &crate::data::DataOptions,
        dataset: crate::data::DatasetName,
    ) -> Result<crate::data::DataOptions> {
        let mut opts = base.clone();
        if self.dataset == dataset.as_str() {
            if base.classes.is_none() {
                opts.classes = self.class_filter.clone();
            }
            if base.generated_size.is_none() {
                opts.generated_size = self.generated_size;
            }
        }
        if let Some(f) = self.folder.as_ref().filter(|_| dataset == crate::data::DatasetName::Folder) {
            let spec = self.image_spec().unwrap_or(f.image);
            let asked = base.image;
            let differs = asked.size.is_some_and(|s| s != (spec.width, spec.height))
                || asked.resize.is_some_and(|r| r != spec.resize)
                || asked.channels.is_some_and(|c| c != spec.channels);
            if differs {
                return Err(Error::invalid(
                    "`image_size`",
                    format!(
                        "the model reads images as {}: leave out `image_size` and `resize` to use that",
                        spec.describe()
                    ),
                ));
            }
            opts.image = crate::data::folder::ImageRequest::exactly(spec);
            if opts.data_dir.is_none() {
                opts.data_dir = Some(f.root.clone());
            }
        }
        Ok(opts)
    }

    /// The `[C, H, W]` images the model reads (before any hand-made features), or an error that
    /// says so when the model reads 2-D points, which no image can be turned into.
    pub fn image_input(&self) -> Result<[usize; 3]> {
        let shape = self.image_shape.unwrap_or(self.model.input_shape());
        let is_image = matches!(shape[0], 1 | 3) && shape[1] > 1 && shape[2] > 1;
        if is_image {
            Ok(shape)
        } else {
            Err(Error::invalid(
                "`weights`",
                format!(
                    "the checkpoint's model reads {} (trained on {}), not images: it cannot classify or show \
                     an image; draw its decision boundary with the toy2d example instead",
                    if shape == [2, 1, 1] { "2-D points".to_string() } else { format!("samples of shape {shape:?}") },
                    self.dataset
                ),
            ))
        }
    }
}

/// An accuracy measured on a checkpoint, kept in its metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Data set scored.
    pub dataset: String,
    /// `test` (the official test split) or `val` (the last `val_size` training images after
    /// `exclude_last`, as `--split val --val-size N --exclude-last M`).
    pub split: String,
    /// `--val-size` of a `val` split (0 for `test`).
    #[serde(default)]
    pub val_size: usize,
    /// `--exclude-last` of a `val` split.
    #[serde(default)]
    pub exclude_last: usize,
    /// Images scored.
    pub images: usize,
    /// Fraction correct.
    pub accuracy: f64,
    /// Test-time augmentation used (`evaluate` and `predict` apply it by default).
    #[serde(default)]
    pub tta: crate::tta::Tta,
    /// The command that measured it.
    pub command: String,
}

/// A loaded checkpoint: its metadata, the rebuilt model and its parameters, and any optimizer state.
#[derive(Clone)]
pub struct Checkpoint {
    /// The metadata.
    pub meta: CheckpointMeta,
    /// The model, ready to run.
    pub model: Model,
    /// The model's parameters (trainable, for `--resume`).
    pub params: Params,
    /// Optimizer state by `<param>.<slot>` (empty for weights-only files).
    pub optimizer_state: HashMap<String, Tensor>,
}

/// Writes `params` (and `optimizer_state`) with `meta` to `path`, atomically.
pub fn save(path: &Path, meta: &CheckpointMeta, params: &Params, optimizer_state: &[(String, Tensor)]) -> Result<()> {
    let mut tensors: Vec<(String, Tensor)> = params
        .named_vars()
        .into_iter()
        .map(|(n, v)| (n, v.as_tensor().to_device(&Device::Cpu)))
        .map(|(n, t)| Ok((n, t?)))
        .collect::<Result<_>>()?;
    for (n, t) in optimizer_state {
        tensors.push((format!("{OPTIM_PREFIX}{n}"), t.to_device(&Device::Cpu)?));
    }
    write_tensors(path, meta, &tensors)
}

/// Writes CPU `tensors` under their names with `meta` to `path`, atomically.
pub fn write_tensors(path: &Path, meta: &CheckpointMeta, tensors: &[(String, Tensor)]) -> Result<()> {
    let mut metadata = HashMap::new();
    metadata.insert(META_KEY.to_string(), serde_json::to_string(meta).expect("metadata serializes"));
    let bytes = safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(metadata))
        .map_err(|e| Error::checkpoint(path, format!("cannot serialize: {e}")))?;
    write_atomic(path, &bytes)
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    replace_file(path, bytes).map_err(|problem| Error::checkpoint(path, problem))
}

/// [`write_atomic`] for any file: the folder is created if needed, the bytes go to a temporary
/// name beside `path`, are synced, then renamed over `path`; on failure the temporary file is
/// removed and the error says what could not be done.
pub fn replace_file(path: &Path, bytes: &[u8]) -> std::result::Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create folder {}: {e}", dir.display()))?;
    }
    let tmp = tmp_path(path);
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write: {e}")
    })
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".{}.tmp", std::process::id()));
    path.with_file_name(name)
}

/// Reads only the metadata of a checkpoint.
pub fn read_meta(path: &Path) -> Result<CheckpointMeta> {
    let bytes = read_file(path)?;
    meta_from_bytes(path, &bytes)
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    if path.is_dir() {
        return Err(Error::checkpoint(path, "is a directory, expected a .safetensors file"));
    }
    std::fs::read(path).map_err(|e| Error::checkpoint(path, format!("cannot read: {e}")))
}

fn meta_from_bytes(path: &Path, bytes: &[u8]) -> Result<CheckpointMeta> {
    let image = if bytes.starts_with(b"\x89PNG") {
        Some("a PNG image")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("a JPEG image")
    } else {
        None
    };
    if let Some(what) = image {
        return Err(Error::checkpoint(
            path,
            format!(
                "is {what}, not a checkpoint: `weights` takes a .safetensors file written by train (or one of \
                 weights/), and predict takes images after the flags"
            ),
        ));
    }
    let (_, st_meta) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| {
        Error::checkpoint(path, format!("not a safetensors file ({e}); was it truncated or is it another format?"))
    })?;
    let json =
        st_meta.metadata().as_ref().and_then(|m| m.get(META_KEY)).ok_or_else(|| {
            Error::checkpoint(path, "has no kindling metadata: it was not written by kindling's train")
        })?;
    serde_json::from_str(json).map_err(|e| Error::checkpoint(path, format!("unreadable kindling metadata: {e}")))
}

/// Loads a checkpoint and rebuilds its model on `device`.
pub fn load(path: &Path, device: &Device) -> Result<Checkpoint> {
    load_bytes(path, &read_file(path)?, device)
}

/// Loads a checkpoint from its bytes, read from `path` (which only names it in errors), and
/// rebuilds its model on `device`: for callers that need the file's bytes too (to hash them).
pub fn load_bytes(path: &Path, bytes: &[u8], device: &Device) -> Result<Checkpoint> {
    let meta = meta_from_bytes(path, bytes)?;
    let tensors = candle_core::safetensors::load_buffer(bytes, device)
        .map_err(|e| Error::checkpoint(path, format!("tensors unreadable: {e}")))?;
    let Network { model, params, .. } = Network::new(&meta.model, 0, device)?;
    for (name, var) in params.named_vars() {
        let t = tensors.get(&name).ok_or_else(|| {
            Error::checkpoint(
                path,
                format!("tensor {name} missing: the file does not match its own model configuration"),
            )
        })?;
        if t.shape() != var.shape() {
            return Err(Error::checkpoint(
                path,
                format!("tensor {name} has shape {:?} but the model needs {:?}", t.dims(), var.dims()),
            ));
        }
        var.set(&t.to_dtype(DType::F32)?)?;
    }
    let optimizer_state =
        tensors.into_iter().filter_map(|(n, t)| n.strip_prefix(OPTIM_PREFIX).map(|s| (s.to_string(), t))).collect();
    Ok(Checkpoint { meta, model, params, optimizer_state })
}

/// The history file of the run that wrote `path`: `PATH.history.json` beside `--save PATH`,
/// whether `path` is `PATH` itself or its `.last` / `.best` sibling.
pub fn history_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let stem = [".last.safetensors", ".best.safetensors", ".safetensors"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(&name)
        .to_string();
    path.with_file_name(format!("{stem}.history.json"))
}

/// Paths written next to `--save PATH`: the resumable last epoch, the best validation epoch and
/// the history.
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "model".into());
    path.with_file_name(format!("{stem}.{suffix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_beside_each_checkpoint_of_a_run() {
        let want = Path::new("runs/m.history.json");
        for p in ["runs/m.safetensors", "runs/m.last.safetensors", "runs/m.best.safetensors"] {
            assert_eq!(history_path(Path::new(p)), want, "{p}");
        }
    }
}

//! A whole training run as the `train` example performs it: compute features if asked, build the
//! model the configuration names, fit it, checkpoint it, and score it on the test split when
//! there is one.

use crate::checkpoint::{self, CheckpointMeta};
use crate::cli::Prepared;
use crate::data::{self, Dataset, DatasetName, Normalization, Split};
use crate::features::{self, FeatureConfig};
use crate::models::{Model, ModelConfig, ModelKind, ModelOptions};
use crate::params::Params;
use crate::train::{self, EpochRecord, Outputs, ResumeFrom, TrainConfig};
use crate::{Error, Result};
use candle_core::{DType, Device};
use std::path::Path;

/// What to train.
#[derive(Debug, Clone)]
pub struct Run {
    /// The data set.
    pub dataset: DatasetName,
    /// The model kind.
    pub model: ModelKind,
    /// Architecture options.
    pub options: ModelOptions,
    /// Features computed from the images (`None`: raw pixels).
    pub features: Option<FeatureConfig>,
    /// Hyper-parameters.
    pub train: TrainConfig,
}

/// A checkpoint to continue from.
pub struct Resume {
    /// The model with its trained parameters.
    pub model: Model,
    /// Its parameters.
    pub params: Params,
    /// Its configuration.
    pub model_config: ModelConfig,
    /// The normalization it was trained with.
    pub normalization: Normalization,
    /// Optimizer state, epoch count and history.
    pub from: ResumeFrom,
    /// The images it trained on and held out, as recorded.
    pub split: Option<crate::data::SplitRecord>,
}

/// What a run produced.
pub struct RunReport {
    /// Per-epoch records.
    pub history: Vec<EpochRecord>,
    /// Training seconds.
    pub seconds: f64,
    /// Accuracy on the official test split, when it is available locally.
    pub test_acc: Option<f64>,
    /// Number of test samples.
    pub test_n: usize,
    /// Why there is no test score, when there is none.
    pub no_test_reason: Option<String>,
}

/// Reads a resumable checkpoint (`.last.safetensors`).
pub fn from_resume(path: &Path, device: &Device) -> Result<(Run, Resume)> {
    let ck = checkpoint::load(path, device)?;
    let train =
        ck.meta.train.clone().ok_or_else(|| Error::checkpoint(path, "holds no training configuration to resume"))?;
    if ck.optimizer_state.is_empty() && train.optimizer.kind != crate::optim::OptimizerKind::Sgd {
        return Err(Error::checkpoint(
            path,
            "holds no optimizer state: resume from the .last.safetensors file written beside the checkpoint",
        ));
    }
    let dataset = dataset_of(&ck.meta, path)?;
    let history_path =
        path.with_file_name(path.file_name().unwrap().to_string_lossy().replace(".last.safetensors", ".history.json"));
    let history: Vec<EpochRecord> = std::fs::read_to_string(&history_path)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .map(|h: Vec<EpochRecord>| h.into_iter().take(ck.meta.epoch).collect())
        .unwrap_or_default();
    let run = Run {
        dataset,
        model: ck.meta.model.kind(),
        options: crate::defaults::model_options(dataset, ck.meta.model.kind()),
        features: ck.meta.features.clone(),
        train,
    };
    let resume = Resume {
        split: ck.meta.split_record(),
        model: ck.model,
        params: ck.params,
        model_config: ck.meta.model.clone(),
        normalization: ck.meta.normalization.clone(),
        from: ResumeFrom {
            epoch: ck.meta.epoch,
            optimizer_state: ck.optimizer_state,
            history,
            wall_seconds: ck.meta.wall_seconds.unwrap_or(0.0),
        },
    };
    Ok((run, resume))
}

/// The data set a checkpoint was trained on.
pub fn dataset_of(meta: &CheckpointMeta, path: &Path) -> Result<DatasetName> {
    serde_json::from_value(serde_json::Value::String(meta.dataset.clone()))
        .map_err(|_| Error::checkpoint(path, format!("unknown data set '{}'", meta.dataset)))
}

/// The model's input for `ds`: its features when `features` is set, else the images themselves.
pub fn model_input(ds: &Dataset, features: Option<&FeatureConfig>, progress: bool) -> Result<Dataset> {
    match features {
        Some(f) => features::transform(ds, f, progress),
        None => Ok(ds.clone()),
    }
}

/// Trains, saves to `save` (and its siblings), and scores on the test split if it is available
/// without a download.
#[allow(clippy::too_many_arguments)]
pub fn train(
    run: &Run,
    data: &Prepared,
    device: &Device,
    save: &Path,
    resume: Option<Resume>,
    command: &str,
    verbose: bool,
) -> Result<RunReport> {
    let image_shape = data.train.shape;
    let f = run.features.as_ref();
    if run.model == ModelKind::Cnn {
        if f.is_some() {
            return Err(Error::invalid(
                "--features",
                "a CNN reads images, and hand-made features are a vector per image: train the features with \
                 --model linear or mlp, or the CNN without --features",
            ));
        }
        if run.dataset.toy().is_some() {
            return Err(Error::invalid(
                "--model cnn",
                format!("{} is a set of 2-D points, not images: a CNN cannot read it; use --model linear or mlp", run.dataset),
            ));
        }
    }
    let t0 = std::time::Instant::now();
    let train_set = model_input(&data.train, f, verbose)?;
    let val_set = data.val.as_ref().map(|v| model_input(v, f, verbose)).transpose()?;
    if verbose && f.is_some() {
        eprintln!("features: {} values per image, extracted in {:.1}s", train_set.shape[0], t0.elapsed().as_secs_f64());
    }
    let (model, params, model_cfg, norm, from) = match resume {
        Some(r) => {
            if r.model_config.input_shape() != train_set.shape || r.model_config.classes() != train_set.num_classes() {
                return Err(Error::invalid("--resume", "the checkpoint's input shape or classes differ from the data"));
            }
            (r.model, r.params, r.model_config, r.normalization, Some(r.from))
        }
        None => {
            let cfg = ModelConfig::new(run.model, train_set.shape, train_set.num_classes(), &run.options);
            let params = Params::new(run.train.seed);
            let model = Model::new(&cfg, params.var_builder(DType::F32, device))?;
            (model, params, cfg, Normalization::fit(&train_set), None)
        }
    };
    if verbose {
        eprintln!(
            "model {}: {} parameters; {} training images, {} validation",
            run.model.as_str(),
            params.count(),
            train_set.len(),
            val_set.as_ref().map_or(0, |v| v.len())
        );
    }
    let meta = CheckpointMeta {
        kindling_version: env!("CARGO_PKG_VERSION").to_string(),
        model: model_cfg,
        classes: train_set.classes.clone(),
        normalization: norm.clone(),
        dataset: run.dataset.as_str().to_string(),
        epoch: 0,
        metrics: None,
        train: Some(run.train.clone()),
        split: Some(data.description.clone()),
        data_split: Some(data.split),
        command: Some(command.to_string()),
        features: run.features.clone(),
        image_shape: Some(image_shape),
        wall_seconds: None,
        machine: Some(crate::machine::describe()),
        evaluation: None,
    };
    let out = Outputs { save: Some(save.to_path_buf()), meta: Some(meta), verbose };
    let report =
        train::fit(&model, &params, &train_set, val_set.as_ref(), &norm, &run.train, device, &out, from, |_| true)?;
    let opts = data::DataOptions { allow_download: false, ..data.options.clone() };
    let (test_acc, test_n, no_test_reason) = match data::load(run.dataset, Split::Test, &opts) {
        Ok(test) => {
            let test = model_input(&test, f, false)?;
            (Some(train::evaluate(&model, &test, &norm, device)?.accuracy()), test.len(), None)
        }
        Err(e) => (None, 0, Some(e.to_string())),
    };
    Ok(RunReport { history: report.history, seconds: report.seconds, test_acc, test_n, no_test_reason })
}

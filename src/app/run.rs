//! A whole training run as the `train` example performs it: compute features if asked, build the
//! model the configuration names, fit it, checkpoint it, and score it on the test split when
//! there is one.

use crate::checkpoint::{self, CheckpointMeta, Checkpointer, Freeze};
use crate::data::{self, DatasetName, Normalization, Prepared, Split};
use crate::models::{Architecture, ModelConfig, Network};
use crate::preprocess::Preprocess;
use crate::presets::Run;
use crate::train::{self, EpochRecord, ResumeFrom, Session, TrainData};
use crate::{Error, Result};
use candle_core::Device;
use std::path::Path;

/// Where `train` saves `run` on `data` without `--save`: [`Run::default_save_path`], with a
/// folder data set named after its folder (`runs/<folder name>-<model>.safetensors`).
pub fn default_save_path(run: &Run, data: &Prepared) -> std::path::PathBuf {
    let path = run.default_save_path();
    match (&data.folder, path.file_name()) {
        (Some(f), Some(name)) => {
            let folder = f.root.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            let name = name.to_string_lossy().replacen(run.dataset.as_str(), &folder, 1);
            path.with_file_name(name)
        }
        _ => path,
    }
}

/// Where a run writes, and how much it says.
#[derive(Debug, Clone)]
pub struct Output {
    /// The final checkpoint (its siblings `.last`, `.best`, `.history.json` go beside it).
    pub save: std::path::PathBuf,
    /// The command line, recorded in the checkpoint.
    pub command: String,
    /// Progress bars and one line per epoch.
    pub verbose: bool,
}

/// A checkpoint to continue from.
pub struct Resume {
    /// The model with its trained parameters.
    pub network: Network,
    /// The normalization it was trained with.
    pub normalization: Normalization,
    /// Optimizer state, epoch count and history.
    pub from: ResumeFrom,
    /// The images it trained on and held out, as recorded.
    pub split: Option<crate::data::SplitRecord>,
    /// Its metadata (the data it records: split, folder, classes, image format).
    pub meta: CheckpointMeta,
}

/// What a run produced.
pub struct RunReport {
    /// Per-epoch records.
    pub history: Vec<EpochRecord>,
    /// Training seconds.
    pub seconds: f64,
    /// Accuracy on the official test split, when it is available locally and the run has no
    /// held-out split (a run with one is a tuning run).
    pub test_acc: Option<f64>,
    /// Number of test samples.
    pub test_n: usize,
    /// Why there is no test score, when there is none.
    pub no_test_reason: Option<String>,
    /// A recipe's held-out accuracy with its test-time augmentation (the epochs' figures have
    /// none), when there is a held-out split.
    pub val_tta: Option<(crate::tta::Tta, f64)>,
}

impl RunReport {
    /// One line on the run: model, data, the last epoch's accuracies, time, file.
    pub fn summary(&self, run: &Run, save: &Path) -> String {
        let pct = |a: f64| format!("{:.2}%", 100.0 * a);
        let last = self.history.last();
        let epochs = last.map_or(0, |r| r.epoch);
        format!(
            "{} {} ({} loss): running train accuracy {}, {} after {epochs} epoch{} in {:.1}s; saved {}",
            run.dataset,
            run.model.kind().as_str(),
            run.train.loss.as_str(),
            last.map_or("-".into(), |r| pct(r.train_acc)),
            match last.and_then(|r| r.val_acc) {
                Some(v) => format!("held-out accuracy {}", pct(v)),
                None => "no held-out split".to_string(),
            },
            if epochs == 1 { "" } else { "s" },
            self.seconds,
            save.display()
        )
    }
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
    let history_path = checkpoint::history_path(path);
    let history: Vec<EpochRecord> = std::fs::read_to_string(&history_path)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .map(|h: Vec<EpochRecord>| h.into_iter().take(ck.meta.epoch).collect())
        .unwrap_or_default();
    let run = Run {
        dataset,
        model: Architecture::of(&ck.meta.model),
        features: ck.meta.features.clone(),
        train,
        tta: ck.meta.recorded_tta(),
        recipe: None,
        fine_tune: None,
    };
    let mut network = Network::loaded(ck.model, ck.params, ck.meta.model.clone());
    if ck.meta.parent.as_ref().is_some_and(|p| p.freeze == Freeze::Features) {
        network.freeze_features()?; // a linear probe goes on as one
    }
    let resume = Resume {
        split: ck.meta.split_record(),
        meta: ck.meta.clone(),
        network,
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
    meta.dataset_name().map_err(|e| Error::checkpoint(path, e))
}

/// The metadata of a checkpoint of `run` on `data`: the model `config`, the class names, the
/// normalization `norm` of its input, the split, the command, the machine (epoch and metrics are
/// filled in as training goes).
pub fn checkpoint_meta(
    run: &Run,
    data: &Prepared,
    config: &ModelConfig,
    norm: &Normalization,
    command: &str,
) -> CheckpointMeta {
    CheckpointMeta {
        kindling_version: env!("CARGO_PKG_VERSION").to_string(),
        model: config.clone(),
        classes: data.train.classes.clone(),
        normalization: norm.clone(),
        dataset: run.dataset.as_str().to_string(),
        epoch: 0,
        metrics: None,
        train: Some(run.train.clone()),
        split: Some(data.description.clone()),
        data_split: Some(data.split),
        command: Some(command.to_string()),
        features: run.features.clone(),
        image_shape: Some(data.train.shape),
        wall_seconds: None,
        machine: Some(crate::support::machine::describe()),
        evaluation: None,
        search: None,
        parent: None,
        extra_evaluations: Vec::new(),
        input_image: image_spec(run, data),
        folder: data.folder.clone(),
        // The kept classes by name, whichever way --classes gave them.
        class_filter: data.options.classes.is_some().then(|| data.train.classes.clone()),
        generated_size: data.options.generated_size.filter(|_| run.dataset.is_generated()),
    }
}

/// How an image becomes the input of a model trained on `data`: the folder's recorded format, or
/// the built-in set's image shape, squashed (none for 2-D points).
fn image_spec(run: &Run, data: &Prepared) -> Option<crate::data::image::ImageSpec> {
    if let Some(f) = &data.folder {
        return Some(f.image);
    }
    let shape = data.train.shape;
    (run.dataset.toy().is_none() && matches!(shape[0], 1 | 3) && shape[1] > 1)
        .then(|| crate::data::image::ImageSpec::of_shape(shape, crate::data::image::ResizePolicy::Squash))
}

/// Trains, saves to `out.save` (and its siblings), and scores on the test split if it is
/// available without a download.
pub fn execute(run: &Run, data: &Prepared, device: &Device, out: &Output, resume: Option<Resume>) -> Result<RunReport> {
    let verbose = out.verbose;
    run.validate()?;
    let t0 = std::time::Instant::now();
    let mut train_cfg = run.train.clone();
    let mut parent = None;
    let (inputs, net, from) = match resume {
        Some(r) => {
            let pre = Preprocess { features: run.features.clone(), normalization: r.normalization };
            let inputs = TrainData::with(pre, &data.train, data.val.as_ref(), verbose)?;
            let c = &r.network.config;
            if c.input_shape() != inputs.train.shape || c.classes() != inputs.train.num_classes() {
                return Err(Error::invalid("--resume", "the checkpoint's input shape or classes differ from the data"));
            }
            (inputs, r.network, Some(r.from))
        }
        None => match &run.fine_tune {
            Some(ft) => {
                let start = ft.start(&data.train, data.val.as_ref(), run.train.seed, device, verbose)?;
                if verbose {
                    eprintln!(
                        "fine-tuning {}: {}; {}",
                        ft.from.display(),
                        if start.parent.head_kept {
                            "its last layer kept (the same classes)"
                        } else {
                            "a new last layer"
                        },
                        match ft.freeze {
                            Freeze::Features => "only the last layer trains (features frozen)".to_string(),
                            Freeze::None =>
                                format!("every layer trains, the pretrained ones at {}x the rate", ft.pretrained_lr),
                        }
                    );
                }
                train_cfg.groups = start.groups.into_iter().chain(train_cfg.groups).collect();
                parent = Some(start.parent);
                (start.data, start.network, None)
            }
            None => {
                let inputs = TrainData::measure(&data.train, data.val.as_ref(), run.features.clone(), verbose)?;
                let net = inputs.network(&run.model, run.train.seed, device)?;
                (inputs, net, None)
            }
        },
    };
    if verbose && run.features.is_some() {
        eprintln!(
            "features: {} values per image, extracted in {:.1}s",
            inputs.train.shape[0],
            t0.elapsed().as_secs_f64()
        );
    }
    if verbose {
        eprintln!(
            "model {}: {} parameters; {} training images, {} validation",
            run.model.kind().as_str(),
            net.params.count(),
            inputs.train.len(),
            inputs.val.as_ref().map_or(0, |v| v.len())
        );
    }
    let norm = &inputs.preprocess.normalization;
    let mut meta = checkpoint_meta(run, data, &net.config, norm, &out.command);
    meta.train = Some(train_cfg.clone());
    meta.parent = parent;
    let best_so_far = from.as_ref().and_then(|f| f.history.iter().filter_map(|r| r.val_acc).reduce(f64::max));
    let session = Session::new().verbose(verbose).resume(from).hook(Checkpointer::new(&out.save, meta, best_so_far));
    let report = train::fit(&net, &inputs, &train_cfg, device, session)?;
    // A run with a held-out split is a tuning run: its test score is not printed, so that nothing
    // is chosen by it. A final run (no --val-size) is scored once on the test split.
    let opts = data::DataOptions { allow_download: false, ..data.options.clone() };
    let (test_acc, test_n, no_test_reason) = if data.val.is_some() {
        let why = "a run with a held-out split (--val-size) is a tuning run, scored on that split only; train the \
                   final model without --val-size, or score this one with evaluate --split test";
        (None, 0, Some(why.to_string()))
    } else {
        match data::load(run.dataset, Split::Test, &opts) {
            Ok(test) => {
                let test = inputs.preprocess.input(&test, false)?;
                (Some(train::evaluate_with(&net.model, &test, norm, device, run.tta)?.accuracy()), test.len(), None)
            }
            Err(e) => (None, 0, Some(e.to_string())),
        }
    };
    let val_tta = match inputs.val.as_ref() {
        Some(v) if !v.is_empty() && run.tta != crate::tta::Tta::None => {
            Some((run.tta, train::evaluate_with(&net.model, v, norm, device, run.tta)?.accuracy()))
        }
        _ => None,
    };
    Ok(RunReport { history: report.history, seconds: report.seconds, test_acc, test_n, no_test_reason, val_tta })
}

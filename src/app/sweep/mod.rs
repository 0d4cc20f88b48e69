//! Hyper-parameter search the way the lecture does it: random (or grid) search over learning
//! rate, regularization, width, dropout ..., each trial trained through the one training loop and
//! scored on the validation split only, with successive halving to drop hopeless trials early.
//!
//! - [`space`]: the search space (`--lr 1e-4..1e-1:log --reg 1e-4..1:log --hidden 256,512`).
//! - [`folds`]: K-fold cross-validation, scoring each trial on K times the validation images.
//! - [`halving`]: successive halving's bookkeeping.
//! - [`paired`]: which validation images each trial got right, and whether the split tells two
//!   trials apart.
//! - [`Sweep::run`]: the search, resumable from its results file; [`plan`] and [`collect`]: the
//!   same search spread over a scheduler (one `train` command per trial, then their checkpoints
//!   gathered into the same table).

pub mod folds;
pub mod halving;
pub mod paired;
pub mod space;

use crate::app::cli::TrainArgs;
use crate::checkpoint::{self, CheckpointMeta};
use crate::data::{DatasetName, Prepared};
use crate::models::{ModelConfig, Network};
use crate::preprocess::Preprocess;
use crate::train::{self, Control, EpochEnd, EpochHook, EpochRecord, ResumeFrom, Session, TrainData};
use crate::{Error, Result};
use candle_core::Device;
use paired::Correct;
use serde::{Deserialize, Serialize};
use space::{Space, Trial};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// How a trial ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Trained its whole budget.
    Done,
    /// Dropped by successive halving after its last rung.
    Halved,
    /// Stopped on a non-finite loss (the message says where).
    Diverged(String),
}

/// One trial of a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialResult {
    /// Its index in the search (the order of [`Space::trials`]).
    pub id: usize,
    /// The searched values.
    pub values: Trial,
    /// Validation accuracy after its last epoch (`None` when it diverged).
    pub val_acc: Option<f64>,
    /// Epochs trained.
    pub epochs: usize,
    /// Seconds of training.
    pub seconds: f64,
    /// How it ended.
    pub status: Status,
    /// Validation accuracy at the end of each rung it trained (successive halving chooses on
    /// these, also when a search resumes).
    #[serde(default)]
    pub rung_acc: Vec<f64>,
    /// Which validation images it got right after its last epoch (for paired comparisons
    /// between trials; absent for diverged trials and for trials gathered by `--collect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_correct: Option<Correct>,
}

/// Everything a search records, and reads back to resume.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Results {
    /// The search space.
    pub space: Space,
    /// Trials asked for (a grid runs its product instead).
    pub trials: usize,
    /// Seed of the random draws.
    pub seed: u64,
    /// The epoch each rung of successive halving ends at (one rung: no halving).
    pub rungs: Vec<usize>,
    /// Folds of cross-validation each trial was scored over (1: the validation split).
    #[serde(default = "one_fold")]
    pub folds: usize,
    /// Every trial's latest result, by id.
    pub results: Vec<TrialResult>,
}

fn one_fold() -> usize {
    1
}

impl Results {
    /// The results sorted by validation accuracy, best first (diverged trials last).
    pub fn ranked(&self) -> Vec<&TrialResult> {
        let mut r: Vec<&TrialResult> = self.results.iter().collect();
        r.sort_by(|a, b| {
            b.val_acc
                .unwrap_or(f64::NEG_INFINITY)
                .total_cmp(&a.val_acc.unwrap_or(f64::NEG_INFINITY))
                .then(a.id.cmp(&b.id))
        });
        r
    }

    /// The best trial that trained its whole budget (a halved trial's accuracy is that of fewer
    /// epochs, not comparable).
    pub fn best(&self) -> Option<&TrialResult> {
        self.ranked().into_iter().find(|r| r.status == Status::Done && r.val_acc.is_some())
    }

    /// Each finished trial against the best one on the same validation images (`None` where
    /// either has no record of its answers: a search gathered by `--collect`, or no trial
    /// finished).
    pub fn against_best(&self) -> Vec<(usize, Option<paired::Paired>)> {
        let best = self.best().and_then(|b| b.val_correct.as_ref());
        self.ranked()
            .into_iter()
            .map(|r| {
                let p = match (&r.status, &r.val_correct, best) {
                    (Status::Done, Some(c), Some(b)) => paired::compare(c, b),
                    _ => None,
                };
                (r.id, p)
            })
            .collect()
    }

    /// [`Results::against_best`] for the trials that have a comparison, by id.
    fn against_best_by_id(&self) -> HashMap<usize, paired::Paired> {
        self.against_best().into_iter().filter_map(|(id, p)| p.map(|p| (id, p))).collect()
    }

    /// The table `sweep` prints: one row per trial, best first, with each finished trial's
    /// difference from the best and its paired standard error, and a last line saying how many
    /// the validation split cannot tell from the best.
    pub fn table(&self) -> String {
        let names: Vec<&str> = self.space.axes.iter().map(|a| a.name.as_str()).collect();
        let best_id = self.best().map(|b| b.id);
        let against = self.against_best_by_id();
        let mut s = format!("{:>5}", "trial");
        for n in &names {
            s += &format!(" {n:>14}");
        }
        s += &format!(" {:>9} {:>13} {:>6} {:>8}  status\n", "val acc", "vs best", "epochs", "seconds");
        for r in self.ranked() {
            s += &format!("{:>5}", r.id);
            for n in &names {
                s += &format!(" {:>14}", fmt_value(r.values[*n]));
            }
            let acc = r.val_acc.map_or("-".to_string(), |a| format!("{:.2}%", 100.0 * a));
            let vs = match against.get(&r.id) {
                _ if Some(r.id) == best_id => "best".to_string(),
                Some(p) => format!("{:+.2} ± {:.2}", 100.0 * p.diff, 100.0 * p.se),
                None => "-".to_string(),
            };
            let status = match &r.status {
                Status::Done => "done".to_string(),
                Status::Halved => "halved".to_string(),
                Status::Diverged(why) => format!("diverged: {why}"),
            };
            s += &format!(" {acc:>9} {vs:>13} {:>6} {:>8.1}  {status}\n", r.epochs, r.seconds);
        }
        if let Some(n) = self.best().and_then(|b| b.val_correct.as_ref()).map(|c| c.len()) {
            let close = against.iter().filter(|(&id, p)| Some(id) != best_id && p.within(2.0)).count();
            s += &format!(
                "vs best: difference from the best trial's accuracy on the same {n} validation images, ± its paired \
                 standard error.\n{close} other finished trial(s) within 2 standard errors of the best: these \
                 {n} validation images do not tell them apart from it.\n"
            );
        }
        s
    }

    fn upsert(&mut self, r: TrialResult) {
        self.results.retain(|x| x.id != r.id);
        self.results.push(r);
        self.results.sort_by_key(|x| x.id);
    }

    /// Reads a results file written by [`Sweep::run`].
    pub fn read(path: &Path) -> Result<Results> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid("--results", format!("{}: cannot read: {e}", path.display())))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::invalid("--results", format!("{}: not a sweep results file: {e}", path.display())))
    }

    fn write(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).expect("results serialize");
        checkpoint::write_atomic(path, json.as_bytes())
    }
}

/// A value as the table shows it: whole numbers plainly, others as `1.2345e-3`.
pub fn fmt_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e9 {
        format!("{v:.0}")
    } else {
        format!("{v:.4e}")
    }
}

/// A search: what to train (the `train` flags without the searched ones), on which data, over
/// which space.
pub struct Sweep<'a> {
    /// The data set.
    pub dataset: DatasetName,
    /// The training and validation splits (a validation split is required).
    pub data: &'a Prepared,
    /// The `train` flags every trial shares.
    pub base: TrainArgs,
    /// The search space.
    pub space: Space,
    /// Trials of a random search.
    pub trials: usize,
    /// Seed of the random draws (each trial's training uses the base `--seed`).
    pub seed: u64,
    /// Rungs of successive halving (1: every trial trains its whole budget).
    pub rungs: usize,
    /// Folds of cross-validation (1: the validation split as it is; see [`folds`]).
    pub folds: usize,
    /// Results file: written after every trial, read back to resume.
    pub results: Option<PathBuf>,
    /// Progress lines on stderr.
    pub verbose: bool,
}

/// The `train` flags of one trial: the shared ones with the trial's values set.
pub fn trial_args(base: &TrainArgs, t: &Trial) -> TrainArgs {
    let mut a = base.clone();
    for (name, &v) in t {
        match name.as_str() {
            "lr" => a.lr = Some(v),
            "reg" => a.reg = Some(v),
            "momentum" => a.momentum = Some(v),
            "weight-decay" => a.weight_decay = Some(v),
            "dropout" => a.dropout = Some(v as f32),
            "label-smoothing" => a.label_smoothing = Some(v),
            "hidden" => a.hidden = Some(vec![v as usize]),
            "batch-size" => a.batch_size = Some(crate::train::BatchSize::Mini(v as usize)),
            other => unreachable!("{other} is not searchable: Axis::parse refuses it"),
        }
    }
    a
}

/// What a trial needs to go on after its rung.
#[derive(Default)]
struct Kept {
    optimizer_state: HashMap<String, candle_core::Tensor>,
    history: Vec<EpochRecord>,
    wall_seconds: f64,
}

/// Stops a trial at the end of its rung, keeping what it needs to go on.
struct RungEnd<'a> {
    at: usize,
    kept: &'a mut Kept,
}

impl EpochHook for RungEnd<'_> {
    fn after_epoch(&mut self, end: &EpochEnd<'_>) -> Result<Control> {
        self.kept.optimizer_state = end.optimizer_state.iter().cloned().collect();
        self.kept.history = end.history.to_vec();
        self.kept.wall_seconds = end.wall_seconds;
        Ok(if end.record.epoch >= self.at { Control::Stop } else { Control::Continue })
    }
}

/// The best trial of a search, trained: what `--save-best` writes.
pub struct Best {
    /// Its id.
    pub id: usize,
    /// Its trained model.
    pub network: Network,
    /// Its run (the shared flags with its values).
    pub run: crate::presets::Run,
    /// Its last epoch.
    pub record: Option<EpochRecord>,
}

/// A trial between rungs.
struct Live {
    net: Network,
    from: Option<ResumeFrom>,
    run: crate::presets::Run,
}

impl Sweep<'_> {
    /// Runs the search and returns every trial's result, with the best trial's network (when a
    /// trial finished) for `--save-best`.
    pub fn run(&self, device: &Device) -> Result<(Results, Option<Best>)> {
        let val = self.data.val.as_ref().ok_or_else(|| {
            Error::invalid("--val-size", "a search scores its trials on a validation split: give --val-size N")
        })?;
        let first = self.base.run(self.dataset)?;
        let epochs = first.train.epochs;
        let trials = self.space.trials(self.trials, self.seed);
        let mut results = match &self.results {
            Some(p) if p.exists() => {
                let r = Results::read(p)?;
                if r.space != self.space || r.seed != self.seed || r.trials != self.trials || r.folds != self.folds {
                    return Err(Error::invalid(
                        "--results",
                        format!("{} holds another search (space, --trials, --seed or --folds differ)", p.display()),
                    ));
                }
                if self.verbose {
                    eprintln!("resuming: {} trial results in {}", r.results.len(), p.display());
                }
                r
            }
            _ => Results {
                space: self.space.clone(),
                trials: self.trials,
                seed: self.seed,
                rungs: vec![],
                folds: self.folds,
                results: vec![],
            },
        };
        results.rungs = halving::rung_ends(epochs, self.rungs);
        // The model's input once for every trial: features (if any) and their normalization.
        let inputs = TrainData::measure(&self.data.train, Some(val), first.features.clone(), self.verbose)?;
        let val_in = inputs.val.expect("a validation split was given");
        let folds = folds::split(inputs.train, val_in, self.folds, first.features.as_ref())?;
        if self.verbose && folds.len() > 1 {
            eprintln!(
                "{} folds: each trial trains {} times on {} images and is scored on {} (the last fold is the validation split)",
                folds.len(),
                folds.len(),
                folds[0].train.len(),
                folds.iter().map(|f| f.val.as_ref().map_or(0, |v| v.len())).sum::<usize>()
            );
        }

        let mut alive: Vec<usize> = (0..trials.len()).collect();
        let mut live: HashMap<(usize, usize), Live> = HashMap::new();
        let rungs = results.rungs.clone();
        for (r, &end) in rungs.iter().enumerate() {
            let last_rung = r + 1 == rungs.len();
            for &id in &alive {
                let known = results.results.iter().find(|x| x.id == id);
                if known.is_some_and(|k| k.rung_acc.len() > r || matches!(k.status, Status::Diverged(_))) {
                    continue; // resumed from the results file
                }
                let mut rung_acc = known.map(|k| k.rung_acc.clone()).unwrap_or_default();
                rung_acc.truncate(r);
                let trial = &trials[id];
                // Each fold trains on to this rung's end; the trial's score is that of all folds'
                // validation images at once.
                let (mut preds, mut labels, mut seconds, mut epochs) = (vec![], vec![], 0.0, 0);
                let mut trained = Vec::with_capacity(folds.len());
                let mut diverged = None;
                for (k, fold) in folds.iter().enumerate() {
                    let state = match live.remove(&(id, k)) {
                        Some(s) => s,
                        None => {
                            let run = trial_args(&self.base, trial).run(self.dataset)?;
                            let net = fold.network(&run.model, run.train.seed, device)?;
                            Live { net, from: None, run }
                        }
                    };
                    let mut kept = Kept::default();
                    let session = Session::new().resume(state.from).hook(RungEnd { at: end, kept: &mut kept });
                    match train::fit(&state.net, fold, &state.run.train, device, session) {
                        Ok(report) => {
                            let last = report.history.last().expect("an epoch was trained");
                            epochs = last.epoch;
                            seconds += report.history.iter().map(|h| h.seconds).sum::<f64>();
                            let val = fold.val.as_ref().expect("every fold has its validation part");
                            let norm = &fold.preprocess.normalization;
                            preds.extend(train::predict(&state.net.model, val, norm, device)?);
                            labels.extend_from_slice(&val.labels);
                            let from = ResumeFrom {
                                epoch: last.epoch,
                                optimizer_state: kept.optimizer_state,
                                history: kept.history,
                                wall_seconds: kept.wall_seconds,
                            };
                            trained.push(Live { net: state.net, from: Some(from), run: state.run });
                        }
                        Err(Error::NonFiniteLoss { epoch, step, value }) => {
                            let of = if folds.len() > 1 {
                                format!(" (fold {} of {})", k + 1, folds.len())
                            } else {
                                String::new()
                            };
                            diverged = Some((epoch, format!("loss {value} at epoch {epoch}, step {step}{of}")));
                            break;
                        }
                        Err(e) => return Err(e),
                    }
                }
                let result = match diverged {
                    None => {
                        let correct = Correct::new(&preds, &labels)?;
                        let acc = correct.accuracy();
                        rung_acc.push(acc);
                        for (k, state) in trained.into_iter().enumerate() {
                            live.insert((id, k), state);
                        }
                        TrialResult {
                            id,
                            values: trial.clone(),
                            val_acc: Some(acc),
                            epochs,
                            seconds,
                            status: if last_rung { Status::Done } else { Status::Halved },
                            rung_acc,
                            val_correct: Some(correct),
                        }
                    }
                    Some((epoch, why)) => TrialResult {
                        id,
                        values: trial.clone(),
                        val_acc: None,
                        epochs: epoch,
                        seconds: 0.0,
                        status: Status::Diverged(why),
                        rung_acc,
                        val_correct: None,
                    },
                };
                if self.verbose {
                    let acc = result.val_acc.map_or("diverged".into(), |a| format!("val acc {:.2}%", 100.0 * a));
                    let vals: Vec<String> = trial.iter().map(|(k, v)| format!("--{k} {}", fmt_value(*v))).collect();
                    eprintln!("trial {id:>3} ({}): {acc} after {} epochs", vals.join(" "), result.epochs);
                }
                results.upsert(result);
                if let Some(p) = &self.results {
                    results.write(p)?;
                }
            }
            if !last_rung {
                let scores: Vec<(usize, Option<f64>)> = alive
                    .iter()
                    .map(|&id| {
                        (id, results.results.iter().find(|x| x.id == id).and_then(|x| x.rung_acc.get(r).copied()))
                    })
                    .collect();
                alive = halving::survivors(&scores);
                live.retain(|(id, _), _| alive.contains(id));
                if self.verbose {
                    eprintln!(
                        "rung {} (epoch {end}) done: {} trials go on to epoch {}",
                        r + 1,
                        alive.len(),
                        rungs[r + 1]
                    );
                }
            }
        }
        let best = results.best().map(|b| b.id).and_then(|id| {
            live.remove(&(id, folds.len() - 1)).map(|l| Best {
                id,
                record: l.from.and_then(|f| f.history.last().cloned()),
                network: l.net,
                run: l.run,
            })
        });
        Ok((results, best))
    }
}

/// The checkpoint metadata of a sweep's best trial: that of a `train` run with its values and
/// its last epoch's record, with the whole search (space and every trial's result) beside it.
pub fn best_meta(best: &Best, data: &Prepared, results: &Results, command: &str) -> Result<CheckpointMeta> {
    let (pre, _) = Preprocess::measure(&data.train, best.run.features.clone(), false)?;
    let mut meta = crate::app::run::checkpoint_meta(&best.run, data, &best.network.config, &pre.normalization, command);
    meta.search = Some(serde_json::to_value(results).expect("results serialize"));
    meta.epoch = best.record.as_ref().map_or(0, |r| r.epoch);
    meta.metrics = best.record.clone().map(|r| EpochRecord { step_losses: vec![], ..r });
    Ok(meta)
}

/// One `train` command per trial, for a scheduler (Slurm array jobs, GNU parallel): `base` is the
/// `train` command line without the searched flags, `dir` where each trial saves
/// `trial-<id>.safetensors` (which [`collect`] reads back).
pub fn plan(space: &Space, trials: usize, seed: u64, base: &str, dir: &Path) -> Vec<String> {
    space
        .trials(trials, seed)
        .iter()
        .enumerate()
        .map(|(id, t)| {
            let vals: Vec<String> = t.iter().map(|(k, v)| format!("--{k} {v}")).collect();
            format!(
                "{base} {} --quiet --no-plots --save {}",
                vals.join(" "),
                dir.join(format!("trial-{id}.safetensors")).display()
            )
        })
        .collect()
}

/// Gathers the checkpoints that [`plan`]'s commands wrote into `dir` into the same results as a
/// search run here: each trial's values read back from its recorded configuration, its
/// validation accuracy from its last epoch.
pub fn collect(space: &Space, dir: &Path) -> Result<Results> {
    let mut results = Results { space: space.clone(), folds: 1, ..Default::default() };
    let entries = std::fs::read_dir(dir).map_err(|e| Error::invalid("--collect", format!("{}: {e}", dir.display())))?;
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let Some(id) =
            name.strip_prefix("trial-").and_then(|n| n.strip_suffix(".safetensors")).and_then(|n| n.parse().ok())
        else {
            continue; // .last / .best siblings, other files
        };
        let meta = checkpoint::read_meta(&path)?;
        let train = meta.train.clone().ok_or_else(|| Error::checkpoint(&path, "records no training configuration"))?;
        let mut values = Trial::new();
        for a in &space.axes {
            let v = match a.name.as_str() {
                "lr" => Some(train.optimizer.lr),
                "reg" => Some(train.reg),
                "momentum" => Some(train.optimizer.momentum),
                "weight-decay" => Some(train.optimizer.weight_decay),
                "label-smoothing" => Some(train.label_smoothing),
                "batch-size" => match train.batch_size {
                    crate::train::BatchSize::Mini(b) => Some(b as f64),
                    crate::train::BatchSize::Full => None,
                },
                "dropout" => match &meta.model {
                    ModelConfig::Mlp(c) => Some(c.dropout as f64),
                    ModelConfig::Cnn(c) => Some(c.dropout as f64),
                    ModelConfig::Linear(_) => None,
                },
                "hidden" => match &meta.model {
                    ModelConfig::Mlp(c) => c.hidden.first().map(|&w| w as f64),
                    _ => None,
                },
                _ => None,
            };
            let v = v.ok_or_else(|| Error::checkpoint(&path, format!("records no value of --{}", a.name)))?;
            values.insert(a.name.clone(), v);
        }
        let last = meta.metrics.as_ref();
        results.results.push(TrialResult {
            id,
            values,
            val_acc: last.and_then(|m| m.val_acc),
            epochs: meta.epoch,
            seconds: meta.wall_seconds.unwrap_or(0.0),
            status: Status::Done,
            rung_acc: last.and_then(|m| m.val_acc).into_iter().collect(),
            val_correct: None,
        });
    }
    if results.results.is_empty() {
        return Err(Error::invalid("--collect", format!("{} holds no trial-<id>.safetensors files", dir.display())));
    }
    results.results.sort_by_key(|r| r.id);
    Ok(results)
}

impl Results {
    /// Draws validation accuracy over the first two searched axes (over the first one, when
    /// only one is searched) to `path`, ringing the trials within 2 standard errors of the best.
    pub fn plot(&self, path: &Path, title: &str) -> Result<()> {
        use crate::app::plot::SearchAxis;
        let axes: Vec<SearchAxis> =
            self.space.axes.iter().map(|a| SearchAxis { name: &a.name, log: a.log() }).collect();
        let Some(&x) = axes.first() else {
            return Err(Error::invalid("sweep", "nothing was searched: no picture"));
        };
        let y = axes.get(1).copied();
        let values: Vec<(f64, f64)> =
            self.results.iter().map(|r| (r.values[x.name], y.map_or(0.0, |y| r.values[y.name]))).collect();
        let acc: Vec<Option<f64>> = self.results.iter().map(|r| r.val_acc).collect();
        let against = self.against_best_by_id();
        let tied: Vec<bool> = self.results.iter().map(|r| against.get(&r.id).is_some_and(|p| p.within(2.0))).collect();
        crate::app::plot::search_plot(path, title, (x, y), &values, &acc, &tied)
    }
}

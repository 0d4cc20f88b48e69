//! The one training loop ([`fit`]) and the one evaluation ([`evaluate`]) for every model.

use crate::checkpoint::{self, CheckpointMeta};
use crate::data::{augment::Augment, epoch_permutation, prefetch, Dataset, Normalization};
use crate::loss::{self, LossKind, RegKind};
use crate::metrics::Confusion;
use crate::models::Model;
use crate::optim::{AnyOptimizer, NamedVar, OptimizerConfig, OptimizerState, Schedule};
use crate::params::Params;
use crate::tta::Tta;
use crate::{Error, Result};
use candle_core::{DType, Device, ModuleT, Tensor, D};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Instant;

/// Minibatch size, or the whole training set at once (full-batch gradient descent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BatchSize {
    /// All training samples in one batch.
    Full,
    /// This many samples per batch.
    Mini(usize),
}

impl BatchSize {
    /// Parses `full` or a positive integer.
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        if s == "full" {
            return Ok(BatchSize::Full);
        }
        match s.parse::<usize>() {
            Ok(0) => Err("--batch-size must be at least 1 (or 'full')".into()),
            Ok(n) => Ok(BatchSize::Mini(n)),
            Err(_) => Err(format!("--batch-size '{s}': expected a positive integer or 'full'")),
        }
    }

    /// The number of samples per batch for a set of `n`.
    pub fn resolve(self, n: usize) -> usize {
        match self {
            BatchSize::Full => n.max(1),
            BatchSize::Mini(b) => b.min(n.max(1)),
        }
    }
}

/// Hyper-parameters of a training run; saved in checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Data loss.
    pub loss: LossKind,
    /// Regularization strength λ.
    pub reg: f64,
    /// Regularizer.
    pub reg_kind: RegKind,
    /// Optimizer and base learning rate.
    pub optimizer: OptimizerConfig,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Number of epochs.
    pub epochs: usize,
    /// Batch size.
    pub batch_size: BatchSize,
    /// Seed for initialization, shuffling and augmentation.
    pub seed: u64,
    /// Augmentation of training batches.
    pub augment: Augment,
    /// Label smoothing ε of the softmax loss (0: none).
    #[serde(default)]
    pub label_smoothing: f64,
}

impl TrainConfig {
    /// Checks ranges: a clear error for each bad value.
    pub fn validate(&self) -> Result<()> {
        let lr = self.optimizer.lr;
        if !lr.is_finite() || lr <= 0.0 {
            return Err(Error::invalid("--lr", format!("{lr}: the learning rate must be a positive number")));
        }
        if !self.reg.is_finite() || self.reg < 0.0 {
            return Err(Error::invalid("--reg", format!("{}: must be 0 or positive", self.reg)));
        }
        if self.epochs == 0 {
            return Err(Error::invalid("--epochs", "must be at least 1"));
        }
        if self.batch_size == BatchSize::Mini(0) {
            return Err(Error::invalid("--batch-size", "must be at least 1 (or 'full')"));
        }
        let ls = self.label_smoothing;
        if !(0.0..1.0).contains(&ls) {
            return Err(Error::invalid("--label-smoothing", format!("{ls}: must be in [0, 1)")));
        }
        if ls > 0.0 && self.loss != LossKind::Softmax {
            return Err(Error::invalid("--label-smoothing", "applies to the softmax loss only"));
        }
        let wd = self.optimizer.weight_decay;
        if !wd.is_finite() || wd < 0.0 {
            return Err(Error::invalid("--weight-decay", format!("{wd}: must be 0 or positive")));
        }
        Ok(())
    }
}

/// One epoch of history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch number, 1-based.
    pub epoch: usize,
    /// Mean training loss (data loss plus regularization) over the epoch.
    pub train_loss: f64,
    /// Training accuracy over the epoch (on augmented batches, in training mode).
    pub train_acc: f64,
    /// Validation accuracy after the epoch, when a validation split exists.
    pub val_acc: Option<f64>,
    /// Learning rate at the end of the epoch.
    pub lr: f64,
    /// Wall-clock seconds of the epoch's training steps.
    pub seconds: f64,
    /// Training throughput.
    pub images_per_s: f64,
    /// Loss after each logged step (for optimizer comparisons and curves).
    #[serde(default)]
    pub step_losses: Vec<f32>,
}

/// Where and what `fit` writes.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    /// `--save PATH`: the final model. `PATH`'s siblings `.last.safetensors` (resumable),
    /// `.best.safetensors` (best validation epoch) and `.history.json` are written beside it.
    pub save: Option<PathBuf>,
    /// Template metadata (model, classes, normalization, data set, command); epoch and metrics are
    /// filled in by `fit`.
    pub meta: Option<CheckpointMeta>,
    /// Print one line per epoch and draw progress bars.
    pub verbose: bool,
}

/// State to continue from, read from a `--resume` checkpoint.
pub struct ResumeFrom {
    /// Epochs already done.
    pub epoch: usize,
    /// Optimizer state by name.
    pub optimizer_state: std::collections::HashMap<String, Tensor>,
    /// History so far.
    pub history: Vec<EpochRecord>,
    /// Wall-clock seconds of training so far.
    pub wall_seconds: f64,
}

/// What `fit` returns.
#[derive(Debug, Clone)]
pub struct FitReport {
    /// One record per epoch, including resumed ones.
    pub history: Vec<EpochRecord>,
    /// Total training seconds of this call.
    pub seconds: f64,
}

/// Trains `model` (whose parameters are `params`) on `train`, evaluating on `val` after each epoch.
///
/// Minibatches are shuffled by `cfg.seed` and the epoch number; a NaN or infinite loss stops with
/// [`Error::NonFiniteLoss`]. `on_epoch` sees each record and may return `false` to stop early
/// (checkpoints of the completed epochs are written first).
#[allow(clippy::too_many_arguments)]
pub fn fit(
    model: &Model,
    params: &Params,
    train: &Dataset,
    val: Option<&Dataset>,
    norm: &Normalization,
    cfg: &TrainConfig,
    device: &Device,
    out: &Outputs,
    resume: Option<ResumeFrom>,
    mut on_epoch: impl FnMut(&EpochRecord) -> bool,
) -> Result<FitReport> {
    cfg.validate()?;
    if train.is_empty() {
        return Err(Error::invalid("--train-size", "the training set is empty"));
    }
    let named: Vec<NamedVar> = params.named_vars().into_iter().map(|(name, var)| NamedVar { name, var }).collect();
    let reg_weights: Vec<candle_core::Var> =
        named.iter().filter(|p| p.name.ends_with(".weight") && p.var.rank() >= 2).map(|p| p.var.clone()).collect();
    let mut opt = AnyOptimizer::new(&cfg.optimizer, named)?;
    let (start_epoch, mut history, wall_before) = match resume {
        Some(r) => {
            opt.load_state(&r.optimizer_state)?;
            (r.epoch, r.history, r.wall_seconds)
        }
        None => (0, vec![], 0.0),
    };
    let n = train.len();
    let bs = cfg.batch_size.resolve(n);
    let steps_per_epoch = n.div_ceil(bs);
    let total_steps = steps_per_epoch * cfg.epochs;
    let check_every = if device.is_cpu() { 1 } else { 25 };
    let started = Instant::now();
    let mut last_save = Instant::now();
    let mut best_val = history.iter().filter_map(|r| r.val_acc).fold(f64::NEG_INFINITY, f64::max);
    for epoch in start_epoch..cfg.epochs {
        let perm = epoch_permutation(n, cfg.seed, epoch);
        let bar = crate::progress::bar(out.verbose, steps_per_epoch as u64, &format!("epoch {}/{}", epoch + 1, cfg.epochs));
        let t0 = Instant::now();
        let mut aug_rng = rand::rngs::StdRng::seed_from_u64(cfg.seed ^ (0xA5A5_0000 + epoch as u64));
        let (mut loss_sum, mut correct_sum) = (0f64, 0f64);
        let mut pending_loss: Option<Tensor> = None;
        let mut pending_correct: Option<Tensor> = None;
        let mut step_losses = Vec::new();
        let mut lr = cfg.optimizer.lr;
        // Batches are assembled on the CPU one step ahead, on a background thread.
        let produce = |emit: &mut dyn FnMut(Result<(Tensor, Tensor)>) -> bool| {
            for idx in perm.chunks(bs) {
                if !emit(batch_for_training(train, idx, norm, &cfg.augment, &mut aug_rng, &Device::Cpu)) {
                    return;
                }
            }
        };
        prefetch::pipelined(2, produce, |batches| -> Result<()> {
            for (step, (idx, batch)) in perm.chunks(bs).zip(batches).enumerate() {
                let global = epoch * steps_per_epoch + step;
                lr = cfg.schedule.lr(cfg.optimizer.lr, global, steps_per_epoch, total_steps);
                opt.set_learning_rate(lr);
                let (xs, ys) = batch?;
                let (xs, ys) = (xs.to_device(device)?, ys.to_device(device)?);
                let logits = model.forward_t(&xs, true)?;
                let mut loss = loss::data_loss(cfg.loss, &logits, &ys, cfg.label_smoothing)?;
                if let Some(r) = loss::regularization(cfg.reg_kind, cfg.reg, &reg_weights)? {
                    loss = (loss + r)?;
                }
                let grads = loss.backward()?;
                // Weight the batch's mean loss by its size so the epoch mean is exact.
                let batch_loss = (loss.detach() * idx.len() as f64)?;
                let batch_correct = loss::correct_count(&logits.detach(), &ys)?;
                pending_loss = Some(match pending_loss {
                    None => batch_loss,
                    Some(p) => (p + batch_loss)?,
                });
                pending_correct = Some(match pending_correct {
                    None => batch_correct,
                    Some(p) => (p + batch_correct)?,
                });
                if (step + 1) % check_every == 0 || step + 1 == steps_per_epoch {
                    let l = pending_loss.take().unwrap().to_dtype(DType::F64)?.to_scalar::<f64>()?;
                    let c = pending_correct.take().unwrap().to_dtype(DType::F64)?.to_scalar::<f64>()?;
                    if !l.is_finite() {
                        bar.finish_and_clear();
                        return Err(Error::NonFiniteLoss { epoch: epoch + 1, step: step + 1, value: l as f32 });
                    }
                    loss_sum += l;
                    correct_sum += c;
                    let seen = ((step + 1) * bs).min(n) as f64;
                    step_losses.push((l / idx.len().max(1) as f64 / check_every as f64) as f32);
                    bar.set_position(step as u64 + 1);
                    bar.set_message(format!(
                        "loss {:.4} acc {:.3} {:.0} img/s",
                        loss_sum / seen,
                        correct_sum / seen,
                        seen / t0.elapsed().as_secs_f64()
                    ));
                }
                opt.step(&grads)?;
            }
            Ok(())
        })?;
        bar.finish_and_clear();
        let seconds = t0.elapsed().as_secs_f64();
        let val_acc = match val {
            Some(v) if !v.is_empty() => Some(evaluate(model, v, norm, device)?.accuracy()),
            _ => None,
        };
        let record = EpochRecord {
            epoch: epoch + 1,
            train_loss: loss_sum / n as f64,
            train_acc: correct_sum / n as f64,
            val_acc,
            lr,
            seconds,
            images_per_s: n as f64 / seconds,
            step_losses,
        };
        let every = (cfg.epochs / 50).max(1);
        if out.verbose && (record.epoch.is_multiple_of(every) || record.epoch == cfg.epochs || record.epoch == 1) {
            println!(
                "epoch {:>3}/{}  loss {:.4}  train acc {:.4}  val acc {}  lr {:.2e}  {:.1}s ({:.0} img/s)",
                record.epoch,
                cfg.epochs,
                record.train_loss,
                record.train_acc,
                record.val_acc.map(|a| format!("{a:.4}")).unwrap_or_else(|| "-".into()),
                lr,
                seconds,
                record.images_per_s
            );
        }
        history.push(record.clone());
        let stop = !on_epoch(&record);
        if let (Some(path), Some(meta)) = (&out.save, &out.meta) {
            let mut meta = meta.clone();
            meta.epoch = epoch + 1;
            meta.metrics = Some(EpochRecord { step_losses: vec![], ..record.clone() });
            meta.train = Some(cfg.clone());
            meta.wall_seconds = Some(wall_before + started.elapsed().as_secs_f64());
            let finished = epoch + 1 == cfg.epochs;
            // Thousands of tiny epochs (toy problems) would spend their time writing files:
            // the resumable state is written at most every few seconds, and always at the end.
            if finished || stop || last_save.elapsed().as_secs_f64() > SAVE_EVERY_S {
                checkpoint::save(&checkpoint::sibling(path, "last.safetensors"), &meta, params, &opt.state())?;
                let json = serde_json::to_string_pretty(&history).expect("history serializes");
                checkpoint::write_atomic(&checkpoint::sibling(path, "history.json"), json.as_bytes())?;
                last_save = Instant::now();
            }
            if let Some(v) = record.val_acc {
                if v > best_val {
                    best_val = v;
                    checkpoint::save(&checkpoint::sibling(path, "best.safetensors"), &meta, params, &[])?;
                }
            }
            if finished {
                checkpoint::save(path, &meta, params, &[])?;
            }
        }
        if stop {
            break;
        }
    }
    Ok(FitReport { history, seconds: started.elapsed().as_secs_f64() })
}

fn batch_for_training(
    ds: &Dataset,
    idx: &[usize],
    norm: &Normalization,
    aug: &Augment,
    rng: &mut rand::rngs::StdRng,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    if aug.is_off() {
        return ds.batch(idx, norm, device);
    }
    let d = ds.sample_dim();
    let mut xs = vec![0f32; idx.len() * d];
    let mut scratch = Vec::with_capacity(d);
    for (k, &i) in idx.iter().enumerate() {
        let s = &mut xs[k * d..(k + 1) * d];
        ds.write_sample(i, norm, s);
        aug.apply(s, &mut scratch, ds.shape, rng);
    }
    let [c, h, w] = ds.shape;
    let xs = Tensor::from_vec(xs, (idx.len(), c, h, w), device)?;
    let ys = Tensor::from_vec(idx.iter().map(|&i| ds.labels[i] as u32).collect::<Vec<_>>(), idx.len(), device)?;
    Ok((xs, ys))
}

/// Minimum seconds between two writes of the resumable checkpoint.
const SAVE_EVERY_S: f64 = 5.0;

/// Evaluation batch size: large enough to be fast, small enough to bound memory.
pub const EVAL_BATCH: usize = 500;

/// Predicted class of every sample, in evaluation mode.
pub fn predict(model: &Model, ds: &Dataset, norm: &Normalization, device: &Device) -> Result<Vec<u32>> {
    predict_with(model, ds, norm, device, Tta::None)
}

/// Predicted class of every sample, in evaluation mode, with test-time augmentation `tta`.
pub fn predict_with(model: &Model, ds: &Dataset, norm: &Normalization, device: &Device, tta: Tta) -> Result<Vec<u32>> {
    let mut preds = Vec::with_capacity(ds.len());
    let idx: Vec<usize> = (0..ds.len()).collect();
    for chunk in idx.chunks(EVAL_BATCH) {
        let (xs, _) = ds.batch(chunk, norm, device)?;
        preds.extend(tta.scores(model, &xs)?.argmax(D::Minus1)?.to_vec1::<u32>()?);
    }
    Ok(preds)
}

/// Confusion matrix of `model` on `ds`.
pub fn evaluate(model: &Model, ds: &Dataset, norm: &Normalization, device: &Device) -> Result<Confusion> {
    evaluate_with(model, ds, norm, device, Tta::None)
}

/// Confusion matrix of `model` on `ds` with test-time augmentation `tta`.
pub fn evaluate_with(
    model: &Model,
    ds: &Dataset,
    norm: &Normalization,
    device: &Device,
    tta: Tta,
) -> Result<Confusion> {
    let preds = predict_with(model, ds, norm, device, tta)?;
    let truth: Vec<u32> = ds.labels.iter().map(|&l| l as u32).collect();
    let mut c = Confusion::new(ds.num_classes());
    c.add(&truth, &preds);
    Ok(c)
}

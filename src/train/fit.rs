//! The one training loop for every model.

use super::config::{EpochRecord, TrainConfig};
use super::data::TrainData;
use super::evaluation::evaluate;
use super::hooks::{Control, EpochEnd, Session, StepEnd};
use super::lookahead::Lookahead;
use crate::data::{augment::Augment, epoch_permutation, prefetch, Dataset, Normalization};
use crate::loss;
use crate::models::Network;
use crate::optim::{GroupedOptimizer, NamedVar, OptimizerState};
use crate::{Error, Result};
use candle_core::{DType, Device, ModuleT, Tensor};
use rand::SeedableRng;
use std::time::Instant;

/// What `fit` returns.
#[derive(Debug, Clone)]
pub struct FitReport {
    /// One record per epoch, including resumed ones.
    pub history: Vec<EpochRecord>,
    /// Total training seconds of this call.
    pub seconds: f64,
}

/// Trains `net` on `data.train` with `cfg`, scoring `data.val` after each epoch.
///
/// Minibatches are shuffled by `cfg.seed` and the epoch number; a NaN or infinite loss stops with
/// [`Error::NonFiniteLoss`]. `session` says where to start (a resumed run) and who hears of each
/// finished epoch; any of its hooks may stop the run early.
pub fn fit(net: &Network, data: &TrainData, cfg: &TrainConfig, device: &Device, session: Session) -> Result<FitReport> {
    let Session { resume, verbose, mut hooks } = session;
    let (model, params, train, val, norm) =
        (&net.model, &net.params, &data.train, data.val.as_ref(), &data.preprocess.normalization);
    cfg.validate()?;
    if train.is_empty() {
        return Err(Error::invalid("`train_size`", "the training set is empty"));
    }
    // Fixed parameters (the whitening filters) are neither stepped nor regularized.
    let named: Vec<NamedVar> = net.trainable();
    let reg_weights: Vec<candle_core::Var> =
        named.iter().filter(|p| p.name.ends_with(".weight") && p.var.rank() >= 2).map(|p| p.var.clone()).collect();
    let mut opt = GroupedOptimizer::new(&cfg.optimizer, &cfg.groups, named)?;
    if let Some(la) = cfg.lookahead {
        hooks.insert(0, Box::new(Lookahead::new(la, params)?));
    }
    let (start_epoch, mut history, wall_before) = match resume {
        Some(r) => {
            opt.load_state(&r.optimizer_state)?;
            for hook in hooks.iter_mut() {
                hook.load_state(&r.optimizer_state)?;
            }
            (r.epoch, r.history, r.wall_seconds)
        }
        None => (0, vec![], 0.0),
    };
    let n = train.len();
    let bs = cfg.batch_size.resolve(n);
    let steps_per_epoch = if cfg.drop_last { (n / bs).max(1) } else { n.div_ceil(bs) };
    // The images each epoch trains on (fewer than n when the last, smaller batch is dropped).
    let used = (steps_per_epoch * bs).min(n);
    let total_steps = steps_per_epoch * cfg.epochs;
    let check_every = if device.is_cpu() { 1 } else { 25 };
    let started = Instant::now();
    for epoch in start_epoch..cfg.epochs {
        let perm = epoch_permutation(n, cfg.seed, epoch);
        let bar = crate::progress::bar(verbose, steps_per_epoch as u64, &format!("epoch {}/{}", epoch + 1, cfg.epochs));
        let t0 = Instant::now();
        let mut aug_rng = rand::rngs::StdRng::seed_from_u64(cfg.seed ^ (0xA5A5_0000 + epoch as u64));
        let (mut loss_sum, mut correct_sum) = (0f64, 0f64);
        let mut pending_loss: Option<Tensor> = None;
        let mut pending_correct: Option<Tensor> = None;
        let mut step_losses = Vec::new();
        let mut lr = cfg.optimizer.lr;
        // Batches are assembled on the CPU one step ahead, on a background thread.
        let produce = |emit: &mut dyn FnMut(Result<(Tensor, Tensor)>) -> bool| {
            for idx in perm.chunks(bs).take(steps_per_epoch) {
                let b = batch_for_training(train, idx, norm, &cfg.augment, &mut aug_rng, (cfg.seed, epoch));
                if !emit(b) {
                    return;
                }
            }
        };
        prefetch::pipelined(2, produce, |batches| -> Result<()> {
            for (step, (idx, batch)) in perm.chunks(bs).take(steps_per_epoch).zip(batches).enumerate() {
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
                    let seen = ((step + 1) * bs).min(used) as f64;
                    step_losses.push((l / idx.len().max(1) as f64 / check_every as f64) as f32);
                    bar.set_position(step as u64 + 1);
                    bar.set_message(format!(
                        "loss {:.4} acc {:.3} {:.0} img/s",
                        loss_sum / seen,
                        correct_sum / seen,
                        seen / t0.elapsed().as_secs_f64()
                    ));
                }
                opt.step(&grads, epoch)?;
                let end = StepEnd { step: global + 1, total: total_steps, params };
                for hook in hooks.iter_mut() {
                    hook.after_step(&end)?;
                }
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
            train_loss: loss_sum / used as f64,
            train_acc: correct_sum / used as f64,
            val_acc,
            lr,
            seconds,
            images_per_s: used as f64 / seconds,
            step_losses,
        };
        let every = (cfg.epochs / 50).max(1);
        if verbose && (record.epoch.is_multiple_of(every) || record.epoch == cfg.epochs || record.epoch == 1) {
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
        let mut state = opt.state();
        state.extend(hooks.iter().flat_map(|h| h.state()));
        let end = EpochEnd {
            record: &record,
            history: &history,
            config: cfg,
            params,
            optimizer_state: state,
            wall_seconds: wall_before + started.elapsed().as_secs_f64(),
            last: record.epoch == cfg.epochs,
        };
        let mut stop = false;
        for hook in hooks.iter_mut() {
            stop |= hook.after_epoch(&end)? == Control::Stop;
        }
        if stop {
            if !end.last {
                for hook in hooks.iter_mut() {
                    hook.on_stop(&end)?;
                }
            }
            break;
        }
    }
    Ok(FitReport { history, seconds: started.elapsed().as_secs_f64() })
}

/// A training batch on the CPU: the samples at `idx`, normalized, each augmented by `aug`
/// (alternating flips follow `(seed, epoch)`).
fn batch_for_training(
    ds: &Dataset,
    idx: &[usize],
    norm: &Normalization,
    aug: &Augment,
    rng: &mut rand::rngs::StdRng,
    (seed, epoch): (u64, usize),
) -> Result<(Tensor, Tensor)> {
    if aug.is_off() {
        return ds.batch(idx, norm, &Device::Cpu);
    }
    let mut scratch = Vec::with_capacity(ds.sample_dim());
    ds.batch_with(idx, norm, &Device::Cpu, |i, s| {
        let flip = aug.alternate_flip.then(|| crate::data::augment::alternating_flip(seed, i, epoch));
        aug.apply(s, &mut scratch, ds.shape, rng, flip)
    })
}

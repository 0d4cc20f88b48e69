//! Turning a training checkpoint into a shipped one (`weights/`): weights only, stored in `f16`
//! where asked, with the accuracy measured on the shipped file itself in its metadata.
//!
//! `evaluate --weights runs/x.safetensors --record weights/x.safetensors [--f16]` calls
//! [`write()`], scores the written file, then [`record`]s the result into it, so the figure in the
//! metadata is the one a user reproduces from that very file.

use crate::checkpoint::{self, Evaluation};
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use std::path::Path;

/// Writes `src`'s metadata and parameters (no optimizer state) to `dst`, atomically, with the
/// floating-point parameters in `f16` when `f16` is set. A checkpoint written before kindling
/// recorded wall-clock time gets the sum of its epochs' times from the `.history.json` beside it,
/// and one from before it recorded the machine gets this machine's description.
pub fn write(src: &Path, dst: &Path, f16: bool) -> Result<()> {
    let mut meta = checkpoint::read_meta(src)?;
    meta.evaluation = None;
    meta.extra_evaluations.clear();
    if meta.wall_seconds.is_none() {
        let history = checkpoint::history_path(src);
        if let Ok(text) = std::fs::read_to_string(&history) {
            let records: Vec<crate::train::EpochRecord> = serde_json::from_str(&text)
                .map_err(|e| Error::checkpoint(&history, format!("is not a training history: {e}")))?;
            meta.wall_seconds = Some(records.iter().take(meta.epoch).map(|r| r.seconds).sum());
        }
    }
    // Checkpoints from before kindling recorded the machine were trained on the machines
    // `evaluate --record` runs on here; anywhere else this says where it was published.
    meta.machine.get_or_insert_with(crate::support::machine::describe);
    let tensors = load_params(src)?;
    let dtype = if f16 { DType::F16 } else { DType::F32 };
    let tensors: Vec<(String, Tensor)> =
        tensors.into_iter().map(|(n, t)| Ok((n, t.to_dtype(dtype)?))).collect::<Result<_>>()?;
    checkpoint::write_tensors(dst, &meta, &tensors)
}

/// Stores `evaluation` in the metadata of the checkpoint at `path`, atomically.
pub fn record(path: &Path, evaluation: Evaluation) -> Result<()> {
    let mut meta = checkpoint::read_meta(path)?;
    meta.evaluation = Some(evaluation);
    checkpoint::write_tensors(path, &meta, &load_params(path)?)
}

/// Stores `evaluation` in the metadata of the shipped checkpoint at `path` beside its main
/// recorded accuracy (replacing an earlier one on the same data, split and test-time
/// augmentation), atomically; the weights are left as they are. Refused when the file has no
/// main accuracy recorded yet, or when `evaluation` is on the main one's own split.
pub fn record_extra(path: &Path, evaluation: Evaluation) -> Result<()> {
    let mut meta = checkpoint::read_meta(path)?;
    let Some(main) = &meta.evaluation else {
        return Err(Error::checkpoint(
            path,
            "has no recorded accuracy: ship it first with `evaluate --record`, then add other splits",
        ));
    };
    if (main.dataset.as_str(), main.split.as_str(), main.val_size)
        == (evaluation.dataset.as_str(), evaluation.split.as_str(), evaluation.val_size)
    {
        return Err(Error::checkpoint(
            path,
            format!(
                "records its {} accuracy already as its main figure: --record-extra is for another split",
                main.split
            ),
        ));
    }
    let same = |e: &Evaluation| {
        (e.dataset.as_str(), e.split.as_str(), e.val_size, e.tta)
            == (evaluation.dataset.as_str(), evaluation.split.as_str(), evaluation.val_size, evaluation.tta)
    };
    meta.extra_evaluations.retain(|e| !same(e));
    meta.extra_evaluations.push(evaluation);
    checkpoint::write_tensors(path, &meta, &load_params(path)?)
}

/// The parameters of a checkpoint, without its optimizer state, sorted by name.
fn load_params(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let all = candle_core::safetensors::load(path, &Device::Cpu)
        .map_err(|e| Error::checkpoint(path, format!("cannot read tensors: {e}")))?;
    let mut params: Vec<(String, Tensor)> =
        all.into_iter().filter(|(n, _)| !n.starts_with(checkpoint::OPTIM_PREFIX)).collect();
    params.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(params)
}

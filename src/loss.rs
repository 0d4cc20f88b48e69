//! Losses: softmax cross-entropy and the multiclass SVM hinge loss, plus `λ·R(W)` regularization.

use candle_core::{DType, Result, Tensor, Var, D};
use serde::{Deserialize, Serialize};

/// The data loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// Softmax cross-entropy: `-log softmax(s)_y`, averaged over the batch.
    Softmax,
    /// Multiclass SVM (Weston-Watkins) hinge loss: `Σ_{j≠y} max(0, s_j - s_y + 1)`, averaged.
    Svm,
}

/// The regularizer `R(W)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum RegKind {
    /// `Σ W²`.
    L2,
    /// `Σ |W|`.
    L1,
}

/// The data loss of `logits` `[B, K]` against labels `ys` `[B]` (u32).
pub fn data_loss(kind: LossKind, logits: &Tensor, ys: &Tensor) -> Result<Tensor> {
    match kind {
        LossKind::Softmax => candle_nn::loss::cross_entropy(logits, ys),
        LossKind::Svm => multiclass_hinge(logits, ys),
    }
}

/// Multiclass hinge loss with margin 1, averaged over the batch.
///
/// Summing `max(0, s_j - s_y + 1)` over all `j` includes `j = y`, which contributes exactly 1
/// with zero gradient; subtracting 1 leaves the sum over `j ≠ y`.
pub fn multiclass_hinge(logits: &Tensor, ys: &Tensor) -> Result<Tensor> {
    let b = logits.dim(0)?;
    let correct = logits.gather(&ys.unsqueeze(1)?, 1)?; // [B, 1]
    let margins = (logits.broadcast_sub(&correct)? + 1.0)?.relu()?; // [B, K]
    (margins.sum_all()? / b as f64)? - 1.0
}

/// `λ · R(W)` over the given weights (biases and normalization parameters are left out by the
/// caller). Returns `None` when `λ = 0` or there is nothing to regularize.
pub fn regularization(kind: RegKind, lambda: f64, weights: &[Var]) -> Result<Option<Tensor>> {
    if lambda == 0.0 || weights.is_empty() {
        return Ok(None);
    }
    let mut total: Option<Tensor> = None;
    for w in weights {
        let r = match kind {
            RegKind::L2 => w.sqr()?.sum_all()?,
            RegKind::L1 => w.abs()?.sum_all()?,
        };
        total = Some(match total {
            None => r,
            Some(t) => (t + r)?,
        });
    }
    total.map(|t| t * lambda).transpose()
}

/// Number of correct predictions in a batch, as a scalar f32 tensor (no device sync).
pub fn correct_count(logits: &Tensor, ys: &Tensor) -> Result<Tensor> {
    logits.argmax(D::Minus1)?.eq(ys)?.to_dtype(DType::F32)?.sum_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn hinge_matches_hand_computation() {
        // CS231n's example: scores [3.2, 5.1, -1.7], y = 0 -> max(0, 5.1-3.2+1) + max(0, -1.7-3.2+1) = 2.9
        let s = Tensor::new(&[[3.2f32, 5.1, -1.7]], &Device::Cpu).unwrap();
        let y = Tensor::new(&[0u32], &Device::Cpu).unwrap();
        let l = multiclass_hinge(&s, &y).unwrap().to_scalar::<f32>().unwrap();
        assert!((l - 2.9).abs() < 1e-5, "{l}");
    }
}

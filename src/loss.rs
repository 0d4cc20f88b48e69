//! Losses: softmax cross-entropy and the multiclass SVM hinge loss, plus `λ·R(W)` regularization.

use candle_core::{DType, Result, Tensor, Var, D};
use serde::{Deserialize, Serialize};

/// The data loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// Softmax cross-entropy: `-log softmax(s)_y`, averaged over the batch.
    Softmax,
    /// Multiclass SVM (Weston-Watkins) hinge loss: `Σ_{j≠y} max(0, s_j - s_y + 1)`, averaged.
    Svm,
}

impl LossKind {
    /// The name as typed after `--loss`.
    pub fn as_str(self) -> &'static str {
        match self {
            LossKind::Softmax => "softmax",
            LossKind::Svm => "svm",
        }
    }
}

/// The regularizer `R(W)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegKind {
    /// `Σ W²`.
    L2,
    /// `Σ |W|`.
    L1,
}

/// The data loss of `logits` `[B, K]` against labels `ys` `[B]` (u32); `label_smoothing` ε applies
/// to the softmax loss (0: plain cross-entropy).
pub fn data_loss(kind: LossKind, logits: &Tensor, ys: &Tensor, label_smoothing: f64) -> Result<Tensor> {
    match kind {
        LossKind::Softmax => smoothed_cross_entropy(logits, ys, label_smoothing),
        LossKind::Svm => multiclass_hinge(logits, ys),
    }
}

/// Softmax cross-entropy against smoothed targets: the true class gets `1 - ε + ε/K`, every other
/// class `ε/K` (Szegedy et al. 2016), i.e. `(1 - ε)·CE + ε·mean_k(-log softmax(s)_k)`, averaged
/// over the batch. `ε = 0` is plain cross-entropy.
pub fn smoothed_cross_entropy(logits: &Tensor, ys: &Tensor, eps: f64) -> Result<Tensor> {
    if eps == 0.0 {
        return candle_nn::loss::cross_entropy(logits, ys);
    }
    let (b, k) = logits.dims2()?;
    let logp = candle_nn::ops::log_softmax(logits, D::Minus1)?; // [B, K]
    let picked = logp.gather(&ys.unsqueeze(1)?, 1)?.sum_all()?; // Σ_b log p_y
    let all = logp.sum_all()?; // Σ_b Σ_k log p_k
    let total = ((picked * (1.0 - eps))? + (all * (eps / k as f64))?)?;
    total.affine(-1.0 / b as f64, 0.0)
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
    fn smoothed_cross_entropy_matches_hand_computation() {
        // p = softmax([1, 2, 3]) = [0.0900, 0.2447, 0.6652]; y = 0; ε = 0.3, K = 3:
        // targets [0.8, 0.1, 0.1] -> -(0.8·ln 0.0900 + 0.1·ln 0.2447 + 0.1·ln 0.6652) = 2.1085
        let s = Tensor::new(&[[1f32, 2., 3.]], &Device::Cpu).unwrap();
        let y = Tensor::new(&[0u32], &Device::Cpu).unwrap();
        let p: Vec<f64> = [1f64, 2., 3.].iter().map(|v| v.exp() / (1f64.exp() + 2f64.exp() + 3f64.exp())).collect();
        let want = -(0.8 * p[0].ln() + 0.1 * p[1].ln() + 0.1 * p[2].ln());
        let l = smoothed_cross_entropy(&s, &y, 0.3).unwrap().to_scalar::<f32>().unwrap();
        assert!((l as f64 - want).abs() < 1e-5, "{l} vs {want}");
        assert!((want - 2.1085).abs() < 1e-3);
        // ε = 0 is cross-entropy.
        let plain = smoothed_cross_entropy(&s, &y, 0.0).unwrap().to_scalar::<f32>().unwrap();
        assert!((plain as f64 + p[0].ln()).abs() < 1e-5);
    }

    #[test]
    fn hinge_matches_hand_computation() {
        // CS231n's example: scores [3.2, 5.1, -1.7], y = 0 -> max(0, 5.1-3.2+1) + max(0, -1.7-3.2+1) = 2.9
        let s = Tensor::new(&[[3.2f32, 5.1, -1.7]], &Device::Cpu).unwrap();
        let y = Tensor::new(&[0u32], &Device::Cpu).unwrap();
        let l = multiclass_hinge(&s, &y).unwrap().to_scalar::<f32>().unwrap();
        assert!((l - 2.9).abs() < 1e-5, "{l}");
    }
}

//! The lecture's hand-written network: two layers, sigmoid hidden units, squared-error loss, on
//! random data. The gradients are written out with the chain rule as tensor ops and checked
//! against candle's autograd.
//!
//! ```text
//! h      = σ(x·W1)            [N, H]
//! ŷ      = h·W2               [N, Dout]
//! L      = Σ (ŷ − y)²
//! dL/dŷ  = 2(ŷ − y)
//! dL/dW2 = hᵀ · dL/dŷ
//! dL/dh  = dL/dŷ · W2ᵀ
//! dL/dW1 = xᵀ · (dL/dh ⊙ h ⊙ (1 − h))
//! ```

use candle_core::{DType, Device, Result, Tensor, Var};
use rand::SeedableRng;

/// The network and its data.
pub struct TwoLayerNet {
    /// Inputs `[N, Din]`.
    pub x: Tensor,
    /// Targets `[N, Dout]`.
    pub y: Tensor,
    /// First layer `[Din, H]`.
    pub w1: Var,
    /// Second layer `[H, Dout]`.
    pub w2: Var,
}

/// True when every value of `t` is finite.
pub fn all_finite(t: &Tensor) -> Result<bool> {
    // A NaN is the one value not equal to itself.
    let nans = t.ne(t)?.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
    let largest = t.abs()?.max_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    Ok(nans == 0.0 && largest.is_finite())
}

/// One step's numbers.
#[derive(Debug, Clone, Copy)]
pub struct StepReport {
    /// The loss before the update.
    pub loss: f64,
    /// Largest relative difference between the hand-written and autograd gradients of W1 and W2.
    pub max_rel_error: f64,
}

fn randn(rng: &mut rand::rngs::StdRng, shape: (usize, usize), dev: &Device) -> Result<Tensor> {
    use rand::Rng;
    let v: Vec<f64> = (0..shape.0 * shape.1)
        .map(|_| {
            let u1: f64 = rng.random_range(f64::EPSILON..1.0);
            let u2: f64 = rng.random();
            (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        })
        .collect();
    Tensor::from_vec(v, shape, dev)
}

impl TwoLayerNet {
    /// Random data and weights (all N(0, 1), as in the lecture), in f64.
    pub fn new(n: usize, d_in: usize, h: usize, d_out: usize, seed: u64) -> Result<Self> {
        let dev = Device::Cpu;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        Ok(TwoLayerNet {
            x: randn(&mut rng, (n, d_in), &dev)?,
            y: randn(&mut rng, (n, d_out), &dev)?,
            w1: Var::from_tensor(&randn(&mut rng, (d_in, h), &dev)?)?,
            w2: Var::from_tensor(&randn(&mut rng, (h, d_out), &dev)?)?,
        })
    }

    /// Loss and the hand-written gradients `(dW1, dW2)`.
    pub fn manual(&self) -> Result<(f64, Tensor, Tensor)> {
        let h = candle_nn::ops::sigmoid(&self.x.matmul(self.w1.as_tensor())?)?; // [N, H]
        let y_pred = h.matmul(self.w2.as_tensor())?; // [N, Dout]
        let diff = (&y_pred - &self.y)?;
        let loss = diff.sqr()?.sum_all()?.to_scalar::<f64>()?;
        let grad_y_pred = (diff * 2.0)?;
        let grad_w2 = h.t()?.matmul(&grad_y_pred)?;
        let grad_h = grad_y_pred.matmul(&self.w2.as_tensor().t()?)?;
        let grad_pre = (grad_h * (&h * (1.0 - &h)?)?)?; // σ'(z) = σ(z)(1 − σ(z))
        let grad_w1 = self.x.t()?.matmul(&grad_pre)?;
        Ok((loss, grad_w1, grad_w2))
    }

    /// Gradients `(dW1, dW2)` from candle's autograd.
    pub fn autograd(&self) -> Result<(Tensor, Tensor)> {
        let h = candle_nn::ops::sigmoid(&self.x.matmul(self.w1.as_tensor())?)?;
        let loss = (h.matmul(self.w2.as_tensor())? - &self.y)?.sqr()?.sum_all()?;
        let g = loss.backward()?;
        Ok((g.get(&self.w1).unwrap().clone(), g.get(&self.w2).unwrap().clone()))
    }

    /// One gradient-descent step with learning rate `lr`, checking the hand-written gradients
    /// against autograd when `check` is set.
    pub fn step(&self, lr: f64, check: bool) -> Result<StepReport> {
        let (loss, g1, g2) = self.manual()?;
        let max_rel_error = if check {
            let (a1, a2) = self.autograd()?;
            rel_error(&g1, &a1)?.max(rel_error(&g2, &a2)?)
        } else {
            0.0
        };
        self.w1.set(&(self.w1.as_tensor() - (g1 * lr)?)?)?;
        self.w2.set(&(self.w2.as_tensor() - (g2 * lr)?)?)?;
        Ok(StepReport { loss, max_rel_error })
    }
}

/// `max |a − b| / max(|a| + |b|)` elementwise, the usual gradient-check measure; NaN when either
/// tensor holds a NaN or an infinity, where no comparison means anything (inf − inf is NaN, which
/// a maximum would silently skip).
pub fn rel_error(a: &Tensor, b: &Tensor) -> Result<f64> {
    if !all_finite(a)? || !all_finite(b)? {
        return Ok(f64::NAN);
    }
    let num = (a - b)?.abs()?;
    let den = (a.abs()? + b.abs()?)?.clamp(1e-12, f64::INFINITY)?;
    (num / den)?.max_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f64]) -> Tensor {
        Tensor::new(v, &Device::Cpu).unwrap()
    }

    /// `max |a - b| / (|a| + |b|)` element by element, by hand: the gradient check's yardstick.
    #[test]
    fn rel_error_is_the_largest_elementwise_relative_difference() {
        assert_eq!(rel_error(&t(&[1.0, -2.0, 3.5]), &t(&[1.0, -2.0, 3.5])).unwrap(), 0.0);
        // 0 and 0.2 / 4.2: the larger.
        let e = rel_error(&t(&[1.0, 2.0]), &t(&[1.0, 2.2])).unwrap();
        assert!((e - 0.2 / 4.2).abs() < 1e-15, "{e}");
        // Symmetric; opposite signs give the largest value, 1.
        assert_eq!(rel_error(&t(&[1.0, 2.2]), &t(&[1.0, 2.0])).unwrap(), e);
        assert_eq!(rel_error(&t(&[3.0, 0.5]), &t(&[-3.0, 0.5])).unwrap(), 1.0);
        // Scale-free: the same relative difference at 1e-8 and at 1e8.
        let small = rel_error(&t(&[1e-8]), &t(&[1.1e-8])).unwrap();
        let large = rel_error(&t(&[1e8]), &t(&[1.1e8])).unwrap();
        assert!((small - 0.1 / 2.1).abs() < 1e-12 && (large - 0.1 / 2.1).abs() < 1e-12, "{small} {large}");
        // Two zeros agree; below 1e-12 the denominator is held at 1e-12.
        assert_eq!(rel_error(&t(&[0.0]), &t(&[0.0])).unwrap(), 0.0);
        let tiny = rel_error(&t(&[1e-13]), &t(&[0.0])).unwrap();
        assert!((tiny - 0.1).abs() < 1e-12, "{tiny}");
        // A non-finite gradient is never "close": NaN, which fails every `<` check.
        assert!(rel_error(&t(&[f64::NAN, 1.0]), &t(&[1.0, 1.0])).unwrap().is_nan());
        assert!(rel_error(&t(&[1.0]), &t(&[f64::INFINITY])).unwrap().is_nan());
    }
}

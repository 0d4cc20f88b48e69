//! Dropout whose masks come from a seeded stream, so that the same `--seed` gives the same run.
//!
//! candle 0.11's `candle_nn::ops::dropout` draws its mask with `Tensor::rand`, which on the CPU
//! reads `rand::rng()`: a generator seeded from the operating system that `Device::set_seed`
//! cannot reach. Every model with dropout then trained differently from run to run whatever the
//! seed. Here the mask comes from a per-thread generator that [`fit`](crate::train::fit) reseeds
//! from `(seed, epoch)` at the start of each epoch, as PyTorch's `manual_seed` does for its one
//! global generator: the same seed gives the same masks, and a run resumed at an epoch boundary
//! draws the same masks as one that never stopped. On other devices the mask is drawn on the
//! device with `Tensor::rand`, whose generator [`reseed`] seeds with `Device::set_seed`.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use kindling::ops::dropout;
//! let xs = Tensor::ones((4, 1000), candle_core::DType::F32, &Device::Cpu)?;
//! dropout::reseed(7, 0, &Device::Cpu)?;
//! let a = dropout::dropout(&xs, 0.5)?;
//! dropout::reseed(7, 0, &Device::Cpu)?;
//! let b = dropout::dropout(&xs, 0.5)?;
//! assert_eq!(a.to_vec2::<f32>()?, b.to_vec2::<f32>()?, "the same seed, the same mask");
//! // Kept values are scaled by 1 / (1 − p): the expectation is unchanged.
//! let mean = a.mean_all()?.to_scalar::<f32>()?;
//! assert!((mean - 1.0).abs() < 0.05, "{mean}");
//! # Ok::<(), candle_core::Error>(())
//! ```

use candle_core::{bail, Device, Result, Tensor};
use rand::{Rng, SeedableRng};
use std::cell::RefCell;

thread_local! {
    /// The stream the masks of this thread's training steps are drawn from.
    static STREAM: RefCell<rand::rngs::StdRng> = RefCell::new(rand::rngs::StdRng::seed_from_u64(stream_seed(0, 0)));
}

fn stream_seed(seed: u64, epoch: usize) -> u64 {
    seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ (0xD0D0_0000_0000 + epoch as u64)
}

/// Restarts this thread's mask stream (and, off the CPU, `device`'s generator) from `seed` and
/// `epoch`: what [`fit`](crate::train::fit) calls at the start of every epoch.
pub fn reseed(seed: u64, epoch: usize, device: &Device) -> Result<()> {
    STREAM.with(|s| *s.borrow_mut() = rand::rngs::StdRng::seed_from_u64(stream_seed(seed, epoch)));
    if !device.is_cpu() {
        device.set_seed(stream_seed(seed, epoch))?;
    }
    Ok(())
}

/// Zeroes each element of `xs` with probability `p` and scales the others by `1 / (1 − p)`
/// (inverted dropout: evaluation needs no rescaling). The mask comes from this thread's stream
/// on the CPU, from the device's generator elsewhere; see the module's text.
pub fn dropout(xs: &Tensor, p: f32) -> Result<Tensor> {
    if !(0.0..1.0).contains(&p) {
        bail!("dropout probability must be in [0, 1), got {p}")
    }
    if p == 0.0 {
        return Ok(xs.clone());
    }
    if !xs.device().is_cpu() {
        return candle_nn::ops::dropout(xs, p);
    }
    let scale = 1.0 / (1.0 - p);
    let n = xs.elem_count();
    let mask: Vec<f32> = STREAM.with(|s| {
        let mut rng = s.borrow_mut();
        (0..n).map(|_| if rng.random::<f32>() < p { 0.0 } else { scale }).collect()
    });
    let mask = Tensor::from_vec(mask, xs.shape(), xs.device())?.to_dtype(xs.dtype())?;
    xs * mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_follow_the_seed_and_the_epoch() {
        let xs = Tensor::ones((64, 64), candle_core::DType::F32, &Device::Cpu).unwrap();
        let draw = |seed, epoch| {
            reseed(seed, epoch, &Device::Cpu).unwrap();
            let first = dropout(&xs, 0.3).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let second = dropout(&xs, 0.3).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            (first, second)
        };
        let (a1, a2) = draw(1, 0);
        assert_eq!((a1.clone(), a2.clone()), draw(1, 0), "the same seed and epoch: the same masks");
        assert_ne!(a1, a2, "successive steps draw fresh masks");
        assert_ne!(a1, draw(2, 0).0);
        assert_ne!(a1, draw(1, 1).0);
        let dropped = a1.iter().filter(|&&v| v == 0.0).count() as f64 / a1.len() as f64;
        assert!((dropped - 0.3).abs() < 0.03, "{dropped}");
        assert!(a1.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.7).abs() < 1e-6));
        assert!(dropout(&xs, 1.0).is_err() && dropout(&xs, -0.1).is_err());
    }
}

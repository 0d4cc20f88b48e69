//! Fused, in-place parameter updates for the CPU: one pass over memory per state tensor, no
//! allocation. The tensor-op form of each update (used on other devices and dtypes) allocates a
//! dozen temporaries per parameter and step, which dominates small models' step time.

use candle_core::{CpuStorage, InplaceOp2, InplaceOp3, Layout, Result, Tensor};
use rayon::prelude::*;

const CHUNK: usize = 1 << 14;

/// True when `ts` are all contiguous f32 tensors on the CPU, the case the fused kernels handle.
pub fn applicable(ts: &[&Tensor]) -> bool {
    ts.iter().all(|t| t.device().is_cpu() && t.dtype() == candle_core::DType::F32 && t.is_contiguous())
}

fn slice<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&v[a..b]),
        _ => candle_core::bail!("fused optimizer kernels need contiguous f32 tensors"),
    }
}

fn slice_mut<'a>(s: &'a mut CpuStorage, l: &Layout) -> Result<&'a mut [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&mut v[a..b]),
        _ => candle_core::bail!("fused optimizer kernels need contiguous f32 tensors"),
    }
}

/// `s = a·s + b·x` (or `b·x²` when `square`).
pub struct Axpby {
    /// Factor of the state.
    pub a: f32,
    /// Factor of the input.
    pub b: f32,
    /// Square the input first.
    pub square: bool,
}

impl InplaceOp2 for Axpby {
    fn name(&self) -> &'static str {
        "kindling-axpby"
    }

    fn cpu_fwd(&self, s1: &mut CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<()> {
        let (s, x) = (slice_mut(s1, l1)?, slice(s2, l2)?);
        let (a, b, sq) = (self.a, self.b, self.square);
        s.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).for_each(|(s, x)| {
            for (s, &x) in s.iter_mut().zip(x) {
                *s = a * *s + b * if sq { x * x } else { x };
            }
        });
        Ok(())
    }
}

/// Adam's parameter step: `p = decay·p − lr·(m/bc1) / (√(v/bc2) + ε)`.
pub struct AdamStep {
    /// Learning rate.
    pub lr: f32,
    /// `1 − β1^t`.
    pub bc1: f32,
    /// `1 − β2^t`.
    pub bc2: f32,
    /// ε.
    pub eps: f32,
    /// `1 − lr·λ` for AdamW's decoupled weight decay, else 1.
    pub decay: f32,
}

impl InplaceOp3 for AdamStep {
    fn name(&self) -> &'static str {
        "kindling-adam-step"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<()> {
        let (p, m, v) = (slice_mut(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
        let AdamStep { lr, bc1, bc2, eps, decay } = *self;
        p.par_chunks_mut(CHUNK).zip(m.par_chunks(CHUNK)).zip(v.par_chunks(CHUNK)).for_each(|((p, m), v)| {
            for ((p, &m), &v) in p.iter_mut().zip(m).zip(v) {
                *p = decay * *p - lr * (m / bc1) / ((v / bc2).sqrt() + eps);
            }
        });
        Ok(())
    }
}

/// SGD's parameter step: `p −= lr·(g + μ·v)` for Nesterov, `p −= lr·v` for momentum (`g` unused).
pub struct SgdStep {
    /// Learning rate.
    pub lr: f32,
    /// μ for Nesterov, 0 otherwise.
    pub nesterov_mu: f32,
    /// Whether `g` contributes (Nesterov).
    pub nesterov: bool,
}

impl InplaceOp3 for SgdStep {
    fn name(&self) -> &'static str {
        "kindling-sgd-step"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<()> {
        let (p, g, v) = (slice_mut(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
        let SgdStep { lr, nesterov_mu, nesterov } = *self;
        p.par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK)).zip(v.par_chunks(CHUNK)).for_each(|((p, g), v)| {
            for ((p, &g), &v) in p.iter_mut().zip(g).zip(v) {
                *p -= lr * if nesterov { g + nesterov_mu * v } else { v };
            }
        });
        Ok(())
    }
}

/// RMSProp's parameter step: `p −= lr·g / (√s + ε)`.
pub struct RmsStep {
    /// Learning rate.
    pub lr: f32,
    /// ε.
    pub eps: f32,
}

impl InplaceOp3 for RmsStep {
    fn name(&self) -> &'static str {
        "kindling-rmsprop-step"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<()> {
        let (p, g, s) = (slice_mut(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
        let RmsStep { lr, eps } = *self;
        p.par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK)).zip(s.par_chunks(CHUNK)).for_each(|((p, g), s)| {
            for ((p, &g), &s) in p.iter_mut().zip(g).zip(s) {
                *p -= lr * g / (s.sqrt() + eps);
            }
        });
        Ok(())
    }
}

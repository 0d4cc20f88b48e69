//! Reading a tensor's CPU data as a plain `f32` slice, for the kernels in this module (and the
//! blocked transpose and the parallel zeroing they share).
//!
//! candle hands custom ops a storage plus a [`Layout`] that may carry an offset and arbitrary
//! strides. The public functions of [`crate::ops`] make their inputs contiguous before calling
//! candle, so the kernels only ever need the contiguous window `[start, end)` of the storage.

use candle_core::{bail, CpuStorage, Layout, Result, Storage, Tensor};
use rayon::prelude::*;

/// The contiguous `f32` elements that `layout` describes inside `storage`.
///
/// Fails (rather than reading wrong elements) if the layout is strided; callers pass
/// contiguous tensors, so that would be a bug in this module.
pub(crate) fn contiguous_f32<'a>(op: &str, storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    let data = storage.as_slice::<f32>()?;
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => bail!("{op}: expected a contiguous input, got strides {:?}", layout.stride()),
    }
}

/// Runs `f` on the `f32` data of a CPU tensor, made contiguous first if needed.
///
/// Backward passes receive ordinary tensors (the incoming gradient is often a broadcast), so this
/// is their way into the raw data; the read lock on the storage is held only while `f` runs.
pub(crate) fn with_f32<R>(op: &str, t: &Tensor, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => f(contiguous_f32(op, cpu, layout)?),
        _ => bail!("{op}: the CPU kernel got a tensor on {:?}", t.device().location()),
    }
}

/// The `[rows, cols]` matrix at the start of `a` (rows `stride` apart) transposed into `t`
/// (`[cols, rows]`, row-major), in blocks of 16×16 so that both sides are read and written a
/// cache line at a time.
pub(crate) fn transpose_into(a: &[f32], rows: usize, cols: usize, stride: usize, t: &mut [f32]) {
    const B: usize = 16;
    for r0 in (0..rows).step_by(B) {
        for c0 in (0..cols).step_by(B) {
            for r in r0..(r0 + B).min(rows) {
                for c in c0..(c0 + B).min(cols) {
                    t[c * rows + r] = a[r * stride + c];
                }
            }
        }
    }
}

/// A vector of `n` zeros (`T::default()`), written across the cores: a plain `vec![0; n]` is one
/// `memset` on the calling thread while the others wait (8% of airbench94's training step, which
/// ran 7-14% faster without it). Zeroing in blocks through `MaybeUninit::fill` was no faster.
pub(crate) fn zeros<T: Default + Clone + Send>(n: usize) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    v.par_extend(rayon::iter::repeat_n(T::default(), n));
    v
}

//! The whitening first layer of airbench94: a fixed `k`×`k` convolution whose filters decorrelate
//! the image's patches.
//!
//! The second moment `Σ = E[p pᵀ]` of the `C·k²`-long patches `p` of the first training images
//! (normalized) has eigenvectors `v_j` and eigenvalues `λ_j`; the filters are `v_j / sqrt(λ_j + ε)`
//! and their negatives (`2·C·k²` channels, so that the activation after them loses no sign), in
//! order of decreasing `λ_j`. The filters' outputs on the patches then have a second moment of
//! `diag(λ_j / (λ_j + ε))`, close to the identity. The filters stay fixed; only the layer's bias
//! trains, and only for the first epochs (the recipe's parameter groups say how long).

use crate::data::{Dataset, Normalization};
use crate::Result;
use candle_core::{Device, Tensor};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The whitening layer's settings, recorded in the checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Whitening {
    /// Patch (kernel) side, 2 in airbench94; no padding.
    pub kernel: usize,
    /// ε added to each eigenvalue before scaling (5e-4).
    pub eps: f64,
    /// How many of the first training images give the patches (5,000).
    pub images: usize,
}

impl Whitening {
    /// Output channels for `c` input channels: `2·c·k²`.
    pub fn channels(&self, c: usize) -> usize {
        2 * c * self.kernel * self.kernel
    }

    /// The second moment of the `C·k²` patches (all positions, no padding) of the first
    /// `self.images` images of `ds`, normalized by `norm`, row-major `[d, d]`.
    pub fn patch_moment(&self, ds: &Dataset, norm: &Normalization) -> Vec<f64> {
        let [c, h, w] = ds.shape;
        let k = self.kernel;
        let d = c * k * k;
        let n = self.images.min(ds.len());
        let (ho, wo) = ((h + 1).saturating_sub(k), (w + 1).saturating_sub(k));
        let sums = (0..n)
            .into_par_iter()
            .fold(
                || (vec![0f64; d * d], vec![0f32; ds.sample_dim()], vec![0f64; d]),
                |(mut acc, mut img, mut p), i| {
                    ds.write_sample(i, norm, &mut img);
                    for y in 0..ho {
                        for x in 0..wo {
                            for ch in 0..c {
                                for dy in 0..k {
                                    for dx in 0..k {
                                        p[(ch * k + dy) * k + dx] = img[(ch * h + y + dy) * w + x + dx] as f64;
                                    }
                                }
                            }
                            for a in 0..d {
                                for b in a..d {
                                    acc[a * d + b] += p[a] * p[b];
                                }
                            }
                        }
                    }
                    (acc, img, p)
                },
            )
            .map(|(acc, _, _)| acc)
            .reduce(|| vec![0f64; d * d], |a, b| a.iter().zip(&b).map(|(x, y)| x + y).collect());
        let count = (n * ho * wo).max(1) as f64;
        let mut m = vec![0f64; d * d];
        for a in 0..d {
            for b in a..d {
                m[a * d + b] = sums[a * d + b] / count;
                m[b * d + a] = m[a * d + b];
            }
        }
        m
    }

    /// The filters `[2·C·k², C, k, k]` for `ds` (see the module docs), on `device`.
    pub fn filters(&self, ds: &Dataset, norm: &Normalization, device: &Device) -> Result<Tensor> {
        let c = ds.shape[0];
        let d = c * self.kernel * self.kernel;
        let (values, vectors) = symmetric_eigen(&self.patch_moment(ds, norm), d);
        let mut order: Vec<usize> = (0..d).collect();
        order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
        let mut w = vec![0f32; 2 * d * d];
        for (row, &j) in order.iter().enumerate() {
            let scale = 1.0 / (values[j].max(0.0) + self.eps).sqrt();
            for i in 0..d {
                let v = (vectors[i * d + j] * scale) as f32; // column j is the eigenvector
                w[row * d + i] = v;
                w[(row + d) * d + i] = -v;
            }
        }
        Ok(Tensor::from_vec(w, (2 * d, c, self.kernel, self.kernel), device)?)
    }
}

/// Eigenvalues and eigenvectors (as the columns of a row-major `[n, n]` matrix) of the symmetric
/// `n`×`n` matrix `a`, by cyclic Jacobi rotations: exact to f64 rounding for the 12×12 moment
/// of 2×2 colour patches, in a few sweeps.
pub fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0f64; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j].powi(2))
            .sum();
        let scale: f64 = (0..n).map(|i| a[i * n + i].powi(2)).sum::<f64>().max(f64::MIN_POSITIVE);
        if off <= 1e-30 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let (cs, sn) = (1.0 / (t * t + 1.0).sqrt(), t / (t * t + 1.0).sqrt());
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = cs * akp - sn * akq;
                    a[k * n + q] = sn * akp + cs * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = cs * apk - sn * aqk;
                    a[q * n + k] = sn * apk + cs * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = cs * vkp - sn * vkq;
                    v[k * n + q] = sn * vkp + cs * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Pixels;
    use rand::{Rng, SeedableRng};

    #[test]
    fn jacobi_reconstructs_the_matrix() {
        let n = 5;
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let b: Vec<f64> = (0..n * n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let a: Vec<f64> =
            (0..n * n).map(|ij| (0..n).map(|k| b[(ij / n) * n + k] * b[(ij % n) * n + k]).sum()).collect();
        let (l, v) = symmetric_eigen(&a, n);
        for i in 0..n {
            for j in 0..n {
                let r: f64 = (0..n).map(|k| v[i * n + k] * l[k] * v[j * n + k]).sum();
                assert!((r - a[i * n + j]).abs() < 1e-10, "V L Vt differs from A at ({i}, {j})");
                let o: f64 = (0..n).map(|k| v[k * n + i] * v[k * n + j]).sum();
                assert!((o - if i == j { 1.0 } else { 0.0 }).abs() < 1e-10, "V is not orthonormal");
            }
        }
    }

    /// On images with strongly correlated neighbouring pixels and channels, the filters' outputs
    /// over all patches have a second moment within 1e-3 of the identity (ε tiny), and the
    /// negated half mirrors the first.
    #[test]
    fn whitened_patches_have_identity_covariance() {
        let (n, c, h, w) = (60, 3, 8, 8);
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut px = vec![0u8; n * c * h * w];
        for i in 0..n {
            let base: f64 = rng.random_range(40.0..200.0);
            for y in 0..h {
                for x in 0..w {
                    let smooth = base + 20.0 * ((x + y) as f64 * 0.7 + i as f64).sin();
                    for ch in 0..c {
                        let v = smooth + 8.0 * ch as f64 + rng.random_range(-12.0..12.0);
                        px[((i * c + ch) * h + y) * w + x] = v.clamp(0.0, 255.0) as u8;
                    }
                }
            }
        }
        let ds = Dataset::new("synthetic", Pixels::U8(px), vec![0; n], [c, h, w], vec!["a".into()]).unwrap();
        let norm = Normalization::measure(&ds);
        let wh = Whitening { kernel: 2, eps: 1e-12, images: n };
        let filters = wh.filters(&ds, &norm, &Device::Cpu).unwrap();
        assert_eq!(filters.dims(), &[24, 3, 2, 2]);
        let f = filters.flatten_from(1).unwrap().to_vec2::<f32>().unwrap();
        let d = 12;
        assert!((0..d).all(|j| f[j].iter().zip(&f[j + d]).all(|(a, b)| *a == -*b)));
        // Second moment of the outputs: F Σ Fᵀ.
        let m = wh.patch_moment(&ds, &norm);
        for a in 0..d {
            for b in 0..d {
                let mut s = 0f64;
                for i in 0..d {
                    for j in 0..d {
                        s += f[a][i] as f64 * m[i * d + j] * f[b][j] as f64;
                    }
                }
                let want = if a == b { 1.0 } else { 0.0 };
                assert!((s - want).abs() < 1e-3, "whitened moment ({a}, {b}) = {s}, want {want}");
            }
        }
        // The moment was not the identity to begin with.
        assert!(m[1] > 0.5, "neighbouring pixels should correlate, moment {}", m[1]);
    }
}

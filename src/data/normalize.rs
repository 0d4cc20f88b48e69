//! Per-channel normalization statistics, computed on the training split and stored in checkpoints.

use super::Dataset;
use serde::{Deserialize, Serialize};

/// Per-channel mean and standard deviation of the scaled pixel values (`u8 / 255`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Mean of each channel.
    pub mean: Vec<f32>,
    /// Standard deviation of each channel (never below 1e-6).
    pub std: Vec<f32>,
}

impl Normalization {
    /// Statistics of `ds`, one pair per channel.
    pub fn measure(ds: &Dataset) -> Self {
        let [c, h, w] = ds.shape;
        let plane = h * w;
        let d = ds.sample_dim();
        let mut sum = vec![0f64; c];
        let mut sq = vec![0f64; c];
        for i in 0..ds.len() {
            for ch in 0..c {
                let base = i * d + ch * plane;
                let (mut s, mut q) = (0f64, 0f64);
                for j in 0..plane {
                    let v = ds.pixels.get(base + j) as f64;
                    s += v;
                    q += v * v;
                }
                sum[ch] += s;
                sq[ch] += q;
            }
        }
        let n = (ds.len() * plane).max(1) as f64;
        let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
        let std = sq
            .iter()
            .zip(&sum)
            .map(|(q, s)| {
                let m = s / n;
                ((q / n - m * m).max(0.0).sqrt() as f32).max(1e-6)
            })
            .collect();
        Normalization { mean, std }
    }

    /// No-op statistics (mean 0, std 1) for `channels` channels.
    pub fn identity(channels: usize) -> Self {
        Normalization { mean: vec![0.0; channels], std: vec![1.0; channels] }
    }
}

//! An AlexNet-style convolutional network for small images: a stack of conv blocks (convolution,
//! optional batch norm, activation, optional pooling), dropout, and a fully connected head.
//!
//! Filters span the full input depth, as in the lecture: block `i`'s weights are
//! `[out, in, k, k]`. Parameter names (readable from PyTorch): `features.{i}.weight` /
//! `.bias` for conv `i`, `norms.{i}.{weight,bias,running_mean,running_var}` for its batch norm,
//! `classifier.{j}.weight` / `.bias` for fully connected layer `j` (the last one gives the logits).
//! Batch norm and dropout behave differently in training and evaluation ([`ModuleT`]); batch-norm
//! running statistics are parameters of the checkpoint.

use super::activation::Activation;
use super::batch_norm::BatchNorm;
use crate::ops;
use candle_core::{ModuleT, Result, Tensor};
use candle_nn::{Init, Linear, VarBuilder};
use serde::{Deserialize, Serialize};

/// Pooling after a conv block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Pool {
    /// No pooling.
    None,
    /// Max pool 2×2, stride 2.
    Max,
    /// Average pool 2×2, stride 2.
    Avg,
    /// AlexNet's overlapping max pool 3×3, stride 2 (32 → 15).
    Overlap,
}

impl Pool {
    /// Output side for an input side `n`.
    pub fn out_size(self, n: usize) -> usize {
        match self {
            Pool::None => n,
            Pool::Max | Pool::Avg => n / 2,
            Pool::Overlap => n.saturating_sub(3) / 2 + 1,
        }
    }
}

/// One convolution block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvBlock {
    /// Output channels (filters).
    pub channels: usize,
    /// Square kernel size.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding on each side.
    pub padding: usize,
    /// Pooling after the activation.
    pub pool: Pool,
}

/// Configuration of a [`Cnn`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CnnConfig {
    /// Input shape `[C, H, W]`.
    pub input_shape: [usize; 3],
    /// Number of classes.
    pub classes: usize,
    /// The conv blocks, in order.
    pub blocks: Vec<ConvBlock>,
    /// Batch norm after each convolution.
    pub batch_norm: bool,
    /// Activation after each convolution (and hidden FC layer).
    pub activation: Activation,
    /// Widths of the hidden fully connected layers.
    pub fc: Vec<usize>,
    /// Dropout before each fully connected layer (training only).
    pub dropout: f32,
}

impl CnnConfig {
    /// The default blocks for `channels`: 3×3 convolutions (5×5 for the first), padding that keeps
    /// the size, `pool` after each.
    pub fn blocks(channels: &[usize], pool: Pool) -> Vec<ConvBlock> {
        channels
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let kernel = if i == 0 { 5 } else { 3 };
                ConvBlock { channels: c, kernel, stride: 1, padding: kernel / 2, pool }
            })
            .collect()
    }

    /// `[C, H, W]` after each block, starting with the input.
    pub fn shapes(&self) -> Result<Vec<[usize; 3]>> {
        let mut s = self.input_shape;
        let mut out = vec![s];
        for (i, b) in self.blocks.iter().enumerate() {
            let conv = |n: usize| -> Result<usize> {
                let padded = n + 2 * b.padding;
                if padded < b.kernel || b.stride == 0 {
                    candle_core::bail!("conv block {i}: kernel {} does not fit an input of side {n}", b.kernel)
                }
                Ok((padded - b.kernel) / b.stride + 1)
            };
            let (h, w) = (b.pool.out_size(conv(s[1])?), b.pool.out_size(conv(s[2])?));
            if h == 0 || w == 0 {
                candle_core::bail!("conv block {i}: the image shrinks to nothing ({}x{} before pooling)", s[1], s[2])
            }
            s = [b.channels, h, w];
            out.push(s);
        }
        Ok(out)
    }

    /// Multiply-accumulate operations of one forward pass of one image.
    pub fn macs(&self) -> Result<usize> {
        let shapes = self.shapes()?;
        let mut total = 0;
        for (i, b) in self.blocks.iter().enumerate() {
            let cin = shapes[i][0];
            let ho = (shapes[i][1] + 2 * b.padding - b.kernel) / b.stride + 1;
            let wo = (shapes[i][2] + 2 * b.padding - b.kernel) / b.stride + 1;
            total += ho * wo * b.channels * self.activation.pieces() * cin * b.kernel * b.kernel;
        }
        let last = shapes.last().unwrap();
        let mut fan_in = last.iter().product::<usize>();
        for &w in self.fc.iter().chain(std::iter::once(&self.classes)) {
            total += fan_in * w;
            fan_in = w;
        }
        Ok(total)
    }
}

/// A convolutional network.
#[derive(Debug, Clone)]
pub struct Cnn {
    convs: Vec<(Tensor, Tensor)>,
    norms: Vec<Option<BatchNorm>>,
    fcs: Vec<Linear>,
    cfg: CnnConfig,
}

impl Cnn {
    /// Builds the network, creating or loading its parameters from `vb`.
    pub fn new(cfg: &CnnConfig, vb: VarBuilder) -> Result<Self> {
        let shapes = cfg.shapes()?;
        let k = cfg.activation.pieces();
        let (mut convs, mut norms) = (vec![], vec![]);
        for (i, b) in cfg.blocks.iter().enumerate() {
            let cin = shapes[i][0];
            let out = b.channels * k;
            let fan_in = cin * b.kernel * b.kernel;
            let std = cfg.activation.gain() / (fan_in as f64).sqrt();
            let vbi = vb.pp(format!("features.{i}"));
            let w =
                vbi.get_with_hints((out, cin, b.kernel, b.kernel), "weight", Init::Randn { mean: 0.0, stdev: std })?;
            let bias = vbi.get_with_hints(out, "bias", Init::Const(0.0))?;
            convs.push((w, bias));
            norms.push(if cfg.batch_norm { Some(BatchNorm::new(out, vb.pp(format!("norms.{i}")))?) } else { None });
        }
        let mut fan_in: usize = shapes.last().unwrap().iter().product();
        let mut fcs = vec![];
        let widths: Vec<usize> = cfg.fc.iter().map(|w| w * k).chain(std::iter::once(cfg.classes)).collect();
        for (j, &w) in widths.iter().enumerate() {
            let last = j + 1 == widths.len();
            let gain = if last { 1.0 } else { cfg.activation.gain() };
            let vbj = vb.pp(format!("classifier.{j}"));
            let weight = vbj.get_with_hints(
                (w, fan_in),
                "weight",
                Init::Randn { mean: 0.0, stdev: gain / (fan_in as f64).sqrt() },
            )?;
            let bias = vbj.get_with_hints(w, "bias", Init::Const(0.0))?;
            fcs.push(Linear::new(weight, Some(bias)));
            fan_in = if last { w } else { w / k };
        }
        Ok(Cnn { convs, norms, fcs, cfg: cfg.clone() })
    }

    /// The first layer's filters `[out, in, k, k]`.
    pub fn first_filters(&self) -> &Tensor {
        &self.convs[0].0
    }
}

impl ModuleT for Cnn {
    /// # Shapes
    /// `xs`: `[B, C, H, W]` -> logits `[B, classes]`.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let mut h = xs.clone();
        for (i, b) in self.cfg.blocks.iter().enumerate() {
            let (w, bias) = &self.convs[i];
            h = ops::conv2d(&h, w, bias, b.stride, b.padding)?; // [B, out, H', W']
            if let Some(bn) = &self.norms[i] {
                h = h.apply_t(bn, train)?;
            }
            h = self.cfg.activation.forward(&h)?;
            h = match b.pool {
                Pool::None => h,
                Pool::Max => ops::max_pool2d(&h, 2, 2)?,
                Pool::Avg => h.avg_pool2d(2)?,
                Pool::Overlap => ops::max_pool2d(&h, 3, 2)?, // [B, out, (H'-3)/2+1, ...]
            };
        }
        let mut h = h.flatten_from(1)?; // [B, C·H·W]
        let n = self.fcs.len();
        for (j, fc) in self.fcs.iter().enumerate() {
            if train && self.cfg.dropout > 0.0 {
                h = candle_nn::ops::dropout(&h, self.cfg.dropout)?;
            }
            h = ops::linear_layer(&h, fc)?;
            if j + 1 < n {
                h = self.cfg.activation.forward(&h)?;
            }
        }
        Ok(h) // [B, classes]
    }
}

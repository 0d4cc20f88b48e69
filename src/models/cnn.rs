//! A convolutional network for small images: a stack of conv blocks (convolution, optional batch
//! norm, activation, optional pooling), dropout, and a fully connected head. The defaults are
//! VGG-style stages of 3×3 convolutions with batch norm (the layout of Keller Jordan's airbench);
//! AlexNet's pieces (overlapping 3×3 pooling, dropout, a fully connected head) are options.
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

    /// Stages of `depth` 3×3 convolutions each, one stage per width in `channels`, with `pool` after
    /// the first convolution of a stage so that the others run at the pooled size (the layout of
    /// Keller Jordan's airbench; VGG pools after the last, at four times the cost). `depth` 1 is
    /// [`CnnConfig::blocks`], 5×5 first layer included.
    pub fn stages(channels: &[usize], depth: usize, pool: Pool) -> Vec<ConvBlock> {
        if depth <= 1 {
            return Self::blocks(channels, pool);
        }
        channels
            .iter()
            .flat_map(|&c| {
                (0..depth).map(move |j| ConvBlock {
                    channels: c,
                    kernel: 3,
                    stride: 1,
                    padding: 1,
                    pool: if j == 0 { pool } else { Pool::None },
                })
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
            // Activation then pooling, as written; for max pooling and a non-decreasing activation
            // (ReLU), pooling first gives the same values and gradients on a quarter of the data.
            let pool_first = matches!(b.pool, Pool::Max | Pool::Overlap) && self.cfg.activation.commutes_with_max();
            if !pool_first {
                h = self.cfg.activation.forward(&h)?;
            }
            h = match b.pool {
                Pool::None => h,
                Pool::Max => ops::max_pool2d(&h, 2, 2)?,
                Pool::Avg => h.avg_pool2d(2)?,
                Pool::Overlap => ops::max_pool2d(&h, 3, 2)?, // [B, out, (H'-3)/2+1, ...]
            };
            if pool_first {
                h = self.cfg.activation.forward(&h)?;
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};
    use candle_nn::VarMap;

    /// Pooling before a non-decreasing activation gives the values and input gradients of
    /// activation-then-pooling, ties and all-negative windows included.
    #[test]
    fn pooling_first_matches_activation_first() {
        let dev = Device::Cpu;
        for act in [Activation::Relu, Activation::LeakyRelu { alpha: 0.1 }, Activation::Tanh] {
            for pool in [Pool::Max, Pool::Overlap] {
                let cfg = CnnConfig {
                    input_shape: [2, 9, 9],
                    classes: 3,
                    blocks: vec![ConvBlock { channels: 4, kernel: 3, stride: 1, padding: 1, pool }],
                    batch_norm: false,
                    activation: act,
                    fc: vec![],
                    dropout: 0.0,
                };
                let vm = VarMap::new();
                let net = Cnn::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
                // Rounded inputs make exact ties in the windows.
                let xs = Var::from_tensor(&(Tensor::randn(0f32, 2.0, (3, 2, 9, 9), &dev).unwrap().round().unwrap()))
                    .unwrap();
                let ours = net.forward_t(&xs, true).unwrap();
                let (w, b) = &net.convs[0];
                let h = act.forward(&ops::conv2d(&xs, w, b, 1, 1).unwrap()).unwrap();
                let h = if pool == Pool::Max { ops::max_pool2d(&h, 2, 2) } else { ops::max_pool2d(&h, 3, 2) }.unwrap();
                let want = ops::linear_layer(&h.flatten_from(1).unwrap(), &net.fcs[0]).unwrap();
                let diff = (&ours - &want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
                assert!(diff < 1e-5, "{act} {pool:?}: outputs differ by {diff}");
                let g1 = ours.sqr().unwrap().sum_all().unwrap().backward().unwrap();
                let g2 = want.sqr().unwrap().sum_all().unwrap().backward().unwrap();
                let (g1, g2) = (g1.get(&xs).unwrap(), g2.get(&xs).unwrap());
                let diff = (g1 - g2).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
                assert!(diff < 1e-4, "{act} {pool:?}: input gradients differ by {diff}");
            }
        }
    }
}

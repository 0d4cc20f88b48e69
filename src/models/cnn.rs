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
//!
//! [`CnnExtras`] holds the pieces of Keller Jordan's airbench94 network (arXiv 2404.00498), all off
//! by default: a fixed whitening first convolution (`whiten.weight` / `.bias`), convolutions
//! without bias and with identity (dirac) initialization, pooling before batch norm, batch norm
//! with a fixed scale and its own ε and momentum, a final max pool, and a head without bias whose
//! logits are scaled (`train --recipe airbench94`).

use super::activation::Activation;
use super::batch_norm::{BatchNorm, NormOptions};
use super::whiten::Whitening;
use crate::ops;
use candle_core::{ModuleT, Result, Tensor};
use candle_nn::{Init, Linear, VarBuilder};
use serde::{Deserialize, Serialize};

/// Pooling after a conv block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// How convolution filters start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConvInit {
    /// Normal with standard deviation `gain / sqrt(fan_in)` (the activation's gain).
    #[default]
    Gain,
    /// PyTorch's default for `Conv2d`: uniform in `±1 / sqrt(fan_in)`.
    Uniform,
    /// [`ConvInit::Uniform`], then the first `in` filters of each convolution replaced by the
    /// identity (PyTorch's `nn.init.dirac_`): each passes one input channel through unchanged.
    Dirac,
}

fn yes() -> bool {
    true
}

fn one() -> f64 {
    1.0
}

/// Options beyond the lecture's CNN (airbench94's pieces); the defaults change nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CnnExtras {
    /// A fixed whitening convolution before the first block, followed by the activation.
    #[serde(default)]
    pub whiten: Option<Whitening>,
    /// Convolutions have a bias (true); without, a batch norm's shift plays its part.
    #[serde(default = "yes")]
    pub conv_bias: bool,
    /// Initialization of the blocks' filters.
    #[serde(default)]
    pub conv_init: ConvInit,
    /// Batch norm's ε, momentum and learned scale.
    #[serde(default)]
    pub norm: NormOptions,
    /// Pool right after the convolution, before batch norm and activation (airbench's order).
    #[serde(default)]
    pub pool_before_norm: bool,
    /// Max pool `k`×`k`, stride `k`, after the last block (0: none).
    #[serde(default)]
    pub head_pool: usize,
    /// The fully connected layers have a bias (true).
    #[serde(default = "yes")]
    pub head_bias: bool,
    /// The logits are multiplied by this (1).
    #[serde(default = "one")]
    pub head_scale: f64,
    /// The last layer's initial weights rescaled to this standard deviation (`None`: as drawn).
    /// airbench94's Muon variant starts its head at 1 and divides the logits by 256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_std: Option<f64>,
}

impl Default for CnnExtras {
    fn default() -> Self {
        CnnExtras {
            whiten: None,
            conv_bias: true,
            conv_init: ConvInit::Gain,
            norm: NormOptions::default(),
            pool_before_norm: false,
            head_pool: 0,
            head_bias: true,
            head_scale: 1.0,
            head_std: None,
        }
    }
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
    /// airbench94's pieces, off by default.
    #[serde(default)]
    pub extras: CnnExtras,
}

/// A CNN's layers before the data decide its input shape and class count: the part of a run
/// description that [`CnnLayers::config`] completes.
#[derive(Debug, Clone, PartialEq)]
pub struct CnnLayers {
    /// The conv blocks, in order ([`CnnConfig::stages`] builds the usual ones).
    pub blocks: Vec<ConvBlock>,
    /// Batch norm after each convolution.
    pub batch_norm: bool,
    /// Activation after each convolution (and hidden FC layer).
    pub activation: Activation,
    /// Widths of the hidden fully connected layers.
    pub fc: Vec<usize>,
    /// Dropout before each fully connected layer (training only).
    pub dropout: f32,
    /// airbench94's pieces, off by default.
    pub extras: CnnExtras,
}

impl CnnLayers {
    /// The configuration for inputs of `input_shape` and `classes` classes.
    pub fn config(&self, input_shape: [usize; 3], classes: usize) -> CnnConfig {
        CnnConfig {
            input_shape,
            classes,
            blocks: self.blocks.clone(),
            batch_norm: self.batch_norm,
            activation: self.activation,
            fc: self.fc.clone(),
            dropout: self.dropout,
            extras: self.extras.clone(),
        }
    }

    /// The layers of `cfg`.
    pub fn of(cfg: &CnnConfig) -> Self {
        CnnLayers {
            blocks: cfg.blocks.clone(),
            batch_norm: cfg.batch_norm,
            activation: cfg.activation,
            fc: cfg.fc.clone(),
            dropout: cfg.dropout,
            extras: cfg.extras.clone(),
        }
    }
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

    /// `[C, H, W]` after the whitening convolution, if any: the first block's input.
    pub fn stem_shape(&self) -> Result<[usize; 3]> {
        let [c, h, w] = self.input_shape;
        match self.extras.whiten {
            None => Ok(self.input_shape),
            Some(wh) => {
                if h < wh.kernel || w < wh.kernel {
                    candle_core::bail!("the whitening kernel {} does not fit a {h}x{w} image", wh.kernel)
                }
                Ok([wh.channels(c), h - wh.kernel + 1, w - wh.kernel + 1])
            }
        }
    }

    /// `[C, H, W]` after each block, starting with the first block's input (the image, or the
    /// whitening convolution's output).
    pub fn shapes(&self) -> Result<Vec<[usize; 3]>> {
        let mut s = self.stem_shape()?;
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

    /// `[C, H, W]` that the fully connected head reads: the last block's output, after the
    /// head's pooling.
    pub fn head_input(&self) -> Result<[usize; 3]> {
        let [c, h, w] = *self.shapes()?.last().unwrap();
        match self.extras.head_pool {
            0 => Ok([c, h, w]),
            k if k <= h && k <= w => Ok([c, h / k, w / k]),
            k => candle_core::bail!("the head's {k}x{k} pooling does not fit the last block's {h}x{w} output"),
        }
    }

    /// Multiply-accumulate operations of one forward pass of one image.
    pub fn macs(&self) -> Result<usize> {
        let shapes = self.shapes()?;
        let mut total = 0;
        if let Some(wh) = self.extras.whiten {
            let [c, h, w] = shapes[0];
            total += h * w * c * self.input_shape[0] * wh.kernel * wh.kernel;
        }
        for (i, b) in self.blocks.iter().enumerate() {
            let cin = shapes[i][0];
            let ho = (shapes[i][1] + 2 * b.padding - b.kernel) / b.stride + 1;
            let wo = (shapes[i][2] + 2 * b.padding - b.kernel) / b.stride + 1;
            total += ho * wo * b.channels * self.activation.pieces() * cin * b.kernel * b.kernel;
        }
        let mut fan_in = self.head_input()?.iter().product::<usize>();
        for &w in self.fc.iter().chain(std::iter::once(&self.classes)) {
            total += fan_in * w;
            fan_in = w;
        }
        Ok(total)
    }
}

/// Writes the identity filters of [`ConvInit::Dirac`] into freshly built parameters: filter `o`
/// of each block, for `o` below its input channels, becomes 1 at the centre of input channel `o`
/// and 0 elsewhere (PyTorch's `nn.init.dirac_` on `weight[:in]`). Nothing for other inits.
pub(crate) fn dirac_init(cfg: &CnnConfig, params: &crate::params::Params) -> Result<()> {
    if cfg.extras.conv_init != ConvInit::Dirac {
        return Ok(());
    }
    for i in 0..cfg.blocks.len() {
        let name = format!("features.{i}.weight");
        let var = params.get(&name).ok_or_else(|| candle_core::Error::Msg(format!("{name} missing")))?;
        let (out, cin, kh, kw) = var.dims4()?;
        let mut w = var.flatten_all()?.to_dtype(candle_core::DType::F32)?.to_vec1::<f32>()?;
        for o in 0..out.min(cin) {
            let filter = &mut w[o * cin * kh * kw..(o + 1) * cin * kh * kw];
            filter.fill(0.0);
            filter[o * kh * kw + (kh / 2) * kw + kw / 2] = 1.0;
        }
        let t = Tensor::from_vec(w, (out, cin, kh, kw), var.device())?.to_dtype(var.dtype())?;
        var.set(&t)?;
    }
    Ok(())
}

/// Rescales the last layer's freshly drawn weights to [`CnnExtras::head_std`] (their sample
/// standard deviation, as PyTorch's `w.std()`). Nothing when it is `None`.
pub(crate) fn head_std_init(cfg: &CnnConfig, params: &crate::params::Params) -> Result<()> {
    let Some(target) = cfg.extras.head_std else { return Ok(()) };
    let name = format!("classifier.{}.weight", cfg.fc.len());
    let var = params.get(&name).ok_or_else(|| candle_core::Error::Msg(format!("{name} missing")))?;
    let w = var.as_tensor().to_dtype(candle_core::DType::F64)?;
    let n = w.elem_count();
    let mean = w.mean_all()?.to_scalar::<f64>()?;
    let var_sum = w.affine(1.0, -mean)?.sqr()?.sum_all()?.to_scalar::<f64>()?;
    let std = (var_sum / (n.max(2) - 1) as f64).sqrt();
    var.set(&(var.as_tensor() * (target / std.max(1e-30)))?)?;
    Ok(())
}

/// A convolutional network.
#[derive(Debug, Clone)]
pub struct Cnn {
    whiten: Option<(Tensor, Tensor)>,
    convs: Vec<(Tensor, Option<Tensor>)>,
    norms: Vec<Option<BatchNorm>>,
    fcs: Vec<Linear>,
    cfg: CnnConfig,
    /// Everything but the last layer is frozen (a linear probe): batch norm uses its running
    /// statistics and no gradient flows below the last layer, in training too.
    frozen_features: bool,
}

impl Cnn {
    /// Builds the network, creating or loading its parameters from `vb`.
    pub fn new(cfg: &CnnConfig, vb: VarBuilder) -> Result<Self> {
        let shapes = cfg.shapes()?;
        let k = cfg.activation.pieces();
        let x = &cfg.extras;
        let whiten = match x.whiten {
            None => None,
            // Placeholder filters until `Whitening::filters` computes them from the training images
            // (`Network::init_from_data`); a loaded checkpoint brings its own.
            Some(wh) => {
                let (c, out) = (cfg.input_shape[0], shapes[0][0]);
                let vbw = vb.pp("whiten");
                let w = vbw.get_with_hints((out, c, wh.kernel, wh.kernel), "weight", Init::Const(0.0))?;
                Some((w, vbw.get_with_hints(out, "bias", Init::Const(0.0))?))
            }
        };
        let (mut convs, mut norms) = (vec![], vec![]);
        for (i, b) in cfg.blocks.iter().enumerate() {
            let cin = shapes[i][0];
            let out = b.channels * k;
            let fan_in = cin * b.kernel * b.kernel;
            let vbi = vb.pp(format!("features.{i}"));
            let init = match x.conv_init {
                ConvInit::Gain => Init::Randn { mean: 0.0, stdev: cfg.activation.gain() / (fan_in as f64).sqrt() },
                ConvInit::Uniform | ConvInit::Dirac => {
                    let b = 1.0 / (fan_in as f64).sqrt();
                    Init::Uniform { lo: -b, up: b }
                }
            };
            // `ConvInit::Dirac`'s identity filters are written by `dirac_init` once the network is built.
            let w = vbi.get_with_hints((out, cin, b.kernel, b.kernel), "weight", init)?;
            let bias = if x.conv_bias { Some(vbi.get_with_hints(out, "bias", Init::Const(0.0))?) } else { None };
            convs.push((w, bias));
            norms.push(if cfg.batch_norm {
                Some(BatchNorm::with_options(out, vb.pp(format!("norms.{i}")), x.norm)?)
            } else {
                None
            });
        }
        let mut fan_in: usize = cfg.head_input()?.iter().product();
        let mut fcs = vec![];
        let widths: Vec<usize> = cfg.fc.iter().map(|w| w * k).chain(std::iter::once(cfg.classes)).collect();
        for (j, &w) in widths.iter().enumerate() {
            let last = j + 1 == widths.len();
            let gain = if last { 1.0 } else { cfg.activation.gain() };
            let vbj = vb.pp(format!("classifier.{j}"));
            let init = match cfg.extras.conv_init {
                ConvInit::Gain => Init::Randn { mean: 0.0, stdev: gain / (fan_in as f64).sqrt() },
                // PyTorch's default for `Linear` too.
                ConvInit::Uniform | ConvInit::Dirac => {
                    let b = 1.0 / (fan_in as f64).sqrt();
                    Init::Uniform { lo: -b, up: b }
                }
            };
            let weight = vbj.get_with_hints((w, fan_in), "weight", init)?;
            let bias = if cfg.extras.head_bias { Some(vbj.get_with_hints(w, "bias", Init::Const(0.0))?) } else { None };
            fcs.push(Linear::new(weight, bias));
            fan_in = if last { w } else { w / k };
        }
        Ok(Cnn { whiten, convs, norms, fcs, cfg: cfg.clone(), frozen_features: false })
    }

    /// Freezes everything but the last layer (a linear probe): from now on the batch norms use
    /// their running statistics and no gradient reaches the frozen layers, in training as well.
    pub fn freeze_features(&mut self) {
        self.frozen_features = true;
    }

    /// The same network recording no autograd graph (see [`super::Model::detached`]).
    pub fn detached(&self) -> Self {
        Cnn {
            whiten: self.whiten.as_ref().map(|(w, b)| (w.detach(), b.detach())),
            convs: self.convs.iter().map(|(w, b)| (w.detach(), b.as_ref().map(Tensor::detach))).collect(),
            norms: self.norms.iter().map(|n| n.as_ref().map(BatchNorm::detached)).collect(),
            fcs: self.fcs.iter().map(super::detached_linear).collect(),
            cfg: self.cfg.clone(),
            frozen_features: self.frozen_features,
        }
    }

    /// The first layer's filters `[out, in, k, k]`: the whitening convolution's, when there is one.
    pub fn first_filters(&self) -> &Tensor {
        match &self.whiten {
            Some((w, _)) => w,
            None => &self.convs[0].0,
        }
    }
}

impl ModuleT for Cnn {
    /// # Shapes
    /// `xs`: `[B, C, H, W]` -> logits `[B, classes]`.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let act = self.cfg.activation;
        // Frozen features run as in evaluation (batch-norm running statistics, not the batch's).
        let train_features = train && !self.frozen_features;
        let mut h = match &self.whiten {
            Some((w, bias)) => act.forward(&ops::conv2d(xs, w, bias, 1, 0)?)?, // [B, 2·C·k², H-k+1, W-k+1]
            None => xs.clone(),
        };
        for (i, b) in self.cfg.blocks.iter().enumerate() {
            let (w, bias) = &self.convs[i];
            // Batch norm (if any) then the activation, as one op where it can be.
            let norm_act = |h: &Tensor| match &self.norms[i] {
                Some(bn) => bn.forward_act(h, train_features, act),
                None => act.forward(h),
            };
            if self.cfg.extras.pool_before_norm && b.pool == Pool::Max {
                // The convolution and its 2×2 pool as one op, which frees the convolution's output.
                let zero;
                let bias = match bias {
                    Some(bias) => bias,
                    None => {
                        zero = Tensor::zeros(w.dim(0)?, w.dtype(), w.device())?;
                        &zero
                    }
                };
                h = norm_act(&ops::conv2d_max_pool2(&h, w, bias, b.stride, b.padding)?)?; // [B, out, H'/2, W'/2]
                continue;
            }
            h = match bias {
                Some(bias) => ops::conv2d(&h, w, bias, b.stride, b.padding)?, // [B, out, H', W']
                None => ops::conv2d_no_bias(&h, w, b.stride, b.padding)?,
            };
            if self.cfg.extras.pool_before_norm {
                h = norm_act(&pool(&h, b.pool)?)?;
                continue;
            }
            // Activation then pooling, as written; for max pooling and a non-decreasing activation
            // (ReLU), pooling first gives the same values and gradients on a quarter of the data.
            let pool_first = matches!(b.pool, Pool::Max | Pool::Overlap) && act.commutes_with_max();
            if pool_first {
                if let Some(bn) = &self.norms[i] {
                    h = h.apply_t(bn, train_features)?;
                }
                h = act.forward(&pool(&h, b.pool)?)?;
            } else {
                h = pool(&norm_act(&h)?, b.pool)?;
            }
        }
        if self.cfg.extras.head_pool > 0 {
            let k = self.cfg.extras.head_pool;
            h = ops::max_pool2d(&h, k, k)?;
        }
        let mut h = h.flatten_from(1)?; // [B, C·H·W]
        let n = self.fcs.len();
        for (j, fc) in self.fcs.iter().enumerate() {
            if self.frozen_features && j + 1 == n {
                h = h.detach(); // [B, D]: the last layer's input, no gradient below it
            }
            // Frozen layers run as in evaluation; the last layer's input keeps its dropout.
            if train && self.cfg.dropout > 0.0 && (!self.frozen_features || j + 1 == n) {
                h = crate::ops::dropout::dropout(&h, self.cfg.dropout)?;
            }
            h = ops::linear_layer(&h, fc)?;
            if j + 1 < n {
                h = self.cfg.activation.forward(&h)?;
            }
        }
        if self.cfg.extras.head_scale != 1.0 {
            h = (h * self.cfg.extras.head_scale)?;
        }
        Ok(h) // [B, classes]
    }
}

/// `h` pooled as `pool` says.
fn pool(h: &Tensor, pool: Pool) -> Result<Tensor> {
    match pool {
        Pool::None => Ok(h.clone()),
        Pool::Max => ops::max_pool2d(h, 2, 2),
        Pool::Avg => h.avg_pool2d(2),
        Pool::Overlap => ops::max_pool2d(h, 3, 2), // [B, out, (H'-3)/2+1, ...]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};

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
                    extras: CnnExtras::default(),
                };
                let net = Cnn::new(&cfg, crate::params::Params::new(5).var_builder(DType::F32, &dev)).unwrap();
                // Rounded inputs make exact ties in the windows.
                let xs = crate::params::randn(6, (3, 2, 9, 9), 0.0, 2.0, &dev).unwrap().round().unwrap();
                let xs = Var::from_tensor(&xs).unwrap();
                let ours = net.forward_t(&xs, true).unwrap();
                let (w, b) = &net.convs[0];
                let h = act.forward(&ops::conv2d(&xs, w, b.as_ref().unwrap(), 1, 1).unwrap()).unwrap();
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

//! kindling's models as ONNX nodes: the evaluation-mode forward pass of [`LinearClassifier`],
//! [`Mlp`] and [`Cnn`], op for op, in the order kindling computes it.
//!
//! Each function mirrors a `forward_t(xs, false)`: dropout is absent (it is the identity in
//! evaluation), batch norm uses the running statistics (`BatchNormalization`), the tanh GELU is
//! written with kindling's (candle's) constants and operation order, the exact GELU as an `Erf`
//! composition (opset 13 has no `Gelu`), Maxout as a `Reshape` and a `ReduceMax`.
//!
//! [`LinearClassifier`]: crate::models::LinearClassifier
//! [`Mlp`]: crate::models::Mlp
//! [`Cnn`]: crate::models::Cnn

use super::graph::{Attr, Graph};
use crate::models::{Activation, CnnConfig, LinearConfig, MlpConfig, NormOptions, Pool};
use crate::params::Params;
use crate::{Error, Result};

/// The graph under construction and the parameters it reads.
pub(crate) struct Builder<'a> {
    /// The nodes so far.
    pub(crate) graph: Graph,
    params: &'a Params,
}

impl<'a> Builder<'a> {
    pub(crate) fn new(params: &'a Params) -> Self {
        Builder { graph: Graph::default(), params }
    }

    /// The parameter `name` as an initializer (f32, its own shape).
    fn param(&mut self, name: &str) -> Result<String> {
        let var = self.params.get(name).ok_or_else(|| {
            Error::Export(format!("the checkpoint has no tensor {name}, which its model configuration needs"))
        })?;
        let data = var.as_tensor().flatten_all()?.to_dtype(candle_core::DType::F32)?.to_vec1::<f32>()?;
        Ok(self.graph.weight(name, var.dims(), &data))
    }

    /// `x · Wᵀ + b` (`Gemm`), with the parameters `{prefix}.weight` `[out, in]` and, when `bias`,
    /// `{prefix}.bias`.
    fn linear(&mut self, x: &str, prefix: &str, bias: bool) -> Result<String> {
        let w = self.param(&format!("{prefix}.weight"))?;
        let mut inputs = vec![x.to_string(), w];
        if bias {
            inputs.push(self.param(&format!("{prefix}.bias"))?);
        }
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        Ok(self.graph.node(prefix, "Gemm", &inputs, vec![Attr::int("transB", 1)]))
    }

    /// Batch normalization of `channels` channels with the running statistics `{prefix}.*`
    /// (a scale of ones when `opts` fixes it).
    fn batch_norm(&mut self, x: &str, prefix: &str, channels: usize, opts: NormOptions) -> Result<String> {
        let scale = match opts.scale {
            true => self.param(&format!("{prefix}.weight"))?,
            false => self.graph.weight(&format!("{prefix}.weight"), &[channels], &vec![1.0; channels]),
        };
        let bias = self.param(&format!("{prefix}.bias"))?;
        let mean = self.param(&format!("{prefix}.running_mean"))?;
        let var = self.param(&format!("{prefix}.running_var"))?;
        let eps = Attr::float("epsilon", opts.eps as f32);
        Ok(self.graph.node(prefix, "BatchNormalization", &[x, &scale, &bias, &mean, &var], vec![eps]))
    }

    /// The activation `act` of `x`, whose dimension 1 has `width` values (`k` pieces per unit for
    /// Maxout) and whose later dimensions are `rest` (`[H, W]`, or none after a linear layer).
    fn activation(&mut self, x: &str, scope: &str, act: Activation, width: usize, rest: &[usize]) -> String {
        let g = &mut self.graph;
        match act {
            Activation::Relu => g.node(scope, "Relu", &[x], vec![]),
            // kindling computes max(x, αx), which is LeakyRelu only for 0 <= α <= 1.
            Activation::LeakyRelu { alpha } => {
                let a = g.scalar(alpha as f32);
                let ax = g.node(scope, "Mul", &[x, &a], vec![]);
                g.node(scope, "Max", &[x, &ax], vec![])
            }
            Activation::Sigmoid => g.node(scope, "Sigmoid", &[x], vec![]),
            Activation::Tanh => g.node(scope, "Tanh", &[x], vec![]),
            // α(eˣ − 1) below 0; with α = 0 that is ReLU (and an attribute of 0 cannot be written).
            Activation::Elu { alpha: 0.0 } => g.node(scope, "Relu", &[x], vec![]),
            Activation::Elu { alpha } => g.node(scope, "Elu", &[x], vec![Attr::float("alpha", alpha as f32)]),
            // candle's f32 formula, operation for operation:
            // 0.5·x·(1 + tanh(√(2/π)·x·(1 + 0.044715·x·x))).
            Activation::Gelu => {
                // √(2/π) as candle writes it (`SQRT_TWO_OVER_PI_F32`).
                #[allow(clippy::excessive_precision)]
                let c = g.scalar(0.79788456080286535587989211986876373);
                let (k, one, half) = (g.scalar(0.044715), g.scalar(1.0), g.scalar(0.5));
                let kx = g.node(scope, "Mul", &[x, &k], vec![]);
                let kxx = g.node(scope, "Mul", &[&kx, x], vec![]);
                let inner = g.node(scope, "Add", &[&kxx, &one], vec![]);
                let cx = g.node(scope, "Mul", &[x, &c], vec![]);
                let arg = g.node(scope, "Mul", &[&cx, &inner], vec![]);
                let t = g.node(scope, "Tanh", &[&arg], vec![]);
                let t1 = g.node(scope, "Add", &[&t, &one], vec![]);
                let hx = g.node(scope, "Mul", &[x, &half], vec![]);
                g.node(scope, "Mul", &[&hx, &t1], vec![])
            }
            // x·Φ(x), Φ(x) = 0.5·(1 + erf(x/√2)), as kindling's GELU op.
            Activation::GeluErf => {
                let (r, one, half) = (g.scalar(std::f32::consts::FRAC_1_SQRT_2), g.scalar(1.0), g.scalar(0.5));
                let xr = g.node(scope, "Mul", &[x, &r], vec![]);
                let e = g.node(scope, "Erf", &[&xr], vec![]);
                let e1 = g.node(scope, "Add", &[&e, &one], vec![]);
                let phi = g.node(scope, "Mul", &[&e1, &half], vec![]);
                g.node(scope, "Mul", &[x, &phi], vec![])
            }
            // Dimension 1 holds k consecutive pieces per unit: [N, width·k, ...] -> [N, width, k, ...],
            // the maximum over the k (kept as a dimension of 1: keepdims = 0 cannot be written), and
            // back to [N, width, ...].
            Activation::Maxout { k } => {
                let units = (width / k) as i64;
                let rest: Vec<i64> = rest.iter().map(|&d| d as i64).collect();
                let split = g.ints(&format!("{scope}/pieces"), &[&[0, units, k as i64][..], &rest].concat());
                let merged = g.ints(&format!("{scope}/units"), &[&[0, units][..], &rest].concat());
                let pieces = g.node(scope, "Reshape", &[x, &split], vec![]);
                let max = g.node(scope, "ReduceMax", &[&pieces], vec![Attr::ints("axes", &[2])]);
                g.node(scope, "Reshape", &[&max, &merged], vec![])
            }
        }
    }

    /// `x` pooled as [`Pool`] says.
    fn pool(&mut self, x: &str, scope: &str, pool: Pool) -> String {
        let (op, k, s) = match pool {
            Pool::None => return x.to_string(),
            Pool::Max => ("MaxPool", 2, 2),
            Pool::Avg => ("AveragePool", 2, 2),
            Pool::Overlap => ("MaxPool", 3, 2),
        };
        self.max_or_avg(x, scope, op, k, s)
    }

    fn max_or_avg(&mut self, x: &str, scope: &str, op: &str, k: usize, s: usize) -> String {
        let attrs = vec![Attr::ints("kernel_shape", &[k as i64; 2]), Attr::ints("strides", &[s as i64; 2])];
        self.graph.node(scope, op, &[x], attrs)
    }

    fn flatten(&mut self, x: &str) -> String {
        self.graph.node("flatten", "Flatten", &[x], vec![Attr::int("axis", 1)])
    }

    /// [`LinearClassifier`](crate::models::LinearClassifier): the logits of the normalized `x`.
    pub(crate) fn linear_classifier(&mut self, x: &str, _cfg: &LinearConfig) -> Result<String> {
        let h = self.flatten(x); // [N, C·H·W]
        self.linear(&h, "fc", true) // [N, classes]
    }

    /// [`Mlp`](crate::models::Mlp) in evaluation mode.
    pub(crate) fn mlp(&mut self, x: &str, cfg: &MlpConfig) -> Result<String> {
        let mut h = self.flatten(x); // [N, D]
        let k = cfg.activation.pieces();
        for (i, &width) in cfg.hidden.iter().enumerate() {
            h = self.linear(&h, &format!("layers.{i}"), true)?; // [N, width·k]
            if cfg.batch_norm {
                h = self.batch_norm(&h, &format!("norms.{i}"), width * k, NormOptions::default())?;
            }
            h = self.activation(&h, &format!("act.{i}"), cfg.activation, width * k, &[]);
            // [N, width]
        }
        self.linear(&h, &format!("layers.{}", cfg.hidden.len()), true) // [N, classes]
    }

    /// [`Cnn`](crate::models::Cnn) in evaluation mode, airbench94's pieces included.
    pub(crate) fn cnn(&mut self, x: &str, cfg: &CnnConfig) -> Result<String> {
        let act = cfg.activation;
        let k = act.pieces();
        let shapes = cfg.shapes()?;
        let extras = &cfg.extras;
        let mut h = x.to_string();
        if extras.whiten.is_some() {
            let (w, b) = (self.param("whiten.weight")?, self.param("whiten.bias")?);
            let pads = Attr::ints("pads", &[0; 4]);
            h = self.graph.node("whiten", "Conv", &[&h, &w, &b], vec![pads]); // [N, 2·C·k², H-k+1, W-k+1]
            let [c, ht, wd] = shapes[0];
            h = self.activation(&h, "whiten", act, c, &[ht, wd]);
        }
        for (i, b) in cfg.blocks.iter().enumerate() {
            let scope = format!("features.{i}");
            let w = self.param(&format!("{scope}.weight"))?;
            let mut inputs = vec![h.clone(), w];
            if extras.conv_bias {
                inputs.push(self.param(&format!("{scope}.bias"))?);
            }
            let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            let attrs = vec![
                Attr::ints("kernel_shape", &[b.kernel as i64; 2]),
                Attr::ints("strides", &[b.stride as i64; 2]),
                Attr::ints("pads", &[b.padding as i64; 4]),
            ];
            h = self.graph.node(&scope, "Conv", &inputs, attrs); // [N, channels·k, H', W']
            let channels = b.channels * k;
            let [_, ho, wo] = shapes[i + 1]; // after pooling
            let norm = format!("norms.{i}");
            // The three orders of Cnn::forward_t.
            if extras.pool_before_norm {
                h = self.pool(&h, &scope, b.pool);
                if cfg.batch_norm {
                    h = self.batch_norm(&h, &norm, channels, extras.norm)?;
                }
                h = self.activation(&h, &scope, act, channels, &[ho, wo]);
            } else if matches!(b.pool, Pool::Max | Pool::Overlap) && act.commutes_with_max() {
                if cfg.batch_norm {
                    h = self.batch_norm(&h, &norm, channels, extras.norm)?;
                }
                h = self.pool(&h, &scope, b.pool);
                h = self.activation(&h, &scope, act, channels, &[ho, wo]);
            } else {
                if cfg.batch_norm {
                    h = self.batch_norm(&h, &norm, channels, extras.norm)?;
                }
                // Before pooling the activation sees the convolution's own size.
                let conv_side = |n: usize| (n + 2 * b.padding - b.kernel) / b.stride + 1;
                let (hc, wc) = (conv_side(shapes[i][1]), conv_side(shapes[i][2]));
                h = self.activation(&h, &scope, act, channels, &[hc, wc]);
                h = self.pool(&h, &scope, b.pool);
            }
        }
        if extras.head_pool > 0 {
            h = self.max_or_avg(&h, "head", "MaxPool", extras.head_pool, extras.head_pool);
        }
        h = self.flatten(&h); // [N, C·H·W]
        for (j, &width) in cfg.fc.iter().enumerate() {
            h = self.linear(&h, &format!("classifier.{j}"), extras.head_bias)?; // [N, width·k]
            h = self.activation(&h, &format!("classifier.{j}"), act, width * k, &[]);
        }
        h = self.linear(&h, &format!("classifier.{}", cfg.fc.len()), extras.head_bias)?; // [N, classes]
        if extras.head_scale != 1.0 {
            let s = self.graph.scalar(extras.head_scale as f32);
            h = self.graph.node("head", "Mul", &[&h, &s], vec![]);
        }
        Ok(h)
    }
}

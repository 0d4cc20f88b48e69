//! Activation functions, chosen with `--activation relu | leaky-relu[:α] | sigmoid | tanh | elu[:α] |
//! gelu | gelu-erf | maxout[:k]`.
//!
//! Maxout (Goodfellow et al., 2013) is not elementwise: the preceding layer produces `k` pieces per
//! unit and the activation keeps their maximum, so it changes that layer's width (see
//! [`Activation::pieces`]).

use candle_core::{Result, Tensor, D};
use serde::{Deserialize, Serialize};

/// A non-linearity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[derive(Default)]
pub enum Activation {
    /// `max(0, x)`.
    #[default]
    Relu,
    /// `max(αx, x)`.
    LeakyRelu {
        /// Slope for negative inputs (0.01).
        alpha: f64,
    },
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
    /// `x` for `x > 0`, else `α(e^x − 1)`.
    Elu {
        /// Scale of the negative part (1.0).
        alpha: f64,
    },
    /// Gaussian error linear unit (tanh approximation).
    Gelu,
    /// The exact GELU, `x·Φ(x)` (PyTorch's default `nn.GELU()`), on kindling's fused op.
    GeluErf,
    /// Maximum over `k` linear pieces.
    Maxout {
        /// Pieces per unit (2).
        k: usize,
    },
}

impl Activation {
    /// Parses the command-line form.
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (s, None),
        };
        let num = |default: f64| -> std::result::Result<f64, String> {
            arg.map(|a| a.parse::<f64>().map_err(|_| format!("'{a}' in '{s}' is not a number"))).unwrap_or(Ok(default))
        };
        let a = match name {
            "relu" => Activation::Relu,
            "leaky-relu" => Activation::LeakyRelu { alpha: num(0.01)? },
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "elu" => Activation::Elu { alpha: num(1.0)? },
            "gelu" => Activation::Gelu,
            "gelu-erf" => Activation::GeluErf,
            "maxout" => {
                let k = num(2.0)?;
                if k < 2.0 || k.fract() != 0.0 {
                    return Err(format!("maxout needs a whole number of pieces >= 2, got '{s}'"));
                }
                Activation::Maxout { k: k as usize }
            }
            _ => {
                return Err(format!(
                    "unknown activation '{s}': use relu, leaky-relu[:a], sigmoid, tanh, elu[:a], gelu, gelu-erf or maxout[:k]"
                ))
            }
        };
        if matches!(name, "relu" | "sigmoid" | "tanh" | "gelu" | "gelu-erf") && arg.is_some() {
            return Err(format!("{name} takes no parameter, got '{s}'"));
        }
        Ok(a)
    }

    /// How many outputs the preceding layer produces per unit (`k` for Maxout, else 1).
    pub fn pieces(&self) -> usize {
        match self {
            Activation::Maxout { k } => *k,
            _ => 1,
        }
    }

    /// The recommended gain for initialization (PyTorch's `calculate_gain`).
    pub fn gain(&self) -> f64 {
        match self {
            Activation::Relu
            | Activation::Elu { .. }
            | Activation::Gelu
            | Activation::GeluErf
            | Activation::Maxout { .. } => 2f64.sqrt(),
            Activation::LeakyRelu { alpha } => (2.0 / (1.0 + alpha * alpha)).sqrt(),
            Activation::Tanh => 5.0 / 3.0,
            Activation::Sigmoid => 1.0,
        }
    }

    /// Whether the activation is an element-wise non-decreasing function, so that it commutes with
    /// max pooling (`max(f(a), f(b)) = f(max(a, b))`): the CNN then pools first and activates a
    /// quarter of the values, with identical outputs and gradients.
    pub fn commutes_with_max(&self) -> bool {
        match *self {
            Activation::Relu | Activation::Sigmoid | Activation::Tanh => true,
            Activation::LeakyRelu { alpha } | Activation::Elu { alpha } => alpha >= 0.0,
            Activation::Gelu | Activation::GeluErf | Activation::Maxout { .. } => false,
        }
    }

    /// Applies the activation; for Maxout the last dimension (or channel dimension of a 4-D
    /// tensor) holds `k` consecutive pieces per unit.
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        match *self {
            Activation::Relu => xs.relu(),
            Activation::LeakyRelu { alpha } => xs.maximum(&(xs * alpha)?),
            Activation::Sigmoid => candle_nn::ops::sigmoid(xs),
            Activation::Tanh => xs.tanh(),
            Activation::Elu { alpha } => xs.elu(alpha),
            Activation::Gelu => xs.gelu(),
            Activation::GeluErf => crate::ops::gelu(xs),
            Activation::Maxout { k } => {
                let dims = xs.dims().to_vec();
                if dims.len() == 4 {
                    let (n, c, h, w) = (dims[0], dims[1], dims[2], dims[3]);
                    xs.reshape((n, c / k, k, h, w))?.max(2)
                } else {
                    let last = *dims.last().unwrap();
                    let mut shape = dims[..dims.len() - 1].to_vec();
                    shape.push(last / k);
                    shape.push(k);
                    xs.reshape(shape)?.max(D::Minus1)
                }
            }
        }
    }
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Activation::Relu => write!(f, "relu"),
            Activation::LeakyRelu { alpha } => write!(f, "leaky-relu:{alpha}"),
            Activation::Sigmoid => write!(f, "sigmoid"),
            Activation::Tanh => write!(f, "tanh"),
            Activation::Elu { alpha } => write!(f, "elu:{alpha}"),
            Activation::Gelu => write!(f, "gelu"),
            Activation::GeluErf => write!(f, "gelu-erf"),
            Activation::Maxout { k } => write!(f, "maxout:{k}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn parse_and_apply() {
        assert_eq!(Activation::parse("leaky-relu:0.2"), Ok(Activation::LeakyRelu { alpha: 0.2 }));
        assert_eq!(Activation::parse("maxout:3"), Ok(Activation::Maxout { k: 3 }));
        assert!(Activation::parse("maxout:1").is_err());
        assert!(Activation::parse("swish").is_err());
        let x = Tensor::new(&[[-2f32, 3.0, 1.0, -1.0]], &Device::Cpu).unwrap();
        let y = Activation::LeakyRelu { alpha: 0.5 }.forward(&x).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(y, vec![vec![-1.0, 3.0, 1.0, -0.5]]);
        let m = Activation::Maxout { k: 2 }.forward(&x).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(m, vec![vec![3.0, 1.0]]);
    }
}

//! Test-time augmentation: classifying an image and its mirror image and averaging the two
//! softmax distributions; or, airbench94's level, six views.
//!
//! A model trained with horizontal flips has seen both orientations of every image, so the two
//! views are equally valid inputs and their average is a slightly better estimate than either.
//! It costs two forward passes. The choice measured on a shipped checkpoint is recorded in its
//! checkpoint's evaluation record, and `evaluate` and `predict` apply it unless told
//! otherwise (`--tta none`).
//!
//! `flip-translate` (airbench94's TTA level 2) averages logits, not probabilities, of six views:
//! weight 1/4 each for the image and its mirror image, 1/8 each for the image moved one pixel
//! down-right and one pixel up-left (the border mirrored in, PyTorch's `reflect` padding) and
//! their mirror images. Six forward passes.

use crate::models::Model;
use crate::{Error, Result};
use candle_core::{ModuleT, Tensor, D};
use serde::{Deserialize, Serialize};

/// Which views of an image are classified at test time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tta {
    /// The image as it is: plain logits.
    #[default]
    None,
    /// The image and its left-right mirror image: mean of the two softmax distributions.
    Flip,
    /// Six views, mirrored and moved by one pixel: weighted mean of their logits (airbench94's).
    #[serde(rename = "flip-translate")]
    FlipTranslate,
}

impl Tta {
    /// `none`, `flip` or `flip-translate`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tta::None => "none",
            Tta::Flip => "flip",
            Tta::FlipTranslate => "flip-translate",
        }
    }

    /// How many views of each image the model classifies (1, 2 or 6): the cost of an evaluation
    /// relative to plain logits.
    pub fn views(self) -> usize {
        match self {
            Tta::None => 1,
            Tta::Flip => 2,
            Tta::FlipTranslate => 6,
        }
    }

    /// Checks that this augmentation applies to a model reading samples of `shape`
    /// (`[C, H, W]`, after any hand-made features).
    pub fn check(self, shape: [usize; 3]) -> Result<()> {
        if self != Tta::None && (shape[2] < 2 || (self == Tta::FlipTranslate && shape[1] < 2)) {
            return Err(Error::invalid(
                format!("`tta` {}", self.as_str()),
                format!(
                    "mirrors images, but this model reads samples of shape {shape:?} (points or features, not \
                     images): use `tta` none"
                ),
            ));
        }
        Ok(())
    }

    /// Class scores of the batch `xs` (`[B, C, H, W]`) whose arg-max is the prediction: the
    /// logits for [`Tta::None`], the mean softmax of `xs` and its mirror image for [`Tta::Flip`]
    /// (an error when the samples are not images, see [`Tta::check`]).
    pub fn scores(self, model: &Model, xs: &Tensor) -> Result<Tensor> {
        let (_, c, h, w) = xs.dims4()?;
        self.check([c, h, w])?;
        let logits = model.forward_t(xs, false)?;
        Ok(match self {
            Tta::None => logits,
            Tta::Flip => {
                let a = candle_nn::ops::softmax_last_dim(&logits)?;
                let b = candle_nn::ops::softmax_last_dim(&model.forward_t(&mirror(xs)?, false)?)?;
                ((a + b)? * 0.5)?
            }
            Tta::FlipTranslate => {
                let pair = |x: &Tensor, first: Option<Tensor>| -> Result<Tensor> {
                    let a = match first {
                        Some(a) => a,
                        None => model.forward_t(x, false)?,
                    };
                    Ok(((a + model.forward_t(&mirror(x)?, false)?)? * 0.5)?)
                };
                let centre = pair(xs, Some(logits))?;
                let moved = ((pair(&translate(xs, 1)?, None)? + pair(&translate(xs, -1)?, None)?)? * 0.5)?;
                ((centre + moved)? * 0.5)?
            }
        })
    }

    /// Class probabilities of the batch `xs`: softmax of [`Tta::scores`] (logits) for
    /// [`Tta::None`] and [`Tta::FlipTranslate`], the scores themselves (already a distribution)
    /// for [`Tta::Flip`].
    pub fn probabilities(self, model: &Model, xs: &Tensor) -> Result<Tensor> {
        let s = self.scores(model, xs)?;
        Ok(match self {
            Tta::None | Tta::FlipTranslate => candle_nn::ops::softmax_last_dim(&s)?,
            Tta::Flip => s,
        })
    }
}

/// Mirrors a batch `[B, C, H, W]` left to right (reverses the last dimension).
pub fn mirror(xs: &Tensor) -> Result<Tensor> {
    let w = xs.dim(D::Minus1)?;
    let rev = Tensor::from_vec((0..w as u32).rev().collect::<Vec<u32>>(), w, xs.device())?;
    Ok(xs.index_select(&rev, xs.rank() - 1)?)
}

/// A batch `[B, C, H, W]` moved `d` pixels down and right (`d` > 0) or up and left, the pixels
/// that come in mirrored from across the border (PyTorch's `reflect` padding by `|d|`, cropped).
pub fn translate(xs: &Tensor, d: isize) -> Result<Tensor> {
    let (_, _, h, w) = xs.dims4()?;
    let index = |n: usize| -> Result<Tensor> {
        let at = |i: usize| -> u32 {
            let s = i as isize - d;
            let last = n as isize - 1;
            (if s < 0 {
                -s
            } else if s > last {
                2 * last - s
            } else {
                s
            })
            .clamp(0, last) as u32
        };
        Ok(Tensor::from_vec((0..n).map(at).collect::<Vec<u32>>(), n, xs.device())?)
    };
    Ok(xs.index_select(&index(h)?, 2)?.index_select(&index(w)?, 3)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{LinearConfig, ModelConfig};
    use crate::params::Params;
    use candle_core::{DType, Device};

    #[test]
    fn mirror_reverses_columns_only() {
        let xs = Tensor::arange(0f32, 12., &Device::Cpu).unwrap().reshape((1, 2, 2, 3)).unwrap();
        let m = mirror(&xs).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(m, vec![2., 1., 0., 5., 4., 3., 8., 7., 6., 11., 10., 9.]);
    }

    /// Against the softmax of the linear model's scores computed by hand (plain loops in f64 over
    /// its weights), for the image and its mirror image (columns read right to left).
    #[test]
    fn flip_averages_the_two_softmax_distributions() {
        let dev = Device::Cpu;
        let params = Params::new(7);
        let cfg = ModelConfig::Linear(LinearConfig { input_shape: [1, 2, 3], classes: 4 });
        let model = Model::new(&cfg, params.var_builder(DType::F32, &dev)).unwrap();
        let xs = crate::params::randn(8, (5, 1, 2, 3), 0.0, 1.0, &dev).unwrap();
        let got = Tta::Flip.probabilities(&model, &xs).unwrap().to_vec2::<f32>().unwrap();
        let plain = Tta::None.probabilities(&model, &xs).unwrap().to_vec2::<f32>().unwrap();

        let w = params.get("fc.weight").unwrap().as_tensor().to_vec2::<f32>().unwrap(); // [4, 6]
        let b = params.get("fc.bias").unwrap().as_tensor().to_vec1::<f32>().unwrap();
        let images = xs.flatten_from(1).unwrap().to_vec2::<f32>().unwrap(); // [5, 2·3], row after row
        let softmax = |x: &dyn Fn(usize) -> f32| -> Vec<f64> {
            let s: Vec<f64> =
                (0..4).map(|k| b[k] as f64 + (0..6).map(|j| w[k][j] as f64 * x(j) as f64).sum::<f64>()).collect();
            let top = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|v| (v - top).exp()).collect();
            e.iter().map(|v| v / e.iter().sum::<f64>()).collect()
        };
        let mut views_differ = false;
        for (i, x) in images.iter().enumerate() {
            let a = softmax(&|j| x[j]);
            let m = softmax(&|j| x[(j / 3) * 3 + 2 - j % 3]);
            for k in 0..4 {
                assert!((plain[i][k] as f64 - a[k]).abs() < 1e-6, "image {i}, class {k}: {} vs {}", plain[i][k], a[k]);
                let want = 0.5 * (a[k] + m[k]);
                assert!((got[i][k] as f64 - want).abs() < 1e-6, "image {i}, class {k}: {} vs {want}", got[i][k]);
                views_differ |= (a[k] - m[k]).abs() > 1e-3;
            }
        }
        // A linear model is not mirror-symmetric: the two views really differ.
        assert!(views_differ);
    }

    /// One pixel down-right with reflect padding: row 0 comes from row 1, row i from row i-1;
    /// up-left: the last row comes from the one before it.
    #[test]
    fn translate_reflects_at_the_border() {
        let xs = Tensor::arange(0f32, 9., &Device::Cpu).unwrap().reshape((1, 1, 3, 3)).unwrap();
        let down = translate(&xs, 1).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        // padded rows: [4 3 4 5], [1 0 1 2], [4 3 4 5], [7 6 7 8]; the top-left 3x3 window.
        assert_eq!(down, vec![4., 3., 4., 1., 0., 1., 4., 3., 4.]);
        let up = translate(&xs, -1).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(up, vec![4., 5., 4., 7., 8., 7., 4., 5., 4.]);
    }

    /// The six views' logits, weighted 1/4, 1/4, 1/8 × 4, computed by hand.
    #[test]
    fn flip_translate_weights_six_views() {
        let dev = Device::Cpu;
        let params = Params::new(3);
        let cfg = ModelConfig::Linear(LinearConfig { input_shape: [1, 4, 4], classes: 3 });
        let model = Model::new(&cfg, params.var_builder(DType::F32, &dev)).unwrap();
        let xs = crate::params::randn(4, (2, 1, 4, 4), 0.0, 1.0, &dev).unwrap();
        let f = |x: &Tensor| model.forward_t(x, false).unwrap();
        let (a, b) = (translate(&xs, 1).unwrap(), translate(&xs, -1).unwrap());
        let m = |x: &Tensor| mirror(x).unwrap();
        let sum = |x: &Tensor, y: &Tensor| (x + y).unwrap();
        let centre = (sum(&f(&xs), &f(&m(&xs))) * 0.25).unwrap();
        let moved = (sum(&sum(&f(&a), &f(&m(&a))), &sum(&f(&b), &f(&m(&b)))) * 0.125).unwrap();
        let want = sum(&centre, &moved);
        let got = Tta::FlipTranslate.scores(&model, &xs).unwrap();
        let diff = (got - want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-6, "differs by {diff}");
        let p = Tta::FlipTranslate.probabilities(&model, &xs).unwrap().sum(1).unwrap().to_vec1::<f32>().unwrap();
        assert!(p.iter().all(|s| (s - 1.0).abs() < 1e-5));
        assert!(Tta::FlipTranslate.check([1, 1, 4]).is_err());
    }

    #[test]
    fn flip_refuses_points_and_features() {
        assert!(Tta::Flip.check([2, 1, 1]).is_err());
        assert!(Tta::Flip.check([3, 32, 32]).is_ok());
        assert!(Tta::None.check([2, 1, 1]).is_ok());
    }
}

//! Classifying single image files with a checkpoint.

use crate::checkpoint::Checkpoint;
use crate::data::hub::push_chw;
use crate::data::{Dataset, Pixels};
use crate::tta::Tta;
use crate::{Error, Result};
use candle_core::Device;
use std::path::Path;

/// Class probabilities for one image.
pub struct Prediction {
    /// `(class name, probability)` sorted by decreasing probability.
    pub ranked: Vec<(String, f32)>,
    /// Set when the image was resized or converted to fit the model.
    pub note: Option<String>,
}

impl Prediction {
    /// The `k` most likely classes.
    pub fn top(&self, k: usize) -> impl Iterator<Item = &(String, f32)> {
        self.ranked.iter().take(k)
    }
}

/// Decodes `path` (PNG or JPEG), fits it to the model's input and classifies it with
/// test-time augmentation `tta`.
pub fn classify_file(ck: &Checkpoint, path: &Path, tta: Tta, device: &Device) -> Result<Prediction> {
    if path.is_dir() {
        return Err(Error::Image { path: path.into(), problem: "is a directory, expected an image file".into() });
    }
    let bytes =
        std::fs::read(path).map_err(|e| Error::Image { path: path.into(), problem: format!("cannot read: {e}") })?;
    if bytes.is_empty() {
        return Err(Error::Image { path: path.into(), problem: "is empty (0 bytes)".into() });
    }
    let img = image::load_from_memory(&bytes).map_err(|e| Error::Image {
        path: path.into(),
        problem: format!("not a PNG or JPEG image we can decode: {e}"),
    })?;
    classify_image(ck, &img, tta, device)
}

/// Classifies a decoded image with test-time augmentation `tta`, resizing it to the model's
/// input size when needed.
pub fn classify_image(ck: &Checkpoint, img: &image::DynamicImage, tta: Tta, device: &Device) -> Result<Prediction> {
    let [c, h, w] = ck.meta.image_shape.unwrap_or(ck.meta.model.input_shape());
    let mut note = None;
    let img = if img.width() as usize != w || img.height() as usize != h {
        note = Some(format!("resized from {}x{} to the model's {w}x{h}", img.width(), img.height()));
        img.resize_exact(w as u32, h as u32, image::imageops::FilterType::Triangle)
    } else {
        img.clone()
    };
    let mut px = Vec::with_capacity(c * h * w);
    push_chw(&img, c, &mut px);
    // A one-image data set goes the way of every evaluation: hand-made features when the model
    // reads them, then the training split's normalization.
    let one = Dataset::new("image", Pixels::U8(px), vec![0], [c, h, w], ck.meta.classes.clone())?;
    let input = crate::run::model_input(&one, ck.meta.features.as_ref(), false)?;
    let (xs, _) = input.batch(&[0], &ck.meta.normalization, device)?;
    let probs = tta.probabilities(&ck.model, &xs)?.squeeze(0)?.to_vec1::<f32>()?;
    let mut ranked: Vec<(String, f32)> = ck.meta.classes.iter().cloned().zip(probs).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(Prediction { ranked, note })
}

//! The front door for library users: load a checkpoint, classify images.
//!
//! A [`Classifier`] holds a checkpoint's model on a device and applies everything the checkpoint
//! records about its input: the image size, resize policy and channels (an image of another size
//! or colour is fitted by [`data::image`](crate::data::image), with a note), the hand-made features
//! a model may read, the training split's normalization, and the test-time augmentation its
//! recorded accuracy was measured with.
//!
//! ```
//! # fn main() -> kindling::Result<()> {
//! # let dir = std::env::temp_dir().join(format!("kindling-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! # let png = dir.join("frog.png");
//! # image::RgbImage::from_fn(32, 32, |x, y| image::Rgb([(x * 8) as u8, (y * 8) as u8, 90])).save(&png).unwrap();
//! let model = kindling::Classifier::load("weights/cifar10-linear-softmax.safetensors", &candle_core::Device::Cpu)?;
//! let prediction = model.classify_file(&png)?;
//! let (class, probability) = prediction.best();
//! println!("{class} ({:.1}%)", 100.0 * probability);
//! # assert!(model.classes().contains(&class.to_string()));
//! # Ok(())
//! # }
//! ```

use crate::checkpoint::{self, Checkpoint, CheckpointMeta};
use crate::data::image as img;
use crate::tta::Tta;
use crate::Result;
use candle_core::Device;
use std::path::Path;

/// A trained model, ready to classify images.
pub struct Classifier {
    checkpoint: Checkpoint,
    /// The checkpoint's model, recording no autograd graph ([`crate::models::Model::detached`]).
    model: crate::models::Model,
    tta: Tta,
    device: Device,
}

/// Class probabilities for one image.
#[derive(Debug, Clone)]
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

    /// The most likely class and its probability.
    pub fn best(&self) -> (&str, f32) {
        let (class, p) = &self.ranked[0];
        (class, *p)
    }
}

impl Classifier {
    /// Loads the checkpoint at `path` onto `device`, with the test-time augmentation its recorded
    /// accuracy used (none if it records none).
    pub fn load(path: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let checkpoint = checkpoint::load(path.as_ref(), device)?;
        Ok(Self::from_checkpoint(checkpoint, device))
    }

    /// Wraps a loaded checkpoint (its model must live on `device`).
    pub fn from_checkpoint(checkpoint: Checkpoint, device: &Device) -> Self {
        let tta = checkpoint.meta.recorded_tta();
        let model = checkpoint.model.detached();
        Classifier { checkpoint, model, tta, device: device.clone() }
    }

    /// The same classifier with test-time augmentation `tta` instead of the recorded one.
    pub fn with_tta(mut self, tta: Tta) -> Self {
        self.tta = tta;
        self
    }

    /// The test-time augmentation applied.
    pub fn tta(&self) -> Tta {
        self.tta
    }

    /// Class names in label order.
    pub fn classes(&self) -> &[String] {
        &self.checkpoint.meta.classes
    }

    /// What the checkpoint says about itself.
    pub fn meta(&self) -> &CheckpointMeta {
        &self.checkpoint.meta
    }

    /// The checkpoint: model, parameters and metadata.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Decodes `path` (PNG, JPEG, BMP, GIF, WebP or TIFF, known by its contents) and classifies it.
    pub fn classify_file(&self, path: impl AsRef<Path>) -> Result<Prediction> {
        let path = path.as_ref();
        self.checkpoint.meta.image_input()?;
        let image = decode(path)?;
        self.classify(&image)
    }

    /// Classifies a decoded image, fitted to the model's input as its checkpoint records.
    pub fn classify(&self, image: &image::DynamicImage) -> Result<Prediction> {
        Ok(self.classify_batch(std::slice::from_ref(image))?.remove(0))
    }

    /// Classifies several decoded images in one batch.
    pub fn classify_batch(&self, images: &[image::DynamicImage]) -> Result<Vec<Prediction>> {
        let meta = &self.checkpoint.meta;
        let spec = meta.image_spec()?;
        if images.is_empty() {
            return Ok(vec![]);
        }
        // The way of every evaluation: fitted to the recorded size and colour, hand-made features
        // when the model reads them, then the training split's normalization.
        let fitted = meta.preprocess().images(images, &spec, &self.device)?;
        let (xs, notes) = (fitted.xs, fitted.notes);
        let probs = self.tta.probabilities(&self.model, &xs)?.to_vec2::<f32>()?;
        Ok(probs
            .into_iter()
            .zip(notes)
            .map(|(p, note)| {
                let mut ranked: Vec<(String, f32)> = meta.classes.iter().cloned().zip(p).collect();
                ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
                Prediction { ranked, note }
            })
            .collect())
    }
}

/// Reads and decodes an image file, with errors that name the file and say what is wrong
/// ([`data::image::decode_file`](crate::data::image::decode_file)).
pub fn decode(path: &Path) -> Result<image::DynamicImage> {
    img::decode_file(path)
}

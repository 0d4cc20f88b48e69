//! Fine-tuning: a run that starts from a trained checkpoint instead of from scratch.
//!
//! The network and the preprocessing it was trained with (image size and channels, normalization,
//! airbench94's whitening filters) come from the checkpoint; the last layer is replaced by a new one
//! for the new classes (kept when the classes are the same). Either only that layer trains, the
//! features below it frozen (a linear probe, [`Freeze::Features`]), or everything trains, the
//! pretrained layers at a smaller learning rate ([`FineTune::pretrained_lr`], through parameter
//! groups). The new checkpoint records its [`Parent`]: file, content hash, classes, and what trained.
//!
//! ```
//! # fn main() -> kindling::Result<()> {
//! use kindling::checkpoint::Freeze;
//! use kindling::data::{shapes, Split};
//! use kindling::fine_tune::FineTune;
//! let probe = FineTune { from: "weights/cifar10-cnn.safetensors".into(), freeze: Freeze::Features, pretrained_lr: 0.1 };
//! let images = shapes::generate(Split::Train, 40); // 32×32 RGB, like CIFAR-10's
//! let start = probe.start(&images, None, 0, &candle_core::Device::Cpu, false)?;
//! assert_eq!(start.network.trainable().len(), 2); // the new last layer: weight and bias
//! assert!(!start.parent.head_kept);
//! # Ok(())
//! # }
//! ```

use crate::checkpoint::{self, Freeze, Parent};
use crate::data::Dataset;
use crate::models::Network;
use crate::optim::ParamGroup;
use crate::train::TrainData;
use crate::{Error, Result};
use candle_core::Device;
use std::path::PathBuf;

/// Where a fine-tuning run starts, and what of it trains.
#[derive(Debug, Clone, PartialEq)]
pub struct FineTune {
    /// The checkpoint whose network and recorded preprocessing the run starts from.
    pub from: PathBuf,
    /// What trains.
    pub freeze: Freeze,
    /// The pretrained layers' learning rate as a multiple of the run's (the new last layer trains
    /// at the run's own); unused when the features are frozen.
    pub pretrained_lr: f64,
}

/// A fine-tuning run's starting point: the data as the pretrained network reads it, the network,
/// the parameter groups that give the pretrained layers their rate, and the record of the parent.
#[derive(Debug)]
pub struct Start {
    /// The model inputs, under the parent's preprocessing.
    pub data: TrainData,
    /// The pretrained network with its last layer for the new classes.
    pub network: Network,
    /// Parameter groups to put before the run's own: the pretrained layers at
    /// [`FineTune::pretrained_lr`] (none when the features are frozen).
    pub groups: Vec<ParamGroup>,
    /// What the new checkpoint records of its parent.
    pub parent: Parent,
}

impl FineTune {
    /// Loads the parent checkpoint and builds the starting point for `train` (and `val`): the
    /// parent's preprocessing applied to the images, a new last layer drawn from `seed` unless the
    /// classes are the parent's, the features frozen or the pretrained layers' rate set. Refuses a
    /// parent that reads hand-made features, and images of another shape than the parent reads.
    pub fn start(
        &self,
        train: &Dataset,
        val: Option<&Dataset>,
        seed: u64,
        device: &Device,
        progress: bool,
    ) -> Result<Start> {
        if !(self.pretrained_lr >= 0.0 && self.pretrained_lr.is_finite()) {
            return Err(Error::invalid(
                "`pretrained_lr`",
                format!("{}: must be 0 or positive (a multiple of the learning rate)", self.pretrained_lr),
            ));
        }
        let path = &self.from;
        let ck = checkpoint::load(path, device)?;
        if ck.meta.features.is_some() {
            return Err(Error::checkpoint(
                path,
                "reads hand-made features (HOG, colour histograms), not images: fine-tune a network trained on \
                 pixels (a CNN or an MLP), or train the features model from scratch",
            ));
        }
        let want = ck.meta.model.input_shape();
        if train.shape != want {
            let [c, h, w] = want;
            let colour = if c == 1 { "grey" } else { "colour (RGB)" };
            return Err(Error::invalid(
                "`init_from`",
                format!(
                    "{} reads {colour} {h}x{w} images ({c}x{h}x{w}), but these are {}x{}x{}: give images of its \
                     size and channels (for a folder of images, an image size of {h} and {} channels)",
                    path.display(),
                    train.shape[0],
                    train.shape[1],
                    train.shape[2],
                    c
                ),
            ));
        }
        let data = TrainData::with(ck.meta.preprocess(), train, val, progress)?;
        let head_kept = ck.meta.classes == train.classes;
        let pretrained = Network::loaded(ck.model, ck.params, ck.meta.model.clone());
        let mut network = Network::transfer(&pretrained, train.num_classes(), head_kept, seed, device)?;
        let groups = match self.freeze {
            Freeze::Features => {
                network.freeze_features()?;
                vec![]
            }
            Freeze::None => {
                let head = network.config.head();
                vec![
                    ParamGroup::scaled(&format!("{head}.*"), 1.0, 1.0),
                    ParamGroup::scaled("*", self.pretrained_lr, 1.0),
                ]
            }
        };
        let parent = Parent {
            file: path.display().to_string(),
            sha256: checkpoint::file_sha256(path)?,
            classes: ck.meta.classes.clone(),
            head_kept,
            freeze: self.freeze,
            pretrained_lr: self.pretrained_lr,
        };
        Ok(Start { data, network, groups, parent })
    }
}

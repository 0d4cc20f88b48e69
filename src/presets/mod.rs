//! Run descriptions: what a whole training run is ([`Run`]: the data set, the model's
//! architecture, the features it reads, the training configuration and the test-time
//! augmentation it is scored with), built from one table of tuned defaults ([`defaults`]) or from
//! a named recipe ([`Recipe`]: [`airbench94`], [`airbench94_muon`]).
//!
//! ```
//! use kindling::data::DatasetName;
//! use kindling::loss::LossKind;
//! use kindling::models::ModelKind;
//! use kindling::presets::{Recipe, Run};
//! let run = Run::defaults(DatasetName::Cifar10, ModelKind::Cnn, LossKind::Softmax, None);
//! assert_eq!(run.train.epochs, 15);
//! let airbench = Recipe::Airbench94.run(DatasetName::Cifar10)?;
//! assert_eq!(airbench.train.epochs, 10);
//! # Ok::<(), kindling::Error>(())
//! ```

pub mod airbench94;
pub mod airbench94_muon;
pub mod defaults;

use crate::data::DatasetName;
use crate::features::FeatureConfig;
use crate::fine_tune::FineTune;
use crate::loss::LossKind;
use crate::models::{Architecture, ModelConfig, ModelKind};
use crate::train::TrainConfig;
use crate::tta::Tta;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// A whole training run, described: everything `train` needs besides the data's files, the
/// device and where to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The data set.
    pub dataset: DatasetName,
    /// The model, before the data decide its input shape and class count.
    pub model: Architecture,
    /// Hand-made features computed from the images (`None`: the pixels themselves).
    pub features: Option<FeatureConfig>,
    /// How to train.
    pub train: TrainConfig,
    /// The test-time augmentation the trained model is scored with.
    pub tta: Tta,
    /// The named recipe this run follows, if any (its name goes into file names).
    pub recipe: Option<Recipe>,
    /// A trained checkpoint the run starts from instead of from scratch: its network (the last
    /// layer replaced for new classes) and its preprocessing replace `model` and `features`.
    pub fine_tune: Option<FineTune>,
}

impl Run {
    /// The tuned defaults of a `kind` model with `loss` on `dataset` (reading `features` when
    /// given): the run a user gets without tuning.
    pub fn defaults(dataset: DatasetName, kind: ModelKind, loss: LossKind, features: Option<FeatureConfig>) -> Run {
        Run {
            dataset,
            model: defaults::architecture(dataset, kind),
            train: defaults::train_config_for(dataset, kind, loss, features.is_some()),
            features,
            tta: Tta::None,
            recipe: None,
            fine_tune: None,
        }
    }

    /// The model's configuration for inputs of `shape` and `classes` classes.
    pub fn model_config(&self, shape: [usize; 3], classes: usize) -> ModelConfig {
        self.model.config(shape, classes)
    }

    /// Checks that the pieces fit together: the training values, and a model that can read the
    /// data (a CNN reads images, not hand-made features or 2-D points).
    pub fn validate(&self) -> Result<()> {
        self.train.validate()?;
        if self.model.kind() == ModelKind::Cnn {
            if self.features.is_some() {
                return Err(Error::invalid(
                    "`features`",
                    "a CNN reads images, and hand-made features are a vector per image: train the features with \
                     the linear model or the MLP, or the CNN on the pixels",
                ));
            }
            if self.dataset.toy().is_some() {
                return Err(Error::invalid(
                    "`model`",
                    format!(
                        "{} is a set of 2-D points, not images: a CNN cannot read it; use linear or mlp",
                        self.dataset
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `runs/<dataset>-<model>[-features][-svm].safetensors` (`runs/<dataset>-<recipe>.safetensors`
    /// for a recipe): where `train` saves unless told otherwise.
    pub fn default_save_path(&self) -> std::path::PathBuf {
        if let Some(r) = self.recipe {
            return format!("runs/{}-{r}.safetensors", self.dataset).into();
        }
        let loss = if self.train.loss == LossKind::Svm { "-svm" } else { "" };
        let feats = if self.features.is_some() { "-features" } else { "" };
        format!("runs/{}-{}{feats}{loss}.safetensors", self.dataset, self.model.kind().as_str()).into()
    }
}

/// A named recipe: a network and the training that goes with it, as one complete [`Run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Recipe {
    /// Keller Jordan's airbench94 network and training for CIFAR-10 (arXiv 2404.00498):
    /// [`airbench94`].
    Airbench94,
    /// airbench94's network trained for 8 epochs with Muon on its filters: [`airbench94_muon`].
    Airbench94Muon,
}

impl Recipe {
    /// The name on the command line and in file names.
    pub fn as_str(self) -> &'static str {
        match self {
            Recipe::Airbench94 => "airbench94",
            Recipe::Airbench94Muon => "airbench94-muon",
        }
    }

    /// The whole run on `dataset` (images: the recipe's network reads images, not 2-D points).
    pub fn run(self, dataset: DatasetName) -> Result<Run> {
        if dataset.toy().is_some() {
            return Err(Error::invalid("`recipe`", format!("{self} trains a CNN on images; {dataset} is 2-D points")));
        }
        Ok(match self {
            Recipe::Airbench94 => Run {
                dataset,
                model: airbench94::network(),
                features: None,
                train: airbench94::training(),
                tta: airbench94::TTA,
                recipe: Some(self),
                fine_tune: None,
            },
            Recipe::Airbench94Muon => Run {
                dataset,
                model: airbench94_muon::network(),
                features: None,
                train: airbench94_muon::training(),
                tta: airbench94_muon::TTA,
                recipe: Some(self),
                fine_tune: None,
            },
        })
    }
}

impl std::fmt::Display for Recipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

//! What the loop trains on: a model's inputs for the training split (and an optional validation
//! split), with the [`Preprocess`] that made them; and the one constructor of a new network for
//! that data ([`TrainData::network`]).

use crate::data::Dataset;
use crate::features::FeatureConfig;
use crate::models::{Architecture, Network};
use crate::preprocess::Preprocess;
use crate::Result;
use candle_core::Device;

/// Model inputs and their preprocessing: what [`fit`](super::fit()) trains on and scores after
/// each epoch.
#[derive(Debug, Clone)]
pub struct TrainData {
    /// The training samples as the model reads them (features when it reads features).
    pub train: Dataset,
    /// The validation samples as the model reads them, scored after each epoch.
    pub val: Option<Dataset>,
    /// Features and normalization: the normalization measured on `train`.
    pub preprocess: Preprocess,
}

impl TrainData {
    /// The inputs of a new model reading `features` (none: pixels) of `train` and `val`, with the
    /// normalization measured on the training split; a progress bar on features when `progress`.
    pub fn measure(
        train: &Dataset,
        val: Option<&Dataset>,
        features: Option<FeatureConfig>,
        progress: bool,
    ) -> Result<Self> {
        let (preprocess, train) = Preprocess::measure(train, features, progress)?;
        let val = val.map(|v| preprocess.input(v, progress)).transpose()?;
        Ok(TrainData { train, val, preprocess })
    }

    /// The inputs of `train` and `val` under a recorded `preprocess` (a resumed model's).
    pub fn with(preprocess: Preprocess, train: &Dataset, val: Option<&Dataset>, progress: bool) -> Result<Self> {
        let t = preprocess.input(train, progress)?;
        let val = val.map(|v| preprocess.input(v, progress)).transpose()?;
        Ok(TrainData { train: t, val, preprocess })
    }

    /// Model inputs already computed (`train`, `val`), with their `preprocess`.
    pub fn from_inputs(train: Dataset, val: Option<Dataset>, preprocess: Preprocess) -> Self {
        TrainData { train, val, preprocess }
    }

    /// A new network of `model` for this data: its input shape and class count from the training
    /// samples, parameters drawn from `seed`, and what it computes from its training data before
    /// the first step (airbench94's whitening filters) computed from them.
    pub fn network(&self, model: &Architecture, seed: u64, device: &Device) -> Result<Network> {
        let net = Network::new(&model.config(self.train.shape, self.train.num_classes()), seed, device)?;
        net.init_from_data(&self.train, &self.preprocess.normalization)?;
        Ok(net)
    }
}

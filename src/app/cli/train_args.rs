//! The `train` example's model and hyper-parameter flags, applied by the library: unset flags
//! take the tuned defaults of [`crate::presets::defaults`] for the model and data set.

use crate::data::{augment::Augment, DatasetName};
use crate::loss::{LossKind, RegKind};
use crate::models::{Activation, InitKind, ModelKind};
use crate::optim::{OptimizerKind, Schedule};
use crate::app::run::Run;
use crate::train::BatchSize;
use crate::{Error, Result};
use clap::Args;

/// What to train and how: every flag of `train` but the data, device and output ones.
// The field docs are `--help` text, where `[:a]` means an optional part, not a doc link.
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    /// Model.
    #[arg(long, value_enum, default_value = "linear")]
    pub model: ModelKind,
    /// A named recipe, network and training together: airbench94 (Keller Jordan's CIFAR-10
    /// recipe, arXiv 2404.00498). Implies --model cnn; training flags given beside it override its
    /// settings, network flags are refused.
    #[arg(long, value_enum)]
    pub recipe: Option<crate::presets::recipe::Recipe>,
    /// Hidden layer widths of the MLP, e.g. 512,256.
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// Activation: relu, leaky-relu[:a], sigmoid, tanh, elu[:a], gelu (tanh approximation), gelu-erf, maxout[:k].
    #[arg(long, value_parser = Activation::parse)]
    pub activation: Option<Activation>,
    /// Dropout probability after each hidden layer (off at evaluation).
    #[arg(long)]
    pub dropout: Option<f32>,
    /// Batch norm between layers (the CNN's default).
    #[arg(long)]
    pub batch_norm: bool,
    /// No batch norm, even where the defaults use it.
    #[arg(long, conflicts_with = "batch_norm")]
    pub no_batch_norm: bool,
    /// Weight initialization: kaiming, xavier or gaussian:SIGMA.
    #[arg(long, value_parser = InitKind::parse)]
    pub init: Option<InitKind>,
    /// Train on hand-made features instead of pixels: hog, color, or hog,color.
    #[arg(long)]
    pub features: Option<String>,
    /// Output channels of each conv block of the CNN, e.g. 64,128,256.
    #[arg(long, value_delimiter = ',')]
    pub channels: Option<Vec<usize>>,
    /// Convolutions per stage of the CNN (3x3 each; pooling after a stage's first): 1 is one
    /// block per --channels width.
    #[arg(long)]
    pub depth: Option<usize>,
    /// Pooling after each conv block: max (2x2/2), avg, overlap (AlexNet's 3x3/2), none.
    #[arg(long, value_enum)]
    pub pool: Option<crate::models::Pool>,
    /// Hidden fully connected widths of the CNN's head, e.g. 256 (0 for none).
    #[arg(long, value_delimiter = ',')]
    pub fc: Option<Vec<usize>>,
    /// Data loss.
    #[arg(long, value_enum, default_value = "softmax")]
    pub loss: LossKind,
    /// Regularization strength λ in λ·R(W).
    #[arg(long)]
    pub reg: Option<f64>,
    /// Regularizer R.
    #[arg(long, value_enum)]
    pub reg_kind: Option<RegKind>,
    /// Optimizer.
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerKind>,
    /// Base learning rate.
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Momentum coefficient (momentum, nesterov).
    #[arg(long)]
    pub momentum: Option<f64>,
    /// Weight decay (decoupled for adamw, L2 in the gradient otherwise).
    #[arg(long, allow_negative_numbers = true)]
    pub weight_decay: Option<f64>,
    /// Learning-rate schedule: constant, step[:EVERY[:GAMMA]], cosine[:WARMUP],
    /// triangle[:START[:PEAK[:END]]].
    #[arg(long, value_parser = Schedule::parse)]
    pub schedule: Option<Schedule>,
    /// Label smoothing ε of the softmax loss, in [0, 1) (0: none).
    #[arg(long)]
    pub label_smoothing: Option<f64>,
    /// Epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Batch size, or `full` for full-batch gradient descent.
    #[arg(long, value_parser = BatchSize::parse)]
    pub batch_size: Option<BatchSize>,
    /// Seed for initialization, shuffling and augmentation.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Augment training batches: random crop after 4-pixel padding and horizontal flips.
    #[arg(long)]
    pub augment: bool,
    /// Horizontal flips only.
    #[arg(long)]
    pub hflip: bool,
    /// No augmentation, even where the defaults use it.
    #[arg(long, conflicts_with_all = ["augment", "hflip", "crop_pad"])]
    pub no_augment: bool,
    /// Random crops after padding by N pixels (0: no crops, flips as the defaults or --hflip say).
    #[arg(long, value_name = "N")]
    pub crop_pad: Option<usize>,
}

impl TrainArgs {
    /// The run these flags describe on `dataset`: the defaults for the model and data set, with
    /// each flag given overriding its default, and every value checked.
    pub fn run(&self, dataset: DatasetName) -> Result<Run> {
        if let Some(r) = self.recipe {
            let network_flags = [
                ("--hidden", self.hidden.is_some()),
                ("--activation", self.activation.is_some()),
                ("--dropout", self.dropout.is_some()),
                ("--batch-norm", self.batch_norm),
                ("--no-batch-norm", self.no_batch_norm),
                ("--init", self.init.is_some()),
                ("--features", self.features.is_some()),
                ("--channels", self.channels.is_some()),
                ("--depth", self.depth.is_some()),
                ("--pool", self.pool.is_some()),
                ("--fc", self.fc.is_some()),
                ("--model mlp", self.model == ModelKind::Mlp),
            ];
            if let Some((flag, _)) = network_flags.iter().find(|(_, given)| *given) {
                return Err(Error::invalid(
                    "--recipe",
                    format!("{r} fixes the network: leave out {flag} (training flags such as --epochs may be given)"),
                ));
            }
            if dataset.toy().is_some() {
                return Err(Error::invalid("--recipe", format!("{r} trains a CNN on images; {dataset} is 2-D points")));
            }
        }
        let model = if self.recipe.is_some() { ModelKind::Cnn } else { self.model };
        let mut cfg = match self.recipe {
            Some(r) => r.train_config(),
            None => crate::presets::defaults::train_config_for(dataset, model, self.loss, self.features.is_some()),
        };
        if let Some(v) = self.reg {
            cfg.reg = v;
        }
        if let Some(v) = self.reg_kind {
            cfg.reg_kind = v;
        }
        if let Some(v) = self.optimizer {
            cfg.optimizer = crate::optim::OptimizerConfig::new(v, cfg.optimizer.lr);
        }
        if let Some(v) = self.lr {
            cfg.optimizer.lr = v;
        }
        if let Some(v) = self.momentum {
            cfg.optimizer.momentum = v;
        }
        if let Some(v) = self.weight_decay {
            cfg.optimizer.weight_decay = v;
        }
        if let Some(v) = self.schedule {
            cfg.schedule = v;
        }
        if let Some(v) = self.label_smoothing {
            cfg.label_smoothing = v;
        }
        if let Some(v) = self.epochs {
            cfg.epochs = v;
        }
        if let Some(v) = self.batch_size {
            cfg.batch_size = v;
        }
        if let Some(v) = self.seed {
            cfg.seed = v;
        }
        if self.augment {
            cfg.augment = Augment { hflip: true, crop_pad: 4, ..Augment::default() };
        }
        if self.hflip {
            cfg.augment.hflip = true;
        }
        if let Some(p) = self.crop_pad {
            cfg.augment.crop_pad = p;
        }
        if self.no_augment {
            cfg.augment = Augment::default();
        }
        cfg.validate()?;
        let mut options = crate::presets::defaults::model_options(dataset, self.model);
        if let Some(v) = &self.hidden {
            options.hidden = v.clone();
        }
        if let Some(v) = self.activation {
            options.activation = v;
        }
        if let Some(v) = self.dropout {
            if !(0.0..1.0).contains(&v) {
                return Err(Error::invalid("--dropout", format!("{v}: must be in [0, 1)")));
            }
            options.dropout = v;
        }
        if self.batch_norm {
            options.batch_norm = true;
        }
        if self.no_batch_norm {
            options.batch_norm = false;
        }
        if let Some(v) = &self.channels {
            options.channels = v.clone();
        }
        if let Some(v) = self.depth {
            if v == 0 {
                return Err(Error::invalid("--depth", "0: a stage needs at least one convolution"));
            }
            options.depth = v;
        }
        if let Some(v) = self.pool {
            options.pool = v;
        }
        if let Some(v) = &self.fc {
            options.fc = v.iter().copied().filter(|&w| w > 0).collect();
        }
        if let Some(v) = self.init {
            options.init = v;
        }
        let features = match &self.features {
            Some(s) => crate::features::parse_list(s).map_err(|e| Error::invalid("--features", e))?,
            None => None,
        };
        Ok(Run { dataset, model, options, features, train: cfg, recipe: self.recipe })
    }
}

//! The `train` example's model and hyper-parameter flags, applied by the library: unset flags
//! take the tuned defaults of [`crate::presets::defaults`] for the model and data set.

use crate::checkpoint::Freeze;
use crate::data::{augment::Augment, DatasetName};
use crate::fine_tune::FineTune;
use crate::loss::{LossKind, RegKind};
use crate::models::{Activation, Architecture, InitKind, ModelKind};
use crate::optim::{OptimizerKind, Schedule};
use crate::presets::Run;
use crate::train::{BatchSize, TrainConfig};
use crate::{Error, Result};
use clap::Args;

/// What to train and how: every flag of `train` but the data, device and output ones.
// The field docs are `--help` text, where `[:a]` means an optional part, not a doc link.
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    /// Model (default linear).
    #[arg(long, value_enum)]
    pub model: Option<ModelKind>,
    /// A named recipe, network and training together: airbench94 (Keller Jordan's CIFAR-10
    /// recipe, arXiv 2404.00498). Implies --model cnn; training flags given beside it override its
    /// settings, network flags are refused.
    #[arg(long, value_enum)]
    pub recipe: Option<crate::presets::Recipe>,
    /// Fine-tune: start from this trained checkpoint (its network and recorded preprocessing), with a
    /// new last layer for this data set's classes (kept when they are the checkpoint's).
    #[arg(long, value_name = "CHECKPOINT")]
    pub init_from: Option<std::path::PathBuf>,
    /// With --init-from, what stays as it was trained: none (every layer trains, the pretrained ones
    /// at --pretrained-lr times the rate) or features (only the new last layer trains: a linear probe).
    #[arg(long, value_enum)]
    pub freeze: Option<Freeze>,
    /// With --init-from and every layer training: the pretrained layers' learning rate, as a
    /// multiple of --lr (default 0.1).
    #[arg(long)]
    pub pretrained_lr: Option<f64>,
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
    /// Momentum coefficient (momentum, nesterov, muon).
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
    /// The model `--model` names (linear when not given).
    pub fn model_kind(&self) -> ModelKind {
        self.model.unwrap_or(ModelKind::Linear)
    }

    /// The run these flags describe on `dataset`: the recipe's or the defaults' description of the
    /// model and data set, with each flag given overriding its field, every value checked, and a
    /// flag the chosen model does not use refused with the name of what would use it.
    pub fn run(&self, dataset: DatasetName) -> Result<Run> {
        let features = match &self.features {
            Some(s) => crate::features::parse_list(s).map_err(|e| Error::invalid("--features", e))?,
            None => None,
        };
        let mut run = match (&self.init_from, self.recipe) {
            (Some(from), _) => return self.fine_tune_run(from, dataset),
            (None, Some(r)) => {
                let mlp = (self.model == Some(ModelKind::Mlp)).then_some("--model mlp");
                if let Some(flag) = self.network_flag_given().or(mlp) {
                    return Err(Error::invalid(
                        "--recipe",
                        format!(
                            "{r} fixes the network: leave out {flag} (training flags such as --epochs may be given)"
                        ),
                    ));
                }
                r.run(dataset)?
            }
            (None, None) => {
                if let Some((flag, _)) =
                    [("--freeze", self.freeze.is_some()), ("--pretrained-lr", self.pretrained_lr.is_some())]
                        .iter()
                        .find(|(_, given)| *given)
                {
                    return Err(Error::invalid(*flag, "applies to fine-tuning: give the checkpoint with --init-from"));
                }
                Run::defaults(dataset, self.model_kind(), self.loss, features)
            }
        };
        self.apply_network_flags(&mut run.model, dataset)?;
        self.apply_training_flags(&mut run.train)?;
        if run.dataset.toy().is_some() && (self.augment || self.hflip || self.crop_pad.is_some()) {
            return Err(Error::invalid(
                if self.augment {
                    "--augment"
                } else if self.hflip {
                    "--hflip"
                } else {
                    "--crop-pad"
                },
                format!("{dataset} is a set of 2-D points: flips and crops apply to images (cifar10, mnist, ...)"),
            ));
        }
        run.validate()?;
        Ok(run)
    }

    /// The first flag given that shapes the network (what a recipe or a checkpoint fixes).
    fn network_flag_given(&self) -> Option<&'static str> {
        let flags = [
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
        ];
        flags.iter().find(|(_, given)| *given).map(|(flag, _)| *flag)
    }

    /// The run that fine-tunes the checkpoint `from` on `dataset`: its network, the defaults' training
    /// for its kind of model on `dataset`, the training flags over them.
    fn fine_tune_run(&self, from: &std::path::Path, dataset: DatasetName) -> Result<Run> {
        let fixed = [("--recipe", self.recipe.is_some()), ("--model", self.model.is_some())];
        let given = fixed.iter().find(|(_, given)| *given).map(|(flag, _)| *flag);
        if let Some(flag) = given.or_else(|| self.network_flag_given()) {
            return Err(Error::invalid(
                flag,
                format!("the network comes from --init-from {}: leave out {flag}", from.display()),
            ));
        }
        let freeze = self.freeze.unwrap_or_default();
        if freeze == Freeze::Features && self.pretrained_lr.is_some() {
            return Err(Error::invalid(
                "--pretrained-lr",
                "with --freeze features the pretrained layers do not train; it applies to --freeze none",
            ));
        }
        let meta = crate::checkpoint::read_meta(from)?;
        let mut run = Run::defaults(dataset, meta.model.kind(), self.loss, None);
        run.model = Architecture::of(&meta.model);
        run.fine_tune =
            Some(FineTune { from: from.to_path_buf(), freeze, pretrained_lr: self.pretrained_lr.unwrap_or(0.1) });
        self.apply_training_flags(&mut run.train)?;
        run.validate()?;
        Ok(run)
    }

    /// The network flags onto `model`; a flag its kind does not use is an error.
    fn apply_network_flags(&self, model: &mut Architecture, dataset: DatasetName) -> Result<()> {
        let name = model_name(model);
        let refuse = |flag: &str, users: &str| -> Result<()> {
            Err(Error::invalid(flag, format!("the {name} model does not use it; it applies to {users}")))
        };
        let given = |flag: &'static str, yes: bool| yes.then_some(flag);
        let mlp_only = [given("--hidden", self.hidden.is_some()), given("--init", self.init.is_some())];
        let cnn_only = [
            given("--channels", self.channels.is_some()),
            given("--depth", self.depth.is_some()),
            given("--pool", self.pool.is_some()),
            given("--fc", self.fc.is_some()),
        ];
        let layered = [
            given("--activation", self.activation.is_some()),
            given("--dropout", self.dropout.is_some()),
            given("--batch-norm", self.batch_norm),
            given("--no-batch-norm", self.no_batch_norm),
        ];
        if let Some(v) = self.dropout {
            if !(0.0..1.0).contains(&v) {
                return Err(Error::invalid("--dropout", format!("{v}: must be in [0, 1)")));
            }
        }
        match model {
            Architecture::Linear => {
                if let Some(flag) = mlp_only.iter().chain(&cnn_only).chain(&layered).flatten().next() {
                    let users = if cnn_only.contains(&Some(*flag)) { "--model cnn" } else { "--model mlp or cnn" };
                    let users = if mlp_only.contains(&Some(*flag)) { "--model mlp" } else { users };
                    return refuse(flag, users);
                }
            }
            Architecture::Mlp(l) => {
                if let Some(flag) = cnn_only.iter().flatten().next() {
                    return refuse(flag, "--model cnn");
                }
                if let Some(v) = &self.hidden {
                    if v.contains(&0) {
                        return Err(Error::invalid("--hidden", format!("{v:?}: every width must be at least 1")));
                    }
                    l.hidden = v.clone();
                }
                self.apply_layer_flags(&mut l.activation, &mut l.dropout, &mut l.batch_norm);
                if let Some(v) = self.init {
                    l.init = v;
                }
            }
            Architecture::Cnn(l) => {
                if let Some(flag) = mlp_only.iter().flatten().next() {
                    return refuse(flag, "--model mlp");
                }
                if self.channels.is_some() || self.depth.is_some() || self.pool.is_some() {
                    let d = crate::presets::defaults::cnn_stages(dataset);
                    let channels = self.channels.clone().unwrap_or(d.channels);
                    if channels.is_empty() || channels.contains(&0) {
                        return Err(Error::invalid(
                            "--channels",
                            format!("{channels:?}: every width must be at least 1"),
                        ));
                    }
                    let depth = self.depth.unwrap_or(d.depth);
                    if depth == 0 {
                        return Err(Error::invalid("--depth", "0: a stage needs at least one convolution"));
                    }
                    l.blocks = crate::models::CnnConfig::stages(&channels, depth, self.pool.unwrap_or(d.pool));
                }
                if let Some(v) = &self.fc {
                    l.fc = v.iter().copied().filter(|&w| w > 0).collect();
                }
                self.apply_layer_flags(&mut l.activation, &mut l.dropout, &mut l.batch_norm);
            }
        }
        Ok(())
    }

    /// `--activation`, `--dropout`, `--batch-norm` and `--no-batch-norm` onto an MLP's or a CNN's
    /// layers.
    fn apply_layer_flags(&self, activation: &mut Activation, dropout: &mut f32, batch_norm: &mut bool) {
        if let Some(v) = self.activation {
            *activation = v;
        }
        if let Some(v) = self.dropout {
            *dropout = v;
        }
        if self.batch_norm || self.no_batch_norm {
            *batch_norm = self.batch_norm;
        }
    }

    /// The training flags onto `cfg`; a flag the chosen optimizer does not use is an error.
    fn apply_training_flags(&self, cfg: &mut TrainConfig) -> Result<()> {
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
            if !matches!(cfg.optimizer.kind, OptimizerKind::Momentum | OptimizerKind::Nesterov | OptimizerKind::Muon) {
                return Err(Error::invalid(
                    "--momentum",
                    format!(
                        "the {} optimizer does not use it; it applies to --optimizer momentum, nesterov or muon",
                        cfg.optimizer.kind.as_str()
                    ),
                ));
            }
            if !(0.0..1.0).contains(&v) {
                return Err(Error::invalid("--momentum", format!("{v}: must be in [0, 1)")));
            }
            cfg.optimizer.momentum = v;
        }
        if let Some(v) = self.weight_decay {
            if cfg.optimizer.kind == OptimizerKind::Muon && v != 0.0 {
                return Err(Error::invalid(
                    "--weight-decay",
                    "Muon keeps each weight tensor at a fixed norm, so weight decay would do nothing: leave it out",
                ));
            }
            cfg.optimizer.weight_decay = v;
        }
        if let Some(v) = self.schedule {
            cfg.schedule = v;
        }
        if let Some(v) = self.label_smoothing {
            if cfg.loss != LossKind::Softmax {
                return Err(Error::invalid("--label-smoothing", "applies to the softmax loss only, not --loss svm"));
            }
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
        Ok(())
    }
}

/// How messages name a model.
fn model_name(model: &Architecture) -> &'static str {
    match model {
        Architecture::Linear => "linear",
        Architecture::Mlp(_) => "MLP",
        Architecture::Cnn(_) => "CNN",
    }
}

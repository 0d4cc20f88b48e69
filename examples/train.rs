//! Trains a classifier. `cargo run --release --example train` trains the linear classifier on the
//! generated `shapes` set (no download) and saves `runs/shapes-linear.safetensors`.

use clap::Parser;
use kindling::cli::{DataArgs, DeviceArgs};
use kindling::data::{augment::Augment, DatasetName};
use kindling::loss::{LossKind, RegKind};
use kindling::models::{Activation, InitKind, ModelKind};
use kindling::optim::{OptimizerKind, Schedule};
use kindling::train::BatchSize;
use std::path::PathBuf;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Train a kindling classifier. Unset hyper-parameters take the defaults for the model and data set
/// (see the README's table).
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    device: DeviceArgs,
    /// Model.
    #[arg(long, value_enum, default_value = "linear")]
    model: ModelKind,
    /// Hidden layer widths of the MLP, e.g. 512,256.
    #[arg(long, value_delimiter = ',')]
    hidden: Option<Vec<usize>>,
    /// Activation: relu, leaky-relu[:a], sigmoid, tanh, elu[:a], gelu, maxout[:k].
    #[arg(long, value_parser = Activation::parse)]
    activation: Option<Activation>,
    /// Dropout probability after each hidden layer (off at evaluation).
    #[arg(long)]
    dropout: Option<f32>,
    /// Batch norm between layers (the CNN's default).
    #[arg(long)]
    batch_norm: bool,
    /// No batch norm, even where the defaults use it.
    #[arg(long, conflicts_with = "batch_norm")]
    no_batch_norm: bool,
    /// Weight initialization: kaiming, xavier or gaussian:SIGMA.
    #[arg(long, value_parser = InitKind::parse)]
    init: Option<InitKind>,
    /// Train on hand-made features instead of pixels: hog, color, or hog,color.
    #[arg(long)]
    features: Option<String>,
    /// Output channels of each conv block of the CNN, e.g. 64,128,256.
    #[arg(long, value_delimiter = ',')]
    channels: Option<Vec<usize>>,
    /// Convolutions per stage of the CNN (3x3 each; pooling after a stage's first): 1 is one
    /// block per --channels width.
    #[arg(long)]
    depth: Option<usize>,
    /// Pooling after each conv block: max (2x2/2), avg, overlap (AlexNet's 3x3/2), none.
    #[arg(long, value_enum)]
    pool: Option<kindling::models::Pool>,
    /// Hidden fully connected widths of the CNN's head, e.g. 256 (0 for none).
    #[arg(long, value_delimiter = ',')]
    fc: Option<Vec<usize>>,
    /// Data loss.
    #[arg(long, value_enum, default_value = "softmax")]
    loss: LossKind,
    /// Regularization strength λ in λ·R(W).
    #[arg(long)]
    reg: Option<f64>,
    /// Regularizer R.
    #[arg(long, value_enum)]
    reg_kind: Option<RegKind>,
    /// Optimizer.
    #[arg(long, value_enum)]
    optimizer: Option<OptimizerKind>,
    /// Base learning rate.
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// Momentum coefficient (momentum, nesterov).
    #[arg(long)]
    momentum: Option<f64>,
    /// Weight decay (decoupled for adamw, L2 in the gradient otherwise).
    #[arg(long, allow_negative_numbers = true)]
    weight_decay: Option<f64>,
    /// Learning-rate schedule: constant, step[:EVERY[:GAMMA]], cosine[:WARMUP].
    #[arg(long, value_parser = Schedule::parse)]
    schedule: Option<Schedule>,
    /// Label smoothing ε of the softmax loss, in [0, 1) (0: none).
    #[arg(long)]
    label_smoothing: Option<f64>,
    /// Epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Batch size, or `full` for full-batch gradient descent.
    #[arg(long, value_parser = BatchSize::parse)]
    batch_size: Option<BatchSize>,
    /// Seed for initialization, shuffling and augmentation.
    #[arg(long)]
    seed: Option<u64>,
    /// Augment training batches: random crop after 4-pixel padding and horizontal flips.
    #[arg(long)]
    augment: bool,
    /// Horizontal flips only.
    #[arg(long)]
    hflip: bool,
    /// No augmentation, even where the defaults use it.
    #[arg(long, conflicts_with_all = ["augment", "hflip", "crop_pad"])]
    no_augment: bool,
    /// Random crops after padding by N pixels (0: no crops, flips as the defaults or --hflip say).
    #[arg(long, value_name = "N")]
    crop_pad: Option<usize>,
    /// Where to save the final checkpoint (default runs/<dataset>-<model>[-svm].safetensors).
    #[arg(long)]
    save: Option<PathBuf>,
    /// Continue training from a `.last.safetensors` checkpoint.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Draw no training curves.
    #[arg(long)]
    no_plots: bool,
    /// Print only the final line.
    #[arg(long)]
    quiet: bool,
}

fn main() -> anyhow::Result<()> {
    kindling::allocator::keep_freed_pages();
    let args = Args::parse();
    let device = args.device.open_verbose(!args.quiet)?;
    let dataset = args.data.dataset.unwrap_or(DatasetName::Shapes);
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let (run, resume) = match &args.resume {
        Some(path) => {
            let (run, resume) = kindling::run::from_resume(path, &device)?;
            if run.dataset != dataset && args.data.dataset.is_some() {
                anyhow::bail!("--resume {}: trained on {}, not {dataset}", path.display(), run.dataset);
            }
            (run, Some(resume))
        }
        None => {
            let mut cfg = kindling::defaults::train_config_for(dataset, args.model, args.loss, args.features.is_some());
            if let Some(v) = args.reg {
                cfg.reg = v;
            }
            if let Some(v) = args.reg_kind {
                cfg.reg_kind = v;
            }
            if let Some(v) = args.optimizer {
                cfg.optimizer = kindling::optim::OptimizerConfig::new(v, cfg.optimizer.lr);
            }
            if let Some(v) = args.lr {
                cfg.optimizer.lr = v;
            }
            if let Some(v) = args.momentum {
                cfg.optimizer.momentum = v;
            }
            if let Some(v) = args.weight_decay {
                cfg.optimizer.weight_decay = v;
            }
            if let Some(v) = args.schedule {
                cfg.schedule = v;
            }
            if let Some(v) = args.label_smoothing {
                cfg.label_smoothing = v;
            }
            if let Some(v) = args.epochs {
                cfg.epochs = v;
            }
            if let Some(v) = args.batch_size {
                cfg.batch_size = v;
            }
            if let Some(v) = args.seed {
                cfg.seed = v;
            }
            if args.augment {
                cfg.augment = Augment { hflip: true, crop_pad: 4 };
            }
            if args.hflip {
                cfg.augment.hflip = true;
            }
            if let Some(p) = args.crop_pad {
                cfg.augment.crop_pad = p;
            }
            if args.no_augment {
                cfg.augment = Augment::default();
            }
            cfg.validate()?;
            let mut options = kindling::defaults::model_options(dataset, args.model);
            if let Some(v) = &args.hidden {
                options.hidden = v.clone();
            }
            if let Some(v) = args.activation {
                options.activation = v;
            }
            if let Some(v) = args.dropout {
                if !(0.0..1.0).contains(&v) {
                    anyhow::bail!("invalid --dropout {v}: must be in [0, 1)");
                }
                options.dropout = v;
            }
            if args.batch_norm {
                options.batch_norm = true;
            }
            if args.no_batch_norm {
                options.batch_norm = false;
            }
            if let Some(v) = &args.channels {
                options.channels = v.clone();
            }
            if let Some(v) = args.depth {
                if v == 0 {
                    anyhow::bail!("invalid --depth 0: a stage needs at least one convolution");
                }
                options.depth = v;
            }
            if let Some(v) = args.pool {
                options.pool = v;
            }
            if let Some(v) = &args.fc {
                options.fc = v.iter().copied().filter(|&w| w > 0).collect();
            }
            if let Some(v) = args.init {
                options.init = v;
            }
            let features = match &args.features {
                Some(s) => kindling::features::parse_list(s).map_err(|e| anyhow::anyhow!("invalid --features: {e}"))?,
                None => None,
            };
            (kindling::run::Run { dataset, model: args.model, options, features, train: cfg }, None)
        }
    };
    let mut run = run;
    if let (Some(_), Some(e)) = (&resume, args.epochs) {
        run.train.epochs = e;
    }
    let data = match &resume {
        Some(r) => {
            let data = args.data.or_recorded(run.dataset, r.split).prepare(run.dataset)?;
            if let Some(recorded) = r.split.filter(|s| *s != data.split) {
                anyhow::bail!(
                    "--resume: the checkpoint trained on {}, but these flags give {}: resume without data flags to \
                     continue on its own split",
                    recorded.describe(run.dataset.as_str()),
                    data.description
                );
            }
            data
        }
        None => args.data.prepare(run.dataset)?,
    };
    let save = args.save.clone().unwrap_or_else(|| {
        let loss = if run.train.loss == LossKind::Svm { "-svm" } else { "" };
        let feats = if run.features.is_some() { "-features" } else { "" };
        PathBuf::from(format!("runs/{}-{}{feats}{loss}.safetensors", run.dataset, run.model.as_str()))
    });
    if !args.quiet {
        eprintln!("{}", data.description);
    }
    let report = kindling::run::train(&run, &data, &device, &save, resume, &command, !args.quiet)?;
    if !args.no_plots {
        let curves = kindling::checkpoint::sibling(&save, "curves.png");
        match kindling::plot::training_curves(&curves, &report.history) {
            Ok(()) if !args.quiet => eprintln!("wrote {}", curves.display()),
            Ok(()) => {}
            Err(e) => eprintln!("warning: no training curves: {e}"),
        }
    }
    let last = report.history.last().expect("at least one epoch");
    let pct = |a: f64| format!("{:.2}%", 100.0 * a);
    println!(
        "{} {} ({} loss): train accuracy {}, {} after {} epoch{} in {:.1}s; saved {}",
        run.dataset,
        run.model.as_str(),
        run.train.loss.as_str(),
        pct(last.train_acc),
        match last.val_acc {
            Some(v) => format!("held-out accuracy {}", pct(v)),
            None => "no held-out split".to_string(),
        },
        last.epoch,
        if last.epoch == 1 { "" } else { "s" },
        report.seconds,
        save.display()
    );
    match (report.test_acc, &report.no_test_reason) {
        (Some(test_acc), _) => println!("test accuracy {} ({} test images)", pct(test_acc), report.test_n),
        (None, Some(why)) if !args.quiet => eprintln!("no test accuracy: {why}"),
        _ => {}
    }
    if !args.quiet {
        let w = save.display();
        eprintln!("next: cargo run --release --example evaluate -- --weights {w}");
        if run.dataset.toy().is_none() {
            eprintln!("      cargo run --release --example predict -- --weights {w} IMAGE.png");
        }
    }
    Ok(())
}

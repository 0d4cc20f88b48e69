//! SGD, momentum, Nesterov, RMSProp and Adam on the same model, data and seed: training loss
//! against step, in one picture (the lecture's "problems with SGD" and their remedies).

use clap::Parser;
use kindling::app::cli::{DataArgs, DeviceArgs};
use kindling::data::DatasetName;
use kindling::loss::LossKind;
use kindling::models::ModelKind;
use kindling::optim::OptimizerKind;
use std::path::PathBuf;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Compare optimizers on one training run each.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    device: DeviceArgs,
    /// Model.
    #[arg(long, value_enum, default_value = "mlp")]
    model: ModelKind,
    /// Epochs per optimizer.
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Seed shared by every run.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output PNG.
    #[arg(long, default_value = "runs/optimizers.png")]
    out: PathBuf,
}

fn main() -> std::process::ExitCode {
    kindling::app::cli::main(run)
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let device = args.device.open()?;
    let dataset = args.data.dataset_name();
    let mut data = args.data.clone();
    if dataset == DatasetName::Shapes && data.generated_size.is_none() {
        data.generated_size = Some(2000);
    }
    let train = data.prepare(dataset)?.train;
    let mut cfg = kindling::presets::defaults::train_config(dataset, args.model, LossKind::Softmax);
    cfg.epochs = args.epochs;
    cfg.seed = args.seed;
    cfg.augment = Default::default();
    let model = kindling::presets::defaults::architecture(dataset, args.model);
    let runs = [
        (OptimizerKind::Sgd, 0.01),
        (OptimizerKind::Momentum, 0.01),
        (OptimizerKind::Nesterov, 0.01),
        (OptimizerKind::Rmsprop, 1e-4),
        (OptimizerKind::Adam, 1e-3),
    ];
    let curves = kindling::app::visualize::compare_optimizers(&train, &model, &cfg, &runs, &device)?;
    for (name, c) in &curves {
        println!("{name:<24} final loss {:.4}", c.last().map(|p| p.1).unwrap_or(f64::NAN));
    }
    let title = format!("{dataset}, {} ({} images): training loss", args.model.as_str(), train.len());
    kindling::app::plot::line_plot(&args.out, &title, "step", "loss", &curves, true)?;
    println!("wrote {}", args.out.display());
    Ok(())
}

//! Scores a checkpoint: accuracy, per-class accuracy and the confusion matrix.

use clap::Parser;
use kindling::cli::{DataArgs, DeviceArgs, EvalSplit};
use kindling::data::DatasetName;
use std::path::PathBuf;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Evaluate a checkpoint on the test split or on a held-out validation split.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Checkpoint written by `train`.
    #[arg(long)]
    weights: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    device: DeviceArgs,
    /// Which split to score: test, or val (the last --val-size training images).
    #[arg(long, value_enum, default_value = "test")]
    split: EvalSplit,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
    /// Folder for the confusion heatmap and the sample predictions.
    #[arg(long, default_value = "runs")]
    plots: PathBuf,
    /// Draw no pictures.
    #[arg(long)]
    no_plots: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let device = args.device.open()?;
    let ck = kindling::checkpoint::load(&args.weights, &device)?;
    let dataset = match args.data.dataset {
        Some(d) => d,
        None => {
            serde_json::from_value::<DatasetName>(serde_json::Value::String(ck.meta.dataset.clone())).map_err(|_| {
                anyhow::anyhow!("{}: unknown data set '{}': pass --dataset", args.weights.display(), ck.meta.dataset)
            })?
        }
    };
    let ds = args.data.eval_split(dataset, args.split)?;
    let report = kindling::evaluate::score(&ck, &ds, &device)?;
    if args.json {
        println!("{}", serde_json::to_string(&report.to_json())?);
    } else {
        println!("{}", report.render(&args.weights, dataset, args.split));
    }
    if !args.no_plots {
        let stem = format!("{}-{:?}", args.weights.file_stem().unwrap_or_default().to_string_lossy(), args.split)
            .to_lowercase();
        match kindling::visualize::evaluation_pictures(&ck, &ds, &report.confusion, &args.plots, &stem, &device) {
            Ok(files) => files.iter().for_each(|f| eprintln!("wrote {}", f.display())),
            Err(e) => eprintln!("warning: no pictures: {e}"),
        }
    }
    Ok(())
}

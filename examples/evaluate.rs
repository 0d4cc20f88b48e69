//! Scores a checkpoint: accuracy, per-class accuracy and the confusion matrix.

use clap::Parser;
use kindling::app::cli::{DataArgs, DeviceArgs, EvalSplit};
use kindling::tta::Tta;
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
    /// Which split to score: test, or val (the images the checkpoint held out in training, as it
    /// recorded them; --val-size N and --exclude-last M choose others).
    #[arg(long, value_enum, default_value = "test")]
    split: EvalSplit,
    /// With --split val: score a held-out split even where it holds images the model trained
    /// on (the report then says how many).
    #[arg(long)]
    allow_train_overlap: bool,
    /// Score only the first N images of the split (as knn's --test-size).
    #[arg(long, value_name = "N")]
    test_size: Option<usize>,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
    /// Draw the confusion heatmap and the sample predictions into this folder (none without it).
    #[arg(long, value_name = "DIR")]
    plots: Option<PathBuf>,
    /// Draw no pictures: the default; kept for scripts written when pictures went to ./runs/.
    #[arg(long, conflicts_with = "plots")]
    no_plots: bool,
    /// Ship the checkpoint: write its weights (no optimizer state) to this file, score that file,
    /// and record the accuracy and this command in its metadata.
    #[arg(long, value_name = "PATH")]
    record: Option<PathBuf>,
    /// Record this accuracy in a shipped checkpoint (`--weights`, already shipped with --record)
    /// beside its main figure, as an extra split: e.g. the official test score of a model tuned on
    /// held-out data. The weights and the main figure stay as they are.
    #[arg(long, conflicts_with = "record")]
    record_extra: bool,
    /// With --record: store the weights in f16 (half the size).
    #[arg(long, requires = "record")]
    f16: bool,
    /// Test-time augmentation: none; flip (the mean of the softmax of each image and of its mirror
    /// image); or flip-translate (six views, mirrored and moved by one pixel, logits averaged:
    /// airbench94's). Default: what the checkpoint's recorded accuracy used, else none.
    #[arg(long, value_enum)]
    tta: Option<Tta>,
}

fn main() -> std::process::ExitCode {
    kindling::app::cli::main(run)
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let device = args.device.open()?;
    if let Some(dst) = &args.record {
        kindling::app::publish::write(&args.weights, dst, args.f16)?;
    }
    let weights = args.record.clone().unwrap_or_else(|| args.weights.clone());
    let mut model = kindling::Classifier::load(&weights, &device)?;
    if let Some(tta) = args.tta {
        model = model.with_tta(tta);
    }
    let ck = model.checkpoint();
    let dataset = match args.data.dataset {
        Some(d) => d,
        None => kindling::app::run::dataset_of(&ck.meta, &weights)?,
    };
    let (ds, record, note) = match args.split {
        EvalSplit::Test => {
            let (ds, note) = kindling::app::report::test_split(&ck.meta, dataset, &args.data)?;
            (ds, None, note)
        }
        EvalSplit::Val => {
            let held = kindling::app::report::held_out(&ck.meta, dataset, &args.data, args.allow_train_overlap)?;
            (held.data, Some(held.record), held.note)
        }
    };
    let ds = match args.test_size {
        Some(0) => anyhow::bail!("invalid --test-size 0: score at least one image"),
        Some(n) => ds.take(n),
        None => ds,
    };
    let report = kindling::app::report::score(ck, &ds, &device, model.tta())?;
    let val = args.split == EvalSplit::Val;
    if args.record.is_some() || args.record_extra {
        let evaluation = kindling::checkpoint::Evaluation {
            dataset: dataset.as_str().to_string(),
            split: if val { "val" } else { "test" }.to_string(),
            val_size: record.map_or(0, |r| r.val_size),
            exclude_last: record.map_or(0, |r| r.exclude_last),
            images: report.confusion.total(),
            accuracy: report.confusion.accuracy(),
            tta: report.tta,
            command: std::env::args().collect::<Vec<_>>().join(" "),
        };
        let accuracy = evaluation.accuracy;
        match &args.record {
            Some(dst) => {
                kindling::app::publish::record(dst, evaluation)?;
                eprintln!("wrote {} ({:.2}% recorded)", dst.display(), 100.0 * accuracy);
            }
            None => {
                kindling::app::publish::record_extra(&weights, evaluation)?;
                eprintln!(
                    "recorded {:.2}% on the {} split in {}",
                    100.0 * accuracy,
                    args.split.as_str(),
                    weights.display()
                );
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string(&report.to_json())?);
    } else {
        println!("{}", report.render(&weights, dataset, args.split, &note));
    }
    if let Some(plots) = args.plots.as_ref().filter(|_| !args.no_plots) {
        let stem = format!(
            "{}-{}",
            weights.file_stem().unwrap_or_default().to_string_lossy(),
            if val { "val" } else { "test" }
        );
        match kindling::app::visualize::evaluation_pictures(ck, &ds, &report, plots, &stem, &device) {
            Ok(files) => files.iter().for_each(|f| eprintln!("wrote {}", f.display())),
            Err(e) => eprintln!("warning: no pictures: {e}"),
        }
    }
    Ok(())
}

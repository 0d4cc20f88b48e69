//! Classifies image files with a checkpoint: top classes with probabilities.

use clap::Parser;
use kindling::app::cli::DeviceArgs;
use kindling::tta::Tta;
use std::path::PathBuf;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Classify PNG or JPEG images. Images of another size are resized to the model's input size.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Checkpoint written by `train`.
    #[arg(long)]
    weights: PathBuf,
    #[command(flatten)]
    device: DeviceArgs,
    /// How many classes to show per image (at least 1).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    top: u64,
    /// Test-time augmentation: none, or flip (average the predictions for the image and its
    /// mirror image). Default: what the checkpoint's recorded accuracy used, else none.
    #[arg(long, value_enum)]
    tta: Option<Tta>,
    /// Image files.
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

fn main() -> std::process::ExitCode {
    kindling::app::cli::main(run)
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let device = args.device.open()?;
    let mut model = kindling::Classifier::load(&args.weights, &device)?;
    if let Some(tta) = args.tta {
        model = model.with_tta(tta);
    }
    for path in &args.images {
        let p = model.classify_file(path)?;
        if let Some(note) = &p.note {
            eprintln!("note: {note}");
        }
        println!("{}:", path.display());
        for (class, prob) in p.top(args.top as usize) {
            println!("  {prob:6.2}%  {class}", prob = prob * 100.0);
        }
    }
    Ok(())
}

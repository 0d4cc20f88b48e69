//! Classifies image files with a checkpoint: top classes with probabilities, for each file and
//! each image of a folder.

use clap::Parser;
use kindling::app::cli::DeviceArgs;
use kindling::tta::Tta;
use std::path::PathBuf;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Classify images (PNG, JPEG, GIF, WebP): files, and folders (their images, recursively, in
/// sorted order). Images of another size are resized to the model's input size. Every readable
/// file is classified; each one that is not is reported on its own line, and the exit status is
/// then 1.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Checkpoint written by `train`.
    #[arg(long)]
    weights: PathBuf,
    #[command(flatten)]
    device: DeviceArgs,
    /// How many classes to show per image (at least 1).
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = kindling::app::cli::at_least_one)]
    top: usize,
    /// Test-time augmentation: none; flip (the mean of the softmax of the image and of its mirror
    /// image); or flip-translate (six views, mirrored and moved by one pixel, logits averaged:
    /// airbench94's). Default: what the checkpoint's recorded accuracy used, else none.
    #[arg(long, value_enum)]
    tta: Option<Tta>,
    /// Print one JSON object: {"images": [{"file", "top": [{"class", "p"}], "note"} or
    /// {"file", "error"}], "classified", "failed"}.
    #[arg(long)]
    json: bool,
    /// Image files and folders.
    #[arg(required = true, value_name = "IMAGE_OR_FOLDER")]
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
    // A checkpoint that does not read images fails once, not once per file.
    model.meta().image_input()?;
    let files = kindling::app::predict::image_files(&args.images)?;
    anyhow::ensure!(
        !files.is_empty(),
        "no image files in {}: give PNG, JPEG, GIF or WebP files, or folders holding some",
        args.images.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    );
    let outcomes = kindling::app::predict::classify_files(&model, &files);
    if args.json {
        println!("{}", kindling::app::predict::to_json(&outcomes, args.top));
    } else {
        for o in &outcomes {
            match &o.prediction {
                Ok(p) => {
                    if let Some(note) = &p.note {
                        eprintln!("note: {}: {note}", o.path.display());
                    }
                    println!("{}:", o.path.display());
                    for (class, prob) in p.top(args.top) {
                        println!("  {prob:6.2}%  {class}", prob = prob * 100.0);
                    }
                }
                Err(e) => eprintln!("error: {e}"),
            }
        }
    }
    let failed = outcomes.iter().filter(|o| o.prediction.is_err()).count();
    if failed > 0 {
        eprintln!("{failed} of {} files could not be classified (each named above)", outcomes.len());
        std::process::exit(1);
    }
    Ok(())
}

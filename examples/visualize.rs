//! Draws a checkpoint's first layer: linear templates, CNN filters, MLP weights.

use clap::Parser;
use kindling::app::visualize::{first_layer_images, What};
use std::path::PathBuf;

/// Draw a trained model's first-layer weights as images.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Checkpoint written by `train`.
    #[arg(long)]
    weights: PathBuf,
    /// templates (linear), filters (cnn) or weights (any model's first layer). Default: the
    /// first of these that fits the checkpoint's model.
    #[arg(long, value_enum)]
    what: Option<What>,
    /// Output PNG.
    #[arg(long, default_value = "runs/templates.png")]
    out: PathBuf,
    /// Show at most this many units.
    #[arg(long, default_value_t = 64)]
    max: usize,
    /// The image for --what saliency.
    #[arg(long, value_name = "FILE")]
    image: Option<PathBuf>,
    /// Upscaling factor of each image.
    #[arg(long, default_value_t = 4)]
    scale: u32,
}

fn main() -> std::process::ExitCode {
    kindling::app::cli::main(run)
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let ck = kindling::checkpoint::load(&args.weights, &candle_core::Device::Cpu)?;
    if let (Some(What::Saliency), Some(file)) = (args.what, &args.image) {
        let img = kindling::classifier::decode(file)?;
        let s = kindling::app::visualize::saliency(&ck, &img, &candle_core::Device::Cpu)?;
        let pic = kindling::app::plot::saliency_picture(&s.image, s.shape, &s.map, args.scale * 2)?;
        kindling::app::plot::save_picture(&args.out, &pic)?;
        println!("wrote {} (saliency of the top class, {})", args.out.display(), ck.meta.classes[s.class]);
        return Ok(());
    }
    let (mut images, shape, mut labels) = first_layer_images(&ck, args.what.unwrap_or(What::default_for(&ck.model)))?;
    images.truncate(args.max);
    labels.truncate(args.max);
    let cols = (images.len() as f64).sqrt().ceil() as usize;
    let scale = if shape[1] <= 7 { args.scale * 4 } else { args.scale };
    kindling::app::plot::image_grid(&args.out, &images, shape, &labels, cols.max(1), scale)?;
    println!("wrote {} ({} images of {:?})", args.out.display(), images.len(), shape);
    Ok(())
}

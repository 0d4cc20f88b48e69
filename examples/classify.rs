//! The library's front door in a few lines: load a checkpoint, classify image files. It builds
//! without default features (`cargo run --release --no-default-features --example classify --
//! weights/cifar10-cnn.safetensors photo.png`): no command-line parser, plotting or web server is
//! compiled in.

fn main() -> kindling::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(weights), images) = (args.next(), args) else {
        eprintln!("usage: classify CHECKPOINT IMAGE...");
        std::process::exit(2);
    };
    let model = kindling::Classifier::load(&weights, &candle_core::Device::Cpu)?;
    for image in images {
        let prediction = model.classify_file(&image)?;
        let (class, probability) = prediction.best();
        println!("{image}: {class} ({:.1}%)", 100.0 * probability);
    }
    Ok(())
}

//! The local web page: every shipped model on your own image, side by side, at
//! http://127.0.0.1:8080/ (`--port`, `--host`).

use clap::Parser;
use kindling::app::cli::DeviceArgs;
use std::path::PathBuf;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Serve the classification ladder as a web page on this machine.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Address to bind; anything but 127.0.0.1 exposes the page to the network.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port (0: any free one; the address is printed).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Checkpoints to serve (default: every file of weights/).
    #[arg(long, num_args = 1..)]
    weights: Vec<PathBuf>,
    /// Training images of the kNN rung, per data set (0: no kNN; the data set's files are needed).
    #[arg(long, default_value_t = kindling::app::serve::Options::default().knn_images)]
    knn: usize,
    /// Folder holding the data sets for "random held-out image" and kNN (else $KINDLING_DATA, ./data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Held-out images scored for each model card's confusion matrix.
    #[arg(long, default_value_t = kindling::app::serve::CONFUSION_IMAGES, value_parser = kindling::app::cli::at_least_one)]
    confusion_images: usize,
    /// Heavy requests (classifying an upload, drawing a confusion matrix) worked on at once: each
    /// holds its working memory until it ends (docs/serve.md gives the figures).
    #[arg(long, default_value_t = kindling::app::serve::Options::default().jobs, value_parser = kindling::app::cli::at_least_one)]
    jobs: usize,
    /// Heavy requests that may wait for those (each holding its upload, at most 10 MB); more are
    /// answered 503 with Retry-After.
    #[arg(long, default_value_t = kindling::app::serve::Options::default().queue)]
    queue: usize,
    #[command(flatten)]
    device: DeviceArgs,
}

fn main() -> std::process::ExitCode {
    kindling::app::cli::server_main(run)
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let device = args.device.open()?;
    let weights = if args.weights.is_empty() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("weights");
        let mut w: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| anyhow::anyhow!("{}: {e}: pass checkpoints with --weights", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
            .collect();
        w.sort();
        w
    } else {
        args.weights.clone()
    };
    let options = kindling::app::serve::Options {
        data: kindling::data::DataOptions {
            data_dir: args.data_dir.clone(),
            allow_download: false,
            cache_dir: kindling::data::cache::default_dir(),
            ..Default::default()
        },
        knn_images: args.knn,
        confusion_images: args.confusion_images,
        jobs: args.jobs,
        queue: args.queue,
    };
    let server = kindling::app::serve::Server::load(&weights, options, &device)?;
    anyhow::ensure!(!server.entries.is_empty(), "no image model among the checkpoints given");
    kindling::app::serve::run(server, &args.host, args.port)?;
    Ok(())
}

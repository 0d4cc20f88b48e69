//! Speed benchmark: median step time and images/s of a training step (forward, backward, AdamW)
//! or an inference pass, on random CIFAR-sized batches. `benches/compare.sh` runs it beside
//! `benches/pytorch_reference.py` and prints the ratios.

use clap::Parser;
use kindling::app::cli::DeviceArgs;
use kindling::support::bench::{self, BenchModel};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Time training or inference steps.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Architecture.
    #[arg(long, value_enum, default_value = "cnn")]
    model: BenchModel,
    /// Images per step.
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// Timed steps (after 3 warm-up steps).
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Inference only.
    #[arg(long)]
    infer: bool,
    /// Print the f32 GEMM rate of this machine (1024³, all threads) instead, GFLOP/s.
    #[arg(long)]
    gemm_peak: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    device: DeviceArgs,
}

fn main() -> std::process::ExitCode {
    kindling::app::cli::main(run)
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.batch_size > 0 && args.steps > 0, "--batch-size and --steps must be at least 1");
    if args.gemm_peak {
        let threads = rayon::current_num_threads();
        let g = kindling::support::bench::gemm_peak(1024, threads, 5);
        if args.json {
            println!("{}", serde_json::json!({"gemm_gflops": g, "n": 1024, "threads": threads}));
        } else {
            println!("f32 GEMM 1024x1024x1024 on {threads} threads: {g:.0} GFLOP/s");
        }
        return Ok(());
    }
    let device = args.device.open()?;
    let r = bench::run(args.model, args.batch_size, args.steps, args.infer, &device)?;
    if args.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "{} {} batch {}: median {:.1} ms/step, {:.0} images/s, {:.1} GFLOP/s, peak memory {:.0} MB",
            serde_json::to_value(r.model)?.as_str().unwrap_or("?"),
            r.mode,
            r.batch_size,
            r.median_ms,
            r.images_per_s,
            r.gflops,
            r.peak_rss_mb
        );
    }
    Ok(())
}

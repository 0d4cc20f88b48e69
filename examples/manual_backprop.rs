//! The lecture's two-layer sigmoid network with squared-error loss, trained with gradients written
//! out by hand and checked against candle's autograd at every logged step.

use clap::Parser;
use kindling::manual_backprop::TwoLayerNet;

/// Backpropagation by hand on random data (N=64, Din=1000, H=100, Dout=10).
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Gradient-descent steps.
    #[arg(long, default_value_t = 2000)]
    steps: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 1e-4)]
    lr: f64,
    /// Check against autograd and print every N steps.
    #[arg(long, default_value_t = 200)]
    log_every: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.lr > 0.0 && args.lr.is_finite(), "invalid --lr {}: must be a positive number", args.lr);
    let net = TwoLayerNet::new(64, 1000, 100, 10, args.seed)?;
    for t in 0..args.steps {
        let log = t % args.log_every.max(1) == 0 || t + 1 == args.steps;
        let r = net.step(args.lr, log)?;
        anyhow::ensure!(r.loss.is_finite(), "loss became {} at step {t}: try a lower --lr", r.loss);
        if log {
            println!("step {t:>5}  loss {:>12.4}  max relative error vs autograd {:.2e}", r.loss, r.max_rel_error);
            anyhow::ensure!(r.max_rel_error < 1e-6, "hand-written gradients disagree with autograd at step {t}");
        }
    }
    Ok(())
}

//! The lecture's two-layer sigmoid network with squared-error loss, trained with gradients written
//! out by hand and checked against candle's autograd at every logged step.

use clap::Parser;
use kindling::lecture::manual_backprop::TwoLayerNet;

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

/// A loss this many times the first step's is divergence, not learning: gradient descent on this
/// problem only ever lowers it when the step size is right.
const DIVERGED: f64 = 1e6;

fn main() -> std::process::ExitCode {
    kindling::app::cli::main(run)
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.lr > 0.0 && args.lr.is_finite(), "invalid --lr {}: must be a positive number", args.lr);
    let net = TwoLayerNet::new(64, 1000, 100, 10, args.seed)?;
    let mut first_loss = None;
    for t in 0..args.steps {
        let log = t % args.log_every.max(1) == 0 || t + 1 == args.steps;
        let r = net.step(args.lr, log)?;
        let first = *first_loss.get_or_insert(r.loss);
        if log {
            let err = if r.max_rel_error.is_nan() {
                "n/a (gradients not finite)".to_string()
            } else {
                format!("{:.2e}", r.max_rel_error)
            };
            println!("step {t:>5}  loss {:>12.4e}  max relative error vs autograd {err}", r.loss);
        }
        anyhow::ensure!(r.loss.is_finite(), "loss became {} at step {t}: training diverged, try a lower --lr", r.loss);
        anyhow::ensure!(
            r.loss <= DIVERGED * first,
            "loss {:.3e} at step {t} is more than {DIVERGED:e} times the first step's {first:.3e}: training \
             diverged, try a lower --lr",
            r.loss
        );
        if log {
            anyhow::ensure!(
                !r.max_rel_error.is_nan(),
                "the gradients at step {t} are not finite: training diverged, try a lower --lr"
            );
            anyhow::ensure!(r.max_rel_error < 1e-6, "hand-written gradients disagree with autograd at step {t}");
        }
    }
    Ok(())
}

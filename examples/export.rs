//! Writes a checkpoint in another format: `--onnx OUT.onnx` for ONNX runtimes (see docs/onnx.md).

use clap::Parser;
use std::path::PathBuf;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Export a checkpoint for other runtimes.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Checkpoint written by `train` (or one of weights/).
    #[arg(long)]
    weights: PathBuf,
    #[command(flatten)]
    to: Target,
}

/// Where the export goes: exactly one of these.
#[derive(clap::Args, Debug)]
#[group(required = true, multiple = false)]
struct Target {
    /// Write the model as an ONNX file: input `image` float [N, C, H, W] in [0, 1], outputs
    /// `logits` and `probabilities` (docs/onnx.md).
    #[arg(long, value_name = "OUT.onnx")]
    onnx: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    kindling::app::cli::main(run)
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(out) = &args.to.onnx {
        let e = kindling::onnx::export(&args.weights, out)?;
        let meta = kindling::checkpoint::read_meta(&args.weights)?;
        let [c, h, w] = e.input_shape;
        let size = match e.bytes {
            b if b < 1_000_000 => format!("{:.0} kB", b as f64 / 1e3),
            b => format!("{:.1} MB", b as f64 / 1e6),
        };
        println!(
            "wrote {} ({size}, {} nodes, opset {}): input `{}` float [N, {c}, {h}, {w}] in [0, 1], outputs `{}` and `{}` [N, {}]",
            e.path.display(),
            e.nodes,
            kindling::onnx::OPSET,
            kindling::onnx::INPUT,
            kindling::onnx::LOGITS,
            kindling::onnx::PROBABILITIES,
            e.classes,
        );
        if let Some(eval) = &meta.evaluation {
            let tta = eval.tta;
            println!(
                "recorded accuracy {:.2}% ({} {}){}",
                100.0 * eval.accuracy,
                eval.dataset,
                eval.split,
                match tta {
                    kindling::tta::Tta::None => String::new(),
                    t => format!(", measured with --tta {}: not in the graph, see docs/onnx.md", t.as_str()),
                }
            );
        }
    }
    Ok(())
}

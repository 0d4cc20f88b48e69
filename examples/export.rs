//! Writes what kindling holds in a format other programs read:
//!
//! - `--weights CK --onnx OUT.onnx`: a checkpoint as an ONNX file, for ONNX runtimes
//!   (docs/onnx.md);
//! - `--dataset D --split S --out DIR`: a split of any data set as a class-folder tree of PNG
//!   files, the format folder data sets read: `DIR/airplane/00003.png`, ... (each file named after
//!   its index in the split). Three runs give a `train/ val/ test/` folder:
//!
//! ```text
//! export --dataset cifar10 --split train --val-size 10000 --out c10/train
//! export --dataset cifar10 --split val   --val-size 10000 --out c10/val
//! export --dataset cifar10 --split test  --out c10/test
//! ```

use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};
use kindling::app::cli::DataArgs;
use std::path::{Path, PathBuf};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Export a checkpoint for other runtimes, or a data set's images as a folder.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Checkpoint written by `train` (or one of weights/), for --onnx.
    #[arg(long, requires = "onnx")]
    weights: Option<PathBuf>,
    #[command(flatten)]
    to: Target,
    #[command(flatten)]
    data: DataArgs,
    /// Which images --out writes [default: train].
    #[arg(long, value_enum)]
    split: Option<ExportSplit>,
    /// Only the first N images of each class (with --out).
    #[arg(long, value_name = "N")]
    per_class: Option<usize>,
}

/// What is written: exactly one of these.
#[derive(clap::Args, Debug)]
#[group(required = true, multiple = false)]
struct Target {
    /// Write the checkpoint --weights as an ONNX file: input `image` float [N, C, H, W] in [0, 1],
    /// outputs `logits` and `probabilities` (docs/onnx.md).
    #[arg(long, value_name = "OUT.onnx")]
    onnx: Option<PathBuf>,
    /// Write the images of --dataset's --split into this folder, one subfolder per class (created;
    /// it must not hold the class folders yet).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Which images to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExportSplit {
    /// The training images (without the --val-size held-out ones, the first --train-size of them).
    Train,
    /// The held-out images --val-size sets apart.
    Val,
    /// The official test split.
    Test,
}

fn main() -> std::process::ExitCode {
    kindling::app::cli::main(run)
}

fn run() -> anyhow::Result<()> {
    let matches = Args::command().get_matches();
    let args = Args::from_arg_matches(&matches)?;
    if let Some(out) = &args.to.onnx {
        // Every other flag is about --out: refuse it rather than ignore it.
        let command = Args::command();
        let given: Vec<String> = command
            .get_arguments()
            .map(|a| a.get_id().as_str())
            .filter(|id| !matches!(*id, "weights" | "onnx"))
            .filter(|id| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
            .map(|id| format!("--{}", id.replace('_', "-")))
            .collect();
        anyhow::ensure!(given.is_empty(), "{} are for --out DIR, not --onnx: drop them", given.join(", "));
        let weights = args
            .weights
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("--onnx needs --weights CHECKPOINT, the model to export"))?;
        return onnx(weights, out);
    }
    let out = args.to.out.as_deref().expect("clap requires --onnx or --out");
    images(&args.data, args.split.unwrap_or(ExportSplit::Train), args.per_class, out)
}

/// Writes checkpoint `weights` as the ONNX file `out`, and says what it holds.
fn onnx(weights: &Path, out: &Path) -> anyhow::Result<()> {
    let e = kindling::onnx::export(weights, out)?;
    let meta = kindling::checkpoint::read_meta(weights)?;
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
    Ok(())
}

/// Writes split `split` of the data set `data` says as a class-folder tree under `out`.
fn images(data: &DataArgs, split: ExportSplit, per_class: Option<usize>, out: &Path) -> anyhow::Result<()> {
    let dataset = data.dataset_name();
    // Each file is named after the image's index in the split it comes from (for --split val, in
    // the training split), so that a folder read back sorts as the split did.
    let (ds, first_index) = match split {
        ExportSplit::Test => {
            for (flag, given) in [("--val-size", !data.val_size.is_zero()), ("--train-size", data.train_size.is_some())]
            {
                anyhow::ensure!(!given, "invalid {flag}: --split test writes the whole test split");
            }
            (kindling::data::load(dataset, kindling::data::Split::Test, &data.options())?, 0)
        }
        ExportSplit::Train => (data.prepare(dataset)?.train, 0),
        ExportSplit::Val => {
            let p = data.prepare(dataset)?;
            let start = p.split.val_range().start;
            let val = p
                .val
                .ok_or_else(|| anyhow::anyhow!("invalid --split val: give --val-size N, the images to hold out"))?;
            (val, start)
        }
    };
    let ds = match per_class {
        Some(0) => anyhow::bail!("invalid --per-class 0: write at least one image of each class"),
        Some(n) => {
            let mut seen = vec![0usize; ds.num_classes()];
            let keep: Vec<usize> = (0..ds.len())
                .filter(|&i| {
                    let c = &mut seen[ds.labels[i] as usize];
                    *c += 1;
                    *c <= n
                })
                .collect();
            let names: Vec<usize> = keep.iter().map(|&i| i + first_index).collect();
            (ds.subset(&keep), Some(names))
        }
        None => (ds, None),
    };
    let (ds, names) = ds;
    let last = first_index + ds.len();
    let width = last.to_string().len().max(5);
    let name = |i: usize| {
        let index = names.as_ref().map_or(first_index + i, |n| n[i]);
        format!("{index:0width$}")
    };
    let t = std::time::Instant::now();
    let n = kindling::data::folder::export(&ds, out, &name, true)?;
    let counts: Vec<String> = ds.classes.iter().zip(ds.class_counts()).map(|(c, n)| format!("{c} {n}")).collect();
    println!(
        "wrote {n} images of {} classes to {} in {:.1}s ({})",
        ds.num_classes(),
        out.display(),
        t.elapsed().as_secs_f64(),
        counts.join(", ")
    );
    Ok(())
}

//! Writes a split of any data set as a class-folder tree of PNG files, the format folder data sets
//! read: `export --dataset cifar10 --split test --out DIR` writes `DIR/airplane/00003.png`, ...
//! (each file named after its index in the split). Three runs give a `train/ val/ test/` folder:
//!
//! ```text
//! export --dataset cifar10 --split train --val-size 10000 --out c10/train
//! export --dataset cifar10 --split val   --val-size 10000 --out c10/val
//! export --dataset cifar10 --split test  --out c10/test
//! ```

use clap::{Parser, ValueEnum};
use kindling::app::cli::DataArgs;
use std::path::PathBuf;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

/// Write a data set's split as one folder per class of PNG images.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    data: DataArgs,
    /// Which split to write.
    #[arg(long, value_enum, default_value = "train")]
    split: ExportSplit,
    /// The folder to write into (created; it must not hold the class folders yet).
    #[arg(long)]
    out: PathBuf,
    /// Only the first N images of each class.
    #[arg(long, value_name = "N")]
    per_class: Option<usize>,
}

fn main() -> std::process::ExitCode {
    kindling::app::cli::main(run)
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let dataset = args.data.dataset_name();
    // Each file is named after the image's index in the split it comes from (for --split val, in
    // the training split), so that a folder read back sorts as the split did.
    let (ds, first_index) = match args.split {
        ExportSplit::Test => {
            for (flag, given) in
                [("--val-size", !args.data.val_size.is_zero()), ("--train-size", args.data.train_size.is_some())]
            {
                anyhow::ensure!(!given, "invalid {flag}: --split test writes the whole test split");
            }
            (kindling::data::load(dataset, kindling::data::Split::Test, &args.data.options())?, 0)
        }
        ExportSplit::Train => (args.data.prepare(dataset)?.train, 0),
        ExportSplit::Val => {
            let p = args.data.prepare(dataset)?;
            let start = p.split.val_range().start;
            let val = p
                .val
                .ok_or_else(|| anyhow::anyhow!("invalid --split val: give --val-size N, the images to hold out"))?;
            (val, start)
        }
    };
    let ds = match args.per_class {
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
    let n = kindling::data::folder::export(&ds, &args.out, &name, true)?;
    let counts: Vec<String> = ds.classes.iter().zip(ds.class_counts()).map(|(c, n)| format!("{c} {n}")).collect();
    println!(
        "wrote {n} images of {} classes to {} in {:.1}s ({})",
        ds.num_classes(),
        args.out.display(),
        t.elapsed().as_secs_f64(),
        counts.join(", ")
    );
    Ok(())
}

//! Trains a classifier. `cargo run --release --example train` trains the linear classifier on the
//! generated `shapes` set (no download) and saves `runs/shapes-linear.safetensors`.

use clap::Parser;
use kindling::app::cli::{DataArgs, DeviceArgs, TrainArgs};
use std::path::PathBuf;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Train a kindling classifier. Unset hyper-parameters take the defaults for the model and data set
/// (see the README's table).
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    device: DeviceArgs,
    #[command(flatten)]
    train: TrainArgs,
    /// Where to save the final checkpoint (default runs/<dataset>-<model>[-svm].safetensors).
    #[arg(long)]
    save: Option<PathBuf>,
    /// Continue training from a `.last.safetensors` checkpoint.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Draw no training curves.
    #[arg(long)]
    no_plots: bool,
    /// Print only the final line.
    #[arg(long)]
    quiet: bool,
}

fn main() -> std::process::ExitCode {
    kindling::app::cli::main(run)
}

fn run() -> anyhow::Result<()> {
    let mut args = Args::parse();
    args.data.quiet = args.quiet;
    let device = args.device.open_verbose(!args.quiet)?;
    let dataset = args.data.dataset_name();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let (run, resume) = match &args.resume {
        Some(path) => {
            let (run, resume) = kindling::app::run::from_resume(path, &device)?;
            if run.dataset != dataset && args.data.dataset.is_some() {
                anyhow::bail!("--resume {}: trained on {}, not {dataset}", path.display(), run.dataset);
            }
            (run, Some(resume))
        }
        None => (args.train.run(dataset)?, None),
    };
    let mut run = run;
    if let (Some(_), Some(e)) = (&resume, args.train.epochs) {
        run.train.epochs = e;
    }
    let data = match (&run.fine_tune, &resume) {
        // a folder is read in the format the pretrained network reads
        (Some(ft), None) => args.data.prepare_for_parent(run.dataset, &kindling::checkpoint::read_meta(&ft.from)?)?,
        _ => args.data.prepare_resumed(run.dataset, resume.as_ref().map(|r| &r.meta))?,
    };
    let save = args.save.clone().unwrap_or_else(|| kindling::app::run::default_save_path(&run, &data));
    if !args.quiet {
        eprintln!("{}", data.description);
    }
    let out = kindling::app::run::Output { save: save.clone(), command, verbose: !args.quiet };
    let report = kindling::app::run::execute(&run, &data, &device, &out, resume)?;
    if !args.no_plots {
        let curves = kindling::checkpoint::sibling(&save, "curves.png");
        match kindling::app::plot::training_curves(&curves, &report.history) {
            Ok(()) if !args.quiet => eprintln!("wrote {}", curves.display()),
            Ok(()) => {}
            Err(e) => eprintln!("warning: no training curves: {e}"),
        }
    }
    println!("{}", report.summary(&run, &save));
    if let Some((tta, acc)) = report.val_tta {
        println!("held-out accuracy with --tta {}: {:.2}%", tta.as_str(), 100.0 * acc);
    }
    match (report.test_acc, &report.no_test_reason) {
        (Some(test_acc), _) => println!("test accuracy {:.2}% ({} test images)", 100.0 * test_acc, report.test_n),
        (None, Some(why)) if !args.quiet => eprintln!("no test accuracy: {}", kindling::app::cli::flags_in(why)),
        _ => {}
    }
    if !args.quiet {
        let w = save.display();
        let tta = match run.tta {
            kindling::tta::Tta::None => String::new(),
            tta => format!(" --tta {}", tta.as_str()),
        };
        eprintln!("next: cargo run --release --example evaluate -- --weights {w}{tta}");
        if run.dataset.toy().is_none() {
            eprintln!("      cargo run --release --example predict -- --weights {w} IMAGE.png");
        }
    }
    Ok(())
}

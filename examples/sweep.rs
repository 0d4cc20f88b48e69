//! Hyper-parameter search: `train`'s flags, with ranges or lists for the flags to search, e.g.
//! `sweep --dataset cifar10 --loss svm --lr 1e-4..1e-1:log --reg 1e-4..1:log --trials 24 --epochs 5
//! --exclude-last 10000 --val-size 5000`. Every trial is scored on the validation split only.

use clap::Parser;
use kindling::app::cli::{DataArgs, DeviceArgs, TrainArgs};
use kindling::app::sweep::{self, space, Sweep};
use std::path::PathBuf;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Search hyper-parameters: random search over ranges (LO..HI, LO..HI:log), grid search over
/// lists (A,B,C), for --lr --reg --momentum --weight-decay --dropout --label-smoothing --hidden
/// (one hidden layer's width) --batch-size. Every other flag is train's.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    device: DeviceArgs,
    #[command(flatten)]
    train: TrainArgs,
    /// Trials of a random search (a search over lists only runs their full product).
    #[arg(long, default_value_t = 16)]
    trials: usize,
    /// Seed of the random draws (training itself uses --seed).
    #[arg(long, default_value_t = 0)]
    search_seed: u64,
    /// Successive halving in R rungs: every trial trains epochs/2^(R-1) epochs, the better half
    /// goes on to twice that, ... (1: every trial trains all --epochs; R rungs need at least
    /// 2^(R-1) epochs).
    #[arg(long, default_value_t = 1, conflicts_with_all = ["plan", "collect"])]
    halving: usize,
    /// K-fold cross-validation: pool the training and validation splits, train each trial K
    /// times, each time validated on one of K parts of validation-split size (the validation
    /// split itself, and K-1 parts drawn from the training images, stratified by class and
    /// shuffled by --search-seed), and score it on all K parts' images at once.
    #[arg(long, default_value_t = 1, value_name = "K", conflicts_with_all = ["plan", "collect"])]
    folds: usize,
    /// Results file, written after every trial; a search run again with it continues where it
    /// stopped. Default runs/sweep-<dataset>-<model>.json.
    #[arg(long, conflicts_with_all = ["plan", "collect"])]
    results: Option<PathBuf>,
    /// Start afresh: remove the results file first.
    #[arg(long, conflicts_with_all = ["plan", "collect"])]
    fresh: bool,
    /// Print the results as one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Picture of validation accuracy over the searched axes (default: beside the results file;
    /// with --collect, DIR/sweep.png).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Write the best trial's model here, with the search in its metadata.
    #[arg(long, conflicts_with_all = ["plan", "collect"])]
    save_best: Option<PathBuf>,
    /// Print one `train` command per trial (the `train` binary beside this one), saving into DIR,
    /// instead of searching here.
    #[arg(long, value_name = "DIR", conflicts_with = "collect")]
    plan: Option<PathBuf>,
    /// Gather the checkpoints that --plan's commands wrote into DIR into the table and picture
    /// (give the flags the plan was made with: each trial is checked against its command and
    /// scored again on the validation split).
    #[arg(long, value_name = "DIR")]
    collect: Option<PathBuf>,
}

/// The sweep's own flags (with whether each takes a value), left out of --plan's commands.
const OWN: [(&str, bool); 11] = [
    ("--trials", true),
    ("--folds", true),
    ("--search-seed", true),
    ("--halving", true),
    ("--results", true),
    ("--fresh", false),
    ("--json", false),
    ("--plot", true),
    ("--save-best", true),
    ("--plan", true),
    ("--collect", true),
];

fn main() -> std::process::ExitCode {
    kindling::app::cli::main(run)
}

fn run() -> anyhow::Result<()> {
    let (space, rest) = space::split_args(std::env::args())?;
    let args = Args::parse_from(&rest);
    let dataset = args.data.dataset_name();
    anyhow::ensure!(
        !space.axes.is_empty(),
        "nothing to search: give a range (--lr 1e-4..1e-1:log) or a list (--hidden 256,512)"
    );
    // Every bound and count checked before anything is loaded or trained.
    sweep::check(&space, args.trials, &args.train, dataset)?;
    if args.plan.is_none() && args.collect.is_none() {
        sweep::check_halving(args.halving, args.train.run(dataset)?.train.epochs)?;
    }
    let stem = format!("runs/sweep-{dataset}-{}", args.train.model_kind().as_str());
    let results_path = args.results.clone().unwrap_or_else(|| PathBuf::from(format!("{stem}.json")));
    let plot = match (&args.plot, &args.collect) {
        (Some(p), _) => p.clone(),
        (None, Some(dir)) => dir.join("sweep.png"),
        (None, None) => results_path.with_extension("png"),
    };

    if let Some(dir) = &args.plan {
        let me = std::env::current_exe()?;
        let train = me.with_file_name(format!("train{}", std::env::consts::EXE_SUFFIX));
        if !train.exists() {
            eprintln!(
                "warning: no train binary at {}: build it (cargo build --release --example train) before running these",
                train.display()
            );
        }
        let mut base = vec![sweep::shell_quote(&train.to_string_lossy())];
        let mut it = rest.iter().skip(1);
        while let Some(a) = it.next() {
            let flag = a.split('=').next().unwrap_or(a);
            match OWN.iter().find(|(f, _)| *f == flag) {
                Some((_, true)) if !a.contains('=') => {
                    it.next();
                }
                Some(_) => {}
                None => base.push(sweep::shell_quote(a)),
            }
        }
        // Absolute, so that the commands save to the same place from whatever folder they run in.
        let dir = std::path::absolute(dir)?;
        for cmd in sweep::plan(&space, args.trials, args.search_seed, &base.join(" "), &dir) {
            println!("{cmd}");
        }
        return Ok(());
    }
    let device = args.device.open_verbose(!args.json)?;
    let data = args.data.prepare(dataset)?;
    let (results, best) = match &args.collect {
        Some(dir) => {
            let collect = sweep::Collect {
                dir,
                space: &space,
                trials: args.trials,
                seed: args.search_seed,
                base: &args.train,
                dataset,
                data: &data,
            };
            let results = collect.run(&device)?;
            if !results.missing.is_empty() {
                let files: Vec<String> = results
                    .missing
                    .iter()
                    .map(|id| dir.join(format!("trial-{id}.safetensors")).display().to_string())
                    .collect();
                eprintln!(
                    "warning: {} of {} planned trials missing (their commands have not finished?): {}",
                    results.missing.len(),
                    results.missing.len() + results.results.len(),
                    files.join(", ")
                );
            }
            (results, None)
        }
        None => {
            if args.fresh {
                let _ = std::fs::remove_file(&results_path);
            }
            if !args.json {
                eprintln!("{}", data.description);
            }
            let search = Sweep {
                dataset,
                data: &data,
                base: args.train.clone(),
                space: space.clone(),
                trials: args.trials,
                seed: args.search_seed,
                rungs: args.halving,
                folds: args.folds,
                results: Some(results_path.clone()),
                verbose: !args.json,
            };
            let (results, best) = search.run(&device)?;
            if let (Some(path), Some(b)) = (&args.save_best, &best) {
                let command = std::env::args().collect::<Vec<_>>().join(" ");
                let meta = sweep::best_meta(b, &data, &results, &command)?;
                kindling::checkpoint::save(path, &meta, &b.network.params, &[])?;
                eprintln!("wrote {} (trial {})", path.display(), b.id);
            }
            (results, best.map(|b| b.id))
        }
    };
    if args.save_best.is_some() && best.is_none() && args.collect.is_none() {
        eprintln!("warning: no trial finished its budget: nothing saved for --save-best");
    }
    match results.plot(&plot, &format!("{dataset} {}: validation accuracy by trial", args.train.model_kind().as_str()))
    {
        Ok(()) if !args.json => eprintln!("wrote {}", plot.display()),
        Ok(()) => {}
        Err(e) => eprintln!("warning: no picture: {e}"),
    }
    if args.json {
        println!("{}", serde_json::to_string(&results)?);
    } else {
        print!("{}", results.table());
        if args.collect.is_none() {
            eprintln!("results: {} (run the same command again to resume)", results_path.display());
        }
    }
    Ok(())
}

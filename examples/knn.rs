//! k-nearest neighbour on raw pixels: cross-validates k on the training set, then scores the
//! chosen k on held-out or test queries.

use clap::Parser;
use kindling::app::cli::{DataArgs, DeviceArgs};
use kindling::data::Normalization;
use kindling::models::knn::{cross_validate, fold_training_size, Distance, Knn};

/// The values of k cross-validated when --k is not given.
const DEFAULT_KS: [usize; 10] = [1, 3, 5, 8, 10, 12, 15, 20, 50, 100];

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// kNN classifier. Queries come from the held-out split when --val-size is given, else from the
/// test split.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    device: DeviceArgs,
    /// Values of k: one to use directly, several to cross-validate [default: 1,3,5,8,10,12,15,20,50,100,
    /// leaving out those larger than a fold's training part].
    #[arg(long, value_delimiter = ',')]
    k: Option<Vec<usize>>,
    /// Distance.
    #[arg(long, value_enum, default_value = "l2")]
    distance: Distance,
    /// Folds for cross-validating k (when several are given).
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Score only the first N queries.
    #[arg(long)]
    test_size: Option<usize>,
    /// Seed of the cross-validation folds (stratified by class, shuffled by this seed).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Where to draw accuracy against k (with the cross-validation spread).
    #[arg(long, default_value = "runs/knn-cv.png")]
    plot: std::path::PathBuf,
    /// Draw no picture.
    #[arg(long)]
    no_plots: bool,
    /// Use hand-made features instead of pixels: hog, color, or hog,color (standardized with
    /// training-set statistics).
    #[arg(long)]
    features: Option<String>,
}

fn main() -> std::process::ExitCode {
    kindling::app::cli::main(run)
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let device = args.device.open()?;
    let dataset = args.data.dataset_name();
    let prepared = args.data.prepare(dataset)?;
    let (queries, from) = match prepared.val {
        Some(v) => {
            let r = prepared.split.val_range();
            (v, format!("held-out training images [{}, {})", r.start, r.end))
        }
        None => (prepared.test_split(dataset)?, "the test split".to_string()),
    };
    let queries = match args.test_size {
        Some(n) => queries.take(n),
        None => queries,
    };
    let features = match &args.features {
        Some(s) => kindling::features::parse_list(s).map_err(|e| anyhow::anyhow!("invalid --features: {e}"))?,
        None => None,
    };
    // Raw pixels are compared as they are (scaled to [0, 1]); features are standardized with
    // the training set's statistics so that no feature dominates the distance.
    let (mut pre, train_set) = kindling::preprocess::Preprocess::measure(&prepared.train, features.clone(), true)?;
    if features.is_none() {
        pre.normalization = Normalization::identity(train_set.shape[0]);
    }
    let queries = pre.input(&queries, true)?;
    let train_x = pre.matrix(&train_set, &device)?;
    let train_y = train_set.labels_u32();
    eprintln!("{}; {} queries from {from}", prepared.description, queries.len());

    let ks = match &args.k {
        Some(ks) => ks.clone(),
        // A fold count that cannot be used is left to cross_validate to refuse.
        None if args.folds < 2 || args.folds > train_y.len() => DEFAULT_KS.to_vec(),
        None => {
            // The defaults that every fold's training part can hold; an explicit --k too large is
            // an error instead.
            let keep = fold_training_size(train_y.len(), args.folds);
            let (fit, dropped): (Vec<usize>, Vec<usize>) = DEFAULT_KS.iter().partition(|&&k| k <= keep);
            if !dropped.is_empty() {
                let dropped: Vec<String> = dropped.iter().map(|k| k.to_string()).collect();
                eprintln!(
                    "leaving out the default k = {}: more than the {keep} training samples each of the {} folds keeps",
                    dropped.join(", "),
                    args.folds
                );
            }
            fit
        }
    };
    let mut cv_json = serde_json::Map::new();
    let k = if ks.len() > 1 {
        let t = std::time::Instant::now();
        let bar = kindling::progress::bar(!args.json, train_y.len() as u64, "cross-validating k");
        let cv = cross_validate(&train_x, &train_y, args.distance, &ks, args.folds, args.seed, &bar)?;
        bar.finish_and_clear();
        if !args.json {
            println!(
                "{}-fold cross-validation of k ({}, {:.1}s):",
                args.folds,
                args.distance.as_str(),
                t.elapsed().as_secs_f64()
            );
            for (k, mean, std) in cv.summary() {
                println!("  k = {k:>4}: {:.2}% ± {:.2}", 100.0 * mean, 100.0 * std);
            }
        }
        for (k, accs) in cv.ks.iter().zip(&cv.fold_acc) {
            cv_json.insert(k.to_string(), serde_json::json!(accs));
        }
        if !args.no_plots {
            let points: Vec<(f64, f64, f64)> = cv.summary().into_iter().map(|(k, m, s)| (k as f64, m, s)).collect();
            let folds: Vec<(f64, f64)> =
                cv.ks.iter().zip(&cv.fold_acc).flat_map(|(&k, a)| a.iter().map(move |&v| (k as f64, v))).collect();
            let title = format!("{dataset}: {}-fold cross-validation of k ({})", args.folds, args.distance.as_str());
            match kindling::app::plot::errorbar_plot(&args.plot, &title, "k", "accuracy", &points, &folds) {
                Ok(()) => eprintln!("wrote {}", args.plot.display()),
                Err(e) => eprintln!("warning: no picture: {e}"),
            }
        }
        cv.best_k()
    } else {
        ks[0]
    };
    let t = std::time::Instant::now();
    let mut knn = Knn::new(&train_x, &train_y, args.distance)?;
    knn.progress = kindling::progress::bar(!args.json, queries.len() as u64, "queries");
    let preds = knn.predict(&pre.matrix(&queries, &device)?, k)?;
    knn.progress.finish_and_clear();
    let correct = preds.iter().zip(&queries.labels).filter(|(p, &y)| **p == y as u32).count();
    let acc = correct as f64 / queries.len().max(1) as f64;
    if args.json {
        println!("{}", serde_json::json!({"k": k, "accuracy": acc, "cv": cv_json}));
    } else {
        println!(
            "k = {k} ({}): accuracy {:.2}% on {} queries from {from} ({:.1}s)",
            args.distance.as_str(),
            100.0 * acc,
            queries.len(),
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

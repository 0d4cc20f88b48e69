//! k-nearest neighbour on raw pixels: cross-validates k on the training set, then scores the
//! chosen k on held-out or test queries.

use clap::Parser;
use kindling::cli::{DataArgs, DeviceArgs, EvalSplit};
use kindling::data::{DatasetName, Normalization};
use kindling::models::knn::{cross_validate, Distance, Knn};

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
    /// Values of k: one to use directly, several to cross-validate.
    #[arg(long, value_delimiter = ',', default_value = "1,3,5,8,10,12,15,20,50,100")]
    k: Vec<usize>,
    /// Distance.
    #[arg(long, value_enum, default_value = "l2")]
    distance: Distance,
    /// Folds for cross-validating k (when several are given).
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Score only the first N queries.
    #[arg(long)]
    test_size: Option<usize>,
    /// Seed (unused by kNN itself; accepted like every example's).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let device = args.device.open()?;
    let dataset = args.data.dataset.unwrap_or(DatasetName::Shapes);
    let prepared = args.data.prepare(dataset)?;
    let queries = match prepared.val {
        Some(v) => v,
        None => args.data.eval_split(dataset, EvalSplit::Test)?,
    };
    let queries = match args.test_size {
        Some(n) => queries.take(n),
        None => queries,
    };
    let norm = Normalization::identity(prepared.train.shape[0]);
    let train_x = prepared.train.matrix(&norm, &device)?;
    let train_y = prepared.train.labels_u32();
    eprintln!("{}; {} queries", prepared.description, queries.len());

    let mut cv_json = serde_json::Map::new();
    let k = if args.k.len() > 1 {
        let t = std::time::Instant::now();
        let cv = cross_validate(&train_x, &train_y, args.distance, &args.k, args.folds)?;
        if !args.json {
            println!(
                "{}-fold cross-validation of k ({:?}, {:.1}s):",
                args.folds,
                args.distance,
                t.elapsed().as_secs_f64()
            );
            for (k, mean, std) in cv.summary() {
                println!("  k = {k:>4}: {:.2}% ± {:.2}", 100.0 * mean, 100.0 * std);
            }
        }
        for (k, accs) in cv.ks.iter().zip(&cv.fold_acc) {
            cv_json.insert(k.to_string(), serde_json::json!(accs));
        }
        cv.best_k()
    } else {
        args.k[0]
    };
    let t = std::time::Instant::now();
    let knn = Knn::fit(&train_x, &train_y, args.distance)?;
    let preds = knn.predict(&queries.matrix(&norm, &device)?, k)?;
    let correct = preds.iter().zip(&queries.labels).filter(|(p, &y)| **p == y as u32).count();
    let acc = correct as f64 / queries.len().max(1) as f64;
    if args.json {
        println!("{}", serde_json::json!({"k": k, "accuracy": acc, "cv": cv_json}));
    } else {
        println!(
            "k = {k} ({:?}): accuracy {:.2}% on {} queries ({:.1}s)",
            args.distance,
            100.0 * acc,
            queries.len(),
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

//! 2-D toy problems: linear and MLP classifiers on points that are not linearly separable, a grid
//! over hidden width and regularization, and decision-boundary pictures; kNN with k = 1 and k = 5
//! on noisy data.

use clap::Parser;
use kindling::app::cli::DeviceArgs;
use kindling::app::visualize::{knn_grid, model_grid, points};
use kindling::data::{self, toy2d::Toy, DatasetName, Normalization, Split};
use kindling::models::{
    knn::{Distance, Knn},
    ModelKind,
};
use std::path::PathBuf;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Train on spiral, circles and moons and print an accuracy table.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Data sets.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "spiral,circles,moons")]
    datasets: Vec<Toy>,
    /// Hidden widths of the grid.
    #[arg(long, value_delimiter = ',', default_value = "3,6,20,100")]
    hidden: Vec<usize>,
    /// Regularization strengths of the grid.
    #[arg(long, value_delimiter = ',', default_value = "0.001,0.01,0.1")]
    reg: Vec<f64>,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    device: DeviceArgs,
    /// Folder for the pictures.
    #[arg(long, default_value = "runs/toy2d")]
    out: PathBuf,
    /// Skip the pictures.
    #[arg(long)]
    no_plots: bool,
}

fn main() -> std::process::ExitCode {
    kindling::app::cli::main(run)
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let device = args.device.open()?;
    println!("{:<8} {:<22} {:>9} {:>9}", "data", "model", "train acc", "test acc");
    for name in args.datasets.iter().map(|t| t.dataset()) {
        let train = data::load(name, Split::Train, &Default::default())?;
        let test = data::load(name, Split::Test, &Default::default())?;
        let norm = Normalization::measure(&train);
        let (pts, labels) = points(&train)?;
        let mut runs: Vec<(ModelKind, usize, f64)> = vec![(ModelKind::Linear, 0, 1e-3)];
        for &h in &args.hidden {
            for &r in &args.reg {
                runs.push((ModelKind::Mlp, h, r));
            }
        }
        let mut panels = vec![];
        for (kind, hidden, reg) in runs {
            let mut cfg = kindling::presets::defaults::train_config(name, kind, kindling::loss::LossKind::Softmax);
            cfg.reg = reg;
            cfg.seed = args.seed;
            let mut arch = kindling::presets::defaults::architecture(name, kind);
            if let kindling::models::Architecture::Mlp(layers) = &mut arch {
                layers.hidden = vec![hidden];
            }
            let (model, acc_train) = kindling::lecture::toy::train_toy(&train, &norm, &arch, &cfg, &device)?;
            let acc_test = kindling::train::evaluate(&model, &test, &norm, &device)?.accuracy();
            let label = match kind {
                ModelKind::Mlp => format!("mlp hidden {hidden} λ={reg}"),
                _ => "linear".to_string(),
            };
            println!("{:<8} {:<22} {:>8.1}% {:>8.1}%", name.as_str(), label, 100.0 * acc_train, 100.0 * acc_test);
            if !args.no_plots {
                let grid = model_grid(&model, &norm, &pts, 120)?;
                if kind == ModelKind::Linear || (hidden == 100 && reg == 1e-3) {
                    let file = args.out.join(format!("{}-{}.png", name.as_str(), kind.as_str()));
                    kindling::app::plot::decision_boundary(
                        &file,
                        &grid,
                        &pts,
                        &labels,
                        &format!("{} {label}", name.as_str()),
                    )?;
                }
                if kind == ModelKind::Mlp {
                    panels.push((format!("hidden {hidden}, λ={reg}"), grid));
                }
            }
        }
        if !args.no_plots && !panels.is_empty() {
            let file = args.out.join(format!("{}-grid.png", name.as_str()));
            kindling::app::plot::boundary_grid(&file, &panels, &pts, &labels, args.reg.len())?;
        }
    }
    if !args.no_plots {
        // kNN on noisy blobs: k = 1 draws islands around every outlier, k = 5 smooths them away.
        let noisy = kindling::lecture::toy::with_label_noise(
            &data::load(DatasetName::Blobs, Split::Train, &Default::default())?,
            0.1,
            args.seed,
        );
        let (pts, labels) = points(&noisy)?;
        let xs = candle_core::Tensor::from_vec(
            pts.iter().flat_map(|&(x, y)| [x, y]).collect::<Vec<_>>(),
            (pts.len(), 2),
            &candle_core::Device::Cpu,
        )?;
        let knn = Knn::new(&xs, &labels, Distance::L2)?;
        let panels = vec![
            ("k = 1".to_string(), knn_grid(&knn, 1, &pts, 120)?),
            ("k = 5".to_string(), knn_grid(&knn, 5, &pts, 120)?),
        ];
        kindling::app::plot::boundary_grid(&args.out.join("knn-k1-k5.png"), &panels, &pts, &labels, 2)?;
        println!("pictures in {}", args.out.display());
    }
    Ok(())
}

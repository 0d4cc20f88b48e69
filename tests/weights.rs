//! The shipped checkpoints in `weights/`: each one self-describing, listed in the README's
//! results table with the accuracy recorded in it, and (when `KINDLING_DATA` is set) still that
//! accurate, within 0.3 points, when evaluated again on its split.

use kindling::checkpoint::{self, CheckpointMeta};
use kindling::cli::DataArgs;
use kindling::data::DatasetName;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// How far below the README's figure a re-evaluation may fall, in percentage points.
const TOLERANCE: f64 = 0.3;

/// The `.safetensors` files in `weights/`, by file name.
fn shipped() -> BTreeMap<String, PathBuf> {
    let dir = Path::new(ROOT).join("weights");
    std::fs::read_dir(&dir)
        .expect("weights/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect()
}

/// The README's figure (percent) for each `weights/NAME.safetensors` it lists in a table row:
/// the first cell that reads as a percentage; with the row itself.
fn readme_figures() -> BTreeMap<String, (f64, String)> {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let mut figures = BTreeMap::new();
    // The rows of the weights table only: it follows its marker comment (other tables may name a
    // shipped file in a command).
    let table = readme.lines().skip_while(|l| !l.starts_with("<!-- weights table")).skip(1);
    for line in table.take_while(|l| l.starts_with('|')) {
        let Some(at) = line.find("weights/") else { continue };
        let rest = &line[at + "weights/".len()..];
        let Some(end) = rest.find(".safetensors") else { continue };
        let name = format!("{}.safetensors", &rest[..end]);
        let figure = line
            .split('|')
            .map(|c| c.trim().trim_matches('*'))
            .find_map(|c| c.strip_suffix('%').and_then(|n| n.parse::<f64>().ok()))
            .unwrap_or_else(|| panic!("README row for {name} states no accuracy: {line}"));
        assert!(figures.insert(name.clone(), (figure, line.to_string())).is_none(), "README lists {name} twice");
    }
    figures
}

#[test]
fn shipped_weights_describe_themselves_and_match_the_readme() {
    let files = shipped();
    let figures = readme_figures();
    assert!(!files.is_empty(), "no checkpoints in weights/");
    for name in figures.keys() {
        assert!(files.contains_key(name), "the README lists weights/{name}, which does not exist");
    }
    let mut total = 0;
    for (name, path) in &files {
        total += std::fs::metadata(path).unwrap().len();
        let meta: CheckpointMeta = checkpoint::read_meta(path).unwrap();
        let eval = meta.evaluation.as_ref().unwrap_or_else(|| panic!("{name}: no recorded evaluation"));
        assert!(meta.command.as_deref().is_some_and(|c| c.contains("train")), "{name}: no training command");
        assert!(meta.split.is_some() && meta.machine.is_some(), "{name}: split or machine missing");
        assert!(meta.wall_seconds.is_some_and(|s| s > 0.0), "{name}: no training time");
        assert!(meta.epoch > 0 && meta.train.as_ref().is_some_and(|t| t.epochs == meta.epoch), "{name}: unfinished");
        if meta.dataset == "cifar10" {
            // Either a tuning model, trained on batches 1-4 and scored on batch 5, or a final one,
            // trained on all 50,000 and scored on the official test set.
            let held_out = meta.split.as_deref().unwrap().contains("[0, 40000)")
                && (eval.split.as_str(), eval.val_size) == ("val", 10_000);
            let final_model = meta.split_record().is_some_and(|r| r.val_size == 0) && eval.split == "test";
            assert!(held_out || final_model, "{name}: split {:?}, scored on {}", meta.split, eval.split);
        }
        let (stated, row) = figures.get(name).unwrap_or_else(|| panic!("weights/{name} is not in the README's table"));
        // A figure measured with test-time augmentation names its level in its row, exactly.
        let named = |level: &str| {
            row.match_indices(&format!("--tta {level}"))
                .any(|(at, m)| !row[at + m.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '-'))
        };
        let tta = eval.tta;
        if tta != kindling::tta::Tta::None {
            assert!(named(tta.as_str()), "{name}: recorded with --tta {}; README row: {row}", tta.as_str());
        }
        for other in [kindling::tta::Tta::Flip, kindling::tta::Tta::FlipTranslate] {
            assert!(
                other == tta || !named(other.as_str()),
                "{name}: recorded with --tta {}; README row: {row}",
                tta.as_str()
            );
        }
        assert!(
            (stated - 100.0 * eval.accuracy).abs() < 0.006,
            "{name}: README says {stated}%, its metadata {:.2}%",
            100.0 * eval.accuracy
        );
        // The file loads as a model.
        checkpoint::load(path, &candle_core::Device::Cpu).unwrap();
    }
    assert!(total < 60 << 20, "weights/ holds {} MB, over the 60 MB budget", total >> 20);
}

#[test]
fn shipped_weights_reach_the_readme_figures() {
    if std::env::var_os("KINDLING_DATA").is_none() {
        eprintln!("skipped: KINDLING_DATA is not set to a folder holding the real data sets");
        return;
    }
    let figures = readme_figures();
    for (name, path) in shipped() {
        let ck = checkpoint::load(&path, &candle_core::Device::Cpu).unwrap();
        let eval = ck.meta.evaluation.clone().unwrap();
        let dataset: DatasetName = serde_json::from_value(serde_json::Value::String(eval.dataset.clone())).unwrap();
        let args = DataArgs {
            dataset: Some(dataset),
            data_dir: None,
            exclude_last: eval.exclude_last,
            val_size: eval.val_size,
            train_size: None,
            generated_size: None,
            offline: true,
        };
        let ds = if eval.split == "val" {
            let record = ck.meta.split_record().expect("a shipped checkpoint records its split");
            assert_eq!(record.val_size, eval.val_size, "{name}: its evaluation scored its own held-out split");
            args.held_out(dataset, &record)
        } else {
            args.test_split(dataset)
        };
        let ds = match ds {
            Ok(ds) => ds,
            Err(e) if dataset == DatasetName::FashionMnist => {
                eprintln!("skipped {name}: {e} (apt-get install dataset-fashion-mnist)");
                continue;
            }
            Err(e) => panic!("{name}: {e}"),
        };
        assert_eq!(ds.len(), eval.images, "{name}: the split changed size");
        let report = kindling::evaluate::score(&ck, &ds, &candle_core::Device::Cpu, eval.tta).unwrap();
        let got = 100.0 * report.confusion.accuracy();
        let stated = figures[&name].0;
        eprintln!("{name}: {got:.2}% (README {stated}%, test-time augmentation {})", eval.tta.as_str());
        assert!(
            got >= stated - TOLERANCE,
            "{name}: {got:.2}% is more than {TOLERANCE} points below the README's {stated}%"
        );
    }
}

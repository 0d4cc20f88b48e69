//! The shipped checkpoints in `weights/`: each one self-describing, listed in the README's
//! results table with the accuracy recorded in it, and (when `KINDLING_DATA` is set) still that
//! accurate, within 0.3 points, when evaluated again on its split. An evaluation that would classify more
//! than [`VIEW_BUDGET`] image views (the six-view test-time augmentation of the 94% recipe) is re-run on the
//! first images of its split only, with the tolerance widened by that sample's standard error, to keep CI fast.

use kindling::checkpoint::{self, CheckpointMeta};
use kindling::app::cli::DataArgs;
use kindling::data::DatasetName;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// How far below the README's figure a re-evaluation may fall, in percentage points.
const TOLERANCE: f64 = 0.3;
/// The most image views (images × test-time views) one re-evaluation classifies in full.
const VIEW_BUDGET: usize = 20_000;

/// The data set to score an evaluation on (all of `ds`, or its first images when that is over
/// [`VIEW_BUDGET`]), and the tolerance for it: [`TOLERANCE`], plus three standard errors of the
/// accuracy of a sample of that size drawn from `ds` (finite-population corrected) at the stated figure.
fn within_budget(ds: kindling::data::Dataset, views: usize, stated: f64) -> (kindling::data::Dataset, f64) {
    let all = ds.len();
    let n = (VIEW_BUDGET / views).min(all);
    if n == all {
        return (ds, TOLERANCE);
    }
    let p = stated / 100.0;
    let se = (p * (1.0 - p) / n as f64 * (all - n) as f64 / (all - 1) as f64).sqrt();
    (ds.take(n), TOLERANCE + 300.0 * se)
}

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

/// One row of the README's weights table.
struct Row {
    /// The main figure (percent): the first cell that reads as a percentage.
    figure: f64,
    /// The "official test" column's percentage, where the row gives one.
    test: Option<f64>,
    /// The row itself.
    line: String,
}

/// A table cell's percentage, `**` and all.
fn percent(cell: &str) -> Option<f64> {
    cell.trim().trim_matches('*').strip_suffix('%').and_then(|n| n.parse::<f64>().ok())
}

/// The README's row for each `weights/NAME.safetensors` it lists in its weights table.
fn readme_figures() -> BTreeMap<String, Row> {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let mut figures = BTreeMap::new();
    // The rows of the weights table only: it follows its marker comment (other tables may name a
    // shipped file in a command).
    let mut table = readme.lines().skip_while(|l| !l.starts_with("<!-- weights table")).skip(1);
    let header: Vec<&str> = table.next().expect("the weights table has a header").split('|').map(str::trim).collect();
    let test_column = header.iter().position(|c| *c == "official test").expect("an \"official test\" column");
    for line in table.take_while(|l| l.starts_with('|')) {
        let Some(at) = line.find("weights/") else { continue };
        let rest = &line[at + "weights/".len()..];
        let Some(end) = rest.find(".safetensors") else { continue };
        let name = format!("{}.safetensors", &rest[..end]);
        let cells: Vec<&str> = line.split('|').collect();
        let figure = cells
            .iter()
            .find_map(|c| percent(c))
            .unwrap_or_else(|| panic!("README row for {name} states no accuracy: {line}"));
        let test = cells.get(test_column).and_then(|c| percent(c));
        let row = Row { figure, test, line: line.to_string() };
        assert!(figures.insert(name.clone(), row).is_none(), "README lists {name} twice");
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
        let Row { figure: stated, test, line: row } =
            figures.get(name).unwrap_or_else(|| panic!("weights/{name} is not in the README's table"));
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
        // The official-test column: every CIFAR-10 file has its test score, recorded in the file
        // (as its main figure or as an extra one, `evaluate --record-extra`).
        let on_test = std::iter::once(eval).chain(&meta.extra_evaluations).find(|e| e.split == "test");
        match (test, on_test) {
            (Some(t), Some(e)) => assert!(
                (t - 100.0 * e.accuracy).abs() < 0.006,
                "{name}: README's official test column says {t}%, its metadata {:.2}%",
                100.0 * e.accuracy
            ),
            (Some(t), None) => {
                panic!("{name}: README's official test column says {t}%, its metadata has no test score")
            }
            (None, _) => assert!(meta.dataset != "cifar10", "{name}: no official test figure in its README row"),
        }
        for extra in &meta.extra_evaluations {
            assert!(
                extra.split != eval.split || extra.val_size != eval.val_size,
                "{name}: extra score on its main split"
            );
        }
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
        let main = ck.meta.evaluation.clone().unwrap();
        let row = &figures[&name];
        // The main figure, and the official test score beside it where the row states one.
        let mut checks = vec![(main, row.figure)];
        if let (Some(test), Some(extra)) = (row.test, ck.meta.extra_evaluations.iter().find(|e| e.split == "test")) {
            checks.push((extra.clone(), test));
        }
        for (eval, stated) in checks {
            let dataset: DatasetName = serde_json::from_value(serde_json::Value::String(eval.dataset.clone())).unwrap();
            let args = DataArgs {
                dataset: Some(dataset),
                exclude_last: eval.exclude_last,
                val_size: eval.val_size.into(),
                offline: true,
                ..Default::default()
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
            let (ds, tolerance) = within_budget(ds, eval.tta.views(), stated);
            let start = std::time::Instant::now();
            let report = kindling::app::report::score(&ck, &ds, &candle_core::Device::Cpu, eval.tta).unwrap();
            let got = 100.0 * report.confusion.accuracy();
            let split = match ds.len() == eval.images {
                true => eval.split.clone(),
                false => format!("the first {} of {} images of {}", ds.len(), eval.images, eval.split),
            };
            eprintln!(
                "{name}: {got:.2}% on {split} (README {stated}%, test-time augmentation {}; {:.1} s)",
                eval.tta.as_str(),
                start.elapsed().as_secs_f64()
            );
            assert!(
                got >= stated - tolerance,
                "{name}: {got:.2}% on {split} is more than {tolerance:.2} points below the README's {stated}%"
            );
        }
    }
}

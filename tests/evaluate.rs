//! `evaluate` scores the images it says it scores: a checkpoint's own held-out split by default,
//! never images the model trained on without saying so, and only data of the model's classes.

mod common;
use common::{example, run, tmpdir, train_quick, weights_dir};

#[test]
fn the_held_out_split_is_the_recorded_one_and_training_images_are_refused() {
    let dir = tmpdir("eval-split");
    let save = dir.join("m.safetensors");
    train_quick(&save, 500, 100);
    let meta = kindling::checkpoint::read_meta(&save).unwrap();
    let split = meta.data_split.expect("the split is recorded as numbers");
    assert_eq!((split.total, split.train, split.val_size), (500, 400, 100));

    let evaluate = |extra: &[&str]| {
        run(example("evaluate")
            .arg("--weights")
            .arg(&save)
            .args(["--split", "val", "--json", "--no-plots", "--device", "cpu"])
            .args(extra))
    };
    // `--split val` alone: the recorded held-out images, found by the generated set's recorded size.
    let own = evaluate(&[]);
    assert_eq!(own.code, Some(0), "{}", own.stderr);
    let json: serde_json::Value = serde_json::from_str(&own.stdout).unwrap();
    assert_eq!(json["n"], 100);
    assert_eq!(json["classes"].as_array().unwrap().len(), 10, "the JSON names the classes");

    // A wider split would score 100 training images: refused, naming them.
    let wider = evaluate(&["--val-size", "200"]);
    assert_ne!(wider.code, Some(0));
    assert!(wider.stderr.contains("100 of them are its own training images"), "{}", wider.stderr);
    assert!(!wider.stderr.contains("panicked"));
    // ... unless asked for, and then the report says so.
    let forced = run(example("evaluate").arg("--weights").arg(&save).args([
        "--split",
        "val",
        "--val-size",
        "200",
        "--allow-train-overlap",
        "--no-plots",
        "--device",
        "cpu",
    ]));
    assert_eq!(forced.code, Some(0), "{}", forced.stderr);
    assert!(forced.stdout.contains("INCLUDING 100 IMAGES THE MODEL TRAINED ON"), "{}", forced.stdout);
    // A split disjoint from the training images is fine.
    let disjoint = evaluate(&["--val-size", "50"]);
    assert_eq!(disjoint.code, Some(0), "{}", disjoint.stderr);
}

#[test]
fn a_model_trained_on_everything_has_no_held_out_split() {
    let mnist = weights_dir().join("mnist-linear.safetensors");
    let out = run(example("evaluate").arg("--weights").arg(&mnist).args(["--split", "val", "--no-plots", "--offline"]));
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("held none out") && out.stderr.contains("--split test"), "{}", out.stderr);
    // With --val-size the split is carved from the data: without MNIST the message is about the
    // data ...
    let val_5000 = ["--split", "val", "--val-size", "5000", "--no-plots", "--offline"];
    let empty = tmpdir("eval-no-mnist");
    let out = run(example("evaluate")
        .env_remove("KINDLING_DATA")
        .arg("--weights")
        .arg(&mnist)
        .args(val_5000)
        .arg("--data-dir")
        .arg(&empty));
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("not found") && out.stderr.contains("--data-dir"), "{}", out.stderr);
    // ... with it, about the overlap: all 5,000 images are among the 60,000 it trained on.
    let Some(_) = common::require_data("mnist") else { return };
    let out = run(example("evaluate").arg("--weights").arg(&mnist).args(val_5000));
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("5000 of them are its own training images"), "{}", out.stderr);
}

#[test]
fn data_of_other_classes_is_refused() {
    let Some(_) = common::require_fashion_mnist() else { return };
    let out = run(example("evaluate").arg("--weights").arg(weights_dir().join("mnist-linear.safetensors")).args([
        "--dataset",
        "fashion-mnist",
        "--no-plots",
        "--offline",
    ]));
    assert_ne!(out.code, Some(0), "{}", out.stdout);
    assert!(out.stderr.contains("T-shirt/top") && out.stderr.contains("mnist"), "{}", out.stderr);
}

#[test]
fn manual_backprop_stops_when_it_diverges() {
    let out = run(example("manual_backprop").args(["--lr", "0.01", "--steps", "50"]));
    assert_ne!(out.code, Some(0), "{}", out.stdout);
    assert!(out.stderr.contains("diverged"), "{}", out.stderr);
    // It stops before printing a runaway loss (it used to print a 150-digit one beside an error of 0).
    let losses: Vec<f64> =
        out.stdout.lines().filter_map(|l| l.split_whitespace().nth(3).and_then(|v| v.parse().ok())).collect();
    assert!(!losses.is_empty(), "{}", out.stdout);
    assert!(losses.iter().all(|&l| l.is_finite() && l <= 1e6 * losses[0]), "{}", out.stdout);
    let ok = run(example("manual_backprop").args(["--steps", "20", "--log-every", "5"]));
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
}

/// `evaluate --record-extra` adds a score on another split to a shipped file, beside its main
/// figure, without touching the weights; the main split and unshipped files are refused.
#[test]
fn an_extra_split_is_recorded_beside_the_main_figure() {
    let dir = tmpdir("eval-extra");
    let save = dir.join("m.safetensors");
    let shipped = dir.join("shipped.safetensors");
    train_quick(&save, 300, 100);
    let evaluate = |weights: &std::path::Path, extra: &[&str]| {
        run(example("evaluate").arg("--weights").arg(weights).args(["--no-plots", "--device", "cpu"]).args(extra))
    };
    // Not shipped yet: nothing to add to.
    let early = evaluate(&save, &["--split", "test", "--test-size", "50", "--record-extra"]);
    assert_ne!(early.code, Some(0));
    assert!(early.stderr.contains("evaluate --record"), "{}", early.stderr);

    let ship = run(example("evaluate")
        .arg("--weights")
        .arg(&save)
        .args(["--split", "val", "--no-plots"])
        .arg("--record")
        .arg(&shipped));
    assert_eq!(ship.code, Some(0), "{}", ship.stderr);
    let before = kindling::checkpoint::read_meta(&shipped).unwrap();
    let tensors = || -> Vec<(String, Vec<f32>)> {
        let mut all: Vec<_> = candle_core::safetensors::load(&shipped, &candle_core::Device::Cpu)
            .unwrap()
            .into_iter()
            .map(|(n, t)| (n, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    };
    let weights = tensors();

    let extra = evaluate(&shipped, &["--split", "test", "--test-size", "50", "--record-extra"]);
    assert_eq!(extra.code, Some(0), "{}", extra.stderr);
    let after = kindling::checkpoint::read_meta(&shipped).unwrap();
    assert_eq!(after.evaluation, before.evaluation, "the main figure is untouched");
    assert_eq!(after.extra_evaluations.len(), 1);
    let e = &after.extra_evaluations[0];
    assert_eq!((e.split.as_str(), e.images), ("test", 50));
    assert!(e.command.contains("--record-extra"));
    assert!(tensors() == weights, "the weights are rewritten as they were");

    // Again on the same split: replaced, not added.
    let again = evaluate(&shipped, &["--split", "test", "--test-size", "60", "--record-extra"]);
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    let meta = kindling::checkpoint::read_meta(&shipped).unwrap();
    assert_eq!(meta.extra_evaluations.len(), 1);
    assert_eq!(meta.extra_evaluations[0].images, 60);

    // The main split is the main figure's, not an extra one.
    let main = evaluate(&shipped, &["--split", "val", "--record-extra"]);
    assert_ne!(main.code, Some(0));
    assert!(main.stderr.contains("main figure"), "{}", main.stderr);
}

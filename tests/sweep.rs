//! `sweep`: a tiny search on `shapes` runs in seconds, scores trials on the validation split,
//! halves them, resumes from its results file without training finished trials again, and
//! --plan / --collect spread the same search over separate `train` runs.

mod common;
use common::{example, run, tmpdir};

const SEARCH: [&str; 14] = [
    "--model",
    "linear",
    "--lr",
    "1e-3..1e-1:log",
    "--reg",
    "1e-5..1e-2:log",
    "--trials",
    "6",
    "--epochs",
    "4",
    "--generated-size",
    "400",
    "--val-size",
    "100",
];

#[test]
fn a_tiny_search_halves_resumes_and_saves_its_best() {
    let dir = tmpdir("sweep");
    let results = dir.join("r.json");
    let best = dir.join("best.safetensors");
    let out = run(example("sweep")
        .args(SEARCH)
        .args(["--halving", "2", "--device", "cpu", "--results"])
        .arg(&results)
        .arg("--save-best")
        .arg(&best));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let r: kindling::app::sweep::Results = serde_json::from_str(&std::fs::read_to_string(&results).unwrap()).unwrap();
    assert_eq!(r.results.len(), 6);
    assert_eq!(r.rungs, vec![2, 4]);
    // Successive halving: 3 trials go on to epoch 4, the other 3 stop at epoch 2.
    let full = r.results.iter().filter(|t| t.epochs == 4).count();
    assert_eq!(full, 3, "{}", out.stdout);
    // The best trial is one that went on to the whole budget; the table ranks every trial.
    let best_trial = r.best().expect("a trial finished");
    assert_eq!(best_trial.epochs, 4);
    // Every trial records which validation images it got right: its accuracy, image by image.
    for t in &r.results {
        let c = t.val_correct.as_ref().expect("answers recorded");
        assert_eq!(c.len(), 100);
        assert!(
            (c.accuracy() - t.val_acc.unwrap()).abs() < 1e-9,
            "trial {}: {:?} vs {}",
            t.id,
            t.val_acc,
            c.accuracy()
        );
    }
    // The table compares each finished trial with the best on those images.
    let against = r.against_best();
    assert_eq!(against.iter().filter(|(_, p)| p.is_some()).count(), 3, "the three finished trials");
    for (id, p) in &against {
        if let Some(p) = p {
            let t = r.results.iter().find(|t| t.id == *id).unwrap();
            assert!((p.diff - (t.val_acc.unwrap() - best_trial.val_acc.unwrap())).abs() < 1e-9);
        }
    }
    assert!(
        out.stdout.contains("vs best") && out.stdout.contains("100 validation images do not tell"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.lines().skip(1).any(|l| l.trim_start().starts_with(&format!("{} ", best_trial.id))));
    // The best trial's model, with the search in its metadata.
    let meta = kindling::checkpoint::read_meta(&best).unwrap();
    let search = meta.search.expect("the search is recorded");
    assert_eq!(search["results"].as_array().unwrap().len(), 6);
    let lr = best_trial.values["lr"];
    assert!((meta.train.unwrap().optimizer.lr - lr).abs() < 1e-12, "the saved model is the best trial's");

    // Run again: every trial is known, nothing is trained.
    let again =
        run(example("sweep").args(SEARCH).args(["--halving", "2", "--device", "cpu", "--results"]).arg(&results));
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert!(again.stderr.contains("resuming: 6 trial results"), "{}", again.stderr);
    assert!(!again.stderr.contains("trial   0 ("), "a finished trial was trained again: {}", again.stderr);

    // A killed search: drop the last two results and run again: only those two train.
    let mut cut = r.clone();
    cut.results.retain(|t| t.id < 4);
    std::fs::write(&results, serde_json::to_string(&cut).unwrap()).unwrap();
    let resumed =
        run(example("sweep").args(SEARCH).args(["--device", "cpu", "--halving", "2", "--results"]).arg(&results));
    assert_eq!(resumed.code, Some(0), "{}", resumed.stderr);
    let trained: Vec<&str> = resumed.stderr.lines().filter(|l| l.starts_with("trial")).collect();
    assert!(trained.iter().any(|l| l.starts_with("trial   4")) && trained.iter().any(|l| l.starts_with("trial   5")));
    assert!(!trained.iter().any(|l| l.starts_with("trial   0") || l.starts_with("trial   1")), "{trained:?}");

    // Another search against the same file is refused rather than mixed in.
    let other = run(example("sweep")
        .args(["--model", "linear", "--lr", "1e-2..1:log", "--trials", "2", "--epochs", "1", "--val-size", "50"])
        .args(["--generated-size", "200", "--results"])
        .arg(&results));
    assert_ne!(other.code, Some(0));
    assert!(other.stderr.contains("another search"), "{}", other.stderr);
}

#[test]
fn a_diverging_trial_is_recorded_and_the_search_goes_on() {
    let dir = tmpdir("sweep-nan");
    let results = dir.join("r.json");
    let out = run(example("sweep")
        .args(["--model", "linear", "--optimizer", "sgd", "--lr", "1e-2,1e30"])
        .args(["--epochs", "1", "--generated-size", "200", "--val-size", "50", "--device", "cpu", "--json"])
        .arg("--results")
        .arg(&results));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let r: kindling::app::sweep::Results = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(r.results.len(), 2, "a grid of two");
    let diverged: Vec<_> = r.results.iter().filter(|t| t.val_acc.is_none()).collect();
    assert_eq!(diverged.len(), 1, "{}", out.stdout);
    assert_eq!(diverged[0].values["lr"], 1e30);
}

#[test]
fn plan_and_collect_spread_a_search_over_train_runs() {
    let dir = tmpdir("sweep-plan");
    let trials = dir.join("trials");
    let plan = run(example("sweep")
        .args(["--model", "linear", "--lr", "1e-3..1e-1:log", "--trials", "3", "--epochs", "1"])
        .args(["--generated-size", "200", "--val-size", "50", "--device", "cpu", "--plan"])
        .arg(&trials));
    assert_eq!(plan.code, Some(0), "{}", plan.stderr);
    let commands: Vec<&str> = plan.stdout.lines().collect();
    assert_eq!(commands.len(), 3);
    for c in &commands {
        assert!(c.starts_with("cargo run --release --example train --") && c.contains("--lr "), "{c}");
        assert!(!c.contains("--trials") && !c.contains("--plan"), "sweep's own flags stay out: {c}");
        // Run it as a scheduler would, with the built binary.
        let args: Vec<&str> = c.split_whitespace().skip(6).collect();
        let out = run(example("train").args(&args));
        assert_eq!(out.code, Some(0), "{c}: {}", out.stderr);
    }
    let collected = run(example("sweep")
        .args(["--model", "linear", "--lr", "1e-3..1e-1:log", "--trials", "3", "--json", "--collect"])
        .arg(&trials)
        .arg("--plot")
        .arg(dir.join("collected.png")));
    assert_eq!(collected.code, Some(0), "{}", collected.stderr);
    let r: kindling::app::sweep::Results = serde_json::from_str(&collected.stdout).unwrap();
    assert_eq!(r.results.len(), 3);
    // The values read back are the planned ones.
    let space = kindling::app::sweep::space::Space { axes: r.space.axes.clone() };
    for (t, planned) in r.results.iter().zip(space.trials(3, 0)) {
        assert!((t.values["lr"] - planned["lr"]).abs() < 1e-12 * planned["lr"].max(1.0));
        assert!(t.val_acc.is_some());
    }
}

#[test]
fn cross_validation_scores_each_trial_on_every_fold() {
    let dir = tmpdir("sweep-folds");
    let results = dir.join("r.json");
    let best = dir.join("best.safetensors");
    let search = ["--model", "linear", "--lr", "1e-3..1e-1:log", "--trials", "3", "--epochs", "2"];
    let data = ["--generated-size", "400", "--val-size", "100", "--device", "cpu"];
    let out = run(example("sweep")
        .args(search)
        .args(data)
        .args(["--folds", "2", "--results"])
        .arg(&results)
        .arg("--save-best")
        .arg(&best));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains("2 folds: each trial trains 2 times on 300 images and is scored on 200"),
        "{}",
        out.stderr
    );
    let r: kindling::app::sweep::Results = serde_json::from_str(&std::fs::read_to_string(&results).unwrap()).unwrap();
    assert_eq!((r.folds, r.results.len()), (2, 3));
    for t in &r.results {
        let c = t.val_correct.as_ref().expect("answers recorded");
        assert_eq!(c.len(), 200, "both folds' validation images");
        assert_eq!(t.val_acc, Some(c.accuracy()));
    }
    // The saved model is the best trial's, from the fold that validates on the validation split.
    let meta = kindling::checkpoint::read_meta(&best).unwrap();
    assert!((meta.train.unwrap().optimizer.lr - r.best().unwrap().values["lr"]).abs() < 1e-12);

    // The same search with another number of folds is another search.
    let other = run(example("sweep").args(search).args(data).args(["--folds", "3", "--results"]).arg(&results));
    assert_ne!(other.code, Some(0));
    assert!(other.stderr.contains("another search"), "{}", other.stderr);
    // Folds that do not fit are refused with the numbers.
    let too_many =
        run(example("sweep").args(search).args(data).args(["--folds", "5", "--fresh", "--results"]).arg(&results));
    assert_ne!(too_many.code, Some(0));
    assert!(
        too_many.stderr.contains("5 folds of the validation split's 100 images need 500 images"),
        "{}",
        too_many.stderr
    );
}

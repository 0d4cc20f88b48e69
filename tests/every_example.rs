//! Every example binary on every kind of checkpoint and every data set: each case states its
//! outcome, success or a refusal and the words its message must hold (a model on its own data set
//! scores; a model of other classes, or of 2-D points, or a picture its model has no weights for,
//! is refused, saying why), and none panics.
//!
//! Checkpoints: the shipped ones of `weights/` (linear, MLP, features MLP and CNN on CIFAR-10,
//! MNIST and Fashion-MNIST) and small ones trained here on `shapes` (linear, MLP, features MLP,
//! CNN, the airbench94 recipe), `spiral` (linear, MLP) and a folder of images (linear, CNN: the
//! shapes written as `train/` and `test/` class folders by `export`). Data sets: shapes, spiral,
//! that folder, and cifar10, mnist and fashion-mnist where their files are (skipped visibly
//! otherwise, fatal under `KINDLING_REQUIRE_ALL=1`).

mod common;
use common::{example, run, tmpdir, weights_dir, Outcome};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

struct Ck {
    name: String,
    dataset: String,
    path: PathBuf,
    /// `.last.safetensors` of the ones trained here.
    last: Option<PathBuf>,
    /// The model: `linear`, `mlp` or `cnn`.
    model: String,
    /// Whether it reads hand-made features rather than pixels.
    features: bool,
    /// Whether its training held images out (a `--split val` to score).
    held_out: bool,
}

impl Ck {
    /// The checkpoint at `path`, described by its metadata.
    fn read(name: String, path: PathBuf, last: Option<PathBuf>) -> Ck {
        let meta = kindling::checkpoint::read_meta(&path).unwrap();
        let held_out = meta.split_record().is_some_and(|r| r.val_size > 0);
        let model = meta.model.kind().as_str().to_string();
        Ck { name, dataset: meta.dataset, path, last, model, features: meta.features.is_some(), held_out }
    }

    /// Whether the model reads 2-D points (the toy sets), not images.
    fn toy(&self) -> bool {
        self.dataset == "spiral"
    }

    /// `visualize --what what`'s refusal for this checkpoint (`None`: it draws), as the words its
    /// message holds.
    fn visualize_refusal(&self, what: Option<&str>) -> Option<String> {
        if self.toy() {
            return Some("reads 2-D points".into());
        }
        let what = what.unwrap_or(match self.model.as_str() {
            "linear" => "templates",
            "cnn" => "filters",
            _ => "weights",
        });
        let applies = matches!(
            (what, self.model.as_str()),
            ("templates", "linear") | ("weights", "linear" | "mlp") | ("filters" | "weights", "cnn")
        );
        if !applies {
            return Some(format!("{what} does not apply to a {} model", self.model));
        }
        self.features.then(|| "reads hand-made features, not pixels".into())
    }
}

/// The generated sets, and each real one whose files are there (the others' cases skip visibly,
/// and fail under `KINDLING_REQUIRE_ALL=1`).
fn available_datasets() -> Vec<&'static str> {
    let mut ds = vec!["shapes", "spiral", "folder"];
    ds.extend(["cifar10", "mnist", "fashion-mnist"].into_iter().filter(|name| common::require_data(name).is_some()));
    ds
}

/// The folder data set of the table: the generated shapes written as `train/` (150 images) and
/// `test/` (60) class folders by the `export` example.
fn image_folder(dir: &Path) -> PathBuf {
    let root = dir.join("shapes-folder");
    for (split, n) in [("train", "150"), ("test", "60")] {
        let out = run(example("export")
            .args(["--dataset", "shapes", "--generated-size", n, "--split", split, "--out"])
            .arg(root.join(split)));
        assert_eq!(out.code, Some(0), "export: {}", out.stderr);
    }
    root
}

/// `--dataset DS`, and the folder for the folder data set.
fn data_flags(ds: &str, folder: &Path) -> Vec<String> {
    let mut v = vec!["--dataset".to_string(), ds.to_string()];
    if ds == "folder" {
        v.extend(["--data-dir".to_string(), folder.display().to_string()]);
    }
    v
}

fn train_here(dir: &Path, dataset: &str, kind: &str, args: &[&str]) -> Ck {
    let name = format!("{dataset}-{kind}");
    let path = dir.join(format!("{name}.safetensors"));
    let size = if dataset == "shapes" { "300" } else { "150" };
    let out = run(example("train")
        .args(data_flags(dataset, &dir.join("shapes-folder")))
        .args(generated(dataset, size))
        .args(["--val-size", "60", "--epochs", "1"])
        .args(["--quiet", "--no-plots", "--device", "cpu", "--save"])
        .arg(&path)
        .args(args));
    assert_eq!(out.code, Some(0), "training {name}: {}", out.stderr);
    let last = kindling::checkpoint::sibling(&path, "last.safetensors");
    Ck::read(name, path, Some(last))
}

fn checkpoints(dir: &Path) -> Vec<Ck> {
    let mut cks = vec![
        train_here(dir, "shapes", "linear", &["--model", "linear"]),
        train_here(dir, "shapes", "mlp", &["--model", "mlp", "--hidden", "16"]),
        train_here(dir, "shapes", "features-mlp", &["--model", "mlp", "--hidden", "16", "--features", "hog"]),
        train_here(dir, "shapes", "cnn", &["--model", "cnn", "--channels", "4,8", "--depth", "1", "--fc", "0"]),
        train_here(dir, "shapes", "recipe", &["--recipe", "airbench94", "--batch-size", "60"]),
        train_here(dir, "spiral", "linear", &["--model", "linear"]),
        train_here(dir, "spiral", "mlp", &["--model", "mlp", "--hidden", "16"]),
        train_here(dir, "folder", "linear", &["--model", "linear"]),
        train_here(dir, "folder", "cnn", &["--model", "cnn", "--channels", "4,8", "--depth", "1", "--fc", "0"]),
    ];
    for entry in std::fs::read_dir(weights_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "safetensors") {
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            cks.push(Ck::read(name, path, None));
        }
    }
    cks
}

/// `--generated-size N` for a generated data set; nothing for one read from files (which refuses
/// the flag).
fn generated(dataset: &str, n: &'static str) -> Vec<&'static str> {
    if matches!(dataset, "shapes" | "spiral") {
        vec!["--generated-size", n]
    } else {
        vec![]
    }
}

/// One invocation and its right answer.
struct Case {
    label: String,
    cmd: Command,
    /// `None`: it must succeed; `Some(words)`: it must fail with an error message holding `words`.
    refusal: Option<String>,
}

/// A case that must succeed.
fn success(label: String, cmd: Command) -> Case {
    Case { label, cmd, refusal: None }
}

/// A case that must fail with a message holding `words`.
fn refused(label: String, cmd: Command, words: impl Into<String>) -> Case {
    Case { label, cmd, refusal: Some(words.into()) }
}

fn check(c: &Case, o: &Outcome) -> Result<(), String> {
    let said = format!("{}\nstdout: {}\nstderr: {}", c.label, o.stdout, o.stderr);
    if o.stderr.contains("panicked") || o.code == Some(101) || o.code.is_none() {
        return Err(format!("PANIC or crash ({:?}): {said}", o.code));
    }
    match (&c.refusal, o.code == Some(0)) {
        (None, true) => Ok(()),
        (None, false) => Err(format!("should succeed: {said}")),
        (Some(_), true) => Err(format!("should fail: {said}")),
        (Some(words), false) if !o.stderr.contains("Error: ") => {
            Err(format!("failed without an error message (it should say '{words}'): {said}"))
        }
        (Some(words), false) if !o.stderr.contains(words.as_str()) => {
            Err(format!("the message lacks '{words}': {said}"))
        }
        (Some(_), false) => Ok(()),
    }
}

fn png(path: &Path, w: u32, h: u32, gray: bool) {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 7) as u8, (y * 5) as u8, ((x + y) * 3) as u8]));
    if gray {
        image::DynamicImage::ImageRgb8(img).to_luma8().save(path).unwrap();
    } else {
        img.save(path).unwrap();
    }
}

#[test]
fn every_example_on_every_checkpoint_and_data_set_never_panics() {
    let dir = tmpdir("every-example");
    let folder = image_folder(&dir);
    let datasets = available_datasets();
    let cks = checkpoints(&dir);
    let images = [("rgb32", 32, 32, false), ("gray28", 28, 28, true), ("wide", 90, 40, false)].map(|(n, w, h, g)| {
        let p = dir.join(format!("{n}.png"));
        png(&p, w, h, g);
        p
    });
    let mut cases = vec![];
    for ck in &cks {
        for &ds in &datasets {
            // Same classes and shape: only a model on its own data set (the generated and toy sets
            // have classes of their own, and CIFAR-10's are not shapes'). A folder of images is
            // scored as a test set by a model whose classes its class folders name (the shapes
            // model reads the exported shapes).
            let own = ds == ck.dataset;
            for split in ["test", "val"] {
                let mut cmd = example("evaluate");
                cmd.arg("--weights").arg(&ck.path).args(data_flags(ds, &folder));
                cmd.args(["--split", split, "--test-size", "40", "--no-plots", "--offline", "--device", "cpu"]);
                let label = format!("evaluate {} --dataset {ds} --split {split}", ck.name);
                cases.push(match (own, split) {
                    (true, "test") => success(label, cmd),
                    // Trained here with --val-size 60, or a shipped tuning model (batch 5 held out).
                    (true, _) if ck.held_out => success(label, cmd),
                    (true, _) => refused(label, cmd, "held none out: score it with --split test"),
                    (false, "test") if ds == "folder" && ck.dataset == "shapes" => success(label, cmd),
                    (false, "test") if ds == "folder" && ck.toy() => refused(label, cmd, "reads 2-D points"),
                    (false, "test") if ds == "folder" => refused(label, cmd, "none of the classes"),
                    (false, "test") => refused(label, cmd, format!("{ds}'s classes (")),
                    (false, _) => refused(label, cmd, format!("records no held-out split of {ds}")),
                });
            }
            if let Some(last) = &ck.last {
                let mut cmd = example("train");
                cmd.arg("--resume").arg(last).args(data_flags(ds, &folder));
                cmd.args(["--epochs", "2", "--quiet", "--no-plots"]);
                cmd.args(["--offline", "--device", "cpu", "--save"])
                    .arg(dir.join(format!("resumed-{}.safetensors", ck.name)));
                let label = format!("train --resume {} --dataset {ds}", ck.name);
                cases.push(match own {
                    true => success(label, cmd),
                    false => refused(label, cmd, format!("trained on {}, not {ds}", ck.dataset)),
                });
            }
        }
        for img in &images {
            let mut cmd = example("predict");
            cmd.arg("--weights").arg(&ck.path).arg(img).args(["--device", "cpu"]);
            let label = format!("predict {} {}", ck.name, img.display());
            cases.push(match ck.toy() {
                false => success(label, cmd),
                true => refused(label, cmd, "reads 2-D points"),
            });
        }
        for what in [None, Some("templates"), Some("filters"), Some("weights")] {
            let mut cmd = example("visualize");
            cmd.arg("--weights").arg(&ck.path).arg("--out").arg(dir.join(format!("{}-{what:?}.png", ck.name)));
            if let Some(w) = what {
                cmd.args(["--what", w]);
            }
            let label = format!("visualize {} --what {what:?}", ck.name);
            cases.push(match ck.visualize_refusal(what) {
                None => success(label, cmd),
                Some(words) => refused(label, cmd, words),
            });
        }
    }
    for &ds in &datasets {
        let toy = ds == "spiral";
        for (kind, args) in [
            ("linear", vec!["--model", "linear"]),
            ("mlp", vec!["--model", "mlp", "--hidden", "8"]),
            ("features-mlp", vec!["--model", "mlp", "--hidden", "8", "--features", "hog"]),
            ("cnn", vec!["--model", "cnn", "--channels", "4", "--depth", "1", "--fc", "0"]),
            ("features-cnn", vec!["--model", "cnn", "--features", "hog"]),
            // A held-out split makes it a tuning run: no six-view scoring of the whole test set.
            ("recipe", vec!["--recipe", "airbench94", "--batch-size", "50", "--val-size", "20"]),
        ] {
            let mut cmd = example("train");
            cmd.args(data_flags(ds, &folder)).args(["--train-size", "100", "--epochs", "1"]).args(generated(ds, "150"));
            cmd.args(["--quiet", "--no-plots", "--offline", "--device", "cpu", "--save"]);
            cmd.arg(dir.join(format!("new-{ds}-{kind}.safetensors"))).args(&args);
            let label = format!("train --dataset {ds} {kind}");
            cases.push(match (kind, toy) {
                ("features-cnn", _) => refused(label, cmd, "a CNN reads images, and hand-made features are a vector"),
                ("cnn", true) => refused(label, cmd, "spiral is a set of 2-D points, not images"),
                ("recipe", true) => refused(label, cmd, "airbench94 trains a CNN on images; spiral is 2-D points"),
                ("features-mlp", true) => {
                    refused(label, cmd, "HOG needs grayscale (1-channel) or RGB (3-channel) images")
                }
                _ => success(label, cmd),
            });
        }
        let mut cmd = example("knn");
        cmd.args(data_flags(ds, &folder)).args(["--train-size", "100", "--test-size", "20"]).args(generated(ds, "150"));
        cmd.args(["--k", "1,3", "--folds", "2", "--no-plots", "--offline", "--device", "cpu"]);
        cases.push(success(format!("knn --dataset {ds}"), cmd));
        let mut cmd = example("optimizers");
        cmd.args(data_flags(ds, &folder)).args(["--train-size", "64", "--epochs", "1", "--offline"]);
        cmd.args(generated(ds, "100"));
        cmd.args(["--device", "cpu", "--out"]).arg(dir.join(format!("optimizers-{ds}.png")));
        cases.push(success(format!("optimizers --dataset {ds}"), cmd));
    }

    eprintln!("{} cases on {} checkpoints x {} data sets", cases.len(), cks.len(), datasets.len());
    let queue = Mutex::new(cases);
    let failures = Mutex::new(vec![]);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let Some(mut c) = queue.lock().unwrap().pop() else { break };
                let o = run(&mut c.cmd);
                if let Err(e) = check(&c, &o) {
                    failures.lock().unwrap().push(e);
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{} of the cases went wrong:\n\n{}", failures.len(), failures.join("\n\n"));
    // Some 200 MB of checkpoints and pictures: kept only when a case went wrong.
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn toy2d_refuses_a_bad_grid_before_anything_trains() {
    for (flags, says) in [
        (["--hidden", "3,0"], "invalid --hidden: [3, 0]: every width must be at least 1"),
        (["--reg", "0.1,-1"], "invalid --reg: -1: must be 0 or positive"),
    ] {
        let out = run(example("toy2d").args(flags).args(["--no-plots", "--device", "cpu"]));
        assert_ne!(out.code, Some(0), "{flags:?}");
        assert!(out.stderr.contains(says), "{flags:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{flags:?}: something trained first: {}", out.stdout);
    }
}

/// `evaluate` draws pictures only where `--plots DIR` says (never into the working folder's
/// `runs/` unasked); `visualize --image X` draws the saliency map without `--what`, writes a JPEG
/// for `--out f.jpg` and refuses an extension it cannot write before any work.
#[test]
fn evaluate_and_visualize_write_what_they_are_told_where_they_are_told() {
    let dir = tmpdir("told");
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let ck = dir.join("m.safetensors");
    common::train_quick(&ck, 200, 40);

    let evaluate = |args: &[&str]| {
        run(example("evaluate").current_dir(&work).arg("--weights").arg(&ck).args(["--device", "cpu"]).args(args))
    };
    let out = evaluate(&[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(std::fs::read_dir(&work).unwrap().next().is_none(), "evaluate wrote into its working folder unasked");
    let plots = dir.join("plots");
    let out = evaluate(&["--plots", plots.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let drawn: Vec<_> = std::fs::read_dir(&plots).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(!drawn.is_empty() && drawn.iter().all(|p| p.extension().is_some_and(|e| e == "png")), "{drawn:?}");
    let out = evaluate(&["--plots", plots.to_str().unwrap(), "--no-plots"]);
    assert_ne!(out.code, Some(0), "--plots and --no-plots contradict each other");

    let image = dir.join("img.png");
    png(&image, 32, 32, false);
    let cnn = weights_dir().join("cifar10-cnn.safetensors");
    let visualize = |args: &[&str]| run(example("visualize").arg("--weights").arg(&cnn).args(args));
    let (img, jpg) = (image.to_str().unwrap(), dir.join("saliency.jpg"));
    let out = visualize(&["--image", img, "--out", jpg.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("saliency"), "--image alone draws the saliency map: {}", out.stdout);
    let bytes = std::fs::read(&jpg).unwrap();
    assert!(bytes.starts_with(&[0xFF, 0xD8, 0xFF]), "a .jpg holds a JPEG");
    assert_eq!(image::open(&jpg).unwrap().width(), 2 * 32 * 8 + 4, "the image and its map, side by side");
    let filters = dir.join("filters.jpeg");
    let out = visualize(&["--out", filters.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(std::fs::read(&filters).unwrap().starts_with(&[0xFF, 0xD8, 0xFF]), "the filters as JPEG too");
    let gif = dir.join("filters.gif");
    let out = visualize(&["--out", gif.to_str().unwrap()]);
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains(".gif") && out.stderr.contains(".png or .jpg"), "{}", out.stderr);
    assert!(!gif.exists());
    for (args, says) in [
        (vec!["--what", "saliency"], "--image"),
        (vec!["--what", "filters", "--image", img], "--image is for --what saliency"),
    ] {
        let out = visualize(&args);
        assert_ne!(out.code, Some(0), "{args:?}");
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
    }
    std::fs::remove_dir_all(&dir).ok();
}

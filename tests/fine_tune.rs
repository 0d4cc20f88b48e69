//! Fine-tuning (`train --init-from`): the network and its preprocessing come from the checkpoint,
//! the last layer is new for new classes, a linear probe leaves every other parameter bit for bit
//! as it was, a full fine-tune moves them all, the new checkpoint records its parent, and what
//! cannot work is refused with a message that says why.

mod common;

use candle_core::{DType, Device};
use kindling::app::run;
use kindling::checkpoint::{self, Freeze};
use kindling::data::{shapes, Dataset, DatasetName, Split};
use kindling::fine_tune::FineTune;
use kindling::loss::LossKind;
use kindling::models::ModelKind;
use kindling::presets::Run;
use std::collections::BTreeMap;
use std::path::Path;

/// Every parameter of the checkpoint at `path`, by name, as f32 values.
fn values(path: &Path) -> BTreeMap<String, Vec<f32>> {
    let ck = checkpoint::load(path, &Device::Cpu).unwrap();
    ck.params
        .named_vars()
        .into_iter()
        .map(|(n, v)| (n, v.as_tensor().to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1().unwrap()))
        .collect()
}

/// `n` generated shapes relabelled into 3 classes of other names: a new task of the same image size.
fn three_classes(n: usize) -> Dataset {
    let s = shapes::generate(Split::Train, n);
    let labels = s.labels.iter().map(|&l| l % 3).collect();
    let classes = vec!["round".to_string(), "pointed".to_string(), "other".to_string()];
    Dataset::new("three", s.pixels.clone(), labels, s.shape, classes).unwrap()
}

/// A fine-tuning run of `parent` for `epochs` on `data`, written to `save`.
fn fine_tune(parent: &Path, freeze: Freeze, data: &Dataset, epochs: usize, save: &Path) {
    let mut run = Run::defaults(DatasetName::Shapes, ModelKind::Cnn, LossKind::Softmax, None);
    run.model = kindling::models::Architecture::of(&checkpoint::read_meta(parent).unwrap().model);
    run.fine_tune = Some(FineTune { from: parent.into(), freeze, pretrained_lr: 0.1 });
    run.train.epochs = epochs;
    run.train.batch_size = kindling::train::BatchSize::Mini(32);
    // A held-out part makes it a tuning run: no test split (of other classes) is scored.
    let (train, val) = data.split_tail(16).unwrap();
    let prepared = kindling::data::Prepared {
        split: kindling::data::SplitRecord { total: data.len(), train: train.len(), val_size: 16, exclude_last: 0 },
        train,
        val: Some(val),
        description: "test".into(),
        options: Default::default(),
        folder: None,
    };
    run::execute(&run, &prepared, &Device::Cpu, &common::quiet(save), None).unwrap();
}

#[test]
fn a_linear_probe_trains_only_the_new_last_layer() {
    let dir = common::tmpdir("probe");
    let parent = common::weights_dir().join("cifar10-cnn.safetensors");
    let save = dir.join("probe.safetensors");
    fine_tune(&parent, Freeze::Features, &three_classes(96), 2, &save);
    let (before, after) = (values(&parent), values(&save));
    let meta = checkpoint::read_meta(&save).unwrap();
    assert_eq!(meta.classes, vec!["round", "pointed", "other"]);
    assert_eq!(meta.model.classes(), 3);
    // Everything but the new last layer, batch-norm statistics included, is bit for bit the parent's.
    let head = meta.model.head();
    for (name, v) in &after {
        if name.starts_with(&format!("{head}.")) {
            assert_eq!(v.len() % 3, 0, "{name}: a last layer for 3 classes");
            continue;
        }
        assert_eq!(Some(v), before.get(name), "{name} changed in a linear probe");
    }
    let parent_record = meta.parent.expect("the parent is recorded");
    assert_eq!(parent_record.freeze, Freeze::Features);
    assert!(!parent_record.head_kept);
    assert_eq!(parent_record.sha256, checkpoint::file_sha256(&parent).unwrap());
    assert_eq!(parent_record.sha256.len(), 64);
    assert_eq!(parent_record.classes.len(), 10);
    // The preprocessing is the parent's, not measured again on the new images.
    assert_eq!(meta.normalization, checkpoint::read_meta(&parent).unwrap().normalization);
}

#[test]
fn a_full_fine_tune_moves_the_pretrained_layers_too_and_airbench94_works() {
    let dir = common::tmpdir("full");
    let parent = common::weights_dir().join("cifar10-cnn94.safetensors");
    let save = dir.join("full.safetensors");
    fine_tune(&parent, Freeze::None, &three_classes(64), 1, &save);
    let (before, after) = (values(&parent), values(&save));
    let meta = checkpoint::read_meta(&save).unwrap();
    let moved = after.iter().filter(|(n, v)| before.get(*n) != Some(v)).count();
    // The fixed whitening filters stay; the other convolutions and batch-norm shifts move.
    assert_eq!(after["whiten.weight"], before["whiten.weight"], "the whitening filters are fixed");
    assert!(after["features.0.weight"] != before["features.0.weight"], "pretrained layers train");
    assert!(moved > after.len() / 2, "{moved} of {} parameters moved", after.len());
    // The run's parameter groups: the new last layer at the full rate, the rest at 0.1×.
    let groups = meta.train.unwrap().groups;
    assert_eq!((groups[0].names.as_str(), groups[0].lr_scale), ("classifier.0.*", 1.0));
    assert_eq!((groups[1].names.as_str(), groups[1].lr_scale), ("*", 0.1));
    assert_eq!(meta.parent.unwrap().freeze, Freeze::None);
}

#[test]
fn the_same_classes_keep_the_last_layer() {
    let parent = common::weights_dir().join("cifar10-cnn.safetensors");
    let meta = checkpoint::read_meta(&parent).unwrap();
    let s = shapes::generate(Split::Train, 20);
    let same = Dataset::new("cifar-like", s.pixels, s.labels, s.shape, meta.classes.clone()).unwrap();
    let probe = FineTune { from: parent.clone(), freeze: Freeze::Features, pretrained_lr: 0.1 };
    let start = probe.start(&same, None, 0, &Device::Cpu, false).unwrap();
    assert!(start.parent.head_kept);
    let before = values(&parent);
    for (name, var) in start.network.params.named_vars() {
        let v: Vec<f32> = var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(Some(&v), before.get(&name), "{name}: the whole network is the parent's");
    }
}

#[test]
fn what_cannot_work_is_refused() {
    let dev = Device::Cpu;
    let shapes = three_classes(20);
    let start = |file: &str, freeze| {
        let ft = FineTune { from: common::weights_dir().join(file), freeze, pretrained_lr: 0.1 };
        ft.start(&shapes, None, 0, &dev, false).expect_err("refused").to_string()
    };
    let err = start("mnist-cnn.safetensors", Freeze::None);
    assert!(err.contains("reads grey 28x28 images (1x28x28), but these are 3x32x32"), "{err}");
    let err = start("cifar10-mlp-features.safetensors", Freeze::None);
    assert!(err.contains("reads hand-made features"), "{err}");
    let err = start("cifar10-linear-softmax.safetensors", Freeze::Features);
    assert!(err.contains("the linear classifier is a single layer"), "{err}");
    let ft = FineTune { from: "no/such/file.safetensors".into(), freeze: Freeze::None, pretrained_lr: 0.1 };
    assert!(ft.start(&shapes, None, 0, &dev, false).is_err());
    let ft = FineTune { pretrained_lr: -1.0, ..ft };
    assert!(ft.start(&shapes, None, 0, &dev, false).unwrap_err().to_string().contains("0 or positive"));
}

#[test]
fn train_fine_tunes_from_the_command_line() {
    let dir = common::tmpdir("cli");
    let save = dir.join("ft.safetensors");
    let parent = common::weights_dir().join("cifar10-cnn.safetensors");
    let out = common::run(
        common::example("train")
            .args(["--dataset", "shapes", "--generated-size", "80", "--epochs", "1", "--quiet", "--no-plots"])
            .args(["--device", "cpu", "--freeze", "features", "--init-from"])
            .arg(&parent)
            .arg("--save")
            .arg(&save),
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let meta = checkpoint::read_meta(&save).unwrap();
    assert_eq!(meta.parent.unwrap().file, parent.display().to_string());
    // A resumed linear probe goes on as one.
    let last = checkpoint::sibling(&save, "last.safetensors");
    let (_, resume) = run::from_resume(&last, &Device::Cpu).unwrap();
    assert!(resume.network.frozen_features);
    let refused: &[(&[&str], &str)] = &[
        (&["--channels", "8"], "the network comes from --init-from"),
        (&["--model", "cnn"], "leave out --model"),
        (&["--freeze", "features", "--pretrained-lr", "0.5"], "--freeze features the pretrained layers do not train"),
    ];
    for (args, why) in refused {
        let out = common::run(
            common::example("train")
                .args(["--dataset", "shapes", "--epochs", "1", "--quiet", "--no-plots", "--init-from"])
                .arg(&parent)
                .args(*args),
        );
        assert_eq!(out.code, Some(1), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(why), "{args:?}: {}", out.stderr);
    }
    let out = common::run(common::example("train").args(["--freeze", "features", "--epochs", "1"]));
    assert!(
        out.stderr.contains("invalid --freeze: applies to fine-tuning: give the checkpoint with --init-from"),
        "{}",
        out.stderr
    );
}

/// A folder of the user's own images fine-tunes a shipped network like any data set: its colour
/// 32×32 images are read as the grey 28×28 ones the MNIST network reads, the new last layer has the
/// folder's classes (its sorted subfolder names), the checkpoint records both the folder and the
/// parent, and `predict` then classifies one of the folder's files by those names.
#[test]
fn a_folder_of_images_fine_tunes_a_shipped_network() {
    let dir = common::tmpdir("folder");
    let pics = dir.join("pics");
    let out = common::run(
        common::example("export")
            .args(["--dataset", "shapes", "--generated-size", "400", "--classes", "0,1,2", "--split", "train"])
            .args(["--per-class", "12", "--out"])
            .arg(&pics),
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let mut classes: Vec<String> =
        std::fs::read_dir(&pics).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    classes.sort();
    assert_eq!(classes.len(), 3);
    let parent = common::weights_dir().join("mnist-cnn.safetensors");
    let save = dir.join("ft.safetensors");
    let out = common::run(
        common::example("train")
            .env("KINDLING_CACHE", dir.join("cache"))
            .arg("--data-dir")
            .arg(&pics)
            .args(["--val-size", "0.25", "--epochs", "1", "--batch-size", "8", "--quiet", "--no-plots"])
            .args(["--device", "cpu", "--init-from"])
            .arg(&parent)
            .arg("--save")
            .arg(&save),
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let meta = checkpoint::read_meta(&save).unwrap();
    assert_eq!(meta.classes, classes);
    assert_eq!(meta.dataset, "folder");
    assert_eq!(meta.image_spec().unwrap().shape(), [1, 28, 28], "read as the parent reads");
    assert_eq!(meta.folder.as_ref().unwrap().held_out.len(), 9, "a quarter of 36 images, recorded by name");
    let p = meta.parent.unwrap();
    assert_eq!((p.sha256, p.head_kept, p.freeze), (checkpoint::file_sha256(&parent).unwrap(), false, Freeze::None));
    let file = std::fs::read_dir(pics.join(&classes[0])).unwrap().next().unwrap().unwrap().path();
    let out = common::run(common::example("predict").arg("--weights").arg(&save).arg(&file).args(["--device", "cpu"]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(classes.iter().any(|c| out.stdout.contains(c.as_str())), "{}", out.stdout);
    std::fs::remove_dir_all(&dir).ok();
}

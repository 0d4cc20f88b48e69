//! The `train` example's flags reach the model and training configuration saved in the checkpoint.

mod common;

use kindling::models::{ModelConfig, Pool};
use std::process::Command;

#[test]
fn train_flags_reach_the_checkpoint() {
    let dir = std::env::temp_dir().join(format!("kindling-cli-{}", std::process::id()));
    let save = dir.join("c.safetensors");
    let out = example("train")
        .args(["--model", "cnn", "--channels", "4,6", "--fc", "0", "--pool", "overlap", "--no-batch-norm"])
        .args(["--activation", "leaky-relu:0.1", "--dropout", "0.25", "--optimizer", "nesterov", "--lr", "0.003"])
        .args(["--schedule", "step:2:0.5", "--batch-size", "16", "--epochs", "1", "--augment", "--seed", "7"])
        .args(["--generated-size", "40", "--quiet", "--no-plots", "--device", "cpu", "--save"])
        .arg(&save)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta = kindling::checkpoint::read_meta(&save).unwrap();
    let ModelConfig::Cnn(c) = &meta.model else { panic!("not a CNN: {:?}", meta.model) };
    assert_eq!(c.blocks.iter().map(|b| b.channels).collect::<Vec<_>>(), vec![4, 6]);
    assert!(c.blocks.iter().all(|b| b.pool == Pool::Overlap));
    assert!(c.fc.is_empty() && !c.batch_norm && c.dropout == 0.25);
    assert_eq!(c.activation, kindling::models::Activation::LeakyRelu { alpha: 0.1 });
    let t = meta.train.unwrap();
    assert_eq!(t.optimizer.kind, kindling::optim::OptimizerKind::Nesterov);
    assert_eq!((t.optimizer.lr, t.seed), (0.003, 7));
    assert_eq!(t.schedule, kindling::optim::Schedule::Step { every: 2, gamma: 0.5 });
    assert_eq!(t.batch_size, kindling::train::BatchSize::Mini(16));
    assert!(t.augment.hflip && t.augment.crop_pad == 4);

    let out = example("train")
        .args(["--epochs", "1", "--generated-size", "40", "--quiet", "--no-plots", "--device", "cpu", "--no-augment"])
        .args(["--dataset", "cifar10", "--offline", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success(), "no CIFAR-10 files there");
    let err = String::from_utf8_lossy(&out.stderr);
    let cifar = dir.join("cifar-10-batches-bin");
    assert!(err.contains(&format!("cifar10 (training split) not found in {}", cifar.display())), "{err}");
    assert!(err.contains("--data-dir DIR") && !err.contains("panicked"), "{err}");
}

/// An example binary without `$KINDLING_DATA`, as a user without the data sets runs it.
fn example(name: &str) -> Command {
    let mut c = common::example(name);
    c.env_remove("KINDLING_DATA");
    c
}

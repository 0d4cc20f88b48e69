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
        .args(["--epochs", "1", "--quiet", "--no-plots", "--device", "cpu", "--no-augment"])
        .args(["--dataset", "cifar10", "--offline", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success(), "no CIFAR-10 files there");
    let err = String::from_utf8_lossy(&out.stderr);
    let cifar = dir.join("cifar-10-batches-bin");
    assert!(err.contains(&format!("cifar10 (training split) not found in {}", cifar.display())), "{err}");
    assert!(err.contains("Give the folder with --data-dir") && !err.contains("panicked"), "{err}");
}

/// A flag that the chosen model, optimizer or data set does not use is refused before anything
/// trains, with a message naming the flag and what would use it; nothing is silently ignored.
#[test]
fn flags_the_run_does_not_use_are_refused() {
    let cases: &[(&[&str], &str, &str)] = &[
        (&["--model", "linear", "--hidden", "3"], "invalid --hidden", "applies to --model mlp"),
        (&["--model", "linear", "--dropout", "0.5"], "invalid --dropout", "--model mlp or cnn"),
        (&["--model", "linear", "--channels", "8", "--depth", "3"], "invalid --channels", "applies to --model cnn"),
        (&["--model", "mlp", "--pool", "avg"], "invalid --pool", "applies to --model cnn"),
        (&["--model", "cnn", "--hidden", "10,20"], "invalid --hidden", "applies to --model mlp"),
        (&["--model", "cnn", "--init", "xavier"], "invalid --init", "applies to --model mlp"),
        (&["--model", "mlp", "--momentum", "0.9"], "invalid --momentum", "--optimizer momentum, nesterov or muon"),
        (&["--optimizer", "muon", "--weight-decay", "0.1"], "invalid --weight-decay", "fixed norm"),
        (&["--optimizer", "momentum", "--momentum", "2.7"], "invalid --momentum", "must be in [0, 1)"),
        (&["--model", "mlp", "--hidden", "0"], "invalid --hidden", "at least 1"),
        (&["--dataset", "spiral", "--hflip"], "invalid --hflip", "2-D points"),
        (&["--loss", "svm", "--label-smoothing", "0.1"], "invalid --label-smoothing", "softmax loss only"),
        (&["--dataset", "shapes", "--data-dir", "/tmp"], "invalid --data-dir", "reads no files"),
        (&["--dataset", "cifar10", "--generated-size", "40"], "invalid --generated-size", "read from files"),
        (&["--lr", "-1"], "invalid --lr", "positive"),
    ];
    for (args, head, why) in cases {
        let out = example("train").args(*args).args(["--epochs", "1", "--quiet", "--no-plots"]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?} should be refused: {err}");
        assert!(err.contains(head) && err.contains(why), "{args:?}: expected '{head}' ... '{why}', got: {err}");
        assert!(!err.contains("epoch 1"), "{args:?} trained before refusing: {err}");
    }
}

/// An example binary without `$KINDLING_DATA`, as a user without the data sets runs it.
fn example(name: &str) -> Command {
    let mut c = common::example(name);
    c.env_remove("KINDLING_DATA");
    c
}

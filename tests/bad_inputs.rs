//! The example binaries on bad input: a clear message naming the file or flag, a non-zero exit
//! code, and never a panic.

mod common;

use std::path::PathBuf;
use std::process::Command;

/// Runs and returns stderr, asserting failure without a panic.
fn fails(cmd: &mut Command, expect: &[&str]) -> String {
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "expected failure, got success; stderr: {err}");
    assert!(!err.contains("panicked"), "panicked: {err}");
    for e in expect {
        assert!(err.contains(e), "stderr lacks '{e}': {err}");
    }
    err
}

#[test]
fn train_flag_errors() {
    fails(example("train").args(["--dataset", "imagenet"]), &["imagenet"]);
    fails(example("train").args(["--model", "transformer"]), &["transformer"]);
    fails(example("train").args(["--lr", "-1", "--epochs", "1"]), &["--lr"]);
    fails(example("train").args(["--lr", "NaN", "--epochs", "1"]), &["--lr"]);
    fails(example("train").args(["--batch-size", "0"]), &["--batch-size"]);
    fails(example("train").args(["--device", "cuda", "--epochs", "1"]), &["--features cuda"]);
    fails(example("train").args(["--schedule", "sideways"]), &["schedule"]);
}

#[test]
fn train_data_errors() {
    let dir = common::tmpdir("data");
    fails(example("train").args(["--dataset", "cifar10", "--data-dir"]).arg(&dir), &["--data-dir", "cifar10"]);
    std::fs::write(dir.join("data_batch_1.bin"), vec![0u8; 3000]).unwrap();
    fails(example("train").args(["--dataset", "cifar10", "--data-dir"]).arg(&dir), &["data_batch_1.bin", "3073"]);
    fails(example("train").args(["--dataset", "mnist", "--data-dir"]).arg(dir.join("missing")), &["not a folder"]);
}

#[test]
fn evaluate_and_predict_errors() {
    let dir = common::tmpdir("ckpt");
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"garbage garbage garbage").unwrap();
    fails(example("evaluate").arg("--weights").arg(&garbage), &["garbage.safetensors"]);
    fails(example("predict").arg("--weights").arg(dir.join("none.safetensors")).arg("x.png"), &["none.safetensors"]);

    // A real checkpoint, then bad images for it.
    let save = dir.join("m.safetensors");
    common::train_quick(&save, 100, 0);
    let empty = dir.join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    fails(example("predict").arg("--weights").arg(&save).arg(&empty), &["empty.png", "empty"]);
    let text = dir.join("notes.png");
    std::fs::write(&text, b"this is text").unwrap();
    fails(example("predict").arg("--weights").arg(&save).arg(&text), &["notes.png"]);
    // A folder: its images, each unreadable one reported on its own line.
    fails(example("predict").arg("--weights").arg(&save).arg(&dir), &["empty.png", "notes.png", "2 of 2 files"]);
    fails(example("predict").arg("--weights").arg(&dir).arg(img_dummy()), &["directory"]);
    // A checkpoint for 32x32 RGB against 2-D points.
    fails(example("evaluate").arg("--weights").arg(&save).args(["--dataset", "spiral"]), &["shape"]);

    // A good image of another size works, with a note.
    let img = dir.join("big.png");
    image::RgbImage::from_pixel(64, 48, image::Rgb([200, 10, 10])).save(&img).unwrap();
    let out = example("predict").arg("--weights").arg(&save).arg(&img).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("resized from 64x48"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().filter(|l| l.contains('%')).count(), 3, "{stdout}");
}

fn img_dummy() -> PathBuf {
    PathBuf::from("unused.png")
}

/// An example binary without `$KINDLING_DATA`, as a user without the data sets runs it.
fn example(name: &str) -> Command {
    let mut c = common::example(name);
    c.env_remove("KINDLING_DATA");
    c
}

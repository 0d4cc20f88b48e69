//! Helpers shared by the integration tests: the example binaries and scratch folders.
#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};
use std::process::Command;

/// The example binary `name`, built by `cargo test` beside the test binaries, run from the
/// system's temporary folder (so a relative `runs/` never lands in the repository).
pub fn example(name: &str) -> Command {
    // Integration tests live in target/<profile>/deps; examples in target/<profile>/examples.
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join("examples").join(name);
    assert!(path.exists(), "{} not built: run `cargo test` (it builds the examples)", path.display());
    let mut c = Command::new(path);
    c.current_dir(std::env::temp_dir()).env_remove("RUST_BACKTRACE").env_remove("RUST_LIB_BACKTRACE");
    // Folder data sets cache their images: here, not in the user's cache folder.
    c.env("KINDLING_CACHE", std::env::temp_dir().join(format!("kindling-test-{}-cache", std::process::id())));
    c
}

/// Trains the default model (linear, on the generated `shapes` set) for one epoch on `generated`
/// images, the last `val` of them held out, on the CPU, and saves it to `save`; panics with
/// `train`'s error output if that fails. The quick checkpoint most tests start from.
pub fn train_quick(save: &Path, generated: usize, val: usize) {
    let (generated, val) = (generated.to_string(), val.to_string());
    let out = run(example("train")
        .args(["--generated-size", &generated, "--val-size", &val, "--epochs", "1", "--quiet", "--no-plots"])
        .args(["--device", "cpu", "--save"])
        .arg(save));
    assert_eq!(out.code, Some(0), "train failed: {}", out.stderr);
}

/// An empty scratch folder unique to this test process and `name`.
pub fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kindling-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The shipped checkpoints' folder.
pub fn weights_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("weights")
}

/// `$KINDLING_DATA`, when it is set and names a folder.
pub fn data_root() -> Option<PathBuf> {
    std::env::var_os("KINDLING_DATA").map(PathBuf::from).filter(|p| p.is_dir())
}

/// How a finished command went.
pub struct Outcome {
    /// The exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `cmd` to completion.
pub fn run(cmd: &mut Command) -> Outcome {
    let out = cmd.output().unwrap();
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

/// The device tests run on: the CPU, or the GPU in a `--features cuda` build.
pub fn dev() -> candle_core::Device {
    kindling::app::device::test_device()
}

/// A run's output that writes `save` and prints nothing.
pub fn quiet(save: impl Into<PathBuf>) -> kindling::app::run::Output {
    kindling::app::run::Output { save: save.into(), command: "test".into(), verbose: false }
}

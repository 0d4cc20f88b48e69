//! Helpers shared by the integration tests: the example binaries, scratch folders, and what a
//! test needs from outside the repository.
//!
//! # Needs X
//! A test that needs a data set, a font or a browser asks for it first and returns when it is
//! absent:
//!
//! ```ignore
//! let Some(cifar) = common::require_data("cifar10") else { return };   // $KINDLING_DATA/cifar-10-batches-bin
//! let Some(fashion) = common::require_fashion_mnist() else { return };
//! if !common::require_font() { return; }                                // pictures with text
//! let Some(browser) = common::require_chromium() else { return };      // browser.chromium, browser.node
//! ```
//!
//! Absent means a missing file or program, never an error: a file that is there but fails to
//! parse fails the test. A skip prints `SKIPPED <test>: <reason>` where `cargo test` shows it;
//! with `KINDLING_REQUIRE_ALL=1` (CI) it panics instead. For anything else a test needs, wrap
//! the check in [`require`] (`require(found, || reason)`) or call [`skip`]; for a part that cannot
//! run on this machine whatever is installed (a CPU feature), [`not_run`] says so without failing.
//! The rules live in
//! `require.rs`, which the library's unit tests share (`crate::require`).
#![allow(dead_code)] // each test file uses its own subset

mod require;
#[allow(unused_imports)] // each test file uses its own subset
pub use require::{
    not_run, program, require, require_all, require_chromium, require_data, require_fashion_mnist, skip, Browser,
    REQUIRE_ALL,
};

use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether pictures can be drawn: a TrueType font is found (`$KINDLING_FONT`, else the system's
/// DejaVu Sans and others, see `kindling::app::plot`). Skips (see [`require`]) when there is none;
/// a font that is there but does not load fails the drawing, and with it the test.
pub fn require_font() -> bool {
    match kindling::app::plot::font_file() {
        Ok(_) => true,
        Err(e) => {
            skip(&format!("needs a TrueType font to draw text: {e}"));
            false
        }
    }
}

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

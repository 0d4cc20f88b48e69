//! "Needs X": how a test that cannot run without something outside the repository (a data set, a
//! font, a browser) asks for it. One rule for every such test:
//!
//! - found: the helper returns it and the test goes on; any error in reading or using it from
//!   then on fails the test (a parser bug never reads as "not installed");
//! - really absent (a missing file or program, nothing else) and `KINDLING_REQUIRE_ALL` unset or
//!   `0`: the helper prints `SKIPPED <test>: <reason and how to get it>` straight to the terminal
//!   (past the test harness's capture, so `cargo test` shows it) and returns `None`; the test
//!   returns at once, and cargo counts it as passed;
//! - absent with `KINDLING_REQUIRE_ALL=1` (`.ci/run` sets it): the helper panics with the same
//!   reason, so CI cannot pass with a part of the suite silently not run.
//!
//! ```ignore
//! let Some(dir) = require_data("cifar10") else { return };
//! ```
//!
//! This file has no dependency on the crate: the integration tests use it through
//! `tests/common/mod.rs` (which adds `require_font`), the library's unit tests through `src/lib.rs`
//! (`crate::require`).
#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};

/// The environment variable that turns every skip into a failure.
pub const REQUIRE_ALL: &str = "KINDLING_REQUIRE_ALL";

/// Whether `KINDLING_REQUIRE_ALL` asks for everything to be present (set, and neither empty nor `0`).
pub fn require_all() -> bool {
    std::env::var(REQUIRE_ALL).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The running test's name (libtest names each test's thread after it).
fn test_name() -> String {
    std::thread::current().name().unwrap_or("<unnamed test>").to_string()
}

/// Skips the calling test because `reason`: prints `SKIPPED <test>: <reason>` to the terminal, or
/// panics when [`require_all`]. The caller returns right after.
pub fn skip(reason: &str) {
    let test = test_name();
    if require_all() {
        panic!("{test} cannot run: {reason} ({REQUIRE_ALL} is set: everything must be present)");
    }
    // Straight to the file descriptor: libtest captures `eprintln!`, not `io::stderr()` writes.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
}

/// Says in the test output (past the harness's capture) that a part of the calling test did not
/// run here, for what no install can provide (an instruction set the CPU lacks): prints
/// `NOT RUN <test>: <what>`, and never fails, whatever `KINDLING_REQUIRE_ALL` says.
pub fn not_run(what: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "NOT RUN {}: {what}", test_name());
}

/// `found`, or (when it is `None`) [`skip`] with the reason `missing()` gives and `None`.
pub fn require<T>(found: Option<T>, missing: impl FnOnce() -> String) -> Option<T> {
    if found.is_none() {
        skip(&missing());
    }
    found
}

/// `dir`, when it holds every file of `files` (each `name` or `name.gz` when `gz_too`); otherwise the
/// first one missing.
fn holds(dir: &Path, files: &[&str], gz_too: bool) -> Result<PathBuf, String> {
    for f in files {
        let plain = dir.join(f);
        let there = plain.is_file() || (gz_too && dir.join(format!("{f}.gz")).is_file());
        if !there {
            return Err(format!("{} is missing", plain.display()));
        }
    }
    Ok(dir.to_path_buf())
}

/// The IDX files of MNIST and Fashion-MNIST (each may be gzipped).
const IDX_FILES: [&str; 4] =
    ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

/// CIFAR-10's binary batches.
const CIFAR10_FILES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];

/// Debian's `dataset-fashion-mnist` folder (the crate searches it too).
const DEBIAN_FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

/// The folder of data set `name` (`cifar10`, `mnist` or `fashion-mnist`) with all its files:
/// `$KINDLING_DATA/cifar-10-batches-bin` (the five training batches and the test batch),
/// `$KINDLING_DATA/mnist` (the four IDX files, plain or `.gz`), and for Fashion-MNIST
/// `$KINDLING_DATA/fashion-mnist` or Debian's folder. Skips (see the module) when they are not
/// there; an unknown `name` is a bug in the test and panics.
pub fn require_data(name: &str) -> Option<PathBuf> {
    let root = std::env::var_os("KINDLING_DATA").filter(|r| !r.is_empty()).map(PathBuf::from);
    let under_root = |folder: &str| match &root {
        Some(r) => Ok(r.join(folder)),
        None => Err("KINDLING_DATA is not set".to_string()),
    };
    let (found, how) = match name {
        "cifar10" => (
            under_root("cifar-10-batches-bin").and_then(|d| holds(&d, &CIFAR10_FILES, false)),
            "set KINDLING_DATA to a folder holding cifar-10-batches-bin/ (README, 'Getting the data')",
        ),
        "mnist" => (
            under_root("mnist").and_then(|d| holds(&d, &IDX_FILES, true)),
            "set KINDLING_DATA to a folder holding mnist/ (README, 'Getting the data')",
        ),
        "fashion-mnist" => {
            let mut tried = vec![];
            let mut found = None;
            for dir in under_root("fashion-mnist").into_iter().chain([PathBuf::from(DEBIAN_FASHION_MNIST)]) {
                match holds(&dir, &IDX_FILES, true) {
                    Ok(d) => {
                        found = Some(d);
                        break;
                    }
                    Err(e) => tried.push(e),
                }
            }
            (found.ok_or(tried.join("; ")), "apt-get install dataset-fashion-mnist")
        }
        other => panic!("require_data: no data set named {other:?} (cifar10, mnist, fashion-mnist)"),
    };
    match found {
        Ok(dir) => Some(dir),
        Err(e) => require(None, || format!("needs {name}: {e} ({how})")),
    }
}

/// Fashion-MNIST's folder: [`require_data`]`("fashion-mnist")`.
pub fn require_fashion_mnist() -> Option<PathBuf> {
    require_data("fashion-mnist")
}

/// The program `name` on `PATH`.
pub fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// What the browser test drives: Chromium and a Node.js that has `WebSocket`.
pub struct Browser {
    /// The `chromium` executable.
    pub chromium: PathBuf,
    /// The `node` executable.
    pub node: PathBuf,
}

/// Chromium and Node.js with `WebSocket` (Node 20.10 or later, with `--experimental-websocket`
/// before 22), for `tests/browser.mjs`. Skips when either program is not on `PATH` or Node lacks
/// `WebSocket` (an older Node is as good as none); panics when Node is there but does not run.
pub fn require_chromium() -> Option<Browser> {
    let how = "apt-get install chromium nodejs; .ci/run installs both";
    let chromium = require(program("chromium"), || format!("needs chromium on PATH ({how})"))?;
    let node = require(program("node"), || format!("needs node (Node.js) on PATH ({how})"))?;
    let probe = std::process::Command::new(&node)
        .args(["--experimental-websocket", "-e", "process.exit(typeof WebSocket === 'function' ? 0 : 3)"])
        .output()
        .unwrap_or_else(|e| panic!("{} does not run: {e}", node.display()));
    let version = std::process::Command::new(&node).arg("--version").output().ok();
    let version = version.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default();
    match probe.status.code() {
        Some(0) => Some(Browser { chromium, node }),
        // Node before 20.10 rejects the flag (exit 9); 20.10 to 21 without it has no WebSocket (3).
        Some(3 | 9) => require(None, || {
            format!("needs Node.js 20.10 or later for WebSocket; {} is {version} ({how})", node.display())
        }),
        _ => panic!("{} --experimental-websocket failed: {}", node.display(), String::from_utf8_lossy(&probe.stderr)),
    }
}

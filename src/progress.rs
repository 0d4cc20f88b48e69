//! Progress bars on long work (training epochs, features, kNN queries): one look everywhere, with
//! a time estimate, and hidden when the caller asks for quiet.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `len` items labelled `prefix`, or a hidden one when `show` is false.
pub fn bar(show: bool, len: u64, prefix: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} (eta {eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(prefix.to_string());
    bar
}

//! A one-line description of the machine a run used, for checkpoints and benchmark reports.

/// E.g. `AMD EPYC 9B14, 2 threads, linux x86_64`.
pub fn describe() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let threads = rayon::current_num_threads();
    format!("{cpu}, {threads} threads, {} {}", std::env::consts::OS, std::env::consts::ARCH)
}

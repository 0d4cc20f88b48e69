//! kNN distance throughput: squared-L2 distances of 10000 CIFAR-10 queries (batch 5) against
//! 40000 training images (batches 1-4), 3072-d, in GFLOP/s, against numpy in the same run.
//!
//! `KINDLING_DATA=../shared/data cargo bench --bench knn` (numpy: `pip install numpy`;
//! `PYTHON` chooses the interpreter). Options: `-- --train N --queries N`.

use candle_core::Device;
use kindling::data::{cifar10, Normalization, Split};
use kindling::models::knn::{Distance, Knn};
use kindling::support::bench::peak_rss_mb;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn arg(name: &str, default: usize) -> usize {
    let a: Vec<String> = std::env::args().collect();
    a.iter().position(|x| x == name).and_then(|i| a.get(i + 1)?.parse().ok()).unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    kindling::support::startup::startup();
    let Ok(root) = std::env::var("KINDLING_DATA") else {
        println!("skipped: set KINDLING_DATA to the folder holding cifar-10-batches-bin");
        return Ok(());
    };
    let dir = std::path::Path::new(&root).join("cifar-10-batches-bin");
    let (n_train, n_query) = (arg("--train", 40_000), arg("--queries", 10_000));
    let all = cifar10::load(&dir, Split::Train)?;
    let (head, tail) = all.split_tail(10_000)?;
    let train = head.take(n_train);
    let queries = tail.take(n_query);
    let norm = Normalization::identity(3);
    let rss_before = peak_rss_mb();
    let knn = Knn::new(&train.matrix(&norm, &Device::Cpu)?, &train.labels_u32(), Distance::L2)?;
    let q = queries.matrix(&norm, &Device::Cpu)?;
    let rows = (knn.chunk_bytes / (train.len() * 8)).max(1);
    let mut best = f64::INFINITY;
    for _ in 0..2 {
        let t0 = Instant::now();
        let mut start = 0;
        while start < n_query {
            let len = rows.min(n_query - start);
            let d = knn.distances(&q.narrow(0, start, len)?)?;
            std::hint::black_box(d);
            start += len;
        }
        best = best.min(t0.elapsed().as_secs_f64());
    }
    let flop = 2.0 * n_query as f64 * n_train as f64 * 3072.0;
    println!("kindling: {n_query} x {n_train} L2 distances (3072-d) in {best:.2}s = {:.1} GFLOP/s", flop / best / 1e9);
    println!(
        "peak memory {:.0} MB (data {:.0} MB before the search; distance chunks of {rows} queries, bound {} MB)",
        peak_rss_mb(),
        rss_before,
        knn.chunk_bytes >> 20
    );
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/knn_numpy.py");
    // Some machines pin OpenBLAS to older kernels through the environment (OPENBLAS_CORETYPE=Haswell
    // on an AVX-512 CPU halves numpy's GEMM): numpy runs without those settings, on the kernels
    // OpenBLAS picks for this CPU, and reports which (threadpoolctl's `architecture`).
    let out = std::process::Command::new(&python)
        .args([script, dir.to_str().unwrap(), &n_train.to_string(), &n_query.to_string(), &rows.to_string()])
        .env_remove("OPENBLAS_CORETYPE")
        .env_remove("OPENBLAS_L2_SIZE")
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout)?;
            let np = v["seconds"].as_f64().unwrap_or(f64::NAN);
            println!("numpy {}: {np:.2}s = {:.1} GFLOP/s; BLAS {}", v["numpy"], flop / np / 1e9, v["blas"]);
            println!("ratio kindling / numpy throughput: {:.2}x", np / best);
        }
        Ok(o) => {
            println!("numpy reference skipped: {}", String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or(""))
        }
        Err(e) => println!("numpy reference skipped: cannot run {python}: {e}"),
    }
    Ok(())
}

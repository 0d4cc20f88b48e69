//! Feature extraction time: HOG + colour histogram of the 50000 CIFAR-10 training images.
//! `KINDLING_DATA=../shared/data cargo bench --bench features` (goal: under 20 s on 2 cores).

use kindling::data::{cifar10, Split};
use kindling::features::{extract, FeatureConfig};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let Ok(root) = std::env::var("KINDLING_DATA") else {
        println!("skipped: set KINDLING_DATA to the folder holding cifar-10-batches-bin");
        return Ok(());
    };
    let ds = cifar10::load(&std::path::Path::new(&root).join("cifar-10-batches-bin"), Split::Train)?;
    let cfg = FeatureConfig::default();
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t0 = Instant::now();
        let f = extract(&ds, &cfg, false)?;
        best = best.min(t0.elapsed().as_secs_f64());
        std::hint::black_box(f);
    }
    println!(
        "HOG + colour features of {} CIFAR-10 images ({} values each): {best:.2} s ({:.0} images/s, {} threads)",
        ds.len(),
        cfg.dim(ds.shape)?,
        ds.len() as f64 / best,
        rayon::current_num_threads()
    );
    Ok(())
}

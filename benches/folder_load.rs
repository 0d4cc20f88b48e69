//! Loading speed of folder data sets: the first load of a folder (every file decoded and resized,
//! the cache written) and the second (from the cache), as `train`, `evaluate`, `knn` ... load it.
//!
//! ```text
//! cargo bench --bench folder_load -- --folder DIR            # time DIR (e.g. CIFAR-10 written by export)
//! cargo bench --bench folder_load -- --photos 2000 --out DIR # write 2,000 640x480 JPEGs into DIR, then time it
//! ```
//!
//! Each run uses a fresh cache folder, so the first load decodes every file. The files are in the
//! operating system's page cache when they were just written (the second run of the same command
//! reads them from memory, not disk); the figures in docs/own-images.md say which.

use kindling::data::{folder, DataOptions, Split};
use rayon::prelude::*;
use std::path::PathBuf;
use std::time::Instant;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

/// A 640x480 "photo": smooth colour fields, a few shapes and sensor noise, so that it compresses
/// like a photograph (about 60-100 KB at JPEG quality 85).
fn photo(seed: u64) -> image::RgbImage {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let f: Vec<f32> = (0..9).map(|_| rng.random_range(0.002..0.03)).collect();
    let base: [f32; 3] = [rng.random_range(40.0..200.0), rng.random_range(40.0..200.0), rng.random_range(40.0..200.0)];
    let (cx, cy, r) =
        (rng.random_range(100.0..540.0f32), rng.random_range(80.0..400.0f32), rng.random_range(40.0..160.0f32));
    image::RgbImage::from_fn(640, 480, |x, y| {
        let (xf, yf) = (x as f32, y as f32);
        let inside = (xf - cx).powi(2) + (yf - cy).powi(2) < r * r;
        let noise = ((x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503) ^ seed as u32) % 17) as f32 - 8.0;
        image::Rgb(std::array::from_fn(|c| {
            let wave = 40.0 * (xf * f[3 * c]).sin()
                + 30.0 * (yf * f[3 * c + 1]).cos()
                + 20.0 * ((xf + yf) * f[3 * c + 2]).sin();
            let v = base[c] + wave + noise + if inside { 60.0 } else { 0.0 };
            v.clamp(0.0, 255.0) as u8
        }))
    })
}

fn main() {
    let folder = match (arg("--folder"), arg("--photos")) {
        (Some(dir), _) => PathBuf::from(dir),
        (None, Some(n)) => {
            let n: usize = n.parse().expect("--photos N");
            let out = PathBuf::from(arg("--out").expect("--photos N needs --out DIR"));
            let t = Instant::now();
            (0..n).into_par_iter().for_each(|i| {
                let dir = out.join(format!("class{}", i % 10));
                std::fs::create_dir_all(&dir).unwrap();
                let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join(format!("{i:05}.jpg"))).unwrap());
                let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut f, 85);
                photo(i as u64).write_with_encoder(enc).unwrap();
            });
            let bytes: u64 = walk_size(&out);
            println!(
                "wrote {n} 640x480 JPEGs ({:.0} MB) to {} in {:.1}s",
                bytes as f64 / 1e6,
                out.display(),
                t.elapsed().as_secs_f64()
            );
            out
        }
        _ => {
            eprintln!("usage: cargo bench --bench folder_load -- --folder DIR | --photos N --out DIR [--size N]");
            return;
        }
    };
    let size: usize = arg("--size").map_or(32, |s| s.parse().expect("--size N"));
    let cache = std::env::temp_dir().join(format!("kindling-bench-folder-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);
    let opts = DataOptions {
        data_dir: Some(folder.clone()),
        cache_dir: Some(cache.clone()),
        image: folder::ImageRequest { size: Some((size, size)), ..Default::default() },
        ..Default::default()
    };
    println!("{} threads; {}", rayon::current_num_threads(), kindling::support::machine::describe());
    for run in ["first load (decode, resize, write the cache)", "second load (the cache)"] {
        let t = Instant::now();
        let loaded = folder::load(Split::Train, &opts).expect("the folder loads");
        let s = t.elapsed().as_secs_f64();
        println!(
            "{run}: {} images of {}x{} in {s:.2}s ({:.0} images/s; {} from the cache)",
            loaded.data.len(),
            size,
            size,
            loaded.data.len() as f64 / s,
            loaded.from_cache
        );
    }
    let cached = walk_size(&cache);
    println!("cache: {:.0} MB", cached as f64 / 1e6);
    let _ = std::fs::remove_dir_all(&cache);
}

fn walk_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        walk_size(&p)
                    } else {
                        e.metadata().map_or(0, |m| m.len())
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

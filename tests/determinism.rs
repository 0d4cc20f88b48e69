//! Same seed, same machine, same thread count: the same numbers. The parallel reductions of the
//! CPU kernels (batch norm's per-channel sums, the Winograd weight gradient, the whitening
//! moment) called again and again give the same bits while other tests load the thread pool;
//! two identical runs of `train` (a CNN with batch norm and dropout, an MLP with dropout), of a
//! `sweep` and of `knn` give bit-identical losses, accuracies and weights.

mod common;
use candle_core::{DType, Device, Tensor, Var};
use common::{example, run, tmpdir};
use rand::{Rng, SeedableRng};
use std::path::Path;

fn random(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let n = shape.iter().product();
    Tensor::from_vec((0..n).map(|_| rng.random_range(-1f32..1.0)).collect::<Vec<_>>(), shape, &Device::Cpu).unwrap()
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap().into_iter().map(f32::to_bits).collect()
}

/// Calls `f` many times; every call must give the first call's bits.
fn same_every_time<T: PartialEq>(what: &str, f: impl Fn() -> T) {
    let first = f();
    for i in 1..40 {
        assert!(f() == first, "{what}: call {i} gave other bits than the first");
    }
}

#[test]
fn batch_norm_sums_do_not_depend_on_scheduling() {
    // 1024 rows of 16 channels × 8×8: many blocks of rows, summed across the pool.
    let xs = Var::from_tensor(&random(&[1024, 16, 8, 8], 1)).unwrap();
    let gamma = Var::from_tensor(&(random(&[16], 2) + 1.0).unwrap()).unwrap();
    let beta = Var::from_tensor(&random(&[16], 3)).unwrap();
    let gy = random(&[1024, 16, 8, 8], 4);
    same_every_time("batch norm", || {
        let (ys, mean, var) = kindling::ops::batch_norm_train(&xs, &gamma, &beta, 1e-5).unwrap();
        let grads = (ys * &gy).unwrap().sum_all().unwrap().backward().unwrap();
        let g = |v: &Var| bits(grads.get(v).unwrap());
        vec![bits(&mean), bits(&var), g(&xs), g(&gamma), g(&beta)]
    });
}

#[test]
fn convolution_gradients_do_not_depend_on_scheduling() {
    // 3×3, stride 1, padding 1, 16 channels in and out: the Winograd kernels' case.
    let xs = random(&[512, 16, 12, 12], 5);
    let w = Var::from_tensor(&(random(&[16, 16, 3, 3], 6) * 0.1).unwrap()).unwrap();
    let b = Var::zeros(16, DType::F32, &Device::Cpu).unwrap();
    let gy = random(&[512, 16, 12, 12], 7);
    for algorithm in [kindling::ops::Algorithm::Auto, kindling::ops::Algorithm::Im2col] {
        same_every_time(&format!("{algorithm:?} convolution"), || {
            let ys = kindling::ops::conv2d_with(&xs, &w, &b, 1, 1, algorithm).unwrap();
            let grads = (ys * &gy).unwrap().sum_all().unwrap().backward().unwrap();
            vec![bits(grads.get(&w).unwrap()), bits(grads.get(&b).unwrap())]
        });
    }
}

#[test]
fn the_whitening_moment_does_not_depend_on_scheduling() {
    use kindling::data::{Dataset, Normalization, Pixels};
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    let n = 300;
    let pixels: Vec<u8> = (0..n * 3 * 8 * 8).map(|_| rng.random()).collect();
    let classes = vec!["a".to_string(), "b".to_string()];
    let ds =
        Dataset::new("w", Pixels::U8(pixels), (0..n).map(|i| (i % 2) as u8).collect(), [3, 8, 8], classes).unwrap();
    let norm = Normalization::measure(&ds);
    let whitening = kindling::models::whiten::Whitening { kernel: 2, eps: 5e-4, images: n };
    same_every_time("whitening moment", || {
        whitening.patch_moment(&ds, &norm).into_iter().map(f64::to_bits).collect::<Vec<u64>>()
    });
}

/// The tensors of a checkpoint, by name, as bits.
fn weights(path: &Path) -> Vec<(String, Vec<u32>)> {
    let mut t: Vec<(String, Vec<u32>)> = candle_core::safetensors::load(path, &Device::Cpu)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, bits(&v.to_dtype(DType::F32).unwrap())))
        .collect();
    t.sort();
    t
}

/// A checkpoint's last epoch without its timings: losses (every recorded step's too) and
/// accuracies.
fn history(path: &Path) -> Vec<String> {
    let meta = kindling::checkpoint::read_meta(path).unwrap();
    meta.metrics
        .iter()
        .map(|r| format!("{} {:?} {:?} {:?} {:?}", r.epoch, r.train_loss, r.train_acc, r.val_acc, r.step_losses))
        .collect()
}

fn train_twice(name: &str, flags: &[&str]) {
    let dir = tmpdir(name);
    let mut seen = vec![];
    for i in 0..2 {
        let save = dir.join(format!("run{i}.safetensors"));
        let out = run(example("train")
            .args(flags)
            .args(["--generated-size", "600", "--val-size", "100", "--epochs", "2", "--seed", "3"])
            .args(["--device", "cpu", "--quiet", "--no-plots", "--save"])
            .arg(&save));
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        let h = history(&save);
        assert!(!h.is_empty());
        seen.push((weights(&save), h));
    }
    assert!(seen[0].1 == seen[1].1, "{name}: the two runs' histories differ:\n{:?}\n{:?}", seen[0].1, seen[1].1);
    let differ: Vec<&str> =
        seen[0].0.iter().zip(&seen[1].0).filter(|(a, b)| a != b).map(|(a, _)| a.0.as_str()).collect();
    assert!(differ.is_empty(), "{name}: weights differ between two runs with the same seed: {differ:?}");
}

#[test]
fn a_cnn_with_batch_norm_and_dropout_trains_the_same_twice() {
    train_twice("det-cnn", &["--model", "cnn", "--batch-norm", "--dropout", "0.3", "--channels", "8,16"]);
}

#[test]
fn an_mlp_with_dropout_trains_the_same_twice() {
    train_twice("det-mlp", &["--model", "mlp", "--dropout", "0.5", "--hidden", "64"]);
}

#[test]
fn a_sweep_and_knn_give_the_same_numbers_twice() {
    let dir = tmpdir("det-sweep");
    let sweep = |i: usize| {
        let out = run(example("sweep")
            .args(["--model", "mlp", "--hidden", "32", "--dropout", "0.1..0.5", "--lr", "1e-3..1e-1:log"])
            .args(["--trials", "2", "--folds", "2", "--epochs", "2", "--generated-size", "400", "--val-size", "100"])
            .args(["--device", "cpu", "--json", "--results"])
            .arg(dir.join(format!("r{i}.json")))
            .arg("--plot")
            .arg(dir.join(format!("r{i}.png"))));
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        let mut r: kindling::app::sweep::Results = serde_json::from_str(&out.stdout).unwrap();
        for t in r.results.iter_mut() {
            t.seconds = 0.0;
        }
        serde_json::to_string(&r).unwrap()
    };
    assert_eq!(sweep(0), sweep(1), "two sweeps with the same seeds");

    let knn = || {
        let out = run(example("knn").args(["--dataset", "spiral", "--json", "--no-plots", "--seed", "5"]));
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        out.stdout
    };
    assert_eq!(knn(), knn(), "two knn runs with the same seed");
}

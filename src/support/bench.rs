//! Training and inference step timing for the speed benchmark (`examples/bench.rs`), on random
//! CIFAR-sized batches, for the architectures that `benches/pytorch_reference.py` rebuilds in
//! PyTorch.

use crate::data::DatasetName;
use crate::models::{Activation, CnnConfig, ConvBlock, InitKind, ModelConfig, ModelKind, Network, Pool};
use crate::optim::{GroupedOptimizer, OptimizerConfig, OptimizerKind};
use crate::Result;
use candle_core::{Device, ModuleT, Tensor};
use serde::Serialize;
use std::time::Instant;

/// The benchmarked architectures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BenchModel {
    /// Linear 3072 → 10.
    Linear,
    /// MLP 3072-512-10, ReLU.
    Mlp,
    /// conv 3→64 k5 p2, ReLU, maxpool 2; conv 64→128 k5 p2, ReLU, maxpool 2; conv 128→256 k3 p1,
    /// ReLU, maxpool 2; fc 4096→256, ReLU; fc 256→10.
    Cnn,
    /// kindling's default CIFAR-10 CNN (`train --dataset cifar10 --model cnn`).
    KindlingCnn,
    /// The airbench94 recipe's network (`train --recipe airbench94`), trained with its SGD
    /// (Nesterov, parameter groups, label smoothing 0.2); batch 1,024 in the recipe.
    Airbench94,
}

/// The model configuration of a benchmarked architecture.
pub fn config(model: BenchModel) -> ModelConfig {
    let shape = [3, 32, 32];
    match model {
        BenchModel::Linear => {
            crate::presets::defaults::architecture(DatasetName::Cifar10, ModelKind::Linear).config(shape, 10)
        }
        BenchModel::Mlp => ModelConfig::Mlp(crate::models::MlpConfig {
            input_shape: shape,
            hidden: vec![512],
            classes: 10,
            activation: Activation::Relu,
            dropout: 0.0,
            batch_norm: false,
            init: InitKind::Kaiming,
        }),
        BenchModel::Cnn => {
            let block =
                |channels, kernel| ConvBlock { channels, kernel, stride: 1, padding: kernel / 2, pool: Pool::Max };
            ModelConfig::Cnn(CnnConfig {
                input_shape: shape,
                classes: 10,
                blocks: vec![block(64, 5), block(128, 5), block(256, 3)],
                batch_norm: false,
                activation: Activation::Relu,
                fc: vec![256],
                dropout: 0.0,
                extras: Default::default(),
            })
        }
        BenchModel::KindlingCnn => {
            crate::presets::defaults::architecture(DatasetName::Cifar10, ModelKind::Cnn).config(shape, 10)
        }
        BenchModel::Airbench94 => crate::presets::airbench94::network().config(shape, 10),
    }
}

/// Timing of one benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    /// The architecture.
    pub model: BenchModel,
    /// Training step (forward, backward, AdamW) or inference (forward only).
    pub mode: &'static str,
    /// Images per step.
    pub batch_size: usize,
    /// Median step time.
    pub median_ms: f64,
    /// `batch_size / median`.
    pub images_per_s: f64,
    /// Peak resident memory of the process (MB).
    pub peak_rss_mb: f64,
    /// Multiply-accumulates of one image's forward pass.
    pub macs_per_image: usize,
    /// Nominal floating-point rate: 2 FLOPs per multiply-accumulate, and three passes' worth per
    /// training image (forward, input gradient, weight gradient), one per inference image.
    pub gflops: f64,
}

/// The f32 matrix-product rate of this machine, GFLOP/s: the median of `reps` products of two
/// `n × n` matrices with the `gemm` crate (the kernels candle and kindling use) on `threads`
/// threads. The ceiling that a step's [`BenchResult::gflops`] is a fraction of.
pub fn gemm_peak(n: usize, threads: usize, reps: usize) -> f64 {
    let a: Vec<f32> = (0..n * n).map(|i| (i % 17) as f32 * 0.01).collect();
    let b: Vec<f32> = (0..n * n).map(|i| (i % 13) as f32 * 0.01).collect();
    let mut c = vec![0f32; n * n];
    let parallelism = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    let mut times = vec![];
    for i in 0..reps + 2 {
        let t0 = Instant::now();
        // SAFETY: a, b and c are n × n row-major (column stride 1, row stride n), as passed.
        unsafe {
            gemm::gemm(
                n,
                n,
                n,
                c.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.as_ptr(),
                1,
                n as isize,
                b.as_ptr(),
                1,
                n as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
        }
        if i >= 2 {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    2.0 * (n * n * n) as f64 / times[times.len() / 2] / 1e9
}

/// Peak resident set size of this process in MB (Linux), NaN elsewhere.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Times `steps` training steps (or inference passes) after 3 warm-up steps. Training steps use
/// AdamW (weight decay 0.01, plain cross-entropy), except [`BenchModel::Airbench94`]'s, which use
/// the recipe's optimizer and loss.
pub fn run(model: BenchModel, batch_size: usize, steps: usize, infer: bool, device: &Device) -> Result<BenchResult> {
    let network = Network::new(&config(model), 0, device)?;
    let named = network.trainable();
    let net = network.model;
    let (mut opt, label_smoothing) = if model == BenchModel::Airbench94 {
        let t = crate::presets::airbench94::training();
        (GroupedOptimizer::new(&t.optimizer, &t.groups, named)?, t.label_smoothing)
    } else {
        let adamw = OptimizerConfig { weight_decay: 0.01, ..OptimizerConfig::new(OptimizerKind::Adamw, 1e-3) };
        (GroupedOptimizer::new(&adamw, &[], named)?, 0.0)
    };
    let xs = Tensor::randn(0f32, 1.0, (batch_size, 3, 32, 32), device)?;
    let ys = Tensor::from_vec((0..batch_size as u32).map(|i| i % 10).collect::<Vec<_>>(), batch_size, device)?;
    let mut times = vec![];
    for i in 0..steps + 3 {
        let t0 = Instant::now();
        if infer {
            let logits = net.forward_t(&xs, false)?;
            logits.argmax(1)?.to_vec1::<u32>()?;
        } else {
            let logits = net.forward_t(&xs, true)?;
            let loss = crate::loss::data_loss(crate::loss::LossKind::Softmax, &logits, &ys, label_smoothing)?;
            let grads = loss.backward()?;
            opt.step(&grads, 0)?;
            loss.to_scalar::<f32>()?; // waits for the device
        }
        if i >= 3 {
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    times.sort_by(f64::total_cmp);
    let median_ms = times[times.len() / 2];
    let macs_per_image = config(model).macs()?;
    let images_per_s = batch_size as f64 / median_ms * 1e3;
    let passes = if infer { 1.0 } else { 3.0 };
    Ok(BenchResult {
        macs_per_image,
        gflops: images_per_s * macs_per_image as f64 * 2.0 * passes / 1e9,
        model,
        mode: if infer { "inference" } else { "train" },
        batch_size,
        median_ms,
        images_per_s,
        peak_rss_mb: peak_rss_mb(),
    })
}

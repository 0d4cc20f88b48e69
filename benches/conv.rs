//! Forward and forward+backward time of [`kindling::ops::conv2d`] against candle's own `conv2d`
//! (plus bias), on the layer shapes of a CIFAR-10 CNN with batch 128, on the CPU; and of
//! [`kindling::ops::max_pool2d`] against candle's pool.
//!
//! `cargo bench --bench conv [-- ITERATIONS]` (default 5, after one warm-up; medians printed).
//!
//! The first layer's input is the image batch, a plain tensor: kindling skips its gradient, candle
//! computes it anyway. The deeper layers' inputs are Vars, as inside a network, so both compute
//! the input gradient there.
//!
//! The backward pass is driven by the loss `Σ y·r`, whose own graph (a product, a sum and their
//! backward passes, over tensors as large as the output) costs the same for both; it is timed
//! alone and subtracted to give the convolution's own backward time. mimalloc is the allocator,
//! as in the examples: with the system allocator every large tensor is a fresh `mmap`, and page
//! faults dominate both columns.

use std::time::Instant;

use anyhow::Result;
use candle_core::{Device, Tensor, Var};
use rand::{rngs::StdRng, Rng, SeedableRng};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One convolution layer to time.
struct Layer {
    name: &'static str,
    xs: [usize; 4],
    out: usize,
    kernel: usize,
    pad: usize,
    input_is_var: bool,
}

const LAYERS: [Layer; 3] = [
    Layer {
        name: "conv 3->64 k5 p2, 128x3x32x32",
        xs: [128, 3, 32, 32],
        out: 64,
        kernel: 5,
        pad: 2,
        input_is_var: false,
    },
    Layer {
        name: "conv 64->128 k5 p2, 128x64x16x16",
        xs: [128, 64, 16, 16],
        out: 128,
        kernel: 5,
        pad: 2,
        input_is_var: true,
    },
    Layer {
        name: "conv 128->256 k3 p1, 128x128x8x8",
        xs: [128, 128, 8, 8],
        out: 256,
        kernel: 3,
        pad: 1,
        input_is_var: true,
    },
];

fn random(rng: &mut StdRng, dims: &[usize], scale: f32) -> Result<Tensor> {
    let len = dims.iter().product();
    let v: Vec<f32> = (0..len).map(|_| rng.random_range(-scale..scale)).collect();
    Ok(Tensor::from_vec(v, dims, &Device::Cpu)?)
}

/// Median wall time of `f` in milliseconds, over `iters` runs after one warm-up.
fn median_ms(iters: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

type Conv = dyn Fn(&Tensor, &Tensor, &Tensor, usize) -> Result<Tensor>;

/// Forward, then forward + backward of the loss `Σ y·r`, in ms.
fn time_conv(iters: usize, conv: &Conv, xs: &Tensor, w: &Var, b: &Var, r: &Tensor, pad: usize) -> Result<(f64, f64)> {
    let fwd = median_ms(iters, || {
        conv(xs, w, b, pad)?;
        Ok(())
    })?;
    let both = median_ms(iters, || {
        let grads = (conv(xs, w, b, pad)? * r)?.sum_all()?.backward()?;
        assert!(grads.get(w).is_some());
        Ok(())
    })?;
    Ok((fwd, both))
}

fn main() -> Result<()> {
    kindling::support::startup::startup();
    // cargo passes `--bench`; the only other argument is the iteration count.
    let iters = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(5);
    println!("{} rayon threads, median of {iters} runs, ms", rayon::current_num_threads());
    println!(
        "{:<34} {:>9} {:>9} {:>6} | {:>9} {:>9} {:>6} | {:>6} | {:>9} {:>9} {:>6}",
        "", "ours fwd", "candle", "ratio", "ours f+b", "candle", "ratio", "loss", "ours bwd", "candle", "ratio"
    );
    let mut rng = StdRng::seed_from_u64(0);
    let ours: &Conv = &|xs, w, b, pad| Ok(kindling::ops::conv2d(xs, w, b, 1, pad)?);
    let theirs: &Conv = &|xs, w, b, pad| Ok(xs.conv2d(w, pad, 1, 1, 1)?.broadcast_add(&b.reshape((1, (), 1, 1))?)?);
    for layer in &LAYERS {
        let [n, c, h, wd] = layer.xs;
        let plain = random(&mut rng, &layer.xs, 1.0)?;
        let var = Var::from_tensor(&plain)?;
        let xs = if layer.input_is_var { var.as_tensor() } else { &plain };
        let w = Var::from_tensor(&random(&mut rng, &[layer.out, c, layer.kernel, layer.kernel], 0.1)?)?;
        let b = Var::from_tensor(&random(&mut rng, &[layer.out], 0.1)?)?;
        let r = random(&mut rng, &[n, layer.out, h, wd], 1.0)?;
        let (of, ob) = time_conv(iters, ours, xs, &w, &b, &r, layer.pad)?;
        let (tf, tb) = time_conv(iters, theirs, xs, &w, &b, &r, layer.pad)?;
        let ys = Var::from_tensor(&r.affine(0.5, 0.0)?)?;
        let loss = median_ms(iters, || {
            (ys.as_tensor() * &r)?.sum_all()?.backward()?;
            Ok(())
        })?;
        let (obw, tbw) = (ob - of - loss, tb - tf - loss);
        println!(
            "{:<34} {of:>9.1} {tf:>9.1} {:>5.2}x | {ob:>9.1} {tb:>9.1} {:>5.2}x | {loss:>6.1} | {obw:>9.1} {tbw:>9.1} {:>5.2}x",
            layer.name,
            tf / of,
            tb / ob,
            tbw / obw
        );
    }

    // The 3x3 layers of the airbench94 recipe's network (batch 128): Winograd F(2x2, 3x3) against
    // kindling's own im2col + GEMM, forward and forward + backward (input and weight gradients;
    // `im2col-dw`: the weight gradient by im2col, `all`: by Winograd too, the default).
    println!(
        "\n{:<34} {:>9} {:>9} {:>6} | {:>9} {:>9} {:>9} {:>6} {:>6}",
        "", "winograd", "im2col", "ratio", "im2col-dw", "all f+b", "im2col", "dw", "all"
    );
    for (c, o, side) in [(24, 64, 31), (64, 64, 15), (64, 256, 15), (256, 256, 7), (256, 256, 3)] {
        let xs = Var::from_tensor(&random(&mut rng, &[128, c, side, side], 1.0)?)?;
        let w = Var::from_tensor(&random(&mut rng, &[o, c, 3, 3], 0.1)?)?;
        let b = Var::from_tensor(&random(&mut rng, &[o], 0.1)?)?;
        let r = random(&mut rng, &[128, o, side, side], 1.0)?;
        let with = |a: kindling::ops::Algorithm| -> Result<(f64, f64)> {
            let conv: &Conv = &move |xs, w, b, pad| Ok(kindling::ops::conv2d_with(xs, w, b, 1, pad, a)?);
            time_conv(iters, conv, xs.as_tensor(), &w, &b, &r, 1)
        };
        let (wf, wb) = with(kindling::ops::Algorithm::Im2colWeightGradient)?;
        let (_, ab) = with(kindling::ops::Algorithm::Auto)?;
        let (i_f, ib) = with(kindling::ops::Algorithm::Im2col)?;
        println!(
            "{:<34} {wf:>9.1} {i_f:>9.1} {:>5.2}x | {wb:>9.1} {ab:>9.1} {ib:>9.1} {:>5.2}x {:>5.2}x",
            format!("conv {c}->{o} k3 p1, 128x{c}x{side}x{side}"),
            i_f / wf,
            ib / wb,
            ib / ab
        );
    }

    // Max pooling: 2x2/2 against candle; 3x3/2, which candle cannot differentiate, alone.
    let xs = Var::from_tensor(&random(&mut rng, &[128, 64, 32, 32], 1.0)?)?;
    let pool_step = |pool: &dyn Fn(&Tensor) -> Result<Tensor>| {
        median_ms(iters, || {
            let ys = pool(&xs)?;
            let grads = ys.sum_all()?.backward()?;
            assert!(grads.get(&xs).is_some());
            Ok(())
        })
    };
    let ours = pool_step(&|x| Ok(kindling::ops::max_pool2d(x, 2, 2)?))?;
    let theirs = pool_step(&|x| Ok(x.max_pool2d(2)?))?;
    let overlapping = pool_step(&|x| Ok(kindling::ops::max_pool2d(x, 3, 2)?))?;
    println!("{:<34} {:>26} | {ours:>9.1} {theirs:>9.1} {:>5.2}x |", "max pool 2x2/2, 128x64x32x32", "", theirs / ours);
    println!("{:<34} {:>26} | {overlapping:>9.1} {:>9} {:>6} |", "max pool 3x3/2, 128x64x32x32", "", "n/a", "");
    Ok(())
}

//! kindling's own ops ([`kindling::ops`]) against candle's and against centred finite differences:
//! values, gradients, which gradients are computed at all, and bad inputs.

use anyhow::Result;
use candle_core::{Device, Tensor, Var};
use kindling::ops::{conv2d, max_pool2d};
use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};

/// One convolution to check.
#[derive(Debug, Clone, Copy)]
struct Case {
    n: usize,
    c: usize,
    o: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    pad: usize,
}

const fn case(
    n: usize,
    c: usize,
    o: usize,
    (h, w): (usize, usize),
    (kh, kw): (usize, usize),
    stride: usize,
    pad: usize,
) -> Case {
    Case { n, c, o, h, w, kh, kw, stride, pad }
}

/// Odd, even and rectangular images and kernels, strides 1-3, paddings 0-2, batches and channels.
const VALUE_CASES: [Case; 11] = [
    case(2, 3, 4, (7, 9), (3, 3), 1, 1),
    case(3, 2, 5, (8, 5), (3, 2), 2, 0),
    case(1, 4, 3, (11, 6), (5, 3), 3, 2),
    case(2, 1, 2, (5, 12), (2, 4), 1, 2),
    case(4, 6, 8, (9, 9), (3, 3), 2, 1),
    case(2, 3, 7, (6, 10), (1, 1), 1, 0),
    case(2, 5, 4, (13, 7), (4, 5), 3, 1),
    case(1, 2, 3, (2, 3), (3, 3), 1, 1),
    case(2, 3, 2, (4, 4), (3, 3), 3, 2),
    // Big enough that the unfolded input is split into several bands of output rows.
    case(2, 16, 16, (40, 33), (5, 5), 1, 2),
    case(3, 64, 8, (16, 16), (5, 5), 1, 2),
];

/// Small enough for finite differences over every element.
const GRAD_CASES: [Case; 6] = [
    case(2, 2, 3, (5, 6), (3, 2), 1, 1),
    case(2, 3, 2, (7, 5), (3, 3), 2, 1),
    case(1, 2, 2, (8, 7), (2, 3), 3, 2),
    case(3, 1, 2, (4, 4), (3, 3), 1, 0),
    case(2, 2, 2, (6, 9), (1, 4), 2, 0),
    case(1, 3, 2, (3, 5), (4, 2), 1, 2),
];

fn random(rng: &mut StdRng, dims: &[usize]) -> Result<Tensor> {
    let len = dims.iter().product();
    let v: Vec<f32> = (0..len).map(|_| rng.random_range(-1.0..1.0)).collect();
    Ok(Tensor::from_vec(v, dims, &Device::Cpu)?)
}

/// Random values with no two alike (a shuffled ramp with gaps of 0.01), so that no pooling
/// window has a tie.
fn distinct(rng: &mut StdRng, dims: &[usize]) -> Result<Tensor> {
    let len: usize = dims.iter().product();
    let mut v: Vec<f32> = (0..len).map(|i| i as f32 * 0.01 - len as f32 * 0.005).collect();
    v.shuffle(rng);
    Ok(Tensor::from_vec(v, dims, &Device::Cpu)?)
}

fn flat(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.flatten_all()?.to_vec1::<f32>()?)
}

/// `max |got - want| <= rtol * max |want|`.
fn assert_close(got: &Tensor, want: &Tensor, rtol: f32, what: &str) -> Result<()> {
    assert_eq!(got.dims(), want.dims(), "{what}: shapes");
    let (g, w) = (flat(got)?, flat(want)?);
    let scale = w.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    let worst = g.iter().zip(&w).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst <= rtol * scale, "{what}: max |diff| {worst} > {rtol} x max |want| {scale}");
    Ok(())
}

/// The tensors of a case: input, weights, bias, and the fixed weights `r` of the loss `Σ y·r`.
struct Inputs {
    xs: Tensor,
    w: Tensor,
    b: Tensor,
    r: Tensor,
}

impl Inputs {
    fn new(k: &Case, seed: u64) -> Result<Self> {
        let mut rng = StdRng::seed_from_u64(seed);
        let xs = random(&mut rng, &[k.n, k.c, k.h, k.w])?;
        let w = random(&mut rng, &[k.o, k.c, k.kh, k.kw])?;
        let b = random(&mut rng, &[k.o])?;
        let ho = (k.h + 2 * k.pad - k.kh) / k.stride + 1;
        let wo = (k.w + 2 * k.pad - k.kw) / k.stride + 1;
        let r = random(&mut rng, &[k.n, k.o, ho, wo])?;
        Ok(Self { xs, w, b, r })
    }
}

fn candle_conv(xs: &Tensor, w: &Tensor, b: &Tensor, k: &Case) -> Result<Tensor> {
    let o = w.dim(0)?;
    Ok(xs.conv2d(w, k.pad, k.stride, 1, 1)?.broadcast_add(&b.reshape((1, o, 1, 1))?)?)
}

/// `Σ y·r`, summed in f64 so that finite differences are not drowned in rounding.
fn weighted_sum(ys: &Tensor, r: &Tensor) -> Result<f64> {
    Ok(flat(ys)?.iter().zip(flat(r)?).map(|(&y, r)| y as f64 * r as f64).sum())
}

/// Centred differences of `loss` with respect to each element of `t`.
fn finite_differences(t: &Tensor, eps: f32, loss: impl Fn(&Tensor) -> Result<f64>) -> Result<Tensor> {
    let base = flat(t)?;
    let mut grad = Vec::with_capacity(base.len());
    for i in 0..base.len() {
        let at = |delta: f32| {
            let mut v = base.clone();
            v[i] += delta;
            loss(&Tensor::from_vec(v, t.shape(), t.device())?)
        };
        grad.push(((at(eps)? - at(-eps)?) / (2.0 * eps as f64)) as f32);
    }
    Ok(Tensor::from_vec(grad, t.shape(), t.device())?)
}

#[test]
fn conv2d_matches_candle_forward() -> Result<()> {
    for (i, k) in VALUE_CASES.iter().enumerate() {
        let t = Inputs::new(k, i as u64)?;
        let ours = conv2d(&t.xs, &t.w, &t.b, k.stride, k.pad)?;
        let theirs = candle_conv(&t.xs, &t.w, &t.b, k)?;
        assert_close(&ours, &theirs, 1e-5, &format!("{k:?}"))?;
    }
    Ok(())
}

#[test]
fn conv2d_reads_non_contiguous_inputs() -> Result<()> {
    let k = case(2, 3, 4, (7, 9), (3, 2), 2, 1);
    let t = Inputs::new(&k, 7)?;
    // The same values laid out [N, C, W, H] and [O, C, kw, kh], then viewed transposed.
    let xs_t = t.xs.transpose(2, 3)?.contiguous()?.transpose(2, 3)?;
    let w_t = t.w.transpose(2, 3)?.contiguous()?.transpose(2, 3)?;
    assert!(!xs_t.is_contiguous() && !w_t.is_contiguous());
    let b_wide = Tensor::stack(&[&t.b, &t.b], 1)?.narrow(1, 0, 1)?.squeeze(1)?;
    assert!(!b_wide.is_contiguous());
    let ours = conv2d(&xs_t, &w_t, &b_wide, k.stride, k.pad)?;
    assert_close(&ours, &candle_conv(&t.xs, &t.w, &t.b, &k)?, 1e-5, "strided inputs")?;
    Ok(())
}

#[test]
fn conv2d_gradients_match_finite_differences() -> Result<()> {
    for (i, k) in GRAD_CASES.iter().enumerate() {
        let t = Inputs::new(k, 100 + i as u64)?;
        let (xs, w, b) = (Var::from_tensor(&t.xs)?, Var::from_tensor(&t.w)?, Var::from_tensor(&t.b)?);
        let grads = (conv2d(&xs, &w, &b, k.stride, k.pad)? * &t.r)?.sum_all()?.backward()?;
        let loss = |xs: &Tensor, w: &Tensor, b: &Tensor| weighted_sum(&conv2d(xs, w, b, k.stride, k.pad)?, &t.r);
        // The loss is linear in each argument, so a large step costs no accuracy.
        let eps = 0.25;
        let dx = finite_differences(&t.xs, eps, |x| loss(x, &t.w, &t.b))?;
        let dw = finite_differences(&t.w, eps, |w| loss(&t.xs, w, &t.b))?;
        let db = finite_differences(&t.b, eps, |b| loss(&t.xs, &t.w, b))?;
        assert_close(grads.get(&xs).unwrap(), &dx, 1e-4, &format!("dx {k:?}"))?;
        assert_close(grads.get(&w).unwrap(), &dw, 1e-4, &format!("dw {k:?}"))?;
        assert_close(grads.get(&b).unwrap(), &db, 1e-4, &format!("db {k:?}"))?;
    }
    Ok(())
}

#[test]
fn conv2d_backward_handles_odd_rectangles() -> Result<()> {
    // 8x9 with stride 2: candle 0.11 derives the transposed convolution's output padding from
    // the height alone (1 here), so its input gradient comes out 10 wide and its backward fails
    // with "shape mismatch in add, lhs: [2, 2, 8, 9], rhs: [2, 2, 8, 10]".
    let k = case(2, 2, 3, (8, 9), (3, 3), 2, 1);
    let t = Inputs::new(&k, 150)?;
    let xs = Var::from_tensor(&t.xs)?;
    let grads = (conv2d(&xs, &t.w, &t.b, k.stride, k.pad)? * &t.r)?.sum_all()?.backward()?;
    let dx = finite_differences(&t.xs, 0.25, |x| weighted_sum(&conv2d(x, &t.w, &t.b, k.stride, k.pad)?, &t.r))?;
    assert_close(grads.get(&xs).unwrap(), &dx, 1e-4, "dx")?;
    Ok(())
}

#[test]
fn conv2d_gradients_match_candle_on_square_shapes() -> Result<()> {
    // Square images and kernels, where candle 0.11's own backward pass works.
    let cases = [
        case(2, 3, 4, (8, 8), (3, 3), 1, 1),
        case(3, 4, 5, (9, 9), (3, 3), 2, 1),
        case(2, 2, 3, (10, 10), (5, 5), 1, 2),
        case(4, 8, 6, (16, 16), (5, 5), 1, 2),
        case(2, 5, 2, (7, 7), (2, 2), 3, 0),
    ];
    for (i, k) in cases.iter().enumerate() {
        let t = Inputs::new(k, 200 + i as u64)?;
        let run = |conv: &dyn Fn(&Tensor, &Tensor, &Tensor) -> Result<Tensor>| -> Result<Vec<Tensor>> {
            let (xs, w, b) = (Var::from_tensor(&t.xs)?, Var::from_tensor(&t.w)?, Var::from_tensor(&t.b)?);
            let grads = (conv(&xs, &w, &b)? * &t.r)?.sum_all()?.backward()?;
            Ok([xs, w, b].iter().map(|v| grads.get(v).unwrap().clone()).collect())
        };
        let ours = run(&|xs, w, b| Ok(conv2d(xs, w, b, k.stride, k.pad)?))?;
        let theirs = run(&|xs, w, b| candle_conv(xs, w, b, k))?;
        for ((o, t), name) in ours.iter().zip(&theirs).zip(["dx", "dw", "db"]) {
            assert_close(o, t, 1e-5, &format!("{name} {k:?}"))?;
        }
    }
    Ok(())
}

/// The 3×3 convolutions of the airbench94 network on CIFAR-10 (`train --recipe airbench94`), as
/// `(input channels, output channels, side)` from the network's own shapes.
fn airbench94_convs() -> Vec<(usize, usize, usize)> {
    use kindling::models::ModelConfig;
    let ModelConfig::Cnn(cfg) = kindling::presets::airbench94::network().config([3, 32, 32], 10) else {
        panic!("airbench94 is a CNN")
    };
    let shapes = cfg.shapes().unwrap(); // shapes[i]: block i's input (after the 2×2 whitening)
    cfg.blocks.iter().enumerate().map(|(i, b)| (shapes[i][0], b.channels, shapes[i][1])).collect()
}

/// kindling's Winograd convolutions (every one of airbench94's has at least 8 channels in and out)
/// against candle's `conv2d` and its backward pass: F(4×4, 3×3) forward and input gradient with
/// F(2×2, 3×3) weight gradient (the default), and F(2×2, 3×3) throughout; within 5e-5 and 1e-5
/// of the largest value, the bounds `src/ops/winograd/` documents.
#[test]
fn winograd_matches_candle_on_airbench94_shapes() -> Result<()> {
    use kindling::ops::{conv2d_with, Algorithm};
    let convs = airbench94_convs();
    assert_eq!(convs, [(24, 64, 31), (64, 64, 15), (64, 256, 15), (256, 256, 7), (256, 256, 7), (256, 256, 3)]);
    for (i, &(c, o, side)) in convs.iter().enumerate() {
        let k = case(2, c, o, (side, side), (3, 3), 1, 1);
        let t = Inputs::new(&k, 300 + i as u64)?;
        let grads = |conv: &dyn Fn(&Tensor, &Tensor, &Tensor) -> Result<Tensor>| -> Result<Vec<Tensor>> {
            let (xs, w, b) = (Var::from_tensor(&t.xs)?, Var::from_tensor(&t.w)?, Var::from_tensor(&t.b)?);
            let ys = conv(&xs, &w, &b)?;
            let g = (&ys * &t.r)?.sum_all()?.backward()?;
            Ok([&xs, &w, &b].iter().map(|v| g.get(v).unwrap().clone()).chain([ys]).collect())
        };
        let want = grads(&|xs, w, b| candle_conv(xs, w, b, &k))?;
        for (algorithm, rtol) in [(Algorithm::Auto, 5e-5), (Algorithm::WinogradF2, 1e-5)] {
            let got = grads(&|xs, w, b| Ok(conv2d_with(xs, w, b, 1, 1, algorithm)?))?;
            for ((g, w), name) in got.iter().zip(&want).zip(["dx", "dw", "db", "forward"]) {
                let tol = if name == "dw" { 1e-5 } else { rtol };
                assert_close(g, w, tol, &format!("{name}, {algorithm:?}, {c} -> {o} channels at {side}x{side}"))?;
            }
        }
    }
    Ok(())
}

#[test]
fn conv2d_skips_the_input_gradient_of_a_plain_tensor() -> Result<()> {
    let k = case(2, 3, 4, (6, 7), (3, 3), 1, 1);
    let t = Inputs::new(&k, 300)?;
    let (w, b) = (Var::from_tensor(&t.w)?, Var::from_tensor(&t.b)?);
    let grads = (conv2d(&t.xs, &w, &b, k.stride, k.pad)? * &t.r)?.sum_all()?.backward()?;
    assert!(grads.get(&t.xs).is_none(), "the image batch needs no gradient");
    assert!(grads.get(&w).is_some() && grads.get(&b).is_some());

    // And a frozen weight gets none either, while the input does.
    let xs = Var::from_tensor(&t.xs)?;
    let grads = (conv2d(&xs, &t.w, &b, k.stride, k.pad)? * &t.r)?.sum_all()?.backward()?;
    assert!(grads.get(&t.w).is_none());
    assert!(grads.get(&xs).is_some() && grads.get(&b).is_some());
    Ok(())
}

#[test]
fn conv2d_computes_the_input_gradient_of_a_var() -> Result<()> {
    let k = case(2, 3, 4, (6, 6), (3, 3), 1, 1);
    let t = Inputs::new(&k, 301)?;
    let (xs, w, b) = (Var::from_tensor(&t.xs)?, Var::from_tensor(&t.w)?, Var::from_tensor(&t.b)?);
    let grads = (conv2d(&xs, &w, &b, k.stride, k.pad)? * &t.r)?.sum_all()?.backward()?;
    let dx = grads.get(&xs).expect("x is a Var");
    let want = (candle_conv(&xs, &t.w, &t.b, &k)? * &t.r)?.sum_all()?.backward()?;
    assert_close(dx, want.get(&xs).unwrap(), 1e-5, "dx")?;
    Ok(())
}

#[test]
fn conv2d_chains_through_a_two_layer_network() -> Result<()> {
    // The second layer's input is not a Var but depends on one: its gradient must flow back.
    let mut rng = StdRng::seed_from_u64(400);
    let xs = random(&mut rng, &[3, 2, 9, 9])?;
    let (w1, b1) = (random(&mut rng, &[4, 2, 3, 3])?, random(&mut rng, &[4])?);
    let (w2, b2) = (random(&mut rng, &[5, 4, 3, 3])?, random(&mut rng, &[5])?);
    let r = random(&mut rng, &[3, 5, 4, 4])?;
    // Gradients of w1, b1, w2, b2, and whether the image batch got one.
    type Conv<'a> = &'a dyn Fn(&Tensor, &Tensor, &Tensor, usize, usize) -> Result<Tensor>;
    let run = |conv: Conv| -> Result<(Vec<Tensor>, bool)> {
        let vars = [&w1, &b1, &w2, &b2].map(|t| Var::from_tensor(t).unwrap());
        let hidden = conv(&xs, &vars[0], &vars[1], 1, 1)?.relu()?; // [3, 4, 9, 9]
        let ys = conv(&hidden, &vars[2], &vars[3], 2, 0)?; // [3, 5, 4, 4]
        let grads = (ys * &r)?.sum_all()?.backward()?;
        Ok((vars.iter().map(|v| grads.get(v).unwrap().clone()).collect(), grads.get(&xs).is_some()))
    };
    let (ours, ours_dx) = run(&|xs, w, b, s, p| Ok(conv2d(xs, w, b, s, p)?))?;
    let (theirs, theirs_dx) =
        run(&|xs, w, b, s, p| Ok(xs.conv2d(w, p, s, 1, 1)?.broadcast_add(&b.reshape((1, (), 1, 1))?)?))?;
    for ((o, t), name) in ours.iter().zip(&theirs).zip(["w1", "b1", "w2", "b2"]) {
        assert_close(o, t, 1e-5, name)?;
    }
    assert!(!ours_dx, "kindling skips the image batch's gradient");
    // candle 0.11 computes (and stores) it although nothing asked for it: the work saved here.
    assert!(theirs_dx);
    Ok(())
}

#[test]
fn conv2d_rejects_bad_shapes() -> Result<()> {
    let dev = Device::Cpu;
    let xs = Tensor::zeros((2, 3, 8, 8), candle_core::DType::F32, &dev)?;
    let w = Tensor::zeros((4, 3, 3, 3), candle_core::DType::F32, &dev)?;
    let b = Tensor::zeros(4, candle_core::DType::F32, &dev)?;
    assert!(conv2d(&xs, &w, &b, 1, 1).is_ok());
    assert!(conv2d(&xs, &w.narrow(1, 0, 2)?, &b, 1, 1).is_err(), "channel mismatch");
    assert!(conv2d(&xs, &w, &b.narrow(0, 0, 3)?, 1, 1).is_err(), "bias length");
    assert!(conv2d(&xs.flatten_from(2)?, &w, &b, 1, 1).is_err(), "rank");
    assert!(conv2d(&xs, &w, &b, 0, 1).is_err(), "stride 0");
    assert!(conv2d(&xs.narrow(2, 0, 1)?, &w, &b, 1, 0).is_err(), "kernel larger than the image");
    Ok(())
}

#[test]
fn max_pool2d_matches_candle_forward() -> Result<()> {
    let mut rng = StdRng::seed_from_u64(500);
    for dims in [[2, 3, 8, 8], [2, 3, 13, 9], [1, 2, 7, 10], [3, 4, 27, 27]] {
        let xs = random(&mut rng, &dims)?;
        for (kernel, stride) in [(2, 2), (3, 2)] {
            let ours = max_pool2d(&xs, kernel, stride)?;
            let theirs = xs.max_pool2d_with_stride(kernel, stride)?;
            assert_eq!(flat(&ours)?, flat(&theirs)?, "{dims:?} {kernel}x{kernel}/{stride}");
        }
    }
    // Strided input.
    let xs = random(&mut rng, &[2, 3, 9, 7])?.transpose(2, 3)?;
    let ours = max_pool2d(&xs, 3, 2)?;
    assert_eq!(flat(&ours)?, flat(&xs.contiguous()?.max_pool2d_with_stride(3, 2)?)?);
    Ok(())
}

#[test]
fn max_pool2d_gradients_match_finite_differences() -> Result<()> {
    let mut rng = StdRng::seed_from_u64(600);
    for (dims, kernel, stride) in
        [([2, 2, 7, 9], 3, 2), ([1, 3, 8, 6], 2, 2), ([2, 1, 9, 9], 3, 1), ([1, 2, 10, 7], 2, 3)]
    {
        let xs = distinct(&mut rng, &dims)?;
        let ys = max_pool2d(&xs, kernel, stride)?;
        let r = random(&mut rng, ys.dims())?;
        let var = Var::from_tensor(&xs)?;
        let grads = (max_pool2d(&var, kernel, stride)? * &r)?.sum_all()?.backward()?;
        // Smaller than half the gap between any two inputs, so no window changes its argmax.
        let numeric = finite_differences(&xs, 0.004, |x| weighted_sum(&max_pool2d(x, kernel, stride)?, &r))?;
        assert_close(grads.get(&var).unwrap(), &numeric, 1e-3, &format!("{dims:?} {kernel}/{stride}"))?;
    }
    Ok(())
}

#[test]
fn max_pool2d_gradients_match_candle_for_2x2() -> Result<()> {
    let mut rng = StdRng::seed_from_u64(700);
    // Even sizes only: for an odd one candle 0.11 upsamples the pooled map back to the full odd
    // size with nearest-neighbour indices (row i reads i·(H/2)/H), which misplaces the gradient.
    for dims in [[2, 3, 8, 8], [2, 2, 10, 12], [1, 4, 6, 16]] {
        let xs = distinct(&mut rng, &dims)?;
        let r = random(&mut rng, &[dims[0], dims[1], dims[2] / 2, dims[3] / 2])?;
        let grad = |pool: &dyn Fn(&Tensor) -> Result<Tensor>| -> Result<Tensor> {
            let var = Var::from_tensor(&xs)?;
            let grads = (pool(&var)? * &r)?.sum_all()?.backward()?;
            Ok(grads.get(&var).unwrap().clone())
        };
        let ours = grad(&|x| Ok(max_pool2d(x, 2, 2)?))?;
        let theirs = grad(&|x| Ok(x.max_pool2d(2)?))?;
        // candle 0.11 multiplies the routed gradient by (maxima in the window) / kernel², where
        // it should divide by the number of maxima: without ties its gradient is a quarter of the
        // true one (the finite-difference test above pins ours). Same positions, scaled.
        let theirs_fixed = (theirs * 4.0)?;
        assert_eq!(flat(&ours)?, flat(&theirs_fixed)?, "{dims:?}");
    }
    Ok(())
}

#[test]
fn max_pool2d_routes_ties_to_the_first_maximum() -> Result<()> {
    // All equal: each 3x3 stride-2 window of a 5x5 plane sends its gradient to its top-left.
    let xs = Var::from_tensor(&Tensor::ones((1, 1, 5, 5), candle_core::DType::F32, &Device::Cpu)?)?;
    let r = Tensor::new(&[[[[1f32, 2.], [3., 4.]]]], &Device::Cpu)?;
    let grads = (max_pool2d(&xs, 3, 2)? * &r)?.sum_all()?.backward()?;
    let mut want = vec![0f32; 25];
    (want[0], want[2], want[10], want[12]) = (1., 2., 3., 4.);
    assert_eq!(flat(grads.get(&xs).unwrap())?, want);
    Ok(())
}

#[test]
fn ops_accept_other_dtypes() -> Result<()> {
    // f64: conv2d falls back to candle; max_pool2d converts to f32 and back. Values and
    // gradients agree with the f32 path and keep the caller's dtype.
    use candle_core::DType::{F32, F64};
    let k = case(2, 3, 4, (6, 6), (3, 3), 1, 1);
    let t = Inputs::new(&k, 800)?;
    let (x64, w64, b64) = (t.xs.to_dtype(F64)?, t.w.to_dtype(F64)?, t.b.to_dtype(F64)?);
    let y64 = conv2d(&x64, &w64, &b64, k.stride, k.pad)?;
    assert_eq!(y64.dtype(), F64);
    assert_close(&y64.to_dtype(F32)?, &conv2d(&t.xs, &t.w, &t.b, k.stride, k.pad)?, 1e-5, "conv2d f64")?;

    let mut rng = StdRng::seed_from_u64(801);
    let xs = distinct(&mut rng, &[2, 3, 9, 9])?;
    let r = random(&mut rng, &[2, 3, 4, 4])?;
    let grad = |x: &Tensor| -> Result<(Tensor, Tensor)> {
        let var = Var::from_tensor(x)?;
        let ys = max_pool2d(&var, 3, 2)?;
        let grads = (&ys * r.to_dtype(x.dtype())?)?.sum_all()?.backward()?;
        Ok((ys, grads.get(&var).unwrap().clone()))
    };
    let (y32, g32) = grad(&xs)?;
    let (y64, g64) = grad(&xs.to_dtype(F64)?)?;
    assert_eq!((y64.dtype(), g64.dtype()), (F64, F64));
    assert_eq!(flat(&y64.to_dtype(F32)?)?, flat(&y32)?);
    assert_eq!(flat(&g64.to_dtype(F32)?)?, flat(&g32)?);
    Ok(())
}

#[test]
fn max_pool2d_rejects_bad_shapes() -> Result<()> {
    let xs = Tensor::zeros((1, 2, 4, 4), candle_core::DType::F32, &Device::Cpu)?;
    assert!(max_pool2d(&xs, 5, 2).is_err(), "kernel larger than the image");
    assert!(max_pool2d(&xs, 2, 0).is_err(), "stride 0");
    assert!(max_pool2d(&xs.flatten_from(2)?, 2, 2).is_err(), "rank");
    Ok(())
}

/// candle's own `BatchNorm` in training mode and the gradients candle derives through it.
fn candle_batch_norm_train(xs: &Tensor, gamma: &Tensor, beta: &Tensor, r: &Tensor) -> Result<[Tensor; 4]> {
    use candle_core::ModuleT;
    let c = gamma.dim(0)?;
    let (x, g, b) = (Var::from_tensor(xs)?, Var::from_tensor(gamma)?, Var::from_tensor(beta)?);
    let rm = Tensor::zeros(c, candle_core::DType::F32, &Device::Cpu)?;
    let rv = Tensor::ones(c, candle_core::DType::F32, &Device::Cpu)?;
    let bn = candle_nn::BatchNorm::new(c, rm, rv, g.as_tensor().clone(), b.as_tensor().clone(), 1e-5)?;
    let ys = bn.forward_t(&x, true)?;
    let grads = (&ys * r)?.sum_all()?.backward()?;
    let get = |v: &Var| grads.get(v).unwrap().clone();
    Ok([ys, get(&x), get(&g), get(&b)])
}

/// Shapes of the MLP (`[N, C]`) and of the CNN, odd sizes included.
const BN_SHAPES: [&[usize]; 5] = [&[7, 5], &[2, 3, 5, 4], &[4, 16, 8, 8], &[3, 2, 1, 1], &[64, 33]];

#[test]
fn batch_norm_matches_candle_values_and_gradients() -> Result<()> {
    use kindling::ops::batch_norm_train;
    let mut rng = StdRng::seed_from_u64(700);
    for dims in BN_SHAPES {
        // Data far from 0 with a spread unlike 1, as a conv output is.
        let xs = ((random(&mut rng, dims)? * 3.0)? + 5.0)?;
        let c = dims[1];
        let (gamma, beta) = ((random(&mut rng, &[c])? + 1.5)?, random(&mut rng, &[c])?);
        let r = random(&mut rng, dims)?;
        let [want_y, want_dx, want_dg, want_db] = candle_batch_norm_train(&xs, &gamma, &beta, &r)?;
        let (x, g, b) = (Var::from_tensor(&xs)?, Var::from_tensor(&gamma)?, Var::from_tensor(&beta)?);
        let (ys, mean, var) = batch_norm_train(&x, &g, &b, 1e-5)?;
        let grads = (&ys * &r)?.sum_all()?.backward()?;
        let what = format!("{dims:?}");
        assert_close(&ys, &want_y, 1e-5, &format!("{what} y"))?;
        assert_close(grads.get(&x).unwrap(), &want_dx, 1e-4, &format!("{what} dx"))?;
        assert_close(grads.get(&g).unwrap(), &want_dg, 1e-4, &format!("{what} dgamma"))?;
        assert_close(grads.get(&b).unwrap(), &want_db, 1e-5, &format!("{what} dbeta"))?;
        // The statistics returned are the batch's, over N and the spatial dimensions.
        let per_channel = xs.transpose(0, 1)?.contiguous()?.reshape((c, ()))?;
        assert_close(&mean, &per_channel.mean(1)?, 1e-5, &format!("{what} mean"))?;
        let want_var = per_channel.broadcast_sub(&per_channel.mean_keepdim(1)?)?.sqr()?.mean(1)?;
        assert_close(&var, &want_var, 1e-4, &format!("{what} var"))?;
    }
    Ok(())
}

#[test]
fn batch_norm_gradients_match_finite_differences() -> Result<()> {
    use kindling::ops::{batch_norm_eval, batch_norm_train};
    let mut rng = StdRng::seed_from_u64(701);
    for dims in [&[5, 3][..], &[2, 2, 3, 4]] {
        let xs = (random(&mut rng, dims)? * 2.0)?;
        let c = dims[1];
        let (gamma, beta) = ((random(&mut rng, &[c])? + 1.5)?, random(&mut rng, &[c])?);
        let (rmean, rvar) = (random(&mut rng, &[c])?, (random(&mut rng, &[c])? + 2.0)?);
        let r = random(&mut rng, dims)?;
        for train in [true, false] {
            let run = |x: &Tensor, g: &Tensor, b: &Tensor| -> Result<Tensor> {
                Ok(if train {
                    batch_norm_train(x, g, b, 1e-5)?.0
                } else {
                    batch_norm_eval(x, g, b, &rmean, &rvar, 1e-5)?
                })
            };
            let (x, g, b) = (Var::from_tensor(&xs)?, Var::from_tensor(&gamma)?, Var::from_tensor(&beta)?);
            let grads = (run(&x, &g, &b)? * &r)?.sum_all()?.backward()?;
            let what = format!("{dims:?} train={train}");
            let dx = finite_differences(&xs, 1e-2, |x| weighted_sum(&run(x, &gamma, &beta)?, &r))?;
            let dg = finite_differences(&gamma, 1e-2, |g| weighted_sum(&run(&xs, g, &beta)?, &r))?;
            let db = finite_differences(&beta, 1e-2, |b| weighted_sum(&run(&xs, &gamma, b)?, &r))?;
            assert_close(grads.get(&x).unwrap(), &dx, 2e-3, &format!("{what} dx"))?;
            assert_close(grads.get(&g).unwrap(), &dg, 2e-3, &format!("{what} dgamma"))?;
            assert_close(grads.get(&b).unwrap(), &db, 2e-3, &format!("{what} dbeta"))?;
        }
    }
    Ok(())
}

/// Batch norm with the activation inside the op gives the values and gradients of batch norm
/// followed by the separate activation op (ReLU, the exact GELU), in training and evaluation mode.
#[test]
fn batch_norm_with_a_fused_activation_matches_the_two_ops() -> Result<()> {
    use kindling::ops::NormActivation;
    use kindling::ops::{batch_norm_act_eval, batch_norm_act_train, batch_norm_eval, batch_norm_train, gelu};
    let mut rng = StdRng::seed_from_u64(702);
    for dims in BN_SHAPES {
        let xs = ((random(&mut rng, dims)? * 3.0)? + 1.0)?;
        let c = dims[1];
        let (gamma, beta) = ((random(&mut rng, &[c])? + 1.5)?, random(&mut rng, &[c])?);
        let (rmean, rvar) = (random(&mut rng, &[c])?, (random(&mut rng, &[c])? + 2.0)?);
        let r = random(&mut rng, dims)?;
        for (act, name) in [(NormActivation::Relu, "relu"), (NormActivation::Gelu, "gelu")] {
            let separate = |z: Tensor| if name == "relu" { z.relu() } else { gelu(&z) };
            for train in [true, false] {
                let (x, g, b) = (Var::from_tensor(&xs)?, Var::from_tensor(&gamma)?, Var::from_tensor(&beta)?);
                let (fused, want) = if train {
                    (batch_norm_act_train(&x, &g, &b, 1e-5, act)?.0, separate(batch_norm_train(&x, &g, &b, 1e-5)?.0)?)
                } else {
                    (
                        batch_norm_act_eval(&x, &g, &b, &rmean, &rvar, 1e-5, act)?,
                        separate(batch_norm_eval(&x, &g, &b, &rmean, &rvar, 1e-5)?)?,
                    )
                };
                let what = format!("{dims:?} {name} train={train}");
                assert_close(&fused, &want, 1e-6, &format!("{what} y"))?;
                let got = (&fused * &r)?.sum_all()?.backward()?;
                let want = (&want * &r)?.sum_all()?.backward()?;
                for (var, part) in [(&x, "dx"), (&g, "dgamma"), (&b, "dbeta")] {
                    let (got, want) = (got.get(var).unwrap(), want.get(var).unwrap());
                    assert_close(got, want, 1e-5, &format!("{what} {part}"))?;
                }
            }
        }
    }
    Ok(())
}

#[test]
fn batch_norm_layer_updates_running_statistics_as_pytorch() -> Result<()> {
    use candle_core::ModuleT;
    // PyTorch: running = 0.9 running + 0.1 batch, the variance unbiased (n / (n - 1)).
    let dev = Device::Cpu;
    let varmap = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&varmap, candle_core::DType::F32, &dev);
    let bn = kindling::models::BatchNorm::new(2, vb)?;
    // Channel 0: 1, 2, 3, 4 (mean 2.5, unbiased var 5/3); channel 1: all 7.
    let xs = Tensor::new(&[[[[1f32, 2.]], [[7., 7.]]], [[[3., 4.]], [[7., 7.]]]], &dev)?;
    let ys = bn.forward_t(&xs, true)?;
    let vars = varmap.data().lock().unwrap();
    let rm = vars["running_mean"].to_vec1::<f32>()?;
    let rv = vars["running_var"].to_vec1::<f32>()?;
    assert!((rm[0] - 0.25).abs() < 1e-6 && (rm[1] - 0.7).abs() < 1e-6, "{rm:?}");
    assert!((rv[0] - (0.9 + 0.1 * 5.0 / 3.0)).abs() < 1e-6 && (rv[1] - 0.9).abs() < 1e-6, "{rv:?}");
    // A constant channel normalizes to 0 (β), not NaN.
    assert_eq!(ys.get(0)?.get(1)?.flatten_all()?.to_vec1::<f32>()?, vec![0.0, 0.0]);
    // Evaluation mode uses the running statistics.
    let eval = bn.forward_t(&xs, false)?.flatten_all()?.to_vec1::<f32>()?;
    assert!((eval[0] - (1.0 - rm[0]) / (rv[0] + 1e-5).sqrt()).abs() < 1e-5, "{eval:?}");
    Ok(())
}

#[test]
fn batch_norm_rejects_bad_shapes() -> Result<()> {
    use kindling::ops::batch_norm_train;
    let dev = Device::Cpu;
    let g = Tensor::ones(3, candle_core::DType::F32, &dev)?;
    let xs = Tensor::zeros((4, 2, 5), candle_core::DType::F32, &dev)?;
    assert!(batch_norm_train(&xs, &g, &g, 1e-5).unwrap_err().to_string().contains("2 channels but gamma [3]"));
    let one = Tensor::zeros((1, 3), candle_core::DType::F32, &dev)?;
    assert!(batch_norm_train(&one, &g, &g, 1e-5).unwrap_err().to_string().contains("more than one value"));
    assert!(batch_norm_train(&g, &g, &g, 1e-5).is_err());
    Ok(())
}

#[test]
fn linear_matches_candle_values_and_gradients() -> Result<()> {
    use kindling::ops::linear;
    let mut rng = StdRng::seed_from_u64(800);
    // Tiny, odd, and big enough for the multi-threaded GEMM; fewer samples than outputs (x is
    // transposed first) and more (W is).
    for (n, d, o) in [(1, 1, 1), (3, 7, 5), (128, 3072, 10), (64, 300, 257), (128, 3072, 512), (40, 33, 17)] {
        let xs = random(&mut rng, &[n, d])?;
        let (w, b) = (random(&mut rng, &[o, d])?, random(&mut rng, &[o])?);
        let r = random(&mut rng, &[n, o])?;
        let (xv, wv, bv) = (Var::from_tensor(&xs)?, Var::from_tensor(&w)?, Var::from_tensor(&b)?);
        let want = xv.matmul(&wv.t()?)?.broadcast_add(&bv)?;
        let want_grads = (&want * &r)?.sum_all()?.backward()?;
        let got = linear(&xv, &wv, &bv)?;
        let grads = (&got * &r)?.sum_all()?.backward()?;
        let what = format!("[{n}, {d}] x [{o}, {d}]");
        assert_close(&got, &want, 1e-5, &what)?;
        for (v, name) in [(&xv, "dx"), (&wv, "dw"), (&bv, "db")] {
            assert_close(grads.get(v).unwrap(), want_grads.get(v).unwrap(), 1e-5, &format!("{what} {name}"))?;
        }
    }
    Ok(())
}

#[test]
fn linear_gradients_match_finite_differences_and_skip_plain_inputs() -> Result<()> {
    use kindling::ops::linear;
    let mut rng = StdRng::seed_from_u64(801);
    let (xs, w, b) = (random(&mut rng, &[4, 5])?, random(&mut rng, &[3, 5])?, random(&mut rng, &[3])?);
    let r = random(&mut rng, &[4, 3])?;
    let (wv, bv) = (Var::from_tensor(&w)?, Var::from_tensor(&b)?);
    let grads = (linear(&xs, &wv, &bv)? * &r)?.sum_all()?.backward()?;
    assert!(grads.get(&xs).is_none(), "the input batch gets no gradient");
    let dw = finite_differences(&w, 1e-2, |w| weighted_sum(&linear(&xs, w, &b)?, &r))?;
    let db = finite_differences(&b, 1e-2, |b| weighted_sum(&linear(&xs, &w, b)?, &r))?;
    assert_close(grads.get(&wv).unwrap(), &dw, 1e-3, "dw")?;
    assert_close(grads.get(&bv).unwrap(), &db, 1e-3, "db")?;
    // Non-contiguous inputs (a transposed view) are read correctly.
    let xt = random(&mut rng, &[5, 4])?.t()?;
    assert_close(&linear(&xt, &w, &b)?, &xt.matmul(&w.t()?)?.broadcast_add(&b)?, 1e-5, "transposed xs")?;
    assert!(linear(&xs, &random(&mut rng, &[3, 4])?, &b).unwrap_err().to_string().contains("does not fit"));
    Ok(())
}

//! Optimizer steps against PyTorch's optimizers on the same fixed problem.
//!
//! The reference numbers come from `tests/optim_reference.py` (PyTorch 2.15, float64): four steps
//! on `loss = Σ c·(p - t)^4 + (Σ p)^2` from the same starting point.

mod common;

use candle_core::{Tensor, Var};
use candle_nn::Optimizer;
use kindling::optim::*;

/// `Σ c·(p - t)^4 + (Σ p)^2`, the fixed problem of every test here, in `p`'s dtype.
fn problem_loss(p: &Var) -> Tensor {
    let dt = p.dtype();
    let dev = common::dev();
    let t = Tensor::new(&[[1.0f64, 0.0, -1.0], [0.5, -0.5, 2.0]], &dev).unwrap().to_dtype(dt).unwrap();
    let c = Tensor::new(&[[1.0f64, 2.0, 0.5], [3.0, 0.25, 1.0]], &dev).unwrap().to_dtype(dt).unwrap();
    let d = (p.as_tensor() - &t).unwrap();
    ((c * d.sqr().unwrap().sqr().unwrap()).unwrap().sum_all().unwrap()
        + p.as_tensor().sum_all().unwrap().sqr().unwrap())
    .unwrap()
}

fn run(mut step: impl FnMut(&candle_core::backprop::GradStore), p: &Var) -> Vec<f64> {
    for _ in 0..4 {
        step(&problem_loss(p).backward().unwrap());
    }
    p.as_tensor().flatten_all().unwrap().to_dtype(candle_core::DType::F64).unwrap().to_vec1::<f64>().unwrap()
}

fn start() -> Var {
    Var::from_tensor(&Tensor::new(&[[0.5f64, -1.0, 0.25], [1.5, 2.0, -0.75]], &common::dev()).unwrap()).unwrap()
}

fn assert_close(got: &[f64], want: &[f64], name: &str) {
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-9 * (1.0 + w.abs()), "{name}: got {got:?}, PyTorch {want:?}");
    }
}

fn check(cfg: OptimizerConfig, want: &[f64], name: &str) {
    let p = start();
    let mut opt = AnyOptimizer::new(&cfg, vec![NamedVar { name: "p".into(), var: p.clone() }]).unwrap();
    let got = run(|g| opt.step(g).unwrap(), &p);
    assert_close(&got, want, name);
}

fn cfg(kind: OptimizerKind, wd: f64) -> OptimizerConfig {
    OptimizerConfig { weight_decay: wd, ..OptimizerConfig::new(kind, 0.01) }
}

#[test]
fn sgd_matches_pytorch() {
    check(
        cfg(OptimizerKind::Sgd, 0.0),
        &[
            0.3230325476505131,
            -0.9193367173549924,
            -0.07215674522343608,
            1.0346746489967873,
            1.3445097369868946,
            0.5371672924586808,
        ],
        "sgd",
    );
    check(
        cfg(OptimizerKind::Sgd, 0.1),
        &[
            0.3217021557020847,
            -0.9163363047059271,
            -0.07229893664761806,
            1.0310250340862661,
            1.339211712435114,
            0.5369260139762536,
        ],
        "sgd weight decay",
    );
}

#[test]
fn momentum_and_nesterov_match_pytorch() {
    check(
        cfg(OptimizerKind::Momentum, 0.0),
        &[
            0.08510829369918853,
            -0.8385533728152804,
            -0.5022862662509531,
            0.3746710072456531,
            0.47968414299054274,
            2.5300913887795815,
        ],
        "momentum",
    );
    check(
        cfg(OptimizerKind::Nesterov, 0.0),
        &[
            0.005994860120570144,
            -0.8134672992502231,
            -0.6702527752289281,
            0.23315031141003156,
            0.25210965529971147,
            2.324289876806822,
        ],
        "nesterov",
    );
}

#[test]
fn rmsprop_matches_pytorch() {
    check(
        cfg(OptimizerKind::Rmsprop, 0.0),
        &[
            0.25151408773559947,
            -0.8180048391258605,
            -0.008247014540244943,
            1.2529754198435357,
            1.7361384630809205,
            -0.48578997435399357,
        ],
        "rmsprop",
    );
}

#[test]
fn adam_and_adamw_match_pytorch() {
    check(
        cfg(OptimizerKind::Adam, 0.1),
        &[
            0.46003952594256053,
            -0.9602033364197075,
            0.21003666881003288,
            1.4600590209314284,
            1.9600261929259724,
            -0.7100264701639277,
        ],
        "adam",
    );
    check(
        cfg(OptimizerKind::Adamw, 0.1),
        &[
            0.45810634658407956,
            -0.9563035711355619,
            0.20910007819729692,
            1.4541381488480314,
            1.9521034904398238,
            -0.7070929197209348,
        ],
        "adamw",
    );
}

#[test]
fn candle_optimizer_trait_entry_point() {
    // Built through `candle_nn::Optimizer::new`, as candle's own optimizers are.
    let p = start();
    let mut opt =
        Sgd::new(vec![p.clone()], SgdConfig { lr: 0.01, momentum: Momentum::Classic(0.9), weight_decay: 0.0 }).unwrap();
    let got = run(|g| opt.step(g).unwrap(), &p);
    assert_close(
        &got,
        &[
            0.08510829369918853,
            -0.8385533728152804,
            -0.5022862662509531,
            0.3746710072456531,
            0.47968414299054274,
            2.5300913887795815,
        ],
        "trait",
    );
}

#[test]
fn state_round_trip_continues_identically() {
    // Two steps, save state, restore into a fresh optimizer, two more: same as four in a row.
    let p = start();
    let c = cfg(OptimizerKind::Adam, 0.0);
    let mut a = AnyOptimizer::new(&c, vec![NamedVar { name: "p".into(), var: p.clone() }]).unwrap();
    let mut n = 0;
    let mut b: Option<AnyOptimizer> = None;
    let got = run(
        |g| {
            n += 1;
            if n <= 2 {
                a.step(g).unwrap();
                if n == 2 {
                    let state: std::collections::HashMap<_, _> = a.state().into_iter().collect();
                    let mut fresh = AnyOptimizer::new(&c, vec![NamedVar { name: "p".into(), var: p.clone() }]).unwrap();
                    fresh.load_state(&state).unwrap();
                    b = Some(fresh);
                }
            } else {
                b.as_mut().unwrap().step(g).unwrap();
            }
        },
        &p,
    );
    let p2 = start();
    let mut whole = AnyOptimizer::new(&c, vec![NamedVar { name: "p".into(), var: p2.clone() }]).unwrap();
    let want = run(|g| whole.step(g).unwrap(), &p2);
    assert_close(&got, &want, "resumed adam");
}

/// The same four steps in f32, where the CPU takes the fused in-place kernels.
fn check_f32(cfg: OptimizerConfig, want: &[f64], name: &str) {
    let p = Var::from_tensor(&start().as_tensor().to_dtype(candle_core::DType::F32).unwrap()).unwrap();
    let mut opt = AnyOptimizer::new(&cfg, vec![NamedVar { name: "p".into(), var: p.clone() }]).unwrap();
    let got = run(|g| opt.step(g).unwrap(), &p);
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 2e-5 * (1.0 + w.abs()), "{name} (f32, fused): got {got:?}, PyTorch {want:?}");
    }
}

#[test]
fn fused_f32_kernels_match_pytorch() {
    check_f32(
        cfg(OptimizerKind::Momentum, 0.0),
        &[
            0.08510829369918853,
            -0.8385533728152804,
            -0.5022862662509531,
            0.3746710072456531,
            0.47968414299054274,
            2.5300913887795815,
        ],
        "momentum",
    );
    check_f32(
        cfg(OptimizerKind::Nesterov, 0.0),
        &[
            0.005994860120570144,
            -0.8134672992502231,
            -0.6702527752289281,
            0.23315031141003156,
            0.25210965529971147,
            2.324289876806822,
        ],
        "nesterov",
    );
    check_f32(
        cfg(OptimizerKind::Rmsprop, 0.0),
        &[
            0.25151408773559947,
            -0.8180048391258605,
            -0.008247014540244943,
            1.2529754198435357,
            1.7361384630809205,
            -0.48578997435399357,
        ],
        "rmsprop",
    );
    check_f32(
        cfg(OptimizerKind::Adamw, 0.1),
        &[
            0.45810634658407956,
            -0.9563035711355619,
            0.20910007819729692,
            1.4541381488480314,
            1.9521034904398238,
            -0.7070929197209348,
        ],
        "adamw",
    );
}

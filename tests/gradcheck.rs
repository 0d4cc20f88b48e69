//! Autograd gradients of both losses, with L2 and L1 regularization, against centred finite
//! differences in f64.

mod common;

use candle_core::{DType, Tensor, Var};
use kindling::loss::{data_loss, regularization, LossKind, RegKind};

fn loss_of(kind: LossKind, reg: RegKind, w: &Var, b: &Var, xs: &Tensor, ys: &Tensor) -> Tensor {
    let logits = xs.matmul(&w.as_tensor().t().unwrap()).unwrap().broadcast_add(b.as_tensor()).unwrap();
    let l = data_loss(kind, &logits, ys, 0.0).unwrap();
    let r = regularization(reg, 0.05, std::slice::from_ref(w)).unwrap().unwrap();
    (l + r).unwrap()
}

fn check(kind: LossKind, reg: RegKind) {
    let dev = common::dev();
    // Fixed pseudo-random data; weights far enough from hinge kinks and from 0 (for L1).
    let xs =
        Tensor::from_vec((0..6 * 5).map(|i| ((i * 37 % 23) as f64 - 11.0) / 7.0).collect::<Vec<_>>(), (6, 5), &dev)
            .unwrap();
    let ys = Tensor::new(&[0u32, 2, 1, 3, 2, 0], &dev).unwrap();
    let w = Var::from_tensor(
        &Tensor::from_vec((0..4 * 5).map(|i| ((i * 53 % 29) as f64 - 14.3) / 9.0).collect::<Vec<_>>(), (4, 5), &dev)
            .unwrap(),
    )
    .unwrap();
    let b = Var::from_tensor(&Tensor::new(&[0.1f64, -0.2, 0.05, 0.3], &dev).unwrap()).unwrap();
    let loss = loss_of(kind, reg, &w, &b, &xs, &ys);
    let grads = loss.backward().unwrap();
    for var in [&w, &b] {
        let analytic = grads.get(var).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let base = var.as_tensor().flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let h = 1e-6;
        for i in 0..base.len() {
            let eval = |delta: f64| {
                let mut v = base.clone();
                v[i] += delta;
                var.set(&Tensor::from_vec(v, var.shape(), &dev).unwrap()).unwrap();
                loss_of(kind, reg, &w, &b, &xs, &ys).to_scalar::<f64>().unwrap()
            };
            let numeric = (eval(h) - eval(-h)) / (2.0 * h);
            var.set(&Tensor::from_vec(base.clone(), var.shape(), &dev).unwrap()).unwrap();
            let rel = (numeric - analytic[i]).abs() / (numeric.abs() + analytic[i].abs()).max(1e-8);
            assert!(rel < 1e-6, "{kind:?} {reg:?} param {i}: analytic {} numeric {numeric} rel {rel}", analytic[i]);
        }
    }
    assert_eq!(w.dtype(), DType::F64);
}

#[test]
fn softmax_l2() {
    check(LossKind::Softmax, RegKind::L2);
}

#[test]
fn softmax_l1() {
    check(LossKind::Softmax, RegKind::L1);
}

#[test]
fn svm_l2() {
    check(LossKind::Svm, RegKind::L2);
}

#[test]
fn svm_l1() {
    check(LossKind::Svm, RegKind::L1);
}

#[test]
fn linear_model_gradient_matches_finite_differences() {
    // The same check through the real model and its parameter store.
    use candle_core::ModuleT;
    use kindling::models::{LinearConfig, Model, ModelConfig};
    use kindling::params::Params;
    let dev = common::dev();
    let params = Params::new(3);
    let cfg = ModelConfig::Linear(LinearConfig { input_shape: [2, 2, 2], classes: 3 });
    let model = Model::new(&cfg, params.var_builder(DType::F64, &dev)).unwrap();
    let xs = Tensor::from_vec(
        (0..4 * 8).map(|i| ((i * 31 % 17) as f64 - 8.0) / 5.0).collect::<Vec<_>>(),
        (4, 2, 2, 2),
        &dev,
    )
    .unwrap();
    let ys = Tensor::new(&[0u32, 1, 2, 1], &dev).unwrap();
    let f = || data_loss(LossKind::Softmax, &model.forward_t(&xs, true).unwrap(), &ys, 0.0).unwrap();
    let grads = f().backward().unwrap();
    let w = params.get("fc.weight").unwrap();
    let analytic = grads.get(&w).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let base = w.as_tensor().flatten_all().unwrap().to_vec1::<f64>().unwrap();
    for i in 0..base.len() {
        let eval = |d: f64| {
            let mut v = base.clone();
            v[i] += d;
            w.set(&Tensor::from_vec(v, w.shape(), &dev).unwrap()).unwrap();
            f().to_scalar::<f64>().unwrap()
        };
        let numeric = (eval(1e-6) - eval(-1e-6)) / 2e-6;
        let rel = (numeric - analytic[i]).abs() / (numeric.abs() + analytic[i].abs()).max(1e-8);
        assert!(rel < 1e-6, "param {i}: rel {rel}");
    }
}

#[test]
fn manual_backprop_matches_autograd_and_learns() {
    let net = kindling::lecture::manual_backprop::TwoLayerNet::new(64, 1000, 100, 10, 0).unwrap();
    let first = net.step(1e-4, true).unwrap();
    assert!(first.max_rel_error < 1e-9, "{first:?}");
    let mut last = first;
    for _ in 0..20 {
        last = net.step(1e-4, true).unwrap();
        assert!(last.max_rel_error < 1e-9, "{last:?}");
    }
    assert!(last.loss < first.loss, "loss should fall: {} -> {}", first.loss, last.loss);
}

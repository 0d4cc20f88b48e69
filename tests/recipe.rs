//! The airbench94 recipe (`train --recipe airbench94`) on a few hundred generated images: the
//! pieces behave as the recipe says inside the one training loop, and the checkpoint it writes
//! works with evaluate and resume.

mod common;

use kindling::data::{shapes, Normalization, Split};
use kindling::models::{ModelConfig, Network};
use kindling::presets::airbench94;
use kindling::train::{fit, BatchSize, Session, TrainData};

fn values(net: &Network, name: &str) -> Vec<f32> {
    net.params.get(name).unwrap_or_else(|| panic!("{name} missing")).flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// Through `fit`: the whitening filters are the ones computed from the data and never move; the
/// whitening bias moves in its 3 epochs and not after; the batch norms have no scale to train;
/// the dirac filters start as the identity.
#[test]
fn recipe_parameters_train_as_grouped() {
    let dev = candle_core::Device::Cpu;
    let train = shapes::generate(Split::Train, 96);
    let norm = Normalization::measure(&train);
    let cfg = airbench94::network().config(train.shape, 10);
    let net = Network::new(&cfg, 0, &dev).unwrap();
    assert!(net.params.get("norms.0.weight").is_none(), "batch norm's scale is fixed, not a parameter");
    assert!(net.params.get("features.0.bias").is_none(), "convolutions have no bias");
    let w0 = values(&net, "features.1.weight"); // [64, 64, 3, 3]: all 64 filters are identities
    assert_eq!(w0[4], 1.0);
    assert_eq!(w0.iter().filter(|&&v| v != 0.0).count(), 64);
    net.init_from_data(&train, &norm).unwrap();
    let filters = values(&net, "whiten.weight");
    assert!(filters.iter().any(|&v| v.abs() > 0.1), "whitening filters computed");
    let mut t = airbench94::training();
    t.batch_size = BatchSize::Mini(32);
    t.epochs = 3;
    let pre = kindling::preprocess::Preprocess { features: None, normalization: norm.clone() };
    let data = TrainData::from_inputs(train.clone(), None, pre);
    fit(&net, &data, &t, &dev, Session::new()).unwrap();
    assert_eq!(values(&net, "whiten.weight"), filters, "the whitening filters stay fixed");
    let bias3 = values(&net, "whiten.bias");
    assert!(bias3.iter().any(|&v| v != 0.0), "the whitening bias trains in the first epochs");
    // Three more epochs (a resumed run's numbering): the bias is past its 3 epochs.
    t.epochs = 6;
    let resume = kindling::train::ResumeFrom { epoch: 3, ..Default::default() };
    let err = fit(&net, &data, &t, &dev, Session::new().resume(Some(resume)));
    // Resuming without the saved state (velocities, lookahead average) is refused.
    let msg = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("missing"), "{msg}");
    // Plain SGD keeps no state: resume with it, and without the average.
    t.lookahead = None;
    t.optimizer.kind = kindling::optim::OptimizerKind::Sgd;
    let resume = kindling::train::ResumeFrom { epoch: 3, ..Default::default() };
    fit(&net, &data, &t, &dev, Session::new().resume(Some(resume))).unwrap();
    assert_eq!(values(&net, "whiten.bias"), bias3, "the whitening bias is fixed after epoch 3");
}

/// `train --recipe airbench94` end to end on 640 generated images: it learns, reports the held-out
/// figure with its test-time augmentation, records every piece in the checkpoint, evaluates with
/// `--tta flip-translate`, and resumes.
#[test]
fn train_evaluate_resume() {
    let dir = common::tmpdir("recipe");
    let save = dir.join("ab.safetensors");
    let train = |extra: &[&str]| {
        let mut c = common::example("train");
        c.args(["--recipe", "airbench94", "--dataset", "shapes", "--generated-size", "640", "--val-size", "256"])
            .args(["--batch-size", "64", "--no-plots", "--save"])
            .arg(&save)
            .args(extra);
        common::run(&mut c)
    };
    let out = train(&["--epochs", "4"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let line = out.stdout.lines().find(|l| l.starts_with("held-out accuracy with --tta flip-translate")).unwrap();
    let acc: f64 = line.rsplit(' ').next().unwrap().trim_end_matches('%').parse().unwrap();
    assert!(acc > 30.0, "10 classes, chance is 10%: {line}");
    let meta = kindling::checkpoint::read_meta(&save).unwrap();
    let ModelConfig::Cnn(c) = &meta.model else { panic!("not a CNN") };
    assert_eq!(
        c,
        &match airbench94::network().config([3, 32, 32], 10) {
            ModelConfig::Cnn(c) => c,
            _ => unreachable!(),
        }
    );
    let t = meta.train.unwrap();
    assert!(t.lookahead.is_some() && t.drop_last && t.groups.len() == 2 && t.augment.alternate_flip);

    let mut e = common::example("evaluate");
    e.args(["--weights"]).arg(&save).args(["--split", "val", "--tta", "flip-translate"]);
    let ev = common::run(&mut e);
    assert_eq!(ev.code, Some(0), "{}", ev.stderr);
    assert!(ev.stdout.contains("six views"), "{}", ev.stdout);
    assert!(ev.stdout.contains(&format!("accuracy {acc:.2}%")), "evaluate agrees with train's {acc}%: {}", ev.stdout);

    let last = kindling::checkpoint::sibling(&save, "last.safetensors");
    let mut r = common::example("train");
    r.args(["--resume"])
        .arg(&last)
        .args(["--epochs", "5", "--no-plots", "--save"])
        .arg(dir.join("resumed.safetensors"));
    let res = common::run(&mut r);
    assert_eq!(res.code, Some(0), "{}", res.stderr);
    assert!(res.stdout.contains("after 5 epochs"), "{}", res.stdout);

    let mut bad = common::example("train");
    bad.args(["--recipe", "airbench94", "--dataset", "shapes", "--channels", "8,16"]);
    let b = common::run(&mut bad);
    assert_ne!(b.code, Some(0));
    assert!(b.stderr.contains("fixes the network: leave out --channels"), "{}", b.stderr);
}

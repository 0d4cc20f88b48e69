//! Checkpoints: round trip, self-description, atomic writes, resume, and bad files.

mod common;

use kindling::app::cli::DataArgs;
use kindling::app::run;
use kindling::checkpoint;
use kindling::data::{DatasetName, Normalization};
use kindling::loss::LossKind;
use kindling::models::ModelKind;
use kindling::presets::Run;

fn data_args(n: usize) -> DataArgs {
    DataArgs {
        dataset: Some(DatasetName::Shapes),
        val_size: 40.into(),
        generated_size: Some(n),
        offline: true,
        ..Default::default()
    }
}

fn tiny_run(epochs: usize) -> Run {
    let mut run = Run::defaults(DatasetName::Shapes, ModelKind::Linear, LossKind::Softmax, None);
    run.train.epochs = epochs;
    run.train.batch_size = kindling::train::BatchSize::Mini(32);
    run.train.optimizer = kindling::optim::OptimizerConfig::new(kindling::optim::OptimizerKind::Adam, 0.001);
    run.train.seed = 11;
    run
}

#[test]
fn round_trip_and_metadata() {
    let dir = common::tmpdir("roundtrip");
    let save = dir.join("m.safetensors");
    let data = data_args(200).prepare(DatasetName::Shapes).unwrap();
    let norm = Normalization::measure(&data.train);
    let run = tiny_run(2);
    let report = run::execute(&run, &data, &common::dev(), &common::quiet(&save), None).unwrap();
    assert_eq!(report.history.len(), 2);
    for sib in ["last.safetensors", "best.safetensors", "history.json"] {
        assert!(checkpoint::sibling(&save, sib).exists(), "{sib} missing");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    let ck = checkpoint::load(&save, &common::dev()).unwrap();
    assert_eq!(ck.meta.epoch, 2);
    assert_eq!(ck.meta.dataset, "shapes");
    assert_eq!(ck.meta.classes.len(), 10);
    assert_eq!(ck.meta.normalization, norm);
    assert_eq!(ck.meta.train.as_ref().unwrap(), &run.train);
    assert!(ck.optimizer_state.is_empty(), "the final checkpoint holds weights only");
    let last = checkpoint::load(&checkpoint::sibling(&save, "last.safetensors"), &common::dev()).unwrap();
    assert!(last.optimizer_state.keys().any(|k| k.ends_with("exp_avg")), "resumable file keeps Adam's state");

    // The reloaded model predicts exactly as the trained one scored.
    let val = data.val.as_ref().unwrap();
    let acc = kindling::train::evaluate(&ck.model, val, &ck.meta.normalization, &common::dev()).unwrap().accuracy();
    assert_eq!(Some(acc), report.history.last().unwrap().val_acc);
}

#[test]
fn resume_matches_an_uninterrupted_run() {
    resumed_matches_whole("resume", &tiny_run(3));
}

/// airbench94's Muon variant, shrunk to batches of 32: the state of both optimizers (Muon's
/// velocities and SGD's) comes back on resume, so the resumed run is the uninterrupted one bit for
/// bit; and Muon keeps each filter bank near norm `sqrt(out)` (renormalized before each step).
#[test]
fn muon_recipe_resumes_exactly() {
    let mut run = kindling::presets::Recipe::Airbench94Muon.run(DatasetName::Shapes).unwrap();
    run.train.epochs = 3;
    run.train.batch_size = kindling::train::BatchSize::Mini(32);
    run.train.seed = 11;
    let a = resumed_matches_whole("resume-muon", &run);
    for i in 0..6 {
        let w = a.params.get(&format!("features.{i}.weight")).unwrap();
        let out = w.dims()[0] as f32;
        let norm = w.sqr().unwrap().sum_all().unwrap().sqrt().unwrap().to_scalar::<f32>().unwrap();
        assert!((norm / out.sqrt() - 1.0).abs() < 0.05, "features.{i}: norm {norm}, sqrt(out) {}", out.sqrt());
    }
}

/// Trains `run` for its epochs, and again stopped after the first and resumed from its `last`
/// checkpoint: every parameter ends the same. Returns the uninterrupted run's checkpoint.
fn resumed_matches_whole(name: &str, run: &Run) -> checkpoint::Checkpoint {
    let dir = common::tmpdir(name);
    let data = data_args(240).prepare(DatasetName::Shapes).unwrap();
    let norm = Normalization::measure(&data.train);

    let whole = dir.join("whole.safetensors");
    run::execute(run, &data, &common::dev(), &common::quiet(&whole), None).unwrap();

    // "Interrupted" run: the same configuration, stopped after the first epoch.
    let cut = dir.join("cut.safetensors");
    let cfg = run.model_config(data.train.shape, 10);
    let net = kindling::models::Network::new(&cfg, run.train.seed, &common::dev()).unwrap();
    net.init_from_data(&data.train, &norm).unwrap();
    let meta = checkpoint::read_meta(&whole).unwrap();
    let session = kindling::train::Session::new()
        .hook(checkpoint::Checkpointer::new(&cut, meta, None))
        .hook(|r: &kindling::train::EpochRecord| r.epoch < 1);
    let pre = kindling::preprocess::Preprocess { features: None, normalization: norm.clone() };
    let train_data = kindling::train::TrainData::from_inputs(data.train.clone(), data.val.clone(), pre);
    kindling::train::fit(&net, &train_data, &run.train, &common::dev(), session).unwrap();
    assert!(!cut.exists(), "an interrupted run writes no final checkpoint");
    let last = checkpoint::sibling(&cut, "last.safetensors");
    assert_eq!(checkpoint::read_meta(&last).unwrap().epoch, 1);

    let (run2, resume) = run::from_resume(&last, &common::dev()).unwrap();
    assert_eq!(resume.from.history.len(), 1);
    let report = run::execute(&run2, &data, &common::dev(), &common::quiet(&cut), Some(resume)).unwrap();
    assert_eq!(report.history.len(), run.train.epochs);

    let a = checkpoint::load(&whole, &common::dev()).unwrap();
    let b = checkpoint::load(&cut, &common::dev()).unwrap();
    for ((na, va), (nb, vb)) in a.params.named_vars().iter().zip(b.params.named_vars().iter()) {
        assert_eq!(na, nb);
        let diff =
            (va.as_tensor() - vb.as_tensor()).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert_eq!(diff, 0.0, "{na} differs after resume by {diff}");
    }
    a
}

#[test]
fn bad_checkpoints_are_clear_errors() {
    let dir = common::tmpdir("bad");
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"\xff\xff\xff\xff\xff\xff\xff\x7fnot a header").unwrap();
    let err = checkpoint::load(&garbage, &common::dev()).err().unwrap().to_string();
    assert!(err.contains("garbage.safetensors") && err.contains("not a safetensors"), "{err}");

    let empty = dir.join("empty.safetensors");
    std::fs::write(&empty, b"").unwrap();
    let err = checkpoint::load(&empty, &common::dev()).err().unwrap().to_string();
    assert!(err.contains("empty.safetensors") && err.contains("not a safetensors file (header too small)"), "{err}");

    // A valid file whose tensors do not fit its own configuration.
    let save = dir.join("m.safetensors");
    let data = data_args(60).prepare(DatasetName::Shapes).unwrap();

    run::execute(&tiny_run(1), &data, &common::dev(), &common::quiet(&save), None).unwrap();
    let mut meta = checkpoint::read_meta(&save).unwrap();
    meta.model = tiny_run(1).model_config([1, 28, 28], 10);
    let params = checkpoint::load(&save, &common::dev()).unwrap().params;
    let other = dir.join("other.safetensors");
    checkpoint::save(&other, &meta, &params, &[]).unwrap();
    let err = checkpoint::load(&other, &common::dev()).err().unwrap().to_string();
    assert!(err.contains("fc.weight") && err.contains("shape"), "{err}");

    // Truncated: the last bytes of a real checkpoint cut off.
    let bytes = std::fs::read(&save).unwrap();
    let cut = dir.join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    let err = checkpoint::load(&cut, &common::dev()).err().unwrap().to_string();
    assert!(
        err.contains("cut.safetensors") && err.contains("file not fully covered") && err.contains("truncated"),
        "{err}"
    );

    let err = checkpoint::load(&dir, &common::dev()).err().unwrap().to_string();
    assert!(err.contains("directory"), "{err}");
}

#[test]
fn nan_loss_stops_with_epoch_and_step() {
    let dir = common::tmpdir("nan");
    let data = data_args(100).prepare(DatasetName::Shapes).unwrap();

    let mut run = tiny_run(2);
    run.train.optimizer = kindling::optim::OptimizerConfig::new(kindling::optim::OptimizerKind::Sgd, 1e30);
    let err = run::execute(&run, &data, &common::dev(), &common::quiet(dir.join("m.safetensors")), None).err().unwrap();
    let msg = err.to_string();
    assert!(matches!(err, kindling::Error::NonFiniteLoss { .. }), "{msg}");
    assert!(msg.contains("epoch 1") && msg.contains("step") && msg.contains("lower learning rate"), "{msg}");
}

//! The CNN: output shapes, overfitting a small batch, train/eval difference, checkpoint round trip
//! with batch-norm statistics.

mod common;

use candle_core::{DType, ModuleT, Tensor};
use candle_nn::Optimizer;
use kindling::data::{shapes, Normalization, Split};
use kindling::models::{Activation, CnnConfig, Model, ModelConfig, Pool};
use kindling::optim::{Adam, AdamConfig, WeightDecay};
use kindling::params::Params;

fn config(shape: [usize; 3], pool: Pool) -> CnnConfig {
    CnnConfig {
        input_shape: shape,
        classes: 10,
        blocks: CnnConfig::blocks(&[8, 16], pool),
        batch_norm: true,
        activation: Activation::Relu,
        fc: vec![32],
        dropout: 0.5,
        extras: Default::default(),
    }
}

fn build(cfg: &CnnConfig, seed: u64) -> (Model, Params) {
    let params = Params::new(seed);
    let model = Model::new(&ModelConfig::Cnn(cfg.clone()), params.var_builder(DType::F32, &common::dev())).unwrap();
    (model, params)
}

/// Seeded N(0, 1) inputs of `shape` on the test device.
fn randn(seed: u64, shape: impl Into<candle_core::Shape>) -> Tensor {
    kindling::params::randn(seed, shape, 0.0, 1.0, &common::dev()).unwrap()
}

#[test]
fn output_shapes_for_28_and_32() {
    // Multiply-accumulates of `config`: a 5×5 convolution to 8 channels at the input's size, a 3×3
    // one to 16 at the pooled size (2×2 pools halve, 3×3/2 overlapping ones take 32 to 15 to 7),
    // then the 16·side² → 32 → 10 classifier; batch norm and pooling are not counted.
    let macs = |c: usize, side: usize, pooled: usize, twice: usize| {
        side * side * 8 * 25 * c + pooled * pooled * 16 * 8 * 9 + 16 * twice * twice * 32 + 32 * 10
    };
    for (shape, pool, want) in [
        ([1, 28, 28], Pool::Max, macs(1, 28, 14, 7)),
        ([3, 32, 32], Pool::Max, macs(3, 32, 16, 8)),
        ([3, 32, 32], Pool::Overlap, macs(3, 32, 15, 7)),
        ([1, 28, 28], Pool::Avg, macs(1, 28, 14, 7)),
    ] {
        let cfg = config(shape, pool);
        let (model, _) = build(&cfg, 0);
        let xs = randn(1, (5, shape[0], shape[1], shape[2]));
        assert_eq!(model.forward_t(&xs, false).unwrap().dims(), &[5, 10], "{shape:?} {pool:?}");
        assert_eq!(cfg.macs().unwrap(), want, "{shape:?} {pool:?}");
    }
    let s = config([3, 32, 32], Pool::Overlap).shapes().unwrap();
    assert_eq!(s[1], [8, 15, 15], "overlapping 3x3/2 pooling: 32 -> 15");
}

#[test]
fn stages_pool_after_their_first_convolution() {
    let blocks = CnnConfig::stages(&[8, 16], 2, Pool::Max);
    assert_eq!(blocks.len(), 4);
    assert_eq!(blocks.iter().map(|b| b.channels).collect::<Vec<_>>(), [8, 8, 16, 16]);
    assert_eq!(blocks.iter().map(|b| b.pool).collect::<Vec<_>>(), [Pool::Max, Pool::None, Pool::Max, Pool::None]);
    assert!(blocks.iter().all(|b| b.kernel == 3 && b.padding == 1));
    assert_eq!(CnnConfig::stages(&[8, 16], 1, Pool::Max), CnnConfig::blocks(&[8, 16], Pool::Max));
    let cfg = CnnConfig { blocks, ..config([3, 32, 32], Pool::Max) };
    let s = cfg.shapes().unwrap();
    assert_eq!(&s[1..], [[8, 16, 16], [8, 16, 16], [16, 8, 8], [16, 8, 8]]);
    // MACs: the second convolution of each stage runs at the pooled size.
    let convs = 32 * 32 * 8 * 27 + 16 * 16 * 8 * 72 + 16 * 16 * 16 * 72 + 8 * 8 * 16 * 144;
    assert_eq!(cfg.macs().unwrap(), convs + 16 * 8 * 8 * 32 + 32 * 10);
    let (model, _) = build(&cfg, 0);
    let xs = randn(2, (2, 3, 32, 32));
    assert_eq!(model.forward_t(&xs, true).unwrap().dims(), &[2, 10]);
}

#[test]
fn overfits_a_64_image_batch() {
    let ds = shapes::generate(Split::Train, 64);
    let norm = Normalization::measure(&ds);
    let idx: Vec<usize> = (0..64).collect();
    let (xs, ys) = ds.batch(&idx, &norm, &common::dev()).unwrap();
    let mut cfg = config([3, 32, 32], Pool::Max);
    cfg.dropout = 0.0;
    let (model, params) = build(&cfg, 1);
    let vars = params.named_vars().into_iter().map(|(_, v)| v).collect();
    let mut opt =
        Adam::new(vars, AdamConfig { lr: 3e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: WeightDecay::None })
            .unwrap();
    for _ in 0..60 {
        let loss = candle_nn::loss::cross_entropy(&model.forward_t(&xs, true).unwrap(), &ys).unwrap();
        opt.backward_step(&loss).unwrap();
    }
    let preds = model.forward_t(&xs, false).unwrap().argmax(1).unwrap().to_vec1::<u32>().unwrap();
    let correct = preds.iter().zip(ys.to_vec1::<u32>().unwrap()).filter(|(p, y)| **p == *y).count();
    assert_eq!(correct, 64, "the CNN should memorize 64 images");
}

#[test]
fn train_and_eval_modes_differ() {
    let (model, _) = build(&config([3, 32, 32], Pool::Max), 2);
    let xs = randn(3, (4, 3, 32, 32));
    let e1 = model.forward_t(&xs, false).unwrap();
    let e2 = model.forward_t(&xs, false).unwrap();
    let t = model.forward_t(&xs, true).unwrap();
    let diff = |a: &Tensor, b: &Tensor| (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert_eq!(diff(&e1, &e2), 0.0, "evaluation is deterministic");
    assert!(diff(&e1, &t) > 1e-4, "batch statistics and dropout change the training output");
}

#[test]
fn checkpoint_keeps_batch_norm_statistics() {
    let cfg = config([3, 32, 32], Pool::Max);
    let (model, params) = build(&cfg, 3);
    let xs = randn(4, (8, 3, 32, 32)).affine(3.0, 1.5).unwrap();
    model.forward_t(&xs, true).unwrap(); // updates the running statistics
    let rm = params.get("norms.0.running_mean").expect("running mean is a checkpointed parameter");
    assert!(rm.as_tensor().abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap() > 0.0);
    let dir = std::env::temp_dir().join(format!("kindling-cnn-{}", std::process::id()));
    let path = dir.join("cnn.safetensors");
    let meta = kindling::checkpoint::CheckpointMeta {
        kindling_version: "test".into(),
        model: ModelConfig::Cnn(cfg),
        classes: (0..10).map(|i| i.to_string()).collect(),
        normalization: Normalization::identity(3),
        dataset: "shapes".into(),
        epoch: 1,
        metrics: None,
        train: None,
        split: None,
        data_split: None,
        command: None,
        features: None,
        image_shape: Some([3, 32, 32]),
        wall_seconds: None,
        machine: None,
        evaluation: None,
        search: None,
        parent: None,
        extra_evaluations: Vec::new(),
        input_image: None,
        folder: None,
        class_filter: None,
        generated_size: None,
    };
    kindling::checkpoint::save(&path, &meta, &params, &[]).unwrap();
    let ck = kindling::checkpoint::load(&path, &common::dev()).unwrap();
    let a = model.forward_t(&xs, false).unwrap();
    let b = ck.model.forward_t(&xs, false).unwrap();
    let d = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert_eq!(d, 0.0, "evaluation after reload uses the same running statistics");
    let names: Vec<String> = ck.params.named_vars().into_iter().map(|(n, _)| n).collect();
    for n in ["features.0.weight", "norms.1.running_var", "classifier.1.bias"] {
        assert!(names.contains(&n.to_string()), "{n} missing from {names:?}");
    }
}

//! ONNX export, checked by running the exported files with an independent runtime (tract, pure
//! Rust): every shipped image checkpoint and small random models of every activation, pooling and
//! option give kindling's logits within 1e-4 (relative to the image's largest logit) and the same
//! top-1 class; bad inputs give clear errors and leave nothing behind.
//!
//! Two `#[ignore]` tests are measurements run by hand (docs/onnx.md quotes them): the exported
//! airbench94 file on the whole CIFAR-10 test set with the six-view augmentation reproduced outside
//! the graph, and the time per image of the runtime beside kindling's.

mod common;

use candle_core::{Device, ModuleT, Tensor};
use kindling::checkpoint::{self, Checkpoint, CheckpointMeta};
use kindling::data::{self, DataOptions, Dataset, DatasetName, Normalization, Split};
use kindling::models::{
    Activation, CnnConfig, CnnExtras, ConvBlock, ConvInit, InitKind, LinearConfig, MlpConfig, ModelConfig, Network,
    NormOptions, Pool, Whitening,
};
use kindling::onnx::{self, keys};
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::path::PathBuf;
use tract_onnx::prelude::*;

/// Largest difference allowed between the runtime's logits and kindling's, relative to the
/// image's largest logit (in magnitude).
const RELATIVE: f32 = 1e-4;

/// An exported file, loaded by tract with the batch dimension left symbolic.
struct Runtime(std::sync::Arc<TypedRunnableModel>);

impl Runtime {
    fn load(onnx: &[u8]) -> Self {
        let model = tract_onnx::onnx()
            .model_for_read(&mut &onnx[..])
            .expect("tract reads the file")
            .into_optimized()
            .expect("tract optimizes the graph")
            .into_runnable()
            .expect("tract plans the graph");
        Runtime(model)
    }

    /// Logits and probabilities (`[n, classes]` row-major) of `n` images `[C, H, W]` in [0, 1].
    fn run(&self, pixels: &[f32], n: usize, shape: [usize; 3]) -> (Vec<f32>, Vec<f32>) {
        let [c, h, w] = shape;
        let input = Tensor4::from_shape(&[n, c, h, w], pixels).unwrap();
        let out = self.0.run(tvec!(input.into())).expect("tract runs the graph");
        let flat = |i: usize| out[i].to_plain_array_view::<f32>().unwrap().iter().copied().collect::<Vec<f32>>();
        (flat(0), flat(1))
    }
}

/// tract's tensor type, under a name that does not clash with candle's.
type Tensor4 = tract_onnx::prelude::Tensor;

/// The images of `ds` at `idx` as the graph's input: `u8 / 255`, `[n, C, H, W]` row-major.
fn pixels(ds: &Dataset, idx: &[usize]) -> Vec<f32> {
    let d = ds.sample_dim();
    idx.iter().flat_map(|&i| (0..d).map(move |j| ds.pixels.get(i * d + j))).collect()
}

/// kindling's logits for the images of `ds` at `idx`, normalized as the checkpoint records.
fn kindling_logits(ck: &Checkpoint, ds: &Dataset, idx: &[usize]) -> Vec<f32> {
    let (xs, _) = ds.batch(idx, &ck.meta.normalization, &Device::Cpu).unwrap();
    ck.model.forward_t(&xs, false).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// Asserts that `got` (the runtime's) matches `want` (kindling's), both `[n, classes]`: each
/// image's logits within [`RELATIVE`] of its largest and the same arg-max; the probabilities a
/// softmax of the logits.
fn assert_alike(what: &str, got: &[f32], probs: &[f32], want: &[f32], classes: usize) {
    assert_eq!(got.len(), want.len(), "{what}: output sizes differ");
    let mut worst = 0f32;
    for (i, (g, w)) in got.chunks(classes).zip(want.chunks(classes)).enumerate() {
        let scale = w.iter().fold(0f32, |m, v| m.max(v.abs())).max(f32::MIN_POSITIVE);
        let diff = g.iter().zip(w).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        worst = worst.max(diff / scale);
        assert!(
            diff <= RELATIVE * scale,
            "{what}: image {i}: logits differ by {diff} (largest {scale}): {g:?} vs {w:?}"
        );
        assert_eq!(argmax(g), argmax(w), "{what}: image {i}: top-1 differs: {g:?} vs {w:?}");
        let p = &probs[i * classes..(i + 1) * classes];
        let z: f32 = g.iter().map(|v| (v - g[argmax(g)]).exp()).sum();
        for (k, pk) in p.iter().enumerate() {
            let want = (g[k] - g[argmax(g)]).exp() / z;
            assert!((pk - want).abs() < 1e-5, "{what}: image {i}: probability {k} is {pk}, softmax {want}");
        }
    }
    eprintln!("{what}: {} images, largest relative difference {worst:.1e}", got.len() / classes);
}

fn argmax(v: &[f32]) -> usize {
    (0..v.len()).fold(0, |best, k| if v[k] > v[best] { k } else { best })
}

/// The shipped checkpoints, by file name.
fn shipped() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(common::weights_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    v.sort();
    v
}

/// The first `n` test images of `name`, or, when the data set is not on this machine, `n`
/// generated images of `shape` (with a note saying so).
fn test_images(name: DatasetName, shape: [usize; 3], n: usize) -> Dataset {
    let opts = DataOptions { allow_download: false, ..Default::default() };
    match data::load(name, Split::Test, &opts) {
        Ok(ds) => ds.take(n),
        Err(e) => {
            eprintln!("skipped the real-data part for {name:?}: {e}; generated images instead");
            let mut rng = rand::rngs::StdRng::seed_from_u64(5);
            let px = (0..n * shape.iter().product::<usize>()).map(|_| rng.random::<u8>()).collect();
            Dataset::new("generated", data::Pixels::U8(px), vec![0; n], shape, vec!["?".into(); 10]).unwrap()
        }
    }
}

/// The metadata of an ONNX file, by key.
fn metadata(onnx: &[u8]) -> HashMap<String, String> {
    let proto = tract_onnx::onnx().proto_model_for_read(&mut &onnx[..]).unwrap();
    proto.metadata_props.into_iter().map(|e| (e.key, e.value)).collect()
}

/// Every shipped checkpoint but the features MLP exports, and tract's answers on 256 images of
/// its data set are kindling's; batches of one give the same; the metadata say what the file is.
#[test]
fn shipped_checkpoints_run_alike_in_another_runtime() {
    let dir = common::tmpdir("onnx-shipped");
    let mut exported = 0;
    for path in shipped() {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let meta = checkpoint::read_meta(&path).unwrap();
        let out = dir.join(format!("{name}.onnx"));
        if meta.features.is_some() {
            let err = onnx::export(&path, &out).unwrap_err().to_string();
            assert!(err.contains("hand-made features") && err.contains("`features`"), "{name}: {err}");
            assert!(!out.exists());
            continue;
        }
        let e = onnx::export(&path, &out).unwrap();
        exported += 1;
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(e.bytes, bytes.len());
        let ck = checkpoint::load(&path, &Device::Cpu).unwrap();
        let shape = ck.meta.model.input_shape();
        let classes = ck.meta.model.classes();
        let ds = test_images(meta.dataset_name().unwrap(), shape, 256);
        let idx: Vec<usize> = (0..ds.len()).collect();
        let runtime = Runtime::load(&bytes);
        let (logits, probs) = runtime.run(&pixels(&ds, &idx), idx.len(), shape);
        let want = kindling_logits(&ck, &ds, &idx);
        assert_alike(&name, &logits, &probs, &want, classes);
        // The batch dimension is dynamic: one image alone gives its row of the batch.
        let (one, _) = runtime.run(&pixels(&ds, &[7]), 1, shape);
        assert_alike(
            &format!("{name}, batch of 1"),
            &one,
            &probs[7 * classes..8 * classes],
            &want[7 * classes..8 * classes],
            classes,
        );

        let m = metadata(&bytes);
        let classes_json: Vec<String> = serde_json::from_str(&m[keys::CLASSES]).unwrap();
        assert_eq!(classes_json, ck.meta.classes, "{name}");
        assert_eq!(m[keys::DATASET], ck.meta.dataset);
        let recorded = ck.meta.evaluation.as_ref().unwrap();
        assert_eq!(m[keys::ACCURACY].parse::<f64>().unwrap(), recorded.accuracy, "{name}");
        assert_eq!(m[keys::TTA], recorded.tta.as_str());
        use sha2::Digest;
        let sha: String =
            sha2::Sha256::digest(std::fs::read(&path).unwrap()).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(m[keys::SOURCE_SHA256], sha, "{name}");
        assert!(m[keys::RESIZE].contains(&format!("squash to {}x{}", shape[2], shape[1])), "{}", m[keys::RESIZE]);
        let norm: Normalization = serde_json::from_str(&m[keys::NORMALIZATION]).unwrap();
        assert_eq!(norm, ck.meta.normalization);
    }
    assert!(exported > 0, "no shipped checkpoint exported");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A checkpoint in memory around a fresh network of `config` whose parameters are all random
/// (batch-norm statistics, shifts and the whitening filters included, which start constant).
fn random_checkpoint(config: ModelConfig, seed: u64) -> Checkpoint {
    let net = Network::new(&config, seed, &Device::Cpu).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for (name, var) in net.params.named_vars() {
        let n = var.elem_count();
        let values: Vec<f32> = if name.ends_with("running_var") {
            (0..n).map(|_| rng.random_range(0.3..2.0)).collect()
        } else {
            let std = if name.contains("weight") { 1.0 / ((n / var.dim(0).unwrap()) as f32).sqrt() } else { 0.3 };
            (0..n).map(|_| std * rng.random_range(-1.7..1.7f32)).collect()
        };
        var.set(&Tensor::from_vec(values, var.shape(), &Device::Cpu).unwrap()).unwrap();
    }
    let c = config.input_shape()[0];
    let meta = CheckpointMeta {
        kindling_version: "test".into(),
        model: config.clone(),
        classes: (0..config.classes()).map(|k| format!("class {k}")).collect(),
        normalization: Normalization { mean: (0..c).map(|k| 0.4 + 0.05 * k as f32).collect(), std: vec![0.25; c] },
        dataset: "generated".into(),
        epoch: 0,
        metrics: None,
        train: None,
        split: None,
        data_split: None,
        command: None,
        features: None,
        image_shape: None,
        wall_seconds: None,
        machine: None,
        evaluation: None,
        extra_evaluations: vec![],
        search: None,
        parent: None,
        input_image: None,
        folder: None,
        class_filter: None,
        generated_size: None,
    };
    Checkpoint { meta, model: net.model, params: net.params, optimizer_state: HashMap::new() }
}

/// Exports `ck` from memory and compares the runtime with kindling on 12 random images.
fn check_random(what: &str, ck: &Checkpoint) {
    let bytes = onnx::encode(ck, None).unwrap_or_else(|e| panic!("{what}: {e}"));
    let shape = ck.meta.model.input_shape();
    let n = 12;
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let px = (0..n * shape.iter().product::<usize>()).map(|_| rng.random::<u8>()).collect();
    let ds = Dataset::new("random", data::Pixels::U8(px), vec![0; n], shape, ck.meta.classes.clone()).unwrap();
    let idx: Vec<usize> = (0..n).collect();
    let (logits, probs) = Runtime::load(&bytes).run(&pixels(&ds, &idx), n, shape);
    assert_alike(what, &logits, &probs, &kindling_logits(ck, &ds, &idx), ck.meta.model.classes());
}

/// Every activation kindling has, as written by `--activation`.
fn activations() -> Vec<Activation> {
    [
        "relu",
        "leaky-relu:0.2",
        "leaky-relu:1.5",
        "leaky-relu:-0.3",
        "sigmoid",
        "tanh",
        "elu",
        "elu:0",
        "gelu",
        "gelu-erf",
        "maxout",
        "maxout:3",
    ]
    .iter()
    .map(|s| Activation::parse(s).unwrap())
    .collect()
}

#[test]
fn random_linear_and_mlps_of_every_activation() {
    check_random(
        "linear",
        &random_checkpoint(ModelConfig::Linear(LinearConfig { input_shape: [3, 6, 5], classes: 4 }), 1),
    );
    for (i, act) in activations().into_iter().enumerate() {
        for batch_norm in [false, true] {
            let cfg = MlpConfig {
                input_shape: [1, 7, 6],
                hidden: vec![12, 9],
                classes: 5,
                activation: act,
                dropout: 0.5, // removed: evaluation mode
                batch_norm,
                init: InitKind::Kaiming,
            };
            check_random(
                &format!("mlp {act}, batch norm {batch_norm}"),
                &random_checkpoint(ModelConfig::Mlp(cfg), i as u64),
            );
        }
    }
}

fn block(channels: usize, kernel: usize, stride: usize, pool: Pool) -> ConvBlock {
    ConvBlock { channels, kernel, stride, padding: kernel / 2, pool }
}

#[test]
fn random_cnns_of_every_activation_pooling_and_option() {
    let pools = [Pool::None, Pool::Max, Pool::Avg, Pool::Overlap];
    for (i, act) in activations().into_iter().enumerate() {
        for (j, &pool) in pools.iter().enumerate() {
            let batch_norm = (i + j) % 2 == 0;
            let cfg = CnnConfig {
                input_shape: if j % 2 == 0 { [3, 15, 15] } else { [1, 16, 14] },
                classes: 3,
                blocks: vec![block(4, 5, 1, pool), block(6, 3, 2, Pool::None), block(5, 3, 1, pool)],
                batch_norm,
                activation: act,
                fc: if j < 2 { vec![7] } else { vec![] },
                dropout: 0.4,
                extras: CnnExtras::default(),
            };
            let what = format!("cnn {act}, pool {pool:?}, batch norm {batch_norm}");
            check_random(&what, &random_checkpoint(ModelConfig::Cnn(cfg), (10 * i + j) as u64));
        }
    }
}

/// airbench94's pieces: the whitening convolution, convolutions without bias, pooling before a
/// batch norm of fixed scale and tiny ε, a head max pool, a head without bias and a logit scale;
/// with each of its activations and with the pieces one at a time.
#[test]
fn random_airbench_networks() {
    let airbench = |act: Activation| CnnConfig {
        input_shape: [3, 13, 13],
        classes: 10,
        blocks: CnnConfig::stages(&[6, 8], 2, Pool::Max),
        batch_norm: true,
        activation: act,
        fc: vec![],
        dropout: 0.0,
        extras: CnnExtras {
            whiten: Some(Whitening { kernel: 2, eps: 5e-4, images: 100 }),
            conv_bias: false,
            conv_init: ConvInit::Dirac,
            norm: NormOptions { eps: 1e-12, momentum: 0.4, scale: false },
            pool_before_norm: true,
            head_pool: 3,
            head_bias: false,
            head_scale: 1.0 / 9.0,
            head_std: None,
        },
    };
    for (i, act) in [Activation::GeluErf, Activation::Gelu, Activation::Relu].into_iter().enumerate() {
        check_random(&format!("airbench {act}"), &random_checkpoint(ModelConfig::Cnn(airbench(act)), 40 + i as u64));
    }
    let mut single = vec![];
    let mut c = airbench(Activation::GeluErf);
    c.extras = CnnExtras { whiten: c.extras.whiten, ..CnnExtras::default() };
    single.push(("whitening only", c));
    let mut c = airbench(Activation::Tanh);
    c.extras = CnnExtras { pool_before_norm: true, ..CnnExtras::default() };
    single.push(("pool before norm, tanh", c));
    let mut c = airbench(Activation::Relu);
    c.extras = CnnExtras { head_pool: 2, head_scale: 0.5, head_bias: false, ..CnnExtras::default() };
    single.push(("head pool, scale, no bias", c));
    let mut c = airbench(Activation::Maxout { k: 2 });
    c.extras = CnnExtras {
        norm: NormOptions { eps: 1e-3, momentum: 0.1, scale: false },
        conv_bias: false,
        ..CnnExtras::default()
    };
    single.push(("fixed-scale norm, maxout", c));
    for (i, (what, cfg)) in single.into_iter().enumerate() {
        check_random(what, &random_checkpoint(ModelConfig::Cnn(cfg), 50 + i as u64));
    }
}

/// A model on hand-made features, a model of 2-D points, a file that is no kindling checkpoint,
/// and outputs that cannot be written: clear errors, and nothing written (an earlier file at the
/// output path stays as it was).
#[test]
fn bad_inputs_are_refused_and_leave_nothing_behind() {
    let dir = common::tmpdir("onnx-bad");
    let out = dir.join("model.onnx");
    std::fs::write(&out, b"earlier").unwrap();
    let unchanged = |what: &str| {
        assert_eq!(std::fs::read(&out).unwrap(), b"earlier", "{what}: the earlier file changed");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 2, "{what}: files left behind: {left:?}"); // model.onnx and the inputs below
    };

    let features = common::weights_dir().join("cifar10-mlp-features.safetensors");
    let err = onnx::export(&features, &out).unwrap_err().to_string();
    assert!(
        err.contains("cifar10-mlp-features.safetensors") && err.contains("hand-made features (hog, color)"),
        "{err}"
    );
    assert!(err.contains("without `features`"), "{err}");

    let junk = dir.join("junk.safetensors");
    std::fs::write(&junk, b"this is not a checkpoint at all").unwrap();
    let err = onnx::export(&junk, &out).unwrap_err().to_string();
    assert!(err.contains("junk.safetensors") && err.contains("not a safetensors file"), "{err}");
    unchanged("not a checkpoint");
    // A safetensors file that kindling did not write.
    let t = Tensor::zeros(3, candle_core::DType::F32, &Device::Cpu).unwrap();
    candle_core::safetensors::save(&HashMap::from([("w".to_string(), t)]), &junk).unwrap();
    let err = onnx::export(&junk, &out).unwrap_err().to_string();
    assert!(err.contains("no kindling metadata"), "{err}");
    unchanged("another program's safetensors");
    let err = onnx::export(dir.join("missing.safetensors"), &out).unwrap_err().to_string();
    assert!(err.contains("missing.safetensors") && err.contains("cannot read"), "{err}");

    // 2-D points: refused before anything is built.
    let points = random_checkpoint(
        ModelConfig::Mlp(MlpConfig {
            input_shape: [2, 1, 1],
            hidden: vec![8],
            classes: 3,
            activation: Activation::Relu,
            dropout: 0.0,
            batch_norm: false,
            init: InitKind::Kaiming,
        }),
        3,
    );
    let err = onnx::encode(&points, None).unwrap_err().to_string();
    assert!(err.contains("2-D points") && err.contains("only image classifiers"), "{err}");

    // Outputs that cannot be written: under a regular file, over a folder, over the checkpoint.
    let linear = common::weights_dir().join("mnist-linear.safetensors");
    let err = onnx::export(&linear, out.join("x.onnx")).unwrap_err().to_string();
    assert!(err.contains("x.onnx") && err.contains("cannot create folder"), "{err}");
    unchanged("output under a file");
    let folder = dir.join("folder.onnx");
    std::fs::create_dir(&folder).unwrap();
    let err = onnx::export(&linear, &folder).unwrap_err().to_string();
    assert!(err.contains("folder.onnx") && err.contains("cannot write"), "{err}");
    assert!(folder.is_dir() && std::fs::read_dir(&folder).unwrap().next().is_none(), "the folder changed");
    std::fs::remove_dir(&folder).unwrap();
    unchanged("output over a folder");
    let copy = dir.join("copy.safetensors");
    std::fs::copy(&linear, &copy).unwrap();
    let err = onnx::export(&copy, &copy).unwrap_err().to_string();
    assert!(err.contains("is the checkpoint being exported"), "{err}");
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(&linear).unwrap(), "the checkpoint changed");

    // And a good export replaces the earlier file.
    onnx::export(&linear, &out).unwrap();
    assert!(std::fs::read(&out).unwrap().len() > 30_000);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The example: `export --weights W --onnx OUT` writes the file and says what it holds; without
/// a target, or with a features model, it fails with a clear message.
#[test]
fn export_example() {
    let dir = common::tmpdir("onnx-example");
    let out = dir.join("cnn94.onnx");
    let weights = common::weights_dir().join("cifar10-cnn94.safetensors");
    let run = common::run(common::example("export").arg("--weights").arg(&weights).arg("--onnx").arg(&out));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("opset 13") && run.stdout.contains("[N, 3, 32, 32]"), "{}", run.stdout);
    let recorded = checkpoint::read_meta(&weights).unwrap().evaluation.unwrap();
    let figure = format!("{:.2}% ({} {})", 100.0 * recorded.accuracy, recorded.dataset, recorded.split);
    assert!(run.stdout.contains(&figure), "{figure}: {}", run.stdout);
    assert!(run.stdout.contains(&format!("--tta {}", recorded.tta.as_str())), "{}", run.stdout);
    assert!(out.exists());
    let run = common::run(common::example("export").arg("--weights").arg(&weights));
    assert_ne!(run.code, Some(0));
    assert!(run.stderr.contains("--onnx"), "{}", run.stderr);
    let features = common::weights_dir().join("cifar10-mlp-features.safetensors");
    let run =
        common::run(common::example("export").arg("--weights").arg(&features).arg("--onnx").arg(dir.join("f.onnx")));
    assert_ne!(run.code, Some(0));
    assert!(run.stderr.contains("hand-made features") && !run.stderr.contains("panicked"), "{}", run.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The six views of `flip-translate` (src/tta.rs) for one image `[C, H, W]`: the image, moved one
/// pixel down-right and one up-left (the border reflected, PyTorch's `reflect` padding), each
/// with its mirror image; weights 1/4, 1/4 for the first pair and 1/8 for each of the others.
fn six_views(img: &[f32], [c, h, w]: [usize; 3]) -> [(Vec<f32>, f32); 6] {
    let reflect = |i: isize, n: usize| -> usize {
        let last = n as isize - 1;
        (if i < 0 {
            -i
        } else if i > last {
            2 * last - i
        } else {
            i
        }) as usize
    };
    let view = |d: isize, mirror: bool| -> Vec<f32> {
        let mut v = vec![0f32; c * h * w];
        for ch in 0..c {
            for y in 0..h {
                let sy = reflect(y as isize - d, h);
                for x in 0..w {
                    let x2 = if mirror { w - 1 - x } else { x }; // mirror the moved image
                    let sx = reflect(x2 as isize - d, w);
                    v[(ch * h + y) * w + x] = img[(ch * h + sy) * w + sx];
                }
            }
        }
        v
    };
    [
        (view(0, false), 0.25),
        (view(0, true), 0.25),
        (view(1, false), 0.125),
        (view(1, true), 0.125),
        (view(-1, false), 0.125),
        (view(-1, true), 0.125),
    ]
}

/// The exported airbench94 file on the whole official CIFAR-10 test set, run by tract with the
/// six-view augmentation computed outside the graph: within 0.05 points of the figure recorded
/// in the checkpoint. Prints the plain (one view) figure too. 20 minutes on 2 busy cores:
/// `KINDLING_DATA=... cargo test --release --test onnx -- --ignored airbench94 --nocapture`.
#[test]
#[ignore]
fn airbench94_onnx_reaches_the_recorded_test_figure() {
    let weights = common::weights_dir().join("cifar10-cnn94.safetensors");
    let meta = checkpoint::read_meta(&weights).unwrap();
    let recorded = meta.evaluation.clone().unwrap();
    assert_eq!((recorded.split.as_str(), recorded.tta), ("test", kindling::tta::Tta::FlipTranslate));
    let test = data::load(DatasetName::Cifar10, Split::Test, &DataOptions::default())
        .expect("the CIFAR-10 test set (KINDLING_DATA)");
    let dir = common::tmpdir("onnx-airbench");
    let out = dir.join("cnn94.onnx");
    onnx::export(&weights, &out).unwrap();
    let runtime = Runtime::load(&std::fs::read(&out).unwrap());
    let shape = [3, 32, 32];
    let d = 3 * 32 * 32;
    let (mut plain, mut tta) = (0usize, 0usize);
    let start = std::time::Instant::now();
    for chunk in (0..test.len()).collect::<Vec<_>>().chunks(250) {
        let px = pixels(&test, chunk);
        let mut batch = Vec::with_capacity(6 * px.len());
        let mut weights = vec![];
        for img in px.chunks(d) {
            for (v, wt) in six_views(img, shape) {
                batch.extend(v);
                weights.push(wt);
            }
        }
        let (logits, _) = runtime.run(&batch, 6 * chunk.len(), shape);
        for (k, &i) in chunk.iter().enumerate() {
            let label = test.labels[i] as usize;
            let views = &logits[k * 60..(k + 1) * 60];
            plain += (argmax(&views[..10]) == label) as usize;
            let mut avg = [0f32; 10];
            for (v, wt) in views.chunks(10).zip(&weights[k * 6..(k + 1) * 6]) {
                for c in 0..10 {
                    avg[c] += wt * v[c];
                }
            }
            tta += (argmax(&avg) == label) as usize;
        }
    }
    let n = test.len() as f64;
    let (plain, tta) = (100.0 * plain as f64 / n, 100.0 * tta as f64 / n);
    eprintln!(
        "airbench94 ONNX on {n} CIFAR-10 test images (tract): {tta:.2}% with flip-translate (recorded {:.2}%), \
         {plain:.2}% plain; {:.0} s for {} views",
        100.0 * recorded.accuracy,
        start.elapsed().as_secs_f64(),
        6 * test.len()
    );
    assert!((tta - 100.0 * recorded.accuracy).abs() <= 0.05, "{tta:.2}% vs recorded {:.2}%", 100.0 * recorded.accuracy);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Time per image of tract running each exported file beside kindling's forward pass (what
/// `predict` runs, test-time augmentation off), from the same pixels to logits (normalization
/// included), one image at a time and in batches of 256:
/// `cargo test --release --test onnx -- --ignored time_per_image --nocapture`.
#[test]
#[ignore]
fn time_per_image() {
    let dir = common::tmpdir("onnx-time");
    eprintln!(
        "{:<28} {:>14} {:>14} {:>14} {:>14}",
        "model", "tract b=1", "kindling b=1", "tract b=256", "kindling b=256"
    );
    for path in shipped() {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let out = dir.join(format!("{name}.onnx"));
        if onnx::export(&path, &out).is_err() {
            continue;
        }
        let ck = checkpoint::load(&path, &Device::Cpu).unwrap();
        let shape = ck.meta.model.input_shape();
        let ds = test_images(ck.meta.dataset_name().unwrap(), shape, 256);
        let runtime = Runtime::load(&std::fs::read(&out).unwrap());
        // Milliseconds per image, the best of 5 runs after a warm-up (the least disturbed by other work).
        let time = |f: &mut dyn FnMut(), images: usize| -> f64 {
            f();
            let best = (0..5)
                .map(|_| {
                    let start = std::time::Instant::now();
                    f();
                    start.elapsed().as_secs_f64()
                })
                .fold(f64::INFINITY, f64::min);
            best / images as f64 * 1e3
        };
        let one: Vec<usize> = (0..32).collect();
        let all: Vec<usize> = (0..256).collect();
        let tract_1 = time(
            &mut || {
                for &i in &one {
                    runtime.run(&pixels(&ds, &[i]), 1, shape);
                }
            },
            one.len(),
        );
        let kindling_1 = time(
            &mut || {
                for &i in &one {
                    kindling_logits(&ck, &ds, &[i]);
                }
            },
            one.len(),
        );
        let tract_b = time(
            &mut || {
                runtime.run(&pixels(&ds, &all), all.len(), shape);
            },
            all.len(),
        );
        let kindling_b = time(
            &mut || {
                kindling_logits(&ck, &ds, &all);
            },
            all.len(),
        );
        eprintln!("{name:<28} {tract_1:>11.3} ms {kindling_1:>11.3} ms {tract_b:>11.3} ms {kindling_b:>11.3} ms");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

//! ONNX export: a checkpoint as an `.onnx` file that other runtimes (ONNX Runtime and its web and
//! mobile builds, tract, TensorRT, OpenVINO, ...) run with kindling's answers.
//!
//! The graph reads what a user has: `image`, a float batch `[N, C, H, W]` of pixels in `[0, 1]`
//! (`u8 / 255`, RGB or grey, at the model's size), with a dynamic batch size `N`. The
//! checkpoint's normalization is its first two nodes (`Sub` the mean, `Div` the standard
//! deviation, per channel); then the model in evaluation mode, each forward pass mirrored op for
//! op (`layers.rs`); the outputs are `logits` and `probabilities` (softmax), both
//! `[N, classes]`. Opset [`OPSET`] (13), f32 weights (an f16 checkpoint is widened). The
//! metadata (`metadata_props`, keys in [`keys`]) carry the class names, the data set, the
//! recorded accuracy, the source checkpoint's SHA-256 and the resize policy.
//!
//! Not in the graph: resizing (the metadata say how kindling does it) and test-time
//! augmentation (a runtime classifies each view itself and averages, see `docs/onnx.md`).
//! Models on hand-made features (HOG, colour histograms) and models of 2-D points are refused.
//!
//! ```
//! # fn main() -> kindling::Result<()> {
//! # let out = std::env::temp_dir().join(format!("kindling-onnx-doc-{}.onnx", std::process::id()));
//! let exported = kindling::onnx::export("weights/mnist-linear.safetensors", &out)?;
//! println!("{} bytes, input [N, {:?}], {} classes", exported.bytes, exported.input_shape, exported.classes);
//! # assert!(out.exists() && exported.bytes > 30_000);
//! # std::fs::remove_file(&out)?;
//! # Ok(())
//! # }
//! ```

mod graph;
mod layers;

use crate::checkpoint::{self, Checkpoint, CheckpointMeta};
use crate::models::ModelConfig;
use crate::{Error, Result};
use graph::{value_info, Attr};
use prost::Message;
use std::path::{Path, PathBuf};
use tract_onnx::pb;

/// The ONNX operator set the files use: 13 (ONNX 1.8, 2020), read by every maintained runtime
/// (ONNX Runtime, its web and mobile builds, TensorRT, OpenVINO, Core ML's converter, tract).
/// It has every op kindling's models need but `Gelu` (opset 20), which is written with `Erf`.
pub const OPSET: i64 = 13;
/// The IR version that goes with [`OPSET`].
pub const IR_VERSION: i64 = 7;
/// The input's name: float `[N, C, H, W]`, pixels in `[0, 1]`.
pub const INPUT: &str = "image";
/// The first output's name: `[N, classes]` logits.
pub const LOGITS: &str = "logits";
/// The second output's name: `[N, classes]` softmax probabilities.
pub const PROBABILITIES: &str = "probabilities";

/// The keys of the file's `metadata_props`.
pub mod keys {
    /// Class names in label order, as a JSON array.
    pub const CLASSES: &str = "classes";
    /// The data set the model was trained on (`cifar10`, `mnist`, `fashion-mnist`, ...).
    pub const DATASET: &str = "dataset";
    /// The recorded accuracy (a fraction, e.g. `0.9421`), absent when the checkpoint records none.
    pub const ACCURACY: &str = "accuracy";
    /// The recorded evaluation as JSON: data set, split, images, accuracy, test-time
    /// augmentation and the command that measured it.
    pub const EVALUATION: &str = "evaluation";
    /// Further recorded evaluations (a JSON array), e.g. the official test score of a model
    /// tuned on held-out data; absent when there are none.
    pub const EXTRA_EVALUATIONS: &str = "extra_evaluations";
    /// The test-time augmentation the recorded accuracy used (`none`, `flip`, `flip-translate`),
    /// which is not in the graph.
    pub const TTA: &str = "tta";
    /// How an image of another size becomes the input, in words.
    pub const RESIZE: &str = "resize";
    /// What the input holds, in words.
    pub const INPUT: &str = "input";
    /// The per-channel mean and standard deviation in the graph's first nodes, as JSON.
    pub const NORMALIZATION: &str = "normalization";
    /// The model's kindling configuration, as JSON.
    pub const MODEL: &str = "model";
    /// The source checkpoint's SHA-256, hex.
    pub const SOURCE_SHA256: &str = "source_sha256";
    /// The source checkpoint's file name.
    pub const SOURCE_FILE: &str = "source_file";
}

/// The checkpoint file an export came from, recorded in the metadata.
#[derive(Debug, Clone)]
pub struct Source {
    /// Its file name.
    pub file_name: String,
    /// The SHA-256 of its bytes, hex.
    pub sha256: String,
}

impl Source {
    /// The source record of the file `path` whose bytes are `bytes`.
    pub fn of(path: &Path, bytes: &[u8]) -> Self {
        let sha256 = checkpoint::sha256_hex(bytes);
        let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Source { file_name, sha256 }
    }
}

/// What [`export`] wrote.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The ONNX file.
    pub path: PathBuf,
    /// Its size.
    pub bytes: usize,
    /// Nodes in its graph.
    pub nodes: usize,
    /// The `[C, H, W]` of the input `image` (after the batch dimension).
    pub input_shape: [usize; 3],
    /// Number of classes: the width of both outputs.
    pub classes: usize,
    /// The checkpoint it came from.
    pub source: Source,
}

/// Writes the checkpoint `weights` as the ONNX file `out`, atomically (a temporary name, then a
/// rename: a failed export leaves nothing behind and an earlier `out` untouched).
///
/// # Errors
/// When `weights` is not a kindling checkpoint, when its model cannot be expressed in ONNX
/// ([`check`]), or when `out` cannot be written.
pub fn export(weights: impl AsRef<Path>, out: impl AsRef<Path>) -> Result<Exported> {
    let (weights, out) = (weights.as_ref(), out.as_ref());
    if weights.is_dir() {
        return Err(Error::checkpoint(weights, "is a directory, expected a .safetensors file"));
    }
    let bytes = std::fs::read(weights).map_err(|e| Error::checkpoint(weights, format!("cannot read: {e}")))?;
    let source = Source::of(weights, &bytes);
    let ck = checkpoint::load_bytes(weights, &bytes, &candle_core::Device::Cpu)?;
    check(&ck.meta).map_err(|e| match e {
        Error::Export(problem) => Error::checkpoint(weights, problem),
        e => e,
    })?;
    if same_file(weights, out) {
        return Err(Error::Export(format!(
            "{} is the checkpoint being exported: choose another output path (e.g. one ending in .onnx)",
            out.display()
        )));
    }
    let proto = model_proto(&ck, Some(&source))?;
    let onnx = proto.encode_to_vec();
    checkpoint::replace_file(out, &onnx).map_err(|problem| Error::Export(format!("{}: {problem}", out.display())))?;
    let model = &ck.meta.model;
    Ok(Exported {
        path: out.to_path_buf(),
        bytes: onnx.len(),
        nodes: proto.graph.map_or(0, |g| g.node.len()),
        input_shape: model.input_shape(),
        classes: model.classes(),
        source,
    })
}

/// Whether `a` and `b` name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// Checks that the model of `meta` can be written as ONNX, and returns its input `[C, H, W]`.
///
/// # Errors
/// [`Error::Export`] for a model on hand-made features (HOG, colour histograms: the graph would
/// need the feature extractor) and for a model whose input is not an image (2-D points).
pub fn check(meta: &CheckpointMeta) -> Result<[usize; 3]> {
    if let Some(f) = &meta.features {
        let kinds: Vec<String> = f.kinds.iter().map(|k| json(k).trim_matches('"').to_string()).collect();
        return Err(Error::Export(format!(
            "the model reads hand-made features ({}) computed from the image, not the pixels, and the feature \
             extractor is not an ONNX graph: export a model trained on the pixels (train without `features`)",
            kinds.join(", ")
        )));
    }
    let shape = meta.model.input_shape();
    let is_image = matches!(shape[0], 1 | 3) && shape[1] > 1 && shape[2] > 1;
    if !is_image {
        return Err(Error::Export(format!(
            "the model reads {} (trained on {}), not images: only image classifiers are exported",
            if shape == [2, 1, 1] { "2-D points".to_string() } else { format!("samples of shape {shape:?}") },
            meta.dataset
        )));
    }
    Ok(shape)
}

/// The ONNX file (serialized `ModelProto`) for `checkpoint`, with `source` in its metadata when
/// the checkpoint came from a file.
///
/// # Errors
/// As [`check`]; an error from reading the parameters.
pub fn encode(checkpoint: &Checkpoint, source: Option<&Source>) -> Result<Vec<u8>> {
    Ok(model_proto(checkpoint, source)?.encode_to_vec())
}

/// The `ModelProto` of [`encode`].
fn model_proto(ck: &Checkpoint, source: Option<&Source>) -> Result<pb::ModelProto> {
    let meta = &ck.meta;
    let [c, h, w] = check(meta)?;
    let norm = &meta.normalization;
    if norm.mean.len() != c || norm.std.len() != c {
        return Err(Error::Export(format!(
            "the checkpoint's normalization has {} means and {} deviations for {c} channels",
            norm.mean.len(),
            norm.std.len()
        )));
    }
    let mut b = layers::Builder::new(&ck.params);
    // (x - mean) / std, per channel, as kindling normalizes.
    let mean = b.graph.weight("normalize/mean", &[1, c, 1, 1], &norm.mean);
    let std = b.graph.weight("normalize/std", &[1, c, 1, 1], &norm.std);
    let centred = b.graph.node("normalize", "Sub", &[INPUT, &mean], vec![]);
    let x = b.graph.node("normalize", "Div", &[&centred, &std], vec![]); // [N, C, H, W]
    let logits = match &meta.model {
        ModelConfig::Linear(cfg) => b.linear_classifier(&x, cfg)?,
        ModelConfig::Mlp(cfg) => b.mlp(&x, cfg)?,
        ModelConfig::Cnn(cfg) => b.cnn(&x, cfg)?,
    }; // [N, classes]
    let logits = b.graph.rename_last(&logits, LOGITS);
    let p = b.graph.node("softmax", "Softmax", &[&logits], vec![Attr::int("axis", -1)]);
    b.graph.rename_last(&p, PROBABILITIES);
    let (node, initializer) = b.graph.into_parts();

    let classes = meta.model.classes();
    let file = source.map(|s| s.file_name.as_str()).unwrap_or("a checkpoint in memory");
    let graph = pb::GraphProto {
        node,
        name: format!("kindling-{}", meta.model.kind().as_str()),
        initializer,
        doc_string: format!("kindling {} model for {}, exported from {file}", meta.model.kind().as_str(), meta.dataset),
        input: vec![value_info(
            INPUT,
            &[None, Some(c), Some(h), Some(w)],
            &format!("pixels in [0, 1] (u8 / 255), {}, {h}x{w}, batch first", channel_words(c)),
        )],
        output: vec![
            value_info(LOGITS, &[None, Some(classes)], "class scores before softmax"),
            value_info(PROBABILITIES, &[None, Some(classes)], "softmax of the logits"),
        ],
        ..Default::default()
    };
    Ok(pb::ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: OPSET }],
        producer_name: "kindling".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!(
            "{} classifier of {c}x{h}x{w} images into {classes} classes ({}). Input `{INPUT}`: float [N, {c}, {h}, {w}], \
             pixels in [0, 1]; outputs `{LOGITS}` and `{PROBABILITIES}`: [N, {classes}]. Normalization is in the \
             graph; resizing and test-time augmentation are not (see the metadata).",
            meta.model.kind().as_str(),
            meta.dataset
        ),
        graph: Some(graph),
        metadata_props: metadata(meta, source)
            .into_iter()
            .map(|(key, value)| pb::StringStringEntryProto { key: key.into(), value })
            .collect(),
        ..Default::default()
    })
}

fn channel_words(c: usize) -> &'static str {
    if c == 3 {
        "RGB channels"
    } else {
        "one grey channel"
    }
}

/// How kindling fits an image of another size and colour to the model's input (the checkpoint's
/// recorded [`ImageSpec`](crate::data::image::ImageSpec), squash for files that predate it), in words.
fn resize_words(meta: &CheckpointMeta, [c, h, w]: [usize; 3]) -> String {
    use crate::data::image::ResizePolicy;
    let policy = meta.image_spec().map(|s| s.resize).unwrap_or_default();
    let how = match policy {
        ResizePolicy::Squash => format!(
            "squash to {w}x{h}: the whole image scaled to exactly {w}x{h}, the aspect ratio not kept and nothing cropped"
        ),
        ResizePolicy::Crop => format!(
            "crop to {w}x{h}: the largest centred region of the {w}:{h} shape, scaled to exactly {w}x{h}"
        ),
        ResizePolicy::Pad => format!(
            "pad to {w}x{h}: the whole image scaled to fit inside {w}x{h}, the borders black"
        ),
    };
    format!(
        "{how}, with a triangle (bilinear) filter, as kindling's Classifier does (src/data/image.rs); transparent \
         pixels composited over black; {}",
        if c == 3 { "colour as RGB" } else { "colour converted to grey (luma 0.2126 R + 0.7152 G + 0.0722 B)" }
    )
}

/// The `metadata_props` entries, keys from [`keys`].
fn metadata(meta: &CheckpointMeta, source: Option<&Source>) -> Vec<(&'static str, String)> {
    let [c, h, w] = meta.model.input_shape();
    let mut m = vec![
        (keys::CLASSES, json(&meta.classes)),
        (keys::DATASET, meta.dataset.clone()),
        (
            keys::INPUT,
            format!(
            "{INPUT}: float32 [N, {c}, {h}, {w}], {}, pixel values divided by 255 (so in [0, 1]); the normalization \
             is the graph's first nodes",
            channel_words(c)
        ),
        ),
        (keys::RESIZE, resize_words(meta, [c, h, w])),
        (keys::NORMALIZATION, json(&meta.normalization)),
        (keys::MODEL, json(&meta.model)),
        (keys::TTA, meta.recorded_tta().as_str().to_string()),
    ];
    if let Some(e) = &meta.evaluation {
        m.push((keys::ACCURACY, format!("{}", e.accuracy)));
        m.push((keys::EVALUATION, json(e)));
    }
    if !meta.extra_evaluations.is_empty() {
        m.push((keys::EXTRA_EVALUATIONS, json(&meta.extra_evaluations)));
    }
    if let Some(s) = source {
        m.push((keys::SOURCE_SHA256, s.sha256.clone()));
        m.push((keys::SOURCE_FILE, s.file_name.clone()));
    }
    m
}

/// `v` as JSON, for the metadata values.
fn json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).expect("metadata serializes")
}

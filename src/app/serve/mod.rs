//! The local web page: every rung of the ladder on the user's own image, side by side.
//!
//! [`Server`] holds the checkpoints (as [`Classifier`]s) and answers a small JSON API; the page
//! itself (HTML, script, style) is compiled into the binary, so it works offline and serves no
//! file from the disk. The `serve` example runs it:
//!
//! - `GET /` the page; `GET /app.js`, `GET /style.css` its assets;
//! - `GET /api/models`: every model's card (data set, kind, recorded accuracy and split,
//!   parameters, training command and time);
//! - `POST /api/classify?dataset=D[&models=ID,ID]`: the image as the raw body or as the
//!   multipart field `image`; every model of data set `D` (all of them when `dataset` is absent;
//!   a model trained on a folder has the data set `folder:NAME`, NAME the folder's name)
//!   answers with its top classes, its time in milliseconds and what it looks at (kNN's five
//!   nearest training images; the linear model's template of its top class; the CNN's saliency
//!   map);
//! - `GET /api/models/ID/filters.png`: a CNN's first-layer filters;
//! - `GET /api/models/ID/confusion.png`: its confusion matrix on the first 2,000 held-out images
//!   (computed on the first request);
//! - `GET /api/random?dataset=D`: a random held-out image as PNG (its class in the
//!   `x-kindling-label` header); for a folder model, one of the files it held out.
//!
//! Bad input gets a 4xx with `{"error": "..."}` and the server goes on serving.

use crate::checkpoint::CheckpointMeta;
use crate::data::folder::FolderRecord;
use crate::data::image::ImageSpec;
use crate::data::{DataOptions, Dataset, DatasetName, Split};
use crate::models::Model;
use crate::{Classifier, Error, Result};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use candle_core::Device;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The largest upload accepted, in bytes.
pub const MAX_UPLOAD: usize = 10 << 20;
/// The largest image side accepted (a PNG may declare any size in a few bytes).
pub const MAX_SIDE: u32 = 4096;

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// One model the page shows.
pub struct Entry {
    /// Its id in the API: the checkpoint's file name without `.safetensors`.
    pub id: String,
    /// The model.
    pub classifier: Classifier,
    /// Its data set.
    pub dataset: DatasetName,
    /// The id of its [`Source`]: the data set's name, or `folder:NAME`.
    pub source: String,
    /// Its place on the ladder (linear 1, MLP 2, features MLP 3, CNN 4).
    pub rung: u8,
    /// Its card, as `GET /api/models` gives it.
    pub card: Value,
}

/// The ladder's first rung for one data set: k-nearest neighbour on raw pixels, over the first
/// training images (never the held-out ones).
pub struct KnnRung {
    /// The classifier.
    pub knn: crate::models::knn::Knn,
    /// Its training images, for showing the neighbours.
    pub train: Dataset,
    /// Neighbours that vote.
    pub k: usize,
    /// How an uploaded image is made comparable to the training images.
    pub spec: ImageSpec,
}

/// Where the images of a model's data set come from: a built-in data set, or the folder a folder
/// model was trained on (with its image format, class subset and held-out files). Models trained
/// on the same data share one.
#[derive(Debug, Clone)]
pub struct Source {
    /// Its name in the API: `cifar10`, `folder:pets`, `cifar10[cat,dog]` for a class subset.
    pub id: String,
    /// The data set.
    pub dataset: DatasetName,
    /// How its images are read (the checkpoint's folder, format and classes filled in).
    pub options: DataOptions,
    /// A folder model's record of its folder.
    pub folder: Option<FolderRecord>,
}

impl Source {
    /// The source of a checkpoint's data, its data read as `base` says (where the data sets are).
    pub fn of(meta: &CheckpointMeta, dataset: DatasetName, base: &DataOptions) -> Result<Source> {
        let options = DataOptions { allow_download: false, verbose: false, ..meta.data_options(base, dataset)? };
        let mut id = match &meta.folder {
            Some(f) => format!("folder:{}", f.root.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()),
            None => dataset.as_str().to_string(),
        };
        if let Some(c) = &meta.class_filter {
            id += &format!("[{}]", c.join(","));
        }
        Ok(Source { id, dataset, options, folder: meta.folder.clone() })
    }

    /// True when `other` reads the same images the same way (so the two share an id).
    fn same_data(&self, other: &Source) -> bool {
        self.dataset == other.dataset
            && self.options.data_dir == other.options.data_dir
            && self.options.classes == other.options.classes
            && self.options.image == other.options.image
            && self.folder.as_ref().map(|f| &f.held_out) == other.folder.as_ref().map(|f| &f.held_out)
    }

    /// The images a card's confusion matrix and "random held-out image" use: the files a folder
    /// model held out, CIFAR-10's batch 5 for a model that held it out, else the test split.
    pub fn held_out_for(&self, split: Option<crate::data::SplitRecord>) -> HeldOut {
        match &self.folder {
            Some(f) if !f.held_out.is_empty() => HeldOut::Recorded,
            _ => HeldOut::of(self.dataset, split),
        }
    }
}

/// Neighbours that vote in the page's kNN (the cross-validated k of CIFAR-10, see the README).
pub const KNN_K: usize = 10;

/// The server's state: the models, and the held-out images of `GET /api/random`.
pub struct Server {
    /// The models, in ladder order within each data set.
    pub entries: Vec<Entry>,
    /// The kNN rung of each data set (by [`Source`] id) whose training images were found.
    pub knn: HashMap<String, KnnRung>,
    /// The data sets of the models, by id.
    pub sources: HashMap<String, Source>,
    data: DataOptions,
    held_out: Mutex<HashMap<(String, HeldOut), Arc<Dataset>>>,
    confusion: Mutex<HashMap<String, Vec<u8>>>,
    device: Device,
}

/// Images scored for a model card's confusion matrix (the first of its held-out split).
pub const CONFUSION_IMAGES: usize = 2000;

/// Images a model never trained on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeldOut {
    /// CIFAR-10's `data_batch_5`, the last 10,000 training images: the ladder's CIFAR-10 models
    /// were tuned and scored on it (trained on batches 1-4).
    Batch5,
    /// The data set's test split: held out from every model, whatever it trained on.
    Test,
    /// The files a folder model held out, as its checkpoint records them.
    Recorded,
}

impl HeldOut {
    /// The split a model's card is scored on: CIFAR-10's batch 5 when the model's recorded split
    /// kept all of it out of training, else the test split (a model trained on all 50,000
    /// CIFAR-10 images, such as the airbench94 one; one without a recorded split; other data sets).
    pub fn of(dataset: DatasetName, split: Option<crate::data::SplitRecord>) -> HeldOut {
        let batch5 = 40_000..50_000;
        match split {
            Some(r)
                if dataset == DatasetName::Cifar10 && r.total == 50_000 && r.overlap_with_training(&batch5) == 0 =>
            {
                HeldOut::Batch5
            }
            _ => HeldOut::Test,
        }
    }

    /// How a page or picture names these images.
    pub fn describe(self) -> &'static str {
        match self {
            HeldOut::Batch5 => "held-out (batch 5)",
            HeldOut::Test => "test",
            HeldOut::Recorded => "held-out",
        }
    }
}

impl Server {
    /// Loads the checkpoints at `paths` onto `device`; `data` says where `GET /api/random` finds
    /// held-out images and where the kNN rung finds its first `knn_images` training images (0: no
    /// kNN). A file that does not load is an error naming it; missing data only leaves kNN out.
    pub fn load(paths: &[std::path::PathBuf], data: DataOptions, knn_images: usize, device: &Device) -> Result<Server> {
        let mut entries = vec![];
        let mut sources: HashMap<String, Source> = HashMap::new();
        for path in paths {
            let classifier = Classifier::load(path, device)?;
            let meta = classifier.meta();
            let dataset = meta.dataset_name().map_err(|e| Error::checkpoint(path, e))?;
            if meta.image_input().is_err() {
                continue; // a 2-D point model has nothing to say about an image
            }
            let mut source = Source::of(meta, dataset, &data).map_err(|e| Error::checkpoint(path, e.to_string()))?;
            let base = source.id.clone();
            for n in 2.. {
                match sources.get(&source.id) {
                    Some(known) if !known.same_data(&source) => source.id = format!("{base}-{n}"),
                    _ => break,
                }
            }
            sources.entry(source.id.clone()).or_insert_with(|| source.clone());
            let id = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
            let rung = match (&classifier.checkpoint().model, meta.features.is_some()) {
                (Model::Linear(_), _) => 1,
                (Model::Mlp(_), false) => 2,
                (Model::Mlp(_), true) => 3,
                (Model::Cnn(_), _) => 4,
            };
            let mut card = card(&id, rung, meta, classifier.checkpoint().params.count());
            card["dataset"] = json!(source.id);
            entries.push(Entry { id, classifier, dataset, source: source.id, rung, card });
        }
        entries.sort_by(|a, b| (&a.source, a.rung, &a.id).cmp(&(&b.source, b.rung, &b.id)));
        let mut knn = HashMap::new();
        // The training split is read once: its tail (batch 5 for CIFAR-10) is kept for the
        // confusion matrices, so the first request does not load the split again.
        let mut held_out = HashMap::new();
        let mut ids: Vec<&String> = sources.keys().collect();
        ids.sort();
        for id in ids.into_iter().filter(|_| knn_images > 0) {
            let src = &sources[id];
            let Ok(train) = knn_images_of(src) else { continue };
            if src.folder.is_none() {
                if let Ok(tail) = training_tail(&train) {
                    held_out.insert((id.clone(), HeldOut::Batch5), Arc::new(tail));
                }
            }
            let train = train.take(knn_images);
            let spec = match &src.folder {
                Some(f) => f.image,
                None => ImageSpec::of_shape(train.shape, crate::data::image::ResizePolicy::Squash),
            };
            let xs = train.matrix(&crate::data::Normalization::identity(train.shape[0]), device)?;
            let fitted = crate::models::knn::Knn::new(&xs, &train.labels_u32(), crate::models::knn::Distance::L2)?;
            knn.insert(id.clone(), KnnRung { knn: fitted, k: KNN_K.min(train.len()), train, spec });
        }
        Ok(Server {
            entries,
            knn,
            sources,
            data,
            held_out: Mutex::new(held_out),
            confusion: Mutex::new(HashMap::new()),
            device: device.clone(),
        })
    }

    /// The API and the page.
    pub fn router(self) -> Router {
        Router::new()
            .route("/", get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX_HTML) }))
            .route("/app.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], APP_JS) }))
            .route("/style.css", get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE_CSS) }))
            .route("/api/models", get(models))
            .route("/api/models/{id}/filters.png", get(filters))
            .route("/api/models/{id}/confusion.png", get(confusion))
            .route("/api/classify", post(classify))
            .route("/api/random", get(random))
            .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such page: see / and /api/models") })
            .layer(DefaultBodyLimit::max(MAX_UPLOAD))
            .with_state(Arc::new(self))
    }

    fn held_out(&self, source: &str, which: HeldOut) -> Result<Arc<Dataset>> {
        let key = (source.to_string(), which);
        if let Some(d) = self.held_out.lock().expect("lock").get(&key) {
            return Ok(d.clone());
        }
        let src =
            self.sources.get(source).ok_or_else(|| Error::invalid("dataset", format!("no data set '{source}'")))?;
        let (dataset, opts) = (src.dataset, &src.options);
        let ds = match (which, &src.folder) {
            (HeldOut::Recorded, Some(f)) => {
                let classes = held_out_classes(src)?;
                crate::data::folder::load_files(f, &f.held_out, &classes, opts)?
            }
            (HeldOut::Recorded, None) => {
                return Err(Error::invalid("dataset", format!("{source} records no held-out files")))
            }
            (HeldOut::Batch5, _) => training_tail(&crate::data::load(dataset, Split::Train, opts)?)?,
            (HeldOut::Test, _) => crate::data::load(dataset, Split::Test, opts)?,
        };
        let ds = Arc::new(ds);
        self.held_out.lock().expect("lock").insert(key, ds.clone());
        Ok(ds)
    }
}

/// The class names of a folder source's models, in label order.
fn held_out_classes(src: &Source) -> Result<Vec<String>> {
    let f = src.folder.as_ref().ok_or_else(|| Error::invalid("dataset", "not a folder"))?;
    Ok(match &src.options.classes {
        Some(keep) => crate::data::source::resolve_classes(&f.classes, keep, &src.id)?
            .into_iter()
            .map(|i| f.classes[i].clone())
            .collect(),
        None => f.classes.clone(),
    })
}

/// The training images the kNN rung of `src` may use: a built-in set's training split, or a
/// folder's training images without the ones its models held out.
fn knn_images_of(src: &Source) -> Result<Dataset> {
    match &src.folder {
        None => crate::data::load(src.dataset, Split::Train, &src.options),
        Some(f) => {
            let loaded = crate::data::folder::load(Split::Train, &src.options)?;
            let held: std::collections::HashSet<&String> = f.held_out.iter().collect();
            let keep: Vec<usize> = (0..loaded.files.len()).filter(|&i| !held.contains(&loaded.files[i])).collect();
            Ok(loaded.data.subset(&keep))
        }
    }
}

/// The last 10,000 images of a training split (CIFAR-10's batch 5), or all but one of a smaller one.
fn training_tail(train: &Dataset) -> Result<Dataset> {
    Ok(train.split_tail(10_000.min(train.len().saturating_sub(1)))?.1)
}

/// A model's card: what its checkpoint says about it.
fn card(id: &str, rung: u8, meta: &CheckpointMeta, params: usize) -> Value {
    let kind = match rung {
        1 => "linear",
        2 => "MLP",
        3 => "MLP on HOG + colour features",
        _ => "CNN",
    };
    let (accuracy, split) = match &meta.evaluation {
        Some(e) if e.split == "val" => (Some(e.accuracy), format!("held-out ({} images)", e.images)),
        Some(e) => (Some(e.accuracy), format!("test ({} images)", e.images)),
        None => (meta.metrics.as_ref().and_then(|m| m.val_acc), "held-out, at the last epoch".to_string()),
    };
    json!({
        "id": id,
        "dataset": meta.dataset,
        "kind": kind,
        "rung": rung,
        "classes": meta.classes,
        "accuracy": accuracy,
        "split": split,
        "tta": meta.recorded_tta().as_str(),
        "parameters": params,
        "epochs": meta.epoch,
        "command": meta.command,
        "training_seconds": meta.wall_seconds,
        "machine": meta.machine,
        "input": meta.image_input().ok(),
        "features": meta.features.is_some(),
    })
}

/// An error answer: a status and `{"error": message}`.
pub struct ApiError(StatusCode, String);

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError(status, message.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match e {
            Error::Candle(_) | Error::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError(status, e.to_string())
    }
}

async fn models(State(s): State<Arc<Server>>) -> Json<Value> {
    let mut cards: Vec<Value> = vec![];
    let mut sets: Vec<&String> = s.knn.keys().collect();
    sets.sort();
    for d in sets {
        let r = &s.knn[d];
        cards.push(json!({
            "id": knn_id(d),
            "dataset": d,
            "kind": "kNN",
            "rung": 0,
            "classes": r.train.classes,
            "accuracy": null,
            "split": "",
            "parameters": 0,
            "command": format!("k = {}, L2 distance on raw pixels, the first {} training images", r.k, r.train.len()),
        }));
    }
    cards.extend(s.entries.iter().map(|e| e.card.clone()));
    Json(Value::Array(cards))
}

fn knn_id(d: &str) -> String {
    format!("{d}-knn")
}

/// The kNN rung's answer: votes of the `k` nearest training images as probabilities, and the
/// five nearest with their classes.
fn knn_answer(d: &str, r: &KnnRung, img: &image::DynamicImage, device: &Device) -> Result<Value> {
    let t0 = Instant::now();
    let [_, h, w] = r.train.shape;
    let px = crate::data::image::to_pixels(img, &r.spec);
    let note = crate::data::image::fit_note(img, &r.spec);
    let q: Vec<f32> = px.iter().map(|&v| v as f32 / 255.0).collect();
    let q = candle_core::Tensor::from_vec(q, (1, r.spec.len()), device)?;
    let near = r.knn.neighbours(&q, r.k)?.remove(0);
    let mut votes = vec![0usize; r.train.num_classes()];
    for &i in &near {
        votes[r.train.labels[i] as usize] += 1;
    }
    let winner = crate::models::knn::vote(&near, &r.train.labels_u32(), r.train.num_classes()) as usize;
    let mut top: Vec<(usize, usize)> = votes.iter().copied().enumerate().filter(|&(_, n)| n > 0).collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then((a.0 != winner).cmp(&(b.0 != winner))));
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    let neighbours = near
        .iter()
        .take(5)
        .map(|&i| -> Result<Value> {
            let px = crate::app::visualize::images(&r.train, &[i]).remove(0);
            let tile = crate::app::plot::tile_image(&px, r.train.shape);
            let big = image::imageops::resize(&tile, w as u32 * 2, h as u32 * 2, image::imageops::FilterType::Nearest);
            Ok(json!({
                "class": r.train.classes[r.train.labels[i] as usize],
                "picture": format!("data:image/png;base64,{}", base64(&crate::app::plot::png_bytes(&big)?)),
            }))
        })
        .collect::<Result<Vec<Value>>>()?;
    Ok(json!({
        "id": knn_id(d),
        "kind": "kNN",
        "rung": 0,
        "dataset": d,
        "top": top.iter().take(5).map(|&(k, n)| json!({"class": r.train.classes[k], "p": n as f64 / near.len() as f64})).collect::<Vec<_>>(),
        "ms": ms,
        "note": note,
        "picture_title": format!("its {} nearest training images", neighbours.len()),
        "picture": null,
        "neighbours": neighbours,
    }))
}

async fn filters(State(s): State<Arc<Server>>, Path(id): Path<String>) -> std::result::Result<Response, ApiError> {
    let e = s.entries.iter().find(|e| e.id == id).ok_or_else(|| unknown_model(&id))?;
    let ck = e.classifier.checkpoint();
    let png = tokio::task::spawn_blocking({
        let ck = ck.clone();
        move || -> Result<Vec<u8>> {
            let (images, shape, _) =
                crate::app::visualize::first_layer_images(&ck, crate::app::visualize::What::Filters)?;
            let cols = (images.len() as f64).sqrt().ceil() as usize;
            let tmp = std::env::temp_dir().join(format!(
                "kindling-filters-{}-{:?}.png",
                std::process::id(),
                std::thread::current().id()
            ));
            crate::app::plot::image_grid(&tmp, &images, shape, &[], cols.max(1), 12)?;
            let bytes = std::fs::read(&tmp)?;
            let _ = std::fs::remove_file(&tmp);
            Ok(bytes)
        }
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

/// The confusion matrix of a model on the first [`CONFUSION_IMAGES`] held-out images of its data
/// set (CIFAR-10's batch 5, the others' test split), computed on the first request and kept.
async fn confusion(State(s): State<Arc<Server>>, Path(id): Path<String>) -> std::result::Result<Response, ApiError> {
    if !s.entries.iter().any(|e| e.id == id) {
        return Err(unknown_model(&id));
    }
    if let Some(png) = s.confusion.lock().expect("lock").get(&id) {
        return Ok(([(header::CONTENT_TYPE, "image/png")], png.clone()).into_response());
    }
    let server = s.clone();
    let key = id.clone();
    let png = tokio::task::spawn_blocking(move || -> std::result::Result<Vec<u8>, ApiError> {
        let e = server.entries.iter().find(|e| e.id == key).expect("checked above");
        let ck = e.classifier.checkpoint();
        let which = server.sources[&e.source].held_out_for(ck.meta.split_record());
        let ds = server.held_out(&e.source, which).map_err(|err| {
            ApiError::new(StatusCode::NOT_FOUND, format!("no {} {} images here: {err}", which.describe(), e.source))
        })?;
        let ds = ds.take(CONFUSION_IMAGES);
        let report = crate::app::report::score(ck, &ds, &server.device, e.classifier.tta())?;
        let tmp = std::env::temp_dir().join(format!("kindling-confusion-{}-{key}.png", std::process::id()));
        let title = format!(
            "{key}: first {} {} images, {:.1}%",
            ds.len(),
            which.describe(),
            100.0 * report.confusion.accuracy()
        );
        crate::app::plot::confusion_heatmap(&tmp, &report.confusion.counts, &ck.meta.classes, &title)?;
        let bytes = std::fs::read(&tmp).map_err(Error::from)?;
        let _ = std::fs::remove_file(&tmp);
        Ok(bytes)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    s.confusion.lock().expect("lock").insert(id, png.clone());
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

fn unknown_model(id: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no model '{id}': GET /api/models lists them"))
}

#[derive(Deserialize)]
struct DatasetQuery {
    dataset: Option<String>,
    models: Option<String>,
}

fn parse_dataset(s: &Server, name: &str) -> std::result::Result<String, ApiError> {
    if s.sources.contains_key(name) {
        return Ok(name.to_string());
    }
    // A built-in data set none of the models reads is still a data set (its random images).
    serde_json::from_value::<DatasetName>(Value::String(name.to_string()))
        .map(|d| d.as_str().to_string())
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, format!("unknown data set '{name}'")))
}

async fn random(
    State(s): State<Arc<Server>>,
    Query(q): Query<DatasetQuery>,
) -> std::result::Result<Response, ApiError> {
    let name = q.dataset.ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "give ?dataset=NAME"))?;
    let dataset = parse_dataset(&s, &name)?;
    let server = s.clone();
    let (png, label) = tokio::task::spawn_blocking(move || -> Result<(Vec<u8>, String)> {
        // The test split: held out from every model on the page (batch 5 is not, for a CIFAR-10
        // model trained on all 50,000 images).
        let which = match server.sources.get(&dataset) {
            Some(src) if src.folder.is_some() => src.held_out_for(None),
            _ => HeldOut::Test,
        };
        let ds = match server.sources.contains_key(&dataset) {
            true => server.held_out(&dataset, which)?,
            false => Arc::new(crate::data::load(
                serde_json::from_value(Value::String(dataset.clone()))
                    .map_err(|_| Error::invalid("dataset", "unknown"))?,
                Split::Test,
                &DataOptions { allow_download: false, ..server.data.clone() },
            )?),
        };
        let i = rand::random::<u32>() as usize % ds.len();
        let px = crate::app::visualize::images(&ds, &[i]).remove(0);
        let img = crate::app::plot::tile_image(&px, ds.shape);
        Ok((crate::app::plot::png_bytes(&img)?, ds.classes[ds.labels[i] as usize].clone()))
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, format!("no held-out {name} images here: {e}")))?;
    Ok((
        [(header::CONTENT_TYPE, "image/png".to_string()), (header::HeaderName::from_static("x-kindling-label"), label)],
        png,
    )
        .into_response())
}

/// The image bytes of a request: the multipart field `image`, or the raw body.
fn image_bytes(headers: &HeaderMap, body: &Bytes) -> std::result::Result<Vec<u8>, ApiError> {
    let ctype = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let bytes = if ctype.starts_with("multipart/form-data") {
        let boundary = ctype
            .split(';')
            .find_map(|p| p.trim().strip_prefix("boundary="))
            .map(|b| b.trim_matches('"').to_string())
            .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "multipart body without a boundary"))?;
        multipart_field(body, &boundary, "image")
            .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "the multipart body has no field named 'image'"))?
    } else {
        body.to_vec()
    };
    if bytes.is_empty() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "empty upload: send a PNG or JPEG image"));
    }
    Ok(bytes)
}

/// The contents of field `name` of a `multipart/form-data` body.
pub fn multipart_field(body: &[u8], boundary: &str, name: &str) -> Option<Vec<u8>> {
    let delim = format!("--{boundary}");
    let find = |hay: &[u8], needle: &[u8], from: usize| -> Option<usize> {
        hay.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
    };
    let mut at = find(body, delim.as_bytes(), 0)?;
    loop {
        let start = at + delim.len();
        let next = find(body, delim.as_bytes(), start)?;
        let part = &body[start..next];
        let head_end = find(part, b"\r\n\r\n", 0)?;
        let head = String::from_utf8_lossy(&part[..head_end]).to_lowercase();
        if head.contains(&format!("name=\"{name}\"")) {
            let mut content = &part[head_end + 4..];
            if content.ends_with(b"\r\n") {
                content = &content[..content.len() - 2];
            }
            return Some(content.to_vec());
        }
        at = next;
    }
}

/// Decodes an upload, refusing images larger than [`MAX_SIDE`] before allocating them.
pub fn decode_upload(bytes: &[u8]) -> std::result::Result<image::DynamicImage, ApiError> {
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("unreadable upload: {e}")))?;
    if reader.format().is_none() {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("not an image: send a {}", crate::data::image::FORMATS),
        ));
    }
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("not an image we can read: {e}")))?;
    if w > MAX_SIDE || h > MAX_SIDE {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the image declares {w}x{h} pixels; the largest side accepted is {MAX_SIDE}"),
        ));
    }
    crate::data::image::decode(bytes)
        .map_err(|problem| ApiError::new(StatusCode::BAD_REQUEST, format!("the upload {problem}")))
}

async fn classify(
    State(s): State<Arc<Server>>,
    Query(q): Query<DatasetQuery>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> std::result::Result<Json<Value>, ApiError> {
    let body =
        body.map_err(|e| ApiError::new(e.status(), format!("{e} (the largest upload is {} MB)", MAX_UPLOAD >> 20)))?;
    let dataset = q.dataset.as_deref().map(|d| parse_dataset(&s, d)).transpose()?;
    let wanted: Option<Vec<String>> = q.models.as_ref().map(|m| m.split(',').map(str::to_string).collect());
    if let Some(w) = &wanted {
        let known = |id: &String| s.entries.iter().any(|e| &e.id == id) || s.knn.keys().any(|d| &knn_id(d) == id);
        if let Some(id) = w.iter().find(|id| !known(id)) {
            return Err(unknown_model(id));
        }
    }
    let bytes = image_bytes(&headers, &body)?;
    let img = decode_upload(&bytes)?;
    let server = s.clone();
    let results = tokio::task::spawn_blocking(move || -> Result<Vec<Value>> {
        let mut out = vec![];
        let mut sets: Vec<&String> = server.knn.keys().collect();
        sets.sort();
        for d in sets {
            if dataset.as_ref().is_some_and(|x| x != d) || wanted.as_ref().is_some_and(|w| !w.contains(&knn_id(d))) {
                continue;
            }
            out.push(knn_answer(d, &server.knn[d], &img, &server.device)?);
        }
        for e in &server.entries {
            if dataset.as_ref().is_some_and(|d| *d != e.source) || wanted.as_ref().is_some_and(|w| !w.contains(&e.id)) {
                continue;
            }
            out.push(answer(e, &img, &server.device)?);
        }
        Ok(out)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(Json(json!({ "results": results })))
}

/// One model's answer: top 5, time, and what it looks at.
fn answer(e: &Entry, img: &image::DynamicImage, device: &Device) -> Result<Value> {
    let t0 = Instant::now();
    let p = e.classifier.classify(img)?;
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    let top: Vec<Value> = p.top(5).map(|(c, p)| json!({"class": c, "p": p})).collect();
    let ck = e.classifier.checkpoint();
    let (picture_title, picture) = match &ck.model {
        Model::Linear(_) => {
            let (images, shape, _) =
                crate::app::visualize::first_layer_images(ck, crate::app::visualize::What::Templates)?;
            let k = ck.meta.classes.iter().position(|c| c == p.best().0).unwrap_or(0);
            let tile = crate::app::plot::tile_image(&images[k], shape);
            let big = image::imageops::resize(
                &tile,
                shape[2] as u32 * 4,
                shape[1] as u32 * 4,
                image::imageops::FilterType::Nearest,
            );
            (format!("template of {}", p.best().0), Some(crate::app::plot::png_bytes(&big)?))
        }
        Model::Cnn(_) => {
            let sal = crate::app::visualize::saliency(ck, img, device)?;
            let pic = crate::app::plot::saliency_picture(&sal.image, sal.shape, &sal.map, 4)?;
            (format!("saliency of {}", ck.meta.classes[sal.class]), Some(crate::app::plot::png_bytes(&pic)?))
        }
        _ => (String::new(), None),
    };
    Ok(json!({
        "id": e.id,
        "kind": e.card["kind"],
        "rung": e.rung,
        "dataset": e.source,
        "top": top,
        "ms": ms,
        "note": p.note,
        "picture_title": picture_title,
        "picture": picture.map(|b| format!("data:image/png;base64,{}", base64(&b))),
    }))
}

/// Standard base64 with padding (for `data:` URLs).
pub fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Serves `server` on `host:port` until the process ends; prints the address (the port chosen
/// when `port` is 0) first.
pub fn run(server: Server, host: &str, port: u16) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind((host, port)).await?;
        let addr = listener.local_addr()?;
        println!("kindling: {} models on http://{addr}/", server.entries.len());
        axum::serve(listener, server.router()).await
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_of_known_strings() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    /// A CIFAR-10 model tuned on batches 1-4 is scored on batch 5; one that trained on any of batch 5
    /// (the airbench94 model trained on all 50,000), one without a recorded split, and every other
    /// data set's models, on the test split.
    #[test]
    fn each_model_is_scored_on_images_it_never_trained_on() {
        use crate::data::SplitRecord;
        let split = |train, val_size, exclude_last| Some(SplitRecord { total: 50_000, train, val_size, exclude_last });
        assert_eq!(HeldOut::of(DatasetName::Cifar10, split(40_000, 10_000, 0)), HeldOut::Batch5);
        assert_eq!(HeldOut::of(DatasetName::Cifar10, split(30_000, 10_000, 10_000)), HeldOut::Batch5);
        assert_eq!(HeldOut::of(DatasetName::Cifar10, split(50_000, 0, 0)), HeldOut::Test);
        assert_eq!(HeldOut::of(DatasetName::Cifar10, split(45_000, 5_000, 0)), HeldOut::Test);
        assert_eq!(HeldOut::of(DatasetName::Cifar10, None), HeldOut::Test);
        let mnist = Some(SplitRecord { total: 60_000, train: 50_000, val_size: 10_000, exclude_last: 0 });
        assert_eq!(HeldOut::of(DatasetName::Mnist, mnist), HeldOut::Test);
    }

    #[test]
    fn multipart_fields_are_found() {
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nabc\r\n--XX\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNGdata\r\n--XX--\r\n";
        assert_eq!(multipart_field(body, "XX", "image").unwrap(), b"\x89PNGdata");
        assert_eq!(multipart_field(body, "XX", "other").unwrap(), b"abc");
        assert!(multipart_field(body, "XX", "missing").is_none());
    }
}

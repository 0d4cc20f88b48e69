//! The local web page: every rung of the ladder on the user's own image, side by side.
//!
//! [`Server`] holds the checkpoints (as [`Classifier`]s) and answers a small JSON API; the page
//! itself (HTML, script, style) is compiled into the binary, so it works offline and serves no
//! file from the disk. The `serve` example runs it:
//!
//! - `GET /` the page; `GET /app.js`, `GET /style.css` its assets;
//! - `GET /api/models`: every model's card (id, title, data set, kind, recorded accuracy and
//!   split, parameters, training command and time, the pictures it offers);
//! - `POST /api/classify?dataset=D[&models=ID,ID]`: the image (PNG, JPEG, GIF or WebP) as the raw
//!   body or as the multipart field `image`; every model of data set `D` (all of them when
//!   `dataset` is absent; those listed in `models`; a model trained on a folder has the data set
//!   `folder:NAME`, NAME the folder's name) answers with its top classes, its time in
//!   milliseconds and what it looks at (kNN's five nearest training images; the linear model's
//!   template of its top class; the CNN's saliency map);
//! - `GET /api/models/ID/filters.png`: a CNN's first-layer filters;
//! - `GET /api/models/ID/confusion.png`: its confusion matrix on the first
//!   [`CONFUSION_IMAGES`] held-out images (the kNN rung's too);
//! - `GET /api/random?dataset=D`: a random held-out image as PNG (its class in the
//!   `x-kindling-label` header).
//!
//! Bad input gets a 4xx with `{"error": "..."}`, one status per kind of error ([`error`]), and the
//! server goes on serving.
//!
//! # Memory
//! Every request runs in bounded memory, whatever the load:
//! - heavy work (classifying an upload, drawing a confusion matrix) passes a [`gate::Gate`]: at
//!   most [`Options::jobs`] at once, [`Options::queue`] more waiting, `503` beyond;
//! - a confusion matrix streams its images through the model [`SCORE_BATCH`] at a time, with
//!   a model that records no autograd graph ([`crate::models::Model::detached`]), and is
//!   computed once: concurrent requests for it wait for the same computation, later ones get the
//!   kept PNG;
//! - uploads are refused above [`MAX_UPLOAD`] bytes before they are read, and above
//!   [`MAX_SIDE`] pixels a side before they are decoded;
//! - each heavy job hands its free memory back to the system when it ends
//!   ([`crate::support::allocator::release_free_memory`]).
//!
//! docs/serve.md states the figures measured with every shipped model.

pub mod error;
pub mod gate;
pub mod upload;

use crate::checkpoint::CheckpointMeta;
use crate::data::folder::FolderRecord;
use crate::data::image::ImageSpec;
use crate::data::{DataOptions, Dataset, DatasetName, Split, SplitRecord};
use crate::metrics::Confusion;
use crate::models::Model;
use crate::preprocess::Preprocess;
use crate::{Classifier, Error, Result};
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use candle_core::Device;
use error::ApiError;
use gate::Gate;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::OnceCell;

/// The largest upload accepted, in bytes.
pub const MAX_UPLOAD: usize = 10 << 20;
/// The largest image side accepted (a PNG may declare any size in a few bytes).
pub const MAX_SIDE: u32 = 4096;
/// Images scored for a model card's confusion matrix by default (the first of its held-out split).
pub const CONFUSION_IMAGES: usize = 2000;
/// Images per batch through a model for a confusion matrix: what bounds its working memory (the
/// airbench94 network's six test-time views of 100 images: about 140 MB).
pub const SCORE_BATCH: usize = 100;
/// Neighbours that vote in the page's kNN (the cross-validated k of CIFAR-10, see the README).
pub const KNN_K: usize = 10;

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// What a [`Server`] loads and how much work it takes on.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where the held-out images and the kNN rung's training images are found.
    pub data: DataOptions,
    /// Training images of the kNN rung, per data set (0: no kNN).
    pub knn_images: usize,
    /// Held-out images scored for a confusion matrix.
    pub confusion_images: usize,
    /// Heavy requests worked on at once.
    pub jobs: usize,
    /// Heavy requests that may wait for them; more are answered `503`.
    pub queue: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            data: DataOptions { allow_download: false, ..Default::default() },
            knn_images: 10_000,
            confusion_images: CONFUSION_IMAGES,
            jobs: 2,
            queue: 32,
        }
    }
}

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
    /// The images its confusion matrix is scored on (none of its training images).
    pub held_out: HeldOut,
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
    pub fn held_out_for(&self, split: Option<SplitRecord>) -> HeldOut {
        match &self.folder {
            Some(f) if !f.held_out.is_empty() => HeldOut::Recorded,
            _ => HeldOut::of(self.dataset, split),
        }
    }
}

/// A picture a model card offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Picture {
    /// The confusion matrix on held-out images (every model).
    Confusion,
    /// The first-layer filters (CNNs).
    Filters,
}

impl Picture {
    fn file(self) -> &'static str {
        match self {
            Picture::Confusion => "confusion.png",
            Picture::Filters => "filters.png",
        }
    }
}

/// A model by id: a checkpoint's, or a data set's kNN rung.
#[derive(Clone, Copy)]
enum Rung<'a> {
    Knn(&'a str, &'a KnnRung),
    Model(&'a Entry),
}

/// One data set's held-out images: empty until the first request that needs them loads them
/// (holding the lock meanwhile, so that they are read once).
type Slot = Arc<Mutex<Option<Arc<Dataset>>>>;

/// The server's state: the models, the held-out images, the pictures drawn so far.
pub struct Server {
    /// The models, in ladder order within each data set.
    pub entries: Vec<Entry>,
    /// The kNN rung of each data set (by [`Source`] id) whose training images were found.
    pub knn: HashMap<String, KnnRung>,
    /// The data sets of the models, by id.
    pub sources: HashMap<String, Source>,
    options: Options,
    /// Every model's card, in page order.
    cards: Vec<Value>,
    /// Each data set's held-out images, loaded once.
    held_out: Mutex<HashMap<(String, HeldOut), Slot>>,
    /// Each offered picture, drawn once.
    pictures: HashMap<(String, Picture), Arc<OnceCell<Bytes>>>,
    gate: Gate,
    device: Device,
}

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
    pub fn of(dataset: DatasetName, split: Option<SplitRecord>) -> HeldOut {
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
    /// Loads the checkpoints at `paths` onto `device`, with the kNN rung of each of their data
    /// sets whose training images `options.data` finds. A file that does not load is an error
    /// naming it; missing data only leaves kNN out.
    pub fn load(paths: &[std::path::PathBuf], options: Options, device: &Device) -> Result<Server> {
        let mut entries = vec![];
        let mut sources: HashMap<String, Source> = HashMap::new();
        for path in paths {
            let classifier = Classifier::load(path, device)?;
            let meta = classifier.meta();
            let dataset = meta.dataset_name().map_err(|e| Error::checkpoint(path, e))?;
            if meta.image_input().is_err() {
                continue; // a 2-D point model has nothing to say about an image
            }
            let mut source =
                Source::of(meta, dataset, &options.data).map_err(|e| Error::checkpoint(path, e.to_string()))?;
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
        for id in ids.into_iter().filter(|_| options.knn_images > 0) {
            let src = &sources[id];
            let Ok(all) = knn_images_of(src) else { continue };
            if src.folder.is_none() {
                if let Ok(tail) = training_tail(&all) {
                    held_out.insert((id.clone(), HeldOut::Batch5), Arc::new(Mutex::new(Some(Arc::new(tail)))));
                }
            }
            let train = all.take(options.knn_images);
            let which = match &src.folder {
                // a folder's kNN images never include the files its models held out
                Some(_) => src.held_out_for(None),
                None => HeldOut::of(
                    src.dataset,
                    Some(SplitRecord { total: all.len(), train: train.len(), val_size: 0, exclude_last: 0 }),
                ),
            };
            drop(all);
            let spec = match &src.folder {
                Some(f) => f.image,
                None => ImageSpec::of_shape(train.shape, crate::data::image::ResizePolicy::Squash),
            };
            let xs = train.matrix(&crate::data::Normalization::identity(train.shape[0]), device)?;
            let fitted = crate::models::knn::Knn::new(&xs, &train.labels_u32(), crate::models::knn::Distance::L2)?;
            let k = KNN_K.min(train.len());
            knn.insert(id.clone(), KnnRung { knn: fitted, k, train, held_out: which, spec });
        }
        let mut server = Server {
            entries,
            knn,
            sources,
            options: options.clone(),
            cards: vec![],
            held_out: Mutex::new(held_out),
            pictures: HashMap::new(),
            gate: Gate::new(options.jobs, options.queue),
            device: device.clone(),
        };
        let mut pictures = HashMap::new();
        let mut cards = vec![];
        for (id, _, rung) in server.rungs() {
            let mut offered = vec![Picture::Confusion];
            if matches!(rung, Rung::Model(e) if matches!(e.classifier.checkpoint().model, Model::Cnn(_))) {
                offered.push(Picture::Filters);
            }
            let mut c = match rung {
                Rung::Knn(d, r) => knn_card(d, r),
                Rung::Model(e) => e.card.clone(),
            };
            c["pictures"] = json!(offered
                .iter()
                .map(|p| (
                    p.file().trim_end_matches(".png").to_string(),
                    json!(format!("/api/models/{id}/{}", p.file()))
                ))
                .collect::<serde_json::Map<String, Value>>());
            for p in offered {
                pictures.insert((id.clone(), p), Arc::new(OnceCell::new()));
            }
            cards.push(c);
        }
        distinct_titles(&mut cards);
        server.pictures = pictures;
        server.cards = cards;
        Ok(server)
    }

    /// Every model's card, as `GET /api/models` lists them: each data set's kNN rung, then its
    /// checkpoints in ladder order.
    pub fn cards(&self) -> &[Value] {
        &self.cards
    }

    /// The API and the page.
    pub fn router(self) -> Router {
        Router::new()
            .route("/", get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX_HTML) }))
            .route("/app.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], APP_JS) }))
            .route("/style.css", get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE_CSS) }))
            .route(
                "/api/models",
                get(|State(s): State<Arc<Server>>| async move { Json(Value::Array(s.cards.clone())) }),
            )
            .route(
                "/api/models/{id}/filters.png",
                get(|State(s), Path(id)| async move { picture(s, id, Picture::Filters).await }),
            )
            .route(
                "/api/models/{id}/confusion.png",
                get(|State(s), Path(id)| async move { picture(s, id, Picture::Confusion).await }),
            )
            .route("/api/classify", post(classify))
            .route("/api/random", get(random))
            .fallback(|| async { ApiError::not_found("no such page: see / and /api/models") })
            .method_not_allowed_fallback(|| async {
                ApiError::new(
                    axum::http::StatusCode::METHOD_NOT_ALLOWED,
                    "method not allowed here: POST /api/classify, GET everything else",
                )
            })
            .layer(DefaultBodyLimit::max(MAX_UPLOAD))
            .with_state(Arc::new(self))
    }

    /// Every model with its id and data set, in page order.
    fn rungs(&self) -> Vec<(String, &str, Rung<'_>)> {
        let mut out = vec![];
        for d in self.datasets() {
            if let Some((k, r)) = self.knn.get_key_value(d) {
                out.push((knn_id(k), k.as_str(), Rung::Knn(k, r)));
            }
            out.extend(self.entries.iter().filter(|e| e.source == d).map(|e| (e.id.clone(), d, Rung::Model(e))));
        }
        out
    }

    fn rung(&self, id: &str) -> Option<Rung<'_>> {
        self.rungs().into_iter().find(|(i, _, _)| i == id).map(|(_, _, r)| r)
    }

    /// The data sets of the models served, in page order.
    fn datasets(&self) -> Vec<&str> {
        let mut sets: Vec<&str> = self.entries.iter().map(|e| e.source.as_str()).collect();
        sets.dedup();
        sets
    }

    /// Data set `name`, if this server has models of it.
    fn served_dataset(&self, name: &str) -> std::result::Result<String, ApiError> {
        let served = self.datasets();
        if name.is_empty() {
            return Err(ApiError::bad_request(format!("dataset= is empty: give one of {}", served.join(", "))));
        }
        served.iter().find(|d| **d == name).map(|d| d.to_string()).ok_or_else(|| {
            ApiError::not_found(format!("no data set '{name}' on this server: it serves {}", served.join(", ")))
        })
    }

    /// The ids `classify` answers with, from its `dataset` and `models` parameters.
    fn chosen(&self, dataset: Option<&str>, models: Option<&str>) -> std::result::Result<Vec<String>, ApiError> {
        let dataset = dataset.map(|d| self.served_dataset(d)).transpose()?;
        let all = self.rungs();
        let Some(models) = models else {
            return Ok(all
                .into_iter()
                .filter(|(_, d, _)| dataset.as_deref().is_none_or(|x| x == *d))
                .map(|(i, _, _)| i)
                .collect());
        };
        let mut out: Vec<String> = vec![];
        for id in models.split(',').map(str::trim) {
            if id.is_empty() {
                return Err(ApiError::bad_request(
                    "models= holds an empty name: give model ids separated by commas, as GET /api/models lists them",
                ));
            }
            let d = all.iter().find(|(i, _, _)| i == id).map(|(_, d, _)| *d).ok_or_else(|| unknown_model(id))?;
            if let Some(want) = dataset.as_deref().filter(|w| *w != d) {
                return Err(ApiError::bad_request(format!(
                    "model '{id}' classifies {d} images, not {want}: drop dataset= or name {want} models"
                )));
            }
            if !out.iter().any(|o| o == id) {
                out.push(id.to_string());
            }
        }
        Ok(out)
    }

    fn busy(&self) -> ApiError {
        ApiError::busy(self.gate.at_once(), self.gate.queue())
    }

    /// Data set `d`'s held-out images `which`, loaded on first use (once, however many ask).
    fn held_out(&self, source: &str, which: HeldOut) -> Result<Arc<Dataset>> {
        let src =
            self.sources.get(source).ok_or_else(|| Error::invalid("dataset", format!("no data set '{source}'")))?;
        let slot = self.held_out.lock().expect("lock").entry((source.to_string(), which)).or_default().clone();
        let mut slot = slot.lock().expect("lock");
        if let Some(ds) = &*slot {
            return Ok(ds.clone());
        }
        let opts = &src.options;
        let ds = Arc::new(match (which, &src.folder) {
            (HeldOut::Recorded, Some(f)) => {
                crate::data::folder::load_files(f, &f.held_out, &held_out_classes(src)?, opts)?
            }
            (HeldOut::Recorded, None) => {
                return Err(Error::invalid("dataset", format!("{source} records no held-out files")))
            }
            (HeldOut::Batch5, _) => training_tail(&crate::data::load(src.dataset, Split::Train, opts)?)?,
            (HeldOut::Test, _) => crate::data::load(src.dataset, Split::Test, opts)?,
        });
        *slot = Some(ds.clone());
        Ok(ds)
    }

    /// Draws picture `which` of model `id` (blocking: run it off the async threads).
    fn draw(&self, id: &str, which: Picture) -> std::result::Result<Bytes, ApiError> {
        let rung = self.rung(id).ok_or_else(|| unknown_model(id))?;
        let tmp = std::env::temp_dir().join(format!("kindling-serve-{}-{id}-{}", std::process::id(), which.file()));
        match (which, rung) {
            (Picture::Filters, Rung::Model(e)) => {
                let ck = e.classifier.checkpoint();
                let (images, shape, _) =
                    crate::app::visualize::first_layer_images(ck, crate::app::visualize::What::Filters)?;
                let cols = (images.len() as f64).sqrt().ceil() as usize;
                crate::app::plot::image_grid(&tmp, &images, shape, &[], cols.max(1), 12)?;
            }
            (Picture::Confusion, rung) => {
                let (d, which) = match rung {
                    Rung::Knn(d, r) => (d, r.held_out),
                    Rung::Model(e) => {
                        (e.source.as_str(), self.sources[&e.source].held_out_for(e.classifier.meta().split_record()))
                    }
                };
                let ds = self.held_out(d, which).map_err(|err| {
                    ApiError::not_found(format!("no {} {d} images on this machine: {err}", which.describe()))
                })?;
                let n = self.options.confusion_images.min(ds.len());
                let (confusion, classes) = self.confusion(rung, &ds, n)?;
                let title =
                    format!("{id}: first {n} {} images, {:.1}%", which.describe(), 100.0 * confusion.accuracy());
                crate::app::plot::confusion_heatmap(&tmp, &confusion.counts, &classes, &title)?;
            }
            (Picture::Filters, Rung::Knn(..)) => return Err(no_picture(id, which)),
        }
        let bytes = std::fs::read(&tmp).map_err(Error::from)?;
        let _ = std::fs::remove_file(&tmp);
        Ok(Bytes::from(bytes))
    }

    /// The confusion matrix of `rung` on the first `n` images of `ds`, streamed through the
    /// model [`SCORE_BATCH`] images at a time; and the class names.
    fn confusion(&self, rung: Rung<'_>, ds: &Dataset, n: usize) -> Result<(Confusion, Vec<String>)> {
        let mut total = Confusion::new(ds.num_classes());
        for start in (0..n).step_by(SCORE_BATCH) {
            let idx: Vec<usize> = (start..(start + SCORE_BATCH).min(n)).collect();
            let chunk = ds.subset(&idx);
            match rung {
                Rung::Knn(_, r) => {
                    let xs = chunk.matrix(&crate::data::Normalization::identity(chunk.shape[0]), &self.device)?;
                    total.add(&chunk.labels_u32(), &r.knn.predict(&xs, r.k)?);
                }
                Rung::Model(e) => {
                    let ck = e.classifier.checkpoint();
                    let report = crate::app::report::score(ck, &chunk, &self.device, e.classifier.tta())?;
                    for (row, add) in total.counts.iter_mut().zip(&report.confusion.counts) {
                        row.iter_mut().zip(add).for_each(|(a, b)| *a += b);
                    }
                }
            }
        }
        let classes = match rung {
            Rung::Knn(_, r) => r.train.classes.clone(),
            Rung::Model(e) => e.classifier.classes().to_vec(),
        };
        Ok((total, classes))
    }

    /// Model `id`'s answer for `img`.
    fn answer(&self, id: &str, img: &image::DynamicImage) -> std::result::Result<Value, ApiError> {
        let mut a = match self.rung(id).ok_or_else(|| unknown_model(id))? {
            Rung::Knn(d, r) => knn_answer(d, r, img, &self.device)?,
            Rung::Model(e) => answer(e, img, &self.device)?,
        };
        if let Some(card) = self.cards.iter().find(|c| c["id"] == id) {
            a["title"] = card["title"].clone();
        }
        Ok(a)
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
        "title": title(kind, meta),
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

/// A card's heading: the kind, with what tells two models of a kind apart (the linear model's
/// loss; the recipe a CNN was trained with, such as airbench94).
fn title(kind: &str, meta: &CheckpointMeta) -> String {
    let recipe = meta.command.as_deref().and_then(|c| {
        let words: Vec<&str> = c.split_whitespace().collect();
        words.iter().position(|w| *w == "--recipe").and_then(|i| words.get(i + 1)).map(|r| r.to_string())
    });
    match (kind, recipe, &meta.train) {
        ("CNN", Some(r), _) => format!("{r} CNN"),
        ("linear", _, Some(t)) => match t.loss {
            crate::loss::LossKind::Svm => "linear, SVM loss".to_string(),
            crate::loss::LossKind::Softmax => "linear, softmax loss".to_string(),
        },
        _ => kind.to_string(),
    }
}

/// Makes the titles of each data set's cards distinct, adding the model's id to those that
/// share one.
fn distinct_titles(cards: &mut [Value]) {
    let key = |c: &Value| (c["dataset"].to_string(), c["title"].to_string());
    let keys: Vec<_> = cards.iter().map(key).collect();
    for (i, c) in cards.iter_mut().enumerate() {
        if keys.iter().filter(|k| **k == keys[i]).count() > 1 {
            c["title"] = json!(format!("{} ({})", c["title"].as_str().unwrap_or(""), c["id"].as_str().unwrap_or("")));
        }
    }
}

fn knn_card(d: &str, r: &KnnRung) -> Value {
    json!({
        "id": knn_id(d),
        "title": format!("kNN, k = {}", r.k),
        "dataset": d,
        "kind": "kNN",
        "rung": 0,
        "classes": r.train.classes,
        "accuracy": null,
        "split": "",
        "parameters": 0,
        "command": format!("k = {}, L2 distance on raw pixels, the first {} training images", r.k, r.train.len()),
    })
}

fn knn_id(d: &str) -> String {
    format!("{d}-knn")
}

/// The kNN rung's answer: votes of the `k` nearest training images as probabilities, and the
/// five nearest with their classes.
fn knn_answer(d: &str, r: &KnnRung, img: &image::DynamicImage, device: &Device) -> Result<Value> {
    let t0 = Instant::now();
    let [_, h, w] = r.train.shape;
    // Raw pixels in [0, 1], as the training images were compared (identity normalization).
    let raw = Preprocess { features: None, normalization: crate::data::Normalization::identity(r.spec.channels) };
    let mut fitted = raw.images(std::slice::from_ref(img), &r.spec, device)?;
    let (q, note) = (fitted.xs.flatten_from(1)?, fitted.notes.remove(0));
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

/// A PNG answer.
fn png_response(png: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "image/png")], png).into_response()
}

/// Picture `which` of model `id`: drawn once, in a task of its own (which finishes and keeps the
/// picture even when the client goes away), under the [`Gate`]; requests that come while it is
/// drawn wait for the same drawing.
async fn picture(s: Arc<Server>, id: String, which: Picture) -> std::result::Result<Response, ApiError> {
    if s.rung(&id).is_none() {
        return Err(unknown_model(&id));
    }
    let cell = s.pictures.get(&(id.clone(), which)).cloned().ok_or_else(|| no_picture(&id, which))?;
    if let Some(png) = cell.get() {
        return Ok(png_response(png.clone()));
    }
    let png = tokio::spawn(async move {
        cell.get_or_try_init(|| async {
            let admission = s.gate.admit().ok_or_else(|| s.busy())?;
            let running = admission.start().await;
            let server = s.clone();
            tokio::task::spawn_blocking(move || {
                let _running = running;
                let t0 = Instant::now();
                let png = server.draw(&id, which);
                crate::support::allocator::release_free_memory();
                // One line per drawing: how long the first request waited, and proof (for the
                // tests) that concurrent requests shared it.
                eprintln!("drew {id}/{} in {:.1} s", which.file(), t0.elapsed().as_secs_f64());
                png
            })
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
        })
        .await
        .cloned()
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(png_response(png))
}

fn unknown_model(id: &str) -> ApiError {
    ApiError::not_found(format!("no model '{id}' on this server: GET /api/models lists them"))
}

fn no_picture(id: &str, which: Picture) -> ApiError {
    let what = match which {
        Picture::Filters => "first-layer filters: only a CNN has them",
        Picture::Confusion => "confusion matrix",
    };
    ApiError::not_found(format!(
        "model '{id}' has no {what} (its card in GET /api/models lists the pictures it offers)"
    ))
}

/// A malformed query string.
fn query_error(e: QueryRejection, expected: &str) -> ApiError {
    let problem = e.body_text();
    let problem = problem.strip_prefix("Failed to deserialize query string: ").unwrap_or(&problem);
    ApiError::bad_request(format!("bad query ({problem}): the parameters here are {expected}"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RandomQuery {
    dataset: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassifyQuery {
    dataset: Option<String>,
    models: Option<String>,
}

async fn random(
    State(s): State<Arc<Server>>,
    query: std::result::Result<Query<RandomQuery>, QueryRejection>,
) -> std::result::Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| query_error(e, "dataset=NAME"))?;
    let name = q.dataset.ok_or_else(|| ApiError::bad_request("give ?dataset=NAME"))?;
    let dataset = s.served_dataset(&name)?;
    let server = s.clone();
    let (png, label) = tokio::task::spawn_blocking(move || -> std::result::Result<(Vec<u8>, String), ApiError> {
        // The test split: held out from every model on the page (batch 5 is not, for a CIFAR-10
        // model trained on all 50,000 images); for a folder, the files its models held out.
        let which = match server.sources.get(&dataset) {
            Some(src) if src.folder.is_some() => src.held_out_for(None),
            _ => HeldOut::Test,
        };
        let ds = server
            .held_out(&dataset, which)
            .map_err(|e| ApiError::not_found(format!("no held-out {name} images on this machine: {e}")))?;
        let i = rand::random::<u32>() as usize % ds.len();
        let px = crate::app::visualize::images(&ds, &[i]).remove(0);
        let img = crate::app::plot::tile_image(&px, ds.shape);
        Ok((crate::app::plot::png_bytes(&img)?, ds.classes[ds.labels[i] as usize].clone()))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok((
        [(header::CONTENT_TYPE, "image/png".to_string()), (header::HeaderName::from_static("x-kindling-label"), label)],
        png,
    )
        .into_response())
}

async fn classify(
    State(s): State<Arc<Server>>,
    query: std::result::Result<Query<ClassifyQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> std::result::Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| query_error(e, "dataset=NAME and models=ID,ID"))?;
    let chosen = s.chosen(q.dataset.as_deref(), q.models.as_deref())?;
    let too_large =
        || ApiError::too_large(format!("the upload is over {}, the largest accepted", upload::max_upload()));
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_UPLOAD) {
        return Err(too_large());
    }
    // A place in the queue before the body is read: what waits is bounded too.
    let admission = s.gate.admit().ok_or_else(|| s.busy())?;
    let body = axum::body::to_bytes(body, MAX_UPLOAD).await.map_err(|_| too_large())?;
    let bytes = upload::image_bytes(&headers, &body)?;
    drop(body);
    upload::check_upload(&bytes)?;
    let running = admission.start().await;
    let server = s.clone();
    let results = tokio::task::spawn_blocking(move || -> std::result::Result<Vec<Value>, ApiError> {
        let _running = running;
        let img = upload::decode_upload(&bytes)?;
        let results = chosen.iter().map(|id| server.answer(id, &img)).collect();
        drop((img, bytes));
        crate::support::allocator::release_free_memory();
        results
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
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
/// when `port` is 0) and the number of models `GET /api/models` lists, first, on stdout.
pub fn run(server: Server, host: &str, port: u16) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind((host, port)).await?;
        let addr = listener.local_addr()?;
        println!(
            "kindling: {} models ({} checkpoints, {} kNN) on http://{addr}/",
            server.cards.len(),
            server.entries.len(),
            server.knn.len()
        );
        eprintln!(
            "heavy requests: {} at a time, {} waiting, 503 beyond; confusion matrices on {} held-out images",
            server.gate.at_once(),
            server.gate.queue(),
            server.options.confusion_images
        );
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
        let split = |train, val_size, exclude_last| Some(SplitRecord { total: 50_000, train, val_size, exclude_last });
        assert_eq!(HeldOut::of(DatasetName::Cifar10, split(40_000, 10_000, 0)), HeldOut::Batch5);
        assert_eq!(HeldOut::of(DatasetName::Cifar10, split(30_000, 10_000, 10_000)), HeldOut::Batch5);
        assert_eq!(HeldOut::of(DatasetName::Cifar10, split(50_000, 0, 0)), HeldOut::Test);
        assert_eq!(HeldOut::of(DatasetName::Cifar10, split(45_000, 5_000, 0)), HeldOut::Test);
        assert_eq!(HeldOut::of(DatasetName::Cifar10, None), HeldOut::Test);
        let mnist = Some(SplitRecord { total: 60_000, train: 50_000, val_size: 10_000, exclude_last: 0 });
        assert_eq!(HeldOut::of(DatasetName::Mnist, mnist), HeldOut::Test);
        // The kNN rung on CIFAR-10's first 10,000 training images: batch 5 is held out.
        assert_eq!(HeldOut::of(DatasetName::Cifar10, split(10_000, 0, 0)), HeldOut::Batch5);
    }

    #[test]
    fn cards_that_share_a_title_get_their_ids() {
        let mut cards = vec![
            json!({"id": "a", "dataset": "cifar10", "title": "CNN"}),
            json!({"id": "b", "dataset": "cifar10", "title": "CNN"}),
            json!({"id": "c", "dataset": "mnist", "title": "CNN"}),
        ];
        distinct_titles(&mut cards);
        let titles: Vec<&str> = cards.iter().map(|c| c["title"].as_str().unwrap()).collect();
        assert_eq!(titles, ["CNN (a)", "CNN (b)", "CNN"]);
    }
}

//! Folder data sets: the user's own images, one subfolder per class.
//!
//! ```text
//! pets/                     pets/
//!   cat/ 001.jpg ...    or    train/ cat/ ... dog/ ...
//!   dog/ a.png ...            test/  cat/ ... dog/ ...     (optional)
//!                             val/   cat/ ... dog/ ...     (optional)
//! ```
//!
//! - **Classes** are the subfolders' names in sorted order (as torchvision's `ImageFolder` and
//!   Keras' `image_dataset_from_directory` have them); files may sit deeper inside a class folder.
//!   Hidden files and folders (`.DS_Store`, `.ipynb_checkpoints`) are ignored, symbolic links
//!   followed.
//! - **Splits**: `train/`, `test/` and `val/` subfolders with the training classes are the
//!   splits. Without `val/`, [`Holdout`] sets apart a stratified, seeded share of
//!   each class; the held-out images go last, so that a [`SplitRecord`](super::SplitRecord) finds
//!   them, and their file names are recorded ([`FolderRecord`]) so that a checkpoint is scored on
//!   exactly them later ([`load_files`]).
//! - **Order**: the training images are sorted by file name, then class (a folder written by
//!   [`export`] is thus in the built-in set's order); `--train-size` takes the same share of every
//!   class.
//! - **Pixels**: every file goes through [`image::to_pixels`](super::image::to_pixels) (decoded by
//!   content, fitted to the image size by the resize policy), in parallel, with a progress bar, into
//!   `u8` storage; a [`cache`](super::cache) makes the next load of the same files start at once.
//! - **Bad files** (unreadable, empty, truncated, not an image) are skipped with one summary line
//!   and counted in the record; `strict` makes them an error. An empty class folder, a single
//!   class, no images, a class too small for the held-out split, a file given for the folder:
//!   each an error naming the folder.

use super::cache::{Cache, Decoded, FileKey};
use super::image::{self as img, ImageSpec, ResizePolicy};
use super::source::{resolve_classes, Holdout};
use super::{DataOptions, Dataset, Pixels, Split};
use crate::{Error, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The image side used when `--image-size` is not given: 32 pixels, what every shipped network
/// reads.
pub const DEFAULT_IMAGE_SIZE: usize = 32;

/// The subfolders that make a folder a set of splits rather than of classes.
pub const SPLIT_FOLDERS: [&str; 3] = ["train", "val", "test"];

/// How a folder's images are to be read: each part unset takes its default (32x32, squash, grey
/// when every training image is grey).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ImageRequest {
    /// `(width, height)`.
    pub size: Option<(usize, usize)>,
    /// How images of another shape are fitted.
    pub resize: Option<ResizePolicy>,
    /// 1 or 3 (unset: decided from the training images).
    pub channels: Option<usize>,
}

impl ImageRequest {
    /// Exactly `spec` (how a checkpoint's folder is read again).
    pub fn exactly(spec: ImageSpec) -> Self {
        ImageRequest { size: Some((spec.width, spec.height)), resize: Some(spec.resize), channels: Some(spec.channels) }
    }

    /// The spec with defaults filled in and `channels` for the channel count when it is unset.
    pub fn spec(&self, channels: usize) -> ImageSpec {
        let (width, height) = self.size.unwrap_or((DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE));
        ImageSpec {
            channels: self.channels.unwrap_or(channels),
            height,
            width,
            resize: self.resize.unwrap_or_default(),
        }
    }
}

/// What a checkpoint records of the folder it was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FolderRecord {
    /// The folder, as an absolute path.
    pub root: PathBuf,
    /// Its split subfolders (`train`, `val`, `test`), empty when the class folders sit in it.
    pub splits: Vec<String>,
    /// Every class folder found, before `--classes`.
    pub classes: Vec<String>,
    /// How its images were read.
    pub image: ImageSpec,
    /// Files of the training split (held-out part included) skipped as unreadable.
    pub skipped: usize,
    /// The held-out files, relative to [`root`](Self::root) with `/` separators, in the order of
    /// the held-out split.
    pub held_out: Vec<String>,
    /// The seed of the stratified held-out split (unused with a `val/` subfolder).
    pub split_seed: u64,
}

impl FolderRecord {
    /// The class folder name of a recorded file (`val/cat/x.png` or `cat/sub/x.png`: `cat`).
    pub fn class_of<'a>(&self, rel: &'a str) -> Option<&'a str> {
        let mut parts = rel.split('/');
        let first = parts.next()?;
        if self.splits.iter().any(|s| s == first) {
            parts.next()
        } else {
            Some(first)
        }
    }
}

/// One split of a folder, loaded.
pub struct Loaded {
    /// The images, labelled by class folder.
    pub data: Dataset,
    /// Each image's file, relative to the folder, in the order of `data`.
    pub files: Vec<String>,
    /// How many images at the end of `data` are the held-out split (the training split only).
    pub held_out: usize,
    /// How many files (images or unreadable ones) were read from the cache, not decoded.
    pub from_cache: usize,
    /// The folder and how it was read.
    pub record: FolderRecord,
}

/// The folder's layout: where the class folders are.
struct Tree {
    root: PathBuf,
    /// `train`, `val`, `test` when present; empty: classes directly in `root`.
    splits: Vec<String>,
    /// Class folder names of the training part, sorted.
    classes: Vec<String>,
}

impl Tree {
    fn part_dir(&self, part: &str) -> PathBuf {
        if part.is_empty() {
            self.root.clone()
        } else {
            self.root.join(part)
        }
    }

    fn has(&self, part: &str) -> bool {
        self.splits.iter().any(|s| s == part)
    }

    /// The part holding the training images: `train` or the folder itself.
    fn training_part(&self) -> &'static str {
        if self.splits.is_empty() {
            ""
        } else {
            "train"
        }
    }
}

/// A file found in a class folder.
struct Item {
    rel: String,
    abs: PathBuf,
    class: usize,
}

/// Passes a note or warning to `opts.notes`, or prints it to standard error.
fn say(opts: &DataOptions, message: &str) {
    match opts.notes {
        Some(f) => f(message),
        None => eprintln!("{message}"),
    }
}

fn hidden(name: &str) -> bool {
    name.starts_with('.')
}

/// The visible subfolders (links followed) and the number of visible other entries of `dir`.
fn list_dir(dir: &Path) -> Result<(Vec<String>, Vec<String>)> {
    let read = std::fs::read_dir(dir).map_err(|e| Error::folder(dir, format!("cannot list the folder: {e}")))?;
    let (mut dirs, mut files) = (vec![], vec![]);
    for entry in read {
        let entry = entry.map_err(|e| Error::folder(dir, format!("cannot list the folder: {e}")))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if hidden(&name) {
            continue;
        }
        if std::fs::metadata(entry.path()).is_ok_and(|m| m.is_dir()) {
            dirs.push(name);
        } else {
            files.push(name);
        }
    }
    dirs.sort();
    files.sort();
    Ok((dirs, files))
}

/// Reads the layout of the folder at `root`.
fn scan(root: &Path) -> Result<Tree> {
    let meta = std::fs::metadata(root).map_err(|e| {
        Error::invalid(
            "`data_dir`",
            format!(
                "{}: {}",
                root.display(),
                if e.kind() == std::io::ErrorKind::NotFound { "no such folder".to_string() } else { e.to_string() }
            ),
        )
    })?;
    if !meta.is_dir() {
        return Err(Error::invalid(
            "`data_dir`",
            format!(
                "{} is a file, not a folder: a folder data set is a folder holding one subfolder per class \
                 (cats/, dogs/, ...) with the images inside (to classify one image, use the predict example)",
                root.display()
            ),
        ));
    }
    let root = std::fs::canonicalize(root).map_err(|e| Error::folder(root, format!("cannot resolve the path: {e}")))?;
    let (dirs, files) = list_dir(&root)?;
    let splits: Vec<String> = dirs.iter().filter(|d| SPLIT_FOLDERS.contains(&d.as_str())).cloned().collect();
    let classes = if splits.is_empty() {
        dirs
    } else {
        let others: Vec<&String> = dirs.iter().filter(|d| !SPLIT_FOLDERS.contains(&d.as_str())).collect();
        if !others.is_empty() {
            return Err(Error::folder(
                &root,
                format!(
                    "holds split folders ({}) and also {}: put every class folder inside train/ (and test/, val/), \
                     or use no split folders at all",
                    splits.iter().map(|s| format!("{s}/")).collect::<Vec<_>>().join(", "),
                    others.iter().take(3).map(|s| format!("{s}/")).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        if !splits.iter().any(|s| s == "train") {
            return Err(Error::folder(
                &root,
                format!(
                    "has {} but no train/ folder: the training images go in train/<class>/",
                    splits.iter().map(|s| format!("{s}/")).collect::<Vec<_>>().join(" and ")
                ),
            ));
        }
        let train = root.join("train");
        let (classes, train_files) = list_dir(&train)?;
        if classes.is_empty() {
            return Err(no_classes(&train, &train_files));
        }
        classes
    };
    if classes.is_empty() {
        return Err(no_classes(&root, &files));
    }
    let tree = Tree { root, splits, classes };
    if tree.classes.len() == 1 {
        return Err(Error::folder(
            tree.part_dir(tree.training_part()),
            format!(
                "has one class folder ({}/): a classifier needs at least two, one subfolder per class",
                tree.classes[0]
            ),
        ));
    }
    Ok(tree)
}

fn no_classes(dir: &Path, files: &[String]) -> Error {
    let has = |f: &str| files.iter().any(|n| n == f);
    let hint = if has("data_batch_1.bin") || has("test_batch.bin") {
        "; for CIFAR-10's binary files choose `dataset` cifar10".to_string()
    } else if files.iter().any(|n| n.contains("-idx") && n.contains("-ubyte")) {
        "; for MNIST's or Fashion-MNIST's files choose `dataset` mnist or fashion-mnist".to_string()
    } else if !files.is_empty() {
        format!(
            " (it holds {} file{} directly): put each class's images in a subfolder named after the class",
            files.len(),
            if files.len() == 1 { "" } else { "s" }
        )
    } else {
        String::new()
    };
    Error::folder(
        dir,
        format!("has no class subfolders: a folder data set holds one subfolder per class, the images inside{hint}"),
    )
}

/// Every visible file under `dir` (links followed, each folder once), sorted by path, as
/// `(path relative to root, absolute path)`.
fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, PathBuf)>, seen: &mut HashSet<PathBuf>) -> Result<()> {
    if let Ok(real) = std::fs::canonicalize(dir) {
        if !seen.insert(real) {
            return Ok(()); // a link back to a folder already read
        }
    }
    let read = std::fs::read_dir(dir).map_err(|e| Error::folder(dir, format!("cannot list the folder: {e}")))?;
    // The entry's own type needs no extra system call; only a link is followed to see what it is.
    let mut names: Vec<(String, bool)> = read
        .filter_map(|e| e.ok())
        .map(|e| {
            let is_dir = match e.file_type() {
                Ok(t) if t.is_symlink() => std::fs::metadata(e.path()).is_ok_and(|m| m.is_dir()),
                Ok(t) => t.is_dir(),
                Err(_) => false,
            };
            (e.file_name().to_string_lossy().to_string(), is_dir)
        })
        .filter(|(n, _)| !hidden(n))
        .collect();
    names.sort();
    for (name, is_dir) in names {
        let abs = dir.join(&name);
        let r = format!("{rel}/{name}");
        if is_dir {
            walk(&abs, &r, out, seen)?;
        } else {
            out.push((r, abs)); // a file, or a broken link (reported as unreadable)
        }
    }
    Ok(())
}

/// The files of `part`'s class folders among `label_space`; a class folder outside it is an error
/// unless `known` (the folder's own classes, left out by `--classes`) holds it.
fn list_part(tree: &Tree, part: &str, label_space: &[String], known: &[String], training: bool) -> Result<Vec<Item>> {
    let dir = tree.part_dir(part);
    let (class_dirs, _) = list_dir(&dir)?;
    let mut items = vec![];
    let mut seen = HashSet::new();
    for name in &class_dirs {
        let Some(class) = label_space.iter().position(|c| c == name) else {
            if known.contains(name) {
                continue;
            }
            let rule = if training || part == "test" || part == "val" {
                format!("{part}/ must use train/'s class names")
            } else {
                "a model is scored on the classes it knows".to_string()
            };
            return Err(Error::folder(
                dir.join(name),
                format!("is a class folder, and {name} is none of the classes ({}): {rule}", label_space.join(", ")),
            ));
        };
        let before = items.len();
        let prefix = if part.is_empty() { name.clone() } else { format!("{part}/{name}") };
        let mut files = vec![];
        walk(&dir.join(name), &prefix, &mut files, &mut seen)?;
        items.extend(files.into_iter().map(|(rel, abs)| Item { rel, abs, class }));
        if training && items.len() == before {
            return Err(Error::folder(
                dir.join(name),
                "is an empty class folder: put the class's images in it, or remove it (or leave the class out \
                 with `classes`)",
            ));
        }
    }
    Ok(items)
}

/// Decodes `items` at `spec`'s size (through the cache of `part` when there is one), in parallel;
/// returns the results and how many came from the cache.
fn decode_all(tree: &Tree, part: &str, items: &[Item], spec: &ImageSpec, opts: &DataOptions) -> (Vec<Decoded>, usize) {
    let keys: Vec<std::io::Result<FileKey>> = items.par_iter().map(|it| FileKey::of(&it.rel, &it.abs)).collect();
    let mut cache = opts.cache_dir.as_ref().map(|d| Cache::open(d, &tree.root, part, spec));
    if let Some(why) = cache.as_ref().and_then(|c| c.rejected.as_ref()) {
        say(
            opts,
            &format!("note: the image cache {} {why}: rebuilding it", cache.as_ref().expect("some").path.display()),
        );
    }
    let mut out: Vec<Option<Decoded>> = keys
        .iter()
        .map(|k| match k {
            Ok(k) => cache.as_mut().and_then(|c| c.take(k)),
            Err(e) => Some(Decoded::Bad(format!("cannot be read: {e}"))),
        })
        .collect();
    let todo: Vec<usize> = (0..items.len()).filter(|&i| out[i].is_none()).collect();
    let label = if part.is_empty() { String::new() } else { format!(" ({part}/)") };
    let bar =
        crate::progress::bar(opts.verbose && !todo.is_empty(), todo.len() as u64, &format!("decoding images{label}"));
    let fresh: Vec<Decoded> = todo
        .par_iter()
        .map(|&i| {
            let d = decode_one(&items[i].abs, spec);
            bar.inc(1);
            d
        })
        .collect();
    bar.finish_and_clear();
    for (&i, d) in todo.iter().zip(fresh) {
        out[i] = Some(d);
    }
    let out: Vec<Decoded> = out.into_iter().map(|d| d.expect("every file decoded or cached")).collect();
    if let Some(c) = &cache {
        if !todo.is_empty() || c.rejected.is_some() {
            let walked: HashSet<&str> = items.iter().filter_map(|it| class_folder(&it.rel, part)).collect();
            let fresh = keys.iter().zip(&out).filter_map(|(k, d)| k.as_ref().ok().map(|k| (k, d)));
            if let Err(e) = c.write(fresh, |rel| class_folder(rel, part).is_some_and(|cl| !walked.contains(cl))) {
                say(opts, &format!("warning: images not cached: {e}"));
            }
        }
    }
    (out, items.len() - todo.len())
}

fn class_folder<'a>(rel: &'a str, part: &str) -> Option<&'a str> {
    let mut it = rel.split('/');
    if !part.is_empty() {
        it.next();
    }
    it.next()
}

/// One file's pixels fitted to `spec` (one plane for a grey image, three for a colour one).
fn decode_one(path: &Path, spec: &ImageSpec) -> Decoded {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return Decoded::Bad(format!("cannot be read: {e}")),
    };
    match img::decode(&bytes) {
        Ok(image) => {
            let rgb = img::fitted_rgb(&image, spec);
            if img::is_grey(&image) {
                Decoded::Grey(rgb.as_raw().chunks_exact(3).map(|p| p[0]).collect())
            } else {
                let mut px = Vec::with_capacity(3 * spec.width * spec.height);
                img::push_planes(&rgb, 3, &mut px);
                Decoded::Colour(px)
            }
        }
        Err(problem) => Decoded::Bad(problem),
    }
}

/// Appends `d`'s pixels as `channels` planes (a grey image replicated, a colour one's luma).
fn push_decoded(d: &Decoded, channels: usize, plane: usize, out: &mut Vec<u8>) {
    match (d, channels) {
        (Decoded::Grey(p), 1) => out.extend_from_slice(p),
        (Decoded::Grey(p), _) => {
            for _ in 0..3 {
                out.extend_from_slice(p);
            }
        }
        (Decoded::Colour(p), 1) => out.extend((0..plane).map(|i| img::luma(p[i], p[plane + i], p[2 * plane + i]))),
        (Decoded::Colour(p), _) => out.extend_from_slice(p),
        (Decoded::Bad(_), _) => {}
    }
}

/// Says (or, with `strict`, fails on) the files that did not decode.
fn report_bad(dir: &Path, bad: &[(&str, &str)], total: usize, opts: &DataOptions) -> Result<()> {
    if bad.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = bad.iter().take(3).map(|(rel, why)| format!("{rel} {why}")).collect();
    let more = if bad.len() > 3 { format!("; and {} more", bad.len() - 3) } else { String::new() };
    let what = format!("{} of {total} files are not images kindling can read: {}{more}", bad.len(), shown.join("; "));
    if opts.strict {
        return Err(Error::folder(dir, format!("{what}. Remove or replace them, or drop `strict` to skip them")));
    }
    say(opts, &format!("warning: folder {}: {what}. Skipped them (`strict` makes this an error)", dir.display()));
    Ok(())
}

/// Loads `split` of the folder data set `opts.data_dir`: for [`Split::Train`], the training
/// images followed by the held-out ones (a `val/` subfolder, or `opts.holdout`'s stratified
/// share); for [`Split::Test`], the `test/` subfolder.
pub fn load(split: Split, opts: &DataOptions) -> Result<Loaded> {
    let root = opts.data_dir.as_ref().ok_or_else(|| {
        Error::invalid("`data_dir`", "a folder data set needs its folder: the one holding a subfolder per class")
    })?;
    let tree = scan(root)?;
    let label_space = selected_classes(&tree, opts)?;
    match split {
        Split::Train => load_training(&tree, &label_space, opts),
        Split::Test => {
            if !tree.has("test") {
                return Err(Error::DataNotFound(format!(
                    "{} has no test/ subfolder, so no test split: put test images in test/<class>/ beside \
                     train/<class>/, or hold images out with `val_size` and score those",
                    tree.root.display()
                )));
            }
            let loaded = load_other(&tree, "test", &label_space, &tree.classes, opts)?;
            Ok(loaded)
        }
    }
}

/// Every image of the folder `opts.data_dir` as a test set for a model of `classes`: its `test/`
/// subfolder when it has one, else all its class folders (which must be among `classes`; a class
/// of the model may be missing). How a model is scored on a folder it was not trained on.
pub fn load_as_test(opts: &DataOptions, classes: &[String]) -> Result<Loaded> {
    let root = opts.data_dir.as_ref().ok_or_else(|| Error::invalid("`data_dir`", "give the folder to score"))?;
    let tree = scan(root)?;
    let part = if tree.has("test") {
        "test"
    } else if tree.splits.is_empty() {
        ""
    } else {
        return Err(Error::DataNotFound(format!(
            "{} has split folders but no test/: the model is scored on test/<class>/",
            tree.root.display()
        )));
    };
    // Every class folder must be one of the model's classes.
    load_other(&tree, part, classes, &[], opts)
}

fn selected_classes(tree: &Tree, opts: &DataOptions) -> Result<Vec<String>> {
    let name = format!("the folder {}", tree.root.display());
    Ok(match &opts.classes {
        Some(keep) => {
            resolve_classes(&tree.classes, keep, &name)?.into_iter().map(|i| tree.classes[i].clone()).collect()
        }
        None => tree.classes.clone(),
    })
}

fn record(tree: &Tree, spec: ImageSpec, skipped: usize, held_out: Vec<String>, seed: u64) -> FolderRecord {
    FolderRecord {
        root: tree.root.clone(),
        splits: tree.splits.clone(),
        classes: tree.classes.clone(),
        image: spec,
        skipped,
        held_out,
        split_seed: seed,
    }
}

/// The channel count: as asked, else 1 when every image is grey, else 3.
fn channels(opts: &DataOptions, decoded: &[&Decoded]) -> usize {
    opts.image.channels.unwrap_or_else(|| {
        let all_grey = decoded.iter().all(|d| matches!(d, Decoded::Grey(_) | Decoded::Bad(_)));
        if all_grey {
            1
        } else {
            3
        }
    })
}

fn dataset_name(tree: &Tree) -> String {
    tree.root.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "folder".into())
}

fn assemble(
    name: &str,
    items: &[&Item],
    decoded: &[&Decoded],
    spec: &ImageSpec,
    classes: &[String],
) -> Result<Dataset> {
    let plane = spec.width * spec.height;
    let mut px = Vec::with_capacity(items.len() * spec.len());
    for d in decoded {
        push_decoded(d, spec.channels, plane, &mut px);
    }
    let labels = items.iter().map(|it| it.class as u8).collect();
    Dataset::new(name, Pixels::U8(px), labels, spec.shape(), classes.to_vec())
}

/// A part other than the training one (`test/`, or a whole folder scored as a test set), its
/// class folders among `label_space` (those in `known` but not in it are left out).
fn load_other(tree: &Tree, part: &str, label_space: &[String], known: &[String], opts: &DataOptions) -> Result<Loaded> {
    let items = list_part(tree, part, label_space, known, false)?;
    let spec0 = opts.image.spec(0);
    let (decoded, from_cache) = decode_all(tree, part, &items, &spec0, opts);
    let dir = tree.part_dir(part);
    let bad: Vec<(&str, &str)> = items
        .iter()
        .zip(&decoded)
        .filter_map(|(it, d)| match d {
            Decoded::Bad(why) => Some((it.rel.as_str(), why.as_str())),
            _ => None,
        })
        .collect();
    report_bad(&dir, &bad, items.len(), opts)?;
    let good: Vec<(&Item, &Decoded)> =
        items.iter().zip(&decoded).filter(|(_, d)| !matches!(d, Decoded::Bad(_))).collect();
    if good.is_empty() {
        return Err(Error::folder(&dir, "holds no images kindling can read"));
    }
    let spec = opts.image.spec(channels(opts, &good.iter().map(|g| g.1).collect::<Vec<_>>()));
    let mut order: Vec<usize> = (0..good.len()).collect();
    order.sort_by(|&a, &b| sort_key(good[a].0).cmp(&sort_key(good[b].0)));
    let its: Vec<&Item> = order.iter().map(|&i| good[i].0).collect();
    let ds: Vec<&Decoded> = order.iter().map(|&i| good[i].1).collect();
    let data = assemble(&dataset_name(tree), &its, &ds, &spec, label_space)?;
    let files = its.iter().map(|it| it.rel.clone()).collect();
    Ok(Loaded {
        data,
        files,
        held_out: 0,
        from_cache,
        record: record(tree, spec, bad.len(), vec![], opts.holdout.seed),
    })
}

/// Training images sort by file name, then class, then path.
fn sort_key(it: &Item) -> (&str, usize, &str) {
    (it.rel.rsplit('/').next().unwrap_or(&it.rel), it.class, &it.rel)
}

fn load_training(tree: &Tree, label_space: &[String], opts: &DataOptions) -> Result<Loaded> {
    let t0 = std::time::Instant::now();
    let train_part = tree.training_part();
    let has_val = tree.has("val");
    if has_val && !opts.holdout.val.is_zero() {
        return Err(Error::invalid(
            "`val_size`",
            format!(
                "{} has a val/ subfolder, which is the held-out split: leave out `val_size` (or remove val/ to \
                 hold out a share of train/)",
                tree.root.display()
            ),
        ));
    }
    let spec0 = opts.image.spec(0);
    let train_items = list_part(tree, train_part, label_space, &tree.classes, true)?;
    let val_items = if has_val { list_part(tree, "val", label_space, &tree.classes, false)? } else { vec![] };
    let (train_dec, cached_train) = decode_all(tree, train_part, &train_items, &spec0, opts);
    let (val_dec, cached_val) = decode_all(tree, "val", &val_items, &spec0, opts);
    let all: Vec<(&Item, &Decoded, bool)> = train_items
        .iter()
        .zip(&train_dec)
        .map(|(i, d)| (i, d, false))
        .chain(val_items.iter().zip(&val_dec).map(|(i, d)| (i, d, true)))
        .collect();
    let bad: Vec<(&str, &str)> = all
        .iter()
        .filter_map(|(it, d, _)| match d {
            Decoded::Bad(why) => Some((it.rel.as_str(), why.as_str())),
            _ => None,
        })
        .collect();
    report_bad(&tree.root, &bad, all.len(), opts)?;
    let good: Vec<&(&Item, &Decoded, bool)> = all.iter().filter(|(_, d, _)| !matches!(d, Decoded::Bad(_))).collect();
    if good.is_empty() {
        return Err(Error::folder(&tree.root, format!("holds no images kindling can read ({})", img::FORMATS)));
    }
    let k = label_space.len();
    let class_dir = |c: usize| tree.part_dir(train_part).join(&label_space[c]);
    let mut counts = vec![0usize; k];
    for (it, _, in_val) in &good {
        if !in_val {
            counts[it.class] += 1;
        }
    }
    if let Some(c) = (0..k).find(|&c| counts[c] == 0) {
        return Err(Error::folder(
            class_dir(c),
            "holds no images kindling can read: every file in it was skipped (see above)",
        ));
    }
    // Training candidates and held-out images, each sorted by file name.
    let mut train: Vec<usize> = (0..good.len()).filter(|&i| !good[i].2).collect();
    let mut held: Vec<usize> = (0..good.len()).filter(|&i| good[i].2).collect();
    let key = |i: usize| sort_key(good[i].0);
    train.sort_by(|&a, &b| key(a).cmp(&key(b)));
    held.sort_by(|&a, &b| key(a).cmp(&key(b)));
    if !has_val {
        let n = opts.holdout.val.of(train.len());
        if n > 0 {
            (train, held) = stratified_holdout(&train, n, &|i| good[i].0.class, &counts, opts.holdout, &|c| {
                (class_dir(c), label_space[c].clone())
            })?;
        }
    }
    if let Some(t) = opts.holdout.train_size.filter(|&t| t < train.len()) {
        train = stratified_first(&train, t, &|i| good[i].0.class, k);
    }
    let order: Vec<usize> = train.iter().chain(&held).copied().collect();
    let decoded: Vec<&Decoded> = order.iter().map(|&i| good[i].1).collect();
    let spec = opts.image.spec(channels(opts, &decoded));
    let items: Vec<&Item> = order.iter().map(|&i| good[i].0).collect();
    let data = assemble(&dataset_name(tree), &items, &decoded, &spec, label_space)?;
    let files: Vec<String> = items.iter().map(|it| it.rel.clone()).collect();
    let held_out: Vec<String> = files[files.len() - held.len()..].to_vec();
    if opts.verbose {
        let read = format!(
            "read in {:.1}s, {} of {} files from the cache",
            t0.elapsed().as_secs_f64(),
            cached_train + cached_val,
            all.len()
        );
        describe(tree, label_space, &data, held.len(), &spec, &read, opts);
    }
    warn_imbalance(label_space, &counts, opts);
    Ok(Loaded {
        data,
        held_out: held.len(),
        from_cache: cached_train + cached_val,
        files,
        record: record(tree, spec, bad.len(), held_out, opts.holdout.seed),
    })
}

fn describe(
    tree: &Tree,
    classes: &[String],
    data: &Dataset,
    held: usize,
    spec: &ImageSpec,
    read: &str,
    opts: &DataOptions,
) {
    let counts = data.class_counts();
    let list: Vec<String> = classes.iter().zip(&counts).map(|(c, n)| format!("{c} {n}")).collect();
    let line = format!(
        "folder {}: {} classes, {} images ({}{}; {read}): {}",
        tree.root.display(),
        classes.len(),
        data.len(),
        if tree.splits.is_empty() { "class folders" } else { "train/" },
        match held {
            0 => String::new(),
            n if tree.has("val") => format!(", {n} of them from val/"),
            n => format!(", {n} of them held out"),
        },
        list.join(", ")
    );
    say(opts, &line);
    say(opts, &format!("images read as {} (`image_size`, `resize` squash|crop|pad to change)", spec.describe()));
}

fn warn_imbalance(classes: &[String], counts: &[usize], opts: &DataOptions) {
    let (Some(big), Some(small)) =
        ((0..counts.len()).max_by_key(|&c| counts[c]), (0..counts.len()).min_by_key(|&c| counts[c]))
    else {
        return;
    };
    if counts[big] > 10 * counts[small] {
        let warning = format!(
            "warning: the largest class ({}, {} images) has more than 10 times the images of the smallest ({}, {}): \
             a model will favour the large classes; collect more of the small ones, or leave them out with `classes`",
            classes[big], counts[big], classes[small], counts[small]
        );
        say(opts, &warning);
    }
}

/// `n` split among classes in proportion to `counts` (largest remainders), never more than a
/// class's count.
pub fn proportional(counts: &[usize], n: usize) -> Vec<usize> {
    let total: usize = counts.iter().sum();
    if total == 0 {
        return vec![0; counts.len()];
    }
    let n = n.min(total);
    let mut q: Vec<usize> = counts.iter().map(|&c| c * n / total).collect();
    let mut rest: Vec<usize> = (0..counts.len()).collect();
    // Largest remainder first; ties to the lower class index.
    rest.sort_by_key(|&c| (std::cmp::Reverse((counts[c] * n) % total), c));
    let mut left = n - q.iter().sum::<usize>();
    for &c in rest.iter().cycle().take(counts.len() * 2) {
        if left == 0 {
            break;
        }
        if q[c] < counts[c] {
            q[c] += 1;
            left -= 1;
        }
    }
    q
}

type ClassInfo<'a> = dyn Fn(usize) -> (PathBuf, String) + 'a;

/// Holds out `n` of `train` (sorted candidates), the same share of every class (at least one of
/// each when `n` allows), chosen at random with `holdout.seed`; returns `(kept, held)`, both sorted.
fn stratified_holdout(
    train: &[usize],
    n: usize,
    class: &dyn Fn(usize) -> usize,
    counts: &[usize],
    holdout: Holdout,
    info: &ClassInfo<'_>,
) -> Result<(Vec<usize>, Vec<usize>)> {
    use rand::{seq::SliceRandom, SeedableRng};
    let k = counts.len();
    if n >= train.len() {
        return Err(Error::invalid(
            "`val_size`",
            format!("{} holds out {n} of the {} training images, leaving none to train on", holdout.val, train.len()),
        ));
    }
    let mut q = proportional(counts, n);
    if n >= k {
        // Every class is measured: one from the class with the most held out for each with none.
        while let Some(z) = (0..k).find(|&c| q[c] == 0) {
            let donor = (0..k).max_by_key(|&c| q[c]).expect("classes");
            q[donor] -= 1;
            q[z] += 1;
        }
    }
    if let Some(c) = (0..k).find(|&c| q[c] >= counts[c]) {
        let (dir, name) = info(c);
        return Err(Error::folder(
            dir,
            format!(
                "class {name} has {} image{}: `val_size` {} holds out {} of them, leaving none to train on; add \
                 images to it, hold out fewer, or leave it out with `classes`",
                counts[c],
                if counts[c] == 1 { "" } else { "s" },
                holdout.val,
                q[c]
            ),
        ));
    }
    let mut held_set = HashSet::new();
    for (c, &qc) in q.iter().enumerate() {
        let mut members: Vec<usize> = train.iter().copied().filter(|&i| class(i) == c).collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(
            holdout.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (c as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
        );
        members.shuffle(&mut rng);
        held_set.extend(members.into_iter().take(qc));
    }
    let kept = train.iter().copied().filter(|i| !held_set.contains(i)).collect();
    let held = train.iter().copied().filter(|i| held_set.contains(i)).collect();
    Ok((kept, held))
}

/// `train` (sorted) reordered so that its first `t` hold the same share of every class (each
/// class's first files), the rest after them.
fn stratified_first(train: &[usize], t: usize, class: &dyn Fn(usize) -> usize, k: usize) -> Vec<usize> {
    let mut counts = vec![0; k];
    for &i in train {
        counts[class(i)] += 1;
    }
    let mut q = proportional(&counts, t);
    let (mut first, mut rest) = (vec![], vec![]);
    for &i in train {
        let c = class(i);
        if q[c] > 0 {
            q[c] -= 1;
            first.push(i);
        } else {
            rest.push(i);
        }
    }
    first.extend(rest);
    first
}

/// The recorded files `rel` (relative to `record.root`, as [`FolderRecord::held_out`]) read as
/// `record.image` and labelled by their class folders among `classes`: how a checkpoint's held-out
/// split is scored again. A file gone, changed into something unreadable, or of another class is
/// an error naming it.
pub fn load_files(record: &FolderRecord, rel: &[String], classes: &[String], opts: &DataOptions) -> Result<Dataset> {
    let root = opts.data_dir.clone().unwrap_or_else(|| record.root.clone());
    let tree = Tree { root: root.clone(), splits: record.splits.clone(), classes: record.classes.clone() };
    let mut items = vec![];
    for r in rel {
        let class = record.class_of(r).and_then(|c| classes.iter().position(|k| k == c)).ok_or_else(|| {
            Error::data(
                root.join(r),
                format!("is recorded as held out, but its folder is none of the classes ({})", classes.join(", ")),
            )
        })?;
        let abs = root.join(r);
        if !abs.is_file() {
            return Err(Error::data(
                &abs,
                "is one of the images the checkpoint held out, and it is not there any more: the held-out split \
                 can only be scored as it was recorded (score the test split instead, or retrain)",
            ));
        }
        items.push(Item { rel: r.clone(), abs, class });
    }
    let spec = record.image;
    let part = "held-out";
    let opts = DataOptions { cache_dir: None, ..opts.clone() };
    let (decoded, _) = decode_all(&tree, part, &items, &ImageSpec { channels: 0, ..spec }, &opts);
    if let Some((it, Decoded::Bad(why))) = items.iter().zip(&decoded).find(|(_, d)| matches!(d, Decoded::Bad(_))) {
        return Err(Error::data(&it.abs, format!("is one of the images the checkpoint held out, and it {why}")));
    }
    let its: Vec<&Item> = items.iter().collect();
    let ds: Vec<&Decoded> = decoded.iter().collect();
    assemble(&dataset_name(&tree), &its, &ds, &spec, classes)
}

/// Writes `ds` as a class-folder tree under `out`: `out/<class>/<name>.png` for every image, where
/// `name(i)` names image `i` (e.g. its index in the data set, zero-padded). Images are written
/// as 8-bit grey or RGB PNGs, in parallel; returns the number written. `out` may exist but must
/// hold none of the class folders yet (nothing is overwritten).
pub fn export(ds: &Dataset, out: &Path, name: &(dyn Fn(usize) -> String + Sync), progress: bool) -> Result<usize> {
    let Pixels::U8(px) = &ds.pixels else {
        return Err(Error::invalid(
            "`dataset`",
            format!("{} is a set of 2-D points, not images: nothing to export", ds.name),
        ));
    };
    let [c, h, w] = ds.shape;
    if !(c == 1 || c == 3) {
        return Err(Error::invalid("`dataset`", format!("{} has images of {c} channels: PNG takes 1 or 3", ds.name)));
    }
    for class in &ds.classes {
        if class.is_empty() || class.contains(['/', '\\']) || hidden(class) {
            return Err(Error::invalid("export", format!("class name '{class}' cannot be a folder name")));
        }
        let dir = out.join(class);
        if dir.exists() {
            return Err(Error::invalid(
                "export",
                format!("{} exists already: export into a new (or empty) folder", dir.display()),
            ));
        }
        std::fs::create_dir_all(&dir).map_err(|e| Error::folder(&dir, format!("cannot create: {e}")))?;
    }
    let d = ds.sample_dim();
    let plane = h * w;
    let bar = crate::progress::bar(progress, ds.len() as u64, "writing images");
    (0..ds.len()).into_par_iter().try_for_each(|i| -> Result<()> {
        let chw = &px[i * d..(i + 1) * d];
        let path = out.join(&ds.classes[ds.labels[i] as usize]).join(format!("{}.png", name(i)));
        let (raw, color) = if c == 1 {
            (chw.to_vec(), image::ExtendedColorType::L8)
        } else {
            (
                (0..plane).flat_map(|j| [chw[j], chw[plane + j], chw[2 * plane + j]]).collect(),
                image::ExtendedColorType::Rgb8,
            )
        };
        let file = std::fs::File::create(&path).map_err(|e| Error::data(&path, format!("cannot create: {e}")))?;
        let encoder = image::codecs::png::PngEncoder::new_with_quality(
            std::io::BufWriter::new(file),
            image::codecs::png::CompressionType::Fast,
            image::codecs::png::FilterType::Adaptive,
        );
        image::ImageEncoder::write_image(encoder, &raw, w as u32, h as u32, color)
            .map_err(|e| Error::data(&path, format!("cannot write: {e}")))?;
        bar.inc(1);
        Ok(())
    })?;
    bar.finish_and_clear();
    Ok(ds.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proportional_shares_sum_and_follow_counts() {
        assert_eq!(proportional(&[50, 30, 20], 10), vec![5, 3, 2]);
        assert_eq!(proportional(&[1, 1, 1], 2).iter().sum::<usize>(), 2);
        let q = proportional(&[7, 13, 100], 31);
        assert_eq!(q.iter().sum::<usize>(), 31);
        assert!(q[2] > q[1] && q[1] >= q[0]);
        assert_eq!(proportional(&[2, 2], 9), vec![2, 2]);
    }

    #[test]
    fn recorded_files_know_their_class() {
        let r = FolderRecord {
            root: "/x".into(),
            splits: vec!["train".into(), "val".into()],
            classes: vec![],
            image: ImageSpec { channels: 3, height: 32, width: 32, resize: ResizePolicy::Squash },
            skipped: 0,
            held_out: vec![],
            split_seed: 0,
        };
        assert_eq!(r.class_of("val/cat/a.png"), Some("cat"));
        let flat = FolderRecord { splits: vec![], ..r };
        assert_eq!(flat.class_of("cat/deep/a.png"), Some("cat"));
    }
}

//! `predict` over many files: the image files of the paths given (folders searched recursively,
//! in sorted order), each classified on its own, an unreadable one reported without stopping the
//! others.
//!
//! ```
//! # fn main() -> kindling::Result<()> {
//! # let dir = std::env::temp_dir().join(format!("kindling-doc-predict-{}", std::process::id()));
//! # std::fs::create_dir_all(dir.join("more"))?;
//! # let img = image::RgbImage::from_fn(32, 32, |x, y| image::Rgb([(x * 8) as u8, (y * 8) as u8, 90]));
//! # img.save(dir.join("b.png")).unwrap();
//! # img.save(dir.join("more/a.png")).unwrap();
//! # std::fs::write(dir.join("broken.png"), b"not a png")?;
//! use kindling::app::predict::{classify_files, image_files};
//! let model = kindling::Classifier::load("weights/cifar10-linear-softmax.safetensors", &candle_core::Device::Cpu)?;
//! let files = image_files(&[dir.clone()])?; // b.png, broken.png, more/a.png
//! let outcomes = classify_files(&model, &files);
//! assert_eq!(outcomes.iter().filter(|o| o.prediction.is_ok()).count(), 2);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

use crate::classifier::{Classifier, Prediction};
use crate::{Error, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The file extensions (lower case) taken as images inside a folder. A file named on the command
/// line is classified whatever its name.
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "gif", "webp", "bmp", "tif", "tiff"];

/// The files to classify: each path that is not a folder as given (a missing one is reported
/// when it is classified), and each folder's image files ([`IMAGE_EXTENSIONS`]), searched
/// recursively, sorted by path. A folder that cannot be read is an error naming it; one without
/// images adds nothing.
pub fn image_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = vec![];
    for p in paths {
        if p.is_dir() {
            let mut found = vec![];
            collect(p, &mut found)?;
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::Image { path: dir.into(), problem: format!("cannot read this folder: {e}") })?;
    for entry in entries {
        let path = entry
            .map_err(|e| Error::Image { path: dir.into(), problem: format!("cannot read this folder: {e}") })?
            .path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// One file's outcome: its classes, or why it could not be classified.
pub struct Outcome {
    /// The file.
    pub path: PathBuf,
    /// The prediction, or the error's message.
    pub prediction: std::result::Result<Prediction, String>,
}

/// Classifies every file of `files` on its own; a file that fails does not stop the others.
pub fn classify_files(model: &Classifier, files: &[PathBuf]) -> Vec<Outcome> {
    files
        .iter()
        .map(|path| Outcome { path: path.clone(), prediction: model.classify_file(path).map_err(|e| e.to_string()) })
        .collect()
}

/// `{"images": [{"file", "top": [{"class", "p"}], "note"} | {"file", "error"}], "classified", "failed"}`
/// with the `top` most likely classes of each.
pub fn to_json(outcomes: &[Outcome], top: usize) -> Value {
    let images: Vec<Value> = outcomes
        .iter()
        .map(|o| match &o.prediction {
            Ok(p) => json!({
                "file": o.path.display().to_string(),
                "top": p.top(top).map(|(c, p)| json!({"class": c, "p": p})).collect::<Vec<_>>(),
                "note": p.note,
            }),
            Err(e) => json!({ "file": o.path.display().to_string(), "error": e }),
        })
        .collect();
    let failed = outcomes.iter().filter(|o| o.prediction.is_err()).count();
    json!({ "images": images, "classified": outcomes.len() - failed, "failed": failed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_give_their_images_recursively_in_order() {
        let dir = std::env::temp_dir().join(format!("kindling-image-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub/deeper")).unwrap();
        for f in ["b.png", "a.JPG", "notes.txt", "sub/c.webp", "sub/deeper/d.gif"] {
            std::fs::write(dir.join(f), b"").unwrap();
        }
        let files = image_files(&[dir.join("sub/deeper/d.gif"), dir.clone(), dir.join("missing.png")]).unwrap();
        let names: Vec<String> =
            files.iter().map(|p| p.strip_prefix(&dir).unwrap().to_string_lossy().replace('\\', "/")).collect();
        assert_eq!(names, ["sub/deeper/d.gif", "a.JPG", "b.png", "sub/c.webp", "sub/deeper/d.gif", "missing.png"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

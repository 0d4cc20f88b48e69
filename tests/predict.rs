//! `predict`'s path from an image file to class probabilities: the same answer as evaluation of
//! the same image, for a model reading pixels and for one reading hand-made features, and flip
//! test-time augmentation as the mean of the image's and its mirror image's probabilities.

mod common;

use candle_core::Device;
use kindling::app::cli::DataArgs;
use kindling::app::run;
use kindling::checkpoint::Checkpoint;
use kindling::data::{shapes, Dataset, DatasetName, Pixels, Split};
use kindling::features::FeatureConfig;
use kindling::loss::LossKind;
use kindling::models::ModelKind;
use kindling::presets::Run;
use kindling::tta::Tta;
use std::path::Path;

/// A linear model trained for two epochs on the generated shapes, on pixels or on features.
fn trained(features: Option<FeatureConfig>, dir: &Path) -> Checkpoint {
    let data = DataArgs {
        dataset: Some(DatasetName::Shapes),
        val_size: 0.into(),
        generated_size: Some(400),
        offline: true,
        ..Default::default()
    }
    .prepare(DatasetName::Shapes)
    .unwrap();
    let kind = ModelKind::Linear;
    let mut run = Run::defaults(DatasetName::Shapes, kind, LossKind::Softmax, features);
    run.train.epochs = 2;
    let save = dir.join("m.safetensors");
    run::execute(&run, &data, &Device::Cpu, &common::quiet(&save), None).unwrap();
    kindling::checkpoint::load(&save, &Device::Cpu).unwrap()
}

/// Writes sample `i` of `ds` (8-bit RGB) as a PNG, mirrored left-right when `mirror` is set.
fn png(ds: &Dataset, i: usize, mirror: bool, path: &Path) {
    let [c, h, w] = ds.shape;
    assert_eq!(c, 3);
    let Pixels::U8(px) = &ds.pixels else { panic!("shapes are 8-bit") };
    let s = &px[i * c * h * w..(i + 1) * c * h * w];
    let img = image::RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let x = if mirror { w - 1 - x as usize } else { x as usize };
        let y = y as usize;
        image::Rgb([s[y * w + x], s[h * w + y * w + x], s[2 * h * w + y * w + x]])
    });
    img.save(path).unwrap();
}

fn probabilities(ck: &Checkpoint, path: &Path, tta: Tta) -> Vec<f32> {
    let p = kindling::Classifier::from_checkpoint(ck.clone(), &Device::Cpu).with_tta(tta).classify_file(path).unwrap();
    let sum: f32 = p.ranked.iter().map(|r| r.1).sum();
    assert!((sum - 1.0).abs() < 1e-4, "probabilities sum to {sum}");
    // Back to label order.
    ck.meta.classes.iter().map(|c| p.ranked.iter().find(|r| &r.0 == c).unwrap().1).collect()
}

fn argmax(v: &[f32]) -> usize {
    (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap()
}

#[test]
fn an_image_file_is_classified_as_evaluation_classifies_it() {
    let test = shapes::generate(Split::Test, 12);
    for (name, features) in [("pixels", None), ("features", Some(FeatureConfig::default()))] {
        let dir = common::tmpdir(name);
        let ck = trained(features.clone(), &dir);
        let input = ck.meta.preprocess().input(&test, false).unwrap();
        let want = kindling::train::predict(&ck.model, &input, &ck.meta.normalization, &Device::Cpu).unwrap();
        for (i, &w) in want.iter().enumerate() {
            let path = dir.join(format!("{i}.png"));
            png(&test, i, false, &path);
            let got = argmax(&probabilities(&ck, &path, Tta::None));
            assert_eq!(got, w as usize, "{name}: image {i} classified {got} from its file, {w} in evaluation");
        }
        let model = kindling::Classifier::from_checkpoint(ck.clone(), &Device::Cpu);
        // One batch answers as image after image does.
        let images: Vec<_> = (0..want.len()).map(|i| image::open(dir.join(format!("{i}.png"))).unwrap()).collect();
        let batch = model.classify_batch(&images).unwrap();
        for (i, p) in batch.iter().enumerate() {
            let one = model.classify(&images[i]).unwrap();
            assert_eq!(p.best().0, one.best().0, "{name}: image {i} in a batch");
            assert!((p.best().1 - one.best().1).abs() < 1e-5);
        }
        let err = model.with_tta(Tta::Flip).classify_file(dir.join("0.png")).err();
        assert_eq!(err.is_some(), features.is_some(), "{name}: flip applies to pixels only: {err:?}");
        std::fs::remove_dir_all(&dir).ok();
    }
}

#[test]
fn flip_is_the_mean_of_the_image_and_its_mirror_image() {
    let dir = common::tmpdir("flip");
    let ck = trained(None, &dir);
    let test = shapes::generate(Split::Test, 4);
    let mut differ = false;
    for i in 0..test.len() {
        let (a, b) = (dir.join(format!("{i}.png")), dir.join(format!("{i}-mirror.png")));
        png(&test, i, false, &a);
        png(&test, i, true, &b);
        let (pa, pb) = (probabilities(&ck, &a, Tta::None), probabilities(&ck, &b, Tta::None));
        let flip = probabilities(&ck, &a, Tta::Flip);
        for k in 0..flip.len() {
            assert!((flip[k] - 0.5 * (pa[k] + pb[k])).abs() < 1e-5, "image {i} class {k}");
            differ |= (pa[k] - pb[k]).abs() > 1e-4;
        }
    }
    assert!(differ, "a linear model should see an image and its mirror image differently");
    std::fs::remove_dir_all(&dir).ok();
}

/// `predict` on a folder and files: every readable image classified (the folder's recursively,
/// sorted), each unreadable file on its own line, exit status 1 at the end; `--json` says the
/// same; `--top 0` is refused in words; `--help` lists every `--tta` value in its prose.
#[test]
fn predict_classifies_every_readable_file_and_reports_each_unreadable_one() {
    let dir = common::tmpdir("predict-many");
    std::fs::create_dir_all(dir.join("photos/more")).unwrap();
    let img = image::RgbImage::from_fn(32, 32, |x, y| image::Rgb([(x * 8) as u8, (y * 8) as u8, 90]));
    img.save(dir.join("photos/b.png")).unwrap();
    img.save(dir.join("photos/more/a.jpg")).unwrap();
    // Sorts first, as in the report: it must not stop the others.
    std::fs::write(dir.join("photos/a-corrupt.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    std::fs::write(dir.join("photos/notes.txt"), b"not an image, and not taken from a folder").unwrap();
    let weights = common::weights_dir().join("cifar10-linear-softmax.safetensors");
    let predict = |args: &[&str]| {
        common::run(common::example("predict").arg("--weights").arg(&weights).args(["--device", "cpu"]).args(args))
    };
    let (folder, missing) = (dir.join("photos"), dir.join("missing.png"));
    let (folder, missing) = (folder.to_str().unwrap(), missing.to_str().unwrap());

    let out = predict(&[folder, missing]);
    assert_eq!(out.code, Some(1), "a failure makes the exit status 1: {}", out.stderr);
    let classified: Vec<&str> = out.stdout.lines().filter(|l| l.ends_with(':')).collect();
    let b = format!("{folder}/b.png:");
    let a = format!("{folder}/more/a.jpg:");
    assert_eq!(classified, [b.as_str(), a.as_str()], "the folder's images, sorted, recursively:\n{}", out.stdout);
    let errors: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 2, "{}", out.stderr);
    assert!(errors[0].contains("a-corrupt.png") && errors[1].contains("missing.png"), "{}", out.stderr);
    assert!(out.stderr.contains("2 of 4 files could not be classified"), "{}", out.stderr);
    assert!(!out.stderr.contains("notes.txt"), "a folder gives its images only");

    let out = predict(&["--json", "--top", "2", folder]);
    assert_eq!(out.code, Some(1));
    let j: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    assert_eq!((j["classified"].as_u64(), j["failed"].as_u64()), (Some(2), Some(1)), "{j}");
    let images = j["images"].as_array().unwrap();
    assert!(images[0]["error"].as_str().unwrap().contains("a-corrupt.png"), "{j}");
    assert_eq!(images[1]["top"].as_array().unwrap().len(), 2, "{j}");
    let p: f64 = images[1]["top"].as_array().unwrap().iter().map(|t| t["p"].as_f64().unwrap()).sum();
    assert!(p > 0.0 && p <= 1.0 + 1e-6, "{j}");

    let out = predict(&[&format!("{folder}/b.png")]);
    assert_eq!(out.code, Some(0), "all readable: {}", out.stderr);

    let out = predict(&["--top", "0", folder]);
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("at least 1") && !out.stderr.contains("18446744073709551615"), "{}", out.stderr);

    let help = common::run(common::example("predict").arg("--help")).stdout;
    let tta = &help[help.find("--tta").unwrap()..];
    let tta = &tta[..tta.find("\n  -").or_else(|| tta.find("\n      --")).unwrap_or(tta.len())];
    for value in ["none", "flip", "flip-translate"] {
        assert!(tta.matches(value).count() >= 2, "--tta's help names {value} in its prose and in the choice:\n{tta}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

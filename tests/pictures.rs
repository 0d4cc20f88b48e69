//! Pictures from real checkpoints: linear templates differ between classes, and each picture is
//! written, has the expected size, and is not blank. Without a TrueType font the drawing tests
//! print why they skip (`.ci/run` installs fonts-dejavu-core).

mod common;

use candle_core::Device;
use kindling::app::cli::DataArgs;
use kindling::data::DatasetName;
use kindling::loss::LossKind;
use kindling::models::{Architecture, ModelKind};
use kindling::app::run;
use kindling::presets::Run;
use kindling::tta::Tta;
use kindling::app::visualize::{first_layer_images, What};
use std::path::Path;

fn trained(kind: ModelKind, dir: &Path) -> kindling::checkpoint::Checkpoint {
    let data = DataArgs {
        dataset: Some(DatasetName::Shapes),
        val_size: 100.into(),
        generated_size: Some(600),
        offline: true,
        ..Default::default()
    }
    .prepare(DatasetName::Shapes)
    .unwrap();
    let mut run = Run::defaults(DatasetName::Shapes, kind, LossKind::Softmax, None);
    run.train.epochs = 3;
    match &mut run.model {
        Architecture::Cnn(l) => l.blocks = kindling::models::CnnConfig::stages(&[8, 8], 1, kindling::models::Pool::Max),
        Architecture::Mlp(l) => l.hidden = vec![16],
        Architecture::Linear => {}
    }
    let save = dir.join("m.safetensors");
    let report = run::execute(&run, &data, &Device::Cpu, &common::quiet(&save), None).unwrap();
    // Curves from the real history.
    if font_or_skip() {
        let curves = dir.join("curves.png");
        kindling::app::plot::training_curves(&curves, &report.history).unwrap();
        check_png(&curves, None);
    }
    kindling::checkpoint::load(&save, &Device::Cpu).unwrap()
}

fn font_or_skip() -> bool {
    let probe = std::env::temp_dir().join(format!("kindling-font-probe-{}.png", std::process::id()));
    match kindling::app::plot::line_plot(&probe, "t", "x", "y", &[("a".into(), vec![(0.0, 0.0), (1.0, 1.0)])], false) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("skipped: {e}");
            false
        }
    }
}

fn check_png(path: &Path, size: Option<(u32, u32)>) {
    let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8();
    if let Some(s) = size {
        assert_eq!(img.dimensions(), s, "{}", path.display());
    }
    let px: Vec<f64> = img.pixels().map(|p| p.0.iter().map(|&c| c as f64).sum::<f64>()).collect();
    let mean = px.iter().sum::<f64>() / px.len() as f64;
    let var = px.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / px.len() as f64;
    assert!(var > 0.0, "{} is blank", path.display());
}

#[test]
fn linear_templates_differ_between_classes_and_draw() {
    let dir = common::tmpdir("templates");
    let ck = trained(ModelKind::Linear, &dir);
    let (images, shape, labels) = first_layer_images(&ck, What::Templates).unwrap();
    assert_eq!((images.len(), shape), (10, [3, 32, 32]));
    assert_eq!(labels[0], "circle");
    for i in 0..10 {
        for j in i + 1..10 {
            let d: f32 = images[i].iter().zip(&images[j]).map(|(a, b)| (a - b).abs()).sum();
            assert!(d > 1e-3, "templates {i} and {j} are identical");
        }
    }
    assert!(first_layer_images(&ck, What::Filters).is_err(), "a linear model has no filters");
    if font_or_skip() {
        let out = dir.join("templates.png");
        kindling::app::plot::image_grid(&out, &images, shape, &labels, 5, 2).unwrap();
        check_png(&out, None);
    }
}

#[test]
fn cnn_filters_and_evaluation_pictures() {
    let dir = common::tmpdir("cnn");
    let ck = trained(ModelKind::Cnn, &dir);
    let (filters, shape, _) = first_layer_images(&ck, What::Filters).unwrap();
    assert_eq!((filters.len(), shape), (8, [3, 5, 5]));
    if !font_or_skip() {
        return;
    }
    let grid = dir.join("filters.png");
    kindling::app::plot::image_grid(&grid, &filters, shape, &[], 4, 8).unwrap();
    check_png(&grid, None);
    let test = kindling::data::shapes::generate(kindling::data::Split::Test, 50);
    let report = kindling::app::report::score(&ck, &test, &Device::Cpu, Tta::Flip).unwrap();
    let files = kindling::app::visualize::evaluation_pictures(&ck, &test, &report, &dir, "eval", &Device::Cpu).unwrap();
    assert_eq!(files.len(), 2);
    for f in files {
        check_png(&f, None);
    }
}

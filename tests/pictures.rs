//! Pictures from real checkpoints: linear templates differ between classes, and each picture is
//! written at the size its function documents and shows what it should (the templates and
//! filters themselves, the confusion counts' shades, the curves' colours). Without a TrueType
//! font the drawing tests skip visibly (`common::require_font`; `.ci/run` installs
//! fonts-dejavu-core and makes a skip fatal).

mod common;

use candle_core::Device;
use image::{Rgb, RgbImage};
use kindling::app::cli::DataArgs;
use kindling::app::run;
use kindling::app::visualize::{first_layer_images, What};
use kindling::data::DatasetName;
use kindling::loss::LossKind;
use kindling::models::{Architecture, ModelKind};
use kindling::presets::Run;
use kindling::tta::Tta;
use std::path::Path;

/// The space around each tile of an image grid (`kindling::app::plot`'s documented `+ 8` per cell).
const PAD: u32 = 4;
/// The first series' colour in every line plot (matplotlib's first "tab10" colour).
const FIRST_SERIES: Rgb<u8> = Rgb([31, 119, 180]);

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
    // Curves from the real history: 1100 × 450, the training series in both panels.
    if common::require_font() {
        let curves = dir.join("curves.png");
        kindling::app::plot::training_curves(&curves, &report.history).unwrap();
        let img = check_png(&curves, (1100, 450));
        assert!(count(&img, FIRST_SERIES, 0..550) > 100 && count(&img, FIRST_SERIES, 550..1100) > 100);
    }
    kindling::checkpoint::load(&save, &Device::Cpu).unwrap()
}

/// Decodes the PNG at `path` and checks its size.
fn check_png(path: &Path, size: (u32, u32)) -> RgbImage {
    let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8();
    assert_eq!(img.dimensions(), size, "{}", path.display());
    img
}

/// Pixels of colour `c` in columns `xs`.
fn count(img: &RgbImage, c: Rgb<u8>, xs: std::ops::Range<u32>) -> usize {
    img.enumerate_pixels().filter(|(x, _, p)| xs.contains(x) && **p == c).count()
}

/// Asserts that `img` shows each of `images` (`shape`, CHW) enlarged `scale` times, min-max scaled
/// on its own ([`kindling::app::plot::tile_image`]), in cells `cell` pixels apart, `cols` a row.
fn assert_shows_grid(img: &RgbImage, images: &[Vec<f32>], shape: [usize; 3], scale: u32, cols: u32, cell: (u32, u32)) {
    for (i, image) in images.iter().enumerate() {
        let (x0, y0) = ((i as u32 % cols) * cell.0 + PAD, (i as u32 / cols) * cell.1 + PAD);
        let small = kindling::app::plot::tile_image(image, shape);
        for (x, y, p) in small.enumerate_pixels() {
            for (dx, dy) in [(0, 0), (scale - 1, scale - 1)] {
                assert_eq!(img.get_pixel(x0 + x * scale + dx, y0 + y * scale + dy), p, "image {i}, pixel ({x}, {y})");
            }
        }
    }
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
    if common::require_font() {
        let out = dir.join("templates.png");
        kindling::app::plot::image_grid(&out, &images, shape, &labels, 5, 2).unwrap();
        // 5 columns of 32·2 + 8, 2 rows of 32·2 + 8 + 16 (the class name).
        let img = check_png(&out, (5 * 72, 2 * 88));
        assert_shows_grid(&img, &images, shape, 2, 5, (72, 88));
    }
}

#[test]
fn cnn_filters_and_evaluation_pictures() {
    let dir = common::tmpdir("cnn");
    let ck = trained(ModelKind::Cnn, &dir);
    let (filters, shape, _) = first_layer_images(&ck, What::Filters).unwrap();
    assert_eq!((filters.len(), shape), (8, [3, 5, 5]));
    if !common::require_font() {
        return;
    }
    let grid = dir.join("filters.png");
    kindling::app::plot::image_grid(&grid, &filters, shape, &[], 4, 8).unwrap();
    // 4 columns of 5·8 + 8, 2 rows of 5·8 + 8 (no captions).
    let img = check_png(&grid, (4 * 48, 2 * 48));
    assert_shows_grid(&img, &filters, shape, 8, 4, (48, 48));

    let test = kindling::data::shapes::generate(kindling::data::Split::Test, 50);
    let report = kindling::app::report::score(&ck, &test, &Device::Cpu, Tta::Flip).unwrap();
    let files = kindling::app::visualize::evaluation_pictures(&ck, &test, &report, &dir, "eval", &Device::Cpu).unwrap();
    assert_eq!(files.len(), 2);
    // The confusion matrix: ten cells of 52 pixels, the class names' width (label_w) left of and
    // under them; each cell shaded by its share of the row, white (0) to dark blue (1).
    let heat = image::open(&files[0]).unwrap().to_rgb8();
    let (w, h) = heat.dimensions();
    let label_w = h - (44 + 520 + 8 + 30);
    let left = 30 + label_w + 8;
    assert!((20..=110).contains(&label_w) && w >= left + 520 + 24, "{}: {w} x {h}", files[0].display());
    for (r, row) in report.confusion.counts.iter().enumerate() {
        let total: usize = row.iter().sum();
        for (c, &n) in row.iter().enumerate() {
            let t = if total > 0 { n as f64 / total as f64 } else { 0.0 };
            let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
            let want = Rgb([mix(247.0, 8.0), mix(251.0, 48.0), mix(255.0, 107.0)]);
            // Just inside the cell's corner, clear of its border and its count.
            let at = (left + c as u32 * 52 + 4, 44 + r as u32 * 52 + 4);
            assert_eq!(*heat.get_pixel(at.0, at.1), want, "cell ({r}, {c}): {n} of {total}");
        }
    }
    // 24 sample predictions, 8 a row: cells of max(32·2, 100) + 8 by 32·2 + 8 + 32 pixels, each
    // with its image (more than two colours) centred at the top.
    let grid = check_png(&files[1], (8 * 108, 3 * 104));
    for i in 0..24u32 {
        let (x0, y0) = ((i % 8) * 108 + (108 - 64) / 2, (i / 8) * 104 + PAD);
        let mut colours: Vec<[u8; 3]> =
            (0..64).flat_map(|x| (0..64).map(move |y| (x, y))).map(|(x, y)| grid.get_pixel(x0 + x, y0 + y).0).collect();
        colours.sort_unstable();
        colours.dedup();
        assert!(colours.len() > 2, "sample {i}'s image");
    }
}

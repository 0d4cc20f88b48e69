//! A grid of images with a caption under each: linear-classifier templates, first-layer filters
//! and weights, sample images.

use super::{blank, check_images, check_layout, fit_text, render, text_style, tile, Drawn, PAD};
use crate::{Error, Result};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// Height of the caption line under each image, in pixels.
pub(crate) const CAPTION_H: u32 = 16;

/// Draws `images` (each `shape` = `[C, H, W]` in CHW order, `C` 1 or 3) in a grid of `cols`
/// columns, each min-max scaled on its own to the full grey or colour range, enlarged `scale`
/// times (nearest neighbour), with its entry of `labels` written under it.
///
/// `labels` is either empty (no captions) or one per image. The picture is
/// `min(cols, n)·(W·scale + 8)` pixels wide and `rows·(H·scale + 8 + 16)` high (no `+ 16` without
/// captions), with `rows = ⌈n / cols⌉`. Long labels are drawn smaller, then shortened with "…".
///
/// Used for the rows of a linear classifier's weights reshaped to `3×32×32` (one template per
/// class), a CNN's first-layer filters (`3×k×k`), an MLP's first-layer weights, and samples.
pub fn image_grid(
    path: &Path,
    images: &[Vec<f32>],
    shape: [usize; 3],
    labels: &[String],
    cols: usize,
    scale: u32,
) -> Result<()> {
    check_images(images, shape)?;
    check_layout(cols, scale)?;
    if !labels.is_empty() && labels.len() != images.len() {
        return Err(Error::invalid(
            "labels",
            format!("{} labels for {} images: give one per image, or none", labels.len(), images.len()),
        ));
    }
    let (tile_w, tile_h) = (shape[2] as u32 * scale, shape[1] as u32 * scale);
    let caption_h = if labels.is_empty() { 0 } else { CAPTION_H };
    let cell_w = tile_w + 2 * PAD;
    let cell_h = tile_h + 2 * PAD + caption_h;
    let cols = cols.min(images.len());
    let rows = images.len().div_ceil(cols);

    let mut canvas = blank(cols as u32 * cell_w, rows as u32 * cell_h);
    let origin = |i: usize| ((i % cols) as u32 * cell_w + PAD, (i / cols) as u32 * cell_h + PAD);
    for (i, img) in images.iter().enumerate() {
        let (x, y) = origin(i);
        image::imageops::replace(&mut canvas, &tile(img, shape, scale), x as i64, y as i64);
        frame(&mut canvas, x, y, tile_w, tile_h);
    }
    render(path, canvas, |root| {
        for (i, label) in labels.iter().enumerate() {
            let (x, y) = origin(i);
            let (text, size) = fit_text(label, cell_w - 2, 13.0, 8.0);
            let style = text_style(size, &BLACK, Pos::new(HPos::Center, VPos::Center));
            let at = ((x + tile_w / 2) as i32, (y + tile_h + PAD + caption_h / 2) as i32);
            root.draw(&Text::new(text, at, style)).drawn()?;
        }
        Ok(())
    })
}

/// Grey of the one-pixel frame around each image, so that tiles whose edges are white (a filter's
/// largest weights) stay apart from the white background and from each other.
pub(crate) const FRAME: image::Rgb<u8> = image::Rgb([150, 150, 150]);

/// Draws a one-pixel [`FRAME`] just outside the `w × h` tile at `(x, y)` (inside the padding).
pub(crate) fn frame(canvas: &mut image::RgbImage, x: u32, y: u32, w: u32, h: u32) {
    let (x0, y0, x1, y1) = (x.saturating_sub(1), y.saturating_sub(1), x + w, y + h);
    for i in x0..=x1.min(canvas.width() - 1) {
        for j in [y0, y1] {
            if j < canvas.height() {
                canvas.put_pixel(i, j, FRAME);
            }
        }
    }
    for j in y0..=y1.min(canvas.height() - 1) {
        for i in [x0, x1] {
            if i < canvas.width() {
                canvas.put_pixel(i, j, FRAME);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::plot::testing::{assert_shows_tile, check_png, out, require_font};

    #[test]
    fn rgb_templates_with_labels() {
        if !require_font() {
            return;
        }
        let classes = ["airplane", "automobile", "bird", "cat", "deer"];
        let images: Vec<Vec<f32>> =
            (0..5).map(|k| (0..3 * 8 * 8).map(|i| ((i * (k + 1)) % 17) as f32 - 8.0).collect()).collect();
        let labels: Vec<String> = classes.iter().map(|s| s.to_string()).collect();
        let path = out("templates");
        image_grid(&path, &images, [3, 8, 8], &labels, 3, 4).unwrap();
        // 3 columns of 8·4 + 8, 2 rows of 8·4 + 8 + 16
        let img = check_png(&path, (3 * 40, 2 * 56));
        for (i, image) in images.iter().enumerate() {
            let (col, row) = (i as u32 % 3, i as u32 / 3);
            assert_shows_tile(&img, (col * 40 + PAD, row * 56 + PAD), image, [3, 8, 8], 4);
        }
        // Each caption is written in black under its tile (antialiased: some pixels darker than mid grey).
        for i in 0..5u32 {
            let (x0, y0) = ((i % 3) * 40, (i / 3) * 56 + 40);
            let dark = (x0..x0 + 40).flat_map(|x| (y0..y0 + 16).map(move |y| (x, y)));
            assert!(dark.filter(|&(x, y)| img.get_pixel(x, y).0.iter().all(|&v| v < 100)).count() > 10, "caption {i}");
        }
    }

    #[test]
    fn grey_filters_without_labels() {
        if !require_font() {
            return;
        }
        let images: Vec<Vec<f32>> = (0..4).map(|k| vec![0.0, 1.0, k as f32, 2.0]).collect();
        let path = out("filters");
        image_grid(&path, &images, [1, 2, 2], &[], 8, 5).unwrap();
        let img = check_png(&path, (4 * 18, 18));
        for (i, image) in images.iter().enumerate() {
            assert_shows_tile(&img, (i as u32 * 18 + PAD, PAD), image, [1, 2, 2], 5);
        }
        // Each filter is framed: the pixel just left of the second tile is grey, not white.
        assert_eq!(*img.get_pixel(18 + PAD - 1, PAD + 2), FRAME);
        assert_eq!(*img.get_pixel(18 + PAD - 2, PAD + 2), image::Rgb([255, 255, 255]));
    }

    #[test]
    fn mismatched_labels_are_rejected() {
        let images = vec![vec![0.0; 4]; 2];
        let err = image_grid(&out("bad"), &images, [1, 2, 2], &["a".into()], 2, 1);
        assert!(err.unwrap_err().to_string().contains("labels"));
    }
}

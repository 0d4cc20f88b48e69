//! A grid of images with their true label, predicted label and probability; mistakes in red.

use super::{blank, check_images, check_layout, fit_text, render, text_style, tile, Drawn, PAD};
use crate::{Error, Result};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// Narrowest cell, so that two short lines of text fit under small images.
const MIN_CELL_W: u32 = 100;
/// Height of one caption line, in pixels.
const LINE_H: u32 = 16;
const RIGHT: RGBColor = RGBColor(0, 120, 40);
const WRONG: RGBColor = RGBColor(210, 20, 20);

/// Images with their true and predicted class names and the predicted class's probability.
#[derive(Debug, Clone, Default)]
pub struct Predictions {
    /// Each image, `shape` values in CHW order.
    pub images: Vec<Vec<f32>>,
    /// `[C, H, W]` of every image (`C` 1 or 3).
    pub shape: [usize; 3],
    /// True class of each image.
    pub truth: Vec<String>,
    /// Predicted class of each image.
    pub predicted: Vec<String>,
    /// Probability of each prediction, in `0..=1`.
    pub prob: Vec<f32>,
}

/// Draws `p`'s images (min-max scaled each on its own and enlarged `scale` times) in a grid of
/// `cols` columns, each captioned with its true label and, on a second line, the predicted label
/// with its probability. Correct predictions are written in green; wrong ones in red, with a red
/// frame around the image.
///
/// The picture is `min(cols, n)·(max(W·scale, 100) + 8)` pixels wide and
/// `rows·(H·scale + 8 + 32)` high, with `rows = ⌈n / cols⌉`.
pub fn prediction_grid(path: &Path, p: &Predictions, cols: usize, scale: u32) -> Result<()> {
    let Predictions { images, shape, truth, predicted, prob } = p;
    let shape = *shape;
    check_images(images, shape)?;
    check_layout(cols, scale)?;
    let n = images.len();
    for (name, len) in [("truth", truth.len()), ("predicted", predicted.len()), ("prob", prob.len())] {
        if len != n {
            return Err(Error::invalid(name, format!("{len} entries for {n} images: give one per image")));
        }
    }
    let (tile_w, tile_h) = (shape[2] as u32 * scale, shape[1] as u32 * scale);
    let cell_w = tile_w.max(MIN_CELL_W) + 2 * PAD;
    let cell_h = tile_h + 2 * PAD + 2 * LINE_H;
    let cols = cols.min(n);
    let rows = n.div_ceil(cols);
    let origin = |i: usize| ((i % cols) as u32 * cell_w, (i / cols) as u32 * cell_h);

    let mut canvas = blank(cols as u32 * cell_w, rows as u32 * cell_h);
    for (i, img) in images.iter().enumerate() {
        let (x, y) = origin(i);
        let x = x + (cell_w - tile_w) / 2;
        image::imageops::replace(&mut canvas, &tile(img, shape, scale), x as i64, (y + PAD) as i64);
    }
    render(path, canvas, |root| {
        let center = Pos::new(HPos::Center, VPos::Center);
        for i in 0..n {
            let (x, y) = origin(i);
            let correct = truth[i] == predicted[i];
            if !correct {
                let x = (x + (cell_w - tile_w) / 2) as i32;
                let y = (y + PAD) as i32;
                for d in 1..=2 {
                    root.draw(&Rectangle::new(
                        [(x - d, y - d), (x + tile_w as i32 + d - 1, y + tile_h as i32 + d - 1)],
                        WRONG,
                    ))
                    .drawn()?;
                }
            }
            let mid_x = (x + cell_w / 2) as i32;
            let line_y = |k: u32| (y + tile_h + 2 * PAD + k * LINE_H + LINE_H / 2) as i32;
            let (text, size) = fit_text(&format!("true: {}", truth[i]), cell_w - 4, 12.0, 8.0);
            root.draw(&Text::new(text, (mid_x, line_y(0)), text_style(size, &BLACK, center))).drawn()?;
            let p = if prob[i].is_finite() { format!(" {:.0}%", prob[i] * 100.0) } else { String::new() };
            let line = format!("pred: {}{p}", predicted[i]);
            let (text, size) = fit_text(&line, cell_w - 4, 12.0, 8.0);
            let ink = if correct { RIGHT } else { WRONG };
            root.draw(&Text::new(text, (mid_x, line_y(1)), text_style(size, &ink, center))).drawn()?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::plot::testing::{assert_shows_tile, check_png, count, out, require_font, rgb};

    #[test]
    fn right_and_wrong_predictions() {
        if !require_font() {
            return;
        }
        let images: Vec<Vec<f32>> =
            (0..5).map(|k| (0..3 * 16 * 16).map(|i| ((i + k * 31) % 23) as f32).collect()).collect();
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let truth = s(&["cat", "dog", "ship", "truck", "frog"]);
        let predicted = s(&["cat", "cat", "ship", "automobile", "frog"]);
        let prob = vec![0.91, 0.55, 0.99, 0.42, 0.73];
        let path = out("predictions");
        let mut p = Predictions { images, shape: [3, 16, 16], truth, predicted, prob };
        prediction_grid(&path, &p, 3, 3).unwrap();
        // 3 columns of max(48, 100) + 8, 2 rows of 48 + 8 + 32
        let img = check_png(&path, (3 * 108, 2 * 88));
        for i in 0..5u32 {
            let (x, y) = ((i % 3) * 108, (i / 3) * 88);
            // The image centred in its cell, its caption below in green (right) or red (wrong),
            // and a red frame around the two mistakes only.
            assert_shows_tile(&img, (x + (108 - 48) / 2, y + PAD), &p.images[i as usize], [3, 16, 16], 3);
            let wrong = [1, 3].contains(&i);
            // Text is antialiased: count the caption's greenish and reddish pixels.
            let caption = |hue: fn(i32, i32, i32) -> bool| {
                let px = (x..x + 108).flat_map(|x| (y + 56..y + 88).map(move |y| (x, y)));
                px.filter(|&(x, y)| {
                    let [r, g, b] = img.get_pixel(x, y).0.map(i32::from);
                    hue(r, g, b)
                })
                .count()
            };
            let (green, red) =
                (caption(|r, g, b| g > r + 40 && g > b + 40), caption(|r, g, b| r > g + 80 && r > b + 80));
            let (ink, none) = if wrong { (red, green) } else { (green, red) };
            assert!(ink > 20 && none == 0, "image {i}'s caption: {green} green pixels, {red} red");
            let frame = count(&img, rgb(WRONG), x..x + 108, y..y + 56);
            // Two one-pixel rectangles, 50 and 52 pixels a side.
            assert_eq!(frame, if wrong { (4 * 50 - 4) + (4 * 52 - 4) } else { 0 }, "image {i}'s frame");
        }
        p.prob.truncate(2);
        assert!(prediction_grid(&path, &p, 3, 3).is_err());
    }
}

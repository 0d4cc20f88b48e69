//! A confusion matrix as a heatmap with the count in each cell.

use super::{blank, fit_text, render, text_style, text_width, Drawn};
use crate::{Error, Result};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontTransform;
use std::path::Path;

/// Widest class name drawn, in pixels; longer names are shortened with "…".
const MAX_LABEL_W: u32 = 110;
const LABEL_SIZE: f64 = 13.0;

/// Draws `counts` (`counts[true][predicted]`, one row and one column per entry of `classes`) as a
/// heatmap with the count written in each cell, true classes down the left and predicted classes
/// along the bottom (written downwards), and `title` on top.
///
/// A cell's shade is its share of the row (the fraction of that true class predicted as the
/// column), so rare and common classes read alike; the diagonal is the per-class recall.
pub fn confusion_heatmap(path: &Path, counts: &[Vec<usize>], classes: &[String], title: &str) -> Result<()> {
    let n = classes.len();
    if n == 0 {
        return Err(Error::invalid("classes", "nothing to draw: no classes"));
    }
    if counts.len() != n || counts.iter().any(|row| row.len() != n) {
        let shape: Vec<usize> = counts.iter().map(Vec::len).collect();
        return Err(Error::invalid(
            "counts",
            format!("need {n} rows of {n} counts for {n} classes, got rows of lengths {shape:?}"),
        ));
    }
    super::ensure_font()?;
    let cell: u32 = match n {
        0..=10 => 52,
        11..=20 => 34,
        _ => (700 / n as u32).max(12),
    };
    let count_size = (cell as f64 * 0.3).clamp(7.0, 15.0);
    let names: Vec<String> = classes.iter().map(|c| fit_text(c, MAX_LABEL_W, LABEL_SIZE, LABEL_SIZE).0).collect();
    let label_w = names.iter().map(|c| text_width(c, LABEL_SIZE)).max().unwrap_or(0);
    let side = n as u32 * cell;
    let left = 30 + label_w + 8;
    let top = 44;
    let bottom = 8 + label_w + 30;
    let width = (left + side + 24).max(text_width(title, 18.0) + 24);
    let height = top + side + bottom;

    render(path, blank(width, height), |root| {
        let center = Pos::new(HPos::Center, VPos::Center);
        root.draw(&Text::new(title, ((left + side / 2) as i32, 20), text_style(18.0, &BLACK, center))).drawn()?;
        for (r, row) in counts.iter().enumerate() {
            let total: usize = row.iter().sum();
            for (c, &count) in row.iter().enumerate() {
                let share = if total > 0 { count as f64 / total as f64 } else { 0.0 };
                let x = (left + c as u32 * cell) as i32;
                let y = (top + r as u32 * cell) as i32;
                let rect = [(x, y), (x + cell as i32, y + cell as i32)];
                root.draw(&Rectangle::new(rect, shade(share).filled())).drawn()?;
                root.draw(&Rectangle::new(rect, BLACK.mix(0.15))).drawn()?;
                let ink = if share > 0.5 { WHITE } else { BLACK };
                let mid = (x + cell as i32 / 2, y + cell as i32 / 2);
                let (text, size) = fit_text(&count.to_string(), cell - 2, count_size, 6.0);
                root.draw(&Text::new(text, mid, text_style(size, &ink, center))).drawn()?;
            }
        }
        root.draw(&Rectangle::new([(left as i32, top as i32), ((left + side) as i32, (top + side) as i32)], BLACK))
            .drawn()?;
        let right_mid = Pos::new(HPos::Right, VPos::Center);
        let left_mid = Pos::new(HPos::Left, VPos::Center);
        for (i, name) in names.iter().enumerate() {
            let mid = (i as u32 * cell + cell / 2) as i32;
            let row = text_style(LABEL_SIZE, &BLACK, right_mid);
            root.draw(&Text::new(name.as_str(), (left as i32 - 6, top as i32 + mid), row)).drawn()?;
            let col = text_style(LABEL_SIZE, &BLACK, left_mid).transform(FontTransform::Rotate90);
            root.draw(&Text::new(name.as_str(), (left as i32 + mid, (top + side) as i32 + 6), col)).drawn()?;
        }
        let axis = text_style(15.0, &BLACK, center);
        root.draw(&Text::new("predicted class", ((left + side / 2) as i32, (height - 16) as i32), axis.clone()))
            .drawn()?;
        root.draw(&Text::new("true class", (14, (top + side / 2) as i32), axis.transform(FontTransform::Rotate270)))
            .drawn()?;
        Ok(())
    })
}

/// White at 0 through to dark blue at 1 (the ends of matplotlib's "Blues").
fn shade(share: f64) -> RGBColor {
    let t = share.clamp(0.0, 1.0);
    let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(mix(247.0, 8.0), mix(251.0, 48.0), mix(255.0, 107.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::plot::testing::{check_png, count, out, require_font, rgb};
    use crate::app::plot::text_width;

    #[test]
    fn ten_class_heatmap() {
        if !require_font() {
            return;
        }
        let classes: Vec<String> =
            ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let counts: Vec<Vec<usize>> = (0..10)
            .map(|r| (0..10).map(|c| if r == c { 800 + 10 * r } else { (r * 7 + c * 3) % 40 }).collect())
            .collect();
        let path = out("confusion");
        let title = "CIFAR-10 test, linear softmax";
        confusion_heatmap(&path, &counts, &classes, title).unwrap();
        // Ten cells of 52 pixels, the class names' width on the left and at the bottom.
        let label_w = classes.iter().map(|c| text_width(c, LABEL_SIZE)).max().unwrap();
        let (left, top) = (30 + label_w + 8, 44);
        let size = ((left + 520 + 24).max(text_width(title, 18.0) + 24), top + 520 + 8 + label_w + 30);
        let img = check_png(&path, size);
        // Each cell filled with the shade of its share of the row: the diagonal dark, the rest pale.
        for (r, row) in counts.iter().enumerate() {
            let total: usize = row.iter().sum();
            for (c, &k) in row.iter().enumerate() {
                let (x, y) = (left + c as u32 * 52, top + r as u32 * 52);
                let n = count(&img, rgb(shade(k as f64 / total as f64)), x..x + 52, y..y + 52);
                assert!(n > 52 * 52 / 2, "cell ({r}, {c}): {n} pixels of its shade");
            }
        }
    }

    #[test]
    fn wrong_shape_is_rejected() {
        let classes = vec!["a".to_string(), "b".to_string()];
        let err = confusion_heatmap(&out("bad_confusion"), &[vec![1, 2]], &classes, "t");
        assert!(err.unwrap_err().to_string().contains("2 rows"));
    }
}

//! Decision boundaries of 2-D classifiers: each grid cell coloured by its predicted class, the
//! training points on top.

use super::{blank, class_color, lighten, render, tick, Area, Drawn, FAMILY};
use crate::{Error, Result};
use plotters::prelude::*;
use std::path::Path;

/// A regular grid over a 2-D input space, and the class predicted in each of its cells.
///
/// Cells are in row-major order, row 0 at the bottom: cell `r * resolution + c` is centred at
/// `x = x_range.0 + (c + ½)·dx`, `y = y_range.0 + (r + ½)·dy`, with `dx`, `dy` the cell sizes.
///
/// ```
/// use kindling::app::plot::Grid;
/// let points = [(0.0, 0.0), (1.0, 2.0)];
/// let mut grid = Grid::new(&points, 50, 0.5);
/// // Predict each cell centre with the model; here: left half class 0, right half class 1.
/// grid.classes = grid.coords().iter().map(|&(x, _)| (x > 0.5) as u32).collect();
/// assert_eq!(grid.classes.len(), 50 * 50);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Left and right edges of the grid.
    pub x_range: (f32, f32),
    /// Bottom and top edges of the grid.
    pub y_range: (f32, f32),
    /// Cells along each axis.
    pub resolution: usize,
    /// Predicted class of each cell, row-major (see [`Grid::coords`]); empty until filled in.
    pub classes: Vec<u32>,
}

impl Grid {
    /// The bounding box of `points` widened by `margin` on every side, cut into
    /// `resolution × resolution` cells (at least 1). Without points the box is `[-1, 1]²` plus the
    /// margin; an axis on which all points agree is widened to at least one unit.
    pub fn new(points: &[(f32, f32)], resolution: usize, margin: f32) -> Self {
        let finite = points.iter().filter(|(x, y)| x.is_finite() && y.is_finite());
        let (mut x0, mut x1, mut y0, mut y1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for &(x, y) in finite {
            (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
        }
        if x0 > x1 {
            (x0, x1, y0, y1) = (-1.0, 1.0, -1.0, 1.0);
        }
        let margin = if margin.is_finite() { margin.abs() } else { 0.0 };
        let widen = |lo: f32, hi: f32| {
            let (lo, hi) = (lo - margin, hi + margin);
            if hi - lo < 1.0 {
                let mid = (lo + hi) / 2.0;
                (mid - 0.5, mid + 0.5)
            } else {
                (lo, hi)
            }
        };
        Grid { x_range: widen(x0, x1), y_range: widen(y0, y1), resolution: resolution.max(1), classes: Vec::new() }
    }

    /// The centre of every cell, row-major with row 0 at the bottom: the inputs to classify so
    /// that the predictions can be stored in [`Grid::classes`] in the same order.
    pub fn coords(&self) -> Vec<(f32, f32)> {
        let n = self.resolution;
        let (dx, dy) = self.cell_size();
        (0..n * n)
            .map(|i| {
                let (r, c) = (i / n, i % n);
                (self.x_range.0 + (c as f32 + 0.5) * dx, self.y_range.0 + (r as f32 + 0.5) * dy)
            })
            .collect()
    }

    fn cell_size(&self) -> (f32, f32) {
        let n = self.resolution.max(1) as f32;
        ((self.x_range.1 - self.x_range.0) / n, (self.y_range.1 - self.y_range.0) / n)
    }

    fn check(&self) -> Result<()> {
        let ok = |(lo, hi): (f32, f32)| lo.is_finite() && hi.is_finite() && lo < hi;
        if !ok(self.x_range) || !ok(self.y_range) {
            return Err(Error::invalid(
                "grid",
                format!(
                    "ranges {:?} × {:?} must be finite and increasing: build it with Grid::new",
                    self.x_range, self.y_range
                ),
            ));
        }
        let cells = self.resolution * self.resolution;
        if self.resolution == 0 || self.classes.len() != cells {
            return Err(Error::invalid(
                "grid",
                format!(
                    "{} predicted classes for a {r}×{r} grid: predict one class per cell of \
                     Grid::coords() and store them in Grid::classes",
                    self.classes.len(),
                    r = self.resolution
                ),
            ));
        }
        Ok(())
    }
}

fn check_points(points: &[(f32, f32)], labels: &[u32]) -> Result<()> {
    if points.len() != labels.len() {
        return Err(Error::invalid(
            "labels",
            format!("{} labels for {} points: give one class per point", labels.len(), points.len()),
        ));
    }
    Ok(())
}

/// Draws the predicted class of every cell of `grid` as a light region and `points` on top in the
/// saturated colour of their class in `labels`, with axes, a legend and `title`; 640 × 560 pixels.
pub fn decision_boundary(path: &Path, grid: &Grid, points: &[(f32, f32)], labels: &[u32], title: &str) -> Result<()> {
    grid.check()?;
    check_points(points, labels)?;
    render(path, blank(640, 560), |root| draw_panel(root, grid, points, labels, title, false))
}

/// Draws one small decision-boundary panel per entry of `panels` (its title and grid), all over
/// the same `points`, `cols` panels to a row: e.g. hidden width × regularization strength.
/// Each panel is 280 × 280 pixels.
pub fn boundary_grid(
    path: &Path,
    panels: &[(String, Grid)],
    points: &[(f32, f32)],
    labels: &[u32],
    cols: usize,
) -> Result<()> {
    if panels.is_empty() {
        return Err(Error::invalid("panels", "nothing to draw: the list is empty"));
    }
    if cols == 0 {
        return Err(Error::invalid("cols", "must be at least 1"));
    }
    for (_, grid) in panels {
        grid.check()?;
    }
    check_points(points, labels)?;
    const SIDE: u32 = 280;
    let cols = cols.min(panels.len());
    let rows = panels.len().div_ceil(cols);
    render(path, blank(cols as u32 * SIDE, rows as u32 * SIDE), |root| {
        for (area, (title, grid)) in root.split_evenly((rows, cols)).iter().zip(panels) {
            draw_panel(area, grid, points, labels, title, true)?;
        }
        Ok(())
    })
}

fn draw_panel(area: &Area, grid: &Grid, points: &[(f32, f32)], labels: &[u32], title: &str, small: bool) -> Result<()> {
    let (title_size, label_size, radius) = if small { (14, 10, 3) } else { (20, 13, 5) };
    let (x0, x1) = grid.x_range;
    let (y0, y1) = grid.y_range;
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FAMILY, title_size))
        .margin(if small { 6 } else { 12 })
        .x_label_area_size(if small { 20 } else { 32 })
        .y_label_area_size(if small { 30 } else { 44 })
        .build_cartesian_2d(x0..x1, y0..y1)
        .drawn()?;

    let n = grid.resolution;
    let (dx, dy) = grid.cell_size();
    chart
        .draw_series(grid.classes.iter().enumerate().map(|(i, &k)| {
            let (r, c) = ((i / n) as f32, (i % n) as f32);
            let lo = (x0 + c * dx, y0 + r * dy);
            let hi = (x0 + (c + 1.0) * dx, y0 + (r + 1.0) * dy);
            Rectangle::new([lo, hi], lighten(class_color(k as usize), 0.6).filled())
        }))
        .drawn()?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(5)
        .y_labels(5)
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .label_style((FAMILY, label_size))
        .draw()
        .drawn()?;

    let inside = |&(x, y): &(f32, f32)| x >= x0 && x <= x1 && y >= y0 && y <= y1;
    let mut classes: Vec<u32> = labels.to_vec();
    classes.sort_unstable();
    classes.dedup();
    for k in classes {
        let color = class_color(k as usize);
        let series = chart
            .draw_series(points.iter().zip(labels).filter(|(p, &l)| l == k && inside(p)).map(|(&p, _)| {
                EmptyElement::at(p)
                    + Circle::new((0, 0), radius, color.filled())
                    + Circle::new((0, 0), radius, BLACK.stroke_width(1))
            }))
            .drawn()?;
        if !small {
            series.label(format!("class {k}")).legend(move |(x, y)| Circle::new((x + 8, y), radius, color.filled()));
        }
    }
    if !small && !labels.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FAMILY, label_size))
            .draw()
            .drawn()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::plot::testing::{check_png, count, count_all, out, require_font, rgb};
    use crate::app::plot::{class_color, lighten};

    fn spiral() -> (Vec<(f32, f32)>, Vec<u32>) {
        (0..60)
            .map(|i| {
                let k = (i % 3) as u32;
                let t = (i / 3) as f32 / 20.0;
                let a = t * 4.0 + k as f32 * 2.1;
                ((t * a.cos(), t * a.sin()), k)
            })
            .unzip()
    }

    fn predict(grid: &Grid) -> Vec<u32> {
        grid.coords().iter().map(|&(x, y)| ((y.atan2(x) + std::f32::consts::PI) / 2.1) as u32 % 3).collect()
    }

    #[test]
    fn grid_covers_points_in_row_major_order() {
        let grid = Grid::new(&[(0.0, 0.0), (2.0, 4.0)], 4, 0.5);
        assert_eq!(grid.x_range, (-0.5, 2.5));
        assert_eq!(grid.y_range, (-0.5, 4.5));
        let c = grid.coords();
        assert_eq!(c.len(), 16);
        assert_eq!(c[0], (-0.125, 0.125));
        assert_eq!(c[1], (0.625, 0.125));
        assert_eq!(c[4], (-0.125, 1.375));
        let flat = Grid::new(&[(1.0, 1.0)], 0, 0.0);
        assert_eq!((flat.x_range, flat.resolution), ((0.5, 1.5), 1));
    }

    #[test]
    fn boundary_with_points() {
        if !require_font() {
            return;
        }
        let (points, labels) = spiral();
        let mut grid = Grid::new(&points, 60, 0.2);
        grid.classes = predict(&grid);
        let path = out("boundary");
        decision_boundary(&path, &grid, &points, &labels, "softmax, 3 classes").unwrap();
        let img = check_png(&path, (640, 560));
        // Three sectors of about a third of the plane each, filled with their class's light colour
        // (the plot area is most of the picture); the points in their full colour.
        let total = (640 * 560) as f64;
        for k in 0..3 {
            let region = count_all(&img, rgb(lighten(class_color(k), 0.6))) as f64 / total;
            assert!((0.12..0.34).contains(&region), "class {k}'s region covers {region:.3} of the picture");
            assert!(count_all(&img, rgb(class_color(k))) > 20 * 20, "class {k}'s points");
        }
    }

    #[test]
    fn panels_of_boundaries() {
        if !require_font() {
            return;
        }
        let (points, labels) = spiral();
        let panels: Vec<(String, Grid)> = [10, 100, 1000]
            .iter()
            .map(|h| {
                let mut grid = Grid::new(&points, 30, 0.2);
                grid.classes = predict(&grid);
                (format!("hidden {h}, λ=0.001"), grid)
            })
            .collect();
        let path = out("boundary_grid");
        boundary_grid(&path, &panels, &points, &labels, 2).unwrap();
        let img = check_png(&path, (2 * 280, 2 * 280));
        // Three panels, each with the three regions; the fourth place stays empty.
        for (panel, (x, y)) in [(0, 0), (280, 0), (0, 280), (280, 280)].into_iter().enumerate() {
            for k in 0..3 {
                let n = count(&img, rgb(lighten(class_color(k), 0.6)), x..x + 280, y..y + 280);
                if panel < 3 {
                    assert!(n > 280 * 280 / 10, "panel {panel}, class {k}: {n} pixels");
                } else {
                    assert_eq!(n, 0, "the fourth place is empty");
                }
            }
        }
    }

    #[test]
    fn unfilled_grid_is_rejected() {
        let grid = Grid::new(&[(0.0, 0.0)], 10, 1.0);
        let err = decision_boundary(&out("unfilled"), &grid, &[], &[], "x").unwrap_err();
        assert!(err.to_string().contains("Grid::coords"), "{err}");
    }
}

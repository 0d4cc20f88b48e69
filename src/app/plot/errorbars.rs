//! A mean line with error bars and the individual measurements as dots: kNN accuracy against k
//! under cross-validation.

use super::{blank, class_color, house_mesh, lighten, nice_ticks, render, tick, Drawn, Ticked, FAMILY};
use crate::{Error, Result};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::path::Path;

/// Draws `points` (`x`, mean, standard deviation) as a line through the means with a bar of
/// ± one standard deviation at each, and `scatter` (`x`, value; e.g. each fold's accuracy) as
/// dots behind them, with `title`, axis labels and a legend; 800 × 520 pixels.
///
/// Points and dots with a non-finite coordinate are left out (a non-finite std draws no bar).
pub fn errorbar_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    points: &[(f64, f64, f64)],
    scatter: &[(f64, f64)],
) -> Result<()> {
    let mut points: Vec<(f64, f64, f64)> = points
        .iter()
        .copied()
        .filter(|&(x, m, _)| x.is_finite() && m.is_finite())
        .map(|(x, m, s)| (x, m, if s.is_finite() { s.abs() } else { 0.0 }))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let scatter: Vec<(f64, f64)> = scatter.iter().copied().filter(|&(x, y)| x.is_finite() && y.is_finite()).collect();
    if points.is_empty() {
        return Err(Error::invalid("points", "no finite (x, mean) to draw: give at least one"));
    }

    let xs = points.iter().map(|p| p.0).chain(scatter.iter().map(|p| p.0));
    let ys = points.iter().flat_map(|&(_, m, s)| [m - s, m + s]).chain(scatter.iter().map(|p| p.1));
    let (x0, x1) = bounds(xs, 0.05);
    let (y0, y1) = bounds(ys, 0.08);
    // Caps a fixed share of the x range wide, so they look alike whatever the units.
    let cap = (x1 - x0) * 0.008;
    let integer_x = points.iter().all(|p| p.0.fract() == 0.0);

    render(path, blank(800, 520), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FAMILY, 20))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(64)
            .build_cartesian_2d(
                Ticked::<RangedCoordf64>::new(x0..x1, nice_ticks(x0, x1, integer_x)),
                Ticked::<RangedCoordf64>::new(y0..y1, nice_ticks(y0, y1, false)),
            )
            .drawn()?;
        house_mesh(
            chart.configure_mesh().x_desc(x_label).y_desc(y_label).x_label_formatter(&tick).y_label_formatter(&tick),
        )
        .draw()
        .drawn()?;

        let line = class_color(0);
        let dots = lighten(class_color(1), 0.2);
        if !scatter.is_empty() {
            chart
                .draw_series(scatter.iter().map(|&p| Circle::new(p, 3, dots.mix(0.7).filled())))
                .drawn()?
                .label("each fold")
                .legend(move |(x, y)| Circle::new((x + 10, y), 3, dots.filled()));
        }
        let bar = line.stroke_width(1);
        chart
            .draw_series(points.iter().map(|&(x, m, s)| {
                PathElement::new(
                    vec![
                        (x - cap, m + s),
                        (x + cap, m + s),
                        (x, m + s),
                        (x, m - s),
                        (x - cap, m - s),
                        (x + cap, m - s),
                    ],
                    bar,
                )
            }))
            .drawn()?;
        chart
            .draw_series(LineSeries::new(points.iter().map(|&(x, m, _)| (x, m)), line.stroke_width(2)))
            .drawn()?
            .label("mean ± std")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], line.stroke_width(2)));
        chart.draw_series(points.iter().map(|&(x, m, _)| Circle::new((x, m), 4, line.filled()))).drawn()?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font((FAMILY, 14))
            .draw()
            .drawn()?;
        Ok(())
    })
}

/// The smallest and largest value, widened by `pad` of their distance (half a unit when equal).
fn bounds(values: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let d = if hi > lo { (hi - lo) * pad } else { 0.5 };
    (lo - d, hi + d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::plot::testing::{check_png, mean_row, out, require_font, rgb};
    use crate::app::plot::{class_color, lighten};

    #[test]
    fn knn_cross_validation() {
        if !require_font() {
            return;
        }
        let ks: [f64; 10] = [1.0, 3.0, 5.0, 8.0, 10.0, 12.0, 15.0, 20.0, 50.0, 100.0];
        let mut points = Vec::new();
        let mut folds = Vec::new();
        for &k in &ks {
            let accs: Vec<f64> = (0..5).map(|f| 0.27 + 0.01 * k.ln() + 0.005 * f as f64).collect();
            let mean = accs.iter().sum::<f64>() / 5.0;
            let var = accs.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / 5.0;
            points.push((k, mean, var.sqrt()));
            folds.extend(accs.iter().map(|&a| (k, a)));
        }
        let path = out("knn_cv");
        errorbar_plot(&path, "5-fold cross-validation", "k", "accuracy", &points, &folds).unwrap();
        let img = check_png(&path, (800, 520));
        // The mean rises with k: the line is lower (larger rows) on the left than on the right.
        let line = rgb(class_color(0));
        let (left, right) = (mean_row(&img, line, 80..250).unwrap(), mean_row(&img, line, 450..600).unwrap());
        assert!(left > right + 20.0, "mean line at row {left:.0} on the left, {right:.0} on the right");
        // The folds' dots, drawn at 70% over white.
        let dot = lighten(lighten(class_color(1), 0.2), 0.3);
        assert!(
            img.pixels().filter(|p| p.0.iter().zip([dot.0, dot.1, dot.2]).all(|(a, b)| a.abs_diff(b) <= 2)).count()
                > 100
        );
        assert!(errorbar_plot(&path, "t", "x", "y", &[], &folds).is_err());
    }
}

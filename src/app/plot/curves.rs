//! Line plots: training curves and optimizer comparisons.

use super::{blank, class_color, house_mesh, log_ticks, nice_ticks, render, tick, Area, Drawn, Ticked, FAMILY};
use crate::train::EpochRecord;
use crate::{Error, Result};
use plotters::coord::combinators::LogCoord;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::ops::Range;
use std::path::Path;

/// Series drawn with a marker on every point when they have at most this many points.
const MARKERS_UP_TO: usize = 40;

/// Draws each of `series` (a name for the legend and its `(x, y)` points) as a line, with
/// `title`, axis labels and a legend; 800 × 520 pixels. With `log_y` the y axis is logarithmic.
///
/// Points with a non-finite coordinate (a diverged loss), or with `y ≤ 0` on a log axis, are left
/// out. Used for loss and accuracy per epoch, and for loss against step of several optimizers.
pub fn line_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
    log_y: bool,
) -> Result<()> {
    let series = clean(series, log_y)?;
    render(path, blank(800, 520), |root| {
        let axes = Axes { title, x_label, y_label, log_y, y_bounds: None, legend: SeriesLabelPosition::UpperRight };
        draw_lines(root, &axes, &series)
    })
}

/// Draws a training history as two panels side by side: the training loss per epoch, and the
/// training and (where recorded) validation accuracy per epoch; 1100 × 450 pixels.
pub fn training_curves(path: &Path, history: &[EpochRecord]) -> Result<()> {
    if history.is_empty() {
        return Err(Error::invalid("history", "no epochs to draw: train for at least one epoch"));
    }
    let epoch = |r: &EpochRecord| r.epoch as f64;
    let loss = vec![("train".to_string(), history.iter().map(|r| (epoch(r), r.train_loss)).collect())];
    let mut acc = vec![("train".to_string(), history.iter().map(|r| (epoch(r), r.train_acc)).collect::<Vec<_>>())];
    let val: Vec<_> = history.iter().filter_map(|r| r.val_acc.map(|a| (epoch(r), a))).collect();
    if !val.is_empty() {
        acc.push(("validation".to_string(), val));
    }
    let loss = clean(&loss, false)?;
    let acc = clean(&acc, false)?;
    render(path, blank(1100, 450), |root| {
        let (left, right) = root.split_horizontally(550);
        let loss_axes = Axes {
            title: "loss",
            x_label: "epoch",
            y_label: "loss",
            log_y: false,
            y_bounds: None,
            legend: SeriesLabelPosition::UpperRight,
        };
        draw_lines(&left, &loss_axes, &loss)?;
        let acc_axes = Axes {
            title: "accuracy",
            x_label: "epoch",
            y_label: "accuracy",
            log_y: false,
            y_bounds: Some((0.0, 1.0)),
            legend: SeriesLabelPosition::LowerRight,
        };
        draw_lines(&right, &acc_axes, &acc)
    })
}

/// Titles and axis settings of one panel.
pub(crate) struct Axes<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub log_y: bool,
    /// Limits the y range to these bounds (accuracies stay within 0..=1).
    pub y_bounds: Option<(f64, f64)>,
    pub legend: SeriesLabelPosition,
}

type Series = (String, Vec<(f64, f64)>);

/// Drops points that cannot be drawn and fails when none is left.
fn clean(series: &[Series], log_y: bool) -> Result<Vec<Series>> {
    let kept: Vec<Series> = series
        .iter()
        .map(|(name, pts)| {
            let pts =
                pts.iter().copied().filter(|&(x, y)| x.is_finite() && y.is_finite() && (!log_y || y > 0.0)).collect();
            (name.clone(), pts)
        })
        .collect();
    if kept.iter().all(|(_, p)| p.is_empty()) {
        let what = if log_y { "finite, positive" } else { "finite" };
        return Err(Error::invalid("series", format!("no {what} point to draw in {} series", series.len())));
    }
    Ok(kept)
}

/// `lo..hi` widened by `pad` of its length on each side; a single value gets a unit range.
fn padded(lo: f64, hi: f64, pad: f64) -> Range<f64> {
    if hi > lo {
        let d = (hi - lo) * pad;
        (lo - d)..(hi + d)
    } else {
        (lo - 0.5)..(hi + 0.5)
    }
}

/// Draws `series` (all points finite, at least one) into `area`.
pub(crate) fn draw_lines(area: &Area, axes: &Axes, series: &[Series]) -> Result<()> {
    let all = || series.iter().flat_map(|(_, p)| p.iter());
    let fold = |f: fn(&(f64, f64)) -> f64| {
        all().map(f).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
    };
    let (x0, x1) = fold(|p| p.0);
    let (y0, y1) = fold(|p| p.1);
    let x = if x1 > x0 { x0..x1 } else { padded(x0, x1, 0.0) };
    let integer_x = all().all(|p| p.0.fract() == 0.0);
    let x = Ticked::<RangedCoordf64>::new(x.clone(), nice_ticks(x.start, x.end, integer_x));
    if axes.log_y {
        let y = if y1 > y0 { (y0 / 1.1)..(y1 * 1.1) } else { (y0 / 2.0)..(y1 * 2.0) };
        let ticks = log_ticks(y.start, y.end);
        draw_lines_on(area, axes, series, x, Ticked::<LogCoord<f64>>::new(y.log_scale(), ticks))
    } else {
        let mut y = padded(y0, y1, 0.05);
        if let Some((lo, hi)) = axes.y_bounds {
            y = y.start.max(lo)..y.end.min(hi);
            if y.end <= y.start {
                y = lo..hi;
            }
        }
        let ticks = nice_ticks(y.start, y.end, false);
        draw_lines_on(area, axes, series, x, Ticked::<RangedCoordf64>::new(y, ticks))
    }
}

fn draw_lines_on<X, Y>(area: &Area, axes: &Axes, series: &[Series], x: X, y: Y) -> Result<()>
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let y_desc = if axes.log_y { format!("{} (log scale)", axes.y_label) } else { axes.y_label.to_string() };
    let mut chart = ChartBuilder::on(area)
        .caption(axes.title, (FAMILY, 20))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(64)
        .build_cartesian_2d(x, y)
        .drawn()?;
    house_mesh(
        chart.configure_mesh().x_desc(axes.x_label).y_desc(y_desc).x_label_formatter(&tick).y_label_formatter(&tick),
    )
    .draw()
    .drawn()?;
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = class_color(i);
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
            .drawn()?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        if pts.len() <= MARKERS_UP_TO {
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled()))).drawn()?;
        }
    }
    chart
        .configure_series_labels()
        .position(axes.legend.clone())
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font((FAMILY, 14))
        .draw()
        .drawn()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::plot::testing::{check_png, count, count_all, mean_row, out, require_font, rgb};

    fn record(epoch: usize, val: Option<f64>) -> EpochRecord {
        EpochRecord {
            epoch,
            train_loss: 2.3 / epoch as f64,
            train_acc: 1.0 - 0.8 / epoch as f64,
            val_acc: val,
            lr: 0.1,
            seconds: 1.0,
            images_per_s: 1000.0,
            step_losses: Vec::new(),
        }
    }

    #[test]
    fn optimizer_comparison_on_log_axis() {
        if !require_font() {
            return;
        }
        let names = ["SGD", "momentum", "Nesterov", "RMSProp", "Adam"];
        let series: Vec<Series> = names
            .iter()
            .enumerate()
            .map(|(k, n)| {
                let pts = (0..100).map(|s| (s as f64, 2.3 * (-(s as f64) * 0.01 * (k + 1) as f64).exp())).collect();
                (n.to_string(), pts)
            })
            .collect();
        let path = out("optimizers");
        line_plot(&path, "loss on a toy problem", "step", "loss", &series, true).unwrap();
        let img = check_png(&path, (800, 520));
        // Each curve falls from the top left, and the faster ones lie lower: in the right half of
        // the plot the five colours come in order, slowest (SGD) on top.
        let rows: Vec<f64> = (0..5)
            .map(|k| {
                let c = rgb(class_color(k));
                let (start, end) = (mean_row(&img, c, 100..150).unwrap(), mean_row(&img, c, 450..550).unwrap());
                assert!(end > start + 20.0, "{}: row {start:.0} at the start, {end:.0} later", names[k]);
                end
            })
            .collect();
        assert!(rows.windows(2).all(|w| w[1] > w[0] + 10.0), "rows in the right half: {rows:?}");
    }

    #[test]
    fn nan_and_single_points_still_draw() {
        if !require_font() {
            return;
        }
        let series = vec![("run".to_string(), vec![(1.0, 0.5), (2.0, f64::NAN)])];
        let path = out("single_point");
        line_plot(&path, "one point", "epoch", "loss", &series, false).unwrap();
        let img = check_png(&path, (800, 520));
        // The one point's marker (a disc of radius 3) in the middle of the plot, and the legend's line.
        let c = rgb(class_color(0));
        assert!(count(&img, c, 300..500, 150..400) >= 20, "the point's marker");
        assert!(count_all(&img, c) >= 20 + 2 * 20, "marker and legend line");
        let empty = vec![("run".to_string(), vec![(1.0, -1.0)])];
        assert!(line_plot(&path, "t", "x", "y", &empty, true).is_err());
    }

    #[test]
    fn history_in_two_panels() {
        if !require_font() {
            return;
        }
        let history: Vec<_> = (1..=8).map(|e| record(e, (e % 2 == 0).then_some(0.5 + 0.04 * e as f64))).collect();
        let path = out("history");
        training_curves(&path, &history).unwrap();
        let img = check_png(&path, (1100, 450));
        // Loss on the left (training only), accuracy on the right (training and validation).
        let (train, val) = (rgb(class_color(0)), rgb(class_color(1)));
        assert!(count(&img, train, 0..550, 0..450) > 300 && count(&img, train, 550..1100, 0..450) > 300);
        assert_eq!(count(&img, val, 0..550, 0..450), 0, "no validation loss is recorded");
        assert!(count(&img, val, 550..1100, 0..450) > 100);
        // The loss falls: its curve is higher on the left of its panel than on the right.
        let (l, r) = (mean_row(&img, train, 80..200).unwrap(), mean_row(&img, train, 350..480).unwrap());
        assert!(r > l + 50.0, "loss curve at row {l:.0}, then {r:.0}");
        assert!(training_curves(&path, &[]).is_err());
    }
}

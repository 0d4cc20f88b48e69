//! A hyper-parameter search as the course draws it: validation accuracy over the search space,
//! one dot per trial coloured by its accuracy (two axes), or accuracy against one axis.

use super::{blank, house_mesh, nice_ticks, render, tick, Drawn, Ticked, FAMILY};
use crate::{Error, Result};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::path::Path;

/// One searched axis of the picture: its name and whether its values are drawn on a log scale.
#[derive(Debug, Clone, Copy)]
pub struct SearchAxis<'a> {
    /// The flag, e.g. `lr`.
    pub name: &'a str,
    /// Log scale (log-uniform ranges).
    pub log: bool,
}

/// Draws trials (`values[i]` along `x` and, when given, `y`; `acc[i]` their validation accuracy,
/// `None` for a diverged trial, drawn as a grey cross) to `path`, 800 × 585 pixels. With two axes
/// each dot's colour runs from dark blue (the worst accuracy) to yellow (the best), the best
/// trial ringed in black and those its validation images do not tell apart from it (`tied[i]`)
/// in grey; with one axis, accuracy is the y axis.
pub fn search_plot(
    path: &Path,
    title: &str,
    axes: (SearchAxis, Option<SearchAxis>),
    values: &[(f64, f64)],
    acc: &[Option<f64>],
    tied: &[bool],
) -> Result<()> {
    if values.len() != acc.len() || values.len() != tied.len() || values.is_empty() {
        return Err(Error::invalid(
            "trials",
            format!("{} values for {} accuracies and {} ties", values.len(), acc.len(), tied.len()),
        ));
    }
    let (xa, ya) = axes;
    let to = |v: f64, log: bool| if log { v.max(f64::MIN_POSITIVE).log10() } else { v };
    let pts: Vec<(f64, f64, Option<f64>)> = values
        .iter()
        .zip(acc)
        .map(|(&(x, y), &a)| {
            let y = match ya {
                Some(ya) => to(y, ya.log),
                None => a.map_or(f64::NAN, |a| 100.0 * a),
            };
            (to(x, xa.log), y, a)
        })
        .collect();
    let span = |vals: Vec<f64>| {
        let (lo, hi) = vals
            .iter()
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
        if !lo.is_finite() {
            (0.0, 1.0)
        } else if hi > lo {
            let d = (hi - lo) * 0.06;
            (lo - d, hi + d)
        } else {
            (lo - 0.5, hi + 0.5)
        }
    };
    let (x0, x1) = span(pts.iter().map(|p| p.0).collect());
    let (y0, y1) = span(pts.iter().map(|p| p.1).collect());
    let log_ticks = |lo: f64, hi: f64, log: bool| {
        if log {
            let t: Vec<f64> = (lo.ceil() as i32..=hi.floor() as i32).map(f64::from).collect();
            if t.len() >= 2 {
                return t;
            }
        }
        nice_ticks(lo, hi, false)
    };
    let xt = log_ticks(x0, x1, xa.log);
    let yt = log_ticks(y0, y1, ya.is_some_and(|a| a.log));
    let label = |log: bool| move |v: &f64| if log { tick(&10f64.powf(*v)) } else { tick(v) };
    let desc = |a: SearchAxis| if a.log { format!("--{} (log scale)", a.name) } else { format!("--{}", a.name) };
    let (lo_acc, hi_acc) =
        acc.iter().flatten().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &a| (l.min(a), h.max(a)));
    let best =
        acc.iter().enumerate().filter_map(|(i, a)| a.map(|a| (i, a))).max_by(|a, b| a.1.total_cmp(&b.1)).map(|b| b.0);

    render(path, blank(800, 585), |root| {
        let (top, _) = root.split_vertically(560);
        let mut chart = ChartBuilder::on(&top)
            .caption(title, (FAMILY, 19))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(Ticked::<RangedCoordf64>::new(x0..x1, xt), Ticked::<RangedCoordf64>::new(y0..y1, yt))
            .drawn()?;
        house_mesh(
            chart
                .configure_mesh()
                .x_desc(desc(xa))
                .y_desc(ya.map_or("validation accuracy (%)".to_string(), desc))
                .x_label_formatter(&label(xa.log))
                .y_label_formatter(&label(ya.is_some_and(|a| a.log))),
        )
        .draw()
        .drawn()?;
        for (i, &(x, y, a)) in pts.iter().enumerate() {
            let y = if y.is_finite() { y } else { y0 + (y1 - y0) * 0.03 };
            match a {
                None => {
                    chart
                        .draw_series(std::iter::once(Cross::new((x, y), 5, RGBColor(150, 150, 150).stroke_width(2))))
                        .drawn()?;
                }
                Some(a) => {
                    let t = if hi_acc > lo_acc { (a - lo_acc) / (hi_acc - lo_acc) } else { 1.0 };
                    let color = if ya.is_some() { ramp(t) } else { RGBColor(31, 119, 180) };
                    chart.draw_series(std::iter::once(Circle::new((x, y), 6, color.filled()))).drawn()?;
                    if Some(i) == best {
                        chart.draw_series(std::iter::once(Circle::new((x, y), 10, BLACK.stroke_width(2)))).drawn()?;
                    } else if tied[i] {
                        let grey = RGBColor(120, 120, 120).stroke_width(2);
                        chart.draw_series(std::iter::once(Circle::new((x, y), 10, grey))).drawn()?;
                    }
                }
            }
        }
        if ya.is_some() && hi_acc.is_finite() {
            let style = (FAMILY, 13).into_font().color(&BLACK);
            let rings = if tied.iter().any(|&t| t) {
                "rings: best (black), within 2 s.e. of it (grey)"
            } else {
                "ringed: best"
            };
            let text = format!(
                "colour: validation accuracy, {:.1}% (dark) to {:.1}% (yellow); {rings}; x: diverged",
                100.0 * lo_acc,
                100.0 * hi_acc
            );
            root.draw(&Text::new(text, (90, 566), style)).drawn()?;
        }
        Ok(())
    })
}

/// Dark blue (0) through teal and green to yellow (1), like matplotlib's viridis.
fn ramp(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] =
        [(68., 1., 84.), (59., 82., 139.), (33., 145., 140.), (94., 201., 98.), (253., 231., 37.)];
    let t = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let (i, f) = ((t.floor() as usize).min(STOPS.len() - 2), t - t.floor().min((STOPS.len() - 2) as f64));
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::plot::testing::{centre, check_png, count_all, out, require_font, rgb};

    #[test]
    fn two_axes_and_one() {
        if !require_font() {
            return;
        }
        let values = [(1e-4, 1e-2), (1e-3, 1e-1), (1e-2, 1.0), (3e-2, 0.3)];
        let acc = [Some(0.31), Some(0.40), None, Some(0.38)];
        let lr = SearchAxis { name: "lr", log: true };
        let reg = SearchAxis { name: "reg", log: true };
        let path = out("search-2d");
        let tied = [false, false, false, true];
        search_plot(&path, "search", (lr, Some(reg)), &values, &acc, &tied).unwrap();
        let img = check_png(&path, (800, 585));
        // The worst trial dark, the best yellow, up and to the right of it (both axes grow); the
        // diverged one a grey cross.
        let (worst, best) = (centre(&img, rgb(ramp(0.0))).unwrap(), centre(&img, rgb(ramp(1.0))).unwrap());
        assert!(best.0 > worst.0 + 50.0 && best.1 < worst.1 - 50.0, "worst at {worst:?}, best at {best:?}");
        assert!(count_all(&img, rgb(ramp(0.0))) > 50 && count_all(&img, rgb(RGBColor(150, 150, 150))) > 10);
        assert!(count_all(&img, rgb(RGBColor(120, 120, 120))) > 30, "the tied trial's grey ring");
        let path = out("search-1d");
        search_plot(&path, "search", (lr, None), &values, &acc, &tied).unwrap();
        let img = check_png(&path, (800, 585));
        // One colour for every finished trial (three discs), no accuracy colours.
        assert!(count_all(&img, rgb(RGBColor(31, 119, 180))) > 3 * 50);
        assert_eq!(count_all(&img, rgb(ramp(1.0))), 0);
        assert!(search_plot(&path, "x", (lr, None), &values, &acc[..2], &tied[..2]).is_err());
        assert!(search_plot(&path, "x", (lr, None), &values, &acc, &tied[..2]).is_err());
    }

    #[test]
    fn ramp_runs_dark_to_yellow() {
        assert_eq!(ramp(0.0), RGBColor(68, 1, 84));
        assert_eq!(ramp(1.0), RGBColor(253, 231, 37));
    }
}

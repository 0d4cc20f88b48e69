//! Pictures as PNG files: learned templates and filters, decision boundaries, training curves,
//! confusion matrices, cross-validation error bars and prediction grids.
//!
//! Every function takes plain data (numbers, strings, images as `f32` in CHW order), not model
//! types, writes one PNG at `path` (creating its parent folders) and returns [`crate::Result`].
//! Pixels are composed with the `image` crate; lines, markers and text are drawn with `plotters`.
//!
//! # Font
//! Text is drawn with a TrueType font read at run time, the first of: the file named by the
//! `KINDLING_FONT` environment variable, DejaVu Sans where Linux distributions install it
//! (Debian and Ubuntu: `apt-get install fonts-dejavu-core`), then a few common system fonts.
//! Without one, every function here fails with an error that says what to install.
//!
//! ```no_run
//! use kindling::app::plot;
//! let history = [(1.0, 2.3), (2.0, 1.7), (3.0, 1.2)];
//! plot::line_plot(
//!     "runs/loss.png".as_ref(),
//!     "training loss",
//!     "epoch",
//!     "loss",
//!     &[("SGD".to_string(), history.to_vec())],
//!     false,
//! )?;
//! # Ok::<(), kindling::Error>(())
//! ```

mod boundary;
mod confusion;
mod curves;
mod errorbars;
mod predictions;
mod saliency;
mod search;
mod templates;

pub use boundary::{boundary_grid, decision_boundary, Grid};
pub use confusion::confusion_heatmap;
pub use curves::{line_plot, training_curves};
pub use errorbars::errorbar_plot;
pub use predictions::{prediction_grid, Predictions};
pub use saliency::{png_bytes, saliency_picture, save_picture};
pub use search::{search_plot, SearchAxis};
pub use templates::image_grid;

use crate::{Error, Result};
use image::{Rgb, RgbImage};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::Pos;
use plotters::style::{FontStyle, RGBColor};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The environment variable that names a TrueType font file to use instead of the system's.
pub const FONT_ENV: &str = "KINDLING_FONT";

/// Where the usual systems keep a sans-serif TrueType font, most likely first.
const FONT_CANDIDATES: &[&str] = &[
    // Debian, Ubuntu (fonts-dejavu-core)
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    // Arch, Alpine
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    // Fedora
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    // Debian's fonts-liberation, as a second choice
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// The font family name every text style in this module uses.
pub(crate) const FAMILY: &str = "sans-serif";

/// Space around each image in the image grids, in pixels.
pub(crate) const PAD: u32 = 4;

/// The drawing area over a whole picture.
pub(crate) type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// The font file pictures are drawn with: `$KINDLING_FONT`, else the first of the usual system
/// fonts (DejaVu Sans and others) that exists; an error that says what to install when none does.
/// Whether the file is a usable font is found when a picture is drawn.
pub fn font_file() -> Result<PathBuf> {
    font_path().map_err(|m| Error::Io(io::Error::new(io::ErrorKind::NotFound, m)))
}

/// Finds the font file: `$KINDLING_FONT`, else the first of [`FONT_CANDIDATES`] that exists.
fn font_path() -> std::result::Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(FONT_ENV).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("{FONT_ENV}={} is not a file: point it at a TrueType (.ttf) font", p.display()))
        };
    }
    FONT_CANDIDATES.iter().map(PathBuf::from).find(|p| p.is_file()).ok_or_else(|| {
        format!(
            "no font found to draw the picture's text (looked in {}): install one \
                 (Debian/Ubuntu: apt-get install fonts-dejavu-core) or set {FONT_ENV} to a .ttf file",
            FONT_CANDIDATES.join(", ")
        )
    })
}

/// Reads the font once per process and registers it with plotters as [`FAMILY`].
pub(crate) fn ensure_font() -> Result<()> {
    static FONT: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        let path = font_path()?;
        let bytes = std::fs::read(&path).map_err(|e| format!("reading font {}: {e}", path.display()))?;
        // plotters keeps fonts for the life of the process; so does this one copy.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font(FAMILY, FontStyle::Normal, bytes).map_err(|_| {
            format!("{} is not a usable TrueType font: set {FONT_ENV} to another .ttf file", path.display())
        })
    })
    .clone()
    .map_err(|m| Error::Io(io::Error::new(io::ErrorKind::NotFound, m)))
}

/// Turns a plotters drawing error into the crate's error.
pub(crate) trait Drawn<T> {
    /// The value, or an [`Error::Io`] that says drawing failed and why.
    fn drawn(self) -> Result<T>;
}

impl<T, E: std::error::Error + Send + Sync> Drawn<T> for std::result::Result<T, DrawingAreaErrorKind<E>> {
    fn drawn(self) -> Result<T> {
        self.map_err(|e| Error::Io(io::Error::other(format!("drawing the picture: {e}"))))
    }
}

/// Draws on `canvas` with plotters and writes the result as a PNG at `path`.
pub(crate) fn render(path: &Path, canvas: RgbImage, draw: impl FnOnce(&Area) -> Result<()>) -> Result<()> {
    ensure_font()?;
    let (w, h) = canvas.dimensions();
    let mut buf = canvas.into_raw();
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        draw(&root)?;
        root.present().drawn()?;
    }
    let img = RgbImage::from_raw(w, h, buf).expect("the buffer keeps its size");
    save_png(path, &img)
}

/// A white canvas of `w` × `h` pixels.
pub(crate) fn blank(w: u32, h: u32) -> RgbImage {
    RgbImage::from_pixel(w.max(1), h.max(1), Rgb([255, 255, 255]))
}

/// Writes `img` as a PNG, creating the parent folders.
fn save_png(path: &Path, img: &RgbImage) -> Result<()> {
    let context = |e: &dyn std::fmt::Display| format!("writing {}: {e}", path.display());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io::Error::new(e.kind(), context(&e)))?;
    }
    img.save_with_format(path, image::ImageFormat::Png).map_err(|e| match e {
        image::ImageError::IoError(io) => io::Error::new(io.kind(), context(&io)),
        other => io::Error::other(context(&other)),
    })?;
    Ok(())
}

/// A text style of `size` pixels in `color`, anchored at `pos`.
pub(crate) fn text_style(size: f64, color: &RGBColor, pos: Pos) -> TextStyle<'static> {
    TextStyle { font: (FAMILY, size).into_font(), color: color.to_backend_color(), pos }
}

/// The width in pixels of `text` at `size`; 0 when it cannot be measured.
pub(crate) fn text_width(text: &str, size: f64) -> u32 {
    (FAMILY, size).into_font().box_size(text).map(|(w, _)| w).unwrap_or(0)
}

/// The largest size from `size` down to `min_size` at which `text` fits in `max_w` pixels, and the
/// text itself, shortened with an ellipsis when even `min_size` is too wide.
pub(crate) fn fit_text(text: &str, max_w: u32, size: f64, min_size: f64) -> (String, f64) {
    let mut s = size;
    while s > min_size && text_width(text, s) > max_w {
        s -= 1.0;
    }
    if text_width(text, s) <= max_w {
        return (text.to_string(), s);
    }
    let chars: Vec<char> = text.chars().collect();
    for n in (0..chars.len()).rev() {
        let short: String = chars[..n].iter().chain(['…'].iter()).collect();
        if text_width(&short, s) <= max_w {
            return (short, s);
        }
    }
    (String::new(), s)
}

/// The house style of a chart's grid: tick labels and axis titles in the house font, no minor lines,
/// faint major ones. Every chart's `configure_mesh()` goes through it.
pub(crate) fn house_mesh<'m, 'a, 'b, X, Y, DB>(
    mesh: &'m mut plotters::chart::MeshStyle<'a, 'b, X, Y, DB>,
) -> &'m mut plotters::chart::MeshStyle<'a, 'b, X, Y, DB>
where
    X: plotters::coord::ranged1d::Ranged,
    Y: plotters::coord::ranged1d::Ranged,
    DB: DrawingBackend,
{
    mesh.label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 15))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.12))
}

/// An axis tick label: integers without a decimal point, others with at most four decimals,
/// very large or small magnitudes in exponent form.
pub(crate) fn tick<T: Into<f64> + Copy>(v: &T) -> String {
    let v: f64 = (*v).into();
    let a = v.abs();
    if a == 0.0 {
        return "0".into();
    }
    if !(1e-3..1e6).contains(&a) {
        return format!("{v:.0e}");
    }
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// An axis that shows exactly the ticks it is given (plotters' own choice can leave a narrow log
/// axis with none, and puts fractional ticks on integer axes), with plotters' default formatting
/// so that it fits wherever a plain range does.
pub(crate) struct Ticked<R> {
    inner: R,
    ticks: Vec<f64>,
}

impl<R: plotters::coord::ranged1d::Ranged<ValueType = f64>> Ticked<R> {
    /// `inner` with the bold ticks `ticks` and no light ones.
    pub(crate) fn new(inner: impl Into<R>, ticks: Vec<f64>) -> Self {
        Ticked { inner: inner.into(), ticks }
    }
}

impl<R: plotters::coord::ranged1d::Ranged<ValueType = f64>> plotters::coord::ranged1d::Ranged for Ticked<R> {
    type ValueType = f64;
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<H: plotters::coord::ranged1d::KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            vec![]
        } else {
            self.ticks.clone()
        }
    }

    fn axis_pixel_range(&self, limit: (i32, i32)) -> std::ops::Range<i32> {
        self.inner.axis_pixel_range(limit)
    }
}

/// Tick positions for a linear axis over `lo..=hi`: multiples of 1, 2 or 5 × 10^k, about eight of
/// them; whole numbers only when `integer` (epochs, steps, k), so such an axis never reads 1.5.
pub(crate) fn nice_ticks(lo: f64, hi: f64, integer: bool) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / 8.0;
    let mag = 10f64.powf(raw.log10().floor());
    let mut step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|&s| s >= raw).unwrap_or(10.0 * mag);
    if integer {
        step = step.max(1.0).round();
    }
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// Tick positions for a logarithmic axis over `lo..=hi` (`lo > 0`): powers of ten, or 1-2-5 ×
/// 10^k when the range spans too few decades for three of those, or linear ticks when it is
/// narrower still (a loss between 1.1 and 3.5: a log axis with one or two labels reads as none).
pub(crate) fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if !(lo > 0.0 && hi > lo && hi.is_finite()) {
        return vec![lo];
    }
    let (d0, d1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    for mults in [&[1.0][..], &[1.0, 2.0, 5.0]] {
        let ticks: Vec<f64> = (d0..=d1)
            .flat_map(|d| mults.iter().map(move |m| m * 10f64.powi(d)))
            .filter(|&v| v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9))
            .collect();
        if ticks.len() >= 3 {
            return ticks;
        }
    }
    nice_ticks(lo, hi, false)
}

/// Saturated colour of class `i`: matplotlib's "tab10" for the first ten, then evenly spread hues.
pub(crate) fn class_color(i: usize) -> RGBColor {
    const TAB10: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    if let Some(&(r, g, b)) = TAB10.get(i) {
        return RGBColor(r, g, b);
    }
    // Golden-angle hue steps keep neighbouring class ids apart.
    let hue = ((i as f64) * 0.618_034) % 1.0;
    let rgb = HSLColor(hue, 0.65, 0.45).to_rgba();
    RGBColor(rgb.0, rgb.1, rgb.2)
}

/// `c` mixed with white: `amount` 0 keeps it, 1 gives white.
pub(crate) fn lighten(c: RGBColor, amount: f64) -> RGBColor {
    let mix = |v: u8| (v as f64 + (255.0 - v as f64) * amount).round() as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

/// Checks that each image holds `C·H·W` values with `C` of 1 or 3.
pub(crate) fn check_images(images: &[Vec<f32>], shape: [usize; 3]) -> Result<()> {
    let [c, h, w] = shape;
    if c != 1 && c != 3 {
        return Err(Error::invalid("shape", format!("{shape:?}: pictures need 1 (grey) or 3 (RGB) channels")));
    }
    if h == 0 || w == 0 {
        return Err(Error::invalid("shape", format!("{shape:?}: height and width must be at least 1")));
    }
    if images.is_empty() {
        return Err(Error::invalid("images", "nothing to draw: the list is empty"));
    }
    if let Some((i, img)) = images.iter().enumerate().find(|(_, v)| v.len() != c * h * w) {
        return Err(Error::invalid(
            "images",
            format!("image {i} has {} values, but shape {shape:?} needs {}", img.len(), c * h * w),
        ));
    }
    Ok(())
}

/// One CHW image, min-max scaled on its own to 0..=255 and enlarged `scale` times (nearest
/// neighbour). A constant image becomes mid grey; non-finite values are drawn black.
pub(crate) fn tile(image: &[f32], shape: [usize; 3], scale: u32) -> RgbImage {
    let [c, h, w] = shape;
    let (lo, hi) = image
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let to_u8 = |v: f32| -> u8 {
        if !v.is_finite() {
            0
        } else if hi > lo {
            ((v - lo) / (hi - lo) * 255.0).round().clamp(0.0, 255.0) as u8
        } else {
            128
        }
    };
    let small = RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let at = |ch: usize| to_u8(image[(ch * h + y as usize) * w + x as usize]);
        if c == 1 {
            let g = at(0);
            Rgb([g, g, g])
        } else {
            Rgb([at(0), at(1), at(2)])
        }
    });
    let scale = scale.max(1);
    image::imageops::resize(&small, w as u32 * scale, h as u32 * scale, image::imageops::FilterType::Nearest)
}

/// One image (`shape` = `[C, H, W]`, `C` 1 or 3, CHW order) as an RGB picture at its own size,
/// min-max scaled to the full range.
pub fn tile_image(image: &[f32], shape: [usize; 3]) -> RgbImage {
    tile(image, shape, 1)
}

/// Checks `cols` and `scale` for the image grids.
pub(crate) fn check_layout(cols: usize, scale: u32) -> Result<()> {
    if cols == 0 {
        return Err(Error::invalid("cols", "must be at least 1"));
    }
    if scale == 0 {
        return Err(Error::invalid("scale", "must be at least 1"));
    }
    Ok(())
}

/// Shared checks for the tests: the PNG decodes and has the size given; where given colours are, and
/// whether a tile is drawn where it should be.
#[cfg(test)]
pub(crate) mod testing {
    use image::{Rgb, RgbImage};
    use plotters::style::RGBColor;
    use std::ops::Range;
    use std::path::{Path, PathBuf};

    /// A fresh path in the temporary folder for test `name`.
    pub fn out(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("kindling-plot-{}", std::process::id())).join(format!("{name}.png"))
    }

    /// Whether a font file is there to draw text with; when none is, the calling test is skipped
    /// (see [`crate::require`]: it fails under `KINDLING_REQUIRE_ALL=1`). A file that is there
    /// but does not load fails the drawing, and with it the test.
    pub fn require_font() -> bool {
        match super::font_path() {
            Ok(_) => true,
            Err(e) => {
                crate::require::skip(&format!("needs a TrueType font to draw text: {e}"));
                false
            }
        }
    }

    /// Decodes the PNG at `path` and checks its size; returns it for the caller's checks of what it
    /// shows.
    pub fn check_png(path: &Path, size: (u32, u32)) -> RgbImage {
        let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8();
        assert_eq!(img.dimensions(), size, "{}", path.display());
        img
    }

    /// A plotters colour as a pixel.
    pub fn rgb(c: RGBColor) -> Rgb<u8> {
        Rgb([c.0, c.1, c.2])
    }

    /// Pixels of exactly colour `c` in columns `xs` and rows `ys` of `img`.
    pub fn count(img: &RgbImage, c: Rgb<u8>, xs: Range<u32>, ys: Range<u32>) -> usize {
        let (w, h) = img.dimensions();
        ys.filter(|&y| y < h).map(|y| xs.clone().filter(|&x| x < w && *img.get_pixel(x, y) == c).count()).sum()
    }

    /// Pixels of exactly colour `c` anywhere in `img`.
    pub fn count_all(img: &RgbImage, c: Rgb<u8>) -> usize {
        img.pixels().filter(|p| **p == c).count()
    }

    /// The mean row of the pixels of colour `c` in columns `xs` (`None`: there are none).
    pub fn mean_row(img: &RgbImage, c: Rgb<u8>, xs: Range<u32>) -> Option<f64> {
        let rows: Vec<u32> = (0..img.height())
            .flat_map(|y| xs.clone().filter(move |&x| x < img.width()).map(move |x| (x, y)))
            .filter(|&(x, y)| *img.get_pixel(x, y) == c)
            .map(|(_, y)| y)
            .collect();
        (!rows.is_empty()).then(|| rows.iter().map(|&y| y as f64).sum::<f64>() / rows.len() as f64)
    }

    /// The centre (mean column, mean row) of the pixels of colour `c` (`None`: there are none).
    pub fn centre(img: &RgbImage, c: Rgb<u8>) -> Option<(f64, f64)> {
        let at: Vec<(u32, u32)> = img.enumerate_pixels().filter(|(_, _, p)| **p == c).map(|(x, y, _)| (x, y)).collect();
        let n = at.len() as f64;
        (!at.is_empty())
            .then(|| (at.iter().map(|p| p.0 as f64).sum::<f64>() / n, at.iter().map(|p| p.1 as f64).sum::<f64>() / n))
    }

    /// Asserts that `img` shows `image` (`shape`, CHW) scaled `scale` times, as [`super::tile`]
    /// draws it, with its top-left corner at `(x, y)`.
    pub fn assert_shows_tile(img: &RgbImage, (x, y): (u32, u32), image: &[f32], shape: [usize; 3], scale: u32) {
        let want = super::tile(image, shape, scale);
        for (i, j, p) in want.enumerate_pixels() {
            assert_eq!(img.get_pixel(x + i, y + j), p, "pixel ({i}, {j}) of the tile at ({x}, {y})");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_scales_each_image_on_its_own() {
        let img = tile(&[0.0, 1.0, 2.0, 4.0], [1, 2, 2], 2);
        assert_eq!(img.dimensions(), (4, 4));
        assert_eq!(img.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(img.get_pixel(3, 3).0, [255, 255, 255]);
        assert_eq!(img.get_pixel(1, 1).0, [0, 0, 0]);
        let flat = tile(&[3.0; 12], [3, 2, 2], 1);
        assert_eq!(flat.get_pixel(1, 1).0, [128, 128, 128]);
    }

    #[test]
    fn bad_shapes_are_rejected() {
        assert!(check_images(&[vec![0.0; 8]], [2, 2, 2]).is_err());
        assert!(check_images(&[vec![0.0; 3]], [1, 2, 2]).is_err());
        assert!(check_images(&[], [1, 2, 2]).is_err());
        assert!(check_images(&[vec![0.0; 4]], [1, 2, 2]).is_ok());
    }

    #[test]
    fn fit_text_shrinks_then_shortens() {
        if !testing::require_font() {
            return;
        }
        let (t, s) = fit_text("airplane", 1000, 14.0, 8.0);
        assert_eq!((t.as_str(), s), ("airplane", 14.0));
        let (t, _) = fit_text("a very long class name indeed", 40, 14.0, 8.0);
        assert!(t.ends_with('…') && text_width(&t, 8.0) <= 40, "{t}");
    }

    #[test]
    fn axis_ticks() {
        assert_eq!(nice_ticks(1.0, 2.0, true), vec![1.0, 2.0], "an epoch axis has no fractional ticks");
        assert_eq!(nice_ticks(0.0, 1.0, false).len(), 6);
        assert_eq!(nice_ticks(0.0, 100.0, true), (0..=5).map(|i| i as f64 * 20.0).collect::<Vec<_>>());
        assert_eq!(log_ticks(1e-4, 10.0), vec![1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0]);
        assert_eq!(log_ticks(0.3, 3.0), vec![0.5, 1.0, 2.0]);
        assert_eq!(log_ticks(1.1, 3.5), vec![1.5, 2.0, 2.5, 3.0, 3.5]);
        // A loss between 1.6 and 2.3: no power of ten inside, still labelled.
        let t = log_ticks(1.6, 2.3);
        assert!(t.len() >= 2 && t.iter().all(|&v| (1.6..=2.3).contains(&v)), "{t:?}");
    }

    #[test]
    fn ticks_are_short() {
        let t = |v: f64| tick(&v);
        assert_eq!([t(0.0), t(3.0), t(-0.5), t(0.125), t(1e-4), t(2e7)], ["0", "3", "-0.5", "0.125", "1e-4", "2e7"]);
    }

    #[test]
    fn palette_is_distinct() {
        let colors: Vec<_> = (0..20).map(class_color).collect();
        for i in 0..colors.len() {
            for j in 0..i {
                assert_ne!(colors[i], colors[j], "{i} {j}");
            }
        }
    }
}

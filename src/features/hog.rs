//! Histogram of oriented gradients (HOG), after Dalal & Triggs (CVPR 2005, "Histograms of
//! Oriented Gradients for Human Detection") in the simplified form of CS231n's `hog_feature`.
//!
//! - The image is turned to grayscale: luminance `0.299 R + 0.587 G + 0.114 B` for 3 channels,
//!   the single channel as it is for 1.
//! - Gradients are centred differences with the `[-1, 0, 1]` mask, not halved:
//!   `gx = I(y, x+1) − I(y, x−1)`, `gy = I(y+1, x) − I(y−1, x)`. On the first and last column
//!   `gx` is zero, on the first and last row `gy` is zero (as scikit-image's `hog` does), so a
//!   border never invents an edge against an imagined black frame.
//! - The orientation is unsigned, `atan2(gy, gx)` folded into `[0°, 180°)`: a dark-to-bright and a
//!   bright-to-dark edge look the same. `0°` is a horizontal gradient (a vertical edge), `90°` a
//!   vertical gradient (a horizontal edge). `[0°, 180°)` is cut into `bins` equal bins.
//! - Each pixel adds its gradient magnitude `√(gx² + gy²)` to the bin of its orientation in its
//!   cell (hard binning as in CS231n: no interpolation between bins or cells).
//! - Cells are `cell × cell` pixels tiled from the top-left corner; pixels right of or below the
//!   last whole cell are ignored (a 28×28 image with 8×8 cells uses its top-left 24×24 pixels,
//!   though their gradients still read the pixel just beyond).
//! - There is no block normalization (CS231n leaves it out too): per-column standardization of
//!   the features ([`super::Standardizer`]) plays that role for the linear models that follow.
//!
//! Features are laid out `[cells_y, cells_x, bins]`, row-major: a 32×32 image gives
//! `4 × 4 × 9 = 144` values, a 28×28 image `3 × 3 × 9 = 81`.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Default cell side in pixels.
pub const DEFAULT_CELL: usize = 8;
/// Default number of orientation bins over `[0°, 180°)`.
pub const DEFAULT_BINS: usize = 9;

/// HOG hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HogConfig {
    /// Side of a square cell in pixels (default [`DEFAULT_CELL`], 8).
    pub cell: usize,
    /// Orientation bins over `[0°, 180°)` (default [`DEFAULT_BINS`], 9: 20° each).
    pub bins: usize,
}

impl Default for HogConfig {
    fn default() -> Self {
        HogConfig { cell: DEFAULT_CELL, bins: DEFAULT_BINS }
    }
}

impl HogConfig {
    /// Whole cells `(cells_y, cells_x)` in a `height × width` image (leftover pixels dropped).
    pub fn cells(&self, height: usize, width: usize) -> (usize, usize) {
        if self.cell == 0 {
            return (0, 0);
        }
        (height / self.cell, width / self.cell)
    }

    /// Feature length for images of `shape = [C, H, W]`: `cells_y × cells_x × bins`. Fails when
    /// `cell` or `bins` is zero, when the image holds no whole cell, or when `C` is neither 1 nor 3.
    pub fn dim(&self, shape: [usize; 3]) -> Result<usize> {
        if self.cell == 0 {
            return Err(Error::invalid("HOG cell", "must be at least 1 pixel (default 8)"));
        }
        if self.bins == 0 {
            return Err(Error::invalid("HOG bins", "must be at least 1 (default 9)"));
        }
        let [c, h, w] = shape;
        check_channels(c, shape)?;
        let (cy, cx) = self.cells(h, w);
        if cy == 0 || cx == 0 {
            return Err(Error::invalid(
                "HOG cell",
                format!("{}×{} pixels do not fit in a {h}×{w} image: use a smaller cell", self.cell, self.cell),
            ));
        }
        Ok(cy * cx * self.bins)
    }
}

fn check_channels(c: usize, shape: [usize; 3]) -> Result<()> {
    if c == 1 || c == 3 {
        Ok(())
    } else {
        Err(Error::invalid(
            "`features` hog",
            format!("HOG needs grayscale (1-channel) or RGB (3-channel) images, got shape {shape:?}"),
        ))
    }
}

/// HOG features of one image: `image` holds `C × H × W` values in CHW order (`C` = 1 or 3,
/// values in `[0, 1]` by convention), the result `cells_y × cells_x × bins` values.
///
/// Allocates; [`super::extract`] reuses buffers across a whole data set instead.
pub fn hog(image: &[f32], shape: [usize; 3], cfg: &HogConfig) -> Result<Vec<f32>> {
    let dim = cfg.dim(shape)?;
    let [c, h, w] = shape;
    if image.len() != c * h * w {
        return Err(Error::invalid("image", format!("{} values for shape {shape:?}", image.len())));
    }
    let mut gray = vec![0f32; h * w];
    let mut out = vec![0f32; dim];
    grayscale_into(image, shape, &mut gray);
    hog_gray_into(&gray, h, w, cfg, &mut out);
    Ok(out)
}

/// Writes the grayscale version of a 1- or 3-channel CHW `image` into `gray` (`H × W` values).
pub(crate) fn grayscale_into(image: &[f32], shape: [usize; 3], gray: &mut [f32]) {
    let plane = shape[1] * shape[2];
    if shape[0] == 3 {
        let (r, rest) = image.split_at(plane);
        let (g, b) = rest.split_at(plane);
        for (((o, &r), &g), &b) in gray.iter_mut().zip(r).zip(g).zip(&b[..plane]) {
            *o = 0.299 * r + 0.587 * g + 0.114 * b;
        }
    } else {
        gray.copy_from_slice(&image[..plane]);
    }
}

/// HOG of a grayscale `height × width` image into `out` (`cfg.dim` values); `cfg` must be valid
/// for that size.
pub(crate) fn hog_gray_into(gray: &[f32], height: usize, width: usize, cfg: &HogConfig, out: &mut [f32]) {
    let (cells_y, cells_x) = cfg.cells(height, width);
    let bins = cfg.bins;
    let bin_width = std::f32::consts::PI / bins as f32;
    out.fill(0.0);
    for y in 0..cells_y * cfg.cell {
        let row = &gray[y * width..(y + 1) * width];
        // On the first and last row gy is zero: read the row itself above and below.
        let up = if y == 0 || y + 1 == height { row } else { &gray[(y - 1) * width..y * width] };
        let down = if y == 0 || y + 1 == height { row } else { &gray[(y + 1) * width..(y + 2) * width] };
        let cell_row = &mut out[(y / cfg.cell) * cells_x * bins..(y / cfg.cell + 1) * cells_x * bins];
        for x in 0..cells_x * cfg.cell {
            let gx = if x == 0 || x + 1 == width { 0.0 } else { row[x + 1] - row[x - 1] };
            let gy = down[x] - up[x];
            let mag = (gx * gx + gy * gy).sqrt();
            if mag == 0.0 {
                continue;
            }
            cell_row[(x / cfg.cell) * bins + orientation_bin(gy, gx, bins, bin_width)] += mag;
        }
    }
}

/// Bin of the unsigned orientation of gradient `(gx, gy)`, folded into `[0, π)`.
#[inline]
fn orientation_bin(gy: f32, gx: f32, bins: usize, bin_width: f32) -> usize {
    let mut theta = gy.atan2(gx);
    if theta < 0.0 {
        theta += std::f32::consts::PI;
    }
    if theta >= std::f32::consts::PI {
        theta -= std::f32::consts::PI;
    }
    ((theta / bin_width) as usize).min(bins - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1-channel `h × w` image from a function of `(y, x)`.
    fn gray_image(h: usize, w: usize, f: impl Fn(usize, usize) -> f32) -> Vec<f32> {
        (0..h * w).map(|i| f(i / w, i % w)).collect()
    }

    /// Share of cell `(cy, cx)`'s mass held by `bin`, and the cell's total.
    fn share(feat: &[f32], cells_x: usize, bins: usize, cy: usize, cx: usize, bin: usize) -> (f32, f32) {
        let cell = &feat[(cy * cells_x + cx) * bins..(cy * cells_x + cx + 1) * bins];
        let total: f32 = cell.iter().sum();
        (cell[bin] / total, total)
    }

    #[test]
    fn dims_for_cifar_and_mnist() {
        let cfg = HogConfig::default();
        assert_eq!(cfg.dim([3, 32, 32]).unwrap(), 144);
        assert_eq!(cfg.dim([1, 28, 28]).unwrap(), 81);
        assert_eq!(hog(&vec![0.5; 3 * 32 * 32], [3, 32, 32], &cfg).unwrap().len(), 144);
        assert_eq!(hog(&vec![0.5; 28 * 28], [1, 28, 28], &cfg).unwrap().len(), 81);
        let fine = HogConfig { cell: 4, bins: 6 };
        assert_eq!(fine.dim([1, 28, 28]).unwrap(), 7 * 7 * 6);
    }

    #[test]
    fn bad_configs_and_shapes_rejected() {
        let cfg = HogConfig::default();
        assert!(cfg.dim([2, 1, 1]).is_err());
        assert!(cfg.dim([4, 32, 32]).is_err());
        assert!(cfg.dim([1, 7, 32]).is_err());
        assert!(HogConfig { cell: 0, bins: 9 }.dim([1, 28, 28]).is_err());
        assert!(HogConfig { cell: 8, bins: 0 }.dim([1, 28, 28]).is_err());
        assert!(hog(&[0.0; 10], [1, 28, 28], &cfg).is_err());
    }

    #[test]
    fn flat_image_gives_zeros() {
        let img = vec![0.7; 3 * 32 * 32];
        assert!(hog(&img, [3, 32, 32], &HogConfig::default()).unwrap().iter().all(|&v| v == 0.0));
    }

    #[test]
    fn vertical_edge_fills_the_0_degree_bin() {
        // Left half dark, right half bright: gx = 1 on columns 15 and 16 (cells x = 1 and 2).
        let img = gray_image(32, 32, |_, x| if x < 16 { 0.1 } else { 0.9 });
        let feat = hog(&img, [1, 32, 32], &HogConfig::default()).unwrap();
        for cy in 0..4 {
            for cx in [1, 2] {
                let (s, total) = share(&feat, 4, 9, cy, cx, 0);
                assert!(s > 0.9, "cell ({cy}, {cx}): {s}");
                // 8 rows × 1 column × |0.9 − 0.1|.
                assert!((total - 6.4).abs() < 1e-4, "cell ({cy}, {cx}): {total}");
            }
            for cx in [0, 3] {
                assert_eq!(share(&feat, 4, 9, cy, cx, 0).1, 0.0);
            }
        }
        // Unsigned: the mirrored edge (bright to dark) lands in the same bin.
        let mirrored = gray_image(32, 32, |_, x| if x < 16 { 0.9 } else { 0.1 });
        assert_eq!(hog(&mirrored, [1, 32, 32], &HogConfig::default()).unwrap(), feat);
    }

    #[test]
    fn horizontal_edge_fills_the_90_degree_bin() {
        // 90° lies in bin 4 = [80°, 100°).
        let img = gray_image(32, 32, |y, _| if y < 16 { 0.0 } else { 1.0 });
        let feat = hog(&img, [1, 32, 32], &HogConfig::default()).unwrap();
        for cx in 0..4 {
            for cy in [1, 2] {
                let (s, total) = share(&feat, 4, 9, cy, cx, 4);
                assert!(s > 0.9, "cell ({cy}, {cx}): {s}");
                assert!(total > 0.0);
            }
        }
    }

    #[test]
    fn diagonal_edge_fills_the_45_degree_bin() {
        // Bright below the anti-diagonal: gx = gy > 0, 45° lies in bin 2 = [40°, 60°).
        let img = gray_image(32, 32, |y, x| if x + y >= 32 { 1.0 } else { 0.0 });
        let feat = hog(&img, [1, 32, 32], &HogConfig::default()).unwrap();
        let mass: f32 = feat.iter().sum();
        let in_bin: f32 = feat.iter().skip(2).step_by(9).sum();
        assert!(in_bin / mass > 0.9, "{}", in_bin / mass);
    }

    #[test]
    fn rgb_uses_luminance() {
        let (h, w) = (16, 16);
        let gray = gray_image(h, w, |y, x| ((x * 7 + y * 3) % 11) as f32 / 11.0);
        // An RGB image whose luminance is `gray`: R = G = B.
        let rgb: Vec<f32> = gray.iter().chain(&gray).chain(&gray).copied().collect();
        let cfg = HogConfig { cell: 4, bins: 9 };
        let a = hog(&gray, [1, h, w], &cfg).unwrap();
        let b = hog(&rgb, [3, h, w], &cfg).unwrap();
        for (a, b) in a.iter().zip(&b) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
        // A pure-green step weighs 0.587 of a white one.
        let mut green = vec![0.0; 3 * h * w];
        for y in 0..h {
            for x in 8..w {
                green[h * w + y * w + x] = 1.0;
            }
        }
        let g: f32 = hog(&green, [3, h, w], &cfg).unwrap().iter().sum();
        let white = gray_image(h, w, |_, x| if x >= 8 { 1.0 } else { 0.0 });
        let wt: f32 = hog(&white, [1, h, w], &cfg).unwrap().iter().sum();
        assert!((g / wt - 0.587).abs() < 1e-4);
    }
}

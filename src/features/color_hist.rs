//! Colour histogram: the distribution of hue (the H of HSV) over an image's pixels, as CS231n's
//! `color_histogram_hsv`.
//!
//! - Hue follows matplotlib's `rgb_to_hsv`: a value in `[0, 1)`, red at 0, green at 1/3, blue at
//!   2/3. Achromatic pixels (gray, black, white: `max = min`) have hue 0, as in matplotlib, so
//!   they count into the first bin together with reds.
//! - `[0, 1)` is cut into `bins` equal bins; each pixel counts 1 and the counts are divided by the
//!   number of pixels, so the histogram sums to 1 (the fraction of pixels per bin). CS231n's
//!   version splits `[0, 255]` instead, which puts every hue in its first bin; this one does not.
//! - Hue needs colour: a 1-channel image is refused with an error that says so, rather than
//!   silently giving a constant feature.

use crate::{Error, Result};

/// Default number of hue bins.
pub const DEFAULT_BINS: usize = 10;

/// Feature length for images of `shape = [C, H, W]`: `bins`. Fails unless `C` is 3 and `bins`
/// is at least 1.
pub fn dim(shape: [usize; 3], bins: usize) -> Result<usize> {
    if shape[0] != 3 {
        return Err(Error::invalid(
            "`features` color",
            format!(
                "colour histogram needs RGB images (3 channels), got shape {shape:?}; \
                 use `features` hog alone for grayscale data such as MNIST"
            ),
        ));
    }
    if bins == 0 {
        return Err(Error::invalid("colour bins", "must be at least 1 (default 10)"));
    }
    Ok(bins)
}

/// Hue histogram of one RGB image: `image` holds `3 × H × W` values in CHW order, in `[0, 1]`;
/// the result holds `bins` fractions summing to 1.
pub fn color_histogram(image: &[f32], shape: [usize; 3], bins: usize) -> Result<Vec<f32>> {
    dim(shape, bins)?;
    if image.len() != shape.iter().product::<usize>() {
        return Err(Error::invalid("image", format!("{} values for shape {shape:?}", image.len())));
    }
    let mut out = vec![0f32; bins];
    color_histogram_into(image, shape[1] * shape[2], &mut out);
    Ok(out)
}

/// Hue histogram of an RGB CHW image with `plane = H × W` pixels into `out` (one value per bin).
pub(crate) fn color_histogram_into(image: &[f32], plane: usize, out: &mut [f32]) {
    let bins = out.len();
    out.fill(0.0);
    let (r, rest) = image.split_at(plane);
    let (g, b) = rest.split_at(plane);
    for ((&r, &g), &b) in r.iter().zip(g).zip(&b[..plane]) {
        let h = hue(r, g, b);
        out[((h * bins as f32) as usize).min(bins - 1)] += 1.0;
    }
    if plane > 0 {
        let n = plane as f32;
        out.iter_mut().for_each(|v| *v /= n);
    }
}

/// Hue in `[0, 1)` of an RGB colour, as matplotlib's `rgb_to_hsv`; 0 for grays.
#[inline]
pub fn hue(r: f32, g: f32, b: f32) -> f32 {
    let max = r.max(g).max(b);
    let delta = max - r.min(g).min(b);
    if delta <= 0.0 {
        return 0.0;
    }
    let sextant = if b == max {
        4.0 + (r - g) / delta
    } else if g == max {
        2.0 + (b - r) / delta
    } else {
        (g - b) / delta
    };
    let mut h = sextant / 6.0;
    if h < 0.0 {
        h += 1.0;
    }
    if h >= 1.0 {
        h -= 1.0;
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `3 × 4 × 4` image of one colour.
    fn solid(r: f32, g: f32, b: f32) -> Vec<f32> {
        [r, g, b].iter().flat_map(|&v| std::iter::repeat_n(v, 16)).collect()
    }

    #[test]
    fn pure_red_fills_the_first_bin() {
        let h = color_histogram(&solid(1.0, 0.0, 0.0), [3, 4, 4], 10).unwrap();
        assert_eq!(h[0], 1.0);
        assert!(h[1..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn pure_green_lands_in_the_bin_of_one_third() {
        // Hue 1/3 lies in bin 3 = [0.3, 0.4) of 10.
        let h = color_histogram(&solid(0.0, 1.0, 0.0), [3, 4, 4], 10).unwrap();
        assert_eq!(h[3], 1.0);
        assert_eq!(h.iter().sum::<f32>(), 1.0);
        // Blue at 2/3: bin 6; with 3 bins red, green and blue each get their own.
        assert_eq!(color_histogram(&solid(0.0, 0.0, 1.0), [3, 4, 4], 10).unwrap()[6], 1.0);
        let rgb3: Vec<Vec<f32>> = [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)]
            .iter()
            .map(|&(r, g, b)| color_histogram(&solid(r, g, b), [3, 4, 4], 3).unwrap())
            .collect();
        assert_eq!(rgb3, vec![vec![1.0, 0.0, 0.0], vec![0.0, 1.0, 0.0], vec![0.0, 0.0, 1.0]]);
    }

    #[test]
    fn hue_matches_matplotlib() {
        // matplotlib.colors.rgb_to_hsv([[r, g, b]])[..., 0]
        let cases = [
            ((1.0, 1.0, 0.0), 1.0 / 6.0),   // yellow
            ((0.0, 1.0, 1.0), 0.5),         // cyan
            ((1.0, 0.0, 1.0), 5.0 / 6.0),   // magenta
            ((0.5, 0.25, 0.0), 1.0 / 12.0), // brown
            ((0.3, 0.3, 0.3), 0.0),         // gray
            ((1.0, 0.0, 0.01), 0.99833333), // red just short of wrapping around
        ];
        for ((r, g, b), want) in cases {
            assert!((hue(r, g, b) - want).abs() < 1e-6, "{r} {g} {b}: {}", hue(r, g, b));
        }
    }

    #[test]
    fn histogram_is_a_distribution() {
        // Half red, a quarter cyan, a quarter gray.
        let mut img = solid(1.0, 0.0, 0.0);
        for p in 8..12 {
            img[p] = 0.0;
            img[16 + p] = 1.0;
            img[32 + p] = 1.0;
        }
        for p in 12..16 {
            img[p] = 0.5;
            img[16 + p] = 0.5;
            img[32 + p] = 0.5;
        }
        let h = color_histogram(&img, [3, 4, 4], 10).unwrap();
        assert_eq!(h[0], 0.75); // red and gray
        assert_eq!(h[5], 0.25); // cyan
        assert_eq!(h.iter().sum::<f32>(), 1.0);
    }

    #[test]
    fn grayscale_input_is_refused_clearly() {
        let err = color_histogram(&[0.5; 16], [1, 4, 4], 10).unwrap_err().to_string();
        assert!(err.contains("colour histogram needs RGB images"), "{err}");
        assert!(err.contains("`features` hog"), "{err}");
        assert!(color_histogram(&solid(1.0, 0.0, 0.0), [3, 4, 4], 0).is_err());
    }
}

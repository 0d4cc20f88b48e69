//! A saliency map over its image: where the model's top score is most sensitive to the pixels.

use super::tile;
use crate::{Error, Result};
use image::{Rgb, RgbImage};
use std::path::Path;

/// The image (`shape` = `[C, H, W]`, values in `[0, 1]`) and, beside it, the image dimmed to
/// grey with `map` (`H × W` values in `[0, 1]`) laid over it in red to yellow, each enlarged
/// `scale` times: `2·W·scale + 4` by `H·scale` pixels.
pub fn saliency_picture(image: &[f32], shape: [usize; 3], map: &[f32], scale: u32) -> Result<RgbImage> {
    let [c, h, w] = shape;
    if image.len() != c * h * w || map.len() != h * w || scale == 0 {
        return Err(Error::invalid(
            "saliency",
            format!("{} values for an image of {shape:?} and {} for its map", image.len(), map.len()),
        ));
    }
    let plain = tile(image, shape, scale);
    let (tw, th) = (w as u32 * scale, h as u32 * scale);
    let mut out = RgbImage::from_pixel(2 * tw + 4, th, Rgb([255, 255, 255]));
    image::imageops::replace(&mut out, &plain, 0, 0);
    for y in 0..th {
        for x in 0..tw {
            let p = plain.get_pixel(x, y).0;
            let grey = (p[0] as f32 + p[1] as f32 + p[2] as f32) / 3.0 * 0.45;
            let s = map[(y / scale) as usize * w + (x / scale) as usize].clamp(0.0, 1.0);
            let heat = [255.0, 255.0 * (s - 0.5).max(0.0) * 2.0, 0.0];
            let mix = |i: usize| (grey * (1.0 - s) + heat[i] * s).round().clamp(0.0, 255.0) as u8;
            out.put_pixel(tw + 4 + x, y, Rgb([mix(0), mix(1), mix(2)]));
        }
    }
    Ok(out)
}

/// `img` encoded as PNG bytes.
pub fn png_bytes(img: &RgbImage) -> Result<Vec<u8>> {
    let mut buf = std::io::Cursor::new(Vec::new());
    img.write_to(&mut buf, image::ImageFormat::Png).map_err(|e| Error::invalid("png", e.to_string()))?;
    Ok(buf.into_inner())
}

/// Writes `img` at `path`, as PNG or JPEG by its extension (creating its folder).
pub fn save_picture(path: &Path, img: &RgbImage) -> Result<()> {
    super::save_image(path, img)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_is_laid_over_the_right_half() {
        let image = vec![0.5f32; 3 * 2 * 2];
        let map = [0.0, 1.0, 0.0, 0.0];
        let pic = saliency_picture(&image, [3, 2, 2], &map, 2).unwrap();
        assert_eq!(pic.dimensions(), (2 * 4 + 4, 4));
        // Pixel (1, 0) of the map is fully salient: yellow; (0, 0) is not: grey.
        assert_eq!(pic.get_pixel(4 + 4 + 2, 0).0, [255, 255, 0]);
        let g = pic.get_pixel(4 + 4, 0).0;
        assert!(g[0] == g[1] && g[1] == g[2], "{g:?}");
        assert!(saliency_picture(&image, [3, 2, 2], &map[..3], 2).is_err());
        assert!(png_bytes(&pic).unwrap().starts_with(b"\x89PNG"));
    }
}

//! The one path from an image file (or its bytes) to the compact `u8` `[C, H, W]` pixels a data set
//! stores and a model reads: decode by content, convert the colour, resize by a [`ResizePolicy`].
//!
//! Folder data sets, the [`Classifier`](crate::Classifier), saliency pictures and the web page's
//! kNN card all go through [`to_pixels`], so a model sees a new image exactly as it saw its
//! training images. What a model expects is an [`ImageSpec`] (size, resize policy, channels),
//! recorded in its checkpoint.
//!
//! - **Formats**: PNG, JPEG, BMP, GIF (its first frame), WebP and TIFF, recognised by their first
//!   bytes, never by the file name (a JPEG named `.png` decodes).
//! - **Colour**: images are made RGB first (grey replicated, a palette looked up, 16 bits per
//!   channel rounded to 8); **transparent pixels are composited over black** (an RGBA pixel becomes
//!   its colour times its opacity), the colour pad borders have too. A 1-channel model reads the
//!   luma `0.2126 R + 0.7152 G + 0.0722 B` of the resized RGB image (exact for grey images).
//! - **Size**: [`ResizePolicy::Squash`] (the default) scales the whole image to the model's size;
//!   `Crop` takes the largest centred region of the model's aspect ratio first; `Pad` scales the
//!   whole image to fit inside and fills the borders with black. All use a triangle (bilinear)
//!   filter that averages the pixels a sample covers when shrinking.
//!
//! ```
//! use kindling::data::image::{to_pixels, ImageSpec, ResizePolicy};
//! let photo = image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(64, 48, image::Rgb([200, 10, 10])));
//! let spec = ImageSpec { channels: 3, height: 32, width: 32, resize: ResizePolicy::Crop };
//! let px = to_pixels(&photo, &spec);
//! assert_eq!(px.len(), 3 * 32 * 32);
//! assert_eq!((px[0], px[32 * 32], px[2 * 32 * 32]), (200, 10, 10)); // the red plane, then green, then blue
//! ```

use crate::{Error, Result};
use image::{DynamicImage, RgbImage};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The formats kindling decodes, as messages name them.
pub const FORMATS: &str = "PNG, JPEG, BMP, GIF, WebP or TIFF";

/// How an image of another size is brought to the model's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResizePolicy {
    /// The whole image scaled to the model's size, its aspect ratio not kept (the default, and
    /// what checkpoints written before the policy was recorded used).
    #[default]
    Squash,
    /// The largest centred region of the model's aspect ratio, scaled: nothing is distorted, the
    /// edges of a wider or taller image are cut off.
    Crop,
    /// The whole image scaled to fit inside the model's size, the borders filled with black.
    Pad,
}

impl ResizePolicy {
    /// The name on the command line: `squash`, `crop` or `pad`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResizePolicy::Squash => "squash",
            ResizePolicy::Crop => "crop",
            ResizePolicy::Pad => "pad",
        }
    }

    /// Reads `squash`, `crop` or `pad` (the error says which are known).
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        match s {
            "squash" => Ok(ResizePolicy::Squash),
            "crop" => Ok(ResizePolicy::Crop),
            "pad" => Ok(ResizePolicy::Pad),
            _ => Err(format!("'{s}' is not a resize policy: squash, crop or pad")),
        }
    }

    /// What the policy does, in words.
    pub fn describe(self) -> &'static str {
        match self {
            ResizePolicy::Squash => "the whole image scaled, its aspect ratio not kept",
            ResizePolicy::Crop => "the largest centred region of that shape, scaled",
            ResizePolicy::Pad => "the whole image scaled to fit, black borders",
        }
    }
}

impl std::fmt::Display for ResizePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a model reads: `channels` (1 grey, 3 RGB) planes of `height` × `width` pixels, images of
/// another size brought to it by `resize`. Checkpoints record it (older ones imply `Squash`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImageSpec {
    /// 1 (grey) or 3 (RGB).
    pub channels: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// How images of another size are fitted.
    #[serde(default)]
    pub resize: ResizePolicy,
}

impl ImageSpec {
    /// `[C, H, W]`.
    pub fn shape(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }

    /// The spec of images of `shape` (`[C, H, W]`) fitted by `resize`.
    pub fn of_shape(shape: [usize; 3], resize: ResizePolicy) -> Self {
        ImageSpec { channels: shape[0], height: shape[1], width: shape[2], resize }
    }

    /// Values per image (`C·H·W`).
    pub fn len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// True when an image of this spec holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// E.g. `32x32 RGB, resize squash (the whole image scaled, its aspect ratio not kept)`.
    pub fn describe(&self) -> String {
        format!(
            "{}x{} {}, resize {} ({})",
            self.width,
            self.height,
            if self.channels == 1 { "grey" } else { "RGB" },
            self.resize,
            self.resize.describe()
        )
    }
}

/// Reads `N` (a square) or `WxH` (as `640x480`) into `(width, height)`.
pub fn parse_size(s: &str) -> std::result::Result<(usize, usize), String> {
    let bad = || format!("'{s}' is not an image size: give N (N x N pixels) or WxH, e.g. 32 or 48x32");
    let (w, h) = match s.split_once(['x', 'X']) {
        Some((w, h)) => (w.trim().parse::<usize>().map_err(|_| bad())?, h.trim().parse::<usize>().map_err(|_| bad())?),
        None => {
            let n = s.trim().parse::<usize>().map_err(|_| bad())?;
            (n, n)
        }
    };
    if !(2..=1024).contains(&w) || !(2..=1024).contains(&h) {
        return Err(format!("{w}x{h}: each side must be 2 to 1024 pixels"));
    }
    Ok((w, h))
}

/// Decodes image `bytes`, recognising the format by its contents. The error is a sentence about
/// the file (for "image X: ..."), never the decoder's internals.
pub fn decode(bytes: &[u8]) -> std::result::Result<DynamicImage, String> {
    use image::error::{ImageError, LimitErrorKind};
    if bytes.is_empty() {
        return Err("is empty (0 bytes)".into());
    }
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("cannot be read: {e}"))?;
    let Some(format) = reader.format() else {
        return Err(format!("is not an image: its contents are not {FORMATS}"));
    };
    let name = format_name(format);
    reader.decode().map_err(|e| match e {
        ImageError::Decoding(_) => {
            format!("is a damaged {name} file: it is truncated or corrupt, and does not decode")
        }
        ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            format!("is a {name} file that ends early: it is truncated")
        }
        ImageError::IoError(io) => format!("is a {name} file that cannot be read: {io}"),
        ImageError::Limits(l)
            if matches!(l.kind(), LimitErrorKind::InsufficientMemory | LimitErrorKind::DimensionError) =>
        {
            format!("is a {name} image too large to decode here")
        }
        ImageError::Unsupported(_) => {
            format!("is a {name} file of a kind kindling cannot decode (an unusual variant of the format)")
        }
        _ => format!("is a {name} file that does not decode"),
    })
}

fn format_name(f: image::ImageFormat) -> &'static str {
    use image::ImageFormat as F;
    match f {
        F::Png => "PNG",
        F::Jpeg => "JPEG",
        F::Bmp => "BMP",
        F::Gif => "GIF",
        F::WebP => "WebP",
        F::Tiff => "TIFF",
        F::Ico => "ICO",
        F::Pnm => "PNM",
        F::Tga => "TGA",
        F::Avif => "AVIF",
        F::Hdr => "HDR",
        F::OpenExr => "OpenEXR",
        F::Qoi => "QOI",
        _ => "image",
    }
}

/// Reads and decodes the image file at `path`; errors name the file and say what is wrong.
pub fn decode_file(path: &Path) -> Result<DynamicImage> {
    let problem = |p: String| Error::Image { path: path.into(), problem: p };
    if path.is_dir() {
        return Err(problem("is a directory, expected an image file".into()));
    }
    let bytes = std::fs::read(path).map_err(|e| problem(format!("cannot read: {e}")))?;
    decode(&bytes).map_err(problem)
}

/// True when the image has no colour of its own (a grey or grey + alpha colour type).
pub fn is_grey(img: &DynamicImage) -> bool {
    !img.color().has_color()
}

/// `img` as the `C·H·W` pixels `spec` describes, planes in R, G, B order (one luma plane for
/// `channels == 1`).
pub fn to_pixels(img: &DynamicImage, spec: &ImageSpec) -> Vec<u8> {
    let mut out = Vec::with_capacity(spec.len());
    push_pixels(img, spec, &mut out);
    out
}

/// [`to_pixels`], appended to `out`.
pub fn push_pixels(img: &DynamicImage, spec: &ImageSpec, out: &mut Vec<u8>) {
    let rgb = fit(&rgb_over_black(img), spec);
    push_planes(&rgb, spec.channels, out);
}

/// The RGB image resized as `spec` says (3 planes, whatever `spec.channels`): what
/// [`to_pixels`] converts to planes. Folder caches keep it so that one cache serves both grey and
/// colour models.
pub fn fitted_rgb(img: &DynamicImage, spec: &ImageSpec) -> RgbImage {
    fit(&rgb_over_black(img), spec)
}

/// Appends `rgb` as `channels` planes: R, G, B, or one luma plane.
pub fn push_planes(rgb: &RgbImage, channels: usize, out: &mut Vec<u8>) {
    let plane = rgb.width() as usize * rgb.height() as usize;
    let raw = rgb.as_raw();
    if channels == 1 {
        out.extend(raw.chunks_exact(3).map(|p| luma(p[0], p[1], p[2])));
        return;
    }
    let start = out.len();
    out.resize(start + 3 * plane, 0);
    let dst = &mut out[start..];
    for (i, p) in raw.chunks_exact(3).enumerate() {
        dst[i] = p[0];
        dst[plane + i] = p[1];
        dst[2 * plane + i] = p[2];
    }
}

/// Rec. 709 luma, rounded; exact for `r == g == b`.
#[inline]
pub fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((2126 * r as u32 + 7152 * g as u32 + 722 * b as u32 + 5000) / 10_000) as u8
}

/// A note on what fitting `img` to `spec` changed, or `None` when nothing did: e.g. `resized
/// from 64x48 to the model's 32x32: squashed (the whole image scaled, its aspect ratio not kept)`.
pub fn fit_note(img: &DynamicImage, spec: &ImageSpec) -> Option<String> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut notes = vec![];
    if (w, h) != (spec.width, spec.height) {
        let same_aspect = w * spec.height == h * spec.width;
        let how = match spec.resize {
            _ if same_aspect => "the whole image scaled".to_string(),
            ResizePolicy::Squash => "the whole image squashed to fit (not cropped)".to_string(),
            p => p.describe().to_string(),
        };
        notes.push(format!("resized from {w}x{h} to the model's {}x{}, {how}", spec.width, spec.height));
    }
    if spec.channels == 1 && !is_grey(img) {
        notes.push("converted to grey, as the model reads grey images".into());
    }
    if img.color().has_alpha() {
        notes.push("transparent pixels made black".into());
    }
    (!notes.is_empty()).then(|| notes.join("; "))
}

/// `img` as 8-bit RGB, transparent pixels composited over black.
fn rgb_over_black(img: &DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.to_rgb8();
    }
    let rgba = img.to_rgba8();
    let (w, h) = rgba.dimensions();
    let raw: Vec<u8> = rgba
        .as_raw()
        .chunks_exact(4)
        .flat_map(|p| {
            let a = p[3] as u32;
            [0, 1, 2].map(|c| ((p[c] as u32 * a + 127) / 255) as u8)
        })
        .collect();
    RgbImage::from_raw(w, h, raw).expect("w·h·3 values")
}

/// `rgb` brought to `spec`'s size by its policy.
fn fit(rgb: &RgbImage, spec: &ImageSpec) -> RgbImage {
    use image::imageops::{crop_imm, overlay, resize, FilterType};
    let (w, h) = rgb.dimensions();
    let (tw, th) = (spec.width as u32, spec.height as u32);
    if (w, h) == (tw, th) {
        return rgb.clone();
    }
    let filter = FilterType::Triangle;
    match spec.resize {
        ResizePolicy::Squash => resize(rgb, tw, th, filter),
        ResizePolicy::Crop => {
            // The largest centred region with the target's aspect ratio tw:th.
            let (cw, ch) = if w as u64 * th as u64 > h as u64 * tw as u64 {
                (((h as u64 * tw as u64 + th as u64 / 2) / th as u64).clamp(1, w as u64) as u32, h)
            } else {
                (w, ((w as u64 * th as u64 + tw as u64 / 2) / tw as u64).clamp(1, h as u64) as u32)
            };
            let region = crop_imm(rgb, (w - cw) / 2, (h - ch) / 2, cw, ch).to_image();
            resize(&region, tw, th, filter)
        }
        ResizePolicy::Pad => {
            let scale = (tw as f64 / w as f64).min(th as f64 / h as f64);
            let sw = ((w as f64 * scale).round() as u32).clamp(1, tw);
            let sh = ((h as f64 * scale).round() as u32).clamp(1, th);
            let scaled = resize(rgb, sw, sh, filter);
            let mut canvas = RgbImage::new(tw, th);
            overlay(&mut canvas, &scaled, ((tw - sw) / 2) as i64, ((th - sh) / 2) as i64);
            canvas
        }
    }
}

/// Appends `img` in CHW order at its own size: `channels` 3 for RGB, 1 for grey (how the
/// Hugging Face Hub's PNG tables of fixed-size images are stored).
pub fn push_chw(img: &DynamicImage, channels: usize, out: &mut Vec<u8>) {
    let spec = ImageSpec {
        channels,
        height: img.height() as usize,
        width: img.width() as usize,
        resize: ResizePolicy::Squash,
    };
    push_pixels(img, &spec, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma, Rgb, Rgba, RgbaImage};

    fn spec(c: usize, h: usize, w: usize, resize: ResizePolicy) -> ImageSpec {
        ImageSpec { channels: c, height: h, width: w, resize }
    }

    #[test]
    fn chw_order_and_luma() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_fn(2, 1, |x, _| Rgb([x as u8, 10, 20])));
        assert_eq!(to_pixels(&img, &spec(3, 1, 2, ResizePolicy::Squash)), vec![0, 1, 10, 10, 20, 20]);
        let grey = DynamicImage::ImageLuma8(GrayImage::from_fn(2, 2, |x, y| Luma([(x * 100 + y * 7) as u8])));
        assert_eq!(to_pixels(&grey, &spec(1, 2, 2, ResizePolicy::Squash)), vec![0, 100, 7, 107]);
        assert_eq!(to_pixels(&grey, &spec(3, 2, 2, ResizePolicy::Squash))[4..8], [0, 100, 7, 107]);
        for v in [0, 1, 127, 254, 255] {
            assert_eq!(luma(v, v, v), v);
        }
    }

    #[test]
    fn alpha_is_composited_over_black() {
        let img = DynamicImage::ImageRgba8(RgbaImage::from_fn(2, 1, |x, _| Rgba([200, 100, 50, [255, 0][x as usize]])));
        assert_eq!(to_pixels(&img, &spec(3, 1, 2, ResizePolicy::Squash)), vec![200, 0, 100, 0, 50, 0]);
        let half = DynamicImage::ImageRgba8(RgbaImage::from_pixel(1, 1, Rgba([200, 100, 50, 128])));
        assert_eq!(to_pixels(&half, &spec(3, 1, 1, ResizePolicy::Squash)), vec![100, 50, 25]);
    }

    #[test]
    fn policies_keep_or_cut_the_edges() {
        // A 4x2 image: left half red, right half blue, one green column at each edge.
        let img = DynamicImage::ImageRgb8(RgbImage::from_fn(8, 4, |x, _| match x {
            0 | 7 => Rgb([0, 255, 0]),
            1..=3 => Rgb([255, 0, 0]),
            _ => Rgb([0, 0, 255]),
        }));
        let s = to_pixels(&img, &spec(3, 4, 4, ResizePolicy::Squash));
        let c = to_pixels(&img, &spec(3, 4, 4, ResizePolicy::Crop));
        let p = to_pixels(&img, &spec(3, 4, 4, ResizePolicy::Pad));
        let green = |px: &[u8]| px[16..32].iter().map(|&v| v as u32).sum::<u32>();
        assert!(green(&s) > 0, "squash keeps the green edges");
        assert_eq!(green(&c), 0, "a centred square crop cuts the edges off");
        // Pad: the top and bottom rows are black borders.
        assert!(p[0..4].iter().chain(&p[12..16]).all(|&v| v == 0));
        assert!(p[4..12].iter().any(|&v| v > 0));
    }

    #[test]
    fn decode_errors_say_what_is_wrong() {
        assert_eq!(decode(b"").unwrap_err(), "is empty (0 bytes)");
        assert!(decode(b"plain text, no image").unwrap_err().contains("not an image"));
        let mut png = vec![];
        DynamicImage::ImageRgb8(RgbImage::new(16, 16))
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let truncated = decode(&png[..png.len() / 2]).unwrap_err();
        assert!(truncated.contains("PNG") && truncated.contains("truncated"), "{truncated}");
        let mut corrupt = png.clone();
        for b in &mut corrupt[40..60] {
            *b ^= 0x5a;
        }
        let e = decode(&corrupt).unwrap_err();
        assert!(e.contains("PNG") && !e.contains('{'), "{e}");
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("32"), Ok((32, 32)));
        assert_eq!(parse_size("640x480"), Ok((640, 480)));
        assert!(parse_size("0").is_err());
        assert!(parse_size("32x").is_err());
        assert!(parse_size("big").is_err());
    }
}

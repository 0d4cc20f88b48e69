//! An upload's way to a decoded image: the multipart field or the raw body, the size checks
//! made before any pixel is allocated, and the decoding (that of folder data sets).

use super::error::ApiError;
use super::{MAX_SIDE, MAX_UPLOAD};
use axum::http::{header, HeaderMap};

/// The formats an upload may come in, as error messages name them (those of folder data sets).
pub use crate::data::image::FORMATS;

/// The image bytes of a request body: the multipart field `image`, or the body itself.
pub fn image_bytes(headers: &HeaderMap, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let ctype = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let bytes = if ctype.starts_with("multipart/form-data") {
        let boundary = ctype
            .split(';')
            .find_map(|p| p.trim().strip_prefix("boundary="))
            .map(|b| b.trim_matches('"').to_string())
            .ok_or_else(|| ApiError::bad_request("multipart body without a boundary in its Content-Type"))?;
        multipart_field(body, &boundary, "image")
            .ok_or_else(|| ApiError::bad_request("the multipart body has no field named 'image'"))?
    } else {
        body.to_vec()
    };
    if bytes.is_empty() {
        return Err(ApiError::bad_request(format!("empty upload: send a {FORMATS} image")));
    }
    Ok(bytes)
}

/// The contents of field `name` of a `multipart/form-data` body.
pub fn multipart_field(body: &[u8], boundary: &str, name: &str) -> Option<Vec<u8>> {
    let delim = format!("--{boundary}");
    let find = |hay: &[u8], needle: &[u8], from: usize| -> Option<usize> {
        hay.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
    };
    let mut at = find(body, delim.as_bytes(), 0)?;
    loop {
        let start = at + delim.len();
        let next = find(body, delim.as_bytes(), start)?;
        let part = &body[start..next];
        let head_end = find(part, b"\r\n\r\n", 0)?;
        let head = String::from_utf8_lossy(&part[..head_end]).to_lowercase();
        if head.contains(&format!("name=\"{name}\"")) {
            let mut content = &part[head_end + 4..];
            if content.ends_with(b"\r\n") {
                content = &content[..content.len() - 2];
            }
            return Some(content.to_vec());
        }
        at = next;
    }
}

/// Checks what an upload's header declares, before decoding: a format the server reads, sides of
/// at most [`MAX_SIDE`] pixels. Cheap: no pixel is decoded.
pub fn check_upload(bytes: &[u8]) -> Result<(u32, u32), ApiError> {
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ApiError::not_an_image(format!("unreadable upload: {e}")))?;
    match reader.format() {
        Some(f) if f.reading_enabled() => {}
        Some(f) => {
            return Err(ApiError::not_an_image(format!(
                "a {} image, which this server does not decode: send a {FORMATS} image",
                f.extensions_str().first().unwrap_or(&"?").to_uppercase()
            )))
        }
        None => return Err(ApiError::not_an_image(format!("not an image: send a {FORMATS} image"))),
    }
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| ApiError::not_an_image(format!("not an image we can read ({e}): send a {FORMATS} image")))?;
    if w > MAX_SIDE || h > MAX_SIDE {
        return Err(ApiError::too_large(format!(
            "the image declares {w}x{h} pixels; the largest side accepted is {MAX_SIDE}"
        )));
    }
    Ok((w, h))
}

/// Decodes an upload, refusing one over the limits ([`check_upload`]) before allocating it.
pub fn decode_upload(bytes: &[u8]) -> Result<image::DynamicImage, ApiError> {
    check_upload(bytes)?;
    crate::data::image::decode(bytes)
        .map_err(|problem| ApiError::not_an_image(format!("the upload {problem}: send a {FORMATS} image")))
}

/// The largest upload, in words.
pub fn max_upload() -> String {
    format!("{} MB", MAX_UPLOAD >> 20)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn multipart_fields_are_found() {
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nabc\r\n--XX\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNGdata\r\n--XX--\r\n";
        assert_eq!(multipart_field(body, "XX", "image").unwrap(), b"\x89PNGdata");
        assert_eq!(multipart_field(body, "XX", "other").unwrap(), b"abc");
        assert!(multipart_field(body, "XX", "missing").is_none());
    }

    fn encoded(format: image::ImageFormat) -> Vec<u8> {
        let img = image::RgbaImage::from_fn(8, 6, |x, y| image::Rgba([(x * 30) as u8, (y * 40) as u8, 90, 255]));
        let mut buf = std::io::Cursor::new(vec![]);
        image::DynamicImage::ImageRgba8(img).write_to(&mut buf, format).unwrap();
        buf.into_inner()
    }

    #[test]
    fn gif_and_webp_decode_and_what_is_not_an_image_is_415() {
        for f in [image::ImageFormat::Png, image::ImageFormat::Jpeg, image::ImageFormat::Gif, image::ImageFormat::WebP]
        {
            let img = decode_upload(&encoded(f)).unwrap_or_else(|e| panic!("{f:?}: {}", e.message));
            assert_eq!((img.width(), img.height()), (8, 6), "{f:?}");
        }
        let err = decode_upload(b"plain text").unwrap_err();
        assert_eq!(err.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let mut png = encoded(image::ImageFormat::Png);
        png.truncate(png.len() / 2);
        assert_eq!(decode_upload(&png).unwrap_err().status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "a corrupt PNG");
    }
}

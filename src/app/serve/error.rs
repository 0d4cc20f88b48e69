//! The API's error answers: one status per kind of error, and `{"error": "..."}` saying what was
//! wrong and what to do.
//!
//! | status | when |
//! |---|---|
//! | 400 | the request is malformed: a parameter missing, empty or unknown, `models=` naming a model of another data set than `dataset=`, an empty upload, a multipart body without a field `image` |
//! | 404 | a name this server does not have: a page, a model, a data set; a picture a model does not have (a linear model's filters); held-out images that are not on this machine |
//! | 405 | a method the path does not answer (`GET /api/classify`) |
//! | 413 | an upload over [`super::MAX_UPLOAD`] bytes, or an image declaring a side over [`super::MAX_SIDE`] pixels |
//! | 415 | not an image the server decodes (PNG, JPEG, GIF, WebP), or one whose data is corrupt |
//! | 503 | busy: as much heavy work running and waiting as the server takes on ([`super::gate`]); `Retry-After` says when to try again |
//! | 500 | the server's own failure |

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Seconds a `503` asks the client to wait before trying again.
pub const RETRY_AFTER_SECONDS: u64 = 2;

/// An error answer: a status and `{"error": message}`.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What was wrong and what to do.
    pub message: String,
}

impl ApiError {
    /// An answer with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into() }
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404: a name this server does not have.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 413: the upload is too large.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, message)
    }

    /// 415: not an image the server decodes.
    pub fn not_an_image(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, message)
    }

    /// 503: as much heavy work as the server takes on; try again in [`RETRY_AFTER_SECONDS`].
    pub fn busy(running: usize, waiting: usize) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "busy: {running} requests are being worked on and {waiting} are waiting; try again in \
                 {RETRY_AFTER_SECONDS} s"
            ),
        )
    }

    /// 500: the server's own failure.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": self.message }));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            return (self.status, [(header::RETRY_AFTER, RETRY_AFTER_SECONDS.to_string())], body).into_response();
        }
        (self.status, body).into_response()
    }
}

/// The library's errors past the request's checks are the server's own failures: every client
/// error is answered before the work starts, with its own status.
impl From<crate::Error> for ApiError {
    fn from(e: crate::Error) -> Self {
        ApiError::internal(e.to_string())
    }
}

//! The native API's error edge: every failure is `application/problem+json`
//! (RFC 9457) with a stable `code`. Internal causes are logged with the
//! request's span and never returned.

use crate::error::{Error, ErrorKind};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:poolgate:error:<code>`
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable error code, e.g. `UsernameExists`, `NotAuthorized`.
    pub code: String,
}

pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

pub fn problem_response(kind: ErrorKind, detail: &str, retry_after: Option<u64>) -> Response {
    let status =
        StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = Problem {
        type_: format!("urn:poolgate:error:{}", kind.code()),
        title: kind.code().to_owned(),
        status: status.as_u16(),
        detail: detail.to_owned(),
        code: kind.code().to_owned(),
    };
    let mut resp = (status, axum::Json(body)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        if e.kind == ErrorKind::Internal {
            tracing::error!(error = ?e, "internal error");
        } else if let Some(src) = &e.source {
            tracing::warn!(code = e.kind.code(), cause = %src, "request failed");
        }
        problem_response(e.kind, &e.message, e.retry_after)
    }
}

/// A refusal axum made itself, before any handler ran: a path segment that
/// is not UTF-8 or not percent-decodable, a body over the size limit or
/// unreadable, a method the route does not take. axum answers those in
/// `text/plain` (an empty body for 405); each door's router re-renders them
/// in its own protocol's form through [`framework_rejection`]. Handlers never
/// answer a client error in `text/plain`, so the content type tells them apart.
pub struct Rejection {
    pub status: StatusCode,
    pub kind: ErrorKind,
    /// A fixed sentence per kind: nothing of the request is echoed.
    pub detail: &'static str,
    /// The original headers worth keeping (`Allow` on a 405).
    pub allow: Option<HeaderValue>,
}

/// The rejection `resp` carries, if it is one.
pub fn framework_rejection(resp: &Response) -> Option<Rejection> {
    let status = resp.status();
    let plain = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.starts_with("text/plain"));
    let rejected = status.is_client_error()
        && match plain {
            Some(p) => p,
            // axum's default answer to a method the route lacks.
            None => status == StatusCode::METHOD_NOT_ALLOWED,
        };
    if !rejected {
        return None;
    }
    let (kind, detail) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            ErrorKind::MethodNotAllowed,
            "Method not allowed on this endpoint",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            (ErrorKind::PayloadTooLarge, "The request body is too large")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            ErrorKind::UnsupportedMediaType,
            "The request body's content type is not accepted here",
        ),
        StatusCode::NOT_FOUND => (ErrorKind::NotFound, "No such endpoint"),
        _ => (
            ErrorKind::InvalidParameter,
            "The request could not be read: a path segment, the query or the body is malformed \
             (invalid UTF-8 or percent-encoding)",
        ),
    };
    Some(Rejection {
        status: StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::BAD_REQUEST),
        kind,
        detail,
        allow: resp.headers().get(header::ALLOW).cloned(),
    })
}

impl Rejection {
    /// Puts the kept headers back on a re-rendered answer.
    pub fn finish(&self, mut resp: Response) -> Response {
        if let Some(a) = &self.allow {
            resp.headers_mut().insert(header::ALLOW, a.clone());
        }
        resp
    }
}

/// The native API's form of a framework rejection: problem+json.
pub async fn native_rejections(resp: Response) -> Response {
    match framework_rejection(&resp) {
        Some(r) => r.finish(problem_response(r.kind, r.detail, None)),
        None => resp,
    }
}

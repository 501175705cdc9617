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

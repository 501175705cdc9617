//! Extractors that answer in our error format: JSON bodies (syntax, types,
//! unknown fields, size, content type), the admin key, the bearer token.

use super::error::ApiError;
use crate::app::AppState;
use crate::crypto::ct_eq;
use crate::error::{Error, ErrorKind};
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

/// `axum::Json`, with rejections turned into problem+json.
pub struct ApiJson<T>(pub T);

/// `application/json` or any `application/*+json`, as `axum::Json` takes.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError(Error::new(
                ErrorKind::UnsupportedMediaType,
                "Expected a body with Content-Type: application/json",
            )));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| match r.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError(Error::new(
                    ErrorKind::PayloadTooLarge,
                    "The request body is too large",
                )),
                _ => ApiError(Error::invalid(r.body_text())),
            })?;
        // Both stores answer alike: PostgreSQL's text cannot hold U+0000.
        if crate::error::json_has_nul(&bytes) {
            return Err(ApiError(Error::invalid(crate::error::NUL_REFUSED)));
        }
        // Content type and size are checked above: what is left is syntax,
        // types and unknown fields.
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(r) => Err(ApiError(Error::invalid(r.body_text()))),
        }
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for ApiJson<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Query` with problem+json rejections.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(q) => Ok(Self(q.0)),
            Err(r @ QueryRejection::FailedToDeserializeQueryString(_)) => {
                Err(ApiError(Error::invalid(r.body_text())))
            }
            Err(r) => Err(ApiError(Error::invalid(r.body_text()))),
        }
    }
}

fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The admin key of `Authorization: Bearer <key>`, exactly as sent: no
/// trimming, so a key with surrounding whitespace (or a second space) is a
/// different key and is refused.
fn admin_bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = v.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !key.is_empty()).then_some(key)
}

/// Proof that the request carries a configured admin key. Handlers of the
/// admin API take it as an argument, so they cannot run without the check;
/// it holds the `AdminCtx` (actor = the key's fingerprint, door = native)
/// that the admin services require and record.
pub struct Admin(pub crate::audit::AdminCtx);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let unauth = || {
            ApiError(Error::new(
                ErrorKind::Unauthenticated,
                "A valid admin key is required (Authorization: Bearer <key>)",
            ))
        };
        if has_admin_key(state, &parts.headers) {
            let given = admin_bearer(&parts.headers).unwrap_or_default();
            Ok(Admin(crate::audit::AdminCtx::native_key(given)))
        } else {
            Err(unauth())
        }
    }
}

/// The request carries `Authorization: Bearer <a configured admin key>`.
pub fn has_admin_key(state: &AppState, headers: &axum::http::HeaderMap) -> bool {
    let Some(given) = admin_bearer(headers) else {
        return false;
    };
    // Compare against every key, without stopping early.
    let mut ok = false;
    for k in &state.admin_keys {
        ok |= ct_eq(k.expose().as_bytes(), given.as_bytes());
    }
    ok
}

/// A verified access token and its user.
pub struct SignedIn(pub crate::user_pools::auth::Authenticated);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).ok_or_else(|| {
            ApiError(Error::not_authorized(
                "Authorization: Bearer <access token> is required",
            ))
        })?;
        Ok(SignedIn(
            state
                .pools
                .sessions
                .authenticate_access_token(token)
                .await?,
        ))
    }
}

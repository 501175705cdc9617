//! OAuth 2.0 endpoints of a pool's OpenID Provider (Cognito's names):
//! `POST /{pool_id}/oauth2/token` and `POST /{pool_id}/oauth2/revoke`.
//! Form-encoded requests (RFC 6749), JSON answers with `Cache-Control:
//! no-store`, RFC 6749 section 5.2 errors. Client authentication is
//! `client_secret_basic` or `client_secret_post`, never both at once.

use crate::app::AppState;
use crate::user_pools::oauth::{ClientAuth, OAuthError};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use std::collections::BTreeMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{pool_id}/oauth2/token", post(token))
        .route("/{pool_id}/oauth2/revoke", post(revoke))
}

fn no_store(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

fn error_response(e: OAuthError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = (
        status,
        axum::Json(serde_json::json!({"error": e.error, "error_description": e.description})),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED && e.basic {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"poolgate\""),
        );
    }
    no_store(r)
}

/// What axum refuses before a handler runs (a pool id that is not UTF-8,
/// another method, a body over the size limit), as an RFC 6749 section 5.2
/// `invalid_request` with the refusal's own status, uncacheable.
pub async fn rejections(resp: Response) -> Response {
    match super::error::framework_rejection(&resp) {
        Some(r) => r.finish(no_store(
            (
                r.status,
                axum::Json(
                    serde_json::json!({"error": "invalid_request", "error_description": r.detail}),
                ),
            )
                .into_response(),
        )),
        None => resp,
    }
}

/// The form's parameters; a parameter given twice is refused (RFC 6749
/// section 3.2), as is any other content type.
fn form(headers: &HeaderMap, body: &Bytes) -> Result<BTreeMap<String, String>, OAuthError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.split(';').next().map(str::trim) != Some("application/x-www-form-urlencoded") {
        return Err(OAuthError::new(
            "invalid_request",
            "The body must be application/x-www-form-urlencoded",
        ));
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| OAuthError::new("invalid_request", "The body is not a valid form"))?;
    let mut out = BTreeMap::new();
    for (k, v) in pairs {
        if out.insert(k.clone(), v).is_some() {
            return Err(OAuthError::new(
                "invalid_request",
                format!("The parameter {k} is repeated"),
            ));
        }
    }
    Ok(out)
}

/// One form-urlencoded component of HTTP Basic credentials (RFC 6749
/// section 2.3.1 encodes the id and the secret before Base64).
fn form_decode(s: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&format!("v={s}")).ok()?;
    pairs.into_iter().next().map(|(_, v)| v)
}

/// `client_secret_basic` or `client_secret_post` (or a public client naming
/// itself with `client_id`).
fn client_auth(
    headers: &HeaderMap,
    form: &mut BTreeMap<String, String>,
) -> Result<ClientAuth, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        });
    let in_body = (form.remove("client_id"), form.remove("client_secret"));
    match (basic, in_body) {
        (Some(b), (id, None)) => {
            let bad = || OAuthError {
                error: "invalid_client",
                description: "Malformed HTTP Basic credentials".into(),
                basic: true,
            };
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .map_err(|_| bad())?;
            let text = String::from_utf8(raw).map_err(|_| bad())?;
            let (u, p) = text.split_once(':').ok_or_else(bad)?;
            let (client_id, secret) = (
                form_decode(u).ok_or_else(bad)?,
                form_decode(p).ok_or_else(bad)?,
            );
            if id.is_some_and(|id| id != client_id) {
                return Err(OAuthError::new(
                    "invalid_request",
                    "client_id differs from the authenticated client",
                ));
            }
            Ok(ClientAuth {
                client_id,
                secret: Some(secret),
                basic: true,
            })
        }
        (Some(_), (_, Some(_))) => Err(OAuthError::new(
            "invalid_request",
            "Use one client authentication method, not both",
        )),
        (None, (Some(client_id), secret)) => Ok(ClientAuth {
            client_id,
            secret,
            basic: false,
        }),
        (None, (None, _)) => Err(OAuthError::new(
            "invalid_client",
            "Client authentication is required",
        )),
    }
}

/// The form's parameters (client credentials taken out) and the client's
/// authentication.
fn request(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(BTreeMap<String, String>, ClientAuth), OAuthError> {
    let mut f = form(headers, body)?;
    let auth = client_auth(headers, &mut f)?;
    Ok((f, auth))
}

/// Every answer of these endpoints is uncacheable.
fn respond(answer: Result<Response, OAuthError>) -> Response {
    match answer {
        Ok(r) => no_store(r),
        Err(e) => error_response(e),
    }
}

/// The token endpoint: `authorization_code`, `client_credentials` and
/// `refresh_token` grants.
pub async fn token(
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = async {
        let (f, auth) = request(&headers, &body)?;
        let grant = f
            .get("grant_type")
            .cloned()
            .ok_or_else(|| OAuthError::new("invalid_request", "grant_type is required"))?;
        match grant.as_str() {
            "client_credentials" => {
                s.pools
                    .client_credentials_grant(&pool_id, &auth, f.get("scope").map(String::as_str))
                    .await
            }
            "refresh_token" => {
                let rt = f.get("refresh_token").ok_or_else(|| {
                    OAuthError::new("invalid_request", "refresh_token is required")
                })?;
                s.pools.refresh_grant(&pool_id, &auth, rt).await
            }
            "authorization_code" => {
                let code = f
                    .get("code")
                    .ok_or_else(|| OAuthError::new("invalid_request", "code is required"))?;
                s.pools
                    .code_grant(
                        &pool_id,
                        &auth,
                        code,
                        f.get("redirect_uri").map(String::as_str),
                        f.get("code_verifier").map(String::as_str),
                    )
                    .await
            }
            other => Err(OAuthError::new(
                "unsupported_grant_type",
                format!("Unsupported grant_type {other}"),
            )),
        }
    }
    .await;
    respond(answer.map(|t| axum::Json(t).into_response()))
}

/// RFC 7009 token revocation (refresh tokens).
pub async fn revoke(
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = async {
        let (f, auth) = request(&headers, &body)?;
        let token = f
            .get("token")
            .ok_or_else(|| OAuthError::new("invalid_request", "token is required"))?;
        if f.get("token_type_hint")
            .is_some_and(|h| h == "access_token")
        {
            return Err(OAuthError::new(
                "unsupported_token_type",
                "Only refresh tokens can be revoked; access tokens expire",
            ));
        }
        s.pools.oauth_revoke(&pool_id, &auth, token).await
    }
    .await;
    respond(answer.map(|()| StatusCode::OK.into_response()))
}

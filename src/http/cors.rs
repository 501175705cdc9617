//! CORS per app client, with tower-http's `CorsLayer`: a browser origin is
//! allowed on a pool's public endpoints when one of the pool's clients lists
//! it in `allowed_origins`, and on `/v1/me` when any client does (a preflight
//! carries no token, so the pool is not known there). The services answer
//! ([`UserPools::origin_allowed`](crate::user_pools::UserPools::origin_allowed)).
//!
//! Around the layer, what it leaves to us: only requests with an `Origin`
//! (and, for `OPTIONS`, a real preflight) go through it; a refused preflight
//! is a bare 403 and an allowed one a 204; a refused origin gets no CORS
//! header at all; an allowed one also gets `Vary: Origin` and the exposed
//! headers. No credentials, so never a wildcard with them.

use crate::app::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;
use tower::{Layer, ServiceExt};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The layer, built once; its predicate asks the services.
pub fn cors(state: &AppState) -> CorsLayer {
    let pools = state.pools.clone();
    CorsLayer::new()
        .allow_origin(AllowOrigin::async_predicate(
            move |origin: HeaderValue, parts: &axum::http::request::Parts| {
                let path = parts.uri.path();
                let pool_id = path
                    .strip_prefix("/v1/pools/")
                    .and_then(|r| r.split('/').next())
                    .map(str::to_owned);
                let applies = pool_id.is_some() || path == "/v1/me";
                async move {
                    let Ok(origin) = origin.to_str() else {
                        return false;
                    };
                    applies
                        && pools
                            .clients
                            .origin_allowed(pool_id.as_deref(), origin)
                            .await
                }
            },
        ))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-request-id"),
        ])
        .max_age(Duration::from_secs(600))
        .vary([])
}

pub async fn layer(State(cors): State<CorsLayer>, req: Request, next: Next) -> Response {
    if !req.headers().contains_key(header::ORIGIN) {
        return next.run(req).await;
    }
    let preflight = req.method() == Method::OPTIONS;
    if preflight
        && !req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        // tower-http answers every OPTIONS itself; a plain one is the router's.
        return next.run(req).await;
    }
    let Ok(mut resp) = cors.layer(next).oneshot(req).await;
    let allowed = resp
        .headers()
        .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN);
    if preflight {
        if !allowed {
            return StatusCode::FORBIDDEN.into_response();
        }
        *resp.status_mut() = StatusCode::NO_CONTENT;
    }
    if allowed {
        let h = resp.headers_mut();
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("x-request-id, retry-after"),
        );
    }
    resp
}

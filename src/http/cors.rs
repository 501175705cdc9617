//! CORS per app client: a browser origin is allowed on a pool's public
//! endpoints when one of the pool's clients lists it in `allowed_origins`,
//! and on `/v1/me` when any client does (a preflight carries no token, so the
//! pool is not known there). The origin lists are cached for a few seconds.

use crate::app::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::{HashMap, HashSet};
use std::sync::RwLock;
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(10);

/// Pool id → origins its clients allow, and when it was loaded.
type OriginMap = HashMap<String, HashSet<String>>;

#[derive(Default)]
pub struct CorsCache {
    inner: RwLock<Option<(Instant, OriginMap)>>,
}

impl CorsCache {
    pub fn invalidate(&self) {
        *self.inner.write().expect("cors lock") = None;
    }

    async fn allowed(&self, state: &AppState, pool_id: Option<&str>, origin: &str) -> bool {
        let fresh = self
            .inner
            .read()
            .expect("cors lock")
            .as_ref()
            .is_some_and(|(t, _)| t.elapsed() < TTL);
        if !fresh {
            let Ok(map) = state.pools.clients.allowed_origins().await else {
                return false;
            };
            *self.inner.write().expect("cors lock") = Some((Instant::now(), map));
        }
        let guard = self.inner.read().expect("cors lock");
        let Some((_, map)) = guard.as_ref() else {
            return false;
        };
        match pool_id {
            Some(p) => map.get(p).is_some_and(|s| s.contains(origin)),
            None => map.values().any(|s| s.contains(origin)),
        }
    }
}

pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_owned)
    else {
        return next.run(req).await;
    };
    let path = req.uri().path();
    let pool_id = path
        .strip_prefix("/v1/pools/")
        .and_then(|r| r.split('/').next())
        .map(str::to_owned);
    let applies = pool_id.is_some() || path == "/v1/me";
    let allowed = applies
        && state
            .cors
            .allowed(&state, pool_id.as_deref(), &origin)
            .await;
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut resp = if preflight {
        if !allowed {
            return StatusCode::FORBIDDEN.into_response();
        }
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PATCH, DELETE, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type, x-request-id"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        r
    } else {
        next.run(req).await
    };
    if allowed && let Ok(v) = HeaderValue::from_str(&origin) {
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("x-request-id, retry-after"),
        );
    }
    resp
}

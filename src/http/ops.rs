//! Health, metrics and the OpenAPI document.

use crate::app::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
}

/// The process is up.
#[utoipa::path(get, path = "/health/live", tag = "ops", responses((status = 200, body = Object)))]
pub async fn live() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// The store answers.
#[utoipa::path(get, path = "/health/ready", tag = "ops", responses((status = 200, body = Object), (status = 503, body = Object)))]
pub async fn ready(State(s): State<AppState>) -> impl IntoResponse {
    match tokio::time::timeout(std::time::Duration::from_secs(3), s.pools.store.ping()).await {
        Ok(Ok(())) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({ "status": "ok" })),
        ),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({ "status": "store unreachable" })),
        ),
    }
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
}

pub async fn openapi() -> impl IntoResponse {
    axum::Json(super::openapi_doc())
}

//! Health, metrics and the OpenAPI document.

use super::error::{ApiError, problem_response};
use crate::app::AppState;
use crate::config::MetricsAccess;
use crate::error::{Error, ErrorKind};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
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
    match tokio::time::timeout(std::time::Duration::from_secs(3), s.pools.ping()).await {
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

/// Prometheus metrics. On this listener as `metrics.public` says: open,
/// behind an admin key (production's default) or not at all (when
/// `metrics.bind` gives them a listener of their own).
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, content_type = "text/plain"),
    (status = 401, body = super::error::Problem, content_type = "application/problem+json")),
    security((), ("admin_key" = [])))]
pub async fn metrics(State(s): State<AppState>, headers: HeaderMap) -> Response {
    match s.settings.metrics_public_access() {
        MetricsAccess::Open => {}
        MetricsAccess::AdminKey => {
            if !super::extract::has_admin_key(&s, &headers) {
                return ApiError(Error::new(
                    ErrorKind::Unauthenticated,
                    "Metrics need an admin key here (Authorization: Bearer <key>)",
                ))
                .into_response();
            }
        }
        MetricsAccess::Off => {
            return problem_response(ErrorKind::NotFound, "No such endpoint", None);
        }
    }
    render_metrics(&s)
}

fn render_metrics(s: &AppState) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}

/// The router of the metrics listener (`metrics.bind`): `/metrics`, open to
/// whoever reaches that address, and nothing else.
pub fn metrics_listener(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(s): State<AppState>| async move { render_metrics(&s) }),
        )
        .layer(axum::middleware::map_response(
            super::error::native_rejections,
        ))
        .fallback(|| async { problem_response(ErrorKind::NotFound, "No such endpoint", None) })
        .with_state(state)
}

pub async fn openapi() -> impl IntoResponse {
    axum::Json(super::openapi_doc())
}

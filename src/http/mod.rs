//! The HTTP edge: router assembly and middleware (request ids, tracing,
//! metrics, timeout, body limit, CORS, panic catching). Handlers are thin
//! adapters over the services; no business rule lives here.

pub mod admin;
pub mod cognito;
pub mod cors;
pub mod error;
pub mod extract;
pub mod hosted;
pub mod identity;
pub mod oauth;
pub mod oidc;
pub mod ops;
pub mod public;
pub mod sigv4;

use crate::app::AppState;
use crate::error::ErrorKind;
use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use error::problem_response;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(state: AppState) -> Router {
    let body_limit = state.settings.server.body_limit_bytes;
    // Each door re-renders what axum refuses before a handler runs (path,
    // method, body) in its own protocol's form.
    let native = || middleware::map_response(error::native_rejections);
    Router::new()
        .merge(public::router().layer(native()))
        .merge(admin::router().layer(native()))
        .merge(identity::router().layer(native()))
        .merge(cognito::router().layer(middleware::map_response(cognito::rejections)))
        .merge(oidc::router().layer(native()))
        .merge(oauth::router().layer(middleware::map_response(oauth::rejections)))
        .merge(hosted::router().layer(middleware::map_response(hosted::rejections)))
        .merge(ops::router().layer(native()))
        .fallback(|| async { problem_response(ErrorKind::NotFound, "No such endpoint", None) })
        .layer(middleware::from_fn_with_state(cors::cors(&state), cors::layer))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(state.settings.server.request_timeout_secs),
        ))
        .layer(middleware::map_response(timed_out))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(
            ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new([axum::http::header::AUTHORIZATION, axum::http::header::COOKIE]))
                .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
                // 5xx are logged by our error edge (internal errors with their
                // cause); the deliberate 503s of load shedding must not become
                // one ERROR line each during a flood.
                .layer(TraceLayer::new_for_http().on_failure(()).make_span_with(|req: &Request| {
                    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_default();
                    let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), route, request_id = id)
                }))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
                .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
                    tracing::error!("handler panicked");
                    problem_response(ErrorKind::Internal, "internal error", None)
                })),
        )
        .with_state(state)
}

/// The request timeout's answer (`TimeoutLayer`'s bare 408, which no handler
/// gives): 503 with a problem and `Retry-After: 1`, as it always was.
async fn timed_out(resp: Response) -> Response {
    let bare = !resp
        .headers()
        .contains_key(axum::http::header::CONTENT_TYPE);
    if resp.status() == StatusCode::REQUEST_TIMEOUT && bare {
        return problem_response(
            ErrorKind::ServiceUnavailable,
            "The request timed out",
            Some(1),
        );
    }
    resp
}

/// Metrics, the request timeout (the layer below) and the audit context (IP, user agent,
/// request id). Admin changes are recorded by the services (`AdminCtx`).
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let ctx = {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        crate::audit::RequestContext {
            ip: req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| {
                crate::user_pools::limits::client_ip(
                    c.0.ip(),
                    header("x-forwarded-for").as_deref(),
                    &state.settings.server.trusted_proxies,
                )
                .to_string()
            }),
            user_agent: header("user-agent"),
            request_id: header("x-request-id"),
        }
    };
    let resp = crate::audit::with_request(ctx, next.run(req)).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method, "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    resp
}

/// The `method` label: the standard methods by name, any other token
/// `other`, so that a client inventing methods cannot add series (memory, and
/// the size of every scrape). Routes are labelled by their template only.
fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "poolgate", description = "Self-hosted user pools, identity pools and scoped storage credentials."),
    paths(
        public::sign_up, public::confirm, public::resend, public::sign_in, public::refresh, public::revoke, public::me,
        public::forgot_password, public::reset_password, public::change_password, public::sign_out,
        public::update_me, public::delete_me, public::verify_attribute, public::send_attribute_code,
        public::respond_to_challenge, admin::create_user,
        public::mfa, public::set_mfa, public::start_user_auth, public::associate_totp, public::verify_totp,
        public::setup_associate_totp, public::setup_verify_totp, admin::user_mfa, admin::set_user_mfa,
        public::start_passkey_registration, public::complete_passkey_registration, public::list_passkeys,
        public::delete_passkey, admin::user_passkeys, admin::delete_user_passkey,
        admin::create_pool, admin::list_pools, admin::get_pool, admin::update_pool, admin::delete_pool,
        admin::create_client, admin::list_clients, admin::get_client, admin::update_client, admin::delete_client,
        admin::rotate_keys, admin::outbox,
        admin::list_users, admin::get_user, admin::delete_user, admin::disable_user, admin::enable_user,
        admin::set_user_password, admin::confirm_user, admin::sign_out_user,
        admin::create_group, admin::list_groups, admin::get_group, admin::update_group, admin::delete_group,
        admin::create_resource_server, admin::list_resource_servers, admin::get_resource_server,
        admin::update_resource_server, admin::delete_resource_server,
        admin::create_identity_provider, admin::list_identity_providers, admin::get_identity_provider,
        admin::update_identity_provider, admin::delete_identity_provider, admin::link_identity, admin::unlink_identity,
        admin::add_member, admin::list_members, admin::remove_member, admin::user_groups,
        admin::pool_events, admin::user_events, admin::admin_events, admin::export_users, admin::import_users, admin::reset_user_password, admin::update_user_attributes,
        identity::create_pool, identity::list_pools, identity::get_pool, identity::update_pool, identity::delete_pool,
        identity::list_identities, identity::get_identity, identity::delete_identity, identity::disable_identity, identity::enable_identity, identity::create_role, identity::list_roles,
        identity::get_role, identity::update_role, identity::delete_role, identity::get_id, identity::credentials, identity::openid_token, identity::developer_identity,
        identity::openid_jwks, identity::openid_discovery,
        oidc::jwks, oidc::discovery,
        ops::live, ops::ready, ops::metrics,
    ),
    modifiers(&Security),
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "admin_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        c.add_security_scheme(
            "access_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

pub fn openapi_doc() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};
    use tower::ServiceExt;

    /// A handler that never answers meets the timeout: the same 503 problem as before
    /// TimeoutLayer (status, headers, body); any other answer passes untouched.
    #[tokio::test]
    async fn a_request_that_times_out_gets_a_503_problem() {
        let app = Router::new()
            .route("/slow", axum::routing::get(std::future::pending::<()>))
            .route(
                "/quick",
                axum::routing::get(|| async { (StatusCode::REQUEST_TIMEOUT, "own") }),
            )
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                // `/slow` never answers, so the outcome does not depend on the clock.
                Duration::from_millis(1),
            ))
            .layer(middleware::map_response(timed_out));
        let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
        let resp = app.clone().oneshot(get("/slow")).await.unwrap();
        let want = problem_response(
            ErrorKind::ServiceUnavailable,
            "The request timed out",
            Some(1),
        );
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        for h in ["content-type", "retry-after"] {
            assert_eq!(resp.headers().get(h), want.headers().get(h), "{h}");
        }
        let body = |r: Response| to_bytes(r.into_body(), 1 << 16);
        assert_eq!(body(resp).await.unwrap(), body(want).await.unwrap());
        let quick = app.oneshot(get("/quick")).await.unwrap();
        assert_eq!(quick.status(), StatusCode::REQUEST_TIMEOUT);
    }
}

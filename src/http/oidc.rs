//! Each pool is an OpenID Provider at `{public_url}/{pool_id}`: discovery and
//! JWKS; the token and revocation endpoints are in `oauth.rs`, the
//! authorization endpoint and hosted pages in `hosted.rs`.

use super::error::ApiResult;
use crate::app::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{pool_id}/.well-known/jwks.json", get(jwks))
        .route(
            "/{pool_id}/.well-known/openid-configuration",
            get(discovery),
        )
}

/// The pool's public signing keys.
#[utoipa::path(get, path = "/{pool_id}/.well-known/jwks.json", tag = "oidc", params(("pool_id" = String, Path)),
    responses((status = 200, description = "JWK set", body = Object)))]
pub async fn jwks(
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let pool = s.pools.pool(&pool_id).await?;
    let body = s.pools.keys.jwks(&pool.id).await?;
    Ok((
        [(header::CACHE_CONTROL, "public, max-age=60")],
        axum::Json(body),
    ))
}

/// OpenID Connect discovery.
#[utoipa::path(get, path = "/{pool_id}/.well-known/openid-configuration", tag = "oidc", params(("pool_id" = String, Path)),
    responses((status = 200, description = "OpenID provider metadata", body = Object)))]
pub async fn discovery(
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let pool = s.pools.pool(&pool_id).await?;
    let iss = s.pools.issuer(&pool.id);
    let alg = pool.settings.signing_algorithm.as_str();
    Ok(axum::Json(serde_json::json!({
        "issuer": iss,
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "authorization_endpoint": format!("{iss}/oauth2/authorize"),
        "token_endpoint": format!("{iss}/oauth2/token"),
        "userinfo_endpoint": format!("{iss}/oauth2/userInfo"),
        "revocation_endpoint": format!("{iss}/oauth2/revoke"),
        "end_session_endpoint": format!("{iss}/logout"),
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [alg],
        "response_types_supported": ["code"],
        "scopes_supported": ["openid", "email", "phone", "profile", "aws.cognito.signin.user.admin"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "email", "email_verified",
            "phone_number", "phone_number_verified", "cognito:username", "cognito:groups"],
    })))
}

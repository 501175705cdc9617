//! Identity pools over HTTP: the admin API (identity pools, roles, the deny
//! list) and the federation endpoints apps call.

use super::error::{ApiResult, Problem};
use super::extract::{Admin, ApiJson, ApiQuery};
use crate::app::AppState;
use crate::identity::{
    CreateIdentityPool, CredentialsView, DeveloperIdentity, GetCredentials, GetId, GetOpenIdToken,
    IdentityDescription, IdentityIdView, IdentityPoolView, OpenIdTokenView, PutRole, RoleView,
};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Serialize;
use utoipa::ToSchema;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/admin/identity-pools",
            post(create_pool).get(list_pools),
        )
        .route(
            "/v1/admin/identity-pools/{id}",
            get(get_pool).put(update_pool).delete(delete_pool),
        )
        .route(
            "/v1/admin/identity-pools/{id}/identities",
            get(list_identities),
        )
        .route(
            "/v1/admin/identity-pools/{id}/identities/{identity_id}",
            get(get_identity).delete(delete_identity),
        )
        .route(
            "/v1/admin/identity-pools/{id}/identities/{identity_id}/disable",
            post(disable_identity),
        )
        .route(
            "/v1/admin/identity-pools/{id}/identities/{identity_id}/enable",
            post(enable_identity),
        )
        .route("/v1/admin/roles", post(create_role).get(list_roles))
        .route(
            "/v1/admin/roles/{name}",
            get(get_role).put(update_role).delete(delete_role),
        )
        .route("/v1/identity-pools/{id}/identity", post(get_id))
        .route("/v1/identity-pools/{id}/credentials", post(credentials))
        .route("/v1/identity-pools/{id}/openid-token", post(openid_token))
        .route(
            "/v1/admin/identity-pools/{id}/developer-identities",
            post(developer_identity),
        )
        .route("/v1/identity-pools/.well-known/jwks.json", get(openid_jwks))
        .route(
            "/v1/identity-pools/.well-known/openid-configuration",
            get(openid_discovery),
        )
}

/// GetOpenIdToken: a JWT for the identity signed by this server.
#[utoipa::path(post, path = "/v1/identity-pools/{id}/openid-token", tag = "identity pools", params(("id" = String, Path)),
    request_body = GetOpenIdToken,
    responses((status = 200, body = OpenIdTokenView), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn openid_token(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<GetOpenIdToken>,
) -> ApiResult<ApiJson<OpenIdTokenView>> {
    Ok(ApiJson(s.identity.openid_token(&id, req).await?))
}

/// GetOpenIdTokenForDeveloperIdentity: for the app's backend, with the admin key.
#[utoipa::path(post, path = "/v1/admin/identity-pools/{id}/developer-identities", tag = "identity pools",
    params(("id" = String, Path)), request_body = DeveloperIdentity,
    responses((status = 200, body = OpenIdTokenView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn developer_identity(
    _: Admin,
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<DeveloperIdentity>,
) -> ApiResult<ApiJson<OpenIdTokenView>> {
    Ok(ApiJson(s.identity.developer_identity(&id, req).await?))
}

/// The keys of identity OpenID tokens.
#[utoipa::path(get, path = "/v1/identity-pools/.well-known/jwks.json", tag = "identity pools",
    responses((status = 200, body = Object)))]
pub async fn openid_jwks(State(s): State<AppState>) -> axum::Json<serde_json::Value> {
    axum::Json(s.identity.openid_jwks())
}

/// Discovery for identity OpenID tokens (issuer and JWKS).
#[utoipa::path(get, path = "/v1/identity-pools/.well-known/openid-configuration", tag = "identity pools",
    responses((status = 200, body = Object)))]
pub async fn openid_discovery(State(s): State<AppState>) -> axum::Json<serde_json::Value> {
    let issuer = s.identity.openid_issuer();
    axum::Json(serde_json::json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "id_token_signing_alg_values_supported": ["ES256"],
        "subject_types_supported": ["public"],
        "response_types_supported": ["id_token"],
    }))
}

#[derive(Serialize, ToSchema)]
pub struct IdentityPoolList {
    pub identity_pools: Vec<IdentityPoolView>,
    pub next: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RoleList {
    pub roles: Vec<RoleView>,
}

/// Create an identity pool.
#[utoipa::path(post, path = "/v1/admin/identity-pools", tag = "identity pools", request_body = CreateIdentityPool,
    responses((status = 201, body = IdentityPoolView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn create_pool(
    Admin(admin): Admin,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<CreateIdentityPool>,
) -> ApiResult<(StatusCode, ApiJson<IdentityPoolView>)> {
    let p = s.identity.create_pool(&admin, req).await?;
    Ok((StatusCode::CREATED, ApiJson((&p).into())))
}

/// List identity pools by id, with a cursor.
#[utoipa::path(get, path = "/v1/admin/identity-pools", tag = "identity pools", params(super::admin::Page),
    responses((status = 200, body = IdentityPoolList)), security(("admin_key" = [])))]
pub async fn list_pools(
    _: Admin,
    State(s): State<AppState>,
    ApiQuery(page): ApiQuery<super::admin::Page>,
) -> ApiResult<ApiJson<IdentityPoolList>> {
    let limit = page.limit.unwrap_or(60).clamp(1, 60);
    let pools = s.identity.list_pools(page.after.as_deref(), limit).await?;
    let next = (pools.len() as i64 == limit)
        .then(|| pools.last().map(|p| p.id.clone()))
        .flatten();
    Ok(ApiJson(IdentityPoolList {
        identity_pools: pools.iter().map(Into::into).collect(),
        next,
    }))
}

/// An identity pool.
#[utoipa::path(get, path = "/v1/admin/identity-pools/{id}", tag = "identity pools", params(("id" = String, Path)),
    responses((status = 200, body = IdentityPoolView), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn get_pool(
    _: Admin,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<IdentityPoolView>> {
    Ok(ApiJson((&s.identity.get_pool(&id).await?).into()))
}

/// Replace an identity pool's name and settings.
#[utoipa::path(put, path = "/v1/admin/identity-pools/{id}", tag = "identity pools", params(("id" = String, Path)),
    request_body = CreateIdentityPool,
    responses((status = 200, body = IdentityPoolView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn update_pool(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CreateIdentityPool>,
) -> ApiResult<ApiJson<IdentityPoolView>> {
    Ok(ApiJson(
        (&s.identity.update_pool(&admin, &id, req).await?).into(),
    ))
}

/// Delete an identity pool with its identities.
#[utoipa::path(delete, path = "/v1/admin/identity-pools/{id}", tag = "identity pools", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn delete_pool(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.identity.delete_pool(&admin, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct IdentityList {
    pub identities: Vec<IdentityDescription>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

/// List a pool's identities (with the providers each is linked to).
#[utoipa::path(get, path = "/v1/admin/identity-pools/{id}/identities", tag = "identity pools",
    params(("id" = String, Path), super::admin::Page),
    responses((status = 200, body = IdentityList), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn list_identities(
    _: Admin,
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(page): ApiQuery<super::admin::Page>,
) -> ApiResult<ApiJson<IdentityList>> {
    let limit = page.limit.unwrap_or(60).clamp(1, 60);
    let identities = s
        .identity
        .list_identities(&id, page.after.as_deref(), limit, false)
        .await?;
    let next = (identities.len() as i64 == limit)
        .then(|| identities.last().map(|i| i.identity_id.clone()))
        .flatten();
    Ok(ApiJson(IdentityList { identities, next }))
}

#[utoipa::path(get, path = "/v1/admin/identity-pools/{id}/identities/{identity_id}", tag = "identity pools",
    params(("id" = String, Path), ("identity_id" = String, Path)),
    responses((status = 200, body = IdentityDescription), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn get_identity(
    _: Admin,
    State(s): State<AppState>,
    Path((id, identity_id)): Path<(String, String)>,
) -> ApiResult<ApiJson<IdentityDescription>> {
    Ok(ApiJson(identity_in(&s, &id, &identity_id).await?))
}

async fn identity_in(
    s: &AppState,
    pool_id: &str,
    identity_id: &str,
) -> crate::error::Result<IdentityDescription> {
    let d = s.identity.describe_identity(identity_id).await?;
    if d.identity_pool_id != pool_id {
        return Err(crate::error::Error::new(
            crate::error::ErrorKind::ResourceNotFound,
            "Identity not found",
        ));
    }
    Ok(d)
}

/// Delete an identity: its credentials stop working, its logins are free.
#[utoipa::path(delete, path = "/v1/admin/identity-pools/{id}/identities/{identity_id}", tag = "identity pools",
    params(("id" = String, Path), ("identity_id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn delete_identity(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path((id, identity_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    identity_in(&s, &id, &identity_id).await?;
    s.identity.delete_identities(&admin, &[identity_id]).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Disable an identity: its credentials stop working on every node within a second.
#[utoipa::path(post, path = "/v1/admin/identity-pools/{id}/identities/{identity_id}/disable", tag = "identity pools",
    params(("id" = String, Path), ("identity_id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn disable_identity(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path((id, identity_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.identity
        .set_identity_disabled(&admin, &id, &identity_id, true)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Enable a disabled identity.
#[utoipa::path(post, path = "/v1/admin/identity-pools/{id}/identities/{identity_id}/enable", tag = "identity pools",
    params(("id" = String, Path), ("identity_id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn enable_identity(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path((id, identity_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.identity
        .set_identity_disabled(&admin, &id, &identity_id, false)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create a role with an IAM policy document (validated; errors name the path).
#[utoipa::path(post, path = "/v1/admin/roles", tag = "identity pools", request_body = PutRole,
    responses((status = 201, body = RoleView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn create_role(
    Admin(admin): Admin,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<PutRole>,
) -> ApiResult<(StatusCode, ApiJson<RoleView>)> {
    let r = s.identity.create_role(&admin, req).await?;
    Ok((StatusCode::CREATED, ApiJson((&r).into())))
}

/// List roles.
#[utoipa::path(get, path = "/v1/admin/roles", tag = "identity pools",
    responses((status = 200, body = RoleList)), security(("admin_key" = [])))]
pub async fn list_roles(_: Admin, State(s): State<AppState>) -> ApiResult<ApiJson<RoleList>> {
    let roles = s.identity.list_roles().await?;
    Ok(ApiJson(RoleList {
        roles: roles.iter().map(Into::into).collect(),
    }))
}

/// A role, by name or ARN.
#[utoipa::path(get, path = "/v1/admin/roles/{name}", tag = "identity pools", params(("name" = String, Path)),
    responses((status = 200, body = RoleView), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn get_role(
    _: Admin,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<ApiJson<RoleView>> {
    Ok(ApiJson((&s.identity.get_role(&name).await?).into()))
}

/// Replace a role's policy and maximum session.
#[utoipa::path(put, path = "/v1/admin/roles/{name}", tag = "identity pools", params(("name" = String, Path)), request_body = PutRole,
    responses((status = 200, body = RoleView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn update_role(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<PutRole>,
) -> ApiResult<ApiJson<RoleView>> {
    Ok(ApiJson(
        (&s.identity.update_role(&admin, &name, req).await?).into(),
    ))
}

/// Delete a role.
#[utoipa::path(delete, path = "/v1/admin/roles/{name}", tag = "identity pools", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn delete_role(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    s.identity.delete_role(&admin, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// GetId: the identity for these logins, or a new guest identity.
#[utoipa::path(post, path = "/v1/identity-pools/{id}/identity", tag = "identity pools", params(("id" = String, Path)),
    request_body = GetId,
    responses((status = 200, body = IdentityIdView), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn get_id(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<GetId>,
) -> ApiResult<ApiJson<IdentityIdView>> {
    Ok(ApiJson(IdentityIdView {
        identity_id: s.identity.get_id(&id, req).await?,
    }))
}

/// GetCredentialsForIdentity: short-lived storage credentials for the identity's role.
#[utoipa::path(post, path = "/v1/identity-pools/{id}/credentials", tag = "identity pools", params(("id" = String, Path)),
    request_body = GetCredentials,
    responses((status = 200, body = CredentialsView), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn credentials(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<GetCredentials>,
) -> ApiResult<ApiJson<CredentialsView>> {
    Ok(ApiJson(s.identity.credentials(&id, req).await?))
}

//! The admin API (`Authorization: Bearer <admin key>`): pools, app clients,
//! signing keys, and the dev mailer's outbox.

use super::error::{ApiError, ApiResult, Problem};
use super::extract::{Admin, ApiJson, ApiQuery};
use crate::app::AppState;
use crate::error::{Error, ErrorKind};
use crate::model::{AuditEvent, Group, OutboxMessage, ResourceServer};
use crate::user_pools::admin::{ClientView, CreateClient, CreatePool, PoolView};
use crate::user_pools::federation::{IdentityProviderView, LinkIdentity, PutIdentityProvider};
use crate::user_pools::groups::{AddMember, CreateGroup, UpdateGroup};
use crate::user_pools::mfa::{MfaPreference, MfaView};
use crate::user_pools::resource_servers::PutResourceServer;
use crate::user_pools::signup::CodeDelivery;
use crate::user_pools::transfer::{ExportedUser, ImportReport};
use crate::user_pools::users::{AdminCreateUser, AdminUpdateAttributes, SetPassword, UserView};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/pools", post(create_pool).get(list_pools))
        .route(
            "/v1/admin/pools/{pool_id}",
            get(get_pool).patch(update_pool).delete(delete_pool),
        )
        .route(
            "/v1/admin/pools/{pool_id}/clients",
            post(create_client).get(list_clients),
        )
        .route(
            "/v1/admin/pools/{pool_id}/clients/{client_id}",
            get(get_client).patch(update_client).delete(delete_client),
        )
        .route("/v1/admin/pools/{pool_id}/keys/rotate", post(rotate_keys))
        .route(
            "/v1/admin/pools/{pool_id}/groups",
            post(create_group).get(list_groups),
        )
        .route(
            "/v1/admin/pools/{pool_id}/groups/{group}",
            get(get_group).patch(update_group).delete(delete_group),
        )
        .route(
            "/v1/admin/pools/{pool_id}/groups/{group}/members",
            post(add_member).get(list_members),
        )
        .route(
            "/v1/admin/pools/{pool_id}/groups/{group}/members/{username}",
            axum::routing::delete(remove_member),
        )
        .route(
            "/v1/admin/pools/{pool_id}/users/{username}/groups",
            get(user_groups),
        )
        .route(
            "/v1/admin/pools/{pool_id}/users",
            get(list_users).post(create_user),
        )
        .route("/v1/admin/events", get(admin_events))
        .route("/v1/admin/pools/{pool_id}/events", get(pool_events))
        .route(
            "/v1/admin/pools/{pool_id}/users/{username}/events",
            get(user_events),
        )
        .route(
            "/v1/admin/pools/{pool_id}/users/{username}",
            get(get_user).delete(delete_user),
        )
        .route(
            "/v1/admin/pools/{pool_id}/users/{username}/disable",
            post(disable_user),
        )
        .route(
            "/v1/admin/pools/{pool_id}/users/{username}/enable",
            post(enable_user),
        )
        .route(
            "/v1/admin/pools/{pool_id}/users/{username}/password",
            post(set_user_password),
        )
        .route(
            "/v1/admin/pools/{pool_id}/users/{username}/confirm",
            post(confirm_user),
        )
        .route(
            "/v1/admin/pools/{pool_id}/users/{username}/reset-password",
            post(reset_user_password),
        )
        .route(
            "/v1/admin/pools/{pool_id}/users/{username}/attributes",
            axum::routing::patch(update_user_attributes),
        )
        .route(
            "/v1/admin/pools/{pool_id}/users/{username}/signout",
            post(sign_out_user),
        )
        .route(
            "/v1/admin/pools/{pool_id}/resource-servers",
            post(create_resource_server).get(list_resource_servers),
        )
        .route(
            "/v1/admin/pools/{pool_id}/resource-servers/{identifier}",
            get(get_resource_server)
                .put(update_resource_server)
                .delete(delete_resource_server),
        )
        .route(
            "/v1/admin/pools/{pool_id}/identity-providers",
            post(create_identity_provider).get(list_identity_providers),
        )
        .route(
            "/v1/admin/pools/{pool_id}/identity-providers/{name}",
            get(get_identity_provider)
                .put(update_identity_provider)
                .delete(delete_identity_provider),
        )
        .route(
            "/v1/admin/pools/{pool_id}/users/{username}/identities",
            post(link_identity),
        )
        .route(
            "/v1/admin/pools/{pool_id}/users/{username}/mfa",
            get(user_mfa).put(set_user_mfa),
        )
        .route(
            "/v1/admin/pools/{pool_id}/users/{username}/passkeys",
            get(user_passkeys),
        )
        .route(
            "/v1/admin/pools/{pool_id}/users/{username}/passkeys/{credential_id}",
            axum::routing::delete(delete_user_passkey),
        )
        .route(
            "/v1/admin/pools/{pool_id}/identities/{provider}/{subject}",
            axum::routing::delete(unlink_identity),
        )
        .route("/v1/admin/outbox", get(outbox))
        .route("/v1/admin/pools/{pool_id}/export", get(export_users))
        .route(
            "/v1/admin/pools/{pool_id}/import",
            post(import_users).layer(axum::extract::DefaultBodyLimit::max(IMPORT_LIMIT_BYTES)),
        )
}

/// Largest import upload; split bigger files.
pub const IMPORT_LIMIT_BYTES: usize = 64 << 20;
const EXPORT_PAGE: i64 = 500;

/// Export a pool's users as JSON Lines (`application/x-ndjson`), one user
/// per line with attributes, status, groups and password hash, streamed page
/// by page. The file is what `import` takes.
#[utoipa::path(get, path = "/v1/admin/pools/{pool_id}/export", tag = "admin", params(("pool_id" = String, Path)),
    responses((status = 200, body = ExportedUser, content_type = "application/x-ndjson", description = "one ExportedUser per line"),
        (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn export_users(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
) -> ApiResult<axum::response::Response> {
    // The first page before answering, so an unknown pool is a clean 404.
    let first = s
        .pools
        .export_users(&admin, &pool_id, None, EXPORT_PAGE)
        .await?;
    let filename = format!("attachment; filename=\"{pool_id}-users.jsonl\"");
    let stream =
        futures_util::stream::unfold(Some((first, s, pool_id, admin)), |state| async move {
            let (page, s, pool_id, admin) = state?;
            if page.is_empty() {
                return None;
            }
            let mut chunk = Vec::with_capacity(page.len() * 512);
            for u in &page {
                if serde_json::to_writer(&mut chunk, u).is_err() {
                    return Some((Err(std::io::Error::other("serialisation failed")), None));
                }
                chunk.push(b'\n');
            }
            let next = if (page.len() as i64) < EXPORT_PAGE {
                Ok(vec![])
            } else {
                let after = page.last().and_then(|u| u.sub.clone());
                s.pools
                    .export_users(&admin, &pool_id, after.as_deref(), EXPORT_PAGE)
                    .await
            };
            match next {
                Ok(next) => Some((Ok(chunk), Some((next, s, pool_id, admin)))),
                Err(e) => {
                    // The body is cut short: the client sees a truncated file.
                    tracing::error!(error = ?e, "export stopped");
                    Some((Ok(chunk), None))
                }
            }
        });
    let resp = axum::response::Response::builder()
        .header(axum::http::header::CONTENT_TYPE, "application/x-ndjson")
        .header(axum::http::header::CONTENT_DISPOSITION, filename)
        .body(axum::body::Body::from_stream(stream))
        .map_err(|e| ApiError(Error::internal(e)))?;
    Ok(resp)
}

/// Import users from JSON Lines (the export's format). Accepts argon2,
/// bcrypt, scrypt and PBKDF2 hashes (PHC or modular-crypt form); each is
/// checked at sign-in and replaced by argon2id. Lines that fail are listed
/// by number; the others are imported.
#[utoipa::path(post, path = "/v1/admin/pools/{pool_id}/import", tag = "admin", params(("pool_id" = String, Path)),
    request_body(content = ExportedUser, content_type = "application/x-ndjson", description = "one ExportedUser per line"),
    responses((status = 200, body = ImportReport), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn import_users(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<ApiJson<ImportReport>> {
    let ct = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if !matches!(
        ct.as_deref(),
        Some("application/x-ndjson" | "application/jsonl" | "application/json-lines")
    ) {
        return Err(ApiError(Error::new(
            ErrorKind::UnsupportedMediaType,
            "Send JSON Lines with Content-Type: application/x-ndjson",
        )));
    }
    Ok(ApiJson(
        s.pools.import_users(&admin, &pool_id, &body).await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// Cursor: the `next` of the previous page.
    pub after: Option<String>,
    /// 1–60, default 60.
    pub limit: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UserPage {
    /// Cognito's filter syntax, conditions joined by `and`:
    /// `email ^= "ali" and status = "CONFIRMED"` (`=` exact, `^=` prefix).
    pub filter: Option<String>,
    /// Cursor: the `next` of the previous page.
    pub after: Option<String>,
    /// 1–60, default 60.
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct PoolList {
    pub pools: Vec<PoolView>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ClientList {
    pub clients: Vec<ClientView>,
}

#[derive(Serialize, ToSchema)]
pub struct Rotated {
    /// The new key's id; it signs after a publication delay.
    pub kid: String,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OutboxQuery {
    pub to: Option<String>,
    pub pool_id: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct Outbox {
    pub messages: Vec<OutboxMessage>,
}

/// Create a user pool (with its first signing key).
#[utoipa::path(post, path = "/v1/admin/pools", tag = "admin", request_body = CreatePool,
    responses((status = 201, body = PoolView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn create_pool(
    Admin(admin): Admin,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<CreatePool>,
) -> ApiResult<(StatusCode, ApiJson<PoolView>)> {
    let p = s.pools.create_pool(&admin, req).await?;
    Ok((StatusCode::CREATED, ApiJson(s.pools.pool_view(&p))))
}

/// List user pools, by id, with cursor pagination.
#[utoipa::path(get, path = "/v1/admin/pools", tag = "admin", params(Page),
    responses((status = 200, body = PoolList)), security(("admin_key" = [])))]
pub async fn list_pools(
    _: Admin,
    State(s): State<AppState>,
    ApiQuery(page): ApiQuery<Page>,
) -> ApiResult<ApiJson<PoolList>> {
    let limit = page.limit.unwrap_or(60).clamp(1, 60);
    let pools = s.pools.list_pools(page.after.as_deref(), limit).await?;
    let next = (pools.len() as i64 == limit)
        .then(|| pools.last().map(|p| p.id.clone()))
        .flatten();
    Ok(ApiJson(PoolList {
        pools: pools.iter().map(|p| s.pools.pool_view(p)).collect(),
        next,
    }))
}

#[utoipa::path(get, path = "/v1/admin/pools/{pool_id}", tag = "admin", params(("pool_id" = String, Path)),
    responses((status = 200, body = PoolView), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn get_pool(
    _: Admin,
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
) -> ApiResult<ApiJson<PoolView>> {
    Ok(ApiJson(s.pools.pool_view(&*s.pools.pool(&pool_id).await?)))
}

/// Update a pool with a JSON merge patch of `{name, ...settings}`.
#[utoipa::path(patch, path = "/v1/admin/pools/{pool_id}", tag = "admin", params(("pool_id" = String, Path)),
    request_body = Object,
    responses((status = 200, body = PoolView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn update_pool(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    ApiJson(patch): ApiJson<serde_json::Value>,
) -> ApiResult<ApiJson<PoolView>> {
    Ok(ApiJson(s.pools.pool_view(
        &s.pools.update_pool(&admin, &pool_id, &patch).await?,
    )))
}

/// Delete a pool and everything in it.
#[utoipa::path(delete, path = "/v1/admin/pools/{pool_id}", tag = "admin", params(("pool_id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn delete_pool(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
) -> ApiResult<StatusCode> {
    s.pools.delete_pool(&admin, &pool_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create an app client (optionally with a generated secret).
#[utoipa::path(post, path = "/v1/admin/pools/{pool_id}/clients", tag = "admin", params(("pool_id" = String, Path)),
    request_body = CreateClient,
    responses((status = 201, body = ClientView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn create_client(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    ApiJson(req): ApiJson<CreateClient>,
) -> ApiResult<(StatusCode, ApiJson<ClientView>)> {
    let c = s.pools.create_client(&admin, &pool_id, req).await?;
    Ok((StatusCode::CREATED, ApiJson(s.pools.client_view(&c)?)))
}

#[utoipa::path(get, path = "/v1/admin/pools/{pool_id}/clients", tag = "admin", params(("pool_id" = String, Path)),
    responses((status = 200, body = ClientList)), security(("admin_key" = [])))]
pub async fn list_clients(
    _: Admin,
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
) -> ApiResult<ApiJson<ClientList>> {
    s.pools.pool(&pool_id).await?;
    let clients = s.pools.clients.list_clients(&pool_id).await?;
    Ok(ApiJson(ClientList {
        clients: clients
            .iter()
            .map(|c| s.pools.client_view(c))
            .collect::<Result<_, _>>()?,
    }))
}

#[utoipa::path(get, path = "/v1/admin/pools/{pool_id}/clients/{client_id}", tag = "admin",
    params(("pool_id" = String, Path), ("client_id" = String, Path)),
    responses((status = 200, body = ClientView), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn get_client(
    _: Admin,
    State(s): State<AppState>,
    Path((pool_id, client_id)): Path<(String, String)>,
) -> ApiResult<ApiJson<ClientView>> {
    Ok(ApiJson(s.pools.client_view(
        &s.pools.get_client(&pool_id, &client_id).await?,
    )?))
}

/// Update a client with a JSON merge patch of `{name, ...settings}`.
#[utoipa::path(patch, path = "/v1/admin/pools/{pool_id}/clients/{client_id}", tag = "admin",
    params(("pool_id" = String, Path), ("client_id" = String, Path)), request_body = Object,
    responses((status = 200, body = ClientView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn update_client(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path((pool_id, client_id)): Path<(String, String)>,
    ApiJson(patch): ApiJson<serde_json::Value>,
) -> ApiResult<ApiJson<ClientView>> {
    let c = s
        .pools
        .update_client(&admin, &pool_id, &client_id, &patch)
        .await?;
    Ok(ApiJson(s.pools.client_view(&c)?))
}

#[utoipa::path(delete, path = "/v1/admin/pools/{pool_id}/clients/{client_id}", tag = "admin",
    params(("pool_id" = String, Path), ("client_id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn delete_client(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path((pool_id, client_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.pools.delete_client(&admin, &pool_id, &client_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Publish a new signing key; it signs after a short publication delay and
/// the old keys stay in the JWKS until their tokens have expired.
#[utoipa::path(post, path = "/v1/admin/pools/{pool_id}/keys/rotate", tag = "admin", params(("pool_id" = String, Path)),
    responses((status = 200, body = Rotated), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn rotate_keys(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
) -> ApiResult<ApiJson<Rotated>> {
    let kid = s.pools.rotate_keys(&admin, &pool_id).await?;
    Ok(ApiJson(Rotated { kid }))
}

/// Messages kept by the dev mailer (404 with any other mailer).
#[utoipa::path(get, path = "/v1/admin/outbox", tag = "admin", params(OutboxQuery),
    responses((status = 200, body = Outbox), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn outbox(
    _: Admin,
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<OutboxQuery>,
) -> ApiResult<ApiJson<Outbox>> {
    if !s.pools.mailer.has_outbox() {
        return Err(ApiError(Error::new(
            ErrorKind::NotFound,
            "The outbox exists only with the dev mailer",
        )));
    }
    let messages = s
        .pools
        .list_outbox(
            q.to.as_deref(),
            q.pool_id.as_deref(),
            q.limit.unwrap_or(50).clamp(1, 500),
        )
        .await?;
    Ok(ApiJson(Outbox { messages }))
}

#[derive(Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserView>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SessionsRevoked {
    pub revoked_sessions: u64,
}

/// List a pool's users, by `sub`, with a cursor that stays correct while users are added.
#[utoipa::path(get, path = "/v1/admin/pools/{pool_id}/users", tag = "admin", params(("pool_id" = String, Path), UserPage),
    responses((status = 200, body = UserList), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn list_users(
    _: Admin,
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    ApiQuery(page): ApiQuery<UserPage>,
) -> ApiResult<ApiJson<UserList>> {
    let limit = page.limit.unwrap_or(60).clamp(1, 60);
    let users = s
        .pools
        .admin_find_users(
            &pool_id,
            page.filter.as_deref(),
            page.after.as_deref(),
            limit,
        )
        .await?;
    let next = (users.len() as i64 == limit)
        .then(|| users.last().map(|u| u.sub.clone()))
        .flatten();
    Ok(ApiJson(UserList {
        users: users.iter().map(UserView::from).collect(),
        next,
    }))
}

/// A user, by username or sign-in alias (email, phone).
#[utoipa::path(get, path = "/v1/admin/pools/{pool_id}/users/{username}", tag = "admin",
    params(("pool_id" = String, Path), ("username" = String, Path)),
    responses((status = 200, body = UserView), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn get_user(
    _: Admin,
    State(s): State<AppState>,
    Path((pool_id, username)): Path<(String, String)>,
) -> ApiResult<ApiJson<UserView>> {
    Ok(ApiJson(UserView::from(
        &s.pools.admin_get_user(&pool_id, &username).await?,
    )))
}

/// Delete a user with its sessions, codes and aliases.
#[utoipa::path(delete, path = "/v1/admin/pools/{pool_id}/users/{username}", tag = "admin",
    params(("pool_id" = String, Path), ("username" = String, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn delete_user(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path((pool_id, username)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.pools
        .admin_delete_user(&admin, &pool_id, &username)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Disable a user: sign-in, refresh and existing access tokens are refused at once.
#[utoipa::path(post, path = "/v1/admin/pools/{pool_id}/users/{username}/disable", tag = "admin",
    params(("pool_id" = String, Path), ("username" = String, Path)),
    responses((status = 200, body = UserView), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn disable_user(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path((pool_id, username)): Path<(String, String)>,
) -> ApiResult<ApiJson<UserView>> {
    Ok(ApiJson(UserView::from(
        &s.pools
            .admin_set_enabled(&admin, &pool_id, &username, false)
            .await?,
    )))
}

/// Enable a disabled user.
#[utoipa::path(post, path = "/v1/admin/pools/{pool_id}/users/{username}/enable", tag = "admin",
    params(("pool_id" = String, Path), ("username" = String, Path)),
    responses((status = 200, body = UserView), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn enable_user(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path((pool_id, username)): Path<(String, String)>,
) -> ApiResult<ApiJson<UserView>> {
    Ok(ApiJson(UserView::from(
        &s.pools
            .admin_set_enabled(&admin, &pool_id, &username, true)
            .await?,
    )))
}

/// Set a permanent password (policy enforced); the user is confirmed and signed out elsewhere.
#[utoipa::path(post, path = "/v1/admin/pools/{pool_id}/users/{username}/password", tag = "admin",
    params(("pool_id" = String, Path), ("username" = String, Path)), request_body = SetPassword,
    responses((status = 200, body = UserView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn set_user_password(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path((pool_id, username)): Path<(String, String)>,
    ApiJson(req): ApiJson<SetPassword>,
) -> ApiResult<ApiJson<UserView>> {
    Ok(ApiJson(UserView::from(
        &s.pools
            .admin_set_password(&admin, &pool_id, &username, req)
            .await?,
    )))
}

/// Confirm an unconfirmed user without a code.
#[utoipa::path(post, path = "/v1/admin/pools/{pool_id}/users/{username}/confirm", tag = "admin",
    params(("pool_id" = String, Path), ("username" = String, Path)),
    responses((status = 200, body = UserView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn confirm_user(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path((pool_id, username)): Path<(String, String)>,
) -> ApiResult<ApiJson<UserView>> {
    Ok(ApiJson(UserView::from(
        &s.pools.admin_confirm(&admin, &pool_id, &username).await?,
    )))
}

/// End every session of a user.
#[utoipa::path(post, path = "/v1/admin/pools/{pool_id}/users/{username}/signout", tag = "admin",
    params(("pool_id" = String, Path), ("username" = String, Path)),
    responses((status = 200, body = SessionsRevoked), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn sign_out_user(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path((pool_id, username)): Path<(String, String)>,
) -> ApiResult<ApiJson<SessionsRevoked>> {
    Ok(ApiJson(SessionsRevoked {
        revoked_sessions: s.pools.admin_sign_out(&admin, &pool_id, &username).await?,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct ResourceServerList {
    pub resource_servers: Vec<ResourceServer>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

/// Create a resource server (an API) with its custom scopes.
#[utoipa::path(post, path = "/v1/admin/pools/{pool_id}/resource-servers", tag = "admin", params(("pool_id" = String, Path)),
    request_body = PutResourceServer,
    responses((status = 201, body = ResourceServer), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn create_resource_server(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    ApiJson(req): ApiJson<PutResourceServer>,
) -> ApiResult<(StatusCode, ApiJson<ResourceServer>)> {
    Ok((
        StatusCode::CREATED,
        ApiJson(
            s.pools
                .create_resource_server(&admin, &pool_id, req)
                .await?,
        ),
    ))
}

/// List resource servers by identifier.
#[utoipa::path(get, path = "/v1/admin/pools/{pool_id}/resource-servers", tag = "admin", params(("pool_id" = String, Path), Page),
    responses((status = 200, body = ResourceServerList)), security(("admin_key" = [])))]
pub async fn list_resource_servers(
    _: Admin,
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    ApiQuery(page): ApiQuery<Page>,
) -> ApiResult<ApiJson<ResourceServerList>> {
    let limit = page.limit.unwrap_or(60).clamp(1, 60);
    let resource_servers = s
        .pools
        .list_resource_servers(&pool_id, page.after.as_deref(), limit)
        .await?;
    let next = (resource_servers.len() as i64 == limit)
        .then(|| resource_servers.last().map(|r| r.identifier.clone()))
        .flatten();
    Ok(ApiJson(ResourceServerList {
        resource_servers,
        next,
    }))
}

/// One resource server (percent-encode the identifier in the path).
#[utoipa::path(get, path = "/v1/admin/pools/{pool_id}/resource-servers/{identifier}", tag = "admin",
    params(("pool_id" = String, Path), ("identifier" = String, Path)),
    responses((status = 200, body = ResourceServer), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn get_resource_server(
    _: Admin,
    State(s): State<AppState>,
    Path((pool_id, identifier)): Path<(String, String)>,
) -> ApiResult<ApiJson<ResourceServer>> {
    Ok(ApiJson(
        s.pools.get_resource_server(&pool_id, &identifier).await?,
    ))
}

/// Replace a resource server's name and scopes.
#[utoipa::path(put, path = "/v1/admin/pools/{pool_id}/resource-servers/{identifier}", tag = "admin",
    params(("pool_id" = String, Path), ("identifier" = String, Path)), request_body = PutResourceServer,
    responses((status = 200, body = ResourceServer), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn update_resource_server(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path((pool_id, identifier)): Path<(String, String)>,
    ApiJson(req): ApiJson<PutResourceServer>,
) -> ApiResult<ApiJson<ResourceServer>> {
    Ok(ApiJson(
        s.pools
            .update_resource_server(&admin, &pool_id, &identifier, req)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/v1/admin/pools/{pool_id}/resource-servers/{identifier}", tag = "admin",
    params(("pool_id" = String, Path), ("identifier" = String, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn delete_resource_server(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path((pool_id, identifier)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.pools
        .delete_resource_server(&admin, &pool_id, &identifier)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct IdentityProviderList {
    pub identity_providers: Vec<IdentityProviderView>,
}

/// Add an external identity provider (OIDC, Google, Facebook,
/// SignInWithApple) to a pool.
#[utoipa::path(post, path = "/v1/admin/pools/{pool_id}/identity-providers", tag = "admin", params(("pool_id" = String, Path)),
    request_body = PutIdentityProvider,
    responses((status = 201, body = IdentityProviderView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn create_identity_provider(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    ApiJson(req): ApiJson<PutIdentityProvider>,
) -> ApiResult<(StatusCode, ApiJson<IdentityProviderView>)> {
    let p = s
        .pools
        .create_identity_provider(&admin, &pool_id, req)
        .await?;
    Ok((StatusCode::CREATED, ApiJson(IdentityProviderView::from(&p))))
}

#[utoipa::path(get, path = "/v1/admin/pools/{pool_id}/identity-providers", tag = "admin", params(("pool_id" = String, Path)),
    responses((status = 200, body = IdentityProviderList)), security(("admin_key" = [])))]
pub async fn list_identity_providers(
    _: Admin,
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
) -> ApiResult<ApiJson<IdentityProviderList>> {
    let all = s.pools.list_identity_providers(&pool_id).await?;
    Ok(ApiJson(IdentityProviderList {
        identity_providers: all.iter().map(IdentityProviderView::from).collect(),
    }))
}

#[utoipa::path(get, path = "/v1/admin/pools/{pool_id}/identity-providers/{name}", tag = "admin",
    params(("pool_id" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = IdentityProviderView), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn get_identity_provider(
    _: Admin,
    State(s): State<AppState>,
    Path((pool_id, name)): Path<(String, String)>,
) -> ApiResult<ApiJson<IdentityProviderView>> {
    let p = s.pools.get_identity_provider(&pool_id, &name).await?;
    Ok(ApiJson(IdentityProviderView::from(&p)))
}

/// Replace a provider's settings (and its secret when one is given).
#[utoipa::path(put, path = "/v1/admin/pools/{pool_id}/identity-providers/{name}", tag = "admin",
    params(("pool_id" = String, Path), ("name" = String, Path)), request_body = PutIdentityProvider,
    responses((status = 200, body = IdentityProviderView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn update_identity_provider(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path((pool_id, name)): Path<(String, String)>,
    ApiJson(req): ApiJson<PutIdentityProvider>,
) -> ApiResult<ApiJson<IdentityProviderView>> {
    let p = s
        .pools
        .update_identity_provider(&admin, &pool_id, &name, req)
        .await?;
    Ok(ApiJson(IdentityProviderView::from(&p)))
}

/// Remove a provider; its users stay (and can be linked again).
#[utoipa::path(delete, path = "/v1/admin/pools/{pool_id}/identity-providers/{name}", tag = "admin",
    params(("pool_id" = String, Path), ("name" = String, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn delete_identity_provider(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path((pool_id, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.pools
        .delete_identity_provider(&admin, &pool_id, &name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Link a provider subject to an existing user: signing in with it reaches
/// this user (Cognito's AdminLinkProviderForUser).
#[utoipa::path(post, path = "/v1/admin/pools/{pool_id}/users/{username}/identities", tag = "admin",
    params(("pool_id" = String, Path), ("username" = String, Path)), request_body = LinkIdentity,
    responses((status = 200, body = UserView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn link_identity(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path((pool_id, username)): Path<(String, String)>,
    ApiJson(req): ApiJson<LinkIdentity>,
) -> ApiResult<ApiJson<UserView>> {
    let user = s
        .pools
        .link_identity(&admin, &pool_id, &username, req)
        .await?;
    Ok(ApiJson(UserView::from(&user)))
}

/// Unlink a provider subject from its user (Cognito's
/// AdminDisableProviderForUser).
#[utoipa::path(delete, path = "/v1/admin/pools/{pool_id}/identities/{provider}/{subject}", tag = "admin",
    params(("pool_id" = String, Path), ("provider" = String, Path), ("subject" = String, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn unlink_identity(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path((pool_id, provider, subject)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    s.pools
        .unlink_identity(&admin, &pool_id, &provider, &subject)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's second factors.
#[utoipa::path(get, path = "/v1/admin/pools/{pool_id}/users/{username}/mfa", tag = "admin",
    params(("pool_id" = String, Path), ("username" = String, Path)),
    responses((status = 200, body = MfaView), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn user_mfa(
    _: Admin,
    State(s): State<AppState>,
    Path((pool_id, username)): Path<(String, String)>,
) -> ApiResult<ApiJson<MfaView>> {
    Ok(ApiJson(s.pools.admin_mfa_view(&pool_id, &username).await?))
}

/// Change a user's factors, e.g. remove a lost authenticator
/// (`{"totp_enabled": false}`; Cognito's AdminSetUserMFAPreference).
#[utoipa::path(put, path = "/v1/admin/pools/{pool_id}/users/{username}/mfa", tag = "admin",
    params(("pool_id" = String, Path), ("username" = String, Path)), request_body = MfaPreference,
    responses((status = 200, body = MfaView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn set_user_mfa(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path((pool_id, username)): Path<(String, String)>,
    ApiJson(req): ApiJson<MfaPreference>,
) -> ApiResult<ApiJson<MfaView>> {
    Ok(ApiJson(
        s.pools
            .admin_set_mfa_preference(&admin, &pool_id, &username, req)
            .await?,
    ))
}

/// A user's passkeys.
#[utoipa::path(get, path = "/v1/admin/pools/{pool_id}/users/{username}/passkeys", tag = "admin",
    params(("pool_id" = String, Path), ("username" = String, Path)),
    responses((status = 200, body = crate::http::public::PasskeyList), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn user_passkeys(
    _: Admin,
    State(s): State<AppState>,
    Path((pool_id, username)): Path<(String, String)>,
) -> ApiResult<ApiJson<crate::http::public::PasskeyList>> {
    Ok(ApiJson(crate::http::public::PasskeyList {
        passkeys: s.pools.admin_list_passkeys(&pool_id, &username).await?,
    }))
}

/// Remove a user's passkey (a lost device).
#[utoipa::path(delete, path = "/v1/admin/pools/{pool_id}/users/{username}/passkeys/{credential_id}", tag = "admin",
    params(("pool_id" = String, Path), ("username" = String, Path), ("credential_id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn delete_user_passkey(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path((pool_id, username, credential_id)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    s.pools
        .admin_delete_passkey(&admin, &pool_id, &username, &credential_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct GroupList {
    pub groups: Vec<Group>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

/// Create a group.
#[utoipa::path(post, path = "/v1/admin/pools/{pool_id}/groups", tag = "admin", params(("pool_id" = String, Path)),
    request_body = CreateGroup,
    responses((status = 201, body = Group), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn create_group(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    ApiJson(req): ApiJson<CreateGroup>,
) -> ApiResult<(StatusCode, ApiJson<Group>)> {
    Ok((
        StatusCode::CREATED,
        ApiJson(s.pools.create_group(&admin, &pool_id, req).await?),
    ))
}

/// List groups by name.
#[utoipa::path(get, path = "/v1/admin/pools/{pool_id}/groups", tag = "admin", params(("pool_id" = String, Path), Page),
    responses((status = 200, body = GroupList)), security(("admin_key" = [])))]
pub async fn list_groups(
    _: Admin,
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    ApiQuery(page): ApiQuery<Page>,
) -> ApiResult<ApiJson<GroupList>> {
    let limit = page.limit.unwrap_or(60).clamp(1, 60);
    let groups = s
        .pools
        .list_groups(&pool_id, page.after.as_deref(), limit)
        .await?;
    let next = (groups.len() as i64 == limit)
        .then(|| groups.last().map(|g| g.name.clone()))
        .flatten();
    Ok(ApiJson(GroupList { groups, next }))
}

#[utoipa::path(get, path = "/v1/admin/pools/{pool_id}/groups/{group}", tag = "admin",
    params(("pool_id" = String, Path), ("group" = String, Path)),
    responses((status = 200, body = Group), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn get_group(
    _: Admin,
    State(s): State<AppState>,
    Path((pool_id, group)): Path<(String, String)>,
) -> ApiResult<ApiJson<Group>> {
    Ok(ApiJson(s.pools.get_group(&pool_id, &group).await?))
}

/// Update description, precedence or role (`null` clears).
#[utoipa::path(patch, path = "/v1/admin/pools/{pool_id}/groups/{group}", tag = "admin",
    params(("pool_id" = String, Path), ("group" = String, Path)), request_body = UpdateGroup,
    responses((status = 200, body = Group), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn update_group(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path((pool_id, group)): Path<(String, String)>,
    ApiJson(req): ApiJson<UpdateGroup>,
) -> ApiResult<ApiJson<Group>> {
    Ok(ApiJson(
        s.pools.update_group(&admin, &pool_id, &group, req).await?,
    ))
}

#[utoipa::path(delete, path = "/v1/admin/pools/{pool_id}/groups/{group}", tag = "admin",
    params(("pool_id" = String, Path), ("group" = String, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn delete_group(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path((pool_id, group)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.pools.delete_group(&admin, &pool_id, &group).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add a user to a group.
#[utoipa::path(post, path = "/v1/admin/pools/{pool_id}/groups/{group}/members", tag = "admin",
    params(("pool_id" = String, Path), ("group" = String, Path)), request_body = AddMember,
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn add_member(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path((pool_id, group)): Path<(String, String)>,
    ApiJson(req): ApiJson<AddMember>,
) -> ApiResult<StatusCode> {
    s.pools
        .add_to_group(&admin, &pool_id, &group, &req.username)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A group's members, by `sub`.
#[utoipa::path(get, path = "/v1/admin/pools/{pool_id}/groups/{group}/members", tag = "admin",
    params(("pool_id" = String, Path), ("group" = String, Path), Page),
    responses((status = 200, body = UserList), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn list_members(
    _: Admin,
    State(s): State<AppState>,
    Path((pool_id, group)): Path<(String, String)>,
    ApiQuery(page): ApiQuery<Page>,
) -> ApiResult<ApiJson<UserList>> {
    let limit = page.limit.unwrap_or(60).clamp(1, 60);
    let users = s
        .pools
        .group_members(&pool_id, &group, page.after.as_deref(), limit)
        .await?;
    let next = (users.len() as i64 == limit)
        .then(|| users.last().map(|u| u.sub.clone()))
        .flatten();
    Ok(ApiJson(UserList {
        users: users.iter().map(UserView::from).collect(),
        next,
    }))
}

/// Remove a user from a group.
#[utoipa::path(delete, path = "/v1/admin/pools/{pool_id}/groups/{group}/members/{username}", tag = "admin",
    params(("pool_id" = String, Path), ("group" = String, Path), ("username" = String, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn remove_member(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path((pool_id, group, username)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    s.pools
        .remove_from_group(&admin, &pool_id, &group, &username)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's groups, in precedence order.
#[utoipa::path(get, path = "/v1/admin/pools/{pool_id}/users/{username}/groups", tag = "admin",
    params(("pool_id" = String, Path), ("username" = String, Path)),
    responses((status = 200, body = GroupList), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn user_groups(
    _: Admin,
    State(s): State<AppState>,
    Path((pool_id, username)): Path<(String, String)>,
) -> ApiResult<ApiJson<GroupList>> {
    Ok(ApiJson(GroupList {
        groups: s.pools.user_groups(&pool_id, &username).await?,
        next: None,
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventPage {
    /// Cursor: the `next` of the previous page.
    pub before: Option<String>,
    /// 1–100, default 50.
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct EventList {
    /// Newest first.
    pub events: Vec<AuditEvent>,
    /// Pass as `before` for older events; absent on the last page.
    pub next: Option<String>,
}

async fn events_page(
    s: &AppState,
    pool_id: &str,
    sub: Option<&str>,
    page: EventPage,
) -> ApiResult<EventList> {
    s.pools.pool(pool_id).await?;
    let (cursor, limit) = page_of(&page)?;
    let events = s
        .pools
        .audit_events(
            pool_id,
            sub,
            cursor.as_ref().map(|(t, id)| (*t, id.as_str())),
            limit,
        )
        .await?;
    Ok(event_list(events, limit))
}

/// The cursor (`<created_at>:<id>`) and the page size.
fn page_of(page: &EventPage) -> ApiResult<(Option<(i64, String)>, i64)> {
    let cursor = match page.before.as_deref() {
        None => None,
        Some(c) => {
            let (t, id) = c
                .split_once(':')
                .ok_or_else(|| ApiError(Error::invalid("invalid cursor")))?;
            Some((
                t.parse::<i64>()
                    .map_err(|_| ApiError(Error::invalid("invalid cursor")))?,
                id.to_owned(),
            ))
        }
    };
    Ok((cursor, page.limit.unwrap_or(50).clamp(1, 100)))
}

fn event_list(events: Vec<AuditEvent>, limit: i64) -> EventList {
    let next = (events.len() as i64 == limit)
        .then(|| events.last().map(|e| format!("{}:{}", e.created_at, e.id)))
        .flatten();
    EventList { events, next }
}

/// Every admin change, across pools (also of deleted pools, identity pools
/// and roles), with its actor and door (`native`, `cognito`, `cli`).
#[utoipa::path(get, path = "/v1/admin/events", tag = "admin", params(EventPage),
    responses((status = 200, body = EventList), (status = 400, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn admin_events(
    _: Admin,
    State(s): State<AppState>,
    ApiQuery(page): ApiQuery<EventPage>,
) -> ApiResult<ApiJson<EventList>> {
    let (cursor, limit) = page_of(&page)?;
    let events = s
        .pools
        .admin_audit_events(cursor.as_ref().map(|(t, id)| (*t, id.as_str())), limit)
        .await?;
    Ok(ApiJson(event_list(events, limit)))
}

/// A pool's audit trail: sign-ins, sign-ups, password changes, admin actions.
#[utoipa::path(get, path = "/v1/admin/pools/{pool_id}/events", tag = "admin", params(("pool_id" = String, Path), EventPage),
    responses((status = 200, body = EventList), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn pool_events(
    _: Admin,
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    ApiQuery(page): ApiQuery<EventPage>,
) -> ApiResult<ApiJson<EventList>> {
    Ok(ApiJson(events_page(&s, &pool_id, None, page).await?))
}

/// A user's auth events.
#[utoipa::path(get, path = "/v1/admin/pools/{pool_id}/users/{username}/events", tag = "admin",
    params(("pool_id" = String, Path), ("username" = String, Path), EventPage),
    responses((status = 200, body = EventList), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn user_events(
    _: Admin,
    State(s): State<AppState>,
    Path((pool_id, username)): Path<(String, String)>,
    ApiQuery(page): ApiQuery<EventPage>,
) -> ApiResult<ApiJson<EventList>> {
    let user = s.pools.admin_get_user(&pool_id, &username).await?;
    Ok(ApiJson(
        events_page(&s, &pool_id, Some(&user.sub), page).await?,
    ))
}

#[derive(Serialize, ToSchema)]
pub struct ResetStarted {
    /// Where the reset code went (absent when the user has no verified email).
    pub code_delivery: Option<CodeDelivery>,
}

/// Force a password reset: RESET_REQUIRED, sessions ended, code mailed.
#[utoipa::path(post, path = "/v1/admin/pools/{pool_id}/users/{username}/reset-password", tag = "admin",
    params(("pool_id" = String, Path), ("username" = String, Path)),
    responses((status = 200, body = ResetStarted), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn reset_user_password(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path((pool_id, username)): Path<(String, String)>,
) -> ApiResult<ApiJson<ResetStarted>> {
    Ok(ApiJson(ResetStarted {
        code_delivery: s
            .pools
            .admin_reset_password(&admin, &pool_id, &username)
            .await?,
    }))
}

/// Update or delete (empty string) a user's attributes.
#[utoipa::path(patch, path = "/v1/admin/pools/{pool_id}/users/{username}/attributes", tag = "admin",
    params(("pool_id" = String, Path), ("username" = String, Path)), request_body = AdminUpdateAttributes,
    responses((status = 200, body = UserView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn update_user_attributes(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path((pool_id, username)): Path<(String, String)>,
    ApiJson(req): ApiJson<AdminUpdateAttributes>,
) -> ApiResult<ApiJson<UserView>> {
    Ok(ApiJson(UserView::from(
        &s.pools
            .admin_update_attributes(&admin, &pool_id, &username, req)
            .await?,
    )))
}

/// Create a user with a temporary password (mailed in an invitation unless
/// suppressed); the first sign-in answers NEW_PASSWORD_REQUIRED.
#[utoipa::path(post, path = "/v1/admin/pools/{pool_id}/users", tag = "admin", params(("pool_id" = String, Path)),
    request_body = AdminCreateUser,
    responses((status = 201, body = UserView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("admin_key" = [])))]
pub async fn create_user(
    Admin(admin): Admin,
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    ApiJson(req): ApiJson<AdminCreateUser>,
) -> ApiResult<(StatusCode, ApiJson<UserView>)> {
    let u = s.pools.admin_create_user(&admin, &pool_id, req).await?;
    Ok((StatusCode::CREATED, ApiJson(UserView::from(&u))))
}

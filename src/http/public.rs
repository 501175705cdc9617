//! The public, per-pool REST API and `/v1/me`.

use super::error::{ApiResult, Problem};
use super::extract::{ApiJson, SignedIn};
use crate::app::AppState;
use crate::tokens::TokenSet;
use crate::user_pools::account::{
    AttributesUpdated, ChangePassword, ForgotPassword, ResetPassword, SendAttributeCode,
    UpdateAttributes, VerifyAttribute,
};
use crate::user_pools::auth::{Me, Refresh, RespondToChallenge, Revoke, SignIn, SignInResult};
use crate::user_pools::mfa::{MfaPreference, MfaView, TotpAssociation, VerifyTotp};
use crate::user_pools::passkeys::{CompletePasskey, PasskeyView};
use crate::user_pools::signup::{CodeDelivery, ConfirmSignUp, ResendCode, SignUp, SignUpResult};
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use serde::Serialize;
use utoipa::ToSchema;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/pools/{pool_id}/signup", post(sign_up))
        .route("/v1/pools/{pool_id}/signup/confirm", post(confirm))
        .route("/v1/pools/{pool_id}/signup/resend", post(resend))
        .route("/v1/pools/{pool_id}/signin", post(sign_in))
        .route(
            "/v1/pools/{pool_id}/signin/challenge",
            post(respond_to_challenge),
        )
        .route("/v1/pools/{pool_id}/token/refresh", post(refresh))
        .route("/v1/pools/{pool_id}/token/revoke", post(revoke))
        .route("/v1/pools/{pool_id}/password/forgot", post(forgot_password))
        .route("/v1/pools/{pool_id}/password/reset", post(reset_password))
        .route("/v1/me", get(me).patch(update_me).delete(delete_me))
        .route("/v1/me/verify", post(verify_attribute))
        .route("/v1/me/verify/send", post(send_attribute_code))
        .route("/v1/me/password", post(change_password))
        .route("/v1/me/signout", post(sign_out))
        .route("/v1/me/mfa", get(mfa).put(set_mfa))
        .route("/v1/pools/{pool_id}/signin/start", post(start_user_auth))
        .route("/v1/me/mfa/totp/associate", post(associate_totp))
        .route(
            "/v1/me/passkeys",
            get(list_passkeys).post(complete_passkey_registration),
        )
        .route(
            "/v1/me/passkeys/registration",
            post(start_passkey_registration),
        )
        .route(
            "/v1/me/passkeys/{credential_id}",
            axum::routing::delete(delete_passkey),
        )
        .route("/v1/me/mfa/totp/verify", post(verify_totp))
        .route(
            "/v1/pools/{pool_id}/signin/mfa-setup/associate",
            post(setup_associate_totp),
        )
        .route(
            "/v1/pools/{pool_id}/signin/mfa-setup/verify",
            post(setup_verify_totp),
        )
}

/// Choice-based sign-in (`USER_AUTH`): a `SELECT_CHALLENGE` listing the
/// pool's first factors, or the preferred one at once.
#[utoipa::path(post, path = "/v1/pools/{pool_id}/signin/start", tag = "user pools",
    params(("pool_id" = String, Path)), request_body = crate::user_pools::user_auth::StartUserAuth,
    responses((status = 200, body = SignInResult), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn start_user_auth(
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    ApiJson(req): ApiJson<crate::user_pools::user_auth::StartUserAuth>,
) -> ApiResult<ApiJson<SignInResult>> {
    Ok(ApiJson(s.pools.start_user_auth(&pool_id, req).await?))
}

/// The signed-in user's second factors.
#[utoipa::path(get, path = "/v1/me/mfa", tag = "user pools",
    responses((status = 200, body = MfaView), (status = 401, body = Problem, content_type = "application/problem+json")),
    security(("access_token" = [])))]
pub async fn mfa(State(s): State<AppState>, SignedIn(a): SignedIn) -> ApiResult<ApiJson<MfaView>> {
    Ok(ApiJson(s.pools.mfa_view(&a).await?))
}

/// Enable/disable factors and choose the preferred one (needs a sign-in
/// within 15 minutes).
#[utoipa::path(put, path = "/v1/me/mfa", tag = "user pools", request_body = MfaPreference,
    responses((status = 200, body = MfaView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("access_token" = [])))]
pub async fn set_mfa(
    State(s): State<AppState>,
    SignedIn(a): SignedIn,
    ApiJson(req): ApiJson<MfaPreference>,
) -> ApiResult<ApiJson<MfaView>> {
    Ok(ApiJson(s.pools.set_mfa_preference(&a, req).await?))
}

/// A new TOTP secret (pending until verified).
#[utoipa::path(post, path = "/v1/me/mfa/totp/associate", tag = "user pools",
    responses((status = 200, body = TotpAssociation), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("access_token" = [])))]
pub async fn associate_totp(
    State(s): State<AppState>,
    SignedIn(a): SignedIn,
) -> ApiResult<ApiJson<TotpAssociation>> {
    Ok(ApiJson(s.pools.associate_totp(&a).await?))
}

/// The first code from the authenticator app: TOTP is on.
#[utoipa::path(post, path = "/v1/me/mfa/totp/verify", tag = "user pools", request_body = VerifyTotp,
    responses((status = 200, body = MfaView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("access_token" = [])))]
pub async fn verify_totp(
    State(s): State<AppState>,
    SignedIn(a): SignedIn,
    ApiJson(req): ApiJson<VerifyTotp>,
) -> ApiResult<ApiJson<MfaView>> {
    Ok(ApiJson(s.pools.verify_totp(&a, req).await?))
}

/// A user's passkeys.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyList {
    pub passkeys: Vec<PasskeyView>,
}

/// Starts adding a passkey: the `publicKey` options for
/// `navigator.credentials.create()` (needs a sign-in in the last 15
/// minutes).
#[utoipa::path(post, path = "/v1/me/passkeys/registration", tag = "user pools",
    responses((status = 200, body = Object), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("access_token" = [])))]
pub async fn start_passkey_registration(
    State(s): State<AppState>,
    SignedIn(a): SignedIn,
) -> ApiResult<ApiJson<serde_json::Value>> {
    Ok(ApiJson(s.pools.start_passkey_registration(&a).await?))
}

/// Adds the passkey the browser created.
#[utoipa::path(post, path = "/v1/me/passkeys", tag = "user pools", request_body = CompletePasskey,
    responses((status = 200, body = PasskeyView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("access_token" = [])))]
pub async fn complete_passkey_registration(
    State(s): State<AppState>,
    SignedIn(a): SignedIn,
    ApiJson(req): ApiJson<CompletePasskey>,
) -> ApiResult<ApiJson<PasskeyView>> {
    Ok(ApiJson(
        s.pools.complete_passkey_registration(&a, req).await?,
    ))
}

/// The signed-in user's passkeys.
#[utoipa::path(get, path = "/v1/me/passkeys", tag = "user pools",
    responses((status = 200, body = PasskeyList), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("access_token" = [])))]
pub async fn list_passkeys(
    State(s): State<AppState>,
    SignedIn(a): SignedIn,
) -> ApiResult<ApiJson<PasskeyList>> {
    Ok(ApiJson(PasskeyList {
        passkeys: s.pools.list_passkeys(&a).await?,
    }))
}

/// Removes one of the signed-in user's passkeys.
#[utoipa::path(delete, path = "/v1/me/passkeys/{credential_id}", tag = "user pools",
    params(("credential_id" = String, Path)),
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("access_token" = [])))]
pub async fn delete_passkey(
    State(s): State<AppState>,
    SignedIn(a): SignedIn,
    Path(credential_id): Path<String>,
) -> ApiResult<axum::http::StatusCode> {
    s.pools.delete_passkey(&a, &credential_id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// A challenge session setting up MFA (`MFA_SETUP`).
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupSession {
    pub client_id: String,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub client_secret: crate::user_pools::ClientProof,
    pub session: String,
    /// For verify: the first code, and a name for the device.
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub device_name: Option<String>,
}

/// `MFA_SETUP`: a TOTP secret for the user signing in.
#[utoipa::path(post, path = "/v1/pools/{pool_id}/signin/mfa-setup/associate", tag = "user pools",
    params(("pool_id" = String, Path)), request_body = SetupSession,
    responses((status = 200, body = TotpAssociation), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn setup_associate_totp(
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    ApiJson(req): ApiJson<SetupSession>,
) -> ApiResult<ApiJson<TotpAssociation>> {
    Ok(ApiJson(
        s.pools
            .associate_totp_in_session(
                &pool_id,
                &req.client_id,
                &req.client_secret,
                &req.session,
                false,
            )
            .await?,
    ))
}

/// `MFA_SETUP`: the first code turns TOTP on; then answer the
/// `MFA_SETUP` challenge to get the tokens.
#[utoipa::path(post, path = "/v1/pools/{pool_id}/signin/mfa-setup/verify", tag = "user pools",
    params(("pool_id" = String, Path)), request_body = SetupSession,
    responses((status = 200, body = Empty), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn setup_verify_totp(
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    ApiJson(req): ApiJson<SetupSession>,
) -> ApiResult<ApiJson<Empty>> {
    let code = req
        .code
        .clone()
        .ok_or_else(|| crate::error::Error::invalid("code is required"))?;
    s.pools
        .verify_totp_in_session(
            &pool_id,
            &req.client_id,
            &req.client_secret,
            &req.session,
            crate::user_pools::mfa::VerifyTotp {
                code,
                device_name: req.device_name,
            },
        )
        .await?;
    Ok(ApiJson(Empty {}))
}

#[derive(Serialize, ToSchema)]
pub struct Confirmed {
    pub confirmed: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Resent {
    pub code_delivery: Option<CodeDelivery>,
}

#[derive(Serialize, ToSchema)]
pub struct Refreshed {
    pub tokens: TokenSet,
}

#[derive(Serialize, ToSchema)]
pub struct Empty {}

/// Sign up: creates an unconfirmed user and sends a confirmation code.
#[utoipa::path(post, path = "/v1/pools/{pool_id}/signup", tag = "user pools",
    params(("pool_id" = String, Path)), request_body = SignUp,
    responses((status = 200, body = SignUpResult), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn sign_up(
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    ApiJson(req): ApiJson<SignUp>,
) -> ApiResult<ApiJson<SignUpResult>> {
    Ok(ApiJson(s.pools.sign_up(&pool_id, req).await?))
}

/// Confirm a sign-up with the emailed code.
#[utoipa::path(post, path = "/v1/pools/{pool_id}/signup/confirm", tag = "user pools",
    params(("pool_id" = String, Path)), request_body = ConfirmSignUp,
    responses((status = 200, body = Confirmed), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn confirm(
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    ApiJson(req): ApiJson<ConfirmSignUp>,
) -> ApiResult<ApiJson<Confirmed>> {
    s.pools.confirm_sign_up(&pool_id, req).await?;
    Ok(ApiJson(Confirmed { confirmed: true }))
}

/// Send the confirmation code again.
#[utoipa::path(post, path = "/v1/pools/{pool_id}/signup/resend", tag = "user pools",
    params(("pool_id" = String, Path)), request_body = ResendCode,
    responses((status = 200, body = Resent), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn resend(
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    ApiJson(req): ApiJson<ResendCode>,
) -> ApiResult<ApiJson<Resent>> {
    Ok(ApiJson(Resent {
        code_delivery: s.pools.resend_code(&pool_id, req).await?,
    }))
}

/// Sign in with a password: tokens, or a challenge to answer.
#[utoipa::path(post, path = "/v1/pools/{pool_id}/signin", tag = "user pools",
    params(("pool_id" = String, Path)), request_body = SignIn,
    responses((status = 200, body = SignInResult), (status = "4XX", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "password hashing saturated; retry after Retry-After", body = Problem, content_type = "application/problem+json")))]
pub async fn sign_in(
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    ApiJson(req): ApiJson<SignIn>,
) -> ApiResult<ApiJson<SignInResult>> {
    Ok(ApiJson(s.pools.sign_in(&pool_id, req).await?))
}

/// Exchange a refresh token for new ID and access tokens.
#[utoipa::path(post, path = "/v1/pools/{pool_id}/token/refresh", tag = "user pools",
    params(("pool_id" = String, Path)), request_body = Refresh,
    responses((status = 200, body = Refreshed), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn refresh(
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    ApiJson(req): ApiJson<Refresh>,
) -> ApiResult<ApiJson<Refreshed>> {
    Ok(ApiJson(Refreshed {
        tokens: s.pools.sessions.refresh(&pool_id, req).await?,
    }))
}

/// Revoke a refresh token and every token of its sign-in.
#[utoipa::path(post, path = "/v1/pools/{pool_id}/token/revoke", tag = "user pools",
    params(("pool_id" = String, Path)), request_body = Revoke,
    responses((status = 200, body = Empty), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn revoke(
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    ApiJson(req): ApiJson<Revoke>,
) -> ApiResult<ApiJson<Empty>> {
    s.pools.sessions.revoke(&pool_id, req).await?;
    Ok(ApiJson(Empty {}))
}

/// The signed-in user (`Authorization: Bearer <access token>`).
#[utoipa::path(get, path = "/v1/me", tag = "user pools",
    responses((status = 200, body = Me), (status = 401, body = Problem, content_type = "application/problem+json")),
    security(("access_token" = [])))]
pub async fn me(State(s): State<AppState>, SignedIn(a): SignedIn) -> ApiJson<Me> {
    ApiJson(s.pools.sessions.me(&a))
}

#[derive(Serialize, ToSchema)]
pub struct SignedOut {
    /// Sessions (refresh-token families) revoked.
    pub revoked_sessions: u64,
}

/// Forgot password: mails a reset code to the user's verified email.
#[utoipa::path(post, path = "/v1/pools/{pool_id}/password/forgot", tag = "user pools",
    params(("pool_id" = String, Path)), request_body = ForgotPassword,
    responses((status = 200, body = Resent), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn forgot_password(
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    ApiJson(req): ApiJson<ForgotPassword>,
) -> ApiResult<ApiJson<Resent>> {
    Ok(ApiJson(Resent {
        code_delivery: Some(s.pools.forgot_password(&pool_id, req).await?),
    }))
}

/// Set a new password with the reset code; ends every session of the user.
#[utoipa::path(post, path = "/v1/pools/{pool_id}/password/reset", tag = "user pools",
    params(("pool_id" = String, Path)), request_body = ResetPassword,
    responses((status = 200, body = Empty), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn reset_password(
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    ApiJson(req): ApiJson<ResetPassword>,
) -> ApiResult<ApiJson<Empty>> {
    s.pools.reset_password(&pool_id, req).await?;
    Ok(ApiJson(Empty {}))
}

/// Change the signed-in user's password (the current one is required).
#[utoipa::path(post, path = "/v1/me/password", tag = "user pools", request_body = ChangePassword,
    responses((status = 200, body = Empty), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("access_token" = [])))]
pub async fn change_password(
    State(s): State<AppState>,
    SignedIn(a): SignedIn,
    ApiJson(req): ApiJson<ChangePassword>,
) -> ApiResult<ApiJson<Empty>> {
    s.pools.change_password(&a, req).await?;
    Ok(ApiJson(Empty {}))
}

/// Global sign-out: revoke every session of the signed-in user.
#[utoipa::path(post, path = "/v1/me/signout", tag = "user pools",
    responses((status = 200, body = SignedOut), (status = 401, body = Problem, content_type = "application/problem+json")),
    security(("access_token" = [])))]
pub async fn sign_out(
    State(s): State<AppState>,
    SignedIn(a): SignedIn,
) -> ApiResult<ApiJson<SignedOut>> {
    Ok(ApiJson(SignedOut {
        revoked_sessions: s.pools.global_sign_out(&a).await?,
    }))
}

/// Update attributes. A new email waits for verification (a code is sent to
/// it) while the old verified address stays in force.
#[utoipa::path(patch, path = "/v1/me", tag = "user pools", request_body = UpdateAttributes,
    responses((status = 200, body = AttributesUpdated), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("access_token" = [])))]
pub async fn update_me(
    State(s): State<AppState>,
    SignedIn(a): SignedIn,
    ApiJson(req): ApiJson<UpdateAttributes>,
) -> ApiResult<ApiJson<AttributesUpdated>> {
    Ok(ApiJson(s.pools.update_my_attributes(&a, req).await?))
}

/// Delete the signed-in user's account.
#[utoipa::path(delete, path = "/v1/me", tag = "user pools",
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json")),
    security(("access_token" = [])))]
pub async fn delete_me(
    State(s): State<AppState>,
    SignedIn(a): SignedIn,
) -> ApiResult<axum::http::StatusCode> {
    s.pools.delete_me(&a).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Verify an attribute (e.g. a new email) with its code.
#[utoipa::path(post, path = "/v1/me/verify", tag = "user pools", request_body = VerifyAttribute,
    responses((status = 200, body = Empty), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("access_token" = [])))]
pub async fn verify_attribute(
    State(s): State<AppState>,
    SignedIn(a): SignedIn,
    ApiJson(req): ApiJson<VerifyAttribute>,
) -> ApiResult<ApiJson<Empty>> {
    s.pools.verify_my_attribute(&a, req).await?;
    Ok(ApiJson(Empty {}))
}

/// Send (again) the verification code for an attribute.
#[utoipa::path(post, path = "/v1/me/verify/send", tag = "user pools", request_body = SendAttributeCode,
    responses((status = 200, body = Resent), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("access_token" = [])))]
pub async fn send_attribute_code(
    State(s): State<AppState>,
    SignedIn(a): SignedIn,
    ApiJson(req): ApiJson<SendAttributeCode>,
) -> ApiResult<ApiJson<Resent>> {
    Ok(ApiJson(Resent {
        code_delivery: Some(s.pools.send_attribute_code(&a, req).await?),
    }))
}

/// Answer a sign-in challenge (NEW_PASSWORD_REQUIRED) with its session.
#[utoipa::path(post, path = "/v1/pools/{pool_id}/signin/challenge", tag = "user pools",
    params(("pool_id" = String, Path)), request_body = RespondToChallenge,
    responses((status = 200, body = SignInResult), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn respond_to_challenge(
    State(s): State<AppState>,
    Path(pool_id): Path<String>,
    ApiJson(req): ApiJson<RespondToChallenge>,
) -> ApiResult<ApiJson<SignInResult>> {
    Ok(ApiJson(s.pools.respond_to_challenge(&pool_id, req).await?))
}

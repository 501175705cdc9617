//! Sign-in by an app client (unsigned): InitiateAuth (password, SRP,
//! refresh, USER_AUTH), RespondToAuthChallenge, GetTokensFromRefreshToken,
//! RevokeToken. Each call names its pool through the client, and the
//! service authenticates the client from the request's proof (the
//! `SECRET_HASH`, or the secret itself for the token operations).

use super::Fault;
use super::error::{invalid, no_client, not_supported};
use super::op::{Empty, Operation};
use super::wire::{AuthAnswer, AuthenticationResult};
use crate::app::AppState;
use crate::error::ErrorKind;
use crate::user_pools::ClientProof;
use crate::user_pools::auth::{Refresh, RespondToChallenge, Revoke, SignIn};
use crate::user_pools::user_auth::StartUserAuth;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub(super) const OPS: &[Operation] = &[
    public!(UserPools, "InitiateAuth", initiate_auth),
    public!(
        UserPools,
        "RespondToAuthChallenge",
        respond_to_auth_challenge
    ),
    public!(
        UserPools,
        "GetTokensFromRefreshToken",
        get_tokens_from_refresh_token
    ),
    public!(UserPools, "RevokeToken", revoke_token),
];

/// The pool an app client belongs to (client ids are unique across pools).
pub(super) async fn client_pool(s: &AppState, client_id: &str) -> Result<String, Fault> {
    s.pools
        .clients
        .client_pool_id(client_id)
        .await
        .map_err(|e| match e.kind {
            ErrorKind::ResourceNotFound | ErrorKind::NotFound => no_client(),
            _ => e.into(),
        })
}

/// `AuthParameters` / `ChallengeResponses`.
pub(super) type Params = BTreeMap<String, String>;

fn param<'a>(p: &'a Params, k: &str) -> Option<&'a str> {
    p.get(k).map(String::as_str)
}

/// The proof of the client in a request's parameters.
fn proof(p: &Params) -> ClientProof {
    ClientProof::secret_hash(param(p, "USERNAME"), param(p, "SECRET_HASH"))
}

// Members Cognito accepts that this server ignores are read and dropped.
#[derive(Deserialize)]
#[allow(dead_code)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct InitiateAuthIn {
    auth_flow: String,
    client_id: String,
    #[serde(default)]
    auth_parameters: Params,
    #[serde(default)]
    client_metadata: Option<IgnoredAny>,
    #[serde(default)]
    analytics_metadata: Option<IgnoredAny>,
    #[serde(default)]
    user_context_data: Option<IgnoredAny>,
}

async fn initiate_auth(s: &AppState, i: InitiateAuthIn) -> Result<AuthAnswer, Fault> {
    let p = &i.auth_parameters;
    match i.auth_flow.as_str() {
        "USER_PASSWORD_AUTH" => {
            let req = sign_in_request(i.client_id.clone(), p)?;
            let pool = client_pool(s, &req.client_id).await?;
            Ok(s.pools.sign_in(&pool, req).await?.into())
        }
        "REFRESH_TOKEN_AUTH" | "REFRESH_TOKEN" => refresh_flow(s, i.client_id, p).await,
        "USER_SRP_AUTH" => srp_flow(s, &i.client_id, p).await,
        "USER_AUTH" => user_auth_flow(s, i.client_id, p).await,
        "CUSTOM_AUTH" => Err(not_supported(&format!("InitiateAuth {}", i.auth_flow))),
        other => Err(invalid(format!("Unknown AuthFlow {other}"))),
    }
}

/// USER_PASSWORD_AUTH's (and ADMIN_USER_PASSWORD_AUTH's) sign-in.
pub(super) fn sign_in_request(client_id: String, p: &Params) -> Result<SignIn, Fault> {
    let (Some(user), Some(pw)) = (param(p, "USERNAME"), param(p, "PASSWORD")) else {
        return Err(invalid("Missing required parameter USERNAME or PASSWORD"));
    };
    Ok(SignIn {
        client_id,
        client_secret: proof(p),
        flow: None,
        username: user.to_owned(),
        password: pw.to_owned(),
    })
}

pub(super) async fn refresh_flow(
    s: &AppState,
    client_id: String,
    p: &Params,
) -> Result<AuthAnswer, Fault> {
    let Some(rt) = param(p, "REFRESH_TOKEN") else {
        return Err(invalid("Missing required parameter REFRESH_TOKEN"));
    };
    let pool = client_pool(s, &client_id).await?;
    let req = Refresh {
        client_id,
        client_secret: proof(p),
        refresh_token: rt.to_owned(),
    };
    Ok(AuthAnswer::tokens(
        s.pools.sessions.refresh(&pool, req).await?,
    ))
}

pub(super) async fn srp_flow(
    s: &AppState,
    client_id: &str,
    p: &Params,
) -> Result<AuthAnswer, Fault> {
    let (Some(user), Some(a)) = (param(p, "USERNAME"), param(p, "SRP_A")) else {
        return Err(invalid("Missing required parameter USERNAME or SRP_A"));
    };
    let pool = client_pool(s, client_id).await?;
    let c = s
        .pools
        .start_srp(&pool, client_id, &proof(p), user, a)
        .await?;
    Ok(AuthAnswer::bare_challenge(c.name, c.parameters))
}

async fn user_auth_flow(s: &AppState, client_id: String, p: &Params) -> Result<AuthAnswer, Fault> {
    let Some(user) = param(p, "USERNAME") else {
        return Err(invalid("Missing required parameter USERNAME"));
    };
    let pool = client_pool(s, &client_id).await?;
    let req = StartUserAuth {
        client_id,
        client_secret: proof(p),
        username: user.to_owned(),
        preferred_challenge: param(p, "PREFERRED_CHALLENGE").map(str::to_owned),
        password: param(p, "PASSWORD").map(str::to_owned),
    };
    Ok(s.pools.start_user_auth(&pool, req).await?.into())
}

// Members Cognito accepts that this server ignores are read and dropped.
#[derive(Deserialize)]
#[allow(dead_code)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(super) struct RespondIn {
    pub client_id: String,
    challenge_name: String,
    #[serde(default)]
    session: Option<String>,
    #[serde(default)]
    challenge_responses: Params,
    #[serde(default)]
    client_metadata: Option<IgnoredAny>,
    #[serde(default)]
    analytics_metadata: Option<IgnoredAny>,
    #[serde(default)]
    user_context_data: Option<IgnoredAny>,
}

/// The challenges answered through the native challenge flow.
const CHALLENGES: &[&str] = &[
    "NEW_PASSWORD_REQUIRED",
    "SOFTWARE_TOKEN_MFA",
    "EMAIL_OTP",
    "SMS_MFA",
    "SMS_OTP",
    "MFA_SETUP",
    "SELECT_CHALLENGE",
    "WEB_AUTHN",
];

pub(super) async fn respond_to_auth_challenge(
    s: &AppState,
    i: RespondIn,
) -> Result<AuthAnswer, Fault> {
    if i.challenge_name == "PASSWORD_VERIFIER" {
        let r = &i.challenge_responses;
        let pool = client_pool(s, &i.client_id).await?;
        let out = s
            .pools
            .answer_srp(&pool, &i.client_id, &proof(r), r)
            .await?;
        return Ok(out.into());
    }
    if !CHALLENGES.contains(&i.challenge_name.as_str()) {
        let what = format!("RespondToAuthChallenge {}", i.challenge_name);
        return Err(not_supported(&what));
    }
    let mut responses = i.challenge_responses;
    let client_secret = proof(&responses);
    let pool = client_pool(s, &i.client_id).await?;
    responses.remove("SECRET_HASH");
    // A choice for a name without a user still needs the name (the
    // look-alike passkey options are stable per name).
    if i.challenge_name != "SELECT_CHALLENGE" {
        responses.remove("USERNAME");
    }
    let req = RespondToChallenge {
        client_id: i.client_id,
        client_secret,
        challenge_name: i.challenge_name,
        session: i.session.unwrap_or_default(),
        responses,
    };
    Ok(s.pools.respond_to_challenge(&pool, req).await?.into())
}

// Members Cognito accepts that this server ignores are read and dropped.
#[derive(Deserialize)]
#[allow(dead_code)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct TokensIn {
    refresh_token: String,
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    client_metadata: Option<IgnoredAny>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TokensOut {
    authentication_result: AuthenticationResult,
}

async fn get_tokens_from_refresh_token(s: &AppState, i: TokensIn) -> Result<TokensOut, Fault> {
    let pool = client_pool(s, &i.client_id).await?;
    let req = Refresh {
        client_id: i.client_id,
        client_secret: i.client_secret.into(),
        refresh_token: i.refresh_token,
    };
    let t = s.pools.sessions.refresh(&pool, req).await?;
    Ok(TokensOut {
        authentication_result: t.into(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RevokeIn {
    token: String,
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
}

/// The native revocation checks the client (and its secret).
async fn revoke_token(s: &AppState, i: RevokeIn) -> Result<Empty, Fault> {
    let pool = client_pool(s, &i.client_id).await?;
    let req = Revoke {
        client_id: i.client_id,
        client_secret: i.client_secret.into(),
        token: i.token,
    };
    s.pools.sessions.revoke(&pool, req).await?;
    Ok(Empty {})
}

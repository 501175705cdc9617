//! AdminInitiateAuth, AdminRespondToAuthChallenge and
//! AdminListUserAuthEvents: the sign-in operations of a trusted back end
//! (SigV4-signed with the admin credential). They name the pool as well as
//! the client; the client must belong to it.

use super::Fault;
use super::auth::{
    Params, RespondIn, client_pool, refresh_flow, respond_to_auth_challenge, sign_in_request,
    srp_flow,
};
use super::error::{invalid, no_client, not_supported, required, user_not_found};
use super::op::Operation;
use super::wire::AuthAnswer;
use crate::app::AppState;
use crate::audit::AdminCtx;
use crate::model::AuditEvent;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

pub(super) const OPS: &[Operation] = &[
    admin!(UserPools, "AdminInitiateAuth", admin_initiate_auth),
    admin!(UserPools, "AdminRespondToAuthChallenge", admin_respond),
    admin!(
        UserPools,
        "AdminListUserAuthEvents",
        admin_list_user_auth_events
    ),
];

/// Checks the pool exists and the client is the pool's.
async fn check_pool(
    s: &AppState,
    pool: Option<String>,
    client: Option<&str>,
) -> Result<String, Fault> {
    let pool = required(pool, "UserPoolId")?;
    let client = required(client, "ClientId")?;
    s.pools.pool(&pool).await?;
    if client_pool(s, client).await? != pool {
        return Err(no_client());
    }
    Ok(pool)
}

// Members Cognito accepts that this server ignores are read and dropped
// (`ContextData`: advanced security, not used here).
#[derive(Deserialize)]
#[allow(dead_code)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct AdminInitiateAuthIn {
    #[serde(default)]
    user_pool_id: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    auth_flow: Option<String>,
    #[serde(default)]
    auth_parameters: Params,
    #[serde(default)]
    client_metadata: Option<IgnoredAny>,
    #[serde(default)]
    analytics_metadata: Option<IgnoredAny>,
    #[serde(default)]
    user_context_data: Option<IgnoredAny>,
    #[serde(default)]
    context_data: Option<IgnoredAny>,
}

async fn admin_initiate_auth(
    s: &AppState,
    _admin: &AdminCtx,
    i: AdminInitiateAuthIn,
) -> Result<AuthAnswer, Fault> {
    let pool = check_pool(s, i.user_pool_id, i.client_id.as_deref()).await?;
    let client_id = i.client_id.unwrap_or_default();
    let flow = required(i.auth_flow, "AuthFlow")?;
    let p = &i.auth_parameters;
    match flow.as_str() {
        "ADMIN_USER_PASSWORD_AUTH" | "ADMIN_NO_SRP_AUTH" => {
            let req = sign_in_request(client_id, p)?;
            Ok(s.pools.admin_sign_in(&pool, req).await?.into())
        }
        // The same flows as InitiateAuth, through the same code.
        "USER_SRP_AUTH" => srp_flow(s, &client_id, p).await,
        "REFRESH_TOKEN_AUTH" | "REFRESH_TOKEN" => refresh_flow(s, client_id, p).await,
        "CUSTOM_AUTH" | "USER_AUTH" => Err(not_supported(&format!("AdminInitiateAuth {flow}"))),
        other => Err(invalid(format!("Unknown AuthFlow {other}"))),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AdminRespondIn {
    #[serde(default)]
    user_pool_id: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    context_data: Option<IgnoredAny>,
    #[serde(flatten)]
    rest: RespondIn,
}

async fn admin_respond(
    s: &AppState,
    _admin: &AdminCtx,
    i: AdminRespondIn,
) -> Result<AuthAnswer, Fault> {
    check_pool(s, i.user_pool_id, Some(&i.rest.client_id)).await?;
    respond_to_auth_challenge(s, i.rest).await
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct EventsIn {
    user_pool_id: String,
    username: String,
    #[serde(default)]
    max_results: Option<i64>,
    #[serde(default)]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EventsOut {
    auth_events: Vec<AuthEventType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// `(created_at, id)` of the last event of the previous page.
fn events_cursor(token: Option<&str>) -> Result<Option<(i64, String)>, Fault> {
    let Some(c) = token else { return Ok(None) };
    let bad = || invalid("Invalid NextToken");
    let (t, id) = c.split_once(':').ok_or_else(bad)?;
    Ok(Some((t.parse::<i64>().map_err(|_| bad())?, id.to_owned())))
}

async fn admin_list_user_auth_events(
    s: &AppState,
    _admin: &AdminCtx,
    i: EventsIn,
) -> Result<EventsOut, Fault> {
    let limit = i.max_results.unwrap_or(60);
    if !(1..=60).contains(&limit) {
        return Err(invalid("MaxResults must be 1-60"));
    }
    let cursor = events_cursor(i.next_token.as_deref())?;
    let user = s
        .pools
        .admin_get_user(&i.user_pool_id, &i.username)
        .await
        .map_err(user_not_found)?;
    let before = cursor.as_ref().map(|(t, id)| (*t, id.as_str()));
    let events = s
        .pools
        .audit_events(&i.user_pool_id, Some(&user.sub), before, limit)
        .await?;
    let next_token = (events.len() as i64 == limit)
        .then(|| events.last().map(|e| format!("{}:{}", e.created_at, e.id)))
        .flatten();
    Ok(EventsOut {
        auth_events: events.iter().map(Into::into).collect(),
        next_token,
    })
}

/// Cognito's `AuthEventType` for an audit event.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AuthEventType {
    event_id: String,
    event_type: &'static str,
    creation_date: i64,
    event_response: &'static str,
    event_risk: EventRisk,
    challenge_responses: [(); 0],
    event_context_data: EventContext,
    event_feedback: Option<()>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EventRisk {
    risk_decision: &'static str,
    compromised_credentials_detected: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EventContext {
    ip_address: Option<String>,
    device_name: Option<String>,
}

impl From<&AuditEvent> for AuthEventType {
    fn from(e: &AuditEvent) -> Self {
        let event_type = match e.event.as_str() {
            "SignUp" => "SignUp",
            "ForgotPassword" | "ConfirmForgotPassword" => "ForgotPassword",
            "ChangePassword" => "PasswordChange",
            "ResendConfirmationCode" => "ResendCode",
            // SignIn, AdminSignIn, RefreshToken and the rest.
            _ => "SignIn",
        };
        Self {
            event_id: e.id.clone(),
            event_type,
            creation_date: e.created_at,
            event_response: if e.outcome == "Success" {
                "Pass"
            } else {
                "Fail"
            },
            event_risk: EventRisk {
                risk_decision: "NoRisk",
                compromised_credentials_detected: false,
            },
            challenge_responses: [],
            event_context_data: EventContext {
                ip_address: e.ip.clone(),
                device_name: e.user_agent.clone(),
            },
            event_feedback: None,
        }
    }
}

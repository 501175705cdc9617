//! AdminInitiateAuth, AdminRespondToAuthChallenge and
//! AdminListUserAuthEvents: the sign-in operations of a trusted back end
//! (SigV4-signed with the admin credential). They name the pool as well as
//! the client; the client must belong to it.

use super::{Answer, Fault, client_secret, from_native, input, sign_in_answer, unsupported};
use crate::app::AppState;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub(super) const ADMIN_AUTH_OPERATIONS: &[&str] = &[
    "AdminInitiateAuth",
    "AdminRespondToAuthChallenge",
    "AdminListUserAuthEvents",
];

fn bad(message: impl Into<String>) -> Fault {
    Fault::new("InvalidParameterException", message)
}

/// Takes `UserPoolId` out of the request and checks the client is the
/// pool's; drops `ContextData` (advanced security, not used here).
async fn pool_of_request(s: &AppState, m: &mut Map<String, Value>) -> Result<String, Fault> {
    let pool = match m.remove("UserPoolId") {
        Some(Value::String(p)) => p,
        _ => return Err(bad("UserPoolId is required")),
    };
    m.remove("ContextData");
    let client = m
        .get("ClientId")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("ClientId is required"))?;
    s.pools.pool(&pool).await?;
    if super::client_pool(s, client).await? != pool {
        return Err(Fault::new(
            "ResourceNotFoundException",
            "User pool client does not exist.",
        ));
    }
    Ok(pool)
}

pub(super) async fn admin_auth_op(s: &AppState, op: &str, mut m: Map<String, Value>) -> Answer {
    match op {
        "AdminInitiateAuth" => {
            let pool = pool_of_request(s, &mut m).await?;
            let flow = m
                .get("AuthFlow")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("AuthFlow is required"))?
                .to_owned();
            match flow.as_str() {
                "ADMIN_USER_PASSWORD_AUTH" | "ADMIN_NO_SRP_AUTH" => {
                    #[derive(Deserialize)]
                    #[allow(dead_code)]
                    #[serde(rename_all = "PascalCase", deny_unknown_fields)]
                    struct In {
                        auth_flow: String,
                        client_id: String,
                        #[serde(default)]
                        auth_parameters: BTreeMap<String, String>,
                        #[serde(default)]
                        client_metadata: Option<Value>,
                        #[serde(default)]
                        analytics_metadata: Option<Value>,
                    }
                    let i: In = input(m)?;
                    let p = |k: &str| i.auth_parameters.get(k).map(String::as_str);
                    let (Some(user), Some(pw)) = (p("USERNAME"), p("PASSWORD")) else {
                        return Err(bad("Missing required parameter USERNAME or PASSWORD"));
                    };
                    let (_, secret) =
                        client_secret(s, &i.client_id, Some(user), p("SECRET_HASH")).await?;
                    let r = s
                        .pools
                        .admin_sign_in(
                            &pool,
                            from_native(json!({"client_id": i.client_id, "client_secret": secret,
                                "username": user, "password": pw}))?,
                        )
                        .await?;
                    Ok(sign_in_answer(r))
                }
                // The same flows as InitiateAuth, through the same code.
                "USER_SRP_AUTH" | "REFRESH_TOKEN_AUTH" | "REFRESH_TOKEN" => {
                    Box::pin(super::user_pool_op(s, "InitiateAuth", m)).await
                }
                "CUSTOM_AUTH" | "USER_AUTH" => unsupported(&format!("AdminInitiateAuth {flow}")),
                other => Err(bad(format!("Unknown AuthFlow {other}"))),
            }
        }
        "AdminRespondToAuthChallenge" => {
            pool_of_request(s, &mut m).await?;
            Box::pin(super::user_pool_op(s, "RespondToAuthChallenge", m)).await
        }
        _ => {
            #[derive(Deserialize)]
            #[serde(rename_all = "PascalCase", deny_unknown_fields)]
            struct In {
                user_pool_id: String,
                username: String,
                #[serde(default)]
                max_results: Option<i64>,
                #[serde(default)]
                next_token: Option<String>,
            }
            let i: In = input(m)?;
            let limit = i.max_results.unwrap_or(60);
            if !(1..=60).contains(&limit) {
                return Err(bad("MaxResults must be 1-60"));
            }
            let cursor = match i.next_token.as_deref() {
                None => None,
                Some(c) => {
                    let (t, id) = c.split_once(':').ok_or_else(|| bad("Invalid NextToken"))?;
                    Some((
                        t.parse::<i64>().map_err(|_| bad("Invalid NextToken"))?,
                        id.to_owned(),
                    ))
                }
            };
            let user = s
                .pools
                .admin_get_user(&i.user_pool_id, &i.username)
                .await
                .map_err(|e| match e.kind {
                    crate::error::ErrorKind::ResourceNotFound
                        if e.message.starts_with("User not found") =>
                    {
                        Fault::new("UserNotFoundException", "User does not exist.")
                    }
                    _ => e.into(),
                })?;
            let events = s
                .pools
                .audit_events(
                    &i.user_pool_id,
                    Some(&user.sub),
                    cursor.as_ref().map(|(t, id)| (*t, id.as_str())),
                    limit,
                )
                .await?;
            let mut out = json!({"AuthEvents": events.iter().map(|e| {
                let kind = match e.event.as_str() {
                    "SignIn" | "AdminSignIn" | "RefreshToken" => "SignIn",
                    "SignUp" => "SignUp",
                    "ForgotPassword" | "ConfirmForgotPassword" => "ForgotPassword",
                    "ChangePassword" => "PasswordChange",
                    "ResendConfirmationCode" => "ResendCode",
                    _ => "SignIn",
                };
                json!({
                    "EventId": e.id,
                    "EventType": kind,
                    "CreationDate": e.created_at,
                    "EventResponse": if e.outcome == "Success" { "Pass" } else { "Fail" },
                    "EventRisk": {"RiskDecision": "NoRisk", "CompromisedCredentialsDetected": false},
                    "ChallengeResponses": [],
                    "EventContextData": {"IpAddress": e.ip, "DeviceName": e.user_agent},
                    "EventFeedback": null,
                })
            }).collect::<Vec<_>>()});
            if events.len() as i64 == limit
                && let Some(last) = events.last()
            {
                out["NextToken"] = format!("{}:{}", last.created_at, last.id).into();
            }
            Ok(out)
        }
    }
}

//! The user's second factors: a TOTP authenticator (by access token, or by
//! the session of an `MFA_SETUP` challenge) and the MFA preference (the
//! user's own, and the admin's for a user).

use super::Fault;
use super::error::{invalid, required};
use super::op::{Empty, Operation};
use super::wire::MfaSettingsIn;
use crate::app::AppState;
use crate::audit::AdminCtx;
use crate::user_pools::mfa::VerifyTotp;
use serde::{Deserialize, Serialize};

pub(super) const OPS: &[Operation] = &[
    public!(
        UserPools,
        "AssociateSoftwareToken",
        associate_software_token
    ),
    public!(UserPools, "VerifySoftwareToken", verify_software_token),
    public!(UserPools, "SetUserMFAPreference", set_user_mfa_preference),
    admin!(
        UserPools,
        "AdminSetUserMFAPreference",
        admin_set_user_mfa_preference
    ),
];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct TotpIn {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    session: Option<String>,
    #[serde(default)]
    user_code: Option<String>,
    #[serde(default)]
    friendly_device_name: Option<String>,
}

fn neither() -> Fault {
    invalid("AccessToken or Session is required")
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AssociateOut {
    secret_code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<String>,
}

async fn associate_software_token(s: &AppState, i: TotpIn) -> Result<AssociateOut, Fault> {
    let (x, session) = match (i.access_token, i.session) {
        (Some(t), _) => {
            let a = s.pools.sessions.authenticate_access_token(&t).await?;
            (s.pools.associate_totp(&a).await?, None)
        }
        (None, Some(session)) => {
            let x = s.pools.associate_totp_with_session(&session).await?;
            (x, Some(session))
        }
        (None, None) => return Err(neither()),
    };
    Ok(AssociateOut {
        secret_code: x.secret_code,
        session,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct VerifyOut {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<String>,
}

async fn verify_software_token(s: &AppState, i: TotpIn) -> Result<VerifyOut, Fault> {
    let code = required(i.user_code, "UserCode")?;
    let req = VerifyTotp {
        code,
        device_name: i.friendly_device_name,
    };
    let session = match (i.access_token, i.session) {
        (Some(t), _) => {
            let a = s.pools.sessions.authenticate_access_token(&t).await?;
            s.pools.verify_totp(&a, req).await?;
            None
        }
        (None, Some(session)) => {
            s.pools.verify_totp_with_session(&session, req).await?;
            Some(session)
        }
        (None, None) => return Err(neither()),
    };
    Ok(VerifyOut {
        status: "SUCCESS",
        session,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SetMfaIn {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(flatten)]
    settings: MfaSettingsIn,
}

async fn set_user_mfa_preference(s: &AppState, i: SetMfaIn) -> Result<Empty, Fault> {
    let token = required(i.access_token, "AccessToken")?;
    let a = s.pools.sessions.authenticate_access_token(&token).await?;
    s.pools.set_mfa_preference(&a, i.settings.into()).await?;
    Ok(Empty {})
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AdminSetMfaIn {
    #[serde(default)]
    user_pool_id: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(flatten)]
    settings: MfaSettingsIn,
}

async fn admin_set_user_mfa_preference(
    s: &AppState,
    admin: &AdminCtx,
    i: AdminSetMfaIn,
) -> Result<Empty, Fault> {
    let pool = required(i.user_pool_id, "UserPoolId")?;
    let username = required(i.username, "Username")?;
    s.pools
        .admin_set_mfa_preference(admin, &pool, &username, i.settings.into())
        .await?;
    Ok(Empty {})
}

//! The public identity-pool operations (unsigned, as in Cognito): an
//! identity id for a login, its AWS credentials or OpenID token, unlinking
//! a login.

use super::Fault;
use super::op::{Empty, Operation};
use super::wire::{Credentials, IdentityToken, required};
use crate::app::AppState;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub(super) const OPS: &[Operation] = &[
    public!(Identity, "GetId", get_id),
    public!(Identity, "GetCredentialsForIdentity", get_credentials),
    public!(Identity, "GetOpenIdToken", get_open_id_token),
    public!(Identity, "UnlinkIdentity", unlink_identity),
];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct GetIdIn {
    #[serde(default)]
    identity_pool_id: Option<String>,
    /// Accepted and unused: there is one account here.
    #[serde(default)]
    #[allow(dead_code)]
    account_id: Option<String>,
    #[serde(default)]
    logins: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetIdOut {
    identity_id: String,
}

async fn get_id(s: &AppState, i: GetIdIn) -> Result<GetIdOut, Fault> {
    let pool = required(i.identity_pool_id, "IdentityPoolId")?;
    let identity_id = s
        .identity
        .get_id(&pool, crate::identity::GetId { logins: i.logins })
        .await?;
    Ok(GetIdOut { identity_id })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct GetCredentialsIn {
    #[serde(default)]
    identity_id: Option<String>,
    #[serde(default)]
    logins: BTreeMap<String, String>,
    #[serde(default)]
    custom_role_arn: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetCredentialsOut {
    identity_id: String,
    credentials: Credentials,
}

async fn get_credentials(s: &AppState, i: GetCredentialsIn) -> Result<GetCredentialsOut, Fault> {
    let identity_id = required(i.identity_id, "IdentityId")?;
    let pool = s.identity.pool_of_identity(&identity_id).await?;
    let r = s
        .identity
        .credentials(
            &pool,
            crate::identity::GetCredentials {
                identity_id,
                logins: i.logins,
                custom_role_arn: i.custom_role_arn,
                duration_secs: None,
            },
        )
        .await?;
    Ok(GetCredentialsOut {
        identity_id: r.identity_id,
        credentials: r.credentials.into(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct GetOpenIdTokenIn {
    #[serde(default)]
    identity_id: Option<String>,
    #[serde(default)]
    logins: BTreeMap<String, String>,
}

async fn get_open_id_token(s: &AppState, i: GetOpenIdTokenIn) -> Result<IdentityToken, Fault> {
    let identity_id = required(i.identity_id, "IdentityId")?;
    let pool = s.identity.pool_of_identity(&identity_id).await?;
    let r = s
        .identity
        .openid_token(
            &pool,
            crate::identity::GetOpenIdToken {
                identity_id,
                logins: i.logins,
            },
        )
        .await?;
    Ok(r.into())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct UnlinkIdentityIn {
    identity_id: String,
    #[serde(default)]
    logins: BTreeMap<String, String>,
    #[serde(default)]
    logins_to_remove: Vec<String>,
}

async fn unlink_identity(s: &AppState, i: UnlinkIdentityIn) -> Result<Empty, Fault> {
    s.identity
        .unlink_identity(&i.identity_id, &i.logins, &i.logins_to_remove)
        .await?;
    Ok(Empty {})
}

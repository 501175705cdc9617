//! The signed-in user's passkeys (WebAuthn credentials), by access token.

use super::Fault;
use super::error::{invalid, required};
use super::op::{Empty, Operation};
use crate::app::AppState;
use crate::user_pools::passkeys::{CompletePasskey, PasskeyView};
use serde::{Deserialize, Serialize};

pub(super) const OPS: &[Operation] = &[
    public!(UserPools, "StartWebAuthnRegistration", start_registration),
    public!(
        UserPools,
        "CompleteWebAuthnRegistration",
        complete_registration
    ),
    public!(UserPools, "ListWebAuthnCredentials", list_credentials),
    public!(UserPools, "DeleteWebAuthnCredential", delete_credential),
];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct PasskeyIn {
    access_token: String,
    #[serde(default)]
    credential: Option<serde_json::Value>,
    #[serde(default)]
    credential_id: Option<String>,
    #[serde(default)]
    max_results: Option<i64>,
    #[serde(default)]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct StartOut {
    /// The browser's `PublicKeyCredentialCreationOptions`, as the service
    /// builds them.
    credential_creation_options: serde_json::Value,
}

async fn start_registration(s: &AppState, i: PasskeyIn) -> Result<StartOut, Fault> {
    let a = s
        .pools
        .sessions
        .authenticate_access_token(&i.access_token)
        .await?;
    Ok(StartOut {
        credential_creation_options: s.pools.start_passkey_registration(&a).await?,
    })
}

async fn complete_registration(s: &AppState, i: PasskeyIn) -> Result<Empty, Fault> {
    let a = s
        .pools
        .sessions
        .authenticate_access_token(&i.access_token)
        .await?;
    let req = CompletePasskey {
        credential: required(i.credential, "Credential")?,
        name: None,
    };
    s.pools.complete_passkey_registration(&a, req).await?;
    Ok(Empty {})
}

/// Cognito's `WebAuthnCredentialDescription`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CredentialDescription {
    credential_id: String,
    relying_party_id: String,
    authenticator_transports: Vec<String>,
    created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    friendly_credential_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    authenticator_attachment: Option<String>,
}

impl From<&PasskeyView> for CredentialDescription {
    fn from(c: &PasskeyView) -> Self {
        Self {
            credential_id: c.credential_id.clone(),
            relying_party_id: c.relying_party_id.clone(),
            authenticator_transports: c.transports.clone(),
            created_at: c.created_at,
            friendly_credential_name: c.name.clone(),
            authenticator_attachment: c.authenticator_attachment.clone(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListOut {
    credentials: Vec<CredentialDescription>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

async fn list_credentials(s: &AppState, i: PasskeyIn) -> Result<ListOut, Fault> {
    let a = s
        .pools
        .sessions
        .authenticate_access_token(&i.access_token)
        .await?;
    let max = i.max_results.unwrap_or(20);
    if !(1..=20).contains(&max) {
        return Err(invalid("MaxResults must be 1-20"));
    }
    let all = s.pools.list_passkeys(&a).await?;
    let start = match i.next_token.as_deref() {
        None => 0,
        Some(t) => t
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= all.len())
            .ok_or_else(|| invalid("Invalid NextToken"))?,
    };
    let end = (start + max as usize).min(all.len());
    Ok(ListOut {
        credentials: all[start..end].iter().map(Into::into).collect(),
        next_token: (end < all.len()).then(|| end.to_string()),
    })
}

async fn delete_credential(s: &AppState, i: PasskeyIn) -> Result<Empty, Fault> {
    let a = s
        .pools
        .sessions
        .authenticate_access_token(&i.access_token)
        .await?;
    let id = required(i.credential_id, "CredentialId")?;
    s.pools.delete_passkey(&a, &id).await?;
    Ok(Empty {})
}

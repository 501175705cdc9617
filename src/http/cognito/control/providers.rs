//! The external identity providers of a user pool, and linking a
//! provider's user to a pool user (SigV4-signed with an admin key).

use super::super::Fault;
use super::super::op::{Empty, Operation};
use super::super::wire::{bad, next_token, page_size, required};
use crate::app::AppState;
use crate::audit::AdminCtx;
use crate::model::{IdentityProvider, ProviderSettings, ProviderType};
use crate::user_pools::federation::{LinkIdentity, PutIdentityProvider};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub(in super::super) const OPS: &[Operation] = &[
    admin!(
        UserPools,
        "CreateIdentityProvider",
        create_identity_provider
    ),
    admin!(
        UserPools,
        "DescribeIdentityProvider",
        describe_identity_provider
    ),
    admin!(
        UserPools,
        "UpdateIdentityProvider",
        update_identity_provider
    ),
    admin!(
        UserPools,
        "DeleteIdentityProvider",
        delete_identity_provider
    ),
    admin!(UserPools, "ListIdentityProviders", list_identity_providers),
    admin!(
        UserPools,
        "AdminLinkProviderForUser",
        link_provider_for_user
    ),
    admin!(
        UserPools,
        "AdminDisableProviderForUser",
        disable_provider_for_user
    ),
];

/// Create/UpdateIdentityProvider.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutIn {
    #[serde(default)]
    user_pool_id: Option<String>,
    #[serde(default)]
    provider_name: Option<String>,
    #[serde(default)]
    provider_type: Option<String>,
    #[serde(default)]
    provider_details: Option<BTreeMap<String, String>>,
    #[serde(default)]
    attribute_mapping: Option<BTreeMap<String, String>>,
    #[serde(default)]
    idp_identifiers: Option<Vec<String>>,
}

impl PutIn {
    /// The native request (`old`: the provider being updated, whose
    /// members stay unless named).
    fn request(self, old: Option<&IdentityProvider>) -> Result<PutIdentityProvider, Fault> {
        let provider_type = match self.provider_type {
            None => None,
            Some(t) => Some(ProviderType::parse(&t).ok_or_else(|| {
                bad(format!(
                    "ProviderType {t} is not supported here (OIDC, Google, Facebook, SignInWithApple)"
                ))
            })?),
        };
        let mut settings = old.map(|p| p.settings.clone()).unwrap_or_default();
        let mut client_secret = None;
        for (k, v) in self.provider_details.unwrap_or_default() {
            if let Some(secret) = detail(&mut settings, &k, v)? {
                client_secret = Some(secret);
            }
        }
        if let Some(map) = self.attribute_mapping {
            // The username is always <Provider>_<subject> here.
            settings.attribute_mapping = map.into_iter().filter(|(k, _)| k != "username").collect();
        }
        if self.idp_identifiers.is_some_and(|a| !a.is_empty()) {
            return Err(bad("IdpIdentifiers are not supported by this server"));
        }
        Ok(PutIdentityProvider {
            name: self.provider_name,
            provider_type,
            client_secret,
            settings,
        })
    }
}

/// One of Cognito's `ProviderDetails` into the settings; the secret (or
/// Apple's private key) is handed back, write-only.
fn detail(settings: &mut ProviderSettings, k: &str, v: String) -> Result<Option<String>, Fault> {
    match k {
        "client_id" => settings.client_id = v,
        "client_secret" | "private_key" => return Ok(Some(v)),
        "oidc_issuer" => settings.issuer = Some(v),
        "authorize_url" => settings.authorize_url = Some(v),
        "token_url" => settings.token_url = Some(v),
        "attributes_url" => settings.userinfo_url = Some(v),
        "jwks_uri" => settings.jwks_uri = Some(v),
        "team_id" => settings.apple_team_id = Some(v),
        "key_id" => settings.apple_key_id = Some(v),
        "authorize_scopes" => {
            settings.scopes = v
                .split([' ', ','])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
        }
        // Read-only or fixed here: GET is the userinfo method used.
        "attributes_request_method" | "attributes_url_add_attributes" | "api_version" => {}
        other => return Err(bad(format!("ProviderDetails.{other} is not supported"))),
    }
    Ok(None)
}

/// Cognito's `IdentityProviderType` (never the secret).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct IdentityProviderType {
    user_pool_id: String,
    provider_name: String,
    provider_type: &'static str,
    provider_details: BTreeMap<&'static str, String>,
    attribute_mapping: BTreeMap<String, String>,
    idp_identifiers: Vec<String>,
    creation_date: i64,
    last_modified_date: i64,
}

impl From<IdentityProvider> for IdentityProviderType {
    fn from(p: IdentityProvider) -> Self {
        let s = p.settings;
        let mut details = BTreeMap::from([("client_id", s.client_id)]);
        for (k, v) in [
            ("oidc_issuer", s.issuer),
            ("authorize_url", s.authorize_url),
            ("token_url", s.token_url),
            ("attributes_url", s.userinfo_url),
            ("jwks_uri", s.jwks_uri),
            ("team_id", s.apple_team_id),
            ("key_id", s.apple_key_id),
        ] {
            if let Some(v) = v {
                details.insert(k, v);
            }
        }
        if !s.scopes.is_empty() {
            details.insert("authorize_scopes", s.scopes.join(" "));
        }
        let mut mapping = s.attribute_mapping;
        mapping.insert("username".into(), "sub".into());
        Self {
            user_pool_id: p.pool_id,
            provider_name: p.name,
            provider_type: p.provider_type.as_str(),
            provider_details: details,
            attribute_mapping: mapping,
            idp_identifiers: vec![],
            creation_date: p.created_at,
            last_modified_date: p.updated_at,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct IdentityProviderOut {
    identity_provider: IdentityProviderType,
}

async fn create_identity_provider(
    s: &AppState,
    admin: &AdminCtx,
    i: PutIn,
) -> Result<IdentityProviderOut, Fault> {
    let pool = required(i.user_pool_id.clone(), "UserPoolId")?;
    let req = i.request(None)?;
    let p = s
        .pools
        .create_identity_provider(admin, &pool, req)
        .await
        .map_err(|e| match e.kind {
            crate::error::ErrorKind::Conflict => {
                Fault::new("DuplicateProviderException", e.message)
            }
            _ => e.into(),
        })?;
    Ok(IdentityProviderOut {
        identity_provider: p.into(),
    })
}

/// A request that names one provider.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PoolProvider {
    #[serde(default)]
    user_pool_id: Option<String>,
    #[serde(default)]
    provider_name: Option<String>,
}

impl PoolProvider {
    fn names(self) -> Result<(String, String), Fault> {
        let pool = required(self.user_pool_id, "UserPoolId")?;
        Ok((pool, required(self.provider_name, "ProviderName")?))
    }
}

async fn describe_identity_provider(
    s: &AppState,
    _admin: &AdminCtx,
    i: PoolProvider,
) -> Result<IdentityProviderOut, Fault> {
    let (pool, name) = i.names()?;
    let p = s.pools.get_identity_provider(&pool, &name).await?;
    Ok(IdentityProviderOut {
        identity_provider: p.into(),
    })
}

async fn update_identity_provider(
    s: &AppState,
    admin: &AdminCtx,
    mut i: PutIn,
) -> Result<IdentityProviderOut, Fault> {
    let name = required(i.provider_name.take(), "ProviderName")?;
    let pool = required(i.user_pool_id.clone(), "UserPoolId")?;
    let old = s.pools.get_identity_provider(&pool, &name).await?;
    let req = i.request(Some(&old))?;
    let p = s
        .pools
        .update_identity_provider(admin, &pool, &name, req)
        .await?;
    Ok(IdentityProviderOut {
        identity_provider: p.into(),
    })
}

async fn delete_identity_provider(
    s: &AppState,
    admin: &AdminCtx,
    i: PoolProvider,
) -> Result<Empty, Fault> {
    let (pool, name) = i.names()?;
    s.pools
        .delete_identity_provider(admin, &pool, &name)
        .await?;
    Ok(Empty {})
}

/// Cognito's `ProviderDescription`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ProviderDescription {
    provider_name: String,
    provider_type: &'static str,
    creation_date: i64,
    last_modified_date: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListOut {
    providers: Vec<ProviderDescription>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

async fn list_identity_providers(
    s: &AppState,
    _admin: &AdminCtx,
    i: super::super::wire::PoolPage,
) -> Result<ListOut, Fault> {
    let max = page_size(i.max_results, "MaxResults", 60, false)?;
    let pool = required(i.user_pool_id, "UserPoolId")?;
    let after = i.next_token;
    let list: Vec<_> = s
        .pools
        .list_identity_providers(&pool)
        .await?
        .into_iter()
        .filter(|p| after.as_deref().is_none_or(|a| p.name.as_str() > a))
        .take(max as usize)
        .collect();
    Ok(ListOut {
        next_token: next_token(&list, max, |p| p.name.clone()),
        providers: list
            .into_iter()
            .map(|p| ProviderDescription {
                provider_name: p.name,
                provider_type: p.provider_type.as_str(),
                creation_date: p.created_at,
                last_modified_date: p.updated_at,
            })
            .collect(),
    })
}

/// Cognito's `ProviderUserIdentifierType`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProviderUser {
    #[serde(default)]
    provider_name: Option<String>,
    #[serde(default)]
    provider_attribute_value: Option<String>,
}

/// `(provider, value)` of the member `key`, each required.
fn provider_user(u: Option<ProviderUser>, key: &str) -> Result<(String, String), Fault> {
    let u = required(u, key)?;
    let name = required(u.provider_name, &format!("{key}.ProviderName"))?;
    let value = required(
        u.provider_attribute_value,
        &format!("{key}.ProviderAttributeValue"),
    )?;
    Ok((name, value))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LinkIn {
    #[serde(default)]
    user_pool_id: Option<String>,
    #[serde(default)]
    destination_user: Option<ProviderUser>,
    #[serde(default)]
    source_user: Option<ProviderUser>,
}

async fn link_provider_for_user(s: &AppState, admin: &AdminCtx, i: LinkIn) -> Result<Empty, Fault> {
    let (dest_provider, username) = provider_user(i.destination_user, "DestinationUser")?;
    if dest_provider != "Cognito" {
        return Err(bad("DestinationUser.ProviderName must be Cognito"));
    }
    let (provider, subject) = provider_user(i.source_user, "SourceUser")?;
    let pool = required(i.user_pool_id, "UserPoolId")?;
    s.pools
        .link_identity(admin, &pool, &username, LinkIdentity { provider, subject })
        .await
        .map_err(|e| match e.kind {
            crate::error::ErrorKind::Conflict => bad(e.message),
            _ => e.into(),
        })?;
    Ok(Empty {})
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DisableIn {
    #[serde(default)]
    user_pool_id: Option<String>,
    #[serde(default)]
    user: Option<ProviderUser>,
}

async fn disable_provider_for_user(
    s: &AppState,
    admin: &AdminCtx,
    i: DisableIn,
) -> Result<Empty, Fault> {
    let (provider, subject) = provider_user(i.user, "User")?;
    let pool = required(i.user_pool_id, "UserPoolId")?;
    s.pools
        .unlink_identity(admin, &pool, &provider, &subject)
        .await?;
    Ok(Empty {})
}

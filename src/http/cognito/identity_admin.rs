//! Identity-pool administration on the Cognito protocol (SigV4-signed with
//! an admin key): pools, their roles, identities, developer identities.
//!
//! The inputs ignore members this server has no use for (tags, classic
//! flow), as the protocol did before the operation table.

use super::Fault;
use super::op::{Empty, Operation};
use super::wire::{IdentityPoolType, IdentityToken, bad, next_token, required};
use crate::app::AppState;
use crate::audit::AdminCtx;
use crate::model::{IdentityPoolSettings, Provider};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub(super) const OPS: &[Operation] = &[
    admin!(Identity, "CreateIdentityPool", create_identity_pool),
    admin!(Identity, "DescribeIdentityPool", describe_identity_pool),
    admin!(Identity, "UpdateIdentityPool", update_identity_pool),
    admin!(Identity, "ListIdentityPools", list_identity_pools),
    admin!(Identity, "DeleteIdentityPool", delete_identity_pool),
    admin!(Identity, "SetIdentityPoolRoles", set_identity_pool_roles),
    admin!(Identity, "GetIdentityPoolRoles", get_identity_pool_roles),
    admin!(Identity, "DescribeIdentity", describe_identity),
    admin!(Identity, "ListIdentities", list_identities),
    admin!(Identity, "DeleteIdentities", delete_identities),
    admin!(
        Identity,
        "GetOpenIdTokenForDeveloperIdentity",
        developer_identity
    ),
];

/// The members of a request that only names its pool.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PoolIdIn {
    #[serde(default)]
    identity_pool_id: Option<String>,
}

impl PoolIdIn {
    fn id(self) -> Result<String, Fault> {
        required(self.identity_pool_id, "IdentityPoolId")
    }
}

/// One of `CognitoIdentityProviders`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CognitoProviderIn {
    #[serde(default)]
    provider_name: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
}

/// Create/UpdateIdentityPool. OIDC, SAML and social providers are
/// configured through the native admin API (they need an issuer or URL
/// that these members do not carry).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IdentityPoolIn {
    #[serde(default)]
    identity_pool_id: Option<String>,
    #[serde(default)]
    identity_pool_name: Option<String>,
    #[serde(default)]
    allow_unauthenticated_identities: Option<bool>,
    #[serde(default)]
    cognito_identity_providers: Option<Vec<CognitoProviderIn>>,
    #[serde(default)]
    developer_provider_name: Option<String>,
    #[serde(default, rename = "OpenIdConnectProviderARNs")]
    open_id_connect_provider_arns: Option<Vec<String>>,
    #[serde(default, rename = "SamlProviderARNs")]
    saml_provider_arns: Option<Vec<String>>,
    #[serde(default)]
    supported_login_providers: Option<BTreeMap<String, String>>,
}

impl IdentityPoolIn {
    /// The pool's name and settings (`old`: the settings being updated,
    /// whose roles and other providers stay).
    fn settings(
        self,
        old: Option<IdentityPoolSettings>,
    ) -> Result<(String, IdentityPoolSettings), Fault> {
        let name = required(self.identity_pool_name, "IdentityPoolName")?;
        for (member, named) in [
            (
                "OpenIdConnectProviderARNs",
                self.open_id_connect_provider_arns
                    .is_some_and(|v| !v.is_empty()),
            ),
            (
                "SamlProviderARNs",
                self.saml_provider_arns.is_some_and(|v| !v.is_empty()),
            ),
            (
                "SupportedLoginProviders",
                self.supported_login_providers
                    .is_some_and(|v| !v.is_empty()),
            ),
        ] {
            if named {
                return Err(bad(format!(
                    "{member} is not supported on this protocol; configure the provider with the native admin API"
                )));
            }
        }
        let mut settings = old.unwrap_or_default();
        settings.allow_unauthenticated = self
            .allow_unauthenticated_identities
            .ok_or_else(|| bad("AllowUnauthenticatedIdentities is required"))?;
        settings
            .providers
            .retain(|p| !matches!(p, Provider::UserPool { .. } | Provider::Developer { .. }));
        let mut by_pool: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for p in self.cognito_identity_providers.into_iter().flatten() {
            let provider = p.provider_name.unwrap_or_default();
            let client = p.client_id.unwrap_or_default();
            let pool_id = provider.rsplit('/').next().unwrap_or("");
            if pool_id.is_empty() || client.is_empty() {
                return Err(bad(
                    "CognitoIdentityProviders need ProviderName and ClientId",
                ));
            }
            by_pool.entry(pool_id.to_owned()).or_default().push(client);
        }
        for (pool_id, client_ids) in by_pool {
            settings.providers.push(Provider::UserPool {
                pool_id,
                client_ids,
                role_mapping: None,
            });
        }
        if let Some(name) = self.developer_provider_name {
            settings.providers.push(Provider::Developer { name });
        }
        Ok((name, settings))
    }
}

async fn create_identity_pool(
    s: &AppState,
    admin: &AdminCtx,
    i: IdentityPoolIn,
) -> Result<IdentityPoolType, Fault> {
    let (name, settings) = i.settings(None)?;
    let p = s
        .identity
        .create_pool(
            admin,
            crate::identity::CreateIdentityPool { name, settings },
        )
        .await?;
    Ok(IdentityPoolType::new(s, &p))
}

async fn describe_identity_pool(
    s: &AppState,
    _admin: &AdminCtx,
    i: PoolIdIn,
) -> Result<IdentityPoolType, Fault> {
    let p = s.identity.get_pool(&i.id()?).await?;
    Ok(IdentityPoolType::new(s, &p))
}

async fn update_identity_pool(
    s: &AppState,
    admin: &AdminCtx,
    mut i: IdentityPoolIn,
) -> Result<IdentityPoolType, Fault> {
    let id = required(i.identity_pool_id.take(), "IdentityPoolId")?;
    let old = s.identity.get_pool(&id).await?;
    let (name, settings) = i.settings(Some(old.settings))?;
    let p = s
        .identity
        .update_pool(
            admin,
            &old.id,
            crate::identity::CreateIdentityPool { name, settings },
        )
        .await?;
    Ok(IdentityPoolType::new(s, &p))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListIdentityPoolsIn {
    #[serde(default)]
    max_results: Option<i64>,
    #[serde(default)]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct IdentityPoolShortDescription {
    identity_pool_id: String,
    identity_pool_name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListIdentityPoolsOut {
    identity_pools: Vec<IdentityPoolShortDescription>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

async fn list_identity_pools(
    s: &AppState,
    _admin: &AdminCtx,
    i: ListIdentityPoolsIn,
) -> Result<ListIdentityPoolsOut, Fault> {
    let max = i.max_results.unwrap_or(60);
    if !(1..=60).contains(&max) {
        return Err(bad("MaxResults must be 1-60"));
    }
    let pools = s.identity.list_pools(i.next_token.as_deref(), max).await?;
    Ok(ListIdentityPoolsOut {
        next_token: next_token(&pools, max, |p| p.id.clone()),
        identity_pools: pools
            .into_iter()
            .map(|p| IdentityPoolShortDescription {
                identity_pool_id: p.id,
                identity_pool_name: p.name,
            })
            .collect(),
    })
}

async fn delete_identity_pool(s: &AppState, admin: &AdminCtx, i: PoolIdIn) -> Result<Empty, Fault> {
    s.identity.delete_pool(admin, &i.id()?).await?;
    Ok(Empty {})
}

/// `Roles` of Set/GetIdentityPoolRoles.
#[derive(Deserialize, Serialize, Default)]
struct Roles {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    authenticated: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unauthenticated: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SetRolesIn {
    #[serde(default)]
    identity_pool_id: Option<String>,
    #[serde(default)]
    roles: Option<Roles>,
    /// Refused unless empty: role mappings are set with the native admin API.
    #[serde(default)]
    role_mappings: Option<BTreeMap<String, serde::de::IgnoredAny>>,
}

async fn set_identity_pool_roles(
    s: &AppState,
    admin: &AdminCtx,
    i: SetRolesIn,
) -> Result<Empty, Fault> {
    if i.role_mappings.is_some_and(|m| !m.is_empty()) {
        return Err(super::unsupported(
            "SetIdentityPoolRoles RoleMappings (use the native admin API)",
        )
        .expect_err("an unsupported operation is a fault"));
    }
    let p = s
        .identity
        .get_pool(&required(i.identity_pool_id, "IdentityPoolId")?)
        .await?;
    let roles = i.roles.unwrap_or_default();
    let mut settings = p.settings.clone();
    settings.authenticated_role = roles.authenticated;
    settings.unauthenticated_role = roles.unauthenticated;
    let req = crate::identity::CreateIdentityPool {
        name: p.name.clone(),
        settings,
    };
    s.identity.update_pool(admin, &p.id, req).await?;
    Ok(Empty {})
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetRolesOut {
    identity_pool_id: String,
    roles: Roles,
}

async fn get_identity_pool_roles(
    s: &AppState,
    _admin: &AdminCtx,
    i: PoolIdIn,
) -> Result<GetRolesOut, Fault> {
    use crate::model::{role_arn, role_name};
    let p = s.identity.get_pool(&i.id()?).await?;
    let arn = |r: Option<String>| r.map(|r| role_arn(role_name(&r)));
    Ok(GetRolesOut {
        identity_pool_id: p.id,
        roles: Roles {
            authenticated: arn(p.settings.authenticated_role),
            unauthenticated: arn(p.settings.unauthenticated_role),
        },
    })
}

/// Cognito's `IdentityDescription`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct IdentityDescription {
    identity_id: String,
    logins: Vec<String>,
    creation_date: i64,
    last_modified_date: i64,
}

impl From<crate::identity::IdentityDescription> for IdentityDescription {
    fn from(d: crate::identity::IdentityDescription) -> Self {
        Self {
            identity_id: d.identity_id,
            logins: d.logins,
            creation_date: d.created_at,
            last_modified_date: d.created_at,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeIdentityIn {
    #[serde(default)]
    identity_id: Option<String>,
}

async fn describe_identity(
    s: &AppState,
    _admin: &AdminCtx,
    i: DescribeIdentityIn,
) -> Result<IdentityDescription, Fault> {
    let id = required(i.identity_id, "IdentityId")?;
    Ok(s.identity.describe_identity(&id).await?.into())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListIdentitiesIn {
    #[serde(default)]
    identity_pool_id: Option<String>,
    #[serde(default)]
    max_results: Option<i64>,
    #[serde(default)]
    next_token: Option<String>,
    #[serde(default)]
    hide_disabled: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListIdentitiesOut {
    identity_pool_id: String,
    identities: Vec<IdentityDescription>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

async fn list_identities(
    s: &AppState,
    _admin: &AdminCtx,
    i: ListIdentitiesIn,
) -> Result<ListIdentitiesOut, Fault> {
    let max = i
        .max_results
        .filter(|n| (1..=60).contains(n))
        .ok_or_else(|| bad("MaxResults must be 1-60"))?;
    let pool = required(i.identity_pool_id, "IdentityPoolId")?;
    let hide_disabled = i.hide_disabled == Some(true);
    let list = s
        .identity
        .list_identities(&pool, i.next_token.as_deref(), max, hide_disabled)
        .await?;
    Ok(ListIdentitiesOut {
        identity_pool_id: pool,
        next_token: next_token(&list, max, |d| d.identity_id.clone()),
        identities: list.into_iter().map(Into::into).collect(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteIdentitiesIn {
    #[serde(default)]
    identity_ids_to_delete: Option<Vec<String>>,
}

/// Cognito's `UnprocessedIdentityId` (every identity is processed here).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UnprocessedIdentityId {
    identity_id: String,
    error_code: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteIdentitiesOut {
    unprocessed_identity_ids: Vec<UnprocessedIdentityId>,
}

async fn delete_identities(
    s: &AppState,
    admin: &AdminCtx,
    i: DeleteIdentitiesIn,
) -> Result<DeleteIdentitiesOut, Fault> {
    let list = i.identity_ids_to_delete.unwrap_or_default();
    s.identity.delete_identities(admin, &list).await?;
    Ok(DeleteIdentitiesOut {
        unprocessed_identity_ids: vec![],
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeveloperIdentityIn {
    #[serde(default)]
    identity_pool_id: Option<String>,
    #[serde(default)]
    identity_id: Option<String>,
    #[serde(default)]
    logins: BTreeMap<String, String>,
}

async fn developer_identity(
    s: &AppState,
    _admin: &AdminCtx,
    i: DeveloperIdentityIn,
) -> Result<IdentityToken, Fault> {
    let pool = s
        .identity
        .get_pool(&required(i.identity_pool_id, "IdentityPoolId")?)
        .await?;
    let developer = pool.settings.providers.iter().find_map(|p| match p {
        Provider::Developer { name } => Some(name.as_str()),
        _ => None,
    });
    let user_identifier = match (developer, i.logins.len()) {
        (Some(d), 1) => i.logins.get(d).cloned(),
        _ => None,
    }
    .ok_or_else(|| {
        bad("Logins must hold exactly one entry, keyed by the pool's DeveloperProviderName")
    })?;
    let req = crate::identity::DeveloperIdentity {
        user_identifier,
        identity_id: i.identity_id,
    };
    Ok(s.identity.developer_identity(&pool.id, req).await?.into())
}

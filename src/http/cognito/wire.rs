//! PascalCase shapes that several Cognito operations share (Cognito's
//! `*Type` structures), built from the services' values, and the small
//! input checks the operations have in common.

use super::Fault;
use crate::app::AppState;
use serde::Serialize;

/// `InvalidParameterException` with a message.
pub(super) fn bad(message: impl Into<String>) -> Fault {
    Fault::new("InvalidParameterException", message)
}

/// A member the operation needs ("<Member> is required" when absent).
pub(super) fn required<T>(v: Option<T>, member: &str) -> Result<T, Fault> {
    v.ok_or_else(|| bad(format!("{member} is required")))
}

/// The cursor of a list page: the last item's when the page is full (there
/// may be more).
pub(super) fn next_token<T>(list: &[T], max: i64, cursor: impl Fn(&T) -> String) -> Option<String> {
    match list.last() {
        Some(last) if list.len() as i64 == max => Some(cursor(last)),
        _ => None,
    }
}

// ---- identity pools ---------------------------------------------------------

/// Cognito's `Credentials` (temporary AWS credentials of an identity).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Credentials {
    access_key_id: String,
    secret_key: String,
    session_token: String,
    expiration: i64,
}

impl From<crate::identity::credentials::Credentials> for Credentials {
    fn from(c: crate::identity::credentials::Credentials) -> Self {
        Self {
            access_key_id: c.access_key_id,
            secret_key: c.secret_access_key,
            session_token: c.session_token,
            expiration: c.expiration,
        }
    }
}

/// `{IdentityId, Token}`: an identity's OpenID token.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct IdentityToken {
    identity_id: String,
    token: String,
}

impl From<crate::identity::OpenIdTokenView> for IdentityToken {
    fn from(r: crate::identity::OpenIdTokenView) -> Self {
        Self {
            identity_id: r.identity_id,
            token: r.token,
        }
    }
}

/// One of an identity pool's `CognitoIdentityProviders`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CognitoIdentityProvider {
    provider_name: String,
    client_id: String,
    server_side_token_check: bool,
}

/// Cognito's `IdentityPool` shape for a pool of this server.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct IdentityPoolType {
    identity_pool_id: String,
    identity_pool_name: String,
    allow_unauthenticated_identities: bool,
    allow_classic_flow: bool,
    cognito_identity_providers: Vec<CognitoIdentityProvider>,
    #[serde(skip_serializing_if = "Option::is_none")]
    developer_provider_name: Option<String>,
}

impl IdentityPoolType {
    pub(super) fn new(s: &AppState, p: &crate::model::IdentityPool) -> Self {
        use crate::model::Provider;
        let region = s.pools.region();
        let mut cognito = vec![];
        let mut developer = None;
        for pr in &p.settings.providers {
            match pr {
                Provider::UserPool {
                    pool_id,
                    client_ids,
                    ..
                } => cognito.extend(client_ids.iter().map(|c| CognitoIdentityProvider {
                    provider_name: format!("cognito-idp.{region}.amazonaws.com/{pool_id}"),
                    client_id: c.clone(),
                    server_side_token_check: true,
                })),
                Provider::Developer { name } => developer = Some(name.clone()),
                _ => {}
            }
        }
        Self {
            identity_pool_id: p.id.clone(),
            identity_pool_name: p.name.clone(),
            allow_unauthenticated_identities: p.settings.allow_unauthenticated,
            allow_classic_flow: false,
            cognito_identity_providers: cognito,
            developer_provider_name: developer,
        }
    }
}

/// `MaxResults`/`Limit` within 1..=max (Cognito's bounds), default `max`
/// unless the member is required.
pub(super) fn page_size(
    v: Option<i64>,
    member: &str,
    max: i64,
    needed: bool,
) -> Result<i64, Fault> {
    match v {
        None if !needed => Ok(max),
        None => Err(bad(format!("{member} is required"))),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(bad(format!("{member} must be 1-{max}"))),
    }
}

/// A member whose `null` means something (`Some(None)`: clear it) as
/// opposed to its absence (`None`: keep it), with `#[serde(default)]`.
pub(super) fn present<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    T::deserialize(d).map(Some)
}

// ---- user pools -------------------------------------------------------------

/// Cognito's `AttributeType` in an answer.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct AttributeOut {
    name: String,
    value: String,
}

/// Cognito's `UserType` (the attributes a client may see).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct UserType {
    username: String,
    attributes: Vec<AttributeOut>,
    user_create_date: i64,
    user_last_modified_date: i64,
    enabled: bool,
    user_status: &'static str,
}

impl From<&crate::model::User> for UserType {
    fn from(u: &crate::model::User) -> Self {
        Self {
            username: u.username.clone(),
            attributes: crate::model::attributes::public(&u.attributes)
                .into_iter()
                .map(|(name, value)| AttributeOut { name, value })
                .collect(),
            user_create_date: u.created_at,
            user_last_modified_date: u.updated_at,
            enabled: u.enabled,
            user_status: u.status.as_str(),
        }
    }
}

/// Cognito's `GroupType`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GroupType {
    group_name: String,
    user_pool_id: String,
    description: Option<String>,
    role_arn: Option<String>,
    precedence: Option<i64>,
    creation_date: i64,
    last_modified_date: i64,
}

impl From<crate::model::Group> for GroupType {
    fn from(g: crate::model::Group) -> Self {
        Self {
            group_name: g.name,
            user_pool_id: g.pool_id,
            description: g.description,
            role_arn: g.role_arn,
            precedence: g.precedence,
            creation_date: g.created_at,
            last_modified_date: g.updated_at,
        }
    }
}

/// `{"Group": GroupType}`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GroupOut {
    pub group: GroupType,
}

/// One of a resource server's `Scopes`.
#[derive(Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(super) struct ResourceServerScopeType {
    scope_name: String,
    scope_description: String,
}

impl From<ResourceServerScopeType> for crate::model::ResourceServerScope {
    fn from(s: ResourceServerScopeType) -> Self {
        Self {
            name: s.scope_name,
            description: s.scope_description,
        }
    }
}

/// Cognito's `ResourceServerType`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ResourceServerType {
    user_pool_id: String,
    identifier: String,
    name: String,
    scopes: Vec<ResourceServerScopeType>,
}

impl From<crate::model::ResourceServer> for ResourceServerType {
    fn from(r: crate::model::ResourceServer) -> Self {
        Self {
            user_pool_id: r.pool_id,
            identifier: r.identifier,
            name: r.name,
            scopes: r
                .scopes
                .into_iter()
                .map(|s| ResourceServerScopeType {
                    scope_name: s.name,
                    scope_description: s.description,
                })
                .collect(),
        }
    }
}

/// Cognito's `{####}` and `{username}` placeholders as template variables;
/// any other template syntax in the text is refused.
pub(super) fn placeholders(text: &str, what: &str) -> Result<String, Fault> {
    let bare = text.replace("{####}", "").replace("{username}", "");
    if bare.contains("{{") || bare.contains("{%") || bare.contains("{#") {
        return Err(bad(format!("{what} may not contain template syntax")));
    }
    Ok(text
        .replace("{####}", "{{ code }}")
        .replace("{username}", "{{ username }}"))
}

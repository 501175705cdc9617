//! PascalCase shapes that several Cognito operations share (Cognito's
//! `*Type` structures), built from the services' typed results, and the
//! small input checks the operations have in common.

use super::Fault;
use crate::app::AppState;
use crate::model::{Attributes, Group, User};
use crate::tokens::TokenSet;
use crate::user_pools::auth::SignInResult;
use crate::user_pools::mfa::{MfaPreference, MfaView};
use crate::user_pools::signup::CodeDelivery;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Cognito's `AttributeType`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct AttributeType {
    pub name: String,
    pub value: String,
}

pub(super) fn attributes(list: Vec<AttributeType>) -> Attributes {
    list.into_iter().map(|a| (a.name, a.value)).collect()
}

pub(super) fn attribute_list(attrs: &Attributes) -> Vec<AttributeType> {
    attrs
        .iter()
        .map(|(k, v)| AttributeType {
            name: k.clone(),
            value: v.clone(),
        })
        .collect()
}

/// Attribute names to delete: the native update deletes an attribute given
/// as "".
pub(super) fn deletions(names: Vec<String>) -> Attributes {
    names.into_iter().map(|n| (n, String::new())).collect()
}

/// Cognito's `CodeDeliveryDetailsType`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CodeDeliveryDetails {
    destination: String,
    delivery_medium: String,
    attribute_name: String,
}

impl From<&CodeDelivery> for CodeDeliveryDetails {
    fn from(d: &CodeDelivery) -> Self {
        Self {
            destination: d.destination.clone(),
            delivery_medium: d.medium.clone(),
            attribute_name: d.attribute.clone(),
        }
    }
}

/// Cognito's `AuthenticationResultType`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct AuthenticationResult {
    access_token: String,
    id_token: String,
    expires_in: i64,
    token_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

impl From<TokenSet> for AuthenticationResult {
    fn from(t: TokenSet) -> Self {
        Self {
            access_token: t.access_token,
            id_token: t.id_token,
            expires_in: t.expires_in,
            token_type: t.token_type,
            refresh_token: t.refresh_token,
        }
    }
}

/// The answer of the sign-in operations: tokens, or the next challenge.
#[derive(Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub(super) struct AuthAnswer {
    #[serde(skip_serializing_if = "Option::is_none")]
    challenge_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    challenge_parameters: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    available_challenges: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    authentication_result: Option<AuthenticationResult>,
}

impl AuthAnswer {
    /// Tokens, with the empty `ChallengeParameters` Cognito sends along.
    pub fn tokens(t: TokenSet) -> Self {
        Self {
            authentication_result: Some(t.into()),
            challenge_parameters: Some(BTreeMap::new()),
            ..Self::default()
        }
    }
}

impl From<SignInResult> for AuthAnswer {
    fn from(r: SignInResult) -> Self {
        match (r.tokens, r.challenge) {
            (Some(t), _) => Self::tokens(t),
            (None, Some(c)) if c.session.is_empty() => Self {
                challenge_name: Some(c.name),
                challenge_parameters: Some(c.parameters),
                ..Self::default()
            },
            (None, Some(mut c)) => {
                // USER_AUTH's choices are a member of their own.
                let available = c
                    .parameters
                    .remove("AvailableChallenges")
                    .and_then(|a| serde_json::from_str(&a).ok());
                Self {
                    challenge_name: Some(c.name),
                    session: Some(c.session),
                    challenge_parameters: Some(c.parameters),
                    available_challenges: available,
                    ..Self::default()
                }
            }
            (None, None) => Self::default(),
        }
    }
}

/// Cognito's `UserType` (ListUsers, AdminCreateUser).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct UserType {
    username: String,
    attributes: Vec<AttributeType>,
    user_create_date: i64,
    user_last_modified_date: i64,
    enabled: bool,
    user_status: &'static str,
}

impl From<&User> for UserType {
    fn from(u: &User) -> Self {
        Self {
            username: u.username.clone(),
            attributes: attribute_list(&crate::model::attributes::public(&u.attributes)),
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

impl From<&Group> for GroupType {
    fn from(g: &Group) -> Self {
        Self {
            group_name: g.name.clone(),
            user_pool_id: g.pool_id.clone(),
            description: g.description.clone(),
            role_arn: g.role_arn.clone(),
            precedence: g.precedence,
            creation_date: g.created_at,
            last_modified_date: g.updated_at,
        }
    }
}

/// GetUser's and AdminGetUser's `UserMFASettingList` and
/// `PreferredMfaSetting`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct MfaMembers {
    #[serde(rename = "UserMFASettingList")]
    user_mfa_setting_list: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    preferred_mfa_setting: Option<&'static str>,
    /// Always empty (the SMS-only legacy member).
    #[serde(rename = "MFAOptions")]
    mfa_options: [(); 0],
}

impl From<&MfaView> for MfaMembers {
    fn from(v: &MfaView) -> Self {
        let mut list = vec![];
        if v.totp_enabled {
            list.push("SOFTWARE_TOKEN_MFA");
        }
        if v.email_otp_enabled {
            list.push("EMAIL_OTP");
        }
        if v.sms_otp_enabled {
            list.push("SMS_MFA");
        }
        if v.passkeys > 0 && v.allowed_factors.iter().any(|f| f == "WEB_AUTHN") {
            list.push("WEB_AUTHN");
        }
        Self {
            user_mfa_setting_list: list,
            preferred_mfa_setting: v.preferred.as_deref().map(|p| match p {
                "SOFTWARE_TOKEN" => "SOFTWARE_TOKEN_MFA",
                "SMS_OTP" => "SMS_MFA",
                "WEB_AUTHN" => "WEB_AUTHN",
                _ => "EMAIL_OTP",
            }),
            mfa_options: [],
        }
    }
}

/// One factor's `*MfaSettings` of SetUserMFAPreference.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub(super) struct MfaSettings {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    preferred_mfa: Option<bool>,
}

/// The factor members of (Admin)SetUserMFAPreference.
#[derive(Deserialize, Default)]
pub(super) struct MfaSettingsIn {
    #[serde(default, rename = "SoftwareTokenMfaSettings")]
    totp: Option<MfaSettings>,
    #[serde(default, rename = "EmailMfaSettings")]
    email: Option<MfaSettings>,
    #[serde(default, rename = "SMSMfaSettings")]
    sms: Option<MfaSettings>,
    #[serde(default, rename = "WebAuthnMfaSettings")]
    web_authn: Option<MfaSettings>,
}

impl From<MfaSettingsIn> for MfaPreference {
    /// Cognito's settings as a native preference change.
    fn from(m: MfaSettingsIn) -> Self {
        let mut p = MfaPreference::default();
        for (s, factor) in [
            (&m.totp, "SOFTWARE_TOKEN"),
            (&m.email, "EMAIL_OTP"),
            (&m.sms, "SMS_OTP"),
        ] {
            let Some(s) = s else { continue };
            match factor {
                "SOFTWARE_TOKEN" => p.totp_enabled = s.enabled,
                "EMAIL_OTP" => p.email_otp_enabled = s.enabled,
                _ => p.sms_otp_enabled = s.enabled,
            }
            if s.preferred_mfa == Some(true) {
                p.preferred = Some(Some(factor.to_owned()));
            }
        }
        // Passkeys are a second factor by themselves once the pool allows
        // it; enabling them here makes them the preferred one (unless
        // another factor of the same request is preferred).
        if m.web_authn.and_then(|s| s.enabled) == Some(true) && p.preferred.is_none() {
            p.preferred = Some(Some("WEB_AUTHN".into()));
        }
        p
    }
}

impl AuthAnswer {
    /// A challenge without a session (SRP's first answer).
    pub fn bare_challenge(name: String, parameters: BTreeMap<String, String>) -> Self {
        Self {
            challenge_name: Some(name),
            challenge_parameters: Some(parameters),
            ..Self::default()
        }
    }
}

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

impl From<crate::model::Group> for GroupType {
    fn from(g: crate::model::Group) -> Self {
        Self::from(&g)
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

/// The input of a list operation over one pool's items (ListUserPoolClients,
/// ListIdentityProviders, ListResourceServers).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct PoolPage {
    #[serde(default)]
    pub user_pool_id: Option<String>,
    #[serde(default)]
    pub max_results: Option<i64>,
    #[serde(default)]
    pub next_token: Option<String>,
}

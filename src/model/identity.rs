//! Identity pools, roles and identities.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The account id in role ARNs (`arn:aws:iam::000000000000:role/<name>`):
/// one server is one account.
pub const ACCOUNT_ID: &str = "000000000000";

pub fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT_ID}:role/{name}")
}

/// The role name an ARN (or a bare name) refers to.
pub fn role_name(arn_or_name: &str) -> &str {
    arn_or_name
        .strip_prefix(&format!("arn:aws:iam::{ACCOUNT_ID}:role/"))
        .unwrap_or(arn_or_name)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IdentityPool {
    /// `<region>:<uuid>`, Cognito's form.
    pub id: String,
    pub name: String,
    pub settings: IdentityPoolSettings,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityPoolSettings {
    /// Guests (no login) get identities and the unauthenticated role.
    pub allow_unauthenticated: bool,
    /// The login providers this pool trusts.
    pub providers: Vec<Provider>,
    /// Role name or ARN for identities with a login.
    pub authenticated_role: Option<String>,
    /// Role name or ARN for guests.
    pub unauthenticated_role: Option<String>,
    /// Default credential lifetime, 900–43200 s (the role's maximum caps it).
    pub credentials_duration_secs: i64,
}

impl Default for IdentityPoolSettings {
    fn default() -> Self {
        Self {
            allow_unauthenticated: false,
            providers: vec![],
            authenticated_role: None,
            unauthenticated_role: None,
            credentials_duration_secs: 3600,
        }
    }
}

/// A login provider. The provider name is the key of the `logins` map.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Provider {
    /// A user pool of this server. Its provider names are
    /// `<public host/path>/<pool_id>` and `cognito-idp.<region>.amazonaws.com/<pool_id>`.
    UserPool {
        pool_id: String,
        /// App clients whose ID tokens are accepted (`aud`).
        client_ids: Vec<String>,
        #[serde(default)]
        role_mapping: Option<RoleMapping>,
    },
    /// Any OpenID Connect provider (Google: issuer `https://accounts.google.com`).
    Oidc {
        /// The provider name used in `logins` (e.g. `accounts.google.com`).
        name: String,
        issuer: String,
        /// Accepted `aud` values (client ids at the provider).
        audiences: Vec<String>,
        /// Where its keys are; discovered from the issuer when absent.
        #[serde(default)]
        jwks_uri: Option<String>,
        #[serde(default)]
        role_mapping: Option<RoleMapping>,
    },
    /// Opaque tokens checked by a token-introspection call (Facebook's
    /// `debug_token` style): `GET {url}?input_token=<token>&access_token=<app_token>`,
    /// the subject read from the JSON answer at `subject_field` (dotted path).
    Introspection {
        /// The provider name used in `logins` (e.g. `graph.facebook.com`).
        name: String,
        url: String,
        /// The app's own token at the provider. Write-only: sealed under the
        /// master key when saved, never shown; omit it on update to keep it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        app_token: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(ignore)]
        app_token_sealed: Option<String>,
        /// e.g. `data.user_id`.
        subject_field: String,
        /// e.g. `data.is_valid`: must be `true` when set.
        #[serde(default)]
        valid_field: Option<String>,
        /// e.g. `data.app_id`, which must be one of `audiences`.
        #[serde(default)]
        audience_field: Option<String>,
        #[serde(default)]
        audiences: Vec<String>,
        #[serde(default)]
        role_mapping: Option<RoleMapping>,
    },
    /// Developer-authenticated identities: the app's backend, holding the
    /// admin key, gets an OpenID token for its own user id
    /// (`POST /v1/admin/identity-pools/{id}/developer-identities`); the app
    /// then signs in with it under the name `cognito-identity.amazonaws.com`.
    Developer {
        /// The developer provider name (e.g. `login.example.app`).
        name: String,
    },
}

impl Provider {
    pub fn role_mapping(&self) -> Option<&RoleMapping> {
        match self {
            Provider::UserPool { role_mapping, .. }
            | Provider::Oidc { role_mapping, .. }
            | Provider::Introspection { role_mapping, .. } => role_mapping.as_ref(),
            Provider::Developer { .. } => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleMapping {
    /// `Token` (the token's `cognito:preferred_role`) or `Rules`.
    #[serde(rename = "type")]
    pub kind: MappingKind,
    /// When no rule or token role applies: `AuthenticatedRole` or `Deny`.
    #[serde(default)]
    pub ambiguous_role_resolution: AmbiguousResolution,
    #[serde(default)]
    pub rules: Vec<MappingRule>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub enum MappingKind {
    Token,
    Rules,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub enum AmbiguousResolution {
    #[default]
    AuthenticatedRole,
    Deny,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingRule {
    pub claim: String,
    pub match_type: MatchType,
    pub value: String,
    /// Role name or ARN.
    pub role: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub enum MatchType {
    Equals,
    Contains,
    StartsWith,
    NotEqual,
}

impl MatchType {
    pub fn matches(self, claim: &str, value: &str) -> bool {
        match self {
            MatchType::Equals => claim == value,
            MatchType::Contains => claim.contains(value),
            MatchType::StartsWith => claim.starts_with(value),
            MatchType::NotEqual => claim != value,
        }
    }
}

/// A named role: what credentials minted for it may do.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Role {
    pub name: String,
    /// The IAM policy document, validated when saved.
    pub policy: serde_json::Value,
    /// Longest credential lifetime, 900–43200 s.
    pub max_session_secs: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub identity_id: String,
    pub identity_pool_id: String,
    pub disabled_at: Option<i64>,
    pub created_at: i64,
}

/// Generations are one base-32 digit.
pub const MAX_GENERATION: u8 = 31;

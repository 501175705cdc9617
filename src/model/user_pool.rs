//! Plain data of the user-pool domain: what the store keeps and the services
//! work on. Settings documents are versionless JSON with defaults for every
//! field, so adding a setting never needs a data migration.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Cognito user status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UserStatus {
    Unconfirmed,
    Confirmed,
    ForceChangePassword,
    ResetRequired,
    ExternalProvider,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unconfirmed => "UNCONFIRMED",
            Self::Confirmed => "CONFIRMED",
            Self::ForceChangePassword => "FORCE_CHANGE_PASSWORD",
            Self::ResetRequired => "RESET_REQUIRED",
            Self::ExternalProvider => "EXTERNAL_PROVIDER",
        }
    }
    /// May hold tokens and sessions: confirmed, or created by a federated
    /// sign-in.
    pub fn signs_in(self) -> bool {
        matches!(self, Self::Confirmed | Self::ExternalProvider)
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "UNCONFIRMED" => Self::Unconfirmed,
            "CONFIRMED" => Self::Confirmed,
            "FORCE_CHANGE_PASSWORD" => Self::ForceChangePassword,
            "RESET_REQUIRED" => Self::ResetRequired,
            "EXTERNAL_PROVIDER" => Self::ExternalProvider,
            _ => return None,
        })
    }
}

/// Signing algorithm of a pool's JWTs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
pub enum SigningAlg {
    #[default]
    RS256,
    ES256,
}

impl SigningAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RS256" => Some(Self::RS256),
            "ES256" => Some(Self::ES256),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordPolicy {
    /// Minimum length in Unicode code points. NIST SP 800-63B: 15 when the
    /// password is the only factor (the default), at least 8 with MFA.
    pub min_length: u32,
    pub require_lowercase: bool,
    pub require_uppercase: bool,
    pub require_numbers: bool,
    pub require_symbols: bool,
    /// Refuse passwords from the built-in common-password list and context
    /// words (username, pool name).
    pub block_common_passwords: bool,
    /// Days an admin-set temporary password stays valid.
    pub temporary_password_validity_days: u32,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 15,
            require_lowercase: false,
            require_uppercase: false,
            require_numbers: false,
            require_symbols: false,
            block_common_passwords: true,
            temporary_password_validity_days: 7,
        }
    }
}

/// Token lifetimes in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TokenValidity {
    pub access_token_secs: i64,
    pub id_token_secs: i64,
    pub refresh_token_secs: i64,
}

impl Default for TokenValidity {
    fn default() -> Self {
        Self {
            access_token_secs: 3600,
            id_token_secs: 3600,
            refresh_token_secs: 30 * 86400,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum CustomAttributeType {
    String,
    Number,
    Boolean,
    DateTime,
}

/// A `custom:<name>` attribute of the pool schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomAttribute {
    /// Name without the `custom:` prefix (1–20 chars of `[A-Za-z0-9_]`).
    pub name: String,
    #[serde(default = "default_attr_type")]
    pub attribute_type: CustomAttributeType,
    #[serde(default = "yes")]
    pub mutable: bool,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub min_length: Option<u32>,
    #[serde(default)]
    pub max_length: Option<u32>,
    #[serde(default)]
    pub min_value: Option<i64>,
    #[serde(default)]
    pub max_value: Option<i64>,
}

fn default_attr_type() -> CustomAttributeType {
    CustomAttributeType::String
}
fn yes() -> bool {
    true
}

/// One message template (minijinja syntax; variables: `code`, `username`,
/// `pool_name`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageTemplate {
    pub subject: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(default, deny_unknown_fields)]
pub struct MessageTemplates {
    /// Sign-up confirmation code.
    pub verification: Option<MessageTemplate>,
    /// Admin-created user invitation (temporary password).
    pub invitation: Option<MessageTemplate>,
    /// Forgot-password code.
    pub reset_password: Option<MessageTemplate>,
    /// Attribute (email/phone) verification code.
    pub attribute_verification: Option<MessageTemplate>,
    /// Sign-in code of email MFA.
    pub sign_in_code: Option<MessageTemplate>,
}

/// Whether a pool asks for a second factor (Cognito's `MfaConfiguration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum MfaMode {
    /// Never.
    #[default]
    Off,
    /// From users who enabled a factor.
    Optional,
    /// From everyone; a user without a factor sets one up at sign-in
    /// (`MFA_SETUP`).
    On,
}

/// Second factors a pool can allow.
pub const MFA_FACTORS: &[&str] = &["SOFTWARE_TOKEN", "EMAIL_OTP", "SMS_OTP", "WEB_AUTHN"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MfaSettings {
    pub mode: MfaMode,
    /// Allowed factors: `SOFTWARE_TOKEN` (TOTP), `EMAIL_OTP`, `SMS_OTP`,
    /// `WEB_AUTHN` (a passkey after the password).
    pub factors: Vec<String>,
    /// The issuer shown by authenticator apps (default: the pool's name).
    pub totp_issuer: Option<String>,
}

impl Default for MfaSettings {
    fn default() -> Self {
        Self {
            mode: MfaMode::Off,
            factors: vec!["SOFTWARE_TOKEN".into()],
            totp_issuer: None,
        }
    }
}

impl MfaSettings {
    pub fn allows(&self, factor: &str) -> bool {
        self.factors.iter().any(|f| f == factor)
    }
}

/// A user's second factors.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserMfa {
    pub pool_id: String,
    pub sub: String,
    /// The TOTP secret, sealed under the master key.
    pub totp_secret: Option<Vec<u8>>,
    /// A code has confirmed the secret: TOTP is on.
    pub totp_verified: bool,
    pub totp_device: Option<String>,
    /// The last 30-second step whose code was accepted.
    pub totp_last_step: i64,
    pub email_otp_enabled: bool,
    pub sms_otp_enabled: bool,
    /// `SOFTWARE_TOKEN`, `EMAIL_OTP` or `SMS_OTP`.
    pub preferred: Option<String>,
    pub updated_at: i64,
}

/// A user's passkey (a WebAuthn credential).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebAuthnCredential {
    pub pool_id: String,
    /// The credential id, base64url without padding.
    pub credential_id: String,
    pub sub: String,
    pub name: Option<String>,
    /// The verified public key and flags (webauthn-rs `Passkey`, JSON).
    pub passkey: String,
    /// The authenticator's signature counter at the last use.
    pub sign_count: i64,
    pub transports: Vec<String>,
    pub attachment: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// Passkeys of a pool: the relying party they are bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(default, deny_unknown_fields)]
pub struct WebAuthnSettings {
    /// The relying-party id, a domain (default: the host of the server's
    /// `public_url`). Passkeys are bound to it: changing it orphans them.
    pub relying_party_id: Option<String>,
    /// Origins whose pages may use the passkeys, e.g.
    /// `https://app.example.com` (default: the server's `public_url`).
    pub origins: Vec<String>,
}

/// The hosted pages' look, changed without a rebuild.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Branding {
    /// Shown above the form: an https URL (http only for localhost) or a
    /// `data:image/...` URL.
    pub logo_url: Option<String>,
    /// Buttons and links, `#rgb` or `#rrggbb`.
    pub primary_color: Option<String>,
    pub background_color: Option<String>,
    pub text_color: Option<String>,
    /// Appended after the built-in styles (at most 16 KiB; no `<`, no
    /// `@import`).
    pub custom_css: Option<String>,
}

impl Branding {
    /// `self` with the members `over` sets replaced.
    pub fn overlaid(&self, over: &Branding) -> Branding {
        let pick = |a: &Option<String>, b: &Option<String>| b.clone().or_else(|| a.clone());
        Branding {
            logo_url: pick(&self.logo_url, &over.logo_url),
            primary_color: pick(&self.primary_color, &over.primary_color),
            background_color: pick(&self.background_color, &over.background_color),
            text_color: pick(&self.text_color, &over.text_color),
            custom_css: pick(&self.custom_css, &over.custom_css),
        }
    }
}

/// Everything configurable about a user pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PoolSettings {
    pub password_policy: PasswordPolicy,
    /// Attributes used *instead of* a username to sign up and sign in:
    /// empty (a free username), or any of `email`, `phone_number`.
    pub username_attributes: Vec<String>,
    /// Extra sign-in names for username pools, once verified: `email`,
    /// `phone_number`, `preferred_username`.
    pub alias_attributes: Vec<String>,
    pub username_case_sensitive: bool,
    /// Attributes verified by code at sign-up: `email`, `phone_number`.
    pub auto_verified_attributes: Vec<String>,
    /// Standard attributes that sign-up must provide.
    pub required_attributes: Vec<String>,
    /// `custom:` attributes.
    pub custom_attributes: Vec<CustomAttribute>,
    /// Defaults for new app clients.
    pub token_validity: TokenValidity,
    /// Answer unknown users exactly like wrong passwords (Cognito's
    /// `PreventUserExistenceErrors=ENABLED`). On by default.
    pub prevent_user_existence_errors: bool,
    pub signing_algorithm: SigningAlg,
    pub messages: MessageTemplates,
    /// Store an SRP verifier at each password set (for `USER_SRP_AUTH`).
    pub allow_srp: bool,
    /// The hosted pages' look (an app client can override each member).
    pub branding: Branding,
    /// Multi-factor authentication.
    pub mfa: MfaSettings,
    /// What `USER_AUTH` offers as the first (or only) factor: `PASSWORD`
    /// (always), `EMAIL_OTP`, `SMS_OTP`, `WEB_AUTHN` (Cognito's
    /// `SignInPolicy.AllowedFirstAuthFactors`).
    pub first_auth_factors: Vec<String>,
    /// Passkeys: relying-party id and allowed origins.
    pub webauthn: WebAuthnSettings,
    /// Built-in rules run at trigger points (`user_pools::hooks`); shown
    /// only when set.
    #[serde(skip_serializing_if = "HookSettings::is_empty")]
    pub hooks: HookSettings,
}

/// Built-in rules the pool runs where Cognito would invoke a Lambda
/// trigger (`user_pools::hooks::PoolRules`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(default, deny_unknown_fields)]
pub struct HookSettings {
    pub pre_sign_up: PreSignUpRules,
}

impl HookSettings {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// The pre sign-up rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(default, deny_unknown_fields)]
pub struct PreSignUpRules {
    /// Self sign-ups whose `email` is at exactly one of these domains
    /// (lower-case ASCII; internationalised domains in their `xn--` form;
    /// subdomains are not included) are confirmed without a code, as a
    /// pre sign-up trigger answering `autoConfirmUser` would. The email
    /// stays unverified: the rule does not prove the address is theirs.
    pub auto_confirm_email_domains: Vec<String>,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            password_policy: PasswordPolicy::default(),
            username_attributes: vec![],
            alias_attributes: vec![],
            username_case_sensitive: false,
            auto_verified_attributes: vec!["email".into()],
            required_attributes: vec![],
            custom_attributes: vec![],
            token_validity: TokenValidity::default(),
            prevent_user_existence_errors: true,
            signing_algorithm: SigningAlg::RS256,
            messages: MessageTemplates::default(),
            allow_srp: true,
            branding: Branding::default(),
            mfa: MfaSettings::default(),
            first_auth_factors: vec!["PASSWORD".into()],
            webauthn: WebAuthnSettings::default(),
            hooks: HookSettings::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Pool {
    pub id: String,
    pub name: String,
    pub settings: PoolSettings,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Pool {
    /// A username as the pool stores and compares it: lowercased unless
    /// the pool's usernames are case-sensitive.
    pub fn normalize_username(&self, name: &str) -> String {
        if self.settings.username_case_sensitive {
            name.to_owned()
        } else {
            name.to_lowercase()
        }
    }
}

/// Auth flows an app client may use (Cognito's `ExplicitAuthFlows`).
pub const AUTH_FLOWS: &[&str] = &[
    "ALLOW_USER_PASSWORD_AUTH",
    "ALLOW_USER_SRP_AUTH",
    "ALLOW_REFRESH_TOKEN_AUTH",
    "ALLOW_ADMIN_USER_PASSWORD_AUTH",
    "ALLOW_CUSTOM_AUTH",
    "ALLOW_USER_AUTH",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ClientSettings {
    pub explicit_auth_flows: Vec<String>,
    /// `None`: the pool's defaults.
    pub token_validity: Option<TokenValidity>,
    /// Attributes the client may read in tokens and `/v1/me`; empty: all.
    pub read_attributes: Vec<String>,
    /// Attributes the client may write at sign-up/update; empty: all mutable.
    pub write_attributes: Vec<String>,
    /// Browser origins allowed by CORS for this client's requests.
    pub allowed_origins: Vec<String>,
    /// Issue a new refresh token at each refresh; the old one is then dead and
    /// presenting it again revokes the whole family. On by default for clients
    /// created through the native API and the config; a Cognito-protocol
    /// `CreateUserPoolClient` keeps Cognito's default (off).
    pub refresh_token_rotation: bool,
    pub enable_token_revocation: bool,
    /// OAuth 2.0 grants at `/oauth2/token` besides `refresh_token`
    /// (Cognito's `AllowedOAuthFlows`): `client_credentials`.
    pub allowed_oauth_flows: Vec<String>,
    /// Scopes the client may be granted: `openid`, `email`, `phone`,
    /// `profile`, `aws.cognito.signin.user.admin`, or a resource server's
    /// `<identifier>/<scope>`.
    pub allowed_oauth_scopes: Vec<String>,
    /// Redirect URIs of the authorization-code flow, matched exactly.
    pub callback_urls: Vec<String>,
    /// Where `/logout` may send the browser back to, matched exactly.
    pub logout_urls: Vec<String>,
    /// Sign-in options on the hosted pages (Cognito's
    /// `SupportedIdentityProviders`): `COGNITO` (the pool's own users) and
    /// names of the pool's identity providers.
    pub supported_identity_providers: Vec<String>,
    /// Overrides of the pool's branding on this client's hosted pages.
    pub branding: Branding,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            explicit_auth_flows: vec![
                "ALLOW_USER_PASSWORD_AUTH".into(),
                "ALLOW_USER_SRP_AUTH".into(),
                "ALLOW_REFRESH_TOKEN_AUTH".into(),
            ],
            token_validity: None,
            read_attributes: vec![],
            write_attributes: vec![],
            allowed_origins: vec![],
            refresh_token_rotation: true,
            enable_token_revocation: true,
            allowed_oauth_flows: vec![],
            allowed_oauth_scopes: vec![],
            callback_urls: vec![],
            logout_urls: vec![],
            supported_identity_providers: vec!["COGNITO".into()],
            branding: Branding::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppClient {
    pub id: String,
    pub pool_id: String,
    pub name: String,
    /// Client secret sealed under the master key.
    pub secret_sealed: Option<Vec<u8>>,
    pub settings: ClientSettings,
    pub created_at: i64,
    pub updated_at: i64,
}

impl AppClient {
    pub fn allows_flow(&self, flow: &str) -> bool {
        self.settings.explicit_auth_flows.iter().any(|f| f == flow)
    }
}

pub type Attributes = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub pool_id: String,
    pub sub: String,
    pub username: String,
    pub status: UserStatus,
    pub enabled: bool,
    pub password_hash: Option<String>,
    pub srp_sealed: Option<Vec<u8>>,
    /// Every attribute including `sub`, `email_verified`, ...; values are strings.
    pub attributes: Attributes,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A sign-in name other than the username.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub kind: String,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePurpose {
    Signup,
    ResetPassword,
    VerifyEmail,
    VerifyPhone,
}

impl CodePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signup => "signup",
            Self::ResetPassword => "reset_password",
            Self::VerifyEmail => "verify_email",
            Self::VerifyPhone => "verify_phone",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    pub pool_id: String,
    pub sub: String,
    pub purpose: CodePurpose,
    pub code_hash: String,
    pub expires_at: i64,
    pub attempts: i32,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub pool_id: String,
    pub alg: SigningAlg,
    pub private_sealed: Vec<u8>,
    pub public_jwk: String,
    /// `pending` (published, not signing), `active`, `retired` (published until
    /// `retire_after`).
    pub status: String,
    pub created_at: i64,
    pub retire_after: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFamily {
    pub id: String,
    pub pool_id: String,
    pub sub: String,
    pub client_id: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// The OAuth scope granted by the authorization-code flow; `None`:
    /// the native sign-in's (`aws.cognito.signin.user.admin`).
    pub scope: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub token_hash: String,
    pub family_id: String,
    pub created_at: i64,
    pub used_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OutboxMessage {
    pub id: String,
    pub pool_id: Option<String>,
    /// `email` or `sms`.
    pub channel: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub created_at: i64,
}

/// A user-pool group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Group {
    pub pool_id: String,
    pub name: String,
    pub description: Option<String>,
    /// Lower wins for `cognito:preferred_role`; absent sorts last.
    pub precedence: Option<i64>,
    /// An identity-pool role this group maps to (`cognito:roles`).
    pub role_arn: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Orders groups as tokens list them: by precedence (absent last), then name.
pub fn sort_groups(groups: &mut [Group]) {
    groups.sort_by(|a, b| {
        (a.precedence.is_none(), a.precedence, &a.name).cmp(&(
            b.precedence.is_none(),
            b.precedence,
            &b.name,
        ))
    });
}

/// One audit event. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    pub id: String,
    pub pool_id: Option<String>,
    pub sub: Option<String>,
    pub username: Option<String>,
    pub client_id: Option<String>,
    /// `SignIn`, `SignUp`, `ConfirmSignUp`, `ForgotPassword`, `ResetPassword`,
    /// `ChangePassword`, `GlobalSignOut`, `DeleteUser`, `Admin:<Action>` (an admin
    /// change, named like the Cognito operation: `Admin:AdminDisableUser`).
    pub event: String,
    /// `Success`, or the error code of the failure (`NotAuthorized`, ...).
    pub outcome: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub created_at: i64,
    /// Admin changes: who made it (`admin-key:<fingerprint>`,
    /// `os-user:<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Admin changes: the door (`native`, `cognito`, `cli`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub door: Option<String>,
    /// Admin changes: the object beyond pool, user and client
    /// (`group:admins`, `role:owner`, `identity:<id>`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// A stored challenge session of a sign-in flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSession {
    /// SHA-256 of the session token given to the client.
    pub id: String,
    pub pool_id: String,
    pub client_id: String,
    pub sub: String,
    /// The challenge the client must answer, e.g. `NEW_PASSWORD_REQUIRED`.
    pub challenge: String,
    /// Flow state (JSON), e.g. the original auth time.
    pub state: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A user's sign-in throttle as seen from one client network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SigninThrottle {
    /// Consecutive failures of the account from anywhere (the hard cap).
    pub account_failures: i32,
    pub account_locked_until: i64,
    /// Consecutive failures from this source (the growing delays).
    pub source_failures: i32,
    pub source_locked_until: i64,
    /// When the user last signed in successfully from this source; 0 =
    /// never (G2: known pairs skip the pool-wide budget).
    pub known_at: i64,
}

/// How a sign-in name designates a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserLookup<'a> {
    /// The (normalized) username.
    Username(&'a str),
    /// A sign-in alias: kind (`email`, `phone_number`,
    /// `preferred_username`) and normalized value.
    Alias(&'a str, &'a str),
}

/// What a sign-in reads about its user: the user, its groups (for the
/// token claims) and its throttle.
#[derive(Debug, Clone)]
pub struct SignInRecord {
    pub user: User,
    pub groups: Vec<Group>,
    pub throttle: SigninThrottle,
}

/// A custom scope of a resource server (`<identifier>/<name>` in tokens).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceServerScope {
    pub name: String,
    pub description: String,
}

/// An OAuth resource server of a pool: an API whose custom scopes app
/// clients may be granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ResourceServer {
    pub pool_id: String,
    pub identifier: String,
    pub name: String,
    pub scopes: Vec<ResourceServerScope>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A signed-in browser on the hosted pages (the cookie holds the token;
/// the store its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSession {
    pub id_hash: String,
    pub pool_id: String,
    pub sub: String,
    pub auth_time: i64,
    pub expires_at: i64,
}

/// The kinds of external identity provider (Cognito's `ProviderType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ProviderType {
    /// Any OpenID Provider, configured from its issuer's discovery document.
    #[serde(rename = "OIDC")]
    Oidc,
    /// Google (OpenID Connect at `https://accounts.google.com`).
    Google,
    /// Facebook Login (OAuth 2.0 and the Graph API's `/me`).
    Facebook,
    /// Sign in with Apple (OpenID Connect; the client secret is a JWT
    /// signed with the developer's key).
    SignInWithApple,
}

impl ProviderType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "OIDC",
            Self::Google => "Google",
            Self::Facebook => "Facebook",
            Self::SignInWithApple => "SignInWithApple",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "OIDC" => Self::Oidc,
            "Google" => Self::Google,
            "Facebook" => Self::Facebook,
            "SignInWithApple" => Self::SignInWithApple,
            _ => return None,
        })
    }
}

/// How to reach and read an external identity provider. Unset members take
/// the type's defaults (see `user_pools::federation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderSettings {
    /// The client id registered at the provider.
    pub client_id: String,
    /// The provider's issuer. Required for `OIDC`; Google and Apple have
    /// theirs preset.
    pub issuer: Option<String>,
    /// Endpoint overrides (otherwise from discovery, or Facebook's).
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub userinfo_url: Option<String>,
    pub jwks_uri: Option<String>,
    /// Scopes asked of the provider.
    pub scopes: Vec<String>,
    /// Pool attribute → provider claim.
    pub attribute_mapping: BTreeMap<String, String>,
    /// `client_secret_basic` (default) or `client_secret_post`.
    pub token_endpoint_auth_method: Option<String>,
    /// Sign in with Apple: the developer team and the key id of the private
    /// key given as the client secret.
    pub apple_team_id: Option<String>,
    pub apple_key_id: Option<String>,
}

/// An external identity provider of a user pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityProvider {
    pub pool_id: String,
    /// Shown on the sign-in button, given as `identity_provider`, and the
    /// prefix of its users' usernames.
    pub name: String,
    pub provider_type: ProviderType,
    pub settings: ProviderSettings,
    /// The client secret (Apple: the private key, PEM) sealed under the
    /// master key.
    pub secret_sealed: Option<Vec<u8>>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A provider subject that signs in as a user of the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserIdentity {
    pub pool_id: String,
    pub provider: String,
    pub subject: String,
    pub sub: String,
    pub created_at: i64,
}

/// A redirect to an external provider awaiting its answer at
/// `/oauth2/idpresponse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationState {
    /// SHA-256 of the `state` sent to the provider.
    pub id_hash: String,
    pub pool_id: String,
    pub provider: String,
    /// SHA-256 of the browser cookie that must come back with the answer.
    pub binding_hash: String,
    /// JSON: the authorization request, nonce and PKCE verifier.
    pub state: String,
    pub expires_at: i64,
}

//! Identity pools: the federation service that turns user-pool ID tokens,
//! OpenID Connect tokens, or nothing (guests) into identities and
//! short-lived, policy-scoped storage credentials, which the S3 gateway
//! checks without a store round trip.
//!
//! Flow (Cognito's): `get_id` maps (pool, provider, subject) to a stable
//! identity id, linking several logins to one identity; `credentials`
//! verifies the logins again, resolves the role (defaults, the token's
//! `cognito:preferred_role`, or claim rules) and mints credentials whose
//! session token names the role and the sign-ins behind them.
//!
//! Revocation (checklist I3): the gateway evaluates the role's *current*
//! policy and refuses credentials whose identity was deleted, disabled or
//! unlinked since (its credentials epoch moved on), whose user-pool sign-in
//! was ended (refresh-token family revoked: sign-out, global sign-out,
//! disable, password reset), whose user was deleted or disabled, or whose
//! app client was deleted. Each of these is read from the store through a
//! per-node cache whose entries live one second, so a change made on any
//! node reaches every gateway within a second; a store error refuses.

pub mod credentials;
pub mod openid;
pub mod policy;

use crate::audit::{AdminCtx, Created, Target};
use crate::cache::TtlCache;
use crate::clock::SharedClock;
use crate::error::{Error, ErrorKind, Result};
use crate::model::*;
use crate::store::{LinkGuard, LinkOutcome, SharedStore};
use crate::user_pools::UserPools;
use credentials::{Credentials, Grant, Minter, Problem, SignInRef};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;

/// Credential lifetimes accepted, seconds (15 min – 12 h).
pub const MIN_DURATION: i64 = 900;
pub const MAX_DURATION: i64 = 43_200;
const MAX_LOGINS: usize = 10;

pub struct IdentityPools {
    store: SharedStore,
    users: Arc<UserPools>,
    clock: SharedClock,
    minter: Minter,
    http: reqwest::Client,
    /// Provider discovery and JWKS documents; ID-token verification.
    rp: Arc<crate::oidc_rp::RelyingParty>,
    /// Identity id → (disabled, credentials epoch), None when gone, as
    /// the gateway sees them (entries live 1 s per node).
    standing: TtlCache<String, Option<(bool, i64)>>,
    /// Role name → the role's current policy, None when deleted (1 s).
    roles: TtlCache<String, Option<CurrentRole>>,
    /// Whether a user-pool sign-in behind credentials still stands (1 s).
    sign_ins: TtlCache<SignInRef, bool>,
    openid: openid::OpenIdSigner,
    /// Seals provider secrets (introspection app tokens) at rest.
    secrets: crate::crypto::Sealer,
}

/// `{name, ...settings}`. Split by hand: serde does not refuse unknown
/// fields across `flatten`, and a misspelt setting must not pass silently.
#[derive(Debug, Clone, ToSchema)]
pub struct CreateIdentityPool {
    pub name: String,
    #[schema(inline)]
    pub settings: IdentityPoolSettings,
}

impl<'de> Deserialize<'de> for CreateIdentityPool {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut map = serde_json::Map::<String, Value>::deserialize(d)?;
        let name = match map.remove("name") {
            Some(Value::String(n)) => n,
            Some(_) => return Err(D::Error::custom("name must be a string")),
            None => return Err(D::Error::missing_field("name")),
        };
        let settings = serde_json::from_value(Value::Object(map)).map_err(D::Error::custom)?;
        Ok(Self { name, settings })
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IdentityPoolView {
    pub id: String,
    pub name: String,
    #[serde(flatten)]
    pub settings: IdentityPoolSettings,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<&IdentityPool> for IdentityPoolView {
    fn from(p: &IdentityPool) -> Self {
        let mut settings = p.settings.clone();
        for pr in &mut settings.providers {
            if let Provider::Introspection {
                app_token,
                app_token_sealed,
                ..
            } = pr
            {
                // Write-only.
                *app_token = None;
                *app_token_sealed = None;
            }
        }
        Self {
            id: p.id.clone(),
            name: p.name.clone(),
            settings,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutRole {
    /// Required when creating.
    #[serde(default)]
    pub name: Option<String>,
    /// An IAM policy document (`Version` 2012-10-17, `Statement`).
    pub policy: Value,
    /// 900–43200 s; default 3600.
    #[serde(default)]
    pub max_session_secs: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoleView {
    pub name: String,
    pub arn: String,
    pub policy: Value,
    pub max_session_secs: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<&Role> for RoleView {
    fn from(r: &Role) -> Self {
        Self {
            name: r.name.clone(),
            arn: role_arn(&r.name),
            policy: r.policy.clone(),
            max_session_secs: r.max_session_secs,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GetId {
    /// Provider name → token. Empty or absent: a guest identity.
    #[serde(default)]
    pub logins: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IdentityIdView {
    pub identity_id: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GetCredentials {
    pub identity_id: String,
    #[serde(default)]
    pub logins: BTreeMap<String, String>,
    /// One of the token's `cognito:roles`, when the provider maps by token.
    #[serde(default)]
    pub custom_role_arn: Option<String>,
    /// 900–43200 s; default the pool's, capped by the role's maximum.
    #[serde(default)]
    pub duration_secs: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GetOpenIdToken {
    pub identity_id: String,
    #[serde(default)]
    pub logins: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeveloperIdentity {
    /// The app's own id for its user.
    pub user_identifier: String,
    /// Link to this existing identity instead of finding or creating one.
    #[serde(default)]
    pub identity_id: Option<String>,
}

/// An identity that holds several subjects of one provider.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RepeatedProviderLink {
    pub identity_pool_id: String,
    pub identity_id: String,
    pub provider: String,
    pub subjects: Vec<String>,
}

/// An identity and the providers it is linked to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IdentityDescription {
    pub identity_id: String,
    pub identity_pool_id: String,
    /// Canonical provider names (no tokens, no subjects).
    pub logins: Vec<String>,
    pub disabled: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OpenIdTokenView {
    pub identity_id: String,
    pub token: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CredentialsView {
    pub identity_id: String,
    pub credentials: Credentials,
}

/// A login token that checked out.
struct VerifiedLogin {
    /// The provider's canonical name (the key logins are stored under).
    provider: String,
    subject: String,
    claims: Value,
    mapping: Option<RoleMapping>,
    /// An OpenID token of this server names its identity itself.
    identity_hint: Option<String>,
}

/// The provider name under which this server's own OpenID tokens (from
/// developer-authenticated identities) are presented, as in Cognito.
pub const OPENID_PROVIDER: &str = "cognito-identity.amazonaws.com";
/// Lifetime of an OpenID token, seconds (Cognito's default: 10 min).
pub const OPENID_TOKEN_TTL: i64 = 600;

/// Which identity a request may end up with.
#[derive(Debug, Clone, Copy)]
enum LinkTarget<'a> {
    /// Whichever the logins prove, or a new one (GetId).
    Any,
    /// The identity the request names (GetCredentialsForIdentity,
    /// GetOpenIdToken): the logins must prove it, or it is a guest.
    Named(&'a str),
    /// Named by an admin-authenticated call (developer identities).
    Trusted(&'a str),
}

fn login_linked_elsewhere() -> Error {
    Error::new(
        ErrorKind::Conflict,
        "A login is already linked to another identity.",
    )
}

fn provider_taken() -> Error {
    Error::new(
        ErrorKind::Conflict,
        "The identity already holds a login of this provider for another user.",
    )
}

fn not_authorized(msg: &str) -> Error {
    Error::not_authorized(msg.to_owned())
}

fn check_name(kind: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_- ".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{kind} name must be 1-128 letters, digits or +=,.@_- characters"
        )))
    }
}

impl IdentityPools {
    pub fn new(
        store: SharedStore,
        users: Arc<UserPools>,
        clock: SharedClock,
        master: &crate::crypto::MasterKey,
        key_generation: u8,
        public_url: &str,
    ) -> Self {
        Self {
            rp: Arc::new(crate::oidc_rp::RelyingParty::new(clock.clone())),
            store,
            users,
            clock,
            minter: Minter::new(master, key_generation),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("HTTP client"),
            standing: TtlCache::new(REVOCATION_TTL, 100_000),
            roles: TtlCache::new(REVOCATION_TTL, 10_000),
            sign_ins: TtlCache::new(REVOCATION_TTL, 100_000),
            secrets: crate::crypto::Sealer::new(master, "poolgate/identity-provider-secret"),
            openid: openid::OpenIdSigner::new(
                master,
                key_generation,
                format!("{public_url}/v1/identity-pools"),
            ),
        }
    }

    fn validate(&self, name: &str, s: &IdentityPoolSettings) -> Result<()> {
        check_name("identity pool", name)?;
        if !(MIN_DURATION..=MAX_DURATION).contains(&s.credentials_duration_secs) {
            return Err(Error::invalid(
                "credentials_duration_secs must be between 900 and 43200",
            ));
        }
        if s.providers.len() > 20 {
            return Err(Error::invalid("at most 20 providers"));
        }
        for (i, p) in s.providers.iter().enumerate() {
            match p {
                Provider::UserPool { client_ids, .. } if client_ids.is_empty() => {
                    return Err(Error::invalid(format!(
                        "providers[{i}].client_ids must name at least one app client"
                    )));
                }
                Provider::Oidc {
                    name,
                    issuer,
                    audiences,
                    jwks_uri,
                    ..
                } => {
                    if name.is_empty() || audiences.is_empty() {
                        return Err(Error::invalid(format!(
                            "providers[{i}] needs a name and at least one audience"
                        )));
                    }
                    for u in std::iter::once(issuer).chain(jwks_uri) {
                        match reqwest::Url::parse(u) {
                            Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {}
                            _ => {
                                return Err(Error::invalid(format!(
                                    "providers[{i}]: {u:?} is not an http(s) URL"
                                )));
                            }
                        }
                    }
                }
                Provider::Introspection {
                    name,
                    url,
                    subject_field,
                    ..
                } => {
                    if name.is_empty() || subject_field.is_empty() {
                        return Err(Error::invalid(format!(
                            "providers[{i}] needs a name and a subject_field"
                        )));
                    }
                    if !reqwest::Url::parse(url)
                        .is_ok_and(|u| u.scheme() == "https" || u.scheme() == "http")
                    {
                        return Err(Error::invalid(format!(
                            "providers[{i}].url is not an http(s) URL"
                        )));
                    }
                }
                _ => {}
            }
            if let Some(m) = p.role_mapping()
                && m.kind == MappingKind::Rules
                && m.rules.is_empty()
            {
                return Err(Error::invalid(format!(
                    "providers[{i}].role_mapping: Rules needs at least one rule"
                )));
            }
        }
        Ok(())
    }

    // ---- admin: identity pools --------------------------------------------

    /// Seals introspection app tokens given in plain text; keeps the sealed
    /// one of a provider of the same name when none is given.
    fn seal_secrets(
        &self,
        pool_id: &str,
        mut settings: IdentityPoolSettings,
        old: Option<&IdentityPoolSettings>,
    ) -> Result<IdentityPoolSettings> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        for p in &mut settings.providers {
            if let Provider::Introspection {
                name,
                app_token,
                app_token_sealed,
                ..
            } = p
            {
                if let Some(plain) = app_token.take() {
                    let aad = format!("{pool_id}\n{name}");
                    *app_token_sealed =
                        Some(b64.encode(self.secrets.seal(plain.as_bytes(), aad.as_bytes())));
                } else if let Some(sealed) = app_token_sealed.as_ref() {
                    // Only the stored value may come back (a settings update
                    // that carries the pool's own providers along).
                    let kept = old.into_iter().flat_map(|o| &o.providers).any(|o| {
                        matches!(o, Provider::Introspection { name: n, app_token_sealed: Some(s), .. }
                            if n == name && s == sealed)
                    });
                    if !kept {
                        return Err(Error::invalid(
                            "app_token_sealed cannot be set; give app_token",
                        ));
                    }
                } else {
                    *app_token_sealed =
                        old.into_iter()
                            .flat_map(|o| &o.providers)
                            .find_map(|o| match o {
                                Provider::Introspection {
                                    name: n,
                                    app_token_sealed: s,
                                    ..
                                } if n == name => s.clone(),
                                _ => None,
                            });
                    if app_token_sealed.is_none() {
                        return Err(Error::invalid(format!(
                            "provider {name} needs an app_token"
                        )));
                    }
                }
            }
        }
        Ok(settings)
    }

    fn open_secret(&self, pool_id: &str, name: &str, sealed: &str) -> Result<String> {
        use base64::Engine;
        let blob = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(Error::internal)?;
        let plain = self
            .secrets
            .open(&blob, format!("{pool_id}\n{name}").as_bytes())
            .map_err(Error::internal)?;
        String::from_utf8(plain).map_err(Error::internal)
    }

    pub async fn create_pool(
        &self,
        admin: &AdminCtx,
        req: CreateIdentityPool,
    ) -> Result<IdentityPool> {
        admin
            .audited_as(
                &*self.store,
                &*self.clock,
                "CreateIdentityPool",
                Target::none(),
                |p: &IdentityPool| Some(Created::Pool(p.id.clone())),
                self.create_pool_flow(req),
            )
            .await
    }

    async fn create_pool_flow(&self, req: CreateIdentityPool) -> Result<IdentityPool> {
        self.validate(&req.name, &req.settings)?;
        let now = self.clock.now();
        let id = format!("{}:{}", self.users.region(), crate::crypto::random::uuid());
        let pool = IdentityPool {
            settings: self.seal_secrets(&id, req.settings, None)?,
            id,
            name: req.name,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_identity_pool(&pool).await?;
        Ok(pool)
    }

    pub async fn get_pool(&self, id: &str) -> Result<IdentityPool> {
        if id.len() > 128 {
            return Err(Error::new(
                ErrorKind::ResourceNotFound,
                "Identity pool not found",
            ));
        }
        self.store
            .get_identity_pool(id)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::ResourceNotFound, "Identity pool not found"))
    }

    pub async fn list_pools(&self, after: Option<&str>, limit: i64) -> Result<Vec<IdentityPool>> {
        self.store.list_identity_pools(after, limit).await
    }

    /// Replaces the name and settings (the body has the create shape).
    pub async fn update_pool(
        &self,
        admin: &AdminCtx,
        id: &str,
        req: CreateIdentityPool,
    ) -> Result<IdentityPool> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "UpdateIdentityPool",
                Target::pool(id),
                self.update_pool_flow(id, req),
            )
            .await
    }

    async fn update_pool_flow(&self, id: &str, req: CreateIdentityPool) -> Result<IdentityPool> {
        let mut pool = self.get_pool(id).await?;
        self.validate(&req.name, &req.settings)?;
        pool.settings = self.seal_secrets(&pool.id, req.settings, Some(&pool.settings))?;
        pool.name = req.name;
        pool.updated_at = self.clock.now();
        self.store.update_identity_pool(&pool).await?;
        Ok(pool)
    }

    pub async fn delete_pool(&self, admin: &AdminCtx, id: &str) -> Result<()> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "DeleteIdentityPool",
                Target::pool(id),
                self.delete_pool_flow(id),
            )
            .await
    }

    async fn delete_pool_flow(&self, id: &str) -> Result<()> {
        if !self.store.delete_identity_pool(id).await? {
            return Err(Error::new(
                ErrorKind::ResourceNotFound,
                "Identity pool not found",
            ));
        }
        Ok(())
    }

    /// Disables (or enables) an identity: its credentials stop working on
    /// every node within a second, and no new ones are issued.
    pub async fn set_identity_disabled(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        identity_id: &str,
        disabled: bool,
    ) -> Result<()> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                if disabled {
                    "DisableIdentity"
                } else {
                    "EnableIdentity"
                },
                Target::pool(pool_id).object("identity", identity_id),
                self.set_identity_disabled_flow(pool_id, identity_id, disabled),
            )
            .await
    }

    async fn set_identity_disabled_flow(
        &self,
        pool_id: &str,
        identity_id: &str,
        disabled: bool,
    ) -> Result<()> {
        let identity = self
            .store
            .get_identity(identity_id)
            .await?
            .filter(|i| i.identity_pool_id == pool_id)
            .ok_or_else(|| Error::new(ErrorKind::ResourceNotFound, "Identity not found"))?;
        let at = disabled.then(|| self.clock.now());
        self.store
            .set_identity_disabled(&identity.identity_id, at)
            .await?;
        self.standing.remove(&identity.identity_id);
        Ok(())
    }

    /// An identity with the providers it is linked to (Cognito's
    /// DescribeIdentity).
    pub async fn describe_identity(&self, identity_id: &str) -> Result<IdentityDescription> {
        let pool_id = self.pool_of_identity(identity_id).await?;
        let i = self
            .store
            .get_identity(identity_id)
            .await?
            .filter(|i| i.identity_pool_id == pool_id)
            .ok_or_else(|| Error::new(ErrorKind::ResourceNotFound, "Identity not found"))?;
        self.description(i).await
    }

    async fn description(&self, i: Identity) -> Result<IdentityDescription> {
        let mut logins: Vec<String> = self
            .store
            .identity_logins(&i.identity_id)
            .await?
            .into_iter()
            .map(|(provider, _)| provider)
            .collect();
        logins.dedup();
        Ok(IdentityDescription {
            identity_id: i.identity_id,
            identity_pool_id: i.identity_pool_id,
            logins,
            disabled: i.disabled_at.is_some(),
            created_at: i.created_at,
        })
    }

    /// A pool's identities in id order, after `after` (Cognito's
    /// ListIdentities).
    pub async fn list_identities(
        &self,
        pool_id: &str,
        after: Option<&str>,
        limit: i64,
        hide_disabled: bool,
    ) -> Result<Vec<IdentityDescription>> {
        self.get_pool(pool_id).await?;
        let mut out = vec![];
        for i in self
            .store
            .list_identities(pool_id, after, limit.clamp(1, 60), hide_disabled)
            .await?
        {
            out.push(self.description(i).await?);
        }
        Ok(out)
    }

    /// Identities holding more than one subject of one provider: the mark
    /// that linking another user's login to an identity left (possible
    /// before the linking rule, checklist I2, was enforced). The developer
    /// provider is left out: Cognito lets an identity hold several
    /// developer user identifiers, and only an admin call links them.
    pub async fn repeated_provider_links(
        &self,
        pool_id: Option<&str>,
    ) -> Result<Vec<RepeatedProviderLink>> {
        if let Some(id) = pool_id {
            self.get_pool(id).await?;
        }
        let mut developer: BTreeMap<String, Option<String>> = BTreeMap::new();
        let mut out = vec![];
        for (pool, identity_id, provider, subjects) in self
            .store
            .identities_with_repeated_providers(pool_id)
            .await?
        {
            if !developer.contains_key(&pool) {
                let name = match self.store.get_identity_pool(&pool).await? {
                    Some(p) => p.settings.providers.iter().find_map(|p| match p {
                        Provider::Developer { name } => Some(name.clone()),
                        _ => None,
                    }),
                    None => None,
                };
                developer.insert(pool.clone(), name);
            }
            if developer[&pool].as_deref() == Some(provider.as_str()) {
                continue;
            }
            out.push(RepeatedProviderLink {
                identity_pool_id: pool,
                identity_id,
                provider,
                subjects,
            });
        }
        Ok(out)
    }

    /// UnlinkIdentity: with logins proving the caller owns the identity,
    /// removes its links to the named providers. A login seen again later
    /// makes a new identity; removing the last one disables the identity
    /// (it must not turn into a guest).
    pub async fn unlink_identity(
        &self,
        identity_id: &str,
        logins: &BTreeMap<String, String>,
        providers: &[String],
    ) -> Result<()> {
        let pool = self
            .get_pool(&self.pool_of_identity(identity_id).await?)
            .await?;
        if logins.is_empty() {
            return Err(not_authorized("Logins are required to unlink an identity."));
        }
        self.authorize(&pool, identity_id, logins).await?;
        if providers.is_empty() || providers.len() > MAX_LOGINS {
            return Err(Error::invalid("LoginsToRemove must name 1-10 providers"));
        }
        let canonical: Vec<String> = providers
            .iter()
            .map(|name| {
                pool.settings
                    .providers
                    .iter()
                    .find_map(|p| match p {
                        Provider::UserPool { pool_id, .. } => {
                            let names = self.user_pool_provider_names(pool_id);
                            names.iter().any(|n| n == name).then(|| names[0].clone())
                        }
                        _ => None,
                    })
                    .unwrap_or_else(|| name.clone())
            })
            .collect();
        // Credentials issued before stop working (I3). Moved first: should
        // the unlink fail, they are refused for nothing rather than kept.
        self.store.bump_credentials_epoch(identity_id).await?;
        self.store.unlink_providers(identity_id, &canonical).await?;
        if self.store.identity_logins(identity_id).await?.is_empty() {
            self.store
                .set_identity_disabled(identity_id, Some(self.clock.now()))
                .await?;
        }
        self.standing.remove(&identity_id.to_owned());
        Ok(())
    }

    /// Deletes identities (their credentials stop working); unknown ids are
    /// skipped, as already gone.
    pub async fn delete_identities(&self, admin: &AdminCtx, identity_ids: &[String]) -> Result<()> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "DeleteIdentities",
                Target::none().object("identity", &identity_ids.join(",")),
                self.delete_identities_flow(identity_ids),
            )
            .await
    }

    async fn delete_identities_flow(&self, identity_ids: &[String]) -> Result<()> {
        if identity_ids.is_empty() || identity_ids.len() > 60 {
            return Err(Error::invalid("Give 1-60 identity ids to delete"));
        }
        for id in identity_ids {
            if id.len() > 128 {
                continue;
            }
            self.store.delete_identity(id).await?;
            self.standing.remove(id);
        }
        Ok(())
    }

    /// Applies the roles and identity pools declared in config: created
    /// when missing, updated when different (the admin API's validation).
    pub async fn apply_declared(
        &self,
        roles: &[crate::config::DeclaredRole],
        pools: &[crate::config::DeclaredIdentityPool],
    ) -> Result<()> {
        for r in roles {
            let req = PutRole {
                name: Some(r.name.clone()),
                policy: r.policy.clone(),
                max_session_secs: r.max_session_secs,
            };
            match self.store.get_role(&r.name).await? {
                None => match self.create_role_flow(req).await {
                    Err(e) if e.kind != ErrorKind::Conflict => return Err(e),
                    _ => {}
                },
                Some(old)
                    if old.policy != r.policy
                        || old.max_session_secs != r.max_session_secs.unwrap_or(3600) =>
                {
                    self.update_role_flow(&r.name, req).await?;
                }
                Some(_) => {}
            }
        }
        for p in pools {
            self.validate(&p.name, &p.settings)?;
            let now = self.clock.now();
            let existing = self.store.get_identity_pool(&p.id).await?;
            let settings = self.seal_secrets(
                &p.id,
                p.settings.clone(),
                existing.as_ref().map(|e| &e.settings),
            )?;
            match existing {
                None => {
                    let pool = IdentityPool {
                        id: p.id.clone(),
                        name: p.name.clone(),
                        settings,
                        created_at: now,
                        updated_at: now,
                    };
                    match self.store.insert_identity_pool(&pool).await {
                        Err(e) if e.kind != ErrorKind::Conflict => return Err(e),
                        _ => {}
                    }
                }
                Some(mut old)
                    if old.name != p.name || !same_settings(&old.settings, &p.settings) =>
                {
                    old.name = p.name.clone();
                    old.settings = settings;
                    old.updated_at = now;
                    self.store.update_identity_pool(&old).await?;
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    // ---- admin: roles -----------------------------------------------------

    fn role_from(&self, name: String, req: &PutRole, created_at: Option<i64>) -> Result<Role> {
        check_name("role", &name)?;
        policy::PolicyDocument::parse(&req.policy)
            .map_err(|e| Error::invalid(format!("policy: {e}")))?;
        let max = req.max_session_secs.unwrap_or(3600);
        if !(MIN_DURATION..=MAX_DURATION).contains(&max) {
            return Err(Error::invalid(
                "max_session_secs must be between 900 and 43200",
            ));
        }
        let now = self.clock.now();
        Ok(Role {
            name,
            policy: req.policy.clone(),
            max_session_secs: max,
            created_at: created_at.unwrap_or(now),
            updated_at: now,
        })
    }

    pub async fn create_role(&self, admin: &AdminCtx, req: PutRole) -> Result<Role> {
        let role = req.name.clone().unwrap_or_default();
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "CreateRole",
                Target::none().object("role", &role),
                self.create_role_flow(req),
            )
            .await
    }

    async fn create_role_flow(&self, req: PutRole) -> Result<Role> {
        let name = req
            .name
            .clone()
            .ok_or_else(|| Error::invalid("name is required"))?;
        let role = self.role_from(name, &req, None)?;
        self.store.insert_role(&role).await?;
        self.roles.remove(&role.name);
        Ok(role)
    }

    pub async fn get_role(&self, name: &str) -> Result<Role> {
        self.store
            .get_role(role_name(name))
            .await?
            .ok_or_else(|| Error::new(ErrorKind::ResourceNotFound, "Role not found"))
    }

    pub async fn list_roles(&self) -> Result<Vec<Role>> {
        self.store.list_roles().await
    }

    pub async fn update_role(&self, admin: &AdminCtx, name: &str, req: PutRole) -> Result<Role> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "UpdateRole",
                Target::none().object("role", name),
                self.update_role_flow(name, req),
            )
            .await
    }

    async fn update_role_flow(&self, name: &str, req: PutRole) -> Result<Role> {
        let old = self.get_role(name).await?;
        if req.name.as_deref().is_some_and(|n| n != old.name) {
            return Err(Error::invalid("a role cannot be renamed"));
        }
        let role = self.role_from(old.name, &req, Some(old.created_at))?;
        self.store.update_role(&role).await?;
        self.roles.remove(&role.name);
        Ok(role)
    }

    pub async fn delete_role(&self, admin: &AdminCtx, name: &str) -> Result<()> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "DeleteRole",
                Target::none().object("role", name),
                self.delete_role_flow(name),
            )
            .await
    }

    async fn delete_role_flow(&self, name: &str) -> Result<()> {
        if !self.store.delete_role(role_name(name)).await? {
            return Err(Error::new(ErrorKind::ResourceNotFound, "Role not found"));
        }
        self.roles.remove(&role_name(name).to_owned());
        Ok(())
    }

    /// The identity pool an identity belongs to (the Cognito protocol names
    /// only the identity in GetCredentialsForIdentity and GetOpenIdToken).
    pub async fn pool_of_identity(&self, identity_id: &str) -> Result<String> {
        if identity_id.len() > 128 {
            return Err(Error::new(
                ErrorKind::ResourceNotFound,
                "Identity not found",
            ));
        }
        self.store
            .get_identity(identity_id)
            .await?
            .map(|i| i.identity_pool_id)
            .ok_or_else(|| Error::new(ErrorKind::ResourceNotFound, "Identity not found"))
    }

    // ---- federation -------------------------------------------------------

    /// The canonical name of a user-pool provider, whichever of its two
    /// names the client used.
    fn user_pool_provider_names(&self, pool_id: &str) -> [String; 2] {
        let issuer = self.users.issuer(pool_id);
        let bare = issuer
            .split_once("://")
            .map(|(_, rest)| rest.to_owned())
            .unwrap_or(issuer);
        [
            format!(
                "cognito-idp.{}.amazonaws.com/{pool_id}",
                self.users.region()
            ),
            bare,
        ]
    }

    async fn verify_login(
        &self,
        pool: &IdentityPool,
        name: &str,
        token: &str,
    ) -> Result<VerifiedLogin> {
        let untrusted = || {
            not_authorized(
                "Invalid login token. The provider is not trusted by this identity pool.",
            )
        };
        let invalid = || not_authorized("Invalid login token.");
        if token.len() > 16 * 1024 {
            return Err(invalid());
        }
        for p in &pool.settings.providers {
            match p {
                Provider::UserPool {
                    pool_id,
                    client_ids,
                    role_mapping,
                } => {
                    let names = self.user_pool_provider_names(pool_id);
                    if !names.iter().any(|n| n == name) {
                        continue;
                    }
                    // Verified by the user pools' sessions: signature,
                    // ID token, audience, a sign-in that still stands and
                    // a user still enabled.
                    use crate::user_pools::sessions::IdTokenRefusal as R;
                    let claims = match self
                        .users
                        .sessions
                        .verify_id_token(pool_id, token, client_ids)
                        .await?
                    {
                        Ok(claims) => claims,
                        Err(R::Invalid) => return Err(invalid()),
                        Err(R::NotIdToken) => {
                            return Err(not_authorized("Invalid login token. Not an ID token."));
                        }
                        Err(R::AudienceNotAllowed) => {
                            return Err(not_authorized(
                                "Invalid login token. Audience not allowed.",
                            ));
                        }
                        Err(R::Revoked) => {
                            return Err(not_authorized(
                                "Invalid login token. Token has been revoked.",
                            ));
                        }
                    };
                    let s = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or("");
                    return Ok(VerifiedLogin {
                        provider: names[0].clone(),
                        subject: s("sub").to_owned(),
                        mapping: role_mapping.clone(),
                        claims,
                        identity_hint: None,
                    });
                }
                Provider::Oidc {
                    name: pname,
                    issuer,
                    audiences,
                    jwks_uri,
                    role_mapping,
                } => {
                    if pname != name {
                        continue;
                    }
                    let claims = self
                        .rp
                        .verify_id_token(token, issuer, audiences, jwks_uri.as_deref())
                        .await
                        .map_err(|e| {
                            tracing::debug!(error = %e, provider = %pname, "login token refused");
                            invalid()
                        })?;
                    let subject = claims
                        .get("sub")
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                        .ok_or_else(invalid)?
                        .to_owned();
                    return Ok(VerifiedLogin {
                        provider: pname.clone(),
                        subject,
                        mapping: role_mapping.clone(),
                        claims,
                        identity_hint: None,
                    });
                }
                Provider::Introspection {
                    name: pname,
                    url,
                    app_token_sealed,
                    subject_field,
                    valid_field,
                    audience_field,
                    audiences,
                    role_mapping,
                    ..
                } => {
                    if pname != name {
                        continue;
                    }
                    let app_token = match app_token_sealed {
                        Some(s) => self.open_secret(&pool.id, pname, s)?,
                        None => return Err(invalid()),
                    };
                    let mut target = reqwest::Url::parse(url).map_err(|_| invalid())?;
                    target
                        .query_pairs_mut()
                        .append_pair("input_token", token)
                        .append_pair("access_token", &app_token);
                    let answer: Value = self
                        .http
                        .get(target)
                        .send()
                        .await
                        .and_then(|r| r.error_for_status())
                        .map_err(|e| {
                            tracing::warn!(error = %e, provider = %pname, "introspection failed");
                            invalid()
                        })?
                        .json()
                        .await
                        .map_err(|_| invalid())?;
                    let at =
                        |path: &str| path.split('.').try_fold(&answer, |v, k| v.get(k)).cloned();
                    if let Some(f) = valid_field
                        && at(f) != Some(Value::Bool(true))
                    {
                        return Err(invalid());
                    }
                    if let Some(f) = audience_field {
                        let aud = at(f).map(|v| match v {
                            Value::String(s) => s,
                            other => other.to_string(),
                        });
                        if !aud.is_some_and(|a| audiences.contains(&a)) {
                            return Err(not_authorized(
                                "Invalid login token. Audience not allowed.",
                            ));
                        }
                    }
                    let subject = match at(subject_field) {
                        Some(Value::String(s)) if !s.is_empty() => s,
                        Some(Value::Number(n)) => n.to_string(),
                        _ => return Err(invalid()),
                    };
                    return Ok(VerifiedLogin {
                        provider: pname.clone(),
                        subject,
                        claims: answer,
                        mapping: role_mapping.clone(),
                        identity_hint: None,
                    });
                }
                Provider::Developer { .. } => {
                    if name != OPENID_PROVIDER {
                        continue;
                    }
                    let claims = self
                        .openid
                        .verify(token, &pool.id, self.clock.now())
                        .map_err(|e| {
                            tracing::debug!(error = %e, "OpenID token refused");
                            invalid()
                        })?;
                    let sub = claims
                        .get("sub")
                        .and_then(Value::as_str)
                        .ok_or_else(invalid)?
                        .to_owned();
                    return Ok(VerifiedLogin {
                        provider: OPENID_PROVIDER.into(),
                        subject: sub.clone(),
                        mapping: None,
                        claims,
                        identity_hint: Some(sub),
                    });
                }
            }
        }
        Err(untrusted())
    }

    async fn verify_logins(
        &self,
        pool: &IdentityPool,
        logins: &BTreeMap<String, String>,
    ) -> Result<Vec<VerifiedLogin>> {
        if logins.len() > MAX_LOGINS {
            return Err(Error::invalid("too many logins"));
        }
        let mut out: Vec<VerifiedLogin> = Vec::with_capacity(logins.len());
        for (name, token) in logins {
            let v = self.verify_login(pool, name, token).await?;
            if out.iter().any(|o| o.provider == v.provider) {
                return Err(Error::invalid("a provider appears twice in logins"));
            }
            out.push(v);
        }
        Ok(out)
    }

    /// GetId: the identity of these logins (created and linked when new),
    /// or a new guest identity when there are none.
    pub async fn get_id(&self, pool_id: &str, req: GetId) -> Result<String> {
        let pool = self.get_pool(pool_id).await?;
        let logins = self.verify_logins(&pool, &req.logins).await?;
        if logins.is_empty() {
            if !pool.settings.allow_unauthenticated {
                return Err(not_authorized(
                    "Unauthenticated access is not supported for this identity pool.",
                ));
            }
            let id = format!("{}:{}", self.users.region(), crate::crypto::random::uuid());
            self.store
                .link_logins(&pool.id, &id, true, &[], self.clock.now(), LinkGuard::New)
                .await?;
            return Ok(id);
        }
        self.resolve_identity(&pool, &logins, LinkTarget::Any).await
    }

    /// The one identity the logins belong to (or that the request names),
    /// with the logins not yet linked linked to it — by Cognito's rule:
    ///
    /// - a login linked to an identity proves that identity; logins that
    ///   prove two identities, or another identity than the one named, are
    ///   refused;
    /// - an identity that holds logins takes new ones only alongside a
    ///   proof; a guest identity (no logins) takes them without;
    /// - an identity holds at most one subject of a provider (but for the
    ///   developer provider, which only an admin-authenticated call links).
    ///
    /// The proof and the rule are checked again inside the linking
    /// transaction (`LinkGuard`), so a race cannot slip past them; two
    /// racing first sign-ins end with one identity.
    async fn resolve_identity(
        &self,
        pool: &IdentityPool,
        logins: &[VerifiedLogin],
        target: LinkTarget<'_>,
    ) -> Result<String> {
        let mismatch = || {
            not_authorized(
                "Logins don't match. Please include at least one valid login for this identity or identity pool.",
            )
        };
        for _attempt in 0..3 {
            let mut proven: Option<String> = None;
            let mut proofs: Vec<(String, String)> = vec![];
            // An OpenID token this server signed for the identity.
            let mut vouched = false;
            let mut unlinked = vec![];
            for l in logins {
                let linked_to = match &l.identity_hint {
                    Some(hint) => Some(hint.clone()),
                    None => {
                        self.store
                            .login_identity(&pool.id, &l.provider, &l.subject)
                            .await?
                    }
                };
                match linked_to {
                    Some(id) => {
                        if proven.as_ref().is_some_and(|p| *p != id) {
                            return Err(mismatch());
                        }
                        proven = Some(id);
                        match l.identity_hint {
                            Some(_) => vouched = true,
                            None => proofs.push((l.provider.clone(), l.subject.clone())),
                        }
                    }
                    None => unlinked.push((l.provider.clone(), l.subject.clone())),
                }
            }
            let proof = if vouched {
                LinkGuard::Vouched
            } else {
                LinkGuard::ProvenBy(&proofs)
            };
            let (id, create, guard) = match (target, proven) {
                (LinkTarget::Any, Some(p)) => (p, false, proof),
                (LinkTarget::Any, None) => (
                    format!("{}:{}", self.users.region(), crate::crypto::random::uuid()),
                    true,
                    LinkGuard::New,
                ),
                (LinkTarget::Named(n), Some(p)) if p != n => return Err(mismatch()),
                (LinkTarget::Trusted(n), Some(p)) if p != n => return Err(login_linked_elsewhere()),
                (LinkTarget::Named(n), Some(_)) => (n.to_owned(), false, proof),
                (LinkTarget::Named(n), None) => (n.to_owned(), false, LinkGuard::Guest),
                (LinkTarget::Trusted(n), _) => (n.to_owned(), false, LinkGuard::Trusted),
            };
            if unlinked.is_empty() {
                // Every login is the identity's already.
                return Ok(id);
            }
            match self
                .store
                .link_logins(&pool.id, &id, create, &unlinked, self.clock.now(), guard)
                .await?
            {
                LinkOutcome::Linked => {
                    tracing::info!(identity_id = %id, linked = unlinked.len(), "logins linked");
                    return Ok(id);
                }
                // Another request linked one of these logins first: look again.
                LinkOutcome::LoginTaken => continue,
                LinkOutcome::NotProven => return Err(mismatch()),
                LinkOutcome::ProviderTaken => return Err(provider_taken()),
                LinkOutcome::NoIdentity => {
                    return Err(Error::new(
                        ErrorKind::ResourceNotFound,
                        "Identity not found",
                    ));
                }
            }
        }
        Err(Error::new(
            ErrorKind::Conflict,
            "The logins changed concurrently; retry",
        ))
    }

    /// Checks that the caller may act as `identity_id` with these logins
    /// (verified again, linked when new), or as a guest without any.
    async fn authorize(
        &self,
        pool: &IdentityPool,
        identity_id: &str,
        logins: &BTreeMap<String, String>,
    ) -> Result<(Identity, Vec<VerifiedLogin>)> {
        let identity = self
            .store
            .get_identity(identity_id)
            .await?
            .filter(|i| i.identity_pool_id == pool.id)
            .ok_or_else(|| Error::new(ErrorKind::ResourceNotFound, "Identity not found"))?;
        if identity.disabled_at.is_some() {
            return Err(not_authorized("Identity is disabled."));
        }
        let logins = self.verify_logins(pool, logins).await?;
        if logins.is_empty() {
            if !self
                .store
                .identity_logins(&identity.identity_id)
                .await?
                .is_empty()
            {
                return Err(not_authorized(
                    "Unauthenticated access is not supported for this identity.",
                ));
            }
            if !pool.settings.allow_unauthenticated {
                return Err(not_authorized(
                    "Unauthenticated access is not supported for this identity pool.",
                ));
            }
        } else {
            // The logins must be this identity's (unlinked ones are linked:
            // a guest becomes authenticated).
            self.resolve_identity(pool, &logins, LinkTarget::Named(&identity.identity_id))
                .await?;
        }
        Ok((identity, logins))
    }

    /// GetOpenIdToken: a JWT for the identity, signed by this server
    /// (`aud` = the identity pool, `amr` = how it signed in).
    pub async fn openid_token(
        &self,
        pool_id: &str,
        req: GetOpenIdToken,
    ) -> Result<OpenIdTokenView> {
        let pool = self.get_pool(pool_id).await?;
        let (identity, logins) = self.authorize(&pool, &req.identity_id, &req.logins).await?;
        let token = self.issue_openid(&pool, &identity.identity_id, &logins);
        Ok(OpenIdTokenView {
            identity_id: identity.identity_id,
            token,
        })
    }

    fn issue_openid(
        &self,
        pool: &IdentityPool,
        identity_id: &str,
        logins: &[VerifiedLogin],
    ) -> String {
        let now = self.clock.now();
        let amr: Vec<String> = if logins.is_empty() {
            vec!["unauthenticated".into()]
        } else {
            std::iter::once("authenticated".to_owned())
                .chain(logins.iter().map(|l| l.provider.clone()))
                .collect()
        };
        self.openid.sign(&serde_json::json!({
            "iss": self.openid.issuer,
            "sub": identity_id,
            "aud": pool.id,
            "amr": amr,
            "iat": now,
            "exp": now + OPENID_TOKEN_TTL,
        }))
    }

    /// GetOpenIdTokenForDeveloperIdentity (admin): the identity of the
    /// app's own user id under the pool's developer provider (created, or
    /// linked to `identity_id`), and an OpenID token for it.
    pub async fn developer_identity(
        &self,
        pool_id: &str,
        req: DeveloperIdentity,
    ) -> Result<OpenIdTokenView> {
        let pool = self.get_pool(pool_id).await?;
        let Some(name) = pool.settings.providers.iter().find_map(|p| match p {
            Provider::Developer { name } => Some(name.clone()),
            _ => None,
        }) else {
            return Err(Error::invalid(
                "The identity pool has no developer provider.",
            ));
        };
        if req.user_identifier.is_empty() || req.user_identifier.len() > 1024 {
            return Err(Error::invalid("user_identifier must be 1-1024 characters"));
        }
        if let Some(id) = &req.identity_id
            && self
                .store
                .get_identity(id)
                .await?
                .is_none_or(|i| i.identity_pool_id != pool.id)
        {
            return Err(Error::new(
                ErrorKind::ResourceNotFound,
                "Identity not found",
            ));
        }
        let login = VerifiedLogin {
            provider: name,
            subject: req.user_identifier,
            claims: Value::Null,
            mapping: None,
            identity_hint: None,
        };
        let identity_id = self
            .resolve_identity(
                &pool,
                std::slice::from_ref(&login),
                match req.identity_id.as_deref() {
                    Some(id) => LinkTarget::Trusted(id),
                    None => LinkTarget::Any,
                },
            )
            .await?;
        let token = self.issue_openid(&pool, &identity_id, std::slice::from_ref(&login));
        Ok(OpenIdTokenView { identity_id, token })
    }

    /// This server's OpenID signing keys, as a JWKS.
    pub fn openid_jwks(&self) -> Value {
        serde_json::json!({"keys": [self.openid.jwk.clone()]})
    }

    pub fn openid_issuer(&self) -> &str {
        &self.openid.issuer
    }

    /// GetCredentialsForIdentity.
    pub async fn credentials(&self, pool_id: &str, req: GetCredentials) -> Result<CredentialsView> {
        let pool = self.get_pool(pool_id).await?;
        // The epoch is read before the logins are checked: an unlink landing
        // in between moves it past the one sealed here (refused, not kept).
        let epoch = if req.identity_id.len() <= 128 {
            self.store
                .identity_standing(&req.identity_id)
                .await?
                .map_or(0, |(_, epoch)| epoch)
        } else {
            0
        };
        let (identity, logins) = self.authorize(&pool, &req.identity_id, &req.logins).await?;
        let sign_ins = logins
            .iter()
            .filter_map(|l| self.sign_in_of(&pool, l))
            .collect();
        let now = self.clock.now();
        let (role, amr) = if logins.is_empty() {
            let role =
                pool.settings.unauthenticated_role.clone().ok_or_else(|| {
                    not_authorized("The identity pool has no unauthenticated role.")
                })?;
            (role, "unauthenticated")
        } else {
            (
                self.resolve_role(&pool, &logins, req.custom_role_arn.as_deref())?,
                "authenticated",
            )
        };
        let role = self
            .store
            .get_role(role_name(&role))
            .await?
            .ok_or_else(|| not_authorized("The role mapped to this identity does not exist."))?;
        let duration = match req.duration_secs {
            Some(d) if !(MIN_DURATION..=MAX_DURATION).contains(&d) => {
                return Err(Error::invalid(
                    "duration_secs must be between 900 and 43200",
                ));
            }
            Some(d) => d,
            None => pool.settings.credentials_duration_secs,
        }
        .min(role.max_session_secs);
        let grant = Grant {
            v: credentials::GRANT_VERSION,
            identity_id: identity.identity_id.clone(),
            identity_pool_id: pool.id.clone(),
            amr: amr.into(),
            role: role.name.clone(),
            role_created_at: role.created_at,
            epoch,
            sign_ins,
            issued_at: now,
            expires_at: now + duration,
        };
        tracing::info!(identity_id = %grant.identity_id, role = %grant.role, "credentials issued");
        metrics::counter!("poolgate_credentials_issued_total", "amr" => amr).increment(1);
        Ok(CredentialsView {
            identity_id: identity.identity_id,
            credentials: self.minter.mint(&grant),
        })
    }

    /// The user-pool sign-in behind a verified login of one of this
    /// server's user pools (None for other providers).
    fn sign_in_of(&self, pool: &IdentityPool, login: &VerifiedLogin) -> Option<SignInRef> {
        let pool_id = pool.settings.providers.iter().find_map(|p| match p {
            Provider::UserPool { pool_id, .. }
                if self.user_pool_provider_names(pool_id)[0] == login.provider =>
            {
                Some(pool_id.clone())
            }
            _ => None,
        })?;
        let claim = |k: &str| {
            login
                .claims
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        Some(SignInRef {
            pool_id,
            sub: claim("sub"),
            client_id: claim("aud"),
            family: claim("origin_jti"),
        })
    }

    /// The role for authenticated logins: the first login whose provider
    /// maps roles decides; otherwise the pool's authenticated role.
    fn resolve_role(
        &self,
        pool: &IdentityPool,
        logins: &[VerifiedLogin],
        custom: Option<&str>,
    ) -> Result<String> {
        let default = || {
            pool.settings
                .authenticated_role
                .clone()
                .ok_or_else(|| not_authorized("The identity pool has no authenticated role."))
        };
        // As Cognito: a CustomRoleArn must be one of the roles a login's
        // token carries (`cognito:roles`), whatever the pool's role mapping.
        if let Some(c) = custom {
            let carried = logins.iter().any(|l| {
                l.claims
                    .get("cognito:roles")
                    .and_then(Value::as_array)
                    .is_some_and(|roles| roles.iter().any(|r| r.as_str() == Some(c)))
            });
            if !carried {
                return Err(not_authorized(
                    "The custom role is not one of the token's roles.",
                ));
            }
        }
        let Some((login, mapping)) = logins
            .iter()
            .find_map(|l| l.mapping.as_ref().map(|m| (l, m)))
        else {
            return default();
        };
        let chosen = match mapping.kind {
            MappingKind::Token => {
                let roles: Vec<&str> = login
                    .claims
                    .get("cognito:roles")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                match custom {
                    Some(c) if roles.contains(&c) => Some(c.to_owned()),
                    Some(_) => {
                        return Err(not_authorized(
                            "The custom role is not one of the token's roles.",
                        ));
                    }
                    None => login
                        .claims
                        .get("cognito:preferred_role")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                }
            }
            MappingKind::Rules => mapping.rules.iter().find_map(|r| {
                let claim = match login.claims.get(&r.claim)? {
                    Value::String(s) => s.clone(),
                    Value::Array(a) => a
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(","),
                    other => other.to_string(),
                };
                r.match_type
                    .matches(&claim, &r.value)
                    .then(|| r.role.clone())
            }),
        };
        match (chosen, mapping.ambiguous_role_resolution) {
            (Some(r), _) => Ok(r),
            (None, AmbiguousResolution::AuthenticatedRole) => default(),
            (None, AmbiguousResolution::Deny) => Err(not_authorized(
                "No role mapping applies and the identity pool denies ambiguous requests.",
            )),
        }
    }

    // ---- what the S3 gateway asks -----------------------------------------

    pub fn secret_for(&self, access_key_id: &str) -> Option<String> {
        self.minter.secret_for(access_key_id)
    }

    /// Unseals a session token, checks its expiry and that nothing it
    /// rests on was revoked (I3), and looks up its role's current policy.
    pub async fn check_session(
        &self,
        access_key_id: &str,
        token: &str,
    ) -> std::result::Result<Session, SessionProblem> {
        let grant = self
            .minter
            .open(access_key_id, token, self.clock.now())
            .map_err(|p| match p {
                Problem::Invalid => SessionProblem::Invalid,
                Problem::Expired => SessionProblem::Expired,
            })?;
        let refused = |e: Error| {
            tracing::warn!(error = ?e, "revocation state unavailable; refusing");
            SessionProblem::Revoked
        };
        let standing = match self.standing.get(&grant.identity_id) {
            Some(s) => *s,
            None => {
                let s = self
                    .store
                    .identity_standing(&grant.identity_id)
                    .await
                    .map_err(refused)?;
                *self.standing.put(grant.identity_id.clone(), s)
            }
        };
        // Gone, disabled, or unlinked since the credentials were issued.
        if standing != Some((false, grant.epoch)) {
            return Err(SessionProblem::Revoked);
        }
        for s in &grant.sign_ins {
            if !self.sign_in_stands(s).await.map_err(refused)? {
                return Err(SessionProblem::Revoked);
            }
        }
        let role = match self.roles.get(&grant.role) {
            Some(r) => r,
            None => {
                let r = self.load_role(&grant.role).await.map_err(refused)?;
                self.roles.put(grant.role.clone(), r)
            }
        };
        match role.as_ref() {
            // The role deleted (or deleted and created again): nothing.
            Some(r) if r.created_at == grant.role_created_at => Ok(Session {
                policy: r.policy.clone(),
                document: r.document.clone(),
                grant,
            }),
            _ => Err(SessionProblem::Revoked),
        }
    }

    /// A role's current policy, parsed (None: deleted, or a document this
    /// server can no longer parse, which grants nothing).
    async fn load_role(&self, name: &str) -> Result<Option<CurrentRole>> {
        let Some(role) = self.store.get_role(name).await? else {
            return Ok(None);
        };
        match policy::PolicyDocument::parse(&role.policy) {
            Ok(document) => Ok(Some(CurrentRole {
                created_at: role.created_at,
                policy: role.policy,
                document,
            })),
            Err(e) => {
                tracing::warn!(role = %name, error = %e, "role policy does not parse");
                Ok(None)
            }
        }
    }

    /// Whether a user-pool sign-in behind credentials still stands: its
    /// refresh-token family unrevoked and the user's, the user enabled,
    /// the app client there.
    async fn sign_in_stands(&self, s: &SignInRef) -> Result<bool> {
        if let Some(ok) = self.sign_ins.get(s) {
            return Ok(*ok);
        }
        let family_ok =
            self.store.get_family(&s.family).await?.is_some_and(|f| {
                f.revoked_at.is_none() && f.pool_id == s.pool_id && f.sub == s.sub
            });
        let ok = family_ok
            && self
                .store
                .get_user(&s.pool_id, &s.sub)
                .await?
                .is_some_and(|u| u.enabled)
            && self
                .store
                .get_client(&s.pool_id, &s.client_id)
                .await?
                .is_some();
        Ok(*self.sign_ins.put(s.clone(), ok))
    }
}

/// How long a node trusts what it read of revocation state and role
/// policies: a change made on any node reaches every gateway within this.
pub const REVOCATION_TTL: Duration = Duration::from_secs(1);

/// A role as the gateway evaluates it.
struct CurrentRole {
    created_at: i64,
    policy: Value,
    document: policy::PolicyDocument,
}

/// A session token that checked out: its grant (fields readable through
/// `Deref`) and the role's current policy.
#[derive(Debug, Clone)]
pub struct Session {
    pub grant: Grant,
    /// The role's policy document as stored now.
    pub policy: Value,
    document: policy::PolicyDocument,
}

impl std::ops::Deref for Session {
    type Target = Grant;
    fn deref(&self) -> &Grant {
        &self.grant
    }
}

/// Settings equal but for sealed secrets (which are sealed anew each time).
fn same_settings(stored: &IdentityPoolSettings, declared: &IdentityPoolSettings) -> bool {
    let strip = |s: &IdentityPoolSettings| {
        let mut s = s.clone();
        for p in &mut s.providers {
            if let Provider::Introspection {
                app_token,
                app_token_sealed,
                ..
            } = p
            {
                *app_token = None;
                *app_token_sealed = None;
            }
        }
        s
    };
    strip(stored) == strip(declared)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionProblem {
    Invalid,
    Expired,
    Revoked,
}

/// What the S3 gateway asks of the identity pools: the secret of an access
/// key id (derived) and the grant of a session token (unsealed; expiry and
/// revocation checked; the role's current policy).
#[async_trait::async_trait]
impl crate::gateway::CredentialAuthority for IdentityPools {
    fn secret_for(&self, access_key_id: &str) -> Option<String> {
        self.minter.secret_for(access_key_id)
    }

    async fn check_session(
        &self,
        access_key_id: &str,
        session_token: &str,
    ) -> std::result::Result<crate::gateway::SessionGrant, crate::gateway::TokenProblem> {
        use crate::gateway::TokenProblem;
        let Session {
            grant, document, ..
        } = IdentityPools::check_session(self, access_key_id, session_token)
            .await
            .map_err(|p| match p {
                SessionProblem::Invalid => TokenProblem::Invalid,
                SessionProblem::Expired => TokenProblem::Expired,
                SessionProblem::Revoked => TokenProblem::Revoked,
            })?;
        Ok(crate::gateway::SessionGrant {
            identity_id: grant.identity_id,
            identity_pool_id: grant.identity_pool_id,
            amr: Some(grant.amr),
            policy: document,
            expires_at: grant.expires_at,
        })
    }
}

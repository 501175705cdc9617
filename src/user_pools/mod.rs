//! The user-pool services: pools and app clients (admin), sign-up and
//! confirmation, sign-in and tokens, the signed-in user. Independent of HTTP
//! and of the storage backend; every facade (native REST, Cognito JSON,
//! OAuth) calls these.

pub mod account;
pub mod admin;
pub mod auth;
pub mod authorize;
pub mod federation;
pub mod groups;
pub mod limits;
pub mod mfa;
pub mod oauth;
pub mod passkeys;
pub mod policy;
pub mod resource_servers;
pub mod signup;
pub mod srp;
pub mod transfer;
pub mod user_auth;
pub mod users;

use crate::cache::TtlCache;
use crate::clock::SharedClock;
use crate::crypto::keys::KeyRing;
use crate::crypto::password::PasswordHasher;
use crate::crypto::{Keyed, Sealer, ct_eq};
use crate::error::{Error, ErrorKind, Result};
use crate::mail::SharedMailer;
pub use crate::model::attributes;
use crate::model::*;
use crate::store::SharedStore;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// What a request offers to authenticate its app client.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "Option<String>")]
pub enum ClientProof {
    /// Nothing (a public client).
    #[default]
    None,
    /// The client secret itself (native API, OAuth endpoints).
    Secret(String),
    /// Cognito's `SECRET_HASH` = Base64(HMAC-SHA256(secret, username ‖
    /// client id)), with the username it was computed over; either may be
    /// absent, which fails for a client with a secret.
    SecretHash {
        username: Option<String>,
        hash: Option<String>,
    },
}

impl From<Option<String>> for ClientProof {
    fn from(secret: Option<String>) -> Self {
        secret.map_or(ClientProof::None, ClientProof::Secret)
    }
}

impl ClientProof {
    /// Cognito's proof from a request's `USERNAME` and `SECRET_HASH`.
    pub fn secret_hash(username: Option<&str>, hash: Option<&str>) -> Self {
        ClientProof::SecretHash {
            username: username.map(str::to_owned),
            hash: hash.map(str::to_owned),
        }
    }
}

/// Base64(HMAC-SHA256(secret, username ‖ client id)).
pub fn secret_hash(secret: &str, username: &str, client_id: &str) -> String {
    use base64::Engine;
    use hmac::{KeyInit, Mac};
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(username.as_bytes());
    mac.update(client_id.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Sign-up confirmation codes live 24 h.
pub const SIGNUP_CODE_TTL: i64 = 24 * 3600;
/// A code dies after this many wrong tries.
pub const MAX_CODE_ATTEMPTS: i32 = 5;

pub struct UserPools {
    pub store: SharedStore,
    pub keys: Arc<KeyRing>,
    pub hasher: Arc<PasswordHasher>,
    pub mailer: SharedMailer,
    pub clock: SharedClock,
    codes: Keyed,
    client_secrets: Sealer,
    public_url: String,
    region: String,
    pools: TtlCache<String, Pool>,
    clients: TtlCache<(String, String), AppClient>,
    /// The pool of each app client (client ids are unique across pools).
    client_pools: TtlCache<String, String>,
    /// `tokens.refresh_reuse_grace_secs`.
    pub(crate) reuse_grace_secs: i64,
    /// `rate_limits`.
    pub(crate) rate_limits: crate::config::RateLimitSettings,
    /// Seals SRP verifiers and challenge state.
    pub(crate) srp_sealer: Sealer,
    /// Keys the dummy SRP verifiers of users without one.
    pub(crate) srp_dummy: Keyed,
    /// Seals identity providers' client secrets.
    pub(crate) idp_secrets: Sealer,
    /// Talks to external identity providers.
    pub(crate) rp: Arc<crate::oidc_rp::RelyingParty>,
    /// Seals users' TOTP secrets.
    pub(crate) mfa_secrets: Sealer,
    /// Seals authorization codes (self-contained: nothing is stored until
    /// the exchange).
    pub(crate) oauth_codes: Sealer,
    /// Text messages, when configured.
    pub sms: Option<crate::sms::SharedSms>,
}

/// How long a node trusts its cached copy of a pool or client changed on
/// another node.
pub const SETTINGS_CACHE_TTL: Duration = Duration::from_secs(5);

impl UserPools {
    /// Runs a flow and records its audit event (time, pool, user, client,
    /// IP, user agent, request id, outcome). An audit write that fails is
    /// logged; it does not fail the flow.
    pub async fn audited<T>(
        &self,
        pool_id: &str,
        event: &str,
        username: Option<&str>,
        client_id: Option<&str>,
        flow: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let (out, sub) = crate::audit::with_subject(flow).await;
        let ctx = crate::audit::request();
        let cut = |s: &str, n: usize| s.chars().take(n).collect::<String>();
        let record = AuditEvent {
            id: crate::crypto::random::ordered_id(),
            pool_id: Some(pool_id.to_owned()),
            sub,
            username: username.map(|u| cut(u, 256)),
            client_id: client_id.map(|c| cut(c, 128)),
            event: event.to_owned(),
            outcome: match &out {
                Ok(_) => "Success".to_owned(),
                Err(e) => e.kind.code().to_owned(),
            },
            ip: ctx.ip,
            user_agent: ctx.user_agent.map(|u| cut(&u, 512)),
            request_id: ctx.request_id,
            created_at: self.clock.now(),
            actor: None,
            door: None,
            target: None,
        };
        if let Err(e) = self.store.insert_audit(&record).await {
            tracing::error!(error = ?e, event, "audit event not recorded");
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: SharedStore,
        keys: Arc<KeyRing>,
        hasher: Arc<PasswordHasher>,
        mailer: SharedMailer,
        clock: SharedClock,
        master: &crate::crypto::MasterKey,
        public_url: &str,
        region: &str,
    ) -> Self {
        Self {
            store,
            keys,
            hasher,
            mailer,
            codes: Keyed::new(master, "poolgate/codes"),
            client_secrets: Sealer::new(master, "poolgate/client-secret"),
            public_url: public_url.to_owned(),
            region: region.to_owned(),
            pools: TtlCache::new(SETTINGS_CACHE_TTL, 10_000),
            clients: TtlCache::new(SETTINGS_CACHE_TTL, 10_000),
            client_pools: TtlCache::new(SETTINGS_CACHE_TTL, 10_000),
            reuse_grace_secs: crate::config::TokenSettings::default().refresh_reuse_grace_secs,
            rate_limits: crate::config::RateLimitSettings::default(),
            srp_sealer: Sealer::new(master, "poolgate/srp-verifier"),
            srp_dummy: Keyed::new(master, "poolgate/srp-dummy"),
            idp_secrets: Sealer::new(master, "poolgate/idp-secret"),
            mfa_secrets: Sealer::new(master, "poolgate/totp-secret"),
            oauth_codes: Sealer::new(master, "poolgate/oauth-code"),
            sms: None,
            rp: Arc::new(crate::oidc_rp::RelyingParty::new(clock.clone())),
            clock,
        }
    }

    /// Sets the refresh-token reuse grace window (`tokens.refresh_reuse_grace_secs`).
    pub fn with_reuse_grace(mut self, secs: i64) -> Self {
        self.reuse_grace_secs = secs;
        self
    }

    /// Sets the SMS sender (`sms`).
    pub fn with_sms(mut self, sms: Option<crate::sms::SharedSms>) -> Self {
        self.sms = sms;
        self
    }

    /// Sets the rate limits (`rate_limits`).
    pub fn with_rate_limits(mut self, limits: crate::config::RateLimitSettings) -> Self {
        self.rate_limits = limits;
        self
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn issuer(&self, pool_id: &str) -> String {
        format!("{}/{}", self.public_url, pool_id)
    }

    /// The pool id named by an issuer of this server, if it is one.
    pub fn pool_id_from_issuer<'a>(&self, iss: &'a str) -> Option<&'a str> {
        let rest = iss.strip_prefix(&self.public_url)?.strip_prefix('/')?;
        (!rest.is_empty() && !rest.contains('/')).then_some(rest)
    }

    /// The pool, shared from this node's cache (no copy per request).
    pub async fn pool(&self, pool_id: &str) -> Result<Arc<Pool>> {
        if validate_pool_id(pool_id, &self.region).is_err() {
            return Err(Error::not_found("User pool"));
        }
        if let Some(p) = self.pools.get(&pool_id.to_owned()) {
            return Ok(p);
        }
        let p = self
            .store
            .get_pool(pool_id)
            .await?
            .ok_or_else(|| Error::not_found("User pool"))?;
        Ok(self.pools.put(pool_id.to_owned(), p))
    }

    /// Forgets this node's cached copy of a pool and its clients.
    pub(crate) fn forget_pool(&self, pool_id: &str) {
        self.pools.remove(&pool_id.to_owned());
        self.clients.clear();
        self.client_pools.clear();
    }

    pub(crate) fn forget_client(&self, pool_id: &str, client_id: &str) {
        self.clients
            .remove(&(pool_id.to_owned(), client_id.to_owned()));
        self.client_pools.remove(&client_id.to_owned());
    }

    /// An app client, from this node's cache when it is fresh.
    pub async fn client(&self, pool_id: &str, client_id: &str) -> Result<Arc<AppClient>> {
        let key = (pool_id.to_owned(), client_id.to_owned());
        match self.clients.get(&key) {
            Some(c) => Ok(c),
            None => {
                let c = self
                    .store
                    .get_client(pool_id, client_id)
                    .await?
                    .ok_or_else(|| Error::not_found("App client"))?;
                Ok(self.clients.put(key, c))
            }
        }
    }

    /// The hosted pages' branding of a pool, with a client's overrides.
    pub async fn branding(&self, pool_id: &str, client_id: Option<&str>) -> Branding {
        let Ok(pool) = self.pool(pool_id).await else {
            return Branding::default();
        };
        match client_id {
            Some(c) => match self.client(pool_id, c).await {
                Ok(client) => pool.settings.branding.overlaid(&client.settings.branding),
                Err(_) => pool.settings.branding.clone(),
            },
            None => pool.settings.branding.clone(),
        }
    }

    /// The pool an app client belongs to, for the doors that name only the
    /// client (the Cognito protocol), from this node's cache when fresh.
    pub async fn client_pool_id(&self, client_id: &str) -> Result<String> {
        if client_id.is_empty() || client_id.len() > 128 {
            return Err(Error::not_found("App client"));
        }
        if let Some(p) = self.client_pools.get(&client_id.to_owned()) {
            return Ok((*p).clone());
        }
        let pool = self
            .store
            .client_pool_id(client_id)
            .await?
            .ok_or_else(|| Error::not_found("App client"))?;
        Ok((*self.client_pools.put(client_id.to_owned(), pool)).clone())
    }

    /// Client authentication, the one place it happens for every door: the
    /// app client named in a request, with its proof checked when it has a
    /// secret (constant-time). The secret is unsealed here and never leaves
    /// this function. A client without a secret accepts any proof.
    pub async fn authenticate_client(
        &self,
        pool_id: &str,
        client_id: &str,
        proof: &ClientProof,
    ) -> Result<Arc<AppClient>> {
        if client_id.is_empty() || client_id.len() > 128 {
            return Err(Error::not_found("App client"));
        }
        let client = self.client(pool_id, client_id).await?;
        let Some(sealed) = &client.secret_sealed else {
            return Ok(client);
        };
        let expected = self.open_client_secret(&client.id, sealed)?;
        match proof {
            ClientProof::None => Err(Error::not_authorized(
                "Client secret is required for this client",
            )),
            ClientProof::Secret(given) if ct_eq(expected.as_bytes(), given.as_bytes()) => {
                Ok(client)
            }
            ClientProof::Secret(_) => Err(Error::not_authorized("Client secret is invalid")),
            ClientProof::SecretHash { username, hash } => {
                let refused = || {
                    Error::not_authorized(format!(
                        "Unable to verify secret hash for client {client_id}"
                    ))
                };
                let (Some(username), Some(given)) = (username, hash) else {
                    return Err(refused());
                };
                let want = secret_hash(&expected, username, client_id);
                if !ct_eq(want.as_bytes(), given.as_bytes()) {
                    return Err(refused());
                }
                Ok(client)
            }
        }
    }

    pub(crate) fn seal_client_secret(&self, client_id: &str, secret: &str) -> Vec<u8> {
        self.client_secrets
            .seal(secret.as_bytes(), client_id.as_bytes())
    }

    pub(crate) fn open_client_secret(&self, client_id: &str, sealed: &[u8]) -> Result<String> {
        let raw = self
            .client_secrets
            .open(sealed, client_id.as_bytes())
            .map_err(Error::internal)?;
        String::from_utf8(raw).map_err(Error::internal)
    }

    pub(crate) fn code_hash(
        &self,
        pool_id: &str,
        sub: &str,
        purpose: CodePurpose,
        code: &str,
    ) -> String {
        self.codes.mac_hex(&[
            pool_id.as_bytes(),
            sub.as_bytes(),
            purpose.as_str().as_bytes(),
            code.as_bytes(),
        ])
    }

    /// Normalises a sign-in name the way the pool stores it.
    pub fn normalize_username(pool: &Pool, name: &str) -> String {
        if pool.settings.username_case_sensitive {
            name.to_owned()
        } else {
            name.to_lowercase()
        }
    }

    /// Finds the user a sign-in name designates: the username, or an email /
    /// phone / preferred_username alias. Notes the user for the audit trail.
    pub async fn find_user(&self, pool: &Pool, name: &str) -> Result<Option<User>> {
        let found = self.find_user_inner(pool, name).await?;
        if let Some(u) = &found {
            crate::audit::note_subject(&u.sub);
        }
        Ok(found)
    }

    async fn find_user_inner(&self, pool: &Pool, name: &str) -> Result<Option<User>> {
        for (kind, value) in Self::lookups_of(pool, name) {
            let found = match &kind {
                Some(kind) => self.store.get_user_by_alias(&pool.id, kind, &value).await?,
                None => self.store.get_user_by_username(&pool.id, &value).await?,
            };
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// `find_user` for a sign-in: the user with its groups and its
    /// throttle as seen from `source`, each candidate in one round trip.
    pub(crate) async fn find_sign_in(
        &self,
        pool: &Pool,
        name: &str,
        source: &str,
    ) -> Result<Option<SignInRecord>> {
        for (kind, value) in Self::lookups_of(pool, name) {
            let by = match &kind {
                Some(kind) => UserLookup::Alias(kind, &value),
                None => UserLookup::Username(&value),
            };
            if let Some(found) = self.store.sign_in_lookup(&pool.id, by, source).await? {
                crate::audit::note_subject(&found.user.sub);
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// What a sign-in name may designate, in the order to try: an alias
    /// kind (`Some`) with its normalized value, or the username (`None`).
    /// Email/phone-as-username pools look the address up first (one round
    /// trip in the common case); a name of the wrong shape for a kind is
    /// not looked up as one.
    fn lookups_of(pool: &Pool, name: &str) -> Vec<(Option<String>, String)> {
        if name.is_empty() || name.len() > 256 {
            return vec![];
        }
        let by_shape = |kind: &str| match kind {
            "email" => attributes::is_valid_email(name),
            "phone_number" => attributes::is_valid_phone(name),
            _ => true,
        };
        let aliases = |kinds: &[String]| -> Vec<(Option<String>, String)> {
            kinds
                .iter()
                .filter(|k| by_shape(k))
                .map(|k| (Some(k.clone()), alias_value(k, name)))
                .collect()
        };
        let mut out = aliases(&pool.settings.username_attributes);
        out.push((None, Self::normalize_username(pool, name)));
        out.extend(aliases(&pool.settings.alias_attributes));
        out
    }

    /// Checks a one-time code: counts wrong tries, kills the code after
    /// `MAX_CODE_ATTEMPTS`, refuses expired ones. Returns the code's hash for
    /// the caller to consume atomically with its effect.
    pub(crate) async fn check_code(
        &self,
        pool_id: &str,
        sub: &str,
        purpose: CodePurpose,
        code: &str,
    ) -> Result<String> {
        let mismatch = || {
            Error::new(
                ErrorKind::CodeMismatch,
                "Invalid verification code provided, please try again.",
            )
        };
        let record = self
            .store
            .get_code(pool_id, sub, purpose)
            .await?
            .ok_or_else(mismatch)?;
        if record.attempts >= MAX_CODE_ATTEMPTS {
            self.store.delete_code(pool_id, sub, purpose).await?;
            return Err(Error::new(
                ErrorKind::TooManyFailedAttempts,
                "Attempt limit exceeded, please request a new code.",
            ));
        }
        if record.expires_at <= self.clock.now() {
            return Err(Error::new(
                ErrorKind::ExpiredCode,
                "Invalid code provided, please request a code again.",
            ));
        }
        let hash = self.code_hash(pool_id, sub, purpose, code.trim());
        if !ct_eq(hash.as_bytes(), record.code_hash.as_bytes()) {
            let n = self.store.bump_code_attempts(pool_id, sub, purpose).await?;
            if n >= MAX_CODE_ATTEMPTS {
                self.store.delete_code(pool_id, sub, purpose).await?;
            }
            return Err(mismatch());
        }
        Ok(hash)
    }
}

/// The stored form of an alias value: emails lower-cased.
pub fn alias_value(kind: &str, value: &str) -> String {
    if kind == "email" {
        value.trim().to_lowercase()
    } else {
        value.trim().to_owned()
    }
}

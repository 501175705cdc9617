//! The user-pool services: pools and app clients (admin), sign-up and
//! confirmation, sign-in and tokens, the signed-in user. Independent of HTTP
//! and of the storage backend; every facade (native REST, Cognito JSON,
//! OAuth) calls these.
//!
//! Split by aggregate (issue 17 item 2), each service its own type with
//! the dependencies it takes:
//!
//! | service | module | takes |
//! |---|---|---|
//! | [`Core`] (shared) | `core.rs` | store, clock, issuer URL, region, code key; pool and client caches; the audit trail |
//! | [`Clients`] (`pools.clients`) | `clients.rs` | core, client-secret sealer: client authentication (the one function), client reads |
//! | [`Sessions`] (`pools.sessions`) | `sessions.rs` | core, clients, signing-key ring, refresh reuse grace: token families, refresh, revocation, access- and ID-token verification (identity pools use it) |
//! | `UserPools` (the rest, being split) | the other files | core, clients, sessions, key ring, hasher, mailer, SMS, sealers, relying party, rate limits |
//!
//! Handlers reach a service through its field (`s.pools.sessions.refresh`)
//! and never the store: it is visible inside `user_pools` only.

pub mod account;
pub mod admin;
pub mod auth;
pub mod authorize;
pub mod clients;
pub mod core;
pub mod federation;
pub mod groups;
pub mod hooks;
pub mod limits;
pub mod mfa;
pub mod oauth;
pub mod passkeys;
pub mod policy;
pub mod resource_servers;
pub mod sessions;
pub mod signup;
pub mod srp;
pub mod transfer;
pub mod user_auth;
pub mod users;

use crate::clock::SharedClock;
use crate::crypto::keys::KeyRing;
use crate::crypto::password::PasswordHasher;
use crate::crypto::{Keyed, Sealer};
use crate::mail::SharedMailer;
pub use crate::model::attributes;
use crate::store::SharedStore;
pub use clients::Clients;
pub use core::Core;
use serde::Deserialize;
pub use sessions::Sessions;
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
    /// Store, clock, caches, issuer, codes and audit, shared by every
    /// service (reached through `Deref`).
    core: Arc<Core>,
    /// App clients: client authentication, client secrets.
    pub clients: Clients,
    /// Token families, refresh, revocation, token verification.
    pub sessions: Sessions,
    pub keys: Arc<KeyRing>,
    pub hasher: Arc<PasswordHasher>,
    pub mailer: SharedMailer,
    /// `rate_limits`.
    pub(crate) rate_limits: crate::config::RateLimitSettings,
    /// This node's sign-in admission (G2), from `rate_limits`.
    pub(crate) gate: limits::SignInGate,
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
    /// Called where Cognito invokes a Lambda trigger (`hooks`).
    pub(crate) hooks: hooks::SharedHooks,
}

/// How long a node trusts its cached copy of a pool or client changed on
/// another node.
pub const SETTINGS_CACHE_TTL: Duration = Duration::from_secs(5);

impl std::ops::Deref for UserPools {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.core
    }
}

impl UserPools {
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
        let gate = limits::SignInGate::new(
            &crate::config::RateLimitSettings::default(),
            hasher.capacity(),
        );
        let core = Arc::new(Core::new(store, clock.clone(), master, public_url, region));
        let clients = Clients::new(core.clone(), Sealer::new(master, "poolgate/client-secret"));
        let sessions = Sessions::new(
            core.clone(),
            clients.clone(),
            keys.clone(),
            crate::config::TokenSettings::default().refresh_reuse_grace_secs,
        );
        Self {
            core,
            clients,
            sessions,
            keys,
            hasher,
            mailer,
            rate_limits: crate::config::RateLimitSettings::default(),
            gate,
            srp_sealer: Sealer::new(master, "poolgate/srp-verifier"),
            srp_dummy: Keyed::new(master, "poolgate/srp-dummy"),
            idp_secrets: Sealer::new(master, "poolgate/idp-secret"),
            mfa_secrets: Sealer::new(master, "poolgate/totp-secret"),
            oauth_codes: Sealer::new(master, "poolgate/oauth-code"),
            sms: None,
            hooks: Arc::new(hooks::PoolRules),
            rp: Arc::new(crate::oidc_rp::RelyingParty::new(clock)),
        }
    }

    /// Sets the refresh-token reuse grace window (`tokens.refresh_reuse_grace_secs`).
    pub fn with_reuse_grace(mut self, secs: i64) -> Self {
        self.sessions.reuse_grace_secs = secs;
        self
    }

    /// Sets the SMS sender (`sms`).
    pub fn with_sms(mut self, sms: Option<crate::sms::SharedSms>) -> Self {
        self.sms = sms;
        self
    }

    /// Sets the hooks called at the trigger points (default: the pools'
    /// own `hooks` rules).
    pub fn with_hooks(mut self, hooks: hooks::SharedHooks) -> Self {
        self.sessions.hooks = hooks.clone();
        self.hooks = hooks;
        self
    }

    /// Sets the rate limits (`rate_limits`).
    pub fn with_rate_limits(mut self, limits: crate::config::RateLimitSettings) -> Self {
        self.gate = limits::SignInGate::new(&limits, self.hasher.capacity());
        self.rate_limits = limits;
        self
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

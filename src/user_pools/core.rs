//! The small core every user-pool service shares: the store handle, the
//! clock, the pool and app-client caches, the issuer URL, one-time codes
//! and the audit trail. Nothing outside `user_pools` reaches the store
//! through it (`store` is visible to the services only).

use crate::cache::TtlCache;
use crate::clock::SharedClock;
use crate::crypto::{Keyed, ct_eq};
use crate::error::{Error, ErrorKind, Result};
pub use crate::model::attributes;
use crate::model::*;
use crate::store::SharedStore;
use std::sync::Arc;

use super::{MAX_CODE_ATTEMPTS, SETTINGS_CACHE_TTL, alias_value};

/// What every service needs: store, clock, caches, issuer, codes, audit.
pub struct Core {
    pub(super) store: SharedStore,
    pub clock: SharedClock,
    pub(super) codes: Keyed,
    pub(super) public_url: String,
    region: String,
    pools: TtlCache<String, Pool>,
    clients: TtlCache<(String, String), AppClient>,
    /// Browser origins the clients of a pool allow (`None`: of every pool).
    /// The pool of each app client (client ids are unique across pools).
    pub(super) client_pools: TtlCache<String, String>,
    pub(super) origins: TtlCache<Option<String>, std::collections::HashSet<String>>,
}

impl Core {
    /// Whether the store answers (the readiness probe).
    pub async fn ping(&self) -> Result<()> {
        self.store.ping().await
    }

    pub fn new(
        store: SharedStore,
        clock: SharedClock,
        master: &crate::crypto::MasterKey,
        public_url: &str,
        region: &str,
    ) -> Self {
        Self {
            store,
            clock,
            codes: Keyed::new(master, "poolgate/codes"),
            public_url: public_url.to_owned(),
            region: region.to_owned(),
            pools: TtlCache::new(SETTINGS_CACHE_TTL, 10_000),
            clients: TtlCache::new(SETTINGS_CACHE_TTL, 10_000),
            client_pools: TtlCache::new(SETTINGS_CACHE_TTL, 10_000),
            origins: TtlCache::new(SETTINGS_CACHE_TTL, 10_000),
        }
    }

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
        self.forget_origins(pool_id);
    }

    pub(crate) fn forget_client(&self, pool_id: &str, client_id: &str) {
        self.clients
            .remove(&(pool_id.to_owned(), client_id.to_owned()));
        self.client_pools.remove(&client_id.to_owned());
        self.forget_origins(pool_id);
    }

    fn forget_origins(&self, pool_id: &str) {
        self.origins.remove(&Some(pool_id.to_owned()));
        self.origins.remove(&None);
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
        pool.normalize_username(name)
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

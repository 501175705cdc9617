//! App clients as the public doors see them: the one client-authentication
//! function (client id and, for a confidential client, its secret compared
//! in constant time), the sealing of client secrets, and the reads of
//! clients the handlers need.
//!
//! Takes: the shared [`Core`] (store, caches) and the client-secret sealer.

use super::{ClientProof, Core, secret_hash};
use crate::crypto::{Sealer, ct_eq};
use crate::error::{Error, Result};
use crate::model::*;
use std::sync::Arc;

#[derive(Clone)]
pub struct Clients {
    core: Arc<Core>,
    client_secrets: Sealer,
}

impl std::ops::Deref for Clients {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.core
    }
}

impl Clients {
    pub fn new(core: Arc<Core>, client_secrets: Sealer) -> Self {
        Self {
            core,
            client_secrets,
        }
    }

    /// Client authentication, the one place it happens for every door: the
    /// app client named in a request, with its proof checked when it has a
    /// secret (constant-time). The secret is unsealed here and never leaves
    /// this service. A client without a secret accepts any proof.
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

    /// A pool's app clients, uncached.
    pub async fn list_clients(&self, pool_id: &str) -> Result<Vec<AppClient>> {
        self.store.list_clients(pool_id).await
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

    /// An app client read from the store (not from this node's cache).
    pub async fn fresh_client(&self, pool_id: &str, client_id: &str) -> Result<Option<AppClient>> {
        self.store.get_client(pool_id, client_id).await
    }

    /// Whether a browser origin may call a pool's public endpoints: one of the pool's
    /// clients lists it in `allowed_origins`; with `None`, one client of any pool does
    /// (`/v1/me`, whose preflight carries no token). From this node's cache, which a
    /// client or pool change made here empties at once; only `None` reads every pool.
    pub async fn origin_allowed(&self, pool_id: Option<&str>, origin: &str) -> bool {
        let key = pool_id.map(str::to_owned);
        if let Some(set) = self.origins.get(&key) {
            return set.contains(origin);
        }
        let loaded = match pool_id {
            Some(p) => self.load_origins(&[p.to_owned()]).await,
            None => self.load_all_origins().await,
        };
        // A store error refuses (and is not cached).
        loaded.is_ok_and(|set| self.origins.put(key, set).contains(origin))
    }

    async fn load_origins(&self, pool_ids: &[String]) -> Result<std::collections::HashSet<String>> {
        let mut set = std::collections::HashSet::new();
        for p in pool_ids {
            for c in self.store.list_clients(p).await? {
                set.extend(c.settings.allowed_origins);
            }
        }
        Ok(set)
    }

    async fn load_all_origins(&self) -> Result<std::collections::HashSet<String>> {
        const PAGE: i64 = 500;
        let (mut set, mut after) = (std::collections::HashSet::new(), None::<String>);
        loop {
            let pools = self.store.list_pools(after.as_deref(), PAGE).await?;
            let ids: Vec<String> = pools.iter().map(|p| p.id.clone()).collect();
            set.extend(self.load_origins(&ids).await?);
            if ids.len() < PAGE as usize {
                return Ok(set);
            }
            after = ids.last().cloned();
        }
    }
}

//! Pools and app clients: create, read, update (JSON merge patch of the
//! settings document), delete. Also applies pools declared in config,
//! idempotently and safely when several nodes start at once.

use super::UserPools;
use crate::audit::{AdminCtx, Created, Target};
use crate::config::DeclaredPool;
use crate::crypto::random;
use crate::error::{Error, ErrorKind, Result};
use crate::model::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `{name, ...settings}`. Deserialized by hand: serde ignores
/// `deny_unknown_fields` across `flatten`, and an unknown setting must be an
/// error, not silently dropped.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(try_from = "serde_json::Map<String, serde_json::Value>")]
pub struct CreatePool {
    pub name: String,
    #[serde(flatten)]
    pub settings: PoolSettings,
}

/// `{name, generate_secret, ...settings}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(try_from = "serde_json::Map<String, serde_json::Value>")]
pub struct CreateClient {
    pub name: String,
    pub generate_secret: bool,
    #[serde(flatten)]
    pub settings: ClientSettings,
}

fn take_name(
    map: &mut serde_json::Map<String, serde_json::Value>,
) -> std::result::Result<String, String> {
    match map.remove("name") {
        Some(serde_json::Value::String(s)) => Ok(s),
        Some(_) => Err("`name` must be a string".into()),
        None => Err("missing field `name`".into()),
    }
}

impl TryFrom<serde_json::Map<String, serde_json::Value>> for CreatePool {
    type Error = String;
    fn try_from(
        mut map: serde_json::Map<String, serde_json::Value>,
    ) -> std::result::Result<Self, String> {
        let name = take_name(&mut map)?;
        let settings =
            serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| e.to_string())?;
        Ok(Self { name, settings })
    }
}

impl TryFrom<serde_json::Map<String, serde_json::Value>> for CreateClient {
    type Error = String;
    fn try_from(
        mut map: serde_json::Map<String, serde_json::Value>,
    ) -> std::result::Result<Self, String> {
        let name = take_name(&mut map)?;
        let generate_secret = match map.remove("generate_secret") {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Bool(b)) => b,
            Some(_) => return Err("`generate_secret` must be a boolean".into()),
        };
        let settings =
            serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| e.to_string())?;
        Ok(Self {
            name,
            generate_secret,
            settings,
        })
    }
}

/// An app client as the admin API shows it (secret included: admins need it
/// to configure confidential apps, as Cognito's DescribeUserPoolClient).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientView {
    pub client_id: String,
    pub pool_id: String,
    pub name: String,
    pub client_secret: Option<String>,
    #[serde(flatten)]
    pub settings: ClientSettings,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A pool as the admin API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PoolView {
    pub id: String,
    pub name: String,
    pub issuer: String,
    #[serde(flatten)]
    pub settings: PoolSettings,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The client-credentials grant is for confidential clients only (RFC 6749
/// section 4.4, Cognito's rule).
fn check_confidential(s: &ClientSettings, has_secret: bool) -> Result<()> {
    if s.allowed_oauth_flows
        .iter()
        .any(|f| f == "client_credentials")
        && !has_secret
    {
        return Err(Error::invalid(
            "allowed_oauth_flows: client_credentials needs a client with a secret",
        ));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(Error::invalid("name must be 1-128 printable characters"));
    }
    Ok(())
}

/// RFC 7396 JSON merge patch.
fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    if let serde_json::Value::Object(p) = patch {
        if !target.is_object() {
            *target = serde_json::Value::Object(Default::default());
        }
        let t = target.as_object_mut().expect("object");
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
    } else {
        *target = patch.clone();
    }
}

impl UserPools {
    /// A pool's audit trail, newest first; `sub` narrows to one user;
    /// `before` is the `(created_at, id)` cursor of the previous page.
    pub async fn audit_events(
        &self,
        pool_id: &str,
        sub: Option<&str>,
        before: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<AuditEvent>> {
        self.store.list_audit(pool_id, sub, before, limit).await
    }

    /// Admin changes across every pool (those with a door), newest first.
    pub async fn admin_audit_events(
        &self,
        before: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<AuditEvent>> {
        self.store.list_admin_audit(before, limit).await
    }

    pub fn pool_view(&self, p: &Pool) -> PoolView {
        PoolView {
            id: p.id.clone(),
            name: p.name.clone(),
            issuer: self.issuer(&p.id),
            settings: p.settings.clone(),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }

    pub fn client_view(&self, c: &AppClient) -> Result<ClientView> {
        Ok(ClientView {
            client_id: c.id.clone(),
            pool_id: c.pool_id.clone(),
            name: c.name.clone(),
            client_secret: c
                .secret_sealed
                .as_ref()
                .map(|s| self.clients.open_client_secret(&c.id, s))
                .transpose()?,
            settings: c.settings.clone(),
            created_at: c.created_at,
            updated_at: c.updated_at,
        })
    }

    pub async fn create_pool(&self, admin: &AdminCtx, req: CreatePool) -> Result<Pool> {
        admin
            .audited_as(
                &*self.store,
                &*self.clock,
                "CreateUserPool",
                Target::none(),
                |p: &Pool| Some(Created::Pool(p.id.clone())),
                self.create_pool_flow(req),
            )
            .await
    }

    async fn create_pool_flow(&self, req: CreatePool) -> Result<Pool> {
        self.create_pool_with_id(random::pool_id(self.region()), req)
            .await
    }

    async fn create_pool_with_id(&self, id: String, req: CreatePool) -> Result<Pool> {
        check_name(&req.name)?;
        crate::model::validate_settings(&req.settings)?;
        let now = self.clock.now();
        let pool = Pool {
            id,
            name: req.name,
            settings: req.settings,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_pool(&pool).await?;
        self.keys
            .create_initial(&pool.id, pool.settings.signing_algorithm)
            .await?;
        tracing::info!(pool_id = %pool.id, "user pool created");
        Ok(pool)
    }

    pub async fn list_pools(&self, after: Option<&str>, limit: i64) -> Result<Vec<Pool>> {
        self.store.list_pools(after, limit.clamp(1, 60)).await
    }

    /// The dev mailer's outbox, newest first, optionally for one address or pool.
    pub async fn list_outbox(
        &self,
        to: Option<&str>,
        pool_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<OutboxMessage>> {
        self.store.list_outbox(to, pool_id, limit).await
    }

    /// Applies a JSON merge patch to `{name, ...settings}`.
    pub async fn update_pool(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        patch: &serde_json::Value,
    ) -> Result<Pool> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "UpdateUserPool",
                Target::pool(pool_id),
                self.update_pool_flow(pool_id, patch),
            )
            .await
    }

    async fn update_pool_flow(&self, pool_id: &str, patch: &serde_json::Value) -> Result<Pool> {
        if !patch.is_object() {
            return Err(Error::invalid("the body must be a JSON object"));
        }
        let mut pool = (*self.pool(pool_id).await?).clone();
        let mut doc = serde_json::to_value(&pool.settings).map_err(Error::internal)?;
        let mut patch = patch.clone();
        if let Some(name) = patch.as_object_mut().and_then(|o| o.remove("name")) {
            pool.name = name
                .as_str()
                .ok_or_else(|| Error::invalid("name must be a string"))?
                .to_owned();
            check_name(&pool.name)?;
        }
        for k in ["id", "issuer", "created_at", "updated_at"] {
            if patch.get(k).is_some() {
                return Err(Error::invalid(format!("`{k}` cannot be changed")));
            }
        }
        merge_patch(&mut doc, &patch);
        let settings: PoolSettings = serde_json::from_value(doc)
            .map_err(|e| Error::invalid(format!("invalid settings: {e}")))?;
        self.store_pool_settings(pool, settings).await
    }

    /// Replaces a pool's settings (and its name, when given) with the
    /// checks of `update_pool`, for a door that builds the settings itself.
    pub async fn replace_pool(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        name: Option<String>,
        settings: PoolSettings,
    ) -> Result<Pool> {
        let flow = async {
            let mut pool = (*self.pool(pool_id).await?).clone();
            if let Some(name) = name {
                check_name(&name)?;
                pool.name = name;
            }
            self.store_pool_settings(pool, settings).await
        };
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "UpdateUserPool",
                Target::pool(pool_id),
                flow,
            )
            .await
    }

    async fn store_pool_settings(&self, mut pool: Pool, settings: PoolSettings) -> Result<Pool> {
        let pool_id = pool.id.clone();
        if settings.signing_algorithm != pool.settings.signing_algorithm {
            return Err(Error::invalid(
                "signing_algorithm is chosen at creation; rotate keys to change it",
            ));
        }
        if settings.username_attributes != pool.settings.username_attributes {
            return Err(Error::invalid(
                "username_attributes cannot change after creation",
            ));
        }
        crate::model::validate_settings(&settings)?;
        pool.settings = settings;
        pool.updated_at = self.clock.now();
        if !self.store.update_pool(&pool).await? {
            return Err(Error::not_found("User pool"));
        }
        self.forget_pool(&pool_id);
        Ok(pool)
    }

    pub async fn delete_pool(&self, admin: &AdminCtx, pool_id: &str) -> Result<()> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "DeleteUserPool",
                Target::pool(pool_id),
                self.delete_pool_flow(pool_id),
            )
            .await
    }

    async fn delete_pool_flow(&self, pool_id: &str) -> Result<()> {
        if !self.store.delete_pool(pool_id).await? {
            return Err(Error::not_found("User pool"));
        }
        self.keys.invalidate(pool_id);
        self.forget_pool(pool_id);
        tracing::info!(pool_id, "user pool deleted");
        Ok(())
    }

    pub async fn create_client(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        req: CreateClient,
    ) -> Result<AppClient> {
        admin
            .audited_as(
                &*self.store,
                &*self.clock,
                "CreateUserPoolClient",
                Target::pool(pool_id),
                |c: &AppClient| Some(Created::Client(c.id.clone())),
                self.create_client_flow(pool_id, req),
            )
            .await
    }

    async fn create_client_flow(&self, pool_id: &str, req: CreateClient) -> Result<AppClient> {
        self.create_client_with(pool_id, random::client_id(), req, None)
            .await
    }

    async fn create_client_with(
        &self,
        pool_id: &str,
        id: String,
        req: CreateClient,
        secret: Option<String>,
    ) -> Result<AppClient> {
        check_name(&req.name)?;
        crate::model::validate_client_settings(&req.settings)?;
        self.pool(pool_id).await?;
        let secret = secret.or_else(|| req.generate_secret.then(random::client_secret));
        check_confidential(&req.settings, secret.is_some())?;
        let now = self.clock.now();
        let client = AppClient {
            secret_sealed: secret.map(|s| self.clients.seal_client_secret(&id, &s)),
            id,
            pool_id: pool_id.to_owned(),
            name: req.name,
            settings: req.settings,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_client(&client).await?;
        self.forget_client(pool_id, &client.id);
        Ok(client)
    }

    pub async fn get_client(&self, pool_id: &str, client_id: &str) -> Result<AppClient> {
        self.store
            .get_client(pool_id, client_id)
            .await?
            .ok_or_else(|| Error::not_found("App client"))
    }

    pub async fn update_client(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        client_id: &str,
        patch: &serde_json::Value,
    ) -> Result<AppClient> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "UpdateUserPoolClient",
                Target::client(pool_id, client_id),
                self.update_client_flow(pool_id, client_id, patch),
            )
            .await
    }

    async fn update_client_flow(
        &self,
        pool_id: &str,
        client_id: &str,
        patch: &serde_json::Value,
    ) -> Result<AppClient> {
        if !patch.is_object() {
            return Err(Error::invalid("the body must be a JSON object"));
        }
        let mut client = self.get_client(pool_id, client_id).await?;
        let mut patch = patch.clone();
        if let Some(name) = patch.as_object_mut().and_then(|o| o.remove("name")) {
            client.name = name
                .as_str()
                .ok_or_else(|| Error::invalid("name must be a string"))?
                .to_owned();
            check_name(&client.name)?;
        }
        for k in [
            "client_id",
            "pool_id",
            "client_secret",
            "generate_secret",
            "created_at",
            "updated_at",
        ] {
            if patch.get(k).is_some() {
                return Err(Error::invalid(format!("`{k}` cannot be changed")));
            }
        }
        let mut doc = serde_json::to_value(&client.settings).map_err(Error::internal)?;
        merge_patch(&mut doc, &patch);
        client.settings = serde_json::from_value(doc)
            .map_err(|e| Error::invalid(format!("invalid settings: {e}")))?;
        self.store_client(client).await
    }

    /// Replaces a client's settings (and its name, when given) with the
    /// checks of `update_client`, for a door that builds the settings itself.
    pub async fn replace_client(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        client_id: &str,
        name: Option<String>,
        settings: ClientSettings,
    ) -> Result<AppClient> {
        let flow = async {
            let mut client = self.get_client(pool_id, client_id).await?;
            if let Some(name) = name {
                check_name(&name)?;
                client.name = name;
            }
            client.settings = settings;
            self.store_client(client).await
        };
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "UpdateUserPoolClient",
                Target::client(pool_id, client_id),
                flow,
            )
            .await
    }

    async fn store_client(&self, mut client: AppClient) -> Result<AppClient> {
        let (pool_id, client_id) = (client.pool_id.clone(), client.id.clone());
        crate::model::validate_client_settings(&client.settings)?;
        check_confidential(&client.settings, client.secret_sealed.is_some())?;
        client.updated_at = self.clock.now();
        if !self.store.update_client(&client).await? {
            return Err(Error::not_found("App client"));
        }
        self.forget_client(&pool_id, &client_id);
        Ok(client)
    }

    pub async fn delete_client(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        client_id: &str,
    ) -> Result<()> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "DeleteUserPoolClient",
                Target::client(pool_id, client_id),
                self.delete_client_flow(pool_id, client_id),
            )
            .await
    }

    async fn delete_client_flow(&self, pool_id: &str, client_id: &str) -> Result<()> {
        // Its tokens end with it: the store revokes its refresh families,
        // which access-token checks and refreshes look up every time.
        let now = self.clock.now();
        if !self.store.delete_client(pool_id, client_id, now).await? {
            return Err(Error::not_found("App client"));
        }
        self.forget_client(pool_id, client_id);
        Ok(())
    }

    /// Publishes a new signing key for the pool (it signs after a short
    /// publication delay; old keys stay in the JWKS). Returns its `kid`.
    pub async fn rotate_keys(&self, admin: &AdminCtx, pool_id: &str) -> Result<String> {
        let rotate = async {
            let pool = self.pool(pool_id).await?;
            self.keys
                .rotate(&pool.id, pool.settings.signing_algorithm)
                .await
        };
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "RotateSigningKeys",
                Target::pool(pool_id),
                rotate,
            )
            .await
    }

    /// Creates or updates the pools and clients declared in config. Safe to
    /// run on several nodes at once: a lost creation race is an update.
    pub async fn apply_declared(&self, declared: &[DeclaredPool]) -> Result<()> {
        for d in declared {
            let req = CreatePool {
                name: d.name.clone(),
                settings: d.settings.clone(),
            };
            match self.store.get_pool(&d.id).await? {
                None => match self.create_pool_with_id(d.id.clone(), req).await {
                    Ok(_) => {}
                    Err(e) if e.kind == ErrorKind::Conflict => {}
                    Err(e) => return Err(e),
                },
                Some(mut p) if p.name != d.name || p.settings != d.settings => {
                    crate::model::validate_settings(&d.settings)?;
                    p.name = d.name.clone();
                    p.settings = d.settings.clone();
                    p.updated_at = self.clock.now();
                    self.store.update_pool(&p).await?;
                    self.forget_pool(&p.id);
                }
                Some(_) => {}
            }
            if self.store.list_keys(&d.id).await?.is_empty() {
                self.keys
                    .create_initial(&d.id, d.settings.signing_algorithm)
                    .await?;
            }
            for c in &d.clients {
                let req = CreateClient {
                    name: c.name.clone(),
                    generate_secret: c.generate_secret,
                    settings: c.settings.clone(),
                };
                match self.store.get_client(&d.id, &c.id).await? {
                    None => {
                        let secret = c.secret.as_ref().map(|s| s.expose().to_owned());
                        match self
                            .create_client_with(&d.id, c.id.clone(), req, secret)
                            .await
                        {
                            Ok(_) => {}
                            Err(e) if e.kind == ErrorKind::Conflict => {}
                            Err(e) => return Err(e),
                        }
                    }
                    Some(mut existing) => {
                        let mut changed =
                            existing.name != c.name || existing.settings != c.settings;
                        existing.name = c.name.clone();
                        existing.settings = c.settings.clone();
                        if let Some(s) = &c.secret {
                            let current = existing
                                .secret_sealed
                                .as_ref()
                                .map(|x| self.clients.open_client_secret(&c.id, x))
                                .transpose()?;
                            if current.as_deref() != Some(s.expose()) {
                                existing.secret_sealed =
                                    Some(self.clients.seal_client_secret(&c.id, s.expose()));
                                changed = true;
                            }
                        }
                        if changed {
                            existing.updated_at = self.clock.now();
                            self.store.update_client(&existing).await?;
                            self.forget_client(&d.id, &c.id);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::merge_patch;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut t = json!({"a": {"b": 1, "c": 2}, "d": [1]});
        merge_patch(&mut t, &json!({"a": {"b": null, "e": 3}, "d": [2]}));
        assert_eq!(t, json!({"a": {"c": 2, "e": 3}, "d": [2]}));
    }
}

//! OAuth resource servers: the APIs of a pool, each with custom scopes
//! that tokens carry as `<identifier>/<scope>` (Cognito's rules for the
//! names and limits).

use super::UserPools;
use crate::audit::{AdminCtx, Target};
use crate::error::{Error, ErrorKind, Result};
use crate::model::*;
use serde::Deserialize;
use utoipa::ToSchema;

/// Most resource servers a pool may have (Cognito's quota).
pub const MAX_RESOURCE_SERVERS: i64 = 25;
/// Most scopes one resource server may declare (Cognito's quota).
pub const MAX_SCOPES: usize = 100;

/// Create (with `identifier`) or replace (name and scopes).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutResourceServer {
    /// Usually the API's URL, e.g. `https://api.example.com`; fixed once
    /// created.
    #[serde(default)]
    pub identifier: Option<String>,
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<ResourceServerScope>,
}

fn printable_ascii(s: &str, extra_forbidden: &[char]) -> bool {
    s.chars()
        .all(|c| ('!'..='~').contains(&c) && c != '"' && c != '\\' && !extra_forbidden.contains(&c))
}

pub(crate) fn check(rs: &ResourceServer) -> Result<()> {
    if rs.identifier.is_empty()
        || rs.identifier.len() > 256
        || !printable_ascii(&rs.identifier, &[])
    {
        return Err(Error::invalid(
            "Identifier must be 1-256 printable ASCII characters without spaces, quotes or backslashes",
        ));
    }
    let n = rs.name.chars().count();
    if n == 0
        || n > 256
        || !rs
            .name
            .chars()
            .all(|c| c.is_alphanumeric() || " _+=,.@-".contains(c))
    {
        return Err(Error::invalid(
            "Name must be 1-256 letters, digits, spaces or _+=,.@-",
        ));
    }
    if rs.scopes.len() > MAX_SCOPES {
        return Err(Error::invalid(format!(
            "A resource server has at most {MAX_SCOPES} scopes"
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    for s in &rs.scopes {
        if s.name.is_empty() || s.name.len() > 256 || !printable_ascii(&s.name, &['/']) {
            return Err(Error::invalid(
                "A scope name must be 1-256 printable ASCII characters without spaces, slashes, quotes or backslashes",
            ));
        }
        let d = s.description.chars().count();
        if d == 0 || d > 256 || s.description.chars().any(char::is_control) {
            return Err(Error::invalid(
                "A scope description must be 1-256 printable characters",
            ));
        }
        if !seen.insert(&s.name) {
            return Err(Error::invalid(format!(
                "Scope {} is declared twice",
                s.name
            )));
        }
    }
    Ok(())
}

impl UserPools {
    pub async fn create_resource_server(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        req: PutResourceServer,
    ) -> Result<ResourceServer> {
        let identifier = req.identifier.clone().unwrap_or_default();
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "CreateResourceServer",
                Target::pool(pool_id).object("resource-server", &identifier),
                self.create_resource_server_flow(pool_id, req),
            )
            .await
    }

    async fn create_resource_server_flow(
        &self,
        pool_id: &str,
        req: PutResourceServer,
    ) -> Result<ResourceServer> {
        self.pool(pool_id).await?;
        let now = self.clock.now();
        let rs = ResourceServer {
            pool_id: pool_id.to_owned(),
            identifier: req
                .identifier
                .ok_or_else(|| Error::invalid("identifier is required"))?,
            name: req.name,
            scopes: req.scopes,
            created_at: now,
            updated_at: now,
        };
        check(&rs)?;
        // The quota is checked before the insert; two racing creates may
        // end one over it, which is harmless.
        if self
            .store
            .list_resource_servers(pool_id, None, MAX_RESOURCE_SERVERS)
            .await?
            .len() as i64
            >= MAX_RESOURCE_SERVERS
        {
            return Err(Error::new(
                ErrorKind::LimitExceeded,
                format!("A pool has at most {MAX_RESOURCE_SERVERS} resource servers"),
            ));
        }
        match self.store.insert_resource_server(&rs).await {
            Err(e) if e.kind == ErrorKind::Conflict => Err(Error::new(
                ErrorKind::Conflict,
                "A resource server with this identifier already exists",
            )),
            r => r.map(|_| rs),
        }
    }

    pub async fn get_resource_server(
        &self,
        pool_id: &str,
        identifier: &str,
    ) -> Result<ResourceServer> {
        self.pool(pool_id).await?;
        self.store
            .get_resource_server(pool_id, identifier)
            .await?
            .ok_or_else(|| Error::not_found("Resource server"))
    }

    pub async fn list_resource_servers(
        &self,
        pool_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ResourceServer>> {
        self.pool(pool_id).await?;
        self.store
            .list_resource_servers(pool_id, after, limit.clamp(1, 60))
            .await
    }

    /// Replaces the name and scopes (Cognito's UpdateResourceServer: what is
    /// not given is reset).
    pub async fn update_resource_server(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        identifier: &str,
        req: PutResourceServer,
    ) -> Result<ResourceServer> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "UpdateResourceServer",
                Target::pool(pool_id).object("resource-server", identifier),
                self.update_resource_server_flow(pool_id, identifier, req),
            )
            .await
    }

    async fn update_resource_server_flow(
        &self,
        pool_id: &str,
        identifier: &str,
        req: PutResourceServer,
    ) -> Result<ResourceServer> {
        let mut rs = self.get_resource_server(pool_id, identifier).await?;
        if req.identifier.as_deref().is_some_and(|i| i != identifier) {
            return Err(Error::invalid(
                "The identifier of a resource server cannot change",
            ));
        }
        rs.name = req.name;
        rs.scopes = req.scopes;
        rs.updated_at = self.clock.now();
        check(&rs)?;
        if !self.store.update_resource_server(&rs).await? {
            return Err(Error::not_found("Resource server"));
        }
        Ok(rs)
    }

    pub async fn delete_resource_server(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        identifier: &str,
    ) -> Result<()> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "DeleteResourceServer",
                Target::pool(pool_id).object("resource-server", identifier),
                self.delete_resource_server_flow(pool_id, identifier),
            )
            .await
    }

    async fn delete_resource_server_flow(&self, pool_id: &str, identifier: &str) -> Result<()> {
        self.pool(pool_id).await?;
        if !self
            .store
            .delete_resource_server(pool_id, identifier)
            .await?
        {
            return Err(Error::not_found("Resource server"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(identifier: &str, scopes: &[&str]) -> ResourceServer {
        ResourceServer {
            pool_id: "p".into(),
            identifier: identifier.into(),
            name: "Orders API".into(),
            scopes: scopes
                .iter()
                .map(|s| ResourceServerScope {
                    name: (*s).into(),
                    description: "d".into(),
                })
                .collect(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn names_follow_cognitos_rules() {
        assert!(check(&rs("https://api.example.com", &["orders.read", "write"])).is_ok());
        assert!(check(&rs("", &[])).is_err());
        assert!(check(&rs("has space", &[])).is_err());
        assert!(check(&rs("quote\"", &[])).is_err());
        assert!(check(&rs("api", &["a/b"])).is_err());
        assert!(check(&rs("api", &["dup", "dup"])).is_err());
        let many: Vec<String> = (0..=MAX_SCOPES).map(|i| format!("s{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(check(&rs("api", &many)).is_err());
        let mut bad_name = rs("api", &[]);
        bad_name.name = "<script>".into();
        assert!(check(&bad_name).is_err());
    }
}

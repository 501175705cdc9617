//! The OAuth resource servers of a user pool (SigV4-signed with an admin
//! key).

use super::super::Fault;
use super::super::op::{Empty, Operation};
use super::super::wire::{
    ResourceServerScopeType, ResourceServerType, bad, next_token, page_size, required,
};
use crate::app::AppState;
use crate::audit::AdminCtx;
use crate::user_pools::resource_servers::PutResourceServer;
use serde::{Deserialize, Serialize};

pub(in super::super) const OPS: &[Operation] = &[
    admin!(UserPools, "CreateResourceServer", create_resource_server),
    admin!(
        UserPools,
        "DescribeResourceServer",
        describe_resource_server
    ),
    admin!(UserPools, "UpdateResourceServer", update_resource_server),
    admin!(UserPools, "DeleteResourceServer", delete_resource_server),
    admin!(UserPools, "ListResourceServers", list_resource_servers),
];

/// Create/UpdateResourceServer.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutIn {
    #[serde(default)]
    user_pool_id: Option<String>,
    #[serde(default)]
    identifier: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<ResourceServerScopeType>>,
}

impl PutIn {
    /// The pool and the native request.
    fn split(self) -> Result<(String, PutResourceServer), Fault> {
        let pool = required(self.user_pool_id, "UserPoolId")?;
        let identifier = required(self.identifier, "Identifier")?;
        let req = PutResourceServer {
            identifier: Some(identifier),
            name: required(self.name, "Name")?,
            scopes: self
                .scopes
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
        };
        Ok((pool, req))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ResourceServerOut {
    resource_server: ResourceServerType,
}

async fn create_resource_server(
    s: &AppState,
    admin: &AdminCtx,
    i: PutIn,
) -> Result<ResourceServerOut, Fault> {
    let (pool, req) = i.split()?;
    let r = s
        .pools
        .create_resource_server(admin, &pool, req)
        .await
        .map_err(|e| match e.kind {
            crate::error::ErrorKind::Conflict => bad(e.message),
            _ => e.into(),
        })?;
    Ok(ResourceServerOut {
        resource_server: r.into(),
    })
}

/// A request that names one resource server.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PoolServer {
    #[serde(default)]
    user_pool_id: Option<String>,
    #[serde(default)]
    identifier: Option<String>,
}

impl PoolServer {
    fn names(self) -> Result<(String, String), Fault> {
        let pool = required(self.user_pool_id, "UserPoolId")?;
        Ok((pool, required(self.identifier, "Identifier")?))
    }
}

async fn describe_resource_server(
    s: &AppState,
    _admin: &AdminCtx,
    i: PoolServer,
) -> Result<ResourceServerOut, Fault> {
    let (pool, identifier) = i.names()?;
    let r = s.pools.get_resource_server(&pool, &identifier).await?;
    Ok(ResourceServerOut {
        resource_server: r.into(),
    })
}

async fn update_resource_server(
    s: &AppState,
    admin: &AdminCtx,
    i: PutIn,
) -> Result<ResourceServerOut, Fault> {
    let (pool, req) = i.split()?;
    let identifier = req.identifier.clone().unwrap_or_default();
    let r = s
        .pools
        .update_resource_server(admin, &pool, &identifier, req)
        .await?;
    Ok(ResourceServerOut {
        resource_server: r.into(),
    })
}

async fn delete_resource_server(
    s: &AppState,
    admin: &AdminCtx,
    i: PoolServer,
) -> Result<Empty, Fault> {
    let (pool, identifier) = i.names()?;
    s.pools
        .delete_resource_server(admin, &pool, &identifier)
        .await?;
    Ok(Empty {})
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListOut {
    resource_servers: Vec<ResourceServerType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

async fn list_resource_servers(
    s: &AppState,
    _admin: &AdminCtx,
    i: super::super::wire::PoolPage,
) -> Result<ListOut, Fault> {
    let max = page_size(i.max_results, "MaxResults", 50, true)?;
    let pool = required(i.user_pool_id, "UserPoolId")?;
    let list = s
        .pools
        .list_resource_servers(&pool, i.next_token.as_deref(), max)
        .await?;
    Ok(ListOut {
        next_token: next_token(&list, max, |r| r.identifier.clone()),
        resource_servers: list.into_iter().map(Into::into).collect(),
    })
}

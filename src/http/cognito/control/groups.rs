//! The groups of a user pool (SigV4-signed with an admin key).

use super::super::Fault;
use super::super::op::{Empty, Operation};
use super::super::wire::{GroupOut, GroupType, UserType, next_token, page_size, present, required};
use crate::app::AppState;
use crate::audit::AdminCtx;
use crate::user_pools::groups::{CreateGroup, UpdateGroup};
use serde::{Deserialize, Serialize};

pub(in super::super) const OPS: &[Operation] = &[
    admin!(UserPools, "CreateGroup", create_group),
    admin!(UserPools, "GetGroup", get_group),
    admin!(UserPools, "UpdateGroup", update_group),
    admin!(UserPools, "DeleteGroup", delete_group),
    admin!(UserPools, "ListGroups", list_groups),
    admin!(UserPools, "ListUsersInGroup", list_users_in_group),
];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct CreateGroupIn {
    user_pool_id: String,
    group_name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    role_arn: Option<String>,
    #[serde(default)]
    precedence: Option<i64>,
}

async fn create_group(s: &AppState, admin: &AdminCtx, i: CreateGroupIn) -> Result<GroupOut, Fault> {
    let req = CreateGroup {
        name: i.group_name,
        description: i.description,
        precedence: i.precedence,
        role_arn: i.role_arn,
    };
    let g = s
        .pools
        .create_group(admin, &i.user_pool_id, req)
        .await
        .map_err(|e| match e.kind {
            crate::error::ErrorKind::Conflict => Fault::new(
                "GroupExistsException",
                "A group with the name already exists.",
            ),
            _ => e.into(),
        })?;
    Ok(GroupOut { group: g.into() })
}

/// A request that names one group.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PoolGroup {
    #[serde(default)]
    user_pool_id: Option<String>,
    #[serde(default)]
    group_name: Option<String>,
}

impl PoolGroup {
    fn names(self) -> Result<(String, String), Fault> {
        let pool = required(self.user_pool_id, "UserPoolId")?;
        Ok((pool, required(self.group_name, "GroupName")?))
    }
}

async fn get_group(s: &AppState, _admin: &AdminCtx, i: PoolGroup) -> Result<GroupOut, Fault> {
    let (pool, group) = i.names()?;
    let g = s.pools.get_group(&pool, &group).await?;
    Ok(GroupOut { group: g.into() })
}

/// UpdateGroup changes what it names; `null` clears a member.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct UpdateGroupIn {
    #[serde(default)]
    user_pool_id: Option<String>,
    #[serde(default)]
    group_name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    precedence: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    role_arn: Option<Option<String>>,
}

async fn update_group(s: &AppState, admin: &AdminCtx, i: UpdateGroupIn) -> Result<GroupOut, Fault> {
    let req = UpdateGroup {
        description: i.description,
        precedence: i.precedence,
        role_arn: i.role_arn,
    };
    let pool = required(i.user_pool_id, "UserPoolId")?;
    let group = required(i.group_name, "GroupName")?;
    let g = s.pools.update_group(admin, &pool, &group, req).await?;
    Ok(GroupOut { group: g.into() })
}

async fn delete_group(s: &AppState, admin: &AdminCtx, i: PoolGroup) -> Result<Empty, Fault> {
    let (pool, group) = i.names()?;
    s.pools.delete_group(admin, &pool, &group).await?;
    Ok(Empty {})
}

/// ListGroups and ListUsersInGroup.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListIn {
    #[serde(default)]
    user_pool_id: Option<String>,
    #[serde(default)]
    group_name: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListGroupsOut {
    groups: Vec<GroupType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

async fn list_groups(s: &AppState, _admin: &AdminCtx, i: ListIn) -> Result<ListGroupsOut, Fault> {
    let max = page_size(i.limit, "Limit", 60, false)?;
    let pool = required(i.user_pool_id, "UserPoolId")?;
    let list = s
        .pools
        .list_groups(&pool, i.next_token.as_deref(), max)
        .await?;
    Ok(ListGroupsOut {
        next_token: next_token(&list, max, |g| g.name.clone()),
        groups: list.into_iter().map(Into::into).collect(),
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListUsersOut {
    users: Vec<UserType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

async fn list_users_in_group(
    s: &AppState,
    _admin: &AdminCtx,
    i: ListIn,
) -> Result<ListUsersOut, Fault> {
    let max = page_size(i.limit, "Limit", 60, false)?;
    let pool = required(i.user_pool_id, "UserPoolId")?;
    let group = required(i.group_name, "GroupName")?;
    let users = s
        .pools
        .group_members(&pool, &group, i.next_token.as_deref(), max)
        .await?;
    Ok(ListUsersOut {
        next_token: next_token(&users, max, |u| u.sub.clone()),
        users: users.iter().map(Into::into).collect(),
    })
}

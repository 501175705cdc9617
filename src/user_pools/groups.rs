//! Groups: CRUD, precedence, an optional role, membership. Tokens carry
//! `cognito:groups`, `cognito:roles` and `cognito:preferred_role`.

use super::UserPools;
use crate::audit::{AdminCtx, Target};
use crate::error::{Error, ErrorKind, Result};
use crate::model::*;
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub precedence: Option<i64>,
    #[serde(default)]
    pub role_arn: Option<String>,
}

/// A partial update; absent fields keep their value, `null` clears them.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroup {
    #[serde(default, with = "double_option")]
    pub description: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    pub precedence: Option<Option<i64>>,
    #[serde(default, with = "double_option")]
    pub role_arn: Option<Option<String>>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    /// Username or sign-in alias.
    pub username: String,
}

pub(crate) fn check(g: &Group) -> Result<()> {
    let n = g.name.chars().count();
    if n == 0
        || n > 128
        || g.name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err(Error::invalid(
            "Group name must be 1-128 characters without spaces or slashes",
        ));
    }
    if g.description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 2048)
    {
        return Err(Error::invalid(
            "Group description is longer than 2048 characters",
        ));
    }
    if g.precedence.is_some_and(|p| p < 0) {
        return Err(Error::invalid("Group precedence must be 0 or more"));
    }
    if g.role_arn
        .as_ref()
        .is_some_and(|r| r.is_empty() || r.len() > 2048 || r.chars().any(char::is_control))
    {
        return Err(Error::invalid(
            "role_arn must be 1-2048 printable characters",
        ));
    }
    Ok(())
}

impl UserPools {
    pub async fn create_group(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        req: CreateGroup,
    ) -> Result<Group> {
        let group = req.name.clone();
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "CreateGroup",
                Target::pool(pool_id).object("group", &group),
                self.create_group_flow(pool_id, req),
            )
            .await
    }

    async fn create_group_flow(&self, pool_id: &str, req: CreateGroup) -> Result<Group> {
        self.pool(pool_id).await?;
        let now = self.clock.now();
        let g = Group {
            pool_id: pool_id.to_owned(),
            name: req.name,
            description: req.description,
            precedence: req.precedence,
            role_arn: req.role_arn,
            created_at: now,
            updated_at: now,
        };
        check(&g)?;
        match self.store.insert_group(&g).await {
            Err(e) if e.kind == ErrorKind::Conflict => Err(Error::new(
                ErrorKind::Conflict,
                "A group with this name already exists",
            )),
            r => r.map(|_| g),
        }
    }

    pub async fn get_group(&self, pool_id: &str, name: &str) -> Result<Group> {
        self.pool(pool_id).await?;
        self.store
            .get_group(pool_id, name)
            .await?
            .ok_or_else(|| Error::not_found("Group"))
    }

    pub async fn list_groups(
        &self,
        pool_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Group>> {
        self.pool(pool_id).await?;
        self.store
            .list_groups(pool_id, after, limit.clamp(1, 60))
            .await
    }

    pub async fn update_group(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        name: &str,
        req: UpdateGroup,
    ) -> Result<Group> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "UpdateGroup",
                Target::pool(pool_id).object("group", name),
                self.update_group_flow(pool_id, name, req),
            )
            .await
    }

    async fn update_group_flow(
        &self,
        pool_id: &str,
        name: &str,
        req: UpdateGroup,
    ) -> Result<Group> {
        let mut g = self.get_group(pool_id, name).await?;
        if let Some(d) = req.description {
            g.description = d;
        }
        if let Some(p) = req.precedence {
            g.precedence = p;
        }
        if let Some(r) = req.role_arn {
            g.role_arn = r;
        }
        check(&g)?;
        g.updated_at = self.clock.now();
        if !self.store.update_group(&g).await? {
            return Err(Error::not_found("Group"));
        }
        Ok(g)
    }

    pub async fn delete_group(&self, admin: &AdminCtx, pool_id: &str, name: &str) -> Result<()> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "DeleteGroup",
                Target::pool(pool_id).object("group", name),
                self.delete_group_flow(pool_id, name),
            )
            .await
    }

    async fn delete_group_flow(&self, pool_id: &str, name: &str) -> Result<()> {
        self.pool(pool_id).await?;
        if !self.store.delete_group(pool_id, name).await? {
            return Err(Error::not_found("Group"));
        }
        Ok(())
    }

    /// Adds a user to a group (idempotent). Tokens issued from then on carry it.
    pub async fn add_to_group(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        group: &str,
        username: &str,
    ) -> Result<()> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "AdminAddUserToGroup",
                Target::user(pool_id, username).object("group", group),
                self.add_to_group_flow(pool_id, group, username),
            )
            .await
    }

    async fn add_to_group_flow(&self, pool_id: &str, group: &str, username: &str) -> Result<()> {
        self.get_group(pool_id, group).await?;
        let user = self.admin_get_user(pool_id, username).await?;
        self.store.add_member(pool_id, group, &user.sub).await
    }

    pub async fn remove_from_group(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        group: &str,
        username: &str,
    ) -> Result<()> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "AdminRemoveUserFromGroup",
                Target::user(pool_id, username).object("group", group),
                self.remove_from_group_flow(pool_id, group, username),
            )
            .await
    }

    async fn remove_from_group_flow(
        &self,
        pool_id: &str,
        group: &str,
        username: &str,
    ) -> Result<()> {
        self.get_group(pool_id, group).await?;
        let user = self.admin_get_user(pool_id, username).await?;
        if !self.store.remove_member(pool_id, group, &user.sub).await? {
            return Err(Error::not_found("Membership"));
        }
        Ok(())
    }

    pub async fn group_members(
        &self,
        pool_id: &str,
        group: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<User>> {
        self.get_group(pool_id, group).await?;
        self.store
            .members_of_group(pool_id, group, after, limit.clamp(1, 60))
            .await
    }

    pub async fn user_groups(&self, pool_id: &str, username: &str) -> Result<Vec<Group>> {
        let user = self.admin_get_user(pool_id, username).await?;
        self.store.groups_of_user(pool_id, &user.sub).await
    }
}

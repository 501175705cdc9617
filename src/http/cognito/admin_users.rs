//! Admin* operations on one user of a pool, and ListUsers (SigV4-signed
//! with an admin key). A user the pool does not have is Cognito's
//! UserNotFoundException (`error::user_not_found`).

use super::Fault;
use super::error::{invalid, not_supported, required, user_not_found};
use super::op::{Empty, Operation};
use super::wire::{
    AttributeType, GroupType, MfaMembers, UserType, attribute_list, attributes, deletions,
};
use crate::app::AppState;
use crate::audit::AdminCtx;
use crate::user_pools::users::{AdminCreateUser, AdminUpdateAttributes, SetPassword};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

pub(super) const OPS: &[Operation] = &[
    admin!(UserPools, "AdminDeleteUser", admin_delete_user),
    admin!(UserPools, "AdminGetUser", admin_get_user),
    admin!(UserPools, "AdminCreateUser", admin_create_user),
    admin!(UserPools, "AdminSetUserPassword", admin_set_user_password),
    admin!(UserPools, "AdminConfirmSignUp", admin_confirm_sign_up),
    admin!(UserPools, "AdminDisableUser", admin_disable_user),
    admin!(UserPools, "AdminEnableUser", admin_enable_user),
    admin!(
        UserPools,
        "AdminUserGlobalSignOut",
        admin_user_global_sign_out
    ),
    admin!(
        UserPools,
        "AdminResetUserPassword",
        admin_reset_user_password
    ),
    admin!(
        UserPools,
        "AdminUpdateUserAttributes",
        admin_update_user_attributes
    ),
    admin!(
        UserPools,
        "AdminDeleteUserAttributes",
        admin_delete_user_attributes
    ),
    admin!(UserPools, "AdminAddUserToGroup", admin_add_user_to_group),
    admin!(
        UserPools,
        "AdminRemoveUserFromGroup",
        admin_remove_user_from_group
    ),
    admin!(
        UserPools,
        "AdminListGroupsForUser",
        admin_list_groups_for_user
    ),
    admin!(UserPools, "ListUsers", list_users),
];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct PoolUser {
    user_pool_id: String,
    username: String,
}

async fn admin_delete_user(s: &AppState, admin: &AdminCtx, i: PoolUser) -> Result<Empty, Fault> {
    s.pools
        .admin_delete_user(admin, &i.user_pool_id, &i.username)
        .await
        .map_err(user_not_found)?;
    Ok(Empty {})
}

/// One user of a pool (the members Cognito accepts that this server
/// ignores are read and dropped).
#[derive(Deserialize)]
#[allow(dead_code)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct UserIn {
    user_pool_id: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    client_metadata: Option<IgnoredAny>,
}

impl UserIn {
    fn user(&self) -> Result<String, Fault> {
        required(self.username.clone(), "Username")
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetUserOut {
    username: String,
    user_attributes: Vec<AttributeType>,
    user_create_date: i64,
    user_last_modified_date: i64,
    enabled: bool,
    user_status: &'static str,
    #[serde(flatten)]
    mfa: MfaMembers,
}

async fn admin_get_user(s: &AppState, _: &AdminCtx, i: UserIn) -> Result<GetUserOut, Fault> {
    let (pool, name) = (&i.user_pool_id, i.user()?);
    let u = s.pools.admin_get_user(pool, &name).await;
    let u = u.map_err(user_not_found)?;
    let mfa = s.pools.admin_mfa_view(pool, &name).await;
    Ok(GetUserOut {
        username: u.username.clone(),
        user_attributes: attribute_list(&crate::model::attributes::public(&u.attributes)),
        user_create_date: u.created_at,
        user_last_modified_date: u.updated_at,
        enabled: u.enabled,
        user_status: u.status.as_str(),
        mfa: (&mfa.map_err(user_not_found)?).into(),
    })
}

// Members Cognito accepts that this server ignores are read and dropped.
#[derive(Deserialize)]
#[allow(dead_code)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct CreateUserIn {
    user_pool_id: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    user_attributes: Vec<AttributeType>,
    #[serde(default)]
    temporary_password: Option<String>,
    #[serde(default)]
    message_action: Option<String>,
    #[serde(default)]
    desired_delivery_mediums: Option<IgnoredAny>,
    #[serde(default)]
    force_alias_creation: Option<bool>,
    #[serde(default)]
    validation_data: Option<IgnoredAny>,
    #[serde(default)]
    client_metadata: Option<IgnoredAny>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CreateUserOut {
    user: UserType,
}

async fn admin_create_user(
    s: &AppState,
    admin: &AdminCtx,
    i: CreateUserIn,
) -> Result<CreateUserOut, Fault> {
    if i.message_action.as_deref() == Some("RESEND") {
        return Err(not_supported("AdminCreateUser MessageAction=RESEND"));
    }
    let req = AdminCreateUser {
        username: required(i.username, "Username")?,
        attributes: attributes(i.user_attributes),
        temporary_password: i.temporary_password,
        suppress_invitation: i.message_action.as_deref() == Some("SUPPRESS"),
    };
    let u = s.pools.admin_create_user(admin, &i.user_pool_id, req).await;
    Ok(CreateUserOut {
        user: (&u.map_err(user_not_found)?).into(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct SetPasswordIn {
    user_pool_id: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    permanent: Option<bool>,
}

async fn admin_set_user_password(
    s: &AppState,
    admin: &AdminCtx,
    i: SetPasswordIn,
) -> Result<Empty, Fault> {
    let req = SetPassword {
        password: required(i.password, "Password")?,
        // Cognito's default is a temporary password.
        permanent: i.permanent.unwrap_or(false),
    };
    let user = required(i.username, "Username")?;
    s.pools
        .admin_set_password(admin, &i.user_pool_id, &user, req)
        .await
        .map_err(user_not_found)?;
    Ok(Empty {})
}

async fn admin_confirm_sign_up(s: &AppState, admin: &AdminCtx, i: UserIn) -> Result<Empty, Fault> {
    let user = i.user()?;
    let r = s.pools.admin_confirm(admin, &i.user_pool_id, &user);
    r.await.map_err(user_not_found)?;
    Ok(Empty {})
}

async fn set_enabled(s: &AppState, admin: &AdminCtx, i: UserIn, on: bool) -> Result<Empty, Fault> {
    let user = i.user()?;
    let r = s.pools.admin_set_enabled(admin, &i.user_pool_id, &user, on);
    r.await.map_err(user_not_found)?;
    Ok(Empty {})
}

async fn admin_disable_user(s: &AppState, admin: &AdminCtx, i: UserIn) -> Result<Empty, Fault> {
    set_enabled(s, admin, i, false).await
}

async fn admin_enable_user(s: &AppState, admin: &AdminCtx, i: UserIn) -> Result<Empty, Fault> {
    set_enabled(s, admin, i, true).await
}

async fn admin_user_global_sign_out(
    s: &AppState,
    admin: &AdminCtx,
    i: UserIn,
) -> Result<Empty, Fault> {
    let user = i.user()?;
    let r = s.pools.admin_sign_out(admin, &i.user_pool_id, &user);
    r.await.map_err(user_not_found)?;
    Ok(Empty {})
}

async fn admin_reset_user_password(
    s: &AppState,
    admin: &AdminCtx,
    i: UserIn,
) -> Result<Empty, Fault> {
    let user = i.user()?;
    let r = s.pools.admin_reset_password(admin, &i.user_pool_id, &user);
    r.await.map_err(user_not_found)?;
    Ok(Empty {})
}

// Members Cognito accepts that this server ignores are read and dropped.
#[derive(Deserialize)]
#[allow(dead_code)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct AttributesIn {
    user_pool_id: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    user_attributes: Vec<AttributeType>,
    #[serde(default)]
    user_attribute_names: Vec<String>,
    #[serde(default)]
    client_metadata: Option<IgnoredAny>,
}

async fn update_attributes(
    s: &AppState,
    admin: &AdminCtx,
    pool: &str,
    user: Option<String>,
    attributes: crate::model::Attributes,
) -> Result<Empty, Fault> {
    let user = required(user, "Username")?;
    let req = AdminUpdateAttributes { attributes };
    s.pools
        .admin_update_attributes(admin, pool, &user, req)
        .await
        .map_err(user_not_found)?;
    Ok(Empty {})
}

async fn admin_update_user_attributes(
    s: &AppState,
    admin: &AdminCtx,
    i: AttributesIn,
) -> Result<Empty, Fault> {
    let attrs = attributes(i.user_attributes);
    update_attributes(s, admin, &i.user_pool_id, i.username, attrs).await
}

async fn admin_delete_user_attributes(
    s: &AppState,
    admin: &AdminCtx,
    i: AttributesIn,
) -> Result<Empty, Fault> {
    let attrs = deletions(i.user_attribute_names);
    update_attributes(s, admin, &i.user_pool_id, i.username, attrs).await
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct GroupUserIn {
    user_pool_id: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    group_name: Option<String>,
}

impl GroupUserIn {
    fn names(&self) -> Result<(String, String), Fault> {
        let group = required(self.group_name.clone(), "GroupName")?;
        Ok((group, required(self.username.clone(), "Username")?))
    }
}

async fn admin_add_user_to_group(
    s: &AppState,
    admin: &AdminCtx,
    i: GroupUserIn,
) -> Result<Empty, Fault> {
    let (group, user) = i.names()?;
    let r = s.pools.add_to_group(admin, &i.user_pool_id, &group, &user);
    r.await.map_err(user_not_found)?;
    Ok(Empty {})
}

async fn admin_remove_user_from_group(
    s: &AppState,
    admin: &AdminCtx,
    i: GroupUserIn,
) -> Result<Empty, Fault> {
    let (group, user) = i.names()?;
    let r = s
        .pools
        .remove_from_group(admin, &i.user_pool_id, &group, &user);
    r.await.map_err(user_not_found)?;
    Ok(Empty {})
}

// Members Cognito accepts that this server ignores are read and dropped.
#[derive(Deserialize)]
#[allow(dead_code)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct GroupsForUserIn {
    user_pool_id: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GroupsOut {
    groups: Vec<GroupType>,
}

async fn admin_list_groups_for_user(
    s: &AppState,
    _: &AdminCtx,
    i: GroupsForUserIn,
) -> Result<GroupsOut, Fault> {
    if i.next_token.is_some() {
        return Err(invalid("NextToken is not valid"));
    }
    let user = required(i.username, "Username")?;
    let groups = s.pools.user_groups(&i.user_pool_id, &user).await;
    Ok(GroupsOut {
        groups: groups
            .map_err(user_not_found)?
            .iter()
            .map(Into::into)
            .collect(),
    })
}

// Members Cognito accepts that this server ignores are read and dropped.
#[derive(Deserialize)]
#[allow(dead_code)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ListUsersIn {
    user_pool_id: String,
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    pagination_token: Option<String>,
    #[serde(default)]
    attributes_to_get: Option<IgnoredAny>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UsersOut {
    users: Vec<UserType>,
    /// The cursor of the last user when the page is full (there may be more).
    #[serde(skip_serializing_if = "Option::is_none")]
    pagination_token: Option<String>,
}

async fn list_users(s: &AppState, _: &AdminCtx, i: ListUsersIn) -> Result<UsersOut, Fault> {
    let limit = i.limit.unwrap_or(60);
    if !(1..=60).contains(&limit) {
        return Err(invalid("Limit must be 1-60"));
    }
    let (filter, after) = (i.filter.as_deref(), i.pagination_token.as_deref());
    let users = s
        .pools
        .admin_find_users(&i.user_pool_id, filter, after, limit);
    let users = users.await.map_err(user_not_found)?;
    let pagination_token = (users.len() as i64 == limit)
        .then(|| users.last().map(|u| u.sub.clone()))
        .flatten();
    Ok(UsersOut {
        users: users.iter().map(Into::into).collect(),
        pagination_token,
    })
}

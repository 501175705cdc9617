//! Admin* operations on one user of a pool (SigV4-signed with an admin key).

use super::Fault;
use super::op::{Empty, Operation};
use crate::app::AppState;
use crate::audit::AdminCtx;
use serde::Deserialize;

pub(super) const OPS: &[Operation] = &[admin!(UserPools, "AdminDeleteUser", admin_delete_user)];

/// The services say "User not found" as a ResourceNotFound; Cognito has its
/// own exception for it on the Admin* user operations.
fn user_not_found(f: Fault) -> Fault {
    if f.kind == "ResourceNotFoundException" && f.message.starts_with("User not found") {
        Fault::new("UserNotFoundException", "User does not exist.")
    } else {
        f
    }
}

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
        .map_err(|e| user_not_found(e.into()))?;
    Ok(Empty {})
}

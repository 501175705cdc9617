//! The signed-in user's own account, by access token: sign-out everywhere,
//! deleting the account.

use super::Fault;
use super::op::{Empty, Operation};
use crate::app::AppState;
use serde::Deserialize;

pub(super) const OPS: &[Operation] = &[
    public!(UserPools, "GlobalSignOut", global_sign_out),
    public!(UserPools, "DeleteUser", delete_user),
];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct AccessTokenOnly {
    access_token: String,
}

async fn global_sign_out(s: &AppState, i: AccessTokenOnly) -> Result<Empty, Fault> {
    let a = s.pools.sessions.authenticate_access_token(&i.access_token).await?;
    s.pools.global_sign_out(&a).await?;
    Ok(Empty {})
}

async fn delete_user(s: &AppState, i: AccessTokenOnly) -> Result<Empty, Fault> {
    let a = s.pools.sessions.authenticate_access_token(&i.access_token).await?;
    s.pools.delete_me(&a).await?;
    Ok(Empty {})
}

//! The signed-in user's own account, by access token: the profile and its
//! attributes, the password, sign-out everywhere, deleting the account.

use super::Fault;
use super::error::{invalid, required};
use super::op::{Empty, Operation};
use super::wire::{
    AttributeType, CodeDeliveryDetails, MfaMembers, attribute_list, attributes, deletions,
};
use crate::app::AppState;
use crate::user_pools::account::{
    ChangePassword, SendAttributeCode, UpdateAttributes, VerifyAttribute,
};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

pub(super) const OPS: &[Operation] = &[
    public!(UserPools, "GlobalSignOut", global_sign_out),
    public!(UserPools, "DeleteUser", delete_user),
    public!(UserPools, "GetUser", get_user),
    public!(UserPools, "ChangePassword", change_password),
    public!(UserPools, "UpdateUserAttributes", update_user_attributes),
    public!(UserPools, "DeleteUserAttributes", delete_user_attributes),
    public!(UserPools, "VerifyUserAttribute", verify_user_attribute),
    public!(
        UserPools,
        "GetUserAttributeVerificationCode",
        get_user_attribute_verification_code
    ),
];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct AccessTokenOnly {
    access_token: String,
}

async fn global_sign_out(s: &AppState, i: AccessTokenOnly) -> Result<Empty, Fault> {
    let a = s
        .pools
        .sessions
        .authenticate_access_token(&i.access_token)
        .await?;
    s.pools.global_sign_out(&a).await?;
    Ok(Empty {})
}

async fn delete_user(s: &AppState, i: AccessTokenOnly) -> Result<Empty, Fault> {
    let a = s
        .pools
        .sessions
        .authenticate_access_token(&i.access_token)
        .await?;
    s.pools.delete_me(&a).await?;
    Ok(Empty {})
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetUserOut {
    username: String,
    user_attributes: Vec<AttributeType>,
    #[serde(flatten)]
    mfa: MfaMembers,
}

async fn get_user(s: &AppState, i: AccessTokenOnly) -> Result<GetUserOut, Fault> {
    let a = s
        .pools
        .sessions
        .authenticate_access_token(&i.access_token)
        .await?;
    let me = s.pools.sessions.me(&a);
    Ok(GetUserOut {
        username: me.username,
        user_attributes: attribute_list(&me.attributes),
        mfa: (&s.pools.mfa_view(&a).await?).into(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ChangePasswordIn {
    access_token: String,
    #[serde(default)]
    previous_password: Option<String>,
    #[serde(default)]
    proposed_password: Option<String>,
}

async fn change_password(s: &AppState, i: ChangePasswordIn) -> Result<Empty, Fault> {
    let a = s
        .pools
        .sessions
        .authenticate_access_token(&i.access_token)
        .await?;
    let (Some(previous_password), Some(proposed_password)) =
        (i.previous_password, i.proposed_password)
    else {
        return Err(invalid(
            "PreviousPassword and ProposedPassword are required",
        ));
    };
    let req = ChangePassword {
        previous_password,
        proposed_password,
    };
    s.pools.change_password(&a, req).await?;
    Ok(Empty {})
}

// Members Cognito accepts that this server ignores are read and dropped.
#[derive(Deserialize)]
#[allow(dead_code)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct AttributesIn {
    access_token: String,
    #[serde(default)]
    user_attributes: Vec<AttributeType>,
    #[serde(default)]
    user_attribute_names: Vec<String>,
    #[serde(default)]
    attribute_name: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    client_metadata: Option<IgnoredAny>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UpdatedOut {
    code_delivery_details_list: Vec<CodeDeliveryDetails>,
}

async fn update_user_attributes(s: &AppState, i: AttributesIn) -> Result<UpdatedOut, Fault> {
    let a = s
        .pools
        .sessions
        .authenticate_access_token(&i.access_token)
        .await?;
    let req = UpdateAttributes {
        attributes: attributes(i.user_attributes),
    };
    let r = s.pools.update_my_attributes(&a, req).await?;
    Ok(UpdatedOut {
        code_delivery_details_list: r.code_deliveries.iter().map(Into::into).collect(),
    })
}

async fn delete_user_attributes(s: &AppState, i: AttributesIn) -> Result<Empty, Fault> {
    let a = s
        .pools
        .sessions
        .authenticate_access_token(&i.access_token)
        .await?;
    let req = UpdateAttributes {
        attributes: deletions(i.user_attribute_names),
    };
    s.pools.update_my_attributes(&a, req).await?;
    Ok(Empty {})
}

async fn verify_user_attribute(s: &AppState, i: AttributesIn) -> Result<Empty, Fault> {
    let a = s
        .pools
        .sessions
        .authenticate_access_token(&i.access_token)
        .await?;
    let code = required(i.code, "Code")?;
    let req = VerifyAttribute {
        attribute: required(i.attribute_name, "AttributeName")?,
        code,
    };
    s.pools.verify_my_attribute(&a, req).await?;
    Ok(Empty {})
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CodeOut {
    code_delivery_details: CodeDeliveryDetails,
}

async fn get_user_attribute_verification_code(
    s: &AppState,
    i: AttributesIn,
) -> Result<CodeOut, Fault> {
    let a = s
        .pools
        .sessions
        .authenticate_access_token(&i.access_token)
        .await?;
    let req = SendAttributeCode {
        attribute: required(i.attribute_name, "AttributeName")?,
    };
    let d = s.pools.send_attribute_code(&a, req).await?;
    Ok(CodeOut {
        code_delivery_details: (&d).into(),
    })
}

//! Sign-up and the code operations of a client (unsigned): SignUp,
//! ConfirmSignUp, ResendConfirmationCode, ForgotPassword,
//! ConfirmForgotPassword. The client is authenticated by the service from
//! the request's `SECRET_HASH`.

use super::Fault;
use super::auth::client_pool;
use super::error::required;
use super::op::{Empty, Operation};
use super::wire::{AttributeType, CodeDeliveryDetails, attributes};
use crate::app::AppState;
use crate::user_pools::{ClientProof, account, signup};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

pub(super) const OPS: &[Operation] = &[
    public!(UserPools, "SignUp", sign_up),
    public!(UserPools, "ConfirmSignUp", confirm_sign_up),
    public!(
        UserPools,
        "ResendConfirmationCode",
        resend_confirmation_code
    ),
    public!(UserPools, "ForgotPassword", forgot_password),
    public!(UserPools, "ConfirmForgotPassword", confirm_forgot_password),
];

// Members Cognito accepts that this server ignores are read and dropped.
#[derive(Deserialize)]
#[allow(dead_code)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct SignUpIn {
    client_id: String,
    #[serde(default)]
    secret_hash: Option<String>,
    username: String,
    password: String,
    #[serde(default)]
    user_attributes: Vec<AttributeType>,
    #[serde(default)]
    validation_data: Option<IgnoredAny>,
    #[serde(default)]
    client_metadata: Option<IgnoredAny>,
    #[serde(default)]
    analytics_metadata: Option<IgnoredAny>,
    #[serde(default)]
    user_context_data: Option<IgnoredAny>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SignUpOut {
    user_confirmed: bool,
    user_sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    code_delivery_details: Option<CodeDeliveryDetails>,
}

async fn sign_up(s: &AppState, i: SignUpIn) -> Result<SignUpOut, Fault> {
    let pool = client_pool(s, &i.client_id).await?;
    let client_secret = ClientProof::secret_hash(Some(&i.username), i.secret_hash.as_deref());
    let r = s
        .pools
        .sign_up(
            &pool,
            signup::SignUp {
                client_id: i.client_id,
                client_secret,
                username: i.username,
                password: i.password,
                attributes: attributes(i.user_attributes),
            },
        )
        .await?;
    Ok(SignUpOut {
        user_confirmed: r.user_confirmed,
        user_sub: r.user_sub,
        code_delivery_details: r.code_delivery.as_ref().map(Into::into),
    })
}

/// The members of the code operations (each uses its own).
// Members Cognito accepts that this server ignores are read and dropped.
#[derive(Deserialize)]
#[allow(dead_code)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct CodeIn {
    client_id: String,
    #[serde(default)]
    secret_hash: Option<String>,
    username: String,
    #[serde(default)]
    confirmation_code: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    force_alias_creation: Option<bool>,
    #[serde(default)]
    client_metadata: Option<IgnoredAny>,
    #[serde(default)]
    analytics_metadata: Option<IgnoredAny>,
    #[serde(default)]
    user_context_data: Option<IgnoredAny>,
}

impl CodeIn {
    /// The client's pool and the service's proof of the client.
    async fn client(&self, s: &AppState) -> Result<(String, ClientProof), Fault> {
        let pool = client_pool(s, &self.client_id).await?;
        let proof = ClientProof::secret_hash(Some(&self.username), self.secret_hash.as_deref());
        Ok((pool, proof))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Delivery {
    code_delivery_details: Option<CodeDeliveryDetails>,
}

async fn confirm_sign_up(s: &AppState, i: CodeIn) -> Result<Empty, Fault> {
    let (pool, client_secret) = i.client(s).await?;
    let req = signup::ConfirmSignUp {
        code: required(i.confirmation_code, "ConfirmationCode")?,
        client_id: i.client_id,
        client_secret,
        username: i.username,
    };
    s.pools.confirm_sign_up(&pool, req).await?;
    Ok(Empty {})
}

async fn confirm_forgot_password(s: &AppState, i: CodeIn) -> Result<Empty, Fault> {
    let (pool, client_secret) = i.client(s).await?;
    let req = account::ResetPassword {
        code: required(i.confirmation_code, "ConfirmationCode")?,
        password: required(i.password, "Password")?,
        client_id: i.client_id,
        client_secret,
        username: i.username,
    };
    s.pools.reset_password(&pool, req).await?;
    Ok(Empty {})
}

async fn resend_confirmation_code(s: &AppState, i: CodeIn) -> Result<Delivery, Fault> {
    let (pool, client_secret) = i.client(s).await?;
    let req = signup::ResendCode {
        client_id: i.client_id,
        client_secret,
        username: i.username,
    };
    let d = s.pools.resend_code(&pool, req).await?;
    Ok(Delivery {
        code_delivery_details: d.as_ref().map(Into::into),
    })
}

async fn forgot_password(s: &AppState, i: CodeIn) -> Result<Delivery, Fault> {
    let (pool, client_secret) = i.client(s).await?;
    let req = account::ForgotPassword {
        client_id: i.client_id,
        client_secret,
        username: i.username,
    };
    let d = s.pools.forgot_password(&pool, req).await?;
    Ok(Delivery {
        code_delivery_details: Some((&d).into()),
    })
}

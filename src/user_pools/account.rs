//! Self-service account operations: forgot and reset password, change
//! password, global sign-out.

use super::auth::Authenticated;
use super::model::*;
use super::signup::CodeDelivery;
use super::{UserPools, policy};
use crate::error::{Error, ErrorKind, Result};
use crate::mail::Template;
use serde::Deserialize;
use utoipa::ToSchema;

/// Password-reset codes live 1 h.
pub const RESET_CODE_TTL: i64 = 3600;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotPassword {
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<String>,
    pub username: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<String>,
    pub username: String,
    pub code: String,
    pub password: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub previous_password: String,
    pub proposed_password: String,
}

impl UserPools {
    /// Sends a reset code to the user's verified email. With existence errors
    /// prevented, an unknown user gets the same answer shape and no mail.
    #[tracing::instrument(skip_all, fields(pool_id = %pool_id, client_id = %req.client_id))]
    pub async fn forgot_password(
        &self,
        pool_id: &str,
        req: ForgotPassword,
    ) -> Result<CodeDelivery> {
        let pool = self.pool(pool_id).await?;
        self.authenticate_client(pool_id, &req.client_id, req.client_secret.as_deref())
            .await?;
        let user = self.find_user(&pool, &req.username).await?;
        let Some(user) = user.filter(|u| u.enabled && u.status != UserStatus::ExternalProvider)
        else {
            if pool.settings.prevent_user_existence_errors {
                return Ok(CodeDelivery::pretend(&req.username));
            }
            return Err(Error::new(
                ErrorKind::UserNotFound,
                "Username/client id combination not found.",
            ));
        };
        let verified_email = user
            .attributes
            .get("email")
            .filter(|_| {
                user.attributes
                    .get("email_verified")
                    .is_some_and(|v| v == "true")
            })
            .cloned();
        let Some(email) = verified_email else {
            return Err(Error::invalid(
                "Cannot reset password for the user as there is no registered/verified email or phone_number",
            ));
        };
        let (code, record) = self.new_code(
            &pool.id,
            &user.sub,
            CodePurpose::ResetPassword,
            RESET_CODE_TTL,
        );
        self.store.put_code(&record).await?;
        self.send_code(
            &pool,
            &user,
            "email",
            &email,
            &code,
            Template::ResetPassword,
        )
        .await
    }

    /// Sets a new password with a reset code. `RESET_REQUIRED` and
    /// `FORCE_CHANGE_PASSWORD` users become `CONFIRMED`; every session of the
    /// user is revoked (the password may have been stolen).
    #[tracing::instrument(skip_all, fields(pool_id = %pool_id, client_id = %req.client_id))]
    pub async fn reset_password(&self, pool_id: &str, req: ResetPassword) -> Result<()> {
        let pool = self.pool(pool_id).await?;
        self.authenticate_client(pool_id, &req.client_id, req.client_secret.as_deref())
            .await?;
        if req.code.len() > 32 {
            return Err(Error::invalid("code is too long"));
        }
        let mismatch = || {
            Error::new(
                ErrorKind::CodeMismatch,
                "Invalid verification code provided, please try again.",
            )
        };
        let Some(user) = self.find_user(&pool, &req.username).await? else {
            return Err(if pool.settings.prevent_user_existence_errors {
                mismatch()
            } else {
                Error::new(
                    ErrorKind::UserNotFound,
                    "Username/client id combination not found.",
                )
            });
        };
        let code_hash = self
            .check_code(&pool.id, &user.sub, CodePurpose::ResetPassword, &req.code)
            .await?;
        let context = Self::password_context(&pool, &user);
        let context: Vec<&str> = context.iter().map(String::as_str).collect();
        policy::check(&pool.settings.password_policy, &req.password, &context)?;
        let hash = self.hasher.hash(&req.password).await?;
        let status = match user.status {
            UserStatus::ResetRequired | UserStatus::ForceChangePassword => UserStatus::Confirmed,
            s => s,
        };
        if !self
            .store
            .reset_password(
                &pool.id,
                &user.sub,
                &code_hash,
                &hash,
                status,
                self.clock.now(),
            )
            .await?
        {
            return Err(mismatch());
        }
        tracing::info!(sub = %user.sub, "password reset with a code; sessions revoked");
        Ok(())
    }

    /// Changes the signed-in user's password; the current one is required.
    pub async fn change_password(&self, a: &Authenticated, req: ChangePassword) -> Result<()> {
        if req.previous_password.chars().count() > policy::MAX_PASSWORD_CHARS {
            return Err(Error::not_authorized("Incorrect username or password."));
        }
        let verified = self
            .hasher
            .verify(&req.previous_password, a.user.password_hash.as_deref())
            .await?;
        if !verified.ok {
            return Err(Error::not_authorized("Incorrect username or password."));
        }
        let context = Self::password_context(&a.pool, &a.user);
        let context: Vec<&str> = context.iter().map(String::as_str).collect();
        policy::check(
            &a.pool.settings.password_policy,
            &req.proposed_password,
            &context,
        )?;
        let hash = self.hasher.hash(&req.proposed_password).await?;
        let mut user = a.user.clone();
        user.password_hash = Some(hash);
        user.updated_at = self.clock.now();
        if !self.store.update_user(&user).await? {
            return Err(Error::not_authorized("Invalid or expired access token"));
        }
        tracing::info!(sub = %user.sub, "password changed");
        Ok(())
    }

    /// Revokes every refresh-token family of the user; their access tokens
    /// are refused from then on.
    pub async fn global_sign_out(&self, a: &Authenticated) -> Result<u64> {
        let n = self
            .store
            .revoke_user_families(&a.pool.id, &a.user.sub, self.clock.now())
            .await?;
        tracing::info!(sub = %a.user.sub, sessions = n, "global sign-out");
        Ok(n)
    }

    /// Words a password must not be: the sign-in names and the pool name.
    fn password_context(pool: &Pool, user: &User) -> Vec<String> {
        let mut words = vec![user.username.clone(), pool.name.clone()];
        for k in ["email", "preferred_username", "phone_number"] {
            if let Some(v) = user.attributes.get(k) {
                words.push(v.clone());
                if let Some((local, _)) = v.split_once('@') {
                    words.push(local.to_owned());
                }
            }
        }
        words
    }
}

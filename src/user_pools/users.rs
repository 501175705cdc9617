//! Admin user management: read, list, disable/enable, delete, set password,
//! confirm, sign out. (Creation with a temporary password arrives with the
//! NEW_PASSWORD_REQUIRED challenge.)

use super::hooks::{Trigger, TriggerSource::*, UserEvent};
use super::signup::CodeDelivery;
use super::{UserPools, attributes, policy};
use crate::audit::{AdminCtx, Target};
use crate::error::{Error, Result};
use crate::model::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A user as the admin API shows it (no password hash, no SRP verifier).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub username: String,
    pub sub: String,
    pub status: UserStatus,
    pub enabled: bool,
    pub attributes: Attributes,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            username: u.username.clone(),
            sub: u.sub.clone(),
            status: u.status,
            enabled: u.enabled,
            attributes: super::attributes::public(&u.attributes),
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    pub password: String,
    /// `true` (the default): the user is `CONFIRMED` with this password.
    /// `false`: a temporary password — `FORCE_CHANGE_PASSWORD`, expiring per
    /// the pool's policy, and the next sign-in answers `NEW_PASSWORD_REQUIRED`
    /// (Cognito's AdminSetUserPassword `Permanent`).
    #[serde(default = "permanent_default")]
    pub permanent: bool,
}

fn permanent_default() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminUpdateAttributes {
    /// New values; an empty string deletes. Admins may also set
    /// `email_verified` / `phone_number_verified` ("true"/"false").
    pub attributes: Attributes,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminCreateUser {
    /// The username, or the email/phone in an email/phone-as-username pool.
    pub username: String,
    #[serde(default)]
    pub attributes: Attributes,
    /// Generated when absent (and then only mailed, never returned).
    #[serde(default)]
    pub temporary_password: Option<String>,
    /// Do not send the invitation message.
    #[serde(default)]
    pub suppress_invitation: bool,
}

/// Internal attribute: when the temporary password stops working.
pub const TEMP_PASSWORD_EXPIRES: &str = "poolgate:temporary_password_expires";

impl UserPools {
    /// Creates a user with a temporary password (AdminCreateUser): status
    /// `FORCE_CHANGE_PASSWORD`, an invitation mailed to the email, and at the
    /// first sign-in the `NEW_PASSWORD_REQUIRED` challenge.
    pub async fn admin_create_user(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        req: AdminCreateUser,
    ) -> Result<User> {
        let username = req.username.clone();
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "AdminCreateUser",
                Target::user(pool_id, &username),
                self.admin_create_user_flow(pool_id, req),
            )
            .await
    }

    async fn admin_create_user_flow(&self, pool_id: &str, req: AdminCreateUser) -> Result<User> {
        let pool = self.pool(pool_id).await?;
        let mut attrs = req.attributes;
        let verified: Vec<(String, String)> = ["email_verified", "phone_number_verified"]
            .into_iter()
            .filter_map(|k| attrs.remove(k).map(|v| (k.to_owned(), v)))
            .collect();
        let mut aliases = vec![];
        let username = if pool.settings.username_attributes.is_empty() {
            let n = req.username.chars().count();
            if n == 0
                || n > 128
                || req
                    .username
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(Error::invalid(
                    "Username must be 1-128 characters without spaces",
                ));
            }
            super::Core::normalize_username(&pool, &req.username)
        } else {
            let kind = if attributes::is_valid_email(&req.username) {
                "email"
            } else if attributes::is_valid_phone(&req.username) {
                "phone_number"
            } else {
                ""
            };
            if !pool.settings.username_attributes.iter().any(|a| a == kind) {
                return Err(Error::invalid(
                    "Username should be an email or phone number accepted by the pool",
                ));
            }
            attrs.insert(kind.to_owned(), req.username.clone());
            aliases.push(Alias {
                kind: kind.to_owned(),
                value: super::alias_value(kind, &req.username),
            });
            String::new()
        };
        attributes::validate_write(&pool, None, &attrs, true)?;
        let hook = Trigger::new(PreSignUpAdminCreateUser, pool_id, None, &req.username);
        let outcome = self
            .hooks
            .pre_sign_up(
                &pool,
                &UserEvent {
                    trigger: hook,
                    user_attributes: attrs.clone(),
                },
            )
            .await?;
        let generated = req.temporary_password.is_none();
        let temp = req
            .temporary_password
            .unwrap_or_else(|| format!("{}Aa1!", &crate::crypto::random::token()[..20]));
        if !generated {
            policy::check(&pool.settings.password_policy, &temp, &[&req.username])?;
        }
        let now = self.clock.now();
        let sub = crate::crypto::random::uuid();
        attrs.insert("sub".into(), sub.clone());
        for k in ["email", "phone_number"] {
            if attrs.contains_key(k) {
                let v = verified
                    .iter()
                    .find(|(vk, _)| vk == &format!("{k}_verified"))
                    .map(|(_, v)| v.as_str())
                    == Some("true")
                    || outcome.auto_verifies(k);
                attrs.insert(format!("{k}_verified"), v.to_string());
            }
        }
        let validity = i64::from(
            pool.settings
                .password_policy
                .temporary_password_validity_days,
        ) * 86_400;
        attrs.insert(TEMP_PASSWORD_EXPIRES.into(), (now + validity).to_string());
        let mut user = User {
            pool_id: pool.id.clone(),
            username: if username.is_empty() {
                sub.clone()
            } else {
                username
            },
            sub,
            status: UserStatus::ForceChangePassword,
            enabled: true,
            password_hash: Some(self.hasher.hash(&temp).await?),
            srp_sealed: None,
            attributes: attrs,
            created_at: now,
            updated_at: now,
        };
        user.srp_sealed = self.srp_record(&pool, &user, &temp);
        match self.store.create_user(&user, &aliases, None).await {
            Err(e) if e.kind == crate::error::ErrorKind::AliasExists => {
                return Err(Error::new(
                    crate::error::ErrorKind::UsernameExists,
                    "An account with the given email already exists.",
                ));
            }
            r => r?,
        }
        if !req.suppress_invitation
            && let Some(email) = user.attributes.get("email")
        {
            let (subject, body) = crate::mail::render(
                &pool.settings.messages,
                crate::mail::Template::Invitation,
                &temp,
                &req.username,
                &pool.name,
            )
            .map_err(Error::internal)?;
            let mail = crate::mail::Email {
                pool_id: Some(pool.id.clone()),
                to: email.clone(),
                subject,
                body,
            };
            if let Err(e) = self.mailer.send(&mail).await {
                tracing::warn!(error = %e, "invitation not delivered");
                return Err(Error::new(
                    crate::error::ErrorKind::CodeDeliveryFailure,
                    "The user was created but the invitation could not be delivered",
                ));
            }
        }
        tracing::info!(pool_id, sub = %user.sub, "user created by an administrator");
        Ok(user)
    }

    /// Forces a password reset (AdminResetUserPassword): status
    /// `RESET_REQUIRED`, every session ended, and a reset code mailed when
    /// the user has a verified email. Sign-in then answers
    /// `PasswordResetRequired` until the user resets with the code.
    pub async fn admin_reset_password(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        name: &str,
    ) -> Result<Option<CodeDelivery>> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "AdminResetUserPassword",
                Target::user(pool_id, name),
                self.admin_reset_password_flow(pool_id, name),
            )
            .await
    }

    async fn admin_reset_password_flow(
        &self,
        pool_id: &str,
        name: &str,
    ) -> Result<Option<CodeDelivery>> {
        let pool = self.pool(pool_id).await?;
        let mut user = self.admin_get_user(pool_id, name).await?;
        if user.status == UserStatus::ExternalProvider || user.status == UserStatus::Unconfirmed {
            return Err(Error::not_authorized(format!(
                "Cannot reset the password of a {} user",
                user.status.as_str()
            )));
        }
        let now = self.clock.now();
        user.status = UserStatus::ResetRequired;
        user.updated_at = now;
        self.store.update_user(&user).await?;
        self.store
            .revoke_user_families(pool_id, &user.sub, now)
            .await?;
        let email = user
            .attributes
            .get("email")
            .filter(|_| {
                user.attributes
                    .get("email_verified")
                    .is_some_and(|v| v == "true")
            })
            .cloned();
        match email {
            Some(email) => {
                let (code, record) = self.new_code(
                    pool_id,
                    &user.sub,
                    CodePurpose::ResetPassword,
                    super::account::RESET_CODE_TTL,
                );
                self.store.put_code(&record).await?;
                Ok(Some(
                    self.send_code(
                        &pool,
                        &user,
                        "email",
                        &email,
                        &code,
                        crate::mail::Template::ResetPassword,
                    )
                    .await?,
                ))
            }
            None => Ok(None),
        }
    }

    /// Updates attributes as an administrator. Sign-in names (the email or
    /// phone of an email/phone-as-username pool, verified aliases) change
    /// only through the user's own verification flow.
    pub async fn admin_update_attributes(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        name: &str,
        req: AdminUpdateAttributes,
    ) -> Result<User> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "AdminUpdateUserAttributes",
                Target::user(pool_id, name),
                self.admin_update_attributes_flow(pool_id, name, req),
            )
            .await
    }

    async fn admin_update_attributes_flow(
        &self,
        pool_id: &str,
        name: &str,
        req: AdminUpdateAttributes,
    ) -> Result<User> {
        let pool = self.pool(pool_id).await?;
        let mut user = self.admin_get_user(pool_id, name).await?;
        let sign_in_names: Vec<&String> = pool
            .settings
            .username_attributes
            .iter()
            .chain(&pool.settings.alias_attributes)
            .collect();
        let mut plain = Attributes::new();
        for (k, v) in req.attributes {
            if sign_in_names.contains(&&k) {
                return Err(Error::invalid(format!(
                    "{k} is a sign-in name; it changes through the user's verification flow"
                )));
            }
            match k.as_str() {
                "email_verified" | "phone_number_verified" => {
                    if v != "true" && v != "false" {
                        return Err(Error::invalid(format!("{k} must be true or false")));
                    }
                    user.attributes.insert(k, v);
                }
                _ if v.is_empty() => {
                    if pool.settings.required_attributes.contains(&k)
                        || k == "sub"
                        || k.starts_with(attributes::INTERNAL_PREFIX)
                    {
                        return Err(Error::invalid(format!("Attribute {k} cannot be deleted")));
                    }
                    user.attributes.remove(&k);
                    user.attributes.remove(&format!("{k}_verified"));
                }
                _ => {
                    plain.insert(k, v);
                }
            }
        }
        attributes::validate_write(&pool, None, &plain, false)?;
        for (k, v) in plain {
            if (k == "email" || k == "phone_number") && user.attributes.get(&k) != Some(&v) {
                user.attributes
                    .insert(format!("{k}_verified"), "false".into());
            }
            user.attributes.insert(k, v);
        }
        user.updated_at = self.clock.now();
        self.store.update_user(&user).await?;
        Ok(user)
    }

    /// The user a sign-in name (username, email or phone alias) designates.
    pub async fn admin_get_user(&self, pool_id: &str, name: &str) -> Result<User> {
        let pool = self.pool(pool_id).await?;
        self.find_user(&pool, name)
            .await?
            .ok_or_else(|| Error::not_found("User"))
    }

    /// Users by `sub`: a cursor that stays correct while users are added.
    /// How many users a pool has.
    pub async fn count_users(&self, pool_id: &str) -> Result<i64> {
        self.store.count_users(pool_id).await
    }

    pub async fn admin_list_users(
        &self,
        pool_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<User>> {
        self.admin_find_users(pool_id, None, after, limit).await
    }

    /// Users matching a filter in Cognito's syntax, conditions joined by
    /// `and`: `email ^= "ali" and status = "CONFIRMED" and enabled = "true"`.
    /// `=` is exact, `^=` a prefix; fields are standard and `custom:`
    /// attributes, `sub`, `status` and `enabled`.
    pub async fn admin_find_users(
        &self,
        pool_id: &str,
        filter: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<User>> {
        let pool = self.pool(pool_id).await?;
        let filter = match filter.map(str::trim).filter(|f| !f.is_empty()) {
            Some(f) => Some(UserFilter::parse_cognito(&pool, f)?),
            None => None,
        };
        self.store
            .list_users(pool_id, filter.as_ref(), after, limit.clamp(1, 60))
            .await
    }

    /// Disables (`false`) or enables a user. Disabling ends every session at
    /// once: sign-in, refresh and access tokens are refused from then on.
    pub async fn admin_set_enabled(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        name: &str,
        enabled: bool,
    ) -> Result<User> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                if enabled {
                    "AdminEnableUser"
                } else {
                    "AdminDisableUser"
                },
                Target::user(pool_id, name),
                self.admin_set_enabled_flow(pool_id, name, enabled),
            )
            .await
    }

    async fn admin_set_enabled_flow(
        &self,
        pool_id: &str,
        name: &str,
        enabled: bool,
    ) -> Result<User> {
        let mut user = self.admin_get_user(pool_id, name).await?;
        let now = self.clock.now();
        user.enabled = enabled;
        user.updated_at = now;
        self.store.update_user(&user).await?;
        if !enabled {
            self.store
                .revoke_user_families(pool_id, &user.sub, now)
                .await?;
        }
        tracing::info!(pool_id, sub = %user.sub, enabled, "user enabled state changed");
        Ok(user)
    }

    pub async fn admin_delete_user(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        name: &str,
    ) -> Result<()> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "AdminDeleteUser",
                Target::user(pool_id, name),
                self.admin_delete_user_flow(pool_id, name),
            )
            .await
    }

    async fn admin_delete_user_flow(&self, pool_id: &str, name: &str) -> Result<()> {
        let user = self.admin_get_user(pool_id, name).await?;
        if !self.store.delete_user(pool_id, &user.sub).await? {
            return Err(Error::not_found("User"));
        }
        tracing::info!(pool_id, sub = %user.sub, "user deleted");
        Ok(())
    }

    /// Sets a permanent password (policy enforced); the user becomes
    /// CONFIRMED and its other sessions end.
    pub async fn admin_set_password(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        name: &str,
        req: SetPassword,
    ) -> Result<User> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "AdminSetUserPassword",
                Target::user(pool_id, name),
                self.admin_set_password_flow(pool_id, name, req),
            )
            .await
    }

    async fn admin_set_password_flow(
        &self,
        pool_id: &str,
        name: &str,
        req: SetPassword,
    ) -> Result<User> {
        let pool = self.pool(pool_id).await?;
        let mut user = self.admin_get_user(pool_id, name).await?;
        let mut context: Vec<&str> = vec![&user.username, &pool.name];
        if let Some(e) = user.attributes.get("email") {
            context.push(e);
        }
        policy::check(&pool.settings.password_policy, &req.password, &context)?;
        let now = self.clock.now();
        user.password_hash = Some(self.hasher.hash(&req.password).await?);
        user.srp_sealed = self.srp_record(&pool, &user, &req.password);
        if user.status != UserStatus::ExternalProvider {
            if req.permanent {
                user.status = UserStatus::Confirmed;
                user.attributes.remove(TEMP_PASSWORD_EXPIRES);
            } else {
                user.status = UserStatus::ForceChangePassword;
                let validity = i64::from(
                    pool.settings
                        .password_policy
                        .temporary_password_validity_days,
                ) * 86_400;
                user.attributes
                    .insert(TEMP_PASSWORD_EXPIRES.into(), (now + validity).to_string());
            }
        }
        user.updated_at = now;
        self.store.update_user(&user).await?;
        self.store
            .revoke_user_families(pool_id, &user.sub, now)
            .await?;
        self.store.clear_signin_failures(pool_id, &user.sub).await?;
        tracing::info!(pool_id, sub = %user.sub, "password set by an administrator");
        Ok(user)
    }

    /// Confirms an unconfirmed user without a code (Cognito's
    /// AdminConfirmSignUp: contact attributes stay unverified).
    pub async fn admin_confirm(&self, admin: &AdminCtx, pool_id: &str, name: &str) -> Result<User> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "AdminConfirmSignUp",
                Target::user(pool_id, name),
                self.admin_confirm_flow(pool_id, name),
            )
            .await
    }

    async fn admin_confirm_flow(&self, pool_id: &str, name: &str) -> Result<User> {
        let mut user = self.admin_get_user(pool_id, name).await?;
        if user.status != UserStatus::Unconfirmed {
            return Err(Error::not_authorized(format!(
                "User cannot be confirmed. Current status is {}",
                user.status.as_str()
            )));
        }
        user.status = UserStatus::Confirmed;
        user.updated_at = self.clock.now();
        self.store.update_user(&user).await?;
        self.store
            .delete_code(pool_id, &user.sub, CodePurpose::Signup)
            .await?;
        Ok(user)
    }

    /// Ends every session of a user (AdminUserGlobalSignOut).
    pub async fn admin_sign_out(&self, admin: &AdminCtx, pool_id: &str, name: &str) -> Result<u64> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "AdminUserGlobalSignOut",
                Target::user(pool_id, name),
                self.admin_sign_out_flow(pool_id, name),
            )
            .await
    }

    async fn admin_sign_out_flow(&self, pool_id: &str, name: &str) -> Result<u64> {
        let user = self.admin_get_user(pool_id, name).await?;
        self.store
            .revoke_user_families(pool_id, &user.sub, self.clock.now())
            .await
    }
}

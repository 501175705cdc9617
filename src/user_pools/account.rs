//! Self-service account operations: forgot and reset password, change
//! password, global sign-out.

use super::attributes::{self, pending_key};
use super::auth::Authenticated;
use super::hooks::{Trigger, TriggerSource::*, UserEvent};
use super::limits::Action;
use super::signup::CodeDelivery;
use super::{UserPools, policy};
use crate::error::{Error, ErrorKind, Result};
use crate::mail::Template;
use crate::model::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Password-reset codes live 1 h.
pub const RESET_CODE_TTL: i64 = 3600;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotPassword {
    pub client_id: String,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub client_secret: super::ClientProof,
    pub username: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    pub client_id: String,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub client_secret: super::ClientProof,
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

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAttributes {
    /// New values; an empty string deletes an attribute.
    pub attributes: Attributes,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttributesUpdated {
    /// Codes sent to new contact addresses; the old verified values stay
    /// active until the new ones are verified.
    pub code_deliveries: Vec<CodeDelivery>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyAttribute {
    /// `email` or `phone_number` (by SMS, when a sender is configured).
    pub attribute: String,
    pub code: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendAttributeCode {
    pub attribute: String,
}

/// Attribute-verification codes live 24 h.
pub const VERIFY_CODE_TTL: i64 = 24 * 3600;

fn verify_purpose(attr: &str) -> Result<CodePurpose> {
    match attr {
        "email" => Ok(CodePurpose::VerifyEmail),
        "phone_number" => Ok(CodePurpose::VerifyPhone),
        _ => Err(Error::invalid(format!(
            "{attr} is not a verifiable attribute"
        ))),
    }
}

impl UserPools {
    /// Updates the signed-in user's attributes. A new email is not applied
    /// at once: it waits, with a code sent to it, while the old verified
    /// address stays the user's sign-in name and contact — so a typo cannot
    /// lock the user out (Cognito's well-known pitfall).
    pub async fn update_my_attributes(
        &self,
        a: &super::auth::Authenticated,
        req: UpdateAttributes,
    ) -> Result<AttributesUpdated> {
        self.rate_limit(&a.pool.id, Action::CodeSend).await?;
        let client = self
            .store
            .get_client(&a.pool.id, &a.claims.client_id)
            .await?;
        let (to_set, to_delete): (Attributes, Vec<String>) = {
            let mut set = Attributes::new();
            let mut del = vec![];
            for (k, v) in req.attributes {
                if v.is_empty() {
                    del.push(k)
                } else {
                    set.insert(k, v);
                }
            }
            (set, del)
        };
        attributes::validate_write(&a.pool, client.as_ref(), &to_set, false)?;
        for k in &to_delete {
            let deletable = crate::model::STANDARD_ATTRIBUTES.contains(&k.as_str())
                || k.strip_prefix("custom:")
                    .and_then(|c| {
                        a.pool
                            .settings
                            .custom_attributes
                            .iter()
                            .find(|d| d.name == c)
                    })
                    .is_some_and(|d| d.mutable);
            let sign_in_name = a
                .pool
                .settings
                .username_attributes
                .iter()
                .chain(&a.pool.settings.alias_attributes)
                .any(|x| x == k);
            if !deletable || sign_in_name || a.pool.settings.required_attributes.contains(k) {
                return Err(Error::invalid(format!("Attribute {k} cannot be deleted")));
            }
            if let Some(c) = &client
                && !c.settings.write_attributes.is_empty()
                && !c.settings.write_attributes.contains(k)
            {
                return Err(Error::not_authorized(format!(
                    "A client attempted to write unauthorized attribute {k}"
                )));
            }
        }
        let mut user = a.user.clone();
        let mut pending = vec![];
        for (k, v) in to_set {
            let is_contact = k == "email" || k == "phone_number";
            let changed = user.attributes.get(&k) != Some(&v);
            let sign_in_name = a.pool.settings.username_attributes.contains(&k)
                || a.pool.settings.alias_attributes.contains(&k);
            let deliverable = k == "email" || self.sms.is_some();
            if is_contact && changed && deliverable && (k == "email" || sign_in_name) {
                // Held pending until verified; the old value stays in force.
                user.attributes.insert(pending_key(&k), v.clone());
                pending.push((k, v));
            } else if is_contact && changed {
                if sign_in_name {
                    return Err(Error::invalid(format!(
                        "{k} is a sign-in name and can only change through verification"
                    )));
                }
                user.attributes
                    .insert(format!("{k}_verified"), "false".into());
                user.attributes.insert(k, v);
            } else {
                user.attributes.insert(k, v);
            }
        }
        for k in to_delete {
            user.attributes.remove(&k);
            user.attributes.remove(&format!("{k}_verified"));
            user.attributes.remove(&pending_key(&k));
        }
        user.updated_at = self.clock.now();
        self.store.update_user(&user).await?;
        let mut code_deliveries = vec![];
        for (k, v) in pending {
            let (code, record) =
                self.new_code(&a.pool.id, &user.sub, verify_purpose(&k)?, VERIFY_CODE_TTL);
            self.store.put_code(&record).await?;
            code_deliveries.push(
                self.send_code(
                    &a.pool,
                    &user,
                    &k,
                    &v,
                    &code,
                    Template::AttributeVerification,
                )
                .await?,
            );
        }
        Ok(AttributesUpdated { code_deliveries })
    }

    /// Sends (again) a verification code for the pending new value of an
    /// attribute, or for the current unverified one.
    pub async fn send_attribute_code(
        &self,
        a: &super::auth::Authenticated,
        req: SendAttributeCode,
    ) -> Result<CodeDelivery> {
        self.rate_limit(&a.pool.id, Action::CodeSend).await?;
        let purpose = verify_purpose(&req.attribute)?;
        let target = a
            .user
            .attributes
            .get(&pending_key(&req.attribute))
            .or_else(|| a.user.attributes.get(&req.attribute))
            .cloned()
            .ok_or_else(|| Error::invalid(format!("The user has no {}", req.attribute)))?;
        let (code, record) = self.new_code(&a.pool.id, &a.user.sub, purpose, VERIFY_CODE_TTL);
        self.store.put_code(&record).await?;
        self.send_code(
            &a.pool,
            &a.user,
            &req.attribute,
            &target,
            &code,
            Template::AttributeVerification,
        )
        .await
    }

    /// Verifies an attribute with its code: a pending new value replaces the
    /// old one (and its sign-in alias) atomically, now verified.
    pub async fn verify_my_attribute(
        &self,
        a: &super::auth::Authenticated,
        req: VerifyAttribute,
    ) -> Result<()> {
        self.rate_limit(&a.pool.id, Action::CodeCheck).await?;
        let purpose = verify_purpose(&req.attribute)?;
        if req.code.len() > 32 {
            return Err(Error::invalid("code is too long"));
        }
        let code_hash = self
            .check_code(&a.pool.id, &a.user.sub, purpose, &req.code)
            .await?;
        let k = req.attribute.as_str();
        let mut attrs = a.user.attributes.clone();
        let old = attrs.get(k).cloned();
        let new = attrs
            .remove(&pending_key(k))
            .or_else(|| old.clone())
            .ok_or_else(|| Error::invalid(format!("The user has no {k}")))?;
        attrs.insert(k.to_owned(), new.clone());
        attrs.insert(format!("{k}_verified"), "true".into());
        let is_alias = a
            .pool
            .settings
            .username_attributes
            .iter()
            .chain(&a.pool.settings.alias_attributes)
            .any(|x| x == k);
        let (old_alias, new_alias) = (
            old.as_deref().map(|o| super::alias_value(k, o)),
            super::alias_value(k, &new),
        );
        let alias_move = (is_alias && old_alias.as_deref() != Some(new_alias.as_str()))
            .then_some((k, old_alias.as_deref(), new_alias.as_str()));
        let alias_missing = is_alias
            && alias_move.is_none()
            && self
                .store
                .find_alias(&a.pool.id, k, &new_alias)
                .await?
                .is_none();
        let alias_move = if alias_missing {
            Some((k, None, new_alias.as_str()))
        } else {
            alias_move
        };
        match self
            .store
            .verify_attribute(
                &a.pool.id,
                &a.user.sub,
                purpose,
                &code_hash,
                alias_move,
                &attrs,
                self.clock.now(),
            )
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::new(
                ErrorKind::CodeMismatch,
                "Invalid verification code provided, please try again.",
            )),
            Err(e) if e.kind == ErrorKind::AliasExists => Err(Error::new(
                ErrorKind::AliasExists,
                format!("An account with the given {k} already exists."),
            )),
            Err(e) => Err(e),
        }
    }

    /// Runs a flow of the signed-in user, recorded in the audit trail.
    async fn audited_self<T>(
        &self,
        a: &Authenticated,
        event: &str,
        flow: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let flow = async {
            crate::audit::note_subject(&a.user.sub);
            flow.await
        };
        self.audited(
            &a.pool.id,
            event,
            Some(&a.user.username),
            Some(&a.claims.client_id),
            flow,
        )
        .await
    }

    /// Deletes the signed-in user's own account.
    pub async fn delete_me(&self, a: &super::auth::Authenticated) -> Result<()> {
        self.audited_self(a, "DeleteUser", self.delete_me_flow(a))
            .await
    }

    async fn delete_me_flow(&self, a: &super::auth::Authenticated) -> Result<()> {
        self.store.delete_user(&a.pool.id, &a.user.sub).await?;
        tracing::info!(sub = %a.user.sub, "user deleted their account");
        Ok(())
    }

    /// Sends a reset code to the user's verified email. With existence errors
    /// prevented, an unknown user gets the same answer shape and no mail.
    #[tracing::instrument(skip_all, fields(pool_id = %pool_id, client_id = %req.client_id))]
    pub async fn forgot_password(
        &self,
        pool_id: &str,
        req: ForgotPassword,
    ) -> Result<CodeDelivery> {
        let (username, client_id) = (req.username.clone(), req.client_id.clone());
        self.audited(
            pool_id,
            "ForgotPassword",
            Some(&username),
            Some(&client_id),
            self.forgot_password_flow(pool_id, req),
        )
        .await
    }

    async fn forgot_password_flow(
        &self,
        pool_id: &str,
        req: ForgotPassword,
    ) -> Result<CodeDelivery> {
        let pool = self.pool(pool_id).await?;
        self.rate_limit(pool_id, Action::CodeSend).await?;
        self.clients
            .authenticate_client(pool_id, &req.client_id, &req.client_secret)
            .await?;
        let hide = pool.settings.prevent_user_existence_errors;
        let timer = super::signup::DeliveryTimer::start();
        let user = self.find_user(&pool, &req.username).await?;
        let Some(user) = user.filter(|u| u.enabled && u.status != UserStatus::ExternalProvider)
        else {
            if hide {
                // Same answer, in about the same time, as a delivery (G3).
                timer.pretend().await;
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
            if hide {
                // An unconfirmed user (no verified address) answers like
                // everyone else (G3); nothing is sent to an unverified
                // address.
                timer.pretend().await;
                return Ok(match user.attributes.get("email") {
                    Some(e) => super::signup::pretend_to("email", e),
                    None => CodeDelivery::pretend(&req.username),
                });
            }
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
        timer
            .real(async {
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
            })
            .await
    }

    /// Sets a new password with a reset code. `RESET_REQUIRED` and
    /// `FORCE_CHANGE_PASSWORD` users become `CONFIRMED`; every session of the
    /// user is revoked (the password may have been stolen).
    #[tracing::instrument(skip_all, fields(pool_id = %pool_id, client_id = %req.client_id))]
    pub async fn reset_password(&self, pool_id: &str, req: ResetPassword) -> Result<()> {
        let (username, client_id) = (req.username.clone(), req.client_id.clone());
        self.audited(
            pool_id,
            "ResetPassword",
            Some(&username),
            Some(&client_id),
            self.reset_password_flow(pool_id, req),
        )
        .await
    }

    async fn reset_password_flow(&self, pool_id: &str, req: ResetPassword) -> Result<()> {
        let pool = self.pool(pool_id).await?;
        self.rate_limit(pool_id, Action::CodeCheck).await?;
        self.clients
            .authenticate_client(pool_id, &req.client_id, &req.client_secret)
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
        let srp = self.srp_record(&pool, &user, &req.password);
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
                srp.as_deref(),
                status,
                self.clock.now(),
            )
            .await?
        {
            return Err(mismatch());
        }
        self.store
            .clear_signin_failures(&pool.id, &user.sub)
            .await?;
        tracing::info!(sub = %user.sub, "password reset with a code; sessions revoked");
        let hook = Trigger::new(
            PostConfirmationConfirmForgotPassword,
            pool_id,
            Some(&req.client_id),
            &user.username,
        );
        self.hooks
            .post_confirmation(
                &pool,
                &UserEvent {
                    trigger: hook,
                    user_attributes: user.attributes,
                },
            )
            .await
    }

    /// Changes the signed-in user's password; the current one is required.
    pub async fn change_password(&self, a: &Authenticated, req: ChangePassword) -> Result<()> {
        self.audited_self(a, "ChangePassword", self.change_password_flow(a, req))
            .await
    }

    async fn change_password_flow(&self, a: &Authenticated, req: ChangePassword) -> Result<()> {
        self.rate_limit(&a.pool.id, Action::SignIn).await?;
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
        user.srp_sealed = self.srp_record(&a.pool, &user, &req.proposed_password);
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
        self.audited_self(a, "GlobalSignOut", self.global_sign_out_flow(a))
            .await
    }

    async fn global_sign_out_flow(&self, a: &Authenticated) -> Result<u64> {
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

//! Second factors: TOTP (RFC 6238: 30-second steps, six digits, SHA-1 as
//! authenticator apps expect, ±1 step of drift) and one-time codes by email.
//! The pool decides whether sign-in asks for one (`OFF`, `OPTIONAL`, `ON`)
//! and which factors are allowed; users enable factors and pick the one they
//! prefer. A TOTP code is good once: the accepted time step only moves
//! forward, with one atomic UPDATE (M1). Sign-in asks through the challenge
//! sessions of `auth.rs`: `SOFTWARE_TOKEN_MFA`, `EMAIL_OTP`, and `MFA_SETUP`
//! for a user without a factor in a pool with MFA `ON`.

use super::UserPools;
use super::auth::{Authenticated, Challenge};
use crate::audit::{AdminCtx, Target};
use crate::crypto::{ct_eq, random};
use crate::error::{Error, ErrorKind, Result};
use crate::model::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// TOTP time step, seconds (M2).
pub const TOTP_STEP: i64 = 30;
/// Changing factors needs a sign-in this recent (M3).
pub const REAUTH_SECS: i64 = 900;
/// Wrong answers one MFA challenge session takes before it is dropped.
pub const MAX_CODE_ATTEMPTS: i64 = 3;

/// A TOTP secret to enter in an authenticator app.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TotpAssociation {
    /// Base32, as authenticator apps take it.
    pub secret_code: String,
    /// `otpauth://totp/...` (for a QR code).
    pub otpauth_uri: String,
}

/// A first code from the authenticator app, which turns TOTP on.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyTotp {
    pub code: String,
    #[serde(default)]
    pub device_name: Option<String>,
}

/// Changes to a user's factors; members left out stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaPreference {
    /// `false` removes the TOTP secret (`true` needs associate + verify).
    pub totp_enabled: Option<bool>,
    pub email_otp_enabled: Option<bool>,
    /// Codes by text message to the verified phone number.
    pub sms_otp_enabled: Option<bool>,
    /// `SOFTWARE_TOKEN`, `EMAIL_OTP`, `SMS_OTP`, `WEB_AUTHN` (a passkey),
    /// or `null` for none.
    #[serde(default, deserialize_with = "double_option")]
    pub preferred: Option<Option<String>>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

/// A user's factors as they see them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MfaView {
    pub totp_enabled: bool,
    pub totp_device: Option<String>,
    pub email_otp_enabled: bool,
    pub sms_otp_enabled: bool,
    pub preferred: Option<String>,
    /// How many passkeys the user has (`/v1/me/passkeys` lists them).
    pub passkeys: usize,
    /// The pool's setting and allowed factors.
    pub pool_mode: MfaMode,
    pub allowed_factors: Vec<String>,
}

/// The TOTP generator of a secret (totp-rs: SHA-1, six digits, 30 s).
fn totp(secret: &[u8], issuer: Option<String>, account: String) -> totp_rs::Totp {
    totp_rs::Builder::new()
        .with_secret(secret.to_vec())
        .with_step_duration(TOTP_STEP as u64)
        .with_account_name(account.replace(':', "_"))
        .with_issuer(issuer.map(|i| i.replace(':', "_")))
        .build_noncompliant()
}

/// The TOTP code of a secret at a time step.
pub fn totp_code(secret: &[u8], step: i64) -> String {
    totp(secret, None, String::new())
        .generate((step.max(0) * TOTP_STEP) as u64)
        .to_string()
}

/// The step whose code `code` is, within ±1 step of `now` (M2).
pub fn totp_step_of(secret: &[u8], code: &str, now: i64) -> Option<i64> {
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = now.div_euclid(TOTP_STEP);
    // Every candidate is computed, so timing does not say which matched.
    let mut found = None;
    for step in [current - 1, current, current + 1] {
        if ct_eq(totp_code(secret, step).as_bytes(), code.as_bytes()) {
            found = Some(step);
        }
    }
    found
}

pub(crate) fn code_mismatch() -> Error {
    Error::new(ErrorKind::CodeMismatch, "Invalid code received for user")
}

impl UserPools {
    fn seal_totp(&self, pool_id: &str, sub: &str, secret: &[u8]) -> Vec<u8> {
        self.mfa_secrets
            .seal(secret, format!("{pool_id}/{sub}").as_bytes())
    }

    fn open_totp(&self, m: &UserMfa) -> Result<Vec<u8>> {
        let sealed = m
            .totp_secret
            .as_ref()
            .ok_or_else(|| Error::invalid("No software token is associated with the user"))?;
        self.mfa_secrets
            .open(sealed, format!("{}/{}", m.pool_id, m.sub).as_bytes())
            .map_err(Error::internal)
    }

    async fn user_mfa(&self, pool_id: &str, sub: &str) -> Result<UserMfa> {
        Ok(self
            .store
            .get_user_mfa(pool_id, sub)
            .await?
            .unwrap_or_else(|| UserMfa {
                pool_id: pool_id.to_owned(),
                sub: sub.to_owned(),
                ..UserMfa::default()
            }))
    }

    /// A new TOTP secret for the user, pending until a code verifies it. A
    /// user whose TOTP is on removes it first.
    pub(crate) async fn associate_totp_for(
        &self,
        pool: &Pool,
        user: &User,
    ) -> Result<TotpAssociation> {
        self.associate_totp_with(pool, user, false).await
    }

    /// `reuse_pending`: a secret associated but not verified yet is shown
    /// again instead of replaced (the hosted set-up page after a wrong
    /// code keeps its QR code).
    async fn associate_totp_with(
        &self,
        pool: &Pool,
        user: &User,
        reuse_pending: bool,
    ) -> Result<TotpAssociation> {
        if !pool.settings.mfa.allows("SOFTWARE_TOKEN") {
            return Err(Error::invalid(
                "Software token MFA is not enabled for this user pool",
            ));
        }
        let mut m = self.user_mfa(&pool.id, &user.sub).await?;
        if m.totp_verified {
            return Err(Error::invalid(
                "A software token is already enabled; remove it before associating another",
            ));
        }
        let pending = match &m.totp_secret {
            Some(_) if reuse_pending => Some(self.open_totp(&m)?),
            _ => None,
        };
        let secret = match pending {
            Some(s) => s,
            None => {
                let s = random::bytes::<20>().to_vec();
                m.totp_secret = Some(self.seal_totp(&pool.id, &user.sub, &s));
                m.updated_at = self.clock.now();
                self.store.put_user_mfa(&m).await?;
                s
            }
        };
        let issuer = pool
            .settings
            .mfa
            .totp_issuer
            .clone()
            .unwrap_or_else(|| pool.name.clone());
        let t = totp(&secret, Some(issuer), user.username.clone());
        Ok(TotpAssociation {
            otpauth_uri: t
                .to_url()
                .map_err(|e| Error::internal(anyhow::anyhow!("{e:?}")))?,
            secret_code: t.secret().to_base32(),
        })
    }

    /// Checks a code against the user's TOTP secret (pending or on) and
    /// spends its time step.
    pub(crate) async fn check_totp(&self, m: &UserMfa, code: &str) -> Result<()> {
        let secret = self.open_totp(m)?;
        let step =
            totp_step_of(&secret, code.trim(), self.clock.now()).ok_or_else(code_mismatch)?;
        if !self.store.use_totp_step(&m.pool_id, &m.sub, step).await? {
            // M1: this step (or a later one) was already used.
            return Err(code_mismatch());
        }
        Ok(())
    }

    /// Turns TOTP on with a first code (and prefers it when nothing else
    /// is preferred).
    pub(crate) async fn verify_totp_for(
        &self,
        pool: &Pool,
        user: &User,
        req: &VerifyTotp,
    ) -> Result<()> {
        let mut m = self.user_mfa(&pool.id, &user.sub).await?;
        if m.totp_secret.is_none() {
            return Err(Error::invalid(
                "Associate a software token before verifying it",
            ));
        }
        let device = req
            .device_name
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty());
        if device.is_some_and(|d| d.len() > 128 || d.chars().any(char::is_control)) {
            return Err(Error::invalid("device_name must be at most 128 characters"));
        }
        self.check_totp(&m, &req.code).await?;
        m = self.user_mfa(&pool.id, &user.sub).await?;
        m.totp_verified = true;
        m.totp_device = device.map(str::to_owned);
        if m.preferred.is_none() {
            m.preferred = Some("SOFTWARE_TOKEN".into());
        }
        m.updated_at = self.clock.now();
        self.store.put_user_mfa(&m).await?;
        self.notify(
            pool,
            user,
            "An authenticator app was added as a second sign-in step.",
        )
        .await;
        Ok(())
    }

    /// The user of an `MFA_SETUP` challenge session. The session token
    /// is the credential; `expect` (pool, client, secret) also checks whose
    /// it is when the caller names them.
    async fn setup_session(
        &self,
        expect: Option<(&str, &str, &super::ClientProof)>,
        session: &str,
    ) -> Result<(std::sync::Arc<Pool>, String, AuthSession, User)> {
        let invalid = || Error::not_authorized("Invalid session for the user, session is expired.");
        if session.is_empty() || session.len() > 512 {
            return Err(invalid());
        }
        let id = crate::crypto::sha256_hex(session.as_bytes());
        let s = self.store.get_session(&id).await?.ok_or_else(invalid)?;
        if s.expires_at <= self.clock.now() {
            return Err(invalid());
        }
        if let Some((pool_id, client_id, secret)) = expect {
            if s.pool_id != pool_id || s.client_id != client_id {
                return Err(invalid());
            }
            self.clients
                .authenticate_client(pool_id, client_id, secret)
                .await?;
        }
        if s.challenge != "MFA_SETUP" {
            return Err(Error::invalid("The session is not setting up MFA"));
        }
        let pool = self.pool(&s.pool_id).await?;
        let user = self
            .store
            .get_user(&pool.id, &s.sub)
            .await?
            .ok_or_else(invalid)?;
        Ok((pool, id, s, user))
    }

    /// `MFA_SETUP`: a TOTP secret for the user signing in.
    pub async fn associate_totp_in_session(
        &self,
        pool_id: &str,
        client_id: &str,
        client_secret: &super::ClientProof,
        session: &str,
        reuse_pending: bool,
    ) -> Result<TotpAssociation> {
        let (pool, _, _, user) = self
            .setup_session(Some((pool_id, client_id, client_secret)), session)
            .await?;
        self.associate_totp_with(&pool, &user, reuse_pending).await
    }

    /// Cognito's AssociateSoftwareToken with a `Session` (no client id).
    pub async fn associate_totp_with_session(&self, session: &str) -> Result<TotpAssociation> {
        let (pool, _, _, user) = self.setup_session(None, session).await?;
        self.associate_totp_for(&pool, &user).await
    }

    /// `MFA_SETUP`: the first code turns TOTP on and marks the session, so
    /// answering `MFA_SETUP` then finishes the sign-in.
    pub async fn verify_totp_in_session(
        &self,
        pool_id: &str,
        client_id: &str,
        client_secret: &super::ClientProof,
        session: &str,
        req: VerifyTotp,
    ) -> Result<()> {
        let found = self
            .setup_session(Some((pool_id, client_id, client_secret)), session)
            .await?;
        self.verify_setup(found, req).await
    }

    /// Cognito's VerifySoftwareToken with a `Session`.
    pub async fn verify_totp_with_session(&self, session: &str, req: VerifyTotp) -> Result<()> {
        let found = self.setup_session(None, session).await?;
        self.verify_setup(found, req).await
    }

    async fn verify_setup(
        &self,
        (pool, id, s, user): (std::sync::Arc<Pool>, String, AuthSession, User),
        req: VerifyTotp,
    ) -> Result<()> {
        self.verify_totp_for(&pool, &user, &req).await?;
        let mut state: serde_json::Value =
            serde_json::from_str(&s.state).unwrap_or(serde_json::json!({}));
        state["verified"] = true.into();
        if let Some(mut again) = self.store.take_session(&id).await? {
            again.state = state.to_string();
            self.store.insert_session(&again).await?;
        }
        Ok(())
    }

    /// M3: changing factors needs a recent sign-in.
    pub(crate) fn require_recent_sign_in(&self, who: &Authenticated) -> Result<()> {
        if self.clock.now() - who.claims.auth_time > REAUTH_SECS {
            return Err(Error::not_authorized(
                "Sign in again to change your sign-in factors",
            ));
        }
        Ok(())
    }

    /// `POST /v1/me/mfa/totp/associate`.
    pub async fn associate_totp(&self, who: &Authenticated) -> Result<TotpAssociation> {
        self.require_recent_sign_in(who)?;
        self.associate_totp_for(&who.pool, &who.user).await
    }

    /// `POST /v1/me/mfa/totp/verify`.
    pub async fn verify_totp(&self, who: &Authenticated, req: VerifyTotp) -> Result<MfaView> {
        self.require_recent_sign_in(who)?;
        self.verify_totp_for(&who.pool, &who.user, &req).await?;
        self.mfa_view_of(&who.pool, &who.user.sub).await
    }

    /// `GET /v1/me/mfa`.
    pub async fn mfa_view(&self, who: &Authenticated) -> Result<MfaView> {
        self.mfa_view_of(&who.pool, &who.user.sub).await
    }

    async fn mfa_view_of(&self, pool: &Pool, sub: &str) -> Result<MfaView> {
        let m = self.user_mfa(&pool.id, sub).await?;
        Ok(MfaView {
            totp_enabled: m.totp_verified,
            totp_device: m.totp_device,
            email_otp_enabled: m.email_otp_enabled,
            sms_otp_enabled: m.sms_otp_enabled,
            preferred: m.preferred,
            // No query where the pool has no passkeys (GetUser reads this).
            passkeys: if super::passkeys::passkeys_enabled(pool) {
                self.store
                    .webauthn_credentials_of(&pool.id, sub)
                    .await?
                    .len()
            } else {
                0
            },
            pool_mode: pool.settings.mfa.mode,
            allowed_factors: pool.settings.mfa.factors.clone(),
        })
    }

    /// `PUT /v1/me/mfa` (Cognito's SetUserMFAPreference).
    pub async fn set_mfa_preference(
        &self,
        who: &Authenticated,
        req: MfaPreference,
    ) -> Result<MfaView> {
        self.require_recent_sign_in(who)?;
        self.apply_mfa_preference(&who.pool, &who.user, req).await
    }

    /// Admin: the same for any user (AdminSetUserMFAPreference; removing
    /// a lost authenticator).
    pub async fn admin_set_mfa_preference(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        username: &str,
        req: MfaPreference,
    ) -> Result<MfaView> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "AdminSetUserMFAPreference",
                Target::user(pool_id, username),
                self.admin_set_mfa_preference_flow(pool_id, username, req),
            )
            .await
    }

    async fn admin_set_mfa_preference_flow(
        &self,
        pool_id: &str,
        username: &str,
        req: MfaPreference,
    ) -> Result<MfaView> {
        let pool = self.pool(pool_id).await?;
        let user = self
            .find_user(&pool, username)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::UserNotFound, "User does not exist."))?;
        self.apply_mfa_preference(&pool, &user, req).await
    }

    pub async fn admin_mfa_view(&self, pool_id: &str, username: &str) -> Result<MfaView> {
        let pool = self.pool(pool_id).await?;
        let user = self
            .find_user(&pool, username)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::UserNotFound, "User does not exist."))?;
        self.mfa_view_of(&pool, &user.sub).await
    }

    async fn apply_mfa_preference(
        &self,
        pool: &Pool,
        user: &User,
        req: MfaPreference,
    ) -> Result<MfaView> {
        let mut m = self.user_mfa(&pool.id, &user.sub).await?;
        let mut notes: Vec<String> = vec![];
        match req.totp_enabled {
            Some(false) if m.totp_secret.is_some() => {
                m.totp_secret = None;
                m.totp_verified = false;
                m.totp_device = None;
                notes.push("The authenticator app was removed from your sign-in steps.".into());
            }
            Some(true) if !m.totp_verified => {
                return Err(Error::invalid(
                    "Associate and verify a software token to enable it",
                ));
            }
            _ => {}
        }
        if let Some(on) = req.email_otp_enabled {
            let mut cur = m.email_otp_enabled;
            self.set_code_factor(pool, user, "EMAIL_OTP", on, &mut cur, &mut notes)?;
            m.email_otp_enabled = cur;
        }
        if let Some(on) = req.sms_otp_enabled {
            let mut cur = m.sms_otp_enabled;
            self.set_code_factor(pool, user, "SMS_OTP", on, &mut cur, &mut notes)?;
            m.sms_otp_enabled = cur;
        }
        if let Some(p) = req.preferred {
            match p.as_deref() {
                None => {}
                Some("SOFTWARE_TOKEN") if m.totp_verified => {}
                Some("EMAIL_OTP") if m.email_otp_enabled => {}
                Some("SMS_OTP") if m.sms_otp_enabled => {}
                Some("WEB_AUTHN")
                    if pool.settings.mfa.allows("WEB_AUTHN")
                        && self.has_passkey(pool, user).await? => {}
                Some(other) => {
                    return Err(Error::invalid(format!(
                        "{other} is not an enabled factor of the user"
                    )));
                }
            }
            m.preferred = p;
        }
        // A preference for a factor that went away goes with it.
        if (m.preferred.as_deref() == Some("SOFTWARE_TOKEN") && !m.totp_verified)
            || (m.preferred.as_deref() == Some("EMAIL_OTP") && !m.email_otp_enabled)
            || (m.preferred.as_deref() == Some("SMS_OTP") && !m.sms_otp_enabled)
        {
            m.preferred = None;
        }
        m.updated_at = self.clock.now();
        self.store.put_user_mfa(&m).await?;
        for n in notes {
            self.notify(pool, user, &n).await;
        }
        self.mfa_view_of(pool, &user.sub).await
    }

    /// Turns a code factor (`EMAIL_OTP`, `SMS_OTP`) on or off: the pool must
    /// allow it, SMS needs a sender, and the address must be verified.
    fn set_code_factor(
        &self,
        pool: &Pool,
        user: &User,
        factor: &str,
        on: bool,
        current: &mut bool,
        notes: &mut Vec<String>,
    ) -> Result<()> {
        let (attr, what) = if factor == "EMAIL_OTP" {
            ("email", "Codes by email")
        } else {
            ("phone_number", "Codes by text message")
        };
        if on && !pool.settings.mfa.allows(factor) {
            return Err(Error::invalid(format!(
                "{factor} MFA is not enabled for this user pool"
            )));
        }
        if on && factor == "SMS_OTP" && self.sms.is_none() {
            return Err(Error::invalid("SMS MFA needs an SMS sender (sms.kind)"));
        }
        let verified = user.attributes.get(&format!("{attr}_verified"));
        if on && verified.map(String::as_str) != Some("true") {
            return Err(Error::invalid(format!(
                "{factor} MFA needs a verified {attr}"
            )));
        }
        if on != *current {
            notes.push(if on {
                format!("{what} were added as a second sign-in step.")
            } else {
                format!("{what} were removed from your sign-in steps.")
            });
        }
        *current = on;
        Ok(())
    }

    /// Tells the user about a change to their sign-in (M3); a delivery
    /// failure is logged, not raised.
    pub(crate) async fn notify(&self, pool: &Pool, user: &User, what: &str) {
        let Some(to) = user.attributes.get("email") else {
            return;
        };
        let email = crate::mail::Email {
            pool_id: Some(pool.id.clone()),
            to: to.clone(),
            subject: format!("Your {} sign-in changed", pool.name).replace(['\r', '\n'], " "),
            body: format!(
                "Hello,\n\n{what}\n\nIf this was not you, reset your password and contact support.\n"
            ),
        };
        if let Err(e) = self.mailer.send(&email).await {
            tracing::warn!(pool_id = %pool.id, error = %e, "security notice not delivered");
        }
    }

    /// The second step a password sign-in needs, if any: the user's
    /// preferred enabled factor, else TOTP, else email; `MFA_SETUP` in a
    /// pool with MFA `ON` for a user without one.
    pub(crate) async fn mfa_challenge(
        &self,
        pool: &Pool,
        client: &AppClient,
        user: &User,
    ) -> Result<Option<Challenge>> {
        let mfa = &pool.settings.mfa;
        if mfa.mode == MfaMode::Off {
            return Ok(None);
        }
        let m = self.user_mfa(&pool.id, &user.sub).await?;
        let email = user
            .attributes
            .get("email")
            .filter(|_| user.attributes.get("email_verified").map(String::as_str) == Some("true"));
        let phone = user.attributes.get("phone_number").filter(|_| {
            user.attributes
                .get("phone_number_verified")
                .map(String::as_str)
                == Some("true")
        });
        let totp = mfa.allows("SOFTWARE_TOKEN") && m.totp_verified;
        let mail = mfa.allows("EMAIL_OTP") && m.email_otp_enabled && email.is_some();
        let text =
            mfa.allows("SMS_OTP") && m.sms_otp_enabled && phone.is_some() && self.sms.is_some();
        // A passkey, when the pool takes one as a second factor: preferred,
        // or else before the others (it resists phishing).
        let passkey = mfa.allows("WEB_AUTHN") && self.has_passkey(pool, user).await?;
        if passkey
            && (m.preferred.as_deref() == Some("WEB_AUTHN")
                || !matches!(
                    (m.preferred.as_deref(), totp, text, mail),
                    (Some("SOFTWARE_TOKEN"), true, _, _)
                        | (Some("SMS_OTP"), _, true, _)
                        | (Some("EMAIL_OTP"), _, _, true)
                ))
        {
            return self
                .passkey_challenge(pool, client, Some(user), &user.username)
                .await
                .map(Some);
        }
        let factor = match (m.preferred.as_deref(), totp, text, mail) {
            (Some("EMAIL_OTP"), _, _, true) => "EMAIL_OTP",
            (Some("SMS_OTP"), _, true, _) => "SMS_MFA",
            (_, true, _, _) => "SOFTWARE_TOKEN_MFA",
            (_, false, true, _) => "SMS_MFA",
            (_, false, false, true) => "EMAIL_OTP",
            (_, false, false, false) if mfa.mode == MfaMode::Optional => return Ok(None),
            // MFA is required of a user without a factor.
            _ if mfa.allows("SOFTWARE_TOKEN") => "MFA_SETUP",
            _ if mfa.allows("EMAIL_OTP") && email.is_some() => "EMAIL_OTP",
            _ if mfa.allows("SMS_OTP") && phone.is_some() && self.sms.is_some() => "SMS_MFA",
            _ => {
                return Err(Error::not_authorized(
                    "Multi-factor authentication is required, and the user has no factor that can be set up",
                ));
            }
        };
        let mut state = serde_json::json!({ "attempts": 0 });
        let mut extra = vec![];
        let target = match factor {
            "EMAIL_OTP" => Some(("email", email.cloned().unwrap_or_default(), "EMAIL")),
            "SMS_MFA" => Some(("phone_number", phone.cloned().unwrap_or_default(), "SMS")),
            _ => None,
        };
        if let Some((attr, to, medium)) = target {
            let code = random::code();
            state["code"] = self.codes.mac_hex(&[b"mfa-code", code.as_bytes()]).into();
            let delivery = self
                .send_code(
                    pool,
                    user,
                    attr,
                    &to,
                    &code,
                    crate::mail::Template::SignInCode,
                )
                .await?;
            extra.push(("CODE_DELIVERY_DELIVERY_MEDIUM", medium.to_owned()));
            extra.push(("CODE_DELIVERY_DESTINATION", delivery.destination));
        }
        let mut c = self
            .start_challenge_with(pool, client, user, factor, state)
            .await?;
        for (k, v) in extra {
            c.parameters.insert(k.to_owned(), v);
        }
        Ok(Some(c))
    }

    /// Checks the answer to an MFA challenge. `Ok(())`: the factor is
    /// proven; the session is already taken (single use, M4).
    pub(crate) async fn check_mfa_answer(
        &self,
        pool: &Pool,
        user: &User,
        session: &AuthSession,
        responses: &std::collections::BTreeMap<String, String>,
    ) -> Result<()> {
        let state: serde_json::Value =
            serde_json::from_str(&session.state).unwrap_or(serde_json::json!({}));
        let ok = match session.challenge.as_str() {
            "SOFTWARE_TOKEN_MFA" => {
                let code = responses
                    .get("SOFTWARE_TOKEN_MFA_CODE")
                    .ok_or_else(|| Error::invalid("SOFTWARE_TOKEN_MFA_CODE is required"))?;
                let m = self.user_mfa(&pool.id, &user.sub).await?;
                if !m.totp_verified {
                    return Err(Error::not_authorized("The software token was removed"));
                }
                self.check_totp(&m, code).await
            }
            "EMAIL_OTP" | "SMS_MFA" | "SMS_OTP" => {
                let key = format!("{}_CODE", session.challenge);
                let code = responses
                    .get(&key)
                    .ok_or_else(|| Error::invalid(format!("{key} is required")))?;
                let expected = state.get("code").and_then(|v| v.as_str()).unwrap_or("");
                let given = self.codes.mac_hex(&[b"mfa-code", code.trim().as_bytes()]);
                if !expected.is_empty() && ct_eq(expected.as_bytes(), given.as_bytes()) {
                    Ok(())
                } else {
                    Err(code_mismatch())
                }
            }
            "MFA_SETUP" => {
                // The software token was associated (and, through
                // VerifySoftwareToken, verified) in this session.
                let m = self.user_mfa(&pool.id, &user.sub).await?;
                match responses.get("SOFTWARE_TOKEN_MFA_CODE") {
                    _ if m.totp_verified && state.get("verified").is_some() => Ok(()),
                    Some(code) => {
                        let device = responses.get("DEVICE_NAME").cloned();
                        self.verify_totp_for(
                            pool,
                            user,
                            &VerifyTotp {
                                code: code.clone(),
                                device_name: device,
                            },
                        )
                        .await
                    }
                    None => Err(Error::invalid(
                        "Verify the software token (SOFTWARE_TOKEN_MFA_CODE) to finish setting up MFA",
                    )),
                }
            }
            other => Err(Error::invalid(format!("Unsupported challenge {other}"))),
        };
        match ok {
            Ok(()) => Ok(()),
            Err(e) if e.kind == ErrorKind::CodeMismatch => {
                // Wrong codes count toward the account's lockout and spend
                // the session after a few tries.
                let source = super::limits::source_of(crate::audit::request().ip.as_deref());
                self.record_signin_failure(pool, user, &source).await?;
                let attempts = state.get("attempts").and_then(|v| v.as_i64()).unwrap_or(0) + 1;
                if attempts < MAX_CODE_ATTEMPTS {
                    let mut again = session.clone();
                    let mut st = state.clone();
                    st["attempts"] = attempts.into();
                    again.state = st.to_string();
                    self.store.insert_session(&again).await?;
                }
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totp_matches_rfc_6238_test_vectors() {
        // RFC 6238 appendix B, SHA-1, secret "12345678901234567890",
        // truncated to six digits.
        let secret = b"12345678901234567890";
        for (t, code) in [
            (59, "287082"),
            (1111111109, "081804"),
            (1111111111, "050471"),
            (1234567890, "005924"),
            (2000000000, "279037"),
            (20000000000, "353130"),
        ] {
            assert_eq!(totp_code(secret, t / TOTP_STEP), code, "t={t}");
        }
    }

    #[test]
    fn m2_totp_accepts_one_step_of_drift_and_no_more() {
        let secret = b"12345678901234567890";
        let now = 1_234_567_890;
        let step = now / TOTP_STEP;
        for d in [-1, 0, 1] {
            let code = totp_code(secret, step + d);
            assert_eq!(totp_step_of(secret, &code, now), Some(step + d));
        }
        for d in [-2, 2] {
            let code = totp_code(secret, step + d);
            assert_eq!(totp_step_of(secret, &code, now), None);
        }
        assert_eq!(totp_step_of(secret, "12345", now), None);
        assert_eq!(totp_step_of(secret, "abcdef", now), None);
    }

    #[test]
    fn the_secret_and_uri_are_what_authenticator_apps_scan() {
        let t = totp(
            b"12345678901234567890",
            Some("My Pool".into()),
            "alice@example.com".into(),
        );
        assert_eq!(t.secret().to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let uri = t.to_url().unwrap();
        assert!(
            uri.starts_with("otpauth://totp/My%20Pool:alice%40example.com?"),
            "{uri}"
        );
        assert!(
            uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
            "{uri}"
        );
        assert!(uri.contains("issuer=My%20Pool"), "{uri}");
    }
}

//! Choice-based sign-in (Cognito's `USER_AUTH`): the client names the user,
//! the server offers the pool's first factors (`SELECT_CHALLENGE`:
//! `PASSWORD`, `PASSWORD_SRP`, `EMAIL_OTP`, `SMS_OTP`, `WEB_AUTHN`) and the
//! client picks one — or names its preference up front. One-time codes by
//! email or text message sign in without a password (a six-digit code, its
//! MAC in the challenge state, three tries, three minutes). One-time codes
//! are not offered when the pool requires MFA; a password still leads to
//! the second factor. A passkey is (user verification is required), so
//! `WEB_AUTHN` is offered either way (see `passkeys.rs`).

use super::UserPools;
use super::auth::{Challenge, PoolBudget, SignInResult, bad_credentials};
use super::limits::Action;
use crate::crypto::random;
use crate::error::{Error, ErrorKind, Result};
use crate::model::*;
use serde::Deserialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// `POST /v1/pools/{pool}/signin/start`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartUserAuth {
    pub client_id: String,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub client_secret: super::ClientProof,
    pub username: String,
    /// `PASSWORD` (with `password`), `EMAIL_OTP` or `SMS_OTP`: skip the
    /// choice.
    #[serde(default)]
    pub preferred_challenge: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

impl UserPools {
    /// The choices this pool offers (the same for every name asked about,
    /// so the list says nothing about whether the user exists).
    fn first_factors(&self, pool: &Pool) -> Vec<String> {
        let mut out = vec!["PASSWORD".to_owned()];
        if pool.settings.allow_srp {
            out.push("PASSWORD_SRP".into());
        }
        // Passwordless sign-in is a single factor: not where MFA is required.
        if pool.settings.mfa.mode != MfaMode::On {
            for f in ["EMAIL_OTP", "SMS_OTP"] {
                let usable = f != "SMS_OTP" || self.sms.is_some();
                if usable && pool.settings.first_auth_factors.iter().any(|x| x == f) {
                    out.push(f.into());
                }
            }
        }
        if pool
            .settings
            .first_auth_factors
            .iter()
            .any(|x| x == "WEB_AUTHN")
        {
            out.push("WEB_AUTHN".into());
        }
        out
    }

    /// Starts `USER_AUTH`.
    pub async fn start_user_auth(&self, pool_id: &str, req: StartUserAuth) -> Result<SignInResult> {
        let client_id = req.client_id.clone();
        let username = req.username.clone();
        self.audited(
            pool_id,
            "InitiateAuth",
            Some(&username),
            Some(&client_id),
            self.user_auth_flow(pool_id, req),
        )
        .await
    }

    async fn user_auth_flow(&self, pool_id: &str, req: StartUserAuth) -> Result<SignInResult> {
        let pool = self.pool(pool_id).await?;
        self.rate_limit(pool_id, Action::SignIn).await?;
        let client = self
            .clients
            .authenticate_client(pool_id, &req.client_id, &req.client_secret)
            .await?;
        if !client.allows_flow("ALLOW_USER_AUTH") {
            return Err(Error::invalid("USER_AUTH flow not enabled for this client"));
        }
        if req.username.is_empty() || req.username.len() > 256 {
            return Err(Error::invalid("username must be 1-256 characters"));
        }
        let available = self.first_factors(&pool);
        match req.preferred_challenge.as_deref() {
            Some(p) if !available.iter().any(|a| a == p) => {
                return Err(Error::invalid(format!(
                    "{p} is not an available challenge; choose one of {available:?}"
                )));
            }
            Some("PASSWORD") => {
                let password = req
                    .password
                    .as_deref()
                    .ok_or_else(|| Error::invalid("password is required with PASSWORD"))?;
                let v = self
                    .verify_password(
                        &pool,
                        &client.id,
                        &req.username,
                        password,
                        PoolBudget::Spent,
                    )
                    .await?;
                return self.finish_password_sign_in(&pool, &client, v).await;
            }
            Some("WEB_AUTHN") => {
                let user = self.find_user(&pool, &req.username).await?;
                if user.is_none() && !pool.settings.prevent_user_existence_errors {
                    return Err(Error::new(ErrorKind::UserNotFound, "User does not exist."));
                }
                let c = self
                    .passkey_challenge(&pool, &client, user.as_ref(), &req.username)
                    .await?;
                return Ok(SignInResult {
                    tokens: None,
                    challenge: Some(c),
                });
            }
            Some(f @ ("EMAIL_OTP" | "SMS_OTP")) => {
                let user = self.find_user(&pool, &req.username).await?;
                let c = self
                    .otp_first_factor(&pool, &client, user.as_ref(), f)
                    .await?;
                return Ok(SignInResult {
                    tokens: None,
                    challenge: Some(c),
                });
            }
            _ => {}
        }
        let user = self.find_user(&pool, &req.username).await?;
        let state = serde_json::json!({ "username": req.username });
        let mut c = match user.filter(|u| u.enabled) {
            Some(u) => {
                self.start_challenge_with(&pool, &client, &u, "SELECT_CHALLENGE", state)
                    .await?
            }
            // No session for a user that does not exist; its answers fail
            // like a wrong password (see `answer_unknown_select`).
            None if pool.settings.prevent_user_existence_errors => Challenge {
                name: "SELECT_CHALLENGE".into(),
                session: random::token(),
                parameters: BTreeMap::new(),
            },
            None => return Err(Error::new(ErrorKind::UserNotFound, "User does not exist.")),
        };
        c.parameters.insert(
            "AvailableChallenges".into(),
            serde_json::to_string(&available).map_err(Error::internal)?,
        );
        Ok(SignInResult {
            tokens: None,
            challenge: Some(c),
        })
    }

    /// A passwordless first factor: a code by email or text message. A user
    /// who does not exist, or lacks the verified address, gets a challenge
    /// that no code completes.
    async fn otp_first_factor(
        &self,
        pool: &Pool,
        client: &AppClient,
        user: Option<&User>,
        factor: &str,
    ) -> Result<Challenge> {
        let (attr, medium, challenge) = match factor {
            "EMAIL_OTP" => ("email", "EMAIL", "EMAIL_OTP"),
            _ => ("phone_number", "SMS", "SMS_OTP"),
        };
        let verified = format!("{attr}_verified");
        let target = user
            .filter(|u| u.enabled && u.status.signs_in())
            .and_then(|u| {
                let to = u.attributes.get(attr)?;
                (u.attributes.get(&verified).map(String::as_str) == Some("true"))
                    .then(|| (u, to.clone()))
            });
        let Some((u, to)) = target else {
            return Ok(Challenge {
                name: challenge.into(),
                session: random::token(),
                parameters: BTreeMap::from([(
                    "CODE_DELIVERY_DELIVERY_MEDIUM".to_owned(),
                    medium.to_owned(),
                )]),
            });
        };
        let code = random::code();
        let state = serde_json::json!({
            "attempts": 0,
            "code": self.codes.mac_hex(&[b"mfa-code", code.as_bytes()]),
        });
        let delivery = self
            .send_code(pool, u, attr, &to, &code, crate::mail::Template::SignInCode)
            .await?;
        let mut c = self
            .start_challenge_with(pool, client, u, challenge, state)
            .await?;
        c.parameters
            .insert("CODE_DELIVERY_DELIVERY_MEDIUM".into(), medium.into());
        c.parameters
            .insert("CODE_DELIVERY_DESTINATION".into(), delivery.destination);
        Ok(c)
    }

    /// The answer to `SELECT_CHALLENGE`: `ANSWER` names the choice
    /// (`PASSWORD` with `PASSWORD`, `PASSWORD_SRP` with `SRP_A`,
    /// `EMAIL_OTP`, `SMS_OTP`, `WEB_AUTHN`).
    pub(crate) async fn answer_select(
        &self,
        pool: &Pool,
        client: &AppClient,
        user: User,
        session_id: &str,
        responses: &BTreeMap<String, String>,
    ) -> Result<super::auth::Settled> {
        let answer = responses
            .get("ANSWER")
            .ok_or_else(|| Error::invalid("ANSWER is required"))?;
        if !self.first_factors(pool).iter().any(|a| a == answer) {
            return Err(Error::invalid(format!(
                "{answer} is not an available challenge"
            )));
        }
        // The choice spends the session; each path starts its own.
        if self.store.take_session(session_id).await?.is_none() {
            return Err(Error::not_authorized(
                "Invalid session for the user, session is expired.",
            ));
        }
        match answer.as_str() {
            "PASSWORD" => {
                let password = responses
                    .get("PASSWORD")
                    .ok_or_else(|| Error::invalid("PASSWORD is required"))?;
                let v = self
                    .verify_password(
                        pool,
                        &client.id,
                        &user.username,
                        password,
                        PoolBudget::Spent,
                    )
                    .await?;
                self.settle_sign_in(pool, client, v.user, v.throttle, Some(v.upgrade))
                    .await
            }
            "PASSWORD_SRP" => {
                let a = responses
                    .get("SRP_A")
                    .ok_or_else(|| Error::invalid("SRP_A is required"))?;
                Ok(super::auth::Settled::Challenge(
                    self.srp_challenge(pool, client, &user.username, a).await?,
                ))
            }
            "WEB_AUTHN" => Ok(super::auth::Settled::Challenge(
                self.passkey_challenge(pool, client, Some(&user), &user.username)
                    .await?,
            )),
            f => Ok(super::auth::Settled::Challenge(
                self.otp_first_factor(pool, client, Some(&user), f).await?,
            )),
        }
    }

    /// An answer to the `SELECT_CHALLENGE` of a name that has no user
    /// (no stored session): the same work and answers as for a real one.
    pub(crate) async fn answer_unknown_select(
        &self,
        pool: &Pool,
        client: &AppClient,
        responses: &BTreeMap<String, String>,
    ) -> Result<super::auth::Settled> {
        match responses.get("ANSWER").map(String::as_str) {
            Some("PASSWORD") => {
                let password = responses.get("PASSWORD").map(String::as_str).unwrap_or("");
                // A name no user has: the dummy hash, then the usual refusal.
                let name = format!("\u{1}unknown-{}", random::token());
                let _ = self
                    .verify_password(pool, &client.id, &name, password, PoolBudget::Spent)
                    .await;
                Err(bad_credentials())
            }
            Some(f @ ("EMAIL_OTP" | "SMS_OTP")) => Ok(super::auth::Settled::Challenge(
                self.otp_first_factor(pool, client, None, f).await?,
            )),
            Some("WEB_AUTHN") => {
                let name = responses.get("USERNAME").map(String::as_str).unwrap_or("");
                Ok(super::auth::Settled::Challenge(
                    self.passkey_challenge(pool, client, None, name).await?,
                ))
            }
            _ => Err(Error::not_authorized(
                "Invalid session for the user, session is expired.",
            )),
        }
    }
}

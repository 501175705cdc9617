//! Sign-in (password flow), refresh, revocation, and the signed-in user
//! behind an access token.

use super::UserPools;
use super::hooks::{Trigger, TriggerSource::*, UserEvent};
use super::limits::Action;
use crate::crypto::password::Lane;
use crate::crypto::{random, sha256_hex};
use crate::error::{Error, ErrorKind, Result};
use crate::model::*;
use crate::tokens::{AccessClaims, TokenSet};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub client_id: String,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub client_secret: super::ClientProof,
    /// `USER_PASSWORD_AUTH` (the default).
    #[serde(default)]
    pub flow: Option<String>,
    pub username: String,
    pub password: String,
}

/// A challenge the client must answer through `signin/challenge`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Challenge {
    pub name: String,
    pub session: String,
    pub parameters: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SignInResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TokenSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge: Option<Challenge>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Refresh {
    pub client_id: String,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub client_secret: super::ClientProof,
    pub refresh_token: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Revoke {
    pub client_id: String,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub client_secret: super::ClientProof,
    /// A refresh token; its whole family is revoked.
    pub token: String,
}

/// The signed-in user, as `/v1/me` shows them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Me {
    pub username: String,
    pub sub: String,
    pub status: UserStatus,
    pub enabled: bool,
    pub attributes: Attributes,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A verified access token and the user it belongs to.
pub struct Authenticated {
    pub pool: Arc<Pool>,
    pub user: User,
    pub claims: AccessClaims,
}

/// Challenge sessions live 3 minutes (Cognito's default).
pub const CHALLENGE_TTL_SECS: i64 = 180;

/// An answer to a challenge (`signin/challenge`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RespondToChallenge {
    pub client_id: String,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub client_secret: super::ClientProof,
    pub challenge_name: String,
    pub session: String,
    /// `NEW_PASSWORD_REQUIRED`: `NEW_PASSWORD`, and `userAttributes.<name>`
    /// for required attributes the user lacks.
    pub responses: std::collections::BTreeMap<String, String>,
}

/// Failed sign-ins tolerated before the account is throttled.
pub const LOCK_AFTER_FAILURES: i32 = 5;
/// Longest lock, seconds.
pub const MAX_LOCK_SECS: i64 = 900;
/// From this many consecutive failures on (NIST SP 800-63B's cap), every
/// further failure locks for the longest time.
pub const HARD_LIMIT_FAILURES: i32 = 100;

/// A network a user signed in from counts as known this long (G2).
pub const KNOWN_SOURCE_SECS: i64 = 30 * 86_400;
/// A known network's mark is rewritten when older than this, so a sign-in
/// writes it about once a day, not every time.
const KNOWN_SOURCE_REFRESH_SECS: i64 = 86_400;
/// Counters of names that designate no user are forgotten after a day
/// without failures (and once unlocked).
pub const NAME_FAILURES_KEPT_SECS: i64 = 86_400;

/// Whether a password check still has to spend from the pool-wide
/// sign-in budget (the caller spent only its own) or spent it already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PoolBudget {
    /// Spent here unless the user signs in from a known network (G2).
    Due,
    Spent,
}

/// The throttle key of a sign-in name that designates no user: a hash, so
/// the table holds no attacker-chosen text.
fn name_key(pool: &Pool, name: &str) -> String {
    sha256_hex(format!("{}\n{}", pool.id, name.trim().to_lowercase()).as_bytes())
}

/// When an account with `n` consecutive failures is locked until: nothing
/// below `LOCK_AFTER_FAILURES`, then 1 s doubling per failure up to 15 min.
pub fn lock_until(now: i64, n: i32) -> i64 {
    if n >= HARD_LIMIT_FAILURES {
        now + MAX_LOCK_SECS
    } else if n >= LOCK_AFTER_FAILURES {
        now + (1i64 << (n - LOCK_AFTER_FAILURES).min(20)).min(MAX_LOCK_SECS)
    } else {
        0
    }
}

/// The account-wide lock: none below `HARD_LIMIT_FAILURES` consecutive
/// failures from all sources together, then the longest lock per failure.
pub fn account_lock_until(now: i64, n: i32) -> i64 {
    if n >= HARD_LIMIT_FAILURES {
        now + MAX_LOCK_SECS
    } else {
        0
    }
}

/// The plaintext of a successful password sign-in, for upgrades.
/// A verified sign-in, settled: a challenge to answer, or a user ready for
/// a session.
pub(crate) enum Settled {
    Challenge(Challenge),
    Ready(User),
}

/// A password that checked out: the user as read with it (groups and
/// throttle included) and what to upgrade.
pub(crate) struct Verified<'a> {
    pub user: User,
    pub groups: Vec<Group>,
    pub throttle: SigninThrottle,
    pub upgrade: PasswordUpgrade<'a>,
}

pub(crate) struct PasswordUpgrade<'a> {
    pub password: &'a str,
    /// The stored hash has other parameters than the configured ones.
    pub rehash: bool,
}

pub(crate) fn bad_credentials() -> Error {
    Error::not_authorized("Incorrect username or password.")
}

impl UserPools {
    #[tracing::instrument(skip_all, fields(pool_id = %pool_id, client_id = %req.client_id))]
    /// Password sign-in, recorded in the audit trail.
    pub async fn sign_in(&self, pool_id: &str, req: SignIn) -> Result<SignInResult> {
        let (username, client_id) = (req.username.clone(), req.client_id.clone());
        let flow = self.audited(
            pool_id,
            "SignIn",
            Some(&username),
            Some(&client_id),
            self.sign_in_flow(pool_id, req, false),
        );
        self.admitted(pool_id, &username, flow).await
    }

    /// A password sign-in made by a trusted back end with the admin
    /// credential (Cognito's `ADMIN_USER_PASSWORD_AUTH`): the client must
    /// allow `ALLOW_ADMIN_USER_PASSWORD_AUTH`; the same throttles, rate
    /// limits and audit apply.
    pub async fn admin_sign_in(&self, pool_id: &str, req: SignIn) -> Result<SignInResult> {
        let (username, client_id) = (req.username.clone(), req.client_id.clone());
        let flow = self.audited(
            pool_id,
            "AdminSignIn",
            Some(&username),
            Some(&client_id),
            self.sign_in_flow(pool_id, req, true),
        );
        self.admitted(pool_id, &username, flow).await
    }

    async fn sign_in_flow(&self, pool_id: &str, req: SignIn, admin: bool) -> Result<SignInResult> {
        let pool = self.pool(pool_id).await?;
        // The pool-wide budget is spent in `verify_password`, where the
        // user's known networks are read (G2).
        self.rate_limit_source(pool_id, Action::SignIn).await?;
        let client = self
            .clients
            .authenticate_client(pool_id, &req.client_id, &req.client_secret)
            .await?;
        let (flow, allow) = if admin {
            ("ADMIN_USER_PASSWORD_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH")
        } else {
            ("USER_PASSWORD_AUTH", "ALLOW_USER_PASSWORD_AUTH")
        };
        if req.flow.as_deref().is_some_and(|f| f != flow) {
            return Err(Error::invalid(format!(
                "Unsupported flow {}; this endpoint takes {flow}",
                req.flow.as_deref().unwrap_or_default()
            )));
        }
        if !client.allows_flow(allow) {
            return Err(Error::invalid(format!(
                "{flow} flow not enabled for this client"
            )));
        }
        let v = self
            .verify_password(
                &pool,
                &client.id,
                &req.username,
                &req.password,
                PoolBudget::Due,
            )
            .await?;
        self.finish_password_sign_in(&pool, &client, v).await
    }

    /// `finish_sign_in` after a password checked out, with the groups read
    /// alongside the user.
    pub(crate) async fn finish_password_sign_in(
        &self,
        pool: &Pool,
        client: &AppClient,
        v: Verified<'_>,
    ) -> Result<SignInResult> {
        self.finish_sign_in(
            pool,
            client,
            v.user,
            Some(v.groups),
            v.throttle,
            Some(v.upgrade),
        )
        .await
    }

    /// The user a name and password designate, with its groups, the
    /// throttle and the rehash decision: unknown users cost the same work
    /// and get the same answer as a wrong password, lockout included (G3);
    /// failures count toward the throttle. The user, groups, throttle and
    /// known networks are one read. With `PoolBudget::Due` the pool-wide
    /// budget is spent here, except by a user signing in from a network
    /// they signed in from before, whose check also goes ahead of the
    /// anonymous hashing queue (G2).
    pub(crate) async fn verify_password<'a>(
        &self,
        pool: &Pool,
        client_id: &str,
        username: &str,
        password: &'a str,
        budget: PoolBudget,
    ) -> Result<Verified<'a>> {
        if password.chars().count() > policy_max() {
            // Refused before hashing, with the answer of a wrong password.
            return Err(bad_credentials());
        }
        let source = super::limits::source_of(crate::audit::request().ip.as_deref());
        let found = self.find_sign_in(pool, username, &source).await?;
        let exists = found.is_some();
        let now = self.clock.now();
        let known = found
            .as_ref()
            .is_some_and(|r| r.throttle.known_at > now - KNOWN_SOURCE_SECS);
        if budget == PoolBudget::Due && !known {
            self.rate_limit_pool(&pool.id, Action::SignIn).await?;
        }
        // An unknown name is throttled like an account when existence is
        // hidden, so the lockout answer does not tell them apart (G3).
        let decoy = (!exists && pool.settings.prevent_user_existence_errors)
            .then(|| name_key(pool, username));
        match (&found, &decoy) {
            (Some(r), _) => self.check_throttle(&r.throttle)?,
            (None, Some(key)) => {
                let t = self.store.name_failures(&pool.id, key, &source).await?;
                self.check_throttle(&t)?;
            }
            (None, None) => {}
        }
        if let Some(r) = &found {
            let hook = Trigger::new(
                PreAuthentication,
                &pool.id,
                Some(client_id),
                &r.user.username,
            );
            self.hooks
                .pre_authentication(
                    pool,
                    &UserEvent {
                        trigger: hook,
                        user_attributes: r.user.attributes.clone(),
                    },
                )
                .await?;
        }
        let lane = if known { Lane::Known } else { Lane::Anonymous };
        // Unknown users verify against the dummy hash: same work, same answer.
        let verified = self
            .hasher
            .verify_in(
                password,
                found.as_ref().and_then(|r| r.user.password_hash.as_deref()),
                lane,
            )
            .await?;
        if !verified.ok {
            match (&found, &decoy) {
                (Some(r), _) => self.record_signin_failure(pool, &r.user, &source).await?,
                (None, Some(key)) => {
                    self.store
                        .record_name_failure(
                            &pool.id,
                            key,
                            &source,
                            now,
                            &|n| account_lock_until(now, n),
                            &|n| lock_until(now, n),
                        )
                        .await?
                }
                (None, None) => {}
            }
        }
        let Some(found) = found.filter(|_| verified.ok) else {
            metrics::counter!("poolgate_signin_total", "outcome" => "failed").increment(1);
            if !exists && !pool.settings.prevent_user_existence_errors {
                return Err(Error::new(ErrorKind::UserNotFound, "User does not exist."));
            }
            return Err(bad_credentials());
        };
        Ok(Verified {
            user: found.user,
            groups: found.groups,
            throttle: found.throttle,
            upgrade: PasswordUpgrade {
                password,
                rehash: verified.needs_rehash,
            },
        })
    }

    /// The sign-in throttle of a known user from this client's network:
    /// refused without any password work while locked. Failures lock with
    /// growing delays per (account, client network), so an attacker
    /// elsewhere cannot lock the owner out (G2), and account-wide at the
    /// hard cap (G1).
    pub(crate) async fn throttle_check(
        &self,
        pool: &Pool,
        user: Option<&User>,
    ) -> Result<(SigninThrottle, String)> {
        let source = super::limits::source_of(crate::audit::request().ip.as_deref());
        let Some(u) = user else {
            return Ok((SigninThrottle::default(), source));
        };
        let t = self
            .store
            .signin_failures(&pool.id, &u.sub, &source)
            .await?;
        self.check_throttle(&t)?;
        Ok((t, source))
    }

    /// Refuses while either lock of `t` holds, with the seconds left.
    fn check_throttle(&self, t: &SigninThrottle) -> Result<()> {
        let now = self.clock.now();
        let locked_until = t.account_locked_until.max(t.source_locked_until);
        if locked_until > now {
            metrics::counter!("poolgate_signin_total", "outcome" => "throttled").increment(1);
            return Err(Error::not_authorized("Password attempts exceeded")
                .with_retry_after((locked_until - now) as u64));
        }
        Ok(())
    }

    pub(crate) async fn record_signin_failure(
        &self,
        pool: &Pool,
        user: &User,
        source: &str,
    ) -> Result<()> {
        let now = self.clock.now();
        self.store
            .record_signin_failure(
                &pool.id,
                &user.sub,
                source,
                &|n| account_lock_until(now, n),
                &|n| lock_until(now, n),
            )
            .await
    }

    /// A sign-in that worked (password, SRP or passkey) ends the run of
    /// failures that `throttle` saw (nothing to write when there was none)
    /// and marks the client's network as known for the user (G2), at most
    /// once a day.
    pub(crate) async fn end_failure_run(
        &self,
        pool: &Pool,
        user: &User,
        throttle: &SigninThrottle,
    ) -> Result<()> {
        if throttle.account_failures > 0 || throttle.source_failures > 0 {
            self.store
                .clear_signin_failures(&pool.id, &user.sub)
                .await?;
        }
        let now = self.clock.now();
        let source = super::limits::source_of(crate::audit::request().ip.as_deref());
        if source != "-" && throttle.known_at <= now - KNOWN_SOURCE_REFRESH_SECS {
            self.store
                .note_signin_success(&pool.id, &user.sub, &source, now)
                .await?;
        }
        Ok(())
    }

    /// After the password (or the SRP proof) checked out: the user's state
    /// decides — tokens, the NEW_PASSWORD_REQUIRED challenge, or a refusal.
    /// With the plaintext at hand, an old-parameter hash is upgraded and a
    /// missing SRP verifier is stored.
    pub(crate) async fn finish_sign_in(
        &self,
        pool: &Pool,
        client: &AppClient,
        user: User,
        groups: Option<Vec<Group>>,
        throttle: SigninThrottle,
        upgrade: Option<PasswordUpgrade<'_>>,
    ) -> Result<SignInResult> {
        let user = match self
            .settle_sign_in(pool, client, user, throttle, upgrade)
            .await?
        {
            Settled::Challenge(c) => {
                return Ok(SignInResult {
                    tokens: None,
                    challenge: Some(c),
                });
            }
            Settled::Ready(u) => u,
        };
        self.post_authentication(pool, &client.id, &user).await?;
        let now = self.clock.now();
        let (tokens, _) = self
            .sessions
            .start_session_in(pool, client, &user, groups, now, None, None, random::uuid())
            .await?;
        metrics::counter!("poolgate_signin_total", "outcome" => "success").increment(1);
        tracing::info!(sub = %user.sub, "user signed in");
        Ok(SignInResult {
            tokens: Some(tokens),
            challenge: None,
        })
    }

    /// The post authentication hook of a sign-in that checked out (every
    /// factor), before its session starts.
    pub(crate) async fn post_authentication(
        &self,
        pool: &Pool,
        client_id: &str,
        user: &User,
    ) -> Result<()> {
        let hook = Trigger::new(
            PostAuthentication,
            &pool.id,
            Some(client_id),
            &user.username,
        );
        let event = UserEvent {
            trigger: hook,
            user_attributes: user.attributes.clone(),
        };
        self.hooks.post_authentication(pool, &event).await
    }

    /// Everything between a verified credential and a session: the user's
    /// state (disabled, unconfirmed, reset or new password required), the
    /// hash upgrade and SRP verifier, the throttle reset.
    pub(crate) async fn settle_sign_in(
        &self,
        pool: &Pool,
        client: &AppClient,
        mut user: User,
        throttle: SigninThrottle,
        upgrade: Option<PasswordUpgrade<'_>>,
    ) -> Result<Settled> {
        if !user.enabled {
            metrics::counter!("poolgate_signin_total", "outcome" => "disabled").increment(1);
            return Err(Error::not_authorized("User is disabled."));
        }
        match user.status {
            UserStatus::Unconfirmed => {
                metrics::counter!("poolgate_signin_total", "outcome" => "unconfirmed").increment(1);
                return Err(Error::new(
                    ErrorKind::UserNotConfirmed,
                    "User is not confirmed.",
                ));
            }
            UserStatus::ResetRequired => {
                return Err(Error::new(
                    ErrorKind::PasswordResetRequired,
                    "Password reset required for the user",
                ));
            }
            UserStatus::ForceChangePassword => {
                let expires = user
                    .attributes
                    .get(super::users::TEMP_PASSWORD_EXPIRES)
                    .and_then(|v| v.parse::<i64>().ok());
                if expires.is_some_and(|t| t <= self.clock.now()) {
                    return Err(Error::not_authorized(
                        "Temporary password has expired and must be reset by an administrator.",
                    ));
                }
                let challenge = self
                    .start_challenge(pool, client, &user, "NEW_PASSWORD_REQUIRED")
                    .await?;
                return Ok(Settled::Challenge(challenge));
            }
            UserStatus::ExternalProvider => return Err(bad_credentials()),
            UserStatus::Confirmed => {}
        }
        if let Some(up) = upgrade {
            let mut changed = false;
            if up.rehash {
                // Transparent upgrade to the configured parameters.
                match self.hasher.hash(up.password).await {
                    Ok(h) => {
                        user.password_hash = Some(h);
                        changed = true;
                    }
                    Err(e) => tracing::warn!(error = ?e, "password hash upgrade skipped"),
                }
            }
            if user.srp_sealed.is_none()
                && let Some(v) = self.srp_record(pool, &user, up.password)
            {
                // Imported users get SRP at their first password sign-in.
                user.srp_sealed = Some(v);
                changed = true;
            }
            if changed {
                user.updated_at = self.clock.now();
                self.store.update_user(&user).await?;
            }
        }
        self.end_failure_run(pool, &user, &throttle).await?;
        // The password is right; a second factor may be due.
        if let Some(c) = self.mfa_challenge(pool, client, &user).await? {
            return Ok(Settled::Challenge(c));
        }
        Ok(Settled::Ready(user))
    }

    async fn start_challenge(
        &self,
        pool: &Pool,
        client: &AppClient,
        user: &User,
        name: &str,
    ) -> Result<Challenge> {
        self.start_challenge_with(pool, client, user, name, serde_json::json!({}))
            .await
    }

    /// A challenge session with flow state (e.g. an emailed code's MAC).
    pub(crate) async fn start_challenge_with(
        &self,
        pool: &Pool,
        client: &AppClient,
        user: &User,
        name: &str,
        state: serde_json::Value,
    ) -> Result<Challenge> {
        let token = random::token();
        let now = self.clock.now();
        self.store
            .insert_session(&AuthSession {
                id: sha256_hex(token.as_bytes()),
                pool_id: pool.id.clone(),
                client_id: client.id.clone(),
                sub: user.sub.clone(),
                challenge: name.to_owned(),
                state: state.to_string(),
                created_at: now,
                expires_at: now + CHALLENGE_TTL_SECS,
            })
            .await?;
        let mut parameters = std::collections::BTreeMap::new();
        // USER_AUTH's choice says nothing about the user (it looks the same
        // for a name without one).
        if name != "SELECT_CHALLENGE" {
            parameters.insert("USER_ID_FOR_SRP".to_owned(), user.username.clone());
        }
        if name == "NEW_PASSWORD_REQUIRED" {
            let missing: Vec<&String> = pool
                .settings
                .required_attributes
                .iter()
                .filter(|a| !user.attributes.contains_key(a.as_str()))
                .collect();
            parameters.insert(
                "requiredAttributes".to_owned(),
                serde_json::to_string(&missing).map_err(Error::internal)?,
            );
            parameters.insert(
                "userAttributes".to_owned(),
                serde_json::to_string(&super::attributes::public(&user.attributes))
                    .map_err(Error::internal)?,
            );
        }
        Ok(Challenge {
            name: name.to_owned(),
            session: token,
            parameters,
        })
    }

    /// Answers a challenge. The session is checked (pool, client, expiry)
    /// and the answer validated before the session is consumed, so a
    /// password the policy refuses can be retried within the session.
    pub async fn respond_to_challenge(
        &self,
        pool_id: &str,
        req: RespondToChallenge,
    ) -> Result<SignInResult> {
        let client_id = req.client_id.clone();
        self.audited(
            pool_id,
            "RespondToChallenge",
            None,
            Some(&client_id),
            self.respond_flow(pool_id, req),
        )
        .await
    }

    async fn respond_flow(&self, pool_id: &str, req: RespondToChallenge) -> Result<SignInResult> {
        let pool = self.pool(pool_id).await?;
        self.rate_limit(pool_id, Action::SignIn).await?;
        let client = self
            .clients
            .authenticate_client(pool_id, &req.client_id, &req.client_secret)
            .await?;
        match self
            .answer_challenge(
                &pool,
                &client,
                &req.session,
                &req.challenge_name,
                &req.responses,
            )
            .await?
        {
            Settled::Challenge(c) => Ok(SignInResult {
                tokens: None,
                challenge: Some(c),
            }),
            Settled::Ready(user) => {
                self.post_authentication(&pool, &client.id, &user).await?;
                let tokens = self.sessions.start_session(&pool, &client, &user).await?;
                metrics::counter!("poolgate_signin_total", "outcome" => "success").increment(1);
                Ok(SignInResult {
                    tokens: Some(tokens),
                    challenge: None,
                })
            }
        }
    }

    /// The challenge session a client presents: its own, for this pool,
    /// unexpired (not taken).
    pub(crate) async fn challenge_session(
        &self,
        pool: &Pool,
        client: &AppClient,
        token: &str,
    ) -> Result<(String, AuthSession)> {
        let invalid = || Error::not_authorized("Invalid session for the user, session is expired.");
        if token.len() > 512 {
            return Err(invalid());
        }
        let id = sha256_hex(token.as_bytes());
        let session = self.store.get_session(&id).await?.ok_or_else(invalid)?;
        if session.pool_id != pool.id
            || session.client_id != client.id
            || session.expires_at <= self.clock.now()
        {
            return Err(invalid());
        }
        Ok((id, session))
    }

    /// Answers a challenge session: the next challenge, or the user ready
    /// for a session (tokens or a hosted sign-in).
    pub(crate) async fn answer_challenge(
        &self,
        pool: &Pool,
        client: &AppClient,
        token: &str,
        challenge_name: &str,
        responses: &std::collections::BTreeMap<String, String>,
    ) -> Result<Settled> {
        let invalid = || Error::not_authorized("Invalid session for the user, session is expired.");
        let (id, session) = match self.challenge_session(pool, client, token).await {
            Ok(found) => found,
            // USER_AUTH for a name without a user has no stored session;
            // its answers look like a real user's (no enumeration).
            Err(_) if challenge_name == "SELECT_CHALLENGE" => {
                return self.answer_unknown_select(pool, client, responses).await;
            }
            Err(_) if matches!(challenge_name, "EMAIL_OTP" | "SMS_OTP") => {
                return Err(super::mfa::code_mismatch());
            }
            Err(_) if challenge_name == "WEB_AUTHN" => return Err(bad_credentials()),
            Err(e) => return Err(e),
        };
        if session.challenge != challenge_name {
            return Err(Error::invalid(format!(
                "Expected the {} challenge",
                session.challenge
            )));
        }
        let mut user = self
            .store
            .get_user(&pool.id, &session.sub)
            .await?
            .ok_or_else(invalid)?;
        crate::audit::note_subject(&user.sub);
        if !user.enabled {
            return Err(Error::not_authorized("User is disabled."));
        }
        match session.challenge.as_str() {
            "NEW_PASSWORD_REQUIRED" => {
                let new_password = responses
                    .get("NEW_PASSWORD")
                    .ok_or_else(|| Error::invalid("NEW_PASSWORD is required"))?;
                let mut attrs = crate::model::Attributes::new();
                for (k, v) in responses {
                    if let Some(name) = k.strip_prefix("userAttributes.") {
                        attrs.insert(name.to_owned(), v.clone());
                    } else if k != "NEW_PASSWORD" && k != "USERNAME" {
                        return Err(Error::invalid(format!("Unexpected response {k}")));
                    }
                }
                super::attributes::validate_write(pool, Some(client), &attrs, false)?;
                for req_attr in &pool.settings.required_attributes {
                    if !user.attributes.contains_key(req_attr)
                        && attrs.get(req_attr).is_none_or(|v| v.is_empty())
                    {
                        return Err(Error::invalid(format!(
                            "Attributes did not conform to the schema: {req_attr}: The attribute is required"
                        )));
                    }
                }
                let context = [user.username.as_str(), pool.name.as_str()];
                super::policy::check(&pool.settings.password_policy, new_password, &context)?;
                let hash = self.hasher.hash(new_password).await?;
                // Only now is the session consumed: exactly one answer wins.
                if self.store.take_session(&id).await?.is_none() {
                    return Err(invalid());
                }
                user.attributes.extend(attrs);
                user.attributes.remove(super::users::TEMP_PASSWORD_EXPIRES);
                user.password_hash = Some(hash);
                user.srp_sealed = self.srp_record(pool, &user, new_password);
                user.status = UserStatus::Confirmed;
                user.updated_at = self.clock.now();
                self.store.update_user(&user).await?;
                // A new password does not skip the second factor (M3).
                if let Some(c) = self.mfa_challenge(pool, client, &user).await? {
                    return Ok(Settled::Challenge(c));
                }
                Ok(Settled::Ready(user))
            }
            "SELECT_CHALLENGE" => self.answer_select(pool, client, user, &id, responses).await,
            "WEB_AUTHN" => {
                // Taken first: one answer per challenge.
                let session = self.store.take_session(&id).await?.ok_or_else(invalid)?;
                self.answer_passkey(pool, user, &session, responses).await
            }
            "SOFTWARE_TOKEN_MFA" | "EMAIL_OTP" | "SMS_MFA" | "SMS_OTP" | "MFA_SETUP" => {
                // Taken first: one answer per session state (M4); a wrong
                // code puts it back with one attempt less.
                let session = self.store.take_session(&id).await?.ok_or_else(invalid)?;
                self.check_mfa_answer(pool, &user, &session, responses)
                    .await?;
                Ok(Settled::Ready(user))
            }
            other => Err(Error::invalid(format!("Unsupported challenge {other}"))),
        }
    }
}

fn policy_max() -> usize {
    super::policy::MAX_PASSWORD_CHARS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_grow_from_the_fifth_failure_and_cap_at_fifteen_minutes() {
        assert_eq!(lock_until(1000, 4), 0);
        assert_eq!(lock_until(1000, 5), 1001);
        assert_eq!(lock_until(1000, 6), 1002);
        assert_eq!(lock_until(1000, 10), 1032);
        assert_eq!(lock_until(1000, 20), 1000 + MAX_LOCK_SECS);
        assert_eq!(lock_until(1000, 99), 1000 + MAX_LOCK_SECS);
        assert_eq!(lock_until(1000, i32::MAX), 1000 + MAX_LOCK_SECS);
    }
}

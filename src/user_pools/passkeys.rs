//! Passkeys (WebAuthn, verified by webauthn-rs): a signed-in user registers
//! credentials and lists or deletes them; sign-in uses one as the only
//! factor (`USER_AUTH` with `WEB_AUTHN`) or as the second factor after a
//! password (`WEB_AUTHN` in the pool's `mfa.factors`). User verification is
//! required, so a passkey alone is two factors (something you have, and a
//! PIN or biometric).
//!
//! Each pool is a relying party: `webauthn.relying_party_id` (default: the
//! host of `public_url`) and `webauthn.origins` (default: `public_url`).
//! The challenge state lives in the challenge sessions of `auth.rs`, good
//! once for a few minutes. An assertion is accepted only if its signature
//! counter moves the stored one forward, in one atomic UPDATE: a cloned
//! authenticator's stale counter is refused. A name without passkeys gets
//! options that look like a real user's (webauthn-rs's fake credential ids,
//! stable per name) and no session, so the answer says nothing about which
//! names exist.

use super::UserPools;
use super::auth::{Authenticated, Challenge, Settled, bad_credentials};
use crate::audit::{AdminCtx, Target};
use crate::crypto::{random, sha256_hex};
use crate::error::{Error, ErrorKind, Result};
use crate::model::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};

/// Passkeys one user may have (Cognito's limit).
pub const MAX_PASSKEYS: usize = 20;
/// A registration must be completed within this many seconds.
pub const REGISTRATION_TTL_SECS: i64 = 300;
const REGISTRATION: &str = "WEB_AUTHN_REGISTRATION";
const TRANSPORTS: &[&str] = &["usb", "nfc", "ble", "internal", "hybrid", "smart-card"];

/// The browser's answer to `navigator.credentials.create()`, which adds
/// the passkey.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompletePasskey {
    /// The `PublicKeyCredential` in its JSON form (`toJSON()`, binary
    /// members base64url).
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
    /// A name the user recognises the passkey by.
    #[serde(default)]
    pub name: Option<String>,
}

/// A passkey as its owner sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PasskeyView {
    pub credential_id: String,
    pub name: Option<String>,
    pub relying_party_id: String,
    /// `platform` or `cross-platform`, as the browser said.
    pub authenticator_attachment: Option<String>,
    pub transports: Vec<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// Whether a pool lets its users have passkeys.
pub fn passkeys_enabled(pool: &Pool) -> bool {
    pool.settings
        .first_auth_factors
        .iter()
        .any(|f| f == "WEB_AUTHN")
        || pool.settings.mfa.allows("WEB_AUTHN")
}

/// The WebAuthn user handle: the `sub` (a UUID).
fn user_handle(sub: &str) -> Uuid {
    Uuid::parse_str(sub).unwrap_or_else(|_| {
        let h = hex::decode(sha256_hex(sub.as_bytes())).unwrap_or_default();
        let mut b = [0u8; 16];
        b.copy_from_slice(&h[..16]);
        Uuid::from_bytes(b)
    })
}

/// A verification failure, in words (webauthn-rs's reasons are not secret).
fn refused(e: WebauthnError) -> Error {
    Error::not_authorized(format!("The passkey was not accepted: {e}"))
}

fn view(rp_id: &str, c: &WebAuthnCredential) -> PasskeyView {
    PasskeyView {
        credential_id: c.credential_id.clone(),
        name: c.name.clone(),
        relying_party_id: rp_id.to_owned(),
        authenticator_attachment: c.attachment.clone(),
        transports: c.transports.clone(),
        created_at: c.created_at,
        last_used_at: c.last_used_at,
    }
}

impl UserPools {
    /// The session id of a user's pending registration (one at a time): a
    /// MAC, so no session token hashes to it.
    fn registration_id(&self, pool_id: &str, sub: &str) -> String {
        self.codes
            .mac_hex(&[b"webauthn-registration", pool_id.as_bytes(), sub.as_bytes()])
    }

    /// The pool's relying party.
    pub(crate) fn relying_party(&self, pool: &Pool) -> Result<(Webauthn, String)> {
        let w = &pool.settings.webauthn;
        let no_rp = || {
            Error::invalid(
                "Passkeys need a domain name as relying-party id: set webauthn.relying_party_id \
                 and webauthn.origins (an IP address cannot be one)",
            )
        };
        let origins: Vec<Url> = if w.origins.is_empty() {
            vec![Url::parse(&self.public_url).map_err(|_| no_rp())?]
        } else {
            w.origins
                .iter()
                .map(|o| Url::parse(o).map_err(|_| no_rp()))
                .collect::<Result<_>>()?
        };
        let rp_id = match &w.relying_party_id {
            Some(id) => id.clone(),
            None => origins[0].domain().ok_or_else(no_rp)?.to_owned(),
        };
        let mut b = WebauthnBuilder::new(&rp_id, &origins[0])
            .map_err(|_| no_rp())?
            .rp_name(&pool.name);
        for o in &origins[1..] {
            b = b.append_allowed_origin(o);
        }
        Ok((b.build().map_err(|_| no_rp())?, rp_id))
    }

    fn require_passkeys(pool: &Pool) -> Result<()> {
        if !passkeys_enabled(pool) {
            return Err(Error::invalid(
                "Passkeys are not enabled for this user pool (WEB_AUTHN in first_auth_factors or mfa.factors)",
            ));
        }
        Ok(())
    }

    /// Starts adding a passkey: the options for `navigator.credentials
    /// .create()` (the `publicKey` member), with the user's passkeys
    /// excluded. A new start replaces a pending one.
    pub(crate) async fn start_passkey_registration_for(
        &self,
        pool: &Pool,
        user: &User,
        client_id: &str,
    ) -> Result<serde_json::Value> {
        Self::require_passkeys(pool)?;
        let existing = self
            .store
            .webauthn_credentials_of(&pool.id, &user.sub)
            .await?;
        if existing.len() >= MAX_PASSKEYS {
            return Err(Error::new(
                ErrorKind::LimitExceeded,
                format!("A user can have at most {MAX_PASSKEYS} passkeys"),
            ));
        }
        let exclude = existing
            .iter()
            .filter_map(|c| URL_SAFE_NO_PAD.decode(&c.credential_id).ok())
            .collect();
        let (rp, _) = self.relying_party(pool)?;
        let display = user
            .attributes
            .get("email")
            .or_else(|| user.attributes.get("name"))
            .unwrap_or(&user.username)
            .clone();
        let (options, state) = rp
            .start_passkey_registration(
                user_handle(&user.sub),
                &user.username,
                &display,
                Some(exclude),
            )
            .map_err(refused)?;
        let id = self.registration_id(&pool.id, &user.sub);
        let now = self.clock.now();
        self.store.take_session(&id).await?;
        self.store
            .insert_session(&AuthSession {
                id,
                pool_id: pool.id.clone(),
                client_id: client_id.to_owned(),
                sub: user.sub.clone(),
                challenge: REGISTRATION.into(),
                state: serde_json::to_string(&state).map_err(Error::internal)?,
                created_at: now,
                expires_at: now + REGISTRATION_TTL_SECS,
            })
            .await?;
        let mut options = serde_json::to_value(&options.public_key).map_err(Error::internal)?;
        // A discoverable credential where the authenticator can keep one
        // (webauthn-rs asks for none; Cognito requires one): the sign-in
        // here names the user first either way, and nothing is verified
        // about it.
        options["authenticatorSelection"]["residentKey"] = "preferred".into();
        Ok(options)
    }

    /// Finishes adding a passkey with the browser's answer (the pending
    /// registration is spent either way).
    pub(crate) async fn complete_passkey_registration_for(
        &self,
        pool: &Pool,
        user: &User,
        req: &CompletePasskey,
    ) -> Result<PasskeyView> {
        Self::require_passkeys(pool)?;
        let name = req.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
        if name.is_some_and(|n| n.chars().count() > 64 || n.chars().any(char::is_control)) {
            return Err(Error::invalid(
                "name must be at most 64 characters, without control characters",
            ));
        }
        let reg: RegisterPublicKeyCredential = serde_json::from_value(req.credential.clone())
            .map_err(|_| {
                Error::invalid(
                    "credential is not a WebAuthn registration response (PublicKeyCredential JSON)",
                )
            })?;
        let now = self.clock.now();
        let pending = self
            .store
            .take_session(&self.registration_id(&pool.id, &user.sub))
            .await?
            .filter(|s| s.challenge == REGISTRATION && s.sub == user.sub && s.expires_at > now)
            .ok_or_else(|| {
                Error::invalid("No passkey registration is pending (or it expired); start again")
            })?;
        let state: PasskeyRegistration =
            serde_json::from_str(&pending.state).map_err(Error::internal)?;
        let (rp, rp_id) = self.relying_party(pool)?;
        let passkey = rp
            .finish_passkey_registration(&reg, &state)
            .map_err(refused)?;
        let transports = req.credential["response"]["transports"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str())
                    .filter(|t| TRANSPORTS.contains(t))
                    .map(str::to_owned)
                    .take(8)
                    .collect()
            })
            .unwrap_or_default();
        let attachment = req.credential["authenticatorAttachment"]
            .as_str()
            .filter(|a| matches!(*a, "platform" | "cross-platform"))
            .map(str::to_owned);
        let credential = WebAuthnCredential {
            pool_id: pool.id.clone(),
            credential_id: URL_SAFE_NO_PAD.encode(passkey.cred_id()),
            sub: user.sub.clone(),
            name: name.map(str::to_owned),
            passkey: serde_json::to_string(&passkey).map_err(Error::internal)?,
            sign_count: 0,
            transports,
            attachment,
            created_at: now,
            last_used_at: None,
        };
        if !self.store.insert_webauthn_credential(&credential).await? {
            return Err(Error::new(
                ErrorKind::Conflict,
                "This passkey is already registered",
            ));
        }
        tracing::info!(pool_id = %pool.id, sub = %user.sub, "passkey added");
        self.notify(pool, user, "A passkey was added to your account.")
            .await;
        Ok(view(&rp_id, &credential))
    }

    pub(crate) async fn passkeys_of(&self, pool: &Pool, user: &User) -> Result<Vec<PasskeyView>> {
        let rp_id = self
            .relying_party(pool)
            .map(|(_, id)| id)
            .unwrap_or_default();
        Ok(self
            .store
            .webauthn_credentials_of(&pool.id, &user.sub)
            .await?
            .iter()
            .map(|c| view(&rp_id, c))
            .collect())
    }

    pub(crate) async fn delete_passkey_of(
        &self,
        pool: &Pool,
        user: &User,
        credential_id: &str,
    ) -> Result<()> {
        if credential_id.is_empty() || credential_id.len() > 1400 {
            return Err(Error::not_found("passkey"));
        }
        if !self
            .store
            .delete_webauthn_credential(&pool.id, &user.sub, credential_id)
            .await?
        {
            return Err(Error::not_found("passkey"));
        }
        self.notify(pool, user, "A passkey was removed from your account.")
            .await;
        Ok(())
    }

    /// `POST /v1/me/passkeys/registration` (M3: after a recent sign-in).
    pub async fn start_passkey_registration(
        &self,
        who: &Authenticated,
    ) -> Result<serde_json::Value> {
        self.require_recent_sign_in(who)?;
        self.start_passkey_registration_for(&who.pool, &who.user, &who.claims.client_id)
            .await
    }

    /// `POST /v1/me/passkeys`.
    pub async fn complete_passkey_registration(
        &self,
        who: &Authenticated,
        req: CompletePasskey,
    ) -> Result<PasskeyView> {
        self.require_recent_sign_in(who)?;
        self.complete_passkey_registration_for(&who.pool, &who.user, &req)
            .await
    }

    /// `GET /v1/me/passkeys`.
    pub async fn list_passkeys(&self, who: &Authenticated) -> Result<Vec<PasskeyView>> {
        self.passkeys_of(&who.pool, &who.user).await
    }

    /// `DELETE /v1/me/passkeys/{credential_id}`.
    pub async fn delete_passkey(&self, who: &Authenticated, credential_id: &str) -> Result<()> {
        self.delete_passkey_of(&who.pool, &who.user, credential_id)
            .await
    }

    /// The admin's view of a user's passkeys.
    pub async fn admin_list_passkeys(
        &self,
        pool_id: &str,
        username: &str,
    ) -> Result<Vec<PasskeyView>> {
        let pool = self.pool(pool_id).await?;
        let user = self.admin_user(&pool, username).await?;
        self.passkeys_of(&pool, &user).await
    }

    /// An admin removes a user's passkey (a lost device).
    pub async fn admin_delete_passkey(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        username: &str,
        credential_id: &str,
    ) -> Result<()> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "AdminDeletePasskey",
                Target::user(pool_id, username).object("passkey", credential_id),
                self.admin_delete_passkey_flow(pool_id, username, credential_id),
            )
            .await
    }

    async fn admin_delete_passkey_flow(
        &self,
        pool_id: &str,
        username: &str,
        credential_id: &str,
    ) -> Result<()> {
        let pool = self.pool(pool_id).await?;
        let user = self.admin_user(&pool, username).await?;
        self.delete_passkey_of(&pool, &user, credential_id).await
    }

    async fn admin_user(&self, pool: &Pool, username: &str) -> Result<User> {
        self.find_user(pool, username)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::UserNotFound, "User does not exist."))
    }

    /// The user's stored passkeys, parsed.
    async fn passkeys_for_sign_in(&self, pool: &Pool, user: &User) -> Result<Vec<Passkey>> {
        Ok(self
            .store
            .webauthn_credentials_of(&pool.id, &user.sub)
            .await?
            .iter()
            .filter_map(|c| serde_json::from_str(&c.passkey).ok())
            .collect())
    }

    /// Whether the user has a passkey (for the second-factor choice).
    pub(crate) async fn has_passkey(&self, pool: &Pool, user: &User) -> Result<bool> {
        Ok(!self
            .store
            .webauthn_credentials_of(&pool.id, &user.sub)
            .await?
            .is_empty())
    }

    /// The `WEB_AUTHN` challenge: `CREDENTIAL_REQUEST_OPTIONS` for
    /// `navigator.credentials.get()`, as the only factor or after the
    /// password (the answer is checked the same way). A user without
    /// passkeys, or no user, gets look-alike options and no session.
    pub(crate) async fn passkey_challenge(
        &self,
        pool: &Pool,
        client: &AppClient,
        user: Option<&User>,
        name: &str,
    ) -> Result<Challenge> {
        let (rp, rp_id) = self.relying_party(pool)?;
        let passkeys = match user.filter(|u| u.enabled && u.status.signs_in()) {
            Some(u) => self.passkeys_for_sign_in(pool, u).await?,
            None => vec![],
        };
        let (options, session) = match (user, passkeys.is_empty()) {
            (Some(u), false) => {
                let (options, state) = rp
                    .start_passkey_authentication(&passkeys)
                    .map_err(refused)?;
                let state = serde_json::to_value(&state).map_err(Error::internal)?;
                let c = self
                    .start_challenge_with(pool, client, u, "WEB_AUTHN", state)
                    .await?;
                (
                    serde_json::to_value(&options.public_key).map_err(Error::internal)?,
                    c.session,
                )
            }
            _ => (
                self.look_alike_options(pool, &rp_id, name)?,
                random::token(),
            ),
        };
        let mut parameters = BTreeMap::new();
        parameters.insert("CREDENTIAL_REQUEST_OPTIONS".to_owned(), options.to_string());
        if let Some(u) = user {
            parameters.insert("USER_ID_FOR_SRP".to_owned(), u.username.clone());
        }
        Ok(Challenge {
            name: "WEB_AUTHN".into(),
            session,
            parameters,
        })
    }

    /// Request options for a name without passkeys: a fresh challenge and
    /// credential ids that are stable per name (webauthn-rs's generator,
    /// keyed from the master key).
    fn look_alike_options(
        &self,
        pool: &Pool,
        rp_id: &str,
        name: &str,
    ) -> Result<serde_json::Value> {
        use webauthn_rs::fake::{FakePasskeyDistribution, WebauthnFakeCredentialGenerator};
        let key = hex::decode(self.codes.mac_hex(&[b"webauthn-fake", pool.id.as_bytes()]))
            .map_err(Error::internal)?;
        let name = name.to_lowercase();
        let mut ids = WebauthnFakeCredentialGenerator::<FakePasskeyDistribution>::new(&key)
            .and_then(|g| g.generate(name.as_bytes()))
            .map_err(|e| Error::internal(anyhow::anyhow!("{e:?}")))?;
        if ids.is_empty() {
            // The generator gives some names none; a user offered this
            // challenge always has one.
            ids.push(
                hex::decode(self.codes.mac_hex(&[
                    b"webauthn-fake-id",
                    pool.id.as_bytes(),
                    name.as_bytes(),
                ]))
                .map_err(Error::internal)?,
            );
        }
        let allow: Vec<_> = ids
            .iter()
            .map(|id| serde_json::json!({"type": "public-key", "id": URL_SAFE_NO_PAD.encode(id)}))
            .collect();
        Ok(serde_json::json!({
            "challenge": URL_SAFE_NO_PAD.encode(random::bytes::<32>()),
            "timeout": 300000,
            "rpId": rp_id,
            "allowCredentials": allow,
            "userVerification": "required",
        }))
    }

    /// Checks the answer to a `WEB_AUTHN` challenge (the session already
    /// taken): the signature, the origin, user verification, and the
    /// counter moving forward (a clone's is refused). A failure counts
    /// toward the sign-in throttle.
    pub(crate) async fn check_passkey_answer(
        &self,
        pool: &Pool,
        user: &User,
        session: &AuthSession,
        responses: &BTreeMap<String, String>,
    ) -> Result<()> {
        let credential = responses
            .get("CREDENTIAL")
            .ok_or_else(|| Error::invalid("CREDENTIAL is required"))?;
        if credential.len() > 64 * 1024 {
            return Err(Error::invalid("CREDENTIAL is too large"));
        }
        let (throttle, source) = self.throttle_check(pool, Some(user)).await?;
        let result = self.verify_assertion(pool, user, session, credential).await;
        match &result {
            Err(e) if e.kind == ErrorKind::NotAuthorized => {
                self.record_signin_failure(pool, user, &source).await?;
            }
            Ok(()) => self.end_failure_run(pool, user, &throttle).await?,
            Err(_) => {}
        }
        result
    }

    async fn verify_assertion(
        &self,
        pool: &Pool,
        user: &User,
        session: &AuthSession,
        credential: &str,
    ) -> Result<()> {
        let answer: PublicKeyCredential = serde_json::from_str(credential).map_err(|_| {
            Error::invalid("CREDENTIAL is not a WebAuthn assertion (PublicKeyCredential JSON)")
        })?;
        let state: PasskeyAuthentication =
            serde_json::from_str(&session.state).map_err(Error::internal)?;
        let (rp, _) = self.relying_party(pool)?;
        let result = rp
            .finish_passkey_authentication(&answer, &state)
            .map_err(refused)?;
        let id = URL_SAFE_NO_PAD.encode(result.cred_id());
        let stored = self
            .store
            .webauthn_credentials_of(&pool.id, &user.sub)
            .await?
            .into_iter()
            .find(|c| c.credential_id == id)
            .ok_or_else(bad_credentials)?;
        let mut passkey: Passkey =
            serde_json::from_str(&stored.passkey).map_err(Error::internal)?;
        passkey.update_credential(&result);
        let json = serde_json::to_string(&passkey).map_err(Error::internal)?;
        if !self
            .store
            .use_webauthn_credential(
                &pool.id,
                &id,
                i64::from(result.counter()),
                &json,
                self.clock.now(),
            )
            .await?
        {
            tracing::warn!(pool_id = %pool.id, sub = %user.sub, credential_id = %id,
                "passkey counter did not move forward: possibly a cloned authenticator");
            return Err(Error::not_authorized(
                "The passkey was not accepted: its signature counter went backwards (a copied authenticator?)",
            ));
        }
        Ok(())
    }

    /// The `WEB_AUTHN` answer of a challenge session: the user is ready
    /// (a first factor's user must still be able to sign in).
    pub(crate) async fn answer_passkey(
        &self,
        pool: &Pool,
        user: User,
        session: &AuthSession,
        responses: &BTreeMap<String, String>,
    ) -> Result<Settled> {
        self.check_passkey_answer(pool, &user, session, responses)
            .await?;
        if !user.status.signs_in() {
            return Err(bad_credentials());
        }
        Ok(Settled::Ready(user))
    }

    /// The hosted sign-in page's "Sign in with a passkey": the pool must
    /// offer `WEB_AUTHN` as a first factor.
    pub async fn hosted_passkey_start(
        &self,
        pool_id: &str,
        client_id: &str,
        username: &str,
    ) -> Result<Challenge> {
        let work = async {
            let pool = self.pool(pool_id).await?;
            self.rate_limit(pool_id, super::limits::Action::SignIn)
                .await?;
            if !offers_passkey_sign_in(&pool) {
                return Err(Error::invalid("Passkey sign-in is not enabled here"));
            }
            let client = self.client(pool_id, client_id).await?;
            let user = self.find_user(&pool, username).await?;
            self.passkey_challenge(&pool, &client, user.as_ref(), username)
                .await
        };
        self.audited(
            pool_id,
            "InitiateAuth",
            Some(username),
            Some(client_id),
            work,
        )
        .await
    }

    /// The user of a hosted-pages session cookie, for the passkeys page:
    /// (pool, user, auth time).
    pub async fn hosted_session_user(
        &self,
        pool_id: &str,
        token: &str,
    ) -> Option<(std::sync::Arc<Pool>, User, i64)> {
        let (sub, auth_time) = self.login_session(pool_id, token).await?;
        let pool = self.pool(pool_id).await.ok()?;
        let user = self.store.get_user(pool_id, &sub).await.ok().flatten()?;
        Some((pool, user, auth_time))
    }

    /// Whether a hosted session is recent enough to change sign-in
    /// factors (M3).
    pub fn recent_enough(&self, auth_time: i64) -> bool {
        self.clock.now() - auth_time <= super::mfa::REAUTH_SECS
    }
}

/// Whether the pool offers passkeys as a first factor.
pub fn offers_passkey_sign_in(pool: &Pool) -> bool {
    pool.settings
        .first_auth_factors
        .iter()
        .any(|f| f == "WEB_AUTHN")
}

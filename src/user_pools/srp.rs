//! Cognito's SRP sign-in (`USER_SRP_AUTH` → `PASSWORD_VERIFIER`), on top of
//! the SRP arithmetic in `crate::crypto::srp`.
//!
//! The verifier {salt, v} is stored sealed under the master key (per user,
//! bound to pool and sub) at every password set, beside the argon2 hash,
//! which stays the primary credential: v is a fast SHA-256 derivation and
//! would be crackable offline if it leaked unsealed. Pools with `allow_srp`
//! off store none.
//!
//! The challenge's `SECRET_BLOCK` is an opaque random handle; the server's
//! state (A, b, B) lives sealed in a stored, single-use, client-bound auth
//! session that expires with the challenge. An unknown user gets a
//! challenge made from a per-user dummy verifier, so the answer to
//! `InitiateAuth` does not tell whether the user exists; the proof then
//! fails like a wrong password.

use super::UserPools;
use super::auth::{Challenge, PasswordUpgrade, SignInResult, bad_credentials};
use super::limits::Action;
use crate::crypto::srp;
use crate::crypto::{random, sha256_hex};
use crate::error::{Error, Result};
use crate::model::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use std::collections::BTreeMap;

/// How long a PASSWORD_VERIFIER challenge can be answered, seconds.
pub const SRP_CHALLENGE_TTL: i64 = 180;
/// Largest difference accepted between the client's TIMESTAMP and now.
pub const SRP_TIMESTAMP_SKEW: i64 = 300;

/// The part of a pool id after `_` (`us-east-1_AbC123` → `AbC123`), split
/// as Cognito's clients split it.
pub fn pool_suffix(pool_id: &str) -> &str {
    srp::pool_suffix(pool_id).unwrap_or(pool_id)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SrpState {
    a: String,
    b_secret: String,
    big_b: String,
    user_id: String,
}

impl UserPools {
    /// The sealed {salt ‖ v} for a password, or None when the pool does not
    /// allow SRP. `USER_ID_FOR_SRP` is the internal username (the sub in
    /// email/phone-as-username pools), which never changes.
    pub(crate) fn srp_record(&self, pool: &Pool, user: &User, password: &str) -> Option<Vec<u8>> {
        if !pool.settings.allow_srp {
            return None;
        }
        let salt = srp::new_salt();
        let v = srp::verifier(pool_suffix(&pool.id), &user.username, password, &salt);
        let mut plain = salt.to_vec();
        plain.extend_from_slice(&v);
        Some(
            self.srp_sealer
                .seal(&plain, srp_aad(&pool.id, &user.sub).as_bytes()),
        )
    }

    fn srp_open(&self, pool: &Pool, user: &User) -> Option<(Vec<u8>, Vec<u8>)> {
        let sealed = user.srp_sealed.as_ref()?;
        let plain = self
            .srp_sealer
            .open(sealed, srp_aad(&pool.id, &user.sub).as_bytes())
            .ok()?;
        (plain.len() > 16).then(|| (plain[..16].to_vec(), plain[16..].to_vec()))
    }

    /// InitiateAuth `USER_SRP_AUTH`: the PASSWORD_VERIFIER challenge.
    pub async fn start_srp(
        &self,
        pool_id: &str,
        client_id: &str,
        client_secret: &super::ClientProof,
        username: &str,
        srp_a: &str,
    ) -> Result<Challenge> {
        let pool = self.pool(pool_id).await?;
        self.rate_limit(pool_id, Action::SignIn).await?;
        let client = self
            .clients
            .authenticate_client(pool_id, client_id, client_secret)
            .await?;
        self.srp_challenge(&pool, &client, username, srp_a).await
    }

    /// The `PASSWORD_VERIFIER` challenge for a name and SRP_A (also the
    /// `PASSWORD_SRP` choice of `USER_AUTH`).
    pub(crate) async fn srp_challenge(
        &self,
        pool: &Pool,
        client: &AppClient,
        username: &str,
        srp_a: &str,
    ) -> Result<Challenge> {
        if !pool.settings.allow_srp || !client.allows_flow("ALLOW_USER_SRP_AUTH") {
            return Err(Error::invalid(
                "USER_SRP_AUTH flow not enabled for this client",
            ));
        }
        let a = srp::parse_a(srp_a).map_err(|_| Error::invalid("SRP_A is not a valid value"))?;
        let user = self.find_user(pool, username).await?;
        // A user without a verifier (unknown, imported, or SRP-less) gets a
        // dummy one, stable per name: the answer looks the same. It is
        // computed for every request, so both paths do the same work.
        let seed = self
            .srp_dummy
            .mac_hex(&[pool.id.as_bytes(), username.as_bytes()]);
        let dummy_salt = hex::decode(&seed[..32]).unwrap_or_default();
        let dummy_id = match &user {
            Some(u) => u.username.clone(),
            // A plausible internal id: a UUID in email/phone pools.
            None if !pool.settings.username_attributes.is_empty() => {
                uuid::Uuid::from_slice(&hex::decode(&seed[32..64]).unwrap_or_default())
                    .map(|u| u.to_string())
                    .unwrap_or_else(|_| username.to_owned())
            }
            None => super::Core::normalize_username(pool, username),
        };
        let dummy_v = srp::verifier(pool_suffix(&pool.id), &dummy_id, &seed, &dummy_salt);
        let (user_id, sub, salt, v) = match user.as_ref().and_then(|u| {
            self.srp_open(pool, u)
                .map(|(salt, v)| (u.username.clone(), u.sub.clone(), salt, v))
        }) {
            Some(found) => found,
            None => (dummy_id, String::new(), dummy_salt, dummy_v),
        };
        let (b_secret, big_b) = srp::server_ephemeral(&v).map_err(Error::internal)?;
        let block = B64.encode(random::bytes::<48>());
        let id = sha256_hex(block.as_bytes());
        let state = serde_json::to_vec(&SrpState {
            a: hex::encode(&a),
            b_secret: hex::encode(&b_secret),
            big_b: big_b.clone(),
            user_id: user_id.clone(),
        })
        .map_err(Error::internal)?;
        let now = self.clock.now();
        // Sessions belong to users; an unknown user's challenge has none, and
        // its answer fails like a wrong password.
        if !sub.is_empty() {
            self.store
                .insert_session(&AuthSession {
                    id: id.clone(),
                    pool_id: pool.id.clone(),
                    client_id: client.id.clone(),
                    sub,
                    challenge: "PASSWORD_VERIFIER".into(),
                    state: B64.encode(self.srp_sealer.seal(&state, id.as_bytes())),
                    created_at: now,
                    expires_at: now + SRP_CHALLENGE_TTL,
                })
                .await?;
        }
        let mut parameters = BTreeMap::new();
        parameters.insert("SALT".into(), srp::salt_hex(&salt));
        parameters.insert("SRP_B".into(), big_b);
        parameters.insert("SECRET_BLOCK".into(), block);
        parameters.insert("USER_ID_FOR_SRP".into(), user_id.clone());
        parameters.insert("USERNAME".into(), user_id);
        Ok(Challenge {
            name: "PASSWORD_VERIFIER".into(),
            session: String::new(),
            parameters,
        })
    }

    /// RespondToAuthChallenge `PASSWORD_VERIFIER`: checks the proof (in
    /// constant time, once per secret block, within the timestamp window),
    /// then signs in as a password would.
    pub async fn answer_srp(
        &self,
        pool_id: &str,
        client_id: &str,
        client_secret: &super::ClientProof,
        responses: &BTreeMap<String, String>,
    ) -> Result<SignInResult> {
        self.audited(
            pool_id,
            "SignIn",
            responses.get("USERNAME").map(String::as_str),
            Some(client_id),
            self.answer_srp_flow(pool_id, client_id, client_secret, responses),
        )
        .await
    }

    async fn answer_srp_flow(
        &self,
        pool_id: &str,
        client_id: &str,
        client_secret: &super::ClientProof,
        responses: &BTreeMap<String, String>,
    ) -> Result<SignInResult> {
        let pool = self.pool(pool_id).await?;
        self.rate_limit(pool_id, Action::SignIn).await?;
        let client = self
            .clients
            .authenticate_client(pool_id, client_id, client_secret)
            .await?;
        let get = |k: &str| {
            responses
                .get(k)
                .map(String::as_str)
                .ok_or_else(|| Error::invalid(format!("{k} is required")))
        };
        let (block, claimed, timestamp) = (
            get("PASSWORD_CLAIM_SECRET_BLOCK")?,
            get("PASSWORD_CLAIM_SIGNATURE")?,
            get("TIMESTAMP")?,
        );
        if block.len() > 1024 || claimed.len() > 256 || timestamp.len() > 64 {
            return Err(bad_credentials());
        }
        let id = sha256_hex(block.as_bytes());
        // Single use: the first answer takes the session, right or wrong.
        let session = self
            .store
            .take_session(&id)
            .await?
            .filter(|s| {
                s.challenge == "PASSWORD_VERIFIER"
                    && s.pool_id == pool.id
                    && s.client_id == client.id
                    && s.expires_at > self.clock.now()
            })
            // Unknown user, replayed or expired block: the same refusal.
            .ok_or_else(bad_credentials)?;
        let ts = srp::parse_timestamp(timestamp)
            .ok_or_else(|| Error::invalid("TIMESTAMP is not in Cognito's format"))?;
        if (ts - self.clock.now()).abs() > SRP_TIMESTAMP_SKEW {
            return Err(Error::not_authorized("TIMESTAMP is out of range."));
        }
        let state: SrpState = B64
            .decode(&session.state)
            .ok()
            .and_then(|s| self.srp_sealer.open(&s, id.as_bytes()).ok())
            .and_then(|p| serde_json::from_slice(&p).ok())
            .ok_or_else(|| Error::not_authorized("Invalid session for the user."))?;
        let user = if session.sub.is_empty() {
            None
        } else {
            self.store.get_user(&pool.id, &session.sub).await?
        };
        let (throttle, source) = self.throttle_check(&pool, user.as_ref()).await?;
        let block_bytes = B64.decode(block).unwrap_or_default();
        let proof_ok = match user.as_ref().and_then(|u| self.srp_open(&pool, u)) {
            Some((_, v)) => {
                let a = hex::decode(&state.a).unwrap_or_default();
                let b = hex::decode(&state.b_secret).unwrap_or_default();
                srp::session_key(&a, &state.big_b, &b, &v)
                    .map(|key| {
                        srp::verify_signature(
                            &key,
                            pool_suffix(&pool.id),
                            &state.user_id,
                            &block_bytes,
                            timestamp,
                            claimed,
                        )
                    })
                    .unwrap_or(false)
            }
            None => false,
        };
        let user = match user {
            Some(u) if proof_ok => u,
            other => {
                if let Some(u) = &other {
                    self.record_signin_failure(&pool, u, &source).await?;
                }
                metrics::counter!("poolgate_signin_total", "outcome" => "failed").increment(1);
                return Err(bad_credentials());
            }
        };
        crate::audit::note_subject(&user.sub);
        self.finish_sign_in(
            &pool,
            &client,
            user,
            None,
            throttle,
            None::<PasswordUpgrade<'_>>,
        )
        .await
    }
}

fn srp_aad(pool_id: &str, sub: &str) -> String {
    format!("{pool_id}\n{sub}")
}

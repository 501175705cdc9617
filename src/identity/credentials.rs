//! Stateless storage credentials.
//!
//! The access key id is `ASIA` + the key generation (one base-32 digit) + 15
//! random base-32 characters. The secret access key is derived from the
//! access key id with HMAC under the generation's credential key, so no
//! store holds it. The session token is the generation byte plus an
//! XChaCha20-Poly1305 blob of the grant (identity, pool, role, the sign-ins
//! behind it, issue time, expiry), bound to the access key id as associated
//! data; tampering with any byte, or moving a token to another key id,
//! fails authentication.
//!
//! The grant names the role but does not carry its policy: the gateway
//! evaluates the role's current policy, and checks that nothing the grant
//! rests on was revoked since (see `IdentityPools::check_session`). The
//! grant's format is versioned ([`GRANT_VERSION`]); an authentic token of
//! an older format opens as expired, so SDKs fetch new credentials.
//!
//! Rotation: raising `identity.credential_key_generation` starts minting
//! with the next key; the previous generation is still accepted so that
//! unexpired credentials (12 h at most) keep working. Keys are derived from
//! the master key, so every node has them without coordination.

use crate::crypto::{MasterKey, Sealer};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
pub use crate::model::MAX_GENERATION;

/// The grant format sealed now. Version 1 (up to 0.x of issue 8) carried
/// the role's policy as it was at issue time and nothing to revoke by.
pub const GRANT_VERSION: u8 = 2;

/// What a session token carries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// Always [`GRANT_VERSION`] when sealed here.
    pub v: u8,
    /// `${cognito-identity.amazonaws.com:sub}`.
    pub identity_id: String,
    /// `${cognito-identity.amazonaws.com:aud}`.
    pub identity_pool_id: String,
    /// `authenticated` or `unauthenticated`.
    pub amr: String,
    /// The role's name; its policy is looked up when the token is used.
    pub role: String,
    /// The role's creation time: a role deleted and created again under
    /// the same name does not honour the old role's sessions (AWS binds a
    /// role session to the role's unique id, not to its name).
    pub role_created_at: i64,
    /// The identity's credentials epoch at issue (moved on by an unlink).
    pub epoch: i64,
    /// The user-pool sign-ins whose ID tokens were presented (none for
    /// guests and external providers).
    pub sign_ins: Vec<SignInRef>,
    pub issued_at: i64,
    pub expires_at: i64,
}

/// A user-pool sign-in behind credentials: revoked when its refresh-token
/// family is (sign-out, global sign-out, disable, password reset), when
/// the user is deleted or disabled, or when the app client is deleted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields)]
pub struct SignInRef {
    pub pool_id: String,
    pub sub: String,
    pub client_id: String,
    /// The ID token's `origin_jti`: the refresh-token family of the sign-in.
    pub family: String,
}

/// Minted credentials, in the native API's names.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// Unix seconds.
    pub expiration: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    Invalid,
    Expired,
}

struct Generation {
    sealer: Sealer,
    secret_key: [u8; 32],
}

pub struct Minter {
    current: u8,
    /// Index = generation; only `current` and `current - 1` are kept.
    generations: Vec<Option<Generation>>,
}

impl Minter {
    pub fn new(master: &MasterKey, current: u8) -> Self {
        let current = current.min(MAX_GENERATION);
        let mut generations: Vec<Option<Generation>> = (0..=MAX_GENERATION).map(|_| None).collect();
        for g in [current.checked_sub(1), Some(current)]
            .into_iter()
            .flatten()
        {
            generations[g as usize] = Some(Generation {
                sealer: Sealer::new(master, &format!("poolgate/credentials/{g}/session")),
                secret_key: master.derive(&format!("poolgate/credentials/{g}/secret")),
            });
        }
        Self {
            current,
            generations,
        }
    }

    fn generation_of(&self, access_key_id: &str) -> Option<(u8, &Generation)> {
        let b = access_key_id.as_bytes();
        if b.len() != 20 || !access_key_id.starts_with("ASIA") {
            return None;
        }
        let g = BASE32.iter().position(|c| *c == b[4])? as u8;
        self.generations
            .get(g as usize)?
            .as_ref()
            .map(|gen_| (g, gen_))
    }

    /// The secret of an access key id minted here, or None.
    pub fn secret_for(&self, access_key_id: &str) -> Option<String> {
        let (_, g) = self.generation_of(access_key_id)?;
        if !access_key_id[5..].bytes().all(|c| BASE32.contains(&c)) {
            return None;
        }
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&g.secret_key)
            .expect("any key length");
        mac.update(access_key_id.as_bytes());
        let out = mac.finalize().into_bytes();
        // 40 characters, like AWS secrets.
        Some(base64::engine::general_purpose::STANDARD.encode(out)[..40].to_owned())
    }

    /// Mints credentials for a grant.
    pub fn mint(&self, grant: &Grant) -> Credentials {
        let random = crate::crypto::random::bytes::<15>();
        let mut id = String::from("ASIA");
        id.push(BASE32[self.current as usize] as char);
        id.extend(random.iter().map(|b| BASE32[(b & 31) as usize] as char));
        let g = self.generations[self.current as usize]
            .as_ref()
            .expect("the current generation exists");
        let plain = serde_json::to_vec(grant).expect("a grant serialises");
        let mut blob = vec![self.current];
        blob.extend(g.sealer.seal(&plain, id.as_bytes()));
        Credentials {
            secret_access_key: self.secret_for(&id).expect("just minted"),
            access_key_id: id,
            session_token: URL_SAFE_NO_PAD.encode(blob),
            expiration: grant.expires_at,
        }
    }

    /// Opens a session token for its access key id and checks its expiry.
    pub fn open(&self, access_key_id: &str, token: &str, now: i64) -> Result<Grant, Problem> {
        if token.len() > 16 * 1024 {
            return Err(Problem::Invalid);
        }
        let (g_id, g) = self.generation_of(access_key_id).ok_or(Problem::Invalid)?;
        let blob = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| Problem::Invalid)?;
        if blob.first() != Some(&g_id) {
            return Err(Problem::Invalid);
        }
        let plain = g
            .sealer
            .open(&blob[1..], access_key_id.as_bytes())
            .map_err(|_| Problem::Invalid)?;
        #[derive(Deserialize)]
        struct Version {
            #[serde(default)]
            v: u8,
        }
        let version: Version = serde_json::from_slice(&plain).map_err(|_| Problem::Invalid)?;
        if version.v != GRANT_VERSION {
            // Sealed by this server under an older format: authentic, but
            // carrying nothing to check revocation by. Expired, so SDKs
            // fetch new credentials instead of failing for good.
            return Err(Problem::Expired);
        }
        let grant: Grant = serde_json::from_slice(&plain).map_err(|_| Problem::Invalid)?;
        if grant.expires_at <= now {
            return Err(Problem::Expired);
        }
        Ok(grant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(exp: i64) -> Grant {
        Grant {
            v: GRANT_VERSION,
            identity_id: "local-east-1:abc".into(),
            identity_pool_id: "local-east-1:pool".into(),
            amr: "authenticated".into(),
            role: "reader".into(),
            role_created_at: 10,
            epoch: 0,
            sign_ins: vec![SignInRef {
                pool_id: "local-east-1_AAAAAAAAA".into(),
                sub: "s".into(),
                client_id: "c".into(),
                family: "f".into(),
            }],
            issued_at: 100,
            expires_at: exp,
        }
    }

    #[test]
    fn minted_credentials_open_and_their_secret_is_derived() {
        let m = Minter::new(&MasterKey::generate(), 0);
        let c = m.mint(&grant(2000));
        assert!(c.access_key_id.starts_with("ASIAA") && c.access_key_id.len() == 20);
        assert_eq!(c.secret_access_key.len(), 40);
        assert_eq!(m.secret_for(&c.access_key_id).unwrap(), c.secret_access_key);
        assert_eq!(
            m.open(&c.access_key_id, &c.session_token, 1000),
            Ok(grant(2000))
        );
        assert_eq!(
            m.open(&c.access_key_id, &c.session_token, 2000),
            Err(Problem::Expired)
        );
    }

    #[test]
    fn tampered_moved_or_foreign_tokens_fail() {
        let master = MasterKey::generate();
        let m = Minter::new(&master, 0);
        let a = m.mint(&grant(2000));
        let b = m.mint(&grant(2000));
        // Another access key id's token.
        assert_eq!(
            m.open(&a.access_key_id, &b.session_token, 1),
            Err(Problem::Invalid)
        );
        // One flipped character.
        let mut t: Vec<char> = a.session_token.chars().collect();
        let i = t.len() / 2;
        t[i] = if t[i] == 'A' { 'B' } else { 'A' };
        let t: String = t.into_iter().collect();
        assert_eq!(m.open(&a.access_key_id, &t, 1), Err(Problem::Invalid));
        // Another server's master key.
        let other = Minter::new(&MasterKey::generate(), 0);
        assert_eq!(
            other.open(&a.access_key_id, &a.session_token, 1),
            Err(Problem::Invalid)
        );
        assert_ne!(
            other.secret_for(&a.access_key_id),
            m.secret_for(&a.access_key_id)
        );
        assert_eq!(m.secret_for("AKIAIOSFODNN7EXAMPLE"), None);
        assert_eq!(m.open("ASIA", "", 1), Err(Problem::Invalid));
    }

    #[test]
    fn rotation_keeps_the_previous_generation_until_the_next() {
        let master = MasterKey::generate();
        let old = Minter::new(&master, 3).mint(&grant(2000));
        let next = Minter::new(&master, 4);
        assert_eq!(
            next.open(&old.access_key_id, &old.session_token, 1),
            Ok(grant(2000))
        );
        assert!(next.mint(&grant(2000)).access_key_id.starts_with("ASIAE"));
        let later = Minter::new(&master, 5);
        assert_eq!(
            later.open(&old.access_key_id, &old.session_token, 1),
            Err(Problem::Invalid)
        );
        assert_eq!(later.secret_for(&old.access_key_id), None);
    }

    #[test]
    fn i3_tokens_of_the_old_grant_format_open_as_expired() {
        // A version-1 grant (the policy inside, no version), sealed with
        // this server's key: authentic, but nothing to check revocation by.
        let m = Minter::new(&MasterKey::generate(), 0);
        let c = m.mint(&grant(2000));
        let g = m.generations[0].as_ref().unwrap();
        let old = serde_json::json!({
            "identity_id": "local-east-1:abc", "identity_pool_id": "local-east-1:pool",
            "amr": "authenticated", "role": "reader",
            "policy": {"Version": "2012-10-17", "Statement": []}, "expires_at": 2000});
        let mut blob = vec![0u8];
        blob.extend(g.sealer.seal(
            &serde_json::to_vec(&old).unwrap(),
            c.access_key_id.as_bytes(),
        ));
        let token = URL_SAFE_NO_PAD.encode(blob);
        assert_eq!(m.open(&c.access_key_id, &token, 1), Err(Problem::Expired));
    }
}

//! JWT signing keys: generation (aws-lc-rs), sealing at rest, the per-pool key
//! ring with its JWKS, signing and verification with the algorithm pinned to
//! the key.
//!
//! Rotation: a new key is stored `pending` and published in the JWKS at once,
//! but only signs after `PUBLISH_DELAY` (so every node and every client cache
//! has seen it first). The keys it replaces stay published, and valid, until
//! `retire_after` — past the longest token they can have signed.

use super::{Sealer, random};
use crate::clock::SharedClock;
use crate::error::{Error, Result};
use crate::model::{SigningAlg, SigningKeyRecord};
use crate::store::SharedStore;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// How long a new key is published before it signs.
pub const PUBLISH_DELAY: i64 = 60;
/// How long the key ring trusts its cache before looking at the store again.
const CACHE_TTL: i64 = 10;
/// Longest token lifetime a key may have signed (ID/access max 1 day).
const MAX_TOKEN_LIFETIME: i64 = 86_400;

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

pub struct SigningKey {
    pub kid: String,
    pub alg: SigningAlg,
    pair: Pair,
    decoding: DecodingKey,
    pub jwk: serde_json::Value,
    pub created_at: i64,
    pub status: String,
    pub retire_after: Option<i64>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, {})", self.kid, self.alg.as_str())
    }
}

fn aad(pool_id: &str, kid: &str) -> Vec<u8> {
    format!("signing-key:{pool_id}:{kid}").into_bytes()
}

impl SigningKey {
    fn from_pkcs8(
        kid: &str,
        alg: SigningAlg,
        der: &[u8],
        created_at: i64,
        status: &str,
        retire_after: Option<i64>,
    ) -> anyhow::Result<Self> {
        let (pair, decoding, jwk) = match alg {
            SigningAlg::RS256 => {
                let kp =
                    RsaKeyPair::from_pkcs8(der).map_err(|e| anyhow::anyhow!("rsa key: {e}"))?;
                let public = kp.public_key();
                let n = public.modulus().big_endian_without_leading_zero().to_vec();
                let e = public.exponent().big_endian_without_leading_zero().to_vec();
                let jwk = serde_json::json!({
                    "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                    "n": B64.encode(&n), "e": B64.encode(&e),
                });
                (
                    Pair::Rsa(kp),
                    DecodingKey::from_rsa_raw_components(&n, &e),
                    jwk,
                )
            }
            SigningAlg::ES256 => {
                let kp = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(|e| anyhow::anyhow!("ec key: {e}"))?;
                let point = kp.public_key().as_ref().to_vec(); // 0x04 ‖ x ‖ y
                anyhow::ensure!(point.len() == 65 && point[0] == 4, "unexpected EC point");
                let (x, y) = (B64.encode(&point[1..33]), B64.encode(&point[33..]));
                let decoding = DecodingKey::from_ec_components(&x, &y)?;
                let jwk = serde_json::json!({
                    "kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256", "x": x, "y": y,
                });
                (Pair::Ec(kp), decoding, jwk)
            }
        };
        Ok(Self {
            kid: kid.to_owned(),
            alg,
            pair,
            decoding,
            jwk,
            created_at,
            status: status.to_owned(),
            retire_after,
        })
    }

    /// Generates a key and the record that stores it sealed.
    pub fn generate(
        pool_id: &str,
        alg: SigningAlg,
        status: &str,
        sealer: &Sealer,
        now: i64,
    ) -> anyhow::Result<(SigningKeyRecord, Self)> {
        let der = match alg {
            SigningAlg::RS256 => {
                let kp = RsaKeyPair::generate(KeySize::Rsa2048)
                    .map_err(|_| anyhow::anyhow!("rsa keygen failed"))?;
                use aws_lc_rs::encoding::AsDer;
                kp.as_der()
                    .map_err(|_| anyhow::anyhow!("rsa pkcs8 encoding failed"))?
                    .as_ref()
                    .to_vec()
            }
            SigningAlg::ES256 => EcdsaKeyPair::generate_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &SystemRandom::new(),
            )
            .map_err(|_| anyhow::anyhow!("ec keygen failed"))?
            .as_ref()
            .to_vec(),
        };
        let kid = random::token()[..22].to_owned();
        let key = Self::from_pkcs8(&kid, alg, &der, now, status, None)?;
        let record = SigningKeyRecord {
            kid: kid.clone(),
            pool_id: pool_id.to_owned(),
            alg,
            private_sealed: sealer.seal(&der, &aad(pool_id, &kid)),
            public_jwk: key.jwk.to_string(),
            status: status.to_owned(),
            created_at: now,
            retire_after: None,
        };
        Ok((record, key))
    }

    pub fn load(record: &SigningKeyRecord, sealer: &Sealer) -> anyhow::Result<Self> {
        let der = sealer.open(&record.private_sealed, &aad(&record.pool_id, &record.kid))?;
        Self::from_pkcs8(
            &record.kid,
            record.alg,
            &der,
            record.created_at,
            &record.status,
            record.retire_after,
        )
    }

    /// Signs `claims` as a compact JWS.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String> {
        let header = serde_json::json!({ "kid": self.kid, "alg": self.alg.as_str(), "typ": "JWT" });
        let mut msg = B64.encode(serde_json::to_vec(&header).map_err(Error::internal)?);
        msg.push('.');
        msg.push_str(&B64.encode(serde_json::to_vec(claims).map_err(Error::internal)?));
        let rng = SystemRandom::new();
        let sig = match &self.pair {
            Pair::Rsa(kp) => {
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(&signature::RSA_PKCS1_SHA256, &rng, msg.as_bytes(), &mut sig)
                    .map_err(|_| Error::internal(anyhow::anyhow!("rsa signing failed")))?;
                sig
            }
            Pair::Ec(kp) => kp
                .sign(&rng, msg.as_bytes())
                .map_err(|_| Error::internal(anyhow::anyhow!("ec signing failed")))?
                .as_ref()
                .to_vec(),
        };
        msg.push('.');
        msg.push_str(&B64.encode(sig));
        Ok(msg)
    }

    fn algorithm(&self) -> Algorithm {
        match self.alg {
            SigningAlg::RS256 => Algorithm::RS256,
            SigningAlg::ES256 => Algorithm::ES256,
        }
    }
}

/// The keys of one pool as of one load.
pub struct PoolKeys {
    pub keys: Vec<Arc<SigningKey>>,
    loaded_at: i64,
}

impl PoolKeys {
    /// Keys published in the JWKS (and accepted when verifying).
    pub fn published(&self, now: i64) -> impl Iterator<Item = &Arc<SigningKey>> {
        self.keys
            .iter()
            .filter(move |k| k.retire_after.is_none_or(|t| now < t))
    }
    /// The key that signs now: the newest key that is ready — active, or
    /// pending past its publication delay. A retiring key keeps signing until
    /// its successor is ready.
    pub fn signing(&self, now: i64) -> Option<&Arc<SigningKey>> {
        self.published(now)
            .filter(|k| {
                k.status == "active"
                    || (k.status == "pending" && k.created_at + PUBLISH_DELAY <= now)
            })
            // Rotation marks the keys it replaces as retiring: a ready
            // successor wins over them whatever the clock's resolution.
            .max_by_key(|k| (k.retire_after.is_none(), k.created_at, k.kid.clone()))
    }
    pub fn jwks(&self, now: i64) -> serde_json::Value {
        serde_json::json!({ "keys": self.published(now).map(|k| k.jwk.clone()).collect::<Vec<_>>() })
    }
}

/// Per-pool signing keys, cached with a short TTL so that every node sees a
/// key created or rotated by another within seconds.
pub struct KeyRing {
    store: SharedStore,
    sealer: Sealer,
    clock: SharedClock,
    cache: RwLock<HashMap<String, Arc<PoolKeys>>>,
}

/// Why a token was refused (kept internal; callers answer `NotAuthorized`).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("malformed token")]
    Malformed,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("invalid token: {0}")]
    Invalid(String),
}

impl KeyRing {
    pub fn new(store: SharedStore, sealer: Sealer, clock: SharedClock) -> Self {
        Self {
            store,
            sealer,
            clock,
            cache: RwLock::new(HashMap::new()),
        }
    }

    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// Creates the first key of a new pool.
    pub async fn create_initial(&self, pool_id: &str, alg: SigningAlg) -> Result<()> {
        let now = self.clock.now();
        let (record, _) = SigningKey::generate(pool_id, alg, "active", &self.sealer, now)
            .map_err(Error::internal)?;
        self.store.insert_key(&record).await?;
        self.invalidate(pool_id);
        Ok(())
    }

    /// Publishes a new key that starts signing after `PUBLISH_DELAY`; the
    /// current keys retire once every token they signed has expired.
    pub async fn rotate(&self, pool_id: &str, alg: SigningAlg) -> Result<String> {
        let now = self.clock.now();
        let (record, _) = SigningKey::generate(pool_id, alg, "pending", &self.sealer, now)
            .map_err(Error::internal)?;
        for old in self.store.list_keys(pool_id).await? {
            if old.retire_after.is_none() {
                self.store
                    .set_key_status(
                        &old.kid,
                        "active",
                        Some(now + PUBLISH_DELAY + MAX_TOKEN_LIFETIME + 60),
                    )
                    .await?;
            }
        }
        self.store.insert_key(&record).await?;
        self.invalidate(pool_id);
        Ok(record.kid)
    }

    pub fn invalidate(&self, pool_id: &str) {
        self.cache.write().expect("key cache lock").remove(pool_id);
    }

    pub async fn pool_keys(&self, pool_id: &str) -> Result<Arc<PoolKeys>> {
        self.pool_keys_inner(pool_id, false).await
    }

    async fn pool_keys_inner(&self, pool_id: &str, force: bool) -> Result<Arc<PoolKeys>> {
        let now = self.clock.now();
        if !force
            && let Some(k) = self.cache.read().expect("key cache lock").get(pool_id)
            && now - k.loaded_at < CACHE_TTL
        {
            return Ok(k.clone());
        }
        let records = self.store.list_keys(pool_id).await?;
        let mut keys = Vec::with_capacity(records.len());
        for r in &records {
            keys.push(Arc::new(
                SigningKey::load(r, &self.sealer).map_err(Error::internal)?,
            ));
        }
        let pk = Arc::new(PoolKeys {
            keys,
            loaded_at: now,
        });
        self.cache
            .write()
            .expect("key cache lock")
            .insert(pool_id.to_owned(), pk.clone());
        Ok(pk)
    }

    pub async fn signing_key(&self, pool_id: &str) -> Result<Arc<SigningKey>> {
        let now = self.clock.now();
        let pk = self.pool_keys(pool_id).await?;
        pk.signing(now)
            .cloned()
            .ok_or_else(|| Error::internal(anyhow::anyhow!("pool {pool_id} has no signing key")))
    }

    /// A self-signed X.509 certificate (DER, Base64) of the pool's signing
    /// key, as Cognito's GetSigningCertificate answers. The subject is the
    /// pool's issuer; the serial number and dates derive from the key, so the
    /// certificate names the same key every time.
    pub async fn signing_certificate(&self, pool_id: &str, issuer: &str) -> Result<String> {
        use base64::Engine;
        let key = self.signing_key(pool_id).await?;
        let record = self
            .store
            .list_keys(pool_id)
            .await?
            .into_iter()
            .find(|r| r.kid == key.kid)
            .ok_or_else(|| Error::internal(anyhow::anyhow!("signing key record missing")))?;
        let der = self
            .sealer
            .open(&record.private_sealed, &aad(pool_id, &record.kid))
            .map_err(Error::internal)?;
        let alg = match record.alg {
            SigningAlg::RS256 => &rcgen::PKCS_RSA_SHA256,
            SigningAlg::ES256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        };
        let pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
            &rustls_pki_types::PrivatePkcs8KeyDer::from(der.as_slice()),
            alg,
        )
        .map_err(|e| Error::internal(anyhow::anyhow!("certificate key: {e}")))?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
            .map_err(|e| Error::internal(anyhow::anyhow!("certificate params: {e}")))?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, issuer);
        let day = |t: i64| {
            time::OffsetDateTime::from_unix_timestamp(t.div_euclid(86400) * 86400)
                .map_err(|e| Error::internal(anyhow::anyhow!("certificate date: {e}")))
        };
        params.not_before = day(record.created_at)?;
        params.not_after = day(record.created_at + 10 * 365 * 86400)?;
        use sha2::Digest;
        let digest = sha2::Sha256::digest(record.kid.as_bytes());
        let mut serial = digest[..16].to_vec();
        serial[0] &= 0x7f; // a positive INTEGER
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        let cert = params
            .self_signed(&pair)
            .map_err(|e| Error::internal(anyhow::anyhow!("certificate: {e}")))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(cert.der()))
    }

    pub async fn jwks(&self, pool_id: &str) -> Result<serde_json::Value> {
        Ok(self.pool_keys(pool_id).await?.jwks(self.clock.now()))
    }

    /// Verifies a JWT signed by one of the pool's published keys: the `kid`
    /// picks the key, the key fixes the algorithm (so `none`, HS256 with a
    /// public key, or any other algorithm is refused), `iss` must match and
    /// `exp`/`nbf` hold within 30 s of skew, and `iat` is no later than 30 s
    /// ahead of now. Header members such as `jku`,
    /// `x5u` or an embedded `jwk` are ignored: keys come only from the store.
    pub async fn verify<T: DeserializeOwned>(
        &self,
        pool_id: &str,
        token: &str,
        issuer: &str,
    ) -> std::result::Result<T, VerifyError> {
        if token.len() > 16 * 1024 || token.split('.').count() != 3 {
            return Err(VerifyError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        let kid = header.kid.ok_or(VerifyError::UnknownKey)?;
        let now = self.clock.now();
        let find = |pk: &PoolKeys| pk.published(now).find(|k| k.kid == kid).cloned();
        let pk = self
            .pool_keys(pool_id)
            .await
            .map_err(|_| VerifyError::UnknownKey)?;
        let key = match find(&pk) {
            Some(k) => k,
            // A kid we have not seen may be a key another node just created.
            None if now - pk.loaded_at >= 1 => {
                let pk = self
                    .pool_keys_inner(pool_id, true)
                    .await
                    .map_err(|_| VerifyError::UnknownKey)?;
                find(&pk).ok_or(VerifyError::UnknownKey)?
            }
            None => return Err(VerifyError::UnknownKey),
        };
        if header.alg != key.algorithm() {
            return Err(VerifyError::Invalid(
                "algorithm not allowed for this key".into(),
            ));
        }
        let mut v = Validation::new(key.algorithm());
        v.leeway = 30;
        v.validate_nbf = true;
        v.validate_aud = false;
        v.set_issuer(&[issuer]);
        v.set_required_spec_claims(&["exp", "iss", "iat"]);
        // The library checks exp against the system clock; check ours too.
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key.decoding, &v)
            .map_err(|e| VerifyError::Invalid(e.to_string()))?;
        let exp = data.claims.get("exp").and_then(|v| v.as_i64()).unwrap_or(0);
        if exp + 30 < now {
            return Err(VerifyError::Invalid("expired".into()));
        }
        // A token issued in the future (beyond the same skew) was not
        // issued by a node with a sane clock: refused, not trusted longer.
        let iat = data.claims.get("iat").and_then(|v| v.as_i64());
        if iat.is_none_or(|iat| iat > now + 30) {
            return Err(VerifyError::Invalid("issued in the future".into()));
        }
        serde_json::from_value(data.claims).map_err(|e| VerifyError::Invalid(e.to_string()))
    }
}

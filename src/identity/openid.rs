//! This server's OpenID tokens for identities (GetOpenIdToken): ES256 with
//! a key derived from the master key per credential-key generation, so every
//! node signs and verifies alike with nothing stored. The JWKS is published
//! at `{public_url}/v1/identity-pools/.well-known/jwks.json`.

use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

pub struct OpenIdSigner {
    pub issuer: String,
    pub kid: String,
    pub jwk: Value,
    key: EcdsaKeyPair,
    decoding: DecodingKey,
}

/// A P-256 private key (RFC 5915 DER) from 32 derived bytes; the public key
/// is computed from it.
fn key_from(seed: &[u8; 32]) -> Option<EcdsaKeyPair> {
    let mut der = vec![0x30, 0x31, 0x02, 0x01, 0x01, 0x04, 0x20];
    der.extend_from_slice(seed);
    der.extend_from_slice(&[
        0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
    ]);
    EcdsaKeyPair::from_private_key_der(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &der).ok()
}

impl OpenIdSigner {
    pub fn new(master: &crate::crypto::MasterKey, generation: u8, issuer: String) -> Self {
        // A 32-byte string is a valid scalar but for ~2^-32 of values; try
        // the next derivation then.
        let key = (0u32..)
            .find_map(|i| {
                key_from(&master.derive(&format!("poolgate/identity-openid/{generation}/{i}")))
            })
            .expect("a P-256 key");
        let point = key.public_key().as_ref().to_vec();
        let (x, y) = (B64.encode(&point[1..33]), B64.encode(&point[33..]));
        let kid = format!("identity-{generation}");
        let decoding = DecodingKey::from_ec_components(&x, &y).expect("a P-256 public key");
        let jwk = serde_json::json!({
            "kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256", "x": x, "y": y,
        });
        Self {
            issuer,
            kid,
            jwk,
            key,
            decoding,
        }
    }

    pub fn sign(&self, claims: &Value) -> String {
        let header = B64
            .encode(serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": self.kid}).to_string());
        let input = format!("{header}.{}", B64.encode(claims.to_string()));
        let sig = self
            .key
            .sign(&aws_lc_rs::rand::SystemRandom::new(), input.as_bytes())
            .expect("ECDSA signing");
        format!("{input}.{}", B64.encode(sig.as_ref()))
    }

    /// Verifies one of our OpenID tokens for identity pool `aud`.
    pub fn verify(&self, token: &str, aud: &str, now: i64) -> anyhow::Result<Value> {
        if token.len() > 16 * 1024 {
            anyhow::bail!("token too long");
        }
        let header = jsonwebtoken::decode_header(token)?;
        if header.alg != Algorithm::ES256 || header.kid.as_deref() != Some(self.kid.as_str()) {
            anyhow::bail!("unknown key or algorithm");
        }
        let mut v = Validation::new(Algorithm::ES256);
        v.leeway = 30;
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[aud]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Value>(token, &self.decoding, &v)?;
        let exp = data.claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
        if exp + 30 < now {
            anyhow::bail!("expired");
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_for_their_audience_only_and_keys_are_stable_per_generation() {
        let master = crate::crypto::MasterKey::generate();
        let s = OpenIdSigner::new(&master, 0, "http://x/v1/identity-pools".into());
        let now = crate::clock::Clock::now(&crate::clock::SystemClock);
        let t = s.sign(
            &serde_json::json!({"iss": s.issuer, "sub": "id-1", "aud": "pool-a",
            "iat": now, "exp": now + 600}),
        );
        assert_eq!(s.verify(&t, "pool-a", now).unwrap()["sub"], "id-1");
        assert!(s.verify(&t, "pool-b", now).is_err());
        let same = OpenIdSigner::new(&master, 0, "http://x/v1/identity-pools".into());
        assert_eq!(same.jwk, s.jwk);
        assert!(same.verify(&t, "pool-a", now).is_ok());
        let next = OpenIdSigner::new(&master, 1, "http://x/v1/identity-pools".into());
        assert_ne!(next.jwk, s.jwk);
        assert!(next.verify(&t, "pool-a", now).is_err());
    }
}

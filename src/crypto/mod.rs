//! All key material lives here: the master key and what is derived from it
//! (sealing of secrets at rest, keyed code hashes), password hashing, signing
//! keys, and random identifiers.

pub mod keys;
pub mod legacy;
pub mod password;
pub mod random;
pub mod srp;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

type HmacSha256 = Hmac<Sha256>;

/// A string that must not be logged: `Debug` prints `[REDACTED]` and the value
/// is zeroed on drop.
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop, serde::Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl serde::Serialize for SecretString {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[REDACTED]")
    }
}

/// The 256-bit master key. Everything secret at rest is sealed under keys
/// derived from it with HKDF, one per purpose.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterKey([u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([REDACTED])")
    }
}

impl MasterKey {
    pub fn from_hex(s: &str) -> anyhow::Result<Self> {
        let bytes = hex::decode(s.trim())
            .map_err(|_| anyhow::anyhow!("master key must be 64 hex characters"))?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("master key must be 64 hex characters (32 bytes)"))?;
        Ok(Self(arr))
    }
    pub fn generate() -> Self {
        Self(random::bytes::<32>())
    }
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
    /// A derived 32-byte key for `purpose`.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let hk = hkdf::Hkdf::<Sha256>::new(Some(b"poolgate/v1"), &self.0);
        let mut out = [0u8; 32];
        hk.expand(purpose.as_bytes(), &mut out)
            .expect("32 bytes is a valid HKDF length");
        out
    }
    /// A public fingerprint, stored in the database so that a node started
    /// with another master key refuses to run instead of failing later.
    pub fn fingerprint(&self) -> String {
        hex::encode(&self.derive("poolgate/fingerprint")[..16])
    }
}

/// XChaCha20-Poly1305 sealing with random 192-bit nonces. Output:
/// `0x01 ‖ nonce(24) ‖ ciphertext+tag`. The associated data binds a sealed
/// blob to its place (e.g. the key id or the client id).
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer")
    }
}

const SEAL_VERSION: u8 = 1;

impl Sealer {
    pub fn new(master: &MasterKey, purpose: &str) -> Self {
        let key = master.derive(purpose);
        Self {
            cipher: XChaCha20Poly1305::new_from_slice(&key).expect("32-byte key"),
        }
    }
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let nonce_bytes = random::bytes::<24>();
        let nonce = XNonce::try_from(&nonce_bytes[..]).expect("24-byte nonce");
        let ct = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("encryption cannot fail for in-memory buffers");
        let mut out = Vec::with_capacity(1 + 24 + ct.len());
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ct);
        out
    }
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> anyhow::Result<Vec<u8>> {
        if sealed.len() < 1 + 24 + 16 || sealed[0] != SEAL_VERSION {
            anyhow::bail!("sealed blob malformed");
        }
        let nonce = XNonce::try_from(&sealed[1..25]).map_err(|_| anyhow::anyhow!("bad nonce"))?;
        self.cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: &sealed[25..],
                    aad,
                },
            )
            .map_err(|_| anyhow::anyhow!("sealed blob failed authentication"))
    }
}

/// HMAC-SHA256 under a derived key, hex-encoded. Used for one-time codes:
/// a plain hash of a 6-digit code would be reversed by trying a million
/// values, a keyed one needs the master key too.
#[derive(Clone)]
pub struct Keyed {
    key: [u8; 32],
}

impl Keyed {
    pub fn new(master: &MasterKey, purpose: &str) -> Self {
        Self {
            key: master.derive(purpose),
        }
    }
    pub fn mac_hex(&self, parts: &[&[u8]]) -> String {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.key).expect("any key length");
        for p in parts {
            mac.update(&(p.len() as u32).to_be_bytes());
            mac.update(p);
        }
        hex::encode(mac.finalize().into_bytes())
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Constant-time equality for secrets.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_blobs_open_only_with_their_aad_and_key() {
        let mk = MasterKey::generate();
        let s = Sealer::new(&mk, "test");
        let blob = s.seal(b"secret", b"kid-1");
        assert_eq!(s.open(&blob, b"kid-1").unwrap(), b"secret");
        assert!(s.open(&blob, b"kid-2").is_err());
        assert!(Sealer::new(&mk, "other").open(&blob, b"kid-1").is_err());
        assert!(
            Sealer::new(&MasterKey::generate(), "test")
                .open(&blob, b"kid-1")
                .is_err()
        );
        let mut tampered = blob.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(s.open(&tampered, b"kid-1").is_err());
    }

    #[test]
    fn secret_strings_do_not_print() {
        let s = SecretString::new("hunter2");
        assert_eq!(format!("{s:?}"), "[REDACTED]");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"[REDACTED]\"");
    }
}

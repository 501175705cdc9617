//! Identifiers and secrets from the OS CSPRNG, in Cognito's formats.

use base64::Engine;
use rand::Rng;
use rand::TryRngCore;
use rand::rngs::OsRng;

pub fn bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    OsRng
        .try_fill_bytes(&mut b)
        .expect("OS random source available");
    b
}

const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn pick(alphabet: &[u8], n: usize) -> String {
    let mut rng = OsRng.unwrap_err();
    (0..n)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// `{region}_{9 alphanumerics}`.
pub fn pool_id(region: &str) -> String {
    format!("{region}_{}", pick(ALNUM, 9))
}

/// 26 lower-case alphanumerics.
pub fn client_id() -> String {
    pick(LOWER_ALNUM, 26)
}

/// 51 lower-case alphanumerics (~263 bits).
pub fn client_secret() -> String {
    pick(LOWER_ALNUM, 51)
}

/// 6 decimal digits, uniform.
pub fn code() -> String {
    let mut rng = OsRng.unwrap_err();
    format!("{:06}", rng.random_range(0..1_000_000u32))
}

/// 256-bit opaque token, base64url.
pub fn token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes::<32>())
}

/// An admin API key: `pgk_` + 40 alphanumerics (~238 bits).
pub fn admin_key() -> String {
    format!("pgk_{}", pick(ALNUM, 40))
}

pub fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A time-ordered UUID (v7): sorts in creation order within a process, by
/// millisecond across nodes. For records listed newest first (audit events).
pub fn ordered_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_have_cognito_shapes() {
        let p = pool_id("local-east-1");
        let (region, suffix) = p.split_once('_').unwrap();
        assert_eq!(region, "local-east-1");
        assert_eq!(suffix.len(), 9);
        assert!(suffix.chars().all(|c| c.is_ascii_alphanumeric()));
        let c = client_id();
        assert_eq!(c.len(), 26);
        assert!(
            c.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
        assert_eq!(client_secret().len(), 51);
        let code = code();
        assert_eq!(code.len(), 6);
        assert!(code.chars().all(|c| c.is_ascii_digit()));
    }

    #[test]
    fn s1_opaque_tokens_carry_at_least_128_bits() {
        let t = token();
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&t)
            .unwrap();
        assert!(raw.len() * 8 >= 128);
        assert_ne!(token(), t);
    }
}

//! Server side of Amazon Cognito's SRP-6a variant (`USER_SRP_AUTH` → `PASSWORD_VERIFIER`;
//! the same math serves `DEVICE_SRP_AUTH` → `DEVICE_PASSWORD_VERIFIER` with the device group
//! key in place of the pool suffix and the device key in place of `USER_ID_FOR_SRP`).
//!
//! Matches amazon-cognito-identity-js `AuthenticationHelper` and pycognito `aws_srp`:
//!
//! - Group: N = RFC 3526 3072-bit MODP prime, g = 2. H = SHA-256 over raw bytes.
//! - PAD(x): minimal big-endian bytes of the integer x, with one `00` byte prepended when the
//!   top bit is set (PAD(0) = `00`). This is *not* padding to |N|.
//! - k = H(PAD(N) ‖ PAD(g)); x = H(PAD(salt) ‖ H(poolSuffix ‖ userId ‖ ":" ‖ password));
//!   v = g^x; B = k·v + g^b; u = H(PAD(A) ‖ PAD(B)); S = (A·v^u)^b (all mod N).
//! - K = HMAC(HMAC(PAD(u), PAD(S)), "Caldera Derived Key" ‖ 0x01)[..16] (one-block HKDF).
//! - PASSWORD_CLAIM_SIGNATURE = base64(HMAC(K, poolSuffix ‖ userId ‖ secretBlock ‖ TIMESTAMP)).
//!
//! Arithmetic uses crypto-bigint's constant-time Montgomery forms with a compile-time modulus;
//! exponentiations with the secrets b and x and with u run in time that depends only on the
//! (public) exponent bit length. Salts, verifiers and SALT strings: see [`new_salt`] and [`salt_hex`].

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use crypto_bigint::U3072;
use crypto_bigint::modular::ConstMontyForm;
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::parsing::Parsed;
use time::{OffsetDateTime, PrimitiveDateTime};

/// RFC 3526 3072-bit MODP prime (big-endian hex), the Cognito SRP modulus N.
const N_HEX: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1",
    "29024E088A67CC74020BBEA63B139B22514A08798E3404DD",
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245",
    "E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3D",
    "C2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F",
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D",
    "670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9",
    "DE2BCBF6955817183995497CEA956AE515D2261898FA0510",
    "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64",
    "ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6B",
    "F12FFA06D98A0864D87602733EC86A64521F2B18177B200C",
    "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB31",
    "43DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
);

/// Byte length of N.
const N_BYTES: usize = 384;
/// Length of the server secret b in bytes (256 bits: the 128-bit security level of the group).
const B_SECRET_BYTES: usize = 32;
/// N as an integer.
const N: U3072 = U3072::from_be_hex(N_HEX);
/// Longest accepted hex string for SRP_A / SRP_B (leading zeros allowed up to this).
const MAX_HEX_CHARS: usize = 1024;

mod group {
    crypto_bigint::const_monty_params!(
        Modulus,
        crypto_bigint::U3072,
        super::N_HEX,
        "The Cognito SRP group modulus N (RFC 3526, 3072 bits)."
    );
}

/// An element of Z/NZ in Montgomery form (constant-time operations).
type Fe = ConstMontyForm<group::Modulus, { U3072::LIMBS }>;

/// Errors from the SRP steps. None of them should be explained to the client beyond
/// "incorrect username or password".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrpError {
    /// SRP_A is not hex, is empty, too long, zero or not below N.
    BadA,
    /// SRP_B (our own stored value) or the stored secret b is malformed, zero or not below N.
    BadB,
    /// u = H(PAD(A) ‖ PAD(B)) is zero (abort, as the clients do).
    ZeroU,
    /// The stored verifier is empty, zero or not below N.
    BadVerifier,
}

impl std::fmt::Display for SrpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SrpError::BadA => "invalid SRP_A",
            SrpError::BadB => "invalid SRP_B or server secret",
            SrpError::ZeroU => "SRP scrambling parameter u is zero",
            SrpError::BadVerifier => "invalid SRP verifier",
        })
    }
}

impl std::error::Error for SrpError {}

/// The pool suffix used in x and in the signature: the part of the pool id after the `_`
/// (`us-east-1_AbC123` → `AbC123`), exactly as the clients compute `poolId.split('_')[1]`.
pub fn pool_suffix(pool_id: &str) -> Option<&str> {
    pool_id.split('_').nth(1)
}

/// 16 random salt bytes from the thread-local CSPRNG. The first byte is never zero, so
/// `hex::encode(salt)` equals [`salt_hex`] and both clients read the same integer.
pub fn new_salt() -> [u8; 16] {
    let mut salt = [0u8; 16];
    let mut rng = rand::rng();
    rng.fill_bytes(&mut salt);
    while salt[0] == 0 {
        rng.fill_bytes(&mut salt[..1]);
    }
    salt
}

/// The `SALT` challenge parameter for a stored salt: lowercase hex with leading zero *bytes*
/// removed (`"00"` for an all-zero salt). Send this, not `hex::encode(salt)`: pycognito pads the
/// SALT string as given while amazon-cognito-identity-js parses it as an integer first, so the
/// two only agree when the string has no leading `00` byte.
pub fn salt_hex(salt: &[u8]) -> String {
    let trimmed = trim_leading_zeros(salt);
    if trimmed.is_empty() {
        "00".to_owned()
    } else {
        hex::encode(trimmed)
    }
}

/// The verifier v = g^x mod N, big-endian without leading zeros, where
/// x = H(PAD(salt) ‖ H(pool_suffix ‖ user_id ‖ ":" ‖ password)) and salt is read as a big-endian
/// integer. The password is used as given (no Unicode normalisation; clients do none).
/// `user_id` must be `USER_ID_FOR_SRP` (the internal username / `sub`), which must never change.
pub fn verifier(pool_suffix: &str, user_id: &str, password: &str, salt: &[u8]) -> Vec<u8> {
    let x = uint_from_hash(&compute_x(pool_suffix, user_id, password, salt));
    let v = generator().pow_bounded_exp(&x, 256).retrieve();
    minimal_be(&v)
}

/// Server step 1. Picks a random 256-bit b and computes B = (k·v + g^b) mod N, drawing again
/// if B ≡ 0. Returns (b as 32 big-endian bytes — keep it secret, server-side only; B as
/// unpadded lowercase hex, the form Cognito sends as `SRP_B`).
///
/// API change: returns `Err(BadVerifier)` when `v` is empty/zero/≥ N (a zero verifier would
/// let anyone log in), instead of silently reducing it.
pub fn server_ephemeral(v: &[u8]) -> Result<(Vec<u8>, String), SrpError> {
    let v = group_element(v).ok_or(SrpError::BadVerifier)?;
    let mut rng = rand::rng();
    loop {
        let mut b = [0u8; B_SECRET_BYTES];
        rng.fill_bytes(&mut b);
        if let Some(big_b) = compute_big_b(&v, &b) {
            return Ok((b.to_vec(), hex_minimal(&big_b)));
        }
    }
}

/// Parses the client's `SRP_A`: hex digits only (any case, odd length allowed, leading zeros
/// allowed up to 1024 characters, no `0x`, no whitespace). Values that are zero or ≥ N are
/// refused, not reduced: an honest client always sends g^a mod N, and u is hashed over A as
/// sent, so a reduced value would not match the client's u anyway. Returns A as big-endian
/// bytes without leading zeros.
pub fn parse_a(a_hex: &str) -> Result<Vec<u8>, SrpError> {
    let a = parse_hex_element(a_hex).ok_or(SrpError::BadA)?;
    Ok(minimal_be(&a))
}

/// Server step 2: u = H(PAD(A) ‖ PAD(B)) (refuse u = 0), S = (A·v^u)^b mod N and the 16-byte
/// "Caldera" key K = HMAC(PRK, "Caldera Derived Key" ‖ 0x01)[..16], PRK = HMAC(PAD(u), PAD(S)).
/// `a` is A as bytes (from [`parse_a`]; re-checked here), `b_hex` the `SRP_B` string we sent,
/// `b_secret` the b from [`server_ephemeral`] (1..=384 bytes, non-zero), `v` the stored verifier
/// (leading zero bytes allowed, e.g. a device verifier stored as PAD(v)).
pub fn session_key(a: &[u8], b_hex: &str, b_secret: &[u8], v: &[u8]) -> Result<[u8; 16], SrpError> {
    let big_a = group_element(a).ok_or(SrpError::BadA)?;
    let big_b = parse_hex_element(b_hex).ok_or(SrpError::BadB)?;
    if b_secret.is_empty()
        || b_secret.len() > N_BYTES
        || b_secret.iter().fold(0u8, |acc, x| acc | x) == 0
    {
        return Err(SrpError::BadB);
    }
    let v = group_element(v).ok_or(SrpError::BadVerifier)?;

    let u_hash = Sha256::new()
        .chain_update(pad(&minimal_be(&big_a)))
        .chain_update(pad(&minimal_be(&big_b)))
        .finalize();
    if u_hash.iter().all(|&x| x == 0) {
        return Err(SrpError::ZeroU);
    }
    let u = uint_from_hash(&u_hash.into());
    let b = uint_from_be(b_secret).ok_or(SrpError::BadB)?;
    let b_bits = u32::try_from(b_secret.len() * 8).map_err(|_| SrpError::BadB)?;

    let v_u = Fe::new(&v).pow_bounded_exp(&u, 256);
    let s = Fe::new(&big_a)
        .mul(&v_u)
        .pow_bounded_exp(&b, b_bits)
        .retrieve();

    let mut prk = hmac_sha256(&pad(&u_hash));
    prk.update(&pad(&minimal_be(&s)));
    let prk = prk.finalize().into_bytes();
    let mut okm = hmac_sha256(&prk);
    okm.update(b"Caldera Derived Key\x01");
    let okm = okm.finalize().into_bytes();
    let mut key = [0u8; 16];
    key.copy_from_slice(&okm[..16]);
    Ok(key)
}

/// PASSWORD_CLAIM_SIGNATURE before base64:
/// HMAC-SHA256(K, pool_suffix ‖ user_id ‖ secret_block ‖ timestamp), with `secret_block` the
/// base64-decoded `PASSWORD_CLAIM_SECRET_BLOCK` and `timestamp` the client's `TIMESTAMP` as sent.
pub fn signature(
    key: &[u8; 16],
    pool_suffix: &str,
    user_id: &str,
    secret_block: &[u8],
    timestamp: &str,
) -> [u8; 32] {
    signature_mac(key, pool_suffix, user_id, secret_block, timestamp)
        .finalize()
        .into_bytes()
        .into()
}

/// Checks the client's base64 `PASSWORD_CLAIM_SIGNATURE` against [`signature`] in constant
/// time. Standard alphabet, padding optional; anything that is not exactly 32 bytes is `false`.
/// Checking the TIMESTAMP's freshness ([`parse_timestamp`]) is the caller's job.
pub fn verify_signature(
    key: &[u8; 16],
    pool_suffix: &str,
    user_id: &str,
    secret_block: &[u8],
    timestamp: &str,
    claimed_b64: &str,
) -> bool {
    const LENIENT_B64: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    if claimed_b64.len() > 64 {
        return false;
    }
    let Ok(claimed) = LENIENT_B64.decode(claimed_b64) else {
        return false;
    };
    signature_mac(key, pool_suffix, user_id, secret_block, timestamp)
        .verify_slice(&claimed)
        .is_ok()
}

/// Cognito's `TIMESTAMP` as written: `EEE MMM d HH:mm:ss UTC yyyy`, English names, single spaces,
/// the day unpadded, the time zero-padded, a 4-digit year.
const TIMESTAMP_OUT: &[BorrowedFormatItem<'static>] = format_description!(
    "[weekday repr:short] [month repr:short] [day padding:none] [hour]:[minute]:[second] UTC [year]"
);
/// As read: the same, the day 1–2 digits (so `06` is accepted too).
const TIMESTAMP_IN: &[BorrowedFormatItem<'static>] = format_description!(
    "[weekday repr:short] [month repr:short] [first [[day padding:zero]] [[day padding:none]]] \
     [hour]:[minute]:[second] UTC [year]"
);

/// Parses Cognito's `TIMESTAMP` ([`TIMESTAMP_IN`]) to Unix seconds. `None` if malformed, out of
/// range (e.g. `Feb 30`, `24:00:00`) or if the weekday does not match the date (every client
/// derives it from the same clock).
pub fn parse_timestamp(ts: &str) -> Option<i64> {
    // `time` would take a signed or 5-digit year; Cognito's is always 4 digits.
    let year = ts.rsplit(' ').next()?;
    if year.len() != 4 || !year.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut parsed = Parsed::new();
    if !parsed
        .parse_items(ts.as_bytes(), TIMESTAMP_IN)
        .ok()?
        .is_empty()
    {
        return None;
    }
    let weekday = parsed.weekday()?;
    // `time` takes the date from month and day and ignores a weekday that contradicts it.
    let t = PrimitiveDateTime::try_from(parsed).ok()?;
    (t.weekday() == weekday).then(|| t.assume_utc().unix_timestamp())
}

/// Formats Unix seconds as Cognito's `TIMESTAMP` (`Mon Jan 6 09:05:03 UTC 2025`); years
/// 1900–9999 (nothing outside them comes from a clock), else the empty string.
pub fn format_timestamp(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(TIMESTAMP_OUT).ok())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Internals

fn generator() -> Fe {
    Fe::new(&U3072::from_u8(2))
}

/// k = H(PAD(N) ‖ PAD(g)).
fn k_hash() -> [u8; 32] {
    Sha256::new()
        .chain_update(pad(&minimal_be(&N)))
        .chain_update(pad(&[2]))
        .finalize()
        .into()
}

/// x = H(PAD(salt) ‖ H(pool_suffix ‖ user_id ‖ ":" ‖ password)).
fn compute_x(pool_suffix: &str, user_id: &str, password: &str, salt: &[u8]) -> [u8; 32] {
    let inner = Sha256::new()
        .chain_update(pool_suffix.as_bytes())
        .chain_update(user_id.as_bytes())
        .chain_update(b":")
        .chain_update(password.as_bytes())
        .finalize();
    Sha256::new()
        .chain_update(pad(salt))
        .chain_update(inner)
        .finalize()
        .into()
}

/// B = (k·v + g^b) mod N, or `None` if b = 0 or B = 0.
fn compute_big_b(v: &U3072, b: &[u8; B_SECRET_BYTES]) -> Option<U3072> {
    if b.iter().all(|&x| x == 0) {
        return None;
    }
    let b = uint_from_be(b)?;
    let k = uint_from_hash(&k_hash());
    let kv = Fe::new(&k).mul(&Fe::new(v));
    let big_b = kv
        .add(&generator().pow_bounded_exp(&b, (B_SECRET_BYTES * 8) as u32))
        .retrieve();
    if bool::from(big_b.is_nonzero()) {
        Some(big_b)
    } else {
        None
    }
}

fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this never fails.
    match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    }
}

fn signature_mac(
    key: &[u8; 16],
    pool_suffix: &str,
    user_id: &str,
    secret_block: &[u8],
    timestamp: &str,
) -> Hmac<Sha256> {
    let mut mac = hmac_sha256(key);
    mac.update(pool_suffix.as_bytes());
    mac.update(user_id.as_bytes());
    mac.update(secret_block);
    mac.update(timestamp.as_bytes());
    mac
}

fn trim_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&x| x != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// PAD: minimal big-endian bytes, `00` prepended if the top bit is set; PAD(0) = `00`.
fn pad(be: &[u8]) -> Vec<u8> {
    let t = trim_leading_zeros(be);
    let mut out = Vec::with_capacity(t.len() + 1);
    if t.first().is_none_or(|&x| x >= 0x80) {
        out.push(0);
    }
    out.extend_from_slice(t);
    out
}

fn minimal_be(x: &U3072) -> Vec<u8> {
    trim_leading_zeros(&x.to_be_bytes()).to_vec()
}

/// Unpadded lowercase hex of an integer (`"0"` for zero), like Java's `BigInteger.toString(16)`.
fn hex_minimal(x: &U3072) -> String {
    let s = hex::encode(minimal_be(x));
    match s.strip_prefix('0') {
        Some(rest) => rest.to_owned(),
        None if s.is_empty() => "0".to_owned(),
        None => s,
    }
}

/// Big-endian bytes (any leading zeros) to U3072; `None` if the value needs more than 3072 bits.
fn uint_from_be(be: &[u8]) -> Option<U3072> {
    let t = trim_leading_zeros(be);
    if t.len() > N_BYTES {
        return None;
    }
    let mut buf = [0u8; N_BYTES];
    buf[N_BYTES - t.len()..].copy_from_slice(t);
    Some(U3072::from_be_slice(&buf))
}

fn uint_from_hash(h: &[u8; 32]) -> U3072 {
    let mut buf = [0u8; N_BYTES];
    buf[N_BYTES - 32..].copy_from_slice(h);
    U3072::from_be_slice(&buf)
}

/// 0 < x < N.
fn group_element(be: &[u8]) -> Option<U3072> {
    let x = uint_from_be(be)?;
    (bool::from(x.is_nonzero()) && x < N).then_some(x)
}

/// Hex (any case, odd length ok, no prefix/whitespace, ≤ 1024 chars) to 0 < x < N.
fn parse_hex_element(s: &str) -> Option<U3072> {
    if s.is_empty() || s.len() > MAX_HEX_CHARS || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let bytes = if s.len() % 2 == 1 {
        hex::decode(format!("0{s}")).ok()?
    } else {
        hex::decode(s).ok()?
    };
    group_element(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POOL: &str = "AbC123";

    /// Client side in Rust (only as a self-consistency check; the independent checks are
    /// pycognito and amazon-cognito-identity-js, see the pinned vector below):
    /// S = (B − k·g^x)^(a + u·x) mod N.
    fn client_key(a: &[u8], b_hex: &str, x: &[u8; 32], big_a: &[u8]) -> [u8; 16] {
        let big_b = parse_hex_element(b_hex).unwrap();
        let u_hash: [u8; 32] = Sha256::new()
            .chain_update(pad(big_a))
            .chain_update(pad(&minimal_be(&big_b)))
            .finalize()
            .into();
        let (u, xv) = (uint_from_hash(&u_hash), uint_from_hash(x));
        let k = uint_from_hash(&k_hash());
        let base = Fe::new(&big_b).sub(&Fe::new(&k).mul(&generator().pow(&xv)));
        // a < 2^1024 and u·x < 2^512 fit easily in 3072 bits.
        let exp = uint_from_be(a).unwrap().wrapping_add(&u.wrapping_mul(&xv));
        let s = base.pow(&exp).retrieve();
        let mut prk = hmac_sha256(&pad(&u_hash));
        prk.update(&pad(&minimal_be(&s)));
        let mut okm = hmac_sha256(&prk.finalize().into_bytes());
        okm.update(b"Caldera Derived Key\x01");
        okm.finalize().into_bytes()[..16].try_into().unwrap()
    }

    #[test]
    fn pad_rules() {
        assert_eq!(pad(&[]), vec![0]);
        assert_eq!(pad(&[0, 0]), vec![0]);
        assert_eq!(pad(&[0x7f, 0xff]), vec![0x7f, 0xff]);
        assert_eq!(pad(&[0x80]), vec![0, 0x80]);
        assert_eq!(pad(&[0, 0, 0x12, 0x34]), vec![0x12, 0x34]);
        assert_eq!(pad(&[0, 0, 0xab]), vec![0, 0xab]);
        assert_eq!(pad(&[0x0f]), vec![0x0f]);
        assert_eq!(hex_minimal(&U3072::ZERO), "0");
        assert_eq!(hex_minimal(&U3072::from_u16(0x0abc)), "abc");
        assert_eq!(hex_minimal(&U3072::from_u16(0xabcd)), "abcd");
        assert_eq!(salt_hex(&[0, 0, 0x0a, 0xbc]), "0abc");
        assert_eq!(salt_hex(&[0, 0]), "00");
        assert_eq!(salt_hex(&[]), "00");
        assert_eq!(pool_suffix("us-east-1_AbC123"), Some("AbC123"));
        assert_eq!(pool_suffix("nounderscore"), None);
    }

    #[test]
    fn group_constants() {
        assert_eq!(hex::encode_upper(N.to_be_bytes()), N_HEX);
        let params_n =
            <group::Modulus as crypto_bigint::modular::ConstMontyParams<{ U3072::LIMBS }>>::PARAMS
                .modulus()
                .get();
        assert_eq!(params_n, N);
        // Cross-checked: hashlib.sha256(bytes.fromhex('00' + N_hex + '02')).hexdigest()
        assert_eq!(
            hex::encode(k_hash()),
            "538282c4354742d7cbbde2359fcf67f9f5b3a6b08791e5011b43b8a5b66d9ee6"
        );
    }

    #[test]
    fn salt_is_random_with_nonzero_first_byte() {
        let (s1, s2) = (new_salt(), new_salt());
        assert_ne!(s1, s2);
        for _ in 0..200 {
            let s = new_salt();
            assert_ne!(s[0], 0);
            assert_eq!(salt_hex(&s), hex::encode(s));
        }
    }

    const PYCOGNITO_VECTOR: &str = "\
pool_suffix=AbC123\n\
user_id=7a1c3d1e-5b6f-4d2a-9c3b-0e8f1a2b3c4d\n\
password=pässwörd ✓ 🔑\n\
salt=00135c5c5c5c5c5c5c5c5c5c5c5c5c5c\n\
v=f5bf81ba4de6ce7dd8468a6885d6d5567482af470e5676f8e450ead3044b2a7f752b4deb648e4cebb4df6915b244a7a4ab2a618a72c086392a78323a5ead5b10fcd3d565828679bc5fbde626fdcdcbcf9b53cca68f6a18b33465895b5bc2a4090af1f66378597e10a8d0728a33608dc94a53ed78ec26b581800ec6992c8a584e13e1dfeb6d1c3f3224ae4906cb4a553fd6bccec6e1040259f8b382aeff7fb54b11eee4a4cefa1ab58c9b89330a2e4706059694915c38768f95d96720292d8f3b9226a48d42a0fb69fd01099b50b487bffed4c17989cae288d42695b7eb9567ff4f4bb4fbb2c053f94641b8092a9ceb30b7207b80c9ca1358043dd884125309d332c03ca99f72dd0c5e7f9d205426fcc2f4c8bd929f41dc315c4d2879258b19f870880f014434ad47635c5ec7a4f085239904167b9734a0984e6839f738c050b6b3ec3c98a8a617165213cf89769faeeff7bb9fce343e54d5b7e180ed85a6b2111a4b54c62f92737adb39b765f513ccb4ccfd958c8b500bb4211d9b35df42d61a\n\
b=3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b\n\
A=9ee17a7fb57730cbafb84004d48fc20adf56de0d6798b4d41b21e582b8e74c744b94fd1d2c190f2e4f2630d6db7a81ffb1260392b3b50a4a12f8fa8f793b945639afdc53a6b399a8071376e90cdf452f78edf94e156fcf7cc5c886e99bf37ef57024f36a4fb6f0f78c89d84b39f2fd649ef98ce710950c2ff0d0cb0750af1b1f3401e2b8b6d74bf8d4fe8157d75390a420596160b761aa3519517436ccd94b05c79fb091f70890da01397b7aaafba2cb3251c154aa68ae621a7530252e898a4917058ef1ed4050a8349800623cbfc8b0739841be5de465ed36369751ffed82a7c65282accfcd6913b917756a55d2630635edba8c1a3bcd57fb5eb98ad3b61ef5ced0063e2dc7c471884c7b1889f88a0ecf8cffc5270038ca8332f5e0c1c365978f7fe9c0516047364bed1e86a9cb8531eae0f1be33693f30fabbebb1bd50fbf2853cb5898502531f258cc94819ad8eca2cfabe995e627b79a484a727c5adfdff44a7373d383ac8fea0afd79c81048554281441655235eab4f1203e3c50d20b88\n\
B=56ecb70cb2cbd9da3402a5c20e7a2a5b82cf4bec851473bba8c41bbdc7b102a18d10211f81e64ddf0e373b974f7413d33a09e3ec918651b14bbb51cd87b51b67aa133408c9d7e18c3b6a2eef14a80b6fe8f233dfa571c83717b8ef30dd33da59f19936f1af0b344413d2bb6acee70c4fc1cada398bf1b95bb37a59abbe95b70537a32330a146bc82b1a9e99bd0886b6e3310c93f3ed9314b5aa6774aea7aa93c57a9531896f1997ee5c78f5cc0e1a07bbbdbed1de3402376fdbc6fd6c38ea450f216d0d4b926db7c8485eb4430536bd2c87a51a3dac675048d0d924fb0cda4cfd302757cfcb3cf34872fb043680de60c9b9637ed853a9188e77f83427aa0602b37574b2a25cf0b7bf88314abc8f9b1e9b65d34cb03cd58de815f6266b172530e79dcf27707425904d4e6769e201d3c83de7aacf4ea6de668f01eb9da6f9132fe820609208332f87eecf5a7945c17b052c5b5c0bffb546dca5f33700297fd87c19ec937c8d1e38bd928a28cff58a3b4ba583142577a14ed7e4bd77981dabdd535\n\
K=3b91fd4ce1c5b4a86acbabed225ea378\n\
secret_block=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJw==\n\
timestamp=Mon Jan 6 09:05:03 UTC 2025\n\
signature=ti5RE6jpmj514TF6p+Ak6Ef373Lr9WTc/u3lD6q9naI=\n\
";

    /// Produced by pycognito 2024.5.1 (`AWSSRP` with `small_a_value`/`large_a_value` fixed,
    /// `get_password_authentication_key`, its HMAC over the claim) and Python's own `pow` for
    /// v and B; see check_pycognito.py `--vector`.
    #[test]
    fn pinned_pycognito_vector() {
        let v = PYCOGNITO_VECTOR;
        let get = |name: &str| {
            v.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .unwrap()
                .to_owned()
        };
        let salt = hex::decode(get("salt")).unwrap();
        let pool = get("pool_suffix");
        let (user, pw) = (get("user_id"), get("password"));
        let verifier_hex = get("v");
        assert_eq!(
            hex::encode(verifier(&pool, &user, &pw, &salt)),
            verifier_hex
        );
        let v = hex::decode(&verifier_hex).unwrap();
        let b: [u8; 32] = hex::decode(get("b")).unwrap().try_into().unwrap();
        let big_b = compute_big_b(&uint_from_be(&v).unwrap(), &b).unwrap();
        assert_eq!(hex_minimal(&big_b), get("B"));
        let a = parse_a(&get("A")).unwrap();
        let key = session_key(&a, &get("B"), &b, &v).unwrap();
        assert_eq!(hex::encode(key), get("K"));
        let block = base64::engine::general_purpose::STANDARD
            .decode(get("secret_block"))
            .unwrap();
        let ts = get("timestamp");
        assert!(verify_signature(
            &key,
            &pool,
            &user,
            &block,
            &ts,
            &get("signature")
        ));
        assert!(!verify_signature(
            &key,
            &pool,
            &user,
            &block[1..],
            &ts,
            &get("signature")
        ));
    }

    #[test]
    fn server_matches_rust_client_math() {
        for (user, pw, salt) in [
            ("alice", "Passw0rd!", new_salt().to_vec()),
            (
                "7a1c3d1e-0000-4000-8000-000000000001",
                "pässwörd ✓ 密码",
                vec![0, 0, 0x80, 1],
            ),
            ("bob", &"x".repeat(300), vec![]),
        ] {
            let v = verifier(POOL, user, pw, &salt);
            let a_secret = [0x5au8; 128];
            let big_a = generator()
                .pow(&uint_from_be(&a_secret).unwrap())
                .retrieve();
            let a_hex = hex_minimal(&big_a);
            let a = parse_a(&a_hex.to_uppercase()).unwrap();
            let (b, b_hex) = server_ephemeral(&v).unwrap();
            assert_eq!(b.len(), 32);
            assert_eq!(b_hex, b_hex.to_lowercase());
            assert!(!b_hex.starts_with('0'));
            let server = session_key(&a, &b_hex, &b, &v).unwrap();
            let x = compute_x(POOL, user, pw, &salt);
            assert_eq!(client_key(&a_secret, &b_hex, &x, &a), server);
            let wrong_x = compute_x(POOL, user, "wrong", &salt);
            assert_ne!(client_key(&a_secret, &b_hex, &wrong_x, &a), server);

            let ts = format_timestamp(1_736_154_303);
            let sig = signature(&server, POOL, user, b"block", &ts);
            let sig_b64 = base64::engine::general_purpose::STANDARD.encode(sig);
            assert!(verify_signature(
                &server, POOL, user, b"block", &ts, &sig_b64
            ));
            assert!(verify_signature(
                &server,
                POOL,
                user,
                b"block",
                &ts,
                sig_b64.trim_end_matches('=')
            ));
            assert!(!verify_signature(
                &server, POOL, user, b"blocK", &ts, &sig_b64
            ));
            assert!(!verify_signature(
                &server,
                POOL,
                user,
                b"block",
                "Mon Jan 6 09:05:04 UTC 2025",
                &sig_b64
            ));
            assert!(!verify_signature(
                &server, "AbC124", user, b"block", &ts, &sig_b64
            ));
        }
    }

    #[test]
    fn verifier_accepts_padded_forms() {
        let v = verifier(POOL, "u", "p", &[1, 2, 3]);
        assert_eq!(v, verifier(POOL, "u", "p", &[0, 0, 1, 2, 3]));
        let mut padded = vec![0, 0];
        padded.extend_from_slice(&v);
        let (b, b_hex) = server_ephemeral(&padded).unwrap();
        let a = parse_a("2").unwrap();
        assert_eq!(
            session_key(&a, &b_hex, &b, &v),
            session_key(&a, &b_hex, &b, &padded)
        );
    }

    #[test]
    fn bad_inputs_rejected() {
        let n_hex = N_HEX.to_lowercase();
        let long_ok = format!("{}{}", "0".repeat(MAX_HEX_CHARS - 3), "abc");
        assert!(parse_a(&long_ok).is_ok());
        assert_eq!(parse_a("abc"), parse_a("0ABC"));
        assert_eq!(parse_a("abc").unwrap(), vec![0x0a, 0xbc]);
        let n_minus_1 = format!("{}e", &n_hex[..n_hex.len() - 1]);
        assert!(parse_a(&n_minus_1).is_ok());
        for bad in [
            "".to_owned(),
            "0".to_owned(),
            "0000".to_owned(),
            "0x12".to_owned(),
            " 12".to_owned(),
            "12 ".to_owned(),
            "+12".to_owned(),
            "-12".to_owned(),
            "zz".to_owned(),
            "é1".to_owned(),
            "１２".to_owned(),
            n_hex.clone(),
            format!("1{n_hex}"),
            "f".repeat(769),
            format!("0{long_ok}"),
        ] {
            assert_eq!(parse_a(&bad), Err(SrpError::BadA), "{bad:?}");
        }

        let v = verifier(POOL, "u", "p", b"salt");
        let (b, b_hex) = server_ephemeral(&v).unwrap();
        let a = parse_a("1234").unwrap();
        assert!(session_key(&a, &b_hex, &b, &v).is_ok());
        assert_eq!(session_key(&[], &b_hex, &b, &v), Err(SrpError::BadA));
        assert_eq!(session_key(&[0; 3], &b_hex, &b, &v), Err(SrpError::BadA));
        assert_eq!(
            session_key(&[0xff; 385], &b_hex, &b, &v),
            Err(SrpError::BadA)
        );
        assert_eq!(session_key(&a, "", &b, &v), Err(SrpError::BadB));
        assert_eq!(session_key(&a, "0", &b, &v), Err(SrpError::BadB));
        assert_eq!(session_key(&a, &n_hex, &b, &v), Err(SrpError::BadB));
        assert_eq!(session_key(&a, "xyz", &b, &v), Err(SrpError::BadB));
        assert_eq!(session_key(&a, &b_hex, &[], &v), Err(SrpError::BadB));
        assert_eq!(session_key(&a, &b_hex, &[0; 32], &v), Err(SrpError::BadB));
        assert_eq!(session_key(&a, &b_hex, &[1; 385], &v), Err(SrpError::BadB));
        assert!(session_key(&a, &b_hex, &[1; 384], &v).is_ok());
        assert_eq!(session_key(&a, &b_hex, &b, &[]), Err(SrpError::BadVerifier));
        let n = hex::decode(&n_hex).unwrap();
        assert_eq!(session_key(&a, &b_hex, &b, &n), Err(SrpError::BadVerifier));
        assert_eq!(server_ephemeral(&[]), Err(SrpError::BadVerifier));
        assert_eq!(server_ephemeral(&[0; 10]), Err(SrpError::BadVerifier));
        assert_eq!(server_ephemeral(&n), Err(SrpError::BadVerifier));
        assert_eq!(server_ephemeral(&[0xff; 400]), Err(SrpError::BadVerifier));
        assert!(compute_big_b(&U3072::ONE, &[0; 32]).is_none());

        let key = [7u8; 16];
        let good =
            base64::engine::general_purpose::STANDARD.encode(signature(&key, "p", "u", b"", "t"));
        assert!(verify_signature(&key, "p", "u", b"", "t", &good));
        let b64 = |n: usize| base64::engine::general_purpose::STANDARD.encode(vec![0u8; n]);
        for bad in [
            "",
            "!!!!",
            "====",
            &b64(31),
            &b64(33),
            &b64(0),
            &"A".repeat(10_000),
            &good[1..],
            &format!("{good} "),
        ] {
            assert!(!verify_signature(&key, "p", "u", b"", "t", bad), "{bad:?}");
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(
            parse_timestamp("Mon Jan 6 09:05:03 UTC 2025"),
            Some(1_736_154_303)
        );
        assert_eq!(
            parse_timestamp("Mon Jan 06 09:05:03 UTC 2025"),
            Some(1_736_154_303)
        );
        assert_eq!(
            format_timestamp(1_736_154_303),
            "Mon Jan 6 09:05:03 UTC 2025"
        );
        assert_eq!(format_timestamp(0), "Thu Jan 1 00:00:00 UTC 1970");
        // Cognito's own form, e.g. today's: the day unpadded, the time padded.
        assert_eq!(
            format_timestamp(1_796_691_965),
            "Tue Dec 8 01:06:05 UTC 2026"
        );
        assert_eq!(
            parse_timestamp("Tue Dec 8 01:06:05 UTC 2026"),
            Some(1_796_691_965)
        );
        assert_eq!(
            format_timestamp(1_709_251_199),
            "Thu Feb 29 23:59:59 UTC 2024"
        );
        assert_eq!(format_timestamp(-1), "Wed Dec 31 23:59:59 UTC 1969");
        assert_eq!(
            parse_timestamp("Thu Feb 29 23:59:59 UTC 2024"),
            Some(1_709_251_199)
        );
        assert_eq!(
            parse_timestamp("Sat Jan 1 00:00:00 UTC 2000"),
            Some(946_684_800)
        );
        for t in [
            -30_610_224_000i64, // 1000-01-01
            -1,
            0,
            951_782_400, // 2000-02-29
            1_736_154_303,
            4_102_444_799,
            253_402_300_799, // 9999-12-31 23:59:59
        ] {
            assert_eq!(parse_timestamp(&format_timestamp(t)), Some(t), "{t}");
        }
        let mut t = -100_000_000i64;
        while t < 5_000_000_000 {
            assert_eq!(parse_timestamp(&format_timestamp(t)), Some(t));
            t += 7_777_777;
        }
        // Extremes format without overflow.
        let _ = format_timestamp(i64::MAX);
        let _ = format_timestamp(i64::MIN);
        for bad in [
            "",
            "Mon Jan 6 09:05:03 UTC",
            "Mon Jan 6 09:05:03 UTC 2025 ",
            " Mon Jan 6 09:05:03 UTC 2025",
            "Mon  Jan 6 09:05:03 UTC 2025",
            "Tue Jan 6 09:05:03 UTC 2025",
            "mon Jan 6 09:05:03 UTC 2025",
            "Mon JAN 6 09:05:03 UTC 2025",
            "Mon Jan 6 09:05:03 GMT 2025",
            "Mon Jan 6 9:05:03 UTC 2025",
            "Mon Jan 6 09:5:03 UTC 2025",
            "Mon Jan 6 24:00:00 UTC 2025",
            "Mon Jan 6 23:60:00 UTC 2025",
            "Mon Jan 6 23:59:60 UTC 2025",
            "Mon Jan 006 09:05:03 UTC 2025",
            "Sat Jan 0 09:05:03 UTC 2025",
            "Sat Feb 29 09:05:03 UTC 2025",
            "Thu Feb 30 09:05:03 UTC 2024",
            "Mon Jan 6 09:05:03 UTC 25",
            "Mon Jan 6 09:05:03 UTC 02025",
            "Mon Jan +6 09:05:03 UTC 2025",
            "Mon Jan 6 09:05:03 UTC +2025",
            "Mon Jan 6 09-05-03 UTC 2025",
            "Mon Jan 6 0é:05:0 UTC 2025",
            "Mon Jan 6 09:05:03\u{a0}UTC 2025",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad:?}");
        }
    }

    // Hostile inputs to every parser above: the seeded property tests in tests/props/srp.rs
    // (each asserts the error value) and the `srp_*` cargo fuzz targets in fuzz/.
}

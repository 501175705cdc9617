//! Password hashes made elsewhere, accepted on import so users keep their
//! passwords when they move here: argon2 (PHC), bcrypt (`$2a$`/`$2b$`/`$2y$`),
//! scrypt (`$scrypt$ln=,r=,p=$salt$hash`, the PHC form passlib and RustCrypto
//! write) and PBKDF2-HMAC (passlib's `$pbkdf2[-sha256|-sha512]$rounds$salt$hash`
//! with its adapted base64, the PHC form `$pbkdf2-sha256$i=,l=$salt$hash`, and
//! Django's `pbkdf2_sha256$rounds$salt$hash`).
//!
//! A verified legacy hash is replaced by the pool's argon2id on that sign-in.
//! Costs are bounded when a hash is imported, so an imported hash cannot make
//! one verification take minutes or gigabytes.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

/// The families of stored hash this server can check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Argon2,
    Bcrypt,
    Scrypt,
    Pbkdf2,
}

/// Highest bcrypt cost accepted (2^16 rounds, about 4 s on one core).
const MAX_BCRYPT_COST: u32 = 16;
/// Largest scrypt memory accepted (128 · r · 2^ln bytes).
const MAX_SCRYPT_BYTES: u64 = 256 << 20;
const MAX_PBKDF2_ROUNDS: u32 = 10_000_000;
/// Largest argon2 memory accepted, KiB.
const MAX_ARGON2_KIB: u32 = 1 << 20;

/// Which scheme a stored hash claims to be, by its prefix.
pub fn scheme_of(stored: &str) -> Option<Scheme> {
    if stored.starts_with("$argon2") {
        Some(Scheme::Argon2)
    } else if ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|p| stored.starts_with(p))
    {
        Some(Scheme::Bcrypt)
    } else if stored.starts_with("$scrypt$") {
        Some(Scheme::Scrypt)
    } else if stored.starts_with("$pbkdf2") || stored.starts_with("pbkdf2_") {
        Some(Scheme::Pbkdf2)
    } else {
        None
    }
}

/// Checks that a hash offered for import is well-formed, of a known scheme
/// and within the cost bounds; says what is wrong otherwise.
pub fn check_import(stored: &str) -> Result<Scheme, String> {
    if stored.len() > 512 {
        return Err("password hash is longer than 512 characters".into());
    }
    let scheme = scheme_of(stored).ok_or(
        "unknown password hash format (expected argon2, bcrypt, scrypt or PBKDF2 \
         in PHC or modular-crypt form)",
    )?;
    match scheme {
        Scheme::Argon2 => {
            let parsed = argon2::password_hash::phc::PasswordHash::new(stored)
                .map_err(|e| format!("malformed argon2 hash: {e}"))?;
            if !["argon2id", "argon2i", "argon2d"].contains(&parsed.algorithm.as_str()) {
                return Err("unknown argon2 variant".into());
            }
            let params =
                argon2::Params::try_from(&parsed).map_err(|e| format!("argon2 parameters: {e}"))?;
            if params.m_cost() > MAX_ARGON2_KIB || params.t_cost() > 100 {
                return Err("argon2 cost is above the accepted maximum".into());
            }
            if parsed.salt.is_none() || parsed.hash.is_none() {
                return Err("argon2 hash lacks its salt or output".into());
            }
        }
        Scheme::Bcrypt => {
            let parts: bcrypt::HashParts = stored
                .parse()
                .map_err(|e| format!("malformed bcrypt hash: {e}"))?;
            if parts.get_cost() > MAX_BCRYPT_COST {
                return Err(format!("bcrypt cost above {MAX_BCRYPT_COST}"));
            }
        }
        Scheme::Scrypt => {
            parse_scrypt(stored)?;
        }
        Scheme::Pbkdf2 => {
            parse_pbkdf2(stored)?;
        }
    }
    Ok(scheme)
}

/// Verifies `password` against a bcrypt, scrypt or PBKDF2 hash (argon2 is
/// the hasher's own path). Anything malformed or unknown fails.
pub fn verify(password: &[u8], stored: &str) -> bool {
    match scheme_of(stored) {
        // bcrypt reads at most 72 bytes of a password: the source system
        // hashed that way. The hash is replaced by argon2id over the whole
        // password at this sign-in.
        Some(Scheme::Bcrypt) => bcrypt::verify(password, stored).unwrap_or(false),
        Some(Scheme::Scrypt) => {
            let Ok(s) = parse_scrypt(stored) else {
                return false;
            };
            let Ok(params) = scrypt::Params::new(s.log_n, s.r, s.p) else {
                return false;
            };
            let mut out = vec![0u8; s.hash.len()];
            scrypt::scrypt(password, &s.salt, &params, &mut out).is_ok()
                && super::ct_eq(&out, &s.hash)
        }
        Some(Scheme::Pbkdf2) => {
            let Ok(p) = parse_pbkdf2(stored) else {
                return false;
            };
            let Some(rounds) = std::num::NonZeroU32::new(p.rounds) else {
                return false;
            };
            aws_lc_rs::pbkdf2::verify(p.algorithm, rounds, &p.salt, password, &p.hash).is_ok()
        }
        Some(Scheme::Argon2) | None => false,
    }
}

struct ScryptHash {
    log_n: u8,
    r: u32,
    p: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

/// `$scrypt$ln=16,r=8,p=1$<salt>$<hash>`, base64 without padding.
fn parse_scrypt(stored: &str) -> Result<ScryptHash, String> {
    let bad = || "malformed scrypt hash (expected $scrypt$ln=N,r=R,p=P$salt$hash)".to_string();
    let mut parts = stored.split('$');
    let (Some(""), Some("scrypt"), Some(params), Some(salt), Some(hash), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(bad());
    };
    let (mut log_n, mut r, mut p) = (None, None, None);
    for kv in params.split(',') {
        let (k, v) = kv.split_once('=').ok_or_else(bad)?;
        let v: u32 = v.parse().map_err(|_| bad())?;
        match k {
            "ln" => log_n = Some(v),
            "r" => r = Some(v),
            "p" => p = Some(v),
            _ => return Err(bad()),
        }
    }
    let (Some(log_n), Some(r), Some(p)) = (log_n, r, p) else {
        return Err(bad());
    };
    if !(1..=24).contains(&log_n) || r == 0 || p == 0 || p > 16 {
        return Err("scrypt parameters out of range".into());
    }
    if 128u64 * u64::from(r) * (1u64 << log_n) > MAX_SCRYPT_BYTES {
        return Err("scrypt memory cost is above the accepted maximum".into());
    }
    let hash = b64(hash).ok_or_else(bad)?;
    if !(16..=64).contains(&hash.len()) {
        return Err("scrypt output must be 16 to 64 bytes".into());
    }
    Ok(ScryptHash {
        log_n: log_n as u8,
        r,
        p,
        salt: b64(salt).ok_or_else(bad)?,
        hash,
    })
}

struct Pbkdf2Hash {
    algorithm: aws_lc_rs::pbkdf2::Algorithm,
    rounds: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

/// passlib `$pbkdf2-sha256$29000$<ab64 salt>$<ab64 hash>` (`$pbkdf2$` is
/// SHA-1), PHC `$pbkdf2-sha256$i=600000,l=32$<salt>$<hash>`, and Django
/// `pbkdf2_sha256$600000$<salt text>$<base64 hash>`.
fn parse_pbkdf2(stored: &str) -> Result<Pbkdf2Hash, String> {
    use aws_lc_rs::pbkdf2::{PBKDF2_HMAC_SHA1, PBKDF2_HMAC_SHA256, PBKDF2_HMAC_SHA512};
    let bad = || "malformed PBKDF2 hash".to_string();
    let algorithm_of = |name: &str| match name {
        "pbkdf2" | "pbkdf2-sha1" | "pbkdf2_sha1" => Some(PBKDF2_HMAC_SHA1),
        "pbkdf2-sha256" | "pbkdf2_sha256" => Some(PBKDF2_HMAC_SHA256),
        "pbkdf2-sha512" | "pbkdf2_sha512" => Some(PBKDF2_HMAC_SHA512),
        _ => None,
    };
    let parts: Vec<&str> = stored.split('$').collect();
    let (algorithm, rounds, salt, hash) = match parts.as_slice() {
        // Django: the salt is used as text, the hash is padded base64.
        [name, rounds, salt, hash] if name.starts_with("pbkdf2_") => (
            algorithm_of(name).ok_or_else(bad)?,
            rounds.parse::<u32>().map_err(|_| bad())?,
            salt.as_bytes().to_vec(),
            STANDARD.decode(hash).map_err(|_| bad())?,
        ),
        ["", name, params, salt, hash] => {
            let rounds = match params.parse::<u32>() {
                Ok(n) => n,
                Err(_) => params
                    .split(',')
                    .find_map(|kv| kv.strip_prefix("i="))
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(bad)?,
            };
            (
                algorithm_of(name).ok_or_else(bad)?,
                rounds,
                b64(salt).ok_or_else(bad)?,
                b64(hash).ok_or_else(bad)?,
            )
        }
        _ => return Err(bad()),
    };
    if !(1..=MAX_PBKDF2_ROUNDS).contains(&rounds) {
        return Err("PBKDF2 rounds out of range".into());
    }
    if !(16..=64).contains(&hash.len()) || salt.is_empty() {
        return Err("PBKDF2 salt or output has an unexpected length".into());
    }
    Ok(Pbkdf2Hash {
        algorithm,
        rounds,
        salt,
        hash,
    })
}

/// Base64 as the PHC and passlib forms write it: standard alphabet (or
/// passlib's `.` for `+`), padding optional.
fn b64(s: &str) -> Option<Vec<u8>> {
    let s = s.replace('.', "+");
    STANDARD_NO_PAD.decode(s.trim_end_matches('=')).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made with passlib 1.7.4, `pbkdf2_sha256.using(rounds=1000).hash("password")`
    // (its adapted base64 has `.` for `+`); the end-to-end import test hashes
    // fresh ones with passlib, bcrypt and argon2-cffi.
    const PBKDF2_SHA256_PASSLIB: &str =
        "$pbkdf2-sha256$1000$ey.llJJyTumdM6Y0xrjXug$eBiAyR5mRB53JVuYo44tS7i./2VggGo8ELPa3MoFFuk";

    #[test]
    fn schemes_are_recognised_by_prefix() {
        assert_eq!(scheme_of("$2b$12$abc"), Some(Scheme::Bcrypt));
        assert_eq!(scheme_of("$argon2id$v=19$m=1"), Some(Scheme::Argon2));
        assert_eq!(scheme_of("$scrypt$ln=1"), Some(Scheme::Scrypt));
        assert_eq!(scheme_of("pbkdf2_sha256$1$a$b"), Some(Scheme::Pbkdf2));
        assert_eq!(scheme_of("$1$md5crypt$xyz"), None);
        assert_eq!(scheme_of("plaintext"), None);
    }

    #[test]
    fn bcrypt_hashes_verify() {
        let h = bcrypt::hash("hunter2 hunter2", 4).unwrap();
        assert_eq!(check_import(&h), Ok(Scheme::Bcrypt));
        assert!(verify(b"hunter2 hunter2", &h));
        assert!(!verify(b"hunter2 hunter3", &h));
    }

    #[test]
    fn scrypt_hashes_verify() {
        let salt = b"0123456789abcdef";
        let params = scrypt::Params::new(4, 8, 1).unwrap();
        let mut out = [0u8; 32];
        scrypt::scrypt(b"pw one two", salt, &params, &mut out).unwrap();
        let h = format!(
            "$scrypt$ln=4,r=8,p=1${}${}",
            STANDARD_NO_PAD.encode(salt),
            STANDARD_NO_PAD.encode(out)
        );
        assert_eq!(check_import(&h), Ok(Scheme::Scrypt));
        assert!(verify(b"pw one two", &h));
        assert!(!verify(b"pw one tw0", &h));
    }

    #[test]
    fn pbkdf2_in_passlib_phc_and_django_forms_verify() {
        assert_eq!(check_import(PBKDF2_SHA256_PASSLIB), Ok(Scheme::Pbkdf2));
        assert!(verify(b"password", PBKDF2_SHA256_PASSLIB));
        assert!(!verify(b"Password", PBKDF2_SHA256_PASSLIB));
        let mut out = [0u8; 32];
        let rounds = std::num::NonZeroU32::new(1000).unwrap();
        aws_lc_rs::pbkdf2::derive(
            aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256,
            rounds,
            b"saltsalt",
            b"pw",
            &mut out,
        );
        let phc = format!(
            "$pbkdf2-sha256$i=1000,l=32${}${}",
            STANDARD_NO_PAD.encode(b"saltsalt"),
            STANDARD_NO_PAD.encode(out)
        );
        assert!(verify(b"pw", &phc));
        let django = format!("pbkdf2_sha256$1000$saltsalt${}", STANDARD.encode(out));
        assert_eq!(check_import(&django), Ok(Scheme::Pbkdf2));
        assert!(verify(b"pw", &django));
        assert!(!verify(b"pw2", &django));
    }

    #[test]
    fn malformed_or_too_costly_hashes_are_refused_on_import() {
        for bad in [
            "",
            "plaintext",
            "$2b$31$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
            "$scrypt$ln=30,r=8,p=1$c2FsdA$aGFzaA",
            "$scrypt$ln=4,r=8$c2FsdA$aGFzaA",
            "$pbkdf2-sha256$0$c2FsdA$aGFzaA",
            "$pbkdf2-sha999$1000$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$garbage",
        ] {
            assert!(check_import(bad).is_err(), "{bad:?} was accepted");
            assert!(!verify(b"x", bad));
        }
        assert!(check_import(&"$2b$".repeat(200)).is_err());
        // A well-formed bcrypt hash whose cost is above the bound.
        let costly = bcrypt::hash("x", 4).unwrap().replacen("$04$", "$17$", 1);
        assert_eq!(
            check_import(&costly),
            Err(format!("bcrypt cost above {MAX_BCRYPT_COST}"))
        );
    }
}

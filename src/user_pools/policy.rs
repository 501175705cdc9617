//! Password policy (NIST SP 800-63B): a minimum length in code points, optional
//! character classes (off by default: NIST advises against composition
//! rules), no truncation, and a blocklist — the built-in list of common
//! passwords plus context words (username, email, pool name).

use crate::error::{Error, ErrorKind, Result};
use crate::model::PasswordPolicy;
use std::collections::HashSet;
use std::sync::LazyLock;

/// Maximum password length in code points (longer inputs are refused, not
/// truncated).
pub const MAX_PASSWORD_CHARS: usize = 256;

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common_passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
});

pub fn common_password_count() -> usize {
    COMMON.len()
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidPassword, msg)
}

/// Checks `password` against `policy`. `context` holds words the password
/// must not be or merely decorate (username, email local part, pool name).
pub fn check(policy: &PasswordPolicy, password: &str, context: &[&str]) -> Result<()> {
    let n = password.chars().count();
    if n < policy.min_length as usize {
        return Err(invalid(format!(
            "Password does not conform to policy: Password not long enough (at least {} characters)",
            policy.min_length
        )));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(invalid(format!(
            "Password does not conform to policy: at most {MAX_PASSWORD_CHARS} characters"
        )));
    }
    if policy.require_lowercase && !password.chars().any(|c| c.is_lowercase()) {
        return Err(invalid(
            "Password does not conform to policy: Password must have lowercase characters",
        ));
    }
    if policy.require_uppercase && !password.chars().any(|c| c.is_uppercase()) {
        return Err(invalid(
            "Password does not conform to policy: Password must have uppercase characters",
        ));
    }
    if policy.require_numbers && !password.chars().any(|c| c.is_ascii_digit()) {
        return Err(invalid(
            "Password does not conform to policy: Password must have numeric characters",
        ));
    }
    if policy.require_symbols
        && !password
            .chars()
            .any(|c| !c.is_alphanumeric() && !c.is_whitespace())
    {
        return Err(invalid(
            "Password does not conform to policy: Password must have symbol characters",
        ));
    }
    if policy.block_common_passwords {
        let lower = password.to_lowercase();
        if COMMON.contains(lower.as_str()) || is_repetition_of_common(&lower) {
            return Err(invalid(
                "Password does not conform to policy: Password is too common (it appears in lists of leaked passwords)",
            ));
        }
        let stripped: String = lower.chars().filter(|c| c.is_alphanumeric()).collect();
        for word in context {
            let w: String = word
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric())
                .collect();
            if w.len() >= 3
                && (stripped == w || stripped.trim_end_matches(|c: char| c.is_ascii_digit()) == w)
            {
                return Err(invalid(
                    "Password does not conform to policy: Password must not be your username, email or the service name",
                ));
            }
        }
    }
    Ok(())
}

/// "passwordpassword", "123456123456...": a common password repeated.
fn is_repetition_of_common(lower: &str) -> bool {
    let chars: Vec<char> = lower.chars().collect();
    for unit in 1..=chars.len() / 2 {
        if !chars.len().is_multiple_of(unit) {
            continue;
        }
        let head: String = chars[..unit].iter().collect();
        if chars
            .chunks(unit)
            .all(|c| c.iter().copied().eq(head.chars()))
            && (unit <= 2 || COMMON.contains(head.as_str()))
        {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> PasswordPolicy {
        PasswordPolicy::default()
    }

    #[test]
    fn p1_a_14_char_password_is_rejected_for_a_password_only_pool() {
        let e = check(&p(), "abcdefghijklmn", &[]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidPassword);
        assert!(check(&p(), "abcdefghijklmnq", &[]).is_ok());
    }

    #[test]
    fn p2_64_chars_and_unicode_are_accepted_and_length_counts_code_points() {
        assert!(check(&p(), &"Zq9 ".repeat(16), &[]).is_ok());
        // 15 code points, many more bytes.
        assert!(check(&p(), "ключ🔑ключ🔑ключ🔑ключ", &[]).is_ok());
        assert!(check(&p(), "ключ🔑ключ🔑клю", &[]).is_err()); // 14 code points
        assert!(check(&p(), &"x".repeat(257), &[]).is_err());
    }

    #[test]
    fn p3_no_composition_rules_by_default() {
        assert!(check(&p(), "all lower case words here", &[]).is_ok());
    }

    #[test]
    fn p5_common_passwords_and_context_words_are_refused_with_a_reason() {
        assert!(
            common_password_count() >= 3000,
            "list has {}",
            common_password_count()
        );
        let weak = PasswordPolicy {
            min_length: 8,
            ..p()
        };
        let e = check(&weak, "password", &[]).unwrap_err();
        assert!(e.message.contains("too common"), "{}", e.message);
        assert!(check(&weak, "PassWord", &[]).is_err());
        assert!(check(&p(), "passwordpasswordpassword", &[]).is_err());
        assert!(check(&p(), "aaaaaaaaaaaaaaaaaaaa", &[]).is_err());
        let e = check(&p(), "alice.wonderland1", &["alice.wonderland"]).unwrap_err();
        assert!(e.message.contains("username"), "{}", e.message);
        assert!(check(&p(), "alice in a wonderland of tea", &["alice"]).is_ok());
    }

    #[test]
    fn classes_are_enforced_when_the_pool_asks() {
        let strict = PasswordPolicy {
            require_lowercase: true,
            require_uppercase: true,
            require_numbers: true,
            require_symbols: true,
            ..p()
        };
        assert!(check(&strict, "abcdefghijklmnop", &[]).is_err());
        assert!(check(&strict, "Abcdefghijklmn1!", &[]).is_ok());
    }
}

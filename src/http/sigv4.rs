//! Verification of AWS Signature V4 on Cognito protocol requests: the
//! Admin* and control-plane operations are signed by the caller's AWS SDK
//! with an admin credential (access key id `poolgate-admin`, the secret being
//! one of the server's admin API keys), as Cognito requires IAM credentials
//! for them.

use crate::crypto::ct_eq;
use axum::http::HeaderMap;
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The access key id of the admin credential.
pub const ADMIN_ACCESS_KEY_ID: &str = "poolgate-admin";
/// Largest difference between `x-amz-date` and now, seconds (AWS's 15 min).
pub const MAX_SKEW_SECS: i64 = 900;

#[derive(Debug, PartialEq, Eq)]
pub enum SigError {
    Missing,
    Malformed,
    UnknownKey,
    Skew,
    Mismatch,
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// Unix seconds of an `x-amz-date` (`YYYYMMDDTHHMMSSZ`).
fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    Some(crate::crypto::srp::days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se)
}

/// Checks the request's SigV4 `Authorization` against the admin secrets.
pub fn verify(
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
    secrets: &[&str],
    now: i64,
) -> Result<(), SigError> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or(SigError::Missing)?;
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or(SigError::Malformed)?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or(SigError::Malformed)?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => return Err(SigError::Malformed),
        }
    }
    let (credential, signed, signature) = (
        credential.ok_or(SigError::Malformed)?,
        signed.ok_or(SigError::Malformed)?,
        signature.ok_or(SigError::Malformed)?,
    );
    let mut scope = credential.splitn(5, '/');
    let (key_id, date, region, service, terminal) = (
        scope.next().ok_or(SigError::Malformed)?,
        scope.next().ok_or(SigError::Malformed)?,
        scope.next().ok_or(SigError::Malformed)?,
        scope.next().ok_or(SigError::Malformed)?,
        scope.next().ok_or(SigError::Malformed)?,
    );
    if terminal != "aws4_request" {
        return Err(SigError::Malformed);
    }
    if key_id != ADMIN_ACCESS_KEY_ID {
        return Err(SigError::UnknownKey);
    }
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or(SigError::Malformed)?;
    let t = parse_amz_date(amz_date).ok_or(SigError::Malformed)?;
    if !amz_date.starts_with(date) {
        return Err(SigError::Malformed);
    }
    if (t - now).abs() > MAX_SKEW_SECS {
        return Err(SigError::Skew);
    }
    let names: Vec<&str> = signed.split(';').collect();
    if !names.contains(&"host") || names.iter().any(|n| n.is_empty() || n.len() > 64) {
        return Err(SigError::Malformed);
    }
    let mut canonical_headers = String::new();
    for name in &names {
        let values: Vec<String> = headers
            .get_all(*name)
            .iter()
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        if values.is_empty() {
            return Err(SigError::Malformed);
        }
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    // Sorted by name, then value (not as `name=value` strings: `a=1` sorts before `a-b=1`);
    // a parameter without `=` has the empty value.
    let mut pairs: Vec<(&str, &str)> = (query.split('&').filter(|p| !p.is_empty()))
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    pairs.sort_unstable();
    let pairs: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let canonical = format!(
        "{method}\n{path}\n{}\n{canonical_headers}\n{signed}\n{}",
        pairs.join("&"),
        hex::encode(Sha256::digest(body))
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{date}/{region}/{service}/aws4_request\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    for secret in secrets {
        let mut key = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
        for part in [region, service, "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        let expected = hex::encode(hmac(&key, to_sign.as_bytes()));
        if ct_eq(expected.as_bytes(), signature.as_bytes()) {
            return Ok(());
        }
    }
    Err(SigError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_parse_to_unix_seconds() {
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("20251130T000000Z"), Some(1_764_460_800));
        assert_eq!(parse_amz_date("2025113T000000Z"), None);
        assert_eq!(parse_amz_date("20251330T000000Z"), None);
    }

    #[test]
    fn a_request_signed_with_the_admin_secret_verifies_and_nothing_else_does() {
        // Signed by the independent signer the gateway's tests use.
        let now = 1_764_460_800 + 3600;
        let signer = crate::gateway::sign::Signer {
            access_key_id: ADMIN_ACCESS_KEY_ID,
            secret_access_key: "the-admin-key-0123456789",
            session_token: None,
            region: "us-east-1",
        };
        let body = br#"{"UserPoolId":"p"}"#;
        let payload = hex::encode(Sha256::digest(body));
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:8080".parse().unwrap());
        for (k, v) in signer.headers("POST", "127.0.0.1:8080", "/", &payload, now) {
            headers.insert(k, v.parse().unwrap());
        }
        // The signer names its service s3; verify the scope it signed.
        let ok = verify(
            "POST",
            "/",
            "",
            &headers,
            body,
            &["other", "the-admin-key-0123456789"],
            now,
        );
        assert_eq!(ok, Ok(()));
        assert_eq!(
            verify(
                "POST",
                "/",
                "",
                &headers,
                b"{}",
                &["the-admin-key-0123456789"],
                now
            ),
            Err(SigError::Mismatch)
        );
        assert_eq!(
            verify("POST", "/", "", &headers, body, &["wrong"], now),
            Err(SigError::Mismatch)
        );
        assert_eq!(
            verify(
                "POST",
                "/",
                "",
                &headers,
                body,
                &["the-admin-key-0123456789"],
                now + 901
            ),
            Err(SigError::Skew)
        );
        assert_eq!(
            verify("POST", "/", "", &HeaderMap::new(), body, &["x"], now),
            Err(SigError::Missing)
        );
    }
}

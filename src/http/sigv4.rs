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
    /// A header that must be signed (`host`, `x-amz-date`, `content-type`,
    /// `x-amz-target`) is not among the signed headers.
    Unsigned(&'static str),
    /// The credential scope names another region or service.
    Scope,
}

/// Headers every admin request must sign: without `x-amz-target` one
/// signature could be replayed for another operation with the same body,
/// without `content-type` the body could be read another way.
pub const REQUIRED_SIGNED_HEADERS: [&str; 4] =
    ["host", "x-amz-date", "content-type", "x-amz-target"];

/// What a valid signature is made with: one of the admin secrets, and a
/// credential scope naming the server's region and the service of the
/// operation (`cognito-idp` or `cognito-identity`).
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub secrets: &'a [&'a str],
    pub region: &'a str,
    pub service: &'a str,
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
    // Day 29–31 of a shorter month runs on into the next, as it always has (the signature
    // covers the string, and the skew check bounds the instant).
    let month = time::Month::try_from(u8::try_from(mo).ok()?).ok()?;
    let first = time::Date::from_calendar_date(i32::try_from(y).ok()?, month, 1).ok()?;
    let midnight = first.midnight().assume_utc().unix_timestamp();
    Some(midnight + (d - 1) * 86400 + h * 3600 + mi * 60 + se)
}

/// Checks the request's SigV4 `Authorization` against the admin secrets.
pub fn verify(
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
    expected: Expected<'_>,
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
    if names.iter().any(|n| n.is_empty() || n.len() > 64) {
        return Err(SigError::Malformed);
    }
    if let Some(missing) = REQUIRED_SIGNED_HEADERS.iter().find(|h| !names.contains(h)) {
        return Err(SigError::Unsigned(missing));
    }
    if region != expected.region || service != expected.service {
        return Err(SigError::Scope);
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
    for secret in expected.secrets {
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
        // A day past the month's end runs on into the next month (unchanged behaviour).
        assert_eq!(
            parse_amz_date("20250230T000000Z"),
            parse_amz_date("20250302T000000Z")
        );
        assert_eq!(parse_amz_date("20251130T235960Z"), Some(1_764_547_200));
    }

    const KEY: &str = "the-admin-key-0123456789";
    const NOW: i64 = 1_764_460_800 + 3600;
    const BODY: &[u8] = br#"{"UserPoolId":"p"}"#;

    /// A request as an AWS SDK signs it: `signed` are the headers it signs
    /// (lower-case, sorted), `region`/`service` its credential scope.
    fn signed_request(signed: &[&str], region: &str, service: &str) -> HeaderMap {
        let all = [
            ("content-type", "application/x-amz-json-1.1".to_owned()),
            ("host", "127.0.0.1:8080".to_owned()),
            ("x-amz-date", crate::gateway::sign::amz_date(NOW)),
            (
                "x-amz-target",
                "AWSCognitoIdentityProviderService.AdminGetUser".to_owned(),
            ),
        ];
        let chosen: Vec<(&str, String)> = all
            .iter()
            .filter(|(k, _)| signed.contains(k))
            .cloned()
            .collect();
        let signer = crate::gateway::sign::Signer {
            access_key_id: ADMIN_ACCESS_KEY_ID,
            secret_access_key: KEY,
            session_token: None,
            region,
        };
        let payload = hex::encode(Sha256::digest(BODY));
        let authorization = signer.authorization(service, "POST", "/", &chosen, &payload, NOW);
        let mut headers = HeaderMap::new();
        for (k, v) in &all {
            headers.insert(*k, v.parse().unwrap());
        }
        headers.insert("authorization", authorization.parse().unwrap());
        headers
    }

    fn check(headers: &HeaderMap, body: &[u8], secrets: &[&str], now: i64) -> Result<(), SigError> {
        let expected = Expected {
            secrets,
            region: "local-east-1",
            service: "cognito-idp",
        };
        verify("POST", "/", "", headers, body, expected, now)
    }

    #[test]
    fn a_request_signed_with_the_admin_secret_verifies_and_nothing_else_does() {
        let headers = signed_request(
            &REQUIRED_SIGNED_HEADERS_SORTED,
            "local-east-1",
            "cognito-idp",
        );
        assert_eq!(check(&headers, BODY, &["other", KEY], NOW), Ok(()));
        assert_eq!(check(&headers, b"{}", &[KEY], NOW), Err(SigError::Mismatch));
        assert_eq!(
            check(&headers, BODY, &["wrong"], NOW),
            Err(SigError::Mismatch)
        );
        assert_eq!(
            check(&headers, BODY, &[KEY], NOW + 901),
            Err(SigError::Skew)
        );
        assert_eq!(
            check(&HeaderMap::new(), BODY, &["x"], NOW),
            Err(SigError::Missing)
        );
    }

    #[test]
    fn a9_admin_sigv4_requires_the_target_and_content_type_among_signed_headers() {
        for left_out in REQUIRED_SIGNED_HEADERS {
            let signed: Vec<&str> = REQUIRED_SIGNED_HEADERS_SORTED
                .into_iter()
                .filter(|h| *h != left_out)
                .collect();
            let headers = signed_request(&signed, "local-east-1", "cognito-idp");
            assert_eq!(
                check(&headers, BODY, &[KEY], NOW),
                Err(SigError::Unsigned(left_out)),
                "{left_out} left out of the signed headers"
            );
        }
    }

    #[test]
    fn a9_admin_sigv4_replayed_with_another_target_is_refused() {
        let mut headers = signed_request(
            &REQUIRED_SIGNED_HEADERS_SORTED,
            "local-east-1",
            "cognito-idp",
        );
        assert_eq!(check(&headers, BODY, &[KEY], NOW), Ok(()));
        headers.insert(
            "x-amz-target",
            "AWSCognitoIdentityProviderService.AdminDeleteUser"
                .parse()
                .unwrap(),
        );
        assert_eq!(check(&headers, BODY, &[KEY], NOW), Err(SigError::Mismatch));
        let mut headers = signed_request(
            &REQUIRED_SIGNED_HEADERS_SORTED,
            "local-east-1",
            "cognito-idp",
        );
        headers.insert("content-type", "application/json".parse().unwrap());
        assert_eq!(check(&headers, BODY, &[KEY], NOW), Err(SigError::Mismatch));
        // A signature that leaves the target out would survive the swap:
        // it is refused whatever target it arrives with.
        let mut headers = signed_request(
            &["content-type", "host", "x-amz-date"],
            "local-east-1",
            "cognito-idp",
        );
        headers.insert(
            "x-amz-target",
            "AWSCognitoIdentityProviderService.AdminDeleteUser"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            check(&headers, BODY, &[KEY], NOW),
            Err(SigError::Unsigned("x-amz-target"))
        );
    }

    #[test]
    fn a9_admin_sigv4_wrong_region_or_service_is_refused() {
        for (region, service) in [
            ("us-east-1", "cognito-idp"),
            ("local-east-1", "cognito-identity"),
            ("local-east-1", "s3"),
            ("local-east-2", "cognito-idp"),
        ] {
            let headers = signed_request(&REQUIRED_SIGNED_HEADERS_SORTED, region, service);
            assert_eq!(
                check(&headers, BODY, &[KEY], NOW),
                Err(SigError::Scope),
                "{region}/{service}"
            );
        }
        let headers = signed_request(
            &REQUIRED_SIGNED_HEADERS_SORTED,
            "local-east-1",
            "cognito-identity",
        );
        let identity = Expected {
            secrets: &[KEY],
            region: "local-east-1",
            service: "cognito-identity",
        };
        assert_eq!(
            verify("POST", "/", "", &headers, BODY, identity, NOW),
            Ok(())
        );
    }

    const REQUIRED_SIGNED_HEADERS_SORTED: [&str; 4] =
        ["content-type", "host", "x-amz-date", "x-amz-target"];
}

//! A minimal AWS Signature V4 signer for path-style S3 requests: what the
//! benchmark and the integration tests use to talk to the gateway without an
//! SDK (boto3 and the AWS CLI drive it in the end-to-end tests).

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// `YYYYMMDDTHHMMSSZ` for Unix seconds (years 0–9999, else the empty string).
pub fn amz_date(t: i64) -> String {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_default()
}

/// Credentials to sign with.
pub struct Signer<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    /// Sent (and signed) as `x-amz-security-token` when present.
    pub session_token: Option<&'a str>,
    pub region: &'a str,
}

impl Signer<'_> {
    /// The headers to send with a request for `path` (already URI-encoded,
    /// no query) to `host`: `authorization`, `x-amz-date`,
    /// `x-amz-content-sha256` and the session token. `payload_sha256` is the
    /// hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`.
    pub fn headers(
        &self,
        method: &str,
        host: &str,
        path: &str,
        payload_sha256: &str,
        now: i64,
    ) -> Vec<(&'static str, String)> {
        let mut headers: Vec<(&'static str, String)> = vec![
            ("host", host.to_owned()),
            ("x-amz-content-sha256", payload_sha256.to_owned()),
            ("x-amz-date", amz_date(now)),
        ];
        if let Some(t) = self.session_token {
            headers.push(("x-amz-security-token", t.to_owned()));
        }
        let authorization = self.authorization("s3", method, path, &headers, payload_sha256, now);
        headers.retain(|(k, _)| *k != "host");
        headers.push(("authorization", authorization));
        headers
    }

    /// The `Authorization` header signing `headers` (lower-case names,
    /// sorted, including `host` and an `x-amz-date` of `now`) of a request
    /// for `path` (no query) to `service` in the signer's region.
    pub fn authorization(
        &self,
        service: &str,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        payload_sha256: &str,
        now: i64,
    ) -> String {
        let date = amz_date(now);
        let signed: Vec<&str> = headers.iter().map(|(k, _)| *k).collect();
        let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let canonical = format!(
            "{method}\n{path}\n\n{canonical_headers}\n{}\n{payload_sha256}",
            signed.join(";")
        );
        let scope = format!("{}/{}/{service}/aws4_request", &date[..8], self.region);
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let mut key = hmac(
            format!("AWS4{}", self.secret_access_key).as_bytes(),
            &date[..8],
        );
        for part in [self.region, service, "aws4_request"] {
            key = hmac(&key, part);
        }
        let signature = hex::encode(hmac(&key, &to_sign));
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
            self.access_key_id,
            signed.join(";")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_formatted_in_utc() {
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(1_764_460_800), "20251130T000000Z");
        assert_eq!(amz_date(951_782_400 + 3661), "20000229T010101Z");
    }
}

//! SigV4: the Cognito protocol's verifier (`http::sigv4::verify`) and the gateway's signer
//! (`gateway::sign::Signer`) against an independent oracle, the AWS SDK's own `aws-sigv4`.
//! Random header sets, repeated headers, runs of spaces, query strings and bodies: whatever
//! canonical request aws-sigv4 signs, ours must compute the same (the signature verifies);
//! each single tampering is refused with its own `SigError`.

use crate::check;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use poolgate::http::sigv4::{ADMIN_ACCESS_KEY_ID, SigError, verify};
use proptest::prelude::*;
use std::time::{Duration, UNIX_EPOCH};

const SECRET: &str = "admin-secret-0123456789abcdef";
/// The server's region: the credential scope must name it (and the service `cognito-idp`).
const REGION: &str = "local-east-1";
const HOST: &str = "127.0.0.1:8080";
/// 2025-11-30T01:00:00Z
const NOW: i64 = 1_764_460_800 + 3_600;

/// What the signer adds or drops itself; the rest is fair game.
const RESERVED: &[&str] = &[
    "authorization",
    "host",
    "user-agent",
    "transfer-encoding",
    "x-amzn-trace-id",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "content-length",
];

#[derive(Debug, Clone)]
struct Req {
    method: &'static str,
    path: String,
    query: Vec<(String, Option<String>)>,
    /// Name, value; a name may repeat (sent as several header lines).
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn header_value() -> impl Strategy<Value = String> {
    // Visible ASCII and spaces, runs of spaces and leading/trailing spaces included. (Tabs are
    // left out on purpose: aws-sigv4 keeps them while botocore and we fold them, see report.)
    prop::collection::vec(
        prop_oneof![3 => proptest::char::range('!', '~'), 1 => Just(' ')],
        0..24,
    )
    .prop_map(|c| c.into_iter().collect())
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,14}",
        "x-amz-[a-z0-9-]{1,10}",
        Just("content-type".to_owned()),
        Just("x-amz-target".to_owned()),
        Just("x-amz-user-agent".to_owned()),
        Just("amz-sdk-invocation-id".to_owned()),
    ]
    .prop_filter("signer-owned header", |n| !RESERVED.contains(&n.as_str()))
}

fn query_part() -> impl Strategy<Value = String> {
    // Unreserved characters only (their encoding is the identity), with prefixes of one
    // another so the sort order of `k=v` strings and of (k, v) pairs can differ.
    prop_oneof![
        prop::sample::select(&["a", "a-b", "a.b", "a_b", "A", "ab", "a~", "b"][..])
            .prop_map(str::to_owned),
        "[A-Za-z0-9._~-]{0,6}",
    ]
}

fn request() -> impl Strategy<Value = Req> {
    (
        prop::sample::select(&["POST", "GET", "PUT"][..]),
        prop::collection::vec("[A-Za-z0-9_~-]{1,8}", 0..3),
        prop::collection::vec((query_part(), prop::option::of(query_part())), 0..4),
        prop::collection::vec((header_name(), header_value()), 0..6),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(method, segments, query, mut headers, body)| {
            // Always what a Cognito SDK call carries (a stricter signed-header rule may ask
            // for them).
            headers.push(("content-type".into(), "application/x-amz-json-1.1".into()));
            headers.push((
                "x-amz-target".into(),
                "AWSCognitoIdentityProviderService.AdminGetUser".into(),
            ));
            Req {
                method,
                path: format!("/{}", segments.join("/")),
                query,
                headers,
                body,
            }
        })
}

fn query_string(req: &Req) -> String {
    let parts: Vec<String> = (req.query.iter())
        .map(|(k, v)| match v {
            Some(v) => format!("{k}={v}"),
            None => k.clone(),
        })
        .collect();
    parts.join("&")
}

/// Signs `req` with aws-sigv4 (service cognito-idp) and returns the headers as the server
/// would receive them.
fn signed_by_oracle(req: &Req, key_id: &str, secret: &str, at: i64) -> HeaderMap {
    let identity = Credentials::new(key_id, secret, None, None, "props").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("cognito-idp")
        .time(UNIX_EPOCH + Duration::from_secs(at as u64))
        .settings(SigningSettings::default())
        .build()
        .expect("signing params")
        .into();
    let query = query_string(req);
    let uri = match query.as_str() {
        "" => format!("http://{HOST}{}", req.path),
        q => format!("http://{HOST}{}?{q}", req.path),
    };
    let mut sent: Vec<(&str, &str)> = vec![("host", HOST)];
    sent.extend(req.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let signable = SignableRequest::new(
        req.method,
        uri,
        sent.clone().into_iter(),
        SignableBody::Bytes(&req.body),
    )
    .expect("signable request");
    let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
    let mut map = HeaderMap::new();
    for (k, v) in sent {
        map.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    for (k, v) in instructions.headers() {
        map.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    map
}

fn check_request(req: &Req, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), SigError> {
    verify(
        req.method,
        &req.path,
        &query_string(req),
        headers,
        body,
        poolgate::http::sigv4::Expected {
            secrets: &["another-admin-key", SECRET],
            region: REGION,
            service: "cognito-idp",
        },
        now,
    )
}

#[test]
fn prop_sigv4_accepts_what_aws_sigv4_signs() {
    check("sigv4_oracle_accepts", 256, request(), |req| {
        let headers = signed_by_oracle(&req, ADMIN_ACCESS_KEY_ID, SECRET, NOW);
        prop_assert_eq!(check_request(&req, &headers, &req.body, NOW), Ok(()));
        // Inside the skew window either way.
        prop_assert_eq!(check_request(&req, &headers, &req.body, NOW + 900), Ok(()));
        prop_assert_eq!(check_request(&req, &headers, &req.body, NOW - 900), Ok(()));
        Ok(())
    });
}

#[derive(Debug, Clone)]
enum Tamper {
    /// Change the value of the n-th signed header (not host/x-amz-date).
    HeaderValue(prop::sample::Index),
    /// Drop every line of the n-th signed header.
    DropHeader(prop::sample::Index),
    Body(u8),
    Path,
    Method,
    Query,
    WrongSecret,
    OtherKeyId,
    Late(i64),
    NoAuthorization,
    NoDate,
    ExtraAuthField,
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Tamper::HeaderValue),
        any::<prop::sample::Index>().prop_map(Tamper::DropHeader),
        any::<u8>().prop_map(Tamper::Body),
        Just(Tamper::Path),
        Just(Tamper::Method),
        Just(Tamper::Query),
        Just(Tamper::WrongSecret),
        Just(Tamper::OtherKeyId),
        (901i64..1_000_000).prop_map(Tamper::Late),
        Just(Tamper::NoAuthorization),
        Just(Tamper::NoDate),
        Just(Tamper::ExtraAuthField),
    ]
}

#[test]
fn prop_sigv4_refuses_each_tampering_with_its_error() {
    check(
        "sigv4_tamper",
        256,
        (request(), tamper(), any::<bool>()),
        |(req, t, sign)| {
            let key_id = match t {
                Tamper::OtherKeyId => "AKIAIOSFODNN7EXAMPLE",
                _ => ADMIN_ACCESS_KEY_ID,
            };
            let secret = match t {
                Tamper::WrongSecret => "not-an-admin-key",
                _ => SECRET,
            };
            let mut headers = signed_by_oracle(&req, key_id, secret, NOW);
            let mut req = req;
            let mut body = req.body.clone();
            let mut now = NOW;
            let victims: Vec<String> = {
                let mut names: Vec<String> = req.headers.iter().map(|(k, _)| k.clone()).collect();
                names.sort();
                names.dedup();
                names
            };
            let expected = match &t {
                Tamper::HeaderValue(i) => {
                    let name = &victims[i.index(victims.len())];
                    let old: Vec<String> = (headers.get_all(name.as_str()).iter())
                        .map(|v| v.to_str().unwrap().to_owned())
                        .collect();
                    headers.insert(
                        HeaderName::from_bytes(name.as_bytes()).unwrap(),
                        HeaderValue::from_str(&format!("{}x", old.join(","))).unwrap(),
                    );
                    SigError::Mismatch
                }
                Tamper::DropHeader(i) => {
                    headers.remove(victims[i.index(victims.len())].as_str());
                    SigError::Malformed
                }
                Tamper::Body(b) => {
                    body.push(*b);
                    SigError::Mismatch
                }
                Tamper::Path => {
                    req.path
                        .push_str(if req.path.ends_with('/') { "x" } else { "/" });
                    SigError::Mismatch
                }
                Tamper::Method => {
                    req.method = if req.method == "DELETE" {
                        "POST"
                    } else {
                        "DELETE"
                    };
                    SigError::Mismatch
                }
                Tamper::Query => {
                    req.query.push(("zz-injected".into(), Some("1".into())));
                    SigError::Mismatch
                }
                Tamper::WrongSecret => SigError::Mismatch,
                Tamper::OtherKeyId => SigError::UnknownKey,
                Tamper::Late(by) => {
                    now = if sign { NOW + by } else { NOW - by };
                    SigError::Skew
                }
                Tamper::NoAuthorization => {
                    headers.remove("authorization");
                    SigError::Missing
                }
                Tamper::NoDate => {
                    headers.remove("x-amz-date");
                    SigError::Malformed
                }
                Tamper::ExtraAuthField => {
                    let auth = headers["authorization"].to_str().unwrap().to_owned();
                    let auth = if sign {
                        format!("{auth}, Extra=1")
                    } else {
                        auth.replacen("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512", 1)
                    };
                    headers.insert("authorization", HeaderValue::from_str(&auth).unwrap());
                    SigError::Malformed
                }
            };
            prop_assert_eq!(
                check_request(&req, &headers, &body, now),
                Err(expected),
                "{:?}",
                t
            );
            Ok(())
        },
    );
}

/// The gateway's own signer (used by the benchmark and the integration tests) signs what
/// aws-sigv4 signs for S3: same signed headers, same signature.
#[test]
fn prop_gateway_signer_matches_aws_sigv4() {
    let strategy = (
        prop::collection::vec("[A-Za-z0-9_.~-]{1,12}", 1..4),
        prop::sample::select(&["GET", "PUT", "DELETE", "HEAD"][..]),
        prop::option::of("[A-Za-z0-9+/=]{16,64}"),
        prop::collection::vec(any::<u8>(), 0..32),
        0i64..4_102_444_800,
    );
    check(
        "sigv4_gateway_signer",
        128,
        strategy,
        |(segments, method, token, body, now)| {
            use sha2::Digest;
            let path = format!("/bucket/{}", segments.join("/"));
            let payload = hex::encode(sha2::Sha256::digest(&body));
            let ours = poolgate::gateway::sign::Signer {
                access_key_id: "AKIDEXAMPLE",
                secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                session_token: token.as_deref(),
                region: "eu-west-1",
            }
            .headers(method, HOST, &path, &payload, now);
            let auth = |h: &[(&str, String)]| {
                h.iter()
                    .find(|(k, _)| *k == "authorization")
                    .map(|(_, v)| v.clone())
            };
            let ours = auth(&ours).expect("authorization");

            let identity = Credentials::new(
                "AKIDEXAMPLE",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                token.clone(),
                None,
                "props",
            )
            .into();
            let mut settings = SigningSettings::default();
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region("eu-west-1")
                .name("s3")
                .time(UNIX_EPOCH + Duration::from_secs(now as u64))
                .settings(settings)
                .build()
                .expect("params")
                .into();
            let signable = SignableRequest::new(
                method,
                format!("http://{HOST}{path}"),
                std::iter::once(("host", HOST)),
                SignableBody::Precomputed(payload.clone()),
            )
            .expect("signable");
            let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
            let theirs: Vec<(&str, String)> = instructions
                .headers()
                .map(|(k, v)| (k, v.to_owned()))
                .collect();
            let theirs = auth(&theirs).expect("authorization");
            prop_assert_eq!(ours.replace(", ", ","), theirs.replace(", ", ","));
            Ok(())
        },
    );
}

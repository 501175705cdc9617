//! The S3 gateway with credentials from an identity pool, signed here with
//! a minimal SigV4 (boto3 and the AWS CLI drive it in tests/e2e): own prefix
//! allowed, others denied, and credentials refused once expired (moved by
//! the injected clock) or once the identity is disabled.

use crate::helpers::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

struct Creds {
    ak: String,
    sk: String,
    token: String,
}

/// Sends a SigV4-signed path-style request (signed at the real time: the
/// gateway checks clock skew against the system clock).
async fn s3(
    app: &TestApp,
    c: &Creds,
    method: &str,
    path: &str,
    body: &[u8],
    token: bool,
) -> (u16, String) {
    s3_scoped(app, c, method, path, body, token, ("local-east-1", "s3")).await
}

/// [`s3`] with the credential scope's (region, service) chosen.
async fn s3_scoped(
    app: &TestApp,
    c: &Creds,
    method: &str,
    path: &str,
    body: &[u8],
    token: bool,
    (region, service): (&str, &str),
) -> (u16, String) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let signer = poolgate::gateway::sign::Signer {
        access_key_id: &c.ak,
        secret_access_key: &c.sk,
        session_token: token.then_some(c.token.as_str()),
        region,
    };
    let host = app.s3.trim_start_matches("http://");
    let payload = hex::encode(Sha256::digest(body));
    let mut headers = signer.headers(method, host, path, &payload, now);
    if service != "s3" {
        // Sign the same headers again under another service.
        let mut signed: Vec<(&str, String)> = headers
            .iter()
            .filter(|(k, _)| *k != "authorization")
            .cloned()
            .collect();
        signed.push(("host", host.to_owned()));
        signed.sort();
        let authorization = signer.authorization(service, method, path, &signed, &payload, now);
        for h in headers.iter_mut().filter(|(k, _)| *k == "authorization") {
            h.1 = authorization.clone();
        }
    }
    let mut req = app
        .http
        .request(method.parse().unwrap(), format!("{}{path}", app.s3))
        .body(body.to_vec());
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn credentials_for(app: &TestApp, email: &str) -> (String, String, Creds) {
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": "arn:aws:s3:::photos/${cognito-identity.amazonaws.com:sub}/*"}]});
    app.admin(
        "POST",
        "/v1/admin/roles",
        Some(json!({"name": "owner", "policy": policy})),
    )
    .await;
    let (_, p) = app
        .admin("POST", "/v1/admin/identity-pools", Some(json!({"name": "s3",
            "providers": [{"type": "user_pool", "pool_id": app.pool_id, "client_ids": [app.client_id]}],
            "authenticated_role": "owner"})))
        .await;
    let ip = p["id"].as_str().unwrap().to_owned();
    let tokens = app.confirmed_user(email).await;
    let logins = json!({format!("cognito-idp.local-east-1.amazonaws.com/{}", app.pool_id): tokens["id_token"]});
    let (_, id) = app
        .post(
            &format!("/v1/identity-pools/{ip}/identity"),
            json!({"logins": logins}),
        )
        .await;
    let identity = id["identity_id"].as_str().unwrap().to_owned();
    let (st, cr) = app
        .post(
            &format!("/v1/identity-pools/{ip}/credentials"),
            json!({"identity_id": identity, "logins": logins}),
        )
        .await;
    assert_eq!(st, 200, "{cr}");
    let c: &Value = &cr["credentials"];
    let creds = Creds {
        ak: c["access_key_id"].as_str().unwrap().into(),
        sk: c["secret_access_key"].as_str().unwrap().into(),
        token: c["session_token"].as_str().unwrap().into(),
    };
    (ip, identity, creds)
}

#[tokio::test]
async fn the_gateway_honours_the_role_policy_expiry_and_the_deny_list() {
    let app = spawn_app().await;
    let (ip, identity, c) = credentials_for(&app, "sam@example.com").await;
    let own = format!("/photos/{identity}/hello.txt");
    let (st, body) = s3(&app, &c, "PUT", &own, b"hello gateway", true).await;
    assert_eq!(st, 200, "{body}");
    let (st, body) = s3(&app, &c, "GET", &own, b"", true).await;
    assert_eq!((st, body.as_str()), (200, "hello gateway"));
    // The object is a file under the bucket's directory.
    let on_disk = app
        ._dir
        .path()
        .join("s3/photos")
        .join(&identity)
        .join("hello.txt");
    assert_eq!(std::fs::read(on_disk).unwrap(), b"hello gateway");

    let (st, body) = s3(
        &app,
        &c,
        "PUT",
        "/photos/local-east-1:someone-else/x.txt",
        b"x",
        true,
    )
    .await;
    assert!(
        st == 403 && body.contains("<Code>AccessDenied</Code>"),
        "{st} {body}"
    );
    let (st, body) = s3(
        &app,
        &c,
        "GET",
        &format!("/public/{identity}/hello.txt"),
        b"",
        true,
    )
    .await;
    assert!(
        st == 403 && body.contains("AccessDenied"),
        "another bucket: {st} {body}"
    );
    let (st, body) = s3(&app, &c, "GET", &own, b"", false).await;
    assert!(
        st == 403 && body.contains("AccessDenied"),
        "no session token: {body}"
    );
    let wrong = Creds {
        sk: "x".repeat(40),
        ..Creds {
            ak: c.ak.clone(),
            sk: String::new(),
            token: c.token.clone(),
        }
    };
    let (st, body) = s3(&app, &wrong, "GET", &own, b"", true).await;
    assert!(
        st == 403 && body.contains("SignatureDoesNotMatch"),
        "{st} {body}"
    );

    // Disabled: refused at once; enabled again: back.
    let path = format!("/v1/admin/identity-pools/{ip}/identities/{identity}/disable");
    assert_eq!(app.admin("POST", &path, None).await.0, 204);
    let (st, body) = s3(&app, &c, "GET", &own, b"", true).await;
    assert!(st == 403 && body.contains("AccessDenied"), "{st} {body}");
    let path = format!("/v1/admin/identity-pools/{ip}/identities/{identity}/enable");
    assert_eq!(app.admin("POST", &path, None).await.0, 204);
    assert_eq!(s3(&app, &c, "GET", &own, b"", true).await.0, 200);

    // Expired (the server's clock moves past the credentials' hour): 400, as S3 answers.
    app.clock.advance(3601);
    let (st, body) = s3(&app, &c, "GET", &own, b"", true).await;
    assert!(
        st == 400 && body.contains("<Code>ExpiredToken</Code>"),
        "{st} {body}"
    );
}

#[tokio::test]
async fn a9_the_gateway_refuses_a_signature_scoped_to_another_region_or_service() {
    let app = spawn_app().await;
    let (_, identity, c) = credentials_for(&app, "scope@example.com").await;
    let own = format!("/photos/{identity}/scoped.txt");
    let (st, body) = s3_scoped(&app, &c, "PUT", &own, b"x", true, ("local-east-1", "s3")).await;
    assert_eq!(st, 200, "the configured region and s3: {body}");
    for scope in [
        ("us-east-1", "s3"),
        ("local-east-2", "s3"),
        ("local-east-1", "sts"),
    ] {
        let (st, body) = s3_scoped(&app, &c, "GET", &own, b"", true, scope).await;
        assert!(
            st == 400 && body.contains("<Code>AuthorizationHeaderMalformed</Code>"),
            "{scope:?}: {st} {body}"
        );
    }
    // s3s itself refuses services other than s3 and sts.
    let (st, body) = s3_scoped(
        &app,
        &c,
        "GET",
        &own,
        b"",
        true,
        ("local-east-1", "cognito-idp"),
    )
    .await;
    assert!(
        st != 200 && body.contains("<Code>NotImplemented</Code>"),
        "{st} {body}"
    );
}

//! The S3 gateway with credentials from an identity pool, signed here with
//! a minimal SigV4 (boto3 and the AWS CLI drive it in tests/e2e): own prefix
//! allowed, others denied, and credentials refused once expired (moved by
//! the injected clock) or once the identity is disabled.

use crate::helpers::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub(crate) struct Creds {
    pub(crate) ak: String,
    pub(crate) sk: String,
    pub(crate) token: String,
}

/// Sends a SigV4-signed path-style request (signed at the real time: the
/// gateway checks clock skew against the system clock).
pub(crate) async fn s3(
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
    // The object's data is one file under the bucket's data directory (named by an id, not
    // by the key).
    let data = app._dir.path().join("s3/.poolgate/photos/data");
    let files: Vec<_> = std::fs::read_dir(&data).unwrap().collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let file = files[0].as_ref().unwrap().path();
    assert_eq!(std::fs::read(file).unwrap(), b"hello gateway");

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

// ---- I3: revocation reaches credentials already issued ------------------
//
// Each cause below is applied after credentials were issued; the gateway
// must then refuse them with S3's AccessDenied. Changes made by the user
// pools reach the gateway through its one-second caches, so the tests poll
// (bounded, at most 5 s; no timing is asserted). Another user's credentials
// keep working throughout.

const DEV: &str = "login.example.app";

/// A role `owner` (own prefix of `photos`) and an identity pool trusting
/// the test pool's client and a developer provider; returns its id.
async fn i3_pool(app: &TestApp, client_ids: &[&str]) -> String {
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": "arn:aws:s3:::photos/${cognito-identity.amazonaws.com:sub}/*"}]});
    let (st, b) = app
        .admin(
            "POST",
            "/v1/admin/roles",
            Some(json!({"name": "owner", "policy": policy})),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    let (st, p) = app
        .admin(
            "POST",
            "/v1/admin/identity-pools",
            Some(json!({"name": "s3",
            "providers": [{"type": "user_pool", "pool_id": app.pool_id, "client_ids": client_ids},
                          {"type": "developer", "name": DEV}],
            "authenticated_role": "owner"})),
        )
        .await;
    assert_eq!(st, 201, "{p}");
    p["id"].as_str().unwrap().to_owned()
}

fn i3_logins(app: &TestApp, tokens: &Value) -> Value {
    json!({format!("cognito-idp.local-east-1.amazonaws.com/{}", app.pool_id): tokens["id_token"]})
}

/// The identity of these logins and fresh credentials for it.
async fn i3_creds(app: &TestApp, ip: &str, logins: &Value) -> (String, Creds) {
    let (st, id) = app
        .post(
            &format!("/v1/identity-pools/{ip}/identity"),
            json!({"logins": logins}),
        )
        .await;
    assert_eq!(st, 200, "{id}");
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
    (identity, creds)
}

/// Writes an object under the identity's own prefix; the status.
async fn i3_put(app: &TestApp, c: &Creds, identity: &str) -> (u16, String) {
    s3(
        app,
        c,
        "PUT",
        &format!("/photos/{identity}/a.txt"),
        b"a",
        true,
    )
    .await
}

/// Polls (at most 5 s) until the gateway refuses; then checks that the
/// refusal is S3's AccessDenied.
async fn i3_refused(app: &TestApp, c: &Creds, identity: &str) {
    let mut last = (0, String::new());
    for _ in 0..100 {
        last = i3_put(app, c, identity).await;
        if last.0 != 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        last.0 == 403 && last.1.contains("<Code>AccessDenied</Code>"),
        "still honoured or wrongly refused: {} {}",
        last.0,
        last.1
    );
}

async fn i3_allowed(app: &TestApp, c: &Creds, identity: &str) {
    let (st, body) = i3_put(app, c, identity).await;
    assert_eq!(st, 200, "{body}");
}

/// Sign-up, confirmation and sign-in of a user through `client`.
async fn i3_user(app: &TestApp, email: &str, client: &str) -> Value {
    let tokens = app.confirmed_user(email).await;
    if client == app.client_id {
        return tokens;
    }
    let (st, b) = app
        .post(
            &app.pool_path("signin"),
            json!({"client_id": client, "username": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    b["tokens"].clone()
}

#[tokio::test]
async fn i3_disabling_a_user_revokes_credentials_issued_before_and_enabling_does_not_revive_them() {
    let app = spawn_app().await;
    let ip = i3_pool(&app, &[&app.client_id]).await;
    let bob = i3_user(&app, "bob@example.com", &app.client_id).await;
    let eve = i3_user(&app, "eve@example.com", &app.client_id).await;
    let (b_id, b_creds) = i3_creds(&app, &ip, &i3_logins(&app, &bob)).await;
    let (e_id, e_creds) = i3_creds(&app, &ip, &i3_logins(&app, &eve)).await;
    i3_allowed(&app, &b_creds, &b_id).await;

    let user = format!("/v1/admin/pools/{}/users/bob@example.com", app.pool_id);
    assert!(app.admin("POST", &format!("{user}/disable"), None).await.0 < 300);
    i3_refused(&app, &b_creds, &b_id).await;
    i3_allowed(&app, &e_creds, &e_id).await;

    // Enabled again: the sign-in that was ended stays ended; a new one works.
    assert!(app.admin("POST", &format!("{user}/enable"), None).await.0 < 300);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (st, _) = i3_put(&app, &b_creds, &b_id).await;
    assert_eq!(st, 403, "credentials from before the disable stay dead");
    let (_, again) = app.sign_in("bob@example.com", PASSWORD).await;
    let (id2, fresh) = i3_creds(&app, &ip, &i3_logins(&app, &again["tokens"])).await;
    assert_eq!(id2, b_id);
    i3_allowed(&app, &fresh, &b_id).await;
}

#[tokio::test]
async fn i3_deleting_a_user_revokes_their_credentials_only() {
    let app = spawn_app().await;
    let ip = i3_pool(&app, &[&app.client_id]).await;
    let bob = i3_user(&app, "bob@example.com", &app.client_id).await;
    let eve = i3_user(&app, "eve@example.com", &app.client_id).await;
    let (b_id, b_creds) = i3_creds(&app, &ip, &i3_logins(&app, &bob)).await;
    let (e_id, e_creds) = i3_creds(&app, &ip, &i3_logins(&app, &eve)).await;
    let user = format!("/v1/admin/pools/{}/users/bob@example.com", app.pool_id);
    assert_eq!(app.admin("DELETE", &user, None).await.0, 204);
    i3_refused(&app, &b_creds, &b_id).await;
    i3_allowed(&app, &e_creds, &e_id).await;
}

#[tokio::test]
async fn i3_global_sign_out_revokes_credentials_of_every_earlier_sign_in() {
    let app = spawn_app().await;
    let ip = i3_pool(&app, &[&app.client_id]).await;
    let bob = i3_user(&app, "bob@example.com", &app.client_id).await;
    let eve = i3_user(&app, "eve@example.com", &app.client_id).await;
    // Two sign-ins of Bob, credentials from each.
    let (_, second) = app.sign_in("bob@example.com", PASSWORD).await;
    let (b_id, first_creds) = i3_creds(&app, &ip, &i3_logins(&app, &bob)).await;
    let (_, second_creds) = i3_creds(&app, &ip, &i3_logins(&app, &second["tokens"])).await;
    let (e_id, e_creds) = i3_creds(&app, &ip, &i3_logins(&app, &eve)).await;
    let (st, b) = app
        .request("POST", "/v1/me/signout", None, bob["access_token"].as_str())
        .await;
    assert!(st < 300, "{st} {b}");
    i3_refused(&app, &first_creds, &b_id).await;
    i3_refused(&app, &second_creds, &b_id).await;
    i3_allowed(&app, &e_creds, &e_id).await;
    // A sign-in after the sign-out gets working credentials.
    let (_, third) = app.sign_in("bob@example.com", PASSWORD).await;
    let (_, fresh) = i3_creds(&app, &ip, &i3_logins(&app, &third["tokens"])).await;
    i3_allowed(&app, &fresh, &b_id).await;
}

#[tokio::test]
async fn i3_admin_global_sign_out_and_a_revoked_refresh_token_revoke_credentials() {
    let app = spawn_app().await;
    let ip = i3_pool(&app, &[&app.client_id]).await;
    let bob = i3_user(&app, "bob@example.com", &app.client_id).await;
    let eve = i3_user(&app, "eve@example.com", &app.client_id).await;
    let (_, second) = app.sign_in("eve@example.com", PASSWORD).await;
    let (b_id, b_creds) = i3_creds(&app, &ip, &i3_logins(&app, &bob)).await;
    let (e_id, e_first) = i3_creds(&app, &ip, &i3_logins(&app, &eve)).await;
    let (_, e_second) = i3_creds(&app, &ip, &i3_logins(&app, &second["tokens"])).await;

    let path = format!(
        "/v1/admin/pools/{}/users/bob@example.com/signout",
        app.pool_id
    );
    let (st, b) = app.admin("POST", &path, None).await;
    assert!(st < 300, "{st} {b}");
    i3_refused(&app, &b_creds, &b_id).await;
    i3_allowed(&app, &e_first, &e_id).await;

    // Revoking one refresh token ends that sign-in's credentials only.
    let (st, b) = app
        .post(
            &app.pool_path("token/revoke"),
            json!({"client_id": app.client_id, "token": eve["refresh_token"]}),
        )
        .await;
    assert!(st < 300, "{st} {b}");
    i3_refused(&app, &e_first, &e_id).await;
    i3_allowed(&app, &e_second, &e_id).await;
}

#[tokio::test]
async fn i3_deleting_the_identity_revokes_its_credentials_only() {
    let app = spawn_app().await;
    let ip = i3_pool(&app, &[&app.client_id]).await;
    let bob = i3_user(&app, "bob@example.com", &app.client_id).await;
    let eve = i3_user(&app, "eve@example.com", &app.client_id).await;
    let (b_id, b_creds) = i3_creds(&app, &ip, &i3_logins(&app, &bob)).await;
    let (e_id, e_creds) = i3_creds(&app, &ip, &i3_logins(&app, &eve)).await;
    let path = format!("/v1/admin/identity-pools/{ip}/identities/{b_id}");
    assert_eq!(app.admin("DELETE", &path, None).await.0, 204);
    i3_refused(&app, &b_creds, &b_id).await;
    i3_allowed(&app, &e_creds, &e_id).await;
}

#[tokio::test]
async fn i3_unlinking_a_login_revokes_credentials_issued_before_it() {
    let app = spawn_app().await;
    let ip = i3_pool(&app, &[&app.client_id]).await;
    let bob = i3_user(&app, "bob@example.com", &app.client_id).await;
    let eve = i3_user(&app, "eve@example.com", &app.client_id).await;
    let logins = i3_logins(&app, &bob);
    let (b_id, b_creds) = i3_creds(&app, &ip, &logins).await;
    let (e_id, e_creds) = i3_creds(&app, &ip, &i3_logins(&app, &eve)).await;
    // Bob's app links its own user id to the identity too.
    let (st, b) = app
        .admin(
            "POST",
            &format!("/v1/admin/identity-pools/{ip}/developer-identities"),
            Some(json!({"user_identifier": "bob-42", "identity_id": b_id})),
        )
        .await;
    assert_eq!(
        (st, b["identity_id"].as_str()),
        (200, Some(b_id.as_str())),
        "{b}"
    );
    let (_, dev_creds) = i3_creds(&app, &ip, &logins).await;

    // Unlinking the developer login (proved with the user-pool login)
    // leaves the identity enabled with its user-pool login...
    let (st, b) = app
        .cognito_identity(
            "UnlinkIdentity",
            json!({"IdentityId": b_id, "Logins": logins, "LoginsToRemove": [DEV]}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let (st, d) = app
        .admin(
            "GET",
            &format!("/v1/admin/identity-pools/{ip}/identities/{b_id}"),
            None,
        )
        .await;
    assert_eq!(st, 200, "{d}");
    assert_eq!(d["disabled"], false, "{d}");
    // ...but every credential issued before the unlink stops.
    i3_refused(&app, &b_creds, &b_id).await;
    i3_refused(&app, &dev_creds, &b_id).await;
    i3_allowed(&app, &e_creds, &e_id).await;
    // Credentials issued after it work.
    let (_, fresh) = i3_creds(&app, &ip, &logins).await;
    i3_allowed(&app, &fresh, &b_id).await;
}

#[tokio::test]
async fn i3_deleting_the_app_client_revokes_credentials_of_its_sign_ins_only() {
    let app = spawn_app().await;
    let (st, other) = app
        .admin(
            "POST",
            &format!("/v1/admin/pools/{}/clients", app.pool_id),
            Some(json!({"name": "mobile"})),
        )
        .await;
    assert_eq!(st, 201, "{other}");
    let other = other["client_id"].as_str().unwrap().to_owned();
    let ip = i3_pool(&app, &[&app.client_id, &other]).await;
    let bob = i3_user(&app, "bob@example.com", &other).await;
    let eve = i3_user(&app, "eve@example.com", &app.client_id).await;
    let (b_id, b_creds) = i3_creds(&app, &ip, &i3_logins(&app, &bob)).await;
    let (e_id, e_creds) = i3_creds(&app, &ip, &i3_logins(&app, &eve)).await;
    let path = format!("/v1/admin/pools/{}/clients/{other}", app.pool_id);
    assert_eq!(app.admin("DELETE", &path, None).await.0, 204);
    i3_refused(&app, &b_creds, &b_id).await;
    i3_allowed(&app, &e_creds, &e_id).await;
}

#[tokio::test]
async fn i3_the_roles_current_policy_applies_to_credentials_issued_before() {
    let app = spawn_app().await;
    let ip = i3_pool(&app, &[&app.client_id]).await;
    let bob = i3_user(&app, "bob@example.com", &app.client_id).await;
    let (b_id, c) = i3_creds(&app, &ip, &i3_logins(&app, &bob)).await;
    i3_allowed(&app, &c, &b_id).await;
    // Narrowed to reading: the old credentials can no longer write.
    let read_only = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject"],
         "Resource": "arn:aws:s3:::photos/${cognito-identity.amazonaws.com:sub}/*"}]});
    let (st, b) = app
        .admin(
            "PUT",
            "/v1/admin/roles/owner",
            Some(json!({"policy": read_only})),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    i3_refused(&app, &c, &b_id).await;
    let (st, body) = s3(&app, &c, "GET", &format!("/photos/{b_id}/a.txt"), b"", true).await;
    assert_eq!((st, body.as_str()), (200, "a"), "reading is still allowed");
    // Widened to another bucket: the old credentials gain it too, as a
    // role session does.
    let wider = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": ["arn:aws:s3:::photos/${cognito-identity.amazonaws.com:sub}/*",
                      "arn:aws:s3:::public/*"]}]});
    let (st, b) = app
        .admin(
            "PUT",
            "/v1/admin/roles/owner",
            Some(json!({"policy": wider})),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let (st, body) = s3(&app, &c, "PUT", "/public/x.txt", b"x", true).await;
    assert_eq!(st, 200, "{body}");
}

#[tokio::test]
async fn i3_deleting_the_role_revokes_and_a_new_role_of_that_name_does_not_revive() {
    let app = spawn_app().await;
    let ip = i3_pool(&app, &[&app.client_id]).await;
    let bob = i3_user(&app, "bob@example.com", &app.client_id).await;
    let logins = i3_logins(&app, &bob);
    let (b_id, c) = i3_creds(&app, &ip, &logins).await;
    let (st, role) = app.admin("GET", "/v1/admin/roles/owner", None).await;
    assert_eq!(st, 200, "{role}");
    assert_eq!(
        app.admin("DELETE", "/v1/admin/roles/owner", None).await.0,
        204
    );
    i3_refused(&app, &c, &b_id).await;
    // The same name, created later, with the same policy: a different role.
    app.clock.advance(1);
    let (st, b) = app
        .admin(
            "POST",
            "/v1/admin/roles",
            Some(json!({"name": "owner", "policy": role["policy"]})),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    let (st, _) = i3_put(&app, &c, &b_id).await;
    assert_eq!(st, 403, "the deleted role's sessions stay dead");
    let (_, fresh) = i3_creds(&app, &ip, &logins).await;
    i3_allowed(&app, &fresh, &b_id).await;
}

/// The gateway parses its own paths: what it cannot decode, a method it does
/// not know, a request without a signature, all answer S3's XML error.
#[tokio::test]
async fn gateway_refusals_are_s3_xml() {
    let app = spawn_app().await;
    let mut checked = 0;
    for method in ["GET", "PUT", "DELETE", "HEAD", "POST", "FOO", "PROPFIND"] {
        for path in [
            "/photos/%ff",
            "/%ff/x",
            "/photos/%C0%AF",
            "/photos/a%",
            "/photos/%zz",
            "/",
            "/photos?list-type=2&prefix=%ff",
            "/no_such..bucket/x",
        ] {
            let resp = app
                .http
                .request(method.parse().unwrap(), format!("{}{path}", app.s3))
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let ct = resp
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned());
            let body = resp.text().await.unwrap();
            let what = format!("{method} {path}: {status} {ct:?} {body}");
            assert!((400..500).contains(&status) || status == 501, "{what}");
            if method != "HEAD" {
                assert_eq!(ct.as_deref(), Some("application/xml"), "{what}");
                assert!(body.contains("<Error><Code>"), "{what}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 56);
    // A method S3 does not know is S3's 405, not s3s's 501.
    for method in ["FOO", "OPTIONS", "PATCH"] {
        let resp = app
            .http
            .request(method.parse().unwrap(), format!("{}/photos/x", app.s3))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405, "{method}");
        assert!(
            resp.text()
                .await
                .unwrap()
                .contains("<Code>MethodNotAllowed</Code>")
        );
    }
}

/// Percent-encodes a key for a request path (all but unreserved characters and '/').
fn encode_path(key: &str) -> String {
    key.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn i4_any_s3_key_up_to_1024_bytes_and_a_beside_a_slash_b() {
    let app = spawn_app().await;
    let (_, identity, c) = credentials_for(&app, "kim@example.com").await;
    let prefix = format!("{identity}/");
    let fill = 1024 - prefix.len();
    let longest = format!("{prefix}{}{}", "日".repeat(fill / 3), "x".repeat(fill % 3));
    assert_eq!(longest.len(), 1024);
    let keys = [
        longest.clone(),
        format!("{prefix}a"),
        format!("{prefix}a/b"),
        format!("{prefix}c/d"),
        format!("{prefix}c"),
        // (`..` segments: boto3 in tests/e2e; reqwest normalizes them away.)
        format!("{prefix}dots//y/"),
        format!("{prefix}{}", "ü".repeat(200)),
    ];
    for key in &keys {
        let path = format!("/photos/{}", encode_path(key));
        let (st, body) = s3(&app, &c, "PUT", &path, key.as_bytes(), true).await;
        assert_eq!(st, 200, "{key}: {body}");
    }
    for key in &keys {
        let path = format!("/photos/{}", encode_path(key));
        let (st, body) = s3(&app, &c, "GET", &path, b"", true).await;
        assert_eq!((st, body.as_str()), (200, key.as_str()));
    }
    let path = format!("/photos/{}y", encode_path(&longest));
    let (st, body) = s3(&app, &c, "PUT", &path, b"x", true).await;
    assert!(
        st == 400 && body.contains("<Code>KeyTooLongError</Code>"),
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

//! Identity pools: roles with validated policies, GetId, credentials, role
//! mapping, and the checks on login tokens (I1, J3, J4).

use crate::helpers::*;
use poolgate::clock::Clock;
use poolgate::identity::SessionProblem;
use serde_json::{Value, json};

const READER: &str = "arn:aws:iam::000000000000:role/reader";

fn per_identity_policy() -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
         "Resource": "arn:aws:s3:::photos/${cognito-identity.amazonaws.com:sub}/*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::photos",
         "Condition": {"StringLike": {"s3:prefix": "${cognito-identity.amazonaws.com:sub}/*"}}}
    ]})
}

fn read_only_policy() -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::public/*"}
    ]})
}

/// Roles `owner` (per-identity prefix, 2 h max), `reader` (read-only) and
/// `admins`; an identity pool trusting the test user pool's client.
async fn setup(app: &TestApp, extra: Value) -> String {
    for (name, policy, max) in [
        ("owner", per_identity_policy(), 7200),
        ("reader", read_only_policy(), 3600),
        ("admins", read_only_policy(), 3600),
    ] {
        let (st, b) = app
            .admin(
                "POST",
                "/v1/admin/roles",
                Some(json!({"name": name, "policy": policy, "max_session_secs": max})),
            )
            .await;
        assert_eq!(st, 201, "{b}");
    }
    let mut body = json!({
        "name": "photos",
        "providers": [{"type": "user_pool", "pool_id": app.pool_id, "client_ids": [app.client_id]}],
        "authenticated_role": "owner",
        "unauthenticated_role": "reader",
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (st, p) = app
        .admin("POST", "/v1/admin/identity-pools", Some(body))
        .await;
    assert_eq!(st, 201, "{p}");
    p["id"].as_str().unwrap().to_owned()
}

fn provider(app: &TestApp) -> String {
    format!("cognito-idp.local-east-1.amazonaws.com/{}", app.pool_id)
}

async fn get_id(app: &TestApp, ip: &str, logins: Value) -> (u16, Value) {
    app.post(
        &format!("/v1/identity-pools/{ip}/identity"),
        json!({"logins": logins}),
    )
    .await
}

async fn creds(app: &TestApp, ip: &str, body: Value) -> (u16, Value) {
    app.post(&format!("/v1/identity-pools/{ip}/credentials"), body)
        .await
}

#[tokio::test]
async fn roles_validate_their_policy_and_say_where_it_is_wrong() {
    let app = spawn_app().await;
    let (st, b) = app
        .admin("POST", "/v1/admin/roles", Some(json!({"name": "bad", "policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}, {"Effect": "Maybe", "Action": "s3:GetObject", "Resource": "*"}]}})))
        .await;
    assert_eq!(
        (st, b["code"].as_str()),
        (400, Some("InvalidParameter")),
        "{b}"
    );
    assert!(
        b["detail"]
            .as_str()
            .unwrap()
            .contains("Statement[1].Effect"),
        "{b}"
    );
    let (st, b) = app
        .admin("POST", "/v1/admin/roles", Some(json!({"name": "iam", "policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}]}})))
        .await;
    assert_eq!(st, 400, "{b}");
    let (st, b) = app
        .admin(
            "POST",
            "/v1/admin/roles",
            Some(json!({"name": "long", "policy": read_only_policy(), "max_session_secs": 50000})),
        )
        .await;
    assert_eq!(st, 400, "{b}");
    let (st, r) = app
        .admin(
            "POST",
            "/v1/admin/roles",
            Some(json!({"name": "reader", "policy": read_only_policy()})),
        )
        .await;
    assert_eq!(st, 201, "{r}");
    assert_eq!(r["arn"], READER);
    assert_eq!(r["max_session_secs"], 3600);
    assert_eq!(
        app.admin(
            "GET",
            &format!("/v1/admin/roles/{}", READER.replace('/', "%2F")),
            None
        )
        .await
        .0,
        200
    );
    let (st, _) = app
        .admin(
            "POST",
            "/v1/admin/roles",
            Some(json!({"name": "reader", "policy": read_only_policy()})),
        )
        .await;
    assert_eq!(st, 409);
    let (st, r) = app
        .admin(
            "PUT",
            "/v1/admin/roles/reader",
            Some(json!({"policy": per_identity_policy(), "max_session_secs": 900})),
        )
        .await;
    assert_eq!(
        (st, r["max_session_secs"].as_i64()),
        (200, Some(900)),
        "{r}"
    );
    assert_eq!(
        app.admin("GET", "/v1/admin/roles", None).await.1["roles"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        app.admin("DELETE", "/v1/admin/roles/reader", None).await.0,
        204
    );
    assert_eq!(
        app.admin("GET", "/v1/admin/roles/reader", None).await.0,
        404
    );
}

#[tokio::test]
async fn identity_pools_are_managed_and_refuse_unknown_settings() {
    let app = spawn_app().await;
    let id = setup(&app, json!({})).await;
    assert!(id.starts_with("local-east-1:"), "{id}");
    let (st, p) = app
        .admin("GET", &format!("/v1/admin/identity-pools/{id}"), None)
        .await;
    assert_eq!(
        (st, p["allow_unauthenticated"].as_bool()),
        (200, Some(false)),
        "{p}"
    );
    assert_eq!(p["credentials_duration_secs"], 3600);
    let (st, b) = app
        .admin(
            "POST",
            "/v1/admin/identity-pools",
            Some(json!({"name": "x", "allow_guests": true})),
        )
        .await;
    assert_eq!(st, 400, "{b}");
    let (st, b) = app
        .admin(
            "POST",
            "/v1/admin/identity-pools",
            Some(json!({"name": "x", "credentials_duration_secs": 60})),
        )
        .await;
    assert_eq!(st, 400, "{b}");
    let (st, p) = app
        .admin("PUT", &format!("/v1/admin/identity-pools/{id}"), Some(json!({"name": "renamed", "allow_unauthenticated": true, "unauthenticated_role": "reader"})))
        .await;
    assert_eq!((st, p["name"].as_str()), (200, Some("renamed")), "{p}");
    let (_, list) = app.admin("GET", "/v1/admin/identity-pools", None).await;
    assert_eq!(list["identity_pools"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.admin("DELETE", &format!("/v1/admin/identity-pools/{id}"), None)
            .await
            .0,
        204
    );
    assert_eq!(
        app.admin("GET", &format!("/v1/admin/identity-pools/{id}"), None)
            .await
            .0,
        404
    );
    assert_eq!(get_id(&app, &id, json!({})).await.0, 404);
}

#[tokio::test]
async fn i1_get_id_is_stable_per_subject_and_credentials_are_scoped_and_short_lived() {
    let app = spawn_app().await;
    let ip = setup(&app, json!({})).await;
    let tokens = app.confirmed_user("ida@example.com").await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let logins = json!({provider(&app): id_token});
    let (st, a) = get_id(&app, &ip, logins.clone()).await;
    assert_eq!(st, 200, "{a}");
    let identity = a["identity_id"].as_str().unwrap().to_owned();
    assert!(identity.starts_with("local-east-1:"));
    // Same subject, a new sign-in, the other provider name: same identity.
    let (_, t2) = app.sign_in("ida@example.com", PASSWORD).await;
    let other_name = format!("{ISSUER_BASE}/{}", app.pool_id).replace("http://", "");
    let (_, b) = get_id(&app, &ip, json!({other_name: t2["tokens"]["id_token"]})).await;
    assert_eq!(b["identity_id"], identity.as_str());
    // Another user: another identity (never keyed on email or anything else).
    let t3 = app.confirmed_user("other@example.com").await;
    let (_, c) = get_id(&app, &ip, json!({provider(&app): t3["id_token"]})).await;
    assert_ne!(c["identity_id"], identity.as_str());

    let (st, cr) = creds(
        &app,
        &ip,
        json!({"identity_id": identity, "logins": logins}),
    )
    .await;
    assert_eq!(st, 200, "{cr}");
    let c = &cr["credentials"];
    let now = app.clock.now();
    assert_eq!(
        c["expiration"].as_i64().unwrap(),
        now + 3600,
        "1 h by default"
    );
    assert!(c["access_key_id"].as_str().unwrap().starts_with("ASIA"));
    assert_eq!(c["secret_access_key"].as_str().unwrap().len(), 40);
    let grant = app
        .state
        .identity
        .check_session(
            c["access_key_id"].as_str().unwrap(),
            c["session_token"].as_str().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(grant.identity_id, identity);
    assert_eq!(grant.identity_pool_id, ip);
    assert_eq!(grant.role, "owner");
    assert_eq!(grant.amr, "authenticated");
    assert_eq!(grant.policy, per_identity_policy());
    assert_eq!(
        app.state
            .identity
            .secret_for(c["access_key_id"].as_str().unwrap())
            .as_deref(),
        c["secret_access_key"].as_str()
    );
    // A longer request is capped by the role (2 h); out of range is refused.
    let (_, cr) = creds(
        &app,
        &ip,
        json!({"identity_id": identity, "logins": logins, "duration_secs": 43200}),
    )
    .await;
    assert_eq!(
        cr["credentials"]["expiration"].as_i64().unwrap(),
        now + 7200
    );
    let (st, _) = creds(
        &app,
        &ip,
        json!({"identity_id": identity, "logins": logins, "duration_secs": 60}),
    )
    .await;
    assert_eq!(st, 400);
    // Expired credentials stop.
    app.clock.advance(3601);
    let c = &cr["credentials"];
    let old = app
        .state
        .identity
        .check_session(
            c["access_key_id"].as_str().unwrap(),
            c["session_token"].as_str().unwrap(),
        )
        .await;
    assert!(old.is_ok(), "the 2 h credentials still work");
    app.clock.advance(3600);
    let old = app
        .state
        .identity
        .check_session(
            c["access_key_id"].as_str().unwrap(),
            c["session_token"].as_str().unwrap(),
        )
        .await;
    assert_eq!(old.unwrap_err(), SessionProblem::Expired);
}

#[tokio::test]
async fn j3_j4_only_unexpired_unrevoked_id_tokens_of_allowed_clients_and_trusted_pools_count() {
    let app = spawn_app().await;
    let ip = setup(&app, json!({})).await;
    let tokens = app.confirmed_user("jay@example.com").await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let refused = |b: &Value| b["code"] == "NotAuthorized";
    // An access token is not an ID token.
    let (st, b) = get_id(&app, &ip, json!({provider(&app): tokens["access_token"]})).await;
    assert!(st == 401 && refused(&b), "{st} {b}");
    // A forged signature.
    let mut forged = id_token.to_owned();
    forged.pop();
    forged.push(if id_token.ends_with('A') { 'B' } else { 'A' });
    let (st, _) = get_id(&app, &ip, json!({provider(&app): forged})).await;
    assert_eq!(st, 401);
    // A provider the pool does not trust, and a token under the wrong name.
    let (st, b) = get_id(&app, &ip, json!({"accounts.google.com": id_token})).await;
    assert_eq!(st, 401, "{b}");
    assert!(b["detail"].as_str().unwrap().contains("not trusted"), "{b}");
    let (st, _) = get_id(
        &app,
        &ip,
        json!({"cognito-idp.local-east-1.amazonaws.com/local-east-1_Other0000": id_token}),
    )
    .await;
    assert_eq!(st, 401);
    // An ID token of a client the identity pool does not allow.
    let (_, client) = app
        .admin(
            "POST",
            &format!("/v1/admin/pools/{}/clients", app.pool_id),
            Some(json!({"name": "other"})),
        )
        .await;
    let (_, t) = app
        .post(&app.pool_path("signin"), json!({"client_id": client["client_id"], "username": "jay@example.com", "password": PASSWORD}))
        .await;
    let (st, b) = get_id(&app, &ip, json!({provider(&app): t["tokens"]["id_token"]})).await;
    assert!(
        st == 401 && b["detail"].as_str().unwrap().contains("Audience"),
        "{b}"
    );
    // Expired.
    app.clock.advance(3600 + 31);
    let (st, _) = get_id(&app, &ip, json!({provider(&app): id_token})).await;
    assert_eq!(st, 401);
    // Revoked by a global sign-out.
    let (_, fresh) = app.sign_in("jay@example.com", PASSWORD).await;
    let fresh_id = fresh["tokens"]["id_token"].as_str().unwrap().to_owned();
    assert_eq!(
        get_id(&app, &ip, json!({provider(&app): fresh_id})).await.0,
        200
    );
    app.request(
        "POST",
        "/v1/me/signout",
        None,
        fresh["tokens"]["access_token"].as_str(),
    )
    .await;
    let (st, b) = get_id(&app, &ip, json!({provider(&app): fresh_id})).await;
    assert!(
        st == 401 && b["detail"].as_str().unwrap().contains("revoked"),
        "{b}"
    );
}

#[tokio::test]
async fn guests_get_the_read_only_role_only_where_allowed_and_become_authenticated_by_a_login() {
    let app = spawn_app().await;
    let closed = setup(&app, json!({})).await;
    let (st, b) = get_id(&app, &closed, json!({})).await;
    assert_eq!(st, 401, "guests are off by default: {b}");

    let (_, p) = app
        .admin("POST", "/v1/admin/identity-pools", Some(json!({
            "name": "open", "allow_unauthenticated": true,
            "providers": [{"type": "user_pool", "pool_id": app.pool_id, "client_ids": [app.client_id]}],
            "authenticated_role": "owner", "unauthenticated_role": "reader"})))
        .await;
    let ip = p["id"].as_str().unwrap();
    let (st, g) = get_id(&app, ip, json!({})).await;
    assert_eq!(st, 200, "{g}");
    let guest = g["identity_id"].as_str().unwrap();
    let (st, cr) = creds(&app, ip, json!({"identity_id": guest})).await;
    assert_eq!(st, 200, "{cr}");
    let c = &cr["credentials"];
    let grant = app
        .state
        .identity
        .check_session(
            c["access_key_id"].as_str().unwrap(),
            c["session_token"].as_str().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        (grant.role.as_str(), grant.amr.as_str()),
        ("reader", "unauthenticated")
    );
    assert_eq!(grant.policy, read_only_policy());

    // A login added to the guest identity makes it authenticated.
    let tokens = app.confirmed_user("gus@example.com").await;
    let logins = json!({provider(&app): tokens["id_token"]});
    let (st, cr) = creds(&app, ip, json!({"identity_id": guest, "logins": logins})).await;
    assert_eq!(st, 200, "{cr}");
    assert_eq!(
        get_id(&app, ip, logins.clone()).await.1["identity_id"],
        guest
    );
    // From now on it needs the login.
    let (st, b) = creds(&app, ip, json!({"identity_id": guest})).await;
    assert_eq!(st, 401, "{b}");
    // Another identity's logins do not open this one.
    let (_, g2) = get_id(&app, ip, json!({})).await;
    let (st, b) = creds(
        &app,
        ip,
        json!({"identity_id": g2["identity_id"], "logins": logins}),
    )
    .await;
    assert!(
        st == 401 && b["detail"].as_str().unwrap().contains("match"),
        "{b}"
    );
    // An identity of another pool is not found here.
    let (st, _) = creds(&app, &closed, json!({"identity_id": guest})).await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn a_disabled_identity_loses_its_credentials_at_once() {
    let app = spawn_app().await;
    let ip = setup(&app, json!({})).await;
    let tokens = app.confirmed_user("dee@example.com").await;
    let logins = json!({provider(&app): tokens["id_token"]});
    let identity = get_id(&app, &ip, logins.clone()).await.1["identity_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, cr) = creds(
        &app,
        &ip,
        json!({"identity_id": identity, "logins": logins}),
    )
    .await;
    let (ak, tok) = (
        cr["credentials"]["access_key_id"].as_str().unwrap(),
        cr["credentials"]["session_token"].as_str().unwrap(),
    );
    assert!(app.state.identity.check_session(ak, tok).await.is_ok());
    let path = format!("/v1/admin/identity-pools/{ip}/identities/{identity}/disable");
    assert_eq!(app.admin("POST", &path, None).await.0, 204);
    assert_eq!(
        app.state.identity.check_session(ak, tok).await.unwrap_err(),
        SessionProblem::Revoked
    );
    assert_eq!(
        creds(
            &app,
            &ip,
            json!({"identity_id": identity, "logins": logins})
        )
        .await
        .0,
        401
    );
    let path = format!("/v1/admin/identity-pools/{ip}/identities/{identity}/enable");
    assert_eq!(app.admin("POST", &path, None).await.0, 204);
    assert!(app.state.identity.check_session(ak, tok).await.is_ok());
    // A tampered token is refused: one character in the middle (every bit of
    // it counts, unlike the last one's) replaced by a different one.
    let mid = tok.len() / 2;
    let other = if &tok[mid..=mid] == "A" { "B" } else { "A" };
    let bad = format!("{}{other}{}", &tok[..mid], &tok[mid + 1..]);
    assert!(app.state.identity.check_session(ak, &bad).await.is_err());
}

#[tokio::test]
async fn roles_follow_group_preference_and_claim_rules() {
    let app = spawn_app().await;
    // Token mapping: the group's role wins; without a group, ambiguity → Deny.
    let ip = setup(&app, json!({"providers": [{"type": "user_pool", "pool_id": app.pool_id, "client_ids": [app.client_id],
        "role_mapping": {"type": "Token", "ambiguous_role_resolution": "Deny"}}]})).await;
    let base = format!("/v1/admin/pools/{}/groups", app.pool_id);
    app.admin("POST", &base, Some(json!({"name": "admins", "precedence": 1, "role_arn": "arn:aws:iam::000000000000:role/admins"}))).await;
    app.admin(
        "POST",
        &base,
        Some(json!({"name": "readers", "precedence": 5, "role_arn": READER})),
    )
    .await;
    app.confirmed_user("rita@example.com").await;
    for g in ["admins", "readers"] {
        app.admin(
            "POST",
            &format!("{base}/{g}/members"),
            Some(json!({"username": "rita@example.com"})),
        )
        .await;
    }
    let (_, t) = app.sign_in("rita@example.com", PASSWORD).await;
    let logins = json!({provider(&app): t["tokens"]["id_token"]});
    let identity = get_id(&app, &ip, logins.clone()).await.1["identity_id"].clone();
    let role_of = |cr: &Value| {
        let c = &cr["credentials"];
        let (ak, tok) = (
            c["access_key_id"].as_str().unwrap().to_owned(),
            c["session_token"].as_str().unwrap().to_owned(),
        );
        let id = app.state.identity.clone();
        async move { id.check_session(&ak, &tok).await.unwrap().grant.role }
    };
    let (st, cr) = creds(
        &app,
        &ip,
        json!({"identity_id": identity, "logins": logins}),
    )
    .await;
    assert_eq!(st, 200, "{cr}");
    assert_eq!(role_of(&cr).await, "admins", "lowest precedence wins");
    let (_, cr) = creds(
        &app,
        &ip,
        json!({"identity_id": identity, "logins": logins, "custom_role_arn": READER}),
    )
    .await;
    assert_eq!(
        role_of(&cr).await,
        "reader",
        "a custom role among the token's"
    );
    let (st, _) = creds(&app, &ip, json!({"identity_id": identity, "logins": logins, "custom_role_arn": "arn:aws:iam::000000000000:role/owner"})).await;
    assert_eq!(st, 401, "not one of the token's roles");
    let t2 = app.confirmed_user("nog@example.com").await;
    let l2 = json!({provider(&app): t2["id_token"]});
    let id2 = get_id(&app, &ip, l2.clone()).await.1["identity_id"].clone();
    let (st, b) = creds(&app, &ip, json!({"identity_id": id2, "logins": l2})).await;
    assert!(
        st == 401 && b["detail"].as_str().unwrap().contains("denies"),
        "{b}"
    );

    // Rules: first match wins, otherwise the authenticated role.
    let ip2 = {
        let (_, p) = app.admin("POST", "/v1/admin/identity-pools", Some(json!({"name": "rules",
            "providers": [{"type": "user_pool", "pool_id": app.pool_id, "client_ids": [app.client_id],
              "role_mapping": {"type": "Rules", "rules": [
                {"claim": "email", "match_type": "StartsWith", "value": "rita", "role": "reader"},
                {"claim": "cognito:groups", "match_type": "Contains", "value": "admins", "role": "admins"}]}}],
            "authenticated_role": "owner"}))).await;
        p["id"].as_str().unwrap().to_owned()
    };
    let id = get_id(&app, &ip2, logins.clone()).await.1["identity_id"].clone();
    let (_, cr) = creds(&app, &ip2, json!({"identity_id": id, "logins": logins})).await;
    assert_eq!(role_of(&cr).await, "reader");
    let id = get_id(&app, &ip2, l2.clone()).await.1["identity_id"].clone();
    let (_, cr) = creds(&app, &ip2, json!({"identity_id": id, "logins": l2})).await;
    assert_eq!(
        role_of(&cr).await,
        "owner",
        "no rule matched: the authenticated role"
    );
}

#[tokio::test]
async fn concurrent_first_get_ids_of_one_login_make_one_identity() {
    let app = spawn_app().await;
    let ip = setup(&app, json!({})).await;
    let tokens = app.confirmed_user("race@example.com").await;
    let logins = json!({provider(&app): tokens["id_token"]});
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let (http, url, body) = (
            app.http.clone(),
            format!("{}/v1/identity-pools/{ip}/identity", app.base),
            json!({"logins": logins}),
        );
        set.spawn(async move {
            let r = http.post(url).json(&body).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()["identity_id"]
                .as_str()
                .unwrap()
                .to_owned()
        });
    }
    let mut ids = set.join_all().await;
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
}

/// A local OpenID Connect issuer: its own P-256 key, discovery and JWKS on
/// loopback.
struct TestIssuer {
    url: String,
    key: aws_lc_rs::signature::EcdsaKeyPair,
}

impl TestIssuer {
    async fn start() -> Self {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point = key.public_key().as_ref().to_vec();
        let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
            "x": b64.encode(&point[1..33]), "y": b64.encode(&point[33..])}]});
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let disco = json!({"issuer": url, "jwks_uri": format!("{url}/jwks")});
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(move || async move { axum::Json(disco) }),
            )
            .route(
                "/jwks",
                axum::routing::get(move || async move { axum::Json(jwks) }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, key }
    }

    fn token(&self, kid: &str, claims: Value) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(json!({"alg": "ES256", "typ": "JWT", "kid": kid}).to_string());
        let body = b64.encode(claims.to_string());
        let input = format!("{header}.{body}");
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let sig = self.key.sign(&rng, input.as_bytes()).unwrap();
        format!("{input}.{}", b64.encode(sig.as_ref()))
    }
}

#[tokio::test]
async fn j3_an_external_oidc_provider_is_verified_against_its_discovered_keys() {
    let app = spawn_app().await;
    let issuer = TestIssuer::start().await;
    let ip = setup(&app, json!({"providers": [{"type": "oidc", "name": "issuer.test", "issuer": issuer.url, "audiences": ["app-1"]}]})).await;
    let now = app.clock.now();
    let claims = |sub: &str, aud: &str, iss: &str, exp: i64| json!({"sub": sub, "aud": aud, "iss": iss, "exp": exp, "iat": now});
    let good = issuer.token("k1", claims("ext-1", "app-1", &issuer.url, now + 600));
    let (st, a) = get_id(&app, &ip, json!({"issuer.test": good})).await;
    assert_eq!(st, 200, "{a}");
    let again = issuer.token("k1", claims("ext-1", "app-1", &issuer.url, now + 900));
    assert_eq!(get_id(&app, &ip, json!({"issuer.test": again})).await.1, a);
    let (st, cr) = creds(
        &app,
        &ip,
        json!({"identity_id": a["identity_id"], "logins": {"issuer.test": good}}),
    )
    .await;
    assert_eq!(st, 200, "{cr}");
    for (why, token) in [
        (
            "wrong audience",
            issuer.token("k1", claims("ext-1", "app-2", &issuer.url, now + 600)),
        ),
        (
            "wrong issuer",
            issuer.token(
                "k1",
                claims("ext-1", "app-1", "http://evil.test", now + 600),
            ),
        ),
        (
            "expired",
            issuer.token("k1", claims("ext-1", "app-1", &issuer.url, now - 120)),
        ),
        (
            "unknown key",
            issuer.token("k9", claims("ext-1", "app-1", &issuer.url, now + 600)),
        ),
        (
            "no signature",
            format!("{}.", good.rsplit_once('.').unwrap().0),
        ),
    ] {
        let (st, b) = get_id(&app, &ip, json!({"issuer.test": token})).await;
        assert_eq!(
            (st, b["code"].as_str()),
            (401, Some("NotAuthorized")),
            "{why}: {b}"
        );
    }
    // The provider's tokens do not count under the user pool's name.
    let (st, _) = get_id(&app, &ip, json!({provider(&app): good})).await;
    assert_eq!(st, 401);
}

#[tokio::test]
async fn openid_tokens_are_signed_for_the_identity_and_verify_against_the_published_keys() {
    let app = spawn_app().await;
    let ip = setup(&app, json!({"allow_unauthenticated": true})).await;
    let tokens = app.confirmed_user("oda@example.com").await;
    let logins = json!({provider(&app): tokens["id_token"]});
    let identity = get_id(&app, &ip, logins.clone()).await.1["identity_id"].clone();
    let (st, b) = app
        .post(
            &format!("/v1/identity-pools/{ip}/openid-token"),
            json!({"identity_id": identity, "logins": logins}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let (st, disco) = app
        .request(
            "GET",
            "/v1/identity-pools/.well-known/openid-configuration",
            None,
            None,
        )
        .await;
    assert_eq!(st, 200);
    let issuer = disco["issuer"].as_str().unwrap();
    assert_eq!(issuer, format!("{ISSUER_BASE}/v1/identity-pools"));
    let (_, jwks) = app
        .request(
            "GET",
            "/v1/identity-pools/.well-known/jwks.json",
            None,
            None,
        )
        .await;
    // Verified with the published JWKS by jsonwebtoken, independently of the server code.
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.set_issuer(&[issuer]);
    v.set_audience(&[&ip]);
    let claims = jsonwebtoken::decode::<Value>(
        b["token"].as_str().unwrap(),
        &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
        &v,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["sub"], identity);
    assert_eq!(claims["amr"], json!(["authenticated", provider(&app)]));
    // A guest's token says so; another identity's logins get none.
    let guest = get_id(&app, &ip, json!({})).await.1["identity_id"].clone();
    let (_, g) = app
        .post(
            &format!("/v1/identity-pools/{ip}/openid-token"),
            json!({"identity_id": guest}),
        )
        .await;
    let gc: Value = jsonwebtoken::dangerous::insecure_decode(g["token"].as_str().unwrap())
        .unwrap()
        .claims;
    assert_eq!(gc["amr"], json!(["unauthenticated"]));
    let (st, _) = app
        .post(
            &format!("/v1/identity-pools/{ip}/openid-token"),
            json!({"identity_id": guest, "logins": logins}),
        )
        .await;
    assert_eq!(st, 401);
}

#[tokio::test]
async fn developer_authenticated_identities_sign_in_with_their_openid_token() {
    let app = spawn_app().await;
    let ip = setup(
        &app,
        json!({"providers": [{"type": "developer", "name": "login.example.app"}]}),
    )
    .await;
    let path = format!("/v1/admin/identity-pools/{ip}/developer-identities");
    // Only the admin key obtains these tokens.
    assert_eq!(
        app.post(&path, json!({"user_identifier": "user-42"}))
            .await
            .0,
        401
    );
    let (st, a) = app
        .admin("POST", &path, Some(json!({"user_identifier": "user-42"})))
        .await;
    assert_eq!(st, 200, "{a}");
    let (_, again) = app
        .admin("POST", &path, Some(json!({"user_identifier": "user-42"})))
        .await;
    assert_eq!(
        again["identity_id"], a["identity_id"],
        "same developer user, same identity"
    );
    let (_, other) = app
        .admin("POST", &path, Some(json!({"user_identifier": "user-43"})))
        .await;
    assert_ne!(other["identity_id"], a["identity_id"]);
    let logins = json!({"cognito-identity.amazonaws.com": a["token"]});
    let (st, cr) = creds(
        &app,
        &ip,
        json!({"identity_id": a["identity_id"], "logins": logins}),
    )
    .await;
    assert_eq!(st, 200, "{cr}");
    // The token is for its own identity only, and for this pool only.
    let (st, _) = creds(
        &app,
        &ip,
        json!({"identity_id": other["identity_id"], "logins": logins}),
    )
    .await;
    assert_eq!(st, 401);
    let ip2 = {
        let (_, p) = app.admin("POST", "/v1/admin/identity-pools", Some(json!({"name": "b",
            "providers": [{"type": "developer", "name": "login.example.app"}], "authenticated_role": "owner"}))).await;
        p["id"].as_str().unwrap().to_owned()
    };
    let (st, _) = get_id(&app, &ip2, logins).await;
    assert_eq!(st, 401);
    // A pool without a developer provider refuses.
    let plain = setup_plain(&app).await;
    let (st, _) = app
        .admin(
            "POST",
            &format!("/v1/admin/identity-pools/{plain}/developer-identities"),
            Some(json!({"user_identifier": "u"})),
        )
        .await;
    assert_eq!(st, 400);
}

async fn setup_plain(app: &TestApp) -> String {
    let (_, p) = app
        .admin(
            "POST",
            "/v1/admin/identity-pools",
            Some(json!({"name": "plain"})),
        )
        .await;
    p["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn roles_and_identity_pools_declared_in_config_are_applied_idempotently() {
    let id = "local-east-1:5f0c1a9e-2b7d-4c1e-9a53-0d3f8e6b2a10";
    let declare = |s: &mut poolgate::config::Settings, duration: i64| {
        s.roles = vec![poolgate::config::DeclaredRole {
            name: "owner".into(),
            policy: per_identity_policy(),
            max_session_secs: None,
        }];
        s.identity_pools = vec![poolgate::config::DeclaredIdentityPool {
            id: id.into(),
            name: "declared".into(),
            settings: serde_json::from_value(
                json!({"authenticated_role": "owner", "credentials_duration_secs": duration}),
            )
            .unwrap(),
        }];
    };
    let app = spawn_app_with(|s| declare(s, 1800)).await;
    let (st, p) = app
        .admin("GET", &format!("/v1/admin/identity-pools/{id}"), None)
        .await;
    assert_eq!(
        (st, p["credentials_duration_secs"].as_i64()),
        (200, Some(1800)),
        "{p}"
    );
    assert_eq!(app.admin("GET", "/v1/admin/roles/owner", None).await.0, 200);
    // Applying again (another node starting, or a changed file) updates in place.
    let mut settings = app.state.settings.clone();
    declare(&mut settings, 900);
    app.state
        .identity
        .apply_declared(&settings.roles, &settings.identity_pools)
        .await
        .unwrap();
    app.state
        .identity
        .apply_declared(&settings.roles, &settings.identity_pools)
        .await
        .unwrap();
    let (_, p) = app
        .admin("GET", &format!("/v1/admin/identity-pools/{id}"), None)
        .await;
    assert_eq!(p["credentials_duration_secs"], 900);
    assert_eq!(
        app.admin("GET", "/v1/admin/identity-pools", None).await.1["identity_pools"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn introspection_providers_check_opaque_tokens_and_keep_their_app_token_sealed() {
    use std::collections::HashMap;
    let app = spawn_app().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/debug_token", listener.local_addr().unwrap());
    let router = axum::Router::new().route(
        "/debug_token",
        axum::routing::get(
            |q: axum::extract::Query<HashMap<String, String>>| async move {
                if q.get("access_token").map(String::as_str) != Some("app-secret-token") {
                    return axum::Json(json!({"error": "bad app token"}));
                }
                let data = match q.get("input_token").map(String::as_str) {
                    Some("fb-good") => {
                        json!({"is_valid": true, "user_id": "fb-1", "app_id": "app-1"})
                    }
                    Some("fb-other-app") => {
                        json!({"is_valid": true, "user_id": "fb-2", "app_id": "app-2"})
                    }
                    _ => json!({"is_valid": false}),
                };
                axum::Json(json!({"data": data}))
            },
        ),
    );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let provider = json!({"type": "introspection", "name": "graph.facebook.com", "url": url,
        "app_token": "app-secret-token", "subject_field": "data.user_id", "valid_field": "data.is_valid",
        "audience_field": "data.app_id", "audiences": ["app-1"]});
    let ip = setup(&app, json!({"providers": [provider]})).await;
    // The app token is write-only and sealed at rest.
    let (_, view) = app
        .admin("GET", &format!("/v1/admin/identity-pools/{ip}"), None)
        .await;
    assert!(!view.to_string().contains("app-secret-token"), "{view}");
    let stored = app.store.get_identity_pool(&ip).await.unwrap().unwrap();
    assert!(
        !serde_json::to_string(&stored)
            .unwrap()
            .contains("app-secret-token")
    );
    let (st, a) = get_id(&app, &ip, json!({"graph.facebook.com": "fb-good"})).await;
    assert_eq!(st, 200, "{a}");
    let (st, cr) = creds(
        &app,
        &ip,
        json!({"identity_id": a["identity_id"], "logins": {"graph.facebook.com": "fb-good"}}),
    )
    .await;
    assert_eq!(st, 200, "{cr}");
    for (token, why) in [
        ("fb-invalid", "not valid"),
        ("fb-other-app", "another app's token"),
    ] {
        let (st, b) = get_id(&app, &ip, json!({"graph.facebook.com": token})).await;
        assert_eq!(st, 401, "{why}: {b}");
    }
    // An update without the app token keeps the sealed one.
    let (st, b) = app
        .admin("PUT", &format!("/v1/admin/identity-pools/{ip}"), Some(json!({"name": "renamed", "authenticated_role": "owner",
            "providers": [{"type": "introspection", "name": "graph.facebook.com", "url": url, "subject_field": "data.user_id",
              "valid_field": "data.is_valid", "audience_field": "data.app_id", "audiences": ["app-1"]}]})))
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(
        get_id(&app, &ip, json!({"graph.facebook.com": "fb-good"}))
            .await
            .1,
        a
    );
}

#[tokio::test]
async fn identities_are_listed_and_a_deleted_one_loses_its_credentials() {
    let app = spawn_app().await;
    let ip = setup(&app, json!({})).await;
    let tokens = app.confirmed_user("lee@example.com").await;
    let logins = json!({provider(&app): tokens["id_token"]});
    let identity = get_id(&app, &ip, logins.clone()).await.1["identity_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, cr) = creds(
        &app,
        &ip,
        json!({"identity_id": identity, "logins": logins}),
    )
    .await;
    let (ak, tok) = (
        cr["credentials"]["access_key_id"].as_str().unwrap(),
        cr["credentials"]["session_token"].as_str().unwrap(),
    );
    let (st, list) = app
        .admin(
            "GET",
            &format!("/v1/admin/identity-pools/{ip}/identities"),
            None,
        )
        .await;
    assert_eq!(st, 200, "{list}");
    assert_eq!(list["identities"][0]["identity_id"], identity, "{list}");
    assert_eq!(
        list["identities"][0]["logins"],
        json!([provider(&app)]),
        "{list}"
    );
    let path = format!("/v1/admin/identity-pools/{ip}/identities/{identity}");
    let (st, one) = app.admin("GET", &path, None).await;
    assert_eq!((st, one["disabled"].as_bool()), (200, Some(false)), "{one}");
    // Another pool's path does not reach it.
    let other = app
        .admin(
            "POST",
            "/v1/admin/identity-pools",
            Some(json!({"name": "other", "allow_unauthenticated": true, "unauthenticated_role": "reader"})),
        )
        .await
        .1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (st, b) = app
        .admin(
            "DELETE",
            &format!("/v1/admin/identity-pools/{other}/identities/{identity}"),
            None,
        )
        .await;
    assert_eq!(
        (st, b["code"].as_str()),
        (404, Some("ResourceNotFound")),
        "{b}"
    );

    assert_eq!(app.admin("DELETE", &path, None).await.0, 204);
    assert_eq!(
        app.state.identity.check_session(ak, tok).await.unwrap_err(),
        SessionProblem::Revoked,
        "the deleted identity's credentials stop working"
    );
    assert_eq!(app.admin("GET", &path, None).await.0, 404);
    // The login is free: it gets a new identity.
    let again = get_id(&app, &ip, logins).await.1["identity_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(again, identity);
}

#[tokio::test]
async fn a_custom_role_arn_not_among_the_tokens_roles_is_refused_whatever_the_mapping() {
    let app = spawn_app().await;
    // No role mapping at all: the pool's authenticated role applies.
    let ip = setup(&app, json!({})).await;
    let base = format!("/v1/admin/pools/{}/groups", app.pool_id);
    app.admin(
        "POST",
        &base,
        Some(json!({"name": "readers", "precedence": 5, "role_arn": READER})),
    )
    .await;
    app.confirmed_user("cara@example.com").await;
    app.admin(
        "POST",
        &format!("{base}/readers/members"),
        Some(json!({"username": "cara@example.com"})),
    )
    .await;
    let (_, t) = app.sign_in("cara@example.com", PASSWORD).await;
    let id_token = t["tokens"]["id_token"].clone();
    let logins = json!({provider(&app): id_token});
    let identity = get_id(&app, &ip, logins.clone()).await.1["identity_id"].clone();
    let owner = "arn:aws:iam::000000000000:role/owner";
    let (st, b) = creds(
        &app,
        &ip,
        json!({"identity_id": identity, "logins": logins}),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    let (st, b) = creds(
        &app,
        &ip,
        json!({"identity_id": identity, "logins": logins, "custom_role_arn": READER}),
    )
    .await;
    assert_eq!(st, 200, "one of the token's roles: {b}");
    let (st, b) = creds(
        &app,
        &ip,
        json!({"identity_id": identity, "logins": logins, "custom_role_arn": owner}),
    )
    .await;
    assert_eq!(
        (st, b["code"].as_str()),
        (401, Some("NotAuthorized")),
        "not one of the token's roles: {b}"
    );

    // The same through the Cognito protocol.
    let cognito = |body: Value| {
        let req = app
            .http
            .post(format!("{}/", app.base))
            .header("content-type", "application/x-amz-json-1.1")
            .header(
                "x-amz-target",
                "AWSCognitoIdentityService.GetCredentialsForIdentity",
            )
            .body(body.to_string());
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (st, b) = cognito(json!({"IdentityId": identity, "Logins": logins,
        "CustomRoleArn": owner}))
    .await;
    assert_eq!(
        (st, b["__type"].as_str()),
        (400, Some("NotAuthorizedException")),
        "{b}"
    );
    let (st, b) = cognito(json!({"IdentityId": identity, "Logins": logins,
        "CustomRoleArn": READER}))
    .await;
    assert_eq!(st, 200, "{b}");
}

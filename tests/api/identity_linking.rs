//! Identity linking as Cognito does it (checklist I2): a request that names
//! an identity with linked logins must present one of them; new logins join
//! only with such a proof or a guest identity; one subject per provider; a
//! login linked elsewhere is refused — on the native API and the Cognito
//! protocol alike, and the gateway keeps the victim's objects private.

use crate::helpers::*;
use crate::storage::{Creds, s3};
use serde_json::{Value, json};

fn owner_policy() -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": "arn:aws:s3:::photos/${cognito-identity.amazonaws.com:sub}/*"}]})
}

/// An identity pool trusting the test pool (and `extra_pools`, each
/// `(pool id, client id)`), with the per-identity `owner` role.
async fn identity_pool(app: &TestApp, extra_pools: &[(String, String)], guests: bool) -> String {
    let (st, b) = app
        .admin(
            "POST",
            "/v1/admin/roles",
            Some(json!({"name": "owner", "policy": owner_policy()})),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    let mut providers =
        vec![json!({"type": "user_pool", "pool_id": app.pool_id, "client_ids": [app.client_id]})];
    for (pool, client) in extra_pools {
        providers.push(json!({"type": "user_pool", "pool_id": pool, "client_ids": [client]}));
    }
    let (st, p) = app
        .admin(
            "POST",
            "/v1/admin/identity-pools",
            Some(json!({"name": "photos", "providers": providers,
                "authenticated_role": "owner", "unauthenticated_role": "owner",
                "allow_unauthenticated": guests})),
        )
        .await;
    assert_eq!(st, 201, "{p}");
    p["id"].as_str().unwrap().to_owned()
}

fn provider(pool_id: &str) -> String {
    format!("cognito-idp.local-east-1.amazonaws.com/{pool_id}")
}

async fn get_id(app: &TestApp, ip: &str, logins: &Value) -> (u16, Value) {
    app.post(
        &format!("/v1/identity-pools/{ip}/identity"),
        json!({"logins": logins}),
    )
    .await
}

async fn credentials(app: &TestApp, ip: &str, identity: &str, logins: &Value) -> (u16, Value) {
    app.post(
        &format!("/v1/identity-pools/{ip}/credentials"),
        json!({"identity_id": identity, "logins": logins}),
    )
    .await
}

async fn openid_token(app: &TestApp, ip: &str, identity: &str, logins: &Value) -> (u16, Value) {
    app.post(
        &format!("/v1/identity-pools/{ip}/openid-token"),
        json!({"identity_id": identity, "logins": logins}),
    )
    .await
}

fn creds_of(answer: &Value) -> Creds {
    let c = &answer["credentials"];
    Creds {
        ak: c["access_key_id"].as_str().unwrap().into(),
        sk: c["secret_access_key"].as_str().unwrap().into(),
        token: c["session_token"].as_str().unwrap().into(),
    }
}

/// A confirmed user of another pool (created with a client), signed in.
async fn user_of(app: &TestApp, pool: &str, client: &str, email: &str) -> Value {
    let (st, b) = app
        .post(
            &format!("/v1/pools/{pool}/signup"),
            json!({"client_id": client, "username": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let code = app.last_code(email).await;
    let (st, b) = app
        .post(
            &format!("/v1/pools/{pool}/signup/confirm"),
            json!({"client_id": client, "username": email, "code": code}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let (st, b) = app
        .post(
            &format!("/v1/pools/{pool}/signin"),
            json!({"client_id": client, "username": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    b["tokens"].clone()
}

async fn second_pool(app: &TestApp) -> (String, String) {
    let (st, pool) = app
        .admin(
            "POST",
            "/v1/admin/pools",
            Some(json!({"name": "partners", "username_attributes": ["email"]})),
        )
        .await;
    assert_eq!(st, 201, "{pool}");
    let pool = pool["id"].as_str().unwrap().to_owned();
    let (st, client) = app
        .admin(
            "POST",
            &format!("/v1/admin/pools/{pool}/clients"),
            Some(json!({"name": "web"})),
        )
        .await;
    assert_eq!(st, 201, "{client}");
    (pool, client["client_id"].as_str().unwrap().to_owned())
}

async fn linked(app: &TestApp, identity: &str) -> Vec<(String, String)> {
    app.store.identity_logins(identity).await.unwrap()
}

/// The takeover that hostile testing found: a user who never called GetId
/// names another user's identity (identity ids are S3 prefixes, not
/// secrets) with their own ID token. Every door refuses, nothing is linked,
/// the attacker's GetId gives the attacker's own identity, and the victim's
/// objects stay unreadable and unchanged.
#[tokio::test]
async fn i2_a_stranger_cannot_take_over_another_users_identity_on_any_door() {
    let app = spawn_app().await;
    let ip = identity_pool(&app, &[], false).await;
    let victim = app.confirmed_user("victim@example.com").await;
    let victim_logins = json!({provider(&app.pool_id): victim["id_token"]});
    let (st, v) = get_id(&app, &ip, &victim_logins).await;
    assert_eq!(st, 200, "{v}");
    let victim_id = v["identity_id"].as_str().unwrap().to_owned();
    let (st, vc) = credentials(&app, &ip, &victim_id, &victim_logins).await;
    assert_eq!(st, 200, "{vc}");
    let secret = format!("/photos/{victim_id}/diary.txt");
    let (st, body) = s3(&app, &creds_of(&vc), "PUT", &secret, b"dear diary", true).await;
    assert_eq!(st, 200, "{body}");

    let attacker = app.confirmed_user("attacker@example.com").await;
    let attacker_logins = json!({provider(&app.pool_id): attacker["id_token"]});
    let other_name = format!(
        "{}/{}",
        ISSUER_BASE.trim_start_matches("http://"),
        app.pool_id
    );
    for logins in [
        attacker_logins.clone(),
        json!({other_name: attacker["id_token"]}),
    ] {
        let (st, b) = credentials(&app, &ip, &victim_id, &logins).await;
        assert_eq!(
            (st, b["code"].as_str()),
            (401, Some("NotAuthorized")),
            "{b}"
        );
        let (st, b) = openid_token(&app, &ip, &victim_id, &logins).await;
        assert_eq!(
            (st, b["code"].as_str()),
            (401, Some("NotAuthorized")),
            "{b}"
        );
        let (st, b) = app
            .cognito_identity(
                "GetCredentialsForIdentity",
                json!({"IdentityId": victim_id, "Logins": logins}),
            )
            .await;
        assert_eq!(
            (st, b["__type"].as_str()),
            (400, Some("NotAuthorizedException")),
            "{b}"
        );
        let (st, b) = app
            .cognito_identity(
                "GetOpenIdToken",
                json!({"IdentityId": victim_id, "Logins": logins}),
            )
            .await;
        assert_eq!(
            (st, b["__type"].as_str()),
            (400, Some("NotAuthorizedException")),
            "{b}"
        );
    }
    assert_eq!(
        linked(&app, &victim_id).await.len(),
        1,
        "nothing was linked to the victim's identity"
    );

    // The attacker's own identity is a new one, and its credentials reach
    // only its own prefix.
    let (st, a) = app
        .cognito_identity(
            "GetId",
            json!({"IdentityPoolId": ip, "Logins": attacker_logins}),
        )
        .await;
    assert_eq!(st, 200, "{a}");
    let attacker_id = a["IdentityId"].as_str().unwrap().to_owned();
    assert_ne!(attacker_id, victim_id);
    let (st, ac) = credentials(&app, &ip, &attacker_id, &attacker_logins).await;
    assert_eq!(st, 200, "{ac}");
    let ac = creds_of(&ac);
    let (st, body) = s3(&app, &ac, "GET", &secret, b"", true).await;
    assert!(st == 403 && body.contains("AccessDenied"), "{st} {body}");
    let (st, body) = s3(&app, &ac, "PUT", &secret, b"overwritten", true).await;
    assert!(st == 403 && body.contains("AccessDenied"), "{st} {body}");
    // Now that the attacker has an identity, naming the victim's is still
    // refused (a login of another identity is no proof).
    let (st, b) = credentials(&app, &ip, &victim_id, &attacker_logins).await;
    assert_eq!(
        (st, b["code"].as_str()),
        (401, Some("NotAuthorized")),
        "{b}"
    );
    // The victim still reads their own object, unchanged.
    let (st, vc) = credentials(&app, &ip, &victim_id, &victim_logins).await;
    assert_eq!(st, 200, "{vc}");
    let (st, body) = s3(&app, &creds_of(&vc), "GET", &secret, b"", true).await;
    assert_eq!((st, body.as_str()), (200, "dear diary"));
}

/// A guest identity becomes the first user's who signs in with it; after
/// that it needs that user's login, and guest access to it ends.
#[tokio::test]
async fn i2_a_guest_is_upgraded_once_and_then_needs_its_login() {
    let app = spawn_app().await;
    let ip = identity_pool(&app, &[], true).await;
    let (st, g) = get_id(&app, &ip, &json!({})).await;
    assert_eq!(st, 200, "{g}");
    let guest = g["identity_id"].as_str().unwrap().to_owned();
    assert_eq!(credentials(&app, &ip, &guest, &json!({})).await.0, 200);

    let ann = app.confirmed_user("ann@example.com").await;
    let ann_logins = json!({provider(&app.pool_id): ann["id_token"]});
    let (st, b) = credentials(&app, &ip, &guest, &ann_logins).await;
    assert_eq!(st, 200, "the guest is upgraded: {b}");
    assert_eq!(b["identity_id"], guest.as_str());
    let (_, again) = get_id(&app, &ip, &ann_logins).await;
    assert_eq!(
        again["identity_id"],
        guest.as_str(),
        "the login now names it"
    );

    let (st, b) = credentials(&app, &ip, &guest, &json!({})).await;
    assert_eq!(
        (st, b["code"].as_str()),
        (401, Some("NotAuthorized")),
        "{b}"
    );
    let bob = app.confirmed_user("bob@example.com").await;
    let bob_logins = json!({provider(&app.pool_id): bob["id_token"]});
    let (st, b) = credentials(&app, &ip, &guest, &bob_logins).await;
    assert_eq!(
        (st, b["code"].as_str()),
        (401, Some("NotAuthorized")),
        "{b}"
    );
    let (st, b) = app
        .cognito_identity(
            "GetCredentialsForIdentity",
            json!({"IdentityId": guest, "Logins": bob_logins}),
        )
        .await;
    assert_eq!(
        (st, b["__type"].as_str()),
        (400, Some("NotAuthorizedException")),
        "{b}"
    );
    assert_eq!(linked(&app, &guest).await.len(), 1);

    // Bob's login, linked to Bob's own identity, cannot move to another
    // guest either: a login linked elsewhere is refused.
    let (_, bob_id) = get_id(&app, &ip, &bob_logins).await;
    let (_, g2) = get_id(&app, &ip, &json!({})).await;
    let guest2 = g2["identity_id"].as_str().unwrap();
    let (st, b) = credentials(&app, &ip, guest2, &bob_logins).await;
    assert_eq!(
        (st, b["code"].as_str()),
        (401, Some("NotAuthorized")),
        "{b}"
    );
    assert!(linked(&app, guest2).await.is_empty());
    let (_, still) = get_id(&app, &ip, &bob_logins).await;
    assert_eq!(still["identity_id"], bob_id["identity_id"]);
}

/// A second provider joins an identity alongside a login it already holds,
/// on either protocol; a second subject of a provider it holds does not,
/// even with a proof; and the second provider alone then names it.
#[tokio::test]
async fn i2_a_second_provider_joins_with_a_proof_and_one_subject_per_provider() {
    let app = spawn_app().await;
    let (partners, partner_client) = second_pool(&app).await;
    let ip = identity_pool(&app, &[(partners.clone(), partner_client.clone())], false).await;
    let ann = app.confirmed_user("ann@example.com").await;
    let ann_logins = json!({provider(&app.pool_id): ann["id_token"]});
    let (_, a) = get_id(&app, &ip, &ann_logins).await;
    let ann_id = a["identity_id"].as_str().unwrap().to_owned();

    let ann_partner = user_of(&app, &partners, &partner_client, "ann@partner.example").await;
    let partner_login = |t: &Value| json!({provider(&partners): t["id_token"]});
    // Alone, the partner login is no proof for Ann's identity.
    let (st, b) = credentials(&app, &ip, &ann_id, &partner_login(&ann_partner)).await;
    assert_eq!(
        (st, b["code"].as_str()),
        (401, Some("NotAuthorized")),
        "{b}"
    );
    assert_eq!(linked(&app, &ann_id).await.len(), 1);
    // With Ann's login beside it (Cognito protocol): linked.
    let both = json!({
        provider(&app.pool_id): ann["id_token"],
        provider(&partners): ann_partner["id_token"],
    });
    let (st, b) = app
        .cognito_identity(
            "GetCredentialsForIdentity",
            json!({"IdentityId": ann_id, "Logins": both}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(linked(&app, &ann_id).await.len(), 2);
    let (_, by_partner) = get_id(&app, &ip, &partner_login(&ann_partner)).await;
    assert_eq!(by_partner["identity_id"], ann_id.as_str());

    // Another partner user, even beside Ann's own login: one identity never
    // holds two subjects of one provider.
    let eve_partner = user_of(&app, &partners, &partner_client, "eve@partner.example").await;
    let with_proof = json!({
        provider(&app.pool_id): ann["id_token"],
        provider(&partners): eve_partner["id_token"],
    });
    let (st, b) = credentials(&app, &ip, &ann_id, &with_proof).await;
    assert_eq!((st, b["code"].as_str()), (409, Some("Conflict")), "{b}");
    let (st, b) = get_id(&app, &ip, &with_proof).await;
    assert_eq!((st, b["code"].as_str()), (409, Some("Conflict")), "{b}");
    let (st, b) = app
        .cognito_identity(
            "GetCredentialsForIdentity",
            json!({"IdentityId": ann_id, "Logins": with_proof}),
        )
        .await;
    assert_eq!(
        (st, b["__type"].as_str()),
        (400, Some("ResourceConflictException")),
        "{b}"
    );
    assert_eq!(linked(&app, &ann_id).await.len(), 2);
    assert!(
        app.store
            .login_identity(&ip, &provider(&partners), "nobody")
            .await
            .unwrap()
            .is_none()
    );
    // Eve's own GetId makes Eve's own identity.
    let (st, e) = get_id(&app, &ip, &partner_login(&eve_partner)).await;
    assert_eq!(st, 200, "{e}");
    assert_ne!(e["identity_id"], ann_id.as_str());
}

/// The operator's check: identities holding two subjects of one provider
/// (what the hole left behind) are listed; the developer provider, which
/// Cognito lets repeat, is not.
#[tokio::test]
async fn i2_the_check_lists_identities_with_two_subjects_of_one_provider() {
    let app = spawn_app().await;
    let ip = identity_pool(&app, &[], false).await;
    let victim = app.confirmed_user("victim@example.com").await;
    let (_, v) = get_id(
        &app,
        &ip,
        &json!({provider(&app.pool_id): victim["id_token"]}),
    )
    .await;
    let victim_id = v["identity_id"].as_str().unwrap();
    assert!(
        app.state
            .identity
            .repeated_provider_links(None)
            .await
            .unwrap()
            .is_empty()
    );
    // What the hole did: another subject of the same provider, linked
    // without a proof (written here straight to the store).
    let canonical = linked(&app, victim_id).await[0].0.clone();
    app.store
        .link_logins(
            &ip,
            victim_id,
            false,
            &[(canonical.clone(), "attacker-sub".into())],
            1,
            poolgate::store::LinkGuard::Trusted,
        )
        .await
        .unwrap();
    let found = app
        .state
        .identity
        .repeated_provider_links(Some(&ip))
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].identity_id, victim_id);
    assert_eq!(found[0].provider, canonical);
    assert_eq!(found[0].subjects.len(), 2);
    assert!(found[0].subjects.contains(&"attacker-sub".to_owned()));
}

//! Export and import of users as JSON Lines, with password hashes from other
//! systems (argon2, bcrypt, scrypt, PBKDF2) verified at sign-in and upgraded
//! to argon2id.

use crate::helpers::*;
use serde_json::{Value, json};

async fn export(app: &TestApp, pool: &str) -> (u16, String, Vec<Value>) {
    let resp = app
        .http
        .get(format!("{}/v1/admin/pools/{pool}/export", app.base))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = resp.text().await.unwrap();
    let lines = if status == 200 {
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    } else {
        vec![]
    };
    (status, ct, lines)
}

async fn import(app: &TestApp, pool: &str, body: String) -> (u16, Value) {
    let resp = app
        .http
        .post(format!("{}/v1/admin/pools/{pool}/import", app.base))
        .bearer_auth(&app.admin_key)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

fn jsonl(records: &[Value]) -> String {
    records.iter().map(|r| format!("{r}\n")).collect()
}

async fn second_pool(app: &TestApp) -> (String, String) {
    let (st, pool) = app
        .admin(
            "POST",
            "/v1/admin/pools",
            Some(json!({"name": "target", "username_attributes": ["email"],
                        "custom_attributes": [{"name": "plan"}]})),
        )
        .await;
    assert_eq!(st, 201, "{pool}");
    let id = pool["id"].as_str().unwrap().to_owned();
    let (_, client) = app
        .admin(
            "POST",
            &format!("/v1/admin/pools/{id}/clients"),
            Some(json!({"name": "web"})),
        )
        .await;
    (id, client["client_id"].as_str().unwrap().to_owned())
}

async fn sign_in_to(app: &TestApp, pool: &str, client: &str, user: &str, pw: &str) -> (u16, Value) {
    app.post(
        &format!("/v1/pools/{pool}/signin"),
        json!({"client_id": client, "username": user, "password": pw}),
    )
    .await
}

#[tokio::test]
async fn a_pool_exported_and_imported_elsewhere_keeps_its_users_passwords_groups_and_subs() {
    let app = spawn_app().await;
    app.admin(
        "PATCH",
        &format!("/v1/admin/pools/{}", app.pool_id),
        Some(json!({"custom_attributes": [{"name": "plan"}]})),
    )
    .await;
    let tokens = app.confirmed_user("ann@example.com").await;
    let ann = verify_with_jwks(
        tokens["id_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.issuer(),
    );
    app.admin(
        "PATCH",
        &format!(
            "/v1/admin/pools/{}/users/ann@example.com/attributes",
            app.pool_id
        ),
        Some(json!({"attributes": {"custom:plan": "pro", "given_name": "Ann"}})),
    )
    .await;
    app.admin(
        "POST",
        &format!("/v1/admin/pools/{}/groups", app.pool_id),
        Some(json!({"name": "staff", "precedence": 1})),
    )
    .await;
    let (st, b) = app
        .admin(
            "POST",
            &format!("/v1/admin/pools/{}/groups/staff/members", app.pool_id),
            Some(json!({"username": "ann@example.com"})),
        )
        .await;
    assert_eq!(st, 204, "{b}");
    app.sign_up("bob@example.com", PASSWORD).await; // stays UNCONFIRMED

    let (st, ct, lines) = export(&app, &app.pool_id).await;
    assert_eq!((st, ct.as_str()), (200, "application/x-ndjson"));
    assert_eq!(lines.len(), 2, "{lines:?}");
    let a = lines
        .iter()
        .find(|l| l["attributes"]["email"] == "ann@example.com")
        .unwrap();
    assert_eq!(a["status"], "CONFIRMED");
    assert_eq!(a["sub"], ann["sub"]);
    assert_eq!(a["groups"], json!(["staff"]));
    assert_eq!(a["attributes"]["custom:plan"], "pro");
    assert!(
        a["password_hash"]
            .as_str()
            .unwrap()
            .starts_with("$argon2id$")
    );
    for l in &lines {
        for k in l["attributes"].as_object().unwrap().keys() {
            assert!(
                !k.starts_with("poolgate:"),
                "internal attribute exported: {k}"
            );
        }
    }

    // An export hands out password hashes: it is audited.
    let (_, ev) = app
        .admin(
            "GET",
            &format!("/v1/admin/pools/{}/events", app.pool_id),
            None,
        )
        .await;
    assert_eq!(
        (
            ev["events"][0]["event"].as_str(),
            ev["events"][0]["door"].as_str()
        ),
        (Some("Admin:ExportUsers"), Some("native"))
    );

    let (target, client) = second_pool(&app).await;
    let body = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
    let (st, report) = import(&app, &target, body).await;
    assert_eq!(st, 200, "{report}");
    assert_eq!(report["imported"], 2, "{report}");
    assert_eq!(report["failed"], json!([]));

    // Ann signs in to the new pool with her old password; same sub, same
    // groups, same attributes.
    let (st, t) = sign_in_to(&app, &target, &client, "ann@example.com", PASSWORD).await;
    assert_eq!(st, 200, "{t}");
    let jwks = app
        .request(
            "GET",
            &format!("/{target}/.well-known/jwks.json"),
            None,
            None,
        )
        .await
        .1;
    let claims = verify_with_jwks(
        t["tokens"]["id_token"].as_str().unwrap(),
        &jwks,
        &format!("{ISSUER_BASE}/{target}"),
    );
    assert_eq!(claims["sub"], ann["sub"]);
    assert_eq!(claims["cognito:groups"], json!(["staff"]));
    assert_eq!(claims["custom:plan"], "pro");
    assert_eq!(claims["email_verified"], true);
    // Bob is still unconfirmed there.
    let (st, b) = sign_in_to(&app, &target, &client, "bob@example.com", PASSWORD).await;
    assert_eq!((st, b["code"].as_str()), (403, Some("UserNotConfirmed")));
    // Importing the same file again reports each user as a conflict.
    let body = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
    let (_, report) = import(&app, &target, body).await;
    assert_eq!(report["imported"], 0);
    assert_eq!(report["failed"].as_array().unwrap().len(), 2, "{report}");
}

#[tokio::test]
async fn p7_hashes_from_other_systems_sign_in_and_are_upgraded_to_argon2id() {
    let app = spawn_app().await;
    let bcrypt_hash = bcrypt::hash("bcrypt user password", 4).unwrap();
    // passlib 1.7.4: pbkdf2_sha256.using(rounds=1000).hash("password")
    let pbkdf2 =
        "$pbkdf2-sha256$1000$ey.llJJyTumdM6Y0xrjXug$eBiAyR5mRB53JVuYo44tS7i./2VggGo8ELPa3MoFFuk";
    let records = [
        json!({"username": "x", "status": "CONFIRMED", "attributes": {"email": "bc@example.com", "email_verified": "true"}, "password_hash": bcrypt_hash}),
        json!({"username": "x", "status": "CONFIRMED", "attributes": {"email": "pb@example.com", "email_verified": "true"}, "password_hash": pbkdf2}),
    ];
    let (st, report) = import(&app, &app.pool_id, jsonl(&records)).await;
    assert_eq!(
        (st, report["imported"].as_u64()),
        (200, Some(2)),
        "{report}"
    );
    for (email, pw) in [
        ("bc@example.com", "bcrypt user password"),
        ("pb@example.com", "password"),
    ] {
        let stored = |app: &TestApp| {
            let store = app.store.clone();
            let pool = app.pool_id.clone();
            async move {
                let sub = store
                    .find_alias(&pool, "email", email)
                    .await
                    .unwrap()
                    .unwrap();
                store
                    .get_user(&pool, &sub)
                    .await
                    .unwrap()
                    .unwrap()
                    .password_hash
                    .unwrap()
            }
        };
        assert!(!stored(&app).await.starts_with("$argon2"));
        assert_eq!(app.sign_in(email, "wrong password here").await.0, 401);
        assert!(
            !stored(&app).await.starts_with("$argon2"),
            "a failure does not upgrade"
        );
        let (st, b) = app.sign_in(email, pw).await;
        assert_eq!(st, 200, "{email}: {b}");
        assert!(
            stored(&app).await.starts_with("$argon2id$"),
            "upgraded on sign-in"
        );
        assert_eq!(app.sign_in(email, pw).await.0, 200, "and works afterwards");
    }
}

#[tokio::test]
async fn bad_lines_are_reported_by_number_and_the_rest_are_imported() {
    let app = spawn_app().await;
    let ok = |email: &str| json!({"username": "x", "status": "CONFIRMED", "attributes": {"email": email}, "password_hash": bcrypt::hash("some password 1", 4).unwrap()});
    let body = [
        format!("{}\n", ok("one@example.com")),
        "{not json\n".into(),
        "\n".into(), // blank lines are skipped
        format!("{}\n", json!({"username": "x", "status": "CONFIRMED", "attributes": {"email": "md5@example.com"}, "password_hash": "$1$abc$def"})),
        format!("{}\n", json!({"username": "x", "status": "ASLEEP", "attributes": {"email": "st@example.com"}})),
        format!("{}\n", json!({"username": "x", "status": "CONFIRMED", "attributes": {"email": "c@example.com"}, "password_hash": "$2b$31$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"})),
        format!("{}\n", ok("one@example.com")), // duplicate
        format!("{}\n", json!({"username": "x", "status": "CONFIRMED", "attributes": {"custom:nope": "1", "email": "cu@example.com"}})),
        format!("{}\n", json!({"username": "x", "status": "CONFIRMED", "attributes": {"email": "nopw@example.com", "email_verified": "true"}})),
        format!("{}\n", json!({"username": "x", "status": "CONFIRMED", "attributes": {"given_name": "no email"}})),
        format!("{}\n", json!({"username": "x", "status": "CONFIRMED", "sub": "not-a-uuid", "attributes": {"email": "s@example.com"}})),
    ]
    .concat();
    let (st, report) = import(&app, &app.pool_id, body).await;
    assert_eq!(st, 200, "{report}");
    assert_eq!(report["imported"], 2, "{report}");
    assert_eq!(report["reset_required"], 1, "{report}");
    let failed: Vec<(u64, String)> = report["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["line"].as_u64().unwrap(),
                f["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        failed,
        vec![
            (2, "InvalidParameter".into()),
            (4, "InvalidParameter".into()),
            (5, "InvalidParameter".into()),
            (6, "InvalidParameter".into()),
            (7, "AliasExists".into()),
            (8, "InvalidParameter".into()),
            (10, "InvalidParameter".into()),
            (11, "InvalidParameter".into()),
        ],
        "{report}"
    );
    // Without a password the user cannot sign in (and, with existence
    // errors prevented, looks like anyone else who fails) until they reset it.
    let (st, _) = app.sign_in("nopw@example.com", "anything at all 1").await;
    assert_eq!(st, 401);
    let (st, b) = app
        .post(
            &app.pool_path("password/forgot"),
            json!({"client_id": app.client_id, "username": "nopw@example.com"}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let code = app.last_code("nopw@example.com").await;
    let (st, b) = app
        .post(
            &app.pool_path("password/reset"),
            json!({"client_id": app.client_id, "username": "nopw@example.com", "code": code,
                   "password": "a fresh passphrase after import"}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(
        app.sign_in("nopw@example.com", "a fresh passphrase after import")
            .await
            .0,
        200
    );
    for m in report["failed"].as_array().unwrap() {
        let m = m["message"].as_str().unwrap();
        assert!(
            !m.contains("$2b$") && !m.to_lowercase().contains("sql"),
            "{m}"
        );
    }
}

#[tokio::test]
async fn import_and_export_need_the_admin_key_a_known_pool_and_json_lines() {
    let app = spawn_app().await;
    let resp = app
        .http
        .get(format!(
            "{}/v1/admin/pools/{}/export",
            app.base, app.pool_id
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(export(&app, "local-east-1_Missing00").await.0, 404);
    assert_eq!(
        import(&app, "local-east-1_Missing00", "".into()).await.0,
        404
    );
    let resp = app
        .http
        .post(format!(
            "{}/v1/admin/pools/{}/import",
            app.base, app.pool_id
        ))
        .bearer_auth(&app.admin_key)
        .json(&json!({"username": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn exports_page_through_large_pools() {
    let app = spawn_app().await;
    let hash = bcrypt::hash("page password 12", 4).unwrap();
    let records: Vec<Value> = (0..1203)
        .map(|i| json!({"username": "x", "status": "CONFIRMED", "attributes": {"email": format!("u{i}@example.com")}, "password_hash": hash}))
        .collect();
    let (st, report) = import(&app, &app.pool_id, jsonl(&records)).await;
    assert_eq!(
        (st, report["imported"].as_u64()),
        (200, Some(1203)),
        "{report}"
    );
    let (_, _, lines) = export(&app, &app.pool_id).await;
    assert_eq!(lines.len(), 1203);
    let mut subs: Vec<&str> = lines.iter().map(|l| l["sub"].as_str().unwrap()).collect();
    subs.sort();
    subs.dedup();
    assert_eq!(subs.len(), 1203, "every user exactly once");
}

use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn sign_up_sends_a_code_that_confirms_the_user() {
    let app = spawn_app().await;
    let (st, body) = app.sign_up("alice@example.com", PASSWORD).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["user_confirmed"], false);
    assert_eq!(body["code_delivery"]["destination"], "a***@e***");
    assert_eq!(body["code_delivery"]["medium"], "EMAIL");
    let sub = body["user_sub"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(sub).is_ok());

    // Not yet confirmed: the right password says so.
    let (st, body) = app.sign_in("alice@example.com", PASSWORD).await;
    assert_eq!((st, body["code"].as_str()), (403, Some("UserNotConfirmed")));

    let code = app.last_code("alice@example.com").await;
    let (st, body) = app.confirm("alice@example.com", &code).await;
    assert_eq!(st, 200, "{body}");
    let (st, _) = app.sign_in("ALICE@example.com", PASSWORD).await;
    assert_eq!(st, 200, "sign-in names are case-insensitive");
}

#[tokio::test]
async fn codes_are_stored_hashed_and_single_use() {
    let app = spawn_app().await;
    let (_, body) = app.sign_up("bob@example.com", PASSWORD).await;
    let sub = body["user_sub"].as_str().unwrap();
    let code = app.last_code("bob@example.com").await;
    let record = app
        .store
        .get_code(&app.pool_id, sub, poolgate::model::CodePurpose::Signup)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(record.code_hash, code);
    assert!(
        !record.code_hash.contains(&code),
        "the code must not be stored in clear"
    );
    assert_eq!(app.confirm("bob@example.com", &code).await.0, 200);
    // Already confirmed: with existence errors hidden (the pool default)
    // the answer of a wrong code, so it does not tell a confirmed user from
    // an unknown one (G3; tests/api/enumeration.rs).
    let (st, body) = app.confirm("bob@example.com", &code).await;
    assert_eq!(
        (st, body["code"].as_str()),
        (400, Some("CodeMismatch")),
        "{body}"
    );
}

#[tokio::test]
async fn a_wrong_code_is_a_mismatch_and_five_kill_the_code() {
    let app = spawn_app().await;
    app.sign_up("carol@example.com", PASSWORD).await;
    let code = app.last_code("carol@example.com").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        let (st, body) = app.confirm("carol@example.com", wrong).await;
        assert_eq!((st, body["code"].as_str()), (400, Some("CodeMismatch")));
    }
    // The right code is now dead too.
    let (st, body) = app.confirm("carol@example.com", &code).await;
    assert_eq!(st, 400, "{body}");
    assert!(
        ["CodeMismatch", "TooManyFailedAttempts"].contains(&body["code"].as_str().unwrap()),
        "{body}"
    );
    // A resent code works.
    let (st, _) = app
        .post(
            &app.pool_path("signup/resend"),
            json!({"client_id": app.client_id, "username": "carol@example.com"}),
        )
        .await;
    assert_eq!(st, 200);
    let fresh = app.last_code("carol@example.com").await;
    assert_eq!(app.confirm("carol@example.com", &fresh).await.0, 200);
}

#[tokio::test]
async fn codes_expire_after_24_hours() {
    let app = spawn_app().await;
    app.sign_up("dave@example.com", PASSWORD).await;
    let code = app.last_code("dave@example.com").await;
    app.clock.advance(24 * 3600 + 1);
    let (st, body) = app.confirm("dave@example.com", &code).await;
    assert_eq!((st, body["code"].as_str()), (400, Some("ExpiredCode")));
}

#[tokio::test]
async fn resending_replaces_the_old_code() {
    let app = spawn_app().await;
    app.sign_up("erin@example.com", PASSWORD).await;
    let first = app.last_code("erin@example.com").await;
    app.post(
        &app.pool_path("signup/resend"),
        json!({"client_id": app.client_id, "username": "erin@example.com"}),
    )
    .await;
    let second = app.last_code("erin@example.com").await;
    if first != second {
        assert_eq!(
            app.confirm("erin@example.com", &first).await.1["code"],
            "CodeMismatch"
        );
    }
    assert_eq!(app.confirm("erin@example.com", &second).await.0, 200);
}

#[tokio::test]
async fn a_taken_email_is_username_exists() {
    let app = spawn_app().await;
    assert_eq!(app.sign_up("frank@example.com", PASSWORD).await.0, 200);
    let (st, body) = app.sign_up("Frank@Example.com", PASSWORD).await;
    assert_eq!((st, body["code"].as_str()), (409, Some("UsernameExists")));
}

#[tokio::test]
async fn p1_p5_weak_passwords_are_refused_with_a_reason() {
    let app = spawn_app().await;
    for (pw, why) in [
        ("fourteen chars", "long enough"),
        ("1qaz2wsx3edc4rfv", "common"),
        ("passwordpasswordpassword", "common"),
        ("grace@example.com", "username"),
    ] {
        let (st, body) = app.sign_up("grace@example.com", pw).await;
        assert_eq!(
            (st, body["code"].as_str()),
            (400, Some("InvalidPassword")),
            "{pw}: {body}"
        );
        assert!(
            body["detail"].as_str().unwrap().contains(why),
            "{pw}: {body}"
        );
    }
    // P2: long, Unicode passwords are accepted and round-trip.
    let long: String = "ünïcödé 🔑 ".repeat(7);
    assert_eq!(app.sign_up("heidi@example.com", &long).await.0, 200);
    let code = app.last_code("heidi@example.com").await;
    app.confirm("heidi@example.com", &code).await;
    assert_eq!(app.sign_in("heidi@example.com", &long).await.0, 200);
}

#[tokio::test]
async fn attributes_are_checked_against_the_pool_schema() {
    let app = spawn_app().await;
    let (st, _) = app
        .admin(
            "PATCH",
            &format!("/v1/admin/pools/{}", app.pool_id),
            Some(json!({"custom_attributes": [{"name": "tier", "attribute_type": "Number", "min_value": 1, "max_value": 3}],
                        "required_attributes": ["given_name"]})),
        )
        .await;
    assert_eq!(st, 200);
    let path = app.pool_path("signup");
    let signup = |attrs: serde_json::Value| {
        app.post(
            &path,
            json!({"client_id": app.client_id, "username": "ivan@example.com", "password": PASSWORD, "attributes": attrs}),
        )
    };
    for (attrs, why) in [
        (json!({"custom:tier": "2"}), "given_name"),
        (json!({"given_name": "Ivan", "custom:tier": "9"}), "range"),
        (json!({"given_name": "Ivan", "custom:nope": "1"}), "schema"),
        (
            json!({"given_name": "Ivan", "email_verified": "true"}),
            "cannot be set",
        ),
        (json!({"given_name": "Ivan", "shoe_size": "44"}), "schema"),
    ] {
        let (st, body) = signup(attrs.clone()).await;
        assert_eq!(
            (st, body["code"].as_str()),
            (400, Some("InvalidParameter")),
            "{attrs}: {body}"
        );
        assert!(
            body["detail"].as_str().unwrap().contains(why),
            "{attrs}: {body}"
        );
    }
    let (st, body) = signup(json!({"given_name": "Ivan", "custom:tier": "2"})).await;
    assert_eq!(st, 200, "{body}");
}

#[tokio::test]
async fn a_client_with_a_secret_must_present_it() {
    let app = spawn_app().await;
    let (_, c) = app
        .admin(
            "POST",
            &format!("/v1/admin/pools/{}/clients", app.pool_id),
            Some(json!({"name": "server", "generate_secret": true})),
        )
        .await;
    let id = c["client_id"].as_str().unwrap();
    let secret = c["client_secret"].as_str().unwrap();
    assert_eq!(secret.len(), 51);
    let body = |s: Option<&str>| json!({"client_id": id, "client_secret": s, "username": "judy@example.com", "password": PASSWORD});
    let (st, b) = app.post(&app.pool_path("signup"), body(None)).await;
    assert_eq!((st, b["code"].as_str()), (401, Some("NotAuthorized")));
    let (st, _) = app
        .post(
            &app.pool_path("signup"),
            body(Some("x".repeat(51).as_str())),
        )
        .await;
    assert_eq!(st, 401);
    let (st, b) = app.post(&app.pool_path("signup"), body(Some(secret))).await;
    assert_eq!(st, 200, "{b}");
    // The secret is stored sealed, not in clear.
    let stored = app
        .store
        .get_client(&app.pool_id, id)
        .await
        .unwrap()
        .unwrap();
    let sealed = stored.secret_sealed.unwrap();
    assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_bytes()));
}

#[tokio::test]
async fn pool_templates_shape_the_message() {
    let app = spawn_app().await;
    app.admin(
        "PATCH",
        &format!("/v1/admin/pools/{}", app.pool_id),
        Some(json!({"messages": {"verification": {"subject": "Welcome to {{ pool_name }}", "body": "Code: {{ code }}"}}})),
    )
    .await;
    app.sign_up("kate@example.com", PASSWORD).await;
    let (_, out) = app
        .admin("GET", "/v1/admin/outbox?to=kate@example.com", None)
        .await;
    assert_eq!(out["messages"][0]["subject"], "Welcome to test");
    assert!(
        out["messages"][0]["body"]
            .as_str()
            .unwrap()
            .starts_with("Code: ")
    );
}

#[tokio::test]
async fn an_srp_verifier_is_stored_sealed_at_every_password_set_unless_the_pool_refuses_srp() {
    let app = spawn_app().await;
    app.confirmed_user("vera@example.com").await;
    let stored = |app: &TestApp, email: &'static str| {
        let (store, pool) = (app.store.clone(), app.pool_id.clone());
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
                .srp_sealed
        }
    };
    let first = stored(&app, "vera@example.com")
        .await
        .expect("a verifier at sign-up");
    assert!(
        first.len() > 16 + 384,
        "salt and a 3072-bit verifier, sealed"
    );
    let (_, t) = app.sign_in("vera@example.com", PASSWORD).await;
    let (st, b) = app
        .request(
            "POST",
            "/v1/me/password",
            Some(json!({"previous_password": PASSWORD, "proposed_password": "another long passphrase 2"})),
            t["tokens"]["access_token"].as_str(),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let second = stored(&app, "vera@example.com").await.unwrap();
    assert_ne!(first, second, "a new password, a new verifier");
    app.admin(
        "PATCH",
        &format!("/v1/admin/pools/{}", app.pool_id),
        Some(json!({"allow_srp": false})),
    )
    .await;
    app.sign_up("nosrp@example.com", PASSWORD).await;
    assert_eq!(stored(&app, "nosrp@example.com").await, None);
}

/// Sets the pool's pre sign-up auto-confirm domains.
async fn auto_confirm_domains(
    app: &TestApp,
    domains: serde_json::Value,
) -> (u16, serde_json::Value) {
    app.admin(
        "PATCH",
        &format!("/v1/admin/pools/{}", app.pool_id),
        Some(json!({"hooks": {"pre_sign_up": {"auto_confirm_email_domains": domains}}})),
    )
    .await
}

#[tokio::test]
async fn a_pre_sign_up_rule_confirms_sign_ups_from_an_allowed_domain_without_a_code() {
    let app = spawn_app().await;
    let (st, pool) = auto_confirm_domains(&app, json!(["example.com"])).await;
    assert_eq!(st, 200, "{pool}");
    assert_eq!(
        pool["hooks"]["pre_sign_up"]["auto_confirm_email_domains"],
        json!(["example.com"])
    );
    let (st, body) = app.sign_up("Ann@EXAMPLE.com", PASSWORD).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["user_confirmed"], true);
    assert!(body["code_delivery"].is_null(), "{body}");
    let (_, out) = app
        .admin("GET", "/v1/admin/outbox?to=Ann@EXAMPLE.com", None)
        .await;
    assert_eq!(out["messages"], json!([]), "no code is sent");
    let (st, body) = app.sign_in("ann@example.com", PASSWORD).await;
    assert_eq!(st, 200, "{body}");
    // Confirmed is not verified: the rule does not prove the address.
    let (_, user) = app
        .admin(
            "GET",
            &format!("/v1/admin/pools/{}/users/ann@example.com", app.pool_id),
            None,
        )
        .await;
    assert_eq!(user["status"], "CONFIRMED", "{user}");
    assert_eq!(user["attributes"]["email_verified"], "false", "{user}");

    // Other pools' sign-ups are unchanged; so are other domains here.
    let (st, body) = app.sign_up("bob@example.org", PASSWORD).await;
    assert_eq!(
        (st, &body["user_confirmed"]),
        (200, &json!(false)),
        "{body}"
    );
}

#[tokio::test]
async fn the_auto_confirm_rule_cannot_be_matched_by_lookalike_domains() {
    let app = spawn_app().await;
    let (st, _) = auto_confirm_domains(&app, json!(["example.com", "kpmg.com"])).await;
    assert_eq!(st, 200);
    for (i, email) in [
        "m0@sub.example.com",
        "m1@example.com.evil.net",
        "m2@evilexample.com",
        "m3@example.co",
        "m4@example.com.",
        "m5@exampl\u{0435}.com",
        "m6@\u{212a}pmg.com",
        "m7@\u{ff45}xample.com",
        "m8@example\u{3002}com",
        "example.com@evil.net",
    ]
    .iter()
    .enumerate()
    {
        let (st, body) = app.sign_up(email, PASSWORD).await;
        if st == 200 {
            assert_eq!(body["user_confirmed"], false, "#{i} {email}: {body}");
            let (st, body) = app.sign_in(email, PASSWORD).await;
            assert_eq!(st, 403, "#{i} {email} signs in unconfirmed: {body}");
        } else {
            assert_eq!(st, 400, "#{i} {email}: {body}");
        }
    }
    // Only domains in their plain lower-case form are accepted as rules.
    for bad in [
        json!(["Example.com"]),
        json!(["*.example.com"]),
        json!(["example"]),
        json!(["ex ample.com"]),
        json!(["exämple.com"]),
        json!([".example.com"]),
        json!(["-x.example.com"]),
    ] {
        let (st, body) = auto_confirm_domains(&app, bad.clone()).await;
        assert_eq!(st, 400, "{bad}: {body}");
    }
}

#[tokio::test]
async fn the_auto_confirm_rule_does_not_apply_to_users_an_admin_creates() {
    let app = spawn_app().await;
    auto_confirm_domains(&app, json!(["example.com"])).await;
    let (st, user) = app
        .admin(
            "POST",
            &format!("/v1/admin/pools/{}/users", app.pool_id),
            Some(json!({"username": "carl@example.com"})),
        )
        .await;
    assert_eq!(st, 201, "{user}");
    assert_eq!(user["status"], "FORCE_CHANGE_PASSWORD", "{user}");
}

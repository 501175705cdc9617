//! Self-service: forgot/reset password, change password, global sign-out.

use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn a_forgotten_password_is_reset_with_a_mailed_code_and_old_sessions_end() {
    let app = spawn_app().await;
    let tokens = app.confirmed_user("alice@example.com").await;
    let (st, body) = app
        .post(
            &app.pool_path("password/forgot"),
            json!({"client_id": app.client_id, "username": "alice@example.com"}),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["code_delivery"]["destination"], "a***@e***");
    let (_, out) = app
        .admin("GET", "/v1/admin/outbox?to=alice@example.com", None)
        .await;
    assert!(
        out["messages"][0]["subject"]
            .as_str()
            .unwrap()
            .contains("password reset"),
        "{out}"
    );
    let code = app.last_code("alice@example.com").await;
    let new_pw = "a brand new passphrase for alice";
    let reset_path = app.pool_path("password/reset");
    let reset = |code: String, pw: &'static str| {
        app.post(
            &reset_path,
            json!({"client_id": app.client_id, "username": "alice@example.com", "code": code, "password": pw}),
        )
    };
    // The new password must meet the policy; the code survives a refusal.
    let (st, b) = reset(code.clone(), "too short").await;
    assert_eq!((st, b["code"].as_str()), (400, Some("InvalidPassword")));
    let (st, b) = reset(code.clone(), "a brand new passphrase for alice").await;
    assert_eq!(st, 200, "{b}");
    // Single use.
    let (st, b) = reset(code, "yet another passphrase here").await;
    assert_eq!((st, b["code"].as_str()), (400, Some("CodeMismatch")));

    assert_eq!(app.sign_in("alice@example.com", PASSWORD).await.0, 401);
    assert_eq!(app.sign_in("alice@example.com", new_pw).await.0, 200);
    // Sessions from before the reset are over.
    assert_eq!(
        app.refresh(tokens["refresh_token"].as_str().unwrap())
            .await
            .0,
        401
    );
    assert_eq!(
        app.request("GET", "/v1/me", None, tokens["access_token"].as_str())
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn reset_codes_expire_after_an_hour_and_die_after_five_wrong_tries() {
    let app = spawn_app().await;
    app.confirmed_user("bob@example.com").await;
    let (forgot_path, reset_path) = (
        app.pool_path("password/forgot"),
        app.pool_path("password/reset"),
    );
    let forgot = || {
        app.post(
            &forgot_path,
            json!({"client_id": app.client_id, "username": "bob@example.com"}),
        )
    };
    let reset = |code: &str| {
        app.post(
            &reset_path,
            json!({"client_id": app.client_id, "username": "bob@example.com", "code": code, "password": "bob's new long passphrase"}),
        )
    };
    forgot().await;
    let code = app.last_code("bob@example.com").await;
    app.clock.advance(3601);
    let (st, b) = reset(&code).await;
    assert_eq!((st, b["code"].as_str()), (400, Some("ExpiredCode")));

    forgot().await;
    let code = app.last_code("bob@example.com").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        assert_eq!(reset(wrong).await.1["code"], "CodeMismatch");
    }
    let (st, _) = reset(&code).await;
    assert_eq!(st, 400, "the code died after five wrong tries");
}

#[tokio::test]
async fn g3_forgot_password_does_not_reveal_whether_a_user_exists() {
    let app = spawn_app().await;
    app.confirmed_user("carol@example.com").await;
    let (st1, known) = app
        .post(
            &app.pool_path("password/forgot"),
            json!({"client_id": app.client_id, "username": "carol@example.com"}),
        )
        .await;
    let (st2, unknown) = app
        .post(
            &app.pool_path("password/forgot"),
            json!({"client_id": app.client_id, "username": "cyril@example.com"}),
        )
        .await;
    assert_eq!((st1, st2), (200, 200));
    assert_eq!(
        known["code_delivery"]["medium"],
        unknown["code_delivery"]["medium"]
    );
    assert_eq!(known["code_delivery"]["destination"], "c***@e***");
    assert_eq!(unknown["code_delivery"]["destination"], "c***@e***");
    let (_, out) = app
        .admin("GET", "/v1/admin/outbox?to=cyril@example.com", None)
        .await;
    assert!(
        out["messages"].as_array().unwrap().is_empty(),
        "no mail to unknown addresses"
    );
    let (st, b) = app
        .post(
            &app.pool_path("password/reset"),
            json!({"client_id": app.client_id, "username": "cyril@example.com", "code": "123456", "password": "whatever passphrase 1"}),
        )
        .await;
    assert_eq!((st, b["code"].as_str()), (400, Some("CodeMismatch")));
}

#[tokio::test]
async fn an_unverified_address_cannot_receive_a_reset_code() {
    let app = spawn_app().await;
    app.sign_up("dave@example.com", PASSWORD).await; // never confirmed
    let path = app.pool_path("password/forgot");
    let forgot = || {
        app.post(
            &path,
            json!({"client_id": app.client_id, "username": "dave@example.com"}),
        )
    };
    // With existence errors hidden (the pool default) the answer is the one
    // every name gets (G3; tests/api/enumeration.rs), but nothing is sent
    // to the unverified address: only the sign-up code is in the outbox.
    let (st, b) = forgot().await;
    assert_eq!(st, 200, "{b}");
    let (_, out) = app
        .admin("GET", "/v1/admin/outbox?to=dave@example.com", None)
        .await;
    assert_eq!(out["messages"].as_array().map(Vec::len), Some(1), "{out}");
    // Shown, the reason is given.
    app.admin(
        "PATCH",
        &format!("/v1/admin/pools/{}", app.pool_id),
        Some(json!({"prevent_user_existence_errors": false})),
    )
    .await;
    let (st, b) = forgot().await;
    assert_eq!(
        (st, b["code"].as_str()),
        (400, Some("InvalidParameter")),
        "{b}"
    );
}

#[tokio::test]
async fn p6_changing_a_password_requires_the_current_one() {
    let app = spawn_app().await;
    let tokens = app.confirmed_user("erin@example.com").await;
    let at = tokens["access_token"].as_str().unwrap();
    let change = |prev: &str, next: &str| {
        app.request(
            "POST",
            "/v1/me/password",
            Some(json!({"previous_password": prev, "proposed_password": next})),
            Some(at),
        )
    };
    let (st, b) = change("not my password at all", "erin's next passphrase").await;
    assert_eq!((st, b["code"].as_str()), (401, Some("NotAuthorized")));
    let (st, b) = change(PASSWORD, "password").await;
    assert_eq!((st, b["code"].as_str()), (400, Some("InvalidPassword")));
    let (st, b) = change(PASSWORD, "erin@example.com").await;
    assert_eq!(
        (st, b["code"].as_str()),
        (400, Some("InvalidPassword")),
        "context words refused"
    );
    let (st, b) = change(PASSWORD, "erin's next passphrase").await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(app.sign_in("erin@example.com", PASSWORD).await.0, 401);
    assert_eq!(
        app.sign_in("erin@example.com", "erin's next passphrase")
            .await
            .0,
        200
    );
    // Without a token there is nothing to change.
    let (st, _) = app
        .request(
            "POST",
            "/v1/me/password",
            Some(json!({"previous_password": "a", "proposed_password": "b"})),
            None,
        )
        .await;
    assert_eq!(st, 401);
}

#[tokio::test]
async fn s3_global_sign_out_revokes_every_session_of_the_user() {
    let app = spawn_app().await;
    let first = app.confirmed_user("frank@example.com").await;
    let (_, second) = app.sign_in("frank@example.com", PASSWORD).await;
    let other_user = app.confirmed_user("grace@example.com").await;
    let (st, b) = app
        .request(
            "POST",
            "/v1/me/signout",
            None,
            first["access_token"].as_str(),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["revoked_sessions"], 2);
    for t in [&first, &second["tokens"]] {
        assert_eq!(
            app.refresh(t["refresh_token"].as_str().unwrap()).await.0,
            401
        );
        assert_eq!(
            app.request("GET", "/v1/me", None, t["access_token"].as_str())
                .await
                .0,
            401
        );
    }
    // Other users are untouched; signing in again works.
    assert_eq!(
        app.request("GET", "/v1/me", None, other_user["access_token"].as_str())
            .await
            .0,
        200
    );
    assert_eq!(app.sign_in("frank@example.com", PASSWORD).await.0, 200);
}

#[tokio::test]
async fn account_endpoints_answer_bad_bodies_with_problems() {
    let app = spawn_app().await;
    let tokens = app.confirmed_user("heidi@example.com").await;
    for (path, bearer) in [
        (app.pool_path("password/forgot"), None),
        (app.pool_path("password/reset"), None),
        (
            "/v1/me/password".to_owned(),
            tokens["access_token"].as_str(),
        ),
    ] {
        for body in [json!({"evil": 1}), json!([1]), json!({"client_id": 5})] {
            let (st, b) = app.request("POST", &path, Some(body.clone()), bearer).await;
            assert_eq!(
                (st, b["code"].as_str()),
                (400, Some("InvalidParameter")),
                "{path} {body}: {b}"
            );
        }
    }
}

#[tokio::test]
async fn changing_email_keeps_the_old_verified_address_until_the_new_one_is_verified() {
    let app = spawn_app().await;
    let t = app.confirmed_user("old@example.com").await;
    let at = t["access_token"].as_str().unwrap();
    let (st, b) = app
        .request(
            "PATCH",
            "/v1/me",
            Some(json!({"attributes": {"email": "new@example.com", "given_name": "Olga"}})),
            Some(at),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["code_deliveries"][0]["destination"], "n***@e***");
    // Nothing is locked out: the old address still signs in and is still verified.
    let (st, me) = app.request("GET", "/v1/me", None, Some(at)).await;
    assert_eq!(st, 200);
    assert_eq!(
        (
            me["attributes"]["email"].as_str(),
            me["attributes"]["email_verified"].as_str()
        ),
        (Some("old@example.com"), Some("true"))
    );
    assert_eq!(me["attributes"]["given_name"], "Olga");
    assert!(
        !me.to_string().contains("new@example.com"),
        "the pending value is internal: {me}"
    );
    let (st, t2) = app.sign_in("old@example.com", PASSWORD).await;
    assert_eq!(st, 200);
    let id = verify_with_jwks(
        t2["tokens"]["id_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.issuer(),
    );
    assert_eq!(id["email"], "old@example.com");
    assert!(!id.to_string().contains("pending"), "{id}");
    assert_eq!(app.sign_in("new@example.com", PASSWORD).await.0, 401);

    let code = app.last_code("new@example.com").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (st, b) = app
        .request(
            "POST",
            "/v1/me/verify",
            Some(json!({"attribute": "email", "code": wrong})),
            Some(at),
        )
        .await;
    assert_eq!((st, b["code"].as_str()), (400, Some("CodeMismatch")));
    let (st, b) = app
        .request(
            "POST",
            "/v1/me/verify",
            Some(json!({"attribute": "email", "code": code})),
            Some(at),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let (_, me) = app.request("GET", "/v1/me", None, Some(at)).await;
    assert_eq!(
        (
            me["attributes"]["email"].as_str(),
            me["attributes"]["email_verified"].as_str()
        ),
        (Some("new@example.com"), Some("true"))
    );
    assert_eq!(app.sign_in("new@example.com", PASSWORD).await.0, 200);
    assert_eq!(
        app.sign_in("old@example.com", PASSWORD).await.0,
        401,
        "the old address is released"
    );
    assert_eq!(
        app.sign_up("old@example.com", PASSWORD).await.0,
        200,
        "and can be taken by someone else"
    );
}

#[tokio::test]
async fn a_new_email_owned_by_someone_else_is_refused_at_verification() {
    let app = spawn_app().await;
    app.confirmed_user("taken@example.com").await;
    let t = app.confirmed_user("mine@example.com").await;
    let at = t["access_token"].as_str().unwrap();
    app.request(
        "PATCH",
        "/v1/me",
        Some(json!({"attributes": {"email": "taken@example.com"}})),
        Some(at),
    )
    .await;
    let code = app.last_code("taken@example.com").await;
    let (st, b) = app
        .request(
            "POST",
            "/v1/me/verify",
            Some(json!({"attribute": "email", "code": code})),
            Some(at),
        )
        .await;
    assert_eq!((st, b["code"].as_str()), (409, Some("AliasExists")), "{b}");
    let (_, me) = app.request("GET", "/v1/me", None, Some(at)).await;
    assert_eq!(me["attributes"]["email"], "mine@example.com");
    assert_eq!(app.sign_in("mine@example.com", PASSWORD).await.0, 200);
    // The code can be sent again for the pending address.
    let (st, b) = app
        .request(
            "POST",
            "/v1/me/verify/send",
            Some(json!({"attribute": "email"})),
            Some(at),
        )
        .await;
    assert_eq!(st, 200, "{b}");
}

#[tokio::test]
async fn attributes_are_updated_and_deleted_within_the_schema() {
    let app = spawn_app().await;
    app.admin(
        "PATCH",
        &format!("/v1/admin/pools/{}", app.pool_id),
        Some(json!({"custom_attributes": [{"name": "plan", "mutable": true}, {"name": "tenant", "mutable": false}]})),
    )
    .await;
    let t = app.confirmed_user("ivan@example.com").await;
    let at = t["access_token"].as_str().unwrap();
    let (st, b) = app
        .request(
            "PATCH",
            "/v1/me",
            Some(json!({"attributes": {"custom:plan": "pro", "nickname": "iv"}})),
            Some(at),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    for (bad, code) in [
        (
            json!({"attributes": {"custom:tenant": "x"}}),
            "InvalidParameter",
        ),
        (
            json!({"attributes": {"email_verified": "true"}}),
            "InvalidParameter",
        ),
        (json!({"attributes": {"sub": "x"}}), "InvalidParameter"),
        (
            json!({"attributes": {"poolgate:pending:email": "x@example.com"}}),
            "InvalidParameter",
        ),
        (json!({"attributes": {"email": ""}}), "InvalidParameter"),
        (
            json!({"attributes": {"email": "not-an-email"}}),
            "InvalidParameter",
        ),
        (
            json!({"attributes": {"custom:tenant": ""}}),
            "InvalidParameter",
        ),
        (json!({"attributes": {"shoe_size": ""}}), "InvalidParameter"),
        (json!({"attributes": {"sub": ""}}), "InvalidParameter"),
    ] {
        let (st, b) = app
            .request("PATCH", "/v1/me", Some(bad.clone()), Some(at))
            .await;
        assert_eq!((st, b["code"].as_str()), (400, Some(code)), "{bad}: {b}");
    }
    let (st, _) = app
        .request(
            "PATCH",
            "/v1/me",
            Some(json!({"attributes": {"nickname": ""}})),
            Some(at),
        )
        .await;
    assert_eq!(st, 200);
    let (_, me) = app.request("GET", "/v1/me", None, Some(at)).await;
    assert_eq!(me["attributes"]["custom:plan"], "pro");
    assert!(me["attributes"].get("nickname").is_none(), "{me}");
}

#[tokio::test]
async fn users_can_delete_their_own_account() {
    let app = spawn_app().await;
    let t = app.confirmed_user("judy@example.com").await;
    let (st, _) = app
        .request("DELETE", "/v1/me", None, t["access_token"].as_str())
        .await;
    assert_eq!(st, 204);
    assert_eq!(app.sign_in("judy@example.com", PASSWORD).await.0, 401);
    assert_eq!(
        app.request("GET", "/v1/me", None, t["access_token"].as_str())
            .await
            .0,
        401
    );
    assert_eq!(
        app.refresh(t["refresh_token"].as_str().unwrap()).await.0,
        401
    );
    assert_eq!(app.sign_up("judy@example.com", PASSWORD).await.0, 200);
}

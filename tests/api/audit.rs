//! The audit trail: every sign-in, sign-up, password change and admin action,
//! with who, from where and the outcome — never a secret.

use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn sign_ins_sign_ups_password_changes_and_admin_actions_are_audited() {
    let app = spawn_app().await;
    let post_ua = |path: String, body: serde_json::Value| {
        app.http
            .post(format!("{}{}", app.base, path))
            .header("user-agent", "audit-test/1.0")
            .header("x-request-id", "req-42")
            .json(&body)
            .send()
    };
    post_ua(
        app.pool_path("signup"),
        json!({"client_id": app.client_id, "username": "amy@example.com", "password": PASSWORD}),
    )
    .await
    .unwrap();
    let code = app.last_code("amy@example.com").await;
    app.confirm("amy@example.com", &code).await;
    post_ua(app.pool_path("signin"), json!({"client_id": app.client_id, "username": "amy@example.com", "password": "a wrong password here"})).await.unwrap();
    let (_, t) = app.sign_in("amy@example.com", PASSWORD).await;
    let at = t["tokens"]["access_token"].as_str().unwrap();
    app.request(
        "POST",
        "/v1/me/password",
        Some(json!({"previous_password": PASSWORD, "proposed_password": "amy's next passphrase"})),
        Some(at),
    )
    .await;
    app.admin(
        "POST",
        &format!(
            "/v1/admin/pools/{}/users/amy@example.com/disable",
            app.pool_id
        ),
        None,
    )
    .await;

    let (st, ev) = app
        .admin(
            "GET",
            &format!(
                "/v1/admin/pools/{}/users/amy@example.com/events",
                app.pool_id
            ),
            None,
        )
        .await;
    assert_eq!(st, 200, "{ev}");
    let events = ev["events"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["event"].as_str().unwrap(), e["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("ChangePassword", "Success"),
            ("SignIn", "Success"),
            ("SignIn", "NotAuthorized"),
            ("ConfirmSignUp", "Success"),
            ("SignUp", "Success")
        ],
        "newest first: {ev}"
    );
    let failed = &events[2];
    assert_eq!(failed["ip"], "127.0.0.1");
    assert_eq!(failed["user_agent"], "audit-test/1.0");
    assert_eq!(failed["request_id"], "req-42");
    assert_eq!(failed["client_id"], app.client_id.as_str());
    assert_eq!(failed["username"], "amy@example.com");
    assert!(
        events
            .iter()
            .all(|e| e["sub"] == events[0]["sub"] && e["created_at"].is_i64())
    );

    let (_, pool_ev) = app
        .admin(
            "GET",
            &format!("/v1/admin/pools/{}/events", app.pool_id),
            None,
        )
        .await;
    let admin = &pool_ev["events"][0];
    assert_eq!(
        admin["event"],
        "Admin:POST /v1/admin/pools/{pool_id}/users/{username}/disable"
    );
    assert_eq!(
        (admin["outcome"].as_str(), admin["username"].as_str()),
        (Some("Success"), Some("amy@example.com"))
    );

    // Never a secret.
    let all = pool_ev.to_string();
    for secret in [
        PASSWORD,
        "a wrong password here",
        "amy's next passphrase",
        code.as_str(),
        at,
    ] {
        assert!(
            !all.contains(secret),
            "the trail contains a secret: {secret}"
        );
    }
}

#[tokio::test]
async fn the_trail_pages_newest_first_with_a_cursor() {
    let app = spawn_app().await;
    for i in 0..5 {
        app.sign_in(&format!("ghost{i}@example.com"), "no such user here")
            .await;
    }
    let base = format!("/v1/admin/pools/{}/events", app.pool_id);
    let mut seen = vec![];
    let mut before: Option<String> = None;
    loop {
        let q = match &before {
            Some(b) => format!("{base}?limit=2&before={b}"),
            None => format!("{base}?limit=2"),
        };
        let (st, page) = app.admin("GET", &q, None).await;
        assert_eq!(st, 200, "{page}");
        for e in page["events"].as_array().unwrap() {
            if e["event"] == "SignIn" {
                seen.push(e["username"].as_str().unwrap().to_owned());
            }
        }
        match page["next"].as_str() {
            Some(n) => before = Some(n.to_owned()),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        (0..5)
            .map(|i| format!("ghost{i}@example.com"))
            .collect::<Vec<_>>()
    );
    let (st, _) = app
        .admin("GET", &format!("{base}?before=garbage"), None)
        .await;
    assert_eq!(st, 400);
}

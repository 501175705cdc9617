//! No user enumeration with the pool default (existence errors prevented,
//! G3): every answer that names a user is the same, byte for byte, for an
//! unknown, an unconfirmed and a confirmed user — on the native API and on
//! the Cognito protocol, lockout included. Request ids are masked; status,
//! body, `content-type` and `Retry-After` are compared.

use crate::helpers::*;
use poolgate::user_pools::auth::LOCK_AFTER_FAILURES;
use serde_json::{Value, json};

/// What an attacker sees of an answer.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    status: u16,
    content_type: Option<String>,
    retry_after: Option<String>,
    body: String,
}

#[derive(Clone, Copy, Debug)]
enum Door {
    Native,
    Cognito,
}

/// The three kinds of name; the same first letters, so the masked
/// destinations (`a***@e***`) match.
const CONFIRMED: &str = "amy1@example.com";
const UNCONFIRMED: &str = "amy2@example.com";
const UNKNOWN: &str = "amy3@example.com";

async fn send(app: &TestApp, door: Door, ip: &str, op: &str, user: &str, extra: &str) -> Seen {
    let (path, body, target) = match door {
        Door::Native => {
            let c = &app.client_id;
            let (tail, body) = match op {
                "resend" => ("signup/resend", json!({"client_id": c, "username": user})),
                "confirm" => (
                    "signup/confirm",
                    json!({"client_id": c, "username": user, "code": extra}),
                ),
                "forgot" => ("password/forgot", json!({"client_id": c, "username": user})),
                "signin" => (
                    "signin",
                    json!({"client_id": c, "username": user, "password": extra}),
                ),
                _ => unreachable!(),
            };
            (app.pool_path(tail), body, None)
        }
        Door::Cognito => {
            let c = &app.client_id;
            let (name, body) = match op {
                "resend" => (
                    "ResendConfirmationCode",
                    json!({"ClientId": c, "Username": user}),
                ),
                "confirm" => (
                    "ConfirmSignUp",
                    json!({"ClientId": c, "Username": user, "ConfirmationCode": extra}),
                ),
                "forgot" => ("ForgotPassword", json!({"ClientId": c, "Username": user})),
                "signin" => (
                    "InitiateAuth",
                    json!({"ClientId": c, "AuthFlow": "USER_PASSWORD_AUTH",
                        "AuthParameters": {"USERNAME": user, "PASSWORD": extra}}),
                ),
                _ => unreachable!(),
            };
            ("/".to_owned(), body, Some(name))
        }
    };
    let mut r = app
        .http
        .post(format!("{}{}", app.base, path))
        .header("x-forwarded-for", ip)
        .body(body.to_string());
    r = match target {
        Some(op) => r
            .header("content-type", "application/x-amz-json-1.1")
            .header(
                "x-amz-target",
                format!("AWSCognitoIdentityProviderService.{op}"),
            ),
        None => r.header("content-type", "application/json"),
    };
    let resp = r.send().await.unwrap();
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let ids: Vec<String> = ["x-request-id", "x-amzn-requestid"]
        .iter()
        .filter_map(|n| header(n))
        .collect();
    let (status, content_type, retry_after) = (
        resp.status().as_u16(),
        header("content-type"),
        header("retry-after"),
    );
    let mut body = resp.text().await.unwrap();
    for id in ids {
        body = body.replace(&id, "<request-id>");
    }
    Seen {
        status,
        content_type,
        retry_after,
        body,
    }
}

/// The three users' answers to one request, asserted equal; returns one.
async fn same_for_all(app: &TestApp, door: Door, ip: &str, op: &str, extra: &str) -> Seen {
    let mut seen = vec![];
    for user in [CONFIRMED, UNCONFIRMED, UNKNOWN] {
        seen.push((user, send(app, door, ip, op, user, extra).await));
    }
    let (_, first) = &seen[0];
    for (user, s) in &seen[1..] {
        assert_eq!(
            s, first,
            "{door:?} {op}: {user} answers differently from {CONFIRMED}"
        );
    }
    seen.pop().unwrap().1
}

async fn app_with_three_users() -> (TestApp, String) {
    let app = spawn_app_with(|s| {
        s.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        s.rate_limits.enabled = false;
    })
    .await;
    app.confirmed_user(CONFIRMED).await;
    let (st, b) = app.sign_up(UNCONFIRMED, PASSWORD).await;
    assert_eq!(st, 200, "{b}");
    let code = app.last_code(UNCONFIRMED).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    (app, wrong.to_owned())
}

#[tokio::test]
async fn g3_resend_confirm_forgot_sign_in_and_lockout_answer_the_same_for_unknown_unconfirmed_and_confirmed()
 {
    let (app, wrong_code) = app_with_three_users().await;
    for (door, ip, lock_ip) in [
        (Door::Native, "192.0.2.10", "192.0.2.11"),
        (Door::Cognito, "192.0.2.20", "192.0.2.21"),
    ] {
        let resend = same_for_all(&app, door, ip, "resend", "").await;
        assert_eq!(resend.status, 200, "{door:?} resend: {}", resend.body);
        assert!(resend.body.contains("a***@e***"), "{}", resend.body);
        let confirm = same_for_all(&app, door, ip, "confirm", &wrong_code).await;
        assert!(
            confirm.body.contains("CodeMismatch"),
            "{door:?} confirm: {confirm:?}"
        );
        let forgot = same_for_all(&app, door, ip, "forgot", "").await;
        assert_eq!(forgot.status, 200, "{door:?} forgot: {}", forgot.body);
        let signin = same_for_all(&app, door, ip, "signin", "wrong password here").await;
        assert!(
            signin.body.contains("Incorrect username or password."),
            "{door:?} sign-in: {signin:?}"
        );
        // The lockout: every name fails the same number of times from one
        // address, then even the right password meets the same lock.
        for i in 0..LOCK_AFTER_FAILURES {
            let s = same_for_all(&app, door, lock_ip, "signin", "wrong password here").await;
            assert_eq!(s, signin, "{door:?} failure {i}");
        }
        let locked = same_for_all(&app, door, lock_ip, "signin", PASSWORD).await;
        assert!(
            locked.body.contains("Password attempts exceeded"),
            "{door:?} lockout: {locked:?}"
        );
        if let Door::Native = door {
            assert_eq!(locked.retry_after.as_deref(), Some("1"));
        }
    }
    // Nothing was mailed to the confirmed user, nor a reset code to the
    // unconfirmed user's unverified address: only the sign-up code.
    let (_, out) = app
        .admin("GET", &format!("/v1/admin/outbox?to={UNCONFIRMED}"), None)
        .await;
    assert_eq!(
        out["messages"].as_array().map(Vec::len),
        Some(3),
        "the sign-up code and one resend per door: {out}"
    );
    let (_, out) = app
        .admin("GET", &format!("/v1/admin/outbox?to={CONFIRMED}"), None)
        .await;
    assert_eq!(
        out["messages"].as_array().map(Vec::len),
        Some(3),
        "the sign-up code and one reset code per door: {out}"
    );
}

#[tokio::test]
async fn g3_with_existence_errors_shown_the_answers_differ_as_cognito_documents() {
    // The control: the same table with the pool setting off does tell the
    // users apart, so the test above can fail.
    let (app, wrong_code) = app_with_three_users().await;
    let (st, b) = app
        .admin(
            "PATCH",
            &format!("/v1/admin/pools/{}", app.pool_id),
            Some(json!({"prevent_user_existence_errors": false})),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let codes = |s: &Seen| -> Value { serde_json::from_str(&s.body).unwrap_or(Value::Null) };
    let unknown = send(
        &app,
        Door::Native,
        "192.0.2.30",
        "confirm",
        UNKNOWN,
        &wrong_code,
    )
    .await;
    assert_eq!(codes(&unknown)["code"], "UserNotFound", "{unknown:?}");
    let confirmed = send(&app, Door::Native, "192.0.2.30", "resend", CONFIRMED, "").await;
    assert_eq!(confirmed.status, 400, "{confirmed:?}");
}

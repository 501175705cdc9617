//! Text messages through the webhook sender (a sink run by the test checks
//! each HMAC signature), phone-number verification, SMS as a second factor,
//! and choice-based sign-in (`USER_AUTH`) with one-time codes by email and
//! SMS.

use crate::helpers::*;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

const SECRET: &str = "webhook-secret-for-tests";

/// A local SMS gateway: records signed messages; answers 500 to the first
/// `fail_first` requests.
#[derive(Clone, Default)]
struct Sink {
    got: Arc<Mutex<Vec<Value>>>,
    fail_first: Arc<Mutex<u32>>,
    calls: Arc<Mutex<u32>>,
}

impl Sink {
    async fn start(fail_first: u32) -> (Self, String) {
        let sink = Sink::default();
        *sink.fail_first.lock().unwrap() = fail_first;
        let s = sink.clone();
        let app = axum::Router::new().route(
            "/sms",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let s = s.clone();
                    async move {
                        *s.calls.lock().unwrap() += 1;
                        {
                            let mut f = s.fail_first.lock().unwrap();
                            if *f > 0 {
                                *f -= 1;
                                return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                            }
                        }
                        let ts: i64 = headers["x-poolgate-timestamp"]
                            .to_str()
                            .unwrap()
                            .parse()
                            .unwrap();
                        let expected = poolgate::sms::signature(SECRET.as_bytes(), ts, &body);
                        if headers["x-poolgate-signature"].to_str().unwrap() != expected {
                            return axum::http::StatusCode::UNAUTHORIZED;
                        }
                        s.got
                            .lock()
                            .unwrap()
                            .push(serde_json::from_slice(&body).unwrap());
                        axum::http::StatusCode::NO_CONTENT
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/sms", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (sink, url)
    }

    /// The code in the newest message to `to`.
    fn last_code(&self, to: &str) -> String {
        let got = self.got.lock().unwrap();
        let m = got
            .iter()
            .rev()
            .find(|m| m["to"] == to)
            .unwrap_or_else(|| panic!("no SMS to {to}: {got:?}"));
        m["body"]
            .as_str()
            .unwrap()
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .expect("a 6-digit code")
            .to_owned()
    }
}

async fn sms_app(fail_first: u32) -> (TestApp, Sink) {
    let (sink, url) = Sink::start(fail_first).await;
    let app = spawn_app_with(|s| {
        s.sms.kind = poolgate::sms::SmsKind::Webhook;
        s.sms.webhook.url = url;
        s.sms.webhook.secret = Some(poolgate::crypto::SecretString::new(SECRET.to_owned()));
        s.sms.webhook.timeout_ms = 2000;
    })
    .await;
    (app, sink)
}

/// A confirmed user whose phone number is verified by SMS; its access token.
async fn verified_phone(app: &TestApp, sink: &Sink, email: &str, phone: &str) -> String {
    let tokens = app.confirmed_user(email).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let (st, b) = app
        .request(
            "PATCH",
            "/v1/me",
            Some(json!({"attributes": {"phone_number": phone}})),
            Some(&access),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let (st, b) = app
        .request(
            "POST",
            "/v1/me/verify/send",
            Some(json!({"attribute": "phone_number"})),
            Some(&access),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["code_delivery"]["medium"], "SMS", "{b}");
    let (st, b) = app
        .request(
            "POST",
            "/v1/me/verify",
            Some(json!({"attribute": "phone_number", "code": sink.last_code(phone)})),
            Some(&access),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    access
}

#[tokio::test]
async fn phone_numbers_are_verified_by_signed_webhook_sms_with_retries() {
    // The gateway fails twice; the sender's two retries get through.
    let (app, sink) = sms_app(2).await;
    let access = verified_phone(&app, &sink, "phone@example.com", "+15550100001").await;
    let (st, me) = app.request("GET", "/v1/me", None, Some(&access)).await;
    assert_eq!(st, 200);
    assert_eq!(me["attributes"]["phone_number_verified"], "true", "{me}");
    let msg = sink.got.lock().unwrap()[0].clone();
    assert_eq!(msg["pool_id"], app.pool_id.as_str());
    assert!(msg["id"].as_str().is_some_and(|i| !i.is_empty()), "{msg}");
    assert_eq!(*sink.calls.lock().unwrap(), 3, "two failures, then success");
}

#[tokio::test]
async fn a_gateway_that_keeps_failing_is_a_clear_delivery_error() {
    let (app, _sink) = sms_app(100).await;
    let tokens = app.confirmed_user("down@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    app.request(
        "PATCH",
        "/v1/me",
        Some(json!({"attributes": {"phone_number": "+15550100002"}})),
        Some(access),
    )
    .await;
    let (st, b) = app
        .request(
            "POST",
            "/v1/me/verify/send",
            Some(json!({"attribute": "phone_number"})),
            Some(access),
        )
        .await;
    assert_eq!(
        (st, b["code"].as_str()),
        (502, Some("CodeDeliveryFailure")),
        "{b}"
    );
}

#[tokio::test]
async fn sms_is_a_second_factor() {
    let (app, sink) = sms_app(0).await;
    let (st, b) = app
        .admin(
            "PATCH",
            &format!("/v1/admin/pools/{}", app.pool_id),
            Some(json!({"mfa": {"mode": "OPTIONAL", "factors": ["SOFTWARE_TOKEN", "SMS_OTP"]}})),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let access = verified_phone(&app, &sink, "text@example.com", "+15550100003").await;
    let (st, view) = app
        .request(
            "PUT",
            "/v1/me/mfa",
            Some(json!({"sms_otp_enabled": true, "preferred": "SMS_OTP"})),
            Some(&access),
        )
        .await;
    assert_eq!(st, 200, "{view}");
    let (st, b) = app.sign_in("text@example.com", PASSWORD).await;
    assert_eq!(st, 200);
    assert_eq!(b["challenge"]["name"], "SMS_MFA", "{b}");
    assert_eq!(
        b["challenge"]["parameters"]["CODE_DELIVERY_DELIVERY_MEDIUM"],
        "SMS"
    );
    let (st, b) = app
        .post(
            &app.pool_path("signin/challenge"),
            json!({"client_id": app.client_id, "challenge_name": "SMS_MFA",
                "session": b["challenge"]["session"],
                "responses": {"SMS_MFA_CODE": sink.last_code("+15550100003")}}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert!(b["tokens"]["access_token"].is_string());
}

async fn user_auth_app() -> (TestApp, Sink) {
    let (app, sink) = sms_app(0).await;
    let (st, b) = app
        .admin(
            "PATCH",
            &format!("/v1/admin/pools/{}", app.pool_id),
            Some(json!({"first_auth_factors": ["PASSWORD", "EMAIL_OTP", "SMS_OTP"]})),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    app.allow_user_auth().await;
    (app, sink)
}

async fn start(app: &TestApp, body: Value) -> (u16, Value) {
    let mut b = body;
    b["client_id"] = app.client_id.clone().into();
    app.post(&app.pool_path("signin/start"), b).await
}

#[tokio::test]
async fn user_auth_offers_the_pools_first_factors_and_signs_in_without_a_password() {
    let (app, sink) = user_auth_app().await;
    verified_phone(&app, &sink, "choice@example.com", "+15550100004").await;
    let (st, b) = start(&app, json!({"username": "choice@example.com"})).await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["challenge"]["name"], "SELECT_CHALLENGE");
    let available: Vec<String> = serde_json::from_str(
        b["challenge"]["parameters"]["AvailableChallenges"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        available,
        ["PASSWORD", "PASSWORD_SRP", "EMAIL_OTP", "SMS_OTP"]
    );

    // Email code, no password.
    let (st, c) = app
        .answer_challenge(
            "SELECT_CHALLENGE",
            &b["challenge"]["session"],
            json!({"ANSWER": "EMAIL_OTP"}),
        )
        .await;
    assert_eq!(
        (st, c["challenge"]["name"].as_str()),
        (200, Some("EMAIL_OTP")),
        "{c}"
    );
    let code = app.last_code("choice@example.com").await;
    let (st, t) = app
        .answer_challenge(
            "EMAIL_OTP",
            &c["challenge"]["session"],
            json!({"EMAIL_OTP_CODE": code}),
        )
        .await;
    assert_eq!(st, 200, "{t}");
    assert!(t["tokens"]["id_token"].is_string(), "{t}");

    // SMS code as the preferred challenge: no choice step.
    let (st, c) = start(
        &app,
        json!({"username": "choice@example.com",
        "preferred_challenge": "SMS_OTP"}),
    )
    .await;
    assert_eq!(
        (st, c["challenge"]["name"].as_str()),
        (200, Some("SMS_OTP")),
        "{c}"
    );
    let (st, t) = app
        .answer_challenge(
            "SMS_OTP",
            &c["challenge"]["session"],
            json!({"SMS_OTP_CODE": sink.last_code("+15550100004")}),
        )
        .await;
    assert_eq!(st, 200, "{t}");

    // The password as the choice.
    let (_, b) = start(&app, json!({"username": "choice@example.com"})).await;
    let (st, t) = app
        .answer_challenge(
            "SELECT_CHALLENGE",
            &b["challenge"]["session"],
            json!({"ANSWER": "PASSWORD", "PASSWORD": PASSWORD}),
        )
        .await;
    assert_eq!(st, 200, "{t}");
    assert!(t["tokens"]["access_token"].is_string());
}

#[tokio::test]
async fn g3_user_auth_answers_the_same_for_a_name_without_a_user() {
    let (app, _sink) = user_auth_app().await;
    app.confirmed_user("real@example.com").await;
    let (st_real, real) = start(&app, json!({"username": "real@example.com"})).await;
    let (st_none, none) = start(&app, json!({"username": "nobody@example.com"})).await;
    assert_eq!((st_real, st_none), (200, 200));
    assert_eq!(
        real["challenge"]["parameters"], none["challenge"]["parameters"],
        "the same choices"
    );
    // A wrong password and a name without a user: one answer.
    let (st1, b1) = app
        .answer_challenge(
            "SELECT_CHALLENGE",
            &real["challenge"]["session"],
            json!({"ANSWER": "PASSWORD", "PASSWORD": "wrong password 123"}),
        )
        .await;
    let (st2, b2) = app
        .answer_challenge(
            "SELECT_CHALLENGE",
            &none["challenge"]["session"],
            json!({"ANSWER": "PASSWORD", "PASSWORD": "wrong password 123"}),
        )
        .await;
    assert_eq!((st1, &b1["detail"]), (st2, &b2["detail"]), "{b1} vs {b2}");
    // A code choice: a challenge either way, and a wrong code either way.
    let (_, none) = start(
        &app,
        json!({"username": "nobody@example.com",
        "preferred_challenge": "EMAIL_OTP"}),
    )
    .await;
    assert_eq!(none["challenge"]["name"], "EMAIL_OTP", "{none}");
    let (st, b) = app
        .answer_challenge(
            "EMAIL_OTP",
            &none["challenge"]["session"],
            json!({"EMAIL_OTP_CODE": "123456"}),
        )
        .await;
    assert_eq!((st, b["code"].as_str()), (400, Some("CodeMismatch")), "{b}");
    // A client without ALLOW_USER_AUTH cannot start it.
    let (st, _) = app
        .admin(
            "PATCH",
            &format!("/v1/admin/pools/{}/clients/{}", app.pool_id, app.client_id),
            Some(json!({"explicit_auth_flows": ["ALLOW_USER_PASSWORD_AUTH"]})),
        )
        .await;
    assert_eq!(st, 200);
    let (st, _) = start(&app, json!({"username": "real@example.com"})).await;
    assert_eq!(st, 400);
}

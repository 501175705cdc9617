//! Multi-factor authentication: the pool setting, TOTP set up and used at
//! sign-in, email codes, MFA_SETUP when MFA is required, and the checklist's
//! M1-M4. Codes are computed with the server's TOTP function here; the
//! end-to-end tests compute them with Python's pyotp.

use crate::helpers::*;
use poolgate::clock::Clock;
use poolgate::user_pools::mfa::{TOTP_STEP, totp_code};
use serde_json::{Value, json};

fn secret_of(assoc: &Value) -> Vec<u8> {
    // Base32 (RFC 4648, no padding) back to bytes.
    let s = assoc["secret_code"].as_str().unwrap();
    let mut out = vec![];
    let (mut buf, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {s}"),
        };
        buf = (buf << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            out.push((buf >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    out
}

fn code_now(app: &TestApp, secret: &[u8]) -> String {
    totp_code(secret, app.clock.now() / TOTP_STEP)
}

async fn set_pool_mfa(app: &TestApp, mfa: Value) {
    let (st, b) = app
        .admin(
            "PATCH",
            &format!("/v1/admin/pools/{}", app.pool_id),
            Some(json!({ "mfa": mfa })),
        )
        .await;
    assert_eq!(st, 200, "{b}");
}

/// A confirmed user with TOTP on; returns (access token, secret).
async fn totp_user(app: &TestApp, email: &str) -> (String, Vec<u8>) {
    let tokens = app.confirmed_user(email).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let (st, assoc) = app
        .request("POST", "/v1/me/mfa/totp/associate", None, Some(&access))
        .await;
    assert_eq!(st, 200, "{assoc}");
    assert!(
        assoc["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    let secret = secret_of(&assoc);
    let (st, view) = app
        .request(
            "POST",
            "/v1/me/mfa/totp/verify",
            Some(json!({"code": code_now(app, &secret), "device_name": "phone"})),
            Some(&access),
        )
        .await;
    assert_eq!(st, 200, "{view}");
    assert_eq!(view["totp_enabled"], true);
    assert_eq!(view["preferred"], "SOFTWARE_TOKEN");
    (access, secret)
}

async fn totp_answer(app: &TestApp, session: &str, code: impl Into<Value>) -> (u16, Value) {
    app.answer_challenge(
        "SOFTWARE_TOKEN_MFA",
        session,
        json!({"SOFTWARE_TOKEN_MFA_CODE": code.into()}),
    )
    .await
}

#[tokio::test]
async fn optional_totp_is_asked_at_sign_in_and_m1_a_code_works_once() {
    let app = spawn_app().await;
    set_pool_mfa(
        &app,
        json!({"mode": "OPTIONAL", "factors": ["SOFTWARE_TOKEN"]}),
    )
    .await;
    // Without a factor, OPTIONAL signs in directly.
    app.confirmed_user("plain@example.com").await;
    let (_, secret) = totp_user(&app, "totp@example.com").await;
    // The mail tells the user a factor was added (M3).
    let (_, out) = app
        .admin("GET", "/v1/admin/outbox?to=totp@example.com", None)
        .await;
    assert!(
        out["messages"][0]["body"]
            .as_str()
            .unwrap()
            .contains("authenticator app was added"),
        "{out}"
    );

    app.clock.advance(TOTP_STEP);
    let (st, b) = app.sign_in("totp@example.com", PASSWORD).await;
    assert_eq!(st, 200, "{b}");
    assert!(
        b.get("tokens").is_none(),
        "no tokens before the second factor: {b}"
    );
    assert_eq!(b["challenge"]["name"], "SOFTWARE_TOKEN_MFA");
    let session = b["challenge"]["session"].as_str().unwrap().to_owned();
    let code = code_now(&app, &secret);
    let (st, b) = totp_answer(&app, &session, code.clone()).await;
    assert_eq!(st, 200, "{b}");
    assert!(b["tokens"]["access_token"].is_string(), "{b}");

    // M1: the same code in the same step, in a new sign-in: refused.
    let (_, b) = app.sign_in("totp@example.com", PASSWORD).await;
    let session = b["challenge"]["session"].as_str().unwrap().to_owned();
    let (st, b) = totp_answer(&app, &session, code).await;
    assert_eq!((st, b["code"].as_str()), (400, Some("CodeMismatch")), "{b}");
    // The next step's code works in the same session.
    app.clock.advance(TOTP_STEP);
    let (st, b) = totp_answer(&app, &session, code_now(&app, &secret)).await;
    assert_eq!(st, 200, "{b}");
    // M4: a session is used once.
    app.clock.advance(TOTP_STEP);
    let (st, b) = totp_answer(&app, &session, code_now(&app, &secret)).await;
    assert_eq!(st, 401, "{b}");
}

#[tokio::test]
async fn m2_totp_drift_is_one_step_and_wrong_codes_spend_the_session() {
    let app = spawn_app().await;
    set_pool_mfa(&app, json!({"mode": "OPTIONAL"})).await;
    let (_, secret) = totp_user(&app, "drift@example.com").await;
    let sign_in = || async {
        let (_, b) = app.sign_in("drift@example.com", PASSWORD).await;
        b["challenge"]["session"].as_str().unwrap().to_owned()
    };
    app.clock.advance(10 * TOTP_STEP);
    let step = app.clock.now() / TOTP_STEP;
    // Two steps off: refused; three wrong answers end the session.
    let session = sign_in().await;
    for _ in 0..3 {
        let (st, b) = app
            .answer_challenge(
                "SOFTWARE_TOKEN_MFA",
                &session,
                json!({"SOFTWARE_TOKEN_MFA_CODE": totp_code(&secret, step - 2)}),
            )
            .await;
        assert_eq!(st, 400, "{b}");
    }
    let (st, _) = totp_answer(&app, &session, totp_code(&secret, step)).await;
    assert_eq!(st, 401, "the session is spent after three wrong codes");
    // One step behind (a slow clock on the phone): accepted.
    let session = sign_in().await;
    let (st, b) = totp_answer(&app, &session, totp_code(&secret, step - 1)).await;
    assert_eq!(st, 200, "{b}");
}

#[tokio::test]
async fn mfa_on_leads_a_user_without_a_factor_through_setup() {
    let app = spawn_app().await;
    let tokens = app.confirmed_user("setup@example.com").await;
    assert!(tokens["access_token"].is_string());
    set_pool_mfa(&app, json!({"mode": "ON", "factors": ["SOFTWARE_TOKEN"]})).await;
    let (st, b) = app.sign_in("setup@example.com", PASSWORD).await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["challenge"]["name"], "MFA_SETUP", "{b}");
    let session = b["challenge"]["session"].as_str().unwrap().to_owned();
    // Answering before a token is verified does not sign in.
    let (st, _) = app.answer_challenge("MFA_SETUP", &session, json!({})).await;
    assert_eq!(st, 400);
    let (st, _) = app.sign_in("setup@example.com", PASSWORD).await;
    assert_eq!(st, 200);
    let (_, b) = app.sign_in("setup@example.com", PASSWORD).await;
    let session = b["challenge"]["session"].as_str().unwrap().to_owned();
    let body = json!({"client_id": app.client_id, "session": session});
    let (st, assoc) = app
        .post(&app.pool_path("signin/mfa-setup/associate"), body.clone())
        .await;
    assert_eq!(st, 200, "{assoc}");
    let secret = secret_of(&assoc);
    let mut verify = body.clone();
    verify["code"] = code_now(&app, &secret).into();
    let (st, b) = app
        .post(&app.pool_path("signin/mfa-setup/verify"), verify)
        .await;
    assert_eq!(st, 200, "{b}");
    let (st, b) = app.answer_challenge("MFA_SETUP", &session, json!({})).await;
    assert_eq!(st, 200, "{b}");
    assert!(b["tokens"]["id_token"].is_string(), "{b}");
    // From now on the factor is asked.
    let (_, b) = app.sign_in("setup@example.com", PASSWORD).await;
    assert_eq!(b["challenge"]["name"], "SOFTWARE_TOKEN_MFA", "{b}");
}

#[tokio::test]
async fn email_codes_are_a_factor_and_m4_a_code_completes_only_its_session() {
    let app = spawn_app().await;
    set_pool_mfa(
        &app,
        json!({"mode": "OPTIONAL", "factors": ["SOFTWARE_TOKEN", "EMAIL_OTP"]}),
    )
    .await;
    let tokens = app.confirmed_user("mail@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    let (st, view) = app
        .request(
            "PUT",
            "/v1/me/mfa",
            Some(json!({"email_otp_enabled": true, "preferred": "EMAIL_OTP"})),
            Some(access),
        )
        .await;
    assert_eq!(st, 200, "{view}");
    assert_eq!(view["preferred"], "EMAIL_OTP");

    let (_, first) = app.sign_in("mail@example.com", PASSWORD).await;
    assert_eq!(first["challenge"]["name"], "EMAIL_OTP", "{first}");
    assert_eq!(
        first["challenge"]["parameters"]["CODE_DELIVERY_DELIVERY_MEDIUM"],
        "EMAIL"
    );
    let first_code = app.last_code("mail@example.com").await;
    let (_, second) = app.sign_in("mail@example.com", PASSWORD).await;
    let second_code = app.last_code("mail@example.com").await;
    assert_ne!(first_code, second_code);
    // M4: the first session's code does not complete the second one.
    let s2 = second["challenge"]["session"].as_str().unwrap();
    let (st, b) = app
        .answer_challenge("EMAIL_OTP", s2, json!({"EMAIL_OTP_CODE": first_code}))
        .await;
    assert_eq!((st, b["code"].as_str()), (400, Some("CodeMismatch")), "{b}");
    let (st, b) = app
        .answer_challenge("EMAIL_OTP", s2, json!({"EMAIL_OTP_CODE": second_code}))
        .await;
    assert_eq!(st, 200, "{b}");
    // An answer for another challenge name is refused.
    let s1 = first["challenge"]["session"].as_str().unwrap();
    let (st, _) = app
        .answer_challenge(
            "SOFTWARE_TOKEN_MFA",
            s1,
            json!({"SOFTWARE_TOKEN_MFA_CODE": "123456"}),
        )
        .await;
    assert_eq!(st, 400);
}

#[tokio::test]
async fn m3_changing_factors_needs_a_recent_sign_in_and_admins_can_remove_totp() {
    let app = spawn_app().await;
    set_pool_mfa(&app, json!({"mode": "OPTIONAL"})).await;
    let (access, _) = totp_user(&app, "m3@example.com").await;
    // Twenty minutes later the same (still valid) token may not change MFA.
    app.clock.advance(20 * 60);
    let (st, b) = app
        .request(
            "PUT",
            "/v1/me/mfa",
            Some(json!({"totp_enabled": false})),
            Some(&access),
        )
        .await;
    assert_eq!(st, 401, "{b}");
    let (st, _) = app
        .request("POST", "/v1/me/mfa/totp/associate", None, Some(&access))
        .await;
    assert_eq!(st, 401);
    // The admin sees the factors.
    let user = "/v1/admin/pools/{p}/users/m3@example.com/mfa".replace("{p}", &app.pool_id);
    let (st, view) = app.admin("GET", &user, None).await;
    assert_eq!((st, view["totp_enabled"].as_bool()), (200, Some(true)));
    // The admin removes a lost authenticator: sign-in is one step again.
    let (st, view) = app
        .admin("PUT", &user, Some(json!({"totp_enabled": false})))
        .await;
    assert_eq!(st, 200, "{view}");
    assert_eq!(view["totp_enabled"], false);
    assert_eq!(view["preferred"], Value::Null);
    let (st, b) = app.sign_in("m3@example.com", PASSWORD).await;
    assert_eq!(st, 200);
    assert!(b["tokens"]["access_token"].is_string(), "{b}");

    // Pool settings are checked.
    for bad in [
        json!({"mode": "SOMETIMES"}),
        json!({"mode": "ON", "factors": []}),
        json!({"factors": ["SMS_OTP_NOPE"]}),
        json!({"totp_issuer": "a:b"}),
    ] {
        let (st, b) = app
            .admin(
                "PATCH",
                &format!("/v1/admin/pools/{}", app.pool_id),
                Some(json!({ "mfa": bad })),
            )
            .await;
        assert_eq!(st, 400, "{bad}: {b}");
    }
}

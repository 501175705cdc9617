//! The Cognito protocol's error mapping for failures that need the injected
//! clock or tight rate limits (the real SDK clients drive everything else
//! in tests/e2e): expired codes, rate-limited sign-ins and code sends.

use crate::helpers::*;
use serde_json::{Value, json};

async fn cognito(app: &TestApp, op: &str, body: Value) -> (u16, Value) {
    let resp = app
        .http
        .post(format!("{}/", app.base))
        .header("content-type", "application/x-amz-json-1.1")
        .header(
            "x-amz-target",
            format!("AWSCognitoIdentityProviderService.{op}"),
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    assert!(
        resp.headers().get("x-amzn-requestid").is_some(),
        "every answer has a request id"
    );
    (status, resp.json().await.unwrap())
}

fn fault(answer: &(u16, Value)) -> (u16, &str) {
    (answer.0, answer.1["__type"].as_str().unwrap_or("<none>"))
}

async fn sign_up(app: &TestApp, email: &str) {
    let r = cognito(
        app,
        "SignUp",
        json!({"ClientId": app.client_id, "Username": email, "Password": PASSWORD}),
    )
    .await;
    assert_eq!(r.0, 200, "{}", r.1);
}

#[tokio::test]
async fn an_expired_confirmation_code_is_expired_code_exception() {
    let app = spawn_app().await;
    sign_up(&app, "late@example.com").await;
    let code = app.last_code("late@example.com").await;
    app.clock.advance(poolgate::user_pools::SIGNUP_CODE_TTL + 1);
    let r = cognito(
        &app,
        "ConfirmSignUp",
        json!({"ClientId": app.client_id, "Username": "late@example.com", "ConfirmationCode": code}),
    )
    .await;
    assert_eq!(fault(&r), (400, "ExpiredCodeException"), "{}", r.1);
    // A new code works.
    let r = cognito(
        &app,
        "ResendConfirmationCode",
        json!({"ClientId": app.client_id, "Username": "late@example.com"}),
    )
    .await;
    assert_eq!(r.0, 200, "{}", r.1);
    let code = app.last_code("late@example.com").await;
    let r = cognito(
        &app,
        "ConfirmSignUp",
        json!({"ClientId": app.client_id, "Username": "late@example.com", "ConfirmationCode": code}),
    )
    .await;
    assert_eq!(r.0, 200, "{}", r.1);
}

#[tokio::test]
async fn rate_limits_are_too_many_requests_for_sign_in_and_limit_exceeded_for_codes() {
    let app = spawn_app_with(|s| {
        s.rate_limits.signin.per_ip = 2;
        s.rate_limits.code_send.per_ip = 1;
    })
    .await;
    let auth = json!({"ClientId": app.client_id, "AuthFlow": "USER_PASSWORD_AUTH",
        "AuthParameters": {"USERNAME": "nobody@example.com", "PASSWORD": "wrong password here"}});
    for _ in 0..2 {
        let r = cognito(&app, "InitiateAuth", auth.clone()).await;
        assert_eq!(fault(&r), (400, "NotAuthorizedException"), "{}", r.1);
    }
    let r = cognito(&app, "InitiateAuth", auth).await;
    assert_eq!(fault(&r), (400, "TooManyRequestsException"), "{}", r.1);

    let forgot = json!({"ClientId": app.client_id, "Username": "nobody@example.com"});
    let r = cognito(&app, "ForgotPassword", forgot.clone()).await;
    assert_eq!(r.0, 200, "{}", r.1);
    let r = cognito(&app, "ForgotPassword", forgot).await;
    assert_eq!(fault(&r), (400, "LimitExceededException"), "{}", r.1);
    assert_eq!(
        r.1["message"], "Attempt limit exceeded, please try after some time.",
        "{}",
        r.1
    );
}

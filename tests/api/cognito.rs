//! The Cognito protocol's error mapping for failures that need the injected
//! clock or tight rate limits (the real SDK clients drive everything else
//! in tests/e2e): expired codes, rate-limited sign-ins and code sends.

use crate::helpers::*;
use poolgate::clock::Clock;
use serde_json::{Value, json};

pub(crate) async fn cognito(app: &TestApp, op: &str, body: Value) -> (u16, Value) {
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

/// A Cognito-protocol request as an AWS SDK signs it with the admin
/// credential: `signed` are the headers it signs (sorted), `scope` the
/// credential scope's (region, service). The signature is made for
/// `signed_target`; `sent_target` is what goes on the wire.
struct Signed<'a> {
    signed: &'a [&'a str],
    scope: (&'a str, &'a str),
    signed_target: &'a str,
    sent_target: &'a str,
}

impl Signed<'_> {
    fn admin(op: &str) -> Signed<'_> {
        Signed {
            signed: &["content-type", "host", "x-amz-date", "x-amz-target"],
            scope: ("local-east-1", "cognito-idp"),
            signed_target: op,
            sent_target: op,
        }
    }
}

async fn signed_cognito(app: &TestApp, req: Signed<'_>, key: &str, body: Value) -> (u16, Value) {
    let body = body.to_string();
    let host = app.base.trim_start_matches("http://").to_owned();
    let content_type = "application/x-amz-json-1.1";
    let leave_out: Vec<&str> = ["content-type", "host", "x-amz-date", "x-amz-target"]
        .into_iter()
        .filter(|h| !req.signed.contains(h))
        .collect();
    let signature = aws_signed_headers(
        &host,
        &[
            ("content-type", content_type),
            ("x-amz-target", req.signed_target),
        ],
        body.as_bytes(),
        key,
        req.scope,
        app.clock.now(),
        &leave_out,
    );
    let mut request = app
        .http
        .post(format!("{}/", app.base))
        .header("content-type", content_type)
        .header("x-amz-target", req.sent_target);
    for (k, v) in signature {
        request = request.header(k, v);
    }
    let resp = request.body(body).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

const IDP: &str = "AWSCognitoIdentityProviderService.";

#[tokio::test]
async fn a9_admin_sigv4_signed_as_the_sdks_sign_is_accepted() {
    let app = spawn_app().await;
    let list = format!("{IDP}ListUsers");
    let r = signed_cognito(
        &app,
        Signed::admin(&list),
        &app.admin_key,
        json!({"UserPoolId": app.pool_id}),
    )
    .await;
    assert_eq!(r.0, 200, "{}", r.1);
    // Identity-pool admin operations are scoped to cognito-identity.
    let r = signed_cognito(
        &app,
        Signed {
            scope: ("local-east-1", "cognito-identity"),
            ..Signed::admin("AWSCognitoIdentityService.ListIdentityPools")
        },
        &app.admin_key,
        json!({"MaxResults": 10}),
    )
    .await;
    assert_eq!(r.0, 200, "{}", r.1);
}

#[tokio::test]
async fn a9_admin_sigv4_replayed_with_another_target_is_refused() {
    let app = spawn_app().await;
    app.confirmed_user("victim@example.com").await;
    // A signature made for AdminGetUser, sent as AdminDeleteUser with the
    // same body (the body names only the pool and the user).
    let (get, delete) = (
        format!("{IDP}AdminGetUser"),
        format!("{IDP}AdminDeleteUser"),
    );
    let body = json!({"UserPoolId": app.pool_id, "Username": "victim@example.com"});
    let r = signed_cognito(
        &app,
        Signed {
            sent_target: &delete,
            ..Signed::admin(&get)
        },
        &app.admin_key,
        body.clone(),
    )
    .await;
    assert_eq!(fault(&r), (400, "InvalidSignatureException"), "{}", r.1);
    // A captured signature that does not cover the target (a client signing
    // fewer headers) is refused too, so it cannot be replayed as another
    // operation.
    let r = signed_cognito(
        &app,
        Signed {
            signed: &["content-type", "host", "x-amz-date"],
            sent_target: &delete,
            ..Signed::admin(&get)
        },
        &app.admin_key,
        body.clone(),
    )
    .await;
    assert_eq!(fault(&r), (400, "InvalidSignatureException"), "{}", r.1);
    let r = signed_cognito(&app, Signed::admin(&get), &app.admin_key, body).await;
    assert_eq!(r.0, 200, "the user is still there: {}", r.1);
}

#[tokio::test]
async fn a9_admin_sigv4_requires_the_target_and_content_type_among_signed_headers() {
    let app = spawn_app().await;
    let list = format!("{IDP}ListUsers");
    for signed in [
        &["content-type", "host", "x-amz-date"][..],
        &["host", "x-amz-date", "x-amz-target"][..],
        &["content-type", "x-amz-date", "x-amz-target"][..],
    ] {
        let r = signed_cognito(
            &app,
            Signed {
                signed,
                ..Signed::admin(&list)
            },
            &app.admin_key,
            json!({"UserPoolId": app.pool_id}),
        )
        .await;
        assert_eq!(
            fault(&r),
            (400, "InvalidSignatureException"),
            "{signed:?}: {}",
            r.1
        );
    }
}

#[tokio::test]
async fn a9_admin_sigv4_wrong_region_or_service_is_refused() {
    let app = spawn_app().await;
    let list = format!("{IDP}ListUsers");
    for scope in [
        ("us-east-1", "cognito-idp"),
        ("local-east-1", "cognito-identity"),
        ("local-east-1", "s3"),
    ] {
        let r = signed_cognito(
            &app,
            Signed {
                scope,
                ..Signed::admin(&list)
            },
            &app.admin_key,
            json!({"UserPoolId": app.pool_id}),
        )
        .await;
        assert_eq!(
            fault(&r),
            (400, "InvalidSignatureException"),
            "{scope:?}: {}",
            r.1
        );
    }
}

#[tokio::test]
async fn cognito_created_clients_keep_cognitos_rotation_default_and_native_ones_rotate() {
    let app = spawn_app().await;
    let create = format!("{IDP}CreateUserPoolClient");
    let r = signed_cognito(
        &app,
        Signed::admin(&create),
        &app.admin_key,
        json!({"UserPoolId": app.pool_id, "ClientName": "sdk"}),
    )
    .await;
    assert_eq!(r.0, 200, "{}", r.1);
    assert_eq!(
        r.1["UserPoolClient"]["RefreshTokenRotation"]["Feature"], "DISABLED",
        "Cognito's default: {}",
        r.1
    );
    let r = signed_cognito(
        &app,
        Signed::admin(&create),
        &app.admin_key,
        json!({"UserPoolId": app.pool_id, "ClientName": "sdk2",
            "RefreshTokenRotation": {"Feature": "ENABLED"}}),
    )
    .await;
    assert_eq!(
        r.1["UserPoolClient"]["RefreshTokenRotation"]["Feature"], "ENABLED",
        "{}",
        r.1
    );
    // The native API and the config: on unless switched off.
    let (st, c) = app
        .admin(
            "POST",
            &format!("/v1/admin/pools/{}/clients", app.pool_id),
            Some(json!({"name": "native"})),
        )
        .await;
    assert_eq!(st, 201, "{c}");
    assert_eq!(c["refresh_token_rotation"], true, "{c}");
    assert!(
        poolgate::model::ClientSettings::default().refresh_token_rotation,
        "the default of declared (config) clients"
    );
}

#[tokio::test]
async fn a_deleted_clients_access_token_is_refused_by_get_user() {
    let app = spawn_app().await;
    let tokens = app.confirmed_user("gone@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    let r = cognito(&app, "GetUser", json!({"AccessToken": access})).await;
    assert_eq!(r.0, 200, "{}", r.1);
    let delete = format!("{IDP}DeleteUserPoolClient");
    let r = signed_cognito(
        &app,
        Signed::admin(&delete),
        &app.admin_key,
        json!({"UserPoolId": app.pool_id, "ClientId": app.client_id}),
    )
    .await;
    assert_eq!(r.0, 200, "{}", r.1);
    let r = cognito(&app, "GetUser", json!({"AccessToken": access})).await;
    assert_eq!(fault(&r), (400, "NotAuthorizedException"), "{}", r.1);
}

//! Hostile and malformed input, endpoint by endpoint: every answer is a 4xx
//! problem+json with a stable code — never a 500.

use crate::helpers::*;
use serde_json::{Value, json};

struct Raw {
    status: u16,
    content_type: String,
    body: Value,
}

async fn raw(
    app: &TestApp,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
    bearer: Option<&str>,
) -> Raw {
    let mut r = app
        .http
        .request(method.parse().unwrap(), format!("{}{}", app.base, path))
        .body(body);
    if let Some(ct) = content_type {
        r = r.header("content-type", ct);
    }
    if let Some(b) = bearer {
        r = r.bearer_auth(b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = resp.text().await.unwrap();
    Raw {
        status,
        content_type,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

fn assert_problem(r: &Raw, status: u16, code: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: {:?}", r.body);
    assert_eq!(r.content_type, "application/problem+json", "{what}");
    assert_eq!(r.body["code"], code, "{what}: {:?}", r.body);
    assert_eq!(r.body["status"], status, "{what}");
    let text = r.body.to_string().to_lowercase();
    for leak in [
        "sqlx", "sqlite", "postgres", "select ", "insert ", "panicked", "stack",
    ] {
        assert!(!text.contains(leak), "{what} leaks `{leak}`: {text}");
    }
}

#[tokio::test]
async fn every_public_endpoint_answers_bad_bodies_with_a_problem() {
    let app = spawn_app().await;
    let endpoints = [
        "signup",
        "signup/confirm",
        "signup/resend",
        "signin",
        "token/refresh",
        "token/revoke",
        "signin/challenge",
        "signin/start",
        "signin/mfa-setup/associate",
        "signin/mfa-setup/verify",
    ];
    let json_ct = Some("application/json");
    let huge = format!(
        "{{\"client_id\":\"{}\",\"username\":\"{}\"}}",
        app.client_id,
        "x".repeat(200_000)
    );
    for ep in endpoints {
        let path = app.pool_path(ep);
        // (what, content type, body, expected status, expected code)
        type Case<'a> = (&'a str, Option<&'a str>, Vec<u8>, u16, &'a str);
        let cases: Vec<Case> = vec![
            ("malformed JSON", json_ct, b"{\"client_id\": ".to_vec(), 400, "InvalidParameter"),
            ("not an object", json_ct, b"[1,2,3]".to_vec(), 400, "InvalidParameter"),
            ("wrong types", json_ct, br#"{"client_id": 5, "username": [], "password": {}, "code": 1, "refresh_token": 2, "token": 3}"#.to_vec(), 400, "InvalidParameter"),
            ("unknown field", json_ct, format!(r#"{{"client_id":"{}","username":"a@b.co","password":"p","code":"1","refresh_token":"r","token":"t","evil":1}}"#, app.client_id).into_bytes(), 400, "InvalidParameter"),
            ("invalid UTF-8", json_ct, b"{\"client_id\": \"\xff\xfe\"}".to_vec(), 400, "InvalidParameter"),
            ("no content type", None, b"{}".to_vec(), 415, "UnsupportedMediaType"),
            ("text/plain", Some("text/plain"), b"{}".to_vec(), 415, "UnsupportedMediaType"),
            ("huge body", json_ct, huge.clone().into_bytes(), 413, "PayloadTooLarge"),
            ("empty body", json_ct, vec![], 400, "InvalidParameter"),
            ("nested bomb", json_ct, ("[".repeat(10_000) + &"]".repeat(10_000)).into_bytes(), 400, "InvalidParameter"),
        ];
        for (what, ct, body, status, code) in cases {
            let r = raw(&app, "POST", &path, ct, body, None).await;
            assert_problem(&r, status, code, &format!("{ep}: {what}"));
        }
    }
}

#[tokio::test]
async fn passkey_endpoints_answer_bad_bodies_with_a_problem() {
    let app = spawn_app().await;
    let (st, b) = app
        .admin(
            "PATCH",
            &format!("/v1/admin/pools/{}", app.pool_id),
            Some(json!({"first_auth_factors": ["PASSWORD", "WEB_AUTHN"],
                "webauthn": {"relying_party_id": "localhost", "origins": ["http://localhost:8080"]}})),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let tokens = app.confirmed_user("bodies@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    let json_ct = Some("application/json");
    let huge = format!("{{\"credential\":\"{}\"}}", "x".repeat(200_000));
    type Case<'a> = (&'a str, Option<&'a str>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "malformed JSON",
            json_ct,
            b"{\"credential\": ".to_vec(),
            400,
            "InvalidParameter",
        ),
        (
            "wrong types",
            json_ct,
            br#"{"credential": 5, "name": 7}"#.to_vec(),
            400,
            "InvalidParameter",
        ),
        (
            "unknown field",
            json_ct,
            br#"{"credential": {}, "evil": 1}"#.to_vec(),
            400,
            "InvalidParameter",
        ),
        (
            "not a credential",
            json_ct,
            br#"{"credential": {"id": "x", "rawId": 5}}"#.to_vec(),
            400,
            "InvalidParameter",
        ),
        (
            "invalid UTF-8",
            json_ct,
            b"{\"credential\": \"\xff\xfe\"}".to_vec(),
            400,
            "InvalidParameter",
        ),
        (
            "no content type",
            None,
            b"{}".to_vec(),
            415,
            "UnsupportedMediaType",
        ),
        (
            "huge body",
            json_ct,
            huge.into_bytes(),
            413,
            "PayloadTooLarge",
        ),
        (
            "nested bomb",
            json_ct,
            ("{\"credential\":".to_owned() + &"[".repeat(10_000) + &"]".repeat(10_000) + "}")
                .into_bytes(),
            400,
            "InvalidParameter",
        ),
    ];
    for (what, ct, body, status, code) in cases {
        // A pending registration, so the body itself is what is judged.
        app.request("POST", "/v1/me/passkeys/registration", None, Some(access))
            .await;
        let r = raw(&app, "POST", "/v1/me/passkeys", ct, body, Some(access)).await;
        assert_problem(&r, status, code, &format!("passkeys: {what}"));
    }
    let long = "A".repeat(5000);
    for id in ["nope", long.as_str(), "..%2F..%2Fetc"] {
        let r = raw(
            &app,
            "DELETE",
            &format!("/v1/me/passkeys/{id}"),
            None,
            vec![],
            Some(access),
        )
        .await;
        assert_problem(&r, 404, "ResourceNotFound", "unknown passkey");
    }
}

#[tokio::test]
async fn unknown_pools_clients_and_routes_are_not_found() {
    let app = spawn_app().await;
    let body =
        json!({"client_id": app.client_id, "username": "a@example.com", "password": PASSWORD});
    for pool in [
        "local-east-1_Nope12345",
        "../../etc",
        "x'; DROP TABLE users; --",
        "%00",
    ] {
        let r = raw(
            &app,
            "POST",
            &format!("/v1/pools/{pool}/signup"),
            Some("application/json"),
            body.to_string().into_bytes(),
            None,
        )
        .await;
        assert!(r.status == 404 || r.status == 400, "{pool}: {:?}", r.body);
        assert_eq!(r.content_type, "application/problem+json");
    }
    let r = raw(&app, "POST", &app.pool_path("signup"), Some("application/json"),
        json!({"client_id": "nosuchclient00000000000000", "username": "a@example.com", "password": PASSWORD}).to_string().into_bytes(), None).await;
    assert_problem(&r, 404, "ResourceNotFound", "unknown client");
    let r = raw(&app, "GET", "/v1/nothing/here", None, vec![], None).await;
    assert_problem(&r, 404, "NotFound", "unknown route");
    let r = raw(&app, "DELETE", &app.pool_path("signup"), None, vec![], None).await;
    assert_problem(&r, 405, "MethodNotAllowed", "wrong method");
}

#[tokio::test]
async fn bad_bearer_tokens_on_me_are_401_problems() {
    let app = spawn_app().await;
    let long = "a".repeat(20_000);
    let cases = [
        "garbage",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "eyJ.eyJ.sig",
        "....",
        long.as_str(),
        "eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.bm90IGpzb24.c2ln",
    ];
    for t in cases {
        for (method, path) in [
            ("GET", "/v1/me"),
            ("GET", "/v1/me/mfa"),
            ("POST", "/v1/me/mfa/totp/associate"),
            ("GET", "/v1/me/passkeys"),
            ("POST", "/v1/me/passkeys/registration"),
            ("DELETE", "/v1/me/passkeys/abc"),
        ] {
            let r = raw(&app, method, path, None, vec![], Some(t)).await;
            assert_problem(
                &r,
                401,
                "NotAuthorized",
                &format!("{path} with token {}", &t[..t.len().min(20)]),
            );
        }
    }
    let r = raw(&app, "GET", "/v1/me", None, vec![], None).await;
    assert_problem(&r, 401, "NotAuthorized", "no token");
    let resp = app
        .http
        .get(format!("{}/v1/me", app.base))
        .header("authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn field_values_out_of_bounds_are_refused() {
    let app = spawn_app().await;
    let long_name = "a".repeat(300) + "@example.com";
    let cases = [
        json!({"client_id": app.client_id, "username": "", "password": PASSWORD}),
        json!({"client_id": app.client_id, "username": long_name, "password": PASSWORD}),
        json!({"client_id": app.client_id, "username": "not-an-email", "password": PASSWORD}),
        json!({"client_id": app.client_id, "username": "a@example.com", "password": "x".repeat(10_000)}),
        json!({"client_id": app.client_id, "username": "a@example.com", "password": PASSWORD, "attributes": {"name": "\u{0000}"}}),
        json!({"client_id": app.client_id, "username": "a@example.com", "password": PASSWORD, "attributes": {"name": "x".repeat(3000)}}),
        json!({"client_id": app.client_id, "username": "a@example.com", "password": PASSWORD, "attributes": {"email": "other@example.com"}}),
    ];
    for c in cases {
        let (st, body) = app.post(&app.pool_path("signup"), c.clone()).await;
        assert_eq!(st, 400, "{c}: {body}");
        assert!(
            ["InvalidParameter", "InvalidPassword"].contains(&body["code"].as_str().unwrap()),
            "{body}"
        );
    }
    let (st, body) = app.confirm("a@example.com", &"9".repeat(100)).await;
    assert_eq!(st, 400, "{body}");
    let (st, _) = app.sign_in("a@example.com", &"x".repeat(10_000)).await;
    assert_eq!(st, 401);
    let (st, _) = app.refresh(&"r".repeat(5000)).await;
    assert_eq!(st, 401);
}

#[tokio::test]
async fn admin_endpoints_need_the_admin_key() {
    let app = spawn_app().await;
    for (method, path) in [
        ("GET", "/v1/admin/pools".to_owned()),
        ("POST", "/v1/admin/pools".to_owned()),
        ("GET", format!("/v1/admin/pools/{}", app.pool_id)),
        ("DELETE", format!("/v1/admin/pools/{}", app.pool_id)),
        ("GET", "/v1/admin/outbox".to_owned()),
        (
            "POST",
            format!("/v1/admin/pools/{}/keys/rotate", app.pool_id),
        ),
        (
            "POST",
            format!("/v1/admin/pools/{}/identity-providers", app.pool_id),
        ),
        (
            "GET",
            format!("/v1/admin/pools/{}/users/a@example.com/mfa", app.pool_id),
        ),
        (
            "POST",
            format!(
                "/v1/admin/pools/{}/users/a@example.com/identities",
                app.pool_id
            ),
        ),
    ] {
        for key in [
            None,
            Some("wrong-key-wrong-key-wrong-key"),
            Some(""),
            Some(&app.admin_key[..10]),
        ] {
            let r = raw(
                &app,
                method,
                &path,
                Some("application/json"),
                b"{\"name\":\"x\"}".to_vec(),
                key,
            )
            .await;
            assert_problem(
                &r,
                401,
                "Unauthenticated",
                &format!("{method} {path} with {key:?}"),
            );
        }
    }
    // An access token is not an admin key.
    let tokens = app.confirmed_user("a@example.com").await;
    let r = raw(
        &app,
        "GET",
        "/v1/admin/pools",
        None,
        vec![],
        tokens["access_token"].as_str(),
    )
    .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn admin_bodies_are_validated() {
    let app = spawn_app().await;
    for body in [
        json!({}),
        json!({"name": ""}),
        json!({"name": "x", "password_policy": {"min_length": 3}}),
        json!({"name": "x", "username_attributes": ["nickname"]}),
        json!({"name": "x", "token_validity": {"access_token_secs": 10}}),
        json!({"name": "x", "custom_attributes": [{"name": "bad name!"}]}),
        json!({"name": "x", "messages": {"verification": {"subject": "{{ broken", "body": "{{ code }}"}}}),
        json!({"name": "x", "surprise": true}),
    ] {
        let (st, b) = app
            .admin("POST", "/v1/admin/pools", Some(body.clone()))
            .await;
        assert_eq!(
            (st, b["code"].as_str()),
            (400, Some("InvalidParameter")),
            "{body}: {b}"
        );
    }
    for body in [
        json!({"name": "c", "explicit_auth_flows": ["ALLOW_EVERYTHING"]}),
        json!({"name": "c", "allowed_origins": ["https://app.example.com/path"]}),
        json!({"name": "c", "allowed_origins": ["javascript:alert(1)"]}),
    ] {
        let (st, b) = app
            .admin(
                "POST",
                &format!("/v1/admin/pools/{}/clients", app.pool_id),
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            (st, b["code"].as_str()),
            (400, Some("InvalidParameter")),
            "{body}: {b}"
        );
    }
    let (st, _) = app
        .admin(
            "PATCH",
            &format!("/v1/admin/pools/{}", app.pool_id),
            Some(json!([1])),
        )
        .await;
    assert_eq!(st, 400);
    let (st, _) = app.admin("GET", "/v1/admin/pools?limit=abc", None).await;
    assert_eq!(st, 400);
}

/// PostgreSQL's text cannot hold U+0000, SQLite's can: text with a NUL in it
/// is refused alike on both stores, never a 500 (it was one on PostgreSQL).
#[tokio::test]
async fn nul_characters_are_refused_on_every_surface() {
    let app = spawn_app().await;
    app.confirmed_user("nul@example.com").await;
    let json_ct = Some("application/json");
    let c = &app.client_id;
    // Native JSON endpoints: 400 InvalidParameter before any work.
    for (ep, body) in [
        (
            "signin",
            format!(
                r#"{{"client_id":"{c}","username":"nul\u0000@example.com","password":"{PASSWORD}"}}"#
            ),
        ),
        (
            "signin",
            format!(r#"{{"client_id":"{c}","username":"nul@example.com","password":"x\u0000y"}}"#),
        ),
        (
            "signup",
            format!(
                r#"{{"client_id":"{c}","username":"a\u0000@example.com","password":"{PASSWORD}"}}"#
            ),
        ),
        (
            "signup/confirm",
            format!(r#"{{"client_id":"{c}","username":"nul@example.com","code":"12\u00003"}}"#),
        ),
        (
            "signup/resend",
            format!(r#"{{"client_id":"{c}\u0000","username":"nul@example.com"}}"#),
        ),
        (
            "password/forgot",
            format!(r#"{{"client_id":"{c}","username":"\u0000"}}"#),
        ),
        (
            "token/refresh",
            format!(r#"{{"client_id":"{c}","refresh_token":"r\u0000"}}"#),
        ),
    ] {
        let r = raw(
            &app,
            "POST",
            &app.pool_path(ep),
            json_ct,
            body.into_bytes(),
            None,
        )
        .await;
        assert_problem(&r, 400, "InvalidParameter", &format!("{ep} with a NUL"));
        assert_eq!(
            r.body["detail"],
            "Text values must not contain NUL characters."
        );
    }
    // An escaped backslash before "u0000" is text, not a NUL.
    let body = format!(
        r#"{{"client_id":"{c}","username":"a\\u0000@example.com","password":"{PASSWORD}"}}"#
    );
    let r = raw(
        &app,
        "POST",
        &app.pool_path("signin"),
        json_ct,
        body.into_bytes(),
        None,
    )
    .await;
    assert_problem(&r, 401, "NotAuthorized", "a literal backslash-u0000 name");

    // The Cognito protocol.
    let resp = app
        .http
        .post(format!("{}/", app.base))
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "AWSCognitoIdentityProviderService.InitiateAuth")
        .body(format!(
            r#"{{"ClientId":"{c}","AuthFlow":"USER_PASSWORD_AUTH","AuthParameters":{{"USERNAME":"nul\u0000@example.com","PASSWORD":"{PASSWORD}"}}}}"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let b: Value = resp.json().await.unwrap();
    assert_eq!(b["__type"], "InvalidParameterException", "{b}");

    // Paths and forms reach the store without a JSON body: a NUL there is a
    // 4xx on both stores (on PostgreSQL the store's refusal is mapped).
    let (st, b) = app
        .admin(
            "GET",
            &format!("/v1/admin/pools/{}/users/nul%00x", app.pool_id),
            None,
        )
        .await;
    assert!(matches!(st, 400 | 404), "{st} {b}");
    assert!(b["code"].is_string(), "{b}");
    let resp = app
        .http
        .post(format!("{}/{}/oauth2/token", app.base, app.pool_id))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=authorization_code&client_id={c}%00&code=abc%00\
             &redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&code_verifier=v"
        ))
        .send()
        .await
        .unwrap();
    let st = resp.status().as_u16();
    assert!(
        (400..500).contains(&st),
        "OAuth token endpoint answered {st}"
    );
    let b: Value = resp.json().await.unwrap();
    assert!(b["error"].is_string(), "{b}");
}

/// Path segments axum cannot decode: not UTF-8 once percent-decoded, an
/// overlong encoding, a stray `%`, a lone continuation byte.
const HOSTILE_SEGMENTS: [&str; 5] = ["%ff", "%C0%AF", "a%", "%80x", "%E2%82"];

/// Every route template of the native API (from the OpenAPI document), with
/// each parameter replaced by `seg`.
async fn native_paths(app: &TestApp, seg: &str) -> Vec<String> {
    let (st, doc) = app.request("GET", "/openapi.json", None, None).await;
    assert_eq!(st, 200);
    let mut out = vec![];
    for template in doc["paths"].as_object().unwrap().keys() {
        let mut p = String::new();
        for part in template.split('/').skip(1) {
            p.push('/');
            p.push_str(if part.starts_with('{') { seg } else { part });
        }
        out.push(p);
    }
    out
}

#[tokio::test]
async fn path_rejections_are_problem_json() {
    let app = spawn_app().await;
    let mut checked = 0;
    for seg in HOSTILE_SEGMENTS {
        for path in native_paths(&app, seg).await {
            if !path.contains(seg) {
                continue;
            }
            for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
                for bearer in [None, Some(app.admin_key.as_str())] {
                    let r = raw(
                        &app,
                        method,
                        &path,
                        Some("application/json"),
                        b"{}".to_vec(),
                        bearer,
                    )
                    .await;
                    let what = format!("{method} {path} (admin key: {})", bearer.is_some());
                    assert!(
                        r.status >= 400 && r.status < 500,
                        "{what}: {} {:?}",
                        r.status,
                        r.body
                    );
                    assert_eq!(
                        r.content_type, "application/problem+json",
                        "{what}: {:?}",
                        r.body
                    );
                    assert!(r.body["code"].is_string(), "{what}: {:?}", r.body);
                    assert_eq!(r.body["status"], r.status, "{what}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 500, "only {checked} requests checked");
    // The framework's refusal of a path parameter has a stable code.
    let r = raw(
        &app,
        "POST",
        "/v1/pools/%ff/signup",
        Some("application/json"),
        b"{}".to_vec(),
        None,
    )
    .await;
    assert_problem(&r, 400, "InvalidParameter", "pool id not UTF-8");
    let r = raw(
        &app,
        "GET",
        "/v1/admin/pools/%C0%AF",
        None,
        vec![],
        Some(&app.admin_key),
    )
    .await;
    assert_problem(&r, 400, "InvalidParameter", "admin pool id not UTF-8");
    let r = raw(
        &app,
        "GET",
        "/%ff/.well-known/jwks.json",
        None,
        vec![],
        None,
    )
    .await;
    assert_problem(&r, 400, "InvalidParameter", "jwks pool id not UTF-8");
}

#[tokio::test]
async fn unknown_and_unsupported_methods_are_answered_in_each_doors_form() {
    let app = spawn_app().await;
    for method in ["FOO", "M-SEARCH", "PROPFIND", "PUT"] {
        // Native API: problem+json, with the methods the route takes.
        let r = raw(&app, method, &app.pool_path("signup"), None, vec![], None).await;
        assert_problem(&r, 405, "MethodNotAllowed", &format!("{method} on signup"));
        let r = raw(&app, method, "/health/live", None, vec![], None).await;
        assert_problem(
            &r,
            405,
            "MethodNotAllowed",
            &format!("{method} on /health/live"),
        );
        // The Cognito protocol: its JSON error.
        let r = raw(&app, method, "/", None, vec![], None).await;
        assert_eq!(r.status, 405, "{method} /");
        assert_eq!(r.content_type, "application/x-amz-json-1.1", "{method} /");
        assert_eq!(r.body["__type"], "InvalidParameterException", "{method} /");
        // OAuth: RFC 6749's error object.
        let r = raw(
            &app,
            method,
            &format!("/{}/oauth2/token", app.pool_id),
            None,
            vec![],
            None,
        )
        .await;
        assert_eq!(r.status, 405, "{method} token");
        assert_eq!(r.content_type, "application/json", "{method} token");
        assert_eq!(r.body["error"], "invalid_request", "{method} token");
        // Hosted pages: an error page.
        let r = raw(
            &app,
            method,
            &format!("/{}/login", app.pool_id),
            None,
            vec![],
            None,
        )
        .await;
        assert_eq!(r.status, 405, "{method} login");
        assert!(
            r.content_type.starts_with("text/html"),
            "{method} login: {}",
            r.content_type
        );
        assert!(
            r.body.as_str().unwrap().contains("Sign-in problem"),
            "{method} login"
        );
    }
    // The Allow header survives the re-rendering.
    let resp = app
        .http
        .get(format!("{}{}", app.base, app.pool_path("signup")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["allow"], "POST");
}

#[tokio::test]
async fn oversized_bodies_are_refused_in_each_doors_form() {
    let app = spawn_app().await;
    let huge = vec![b'x'; 200_000];
    let r = raw(
        &app,
        "POST",
        "/",
        Some("application/x-amz-json-1.1"),
        huge.clone(),
        None,
    )
    .await;
    assert_eq!(r.status, 413, "{:?}", r.body);
    assert_eq!(r.content_type, "application/x-amz-json-1.1");
    assert_eq!(r.body["__type"], "InvalidParameterException");
    let token = format!("/{}/oauth2/token", app.pool_id);
    let form = Some("application/x-www-form-urlencoded");
    let r = raw(&app, "POST", &token, form, huge.clone(), None).await;
    assert_eq!(r.status, 413, "{:?}", r.body);
    assert_eq!(r.content_type, "application/json");
    assert_eq!(r.body["error"], "invalid_request");
    let r = raw(
        &app,
        "POST",
        &format!("/{}/login", app.pool_id),
        form,
        huge,
        None,
    )
    .await;
    assert_eq!(r.status, 413);
    assert!(
        r.content_type.starts_with("text/html"),
        "{}",
        r.content_type
    );
    // Hosted and OAuth paths with a pool id that is not UTF-8 are refused too,
    // never in text/plain.
    for path in ["/%ff/oauth2/token", "/%ff/login", "/%ff/oauth2/authorize"] {
        let r = raw(&app, "POST", path, form, b"a=b".to_vec(), None).await;
        assert!(r.status >= 400 && r.status < 500, "{path}: {}", r.status);
        assert!(
            !r.content_type.starts_with("text/plain"),
            "{path}: {:?}",
            r.body
        );
    }
}

//! The OAuth 2.0 token and revocation endpoints (RFC 6749, RFC 7009):
//! the client-credentials grant with resource-server scopes, the refresh
//! grant, and RFC 6749 errors. Named after the checklist's A4, A5 and A8.

use crate::helpers::*;
use serde_json::{Value, json};

const API: &str = "https://api.example.com";

struct Answer {
    status: u16,
    body: Value,
    headers: reqwest::header::HeaderMap,
}

async fn form_post(
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> Answer {
    let mut r = app
        .http
        .post(format!("{}{}", app.base, path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).unwrap());
    if let Some((id, secret)) = basic {
        r = r.basic_auth(id, Some(secret));
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        headers,
    }
}

fn token_path(app: &TestApp) -> String {
    format!("/{}/oauth2/token", app.pool_id)
}

/// A resource server with `read` and `write`, and a confidential client
/// allowed the client-credentials grant: (client id, secret).
async fn machine_client(app: &TestApp) -> (String, String) {
    let (st, b) = app
        .admin(
            "POST",
            &format!("/v1/admin/pools/{}/resource-servers", app.pool_id),
            Some(json!({"identifier": API, "name": "API", "scopes": [
                {"name": "read", "description": "Read"}, {"name": "write", "description": "Write"}]})),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    let (st, c) = app
        .admin(
            "POST",
            &format!("/v1/admin/pools/{}/clients", app.pool_id),
            Some(json!({"name": "backend", "generate_secret": true,
                "allowed_oauth_flows": ["client_credentials"],
                "allowed_oauth_scopes": [format!("{API}/read"), format!("{API}/write"), "openid"]})),
        )
        .await;
    assert_eq!(st, 201, "{c}");
    (
        c["client_id"].as_str().unwrap().to_owned(),
        c["client_secret"].as_str().unwrap().to_owned(),
    )
}

fn oauth_error(a: &Answer) -> (u16, &str) {
    (a.status, a.body["error"].as_str().unwrap_or("<none>"))
}

#[tokio::test]
async fn a4_a5_a8_client_credentials_grant_the_allowed_custom_scopes() {
    let app = spawn_app().await;
    let (id, secret) = machine_client(&app).await;
    let path = token_path(&app);
    let cc = [("grant_type", "client_credentials")];

    // client_secret_basic, no scope asked: every allowed custom scope.
    let a = form_post(&app, &path, &cc, Some((&id, &secret))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.headers["cache-control"], "no-store");
    assert_eq!(a.body["token_type"], "Bearer");
    assert_eq!(a.body["expires_in"], 3600);
    assert!(a.body.get("refresh_token").is_none() && a.body.get("id_token").is_none());
    let claims = verify_with_jwks(
        a.body["access_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.issuer(),
    );
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["client_id"], id.as_str());
    assert_eq!(claims["token_use"], "access");
    assert_eq!(claims["scope"], format!("{API}/read {API}/write"));
    // Such a token is no user's: the user endpoints refuse it.
    let (st, _) = app
        .request("GET", "/v1/me", None, a.body["access_token"].as_str())
        .await;
    assert_eq!(st, 401);

    // client_secret_post, one scope asked.
    let read = format!("{API}/read");
    let a = form_post(
        &app,
        &path,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("scope", &read),
        ],
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let claims = verify_with_jwks(
        a.body["access_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.issuer(),
    );
    assert_eq!(claims["scope"], read);

    // A4: scopes outside the client's grant, or not custom, are refused.
    for scope in ["openid", "https://api.example.com/admin", "other/read"] {
        let a = form_post(
            &app,
            &path,
            &[("grant_type", "client_credentials"), ("scope", scope)],
            Some((&id, &secret)),
        )
        .await;
        assert_eq!(
            oauth_error(&a),
            (400, "invalid_scope"),
            "{scope}: {}",
            a.body
        );
    }

    // A5: a wrong secret is invalid_client, with the Basic challenge when
    // Basic was used; a public client cannot use the grant.
    let a = form_post(&app, &path, &cc, Some((&id, "wrong-secret"))).await;
    assert_eq!(oauth_error(&a), (401, "invalid_client"), "{}", a.body);
    assert!(
        a.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let a = form_post(
        &app,
        &path,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", "x"),
        ],
        None,
    )
    .await;
    assert_eq!(oauth_error(&a), (401, "invalid_client"), "{}", a.body);
    assert!(a.headers.get("www-authenticate").is_none());
    let a = form_post(
        &app,
        &path,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &app.client_id),
        ],
        None,
    )
    .await;
    assert_eq!(oauth_error(&a), (400, "unauthorized_client"), "{}", a.body);
    let a = form_post(&app, &path, &[("grant_type", "client_credentials")], None).await;
    assert_eq!(oauth_error(&a), (401, "invalid_client"), "{}", a.body);

    // A8: the request's own mistakes.
    let both = form_post(
        &app,
        &path,
        &[
            ("grant_type", "client_credentials"),
            ("client_secret", &secret),
        ],
        Some((&id, &secret)),
    )
    .await;
    assert_eq!(oauth_error(&both), (400, "invalid_request"), "two methods");
    for (form, want) in [
        (vec![("grant_type", "password")], "unsupported_grant_type"),
        (vec![("grant_type", "implicit")], "unsupported_grant_type"),
        (
            vec![("grant_type", "authorization_code"), ("code", "x")],
            "invalid_grant",
        ),
        (
            vec![("grant_type", "authorization_code")],
            "invalid_request",
        ),
        (vec![("scope", "x")], "invalid_request"),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("grant_type", "client_credentials"),
            ],
            "invalid_request",
        ),
    ] {
        let a = form_post(&app, &path, &form, Some((&id, &secret))).await;
        assert_eq!(oauth_error(&a), (400, want), "{form:?}: {}", a.body);
        assert_eq!(a.headers["cache-control"], "no-store");
    }
    let resp = app
        .http
        .post(format!("{}{path}", app.base))
        .basic_auth(&id, Some(&secret))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400, "JSON is not a form");

    // A scope whose resource server is gone is no longer granted.
    let (st, _) = app
        .admin(
            "DELETE",
            &format!(
                "/v1/admin/pools/{}/resource-servers/https%3A%2F%2Fapi.example.com",
                app.pool_id
            ),
            None,
        )
        .await;
    assert_eq!(st, 204);
    let a = form_post(&app, &path, &cc, Some((&id, &secret))).await;
    assert_eq!(oauth_error(&a), (400, "invalid_scope"), "{}", a.body);
}

#[tokio::test]
async fn a4_the_client_credentials_grant_is_for_confidential_clients_only() {
    let app = spawn_app().await;
    let clients = format!("/v1/admin/pools/{}/clients", app.pool_id);
    let (st, b) = app
        .admin(
            "POST",
            &clients,
            Some(json!({"name": "spa", "allowed_oauth_flows": ["client_credentials"]})),
        )
        .await;
    assert_eq!(
        (st, b["code"].as_str()),
        (400, Some("InvalidParameter")),
        "{b}"
    );
    for flows in [json!(["implicit"]), json!(["password"]), json!(["code"])] {
        let (st, b) = app
            .admin(
                "POST",
                &clients,
                Some(json!({"name": "x", "generate_secret": true, "allowed_oauth_flows": flows})),
            )
            .await;
        assert_eq!(st, 400, "{flows}: {b}");
    }
    let (st, b) = app
        .admin(
            "POST",
            &clients,
            Some(json!({"name": "x", "generate_secret": true, "allowed_oauth_scopes": ["bad scope"]})),
        )
        .await;
    assert_eq!(st, 400, "{b}");
}

#[tokio::test]
async fn a8_refresh_grant_and_revocation_on_the_oauth_endpoints() {
    let app = spawn_app().await;
    let tokens = app.confirmed_user("oa@example.com").await;
    let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
    let path = token_path(&app);
    let a = form_post(
        &app,
        &path,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &app.client_id),
            ("refresh_token", &rt),
        ],
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body["id_token"].is_string() && a.body["access_token"].is_string());
    assert_eq!(a.headers["cache-control"], "no-store");

    let a = form_post(
        &app,
        &path,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &app.client_id),
        ],
        None,
    )
    .await;
    assert_eq!(oauth_error(&a), (400, "invalid_request"), "{}", a.body);
    let a = form_post(
        &app,
        &path,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &app.client_id),
            ("refresh_token", "not-a-token"),
        ],
        None,
    )
    .await;
    assert_eq!(oauth_error(&a), (400, "invalid_grant"), "{}", a.body);

    // Another client cannot use or revoke it.
    let (id, secret) = machine_client(&app).await;
    let a = form_post(
        &app,
        &path,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        Some((&id, &secret)),
    )
    .await;
    assert_eq!(oauth_error(&a), (400, "invalid_grant"), "{}", a.body);
    let revoke = format!("/{}/oauth2/revoke", app.pool_id);
    let a = form_post(&app, &revoke, &[("token", &rt)], Some((&id, &secret))).await;
    assert_eq!(oauth_error(&a), (400, "invalid_grant"), "{}", a.body);

    // RFC 7009: revoked by its client, then refused; unknown tokens are fine.
    let a = form_post(
        &app,
        &revoke,
        &[("token", &rt), ("client_id", &app.client_id)],
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = form_post(
        &app,
        &path,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &app.client_id),
            ("refresh_token", &rt),
        ],
        None,
    )
    .await;
    assert_eq!(oauth_error(&a), (400, "invalid_grant"), "{}", a.body);
    let a = form_post(
        &app,
        &revoke,
        &[("token", "unknown"), ("client_id", &app.client_id)],
        None,
    )
    .await;
    assert_eq!(a.status, 200);
    let a = form_post(
        &app,
        &revoke,
        &[
            ("token", &rt),
            ("token_type_hint", "access_token"),
            ("client_id", &app.client_id),
        ],
        None,
    )
    .await;
    assert_eq!(oauth_error(&a), (400, "unsupported_token_type"));
}

#[tokio::test]
async fn discovery_names_the_token_and_revocation_endpoints() {
    let app = spawn_app().await;
    let (st, d) = app
        .request(
            "GET",
            &format!("/{}/.well-known/openid-configuration", app.pool_id),
            None,
            None,
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(d["issuer"], app.issuer());
    assert_eq!(
        d["token_endpoint"],
        format!("{}/oauth2/token", app.issuer())
    );
    assert_eq!(
        d["revocation_endpoint"],
        format!("{}/oauth2/revoke", app.issuer())
    );
    assert_eq!(
        d["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
}

//! Client authentication is one service function for every door: the
//! Cognito protocol's `SECRET_HASH`, the native API's `client_secret` and
//! the OAuth token endpoint's client credentials. Each door refuses a wrong
//! proof, a proof made for another user or with another client's secret,
//! and a missing one; a public client needs none.

use crate::cognito::cognito;
use crate::helpers::*;
use base64::Engine;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

/// Base64(HMAC-SHA256(secret, username ‖ client id)), computed here
/// independently of the server.
fn hash(secret: &str, username: &str, client_id: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(username.as_bytes());
    mac.update(client_id.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A confidential client of the test pool, allowed client credentials:
/// (id, secret).
async fn confidential(app: &TestApp, name: &str) -> (String, String) {
    let (st, c) = app
        .admin(
            "POST",
            &format!("/v1/admin/pools/{}/clients", app.pool_id),
            Some(json!({"name": name, "generate_secret": true,
                "allowed_oauth_flows": ["client_credentials"], "allowed_oauth_scopes": ["openid"]})),
        )
        .await;
    assert_eq!(st, 201, "{c}");
    (
        c["client_id"].as_str().unwrap().to_owned(),
        c["client_secret"].as_str().unwrap().to_owned(),
    )
}

async fn password_auth(
    app: &TestApp,
    client: &str,
    user: &str,
    hash: Option<&str>,
) -> (u16, Value) {
    let mut params = json!({"USERNAME": user, "PASSWORD": PASSWORD});
    if let Some(h) = hash {
        params["SECRET_HASH"] = h.into();
    }
    cognito(
        app,
        "InitiateAuth",
        json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client, "AuthParameters": params}),
    )
    .await
}

fn refused(r: &(u16, Value), client: &str) {
    assert_eq!(r.0, 400, "{}", r.1);
    assert_eq!(r.1["__type"], "NotAuthorizedException", "{}", r.1);
    assert_eq!(
        r.1["message"],
        format!("Unable to verify secret hash for client {client}")
    );
}

#[tokio::test]
async fn the_cognito_door_checks_the_secret_hash_in_the_service() {
    let app = spawn_app().await;
    let (id, secret) = confidential(&app, "backend").await;
    let (_, other_secret) = confidential(&app, "other").await;
    app.confirmed_user("ann@example.com").await;
    app.confirmed_user("bob@example.com").await;
    let user = "ann@example.com";

    let ok = password_auth(&app, &id, user, Some(&hash(&secret, user, &id))).await;
    assert_eq!(ok.0, 200, "{}", ok.1);
    assert!(ok.1["AuthenticationResult"]["AccessToken"].is_string());

    // A wrong hash, one made for another user, one made with another
    // client's secret, none at all.
    let wrong = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    refused(&password_auth(&app, &id, user, Some(&wrong)).await, &id);
    let bobs = hash(&secret, "bob@example.com", &id);
    refused(&password_auth(&app, &id, user, Some(&bobs)).await, &id);
    let others = hash(&other_secret, user, &id);
    refused(&password_auth(&app, &id, user, Some(&others)).await, &id);
    refused(&password_auth(&app, &id, user, None).await, &id);
    // The secret itself is not a hash.
    refused(&password_auth(&app, &id, user, Some(&secret)).await, &id);

    // The code operations use the same check.
    let r = cognito(
        &app,
        "SignUp",
        json!({"ClientId": id, "Username": "cat@example.com", "Password": PASSWORD,
            "SecretHash": hash(&secret, "dan@example.com", &id)}),
    )
    .await;
    refused(&r, &id);
    let r = cognito(
        &app,
        "ForgotPassword",
        json!({"ClientId": id, "Username": user}),
    )
    .await;
    refused(&r, &id);

    // A public client needs no hash, and one given changes nothing.
    let public = app.client_id.clone();
    let r = password_auth(&app, &public, user, None).await;
    assert_eq!(r.0, 200, "{}", r.1);
    let r = password_auth(&app, &public, user, Some(&hash(&secret, user, &public))).await;
    assert_eq!(r.0, 200, "{}", r.1);

    // An unknown client is Cognito's ResourceNotFoundException.
    let r = password_auth(&app, "nosuchclient0000000000000", user, None).await;
    assert_eq!(r.1["__type"], "ResourceNotFoundException", "{}", r.1);
    assert_eq!(r.1["message"], "User pool client does not exist.");
}

#[tokio::test]
async fn the_native_door_checks_the_client_secret_with_the_same_function() {
    let app = spawn_app().await;
    let (id, secret) = confidential(&app, "backend").await;
    let (_, other_secret) = confidential(&app, "other").await;
    app.confirmed_user("ann@example.com").await;
    let sign_in = |client: String, secret: Option<String>| {
        let app = &app;
        async move {
            let mut body =
                json!({"client_id": client, "username": "ann@example.com", "password": PASSWORD});
            if let Some(s) = secret {
                body["client_secret"] = s.into();
            }
            app.post(&app.pool_path("signin"), body).await
        }
    };
    let (st, b) = sign_in(id.clone(), Some(secret.clone())).await;
    assert_eq!(st, 200, "{b}");
    for (given, message) in [
        (None, "Client secret is required for this client"),
        (Some(other_secret.clone()), "Client secret is invalid"),
        (Some(format!("{secret}x")), "Client secret is invalid"),
        (
            Some(hash(&secret, "ann@example.com", &id)),
            "Client secret is invalid",
        ),
    ] {
        let (st, b) = sign_in(id.clone(), given).await;
        assert_eq!(
            (st, b["code"].as_str()),
            (401, Some("NotAuthorized")),
            "{b}"
        );
        assert_eq!(
            b["detail"].as_str().or(b["message"].as_str()),
            Some(message),
            "{b}"
        );
    }
    // A public client with a secret given: accepted, as before.
    let (st, b) = sign_in(app.client_id.clone(), Some(other_secret)).await;
    assert_eq!(st, 200, "{b}");
}

#[tokio::test]
async fn the_oauth_token_endpoint_checks_the_client_secret_with_the_same_function() {
    let app = spawn_app().await;
    let (id, secret) = confidential(&app, "backend").await;
    let (_, other_secret) = confidential(&app, "other").await;
    let token = |secret: Option<String>| {
        let app = &app;
        let id = id.clone();
        async move {
            let mut form = vec![
                ("grant_type", "client_credentials".to_owned()),
                ("client_id", id),
            ];
            if let Some(s) = secret {
                form.push(("client_secret", s));
            }
            let resp = app
                .http
                .post(format!("{}/{}/oauth2/token", app.base, app.pool_id))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(serde_urlencoded::to_string(&form).unwrap())
                .send()
                .await
                .unwrap();
            let st = resp.status().as_u16();
            (st, resp.json::<Value>().await.unwrap())
        }
    };
    // The right secret passes client authentication (this client has no
    // custom scope to grant, which is the next check).
    let (st, b) = token(Some(secret.clone())).await;
    assert_eq!(
        (st, b["error"].as_str()),
        (400, Some("invalid_scope")),
        "{b}"
    );
    for given in [
        None,
        Some(other_secret),
        Some(format!("{secret}x")),
        Some(hash(&secret, "ann@example.com", &id)),
    ] {
        let (st, b) = token(given).await;
        assert_eq!(
            (st, b["error"].as_str()),
            (401, Some("invalid_client")),
            "{b}"
        );
    }
}

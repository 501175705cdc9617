use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn pools_can_be_created_read_listed_updated_and_deleted() {
    let app = spawn_app().await;
    let (st, p) = app
        .admin(
            "POST",
            "/v1/admin/pools",
            Some(json!({"name": "shop", "alias_attributes": ["email"], "password_policy": {"min_length": 16},
                        "custom_attributes": [{"name": "plan", "attribute_type": "String", "max_length": 10}],
                        "token_validity": {"access_token_secs": 900, "id_token_secs": 900, "refresh_token_secs": 86400}})),
        )
        .await;
    assert_eq!(st, 201, "{p}");
    let id = p["id"].as_str().unwrap();
    let (region, suffix) = id.split_once('_').unwrap();
    assert_eq!((region, suffix.len()), ("local-east-1", 9));
    assert_eq!(p["prevent_user_existence_errors"], true, "on by default");
    assert_eq!(p["issuer"], format!("{ISSUER_BASE}/{id}"));

    let (st, got) = app
        .admin("GET", &format!("/v1/admin/pools/{id}"), None)
        .await;
    assert_eq!(
        (st, &got["password_policy"]["min_length"]),
        (200, &json!(16))
    );

    let (st, upd) = app
        .admin(
            "PATCH",
            &format!("/v1/admin/pools/{id}"),
            Some(json!({"name": "shop2", "password_policy": {"min_length": 20}})),
        )
        .await;
    assert_eq!(st, 200, "{upd}");
    assert_eq!(upd["name"], "shop2");
    assert_eq!(upd["password_policy"]["min_length"], 20);
    assert_eq!(
        upd["password_policy"]["block_common_passwords"], true,
        "merge patch keeps the rest"
    );
    let (st, _) = app
        .admin(
            "PATCH",
            &format!("/v1/admin/pools/{id}"),
            Some(json!({"username_attributes": ["email"]})),
        )
        .await;
    assert_eq!(st, 400, "username attributes are fixed at creation");

    let (st, list) = app.admin("GET", "/v1/admin/pools?limit=1", None).await;
    assert_eq!(st, 200);
    assert_eq!(list["pools"].as_array().unwrap().len(), 1);
    let next = list["next"].as_str().unwrap();
    let (_, page2) = app
        .admin(
            "GET",
            &format!("/v1/admin/pools?limit=1&after={next}"),
            None,
        )
        .await;
    assert_ne!(page2["pools"][0]["id"], list["pools"][0]["id"]);

    let (st, _) = app
        .admin("DELETE", &format!("/v1/admin/pools/{id}"), None)
        .await;
    assert_eq!(st, 204);
    let (st, b) = app
        .admin("GET", &format!("/v1/admin/pools/{id}"), None)
        .await;
    assert_eq!((st, b["code"].as_str()), (404, Some("ResourceNotFound")));
    let (st, _) = app
        .request("GET", &format!("/{id}/.well-known/jwks.json"), None, None)
        .await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn clients_can_be_created_read_listed_updated_and_deleted() {
    let app = spawn_app().await;
    let base = format!("/v1/admin/pools/{}/clients", app.pool_id);
    let (st, c) = app
        .admin(
            "POST",
            &base,
            Some(json!({"name": "spa", "explicit_auth_flows": ["ALLOW_USER_PASSWORD_AUTH"],
                        "allowed_origins": ["https://app.example.com"], "read_attributes": ["email"],
                        "token_validity": {"access_token_secs": 600, "id_token_secs": 600, "refresh_token_secs": 7200}})),
        )
        .await;
    assert_eq!(st, 201, "{c}");
    let id = c["client_id"].as_str().unwrap();
    assert_eq!(id.len(), 26);
    assert!(c["client_secret"].is_null());
    let (_, list) = app.admin("GET", &base, None).await;
    assert_eq!(list["clients"].as_array().unwrap().len(), 2);
    let (st, upd) = app
        .admin(
            "PATCH",
            &format!("{base}/{id}"),
            Some(json!({"name": "spa2", "refresh_token_rotation": true})),
        )
        .await;
    assert_eq!(st, 200, "{upd}");
    assert_eq!(
        (
            upd["name"].as_str(),
            upd["refresh_token_rotation"].as_bool()
        ),
        (Some("spa2"), Some(true))
    );
    assert_eq!(upd["allowed_origins"][0], "https://app.example.com");
    let (st, _) = app.admin("DELETE", &format!("{base}/{id}"), None).await;
    assert_eq!(st, 204);
    let (st, _) = app.admin("GET", &format!("{base}/{id}"), None).await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn client_settings_shape_sign_in() {
    let app = spawn_app().await;
    let base = format!("/v1/admin/pools/{}/clients", app.pool_id);
    let (_, c) = app
        .admin("POST", &base, Some(json!({"name": "short", "read_attributes": ["email"],
            "token_validity": {"access_token_secs": 600, "id_token_secs": 900, "refresh_token_secs": 7200}})))
        .await;
    let cid = c["client_id"].as_str().unwrap();
    app.confirmed_user("alice@example.com").await;
    let (st, t) = app
        .post(
            &app.pool_path("signin"),
            json!({"client_id": cid, "username": "alice@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(t["tokens"]["expires_in"], 600);
    let id = verify_with_jwks(
        t["tokens"]["id_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.issuer(),
    );
    assert_eq!(
        id["exp"].as_i64().unwrap() - id["iat"].as_i64().unwrap(),
        900
    );
    assert!(
        id.get("email_verified").is_none(),
        "only readable attributes: {id}"
    );

    // A client without the password flow cannot use it.
    let (_, c2) = app
        .admin(
            "POST",
            &base,
            Some(json!({"name": "srp-only", "explicit_auth_flows": ["ALLOW_USER_SRP_AUTH"]})),
        )
        .await;
    let (st, b) = app
        .post(&app.pool_path("signin"), json!({"client_id": c2["client_id"], "username": "alice@example.com", "password": PASSWORD}))
        .await;
    assert_eq!((st, b["code"].as_str()), (400, Some("InvalidParameter")));
}

#[tokio::test]
async fn cors_follows_the_clients_allowed_origins() {
    let app = spawn_app().await;
    app.admin(
        "PATCH",
        &format!("/v1/admin/pools/{}/clients/{}", app.pool_id, app.client_id),
        Some(json!({"allowed_origins": ["https://app.example.com"]})),
    )
    .await;
    let preflight = |origin: &'static str| {
        app.http
            .request(
                reqwest::Method::OPTIONS,
                format!("{}{}", app.base, app.pool_path("signin")),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let ok = preflight("https://app.example.com").await.unwrap();
    assert_eq!(ok.status(), 204);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let bad = preflight("https://evil.example.com").await.unwrap();
    assert_eq!(bad.status(), 403);
    assert!(bad.headers().get("access-control-allow-origin").is_none());
    let (st, _) = app.sign_in("x@example.com", PASSWORD).await;
    assert_eq!(st, 401);
    let resp = app
        .http
        .post(format!("{}{}", app.base, app.pool_path("signin")))
        .header("origin", "https://app.example.com")
        .json(
            &json!({"client_id": app.client_id, "username": "x@example.com", "password": PASSWORD}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
}

/// A refused origin gets no CORS header on any answer; a client change is honoured on the
/// next request (this node forgets its cached origins), on the pool's paths and on
/// `/v1/me`; a plain `OPTIONS` is the router's, not a preflight.
#[tokio::test]
async fn cors_refusals_carry_no_headers_and_client_changes_apply_at_once() {
    let app = spawn_app().await;
    let cors_headers = |r: &reqwest::Response| {
        r.headers()
            .keys()
            .filter(|k| k.as_str().starts_with("access-control-") || *k == "vary")
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
    };
    let preflight = |path: String, origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, format!("{}{}", app.base, path))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let get = |path: String, origin: &'static str| {
        app.http
            .get(format!("{}{}", app.base, path))
            .header("origin", origin)
            .send()
    };
    // A GET on the sign-in path: 405, an answer like any other.
    let signin_path = app.pool_path("signin");
    let origin = "https://late.example.com";
    // Asked once (and cached) before the client allows it.
    let r = get(signin_path.clone(), origin).await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(cors_headers(&r), Vec::<String>::new());
    let r = preflight("/v1/me".into(), origin).await.unwrap();
    assert_eq!((r.status().as_u16(), cors_headers(&r)), (403, vec![]));
    let (st, _) = app
        .admin(
            "PATCH",
            &format!("/v1/admin/pools/{}/clients/{}", app.pool_id, app.client_id),
            Some(json!({"allowed_origins": [origin]})),
        )
        .await;
    assert_eq!(st, 200);
    let r = get(signin_path.clone(), origin).await.unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], origin);
    assert_eq!(r.headers()["vary"], "Origin");
    assert_eq!(
        r.headers()["access-control-expose-headers"],
        "x-request-id, retry-after"
    );
    assert!(
        r.headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    let r = preflight("/v1/me".into(), origin).await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], origin);
    assert_eq!(r.headers()["access-control-max-age"], "600");
    // Other origins, and paths outside the pools and /v1/me, stay refused.
    let r = get(signin_path.clone(), "https://evil.example.com")
        .await
        .unwrap();
    assert_eq!(cors_headers(&r), Vec::<String>::new());
    let r = preflight("/v1/admin/pools".into(), origin).await.unwrap();
    assert_eq!((r.status().as_u16(), cors_headers(&r)), (403, vec![]));
    // A plain OPTIONS (no Access-Control-Request-Method) is not a preflight.
    let r = app
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}{}", app.base, signin_path),
        )
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    // Deleting the client withdraws the origin at once.
    let (st, _) = app
        .admin(
            "DELETE",
            &format!("/v1/admin/pools/{}/clients/{}", app.pool_id, app.client_id),
            None,
        )
        .await;
    assert_eq!(st, 204);
    let r = get(signin_path, origin).await.unwrap();
    assert_eq!(cors_headers(&r), Vec::<String>::new());
}

#[tokio::test]
async fn pools_declared_in_config_are_applied_idempotently() {
    let app = spawn_app().await;
    let declared: Vec<poolgate::config::DeclaredPool> = serde_json::from_value(json!([{
        "id": "local-east-1_Declared1",
        "name": "declared",
        "settings": {"username_attributes": ["email"]},
        "clients": [{"id": "declaredclient000000000001", "name": "app", "secret": "s3cr3t-s3cr3t-s3cr3t"}]
    }]))
    .unwrap();
    for _ in 0..2 {
        app.state.pools.apply_declared(&declared).await.unwrap();
    }
    let (st, p) = app
        .admin("GET", "/v1/admin/pools/local-east-1_Declared1", None)
        .await;
    assert_eq!(st, 200, "{p}");
    let (_, c) = app
        .admin(
            "GET",
            "/v1/admin/pools/local-east-1_Declared1/clients/declaredclient000000000001",
            None,
        )
        .await;
    assert_eq!(c["client_secret"], "s3cr3t-s3cr3t-s3cr3t");
    assert_eq!(
        app.jwks_of("local-east-1_Declared1").await["keys"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Changing the declaration updates the pool.
    let mut changed = declared.clone();
    changed[0].name = "renamed".into();
    app.state.pools.apply_declared(&changed).await.unwrap();
    let (_, p) = app
        .admin("GET", "/v1/admin/pools/local-east-1_Declared1", None)
        .await;
    assert_eq!(p["name"], "renamed");
}

impl TestApp {
    async fn jwks_of(&self, pool: &str) -> serde_json::Value {
        self.request("GET", &format!("/{pool}/.well-known/jwks.json"), None, None)
            .await
            .1
    }
}

#[tokio::test]
async fn a9_admin_bearer_keys_are_compared_exactly_without_trimming() {
    let app = spawn_app().await;
    let status = |authorization: String| {
        let req = app
            .http
            .get(format!("{}/v1/admin/pools", app.base))
            .header("authorization", authorization);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let key = &app.admin_key;
    assert_eq!(status(format!("Bearer {key}")).await, 200);
    assert_eq!(
        status(format!("bearer {key}")).await,
        200,
        "the scheme is case-insensitive"
    );
    for padded in [
        format!("Bearer  {key}"),
        format!("Bearer \t{key}"),
        format!("Bearer {key}\tx"),
        format!("Bearer {}", &key[..key.len() - 1]),
    ] {
        assert_eq!(status(padded.clone()).await, 401, "{padded:?}");
    }
}

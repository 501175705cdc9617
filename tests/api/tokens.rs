//! JWT validation: the checklist's J1–J5.

use crate::helpers::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap()
}

fn header_of(token: &str) -> Value {
    serde_json::from_slice(&B64.decode(token.split('.').next().unwrap()).unwrap()).unwrap()
}

fn compose(header: &Value, claims: &Value, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        B64.encode(serde_json::to_vec(header).unwrap()),
        B64.encode(serde_json::to_vec(claims).unwrap()),
        B64.encode(sig)
    )
}

async fn me_status(app: &TestApp, token: &str) -> u16 {
    app.request("GET", "/v1/me", None, Some(token)).await.0
}

/// Signs arbitrary claims with the pool's real signing key.
async fn sign_as_pool(app: &TestApp, claims: &Value) -> String {
    let key = app
        .state
        .pools
        .keys
        .signing_key(&app.pool_id)
        .await
        .unwrap();
    key.sign(claims).unwrap()
}

#[tokio::test]
async fn j1_alg_none_is_rejected() {
    let app = spawn_app().await;
    let tokens = app.confirmed_user("alice@example.com").await;
    let at = tokens["access_token"].as_str().unwrap();
    let mut h = header_of(at);
    h["alg"] = "none".into();
    assert_eq!(
        me_status(&app, &compose(&h, &claims_of(at), b"")).await,
        401
    );
    let unsigned = format!(
        "{}.{}.",
        at.split('.').next().unwrap(),
        at.split('.').nth(1).unwrap()
    );
    assert_eq!(me_status(&app, &unsigned).await, 401);
}

#[tokio::test]
async fn j1_hs256_macd_with_the_public_key_is_rejected() {
    let app = spawn_app().await;
    let tokens = app.confirmed_user("bob@example.com").await;
    let at = tokens["access_token"].as_str().unwrap();
    let jwks = app.jwks().await;
    let jwk = &jwks["keys"][0];
    let n = B64.decode(jwk["n"].as_str().unwrap()).unwrap();
    // The classic confusion: the verifier's public key bytes used as an HMAC
    // secret. Try the JWK text and the raw modulus.
    for secret in [jwk.to_string().into_bytes(), n] {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = jwk["kid"].as_str().map(String::from);
        let forged = jsonwebtoken::encode(
            &header,
            &claims_of(at),
            &jsonwebtoken::EncodingKey::from_secret(&secret).unwrap(),
        )
        .unwrap();
        assert_eq!(me_status(&app, &forged).await, 401);
    }
}

#[tokio::test]
async fn j2_unknown_or_hostile_kids_and_foreign_keys_fail() {
    let app = spawn_app().await;
    let tokens = app.confirmed_user("carol@example.com").await;
    let at = tokens["access_token"].as_str().unwrap();
    let parts: Vec<&str> = at.split('.').collect();
    let sig = B64.decode(parts[2]).unwrap();
    for kid in [
        "unknown-kid",
        "../../etc/passwd",
        "' OR '1'='1",
        "x".repeat(5000).as_str(),
    ] {
        let mut h = header_of(at);
        h["kid"] = kid.into();
        assert_eq!(
            me_status(&app, &compose(&h, &claims_of(at), &sig)).await,
            401,
            "kid {kid}"
        );
    }
    // A token signed by another pool's key, pointing at it with jku/jwk
    // headers, is refused: keys come only from this pool's store.
    let (_, other) = app
        .admin("POST", "/v1/admin/pools", Some(json!({"name": "other"})))
        .await;
    let other_key = app
        .state
        .pools
        .keys
        .signing_key(other["id"].as_str().unwrap())
        .await
        .unwrap();
    let forged = other_key.sign(&claims_of(at)).unwrap();
    assert_eq!(me_status(&app, &forged).await, 401);
    let mut h = header_of(&forged);
    h["jku"] = "http://attacker.example/jwks.json".into();
    h["jwk"] = other_key.jwk.clone();
    let fsig = B64.decode(forged.split('.').nth(2).unwrap()).unwrap();
    assert_eq!(
        me_status(&app, &compose(&h, &claims_of(at), &fsig)).await,
        401
    );
    // Tampering with the claims breaks the signature.
    let mut c = claims_of(at);
    c["sub"] = "someone-else".into();
    assert_eq!(
        me_status(&app, &compose(&header_of(at), &c, &sig)).await,
        401
    );
}

#[tokio::test]
async fn j3_expiry_issuer_and_not_before_are_enforced() {
    let app = spawn_app().await;
    let tokens = app.confirmed_user("dave@example.com").await;
    let at = tokens["access_token"].as_str().unwrap();
    let claims = claims_of(at);

    let mut wrong_iss = claims.clone();
    wrong_iss["iss"] = format!("{ISSUER_BASE}/local-east-1_Xxxxxxxxx").into();
    assert_eq!(
        me_status(&app, &sign_as_pool(&app, &wrong_iss).await).await,
        401
    );

    let now = claims["iat"].as_i64().unwrap();
    let mut future = claims.clone();
    future["nbf"] = (now + 3600).into();
    assert_eq!(
        me_status(&app, &sign_as_pool(&app, &future).await).await,
        401
    );

    let mut no_exp = claims.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        me_status(&app, &sign_as_pool(&app, &no_exp).await).await,
        401
    );

    let mut expired = claims.clone();
    expired["exp"] = (now - 120).into();
    assert_eq!(
        me_status(&app, &sign_as_pool(&app, &expired).await).await,
        401
    );

    // Small skew is tolerated, an hour past expiry is not.
    assert_eq!(me_status(&app, at).await, 200);
    app.clock.advance(3600 + 120);
    assert_eq!(me_status(&app, at).await, 401);
}

#[tokio::test]
async fn j4_an_id_token_is_not_an_access_token() {
    let app = spawn_app().await;
    let tokens = app.confirmed_user("erin@example.com").await;
    assert_eq!(
        me_status(&app, tokens["id_token"].as_str().unwrap()).await,
        401
    );
    let mut c = claims_of(tokens["access_token"].as_str().unwrap());
    c["token_use"] = "id".into();
    assert_eq!(me_status(&app, &sign_as_pool(&app, &c).await).await, 401);
}

#[tokio::test]
async fn j5_keys_are_strong_and_rotation_keeps_old_tokens_until_retired() {
    let app = spawn_app().await;
    let tokens = app.confirmed_user("frank@example.com").await;
    let old_at = tokens["access_token"].as_str().unwrap().to_owned();
    let jwks = app.jwks().await;
    let n = B64.decode(jwks["keys"][0]["n"].as_str().unwrap()).unwrap();
    assert!(n.len() * 8 >= 2048, "RSA keys are at least 2048 bits");
    let old_kid = header_of(&old_at)["kid"].as_str().unwrap().to_owned();

    let (st, rotated) = app
        .admin(
            "POST",
            &format!("/v1/admin/pools/{}/keys/rotate", app.pool_id),
            None,
        )
        .await;
    assert_eq!(st, 200);
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    let jwks = app.jwks().await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()),
        "published before it signs"
    );

    // Until the publication delay passes, the old key still signs.
    let (_, t) = app.sign_in("frank@example.com", PASSWORD).await;
    assert_eq!(
        header_of(t["tokens"]["access_token"].as_str().unwrap())["kid"],
        old_kid.as_str()
    );
    app.clock.advance(poolgate::crypto::keys::PUBLISH_DELAY + 1);
    let (_, t) = app.sign_in("frank@example.com", PASSWORD).await;
    let new_at = t["tokens"]["access_token"].as_str().unwrap().to_owned();
    assert_eq!(header_of(&new_at)["kid"], new_kid.as_str());
    assert_eq!(
        me_status(&app, &old_at).await,
        200,
        "old key still verifies"
    );
    assert_eq!(me_status(&app, &new_at).await, 200);

    // A token from the old key that would outlive its retirement is refused
    // once the key has retired.
    let mut long = claims_of(&old_at);
    long["exp"] = (claims_of(&old_at)["iat"].as_i64().unwrap() + 10 * 86400).into();
    let old_key_token = {
        let keys = app.state.pools.keys.pool_keys(&app.pool_id).await.unwrap();
        let k = keys.keys.iter().find(|k| k.kid == old_kid).unwrap().clone();
        k.sign(&long).unwrap()
    };
    app.clock.advance(2 * 86400);
    app.state.pools.keys.invalidate(&app.pool_id);
    let jwks = app.jwks().await;
    assert!(
        !jwks.to_string().contains(&old_kid),
        "retired key left the JWKS"
    );
    assert_eq!(me_status(&app, &old_key_token).await, 401);
}

#[tokio::test]
async fn es256_pools_sign_with_p256() {
    let app = spawn_app().await;
    let (st, pool) = app
        .admin("POST", "/v1/admin/pools", Some(json!({"name": "fast", "signing_algorithm": "ES256", "username_attributes": ["email"]})))
        .await;
    assert_eq!(st, 201, "{pool}");
    let pool_id = pool["id"].as_str().unwrap();
    let (_, c) = app
        .admin(
            "POST",
            &format!("/v1/admin/pools/{pool_id}/clients"),
            Some(json!({"name": "w"})),
        )
        .await;
    let cid = c["client_id"].as_str().unwrap();
    let (st, _) = app
        .post(
            &format!("/v1/pools/{pool_id}/signup"),
            json!({"client_id": cid, "username": "ec@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(st, 200);
    let code = app.last_code("ec@example.com").await;
    app.post(
        &format!("/v1/pools/{pool_id}/signup/confirm"),
        json!({"client_id": cid, "username": "ec@example.com", "code": code}),
    )
    .await;
    let (st, t) = app
        .post(
            &format!("/v1/pools/{pool_id}/signin"),
            json!({"client_id": cid, "username": "ec@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(st, 200, "{t}");
    let at = t["tokens"]["access_token"].as_str().unwrap();
    assert_eq!(header_of(at)["alg"], "ES256");
    let (_, jwks) = app
        .request(
            "GET",
            &format!("/{pool_id}/.well-known/jwks.json"),
            None,
            None,
        )
        .await;
    assert_eq!(jwks["keys"][0]["crv"], "P-256");
    let claims = verify_with_jwks(at, &jwks, &format!("{ISSUER_BASE}/{pool_id}"));
    assert_eq!(claims["token_use"], "access");
    assert_eq!(me_status(&app, at).await, 200);
}

async fn userinfo_status(app: &TestApp, token: &str) -> u16 {
    app.http
        .get(format!("{}/{}/oauth2/userInfo", app.base, app.pool_id))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn j3_a_token_issued_in_the_future_beyond_the_skew_is_refused() {
    let app = spawn_app().await;
    let tokens = app.confirmed_user("early@example.com").await;
    let at = claims_of(tokens["access_token"].as_str().unwrap());
    let now = at["iat"].as_i64().unwrap();
    let with_iat = |claims: &Value, iat: i64| {
        let mut c = claims.clone();
        c["iat"] = iat.into();
        c["exp"] = (iat + 3600).into();
        c
    };
    // Within the 30 s skew: accepted.
    let near = sign_as_pool(&app, &with_iat(&at, now + 20)).await;
    assert_eq!(me_status(&app, &near).await, 200);
    assert_eq!(userinfo_status(&app, &near).await, 200);
    // An hour ahead: refused at /v1/me and userInfo.
    let ahead = sign_as_pool(&app, &with_iat(&at, now + 3600)).await;
    assert_eq!(me_status(&app, &ahead).await, 401);
    assert_eq!(userinfo_status(&app, &ahead).await, 401);
    let mut no_iat = at.clone();
    no_iat.as_object_mut().unwrap().remove("iat");
    assert_eq!(
        me_status(&app, &sign_as_pool(&app, &no_iat).await).await,
        401
    );

    // An identity pool login with a future-issued ID token is refused.
    let (st, b) = app
        .admin(
            "POST",
            "/v1/admin/identity-pools",
            Some(json!({"name": "early",
                "providers": [{"type": "user_pool", "pool_id": app.pool_id, "client_ids": [app.client_id]}]})),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    let ip = b["id"].as_str().unwrap();
    let id = claims_of(tokens["id_token"].as_str().unwrap());
    let provider = format!("cognito-idp.local-east-1.amazonaws.com/{}", app.pool_id);
    let get_id = |token: String| {
        let body = json!({"logins": {provider.clone(): token}});
        let path = format!("/v1/identity-pools/{ip}/identity");
        let app = &app;
        async move { app.post(&path, body).await }
    };
    let (st, b) = get_id(sign_as_pool(&app, &with_iat(&id, now + 20)).await).await;
    assert_eq!(st, 200, "{b}");
    let (st, b) = get_id(sign_as_pool(&app, &with_iat(&id, now + 3600)).await).await;
    assert_eq!(st, 401, "{b}");
}

#[tokio::test]
async fn deleting_an_app_client_ends_its_access_and_refresh_tokens_at_once() {
    let app = spawn_app().await;
    let tokens = app.confirmed_user("left@example.com").await;
    let at = tokens["access_token"].as_str().unwrap();
    let rt = tokens["refresh_token"].as_str().unwrap();
    // Another client's session is not touched.
    let (st, other) = app
        .admin(
            "POST",
            &format!("/v1/admin/pools/{}/clients", app.pool_id),
            Some(json!({"name": "other"})),
        )
        .await;
    assert_eq!(st, 201, "{other}");
    let (st, b) = app
        .post(
            &app.pool_path("signin"),
            json!({"client_id": other["client_id"], "username": "left@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let other_at = b["tokens"]["access_token"].as_str().unwrap().to_owned();
    assert_eq!(me_status(&app, at).await, 200);

    let (st, b) = app
        .admin(
            "DELETE",
            &format!("/v1/admin/pools/{}/clients/{}", app.pool_id, app.client_id),
            None,
        )
        .await;
    assert_eq!(st, 204, "{b}");
    assert_eq!(me_status(&app, at).await, 401, "its access token");
    assert_eq!(userinfo_status(&app, at).await, 401);
    let (st, b) = app.refresh(rt).await;
    assert!(
        matches!(st, 400 | 401 | 404) && b.get("tokens").is_none(),
        "its refresh token: {st} {b}"
    );
    let fam = claims_of(at)["origin_jti"].as_str().unwrap().to_owned();
    let family = app.store.get_family(&fam).await.unwrap().unwrap();
    assert!(family.revoked_at.is_some(), "the family is revoked");
    assert_eq!(
        me_status(&app, &other_at).await,
        200,
        "other clients live on"
    );
}

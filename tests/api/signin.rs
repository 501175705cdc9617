use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn sign_in_returns_tokens_with_cognito_claims_verified_by_the_jwks() {
    let app = spawn_app().await;
    let tokens = app.confirmed_user("alice@example.com").await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    let jwks = app.jwks().await;
    let iss = app.issuer();

    let id = verify_with_jwks(tokens["id_token"].as_str().unwrap(), &jwks, &iss);
    assert_eq!(id["token_use"], "id");
    assert_eq!(id["aud"], app.client_id.as_str());
    assert_eq!(id["email"], "alice@example.com");
    assert_eq!(id["email_verified"], true);
    assert_eq!(id["cognito:username"], id["sub"]);
    for claim in ["auth_time", "exp", "iat", "jti", "origin_jti", "event_id"] {
        assert!(id.get(claim).is_some(), "ID token lacks {claim}");
    }

    let access = verify_with_jwks(tokens["access_token"].as_str().unwrap(), &jwks, &iss);
    assert_eq!(access["token_use"], "access");
    assert_eq!(access["client_id"], app.client_id.as_str());
    assert_eq!(access["sub"], id["sub"]);
    assert_eq!(access["origin_jti"], id["origin_jti"]);
    assert_eq!(access["scope"], "aws.cognito.signin.user.admin");
    assert_eq!(
        access["exp"].as_i64().unwrap() - access["iat"].as_i64().unwrap(),
        3600
    );
    assert!(access.get("aud").is_none());

    let (st, me) = app
        .request("GET", "/v1/me", None, tokens["access_token"].as_str())
        .await;
    assert_eq!(st, 200, "{me}");
    assert_eq!(me["sub"], id["sub"]);
    assert_eq!(me["attributes"]["email"], "alice@example.com");
    assert_eq!(me["status"], "CONFIRMED");
}

#[tokio::test]
async fn discovery_names_the_issuer_and_the_jwks() {
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
        d["jwks_uri"],
        format!("{}/.well-known/jwks.json", app.issuer())
    );
    let jwks = app.jwks().await;
    let key = &jwks["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["alg"].as_str()),
        (Some("RSA"), Some("RS256"))
    );
    assert!(
        key.get("d").is_none() && key.get("p").is_none(),
        "no private parts in the JWKS"
    );
    let (st, _) = app
        .request(
            "GET",
            "/local-east-1_NoSuchOne/.well-known/jwks.json",
            None,
            None,
        )
        .await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn g3_unknown_user_and_wrong_password_are_indistinguishable() {
    let app = spawn_app().await;
    app.confirmed_user("bob@example.com").await;
    let hasher = &app.state.pools.hasher;

    let before = hasher.verifications();
    let (st_wrong, wrong) = app
        .sign_in("bob@example.com", "not the right password at all")
        .await;
    let after_wrong = hasher.verifications();
    let (st_unknown, unknown) = app
        .sign_in("nobody@example.com", "not the right password at all")
        .await;
    let after_unknown = hasher.verifications();

    assert_eq!((st_wrong, st_unknown), (401, 401));
    assert_eq!(
        wrong, unknown,
        "same body for unknown user and wrong password"
    );
    assert_eq!(wrong["code"], "NotAuthorized");
    // Same hashing work: one argon2 verification each (the unknown user's
    // against the dummy hash).
    assert_eq!(after_wrong - before, 1);
    assert_eq!(after_unknown - after_wrong, 1);

    // Sign-up and confirmation do not reveal existence either (beyond the
    // UsernameExists that sign-up must give).
    let (st, body) = app.confirm("nobody@example.com", "123456").await;
    assert_eq!((st, body["code"].as_str()), (400, Some("CodeMismatch")));
    let (st, body) = app
        .post(
            &app.pool_path("signup/resend"),
            json!({"client_id": app.client_id, "username": "nobody@example.com"}),
        )
        .await;
    assert_eq!(st, 200, "{body}");
}

#[tokio::test]
async fn without_existence_prevention_an_unknown_user_is_named() {
    let app = spawn_app().await;
    app.admin(
        "PATCH",
        &format!("/v1/admin/pools/{}", app.pool_id),
        Some(json!({"prevent_user_existence_errors": false})),
    )
    .await;
    let (st, body) = app.sign_in("nobody@example.com", PASSWORD).await;
    assert_eq!((st, body["code"].as_str()), (404, Some("UserNotFound")));
}

#[tokio::test]
async fn refresh_issues_new_tokens_and_rotation_detects_reuse() {
    let app = spawn_app().await;
    let tokens = app.confirmed_user("carol@example.com").await;
    let rt1 = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (st, r) = app.refresh(&rt1).await;
    assert_eq!(st, 200, "{r}");
    let rt2 = r["tokens"]["refresh_token"]
        .as_str()
        .expect("rotation gives a new refresh token")
        .to_owned();
    assert_ne!(rt1, rt2);
    let access = verify_with_jwks(
        r["tokens"]["access_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.issuer(),
    );
    assert_eq!(access["token_use"], "access");

    // Within the grace window a replay fails but does not kill the family.
    let (st, _) = app.refresh(&rt1).await;
    assert_eq!(st, 401);
    app.clock.advance(60);
    let (st, r3) = app.refresh(&rt2).await;
    assert_eq!(st, 200, "{r3}");
    let rt3 = r3["tokens"]["refresh_token"].as_str().unwrap().to_owned();

    // Past the grace window, a replay of a rotated-out token revokes the family.
    app.clock.advance(60);
    let (st, body) = app.refresh(&rt2).await;
    assert_eq!((st, body["code"].as_str()), (401, Some("NotAuthorized")));
    let (st, body) = app.refresh(&rt3).await;
    assert_eq!(st, 401, "the family is revoked: {body}");
    let (st, _) = app
        .request("GET", "/v1/me", None, r3["tokens"]["access_token"].as_str())
        .await;
    assert_eq!(st, 401, "access tokens of a revoked family are refused");
}

#[tokio::test]
async fn without_rotation_the_refresh_token_stays_valid() {
    let app = spawn_app().await;
    app.admin(
        "PATCH",
        &format!("/v1/admin/pools/{}/clients/{}", app.pool_id, app.client_id),
        Some(json!({"refresh_token_rotation": false})),
    )
    .await;
    let tokens = app.confirmed_user("dave@example.com").await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    for _ in 0..3 {
        let (st, r) = app.refresh(rt).await;
        assert_eq!(st, 200, "{r}");
        assert!(r["tokens"].get("refresh_token").is_none());
    }
}

#[tokio::test]
async fn refresh_tokens_are_bound_to_their_client_and_expire() {
    let app = spawn_app().await;
    let tokens = app.confirmed_user("erin@example.com").await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let (_, other) = app
        .admin(
            "POST",
            &format!("/v1/admin/pools/{}/clients", app.pool_id),
            Some(json!({"name": "other"})),
        )
        .await;
    let (st, _) = app
        .post(
            &app.pool_path("token/refresh"),
            json!({"client_id": other["client_id"], "refresh_token": rt}),
        )
        .await;
    assert_eq!(st, 401);
    app.clock.advance(30 * 86400 + 1);
    let (st, body) = app.refresh(rt).await;
    assert_eq!(st, 401);
    assert!(
        body["detail"].as_str().unwrap().contains("expired"),
        "{body}"
    );
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_session() {
    let app = spawn_app().await;
    let tokens = app.confirmed_user("frank@example.com").await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let (st, _) = app
        .post(
            &app.pool_path("token/revoke"),
            json!({"client_id": app.client_id, "token": rt}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(app.refresh(rt).await.0, 401);
    let (st, _) = app
        .request("GET", "/v1/me", None, tokens["access_token"].as_str())
        .await;
    assert_eq!(st, 401);
    // Unknown tokens are not an error (RFC 7009).
    let (st, _) = app
        .post(
            &app.pool_path("token/revoke"),
            json!({"client_id": app.client_id, "token": "nope"}),
        )
        .await;
    assert_eq!(st, 200);
}

#[tokio::test]
async fn s1_refresh_tokens_are_random_and_stored_only_as_a_hash() {
    let app = spawn_app().await;
    let tokens = app.confirmed_user("grace@example.com").await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    assert!(rt.len() >= 43, "at least 256 bits base64url");
    assert!(
        app.store.get_refresh_token(rt).await.unwrap().is_none(),
        "the raw token is not a key"
    );
    let hashed = poolgate::crypto::sha256_hex(rt.as_bytes());
    assert!(
        app.store
            .get_refresh_token(&hashed)
            .await
            .unwrap()
            .is_some()
    );
    // A new sign-in is a new session (family).
    let (_, again) = app.sign_in("grace@example.com", PASSWORD).await;
    assert_ne!(again["tokens"]["refresh_token"], tokens["refresh_token"]);
}

#[tokio::test]
async fn password_hashes_are_upgraded_on_sign_in_when_parameters_change() {
    let app = spawn_app().await;
    app.confirmed_user("heidi@example.com").await;
    let user = app
        .state
        .pools
        .find_user(
            &app.state.pools.pool(&app.pool_id).await.unwrap(),
            "heidi@example.com",
        )
        .await
        .unwrap()
        .unwrap();
    // Pretend the stored hash used older parameters.
    let old = poolgate::crypto::password::PasswordHasher::new(
        &poolgate::crypto::password::Argon2Settings {
            memory_kib: 128,
            iterations: 1,
            parallelism: 1,
            workers: 1,
            queue: 4,
        },
    )
    .unwrap();
    let mut u = user.clone();
    u.password_hash = Some(old.hash(PASSWORD).await.unwrap());
    app.store.update_user(&u).await.unwrap();
    assert_eq!(app.sign_in("heidi@example.com", PASSWORD).await.0, 200);
    let after = app
        .store
        .get_user(&app.pool_id, &user.sub)
        .await
        .unwrap()
        .unwrap();
    assert!(
        after.password_hash.unwrap().contains("m=256,t=1,p=1"),
        "upgraded to the configured parameters"
    );
}

#[tokio::test]
async fn g1_failures_throttle_the_account_with_growing_delays_and_success_resets_them() {
    let app = spawn_app().await;
    app.confirmed_user("ted@example.com").await;
    for i in 1..=5 {
        let (st, b) = app
            .sign_in("ted@example.com", "wrong wrong wrong wrong")
            .await;
        assert_eq!(
            (st, b["detail"].as_str()),
            (401, Some("Incorrect username or password.")),
            "failure {i}"
        );
    }
    // Locked: even the right password is refused, with a Retry-After.
    let resp = app
        .http
        .post(format!("{}{}", app.base, app.pool_path("signin")))
        .json(&json!({"client_id": app.client_id, "username": "ted@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().contains_key("retry-after"));
    let b: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(b["detail"], "Password attempts exceeded");
    app.clock.advance(2);
    assert_eq!(
        app.sign_in("ted@example.com", PASSWORD).await.0,
        200,
        "the lock expired"
    );
    // The counter was reset: four new failures do not lock.
    for _ in 0..4 {
        app.sign_in("ted@example.com", "wrong wrong wrong wrong")
            .await;
    }
    assert_eq!(app.sign_in("ted@example.com", PASSWORD).await.0, 200);
    // A name that designates nobody locks after the same failures, so the
    // lockout does not reveal who exists (G3; tests/api/enumeration.rs).
    for _ in 0..5 {
        assert_eq!(
            app.sign_in("nobody@example.com", "wrong wrong wrong wrong")
                .await
                .1["detail"],
            "Incorrect username or password."
        );
    }
    assert_eq!(
        app.sign_in("nobody@example.com", "wrong wrong wrong wrong")
            .await
            .1["detail"],
        "Password attempts exceeded"
    );
}

#[tokio::test]
async fn g1_after_100_consecutive_failures_the_right_password_waits_for_the_window() {
    let app = spawn_app().await;
    app.confirmed_user("uma@example.com").await;
    let mut failures = 0;
    while failures < 100 {
        let (st, b) = app
            .sign_in("uma@example.com", "wrong wrong wrong wrong")
            .await;
        assert_eq!(st, 401);
        if b["detail"] == "Password attempts exceeded" {
            app.clock.advance(poolgate::user_pools::auth::MAX_LOCK_SECS);
        } else {
            failures += 1;
        }
    }
    let (st, b) = app.sign_in("uma@example.com", PASSWORD).await;
    assert_eq!(
        (st, b["detail"].as_str()),
        (401, Some("Password attempts exceeded"))
    );
    app.clock
        .advance(poolgate::user_pools::auth::MAX_LOCK_SECS - 1);
    assert_eq!(
        app.sign_in("uma@example.com", PASSWORD).await.0,
        401,
        "still inside the window"
    );
    app.clock.advance(2);
    assert_eq!(app.sign_in("uma@example.com", PASSWORD).await.0, 200);
}

#[tokio::test]
async fn an_administrator_password_reset_unlocks_the_account() {
    let app = spawn_app().await;
    app.confirmed_user("val@example.com").await;
    for _ in 0..6 {
        app.sign_in("val@example.com", "wrong wrong wrong wrong")
            .await;
    }
    assert_eq!(
        app.sign_in("val@example.com", PASSWORD).await.1["detail"],
        "Password attempts exceeded"
    );
    let (st, _) = app
        .admin(
            "POST",
            &format!(
                "/v1/admin/pools/{}/users/val@example.com/password",
                app.pool_id
            ),
            Some(json!({"password": "a fresh admin passphrase"})),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        app.sign_in("val@example.com", "a fresh admin passphrase")
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn s4_with_no_grace_window_any_replay_revokes_the_family() {
    let app = spawn_app_with(|s| s.tokens.refresh_reuse_grace_secs = 0).await;
    let tokens = app.confirmed_user("walt@example.com").await;
    let rt1 = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (_, r) = app.refresh(&rt1).await;
    let rt2 = r["tokens"]["refresh_token"].as_str().unwrap().to_owned();
    app.clock.advance(1);
    assert_eq!(app.refresh(&rt1).await.0, 401);
    assert_eq!(
        app.refresh(&rt2).await.0,
        401,
        "the replay revoked the family at once"
    );
}

//! Rate limits per client address and per pool (429 with `Retry-After`,
//! counted in the store), and the sign-in throttle's per-source delays (G2).
//! Time moves by the injected clock, never by sleeping.

use crate::helpers::*;
use poolgate::clock::Clock;
use serde_json::{Value, json};

/// POSTs as if from `ip` (the test app trusts 127.0.0.1 as a proxy).
async fn post_from(app: &TestApp, ip: &str, path: &str, body: Value) -> (u16, Option<u64>, Value) {
    let resp = app
        .http
        .post(format!("{}{}", app.base, path))
        .header("x-forwarded-for", ip)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (status, retry, resp.json().await.unwrap_or(Value::Null))
}

fn sign_in_body(app: &TestApp, user: &str, password: &str) -> Value {
    json!({"client_id": app.client_id, "username": user, "password": password})
}

/// A confirmed user who has not signed in yet, and the clock at the start
/// of a 60-second window.
async fn confirmed_at_window_start(app: &TestApp, email: &str) {
    let (st, b) = app.sign_up(email, PASSWORD).await;
    assert_eq!(st, 200, "{b}");
    let code = app.last_code(email).await;
    assert_eq!(app.confirm(email, &code).await.0, 200);
    let now = app.clock.now();
    app.clock.advance(60 - now.rem_euclid(60));
}

async fn limited_app(tweak: impl FnOnce(&mut poolgate::config::RateLimitSettings)) -> TestApp {
    spawn_app_with(|s| {
        s.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        tweak(&mut s.rate_limits);
    })
    .await
}

#[tokio::test]
async fn g2_per_ip_sign_in_limit_answers_429_with_retry_after_until_the_window_ends() {
    let app = limited_app(|l| {
        l.signin.per_ip = 3;
        l.window_secs = 60;
    })
    .await;
    app.confirmed_user("amy@example.com").await;
    // Align to the start of a window so the whole test sits inside one.
    let now = app.clock.now();
    app.clock.advance(60 - now.rem_euclid(60));
    let path = app.pool_path("signin");
    for _ in 0..3 {
        let (st, _, _) = post_from(
            &app,
            "203.0.113.5",
            &path,
            sign_in_body(&app, "nobody@example.com", "wrong wrong wrong"),
        )
        .await;
        assert_eq!(st, 401);
    }
    // The fourth from that address is refused before any work, even with
    // the right password, and says when to come back.
    let (st, retry, body) = post_from(
        &app,
        "203.0.113.5",
        &path,
        sign_in_body(&app, "amy@example.com", PASSWORD),
    )
    .await;
    assert_eq!(
        (st, body["code"].as_str()),
        (429, Some("TooManyRequests")),
        "{body}"
    );
    assert_eq!(retry, Some(60));
    // Another address has its own budget.
    let (st, _, _) = post_from(
        &app,
        "198.51.100.7",
        &path,
        sign_in_body(&app, "amy@example.com", PASSWORD),
    )
    .await;
    assert_eq!(st, 200);
    // Later in the window the wait is shorter; in the next window it is over.
    app.clock.advance(45);
    let (st, retry, _) = post_from(
        &app,
        "203.0.113.5",
        &path,
        sign_in_body(&app, "amy@example.com", PASSWORD),
    )
    .await;
    assert_eq!((st, retry), (429, Some(15)));
    app.clock.advance(15);
    let (st, _, _) = post_from(
        &app,
        "203.0.113.5",
        &path,
        sign_in_body(&app, "amy@example.com", PASSWORD),
    )
    .await;
    assert_eq!(st, 200);
}

#[tokio::test]
async fn ipv6_clients_share_a_budget_per_slash_64() {
    let app = limited_app(|l| l.signin.per_ip = 2).await;
    let now = app.clock.now();
    app.clock.advance(60 - now.rem_euclid(60));
    let path = app.pool_path("signin");
    let body = sign_in_body(&app, "nobody@example.com", "wrong wrong wrong");
    assert_eq!(
        post_from(&app, "2001:db8:0:1::1", &path, body.clone())
            .await
            .0,
        401
    );
    assert_eq!(
        post_from(&app, "2001:db8:0:1::2", &path, body.clone())
            .await
            .0,
        401
    );
    assert_eq!(
        post_from(&app, "2001:db8:0:1:ffff::9", &path, body.clone())
            .await
            .0,
        429
    );
    assert_eq!(post_from(&app, "2001:db8:0:2::1", &path, body).await.0, 401);
}

#[tokio::test]
async fn forwarded_for_is_ignored_from_untrusted_peers() {
    // No trusted proxies: every request is from 127.0.0.1, whatever it claims.
    let app = spawn_app_with(|s| s.rate_limits.signin.per_ip = 2).await;
    let now = app.clock.now();
    app.clock.advance(60 - now.rem_euclid(60));
    let path = app.pool_path("signin");
    let body = sign_in_body(&app, "nobody@example.com", "wrong wrong wrong");
    for (i, ip) in ["10.0.0.1", "10.0.0.2", "10.0.0.3"].iter().enumerate() {
        let (st, _, _) = post_from(&app, ip, &path, body.clone()).await;
        assert_eq!(st, if i < 2 { 401 } else { 429 }, "request {i}");
    }
}

#[tokio::test]
async fn per_pool_sign_up_limit_caps_the_pool_across_addresses_and_spares_other_pools() {
    let app = limited_app(|l| l.signup.per_pool = 2).await;
    let now = app.clock.now();
    app.clock.advance(60 - now.rem_euclid(60));
    let body =
        |email: &str| json!({"client_id": app.client_id, "username": email, "password": PASSWORD});
    let path = app.pool_path("signup");
    assert_eq!(
        post_from(&app, "192.0.2.1", &path, body("a1@example.com"))
            .await
            .0,
        200
    );
    assert_eq!(
        post_from(&app, "192.0.2.2", &path, body("a2@example.com"))
            .await
            .0,
        200
    );
    let (st, retry, b) = post_from(&app, "192.0.2.3", &path, body("a3@example.com")).await;
    assert_eq!(
        (st, b["code"].as_str()),
        (429, Some("TooManyRequests")),
        "{b}"
    );
    assert!(retry.is_some());
    // Nothing was created by the refused request.
    let (st, _) = app
        .admin(
            "GET",
            &format!("/v1/admin/pools/{}/users/a3@example.com", app.pool_id),
            None,
        )
        .await;
    assert_eq!(st, 404);
    // Another pool has its own budget.
    let (_, pool) = app
        .admin(
            "POST",
            "/v1/admin/pools",
            Some(json!({"name": "other", "username_attributes": ["email"]})),
        )
        .await;
    let other = pool["id"].as_str().unwrap();
    let (_, client) = app
        .admin(
            "POST",
            &format!("/v1/admin/pools/{other}/clients"),
            Some(json!({"name": "web"})),
        )
        .await;
    let (st, _, b) = post_from(
        &app,
        "192.0.2.4",
        &format!("/v1/pools/{other}/signup"),
        json!({"client_id": client["client_id"], "username": "b1@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(st, 200, "{b}");
}

#[tokio::test]
async fn code_checks_and_code_sends_are_rate_limited_per_address() {
    let app = limited_app(|l| {
        l.code_check.per_ip = 2;
        l.code_send.per_ip = 1;
    })
    .await;
    let now = app.clock.now();
    app.clock.advance(60 - now.rem_euclid(60));
    app.sign_up("cid@example.com", PASSWORD).await;
    let code = app.last_code("cid@example.com").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let confirm =
        |c: &str| json!({"client_id": app.client_id, "username": "cid@example.com", "code": c});
    let path = app.pool_path("signup/confirm");
    for _ in 0..2 {
        let (st, _, b) = post_from(&app, "192.0.2.9", &path, confirm(wrong)).await;
        assert_eq!(b["code"], "CodeMismatch", "{st} {b}");
    }
    // Even the right code waits: guessing speed is bounded per address.
    let (st, _, _) = post_from(&app, "192.0.2.9", &path, confirm(&code)).await;
    assert_eq!(st, 429);
    let resend = json!({"client_id": app.client_id, "username": "cid@example.com"});
    let path = app.pool_path("signup/resend");
    assert_eq!(
        post_from(&app, "192.0.2.9", &path, resend.clone()).await.0,
        200
    );
    assert_eq!(post_from(&app, "192.0.2.9", &path, resend).await.0, 429);
}

#[tokio::test]
async fn g2_failures_from_an_attacker_address_do_not_lock_the_owner_out() {
    let app = limited_app(|l| l.enabled = false).await;
    app.confirmed_user("own@example.com").await;
    let path = app.pool_path("signin");
    // The attacker fails until its address is throttled for this account.
    for _ in 0..poolgate::user_pools::auth::LOCK_AFTER_FAILURES {
        post_from(
            &app,
            "203.0.113.66",
            &path,
            sign_in_body(&app, "own@example.com", "guess guess guess"),
        )
        .await;
    }
    let (st, retry, b) = post_from(
        &app,
        "203.0.113.66",
        &path,
        sign_in_body(&app, "own@example.com", PASSWORD),
    )
    .await;
    assert_eq!(
        (st, b["detail"].as_str()),
        (401, Some("Password attempts exceeded"))
    );
    assert!(retry.is_some());
    // The owner, from their own address, is not affected.
    let (st, _, b) = post_from(
        &app,
        "198.51.100.20",
        &path,
        sign_in_body(&app, "own@example.com", PASSWORD),
    )
    .await;
    assert_eq!(st, 200, "{b}");
}

#[tokio::test]
async fn g1_the_hard_cap_counts_failures_from_every_address_together() {
    let app = limited_app(|l| l.enabled = false).await;
    app.confirmed_user("cap@example.com").await;
    let path = app.pool_path("signin");
    // 100 failures spread over 25 addresses, 4 each: no address reaches its
    // own throttle, but the account reaches NIST's cap.
    for i in 0..25 {
        for _ in 0..4 {
            let (st, _, b) = post_from(
                &app,
                &format!("192.0.2.{i}"),
                &path,
                sign_in_body(&app, "cap@example.com", "guess guess guess"),
            )
            .await;
            assert_eq!(
                (st, b["detail"].as_str()),
                (401, Some("Incorrect username or password."))
            );
        }
    }
    let (st, _, b) = post_from(
        &app,
        "198.51.100.20",
        &path,
        sign_in_body(&app, "cap@example.com", PASSWORD),
    )
    .await;
    assert_eq!(
        (st, b["detail"].as_str()),
        (401, Some("Password attempts exceeded"))
    );
    app.clock
        .advance(poolgate::user_pools::auth::MAX_LOCK_SECS + 1);
    let (st, _, _) = post_from(
        &app,
        "198.51.100.20",
        &path,
        sign_in_body(&app, "cap@example.com", PASSWORD),
    )
    .await;
    assert_eq!(st, 200);
}

#[tokio::test]
async fn old_rate_limit_windows_are_purged() {
    let app = limited_app(|l| l.signin.per_ip = 5).await;
    let path = app.pool_path("signin");
    post_from(
        &app,
        "192.0.2.1",
        &path,
        sign_in_body(&app, "x@example.com", "wrong wrong wrong"),
    )
    .await;
    assert_eq!(
        app.state.pools.purge_rate_limits().await.unwrap(),
        0,
        "the current window stays"
    );
    app.clock.advance(3 * 60);
    assert!(app.state.pools.purge_rate_limits().await.unwrap() >= 1);
}

#[tokio::test]
async fn an_address_over_its_own_limit_does_not_spend_the_pools_budget() {
    let app = limited_app(|l| {
        l.signin.per_ip = 2;
        l.signin.per_pool = 3;
    })
    .await;
    let now = app.clock.now();
    app.clock.advance(60 - now.rem_euclid(60));
    let path = app.pool_path("signin");
    let body = sign_in_body(&app, "nobody@example.com", "wrong wrong wrong");
    // One address hammers: two tries, then refused by its own limit.
    for (i, want) in [401, 401, 429, 429, 429].into_iter().enumerate() {
        let (st, _, b) = post_from(&app, "203.0.113.9", &path, body.clone()).await;
        assert_eq!(st, want, "request {i}: {b}");
    }
    // The pool has spent 2 of its 3: another address gets the last one.
    let (st, _, b) = post_from(&app, "198.51.100.4", &path, body.clone()).await;
    assert_eq!(st, 401, "{b}");
    let (st, retry, b) = post_from(&app, "198.51.100.4", &path, body.clone()).await;
    assert_eq!((st, b["code"].as_str()), (429, Some("TooManyRequests")));
    assert!(retry.is_some());
}

#[tokio::test]
async fn g2_a_flood_that_spends_the_pool_budget_does_not_lock_out_users_on_their_known_networks() {
    let app = limited_app(|l| {
        l.signin.per_ip = 4;
        l.signin.per_pool = 3;
    })
    .await;
    confirmed_at_window_start(&app, "home@example.com").await;
    let path = app.pool_path("signin");
    let home = "198.51.100.77";
    // The user signs in from home: that spends the pool's budget once and
    // makes (user, home) a known pair.
    let (st, _, b) = post_from(
        &app,
        home,
        &path,
        sign_in_body(&app, "home@example.com", PASSWORD),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    // A flood from new addresses, one guess each, spends the rest of it;
    // the user's own name tried from a new address counts too.
    for (i, ip) in ["203.0.113.1", "203.0.113.2"].iter().enumerate() {
        let (st, _, b) = post_from(
            &app,
            ip,
            &path,
            sign_in_body(&app, &format!("bot{i}@example.com"), "wrong wrong wrong"),
        )
        .await;
        assert_eq!(st, 401, "{b}");
    }
    for (ip, user) in [
        ("203.0.113.3", "bot9@example.com"),
        ("203.0.113.4", "home@example.com"),
    ] {
        let (st, retry, b) = post_from(
            &app,
            ip,
            &path,
            sign_in_body(&app, user, "wrong wrong wrong"),
        )
        .await;
        assert_eq!(
            (st, b["code"].as_str()),
            (429, Some("TooManyRequests")),
            "{b}"
        );
        assert!(retry.is_some());
    }
    // From home the user still signs in: a known pair is not charged to the
    // pool-wide budget.
    let (st, _, b) = post_from(
        &app,
        home,
        &path,
        sign_in_body(&app, "home@example.com", PASSWORD),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    // ...but the same user from an address never used successfully is an
    // unknown pair, and meets the exhausted pool budget.
    let (st, _, _) = post_from(
        &app,
        "192.0.2.200",
        &path,
        sign_in_body(&app, "home@example.com", PASSWORD),
    )
    .await;
    assert_eq!(st, 429);
    // The per-address limit still applies to a known pair (4 a window:
    // two spent above).
    for want in [200, 200, 429] {
        let (st, _, b) = post_from(
            &app,
            home,
            &path,
            sign_in_body(&app, "home@example.com", PASSWORD),
        )
        .await;
        assert_eq!(st, want, "{b}");
    }
}

#[tokio::test]
async fn g2_failures_from_a_known_network_still_lock_that_network() {
    // Being known exempts from the pool budget only, never from the
    // per-account throttle (G1/G2 stay as they were).
    let app = limited_app(|l| l.signin.per_pool = 1_000).await;
    let (st, b) = app.sign_up("known@example.com", PASSWORD).await;
    assert_eq!(st, 200, "{b}");
    let code = app.last_code("known@example.com").await;
    assert_eq!(app.confirm("known@example.com", &code).await.0, 200);
    let path = app.pool_path("signin");
    let ip = "198.51.100.78";
    let (st, _, _) = post_from(
        &app,
        ip,
        &path,
        sign_in_body(&app, "known@example.com", PASSWORD),
    )
    .await;
    assert_eq!(st, 200);
    for _ in 0..poolgate::user_pools::auth::LOCK_AFTER_FAILURES {
        let (st, _, _) = post_from(
            &app,
            ip,
            &path,
            sign_in_body(&app, "known@example.com", "guess guess guess"),
        )
        .await;
        assert_eq!(st, 401);
    }
    let (st, retry, b) = post_from(
        &app,
        ip,
        &path,
        sign_in_body(&app, "known@example.com", PASSWORD),
    )
    .await;
    assert_eq!(
        (st, b["detail"].as_str()),
        (401, Some("Password attempts exceeded"))
    );
    assert!(retry.is_some());
}

/// The number of audit events of the test pool.
async fn audit_count(app: &TestApp) -> usize {
    app.store
        .list_audit(&app.pool_id, None, None, 10_000)
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn g2_admission_refuses_unknown_pairs_before_the_store_and_lets_known_pairs_past() {
    // Two sign-ins from unknown (name, network) pairs may be in flight;
    // three sign-ins per address and window.
    let app = limited_app(|l| {
        l.signin_in_flight = 2;
        l.signin.per_ip = 3;
    })
    .await;
    confirmed_at_window_start(&app, "home@example.com").await;
    let path = app.pool_path("signin");
    let (home, away) = ("198.51.100.77", "203.0.113.9");
    let right = sign_in_body(&app, "home@example.com", PASSWORD);
    // The user signs in from home: (user, home) is known on this node.
    let (st, _, b) = post_from(&app, home, &path, right.clone()).await;
    assert_eq!(st, 200, "{b}");
    let gate = app.state.pools.signin_gate();
    assert_eq!(gate.known_pairs(), 1);
    // A flood holds both places.
    let held: Vec<_> = (0..2).map(|_| gate.hold().expect("a place")).collect();
    assert!(gate.hold().is_none(), "the cap is reached");
    let (hashed, audited) = (
        app.state.pools.hasher.verifications(),
        audit_count(&app).await,
    );
    // Unknown pairs are refused at once, with the same answer whether the
    // name designates a user (right or wrong password) or nobody (G3).
    let mut answers = vec![];
    for body in [
        right.clone(),
        sign_in_body(&app, "home@example.com", "wrong wrong wrong"),
        sign_in_body(&app, "nobody@example.com", "wrong wrong wrong"),
    ] {
        answers.push(post_from(&app, away, &path, body).await);
    }
    let (st, retry, b) = &answers[0];
    assert_eq!((*st, *retry), (503, Some(1)), "{b}");
    assert_eq!(b["code"], "TooManyRequests", "{b}");
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    // ...without touching the store: no password was checked, no audit
    // event written, and the address's budget is untouched (below).
    assert_eq!(app.state.pools.hasher.verifications(), hashed);
    assert_eq!(audit_count(&app).await, audited);
    // The known pair passes the full gate and signs in, audited as usual.
    let (st, _, b) = post_from(&app, home, &path, right.clone()).await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(app.state.pools.hasher.verifications(), hashed + 1);
    assert_eq!(audit_count(&app).await, audited + 1);
    assert_eq!(gate.in_flight(), 2, "a known pair takes no place");
    // A wrong password from the known pair is checked (and counted), and
    // the pair is known no more: guessing cannot ride on it past the cap.
    let (st, _, b) = post_from(
        &app,
        home,
        &path,
        sign_in_body(&app, "HOME@example.com", "wrong wrong wrong"),
    )
    .await;
    assert_eq!(st, 401, "{b}");
    assert_eq!(gate.known_pairs(), 0);
    let (st, _, _) = post_from(&app, home, &path, right.clone()).await;
    assert_eq!(st, 503);
    // The flood ends: nobody stays locked out. The away address still has
    // its whole budget of three, as the refusals spent none of it.
    drop(held);
    assert_eq!(gate.in_flight(), 0);
    for (body, want) in [
        (
            sign_in_body(&app, "nobody@example.com", "wrong wrong wrong"),
            401,
        ),
        (
            sign_in_body(&app, "home@example.com", "wrong wrong wrong"),
            401,
        ),
        (right.clone(), 200),
        (right.clone(), 429),
    ] {
        let (st, _, b) = post_from(&app, away, &path, body).await;
        assert_eq!(st, want, "{b}");
    }
    // The away pair that just signed in is known now; from home, in the
    // next window, the user signs in again and is known there again.
    assert_eq!(gate.known_pairs(), 1);
    app.clock.advance(60);
    let (st, _, b) = post_from(&app, home, &path, right.clone()).await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(gate.known_pairs(), 2);
}

#[tokio::test]
async fn g2_admission_covers_the_cognito_and_hosted_doors() {
    let app = limited_app(|l| l.signin_in_flight = 1).await;
    app.confirmed_user("amy@example.com").await;
    let gate = app.state.pools.signin_gate();
    let _held = gate.hold().expect("a place");
    let hashed = app.state.pools.hasher.verifications();
    // Cognito's InitiateAuth, from a network amy never signed in from.
    let resp = app
        .http
        .post(format!("{}/", app.base))
        .header("x-forwarded-for", "203.0.113.10")
        .header(
            "x-amz-target",
            "AWSCognitoIdentityProviderService.InitiateAuth",
        )
        .header("content-type", "application/x-amz-json-1.1")
        .body(
            json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": app.client_id,
                "AuthParameters": {"USERNAME": "amy@example.com", "PASSWORD": PASSWORD}})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("TooManyRequestsException")),
        "{body}"
    );
    assert_eq!(app.state.pools.hasher.verifications(), hashed);
    // The hosted door, through the service it calls.
    let e = app
        .state
        .pools
        .hosted_sign_in(&app.pool_id, &app.client_id, "amy@example.com", PASSWORD)
        .await
        .err()
        .expect("refused");
    assert_eq!(e.kind, poolgate::error::ErrorKind::ServiceUnavailable);
    assert_eq!(app.state.pools.hasher.verifications(), hashed);
}

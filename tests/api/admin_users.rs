//! Admin user management.

use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn s3_a_disabled_user_loses_every_session_at_once() {
    let app = spawn_app().await;
    let tokens = app.confirmed_user("alice@example.com").await;
    let user = format!("/v1/admin/pools/{}/users/alice@example.com", app.pool_id);
    let (st, u) = app.admin("POST", &format!("{user}/disable"), None).await;
    assert_eq!((st, &u["enabled"]), (200, &json!(false)), "{u}");
    let (st, b) = app.sign_in("alice@example.com", PASSWORD).await;
    assert_eq!((st, b["detail"].as_str()), (401, Some("User is disabled.")));
    assert_eq!(
        app.refresh(tokens["refresh_token"].as_str().unwrap())
            .await
            .0,
        401
    );
    assert_eq!(
        app.request("GET", "/v1/me", None, tokens["access_token"].as_str())
            .await
            .0,
        401
    );
    let (st, _) = app.admin("POST", &format!("{user}/enable"), None).await;
    assert_eq!(st, 200);
    assert_eq!(app.sign_in("alice@example.com", PASSWORD).await.0, 200);
    // The sessions from before stay dead.
    assert_eq!(
        app.refresh(tokens["refresh_token"].as_str().unwrap())
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn users_are_read_by_any_sign_in_name_and_listed_with_a_stable_cursor() {
    let app = spawn_app().await;
    let mut subs = vec![];
    for i in 0..5 {
        let (_, b) = app.sign_up(&format!("user{i}@example.com"), PASSWORD).await;
        subs.push(b["user_sub"].as_str().unwrap().to_owned());
    }
    let base = format!("/v1/admin/pools/{}/users", app.pool_id);
    let (st, u) = app
        .admin("GET", &format!("{base}/user3@example.com"), None)
        .await;
    assert_eq!(st, 200, "{u}");
    assert_eq!(u["sub"], subs[3].as_str());
    assert!(u.get("password_hash").is_none(), "no hash in views: {u}");
    let (st, by_sub) = app.admin("GET", &format!("{base}/{}", subs[3]), None).await;
    assert_eq!((st, &by_sub["sub"]), (200, &u["sub"]));

    // Page through while users are being added: nobody is seen twice, and
    // everyone who existed before the first page is seen.
    let mut seen = std::collections::BTreeSet::new();
    let mut after: Option<String> = None;
    let mut added = 0;
    loop {
        let q = match &after {
            Some(a) => format!("{base}?limit=2&after={a}"),
            None => format!("{base}?limit=2"),
        };
        let (st, page) = app.admin("GET", &q, None).await;
        assert_eq!(st, 200, "{page}");
        for u in page["users"].as_array().unwrap() {
            assert!(
                seen.insert(u["sub"].as_str().unwrap().to_owned()),
                "seen twice: {u}"
            );
        }
        if added < 3 {
            app.sign_up(&format!("late{added}@example.com"), PASSWORD)
                .await;
            added += 1;
        }
        match page["next"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => break,
        }
    }
    for s in &subs {
        assert!(seen.contains(s), "{s} missing");
    }
    let (st, _) = app
        .admin("GET", &format!("{base}/nobody@example.com"), None)
        .await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn admins_confirm_set_passwords_sign_out_and_delete_users() {
    let app = spawn_app().await;
    let base = format!("/v1/admin/pools/{}/users", app.pool_id);
    app.sign_up("bob@example.com", PASSWORD).await;
    let (st, u) = app
        .admin("POST", &format!("{base}/bob@example.com/confirm"), None)
        .await;
    assert_eq!((st, u["status"].as_str()), (200, Some("CONFIRMED")), "{u}");
    assert_eq!(
        u["attributes"]["email_verified"], "false",
        "an admin confirmation verifies no address"
    );
    let (st, _) = app
        .admin("POST", &format!("{base}/bob@example.com/confirm"), None)
        .await;
    assert_eq!(st, 401, "already confirmed");
    let (_, t) = app.sign_in("bob@example.com", PASSWORD).await;

    let (st, b) = app
        .admin(
            "POST",
            &format!("{base}/bob@example.com/password"),
            Some(json!({"password": "short"})),
        )
        .await;
    assert_eq!((st, b["code"].as_str()), (400, Some("InvalidPassword")));
    let (st, _) = app
        .admin(
            "POST",
            &format!("{base}/bob@example.com/password"),
            Some(json!({"password": "set by the administrator"})),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(app.sign_in("bob@example.com", PASSWORD).await.0, 401);
    assert_eq!(
        app.refresh(t["tokens"]["refresh_token"].as_str().unwrap())
            .await
            .0,
        401,
        "old sessions end"
    );
    let (st, _) = app
        .sign_in("bob@example.com", "set by the administrator")
        .await;
    assert_eq!(st, 200);

    // A temporary password: FORCE_CHANGE_PASSWORD, and the next sign-in is
    // the NEW_PASSWORD_REQUIRED challenge; setting a permanent one ends it.
    let (st, u) = app
        .admin(
            "POST",
            &format!("{base}/bob@example.com/password"),
            Some(json!({"password": "temporary from the admin", "permanent": false})),
        )
        .await;
    assert_eq!(
        (st, u["status"].as_str()),
        (200, Some("FORCE_CHANGE_PASSWORD")),
        "{u}"
    );
    let (st, c) = app
        .sign_in("bob@example.com", "temporary from the admin")
        .await;
    assert_eq!(
        (st, c["challenge"]["name"].as_str()),
        (200, Some("NEW_PASSWORD_REQUIRED")),
        "{c}"
    );
    let (st, u) = app
        .admin(
            "POST",
            &format!("{base}/bob@example.com/password"),
            Some(json!({"password": "set by the administrator", "permanent": true})),
        )
        .await;
    assert_eq!((st, u["status"].as_str()), (200, Some("CONFIRMED")));
    let (st, t2) = app
        .sign_in("bob@example.com", "set by the administrator")
        .await;
    assert_eq!(st, 200);

    let (st, b) = app
        .admin("POST", &format!("{base}/bob@example.com/signout"), None)
        .await;
    assert_eq!((st, b["revoked_sessions"].as_u64()), (200, Some(1)));
    assert_eq!(
        app.request("GET", "/v1/me", None, t2["tokens"]["access_token"].as_str())
            .await
            .0,
        401
    );

    let (st, _) = app
        .admin("DELETE", &format!("{base}/bob@example.com"), None)
        .await;
    assert_eq!(st, 204);
    assert_eq!(
        app.sign_in("bob@example.com", "set by the administrator")
            .await
            .0,
        401
    );
    // The address is free again.
    assert_eq!(app.sign_up("bob@example.com", PASSWORD).await.0, 200);
    for (m, p) in [
        ("GET", "/x@example.com"),
        ("DELETE", "/x@example.com"),
        ("POST", "/x@example.com/disable"),
    ] {
        assert_eq!(app.admin(m, &format!("{base}{p}"), None).await.0, 404);
    }
}

#[tokio::test]
async fn an_admin_reset_requires_the_user_to_reset_with_the_mailed_code() {
    let app = spawn_app().await;
    let t = app.confirmed_user("carl@example.com").await;
    let base = format!("/v1/admin/pools/{}/users/carl@example.com", app.pool_id);
    let (st, b) = app
        .admin("POST", &format!("{base}/reset-password"), None)
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["code_delivery"]["destination"], "c***@e***");
    let (st, b) = app.sign_in("carl@example.com", PASSWORD).await;
    assert_eq!(
        (st, b["code"].as_str()),
        (403, Some("PasswordResetRequired"))
    );
    assert_eq!(
        app.refresh(t["refresh_token"].as_str().unwrap()).await.0,
        401,
        "sessions ended"
    );
    let code = app.last_code("carl@example.com").await;
    let (st, b) = app
        .post(
            &app.pool_path("password/reset"),
            json!({"client_id": app.client_id, "username": "carl@example.com", "code": code, "password": "carl's brand new passphrase"}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let (_, u) = app.admin("GET", &base, None).await;
    assert_eq!(u["status"], "CONFIRMED");
    assert_eq!(
        app.sign_in("carl@example.com", "carl's brand new passphrase")
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn admins_update_and_delete_attributes_but_not_sign_in_names() {
    let app = spawn_app().await;
    app.confirmed_user("dora@example.com").await;
    let path = format!(
        "/v1/admin/pools/{}/users/dora@example.com/attributes",
        app.pool_id
    );
    let (st, u) = app
        .admin(
            "PATCH",
            &path,
            Some(json!({"attributes": {"given_name": "Dora", "locale": "fr"}})),
        )
        .await;
    assert_eq!(st, 200, "{u}");
    assert_eq!(
        (
            u["attributes"]["given_name"].as_str(),
            u["attributes"]["locale"].as_str()
        ),
        (Some("Dora"), Some("fr"))
    );
    let (st, u) = app
        .admin(
            "PATCH",
            &path,
            Some(json!({"attributes": {"locale": "", "email_verified": "false"}})),
        )
        .await;
    assert_eq!(st, 200, "{u}");
    assert!(u["attributes"].get("locale").is_none());
    assert_eq!(u["attributes"]["email_verified"], "false");
    for bad in [
        json!({"attributes": {"email": "other@example.com"}}),
        json!({"attributes": {"email_verified": "maybe"}}),
        json!({"attributes": {"shoe_size": "44"}}),
        json!({"attributes": {"sub": ""}}),
    ] {
        let (st, b) = app.admin("PATCH", &path, Some(bad.clone())).await;
        assert_eq!(
            (st, b["code"].as_str()),
            (400, Some("InvalidParameter")),
            "{bad}: {b}"
        );
    }
}

fn challenge_body(app: &TestApp, session: &str, pw: &str) -> serde_json::Value {
    json!({"client_id": app.client_id, "challenge_name": "NEW_PASSWORD_REQUIRED", "session": session, "responses": {"NEW_PASSWORD": pw}})
}

#[tokio::test]
async fn an_invited_user_signs_in_with_the_temporary_password_and_must_choose_a_new_one() {
    let app = spawn_app().await;
    let (st, u) = app
        .admin(
            "POST",
            &format!("/v1/admin/pools/{}/users", app.pool_id),
            Some(json!({"username": "eve@example.com", "attributes": {"email_verified": "true", "name": "Eve"}})),
        )
        .await;
    assert_eq!(st, 201, "{u}");
    assert_eq!(u["status"], "FORCE_CHANGE_PASSWORD");
    assert_eq!(u["attributes"]["email_verified"], "true");
    assert!(
        !u.to_string().contains("temporary"),
        "no temporary password or internal attribute in the answer: {u}"
    );
    let (_, out) = app
        .admin("GET", "/v1/admin/outbox?to=eve@example.com", None)
        .await;
    let body = out["messages"][0]["body"].as_str().unwrap();
    let temp = body
        .lines()
        .find_map(|l| l.strip_prefix("Temporary password: "))
        .expect("the invitation carries it")
        .to_owned();

    let (st, r) = app.sign_in("eve@example.com", &temp).await;
    assert_eq!(st, 200, "{r}");
    assert!(r.get("tokens").is_none());
    assert_eq!(r["challenge"]["name"], "NEW_PASSWORD_REQUIRED");
    let session = r["challenge"]["session"].as_str().unwrap().to_owned();
    let path = app.pool_path("signin/challenge");

    // The policy applies, and a refused password can be retried.
    let (st, b) = app
        .post(&path, challenge_body(&app, &session, "short"))
        .await;
    assert_eq!((st, b["code"].as_str()), (400, Some("InvalidPassword")));
    // Bound to its client.
    let (_, other) = app
        .admin(
            "POST",
            &format!("/v1/admin/pools/{}/clients", app.pool_id),
            Some(json!({"name": "other"})),
        )
        .await;
    let mut wrong_client = challenge_body(&app, &session, "eve's own new passphrase");
    wrong_client["client_id"] = other["client_id"].clone();
    assert_eq!(app.post(&path, wrong_client).await.0, 401);

    let (st, done) = app
        .post(
            &path,
            challenge_body(&app, &session, "eve's own new passphrase"),
        )
        .await;
    assert_eq!(st, 200, "{done}");
    let id = verify_with_jwks(
        done["tokens"]["id_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.issuer(),
    );
    assert_eq!(id["email"], "eve@example.com");
    // Single use.
    let (st, _) = app
        .post(
            &path,
            challenge_body(&app, &session, "yet another passphrase"),
        )
        .await;
    assert_eq!(st, 401);
    assert_eq!(
        app.sign_in("eve@example.com", &temp).await.0,
        401,
        "the temporary password is gone"
    );
    let (st, t) = app
        .sign_in("eve@example.com", "eve's own new passphrase")
        .await;
    assert_eq!(st, 200);
    assert!(t["tokens"].is_object());
    let (_, u) = app
        .admin(
            "GET",
            &format!("/v1/admin/pools/{}/users/eve@example.com", app.pool_id),
            None,
        )
        .await;
    assert_eq!(u["status"], "CONFIRMED");
}

#[tokio::test]
async fn challenge_sessions_and_temporary_passwords_expire() {
    let app = spawn_app().await;
    app.admin(
        "PATCH",
        &format!("/v1/admin/pools/{}", app.pool_id),
        Some(json!({"required_attributes": ["given_name"]})),
    )
    .await;
    let temp = "a temporary passphrase 1";
    let (st, b) = app
        .admin(
            "POST",
            &format!("/v1/admin/pools/{}/users", app.pool_id),
            Some(json!({"username": "finn@example.com", "temporary_password": temp, "suppress_invitation": true, "attributes": {"given_name": "Finn"}})),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    let (_, out) = app
        .admin("GET", "/v1/admin/outbox?to=finn@example.com", None)
        .await;
    assert!(
        out["messages"].as_array().unwrap().is_empty(),
        "invitation suppressed"
    );
    let (_, r) = app.sign_in("finn@example.com", temp).await;
    let session = r["challenge"]["session"].as_str().unwrap().to_owned();
    app.clock
        .advance(poolgate::user_pools::auth::CHALLENGE_TTL_SECS + 1);
    let (st, _) = app
        .post(
            &app.pool_path("signin/challenge"),
            challenge_body(&app, &session, "finn's chosen passphrase"),
        )
        .await;
    assert_eq!(st, 401, "the session expired");
    app.clock.advance(7 * 86400);
    let (st, b) = app.sign_in("finn@example.com", temp).await;
    assert_eq!(st, 401);
    assert!(b["detail"].as_str().unwrap().contains("expired"), "{b}");

    // A required attribute the user lacks must be given with the answer.
    app.admin(
        "POST",
        &format!("/v1/admin/pools/{}/users", app.pool_id),
        Some(json!({"username": "gus@example.com", "temporary_password": temp, "suppress_invitation": true, "attributes": {"given_name": "Gus"}})),
    )
    .await;
    app.admin(
        "PATCH",
        &format!("/v1/admin/pools/{}", app.pool_id),
        Some(json!({"required_attributes": ["given_name", "family_name"]})),
    )
    .await;
    let (_, r) = app.sign_in("gus@example.com", temp).await;
    assert!(
        r["challenge"]["parameters"]["requiredAttributes"]
            .as_str()
            .unwrap()
            .contains("family_name"),
        "{r}"
    );
    let session = r["challenge"]["session"].as_str().unwrap().to_owned();
    let path = app.pool_path("signin/challenge");
    let (st, b) = app
        .post(
            &path,
            challenge_body(&app, &session, "gus's chosen passphrase"),
        )
        .await;
    assert_eq!(
        (st, b["code"].as_str()),
        (400, Some("InvalidParameter")),
        "{b}"
    );
    let mut body = challenge_body(&app, &session, "gus's chosen passphrase");
    body["responses"]["userAttributes.family_name"] = json!("Grill");
    let (st, b) = app.post(&path, body).await;
    assert_eq!(st, 200, "{b}");
    let (_, u) = app
        .admin(
            "GET",
            &format!("/v1/admin/pools/{}/users/gus@example.com", app.pool_id),
            None,
        )
        .await;
    assert_eq!(u["attributes"]["family_name"], "Grill");
}

#[tokio::test]
async fn users_are_listed_with_filters_combined_with_and() {
    let app = spawn_app().await;
    app.admin(
        "PATCH",
        &format!("/v1/admin/pools/{}", app.pool_id),
        Some(json!({"custom_attributes": [{"name": "plan"}]})),
    )
    .await;
    for (email, given, plan) in [
        ("alice@example.com", "Alice", Some("pro")),
        ("alfred@example.com", "Alfred", None),
        ("bee@example.com", "B_b%", None),
        ("bxb@example.com", "Bxb", None),
    ] {
        let mut attrs = json!({"given_name": given});
        if let Some(p) = plan {
            attrs["custom:plan"] = json!(p);
        }
        let (st, b) = app
            .post(&app.pool_path("signup"), json!({"client_id": app.client_id, "username": email, "password": PASSWORD, "attributes": attrs}))
            .await;
        assert_eq!(st, 200, "{b}");
        if email != "bxb@example.com" {
            let code = app.last_code(email).await;
            app.confirm(email, &code).await;
        }
    }
    app.admin(
        "POST",
        &format!(
            "/v1/admin/pools/{}/users/alfred@example.com/disable",
            app.pool_id
        ),
        None,
    )
    .await;
    assert_eq!(
        list(&app, r#"given_name ^= "Al""#).await,
        ["alfred@example.com", "alice@example.com"]
    );
    assert_eq!(
        list(&app, r#"given_name ^= "Al" and enabled = "true""#).await,
        ["alice@example.com"]
    );
    assert_eq!(
        list(&app, r#"status = "UNCONFIRMED""#).await,
        ["bxb@example.com"]
    );
    assert_eq!(
        list(&app, r#"custom:plan = "pro""#).await,
        ["alice@example.com"]
    );
    assert_eq!(
        list(&app, r#"email = "alice@example.com""#).await,
        ["alice@example.com"]
    );
    assert_eq!(
        list(&app, r#"given_name ^= "B_""#).await,
        ["bee@example.com"],
        "_ and % are not wildcards"
    );
    assert_eq!(
        list(&app, r#"given_name = "alice""#).await,
        Vec::<String>::new(),
        "exact is exact"
    );
    // Cognito's `username` filter matches the username as stored.
    let (_, alice) = app
        .admin(
            "GET",
            &format!("/v1/admin/pools/{}/users/alice@example.com", app.pool_id),
            None,
        )
        .await;
    let username = alice["username"].as_str().unwrap().to_owned();
    assert_eq!(
        list(&app, &format!(r#"username = "{username}""#)).await,
        ["alice@example.com"]
    );
    assert_eq!(
        list(
            &app,
            &format!(r#"username = "{}""#, username.to_uppercase())
        )
        .await,
        ["alice@example.com"],
        "compared as the pool normalises usernames (case-insensitive here)"
    );

    // Paging keeps the filter.
    let url = format!(
        "/v1/admin/pools/{}/users?limit=1&filter={}",
        app.pool_id,
        urlencode(r#"given_name ^= "Al""#)
    );
    let (_, p1) = app.admin("GET", &url, None).await;
    let (_, p2) = app
        .admin(
            "GET",
            &format!("{url}&after={}", p1["next"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(
        p1["users"].as_array().unwrap().len() + p2["users"].as_array().unwrap().len(),
        2
    );
    assert_ne!(p1["users"][0]["sub"], p2["users"][0]["sub"]);

    for bad in [
        r#"given_name ~ "x""#,
        r#"shoe = "1""#,
        r#"given_name = x"#,
        r#"enabled ^= "t""#,
        r#"given_name = "a" or status = "b""#,
        r#"status = "WEIRD""#,
        "\"",
        r#"given_name = "unterminated"#,
    ] {
        let (st, b) = app
            .admin(
                "GET",
                &format!(
                    "/v1/admin/pools/{}/users?filter={}",
                    app.pool_id,
                    urlencode(bad)
                ),
                None,
            )
            .await;
        assert_eq!(
            (st, b["code"].as_str()),
            (400, Some("InvalidParameter")),
            "{bad}: {b}"
        );
    }
}

/// The emails of the users a filter lists, sorted.
async fn list(app: &TestApp, filter: &str) -> Vec<String> {
    let url = format!(
        "/v1/admin/pools/{}/users?filter={}",
        app.pool_id,
        urlencode(filter)
    );
    let (st, b) = app.admin("GET", &url, None).await;
    assert_eq!(st, 200, "{filter}: {b}");
    let mut emails: Vec<String> = b["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["attributes"]["email"].as_str().unwrap().to_owned())
        .collect();
    emails.sort();
    emails
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

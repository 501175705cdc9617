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

//! Groups and the claims they put in tokens.

use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn tokens_carry_groups_roles_and_the_preferred_role() {
    let app = spawn_app().await;
    let base = format!("/v1/admin/pools/{}/groups", app.pool_id);
    for (name, precedence, role) in [
        ("staff", Some(5), Some("arn:poolgate:role/staff")),
        ("admins", Some(1), Some("arn:poolgate:role/admin")),
        ("beta", None, None),
    ] {
        let (st, g) = app
            .admin(
                "POST",
                &base,
                Some(json!({"name": name, "precedence": precedence, "role_arn": role})),
            )
            .await;
        assert_eq!(st, 201, "{g}");
    }
    let tokens = app.confirmed_user("alice@example.com").await;
    let before = verify_with_jwks(
        tokens["id_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.issuer(),
    );
    assert!(
        before.get("cognito:groups").is_none(),
        "no groups yet: {before}"
    );

    for g in ["beta", "staff", "admins"] {
        let (st, b) = app
            .admin(
                "POST",
                &format!("{base}/{g}/members"),
                Some(json!({"username": "alice@example.com"})),
            )
            .await;
        assert_eq!(st, 204, "{b}");
    }
    let (_, t) = app.sign_in("alice@example.com", PASSWORD).await;
    let jwks = app.jwks().await;
    let id = verify_with_jwks(
        t["tokens"]["id_token"].as_str().unwrap(),
        &jwks,
        &app.issuer(),
    );
    assert_eq!(
        id["cognito:groups"],
        json!(["admins", "staff", "beta"]),
        "precedence order"
    );
    assert_eq!(
        id["cognito:roles"],
        json!(["arn:poolgate:role/admin", "arn:poolgate:role/staff"])
    );
    assert_eq!(
        id["cognito:preferred_role"], "arn:poolgate:role/admin",
        "lowest precedence wins"
    );
    let access = verify_with_jwks(
        t["tokens"]["access_token"].as_str().unwrap(),
        &jwks,
        &app.issuer(),
    );
    assert_eq!(access["cognito:groups"], json!(["admins", "staff", "beta"]));

    // A refresh reads the groups as they are now.
    app.admin(
        "DELETE",
        &format!("{base}/admins/members/alice@example.com"),
        None,
    )
    .await;
    let (st, r) = app
        .refresh(t["tokens"]["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(st, 200, "{r}");
    let id = verify_with_jwks(
        r["tokens"]["id_token"].as_str().unwrap(),
        &jwks,
        &app.issuer(),
    );
    assert_eq!(id["cognito:groups"], json!(["staff", "beta"]));
    assert_eq!(id["cognito:preferred_role"], "arn:poolgate:role/staff");
}

#[tokio::test]
async fn groups_can_be_created_listed_updated_and_deleted() {
    let app = spawn_app().await;
    let base = format!("/v1/admin/pools/{}/groups", app.pool_id);
    let (st, g) = app
        .admin(
            "POST",
            &base,
            Some(json!({"name": "editors", "description": "can edit", "precedence": 3})),
        )
        .await;
    assert_eq!(st, 201, "{g}");
    let (st, b) = app
        .admin("POST", &base, Some(json!({"name": "editors"})))
        .await;
    assert_eq!((st, b["code"].as_str()), (409, Some("Conflict")));
    for bad in [
        json!({"name": ""}),
        json!({"name": "has space"}),
        json!({"name": "x", "precedence": -1}),
        json!({"name": "x", "oops": 1}),
    ] {
        let (st, b) = app.admin("POST", &base, Some(bad.clone())).await;
        assert_eq!(
            (st, b["code"].as_str()),
            (400, Some("InvalidParameter")),
            "{bad}: {b}"
        );
    }
    app.admin("POST", &base, Some(json!({"name": "viewers"})))
        .await;
    let (_, list) = app.admin("GET", &format!("{base}?limit=1"), None).await;
    assert_eq!(list["groups"][0]["name"], "editors");
    let (_, list2) = app
        .admin(
            "GET",
            &format!("{base}?limit=1&after={}", list["next"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(list2["groups"][0]["name"], "viewers");

    let (st, upd) = app
        .admin(
            "PATCH",
            &format!("{base}/editors"),
            Some(json!({"precedence": null, "role_arn": "arn:x"})),
        )
        .await;
    assert_eq!(st, 200, "{upd}");
    assert!(upd["precedence"].is_null());
    assert_eq!(
        (upd["role_arn"].as_str(), upd["description"].as_str()),
        (Some("arn:x"), Some("can edit"))
    );

    app.confirmed_user("bob@example.com").await;
    app.admin(
        "POST",
        &format!("{base}/editors/members"),
        Some(json!({"username": "bob@example.com"})),
    )
    .await;
    let (_, members) = app
        .admin("GET", &format!("{base}/editors/members"), None)
        .await;
    assert_eq!(
        members["users"][0]["attributes"]["email"],
        "bob@example.com"
    );
    let (_, ug) = app
        .admin(
            "GET",
            &format!(
                "/v1/admin/pools/{}/users/bob@example.com/groups",
                app.pool_id
            ),
            None,
        )
        .await;
    assert_eq!(ug["groups"][0]["name"], "editors");
    let (st, _) = app
        .admin(
            "POST",
            &format!("{base}/editors/members"),
            Some(json!({"username": "nobody@example.com"})),
        )
        .await;
    assert_eq!(st, 404);
    let (st, _) = app
        .admin(
            "POST",
            &format!("{base}/nogroup/members"),
            Some(json!({"username": "bob@example.com"})),
        )
        .await;
    assert_eq!(st, 404);

    assert_eq!(
        app.admin("DELETE", &format!("{base}/editors"), None)
            .await
            .0,
        204
    );
    assert_eq!(
        app.admin("GET", &format!("{base}/editors"), None).await.0,
        404
    );
    let (_, ug) = app
        .admin(
            "GET",
            &format!(
                "/v1/admin/pools/{}/users/bob@example.com/groups",
                app.pool_id
            ),
            None,
        )
        .await;
    assert!(ug["groups"].as_array().unwrap().is_empty());
}

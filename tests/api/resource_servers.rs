//! Resource servers (APIs and their custom scopes) on the admin API.

use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn resource_servers_are_managed_with_cognitos_rules() {
    let app = spawn_app().await;
    let base = format!("/v1/admin/pools/{}/resource-servers", app.pool_id);
    let (st, rs) = app
        .admin(
            "POST",
            &base,
            Some(
                json!({"identifier": "https://api.example.com", "name": "Orders API",
                "scopes": [{"name": "orders.read", "description": "Read orders"}]}),
            ),
        )
        .await;
    assert_eq!(st, 201, "{rs}");
    assert_eq!(rs["scopes"][0]["name"], "orders.read");
    let (st, b) = app
        .admin(
            "POST",
            &base,
            Some(json!({"identifier": "https://api.example.com", "name": "Again"})),
        )
        .await;
    assert_eq!((st, b["code"].as_str()), (409, Some("Conflict")), "{b}");

    // The identifier is a path segment once percent-encoded.
    let one = format!("{base}/https%3A%2F%2Fapi.example.com");
    let (st, got) = app.admin("GET", &one, None).await;
    assert_eq!(
        (st, got["name"].as_str()),
        (200, Some("Orders API")),
        "{got}"
    );
    let (st, put) = app
        .admin(
            "PUT",
            &one,
            Some(json!({"name": "Orders", "scopes": [
                {"name": "orders.read", "description": "Read"},
                {"name": "orders.write", "description": "Write"}]})),
        )
        .await;
    assert_eq!(
        (st, put["scopes"].as_array().map(Vec::len)),
        (200, Some(2)),
        "{put}"
    );
    let (st, list) = app.admin("GET", &base, None).await;
    assert_eq!(st, 200);
    assert_eq!(list["resource_servers"][0]["name"], "Orders", "{list}");

    for bad in [
        json!({"identifier": "has space", "name": "x"}),
        json!({"identifier": "a", "name": "x", "scopes": [{"name": "a/b", "description": "d"}]}),
        json!({"identifier": "a", "name": "x", "scopes": [{"name": "s", "description": ""}]}),
        json!({"identifier": "a", "name": "x", "scopes": [
            {"name": "s", "description": "d"}, {"name": "s", "description": "d"}]}),
        json!({"identifier": "a", "name": "<x>"}),
        json!({"name": "no identifier"}),
        json!({"identifier": "a", "name": "x", "extra": 1}),
    ] {
        let (st, b) = app.admin("POST", &base, Some(bad.clone())).await;
        assert_eq!(
            (st, b["code"].as_str()),
            (400, Some("InvalidParameter")),
            "{bad}: {b}"
        );
    }
    let (st, b) = app
        .admin(
            "PUT",
            &one,
            Some(json!({"identifier": "https://other.example", "name": "x"})),
        )
        .await;
    assert_eq!(st, 400, "the identifier cannot change: {b}");

    assert_eq!(app.admin("DELETE", &one, None).await.0, 204);
    assert_eq!(app.admin("GET", &one, None).await.0, 404);
    let (st, _) = app
        .admin(
            "GET",
            "/v1/admin/pools/local-east-1_Missing12/resource-servers",
            None,
        )
        .await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn a_pool_holds_at_most_25_resource_servers() {
    let app = spawn_app().await;
    let base = format!("/v1/admin/pools/{}/resource-servers", app.pool_id);
    for i in 0..25 {
        let (st, b) = app
            .admin(
                "POST",
                &base,
                Some(json!({"identifier": format!("api-{i:02}"), "name": "x"})),
            )
            .await;
        assert_eq!(st, 201, "{b}");
    }
    let (st, b) = app
        .admin(
            "POST",
            &base,
            Some(json!({"identifier": "api-25", "name": "x"})),
        )
        .await;
    assert_eq!(
        (st, b["code"].as_str()),
        (429, Some("LimitExceeded")),
        "{b}"
    );
    let (_, page) = app.admin("GET", &format!("{base}?limit=10"), None).await;
    assert_eq!(page["resource_servers"].as_array().unwrap().len(), 10);
    assert_eq!(page["next"], "api-09", "{page}");
}

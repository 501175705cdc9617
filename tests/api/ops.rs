use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn health_metrics_and_openapi_are_served() {
    let app = spawn_app().await;
    assert_eq!(app.request("GET", "/health/live", None, None).await.0, 200);
    assert_eq!(app.request("GET", "/health/ready", None, None).await.0, 200);
    app.sign_in("nobody@example.com", PASSWORD).await;
    let resp = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = resp.text().await.unwrap();
    assert!(text.contains("http_requests_total{"), "{text}");
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "latency histogram"
    );
    assert!(
        text.contains("poolgate_signin_total{outcome=\"failed\"}"),
        "sign-in outcomes"
    );

    let (st, doc) = app.request("GET", "/openapi.json", None, None).await;
    assert_eq!(st, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with('3'));
    for p in [
        "/v1/pools/{pool_id}/signup",
        "/v1/pools/{pool_id}/signin",
        "/v1/me",
        "/v1/admin/pools",
        "/{pool_id}/.well-known/jwks.json",
    ] {
        assert!(doc["paths"].get(p).is_some(), "openapi lacks {p}");
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let resp = app
        .http
        .get(format!("{}/health/live", app.base))
        .send()
        .await
        .unwrap();
    assert!(uuid::Uuid::parse_str(resp.headers()["x-request-id"].to_str().unwrap()).is_ok());
    let resp = app
        .http
        .get(format!("{}/health/live", app.base))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["x-request-id"],
        "abc-123",
        "a caller's id is kept"
    );
}

#[tokio::test]
async fn a_saturated_hash_pool_answers_503_with_retry_after() {
    // One worker, no waiting room, deliberately slow hashes.
    let app = spawn_app_with(|s| {
        s.argon2.workers = 1;
        s.argon2.queue = 0;
        s.argon2.memory_kib = 16 * 1024;
        s.argon2.iterations = 8;
    })
    .await;
    let body =
        json!({"client_id": app.client_id, "username": "x@example.com", "password": PASSWORD});
    let path = app.pool_path("signin");
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let (http, url, body) = (
            app.http.clone(),
            format!("{}{}", app.base, path),
            body.clone(),
        );
        set.spawn(async move { http.post(url).json(&body).send().await.unwrap() });
    }
    let mut busy = 0;
    let mut answered = 0;
    while let Some(r) = set.join_next().await {
        let r = r.unwrap();
        match r.status().as_u16() {
            503 => {
                assert_eq!(r.headers()["retry-after"], "1");
                assert_eq!(r.headers()["content-type"], "application/problem+json");
                let b: serde_json::Value = r.json().await.unwrap();
                assert_eq!(b["code"], "TooManyRequests");
                busy += 1;
            }
            401 => answered += 1,
            s => panic!("unexpected status {s}"),
        }
    }
    assert!(
        busy >= 1 && answered >= 1,
        "busy={busy} answered={answered}"
    );
}

#[tokio::test]
async fn the_schema_version_and_the_master_key_are_checked_at_start() {
    let app = spawn_app().await;
    let settings = app.state.settings.clone();
    // Another master key on the same database is refused.
    let other = poolgate::crypto::MasterKey::generate();
    let err = poolgate::app::open_store(&settings, &other, true)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("another master key"), "{err}");
    // A schema newer than the binary is refused.
    sqlx_exec(
        &app,
        "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) \
         VALUES (999999, 'from the future', CURRENT_TIMESTAMP, TRUE, X'00', 0)",
    )
    .await;
    let err = poolgate::app::open_store(&settings, &other, true)
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("newer than this poolgate binary"),
        "{err}"
    );
}

async fn sqlx_exec(app: &TestApp, sql: &str) {
    let url = &app.state.settings.database.url;
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&pool)
            .await
            .unwrap();
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql.replace("X'00'", "'\\x00'::bytea")))
            .execute(&pool)
            .await
            .unwrap();
    }
}

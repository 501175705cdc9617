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

/// The `http_request*` series of a scrape (name and labels, no value).
fn http_series(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with("http_request"))
        .filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series))
        .collect()
}

/// The values of `label` across the `http_request*` series.
fn label_values<'a>(series: &[&'a str], label: &str) -> std::collections::BTreeSet<&'a str> {
    let key = format!("{label}=\"");
    series
        .iter()
        .filter_map(|s| s.split_once(key.as_str()).map(|(_, rest)| rest))
        .filter_map(|rest| rest.split_once('"').map(|(v, _)| v))
        .collect()
}

/// The bytes of the series an anonymous client inventing methods and paths
/// can reach: an unknown method, or no route.
fn anonymous_series_bytes(text: &str) -> usize {
    text.lines()
        .filter(|l| l.contains("method=\"other\"") || l.contains("route=\"unmatched\""))
        .map(|l| l.len() + 1)
        .sum()
}

/// Sends `n` requests with random methods (upper-case tokens) and random
/// paths, some under real route templates; returns every token used.
async fn random_requests(app: &TestApp, n: usize) -> std::collections::HashSet<String> {
    use rand::Rng;
    let mut used = std::collections::HashSet::new();
    let mut batch = tokio::task::JoinSet::new();
    let word = |rng: &mut rand::rngs::ThreadRng, len: usize, upper: bool| -> String {
        (0..len)
            .map(|_| {
                let c = rng.random_range(b'a'..=b'z') as char;
                if upper { c.to_ascii_uppercase() } else { c }
            })
            .collect()
    };
    for i in 0..n {
        let (method, path) = {
            let mut rng = rand::rng();
            let len = rng.random_range(5..12);
            let method = word(&mut rng, len, true);
            let seg = word(&mut rng, 10, false);
            let path = match i % 4 {
                0 => format!("/{seg}/{}", word(&mut rng, 6, false)),
                1 => format!("/v1/pools/{seg}/signin"),
                2 => format!("/{seg}/login"),
                _ => format!("/v1/{seg}?{}={seg}", word(&mut rng, 4, false)),
            };
            used.insert(method.clone());
            used.insert(seg);
            (method, path)
        };
        let (http, url) = (app.http.clone(), format!("{}{path}", app.base));
        batch.spawn(async move {
            let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            http.request(m, url).send().await.unwrap().status().as_u16()
        });
        if batch.len() >= 16 {
            let st = batch.join_next().await.unwrap().unwrap();
            assert!((400..500).contains(&st), "status {st}");
        }
    }
    while let Some(st) = batch.join_next().await {
        let st = st.unwrap();
        assert!((400..500).contains(&st), "status {st}");
    }
    used
}

#[tokio::test]
async fn metrics_labels_stay_bounded_under_random_methods_and_paths() {
    let app = spawn_app().await;
    let scrape = || async {
        let r = app
            .http
            .get(format!("{}/metrics", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    };
    // Warm-up: every (method label, route, status) an anonymous client can
    // reach exists after this.
    random_requests(&app, 1_000).await;
    let before = scrape().await;
    let used = random_requests(&app, 10_000).await;
    let after = scrape().await;
    // The series anonymous traffic reaches did not grow with 10,000 more
    // requests (other tests in this process may add a few of their own:
    // well under the bound; one new series per request would add megabytes).
    let (b, a) = (
        anonymous_series_bytes(&before),
        anonymous_series_bytes(&after),
    );
    eprintln!(
        "series reachable anonymously: {b} -> {a} bytes; /metrics: {} -> {} bytes",
        before.len(),
        after.len()
    );
    assert!(
        a <= b + 64 * 1024,
        "series reachable by anonymous clients grew from {b} to {a} bytes"
    );
    let series = http_series(&after);
    let methods = label_values(&series, "method");
    let known = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "other",
    ];
    let unknown: Vec<&&str> = methods.iter().filter(|m| !known.contains(m)).collect();
    assert!(
        unknown.is_empty(),
        "{} method labels outside the fixed set, e.g. {:?}",
        unknown.len(),
        &unknown[..unknown.len().min(5)]
    );
    for route in label_values(&series, "route") {
        assert!(
            route == "unmatched" || route.starts_with('/'),
            "route label {route}"
        );
        assert!(
            !used.iter().any(|t| route.contains(t.as_str())),
            "a client's path became a route label: {route}"
        );
    }
}

#[tokio::test]
async fn production_metrics_need_the_admin_key() {
    let app = spawn_app_with(|s| s.mode = poolgate::config::Mode::Production).await;
    let url = format!("{}/metrics", app.base);
    let r = app.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let b: serde_json::Value = r.json().await.unwrap();
    assert_eq!(b["code"], "Unauthenticated");
    let r = app
        .http
        .get(&url)
        .bearer_auth("not-the-admin-key-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a wrong key");
    // A user's access token is not an admin key.
    let tokens = app.confirmed_user("metrics@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    let r = app.http.get(&url).bearer_auth(access).send().await.unwrap();
    assert_eq!(r.status(), 401, "an access token");
    let r = app
        .http
        .get(&url)
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("http_requests_total"));
    // Health stays open: load balancers probe it without a key.
    assert_eq!(app.request("GET", "/health/ready", None, None).await.0, 200);
}

#[tokio::test]
async fn metrics_bind_serves_metrics_on_their_own_listener_only() {
    let app = spawn_app_with(|s| s.metrics.bind = "127.0.0.1:0".into()).await;
    assert!(!app.metrics.ends_with(":0"), "a metrics listener is bound");
    let r = app
        .http
        .get(format!("{}/metrics", app.metrics))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(r.text().await.unwrap().contains("# TYPE"));
    // Nothing else there, and no /metrics on the public listener, even with the key.
    for path in ["/health/live", "/v1/admin/pools", "/openapi.json"] {
        let r = app
            .http
            .get(format!("{}{path}", app.metrics))
            .bearer_auth(&app.admin_key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path} on the metrics listener");
    }
    let r = app
        .http
        .get(format!("{}/metrics", app.base))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    // The operator may open it on the public listener anyway.
    let app = spawn_app_with(|s| {
        s.metrics.bind = "127.0.0.1:0".into();
        s.metrics.public = Some(poolgate::config::MetricsAccess::Open);
    })
    .await;
    let r = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

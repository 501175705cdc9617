use poolgate::app::{AppState, Application};
use poolgate::clock::{ManualClock, SharedClock};
use poolgate::config::{MailerKind, Mode, Settings};
use poolgate::crypto::{MasterKey, SecretString};
use poolgate::store::SharedStore;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

pub const PASSWORD: &str = "correct horse battery staple";
pub const ISSUER_BASE: &str = "http://poolgate.test";

/// A fresh database URL: a SQLite file in `dir`, or a new schema in the
/// PostgreSQL database named by `POOLGATE_TEST_DATABASE_URL`.
pub async fn fresh_database(dir: &std::path::Path) -> String {
    match std::env::var("POOLGATE_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => {
            let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
            let pool = sqlx::PgPool::connect(&url)
                .await
                .expect("connect to POOLGATE_TEST_DATABASE_URL");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&pool)
                .await
                .expect("create schema");
            pool.close().await;
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}options[search_path]={schema}")
        }
        _ => format!("sqlite://{}/poolgate.db", dir.display()),
    }
}

pub fn test_settings(dir: &std::path::Path, db_url: String) -> Settings {
    let mut s = Settings {
        mode: Mode::Development,
        ..Settings::default()
    };
    s.server.bind = "127.0.0.1:0".into();
    s.server.public_url = ISSUER_BASE.into();
    s.server.data_dir = dir.to_path_buf();
    s.database.url = db_url;
    s.database.max_connections = 8;
    s.mailer.kind = MailerKind::Dev;
    // Cheap hashing keeps debug test runs fast; the code path is the same.
    s.argon2.memory_kib = 256;
    s.argon2.iterations = 1;
    s.argon2.workers = 2;
    s.argon2.queue = 256;
    s.storage.bind = "127.0.0.1:0".into();
    s.storage.root = dir.join("s3");
    s.storage.buckets = vec!["photos".into(), "public".into()];
    s
}

pub struct TestApp {
    pub base: String,
    /// The S3 gateway's base URL.
    pub s3: String,
    /// The metrics listener's base URL (port 0 when `metrics.bind` is empty).
    pub metrics: String,
    pub http: reqwest::Client,
    pub admin_key: String,
    pub clock: ManualClock,
    pub state: AppState,
    pub store: SharedStore,
    pub pool_id: String,
    pub client_id: String,
    pub _dir: tempfile::TempDir,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Boots the real app; `tweak` may change the settings first. Creates a pool
/// (email as username) and a public client.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    poolgate::telemetry::init_logging("pretty", "warn");
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(dir.path()).await;
    let mut settings = test_settings(dir.path(), url);
    tweak(&mut settings);
    let admin_key = "test-admin-key-0123456789abcdef".to_owned();
    // A master key set by `tweak` is used (a test that runs the CLI against
    // the same database needs it); otherwise a fresh one.
    let master = match &settings.security.master_key {
        Some(k) => MasterKey::from_hex(k.expose()).expect("hex master key"),
        None => MasterKey::generate(),
    };
    let store = poolgate::app::open_store(&settings, &master, true)
        .await
        .expect("store");
    let clock = ManualClock::new();
    let shared: SharedClock = Arc::new(clock.clone());
    let state = poolgate::app::build_state_with(
        settings,
        shared,
        store.clone(),
        &master,
        vec![SecretString::new(admin_key.clone())],
    )
    .await
    .expect("state");
    let app = Application::with_state(state.clone()).await.expect("bind");
    let base = format!("http://127.0.0.1:{}", app.port());
    let s3 = format!("http://127.0.0.1:{}", app.storage_port());
    let metrics = format!("http://127.0.0.1:{}", app.metrics_port());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut t = TestApp {
        base,
        s3,
        metrics,
        http,
        admin_key,
        clock,
        state,
        store,
        pool_id: String::new(),
        client_id: String::new(),
        _dir: dir,
        _shutdown: tx,
    };
    let (st, pool) = t
        .admin(
            "POST",
            "/v1/admin/pools",
            Some(json!({"name": "test", "username_attributes": ["email"]})),
        )
        .await;
    assert_eq!(st, 201, "{pool}");
    t.pool_id = pool["id"].as_str().unwrap().to_owned();
    let (st, client) = t
        .admin(
            "POST",
            &format!("/v1/admin/pools/{}/clients", t.pool_id),
            Some(json!({"name": "web", "refresh_token_rotation": true})),
        )
        .await;
    assert_eq!(st, 201, "{client}");
    t.client_id = client["client_id"].as_str().unwrap().to_owned();
    t
}

impl TestApp {
    pub fn issuer(&self) -> String {
        format!("{ISSUER_BASE}/{}", self.pool_id)
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        bearer: Option<&str>,
    ) -> (u16, Value) {
        let mut r = self
            .http
            .request(method.parse().unwrap(), format!("{}{}", self.base, path));
        if let Some(b) = body {
            r = r.json(&b);
        }
        if let Some(t) = bearer {
            r = r.bearer_auth(t);
        }
        let resp = r.send().await.expect("request");
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = resp.text().await.unwrap();
        if status >= 400 {
            assert_eq!(
                ct, "application/problem+json",
                "error without problem+json: {status} {text}"
            );
        }
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.request("POST", path, Some(body), None).await
    }

    /// `AWSCognitoIdentityService.{op}` on the Cognito protocol (`POST /`,
    /// unsigned: the public identity operations).
    pub async fn cognito_identity(&self, op: &str, body: Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}/", self.base))
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", format!("AWSCognitoIdentityService.{op}"))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        )
    }

    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.request(method, path, body, Some(&self.admin_key.clone()))
            .await
    }

    pub fn pool_path(&self, tail: &str) -> String {
        format!("/v1/pools/{}/{}", self.pool_id, tail)
    }

    pub async fn sign_up(&self, email: &str, password: &str) -> (u16, Value) {
        self.post(
            &self.pool_path("signup"),
            json!({"client_id": self.client_id, "username": email, "password": password}),
        )
        .await
    }

    /// Lets the test client use `USER_AUTH` (with password and refresh).
    pub async fn allow_user_auth(&self) {
        let (st, b) = self
            .admin(
                "PATCH",
                &format!(
                    "/v1/admin/pools/{}/clients/{}",
                    self.pool_id, self.client_id
                ),
                Some(json!({"explicit_auth_flows": ["ALLOW_USER_AUTH",
                    "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]})),
            )
            .await;
        assert_eq!(st, 200, "{b}");
    }

    /// The body of the newest message mailed to `to` (dev outbox).
    pub async fn last_mail(&self, to: &str) -> String {
        let (st, out) = self
            .admin("GET", &format!("/v1/admin/outbox?to={to}"), None)
            .await;
        assert_eq!(st, 200, "{out}");
        out["messages"][0]["body"]
            .as_str()
            .unwrap_or_else(|| panic!("no message to {to}: {out}"))
            .to_owned()
    }

    /// The newest code mailed to `to`, read from the dev outbox.
    pub async fn last_code(&self, to: &str) -> String {
        let (st, out) = self
            .admin("GET", &format!("/v1/admin/outbox?to={to}"), None)
            .await;
        assert_eq!(st, 200, "{out}");
        let body = out["messages"][0]["body"]
            .as_str()
            .unwrap_or_else(|| panic!("no message to {to}: {out}"));
        body.split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .expect("a 6-digit code")
            .to_owned()
    }

    pub async fn confirm(&self, email: &str, code: &str) -> (u16, Value) {
        self.post(
            &self.pool_path("signup/confirm"),
            json!({"client_id": self.client_id, "username": email, "code": code}),
        )
        .await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> (u16, Value) {
        self.post(
            &self.pool_path("signin"),
            json!({"client_id": self.client_id, "username": email, "password": password}),
        )
        .await
    }

    /// Answers a sign-in challenge (`signin/challenge`).
    pub async fn answer_challenge(
        &self,
        name: &str,
        session: impl serde::Serialize,
        responses: Value,
    ) -> (u16, Value) {
        self.post(
            &self.pool_path("signin/challenge"),
            json!({"client_id": self.client_id, "challenge_name": name, "session": session,
                "responses": responses}),
        )
        .await
    }

    pub async fn refresh(&self, token: &str) -> (u16, Value) {
        self.post(
            &self.pool_path("token/refresh"),
            json!({"client_id": self.client_id, "refresh_token": token}),
        )
        .await
    }

    /// Signs up, confirms and signs in; returns the token set.
    pub async fn confirmed_user(&self, email: &str) -> Value {
        let (st, body) = self.sign_up(email, PASSWORD).await;
        assert_eq!(st, 200, "{body}");
        let code = self.last_code(email).await;
        let (st, body) = self.confirm(email, &code).await;
        assert_eq!(st, 200, "{body}");
        let (st, body) = self.sign_in(email, PASSWORD).await;
        assert_eq!(st, 200, "{body}");
        body["tokens"].clone()
    }

    pub async fn jwks(&self) -> Value {
        let (st, jwks) = self
            .request(
                "GET",
                &format!("/{}/.well-known/jwks.json", self.pool_id),
                None,
                None,
            )
            .await;
        assert_eq!(st, 200);
        jwks
    }
}

/// Verifies a token against the published JWKS with an independent code path
/// (jsonwebtoken's own JWK handling), returning its claims.
pub fn verify_with_jwks(token: &str, jwks: &Value, issuer: &str) -> Value {
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwk = set
        .find(header.kid.as_deref().unwrap())
        .expect("kid in JWKS");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.validate_aud = false;
    v.set_issuer(&[issuer]);
    jsonwebtoken::decode::<Value>(token, &key, &v)
        .expect("valid token")
        .claims
}

/// The headers AWS's own signer (`aws-sigv4`, the SDKs') adds to a `POST /` to `host` carrying
/// `headers` and `body`, signed at `now` with the admin credential and `secret`, scoped to
/// `region`/`service`: `x-amz-date` and `authorization`. `headers`, `host` and `x-amz-date` are
/// signed, except those named in `leave_out`.
pub fn aws_signed_headers(
    host: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    secret: &str,
    (region, service): (&str, &str),
    now: i64,
    leave_out: &[&str],
) -> Vec<(String, String)> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let identity = aws_credential_types::Credentials::new(
        poolgate::http::sigv4::ADMIN_ACCESS_KEY_ID,
        secret,
        None,
        None,
        "tests",
    )
    .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(std::time::UNIX_EPOCH + Duration::from_secs(now as u64))
        .settings({
            let mut settings = SigningSettings::default();
            let leave_out = leave_out.iter().map(|h| h.to_string().into());
            settings.excluded_headers = Some(leave_out.collect());
            settings
        })
        .build()
        .expect("signing params")
        .into();
    let mut sent = vec![("host", host)];
    sent.extend_from_slice(headers);
    let signable = SignableRequest::new(
        "POST",
        format!("http://{host}/"),
        sent.into_iter(),
        SignableBody::Bytes(body),
    )
    .expect("signable request");
    let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
    instructions
        .headers()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

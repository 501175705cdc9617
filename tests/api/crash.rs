//! SIGKILL in the middle of sign-ups: no confirmed user is lost and no user
//! is left half-created (a user row without its alias or its code).

use crate::helpers::*;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const POOL: &str = "local-east-1_DemoPool1";
const CLIENT: &str = "democlient0000000000000001";
const ADMIN: &str = "crash-test-admin-key-0123456789";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(dir: &std::path::Path, db: &str, port: u16, master_hex: &str) -> Child {
    start_with(
        dir,
        db,
        port,
        master_hex,
        &[
            ("POOLGATE_ARGON2__MEMORY_KIB", "256"),
            ("POOLGATE_ARGON2__ITERATIONS", "1"),
            // Bursts of sign-ups from one address are the point here.
            ("POOLGATE_RATE_LIMITS__ENABLED", "false"),
        ],
    )
}

fn start_with(
    dir: &std::path::Path,
    db: &str,
    port: u16,
    master_hex: &str,
    extra: &[(&str, &str)],
) -> Child {
    Command::new(env!("CARGO_BIN_EXE_poolgate"))
        .arg("serve")
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("POOLGATE_SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("POOLGATE_SERVER__DATA_DIR", dir.join("data"))
        .env("POOLGATE_DATABASE__URL", db)
        .env("POOLGATE_SECURITY__ADMIN_KEYS", ADMIN)
        .env("POOLGATE_SECURITY__MASTER_KEY", master_hex)
        .env("POOLGATE_LOG__LEVEL", "warn")
        .env("POOLGATE_STORAGE__ENABLED", "false")
        .envs(extra.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start poolgate")
}

async fn wait_ready(http: &reqwest::Client, base: &str) {
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{base}/health/ready")).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server did not become ready");
}

async fn post(http: &reqwest::Client, url: String, body: Value) -> Option<(u16, Value)> {
    let r = http.post(url).json(&body).send().await.ok()?;
    let st = r.status().as_u16();
    Some((st, r.json().await.unwrap_or(Value::Null)))
}

async fn code_for(http: &reqwest::Client, base: &str, email: &str) -> Option<String> {
    let r = http
        .get(format!("{base}/v1/admin/outbox?to={email}"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .ok()?;
    let v: Value = r.json().await.ok()?;
    let body = v["messages"][0]["body"].as_str()?.to_owned();
    body.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .map(String::from)
}

/// Sign-up then confirmation; returns the email when the confirmation was
/// acknowledged.
async fn sign_up_and_confirm(http: reqwest::Client, base: String, email: String) -> Option<String> {
    let body = json!({"client_id": CLIENT, "username": email, "password": PASSWORD});
    let (st, _) = post(&http, format!("{base}/v1/pools/{POOL}/signup"), body).await?;
    if st != 200 {
        return None;
    }
    let code = code_for(&http, &base, &email).await?;
    let body = json!({"client_id": CLIENT, "username": email, "code": code});
    let (st, _) = post(
        &http,
        format!("{base}/v1/pools/{POOL}/signup/confirm"),
        body,
    )
    .await?;
    (st == 200).then_some(email)
}

#[tokio::test]
async fn sigkill_mid_sign_up_loses_no_confirmed_user_and_leaves_no_half_created_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database(dir.path()).await;
    let master = poolgate::crypto::MasterKey::generate();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut child = start(dir.path(), &db, port, &master.to_hex());
    wait_ready(&http, &base).await;

    let mut confirmed = vec![];
    for i in 0..3 {
        confirmed.push(
            sign_up_and_confirm(http.clone(), base.clone(), format!("before{i}@example.com"))
                .await
                .expect("confirmed"),
        );
    }

    // A burst of sign-ups, killed while in flight.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..60 {
        set.spawn(sign_up_and_confirm(
            http.clone(),
            base.clone(),
            format!("burst{i}@example.com"),
        ));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    while let Some(r) = set.join_next().await {
        if let Some(email) = r.unwrap() {
            confirmed.push(email);
        }
    }

    let mut child = start(dir.path(), &db, port, &master.to_hex());
    wait_ready(&http, &base).await;
    for email in &confirmed {
        let (st, body) = post(
            &http,
            format!("{base}/v1/pools/{POOL}/signin"),
            json!({"client_id": CLIENT, "username": email, "password": PASSWORD}),
        )
        .await
        .unwrap();
        assert_eq!(st, 200, "{email} was confirmed before the crash: {body}");
    }
    let _ = child.kill();
    let _ = child.wait();

    // Every stored user is whole: its email alias exists, and an unconfirmed
    // user still has the code that was mailed to it.
    let mut s = test_settings(dir.path(), db.clone());
    s.database.auto_migrate = false;
    let store = poolgate::app::open_store(&s, &master, false).await.unwrap();
    let users = store.list_users(POOL, None, None, 1000).await.unwrap();
    assert!(users.len() >= confirmed.len());
    for u in &users {
        let aliases = store.user_aliases(POOL, &u.sub).await.unwrap();
        assert_eq!(aliases.len(), 1, "user {} has aliases {aliases:?}", u.sub);
        assert_eq!(Some(&aliases[0].value), u.attributes.get("email"));
        match u.status {
            poolgate::model::UserStatus::Unconfirmed => {
                let code = store
                    .get_code(POOL, &u.sub, poolgate::model::CodePurpose::Signup)
                    .await
                    .unwrap();
                assert!(code.is_some(), "unconfirmed user {} lost its code", u.sub);
            }
            poolgate::model::UserStatus::Confirmed => {
                assert_eq!(
                    u.attributes.get("email_verified").map(String::as_str),
                    Some("true")
                );
            }
            other => panic!("unexpected status {other:?}"),
        }
    }
}

#[tokio::test]
async fn sigterm_drains_in_flight_requests_and_exits_cleanly() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database(dir.path()).await;
    let master = poolgate::crypto::MasterKey::generate();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut child = start(dir.path(), &db, port, &master.to_hex());
    wait_ready(&http, &base).await;

    // A request whose headers and half of whose body have arrived: it is in
    // flight, deterministically, when SIGTERM is delivered.
    let body = json!({"client_id": CLIENT, "username": "term@example.com", "password": PASSWORD})
        .to_string();
    let (head, tail) = body.split_at(body.len() / 2);
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let req = format!(
        "POST /v1/pools/{POOL}/signup HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{head}",
        body.len()
    );
    conn.write_all(req.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    tokio::time::sleep(Duration::from_millis(200)).await;
    conn.write_all(tail.as_bytes()).await.unwrap();
    let mut resp = String::new();
    conn.read_to_string(&mut resp).await.unwrap();
    assert!(
        resp.starts_with("HTTP/1.1 200"),
        "the in-flight request was answered: {resp}"
    );

    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
    // It has stopped: new connections are refused.
    assert!(
        http.get(format!("{base}/health/live"))
            .send()
            .await
            .is_err()
    );
}

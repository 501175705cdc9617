//! The command line drives the same services as the admin API.

use crate::helpers::*;
use serde_json::Value;
use std::process::Command;

struct Cli {
    dir: tempfile::TempDir,
    db: String,
    master: String,
}

impl Cli {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = fresh_database(dir.path()).await;
        Self {
            dir,
            db,
            master: poolgate::crypto::MasterKey::generate().to_hex(),
        }
    }

    fn run(&self, args: &[&str]) -> (bool, String, String) {
        self.run_with(args, &[])
    }

    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_poolgate"))
            .args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("POOLGATE_DATABASE__URL", &self.db)
            .env("POOLGATE_SERVER__DATA_DIR", self.dir.path().join("data"))
            .env("POOLGATE_SECURITY__MASTER_KEY", &self.master)
            .env(
                "POOLGATE_SECURITY__ADMIN_KEYS",
                "cli-test-admin-key-0123456789",
            )
            .env("POOLGATE_ARGON2__MEMORY_KIB", "256")
            .env("POOLGATE_ARGON2__ITERATIONS", "1")
            .env("POOLGATE_LOG__LEVEL", "error")
            .env("POOLGATE_STORAGE__ENABLED", "false")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn json(&self, args: &[&str]) -> Value {
        let (ok, out, err) = self.run(args);
        assert!(ok, "poolgate {args:?} failed: {err}");
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("poolgate {args:?} printed no JSON ({e}): {out}"))
    }
}

#[tokio::test]
async fn the_cli_manages_pools_clients_and_keys() {
    let cli = Cli::new().await;
    let (ok, out, _) = cli.run(&["migrate"]);
    assert!(ok && out.contains("migrations applied"));

    let pool = cli.json(&[
        "admin",
        "pool",
        "create",
        "--name",
        "cli-pool",
        "--settings",
        r#"{"username_attributes":["email"]}"#,
    ]);
    let id = pool["id"].as_str().unwrap();
    assert_eq!(pool["username_attributes"][0], "email");

    let client = cli.json(&[
        "admin", "client", "create", "--pool", id, "--name", "backend", "--secret",
    ]);
    let cid = client["client_id"].as_str().unwrap();
    assert_eq!(client["client_secret"].as_str().unwrap().len(), 51);
    assert_eq!(
        cli.json(&["admin", "client", "list", "--pool", id])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let got = cli.json(&["admin", "client", "get", "--pool", id, cid]);
    assert_eq!(got["client_secret"], client["client_secret"]);
    let upd = cli.json(&[
        "admin",
        "client",
        "update",
        "--pool",
        id,
        cid,
        "--patch",
        r#"{"refresh_token_rotation":true}"#,
    ]);
    assert_eq!(upd["refresh_token_rotation"], true);

    let list = cli.json(&["admin", "pool", "list"]);
    assert!(list.as_array().unwrap().iter().any(|p| p["id"] == id));
    let upd = cli.json(&[
        "admin",
        "pool",
        "update",
        id,
        "--patch",
        r#"{"password_policy":{"min_length":20}}"#,
    ]);
    assert_eq!(upd["password_policy"]["min_length"], 20);
    assert_eq!(cli.json(&["admin", "pool", "get", id])["name"], "cli-pool");

    let rotated = cli.json(&["keys", "rotate", "--pool", id]);
    assert!(rotated["kid"].is_string());

    // Errors exit non-zero with the domain's words.
    let (ok, _, err) = cli.run(&["admin", "pool", "get", "local-east-1_Missing12"]);
    assert!(!ok && err.contains("ResourceNotFound"), "{err}");
    let (ok, _, err) = cli.run(&["admin", "pool", "update", id, "--patch", "{not json"]);
    assert!(!ok && err.contains("--patch"), "{err}");

    // Users and groups: a user signed up through the service, managed from the CLI.
    cli.json(&[
        "admin",
        "group",
        "create",
        "--pool",
        id,
        "--name",
        "ops",
        "--precedence",
        "1",
        "--role-arn",
        "arn:ops",
    ]);
    assert_eq!(
        cli.json(&["admin", "group", "list", "--pool", id])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let state = {
        let mut s = test_settings(cli.dir.path(), cli.db.clone());
        s.security.master_key = Some(poolgate::crypto::SecretString::new(cli.master.clone()));
        s.security.admin_keys = vec![poolgate::crypto::SecretString::new(
            "cli-test-admin-key-0123456789",
        )];
        poolgate::app::build_state(s, std::sync::Arc::new(poolgate::clock::SystemClock))
            .await
            .unwrap()
    };
    let c = state
        .pools
        .create_client(
            &poolgate::audit::AdminCtx::cli("cli-test"),
            id,
            serde_json::from_value(serde_json::json!({"name": "web"})).unwrap(),
        )
        .await
        .unwrap();
    state
        .pools
        .sign_up(id, serde_json::from_value(serde_json::json!({"client_id": c.id, "username": "cli@example.com", "password": PASSWORD})).unwrap())
        .await
        .unwrap();
    let u = cli.json(&["admin", "user", "confirm", "--pool", id, "cli@example.com"]);
    assert_eq!(u["status"], "CONFIRMED");
    assert_eq!(
        cli.json(&["admin", "user", "list", "--pool", id])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    cli.json(&[
        "admin",
        "group",
        "add",
        "--pool",
        id,
        "ops",
        "cli@example.com",
    ]);
    assert_eq!(
        cli.json(&["admin", "user", "disable", "--pool", id, "cli@example.com"])["enabled"],
        false
    );
    assert_eq!(
        cli.json(&["admin", "user", "enable", "--pool", id, "cli@example.com"])["enabled"],
        true
    );
    let (ok, _, err) = cli.run(&[
        "admin",
        "user",
        "set-password",
        "--pool",
        id,
        "cli@example.com",
    ]);
    assert!(!ok && err.contains("POOLGATE_NEW_PASSWORD"), "{err}");
    let temp = [("POOLGATE_NEW_PASSWORD", "a temporary passphrase from ops")];
    let (ok, out, err) = cli.run_with(
        &[
            "admin",
            "user",
            "set-password",
            "--temporary",
            "--pool",
            id,
            "cli@example.com",
        ],
        &temp,
    );
    assert!(ok, "{err}");
    assert!(out.contains("FORCE_CHANGE_PASSWORD"), "{out}");
    let (ok, out, err) = cli.run_with(
        &[
            "admin",
            "user",
            "set-password",
            "--pool",
            id,
            "cli@example.com",
        ],
        &temp,
    );
    assert!(ok && out.contains("\"CONFIRMED\""), "{out} {err}");
    let found = cli.json(&[
        "admin",
        "user",
        "list",
        "--pool",
        id,
        "--filter",
        "email ^= \"cli@\" and status = \"CONFIRMED\"",
    ]);
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    let none = cli.json(&[
        "admin",
        "user",
        "list",
        "--pool",
        id,
        "--filter",
        "email ^= \"zed\"",
    ]);
    assert_eq!(none, serde_json::json!([]));
    let events = cli.json(&["admin", "user", "events", "--pool", id, "cli@example.com"]);
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "SignUp"),
        "{events}"
    );
    cli.json(&[
        "admin",
        "group",
        "remove",
        "--pool",
        id,
        "ops",
        "cli@example.com",
    ]);
    cli.json(&["admin", "user", "delete", "--pool", id, "cli@example.com"]);
    cli.json(&["admin", "group", "delete", "--pool", id, "ops"]);

    // Roles and identity pools.
    let policy = cli.dir.path().join("policy.json");
    std::fs::write(
        &policy,
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}"#,
    )
    .unwrap();
    let policy = policy.to_str().unwrap();
    let role = cli.json(&[
        "admin",
        "role",
        "create",
        "--name",
        "reader",
        "--policy-file",
        policy,
    ]);
    assert_eq!(role["arn"], "arn:aws:iam::000000000000:role/reader");
    std::fs::write(
        cli.dir.path().join("bad.json"),
        r#"{"Version": "2012-10-17", "Statement": []}"#,
    )
    .unwrap();
    let bad = cli.dir.path().join("bad.json");
    let (ok, _, err) = cli.run(&[
        "admin",
        "role",
        "create",
        "--name",
        "bad",
        "--policy-file",
        bad.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("InvalidParameter"), "{err}");
    let settings = format!(
        r#"{{"providers": [{{"type": "user_pool", "pool_id": "{id}", "client_ids": ["{}"]}}], "authenticated_role": "reader"}}"#,
        c.id
    );
    let ip = cli.json(&[
        "admin",
        "identity-pool",
        "create",
        "--name",
        "photos",
        "--settings",
        &settings,
    ]);
    let ip_id = ip["id"].as_str().unwrap();
    // (The default config also declares the demo identity pool.)
    let listed = cli.json(&["admin", "identity-pool", "list"]);
    assert!(
        listed.as_array().unwrap().iter().any(|p| p["id"] == ip_id),
        "{listed}"
    );
    assert_eq!(
        cli.json(&["admin", "identity-pool", "get", ip_id])["authenticated_role"],
        "reader"
    );
    // The operator's check for the linking hole (I2): nothing to report
    // here; an unknown identity pool is an error.
    let check = cli.json(&["admin", "identity-pool", "check-links", ip_id]);
    assert_eq!(check["count"], 0, "{check}");
    assert_eq!(check["identities"], serde_json::json!([]));
    assert_eq!(
        cli.json(&["admin", "identity-pool", "check-links"])["count"],
        0
    );
    let (ok, _, err) = cli.run(&["admin", "identity-pool", "check-links", "nope:x"]);
    assert!(!ok && err.contains("ResourceNotFound"), "{err}");
    cli.json(&["admin", "identity-pool", "delete", ip_id]);
    cli.json(&["admin", "role", "delete", "reader"]);
    let roles = cli.json(&["admin", "role", "list"]);
    assert!(
        roles
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["name"] != "reader"),
        "{roles}"
    );

    cli.json(&["admin", "client", "delete", "--pool", id, cid]);
    cli.json(&["admin", "pool", "delete", id]);
    let (ok, _, _) = cli.run(&["admin", "pool", "get", id]);
    assert!(!ok);
}

#[test]
fn without_a_command_the_binary_serves() {
    // `cargo run --release` must start the server: with no subcommand the
    // binary runs `serve`, which here stops at the invalid bind address.
    let out = Command::new(env!("CARGO_BIN_EXE_poolgate"))
        .env_clear()
        .env("POOLGATE_SERVER__BIND", "nonsense")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("server.bind"), "{err}");
}

#[test]
fn invalid_configuration_stops_start_up_naming_the_key() {
    let out = Command::new(env!("CARGO_BIN_EXE_poolgate"))
        .arg("serve")
        .env_clear()
        .env("POOLGATE_SERVER__PUBLIC_URL", "not a url")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.public_url"));
    let out = Command::new(env!("CARGO_BIN_EXE_poolgate"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in ["serve", "migrate", "admin", "keys"] {
        assert!(help.contains(cmd), "{help}");
    }
}

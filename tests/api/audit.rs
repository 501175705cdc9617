//! The audit trail: every sign-in, sign-up, password change and admin action,
//! with who, from where and the outcome — never a secret.

use crate::helpers::*;
use serde_json::{Value, json};

#[tokio::test]
async fn sign_ins_sign_ups_password_changes_and_admin_actions_are_audited() {
    let app = spawn_app().await;
    let post_ua = |path: String, body: serde_json::Value| {
        app.http
            .post(format!("{}{}", app.base, path))
            .header("user-agent", "audit-test/1.0")
            .header("x-request-id", "req-42")
            .json(&body)
            .send()
    };
    post_ua(
        app.pool_path("signup"),
        json!({"client_id": app.client_id, "username": "amy@example.com", "password": PASSWORD}),
    )
    .await
    .unwrap();
    let code = app.last_code("amy@example.com").await;
    app.confirm("amy@example.com", &code).await;
    post_ua(app.pool_path("signin"), json!({"client_id": app.client_id, "username": "amy@example.com", "password": "a wrong password here"})).await.unwrap();
    let (_, t) = app.sign_in("amy@example.com", PASSWORD).await;
    let at = t["tokens"]["access_token"].as_str().unwrap();
    app.request(
        "POST",
        "/v1/me/password",
        Some(json!({"previous_password": PASSWORD, "proposed_password": "amy's next passphrase"})),
        Some(at),
    )
    .await;
    app.admin(
        "POST",
        &format!(
            "/v1/admin/pools/{}/users/amy@example.com/disable",
            app.pool_id
        ),
        None,
    )
    .await;

    let (st, ev) = app
        .admin(
            "GET",
            &format!(
                "/v1/admin/pools/{}/users/amy@example.com/events",
                app.pool_id
            ),
            None,
        )
        .await;
    assert_eq!(st, 200, "{ev}");
    let events = ev["events"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["event"].as_str().unwrap(), e["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("ChangePassword", "Success"),
            ("SignIn", "Success"),
            ("SignIn", "NotAuthorized"),
            ("ConfirmSignUp", "Success"),
            ("SignUp", "Success")
        ],
        "newest first: {ev}"
    );
    let failed = &events[2];
    assert_eq!(failed["ip"], "127.0.0.1");
    assert_eq!(failed["user_agent"], "audit-test/1.0");
    assert_eq!(failed["request_id"], "req-42");
    assert_eq!(failed["client_id"], app.client_id.as_str());
    assert_eq!(failed["username"], "amy@example.com");
    assert!(
        events
            .iter()
            .all(|e| e["sub"] == events[0]["sub"] && e["created_at"].is_i64())
    );

    let (_, pool_ev) = app
        .admin(
            "GET",
            &format!("/v1/admin/pools/{}/events", app.pool_id),
            None,
        )
        .await;
    let admin = &pool_ev["events"][0];
    assert_eq!(admin["event"], "Admin:AdminDisableUser");
    assert_eq!(
        (admin["outcome"].as_str(), admin["username"].as_str()),
        (Some("Success"), Some("amy@example.com"))
    );
    assert_eq!(
        (admin["door"].as_str(), admin["actor"].as_str()),
        (
            Some("native"),
            Some(poolgate::audit::admin_key_actor(&app.admin_key).as_str())
        )
    );

    // Never a secret.
    let all = pool_ev.to_string();
    for secret in [
        PASSWORD,
        "a wrong password here",
        "amy's next passphrase",
        code.as_str(),
        at,
    ] {
        assert!(
            !all.contains(secret),
            "the trail contains a secret: {secret}"
        );
    }
}

#[tokio::test]
async fn the_trail_pages_newest_first_with_a_cursor() {
    let app = spawn_app().await;
    for i in 0..5 {
        app.sign_in(&format!("ghost{i}@example.com"), "no such user here")
            .await;
    }
    let base = format!("/v1/admin/pools/{}/events", app.pool_id);
    let mut seen = vec![];
    let mut before: Option<String> = None;
    loop {
        let q = match &before {
            Some(b) => format!("{base}?limit=2&before={b}"),
            None => format!("{base}?limit=2"),
        };
        let (st, page) = app.admin("GET", &q, None).await;
        assert_eq!(st, 200, "{page}");
        for e in page["events"].as_array().unwrap() {
            if e["event"] == "SignIn" {
                seen.push(e["username"].as_str().unwrap().to_owned());
            }
        }
        match page["next"].as_str() {
            Some(n) => before = Some(n.to_owned()),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        (0..5)
            .map(|i| format!("ghost{i}@example.com"))
            .collect::<Vec<_>>()
    );
    let (st, _) = app
        .admin("GET", &format!("{base}?before=garbage"), None)
        .await;
    assert_eq!(st, 400);
}

// ---- Admin changes, whatever the door (issue 8 item 10) -------------------

const AUDIT_MASTER: &str = "8f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// The app, with a known master key so that the CLI can open the same store.
async fn spawn_shared() -> TestApp {
    spawn_app_with(|s| {
        s.security.master_key = Some(poolgate::crypto::SecretString::new(AUDIT_MASTER));
    })
    .await
}

/// `poolgate <args>` against the app's database, as OS user `auditor`.
fn cli(app: &TestApp, args: &[&str]) -> (bool, Value) {
    cli_env(app, args, &[])
}

fn cli_env(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> (bool, Value) {
    let dir = app._dir.path();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_poolgate"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("USER", "auditor")
        .env("POOLGATE_DATABASE__URL", &app.state.settings.database.url)
        .env("POOLGATE_SERVER__DATA_DIR", dir.join("cli-data"))
        .env("POOLGATE_SECURITY__MASTER_KEY", AUDIT_MASTER)
        .env(
            "POOLGATE_SECURITY__ADMIN_KEYS",
            "cli-audit-admin-key-0123456789",
        )
        .env("POOLGATE_ARGON2__MEMORY_KIB", "256")
        .env("POOLGATE_ARGON2__ITERATIONS", "1")
        .env("POOLGATE_LOG__LEVEL", "error")
        .env("POOLGATE_STORAGE__ENABLED", "false")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(&text)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&out.stderr).into_owned()));
    (out.status.success(), v)
}

fn cli_ok(app: &TestApp, args: &[&str]) -> Value {
    let (ok, v) = cli(app, args);
    assert!(ok, "poolgate {args:?}: {v}");
    v
}

/// A Cognito JSON call signed with SigV4 and `key` as the admin secret by
/// AWS's own signer (aws-sigv4), the way the AWS SDKs sign it: host,
/// content-type, x-amz-date and x-amz-target signed, scoped to the server's
/// region and the operation's service.
async fn cognito_signed(app: &TestApp, key: &str, target: &str, body: Value) -> (u16, Value) {
    let body = body.to_string();
    let host = app.base.trim_start_matches("http://").to_owned();
    let service = if target.starts_with("AWSCognitoIdentityService.") {
        "cognito-identity"
    } else {
        "cognito-idp"
    };
    let content_type = "application/x-amz-json-1.1";
    let signature = aws_signed_headers(
        &host,
        &[("content-type", content_type), ("x-amz-target", target)],
        body.as_bytes(),
        key,
        (app.state.pools.region(), service),
        poolgate::clock::Clock::now(&app.clock),
        &[],
    );
    let mut request = app
        .http
        .post(format!("{}/", app.base))
        .header("content-type", content_type)
        .header("x-amz-target", target)
        .header("user-agent", "audit-cognito/1.0");
    for (k, v) in signature {
        request = request.header(k, v);
    }
    let resp = request.body(body).send().await.unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

async fn idp(app: &TestApp, op: &str, body: Value) -> Value {
    let (st, v) = cognito_signed(
        app,
        &app.admin_key,
        &format!("AWSCognitoIdentityProviderService.{op}"),
        body,
    )
    .await;
    assert_eq!(st, 200, "{op}: {v}");
    v
}

/// Every admin change recorded since the start, oldest first.
async fn admin_trail(app: &TestApp) -> Vec<Value> {
    let mut all = vec![];
    let mut before: Option<String> = None;
    loop {
        let q = match &before {
            Some(b) => format!("/v1/admin/events?limit=100&before={b}"),
            None => "/v1/admin/events?limit=100".to_owned(),
        };
        let (st, page) = app.admin("GET", &q, None).await;
        assert_eq!(st, 200, "{page}");
        all.extend(page["events"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(n) => before = Some(n.to_owned()),
            None => break,
        }
    }
    all.reverse();
    all
}

/// `(event, outcome)` of one door's admin events, oldest first; checks the
/// actor of each.
fn door_events(trail: &[Value], door: &str, actor: &str) -> Vec<(String, String)> {
    trail
        .iter()
        .filter(|e| e["door"] == door)
        .map(|e| {
            assert_eq!(e["actor"], actor, "{e}");
            (
                e["event"].as_str().unwrap().to_owned(),
                e["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn ok(actions: &[&str]) -> Vec<(String, String)> {
    actions
        .iter()
        .map(|a| (format!("Admin:{a}"), "Success".to_owned()))
        .collect()
}

/// The ten-plus changes each door runs, in order (the table of the test).
const CHANGES: &[&str] = &[
    "CreateUserPool",
    "UpdateUserPool",
    "CreateUserPoolClient",
    "AdminCreateUser",
    "AdminDisableUser",
    "AdminEnableUser",
    "AdminSetUserPassword",
    "CreateGroup",
    "AdminAddUserToGroup",
    "CreateIdentityPool",
    "AdminDeleteUser",
];

#[tokio::test]
async fn au1_every_admin_change_is_audited_with_actor_and_door_whatever_the_door() {
    let app = spawn_shared().await;
    let key_actor = poolgate::audit::admin_key_actor(&app.admin_key);
    let before = admin_trail(&app).await.len();

    // Native admin API.
    let (st, p) = app
        .admin(
            "POST",
            "/v1/admin/pools",
            Some(json!({"name": "native-pool"})),
        )
        .await;
    assert_eq!(st, 201, "{p}");
    let np = p["id"].as_str().unwrap().to_owned();
    let base = format!("/v1/admin/pools/{np}");
    for (method, path, body, want) in [
        (
            "PATCH",
            base.clone(),
            Some(json!({"name": "native-pool-2"})),
            200,
        ),
        (
            "POST",
            format!("{base}/clients"),
            Some(json!({"name": "web"})),
            201,
        ),
        (
            "POST",
            format!("{base}/users"),
            Some(json!({"username": "nat", "temporary_password": "Temporary passphrase 1"})),
            201,
        ),
        ("POST", format!("{base}/users/nat/disable"), None, 200),
        ("POST", format!("{base}/users/nat/enable"), None, 200),
        (
            "POST",
            format!("{base}/users/nat/password"),
            Some(json!({"password": "a native passphrase", "permanent": true})),
            200,
        ),
        (
            "POST",
            format!("{base}/groups"),
            Some(json!({"name": "ops"})),
            201,
        ),
        (
            "POST",
            format!("{base}/groups/ops/members"),
            Some(json!({"username": "nat"})),
            204,
        ),
        (
            "POST",
            "/v1/admin/identity-pools".to_owned(),
            Some(json!({"name": "native-ids"})),
            201,
        ),
        ("DELETE", format!("{base}/users/nat"), None, 204),
    ] {
        let (st, v) = app.admin(method, &path, body).await;
        assert_eq!(st, want, "{method} {path}: {v}");
    }

    // The Cognito protocol, SigV4-signed with the same admin key.
    let p = idp(&app, "CreateUserPool", json!({"PoolName": "cognito-pool"})).await;
    let cp = p["UserPool"]["Id"].as_str().unwrap().to_owned();
    let pool = |extra: Value| {
        let mut b = json!({"UserPoolId": cp});
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    idp(
        &app,
        "UpdateUserPool",
        pool(json!({"PoolName": "cognito-pool-2"})),
    )
    .await;
    idp(
        &app,
        "CreateUserPoolClient",
        pool(json!({"ClientName": "web"})),
    )
    .await;
    idp(
        &app,
        "AdminCreateUser",
        pool(json!({"Username": "cog", "TemporaryPassword": "Temporary passphrase 1"})),
    )
    .await;
    idp(&app, "AdminDisableUser", pool(json!({"Username": "cog"}))).await;
    idp(&app, "AdminEnableUser", pool(json!({"Username": "cog"}))).await;
    idp(
        &app,
        "AdminSetUserPassword",
        pool(json!({"Username": "cog", "Password": "a cognito passphrase", "Permanent": true})),
    )
    .await;
    idp(&app, "CreateGroup", pool(json!({"GroupName": "ops"}))).await;
    idp(
        &app,
        "AdminAddUserToGroup",
        pool(json!({"Username": "cog", "GroupName": "ops"})),
    )
    .await;
    let (st, v) = cognito_signed(
        &app,
        &app.admin_key,
        "AWSCognitoIdentityService.CreateIdentityPool",
        json!({"IdentityPoolName": "cognito_ids", "AllowUnauthenticatedIdentities": false}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    idp(&app, "AdminDeleteUser", pool(json!({"Username": "cog"}))).await;

    // The command line, on the same database.
    let p = cli_ok(&app, &["admin", "pool", "create", "--name", "cli-pool"]);
    let lp = p["id"].as_str().unwrap().to_owned();
    cli_ok(
        &app,
        &[
            "admin",
            "pool",
            "update",
            &lp,
            "--patch",
            r#"{"name":"cli-pool-2"}"#,
        ],
    );
    let c = cli_ok(
        &app,
        &["admin", "client", "create", "--pool", &lp, "--name", "web"],
    );
    let lc = c["client_id"].as_str().unwrap().to_owned();
    // The CLI has no user creation: the user signs up (not an admin change).
    let (st, v) = app
        .post(
            &format!("/v1/pools/{lp}/signup"),
            json!({"client_id": lc, "username": "cli", "password": PASSWORD}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    for args in [
        &["admin", "user", "disable", "--pool", &lp, "cli"][..],
        &["admin", "user", "enable", "--pool", &lp, "cli"],
    ] {
        cli_ok(&app, args);
    }
    let (done, v) = cli_env(
        &app,
        &["admin", "user", "set-password", "--pool", &lp, "cli"],
        &[("POOLGATE_NEW_PASSWORD", "a cli passphrase here")],
    );
    assert!(done, "{v}");
    cli_ok(
        &app,
        &["admin", "group", "create", "--pool", &lp, "--name", "ops"],
    );
    cli_ok(
        &app,
        &["admin", "group", "add", "--pool", &lp, "ops", "cli"],
    );
    cli_ok(
        &app,
        &["admin", "identity-pool", "create", "--name", "cli-ids"],
    );
    cli_ok(&app, &["admin", "user", "delete", "--pool", &lp, "cli"]);

    // The setup's pool and client come first.
    let trail = admin_trail(&app).await.split_off(before);
    let mut cli_changes = CHANGES.to_vec();
    // The CLI's fourth change is the sign-up above, not an admin one.
    cli_changes.retain(|a| *a != "AdminCreateUser");
    assert_eq!(
        door_events(&trail, "native", &key_actor),
        ok(CHANGES),
        "native"
    );
    assert_eq!(
        door_events(&trail, "cognito", &key_actor),
        ok(CHANGES),
        "cognito"
    );
    assert_eq!(
        door_events(&trail, "cli", "os-user:auditor"),
        ok(&cli_changes),
        "cli"
    );
    // Nothing else: one event per change (the HTTP middleware no longer
    // records a second one).
    assert_eq!(trail.len(), 2 * CHANGES.len() + cli_changes.len());

    // Each event names what it changed.
    let find = |door: &str, event: &str| {
        trail
            .iter()
            .find(|e| e["door"] == door && e["event"] == format!("Admin:{event}"))
            .unwrap_or_else(|| panic!("{door} {event}"))
            .clone()
    };
    for (door, pool, user) in [
        ("native", &np, "nat"),
        ("cognito", &cp, "cog"),
        ("cli", &lp, "cli"),
    ] {
        assert_eq!(
            find(door, "CreateUserPool")["pool_id"],
            pool.as_str(),
            "{door}"
        );
        assert!(
            find(door, "CreateUserPoolClient")["client_id"].is_string(),
            "{door}"
        );
        let del = find(door, "AdminDeleteUser");
        assert_eq!(
            (del["pool_id"].as_str(), del["username"].as_str()),
            (Some(pool.as_str()), Some(user))
        );
        assert_eq!(find(door, "AdminAddUserToGroup")["target"], "group:ops");
        assert!(find(door, "CreateIdentityPool")["pool_id"].is_string());
    }
    // The HTTP doors carry the request's context; the CLI has none.
    let disable = find("cognito", "AdminDisableUser");
    assert_eq!(disable["ip"], "127.0.0.1");
    assert_eq!(disable["user_agent"], "audit-cognito/1.0");
    assert!(find("cli", "AdminDisableUser")["ip"].is_null());
    // A pool's own trail lists its admin changes too.
    let (_, own) = app
        .admin("GET", &format!("/v1/admin/pools/{cp}/events"), None)
        .await;
    assert!(
        own["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "Admin:AdminSetUserPassword" && e["door"] == "cognito")
    );
    // Never a secret.
    let all = serde_json::to_string(&trail).unwrap();
    for secret in [
        app.admin_key.as_str(),
        "Temporary passphrase 1",
        "a native passphrase",
        "a cognito passphrase",
        "a cli passphrase here",
        AUDIT_MASTER,
    ] {
        assert!(
            !all.contains(secret),
            "the trail contains a secret: {secret}"
        );
    }
}

#[tokio::test]
async fn au1_a_refused_change_is_recorded_as_failed_a_refused_caller_and_reads_are_not() {
    let app = spawn_shared().await;
    let before = admin_trail(&app).await.len();
    let pool = app.pool_id.clone();
    let users = format!("/v1/admin/pools/{pool}/users");
    app.sign_up("amy@example.com", PASSWORD).await;

    // Changes the services refuse: recorded, with the error as the outcome.
    let (st, _) = app
        .admin("DELETE", &format!("{users}/ghost@example.com"), None)
        .await;
    assert_eq!(st, 404);
    let (st, v) = cognito_signed(
        &app,
        &app.admin_key,
        "AWSCognitoIdentityProviderService.AdminDisableUser",
        json!({"UserPoolId": pool, "Username": "ghost@example.com"}),
    )
    .await;
    assert_eq!(
        (st, v["__type"].as_str()),
        (400, Some("UserNotFoundException"))
    );
    let (done, _) = cli(
        &app,
        &[
            "admin",
            "user",
            "delete",
            "--pool",
            &pool,
            "ghost@example.com",
        ],
    );
    assert!(!done);

    // Callers refused at the edge: nothing recorded (no actor to name).
    let st = app
        .http
        .post(format!("{}/v1/admin/pools", app.base))
        .bearer_auth("not-the-admin-key-0123456789")
        .json(&json!({"name": "intruder"}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(st, 401);
    let st = app
        .http
        .post(format!("{}{users}/amy@example.com/disable", app.base))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(st, 401);
    for key in ["not-the-admin-key-0123456789", ""] {
        let (st, v) = cognito_signed(
            &app,
            key,
            "AWSCognitoIdentityProviderService.AdminDeleteUser",
            json!({"UserPoolId": pool, "Username": "amy@example.com"}),
        )
        .await;
        assert_eq!(st, 400, "{v}");
    }
    let resp = app
        .http
        .post(format!("{}/", app.base))
        .header("content-type", "application/x-amz-json-1.1")
        .header(
            "x-amz-target",
            "AWSCognitoIdentityProviderService.AdminDisableUser",
        )
        .body(json!({"UserPoolId": pool, "Username": "amy@example.com"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let (st, _) = app
        .admin("GET", &format!("{users}/amy@example.com"), None)
        .await;
    assert_eq!(st, 200, "amy is still there and enabled");

    // Reads: not recorded.
    for path in [
        "/v1/admin/pools".to_owned(),
        format!("/v1/admin/pools/{pool}"),
        users.clone(),
        format!("{users}/amy@example.com"),
        format!("/v1/admin/pools/{pool}/groups"),
        "/v1/admin/identity-pools".to_owned(),
    ] {
        let (st, v) = app.admin("GET", &path, None).await;
        assert_eq!(st, 200, "{path}: {v}");
    }
    for (op, body) in [
        (
            "AdminGetUser",
            json!({"UserPoolId": pool, "Username": "amy@example.com"}),
        ),
        ("ListUsers", json!({"UserPoolId": pool})),
        ("DescribeUserPool", json!({"UserPoolId": pool})),
    ] {
        idp(&app, op, body).await;
    }
    cli_ok(&app, &["admin", "pool", "get", &pool]);
    cli_ok(&app, &["admin", "user", "list", "--pool", &pool]);

    // ...except an export, which carries password hashes.
    let resp = app
        .http
        .get(format!("{}/v1/admin/pools/{pool}/export", app.base))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("amy@example.com"));

    let trail = admin_trail(&app).await.split_off(before);
    // (The CLI's clock is the system's, the app's a test clock: compare sorted.)
    let mut got: Vec<(&str, &str, &str, &str)> = trail
        .iter()
        .map(|e| {
            (
                e["door"].as_str().unwrap(),
                e["event"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
                e["username"].as_str().unwrap_or(""),
            )
        })
        .collect();
    got.sort();
    let ghost = "ghost@example.com";
    assert_eq!(
        got,
        [
            ("cli", "Admin:AdminDeleteUser", "ResourceNotFound", ghost),
            (
                "cognito",
                "Admin:AdminDisableUser",
                "ResourceNotFound",
                ghost
            ),
            ("native", "Admin:AdminDeleteUser", "ResourceNotFound", ghost),
            ("native", "Admin:ExportUsers", "Success", ""),
        ]
    );
}

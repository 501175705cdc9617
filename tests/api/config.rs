//! Layered configuration: defaults → file → environment, `_FILE` secrets,
//! unknown keys warned, invalid values named.

use poolgate::config::{MailerKind, Mode, load_from};
use std::io::Write;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_are_the_development_config_with_the_demo_pool() {
    let l = load_from(None, vec![]).unwrap();
    assert_eq!(l.settings.mode, Mode::Development);
    assert_eq!(l.settings.server.bind, "0.0.0.0:8080");
    assert_eq!(l.settings.mailer.kind, MailerKind::Dev);
    assert_eq!(l.settings.pools[0].id, "local-east-1_DemoPool1");
    assert_eq!(
        l.settings.pools[0].clients[0].id,
        "democlient0000000000000001"
    );
    assert_eq!(l.settings.argon2.memory_kib, 19456);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn a_file_overrides_defaults_and_the_environment_overrides_the_file() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "[server]\nbind = \"127.0.0.1:9999\"\npublic_url = \"https://id.example.com\"\n[argon2]\nmemory_kib = 32768").unwrap();
    let l = load_from(
        Some(f.path()),
        env(&[
            ("POOLGATE_SERVER__BIND", "127.0.0.1:7777"),
            ("POOLGATE_ARGON2__ITERATIONS", "3"),
        ]),
    )
    .unwrap();
    assert_eq!(l.settings.server.bind, "127.0.0.1:7777");
    assert_eq!(l.settings.server.public_url, "https://id.example.com");
    assert_eq!(l.settings.argon2.memory_kib, 32768);
    assert_eq!(l.settings.argon2.iterations, 3);
    assert_eq!(
        l.settings.mailer.kind,
        MailerKind::Dev,
        "untouched keys keep their defaults"
    );
}

#[test]
fn secrets_can_come_from_files() {
    let mut key = tempfile::NamedTempFile::new().unwrap();
    writeln!(key, "{}", "ab".repeat(32)).unwrap();
    let mut admin = tempfile::NamedTempFile::new().unwrap();
    writeln!(admin, "admin-key-from-a-file-0123456789").unwrap();
    let l = load_from(
        None,
        env(&[
            (
                "POOLGATE_SECURITY__MASTER_KEY_FILE",
                key.path().to_str().unwrap(),
            ),
            (
                "POOLGATE_SECURITY__ADMIN_KEYS_FILE",
                admin.path().to_str().unwrap(),
            ),
        ]),
    )
    .unwrap();
    assert_eq!(
        l.settings.security.master_key.unwrap().expose(),
        "ab".repeat(32)
    );
    assert_eq!(
        l.settings.security.admin_keys[0].expose(),
        "admin-key-from-a-file-0123456789"
    );
    let err = load_from(
        None,
        env(&[("POOLGATE_SECURITY__MASTER_KEY_FILE", "/no/such/file")]),
    )
    .err()
    .unwrap();
    assert!(
        err.to_string()
            .contains("POOLGATE_SECURITY__MASTER_KEY_FILE"),
        "{err}"
    );
}

#[test]
fn unknown_keys_are_warned_about() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "[server]\nbindd = \"oops\"\n[nonsense]\nx = 1").unwrap();
    let l = load_from(Some(f.path()), env(&[("POOLGATE_LOG__FORMATT", "json")])).unwrap();
    let all = l.warnings.join("\n");
    assert!(all.contains("server.bindd"), "{all}");
    assert!(all.contains("nonsense"), "{all}");
    assert!(all.contains("log.formatt"), "{all}");
}

#[test]
fn invalid_values_stop_start_up_naming_the_key() {
    for (k, v, key) in [
        ("POOLGATE_SERVER__BIND", "not an address", "server.bind"),
        (
            "POOLGATE_SERVER__PUBLIC_URL",
            "ftp://x",
            "server.public_url",
        ),
        ("POOLGATE_ARGON2__MEMORY_KIB", "1", "argon2.memory_kib"),
        ("POOLGATE_ARGON2__ITERATIONS", "lots", "argon2.iterations"),
        ("POOLGATE_DATABASE__URL", "mysql://x", "database.url"),
        ("POOLGATE_LOG__FORMAT", "xml", "log.format"),
        (
            "POOLGATE_SECURITY__MASTER_KEY",
            "short",
            "security.master_key",
        ),
        ("POOLGATE_MAILER__KIND", "pigeon", "mailer.kind"),
        ("POOLGATE_SERVER__REGION", "Bad_Region", "server.region"),
    ] {
        let err = load_from(None, env(&[(k, v)]))
            .err()
            .unwrap_or_else(|| panic!("{k}={v} accepted"));
        assert!(err.to_string().contains(key), "{k}={v}: {err}");
    }
}

#[test]
fn production_mode_requires_keys_and_refuses_the_dev_mailer() {
    let err = load_from(None, env(&[("POOLGATE_MODE", "production")]))
        .err()
        .unwrap();
    assert!(err.to_string().contains("security.master_key"), "{err}");
    let key = "cd".repeat(32);
    let err = load_from(
        None,
        env(&[
            ("POOLGATE_MODE", "production"),
            ("POOLGATE_SECURITY__MASTER_KEY", &key),
            (
                "POOLGATE_SECURITY__ADMIN_KEYS",
                "a-long-enough-admin-key-123",
            ),
        ]),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("mailer.kind"), "{err}");
    let err = load_from(
        None,
        env(&[
            ("POOLGATE_MODE", "production"),
            ("POOLGATE_SECURITY__MASTER_KEY", &key),
            (
                "POOLGATE_SECURITY__ADMIN_KEYS",
                "a-long-enough-admin-key-123,another-admin-key-4567890",
            ),
            ("POOLGATE_MAILER__KIND", "smtp"),
            ("POOLGATE_MAILER__SMTP__HOST", "smtp.example.com"),
        ]),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("sms.kind"), "{err}");
    let ok = load_from(
        None,
        env(&[
            ("POOLGATE_MODE", "production"),
            ("POOLGATE_SECURITY__MASTER_KEY", &key),
            (
                "POOLGATE_SECURITY__ADMIN_KEYS",
                "a-long-enough-admin-key-123,another-admin-key-4567890",
            ),
            ("POOLGATE_MAILER__KIND", "smtp"),
            ("POOLGATE_MAILER__SMTP__HOST", "smtp.example.com"),
            ("POOLGATE_SMS__KIND", "none"),
        ]),
    )
    .unwrap();
    assert_eq!(ok.settings.security.admin_keys.len(), 2);
}

#[test]
fn the_production_example_documents_every_key() {
    let example = include_str!("../../config/production.example.toml");
    let defaults = serde_json::to_value(poolgate::config::Settings::default()).unwrap();
    let mut missing = vec![];
    fn walk(v: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
        if let Some(m) = v.as_object() {
            for (k, child) in m {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                if child.is_object() {
                    walk(child, &path, out);
                } else {
                    out.push(path);
                }
            }
        }
    }
    let mut keys = vec![];
    walk(&defaults, "", &mut keys);
    let declared = ["pools", "roles", "identity_pools"];
    for k in keys
        .iter()
        .filter(|k| !declared.iter().any(|d| k.starts_with(d)))
    {
        let env_name = format!("POOLGATE_{}", k.to_uppercase().replace('.', "__"));
        if !example.contains(&env_name) {
            missing.push(env_name);
        }
    }
    assert!(
        missing.is_empty(),
        "config/production.example.toml does not document: {missing:?}"
    );
}

#[test]
fn lists_come_as_lists_or_comma_separated_from_the_environment() {
    let l = load_from(
        None,
        env(&[
            ("POOLGATE_STORAGE__BUCKETS", "uploads, avatars"),
            ("POOLGATE_SERVER__TRUSTED_PROXIES", "10.0.0.1, ::1"),
        ]),
    )
    .unwrap();
    assert_eq!(l.settings.storage.buckets, ["uploads", "avatars"]);
    assert_eq!(
        l.settings.server.trusted_proxies,
        [
            "10.0.0.1".parse::<std::net::IpAddr>().unwrap(),
            "::1".parse().unwrap()
        ]
    );
    // The demo role and identity pool are declared by default.
    assert_eq!(l.settings.roles[0].name, "demo-owner");
    assert_eq!(
        l.settings.identity_pools[0]
            .settings
            .authenticated_role
            .as_deref(),
        Some("demo-owner")
    );
    let err = load_from(
        None,
        env(&[("POOLGATE_SERVER__TRUSTED_PROXIES", "10.0.0.1, proxy.local")]),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("proxy.local"), "{err}");
    let err = load_from(None, env(&[("POOLGATE_STORAGE__BUCKETS", "Not_A_Bucket")]))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("storage.buckets"), "{err}");
}

/// The environment of a valid production configuration.
fn production_env(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let key = "cd".repeat(32);
    let mut pairs = vec![
        ("POOLGATE_MODE".to_owned(), "production".to_owned()),
        ("POOLGATE_SECURITY__MASTER_KEY".into(), key),
        (
            "POOLGATE_SECURITY__ADMIN_KEYS".into(),
            "a-long-enough-admin-key-123".into(),
        ),
        ("POOLGATE_MAILER__KIND".into(), "smtp".into()),
        (
            "POOLGATE_MAILER__SMTP__HOST".into(),
            "smtp.example.com".into(),
        ),
        ("POOLGATE_SMS__KIND".into(), "none".into()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    pairs
}

#[test]
fn production_declares_nothing_unless_configured() {
    // Production from the environment: no demo pool, client, role, identity
    // pool or bucket.
    let l = load_from(None, production_env(&[])).unwrap();
    assert_eq!(l.settings.mode, Mode::Production);
    assert!(l.settings.pools.is_empty(), "{:?}", l.settings.pools);
    assert!(l.settings.roles.is_empty());
    assert!(l.settings.identity_pools.is_empty());
    assert!(l.settings.storage.buckets.is_empty());
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    // Production from a file, too; what the file declares is declared.
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(
        f,
        "mode = \"production\"\n[storage]\nbuckets = [\"uploads\"]\n[[pools]]\nid = \"local-east-1_Abcdefgh1\"\nname = \"customers\"\n[[pools.clients]]\nid = \"abcdefghijklmnopqrstuvwxyz\"\nname = \"web\"\n[[pools.clients]]\nid = \"abcdefghijklmnopqrstuvwxy0\"\nname = \"backend\"\ngenerate_secret = true"
    )
    .unwrap();
    let mut env = production_env(&[]);
    env.retain(|(k, _)| k != "POOLGATE_MODE");
    let l = load_from(Some(f.path()), env).unwrap();
    assert_eq!(l.settings.mode, Mode::Production);
    let ids: Vec<&str> = l.settings.pools.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["local-east-1_Abcdefgh1"]);
    assert_eq!(l.settings.storage.buckets, ["uploads"]);
    assert!(l.settings.roles.is_empty() && l.settings.identity_pools.is_empty());
    // The startup log names what is declared and who may sign up where.
    let summary = l.settings.declared_summary().join("\n");
    assert!(summary.contains("mode: production"), "{summary}");
    assert!(
        summary.contains("declared user pools: local-east-1_Abcdefgh1"),
        "{summary}"
    );
    assert!(
        summary.contains("abcdefghijklmnopqrstuvwxyz (web) of pool local-east-1_Abcdefgh1: self sign-up open to anyone with the client id"),
        "{summary}"
    );
    assert!(
        summary.contains("abcdefghijklmnopqrstuvwxy0 (backend) of pool local-east-1_Abcdefgh1: self sign-up with the client secret"),
        "{summary}"
    );
    assert!(summary.contains("declared roles: none"), "{summary}");
    assert!(!summary.contains("Demo"), "{summary}");
    // Development (the default) keeps the demo, and the log says so.
    let dev = load_from(None, vec![])
        .unwrap()
        .settings
        .declared_summary()
        .join("\n");
    assert!(dev.contains("local-east-1_DemoPool1"), "{dev}");
    assert!(
        dev.contains("democlient0000000000000001 (demo-app) of pool local-east-1_DemoPool1: self sign-up open to anyone"),
        "{dev}"
    );
    assert!(
        dev.contains("declared identity pool local-east-1:de300000"),
        "{dev}"
    );
    // A development file's own declarations replace the demo ones.
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(
        f,
        "[[pools]]\nid = \"local-east-1_Abcdefgh1\"\nname = \"mine\""
    )
    .unwrap();
    let l = load_from(Some(f.path()), vec![]).unwrap();
    assert_eq!(l.settings.mode, Mode::Development);
    assert_eq!(l.settings.pools.len(), 1);
    assert_eq!(l.settings.pools[0].name, "mine");
}

#[test]
fn metrics_access_follows_the_mode_unless_configured() {
    use poolgate::config::MetricsAccess;
    let dev = load_from(None, vec![]).unwrap().settings;
    assert_eq!(dev.metrics_public_access(), MetricsAccess::Open);
    let prod = load_from(None, production_env(&[])).unwrap().settings;
    assert_eq!(prod.metrics_public_access(), MetricsAccess::AdminKey);
    let own = load_from(
        None,
        production_env(&[("POOLGATE_METRICS__BIND", "127.0.0.1:9464")]),
    )
    .unwrap()
    .settings;
    assert_eq!(own.metrics_public_access(), MetricsAccess::Off);
    let open = load_from(
        None,
        production_env(&[("POOLGATE_METRICS__PUBLIC", "open")]),
    )
    .unwrap()
    .settings;
    assert_eq!(open.metrics_public_access(), MetricsAccess::Open);
    let err = load_from(None, env(&[("POOLGATE_METRICS__BIND", "nine thousand")]))
        .err()
        .unwrap();
    assert!(err.to_string().contains("metrics.bind"), "{err}");
    let err = load_from(None, env(&[("POOLGATE_METRICS__PUBLIC", "sometimes")]))
        .err()
        .unwrap();
    assert!(err.to_string().contains("metrics.public"), "{err}");
}

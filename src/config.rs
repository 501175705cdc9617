//! Settings, layered: the built-in `config/default.toml` (compiled in, so the
//! binary runs from any directory) → the file named by `--config` /
//! `POOLGATE_CONFIG` → `POOLGATE_*` environment variables (`__` separates
//! levels: `POOLGATE_DATABASE__URL`). Any variable ending in `_FILE` is read
//! from that file instead (`POOLGATE_SECURITY__MASTER_KEY_FILE=/run/secrets/k`).
//! Unknown keys are warned about; invalid values stop start-up with a message
//! naming the key.

use crate::crypto::SecretString;
use crate::crypto::password::Argon2Settings;
use crate::model::{ClientSettings, PoolSettings};
use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");
/// The demo pool, client, role, identity pool and bucket: layered over
/// `DEFAULT_TOML` in development mode only.
pub const DEMO_TOML: &str = include_str!("../config/demo.toml");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// `development` (generates keys into the data dir, allows the dev mailer)
    /// or `production` (requires a master key and admin keys, refuses the dev mailer).
    pub mode: Mode,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub security: SecuritySettings,
    pub argon2: Argon2Settings,
    pub mailer: MailerSettings,
    pub sms: crate::sms::SmsSettings,
    pub log: LogSettings,
    pub tokens: TokenSettings,
    pub rate_limits: RateLimitSettings,
    pub identity: IdentitySettings,
    pub storage: StorageSettings,
    pub metrics: MetricsSettings,
    /// Roles declared in config, applied idempotently at start.
    pub roles: Vec<DeclaredRole>,
    /// Identity pools declared in config, applied idempotently at start.
    pub identity_pools: Vec<DeclaredIdentityPool>,
    /// Pools declared in config, applied idempotently at start.
    pub pools: Vec<DeclaredPool>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            mode: Mode::Production,
            server: ServerSettings::default(),
            database: DatabaseSettings::default(),
            security: SecuritySettings::default(),
            argon2: Argon2Settings::default(),
            mailer: MailerSettings::default(),
            sms: crate::sms::SmsSettings::default(),
            log: LogSettings::default(),
            tokens: TokenSettings::default(),
            rate_limits: RateLimitSettings::default(),
            identity: IdentitySettings::default(),
            storage: StorageSettings::default(),
            metrics: MetricsSettings::default(),
            roles: vec![],
            identity_pools: vec![],
            pools: vec![],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Development,
    Production,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerSettings {
    pub bind: String,
    /// Externally visible base URL; issuers are `{public_url}/{pool_id}`.
    pub public_url: String,
    /// Region prefix of pool and identity ids (shaped like an AWS region).
    pub region: String,
    pub data_dir: PathBuf,
    pub body_limit_bytes: usize,
    pub request_timeout_secs: u64,
    pub shutdown_grace_secs: u64,
    /// Addresses of reverse proxies whose `X-Forwarded-For` is believed: the
    /// client's address is the right-most entry that is not one of them.
    /// Empty (the default): the peer address is the client's.
    #[serde(deserialize_with = "ip_list")]
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            public_url: "http://localhost:8080".into(),
            region: "local-east-1".into(),
            data_dir: "./data".into(),
            body_limit_bytes: 64 * 1024,
            request_timeout_secs: 30,
            shutdown_grace_secs: 20,
            trusted_proxies: vec![],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseSettings {
    /// `sqlite://path?mode=rwc` or `postgres://user@host/db`.
    pub url: String,
    pub max_connections: u32,
    pub acquire_timeout_secs: u64,
    /// Apply migrations at `serve` start (the migrator takes a lock, so many
    /// nodes may start at once).
    pub auto_migrate: bool,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: "sqlite://./data/poolgate.db".into(),
            max_connections: 16,
            acquire_timeout_secs: 5,
            auto_migrate: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SecuritySettings {
    /// 64 hex chars. In development, generated into `{data_dir}/master.key`
    /// when absent.
    pub master_key: Option<SecretString>,
    /// Admin API keys (comma-separated in the environment). In development,
    /// one is generated into `{data_dir}/admin.key` when none is given.
    #[serde(deserialize_with = "string_or_list")]
    pub admin_keys: Vec<SecretString>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MailerSettings {
    /// `dev` (log + outbox readable through the admin API) or `smtp`.
    pub kind: MailerKind,
    pub from: String,
    pub smtp: SmtpSettings,
}

impl Default for MailerSettings {
    fn default() -> Self {
        Self {
            kind: MailerKind::Smtp,
            from: "poolgate <no-reply@localhost>".into(),
            smtp: SmtpSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailerKind {
    Dev,
    Smtp,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// `none`, `starttls` or `tls` (implicit TLS, usually port 465).
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub timeout_secs: u64,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 587,
            tls: SmtpTls::Starttls,
            username: None,
            password: None,
            timeout_secs: 10,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LogSettings {
    /// `pretty` or `json`.
    pub format: String,
    /// A tracing filter, e.g. `info,poolgate=debug`; `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: "pretty".into(),
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenSettings {
    /// Seconds during which a rotated-out refresh token presented again is
    /// refused without revoking its family (two tabs refreshing at once);
    /// after that, a replay revokes the family (reuse detection).
    pub refresh_reuse_grace_secs: i64,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            refresh_reuse_grace_secs: 5,
        }
    }
}

/// Identity pools and the credentials they mint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct IdentitySettings {
    /// Generation of the credential keys (derived from the master key),
    /// 0–31. Raise it by one to rotate: credentials of the previous
    /// generation keep working until they expire (12 h at most); older ones
    /// stop. Every node must use the same value.
    pub credential_key_generation: u8,
}

/// The S3-compatible gateway: its own listener, objects on the local file
/// system, one directory per bucket.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageSettings {
    pub enabled: bool,
    pub bind: String,
    /// Where buckets live (one directory each).
    pub root: PathBuf,
    /// The buckets that exist on the local file system; clients cannot
    /// create or delete buckets.
    #[serde(deserialize_with = "name_list")]
    pub buckets: Vec<String>,
    /// Buckets kept in an upstream S3-compatible store (MinIO, Ceph RGW, AWS
    /// S3…), reached with the server's own credentials.
    pub upstream_buckets: Vec<UpstreamBucketSettings>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamBucketSettings {
    /// The name clients use (and policies name).
    pub name: String,
    /// e.g. `https://s3.eu-west-1.amazonaws.com` or `http://minio:9000`.
    pub endpoint: String,
    #[serde(default = "default_region")]
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    /// The bucket's name upstream; defaults to `name`.
    #[serde(default)]
    pub upstream_bucket: Option<String>,
    /// `http://host/bucket/key` (MinIO, Ceph) instead of virtual hosts.
    #[serde(default)]
    pub path_style: bool,
}

fn default_region() -> String {
    "us-east-1".into()
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            bind: "127.0.0.1:9000".into(),
            root: "./data/s3".into(),
            buckets: vec![],
            upstream_buckets: vec![],
        }
    }
}

/// Where Prometheus metrics are served.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricsSettings {
    /// A listener of their own for `/metrics` (e.g. `127.0.0.1:9464`),
    /// open to whoever reaches it; empty: none.
    pub bind: String,
    /// `/metrics` on the public listener: `open`, `admin_key` or `off`.
    /// Unset: `off` when `bind` is set, else `open` in development and
    /// `admin_key` in production.
    pub public: Option<MetricsAccess>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricsAccess {
    Open,
    AdminKey,
    Off,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredRole {
    pub name: String,
    /// The IAM policy document (a TOML table with the JSON's shape).
    pub policy: serde_json::Value,
    #[serde(default)]
    pub max_session_secs: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredIdentityPool {
    /// `<region>:<uuid>`.
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub settings: crate::model::IdentityPoolSettings,
}

/// Fixed-window request limits per client address (IPv6 by /64) and per
/// pool, counted in the store so that every node enforces the same budget.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitSettings {
    pub enabled: bool,
    pub window_secs: i64,
    pub signin: Limit,
    pub signup: Limit,
    /// Anything that mails or texts a code: resend, forgot password,
    /// attribute verification.
    pub code_send: Limit,
    /// Anything that checks a code: confirm sign-up, reset password, verify.
    pub code_check: Limit,
    /// Password sign-ins that may be in flight at once on this node from
    /// (name, network) pairs it has not seen sign in; more are refused at
    /// once with 503 and `Retry-After: 1`, before any database work (G2).
    /// 0 = the argon2 workers plus the argon2 queue.
    pub signin_in_flight: usize,
    /// (name, network) pairs that signed in with the right password, kept
    /// by each node (at most this many, for 30 days or until a wrong
    /// password from the pair) to pass `signin_in_flight`; 0 = none.
    pub signin_known_pairs: usize,
}

/// Requests allowed per window; 0 means no limit.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Limit {
    pub per_ip: i64,
    pub per_pool: i64,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        let l = |per_ip, per_pool| Limit { per_ip, per_pool };
        Self {
            enabled: true,
            window_secs: 60,
            signin: l(60, 6000),
            signup: l(30, 1200),
            code_send: l(20, 1200),
            code_check: l(60, 6000),
            signin_in_flight: 0,
            signin_known_pairs: 100_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredPool {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub settings: PoolSettings,
    #[serde(default)]
    pub clients: Vec<DeclaredClient>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredClient {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub secret: Option<SecretString>,
    #[serde(default)]
    pub generate_secret: bool,
    #[serde(default)]
    pub settings: ClientSettings,
}

/// A list given as a list, or as one string of items separated by commas
/// (the environment's form).
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn items(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => s.split(',').map(|s| s.trim().to_owned()).collect(),
            OneOrMany::Many(v) => v,
        }
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect()
    }
}

fn string_or_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<SecretString>, D::Error> {
    Ok(OneOrMany::deserialize(d)?
        .items()
        .into_iter()
        .map(SecretString::new)
        .collect())
}

fn name_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(OneOrMany::deserialize(d)?.items())
}

fn ip_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<std::net::IpAddr>, D::Error> {
    OneOrMany::deserialize(d)?
        .items()
        .iter()
        .map(|s| {
            s.parse()
                .map_err(|_| serde::de::Error::custom(format!("`{s}` is not an IP address")))
        })
        .collect()
}

/// What loading produced besides the settings: warnings to log once
/// telemetry is up.
pub struct Loaded {
    pub settings: Settings,
    pub warnings: Vec<String>,
}

const ENV_PREFIX: &str = "POOLGATE_";

/// Loads settings from the layers. `file`: `--config`/`POOLGATE_CONFIG`.
pub fn load(file: Option<&Path>) -> anyhow::Result<Loaded> {
    load_from(file, std::env::vars().collect())
}

/// As `load`, with an explicit environment (tests).
pub fn load_from(file: Option<&Path>, env: Vec<(String, String)>) -> anyhow::Result<Loaded> {
    if let Some(f) = file
        && !f.exists()
    {
        anyhow::bail!("config file {} does not exist", f.display());
    }
    // `*_FILE` variables: the value is read from the named file.
    let mut from_files: Vec<(String, String)> = vec![];
    let mut plain: Vec<(String, String)> = vec![];
    for (k, v) in env {
        let Some(rest) = k.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if rest == "CONFIG" {
            continue;
        }
        if let Some(base) = rest.strip_suffix("_FILE") {
            let content = std::fs::read_to_string(&v)
                .map_err(|e| anyhow::anyhow!("{k}: cannot read {v}: {e}"))?;
            from_files.push((
                base.to_owned(),
                content.trim_end_matches(['\n', '\r']).to_owned(),
            ));
        } else {
            plain.push((rest.to_owned(), v));
        }
    }
    // The operator's layers: the file, then the environment.
    let operator = |mut fig: Figment| {
        if let Some(f) = file {
            fig = fig.merge(Toml::file(f));
        }
        merge_env(merge_env(fig, plain.clone()), from_files.clone())
    };
    let base =
        Figment::from(Serialized::defaults(Settings::default())).merge(Toml::string(DEFAULT_TOML));
    // The demo declarations exist in development mode only: the mode the
    // operator's layers leave decides whether they are layered in, under
    // those layers (which may replace any of their lists).
    let mut fig = operator(base.clone());
    if fig.extract_inner::<Mode>("mode").ok() == Some(Mode::Development) {
        fig = operator(base.merge(Toml::string(DEMO_TOML)));
    }

    let settings: Settings = fig.extract().map_err(|e| {
        let key = e.path.join(".");
        anyhow::anyhow!(
            "invalid configuration{}: {}",
            if key.is_empty() {
                String::new()
            } else {
                format!(" at `{key}`")
            },
            e.kind
        )
    })?;
    // Unknown keys: deserialize again, collecting what serde ignored.
    let mut warnings = vec![];
    let raw: serde_json::Value = fig.extract().unwrap_or(serde_json::Value::Null);
    let _: Result<Settings, _> = serde_ignored::deserialize(raw, |path| {
        warnings.push(format!("unknown configuration key `{path}` ignored"));
    });
    settings.validate()?;
    Ok(Loaded { settings, warnings })
}

/// Merges `POOLGATE_A__B=v` pairs as the key path `a.b`, the value parsed
/// like figment parses environment values (numbers, booleans, strings).
fn merge_env(mut fig: Figment, vars: Vec<(String, String)>) -> Figment {
    for (k, v) in vars {
        let key = k.to_ascii_lowercase().replace("__", ".");
        let value: figment::value::Value = v
            .parse()
            .unwrap_or_else(|_| figment::value::Value::from(v.clone()));
        fig = fig.merge((key, value));
    }
    fig
}

impl Settings {
    pub fn validate(&self) -> anyhow::Result<()> {
        let bad =
            |key: &str, msg: &str| Err(anyhow::anyhow!("invalid configuration at `{key}`: {msg}"));
        if self.server.bind.parse::<std::net::SocketAddr>().is_err() {
            return bad("server.bind", "must be an address like 0.0.0.0:8080");
        }
        match reqwest::Url::parse(&self.server.public_url) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
            _ => return bad("server.public_url", "must be an absolute http(s) URL"),
        }
        if self.server.public_url.ends_with('/') {
            return bad("server.public_url", "must not end with a slash");
        }
        let r = &self.server.region;
        if r.is_empty()
            || r.len() > 32
            || !r
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return bad(
                "server.region",
                "must be lower-case letters, digits and dashes, like us-east-1",
            );
        }
        if self.server.body_limit_bytes < 1024 {
            return bad("server.body_limit_bytes", "must be at least 1024");
        }
        if self.server.request_timeout_secs == 0 {
            return bad("server.request_timeout_secs", "must be positive");
        }
        if !(self.database.url.starts_with("sqlite:")
            || self.database.url.starts_with("postgres://")
            || self.database.url.starts_with("postgresql://"))
        {
            return bad("database.url", "must start with sqlite: or postgres://");
        }
        if self.database.max_connections == 0 {
            return bad("database.max_connections", "must be positive");
        }
        if let Err(e) = self.argon2.validate() {
            let key = e.split(' ').next().unwrap_or("argon2").to_owned();
            return bad(&key, &e);
        }
        if let Some(k) = &self.security.master_key
            && crate::crypto::MasterKey::from_hex(k.expose()).is_err()
        {
            return bad(
                "security.master_key",
                "must be 64 hex characters (32 bytes)",
            );
        }
        for k in &self.security.admin_keys {
            if k.expose().len() < 20 {
                return bad(
                    "security.admin_keys",
                    "each admin key must be at least 20 characters",
                );
            }
        }
        if !(0..=300).contains(&self.tokens.refresh_reuse_grace_secs) {
            return bad(
                "tokens.refresh_reuse_grace_secs",
                "must be between 0 and 300",
            );
        }
        if !(1..=86_400).contains(&self.rate_limits.window_secs) {
            return bad("rate_limits.window_secs", "must be between 1 and 86400");
        }
        for (name, l) in [
            ("signin", self.rate_limits.signin),
            ("signup", self.rate_limits.signup),
            ("code_send", self.rate_limits.code_send),
            ("code_check", self.rate_limits.code_check),
        ] {
            if l.per_ip < 0 || l.per_pool < 0 {
                return bad(
                    &format!("rate_limits.{name}"),
                    "limits must be 0 (none) or positive",
                );
            }
        }
        if self.identity.credential_key_generation > crate::model::MAX_GENERATION {
            return bad(
                "identity.credential_key_generation",
                "must be between 0 and 31",
            );
        }
        if !["pretty", "json"].contains(&self.log.format.as_str()) {
            return bad("log.format", "must be `pretty` or `json`");
        }
        if self.sms.kind == crate::sms::SmsKind::Webhook {
            let ok = reqwest::Url::parse(&self.sms.webhook.url)
                .is_ok_and(|u| u.scheme() == "https" || u.scheme() == "http");
            if !ok {
                return bad(
                    "sms.webhook.url",
                    "must be an http(s) URL when sms.kind = \"webhook\"",
                );
            }
            if self.sms.webhook.secret.is_none() {
                return bad(
                    "sms.webhook.secret",
                    "is required when sms.kind = \"webhook\"",
                );
            }
        }
        if self.mailer.kind == MailerKind::Smtp && self.mailer.smtp.host.is_empty() {
            return bad(
                "mailer.smtp.host",
                "is required when mailer.kind = \"smtp\"",
            );
        }
        if self
            .mailer
            .from
            .parse::<lettre::message::Mailbox>()
            .is_err()
        {
            return bad(
                "mailer.from",
                "must be a mailbox like `Name <addr@example.com>`",
            );
        }
        if self.mode == Mode::Production {
            if self.security.master_key.is_none() {
                return bad(
                    "security.master_key",
                    "is required in production mode (POOLGATE_SECURITY__MASTER_KEY or _FILE)",
                );
            }
            if self.security.admin_keys.is_empty() {
                return bad(
                    "security.admin_keys",
                    "at least one is required in production mode",
                );
            }
            if self.mailer.kind == MailerKind::Dev {
                return bad(
                    "mailer.kind",
                    "the dev mailer is refused in production mode",
                );
            }
            if self.sms.kind == crate::sms::SmsKind::Dev {
                return bad(
                    "sms.kind",
                    "the dev SMS sender is refused in production mode (webhook or none)",
                );
            }
        }
        if !self.metrics.bind.is_empty()
            && self.metrics.bind.parse::<std::net::SocketAddr>().is_err()
        {
            return bad(
                "metrics.bind",
                "must be empty or an address like 127.0.0.1:9464",
            );
        }
        if self.storage.enabled && self.storage.bind.parse::<std::net::SocketAddr>().is_err() {
            return bad("storage.bind", "must be an address like 0.0.0.0:9000");
        }
        for b in self
            .storage
            .buckets
            .iter()
            .chain(self.storage.upstream_buckets.iter().map(|u| &u.name))
        {
            if !s3s::path::check_bucket_name(b) {
                return bad(
                    "storage.buckets",
                    &format!("{b:?} is not a valid S3 bucket name"),
                );
            }
        }
        for (i, p) in self.identity_pools.iter().enumerate() {
            let ok = p
                .id
                .split_once(':')
                .is_some_and(|(r, u)| r == self.server.region && uuid::Uuid::parse_str(u).is_ok());
            if !ok {
                return bad(
                    &format!("identity_pools[{i}].id"),
                    "must be <region>:<uuid>, e.g. local-east-1:7f1c0e0a-…",
                );
            }
        }
        for (i, p) in self.pools.iter().enumerate() {
            if let Err(e) = crate::model::validate_pool_id(&p.id, &self.server.region) {
                return bad(&format!("pools[{i}].id"), &e);
            }
            if let Err(e) = crate::model::validate_settings(&p.settings) {
                return bad(&format!("pools[{i}].settings"), &e.message);
            }
            for (j, c) in p.clients.iter().enumerate() {
                if c.id.len() != 26
                    || !c
                        .id
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                {
                    return bad(
                        &format!("pools[{i}].clients[{j}].id"),
                        "must be 26 lower-case alphanumerics",
                    );
                }
                if let Err(e) = crate::model::validate_client_settings(&c.settings) {
                    return bad(&format!("pools[{i}].clients[{j}].settings"), &e.message);
                }
            }
        }
        Ok(())
    }

    /// What the config declares, one line each, for the startup log: the
    /// mode, buckets, pools, roles and identity pools, and for each app client
    /// who may sign up through it (every client takes self sign-up; one with
    /// a secret only from whoever holds the secret).
    pub fn declared_summary(&self) -> Vec<String> {
        let mode = match self.mode {
            Mode::Development => "development (the demo declarations of config/demo.toml apply)",
            Mode::Production => "production (only the operator's declarations apply)",
        };
        let mut out = vec![format!("mode: {mode}")];
        let list = |v: Vec<&str>| {
            if v.is_empty() {
                "none".to_owned()
            } else {
                v.join(", ")
            }
        };
        out.push(format!(
            "declared buckets: {}",
            list(self.storage.buckets.iter().map(String::as_str).collect())
        ));
        out.push(format!(
            "declared user pools: {}",
            list(self.pools.iter().map(|p| p.id.as_str()).collect())
        ));
        for p in &self.pools {
            for c in &p.clients {
                let who = if c.secret.is_some() || c.generate_secret {
                    "self sign-up with the client secret"
                } else {
                    "self sign-up open to anyone with the client id"
                };
                out.push(format!(
                    "declared app client {} ({}) of pool {}: {who}",
                    c.id, c.name, p.id
                ));
            }
        }
        out.push(format!(
            "declared roles: {}",
            list(self.roles.iter().map(|r| r.name.as_str()).collect())
        ));
        for ip in &self.identity_pools {
            let guests = if ip.settings.allow_unauthenticated {
                "guest (unauthenticated) identities allowed"
            } else {
                "signed-in identities only"
            };
            out.push(format!(
                "declared identity pool {} ({}): {guests}",
                ip.id, ip.name
            ));
        }
        if self.identity_pools.is_empty() {
            out.push("declared identity pools: none".into());
        }
        out
    }

    /// Who may read `/metrics` on the public listener.
    pub fn metrics_public_access(&self) -> MetricsAccess {
        match (self.metrics.public, self.metrics.bind.is_empty(), self.mode) {
            (Some(a), _, _) => a,
            (None, false, _) => MetricsAccess::Off,
            (None, true, Mode::Development) => MetricsAccess::Open,
            (None, true, Mode::Production) => MetricsAccess::AdminKey,
        }
    }

    pub fn issuer(&self, pool_id: &str) -> String {
        format!("{}/{}", self.server.public_url, pool_id)
    }
}

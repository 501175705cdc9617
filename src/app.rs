//! Wiring: builds every service from the settings, binds the listener and
//! serves with graceful shutdown. Tests build the real app with port 0.

use crate::clock::{SharedClock, SystemClock};
use crate::config::{Mode, Settings};
use crate::crypto::keys::KeyRing;
use crate::crypto::password::PasswordHasher;
use crate::crypto::{MasterKey, Sealer, SecretString, random};
use crate::store::SharedStore;
use crate::user_pools::UserPools;
use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

pub struct AppInner {
    pub settings: Settings,
    pub pools: Arc<UserPools>,
    pub identity: Arc<crate::identity::IdentityPools>,
    pub admin_keys: Vec<SecretString>,
    pub metrics: PrometheusHandle,
}

impl Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

/// Writes `content` to `path` with mode 0600, failing if it exists.
fn write_secret_file(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(content.as_bytes())?;
    f.write_all(b"\n")?;
    Ok(())
}

fn read_or_generate(
    path: &Path,
    generate: impl FnOnce() -> String,
) -> anyhow::Result<(String, bool)> {
    if path.exists() {
        let s =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return Ok((s.trim().to_owned(), false));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let value = generate();
    match write_secret_file(path, &value) {
        Ok(()) => Ok((value, true)),
        // Another process created it first: use theirs.
        Err(_) if path.exists() => Ok((std::fs::read_to_string(path)?.trim().to_owned(), false)),
        Err(e) => Err(e),
    }
}

/// The master key: configured, or in development generated into the data dir.
pub fn master_key(settings: &Settings) -> anyhow::Result<MasterKey> {
    if let Some(k) = &settings.security.master_key {
        return MasterKey::from_hex(k.expose());
    }
    anyhow::ensure!(
        settings.mode == Mode::Development,
        "security.master_key is required in production mode"
    );
    let path = settings.server.data_dir.join("master.key");
    let (hex, created) = read_or_generate(&path, || MasterKey::generate().to_hex())?;
    if created {
        tracing::warn!(path = %path.display(), "generated a development master key; back it up, or set security.master_key");
    }
    MasterKey::from_hex(&hex)
        .with_context(|| format!("{} is not a valid master key", path.display()))
}

/// Admin keys: configured, or in development one generated into the data dir.
fn admin_keys(settings: &Settings) -> anyhow::Result<Vec<SecretString>> {
    if !settings.security.admin_keys.is_empty() {
        return Ok(settings.security.admin_keys.clone());
    }
    anyhow::ensure!(
        settings.mode == Mode::Development,
        "security.admin_keys is required in production mode"
    );
    let path = settings.server.data_dir.join("admin.key");
    let (key, created) = read_or_generate(&path, random::admin_key)?;
    let abs = std::fs::canonicalize(&path).unwrap_or(path);
    if created {
        tracing::info!(path = %abs.display(), "generated an admin API key (mode 0600)");
    }
    eprintln!(
        "poolgate: admin API key is in {} — use it as `Authorization: Bearer $(cat {})`",
        abs.display(),
        abs.display()
    );
    Ok(vec![SecretString::new(key)])
}

/// Opens the store; migrates when configured; refuses a schema newer than
/// this binary (or older, when not migrating); refuses a master key other
/// than the one the store was first used with.
pub async fn open_store(
    settings: &Settings,
    master: &MasterKey,
    migrate: bool,
) -> anyhow::Result<SharedStore> {
    let store = crate::store::connect(
        &settings.database.url,
        settings.database.max_connections,
        Duration::from_secs(settings.database.acquire_timeout_secs),
    )
    .await
    .context("cannot open the database (database.url)")?;
    let (applied, known) = store
        .schema_versions()
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    if applied > known {
        anyhow::bail!(
            "the database schema (version {applied}) is newer than this poolgate binary knows (version {known}); upgrade poolgate"
        );
    }
    if applied < known {
        if migrate {
            store
                .migrate()
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            tracing::info!(from = applied, to = known, "database migrated");
        } else {
            anyhow::bail!(
                "the database schema (version {applied}) is older than this binary's ({known}); run `poolgate migrate`"
            );
        }
    }
    let fp = master.fingerprint();
    let stored = store
        .meta_get_or_put("master_key_fingerprint", &fp)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    anyhow::ensure!(
        stored == fp,
        "this database was initialised with another master key; refusing to start (check security.master_key)"
    );
    Ok(store)
}

/// Everything but the listener.
pub async fn build_state(settings: Settings, clock: SharedClock) -> anyhow::Result<AppState> {
    for line in settings.declared_summary() {
        tracing::info!("{line}");
    }
    let master = master_key(&settings)?;
    let admin_keys = admin_keys(&settings)?;
    let store = open_store(&settings, &master, settings.database.auto_migrate).await?;
    build_state_with(settings, clock, store, &master, admin_keys).await
}

pub async fn build_state_with(
    settings: Settings,
    clock: SharedClock,
    store: SharedStore,
    master: &MasterKey,
    admin_keys: Vec<SecretString>,
) -> anyhow::Result<AppState> {
    let hasher = Arc::new(PasswordHasher::new(&settings.argon2)?);
    let keys = Arc::new(KeyRing::new(
        store.clone(),
        Sealer::new(master, "poolgate/signing-keys"),
        clock.clone(),
    ));
    let mailer = crate::mail::build(&settings.mailer, store.clone(), clock.clone())?;
    let sms = crate::sms::build(&settings.sms, store.clone(), clock.clone())?;
    let pools = Arc::new(
        UserPools::new(
            store.clone(),
            keys,
            hasher,
            mailer,
            clock.clone(),
            master,
            &settings.server.public_url,
            &settings.server.region,
        )
        .with_reuse_grace(settings.tokens.refresh_reuse_grace_secs)
        .with_rate_limits(settings.rate_limits.clone())
        .with_sms(sms),
    );
    pools
        .apply_declared(&settings.pools)
        .await
        .map_err(|e| anyhow::anyhow!("applying the pools declared in config: {e:?}"))?;
    let identity = Arc::new(crate::identity::IdentityPools::new(
        store.clone(),
        pools.clone(),
        clock,
        master,
        settings.identity.credential_key_generation,
        &settings.server.public_url,
    ));
    identity
        .apply_declared(&settings.roles, &settings.identity_pools)
        .await
        .map_err(|e| {
            anyhow::anyhow!("applying the roles and identity pools declared in config: {e:?}")
        })?;
    Ok(AppState(Arc::new(AppInner {
        settings,
        pools,
        identity,
        admin_keys,
        metrics: crate::telemetry::metrics_handle(),
    })))
}

pub struct Application {
    listener: tokio::net::TcpListener,
    /// The S3 gateway's listener, when `storage.enabled`.
    storage: Option<tokio::net::TcpListener>,
    /// The metrics listener, when `metrics.bind` is set.
    metrics: Option<tokio::net::TcpListener>,
    state: AppState,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let state = build_state(settings, Arc::new(SystemClock)).await?;
        Self::with_state(state).await
    }

    pub async fn with_state(state: AppState) -> anyhow::Result<Self> {
        let bind = &state.settings.server.bind;
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("cannot listen on {bind}"))?;
        let storage = if state.settings.storage.enabled {
            let bind = &state.settings.storage.bind;
            Some(
                tokio::net::TcpListener::bind(bind)
                    .await
                    .with_context(|| format!("cannot listen on {bind} (storage.bind)"))?,
            )
        } else {
            None
        };
        let metrics = match state.settings.metrics.bind.as_str() {
            "" => None,
            bind => Some(
                tokio::net::TcpListener::bind(bind)
                    .await
                    .with_context(|| format!("cannot listen on {bind} (metrics.bind)"))?,
            ),
        };
        Ok(Self {
            listener,
            storage,
            metrics,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The S3 gateway's port (0 when disabled).
    pub fn storage_port(&self) -> u16 {
        self.storage
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.port())
            .unwrap_or(0)
    }

    /// The metrics listener's port (0 when there is none).
    pub fn metrics_port(&self) -> u16 {
        self.metrics
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.port())
            .unwrap_or(0)
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves until SIGINT/SIGTERM, then drains in-flight requests.
    pub async fn run(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `signal` completes, then lets in-flight requests finish
    /// for at most `server.shutdown_grace_secs`.
    pub async fn run_until(
        self,
        signal: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let app = crate::http::router(self.state.clone());
        let grace = Duration::from_secs(self.state.settings.server.shutdown_grace_secs);
        tracing::info!(addr = %self.listener.local_addr()?, "poolgate listening");
        let (tx, mut rx) = tokio::sync::watch::channel(false);
        let janitor = tokio::spawn(janitor(self.state.clone()));
        let gateway = match self.storage {
            Some(listener) => {
                let settings = crate::gateway::settings(
                    &self.state.settings.storage,
                    &self.state.settings.server.region,
                );
                let service = crate::gateway::build(
                    &settings,
                    self.state.identity.clone(),
                    self.state.pools.clock.clone(),
                )?;
                let upstream: Vec<&str> = settings
                    .upstream_buckets
                    .iter()
                    .map(|u| u.name.as_str())
                    .collect();
                tracing::info!(addr = %listener.local_addr()?, buckets = ?settings.buckets, upstream = ?upstream, "S3 gateway listening");
                let mut stop = rx.clone();
                Some(tokio::spawn(crate::gateway::serve(
                    listener,
                    service,
                    async move {
                        while !*stop.borrow() {
                            if stop.changed().await.is_err() {
                                std::future::pending::<()>().await;
                            }
                        }
                    },
                )))
            }
            None => None,
        };
        if let Some(listener) = self.metrics {
            tracing::info!(addr = %listener.local_addr()?, "metrics listening");
            let mut stop = rx.clone();
            let router = crate::http::ops::metrics_listener(self.state.clone());
            tokio::spawn(async move {
                let stopped = async move {
                    while !*stop.borrow() {
                        if stop.changed().await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    }
                };
                if let Err(e) = axum::serve(listener, router)
                    .with_graceful_shutdown(stopped)
                    .await
                {
                    tracing::warn!(error = %e, "the metrics listener stopped");
                }
            });
        }
        let serve = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            signal.await;
            let _ = tx.send(true);
        });
        let deadline = async move {
            while !*rx.borrow() {
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            r = serve => r?,
            _ = deadline => tracing::warn!("shutdown grace period over; exiting with requests still in flight"),
        }
        janitor.abort();
        if let Some(g) = gateway
            && tokio::time::timeout(grace, g).await.is_err()
        {
            tracing::warn!("the S3 gateway did not stop within the grace period");
        }
        tracing::info!("poolgate stopped");
        Ok(())
    }
}

/// Periodic housekeeping: drops rate-limit counters of finished windows,
/// and authorization codes and hosted sign-in sessions long expired.
async fn janitor(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        match state.pools.purge_rate_limits().await {
            Ok(n) if n > 0 => tracing::debug!(purged = n, "old rate-limit counters dropped"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = ?e, "rate-limit purge failed"),
        }
        match state.pools.purge_login_sessions().await {
            Ok(n) if n > 0 => tracing::debug!(purged = n, "expired sign-in sessions dropped"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = ?e, "sign-in session purge failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown signal received; draining");
}

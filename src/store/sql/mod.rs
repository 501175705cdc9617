//! The SQL backends. One SQL text serves SQLite and PostgreSQL (both accept
//! `$n` placeholders, `ON CONFLICT` and `RETURNING`). Each store trait is
//! implemented once, in the file of its aggregate (`pools.rs`, `users.rs`,
//! ...), inside a macro that `for_each_backend!` instantiates for each driver
//! with native types, so no method carries a backend `if` and both backends
//! run the same contract suite. This file holds what they share: the
//! connection, the family writer, the row types of users, groups and
//! families, and the one SQL fragment that differs (JSON attributes).
//!
//! Every store method opens a `debug` tracing span named after it, with the
//! pool id as its only field when it has one (never a hash, secret, token
//! or code).
use super::*;
use crate::error::{Error, ErrorKind};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Postgres, Sqlite};
use std::str::FromStr;
use std::time::Duration;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct SqlStore<DB: sqlx::Database> {
    pool: sqlx::Pool<DB>,
    /// SQLite takes one writer at a time; a second one waits in SQLite's
    /// busy handler, which sleeps (1, 2, 5, 10 … 100 ms). Write
    /// transactions on the hot paths queue here instead, in order and
    /// without sleeping. `None` on PostgreSQL (row locks, many writers).
    writer: Option<Arc<tokio::sync::Mutex<()>>>,
    /// New refresh families go to one writer task, which writes whatever
    /// has queued up as one statement (group commit; see `family_writer`).
    families: tokio::sync::mpsc::Sender<FamilyJob>,
}

/// A family to start with its first token's hash, and where to answer.
type FamilyJob = (
    TokenFamily,
    String,
    tokio::sync::oneshot::Sender<Result<()>>,
);

/// The most families one statement writes (10 parameters each).
const FAMILY_BATCH_MAX: usize = 64;

impl<DB: sqlx::Database> SqlStore<DB> {
    pub fn pool(&self) -> &sqlx::Pool<DB> {
        &self.pool
    }

    /// The turn of a write transaction (SQLite), held until it commits.
    async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        turn_of(&self.writer).await
    }
}

/// A turn in `writer`'s queue, where there is one.
async fn turn_of(
    writer: &Option<Arc<tokio::sync::Mutex<()>>>,
) -> Option<tokio::sync::MutexGuard<'_, ()>> {
    match writer {
        Some(m) => Some(m.lock().await),
        None => None,
    }
}

/// Prepared statements kept per connection (sqlx's default is 100): the
/// store has some 130 statement texts, and the family writer one per batch
/// size (up to `FAMILY_BATCH_MAX`), so the hot ones are never pushed out.
const STATEMENT_CACHE: usize = 256;

/// A PostgreSQL connection idle this long is pinged before it is used.
const PG_PING_AFTER_IDLE: Duration = Duration::from_secs(30);

/// Opens the store named by `url` (`sqlite:...` or `postgres://...`).
pub async fn connect(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
) -> anyhow::Result<SharedStore> {
    if url.starts_with("sqlite:") {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .statement_cache_capacity(STATEMENT_CACHE);
        if let Some(parent) = opts.get_filename().parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)?;
        }
        // An in-process SQLite connection cannot go away under us: no
        // liveness ping before each use (sqlx's default, a round trip to the
        // connection's worker thread per statement).
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(acquire_timeout)
            .test_before_acquire(false)
            .connect_with(opts)
            .await?;
        Ok(Arc::new(SqlStore::<Sqlite>::new(pool, true)))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let opts = PgConnectOptions::from_str(url)?.statement_cache_capacity(STATEMENT_CACHE);
        // sqlx pings a connection before every use by default: one more
        // round trip per statement. Ping only connections that sat idle long
        // enough for a restart or a proxy's timeout to have closed them; a
        // connection that broke while busy fails its statement once and is
        // dropped by the pool.
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(acquire_timeout)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PG_PING_AFTER_IDLE {
                        use sqlx::Connection;
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(opts)
            .await?;
        Ok(Arc::new(SqlStore::<Postgres>::new(pool, false)))
    } else {
        anyhow::bail!("database.url must start with sqlite: or postgres://")
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(Error::internal)
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(Error::internal)
}

#[derive(sqlx::FromRow)]
struct UserRow {
    pool_id: String,
    sub: String,
    username: String,
    status: String,
    enabled: bool,
    password_hash: Option<String>,
    srp_sealed: Option<Vec<u8>>,
    attributes: String,
    created_at: i64,
    updated_at: i64,
}

impl UserRow {
    fn into_user(self) -> Result<User> {
        Ok(User {
            status: UserStatus::parse(&self.status)
                .ok_or_else(|| Error::internal(anyhow::anyhow!("bad user status in store")))?,
            pool_id: self.pool_id,
            sub: self.sub,
            username: self.username,
            enabled: self.enabled,
            password_hash: self.password_hash,
            srp_sealed: self.srp_sealed,
            attributes: from_json(&self.attributes)?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct FamilyRow {
    id: String,
    pool_id: String,
    sub: String,
    client_id: String,
    auth_time: i64,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    scope: Option<String>,
}

impl From<FamilyRow> for TokenFamily {
    fn from(r: FamilyRow) -> Self {
        TokenFamily {
            id: r.id,
            pool_id: r.pool_id,
            sub: r.sub,
            client_id: r.client_id,
            auth_time: r.auth_time,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            scope: r.scope,
        }
    }
}

/// The group columns of a `LEFT JOIN` onto a user's groups: all NULL for a
/// user in none.
#[derive(sqlx::FromRow, Default)]
struct JoinedGroup {
    g_name: Option<String>,
    g_description: Option<String>,
    g_precedence: Option<i64>,
    g_role_arn: Option<String>,
    g_created_at: Option<i64>,
    g_updated_at: Option<i64>,
}

impl JoinedGroup {
    fn into_group(self, pool_id: &str) -> Option<Group> {
        Some(Group {
            pool_id: pool_id.to_owned(),
            name: self.g_name?,
            description: self.g_description,
            precedence: self.g_precedence,
            role_arn: self.g_role_arn,
            created_at: self.g_created_at?,
            updated_at: self.g_updated_at?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct GroupRow {
    pool_id: String,
    name: String,
    description: Option<String>,
    precedence: Option<i64>,
    role_arn: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl From<GroupRow> for Group {
    fn from(r: GroupRow) -> Self {
        Group {
            pool_id: r.pool_id,
            name: r.name,
            description: r.description,
            precedence: r.precedence,
            role_arn: r.role_arn,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

macro_rules! user_cols {
    () => {
        "pool_id, sub, username, status, enabled, password_hash, srp_sealed, attributes, created_at, updated_at"
    };
}
macro_rules! family_cols {
    () => {
        "id, pool_id, sub, client_id, auth_time, created_at, expires_at, revoked_at, scope"
    };
}

/// The rows of a `LEFT JOIN` onto a user's groups: the first row (for the
/// columns every row repeats) and the groups, sorted as in tokens; `None`
/// for no rows. `group_of` takes a row's group columns out.
fn first_with_groups<R>(
    rows: Vec<R>,
    group_of: impl Fn(&mut R) -> Option<Group>,
) -> Option<(R, Vec<Group>)> {
    let mut groups = vec![];
    let mut first = None;
    for mut r in rows {
        groups.extend(group_of(&mut r));
        if first.is_none() {
            first = Some(r);
        }
    }
    let first = first?;
    sort_groups(&mut groups);
    Some((first, groups))
}

/// Instantiates the macro `$m` (an `impl` of one store trait, written once)
/// for each backend, with its native types and the one SQL fragment that
/// differs (reading a JSON attribute).
macro_rules! for_each_backend {
    ($m:ident) => {
        $m!(
            Sqlite,
            Backend::Sqlite,
            SQLITE_MIGRATIONS,
            sqlite_json_attr,
            sqlite_json_key
        );
        $m!(
            Postgres,
            Backend::Postgres,
            POSTGRES_MIGRATIONS,
            pg_json_attr,
            pg_json_key
        );
    };
}

macro_rules! impl_store {
    ($db:ty, $backend:expr, $migrator:expr, $json_attr:expr, $json_key:expr) => {
        impl SqlStore<$db> {
            /// The store over `pool`, with its family writer task started
            /// (on the current Tokio runtime; it ends with the store).
            /// `write_queue`: queue write transactions in-process (SQLite).
            fn new(pool: sqlx::Pool<$db>, write_queue: bool) -> Self {
                let writer = write_queue.then(|| Arc::new(tokio::sync::Mutex::new(())));
                let (families, rx) = tokio::sync::mpsc::channel(1024);
                tokio::spawn(Self::family_writer(pool.clone(), writer.clone(), rx));
                Self { pool, writer, families }
            }

            /// Group commit for new refresh families (every sign-in, code
            /// exchange and federated sign-in starts one): waits for one,
            /// takes every other one queued by then, and writes them all in
            /// one statement. On SQLite, where writes are serial, this turns
            /// N write turns (each a hand-off to the connection's thread and
            /// back while the lock is held) into one; on PostgreSQL, N round
            /// trips and commits into one. A statement is all or nothing, so
            /// when a batch fails (a taken family id: a replayed code) each
            /// family is written again by itself and gets its own answer.
            async fn family_writer(
                pool: sqlx::Pool<$db>,
                turn: Option<Arc<tokio::sync::Mutex<()>>>,
                mut rx: tokio::sync::mpsc::Receiver<FamilyJob>,
            ) {
                let mut batch: Vec<FamilyJob> = Vec::with_capacity(FAMILY_BATCH_MAX);
                while rx.recv_many(&mut batch, FAMILY_BATCH_MAX).await > 0 {
                    let _turn = turn_of(&turn).await;
                    metrics::histogram!("poolgate_store_family_batch_size").record(batch.len() as f64);
                    let all = Self::insert_families(&pool, &batch).await;
                    match all {
                        Ok(()) => {
                            for (_, _, reply) in batch.drain(..) {
                                let _ = reply.send(Ok(()));
                            }
                        }
                        Err(e) if batch.len() == 1 => {
                            if let Some((_, _, reply)) = batch.pop() {
                                let _ = reply.send(Err(e));
                            }
                        }
                        Err(_) => {
                            for job in batch.drain(..) {
                                let r = Self::insert_families(&pool, std::slice::from_ref(&job)).await;
                                let _ = job.2.send(r);
                            }
                        }
                    }
                }
            }

            /// Families and their first tokens, in one statement: an
            /// `INSERT` of one row per family into the view whose trigger
            /// writes both rows (migration 0013).
            async fn insert_families(pool: &sqlx::Pool<$db>, jobs: &[FamilyJob]) -> Result<()> {
                let mut sql = String::from(concat!("INSERT INTO session_starts (", family_cols!(), ", token_hash) VALUES "));
                for i in 0..jobs.len() {
                    let n = i * 10;
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    sql.push_str(&format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        n + 1, n + 2, n + 3, n + 4, n + 5, n + 6, n + 7, n + 8, n + 9, n + 10
                    ));
                }
                // Built from fixed text and numbered placeholders only.
                let mut q = sqlx::query::<$db>(sqlx::AssertSqlSafe(sql));
                for (f, token_hash, _) in jobs {
                    q = q
                        .bind(&f.id)
                        .bind(&f.pool_id)
                        .bind(&f.sub)
                        .bind(&f.client_id)
                        .bind(f.auth_time)
                        .bind(f.created_at)
                        .bind(f.expires_at)
                        .bind(f.revoked_at)
                        .bind(&f.scope)
                        .bind(token_hash);
                }
                q.execute(pool).await.map(|_| ()).map_err(family_insert_error)
            }

            /// Deletes the code of (user, purpose) if its hash matches: the
            /// single-use step. `false`: used, replaced or wrong.
            async fn consume_code_tx(
                tx: &mut sqlx::Transaction<'_, $db>,
                pool_id: &str,
                sub: &str,
                purpose: CodePurpose,
                code_hash: &str,
            ) -> Result<bool> {
                let r = sqlx::query::<$db>("DELETE FROM codes WHERE pool_id = $1 AND sub = $2 AND purpose = $3 AND code_hash = $4")
                    .bind(pool_id)
                    .bind(sub)
                    .bind(purpose.as_str())
                    .bind(code_hash)
                    .execute(&mut **tx)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            /// Claims sign-in aliases for a user; a taken one is `AliasExists`.
            async fn insert_aliases_tx(tx: &mut sqlx::Transaction<'_, $db>, pool_id: &str, sub: &str, aliases: &[Alias]) -> Result<()> {
                for a in aliases {
                    let r = sqlx::query::<$db>("INSERT INTO user_aliases (pool_id, kind, value, sub) VALUES ($1, $2, $3, $4)")
                        .bind(pool_id)
                        .bind(&a.kind)
                        .bind(&a.value)
                        .bind(sub)
                        .execute(&mut **tx)
                        .await;
                    match r {
                        Err(e) if is_unique_violation(&e) => {
                            return Err(Error::new(ErrorKind::AliasExists, format!("An account with the given {} already exists", a.kind)));
                        }
                        r => {
                            r?;
                        }
                    }
                }
                Ok(())
            }
        }

        #[async_trait]
        impl MetaStore for SqlStore<$db> {
            #[tracing::instrument(level = "debug", skip_all)]
            async fn meta_get_or_put(&self, key: &str, value: &str) -> Result<String> {
                sqlx::query::<$db>("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                    .bind(key)
                    .bind(value)
                    .execute(&self.pool)
                    .await?;
                Ok(sqlx::query_scalar::<$db, String>("SELECT value FROM meta WHERE key = $1")
                    .bind(key)
                    .fetch_one(&self.pool)
                    .await?)
            }
            #[tracing::instrument(level = "debug", skip_all)]
            async fn ping(&self) -> Result<()> {
                sqlx::query::<$db>("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }
            #[tracing::instrument(level = "debug", skip_all)]
            async fn schema_versions(&self) -> Result<(i64, i64)> {
                let known = $migrator.iter().map(|m| m.version).max().unwrap_or(0);
                let applied = sqlx::query_scalar::<$db, i64>("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
                    .fetch_one(&self.pool)
                    .await
                    .unwrap_or(0);
                Ok((applied, known))
            }
            #[tracing::instrument(level = "debug", skip_all)]
            async fn migrate(&self) -> Result<()> {
                $migrator.run(&self.pool).await.map_err(|e| Error::internal(anyhow::anyhow!("migration failed: {e}")))
            }
            fn backend(&self) -> Backend {
                $backend
            }
        }
    };
}

/// Reading one attribute out of the JSON `attributes` column: the only SQL
/// that differs between the backends. `$n` is the placeholder of the key.
fn sqlite_json_attr(n: usize) -> String {
    format!("json_extract(attributes, ${n})")
}
fn sqlite_json_key(name: &str) -> String {
    format!("$.\"{name}\"")
}
fn pg_json_attr(n: usize) -> String {
    format!("(attributes::jsonb ->> ${n})")
}
fn pg_json_key(name: &str) -> String {
    name.to_owned()
}

/// A taken family id is `Conflict`; anything else (a clash of the random
/// token's hash included) is an error.
fn family_insert_error(e: sqlx::Error) -> Error {
    let family_key = e.as_database_error().is_some_and(|d| {
        d.is_unique_violation()
            && (d
                .constraint()
                .is_some_and(|c| c.starts_with("token_families"))
                || d.message().contains("token_families."))
    });
    if family_key {
        Error::new(ErrorKind::Conflict, "The token family exists")
    } else {
        e.into()
    }
}

for_each_backend!(impl_store);

mod audit;
mod federation;
mod groups;
mod identity;
mod keys;
mod limits;
mod mfa;
mod oauth;
mod outbox;
mod passkeys;
mod pools;
mod sessions;
mod tokens;
mod users;

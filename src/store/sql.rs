//! The SQL backends. One SQL text serves SQLite and PostgreSQL (both accept
//! `$n` placeholders, `ON CONFLICT` and `RETURNING`); the `impl_store!` macro
//! instantiates it for each driver with native types, so no method carries a
//! backend `if` and both backends run the same contract suite.

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

fn identity_pool_from_row(
    (id, name, settings, created_at, updated_at): (String, String, String, i64, i64),
) -> Result<crate::model::IdentityPool> {
    Ok(crate::model::IdentityPool {
        id,
        name,
        settings: from_json(&settings)?,
        created_at,
        updated_at,
    })
}

fn role_from_row(
    (name, policy, max_session_secs, created_at, updated_at): (String, String, i64, i64, i64),
) -> Result<crate::model::Role> {
    Ok(crate::model::Role {
        name,
        policy: from_json(&policy)?,
        max_session_secs,
        created_at,
        updated_at,
    })
}

type ProviderRow = (String, String, String, String, Option<Vec<u8>>, i64, i64);

fn provider_from_row(
    (pool_id, name, provider_type, settings, secret_sealed, created_at, updated_at): ProviderRow,
) -> Result<IdentityProvider> {
    Ok(IdentityProvider {
        pool_id,
        name,
        provider_type: ProviderType::parse(&provider_type)
            .ok_or_else(|| Error::internal(anyhow::anyhow!("unknown provider type")))?,
        settings: from_json(&settings)?,
        secret_sealed,
        created_at,
        updated_at,
    })
}

fn resource_server_from_row(
    (pool_id, identifier, name, scopes, created_at, updated_at): (
        String,
        String,
        String,
        String,
        i64,
        i64,
    ),
) -> Result<ResourceServer> {
    Ok(ResourceServer {
        pool_id,
        identifier,
        name,
        scopes: from_json(&scopes)?,
        created_at,
        updated_at,
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(Error::internal)
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(Error::internal)
}

#[derive(sqlx::FromRow)]
struct PoolRow {
    id: String,
    name: String,
    settings: String,
    created_at: i64,
    updated_at: i64,
}

impl PoolRow {
    fn into_pool(self) -> Result<Pool> {
        Ok(Pool {
            id: self.id,
            name: self.name,
            settings: from_json(&self.settings)?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    id: String,
    pool_id: String,
    name: String,
    secret_sealed: Option<Vec<u8>>,
    settings: String,
    created_at: i64,
    updated_at: i64,
}

impl ClientRow {
    fn into_client(self) -> Result<AppClient> {
        Ok(AppClient {
            id: self.id,
            pool_id: self.pool_id,
            name: self.name,
            secret_sealed: self.secret_sealed,
            settings: from_json(&self.settings)?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
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
struct CodeRow {
    pool_id: String,
    sub: String,
    code_hash: String,
    expires_at: i64,
    attempts: i32,
    created_at: i64,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    kid: String,
    pool_id: String,
    alg: String,
    private_sealed: Vec<u8>,
    public_jwk: String,
    status: String,
    created_at: i64,
    retire_after: Option<i64>,
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

#[derive(sqlx::FromRow)]
struct RefreshJoinRow {
    token_hash: String,
    family_id: String,
    t_created_at: i64,
    used_at: Option<i64>,
    #[sqlx(flatten)]
    family: FamilyRow,
}

/// A refresh token joined with its family and the family's user.
#[derive(sqlx::FromRow)]
struct RefreshSessionRow {
    token_hash: String,
    family_id: String,
    t_created_at: i64,
    used_at: Option<i64>,
    #[sqlx(flatten)]
    family: FamilyRow,
    u_username: String,
    u_status: String,
    u_enabled: bool,
    u_password_hash: Option<String>,
    u_srp_sealed: Option<Vec<u8>>,
    u_attributes: String,
    u_created_at: i64,
    u_updated_at: i64,
    #[sqlx(flatten)]
    group: JoinedGroup,
}

#[derive(sqlx::FromRow)]
struct UserGroupRow {
    #[sqlx(flatten)]
    user: UserRow,
    #[sqlx(flatten)]
    group: JoinedGroup,
}

/// A user, one of its groups, and its sign-in throttle counters (the
/// account-wide row `a_*` and the source's row `s_*`, NULL when absent).
#[derive(sqlx::FromRow)]
struct SignInRow {
    #[sqlx(flatten)]
    user: UserRow,
    #[sqlx(flatten)]
    group: JoinedGroup,
    a_failures: Option<i32>,
    a_locked_until: Option<i64>,
    s_failures: Option<i32>,
    s_locked_until: Option<i64>,
    k_last_success: Option<i64>,
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

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: String,
    pool_id: Option<String>,
    sub: Option<String>,
    username: Option<String>,
    client_id: Option<String>,
    event: String,
    outcome: String,
    ip: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
    created_at: i64,
    actor: Option<String>,
    door: Option<String>,
    target: Option<String>,
}

impl From<AuditRow> for AuditEvent {
    fn from(r: AuditRow) -> Self {
        AuditEvent {
            id: r.id,
            pool_id: r.pool_id,
            sub: r.sub,
            username: r.username,
            client_id: r.client_id,
            event: r.event,
            outcome: r.outcome,
            ip: r.ip,
            user_agent: r.user_agent,
            request_id: r.request_id,
            created_at: r.created_at,
            actor: r.actor,
            door: r.door,
            target: r.target,
        }
    }
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: String,
    pool_id: String,
    client_id: String,
    sub: String,
    challenge: String,
    state: String,
    created_at: i64,
    expires_at: i64,
}

impl From<SessionRow> for AuthSession {
    fn from(r: SessionRow) -> Self {
        AuthSession {
            id: r.id,
            pool_id: r.pool_id,
            client_id: r.client_id,
            sub: r.sub,
            challenge: r.challenge,
            state: r.state,
            created_at: r.created_at,
            expires_at: r.expires_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct OutboxRow {
    id: String,
    pool_id: Option<String>,
    channel: String,
    recipient: String,
    subject: String,
    body: String,
    created_at: i64,
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

/// A rate-limit counter's upsert after its `INSERT ... VALUES`: one more
/// hit in the same window, a new window from one; a node whose clock lags
/// does not reset a newer window.
macro_rules! rate_hit_upsert {
    () => {
        "ON CONFLICT (bucket) DO UPDATE SET \
         hits = CASE WHEN rate_limits.window_start >= excluded.window_start THEN rate_limits.hits + 1 ELSE 1 END, \
         window_start = CASE WHEN rate_limits.window_start >= excluded.window_start \
         THEN rate_limits.window_start ELSE excluded.window_start END \
         RETURNING hits"
    };
}

/// The sign-in lookup: `$from` names the user as `u`, `$src` is the
/// source's placeholder, `$where` the WHERE clause.
macro_rules! sign_in_sql {
    ($from:literal, $src:literal, $where:literal) => {
        concat!(
            "SELECT u.pool_id, u.sub, u.username, u.status, u.enabled, u.password_hash, u.srp_sealed, u.attributes, \
             u.created_at, u.updated_at, \
             g.name AS g_name, g.description AS g_description, g.precedence AS g_precedence, g.role_arn AS g_role_arn, \
             g.created_at AS g_created_at, g.updated_at AS g_updated_at, \
             fa.failures AS a_failures, fa.locked_until AS a_locked_until, \
             fs.failures AS s_failures, fs.locked_until AS s_locked_until, \
             k.last_success_at AS k_last_success FROM ",
            $from,
            " LEFT JOIN group_members m ON m.pool_id = u.pool_id AND m.sub = u.sub \
             LEFT JOIN user_groups g ON g.pool_id = m.pool_id AND g.name = m.group_name \
             LEFT JOIN signin_failures fa ON fa.pool_id = u.pool_id AND fa.sub = u.sub AND fa.source = '' \
             LEFT JOIN signin_failures fs ON fs.pool_id = u.pool_id AND fs.sub = u.sub AND fs.source = ",
            $src,
            " LEFT JOIN signin_known_sources k ON k.pool_id = u.pool_id AND k.sub = u.sub AND k.source = ",
            $src,
            $where
        )
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
        impl PoolStore for SqlStore<$db> {
            async fn insert_pool(&self, p: &Pool) -> Result<()> {
                let r = sqlx::query::<$db>(
                    "INSERT INTO user_pools (id, name, settings, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&p.id)
                .bind(&p.name)
                .bind(to_json(&p.settings)?)
                .bind(p.created_at)
                .bind(p.updated_at)
                .execute(&self.pool)
                .await;
                match r {
                    Err(e) if is_unique_violation(&e) => {
                        Err(Error::new(ErrorKind::Conflict, "a user pool with this id exists"))
                    }
                    r => r.map(|_| ()).map_err(Into::into),
                }
            }
            async fn get_pool(&self, id: &str) -> Result<Option<Pool>> {
                sqlx::query_as::<$db, PoolRow>("SELECT id, name, settings, created_at, updated_at FROM user_pools WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(PoolRow::into_pool)
                    .transpose()
            }
            async fn list_pools(&self, after: Option<&str>, limit: i64) -> Result<Vec<Pool>> {
                sqlx::query_as::<$db, PoolRow>(
                    "SELECT id, name, settings, created_at, updated_at FROM user_pools WHERE id > $1 ORDER BY id LIMIT $2",
                )
                .bind(after.unwrap_or(""))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(PoolRow::into_pool)
                .collect()
            }
            async fn update_pool(&self, p: &Pool) -> Result<bool> {
                let r = sqlx::query::<$db>("UPDATE user_pools SET name = $2, settings = $3, updated_at = $4 WHERE id = $1")
                    .bind(&p.id)
                    .bind(&p.name)
                    .bind(to_json(&p.settings)?)
                    .bind(p.updated_at)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }
            async fn delete_pool(&self, id: &str) -> Result<bool> {
                let mut tx = self.pool.begin().await?;
                // Rows keyed by (pool, sub) go with their users; these are not.
                let r = sqlx::query::<$db>("DELETE FROM user_pools WHERE id = $1").bind(id).execute(&mut *tx).await?;
                sqlx::query::<$db>("DELETE FROM user_aliases WHERE pool_id = $1").bind(id).execute(&mut *tx).await?;
                sqlx::query::<$db>("DELETE FROM token_families WHERE pool_id = $1").bind(id).execute(&mut *tx).await?;
                sqlx::query::<$db>("DELETE FROM group_members WHERE pool_id = $1").bind(id).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(r.rows_affected() == 1)
            }

            async fn insert_resource_server(&self, rs: &ResourceServer) -> Result<()> {
                let r = sqlx::query::<$db>(
                    "INSERT INTO resource_servers (pool_id, identifier, name, scopes, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&rs.pool_id)
                .bind(&rs.identifier)
                .bind(&rs.name)
                .bind(to_json(&rs.scopes)?)
                .bind(rs.created_at)
                .bind(rs.updated_at)
                .execute(&self.pool)
                .await;
                match r {
                    Err(e) if is_unique_violation(&e) => Err(Error::new(ErrorKind::Conflict, "A resource server with this identifier exists")),
                    r => r.map(|_| ()).map_err(Into::into),
                }
            }
            async fn get_resource_server(&self, pool_id: &str, identifier: &str) -> Result<Option<ResourceServer>> {
                sqlx::query_as::<$db, (String, String, String, String, i64, i64)>(
                    "SELECT pool_id, identifier, name, scopes, created_at, updated_at FROM resource_servers \
                     WHERE pool_id = $1 AND identifier = $2",
                )
                .bind(pool_id)
                .bind(identifier)
                .fetch_optional(&self.pool)
                .await?
                .map(resource_server_from_row)
                .transpose()
            }
            async fn list_resource_servers(&self, pool_id: &str, after: Option<&str>, limit: i64) -> Result<Vec<ResourceServer>> {
                sqlx::query_as::<$db, (String, String, String, String, i64, i64)>(
                    "SELECT pool_id, identifier, name, scopes, created_at, updated_at FROM resource_servers \
                     WHERE pool_id = $1 AND identifier > $2 ORDER BY identifier LIMIT $3",
                )
                .bind(pool_id)
                .bind(after.unwrap_or(""))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(resource_server_from_row)
                .collect()
            }
            async fn update_resource_server(&self, rs: &ResourceServer) -> Result<bool> {
                let r = sqlx::query::<$db>(
                    "UPDATE resource_servers SET name = $3, scopes = $4, updated_at = $5 WHERE pool_id = $1 AND identifier = $2",
                )
                .bind(&rs.pool_id)
                .bind(&rs.identifier)
                .bind(&rs.name)
                .bind(to_json(&rs.scopes)?)
                .bind(rs.updated_at)
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() == 1)
            }
            async fn delete_resource_server(&self, pool_id: &str, identifier: &str) -> Result<bool> {
                let r = sqlx::query::<$db>("DELETE FROM resource_servers WHERE pool_id = $1 AND identifier = $2")
                    .bind(pool_id)
                    .bind(identifier)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn insert_client(&self, c: &AppClient) -> Result<()> {
                let r = sqlx::query::<$db>(
                    "INSERT INTO app_clients (id, pool_id, name, secret_sealed, settings, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&c.id)
                .bind(&c.pool_id)
                .bind(&c.name)
                .bind(&c.secret_sealed)
                .bind(to_json(&c.settings)?)
                .bind(c.created_at)
                .bind(c.updated_at)
                .execute(&self.pool)
                .await;
                match r {
                    Err(e) if is_unique_violation(&e) => {
                        Err(Error::new(ErrorKind::Conflict, "an app client with this id exists"))
                    }
                    r => r.map(|_| ()).map_err(Into::into),
                }
            }
            async fn client_pool_id(&self, client_id: &str) -> Result<Option<String>> {
                Ok(sqlx::query_scalar::<$db, String>("SELECT pool_id FROM app_clients WHERE id = $1")
                    .bind(client_id)
                    .fetch_optional(&self.pool)
                    .await?)
            }
            async fn get_client(&self, pool_id: &str, client_id: &str) -> Result<Option<AppClient>> {
                sqlx::query_as::<$db, ClientRow>(
                    "SELECT id, pool_id, name, secret_sealed, settings, created_at, updated_at FROM app_clients \
                     WHERE pool_id = $1 AND id = $2",
                )
                .bind(pool_id)
                .bind(client_id)
                .fetch_optional(&self.pool)
                .await?
                .map(ClientRow::into_client)
                .transpose()
            }
            async fn list_clients(&self, pool_id: &str) -> Result<Vec<AppClient>> {
                sqlx::query_as::<$db, ClientRow>(
                    "SELECT id, pool_id, name, secret_sealed, settings, created_at, updated_at FROM app_clients \
                     WHERE pool_id = $1 ORDER BY created_at, id",
                )
                .bind(pool_id)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(ClientRow::into_client)
                .collect()
            }
            async fn update_client(&self, c: &AppClient) -> Result<bool> {
                let r = sqlx::query::<$db>(
                    "UPDATE app_clients SET name = $3, secret_sealed = $4, settings = $5, updated_at = $6 \
                     WHERE pool_id = $1 AND id = $2",
                )
                .bind(&c.pool_id)
                .bind(&c.id)
                .bind(&c.name)
                .bind(&c.secret_sealed)
                .bind(to_json(&c.settings)?)
                .bind(c.updated_at)
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() == 1)
            }
            async fn delete_client(&self, pool_id: &str, client_id: &str, now: i64) -> Result<bool> {
                let mut tx = self.pool.begin().await?;
                let r = sqlx::query::<$db>("DELETE FROM app_clients WHERE pool_id = $1 AND id = $2")
                    .bind(pool_id)
                    .bind(client_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query::<$db>(
                    "UPDATE token_families SET revoked_at = $3 WHERE pool_id = $1 AND client_id = $2 AND revoked_at IS NULL",
                )
                .bind(pool_id)
                .bind(client_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(r.rows_affected() == 1)
            }
        }

        #[async_trait]
        impl UserStore for SqlStore<$db> {
            async fn create_user(&self, u: &User, aliases: &[Alias], code: Option<&CodeRecord>) -> Result<()> {
                let mut tx = self.pool.begin().await?;
                let r = sqlx::query::<$db>(
                    "INSERT INTO users (pool_id, sub, username, status, enabled, password_hash, srp_sealed, attributes, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&u.pool_id)
                .bind(&u.sub)
                .bind(&u.username)
                .bind(u.status.as_str())
                .bind(u.enabled)
                .bind(&u.password_hash)
                .bind(&u.srp_sealed)
                .bind(to_json(&u.attributes)?)
                .bind(u.created_at)
                .bind(u.updated_at)
                .execute(&mut *tx)
                .await;
                match r {
                    Err(e) if is_unique_violation(&e) => {
                        return Err(Error::new(ErrorKind::UsernameExists, "User already exists"));
                    }
                    r => {
                        r?;
                    }
                }
                Self::insert_aliases_tx(&mut tx, &u.pool_id, &u.sub, aliases).await?;
                if let Some(c) = code {
                    insert_code(&mut *tx, c).await?;
                }
                tx.commit().await?;
                Ok(())
            }
            async fn get_user(&self, pool_id: &str, sub: &str) -> Result<Option<User>> {
                sqlx::query_as::<$db, UserRow>(concat!("SELECT ", user_cols!(), " FROM users WHERE pool_id = $1 AND sub = $2"))
                    .bind(pool_id)
                    .bind(sub)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(UserRow::into_user)
                    .transpose()
            }
            async fn get_user_with_groups(&self, pool_id: &str, sub: &str) -> Result<Option<(User, Vec<Group>)>> {
                // One row per group (or one with NULL group columns).
                let rows = sqlx::query_as::<$db, UserGroupRow>(
                    "SELECT u.pool_id, u.sub, u.username, u.status, u.enabled, u.password_hash, u.srp_sealed, u.attributes, \
                     u.created_at, u.updated_at, \
                     g.name AS g_name, g.description AS g_description, g.precedence AS g_precedence, g.role_arn AS g_role_arn, \
                     g.created_at AS g_created_at, g.updated_at AS g_updated_at \
                     FROM users u \
                     LEFT JOIN group_members m ON m.pool_id = u.pool_id AND m.sub = u.sub \
                     LEFT JOIN user_groups g ON g.pool_id = m.pool_id AND g.name = m.group_name \
                     WHERE u.pool_id = $1 AND u.sub = $2",
                )
                .bind(pool_id)
                .bind(sub)
                .fetch_all(&self.pool)
                .await?;
                let Some((r, groups)) =
                    first_with_groups(rows, |r| std::mem::take(&mut r.group).into_group(&r.user.pool_id))
                else {
                    return Ok(None);
                };
                Ok(Some((r.user.into_user()?, groups)))
            }
            async fn sign_in_lookup(&self, pool_id: &str, by: UserLookup<'_>, source: &str) -> Result<Option<SignInRecord>> {
                // One row per group (or one with NULL group columns); the two
                // throttle rows are unique per (user, source), so they never
                // multiply the rows.
                let rows = match by {
                    UserLookup::Username(username) => {
                        sqlx::query_as::<$db, SignInRow>(sign_in_sql!(
                            "users u",
                            "$3",
                            " WHERE u.pool_id = $1 AND u.username = $2"
                        ))
                        .bind(pool_id)
                        .bind(username)
                        .bind(source)
                        .fetch_all(&self.pool)
                        .await?
                    }
                    UserLookup::Alias(kind, value) => {
                        sqlx::query_as::<$db, SignInRow>(sign_in_sql!(
                            "user_aliases a JOIN users u ON u.pool_id = a.pool_id AND u.sub = a.sub",
                            "$4",
                            " WHERE a.pool_id = $1 AND a.kind = $2 AND a.value = $3"
                        ))
                        .bind(pool_id)
                        .bind(kind)
                        .bind(value)
                        .bind(source)
                        .fetch_all(&self.pool)
                        .await?
                    }
                };
                let Some((r, groups)) =
                    first_with_groups(rows, |r| std::mem::take(&mut r.group).into_group(&r.user.pool_id))
                else {
                    return Ok(None);
                };
                let throttle = SigninThrottle {
                    account_failures: r.a_failures.unwrap_or(0),
                    account_locked_until: r.a_locked_until.unwrap_or(0),
                    source_failures: r.s_failures.unwrap_or(0),
                    source_locked_until: r.s_locked_until.unwrap_or(0),
                    known_at: r.k_last_success.unwrap_or(0),
                };
                Ok(Some(SignInRecord { user: r.user.into_user()?, groups, throttle }))
            }
            async fn get_user_by_username(&self, pool_id: &str, username: &str) -> Result<Option<User>> {
                sqlx::query_as::<$db, UserRow>(concat!("SELECT ", user_cols!(), " FROM users WHERE pool_id = $1 AND username = $2"))
                    .bind(pool_id)
                    .bind(username)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(UserRow::into_user)
                    .transpose()
            }
            async fn find_alias(&self, pool_id: &str, kind: &str, value: &str) -> Result<Option<String>> {
                Ok(sqlx::query_scalar::<$db, String>(
                    "SELECT sub FROM user_aliases WHERE pool_id = $1 AND kind = $2 AND value = $3",
                )
                .bind(pool_id)
                .bind(kind)
                .bind(value)
                .fetch_optional(&self.pool)
                .await?)
            }
            async fn get_user_by_alias(&self, pool_id: &str, kind: &str, value: &str) -> Result<Option<User>> {
                sqlx::query_as::<$db, UserRow>(
                    "SELECT u.pool_id, u.sub, u.username, u.status, u.enabled, u.password_hash, u.srp_sealed, u.attributes, \
                     u.created_at, u.updated_at FROM user_aliases a JOIN users u ON u.pool_id = a.pool_id AND u.sub = a.sub \
                     WHERE a.pool_id = $1 AND a.kind = $2 AND a.value = $3",
                )
                .bind(pool_id)
                .bind(kind)
                .bind(value)
                .fetch_optional(&self.pool)
                .await?
                .map(UserRow::into_user)
                .transpose()
            }
            async fn update_user(&self, u: &User) -> Result<bool> {
                let r = sqlx::query::<$db>(
                    "UPDATE users SET status = $3, enabled = $4, password_hash = $5, srp_sealed = $6, attributes = $7, updated_at = $8 \
                     WHERE pool_id = $1 AND sub = $2",
                )
                .bind(&u.pool_id)
                .bind(&u.sub)
                .bind(u.status.as_str())
                .bind(u.enabled)
                .bind(&u.password_hash)
                .bind(&u.srp_sealed)
                .bind(to_json(&u.attributes)?)
                .bind(u.updated_at)
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() == 1)
            }
            async fn delete_user(&self, pool_id: &str, sub: &str) -> Result<bool> {
                let r = sqlx::query::<$db>("DELETE FROM users WHERE pool_id = $1 AND sub = $2")
                    .bind(pool_id)
                    .bind(sub)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }
            async fn count_users(&self, pool_id: &str) -> Result<i64> {
                Ok(sqlx::query_scalar::<$db, i64>("SELECT COUNT(*) FROM users WHERE pool_id = $1")
                    .bind(pool_id)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn signin_failures(&self, pool_id: &str, sub: &str, source: &str) -> Result<SigninThrottle> {
                let rows = sqlx::query_as::<$db, (String, i32, i64)>(
                    "SELECT source, failures, locked_until FROM signin_failures WHERE pool_id = $1 AND sub = $2 AND source IN ('', $3)",
                )
                .bind(pool_id)
                .bind(sub)
                .bind(source)
                .fetch_all(&self.pool)
                .await?;
                let mut t = SigninThrottle::default();
                for (s, n, until) in rows {
                    if s.is_empty() {
                        (t.account_failures, t.account_locked_until) = (n, until);
                    } else {
                        (t.source_failures, t.source_locked_until) = (n, until);
                    }
                }
                Ok(t)
            }
            async fn record_signin_failure(
                &self,
                pool_id: &str,
                sub: &str,
                source: &str,
                lock_account: &(dyn Fn(i32) -> i64 + Sync),
                lock_source: &(dyn Fn(i32) -> i64 + Sync),
            ) -> Result<()> {
                let mut tx = self.pool.begin().await?;
                for (src, lock) in [("", lock_account), (source, lock_source)] {
                    let n = sqlx::query_scalar::<$db, i32>(
                        "INSERT INTO signin_failures (pool_id, sub, source, failures, locked_until) VALUES ($1, $2, $3, 1, 0) \
                         ON CONFLICT (pool_id, sub, source) DO UPDATE SET failures = signin_failures.failures + 1 RETURNING failures",
                    )
                    .bind(pool_id)
                    .bind(sub)
                    .bind(src)
                    .fetch_one(&mut *tx)
                    .await?;
                    sqlx::query::<$db>("UPDATE signin_failures SET locked_until = $4 WHERE pool_id = $1 AND sub = $2 AND source = $3")
                        .bind(pool_id)
                        .bind(sub)
                        .bind(src)
                        .bind(lock(n))
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }
            async fn clear_signin_failures(&self, pool_id: &str, sub: &str) -> Result<()> {
                sqlx::query::<$db>("DELETE FROM signin_failures WHERE pool_id = $1 AND sub = $2")
                    .bind(pool_id)
                    .bind(sub)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
            async fn note_signin_success(&self, pool_id: &str, sub: &str, source: &str, at: i64) -> Result<()> {
                sqlx::query::<$db>(
                    "INSERT INTO signin_known_sources (pool_id, sub, source, last_success_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (pool_id, sub, source) DO UPDATE SET last_success_at = excluded.last_success_at",
                )
                .bind(pool_id)
                .bind(sub)
                .bind(source)
                .bind(at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }
            async fn name_failures(&self, pool_id: &str, name_key: &str, source: &str) -> Result<SigninThrottle> {
                let rows = sqlx::query_as::<$db, (String, i32, i64)>(
                    "SELECT source, failures, locked_until FROM signin_name_failures \
                     WHERE pool_id = $1 AND name_key = $2 AND source IN ('', $3)",
                )
                .bind(pool_id)
                .bind(name_key)
                .bind(source)
                .fetch_all(&self.pool)
                .await?;
                let mut t = SigninThrottle::default();
                for (s, n, until) in rows {
                    if s.is_empty() {
                        (t.account_failures, t.account_locked_until) = (n, until);
                    } else {
                        (t.source_failures, t.source_locked_until) = (n, until);
                    }
                }
                Ok(t)
            }
            async fn record_name_failure(
                &self,
                pool_id: &str,
                name_key: &str,
                source: &str,
                now: i64,
                lock_account: &(dyn Fn(i32) -> i64 + Sync),
                lock_source: &(dyn Fn(i32) -> i64 + Sync),
            ) -> Result<()> {
                // The same statements as a known account's failure: the
                // same work, so the same time.
                let mut tx = self.pool.begin().await?;
                for (src, lock) in [("", lock_account), (source, lock_source)] {
                    let n = sqlx::query_scalar::<$db, i32>(
                        "INSERT INTO signin_name_failures (pool_id, name_key, source, failures, locked_until, updated_at) \
                         VALUES ($1, $2, $3, 1, 0, $4) ON CONFLICT (pool_id, name_key, source) \
                         DO UPDATE SET failures = signin_name_failures.failures + 1, updated_at = excluded.updated_at \
                         RETURNING failures",
                    )
                    .bind(pool_id)
                    .bind(name_key)
                    .bind(src)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    sqlx::query::<$db>(
                        "UPDATE signin_name_failures SET locked_until = $4 WHERE pool_id = $1 AND name_key = $2 AND source = $3",
                    )
                    .bind(pool_id)
                    .bind(name_key)
                    .bind(src)
                    .bind(lock(n))
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }
            async fn purge_name_failures(&self, before: i64) -> Result<u64> {
                let r = sqlx::query::<$db>("DELETE FROM signin_name_failures WHERE updated_at < $1 AND locked_until < $1")
                    .bind(before)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected())
            }
            async fn list_users(&self, pool_id: &str, after: Option<&str>, limit: i64) -> Result<Vec<User>> {
                sqlx::query_as::<$db, UserRow>(concat!(
                    "SELECT ", user_cols!(), " FROM users WHERE pool_id = $1 AND sub > $2 ORDER BY sub LIMIT $3"
                ))
                .bind(pool_id)
                .bind(after.unwrap_or(""))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(UserRow::into_user)
                .collect()
            }
            async fn list_users_filtered(&self, pool_id: &str, filters: &[UserFilter], after: Option<&str>, limit: i64) -> Result<Vec<User>> {
                // Built only from fixed fragments and numbered placeholders;
                // every value (and attribute key) is bound.
                let mut sql = String::from(concat!("SELECT ", user_cols!(), " FROM users WHERE pool_id = $1 AND sub > $2"));
                let mut n = 2;
                for f in filters {
                    let op = if f.prefix { "LIKE" } else { "=" };
                    let esc = if f.prefix { " ESCAPE '\\'" } else { "" };
                    match &f.field {
                        FilterField::Status => {
                            n += 1;
                            sql.push_str(&format!(" AND status {op} ${n}{esc}"));
                        }
                        FilterField::Enabled => {
                            n += 1;
                            sql.push_str(&format!(" AND enabled = ${n}"));
                        }
                        FilterField::Username => {
                            n += 1;
                            sql.push_str(&format!(" AND username {op} ${n}{esc}"));
                        }
                        FilterField::Attribute(_) => {
                            n += 2;
                            sql.push_str(&format!(" AND {} {op} ${}{esc}", $json_attr(n - 1), n));
                        }
                    }
                }
                n += 1;
                sql.push_str(&format!(" ORDER BY sub LIMIT ${n}"));
                let mut q = sqlx::query_as::<$db, UserRow>(sqlx::AssertSqlSafe(sql)).bind(pool_id).bind(after.unwrap_or(""));
                for f in filters {
                    let value = if f.prefix { like_prefix(&f.value) } else { f.value.clone() };
                    q = match &f.field {
                        FilterField::Status | FilterField::Username => q.bind(value),
                        FilterField::Enabled => q.bind(f.value == "true"),
                        FilterField::Attribute(name) => q.bind($json_key(name)).bind(value),
                    };
                }
                q.bind(limit).fetch_all(&self.pool).await?.into_iter().map(UserRow::into_user).collect()
            }
            async fn user_aliases(&self, pool_id: &str, sub: &str) -> Result<Vec<Alias>> {
                Ok(sqlx::query_as::<$db, (String, String)>(
                    "SELECT kind, value FROM user_aliases WHERE pool_id = $1 AND sub = $2 ORDER BY kind, value",
                )
                .bind(pool_id)
                .bind(sub)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|(kind, value)| Alias { kind, value })
                .collect())
            }

            async fn put_code(&self, c: &CodeRecord) -> Result<()> {
                insert_code(&self.pool, c).await
            }
            async fn get_code(&self, pool_id: &str, sub: &str, purpose: CodePurpose) -> Result<Option<CodeRecord>> {
                Ok(sqlx::query_as::<$db, CodeRow>(
                    "SELECT pool_id, sub, code_hash, expires_at, attempts, created_at FROM codes \
                     WHERE pool_id = $1 AND sub = $2 AND purpose = $3",
                )
                .bind(pool_id)
                .bind(sub)
                .bind(purpose.as_str())
                .fetch_optional(&self.pool)
                .await?
                .map(|r| CodeRecord {
                    pool_id: r.pool_id,
                    sub: r.sub,
                    purpose,
                    code_hash: r.code_hash,
                    expires_at: r.expires_at,
                    attempts: r.attempts,
                    created_at: r.created_at,
                }))
            }
            async fn bump_code_attempts(&self, pool_id: &str, sub: &str, purpose: CodePurpose) -> Result<i32> {
                Ok(sqlx::query_scalar::<$db, i32>(
                    "UPDATE codes SET attempts = attempts + 1 WHERE pool_id = $1 AND sub = $2 AND purpose = $3 RETURNING attempts",
                )
                .bind(pool_id)
                .bind(sub)
                .bind(purpose.as_str())
                .fetch_optional(&self.pool)
                .await?
                .unwrap_or(i32::MAX))
            }
            async fn delete_code(&self, pool_id: &str, sub: &str, purpose: CodePurpose) -> Result<()> {
                sqlx::query::<$db>("DELETE FROM codes WHERE pool_id = $1 AND sub = $2 AND purpose = $3")
                    .bind(pool_id)
                    .bind(sub)
                    .bind(purpose.as_str())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
            async fn verify_attribute(
                &self,
                pool_id: &str,
                sub: &str,
                purpose: CodePurpose,
                code_hash: &str,
                alias_move: Option<(&str, Option<&str>, &str)>,
                attributes: &Attributes,
                now: i64,
            ) -> Result<bool> {
                let mut tx = self.pool.begin().await?;
                if !Self::consume_code_tx(&mut tx, pool_id, sub, purpose, code_hash).await? {
                    return Ok(false);
                }
                if let Some((kind, old, new)) = alias_move {
                    if let Some(old) = old {
                        sqlx::query::<$db>("DELETE FROM user_aliases WHERE pool_id = $1 AND kind = $2 AND value = $3 AND sub = $4")
                            .bind(pool_id)
                            .bind(kind)
                            .bind(old)
                            .bind(sub)
                            .execute(&mut *tx)
                            .await?;
                    }
                    Self::insert_aliases_tx(&mut tx, pool_id, sub, &[Alias { kind: kind.to_owned(), value: new.to_owned() }]).await?;
                }
                sqlx::query::<$db>("UPDATE users SET attributes = $3, updated_at = $4 WHERE pool_id = $1 AND sub = $2")
                    .bind(pool_id)
                    .bind(sub)
                    .bind(to_json(attributes)?)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }
            #[allow(clippy::too_many_arguments)]
            async fn reset_password(
                &self,
                pool_id: &str,
                sub: &str,
                code_hash: &str,
                password_hash: &str,
                srp_sealed: Option<&[u8]>,
                status: UserStatus,
                now: i64,
            ) -> Result<bool> {
                let mut tx = self.pool.begin().await?;
                if !Self::consume_code_tx(&mut tx, pool_id, sub, CodePurpose::ResetPassword, code_hash).await? {
                    return Ok(false);
                }
                sqlx::query::<$db>("UPDATE users SET password_hash = $3, status = $4, updated_at = $5, srp_sealed = $6 WHERE pool_id = $1 AND sub = $2")
                    .bind(pool_id)
                    .bind(sub)
                    .bind(password_hash)
                    .bind(status.as_str())
                    .bind(now)
                    .bind(srp_sealed)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query::<$db>("UPDATE token_families SET revoked_at = $3 WHERE pool_id = $1 AND sub = $2 AND revoked_at IS NULL")
                    .bind(pool_id)
                    .bind(sub)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query::<$db>("DELETE FROM login_sessions WHERE pool_id = $1 AND sub = $2")
                    .bind(pool_id)
                    .bind(sub)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }
            async fn confirm_signup(&self, pool_id: &str, sub: &str, code_hash: &str, aliases: &[Alias], verified: &[String], now: i64) -> Result<bool> {
                let mut tx = self.pool.begin().await?;
                if !Self::consume_code_tx(&mut tx, pool_id, sub, CodePurpose::Signup, code_hash).await? {
                    return Ok(false);
                }
                Self::insert_aliases_tx(&mut tx, pool_id, sub, aliases).await?;
                let user = sqlx::query_as::<$db, UserRow>(concat!("SELECT ", user_cols!(), " FROM users WHERE pool_id = $1 AND sub = $2"))
                    .bind(pool_id)
                    .bind(sub)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(user) = user else { return Ok(false) };
                let mut user = user.into_user()?;
                user.status = UserStatus::Confirmed;
                for k in verified {
                    if user.attributes.contains_key(k.as_str()) {
                        user.attributes.insert(format!("{k}_verified"), "true".into());
                    }
                }
                sqlx::query::<$db>("UPDATE users SET status = $3, attributes = $4, updated_at = $5 WHERE pool_id = $1 AND sub = $2")
                    .bind(pool_id)
                    .bind(sub)
                    .bind(user.status.as_str())
                    .bind(to_json(&user.attributes)?)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }
        }

        #[async_trait]
        impl TokenStore for SqlStore<$db> {
            async fn create_family(&self, f: &TokenFamily, first_token_hash: &str) -> Result<()> {
                // Written by the family writer, with whatever else is queued.
                let stopped = || Error::internal(anyhow::anyhow!("the refresh-family writer has stopped"));
                let (reply, answer) = tokio::sync::oneshot::channel();
                self.families
                    .send((f.clone(), first_token_hash.to_owned(), reply))
                    .await
                    .map_err(|_| stopped())?;
                answer.await.map_err(|_| stopped())?
            }
            async fn get_refresh_token(&self, token_hash: &str) -> Result<Option<(RefreshTokenRecord, TokenFamily)>> {
                let row = sqlx::query_as::<$db, RefreshJoinRow>(
                    "SELECT t.token_hash, t.family_id, t.created_at AS t_created_at, t.used_at, \
                     f.id, f.pool_id, f.sub, f.client_id, f.auth_time, f.created_at, f.expires_at, f.revoked_at, f.scope \
                     FROM refresh_tokens t JOIN token_families f ON f.id = t.family_id WHERE t.token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|r| {
                    (
                        RefreshTokenRecord {
                            token_hash: r.token_hash,
                            family_id: r.family_id,
                            created_at: r.t_created_at,
                            used_at: r.used_at,
                        },
                        r.family.into(),
                    )
                }))
            }
            async fn get_refresh_session(&self, token_hash: &str) -> Result<Option<RefreshSession>> {
                // One row per group of the user (or one row with NULL group
                // columns): token, family, user and groups in one round trip.
                let rows = sqlx::query_as::<$db, RefreshSessionRow>(
                    "SELECT t.token_hash, t.family_id, t.created_at AS t_created_at, t.used_at, \
                     f.id, f.pool_id, f.sub, f.client_id, f.auth_time, f.created_at, f.expires_at, f.revoked_at, f.scope, \
                     u.username AS u_username, u.status AS u_status, u.enabled AS u_enabled, u.password_hash AS u_password_hash, \
                     u.srp_sealed AS u_srp_sealed, u.attributes AS u_attributes, u.created_at AS u_created_at, u.updated_at AS u_updated_at, \
                     g.name AS g_name, g.description AS g_description, g.precedence AS g_precedence, g.role_arn AS g_role_arn, \
                     g.created_at AS g_created_at, g.updated_at AS g_updated_at \
                     FROM refresh_tokens t JOIN token_families f ON f.id = t.family_id \
                     JOIN users u ON u.pool_id = f.pool_id AND u.sub = f.sub \
                     LEFT JOIN group_members m ON m.pool_id = u.pool_id AND m.sub = u.sub \
                     LEFT JOIN user_groups g ON g.pool_id = m.pool_id AND g.name = m.group_name \
                     WHERE t.token_hash = $1",
                )
                .bind(token_hash)
                .fetch_all(&self.pool)
                .await?;
                let Some((r, groups)) =
                    first_with_groups(rows, |r| std::mem::take(&mut r.group).into_group(&r.family.pool_id))
                else {
                    return Ok(None);
                };
                let user = UserRow {
                    pool_id: r.family.pool_id.clone(),
                    sub: r.family.sub.clone(),
                    username: r.u_username,
                    status: r.u_status,
                    enabled: r.u_enabled,
                    password_hash: r.u_password_hash,
                    srp_sealed: r.u_srp_sealed,
                    attributes: r.u_attributes,
                    created_at: r.u_created_at,
                    updated_at: r.u_updated_at,
                }
                .into_user()?;
                let token = RefreshTokenRecord { token_hash: r.token_hash, family_id: r.family_id, created_at: r.t_created_at, used_at: r.used_at };
                Ok(Some(RefreshSession { token, family: r.family.into(), user, groups }))
            }
            async fn rotate_refresh_token(&self, old_hash: &str, next: &RefreshTokenRecord, now: i64) -> Result<bool> {
                let _turn = self.write_turn().await;
                let mut tx = self.pool.begin().await?;
                let r = sqlx::query::<$db>("UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL")
                    .bind(old_hash)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                if r.rows_affected() != 1 {
                    return Ok(false);
                }
                insert_refresh(&mut *tx, next).await?;
                tx.commit().await?;
                Ok(true)
            }
            async fn get_family(&self, family_id: &str) -> Result<Option<TokenFamily>> {
                Ok(sqlx::query_as::<$db, FamilyRow>(concat!("SELECT ", family_cols!(), " FROM token_families WHERE id = $1"))
                    .bind(family_id)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(Into::into))
            }
            async fn revoke_family(&self, family_id: &str, now: i64) -> Result<bool> {
                let r = sqlx::query::<$db>("UPDATE token_families SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                    .bind(family_id)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }
            async fn revoke_user_families(&self, pool_id: &str, sub: &str, now: i64) -> Result<u64> {
                let mut tx = self.pool.begin().await?;
                let r = sqlx::query::<$db>(
                    "UPDATE token_families SET revoked_at = $3 WHERE pool_id = $1 AND sub = $2 AND revoked_at IS NULL",
                )
                .bind(pool_id)
                .bind(sub)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                // The hosted pages' sign-in sessions end with the tokens.
                sqlx::query::<$db>("DELETE FROM login_sessions WHERE pool_id = $1 AND sub = $2")
                    .bind(pool_id)
                    .bind(sub)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(r.rows_affected())
            }
        }

        #[async_trait]
        impl OAuthStore for SqlStore<$db> {
            async fn purge_login_sessions(&self, before: i64) -> Result<u64> {
                let b = sqlx::query::<$db>("DELETE FROM login_sessions WHERE expires_at < $1").bind(before).execute(&self.pool).await?.rows_affected();
                let c = sqlx::query::<$db>("DELETE FROM federation_states WHERE expires_at < $1").bind(before).execute(&self.pool).await?.rows_affected();
                Ok(b + c)
            }
            async fn insert_login_session(&self, l: &LoginSession) -> Result<()> {
                sqlx::query::<$db>("INSERT INTO login_sessions (id_hash, pool_id, sub, auth_time, expires_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&l.id_hash)
                    .bind(&l.pool_id)
                    .bind(&l.sub)
                    .bind(l.auth_time)
                    .bind(l.expires_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
            async fn get_login_session(&self, id_hash: &str) -> Result<Option<LoginSession>> {
                Ok(sqlx::query_as::<$db, (String, String, String, i64, i64)>(
                    "SELECT id_hash, pool_id, sub, auth_time, expires_at FROM login_sessions WHERE id_hash = $1",
                )
                .bind(id_hash)
                .fetch_optional(&self.pool)
                .await?
                .map(|(id_hash, pool_id, sub, auth_time, expires_at)| LoginSession { id_hash, pool_id, sub, auth_time, expires_at }))
            }
            async fn delete_login_session(&self, id_hash: &str) -> Result<bool> {
                Ok(sqlx::query::<$db>("DELETE FROM login_sessions WHERE id_hash = $1")
                    .bind(id_hash)
                    .execute(&self.pool)
                    .await?
                    .rows_affected()
                    == 1)
            }
        }

        #[async_trait]
        impl GroupStore for SqlStore<$db> {
            async fn insert_group(&self, g: &Group) -> Result<()> {
                let r = sqlx::query::<$db>(
                    "INSERT INTO user_groups (pool_id, name, description, precedence, role_arn, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&g.pool_id)
                .bind(&g.name)
                .bind(&g.description)
                .bind(g.precedence)
                .bind(&g.role_arn)
                .bind(g.created_at)
                .bind(g.updated_at)
                .execute(&self.pool)
                .await;
                match r {
                    Err(e) if is_unique_violation(&e) => Err(Error::new(ErrorKind::Conflict, "A group with this name exists")),
                    r => r.map(|_| ()).map_err(Into::into),
                }
            }
            async fn get_group(&self, pool_id: &str, name: &str) -> Result<Option<Group>> {
                Ok(sqlx::query_as::<$db, GroupRow>(
                    "SELECT pool_id, name, description, precedence, role_arn, created_at, updated_at FROM user_groups \
                     WHERE pool_id = $1 AND name = $2",
                )
                .bind(pool_id)
                .bind(name)
                .fetch_optional(&self.pool)
                .await?
                .map(Into::into))
            }
            async fn list_groups(&self, pool_id: &str, after: Option<&str>, limit: i64) -> Result<Vec<Group>> {
                Ok(sqlx::query_as::<$db, GroupRow>(
                    "SELECT pool_id, name, description, precedence, role_arn, created_at, updated_at FROM user_groups \
                     WHERE pool_id = $1 AND name > $2 ORDER BY name LIMIT $3",
                )
                .bind(pool_id)
                .bind(after.unwrap_or(""))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(Into::into)
                .collect())
            }
            async fn update_group(&self, g: &Group) -> Result<bool> {
                let r = sqlx::query::<$db>(
                    "UPDATE user_groups SET description = $3, precedence = $4, role_arn = $5, updated_at = $6 \
                     WHERE pool_id = $1 AND name = $2",
                )
                .bind(&g.pool_id)
                .bind(&g.name)
                .bind(&g.description)
                .bind(g.precedence)
                .bind(&g.role_arn)
                .bind(g.updated_at)
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() == 1)
            }
            async fn delete_group(&self, pool_id: &str, name: &str) -> Result<bool> {
                let r = sqlx::query::<$db>("DELETE FROM user_groups WHERE pool_id = $1 AND name = $2")
                    .bind(pool_id)
                    .bind(name)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }
            async fn add_member(&self, pool_id: &str, group: &str, sub: &str) -> Result<()> {
                sqlx::query::<$db>(
                    "INSERT INTO group_members (pool_id, group_name, sub) VALUES ($1, $2, $3) \
                     ON CONFLICT (pool_id, group_name, sub) DO NOTHING",
                )
                .bind(pool_id)
                .bind(group)
                .bind(sub)
                .execute(&self.pool)
                .await?;
                Ok(())
            }
            async fn remove_member(&self, pool_id: &str, group: &str, sub: &str) -> Result<bool> {
                let r = sqlx::query::<$db>("DELETE FROM group_members WHERE pool_id = $1 AND group_name = $2 AND sub = $3")
                    .bind(pool_id)
                    .bind(group)
                    .bind(sub)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }
            async fn groups_of_user(&self, pool_id: &str, sub: &str) -> Result<Vec<Group>> {
                let mut groups: Vec<Group> = sqlx::query_as::<$db, GroupRow>(
                    "SELECT g.pool_id, g.name, g.description, g.precedence, g.role_arn, g.created_at, g.updated_at \
                     FROM group_members m JOIN user_groups g ON g.pool_id = m.pool_id AND g.name = m.group_name \
                     WHERE m.pool_id = $1 AND m.sub = $2",
                )
                .bind(pool_id)
                .bind(sub)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(Into::into)
                .collect();
                sort_groups(&mut groups);
                Ok(groups)
            }
            async fn members_of_group(&self, pool_id: &str, group: &str, after: Option<&str>, limit: i64) -> Result<Vec<User>> {
                sqlx::query_as::<$db, UserRow>(
                    "SELECT u.pool_id, u.sub, u.username, u.status, u.enabled, u.password_hash, u.srp_sealed, u.attributes, \
                     u.created_at, u.updated_at FROM group_members m JOIN users u ON u.pool_id = m.pool_id AND u.sub = m.sub \
                     WHERE m.pool_id = $1 AND m.group_name = $2 AND m.sub > $3 ORDER BY m.sub LIMIT $4",
                )
                .bind(pool_id)
                .bind(group)
                .bind(after.unwrap_or(""))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(UserRow::into_user)
                .collect()
            }
        }

        #[async_trait]
        impl SessionStore for SqlStore<$db> {
            async fn insert_session(&self, x: &AuthSession) -> Result<()> {
                match sqlx::query::<$db>(
                    "INSERT INTO auth_sessions (id, pool_id, client_id, sub, challenge, state, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&x.id)
                .bind(&x.pool_id)
                .bind(&x.client_id)
                .bind(&x.sub)
                .bind(&x.challenge)
                .bind(&x.state)
                .bind(x.created_at)
                .bind(x.expires_at)
                .execute(&self.pool)
                .await
                {
                    Ok(_) => Ok(()),
                    // Two concurrent starts of one keyed flow: one wins.
                    Err(e) if is_unique_violation(&e) => Err(Error::new(
                        ErrorKind::Conflict,
                        "Another request started this step at the same time; try again",
                    )),
                    Err(e) => Err(e.into()),
                }
            }
            async fn get_session(&self, id: &str) -> Result<Option<AuthSession>> {
                Ok(sqlx::query_as::<$db, SessionRow>(
                    "SELECT id, pool_id, client_id, sub, challenge, state, created_at, expires_at FROM auth_sessions WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .map(Into::into))
            }
            async fn take_session(&self, id: &str) -> Result<Option<AuthSession>> {
                Ok(sqlx::query_as::<$db, SessionRow>(
                    "DELETE FROM auth_sessions WHERE id = $1 \
                     RETURNING id, pool_id, client_id, sub, challenge, state, created_at, expires_at",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .map(Into::into))
            }
        }

        #[async_trait]
        impl FederationStore for SqlStore<$db> {
            async fn insert_identity_provider(&self, p: &IdentityProvider) -> Result<()> {
                let r = sqlx::query::<$db>(
                    "INSERT INTO identity_providers (pool_id, name, provider_type, settings, secret_sealed, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&p.pool_id)
                .bind(&p.name)
                .bind(p.provider_type.as_str())
                .bind(to_json(&p.settings)?)
                .bind(&p.secret_sealed)
                .bind(p.created_at)
                .bind(p.updated_at)
                .execute(&self.pool)
                .await;
                match r {
                    Err(e) if is_unique_violation(&e) => Err(Error::new(ErrorKind::Conflict, "An identity provider with this name exists")),
                    r => r.map(|_| ()).map_err(Into::into),
                }
            }
            async fn get_identity_provider(&self, pool_id: &str, name: &str) -> Result<Option<IdentityProvider>> {
                sqlx::query_as::<$db, ProviderRow>(
                    "SELECT pool_id, name, provider_type, settings, secret_sealed, created_at, updated_at FROM identity_providers \
                     WHERE pool_id = $1 AND name = $2",
                )
                .bind(pool_id)
                .bind(name)
                .fetch_optional(&self.pool)
                .await?
                .map(provider_from_row)
                .transpose()
            }
            async fn list_identity_providers(&self, pool_id: &str) -> Result<Vec<IdentityProvider>> {
                sqlx::query_as::<$db, ProviderRow>(
                    "SELECT pool_id, name, provider_type, settings, secret_sealed, created_at, updated_at FROM identity_providers \
                     WHERE pool_id = $1 ORDER BY name",
                )
                .bind(pool_id)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(provider_from_row)
                .collect()
            }
            async fn update_identity_provider(&self, p: &IdentityProvider) -> Result<bool> {
                let r = sqlx::query::<$db>(
                    "UPDATE identity_providers SET settings = $3, secret_sealed = $4, updated_at = $5 WHERE pool_id = $1 AND name = $2",
                )
                .bind(&p.pool_id)
                .bind(&p.name)
                .bind(to_json(&p.settings)?)
                .bind(&p.secret_sealed)
                .bind(p.updated_at)
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() == 1)
            }
            async fn delete_identity_provider(&self, pool_id: &str, name: &str) -> Result<bool> {
                let r = sqlx::query::<$db>("DELETE FROM identity_providers WHERE pool_id = $1 AND name = $2")
                    .bind(pool_id)
                    .bind(name)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }
            async fn link_identity(&self, l: &UserIdentity) -> Result<()> {
                let r = sqlx::query::<$db>(
                    "INSERT INTO user_identities (pool_id, provider, subject, sub, created_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&l.pool_id)
                .bind(&l.provider)
                .bind(&l.subject)
                .bind(&l.sub)
                .bind(l.created_at)
                .execute(&self.pool)
                .await;
                match r {
                    Err(e) if is_unique_violation(&e) => Err(Error::new(ErrorKind::Conflict, "This identity is already linked to a user")),
                    r => r.map(|_| ()).map_err(Into::into),
                }
            }
            async fn find_identity(&self, pool_id: &str, provider: &str, subject: &str) -> Result<Option<String>> {
                Ok(sqlx::query_scalar::<$db, String>(
                    "SELECT sub FROM user_identities WHERE pool_id = $1 AND provider = $2 AND subject = $3",
                )
                .bind(pool_id)
                .bind(provider)
                .bind(subject)
                .fetch_optional(&self.pool)
                .await?)
            }
            async fn identities_of_user(&self, pool_id: &str, sub: &str) -> Result<Vec<UserIdentity>> {
                Ok(sqlx::query_as::<$db, (String, String, String, String, i64)>(
                    "SELECT pool_id, provider, subject, sub, created_at FROM user_identities \
                     WHERE pool_id = $1 AND sub = $2 ORDER BY created_at, provider, subject",
                )
                .bind(pool_id)
                .bind(sub)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|(pool_id, provider, subject, sub, created_at)| UserIdentity { pool_id, provider, subject, sub, created_at })
                .collect())
            }
            async fn unlink_identity(&self, pool_id: &str, provider: &str, subject: &str) -> Result<bool> {
                let r = sqlx::query::<$db>("DELETE FROM user_identities WHERE pool_id = $1 AND provider = $2 AND subject = $3")
                    .bind(pool_id)
                    .bind(provider)
                    .bind(subject)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }
            async fn insert_federation_state(&self, f: &FederationState) -> Result<()> {
                sqlx::query::<$db>(
                    "INSERT INTO federation_states (id_hash, pool_id, provider, binding_hash, state, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&f.id_hash)
                .bind(&f.pool_id)
                .bind(&f.provider)
                .bind(&f.binding_hash)
                .bind(&f.state)
                .bind(f.expires_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }
            async fn take_federation_state(&self, id_hash: &str, now: i64) -> Result<Option<FederationState>> {
                Ok(sqlx::query_as::<$db, (String, String, String, String, String, i64)>(
                    "DELETE FROM federation_states WHERE id_hash = $1 \
                     RETURNING id_hash, pool_id, provider, binding_hash, state, expires_at",
                )
                .bind(id_hash)
                .fetch_optional(&self.pool)
                .await?
                .filter(|r| r.5 > now)
                .map(|(id_hash, pool_id, provider, binding_hash, state, expires_at)| FederationState {
                    id_hash, pool_id, provider, binding_hash, state, expires_at,
                }))
            }
        }

        #[async_trait]
        impl MfaStore for SqlStore<$db> {
            async fn get_user_mfa(&self, pool_id: &str, sub: &str) -> Result<Option<UserMfa>> {
                Ok(sqlx::query_as::<$db, (String, String, Option<Vec<u8>>, bool, Option<String>, i64, bool, bool, Option<String>, i64)>(
                    "SELECT pool_id, sub, totp_secret, totp_verified, totp_device, totp_last_step, email_otp_enabled, sms_otp_enabled, preferred, updated_at \
                     FROM user_mfa WHERE pool_id = $1 AND sub = $2",
                )
                .bind(pool_id)
                .bind(sub)
                .fetch_optional(&self.pool)
                .await?
                .map(|(pool_id, sub, totp_secret, totp_verified, totp_device, totp_last_step, email_otp_enabled, sms_otp_enabled, preferred, updated_at)| UserMfa {
                    pool_id, sub, totp_secret, totp_verified, totp_device, totp_last_step, email_otp_enabled, sms_otp_enabled, preferred, updated_at,
                }))
            }
            async fn put_user_mfa(&self, m: &UserMfa) -> Result<()> {
                sqlx::query::<$db>(
                    "INSERT INTO user_mfa (pool_id, sub, totp_secret, totp_verified, totp_device, totp_last_step, email_otp_enabled, sms_otp_enabled, preferred, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (pool_id, sub) DO UPDATE SET totp_secret = excluded.totp_secret, totp_verified = excluded.totp_verified, \
                     totp_device = excluded.totp_device, email_otp_enabled = excluded.email_otp_enabled, sms_otp_enabled = excluded.sms_otp_enabled, \
                     preferred = excluded.preferred, updated_at = excluded.updated_at",
                )
                .bind(&m.pool_id)
                .bind(&m.sub)
                .bind(&m.totp_secret)
                .bind(m.totp_verified)
                .bind(&m.totp_device)
                .bind(m.totp_last_step)
                .bind(m.email_otp_enabled)
                .bind(m.sms_otp_enabled)
                .bind(&m.preferred)
                .bind(m.updated_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }
            async fn use_totp_step(&self, pool_id: &str, sub: &str, step: i64) -> Result<bool> {
                Ok(sqlx::query::<$db>(
                    "UPDATE user_mfa SET totp_last_step = $3 WHERE pool_id = $1 AND sub = $2 AND totp_last_step < $3",
                )
                .bind(pool_id)
                .bind(sub)
                .bind(step)
                .execute(&self.pool)
                .await?
                .rows_affected()
                    == 1)
            }
        }

        #[async_trait]
        impl PasskeyStore for SqlStore<$db> {
            async fn insert_webauthn_credential(&self, c: &WebAuthnCredential) -> Result<bool> {
                let transports = serde_json::to_string(&c.transports).map_err(Error::internal)?;
                Ok(sqlx::query::<$db>(
                    "INSERT INTO webauthn_credentials (pool_id, credential_id, sub, name, passkey, sign_count, transports, attachment, created_at, last_used_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (pool_id, credential_id) DO NOTHING",
                )
                .bind(&c.pool_id)
                .bind(&c.credential_id)
                .bind(&c.sub)
                .bind(&c.name)
                .bind(&c.passkey)
                .bind(c.sign_count)
                .bind(transports)
                .bind(&c.attachment)
                .bind(c.created_at)
                .bind(c.last_used_at)
                .execute(&self.pool)
                .await?
                .rows_affected()
                    == 1)
            }
            async fn webauthn_credentials_of(&self, pool_id: &str, sub: &str) -> Result<Vec<WebAuthnCredential>> {
                sqlx::query_as::<$db, (String, String, String, Option<String>, String, i64, String, Option<String>, i64, Option<i64>)>(
                    "SELECT pool_id, credential_id, sub, name, passkey, sign_count, transports, attachment, created_at, last_used_at \
                     FROM webauthn_credentials WHERE pool_id = $1 AND sub = $2 ORDER BY created_at, credential_id",
                )
                .bind(pool_id)
                .bind(sub)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|(pool_id, credential_id, sub, name, passkey, sign_count, transports, attachment, created_at, last_used_at)| {
                    Ok(WebAuthnCredential {
                        pool_id, credential_id, sub, name, passkey, sign_count,
                        transports: serde_json::from_str(&transports).map_err(Error::internal)?,
                        attachment, created_at, last_used_at,
                    })
                })
                .collect()
            }
            async fn delete_webauthn_credential(&self, pool_id: &str, sub: &str, credential_id: &str) -> Result<bool> {
                Ok(sqlx::query::<$db>(
                    "DELETE FROM webauthn_credentials WHERE pool_id = $1 AND sub = $2 AND credential_id = $3",
                )
                .bind(pool_id)
                .bind(sub)
                .bind(credential_id)
                .execute(&self.pool)
                .await?
                .rows_affected()
                    == 1)
            }
            async fn use_webauthn_credential(&self, pool_id: &str, credential_id: &str, sign_count: i64, passkey: &str, now: i64) -> Result<bool> {
                Ok(sqlx::query::<$db>(
                    "UPDATE webauthn_credentials SET sign_count = $3, passkey = $4, last_used_at = $5 \
                     WHERE pool_id = $1 AND credential_id = $2 AND (sign_count < $3 OR (sign_count = 0 AND $3 = 0))",
                )
                .bind(pool_id)
                .bind(credential_id)
                .bind(sign_count)
                .bind(passkey)
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected()
                    == 1)
            }
        }

        #[async_trait]
        impl KeyStore for SqlStore<$db> {
            async fn insert_key(&self, k: &SigningKeyRecord) -> Result<()> {
                sqlx::query::<$db>(
                    "INSERT INTO signing_keys (kid, pool_id, alg, private_sealed, public_jwk, status, created_at, retire_after) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&k.kid)
                .bind(&k.pool_id)
                .bind(k.alg.as_str())
                .bind(&k.private_sealed)
                .bind(&k.public_jwk)
                .bind(&k.status)
                .bind(k.created_at)
                .bind(k.retire_after)
                .execute(&self.pool)
                .await?;
                Ok(())
            }
            async fn list_keys(&self, pool_id: &str) -> Result<Vec<SigningKeyRecord>> {
                sqlx::query_as::<$db, KeyRow>(
                    "SELECT kid, pool_id, alg, private_sealed, public_jwk, status, created_at, retire_after \
                     FROM signing_keys WHERE pool_id = $1 ORDER BY created_at, kid",
                )
                .bind(pool_id)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|r| {
                    Ok(SigningKeyRecord {
                        alg: SigningAlg::parse(&r.alg)
                            .ok_or_else(|| Error::internal(anyhow::anyhow!("bad key alg in store")))?,
                        kid: r.kid,
                        pool_id: r.pool_id,
                        private_sealed: r.private_sealed,
                        public_jwk: r.public_jwk,
                        status: r.status,
                        created_at: r.created_at,
                        retire_after: r.retire_after,
                    })
                })
                .collect()
            }
            async fn set_key_status(&self, kid: &str, status: &str, retire_after: Option<i64>) -> Result<bool> {
                let r = sqlx::query::<$db>("UPDATE signing_keys SET status = $2, retire_after = $3 WHERE kid = $1")
                    .bind(kid)
                    .bind(status)
                    .bind(retire_after)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }
        }

        #[async_trait]
        impl OutboxStore for SqlStore<$db> {
            async fn push_outbox(&self, m: &OutboxMessage) -> Result<()> {
                sqlx::query::<$db>(
                    "INSERT INTO outbox (id, seq, pool_id, channel, recipient, subject, body, created_at) \
                     VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM outbox), $2, $3, $4, $5, $6, $7)",
                )
                .bind(&m.id)
                .bind(&m.pool_id)
                .bind(&m.channel)
                .bind(&m.to)
                .bind(&m.subject)
                .bind(&m.body)
                .bind(m.created_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }
            async fn list_outbox(&self, to: Option<&str>, pool_id: Option<&str>, limit: i64) -> Result<Vec<OutboxMessage>> {
                Ok(sqlx::query_as::<$db, OutboxRow>(
                    "SELECT id, pool_id, channel, recipient, subject, body, created_at FROM outbox \
                     WHERE ($1 = '' OR recipient = $1) AND ($2 = '' OR pool_id = $2) ORDER BY seq DESC LIMIT $3",
                )
                .bind(to.unwrap_or(""))
                .bind(pool_id.unwrap_or(""))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|r| OutboxMessage {
                    id: r.id,
                    pool_id: r.pool_id,
                    channel: r.channel,
                    to: r.recipient,
                    subject: r.subject,
                    body: r.body,
                    created_at: r.created_at,
                })
                .collect())
            }
        }

        #[async_trait]
        impl AuditStore for SqlStore<$db> {
            async fn insert_audit(&self, e: &AuditEvent) -> Result<()> {
                sqlx::query::<$db>(
                    "INSERT INTO audit_events (id, pool_id, sub, username, client_id, event, outcome, ip, user_agent, request_id, created_at, actor, door, target) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                )
                .bind(&e.id)
                .bind(&e.pool_id)
                .bind(&e.sub)
                .bind(&e.username)
                .bind(&e.client_id)
                .bind(&e.event)
                .bind(&e.outcome)
                .bind(&e.ip)
                .bind(&e.user_agent)
                .bind(&e.request_id)
                .bind(e.created_at)
                .bind(&e.actor)
                .bind(&e.door)
                .bind(&e.target)
                .execute(&self.pool)
                .await?;
                Ok(())
            }
            async fn list_audit(&self, pool_id: &str, sub: Option<&str>, before: Option<(i64, &str)>, limit: i64) -> Result<Vec<AuditEvent>> {
                let (t, id) = before.unwrap_or((i64::MAX, ""));
                Ok(sqlx::query_as::<$db, AuditRow>(
                    "SELECT id, pool_id, sub, username, client_id, event, outcome, ip, user_agent, request_id, created_at, actor, door, target \
                     FROM audit_events WHERE pool_id = $1 AND ($2 = '' OR sub = $2) \
                     AND (created_at < $3 OR (created_at = $3 AND ($4 = '' OR id < $4))) \
                     ORDER BY created_at DESC, id DESC LIMIT $5",
                )
                .bind(pool_id)
                .bind(sub.unwrap_or(""))
                .bind(t)
                .bind(id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(Into::into)
                .collect())
            }
            async fn list_admin_audit(&self, before: Option<(i64, &str)>, limit: i64) -> Result<Vec<AuditEvent>> {
                let (t, id) = before.unwrap_or((i64::MAX, ""));
                // `door IS NOT NULL` matches the partial index of 0016.
                Ok(sqlx::query_as::<$db, AuditRow>(
                    "SELECT id, pool_id, sub, username, client_id, event, outcome, ip, user_agent, request_id, created_at, actor, door, target \
                     FROM audit_events WHERE door IS NOT NULL \
                     AND (created_at < $1 OR (created_at = $1 AND ($2 = '' OR id < $2))) \
                     ORDER BY created_at DESC, id DESC LIMIT $3",
                )
                .bind(t)
                .bind(id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(Into::into)
                .collect())
            }
        }

        #[async_trait]
        impl IdentityStore for SqlStore<$db> {
            async fn insert_identity_pool(&self, p: &crate::model::IdentityPool) -> Result<()> {
                let r = sqlx::query::<$db>(
                    "INSERT INTO identity_pools (id, name, settings, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&p.id)
                .bind(&p.name)
                .bind(to_json(&p.settings)?)
                .bind(p.created_at)
                .bind(p.updated_at)
                .execute(&self.pool)
                .await;
                match r {
                    Err(e) if is_unique_violation(&e) => Err(Error::new(ErrorKind::Conflict, "an identity pool with this id exists")),
                    r => r.map(|_| ()).map_err(Into::into),
                }
            }
            async fn get_identity_pool(&self, id: &str) -> Result<Option<crate::model::IdentityPool>> {
                sqlx::query_as::<$db, (String, String, String, i64, i64)>(
                    "SELECT id, name, settings, created_at, updated_at FROM identity_pools WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .map(identity_pool_from_row)
                .transpose()
            }
            async fn list_identity_pools(&self, after: Option<&str>, limit: i64) -> Result<Vec<crate::model::IdentityPool>> {
                sqlx::query_as::<$db, (String, String, String, i64, i64)>(
                    "SELECT id, name, settings, created_at, updated_at FROM identity_pools WHERE id > $1 ORDER BY id LIMIT $2",
                )
                .bind(after.unwrap_or(""))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(identity_pool_from_row)
                .collect()
            }
            async fn update_identity_pool(&self, p: &crate::model::IdentityPool) -> Result<bool> {
                let r = sqlx::query::<$db>("UPDATE identity_pools SET name = $2, settings = $3, updated_at = $4 WHERE id = $1")
                    .bind(&p.id)
                    .bind(&p.name)
                    .bind(to_json(&p.settings)?)
                    .bind(p.updated_at)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }
            async fn delete_identity_pool(&self, id: &str) -> Result<bool> {
                let mut tx = self.pool.begin().await?;
                sqlx::query::<$db>("DELETE FROM identity_logins WHERE identity_pool_id = $1").bind(id).execute(&mut *tx).await?;
                sqlx::query::<$db>("DELETE FROM identities WHERE identity_pool_id = $1").bind(id).execute(&mut *tx).await?;
                let r = sqlx::query::<$db>("DELETE FROM identity_pools WHERE id = $1").bind(id).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(r.rows_affected() == 1)
            }
            async fn insert_role(&self, r: &crate::model::Role) -> Result<()> {
                let res = sqlx::query::<$db>(
                    "INSERT INTO iam_roles (name, policy, max_session_secs, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&r.name)
                .bind(to_json(&r.policy)?)
                .bind(r.max_session_secs)
                .bind(r.created_at)
                .bind(r.updated_at)
                .execute(&self.pool)
                .await;
                match res {
                    Err(e) if is_unique_violation(&e) => Err(Error::new(ErrorKind::Conflict, "a role with this name exists")),
                    r => r.map(|_| ()).map_err(Into::into),
                }
            }
            async fn get_role(&self, name: &str) -> Result<Option<crate::model::Role>> {
                sqlx::query_as::<$db, (String, String, i64, i64, i64)>(
                    "SELECT name, policy, max_session_secs, created_at, updated_at FROM iam_roles WHERE name = $1",
                )
                .bind(name)
                .fetch_optional(&self.pool)
                .await?
                .map(role_from_row)
                .transpose()
            }
            async fn list_roles(&self) -> Result<Vec<crate::model::Role>> {
                sqlx::query_as::<$db, (String, String, i64, i64, i64)>(
                    "SELECT name, policy, max_session_secs, created_at, updated_at FROM iam_roles ORDER BY name LIMIT 1000",
                )
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(role_from_row)
                .collect()
            }
            async fn update_role(&self, r: &crate::model::Role) -> Result<bool> {
                let res = sqlx::query::<$db>("UPDATE iam_roles SET policy = $2, max_session_secs = $3, updated_at = $4 WHERE name = $1")
                    .bind(&r.name)
                    .bind(to_json(&r.policy)?)
                    .bind(r.max_session_secs)
                    .bind(r.updated_at)
                    .execute(&self.pool)
                    .await?;
                Ok(res.rows_affected() == 1)
            }
            async fn delete_role(&self, name: &str) -> Result<bool> {
                let r = sqlx::query::<$db>("DELETE FROM iam_roles WHERE name = $1").bind(name).execute(&self.pool).await?;
                Ok(r.rows_affected() == 1)
            }
            async fn login_identity(&self, pool_id: &str, provider: &str, subject: &str) -> Result<Option<String>> {
                Ok(sqlx::query_scalar::<$db, String>(
                    "SELECT identity_id FROM identity_logins WHERE identity_pool_id = $1 AND provider = $2 AND subject = $3",
                )
                .bind(pool_id)
                .bind(provider)
                .bind(subject)
                .fetch_optional(&self.pool)
                .await?)
            }
            async fn get_identity(&self, identity_id: &str) -> Result<Option<crate::model::Identity>> {
                Ok(sqlx::query_as::<$db, (String, String, Option<i64>, i64)>(
                    "SELECT identity_id, identity_pool_id, disabled_at, created_at FROM identities WHERE identity_id = $1",
                )
                .bind(identity_id)
                .fetch_optional(&self.pool)
                .await?
                .map(|(identity_id, identity_pool_id, disabled_at, created_at)| crate::model::Identity {
                    identity_id,
                    identity_pool_id,
                    disabled_at,
                    created_at,
                }))
            }
            async fn identity_logins(&self, identity_id: &str) -> Result<Vec<(String, String)>> {
                Ok(sqlx::query_as::<$db, (String, String)>(
                    "SELECT provider, subject FROM identity_logins WHERE identity_id = $1 ORDER BY provider, subject",
                )
                .bind(identity_id)
                .fetch_all(&self.pool)
                .await?)
            }
            async fn link_logins(
                &self,
                pool_id: &str,
                identity_id: &str,
                create: bool,
                logins: &[(String, String)],
                now: i64,
                guard: LinkGuard<'_>,
            ) -> Result<LinkOutcome> {
                let mut tx = self.pool.begin().await?;
                let held: Vec<(String, String)> = if create {
                    sqlx::query::<$db>("INSERT INTO identities (identity_id, identity_pool_id, disabled_at, created_at) VALUES ($1, $2, NULL, $3)")
                        .bind(identity_id)
                        .bind(pool_id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    vec![]
                } else {
                    // A no-op write takes the identity's row lock (PostgreSQL)
                    // or the write lock (SQLite) before anything is read, so
                    // two requests linking to one identity check in turn.
                    let locked = sqlx::query::<$db>(
                        "UPDATE identities SET created_at = created_at WHERE identity_id = $1 AND identity_pool_id = $2",
                    )
                    .bind(identity_id)
                    .bind(pool_id)
                    .execute(&mut *tx)
                    .await?;
                    if locked.rows_affected() != 1 {
                        return Ok(LinkOutcome::NoIdentity);
                    }
                    sqlx::query_as::<$db, (String, String)>(
                        "SELECT provider, subject FROM identity_logins WHERE identity_id = $1",
                    )
                    .bind(identity_id)
                    .fetch_all(&mut *tx)
                    .await?
                };
                let proven = match guard {
                    LinkGuard::New | LinkGuard::Vouched | LinkGuard::Trusted => true,
                    LinkGuard::Guest => held.is_empty(),
                    LinkGuard::ProvenBy(proofs) => proofs.iter().any(|p| held.contains(p)),
                };
                if !proven {
                    return Ok(LinkOutcome::NotProven);
                }
                for (provider, subject) in logins {
                    if held.iter().any(|(p, s)| p == provider && s == subject) {
                        continue;
                    }
                    if !matches!(guard, LinkGuard::Trusted) && held.iter().any(|(p, _)| p == provider) {
                        return Ok(LinkOutcome::ProviderTaken);
                    }
                    let r = sqlx::query::<$db>(
                        "INSERT INTO identity_logins (identity_pool_id, provider, subject, identity_id, created_at) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(pool_id)
                    .bind(provider)
                    .bind(subject)
                    .bind(identity_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await;
                    match r {
                        Err(e) if is_unique_violation(&e) => return Ok(LinkOutcome::LoginTaken),
                        r => {
                            r?;
                        }
                    }
                }
                tx.commit().await?;
                Ok(LinkOutcome::Linked)
            }
            async fn identities_with_repeated_providers(
                &self,
                pool_id: Option<&str>,
            ) -> Result<Vec<(String, String, String, Vec<String>)>> {
                let rows = sqlx::query_as::<$db, (String, String, String, String)>(
                    "SELECT l.identity_pool_id, l.identity_id, l.provider, l.subject FROM identity_logins l \
                     WHERE ($1 = '' OR l.identity_pool_id = $1) AND EXISTS ( \
                       SELECT 1 FROM identity_logins o WHERE o.identity_id = l.identity_id \
                       AND o.provider = l.provider AND o.subject <> l.subject) \
                     ORDER BY l.identity_pool_id, l.identity_id, l.provider, l.subject",
                )
                .bind(pool_id.unwrap_or(""))
                .fetch_all(&self.pool)
                .await?;
                let mut out: Vec<(String, String, String, Vec<String>)> = vec![];
                for (pool, identity, provider, subject) in rows {
                    match out.last_mut() {
                        Some(last) if last.1 == identity && last.2 == provider => last.3.push(subject),
                        _ => out.push((pool, identity, provider, vec![subject])),
                    }
                }
                Ok(out)
            }
            async fn set_identity_disabled(&self, identity_id: &str, at: Option<i64>) -> Result<bool> {
                let r = sqlx::query::<$db>("UPDATE identities SET disabled_at = $2 WHERE identity_id = $1")
                    .bind(identity_id)
                    .bind(at)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }
            async fn list_identities(&self, pool_id: &str, after: Option<&str>, limit: i64, hide_disabled: bool) -> Result<Vec<crate::model::Identity>> {
                Ok(sqlx::query_as::<$db, (String, String, Option<i64>, i64)>(
                    "SELECT identity_id, identity_pool_id, disabled_at, created_at FROM identities \
                     WHERE identity_pool_id = $1 AND identity_id > $2 AND (disabled_at IS NULL OR NOT $3) \
                     ORDER BY identity_id LIMIT $4",
                )
                .bind(pool_id)
                .bind(after.unwrap_or(""))
                .bind(hide_disabled)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|(identity_id, identity_pool_id, disabled_at, created_at)| crate::model::Identity {
                    identity_id,
                    identity_pool_id,
                    disabled_at,
                    created_at,
                })
                .collect())
            }
            async fn unlink_providers(&self, identity_id: &str, providers: &[String]) -> Result<u64> {
                let mut tx = self.pool.begin().await?;
                let mut n = 0;
                for p in providers {
                    n += sqlx::query::<$db>("DELETE FROM identity_logins WHERE identity_id = $1 AND provider = $2")
                        .bind(identity_id)
                        .bind(p)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                tx.commit().await?;
                Ok(n)
            }
            async fn delete_identity(&self, identity_id: &str) -> Result<bool> {
                let mut tx = self.pool.begin().await?;
                let r = sqlx::query::<$db>("DELETE FROM identities WHERE identity_id = $1").bind(identity_id).execute(&mut *tx).await?;
                sqlx::query::<$db>("DELETE FROM identity_logins WHERE identity_id = $1").bind(identity_id).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(r.rows_affected() == 1)
            }
            async fn identity_standing(&self, identity_id: &str) -> Result<Option<(bool, i64)>> {
                Ok(sqlx::query_as::<$db, (Option<i64>, i64)>(
                    "SELECT disabled_at, credentials_epoch FROM identities WHERE identity_id = $1",
                )
                .bind(identity_id)
                .fetch_optional(&self.pool)
                .await?
                .map(|(disabled_at, epoch)| (disabled_at.is_some(), epoch)))
            }
            async fn bump_credentials_epoch(&self, identity_id: &str) -> Result<bool> {
                let r = sqlx::query::<$db>("UPDATE identities SET credentials_epoch = credentials_epoch + 1 WHERE identity_id = $1")
                    .bind(identity_id)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }
        }

        #[async_trait]
        impl LimitStore for SqlStore<$db> {
            async fn rate_hit(&self, bucket: &str, window_start: i64) -> Result<i64> {
                Ok(sqlx::query_scalar::<$db, i64>(
                    concat!(
                        "INSERT INTO rate_limits (bucket, window_start, hits) VALUES ($1, $2, 1) ",
                        rate_hit_upsert!()
                    ),
                )
                .bind(bucket)
                .bind(window_start)
                .fetch_one(&self.pool)
                .await?)
            }
            async fn rate_hit_pair(&self, first: &str, first_max: i64, second: &str, window_start: i64) -> Result<(i64, Option<i64>)> {
                if !matches!($backend, Backend::Postgres) {
                    // SQLite has no writes inside WITH; its writes are serial
                    // and local, so two statements cost two short turns.
                    let a = self.rate_hit(first, window_start).await?;
                    if a > first_max {
                        return Ok((a, None));
                    }
                    return Ok((a, Some(self.rate_hit(second, window_start).await?)));
                }
                // One statement, one commit: the second counter is written
                // only from the first one's new count (a data-modifying WITH
                // passes its RETURNING rows on; both run in one snapshot and
                // touch different rows).
                let (a, b) = sqlx::query_as::<$db, (i64, Option<i64>)>(
                    concat!(
                        "WITH first AS (INSERT INTO rate_limits (bucket, window_start, hits) VALUES ($1, $3, 1) ",
                        rate_hit_upsert!(),
                        "), second AS (INSERT INTO rate_limits (bucket, window_start, hits) \
                         SELECT $2, $3, 1 FROM first WHERE first.hits <= $4 ",
                        rate_hit_upsert!(),
                        ") SELECT first.hits, (SELECT hits FROM second) FROM first"
                    ),
                )
                .bind(first)
                .bind(second)
                .bind(window_start)
                .bind(first_max)
                .fetch_one(&self.pool)
                .await?;
                Ok((a, b))
            }
            async fn purge_rate_limits(&self, before: i64) -> Result<u64> {
                Ok(sqlx::query::<$db>("DELETE FROM rate_limits WHERE window_start < $1")
                    .bind(before)
                    .execute(&self.pool)
                    .await?
                    .rows_affected())
            }
        }

        #[async_trait]
        impl MetaStore for SqlStore<$db> {
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
            async fn ping(&self) -> Result<()> {
                sqlx::query::<$db>("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }
            async fn schema_versions(&self) -> Result<(i64, i64)> {
                let known = $migrator.iter().map(|m| m.version).max().unwrap_or(0);
                let applied = sqlx::query_scalar::<$db, i64>("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
                    .fetch_one(&self.pool)
                    .await
                    .unwrap_or(0);
                Ok((applied, known))
            }
            async fn migrate(&self) -> Result<()> {
                $migrator.run(&self.pool).await.map_err(|e| Error::internal(anyhow::anyhow!("migration failed: {e}")))
            }
            fn backend(&self) -> Backend {
                $backend
            }
        }
    };
}

async fn insert_code<'e, E, DB>(ex: E, c: &CodeRecord) -> Result<()>
where
    DB: sqlx::Database,
    E: sqlx::Executor<'e, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i32: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query::<DB>(
        "INSERT INTO codes (pool_id, sub, purpose, code_hash, expires_at, attempts, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (pool_id, sub, purpose) DO UPDATE SET code_hash = EXCLUDED.code_hash, expires_at = EXCLUDED.expires_at, \
         attempts = EXCLUDED.attempts, created_at = EXCLUDED.created_at",
    )
    .bind(c.pool_id.clone())
    .bind(c.sub.clone())
    .bind(c.purpose.as_str())
    .bind(c.code_hash.clone())
    .bind(c.expires_at)
    .bind(c.attempts)
    .bind(c.created_at)
    .execute(ex)
    .await?;
    Ok(())
}

async fn insert_refresh<'e, E, DB>(ex: E, t: &RefreshTokenRecord) -> Result<()>
where
    DB: sqlx::Database,
    E: sqlx::Executor<'e, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query::<DB>("INSERT INTO refresh_tokens (token_hash, family_id, created_at, used_at) VALUES ($1, $2, $3, $4)")
        .bind(t.token_hash.clone())
        .bind(t.family_id.clone())
        .bind(t.created_at)
        .bind(t.used_at)
        .execute(ex)
        .await?;
    Ok(())
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

/// `LIKE` pattern for a prefix, with `\` escaping the wildcards.
fn like_prefix(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 1);
    for c in v.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

impl_store!(
    Sqlite,
    Backend::Sqlite,
    SQLITE_MIGRATIONS,
    sqlite_json_attr,
    sqlite_json_key
);
impl_store!(
    Postgres,
    Backend::Postgres,
    POSTGRES_MIGRATIONS,
    pg_json_attr,
    pg_json_key
);

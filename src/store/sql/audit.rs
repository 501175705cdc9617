//! The audit log.

use super::*;

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

macro_rules! impl_audit {
    ($db:ty, $backend:expr, $migrator:expr, $json_attr:expr, $json_key:expr) => {
        #[async_trait]
        impl AuditStore for SqlStore<$db> {
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = e.pool_id.as_deref()))]
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
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
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
            #[tracing::instrument(level = "debug", skip_all)]
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
    };
}

for_each_backend!(impl_audit);

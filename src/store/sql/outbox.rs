//! The outbox of messages sent (kept for tests and the console).

use super::*;

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

macro_rules! impl_outbox {
    ($db:ty, $backend:expr, $migrator:expr, $json_attr:expr, $json_key:expr) => {
        #[async_trait]
        impl OutboxStore for SqlStore<$db> {
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = m.pool_id.as_deref()))]
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
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = pool_id))]
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
    };
}

for_each_backend!(impl_outbox);

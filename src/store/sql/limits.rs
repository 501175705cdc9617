//! Rate-limit counters shared by every node.

use super::*;

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

macro_rules! impl_limits {
    ($db:ty, $backend:expr, $migrator:expr, $json_attr:expr, $json_key:expr) => {
        #[async_trait]
        impl LimitStore for SqlStore<$db> {
            #[tracing::instrument(level = "debug", skip_all)]
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
            #[tracing::instrument(level = "debug", skip_all)]
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
                // The one row decoded as a tuple: its second column (a
                // scalar subquery) has no name to match a field by.
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
            #[tracing::instrument(level = "debug", skip_all)]
            async fn purge_rate_limits(&self, before: i64) -> Result<u64> {
                Ok(sqlx::query::<$db>("DELETE FROM rate_limits WHERE window_start < $1")
                    .bind(before)
                    .execute(&self.pool)
                    .await?
                    .rows_affected())
            }
        }
    };
}

for_each_backend!(impl_limits);

//! The hosted pages' sign-in sessions.

use super::*;

#[derive(sqlx::FromRow)]
struct LoginSessionRow {
    id_hash: String,
    pool_id: String,
    sub: String,
    auth_time: i64,
    expires_at: i64,
}

impl From<LoginSessionRow> for LoginSession {
    fn from(r: LoginSessionRow) -> Self {
        LoginSession {
            id_hash: r.id_hash,
            pool_id: r.pool_id,
            sub: r.sub,
            auth_time: r.auth_time,
            expires_at: r.expires_at,
        }
    }
}

macro_rules! impl_oauth {
    ($db:ty, $backend:expr, $migrator:expr, $json_attr:expr, $json_key:expr) => {
        #[async_trait]
        impl OAuthStore for SqlStore<$db> {
            #[tracing::instrument(level = "debug", skip_all)]
            async fn purge_login_sessions(&self, before: i64) -> Result<u64> {
                let b = sqlx::query::<$db>("DELETE FROM login_sessions WHERE expires_at < $1").bind(before).execute(&self.pool).await?.rows_affected();
                let c = sqlx::query::<$db>("DELETE FROM federation_states WHERE expires_at < $1").bind(before).execute(&self.pool).await?.rows_affected();
                Ok(b + c)
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %l.pool_id))]
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
            #[tracing::instrument(level = "debug", skip_all)]
            async fn get_login_session(&self, id_hash: &str) -> Result<Option<LoginSession>> {
                Ok(sqlx::query_as::<$db, LoginSessionRow>(
                    "SELECT id_hash, pool_id, sub, auth_time, expires_at FROM login_sessions WHERE id_hash = $1",
                )
                .bind(id_hash)
                .fetch_optional(&self.pool)
                .await?
                .map(LoginSession::from))
            }
            #[tracing::instrument(level = "debug", skip_all)]
            async fn delete_login_session(&self, id_hash: &str) -> Result<bool> {
                Ok(sqlx::query::<$db>("DELETE FROM login_sessions WHERE id_hash = $1")
                    .bind(id_hash)
                    .execute(&self.pool)
                    .await?
                    .rows_affected()
                    == 1)
            }
        }
    };
}

for_each_backend!(impl_oauth);

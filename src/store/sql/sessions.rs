//! Challenge sessions (a sign-in between two steps).

use super::*;

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

macro_rules! impl_sessions {
    ($db:ty, $backend:expr, $migrator:expr, $json_attr:expr, $json_key:expr) => {
        #[async_trait]
        impl SessionStore for SqlStore<$db> {
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %x.pool_id))]
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
            #[tracing::instrument(level = "debug", skip_all)]
            async fn get_session(&self, id: &str) -> Result<Option<AuthSession>> {
                Ok(sqlx::query_as::<$db, SessionRow>(
                    "SELECT id, pool_id, client_id, sub, challenge, state, created_at, expires_at FROM auth_sessions WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .map(Into::into))
            }
            #[tracing::instrument(level = "debug", skip_all)]
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
    };
}

for_each_backend!(impl_sessions);

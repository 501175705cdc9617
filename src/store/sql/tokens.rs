//! Refresh-token families and their rotating tokens.

use super::*;

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

macro_rules! impl_tokens {
    ($db:ty, $backend:expr, $migrator:expr, $json_attr:expr, $json_key:expr) => {
        #[async_trait]
        impl TokenStore for SqlStore<$db> {
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %f.pool_id))]
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
            #[tracing::instrument(level = "debug", skip_all)]
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
            #[tracing::instrument(level = "debug", skip_all)]
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
            #[tracing::instrument(level = "debug", skip_all)]
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
            #[tracing::instrument(level = "debug", skip_all)]
            async fn get_family(&self, family_id: &str) -> Result<Option<TokenFamily>> {
                Ok(sqlx::query_as::<$db, FamilyRow>(concat!("SELECT ", family_cols!(), " FROM token_families WHERE id = $1"))
                    .bind(family_id)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(Into::into))
            }
            #[tracing::instrument(level = "debug", skip_all)]
            async fn revoke_family(&self, family_id: &str, now: i64) -> Result<bool> {
                let r = sqlx::query::<$db>("UPDATE token_families SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                    .bind(family_id)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
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
    };
}

for_each_backend!(impl_tokens);

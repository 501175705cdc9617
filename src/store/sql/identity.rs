//! Identity pools, roles, identities and their logins.

use super::*;

#[derive(sqlx::FromRow)]
struct IdentityPoolRow {
    id: String,
    name: String,
    settings: String,
    created_at: i64,
    updated_at: i64,
}

impl IdentityPoolRow {
    fn into_identity_pool(self) -> Result<crate::model::IdentityPool> {
        Ok(crate::model::IdentityPool {
            id: self.id,
            name: self.name,
            settings: from_json(&self.settings)?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct RoleRow {
    name: String,
    policy: String,
    max_session_secs: i64,
    created_at: i64,
    updated_at: i64,
}

impl RoleRow {
    fn into_role(self) -> Result<crate::model::Role> {
        Ok(crate::model::Role {
            name: self.name,
            policy: from_json(&self.policy)?,
            max_session_secs: self.max_session_secs,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct IdentityRow {
    identity_id: String,
    identity_pool_id: String,
    disabled_at: Option<i64>,
    created_at: i64,
}

impl From<IdentityRow> for crate::model::Identity {
    fn from(r: IdentityRow) -> Self {
        crate::model::Identity {
            identity_id: r.identity_id,
            identity_pool_id: r.identity_pool_id,
            disabled_at: r.disabled_at,
            created_at: r.created_at,
        }
    }
}

/// A login of an identity: a provider and the subject it names.
#[derive(sqlx::FromRow)]
struct LoginRow {
    provider: String,
    subject: String,
}

impl LoginRow {
    fn into_pair(self) -> (String, String) {
        (self.provider, self.subject)
    }
}

/// A login of an identity that holds another subject of its provider.
#[derive(sqlx::FromRow)]
struct RepeatedLoginRow {
    identity_pool_id: String,
    identity_id: String,
    provider: String,
    subject: String,
}

#[derive(sqlx::FromRow)]
struct StandingRow {
    disabled_at: Option<i64>,
    credentials_epoch: i64,
}

macro_rules! impl_identity {
    ($db:ty, $backend:expr, $migrator:expr, $json_attr:expr, $json_key:expr) => {
        #[async_trait]
        impl IdentityStore for SqlStore<$db> {
            #[tracing::instrument(level = "debug", skip_all, fields(identity_pool_id = %p.id))]
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
            #[tracing::instrument(level = "debug", skip_all, fields(identity_pool_id = %id))]
            async fn get_identity_pool(&self, id: &str) -> Result<Option<crate::model::IdentityPool>> {
                sqlx::query_as::<$db, IdentityPoolRow>(
                    "SELECT id, name, settings, created_at, updated_at FROM identity_pools WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .map(IdentityPoolRow::into_identity_pool)
                .transpose()
            }
            #[tracing::instrument(level = "debug", skip_all)]
            async fn list_identity_pools(&self, after: Option<&str>, limit: i64) -> Result<Vec<crate::model::IdentityPool>> {
                sqlx::query_as::<$db, IdentityPoolRow>(
                    "SELECT id, name, settings, created_at, updated_at FROM identity_pools WHERE id > $1 ORDER BY id LIMIT $2",
                )
                .bind(after.unwrap_or(""))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(IdentityPoolRow::into_identity_pool)
                .collect()
            }
            #[tracing::instrument(level = "debug", skip_all, fields(identity_pool_id = %p.id))]
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
            #[tracing::instrument(level = "debug", skip_all, fields(identity_pool_id = %id))]
            async fn delete_identity_pool(&self, id: &str) -> Result<bool> {
                let mut tx = self.pool.begin().await?;
                sqlx::query::<$db>("DELETE FROM identity_logins WHERE identity_pool_id = $1").bind(id).execute(&mut *tx).await?;
                sqlx::query::<$db>("DELETE FROM identities WHERE identity_pool_id = $1").bind(id).execute(&mut *tx).await?;
                let r = sqlx::query::<$db>("DELETE FROM identity_pools WHERE id = $1").bind(id).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(r.rows_affected() == 1)
            }
            #[tracing::instrument(level = "debug", skip_all)]
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
            #[tracing::instrument(level = "debug", skip_all)]
            async fn get_role(&self, name: &str) -> Result<Option<crate::model::Role>> {
                sqlx::query_as::<$db, RoleRow>(
                    "SELECT name, policy, max_session_secs, created_at, updated_at FROM iam_roles WHERE name = $1",
                )
                .bind(name)
                .fetch_optional(&self.pool)
                .await?
                .map(RoleRow::into_role)
                .transpose()
            }
            #[tracing::instrument(level = "debug", skip_all)]
            async fn list_roles(&self) -> Result<Vec<crate::model::Role>> {
                sqlx::query_as::<$db, RoleRow>(
                    "SELECT name, policy, max_session_secs, created_at, updated_at FROM iam_roles ORDER BY name LIMIT 1000",
                )
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(RoleRow::into_role)
                .collect()
            }
            #[tracing::instrument(level = "debug", skip_all)]
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
            #[tracing::instrument(level = "debug", skip_all)]
            async fn delete_role(&self, name: &str) -> Result<bool> {
                let r = sqlx::query::<$db>("DELETE FROM iam_roles WHERE name = $1").bind(name).execute(&self.pool).await?;
                Ok(r.rows_affected() == 1)
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
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
            #[tracing::instrument(level = "debug", skip_all)]
            async fn get_identity(&self, identity_id: &str) -> Result<Option<crate::model::Identity>> {
                Ok(sqlx::query_as::<$db, IdentityRow>(
                    "SELECT identity_id, identity_pool_id, disabled_at, created_at FROM identities WHERE identity_id = $1",
                )
                .bind(identity_id)
                .fetch_optional(&self.pool)
                .await?
                .map(crate::model::Identity::from))
            }
            #[tracing::instrument(level = "debug", skip_all)]
            async fn identity_logins(&self, identity_id: &str) -> Result<Vec<(String, String)>> {
                Ok(sqlx::query_as::<$db, LoginRow>(
                    "SELECT provider, subject FROM identity_logins WHERE identity_id = $1 ORDER BY provider, subject",
                )
                .bind(identity_id)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(LoginRow::into_pair)
                .collect())
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
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
                    sqlx::query_as::<$db, LoginRow>(
                        "SELECT provider, subject FROM identity_logins WHERE identity_id = $1",
                    )
                    .bind(identity_id)
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .map(LoginRow::into_pair)
                    .collect()
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
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = pool_id))]
            async fn identities_with_repeated_providers(
                &self,
                pool_id: Option<&str>,
            ) -> Result<Vec<(String, String, String, Vec<String>)>> {
                let rows = sqlx::query_as::<$db, RepeatedLoginRow>(
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
                for r in rows {
                    match out.last_mut() {
                        Some(last) if last.1 == r.identity_id && last.2 == r.provider => last.3.push(r.subject),
                        _ => out.push((r.identity_pool_id, r.identity_id, r.provider, vec![r.subject])),
                    }
                }
                Ok(out)
            }
            #[tracing::instrument(level = "debug", skip_all)]
            async fn set_identity_disabled(&self, identity_id: &str, at: Option<i64>) -> Result<bool> {
                let r = sqlx::query::<$db>("UPDATE identities SET disabled_at = $2 WHERE identity_id = $1")
                    .bind(identity_id)
                    .bind(at)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn list_identities(&self, pool_id: &str, after: Option<&str>, limit: i64, hide_disabled: bool) -> Result<Vec<crate::model::Identity>> {
                Ok(sqlx::query_as::<$db, IdentityRow>(
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
                .map(crate::model::Identity::from)
                .collect())
            }
            #[tracing::instrument(level = "debug", skip_all)]
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
            #[tracing::instrument(level = "debug", skip_all)]
            async fn delete_identity(&self, identity_id: &str) -> Result<bool> {
                let mut tx = self.pool.begin().await?;
                let r = sqlx::query::<$db>("DELETE FROM identities WHERE identity_id = $1").bind(identity_id).execute(&mut *tx).await?;
                sqlx::query::<$db>("DELETE FROM identity_logins WHERE identity_id = $1").bind(identity_id).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(r.rows_affected() == 1)
            }
            #[tracing::instrument(level = "debug", skip_all)]
            async fn identity_standing(&self, identity_id: &str) -> Result<Option<(bool, i64)>> {
                Ok(sqlx::query_as::<$db, StandingRow>(
                    "SELECT disabled_at, credentials_epoch FROM identities WHERE identity_id = $1",
                )
                .bind(identity_id)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| (r.disabled_at.is_some(), r.credentials_epoch)))
            }
            #[tracing::instrument(level = "debug", skip_all)]
            async fn bump_credentials_epoch(&self, identity_id: &str) -> Result<bool> {
                let r = sqlx::query::<$db>("UPDATE identities SET credentials_epoch = credentials_epoch + 1 WHERE identity_id = $1")
                    .bind(identity_id)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }
        }
    };
}

for_each_backend!(impl_identity);

//! Groups and their members.

use super::*;

macro_rules! impl_groups {
    ($db:ty, $backend:expr, $migrator:expr, $json_attr:expr, $json_key:expr) => {
        #[async_trait]
        impl GroupStore for SqlStore<$db> {
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %g.pool_id))]
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
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
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
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
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
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %g.pool_id))]
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
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn delete_group(&self, pool_id: &str, name: &str) -> Result<bool> {
                let r = sqlx::query::<$db>("DELETE FROM user_groups WHERE pool_id = $1 AND name = $2")
                    .bind(pool_id)
                    .bind(name)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
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
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn remove_member(&self, pool_id: &str, group: &str, sub: &str) -> Result<bool> {
                let r = sqlx::query::<$db>("DELETE FROM group_members WHERE pool_id = $1 AND group_name = $2 AND sub = $3")
                    .bind(pool_id)
                    .bind(group)
                    .bind(sub)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
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
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
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
    };
}

for_each_backend!(impl_groups);

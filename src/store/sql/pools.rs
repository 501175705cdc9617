//! User pools, their app clients and resource servers.

use super::*;

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
struct ResourceServerRow {
    pool_id: String,
    identifier: String,
    name: String,
    scopes: String,
    created_at: i64,
    updated_at: i64,
}

impl ResourceServerRow {
    fn into_resource_server(self) -> Result<ResourceServer> {
        Ok(ResourceServer {
            pool_id: self.pool_id,
            identifier: self.identifier,
            name: self.name,
            scopes: from_json(&self.scopes)?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

macro_rules! impl_pools {
    ($db:ty, $backend:expr, $migrator:expr, $json_attr:expr, $json_key:expr) => {
        #[async_trait]
        impl PoolStore for SqlStore<$db> {
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %p.id))]
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
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %id))]
            async fn get_pool(&self, id: &str) -> Result<Option<Pool>> {
                sqlx::query_as::<$db, PoolRow>("SELECT id, name, settings, created_at, updated_at FROM user_pools WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(PoolRow::into_pool)
                    .transpose()
            }
            #[tracing::instrument(level = "debug", skip_all)]
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
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %p.id))]
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
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %id))]
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

            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %rs.pool_id))]
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
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn get_resource_server(&self, pool_id: &str, identifier: &str) -> Result<Option<ResourceServer>> {
                sqlx::query_as::<$db, ResourceServerRow>(
                    "SELECT pool_id, identifier, name, scopes, created_at, updated_at FROM resource_servers \
                     WHERE pool_id = $1 AND identifier = $2",
                )
                .bind(pool_id)
                .bind(identifier)
                .fetch_optional(&self.pool)
                .await?
                .map(ResourceServerRow::into_resource_server)
                .transpose()
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn list_resource_servers(&self, pool_id: &str, after: Option<&str>, limit: i64) -> Result<Vec<ResourceServer>> {
                sqlx::query_as::<$db, ResourceServerRow>(
                    "SELECT pool_id, identifier, name, scopes, created_at, updated_at FROM resource_servers \
                     WHERE pool_id = $1 AND identifier > $2 ORDER BY identifier LIMIT $3",
                )
                .bind(pool_id)
                .bind(after.unwrap_or(""))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(ResourceServerRow::into_resource_server)
                .collect()
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %rs.pool_id))]
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
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn delete_resource_server(&self, pool_id: &str, identifier: &str) -> Result<bool> {
                let r = sqlx::query::<$db>("DELETE FROM resource_servers WHERE pool_id = $1 AND identifier = $2")
                    .bind(pool_id)
                    .bind(identifier)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %c.pool_id))]
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
            #[tracing::instrument(level = "debug", skip_all)]
            async fn client_pool_id(&self, client_id: &str) -> Result<Option<String>> {
                Ok(sqlx::query_scalar::<$db, String>("SELECT pool_id FROM app_clients WHERE id = $1")
                    .bind(client_id)
                    .fetch_optional(&self.pool)
                    .await?)
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
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
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
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
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %c.pool_id))]
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
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
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
    };
}

for_each_backend!(impl_pools);

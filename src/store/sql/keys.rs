//! Signing keys.

use super::*;

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

macro_rules! impl_keys {
    ($db:ty, $backend:expr, $migrator:expr, $json_attr:expr, $json_key:expr) => {
        #[async_trait]
        impl KeyStore for SqlStore<$db> {
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %k.pool_id))]
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
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
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
            #[tracing::instrument(level = "debug", skip_all)]
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
    };
}

for_each_backend!(impl_keys);

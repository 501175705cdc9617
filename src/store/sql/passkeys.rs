//! Users' passkeys (WebAuthn credentials).

use super::*;

#[derive(sqlx::FromRow)]
struct CredentialRow {
    pool_id: String,
    credential_id: String,
    sub: String,
    name: Option<String>,
    passkey: String,
    sign_count: i64,
    transports: String,
    attachment: Option<String>,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl CredentialRow {
    fn into_credential(self) -> Result<WebAuthnCredential> {
        Ok(WebAuthnCredential {
            pool_id: self.pool_id,
            credential_id: self.credential_id,
            sub: self.sub,
            name: self.name,
            passkey: self.passkey,
            sign_count: self.sign_count,
            transports: serde_json::from_str(&self.transports).map_err(Error::internal)?,
            attachment: self.attachment,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
        })
    }
}

macro_rules! impl_passkeys {
    ($db:ty, $backend:expr, $migrator:expr, $json_attr:expr, $json_key:expr) => {
        #[async_trait]
        impl PasskeyStore for SqlStore<$db> {
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %c.pool_id))]
            async fn insert_webauthn_credential(&self, c: &WebAuthnCredential) -> Result<bool> {
                let transports = serde_json::to_string(&c.transports).map_err(Error::internal)?;
                Ok(sqlx::query::<$db>(
                    "INSERT INTO webauthn_credentials (pool_id, credential_id, sub, name, passkey, sign_count, transports, attachment, created_at, last_used_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (pool_id, credential_id) DO NOTHING",
                )
                .bind(&c.pool_id)
                .bind(&c.credential_id)
                .bind(&c.sub)
                .bind(&c.name)
                .bind(&c.passkey)
                .bind(c.sign_count)
                .bind(transports)
                .bind(&c.attachment)
                .bind(c.created_at)
                .bind(c.last_used_at)
                .execute(&self.pool)
                .await?
                .rows_affected()
                    == 1)
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn webauthn_credentials_of(&self, pool_id: &str, sub: &str) -> Result<Vec<WebAuthnCredential>> {
                sqlx::query_as::<$db, CredentialRow>(
                    "SELECT pool_id, credential_id, sub, name, passkey, sign_count, transports, attachment, created_at, last_used_at \
                     FROM webauthn_credentials WHERE pool_id = $1 AND sub = $2 ORDER BY created_at, credential_id",
                )
                .bind(pool_id)
                .bind(sub)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(CredentialRow::into_credential)
                .collect()
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn delete_webauthn_credential(&self, pool_id: &str, sub: &str, credential_id: &str) -> Result<bool> {
                Ok(sqlx::query::<$db>(
                    "DELETE FROM webauthn_credentials WHERE pool_id = $1 AND sub = $2 AND credential_id = $3",
                )
                .bind(pool_id)
                .bind(sub)
                .bind(credential_id)
                .execute(&self.pool)
                .await?
                .rows_affected()
                    == 1)
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn use_webauthn_credential(&self, pool_id: &str, credential_id: &str, sign_count: i64, passkey: &str, now: i64) -> Result<bool> {
                Ok(sqlx::query::<$db>(
                    "UPDATE webauthn_credentials SET sign_count = $3, passkey = $4, last_used_at = $5 \
                     WHERE pool_id = $1 AND credential_id = $2 AND (sign_count < $3 OR (sign_count = 0 AND $3 = 0))",
                )
                .bind(pool_id)
                .bind(credential_id)
                .bind(sign_count)
                .bind(passkey)
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected()
                    == 1)
            }
        }
    };
}

for_each_backend!(impl_passkeys);

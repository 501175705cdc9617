//! Identity providers, linked provider subjects, pending federation redirects.

use super::*;

#[derive(sqlx::FromRow)]
struct ProviderRow {
    pool_id: String,
    name: String,
    provider_type: String,
    settings: String,
    secret_sealed: Option<Vec<u8>>,
    created_at: i64,
    updated_at: i64,
}

impl ProviderRow {
    fn into_provider(self) -> Result<IdentityProvider> {
        Ok(IdentityProvider {
            pool_id: self.pool_id,
            name: self.name,
            provider_type: ProviderType::parse(&self.provider_type)
                .ok_or_else(|| Error::internal(anyhow::anyhow!("unknown provider type")))?,
            settings: from_json(&self.settings)?,
            secret_sealed: self.secret_sealed,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct UserIdentityRow {
    pool_id: String,
    provider: String,
    subject: String,
    sub: String,
    created_at: i64,
}

impl From<UserIdentityRow> for UserIdentity {
    fn from(r: UserIdentityRow) -> Self {
        UserIdentity {
            pool_id: r.pool_id,
            provider: r.provider,
            subject: r.subject,
            sub: r.sub,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct FederationStateRow {
    id_hash: String,
    pool_id: String,
    provider: String,
    binding_hash: String,
    state: String,
    expires_at: i64,
}

impl From<FederationStateRow> for FederationState {
    fn from(r: FederationStateRow) -> Self {
        FederationState {
            id_hash: r.id_hash,
            pool_id: r.pool_id,
            provider: r.provider,
            binding_hash: r.binding_hash,
            state: r.state,
            expires_at: r.expires_at,
        }
    }
}

macro_rules! impl_federation {
    ($db:ty, $backend:expr, $migrator:expr, $json_attr:expr, $json_key:expr) => {
        #[async_trait]
        impl FederationStore for SqlStore<$db> {
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %p.pool_id))]
            async fn insert_identity_provider(&self, p: &IdentityProvider) -> Result<()> {
                let r = sqlx::query::<$db>(
                    "INSERT INTO identity_providers (pool_id, name, provider_type, settings, secret_sealed, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&p.pool_id)
                .bind(&p.name)
                .bind(p.provider_type.as_str())
                .bind(to_json(&p.settings)?)
                .bind(&p.secret_sealed)
                .bind(p.created_at)
                .bind(p.updated_at)
                .execute(&self.pool)
                .await;
                match r {
                    Err(e) if is_unique_violation(&e) => Err(Error::new(ErrorKind::Conflict, "An identity provider with this name exists")),
                    r => r.map(|_| ()).map_err(Into::into),
                }
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn get_identity_provider(&self, pool_id: &str, name: &str) -> Result<Option<IdentityProvider>> {
                sqlx::query_as::<$db, ProviderRow>(
                    "SELECT pool_id, name, provider_type, settings, secret_sealed, created_at, updated_at FROM identity_providers \
                     WHERE pool_id = $1 AND name = $2",
                )
                .bind(pool_id)
                .bind(name)
                .fetch_optional(&self.pool)
                .await?
                .map(ProviderRow::into_provider)
                .transpose()
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn list_identity_providers(&self, pool_id: &str) -> Result<Vec<IdentityProvider>> {
                sqlx::query_as::<$db, ProviderRow>(
                    "SELECT pool_id, name, provider_type, settings, secret_sealed, created_at, updated_at FROM identity_providers \
                     WHERE pool_id = $1 ORDER BY name",
                )
                .bind(pool_id)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(ProviderRow::into_provider)
                .collect()
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %p.pool_id))]
            async fn update_identity_provider(&self, p: &IdentityProvider) -> Result<bool> {
                let r = sqlx::query::<$db>(
                    "UPDATE identity_providers SET settings = $3, secret_sealed = $4, updated_at = $5 WHERE pool_id = $1 AND name = $2",
                )
                .bind(&p.pool_id)
                .bind(&p.name)
                .bind(to_json(&p.settings)?)
                .bind(&p.secret_sealed)
                .bind(p.updated_at)
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() == 1)
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn delete_identity_provider(&self, pool_id: &str, name: &str) -> Result<bool> {
                let r = sqlx::query::<$db>("DELETE FROM identity_providers WHERE pool_id = $1 AND name = $2")
                    .bind(pool_id)
                    .bind(name)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %l.pool_id))]
            async fn link_identity(&self, l: &UserIdentity) -> Result<()> {
                let r = sqlx::query::<$db>(
                    "INSERT INTO user_identities (pool_id, provider, subject, sub, created_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&l.pool_id)
                .bind(&l.provider)
                .bind(&l.subject)
                .bind(&l.sub)
                .bind(l.created_at)
                .execute(&self.pool)
                .await;
                match r {
                    Err(e) if is_unique_violation(&e) => Err(Error::new(ErrorKind::Conflict, "This identity is already linked to a user")),
                    r => r.map(|_| ()).map_err(Into::into),
                }
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn find_identity(&self, pool_id: &str, provider: &str, subject: &str) -> Result<Option<String>> {
                Ok(sqlx::query_scalar::<$db, String>(
                    "SELECT sub FROM user_identities WHERE pool_id = $1 AND provider = $2 AND subject = $3",
                )
                .bind(pool_id)
                .bind(provider)
                .bind(subject)
                .fetch_optional(&self.pool)
                .await?)
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn identities_of_user(&self, pool_id: &str, sub: &str) -> Result<Vec<UserIdentity>> {
                Ok(sqlx::query_as::<$db, UserIdentityRow>(
                    "SELECT pool_id, provider, subject, sub, created_at FROM user_identities \
                     WHERE pool_id = $1 AND sub = $2 ORDER BY created_at, provider, subject",
                )
                .bind(pool_id)
                .bind(sub)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(UserIdentity::from)
                .collect())
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn unlink_identity(&self, pool_id: &str, provider: &str, subject: &str) -> Result<bool> {
                let r = sqlx::query::<$db>("DELETE FROM user_identities WHERE pool_id = $1 AND provider = $2 AND subject = $3")
                    .bind(pool_id)
                    .bind(provider)
                    .bind(subject)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %f.pool_id))]
            async fn insert_federation_state(&self, f: &FederationState) -> Result<()> {
                sqlx::query::<$db>(
                    "INSERT INTO federation_states (id_hash, pool_id, provider, binding_hash, state, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&f.id_hash)
                .bind(&f.pool_id)
                .bind(&f.provider)
                .bind(&f.binding_hash)
                .bind(&f.state)
                .bind(f.expires_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }
            #[tracing::instrument(level = "debug", skip_all)]
            async fn take_federation_state(&self, id_hash: &str, now: i64) -> Result<Option<FederationState>> {
                Ok(sqlx::query_as::<$db, FederationStateRow>(
                    "DELETE FROM federation_states WHERE id_hash = $1 \
                     RETURNING id_hash, pool_id, provider, binding_hash, state, expires_at",
                )
                .bind(id_hash)
                .fetch_optional(&self.pool)
                .await?
                .filter(|r| r.expires_at > now)
                .map(FederationState::from))
            }
        }
    };
}

for_each_backend!(impl_federation);

//! Users' second factors.

use super::*;

#[derive(sqlx::FromRow)]
struct UserMfaRow {
    pool_id: String,
    sub: String,
    totp_secret: Option<Vec<u8>>,
    totp_verified: bool,
    totp_device: Option<String>,
    totp_last_step: i64,
    email_otp_enabled: bool,
    sms_otp_enabled: bool,
    preferred: Option<String>,
    updated_at: i64,
}

impl From<UserMfaRow> for UserMfa {
    fn from(r: UserMfaRow) -> Self {
        UserMfa {
            pool_id: r.pool_id,
            sub: r.sub,
            totp_secret: r.totp_secret,
            totp_verified: r.totp_verified,
            totp_device: r.totp_device,
            totp_last_step: r.totp_last_step,
            email_otp_enabled: r.email_otp_enabled,
            sms_otp_enabled: r.sms_otp_enabled,
            preferred: r.preferred,
            updated_at: r.updated_at,
        }
    }
}

macro_rules! impl_mfa {
    ($db:ty, $backend:expr, $migrator:expr, $json_attr:expr, $json_key:expr) => {
        #[async_trait]
        impl MfaStore for SqlStore<$db> {
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn get_user_mfa(&self, pool_id: &str, sub: &str) -> Result<Option<UserMfa>> {
                Ok(sqlx::query_as::<$db, UserMfaRow>(
                    "SELECT pool_id, sub, totp_secret, totp_verified, totp_device, totp_last_step, email_otp_enabled, sms_otp_enabled, preferred, updated_at \
                     FROM user_mfa WHERE pool_id = $1 AND sub = $2",
                )
                .bind(pool_id)
                .bind(sub)
                .fetch_optional(&self.pool)
                .await?
                .map(UserMfa::from))
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %m.pool_id))]
            async fn put_user_mfa(&self, m: &UserMfa) -> Result<()> {
                sqlx::query::<$db>(
                    "INSERT INTO user_mfa (pool_id, sub, totp_secret, totp_verified, totp_device, totp_last_step, email_otp_enabled, sms_otp_enabled, preferred, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (pool_id, sub) DO UPDATE SET totp_secret = excluded.totp_secret, totp_verified = excluded.totp_verified, \
                     totp_device = excluded.totp_device, email_otp_enabled = excluded.email_otp_enabled, sms_otp_enabled = excluded.sms_otp_enabled, \
                     preferred = excluded.preferred, updated_at = excluded.updated_at",
                )
                .bind(&m.pool_id)
                .bind(&m.sub)
                .bind(&m.totp_secret)
                .bind(m.totp_verified)
                .bind(&m.totp_device)
                .bind(m.totp_last_step)
                .bind(m.email_otp_enabled)
                .bind(m.sms_otp_enabled)
                .bind(&m.preferred)
                .bind(m.updated_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn use_totp_step(&self, pool_id: &str, sub: &str, step: i64) -> Result<bool> {
                Ok(sqlx::query::<$db>(
                    "UPDATE user_mfa SET totp_last_step = $3 WHERE pool_id = $1 AND sub = $2 AND totp_last_step < $3",
                )
                .bind(pool_id)
                .bind(sub)
                .bind(step)
                .execute(&self.pool)
                .await?
                .rows_affected()
                    == 1)
            }
        }
    };
}

for_each_backend!(impl_mfa);

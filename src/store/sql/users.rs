//! Users, their sign-in aliases, one-time codes and sign-in throttles.

use super::*;

/// A sign-in failure counter: account-wide (`source` empty) or of one source.
#[derive(sqlx::FromRow)]
struct FailureRow {
    source: String,
    failures: i32,
    locked_until: i64,
}

impl FailureRow {
    /// The throttle the account-wide and the per-source rows make up.
    fn throttle(rows: Vec<FailureRow>) -> SigninThrottle {
        let mut t = SigninThrottle::default();
        for r in rows {
            if r.source.is_empty() {
                (t.account_failures, t.account_locked_until) = (r.failures, r.locked_until);
            } else {
                (t.source_failures, t.source_locked_until) = (r.failures, r.locked_until);
            }
        }
        t
    }
}

#[derive(sqlx::FromRow)]
struct AliasRow {
    kind: String,
    value: String,
}

#[derive(sqlx::FromRow)]
struct CodeRow {
    pool_id: String,
    sub: String,
    code_hash: String,
    expires_at: i64,
    attempts: i32,
    created_at: i64,
}

#[derive(sqlx::FromRow)]
struct UserGroupRow {
    #[sqlx(flatten)]
    user: UserRow,
    #[sqlx(flatten)]
    group: JoinedGroup,
}

/// A user, one of its groups, and its sign-in throttle counters (the
/// account-wide row `a_*` and the source's row `s_*`, NULL when absent).
#[derive(sqlx::FromRow)]
struct SignInRow {
    #[sqlx(flatten)]
    user: UserRow,
    #[sqlx(flatten)]
    group: JoinedGroup,
    a_failures: Option<i32>,
    a_locked_until: Option<i64>,
    s_failures: Option<i32>,
    s_locked_until: Option<i64>,
    k_last_success: Option<i64>,
}

async fn insert_code<'e, E, DB>(ex: E, c: &CodeRecord) -> Result<()>
where
    DB: sqlx::Database,
    E: sqlx::Executor<'e, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i32: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query::<DB>(
        "INSERT INTO codes (pool_id, sub, purpose, code_hash, expires_at, attempts, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (pool_id, sub, purpose) DO UPDATE SET code_hash = EXCLUDED.code_hash, expires_at = EXCLUDED.expires_at, \
         attempts = EXCLUDED.attempts, created_at = EXCLUDED.created_at",
    )
    .bind(c.pool_id.clone())
    .bind(c.sub.clone())
    .bind(c.purpose.as_str())
    .bind(c.code_hash.clone())
    .bind(c.expires_at)
    .bind(c.attempts)
    .bind(c.created_at)
    .execute(ex)
    .await?;
    Ok(())
}

/// `LIKE` pattern for a prefix, with `\` escaping the wildcards.
fn like_prefix(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 1);
    for c in v.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The sign-in lookup: `$from` names the user as `u`, `$src` is the
/// source's placeholder, `$where` the WHERE clause.
macro_rules! sign_in_sql {
    ($from:literal, $src:literal, $where:literal) => {
        concat!(
            "SELECT u.pool_id, u.sub, u.username, u.status, u.enabled, u.password_hash, u.srp_sealed, u.attributes, \
             u.created_at, u.updated_at, \
             g.name AS g_name, g.description AS g_description, g.precedence AS g_precedence, g.role_arn AS g_role_arn, \
             g.created_at AS g_created_at, g.updated_at AS g_updated_at, \
             fa.failures AS a_failures, fa.locked_until AS a_locked_until, \
             fs.failures AS s_failures, fs.locked_until AS s_locked_until, \
             k.last_success_at AS k_last_success FROM ",
            $from,
            " LEFT JOIN group_members m ON m.pool_id = u.pool_id AND m.sub = u.sub \
             LEFT JOIN user_groups g ON g.pool_id = m.pool_id AND g.name = m.group_name \
             LEFT JOIN signin_failures fa ON fa.pool_id = u.pool_id AND fa.sub = u.sub AND fa.source = '' \
             LEFT JOIN signin_failures fs ON fs.pool_id = u.pool_id AND fs.sub = u.sub AND fs.source = ",
            $src,
            " LEFT JOIN signin_known_sources k ON k.pool_id = u.pool_id AND k.sub = u.sub AND k.source = ",
            $src,
            $where
        )
    };
}

/// The user list's statement for `conditions` (all must hold): built only
/// from fixed fragments and numbered placeholders, so that every value and
/// attribute key is bound, in this order: pool id, cursor, then per
/// condition its value (an attribute: its key, then its value), then the
/// limit. `json_attr` reads an attribute whose key is placeholder `$n`.
fn list_users_sql(conditions: &[FilterCondition], json_attr: fn(usize) -> String) -> String {
    let mut sql = String::from(concat!(
        "SELECT ",
        user_cols!(),
        " FROM users WHERE pool_id = $1 AND sub > $2"
    ));
    let mut n = 2;
    for c in conditions {
        let (op, esc) = match c.op {
            FilterOp::Equals => ("=", ""),
            FilterOp::StartsWith => ("LIKE", " ESCAPE '\\'"),
        };
        match &c.field {
            FilterField::Status => {
                n += 1;
                sql.push_str(&format!(" AND status {op} ${n}{esc}"));
            }
            FilterField::Enabled => {
                n += 1;
                sql.push_str(&format!(" AND enabled = ${n}"));
            }
            FilterField::Username => {
                n += 1;
                sql.push_str(&format!(" AND username {op} ${n}{esc}"));
            }
            FilterField::Attribute(_) => {
                n += 2;
                sql.push_str(&format!(" AND {} {op} ${}{esc}", json_attr(n - 1), n));
            }
        }
    }
    n += 1;
    sql.push_str(&format!(" ORDER BY sub LIMIT ${n}"));
    sql
}

macro_rules! impl_users {
    ($db:ty, $backend:expr, $migrator:expr, $json_attr:expr, $json_key:expr) => {
        #[async_trait]
        impl UserStore for SqlStore<$db> {
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %u.pool_id))]
            async fn create_user(&self, u: &User, aliases: &[Alias], code: Option<&CodeRecord>) -> Result<()> {
                let mut tx = self.pool.begin().await?;
                let r = sqlx::query::<$db>(
                    "INSERT INTO users (pool_id, sub, username, status, enabled, password_hash, srp_sealed, attributes, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&u.pool_id)
                .bind(&u.sub)
                .bind(&u.username)
                .bind(u.status.as_str())
                .bind(u.enabled)
                .bind(&u.password_hash)
                .bind(&u.srp_sealed)
                .bind(to_json(&u.attributes)?)
                .bind(u.created_at)
                .bind(u.updated_at)
                .execute(&mut *tx)
                .await;
                match r {
                    Err(e) if is_unique_violation(&e) => {
                        return Err(Error::new(ErrorKind::UsernameExists, "User already exists"));
                    }
                    r => {
                        r?;
                    }
                }
                Self::insert_aliases_tx(&mut tx, &u.pool_id, &u.sub, aliases).await?;
                if let Some(c) = code {
                    insert_code(&mut *tx, c).await?;
                }
                tx.commit().await?;
                Ok(())
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn get_user(&self, pool_id: &str, sub: &str) -> Result<Option<User>> {
                sqlx::query_as::<$db, UserRow>(concat!("SELECT ", user_cols!(), " FROM users WHERE pool_id = $1 AND sub = $2"))
                    .bind(pool_id)
                    .bind(sub)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(UserRow::into_user)
                    .transpose()
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn get_user_with_groups(&self, pool_id: &str, sub: &str) -> Result<Option<(User, Vec<Group>)>> {
                // One row per group (or one with NULL group columns).
                let rows = sqlx::query_as::<$db, UserGroupRow>(
                    "SELECT u.pool_id, u.sub, u.username, u.status, u.enabled, u.password_hash, u.srp_sealed, u.attributes, \
                     u.created_at, u.updated_at, \
                     g.name AS g_name, g.description AS g_description, g.precedence AS g_precedence, g.role_arn AS g_role_arn, \
                     g.created_at AS g_created_at, g.updated_at AS g_updated_at \
                     FROM users u \
                     LEFT JOIN group_members m ON m.pool_id = u.pool_id AND m.sub = u.sub \
                     LEFT JOIN user_groups g ON g.pool_id = m.pool_id AND g.name = m.group_name \
                     WHERE u.pool_id = $1 AND u.sub = $2",
                )
                .bind(pool_id)
                .bind(sub)
                .fetch_all(&self.pool)
                .await?;
                let Some((r, groups)) =
                    first_with_groups(rows, |r| std::mem::take(&mut r.group).into_group(&r.user.pool_id))
                else {
                    return Ok(None);
                };
                Ok(Some((r.user.into_user()?, groups)))
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn sign_in_lookup(&self, pool_id: &str, by: UserLookup<'_>, source: &str) -> Result<Option<SignInRecord>> {
                // One row per group (or one with NULL group columns); the two
                // throttle rows are unique per (user, source), so they never
                // multiply the rows.
                let rows = match by {
                    UserLookup::Username(username) => {
                        sqlx::query_as::<$db, SignInRow>(sign_in_sql!(
                            "users u",
                            "$3",
                            " WHERE u.pool_id = $1 AND u.username = $2"
                        ))
                        .bind(pool_id)
                        .bind(username)
                        .bind(source)
                        .fetch_all(&self.pool)
                        .await?
                    }
                    UserLookup::Alias(kind, value) => {
                        sqlx::query_as::<$db, SignInRow>(sign_in_sql!(
                            "user_aliases a JOIN users u ON u.pool_id = a.pool_id AND u.sub = a.sub",
                            "$4",
                            " WHERE a.pool_id = $1 AND a.kind = $2 AND a.value = $3"
                        ))
                        .bind(pool_id)
                        .bind(kind)
                        .bind(value)
                        .bind(source)
                        .fetch_all(&self.pool)
                        .await?
                    }
                };
                let Some((r, groups)) =
                    first_with_groups(rows, |r| std::mem::take(&mut r.group).into_group(&r.user.pool_id))
                else {
                    return Ok(None);
                };
                let throttle = SigninThrottle {
                    account_failures: r.a_failures.unwrap_or(0),
                    account_locked_until: r.a_locked_until.unwrap_or(0),
                    source_failures: r.s_failures.unwrap_or(0),
                    source_locked_until: r.s_locked_until.unwrap_or(0),
                    known_at: r.k_last_success.unwrap_or(0),
                };
                Ok(Some(SignInRecord { user: r.user.into_user()?, groups, throttle }))
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn get_user_by_username(&self, pool_id: &str, username: &str) -> Result<Option<User>> {
                sqlx::query_as::<$db, UserRow>(concat!("SELECT ", user_cols!(), " FROM users WHERE pool_id = $1 AND username = $2"))
                    .bind(pool_id)
                    .bind(username)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(UserRow::into_user)
                    .transpose()
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn find_alias(&self, pool_id: &str, kind: &str, value: &str) -> Result<Option<String>> {
                Ok(sqlx::query_scalar::<$db, String>(
                    "SELECT sub FROM user_aliases WHERE pool_id = $1 AND kind = $2 AND value = $3",
                )
                .bind(pool_id)
                .bind(kind)
                .bind(value)
                .fetch_optional(&self.pool)
                .await?)
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn get_user_by_alias(&self, pool_id: &str, kind: &str, value: &str) -> Result<Option<User>> {
                sqlx::query_as::<$db, UserRow>(
                    "SELECT u.pool_id, u.sub, u.username, u.status, u.enabled, u.password_hash, u.srp_sealed, u.attributes, \
                     u.created_at, u.updated_at FROM user_aliases a JOIN users u ON u.pool_id = a.pool_id AND u.sub = a.sub \
                     WHERE a.pool_id = $1 AND a.kind = $2 AND a.value = $3",
                )
                .bind(pool_id)
                .bind(kind)
                .bind(value)
                .fetch_optional(&self.pool)
                .await?
                .map(UserRow::into_user)
                .transpose()
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %u.pool_id))]
            async fn update_user(&self, u: &User) -> Result<bool> {
                let r = sqlx::query::<$db>(
                    "UPDATE users SET status = $3, enabled = $4, password_hash = $5, srp_sealed = $6, attributes = $7, updated_at = $8 \
                     WHERE pool_id = $1 AND sub = $2",
                )
                .bind(&u.pool_id)
                .bind(&u.sub)
                .bind(u.status.as_str())
                .bind(u.enabled)
                .bind(&u.password_hash)
                .bind(&u.srp_sealed)
                .bind(to_json(&u.attributes)?)
                .bind(u.updated_at)
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() == 1)
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn delete_user(&self, pool_id: &str, sub: &str) -> Result<bool> {
                let r = sqlx::query::<$db>("DELETE FROM users WHERE pool_id = $1 AND sub = $2")
                    .bind(pool_id)
                    .bind(sub)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn count_users(&self, pool_id: &str) -> Result<i64> {
                Ok(sqlx::query_scalar::<$db, i64>("SELECT COUNT(*) FROM users WHERE pool_id = $1")
                    .bind(pool_id)
                    .fetch_one(&self.pool)
                    .await?)
            }

            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn signin_failures(&self, pool_id: &str, sub: &str, source: &str) -> Result<SigninThrottle> {
                let rows = sqlx::query_as::<$db, FailureRow>(
                    "SELECT source, failures, locked_until FROM signin_failures WHERE pool_id = $1 AND sub = $2 AND source IN ('', $3)",
                )
                .bind(pool_id)
                .bind(sub)
                .bind(source)
                .fetch_all(&self.pool)
                .await?;
                Ok(FailureRow::throttle(rows))
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn record_signin_failure(
                &self,
                pool_id: &str,
                sub: &str,
                source: &str,
                lock_account: &(dyn Fn(i32) -> i64 + Sync),
                lock_source: &(dyn Fn(i32) -> i64 + Sync),
            ) -> Result<()> {
                let mut tx = self.pool.begin().await?;
                for (src, lock) in [("", lock_account), (source, lock_source)] {
                    let n = sqlx::query_scalar::<$db, i32>(
                        "INSERT INTO signin_failures (pool_id, sub, source, failures, locked_until) VALUES ($1, $2, $3, 1, 0) \
                         ON CONFLICT (pool_id, sub, source) DO UPDATE SET failures = signin_failures.failures + 1 RETURNING failures",
                    )
                    .bind(pool_id)
                    .bind(sub)
                    .bind(src)
                    .fetch_one(&mut *tx)
                    .await?;
                    sqlx::query::<$db>("UPDATE signin_failures SET locked_until = $4 WHERE pool_id = $1 AND sub = $2 AND source = $3")
                        .bind(pool_id)
                        .bind(sub)
                        .bind(src)
                        .bind(lock(n))
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn clear_signin_failures(&self, pool_id: &str, sub: &str) -> Result<()> {
                sqlx::query::<$db>("DELETE FROM signin_failures WHERE pool_id = $1 AND sub = $2")
                    .bind(pool_id)
                    .bind(sub)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn note_signin_success(&self, pool_id: &str, sub: &str, source: &str, at: i64) -> Result<()> {
                sqlx::query::<$db>(
                    "INSERT INTO signin_known_sources (pool_id, sub, source, last_success_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (pool_id, sub, source) DO UPDATE SET last_success_at = excluded.last_success_at",
                )
                .bind(pool_id)
                .bind(sub)
                .bind(source)
                .bind(at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn name_failures(&self, pool_id: &str, name_key: &str, source: &str) -> Result<SigninThrottle> {
                let rows = sqlx::query_as::<$db, FailureRow>(
                    "SELECT source, failures, locked_until FROM signin_name_failures \
                     WHERE pool_id = $1 AND name_key = $2 AND source IN ('', $3)",
                )
                .bind(pool_id)
                .bind(name_key)
                .bind(source)
                .fetch_all(&self.pool)
                .await?;
                Ok(FailureRow::throttle(rows))
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn record_name_failure(
                &self,
                pool_id: &str,
                name_key: &str,
                source: &str,
                now: i64,
                lock_account: &(dyn Fn(i32) -> i64 + Sync),
                lock_source: &(dyn Fn(i32) -> i64 + Sync),
            ) -> Result<()> {
                // The same statements as a known account's failure: the
                // same work, so the same time.
                let mut tx = self.pool.begin().await?;
                for (src, lock) in [("", lock_account), (source, lock_source)] {
                    let n = sqlx::query_scalar::<$db, i32>(
                        "INSERT INTO signin_name_failures (pool_id, name_key, source, failures, locked_until, updated_at) \
                         VALUES ($1, $2, $3, 1, 0, $4) ON CONFLICT (pool_id, name_key, source) \
                         DO UPDATE SET failures = signin_name_failures.failures + 1, updated_at = excluded.updated_at \
                         RETURNING failures",
                    )
                    .bind(pool_id)
                    .bind(name_key)
                    .bind(src)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    sqlx::query::<$db>(
                        "UPDATE signin_name_failures SET locked_until = $4 WHERE pool_id = $1 AND name_key = $2 AND source = $3",
                    )
                    .bind(pool_id)
                    .bind(name_key)
                    .bind(src)
                    .bind(lock(n))
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }
            #[tracing::instrument(level = "debug", skip_all)]
            async fn purge_name_failures(&self, before: i64) -> Result<u64> {
                let r = sqlx::query::<$db>("DELETE FROM signin_name_failures WHERE updated_at < $1 AND locked_until < $1")
                    .bind(before)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected())
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn list_users(&self, pool_id: &str, filter: Option<&UserFilter>, after: Option<&str>, limit: i64) -> Result<Vec<User>> {
                let conditions = filter.map_or(&[][..], |f| &f.conditions[..]);
                let sql = list_users_sql(conditions, $json_attr);
                let mut q = sqlx::query_as::<$db, UserRow>(sqlx::AssertSqlSafe(sql)).bind(pool_id).bind(after.unwrap_or(""));
                for c in conditions {
                    let value = match c.op {
                        FilterOp::Equals => c.value.clone(),
                        FilterOp::StartsWith => like_prefix(&c.value),
                    };
                    q = match &c.field {
                        FilterField::Status | FilterField::Username => q.bind(value),
                        FilterField::Enabled => q.bind(c.value == "true"),
                        FilterField::Attribute(name) => q.bind($json_key(name)).bind(value),
                    };
                }
                q.bind(limit).fetch_all(&self.pool).await?.into_iter().map(UserRow::into_user).collect()
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn user_aliases(&self, pool_id: &str, sub: &str) -> Result<Vec<Alias>> {
                Ok(sqlx::query_as::<$db, AliasRow>(
                    "SELECT kind, value FROM user_aliases WHERE pool_id = $1 AND sub = $2 ORDER BY kind, value",
                )
                .bind(pool_id)
                .bind(sub)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|r| Alias { kind: r.kind, value: r.value })
                .collect())
            }

            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %c.pool_id))]
            async fn put_code(&self, c: &CodeRecord) -> Result<()> {
                insert_code(&self.pool, c).await
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn get_code(&self, pool_id: &str, sub: &str, purpose: CodePurpose) -> Result<Option<CodeRecord>> {
                Ok(sqlx::query_as::<$db, CodeRow>(
                    "SELECT pool_id, sub, code_hash, expires_at, attempts, created_at FROM codes \
                     WHERE pool_id = $1 AND sub = $2 AND purpose = $3",
                )
                .bind(pool_id)
                .bind(sub)
                .bind(purpose.as_str())
                .fetch_optional(&self.pool)
                .await?
                .map(|r| CodeRecord {
                    pool_id: r.pool_id,
                    sub: r.sub,
                    purpose,
                    code_hash: r.code_hash,
                    expires_at: r.expires_at,
                    attempts: r.attempts,
                    created_at: r.created_at,
                }))
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn bump_code_attempts(&self, pool_id: &str, sub: &str, purpose: CodePurpose) -> Result<i32> {
                Ok(sqlx::query_scalar::<$db, i32>(
                    "UPDATE codes SET attempts = attempts + 1 WHERE pool_id = $1 AND sub = $2 AND purpose = $3 RETURNING attempts",
                )
                .bind(pool_id)
                .bind(sub)
                .bind(purpose.as_str())
                .fetch_optional(&self.pool)
                .await?
                .unwrap_or(i32::MAX))
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn delete_code(&self, pool_id: &str, sub: &str, purpose: CodePurpose) -> Result<()> {
                sqlx::query::<$db>("DELETE FROM codes WHERE pool_id = $1 AND sub = $2 AND purpose = $3")
                    .bind(pool_id)
                    .bind(sub)
                    .bind(purpose.as_str())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn verify_attribute(
                &self,
                pool_id: &str,
                sub: &str,
                purpose: CodePurpose,
                code_hash: &str,
                alias_move: Option<(&str, Option<&str>, &str)>,
                attributes: &Attributes,
                now: i64,
            ) -> Result<bool> {
                let mut tx = self.pool.begin().await?;
                if !Self::consume_code_tx(&mut tx, pool_id, sub, purpose, code_hash).await? {
                    return Ok(false);
                }
                if let Some((kind, old, new)) = alias_move {
                    if let Some(old) = old {
                        sqlx::query::<$db>("DELETE FROM user_aliases WHERE pool_id = $1 AND kind = $2 AND value = $3 AND sub = $4")
                            .bind(pool_id)
                            .bind(kind)
                            .bind(old)
                            .bind(sub)
                            .execute(&mut *tx)
                            .await?;
                    }
                    Self::insert_aliases_tx(&mut tx, pool_id, sub, &[Alias { kind: kind.to_owned(), value: new.to_owned() }]).await?;
                }
                sqlx::query::<$db>("UPDATE users SET attributes = $3, updated_at = $4 WHERE pool_id = $1 AND sub = $2")
                    .bind(pool_id)
                    .bind(sub)
                    .bind(to_json(attributes)?)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }
            #[allow(clippy::too_many_arguments)]
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn reset_password(
                &self,
                pool_id: &str,
                sub: &str,
                code_hash: &str,
                password_hash: &str,
                srp_sealed: Option<&[u8]>,
                status: UserStatus,
                now: i64,
            ) -> Result<bool> {
                let mut tx = self.pool.begin().await?;
                if !Self::consume_code_tx(&mut tx, pool_id, sub, CodePurpose::ResetPassword, code_hash).await? {
                    return Ok(false);
                }
                sqlx::query::<$db>("UPDATE users SET password_hash = $3, status = $4, updated_at = $5, srp_sealed = $6 WHERE pool_id = $1 AND sub = $2")
                    .bind(pool_id)
                    .bind(sub)
                    .bind(password_hash)
                    .bind(status.as_str())
                    .bind(now)
                    .bind(srp_sealed)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query::<$db>("UPDATE token_families SET revoked_at = $3 WHERE pool_id = $1 AND sub = $2 AND revoked_at IS NULL")
                    .bind(pool_id)
                    .bind(sub)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query::<$db>("DELETE FROM login_sessions WHERE pool_id = $1 AND sub = $2")
                    .bind(pool_id)
                    .bind(sub)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }
            #[tracing::instrument(level = "debug", skip_all, fields(pool_id = %pool_id))]
            async fn confirm_signup(&self, pool_id: &str, sub: &str, code_hash: &str, aliases: &[Alias], verified: &[String], now: i64) -> Result<bool> {
                let mut tx = self.pool.begin().await?;
                if !Self::consume_code_tx(&mut tx, pool_id, sub, CodePurpose::Signup, code_hash).await? {
                    return Ok(false);
                }
                Self::insert_aliases_tx(&mut tx, pool_id, sub, aliases).await?;
                let user = sqlx::query_as::<$db, UserRow>(concat!("SELECT ", user_cols!(), " FROM users WHERE pool_id = $1 AND sub = $2"))
                    .bind(pool_id)
                    .bind(sub)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(user) = user else { return Ok(false) };
                let mut user = user.into_user()?;
                user.status = UserStatus::Confirmed;
                for k in verified {
                    if user.attributes.contains_key(k.as_str()) {
                        user.attributes.insert(format!("{k}_verified"), "true".into());
                    }
                }
                sqlx::query::<$db>("UPDATE users SET status = $3, attributes = $4, updated_at = $5 WHERE pool_id = $1 AND sub = $2")
                    .bind(pool_id)
                    .bind(sub)
                    .bind(user.status.as_str())
                    .bind(to_json(&user.attributes)?)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }
        }
    };
}

for_each_backend!(impl_users);

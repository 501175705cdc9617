//! Export and import of a pool's users as JSON Lines, password hashes
//! included: the way out of (and into) a user directory that Cognito does
//! not offer.
//!
//! One line per user: username, sub, status, enabled, attributes, groups,
//! password hash and times. An import accepts argon2, bcrypt, scrypt and
//! PBKDF2 hashes (`crate::crypto::legacy`); they are verified at sign-in and
//! replaced by the pool's argon2id there. Each user is created in one
//! transaction with its sign-in aliases; a line that fails is reported by
//! number and the rest go on.

use super::{UserPools, alias_value, attributes};
use crate::audit::{AdminCtx, Target};
use crate::error::{Error, ErrorKind, Result};
use crate::model::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One user in an export file.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportedUser {
    /// In email/phone-as-username pools this is the `sub`; the email or
    /// phone is in `attributes`.
    pub username: String,
    /// Kept on import when it is a UUID, so tokens keep their subject.
    #[serde(default)]
    pub sub: Option<String>,
    /// `CONFIRMED`, `UNCONFIRMED`, `FORCE_CHANGE_PASSWORD` or `RESET_REQUIRED`.
    pub status: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub attributes: Attributes,
    /// Group names; missing groups are created on import.
    #[serde(default)]
    pub groups: Vec<String>,
    /// argon2 / bcrypt / scrypt / PBKDF2, PHC or modular-crypt form. A user
    /// without one is imported as `RESET_REQUIRED`.
    #[serde(default)]
    pub password_hash: Option<String>,
    #[serde(default)]
    pub created_at: Option<i64>,
    #[serde(default)]
    pub updated_at: Option<i64>,
}

fn yes() -> bool {
    true
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ImportReport {
    pub imported: u64,
    /// Imported without a usable password: they must reset it.
    pub reset_required: u64,
    pub failed: Vec<ImportFailure>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportFailure {
    /// 1-based line number in the uploaded file.
    pub line: usize,
    pub code: String,
    pub message: String,
}

/// Failures listed in a report; more are counted but not described.
const MAX_REPORTED_FAILURES: usize = 1000;
const MAX_LINE_BYTES: usize = 64 * 1024;
const MAX_GROUPS_PER_USER: usize = 100;

impl UserPools {
    /// One page of the export, ordered by `sub`, after the cursor. An export
    /// carries password hashes, so its start (the first page) is audited
    /// like a change.
    pub async fn export_users(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ExportedUser>> {
        let page = self.export_page(pool_id, after, limit);
        if after.is_some() {
            return page.await;
        }
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "ExportUsers",
                Target::pool(pool_id),
                page,
            )
            .await
    }

    async fn export_page(
        &self,
        pool_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ExportedUser>> {
        self.pool(pool_id).await?;
        let users = self.store.list_users(pool_id, None, after, limit).await?;
        let mut out = Vec::with_capacity(users.len());
        for u in users {
            let groups = self.store.groups_of_user(pool_id, &u.sub).await?;
            out.push(ExportedUser {
                username: u.username,
                sub: Some(u.sub),
                status: u.status.as_str().to_owned(),
                enabled: u.enabled,
                attributes: attributes::public(&u.attributes),
                groups: groups.into_iter().map(|g| g.name).collect(),
                password_hash: u.password_hash,
                created_at: Some(u.created_at),
                updated_at: Some(u.updated_at),
            });
        }
        Ok(out)
    }

    /// Imports JSON Lines into a pool; blank lines are skipped.
    pub async fn import_users(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        body: &[u8],
    ) -> Result<ImportReport> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "ImportUsers",
                Target::pool(pool_id),
                self.import_users_flow(pool_id, body),
            )
            .await
    }

    async fn import_users_flow(&self, pool_id: &str, body: &[u8]) -> Result<ImportReport> {
        let pool = self.pool(pool_id).await?;
        let mut report = ImportReport::default();
        for (i, line) in body.split(|b| *b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match self.import_line(&pool, line).await {
                Ok(reset) => {
                    report.imported += 1;
                    report.reset_required += u64::from(reset);
                }
                Err(e)
                    if e.kind == ErrorKind::Internal || e.kind == ErrorKind::ServiceUnavailable =>
                {
                    // The store failed: stop, and say how far the import got.
                    return Err(Error::new(
                        e.kind,
                        format!(
                            "import stopped at line {}: {} users imported before it",
                            i + 1,
                            report.imported
                        ),
                    ));
                }
                Err(e) => {
                    if report.failed.len() < MAX_REPORTED_FAILURES {
                        report.failed.push(ImportFailure {
                            line: i + 1,
                            code: e.kind.code().to_owned(),
                            message: e.message,
                        });
                    }
                }
            }
        }
        tracing::info!(
            pool_id,
            imported = report.imported,
            failed = report.failed.len(),
            "users imported"
        );
        Ok(report)
    }

    /// Creates one user; returns whether it must reset its password.
    async fn import_line(&self, pool: &Pool, line: &[u8]) -> Result<bool> {
        if line.len() > MAX_LINE_BYTES {
            return Err(Error::invalid("line is longer than 64 KiB"));
        }
        let mut rec: ExportedUser = serde_json::from_slice(line)
            .map_err(|e| Error::invalid(format!("not a user record: {e}")))?;
        let mut status = match UserStatus::parse(&rec.status) {
            Some(UserStatus::ExternalProvider) | None => {
                return Err(Error::invalid(format!(
                    "status must be CONFIRMED, UNCONFIRMED, FORCE_CHANGE_PASSWORD or RESET_REQUIRED, not {:?}",
                    rec.status
                )));
            }
            Some(s) => s,
        };
        let password_hash = match rec.password_hash.take() {
            Some(h) => {
                crate::crypto::legacy::check_import(&h).map_err(Error::invalid)?;
                Some(h)
            }
            None => None,
        };
        if password_hash.is_none() && status != UserStatus::Unconfirmed {
            status = UserStatus::ResetRequired;
        }
        if rec.groups.len() > MAX_GROUPS_PER_USER {
            return Err(Error::invalid("too many groups"));
        }
        let sub = match rec.sub.as_deref().map(uuid::Uuid::parse_str) {
            Some(Ok(u)) => u.hyphenated().to_string(),
            Some(Err(_)) => return Err(Error::invalid("sub must be a UUID")),
            None => crate::crypto::random::uuid(),
        };
        let mut attrs = rec.attributes;
        if attrs.get("sub").is_some_and(|s| s != &sub) {
            return Err(Error::invalid("attributes.sub differs from sub"));
        }
        attrs.remove("sub");
        let verified: Vec<(String, String)> = ["email_verified", "phone_number_verified"]
            .into_iter()
            .filter_map(|k| attrs.remove(k).map(|v| (k.to_owned(), v)))
            .collect();
        attributes::validate_write(pool, None, &attrs, true)?;
        for (k, v) in &verified {
            if v != "true" && v != "false" {
                return Err(Error::invalid(format!("{k} must be \"true\" or \"false\"")));
            }
        }
        for k in ["email", "phone_number"] {
            if let Some(v) = attrs.get(k) {
                let ok = if k == "email" {
                    attributes::is_valid_email(v)
                } else {
                    attributes::is_valid_phone(v)
                };
                if !ok {
                    return Err(Error::invalid(format!("{k} is not valid")));
                }
                let flag = format!("{k}_verified");
                let is_verified = verified.iter().any(|(vk, v)| vk == &flag && v == "true");
                attrs.insert(flag, is_verified.to_string());
            }
        }
        // The sign-in names, as sign-up and confirmation would have made them.
        let mut aliases = vec![];
        let username = if pool.settings.username_attributes.is_empty() {
            let n = rec.username.chars().count();
            if n == 0
                || n > 128
                || rec
                    .username
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(Error::invalid(
                    "username must be 1-128 characters without spaces",
                ));
            }
            for k in &pool.settings.alias_attributes {
                let usable = k == "preferred_username"
                    || (status != UserStatus::Unconfirmed
                        && attrs.get(&format!("{k}_verified")).map(String::as_str) == Some("true"));
                if let (true, Some(v)) = (usable, attrs.get(k)) {
                    aliases.push(Alias {
                        kind: k.clone(),
                        value: alias_value(k, v),
                    });
                }
            }
            super::Core::normalize_username(pool, &rec.username)
        } else {
            for k in &pool.settings.username_attributes {
                if let Some(v) = attrs.get(k) {
                    aliases.push(Alias {
                        kind: k.clone(),
                        value: alias_value(k, v),
                    });
                }
            }
            if aliases.is_empty() {
                return Err(Error::invalid(format!(
                    "the pool signs users in by {}, and the record has none",
                    pool.settings.username_attributes.join(" or ")
                )));
            }
            sub.clone()
        };
        attrs.insert("sub".into(), sub.clone());
        let now = self.clock.now();
        let user = User {
            pool_id: pool.id.clone(),
            sub,
            username,
            status,
            enabled: rec.enabled,
            password_hash,
            srp_sealed: None,
            attributes: attrs,
            created_at: rec.created_at.unwrap_or(now),
            updated_at: rec.updated_at.unwrap_or(now),
        };
        self.store.create_user(&user, &aliases, None).await?;
        for name in &rec.groups {
            if self.store.get_group(&pool.id, name).await?.is_none() {
                let group = Group {
                    pool_id: pool.id.clone(),
                    name: name.clone(),
                    description: None,
                    precedence: None,
                    role_arn: None,
                    created_at: now,
                    updated_at: now,
                };
                super::groups::check(&group)?;
                match self.store.insert_group(&group).await {
                    Err(e) if e.kind != ErrorKind::Conflict => return Err(e),
                    _ => {}
                }
            }
            self.store.add_member(&pool.id, name, &user.sub).await?;
        }
        Ok(status == UserStatus::ResetRequired)
    }
}

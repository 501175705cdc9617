//! User pools themselves (SigV4-signed with an admin key).
//!
//! Create and Update build the native `PoolSettings` from the members the
//! request names; Update keeps what it does not name (Cognito resets what
//! an update omits to its defaults; keeping it is the safer reading for a
//! server that holds real users).

use super::super::Fault;
use super::super::op::{Empty, Operation};
use super::super::wire::{bad, next_token, page_size, placeholders, required};
use super::schema::{SchemaAttributeIn, SchemaAttributeType, schema_attributes};
use crate::app::AppState;
use crate::audit::AdminCtx;
use crate::model::{MessageTemplate, MfaMode, Pool, PoolSettings};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub(in super::super) const OPS: &[Operation] = &[
    admin!(UserPools, "CreateUserPool", create_pool),
    admin!(UserPools, "DescribeUserPool", describe_pool),
    admin!(UserPools, "UpdateUserPool", update_pool),
    admin!(UserPools, "DeleteUserPool", delete_pool),
    admin!(UserPools, "ListUserPools", list_pools),
    admin!(UserPools, "AddCustomAttributes", add_custom_attributes),
];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PasswordPolicyIn {
    #[serde(default)]
    minimum_length: Option<u32>,
    #[serde(default)]
    require_uppercase: Option<bool>,
    #[serde(default)]
    require_lowercase: Option<bool>,
    #[serde(default)]
    require_numbers: Option<bool>,
    #[serde(default)]
    require_symbols: Option<bool>,
    #[serde(default)]
    temporary_password_validity_days: Option<u32>,
    #[serde(default)]
    password_history_size: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SignInPolicyIn {
    #[serde(default)]
    allowed_first_auth_factors: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PoliciesIn {
    #[serde(default)]
    password_policy: Option<PasswordPolicyIn>,
    #[serde(default)]
    sign_in_policy: Option<SignInPolicyIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UsernameConfigurationIn {
    #[serde(default)]
    case_sensitive: Option<bool>,
}

/// An email template (`VerificationMessageTemplate`, `InviteMessageTemplate`).
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct EmailTemplateIn {
    #[serde(default)]
    email_message: Option<String>,
    #[serde(default)]
    email_subject: Option<String>,
}

impl EmailTemplateIn {
    /// The template, when the request names a subject or a body.
    fn template(self, subject: &str, body: &str) -> Result<Option<MessageTemplate>, Fault> {
        if self.email_message.is_none() && self.email_subject.is_none() {
            return Ok(None);
        }
        let subject = self.email_subject.as_deref().unwrap_or(subject);
        let body = self.email_message.as_deref().unwrap_or(body);
        Ok(Some(MessageTemplate {
            subject: placeholders(subject, "EmailSubject")?,
            body: placeholders(body, "EmailMessage")?,
        }))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AdminCreateUserConfigIn {
    #[serde(default)]
    allow_admin_create_user_only: Option<bool>,
    #[serde(default)]
    invite_message_template: Option<EmailTemplateIn>,
}

/// Create/UpdateUserPool. Members this server cannot honour are refused by
/// name (`other`); those it has no use for are read and dropped.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PoolIn {
    #[serde(default)]
    user_pool_id: Option<String>,
    #[serde(default)]
    pool_name: Option<String>,
    #[serde(default)]
    policies: Option<PoliciesIn>,
    #[serde(default)]
    username_attributes: Option<Vec<String>>,
    #[serde(default)]
    alias_attributes: Option<Vec<String>>,
    #[serde(default)]
    auto_verified_attributes: Option<Vec<String>>,
    #[serde(default)]
    username_configuration: Option<UsernameConfigurationIn>,
    #[serde(default)]
    schema: Option<Vec<SchemaAttributeIn>>,
    #[serde(default)]
    verification_message_template: Option<EmailTemplateIn>,
    #[serde(default)]
    email_verification_message: Option<String>,
    #[serde(default)]
    email_verification_subject: Option<String>,
    #[serde(default)]
    admin_create_user_config: Option<AdminCreateUserConfigIn>,
    #[serde(default)]
    mfa_configuration: Option<IgnoredOrMode>,
    #[serde(default)]
    lambda_config: Option<BTreeMap<String, IgnoredAny>>,
    #[serde(flatten)]
    other: BTreeMap<String, IgnoredAny>,
}

/// `MfaConfiguration` as sent (checked by `mode`).
#[derive(Deserialize)]
#[serde(untagged)]
enum IgnoredOrMode {
    Mode(MfaMode),
    Other(IgnoredAny),
}

/// Members the request may carry that this server has no use for.
const IGNORED_POOL_MEMBERS: &[&str] = &[
    "UserPoolTags",
    "DeletionProtection",
    "UserPoolTier",
    "AccountRecoverySetting",
    "UserAttributeUpdateSettings",
    "DeviceConfiguration",
    "EmailConfiguration",
    "SmsConfiguration",
    "SmsAuthenticationMessage",
    "SmsVerificationMessage",
    "UserPoolAddOns",
];

impl PoolIn {
    fn refuse_unsupported(&self) -> Result<(), Fault> {
        if let Some(k) = self
            .other
            .keys()
            .find(|k| !IGNORED_POOL_MEMBERS.contains(&k.as_str()))
        {
            return Err(bad(format!("{k} is not supported by this server")));
        }
        if let Some(IgnoredOrMode::Other(_)) = self.mfa_configuration {
            return Err(bad("MfaConfiguration must be OFF, ON or OPTIONAL"));
        }
        if self.lambda_config.as_ref().is_some_and(|l| !l.is_empty()) {
            return Err(bad("Lambda triggers are not supported by this server"));
        }
        Ok(())
    }

    /// The pool's settings: `base` with what the request names (`new`: a
    /// pool being created, whose auto-verified attributes Cognito leaves
    /// empty unless named).
    fn settings(self, mut base: PoolSettings, new: bool) -> Result<PoolSettings, Fault> {
        self.refuse_unsupported()?;
        let policies = self.policies.unwrap_or(PoliciesIn {
            password_policy: None,
            sign_in_policy: None,
        });
        if let Some(p) = policies.password_policy {
            password_policy(&mut base, p)?;
        }
        if let Some(v) = self.username_attributes {
            base.username_attributes = v;
        }
        if let Some(f) = policies
            .sign_in_policy
            .and_then(|p| p.allowed_first_auth_factors)
        {
            base.first_auth_factors = f;
        }
        if let Some(IgnoredOrMode::Mode(mode)) = self.mfa_configuration {
            // Factors stay as configured; a new pool gets TOTP.
            base.mfa.mode = mode;
        }
        if let Some(v) = self.alias_attributes {
            base.alias_attributes = v;
        }
        match self.auto_verified_attributes {
            Some(v) => base.auto_verified_attributes = v,
            // Cognito verifies nothing unless asked.
            None if new => base.auto_verified_attributes = vec![],
            None => {}
        }
        if let Some(c) = self.username_configuration.and_then(|u| u.case_sensitive) {
            base.username_case_sensitive = c;
        }
        if let Some(schema) = self.schema {
            let mut custom = vec![];
            let mut required = vec![];
            for a in schema {
                a.apply(&mut custom, &mut required)?;
            }
            if !new && custom.len() != base.custom_attributes.len() {
                return Err(bad(
                    "UpdateUserPool cannot change custom attributes; use AddCustomAttributes",
                ));
            }
            if new {
                base.custom_attributes = custom;
            }
            base.required_attributes = required;
        }
        let mut verification = self.verification_message_template.unwrap_or_default();
        verification.email_message = verification
            .email_message
            .or(self.email_verification_message);
        verification.email_subject = verification
            .email_subject
            .or(self.email_verification_subject);
        if let Some(t) =
            verification.template("Your verification code", "Your verification code is {####}")?
        {
            base.messages.verification = Some(t);
        }
        if let Some(a) = self.admin_create_user_config {
            if a.allow_admin_create_user_only == Some(true) {
                return Err(bad(
                    "AllowAdminCreateUserOnly is not supported by this server yet",
                ));
            }
            let invitation = a.invite_message_template.unwrap_or_default().template(
                "Your temporary password",
                "Your username is {username} and temporary password is {####}.",
            )?;
            if let Some(t) = invitation {
                base.messages.invitation = Some(t);
            }
        }
        Ok(base)
    }
}

fn password_policy(base: &mut PoolSettings, p: PasswordPolicyIn) -> Result<(), Fault> {
    if p.password_history_size.is_some_and(|n| n > 0) {
        return Err(bad("PasswordHistorySize is not supported by this server"));
    }
    let pp = &mut base.password_policy;
    if let Some(v) = p.minimum_length {
        pp.min_length = v;
    }
    for (named, setting) in [
        (p.require_uppercase, &mut pp.require_uppercase),
        (p.require_lowercase, &mut pp.require_lowercase),
        (p.require_numbers, &mut pp.require_numbers),
        (p.require_symbols, &mut pp.require_symbols),
    ] {
        if let Some(v) = named {
            *setting = v;
        }
    }
    if let Some(v) = p.temporary_password_validity_days {
        pp.temporary_password_validity_days = v;
    }
    Ok(())
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PasswordPolicyOut {
    minimum_length: u32,
    require_uppercase: bool,
    require_lowercase: bool,
    require_numbers: bool,
    require_symbols: bool,
    temporary_password_validity_days: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SignInPolicyOut {
    allowed_first_auth_factors: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PoliciesOut {
    password_policy: PasswordPolicyOut,
    sign_in_policy: SignInPolicyOut,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CaseSensitivity {
    case_sensitive: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AdminCreateUserConfigOut {
    allow_admin_create_user_only: bool,
}

/// `{}`: no Lambda triggers here.
#[derive(Serialize)]
struct LambdaConfig {}

/// Cognito's `UserPoolType`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UserPoolType {
    id: String,
    name: String,
    arn: String,
    policies: PoliciesOut,
    lambda_config: LambdaConfig,
    creation_date: i64,
    last_modified_date: i64,
    schema_attributes: Vec<SchemaAttributeType>,
    auto_verified_attributes: Vec<String>,
    username_attributes: Vec<String>,
    alias_attributes: Vec<String>,
    username_configuration: CaseSensitivity,
    mfa_configuration: MfaMode,
    estimated_number_of_users: i64,
    admin_create_user_config: AdminCreateUserConfigOut,
    deletion_protection: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PoolOut {
    user_pool: UserPoolType,
}

async fn pool_out(s: &AppState, p: &Pool) -> Result<PoolOut, Fault> {
    let users = s.pools.count_users(&p.id).await?;
    let st = &p.settings;
    let pp = &st.password_policy;
    let region = s.pools.region();
    let user_pool = UserPoolType {
        id: p.id.clone(),
        name: p.name.clone(),
        arn: format!(
            "arn:aws:cognito-idp:{region}:{}:userpool/{}",
            crate::model::ACCOUNT_ID,
            p.id
        ),
        policies: PoliciesOut {
            password_policy: PasswordPolicyOut {
                minimum_length: pp.min_length,
                require_uppercase: pp.require_uppercase,
                require_lowercase: pp.require_lowercase,
                require_numbers: pp.require_numbers,
                require_symbols: pp.require_symbols,
                temporary_password_validity_days: pp.temporary_password_validity_days,
            },
            sign_in_policy: SignInPolicyOut {
                allowed_first_auth_factors: st.first_auth_factors.clone(),
            },
        },
        lambda_config: LambdaConfig {},
        creation_date: p.created_at,
        last_modified_date: p.updated_at,
        schema_attributes: schema_attributes(p),
        auto_verified_attributes: st.auto_verified_attributes.clone(),
        username_attributes: st.username_attributes.clone(),
        alias_attributes: st.alias_attributes.clone(),
        username_configuration: CaseSensitivity {
            case_sensitive: st.username_case_sensitive,
        },
        mfa_configuration: st.mfa.mode,
        estimated_number_of_users: users,
        admin_create_user_config: AdminCreateUserConfigOut {
            allow_admin_create_user_only: false,
        },
        deletion_protection: "INACTIVE",
    };
    Ok(PoolOut { user_pool })
}

async fn create_pool(s: &AppState, admin: &AdminCtx, mut i: PoolIn) -> Result<PoolOut, Fault> {
    let name = i.pool_name.take();
    let settings = i.settings(PoolSettings::default(), true)?;
    let req = crate::user_pools::admin::CreatePool {
        name: required(name, "PoolName")?,
        settings,
    };
    let p = s.pools.create_pool(admin, req).await?;
    pool_out(s, &p).await
}

/// A request that only names its pool.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PoolIdIn {
    #[serde(default)]
    user_pool_id: Option<String>,
}

async fn describe_pool(s: &AppState, _admin: &AdminCtx, i: PoolIdIn) -> Result<PoolOut, Fault> {
    let p = s
        .pools
        .pool(&required(i.user_pool_id, "UserPoolId")?)
        .await?;
    pool_out(s, &p).await
}

async fn update_pool(s: &AppState, admin: &AdminCtx, mut i: PoolIn) -> Result<Empty, Fault> {
    let p = s
        .pools
        .pool(&required(i.user_pool_id.take(), "UserPoolId")?)
        .await?;
    let name = i.pool_name.take();
    let settings = i.settings(p.settings.clone(), false)?;
    s.pools.replace_pool(admin, &p.id, name, settings).await?;
    Ok(Empty {})
}

async fn delete_pool(s: &AppState, admin: &AdminCtx, i: PoolIdIn) -> Result<Empty, Fault> {
    s.pools
        .delete_pool(admin, &required(i.user_pool_id, "UserPoolId")?)
        .await?;
    Ok(Empty {})
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListIn {
    #[serde(default)]
    max_results: Option<i64>,
    #[serde(default)]
    next_token: Option<String>,
}

/// Cognito's `UserPoolDescriptionType`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PoolDescription {
    id: String,
    name: String,
    lambda_config: LambdaConfig,
    creation_date: i64,
    last_modified_date: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListOut {
    user_pools: Vec<PoolDescription>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

async fn list_pools(s: &AppState, _admin: &AdminCtx, i: ListIn) -> Result<ListOut, Fault> {
    let max = page_size(i.max_results, "MaxResults", 60, true)?;
    let list = s.pools.list_pools(i.next_token.as_deref(), max).await?;
    Ok(ListOut {
        next_token: next_token(&list, max, |p| p.id.clone()),
        user_pools: list
            .into_iter()
            .map(|p| PoolDescription {
                id: p.id,
                name: p.name,
                lambda_config: LambdaConfig {},
                creation_date: p.created_at,
                last_modified_date: p.updated_at,
            })
            .collect(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AddCustomAttributesIn {
    #[serde(default)]
    user_pool_id: Option<String>,
    #[serde(default)]
    custom_attributes: Option<Vec<SchemaAttributeIn>>,
}

async fn add_custom_attributes(
    s: &AppState,
    admin: &AdminCtx,
    i: AddCustomAttributesIn,
) -> Result<Empty, Fault> {
    let p = s
        .pools
        .pool(&required(i.user_pool_id, "UserPoolId")?)
        .await?;
    let list = required(i.custom_attributes, "CustomAttributes")?;
    let mut added = vec![];
    for mut a in list {
        let name = a.name.unwrap_or_default();
        a.name = Some(format!(
            "custom:{}",
            name.strip_prefix("custom:").unwrap_or(&name)
        ));
        a.apply(&mut added, &mut vec![])?;
    }
    let mut settings = p.settings.clone();
    for a in added {
        if settings.custom_attributes.iter().any(|x| x.name == a.name) {
            return Err(bad(format!("custom:{} already exists", a.name)));
        }
        settings.custom_attributes.push(a);
    }
    s.pools.replace_pool(admin, &p.id, None, settings).await?;
    Ok(Empty {})
}

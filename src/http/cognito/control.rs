//! The user-pool control plane on the Cognito protocol: pools, app clients,
//! groups, resource servers (all SigV4-signed with the admin credential).
//! Cognito's shapes are translated into the native settings documents and
//! handed to the same services as the admin API, so validation is shared.
//!
//! Update operations change what the request names and keep the rest
//! (Cognito resets what an update omits to its defaults; keeping it is the
//! safer reading for a server that holds real users).

use super::{Answer, Fault, input, unsupported};
use crate::app::AppState;
use crate::model::{
    AppClient, CustomAttributeType, Group, Pool, ResourceServer, ResourceServerScope, TokenValidity,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Control-plane operations implemented here (all need the admin credential).
pub(super) const CONTROL_OPERATIONS: &[&str] = &[
    "CreateUserPool",
    "DescribeUserPool",
    "UpdateUserPool",
    "DeleteUserPool",
    "ListUserPools",
    "AddCustomAttributes",
    "CreateUserPoolClient",
    "DescribeUserPoolClient",
    "UpdateUserPoolClient",
    "DeleteUserPoolClient",
    "ListUserPoolClients",
    "CreateGroup",
    "GetGroup",
    "UpdateGroup",
    "DeleteGroup",
    "ListGroups",
    "ListUsersInGroup",
    "CreateResourceServer",
    "DescribeResourceServer",
    "UpdateResourceServer",
    "DeleteResourceServer",
    "ListResourceServers",
    "CreateIdentityProvider",
    "DescribeIdentityProvider",
    "UpdateIdentityProvider",
    "DeleteIdentityProvider",
    "ListIdentityProviders",
    "AdminLinkProviderForUser",
    "AdminDisableProviderForUser",
    "GetUserPoolMfaConfig",
    "SetUserPoolMfaConfig",
    "GetSigningCertificate",
];

fn mfa_mode(m: crate::model::MfaMode) -> &'static str {
    use crate::model::MfaMode::*;
    match m {
        Off => "OFF",
        Optional => "OPTIONAL",
        On => "ON",
    }
}

/// GetUserPoolMfaConfig's answer.
fn mfa_config(p: &Pool) -> Value {
    let mfa = &p.settings.mfa;
    let mut out = json!({
        "MfaConfiguration": mfa_mode(mfa.mode),
        "SoftwareTokenMfaConfiguration": {"Enabled": mfa.allows("SOFTWARE_TOKEN")},
    });
    if mfa.allows("EMAIL_OTP") {
        out["EmailMfaConfiguration"] = json!({});
    }
    if mfa.allows("SMS_OTP") {
        out["SmsMfaConfiguration"] = json!({});
    }
    // Passkeys: user verification is always required here.
    let mut web = json!({"UserVerification": "required",
        "FactorConfiguration": "MULTI_FACTOR_WITH_USER_VERIFICATION"});
    if let Some(id) = &p.settings.webauthn.relying_party_id {
        web["RelyingPartyId"] = json!(id);
    }
    out["WebAuthnConfiguration"] = web;
    out
}

fn bad(message: impl Into<String>) -> Fault {
    Fault::new("InvalidParameterException", message)
}

fn required<'a>(m: &'a Map<String, Value>, key: &str) -> Result<&'a str, Fault> {
    m.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("{key} is required")))
}

/// `MaxResults`/`Limit` within 1..=max (Cognito's bounds), default `max`.
fn page_size(m: &Map<String, Value>, key: &str, max: i64, required: bool) -> Result<i64, Fault> {
    match m.get(key) {
        None if !required => Ok(max),
        Some(v) => match v.as_i64() {
            Some(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(bad(format!("{key} must be 1-{max}"))),
        },
        None => Err(bad(format!("{key} is required"))),
    }
}

fn next_token(m: &Map<String, Value>, key: &str) -> Option<String> {
    m.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Members the request may carry that this server has no use for
/// (harmless to drop). Anything not mapped and not here is refused.
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

/// Cognito's `{####}` and `{username}` placeholders as template variables;
/// any other template syntax in the text is refused.
fn placeholders(text: &str, what: &str) -> Result<String, Fault> {
    let bare = text.replace("{####}", "").replace("{username}", "");
    if bare.contains("{{") || bare.contains("{%") || bare.contains("{#") {
        return Err(bad(format!("{what} may not contain template syntax")));
    }
    Ok(text
        .replace("{####}", "{{ code }}")
        .replace("{username}", "{{ username }}"))
}

fn schema_attribute(
    a: &Value,
    custom: &mut Vec<Value>,
    required: &mut Vec<String>,
) -> Result<(), Fault> {
    let name = a
        .get("Name")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("Schema attributes need a Name"))?;
    let flag = |k: &str| a.get(k).and_then(Value::as_bool);
    let standard = name != "sub"
        && !name.starts_with("custom:")
        && (crate::model::STANDARD_ATTRIBUTES.contains(&name)
            || crate::model::attributes::SERVER_OWNED.contains(&name));
    if name == "sub" || crate::model::attributes::SERVER_OWNED.contains(&name) {
        return Ok(());
    }
    if standard {
        if flag("Mutable") == Some(false) {
            return Err(bad(format!(
                "Standard attribute {name} cannot be made immutable here"
            )));
        }
        if flag("Required") == Some(true) {
            required.push(name.to_owned());
        }
        return Ok(());
    }
    let bare = name.strip_prefix("custom:").unwrap_or(name);
    let kind = match a
        .get("AttributeDataType")
        .and_then(Value::as_str)
        .unwrap_or("String")
    {
        "String" => "String",
        "Number" => "Number",
        "Boolean" => "Boolean",
        "DateTime" => "DateTime",
        other => return Err(bad(format!("Unknown AttributeDataType {other}"))),
    };
    let num = |section: &str, k: &str| -> Result<Option<i64>, Fault> {
        match a.get(section).and_then(|c| c.get(k)) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => s
                .parse()
                .map(Some)
                .map_err(|_| bad(format!("{section}.{k} must be a number"))),
            Some(Value::Number(n)) => Ok(n.as_i64()),
            Some(_) => Err(bad(format!("{section}.{k} must be a number"))),
        }
    };
    let mut c = json!({
        "name": bare,
        "attribute_type": kind,
        "mutable": flag("Mutable").unwrap_or(true),
        "required": flag("Required").unwrap_or(false),
    });
    if let Some(v) = num("StringAttributeConstraints", "MinLength")? {
        c["min_length"] = v.into();
    }
    if let Some(v) = num("StringAttributeConstraints", "MaxLength")? {
        c["max_length"] = v.into();
    }
    if let Some(v) = num("NumberAttributeConstraints", "MinValue")? {
        c["min_value"] = v.into();
    }
    if let Some(v) = num("NumberAttributeConstraints", "MaxValue")? {
        c["max_value"] = v.into();
    }
    custom.push(c);
    Ok(())
}

/// The native settings members a Cognito Create/UpdateUserPool names.
fn pool_settings(m: &Map<String, Value>, old: Option<&Pool>) -> Result<Map<String, Value>, Fault> {
    let mut out = Map::new();
    let strings = |k: &str| -> Result<Option<Vec<String>>, Fault> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|_| bad(format!("{k} must be a list of strings"))),
        }
    };
    for (key, value) in m {
        match key.as_str() {
            "UserPoolId"
            | "PoolName"
            | "Policies"
            | "UsernameAttributes"
            | "AliasAttributes"
            | "AutoVerifiedAttributes"
            | "UsernameConfiguration"
            | "Schema"
            | "VerificationMessageTemplate"
            | "EmailVerificationMessage"
            | "EmailVerificationSubject"
            | "AdminCreateUserConfig" => {}
            "MfaConfiguration" => {
                if !matches!(value.as_str(), Some("OFF" | "ON" | "OPTIONAL")) {
                    return Err(bad("MfaConfiguration must be OFF, ON or OPTIONAL"));
                }
            }
            "LambdaConfig" => {
                if value.as_object().is_some_and(|o| !o.is_empty()) {
                    return Err(bad("Lambda triggers are not supported by this server"));
                }
            }
            k if IGNORED_POOL_MEMBERS.contains(&k) => {}
            k => return Err(bad(format!("{k} is not supported by this server"))),
        }
    }
    if let Some(p) = m.get("Policies").and_then(|p| p.get("PasswordPolicy")) {
        let mut policy = Map::new();
        for (cognito, native) in [
            ("MinimumLength", "min_length"),
            ("RequireUppercase", "require_uppercase"),
            ("RequireLowercase", "require_lowercase"),
            ("RequireNumbers", "require_numbers"),
            ("RequireSymbols", "require_symbols"),
            (
                "TemporaryPasswordValidityDays",
                "temporary_password_validity_days",
            ),
        ] {
            if let Some(v) = p.get(cognito) {
                policy.insert(native.into(), v.clone());
            }
        }
        if p.get("PasswordHistorySize")
            .and_then(Value::as_i64)
            .is_some_and(|n| n > 0)
        {
            return Err(bad("PasswordHistorySize is not supported by this server"));
        }
        out.insert("password_policy".into(), Value::Object(policy));
    }
    if let Some(v) = strings("UsernameAttributes")? {
        out.insert("username_attributes".into(), json!(v));
    }
    if let Some(f) = m
        .get("Policies")
        .and_then(|p| p.get("SignInPolicy"))
        .and_then(|p| p.get("AllowedFirstAuthFactors"))
    {
        f.as_array()
            .ok_or_else(|| bad("AllowedFirstAuthFactors must be a list"))?;
        out.insert("first_auth_factors".into(), f.clone());
    }
    if let Some(mode) = m.get("MfaConfiguration").and_then(Value::as_str) {
        // Factors stay as configured; a new pool gets TOTP.
        out.insert("mfa".into(), json!({"mode": mode}));
    }
    if let Some(v) = strings("AliasAttributes")? {
        out.insert("alias_attributes".into(), json!(v));
    }
    match strings("AutoVerifiedAttributes")? {
        Some(v) => {
            out.insert("auto_verified_attributes".into(), json!(v));
        }
        // Cognito verifies nothing unless asked.
        None if old.is_none() => {
            out.insert("auto_verified_attributes".into(), json!([]));
        }
        None => {}
    }
    if let Some(c) = m
        .get("UsernameConfiguration")
        .and_then(|u| u.get("CaseSensitive"))
    {
        out.insert("username_case_sensitive".into(), c.clone());
    }
    if let Some(schema) = m.get("Schema") {
        let list = schema
            .as_array()
            .ok_or_else(|| bad("Schema must be a list"))?;
        let mut custom = vec![];
        let mut required = vec![];
        for a in list {
            schema_attribute(a, &mut custom, &mut required)?;
        }
        out.insert("custom_attributes".into(), json!(custom));
        out.insert("required_attributes".into(), json!(required));
    }
    let mut messages = Map::new();
    let template = m.get("VerificationMessageTemplate");
    let body = template
        .and_then(|t| t.get("EmailMessage"))
        .or_else(|| m.get("EmailVerificationMessage"))
        .and_then(Value::as_str);
    let subject = template
        .and_then(|t| t.get("EmailSubject"))
        .or_else(|| m.get("EmailVerificationSubject"))
        .and_then(Value::as_str);
    if body.is_some() || subject.is_some() {
        messages.insert(
            "verification".into(),
            json!({
                "subject": placeholders(subject.unwrap_or("Your verification code"), "EmailSubject")?,
                "body": placeholders(body.unwrap_or("Your verification code is {####}"), "EmailMessage")?,
            }),
        );
    }
    if let Some(a) = m.get("AdminCreateUserConfig") {
        if a.get("AllowAdminCreateUserOnly").and_then(Value::as_bool) == Some(true) {
            return Err(bad(
                "AllowAdminCreateUserOnly is not supported by this server yet",
            ));
        }
        if let Some(t) = a.get("InviteMessageTemplate") {
            let body = t.get("EmailMessage").and_then(Value::as_str);
            let subject = t.get("EmailSubject").and_then(Value::as_str);
            if body.is_some() || subject.is_some() {
                messages.insert(
                    "invitation".into(),
                    json!({
                        "subject": placeholders(subject.unwrap_or("Your temporary password"), "EmailSubject")?,
                        "body": placeholders(body.unwrap_or("Your username is {username} and temporary password is {####}."), "EmailMessage")?,
                    }),
                );
            }
        }
    }
    if !messages.is_empty() {
        out.insert("messages".into(), Value::Object(messages));
    }
    Ok(out)
}

fn schema_attributes(p: &Pool) -> Value {
    let mut out = vec![json!({
        "Name": "sub", "AttributeDataType": "String", "DeveloperOnlyAttribute": false,
        "Mutable": false, "Required": true,
        "StringAttributeConstraints": {"MinLength": "1", "MaxLength": "2048"},
    })];
    for name in crate::model::STANDARD_ATTRIBUTES {
        let kind = if *name == "updated_at" {
            "Number"
        } else {
            "String"
        };
        out.push(json!({
            "Name": name, "AttributeDataType": kind, "DeveloperOnlyAttribute": false,
            "Mutable": true, "Required": p.settings.required_attributes.iter().any(|r| r == name),
        }));
    }
    for name in ["email_verified", "phone_number_verified"] {
        out.push(json!({
            "Name": name, "AttributeDataType": "Boolean", "DeveloperOnlyAttribute": false,
            "Mutable": true, "Required": false,
        }));
    }
    for c in &p.settings.custom_attributes {
        let kind = match c.attribute_type {
            CustomAttributeType::String => "String",
            CustomAttributeType::Number => "Number",
            CustomAttributeType::Boolean => "Boolean",
            CustomAttributeType::DateTime => "DateTime",
        };
        let mut a = json!({
            "Name": format!("custom:{}", c.name), "AttributeDataType": kind,
            "DeveloperOnlyAttribute": false, "Mutable": c.mutable, "Required": c.required,
        });
        if c.min_length.is_some() || c.max_length.is_some() {
            a["StringAttributeConstraints"] = json!({
                "MinLength": c.min_length.map(|v| v.to_string()),
                "MaxLength": c.max_length.map(|v| v.to_string()),
            });
        }
        if c.min_value.is_some() || c.max_value.is_some() {
            a["NumberAttributeConstraints"] = json!({
                "MinValue": c.min_value.map(|v| v.to_string()),
                "MaxValue": c.max_value.map(|v| v.to_string()),
            });
        }
        out.push(a);
    }
    Value::Array(out)
}

async fn user_pool_type(s: &AppState, p: &Pool) -> Result<Value, Fault> {
    let st = &p.settings;
    let users = s.pools.count_users(&p.id).await?;
    let pp = &st.password_policy;
    Ok(json!({
        "Id": p.id,
        "Name": p.name,
        "Arn": format!("arn:aws:cognito-idp:{}:{}:userpool/{}", s.pools.region(),
            crate::model::ACCOUNT_ID, p.id),
        "Policies": {"PasswordPolicy": {
            "MinimumLength": pp.min_length,
            "RequireUppercase": pp.require_uppercase,
            "RequireLowercase": pp.require_lowercase,
            "RequireNumbers": pp.require_numbers,
            "RequireSymbols": pp.require_symbols,
            "TemporaryPasswordValidityDays": pp.temporary_password_validity_days,
        }, "SignInPolicy": {"AllowedFirstAuthFactors": st.first_auth_factors}},
        "LambdaConfig": {},
        "CreationDate": p.created_at,
        "LastModifiedDate": p.updated_at,
        "SchemaAttributes": schema_attributes(p),
        "AutoVerifiedAttributes": st.auto_verified_attributes,
        "UsernameAttributes": st.username_attributes,
        "AliasAttributes": st.alias_attributes,
        "UsernameConfiguration": {"CaseSensitive": st.username_case_sensitive},
        "MfaConfiguration": mfa_mode(st.mfa.mode),
        "EstimatedNumberOfUsers": users,
        "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": false},
        "DeletionProtection": "INACTIVE",
    }))
}

/// A lifetime in the largest Cognito unit that holds it exactly.
fn validity(secs: i64) -> (i64, &'static str) {
    for (unit, n) in [("days", 86400), ("hours", 3600), ("minutes", 60)] {
        if secs % n == 0 {
            return (secs / n, unit);
        }
    }
    (secs, "seconds")
}

fn client_type(s: &AppState, p: &Pool, c: &AppClient) -> Result<Value, Fault> {
    let view = s.pools.client_view(c)?;
    let t = c
        .settings
        .token_validity
        .unwrap_or(p.settings.token_validity);
    let (refresh, refresh_unit) = validity(t.refresh_token_secs);
    let (access, access_unit) = validity(t.access_token_secs);
    let (id, id_unit) = validity(t.id_token_secs);
    let mut v = json!({
        "UserPoolId": c.pool_id,
        "ClientName": c.name,
        "ClientId": c.id,
        "CreationDate": c.created_at,
        "LastModifiedDate": c.updated_at,
        "RefreshTokenValidity": refresh,
        "AccessTokenValidity": access,
        "IdTokenValidity": id,
        "TokenValidityUnits": {"RefreshToken": refresh_unit, "AccessToken": access_unit, "IdToken": id_unit},
        "ReadAttributes": c.settings.read_attributes,
        "WriteAttributes": c.settings.write_attributes,
        "ExplicitAuthFlows": c.settings.explicit_auth_flows,
        "SupportedIdentityProviders": c.settings.supported_identity_providers,
        "AllowedOAuthFlowsUserPoolClient": !c.settings.allowed_oauth_flows.is_empty(),
        "AllowedOAuthFlows": c.settings.allowed_oauth_flows,
        "AllowedOAuthScopes": c.settings.allowed_oauth_scopes,
        "CallbackURLs": c.settings.callback_urls,
        "LogoutURLs": c.settings.logout_urls,
        "EnableTokenRevocation": c.settings.enable_token_revocation,
        "EnablePropagateAdditionalUserContextData": false,
        "AuthSessionValidity": 3,
        "PreventUserExistenceErrors":
            if p.settings.prevent_user_existence_errors { "ENABLED" } else { "LEGACY" },
        "RefreshTokenRotation": {
            "Feature": if c.settings.refresh_token_rotation { "ENABLED" } else { "DISABLED" },
            "RetryGracePeriodSeconds": 0,
        },
    });
    if let Some(secret) = view.client_secret {
        v["ClientSecret"] = secret.into();
    }
    Ok(v)
}

/// Cognito's legacy flow names mean the ALLOW_ forms.
fn auth_flow(f: &str) -> String {
    match f {
        "ADMIN_NO_SRP_AUTH" => "ALLOW_ADMIN_USER_PASSWORD_AUTH".into(),
        "USER_PASSWORD_AUTH" => "ALLOW_USER_PASSWORD_AUTH".into(),
        "CUSTOM_AUTH_FLOW_ONLY" => "ALLOW_CUSTOM_AUTH".into(),
        other => other.into(),
    }
}

/// The native client settings a Cognito Create/UpdateUserPoolClient names.
fn client_settings(
    m: &Map<String, Value>,
    pool: &Pool,
    old: Option<&AppClient>,
) -> Result<Map<String, Value>, Fault> {
    let mut out = Map::new();
    for (key, value) in m {
        let empty =
            value.is_null() || value == &json!([]) || value == &json!(false) || value == &json!({});
        match key.as_str() {
            "UserPoolId"
            | "ClientId"
            | "ClientName"
            | "GenerateSecret"
            | "RefreshTokenValidity"
            | "AccessTokenValidity"
            | "IdTokenValidity"
            | "TokenValidityUnits"
            | "ReadAttributes"
            | "WriteAttributes"
            | "ExplicitAuthFlows"
            | "EnableTokenRevocation"
            | "RefreshTokenRotation"
            | "AuthSessionValidity" => {}
            "PreventUserExistenceErrors" => {
                let pool_value = if pool.settings.prevent_user_existence_errors {
                    "ENABLED"
                } else {
                    "LEGACY"
                };
                if value != pool_value {
                    return Err(bad(format!(
                        "PreventUserExistenceErrors is a pool setting here ({pool_value}); change it on the pool"
                    )));
                }
            }
            "SupportedIdentityProviders" => {}
            "EnablePropagateAdditionalUserContextData" | "AnalyticsConfiguration" if empty => {}
            "AllowedOAuthFlows" | "AllowedOAuthScopes" | "AllowedOAuthFlowsUserPoolClient" => {}
            "CallbackURLs" | "LogoutURLs" => {}
            "DefaultRedirectURI" => {
                let listed = m
                    .get("CallbackURLs")
                    .and_then(Value::as_array)
                    .is_some_and(|l| l.contains(value));
                if !(empty || listed) {
                    return Err(bad("DefaultRedirectURI must be one of the CallbackURLs"));
                }
            }
            k => return Err(bad(format!("{k} is not supported by this server"))),
        }
    }
    let strings = |k: &str| -> Result<Option<Vec<String>>, Fault> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|_| bad(format!("{k} must be a list of strings"))),
        }
    };
    match strings("ExplicitAuthFlows")? {
        Some(flows) => {
            let flows: Vec<String> = flows.iter().map(|f| auth_flow(f)).collect();
            out.insert("explicit_auth_flows".into(), json!(flows));
        }
        // Cognito's default for a new client.
        None if old.is_none() => {
            out.insert(
                "explicit_auth_flows".into(),
                json!([
                    "ALLOW_REFRESH_TOKEN_AUTH",
                    "ALLOW_USER_SRP_AUTH",
                    "ALLOW_CUSTOM_AUTH"
                ]),
            );
        }
        None => {}
    }
    if let Some(v) = strings("CallbackURLs")? {
        out.insert("callback_urls".into(), json!(v));
    }
    if let Some(v) = strings("LogoutURLs")? {
        out.insert("logout_urls".into(), json!(v));
    }
    if let Some(v) = strings("SupportedIdentityProviders")? {
        out.insert("supported_identity_providers".into(), json!(v));
    }
    if let Some(v) = strings("AllowedOAuthFlows")? {
        out.insert("allowed_oauth_flows".into(), json!(v));
    }
    if let Some(v) = strings("AllowedOAuthScopes")? {
        out.insert("allowed_oauth_scopes".into(), json!(v));
    }
    if let Some(v) = strings("ReadAttributes")? {
        out.insert("read_attributes".into(), json!(v));
    }
    if let Some(v) = strings("WriteAttributes")? {
        out.insert("write_attributes".into(), json!(v));
    }
    if let Some(v) = m.get("EnableTokenRevocation").and_then(Value::as_bool) {
        out.insert("enable_token_revocation".into(), v.into());
    }
    if let Some(r) = m.get("RefreshTokenRotation") {
        let on = match r.get("Feature").and_then(Value::as_str) {
            Some("ENABLED") => true,
            Some("DISABLED") | None => false,
            Some(other) => return Err(bad(format!("Unknown RefreshTokenRotation {other}"))),
        };
        out.insert("refresh_token_rotation".into(), on.into());
    } else if old.is_none() {
        // Cognito's default for a new client (the native API's is on).
        out.insert("refresh_token_rotation".into(), false.into());
    }
    if [
        "RefreshTokenValidity",
        "AccessTokenValidity",
        "IdTokenValidity",
    ]
    .iter()
    .any(|k| m.contains_key(*k))
    {
        let base: TokenValidity = old
            .and_then(|c| c.settings.token_validity)
            .unwrap_or(pool.settings.token_validity);
        let units = m.get("TokenValidityUnits");
        let secs = |k: &str, unit_key: &str, default_unit: &str, base: i64| -> Result<i64, Fault> {
            let Some(v) = m.get(k) else { return Ok(base) };
            let n = v
                .as_i64()
                .ok_or_else(|| bad(format!("{k} must be a number")))?;
            let unit = units
                .and_then(|u| u.get(unit_key))
                .and_then(Value::as_str)
                .unwrap_or(default_unit);
            let mult = match unit {
                "seconds" => 1,
                "minutes" => 60,
                "hours" => 3600,
                "days" => 86400,
                other => return Err(bad(format!("Unknown token validity unit {other}"))),
            };
            n.checked_mul(mult)
                .ok_or_else(|| bad(format!("{k} is too large")))
        };
        out.insert(
            "token_validity".into(),
            json!({
                "refresh_token_secs": secs("RefreshTokenValidity", "RefreshToken", "days", base.refresh_token_secs)?,
                "access_token_secs": secs("AccessTokenValidity", "AccessToken", "hours", base.access_token_secs)?,
                "id_token_secs": secs("IdTokenValidity", "IdToken", "hours", base.id_token_secs)?,
            }),
        );
    }
    Ok(out)
}

fn group_type(g: &Group) -> Value {
    json!({
        "GroupName": g.name, "UserPoolId": g.pool_id, "Description": g.description,
        "RoleArn": g.role_arn, "Precedence": g.precedence,
        "CreationDate": g.created_at, "LastModifiedDate": g.updated_at,
    })
}

/// Cognito's `ProviderDetails` and `AttributeMapping` as a native provider
/// request (`old`: the provider being updated, whose members stay unless
/// named).
fn identity_provider_input(
    m: &Map<String, Value>,
    old: Option<&crate::model::IdentityProvider>,
) -> Result<crate::user_pools::federation::PutIdentityProvider, Fault> {
    use crate::model::ProviderType;
    let provider_type = match m.get("ProviderType").and_then(Value::as_str) {
        None => None,
        Some(t) => Some(ProviderType::parse(t).ok_or_else(|| {
            bad(format!(
                "ProviderType {t} is not supported here (OIDC, Google, Facebook, SignInWithApple)"
            ))
        })?),
    };
    let mut settings = old.map(|p| p.settings.clone()).unwrap_or_default();
    let mut client_secret = None;
    if let Some(details) = m.get("ProviderDetails") {
        let details = details
            .as_object()
            .ok_or_else(|| bad("ProviderDetails must be a map"))?;
        for (k, v) in details {
            let Some(v) = v.as_str() else {
                return Err(bad(format!("ProviderDetails.{k} must be a string")));
            };
            match k.as_str() {
                "client_id" => settings.client_id = v.to_owned(),
                "client_secret" | "private_key" => client_secret = Some(v.to_owned()),
                "oidc_issuer" => settings.issuer = Some(v.to_owned()),
                "authorize_url" => settings.authorize_url = Some(v.to_owned()),
                "token_url" => settings.token_url = Some(v.to_owned()),
                "attributes_url" => settings.userinfo_url = Some(v.to_owned()),
                "jwks_uri" => settings.jwks_uri = Some(v.to_owned()),
                "team_id" => settings.apple_team_id = Some(v.to_owned()),
                "key_id" => settings.apple_key_id = Some(v.to_owned()),
                "authorize_scopes" => {
                    settings.scopes = v
                        .split([' ', ','])
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect();
                }
                // Read-only or fixed here: GET is the userinfo method used.
                "attributes_request_method" | "attributes_url_add_attributes" | "api_version" => {}
                other => return Err(bad(format!("ProviderDetails.{other} is not supported"))),
            }
        }
    }
    if let Some(map) = m.get("AttributeMapping") {
        let map = map
            .as_object()
            .ok_or_else(|| bad("AttributeMapping must be a map"))?;
        settings.attribute_mapping = map
            .iter()
            // The username is always <Provider>_<subject> here.
            .filter(|(k, _)| k.as_str() != "username")
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect();
    }
    if m.get("IdpIdentifiers")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        return Err(bad("IdpIdentifiers are not supported by this server"));
    }
    Ok(crate::user_pools::federation::PutIdentityProvider {
        name: m
            .get("ProviderName")
            .and_then(Value::as_str)
            .map(str::to_owned),
        provider_type,
        client_secret,
        settings,
    })
}

fn identity_provider_type(p: &crate::model::IdentityProvider) -> Value {
    let s = &p.settings;
    let mut details = Map::new();
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            details.insert(k.into(), json!(v));
        }
    };
    put("client_id", &Some(s.client_id.clone()));
    put("oidc_issuer", &s.issuer);
    put("authorize_url", &s.authorize_url);
    put("token_url", &s.token_url);
    put("attributes_url", &s.userinfo_url);
    put("jwks_uri", &s.jwks_uri);
    put("team_id", &s.apple_team_id);
    put("key_id", &s.apple_key_id);
    if !s.scopes.is_empty() {
        details.insert("authorize_scopes".into(), json!(s.scopes.join(" ")));
    }
    let mut mapping = Map::new();
    mapping.insert("username".into(), json!("sub"));
    for (k, v) in &s.attribute_mapping {
        mapping.insert(k.clone(), json!(v));
    }
    json!({
        "UserPoolId": p.pool_id, "ProviderName": p.name, "ProviderType": p.provider_type.as_str(),
        "ProviderDetails": details, "AttributeMapping": mapping, "IdpIdentifiers": [],
        "CreationDate": p.created_at, "LastModifiedDate": p.updated_at,
    })
}

/// `{ProviderName, ProviderAttributeValue}` of a ProviderUserIdentifierType.
fn provider_user(m: &Map<String, Value>, key: &str) -> Result<(String, String), Fault> {
    let u = m
        .get(key)
        .and_then(Value::as_object)
        .ok_or_else(|| bad(format!("{key} is required")))?;
    let get = |k: &str| {
        u.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| bad(format!("{key}.{k} is required")))
    };
    Ok((get("ProviderName")?, get("ProviderAttributeValue")?))
}

fn resource_server_type(r: &ResourceServer) -> Value {
    json!({
        "UserPoolId": r.pool_id, "Identifier": r.identifier, "Name": r.name,
        "Scopes": r.scopes.iter().map(|s| json!({
            "ScopeName": s.name, "ScopeDescription": s.description})).collect::<Vec<_>>(),
    })
}

fn resource_server_input(
    m: &Map<String, Value>,
) -> Result<crate::user_pools::resource_servers::PutResourceServer, Fault> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase", deny_unknown_fields)]
    struct Scope {
        scope_name: String,
        scope_description: String,
    }
    let scopes: Vec<Scope> = match m.get("Scopes") {
        None | Some(Value::Null) => vec![],
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| bad(format!("Scopes: {e}")))?,
    };
    Ok(crate::user_pools::resource_servers::PutResourceServer {
        identifier: Some(required(m, "Identifier")?.to_owned()),
        name: required(m, "Name")?.to_owned(),
        scopes: scopes
            .into_iter()
            .map(|s| ResourceServerScope {
                name: s.scope_name,
                description: s.scope_description,
            })
            .collect(),
    })
}

/// The control-plane operations (already authenticated by SigV4).
pub(super) async fn control_op(
    s: &AppState,
    admin: &crate::audit::AdminCtx,
    op: &str,
    m: Map<String, Value>,
) -> Answer {
    let pools = &s.pools;
    let pool_id = || required(&m, "UserPoolId");
    match op {
        "CreateUserPool" => {
            let mut native = pool_settings(&m, None)?;
            native.insert("name".into(), required(&m, "PoolName")?.into());
            let req = crate::user_pools::admin::CreatePool::try_from(native).map_err(bad)?;
            let p = pools.create_pool(admin, req).await?;
            Ok(json!({"UserPool": user_pool_type(s, &p).await?}))
        }
        "DescribeUserPool" => {
            let p = pools.pool(pool_id()?).await?;
            Ok(json!({"UserPool": user_pool_type(s, &p).await?}))
        }
        "UpdateUserPool" => {
            let p = pools.pool(pool_id()?).await?;
            let mut patch = pool_settings(&m, Some(&p))?;
            if let Some(name) = m.get("PoolName") {
                patch.insert("name".into(), name.clone());
            }
            if let Some(Value::Array(custom)) = patch.get("custom_attributes")
                && custom.len() != p.settings.custom_attributes.len()
            {
                return Err(bad(
                    "UpdateUserPool cannot change custom attributes; use AddCustomAttributes",
                ));
            }
            patch.remove("custom_attributes");
            pools
                .update_pool(admin, &p.id, &Value::Object(patch))
                .await?;
            Ok(json!({}))
        }
        "DeleteUserPool" => {
            pools.delete_pool(admin, pool_id()?).await?;
            Ok(json!({}))
        }
        "ListUserPools" => {
            let max = page_size(&m, "MaxResults", 60, true)?;
            let list = pools
                .list_pools(next_token(&m, "NextToken").as_deref(), max)
                .await?;
            let shape = |p: &Pool| {
                json!({"Id": p.id, "Name": p.name, "LambdaConfig": {},
                    "CreationDate": p.created_at, "LastModifiedDate": p.updated_at})
            };
            Ok(super::page(
                "UserPools",
                &list,
                max,
                shape,
                "NextToken",
                |p| p.id.clone(),
            ))
        }
        "AddCustomAttributes" => {
            let p = pools.pool(pool_id()?).await?;
            let list = m
                .get("CustomAttributes")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("CustomAttributes is required"))?;
            let mut added = vec![];
            let mut required_std = vec![];
            for a in list {
                let name = a.get("Name").and_then(Value::as_str).unwrap_or("");
                let mut a = a.clone();
                a["Name"] =
                    format!("custom:{}", name.strip_prefix("custom:").unwrap_or(name)).into();
                schema_attribute(&a, &mut added, &mut required_std)?;
            }
            let mut all = serde_json::to_value(&p.settings.custom_attributes)
                .map_err(crate::error::Error::internal)?;
            let arr = all.as_array_mut().expect("a list");
            for a in added {
                if arr.iter().any(|x| x.get("name") == a.get("name")) {
                    return Err(bad(format!(
                        "custom:{} already exists",
                        a["name"].as_str().unwrap_or("")
                    )));
                }
                arr.push(a);
            }
            pools
                .update_pool(admin, &p.id, &json!({"custom_attributes": all}))
                .await?;
            Ok(json!({}))
        }
        "CreateUserPoolClient" => {
            let p = pools.pool(pool_id()?).await?;
            let mut native = client_settings(&m, &p, None)?;
            native.insert("name".into(), required(&m, "ClientName")?.into());
            native.insert(
                "generate_secret".into(),
                m.get("GenerateSecret").cloned().unwrap_or(false.into()),
            );
            let req = crate::user_pools::admin::CreateClient::try_from(native).map_err(bad)?;
            let c = pools.create_client(admin, &p.id, req).await?;
            Ok(json!({"UserPoolClient": client_type(s, &p, &c)?}))
        }
        "DescribeUserPoolClient" => {
            let p = pools.pool(pool_id()?).await?;
            let c = pools.get_client(&p.id, required(&m, "ClientId")?).await?;
            Ok(json!({"UserPoolClient": client_type(s, &p, &c)?}))
        }
        "UpdateUserPoolClient" => {
            let p = pools.pool(pool_id()?).await?;
            let old = pools.get_client(&p.id, required(&m, "ClientId")?).await?;
            let mut patch = client_settings(&m, &p, Some(&old))?;
            if let Some(name) = m.get("ClientName") {
                patch.insert("name".into(), name.clone());
            }
            let c = pools
                .update_client(admin, &p.id, &old.id, &Value::Object(patch))
                .await?;
            Ok(json!({"UserPoolClient": client_type(s, &p, &c)?}))
        }
        "DeleteUserPoolClient" => {
            pools
                .delete_client(admin, pool_id()?, required(&m, "ClientId")?)
                .await?;
            Ok(json!({}))
        }
        "ListUserPoolClients" => {
            let p = pools.pool(pool_id()?).await?;
            let max = page_size(&m, "MaxResults", 60, false)?;
            let after = next_token(&m, "NextToken").unwrap_or_default();
            let mut clients = pools.clients.list_clients(&p.id).await?;
            clients.sort_by(|a, b| a.id.cmp(&b.id));
            let page: Vec<&AppClient> = clients
                .iter()
                .filter(|c| c.id > after)
                .take(max as usize)
                .collect();
            let mut out = json!({"UserPoolClients": page.iter().map(|c| json!({
                "ClientId": c.id, "UserPoolId": c.pool_id, "ClientName": c.name,
            })).collect::<Vec<_>>()});
            if page.len() as i64 == max
                && let Some(last) = page.last()
                && clients.last().is_some_and(|c| c.id != last.id)
            {
                out["NextToken"] = last.id.clone().into();
            }
            Ok(out)
        }
        "CreateGroup" => {
            #[derive(Deserialize)]
            #[serde(rename_all = "PascalCase", deny_unknown_fields)]
            struct In {
                user_pool_id: String,
                group_name: String,
                #[serde(default)]
                description: Option<String>,
                #[serde(default)]
                role_arn: Option<String>,
                #[serde(default)]
                precedence: Option<i64>,
            }
            let i: In = input(m)?;
            let g = pools
                .create_group(
                    admin,
                    &i.user_pool_id,
                    crate::user_pools::groups::CreateGroup {
                        name: i.group_name,
                        description: i.description,
                        precedence: i.precedence,
                        role_arn: i.role_arn,
                    },
                )
                .await
                .map_err(|e| match e.kind {
                    crate::error::ErrorKind::Conflict => Fault::new(
                        "GroupExistsException",
                        "A group with the name already exists.",
                    ),
                    _ => e.into(),
                })?;
            Ok(json!({"Group": group_type(&g)}))
        }
        "GetGroup" => {
            let g = pools
                .get_group(pool_id()?, required(&m, "GroupName")?)
                .await?;
            Ok(json!({"Group": group_type(&g)}))
        }
        "UpdateGroup" => {
            fn pick<T: serde::de::DeserializeOwned>(
                m: &Map<String, Value>,
                k: &str,
            ) -> Option<Result<T, serde_json::Error>> {
                m.get(k).map(|v| serde_json::from_value(v.clone()))
            }
            let req = crate::user_pools::groups::UpdateGroup {
                description: pick(&m, "Description")
                    .transpose()
                    .map_err(|_| bad("Description must be a string"))?,
                precedence: pick(&m, "Precedence")
                    .transpose()
                    .map_err(|_| bad("Precedence must be a number"))?,
                role_arn: pick(&m, "RoleArn")
                    .transpose()
                    .map_err(|_| bad("RoleArn must be a string"))?,
            };
            for k in m.keys() {
                if ![
                    "UserPoolId",
                    "GroupName",
                    "Description",
                    "Precedence",
                    "RoleArn",
                ]
                .contains(&k.as_str())
                {
                    return Err(bad(format!("{k} is not a member of UpdateGroup")));
                }
            }
            let g = pools
                .update_group(admin, pool_id()?, required(&m, "GroupName")?, req)
                .await?;
            Ok(json!({"Group": group_type(&g)}))
        }
        "DeleteGroup" => {
            pools
                .delete_group(admin, pool_id()?, required(&m, "GroupName")?)
                .await?;
            Ok(json!({}))
        }
        "ListGroups" => {
            let max = page_size(&m, "Limit", 60, false)?;
            let list = pools
                .list_groups(pool_id()?, next_token(&m, "NextToken").as_deref(), max)
                .await?;
            Ok(super::page(
                "Groups",
                &list,
                max,
                group_type,
                "NextToken",
                |x| x.name.clone(),
            ))
        }
        "ListUsersInGroup" => {
            let max = page_size(&m, "Limit", 60, false)?;
            let users = pools
                .group_members(
                    pool_id()?,
                    required(&m, "GroupName")?,
                    next_token(&m, "NextToken").as_deref(),
                    max,
                )
                .await?;
            Ok(super::page(
                "Users",
                &users,
                max,
                super::user_type,
                "NextToken",
                |x| x.sub.clone(),
            ))
        }
        "CreateIdentityProvider" => {
            let p = pools
                .create_identity_provider(admin, pool_id()?, identity_provider_input(&m, None)?)
                .await
                .map_err(|e| match e.kind {
                    crate::error::ErrorKind::Conflict => {
                        Fault::new("DuplicateProviderException", e.message)
                    }
                    _ => e.into(),
                })?;
            Ok(json!({"IdentityProvider": identity_provider_type(&p)}))
        }
        "DescribeIdentityProvider" => {
            let p = pools
                .get_identity_provider(pool_id()?, required(&m, "ProviderName")?)
                .await?;
            Ok(json!({"IdentityProvider": identity_provider_type(&p)}))
        }
        "UpdateIdentityProvider" => {
            let name = required(&m, "ProviderName")?;
            let old = pools.get_identity_provider(pool_id()?, name).await?;
            let mut req = identity_provider_input(&m, Some(&old))?;
            req.name = None;
            let p = pools
                .update_identity_provider(admin, pool_id()?, name, req)
                .await?;
            Ok(json!({"IdentityProvider": identity_provider_type(&p)}))
        }
        "DeleteIdentityProvider" => {
            pools
                .delete_identity_provider(admin, pool_id()?, required(&m, "ProviderName")?)
                .await?;
            Ok(json!({}))
        }
        "ListIdentityProviders" => {
            let max = page_size(&m, "MaxResults", 60, false)?;
            let all = pools.list_identity_providers(pool_id()?).await?;
            let after = next_token(&m, "NextToken");
            let list: Vec<_> = all
                .into_iter()
                .filter(|p| after.as_deref().is_none_or(|a| p.name.as_str() > a))
                .take(max as usize)
                .collect();
            Ok(super::page(
                "Providers",
                &list,
                max,
                |p| {
                    json!({"ProviderName": p.name, "ProviderType": p.provider_type.as_str(),
                        "CreationDate": p.created_at, "LastModifiedDate": p.updated_at})
                },
                "NextToken",
                |p| p.name.clone(),
            ))
        }
        "AdminLinkProviderForUser" => {
            let (dest_provider, username) = provider_user(&m, "DestinationUser")?;
            if dest_provider != "Cognito" {
                return Err(bad("DestinationUser.ProviderName must be Cognito"));
            }
            let (provider, subject) = provider_user(&m, "SourceUser")?;
            pools
                .link_identity(
                    admin,
                    pool_id()?,
                    &username,
                    crate::user_pools::federation::LinkIdentity { provider, subject },
                )
                .await
                .map_err(|e| match e.kind {
                    crate::error::ErrorKind::Conflict => bad(e.message),
                    _ => e.into(),
                })?;
            Ok(json!({}))
        }
        "AdminDisableProviderForUser" => {
            let (provider, subject) = provider_user(&m, "User")?;
            pools
                .unlink_identity(admin, pool_id()?, &provider, &subject)
                .await?;
            Ok(json!({}))
        }
        "CreateResourceServer" => {
            let r = pools
                .create_resource_server(admin, pool_id()?, resource_server_input(&m)?)
                .await
                .map_err(|e| match e.kind {
                    crate::error::ErrorKind::Conflict => bad(e.message),
                    _ => e.into(),
                })?;
            Ok(json!({"ResourceServer": resource_server_type(&r)}))
        }
        "DescribeResourceServer" => {
            let r = pools
                .get_resource_server(pool_id()?, required(&m, "Identifier")?)
                .await?;
            Ok(json!({"ResourceServer": resource_server_type(&r)}))
        }
        "UpdateResourceServer" => {
            let req = resource_server_input(&m)?;
            let r = pools
                .update_resource_server(admin, pool_id()?, required(&m, "Identifier")?, req)
                .await?;
            Ok(json!({"ResourceServer": resource_server_type(&r)}))
        }
        "DeleteResourceServer" => {
            pools
                .delete_resource_server(admin, pool_id()?, required(&m, "Identifier")?)
                .await?;
            Ok(json!({}))
        }
        "ListResourceServers" => {
            let max = page_size(&m, "MaxResults", 50, true)?;
            let list = pools
                .list_resource_servers(pool_id()?, next_token(&m, "NextToken").as_deref(), max)
                .await?;
            Ok(super::page(
                "ResourceServers",
                &list,
                max,
                resource_server_type,
                "NextToken",
                |x| x.identifier.clone(),
            ))
        }
        "GetSigningCertificate" => {
            let p = pools.pool(pool_id()?).await?;
            let cert = pools
                .keys
                .signing_certificate(&p.id, &pools.issuer(&p.id))
                .await?;
            Ok(json!({"Certificate": cert}))
        }
        "GetUserPoolMfaConfig" => {
            let p = pools.pool(pool_id()?).await?;
            Ok(mfa_config(&p))
        }
        "SetUserPoolMfaConfig" => {
            let p = pools.pool(pool_id()?).await?;
            for k in m.keys() {
                if !matches!(
                    k.as_str(),
                    "UserPoolId"
                        | "MfaConfiguration"
                        | "SoftwareTokenMfaConfiguration"
                        | "EmailMfaConfiguration"
                        | "SmsMfaConfiguration"
                        | "WebAuthnConfiguration"
                ) {
                    return Err(bad(format!("{k} is not a member of SetUserPoolMfaConfig")));
                }
            }
            let enabled = |k: &str| {
                m.get(k)
                    .and_then(|c| c.get("Enabled"))
                    .and_then(Value::as_bool)
            };
            let mut factors: Vec<String> = p.settings.mfa.factors.clone();
            for (k, f) in [
                ("SoftwareTokenMfaConfiguration", "SOFTWARE_TOKEN"),
                ("EmailMfaConfiguration", "EMAIL_OTP"),
                ("SmsMfaConfiguration", "SMS_OTP"),
            ] {
                let on = match k {
                    // An Email/SmsMfaConfiguration present turns the factor on.
                    "EmailMfaConfiguration" | "SmsMfaConfiguration" => {
                        m.get(k).map(|v| !v.is_null())
                    }
                    _ => enabled(k),
                };
                match on {
                    Some(true) if !factors.iter().any(|x| x == f) => factors.push(f.into()),
                    Some(false) => factors.retain(|x| x != f),
                    _ => {}
                }
            }
            let mut mfa = json!({"factors": factors});
            if let Some(mode) = m.get("MfaConfiguration") {
                mfa["mode"] = mode.clone();
            }
            let mut patch = Map::new();
            patch.insert("mfa".into(), mfa);
            if let Some(w) = m.get("WebAuthnConfiguration").filter(|v| !v.is_null()) {
                let w = w
                    .as_object()
                    .ok_or_else(|| bad("WebAuthnConfiguration must be an object"))?;
                let mut web = Map::new();
                for (k, v) in w {
                    match (k.as_str(), v.as_str()) {
                        ("RelyingPartyId", Some(id)) => {
                            web.insert("relying_party_id".into(), json!(id));
                        }
                        ("UserVerification", Some("required" | "preferred")) => {}
                        // Passkeys always verify the user here, so a passkey
                        // sign-in is multi-factor.
                        ("FactorConfiguration", Some("MULTI_FACTOR_WITH_USER_VERIFICATION")) => {}
                        _ => {
                            return Err(bad(format!(
                                "WebAuthnConfiguration.{k}: RelyingPartyId (a domain), \
                                 UserVerification (always `required` here) or FactorConfiguration \
                                 (`MULTI_FACTOR_WITH_USER_VERIFICATION`: a passkey sign-in verifies \
                                 the user and needs no second factor)"
                            )));
                        }
                    }
                }
                patch.insert("webauthn".into(), Value::Object(web));
            }
            if let Some(e) = m.get("EmailMfaConfiguration").filter(|v| !v.is_null()) {
                let body = e.get("Message").and_then(Value::as_str);
                let subject = e.get("Subject").and_then(Value::as_str);
                if body.is_some() || subject.is_some() {
                    patch.insert(
                        "messages".into(),
                        json!({"sign_in_code": {
                            "subject": placeholders(subject.unwrap_or("Your sign-in code"), "Subject")?,
                            "body": placeholders(body.unwrap_or("Your sign-in code is {####}"), "Message")?,
                        }}),
                    );
                }
            }
            pools
                .update_pool(admin, &p.id, &Value::Object(patch))
                .await?;
            let p = pools.pool(&p.id).await?;
            Ok(mfa_config(&p))
        }
        _ => unsupported(op),
    }
}

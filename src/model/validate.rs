//! Checks of the model's shape: pool and client settings, pool ids, message
//! templates. Config loading and the services call these; they depend on
//! nothing but the model and the error type.

use super::*;
use crate::error::{Error, Result};
use webauthn_rs::prelude::{Url, WebauthnBuilder};

/// First factors a pool can allow.
pub const FIRST_FACTORS: &[&str] = &["PASSWORD", "EMAIL_OTP", "SMS_OTP", "WEB_AUTHN"];

/// Standard attributes a user may hold (Cognito's list).
pub const STANDARD_ATTRIBUTES: &[&str] = &[
    "address",
    "birthdate",
    "email",
    "family_name",
    "gender",
    "given_name",
    "locale",
    "middle_name",
    "name",
    "nickname",
    "phone_number",
    "picture",
    "preferred_username",
    "profile",
    "updated_at",
    "website",
    "zoneinfo",
];

pub fn validate_pool_id(id: &str, region: &str) -> std::result::Result<(), String> {
    let Some((r, suffix)) = id.split_once('_') else {
        return Err(format!("must look like {region}_Ab3dE6gH9"));
    };
    if r != region {
        return Err(format!("must start with the configured region `{region}_`"));
    }
    if suffix.len() != 9 || !suffix.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err("must end with 9 alphanumerics after the underscore".into());
    }
    Ok(())
}

fn check_validity(t: &TokenValidity) -> Result<()> {
    if !(300..=86_400).contains(&t.access_token_secs) || !(300..=86_400).contains(&t.id_token_secs)
    {
        return Err(Error::invalid(
            "token validity: access and ID tokens must last between 300 s and 1 day",
        ));
    }
    if !(3600..=315_360_000).contains(&t.refresh_token_secs) {
        return Err(Error::invalid(
            "token validity: refresh tokens must last between 1 hour and 10 years",
        ));
    }
    Ok(())
}

pub fn validate_settings(s: &PoolSettings) -> Result<()> {
    check_branding("branding", &s.branding)?;
    validate_webauthn(&s.webauthn)?;
    validate_hooks(&s.hooks)?;
    for f in &s.mfa.factors {
        if !MFA_FACTORS.contains(&f.as_str()) {
            return Err(Error::invalid(format!(
                "mfa.factors: `{f}` is not one of {MFA_FACTORS:?}"
            )));
        }
    }
    for f in &s.first_auth_factors {
        if !FIRST_FACTORS.contains(&f.as_str()) {
            return Err(Error::invalid(format!(
                "first_auth_factors: `{f}` is not one of {:?}",
                FIRST_FACTORS
            )));
        }
    }
    if !s.first_auth_factors.iter().any(|f| f == "PASSWORD") {
        return Err(Error::invalid("first_auth_factors must include PASSWORD"));
    }
    if s.mfa.mode != MfaMode::Off && s.mfa.factors.is_empty() {
        return Err(Error::invalid(
            "mfa.factors: MFA on needs at least one factor",
        ));
    }
    if s.mfa.totp_issuer.as_ref().is_some_and(|i| {
        i.is_empty() || i.len() > 64 || i.contains(':') || i.chars().any(char::is_control)
    }) {
        return Err(Error::invalid(
            "mfa.totp_issuer: 1-64 characters without ':'",
        ));
    }
    let p = &s.password_policy;
    if !(8..=256).contains(&p.min_length) {
        return Err(Error::invalid(
            "password_policy.min_length must be between 8 and 256",
        ));
    }
    if !(1..=365).contains(&p.temporary_password_validity_days) {
        return Err(Error::invalid(
            "password_policy.temporary_password_validity_days must be between 1 and 365",
        ));
    }
    for a in &s.username_attributes {
        if a != "email" && a != "phone_number" {
            return Err(Error::invalid(
                "username_attributes may hold only email and phone_number",
            ));
        }
    }
    for a in &s.alias_attributes {
        if !["email", "phone_number", "preferred_username"].contains(&a.as_str()) {
            return Err(Error::invalid(
                "alias_attributes may hold only email, phone_number and preferred_username",
            ));
        }
    }
    if !s.username_attributes.is_empty() && !s.alias_attributes.is_empty() {
        return Err(Error::invalid(
            "a pool has either username_attributes or alias_attributes, not both",
        ));
    }
    for a in &s.auto_verified_attributes {
        if a != "email" && a != "phone_number" {
            return Err(Error::invalid(
                "auto_verified_attributes may hold only email and phone_number",
            ));
        }
    }
    for a in &s.required_attributes {
        if !STANDARD_ATTRIBUTES.contains(&a.as_str()) {
            return Err(Error::invalid(format!(
                "required_attributes: `{a}` is not a standard attribute"
            )));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for c in &s.custom_attributes {
        if c.name.is_empty()
            || c.name.len() > 20
            || !c
                .name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        {
            return Err(Error::invalid(format!(
                "custom_attributes: invalid name `{}` (1-20 of [A-Za-z0-9_])",
                c.name
            )));
        }
        if !seen.insert(c.name.clone()) {
            return Err(Error::invalid(format!(
                "custom_attributes: `{}` is declared twice",
                c.name
            )));
        }
    }
    if s.custom_attributes.len() > 50 {
        return Err(Error::invalid("custom_attributes: at most 50"));
    }
    check_validity(&s.token_validity)?;
    for t in [
        &s.messages.verification,
        &s.messages.invitation,
        &s.messages.reset_password,
        &s.messages.attribute_verification,
        &s.messages.sign_in_code,
    ]
    .into_iter()
    .flatten()
    {
        check_template(t).map_err(|e| Error::invalid(format!("messages: {e}")))?;
    }
    Ok(())
}

/// A registered redirect (callback or logout) URL: absolute, no fragment;
/// `https`, `http` only for a loopback host, or an app's own scheme (RFC
/// 8252); never a scheme that runs code.
fn check_redirect_url(what: &str, u: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::invalid(format!("{what}: `{u}` {why}")));
    let Ok(url) = reqwest::Url::parse(u) else {
        return bad("is not an absolute URL");
    };
    if u.len() > 1024 || u.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("is too long or has spaces");
    }
    if url.fragment().is_some() || u.contains('#') {
        return bad("has a fragment");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return bad("has user information");
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")) => Ok(()),
        "http" => bad("must use https (http only for localhost)"),
        "javascript" | "data" | "file" | "vbscript" | "about" | "blob" | "ftp" | "ws" | "wss" => {
            bad("uses a scheme that cannot be a redirect")
        }
        _ => Ok(()),
    }
}

/// OAuth scopes every pool knows; custom ones are `<resource server>/<scope>`.
pub const STANDARD_SCOPES: &[&str] = &[
    "openid",
    "email",
    "phone",
    "profile",
    "aws.cognito.signin.user.admin",
];

/// Branding: colours `#rgb`/`#rrggbb`, a logo URL that is https (http
/// for localhost) or a data image, CSS that cannot leave its `<style>`.
pub fn check_branding(what: &str, b: &Branding) -> Result<()> {
    for (name, c) in [
        ("primary_color", &b.primary_color),
        ("background_color", &b.background_color),
        ("text_color", &b.text_color),
    ] {
        if let Some(c) = c {
            let hex = c.strip_prefix('#').unwrap_or("");
            if !(hex.len() == 3 || hex.len() == 6) || !hex.chars().all(|x| x.is_ascii_hexdigit()) {
                return Err(Error::invalid(format!(
                    "{what}.{name}: `{c}` is not a colour like #1f5fd6"
                )));
            }
        }
    }
    if let Some(u) = &b.logo_url {
        let data_image = u.starts_with("data:image/")
            && u.len() <= 64 * 1024
            && !u.starts_with("data:image/svg");
        let web = u.len() <= 1024
            && reqwest::Url::parse(u).is_ok_and(|url| match url.scheme() {
                "https" => true,
                "http" => matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")),
                _ => false,
            });
        if !(data_image || web) || u.chars().any(|c| c.is_whitespace() || c == '"') {
            return Err(Error::invalid(format!(
                "{what}.logo_url: an https URL or a data:image URL (not SVG)"
            )));
        }
    }
    if let Some(css) = &b.custom_css {
        let lower = css.to_ascii_lowercase();
        if css.len() > 16 * 1024
            || css.contains('<')
            || lower.contains("@import")
            || css
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(Error::invalid(format!(
                "{what}.custom_css: at most 16 KiB of CSS, without `<` or `@import`"
            )));
        }
    }
    Ok(())
}

pub fn validate_client_settings(s: &ClientSettings) -> Result<()> {
    check_branding("branding", &s.branding)?;
    for f in &s.allowed_oauth_flows {
        match f.as_str() {
            "client_credentials" => {}
            "code" => {
                if s.callback_urls.is_empty() {
                    return Err(Error::invalid(
                        "allowed_oauth_flows: `code` needs at least one callback_urls entry",
                    ));
                }
            }
            "implicit" => {
                return Err(Error::invalid(
                    "allowed_oauth_flows: the implicit grant is not offered (RFC 9700); use `code` with PKCE",
                ));
            }
            other => {
                return Err(Error::invalid(format!(
                    "allowed_oauth_flows: unknown flow `{other}`"
                )));
            }
        }
    }
    for (what, list) in [
        ("callback_urls", &s.callback_urls),
        ("logout_urls", &s.logout_urls),
    ] {
        if list.len() > 100 {
            return Err(Error::invalid(format!("{what}: at most 100")));
        }
        for u in list {
            check_redirect_url(what, u)?;
        }
    }
    if s.allowed_oauth_scopes.len() > 50 {
        return Err(Error::invalid("allowed_oauth_scopes: at most 50"));
    }
    for sc in &s.allowed_oauth_scopes {
        let custom = sc
            .rsplit_once('/')
            .is_some_and(|(rs, name)| !rs.is_empty() && !name.is_empty());
        if !(STANDARD_SCOPES.contains(&sc.as_str()) || custom)
            || sc.len() > 512
            || sc.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(Error::invalid(format!(
                "allowed_oauth_scopes: `{sc}` is neither a standard scope nor `<resource server>/<scope>`"
            )));
        }
    }

    if s.supported_identity_providers.len() > 50 {
        return Err(Error::invalid("supported_identity_providers: at most 50"));
    }
    for p in &s.supported_identity_providers {
        if p != "COGNITO" && check_provider_name(p).is_err() {
            return Err(Error::invalid(format!(
                "supported_identity_providers: `{p}` is not a provider name"
            )));
        }
    }
    for f in &s.explicit_auth_flows {
        if !AUTH_FLOWS.contains(&f.as_str()) {
            return Err(Error::invalid(format!(
                "explicit_auth_flows: unknown flow `{f}`"
            )));
        }
    }
    if let Some(t) = &s.token_validity {
        check_validity(t)?;
    }
    for o in &s.allowed_origins {
        let ok = reqwest::Url::parse(o)
            .map(|u| {
                (u.scheme() == "https" || u.scheme() == "http")
                    && u.path() == "/"
                    && !o.ends_with('/')
            })
            .unwrap_or(false);
        if !ok {
            return Err(Error::invalid(format!(
                "allowed_origins: `{o}` is not an origin like https://app.example.com"
            )));
        }
    }
    Ok(())
}

/// Checks the `hooks` pool settings: domains as DNS names in lower-case
/// ASCII (what `PoolRules` compares against, byte for byte).
pub fn validate_hooks(h: &HookSettings) -> Result<()> {
    let domains = &h.pre_sign_up.auto_confirm_email_domains;
    if domains.len() > 50 {
        return Err(Error::invalid(
            "hooks.pre_sign_up.auto_confirm_email_domains: at most 50",
        ));
    }
    for d in domains {
        let ok = d.len() <= 253
            && d.contains('.')
            && d.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            });
        if !ok {
            return Err(Error::invalid(format!(
                "hooks.pre_sign_up.auto_confirm_email_domains: `{d}` is not a lower-case domain such as example.com (internationalised domains in their xn-- form)"
            )));
        }
    }
    Ok(())
}

/// Checks the `webauthn` pool settings' shape.
pub fn validate_webauthn(w: &WebAuthnSettings) -> Result<()> {
    if let Some(id) = &w.relying_party_id {
        let ok = !id.is_empty()
            && id.len() <= 253
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            && !id.starts_with('.')
            && !id.ends_with('.')
            && id.parse::<std::net::Ipv4Addr>().is_err();
        if !ok {
            return Err(Error::invalid(
                "webauthn.relying_party_id: a domain name such as example.com (not an IP address)",
            ));
        }
    }
    if w.origins.len() > 20 {
        return Err(Error::invalid("webauthn.origins: at most 20"));
    }
    for o in &w.origins {
        let u = Url::parse(o).ok().filter(|u| {
            matches!(u.scheme(), "https" | "http")
                && u.domain().is_some()
                && u.path() == "/"
                && u.query().is_none()
                && u.fragment().is_none()
                && o.len() <= 256
        });
        if u.is_none() {
            return Err(Error::invalid(format!(
                "webauthn.origins: `{o}` is not an origin such as https://app.example.com"
            )));
        }
    }
    if let (Some(id), Some(first)) = (&w.relying_party_id, w.origins.first()) {
        let u = Url::parse(first).map_err(Error::internal)?;
        if WebauthnBuilder::new(id, &u).is_err() {
            return Err(Error::invalid(
                "webauthn.relying_party_id must be the domain of the first origin or a parent of it",
            ));
        }
    }
    Ok(())
}

/// Provider names: 1-32 of letters, digits, `.`, `-`, `_`; not `COGNITO`.
pub fn check_provider_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name != "COGNITO"
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "name: 1-32 letters, digits, '.', '-' or '_', and not COGNITO",
        ))
    }
}

/// Checks a template renders (used when a pool is saved).
pub fn check_template(tpl: &MessageTemplate) -> Result<(), String> {
    let env = minijinja::Environment::new();
    let ctx = minijinja::context! { code => "123456", username => "u", pool_name => "p" };
    env.render_str(&tpl.subject, &ctx)
        .map_err(|e| format!("subject: {e}"))?;
    let body = env
        .render_str(&tpl.body, &ctx)
        .map_err(|e| format!("body: {e}"))?;
    if !tpl.body.contains("code") {
        return Err("body must use {{ code }}".into());
    }
    let _ = body;
    Ok(())
}

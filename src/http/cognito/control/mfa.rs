//! A user pool's MFA configuration and its signing certificate
//! (SigV4-signed with an admin key).

use super::super::Fault;
use super::super::op::Operation;
use super::super::wire::{bad, placeholders, required};
use crate::app::AppState;
use crate::audit::AdminCtx;
use crate::model::{MessageTemplate, MfaMode, Pool};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub(in super::super) const OPS: &[Operation] = &[
    admin!(UserPools, "GetUserPoolMfaConfig", get_mfa_config),
    admin!(UserPools, "SetUserPoolMfaConfig", set_mfa_config),
    admin!(UserPools, "GetSigningCertificate", get_signing_certificate),
];

/// A request that only names its pool.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PoolIdIn {
    #[serde(default)]
    user_pool_id: Option<String>,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct SoftwareTokenMfaConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
}

/// `{}`: the factor is on (its messages are the pool's).
#[derive(Serialize)]
struct FactorOn {}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct WebAuthnConfig {
    user_verification: &'static str,
    factor_configuration: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    relying_party_id: Option<String>,
}

/// GetUserPoolMfaConfig's answer (and SetUserPoolMfaConfig's).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MfaConfigOut {
    mfa_configuration: MfaMode,
    software_token_mfa_configuration: SoftwareTokenMfaConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_mfa_configuration: Option<FactorOn>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sms_mfa_configuration: Option<FactorOn>,
    web_authn_configuration: WebAuthnConfig,
}

impl From<&Pool> for MfaConfigOut {
    fn from(p: &Pool) -> Self {
        let mfa = &p.settings.mfa;
        Self {
            mfa_configuration: mfa.mode,
            software_token_mfa_configuration: SoftwareTokenMfaConfig {
                enabled: Some(mfa.allows("SOFTWARE_TOKEN")),
            },
            email_mfa_configuration: mfa.allows("EMAIL_OTP").then_some(FactorOn {}),
            sms_mfa_configuration: mfa.allows("SMS_OTP").then_some(FactorOn {}),
            // Passkeys: user verification is always required here.
            web_authn_configuration: WebAuthnConfig {
                user_verification: "required",
                factor_configuration: "MULTI_FACTOR_WITH_USER_VERIFICATION",
                relying_party_id: p.settings.webauthn.relying_party_id.clone(),
            },
        }
    }
}

async fn get_mfa_config(
    s: &AppState,
    _admin: &AdminCtx,
    i: PoolIdIn,
) -> Result<MfaConfigOut, Fault> {
    let p = s
        .pools
        .pool(&required(i.user_pool_id, "UserPoolId")?)
        .await?;
    Ok(MfaConfigOut::from(&*p))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EmailMfaConfig {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    subject: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct SetMfaConfigIn {
    #[serde(default)]
    user_pool_id: Option<String>,
    #[serde(default)]
    mfa_configuration: Option<MfaMode>,
    #[serde(default)]
    software_token_mfa_configuration: Option<SoftwareTokenMfaConfig>,
    /// Present (not `null`): the factor is on.
    #[serde(default)]
    email_mfa_configuration: Option<EmailMfaConfig>,
    /// Present (not `null`): the factor is on.
    #[serde(default)]
    sms_mfa_configuration: Option<IgnoredAny>,
    #[serde(default)]
    web_authn_configuration: Option<BTreeMap<String, String>>,
}

/// The relying-party id a `WebAuthnConfiguration` names, if any; what this
/// server cannot do is refused.
fn relying_party(w: BTreeMap<String, String>) -> Result<Option<String>, Fault> {
    let mut id = None;
    for (k, v) in w {
        match (k.as_str(), v.as_str()) {
            ("RelyingPartyId", _) => id = Some(v),
            ("UserVerification", "required" | "preferred") => {}
            // Passkeys always verify the user here, so a passkey sign-in
            // is multi-factor.
            ("FactorConfiguration", "MULTI_FACTOR_WITH_USER_VERIFICATION") => {}
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
    Ok(id)
}

async fn set_mfa_config(
    s: &AppState,
    admin: &AdminCtx,
    i: SetMfaConfigIn,
) -> Result<MfaConfigOut, Fault> {
    let p = s
        .pools
        .pool(&required(i.user_pool_id, "UserPoolId")?)
        .await?;
    let mut settings = p.settings.clone();
    let factors = &mut settings.mfa.factors;
    for (on, f) in [
        (
            i.software_token_mfa_configuration.and_then(|c| c.enabled),
            "SOFTWARE_TOKEN",
        ),
        (
            i.email_mfa_configuration.as_ref().map(|_| true),
            "EMAIL_OTP",
        ),
        (i.sms_mfa_configuration.map(|_| true), "SMS_OTP"),
    ] {
        match on {
            Some(true) if !factors.iter().any(|x| x == f) => factors.push(f.into()),
            Some(false) => factors.retain(|x| x != f),
            _ => {}
        }
    }
    if let Some(mode) = i.mfa_configuration {
        settings.mfa.mode = mode;
    }
    if let Some(id) = i
        .web_authn_configuration
        .map(relying_party)
        .transpose()?
        .flatten()
    {
        settings.webauthn.relying_party_id = Some(id);
    }
    if let Some(e) = i.email_mfa_configuration
        && (e.message.is_some() || e.subject.is_some())
    {
        let subject = e.subject.as_deref().unwrap_or("Your sign-in code");
        let body = e
            .message
            .as_deref()
            .unwrap_or("Your sign-in code is {####}");
        settings.messages.sign_in_code = Some(MessageTemplate {
            subject: placeholders(subject, "Subject")?,
            body: placeholders(body, "Message")?,
        });
    }
    let p = s.pools.replace_pool(admin, &p.id, None, settings).await?;
    Ok(MfaConfigOut::from(&p))
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CertificateOut {
    certificate: String,
}

async fn get_signing_certificate(
    s: &AppState,
    _admin: &AdminCtx,
    i: PoolIdIn,
) -> Result<CertificateOut, Fault> {
    let p = s
        .pools
        .pool(&required(i.user_pool_id, "UserPoolId")?)
        .await?;
    let issuer = s.pools.issuer(&p.id);
    let certificate = s.pools.keys.signing_certificate(&p.id, &issuer).await?;
    Ok(CertificateOut { certificate })
}

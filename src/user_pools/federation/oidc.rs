//! Any OpenID Provider, configured from its issuer's discovery document
//! (endpoints in the settings override it).

use super::check_endpoint;
use super::provider::{Endpoints, FederationProvider};
use crate::model::ProviderSettings;
use crate::oidc_rp::RelyingParty;
use serde_json::Value;

pub(crate) struct Oidc;

pub(crate) const OPENID_SCOPES: &[&str] = &["openid", "email", "profile"];

pub(crate) const OPENID_MAPPING: &[(&str, &str)] = &[
    ("email", "email"),
    ("email_verified", "email_verified"),
    ("name", "name"),
    ("given_name", "given_name"),
    ("family_name", "family_name"),
];

#[async_trait::async_trait]
impl FederationProvider for Oidc {
    fn needs_issuer(&self) -> bool {
        true
    }

    fn default_scopes(&self) -> &'static [&'static str] {
        OPENID_SCOPES
    }

    fn default_mapping(&self) -> &'static [(&'static str, &'static str)] {
        OPENID_MAPPING
    }

    async fn endpoints(
        &self,
        rp: &RelyingParty,
        s: &ProviderSettings,
    ) -> anyhow::Result<Endpoints> {
        let issuer = s
            .issuer
            .clone()
            .ok_or_else(|| anyhow::anyhow!("no issuer"))?;
        openid_endpoints(rp, s, issuer).await
    }
}

/// An OpenID provider's endpoints: the settings' own, the rest from the
/// issuer's discovery document (fetched only when one is missing).
pub(crate) async fn openid_endpoints(
    rp: &RelyingParty,
    s: &ProviderSettings,
    issuer: String,
) -> anyhow::Result<Endpoints> {
    let complete = s.authorize_url.is_some() && s.token_url.is_some() && s.jwks_uri.is_some();
    let disco = if complete {
        None
    } else {
        Some(rp.discovery(&issuer).await?)
    };
    let from = |k: &str| -> Option<String> {
        disco
            .as_ref()
            .and_then(|d| d.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let endpoint = |over: &Option<String>, k: &str| -> anyhow::Result<String> {
        let u = over
            .clone()
            .or_else(|| from(k))
            .ok_or_else(|| anyhow::anyhow!("the provider publishes no {k}"))?;
        check_endpoint(k, &u).map_err(|e| anyhow::anyhow!("{}", e.message))?;
        Ok(u)
    };
    Ok(Endpoints {
        authorize: endpoint(&s.authorize_url, "authorization_endpoint")?,
        token: endpoint(&s.token_url, "token_endpoint")?,
        userinfo: endpoint(&s.userinfo_url, "userinfo_endpoint").ok(),
        jwks_uri: Some(endpoint(&s.jwks_uri, "jwks_uri")?),
        issuer: Some(issuer),
    })
}

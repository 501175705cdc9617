//! Sign in with Apple: OpenID Connect at `https://appleid.apple.com`; the
//! client secret is a short-lived JWT signed with the developer's key, and
//! Apple answers by form post when asked for the name or email.

use super::oidc::openid_endpoints;
use super::provider::{Endpoints, FederationProvider};
use crate::error::{Error, Result};
use crate::model::ProviderSettings;
use crate::oidc_rp::RelyingParty;
use serde_json::json;

pub(crate) const APPLE_ISSUER: &str = "https://appleid.apple.com";

pub(crate) struct Apple;

#[async_trait::async_trait]
impl FederationProvider for Apple {
    fn validate(&self, s: &ProviderSettings) -> Result<()> {
        if s.apple_team_id.is_none() || s.apple_key_id.is_none() {
            return Err(Error::invalid(
                "Sign in with Apple needs settings.apple_team_id and settings.apple_key_id",
            ));
        }
        Ok(())
    }

    fn check_secret(&self, secret: &str) -> Result<()> {
        if jsonwebtoken::EncodingKey::from_ec_pem(secret.as_bytes()).is_err() {
            return Err(Error::invalid(
                "client_secret: Sign in with Apple needs the private key (.p8, PEM)",
            ));
        }
        Ok(())
    }

    fn default_scopes(&self) -> &'static [&'static str] {
        &["openid", "email", "name"]
    }

    fn default_mapping(&self) -> &'static [(&'static str, &'static str)] {
        &[("email", "email"), ("email_verified", "email_verified")]
    }

    async fn endpoints(
        &self,
        rp: &RelyingParty,
        s: &ProviderSettings,
    ) -> anyhow::Result<Endpoints> {
        let issuer = s.issuer.clone().unwrap_or_else(|| APPLE_ISSUER.into());
        openid_endpoints(rp, s, issuer).await
    }

    /// Apple answers by POST when it is asked for the name or email.
    fn authorize_params(&self, scopes: &[String], nonce: &str) -> Vec<(&'static str, String)> {
        let mut p = vec![("nonce", nonce.to_owned())];
        if scopes.iter().any(|s| s == "name" || s == "email") {
            p.push(("response_mode", "form_post".to_owned()));
        }
        p
    }

    /// The stored secret is the developer's key; Apple wants a JWT by it.
    fn client_secret(
        &self,
        s: &ProviderSettings,
        stored: Option<String>,
        now: i64,
    ) -> anyhow::Result<Option<String>> {
        match stored {
            Some(key) => Ok(Some(apple_client_secret(s, &key, now)?)),
            None => Ok(None),
        }
    }

    fn basic_auth(&self, _s: &ProviderSettings) -> bool {
        false
    }
}

/// Sign in with Apple's client secret: an ES256 JWT by the developer's
/// key (`kid` its key id, `iss` the team), for Apple, valid five minutes.
pub(crate) fn apple_client_secret(
    s: &ProviderSettings,
    key_pem: &str,
    now: i64,
) -> anyhow::Result<String> {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = s.apple_key_id.clone();
    let claims = json!({
        "iss": s.apple_team_id,
        "iat": now,
        "exp": now + 300,
        "aud": APPLE_ISSUER,
        "sub": s.client_id,
    });
    Ok(jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_pem(key_pem.as_bytes())?,
    )?)
}

//! The provider strategy: what differs between kinds of external identity
//! provider, behind one trait with one implementation per kind (one file
//! each). The sign-in flow in `federation/mod.rs` asks the strategy of the
//! provider's type and never branches on the type itself; a new kind (SAML
//! next) is one more implementation and one more arm in [`strategy`].

use super::{apple::Apple, facebook::Facebook, google::Google, oidc::Oidc};
use crate::error::{Error, Result};
use crate::model::{ProviderSettings, ProviderType};
use crate::oidc_rp::RelyingParty;

/// Where a provider is reached.
pub(crate) struct Endpoints {
    pub authorize: String,
    pub token: String,
    pub userinfo: Option<String>,
    /// OpenID providers: the issuer their ID tokens carry (and so an ID
    /// token is expected and verified).
    pub issuer: Option<String>,
    pub jwks_uri: Option<String>,
}

/// One kind of external identity provider.
#[async_trait::async_trait]
pub(crate) trait FederationProvider: Send + Sync {
    /// Checks the settings this kind needs or refuses (after the checks
    /// every kind shares).
    fn validate(&self, s: &ProviderSettings) -> Result<()> {
        no_apple_keys(s)
    }

    /// Whether `settings.issuer` is required (checked first).
    fn needs_issuer(&self) -> bool {
        false
    }

    /// Checks a client secret before it is sealed.
    fn check_secret(&self, _secret: &str) -> Result<()> {
        Ok(())
    }

    /// The scopes asked for when the settings name none.
    fn default_scopes(&self) -> &'static [&'static str];

    /// How the `scope` parameter joins the scopes.
    fn scope_separator(&self) -> &'static str {
        " "
    }

    /// Attribute ← claim, when the settings map none.
    fn default_mapping(&self) -> &'static [(&'static str, &'static str)];

    /// The provider's endpoints (settings first, then its defaults or
    /// discovery document).
    async fn endpoints(&self, rp: &RelyingParty, s: &ProviderSettings)
    -> anyhow::Result<Endpoints>;

    /// Authorization-request parameters beyond the common ones.
    fn authorize_params(&self, _scopes: &[String], nonce: &str) -> Vec<(&'static str, String)> {
        vec![("nonce", nonce.to_owned())]
    }

    /// The client secret presented at the token endpoint, from the stored
    /// one.
    fn client_secret(
        &self,
        _s: &ProviderSettings,
        stored: Option<String>,
        _now: i64,
    ) -> anyhow::Result<Option<String>> {
        Ok(stored)
    }

    /// Whether the secret goes in HTTP Basic (else in the form).
    fn basic_auth(&self, s: &ProviderSettings) -> bool {
        s.token_endpoint_auth_method.as_deref() != Some("client_secret_post")
    }

    /// The claim that names the subject.
    fn subject_claim(&self) -> &'static str {
        "sub"
    }
}

/// The strategy of a provider type.
pub(crate) fn strategy(t: ProviderType) -> &'static dyn FederationProvider {
    match t {
        ProviderType::Oidc => &Oidc,
        ProviderType::Google => &Google,
        ProviderType::Facebook => &Facebook,
        ProviderType::SignInWithApple => &Apple,
    }
}

/// Every kind but Sign in with Apple refuses Apple's key settings.
pub(crate) fn no_apple_keys(s: &ProviderSettings) -> Result<()> {
    if s.apple_team_id.is_some() || s.apple_key_id.is_some() {
        return Err(Error::invalid(
            "apple_team_id and apple_key_id are for Sign in with Apple only",
        ));
    }
    Ok(())
}

/// An owned scope list from a default.
pub(crate) fn owned(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| (*x).to_owned()).collect()
}

//! Google: OpenID Connect at `https://accounts.google.com`.

use super::oidc::{OPENID_MAPPING, OPENID_SCOPES, openid_endpoints};
use super::provider::{Endpoints, FederationProvider};
use crate::model::ProviderSettings;
use crate::oidc_rp::RelyingParty;

pub(crate) const GOOGLE_ISSUER: &str = "https://accounts.google.com";

pub(crate) struct Google;

#[async_trait::async_trait]
impl FederationProvider for Google {
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
        let issuer = s.issuer.clone().unwrap_or_else(|| GOOGLE_ISSUER.into());
        openid_endpoints(rp, s, issuer).await
    }
}

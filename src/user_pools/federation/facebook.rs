//! Facebook Login: OAuth 2.0 without ID tokens; who signed in comes from
//! the Graph API's `/me` (its `id` is the subject).

use super::provider::{Endpoints, FederationProvider};
use crate::model::ProviderSettings;
use crate::oidc_rp::RelyingParty;

const FACEBOOK_AUTHORIZE: &str = "https://www.facebook.com/v19.0/dialog/oauth";
const FACEBOOK_TOKEN: &str = "https://graph.facebook.com/v19.0/oauth/access_token";
const FACEBOOK_ME: &str =
    "https://graph.facebook.com/v19.0/me?fields=id,name,email,first_name,last_name";

pub(crate) struct Facebook;

#[async_trait::async_trait]
impl FederationProvider for Facebook {
    fn default_scopes(&self) -> &'static [&'static str] {
        &["public_profile", "email"]
    }

    fn scope_separator(&self) -> &'static str {
        ","
    }

    fn default_mapping(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("email", "email"),
            ("name", "name"),
            ("given_name", "first_name"),
            ("family_name", "last_name"),
        ]
    }

    async fn endpoints(
        &self,
        _rp: &RelyingParty,
        s: &ProviderSettings,
    ) -> anyhow::Result<Endpoints> {
        Ok(Endpoints {
            authorize: s.authorize_url.clone().unwrap_or(FACEBOOK_AUTHORIZE.into()),
            token: s.token_url.clone().unwrap_or(FACEBOOK_TOKEN.into()),
            userinfo: Some(s.userinfo_url.clone().unwrap_or(FACEBOOK_ME.into())),
            issuer: None,
            jwks_uri: None,
        })
    }

    /// No nonce: Facebook issues no ID token to carry it.
    fn authorize_params(&self, _scopes: &[String], _nonce: &str) -> Vec<(&'static str, String)> {
        vec![]
    }

    fn basic_auth(&self, _s: &ProviderSettings) -> bool {
        false
    }

    fn subject_claim(&self) -> &'static str {
        "id"
    }
}

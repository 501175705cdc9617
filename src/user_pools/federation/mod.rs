//! Federated sign-in into a user pool: the pool's external identity
//! providers (any OpenID Provider by its issuer, and Google, Facebook and
//! Sign in with Apple presets), the redirect to a provider and its answer at
//! `/oauth2/idpresponse`, and the pool user a provider subject signs in as —
//! created at the first sign-in (`EXTERNAL_PROVIDER`, username
//! `<Provider>_<subject>`), its mapped attributes refreshed at each one, or
//! a native user an admin linked the subject to.
//!
//! The redirect is an authorization-code request with PKCE, `state` and
//! `nonce`; the `state` is single use, expires in ten minutes and is bound
//! to a cookie of the browser that started it (login CSRF). The provider's
//! ID token is verified against its JWKS with the algorithm fixed by the
//! key, exact issuer, this pool as audience and the nonce sent.

mod apple;
mod facebook;
mod google;
mod oidc;
mod provider;

use super::UserPools;
use super::authorize::{Authorization, HostedSession};
use super::hooks::{Trigger, TriggerSource::*, UserEvent};
use super::limits::Action;
use crate::audit::{AdminCtx, Target};
use crate::crypto::{ct_eq, random, sha256_hex};
use crate::error::{Error, ErrorKind, Result};
use crate::model::*;
use crate::oidc_rp::RelyingParty;
use base64::Engine;
use provider::{Endpoints, strategy};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Digest;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// How long a redirect to a provider waits for its answer.
pub const FEDERATION_TTL: i64 = 600;
/// Providers per pool.
pub const MAX_PROVIDERS: usize = 50;

/// Create or replace an identity provider (`name` and `provider_type` only
/// at creation; without `client_secret` an update keeps the stored one).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutIdentityProvider {
    pub name: Option<String>,
    pub provider_type: Option<ProviderType>,
    /// Write-only. Sign in with Apple: the private key (PEM) that signs
    /// the client-secret JWT.
    pub client_secret: Option<String>,
    #[serde(default)]
    pub settings: ProviderSettings,
}

/// An identity provider as the admin API shows it (never the secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IdentityProviderView {
    pub name: String,
    pub provider_type: ProviderType,
    pub settings: ProviderSettings,
    pub client_secret_set: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<&IdentityProvider> for IdentityProviderView {
    fn from(p: &IdentityProvider) -> Self {
        Self {
            name: p.name.clone(),
            provider_type: p.provider_type,
            settings: p.settings.clone(),
            client_secret_set: p.secret_sealed.is_some(),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// Link a provider subject to an existing user (Cognito's
/// `AdminLinkProviderForUser`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkIdentity {
    pub provider: String,
    pub subject: String,
}

/// Why an answer at `/oauth2/idpresponse` did not sign anyone in.
#[derive(Debug)]
pub enum FederationError {
    /// Shown on a page: the answer cannot be tied to a request of this
    /// browser (unknown, used or expired `state`, or another browser's).
    Page(String),
    /// Reported to the client at its redirect URI.
    Redirect {
        authorization: Box<Authorization>,
        error: &'static str,
        description: String,
    },
}

/// What a redirect to a provider remembers.
#[derive(Serialize, Deserialize)]
struct Pending {
    authorization: Authorization,
    nonce: String,
    verifier: String,
}

/// A redirect to a provider: where to send the browser, and the cookie
/// value that must come back with the answer.
pub struct FederationStart {
    pub location: String,
    pub binding: String,
}

/// An endpoint URL: https, or http to a loopback host (development).
pub(crate) fn check_endpoint(what: &str, u: &str) -> Result<()> {
    let ok = reqwest::Url::parse(u).is_ok_and(|url| match url.scheme() {
        "https" => true,
        "http" => matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")),
        _ => false,
    }) && u.len() <= 1024;
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{what}: `{u}` must be an https URL (http only for localhost)"
        )))
    }
}

/// A claim as an attribute value: strings as they are, booleans and
/// numbers in their JSON form; anything else is not mapped.
fn claim_value(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

impl UserPools {
    fn validate_provider(&self, pool: &Pool, p: &IdentityProvider) -> Result<()> {
        check_provider_name(&p.name)?;
        let s = &p.settings;
        if s.client_id.is_empty() || s.client_id.len() > 512 {
            return Err(Error::invalid("settings.client_id is required"));
        }
        let kind = strategy(p.provider_type);
        if kind.needs_issuer() && s.issuer.is_none() {
            return Err(Error::invalid("settings.issuer is required for OIDC"));
        }
        for (what, u) in [
            ("settings.issuer", &s.issuer),
            ("settings.authorize_url", &s.authorize_url),
            ("settings.token_url", &s.token_url),
            ("settings.userinfo_url", &s.userinfo_url),
            ("settings.jwks_uri", &s.jwks_uri),
        ] {
            if let Some(u) = u {
                check_endpoint(what, u)?;
            }
        }
        if s.scopes.len() > 50
            || s.scopes.iter().any(|x| {
                x.is_empty() || x.len() > 256 || x.chars().any(|c| c.is_whitespace() || c == ',')
            })
        {
            return Err(Error::invalid(
                "settings.scopes: at most 50 scopes without spaces or commas",
            ));
        }
        if s.attribute_mapping.len() > 64 {
            return Err(Error::invalid("settings.attribute_mapping: at most 64"));
        }
        for (attr, claim) in &s.attribute_mapping {
            let known = crate::model::STANDARD_ATTRIBUTES.contains(&attr.as_str())
                || matches!(attr.as_str(), "email_verified" | "phone_number_verified")
                || attr
                    .strip_prefix("custom:")
                    .is_some_and(|c| pool.settings.custom_attributes.iter().any(|d| d.name == c));
            if !known || claim.is_empty() || claim.len() > 256 {
                return Err(Error::invalid(format!(
                    "settings.attribute_mapping: `{attr}` is not an attribute of this pool"
                )));
            }
        }
        match s.token_endpoint_auth_method.as_deref() {
            None | Some("client_secret_basic" | "client_secret_post") => {}
            Some(m) => {
                return Err(Error::invalid(format!(
                    "settings.token_endpoint_auth_method: `{m}` is not client_secret_basic or client_secret_post"
                )));
            }
        }
        kind.validate(s)
    }

    fn seal_provider_secret(&self, p: &IdentityProvider, secret: &str) -> Result<Vec<u8>> {
        if secret.is_empty() || secret.len() > 8192 {
            return Err(Error::invalid("client_secret must be 1-8192 characters"));
        }
        strategy(p.provider_type).check_secret(secret)?;
        Ok(self
            .idp_secrets
            .seal(secret.as_bytes(), self.provider_aad(p).as_bytes()))
    }

    fn provider_aad(&self, p: &IdentityProvider) -> String {
        format!("{}/{}", p.pool_id, p.name)
    }

    pub async fn create_identity_provider(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        req: PutIdentityProvider,
    ) -> Result<IdentityProvider> {
        let provider = req.name.clone().unwrap_or_default();
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "CreateIdentityProvider",
                Target::pool(pool_id).object("identity-provider", &provider),
                self.create_identity_provider_flow(pool_id, req),
            )
            .await
    }

    async fn create_identity_provider_flow(
        &self,
        pool_id: &str,
        req: PutIdentityProvider,
    ) -> Result<IdentityProvider> {
        let pool = self.pool(pool_id).await?;
        let now = self.clock.now();
        let provider_type = req
            .provider_type
            .ok_or_else(|| Error::invalid("provider_type is required"))?;
        let mut p = IdentityProvider {
            pool_id: pool_id.to_owned(),
            name: req.name.ok_or_else(|| Error::invalid("name is required"))?,
            provider_type,
            settings: req.settings,
            secret_sealed: None,
            created_at: now,
            updated_at: now,
        };
        self.validate_provider(&pool, &p)?;
        if let Some(secret) = &req.client_secret {
            p.secret_sealed = Some(self.seal_provider_secret(&p, secret)?);
        }
        if self.store.list_identity_providers(pool_id).await?.len() >= MAX_PROVIDERS {
            return Err(Error::new(
                ErrorKind::LimitExceeded,
                format!("A pool has at most {MAX_PROVIDERS} identity providers"),
            ));
        }
        self.store.insert_identity_provider(&p).await?;
        Ok(p)
    }

    pub async fn get_identity_provider(
        &self,
        pool_id: &str,
        name: &str,
    ) -> Result<IdentityProvider> {
        self.pool(pool_id).await?;
        self.store
            .get_identity_provider(pool_id, name)
            .await?
            .ok_or_else(|| Error::not_found("Identity provider"))
    }

    pub async fn list_identity_providers(&self, pool_id: &str) -> Result<Vec<IdentityProvider>> {
        self.pool(pool_id).await?;
        self.store.list_identity_providers(pool_id).await
    }

    /// Replaces a provider's settings (and its secret when one is given).
    pub async fn update_identity_provider(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        name: &str,
        req: PutIdentityProvider,
    ) -> Result<IdentityProvider> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "UpdateIdentityProvider",
                Target::pool(pool_id).object("identity-provider", name),
                self.update_identity_provider_flow(pool_id, name, req),
            )
            .await
    }

    async fn update_identity_provider_flow(
        &self,
        pool_id: &str,
        name: &str,
        req: PutIdentityProvider,
    ) -> Result<IdentityProvider> {
        let pool = self.pool(pool_id).await?;
        let mut p = self.get_identity_provider(pool_id, name).await?;
        if req.name.as_deref().is_some_and(|n| n != name)
            || req.provider_type.is_some_and(|t| t != p.provider_type)
        {
            return Err(Error::invalid(
                "name and provider_type cannot change; create another provider",
            ));
        }
        p.settings = req.settings;
        p.updated_at = self.clock.now();
        self.validate_provider(&pool, &p)?;
        if let Some(secret) = &req.client_secret {
            p.secret_sealed = Some(self.seal_provider_secret(&p, secret)?);
        }
        if !self.store.update_identity_provider(&p).await? {
            return Err(Error::not_found("Identity provider"));
        }
        Ok(p)
    }

    pub async fn delete_identity_provider(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        name: &str,
    ) -> Result<()> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "DeleteIdentityProvider",
                Target::pool(pool_id).object("identity-provider", name),
                self.delete_identity_provider_flow(pool_id, name),
            )
            .await
    }

    async fn delete_identity_provider_flow(&self, pool_id: &str, name: &str) -> Result<()> {
        self.pool(pool_id).await?;
        if !self.store.delete_identity_provider(pool_id, name).await? {
            return Err(Error::not_found("Identity provider"));
        }
        Ok(())
    }

    /// The identity providers a client offers on its sign-in page, in the
    /// order the client lists them.
    pub async fn client_providers(&self, pool_id: &str, client_id: &str) -> Vec<String> {
        let Ok(client) = self.client(pool_id, client_id).await else {
            return vec![];
        };
        // Most clients name only COGNITO: no provider list to read.
        if client
            .settings
            .supported_identity_providers
            .iter()
            .all(|p| p == "COGNITO")
        {
            return vec![];
        }
        let Ok(all) = self.store.list_identity_providers(pool_id).await else {
            return vec![];
        };
        client
            .settings
            .supported_identity_providers
            .iter()
            .filter(|n| all.iter().any(|p| &p.name == *n))
            .cloned()
            .collect()
    }

    /// Whether the client offers its pool's own sign-in form.
    pub async fn client_offers_password(&self, pool_id: &str, client_id: &str) -> bool {
        match self.client(pool_id, client_id).await {
            Ok(c) => c
                .settings
                .supported_identity_providers
                .iter()
                .any(|p| p == "COGNITO"),
            _ => false,
        }
    }

    async fn endpoints(&self, p: &IdentityProvider) -> anyhow::Result<Endpoints> {
        strategy(p.provider_type)
            .endpoints(&self.rp, &p.settings)
            .await
    }

    /// The redirect to the provider of a checked authorization request.
    pub async fn start_federation(&self, a: &Authorization) -> Result<FederationStart> {
        let name = a
            .identity_provider
            .as_deref()
            .ok_or_else(|| Error::invalid("no identity provider"))?;
        let p = self.get_identity_provider(&a.pool_id, name).await?;
        let ends = self.endpoints(&p).await.map_err(|e| {
            tracing::warn!(provider = %p.name, error = %e, "identity provider unreachable");
            Error::new(
                ErrorKind::ServiceUnavailable,
                "The identity provider cannot be reached",
            )
        })?;
        let (state, nonce, verifier, binding) = (
            random::token(),
            random::token(),
            random::token(),
            random::token(),
        );
        let pending = Pending {
            authorization: a.clone(),
            nonce: nonce.clone(),
            verifier: verifier.clone(),
        };
        self.store
            .insert_federation_state(&FederationState {
                id_hash: sha256_hex(state.as_bytes()),
                pool_id: a.pool_id.clone(),
                provider: p.name.clone(),
                binding_hash: sha256_hex(binding.as_bytes()),
                state: serde_json::to_string(&pending).map_err(Error::internal)?,
                expires_at: self.clock.now() + FEDERATION_TTL,
            })
            .await?;
        let kind = strategy(p.provider_type);
        let scopes = if p.settings.scopes.is_empty() {
            provider::owned(kind.default_scopes())
        } else {
            p.settings.scopes.clone()
        };
        let scope = scopes.join(kind.scope_separator());
        let redirect_uri = self.idp_response_url(&a.pool_id);
        let challenge = pkce_challenge(&verifier);
        let mut params: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", &p.settings.client_id),
            ("redirect_uri", &redirect_uri),
            ("scope", &scope),
            ("state", &state),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ];
        let extra = kind.authorize_params(&scopes, &nonce);
        params.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
        if let Some(h) = &a.login_hint {
            params.push(("login_hint", h));
        }
        Ok(FederationStart {
            location: super::authorize::redirect_with(&ends.authorize, &params),
            binding,
        })
    }

    /// This pool's callback at its providers.
    pub fn idp_response_url(&self, pool_id: &str) -> String {
        format!("{}/oauth2/idpresponse", self.issuer(pool_id))
    }

    /// The provider's answer (query or form post): the pending request of
    /// this browser, then the code exchanged, the identity verified and the
    /// pool user found, created or refreshed; a sign-in session for it.
    pub async fn finish_federation(
        &self,
        pool_id: &str,
        answer: &BTreeMap<String, String>,
        binding: Option<&str>,
    ) -> std::result::Result<(Authorization, HostedSession), FederationError> {
        let page = |m: &str| FederationError::Page(m.to_owned());
        let state = answer
            .get("state")
            .filter(|s| !s.is_empty() && s.len() <= 256)
            .ok_or_else(|| page("The answer of the sign-in service is incomplete."))?;
        let stored = self
            .store
            .take_federation_state(&sha256_hex(state.as_bytes()), self.clock.now())
            .await
            .map_err(|_| page("Signing in is not possible right now. Please try again."))?
            .filter(|f| f.pool_id == pool_id)
            .ok_or_else(|| {
                page("This sign-in has expired or was already used. Please start again.")
            })?;
        let bound = binding.is_some_and(|b| {
            ct_eq(
                sha256_hex(b.as_bytes()).as_bytes(),
                stored.binding_hash.as_bytes(),
            )
        });
        if !bound {
            return Err(page(
                "This sign-in was started in another browser. Please start again here.",
            ));
        }
        let pending: Pending = serde_json::from_str(&stored.state)
            .map_err(|_| page("Signing in is not possible right now. Please try again."))?;
        let fail = |error: &'static str, description: &str| FederationError::Redirect {
            authorization: Box::new(pending.authorization.clone()),
            error,
            description: description.to_owned(),
        };
        if let Some(e) = answer.get("error") {
            let denied = e == "access_denied";
            return Err(fail(
                if denied {
                    "access_denied"
                } else {
                    "server_error"
                },
                "The identity provider did not sign the user in",
            ));
        }
        let code = answer
            .get("code")
            .filter(|c| !c.is_empty() && c.len() <= 4096)
            .ok_or_else(|| fail("server_error", "The identity provider sent no code"))?;
        let work = async {
            self.rate_limit(pool_id, Action::SignIn).await?;
            let p = self
                .get_identity_provider(pool_id, &stored.provider)
                .await?;
            let (subject, claims) =
                self.provider_identity(&p, code, &pending)
                    .await
                    .map_err(|e| {
                        tracing::warn!(provider = %p.name, error = %e, "federated sign-in refused");
                        Error::not_authorized(
                            "The identity provider's answer could not be verified",
                        )
                    })?;
            let user = self.federated_user(&p, &subject, &claims).await?;
            if !user.enabled {
                return Err(Error::not_authorized("User is disabled."));
            }
            // A linked native user must have finished confirmation (or
            // its forced password change) first.
            if !user.status.signs_in() {
                return Err(Error::not_authorized("User is not confirmed."));
            }
            crate::audit::note_subject(&user.sub);
            metrics::counter!("poolgate_signin_total", "outcome" => "success").increment(1);
            self.new_login_session(pool_id, &user.sub).await
        };
        match self
            .audited(
                pool_id,
                "federated_sign_in",
                None,
                Some(&pending.authorization.client_id),
                work,
            )
            .await
        {
            Ok(session) => Ok((pending.authorization, session)),
            Err(e) if e.kind == ErrorKind::NotAuthorized => Err(fail("access_denied", &e.message)),
            Err(e) if e.kind == ErrorKind::TooManyRequests => Err(fail(
                "temporarily_unavailable",
                "Too many sign-ins; try again in a minute",
            )),
            Err(_) => Err(fail(
                "temporarily_unavailable",
                "The identity provider cannot be reached",
            )),
        }
    }

    /// Exchanges the code and reads who signed in: the subject and the
    /// claims (ID token, then userinfo over it, same `sub`).
    async fn provider_identity(
        &self,
        p: &IdentityProvider,
        code: &str,
        pending: &Pending,
    ) -> anyhow::Result<(String, serde_json::Map<String, Value>)> {
        let ends = self.endpoints(p).await?;
        let secret = match &p.secret_sealed {
            Some(s) => Some(String::from_utf8(
                self.idp_secrets.open(s, self.provider_aad(p).as_bytes())?,
            )?),
            None => None,
        };
        let kind = strategy(p.provider_type);
        let secret = kind.client_secret(&p.settings, secret, self.clock.now())?;
        let redirect_uri = self.idp_response_url(&p.pool_id);
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", pending.verifier.as_str()),
        ];
        let basic = kind.basic_auth(&p.settings);
        let mut req = self.rp.http().post(&ends.token);
        match (&secret, basic) {
            (Some(sec), true) => {
                // RFC 6749 section 2.3.1: form-encoded, then Basic.
                let enc = |s: &str| serde_urlencoded::to_string([("", s)]).unwrap_or_default();
                let user = enc(&p.settings.client_id);
                let pass = enc(sec);
                req = req.basic_auth(&user[1..], Some(&pass[1..]));
            }
            (Some(sec), false) => {
                form.push(("client_id", &p.settings.client_id));
                form.push(("client_secret", sec));
            }
            (None, _) => form.push(("client_id", &p.settings.client_id)),
        }
        let body = serde_urlencoded::to_string(&form)?;
        let tokens = RelyingParty::json_of(
            req.header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await?,
        )
        .await?;
        let access = tokens.get("access_token").and_then(Value::as_str);
        let mut claims = serde_json::Map::new();
        if let Some(issuer) = &ends.issuer {
            let id_token = tokens
                .get("id_token")
                .and_then(Value::as_str)
                .ok_or_else(|| anyhow::anyhow!("no id_token in the token answer"))?;
            let verified = self
                .rp
                .verify_id_token(
                    id_token,
                    issuer,
                    std::slice::from_ref(&p.settings.client_id),
                    ends.jwks_uri.as_deref(),
                )
                .await?;
            let nonce = verified.get("nonce").and_then(Value::as_str).unwrap_or("");
            if !ct_eq(nonce.as_bytes(), pending.nonce.as_bytes()) {
                anyhow::bail!("the ID token's nonce is not the one sent");
            }
            if let Value::Object(m) = verified {
                claims = m;
            }
        }
        if let (Some(url), Some(access)) = (&ends.userinfo, access) {
            let info =
                RelyingParty::json_of(self.rp.http().get(url).bearer_auth(access).send().await?)
                    .await;
            match info {
                Ok(Value::Object(info)) => {
                    if ends.issuer.is_some() && info.get("sub") != claims.get("sub") {
                        anyhow::bail!("userinfo is about another subject");
                    }
                    for (k, v) in info {
                        claims.insert(k, v);
                    }
                }
                // An OpenID provider's ID token is enough; Facebook's /me
                // is the only source.
                Ok(_) | Err(_) if ends.issuer.is_some() => {}
                Ok(_) => anyhow::bail!("userinfo is not an object"),
                Err(e) => return Err(e),
            }
        }
        let subject = claims
            .get(kind.subject_claim())
            .and_then(claim_value)
            .filter(|s| {
                !s.is_empty() && s.len() <= 255 && !s.chars().any(|c| c.is_control() || c == ' ')
            })
            .ok_or_else(|| anyhow::anyhow!("no usable subject"))?;
        Ok((subject, claims))
    }

    /// The provider's claims as pool attributes, each checked as a client
    /// write would be (a value that does not fit is left out).
    fn mapped_attributes(
        &self,
        pool: &Pool,
        p: &IdentityProvider,
        claims: &serde_json::Map<String, Value>,
    ) -> Attributes {
        let mapping = if p.settings.attribute_mapping.is_empty() {
            strategy(p.provider_type)
                .default_mapping()
                .iter()
                .map(|(a, c)| ((*a).to_owned(), (*c).to_owned()))
                .collect()
        } else {
            p.settings.attribute_mapping.clone()
        };
        let mut out = Attributes::new();
        for (attr, claim) in mapping {
            let Some(v) = claims.get(&claim).and_then(claim_value) else {
                continue;
            };
            let ok = if attr.ends_with("_verified") {
                v == "true" || v == "false"
            } else {
                let one = Attributes::from([(attr.clone(), v.clone())]);
                super::attributes::validate_write(pool, None, &one, true).is_ok()
                    || super::attributes::validate_write(pool, None, &one, false).is_ok()
            };
            if ok {
                out.insert(attr, v);
            }
        }
        out
    }

    /// The `identities` attribute (Cognito's JSON list) of a user's links.
    async fn identities_attribute(&self, pool_id: &str, sub: &str) -> Result<String> {
        let links = self.store.identities_of_user(pool_id, sub).await?;
        let providers = self.store.list_identity_providers(pool_id).await?;
        let list: Vec<Value> = links
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let t = providers
                    .iter()
                    .find(|p| p.name == l.provider)
                    .map(|p| p.provider_type.as_str())
                    .unwrap_or("OIDC");
                json!({
                    "userId": l.subject,
                    "providerName": l.provider,
                    "providerType": t,
                    "issuer": null,
                    "primary": if i == 0 { "true" } else { "false" },
                    "dateCreated": l.created_at * 1000,
                })
            })
            .collect();
        Ok(Value::Array(list).to_string())
    }

    /// The pool user a provider subject signs in as: linked (an earlier
    /// sign-in or an admin's link) and refreshed, or created now.
    async fn federated_user(
        &self,
        p: &IdentityProvider,
        subject: &str,
        claims: &serde_json::Map<String, Value>,
    ) -> Result<User> {
        let pool = self.pool(&p.pool_id).await?;
        let attrs = self.mapped_attributes(&pool, p, claims);
        let now = self.clock.now();
        for _ in 0..3 {
            if let Some(sub) = self
                .store
                .find_identity(&p.pool_id, &p.name, subject)
                .await?
                && let Some(mut user) = self.store.get_user(&p.pool_id, &sub).await?
            {
                // Attributes follow the provider at each sign-in.
                let mut changed = false;
                for (k, v) in &attrs {
                    if user.attributes.get(k) != Some(v) {
                        user.attributes.insert(k.clone(), v.clone());
                        changed = true;
                    }
                }
                let identities = self.identities_attribute(&p.pool_id, &sub).await?;
                if user.attributes.get("identities") != Some(&identities) {
                    user.attributes.insert("identities".into(), identities);
                    changed = true;
                }
                if changed {
                    user.updated_at = now;
                    self.store.update_user(&user).await?;
                }
                return Ok(user);
            }
            let username =
                super::Core::normalize_username(&pool, &format!("{}_{}", p.name, subject));
            let user = match self
                .store
                .get_user_by_username(&p.pool_id, &username)
                .await?
            {
                // Left by a sign-in that stopped before its link.
                Some(u) if u.status == UserStatus::ExternalProvider => u,
                Some(_) => {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        "A user with the federated username exists",
                    ));
                }
                None => {
                    let hook = Trigger::new(PreSignUpExternalProvider, &p.pool_id, None, &username);
                    self.hooks
                        .pre_sign_up(
                            &pool,
                            &UserEvent {
                                trigger: hook,
                                user_attributes: attrs.clone(),
                            },
                        )
                        .await?;
                    let mut attributes = attrs.clone();
                    let sub = random::uuid();
                    attributes.insert("sub".into(), sub.clone());
                    let user = User {
                        pool_id: p.pool_id.clone(),
                        sub,
                        username,
                        status: UserStatus::ExternalProvider,
                        enabled: true,
                        password_hash: None,
                        srp_sealed: None,
                        attributes,
                        created_at: now,
                        updated_at: now,
                    };
                    match self.store.create_user(&user, &[], None).await {
                        Ok(()) => user,
                        // Another sign-in of the same subject won the race.
                        Err(e) if e.kind == ErrorKind::Conflict => continue,
                        Err(e) => return Err(e),
                    }
                }
            };
            match self
                .store
                .link_identity(&UserIdentity {
                    pool_id: p.pool_id.clone(),
                    provider: p.name.clone(),
                    subject: subject.to_owned(),
                    sub: user.sub.clone(),
                    created_at: now,
                })
                .await
            {
                Ok(())
                | Err(Error {
                    kind: ErrorKind::Conflict,
                    ..
                }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::new(
            ErrorKind::ServiceUnavailable,
            "Signing in is busy; try again",
        ))
    }

    /// `AdminLinkProviderForUser`: the provider subject signs in as this
    /// (native or federated) user from now on. A subject that already has
    /// a user of its own cannot be merged (as Cognito).
    pub async fn link_identity(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        username: &str,
        req: LinkIdentity,
    ) -> Result<User> {
        let linked = format!("{}:{}", req.provider, req.subject);
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "AdminLinkProviderForUser",
                Target::user(pool_id, username).object("identity", &linked),
                self.link_identity_flow(pool_id, username, req),
            )
            .await
    }

    async fn link_identity_flow(
        &self,
        pool_id: &str,
        username: &str,
        req: LinkIdentity,
    ) -> Result<User> {
        let pool = self.pool(pool_id).await?;
        self.get_identity_provider(pool_id, &req.provider).await?;
        if req.subject.is_empty() || req.subject.len() > 255 {
            return Err(Error::invalid("subject must be 1-255 characters"));
        }
        let user = self
            .find_user(&pool, username)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::UserNotFound, "User does not exist."))?;
        if self
            .store
            .find_identity(pool_id, &req.provider, &req.subject)
            .await?
            .is_some()
        {
            return Err(Error::new(
                ErrorKind::Conflict,
                "This identity already belongs to a user; merging users is not supported",
            ));
        }
        let federated =
            super::Core::normalize_username(&pool, &format!("{}_{}", req.provider, req.subject));
        if self
            .store
            .get_user_by_username(pool_id, &federated)
            .await?
            .is_some()
        {
            return Err(Error::new(
                ErrorKind::Conflict,
                "This identity already has a user of its own; merging users is not supported",
            ));
        }
        self.store
            .link_identity(&UserIdentity {
                pool_id: pool_id.to_owned(),
                provider: req.provider.clone(),
                subject: req.subject.clone(),
                sub: user.sub.clone(),
                created_at: self.clock.now(),
            })
            .await?;
        self.refresh_identities(pool_id, &user.sub).await
    }

    /// `AdminDisableProviderForUser`: the subject no longer signs in as
    /// its user.
    pub async fn unlink_identity(
        &self,
        admin: &AdminCtx,
        pool_id: &str,
        provider: &str,
        subject: &str,
    ) -> Result<()> {
        admin
            .audited(
                &*self.store,
                &*self.clock,
                "AdminDisableProviderForUser",
                Target::pool(pool_id).object("identity", &format!("{provider}:{subject}")),
                self.unlink_identity_flow(pool_id, provider, subject),
            )
            .await
    }

    async fn unlink_identity_flow(
        &self,
        pool_id: &str,
        provider: &str,
        subject: &str,
    ) -> Result<()> {
        self.pool(pool_id).await?;
        let sub = self
            .store
            .find_identity(pool_id, provider, subject)
            .await?
            .ok_or_else(|| Error::not_found("Linked identity"))?;
        self.store
            .unlink_identity(pool_id, provider, subject)
            .await?;
        self.refresh_identities(pool_id, &sub).await?;
        Ok(())
    }

    async fn refresh_identities(&self, pool_id: &str, sub: &str) -> Result<User> {
        let mut user = self
            .store
            .get_user(pool_id, sub)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::UserNotFound, "User does not exist."))?;
        let identities = self.identities_attribute(pool_id, sub).await?;
        if identities == "[]" {
            user.attributes.remove("identities");
        } else {
            user.attributes.insert("identities".into(), identities);
        }
        user.updated_at = self.clock.now();
        self.store.update_user(&user).await?;
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::apple::{APPLE_ISSUER, apple_client_secret};
    use super::*;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};

    #[test]
    fn apple_client_secret_is_an_es256_jwt_apple_can_verify() {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        );
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der.as_ref()).unwrap();
        let point = pair.public_key().as_ref();
        let enc = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let key =
            jsonwebtoken::DecodingKey::from_ec_components(&enc(&point[1..33]), &enc(&point[33..]))
                .unwrap();
        let settings = ProviderSettings {
            client_id: "com.example.web".into(),
            apple_team_id: Some("TEAM123456".into()),
            apple_key_id: Some("KEY1234567".into()),
            ..ProviderSettings::default()
        };
        let now = 1_900_000_000;
        let jwt = apple_client_secret(&settings, &pem, now).unwrap();
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), Some("KEY1234567"));
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        v.set_audience(&[APPLE_ISSUER]);
        v.validate_exp = false;
        let claims = jsonwebtoken::decode::<Value>(&jwt, &key, &v)
            .unwrap()
            .claims;
        assert_eq!(claims["iss"], "TEAM123456");
        assert_eq!(claims["sub"], "com.example.web");
        assert_eq!(claims["exp"].as_i64(), Some(now + 300));
        assert!(apple_client_secret(&settings, "not a key", now).is_err());
    }

    #[test]
    fn claims_become_attribute_values_only_when_scalar() {
        assert_eq!(claim_value(&json!("a")), Some("a".into()));
        assert_eq!(claim_value(&json!(true)), Some("true".into()));
        assert_eq!(claim_value(&json!(42)), Some("42".into()));
        assert_eq!(claim_value(&json!({"x": 1})), None);
        assert_eq!(claim_value(&json!(["a"])), None);
        assert!(check_provider_name("Corp-SSO_1.x").is_ok());
        for bad in ["", "COGNITO", "a b", "x/y", &"n".repeat(33)] {
            assert!(check_provider_name(bad).is_err(), "{bad}");
        }
        assert!(check_endpoint("u", "https://idp.example.com/x").is_ok());
        assert!(check_endpoint("u", "http://127.0.0.1:8080/x").is_ok());
        assert!(check_endpoint("u", "http://idp.example.com/x").is_err());
        assert!(check_endpoint("u", "file:///etc/passwd").is_err());
    }
}

//! The relying-party side of OpenID Connect, shared by identity pools
//! (provider tokens presented in `Logins`) and user-pool federation
//! (sign-in through an external identity provider): discovery and JWKS
//! documents fetched and cached, ID tokens verified against them.

use crate::cache::TtlCache;
use crate::clock::SharedClock;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Largest provider document read (discovery, JWKS, token and userinfo
/// answers).
const MAX_DOCUMENT: usize = 256 * 1024;

pub struct RelyingParty {
    http: reqwest::Client,
    /// Discovery and JWKS documents by URL.
    documents: TtlCache<String, Value>,
    clock: SharedClock,
}

impl RelyingParty {
    pub fn new(clock: SharedClock) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("HTTP client"),
            documents: TtlCache::new(Duration::from_secs(600), 1000),
            clock,
        }
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A JSON answer of at most [`MAX_DOCUMENT`] bytes.
    pub async fn json_of(resp: reqwest::Response) -> anyhow::Result<Value> {
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT as u64)
        {
            anyhow::bail!("provider answer too large");
        }
        let status = resp.status();
        let bytes = resp.bytes().await?;
        if bytes.len() > MAX_DOCUMENT {
            anyhow::bail!("provider answer too large");
        }
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|_| anyhow::anyhow!("provider answered {status} without JSON"))?;
        if !status.is_success() {
            let e = v.get("error").and_then(Value::as_str).unwrap_or("?");
            anyhow::bail!("provider answered {status} ({e})");
        }
        Ok(v)
    }

    /// A document by URL, from the cache unless `refresh`.
    pub async fn document(&self, url: &str, refresh: bool) -> anyhow::Result<Arc<Value>> {
        if !refresh && let Some(v) = self.documents.get(&url.to_owned()) {
            return Ok(v);
        }
        let doc = Self::json_of(self.http.get(url).send().await?).await?;
        Ok(self.documents.put(url.to_owned(), doc))
    }

    /// The issuer's OpenID Connect discovery document; its `issuer` must be
    /// the one asked for (OpenID Connect Discovery 1.0 section 4.3).
    pub async fn discovery(&self, issuer: &str) -> anyhow::Result<Arc<Value>> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let doc = self.document(&url, false).await?;
        if doc.get("issuer").and_then(Value::as_str) != Some(issuer) {
            anyhow::bail!("discovery document names another issuer");
        }
        Ok(doc)
    }

    /// Verifies an OIDC ID token against the provider's JWKS: the key by
    /// `kid` (the JWKS fetched again once for an unknown one), the algorithm
    /// fixed by the key type (RS256 or ES256; never `none` or HMAC), `iss`
    /// exact, `aud` allowed, `exp`/`nbf` within 30 s, an `iat` no later
    /// than 30 s ahead.
    pub async fn verify_id_token(
        &self,
        token: &str,
        issuer: &str,
        audiences: &[String],
        jwks_uri: Option<&str>,
    ) -> anyhow::Result<Value> {
        let header = jsonwebtoken::decode_header(token)?;
        let jwks_url = match jwks_uri {
            Some(u) => u.to_owned(),
            None => self
                .discovery(issuer)
                .await?
                .get("jwks_uri")
                .and_then(Value::as_str)
                .ok_or_else(|| anyhow::anyhow!("discovery has no jwks_uri"))?
                .to_owned(),
        };
        let kid = header.kid.clone();
        let find = |doc: &Value| -> Option<jsonwebtoken::jwk::Jwk> {
            let keys = doc.get("keys")?.as_array()?;
            let pick = match &kid {
                Some(kid) => keys
                    .iter()
                    .find(|k| k.get("kid").and_then(Value::as_str) == Some(kid.as_str())),
                // Without a kid, only a JWKS of one key is unambiguous.
                None if keys.len() == 1 => keys.first(),
                None => None,
            };
            pick.and_then(|k| serde_json::from_value(k.clone()).ok())
        };
        let jwk = match find(&*self.document(&jwks_url, false).await?) {
            Some(k) => k,
            None => find(&*self.document(&jwks_url, true).await?)
                .ok_or_else(|| anyhow::anyhow!("unknown kid"))?,
        };
        use jsonwebtoken::jwk::AlgorithmParameters;
        let alg = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => jsonwebtoken::Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(_) => jsonwebtoken::Algorithm::ES256,
            _ => anyhow::bail!("unsupported key type"),
        };
        if header.alg != alg {
            anyhow::bail!("algorithm not allowed for this key");
        }
        let key = jsonwebtoken::DecodingKey::from_jwk(&jwk)?;
        let mut v = jsonwebtoken::Validation::new(alg);
        v.leeway = 30;
        v.validate_nbf = true;
        v.set_issuer(&[issuer]);
        v.set_audience(audiences);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Value>(token, &key, &v)?;
        let exp = data.claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
        if exp + 30 < self.clock.now() {
            anyhow::bail!("expired");
        }
        if let Some(iat) = data.claims.get("iat")
            && iat.as_i64().is_none_or(|iat| iat > self.clock.now() + 30)
        {
            anyhow::bail!("issued in the future");
        }
        Ok(data.claims)
    }
}

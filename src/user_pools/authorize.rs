//! The authorization-code flow (RFC 6749 section 4.1, OpenID Connect Core
//! 3.1) with PKCE (RFC 7636): authorization requests checked against the
//! client's registration, single-use codes bound to client, redirect URI and
//! challenge, the hosted pages' sign-in sessions (single sign-on across a
//! pool's clients), the code exchange, and userInfo.
//!
//! A code is self-contained: what it grants, sealed (XChaCha20-Poly1305
//! under a key derived from the master key, the pool as associated data),
//! so issuing one writes nothing. Its single use is the refresh family its
//! exchange creates: the family's id is a MAC of the code's random id, and
//! the store takes a family id once, so of two exchanges of one code
//! exactly one inserts the family; the other (or a replay later) revokes it
//! (A3).

use super::UserPools;
use super::auth::{PoolBudget, Settled};
use super::limits::Action;
use super::oauth::{ClientAuth, OAuthError, OAuthTokens};
use crate::crypto::{ct_eq, random, sha256_hex};
use crate::error::{Error, Result};
use crate::model::*;
use base64::Engine;
use sha2::Digest;
use std::collections::BTreeMap;

/// Authorization codes live 5 minutes (A3: at most 10).
pub const CODE_TTL: i64 = 300;
/// A hosted-pages sign-in lasts an hour, as Cognito's session cookie.
pub const LOGIN_SESSION_TTL: i64 = 3600;

/// Sealed codes start with this (a format version).
const CODE_PREFIX: &str = "c1.";

/// What an authorization code grants, sealed into the code itself.
#[derive(serde::Serialize, serde::Deserialize)]
struct CodeGrant {
    /// Random: names the refresh family the exchange creates.
    id: String,
    client_id: String,
    sub: String,
    redirect_uri: String,
    scope: String,
    nonce: Option<String>,
    /// BASE64URL(SHA-256(code_verifier)).
    code_challenge: Option<String>,
    auth_time: i64,
    expires_at: i64,
}

/// Why an authorization request is refused.
#[derive(Debug)]
pub enum AuthorizeError {
    /// The client or its redirect URI cannot be trusted: the browser is
    /// told on a page and never redirected (no open redirect, A1).
    Page(String),
    /// Reported to the client at its (verified) redirect URI.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: String,
    },
}

/// A checked authorization request.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Authorization {
    pub pool_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    /// `login` (sign in again) or `none` (never show a page).
    pub prompt: Option<String>,
    pub login_hint: Option<String>,
    /// An external identity provider to sign in with (not `COGNITO`).
    pub identity_provider: Option<String>,
}

/// What a hosted-pages sign-in led to.
pub enum HostedSignIn {
    Session(HostedSession),
    /// A further step first: a new password (an admin-set temporary one),
    /// a second factor, or setting one up.
    Challenge(super::auth::Challenge),
}

/// A hosted-pages sign-in that succeeded.
pub struct HostedSession {
    /// The cookie value (the store keeps its hash).
    pub token: String,
    pub sub: String,
    pub auth_time: i64,
}

fn b64url_sha256(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(s.as_bytes()))
}

/// RFC 7636 section 4.1: 43-128 characters of `[A-Za-z0-9-._~]`.
fn valid_pkce_string(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
}

/// `redirect_uri` with the response parameters appended to its query.
pub fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let encoded = serde_urlencoded::to_string(params).unwrap_or_default();
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    format!("{redirect_uri}{sep}{encoded}")
}

impl UserPools {
    /// Checks an authorization request (the query of `/oauth2/authorize`)
    /// against the client's registration: exact redirect URI, the `code`
    /// grant, response type, scopes, PKCE (S256 only; required for clients
    /// without a secret).
    pub async fn check_authorize(
        &self,
        pool_id: &str,
        q: &BTreeMap<String, String>,
    ) -> std::result::Result<Authorization, AuthorizeError> {
        let page = |m: &str| AuthorizeError::Page(m.to_owned());
        self.pool(pool_id)
            .await
            .map_err(|_| page("This sign-in page does not exist."))?;
        let client_id = q
            .get("client_id")
            .ok_or_else(|| page("The application did not say who it is (client_id)."))?;
        let client = self
            .client(pool_id, client_id)
            .await
            .map_err(|_| page("The application is not known here."))?;
        let redirect_uri = q
            .get("redirect_uri")
            .ok_or_else(|| page("The application did not say where to return (redirect_uri)."))?;
        // A1: exact string match, nothing normalised.
        if !client
            .settings
            .callback_urls
            .iter()
            .any(|u| u == redirect_uri)
        {
            return Err(page(
                "The application asked to return to an address it has not registered.",
            ));
        }
        let state = q.get("state").cloned();
        let fail = |error: &'static str, description: &str| AuthorizeError::Redirect {
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            error,
            description: description.to_owned(),
        };
        if !client
            .settings
            .allowed_oauth_flows
            .iter()
            .any(|f| f == "code")
        {
            return Err(fail(
                "unauthorized_client",
                "The client may not use the authorization code grant",
            ));
        }
        match q.get("response_type").map(String::as_str) {
            Some("code") => {}
            None => return Err(fail("invalid_request", "response_type is required")),
            Some(_) => {
                return Err(fail(
                    "unsupported_response_type",
                    "Only response_type=code is supported",
                ));
            }
        }
        if q.get("response_mode").is_some_and(|m| m != "query") {
            return Err(fail(
                "invalid_request",
                "Only response_mode=query is supported",
            ));
        }
        let identity_provider = match q.get("identity_provider").map(String::as_str) {
            None | Some("COGNITO") => None,
            Some(p) => {
                let supported = client
                    .settings
                    .supported_identity_providers
                    .iter()
                    .any(|s| s == p);
                let exists = supported
                    && self
                        .store
                        .get_identity_provider(pool_id, p)
                        .await
                        .ok()
                        .flatten()
                        .is_some();
                if !exists {
                    return Err(fail(
                        "invalid_request",
                        "The identity provider is not available to this client",
                    ));
                }
                Some(p.to_owned())
            }
        };
        let prompt = q.get("prompt").cloned();
        if prompt
            .as_deref()
            .is_some_and(|p| !matches!(p, "login" | "none" | "consent"))
        {
            return Err(fail(
                "invalid_request",
                "prompt must be login, none or consent",
            ));
        }
        let allowed = &client.settings.allowed_oauth_scopes;
        let scopes: Vec<String> = match q.get("scope").map(|s| s.trim()).filter(|s| !s.is_empty()) {
            None => allowed.clone(),
            Some(s) => {
                let mut out: Vec<String> = vec![];
                for sc in s.split(' ').filter(|x| !x.is_empty()) {
                    if !allowed.iter().any(|a| a == sc) {
                        return Err(fail(
                            "invalid_scope",
                            &format!("The scope {sc} is not allowed for this client"),
                        ));
                    }
                    if !out.iter().any(|o| o == sc) {
                        out.push(sc.to_owned());
                    }
                }
                out
            }
        };
        if !scopes.iter().any(|s| s == "openid") {
            return Err(fail("invalid_scope", "The openid scope is required"));
        }
        // A2: S256 only; required for public clients.
        let challenge = q.get("code_challenge").cloned();
        match (
            challenge.as_deref(),
            q.get("code_challenge_method").map(String::as_str),
        ) {
            (None, None) if client.secret_sealed.is_some() => {}
            (None, _) => {
                return Err(fail(
                    "invalid_request",
                    "PKCE is required: send code_challenge with code_challenge_method=S256",
                ));
            }
            (Some(c), Some("S256")) if c.len() == 43 && valid_pkce_string_43(c) => {}
            (Some(_), Some("S256")) => {
                return Err(fail(
                    "invalid_request",
                    "code_challenge is not a S256 challenge",
                ));
            }
            (Some(_), _) => {
                return Err(fail(
                    "invalid_request",
                    "code_challenge_method must be S256",
                ));
            }
        }
        for (k, max) in [("state", 2048), ("nonce", 512), ("login_hint", 256)] {
            if q.get(k).is_some_and(|v| v.len() > max) {
                return Err(fail("invalid_request", &format!("{k} is too long")));
            }
        }
        Ok(Authorization {
            pool_id: pool_id.to_owned(),
            client_id: client.id.clone(),
            redirect_uri: redirect_uri.clone(),
            scope: scopes.join(" "),
            state,
            nonce: q.get("nonce").cloned(),
            code_challenge: challenge,
            prompt,
            login_hint: q.get("login_hint").cloned(),
            identity_provider,
        })
    }

    /// A code for the signed-in user, and the redirect that carries it
    /// (with `state` and `iss`, A6).
    pub async fn issue_code(&self, a: &Authorization, sub: &str, auth_time: i64) -> Result<String> {
        let grant = CodeGrant {
            id: random::token(),
            client_id: a.client_id.clone(),
            sub: sub.to_owned(),
            redirect_uri: a.redirect_uri.clone(),
            scope: a.scope.clone(),
            nonce: a.nonce.clone(),
            code_challenge: a.code_challenge.clone(),
            auth_time,
            expires_at: self.clock.now() + CODE_TTL,
        };
        let json = serde_json::to_vec(&grant).map_err(Error::internal)?;
        let code = format!(
            "{CODE_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(self.oauth_codes.seal(&json, a.pool_id.as_bytes()))
        );
        let iss = self.issuer(&a.pool_id);
        let mut params = vec![("code", code.as_str())];
        if let Some(s) = &a.state {
            params.push(("state", s.as_str()));
        }
        params.push(("iss", iss.as_str()));
        Ok(redirect_with(&a.redirect_uri, &params))
    }

    /// Signs a user in on the hosted pages for a client allowed the code
    /// grant: the password path of every sign-in (throttle, rate limits,
    /// audit), ending in a sign-in session instead of tokens.
    pub async fn hosted_sign_in(
        &self,
        pool_id: &str,
        client_id: &str,
        username: &str,
        password: &str,
    ) -> Result<HostedSignIn> {
        let work = async {
            let pool = self.pool(pool_id).await?;
            // The pool-wide budget is spent in `verify_password` (G2).
            self.rate_limit_source(pool_id, Action::SignIn).await?;
            let client = self
                .store
                .get_client(pool_id, client_id)
                .await?
                .ok_or_else(|| Error::not_found("App client"))?;
            let v = self
                .verify_password(&pool, client_id, username, password, PoolBudget::Due)
                .await?;
            match self
                .settle_sign_in(&pool, &client, v.user, v.throttle, Some(v.upgrade))
                .await?
            {
                Settled::Challenge(c) => Ok(HostedSignIn::Challenge(c)),
                Settled::Ready(user) => {
                    self.post_authentication(&pool, client_id, &user).await?;
                    metrics::counter!("poolgate_signin_total", "outcome" => "success").increment(1);
                    Ok(HostedSignIn::Session(
                        self.new_login_session(pool_id, &user.sub).await?,
                    ))
                }
            }
        };
        let work = self.audited(
            pool_id,
            "HostedSignIn",
            Some(username),
            Some(client_id),
            work,
        );
        self.admitted(pool_id, username, work).await
    }

    /// The user of a hosted-pages session cookie: (sub, auth_time) while
    /// the session lasts and the user is enabled and confirmed.
    /// Whether a challenge session can still be answered.
    pub async fn challenge_alive(&self, pool_id: &str, client_id: &str, session: &str) -> bool {
        let (Ok(pool), Ok(client)) = (
            self.pool(pool_id).await,
            self.client(pool_id, client_id).await,
        ) else {
            return false;
        };
        self.challenge_session(&pool, &client, session)
            .await
            .is_ok()
    }

    /// Answers a challenge on the hosted pages: the next step, or a
    /// sign-in session.
    pub async fn hosted_answer(
        &self,
        pool_id: &str,
        client_id: &str,
        session: &str,
        challenge_name: &str,
        responses: &BTreeMap<String, String>,
    ) -> Result<HostedSignIn> {
        let work = async {
            let pool = self.pool(pool_id).await?;
            self.rate_limit(pool_id, Action::SignIn).await?;
            let client = self.client(pool_id, client_id).await?;
            match self
                .answer_challenge(&pool, &client, session, challenge_name, responses)
                .await?
            {
                Settled::Challenge(c) => Ok(HostedSignIn::Challenge(c)),
                Settled::Ready(user) => {
                    self.post_authentication(&pool, client_id, &user).await?;
                    metrics::counter!("poolgate_signin_total", "outcome" => "success").increment(1);
                    Ok(HostedSignIn::Session(
                        self.new_login_session(pool_id, &user.sub).await?,
                    ))
                }
            }
        };
        self.audited(pool_id, "RespondToChallenge", None, Some(client_id), work)
            .await
    }

    /// Starts a hosted-pages sign-in session for a user who just proved
    /// who they are.
    pub(crate) async fn new_login_session(
        &self,
        pool_id: &str,
        sub: &str,
    ) -> Result<HostedSession> {
        let token = random::token();
        let now = self.clock.now();
        self.store
            .insert_login_session(&LoginSession {
                id_hash: sha256_hex(token.as_bytes()),
                pool_id: pool_id.to_owned(),
                sub: sub.to_owned(),
                auth_time: now,
                expires_at: now + LOGIN_SESSION_TTL,
            })
            .await?;
        Ok(HostedSession {
            token,
            sub: sub.to_owned(),
            auth_time: now,
        })
    }

    pub async fn login_session(&self, pool_id: &str, token: &str) -> Option<(String, i64)> {
        if token.is_empty() || token.len() > 256 {
            return None;
        }
        let s = self
            .store
            .get_login_session(&sha256_hex(token.as_bytes()))
            .await
            .ok()
            .flatten()?;
        if s.pool_id != pool_id || s.expires_at <= self.clock.now() {
            return None;
        }
        let user = self.store.get_user(pool_id, &s.sub).await.ok().flatten()?;
        (user.enabled && user.status.signs_in()).then_some((s.sub, s.auth_time))
    }

    /// Whether a logout's `id_token_hint` lets the session end without the
    /// user confirming: an ID token of this pool and client (signature,
    /// issuer, times) whose `sub` is the user of the browser's session
    /// (`session`: its cookie). Without a live session there is nothing to
    /// end, and a valid hint suffices. Another user's token never ends a
    /// session (A7).
    pub async fn logout_hint_ends_session(
        &self,
        pool_id: &str,
        client_id: &str,
        hint: &str,
        session: Option<&str>,
    ) -> bool {
        let issuer = self.issuer(pool_id);
        let Ok(claims) = self
            .keys
            .verify::<serde_json::Value>(pool_id, hint, &issuer)
            .await
        else {
            return false;
        };
        if claims["aud"] != client_id || claims["token_use"] != "id" {
            return false;
        }
        match session {
            Some(token) => match self.login_session(pool_id, token).await {
                Some((sub, _)) => claims["sub"] == sub.as_str(),
                None => true,
            },
            None => true,
        }
    }

    /// A CSRF token for a hosted form: a nonce and a MAC binding it to the
    /// pool and to the browser's sign-in session (its cookie; none before
    /// sign-in), so the token of one session is refused in another.
    pub fn csrf_token(&self, pool_id: &str, session: Option<&str>) -> String {
        let nonce = random::token();
        let mac = self.csrf_mac(pool_id, session, &nonce);
        format!("{nonce}.{mac}")
    }

    /// Whether `token` was issued by [`Self::csrf_token`] for this pool and
    /// session.
    pub fn csrf_valid(&self, pool_id: &str, session: Option<&str>, token: &str) -> bool {
        match token.split_once('.') {
            Some((nonce, mac)) if !nonce.is_empty() && token.len() <= 256 => {
                let want = self.csrf_mac(pool_id, session, nonce);
                ct_eq(want.as_bytes(), mac.as_bytes())
            }
            _ => false,
        }
    }

    fn csrf_mac(&self, pool_id: &str, session: Option<&str>, nonce: &str) -> String {
        let session = session.unwrap_or_default();
        self.codes.mac_hex(&[
            b"hosted-csrf",
            pool_id.as_bytes(),
            session.as_bytes(),
            nonce.as_bytes(),
        ])
    }

    /// Drops the hosted sign-in sessions that expired; returns how many.
    pub async fn purge_login_sessions(&self) -> Result<u64> {
        self.store.purge_login_sessions(self.clock.now()).await
    }

    pub async fn end_login_session(&self, token: &str) -> Result<()> {
        if !token.is_empty() && token.len() <= 256 {
            self.store
                .delete_login_session(&sha256_hex(token.as_bytes()))
                .await?;
        }
        Ok(())
    }

    /// `grant_type=authorization_code`: the code, once, by its client, with
    /// its redirect URI and PKCE verifier. A second use revokes what the
    /// first issued (A3).
    pub async fn code_grant(
        &self,
        pool_id: &str,
        auth: &ClientAuth,
        code: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
    ) -> std::result::Result<OAuthTokens, OAuthError> {
        let pool = self
            .pool(pool_id)
            .await
            .map_err(|_| OAuthError::new("invalid_client", "Client authentication failed"))?;
        let client = self.oauth_client(pool_id, auth).await?;
        let invalid = |m: &str| OAuthError::new("invalid_grant", m);
        let stored = code
            .strip_prefix(CODE_PREFIX)
            .filter(|c| c.len() <= 2048)
            .and_then(|c| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(c)
                    .ok()
            })
            .and_then(|sealed| self.oauth_codes.open(&sealed, pool_id.as_bytes()).ok())
            .and_then(|json| serde_json::from_slice::<CodeGrant>(&json).ok())
            .filter(|g| g.client_id == client.id)
            .ok_or_else(|| invalid("The authorization code is invalid"))?;
        let now = self.clock.now();
        // The family this exchange creates: its id is the code's single use.
        let family_id = self.code_family_id(&stored.id);
        if stored.expires_at <= now {
            // A late replay still revokes what the first use issued.
            self.store
                .revoke_family(&family_id, now)
                .await
                .map_err(server_error)?;
            return Err(invalid("The authorization code has expired"));
        }
        if redirect_uri != Some(stored.redirect_uri.as_str()) {
            return Err(invalid(
                "redirect_uri does not match the authorization request",
            ));
        }
        match (&stored.code_challenge, verifier) {
            (Some(challenge), Some(v)) => {
                if !valid_pkce_string(v)
                    || !ct_eq(b64url_sha256(v).as_bytes(), challenge.as_bytes())
                {
                    return Err(invalid("The code_verifier does not match the challenge"));
                }
            }
            (Some(_), None) => return Err(invalid("code_verifier is required")),
            // A verifier without a challenge: a PKCE downgrade (RFC 9700 4.8).
            (None, Some(_)) => {
                return Err(invalid("No code_challenge was sent with this code"));
            }
            (None, None) => {}
        }
        let (user, groups) = self
            .store
            .get_user_with_groups(pool_id, &stored.sub)
            .await
            .map_err(server_error)?
            .filter(|(u, _)| u.enabled && u.status.signs_in())
            .ok_or_else(|| invalid("The user can no longer sign in"))?;
        let set = match self
            .sessions
            .start_session_in(
                &pool,
                &client,
                &user,
                Some(groups),
                stored.auth_time,
                Some(stored.scope.clone()),
                stored.nonce.as_deref(),
                family_id.clone(),
            )
            .await
        {
            Ok((set, _)) => set,
            Err(e) if e.kind == crate::error::ErrorKind::Conflict => {
                // The family exists: the code was used before.
                self.store
                    .revoke_family(&family_id, now)
                    .await
                    .map_err(server_error)?;
                tracing::warn!(pool_id, client_id = %client.id, "authorization code replayed; its tokens are revoked");
                return Err(invalid("The authorization code was already used"));
            }
            Err(e) => return Err(server_error(e)),
        };
        metrics::counter!("poolgate_oauth_tokens_total", "grant" => "authorization_code")
            .increment(1);
        Ok(OAuthTokens {
            access_token: set.access_token,
            id_token: Some(set.id_token),
            refresh_token: set.refresh_token,
            token_type: "Bearer",
            expires_in: set.expires_in,
            scope: None,
        })
    }

    /// The refresh family a code's exchange creates (UUID-shaped, version
    /// 8: a MAC of the code's id, so nobody can aim a code at a family).
    fn code_family_id(&self, code_id: &str) -> String {
        let mac = hex::decode(self.codes.mac_hex(&[b"code-family", code_id.as_bytes()]))
            .unwrap_or_default();
        let mut b = [0u8; 16];
        b.copy_from_slice(&mac[..16]);
        b[6] = (b[6] & 0x0f) | 0x80;
        b[8] = (b[8] & 0x3f) | 0x80;
        uuid::Uuid::from_bytes(b).to_string()
    }

    /// OpenID Connect userInfo: the claims the access token's scopes open
    /// (`openid`: sub; `email`, `phone`, `profile`; the Cognito admin scope:
    /// everything the client may read).
    pub async fn userinfo(
        &self,
        access_token: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>> {
        let a = self
            .sessions
            .authenticate_access_token(access_token)
            .await?;
        let scopes: Vec<&str> = a.claims.scope.split(' ').collect();
        if !scopes.contains(&"openid") && !scopes.contains(&"aws.cognito.signin.user.admin") {
            return Err(Error::not_authorized(
                "The access token has no openid scope",
            ));
        }
        let client = self
            .store
            .get_client(&a.pool.id, &a.claims.client_id)
            .await?;
        let readable = super::attributes::readable(client.as_ref(), &a.user.attributes);
        let everything = scopes.contains(&"aws.cognito.signin.user.admin");
        let mut out = serde_json::Map::new();
        for (k, v) in readable {
            let open = everything
                || match k.as_str() {
                    "email" | "email_verified" => scopes.contains(&"email"),
                    "phone_number" | "phone_number_verified" => scopes.contains(&"phone"),
                    "sub" => true,
                    _ => scopes.contains(&"profile"),
                };
            if open {
                let value = match k.as_str() {
                    "email_verified" | "phone_number_verified" => (v == "true").into(),
                    _ => v.into(),
                };
                out.insert(k, value);
            }
        }
        out.insert("sub".into(), a.user.sub.clone().into());
        out.insert("username".into(), a.user.username.clone().into());
        Ok(out)
    }
}

fn valid_pkce_string_43(c: &str) -> bool {
    c.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn server_error(e: Error) -> OAuthError {
    tracing::error!(error = ?e.source, message = %e.message, "token endpoint failure");
    OAuthError::new("server_error", "internal error")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_an_independent_computation() {
        let verifier = "M25iVXpKU3puUjFaYWg3T1NDTDQtcW1ROUY5YXlwalNoc0hhakxifmZHag";
        assert!(valid_pkce_string(verifier));
        assert_eq!(
            b64url_sha256(verifier),
            "qjrzSW9gMiUgpUvqgEPE4_-8swvyCtfOVvg55o5S_es"
        );
        assert!(!valid_pkce_string("short"));
        assert!(!valid_pkce_string(&"a".repeat(129)));
        assert!(!valid_pkce_string(&format!("{}!", "a".repeat(50))));
    }

    #[test]
    fn redirects_keep_the_registered_query() {
        assert_eq!(
            redirect_with("https://app.example/cb", &[("code", "c"), ("state", "a b")]),
            "https://app.example/cb?code=c&state=a+b"
        );
        assert_eq!(
            redirect_with("https://app.example/cb?x=1", &[("code", "c")]),
            "https://app.example/cb?x=1&code=c"
        );
    }
}

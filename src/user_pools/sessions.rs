//! Sessions: refresh-token families (start, rotate, revoke), the tokens
//! they issue under the pool's signing keys, and the verification of the
//! tokens this server issued (access tokens for the signed-in user's
//! endpoints, ID tokens for identity pools).
//!
//! Takes: the shared [`Core`] (store, clock, issuer), [`Clients`] (client
//! authentication), the signing-key ring and the refresh reuse grace.

use super::auth::{Authenticated, Me, Refresh, Revoke};
use super::hooks::{SharedHooks, TokenEvent, TokenOutcome, Trigger, TriggerSource::*};
use super::{Clients, Core};
use crate::crypto::keys::KeyRing;
use crate::crypto::{random, sha256_hex};
use crate::error::{Error, Result};
use crate::model::*;
use crate::tokens::{AccessClaims, Issue, TokenSet};
use std::sync::Arc;

/// Why an ID token of this server was refused (identity pools word each
/// their own way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdTokenRefusal {
    /// Not our signature, issuer or lifetime; or the user is gone or disabled.
    Invalid,
    /// A token of this server, but not an ID token.
    NotIdToken,
    /// Issued to an app client the caller does not accept.
    AudienceNotAllowed,
    /// The sign-in behind it was revoked.
    Revoked,
}

#[derive(Clone)]
pub struct Sessions {
    core: Arc<Core>,
    clients: Clients,
    pub keys: Arc<KeyRing>,
    /// `tokens.refresh_reuse_grace_secs`.
    pub(crate) reuse_grace_secs: i64,
    /// The pre token generation hook (`UserPools::with_hooks`).
    pub(crate) hooks: SharedHooks,
}

impl std::ops::Deref for Sessions {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.core
    }
}

impl Sessions {
    pub fn new(
        core: Arc<Core>,
        clients: Clients,
        keys: Arc<KeyRing>,
        reuse_grace_secs: i64,
    ) -> Self {
        Self {
            core,
            clients,
            keys,
            reuse_grace_secs,
            hooks: Arc::new(super::hooks::PoolRules),
        }
    }

    /// Starts a refresh-token family and issues the first token set.
    pub async fn start_session(
        &self,
        pool: &Pool,
        client: &AppClient,
        user: &User,
    ) -> Result<TokenSet> {
        let now = self.clock.now();
        self.start_session_with(pool, client, user, now, None, None)
            .await
            .map(|(set, _)| set)
    }

    /// A new refresh family and its first tokens; `scope` and `nonce` come
    /// from an authorization request (the ID token then carries `nonce`
    /// and `at_hash`). Returns the family id too.
    pub(crate) async fn start_session_with(
        &self,
        pool: &Pool,
        client: &AppClient,
        user: &User,
        auth_time: i64,
        scope: Option<String>,
        nonce: Option<&str>,
    ) -> Result<(TokenSet, String)> {
        self.start_session_in(
            pool,
            client,
            user,
            None,
            auth_time,
            scope,
            nonce,
            random::uuid(),
        )
        .await
    }

    /// The same, with the family id chosen by the caller.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn start_session_in(
        &self,
        pool: &Pool,
        client: &AppClient,
        user: &User,
        groups: Option<Vec<Group>>,
        auth_time: i64,
        scope: Option<String>,
        nonce: Option<&str>,
        family_id: String,
    ) -> Result<(TokenSet, String)> {
        let now = self.clock.now();
        let validity = client
            .settings
            .token_validity
            .unwrap_or(pool.settings.token_validity);
        let family = TokenFamily {
            id: family_id,
            pool_id: pool.id.clone(),
            sub: user.sub.clone(),
            client_id: client.id.clone(),
            auth_time,
            created_at: now,
            expires_at: now + validity.refresh_token_secs,
            revoked_at: None,
            scope,
        };
        let refresh = random::token();
        self.store
            .create_family(&family, &sha256_hex(refresh.as_bytes()))
            .await?;
        let groups = match groups {
            Some(g) => g,
            None => self.store.groups_of_user(&pool.id, &user.sub).await?,
        };
        let source = if family.scope.is_some() {
            TokenGenerationHostedAuth
        } else {
            TokenGenerationAuthentication
        };
        let mut set = self
            .issue(pool, client, user, &family, &groups, nonce, source)
            .await?;
        set.refresh_token = Some(refresh);
        Ok((set, family.id))
    }

    #[allow(clippy::too_many_arguments)]
    async fn issue(
        &self,
        pool: &Pool,
        client: &AppClient,
        user: &User,
        family: &TokenFamily,
        groups: &[Group],
        nonce: Option<&str>,
        source: super::hooks::TriggerSource,
    ) -> Result<TokenSet> {
        let validity = client
            .settings
            .token_validity
            .unwrap_or(pool.settings.token_validity);
        let issuer = self.issuer(&pool.id);
        let issue = Issue {
            issuer: &issuer,
            user,
            client,
            family_id: &family.id,
            auth_time: family.auth_time,
            now: self.clock.now(),
            access_ttl: validity.access_token_secs,
            id_ttl: validity.id_token_secs,
            groups,
            scope: family
                .scope
                .clone()
                .unwrap_or_else(|| "aws.cognito.signin.user.admin".into()),
        };
        let hook = Trigger::new(source, &pool.id, Some(&client.id), &user.username);
        let overrides = self
            .hooks
            .pre_token_generation(
                pool,
                &TokenEvent {
                    trigger: hook,
                    user_attributes: user.attributes.clone(),
                    groups: groups.iter().map(|g| g.name.clone()).collect(),
                    scopes: issue.scope.split(' ').map(str::to_owned).collect(),
                },
            )
            .await?;
        let event_id = random::uuid();
        let key = self.keys.signing_key(&pool.id).await?;
        let access_token = if overrides == TokenOutcome::default() {
            key.sign(&issue.access_claims(&event_id))?
        } else {
            key.sign(&overrides.access(&issue.access_claims(&event_id))?)?
        };
        let mut id_claims = issue.id_claims(&event_id);
        overrides.apply_id(&mut id_claims);
        if family.scope.is_some() {
            // OpenID Connect Core 3.1.3.6: the left half of SHA-256 of the
            // access token (RS256 and ES256 both hash with SHA-256).
            use base64::Engine;
            use sha2::Digest;
            let digest = sha2::Sha256::digest(access_token.as_bytes());
            id_claims.insert(
                "at_hash".into(),
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(&digest[..16])
                    .into(),
            );
        }
        if let Some(n) = nonce {
            id_claims.insert("nonce".into(), n.into());
        }
        Ok(TokenSet {
            id_token: key.sign(&id_claims)?,
            access_token,
            refresh_token: None,
            token_type: "Bearer".into(),
            expires_in: validity.access_token_secs,
        })
    }

    #[tracing::instrument(skip_all, fields(pool_id = %pool_id, client_id = %req.client_id))]
    pub async fn refresh(&self, pool_id: &str, req: Refresh) -> Result<TokenSet> {
        let pool = self.pool(pool_id).await?;
        let client = self
            .clients
            .authenticate_client(pool_id, &req.client_id, &req.client_secret)
            .await?;
        if !client.allows_flow("ALLOW_REFRESH_TOKEN_AUTH") {
            return Err(Error::invalid(
                "Refresh token flow not enabled for this client",
            ));
        }
        let invalid = || Error::not_authorized("Invalid Refresh Token");
        if req.refresh_token.is_empty() || req.refresh_token.len() > 512 {
            return Err(invalid());
        }
        let hash = sha256_hex(req.refresh_token.as_bytes());
        // Token, family, user and groups in one round trip: the hot path.
        let crate::store::RefreshSession {
            token,
            family,
            user,
            groups,
        } = self
            .store
            .get_refresh_session(&hash)
            .await?
            .ok_or_else(invalid)?;
        // Bound to its pool and client (RFC 6749 §6).
        if family.pool_id != pool.id || family.client_id != client.id {
            return Err(invalid());
        }
        let now = self.clock.now();
        if family.revoked_at.is_some() {
            return Err(Error::not_authorized("Refresh Token has been revoked"));
        }
        if family.expires_at <= now {
            return Err(Error::not_authorized("Refresh Token has expired"));
        }
        if let Some(used) = token.used_at {
            if now - used > self.reuse_grace_secs {
                // A rotated-out token came back: assume theft, kill the family.
                self.store.revoke_family(&family.id, now).await?;
                metrics::counter!("poolgate_refresh_reuse_total").increment(1);
                tracing::warn!(family = %family.id, "refresh token reuse detected; family revoked");
            }
            return Err(invalid());
        }
        if !user.enabled || !user.status.signs_in() {
            return Err(Error::not_authorized("User is disabled."));
        }
        let mut set;
        if client.settings.refresh_token_rotation {
            let next = random::token();
            let record = RefreshTokenRecord {
                token_hash: sha256_hex(next.as_bytes()),
                family_id: family.id.clone(),
                created_at: now,
                used_at: None,
            };
            if !self.store.rotate_refresh_token(&hash, &record, now).await? {
                // Lost the race against a concurrent refresh of the same token.
                return Err(invalid());
            }
            set = self
                .issue(
                    &pool,
                    &client,
                    &user,
                    &family,
                    &groups,
                    None,
                    TokenGenerationRefreshTokens,
                )
                .await?;
            set.refresh_token = Some(next);
        } else {
            set = self
                .issue(
                    &pool,
                    &client,
                    &user,
                    &family,
                    &groups,
                    None,
                    TokenGenerationRefreshTokens,
                )
                .await?;
        }
        metrics::counter!("poolgate_refresh_total").increment(1);
        Ok(set)
    }

    /// Revokes the family of a refresh token (RFC 7009: unknown tokens are
    /// not an error).
    pub async fn revoke(&self, pool_id: &str, req: Revoke) -> Result<()> {
        self.pool(pool_id).await?;
        let client = self
            .clients
            .authenticate_client(pool_id, &req.client_id, &req.client_secret)
            .await?;
        if !client.settings.enable_token_revocation {
            return Err(Error::invalid(
                "Token revocation is not enabled for this client",
            ));
        }
        if req.token.len() > 512 {
            return Ok(());
        }
        if let Some((_, family)) = self
            .store
            .get_refresh_token(&sha256_hex(req.token.as_bytes()))
            .await?
        {
            if family.client_id != client.id || family.pool_id != pool_id {
                return Err(Error::not_authorized(
                    "Token does not belong to this client",
                ));
            }
            self.store
                .revoke_family(&family.id, self.clock.now())
                .await?;
        }
        Ok(())
    }

    /// Verifies an access token: our signature, our issuer, `token_use =
    /// access`, a live family, an enabled user.
    pub async fn authenticate_access_token(&self, token: &str) -> Result<Authenticated> {
        let unauthorized = || Error::not_authorized("Invalid or expired access token");
        // The issuer picks the pool (and so the keys); it is verified below.
        let unverified: serde_json::Value = jsonwebtoken::dangerous::insecure_decode(token)
            .map(|d| d.claims)
            .map_err(|_| unauthorized())?;
        let iss = unverified
            .get("iss")
            .and_then(|v| v.as_str())
            .ok_or_else(unauthorized)?;
        let pool_id = self
            .pool_id_from_issuer(iss)
            .ok_or_else(unauthorized)?
            .to_owned();
        let issuer = self.issuer(&pool_id);
        let claims: AccessClaims =
            self.keys
                .verify(&pool_id, token, &issuer)
                .await
                .map_err(|e| {
                    tracing::debug!(error = %e, "access token refused");
                    unauthorized()
                })?;
        if claims.token_use != "access" {
            return Err(unauthorized());
        }
        let pool = self.pool(&pool_id).await.map_err(|_| unauthorized())?;
        let family = self.store.get_family(&claims.origin_jti).await?;
        if family.is_none_or(|f| f.revoked_at.is_some() || f.sub != claims.sub) {
            return Err(Error::not_authorized("Access Token has been revoked"));
        }
        let user = self
            .store
            .get_user(&pool_id, &claims.sub)
            .await?
            .ok_or_else(unauthorized)?;
        crate::audit::note_subject(&user.sub);
        if !user.enabled {
            return Err(Error::not_authorized("User is disabled."));
        }
        Ok(Authenticated { pool, user, claims })
    }

    /// Verifies an ID token of pool `pool_id` for a relying service (the
    /// identity pools): our signature and issuer, `token_use = id`, an
    /// audience among `client_ids`, a live sign-in (family) of the same
    /// user, an enabled user. Returns the token's claims.
    pub async fn verify_id_token(
        &self,
        pool_id: &str,
        token: &str,
        client_ids: &[String],
    ) -> Result<std::result::Result<serde_json::Value, IdTokenRefusal>> {
        use serde_json::Value;
        let issuer = self.issuer(pool_id);
        let claims: Value = match self.keys.verify(pool_id, token, &issuer).await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "login token refused");
                return Ok(Err(IdTokenRefusal::Invalid));
            }
        };
        let s = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or("");
        if s("token_use") != "id" {
            return Ok(Err(IdTokenRefusal::NotIdToken));
        }
        if !client_ids.iter().any(|c| c == s("aud")) {
            return Ok(Err(IdTokenRefusal::AudienceNotAllowed));
        }
        let family = self.store.get_family(s("origin_jti")).await?;
        if family.is_none_or(|f| f.revoked_at.is_some() || f.sub != s("sub")) {
            return Ok(Err(IdTokenRefusal::Revoked));
        }
        let user = self.store.get_user(pool_id, s("sub")).await?;
        if !user.is_some_and(|u| u.enabled) {
            return Ok(Err(IdTokenRefusal::Invalid));
        }
        Ok(Ok(claims))
    }

    pub fn me(&self, a: &Authenticated) -> Me {
        Me {
            username: a.user.username.clone(),
            sub: a.user.sub.clone(),
            status: a.user.status,
            enabled: a.user.enabled,
            attributes: super::attributes::public(&a.user.attributes),
            created_at: a.user.created_at,
            updated_at: a.user.updated_at,
        }
    }
}

//! OAuth 2.0 grants at a pool's `/oauth2/token` (RFC 6749) and token
//! revocation at `/oauth2/revoke` (RFC 7009): the client-credentials grant
//! for machine-to-machine callers, with resource-server scopes, and the
//! refresh-token grant over the same refresh families as the native API.
//! Errors are RFC 6749's (section 5.2), not the domain's: `invalid_client`
//! is about who is calling, `invalid_grant` about what they present.

use super::UserPools;
use crate::error::{Error, ErrorKind};
use crate::model::AppClient;
use serde::Serialize;
use std::sync::Arc;

/// An RFC 6749 error answer.
#[derive(Debug)]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `invalid_grant`,
    /// `unauthorized_client`, `unsupported_grant_type`, `invalid_scope`,
    /// `server_error`, `temporarily_unavailable`.
    pub error: &'static str,
    pub description: String,
    /// The client authenticated with HTTP Basic: a 401 carries
    /// `WWW-Authenticate: Basic`.
    pub basic: bool,
}

impl OAuthError {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
            basic: false,
        }
    }

    pub fn status(&self) -> u16 {
        match self.error {
            "invalid_client" => 401,
            "server_error" => 500,
            "temporarily_unavailable" => 503,
            _ => 400,
        }
    }
}

/// A domain error met while serving a grant whose client is already
/// authenticated: about the presented grant, or the server's own.
fn grant_error(e: Error) -> OAuthError {
    match e.kind {
        ErrorKind::Internal => {
            tracing::error!(error = ?e.source, "token endpoint failure");
            OAuthError::new("server_error", "internal error")
        }
        ErrorKind::ServiceUnavailable | ErrorKind::TooManyRequests => {
            OAuthError::new("temporarily_unavailable", e.message)
        }
        ErrorKind::InvalidParameter => OAuthError::new("invalid_request", e.message),
        _ => OAuthError::new("invalid_grant", e.message),
    }
}

/// How the client authenticated (RFC 6749 section 2.3.1).
#[derive(Debug, Clone)]
pub struct ClientAuth {
    pub client_id: String,
    pub secret: Option<String>,
    /// By `Authorization: Basic` (rather than the request body).
    pub basic: bool,
}

/// The token endpoint's answer (RFC 6749 section 5.1).
#[derive(Debug, Clone, Serialize)]
pub struct OAuthTokens {
    pub access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// Access-token claims of the client-credentials grant (Cognito's: the
/// client is the subject; no user, no `username`, so these tokens are never
/// taken for a user's).
#[derive(Debug, Serialize)]
struct ClientAccessClaims<'a> {
    sub: &'a str,
    token_use: &'static str,
    scope: &'a str,
    auth_time: i64,
    iss: &'a str,
    exp: i64,
    iat: i64,
    version: u8,
    jti: String,
    client_id: &'a str,
}

impl UserPools {
    /// The calling client, authenticated; every failure is `invalid_client`
    /// (unknown client and wrong secret alike).
    pub async fn oauth_client(
        &self,
        pool_id: &str,
        auth: &ClientAuth,
    ) -> Result<Arc<AppClient>, OAuthError> {
        let refused = |m: &str| OAuthError {
            error: "invalid_client",
            description: m.to_owned(),
            basic: auth.basic,
        };
        match self
            .clients
            .authenticate_client(pool_id, &auth.client_id, &auth.secret.clone().into())
            .await
        {
            Ok(c) => Ok(c),
            Err(e) if e.kind == ErrorKind::Internal => Err(grant_error(e)),
            Err(_) => Err(refused("Client authentication failed")),
        }
    }

    /// `grant_type=client_credentials`: an access token for the client
    /// itself, with the custom scopes it asked for (all it may have when it
    /// names none), each allowed to the client and declared by a resource
    /// server of the pool.
    pub async fn client_credentials_grant(
        &self,
        pool_id: &str,
        auth: &ClientAuth,
        scope: Option<&str>,
    ) -> Result<OAuthTokens, OAuthError> {
        self.pool(pool_id)
            .await
            .map_err(|_| OAuthError::new("invalid_client", "Client authentication failed"))?;
        let client = self.oauth_client(pool_id, auth).await?;
        if client.secret_sealed.is_none()
            || !client
                .settings
                .allowed_oauth_flows
                .iter()
                .any(|f| f == "client_credentials")
        {
            return Err(OAuthError::new(
                "unauthorized_client",
                "The client may not use the client_credentials grant",
            ));
        }
        let declared: Vec<String> = self
            .store
            .list_resource_servers(pool_id, None, super::resource_servers::MAX_RESOURCE_SERVERS)
            .await
            .map_err(grant_error)?
            .into_iter()
            .flat_map(|rs| {
                let id = rs.identifier;
                rs.scopes
                    .into_iter()
                    .map(move |s| format!("{id}/{}", s.name))
            })
            .collect();
        let grantable: Vec<&String> = client
            .settings
            .allowed_oauth_scopes
            .iter()
            .filter(|s| declared.contains(s))
            .collect();
        let granted: Vec<String> = match scope.map(str::trim).filter(|s| !s.is_empty()) {
            None => grantable.iter().map(|s| (*s).clone()).collect(),
            Some(requested) => {
                let mut out: Vec<String> = vec![];
                for s in requested.split(' ').filter(|s| !s.is_empty()) {
                    if !grantable.iter().any(|g| *g == s) {
                        return Err(OAuthError::new(
                            "invalid_scope",
                            format!("The scope {s} is not allowed for this client"),
                        ));
                    }
                    if !out.iter().any(|o| o == s) {
                        out.push(s.to_owned());
                    }
                }
                out
            }
        };
        if granted.is_empty() {
            return Err(OAuthError::new(
                "invalid_scope",
                "The client has no custom scope to grant",
            ));
        }
        let pool = self.pool(pool_id).await.map_err(grant_error)?;
        let ttl = client
            .settings
            .token_validity
            .unwrap_or(pool.settings.token_validity)
            .access_token_secs;
        let now = self.clock.now();
        let scope = granted.join(" ");
        let issuer = self.issuer(pool_id);
        let claims = ClientAccessClaims {
            sub: &client.id,
            token_use: "access",
            scope: &scope,
            auth_time: now,
            iss: &issuer,
            exp: now + ttl,
            iat: now,
            version: 2,
            jti: crate::crypto::random::uuid(),
            client_id: &client.id,
        };
        let key = self.keys.signing_key(pool_id).await.map_err(grant_error)?;
        let access_token = key.sign(&claims).map_err(grant_error)?;
        metrics::counter!("poolgate_oauth_tokens_total", "grant" => "client_credentials")
            .increment(1);
        Ok(OAuthTokens {
            access_token,
            id_token: None,
            refresh_token: None,
            token_type: "Bearer",
            expires_in: ttl,
            scope: None,
        })
    }

    /// `grant_type=refresh_token`: the same refresh as the native API (reuse
    /// detection, rotation when the client rotates), after the client
    /// authenticated.
    pub async fn refresh_grant(
        &self,
        pool_id: &str,
        auth: &ClientAuth,
        refresh_token: &str,
    ) -> Result<OAuthTokens, OAuthError> {
        self.pool(pool_id)
            .await
            .map_err(|_| OAuthError::new("invalid_client", "Client authentication failed"))?;
        self.oauth_client(pool_id, auth).await?;
        let t = self
            .sessions
            .refresh(
                pool_id,
                super::auth::Refresh {
                    client_id: auth.client_id.clone(),
                    client_secret: auth.secret.clone().into(),
                    refresh_token: refresh_token.to_owned(),
                },
            )
            .await
            .map_err(grant_error)?;
        metrics::counter!("poolgate_oauth_tokens_total", "grant" => "refresh_token").increment(1);
        Ok(OAuthTokens {
            access_token: t.access_token,
            id_token: Some(t.id_token),
            refresh_token: t.refresh_token,
            token_type: "Bearer",
            expires_in: t.expires_in,
            scope: None,
        })
    }

    /// RFC 7009 revocation of a refresh token (its whole family). An
    /// unknown token is not an error (section 2.2); another client's is.
    pub async fn oauth_revoke(
        &self,
        pool_id: &str,
        auth: &ClientAuth,
        token: &str,
    ) -> Result<(), OAuthError> {
        self.pool(pool_id)
            .await
            .map_err(|_| OAuthError::new("invalid_client", "Client authentication failed"))?;
        self.oauth_client(pool_id, auth).await?;
        match self
            .sessions
            .revoke(
                pool_id,
                super::auth::Revoke {
                    client_id: auth.client_id.clone(),
                    client_secret: auth.secret.clone().into(),
                    token: token.to_owned(),
                },
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.kind == ErrorKind::Internal => Err(grant_error(e)),
            Err(e) if e.kind == ErrorKind::InvalidParameter => {
                Err(OAuthError::new("unsupported_token_type", e.message))
            }
            // Another client's token: refused (RFC 7009 section 2.1).
            Err(e) if e.kind == ErrorKind::NotAuthorized => {
                Err(OAuthError::new("invalid_grant", e.message))
            }
            Err(e) => Err(grant_error(e)),
        }
    }
}

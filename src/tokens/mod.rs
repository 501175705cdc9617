//! Token formats: the claims of ID and access tokens (Cognito's), and the
//! opaque refresh token. Each purpose has its own `token_use` and its own
//! check, so an ID token is never accepted where an access token is due.

use crate::model::{AppClient, Group, User};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Access-token claims (Cognito's set).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    pub sub: String,
    pub iss: String,
    pub client_id: String,
    pub origin_jti: String,
    pub event_id: String,
    pub token_use: String,
    pub scope: String,
    pub auth_time: i64,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub username: String,
    #[serde(
        rename = "cognito:groups",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub groups: Vec<String>,
}

/// What a sign-in or refresh produced, before signing.
pub struct Issue<'a> {
    pub issuer: &'a str,
    pub user: &'a User,
    pub client: &'a AppClient,
    pub family_id: &'a str,
    pub auth_time: i64,
    pub now: i64,
    pub access_ttl: i64,
    pub id_ttl: i64,
    /// The user's groups in token order (precedence, then name).
    pub groups: &'a [Group],
    pub scope: String,
}

impl Issue<'_> {
    fn group_names(&self) -> Vec<String> {
        self.groups.iter().map(|g| g.name.clone()).collect()
    }

    /// Roles of the user's groups, and the preferred one: the role of the
    /// first group in precedence order that has one (Cognito's rule).
    fn roles(&self) -> (Vec<String>, Option<String>) {
        let roles: Vec<String> = self
            .groups
            .iter()
            .filter_map(|g| g.role_arn.clone())
            .collect();
        let preferred = roles.first().cloned();
        (roles, preferred)
    }

    pub fn access_claims(&self, event_id: &str) -> AccessClaims {
        AccessClaims {
            sub: self.user.sub.clone(),
            iss: self.issuer.to_owned(),
            client_id: self.client.id.clone(),
            origin_jti: self.family_id.to_owned(),
            event_id: event_id.to_owned(),
            token_use: "access".into(),
            scope: self.scope.clone(),
            auth_time: self.auth_time,
            exp: self.now + self.access_ttl,
            iat: self.now,
            jti: crate::crypto::random::uuid(),
            username: self.user.username.clone(),
            groups: self.group_names(),
        }
    }

    /// ID-token claims: identity claims plus the attributes the client may
    /// read. `*_verified` are booleans, as Cognito emits them.
    pub fn id_claims(&self, event_id: &str) -> Map<String, Value> {
        let mut m = Map::new();
        let readable = crate::model::attributes::readable(Some(self.client), &self.user.attributes);
        for (k, v) in &readable {
            let value = match k.as_str() {
                "email_verified" | "phone_number_verified" => Value::Bool(v == "true"),
                "updated_at" => v
                    .parse::<i64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::String(v.clone())),
                // Cognito's list of linked provider identities.
                "identities" => {
                    serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.clone()))
                }
                _ => Value::String(v.clone()),
            };
            m.insert(k.clone(), value);
        }
        m.insert("sub".into(), self.user.sub.clone().into());
        m.insert("iss".into(), self.issuer.into());
        m.insert("aud".into(), self.client.id.clone().into());
        m.insert("token_use".into(), "id".into());
        m.insert("cognito:username".into(), self.user.username.clone().into());
        m.insert("auth_time".into(), self.auth_time.into());
        m.insert("exp".into(), (self.now + self.id_ttl).into());
        m.insert("iat".into(), self.now.into());
        m.insert("jti".into(), crate::crypto::random::uuid().into());
        m.insert("origin_jti".into(), self.family_id.into());
        m.insert("event_id".into(), event_id.into());
        if !self.groups.is_empty() {
            m.insert("cognito:groups".into(), self.group_names().into());
        }
        let (roles, preferred) = self.roles();
        if !roles.is_empty() {
            m.insert("cognito:roles".into(), roles.into());
        }
        if let Some(p) = preferred {
            m.insert("cognito:preferred_role".into(), p.into());
        }
        m
    }
}

/// The tokens answered by sign-in and refresh.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenSet {
    pub id_token: String,
    pub access_token: String,
    /// Absent on refresh when the client does not rotate refresh tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub token_type: String,
    /// Access-token lifetime in seconds.
    pub expires_in: i64,
}

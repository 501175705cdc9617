//! The app clients of a user pool (SigV4-signed with an admin key).
//!
//! Create and Update build the native `ClientSettings` from the members the
//! request names; Update keeps what it does not name.

use super::super::Fault;
use super::super::op::{Empty, Operation};
use super::super::wire::{bad, page_size, required};
use crate::app::AppState;
use crate::audit::AdminCtx;
use crate::model::{AppClient, ClientSettings, Pool, TokenValidity};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub(in super::super) const OPS: &[Operation] = &[
    admin!(UserPools, "CreateUserPoolClient", create_client),
    admin!(UserPools, "DescribeUserPoolClient", describe_client),
    admin!(UserPools, "UpdateUserPoolClient", update_client),
    admin!(UserPools, "DeleteUserPoolClient", delete_client),
    admin!(UserPools, "ListUserPoolClients", list_clients),
];

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct TokenValidityUnits {
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RefreshTokenRotationIn {
    #[serde(default)]
    feature: Option<String>,
}

/// Create/UpdateUserPoolClient. Members this server cannot honour are
/// refused by name (`other`).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ClientIn {
    #[serde(default)]
    user_pool_id: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_name: Option<String>,
    #[serde(default)]
    generate_secret: Option<bool>,
    #[serde(default)]
    refresh_token_validity: Option<i64>,
    #[serde(default)]
    access_token_validity: Option<i64>,
    #[serde(default)]
    id_token_validity: Option<i64>,
    #[serde(default)]
    token_validity_units: Option<TokenValidityUnits>,
    #[serde(default)]
    read_attributes: Option<Vec<String>>,
    #[serde(default)]
    write_attributes: Option<Vec<String>>,
    #[serde(default)]
    explicit_auth_flows: Option<Vec<String>>,
    #[serde(default)]
    enable_token_revocation: Option<bool>,
    #[serde(default)]
    refresh_token_rotation: Option<RefreshTokenRotationIn>,
    /// Accepted; sign-in sessions last 3 minutes here.
    #[serde(default)]
    #[allow(dead_code)]
    auth_session_validity: Option<IgnoredAny>,
    #[serde(default)]
    prevent_user_existence_errors: Option<String>,
    #[serde(default)]
    supported_identity_providers: Option<Vec<String>>,
    #[serde(default)]
    enable_propagate_additional_user_context_data: Option<bool>,
    #[serde(default)]
    analytics_configuration: Option<BTreeMap<String, IgnoredAny>>,
    #[serde(default)]
    allowed_o_auth_flows: Option<Vec<String>>,
    #[serde(default)]
    allowed_o_auth_scopes: Option<Vec<String>>,
    /// Accepted: the flows say whether OAuth is on.
    #[serde(default)]
    #[allow(dead_code)]
    allowed_o_auth_flows_user_pool_client: Option<IgnoredAny>,
    #[serde(default, rename = "CallbackURLs")]
    callback_urls: Option<Vec<String>>,
    #[serde(default, rename = "LogoutURLs")]
    logout_urls: Option<Vec<String>>,
    #[serde(default, rename = "DefaultRedirectURI")]
    default_redirect_uri: Option<String>,
    #[serde(flatten)]
    other: BTreeMap<String, IgnoredAny>,
}

/// Cognito's legacy flow names mean the ALLOW_ forms.
fn auth_flow(f: String) -> String {
    match f.as_str() {
        "ADMIN_NO_SRP_AUTH" => "ALLOW_ADMIN_USER_PASSWORD_AUTH".into(),
        "USER_PASSWORD_AUTH" => "ALLOW_USER_PASSWORD_AUTH".into(),
        "CUSTOM_AUTH_FLOW_ONLY" => "ALLOW_CUSTOM_AUTH".into(),
        _ => f,
    }
}

/// Seconds of `n` in `unit` (Cognito's default unit when none is named).
fn secs(
    member: &str,
    n: Option<i64>,
    unit: Option<&str>,
    default: &str,
    base: i64,
) -> Result<i64, Fault> {
    let Some(n) = n else { return Ok(base) };
    let mult = match unit.unwrap_or(default) {
        "seconds" => 1,
        "minutes" => 60,
        "hours" => 3600,
        "days" => 86400,
        other => return Err(bad(format!("Unknown token validity unit {other}"))),
    };
    n.checked_mul(mult)
        .ok_or_else(|| bad(format!("{member} is too large")))
}

impl ClientIn {
    /// What this server cannot honour, refused by name.
    fn refuse_unsupported(&self, pool: &Pool) -> Result<(), Fault> {
        if let Some(k) = self.other.keys().next() {
            return Err(bad(format!("{k} is not supported by this server")));
        }
        if let Some(v) = &self.prevent_user_existence_errors {
            let pool_value = if pool.settings.prevent_user_existence_errors {
                "ENABLED"
            } else {
                "LEGACY"
            };
            if v != pool_value {
                return Err(bad(format!(
                    "PreventUserExistenceErrors is a pool setting here ({pool_value}); change it on the pool"
                )));
            }
        }
        if self.enable_propagate_additional_user_context_data == Some(true) {
            return Err(bad(
                "EnablePropagateAdditionalUserContextData is not supported by this server",
            ));
        }
        if self
            .analytics_configuration
            .as_ref()
            .is_some_and(|a| !a.is_empty())
        {
            return Err(bad(
                "AnalyticsConfiguration is not supported by this server",
            ));
        }
        if let Some(uri) = &self.default_redirect_uri {
            let listed = self.callback_urls.as_ref().is_some_and(|l| l.contains(uri));
            if !listed {
                return Err(bad("DefaultRedirectURI must be one of the CallbackURLs"));
            }
        }
        Ok(())
    }

    /// The client's settings: `base` with what the request names.
    fn settings(
        self,
        pool: &Pool,
        mut base: ClientSettings,
        new: bool,
    ) -> Result<ClientSettings, Fault> {
        self.refuse_unsupported(pool)?;
        match self.explicit_auth_flows {
            Some(flows) => base.explicit_auth_flows = flows.into_iter().map(auth_flow).collect(),
            // Cognito's default for a new client.
            None if new => {
                base.explicit_auth_flows = vec![
                    "ALLOW_REFRESH_TOKEN_AUTH".into(),
                    "ALLOW_USER_SRP_AUTH".into(),
                    "ALLOW_CUSTOM_AUTH".into(),
                ]
            }
            None => {}
        }
        let lists = [
            (self.callback_urls, &mut base.callback_urls),
            (self.logout_urls, &mut base.logout_urls),
            (
                self.supported_identity_providers,
                &mut base.supported_identity_providers,
            ),
            (self.allowed_o_auth_flows, &mut base.allowed_oauth_flows),
            (self.allowed_o_auth_scopes, &mut base.allowed_oauth_scopes),
            (self.read_attributes, &mut base.read_attributes),
            (self.write_attributes, &mut base.write_attributes),
        ];
        for (named, setting) in lists {
            if let Some(v) = named {
                *setting = v;
            }
        }
        if let Some(v) = self.enable_token_revocation {
            base.enable_token_revocation = v;
        }
        match self.refresh_token_rotation.map(|r| r.feature) {
            Some(Some(f)) if f == "ENABLED" => base.refresh_token_rotation = true,
            Some(Some(f)) if f == "DISABLED" => base.refresh_token_rotation = false,
            Some(Some(other)) => return Err(bad(format!("Unknown RefreshTokenRotation {other}"))),
            Some(None) => base.refresh_token_rotation = false,
            // Cognito's default for a new client (the native API's is on).
            None if new => base.refresh_token_rotation = false,
            None => {}
        }
        let (r, a, i) = (
            self.refresh_token_validity,
            self.access_token_validity,
            self.id_token_validity,
        );
        if r.is_some() || a.is_some() || i.is_some() {
            let b: TokenValidity = base.token_validity.unwrap_or(pool.settings.token_validity);
            let u = self.token_validity_units.unwrap_or_default();
            base.token_validity = Some(TokenValidity {
                refresh_token_secs: secs(
                    "RefreshTokenValidity",
                    r,
                    u.refresh_token.as_deref(),
                    "days",
                    b.refresh_token_secs,
                )?,
                access_token_secs: secs(
                    "AccessTokenValidity",
                    a,
                    u.access_token.as_deref(),
                    "hours",
                    b.access_token_secs,
                )?,
                id_token_secs: secs(
                    "IdTokenValidity",
                    i,
                    u.id_token.as_deref(),
                    "hours",
                    b.id_token_secs,
                )?,
            });
        }
        Ok(base)
    }
}

/// A lifetime in the largest Cognito unit that holds it exactly.
fn validity(secs: i64) -> (i64, &'static str) {
    for (unit, n) in [("days", 86400), ("hours", 3600), ("minutes", 60)] {
        if secs % n == 0 {
            return (secs / n, unit);
        }
    }
    (secs, "seconds")
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TokenValidityUnitsOut {
    refresh_token: &'static str,
    access_token: &'static str,
    id_token: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RefreshTokenRotationOut {
    feature: &'static str,
    retry_grace_period_seconds: i64,
}

/// Cognito's `UserPoolClientType` (with the secret: Describe shows it to
/// the admin, as Cognito does).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UserPoolClientType {
    user_pool_id: String,
    client_name: String,
    client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    creation_date: i64,
    last_modified_date: i64,
    refresh_token_validity: i64,
    access_token_validity: i64,
    id_token_validity: i64,
    token_validity_units: TokenValidityUnitsOut,
    read_attributes: Vec<String>,
    write_attributes: Vec<String>,
    explicit_auth_flows: Vec<String>,
    supported_identity_providers: Vec<String>,
    allowed_o_auth_flows_user_pool_client: bool,
    allowed_o_auth_flows: Vec<String>,
    allowed_o_auth_scopes: Vec<String>,
    #[serde(rename = "CallbackURLs")]
    callback_urls: Vec<String>,
    #[serde(rename = "LogoutURLs")]
    logout_urls: Vec<String>,
    enable_token_revocation: bool,
    enable_propagate_additional_user_context_data: bool,
    auth_session_validity: i64,
    prevent_user_existence_errors: &'static str,
    refresh_token_rotation: RefreshTokenRotationOut,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ClientOut {
    user_pool_client: UserPoolClientType,
}

fn client_out(s: &AppState, p: &Pool, c: AppClient) -> Result<ClientOut, Fault> {
    let client_secret = s.pools.client_view(&c)?.client_secret;
    let t = c
        .settings
        .token_validity
        .unwrap_or(p.settings.token_validity);
    let (refresh, refresh_unit) = validity(t.refresh_token_secs);
    let (access, access_unit) = validity(t.access_token_secs);
    let (id, id_unit) = validity(t.id_token_secs);
    let st = c.settings;
    let on_off = |on: bool| if on { "ENABLED" } else { "DISABLED" };
    let user_pool_client = UserPoolClientType {
        user_pool_id: c.pool_id,
        client_name: c.name,
        client_id: c.id,
        client_secret,
        creation_date: c.created_at,
        last_modified_date: c.updated_at,
        refresh_token_validity: refresh,
        access_token_validity: access,
        id_token_validity: id,
        token_validity_units: TokenValidityUnitsOut {
            refresh_token: refresh_unit,
            access_token: access_unit,
            id_token: id_unit,
        },
        read_attributes: st.read_attributes,
        write_attributes: st.write_attributes,
        explicit_auth_flows: st.explicit_auth_flows,
        supported_identity_providers: st.supported_identity_providers,
        allowed_o_auth_flows_user_pool_client: !st.allowed_oauth_flows.is_empty(),
        allowed_o_auth_flows: st.allowed_oauth_flows,
        allowed_o_auth_scopes: st.allowed_oauth_scopes,
        callback_urls: st.callback_urls,
        logout_urls: st.logout_urls,
        enable_token_revocation: st.enable_token_revocation,
        enable_propagate_additional_user_context_data: false,
        auth_session_validity: 3,
        prevent_user_existence_errors: if p.settings.prevent_user_existence_errors {
            "ENABLED"
        } else {
            "LEGACY"
        },
        refresh_token_rotation: RefreshTokenRotationOut {
            feature: on_off(st.refresh_token_rotation),
            retry_grace_period_seconds: 0,
        },
    };
    Ok(ClientOut { user_pool_client })
}

async fn create_client(
    s: &AppState,
    admin: &AdminCtx,
    mut i: ClientIn,
) -> Result<ClientOut, Fault> {
    let p = s
        .pools
        .pool(&required(i.user_pool_id.take(), "UserPoolId")?)
        .await?;
    let name = i.client_name.take();
    let generate_secret = i.generate_secret.take().unwrap_or(false);
    let settings = i.settings(&p, ClientSettings::default(), true)?;
    let req = crate::user_pools::admin::CreateClient {
        name: required(name, "ClientName")?,
        generate_secret,
        settings,
    };
    let c = s.pools.create_client(admin, &p.id, req).await?;
    client_out(s, &p, c)
}

/// A request that names one client.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PoolClient {
    #[serde(default)]
    user_pool_id: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
}

async fn describe_client(
    s: &AppState,
    _admin: &AdminCtx,
    i: PoolClient,
) -> Result<ClientOut, Fault> {
    let p = s
        .pools
        .pool(&required(i.user_pool_id, "UserPoolId")?)
        .await?;
    let c = s
        .pools
        .get_client(&p.id, &required(i.client_id, "ClientId")?)
        .await?;
    client_out(s, &p, c)
}

async fn update_client(
    s: &AppState,
    admin: &AdminCtx,
    mut i: ClientIn,
) -> Result<ClientOut, Fault> {
    let p = s
        .pools
        .pool(&required(i.user_pool_id.take(), "UserPoolId")?)
        .await?;
    let old = s
        .pools
        .get_client(&p.id, &required(i.client_id.take(), "ClientId")?)
        .await?;
    // A secret is made at creation only; GenerateSecret is ignored here.
    let name = i.client_name.take();
    let settings = i.settings(&p, old.settings.clone(), false)?;
    let c = s
        .pools
        .replace_client(admin, &p.id, &old.id, name, settings)
        .await?;
    client_out(s, &p, c)
}

async fn delete_client(s: &AppState, admin: &AdminCtx, i: PoolClient) -> Result<Empty, Fault> {
    let pool = required(i.user_pool_id, "UserPoolId")?;
    let client = required(i.client_id, "ClientId")?;
    s.pools.delete_client(admin, &pool, &client).await?;
    Ok(Empty {})
}

/// Cognito's `UserPoolClientDescription`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ClientDescription {
    client_id: String,
    user_pool_id: String,
    client_name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListOut {
    user_pool_clients: Vec<ClientDescription>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

async fn list_clients(
    s: &AppState,
    _admin: &AdminCtx,
    i: super::super::wire::PoolPage,
) -> Result<ListOut, Fault> {
    let p = s
        .pools
        .pool(&required(i.user_pool_id, "UserPoolId")?)
        .await?;
    let max = page_size(i.max_results, "MaxResults", 60, false)?;
    let after = i.next_token.unwrap_or_default();
    let mut clients = s.pools.clients.list_clients(&p.id).await?;
    clients.sort_by(|a, b| a.id.cmp(&b.id));
    let more = clients.last().map(|c| c.id.clone());
    let page: Vec<AppClient> = clients
        .into_iter()
        .filter(|c| c.id > after)
        .take(max as usize)
        .collect();
    let next_token = match page.last() {
        Some(last) if page.len() as i64 == max && more.as_ref() != Some(&last.id) => {
            Some(last.id.clone())
        }
        _ => None,
    };
    Ok(ListOut {
        next_token,
        user_pool_clients: page
            .into_iter()
            .map(|c| ClientDescription {
                client_id: c.id,
                user_pool_id: c.pool_id,
                client_name: c.name,
            })
            .collect(),
    })
}

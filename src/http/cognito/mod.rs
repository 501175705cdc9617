//! The Cognito wire protocol (AWS JSON 1.1): `POST /` with
//! `X-Amz-Target: AWSCognitoIdentityProviderService.<Op>` or
//! `AWSCognitoIdentityService.<Op>`, PascalCase bodies, errors as
//! `{"__type": "<Name>Exception", "message": ...}`, and `x-amzn-RequestId`.
//! A thin adapter: every operation calls the same services as the native API,
//! so throttles, rate limits and the audit trail are shared.
//!
//! Public operations are unsigned, as in Cognito; Admin* and control-plane
//! operations need SigV4 with the admin credential (`sigv4.rs`). The
//! control plane lives in `control.rs`, the back-end sign-in operations in
//! `admin_auth.rs`. What is not implemented answers a clear `__type` error.
//! See docs/compatibility.md.

use crate::app::AppState;
use crate::audit::AdminCtx;
use crate::error::Error;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

#[macro_use]
mod op;
mod account;
mod admin_auth;
mod admin_users;
mod auth;
mod control;
mod error;
mod mfa;
mod passkeys;
mod signup;
mod wire;

/// The operation tables (see `op`): each file of the facade declares its
/// operations; an operation not in a table is answered by the older
/// `run` match below until it moves into one.
const TABLES: &[&[op::Operation]] = &[
    account::OPS,
    admin_users::OPS,
    signup::OPS,
    auth::OPS,
    admin_auth::OPS,
    mfa::OPS,
    passkeys::OPS,
];

pub fn router() -> axum::Router<AppState> {
    axum::Router::new().route("/", axum::routing::post(dispatch))
}

const USER_POOLS: &str = "AWSCognitoIdentityProviderService.";
const IDENTITY: &str = "AWSCognitoIdentityService.";

/// An error in the protocol's shape.
#[derive(Debug)]
struct Fault {
    status: StatusCode,
    kind: String,
    message: String,
}

impl Fault {
    fn new(kind: &str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: kind.into(),
            message: message.into(),
        }
    }
}

type Answer = Result<Value, Fault>;

fn respond(request_id: &str, answer: Result<Vec<u8>, Fault>) -> Response {
    let (status, body, kind) = match answer {
        Ok(v) => (StatusCode::OK, v, None),
        Err(f) => (
            f.status,
            json!({"__type": f.kind, "message": f.message})
                .to_string()
                .into_bytes(),
            Some(f.kind),
        ),
    };
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    if let Some(k) = kind.and_then(|k| HeaderValue::from_str(&k).ok()) {
        h.insert("x-amzn-errortype", k);
    }
    resp
}

/// What axum refuses on `POST /` before `dispatch` runs (another method, a
/// body over the size limit), in the protocol's form: `__type` as for the
/// same kind from a service, the refusal's own HTTP status kept (405, 413).
pub async fn rejections(resp: Response) -> Response {
    match super::error::framework_rejection(&resp) {
        Some(r) => {
            let fault = Fault {
                status: r.status,
                ..Fault::from(Error::new(r.kind, r.detail))
            };
            r.finish(respond(&crate::crypto::random::uuid(), Err(fault)))
        }
        None => resp,
    }
}

async fn dispatch(
    State(s): State<AppState>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = crate::crypto::random::uuid();
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    // Admin operations need a SigV4 signature with the admin credential.
    // The signing service of the admin operation, if it is one (the
    // credential scope must name it, as AWS's endpoints require).
    let declared = op::Api::split(&target).and_then(|(api, name)| op::find(api, name));
    let admin = match declared {
        Some(o) => (o.access == op::Access::Admin).then(|| o.api.signing_service()),
        None => match (
            target.strip_prefix(USER_POOLS),
            target.strip_prefix(IDENTITY),
        ) {
            (Some(op), _) => control::CONTROL_OPERATIONS
                .contains(&op)
                .then_some("cognito-idp"),
            (_, Some(op)) => IDENTITY_ADMIN_OPERATIONS
                .contains(&op)
                .then_some("cognito-identity"),
            _ => None,
        },
    };
    let mut admin_ctx = None;
    if let Some(service) = admin {
        let secrets: Vec<&str> = s.admin_keys.iter().map(|k| k.expose()).collect();
        let now = s.pools.clock.now();
        let expected = super::sigv4::Expected {
            secrets: &secrets,
            region: s.pools.region(),
            service,
        };
        if let Err(e) = super::sigv4::verify(
            "POST",
            uri.path(),
            uri.query().unwrap_or(""),
            &headers,
            &body,
            expected,
            now,
        ) {
            let (kind, message) = match e {
                super::sigv4::SigError::Missing => (
                    "MissingAuthenticationTokenException",
                    "Admin operations need AWS SigV4 credentials (access key id poolgate-admin, an admin API key as the secret)",
                ),
                super::sigv4::SigError::UnknownKey => (
                    "UnrecognizedClientException",
                    "The security token included in the request is invalid.",
                ),
                super::sigv4::SigError::Skew => (
                    "InvalidSignatureException",
                    "Signature expired: the request time is too far from the server's.",
                ),
                super::sigv4::SigError::Unsigned(_) => (
                    "InvalidSignatureException",
                    "host, x-amz-date, content-type and x-amz-target must be among the signed headers.",
                ),
                super::sigv4::SigError::Scope => (
                    "InvalidSignatureException",
                    "Credential should be scoped to this server's region and the operation's service (cognito-idp or cognito-identity).",
                ),
                _ => (
                    "InvalidSignatureException",
                    "The request signature we calculated does not match the signature you provided.",
                ),
            };
            return respond(&request_id, Err(Fault::new(kind, message)));
        }
        // Which admin key signed: the trail's actor.
        let key = secrets.iter().find(|k| {
            let one = [**k];
            let q = uri.query().unwrap_or("");
            let expected = super::sigv4::Expected {
                secrets: &one,
                region: s.pools.region(),
                service,
            };
            super::sigv4::verify("POST", uri.path(), q, &headers, &body, expected, now).is_ok()
        });
        admin_ctx = key.map(|k| AdminCtx::cognito_key(k));
    }
    let admin = admin_ctx;
    if crate::error::json_has_nul(&body) {
        return respond(
            &request_id,
            Err(Fault::new(
                "InvalidParameterException",
                crate::error::NUL_REFUSED,
            )),
        );
    }
    if let Some(o) = declared {
        let answer = (o.run)(&s, admin.as_ref(), &body).await;
        return respond(
            &request_id,
            answer.map_err(|f| error::code_limit(o.name, f)),
        );
    }
    let answer = match serde_json::from_slice::<Value>(if body.is_empty() { b"{}" } else { &body })
    {
        Ok(Value::Object(input)) => run(&s, &target, input, admin.as_ref()).await,
        Ok(_) | Err(_) => Err(Fault::new(
            "SerializationException",
            "The request body is not a JSON object",
        )),
    };
    respond(&request_id, answer.map(|v| v.to_string().into_bytes()))
}

/// Runs an operation. The admin ones (Admin*, control plane, identity-pool
/// administration) need the `AdminCtx` that only a passed SigV4 check
/// makes; without one they are not reachable.
async fn run(
    s: &AppState,
    target: &str,
    input: Map<String, Value>,
    admin: Option<&AdminCtx>,
) -> Answer {
    if let Some(op) = target.strip_prefix(USER_POOLS) {
        let answer = match admin {
            Some(a) if control::CONTROL_OPERATIONS.contains(&op) => {
                control::control_op(s, a, op, input).await
            }
            _ => unsupported(op),
        };
        answer.map_err(|f| error::code_limit(op, f))
    } else if let Some(op) = target.strip_prefix(IDENTITY) {
        match admin {
            Some(a) if IDENTITY_ADMIN_OPERATIONS.contains(&op) => {
                identity_admin_op(s, a, op, input).await
            }
            _ => identity_op(s, op, input).await,
        }
    } else {
        Err(Fault::new(
            "UnknownOperationException",
            format!("Unknown X-Amz-Target {target:?}"),
        ))
    }
}

/// One page of a list answer: `{items_key: [...]}`, with `token_key` set to
/// the cursor of the last item when the page is full (there may be more).
fn page<T>(
    items_key: &str,
    list: &[T],
    max: i64,
    shape: impl Fn(&T) -> Value,
    token_key: &str,
    cursor: impl Fn(&T) -> String,
) -> Value {
    let mut out = Map::new();
    out.insert(
        items_key.into(),
        Value::Array(list.iter().map(shape).collect()),
    );
    if list.len() as i64 == max
        && let Some(last) = list.last()
    {
        out.insert(token_key.into(), cursor(last).into());
    }
    Value::Object(out)
}

/// Decodes an operation's input (PascalCase, unknown members refused).
fn input<T: for<'de> Deserialize<'de>>(m: Map<String, Value>) -> Result<T, Fault> {
    serde_json::from_value(Value::Object(m))
        .map_err(|e| Fault::new("InvalidParameterException", e.to_string()))
}

/// Cognito's user-pool operations (AWSCognitoIdentityProviderService).
const USER_POOL_OPERATIONS: &[&str] = &[
    "AddCustomAttributes",
    "AdminAddUserToGroup",
    "AdminConfirmSignUp",
    "AdminCreateUser",
    "AdminDeleteUser",
    "AdminDeleteUserAttributes",
    "AdminDisableProviderForUser",
    "AdminDisableUser",
    "AdminEnableUser",
    "AdminForgetDevice",
    "AdminGetDevice",
    "AdminGetUser",
    "AdminInitiateAuth",
    "AdminLinkProviderForUser",
    "AdminListDevices",
    "AdminListGroupsForUser",
    "AdminListUserAuthEvents",
    "AdminRemoveUserFromGroup",
    "AdminResetUserPassword",
    "AdminRespondToAuthChallenge",
    "AdminSetUserMFAPreference",
    "AdminSetUserPassword",
    "AdminSetUserSettings",
    "AdminUpdateAuthEventFeedback",
    "AdminUpdateDeviceStatus",
    "AdminUpdateUserAttributes",
    "AdminUserGlobalSignOut",
    "AssociateSoftwareToken",
    "ChangePassword",
    "CompleteWebAuthnRegistration",
    "ConfirmDevice",
    "ConfirmForgotPassword",
    "ConfirmSignUp",
    "CreateGroup",
    "CreateIdentityProvider",
    "CreateManagedLoginBranding",
    "CreateResourceServer",
    "CreateTerms",
    "CreateUserImportJob",
    "CreateUserPool",
    "CreateUserPoolClient",
    "CreateUserPoolDomain",
    "DeleteGroup",
    "DeleteIdentityProvider",
    "DeleteManagedLoginBranding",
    "DeleteResourceServer",
    "DeleteTerms",
    "DeleteUser",
    "DeleteUserAttributes",
    "DeleteUserPool",
    "DeleteUserPoolClient",
    "DeleteUserPoolDomain",
    "DeleteWebAuthnCredential",
    "DescribeIdentityProvider",
    "DescribeManagedLoginBranding",
    "DescribeManagedLoginBrandingByClient",
    "DescribeResourceServer",
    "DescribeRiskConfiguration",
    "DescribeTerms",
    "DescribeUserImportJob",
    "DescribeUserPool",
    "DescribeUserPoolClient",
    "DescribeUserPoolDomain",
    "ForgetDevice",
    "ForgotPassword",
    "GetCSVHeader",
    "GetDevice",
    "GetGroup",
    "GetIdentityProviderByIdentifier",
    "GetLogDeliveryConfiguration",
    "GetSigningCertificate",
    "GetTokensFromRefreshToken",
    "GetUICustomization",
    "GetUser",
    "GetUserAttributeVerificationCode",
    "GetUserAuthFactors",
    "GetUserPoolMfaConfig",
    "GlobalSignOut",
    "InitiateAuth",
    "ListDevices",
    "ListGroups",
    "ListIdentityProviders",
    "ListResourceServers",
    "ListTagsForResource",
    "ListTerms",
    "ListUserImportJobs",
    "ListUserPoolClients",
    "ListUserPools",
    "ListUsers",
    "ListUsersInGroup",
    "ListWebAuthnCredentials",
    "ResendConfirmationCode",
    "RespondToAuthChallenge",
    "RevokeToken",
    "SetLogDeliveryConfiguration",
    "SetRiskConfiguration",
    "SetUICustomization",
    "SetUserMFAPreference",
    "SetUserPoolMfaConfig",
    "SetUserSettings",
    "SignUp",
    "StartUserImportJob",
    "StartWebAuthnRegistration",
    "StopUserImportJob",
    "TagResource",
    "UntagResource",
    "UpdateAuthEventFeedback",
    "UpdateDeviceStatus",
    "UpdateGroup",
    "UpdateIdentityProvider",
    "UpdateManagedLoginBranding",
    "UpdateResourceServer",
    "UpdateTerms",
    "UpdateUserAttributes",
    "UpdateUserPool",
    "UpdateUserPoolClient",
    "UpdateUserPoolDomain",
    "VerifySoftwareToken",
    "VerifyUserAttribute",
];

/// The identity-pool operations implemented here that need the admin credential.
const IDENTITY_ADMIN_OPERATIONS: &[&str] = &[
    "CreateIdentityPool",
    "DescribeIdentityPool",
    "UpdateIdentityPool",
    "ListIdentityPools",
    "DeleteIdentityPool",
    "SetIdentityPoolRoles",
    "GetIdentityPoolRoles",
    "DescribeIdentity",
    "ListIdentities",
    "DeleteIdentities",
    "GetOpenIdTokenForDeveloperIdentity",
];

/// Cognito's identity-pool operations (AWSCognitoIdentityService).
const IDENTITY_OPERATIONS: &[&str] = &[
    "CreateIdentityPool",
    "DeleteIdentities",
    "DeleteIdentityPool",
    "DescribeIdentity",
    "DescribeIdentityPool",
    "GetCredentialsForIdentity",
    "GetId",
    "GetIdentityPoolRoles",
    "GetOpenIdToken",
    "GetOpenIdTokenForDeveloperIdentity",
    "GetPrincipalTagAttributeMap",
    "ListIdentities",
    "ListIdentityPools",
    "ListTagsForResource",
    "LookupDeveloperIdentity",
    "MergeDeveloperIdentities",
    "SetIdentityPoolRoles",
    "SetPrincipalTagAttributeMap",
    "TagResource",
    "UnlinkDeveloperIdentity",
    "UnlinkIdentity",
    "UntagResource",
    "UpdateIdentityPool",
];

/// A real Cognito operation not implemented here, or a name Cognito does
/// not have.
fn unsupported(op: &str) -> Answer {
    let name = op.split_whitespace().next().unwrap_or(op);
    if USER_POOL_OPERATIONS.contains(&name) || IDENTITY_OPERATIONS.contains(&name) {
        Err(error::not_supported(op))
    } else {
        Err(Fault::new(
            "UnknownOperationException",
            format!("Unknown operation {op}"),
        ))
    }
}

/// Cognito's `UserType`, for the control plane's ListUsersInGroup until it
/// moves to a table (then it uses `wire::UserType` directly).
fn user_type(u: &crate::model::User) -> Value {
    serde_json::to_value(wire::UserType::from(u)).unwrap_or(Value::Null)
}

// ---- identity pools ---------------------------------------------------------

/// Cognito's `IdentityPool` shape for a pool of this server.
fn identity_description(d: &crate::identity::IdentityDescription) -> Value {
    json!({
        "IdentityId": d.identity_id,
        "Logins": d.logins,
        "CreationDate": d.created_at,
        "LastModifiedDate": d.created_at,
    })
}

fn identity_pool_type(s: &AppState, p: &crate::model::IdentityPool) -> Value {
    use crate::model::Provider;
    let region = s.pools.region();
    let mut cognito = vec![];
    let mut developer = None;
    for pr in &p.settings.providers {
        match pr {
            Provider::UserPool {
                pool_id,
                client_ids,
                ..
            } => {
                for c in client_ids {
                    cognito.push(json!({
                        "ProviderName": format!("cognito-idp.{region}.amazonaws.com/{pool_id}"),
                        "ClientId": c,
                        "ServerSideTokenCheck": true,
                    }));
                }
            }
            Provider::Developer { name } => developer = Some(name.clone()),
            _ => {}
        }
    }
    let mut v = json!({
        "IdentityPoolId": p.id,
        "IdentityPoolName": p.name,
        "AllowUnauthenticatedIdentities": p.settings.allow_unauthenticated,
        "AllowClassicFlow": false,
        "CognitoIdentityProviders": cognito,
    });
    if let Some(d) = developer {
        v["DeveloperProviderName"] = d.into();
    }
    v
}

/// Identity-pool settings from Cognito's create/update shape. OIDC, SAML
/// and social providers are configured through the native admin API (they
/// need an issuer or URL that these members do not carry).
fn identity_pool_settings(
    input: &Map<String, Value>,
    old: Option<crate::model::IdentityPoolSettings>,
) -> Result<(String, crate::model::IdentityPoolSettings), Fault> {
    use crate::model::Provider;
    let bad = |m: &str| Fault::new("InvalidParameterException", m.to_owned());
    let name = input
        .get("IdentityPoolName")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("IdentityPoolName is required"))?
        .to_owned();
    for unsupported in [
        "OpenIdConnectProviderARNs",
        "SamlProviderARNs",
        "SupportedLoginProviders",
    ] {
        if input
            .get(unsupported)
            .is_some_and(|v| !(v.is_null() || v == &json!([]) || v == &json!({})))
        {
            return Err(bad(&format!(
                "{unsupported} is not supported on this protocol; configure the provider with the native admin API"
            )));
        }
    }
    let mut settings = old.unwrap_or_default();
    settings.allow_unauthenticated = input
        .get("AllowUnauthenticatedIdentities")
        .and_then(Value::as_bool)
        .ok_or_else(|| bad("AllowUnauthenticatedIdentities is required"))?;
    settings
        .providers
        .retain(|p| !matches!(p, Provider::UserPool { .. } | Provider::Developer { .. }));
    let mut by_pool: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in input
        .get("CognitoIdentityProviders")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let provider = p.get("ProviderName").and_then(Value::as_str).unwrap_or("");
        let client = p.get("ClientId").and_then(Value::as_str).unwrap_or("");
        let pool_id = provider.rsplit('/').next().unwrap_or("");
        if pool_id.is_empty() || client.is_empty() {
            return Err(bad(
                "CognitoIdentityProviders need ProviderName and ClientId",
            ));
        }
        by_pool
            .entry(pool_id.to_owned())
            .or_default()
            .push(client.to_owned());
    }
    for (pool_id, client_ids) in by_pool {
        settings.providers.push(Provider::UserPool {
            pool_id,
            client_ids,
            role_mapping: None,
        });
    }
    if let Some(d) = input.get("DeveloperProviderName").and_then(Value::as_str) {
        settings
            .providers
            .push(Provider::Developer { name: d.to_owned() });
    }
    Ok((name, settings))
}

/// CreateIdentityPool … GetIdentityPoolRoles (already authenticated by SigV4).
async fn identity_admin_op(
    s: &AppState,
    admin: &AdminCtx,
    op: &str,
    m: Map<String, Value>,
) -> Answer {
    use crate::model::role_arn;
    let ids = &s.identity;
    let pool_id = || {
        m.get("IdentityPoolId")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| Fault::new("InvalidParameterException", "IdentityPoolId is required"))
    };
    match op {
        "CreateIdentityPool" => {
            let (name, settings) = identity_pool_settings(&m, None)?;
            let p = ids
                .create_pool(
                    admin,
                    crate::identity::CreateIdentityPool { name, settings },
                )
                .await?;
            Ok(identity_pool_type(s, &p))
        }
        "DescribeIdentityPool" => Ok(identity_pool_type(s, &ids.get_pool(&pool_id()?).await?)),
        "UpdateIdentityPool" => {
            let old = ids.get_pool(&pool_id()?).await?;
            let (name, settings) = identity_pool_settings(&m, Some(old.settings))?;
            let p = ids
                .update_pool(
                    admin,
                    &old.id,
                    crate::identity::CreateIdentityPool { name, settings },
                )
                .await?;
            Ok(identity_pool_type(s, &p))
        }
        "DescribeIdentity" => {
            let id = m
                .get("IdentityId")
                .and_then(Value::as_str)
                .ok_or_else(|| Fault::new("InvalidParameterException", "IdentityId is required"))?;
            Ok(identity_description(&ids.describe_identity(id).await?))
        }
        "ListIdentities" => {
            let max = m
                .get("MaxResults")
                .and_then(Value::as_i64)
                .filter(|n| (1..=60).contains(n))
                .ok_or_else(|| {
                    Fault::new("InvalidParameterException", "MaxResults must be 1-60")
                })?;
            let pool = pool_id()?;
            let list = ids
                .list_identities(
                    &pool,
                    m.get("NextToken").and_then(Value::as_str),
                    max,
                    m.get("HideDisabled").and_then(Value::as_bool) == Some(true),
                )
                .await?;
            let mut out = json!({"IdentityPoolId": pool,
                "Identities": list.iter().map(identity_description).collect::<Vec<_>>()});
            if list.len() as i64 == max
                && let Some(last) = list.last()
            {
                out["NextToken"] = last.identity_id.clone().into();
            }
            Ok(out)
        }
        "DeleteIdentities" => {
            let list: Vec<String> = m
                .get("IdentityIdsToDelete")
                .cloned()
                .map(serde_json::from_value)
                .transpose()
                .map_err(|_| {
                    Fault::new(
                        "InvalidParameterException",
                        "IdentityIdsToDelete must be a list of identity ids",
                    )
                })?
                .unwrap_or_default();
            ids.delete_identities(admin, &list).await?;
            Ok(json!({"UnprocessedIdentityIds": []}))
        }
        "GetOpenIdTokenForDeveloperIdentity" => {
            let pool = ids.get_pool(&pool_id()?).await?;
            let logins = m
                .get("Logins")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let developer = pool.settings.providers.iter().find_map(|p| match p {
                crate::model::Provider::Developer { name } => Some(name.clone()),
                _ => None,
            });
            let user = match (developer, logins.len()) {
                (Some(d), 1) => logins.get(&d).and_then(Value::as_str).map(str::to_owned),
                _ => None,
            }
            .ok_or_else(|| {
                Fault::new(
                    "InvalidParameterException",
                    "Logins must hold exactly one entry, keyed by the pool's DeveloperProviderName",
                )
            })?;
            let r = ids
                .developer_identity(
                    &pool.id,
                    crate::identity::DeveloperIdentity {
                        user_identifier: user,
                        identity_id: m
                            .get("IdentityId")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                    },
                )
                .await?;
            Ok(json!({"IdentityId": r.identity_id, "Token": r.token}))
        }
        "ListIdentityPools" => {
            let max = m.get("MaxResults").and_then(Value::as_i64).unwrap_or(60);
            if !(1..=60).contains(&max) {
                return Err(Fault::new(
                    "InvalidParameterException",
                    "MaxResults must be 1-60",
                ));
            }
            let after = m.get("NextToken").and_then(Value::as_str);
            let pools = ids.list_pools(after, max).await?;
            let mut out = json!({"IdentityPools": pools.iter().map(|p| json!({
                "IdentityPoolId": p.id, "IdentityPoolName": p.name})).collect::<Vec<_>>()});
            if pools.len() as i64 == max
                && let Some(last) = pools.last()
            {
                out["NextToken"] = last.id.clone().into();
            }
            Ok(out)
        }
        "DeleteIdentityPool" => {
            ids.delete_pool(admin, &pool_id()?).await?;
            Ok(json!({}))
        }
        "SetIdentityPoolRoles" => {
            if m.get("RoleMappings").is_some_and(|v| v != &json!({})) {
                return unsupported("SetIdentityPoolRoles RoleMappings (use the native admin API)");
            }
            let p = ids.get_pool(&pool_id()?).await?;
            let roles = m
                .get("Roles")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let mut settings = p.settings.clone();
            settings.authenticated_role = roles
                .get("authenticated")
                .and_then(Value::as_str)
                .map(str::to_owned);
            settings.unauthenticated_role = roles
                .get("unauthenticated")
                .and_then(Value::as_str)
                .map(str::to_owned);
            ids.update_pool(
                admin,
                &p.id,
                crate::identity::CreateIdentityPool {
                    name: p.name.clone(),
                    settings,
                },
            )
            .await?;
            Ok(json!({}))
        }
        _ => {
            let p = ids.get_pool(&pool_id()?).await?;
            let mut roles = Map::new();
            let arn = |r: &String| role_arn(crate::model::role_name(r));
            if let Some(r) = &p.settings.authenticated_role {
                roles.insert("authenticated".into(), arn(r).into());
            }
            if let Some(r) = &p.settings.unauthenticated_role {
                roles.insert("unauthenticated".into(), arn(r).into());
            }
            Ok(json!({"IdentityPoolId": p.id, "Roles": roles}))
        }
    }
}

async fn identity_op(s: &AppState, op: &str, m: Map<String, Value>) -> Answer {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase", deny_unknown_fields)]
    struct In {
        #[serde(default)]
        identity_pool_id: Option<String>,
        #[serde(default)]
        identity_id: Option<String>,
        #[serde(default)]
        account_id: Option<String>,
        #[serde(default)]
        logins: BTreeMap<String, String>,
        #[serde(default)]
        custom_role_arn: Option<String>,
    }
    let ids = &s.identity;
    // Cognito's NotAuthorized for identities is NotAuthorizedException too.
    let missing =
        |name: &str| Fault::new("InvalidParameterException", format!("{name} is required"));
    match op {
        "GetId" => {
            let i: In = input(m)?;
            let _ = i.account_id;
            let pool = i
                .identity_pool_id
                .ok_or_else(|| missing("IdentityPoolId"))?;
            let id = ids
                .get_id(&pool, crate::identity::GetId { logins: i.logins })
                .await?;
            Ok(json!({"IdentityId": id}))
        }
        "GetCredentialsForIdentity" => {
            let i: In = input(m)?;
            let identity = i.identity_id.ok_or_else(|| missing("IdentityId"))?;
            let pool = ids.pool_of_identity(&identity).await?;
            let r = ids
                .credentials(
                    &pool,
                    crate::identity::GetCredentials {
                        identity_id: identity,
                        logins: i.logins,
                        custom_role_arn: i.custom_role_arn,
                        duration_secs: None,
                    },
                )
                .await?;
            let c = r.credentials;
            Ok(json!({"IdentityId": r.identity_id, "Credentials": {
                "AccessKeyId": c.access_key_id, "SecretKey": c.secret_access_key,
                "SessionToken": c.session_token, "Expiration": c.expiration}}))
        }
        "UnlinkIdentity" => {
            #[derive(Deserialize)]
            #[serde(rename_all = "PascalCase", deny_unknown_fields)]
            struct Unlink {
                identity_id: String,
                #[serde(default)]
                logins: BTreeMap<String, String>,
                #[serde(default)]
                logins_to_remove: Vec<String>,
            }
            let i: Unlink = input(m)?;
            ids.unlink_identity(&i.identity_id, &i.logins, &i.logins_to_remove)
                .await?;
            Ok(json!({}))
        }
        "GetOpenIdToken" => {
            let i: In = input(m)?;
            let identity = i.identity_id.ok_or_else(|| missing("IdentityId"))?;
            let pool = ids.pool_of_identity(&identity).await?;
            let r = ids
                .openid_token(
                    &pool,
                    crate::identity::GetOpenIdToken {
                        identity_id: identity,
                        logins: i.logins,
                    },
                )
                .await?;
            Ok(json!({"IdentityId": r.identity_id, "Token": r.token}))
        }
        _ => unsupported(op),
    }
}

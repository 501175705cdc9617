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
use crate::error::{Error, ErrorKind};
use crate::tokens::TokenSet;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hmac::{KeyInit, Mac};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

#[macro_use]
mod op;
mod account;
mod admin_auth;
mod admin_users;
mod control;
mod identity;
mod identity_admin;
mod wire;

/// The operation tables (see `op`): each file of the facade declares its
/// operations; an operation not in a table is answered by the older
/// `run` match below until it moves into one.
const TABLES: &[&[op::Operation]] = &[
    account::OPS,
    admin_users::OPS,
    control::clients::OPS,
    control::groups::OPS,
    control::mfa::OPS,
    control::pools::OPS,
    control::providers::OPS,
    control::resource_servers::OPS,
    identity::OPS,
    identity_admin::OPS,
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

/// Cognito's exception names for the services' error kinds (all 400 but
/// internal errors, as Cognito answers).
impl From<Error> for Fault {
    fn from(e: Error) -> Self {
        use ErrorKind::*;
        let name = match e.kind {
            InvalidParameter | PayloadTooLarge | UnsupportedMediaType | MethodNotAllowed => {
                "InvalidParameterException"
            }
            InvalidPassword => "InvalidPasswordException",
            ResourceNotFound | NotFound => "ResourceNotFoundException",
            UserNotFound => "UserNotFoundException",
            UsernameExists => "UsernameExistsException",
            AliasExists => "AliasExistsException",
            NotAuthorized | Unauthenticated => "NotAuthorizedException",
            UserNotConfirmed => "UserNotConfirmedException",
            PasswordResetRequired => "PasswordResetRequiredException",
            CodeMismatch => "CodeMismatchException",
            ExpiredCode => "ExpiredCodeException",
            CodeDeliveryFailure => "CodeDeliveryFailureException",
            LimitExceeded => "LimitExceededException",
            TooManyRequests | ServiceUnavailable => "TooManyRequestsException",
            TooManyFailedAttempts => "TooManyFailedAttemptsException",
            Conflict => "ResourceConflictException",
            Internal => {
                tracing::error!(error = %e.message, "internal error on the Cognito protocol");
                return Self {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    kind: "InternalErrorException".into(),
                    message: "Internal error".into(),
                };
            }
        };
        Fault::new(name, e.message)
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
            (Some(op), _) => (ADMIN_OPERATIONS.contains(&op)
                || admin_auth::ADMIN_AUTH_OPERATIONS.contains(&op))
            .then_some("cognito-idp"),
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
        return respond(&request_id, answer.map_err(|f| code_limit(o.name, f)));
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

/// Cognito answers a rate-limited code operation with
/// LimitExceededException ("Attempt limit exceeded"), which apps catch by
/// that name; sign-in stays TooManyRequestsException.
fn code_limit(op: &str, f: Fault) -> Fault {
    if f.kind == "TooManyRequestsException" && CODE_OPERATIONS.contains(&op) {
        Fault {
            kind: "LimitExceededException".into(),
            message: "Attempt limit exceeded, please try after some time.".into(),
            ..f
        }
    } else {
        f
    }
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
            Some(a) if ADMIN_OPERATIONS.contains(&op) => admin_op(s, a, op, input).await,
            _ => user_pool_op(s, op, input).await,
        };
        answer.map_err(|f| code_limit(op, f))
    } else if let Some(op) = target.strip_prefix(IDENTITY) {
        // Every identity-pool operation of this server is in a table.
        unsupported(op)
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

/// Operations that send or check a code (or change a password): their rate
/// limit is Cognito's LimitExceededException.
const CODE_OPERATIONS: &[&str] = &[
    "ConfirmSignUp",
    "ResendConfirmationCode",
    "ForgotPassword",
    "ConfirmForgotPassword",
    "GetUserAttributeVerificationCode",
    "VerifyUserAttribute",
    "ChangePassword",
];

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

/// The user-pool operations implemented here that need the admin credential.
const ADMIN_OPERATIONS: &[&str] = &[
    "AdminGetUser",
    "AdminSetUserMFAPreference",
    "AdminCreateUser",
    "AdminSetUserPassword",
    "AdminConfirmSignUp",
    "AdminDisableUser",
    "AdminEnableUser",
    "AdminUserGlobalSignOut",
    "AdminAddUserToGroup",
    "AdminRemoveUserFromGroup",
    "AdminResetUserPassword",
    "AdminUpdateUserAttributes",
    "AdminDeleteUserAttributes",
    "AdminListGroupsForUser",
    "ListUsers",
];

/// The identity-pool operations implemented here that need the admin credential.
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
        Err(Fault::new(
            "UnsupportedOperationException",
            format!("{op} is not supported by this server yet (see docs/compatibility.md)"),
        ))
    } else {
        Err(Fault::new(
            "UnknownOperationException",
            format!("Unknown operation {op}"),
        ))
    }
}

// ---- user pools -------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AttributeType {
    name: String,
    value: String,
}

fn attributes(list: Vec<AttributeType>) -> crate::model::Attributes {
    list.into_iter().map(|a| (a.name, a.value)).collect()
}

fn attribute_list(attrs: &crate::model::Attributes) -> Value {
    Value::Array(
        attrs
            .iter()
            .map(|(k, v)| json!({"Name": k, "Value": v}))
            .collect(),
    )
}

fn code_delivery(d: &crate::user_pools::signup::CodeDelivery) -> Value {
    serde_json::to_value(d)
        .ok()
        .map(|v| {
            json!({
                "Destination": v.get("destination"),
                "DeliveryMedium": v.get("medium"),
                "AttributeName": v.get("attribute"),
            })
        })
        .unwrap_or(Value::Null)
}

/// GetUser's `UserMFASettingList` and `PreferredMfaSetting`.
fn mfa_members(out: &mut Value, v: &crate::user_pools::mfa::MfaView) {
    let mut list = vec![];
    if v.totp_enabled {
        list.push("SOFTWARE_TOKEN_MFA");
    }
    if v.email_otp_enabled {
        list.push("EMAIL_OTP");
    }
    if v.sms_otp_enabled {
        list.push("SMS_MFA");
    }
    if v.passkeys > 0 && v.allowed_factors.iter().any(|f| f == "WEB_AUTHN") {
        list.push("WEB_AUTHN");
    }
    out["UserMFASettingList"] = json!(list);
    if let Some(p) = &v.preferred {
        out["PreferredMfaSetting"] = json!(match p.as_str() {
            "SOFTWARE_TOKEN" => "SOFTWARE_TOKEN_MFA",
            "SMS_OTP" => "SMS_MFA",
            "WEB_AUTHN" => "WEB_AUTHN",
            _ => "EMAIL_OTP",
        });
    }
}

/// Cognito's `SoftwareTokenMfaSettings` / `EmailMfaSettings` as a
/// native preference change.
fn mfa_preference(m: &Map<String, Value>) -> Result<crate::user_pools::mfa::MfaPreference, Fault> {
    let mut p = crate::user_pools::mfa::MfaPreference::default();
    for (k, factor) in [
        ("SoftwareTokenMfaSettings", "SOFTWARE_TOKEN"),
        ("EmailMfaSettings", "EMAIL_OTP"),
        ("SMSMfaSettings", "SMS_OTP"),
    ] {
        let Some(s) = m.get(k).filter(|v| !v.is_null()) else {
            continue;
        };
        let enabled = s.get("Enabled").and_then(Value::as_bool);
        match factor {
            "SOFTWARE_TOKEN" => p.totp_enabled = enabled,
            "EMAIL_OTP" => p.email_otp_enabled = enabled,
            _ => p.sms_otp_enabled = enabled,
        }
        if s.get("PreferredMfa").and_then(Value::as_bool) == Some(true) {
            p.preferred = Some(Some(factor.to_owned()));
        }
    }
    // Passkeys are a second factor by themselves once the pool allows it;
    // enabling them here makes them the preferred one (unless another
    // factor of the same request is preferred).
    if m.get("WebAuthnMfaSettings")
        .and_then(|s| s.get("Enabled"))
        .and_then(Value::as_bool)
        == Some(true)
        && p.preferred.is_none()
    {
        p.preferred = Some(Some("WEB_AUTHN".into()));
    }
    Ok(p)
}

fn authentication_result(t: &TokenSet) -> Value {
    let mut r = json!({
        "AccessToken": t.access_token,
        "IdToken": t.id_token,
        "ExpiresIn": t.expires_in,
        "TokenType": t.token_type,
    });
    if let Some(rt) = &t.refresh_token {
        r["RefreshToken"] = rt.clone().into();
    }
    r
}

/// The pool an app client belongs to (client ids are unique across pools).
async fn client_pool(s: &AppState, client_id: &str) -> Result<String, Fault> {
    let not_found = || {
        Fault::new(
            "ResourceNotFoundException",
            "User pool client does not exist.",
        )
    };
    if client_id.len() > 128 {
        return Err(not_found());
    }
    s.pools
        .clients
        .client_pool_id(client_id)
        .await?
        .ok_or_else(not_found)
}

/// The pool of a client and its secret when it has one, after checking the
/// request's `SECRET_HASH` = Base64(HMAC-SHA256(secret, username ‖ client id)).
async fn client_secret(
    s: &AppState,
    client_id: &str,
    username: Option<&str>,
    secret_hash: Option<&str>,
) -> Result<(String, Option<String>), Fault> {
    let not_found = || {
        Fault::new(
            "ResourceNotFoundException",
            "User pool client does not exist.",
        )
    };
    let pool_id = client_pool(s, client_id).await?;
    let client = s
        .pools
        .clients
        .fresh_client(&pool_id, client_id)
        .await?
        .ok_or_else(not_found)?;
    let Some(sealed) = &client.secret_sealed else {
        return Ok((pool_id, None));
    };
    let secret = s.pools.clients.open_client_secret(client_id, sealed)?;
    let refused = || {
        Fault::new(
            "NotAuthorizedException",
            format!("Unable to verify secret hash for client {client_id}"),
        )
    };
    let (Some(username), Some(given)) = (username, secret_hash) else {
        return Err(refused());
    };
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .map_err(|_| refused())?;
    mac.update(username.as_bytes());
    mac.update(client_id.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    if !crate::crypto::ct_eq(expected.as_bytes(), given.as_bytes()) {
        return Err(refused());
    }
    Ok((pool_id, Some(secret)))
}

fn from_native<T: for<'de> Deserialize<'de>>(v: Value) -> Result<T, Fault> {
    serde_json::from_value(v).map_err(|e| Fault::new("InvalidParameterException", e.to_string()))
}

async fn user_pool_op(s: &AppState, op: &str, m: Map<String, Value>) -> Answer {
    let pools = &s.pools;
    match op {
        "SignUp" => {
            // Members Cognito accepts that this server ignores are read and dropped.
            #[derive(Deserialize)]
            #[allow(dead_code)]
            #[serde(rename_all = "PascalCase", deny_unknown_fields)]
            struct In {
                client_id: String,
                #[serde(default)]
                secret_hash: Option<String>,
                username: String,
                password: String,
                #[serde(default)]
                user_attributes: Vec<AttributeType>,
                #[serde(default)]
                validation_data: Option<Value>,
                #[serde(default)]
                client_metadata: Option<Value>,
                #[serde(default)]
                analytics_metadata: Option<Value>,
                #[serde(default)]
                user_context_data: Option<Value>,
            }
            let i: In = input(m)?;
            let (pool, secret) =
                client_secret(s, &i.client_id, Some(&i.username), i.secret_hash.as_deref()).await?;
            let req = from_native(json!({"client_id": i.client_id, "client_secret": secret,
                "username": i.username, "password": i.password,
                "attributes": attributes(i.user_attributes)}))?;
            let r = pools.sign_up(&pool, req).await?;
            let mut out = json!({"UserConfirmed": r.user_confirmed, "UserSub": r.user_sub});
            if let Some(d) = &r.code_delivery {
                out["CodeDeliveryDetails"] = code_delivery(d);
            }
            Ok(out)
        }
        "ConfirmSignUp" | "ConfirmForgotPassword" | "ResendConfirmationCode" | "ForgotPassword" => {
            // Members Cognito accepts that this server ignores are read and dropped.
            #[derive(Deserialize)]
            #[allow(dead_code)]
            #[serde(rename_all = "PascalCase", deny_unknown_fields)]
            struct In {
                client_id: String,
                #[serde(default)]
                secret_hash: Option<String>,
                username: String,
                #[serde(default)]
                confirmation_code: Option<String>,
                #[serde(default)]
                password: Option<String>,
                #[serde(default)]
                force_alias_creation: Option<bool>,
                #[serde(default)]
                client_metadata: Option<Value>,
                #[serde(default)]
                analytics_metadata: Option<Value>,
                #[serde(default)]
                user_context_data: Option<Value>,
            }
            let i: In = input(m)?;
            let (pool, secret) =
                client_secret(s, &i.client_id, Some(&i.username), i.secret_hash.as_deref()).await?;
            let base =
                json!({"client_id": i.client_id, "client_secret": secret, "username": i.username});
            let need = |v: Option<String>, name: &str| {
                v.ok_or_else(|| {
                    Fault::new("InvalidParameterException", format!("{name} is required"))
                })
            };
            match op {
                "ConfirmSignUp" => {
                    let mut r = base;
                    r["code"] = need(i.confirmation_code, "ConfirmationCode")?.into();
                    pools.confirm_sign_up(&pool, from_native(r)?).await?;
                    Ok(json!({}))
                }
                "ConfirmForgotPassword" => {
                    let mut r = base;
                    r["code"] = need(i.confirmation_code, "ConfirmationCode")?.into();
                    r["password"] = need(i.password, "Password")?.into();
                    pools.reset_password(&pool, from_native(r)?).await?;
                    Ok(json!({}))
                }
                "ResendConfirmationCode" => {
                    let d = pools.resend_code(&pool, from_native(base)?).await?;
                    Ok(json!({"CodeDeliveryDetails": d.as_ref().map(code_delivery)}))
                }
                _ => {
                    let d = pools.forgot_password(&pool, from_native(base)?).await?;
                    Ok(json!({"CodeDeliveryDetails": code_delivery(&d)}))
                }
            }
        }
        "InitiateAuth" => {
            // Members Cognito accepts that this server ignores are read and dropped.
            #[derive(Deserialize)]
            #[allow(dead_code)]
            #[serde(rename_all = "PascalCase", deny_unknown_fields)]
            struct In {
                auth_flow: String,
                client_id: String,
                #[serde(default)]
                auth_parameters: BTreeMap<String, String>,
                #[serde(default)]
                client_metadata: Option<Value>,
                #[serde(default)]
                analytics_metadata: Option<Value>,
                #[serde(default)]
                user_context_data: Option<Value>,
            }
            let i: In = input(m)?;
            let p = |k: &str| i.auth_parameters.get(k).map(String::as_str);
            match i.auth_flow.as_str() {
                "USER_PASSWORD_AUTH" => {
                    let (Some(user), Some(pw)) = (p("USERNAME"), p("PASSWORD")) else {
                        return Err(Fault::new(
                            "InvalidParameterException",
                            "Missing required parameter USERNAME or PASSWORD",
                        ));
                    };
                    let (pool, secret) =
                        client_secret(s, &i.client_id, Some(user), p("SECRET_HASH")).await?;
                    let r = pools
                        .sign_in(
                            &pool,
                            from_native(json!({"client_id": i.client_id, "client_secret": secret,
                                "username": user, "password": pw}))?,
                        )
                        .await?;
                    Ok(sign_in_answer(r))
                }
                "REFRESH_TOKEN_AUTH" | "REFRESH_TOKEN" => {
                    let Some(rt) = p("REFRESH_TOKEN") else {
                        return Err(Fault::new(
                            "InvalidParameterException",
                            "Missing required parameter REFRESH_TOKEN",
                        ));
                    };
                    let (pool, secret) =
                        client_secret(s, &i.client_id, p("USERNAME"), p("SECRET_HASH")).await?;
                    let t = pools
                        .sessions
                        .refresh(
                            &pool,
                            from_native(json!({"client_id": i.client_id, "client_secret": secret,
                                "refresh_token": rt}))?,
                        )
                        .await?;
                    Ok(
                        json!({"AuthenticationResult": authentication_result(&t), "ChallengeParameters": {}}),
                    )
                }
                "USER_SRP_AUTH" => {
                    let (Some(user), Some(a)) = (p("USERNAME"), p("SRP_A")) else {
                        return Err(Fault::new(
                            "InvalidParameterException",
                            "Missing required parameter USERNAME or SRP_A",
                        ));
                    };
                    let (pool, secret) =
                        client_secret(s, &i.client_id, Some(user), p("SECRET_HASH")).await?;
                    let c = pools
                        .start_srp(&pool, &i.client_id, secret.as_deref(), user, a)
                        .await?;
                    Ok(json!({"ChallengeName": c.name, "ChallengeParameters": c.parameters}))
                }
                "USER_AUTH" => {
                    let Some(user) = p("USERNAME") else {
                        return Err(Fault::new(
                            "InvalidParameterException",
                            "Missing required parameter USERNAME",
                        ));
                    };
                    let (pool, secret) =
                        client_secret(s, &i.client_id, Some(user), p("SECRET_HASH")).await?;
                    let r = pools
                        .start_user_auth(
                            &pool,
                            crate::user_pools::user_auth::StartUserAuth {
                                client_id: i.client_id.clone(),
                                client_secret: secret,
                                username: user.to_owned(),
                                preferred_challenge: p("PREFERRED_CHALLENGE").map(str::to_owned),
                                password: p("PASSWORD").map(str::to_owned),
                            },
                        )
                        .await?;
                    Ok(sign_in_answer(r))
                }
                "CUSTOM_AUTH" => unsupported(&format!("InitiateAuth {}", i.auth_flow)),
                other => Err(Fault::new(
                    "InvalidParameterException",
                    format!("Unknown AuthFlow {other}"),
                )),
            }
        }
        "RespondToAuthChallenge" => {
            // Members Cognito accepts that this server ignores are read and dropped.
            #[derive(Deserialize)]
            #[allow(dead_code)]
            #[serde(rename_all = "PascalCase", deny_unknown_fields)]
            struct In {
                client_id: String,
                challenge_name: String,
                #[serde(default)]
                session: Option<String>,
                #[serde(default)]
                challenge_responses: BTreeMap<String, String>,
                #[serde(default)]
                client_metadata: Option<Value>,
                #[serde(default)]
                analytics_metadata: Option<Value>,
                #[serde(default)]
                user_context_data: Option<Value>,
            }
            let i: In = input(m)?;
            if i.challenge_name == "PASSWORD_VERIFIER" {
                let r = &i.challenge_responses;
                let (pool, secret) = client_secret(
                    s,
                    &i.client_id,
                    r.get("USERNAME").map(String::as_str),
                    r.get("SECRET_HASH").map(String::as_str),
                )
                .await?;
                let out = pools
                    .answer_srp(&pool, &i.client_id, secret.as_deref(), r)
                    .await?;
                return Ok(sign_in_answer(out));
            }
            if !matches!(
                i.challenge_name.as_str(),
                "NEW_PASSWORD_REQUIRED"
                    | "SOFTWARE_TOKEN_MFA"
                    | "EMAIL_OTP"
                    | "SMS_MFA"
                    | "SMS_OTP"
                    | "MFA_SETUP"
                    | "SELECT_CHALLENGE"
                    | "WEB_AUTHN"
            ) {
                return unsupported(&format!("RespondToAuthChallenge {}", i.challenge_name));
            }
            let mut responses = i.challenge_responses;
            let (pool, secret) = client_secret(
                s,
                &i.client_id,
                responses.get("USERNAME").map(String::as_str),
                responses.get("SECRET_HASH").map(String::as_str),
            )
            .await?;
            responses.remove("SECRET_HASH");
            // A choice for a name without a user still needs the name (the
            // look-alike passkey options are stable per name).
            if i.challenge_name != "SELECT_CHALLENGE" {
                responses.remove("USERNAME");
            }
            let r = pools
                .respond_to_challenge(
                    &pool,
                    from_native(json!({"client_id": i.client_id, "client_secret": secret,
                        "challenge_name": i.challenge_name, "session": i.session.unwrap_or_default(),
                        "responses": responses}))?,
                )
                .await?;
            Ok(sign_in_answer(r))
        }
        "GetUser" | "ChangePassword" => {
            // Members Cognito accepts that this server ignores are read and dropped.
            #[derive(Deserialize)]
            #[allow(dead_code)]
            #[serde(rename_all = "PascalCase", deny_unknown_fields)]
            struct In {
                access_token: String,
                #[serde(default)]
                previous_password: Option<String>,
                #[serde(default)]
                proposed_password: Option<String>,
            }
            let i: In = input(m)?;
            let a = pools
                .sessions
                .authenticate_access_token(&i.access_token)
                .await?;
            match op {
                "GetUser" => {
                    let me = pools.sessions.me(&a);
                    let mut out = json!({"Username": me.username,
                        "UserAttributes": attribute_list(&me.attributes), "MFAOptions": []});
                    mfa_members(&mut out, &pools.mfa_view(&a).await?);
                    Ok(out)
                }
                _ => {
                    let (Some(prev), Some(next)) = (i.previous_password, i.proposed_password)
                    else {
                        return Err(Fault::new(
                            "InvalidParameterException",
                            "PreviousPassword and ProposedPassword are required",
                        ));
                    };
                    pools
                        .change_password(
                            &a,
                            from_native(
                                json!({"previous_password": prev, "proposed_password": next}),
                            )?,
                        )
                        .await?;
                    Ok(json!({}))
                }
            }
        }
        "AssociateSoftwareToken" | "VerifySoftwareToken" => {
            #[derive(Deserialize)]
            #[serde(rename_all = "PascalCase", deny_unknown_fields)]
            struct In {
                #[serde(default)]
                access_token: Option<String>,
                #[serde(default)]
                session: Option<String>,
                #[serde(default)]
                user_code: Option<String>,
                #[serde(default)]
                friendly_device_name: Option<String>,
            }
            let i: In = input(m)?;
            let verify = op == "VerifySoftwareToken";
            let req = crate::user_pools::mfa::VerifyTotp {
                code: i.user_code.clone().unwrap_or_default(),
                device_name: i.friendly_device_name.clone(),
            };
            if verify && i.user_code.is_none() {
                return Err(Fault::new(
                    "InvalidParameterException",
                    "UserCode is required",
                ));
            }
            match (i.access_token, i.session) {
                (Some(t), _) => {
                    let a = pools.sessions.authenticate_access_token(&t).await?;
                    if verify {
                        pools.verify_totp(&a, req).await?;
                        Ok(json!({"Status": "SUCCESS"}))
                    } else {
                        let x = pools.associate_totp(&a).await?;
                        Ok(json!({"SecretCode": x.secret_code}))
                    }
                }
                (None, Some(session)) => {
                    if verify {
                        pools.verify_totp_with_session(&session, req).await?;
                        Ok(json!({"Status": "SUCCESS", "Session": session}))
                    } else {
                        let x = pools.associate_totp_with_session(&session).await?;
                        Ok(json!({"SecretCode": x.secret_code, "Session": session}))
                    }
                }
                (None, None) => Err(Fault::new(
                    "InvalidParameterException",
                    "AccessToken or Session is required",
                )),
            }
        }
        "StartWebAuthnRegistration"
        | "CompleteWebAuthnRegistration"
        | "ListWebAuthnCredentials"
        | "DeleteWebAuthnCredential" => {
            #[derive(Deserialize)]
            #[serde(rename_all = "PascalCase", deny_unknown_fields)]
            struct In {
                access_token: String,
                #[serde(default)]
                credential: Option<Value>,
                #[serde(default)]
                credential_id: Option<String>,
                #[serde(default)]
                max_results: Option<i64>,
                #[serde(default)]
                next_token: Option<String>,
            }
            let i: In = input(m)?;
            let a = pools
                .sessions
                .authenticate_access_token(&i.access_token)
                .await?;
            match op {
                "StartWebAuthnRegistration" => Ok(json!({
                    "CredentialCreationOptions": pools.start_passkey_registration(&a).await?
                })),
                "CompleteWebAuthnRegistration" => {
                    let credential = i.credential.ok_or_else(|| {
                        Fault::new("InvalidParameterException", "Credential is required")
                    })?;
                    pools
                        .complete_passkey_registration(
                            &a,
                            crate::user_pools::passkeys::CompletePasskey {
                                credential,
                                name: None,
                            },
                        )
                        .await?;
                    Ok(json!({}))
                }
                "ListWebAuthnCredentials" => {
                    let max = i.max_results.unwrap_or(20);
                    if !(1..=20).contains(&max) {
                        return Err(Fault::new(
                            "InvalidParameterException",
                            "MaxResults must be 1-20",
                        ));
                    }
                    let all = pools.list_passkeys(&a).await?;
                    let start = match i.next_token.as_deref() {
                        None => 0,
                        Some(t) => t
                            .parse::<usize>()
                            .ok()
                            .filter(|n| *n <= all.len())
                            .ok_or_else(|| {
                                Fault::new("InvalidParameterException", "Invalid NextToken")
                            })?,
                    };
                    let end = (start + max as usize).min(all.len());
                    let list: Vec<Value> = all[start..end]
                        .iter()
                        .map(|c| {
                            let mut v = json!({"CredentialId": c.credential_id,
                                "RelyingPartyId": c.relying_party_id,
                                "AuthenticatorTransports": c.transports,
                                "CreatedAt": c.created_at});
                            if let Some(n) = &c.name {
                                v["FriendlyCredentialName"] = json!(n);
                            }
                            if let Some(x) = &c.authenticator_attachment {
                                v["AuthenticatorAttachment"] = json!(x);
                            }
                            v
                        })
                        .collect();
                    let mut out = json!({"Credentials": list});
                    if end < all.len() {
                        out["NextToken"] = json!(end.to_string());
                    }
                    Ok(out)
                }
                _ => {
                    let id = i.credential_id.ok_or_else(|| {
                        Fault::new("InvalidParameterException", "CredentialId is required")
                    })?;
                    pools.delete_passkey(&a, &id).await?;
                    Ok(json!({}))
                }
            }
        }
        "SetUserMFAPreference" => {
            let token = m
                .get("AccessToken")
                .and_then(Value::as_str)
                .ok_or_else(|| Fault::new("InvalidParameterException", "AccessToken is required"))?
                .to_owned();
            let a = pools.sessions.authenticate_access_token(&token).await?;
            pools.set_mfa_preference(&a, mfa_preference(&m)?).await?;
            Ok(json!({}))
        }
        "UpdateUserAttributes"
        | "DeleteUserAttributes"
        | "VerifyUserAttribute"
        | "GetUserAttributeVerificationCode" => {
            // Members Cognito accepts that this server ignores are read and dropped.
            #[derive(Deserialize)]
            #[allow(dead_code)]
            #[serde(rename_all = "PascalCase", deny_unknown_fields)]
            struct In {
                access_token: String,
                #[serde(default)]
                user_attributes: Vec<AttributeType>,
                #[serde(default)]
                user_attribute_names: Vec<String>,
                #[serde(default)]
                attribute_name: Option<String>,
                #[serde(default)]
                code: Option<String>,
                #[serde(default)]
                client_metadata: Option<Value>,
            }
            let i: In = input(m)?;
            let a = pools
                .sessions
                .authenticate_access_token(&i.access_token)
                .await?;
            let name = || {
                i.attribute_name.clone().ok_or_else(|| {
                    Fault::new("InvalidParameterException", "AttributeName is required")
                })
            };
            match op {
                "UpdateUserAttributes" | "DeleteUserAttributes" => {
                    let attrs: crate::model::Attributes = if op == "UpdateUserAttributes" {
                        attributes(i.user_attributes)
                    } else {
                        // The native update deletes an attribute given as "".
                        i.user_attribute_names
                            .into_iter()
                            .map(|n| (n, String::new()))
                            .collect()
                    };
                    let r = pools
                        .update_my_attributes(&a, from_native(json!({"attributes": attrs}))?)
                        .await?;
                    if op == "DeleteUserAttributes" {
                        return Ok(json!({}));
                    }
                    Ok(json!({"CodeDeliveryDetailsList":
                        r.code_deliveries.iter().map(code_delivery).collect::<Vec<_>>()}))
                }
                "VerifyUserAttribute" => {
                    let code = i.code.clone().ok_or_else(|| {
                        Fault::new("InvalidParameterException", "Code is required")
                    })?;
                    pools
                        .verify_my_attribute(
                            &a,
                            from_native(json!({"attribute": name()?, "code": code}))?,
                        )
                        .await?;
                    Ok(json!({}))
                }
                _ => {
                    let d = pools
                        .send_attribute_code(&a, from_native(json!({"attribute": name()?}))?)
                        .await?;
                    Ok(json!({"CodeDeliveryDetails": code_delivery(&d)}))
                }
            }
        }
        op if admin_auth::ADMIN_AUTH_OPERATIONS.contains(&op) => {
            admin_auth::admin_auth_op(s, op, m).await
        }
        "GetTokensFromRefreshToken" => {
            // Members Cognito accepts that this server ignores are read and dropped.
            #[derive(Deserialize)]
            #[allow(dead_code)]
            #[serde(rename_all = "PascalCase", deny_unknown_fields)]
            struct In {
                refresh_token: String,
                client_id: String,
                #[serde(default)]
                client_secret: Option<String>,
                #[serde(default)]
                client_metadata: Option<Value>,
            }
            let i: In = input(m)?;
            let pool = client_pool(s, &i.client_id).await?;
            let t = pools
                .sessions
                .refresh(
                    &pool,
                    from_native(
                        json!({"client_id": i.client_id, "client_secret": i.client_secret,
                        "refresh_token": i.refresh_token}),
                    )?,
                )
                .await?;
            Ok(json!({"AuthenticationResult": authentication_result(&t)}))
        }
        "RevokeToken" => {
            // Members Cognito accepts that this server ignores are read and dropped.
            #[derive(Deserialize)]
            #[allow(dead_code)]
            #[serde(rename_all = "PascalCase", deny_unknown_fields)]
            struct In {
                token: String,
                client_id: String,
                #[serde(default)]
                client_secret: Option<String>,
            }
            let i: In = input(m)?;
            // The native revocation checks the client (and its secret).
            let pool = client_pool(s, &i.client_id).await?;
            pools
                .sessions
                .revoke(
                    &pool,
                    from_native(
                        json!({"client_id": i.client_id, "client_secret": i.client_secret,
                        "token": i.token}),
                    )?,
                )
                .await?;
            Ok(json!({}))
        }
        _ => unsupported(op),
    }
}

/// Cognito's `UserType`.
fn user_type(u: &crate::model::User) -> Value {
    json!({
        "Username": u.username,
        "Attributes": attribute_list(&crate::model::attributes::public(&u.attributes)),
        "UserCreateDate": u.created_at,
        "UserLastModifiedDate": u.updated_at,
        "Enabled": u.enabled,
        "UserStatus": u.status.as_str(),
    })
}

// Members Cognito accepts that this server ignores are read and dropped.
#[derive(Deserialize)]
#[allow(dead_code)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct AdminIn {
    user_pool_id: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    user_attributes: Vec<AttributeType>,
    #[serde(default)]
    temporary_password: Option<String>,
    #[serde(default)]
    message_action: Option<String>,
    #[serde(default)]
    desired_delivery_mediums: Option<Value>,
    #[serde(default)]
    force_alias_creation: Option<bool>,
    #[serde(default)]
    validation_data: Option<Value>,
    #[serde(default)]
    client_metadata: Option<Value>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    permanent: Option<bool>,
    #[serde(default)]
    group_name: Option<String>,
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    pagination_token: Option<String>,
    #[serde(default)]
    attributes_to_get: Option<Value>,
    #[serde(default)]
    user_attribute_names: Vec<String>,
    #[serde(default)]
    next_token: Option<String>,
}

/// AdminSetUserMFAPreference (its members are not `AdminIn`'s).
async fn admin_set_mfa(s: &AppState, admin: &AdminCtx, m: Map<String, Value>) -> Answer {
    let pools = &s.pools;
    let get = |k: &str| {
        m.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| Fault::new("InvalidParameterException", format!("{k} is required")))
    };
    let (pool, username) = (get("UserPoolId")?, get("Username")?);
    pools
        .admin_set_mfa_preference(admin, &pool, &username, mfa_preference(&m)?)
        .await?;
    Ok(json!({}))
}

/// The Admin* operations and ListUsers (already authenticated by SigV4).
async fn admin_op(s: &AppState, admin: &AdminCtx, op: &str, m: Map<String, Value>) -> Answer {
    if op == "AdminSetUserMFAPreference" {
        return admin_set_mfa(s, admin, m).await;
    }
    let i: AdminIn = input(m)?;
    admin_user_op(s, admin, op, i).await.map_err(|f| {
        // The services say "User not found" as a ResourceNotFound; Cognito
        // has its own exception for it.
        if f.kind == "ResourceNotFoundException" && f.message.starts_with("User not found") {
            Fault::new("UserNotFoundException", "User does not exist.")
        } else {
            f
        }
    })
}

async fn admin_user_op(s: &AppState, admin: &AdminCtx, op: &str, i: AdminIn) -> Answer {
    let pools = &s.pools;
    let pool = i.user_pool_id.as_str();
    let user = || {
        i.username
            .clone()
            .ok_or_else(|| Fault::new("InvalidParameterException", "Username is required"))
    };
    let group = || {
        i.group_name
            .clone()
            .ok_or_else(|| Fault::new("InvalidParameterException", "GroupName is required"))
    };
    match op {
        "AdminGetUser" => {
            let u = pools.admin_get_user(pool, &user()?).await?;
            let mut v = user_type(&u);
            let o = v.as_object_mut().expect("an object");
            if let Some(a) = o.remove("Attributes") {
                o.insert("UserAttributes".into(), a);
            }
            o.insert("MFAOptions".into(), json!([]));
            mfa_members(&mut v, &pools.admin_mfa_view(pool, &user()?).await?);
            Ok(v)
        }
        "AdminCreateUser" => {
            if i.message_action.as_deref() == Some("RESEND") {
                return unsupported("AdminCreateUser MessageAction=RESEND");
            }
            let u = pools
                .admin_create_user(
                    admin,
                    pool,
                    crate::user_pools::users::AdminCreateUser {
                        username: user()?,
                        attributes: attributes(i.user_attributes),
                        temporary_password: i.temporary_password,
                        suppress_invitation: i.message_action.as_deref() == Some("SUPPRESS"),
                    },
                )
                .await?;
            Ok(json!({"User": user_type(&u)}))
        }
        "AdminSetUserPassword" => {
            let password = i
                .password
                .clone()
                .ok_or_else(|| Fault::new("InvalidParameterException", "Password is required"))?;
            pools
                .admin_set_password(
                    admin,
                    pool,
                    &user()?,
                    crate::user_pools::users::SetPassword {
                        password,
                        // Cognito's default is a temporary password.
                        permanent: i.permanent.unwrap_or(false),
                    },
                )
                .await?;
            Ok(json!({}))
        }
        "AdminConfirmSignUp" => {
            pools.admin_confirm(admin, pool, &user()?).await?;
            Ok(json!({}))
        }
        "AdminDisableUser" | "AdminEnableUser" => {
            pools
                .admin_set_enabled(admin, pool, &user()?, op == "AdminEnableUser")
                .await?;
            Ok(json!({}))
        }
        "AdminUserGlobalSignOut" => {
            pools.admin_sign_out(admin, pool, &user()?).await?;
            Ok(json!({}))
        }
        "AdminAddUserToGroup" => {
            pools.add_to_group(admin, pool, &group()?, &user()?).await?;
            Ok(json!({}))
        }
        "AdminResetUserPassword" => {
            pools.admin_reset_password(admin, pool, &user()?).await?;
            Ok(json!({}))
        }
        "AdminUpdateUserAttributes" | "AdminDeleteUserAttributes" => {
            let attrs: crate::model::Attributes = if op == "AdminUpdateUserAttributes" {
                attributes(i.user_attributes)
            } else {
                // The native update deletes an attribute given as "".
                i.user_attribute_names
                    .into_iter()
                    .map(|n| (n, String::new()))
                    .collect()
            };
            pools
                .admin_update_attributes(
                    admin,
                    pool,
                    &user()?,
                    crate::user_pools::users::AdminUpdateAttributes { attributes: attrs },
                )
                .await?;
            Ok(json!({}))
        }
        "AdminListGroupsForUser" => {
            if i.next_token.is_some() {
                return Err(Fault::new(
                    "InvalidParameterException",
                    "NextToken is not valid",
                ));
            }
            let groups = pools.user_groups(pool, &user()?).await?;
            Ok(json!({"Groups": groups.iter().map(|g| json!({
                "GroupName": g.name, "UserPoolId": g.pool_id, "Description": g.description,
                "RoleArn": g.role_arn, "Precedence": g.precedence,
                "CreationDate": g.created_at, "LastModifiedDate": g.updated_at,
            })).collect::<Vec<_>>()}))
        }
        "AdminRemoveUserFromGroup" => {
            pools
                .remove_from_group(admin, pool, &group()?, &user()?)
                .await?;
            Ok(json!({}))
        }
        _ => {
            let limit = i.limit.unwrap_or(60);
            if !(1..=60).contains(&limit) {
                return Err(Fault::new(
                    "InvalidParameterException",
                    "Limit must be 1-60",
                ));
            }
            let users = pools
                .admin_find_users(
                    pool,
                    i.filter.as_deref(),
                    i.pagination_token.as_deref(),
                    limit,
                )
                .await?;
            Ok(page(
                "Users",
                &users,
                limit,
                user_type,
                "PaginationToken",
                |u| u.sub.clone(),
            ))
        }
    }
}

fn sign_in_answer(r: crate::user_pools::auth::SignInResult) -> Value {
    match (r.tokens, r.challenge) {
        (Some(t), _) => {
            json!({"AuthenticationResult": authentication_result(&t), "ChallengeParameters": {}})
        }
        (None, Some(c)) if c.session.is_empty() => {
            json!({"ChallengeName": c.name, "ChallengeParameters": c.parameters})
        }
        (None, Some(mut c)) => {
            // USER_AUTH's choices are a member of their own.
            let available = c
                .parameters
                .remove("AvailableChallenges")
                .and_then(|a| serde_json::from_str::<Value>(&a).ok());
            let mut out = json!({"ChallengeName": c.name, "Session": c.session,
                "ChallengeParameters": c.parameters});
            if let Some(a) = available {
                out["AvailableChallenges"] = a;
            }
            out
        }
        (None, None) => json!({}),
    }
}

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
use serde_json::{Value, json};

#[macro_use]
mod op;
mod account;
mod admin_auth;
mod admin_users;
mod auth;
mod control;
mod error;
mod identity;
mod identity_admin;
mod mfa;
mod passkeys;
mod signup;
mod wire;

/// The operation tables (see `op`): each file of the facade declares its
/// operations. A target in no table is a Cognito operation this server does
/// not offer (`UnsupportedOperationException`) or not one at all.
const TABLES: &[&[op::Operation]] = &[
    account::OPS,
    admin_users::OPS,
    signup::OPS,
    auth::OPS,
    admin_auth::OPS,
    mfa::OPS,
    passkeys::OPS,
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
    let admin = declared
        .filter(|o| o.access == op::Access::Admin)
        .map(|o| o.api.signing_service());
    let admin = match admin {
        Some(service) => match admin_signature(&s, &uri, &headers, &body, service) {
            Ok(ctx) => ctx,
            Err(f) => return respond(&request_id, Err(f)),
        },
        None => None,
    };
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
    // Not an operation of the tables: a body that is not a JSON object is
    // still the protocol's SerializationException, as for any operation.
    let answer = match serde_json::from_slice::<Value>(if body.is_empty() { b"{}" } else { &body })
    {
        Ok(Value::Object(_)) => not_offered(&target),
        Ok(_) | Err(_) => Err(Fault::new(
            "SerializationException",
            "The request body is not a JSON object",
        )),
    };
    respond(&request_id, answer)
}

/// The admin capability of a request to an admin operation: its SigV4
/// signature checked against the admin keys, scoped to this server's region
/// and the operation's signing service; the key that signed is the audit
/// trail's actor.
fn admin_signature(
    s: &AppState,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
    service: &'static str,
) -> Result<Option<AdminCtx>, Fault> {
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
        headers,
        body,
        expected,
        now,
    ) {
        return Err(error::signature(e));
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
        super::sigv4::verify("POST", uri.path(), q, headers, body, expected, now).is_ok()
    });
    Ok(key.map(|k| AdminCtx::cognito_key(k)))
}

/// The answer to a target that no table declares.
fn not_offered(target: &str) -> Result<Vec<u8>, Fault> {
    match op::Api::split(target) {
        Some((_, op)) => unsupported(op),
        None => Err(Fault::new(
            "UnknownOperationException",
            format!("Unknown X-Amz-Target {target:?}"),
        )),
    }
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
fn unsupported(op: &str) -> Result<Vec<u8>, Fault> {
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

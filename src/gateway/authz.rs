//! Authentication (secret lookup for s3s's SigV4 check), session tokens, and IAM policy
//! evaluation for each S3 operation.

use crate::clock::SharedClock;
use std::collections::BTreeSet;
use std::sync::Arc;

use http::Extensions;

use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::dto::{
    CopyObjectInput, CopySource, DeleteObjectsInput, ListObjectsInput, ListObjectsV2Input,
    UploadPartCopyInput,
};
use s3s::path::S3Path;
use s3s::{S3Error, S3Request, S3Result, s3_error};

use super::{CredentialAuthority, SessionGrant, TokenProblem};
use crate::identity::policy::{Context, Decision, Request, Variables};

/// Longest validity of a presigned URL AWS accepts (7 days).
pub(crate) const MAX_PRESIGNED_EXPIRES_SECS: u64 = 7 * 24 * 3600;
/// Most keys in one DeleteObjects request (as in S3).
const MAX_DELETE_KEYS: usize = 1000;
const SESSION_TOKEN_HEADER: &str = "x-amz-security-token";
const SESSION_TOKEN_PARAM: &str = "X-Amz-Security-Token";

/// The checked session of the current request, put into the request extensions by
/// [`GatewayAccess::check`] for the typed hooks.
#[derive(Clone)]
pub(crate) struct Session(pub(crate) Arc<SessionGrant>);

/// Marker put into the request extensions once the policy allowed the operation. The backend
/// refuses any request without it, so an operation can never run unevaluated.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Authorized;

// ---------------------------------------------------------------------------------------------
// Authentication

/// s3s's authentication provider: the secret of an access key id, so s3s can verify SigV4.
pub(crate) struct GatewayAuth {
    authority: Arc<dyn CredentialAuthority>,
}

impl GatewayAuth {
    pub(crate) fn new(authority: Arc<dyn CredentialAuthority>) -> Self {
        Self { authority }
    }
}

#[async_trait::async_trait]
impl S3Auth for GatewayAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.authority.secret_for(access_key) {
            Some(secret) => Ok(SecretKey::from(secret)),
            None => Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )),
        }
    }
}

/// The S3 error a refused session token becomes.
pub(crate) fn token_error(problem: TokenProblem) -> S3Error {
    match problem {
        TokenProblem::Invalid => s3_error!(
            InvalidToken,
            "The provided token is malformed or otherwise invalid."
        ),
        TokenProblem::Expired => s3_error!(ExpiredToken, "The provided token has expired."),
        TokenProblem::Revoked => s3_error!(AccessDenied, "The provided token has been revoked."),
    }
}

/// The signature-related parts of a request, as strings.
pub(crate) struct SignedParts<'a> {
    /// The `Authorization` header, if any (None also when it is not valid UTF-8).
    pub(crate) authorization: Option<&'a str>,
    /// Every `x-amz-security-token` header value (None for a value that is not UTF-8).
    pub(crate) token_headers: Vec<Option<&'a str>>,
    /// The raw query string.
    pub(crate) query: Option<&'a str>,
}

/// The session token of a request s3s has already SigV4-verified. Requires the token to be
/// covered by the signature: a signed header for header auth, the (always signed) query
/// parameter for presigned URLs. Refuses SigV2, which s3s accepts without any clock check.
pub(crate) fn session_token(parts: &SignedParts<'_>) -> S3Result<String> {
    // Parsed exactly as s3s parses the query it verified (serde_urlencoded).
    let query: Vec<(String, String)> = match parts.query {
        Some(q) => serde_urlencoded::from_str(q).map_err(|_| s3_error!(InvalidURI))?,
        None => Vec::new(),
    };
    let values = |name: &str| -> Vec<&str> {
        (query.iter())
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let sigv2_header = parts.authorization.is_some_and(|a| a.starts_with("AWS "));
    if sigv2_header || !values("Signature").is_empty() || !values("AWSAccessKeyId").is_empty() {
        return Err(s3_error!(
            InvalidRequest,
            "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
        ));
    }
    if !values("X-Amz-Signature").is_empty() {
        // Presigned URL (s3s checks this form before header auth).
        let expires = values("X-Amz-Expires");
        let valid = match expires.as_slice() {
            [one] => one
                .parse::<u64>()
                .is_ok_and(|secs| secs <= MAX_PRESIGNED_EXPIRES_SECS),
            _ => false,
        };
        if !valid {
            return Err(s3_error!(
                AuthorizationQueryParametersError,
                "X-Amz-Expires must be a number of seconds no greater than 604800 (7 days)."
            ));
        }
        return match values(SESSION_TOKEN_PARAM).as_slice() {
            [token] if !token.is_empty() => Ok((*token).to_owned()),
            [] | [_] => Err(missing_token()),
            _ => Err(s3_error!(
                AccessDenied,
                "More than one session token was given."
            )),
        };
    }
    let Some(authorization) = parts
        .authorization
        .filter(|a| a.starts_with("AWS4-HMAC-SHA256 "))
    else {
        return Err(s3_error!(AccessDenied, "Signature is required."));
    };
    let token = match parts.token_headers.as_slice() {
        [Some(token)] if !token.is_empty() => *token,
        [] | [_] => return Err(missing_token()),
        _ => {
            return Err(s3_error!(
                AccessDenied,
                "More than one session token was given."
            ));
        }
    };
    if !signed_headers(authorization).any(|h| h.eq_ignore_ascii_case(SESSION_TOKEN_HEADER)) {
        return Err(s3_error!(
            AccessDenied,
            "The x-amz-security-token header must be included in the signed headers."
        ));
    }
    Ok(token.to_owned())
}

/// Checks that a request s3s has SigV4-verified was signed for this gateway: the credential
/// scope (`<key>/<date>/<region>/<service>/aws4_request`, from the `Authorization` header or
/// the presigned `X-Amz-Credential`) names the configured region and the service `s3`, as
/// AWS refuses a signature scoped to another region or service.
pub(crate) fn check_scope(parts: &SignedParts<'_>, region: &str) -> S3Result<()> {
    let query: Vec<(String, String)> = match parts.query {
        Some(q) => serde_urlencoded::from_str(q).map_err(|_| s3_error!(InvalidURI))?,
        None => Vec::new(),
    };
    let presigned: Vec<&str> = (query.iter())
        .filter(|(k, _)| k == "X-Amz-Credential")
        .map(|(_, v)| v.as_str())
        .collect();
    let is_presigned = query.iter().any(|(k, _)| k == "X-Amz-Signature");
    let credential = if is_presigned {
        match presigned.as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    } else {
        parts.authorization.and_then(|a| {
            let mut found = a.match_indices("Credential=");
            match (found.next(), found.next()) {
                (Some((at, tag)), None) => {
                    let rest = a.get(at + tag.len()..).unwrap_or_default();
                    rest.split([',', ' ']).next()
                }
                _ => None,
            }
        })
    };
    let scope: Vec<&str> = credential
        .map(|c| c.split('/').collect())
        .unwrap_or_default();
    let problem = match scope.as_slice() {
        [_, _, r, "s3", "aws4_request"] if *r == region => return Ok(()),
        [_, _, r, "s3", "aws4_request"] => {
            format!("the region '{r}' is wrong; expecting '{region}'")
        }
        [_, _, _, service, "aws4_request"] => {
            format!("the service '{service}' is wrong; expecting 's3'")
        }
        _ => "the credential scope is malformed".to_owned(),
    };
    Err(if is_presigned {
        S3Error::with_message(
            s3s::S3ErrorCode::AuthorizationQueryParametersError,
            format!("Error parsing the X-Amz-Credential parameter; {problem}"),
        )
    } else {
        S3Error::with_message(
            s3s::S3ErrorCode::AuthorizationHeaderMalformed,
            format!("The authorization header is malformed; {problem}"),
        )
    })
}

fn missing_token() -> S3Error {
    s3_error!(
        AccessDenied,
        "A session token (x-amz-security-token) is required with these credentials."
    )
}

/// The `SignedHeaders=` list of a SigV4 `Authorization` header (empty when it appears other
/// than exactly once, so an ambiguous header never counts as signing anything).
fn signed_headers(authorization: &str) -> impl Iterator<Item = &str> {
    let mut found = authorization.match_indices("SignedHeaders=");
    let list = match (found.next(), found.next()) {
        (Some((at, tag)), None) => authorization.get(at + tag.len()..).unwrap_or_default(),
        _ => "",
    };
    let end = list.find([',', ' ']).unwrap_or(list.len());
    let list = list.get(..end).unwrap_or_default();
    list.split(';').filter(|h| !h.is_empty())
}

// ---------------------------------------------------------------------------------------------
// What each operation needs

/// One permission an operation needs: an IAM action on a resource, with condition keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Need {
    pub(crate) action: &'static str,
    pub(crate) resource: String,
    pub(crate) context: Context,
}

impl Need {
    fn new(action: &'static str, resource: String) -> Self {
        let context = Context::new();
        Self {
            action,
            resource,
            context,
        }
    }
}

/// How [`GatewayAccess::check`] handles an operation.
#[derive(Debug)]
pub(crate) enum Plan {
    /// Everything needed is in the path: evaluate now.
    Now(Need),
    /// Needs parsed input (list prefix, copy source, delete keys): evaluated in the typed hook.
    Typed,
    /// Never allowed through this gateway.
    Refuse(S3Error),
}

pub(crate) fn object_arn(bucket: &str, key: &str) -> String {
    format!("arn:aws:s3:::{bucket}/{key}")
}

pub(crate) fn bucket_arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}

/// Resource of account-level actions such as `s3:ListAllMyBuckets`. Matched by the policy
/// resources `*` and `arn:aws:s3:::*` alike.
pub(crate) const ALL_BUCKETS_ARN: &str = "arn:aws:s3:::*";

/// The IAM action of an operation on a single object, for operations that have one.
pub(crate) fn object_action(op: &str) -> Option<&'static str> {
    Some(match op {
        "GetObject" | "HeadObject" => "s3:GetObject",
        "PutObject" | "CreateMultipartUpload" | "UploadPart" | "CompleteMultipartUpload" => {
            "s3:PutObject"
        }
        "AbortMultipartUpload" => "s3:AbortMultipartUpload",
        "ListParts" => "s3:ListMultipartUploadParts",
        "DeleteObject" => "s3:DeleteObject",
        _ => return None,
    })
}

/// Decides how an operation (by its s3s name) on `path` is authorized.
pub(crate) fn plan(op: &str, path: &S3Path) -> Plan {
    match (op, path) {
        (
            "ListObjects" | "ListObjectsV2" | "CopyObject" | "UploadPartCopy" | "DeleteObjects",
            _,
        ) => Plan::Typed,
        ("CreateBucket" | "DeleteBucket", _) => Plan::Refuse(s3_error!(
            AccessDenied,
            "Buckets are configured by the server and cannot be created or deleted."
        )),
        ("PostObject", _) => Plan::Refuse(s3_error!(
            AccessDenied,
            "Browser-based POST uploads are not supported; use PutObject or a presigned URL."
        )),
        ("ListBuckets", S3Path::Root) => {
            Plan::Now(Need::new("s3:ListAllMyBuckets", ALL_BUCKETS_ARN.to_owned()))
        }
        ("HeadBucket", S3Path::Bucket { bucket }) => {
            Plan::Now(Need::new("s3:ListBucket", bucket_arn(bucket)))
        }
        (op, S3Path::Object { bucket, key }) => match object_action(op) {
            Some(action) => Plan::Now(Need::new(action, object_arn(bucket, key))),
            None => Plan::Refuse(unsupported(op)),
        },
        (op, _) => Plan::Refuse(unsupported(op)),
    }
}

fn unsupported(op: &str) -> S3Error {
    s3_error!(
        NotImplemented,
        "The {op} operation is not supported by this gateway."
    )
}

/// `s3:ListBucket` on the bucket, with the `s3:prefix` (empty when absent), `s3:delimiter` and
/// `s3:max-keys` condition keys.
pub(crate) fn list_need(
    bucket: &str,
    prefix: Option<&str>,
    delimiter: Option<&str>,
    max_keys: Option<i32>,
) -> S3Result<Need> {
    let prefix = prefix.unwrap_or_default();
    let mut need = Need::new("s3:ListBucket", bucket_arn(bucket));
    need.context
        .insert("s3:prefix".to_owned(), prefix.to_owned());
    if let Some(delimiter) = delimiter {
        need.context
            .insert("s3:delimiter".to_owned(), delimiter.to_owned());
    }
    if let Some(max_keys) = max_keys {
        need.context
            .insert("s3:max-keys".to_owned(), max_keys.to_string());
    }
    Ok(need)
}

/// Copying needs `s3:PutObject` on the destination and `s3:GetObject` on the source.
pub(crate) fn copy_needs(
    dest_bucket: &str,
    dest_key: &str,
    source_bucket: &str,
    source_key: &str,
) -> [Need; 2] {
    [
        Need::new("s3:PutObject", object_arn(dest_bucket, dest_key)),
        Need::new("s3:GetObject", object_arn(source_bucket, source_key)),
    ]
}

/// Any key S3 accepts: 1 to 1,024 bytes of UTF-8 (the type guarantees UTF-8). `.`/`..`
/// segments, `//` and a leading `/` are ordinary characters of a key: local buckets keep keys
/// in an index, never as file paths, and policies match the key as written, as in S3
/// (`me/../you/x` is a key under `me/`).
pub(crate) fn check_key(key: &str) -> S3Result<()> {
    if key.is_empty() {
        return Err(s3_error!(
            InvalidArgument,
            "An object key may not be empty."
        ));
    }
    if key.len() > super::objects::MAX_KEY_BYTES {
        return Err(s3_error!(
            KeyTooLongError,
            "Your key is too long (at most 1024 bytes of UTF-8)."
        ));
    }
    Ok(())
}

/// For buckets kept upstream, also refuses keys that an HTTP stack on the way (or the
/// upstream store itself) might normalize into another key: `.`/`..` segments
/// (`me/../you/x` would pass a `me/*` policy but could reach `you/x`), empty segments (`a//b`
/// could become `a/b`, dodging a Deny on it), a leading `/` and NUL.
pub(crate) fn check_upstream_key(key: &str) -> S3Result<()> {
    let segments: Vec<&str> = key.split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate() {
        let bad = match *segment {
            "." | ".." => true,
            // A trailing '/' (directory marker) is allowed; other empty segments are not.
            "" => i != last || i == 0,
            s => s.contains('\0'),
        };
        if bad {
            return Err(s3_error!(
                InvalidArgument,
                "Keys in this bucket may not start with '/', or contain '//', '.' or '..' segments."
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Access control

/// s3s's access provider: session tokens and policy evaluation.
pub(crate) struct GatewayAccess {
    authority: Arc<dyn CredentialAuthority>,
    buckets: Arc<BTreeSet<String>>,
    /// The buckets kept by this server (the others are upstream).
    local: Arc<BTreeSet<String>>,
    /// The region signatures must be scoped to.
    region: String,
    /// The app's clock (credential expiry).
    clock: SharedClock,
}

impl GatewayAccess {
    pub(crate) fn new(
        authority: Arc<dyn CredentialAuthority>,
        buckets: Arc<BTreeSet<String>>,
        local: Arc<BTreeSet<String>>,
        region: String,
        clock: SharedClock,
    ) -> Self {
        Self {
            authority,
            buckets,
            local,
            region,
            clock,
        }
    }

    /// [`check_key`], and for upstream buckets [`check_upstream_key`].
    fn check_key_in(&self, bucket: &str, key: &str) -> S3Result<()> {
        check_key(key)?;
        if self.local.contains(bucket) {
            Ok(())
        } else {
            check_upstream_key(key)
        }
    }

    fn check_bucket(&self, bucket: &str) -> S3Result<()> {
        if self.buckets.contains(bucket) {
            Ok(())
        } else {
            Err(s3_error!(
                NoSuchBucket,
                "The specified bucket does not exist."
            ))
        }
    }

    /// Copy source: a configured bucket, a valid key, no version.
    fn check_copy_source<'a>(&self, source: &'a CopySource) -> S3Result<(&'a str, &'a str)> {
        match source {
            CopySource::Bucket {
                bucket,
                key,
                version_id,
            } => {
                if version_id.is_some() {
                    return Err(s3_error!(
                        NotImplemented,
                        "Object versions are not supported."
                    ));
                }
                self.check_bucket(bucket)?;
                self.check_key_in(bucket, key)?;
                Ok((bucket, key))
            }
            _ => Err(s3_error!(
                NotImplemented,
                "Only bucket/key copy sources are supported."
            )),
        }
    }
}

fn session(extensions: &Extensions) -> S3Result<Arc<SessionGrant>> {
    match extensions.get::<Session>() {
        Some(Session(grant)) => Ok(Arc::clone(grant)),
        None => Err(s3_error!(AccessDenied)),
    }
}

/// Allows only if the policy says Allow for every need.
pub(crate) fn authorize(grant: &SessionGrant, needs: &[Need]) -> S3Result<()> {
    let variables = Variables {
        sub: Some(grant.identity_id.clone()),
        aud: Some(grant.identity_pool_id.clone()),
        amr: grant.amr.clone(),
    };
    for need in needs {
        let request = Request {
            action: need.action,
            resource: &need.resource,
            context: &need.context,
            variables: &variables,
        };
        let decision = grant.policy.evaluate(&request);
        if decision != Decision::Allow {
            tracing::info!(
                identity = %grant.identity_id,
                action = need.action,
                resource = %need.resource,
                ?decision,
                "gateway: access denied"
            );
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
    }
    Ok(())
}

/// Evaluates `needs` for a typed hook and marks the request authorized.
fn authorize_typed(extensions: &mut Extensions, needs: &[Need]) -> S3Result<()> {
    let grant = session(extensions)?;
    authorize(&grant, needs)?;
    extensions.insert(Authorized);
    Ok(())
}

#[async_trait::async_trait]
impl S3Access for GatewayAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let Some(credentials) = cx.credentials() else {
            return Err(s3_error!(AccessDenied, "Signature is required."));
        };
        let access_key = credentials.access_key.clone();
        let headers = cx.headers();
        let parts = SignedParts {
            authorization: headers.get("authorization").and_then(|v| v.to_str().ok()),
            token_headers: (headers.get_all(SESSION_TOKEN_HEADER).iter())
                .map(|v| v.to_str().ok())
                .collect(),
            query: cx.uri().query(),
        };
        let token = session_token(&parts)?;
        check_scope(&parts, &self.region)?;
        let grant = (self.authority)
            .check_session(&access_key, &token)
            .await
            .map_err(token_error)?;
        if grant.expires_at <= self.clock.now() {
            return Err(token_error(TokenProblem::Expired));
        }

        let path = cx.s3_path();
        let plan = match plan(cx.s3_op().name(), path) {
            Plan::Refuse(error) => return Err(error),
            plan => plan,
        };
        if let Some(bucket) = path.get_bucket_name() {
            self.check_bucket(bucket)?;
            if let Some(key) = path.get_object_key() {
                self.check_key_in(bucket, key)?;
            }
        }
        let authorized = match plan {
            Plan::Now(need) => {
                authorize(&grant, &[need])?;
                true
            }
            Plan::Typed | Plan::Refuse(_) => false,
        };
        let extensions = cx.extensions_mut();
        extensions.insert(Session(Arc::new(grant)));
        if authorized {
            extensions.insert(Authorized);
        }
        Ok(())
    }

    async fn list_objects(&self, req: &mut S3Request<ListObjectsInput>) -> S3Result<()> {
        let input = &req.input;
        let need = list_need(
            &input.bucket,
            input.prefix.as_deref(),
            input.delimiter.as_deref(),
            input.max_keys,
        )?;
        authorize_typed(&mut req.extensions, &[need])
    }

    async fn list_objects_v2(&self, req: &mut S3Request<ListObjectsV2Input>) -> S3Result<()> {
        let input = &req.input;
        let need = list_need(
            &input.bucket,
            input.prefix.as_deref(),
            input.delimiter.as_deref(),
            input.max_keys,
        )?;
        authorize_typed(&mut req.extensions, &[need])
    }

    async fn copy_object(&self, req: &mut S3Request<CopyObjectInput>) -> S3Result<()> {
        let input = &req.input;
        let (source_bucket, source_key) = self.check_copy_source(&input.copy_source)?;
        let needs = copy_needs(&input.bucket, &input.key, source_bucket, source_key);
        authorize_typed(&mut req.extensions, &needs)
    }

    async fn upload_part_copy(&self, req: &mut S3Request<UploadPartCopyInput>) -> S3Result<()> {
        let input = &req.input;
        let (source_bucket, source_key) = self.check_copy_source(&input.copy_source)?;
        let needs = copy_needs(&input.bucket, &input.key, source_bucket, source_key);
        authorize_typed(&mut req.extensions, &needs)
    }

    async fn delete_objects(&self, req: &mut S3Request<DeleteObjectsInput>) -> S3Result<()> {
        let input = &req.input;
        let objects = &input.delete.objects;
        if objects.is_empty() || objects.len() > MAX_DELETE_KEYS {
            return Err(s3_error!(
                MalformedXML,
                "A delete request must name 1 to 1000 keys."
            ));
        }
        let mut needs = Vec::with_capacity(objects.len());
        for object in objects {
            if object.version_id.is_some() {
                return Err(s3_error!(
                    NotImplemented,
                    "Object versions are not supported."
                ));
            }
            self.check_key_in(&input.bucket, &object.key)?;
            let resource = object_arn(&input.bucket, &object.key);
            needs.push(Need::new("s3:DeleteObject", resource));
        }
        authorize_typed(&mut req.extensions, &needs)
    }
}

/// Whether the backend may run this request (see [`Authorized`]).
pub(crate) fn admitted(extensions: &Extensions) -> S3Result<Arc<SessionGrant>> {
    if extensions.get::<Authorized>().is_none() {
        return Err(s3_error!(AccessDenied, "Access Denied"));
    }
    session(extensions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::policy::PolicyDocument;
    use serde_json::json;

    fn code(result: S3Result<impl std::fmt::Debug>) -> String {
        match result {
            Ok(v) => format!("Ok({v:?})"),
            Err(e) => e.code().as_str().to_owned(),
        }
    }

    #[test]
    fn object_operations_map_to_actions_and_object_arns() {
        let table = [
            ("GetObject", "s3:GetObject"),
            ("HeadObject", "s3:GetObject"),
            ("PutObject", "s3:PutObject"),
            ("CreateMultipartUpload", "s3:PutObject"),
            ("UploadPart", "s3:PutObject"),
            ("CompleteMultipartUpload", "s3:PutObject"),
            ("AbortMultipartUpload", "s3:AbortMultipartUpload"),
            ("ListParts", "s3:ListMultipartUploadParts"),
            ("DeleteObject", "s3:DeleteObject"),
        ];
        let path = S3Path::object("photos", "local-east-1:alice/a b.jpg");
        for (op, action) in table {
            match plan(op, &path) {
                Plan::Now(need) => {
                    assert_eq!(need.action, action, "{op}");
                    assert_eq!(
                        need.resource, "arn:aws:s3:::photos/local-east-1:alice/a b.jpg",
                        "{op}"
                    );
                    assert!(need.context.is_empty(), "{op}");
                }
                other => panic!("{op}: {other:?}"),
            }
        }
    }

    #[test]
    fn bucket_and_root_operations() {
        let Plan::Now(need) = plan("HeadBucket", &S3Path::bucket("photos")) else {
            panic!("HeadBucket")
        };
        assert_eq!(
            (need.action, need.resource.as_str()),
            ("s3:ListBucket", "arn:aws:s3:::photos")
        );
        let Plan::Now(need) = plan("ListBuckets", &S3Path::root()) else {
            panic!("ListBuckets")
        };
        assert_eq!(
            (need.action, need.resource.as_str()),
            ("s3:ListAllMyBuckets", "arn:aws:s3:::*")
        );
    }

    #[test]
    fn deferred_refused_and_unknown_operations() {
        let object = S3Path::object("photos", "k");
        let bucket = S3Path::bucket("photos");
        let table: [(&str, &S3Path, &str); 12] = [
            ("ListObjects", &bucket, "typed"),
            ("ListObjectsV2", &bucket, "typed"),
            ("CopyObject", &object, "typed"),
            ("UploadPartCopy", &object, "typed"),
            ("DeleteObjects", &bucket, "typed"),
            ("CreateBucket", &bucket, "AccessDenied"),
            ("DeleteBucket", &bucket, "AccessDenied"),
            ("PostObject", &bucket, "AccessDenied"),
            ("PutObjectAcl", &object, "NotImplemented"),
            ("GetObjectAttributes", &object, "NotImplemented"),
            ("PutBucketPolicy", &bucket, "NotImplemented"),
            // An object operation resolved on a bucket path is never allowed.
            ("GetObject", &bucket, "NotImplemented"),
        ];
        for (op, path, expected) in table {
            let got = match plan(op, path) {
                Plan::Typed => "typed".to_owned(),
                Plan::Refuse(e) => e.code().as_str().to_owned(),
                Plan::Now(need) => format!("now {need:?}"),
            };
            assert_eq!(got, expected, "{op}");
        }
    }

    #[test]
    fn list_context_keys() {
        let need = list_need("photos", Some("me/"), Some("/"), Some(10)).unwrap();
        assert_eq!(need.action, "s3:ListBucket");
        assert_eq!(need.resource, "arn:aws:s3:::photos");
        let context: Vec<(&str, &str)> = (need.context.iter())
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            context,
            [
                ("s3:delimiter", "/"),
                ("s3:max-keys", "10"),
                ("s3:prefix", "me/")
            ]
        );
        let need = list_need("photos", None, None, None).unwrap();
        assert_eq!(need.context.get("s3:prefix").map(String::as_str), Some(""));
        assert_eq!(need.context.len(), 1);
        // Keys may start with '/' and any delimiter is served: nothing to refuse.
        for (prefix, delimiter) in [(Some("/me/"), None), (None, Some("")), (None, Some("é"))] {
            assert!(list_need("photos", prefix, delimiter, None).is_ok());
        }
    }

    #[test]
    fn copy_needs_put_on_destination_and_get_on_source() {
        let [put, get] = copy_needs("photos", "me/b", "photos", "you/a");
        assert_eq!(
            (put.action, put.resource.as_str()),
            ("s3:PutObject", "arn:aws:s3:::photos/me/b")
        );
        assert_eq!(
            (get.action, get.resource.as_str()),
            ("s3:GetObject", "arn:aws:s3:::photos/you/a")
        );
    }

    #[test]
    fn token_problems_map_to_s3_errors() {
        let table = [
            (TokenProblem::Invalid, "InvalidToken", 400),
            (TokenProblem::Expired, "ExpiredToken", 400),
            (TokenProblem::Revoked, "AccessDenied", 403),
        ];
        for (problem, expected, status) in table {
            let error = token_error(problem);
            assert_eq!(error.code().as_str(), expected, "{problem:?}");
            let got = error.code().status_code().map(|s| s.as_u16());
            assert_eq!(got, Some(status), "{problem:?}");
        }
    }

    #[test]
    fn i4_any_s3_key_up_to_1024_bytes_is_accepted() {
        let longest = format!("me/{}", "é".repeat((1024 - 3) / 2)) + "x";
        assert_eq!(longest.len(), 1024);
        let ok = [
            "a",
            "me/a.txt",
            "me/dir/",
            "me/.hidden",
            "me/..x",
            "me/a b/c?d",
            "me/../you/x",
            "..",
            "me/./x",
            "/etc/passwd",
            "me//x",
            "/",
            "me/\0",
            "日本/😀",
            longest.as_str(),
        ];
        for key in ok {
            assert!(check_key(key).is_ok(), "{key}");
        }
        let long = longest.clone() + "y";
        let bad = [("", "InvalidArgument"), (long.as_str(), "KeyTooLongError")];
        for (key, expected) in bad {
            assert_eq!(code(check_key(key)), expected, "{key}");
        }
        // Upstream buckets keep refusing what could be normalized on the way.
        for key in [
            "me/../you/x",
            "..",
            "me/./x",
            "/etc/passwd",
            "me//x",
            "/",
            "me/\0",
        ] {
            assert_eq!(code(check_upstream_key(key)), "InvalidArgument", "{key}");
        }
        for key in ["me/a.txt", "me/dir/", "me/..x", longest.as_str()] {
            assert!(check_upstream_key(key).is_ok(), "{key}");
        }
    }

    const SIGNED: &str = "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/s3/aws4_request, \
        SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=abc";
    const UNSIGNED: &str = "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/s3/aws4_request, \
        SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=abc";

    fn token_of(authorization: Option<&str>, headers: &[&str], query: Option<&str>) -> String {
        let parts = SignedParts {
            authorization,
            token_headers: headers.iter().map(|h| Some(*h)).collect(),
            query,
        };
        match session_token(&parts) {
            Ok(token) => format!("token {token}"),
            Err(e) => e.code().as_str().to_owned(),
        }
    }

    fn scope_outcome(authorization: Option<&str>, query: Option<&str>) -> String {
        let parts = SignedParts {
            authorization,
            token_headers: vec![],
            query,
        };
        match check_scope(&parts, "local-east-1") {
            Ok(()) => "ok".to_owned(),
            Err(e) => e.code().as_str().to_owned(),
        }
    }

    #[test]
    fn a9_the_credential_scope_names_the_configured_region_and_s3() {
        let header = |scope: &str| {
            format!(
                "AWS4-HMAC-SHA256 Credential=AKID/20250101/{scope}/aws4_request, SignedHeaders=host, Signature=abc"
            )
        };
        let presigned = |scope: &str| {
            format!(
                "X-Amz-Credential=AKID%2F20250101%2F{}%2Faws4_request&X-Amz-Signature=abc",
                scope.replace('/', "%2F")
            )
        };
        for (scope, want) in [
            ("local-east-1/s3", "ok"),
            ("us-east-1/s3", "AuthorizationHeaderMalformed"),
            ("local-east-1/sts", "AuthorizationHeaderMalformed"),
            ("local-east-1/cognito-idp", "AuthorizationHeaderMalformed"),
        ] {
            assert_eq!(scope_outcome(Some(&header(scope)), None), want, "{scope}");
            let want = want.replace(
                "AuthorizationHeaderMalformed",
                "AuthorizationQueryParametersError",
            );
            assert_eq!(
                scope_outcome(None, Some(&presigned(scope))),
                want,
                "presigned {scope}"
            );
        }
        assert_eq!(scope_outcome(None, None), "AuthorizationHeaderMalformed");
        let twice = format!(
            "{}, Credential=AKID/20250101/local-east-1/s3/aws4_request",
            header("us-east-1/s3")
        );
        assert_eq!(
            scope_outcome(Some(&twice), None),
            "AuthorizationHeaderMalformed"
        );
    }

    /// (Authorization header, x-amz-security-token headers, query, expected outcome)
    type TokenCase<'a> = (Option<&'a str>, &'a [&'a str], Option<&'a str>, &'a str);

    #[test]
    fn session_token_sources() {
        let presigned = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=3600\
            &X-Amz-Security-Token=a%2Bb%2F%3D&X-Amz-Signature=abc";
        let table: [TokenCase<'_>; 12] = [
            (Some(SIGNED), &["tok"], None, "token tok"),
            (Some(SIGNED), &[], None, "AccessDenied"),
            (Some(SIGNED), &["a", "b"], None, "AccessDenied"),
            (Some(SIGNED), &[""], None, "AccessDenied"),
            (Some(UNSIGNED), &["tok"], None, "AccessDenied"),
            (None, &[], Some(presigned), "token a+b/="),
            (
                None,
                &[],
                Some("X-Amz-Expires=60&X-Amz-Signature=abc"),
                "AccessDenied",
            ),
            (
                None,
                &[],
                Some("X-Amz-Expires=604801&X-Amz-Security-Token=t&X-Amz-Signature=abc"),
                "AuthorizationQueryParametersError",
            ),
            (Some("AWS AKID:c2ln"), &["tok"], None, "InvalidRequest"),
            (
                None,
                &[],
                Some("AWSAccessKeyId=A&Signature=x&Expires=1"),
                "InvalidRequest",
            ),
            (None, &["tok"], None, "AccessDenied"),
            (Some("Bearer x"), &["tok"], None, "AccessDenied"),
        ];
        for (authorization, headers, query, expected) in table {
            assert_eq!(
                token_of(authorization, headers, query),
                expected,
                "{authorization:?} {headers:?} {query:?}"
            );
        }
    }

    #[test]
    fn signed_headers_must_appear_once() {
        let twice = format!("{SIGNED}, SignedHeaders=x-amz-security-token");
        assert_eq!(signed_headers(&twice).count(), 0);
        let list: Vec<&str> = signed_headers(SIGNED).collect();
        assert_eq!(
            list,
            [
                "host",
                "x-amz-content-sha256",
                "x-amz-date",
                "x-amz-security-token"
            ]
        );
    }

    fn grant(policy: serde_json::Value) -> SessionGrant {
        SessionGrant {
            identity_id: "local-east-1:alice".into(),
            identity_pool_id: "local-east-1:pool".into(),
            amr: Some("authenticated".into()),
            policy: PolicyDocument::parse(&policy).unwrap(),
            expires_at: i64::MAX,
        }
    }

    #[test]
    fn policy_evaluation_with_identity_variables() {
        let grant = grant(json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
                 "Resource": "arn:aws:s3:::photos/${cognito-identity.amazonaws.com:sub}/*"},
                {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::photos",
                 "Condition": {"StringLike": {"s3:prefix": "${cognito-identity.amazonaws.com:sub}/*"}}},
                {"Effect": "Deny", "Action": "s3:GetObject",
                 "Resource": "arn:aws:s3:::photos/${cognito-identity.amazonaws.com:sub}/secret"}
            ]
        }));
        let obj = |action, key: &str| Need::new(action, object_arn("photos", key));
        let list = |prefix| list_need("photos", prefix, None, None).unwrap();
        let table = [
            (vec![obj("s3:GetObject", "local-east-1:alice/x")], true),
            (
                vec![obj("s3:GetObject", "local-east-1:alice/secret")],
                false,
            ),
            (vec![obj("s3:DeleteObject", "local-east-1:alice/x")], false),
            (vec![obj("s3:GetObject", "local-east-1:bob/x")], false),
            (vec![list(Some("local-east-1:alice/"))], true),
            (vec![list(Some("local-east-1:bob/"))], false),
            (vec![list(None)], false),
            (
                copy_needs(
                    "photos",
                    "local-east-1:alice/b",
                    "photos",
                    "local-east-1:alice/a",
                )
                .to_vec(),
                true,
            ),
            (
                copy_needs(
                    "photos",
                    "local-east-1:alice/b",
                    "photos",
                    "local-east-1:bob/a",
                )
                .to_vec(),
                false,
            ),
        ];
        for (needs, allowed) in table {
            assert_eq!(authorize(&grant, &needs).is_ok(), allowed, "{needs:?}");
        }
        let denied = authorize(&grant, &[obj("s3:GetObject", "local-east-1:bob/x")]);
        assert_eq!(code(denied), "AccessDenied");
    }
}

//! S3-compatible storage gateway that honours the short-lived credentials minted by the
//! identity pools.
//!
//! Request flow (s3s 0.14):
//! 1. s3s verifies the AWS Signature V4 (header auth, presigned query strings and
//!    `aws-chunked` streaming uploads, whose chunk signatures are checked while the body
//!    streams) with the secret from [`CredentialAuthority::secret_for`]. It enforces a
//!    15 minute clock skew on `x-amz-date` and the expiry of presigned URLs.
//! 2. `authz::GatewayAccess::check` refuses SigV2 and anonymous requests, reads the session
//!    token (`x-amz-security-token` header, which must be signed, or the
//!    `X-Amz-Security-Token` query parameter of a presigned URL), has the authority check it,
//!    and evaluates the grant's IAM policy. Operations whose policy inputs are only known after
//!    parsing (list prefix, copy source, multi-object delete) are evaluated in s3s's typed
//!    per-operation hooks instead.
//! 3. `upstream::Router` sends each allowed operation to the backend of its bucket:
//!    `backend::Backend` serves local buckets from `objects` (data files plus a per-bucket
//!    index); buckets configured
//!    in [`GatewaySettings::upstream_buckets`] are forwarded to an upstream S3-compatible store
//!    with the server's own credentials. Both refuse any request that was not marked
//!    authorized in step 2.

mod authz;
mod backend;
mod objects;
pub mod sign;
mod upstream;

use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use s3s::config::{S3Config, StaticConfigProvider};
use s3s::service::{S3Service, S3ServiceBuilder};

/// The object-key rule of local buckets, applied to every key before a backend sees it
/// (request path, copy source, multi-object delete): any key of 1 to 1,024 bytes of UTF-8
/// (`InvalidArgument` for an empty one, `KeyTooLongError` for an over-long one). Public for
/// the property tests and the `cargo fuzz` targets (`fuzz/`); the gateway itself calls it
/// through `authz`.
pub fn check_object_key(key: &str) -> s3s::S3Result<()> {
    authz::check_key(key)
}

/// The stricter rule of upstream buckets: also `InvalidArgument` for keys an HTTP stack or
/// the upstream store might normalize into another key (`.`/`..` and empty segments, a
/// leading `/`, NUL). Public for the property tests and the fuzz targets.
pub fn check_upstream_object_key(key: &str) -> s3s::S3Result<()> {
    authz::check_key(key)?;
    authz::check_upstream_key(key)
}

/// What a session token grants, after the authority unsealed and checked it.
#[derive(Debug, Clone)]
pub struct SessionGrant {
    /// e.g. "local-east-1:5f0c...": the `${cognito-identity.amazonaws.com:sub}` variable.
    pub identity_id: String,
    /// The `${cognito-identity.amazonaws.com:aud}` variable.
    pub identity_pool_id: String,
    /// "authenticated" / "unauthenticated".
    pub amr: Option<String>,
    pub policy: crate::identity::policy::PolicyDocument,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Why a session token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    Invalid,
    Expired,
    Revoked,
}

/// The part of poolgate that mints and checks storage credentials.
#[async_trait::async_trait]
pub trait CredentialAuthority: Send + Sync + 'static {
    /// The secret access key of an access key id this server minted (derived, no I/O); None if not ours.
    fn secret_for(&self, access_key_id: &str) -> Option<String>;
    /// Unseals and checks a session token: bound to this access key id, unexpired, nothing it
    /// rests on revoked; the grant carries the role's current policy (I3).
    async fn check_session(
        &self,
        access_key_id: &str,
        session_token: &str,
    ) -> Result<SessionGrant, TokenProblem>;
}

/// Where objects live and which buckets exist.
pub struct GatewaySettings {
    /// Local buckets are directories under `root`.
    pub root: PathBuf,
    /// Local buckets.
    pub buckets: Vec<String>,
    /// Buckets stored in an upstream S3-compatible service. Names must differ from `buckets`.
    pub upstream_buckets: Vec<UpstreamBucket>,
    /// The region a request's signature must be scoped to (the server's `server.region`).
    pub region: String,
}

/// A bucket of the gateway stored in an upstream S3-compatible service (AWS S3, MinIO, Ceph
/// RGW, ...), reached with the server's own credentials. Clients never see these credentials
/// or the upstream bucket name; their own policy is evaluated first, as for local buckets.
#[derive(Clone)]
pub struct UpstreamBucket {
    /// The bucket name clients use (and policies name).
    pub name: String,
    /// e.g. `https://s3.eu-west-1.amazonaws.com` or `http://127.0.0.1:9000`.
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    /// Also keys the binding of multipart upload ids to identities: every node serving the
    /// bucket must have the same value.
    pub secret_access_key: String,
    /// The bucket's name at the upstream; defaults to `name`.
    pub upstream_bucket: Option<String>,
    /// `http://host/bucket/key` (MinIO, Ceph, moto) instead of `http://bucket.host/key`.
    pub path_style: bool,
}

impl std::fmt::Debug for UpstreamBucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamBucket")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("upstream_bucket", &self.upstream_bucket)
            .field("path_style", &self.path_style)
            .finish()
    }
}

/// The gateway's settings from the `storage` section of the config.
pub fn settings(s: &crate::config::StorageSettings, region: &str) -> GatewaySettings {
    GatewaySettings {
        region: region.to_owned(),
        root: s.root.clone(),
        buckets: s.buckets.clone(),
        upstream_buckets: s
            .upstream_buckets
            .iter()
            .map(|u| UpstreamBucket {
                name: u.name.clone(),
                endpoint: u.endpoint.clone(),
                region: u.region.clone(),
                access_key_id: u.access_key_id.clone(),
                secret_access_key: u.secret_access_key.expose().to_owned(),
                upstream_bucket: u.upstream_bucket.clone(),
                path_style: u.path_style,
            })
            .collect(),
    }
}

/// Most clock difference accepted between a signed request's `x-amz-date` and this server.
pub const MAX_CLOCK_SKEW_SECS: u32 = 15 * 60;

/// How long [`serve`] lets in-flight requests finish after shutdown is signalled.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Time a client has to send a request's headers (slow-loris guard, HTTP/1).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds the S3 service. Creates `root` and the local bucket directories if missing.
/// Does not contact upstream stores.
pub fn build(
    settings: &GatewaySettings,
    authority: Arc<dyn CredentialAuthority>,
    clock: crate::clock::SharedClock,
) -> anyhow::Result<S3Service> {
    let mut buckets = BTreeSet::new();
    for bucket in &settings.buckets {
        anyhow::ensure!(
            s3s::path::check_bucket_name(bucket),
            "invalid bucket name {bucket:?}"
        );
        buckets.insert(bucket.clone());
    }
    let mut all_buckets = buckets.clone();
    for bucket in &settings.upstream_buckets {
        let name = &bucket.name;
        anyhow::ensure!(
            s3s::path::check_bucket_name(name),
            "invalid bucket name {name:?}"
        );
        anyhow::ensure!(
            all_buckets.insert(name.clone()),
            "bucket {name:?} is configured twice"
        );
    }
    let upstreams = upstream::build_upstreams(&settings.upstream_buckets)?;
    std::fs::create_dir_all(&settings.root)
        .with_context(|| format!("creating {}", settings.root.display()))?;
    for bucket in &buckets {
        let dir = settings.root.join(bucket);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let buckets = Arc::new(buckets);

    let backend = backend::Backend::new(&settings.root, Arc::clone(&buckets), clock.clone())?;
    let router = upstream::Router::new(backend, upstreams);
    let mut builder = S3ServiceBuilder::new(router);
    builder.set_auth(authz::GatewayAuth::new(Arc::clone(&authority)));
    builder.set_access(authz::GatewayAccess::new(
        authority,
        Arc::new(all_buckets),
        buckets,
        settings.region.clone(),
        clock,
    ));
    let mut config = S3Config::default();
    config.presigned_url_max_skew_time_secs = MAX_CLOCK_SKEW_SECS;
    builder.set_config(Arc::new(StaticConfigProvider::new(Arc::new(config))));
    Ok(builder.build())
}

/// Marks refusals of requests that carried a body with `Connection: close`.
///
/// s3s answers an error (say AccessDenied to a PutObject, often before an
/// `Expect: 100-continue` body was sent) without reading the body, and hyper
/// then closes the HTTP/1 connection. Without the header, clients keep the
/// connection in their pool and their next request on it fails
/// (RFC 9110 §10.1.1: a server answering before reading the body should say
/// whether it will close). HTTP/2 streams are independent; nothing to add.
#[derive(Clone)]
struct CloseAfterRefusedBody(S3Service);

impl hyper::service::Service<http::Request<hyper::body::Incoming>> for CloseAfterRefusedBody {
    type Response =
        <S3Service as hyper::service::Service<http::Request<hyper::body::Incoming>>>::Response;
    type Error =
        <S3Service as hyper::service::Service<http::Request<hyper::body::Incoming>>>::Error;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>,
    >;

    fn call(&self, req: http::Request<hyper::body::Incoming>) -> Self::Future {
        // S3 answers any other method 405 MethodNotAllowed; s3s would answer
        // 501 and log each one at ERROR (a log flood for anyone unsigned).
        if !matches!(
            *req.method(),
            http::Method::GET
                | http::Method::HEAD
                | http::Method::PUT
                | http::Method::POST
                | http::Method::DELETE
        ) {
            let mut resp = http::Response::new(s3s::Body::from(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>MethodNotAllowed</Code>\
                 <Message>The specified method is not allowed against this resource.</Message></Error>"
                    .to_owned(),
            ));
            *resp.status_mut() = http::StatusCode::METHOD_NOT_ALLOWED;
            let h = resp.headers_mut();
            h.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/xml"),
            );
            h.insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
            return Box::pin(async move { Ok(resp) });
        }
        let h = req.headers();
        let has_body = req.version() < http::Version::HTTP_2
            && (h.contains_key(http::header::EXPECT)
                || h.contains_key(http::header::TRANSFER_ENCODING)
                || h.get(http::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v != "0"));
        let fut = hyper::service::Service::call(&self.0, req);
        Box::pin(async move {
            let mut resp = fut.await?;
            if has_body && (resp.status().is_client_error() || resp.status().is_server_error()) {
                resp.headers_mut().insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
            }
            Ok(resp)
        })
    }
}

/// Serves HTTP/1.1 and HTTP/2 (cleartext) until `shutdown` resolves, then stops accepting and
/// gives in-flight requests up to [`SHUTDOWN_GRACE`] to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: S3Service,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut builder = ConnBuilder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(error) => {
                // e.g. EMFILE or a connection reset before accept: keep serving, but don't spin.
                tracing::warn!(%error, "gateway: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let conn =
            builder.serve_connection(TokioIo::new(stream), CloseAfterRefusedBody(service.clone()));
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            if let Err(error) = conn.await {
                tracing::debug!(%error, "gateway: connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("gateway: in-flight requests still running after the shutdown grace period");
    }
    Ok(())
}

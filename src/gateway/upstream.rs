//! Buckets stored in an upstream S3-compatible service (AWS S3, MinIO, Ceph RGW, ...), and the
//! [`Router`] that sends each operation to the local file system backend or to the upstream of
//! its bucket.
//!
//! - Authorization is unchanged: the access layer (`authz`) evaluates the client's policy
//!   before the router runs, and the router refuses upstream operations without the
//!   `authz::Authorized` marker exactly as the local backend does. The upstream only ever sees
//!   the server's own credentials (an `aws_sdk_s3::Client` wrapped in `s3s_aws::Proxy`).
//! - Inputs are rebuilt from an allow-list of fields: the client cannot set ACLs, grants,
//!   tags, object lock, KMS keys, storage classes, redirects or the expected bucket owner on the
//!   upstream (all of which the server's credentials might be allowed to do); version ids are
//!   refused (they would need `s3:GetObjectVersion` / `s3:DeleteObjectVersion`).
//! - Bodies stream both ways. Uploads pass through the same `VerifiedBody` as local ones
//!   (Content-MD5 / `x-amz-checksum-*` incl. aws-chunked trailers, 5 GiB cap) plus
//!   [`HoldLast`], which withholds the last chunk until verification passed, so a bad body
//!   never reaches the upstream in full (the upstream sees a short body and drops it).
//! - Multipart upload ids are bound to the identity that started the upload: the client gets
//!   `<upstream id>.<tag>`, tag = HMAC-SHA256(binding key, identity ‖ bucket ‖ key ‖ upstream
//!   id) truncated to 128 bits. The binding key is derived from the upstream secret access key,
//!   so every node with the same configuration accepts the same ids without shared state.
//! - Upstream bucket names, owners and `Location`s are not shown to clients.

use std::collections::{BTreeSet, HashMap};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use hmac::{KeyInit, Mac};
use s3s::dto::*;
use s3s::stream::{ByteStream, RemainingLength};
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, StdError, s3_error};
use sha2::Sha256;

use super::SessionGrant;
use super::UpstreamBucket;
use super::authz::admitted;
use super::backend::{
    Backend, Declared, VerifiedBody, check_part_number, list_limit, no_such_upload,
};

type HmacSha256 = hmac::Hmac<Sha256>;

/// Bytes of the upload-id tag (128 bits).
const TAG_BYTES: usize = 16;

/// One configured bucket that lives upstream.
pub(crate) struct Upstream {
    proxy: s3s_aws::Proxy,
    /// The bucket's name at the upstream.
    bucket: String,
    /// Buckets with the same store id share endpoint and credentials (copies allowed).
    store: usize,
    /// Key of the upload-id tags.
    binding_key: [u8; 32],
}

impl Upstream {
    /// Upstream errors as the client sees them. Problems with the server's own credentials or
    /// clock are not the client's: they become InternalError (and are logged), so clients do
    /// not try to fix their signature or clock.
    fn error(&self, error: S3Error) -> S3Error {
        let code = error.code().as_str().to_owned();
        let ours = matches!(
            code.as_str(),
            "InvalidAccessKeyId"
                | "SignatureDoesNotMatch"
                | "RequestTimeTooSkewed"
                | "InvalidToken"
                | "ExpiredToken"
                | "AuthorizationHeaderMalformed"
                | "InternalError"
        );
        if ours {
            tracing::warn!(
                upstream_bucket = %self.bucket,
                %code,
                message = error.message().unwrap_or_default(),
                ?error,
                "gateway: upstream storage request failed"
            );
            return s3_error!(
                InternalError,
                "The storage backend could not process the request."
            );
        }
        error
    }

    fn tag(&self, grant: &SessionGrant, bucket: &str, key: &str, upstream_id: &str) -> HmacSha256 {
        let mut mac =
            <HmacSha256 as KeyInit>::new_from_slice(&self.binding_key).expect("any key length");
        for field in [grant.identity_id.as_str(), bucket, key, upstream_id] {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field.as_bytes());
        }
        mac
    }

    /// The upload id handed to the client for an upstream upload id.
    fn wrap_upload_id(
        &self,
        grant: &SessionGrant,
        bucket: &str,
        key: &str,
        upstream_id: &str,
    ) -> String {
        let tag = self
            .tag(grant, bucket, key, upstream_id)
            .finalize()
            .into_bytes();
        format!("{upstream_id}.{}", hex::encode(&tag[..TAG_BYTES]))
    }

    /// The upstream upload id of a client's upload id, if this identity started it for this
    /// bucket and key.
    fn unwrap_upload_id(
        &self,
        grant: &SessionGrant,
        bucket: &str,
        key: &str,
        client_id: &str,
    ) -> S3Result<String> {
        let Some((upstream_id, tag)) = client_id.rsplit_once('.') else {
            return Err(no_such_upload());
        };
        let tag = hex::decode(tag).map_err(|_| no_such_upload())?;
        if upstream_id.is_empty() || tag.len() != TAG_BYTES {
            return Err(no_such_upload());
        }
        let mac = self.tag(grant, bucket, key, upstream_id);
        if mac.verify_truncated_left(&tag).is_err() {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        Ok(upstream_id.to_owned())
    }
}

/// Builds the upstream buckets. Buckets with the same endpoint, region, credentials and
/// addressing style share one client (and may copy between each other).
pub(crate) fn build_upstreams(
    buckets: &[UpstreamBucket],
) -> anyhow::Result<HashMap<String, Arc<Upstream>>> {
    type StoreKey = (String, String, String, String, bool);
    let mut stores: Vec<(StoreKey, aws_sdk_s3::Client, [u8; 32])> = Vec::new();
    let mut out = HashMap::new();
    for b in buckets {
        let upstream_bucket = b.upstream_bucket.clone().unwrap_or_else(|| b.name.clone());
        anyhow::ensure!(
            !upstream_bucket.is_empty() && !upstream_bucket.contains('/'),
            "invalid upstream bucket name {upstream_bucket:?} for bucket {:?}",
            b.name
        );
        let key: StoreKey = (
            b.endpoint.clone(),
            b.region.clone(),
            b.access_key_id.clone(),
            b.secret_access_key.clone(),
            b.path_style,
        );
        let store = match stores.iter().position(|(k, _, _)| *k == key) {
            Some(i) => i,
            None => {
                stores.push((key, client(b)?, binding_key(b)));
                stores.len() - 1
            }
        };
        let (_, client, binding_key) = &stores[store];
        let upstream = Upstream {
            proxy: s3s_aws::Proxy::from(client.clone()),
            bucket: upstream_bucket,
            store,
            binding_key: *binding_key,
        };
        anyhow::ensure!(
            out.insert(b.name.clone(), Arc::new(upstream)).is_none(),
            "bucket {:?} is configured twice",
            b.name
        );
    }
    Ok(out)
}

fn client(b: &UpstreamBucket) -> anyhow::Result<aws_sdk_s3::Client> {
    use aws_sdk_s3::config::{
        BehaviorVersion, Credentials, Region, RequestChecksumCalculation,
        ResponseChecksumValidation, StalledStreamProtectionConfig,
    };
    let uri: http::Uri = (b.endpoint.parse())
        .map_err(|e| anyhow::anyhow!("upstream endpoint {:?}: {e}", b.endpoint))?;
    let scheme = uri.scheme_str().unwrap_or_default();
    anyhow::ensure!(
        matches!(scheme, "http" | "https") && uri.host().is_some(),
        "upstream endpoint {:?} must be an http:// or https:// URL",
        b.endpoint
    );
    anyhow::ensure!(
        !b.region.is_empty(),
        "upstream region of {:?} is empty",
        b.name
    );
    anyhow::ensure!(
        !b.access_key_id.is_empty() && !b.secret_access_key.is_empty(),
        "upstream credentials of {:?} are empty",
        b.name
    );
    if scheme == "http" {
        let host = uri.host().unwrap_or_default();
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
            || host == "[::1]";
        if !loopback {
            tracing::warn!(endpoint = %b.endpoint, bucket = %b.name, "gateway: upstream storage is reached over plain HTTP");
        }
    }
    let credentials = Credentials::new(
        &b.access_key_id,
        &b.secret_access_key,
        None,
        None,
        "poolgate-upstream",
    );
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(&b.endpoint)
        .region(Region::new(b.region.clone()))
        .credentials_provider(credentials)
        .force_path_style(b.path_style)
        // Checksums only where the client asked for them (then the SDK computes and sends
        // them, e.g. as an aws-chunked trailer) or the operation requires one: works with
        // stores that do not know the newer checksum headers.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        // A client pausing its upload stalls the upstream request: allow more than 5 s.
        .stalled_stream_protection(
            StalledStreamProtectionConfig::enabled()
                .grace_period(Duration::from_secs(30))
                .build(),
        )
        .build();
    Ok(aws_sdk_s3::Client::from_conf(config))
}

/// HMAC-SHA256(upstream secret key, context): a key only holders of the configuration know,
/// the same on every node.
fn binding_key(b: &UpstreamBucket) -> [u8; 32] {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(b.secret_access_key.as_bytes())
        .expect("any key length");
    mac.update(b"poolgate/gateway/upstream-upload-binding/v1\0");
    mac.update(b.endpoint.as_bytes());
    mac.update(b"\0");
    mac.update(b.access_key_id.as_bytes());
    mac.finalize().into_bytes().into()
}

// ---------------------------------------------------------------------------------------------
// Body forwarding

/// Passes a body through, but keeps the latest chunk back until the next one arrives or the
/// stream ended cleanly. `VerifiedBody` reports a digest mismatch (and s3s a bad final chunk
/// signature) only *after* the last chunk: without this the upstream would already have the
/// complete body (Content-Length bytes) and store it.
struct HoldLast {
    inner: StreamingBlob,
    pending: Option<Bytes>,
    done: bool,
}

impl HoldLast {
    fn wrap(body: &mut Option<StreamingBlob>) {
        if let Some(inner) = body.take() {
            *body = Some(StreamingBlob::new(Self {
                inner,
                pending: None,
                done: false,
            }));
        }
    }
}

impl Stream for HoldLast {
    type Item = Result<Bytes, StdError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(this.pending.take().map(Ok));
            }
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(bytes))) => {
                    if bytes.is_empty() {
                        continue;
                    }
                    if let Some(previous) = this.pending.replace(bytes) {
                        return Poll::Ready(Some(Ok(previous)));
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    this.done = true;
                    this.pending = None;
                    return Poll::Ready(Some(Err(error)));
                }
                Poll::Ready(None) => this.done = true,
            }
        }
    }
}

impl ByteStream for HoldLast {
    fn remaining_length(&self) -> RemainingLength {
        let held = self.pending.as_ref().map_or(0, Bytes::len);
        let inner = if self.done {
            RemainingLength::new_exact(0)
        } else {
            self.inner.remaining_length()
        };
        match inner.exact() {
            Some(n) => RemainingLength::new_exact(n + held),
            // Unknown: never claim the end before the inner stream ended.
            None => RemainingLength::unknown(),
        }
    }
}

/// Verifies an upload body like the local backend does and prepares it for forwarding;
/// returns the body failure slot and the exact content length (required upstream).
fn forwardable_body(
    body: &mut Option<StreamingBlob>,
    content_length: Option<i64>,
    declared: Declared,
) -> S3Result<(super::backend::Failure, i64)> {
    let length = match content_length {
        Some(n) if n >= 0 => n,
        _ => {
            let known = body
                .as_ref()
                .map_or(Some(0), |b| b.remaining_length().exact());
            match known.and_then(|n| i64::try_from(n).ok()) {
                Some(n) => n,
                None => {
                    return Err(S3Error::with_message(
                        S3ErrorCode::MissingContentLength,
                        "You must provide the Content-Length HTTP header.",
                    ));
                }
            }
        }
    };
    let failure = VerifiedBody::guard(body, declared);
    HoldLast::wrap(body);
    Ok((failure, length))
}

// ---------------------------------------------------------------------------------------------
// Routing

/// The S3 implementation the gateway serves: the local backend for local buckets, the
/// upstream of the bucket otherwise.
pub(crate) struct Router {
    local: Backend,
    upstream: HashMap<String, Arc<Upstream>>,
}

impl Router {
    pub(crate) fn new(local: Backend, upstream: HashMap<String, Arc<Upstream>>) -> Self {
        Self { local, upstream }
    }

    fn upstream(&self, bucket: &str) -> Option<Arc<Upstream>> {
        self.upstream.get(bucket).cloned()
    }

    /// Source of a copy into `dest`: must be a bucket/key on the same upstream store.
    fn copy_source(&self, dest: &Upstream, source: &CopySource) -> S3Result<CopySource> {
        let CopySource::Bucket {
            bucket,
            key,
            version_id: None,
        } = source
        else {
            return Err(s3_error!(
                NotImplemented,
                "Only bucket/key copy sources without versions are supported."
            ));
        };
        match self.upstream.get(&**bucket) {
            Some(source) if source.store == dest.store => Ok(CopySource::Bucket {
                bucket: source.bucket.clone().into(),
                key: key.clone(),
                version_id: None,
            }),
            _ => Err(cross_backend_copy()),
        }
    }

    /// A copy into a local bucket must come from a local bucket.
    fn check_local_copy_source(&self, source: &CopySource) -> S3Result<()> {
        match source {
            CopySource::Bucket { bucket, .. } if self.upstream.contains_key(&**bucket) => {
                Err(cross_backend_copy())
            }
            _ => Ok(()),
        }
    }
}

fn cross_backend_copy() -> S3Error {
    s3_error!(
        NotImplemented,
        "Copying between buckets on different storage backends is not supported."
    )
}

fn no_versions(version_id: Option<&str>) -> S3Result<()> {
    match version_id {
        None => Ok(()),
        Some(_) => Err(s3_error!(
            NotImplemented,
            "Object versions are not supported."
        )),
    }
}

fn hide_owners(contents: Option<&mut Vec<Object>>) {
    for object in contents.into_iter().flatten() {
        object.owner = None;
    }
}

#[async_trait::async_trait]
impl S3 for Router {
    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let Some(up) = self.upstream(&req.input.bucket) else {
            return self.local.get_object(req).await;
        };
        admitted(&req.extensions)?;
        no_versions(req.input.version_id.as_deref())?;
        let req = req.map_input(|i| GetObjectInput {
            bucket: up.bucket.clone(),
            key: i.key,
            checksum_mode: i.checksum_mode,
            if_match: i.if_match,
            if_modified_since: i.if_modified_since,
            if_none_match: i.if_none_match,
            if_unmodified_since: i.if_unmodified_since,
            part_number: i.part_number,
            range: i.range,
            response_cache_control: i.response_cache_control,
            response_content_disposition: i.response_content_disposition,
            response_content_encoding: i.response_content_encoding,
            response_content_language: i.response_content_language,
            response_content_type: i.response_content_type,
            response_expires: i.response_expires,
            sse_customer_algorithm: i.sse_customer_algorithm,
            sse_customer_key: i.sse_customer_key,
            sse_customer_key_md5: i.sse_customer_key_md5,
            ..Default::default()
        });
        up.proxy.get_object(req).await.map_err(|e| up.error(e))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let Some(up) = self.upstream(&req.input.bucket) else {
            return self.local.head_object(req).await;
        };
        admitted(&req.extensions)?;
        no_versions(req.input.version_id.as_deref())?;
        let req = req.map_input(|i| HeadObjectInput {
            bucket: up.bucket.clone(),
            key: i.key,
            checksum_mode: i.checksum_mode,
            if_match: i.if_match,
            if_modified_since: i.if_modified_since,
            if_none_match: i.if_none_match,
            if_unmodified_since: i.if_unmodified_since,
            part_number: i.part_number,
            range: i.range,
            response_cache_control: i.response_cache_control,
            response_content_disposition: i.response_content_disposition,
            response_content_encoding: i.response_content_encoding,
            response_content_language: i.response_content_language,
            response_content_type: i.response_content_type,
            response_expires: i.response_expires,
            sse_customer_algorithm: i.sse_customer_algorithm,
            sse_customer_key: i.sse_customer_key,
            sse_customer_key_md5: i.sse_customer_key_md5,
            ..Default::default()
        });
        up.proxy.head_object(req).await.map_err(|e| up.error(e))
    }

    async fn put_object(
        &self,
        mut req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let Some(up) = self.upstream(&req.input.bucket) else {
            return self.local.put_object(req).await;
        };
        admitted(&req.extensions)?;
        let input = &req.input;
        let declared = Declared::new(
            input.content_md5.as_deref(),
            input.checksum_crc32.as_deref(),
            input.checksum_crc32c.as_deref(),
            input.checksum_sha1.as_deref(),
            input.checksum_sha256.as_deref(),
            input.checksum_crc64nvme.as_deref(),
            &req.headers,
            req.trailing_headers.as_ref(),
        )?;
        let (failure, length) =
            forwardable_body(&mut req.input.body, req.input.content_length, declared)?;
        let req = req.map_input(|i| PutObjectInput {
            bucket: up.bucket.clone(),
            key: i.key,
            body: i.body,
            content_length: Some(length),
            content_md5: i.content_md5,
            checksum_algorithm: i.checksum_algorithm,
            checksum_crc32: i.checksum_crc32,
            checksum_crc32c: i.checksum_crc32c,
            checksum_crc64nvme: i.checksum_crc64nvme,
            checksum_sha1: i.checksum_sha1,
            checksum_sha256: i.checksum_sha256,
            cache_control: i.cache_control,
            content_disposition: i.content_disposition,
            content_encoding: i.content_encoding,
            content_language: i.content_language,
            content_type: i.content_type,
            expires: i.expires,
            metadata: i.metadata,
            if_match: i.if_match,
            if_none_match: i.if_none_match,
            sse_customer_algorithm: i.sse_customer_algorithm,
            sse_customer_key: i.sse_customer_key,
            sse_customer_key_md5: i.sse_customer_key_md5,
            ..Default::default()
        });
        failure
            .settle(up.proxy.put_object(req).await)
            .map_err(|e| up.error(e))
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let Some(up) = self.upstream(&req.input.bucket) else {
            self.check_local_copy_source(&req.input.copy_source)?;
            return self.local.copy_object(req).await;
        };
        admitted(&req.extensions)?;
        let copy_source = self.copy_source(&up, &req.input.copy_source)?;
        let req = req.map_input(|i| CopyObjectInput {
            bucket: up.bucket.clone(),
            key: i.key,
            copy_source,
            copy_source_if_match: i.copy_source_if_match,
            copy_source_if_modified_since: i.copy_source_if_modified_since,
            copy_source_if_none_match: i.copy_source_if_none_match,
            copy_source_if_unmodified_since: i.copy_source_if_unmodified_since,
            copy_source_sse_customer_algorithm: i.copy_source_sse_customer_algorithm,
            copy_source_sse_customer_key: i.copy_source_sse_customer_key,
            copy_source_sse_customer_key_md5: i.copy_source_sse_customer_key_md5,
            metadata_directive: i.metadata_directive,
            metadata: i.metadata,
            cache_control: i.cache_control,
            checksum_algorithm: i.checksum_algorithm,
            content_disposition: i.content_disposition,
            content_encoding: i.content_encoding,
            content_language: i.content_language,
            content_type: i.content_type,
            expires: i.expires,
            sse_customer_algorithm: i.sse_customer_algorithm,
            sse_customer_key: i.sse_customer_key,
            sse_customer_key_md5: i.sse_customer_key_md5,
            acl: None,
            bucket_key_enabled: None,
            expected_bucket_owner: None,
            expected_source_bucket_owner: None,
            grant_full_control: None,
            grant_read: None,
            grant_read_acp: None,
            grant_write_acp: None,
            object_lock_legal_hold_status: None,
            object_lock_mode: None,
            object_lock_retain_until_date: None,
            request_payer: None,
            ssekms_encryption_context: None,
            ssekms_key_id: None,
            server_side_encryption: None,
            storage_class: None,
            tagging: None,
            tagging_directive: None,
            website_redirect_location: None,
        });
        up.proxy.copy_object(req).await.map_err(|e| up.error(e))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let Some(up) = self.upstream(&req.input.bucket) else {
            return self.local.delete_object(req).await;
        };
        admitted(&req.extensions)?;
        no_versions(req.input.version_id.as_deref())?;
        let req = req.map_input(|i| DeleteObjectInput {
            bucket: up.bucket.clone(),
            key: i.key,
            if_match: i.if_match,
            ..Default::default()
        });
        up.proxy.delete_object(req).await.map_err(|e| up.error(e))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let Some(up) = self.upstream(&req.input.bucket) else {
            return self.local.delete_objects(req).await;
        };
        admitted(&req.extensions)?;
        // Version ids were refused by the access layer; keep it so.
        for object in &req.input.delete.objects {
            no_versions(object.version_id.as_deref())?;
        }
        let req = req.map_input(|i| DeleteObjectsInput {
            bucket: up.bucket.clone(),
            delete: i.delete,
            bypass_governance_retention: None,
            checksum_algorithm: None,
            expected_bucket_owner: None,
            mfa: None,
            request_payer: None,
        });
        up.proxy.delete_objects(req).await.map_err(|e| up.error(e))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let Some(up) = self.upstream(&req.input.bucket) else {
            return self.local.create_multipart_upload(req).await;
        };
        let grant = admitted(&req.extensions)?;
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let req = req.map_input(|i| CreateMultipartUploadInput {
            bucket: up.bucket.clone(),
            key: i.key,
            cache_control: i.cache_control,
            checksum_algorithm: i.checksum_algorithm,
            checksum_type: i.checksum_type,
            content_disposition: i.content_disposition,
            content_encoding: i.content_encoding,
            content_language: i.content_language,
            content_type: i.content_type,
            expires: i.expires,
            metadata: i.metadata,
            sse_customer_algorithm: i.sse_customer_algorithm,
            sse_customer_key: i.sse_customer_key,
            sse_customer_key_md5: i.sse_customer_key_md5,
            ..Default::default()
        });
        let mut response =
            (up.proxy.create_multipart_upload(req).await).map_err(|e| up.error(e))?;
        let output = &mut response.output;
        let Some(upstream_id) = output.upload_id.take() else {
            return Err(s3_error!(
                InternalError,
                "The storage backend returned no upload id."
            ));
        };
        output.upload_id = Some(up.wrap_upload_id(&grant, &bucket, &key, &upstream_id));
        output.bucket = Some(bucket);
        output.ssekms_key_id = None;
        Ok(response)
    }

    async fn upload_part(
        &self,
        mut req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let Some(up) = self.upstream(&req.input.bucket) else {
            return self.local.upload_part(req).await;
        };
        let grant = admitted(&req.extensions)?;
        check_part_number(req.input.part_number)?;
        let input = &req.input;
        let upload_id = up.unwrap_upload_id(&grant, &input.bucket, &input.key, &input.upload_id)?;
        let declared = Declared::new(
            input.content_md5.as_deref(),
            input.checksum_crc32.as_deref(),
            input.checksum_crc32c.as_deref(),
            input.checksum_sha1.as_deref(),
            input.checksum_sha256.as_deref(),
            input.checksum_crc64nvme.as_deref(),
            &req.headers,
            req.trailing_headers.as_ref(),
        )?;
        let (failure, length) =
            forwardable_body(&mut req.input.body, req.input.content_length, declared)?;
        let req = req.map_input(|i| UploadPartInput {
            bucket: up.bucket.clone(),
            key: i.key,
            upload_id,
            part_number: i.part_number,
            body: i.body,
            content_length: Some(length),
            content_md5: i.content_md5,
            checksum_algorithm: i.checksum_algorithm,
            checksum_crc32: i.checksum_crc32,
            checksum_crc32c: i.checksum_crc32c,
            checksum_crc64nvme: i.checksum_crc64nvme,
            checksum_sha1: i.checksum_sha1,
            checksum_sha256: i.checksum_sha256,
            sse_customer_algorithm: i.sse_customer_algorithm,
            sse_customer_key: i.sse_customer_key,
            sse_customer_key_md5: i.sse_customer_key_md5,
            ..Default::default()
        });
        failure
            .settle(up.proxy.upload_part(req).await)
            .map_err(|e| up.error(e))
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let Some(up) = self.upstream(&req.input.bucket) else {
            self.check_local_copy_source(&req.input.copy_source)?;
            return self.local.upload_part_copy(req).await;
        };
        let grant = admitted(&req.extensions)?;
        check_part_number(req.input.part_number)?;
        let input = &req.input;
        let upload_id = up.unwrap_upload_id(&grant, &input.bucket, &input.key, &input.upload_id)?;
        let copy_source = self.copy_source(&up, &input.copy_source)?;
        let req = req.map_input(|i| UploadPartCopyInput {
            bucket: up.bucket.clone(),
            key: i.key,
            upload_id,
            part_number: i.part_number,
            copy_source,
            copy_source_if_match: i.copy_source_if_match,
            copy_source_if_modified_since: i.copy_source_if_modified_since,
            copy_source_if_none_match: i.copy_source_if_none_match,
            copy_source_if_unmodified_since: i.copy_source_if_unmodified_since,
            copy_source_range: i.copy_source_range,
            copy_source_sse_customer_algorithm: i.copy_source_sse_customer_algorithm,
            copy_source_sse_customer_key: i.copy_source_sse_customer_key,
            copy_source_sse_customer_key_md5: i.copy_source_sse_customer_key_md5,
            sse_customer_algorithm: i.sse_customer_algorithm,
            sse_customer_key: i.sse_customer_key,
            sse_customer_key_md5: i.sse_customer_key_md5,
            expected_bucket_owner: None,
            expected_source_bucket_owner: None,
            request_payer: None,
        });
        up.proxy
            .upload_part_copy(req)
            .await
            .map_err(|e| up.error(e))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let Some(up) = self.upstream(&req.input.bucket) else {
            return self.local.complete_multipart_upload(req).await;
        };
        let grant = admitted(&req.extensions)?;
        let input = &req.input;
        let upload_id = up.unwrap_upload_id(&grant, &input.bucket, &input.key, &input.upload_id)?;
        let bucket = input.bucket.clone();
        let req = req.map_input(|i| CompleteMultipartUploadInput {
            bucket: up.bucket.clone(),
            key: i.key,
            upload_id,
            multipart_upload: i.multipart_upload,
            checksum_crc32: i.checksum_crc32,
            checksum_crc32c: i.checksum_crc32c,
            checksum_crc64nvme: i.checksum_crc64nvme,
            checksum_sha1: i.checksum_sha1,
            checksum_sha256: i.checksum_sha256,
            checksum_type: i.checksum_type,
            if_match: i.if_match,
            if_none_match: i.if_none_match,
            mpu_object_size: i.mpu_object_size,
            sse_customer_algorithm: i.sse_customer_algorithm,
            sse_customer_key: i.sse_customer_key,
            sse_customer_key_md5: i.sse_customer_key_md5,
            ..Default::default()
        });
        let mut response =
            (up.proxy.complete_multipart_upload(req).await).map_err(|e| up.error(e))?;
        let output = &mut response.output;
        output.bucket = Some(bucket);
        output.location = None;
        output.ssekms_key_id = None;
        Ok(response)
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let Some(up) = self.upstream(&req.input.bucket) else {
            return self.local.abort_multipart_upload(req).await;
        };
        let grant = admitted(&req.extensions)?;
        let input = &req.input;
        let upload_id = up.unwrap_upload_id(&grant, &input.bucket, &input.key, &input.upload_id)?;
        let req = req.map_input(|i| AbortMultipartUploadInput {
            bucket: up.bucket.clone(),
            key: i.key,
            upload_id,
            ..Default::default()
        });
        (up.proxy.abort_multipart_upload(req).await).map_err(|e| up.error(e))
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let Some(up) = self.upstream(&req.input.bucket) else {
            return self.local.list_parts(req).await;
        };
        let grant = admitted(&req.extensions)?;
        let input = &req.input;
        let upload_id = up.unwrap_upload_id(&grant, &input.bucket, &input.key, &input.upload_id)?;
        let (bucket, client_id) = (input.bucket.clone(), input.upload_id.clone());
        let req = req.map_input(|i| ListPartsInput {
            bucket: up.bucket.clone(),
            key: i.key,
            upload_id,
            max_parts: i.max_parts,
            part_number_marker: i.part_number_marker,
            sse_customer_algorithm: i.sse_customer_algorithm,
            sse_customer_key: i.sse_customer_key,
            sse_customer_key_md5: i.sse_customer_key_md5,
            ..Default::default()
        });
        let mut response = (up.proxy.list_parts(req).await).map_err(|e| up.error(e))?;
        let output = &mut response.output;
        output.bucket = Some(bucket);
        output.upload_id = Some(client_id);
        output.initiator = None;
        output.owner = None;
        Ok(response)
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let Some(up) = self.upstream(&req.input.bucket) else {
            return self.local.list_objects(req).await;
        };
        admitted(&req.extensions)?;
        let bucket = req.input.bucket.clone();
        let req = req.map_input(|i| ListObjectsInput {
            bucket: up.bucket.clone(),
            delimiter: i.delimiter,
            encoding_type: i.encoding_type,
            marker: i.marker,
            max_keys: Some(list_limit(i.max_keys)),
            prefix: i.prefix,
            ..Default::default()
        });
        let mut response = (up.proxy.list_objects(req).await).map_err(|e| up.error(e))?;
        response.output.name = Some(bucket);
        hide_owners(response.output.contents.as_mut());
        Ok(response)
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let Some(up) = self.upstream(&req.input.bucket) else {
            return self.local.list_objects_v2(req).await;
        };
        admitted(&req.extensions)?;
        let bucket = req.input.bucket.clone();
        let req = req.map_input(|i| ListObjectsV2Input {
            bucket: up.bucket.clone(),
            continuation_token: i.continuation_token,
            delimiter: i.delimiter,
            encoding_type: i.encoding_type,
            max_keys: Some(list_limit(i.max_keys)),
            prefix: i.prefix,
            start_after: i.start_after,
            ..Default::default()
        });
        let mut response = (up.proxy.list_objects_v2(req).await).map_err(|e| up.error(e))?;
        response.output.name = Some(bucket);
        hide_owners(response.output.contents.as_mut());
        Ok(response)
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let Some(up) = self.upstream(&req.input.bucket) else {
            return self.local.head_bucket(req).await;
        };
        admitted(&req.extensions)?;
        let req = req.map_input(|_| HeadBucketInput {
            bucket: up.bucket.clone(),
            ..Default::default()
        });
        let mut response = (up.proxy.head_bucket(req).await).map_err(|e| up.error(e))?;
        response.output.bucket_location_name = None;
        Ok(response)
    }

    /// The local buckets (as the local backend lists them) and the upstream ones.
    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let mut response = self.local.list_buckets(req).await?;
        let buckets = response.output.buckets.get_or_insert_with(Vec::new);
        let names: BTreeSet<String> = self.upstream.keys().cloned().collect();
        for name in names {
            buckets.push(Bucket {
                name: Some(name),
                ..Default::default()
            });
        }
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(response)
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.local.create_bucket(req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.local.delete_bucket(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::policy::PolicyDocument;

    fn grant(identity: &str) -> SessionGrant {
        SessionGrant {
            identity_id: identity.into(),
            identity_pool_id: "pool".into(),
            amr: None,
            policy: PolicyDocument::parse(&serde_json::json!({
                "Version": "2012-10-17",
                "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
            }))
            .unwrap(),
            expires_at: i64::MAX,
        }
    }

    fn settings(secret: &str) -> UpstreamBucket {
        UpstreamBucket {
            name: "remote".into(),
            endpoint: "http://127.0.0.1:1".into(),
            region: "us-east-1".into(),
            access_key_id: "AKID".into(),
            secret_access_key: secret.into(),
            upstream_bucket: Some("backing".into()),
            path_style: true,
        }
    }

    #[tokio::test]
    async fn upload_ids_are_bound_to_identity_bucket_and_key() {
        let ups = build_upstreams(&[settings("s3cr3t")]).unwrap();
        let up = &ups["remote"];
        assert_eq!(up.bucket, "backing");
        let (alice, bob) = (grant("alice"), grant("bob"));
        let id = up.wrap_upload_id(&alice, "remote", "alice/k", "up.load/id+=");
        let code = |r: S3Result<String>| r.map_err(|e| e.code().as_str().to_owned());
        assert_eq!(
            code(up.unwrap_upload_id(&alice, "remote", "alice/k", &id)),
            Ok("up.load/id+=".to_owned())
        );
        for (g, bucket, key) in [
            (&bob, "remote", "alice/k"),
            (&alice, "other", "alice/k"),
            (&alice, "remote", "alice/k2"),
        ] {
            assert_eq!(
                code(up.unwrap_upload_id(g, bucket, key, &id)),
                Err("AccessDenied".into())
            );
        }
        for bad in [
            "",
            "abc",
            "abc.zz",
            "abc.00",
            ".0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(
                code(up.unwrap_upload_id(&alice, "remote", "alice/k", bad)),
                Err("NoSuchUpload".into()),
                "{bad}"
            );
        }
        // Another node with the same configuration accepts the id; another secret does not.
        let same = build_upstreams(&[settings("s3cr3t")]).unwrap();
        assert!(
            same["remote"]
                .unwrap_upload_id(&alice, "remote", "alice/k", &id)
                .is_ok()
        );
        let other = build_upstreams(&[settings("other")]).unwrap();
        assert!(
            other["remote"]
                .unwrap_upload_id(&alice, "remote", "alice/k", &id)
                .is_err()
        );
    }

    #[tokio::test]
    async fn hold_last_withholds_the_last_chunk_until_the_end_is_clean() {
        use futures_util::StreamExt as _;
        let chunks = |last: Result<Bytes, std::io::Error>| {
            let items: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(Bytes::from_static(b"ab")),
                Ok(Bytes::from_static(b"cd")),
                last,
            ];
            Some(StreamingBlob::wrap(futures_util::stream::iter(items)))
        };
        let mut body = chunks(Ok(Bytes::from_static(b"ef")));
        HoldLast::wrap(&mut body);
        let got: Vec<_> = body.unwrap().collect().await;
        let got: Vec<Bytes> = got.into_iter().map(Result::unwrap).collect();
        assert_eq!(got, ["ab", "cd", "ef"]);

        let mut body = chunks(Err(std::io::Error::other("BadDigest")));
        HoldLast::wrap(&mut body);
        let got: Vec<_> = body.unwrap().collect().await;
        // "cd" (the chunk before the failure) never gets out.
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].as_ref().unwrap(), "ab");
        assert!(got[1].is_err());
    }

    #[test]
    fn invalid_endpoints_are_refused() {
        for endpoint in ["", "ftp://x", "localhost:9000", "http://"] {
            let mut b = settings("s");
            b.endpoint = endpoint.into();
            assert!(build_upstreams(&[b]).is_err(), "{endpoint}");
        }
    }
}

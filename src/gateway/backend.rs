//! The storage backend: an `s3s-fs` file system behind a wrapper that
//! - serves only operations the access layer marked authorized (the `authz::Authorized`
//!   request extension), shows only the configured buckets and refuses bucket
//!   creation/deletion;
//! - verifies `Content-MD5` and `x-amz-checksum-*` values (header or aws-chunked trailer)
//!   *while the body streams*, so a mismatch fails the stream before s3s-fs renames its
//!   temporary file into place (s3s-fs itself compares them only after the rename, leaving the
//!   bad data visible; for UploadPart it does not compare them at all), and caps bodies at
//!   5 GiB;
//! - serves CopyObject as s3s-fs GetObject streamed into s3s-fs PutObject (temporary file +
//!   rename) instead of s3s-fs's CopyObject, which copies straight onto the destination;
//! - binds multipart uploads to the identity instead of the session's access key id, and
//!   checks upload ids, ownership and the part list *before* s3s-fs's CompleteMultipartUpload,
//!   which deletes the upload and its parts as it goes and so would lose a whole upload on a
//!   client mistake such as a missing part; drops the stale checksum record of an object a
//!   multipart upload replaces.
//!
//! Parts of this depend on the on-disk layout of s3s-fs 0.14.1 (`.upload-{id}.json`,
//! `.upload_id-{id}.part-{n}` and `.bucket-{b64}.object-{b64}.internal.json` in the root);
//! re-check them when upgrading s3s-fs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use futures_util::Stream;
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Md5};
use s3s::dto::*;
use s3s::stream::{ByteStream, RemainingLength};
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, StdError, s3_error};
use s3s::{TrailingHeaders, auth::Credentials};
use s3s_fs::FileSystem;

use super::SessionGrant;
use super::authz::admitted;

/// Smallest size of every part but the last (as in S3 and s3s-fs).
const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;
const MAX_PARTS: i32 = 10_000;
/// Largest body of one PutObject or UploadPart (as in S3).
const MAX_BODY_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// Most keys one list response returns (as in S3; s3s-fs has no cap).
const MAX_LIST_KEYS: i32 = 1000;

pub(crate) struct Backend {
    fs: FileSystem,
    /// Canonical root, as s3s-fs resolves it.
    root: PathBuf,
    buckets: Arc<BTreeSet<String>>,
}

impl Backend {
    pub(crate) fn new(root: &Path, buckets: Arc<BTreeSet<String>>) -> anyhow::Result<Self> {
        // Also removes temporary files a previous process left behind.
        let fs = FileSystem::new(root)
            .map_err(|e| anyhow::anyhow!("opening storage at {}: {e:?}", root.display()))?;
        let root = std::env::current_dir()?.join(root).canonicalize()?;
        Ok(Self { fs, root, buckets })
    }

    /// Checks an upload id against s3s-fs's record of who started it, so that every
    /// multipart operation fails cleanly (and ListParts, which s3s-fs does not check, too).
    async fn check_upload(&self, upload_id: &str, grant: &SessionGrant) -> S3Result<()> {
        if !is_canonical_uuid(upload_id) {
            return Err(no_such_upload());
        }
        let record = self.root.join(format!(".upload-{upload_id}.json"));
        let content = match tokio::fs::read(&record).await {
            Ok(content) => content,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(no_such_upload()),
            Err(e) => return Err(S3Error::internal_error(e)),
        };
        let owner: Option<String> = serde_json::from_slice(&content).unwrap_or_default();
        if owner.as_deref() != Some(upload_owner(grant).as_str()) {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        Ok(())
    }

    /// Removes s3s-fs's ETag/checksum record of an object. s3s-fs's CompleteMultipartUpload
    /// updates the ETag in the existing record but keeps its checksums, so an object
    /// overwritten by a multipart upload would keep serving the old object's
    /// `x-amz-checksum-*` (and SDKs that validate them reject the download). Without a
    /// record s3s-fs derives the ETag from the file's MD5, which is always right.
    async fn forget_checksums(&self, bucket: &str, key: &str) -> S3Result<()> {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let name = format!(
            ".bucket-{}.object-{}.internal.json",
            URL_SAFE_NO_PAD.encode(bucket),
            URL_SAFE_NO_PAD.encode(key)
        );
        match tokio::fs::remove_file(self.root.join(name)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(S3Error::internal_error(e)),
        }
    }

    /// The checks s3s-fs makes only after it has started consuming (deleting) the parts.
    async fn check_completion(&self, input: &CompleteMultipartUploadInput) -> S3Result<()> {
        let parts = (input.multipart_upload.as_ref())
            .and_then(|m| m.parts.as_deref())
            .unwrap_or_default();
        if parts.is_empty() || parts.len() > MAX_PARTS as usize {
            return Err(s3_error!(InvalidPart, "List 1 to 10000 parts."));
        }
        let last = parts.len();
        for (i, part) in parts.iter().enumerate() {
            let number = i + 1;
            if part.part_number.and_then(|n| usize::try_from(n).ok()) != Some(number) {
                return Err(s3_error!(
                    InvalidPartOrder,
                    "Parts must be numbered 1, 2, 3, ... without gaps, in order."
                ));
            }
            let path = (self.root).join(format!(".upload_id-{}.part-{number}", input.upload_id));
            let size = match tokio::fs::metadata(&path).await {
                Ok(meta) => meta.len(),
                Err(_) => return Err(s3_error!(InvalidPart, "Part {number} was not uploaded.")),
            };
            if number != last && size < MIN_PART_BYTES {
                return Err(s3_error!(
                    EntityTooSmall,
                    "Part {number} is smaller than 5 MiB and not the last part."
                ));
            }
        }
        Ok(())
    }
}

/// A request for another operation on behalf of `req` (same caller; no client headers).
fn derived<T, U>(req: &S3Request<T>, input: U) -> S3Request<U> {
    S3Request {
        input,
        method: req.method.clone(),
        uri: req.uri.clone(),
        headers: http::HeaderMap::new(),
        extensions: http::Extensions::new(),
        credentials: req.credentials.clone(),
        region: req.region.clone(),
        service: req.service.clone(),
        trailing_headers: None,
    }
}

/// CopyObject's `x-amz-copy-source-if-*` conditions, with S3's precedence (as s3s-fs).
fn check_copy_conditions(
    input: &CopyObjectInput,
    etag: Option<&ETag>,
    last_modified: Option<&Timestamp>,
) -> S3Result<()> {
    let failed = || {
        Err(s3_error!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold."
        ))
    };
    if let Some(condition) = &input.copy_source_if_match {
        let matches = match condition {
            ETagCondition::Any => true,
            ETagCondition::ETag(expected) => etag.is_some_and(|e| e.strong_cmp(expected)),
        };
        if !matches {
            return failed();
        }
    } else if let (Some(since), Some(modified)) =
        (&input.copy_source_if_unmodified_since, last_modified)
        && modified > since
    {
        return failed();
    }
    if let Some(condition) = &input.copy_source_if_none_match {
        let matches = match condition {
            ETagCondition::Any => true,
            ETagCondition::ETag(expected) => etag.is_some_and(|e| e.weak_cmp(expected)),
        };
        if matches {
            return failed();
        }
    } else if let (Some(since), Some(modified)) =
        (&input.copy_source_if_modified_since, last_modified)
        && modified <= since
    {
        return failed();
    }
    Ok(())
}

pub(super) fn no_such_upload() -> S3Error {
    s3_error!(
        NoSuchUpload,
        "The specified multipart upload does not exist."
    )
}

/// Lowercase hyphenated form, the only one this server hands out.
fn is_canonical_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

/// s3s-fs records the credentials' access key of whoever started an upload and requires the
/// same one for later parts. Session access keys change at every credential refresh, so
/// record the identity instead: an upload survives a refresh, and stays the identity's own.
fn upload_owner(grant: &SessionGrant) -> String {
    format!("identity:{}", grant.identity_id)
}

fn bind_upload_owner<T>(req: &mut S3Request<T>, grant: &SessionGrant) {
    if let Some(credentials) = req.credentials.as_mut() {
        credentials.access_key = upload_owner(grant);
    } else {
        req.credentials = Some(Credentials {
            access_key: upload_owner(grant),
            secret_key: "".into(),
        });
    }
}

pub(super) fn list_limit(max_keys: Option<i32>) -> i32 {
    max_keys.map_or(MAX_LIST_KEYS, |n| n.clamp(0, MAX_LIST_KEYS))
}

pub(super) fn check_part_number(part_number: i32) -> S3Result<()> {
    if (1..=MAX_PARTS).contains(&part_number) {
        Ok(())
    } else {
        Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive."
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Body verification

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Crc32,
    Crc32c,
    Sha1,
    Sha256,
    Crc64Nvme,
}

impl Algorithm {
    fn from_header_name(name: &str) -> Option<Self> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "x-amz-checksum-crc32" => Self::Crc32,
            "x-amz-checksum-crc32c" => Self::Crc32c,
            "x-amz-checksum-sha1" => Self::Sha1,
            "x-amz-checksum-sha256" => Self::Sha256,
            "x-amz-checksum-crc64nvme" => Self::Crc64Nvme,
            _ => return None,
        })
    }

    fn header_name(self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Sha1 => "x-amz-checksum-sha1",
            Self::Sha256 => "x-amz-checksum-sha256",
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
        }
    }

    fn enable(self, hasher: &mut ChecksumHasher) {
        match self {
            Self::Crc32 => hasher.crc32 = Some(Default::default()),
            Self::Crc32c => hasher.crc32c = Some(Default::default()),
            Self::Sha1 => hasher.sha1 = Some(Default::default()),
            Self::Sha256 => hasher.sha256 = Some(Default::default()),
            Self::Crc64Nvme => hasher.crc64nvme = Some(Default::default()),
        }
    }

    fn pick(self, sums: &Checksum) -> Option<&str> {
        match self {
            Self::Crc32 => sums.checksum_crc32.as_deref(),
            Self::Crc32c => sums.checksum_crc32c.as_deref(),
            Self::Sha1 => sums.checksum_sha1.as_deref(),
            Self::Sha256 => sums.checksum_sha256.as_deref(),
            Self::Crc64Nvme => sums.checksum_crc64nvme.as_deref(),
        }
    }
}

/// What the client declared about a body.
pub(super) struct Declared {
    md5: Option<[u8; 16]>,
    /// Checksums given as headers.
    checksums: Vec<(Algorithm, String)>,
    /// A checksum announced in `x-amz-trailer`, sent after the aws-chunked body.
    trailer: Option<(Algorithm, TrailingHeaders)>,
}

impl Declared {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        content_md5: Option<&str>,
        crc32: Option<&str>,
        crc32c: Option<&str>,
        sha1: Option<&str>,
        sha256: Option<&str>,
        crc64nvme: Option<&str>,
        headers: &http::HeaderMap,
        trailers: Option<&TrailingHeaders>,
    ) -> S3Result<Self> {
        let md5 = match content_md5 {
            None => None,
            Some(text) => {
                let bytes = BASE64.decode(text.trim()).ok();
                let digest = bytes.and_then(|b| <[u8; 16]>::try_from(b).ok());
                Some(digest.ok_or_else(|| {
                    s3_error!(InvalidDigest, "The Content-MD5 you specified was invalid.")
                })?)
            }
        };
        let given = [
            (Algorithm::Crc32, crc32),
            (Algorithm::Crc32c, crc32c),
            (Algorithm::Sha1, sha1),
            (Algorithm::Sha256, sha256),
            (Algorithm::Crc64Nvme, crc64nvme),
        ];
        let checksums = (given.into_iter())
            .filter_map(|(a, v)| Some((a, v?.trim().to_owned())))
            .collect();
        let announced = (headers.get("x-amz-trailer"))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').find_map(Algorithm::from_header_name));
        let trailer = match (announced, trailers) {
            (Some(algorithm), Some(handle)) => Some((algorithm, handle.clone())),
            _ => None,
        };
        Ok(Self {
            md5,
            checksums,
            trailer,
        })
    }
}

/// The first error a verified body ran into, in S3 terms; read after the backend returns.
#[derive(Clone, Default)]
pub(super) struct Failure(Arc<Mutex<Option<S3Error>>>);

impl Failure {
    fn record(&self, error: S3Error) {
        if let Ok(mut slot) = self.0.lock() {
            slot.get_or_insert(error);
        }
    }

    /// The backend's result, with a body failure replacing the generic error s3s-fs reports.
    pub(super) fn settle<T>(&self, result: S3Result<T>) -> S3Result<T> {
        result.map_err(|error| {
            let recorded = self.0.lock().ok().and_then(|mut slot| slot.take());
            recorded.unwrap_or(error)
        })
    }
}

/// s3s's body errors are private types: classify them by their messages.
fn classify_body_error(error: &StdError) -> Option<S3Error> {
    let text = error.to_string();
    if text.contains("SignatureMismatch") {
        Some(s3_error!(
            SignatureDoesNotMatch,
            "The chunk signature does not match."
        ))
    } else if text.contains("Sha256Mismatch") {
        let code = S3ErrorCode::Custom("XAmzContentSHA256Mismatch".into());
        let mut error = S3Error::with_message(
            code,
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        );
        error.set_status_code(http::StatusCode::BAD_REQUEST);
        Some(error)
    } else if text.contains("Incomplete") || text.contains("LengthMismatch") {
        Some(s3_error!(
            IncompleteBody,
            "You did not provide the number of bytes specified by the Content-Length HTTP header."
        ))
    } else {
        None
    }
}

/// A body that computes the declared digests as it streams and, at the end, turns into an
/// error instead of ending when one does not match. s3s-fs writes bodies to a temporary file
/// and renames it into place only after the stream ended without error.
pub(super) struct VerifiedBody {
    inner: StreamingBlob,
    md5: Option<(Md5, [u8; 16])>,
    hasher: ChecksumHasher,
    declared: Declared,
    failure: Failure,
    /// Bytes seen so far; the stream fails past [`MAX_BODY_BYTES`].
    seen: u64,
    finished: bool,
}

impl VerifiedBody {
    pub(super) fn guard(body: &mut Option<StreamingBlob>, declared: Declared) -> Failure {
        // Always wrapped, even with nothing to verify: body errors (e.g. a bad chunk
        // signature) are then reported as what they are instead of as InternalError.
        let failure = Failure::default();
        if let Some(inner) = body.take() {
            let mut hasher = ChecksumHasher::default();
            for (algorithm, _) in &declared.checksums {
                algorithm.enable(&mut hasher);
            }
            if let Some((algorithm, _)) = &declared.trailer {
                algorithm.enable(&mut hasher);
            }
            let verified = Self {
                inner,
                md5: declared.md5.map(|expected| (Md5::new(), expected)),
                hasher,
                declared,
                failure: failure.clone(),
                seen: 0,
                finished: false,
            };
            *body = Some(StreamingBlob::new(verified));
        }
        failure
    }

    fn verify(&mut self) -> Result<(), S3Error> {
        if let Some((md5, expected)) = self.md5.take()
            && md5.finalize() != expected
        {
            return Err(s3_error!(
                BadDigest,
                "The Content-MD5 you specified did not match what we received."
            ));
        }
        let sums = std::mem::take(&mut self.hasher).finalize();
        let mismatch = |algorithm: Algorithm| {
            s3_error!(
                BadDigest,
                "The {} you specified did not match the calculated checksum.",
                algorithm.header_name()
            )
        };
        for (algorithm, expected) in &self.declared.checksums {
            if algorithm.pick(&sums) != Some(expected.as_str()) {
                return Err(mismatch(*algorithm));
            }
        }
        if let Some((algorithm, trailers)) = &self.declared.trailer {
            let name = algorithm.header_name();
            let sent = trailers.read(|h| {
                (h.get(name))
                    .and_then(|v| v.to_str().ok())
                    .map(|v| v.trim().to_owned())
            });
            if let Some(Some(sent)) = sent
                && algorithm.pick(&sums) != Some(sent.as_str())
            {
                return Err(mismatch(*algorithm));
            }
        }
        Ok(())
    }
}

impl Stream for VerifiedBody {
    type Item = Result<Bytes, StdError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.finished {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(bytes))) => {
                this.seen = this.seen.saturating_add(bytes.len() as u64);
                if this.seen > MAX_BODY_BYTES {
                    this.finished = true;
                    let message = "Your proposed upload exceeds the maximum allowed size.";
                    this.failure.record(s3_error!(EntityTooLarge, "{message}"));
                    return Poll::Ready(Some(Err(std::io::Error::other(message).into())));
                }
                if let Some((md5, _)) = this.md5.as_mut() {
                    md5.update(&bytes);
                }
                this.hasher.update(&bytes);
                Poll::Ready(Some(Ok(bytes)))
            }
            Poll::Ready(Some(Err(error))) => {
                this.finished = true;
                if let Some(classified) = classify_body_error(&error) {
                    this.failure.record(classified);
                }
                Poll::Ready(Some(Err(error)))
            }
            Poll::Ready(None) => {
                this.finished = true;
                match this.verify() {
                    Ok(()) => Poll::Ready(None),
                    Err(error) => {
                        let message = error.message().unwrap_or("BadDigest").to_owned();
                        this.failure.record(error);
                        Poll::Ready(Some(Err(std::io::Error::other(message).into())))
                    }
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl ByteStream for VerifiedBody {
    fn remaining_length(&self) -> RemainingLength {
        self.inner.remaining_length()
    }
}

// ---------------------------------------------------------------------------------------------
// The S3 operations served

#[async_trait::async_trait]
impl S3 for Backend {
    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        admitted(&req.extensions)?;
        self.fs.get_object(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        admitted(&req.extensions)?;
        self.fs.head_object(req).await
    }

    async fn put_object(
        &self,
        mut req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
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
        let failure = VerifiedBody::guard(&mut req.input.body, declared);
        failure.settle(self.fs.put_object(req).await)
    }

    /// Not s3s-fs's CopyObject, which `fs::copy`s straight onto the destination file (a
    /// partial object is visible while it copies and after a crash) and carries over stale
    /// checksum records: the source is streamed through s3s-fs's GetObject into its PutObject,
    /// which writes a temporary file and renames it into place.
    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        admitted(&req.extensions)?;
        let CopySource::Bucket {
            bucket: source_bucket,
            key: source_key,
            ..
        } = &req.input.copy_source
        else {
            return Err(s3_error!(NotImplemented));
        };
        let (source_bucket, source_key) = (source_bucket.to_string(), source_key.to_string());
        let input = &req.input;

        let head = HeadObjectInput {
            bucket: source_bucket.clone(),
            key: source_key.clone(),
            ..Default::default()
        };
        let head = self.fs.head_object(derived(&req, head)).await?.output;
        check_copy_conditions(input, head.e_tag.as_ref(), head.last_modified.as_ref())?;

        let get = GetObjectInput {
            bucket: source_bucket,
            key: source_key,
            ..Default::default()
        };
        let source = self.fs.get_object(derived(&req, get)).await?.output;
        let replace = (input.metadata_directive.as_ref())
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        let put = if replace {
            PutObjectInput {
                metadata: input.metadata.clone(),
                content_type: input.content_type.clone(),
                content_encoding: input.content_encoding.clone(),
                content_disposition: input.content_disposition.clone(),
                content_language: input.content_language.clone(),
                cache_control: input.cache_control.clone(),
                expires: input.expires.clone(),
                website_redirect_location: input.website_redirect_location.clone(),
                ..Default::default()
            }
        } else {
            PutObjectInput {
                metadata: source.metadata,
                content_type: source.content_type,
                content_encoding: source.content_encoding,
                content_disposition: source.content_disposition,
                content_language: source.content_language,
                cache_control: source.cache_control,
                expires: source.expires,
                website_redirect_location: source.website_redirect_location,
                ..Default::default()
            }
        };
        let put = PutObjectInput {
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            body: source.body,
            content_length: source.content_length,
            ..put
        };
        let written = self.fs.put_object(derived(&req, put)).await?.output;
        let result = CopyObjectResult {
            e_tag: written.e_tag,
            last_modified: Some(Timestamp::from(std::time::SystemTime::now())),
            ..Default::default()
        };
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(result),
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        admitted(&req.extensions)?;
        self.fs.delete_object(req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        admitted(&req.extensions)?;
        self.fs.delete_objects(req).await
    }

    async fn create_multipart_upload(
        &self,
        mut req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let grant = admitted(&req.extensions)?;
        bind_upload_owner(&mut req, &grant);
        self.fs.create_multipart_upload(req).await
    }

    async fn upload_part(
        &self,
        mut req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let grant = admitted(&req.extensions)?;
        check_part_number(req.input.part_number)?;
        self.check_upload(&req.input.upload_id, &grant).await?;
        bind_upload_owner(&mut req, &grant);
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
        let failure = VerifiedBody::guard(&mut req.input.body, declared);
        failure.settle(self.fs.upload_part(req).await)
    }

    async fn upload_part_copy(
        &self,
        mut req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let grant = admitted(&req.extensions)?;
        check_part_number(req.input.part_number)?;
        self.check_upload(&req.input.upload_id, &grant).await?;
        bind_upload_owner(&mut req, &grant);
        self.fs.upload_part_copy(req).await
    }

    async fn complete_multipart_upload(
        &self,
        mut req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let grant = admitted(&req.extensions)?;
        self.check_upload(&req.input.upload_id, &grant).await?;
        self.check_completion(&req.input).await?;
        self.forget_checksums(&req.input.bucket, &req.input.key)
            .await?;
        bind_upload_owner(&mut req, &grant);
        self.fs.complete_multipart_upload(req).await
    }

    async fn abort_multipart_upload(
        &self,
        mut req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let grant = admitted(&req.extensions)?;
        self.check_upload(&req.input.upload_id, &grant).await?;
        bind_upload_owner(&mut req, &grant);
        self.fs.abort_multipart_upload(req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let grant = admitted(&req.extensions)?;
        self.check_upload(&req.input.upload_id, &grant).await?;
        let mut response = self.fs.list_parts(req).await?;
        if let Some(parts) = response.output.parts.as_mut() {
            parts.sort_by_key(|p| p.part_number);
        }
        Ok(response)
    }

    async fn list_objects(
        &self,
        mut req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        admitted(&req.extensions)?;
        req.input.max_keys = Some(list_limit(req.input.max_keys));
        self.fs.list_objects(req).await
    }

    async fn list_objects_v2(
        &self,
        mut req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        admitted(&req.extensions)?;
        req.input.max_keys = Some(list_limit(req.input.max_keys));
        self.fs.list_objects_v2(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        admitted(&req.extensions)?;
        self.fs.head_bucket(req).await
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        admitted(&req.extensions)?;
        let mut response = self.fs.list_buckets(req).await?;
        if let Some(buckets) = response.output.buckets.as_mut() {
            buckets.retain(|b| b.name.as_ref().is_some_and(|n| self.buckets.contains(n)));
        }
        Ok(response)
    }

    async fn create_bucket(
        &self,
        _req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        Err(s3_error!(
            AccessDenied,
            "Buckets are configured by the server."
        ))
    }

    async fn delete_bucket(
        &self,
        _req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        Err(s3_error!(
            AccessDenied,
            "Buckets are configured by the server."
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_uuid() {
        assert!(is_canonical_uuid("67e55044-10b1-426f-9247-bb680e5fe0c8"));
        for bad in [
            "",
            "67E55044-10B1-426F-9247-BB680E5FE0C8",
            "67e5504410b1426f9247bb680e5fe0c8",
            "../../../../etc/passwd-aaaaaaaaaaaaaaaaaaaaaaaaa",
            "67e55044-10b1-426f-9247-bb680e5fe0c8.part-1",
        ] {
            assert!(!is_canonical_uuid(bad), "{bad}");
        }
    }

    #[test]
    fn body_errors_are_classified() {
        let table = [
            (
                "AwsChunkedStreamError: SignatureMismatch",
                Some("SignatureDoesNotMatch"),
            ),
            (
                "UploadStreamError: Sha256Mismatch",
                Some("XAmzContentSHA256Mismatch"),
            ),
            ("UploadStreamError: Incomplete", Some("IncompleteBody")),
            ("connection reset", None),
        ];
        for (message, expected) in table {
            let error: StdError = std::io::Error::other(message).into();
            let got = classify_body_error(&error).map(|e| e.code().as_str().to_owned());
            assert_eq!(got.as_deref(), expected, "{message}");
        }
    }

    #[tokio::test]
    async fn verified_body_fails_before_the_end_on_a_bad_md5() {
        use futures_util::StreamExt as _;
        let good = BASE64.encode(Md5::checksum(b"hello world"));
        let headers = http::HeaderMap::new();
        for (md5, ok) in [(good.as_str(), true), ("AAAAAAAAAAAAAAAAAAAAAA==", false)] {
            let declared = Declared::new(Some(md5), None, None, None, None, None, &headers, None);
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(Bytes::from_static(b"hello ")),
                Ok(Bytes::from_static(b"world")),
            ];
            let mut body = Some(StreamingBlob::wrap(futures_util::stream::iter(chunks)));
            let failure = VerifiedBody::guard(&mut body, declared.unwrap());
            let results: Vec<_> = body.unwrap().collect().await;
            assert_eq!(results.len(), if ok { 2 } else { 3 });
            assert_eq!(results.iter().all(Result::is_ok), ok);
            let settled = failure.settle::<()>(Err(s3_error!(InternalError)));
            let expected = if ok { "InternalError" } else { "BadDigest" };
            assert_eq!(settled.unwrap_err().code().as_str(), expected);
        }
        let bad = Declared::new(Some("nope"), None, None, None, None, None, &headers, None);
        assert_eq!(
            bad.err().map(|e| e.code().as_str().to_owned()).as_deref(),
            Some("InvalidDigest")
        );
    }

    #[tokio::test]
    async fn verified_body_checks_header_checksums() {
        use futures_util::StreamExt as _;
        let mut hasher = ChecksumHasher::default();
        Algorithm::Crc32.enable(&mut hasher);
        hasher.update(b"abc");
        let crc = hasher.finalize().checksum_crc32.unwrap();
        let headers = http::HeaderMap::new();
        for (value, ok) in [(crc.as_str(), true), ("AAAAAA==", false)] {
            let declared =
                Declared::new(None, Some(value), None, None, None, None, &headers, None).unwrap();
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![Ok(Bytes::from_static(b"abc"))];
            let mut body = Some(StreamingBlob::wrap(futures_util::stream::iter(chunks)));
            let _failure = VerifiedBody::guard(&mut body, declared);
            let results: Vec<_> = body.unwrap().collect().await;
            assert_eq!(results.iter().all(Result::is_ok), ok, "{value}");
        }
    }

    #[test]
    fn authz_marker_is_required() {
        let extensions = http::Extensions::new();
        assert!(admitted(&extensions).is_err());
    }
}

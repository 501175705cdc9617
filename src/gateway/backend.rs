//! The storage backend of local buckets: [`objects::BucketStore`](super::objects) (object data
//! in files named by an opaque id, every key in a per-bucket SQLite index) behind S3
//! operations that
//! - serve only operations the access layer marked authorized (the `authz::Authorized`
//!   request extension), show only the configured buckets and refuse bucket
//!   creation/deletion;
//! - verify `Content-MD5` and `x-amz-checksum-*` values (header or aws-chunked trailer)
//!   *while the body streams*, so a mismatch fails the stream before anything becomes
//!   visible, and cap bodies at 5 GiB;
//! - accept any S3 key (up to 1,024 bytes of UTF-8; `a` and `a/b` side by side): keys are
//!   index entries, never file names;
//! - make a write visible only by committing its index row after its data is durable, and
//!   never report a committed write as failed;
//! - bind multipart uploads to the identity (not the session's access key id, which changes
//!   at every credential refresh) and check the part list before anything is consumed.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use s3s::TrailingHeaders;
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Md5};
use s3s::dto::*;
use s3s::stream::{ByteStream, RemainingLength};
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, StdError, s3_error};

use super::SessionGrant;
use super::authz::admitted;
use super::objects::{
    Attributes, BucketStore, ObjectRecord, Precondition, WriteError, Written, file_stream,
    resume_after, url_encode,
};

/// Smallest size of every part but the last (as in S3).
const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;
const MAX_PARTS: i32 = 10_000;
/// Largest body of one PutObject or UploadPart (as in S3).
const MAX_BODY_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// Most keys one list response returns (as in S3).
const MAX_LIST_KEYS: i32 = 1000;

pub(crate) struct Backend {
    buckets: Arc<BTreeSet<String>>,
    stores: HashMap<String, Arc<BucketStore>>,
    /// The app's clock.
    clock: crate::clock::SharedClock,
}

impl Backend {
    pub(crate) fn new(
        root: &Path,
        buckets: Arc<BTreeSet<String>>,
        clock: crate::clock::SharedClock,
    ) -> anyhow::Result<Self> {
        let root = std::env::current_dir()?.join(root).canonicalize()?;
        let stores: HashMap<String, Arc<BucketStore>> = (buckets.iter())
            .map(|b| {
                (
                    b.clone(),
                    Arc::new(BucketStore::new(&root, b, clock.clone())),
                )
            })
            .collect();
        // Open the buckets (sweep, import) now rather than at their first request.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            for store in stores.values() {
                let store = Arc::clone(store);
                runtime.spawn(async move {
                    let _ = store.index().await;
                });
            }
        }
        Ok(Self {
            buckets,
            stores,
            clock,
        })
    }

    fn bucket(&self, name: &str) -> S3Result<&BucketStore> {
        match self.stores.get(name) {
            Some(store) => Ok(store),
            None => Err(s3_error!(
                NoSuchBucket,
                "The specified bucket does not exist."
            )),
        }
    }

    /// Checks an upload id against the upload's record: it exists, is for this key and was
    /// started by this identity.
    async fn check_upload(
        &self,
        store: &BucketStore,
        upload_id: &str,
        key: &str,
        grant: &SessionGrant,
    ) -> S3Result<super::objects::UploadRecord> {
        if !is_canonical_uuid(upload_id) {
            return Err(no_such_upload());
        }
        let Some(upload) = store.upload(upload_id).await? else {
            return Err(no_such_upload());
        };
        if upload.key != key {
            return Err(no_such_upload());
        }
        if upload.owner != upload_owner(grant) {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        Ok(upload)
    }
}

fn no_such_key() -> S3Error {
    s3_error!(NoSuchKey, "The specified key does not exist.")
}

/// A stored body's result, in S3 terms: a failed client body is reported as what the
/// verification recorded (or as an incomplete body).
fn settle_write(failure: &Failure, result: Result<Written, WriteError>) -> S3Result<Written> {
    match result {
        Ok(written) => Ok(written),
        Err(WriteError::Store(error)) => Err(error),
        Err(WriteError::Body(error)) => {
            tracing::debug!(%error, "gateway: request body failed");
            failure.settle(Err(s3_error!(
                IncompleteBody,
                "The request body ended before it was complete."
            )))
        }
    }
}

/// A data file streamed as a body (for copies).
fn file_body(
    file: tokio::fs::File,
    len: u64,
) -> impl Stream<Item = Result<Bytes, StdError>> + Send + Unpin + 'static {
    Box::pin(file_stream(file, len).map(|r| r.map_err(|e| -> StdError { Box::new(e) })))
}

/// The checksums to compute and store for a body: those the client declared (as headers, as
/// a trailer, or by naming the algorithm).
fn hasher_for(
    declared: &Declared,
    algorithm: Option<&ChecksumAlgorithm>,
) -> S3Result<ChecksumHasher> {
    let mut hasher = ChecksumHasher::default();
    for (algorithm, _) in &declared.checksums {
        algorithm.enable(&mut hasher);
    }
    if let Some((algorithm, _)) = &declared.trailer {
        algorithm.enable(&mut hasher);
    }
    if let Some(algorithm) = algorithm {
        let name = format!("x-amz-checksum-{}", algorithm.as_str());
        match Algorithm::from_header_name(&name) {
            Some(algorithm) => algorithm.enable(&mut hasher),
            None => {
                return Err(s3_error!(
                    InvalidArgument,
                    "Unsupported checksum algorithm."
                ));
            }
        }
    }
    Ok(hasher)
}

fn precondition(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> Precondition {
    Precondition {
        if_none_match_any: if_none_match.is_some_and(ETagCondition::is_any),
        if_match: if_match.map(|c| match c {
            ETagCondition::Any => None,
            ETagCondition::ETag(etag) => Some(etag.clone()),
        }),
    }
}

fn checksum_of(attrs: &Attributes) -> Checksum {
    Checksum {
        checksum_crc32: attrs.checksum_crc32.clone(),
        checksum_crc32c: attrs.checksum_crc32c.clone(),
        checksum_sha1: attrs.checksum_sha1.clone(),
        checksum_sha256: attrs.checksum_sha256.clone(),
        checksum_crc64nvme: attrs.checksum_crc64nvme.clone(),
        ..Default::default()
    }
}

/// `bytes=first-last` of UploadPartCopy, within an object of `size` bytes.
fn copy_range(range: Option<&str>, size: u64) -> S3Result<(u64, u64)> {
    let Some(range) = range else {
        return Ok((0, size));
    };
    let invalid = || {
        s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value is invalid."
        )
    };
    let spec = range.strip_prefix("bytes=").ok_or_else(invalid)?;
    let (first, last) = spec.split_once('-').ok_or_else(invalid)?;
    let first: u64 = first.trim().parse().map_err(|_| invalid())?;
    let last: u64 = last.trim().parse().map_err(|_| invalid())?;
    if first > last || last >= size {
        return Err(s3_error!(
            InvalidRange,
            "The requested range is not satisfiable."
        ));
    }
    Ok((first, last - first + 1))
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

/// The owner recorded for a multipart upload: the identity, so that an upload survives a
/// credential refresh (new access key id) and stays the identity's own.
fn upload_owner(grant: &SessionGrant) -> String {
    format!("identity:{}", grant.identity_id)
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
        let input = req.input;
        let store = self.bucket(&input.bucket)?;
        let Some((record, file)) = store.open_at(&input.key, 0).await? else {
            return Err(no_such_key());
        };
        let size = record.size;
        let (start, len, content_range) = match &input.range {
            None => (0, size, None),
            Some(range) => {
                let r = range.check(size)?;
                let shown = format!("bytes {}-{}/{size}", r.start, r.end - 1);
                (r.start, r.end - r.start, Some(shown))
            }
        };
        let mut file = file;
        if start > 0 {
            use tokio::io::AsyncSeekExt as _;
            file.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(S3Error::internal_error)?;
        }
        // S3 returns the checksums only for the whole object.
        let sums = if len == size {
            checksum_of(&record.attrs)
        } else {
            Checksum::default()
        };
        let attrs = &record.attrs;
        let output = GetObjectOutput {
            body: Some(StreamingBlob::wrap(file_stream(file, len))),
            content_length: Some(i64::try_from(len).unwrap_or(i64::MAX)),
            content_range,
            last_modified: Some(record.last_modified()),
            e_tag: Some(record.e_tag()),
            metadata: attrs.metadata.clone(),
            content_type: attrs.content_type.clone(),
            content_encoding: attrs.content_encoding.clone(),
            content_disposition: attrs.content_disposition.clone(),
            content_language: attrs.content_language.clone(),
            cache_control: attrs.cache_control.clone(),
            expires: attrs.expires(),
            website_redirect_location: attrs.website_redirect_location.clone(),
            checksum_crc32: sums.checksum_crc32,
            checksum_crc32c: sums.checksum_crc32c,
            checksum_sha1: sums.checksum_sha1,
            checksum_sha256: sums.checksum_sha256,
            checksum_crc64nvme: sums.checksum_crc64nvme,
            accept_ranges: Some("bytes".into()),
            ..Default::default()
        };
        Ok(S3Response::new(output))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        admitted(&req.extensions)?;
        let input = req.input;
        let store = self.bucket(&input.bucket)?;
        let Some(record) = store.get(&input.key).await? else {
            return Err(no_such_key());
        };
        let sums = checksum_of(&record.attrs);
        let attrs = &record.attrs;
        let output = HeadObjectOutput {
            content_length: Some(i64::try_from(record.size).unwrap_or(i64::MAX)),
            last_modified: Some(record.last_modified()),
            e_tag: Some(record.e_tag()),
            metadata: attrs.metadata.clone(),
            content_type: attrs.content_type.clone(),
            content_encoding: attrs.content_encoding.clone(),
            content_disposition: attrs.content_disposition.clone(),
            content_language: attrs.content_language.clone(),
            cache_control: attrs.cache_control.clone(),
            expires: attrs.expires(),
            website_redirect_location: attrs.website_redirect_location.clone(),
            checksum_crc32: sums.checksum_crc32,
            checksum_crc32c: sums.checksum_crc32c,
            checksum_sha1: sums.checksum_sha1,
            checksum_sha256: sums.checksum_sha256,
            checksum_crc64nvme: sums.checksum_crc64nvme,
            accept_ranges: Some("bytes".into()),
            ..Default::default()
        };
        Ok(S3Response::new(output))
    }

    async fn put_object(
        &self,
        mut req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        admitted(&req.extensions)?;
        let store = self.bucket(&req.input.bucket)?;
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
        let hasher = hasher_for(&declared, input.checksum_algorithm.as_ref())?;
        let mut attrs = Attributes {
            metadata: input.metadata.clone(),
            content_type: input.content_type.clone(),
            content_encoding: input.content_encoding.clone(),
            content_disposition: input.content_disposition.clone(),
            content_language: input.content_language.clone(),
            cache_control: input.cache_control.clone(),
            website_redirect_location: input.website_redirect_location.clone(),
            ..Default::default()
        };
        attrs.set_expires(input.expires.as_ref());
        let condition = precondition(input.if_match.as_ref(), input.if_none_match.as_ref());
        let failure = VerifiedBody::guard(&mut req.input.body, declared);
        let body = req.input.body.take();
        let written = match body {
            Some(body) => store.write(body, hasher).await,
            None => store.write(futures_util::stream::empty(), hasher).await,
        };
        let written = settle_write(&failure, written)?;
        let etag = hex::encode(written.md5);
        attrs.set_checksums(written.checksums.clone());
        let record =
            (store.commit_object(&req.input.key, written, etag, attrs, &condition)).await?;
        let sums = checksum_of(&record.attrs);
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(record.e_tag()),
            checksum_crc32: sums.checksum_crc32,
            checksum_crc32c: sums.checksum_crc32c,
            checksum_sha1: sums.checksum_sha1,
            checksum_sha256: sums.checksum_sha256,
            checksum_crc64nvme: sums.checksum_crc64nvme,
            ..Default::default()
        }))
    }

    /// The source's data streamed into a new data file (the destination's previous version
    /// stays visible until the copy is committed); copying a key onto itself is safe.
    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        admitted(&req.extensions)?;
        let input = req.input;
        let CopySource::Bucket {
            bucket: source_bucket,
            key: source_key,
            ..
        } = &input.copy_source
        else {
            return Err(s3_error!(NotImplemented));
        };
        let store = self.bucket(&input.bucket)?;
        let source_store = self.bucket(source_bucket)?;
        let Some((source, file)) = source_store.open_at(source_key, 0).await? else {
            return Err(no_such_key());
        };
        let (etag, modified) = (source.e_tag(), source.last_modified());
        check_copy_conditions(&input, Some(&etag), Some(&modified))?;

        let replace = (input.metadata_directive.as_ref())
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        let attrs = if replace {
            let mut attrs = Attributes {
                metadata: input.metadata.clone(),
                content_type: input.content_type.clone(),
                content_encoding: input.content_encoding.clone(),
                content_disposition: input.content_disposition.clone(),
                content_language: input.content_language.clone(),
                cache_control: input.cache_control.clone(),
                website_redirect_location: input.website_redirect_location.clone(),
                ..Default::default()
            };
            attrs.set_expires(input.expires.as_ref());
            // Same bytes, same checksums.
            attrs.set_checksums(checksum_of(&source.attrs));
            attrs
        } else {
            source.attrs.clone()
        };
        let written = match store
            .write(file_body(file, source.size), ChecksumHasher::default())
            .await
        {
            Ok(written) => written,
            Err(WriteError::Store(error)) => return Err(error),
            Err(WriteError::Body(error)) => {
                tracing::error!(%error, "gateway: reading the copy source failed");
                return Err(s3_error!(InternalError));
            }
        };
        let etag = hex::encode(written.md5);
        let record =
            (store.commit_object(&input.key, written, etag, attrs, &Precondition::default()))
                .await?;
        let result = CopyObjectResult {
            e_tag: Some(record.e_tag()),
            last_modified: Some(record.last_modified()),
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
        let store = self.bucket(&req.input.bucket)?;
        store.delete(&req.input.key).await?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    /// Each key is deleted on its own; one that fails is reported in `Errors` without hiding
    /// the deletions that happened.
    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        admitted(&req.extensions)?;
        let input = req.input;
        let store = self.bucket(&input.bucket)?;
        let quiet = input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for object in input.delete.objects {
            match store.delete(&object.key).await {
                Ok(_) => {
                    if !quiet {
                        deleted.push(DeletedObject {
                            key: Some(object.key),
                            ..Default::default()
                        });
                    }
                }
                Err(error) => errors.push(Error {
                    key: Some(object.key),
                    code: Some(error.code().as_str().to_owned()),
                    message: error.message().map(str::to_owned),
                    ..Default::default()
                }),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let grant = admitted(&req.extensions)?;
        let input = req.input;
        let store = self.bucket(&input.bucket)?;
        let mut attrs = Attributes {
            metadata: input.metadata.clone(),
            content_type: input.content_type.clone(),
            content_encoding: input.content_encoding.clone(),
            content_disposition: input.content_disposition.clone(),
            content_language: input.content_language.clone(),
            cache_control: input.cache_control.clone(),
            website_redirect_location: input.website_redirect_location.clone(),
            ..Default::default()
        };
        attrs.set_expires(input.expires.as_ref());
        let upload_id = (store.create_upload(&input.key, &upload_owner(&grant), &attrs)).await?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload_id),
            ..Default::default()
        }))
    }

    async fn upload_part(
        &self,
        mut req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let grant = admitted(&req.extensions)?;
        check_part_number(req.input.part_number)?;
        let store = self.bucket(&req.input.bucket)?;
        let input = &req.input;
        (self.check_upload(store, &input.upload_id, &input.key, &grant)).await?;
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
        let hasher = hasher_for(&declared, input.checksum_algorithm.as_ref())?;
        let failure = VerifiedBody::guard(&mut req.input.body, declared);
        let written = match req.input.body.take() {
            Some(body) => store.write(body, hasher).await,
            None => store.write(futures_util::stream::empty(), hasher).await,
        };
        let written = settle_write(&failure, written)?;
        let etag = hex::encode(written.md5);
        let sums = written.checksums.clone();
        let input = &req.input;
        (store.commit_part(&input.upload_id, input.part_number, written, &etag)).await?;
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(etag)),
            checksum_crc32: sums.checksum_crc32,
            checksum_crc32c: sums.checksum_crc32c,
            checksum_sha1: sums.checksum_sha1,
            checksum_sha256: sums.checksum_sha256,
            checksum_crc64nvme: sums.checksum_crc64nvme,
            ..Default::default()
        }))
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let grant = admitted(&req.extensions)?;
        let input = req.input;
        check_part_number(input.part_number)?;
        let store = self.bucket(&input.bucket)?;
        (self.check_upload(store, &input.upload_id, &input.key, &grant)).await?;
        let CopySource::Bucket {
            bucket: source_bucket,
            key: source_key,
            ..
        } = &input.copy_source
        else {
            return Err(s3_error!(NotImplemented));
        };
        let source_store = self.bucket(source_bucket)?;
        let Some((source, mut file)) = source_store.open_at(source_key, 0).await? else {
            return Err(no_such_key());
        };
        let (start, len) = copy_range(input.copy_source_range.as_deref(), source.size)?;
        if start > 0 {
            use tokio::io::AsyncSeekExt as _;
            file.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(S3Error::internal_error)?;
        }
        let written = match store
            .write(file_body(file, len), ChecksumHasher::default())
            .await
        {
            Ok(written) => written,
            Err(WriteError::Store(error)) => return Err(error),
            Err(WriteError::Body(error)) => {
                tracing::error!(%error, "gateway: reading the copy source failed");
                return Err(s3_error!(InternalError));
            }
        };
        let etag = hex::encode(written.md5);
        (store.commit_part(&input.upload_id, input.part_number, written, &etag)).await?;
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(ETag::Strong(etag)),
                last_modified: Some(super::objects::timestamp(self.clock.now_ms())),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    /// Checks the part list against the recorded parts before anything is consumed, joins the
    /// parts into a new data file and commits it; the upload and its parts stay intact if any
    /// step before the commit fails.
    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let grant = admitted(&req.extensions)?;
        let input = req.input;
        let store = self.bucket(&input.bucket)?;
        let upload = (self.check_upload(store, &input.upload_id, &input.key, &grant)).await?;
        let listed = (input.multipart_upload.as_ref())
            .and_then(|m| m.parts.as_deref())
            .unwrap_or_default();
        if listed.is_empty() || listed.len() > MAX_PARTS as usize {
            return Err(s3_error!(InvalidPart, "List 1 to 10000 parts."));
        }
        let stored = store.parts(&input.upload_id).await?;
        let mut chosen = Vec::with_capacity(listed.len());
        let last = listed.len();
        for (i, part) in listed.iter().enumerate() {
            let number = i + 1;
            if part.part_number.and_then(|n| usize::try_from(n).ok()) != Some(number) {
                return Err(s3_error!(
                    InvalidPartOrder,
                    "Parts must be numbered 1, 2, 3, ... without gaps, in order."
                ));
            }
            let Some(record) = stored.iter().find(|p| p.part_number as usize == number) else {
                return Err(s3_error!(InvalidPart, "Part {number} was not uploaded."));
            };
            if let Some(etag) = &part.e_tag
                && etag.value().trim_matches('"') != record.etag
            {
                return Err(s3_error!(
                    InvalidPart,
                    "The ETag of part {number} does not match the uploaded part."
                ));
            }
            if number != last && record.size < MIN_PART_BYTES {
                return Err(s3_error!(
                    EntityTooSmall,
                    "Part {number} is smaller than 5 MiB and not the last part."
                ));
            }
            chosen.push(record.clone());
        }
        // ETag: MD5 of the parts' MD5s, then "-<number of parts>" (as S3).
        let mut md5s = Md5::new();
        for part in &chosen {
            let digest = hex::decode(&part.etag).map_err(S3Error::internal_error)?;
            md5s.update(&digest);
        }
        let etag = format!("{}-{}", hex::encode(md5s.finalize()), chosen.len());

        let mut body_parts = Vec::with_capacity(chosen.len());
        for part in &chosen {
            body_parts.push((store.open_part(part).await?, part.size));
        }
        let body = futures_util::stream::iter(body_parts)
            .flat_map(|(file, size)| file_stream(file, size))
            .map(|r| r.map_err(|e| -> StdError { Box::new(e) }));
        let written = match store.write(Box::pin(body), ChecksumHasher::default()).await {
            Ok(written) => written,
            Err(WriteError::Store(error)) => return Err(error),
            Err(WriteError::Body(error)) => {
                tracing::error!(%error, "gateway: reading the parts failed");
                return Err(s3_error!(InternalError));
            }
        };
        let record = ObjectRecord {
            key: input.key.clone(),
            data_id: String::new(),
            size: 0,
            etag,
            modified_ms: 0,
            attrs: upload.attrs.without_checksums(),
        };
        let condition = precondition(input.if_match.as_ref(), input.if_none_match.as_ref());
        let record = (store.complete_upload(&input.upload_id, record, written, &condition)).await?;
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            e_tag: Some(record.e_tag()),
            ..Default::default()
        }))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let grant = admitted(&req.extensions)?;
        let input = req.input;
        let store = self.bucket(&input.bucket)?;
        (self.check_upload(store, &input.upload_id, &input.key, &grant)).await?;
        if !store.abort_upload(&input.upload_id).await? {
            return Err(no_such_upload());
        }
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let grant = admitted(&req.extensions)?;
        let input = req.input;
        let store = self.bucket(&input.bucket)?;
        (self.check_upload(store, &input.upload_id, &input.key, &grant)).await?;
        let marker = input.part_number_marker.unwrap_or(0);
        let max = input.max_parts.map_or(1000, |n| n.clamp(0, 1000)) as usize;
        let mut parts: Vec<_> = (store.parts(&input.upload_id).await?)
            .into_iter()
            .filter(|p| p.part_number > marker)
            .collect();
        let truncated = parts.len() > max;
        parts.truncate(max);
        let next = parts.last().map(|p| p.part_number);
        let parts = parts
            .into_iter()
            .map(|p| Part {
                part_number: Some(p.part_number),
                size: Some(i64::try_from(p.size).unwrap_or(i64::MAX)),
                e_tag: Some(ETag::Strong(p.etag)),
                last_modified: Some(super::objects::timestamp(p.modified_ms)),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            parts: Some(parts),
            is_truncated: Some(truncated),
            max_parts: Some(max as i32),
            next_part_number_marker: if truncated { next } else { None },
            part_number_marker: input.part_number_marker,
            ..Default::default()
        }))
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        admitted(&req.extensions)?;
        let input = req.input;
        let store = self.bucket(&input.bucket)?;
        let max = list_limit(input.max_keys);
        let prefix = input.prefix.as_deref().unwrap_or_default();
        let delimiter = input.delimiter.as_deref();
        let after = (input.marker.as_deref()).map(|m| resume_after(prefix, delimiter, m));
        let listing = (store.list(prefix, delimiter, after, max as usize)).await?;
        let url = is_url_encoding(input.encoding_type.as_ref());
        let enc = |s: String| if url { url_encode(&s) } else { s };
        let next_marker = listing.truncated.then(|| listing.last.clone()).flatten();
        let (contents, common_prefixes) = listing_entries(listing, &enc);
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: input.prefix.map(&enc),
            delimiter: input.delimiter.map(&enc),
            marker: input.marker.map(&enc),
            max_keys: Some(max),
            is_truncated: Some(next_marker.is_some()),
            next_marker: next_marker.map(&enc),
            contents,
            common_prefixes,
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        admitted(&req.extensions)?;
        let input = req.input;
        let store = self.bucket(&input.bucket)?;
        let max = list_limit(input.max_keys);
        let prefix = input.prefix.as_deref().unwrap_or_default();
        let delimiter = input.delimiter.as_deref();
        let token = match input.continuation_token.as_deref() {
            None => None,
            Some(token) => Some(URL_SAFE_NO_PAD.decode(token).map_err(|_| {
                s3_error!(
                    InvalidArgument,
                    "The continuation token provided is incorrect."
                )
            })?),
        };
        let start = input.start_after.as_deref().map(|s| s.as_bytes().to_vec());
        let after = token.into_iter().chain(start).max();
        let listing = (store.list(prefix, delimiter, after, max as usize)).await?;
        let url = is_url_encoding(input.encoding_type.as_ref());
        let enc = |s: String| if url { url_encode(&s) } else { s };
        let next = listing.resume.as_deref().map(|r| URL_SAFE_NO_PAD.encode(r));
        let count = listing.objects.len() + listing.prefixes.len();
        let (contents, common_prefixes) = listing_entries(listing, &enc);
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: input.prefix.map(&enc),
            delimiter: input.delimiter.map(&enc),
            start_after: input.start_after.map(&enc),
            max_keys: Some(max),
            key_count: Some(i32::try_from(count).unwrap_or(i32::MAX)),
            is_truncated: Some(next.is_some()),
            continuation_token: input.continuation_token,
            next_continuation_token: next,
            contents,
            common_prefixes,
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        admitted(&req.extensions)?;
        self.bucket(&req.input.bucket)?.index().await?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        admitted(&req.extensions)?;
        let buckets = (self.buckets.iter())
            .map(|name| Bucket {
                name: Some(name.clone()),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            ..Default::default()
        }))
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

fn is_url_encoding(encoding: Option<&EncodingType>) -> bool {
    encoding.is_some_and(|e| e.as_str().eq_ignore_ascii_case(EncodingType::URL))
}

type Entries = (Option<Vec<Object>>, Option<Vec<CommonPrefix>>);

fn listing_entries(listing: super::objects::Listing, enc: &dyn Fn(String) -> String) -> Entries {
    let objects: Vec<Object> = (listing.objects.into_iter())
        .map(|o| Object {
            key: Some(enc(o.key)),
            size: Some(i64::try_from(o.size).unwrap_or(i64::MAX)),
            e_tag: Some(ETag::Strong(o.etag)),
            last_modified: Some(super::objects::timestamp(o.modified_ms)),
            storage_class: Some(ObjectStorageClass::from_static(
                ObjectStorageClass::STANDARD,
            )),
            ..Default::default()
        })
        .collect();
    let prefixes: Vec<CommonPrefix> = (listing.prefixes.into_iter())
        .map(|p| CommonPrefix {
            prefix: Some(enc(p)),
        })
        .collect();
    (
        (!objects.is_empty()).then_some(objects),
        (!prefixes.is_empty()).then_some(prefixes),
    )
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

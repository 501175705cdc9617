//! The object store of the gateway's local buckets: object data in files named by an opaque
//! id, and every key in a per-bucket index.
//!
//! Layout under the storage root (`storage.root`):
//! - `.poolgate/<bucket>/index.db`: an SQLite database (WAL, `synchronous=FULL`) mapping each
//!   key to {data id, size, ETag, last modified, content type and the other stored headers,
//!   user metadata, checksums}, plus the multipart uploads and their parts. Keys are BLOBs,
//!   so the primary key's order is S3's (UTF-8 byte order), a lookup is one B-tree probe and a
//!   listing reads only the index, never a file.
//! - `.poolgate/<bucket>/data/<id>`: the bytes of one object (or part), written once.
//! - `.poolgate/<bucket>/tmp/<id>`: data being received.
//! - `<bucket>/`: an inbox. Files found there when the bucket is opened (the layout of earlier
//!   versions, which kept each object as a file named by its key, or files an operator drops
//!   in) are imported as objects and moved into `data/`.
//!
//! Any S3-valid key fits (up to 1,024 bytes of UTF-8, `a` and `a/b` side by side, `..`, `//`),
//! because keys are never file names.
//!
//! Crash safety: a body is written to `tmp/`, fsynced, renamed into `data/` and the directory
//! fsynced; only then does one index transaction make it visible (replacing the previous
//! version of the key). A crash before the commit leaves an unreferenced file that the next
//! open removes; nothing partial is ever visible. After the commit the write is reported as
//! done whatever happens next (removing the replaced data file is best effort, logged).
//! Running out of space (ENOSPC, or SQLITE_FULL) is reported as 507 `InsufficientStorage`
//! and leaves nothing behind.

use crate::clock::SharedClock;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt as _};
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Md5};
use s3s::dto::{Checksum, ETag, Metadata, Timestamp, TimestampFormat};
use s3s::{S3Error, S3ErrorCode, StdError, s3_error};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};

/// Longest key S3 accepts, in bytes of UTF-8.
pub(crate) const MAX_KEY_BYTES: usize = 1024;

/// Schema of a bucket's index (`PRAGMA user_version` 1).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS objects (
    key BLOB PRIMARY KEY,          -- the key's UTF-8 bytes: memcmp order is S3's list order
    data_id TEXT NOT NULL,         -- file name under data/
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,            -- without quotes
    modified_ms INTEGER NOT NULL,
    attrs TEXT NOT NULL            -- JSON: content type and other headers, metadata, checksums
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,
    key BLOB NOT NULL,
    owner TEXT NOT NULL,
    attrs TEXT NOT NULL,
    initiated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL,
    part_number INTEGER NOT NULL,
    data_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    modified_ms INTEGER NOT NULL,
    PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;
PRAGMA user_version = 1;
";

/// The headers stored with an object (as S3 returns them on GET/HEAD), its user metadata and
/// the checksums computed when it was written.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Attributes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// RFC 3339 (`TimestampFormat::DateTime`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website_redirect_location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_crc32: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_crc32c: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_sha1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_crc64nvme: Option<String>,
}

impl Attributes {
    pub(crate) fn set_expires(&mut self, expires: Option<&Timestamp>) {
        self.expires = expires.and_then(|ts| {
            let mut buf = Vec::new();
            ts.format(TimestampFormat::DateTime, &mut buf).ok()?;
            String::from_utf8(buf).ok()
        });
    }

    pub(crate) fn expires(&self) -> Option<Timestamp> {
        (self.expires.as_deref()).and_then(|s| Timestamp::parse(TimestampFormat::DateTime, s).ok())
    }

    pub(crate) fn set_checksums(&mut self, sums: Checksum) {
        self.checksum_crc32 = sums.checksum_crc32;
        self.checksum_crc32c = sums.checksum_crc32c;
        self.checksum_sha1 = sums.checksum_sha1;
        self.checksum_sha256 = sums.checksum_sha256;
        self.checksum_crc64nvme = sums.checksum_crc64nvme;
    }

    pub(crate) fn without_checksums(mut self) -> Self {
        self.set_checksums(Checksum::default());
        self
    }
}

/// One object as the index records it.
#[derive(Debug, Clone)]
pub(crate) struct ObjectRecord {
    pub key: String,
    pub data_id: String,
    pub size: u64,
    pub etag: String,
    pub modified_ms: i64,
    pub attrs: Attributes,
}

impl ObjectRecord {
    pub(crate) fn e_tag(&self) -> ETag {
        ETag::Strong(self.etag.clone())
    }

    pub(crate) fn last_modified(&self) -> Timestamp {
        timestamp(self.modified_ms)
    }
}

pub(crate) fn timestamp(ms: i64) -> Timestamp {
    let at = UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    Timestamp::from(at)
}

/// A part of a multipart upload.
#[derive(Debug, Clone)]
pub(crate) struct PartRecord {
    pub part_number: i32,
    pub data_id: String,
    pub size: u64,
    pub etag: String,
    pub modified_ms: i64,
}

/// A multipart upload in progress.
#[derive(Debug, Clone)]
pub(crate) struct UploadRecord {
    pub key: String,
    pub owner: String,
    pub attrs: Attributes,
}

/// What must hold of the current version of a key for a write to replace it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Precondition {
    /// `If-None-Match: *`: the key must not exist.
    pub if_none_match_any: bool,
    /// `If-Match`: the key must exist (and have this ETag when one is given).
    pub if_match: Option<Option<ETag>>,
}

impl Precondition {
    fn check(&self, current: Option<&str>) -> Result<(), S3Error> {
        let failed = |why: &str| {
            Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold ({why})."
            ))
        };
        if self.if_none_match_any && current.is_some() {
            return failed("the object exists");
        }
        match (&self.if_match, current) {
            (Some(_), None) => failed("the object does not exist"),
            (Some(Some(expected)), Some(etag))
                if !ETag::Strong(etag.to_owned()).strong_cmp(expected) =>
            {
                failed("the ETag differs")
            }
            _ => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// 507 `InsufficientStorage`: S3 has no error for a full disk (MinIO answers 507 with its own
/// code). 507 is a 5xx that SDKs do not retry (they retry 500, 502, 503 and 504), which is
/// what a full disk needs: retrying cannot help until space is freed.
pub(crate) fn insufficient_storage() -> S3Error {
    let mut error = S3Error::with_message(
        S3ErrorCode::Custom("InsufficientStorage".into()),
        "The server has no space left to store this object.",
    );
    error.set_status_code(http::StatusCode::INSUFFICIENT_STORAGE);
    error
}

fn is_full_io(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

fn io_error(error: std::io::Error) -> S3Error {
    if is_full_io(&error) {
        insufficient_storage()
    } else {
        tracing::error!(%error, "gateway: storage I/O failed");
        S3Error::internal_error(error)
    }
}

/// SQLite's primary result code 13 (SQLITE_FULL), also inside extended codes.
fn is_full_db(error: &sqlx::Error) -> bool {
    let code = (error.as_database_error())
        .and_then(|e| e.code())
        .and_then(|c| c.parse::<i64>().ok());
    match code {
        Some(code) => code & 0xff == 13,
        None => matches!(error, sqlx::Error::Io(e) if is_full_io(e)),
    }
}

fn db_error(error: sqlx::Error) -> S3Error {
    if is_full_db(&error) {
        insufficient_storage()
    } else {
        tracing::error!(%error, "gateway: object index failed");
        S3Error::internal_error(error)
    }
}

fn json_error(error: serde_json::Error) -> S3Error {
    tracing::error!(%error, "gateway: unreadable object attributes");
    S3Error::internal_error(error)
}

// ---------------------------------------------------------------------------------------------
// Data files

/// A data file being created; removed on drop unless it was committed.
struct DataFile {
    path: PathBuf,
    committed: bool,
}

impl Drop for DataFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A body stored under `data/`, not yet visible.
pub(crate) struct Written {
    file: DataFile,
    pub data_id: String,
    pub size: u64,
    pub md5: [u8; 16],
    pub checksums: Checksum,
}

impl Written {
    fn commit(mut self) {
        self.file.committed = true;
    }
}

/// Why a body could not be stored.
pub(crate) enum WriteError {
    /// The client's body failed (bad signature, digest mismatch, cut short...).
    Body(StdError),
    /// The server's side failed.
    Store(S3Error),
}

async fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    tokio::fs::File::open(dir).await?.sync_all().await
}

/// Streams `len` bytes of a file from its current position.
pub(crate) fn file_stream(
    file: tokio::fs::File,
    len: u64,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    const CHUNK: usize = 64 * 1024;
    futures_util::stream::unfold((file, len), |(mut file, left)| async move {
        if left == 0 {
            return None;
        }
        let want = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
        let mut buf = BytesMut::zeroed(want);
        match file.read(&mut buf).await {
            Ok(0) => {
                let short = std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "object data shorter than recorded",
                );
                Some((Err(short), (file, 0)))
            }
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(buf.freeze()), (file, left - n as u64)))
            }
            Err(e) => Some((Err(e), (file, 0))),
        }
    })
}

// ---------------------------------------------------------------------------------------------
// A bucket

/// One local bucket: its index and data directory. Opened on first use.
pub(crate) struct BucketStore {
    name: String,
    /// `<root>/.poolgate/<bucket>`
    dir: PathBuf,
    /// `<root>/<bucket>`: the inbox of files to import.
    inbox: PathBuf,
    /// `<root>`: where s3s-fs (earlier versions) kept its metadata files.
    root: PathBuf,
    index: tokio::sync::OnceCell<SqlitePool>,
    /// One index writer at a time (readers are never blocked: WAL).
    write: tokio::sync::Mutex<()>,
    /// The app's clock (modification and upload times).
    clock: SharedClock,
}

impl BucketStore {
    pub(crate) fn new(root: &Path, name: &str, clock: SharedClock) -> Self {
        Self {
            name: name.to_owned(),
            dir: root.join(".poolgate").join(name),
            inbox: root.join(name),
            root: root.to_owned(),
            index: tokio::sync::OnceCell::new(),
            write: tokio::sync::Mutex::new(()),
            clock,
        }
    }

    fn data_path(&self, data_id: &str) -> PathBuf {
        self.dir.join("data").join(data_id)
    }

    /// The index, opening the bucket on first use.
    pub(crate) async fn index(&self) -> Result<&SqlitePool, S3Error> {
        self.index
            .get_or_try_init(|| self.open_index())
            .await
            .map_err(|error| {
                tracing::error!(bucket = %self.name, error = %format!("{error:#}"), "gateway: cannot open bucket");
                if error.downcast_ref::<std::io::Error>().is_some_and(is_full_io)
                    || error.downcast_ref::<sqlx::Error>().is_some_and(is_full_db)
                {
                    insufficient_storage()
                } else {
                    s3_error!(InternalError, "The bucket cannot be opened.")
                }
            })
    }

    /// Creates the directories and the index, removes what an interrupted write left behind and
    /// imports the inbox.
    async fn open_index(&self) -> anyhow::Result<SqlitePool> {
        tokio::fs::create_dir_all(self.dir.join("data")).await?;
        tokio::fs::create_dir_all(self.dir.join("tmp")).await?;
        tokio::fs::create_dir_all(&self.inbox).await?;
        let options = SqliteConnectOptions::new()
            .filename(self.dir.join("index.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        self.sweep(&pool).await?;
        self.import_inbox(&pool).await?;
        Ok(pool)
    }

    /// Removes temporary files and data files no index row refers to (a crash between a data
    /// file's rename and its index commit).
    async fn sweep(&self, pool: &SqlitePool) -> anyhow::Result<()> {
        let mut tmp = tokio::fs::read_dir(self.dir.join("tmp")).await?;
        while let Some(entry) = tmp.next_entry().await? {
            let _ = tokio::fs::remove_file(entry.path()).await;
        }
        let referenced: HashSet<String> =
            sqlx::query_scalar("SELECT data_id FROM objects UNION ALL SELECT data_id FROM parts")
                .fetch_all(pool)
                .await?
                .into_iter()
                .collect();
        let mut data = tokio::fs::read_dir(self.dir.join("data")).await?;
        while let Some(entry) = data.next_entry().await? {
            let name = entry.file_name();
            if !name.to_str().is_some_and(|n| referenced.contains(n)) {
                tracing::info!(bucket = %self.name, file = ?name, "gateway: removing unreferenced data file");
                let _ = tokio::fs::remove_file(entry.path()).await;
            }
        }
        Ok(())
    }

    /// Imports every file under the inbox `<root>/<bucket>/` as the object named by its path,
    /// with the metadata s3s-fs (earlier versions) kept in `<root>`, then moves it into `data/`.
    ///
    /// Order: the index row is committed first, then the file is renamed; a crash in between
    /// leaves the file in the inbox and the next open imports it again (the row is replaced).
    async fn import_inbox(&self, pool: &SqlitePool) -> anyhow::Result<()> {
        let mut stack = vec![self.inbox.clone()];
        let mut dirs = Vec::new();
        while let Some(dir) = stack.pop() {
            let mut entries = tokio::fs::read_dir(&dir).await?;
            while let Some(entry) = entries.next_entry().await? {
                let kind = entry.file_type().await?;
                let path = entry.path();
                if kind.is_dir() {
                    stack.push(path.clone());
                    dirs.push(path);
                } else if kind.is_file() {
                    self.import_file(pool, &path).await?;
                }
            }
        }
        // Deepest first: s3s-fs's directories (its `a/` keys) and those emptied by the import.
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for dir in dirs {
            let _ = tokio::fs::remove_dir(&dir).await;
        }
        Ok(())
    }

    async fn import_file(&self, pool: &SqlitePool, path: &Path) -> anyhow::Result<()> {
        let relative = path.strip_prefix(&self.inbox)?;
        let mut segments = Vec::new();
        for part in relative.components() {
            match part.as_os_str().to_str() {
                Some(s) => segments.push(s),
                None => {
                    tracing::warn!(path = %path.display(), "gateway: not importing a file whose name is not UTF-8");
                    return Ok(());
                }
            }
        }
        let key = segments.join("/");
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            tracing::warn!(path = %path.display(), "gateway: not importing a file whose path is no S3 key");
            return Ok(());
        }
        let meta = tokio::fs::metadata(path).await?;
        let modified_ms = (meta.modified().ok())
            .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
            .map_or_else(
                || self.clock.now_ms(),
                |d| i64::try_from(d.as_millis()).unwrap_or(0),
            );

        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let stem = format!(
            ".bucket-{}.object-{}",
            URL_SAFE_NO_PAD.encode(&self.name),
            URL_SAFE_NO_PAD.encode(&key)
        );
        let metadata_file = self.root.join(format!("{stem}.metadata.json"));
        let internal_file = self.root.join(format!("{stem}.internal.json"));
        let mut attrs = match tokio::fs::read(&metadata_file).await {
            Ok(bytes) => legacy_attributes(&bytes),
            Err(_) => Attributes::default(),
        };
        let internal: serde_json::Map<String, serde_json::Value> =
            match tokio::fs::read(&internal_file).await {
                Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
                Err(_) => Default::default(),
            };
        let text = |name: &str| {
            internal
                .get(name)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        attrs.checksum_crc32 = text("checksum_crc32");
        attrs.checksum_crc32c = text("checksum_crc32c");
        attrs.checksum_sha1 = text("checksum_sha1");
        attrs.checksum_sha256 = text("checksum_sha256");
        attrs.checksum_crc64nvme = text("checksum_crc64nvme");
        let etag = match text("e_tag") {
            Some(etag) => etag,
            None => hex::encode(md5_of_file(path).await?),
        };

        let data_id = uuid::Uuid::new_v4().simple().to_string();
        let record = ObjectRecord {
            key: key.clone(),
            data_id: data_id.clone(),
            size: meta.len(),
            etag,
            modified_ms,
            attrs,
        };
        let replaced = {
            let _guard = self.write.lock().await;
            let mut tx = pool.begin().await?;
            let old = upsert(&mut tx, &record).await?;
            tx.commit().await?;
            old
        };
        tokio::fs::rename(path, self.data_path(&data_id)).await?;
        fsync_dir(&self.dir.join("data")).await?;
        if let Some(old) = replaced {
            let _ = tokio::fs::remove_file(self.data_path(&old)).await;
        }
        let _ = tokio::fs::remove_file(metadata_file).await;
        let _ = tokio::fs::remove_file(internal_file).await;
        tracing::info!(bucket = %self.name, key = %key, "gateway: imported a file into the bucket");
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Writing data

    /// Stores a body under `data/` (temporary file, fsync, rename, directory fsync) and
    /// computes its MD5 and the checksums enabled in `hasher`. On a full disk the rest of the
    /// body is read and dropped, so the client gets the answer instead of a reset connection.
    pub(crate) async fn write<S>(
        &self,
        body: S,
        mut hasher: ChecksumHasher,
    ) -> Result<Written, WriteError>
    where
        S: Stream<Item = Result<Bytes, StdError>> + Unpin,
    {
        self.index().await.map_err(WriteError::Store)?;
        let data_id = uuid::Uuid::new_v4().simple().to_string();
        let tmp = self.dir.join("tmp").join(&data_id);
        let mut file = DataFile {
            path: tmp.clone(),
            committed: false,
        };
        let store = |e: std::io::Error| WriteError::Store(io_error(e));
        let handle = tokio::fs::File::create(&tmp).await.map_err(store)?;
        let mut writer = tokio::io::BufWriter::with_capacity(256 * 1024, handle);
        let mut md5 = Md5::new();
        let mut size: u64 = 0;
        let mut body = body;
        let mut failed: Option<std::io::Error> = None;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(WriteError::Body)?;
            if failed.is_some() {
                continue; // draining after a write error
            }
            md5.update(&chunk);
            hasher.update(&chunk);
            size += chunk.len() as u64;
            if let Err(e) = writer.write_all(&chunk).await {
                failed = Some(e);
            }
        }
        if let Some(e) = failed {
            return Err(store(e));
        }
        writer.flush().await.map_err(store)?;
        let handle = writer.into_inner();
        handle.sync_all().await.map_err(store)?;
        drop(handle);
        let path = self.data_path(&data_id);
        tokio::fs::rename(&tmp, &path).await.map_err(store)?;
        file.path = path;
        fsync_dir(&self.dir.join("data")).await.map_err(store)?;
        Ok(Written {
            file,
            data_id,
            size,
            md5: md5.finalize(),
            checksums: hasher.finalize(),
        })
    }

    fn remove_data(&self, data_ids: impl IntoIterator<Item = String>) {
        for id in data_ids {
            let path = self.data_path(&id);
            if let Err(error) = std::fs::remove_file(&path)
                && error.kind() != std::io::ErrorKind::NotFound
            {
                // The write that replaced it is done; the file is swept at the next open.
                tracing::warn!(%error, path = %path.display(), "gateway: could not remove replaced data");
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Objects

    /// Makes `written` the current version of `key`.
    pub(crate) async fn commit_object(
        &self,
        key: &str,
        written: Written,
        etag: String,
        attrs: Attributes,
        precondition: &Precondition,
    ) -> Result<ObjectRecord, S3Error> {
        let pool = self.index().await?;
        let record = ObjectRecord {
            key: key.to_owned(),
            data_id: written.data_id.clone(),
            size: written.size,
            etag,
            modified_ms: self.clock.now_ms(),
            attrs,
        };
        let replaced = {
            let _guard = self.write.lock().await;
            let mut tx = pool.begin().await.map_err(db_error)?;
            let current: Option<String> =
                sqlx::query_scalar("SELECT etag FROM objects WHERE key = ?")
                    .bind(key.as_bytes())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_error)?;
            precondition.check(current.as_deref())?;
            let old = upsert(&mut tx, &record).await.map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
            old
        };
        // Visible and durable from here on: nothing below may turn this into a failure.
        written.commit();
        self.remove_data(replaced);
        Ok(record)
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Option<ObjectRecord>, S3Error> {
        let pool = self.index().await?;
        let row: Option<(String, i64, String, i64, String)> = sqlx::query_as(
            "SELECT data_id, size, etag, modified_ms, attrs FROM objects WHERE key = ?",
        )
        .bind(key.as_bytes())
        .fetch_optional(pool)
        .await
        .map_err(db_error)?;
        let Some((data_id, size, etag, modified_ms, attrs)) = row else {
            return Ok(None);
        };
        Ok(Some(ObjectRecord {
            key: key.to_owned(),
            data_id,
            size: u64::try_from(size).unwrap_or(0),
            etag,
            modified_ms,
            attrs: serde_json::from_str(&attrs).map_err(json_error)?,
        }))
    }

    /// The current version of `key` with its data file open (positioned at `offset`). A
    /// concurrent overwrite may remove the file between the lookup and the open: look again.
    pub(crate) async fn open(
        &self,
        key: &str,
    ) -> Result<Option<(ObjectRecord, tokio::fs::File)>, S3Error> {
        for _ in 0..8 {
            let Some(record) = self.get(key).await? else {
                return Ok(None);
            };
            match tokio::fs::File::open(self.data_path(&record.data_id)).await {
                Ok(file) => return Ok(Some((record, file))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error(e)),
            }
        }
        Err(s3_error!(
            SlowDown,
            "The object is being overwritten; try again."
        ))
    }

    pub(crate) async fn open_at(
        &self,
        key: &str,
        offset: u64,
    ) -> Result<Option<(ObjectRecord, tokio::fs::File)>, S3Error> {
        let Some((record, mut file)) = self.open(key).await? else {
            return Ok(None);
        };
        if offset > 0 {
            file.seek(std::io::SeekFrom::Start(offset))
                .await
                .map_err(io_error)?;
        }
        Ok(Some((record, file)))
    }

    /// Removes `key`; true if it existed.
    pub(crate) async fn delete(&self, key: &str) -> Result<bool, S3Error> {
        let pool = self.index().await?;
        let removed: Option<String> = {
            let _guard = self.write.lock().await;
            sqlx::query_scalar("DELETE FROM objects WHERE key = ? RETURNING data_id")
                .bind(key.as_bytes())
                .fetch_optional(pool)
                .await
                .map_err(db_error)?
        };
        let existed = removed.is_some();
        self.remove_data(removed);
        Ok(existed)
    }

    /// One page of a listing in key order: objects and common prefixes (at most `max` in
    /// all) whose keys start with `prefix` and sort after `after` (exclusive).
    pub(crate) async fn list(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        after: Option<Vec<u8>>,
        max: usize,
    ) -> Result<Listing, S3Error> {
        let pool = self.index().await?;
        let mut listing = Listing::default();
        if max == 0 {
            return Ok(listing);
        }
        let delimiter = delimiter.filter(|d| !d.is_empty());
        // (bound, inclusive)
        let mut cursor: (Vec<u8>, bool) = match after {
            Some(after) if after.as_slice() >= prefix.as_bytes() => (after, false),
            _ => (prefix.as_bytes().to_vec(), true),
        };
        let mut entries = 0usize;
        'pages: loop {
            let batch = i64::try_from((max - entries + 1).min(1001)).unwrap_or(1001);
            let sql = if cursor.1 {
                "SELECT key, size, etag, modified_ms FROM objects WHERE key >= ? ORDER BY key LIMIT ?"
            } else {
                "SELECT key, size, etag, modified_ms FROM objects WHERE key > ? ORDER BY key LIMIT ?"
            };
            let rows: Vec<(Vec<u8>, i64, String, i64)> = sqlx::query_as(sql)
                .bind(&cursor.0)
                .bind(batch)
                .fetch_all(pool)
                .await
                .map_err(db_error)?;
            if rows.is_empty() {
                break;
            }
            for (key, size, etag, modified_ms) in rows {
                let key =
                    String::from_utf8(key).map_err(|e| S3Error::internal_error(e.utf8_error()))?;
                if !key.starts_with(prefix) {
                    break 'pages;
                }
                let rest = &key[prefix.len()..];
                if let Some(pos) = delimiter.and_then(|d| rest.find(d).map(|p| p + d.len())) {
                    if entries == max {
                        listing.truncated = true;
                        listing.resume = Some(cursor.0);
                        break 'pages;
                    }
                    let common = key[..prefix.len() + pos].to_owned();
                    cursor = (past_prefix(&common), false);
                    listing.last = Some(common.clone());
                    listing.prefixes.push(common);
                    entries += 1;
                    continue 'pages;
                }
                if entries == max {
                    listing.truncated = true;
                    listing.resume = Some(cursor.0);
                    break 'pages;
                }
                cursor = (key.as_bytes().to_vec(), false);
                listing.last = Some(key.clone());
                listing.objects.push(ObjectSummary {
                    key,
                    size: u64::try_from(size).unwrap_or(0),
                    etag,
                    modified_ms,
                });
                entries += 1;
            }
        }
        Ok(listing)
    }

    // -----------------------------------------------------------------------------------------
    // Multipart uploads

    pub(crate) async fn create_upload(
        &self,
        key: &str,
        owner: &str,
        attrs: &Attributes,
    ) -> Result<String, S3Error> {
        let pool = self.index().await?;
        let upload_id = uuid::Uuid::new_v4().to_string();
        let attrs = serde_json::to_string(attrs).map_err(json_error)?;
        let _guard = self.write.lock().await;
        sqlx::query(
            "INSERT INTO uploads (upload_id, key, owner, attrs, initiated_ms) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&upload_id)
        .bind(key.as_bytes())
        .bind(owner)
        .bind(attrs)
        .bind(self.clock.now_ms())
        .execute(pool)
        .await
        .map_err(db_error)?;
        Ok(upload_id)
    }

    pub(crate) async fn upload(&self, upload_id: &str) -> Result<Option<UploadRecord>, S3Error> {
        let pool = self.index().await?;
        let row: Option<(Vec<u8>, String, String)> =
            sqlx::query_as("SELECT key, owner, attrs FROM uploads WHERE upload_id = ?")
                .bind(upload_id)
                .fetch_optional(pool)
                .await
                .map_err(db_error)?;
        let Some((key, owner, attrs)) = row else {
            return Ok(None);
        };
        Ok(Some(UploadRecord {
            key: String::from_utf8(key).map_err(|e| S3Error::internal_error(e.utf8_error()))?,
            owner,
            attrs: serde_json::from_str(&attrs).map_err(json_error)?,
        }))
    }

    /// Records `written` as part `part_number` of the upload (replacing an earlier one).
    pub(crate) async fn commit_part(
        &self,
        upload_id: &str,
        part_number: i32,
        written: Written,
        etag: &str,
    ) -> Result<(), S3Error> {
        let pool = self.index().await?;
        let replaced: Option<String> = {
            let _guard = self.write.lock().await;
            let mut tx = pool.begin().await.map_err(db_error)?;
            let open: Option<i64> = sqlx::query_scalar("SELECT 1 FROM uploads WHERE upload_id = ?")
                .bind(upload_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
            if open.is_none() {
                return Err(super::backend::no_such_upload());
            }
            let old: Option<String> = sqlx::query_scalar(
                "SELECT data_id FROM parts WHERE upload_id = ? AND part_number = ?",
            )
            .bind(upload_id)
            .bind(part_number)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?;
            sqlx::query(
                "INSERT INTO parts (upload_id, part_number, data_id, size, etag, modified_ms)
                 VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (upload_id, part_number) DO UPDATE SET
                   data_id = excluded.data_id, size = excluded.size, etag = excluded.etag,
                   modified_ms = excluded.modified_ms",
            )
            .bind(upload_id)
            .bind(part_number)
            .bind(&written.data_id)
            .bind(i64::try_from(written.size).unwrap_or(i64::MAX))
            .bind(etag)
            .bind(self.clock.now_ms())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
            old
        };
        written.commit();
        self.remove_data(replaced);
        Ok(())
    }

    pub(crate) async fn parts(&self, upload_id: &str) -> Result<Vec<PartRecord>, S3Error> {
        let pool = self.index().await?;
        let rows: Vec<(i32, String, i64, String, i64)> = sqlx::query_as(
            "SELECT part_number, data_id, size, etag, modified_ms FROM parts
             WHERE upload_id = ? ORDER BY part_number",
        )
        .bind(upload_id)
        .fetch_all(pool)
        .await
        .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(
                |(part_number, data_id, size, etag, modified_ms)| PartRecord {
                    part_number,
                    data_id,
                    size: u64::try_from(size).unwrap_or(0),
                    etag,
                    modified_ms,
                },
            )
            .collect())
    }

    /// Opens a part's data file.
    pub(crate) async fn open_part(&self, part: &PartRecord) -> Result<tokio::fs::File, S3Error> {
        match tokio::fs::File::open(self.data_path(&part.data_id)).await {
            Ok(file) => Ok(file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(s3_error!(
                InvalidPart,
                "Part {} was replaced while the upload completed.",
                part.part_number
            )),
            Err(e) => Err(io_error(e)),
        }
    }

    /// Ends the upload with `written` (the parts joined) as the current version of its key.
    pub(crate) async fn complete_upload(
        &self,
        upload_id: &str,
        record: ObjectRecord,
        written: Written,
        precondition: &Precondition,
    ) -> Result<ObjectRecord, S3Error> {
        let pool = self.index().await?;
        let mut record = record;
        record.data_id = written.data_id.clone();
        record.size = written.size;
        record.modified_ms = self.clock.now_ms();
        let (replaced, parts) = {
            let _guard = self.write.lock().await;
            let mut tx = pool.begin().await.map_err(db_error)?;
            let ended = sqlx::query("DELETE FROM uploads WHERE upload_id = ?")
                .bind(upload_id)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            if ended.rows_affected() != 1 {
                return Err(super::backend::no_such_upload());
            }
            let parts: Vec<String> =
                sqlx::query_scalar("DELETE FROM parts WHERE upload_id = ? RETURNING data_id")
                    .bind(upload_id)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_error)?;
            let current: Option<String> =
                sqlx::query_scalar("SELECT etag FROM objects WHERE key = ?")
                    .bind(record.key.as_bytes())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_error)?;
            precondition.check(current.as_deref())?;
            let old = upsert(&mut tx, &record).await.map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
            (old, parts)
        };
        written.commit();
        self.remove_data(replaced.into_iter().chain(parts));
        Ok(record)
    }

    /// Removes the upload and its parts; false if there was no such upload.
    pub(crate) async fn abort_upload(&self, upload_id: &str) -> Result<bool, S3Error> {
        let pool = self.index().await?;
        let (existed, parts) = {
            let _guard = self.write.lock().await;
            let mut tx = pool.begin().await.map_err(db_error)?;
            let ended = sqlx::query("DELETE FROM uploads WHERE upload_id = ?")
                .bind(upload_id)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            let parts: Vec<String> =
                sqlx::query_scalar("DELETE FROM parts WHERE upload_id = ? RETURNING data_id")
                    .bind(upload_id)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
            (ended.rows_affected() == 1, parts)
        };
        self.remove_data(parts);
        Ok(existed)
    }
}

/// The smallest byte string greater than every key that starts with `common`: UTF-8 never
/// contains the byte 0xFF.
fn past_prefix(common: &str) -> Vec<u8> {
    let mut bound = common.as_bytes().to_vec();
    bound.push(0xFF);
    bound
}

/// Where a listing resumes after `marker` (a key, or a common prefix handed out as the next
/// marker/continuation token): after every key that rolls up into the same common prefix.
pub(crate) fn resume_after(prefix: &str, delimiter: Option<&str>, marker: &str) -> Vec<u8> {
    if let Some(d) = delimiter.filter(|d| !d.is_empty())
        && let Some(rest) = marker.strip_prefix(prefix)
        && let Some(pos) = rest.find(d)
    {
        return past_prefix(&marker[..prefix.len() + pos + d.len()]);
    }
    marker.as_bytes().to_vec()
}

/// Inserts or replaces a key's row; returns the data id it replaced.
async fn upsert(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    record: &ObjectRecord,
) -> Result<Option<String>, sqlx::Error> {
    let old: Option<String> = sqlx::query_scalar("SELECT data_id FROM objects WHERE key = ?")
        .bind(record.key.as_bytes())
        .fetch_optional(&mut **tx)
        .await?;
    let attrs = serde_json::to_string(&record.attrs).unwrap_or_else(|_| "{}".to_owned());
    sqlx::query(
        "INSERT INTO objects (key, data_id, size, etag, modified_ms, attrs) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET data_id = excluded.data_id, size = excluded.size,
           etag = excluded.etag, modified_ms = excluded.modified_ms, attrs = excluded.attrs",
    )
    .bind(record.key.as_bytes())
    .bind(&record.data_id)
    .bind(i64::try_from(record.size).unwrap_or(i64::MAX))
    .bind(&record.etag)
    .bind(record.modified_ms)
    .bind(attrs)
    .execute(&mut **tx)
    .await?;
    Ok(old.filter(|old| *old != record.data_id))
}

/// One listed object.
#[derive(Debug, Clone)]
pub(crate) struct ObjectSummary {
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub modified_ms: i64,
}

#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub objects: Vec<ObjectSummary>,
    pub prefixes: Vec<String>,
    pub truncated: bool,
    /// The last key or common prefix returned.
    pub last: Option<String>,
    /// Where the next page starts (exclusive), when truncated.
    pub resume: Option<Vec<u8>>,
}

/// s3s-fs's metadata file: `ObjectAttributes` (user metadata and headers), or in its oldest
/// form the user metadata alone.
fn legacy_attributes(bytes: &[u8]) -> Attributes {
    #[derive(Deserialize)]
    struct Legacy {
        user_metadata: Option<Metadata>,
        content_encoding: Option<String>,
        content_type: Option<String>,
        content_disposition: Option<String>,
        content_language: Option<String>,
        cache_control: Option<String>,
        expires: Option<String>,
        website_redirect_location: Option<String>,
    }
    if let Ok(l) = serde_json::from_slice::<Legacy>(bytes) {
        return Attributes {
            metadata: l.user_metadata,
            content_encoding: l.content_encoding,
            content_type: l.content_type,
            content_disposition: l.content_disposition,
            content_language: l.content_language,
            cache_control: l.cache_control,
            expires: l.expires,
            website_redirect_location: l.website_redirect_location,
            ..Default::default()
        };
    }
    Attributes {
        metadata: serde_json::from_slice::<Metadata>(bytes).ok(),
        ..Default::default()
    }
}

async fn md5_of_file(path: &Path) -> std::io::Result<[u8; 16]> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok(md5.finalize());
        }
        md5.update(&buf[..n]);
    }
}

/// `encoding-type=url`: percent-encodes all but unreserved characters and `/` (SDKs decode
/// with `unquote_plus`, so a literal `+` must be encoded too).
pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i4_resume_skips_a_returned_common_prefix() {
        assert_eq!(resume_after("p/", Some("/"), "p/a"), b"p/a".to_vec());
        let mut skip = b"p/x/".to_vec();
        skip.push(0xFF);
        assert_eq!(resume_after("p/", Some("/"), "p/x/"), skip);
        assert_eq!(resume_after("p/", None, "p/x/"), b"p/x/".to_vec());
    }

    #[test]
    fn i4_url_encoding_survives_unquote_plus() {
        assert_eq!(url_encode("a b+c/é"), "a%20b%2Bc/%C3%A9");
    }

    #[test]
    fn i4_a_full_disk_is_507_not_500() {
        let e = io_error(std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert_eq!(e.code().as_str(), "InsufficientStorage");
        assert_eq!(
            e.status_code(),
            Some(http::StatusCode::INSUFFICIENT_STORAGE)
        );
        let e = io_error(std::io::Error::other("boom"));
        assert_eq!(e.code().as_str(), "InternalError");
    }

    fn body(bytes: Vec<u8>) -> impl Stream<Item = Result<Bytes, StdError>> + Unpin {
        let chunks: Vec<Result<Bytes, StdError>> = (bytes.chunks(64 * 1024))
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        futures_util::stream::iter(chunks)
    }

    async fn put(store: &BucketStore, key: &str, bytes: &[u8]) -> Result<ObjectRecord, S3Error> {
        let written = match store
            .write(body(bytes.to_vec()), ChecksumHasher::default())
            .await
        {
            Ok(w) => w,
            Err(WriteError::Store(e)) => return Err(e),
            Err(WriteError::Body(_)) => panic!("body error"),
        };
        let etag = hex::encode(written.md5);
        let attrs = Attributes::default();
        (store.commit_object(key, written, etag, attrs, &Precondition::default())).await
    }

    fn files(dir: &Path) -> Vec<String> {
        (std::fs::read_dir(dir).unwrap())
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect()
    }

    /// One clock: the gateway dates objects by the app's clock, not the
    /// system's.
    #[tokio::test]
    async fn objects_are_dated_by_the_apps_clock() {
        let dir = tempfile::tempdir().unwrap();
        let clock = crate::clock::ManualClock::new();
        clock.advance(10 * 86_400);
        let store = BucketStore::new(dir.path(), "photos", std::sync::Arc::new(clock.clone()));
        put(&store, "me/a", b"dated").await.unwrap();
        let (record, _) = store.open("me/a").await.unwrap().unwrap();
        assert_eq!(record.modified_ms, crate::clock::Clock::now(&clock) * 1000);
    }

    #[tokio::test]
    async fn i4_a_and_a_slash_b_coexist_and_list_in_byte_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = BucketStore::new(
            dir.path(),
            "photos",
            std::sync::Arc::new(crate::clock::SystemClock),
        );
        let long = format!("me/{}", "é".repeat(510)) + "x";
        for key in ["me/a", "me/a/b", "me/c/d", "me/c", long.as_str(), "me/Z"] {
            put(&store, key, key.as_bytes()).await.unwrap();
        }
        for key in ["me/a", "me/a/b", "me/c/d", "me/c", long.as_str()] {
            let (record, mut file) = store.open(key).await.unwrap().unwrap();
            let mut got = Vec::new();
            file.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, key.as_bytes());
            assert_eq!(record.size, key.len() as u64);
        }
        let all = store.list("me/", None, None, 1000).await.unwrap();
        let keys: Vec<_> = all.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(
            keys,
            ["me/Z", "me/a", "me/a/b", "me/c", "me/c/d", long.as_str()]
        );
        // One entry per page, with the delimiter: each common prefix once.
        let mut after = None;
        let mut seen = Vec::new();
        loop {
            let page = store.list("me/", Some("/"), after, 1).await.unwrap();
            seen.extend(page.objects.iter().map(|o| o.key.clone()));
            seen.extend(page.prefixes.iter().cloned());
            match page.resume {
                Some(resume) => after = Some(resume),
                None => break,
            }
        }
        assert_eq!(
            seen,
            ["me/Z", "me/a", "me/a/", "me/c", "me/c/", long.as_str()]
        );
        // Overwrites leave one data file per key.
        put(&store, "me/a", b"again").await.unwrap();
        assert_eq!(files(&dir.path().join(".poolgate/photos/data")).len(), 6);
        assert!(store.delete("me/a").await.unwrap());
        assert!(store.get("me/a/b").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn i4_an_unreferenced_data_file_is_swept_and_the_inbox_imported() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = BucketStore::new(
                dir.path(),
                "photos",
                std::sync::Arc::new(crate::clock::SystemClock),
            );
            put(&store, "me/kept", b"kept").await.unwrap();
        }
        let data = dir.path().join(".poolgate/photos/data");
        // What a crash between a data file's rename and its commit leaves behind.
        std::fs::write(data.join("0123abcd"), b"partial").unwrap();
        std::fs::write(dir.path().join(".poolgate/photos/tmp/x"), b"partial").unwrap();
        std::fs::create_dir_all(dir.path().join("photos/me/dropped")).unwrap();
        std::fs::write(dir.path().join("photos/me/dropped/in.txt"), b"dropped").unwrap();
        let store = BucketStore::new(
            dir.path(),
            "photos",
            std::sync::Arc::new(crate::clock::SystemClock),
        );
        assert!(store.get("me/kept").await.unwrap().is_some());
        let dropped = store.get("me/dropped/in.txt").await.unwrap().unwrap();
        assert_eq!(dropped.etag, hex::encode(Md5::checksum(b"dropped")));
        assert_eq!(files(&data).len(), 2);
        assert!(!files(&data).contains(&"0123abcd".to_owned()));
        assert!(files(&dir.path().join(".poolgate/photos/tmp")).is_empty());
        assert!(files(&dir.path().join("photos")).is_empty());
    }

    /// A real full disk: a 1 MiB tmpfs (needs root, as CI runs; skipped otherwise).
    #[tokio::test]
    async fn i4_a_full_disk_fails_the_write_and_leaves_nothing_visible() {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir.path())
            .output();
        if !mounted.as_ref().is_ok_and(|o| o.status.success()) {
            eprintln!("skipped: cannot mount a tmpfs (needs root): {mounted:?}");
            return;
        }
        struct Unmount(PathBuf);
        impl Drop for Unmount {
            fn drop(&mut self) {
                let _ = std::process::Command::new("umount")
                    .arg("-l")
                    .arg(&self.0)
                    .status();
            }
        }
        let _unmount = Unmount(dir.path().to_owned());
        let store = BucketStore::new(
            dir.path(),
            "photos",
            std::sync::Arc::new(crate::clock::SystemClock),
        );
        put(&store, "me/small", b"small").await.unwrap();
        let error = put(&store, "me/big", &vec![7u8; 2 * 1024 * 1024])
            .await
            .unwrap_err();
        assert_eq!(error.code().as_str(), "InsufficientStorage");
        assert_eq!(
            error.status_code(),
            Some(http::StatusCode::INSUFFICIENT_STORAGE)
        );
        assert!(store.get("me/big").await.unwrap().is_none());
        assert!(files(&dir.path().join(".poolgate/photos/tmp")).is_empty());
        assert_eq!(files(&dir.path().join(".poolgate/photos/data")).len(), 1);
        // The space is back: writes work again.
        put(&store, "me/after", &vec![1u8; 64 * 1024])
            .await
            .unwrap();
        assert!(store.get("me/small").await.unwrap().is_some());
    }
}

//! `wharf admin backup`: a consistent online backup of an embedded registry while a server
//! runs on it and accepts publishes.
//!
//! The database is copied with SQLite's online backup API from a read-only connection that
//! first opens a read transaction: in WAL mode that is a snapshot, so the copy is the
//! database as of that moment however many publishes commit while it runs, and the
//! server's writer never waits for it (a WAL reader takes no lock a writer needs; the WAL
//! only cannot be checkpointed past the snapshot until the copy ends). The copy runs in
//! steps of [`PAGES_PER_STEP`] pages so it reports progress. Then every blob a version of
//! the copy references is read from the registry's store (its disk or its bucket), checked
//! against its SHA-256, and written after the database, the keys and the small data files
//! into one zstd-compressed tar ending with a manifest and its signature by the registry's
//! release key (see `backup_archive`). Each tenant
//! (`tenants/<name>/`, a registry of its own) follows the same way under its directory's
//! path: its database through the online backup API, its keys, its blobs; then the tenants
//! table. The file is
//! written under a temporary name with mode 0600 (it holds the secret keys), synced, and
//! renamed into place.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use object_store::{ObjectStore, ObjectStoreExt};
use rusqlite::{Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::backup_archive::{
    ADMIN_TOKEN_FILE, BLOBS_DIR, FORMAT, MANIFEST_MEMBER, Manifest, ManifestMember,
    SIGNATURE_MEMBER, TENANTS_DIR, TENANTS_TABLE_FILE, ZSTD_LEVEL, member_header,
};
use crate::blobs::{blob_key, sha256_hex};
use crate::db::DB_FILE;
use crate::registry_keys::KEYS_DIR;
use crate::{BlobBackend, StorageError};

/// Database pages copied per backup step (4 MiB of 4 KiB pages) between progress reports.
pub const PAGES_PER_STEP: i32 = 1024;
/// How many blob reads are in flight at once (they matter for a bucket).
const BLOB_READS: usize = 16;

/// What a backup is doing, reported as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupProgress {
    /// The database copy: pages copied of the total.
    Database {
        /// Pages copied so far.
        copied: u64,
        /// Pages in the snapshot.
        total: u64,
    },
    /// Blobs written to the backup so far.
    Blobs {
        /// Blobs written.
        done: u64,
        /// Blobs the snapshot references.
        total: u64,
        /// Their bytes so far.
        bytes: u64,
    },
}

/// What a finished backup holds and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    /// The backup file.
    pub file: PathBuf,
    /// Versions in the copied database.
    pub versions: u64,
    /// Packages in the copied database.
    pub packages: u64,
    /// The copied database's last event-log position.
    pub last_event: u64,
    /// Blobs in the backup.
    pub blobs: u64,
    /// Bytes of all members before compression.
    pub bytes: u64,
    /// Size of the backup file.
    pub file_bytes: u64,
    /// How long the database's read snapshot was held (the writer never waits for it).
    pub snapshot_held: Duration,
    /// The whole run.
    pub elapsed: Duration,
}

/// Writes a backup of the registry in `data_dir` (blobs in `blobs`: its disk or its
/// bucket) to `out`, which must not exist yet. Safe while a server runs on `data_dir`.
#[tracing::instrument(skip_all, fields(data_dir = %data_dir.display(), out = %out.display()))]
pub async fn create_backup(
    data_dir: &Path,
    blobs: &BlobBackend,
    out: &Path,
    progress: Arc<dyn Fn(BackupProgress) + Send + Sync>,
) -> Result<BackupSummary, StorageError> {
    let started = Instant::now();
    let fail = |reason: String| StorageError::Backup {
        file: out.to_path_buf(),
        reason,
    };
    if out.exists() {
        return Err(fail(
            "the file already exists; name a new file (a backup never overwrites one)".to_owned(),
        ));
    }
    let db_path = database_of(data_dir)?;
    // The manifest is signed with the release key of the keys the backup holds.
    let keys = crate::RegistryKeys::load(data_dir)?;
    let store = open_blob_store(data_dir, blobs)?;
    let parent = out
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let scratch = tempfile::Builder::new()
        .prefix(".wharf-backup-")
        .tempdir_in(parent)
        .map_err(|cause| StorageError::Path {
            path: parent.to_path_buf(),
            cause,
        })?;
    let copy = scratch.path().join(DB_FILE);
    let snapshot_started = Instant::now();
    let (source, target) = (db_path.clone(), copy.clone());
    let report = Arc::clone(&progress);
    let snapshot =
        tokio::task::spawn_blocking(move || copy_database(&source, &target, report.as_ref()))
            .await??;
    let snapshot_held = snapshot_started.elapsed();
    tracing::info!(
        versions = snapshot.versions,
        pages = snapshot.pages,
        held_ms = snapshot_held.as_millis(),
        "database snapshot copied"
    );

    let partial = scratch.path().join("backup.partial");
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .map_err(|cause| StorageError::Path {
            path: partial.clone(),
            cause,
        })?;
    let encoder = zstd::Encoder::new(BufWriter::new(file), ZSTD_LEVEL).map_err(StorageError::Io)?;
    let mut archive = Archive {
        tar: tar::Builder::new(encoder),
        members: Vec::new(),
        file: out,
    };
    archive.append_file(DB_FILE, &copy)?;
    append_secrets(&mut archive, data_dir, "")?;
    if let Some(head) = &snapshot.audit_head {
        archive.append_bytes(crate::audit::AUDIT_HEAD_FILE, head.as_bytes())?;
    }
    let (mut done, _) = append_blobs(
        &mut archive,
        &store,
        &snapshot.cksums,
        "",
        progress.as_ref(),
    )
    .await?;
    done += append_tenants(&mut archive, data_dir, scratch.path(), &progress).await?;
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        created: snapshot.created,
        last_event: snapshot.last_event,
        versions: snapshot.versions,
        packages: snapshot.packages,
        members: archive.members.clone(),
    };
    let bytes = manifest.members.iter().map(|member| member.size).sum();
    let json = serde_json::to_vec_pretty(&manifest).map_err(|error| fail(error.to_string()))?;
    archive.append_bytes(MANIFEST_MEMBER, &json)?;
    let signature = wharf_trust::bundle::sign_backup_manifest(keys.release_key(), &json);
    archive.append_bytes(SIGNATURE_MEMBER, signature.to_base64().as_bytes())?;
    let file_bytes = finish(archive, &partial, parent)?;
    Ok(BackupSummary {
        file: out.to_path_buf(),
        versions: manifest.versions,
        packages: manifest.packages,
        last_event: manifest.last_event,
        blobs: done,
        bytes,
        file_bytes,
        snapshot_held,
        elapsed: started.elapsed(),
    })
}

/// The database of the registry in `data_dir`, which must exist.
fn database_of(data_dir: &Path) -> Result<PathBuf, StorageError> {
    let db_path = data_dir.join(DB_FILE);
    if db_path.is_file() {
        return Ok(db_path);
    }
    Err(StorageError::Path {
        path: db_path,
        cause: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no registry database here; point `--data` at the registry's data directory",
        ),
    })
}

/// The tenants of the registry in `data_dir` (`tenants/<name>/` directories holding a
/// database; the empty `.void` registry and other dot-directories are not tenants), by name.
fn tenant_names(data_dir: &Path) -> Result<Vec<String>, StorageError> {
    let dir = data_dir.join(TENANTS_DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(cause) => return Err(StorageError::Path { path: dir, cause }),
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| !name.starts_with('.') && dir.join(name).join(DB_FILE).is_file())
        .collect();
    names.sort();
    Ok(names)
}

/// Appends every tenant (`tenants/<name>/`: its database copied with the online backup
/// API, its keys and admin token, its audit head and the blobs its versions reference, from
/// its own disk), then the tenants table; returns how many blobs were written.
async fn append_tenants(
    archive: &mut Archive<'_>,
    data_dir: &Path,
    scratch: &Path,
    progress: &Arc<dyn Fn(BackupProgress) + Send + Sync>,
) -> Result<u64, StorageError> {
    let mut blobs = 0;
    for name in tenant_names(data_dir)? {
        let tenant = data_dir.join(TENANTS_DIR).join(&name);
        let prefix = format!("{TENANTS_DIR}/{name}/");
        let (source, copy) = (
            tenant.join(DB_FILE),
            scratch.join(format!("tenant-{name}.db")),
        );
        let target = copy.clone();
        let report = Arc::clone(progress);
        let snapshot =
            tokio::task::spawn_blocking(move || copy_database(&source, &target, report.as_ref()))
                .await??;
        archive.append_file(&format!("{prefix}{DB_FILE}"), &copy)?;
        append_secrets(archive, &tenant, &prefix)?;
        if let Some(head) = &snapshot.audit_head {
            archive.append_bytes(
                &format!("{prefix}{}", crate::audit::AUDIT_HEAD_FILE),
                head.as_bytes(),
            )?;
        }
        let store = open_blob_store(&tenant, &BlobBackend::Local)?;
        let (done, _) = append_blobs(
            archive,
            &store,
            &snapshot.cksums,
            &prefix,
            progress.as_ref(),
        )
        .await?;
        blobs += done;
        tracing::info!(tenant = %name, versions = snapshot.versions, blobs = done, "tenant backed up");
    }
    let table = data_dir.join(TENANTS_TABLE_FILE);
    if table.is_file() {
        archive.append_file(TENANTS_TABLE_FILE, &table)?;
    }
    Ok(blobs)
}

/// Reads every blob of `cksums` (several at a time), checks it and appends it in order
/// under `prefix` (empty for the default registry); returns how many blobs and bytes were
/// written.
async fn append_blobs(
    archive: &mut Archive<'_>,
    store: &Arc<dyn ObjectStore>,
    cksums: &BTreeSet<String>,
    prefix: &str,
    progress: &(dyn Fn(BackupProgress) + Send + Sync),
) -> Result<(u64, u64), StorageError> {
    let total = u64::try_from(cksums.len()).unwrap_or(u64::MAX);
    let mut fetched = stream::iter(cksums.iter().cloned())
        .map(|cksum| fetch_blob(Arc::clone(store), cksum))
        .buffered(BLOB_READS);
    let (mut done, mut bytes_done) = (0u64, 0u64);
    let mut reported = Instant::now();
    while let Some((cksum, bytes)) = fetched.try_next().await? {
        let key = blob_key(&cksum).expect("fetched blobs have valid checksums");
        archive.append_bytes(&format!("{prefix}{BLOBS_DIR}/{key}"), &bytes)?;
        done += 1;
        bytes_done += bytes.len() as u64;
        if reported.elapsed() >= Duration::from_secs(1) || done == total {
            progress(BackupProgress::Blobs {
                done,
                total,
                bytes: bytes_done,
            });
            reported = Instant::now();
        }
    }
    Ok((done, bytes_done))
}

/// Ends the archive, syncs it and moves it from `partial` to its name; returns its size.
fn finish(archive: Archive<'_>, partial: &Path, parent: &Path) -> Result<u64, StorageError> {
    let out = archive.file;
    let fail = |reason: String| StorageError::Backup {
        file: out.to_path_buf(),
        reason,
    };
    let file = archive
        .tar
        .into_inner()
        .and_then(zstd::Encoder::finish)
        .and_then(|writer| {
            writer
                .into_inner()
                .map_err(std::io::IntoInnerError::into_error)
        })
        .map_err(|error| fail(format!("cannot finish the file: {error}")))?;
    file.sync_all()
        .map_err(|error| fail(format!("cannot sync the file: {error}")))?;
    let file_bytes = file.metadata().map(|meta| meta.len()).unwrap_or_default();
    drop(file);
    std::fs::rename(partial, out)
        .map_err(|error| fail(format!("cannot move the finished file into place: {error}")))?;
    if let Ok(dir) = File::open(parent) {
        let _ = dir.sync_all();
    }
    Ok(file_bytes)
}

/// The blob store of the registry in `data_dir`, read-only use.
fn open_blob_store(
    data_dir: &Path,
    blobs: &BlobBackend,
) -> Result<Arc<dyn ObjectStore>, StorageError> {
    let s3 = blobs.connect_read_only()?;
    Ok(blobs.open_existing(data_dir, s3)?.blobs)
}

/// Reads one blob and checks its bytes hash to its checksum.
async fn fetch_blob(
    store: Arc<dyn ObjectStore>,
    cksum: String,
) -> Result<(String, bytes::Bytes), StorageError> {
    let key = blob_key(&cksum).ok_or_else(|| StorageError::Corrupt {
        what: format!("a version's checksum `{cksum}` is not a SHA-256"),
    })?;
    let bytes = match store.get(&key).await {
        Ok(found) => found.bytes().await?,
        Err(object_store::Error::NotFound { .. }) => {
            return Err(StorageError::Corrupt {
                what: format!(
                    "blob `{key}` is referenced by a version but missing from the store; run `wharf admin reconcile` to list what is wrong, then back up again"
                ),
            });
        }
        Err(other) => return Err(other.into()),
    };
    let actual = sha256_hex(&bytes);
    if actual != cksum {
        return Err(StorageError::Corrupt {
            what: format!(
                "blob `{key}` has sha256 `{actual}` in the store; run `wharf admin reconcile` to list what is wrong, then back up again"
            ),
        });
    }
    Ok((cksum, bytes))
}

/// What the copied database holds.
struct Snapshot {
    created: String,
    pages: u64,
    versions: u64,
    packages: u64,
    last_event: u64,
    /// Distinct blob checksums of every version, sorted.
    cksums: BTreeSet<String>,
    /// `<seq> <hash>` of the newest audit record.
    audit_head: Option<String>,
}

/// Copies the database at `source` to `target` inside one read snapshot, then reads what
/// the copy holds.
fn copy_database(
    source: &Path,
    target: &Path,
    progress: &(dyn Fn(BackupProgress) + Send + Sync),
) -> Result<Snapshot, StorageError> {
    let from = crate::db::open_read_only(source)?;
    // A read transaction that has read something holds a WAL snapshot until it ends; the
    // backup steps run inside it and so never restart when the server commits.
    from.execute_batch("BEGIN DEFERRED")?;
    from.query_row("SELECT count(*) FROM sqlite_master", [], |row| {
        row.get::<_, i64>(0)
    })?;
    let created = wharf_trust::UtcTime::from_unix(crate::storage::now_unix())
        .map(|time| time.to_string())
        .unwrap_or_default();
    let mut to = Connection::open(target)?;
    let pages = {
        let backup = rusqlite::backup::Backup::new(&from, &mut to)?;
        loop {
            let step = backup.step(PAGES_PER_STEP)?;
            let done = backup.progress();
            let total = u64::try_from(done.pagecount).unwrap_or_default();
            progress(BackupProgress::Database {
                copied: total.saturating_sub(u64::try_from(done.remaining).unwrap_or_default()),
                total,
            });
            match step {
                rusqlite::backup::StepResult::Done => break total,
                rusqlite::backup::StepResult::More => {}
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    };
    from.execute_batch("COMMIT")?;
    drop(from);
    let check: String = to.query_row("PRAGMA quick_check", [], |row| row.get(0))?;
    if check != "ok" {
        return Err(StorageError::Corrupt {
            what: format!("the database copy fails SQLite's quick_check: {check}"),
        });
    }
    let count = |sql: &str| -> Result<u64, StorageError> {
        let value: Option<i64> = to.query_row(sql, [], |row| row.get(0))?;
        Ok(value
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or_default())
    };
    let versions = count("SELECT count(*) FROM versions")?;
    let packages = count("SELECT count(*) FROM packages")?;
    let last_event = count("SELECT max(seq) FROM events")?;
    let cksums = to
        .prepare("SELECT DISTINCT cksum FROM versions")?
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<Result<BTreeSet<_>, _>>()?;
    let audit_head = to
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |row| {
                Ok(format!(
                    "{} {}\n",
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?
                ))
            },
        )
        .optional()
        .or_else(|error| match error {
            // A registry made before the audit log has no table.
            rusqlite::Error::SqliteFailure(_, Some(message))
                if message.contains("no such table") =>
            {
                Ok(None)
            }
            other => Err(other),
        })?;
    // Leave one self-contained file: no WAL beside it.
    to.execute_batch("PRAGMA journal_mode = DELETE")?;
    drop(to);
    Ok(Snapshot {
        created,
        pages,
        versions,
        packages,
        last_event,
        cksums,
        audit_head,
    })
}

/// The registry's keys and admin token, in name order, under `prefix`.
fn append_secrets(
    archive: &mut Archive<'_>,
    data_dir: &Path,
    prefix: &str,
) -> Result<(), StorageError> {
    let keys = data_dir.join(KEYS_DIR);
    let mut names: Vec<_> = std::fs::read_dir(&keys)
        .map_err(|cause| StorageError::Path {
            path: keys.clone(),
            cause,
        })?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| {
            !Path::new(name)
                .extension()
                .is_some_and(|ext| ext.eq_ignore_ascii_case("tmp"))
        })
        .collect();
    names.sort();
    for name in names {
        archive.append_file(&format!("{prefix}{KEYS_DIR}/{name}"), &keys.join(&name))?;
    }
    let token = data_dir.join(ADMIN_TOKEN_FILE);
    if token.is_file() {
        archive.append_file(&format!("{prefix}{ADMIN_TOKEN_FILE}"), &token)?;
    }
    Ok(())
}

/// The archive being written, and the manifest entries of what it holds so far.
struct Archive<'a> {
    tar: tar::Builder<zstd::Encoder<'static, BufWriter<File>>>,
    members: Vec<ManifestMember>,
    file: &'a Path,
}

impl Archive<'_> {
    fn append_bytes(&mut self, path: &str, bytes: &[u8]) -> Result<(), StorageError> {
        let mut header = member_header(bytes.len() as u64);
        self.tar
            .append_data(&mut header, path, bytes)
            .map_err(|error| self.write_error(path, &error))?;
        self.members.push(ManifestMember {
            path: path.to_owned(),
            size: bytes.len() as u64,
            sha256: sha256_hex(bytes),
        });
        Ok(())
    }

    /// Appends a file, hashing it as it streams (the database may be large).
    fn append_file(&mut self, path: &str, source: &Path) -> Result<(), StorageError> {
        let file = File::open(source).map_err(|cause| StorageError::Path {
            path: source.to_path_buf(),
            cause,
        })?;
        let size = file.metadata().map_err(StorageError::Io)?.len();
        let mut reader = HashingReader {
            inner: file.take(size),
            hasher: Sha256::new(),
        };
        let mut header = member_header(size);
        self.tar
            .append_data(&mut header, path, &mut reader)
            .map_err(|error| self.write_error(path, &error))?;
        self.members.push(ManifestMember {
            path: path.to_owned(),
            size,
            sha256: hex::encode(reader.hasher.finalize()),
        });
        Ok(())
    }

    fn write_error(&self, path: &str, error: &std::io::Error) -> StorageError {
        if crate::error::io_error_is_full(error) {
            return StorageError::StorageFull {
                cause: format!("writing `{path}` into `{}`: {error}", self.file.display()),
            };
        }
        StorageError::Backup {
            file: self.file.to_path_buf(),
            reason: format!("cannot write member `{path}`: {error}"),
        }
    }
}

/// A reader that hashes what passes through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.hasher.update(&buf[..read]);
        Ok(read)
    }
}

//! Orphan blob collection: deleting blobs that no version references.
//!
//! A publish writes its blob before the transaction that references it commits, so a blob
//! can be left without a version: by a publish refused inside its transaction (a duplicate
//! version or a name clash that raced another publish, a daily limit passed by publishes
//! committed together — the checks before the blob write catch everything else), by a commit
//! that failed (a full disk), or by a crash between the blob write and the commit.
//! [`Storage::collect_garbage`] deletes such blobs once they are older than a grace period.
//!
//! # Running next to a server
//!
//! Collection is safe while a server (or any other process) publishes to the same data:
//!
//! - **A publish in flight** has written its blob and not committed yet. The blob is younger
//!   than the grace period (default [`DEFAULT_GRACE`]) and is kept. A put always writes the
//!   object anew, so this holds for a publish that re-uses an existing blob too.
//! - **A publish that re-uses a blob being collected** (the same bytes, e.g. the retry of a
//!   refused publish) must never commit a version whose blob is then gone. Two measures,
//!   each closing what the other cannot:
//!   1. Blobs are deleted only inside a write transaction of the database (the writer
//!      thread's `BEGIN IMMEDIATE`, which holds SQLite's write lock: the server's writer and
//!      every other process wait for it). Inside it, collection reads the versions committed
//!      since its first look, and asks the store again for the blob's age; a blob that is
//!      referenced or young by then is kept. So a publish commits either before that check
//!      (and its blob is kept) or after the deletion.
//!   2. The second case remains because a put happens outside the database: a put landing
//!      between that last look and the delete is deleted with it. So a publish, after its
//!      commit and before it answers, checks that its blob exists and puts it again if not
//!      ([`keep_committed_blob`]).
//!
//!   Checking the blob inside the publish's own transaction would close both at once, but
//!   it would put an object-store request (a network round trip on S3) inside the group
//!   commit, holding every queued publish behind it. What remains is a publisher that
//!   crashes between its commit and that check while collection deleted its blob in the
//!   microseconds between its look and its delete: the version was never acknowledged, and
//!   [`Storage::verify`] reports its missing blob.
//!
//! # A tenant's shared blobs
//!
//! A tenant's blobs are links to one copy of each in the directory its server's tenants
//! share (`shared_blobs.rs`). Collection deletes the tenant's own links as above; then it
//! turns the tenant's blob files written before blobs were shared into links to the shared
//! copies (`shared_existing.rs`), and removes the shared copies no tenant links any more,
//! under a lock that keeps a publish of the same bytes from linking a copy being removed.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use serde::Serialize;

use crate::blobs::{BLOB_PREFIX, blob_key};
use crate::config::ObjectStores;
use crate::sql::{Sql, args};
use crate::{Storage, StorageError};

/// How old an unreferenced blob must be before it is collected, by default: far longer than
/// any publish takes from its blob write to its commit.
pub const DEFAULT_GRACE: Duration = Duration::from_hours(1);

/// Candidates deleted per write transaction, so the database's write lock is held briefly
/// (a server waiting for it gives up after its busy timeout).
const BATCH: usize = 16;

/// How [`Storage::collect_garbage`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcOptions {
    /// Unreferenced blobs written more recently than this are kept: they may belong to a
    /// publish that has not committed yet.
    pub grace: Duration,
    /// Only report what would be deleted.
    pub dry_run: bool,
}

impl Default for GcOptions {
    fn default() -> Self {
        Self {
            grace: DEFAULT_GRACE,
            dry_run: false,
        }
    }
}

/// A blob that no version references.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrphanBlob {
    /// Its SHA-256, as a version's `cksum` would name it.
    pub cksum: String,
    /// Its object key (`sha256/ab/cd/<hex>`).
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written, in milliseconds since the Unix epoch.
    pub written_at_ms: i64,
}

/// What [`Storage::collect_garbage`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// Blobs listed.
    pub blobs: usize,
    /// Blobs kept because a version references them.
    pub referenced: usize,
    /// Unreferenced blobs kept because they are younger than the grace period.
    pub young: usize,
    /// Objects under the blob prefix whose key is not a blob key; never deleted.
    pub unrecognised: usize,
    /// The blobs deleted (with `dry_run`, the blobs that would be).
    pub collected: Vec<OrphanBlob>,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Whether this was a dry run (nothing deleted).
    pub dry_run: bool,
    /// A tenant's blob files that were separate files (written before its blobs were shared)
    /// and are now links to the one copy the server's tenants share (with `dry_run`, that
    /// would be); always 0 for a registry whose blobs are not shared.
    pub shared: usize,
    /// What sharing them freed: the sizes of those files whose bytes the shared directory
    /// held already.
    pub shared_bytes: u64,
}

/// The checksums referenced by versions with a row id above `after`, and the highest row id
/// seen (versions are never deleted, so row ids only grow).
fn references_after(conn: &dyn Sql, after: i64) -> Result<(HashSet<String>, i64), StorageError> {
    let mut cksums = HashSet::new();
    let mut last = after;
    for row in conn.rows("SELECT id, cksum FROM versions WHERE id > ?1", args![after])? {
        last = last.max(row.i64(0)?);
        cksums.insert(row.string(1)?);
    }
    Ok((cksums, last))
}

fn millis_since_epoch(time: SystemTime) -> i64 {
    let millis = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    i64::try_from(millis).unwrap_or(i64::MAX)
}

/// The checksum a listed object's key names, when it is a well-formed blob key.
fn listed_cksum(key: &Path) -> Option<String> {
    let cksum = key.filename()?;
    (blob_key(cksum).as_ref() == Some(key)).then(|| cksum.to_owned())
}

/// What one batch's transaction did.
#[derive(Debug, Default)]
struct Batch {
    deleted: Vec<OrphanBlob>,
    referenced: usize,
    young: usize,
    last_version_id: i64,
}

/// Deletes the candidates that are still unreferenced and old, inside the writer's
/// transaction (see the module documentation). Object-store calls run on `runtime`: the
/// writer thread is no runtime thread.
fn delete_batch(
    conn: &dyn Sql,
    runtime: &tokio::runtime::Handle,
    store: &dyn ObjectStore,
    candidates: Vec<OrphanBlob>,
    last_version_id: i64,
    cutoff_ms: i64,
) -> Result<Batch, StorageError> {
    let (referenced, last_version_id) = references_after(conn, last_version_id)?;
    let mut batch = Batch {
        last_version_id,
        ..Batch::default()
    };
    for blob in candidates {
        if referenced.contains(&blob.cksum) {
            batch.referenced += 1;
            continue;
        }
        let key = Path::from(blob.key.as_str());
        match runtime.block_on(store.head(&key)) {
            Ok(meta) if meta.last_modified.timestamp_millis() > cutoff_ms => {
                batch.young += 1;
                continue;
            }
            Ok(_) => {}
            // Gone already (another collection): nothing to free.
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(error) => return Err(error.into()),
        }
        match runtime.block_on(store.delete(&key)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(error) => return Err(error.into()),
        }
        tracing::info!(blob = %blob.key, bytes = blob.size, "unreferenced blob deleted");
        batch.deleted.push(blob);
    }
    Ok(batch)
}

impl Storage {
    /// Deletes blobs that no version references and that are older than `options.grace`
    /// (with `options.dry_run`, only reports them). Safe while a server publishes to the same
    /// data: see the module documentation of `gc.rs` for how a publish in flight and a
    /// publish re-using a blob are protected.
    #[tracing::instrument(skip_all, fields(grace = ?options.grace, dry_run = options.dry_run))]
    pub async fn collect_garbage(&self, options: GcOptions) -> Result<GcReport, StorageError> {
        let grace_ms = i64::try_from(options.grace.as_millis()).unwrap_or(i64::MAX);
        let cutoff_ms = millis_since_epoch(SystemTime::now()).saturating_sub(grace_ms);
        let (referenced, mut last_version_id) =
            self.read_sql(|conn| references_after(conn, 0)).await?;
        let store = Arc::clone(&self.inner.stores.blobs);
        let listed: Vec<ObjectMeta> = store
            .list(Some(&Path::from(BLOB_PREFIX)))
            .try_collect()
            .await?;
        let mut report = GcReport {
            blobs: listed.len(),
            dry_run: options.dry_run,
            ..GcReport::default()
        };
        let mut candidates = Vec::new();
        for meta in listed {
            let Some(cksum) = listed_cksum(&meta.location) else {
                tracing::warn!(key = %meta.location, "not a blob key; left alone");
                report.unrecognised += 1;
                continue;
            };
            let written_at_ms = meta.last_modified.timestamp_millis();
            if referenced.contains(&cksum) {
                report.referenced += 1;
            } else if written_at_ms > cutoff_ms {
                report.young += 1;
            } else {
                candidates.push(OrphanBlob {
                    cksum,
                    key: meta.location.to_string(),
                    size: meta.size,
                    written_at_ms,
                });
            }
        }
        if options.dry_run {
            report.collected = candidates;
        } else {
            let runtime = tokio::runtime::Handle::current();
            while !candidates.is_empty() {
                let rest = candidates.split_off(candidates.len().min(BATCH));
                let chunk = std::mem::replace(&mut candidates, rest);
                let (runtime, store) = (runtime.clone(), Arc::clone(&store));
                let batch = self
                    .inner
                    .writer
                    .run_sql(move |conn| {
                        delete_batch(
                            conn,
                            &runtime,
                            store.as_ref(),
                            chunk,
                            last_version_id,
                            cutoff_ms,
                        )
                    })
                    .await?;
                last_version_id = batch.last_version_id;
                report.referenced += batch.referenced;
                report.young += batch.young;
                report.collected.extend(batch.deleted);
            }
        }
        report.bytes = report.collected.iter().map(|blob| blob.size).sum();
        if let Some(shared) = &self.inner.stores.shared {
            // Files written before the tenant's blobs were shared become links to the copy.
            let made = shared.share_existing(options.dry_run).await?;
            report.shared = made.blobs;
            report.shared_bytes = made.bytes;
        }
        if let (Some(shared), false) = (&self.inner.stores.shared, options.dry_run) {
            // The links just deleted may have been the last of their bytes: the shared copy
            // goes too once no registry links it (another registry's links keep it).
            let cutoff = SystemTime::now()
                .checked_sub(options.grace)
                .unwrap_or(UNIX_EPOCH);
            let swept = shared.sweep(cutoff).await?;
            tracing::info!(
                blobs = swept.blobs,
                bytes = swept.bytes,
                "shared blobs no registry lists removed"
            );
        }
        Ok(report)
    }
}

/// Makes sure the blob of a version that has just committed exists, putting `bytes` again
/// if a collection deleted it between the publish's put and its commit (see the module
/// documentation). Runs before the publish answers.
pub(crate) async fn keep_committed_blob(
    stores: &ObjectStores,
    cksum: &str,
    bytes: Bytes,
) -> Result<(), StorageError> {
    let store = stores.blobs.as_ref();
    let Some(key) = blob_key(cksum) else {
        return Err(StorageError::ChecksumMismatch);
    };
    match store.head(&key).await {
        Ok(_) => Ok(()),
        Err(object_store::Error::NotFound { .. }) => {
            tracing::warn!(blob = %key, "a collection deleted this publish's blob before its commit; writing it again");
            stores.put_blob(cksum, bytes).await
        }
        Err(error) => {
            // The put succeeded a moment ago; a failing look is no reason to fail the publish.
            tracing::warn!(%error, blob = %key, "could not confirm the blob of a committed publish");
            Ok(())
        }
    }
}

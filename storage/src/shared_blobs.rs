//! Blobs shared by several registries on one disk (a server's tenants): one copy of identical
//! bytes, while each registry still reads only its own blobs.
//!
//! Each registry keeps its blobs under `<data_dir>/blobs/sha256/ab/cd/<hex>` as before, and
//! reads, lists and deletes only those. A put writes the bytes to a temporary file in the
//! shared directory, links it to the shared directory's `sha256/ab/cd/<hex>` (unless a copy
//! is there already), then links that copy into the registry's own directory. So identical
//! bytes have one inode however many registries list them, a registry finds only the blobs
//! its own directory links (another registry's are as absent as bytes nobody published), and
//! deleting a registry's blob (garbage collection) removes its link only: the bytes stay
//! while any other registry links them. A shared copy no registry links any more (its link
//! count is 1, the shared name alone) is removed by [`SharedBlobs::sweep`].
//!
//! # A sweep racing a put of the same bytes
//!
//! A sweep looks at a copy's link count and then removes it; a put of the same bytes that
//! linked the copy between the two would keep its bytes (its own link) but lose the sharing:
//! the next registry to put them would make a second copy. So both take the lock file
//! `<shared>/.lock` (`flock`, so it holds between processes: the server's publishes and
//! `wharf admin gc`): a put holds it shared while it links (puts do not wait for each
//! other), and a sweep holds it exclusively while it looks at a candidate's link count again
//! and removes it. A put therefore links either before that second look (and the copy is
//! kept) or after the removal (and finds no copy, so its own bytes become the copy).
//! Registries' files written before the bytes were shared are turned into links by
//! [`SharedBlobs::share_existing`] (`shared_existing.rs`), under the same lock.
//!
//! The work a put does is the same whether the bytes were shared already or not (the bytes
//! are always written and synced), and linking sets the copy's modification time to now, as
//! a put of new bytes would: collection's grace period counts from the latest put.
//!
//! Links need the registry's directory and the shared directory on one file system; a link
//! across two is refused with [`StorageError::BlobsOnTwoFileSystems`], naming both paths.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;

use crate::StorageError;
use crate::blobs::{BLOB_PREFIX, blob_key};

/// The directory of the copies a server's tenants share, inside its tenants directory
/// (`DATA/tenants/.blobs`; the leading dot keeps it out of the tenant names allowed).
pub(crate) const SHARED_BLOBS_DIR: &str = ".blobs";

/// The shared directory's temporary files (written, then linked under their checksum).
pub(crate) const TEMPORARY_DIR: &str = ".tmp";

/// The lock file puts hold shared and a sweep holds exclusively (see the module
/// documentation).
const LOCK_FILE: &str = ".lock";

/// A registry's blob directory whose files are links into a shared directory.
#[derive(Debug, Clone)]
pub(crate) struct SharedBlobs {
    /// The directory holding one copy of each blob (`sha256/ab/cd/<hex>`).
    pub(crate) shared: PathBuf,
    /// The registry's own blob directory (`<data_dir>/blobs`).
    pub(crate) own: PathBuf,
}

/// What [`SharedBlobs::sweep`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Swept {
    /// Shared copies removed.
    pub(crate) blobs: usize,
    /// Their bytes.
    pub(crate) bytes: u64,
}

/// How a lock on the shared directory is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hold {
    /// By a put or an adoption: links may be made, no copy is removed.
    Shared,
    /// By a sweep: no link is made while it checks a copy and removes it.
    Exclusive,
}

pub(crate) fn path_error(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |cause| StorageError::Path {
        path: path.to_path_buf(),
        cause,
    }
}

/// The error of linking `from` to `to` (one in a registry's directory, the other in the
/// `shared` directory): two file systems, a full one, or the link's own failure.
pub(crate) fn link_error(
    shared: &Path,
    from: &Path,
    to: &Path,
    cause: std::io::Error,
) -> StorageError {
    if cause.kind() == std::io::ErrorKind::CrossesDevices {
        StorageError::BlobsOnTwoFileSystems {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
            shared: shared.to_path_buf(),
        }
    } else if crate::error::io_error_is_full(&cause) {
        StorageError::StorageFull {
            cause: format!(
                "linking `{}` to `{}`: {cause}",
                to.display(),
                from.display()
            ),
        }
    } else {
        path_error(to)(cause)
    }
}

/// Creates the parent directory of `path`.
pub(crate) fn create_parent(path: &Path) -> Result<(), StorageError> {
    match path.parent() {
        Some(parent) => std::fs::create_dir_all(parent).map_err(path_error(parent)),
        None => Ok(()),
    }
}

impl SharedBlobs {
    /// The registry whose blobs are in `own`, sharing copies in `shared` (both made by the
    /// first put).
    pub(crate) fn new(shared: PathBuf, own: PathBuf) -> Self {
        Self { shared, own }
    }

    /// Takes the shared directory's lock (made with the directory if need be); released when
    /// the file is dropped.
    pub(crate) fn lock(&self, hold: Hold) -> Result<File, StorageError> {
        lock(&self.shared, hold)
    }

    /// Stores `bytes` under `cksum` in the registry's own directory, as a link to the
    /// shared copy (made when there is none). Durable when it returns.
    pub(crate) async fn put(&self, cksum: &str, bytes: Bytes) -> Result<(), StorageError> {
        let key = blob_key(cksum).ok_or(StorageError::ChecksumMismatch)?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.put_blocking(key.as_ref(), &bytes)).await?
    }

    /// [`Self::put`] of the blob whose key is `key` (`sha256/ab/cd/<hex>`), on the calling
    /// thread.
    pub(crate) fn put_blocking(&self, key: &str, bytes: &[u8]) -> Result<(), StorageError> {
        let shared = self.shared.join(key);
        let own = self.own.join(key);
        create_parent(&shared)?;
        create_parent(&own)?;
        let temporary_dir = self.shared.join(TEMPORARY_DIR);
        std::fs::create_dir_all(&temporary_dir).map_err(path_error(&temporary_dir))?;
        let mut written =
            tempfile::NamedTempFile::new_in(&temporary_dir).map_err(path_error(&temporary_dir))?;
        written
            .write_all(bytes)
            .and_then(|()| written.as_file().sync_all())
            .map_err(path_error(written.path()))?;
        {
            let _linking = self.lock(Hold::Shared)?;
            match std::fs::hard_link(written.path(), &shared) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(error) => return Err(link_error(&self.shared, written.path(), &shared, error)),
            }
            match std::fs::hard_link(&shared, &own) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(error) => return Err(link_error(&self.shared, &shared, &own, error)),
            }
            // Still under the lock: a sweep sees the copy linked and young.
            File::options()
                .write(true)
                .open(&own)
                .and_then(|file| file.set_modified(SystemTime::now()))
                .map_err(path_error(&own))?;
        }
        for path in [&own, &shared] {
            if let Some(parent) = path.parent() {
                File::open(parent)
                    .and_then(|dir| dir.sync_all())
                    .map_err(path_error(parent))?;
            }
        }
        Ok(())
    }

    /// Removes the shared copies no registry links any more (link count 1) whose last put is
    /// older than `cutoff`, and temporary files older than that left by an interrupted put.
    pub(crate) async fn sweep(&self, cutoff: SystemTime) -> Result<Swept, StorageError> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || sweep_blocking(&shared, cutoff, &|_| {})).await?
    }
}

/// Takes the lock of the shared directory `shared` (see the module documentation).
fn lock(shared: &Path, hold: Hold) -> Result<File, StorageError> {
    let path = shared.join(LOCK_FILE);
    let open = || {
        File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
    };
    // The directory exists but for the first put: made only when the open says it is missing.
    let file = match open() {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(shared).map_err(path_error(shared))?;
            open()
        }
        opened => opened,
    }
    .map_err(path_error(&path))?;
    match hold {
        Hold::Shared => file.lock_shared(),
        Hold::Exclusive => file.lock(),
    }
    .map_err(path_error(&path))?;
    Ok(file)
}

/// [`SharedBlobs::sweep`]. `between` is called with each copy found unlinked and old, after
/// that first look and before the lock is taken to look again and remove it: a no-op but in
/// the tests, which make a put land exactly there.
pub(crate) fn sweep_blocking(
    shared: &Path,
    cutoff: SystemTime,
    between: &dyn Fn(&Path),
) -> Result<Swept, StorageError> {
    let mut swept = Swept::default();
    // Nothing links a temporary file once its put is over; one older than the grace period
    // is left by a put that was interrupted (even after it linked). Removed under the lock:
    // the link an adoption makes there (to a copy that may be old) lives only while it holds
    // the lock shared.
    for_each_file(&shared.join(TEMPORARY_DIR), &mut |path, meta| {
        if !old(&meta, cutoff) {
            return Ok(());
        }
        let _removing = lock(shared, Hold::Exclusive)?;
        if remove(&path)? {
            tracing::info!(file = %path.display(), bytes = meta.len(), "temporary file of an interrupted put removed");
        }
        Ok(())
    })?;
    for_each_file(&shared.join(BLOB_PREFIX), &mut |path, meta| {
        if !unlinked_and_old(&meta, cutoff) {
            return Ok(());
        }
        between(&path);
        let _removing = lock(shared, Hold::Exclusive)?;
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(path_error(&path)(error)),
        };
        if unlinked_and_old(&meta, cutoff) && remove(&path)? {
            tracing::info!(blob = %path.display(), bytes = meta.len(), "shared blob no registry lists removed");
            swept.blobs += 1;
            swept.bytes += meta.len();
        }
        Ok(())
    })?;
    Ok(swept)
}

/// Calls `visit` with every file under `root` (none when `root` does not exist) and its
/// metadata (of the entry itself, not of what a symbolic link names).
pub(crate) fn for_each_file(
    root: &Path,
    visit: &mut dyn FnMut(PathBuf, std::fs::Metadata) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(path_error(&dir)(error)),
        };
        for entry in entries {
            let path = entry.map_err(path_error(&dir))?.path();
            let meta = std::fs::symlink_metadata(&path).map_err(path_error(&path))?;
            if meta.is_dir() {
                pending.push(path);
            } else {
                visit(path, meta)?;
            }
        }
    }
    Ok(())
}

/// Whether `meta` was last modified before `cutoff`.
fn old(meta: &std::fs::Metadata, cutoff: SystemTime) -> bool {
    meta.modified().is_ok_and(|modified| modified < cutoff)
}

/// Whether a shared copy is linked by no registry (the shared name is its only link) and
/// its last put was before `cutoff`.
fn unlinked_and_old(meta: &std::fs::Metadata, cutoff: SystemTime) -> bool {
    meta.nlink() == 1 && old(meta, cutoff)
}

/// Removes `path`; whether it was there.
fn remove(path: &Path) -> Result<bool, StorageError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(path_error(path)(error)),
    }
}

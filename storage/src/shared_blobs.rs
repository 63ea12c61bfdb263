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
//! The work a put does is the same whether the bytes were shared already or not (the bytes
//! are always written and synced), and linking sets the copy's modification time to now, as
//! a put of new bytes would: collection's grace period counts from the latest put.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;

use crate::StorageError;
use crate::blobs::{BLOB_PREFIX, blob_key};

/// The shared directory's temporary files (written, then linked under their checksum).
const TEMPORARY_DIR: &str = ".tmp";

/// How often a put tries again when a sweep removed the shared copy between its two links.
const LINK_ATTEMPTS: usize = 4;

/// A registry's blob directory whose files are links into a shared directory.
#[derive(Debug, Clone)]
pub(crate) struct SharedBlobs {
    /// The directory holding one copy of each blob (`sha256/ab/cd/<hex>`).
    shared: PathBuf,
    /// The registry's own blob directory (`<data_dir>/blobs`).
    own: PathBuf,
}

/// What [`SharedBlobs::sweep`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Swept {
    /// Shared copies removed.
    pub(crate) blobs: usize,
    /// Their bytes.
    pub(crate) bytes: u64,
}

fn path_error(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |cause| StorageError::Path {
        path: path.to_path_buf(),
        cause,
    }
}

impl SharedBlobs {
    /// The registry whose blobs are in `own`, sharing copies in `shared` (both made by the
    /// first put).
    pub(crate) fn new(shared: PathBuf, own: PathBuf) -> Self {
        Self { shared, own }
    }

    /// Stores `bytes` under `cksum` in the registry's own directory, as a link to the
    /// shared copy (made when there is none). Durable when it returns.
    pub(crate) async fn put(&self, cksum: &str, bytes: Bytes) -> Result<(), StorageError> {
        let key = blob_key(cksum).ok_or(StorageError::ChecksumMismatch)?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.put_blocking(key.as_ref(), &bytes)).await?
    }

    fn put_blocking(&self, key: &str, bytes: &[u8]) -> Result<(), StorageError> {
        let shared = self.shared.join(key);
        let own = self.own.join(key);
        for path in [&shared, &own] {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(path_error(parent))?;
            }
        }
        let temporary_dir = self.shared.join(TEMPORARY_DIR);
        std::fs::create_dir_all(&temporary_dir).map_err(path_error(&temporary_dir))?;
        let mut written =
            tempfile::NamedTempFile::new_in(&temporary_dir).map_err(path_error(&temporary_dir))?;
        written
            .write_all(bytes)
            .and_then(|()| written.as_file().sync_all())
            .map_err(path_error(written.path()))?;
        let mut attempts = 0;
        loop {
            attempts += 1;
            match std::fs::hard_link(written.path(), &shared) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(error) => return Err(path_error(&shared)(error)),
            }
            match std::fs::hard_link(&shared, &own) {
                Ok(()) => break,
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => break,
                // A sweep removed the copy between the two links: link the new bytes again.
                Err(error)
                    if error.kind() == std::io::ErrorKind::NotFound && attempts < LINK_ATTEMPTS => {
                }
                Err(error) => return Err(path_error(&own)(error)),
            }
        }
        File::options()
            .write(true)
            .open(&own)
            .and_then(|file| file.set_modified(SystemTime::now()))
            .map_err(path_error(&own))?;
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
    /// older than `cutoff`, and temporary files left by an interrupted put.
    pub(crate) async fn sweep(&self, cutoff: SystemTime) -> Result<Swept, StorageError> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || sweep_blocking(&shared, cutoff)).await?
    }
}

fn sweep_blocking(shared: &Path, cutoff: SystemTime) -> Result<Swept, StorageError> {
    let mut swept = Swept::default();
    let mut pending = vec![shared.join(BLOB_PREFIX), shared.join(TEMPORARY_DIR)];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(path_error(&dir)(error)),
        };
        for entry in entries {
            let entry = entry.map_err(path_error(&dir))?;
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).map_err(path_error(&path))?;
            if meta.is_dir() {
                pending.push(path);
                continue;
            }
            let old = meta.modified().is_ok_and(|modified| modified < cutoff);
            if meta.nlink() != 1 || !old {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    tracing::info!(blob = %path.display(), bytes = meta.len(), "shared blob no registry lists removed");
                    swept.blobs += 1;
                    swept.bytes += meta.len();
                }
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(path_error(&path)(error)),
            }
        }
    }
    Ok(swept)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::blobs::sha256_hex;

    fn inode(path: &Path) -> u64 {
        std::fs::metadata(path).unwrap().ino()
    }

    #[tokio::test]
    async fn identical_bytes_are_one_copy_and_outlive_one_registrys_delete() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        let acme = SharedBlobs::new(shared.clone(), dir.path().join("acme"));
        let beta = SharedBlobs::new(shared.clone(), dir.path().join("beta"));
        let bytes = Bytes::from_static(b"crate bytes");
        let cksum = sha256_hex(&bytes);
        let key = blob_key(&cksum).unwrap().to_string();
        acme.put(&cksum, bytes.clone()).await.unwrap();
        beta.put(&cksum, bytes.clone()).await.unwrap();
        beta.put(&cksum, bytes.clone()).await.unwrap();
        let (in_acme, in_beta) = (
            dir.path().join("acme").join(&key),
            dir.path().join("beta").join(&key),
        );
        assert_eq!(inode(&in_acme), inode(&in_beta));
        assert_eq!(inode(&in_acme), inode(&shared.join(&key)));
        assert_eq!(std::fs::metadata(&in_acme).unwrap().nlink(), 3);
        let later = SystemTime::now() + Duration::from_mins(1);
        assert_eq!(acme.sweep(later).await.unwrap(), Swept::default());

        std::fs::remove_file(&in_acme).unwrap();
        assert_eq!(acme.sweep(later).await.unwrap(), Swept::default());
        assert_eq!(std::fs::read(&in_beta).unwrap(), bytes.as_ref());

        std::fs::remove_file(&in_beta).unwrap();
        assert_eq!(
            acme.sweep(SystemTime::UNIX_EPOCH).await.unwrap(),
            Swept::default()
        );
        let swept = acme.sweep(later).await.unwrap();
        assert_eq!(
            swept,
            Swept {
                blobs: 1,
                bytes: 11
            }
        );
        assert!(!shared.join(&key).exists());
        assert!(
            std::fs::read_dir(shared.join(TEMPORARY_DIR))
                .unwrap()
                .next()
                .is_none()
        );
    }
}

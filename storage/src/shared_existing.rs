//! Turning a registry's blob files that are not links to the shared copies (written before
//! its blobs were shared, or unpacked by a restore) into such links, so identical bytes are
//! stored once.
//!
//! For each file of the registry's `blobs/sha256/` that is not the shared copy's inode: when
//! the shared directory has no copy of those bytes, the file becomes it (a link to it under
//! the shared name); when it has one, the file is replaced by a link to that copy (a link
//! made in the shared directory's `.tmp/`, then renamed over the file, so the file is always
//! either the old bytes or the link). The file's bytes are hashed first, unless the caller
//! checked them already (a restore): a file whose bytes do not hash to its name is left alone
//! (`wharf admin reconcile` reports it), so damaged bytes never become the copy other
//! registries link. Each file is linked under the shared directory's lock held shared, as a
//! put does, so a sweep cannot remove the copy in between.
//!
//! Nothing here is synced: after a crash a file is either still separate (the next run
//! shares it) or a link, and the bytes are the same either way.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::StorageError;
use crate::blobs::{BLOB_PREFIX, blob_key};
use crate::shared_blobs::{
    Hold, SharedBlobs, TEMPORARY_DIR, create_parent, for_each_file, link_error, path_error,
};

/// What [`SharedBlobs::share_existing`] did (or, in a dry run, would do).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Shared {
    /// Files that are now links to the shared copy of their bytes.
    pub(crate) blobs: usize,
    /// Bytes freed: the sizes of the files replaced by a link to a copy that was there
    /// already.
    pub(crate) bytes: u64,
    /// Files left alone because their bytes do not hash to their name.
    pub(crate) damaged: usize,
}

/// Whether [`SharedBlobs::share_existing_blocking`] hashes a file before sharing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hashing {
    /// Read and hash each file first.
    Hash,
    /// The caller hashed every file already (a restore, while unpacking).
    Done,
}

impl SharedBlobs {
    /// Makes each of the registry's blob files that is not a link to the shared copy of its
    /// bytes into one (see the module documentation); with `dry_run`, only counts them.
    pub(crate) async fn share_existing(&self, dry_run: bool) -> Result<Shared, StorageError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            if dry_run {
                this.unshared().map(|files| Shared {
                    blobs: files.len(),
                    bytes: files
                        .iter()
                        .filter(|file| file.copy_exists)
                        .map(|file| file.size)
                        .sum(),
                    damaged: 0,
                })
            } else {
                this.share_existing_blocking(Hashing::Hash)
            }
        })
        .await?
    }

    /// [`Self::share_existing`], on the calling thread.
    pub(crate) fn share_existing_blocking(&self, hashing: Hashing) -> Result<Shared, StorageError> {
        let mut shared = Shared::default();
        for Unshared { key, size, .. } in self.unshared()? {
            let own = self.own.join(&key);
            if hashing == Hashing::Hash && !hashes_to_its_name(&own)? {
                tracing::warn!(blob = %own.display(), "bytes do not hash to the blob's name; not shared (`wharf admin reconcile` lists it)");
                shared.damaged += 1;
                continue;
            }
            if self.share_file(&key)? {
                shared.bytes += size;
            }
            shared.blobs += 1;
        }
        if shared.blobs > 0 {
            tracing::info!(blobs = shared.blobs, bytes = shared.bytes, dir = %self.own.display(), "blob files made links to the shared copies");
        }
        Ok(shared)
    }

    /// The registry's blob files that are not the shared copy of their bytes.
    fn unshared(&self) -> Result<Vec<Unshared>, StorageError> {
        let mut found = Vec::new();
        for_each_file(&self.own.join(BLOB_PREFIX), &mut |path, meta| {
            // A file whose path is not a blob key is no blob (collection leaves it alone too).
            let key = path
                .file_name()
                .and_then(|name| blob_key(&name.to_string_lossy()))
                .map(|key| key.to_string())
                .filter(|key| self.own.join(key) == path);
            if let Some(key) = key
                && meta.is_file()
            {
                let copy = copy_of(&meta, &self.shared.join(&key))?;
                if copy != SharedName::ThisFile {
                    found.push(Unshared {
                        key,
                        size: meta.len(),
                        copy_exists: copy == SharedName::Another,
                    });
                }
            }
            Ok(())
        })?;
        found.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(found)
    }

    /// Makes the registry's file `key` a link to the shared copy: the copy itself when there
    /// is none, else replaced by a link to it. Returns whether the file was replaced (its
    /// bytes freed).
    fn share_file(&self, key: &str) -> Result<bool, StorageError> {
        let (own, shared) = (self.own.join(key), self.shared.join(key));
        create_parent(&shared)?;
        let temporary_dir = self.shared.join(TEMPORARY_DIR);
        std::fs::create_dir_all(&temporary_dir).map_err(path_error(&temporary_dir))?;
        let _linking = self.lock(Hold::Shared)?;
        match std::fs::hard_link(&own, &shared) {
            Ok(()) => return Ok(false),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(link_error(&self.shared, &own, &shared, error)),
        }
        let link = tempfile::Builder::new()
            .make_in(&temporary_dir, |path| std::fs::hard_link(&shared, path))
            .map_err(|error| link_error(&self.shared, &shared, &temporary_dir, error))?;
        link.persist(&own)
            .map_err(|error| path_error(&own)(error.error))?;
        Ok(true)
    }
}

/// A registry's blob file that is not the shared copy of its bytes.
#[derive(Debug)]
struct Unshared {
    /// Its key, `sha256/ab/cd/<hex>`.
    key: String,
    /// Its size in bytes.
    size: u64,
    /// Whether the shared directory has a copy of its bytes (another file).
    copy_exists: bool,
}

/// What the shared directory holds for a registry's blob file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SharedName {
    /// No copy of those bytes.
    None,
    /// The file itself: it is shared already.
    ThisFile,
    /// Another file.
    Another,
}

/// What the shared name `shared` is for the registry's file whose metadata is `meta`.
fn copy_of(meta: &std::fs::Metadata, shared: &Path) -> Result<SharedName, StorageError> {
    match std::fs::metadata(shared) {
        Ok(copy) if copy.dev() == meta.dev() && copy.ino() == meta.ino() => {
            Ok(SharedName::ThisFile)
        }
        Ok(_) => Ok(SharedName::Another),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(SharedName::None),
        Err(error) => Err(path_error(shared)(error)),
    }
}

/// Whether the bytes of the blob file `path` hash to its name.
fn hashes_to_its_name(path: &Path) -> Result<bool, StorageError> {
    let mut file = std::fs::File::open(path).map_err(path_error(path))?;
    let (_, sha256) = crate::restore::copy_hashing(&mut file, &mut std::io::sink())
        .and_then(|read| read)
        .map_err(path_error(path))?;
    Ok(path
        .file_name()
        .is_some_and(|name| name.to_string_lossy() == sha256))
}

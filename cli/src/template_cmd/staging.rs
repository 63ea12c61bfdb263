//! The staging folder a `wharf template new` run installs into, beside the target, and the
//! clean-up of the staging folders earlier runs left behind when they were killed.
//!
//! Each run holds an exclusive lock on a file inside its staging folder for as long as it
//! runs; the operating system drops the lock when the process ends, however it ends. A
//! later run removes a folder of ours (named `.wharf-template-…`, a real folder, holding the
//! lock file) whose lock it can take: its run is gone. A folder whose lock is held belongs
//! to a run still going and is left alone, and so is anything else in the parent.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tempfile::TempDir;

/// How a staging folder's name starts.
const PREFIX: &str = ".wharf-template-";
/// The file inside a staging folder whose lock marks its run as alive.
const LOCK_FILE: &str = ".wharf-template.lock";

/// A run's staging folder, removed when dropped, locked while it lives.
pub(crate) struct Staging {
    /// Declared before the folder so the lock is released before the folder is removed.
    _lock: File,
    dir: TempDir,
}

impl Staging {
    /// Creates a new staging folder in `parent` and locks it as this run's.
    pub(crate) fn create(parent: &Path) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(PREFIX)
            .tempdir_in(parent)
            .with_context(|| {
                format!("cannot create a temporary folder in `{}`", parent.display())
            })?;
        let lock_path = dir.path().join(LOCK_FILE);
        let lock = File::create(&lock_path)
            .with_context(|| format!("cannot create `{}`", lock_path.display()))?;
        lock.lock()
            .with_context(|| format!("cannot lock `{}`", lock_path.display()))?;
        Ok(Self { _lock: lock, dir })
    }

    /// The staging folder.
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Removes the staging folders in `parent` that earlier runs left behind (their lock is free)
/// and returns them. A folder that cannot be read or removed is skipped with a warning: the
/// clean-up never stops a run.
pub(crate) fn remove_stale(parent: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let is_ours = entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(PREFIX));
        let is_folder = entry.file_type().is_ok_and(|kind| kind.is_dir());
        if !is_ours || !is_folder {
            continue;
        }
        let path = entry.path();
        if !is_abandoned(&path) {
            continue;
        }
        match std::fs::remove_dir_all(&path) {
            Ok(()) => removed.push(path),
            Err(e) => tracing::warn!(
                folder = %path.display(),
                error = %e,
                "cannot remove a staging folder an earlier run left behind"
            ),
        }
    }
    removed
}

/// Whether `dir` holds a lock file whose lock nobody holds (its run ended without removing
/// it). A folder without the lock file is not known to be ours and is left alone.
fn is_abandoned(dir: &Path) -> bool {
    let lock_path = dir.join(LOCK_FILE);
    let is_file = std::fs::symlink_metadata(&lock_path).is_ok_and(|m| m.file_type().is_file());
    if !is_file {
        return false;
    }
    let Ok(file) = File::open(&lock_path) else {
        return false;
    };
    match file.try_lock() {
        // Held until `file` is dropped at the end of this function; the folder goes next.
        Ok(()) => true,
        Err(TryLockError::WouldBlock | TryLockError::Error(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(parent: &Path, name: &str, lock_file: bool) -> PathBuf {
        let path = parent.join(name);
        std::fs::create_dir_all(path.join("plugins")).expect("a folder");
        if lock_file {
            std::fs::write(path.join(LOCK_FILE), b"").expect("a lock file");
        }
        path
    }

    #[test]
    fn only_our_folders_whose_lock_is_free_are_removed() {
        let parent = tempfile::tempdir().expect("a temporary folder");
        let abandoned = folder(parent.path(), ".wharf-template-abandoned", true);
        let unmarked = folder(parent.path(), ".wharf-template-unmarked", false);
        let other = folder(parent.path(), "project", true);
        let live = Staging::create(parent.path()).expect("a staging folder");
        let removed = remove_stale(parent.path());
        assert_eq!(removed, std::slice::from_ref(&abandoned));
        assert!(!abandoned.exists());
        assert!(unmarked.exists() && other.exists() && live.path().exists());
        drop(live);
        assert!(remove_stale(parent.path()).is_empty());
    }
}

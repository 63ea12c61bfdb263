//! [`InstallDir`]: where everything of one install directory lives, and the atomic switch
//! from one installed set to the next.
//!
//! ```text
//! DIR/wharf-install.toml     index URL and host API, written by the first install
//! DIR/wharf.lock             the lock of the set in use
//! DIR/current -> .wharf/sets/<id>    the set in use (a symlink, replaced by a rename)
//! DIR/.wharf/lock            held (OS file lock) by the run working in DIR
//! DIR/.wharf/cache/<sha256>.crate    downloaded archives, by content
//! DIR/.wharf/staging/<id>/   a set being built
//! DIR/.wharf/sets/<id>/      complete sets: <name>-<version>/ each, wharf.lock, wharf-set.toml
//!                            (the one in use, and the one it replaced until the next run)
//! ```

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::install::InstallError;

/// The paths of one install directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallDir {
    root: PathBuf,
}

impl InstallDir {
    /// The install directory `root` (created by the first install).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `DIR/wharf-install.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.root.join("wharf-install.toml")
    }

    /// `DIR/wharf.lock`.
    pub fn lock_path(&self) -> PathBuf {
        self.root.join("wharf.lock")
    }

    /// `DIR/current`, the symlink to the set in use.
    pub fn current_link(&self) -> PathBuf {
        self.root.join("current")
    }

    pub(crate) fn state_dir(&self) -> PathBuf {
        self.root.join(".wharf")
    }

    pub(crate) fn dir_lock_path(&self) -> PathBuf {
        self.state_dir().join("lock")
    }

    pub(crate) fn cache_dir(&self) -> PathBuf {
        self.state_dir().join("cache")
    }

    pub(crate) fn staging_dir(&self) -> PathBuf {
        self.state_dir().join("staging")
    }

    /// `DIR/.wharf/trust`: the last verified checkpoint and timestamp of the registry's log
    /// (kept apart from the download cache, which may be wiped).
    pub(crate) fn trust_dir(&self) -> PathBuf {
        self.state_dir().join("trust")
    }

    pub(crate) fn sets_dir(&self) -> PathBuf {
        self.state_dir().join("sets")
    }

    /// The set in use (what `DIR/current` points to), if any.
    pub fn current_set(&self) -> Result<Option<PathBuf>, InstallError> {
        let link = self.current_link();
        match std::fs::read_link(&link) {
            Ok(target) => Ok(Some(self.root.join(target))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(InstallError::io("cannot read the symlink", link, e)),
        }
    }

    /// Creates `.wharf/` and its subdirectories.
    pub(crate) fn create(&self) -> Result<(), InstallError> {
        for dir in [self.cache_dir(), self.staging_dir(), self.sets_dir()] {
            std::fs::create_dir_all(&dir)
                .map_err(|e| InstallError::io("cannot create the directory", dir, e))?;
        }
        Ok(())
    }

    /// Makes the set `id` (already complete under `.wharf/sets/`) the one in use in one
    /// step: a new symlink renamed over `DIR/current`, so a reader sees the old set or the
    /// new one, never neither.
    pub(crate) fn switch_to(&self, id: &str) -> Result<(), InstallError> {
        let temp = self.state_dir().join("current.new");
        let _ = std::fs::remove_file(&temp);
        let target = Path::new(".wharf").join("sets").join(id);
        std::os::unix::fs::symlink(&target, &temp)
            .map_err(|e| InstallError::io("cannot create the symlink", &temp, e))?;
        std::fs::rename(&temp, self.current_link())
            .map_err(|e| InstallError::io("cannot switch", self.current_link(), e))?;
        sync_dir(&self.root);
        Ok(())
    }

    /// Deletes what an earlier run left behind: staging directories, a half-made
    /// `current.new`, and every set but the one in use and `keep` (the set a run just
    /// replaced, kept until the next run so a host still reading it is not cut off). Run with
    /// the directory lock held.
    pub(crate) fn clean(&self, keep: Option<&Path>) -> Result<(), InstallError> {
        let _ = std::fs::remove_file(self.state_dir().join("current.new"));
        remove_children(&self.staging_dir(), &[])?;
        let current = self.current_set()?;
        let keep: Vec<&Path> = current.as_deref().into_iter().chain(keep).collect();
        remove_children(&self.sets_dir(), &keep)
    }
}

/// Removes every entry of `dir` except those in `keep`.
fn remove_children(dir: &Path, keep: &[&Path]) -> Result<(), InstallError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(InstallError::io("cannot list", dir, e)),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if keep.iter().any(|keep| same_dir(keep, &path)) {
            continue;
        }
        tracing::info!(path = %path.display(), "removing what an earlier run left");
        std::fs::remove_dir_all(&path)
            .or_else(|_| std::fs::remove_file(&path))
            .map_err(|e| InstallError::io("cannot remove", &path, e))?;
    }
    Ok(())
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Writes `bytes` to `path` atomically (a temporary file in the same directory, synced,
/// then renamed over it).
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), InstallError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| InstallError::io("cannot create a file in", dir, e))?;
    temp.write_all(bytes)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| InstallError::io("cannot write", path, e))?;
    temp.persist(path)
        .map_err(|e| InstallError::io("cannot write", path, e.error))?;
    sync_dir(dir);
    Ok(())
}

/// Syncs a directory's entries to disk (best effort: not every file system allows it).
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(handle) = std::fs::File::open(dir) {
        let _ = handle.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_switch_replaces_current_and_clean_keeps_only_the_set_in_use() {
        let root = tempfile::tempdir().unwrap();
        let dir = InstallDir::new(root.path());
        dir.create().unwrap();
        assert_eq!(dir.current_set().unwrap(), None);
        for id in ["one", "two"] {
            std::fs::create_dir_all(dir.sets_dir().join(id)).unwrap();
        }
        std::fs::create_dir_all(dir.staging_dir().join("half")).unwrap();
        dir.switch_to("one").unwrap();
        dir.switch_to("two").unwrap();
        let current = dir.current_set().unwrap().unwrap();
        assert!(
            current.ends_with(".wharf/sets/two"),
            "{}",
            current.display()
        );
        dir.clean(None).unwrap();
        let left: Vec<_> = std::fs::read_dir(dir.sets_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["two"]);
        assert_eq!(std::fs::read_dir(dir.staging_dir()).unwrap().count(), 0);
    }
}

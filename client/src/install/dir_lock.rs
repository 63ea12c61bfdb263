//! [`DirLock`]: the exclusive lock of an install directory. It is an OS file lock on
//! `DIR/.wharf/lock`, so the system releases it when its process dies: a lock file left by
//! a killed run is never in the way.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, Write as _};
use std::path::Path;

use crate::install::InstallError;
use crate::install::layout::InstallDir;

/// Held while a run works in an install directory; released when dropped.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock of `dir`: waits for another run to finish when `wait`, else refuses
    /// at once with [`InstallError::DirLocked`] naming the holder.
    pub(crate) fn acquire(dir: &InstallDir, wait: bool) -> Result<Self, InstallError> {
        let path = dir.dir_lock_path();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| InstallError::io("cannot open the lock file", &path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) if wait => {
                tracing::info!(path = %path.display(), "waiting for another run to finish");
                file.lock()
                    .map_err(|e| InstallError::io("cannot lock", &path, e))?;
            }
            Err(TryLockError::WouldBlock) => {
                return Err(InstallError::DirLocked {
                    dir: dir.root().to_owned(),
                    holder: holder(&path),
                });
            }
            Err(TryLockError::Error(e)) => {
                return Err(InstallError::io("cannot lock", &path, e));
            }
        }
        // Who holds it, for the message a second run prints.
        let _ = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| write!(file, "pid {}", std::process::id()));
        Ok(Self { _file: file })
    }
}

fn holder(path: &Path) -> Option<String> {
    let mut text = String::new();
    File::open(path).ok()?.read_to_string(&mut text).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let root = tempfile::tempdir().unwrap();
        let dir = InstallDir::new(root.path());
        dir.create().unwrap();
        let first = DirLock::acquire(&dir, false).unwrap();
        let error = DirLock::acquire(&dir, false).unwrap_err();
        assert_eq!(error.code(), "dir-locked");
        assert!(
            error
                .to_string()
                .contains(&format!("(pid {})", std::process::id())),
            "{error}"
        );
        drop(first);
        DirLock::acquire(&dir, false).unwrap();
    }
}

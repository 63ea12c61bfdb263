//! The derived per-package index files on the object store (`index/<index_path>`).
//!
//! Writes of one package's file are serialised by a per-package lock that remembers the log
//! position last written, so a slow writer can never replace a newer file with an older one.
//! `put` is atomic (temp file + rename on the local backend), so a file is never torn. The
//! files need no fsync: the database is the truth and reconcile repairs them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tokio::sync::Mutex as AsyncMutex;

use crate::blobs::sha256_hex;
use crate::{IndexFileSnapshot, StorageError};

/// The object key of an index file whose index path is `path`.
pub(crate) fn index_key(path: &str) -> Path {
    Path::from(format!("index/{path}"))
}

/// What [`IndexProjector::ensure`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ensured {
    /// The stored file already had the expected bytes.
    Unchanged {
        /// SHA-256 of the file.
        sha256: String,
    },
    /// The file was (re)written.
    Rebuilt {
        /// SHA-256 of the file.
        sha256: String,
    },
    /// A newer version of the file was written meanwhile; nothing was done.
    Superseded,
}

/// Writes and reads index files, never letting an older state replace a newer one.
#[derive(Debug)]
pub(crate) struct IndexProjector {
    store: Arc<dyn ObjectStore>,
    /// Per package id: the highest log position whose file this process wrote or checked.
    written: Mutex<HashMap<i64, Arc<AsyncMutex<u64>>>>,
}

impl IndexProjector {
    pub(crate) fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self {
            store,
            written: Mutex::new(HashMap::new()),
        }
    }

    fn lock_for(&self, package_id: i64) -> Arc<AsyncMutex<u64>> {
        let mut map = self
            .written
            .lock()
            .expect("projector map is never poisoned");
        Arc::clone(map.entry(package_id).or_default())
    }

    async fn put(&self, snapshot: &IndexFileSnapshot) -> Result<String, StorageError> {
        let key = index_key(&snapshot.path);
        self.store
            .put(&key, PutPayload::from_bytes(snapshot.bytes.clone()))
            .await?;
        Ok(sha256_hex(&snapshot.bytes))
    }

    /// Writes the file after a committed change unless a newer state was already written.
    /// Returns the SHA-256 written, or `None` when superseded.
    pub(crate) async fn write(
        &self,
        package_id: i64,
        snapshot: &IndexFileSnapshot,
    ) -> Result<Option<String>, StorageError> {
        let lock = self.lock_for(package_id);
        let mut last = lock.lock().await;
        if *last >= snapshot.seq {
            return Ok(None);
        }
        let sha256 = self.put(snapshot).await?;
        *last = snapshot.seq;
        Ok(Some(sha256))
    }

    /// Makes sure the stored file equals `snapshot`: rewrites it when `force` is set or when
    /// the stored bytes differ (or are missing).
    pub(crate) async fn ensure(
        &self,
        package_id: i64,
        snapshot: &IndexFileSnapshot,
        force: bool,
    ) -> Result<Ensured, StorageError> {
        let lock = self.lock_for(package_id);
        let mut last = lock.lock().await;
        if *last > snapshot.seq {
            return Ok(Ensured::Superseded);
        }
        let stored = self.read(&snapshot.path).await?;
        let outcome = if force || stored.as_ref() != Some(&snapshot.bytes) {
            Ensured::Rebuilt {
                sha256: self.put(snapshot).await?,
            }
        } else {
            Ensured::Unchanged {
                sha256: sha256_hex(&snapshot.bytes),
            }
        };
        *last = snapshot.seq;
        Ok(outcome)
    }

    /// The stored bytes of the file at index path `path`, `None` when absent.
    pub(crate) async fn read(&self, path: &str) -> Result<Option<Bytes>, StorageError> {
        match self.store.get(&index_key(path)).await {
            Ok(found) => Ok(Some(found.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;

    use super::*;

    fn snap(seq: u64, text: &'static str) -> IndexFileSnapshot {
        IndexFileSnapshot {
            name: "demo".into(),
            path: "de/mo/demo".into(),
            bytes: Bytes::from_static(text.as_bytes()),
            seq,
            last_modified: 0,
        }
    }

    #[tokio::test]
    async fn older_states_never_replace_newer_ones() {
        let projector = IndexProjector::new(Arc::new(InMemory::new()));
        assert!(
            projector
                .write(1, &snap(5, "new\n"))
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(projector.write(1, &snap(4, "old\n")).await.unwrap(), None);
        assert_eq!(
            projector.read("de/mo/demo").await.unwrap().unwrap(),
            Bytes::from_static(b"new\n")
        );
        assert_eq!(
            projector.ensure(1, &snap(4, "old\n"), true).await.unwrap(),
            Ensured::Superseded
        );
    }

    #[tokio::test]
    async fn ensure_repairs_missing_and_differing_files_only() {
        let projector = IndexProjector::new(Arc::new(InMemory::new()));
        assert!(matches!(
            projector.ensure(1, &snap(2, "a\n"), false).await.unwrap(),
            Ensured::Rebuilt { .. }
        ));
        assert!(matches!(
            projector.ensure(1, &snap(2, "a\n"), false).await.unwrap(),
            Ensured::Unchanged { .. }
        ));
        assert!(matches!(
            projector.ensure(1, &snap(2, "a\n"), true).await.unwrap(),
            Ensured::Rebuilt { .. }
        ));
        assert_eq!(projector.read("1/x").await.unwrap(), None);
    }
}

//! The derived per-package index files on the object store (`index/<index_path>`).
//!
//! Writes of one package's file are serialised by a per-package lock that remembers the log
//! position last written, so a slow writer can never replace a newer file with an older one,
//! and changes that queue up behind the lock share one write.
//! `put` is atomic (temp file + rename on the local backend), so a file is never torn. The
//! files need no fsync: the database is the truth and reconcile repairs them.

use std::collections::HashMap;
use std::future::Future;
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

/// What the projector remembers about one package's file.
#[derive(Debug, Default)]
struct Projected {
    /// The highest log position whose file this process wrote or checked.
    seq: u64,
    /// The snapshot last written, kept only while other writers wait for the same package,
    /// so they can return it instead of reading and writing the file again.
    cached: Option<IndexFileSnapshot>,
}

/// A snapshot to return after a change, the SHA-256 of the file if one was written, and
/// whether the write failed (the file is then stale until it is written again).
#[derive(Debug, Clone)]
pub(crate) struct Projection {
    pub(crate) snapshot: IndexFileSnapshot,
    pub(crate) written: Option<String>,
    pub(crate) write_failed: bool,
}

/// Writes and reads index files, never letting an older state replace a newer one.
/// Concurrent changes to one package are coalesced: whoever holds the package's lock reads
/// the current state from the database and writes it once for everyone queued behind.
#[derive(Debug)]
pub(crate) struct IndexProjector {
    store: Arc<dyn ObjectStore>,
    packages: Mutex<HashMap<i64, Arc<AsyncMutex<Projected>>>>,
}

impl IndexProjector {
    pub(crate) fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self {
            store,
            packages: Mutex::new(HashMap::new()),
        }
    }

    fn lock_for(&self, package_id: i64) -> Arc<AsyncMutex<Projected>> {
        let mut map = self
            .packages
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

    /// Brings the file up to (at least) the committed log position `committed_seq` and
    /// returns the snapshot it now holds. `load` reads the package's current snapshot from
    /// the database. A failed object-store write is logged and flagged in the projection,
    /// not returned: the change is already durable, and the caller has the file retried.
    pub(crate) async fn project<F>(
        &self,
        package_id: i64,
        committed_seq: u64,
        load: F,
    ) -> Result<Projection, StorageError>
    where
        F: Future<Output = Result<IndexFileSnapshot, StorageError>>,
    {
        let lock = self.lock_for(package_id);
        let mut state = lock.lock().await;
        if let Some(cached) = &state.cached
            && cached.seq >= committed_seq
        {
            return Ok(Projection {
                snapshot: cached.clone(),
                written: None,
                write_failed: false,
            });
        }
        let snapshot = load.await?;
        let mut written = None;
        let mut write_failed = false;
        if snapshot.seq > state.seq {
            match self.put(&snapshot).await {
                Ok(sha256) => {
                    state.seq = snapshot.seq;
                    written = Some(sha256);
                }
                Err(error) => {
                    tracing::warn!(
                        %error,
                        package = %snapshot.name,
                        "index file write failed; it is retried in the background"
                    );
                    write_failed = true;
                }
            }
        }
        // The map and this task hold the lock's `Arc`; anything more is a waiting writer.
        // After a failed write they must try for themselves.
        let others_waiting = Arc::strong_count(&lock) > 2;
        state.cached = (others_waiting && !write_failed).then(|| snapshot.clone());
        Ok(Projection {
            snapshot,
            written,
            write_failed,
        })
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
        let mut state = lock.lock().await;
        if state.seq > snapshot.seq {
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
        state.seq = snapshot.seq;
        state.cached = None;
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
        let first = projector
            .project(1, 5, async { Ok(snap(5, "new\n")) })
            .await
            .unwrap();
        assert!(first.written.is_some());
        let stale = projector
            .project(1, 4, async { Ok(snap(4, "old\n")) })
            .await
            .unwrap();
        assert_eq!(stale.written, None);
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

#[cfg(test)]
mod coalescing_tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use object_store::memory::InMemory;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_writers_share_one_write() {
        let projector = Arc::new(IndexProjector::new(Arc::new(InMemory::new())));
        let loads = Arc::new(AtomicUsize::new(0));
        // Hold the package lock so that every task queues behind it.
        let lock = projector.lock_for(7);
        let guard = lock.lock().await;
        let mut tasks = Vec::new();
        for seq in 1..=8u64 {
            let (projector, loads) = (Arc::clone(&projector), Arc::clone(&loads));
            tasks.push(tokio::spawn(async move {
                projector
                    .project(7, seq, async move {
                        loads.fetch_add(1, Ordering::SeqCst);
                        Ok(IndexFileSnapshot {
                            name: "pkg".into(),
                            path: "3/p/pkg".into(),
                            bytes: Bytes::from_static(b"all eight\n"),
                            seq: 8,
                            last_modified: 0,
                        })
                    })
                    .await
                    .unwrap()
            }));
        }
        while Arc::strong_count(&lock) < 10 {
            tokio::task::yield_now().await;
        }
        drop(guard);
        let mut written = 0;
        for task in tasks {
            let projection = task.await.unwrap();
            assert_eq!(projection.snapshot.seq, 8);
            written += usize::from(projection.written.is_some());
        }
        assert_eq!(written, 1);
        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }
}

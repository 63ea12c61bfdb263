//! Index files whose write failed, retried in the background until they succeed.
//!
//! An index file is written after its change committed (behind a publish's answer, or before
//! a yank's). When that write fails — a full disk, an object store that is down — the change
//! is safe in the database and the server's cache already serves it, but the file on disk
//! stays stale, and a mirror or a CDN reading the files would see the old state until the
//! next start's reconcile. So the package is marked dirty, and a task started by
//! [`Storage::open`](crate::Storage::open) rewrites each dirty package's file from the
//! database, first after [`FIRST_RETRY`], then with the wait doubling up to [`MAX_RETRY`]
//! while writes keep failing. [`Storage::dirty_index_files`](crate::Storage::dirty_index_files)
//! counts the files waiting (`/metrics` `wharf_index_files_dirty`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::index_files::Ensured;
use crate::queries::snapshot_by_id;
use crate::storage::{Inner, now_unix};
use crate::write_ops::record_index_file;
use crate::{Storage, StorageError};

/// The wait before the first retry of a failed write.
pub(crate) const FIRST_RETRY: Duration = Duration::from_millis(200);
/// The longest wait between two retries.
pub(crate) const MAX_RETRY: Duration = Duration::from_secs(5);

/// Package id → how many times its file was marked dirty. A retry removes the package only
/// when no new mark arrived while it ran, so a failure after the retry read the database is
/// never forgotten.
type Marks = Arc<Mutex<HashMap<i64, u64>>>;

/// The packages whose index file must be written again.
#[derive(Debug)]
pub(crate) struct DirtyIndexFiles {
    marks: Marks,
    /// Wakes the retry task; dropping it (with the storage) ends the task.
    wake: mpsc::Sender<()>,
}

/// The retry task's end of [`DirtyIndexFiles`], handed to [`start_retrying`].
#[derive(Debug)]
pub(crate) struct RetryQueue {
    marks: Marks,
    woken: mpsc::Receiver<()>,
}

impl DirtyIndexFiles {
    /// A new, empty set and the queue the retry task reads.
    pub(crate) fn new() -> (Self, RetryQueue) {
        let marks = Marks::default();
        let (wake, woken) = mpsc::channel(1);
        (
            Self {
                marks: Arc::clone(&marks),
                wake,
            },
            RetryQueue { marks, woken },
        )
    }

    /// Marks the package's file dirty and wakes the retry task.
    pub(crate) fn mark(&self, package_id: i64) {
        *self
            .marks
            .lock()
            .expect("dirty marks are never poisoned")
            .entry(package_id)
            .or_default() += 1;
        // A full channel means the task is already due to run.
        let _ = self.wake.try_send(());
    }

    /// How many packages' files wait for a retry.
    pub(crate) fn len(&self) -> usize {
        self.marks
            .lock()
            .expect("dirty marks are never poisoned")
            .len()
    }
}

impl RetryQueue {
    fn is_empty(&self) -> bool {
        self.marks
            .lock()
            .expect("dirty marks are never poisoned")
            .is_empty()
    }

    /// Every dirty package with its mark count.
    fn pending(&self) -> Vec<(i64, u64)> {
        self.marks
            .lock()
            .expect("dirty marks are never poisoned")
            .iter()
            .map(|(id, marks)| (*id, *marks))
            .collect()
    }

    /// Forgets a package whose file was written, unless it was marked again meanwhile.
    fn written(&self, package_id: i64, marks: u64) {
        let mut current = self.marks.lock().expect("dirty marks are never poisoned");
        if current.get(&package_id) == Some(&marks) {
            current.remove(&package_id);
        }
    }
}

/// Starts the task that retries dirty files. It holds the storage only while it retries,
/// and ends once the storage is dropped.
pub(crate) fn start_retrying(storage: Weak<Inner>, mut queue: RetryQueue) {
    tokio::spawn(async move {
        let mut wait = FIRST_RETRY;
        loop {
            if queue.is_empty() {
                wait = FIRST_RETRY;
                if queue.woken.recv().await.is_none() {
                    return;
                }
                continue;
            }
            // The write has just failed: give the disk (or the store) a moment first.
            tokio::time::sleep(wait).await;
            let pending = queue.pending();
            let Some(inner) = storage.upgrade() else {
                return;
            };
            let storage_now = Storage { inner };
            let mut failed = false;
            for (package_id, marks) in pending {
                match storage_now.rewrite_index_file(package_id).await {
                    Ok(()) => queue.written(package_id, marks),
                    Err(error) => {
                        failed = true;
                        tracing::debug!(%error, package_id, "index file retry failed; trying again later");
                    }
                }
            }
            drop(storage_now);
            wait = if failed {
                (wait * 2).min(MAX_RETRY)
            } else {
                FIRST_RETRY
            };
        }
    });
}

impl Storage {
    /// Writes a package's index file from the database (unless it already holds those bytes)
    /// and records what it reflects.
    async fn rewrite_index_file(&self, package_id: i64) -> Result<(), StorageError> {
        let snapshot = self
            .read_sql(move |conn| snapshot_by_id(conn, package_id))
            .await?;
        let sha256 = match self
            .inner
            .projector
            .ensure(package_id, &snapshot, false)
            .await?
        {
            Ensured::Rebuilt { sha256 } => {
                tracing::info!(package = %snapshot.name, seq = snapshot.seq, "index file written on retry");
                sha256
            }
            Ensured::Unchanged { sha256 } => sha256,
            Ensured::Superseded => return Ok(()),
        };
        let seq = snapshot.seq;
        self.inner.writer.run_detached_sql(move |conn| {
            record_index_file(conn, package_id, seq, &sha256, now_unix())
        });
        Ok(())
    }

    /// How many packages' index files wait to be written again after a failed write (they
    /// are retried in the background until the write succeeds).
    pub fn dirty_index_files(&self) -> usize {
        self.inner.dirty.len()
    }
}

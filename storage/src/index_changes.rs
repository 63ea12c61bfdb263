//! What a follower of the index (the git export) reads: the index files changed since a log
//! position, and the whole index at one position, each in one read transaction so the files
//! and the position agree; and a watch that moves whenever this process commits an event.

use tokio::sync::watch;

use crate::queries::{all_snapshots, events, snapshot_by_id};
use crate::sql::{Sql, args};
use crate::{EventKind, IndexFileSnapshot, LogEvent, Storage, StorageError};

/// The index-file changes after a log position (see [`Storage::index_changes_since`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexChanges {
    /// The log's last sequence number when the changes were read (0 for an empty log).
    pub head: u64,
    /// The events after the position that change an index file (releases, yanks and
    /// unyanks), in log order.
    pub events: Vec<LogEvent>,
    /// The current file of every package those events touched, as of `head`, ordered by
    /// package name.
    pub files: Vec<IndexFileSnapshot>,
}

/// Every index file at one log position (see [`Storage::index_state`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexState {
    /// The log's last sequence number (0 for an empty log).
    pub head: u64,
    /// Every package's file as of `head`, ordered by package name.
    pub files: Vec<IndexFileSnapshot>,
}

/// Whether an event of this kind changes its package's index file.
pub(crate) fn changes_index(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::Release | EventKind::Yank | EventKind::Unyank
    )
}

fn log_head(conn: &dyn Sql) -> Result<u64, StorageError> {
    let head = conn.one_i64("SELECT coalesce(max(seq), 0) FROM events", args![])?;
    Ok(u64::try_from(head).unwrap_or_default())
}

/// The log head, the index events after `after` and the files they touched, in one read
/// transaction.
fn read_changes(conn: &dyn Sql, after: u64) -> Result<IndexChanges, StorageError> {
    let mut changes = IndexChanges::default();
    conn.consistent_read(&mut || {
        let head = log_head(conn)?;
        let events: Vec<LogEvent> = events(conn, after, usize::MAX)?
            .into_iter()
            .filter(|event| changes_index(event.kind))
            .collect();
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let files = conn
            .rows(
                "SELECT e.package_id FROM events e JOIN packages p ON p.id = e.package_id
                 WHERE e.seq > ?1 AND e.kind IN ('release', 'yank', 'unyank')
                 GROUP BY e.package_id, p.name ORDER BY p.name",
                args![after],
            )?
            .iter()
            .map(|row| snapshot_by_id(conn, row.i64(0)?))
            .collect::<Result<Vec<_>, _>>()?;
        changes = IndexChanges {
            head,
            events,
            files,
        };
        Ok(())
    })?;
    Ok(changes)
}

/// The log head and every index file, in one read transaction.
fn read_state(conn: &dyn Sql) -> Result<IndexState, StorageError> {
    let mut state = IndexState::default();
    conn.consistent_read(&mut || {
        let head = log_head(conn)?;
        let files = all_snapshots(conn)?
            .into_iter()
            .map(|(_, snapshot)| snapshot)
            .collect();
        state = IndexState { head, files };
        Ok(())
    })?;
    Ok(state)
}

impl Storage {
    /// The events after log position `after` that change index files, with the current
    /// file of every package they touched, read in one transaction.
    pub async fn index_changes_since(&self, after: u64) -> Result<IndexChanges, StorageError> {
        self.read_sql(move |conn| read_changes(conn, after)).await
    }

    /// Every index file and the log position they reflect, read in one transaction.
    pub async fn index_state(&self) -> Result<IndexState, StorageError> {
        self.read_sql(read_state).await
    }

    /// A watch of the last log position this process committed; it moves after every
    /// publish, yank, unyank and owner change made through this storage (others processes'
    /// writes are not seen: poll [`Storage::index_changes_since`] for those).
    pub fn watch_log(&self) -> watch::Receiver<u64> {
        self.inner.committed.subscribe()
    }

    /// Records that the log reached `seq` (wakes [`Storage::watch_log`] watchers).
    pub(crate) fn announce_committed(&self, seq: u64) {
        self.inner.committed.send_if_modified(|current| {
            let moved = seq > *current;
            *current = (*current).max(seq);
            moved
        });
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use wharf_index_format::IndexEntry;

    use crate::blobs::sha256_hex;
    use crate::{BlobBackend, Storage, StorageConfig, Upload};

    fn upload(name: &str, version: &str) -> Upload {
        let bytes = Bytes::from(format!("{name} {version}"));
        let line = format!(
            r#"{{"name":"{name}","vers":"{version}","deps":[],"cksum":"{}"}}"#,
            sha256_hex(&bytes)
        );
        Upload {
            entry: IndexEntry::from_line(&line).unwrap(),
            crate_bytes: bytes,
            metadata: wharf_index_format::PackageMetadata::default(),
        }
    }

    #[tokio::test]
    async fn changes_name_the_touched_files_at_the_head() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(StorageConfig {
            data_dir: dir.path().into(),
            blobs: BlobBackend::Memory,
        })
        .await
        .unwrap();
        let who = crate::metadata_tests::storage_user(&storage, "alice");
        let mut watch = storage.watch_log();
        storage.publish(&who, upload("one", "1.0.0")).await.unwrap();
        assert!(watch.has_changed().unwrap());
        assert_eq!(*watch.borrow_and_update(), 1);
        storage.publish(&who, upload("two", "1.0.0")).await.unwrap();
        storage
            .create_token(crate::metadata_tests::full_token("bob"))
            .unwrap();
        storage
            .add_owners(&who, "two", &["bob".to_owned()])
            .await
            .unwrap();
        storage
            .set_yanked(&who, "one", "1.0.0", true)
            .await
            .unwrap();

        let since_first = storage.index_changes_since(1).await.unwrap();
        let head = since_first.head;
        assert_eq!(*watch.borrow_and_update(), head);
        let kinds: Vec<_> = since_first.events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["release", "yank"]);
        let names: Vec<_> = since_first.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["one", "two"]);
        assert!(String::from_utf8_lossy(&since_first.files[0].bytes).contains("\"yanked\":true"));

        let state = storage.index_state().await.unwrap();
        assert_eq!(state.head, head);
        assert_eq!(state.files, since_first.files);
        let none = storage.index_changes_since(head).await.unwrap();
        assert!(none.events.is_empty() && none.files.is_empty());
    }
}

//! Following the event log that other nodes write: several `wharf serve` processes on one
//! PostgreSQL database each keep their own index files and index cache, derived from the one
//! log.
//!
//! A node learns that the log grew in two ways: a notification on channel `wharf_log`, which
//! a statement trigger on `events` sends in every transaction that appends to the log
//! (PostgreSQL delivers it when that transaction commits, so the follower never reads ahead
//! of it), and, as the fallback when the listening connection is down, a poll of the log's
//! head. [`Storage::follow_log`] then reads, in one consistent read, the head and the current
//! file of every package the new events touched, writes those files into the node's
//! `index/` (never recording them: the node that committed the change records what it wrote)
//! and moves [`Storage::watch_log`] to the head, so the node's timestamp and git export move
//! on too. The server installs the files in its cache (`registry-server`'s follower).

use std::sync::Arc;

use tokio::sync::Notify;

use crate::engine::EnginePool;
use crate::queries::snapshot_by_id;
use crate::sql::{Sql, args};
use crate::{IndexFileSnapshot, Storage, StorageError};

/// The notification channel of the event log.
pub(crate) const LOG_CHANNEL: &str = "wharf_log";

/// What [`Storage::follow_log`] found after a log position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowedLog {
    /// The log's last sequence number (0 for an empty log).
    pub head: u64,
    /// The current index file of every package an event after the position touched,
    /// as of `head`, ordered by package id.
    pub files: Vec<IndexFileSnapshot>,
}

fn head(conn: &dyn Sql) -> Result<u64, StorageError> {
    let head = conn.one_i64("SELECT coalesce(max(seq), 0) FROM events", args![])?;
    Ok(u64::try_from(head).unwrap_or_default())
}

fn read_after(
    conn: &dyn Sql,
    after: u64,
) -> Result<(u64, Vec<(i64, IndexFileSnapshot)>), StorageError> {
    let mut found = (0, Vec::new());
    conn.consistent_read(&mut || {
        let last = head(conn)?;
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let package_ids = conn
            .rows(
                "SELECT DISTINCT package_id FROM events WHERE seq > ?1 ORDER BY package_id",
                args![after],
            )?
            .iter()
            .map(|row| row.i64(0))
            .collect::<Result<Vec<_>, _>>()?;
        let files = package_ids
            .into_iter()
            .map(|id| Ok((id, snapshot_by_id(conn, id)?)))
            .collect::<Result<Vec<_>, StorageError>>()?;
        found = (last, files);
        Ok(())
    })?;
    Ok(found)
}

impl Storage {
    /// The log's last sequence number, read from the database (so it counts every node's
    /// commits; 0 for an empty log). Fails when the database cannot be reached, which makes
    /// it a readiness probe too.
    pub async fn log_head(&self) -> Result<u64, StorageError> {
        self.read_sql(head).await
    }

    /// Brings this node up to the log's head from position `after`: writes the current index
    /// file of every package an event after `after` touched (committed by any node) into this
    /// node's `index/`, moves [`Storage::watch_log`] to the head and returns the head and the
    /// files. A file that cannot be written is retried in the background like any other.
    pub async fn follow_log(&self, after: u64) -> Result<FollowedLog, StorageError> {
        let (last, files) = self.read_sql(move |conn| read_after(conn, after)).await?;
        let mut followed = Vec::with_capacity(files.len());
        for (package_id, snapshot) in files {
            let seq = snapshot.seq;
            let known = snapshot.clone();
            let projection = self
                .inner
                .projector
                .project(package_id, seq, async move { Ok(known) })
                .await?;
            if projection.write_failed {
                self.inner.dirty.mark(package_id);
            }
            followed.push(snapshot);
        }
        self.announce_committed(last);
        Ok(FollowedLog {
            head: last,
            files: followed,
        })
    }

    /// On PostgreSQL, starts listening for the log's notifications on a connection of its
    /// own (connecting again a second after it drops) and returns what they wake; `None` on
    /// SQLite, where one process serves the data directory. Call it once per storage: each
    /// call opens another listening connection.
    pub fn listen_for_log(&self) -> Option<Arc<Notify>> {
        match &self.inner.pool {
            EnginePool::Sqlite(_) => None,
            EnginePool::Postgres(database) => {
                let wake = Arc::new(Notify::new());
                let woken = Arc::clone(&wake);
                // Each notification, and each (re)connection, wakes the follower: after a
                // lost connection it catches up on what it may have missed.
                database.spawn_listener(LOG_CHANNEL, Arc::new(move |_| woken.notify_one()));
                Some(wake)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use wharf_index_format::{IndexEntry, index_path};
    use wharf_test_support::postgres::PostgresServer;

    use crate::Upload;
    use crate::blobs::sha256_hex;
    use crate::metadata_tests::pg_node;

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

    #[tokio::test(flavor = "multi_thread")]
    async fn a_node_is_woken_by_another_nodes_commit_and_follows_it() {
        let server = PostgresServer::start();
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let a = pg_node(dir_a.path(), &server).await;
        let alice = crate::metadata_tests::storage_user(&a, "alice");
        a.publish(&alice, upload("one", "1.0.0")).await.unwrap();
        let keys = dir_b.path().join("keys");
        std::fs::create_dir_all(&keys).unwrap();
        for entry in std::fs::read_dir(dir_a.path().join("keys")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), keys.join(entry.file_name())).unwrap();
        }
        let b = pg_node(dir_b.path(), &server).await;
        let known = b.log_head().await.unwrap();
        assert_eq!(known, a.log_head().await.unwrap());
        let wake = b.listen_for_log().expect("PostgreSQL has notifications");
        let within = Duration::from_secs(30);
        // The listener wakes once when it starts listening.
        tokio::time::timeout(within, wake.notified()).await.unwrap();

        a.publish(&alice, upload("two", "1.0.0")).await.unwrap();
        a.set_yanked(&alice, "one", "1.0.0", true).await.unwrap();
        tokio::time::timeout(within, wake.notified())
            .await
            .expect("a commit on node A wakes node B");
        let followed = b.follow_log(known).await.unwrap();
        assert_eq!(followed.head, a.log_head().await.unwrap());
        assert_eq!(*b.watch_log().borrow(), followed.head);
        let names: Vec<&str> = followed.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["one", "two"]);
        for file in &followed.files {
            let written =
                std::fs::read(dir_b.path().join("index").join(index_path(&file.name))).unwrap();
            assert_eq!(written, file.bytes);
        }
        assert!(String::from_utf8_lossy(&followed.files[0].bytes).contains("\"yanked\":true"));
        // Nothing new: nothing to follow.
        let again = b.follow_log(followed.head).await.unwrap();
        assert!(again.files.is_empty());
        assert_eq!(again.head, followed.head);
    }
}

//! Keeps SQLite's full-text indexes (`catalogue_fts`, `catalogue_fts_yanked`) in one
//! segment while the writer has nothing queued.
//!
//! Every group commit that changes the catalogue leaves FTS5 a new segment; FTS5's own
//! automerge keeps their number logarithmic (about a dozen at 500 packages), and a prefix
//! query walks every segment, which is most of a search's cost on a small catalogue. The
//! writer thread runs [`SearchIndexCompaction`] between its jobs: FTS5's `merge` command
//! with a negative page count (every segment merged into one, whatever its level), a few
//! pages per step, each step its own short write transaction, until each index holds one
//! segment. The writer starts once its queue has stayed empty a moment, and a job queued
//! meanwhile waits for one step at most, never for a whole compaction. A compaction rewrites the whole
//! index, so one starts only when the releases since the last one reach a thousandth of the
//! packages (at least one): a small catalogue is compacted after every burst of publishes,
//! a catalogue of 50,000 packages after every 50 releases, and no release makes the writer
//! rewrite more than about a thousand packages' text.

use rusqlite::Connection;

use crate::StorageError;
use crate::writer::IdleWork;

/// Pages of merged segment FTS5 writes in one step (FTS5's pages hold about 4 KB).
const STEP_PAGES: i64 = 64;

/// A compaction starts once the releases since the last one reach the packages divided by
/// this.
const PACKAGES_PER_RELEASE: i64 = 1000;

/// The full-text indexes compacted.
const TABLES: [&str; 2] = ["catalogue_fts", "catalogue_fts_yanked"];

/// The writer's idle work on SQLite: compacts the catalogue's full-text indexes.
#[derive(Debug, Default)]
pub(crate) struct SearchIndexCompaction {
    /// The newest version id when the last compaction started (`None`: none since the
    /// writer started, so the first idle moment compacts whatever the index holds).
    compacted_at: Option<i64>,
    /// The newest version id when the running compaction started, if one runs.
    running: Option<i64>,
}

impl SearchIndexCompaction {
    /// Whether enough releases were made since the last compaction to start one, and the
    /// newest version id.
    fn due(&self, conn: &Connection) -> Result<(bool, i64), StorageError> {
        let (newest, packages): (i64, i64) = conn
            .prepare_cached(
                "SELECT (SELECT coalesce(max(id), 0) FROM versions),
                        (SELECT coalesce(max(package_id), 0) FROM catalogue_entries)",
            )?
            .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        let due = self.compacted_at.is_none_or(|last| {
            let releases = newest - last;
            releases > 0 && releases.saturating_mul(PACKAGES_PER_RELEASE) >= packages
        });
        Ok((due, newest))
    }

    /// One bounded merge step of every full-text index, in its own write transaction;
    /// whether it merged anything.
    fn merge_step(conn: &Connection) -> Result<bool, StorageError> {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let mut merged = false;
        let outcome = TABLES
            .iter()
            .try_for_each(|table| {
                let before = conn.total_changes();
                conn.prepare_cached(&format!(
                    "INSERT INTO {table} ({table}, rank) VALUES ('merge', ?1)"
                ))?
                .execute([-STEP_PAGES])?;
                // The command counts one change at most when it merged nothing.
                merged |= conn.total_changes() - before >= 2;
                Ok(())
            })
            .and_then(|()| conn.execute_batch("COMMIT"));
        if outcome.is_err() && !conn.is_autocommit() {
            // Keep the original error; a failed rollback leaves nothing more to do.
            let _ignored = conn.execute_batch("ROLLBACK");
        }
        outcome?;
        Ok(merged)
    }
}

impl IdleWork<Connection> for SearchIndexCompaction {
    fn step(&mut self, conn: &Connection) -> Result<bool, StorageError> {
        let started = if let Some(started) = self.running {
            started
        } else {
            let (due, newest) = self.due(conn)?;
            if !due {
                return Ok(false);
            }
            self.running = Some(newest);
            newest
        };
        let merging = TABLES
            .iter()
            .map(|table| segments(conn, table))
            .try_fold(false, |more, count| {
                Ok::<_, StorageError>(more || count? > 1)
            })?;
        if merging && Self::merge_step(conn)? {
            return Ok(true);
        }
        tracing::debug!(version = started, "full-text index compacted");
        self.running = None;
        self.compacted_at = Some(started);
        Ok(false)
    }
}

/// How many segments the FTS5 index `table` has: the count FTS5 keeps at the start of its
/// structure record (row 10 of `{table}_data`: a 4-byte cookie, an optional 4-byte version
/// marker, then the number of levels and of segments as varints).
pub(crate) fn segments(conn: &Connection, table: &str) -> Result<u64, StorageError> {
    let record: Vec<u8> = conn.query_row(
        &format!("SELECT block FROM {table}_data WHERE id = 10"),
        [],
        |row| row.get(0),
    )?;
    let mut at = 4;
    if record.get(4..8) == Some(&[0xff, 0, 0, 1]) {
        at = 8;
    }
    let _levels = varint(&record, &mut at);
    varint(&record, &mut at).ok_or_else(|| StorageError::Corrupt {
        what: format!("the structure record of the full-text index `{table}`"),
    })
}

/// The SQLite varint at `at` (big-endian groups of 7 bits, the high bit set on every byte
/// but the last, a ninth byte whole), moving `at` past it.
fn varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for _ in 0..8 {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value = (value << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    // The ninth byte holds eight bits.
    let byte = *bytes.get(*at)?;
    *at += 1;
    Some((value << 8) | u64::from(byte))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::catalogue::CatalogueQuery;
    use crate::metadata_tests::{sqlite, storage_upload, storage_user};

    /// The rowids `query` matches in `catalogue_fts`, in rowid order.
    fn matches(conn: &Connection, query: &str) -> Vec<i64> {
        conn.prepare("SELECT rowid FROM catalogue_fts WHERE catalogue_fts MATCH ?1 ORDER BY rowid")
            .unwrap()
            .query_map([query], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn steps_merge_every_segment_into_one_and_keep_the_matches() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::open_connection(&dir.path().join("fts.db")).unwrap();
        crate::db::migrate(&mut conn).unwrap();
        for id in 1..=12 {
            let words = if id % 3 == 0 {
                "retry queue"
            } else {
                "http client"
            };
            conn.execute(
                "INSERT INTO catalogue_fts (rowid, name, description, keywords, readme)
                 VALUES (?1, ?2, ?3, '', 'a readme')",
                rusqlite::params![id, format!("package-{id}"), words],
            )
            .unwrap();
        }
        let before = segments(&conn, "catalogue_fts").unwrap();
        assert!(
            before > 1,
            "one write transaction per row leaves {before} segments"
        );
        let found = matches(&conn, "\"retr\"*");
        assert_eq!(found, [3, 6, 9, 12]);

        let mut compaction = SearchIndexCompaction::default();
        let mut steps = 0;
        while compaction.step(&conn).unwrap() {
            steps += 1;
            assert!(steps < 100, "the compaction ends");
        }
        assert_eq!(segments(&conn, "catalogue_fts").unwrap(), 1);
        assert_eq!(matches(&conn, "\"retr\"*"), found);
        assert_eq!(matches(&conn, "{name}: \"package\"*").len(), 12);

        // With no release since, the next idle moment leaves the new segment alone.
        conn.execute(
            "INSERT INTO catalogue_fts (rowid, name, description, keywords, readme)
             VALUES (13, 'late', 'retry', '', '')",
            [],
        )
        .unwrap();
        assert!(!compaction.step(&conn).unwrap());
        assert_eq!(segments(&conn, "catalogue_fts").unwrap(), 2);
    }

    #[tokio::test]
    async fn the_writer_compacts_the_index_once_publishes_stop() {
        let db = sqlite();
        let storage = db.storage().await;
        let who = storage_user(&storage, "alice");
        // One publish at a time: a group commit, and a new segment, each.
        for n in 0..12 {
            storage
                .publish(&who, storage_upload(&format!("retry-{n}"), "1.0.0"))
                .await
                .unwrap();
        }
        let mut waited = Duration::ZERO;
        while storage.catalogue_index_segments().await.unwrap() != Some(1) {
            assert!(waited < Duration::from_secs(20), "the index is compacted");
            tokio::time::sleep(Duration::from_millis(20)).await;
            waited += Duration::from_millis(20);
        }
        let page = storage
            .catalogue_search(CatalogueQuery {
                text: "retry".to_owned(),
                ..CatalogueQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(page.total, 12);
    }
}

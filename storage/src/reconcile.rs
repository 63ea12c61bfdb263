//! Repairing and checking the projections: `reconcile` rewrites index files that lag the log
//! or differ from the database; `verify` lists every inconsistency without changing anything.

use std::collections::{HashMap, HashSet};

use crate::sql::{Sql, args};
use futures::{StreamExt, TryStreamExt, stream};
use wharf_index_format::IndexFile;

use crate::blobs::{blob_key, check_blob, list_blobs};
use crate::index_files::Ensured;
use crate::queries::{all_snapshots, snapshot_by_id};
use crate::storage::now_unix;
use crate::write_ops::record_index_file;
use crate::{IndexFileSnapshot, ReconcileReport, Storage, StorageError, VerifyReport};

/// How many object-store requests reconcile and verify keep in flight.
const CONCURRENCY: usize = 16;

/// The database's view of every index file plus the recorded log position of each.
struct Expected {
    files: Vec<(i64, IndexFileSnapshot)>,
    recorded: HashMap<i64, (u64, String)>,
}

fn read_expected(conn: &dyn Sql) -> Result<Expected, StorageError> {
    let mut expected = None;
    conn.consistent_read(&mut || {
        let files = all_snapshots(conn)?;
        let recorded = conn
            .rows("SELECT package_id, seq, sha256 FROM index_files", args![])?
            .iter()
            .map(|row| {
                Ok((
                    row.i64(0)?,
                    (
                        u64::try_from(row.i64(1)?).unwrap_or_default(),
                        row.string(2)?,
                    ),
                ))
            })
            .collect::<Result<HashMap<_, _>, StorageError>>()?;
        expected = Some(Expected { files, recorded });
        Ok(())
    })?;
    expected.ok_or_else(|| StorageError::Corrupt {
        what: "the index-file records were not read".to_owned(),
    })
}

fn latest_seq(conn: &dyn Sql, package_id: i64) -> Result<u64, StorageError> {
    let seq = conn
        .row(
            "SELECT max(seq) FROM events WHERE package_id = ?1",
            args![package_id],
        )?
        .map(|row| row.opt_i64(0))
        .transpose()?
        .flatten();
    Ok(seq.and_then(|s| u64::try_from(s).ok()).unwrap_or_default())
}

fn version_blobs(conn: &dyn Sql) -> Result<Vec<(String, String, String)>, StorageError> {
    conn.rows(
        "SELECT p.name, v.version, v.cksum FROM versions v JOIN packages p ON p.id = v.package_id
         ORDER BY v.id",
        args![],
    )?
    .iter()
    .map(|row| Ok((row.string(0)?, row.string(1)?, row.string(2)?)))
    .collect()
}

impl Storage {
    /// Rewrites every index file whose recorded log position lags the package's latest
    /// event, or whose stored bytes differ from the database, and records what each file
    /// now reflects. Also runs at [`Storage::open`].
    #[tracing::instrument(skip_all)]
    pub async fn reconcile(&self) -> Result<ReconcileReport, StorageError> {
        // Wait for index files still being written and for the records already queued by
        // earlier writes, so a file this process just wrote does not look lagging.
        self.settle().await;
        self.inner.writer.run_sql(|_| Ok(())).await?;
        let Expected { files, recorded } = self.read_sql(|conn| read_expected(conn)).await?;
        let checked = files.len();
        let outcomes: Vec<_> = stream::iter(files)
            .map(|(package_id, snapshot)| {
                let lagging = recorded
                    .get(&package_id)
                    .is_none_or(|(seq, _)| *seq < snapshot.seq);
                self.ensure_current(package_id, snapshot, lagging)
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        let mut rebuilt = Vec::new();
        let mut records = Vec::new();
        for (package_id, snapshot, ensured) in outcomes {
            let sha256 = match ensured {
                Ensured::Rebuilt { sha256 } => {
                    tracing::info!(package = %snapshot.name, seq = snapshot.seq, "index file rebuilt");
                    rebuilt.push(snapshot.name.clone());
                    sha256
                }
                Ensured::Unchanged { sha256 } => sha256,
                Ensured::Superseded => continue,
            };
            let up_to_date = recorded
                .get(&package_id)
                .is_some_and(|(seq, sha)| *seq == snapshot.seq && *sha == sha256);
            if !up_to_date {
                records.push((package_id, snapshot.seq, sha256));
            }
        }
        if !records.is_empty() {
            self.inner
                .writer
                .run_sql(move |conn| {
                    let now = now_unix();
                    for (package_id, seq, sha256) in &records {
                        record_index_file(conn, *package_id, *seq, sha256, now)?;
                    }
                    Ok(())
                })
                .await?;
        }
        rebuilt.sort();
        // Usage metering is not on PostgreSQL (no plan can be set there).
        if !self.on_postgres() {
            self.recount_usage().await?;
        }
        Ok(ReconcileReport { checked, rebuilt })
    }

    /// Ensures one package's file equals `snapshot`. After a rewrite it confirms that the
    /// log has not moved past the snapshot meanwhile: another process (or a publish racing
    /// with this reconcile) may have committed and written a newer file that this write
    /// just replaced, so in that case it reloads and writes again.
    async fn ensure_current(
        &self,
        package_id: i64,
        mut snapshot: IndexFileSnapshot,
        mut force: bool,
    ) -> Result<(i64, IndexFileSnapshot, Ensured), StorageError> {
        loop {
            let ensured = self
                .inner
                .projector
                .ensure(package_id, &snapshot, force)
                .await?;
            if !matches!(ensured, Ensured::Rebuilt { .. }) {
                return Ok((package_id, snapshot, ensured));
            }
            let latest = self
                .read_sql(move |conn| latest_seq(conn, package_id))
                .await?;
            if latest <= snapshot.seq {
                return Ok((package_id, snapshot, ensured));
            }
            snapshot = self
                .read_sql(move |conn| snapshot_by_id(conn, package_id))
                .await?;
            force = true;
        }
    }

    /// Checks, without changing anything, that every index file equals what the database
    /// says, that every stored line round-trips through cargo's schema byte for byte, that
    /// every blob's SHA-256 equals its key, and that every version's blob exists.
    #[tracing::instrument(skip_all)]
    pub async fn verify(&self) -> Result<VerifyReport, StorageError> {
        self.settle().await;
        self.inner.writer.run_sql(|_| Ok(())).await?;
        let keys = self.inner.keys.current();
        let (expected, versions, log_problems) = self
            .read_sql(move |conn| {
                let mut log_problems = Vec::new();
                conn.consistent_read(&mut || {
                    log_problems = crate::log_verify::verify_log(conn, &keys)?;
                    Ok(())
                })?;
                Ok((read_expected(conn)?, version_blobs(conn)?, log_problems))
            })
            .await?;
        let mut problems = log_problems;
        let index_files = expected.files.len();
        let projector = &self.inner.projector;
        let stored: Vec<_> = stream::iter(&expected.files)
            .map(|(_, snapshot)| async move {
                Ok::<_, StorageError>((snapshot, projector.read(&snapshot.path).await?))
            })
            .buffered(CONCURRENCY)
            .try_collect()
            .await?;
        for (snapshot, bytes) in stored {
            let text = String::from_utf8_lossy(&snapshot.bytes);
            let (parsed, errors) = IndexFile::parse_lenient(&text);
            if !errors.is_empty() || parsed.to_bytes() != snapshot.bytes {
                problems.push(format!(
                    "index lines of `{}` in the database do not round-trip through cargo's schema",
                    snapshot.name
                ));
            }
            match bytes {
                None => problems.push(format!(
                    "index file `{}` of `{}` is missing",
                    snapshot.path, snapshot.name
                )),
                Some(bytes) if bytes != snapshot.bytes => problems.push(format!(
                    "index file `{}` of `{}` differs from the database ({} bytes stored, {} expected at seq {})",
                    snapshot.path,
                    snapshot.name,
                    bytes.len(),
                    snapshot.bytes.len(),
                    snapshot.seq
                )),
                Some(_) => {}
            }
        }
        let store = self.inner.stores.blobs.as_ref();
        let keys = list_blobs(store).await?;
        let blobs = keys.len();
        let blob_problems: Vec<Option<String>> = stream::iter(&keys)
            .map(|key| check_blob(store, key))
            .buffered(CONCURRENCY)
            .try_collect()
            .await?;
        problems.extend(blob_problems.into_iter().flatten());
        let present: HashSet<_> = keys.into_iter().collect();
        for (name, version, cksum) in versions {
            if blob_key(&cksum).is_none_or(|key| !present.contains(&key)) {
                problems.push(format!(
                    "crate `{name}` version `{version}` has no blob `{cksum}`"
                ));
            }
        }
        Ok(VerifyReport {
            problems,
            index_files,
            blobs,
        })
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use wharf_index_format::IndexEntry;

    use super::*;
    use crate::blobs::sha256_hex;
    use crate::{BlobBackend, StorageConfig, Upload};

    async fn open(dir: &std::path::Path) -> Storage {
        Storage::open(StorageConfig {
            data_dir: dir.into(),
            blobs: BlobBackend::Local,
        })
        .await
        .unwrap()
    }

    fn upload(version: &str) -> Upload {
        let bytes = Bytes::from(format!("race {version}"));
        let line = format!(
            r#"{{"name":"race","vers":"{version}","deps":[],"cksum":"{}"}}"#,
            sha256_hex(&bytes)
        );
        Upload {
            entry: IndexEntry::from_line(&line).unwrap(),
            crate_bytes: bytes,
            metadata: wharf_index_format::PackageMetadata::default(),
        }
    }

    #[tokio::test]
    async fn a_stale_rewrite_from_another_process_is_corrected() {
        let dir = tempfile::tempdir().unwrap();
        let server = open(dir.path()).await;
        let who = crate::metadata_tests::storage_user(&server, "alice");
        server.publish(&who, upload("1.0.0")).await.unwrap();
        // A second process opens the same data and reads the state at seq 1 ...
        let other = open(dir.path()).await;
        let stale = other.all_index_files().await.unwrap().remove(0);
        // ... the server publishes again and writes the file at seq 2 ...
        let current = server.publish(&who, upload("2.0.0")).await.unwrap();
        // ... and the other process then writes its stale state over it.
        let (_, snapshot, ensured) = other.ensure_current(1, stale, true).await.unwrap();
        assert!(matches!(ensured, Ensured::Rebuilt { .. }));
        assert_eq!(snapshot, current.index_file);
        let on_disk = std::fs::read(dir.path().join("index/ra/ce/race")).unwrap();
        assert_eq!(on_disk, current.index_file.bytes);
    }
}

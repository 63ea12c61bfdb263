//! [`Storage`]'s reads of the transparency log: the newest signed checkpoint, inclusion
//! and consistency proofs, pages of leaves, the keyset chain and signed timestamps. Each
//! read runs in one read transaction, so what it combines comes from one state of the log.

use std::time::Duration;

use wharf_trust::{Checkpoint, ConsistencyProof, InclusionProof, PublicKey, Snapshot, Timestamp};

use crate::sql::Sql;
use crate::{Storage, StorageError, log, queries};

/// One leaf of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLeaf {
    /// Its position (0 for the first event).
    pub index: u64,
    /// The exact leaf bytes (a `wharf-trust` log event, ASCII text).
    pub bytes: Vec<u8>,
}

/// A signed timestamp and the tree size it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTimestamp {
    /// The signed note.
    pub note: String,
    /// The tree size of the checkpoint it binds.
    pub tree_size: u64,
    /// The snapshot of the index files it binds (its bins are served beside it).
    pub snapshot: Snapshot,
}

impl Storage {
    async fn read_log<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        F: FnOnce(&dyn Sql) -> Result<T, StorageError> + Send + 'static,
        T: Send + 'static,
    {
        self.read_sql(move |conn| {
            let mut work = Some(work);
            let mut result = None;
            conn.consistent_read(&mut || {
                if let Some(work) = work.take() {
                    result = Some(work(conn)?);
                }
                Ok(())
            })?;
            result.ok_or_else(|| StorageError::Corrupt {
                what: "a log read did not run".to_owned(),
            })
        })
        .await
    }

    /// The registry's origin, the name inside every signed document (a keyset rotation
    /// keeps it).
    pub fn log_origin(&self) -> &str {
        self.inner.keys.origin()
    }

    /// The root public key clients pin (the newest keyset's).
    pub fn root_key(&self) -> PublicKey {
        *self.inner.keys.current().root()
    }

    /// Every signed keyset note, version 1 first: the chain as installed now, a keyset
    /// installed while the registry runs included.
    pub fn keyset_chain(&self) -> Vec<String> {
        self.inner.keys.current().chain().to_vec()
    }

    /// The version of the newest keyset (signed documents cached by the server are signed
    /// again when it changes).
    pub fn keyset_version(&self) -> u64 {
        self.inner.keys.current().keyset().version()
    }

    /// The newest signed checkpoint (a signed note); the log always has one.
    pub async fn log_checkpoint(&self) -> Result<String, StorageError> {
        self.read_log(|conn| {
            log::latest_checkpoint(conn)?
                .map(|(_, note)| note)
                .ok_or_else(|| StorageError::Corrupt {
                    what: "the log has no signed checkpoint".to_owned(),
                })
        })
        .await
    }

    /// The number of leaves in the log.
    pub async fn log_size(&self) -> Result<u64, StorageError> {
        self.read_log(|conn| log::size(conn)).await
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves; a size beyond the
    /// newest checkpoint is [`StorageError::LogRange`].
    pub async fn log_inclusion_proof(
        &self,
        index: u64,
        size: u64,
    ) -> Result<InclusionProof, StorageError> {
        self.read_log(move |conn| log::inclusion_proof(conn, index, size))
            .await
    }

    /// The consistency proof from the tree of `from` leaves to that of `to` leaves.
    pub async fn log_consistency_proof(
        &self,
        from: u64,
        to: u64,
    ) -> Result<ConsistencyProof, StorageError> {
        self.read_log(move |conn| log::consistency_proof(conn, from, to))
            .await
    }

    /// The leaves `start..end`, at most [`crate::MAX_LEAVES_PER_PAGE`] of them.
    pub async fn log_leaves(&self, start: u64, end: u64) -> Result<Vec<LogLeaf>, StorageError> {
        self.read_log(move |conn| {
            Ok(log::leaves(conn, start, end)?
                .into_iter()
                .map(|(index, bytes)| LogLeaf { index, bytes })
                .collect())
        })
        .await
    }

    /// Signs a timestamp binding the newest checkpoint to the snapshot of every index file
    /// as the database holds them, valid for `validity` from now.
    pub async fn sign_timestamp(
        &self,
        validity: Duration,
    ) -> Result<SignedTimestamp, StorageError> {
        let keys = self.inner.keys.signing()?;
        let (note, files) = self
            .read_log(|conn| {
                let (_, note) =
                    log::latest_checkpoint(conn)?.ok_or_else(|| StorageError::Corrupt {
                        what: "the log has no signed checkpoint".to_owned(),
                    })?;
                Ok((note, queries::all_snapshots(conn)?))
            })
            .await?;
        tokio::task::spawn_blocking(move || {
            let checkpoint = Checkpoint::open(
                note.as_bytes(),
                &keys.keyset().note_key(wharf_trust::KeyRole::Log),
            )?;
            let snapshot =
                Snapshot::from_files(files.iter().map(|(_, file)| {
                    (file.path.as_str(), wharf_trust::Hash::sha256(&file.bytes))
                }))?;
            let issued = wharf_trust::UtcTime::now();
            let seconds = i64::try_from(validity.as_secs()).unwrap_or(i64::MAX).max(1);
            let timestamp = Timestamp::new(
                &checkpoint,
                snapshot.hash(),
                issued,
                issued.plus_seconds(seconds),
            )?;
            Ok(SignedTimestamp {
                note: timestamp.sign(keys.timestamp_key())?,
                tree_size: checkpoint.size(),
                snapshot,
            })
        })
        .await?
    }
}

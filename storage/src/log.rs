//! The transparency log (on SQLite or PostgreSQL): every event of the `events` table becomes a leaf of an
//! RFC 6962 Merkle tree in the same transaction, with the complete-subtree hashes
//! `wharf-trust` needs (`log_nodes`) and a checkpoint signed by the log key for every new
//! size (`log_checkpoints`).
//!
//! Leaves are appended by [`append_pending`], which every write job calls at its end (inside
//! its savepoint): it logs each event not yet logged, in `seq` order, so a refused write
//! (rolled back to its savepoint) leaves no leaf, and a crash leaves the events, leaves,
//! subtree hashes and latest checkpoint of the last commit, all agreeing. Signing a
//! checkpoint per write job costs one ed25519 signature and a few dozen row reads, small
//! next to the commit's fsync, and keeps the newest checkpoint always equal to the tree.
//!
//! A leaf is a `wharf-trust` [`LogEvent`]: for an unsigned event, the registry's statement
//! about it (its `time` and the envelope's `logged` are both the event's time) signed by the
//! release key; for a signed release or a key binding, the publisher's statement byte for
//! byte with the publisher's signatures (kept in the event's payload), a release also
//! countersigned by the release key. A release statement's `entry` is
//! the SHA-256 of the version's index line as first published: the stored line with
//! `"yanked":false`, without its LF.

use crate::sql::{Sql, SqlValue, args};
use wharf_index_format::IndexEntry;
use wharf_trust::merkle::{self, HashStore, nodes_completed_by};
use wharf_trust::{
    Checkpoint, ConsistencyProof, Hash, InclusionProof, LogEvent, PublicKey, Statement,
    StatementBody, StatementSignature, TrustError, UtcTime,
};

use crate::StorageError;
use crate::registry_keys::RegistryKeys;

/// Most leaves one [`crate::Storage::log_leaves`] call returns.
pub const MAX_LEAVES_PER_PAGE: u64 = 256;

/// The log tables (a migration of `db.rs`).
pub(crate) const MIGRATION: &str = r"
CREATE TABLE log_leaves (
    idx         INTEGER PRIMARY KEY,
    event_seq   INTEGER NOT NULL UNIQUE REFERENCES events(seq),
    leaf        BLOB NOT NULL,
    leaf_hash   BLOB NOT NULL
);
CREATE TABLE log_nodes (
    level  INTEGER NOT NULL,
    idx    INTEGER NOT NULL,
    hash   BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE log_checkpoints (
    size       INTEGER PRIMARY KEY,
    root       BLOB NOT NULL,
    note       TEXT NOT NULL,
    signed_at  INTEGER NOT NULL
);
CREATE TRIGGER log_leaves_are_never_updated BEFORE UPDATE ON log_leaves
BEGIN SELECT RAISE(ABORT, 'the transparency log is append-only'); END;
CREATE TRIGGER log_leaves_are_never_deleted BEFORE DELETE ON log_leaves
BEGIN SELECT RAISE(ABORT, 'the transparency log is append-only'); END;
CREATE TRIGGER log_nodes_are_never_updated BEFORE UPDATE ON log_nodes
BEGIN SELECT RAISE(ABORT, 'the transparency log is append-only'); END;
CREATE TRIGGER log_nodes_are_never_deleted BEFORE DELETE ON log_nodes
BEGIN SELECT RAISE(ABORT, 'the transparency log is append-only'); END;
";

/// The complete-subtree hashes of the log, read from `log_nodes`.
#[derive(Clone, Copy)]
pub(crate) struct LogHashStore<'a> {
    conn: &'a dyn Sql,
}

impl<'a> LogHashStore<'a> {
    /// The store over `conn` (inside a transaction, the tree that transaction sees).
    pub(crate) fn new(conn: &'a dyn Sql) -> Self {
        Self { conn }
    }
}

impl HashStore for LogHashStore<'_> {
    type Error = StorageError;

    fn node(&self, level: u8, index: u64) -> Result<Hash, StorageError> {
        let hash = self
            .conn
            .row(
                "SELECT hash FROM log_nodes WHERE level = ?1 AND idx = ?2",
                args![level, sql_i64(index)],
            )?
            .map(|row| row.bytes(0))
            .transpose()?;
        let hash = hash.ok_or(TrustError::MissingNode { level, index })?;
        to_hash(&hash, &format!("log node ({level}, {index})"))
    }
}

fn sql_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_hash(bytes: &[u8], what: &str) -> Result<Hash, StorageError> {
    <[u8; 32]>::try_from(bytes)
        .map(Hash)
        .map_err(|_| StorageError::Corrupt {
            what: format!("{what} is {} bytes, not 32", bytes.len()),
        })
}

/// The leaf of event `seq`, when it is logged.
pub(crate) fn leaf_of_event(conn: &dyn Sql, seq: u64) -> Result<Option<u64>, StorageError> {
    let leaf = conn
        .row(
            "SELECT idx FROM log_leaves WHERE event_seq = ?1",
            args![sql_i64(seq)],
        )?
        .map(|row| row.i64(0))
        .transpose()?;
    Ok(leaf.and_then(|leaf| u64::try_from(leaf).ok()))
}

/// The number of leaves in the log.
pub(crate) fn size(conn: &dyn Sql) -> Result<u64, StorageError> {
    let size = conn.one_i64("SELECT coalesce(max(idx) + 1, 0) FROM log_leaves", args![])?;
    Ok(u64::try_from(size).unwrap_or_default())
}

/// The field Wharf adds to each index line, `"wharf":{"leaf":N}`: the index of the
/// version's release leaf, so a client finds the leaf (and asks for its inclusion proof)
/// from the line. Cargo ignores fields it does not know.
pub const LINE_FIELD: &str = "wharf";

/// Sets the line field naming release leaf `leaf` in `entry`.
pub(crate) fn set_leaf(entry: &mut IndexEntry, leaf: u64) {
    entry
        .extensions
        .insert(LINE_FIELD.to_owned(), serde_json::json!({ "leaf": leaf }));
}

/// The statement that adds the line field to the stored line of a version whose release is
/// leaf `leaf` (`None` when the stored line does not parse).
fn tag_line(
    conn: &dyn Sql,
    package_id: i64,
    version: &str,
    leaf: u64,
) -> Result<Option<(&'static str, Vec<SqlValue>)>, StorageError> {
    let line = conn
        .row(
            "SELECT line FROM versions WHERE package_id = ?1 AND version = ?2",
            args![package_id, version],
        )?
        .map(|row| row.string(0))
        .transpose()?;
    let Some(Ok(mut entry)) = line.as_deref().map(IndexEntry::from_line) else {
        tracing::warn!(
            version,
            "a stored index line does not parse; it gets no leaf field"
        );
        return Ok(None);
    };
    set_leaf(&mut entry, leaf);
    Ok(Some((
        "UPDATE versions SET line = ?3 WHERE package_id = ?1 AND version = ?2",
        args![package_id, version, entry.to_line()].to_vec(),
    )))
}

/// The index line as first published: the stored line with `"yanked":false` and without
/// the [`LINE_FIELD`] (yanking changes only `yanked`; the field is added after the
/// release is logged). A release is logged in its publish's transaction, when the
/// stored line is that line already; a line that does not parse is taken as it is.
pub(crate) fn published_line(line: &str) -> String {
    match IndexEntry::from_line(line) {
        Ok(mut entry) => {
            entry.yanked = false;
            entry.extensions.remove(LINE_FIELD);
            entry.to_line()
        }
        Err(error) => {
            tracing::warn!(%error, line, "a stored index line does not parse; its release is logged as stored");
            line.to_owned()
        }
    }
}

/// One event row, as the log needs it.
struct EventRow {
    seq: i64,
    kind: String,
    package_id: i64,
    package: String,
    version: Option<String>,
    time: i64,
    payload: String,
}

/// The leaf bytes of one event.
fn leaf_of(conn: &dyn Sql, keys: &RegistryKeys, event: &EventRow) -> Result<Vec<u8>, StorageError> {
    let corrupt = |what: &str| StorageError::Corrupt {
        what: format!("event `{}` ({}): {what}", event.seq, event.kind),
    };
    let version = || {
        event
            .version
            .clone()
            .ok_or_else(|| corrupt("has no version"))
    };
    let payload: serde_json::Value =
        serde_json::from_str(&event.payload).map_err(|e| corrupt(&e.to_string()))?;
    let owner = || -> Result<String, StorageError> {
        payload["login"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| corrupt("names no login"))
    };
    let time = UtcTime::from_unix(event.time)?;
    if let Some(statement) = payload.get("statement").and_then(serde_json::Value::as_str) {
        // A publisher's statement: logged byte for byte with the publisher's signatures, a
        // release countersigned by the registry.
        let statement = Statement::parse(statement.as_bytes())?;
        let mut signatures = payload["signatures"]
            .as_array()
            .ok_or_else(|| corrupt("has a statement but no signatures"))?
            .iter()
            .map(|signature| {
                signature
                    .as_str()
                    .ok_or_else(|| corrupt("has a signature that is not a string"))
                    .and_then(|text| Ok(StatementSignature::parse(text)?))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if event.kind == "release" {
            signatures.push(statement.sign(keys.release_key()));
        }
        return Ok(LogEvent::new(statement, time, signatures)?.to_bytes());
    }
    let body = match event.kind.as_str() {
        "owner_key_revoke" => StatementBody::OwnerKeyRevoke {
            key: PublicKey::parse(
                payload["key"]
                    .as_str()
                    .ok_or_else(|| corrupt("names no key"))?,
            )?,
            compromised_since: payload["compromised_since"]
                .as_i64()
                .map(UtcTime::from_unix)
                .transpose()?,
        },
        "release" => {
            let version = version()?;
            let row = conn
                .row(
                    "SELECT line, cksum FROM versions WHERE package_id = ?1 AND version = ?2",
                    args![event.package_id, &version],
                )?
                .ok_or_else(|| corrupt("its version row is missing"))?;
            let (line, cksum) = (row.string(0)?, row.string(1)?);
            StatementBody::Release {
                entry: Hash::sha256(published_line(&line).as_bytes()),
                cksum: Hash::from_hex(&cksum, "version cksum")?,
                version,
            }
        }
        "yank" => StatementBody::Yank {
            version: version()?,
        },
        "unyank" => StatementBody::Unyank {
            version: version()?,
        },
        "owner_add" => StatementBody::OwnerAdd { owner: owner()? },
        "deprecate" => StatementBody::Deprecate {
            version: event.version.clone(),
            successor: payload["successor"].as_str().map(str::to_owned),
            message: Hash::sha256(
                payload["message"]
                    .as_str()
                    .ok_or_else(|| corrupt("has no message"))?
                    .as_bytes(),
            ),
        },
        "undeprecate" => StatementBody::Undeprecate {
            version: event.version.clone(),
        },
        "owner_remove" => StatementBody::OwnerRemove { owner: owner()? },
        other => return Err(corrupt(&format!("unknown kind `{other}`"))),
    };
    let statement = Statement::new(keys.origin(), &event.package, body, time)?;
    let signature = statement.sign(keys.release_key());
    Ok(LogEvent::new(statement, time, vec![signature])?.to_bytes())
}

/// Appends a leaf for every event not yet in the log, in `seq` order, and signs a
/// checkpoint for the new size; returns the log's size. Runs inside the caller's
/// transaction.
pub(crate) fn append_pending(conn: &dyn Sql, keys: &RegistryKeys) -> Result<u64, StorageError> {
    let (size, last_logged) = conn
        .row(
            "SELECT coalesce(max(idx) + 1, 0), coalesce(max(event_seq), 0) FROM log_leaves",
            args![],
        )?
        .map_or(Ok((0, 0)), |row| {
            Ok::<_, StorageError>((row.i64(0)?, row.i64(1)?))
        })?;
    let mut size = u64::try_from(size).unwrap_or_default();
    let events = conn
        .rows(
            "SELECT e.seq, e.kind, e.package_id, p.name, e.version, e.time, e.payload
             FROM events e JOIN packages p ON p.id = e.package_id
             WHERE e.seq > ?1 ORDER BY e.seq",
            args![last_logged],
        )?
        .iter()
        .map(|row| {
            Ok(EventRow {
                seq: row.i64(0)?,
                kind: row.string(1)?,
                package_id: row.i64(2)?,
                package: row.string(3)?,
                version: row.opt_string(4)?,
                time: row.i64(5)?,
                payload: row.string(6)?,
            })
        })
        .collect::<Result<Vec<_>, StorageError>>()?;
    let grew = !events.is_empty();
    for event in events {
        let leaf = leaf_of(conn, keys, &event)?;
        let hash = merkle::leaf_hash(&leaf);
        let nodes = nodes_completed_by(&LogHashStore::new(conn), size, hash)?;
        // The leaf, its line's tag and the tree nodes it completes: sent together.
        let mut writes = vec![(
            "INSERT INTO log_leaves (idx, event_seq, leaf, leaf_hash) VALUES (?1, ?2, ?3, ?4)",
            args![sql_i64(size), event.seq, leaf, hash.0.as_slice()].to_vec(),
        )];
        if event.kind == "release"
            && let Some(version) = &event.version
        {
            writes.extend(tag_line(conn, event.package_id, version, size)?);
        }
        writes.extend(nodes.into_iter().map(|node| {
            (
                "INSERT INTO log_nodes (level, idx, hash) VALUES (?1, ?2, ?3)",
                args![node.level, sql_i64(node.index), node.hash.0.as_slice()].to_vec(),
            )
        }));
        conn.pipeline(&writes)?;
        size += 1;
    }
    // A grown log needs a new checkpoint; otherwise only a missing one is signed.
    if grew
        || !conn.exists(
            "SELECT 1 FROM log_checkpoints WHERE size = ?1",
            args![sql_i64(size)],
        )?
    {
        sign_checkpoint(conn, keys, size)?;
    }
    Ok(size)
}

/// Signs and stores the checkpoint of the first `size` leaves.
fn sign_checkpoint(conn: &dyn Sql, keys: &RegistryKeys, size: u64) -> Result<(), StorageError> {
    let root = merkle::root(&LogHashStore::new(conn), size)?;
    let note = Checkpoint::new(keys.origin(), size, root)?.sign(keys.log_key())?;
    conn.exec(
        "INSERT INTO log_checkpoints (size, root, note, signed_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (size) DO NOTHING",
        args![
            sql_i64(size),
            root.0.as_slice(),
            note,
            crate::storage::now_unix()
        ],
    )?;
    Ok(())
}

/// The newest signed checkpoint: its size and note text.
pub(crate) fn latest_checkpoint(conn: &dyn Sql) -> Result<Option<(u64, String)>, StorageError> {
    conn.row(
        "SELECT size, note FROM log_checkpoints ORDER BY size DESC LIMIT 1",
        args![],
    )?
    .map(|row| {
        Ok((
            u64::try_from(row.i64(0)?).unwrap_or_default(),
            row.string(1)?,
        ))
    })
    .transpose()
}

/// Refuses a tree size beyond the newest checkpoint, so every proof is for a signed size.
fn check_size(conn: &dyn Sql, what: &str, size: u64) -> Result<(), StorageError> {
    let signed = latest_checkpoint(conn)?.map_or(0, |(size, _)| size);
    if size > signed {
        return Err(StorageError::LogRange {
            reason: format!(
                "`{what}={size}` is beyond the log's newest checkpoint of size {signed}; ask for a size up to {signed} (GET /api/wharf/v1/log/checkpoint)"
            ),
        });
    }
    Ok(())
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves.
pub(crate) fn inclusion_proof(
    conn: &dyn Sql,
    index: u64,
    size: u64,
) -> Result<InclusionProof, StorageError> {
    check_size(conn, "size", size)?;
    if index >= size {
        return Err(StorageError::LogRange {
            reason: format!(
                "`index={index}` is not a leaf of a tree of size {size}; ask for an index below the size"
            ),
        });
    }
    merkle::proof::prove_inclusion(&LogHashStore::new(conn), index, size)
}

/// The consistency proof from the tree of `from` leaves to the tree of `to` leaves.
pub(crate) fn consistency_proof(
    conn: &dyn Sql,
    from: u64,
    to: u64,
) -> Result<ConsistencyProof, StorageError> {
    check_size(conn, "to", to)?;
    if from > to {
        return Err(StorageError::LogRange {
            reason: format!(
                "`from={from}` is larger than `to={to}`; a consistency proof goes from an older (smaller) tree to a newer one"
            ),
        });
    }
    if from == 0 {
        // Every tree extends the empty one; a client needs no proof for that.
        return Ok(ConsistencyProof::new(Vec::new()));
    }
    merkle::proof::prove_consistency(&LogHashStore::new(conn), from, to)
}

/// The leaves `start..end` (at most [`MAX_LEAVES_PER_PAGE`], fewer at the log's end), each
/// with its index.
pub(crate) fn leaves(
    conn: &dyn Sql,
    start: u64,
    end: u64,
) -> Result<Vec<(u64, Vec<u8>)>, StorageError> {
    if end <= start {
        return Err(StorageError::LogRange {
            reason: format!(
                "`start={start}` is not below `end={end}`; ask for leaves start..end with start < end"
            ),
        });
    }
    let end = end.min(start.saturating_add(MAX_LEAVES_PER_PAGE));
    conn.rows(
        "SELECT idx, leaf FROM log_leaves WHERE idx >= ?1 AND idx < ?2 ORDER BY idx",
        args![sql_i64(start), sql_i64(end)],
    )?
    .iter()
    .map(|row| {
        Ok((
            u64::try_from(row.i64(0)?).unwrap_or_default(),
            row.bytes(1)?,
        ))
    })
    .collect()
}

//! Checks the transparency log against itself and the event log: each leaf hash recomputed
//! from its bytes and equal to the subtree table's level-0 hash, every complete subtree
//! equal to the hash of its two children, the newest checkpoint's signature, size and root
//! equal to the tree's, every event logged once in `seq` order, and every version's
//! release leaf naming its `.crate` hash and its index line as published.

use wharf_trust::merkle::{self, HashStore, node_hash};
use wharf_trust::{Checkpoint, Hash, KeyRole, LogEvent, StatementBody};

use crate::StorageError;
use crate::log::{LogHashStore, latest_checkpoint, published_line, size};
use crate::registry_keys::RegistryKeys;
use crate::sql::{Sql, args};

/// Leaves read per query while checking (the leaves are read a page at a time).
const LEAVES_PER_READ: i64 = 4096;

/// Every inconsistency of the log, one sentence each.
pub(crate) fn verify_log(conn: &dyn Sql, keys: &RegistryKeys) -> Result<Vec<String>, StorageError> {
    let mut problems = Vec::new();
    let size = size(conn)?;
    let mut expected_index = 0u64;
    let mut last_seq = 0i64;
    let store = LogHashStore::new(conn);
    let mut next_index = -1_i64;
    loop {
        let page = conn.rows(
            "SELECT idx, event_seq, leaf, leaf_hash FROM log_leaves WHERE idx > ?1
             ORDER BY idx LIMIT ?2",
            args![next_index, LEAVES_PER_READ],
        )?;
        let Some(last) = page.last() else { break };
        next_index = last.i64(0)?;
        for row in &page {
            check_leaf(
                row,
                &store,
                &mut expected_index,
                &mut last_seq,
                &mut problems,
            )?;
        }
    }
    // Every complete subtree must be the hash of its two halves.
    for row in conn.rows(
        "SELECT level, idx, hash FROM log_nodes WHERE level > 0",
        args![],
    )? {
        let (level, index, hash) = (row.i64(0)?, row.i64(1)?, row.bytes(2)?);
        let level = u8::try_from(level).unwrap_or(u8::MAX);
        let index = u64::try_from(index).unwrap_or_default();
        let combined = store
            .node(level - 1, 2 * index)
            .and_then(|left| Ok(node_hash(&left, &store.node(level - 1, 2 * index + 1)?)));
        if !combined.is_ok_and(|combined| combined.0.as_slice() == hash.as_slice()) {
            problems.push(format!(
                "log subtree ({level}, {index}) is not the hash of its two halves"
            ));
        }
    }
    let unlogged = conn.one_i64(
        "SELECT count(*) FROM events WHERE seq NOT IN (SELECT event_seq FROM log_leaves)",
        args![],
    )?;
    if unlogged > 0 {
        problems.push(format!("{unlogged} events have no log leaf"));
    }
    check_checkpoint(conn, keys, &store, size, &mut problems)?;
    problems.extend(check_release_leaves(conn)?);
    Ok(problems)
}

/// Checks one leaf row (`idx, event_seq, leaf, leaf_hash`): its place, its hash, its
/// level-0 node and that it parses.
fn check_leaf(
    row: &crate::sql::SqlRow,
    store: &LogHashStore<'_>,
    expected_index: &mut u64,
    last_seq: &mut i64,
    problems: &mut Vec<String>,
) -> Result<(), StorageError> {
    {
        let (index, seq, leaf, stored) = (row.i64(0)?, row.i64(1)?, row.bytes(2)?, row.bytes(3)?);
        let index = u64::try_from(index).unwrap_or_default();
        if index != *expected_index {
            problems.push(format!(
                "log leaf {expected_index} is missing (next is {index})"
            ));
            *expected_index = index;
        }
        *expected_index += 1;
        if seq <= *last_seq {
            problems.push(format!("log leaf {index} logs event {seq} out of order"));
        }
        *last_seq = seq;
        let hash = merkle::leaf_hash(&leaf);
        if stored != hash.0 {
            problems.push(format!(
                "log leaf {index}: its stored hash is not the hash of its bytes"
            ));
        }
        match store.node(0, index) {
            Ok(node) if node == hash => {}
            _ => problems.push(format!(
                "log leaf {index}: the subtree table's level-0 hash differs"
            )),
        }
        if let Err(error) = LogEvent::parse(&leaf) {
            problems.push(format!("log leaf {index} is not a log event: {error}"));
        }
    }
    Ok(())
}

/// Checks the newest checkpoint: its signature, size and root against the tree's.
fn check_checkpoint(
    conn: &dyn Sql,
    keys: &RegistryKeys,
    store: &LogHashStore<'_>,
    size: u64,
    problems: &mut Vec<String>,
) -> Result<(), StorageError> {
    match latest_checkpoint(conn)? {
        None => problems.push("the log has no signed checkpoint".to_owned()),
        Some((_, note)) => {
            match Checkpoint::open(note.as_bytes(), &keys.keyset().note_key(KeyRole::Log)) {
                Err(error) => {
                    problems.push(format!("the newest checkpoint does not verify: {error}"));
                }
                Ok(checkpoint) => {
                    if checkpoint.size() != size {
                        problems.push(format!(
                            "the newest checkpoint has size {}, the log {size}",
                            checkpoint.size()
                        ));
                    } else if merkle::root(store, size).ok().as_ref() != Some(checkpoint.root()) {
                        problems.push(format!(
                            "the newest checkpoint's root is not the root of the {size} leaves"
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Every version has a release leaf with its `cksum` and the hash of its published line.
fn check_release_leaves(conn: &dyn Sql) -> Result<Vec<String>, StorageError> {
    let mut problems = Vec::new();
    let rows = conn.rows(
        "SELECT p.name, v.version, v.line, v.cksum, l.leaf
         FROM versions v JOIN packages p ON p.id = v.package_id
         LEFT JOIN events e ON e.package_id = v.package_id AND e.version = v.version
              AND e.kind = 'release'
         LEFT JOIN log_leaves l ON l.event_seq = e.seq",
        args![],
    )?;
    for row in rows {
        let (name, version, line, cksum, leaf) = (
            row.string(0)?,
            row.string(1)?,
            row.string(2)?,
            row.string(3)?,
            row.opt_bytes(4)?,
        );
        let Some(leaf) = leaf else {
            problems.push(format!(
                "crate `{name}` version `{version}` has no release leaf"
            ));
            continue;
        };
        let expected_entry = Hash::sha256(published_line(&line).as_bytes());
        let matches = LogEvent::parse(&leaf).is_ok_and(|event| {
            matches!(event.statement().body(), StatementBody::Release { version: v, cksum: c, entry }
                if *v == version && c.to_hex() == cksum && *entry == expected_entry)
        });
        if !matches {
            problems.push(format!(
                "the release leaf of crate `{name}` version `{version}` does not name its cksum and index line"
            ));
        }
    }
    Ok(problems)
}

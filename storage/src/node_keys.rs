//! One keyset for every node of a registry on PostgreSQL.
//!
//! Each node keeps the signing keys in its own data directory (`<data>/keys`), but the
//! registry has one keyset: the database records the newest keyset note (table
//! `registry_keyset`). At start a node loads its keys and checks them against that record:
//!
//! - no record yet (a new registry): the node makes its keys if it has none, and records
//!   their keyset; two nodes starting on a new database at once both try, one record wins
//!   (`ON CONFLICT DO NOTHING`) and the other node refuses as below;
//! - the record is the node's newest keyset: it starts;
//! - the record is an older keyset of the node's chain (the operator installed the next
//!   keyset on this node, `wharf admin keyset install`): the record moves to the node's
//!   newest keyset, and every other node refuses until the new `keys/` is copied to it;
//! - the node has no keys, or keys whose chain does not hold the recorded keyset: it refuses
//!   to start ([`StorageError::NodeKeys`]), naming both root keys and what to copy, and
//!   makes none. A node never signs a checkpoint, timestamp or release with keys of its own.

use std::path::Path;

use wharf_trust::{KeyRole, Keyset};

use crate::StorageError;
use crate::registry_keys::{KEYS_DIR, RegistryKeys};
use crate::sql::{Sql, args};

/// The keyset the database records: its note and the root key it names.
struct Recorded {
    note: String,
    root: String,
}

fn recorded(conn: &dyn Sql) -> Result<Option<Recorded>, StorageError> {
    conn.row(
        "SELECT note, root FROM registry_keyset WHERE id = 1",
        args![],
    )?
    .map(|row| {
        Ok(Recorded {
            note: row.string(0)?,
            root: row.string(1)?,
        })
    })
    .transpose()
}

fn parsed(note: &str) -> Result<Keyset, StorageError> {
    wharf_trust::Note::parse(note.as_bytes())
        .and_then(|note| Keyset::parse(note.text()))
        .map_err(|error| StorageError::Corrupt {
            what: format!("the keyset recorded in table `registry_keyset` does not parse: {error}"),
        })
}

fn newest(keys: &RegistryKeys) -> &str {
    keys.chain().last().map_or("", String::as_str)
}

/// Records `keys`' newest keyset, replacing `previous` (`None`: only when there is no
/// record); returns whether this call wrote it.
fn record(
    conn: &dyn Sql,
    keys: &RegistryKeys,
    previous: Option<&str>,
    now: i64,
) -> Result<bool, StorageError> {
    let keyset = keys.keyset();
    let root = keyset.key(KeyRole::Root).to_string();
    let version = i64::try_from(keyset.version()).unwrap_or(i64::MAX);
    let written = match previous {
        None => conn.exec(
            "INSERT INTO registry_keyset (id, note, version, root, recorded_at)
             VALUES (1, ?1, ?2, ?3, ?4) ON CONFLICT (id) DO NOTHING",
            args![newest(keys), version, root, now],
        )?,
        Some(previous) => conn.exec(
            "UPDATE registry_keyset SET note = ?1, version = ?2, root = ?3, recorded_at = ?4
             WHERE id = 1 AND note = ?5",
            args![newest(keys), version, root, now, previous],
        )?,
    };
    Ok(written == 1)
}

/// The signing keys of the node whose data directory is `data_dir`, checked against (or
/// recorded as) the registry's keyset in the database `conn` reaches; made first when
/// neither the node nor the database has any, named `origin` (see
/// [`RegistryKeys::load_or_create`]).
///
/// # Errors
/// [`StorageError::NodeKeys`] when the node has no keys or others than the registry's.
pub(crate) fn load_node_keys(
    conn: &dyn Sql,
    data_dir: &Path,
    origin: Option<&str>,
    now: i64,
) -> Result<RegistryKeys, StorageError> {
    let keys_dir = data_dir.join(KEYS_DIR);
    let has_keys = keys_dir.join("keyset-1.note").exists();
    let refuse = |problem: String| StorageError::NodeKeys {
        keys_dir: keys_dir.clone(),
        problem,
    };
    let Some(registry) = recorded(conn)? else {
        let keys = RegistryKeys::load_or_create(data_dir, origin)?;
        if record(conn, &keys, None, now)? {
            tracing::info!(root = %keys.root(), "recorded the registry's keyset in the database");
            return Ok(keys);
        }
        // Another node recorded its keyset first.
        return check(conn, keys, &refuse, now);
    };
    if !has_keys {
        return Err(refuse(format!(
            "are missing, and the registry in the database signs with the keyset of root key {}",
            registry.root
        )));
    }
    check(conn, RegistryKeys::load(data_dir)?, &refuse, now)
}

/// Accepts `keys` when their newest keyset is the recorded one, or moves the record forward
/// when it is an older keyset of their chain; refuses anything else.
fn check(
    conn: &dyn Sql,
    keys: RegistryKeys,
    refuse: &dyn Fn(String) -> StorageError,
    now: i64,
) -> Result<RegistryKeys, StorageError> {
    let registry = recorded(conn)?.ok_or_else(|| StorageError::Corrupt {
        what: "the registry's keyset record disappeared while a node started".to_owned(),
    })?;
    if registry.note == newest(&keys) {
        return Ok(keys);
    }
    let recorded_keyset = parsed(&registry.note)?;
    let in_chain = keys.chain().contains(&registry.note);
    if in_chain && keys.keyset().version() > recorded_keyset.version() {
        if record(conn, &keys, Some(&registry.note), now)? {
            tracing::info!(
                version = keys.keyset().version(),
                root = %keys.root(),
                "moved the registry's keyset record to this node's newer keyset"
            );
            return Ok(keys);
        }
        return check(conn, keys, refuse, now);
    }
    Err(refuse(format!(
        "are not the registry's: their keyset {} (root key {}) is not the keyset {} (root key {}) the database records",
        keys.keyset().version(),
        keys.root(),
        recorded_keyset.version(),
        registry.root
    )))
}

#[cfg(test)]
mod tests {
    use wharf_test_support::postgres::PostgresServer;

    use crate::{MetadataDatabase, Storage, StorageConfig, StorageError};

    async fn open(dir: &std::path::Path, server: &PostgresServer) -> Result<Storage, StorageError> {
        Storage::open_with_origin(
            StorageConfig::local(dir),
            MetadataDatabase::Postgres(server.url()),
            Some("registry.test".to_owned()),
        )
        .await
    }

    use wharf_test_support::postgres::copy_keys;

    #[tokio::test(flavor = "multi_thread")]
    async fn every_node_signs_with_the_keyset_the_database_records() {
        let server = PostgresServer::start();
        let first = tempfile::tempdir().unwrap();
        let registry = open(first.path(), &server).await.unwrap();
        let root = registry.inner.keys.current().root().to_string();
        assert_eq!(registry.inner.keys.origin(), "registry.test");
        drop(registry);

        // A node without keys refuses, makes none, and names the registry's root key.
        let bare = tempfile::tempdir().unwrap();
        let refused = open(bare.path(), &server).await.unwrap_err();
        assert!(
            matches!(refused, StorageError::NodeKeys { .. }),
            "{refused}"
        );
        let message = refused.to_string();
        assert!(
            message.contains("are missing") && message.contains(&root),
            "{message}"
        );
        assert!(message.contains("copy `keys/`"), "{message}");
        assert!(!bare.path().join("keys").exists());

        // A node with keys of its own refuses, naming both root keys.
        let other = tempfile::tempdir().unwrap();
        let own = crate::RegistryKeys::load_or_create(other.path(), None).unwrap();
        let refused = open(other.path(), &server).await.unwrap_err().to_string();
        assert!(
            refused.contains("are not the registry's")
                && refused.contains(&own.root().to_string())
                && refused.contains(&root),
            "{refused}"
        );

        // A node with the registry's keys copied in starts and signs with them.
        let joined = tempfile::tempdir().unwrap();
        copy_keys(first.path(), joined.path());
        let node = open(joined.path(), &server).await.unwrap();
        assert_eq!(node.inner.keys.current().root().to_string(), root);
    }
}

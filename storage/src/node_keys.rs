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
//!
//! A running node follows the record too ([`follow_keyset`]): every write of the record
//! sends a notification on [`KEYSET_CHANNEL`], and every [`KEYSET_POLL`] the node looks at
//! its own `keys/` (where `wharf admin keyset install` puts a new keyset while it runs).
//! When its keys hold a newer keyset than the record, it moves the record forward, as a
//! start would; when the record moved past its keys (the install ran on another node), it
//! stops signing ([`StorageError::KeysetMoved`]) until the new `keys/` is copied to it,
//! which it then picks up without a restart.

use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use wharf_trust::{KeyRole, Keyset};

use crate::StorageError;
use crate::pg::PgDatabase;
use crate::registry_keys::{KEYS_DIR, LiveKeys, RegistryKeys};
use crate::sql::{Sql, args};

/// The notification channel of changes to the keyset record.
pub(crate) const KEYSET_CHANNEL: &str = "wharf_keyset";

/// How often a running node looks at its own `keys/` for a keyset installed there.
pub(crate) const KEYSET_POLL: Duration = Duration::from_secs(1);

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
    if written == 1 {
        conn.exec(
            &format!("SELECT pg_notify('{KEYSET_CHANNEL}', '')"),
            args![],
        )?;
    }
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

/// Brings a running node's keys and the database's record together: the record moves to
/// the node's newer keyset (installed here while it runs), or the node stops signing while
/// the record names a keyset its keys do not end with (see the module documentation).
pub(crate) fn sync_keyset(conn: &dyn Sql, keys: &LiveKeys, now: i64) -> Result<(), StorageError> {
    let held = keys.current();
    let Some(registry) = recorded(conn)? else {
        return Ok(());
    };
    if registry.note == newest(&held) {
        keys.set_superseded(None);
        return Ok(());
    }
    let recorded_keyset = parsed(&registry.note)?;
    if held.chain().contains(&registry.note) && held.keyset().version() > recorded_keyset.version()
    {
        if record(conn, &held, Some(&registry.note), now)? {
            tracing::info!(
                version = held.keyset().version(),
                root = %held.root(),
                "moved the registry's keyset record to the keyset installed on this node"
            );
        }
        return Ok(());
    }
    let problem = format!(
        "hold keyset {} (root key {}), but the registry moved to keyset {} (root key {})",
        held.keyset().version(),
        held.root(),
        recorded_keyset.version(),
        registry.root
    );
    tracing::error!(%problem, "this node stops signing until the registry's keys are copied to it");
    keys.set_superseded(Some((registry.note, problem)));
    Ok(())
}

/// Follows the keyset record while the storage lives: on each notification of a change,
/// and every [`KEYSET_POLL`] when the node's own keys changed, runs [`sync_keyset`].
pub(crate) fn follow_keyset(inner: Weak<crate::storage::Inner>, database: &PgDatabase) {
    let wake = Arc::new(Notify::new());
    let woken = Arc::clone(&wake);
    // Each notification and each (re)connection wakes it: after a lost connection the
    // record is read again.
    database.spawn_listener(KEYSET_CHANNEL, Arc::new(move |_| woken.notify_one()));
    database.spawn(async move {
        let mut synced: Option<String> = None;
        loop {
            let notified = tokio::time::timeout(KEYSET_POLL, wake.notified())
                .await
                .is_ok();
            let Some(inner) = inner.upgrade() else {
                return;
            };
            let held = newest(&inner.keys.current()).to_owned();
            if !notified && synced.as_ref() == Some(&held) {
                continue;
            }
            let synced_now = tokio::task::spawn_blocking(move || {
                inner.pool.with_sql(|conn| {
                    sync_keyset(conn, &inner.keys, crate::storage::now_unix())
                })
            })
            .await;
            match synced_now {
                Ok(Ok(())) => synced = Some(held),
                Ok(Err(error)) => {
                    tracing::warn!(%error, "reading the registry's keyset record failed; trying again");
                    synced = None;
                }
                Err(join) => tracing::warn!(%join, "the keyset check's task ended"),
            }
        }
    });
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

    /// A bound for a stuck notification, not a performance target.
    const DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

    /// Waits until `done` holds.
    async fn until(what: &str, done: impl Fn() -> bool) {
        let started = std::time::Instant::now();
        while !done() {
            assert!(started.elapsed() < DEADLINE, "never: {what}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    fn recorded_version(storage: &Storage) -> i64 {
        storage
            .inner
            .pool
            .with_sql(|conn| {
                conn.one_i64(
                    "SELECT version FROM registry_keyset WHERE id = 1",
                    crate::sql::args![],
                )
            })
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn running_nodes_follow_a_keyset_installed_on_one_of_them() {
        let server = PostgresServer::start();
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let a = open(dir_a.path(), &server).await.unwrap();
        copy_keys(dir_a.path(), dir_b.path());
        let b = open(dir_b.path(), &server).await.unwrap();
        let alice = crate::metadata_tests::storage_user(&a, "alice");
        let upload = crate::metadata_tests::storage_upload;

        // The next keyset (new online keys, same root) installed on node A while both run.
        let root_file = dir_a.path().join("keys").join("root.key");
        let root = wharf_trust::SigningKey::from_key_file(
            &std::fs::read_to_string(root_file).unwrap(),
            None,
        )
        .unwrap();
        let text =
            crate::keyset_rotation::request_next_keyset(dir_a.path(), None, true, 3600, None)
                .unwrap();
        let note = wharf_trust::Keyset::parse(&text)
            .unwrap()
            .sign(&[&root])
            .unwrap();
        crate::keyset_rotation::install_next_keyset(dir_a.path(), &note).unwrap();

        // Node A moves the record without a restart and signs with the new keys; node B,
        // told by the notification, stops signing.
        until("node A moved the record", || recorded_version(&a) == 2).await;
        until("node B stopped signing", || b.inner.keys.signing().is_err()).await;
        a.publish(&alice, upload("moved", "1.0.0")).await.unwrap();
        assert_eq!(a.inner.keys.current().keyset().version(), 2);
        let refused = b
            .publish(&alice, upload("moved", "1.1.0"))
            .await
            .unwrap_err();
        assert!(
            matches!(refused, StorageError::KeysetMoved { .. }),
            "{refused}"
        );
        let message = refused.to_string();
        assert!(
            message.contains("keyset 1") && message.contains("keyset 2"),
            "{message}"
        );

        // The new keys copied to node B: it signs again, without a restart.
        copy_keys(dir_a.path(), dir_b.path());
        b.publish(&alice, upload("moved", "1.1.0")).await.unwrap();
        assert_eq!(b.inner.keys.current().keyset().version(), 2);
        assert_eq!(recorded_version(&b), 2);
    }
}

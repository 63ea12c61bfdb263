//! SQLite connections: opening with Wharf's pragmas, numbered migrations, and a small pool of
//! connections for reads (WAL lets them run while the writer commits).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::StorageError;

/// How long a connection waits for another writer (another process, for example) to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The file name of the metadata database inside the data directory; a directory without it
/// holds no registry.
pub const DB_FILE: &str = "wharf.db";

/// Numbered migrations: entry `i` moves the schema from `user_version` `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE users (
    id          INTEGER PRIMARY KEY,
    login       TEXT NOT NULL UNIQUE,
    name        TEXT,
    created_at  INTEGER NOT NULL
);
CREATE TABLE tokens (
    id             INTEGER PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users(id),
    token_sha256   TEXT NOT NULL UNIQUE,
    scopes         TEXT NOT NULL,
    name_patterns  TEXT NOT NULL,
    label          TEXT,
    expires_at     INTEGER,
    created_at     INTEGER NOT NULL,
    revoked_at     INTEGER
);
CREATE TABLE packages (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL,
    lower_name      TEXT NOT NULL UNIQUE,
    canonical_name  TEXT NOT NULL UNIQUE,
    description     TEXT,
    created_at      INTEGER NOT NULL
);
CREATE TABLE versions (
    id            INTEGER PRIMARY KEY,
    package_id    INTEGER NOT NULL REFERENCES packages(id),
    version       TEXT NOT NULL,
    version_key   TEXT NOT NULL,
    line          TEXT NOT NULL,
    cksum         TEXT NOT NULL,
    yanked        INTEGER NOT NULL DEFAULT 0,
    pubtime       INTEGER NOT NULL,
    metadata      TEXT NOT NULL,
    publisher_id  INTEGER NOT NULL REFERENCES users(id),
    UNIQUE (package_id, version_key)
);
CREATE TABLE owners (
    package_id  INTEGER NOT NULL REFERENCES packages(id),
    user_id     INTEGER NOT NULL REFERENCES users(id),
    added_at    INTEGER NOT NULL,
    PRIMARY KEY (package_id, user_id)
);
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('release', 'yank', 'unyank', 'owner_add', 'owner_remove')),
    package_id  INTEGER NOT NULL REFERENCES packages(id),
    version     TEXT,
    actor       TEXT NOT NULL,
    time        INTEGER NOT NULL,
    payload     TEXT NOT NULL
);
CREATE INDEX events_by_package ON events (package_id, seq);
CREATE TRIGGER events_are_never_updated BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER events_are_never_deleted BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TABLE index_files (
    package_id  INTEGER PRIMARY KEY REFERENCES packages(id),
    seq         INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    written_at  INTEGER NOT NULL
);
",
    // Publish rate limits count a user's versions of the last 24 hours on every publish;
    // without this index that is a scan of every version ever published.
    r"
CREATE INDEX versions_by_publisher ON versions (publisher_id, pubtime);
",
    // The transparency log: leaves, complete-subtree hashes, signed checkpoints.
    crate::log::MIGRATION,
    // Publisher keys: accounts' registered keys, the keys bound to each package, and the
    // `owner_key_add` / `owner_key_revoke` events (the events table is rebuilt to allow them).
    crate::publisher_keys::MIGRATION,
    // Plugins' kind and capabilities, beside the version rows.
    crate::plugins::MIGRATION,
    // Premium packages, entitlement keys and licence revocation lists.
    crate::entitlements::MIGRATION,
    // The hash-chained audit log.
    crate::audit::MIGRATION,
    // The catalogue: search index, daily download counts, ratings and reviews.
    crate::catalogue::MIGRATION,
    crate::downloads::MIGRATION,
    crate::reviews::MIGRATION,
    // Deprecations, quarantines, advisories and the deprecation event kinds.
    crate::lifecycle::MIGRATION,
    // Search leaves out packages whose every version is yanked; visible ratings by package.
    crate::catalogue::SEARCH_MIGRATION,
    // Webhooks and their delivery log.
    crate::webhooks::MIGRATION,
    // Install sets reported by `wharf install` (opt-in, keyed by a random id per directory).
    crate::install_reports::MIGRATION,
    // Users' roles (the login `admin` becomes a tenant admin) and tokens' narrowed roles.
    crate::roles_store::MIGRATION,
    // Teams, their members and the packages they own.
    crate::teams::MIGRATION,
    // The registry's plan, blob sizes and usage counters.
    crate::usage::MIGRATION,
    // The moderation log records a hidden review shown again.
    crate::review_moderation::MIGRATION,
    // Web UI sessions (by the SHA-256 of their id), ended with their token.
    crate::web_sessions::MIGRATION,
    // Search sees in one probe whether any package is fully yanked.
    crate::catalogue::COUNT_MIGRATION,
    // Search counts its matches without the fully-yanked ones through their own small index.
    crate::catalogue::YANKED_INDEX_MIGRATION,
    // Webhook secrets sealed at rest and the outbox of deliveries that survives a restart.
    crate::webhooks::OUTBOX_MIGRATION,
];

/// Opens a connection with WAL, `synchronous=FULL`, a busy timeout, foreign keys and a stable
/// query planner.
pub(crate) fn open_connection(path: &Path) -> Result<Connection, StorageError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // Without the query planner stability guarantee, SQLite marks a statement for a new
    // query plan whenever a bound value it looked at while planning changes (a join's key, a
    // LIMIT), so a cached statement such as the token lookup was parsed and planned again on
    // every call with a new value: most of the CPU of an authenticated index request. Wharf's
    // queries are keyed lookups whose plans do not depend on the values.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Opens a connection that cannot write and creates no file: `mode=ro` with
/// `query_only`, and `immutable=1` when the database has no `-wal` file (no server has it
/// open, and everything committed is in the main file), so SQLite makes no `-wal`/`-shm`.
pub(crate) fn open_read_only(path: &Path) -> Result<Connection, StorageError> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let immutable = !Path::new(&wal).exists();
    let escaped: String = path
        .to_string_lossy()
        .chars()
        .map(|c| match c {
            '%' => "%25".to_owned(),
            '?' => "%3f".to_owned(),
            '#' => "%23".to_owned(),
            other => other.to_string(),
        })
        .collect();
    let uri = format!(
        "file:{escaped}?mode=ro{}",
        if immutable { "&immutable=1" } else { "" }
    );
    let conn = Connection::open_with_flags(
        uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "query_only", "ON")?;
    Ok(conn)
}

/// Refuses a database whose schema is not exactly this build's (read-only opens do not
/// migrate).
pub(crate) fn check_schema(conn: &Connection, path: &Path) -> Result<(), StorageError> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let expected = i64::try_from(MIGRATIONS.len()).expect("there are few migrations");
    if current == expected {
        return Ok(());
    }
    let what = if current < expected {
        "an older schema; start `wharf serve` on it once (which migrates it), then read it again"
    } else {
        "a newer schema than this Wharf knows; use the Wharf that wrote it"
    };
    Err(StorageError::Corrupt {
        what: format!(
            "`{}` has schema version {current}, not {expected}: {what}",
            path.display()
        ),
    })
}

/// Brings the schema up to date. Safe when several processes open the same file at once:
/// the version is re-read inside an immediate transaction.
///
/// Foreign keys are off while migrations run (SQLite's way to rebuild a table others
/// refer to) and checked before the commit.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StorageError> {
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let migrated = migrate_without_foreign_keys(conn);
    conn.pragma_update(None, "foreign_keys", "ON")?;
    migrated
}

fn migrate_without_foreign_keys(conn: &mut Connection) -> Result<(), StorageError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let current: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let start = usize::try_from(current).unwrap_or(usize::MAX);
    for (number, sql) in MIGRATIONS.iter().enumerate().skip(start) {
        tracing::info!(migration = number + 1, "applying storage migration");
        tx.execute_batch(sql)?;
        let next = i64::try_from(number + 1).expect("there are few migrations");
        tx.pragma_update(None, "user_version", next)?;
    }
    let broken: Option<String> = tx
        .prepare("PRAGMA foreign_key_check")?
        .query_row([], |row| row.get(0))
        .optional()?;
    if let Some(table) = broken {
        return Err(StorageError::Corrupt {
            what: format!("a migration left rows of table `{table}` referring to missing rows"),
        });
    }
    tx.commit()?;
    Ok(())
}

/// A pool of connections for reads and for the rare small writes done outside the writer
/// thread (token management). Connections are opened on demand and kept for reuse.
#[derive(Debug)]
pub(crate) struct ConnectionPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    read_only: bool,
}

/// Most connections kept idle; more may be open at once under load.
const MAX_IDLE: usize = 8;

impl ConnectionPool {
    /// A pool for the database at `path`.
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
            read_only: false,
        }
    }

    /// A pool whose connections cannot write ([`open_read_only`]).
    pub(crate) fn read_only(path: PathBuf) -> Self {
        Self {
            read_only: true,
            ..Self::new(path)
        }
    }

    /// Opens one more connection of this pool's kind.
    pub(crate) fn open(&self) -> Result<Connection, StorageError> {
        if self.read_only {
            open_read_only(&self.path)
        } else {
            open_connection(&self.path)
        }
    }

    /// Runs `work` on a pooled connection.
    pub(crate) fn with<T>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let taken = self.idle.lock().expect("pool lock is never poisoned").pop();
        let mut conn = match taken {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = work(&mut conn);
        if conn.is_autocommit() {
            let mut idle = self.idle.lock().expect("pool lock is never poisoned");
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_only_connection_writes_nothing_and_creates_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let mut conn = open_connection(&path).unwrap();
        migrate(&mut conn).unwrap();
        drop(conn);
        let files = || {
            let mut names: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let before = (files(), std::fs::read(&path).unwrap());
        let reader = open_read_only(&path).unwrap();
        check_schema(&reader, &path).unwrap();
        let count: i64 = reader
            .query_row("SELECT count(*) FROM packages", [], |row| row.get(0))
            .unwrap();
        assert_eq!(count, 0);
        assert!(
            reader
                .execute(
                    "INSERT INTO users (id, login, created_at) VALUES (1, 'a', 0)",
                    []
                )
                .is_err()
        );
        drop(reader);
        assert_eq!((files(), std::fs::read(&path).unwrap()), before);
        let old = open_connection(&dir.path().join("old.db")).unwrap();
        old.pragma_update(None, "user_version", 1).unwrap();
        let error = check_schema(&old, &dir.path().join("old.db"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("an older schema"), "{error}");
        old.execute_batch("SELECT 1").unwrap();
    }

    #[test]
    fn migrations_are_idempotent_and_set_pragmas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let mut conn = open_connection(&path).unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, i64::try_from(MIGRATIONS.len()).unwrap());
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = conn
            .pragma_query_value(None, "synchronous", |row| row.get(0))
            .unwrap();
        assert_eq!(sync, 2, "synchronous=FULL");
    }

    #[test]
    fn the_event_log_refuses_updates_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open_connection(&dir.path().join(DB_FILE)).unwrap();
        migrate(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO users (id, login, created_at) VALUES (1, 'a', 0);
             INSERT INTO packages (id, name, lower_name, canonical_name, created_at)
                 VALUES (1, 'p', 'p', 'p', 0);
             INSERT INTO events (kind, package_id, actor, time, payload)
                 VALUES ('release', 1, 'a', 0, '{}');",
        )
        .unwrap();
        assert!(conn.execute("UPDATE events SET actor = 'b'", []).is_err());
        assert!(conn.execute("DELETE FROM events", []).is_err());
        assert!(
            conn.execute(
                "INSERT INTO events (kind, package_id, actor, time, payload)
                 VALUES ('delete', 1, 'a', 0, '{}')",
                []
            )
            .is_err()
        );
    }

    #[test]
    fn pool_reuses_connections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        migrate(&mut open_connection(&path).unwrap()).unwrap();
        let pool = ConnectionPool::new(path);
        for _ in 0..3 {
            let users: i64 = pool
                .with(|conn| Ok(conn.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?))
                .unwrap();
            assert_eq!(users, 0);
        }
        assert_eq!(pool.idle.lock().unwrap().len(), 1);
    }
}

//! The metadata database behind [`crate::Storage`] and [`crate::metadata::MetadataStore`]:
//! SQLite (the writer thread and a pool of read connections on one file) or PostgreSQL
//! (the writer thread on one pooled connection, and the pool for reads).
//!
//! [`EngineWriter`] and [`EnginePool`] run work written against the [`Sql`] seam on either
//! engine (`run_sql`, `with_sql`); every part of storage is written that way. Only the
//! online backup (`backup.rs`) still needs SQLite itself: a registry on PostgreSQL is backed
//! up with PostgreSQL's own tools, and a refusal names the feature
//! ([`StorageError::NotOnPostgres`]).

#[cfg(test)]
use std::panic::Location;

use rusqlite::Connection;

use crate::StorageError;
use crate::db::ConnectionPool;
use crate::pg::{PgConn, PgDatabase};
use crate::sql::{Engine, Sql};
use crate::writer::Writer;

/// Where the metadata lives. `Debug` shows a PostgreSQL URL without its password.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum MetadataDatabase {
    /// The embedded SQLite file in the data directory (the default).
    #[default]
    Embedded,
    /// A PostgreSQL database, as a `postgres://USER:PASSWORD@HOST:PORT/DATABASE` URL.
    Postgres(String),
}

impl std::fmt::Debug for MetadataDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Embedded => f.write_str("Embedded"),
            Self::Postgres(url) => f
                .debug_tuple("Postgres")
                .field(&crate::pg::redact(url))
                .finish(),
        }
    }
}

impl MetadataDatabase {
    /// Parses a `--database` value: `sqlite` (or empty) for the embedded file, or a
    /// `postgres://` / `postgresql://` URL.
    ///
    /// # Errors
    /// [`StorageError::InvalidDatabaseUrl`] for anything else.
    pub fn parse(value: &str) -> Result<Self, StorageError> {
        let value = value.trim();
        if value.is_empty() || value == "sqlite" {
            return Ok(Self::Embedded);
        }
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            return Ok(Self::Postgres(value.to_owned()));
        }
        Err(StorageError::InvalidDatabaseUrl {
            url: crate::pg::redact(value),
            reason: "expected `sqlite` or a `postgres://USER:PASSWORD@HOST:PORT/DATABASE` URL"
                .to_owned(),
        })
    }

    /// The engine it names.
    pub(crate) fn engine(&self) -> Engine {
        match self {
            Self::Embedded => Engine::Sqlite,
            Self::Postgres(_) => Engine::Postgres,
        }
    }
}

/// The feature a refused SQLite-only call belongs to: the name of the source file that made
/// it (`catalogue_api.rs` is "catalogue api").
#[cfg(test)]
fn feature_at(location: &Location<'_>) -> String {
    std::path::Path::new(location.file())
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or("this feature")
        .replace('_', " ")
}

/// The refusal of a SQLite-only call made at `location` on PostgreSQL.
#[cfg(test)]
pub(crate) fn refused(location: &Location<'_>) -> StorageError {
    let feature = feature_at(location);
    tracing::debug!(feature, "a SQLite-only feature was asked for on PostgreSQL");
    StorageError::NotOnPostgres { feature }
}

/// The writer thread of either engine.
#[derive(Debug)]
pub(crate) enum EngineWriter {
    /// SQLite's writer (with the audit log's group hook).
    Sqlite(Writer<Connection>),
    /// PostgreSQL's writer on one pooled connection (with the audit log's group hook).
    Postgres(Writer<PgConn>),
}

impl EngineWriter {
    /// Runs `work` (portable SQL) in the next group commit; returns its result once durable.
    pub(crate) async fn run_sql<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        F: FnOnce(&dyn Sql) -> Result<T, StorageError> + Send + 'static,
        T: Send + 'static,
    {
        match self {
            Self::Sqlite(writer) => writer.run(move |conn| work(conn)).await,
            Self::Postgres(writer) => writer.run(move |conn| work(conn)).await,
        }
    }

    /// Queues `work` (portable SQL) without waiting for it; failures are logged.
    pub(crate) fn run_detached_sql<F>(&self, work: F)
    where
        F: FnOnce(&dyn Sql) -> Result<(), StorageError> + Send + 'static,
    {
        match self {
            Self::Sqlite(writer) => writer.run_detached(move |conn| work(conn)),
            Self::Postgres(writer) => writer.run_detached(move |conn| work(conn)),
        }
    }
}

/// Where reads get a connection, on either engine.
#[derive(Debug)]
pub(crate) enum EnginePool {
    /// SQLite's pool of read connections.
    Sqlite(ConnectionPool),
    /// PostgreSQL's pool.
    Postgres(PgDatabase),
}

impl EnginePool {
    /// The engine the pool reads from.
    pub(crate) fn engine(&self) -> Engine {
        match self {
            Self::Sqlite(_) => Engine::Sqlite,
            Self::Postgres(_) => Engine::Postgres,
        }
    }

    /// Runs `work` (portable SQL) on a pooled connection, on the calling thread (which must
    /// be allowed to block).
    pub(crate) fn with_sql<T>(
        &self,
        work: impl FnOnce(&dyn Sql) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        match self {
            Self::Sqlite(pool) => pool.with(|conn| work(conn)),
            Self::Postgres(database) => work(&database.connection()?),
        }
    }

    /// Runs `work` in a write transaction of its own on a pooled connection, outside the
    /// writer thread (commands beside a server, small audited changes): SQLite's
    /// `BEGIN IMMEDIATE`, or PostgreSQL's `BEGIN` and the writers' advisory lock, so it takes
    /// its turn with the group commits of every process. Committed when `work` succeeds,
    /// rolled back (nothing stays) when it fails.
    pub(crate) fn with_write<T>(
        &self,
        work: impl FnOnce(&dyn Sql) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        match self {
            Self::Sqlite(pool) => pool.with(|conn| {
                let tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let value = work(&*tx)?;
                tx.commit()?;
                Ok(value)
            }),
            Self::Postgres(database) => {
                let conn = database.connection()?;
                conn.begin_write()?;
                match work(&conn) {
                    Ok(value) => {
                        conn.end_write(true)?;
                        Ok(value)
                    }
                    Err(error) => {
                        // Keep the refusal; a failed rollback closes the connection anyway.
                        let _ignored = conn.end_write(false);
                        Err(error)
                    }
                }
            }
        }
    }

    /// Runs `work` on a pooled SQLite connection; on PostgreSQL refuses with
    /// [`StorageError::NotOnPostgres`] naming the calling feature.
    #[cfg(test)]
    #[track_caller]
    pub(crate) fn with<T>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        match self {
            Self::Sqlite(pool) => pool.with(work),
            Self::Postgres(_) => Err(refused(Location::caller())),
        }
    }
}

/// Opens the metadata database (SQLite at `sqlite_path`, or PostgreSQL), migrates it and
/// starts its writer; `hook` joins every group commit of either engine (the audit log's
/// queue). On SQLite the writer compacts the full-text index while idle
/// (`catalogue_compaction.rs`). Blocks: call it on a blocking thread.
pub(crate) fn open_engine(
    database: &MetadataDatabase,
    sqlite_path: &std::path::Path,
    hook: Option<std::sync::Arc<crate::audit::AuditQueue>>,
) -> Result<(EngineWriter, EnginePool), StorageError> {
    match database {
        MetadataDatabase::Embedded => {
            let mut conn = crate::db::open_connection(sqlite_path)?;
            crate::db::migrate(&mut conn)?;
            let hook = hook.map(|hook| hook as std::sync::Arc<dyn crate::writer::GroupHook>);
            let compaction = crate::catalogue_compaction::SearchIndexCompaction::default();
            Ok((
                EngineWriter::Sqlite(Writer::start_with_idle_work(
                    conn,
                    hook,
                    Some(Box::new(compaction)),
                )?),
                EnginePool::Sqlite(ConnectionPool::new(sqlite_path.to_path_buf())),
            ))
        }
        MetadataDatabase::Postgres(url) => {
            let database = PgDatabase::connect(url)?;
            let conn = database.connection()?;
            crate::pg_schema::migrate(&conn)?;
            let hook =
                hook.map(|hook| hook as std::sync::Arc<dyn crate::writer::GroupHook<PgConn>>);
            Ok((
                EngineWriter::Postgres(Writer::start_with_hook(conn, hook)?),
                EnginePool::Postgres(database),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_values_parse_or_name_the_input() {
        assert_eq!(
            MetadataDatabase::parse("").unwrap(),
            MetadataDatabase::Embedded
        );
        assert_eq!(
            MetadataDatabase::parse("sqlite").unwrap(),
            MetadataDatabase::Embedded
        );
        assert_eq!(
            MetadataDatabase::parse("postgres://w@db/wharf").unwrap(),
            MetadataDatabase::Postgres("postgres://w@db/wharf".to_owned())
        );
        let error = MetadataDatabase::parse("mysql://w:secret@db/wharf")
            .unwrap_err()
            .to_string();
        assert!(error.contains("mysql://w:***@db/wharf"), "{error}");
        assert!(!error.contains("secret"), "{error}");
    }

    #[test]
    fn debug_leaves_the_password_out() {
        let database = MetadataDatabase::Postgres("postgres://wharf:secret@db:5432/wharf".into());
        let shown = format!("{database:?} {database:#?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert_eq!(
            format!("{database:?}"),
            r#"Postgres("postgres://wharf:***@db:5432/wharf")"#
        );
        assert_eq!(format!("{:?}", MetadataDatabase::Embedded), "Embedded");
    }

    #[test]
    fn a_refusal_names_the_calling_file() {
        #[track_caller]
        fn here() -> String {
            feature_at(Location::caller())
        }
        assert_eq!(here(), "engine");
    }
}

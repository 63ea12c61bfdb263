//! The core metadata (users, tokens, packages, versions, owners and the event log) on either
//! engine: [`MetadataStore`] opens SQLite or PostgreSQL, migrates it, and runs the same
//! rules (`write_ops.rs`, `tokens.rs`, `queries.rs`) through the [`Sql`] seam.
//!
//! Writes go through the single writer thread (`writer.rs`) as on SQLite: queued jobs commit
//! in groups, one transaction per group with a savepoint per job, so a refused write leaves
//! nothing behind and its neighbours commit. On PostgreSQL that thread owns one pooled
//! connection and each group transaction first takes the writers' advisory lock
//! (`pg.rs`). Reads use pooled connections on blocking threads.
//!
//! [`crate::Storage`] runs on the same engine parts (`engine.rs`); this store is the core
//! alone, for the tests that run every core rule on both engines.

use std::path::PathBuf;

use wharf_index_format::{IndexEntry, PackageMetadata};

use crate::engine::{EnginePool, EngineWriter, MetadataDatabase, open_engine};
use crate::signed_publish::{KeyPlan, ReleaseSigning};
use crate::sql::Sql;
use crate::storage::now_unix;
use crate::write_ops::{
    OwnerChange, PackageChange, PublishOutcome, PublishQuota, PublishRequest, apply_owner_change,
    apply_publish, apply_set_yanked,
};
use crate::{
    CreatedToken, DailyLimits, IndexFileSnapshot, LogEvent, NewToken, Owner, Principal,
    StorageError, TokenInfo, queries, tokens,
};

/// Where the metadata lives. `Debug` shows a PostgreSQL URL without its password.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Database {
    /// A SQLite file (created when missing).
    Sqlite(PathBuf),
    /// A PostgreSQL database, as a `postgres://` URL.
    Postgres(String),
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Self::Postgres(url) => f
                .debug_tuple("Postgres")
                .field(&crate::pg::redact(url))
                .finish(),
        }
    }
}

/// The engine-specific parts: the writer and where reads get a connection.
#[derive(Debug)]
struct Backend {
    writer: EngineWriter,
    pool: EnginePool,
}

/// The core metadata on SQLite or PostgreSQL. Cheap operations, one writer thread.
#[derive(Debug)]
pub(crate) struct MetadataStore {
    backend: std::sync::Arc<Backend>,
}

impl MetadataStore {
    /// Opens (creating and migrating when needed) the metadata database and starts its
    /// writer.
    pub(crate) async fn open(database: Database) -> Result<Self, StorageError> {
        let backend = tokio::task::spawn_blocking(move || {
            let (engine, path) = match database {
                Database::Sqlite(path) => (MetadataDatabase::Embedded, path),
                Database::Postgres(url) => (MetadataDatabase::Postgres(url), PathBuf::new()),
            };
            let (writer, pool) = open_engine(&engine, &path, None)?;
            Ok::<_, StorageError>(Backend { writer, pool })
        })
        .await??;
        Ok(Self {
            backend: std::sync::Arc::new(backend),
        })
    }

    /// Runs `work` in the writer's next group commit and returns its result once committed.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        F: FnOnce(&dyn Sql) -> Result<T, StorageError> + Send + 'static,
        T: Send + 'static,
    {
        self.backend.writer.run_sql(work).await
    }

    /// Runs `work` on a pooled connection, off the async runtime.
    pub(crate) async fn read<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        F: FnOnce(&dyn Sql) -> Result<T, StorageError> + Send + 'static,
        T: Send + 'static,
    {
        let backend = std::sync::Arc::clone(&self.backend);
        tokio::task::spawn_blocking(move || backend.pool.with_sql(work)).await?
    }

    /// Creates a token (and its user when new), in its own transaction.
    pub(crate) async fn create_token(
        &self,
        request: NewToken,
    ) -> Result<CreatedToken, StorageError> {
        self.write(move |conn| tokens::insert_token(conn, request, None, now_unix()))
            .await
    }

    /// The principal behind a presented token (refused when unknown, revoked or expired).
    pub(crate) async fn authenticate(&self, presented: &str) -> Result<Principal, StorageError> {
        let digest = crate::auth::token_digest(presented.trim());
        self.read(move |conn| Ok(tokens::verify_digest(conn, &digest, now_unix())?.principal))
            .await
    }

    /// Revokes a token.
    pub(crate) async fn revoke_token(&self, id: i64) -> Result<(), StorageError> {
        self.write(move |conn| tokens::revoke_token(conn, id, now_unix()))
            .await
    }

    /// Every token, or those of one user.
    pub(crate) async fn list_tokens(
        &self,
        user: Option<String>,
    ) -> Result<Vec<TokenInfo>, StorageError> {
        self.read(move |conn| tokens::list_tokens(conn, user.as_deref()))
            .await
    }

    /// Publishes an unsigned release (the rules of [`crate::Storage::publish`]: scopes, name
    /// patterns, ownership, canonical-name clashes, duplicates).
    pub(crate) async fn publish(
        &self,
        who: Principal,
        entry: IndexEntry,
        metadata: PackageMetadata,
    ) -> Result<PublishOutcome, StorageError> {
        self.publish_limited(who, entry, metadata, DailyLimits::default())
            .await
    }

    /// [`MetadataStore::publish`] under daily publish limits, counted inside the
    /// transaction.
    pub(crate) async fn publish_limited(
        &self,
        who: Principal,
        entry: IndexEntry,
        metadata: PackageMetadata,
        limits: DailyLimits,
    ) -> Result<PublishOutcome, StorageError> {
        let request = PublishRequest {
            who,
            entry,
            metadata,
            limits,
            signing: ReleaseSigning {
                signed: None,
                require_signatures: false,
            },
            origin: String::new(),
            checked_plan: KeyPlan::Unsigned,
            // The plan's limits are read from the database inside the transaction; the
            // crate's bytes are not part of the core publish.
            quota: PublishQuota::new(std::sync::Arc::default(), &[]),
        };
        self.write(move |conn| apply_publish(conn, &request, now_unix()))
            .await
    }

    /// Yanks or unyanks a version.
    pub(crate) async fn set_yanked(
        &self,
        who: Principal,
        name: &str,
        version: &str,
        yanked: bool,
    ) -> Result<PackageChange<()>, StorageError> {
        let (name, version) = (name.to_owned(), version.to_owned());
        self.write(move |conn| apply_set_yanked(conn, &who, &name, &version, yanked, now_unix()))
            .await
    }

    /// Adds or removes owners; returns the logins whose ownership changed.
    pub(crate) async fn change_owners(
        &self,
        who: Principal,
        name: &str,
        logins: Vec<String>,
        change: OwnerChange,
    ) -> Result<PackageChange<Vec<String>>, StorageError> {
        let name = name.to_owned();
        self.write(move |conn| apply_owner_change(conn, &who, &name, &logins, change, now_unix()))
            .await
    }

    /// The owners of a package, oldest first.
    pub(crate) async fn owners(&self, name: &str) -> Result<Vec<Owner>, StorageError> {
        let name = name.to_owned();
        self.read(move |conn| queries::owners(conn, &name)).await
    }

    /// Up to `limit` events after `after_seq`, in log order.
    pub(crate) async fn events(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<LogEvent>, StorageError> {
        self.read(move |conn| queries::events(conn, after_seq, limit))
            .await
    }

    /// The package's index file as the database says it is now, with the log position it
    /// reflects (read in one transaction).
    pub(crate) async fn snapshot(&self, name: &str) -> Result<IndexFileSnapshot, StorageError> {
        let name = name.to_owned();
        self.read(move |conn| {
            let package = queries::require_package(conn, &name)?;
            queries::snapshot(conn, &package)
        })
        .await
    }

    /// The index lines of a package's versions, in publish order.
    pub(crate) async fn lines(&self, name: &str) -> Result<Vec<String>, StorageError> {
        let name = name.to_owned();
        self.read(move |conn| {
            let package = queries::require_package(conn, &name)?;
            conn.rows(
                "SELECT line FROM versions WHERE package_id = ?1 ORDER BY id",
                crate::sql::args![package.id],
            )?
            .iter()
            .map(|row| row.string(0))
            .collect()
        })
        .await
    }
}

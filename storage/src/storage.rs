//! [`Storage`]: the façade that ties blobs, the metadata database, the writer thread and the
//! index-file projection together, and enforces every publishing rule.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use wharf_index_format::{PackageName, Pubtime, check_version_length};

use crate::auth::token_digest;
use crate::blobs::{BlobStream, get_blob, get_blob_stream, sha256_hex};
use crate::config::ObjectStores;
use crate::daily_limits::check_daily_limits;
use crate::db::{ConnectionPool, DB_FILE};
use crate::dirty_files::{DirtyIndexFiles, start_retrying};
use crate::engine::{EnginePool, EngineWriter, MetadataDatabase, open_engine};
use crate::gc::keep_committed_blob;
use crate::index_files::IndexProjector;
use crate::log;
use crate::model::ReconcileReport;
use crate::plugins::PluginPackage;
use crate::registry_keys::{LiveKeys, RegistryKeys};
use crate::signed_publish::{KeyPlan, ReleaseSigning, check_statement_matches, plan_signing};
use crate::sql::{Engine, Sql};
use crate::token_cache::TokenCache;
use crate::write_behind::{PendingWrite, PendingWrites};
use crate::write_ops::{
    OwnerChange, PackageChange, PublishRequest, apply_owner_change, apply_publish,
    apply_set_yanked, check_publish, record_index_file,
};
use crate::writer::Writer;
use crate::{
    CreatedToken, DailyLimits, IndexFileSnapshot, LogEvent, NewToken, Owner, Principal, Published,
    PublisherKeyInfo, RecentPublishes, SearchResults, StorageConfig, StorageError, TokenInfo,
    Upload, publisher_keys, queries, recent, tokens,
};

/// Seconds since the Unix epoch, now.
pub(crate) fn now_unix() -> i64 {
    Pubtime::now().unix()
}

/// Wharf's storage: blobs, metadata, the event log and derived index files.
/// Cheap to clone; all clones share one writer thread and one connection pool.
#[derive(Debug, Clone)]
pub struct Storage {
    pub(crate) inner: Arc<Inner>,
}

/// Shared state. Field order is drop order: the writer finishes queued jobs before the
/// stores go away.
#[derive(Debug)]
pub(crate) struct Inner {
    data_dir: PathBuf,
    /// The metadata database's writer thread (SQLite or PostgreSQL).
    pub(crate) writer: EngineWriter,
    /// Where reads get a connection (SQLite or PostgreSQL).
    pub(crate) pool: EnginePool,
    /// Tokens verified since the database last changed.
    pub(crate) token_cache: TokenCache,
    pub(crate) projector: IndexProjector,
    /// Index-file writes still running behind an acknowledged publish.
    pub(crate) pending_writes: Arc<PendingWrites>,
    /// Index files whose write failed, retried in the background.
    pub(crate) dirty: DirtyIndexFiles,
    pub(crate) stores: ObjectStores,
    /// What the reconcile run by [`Storage::open`] found and fixed.
    opened: std::sync::OnceLock<ReconcileReport>,
    /// The registry's signing keys (made on the first start), reloaded when a keyset is
    /// installed while the registry runs.
    pub(crate) keys: LiveKeys,
    /// The last log position this process committed (see [`Storage::watch_log`]).
    pub(crate) committed: tokio::sync::watch::Sender<u64>,
    /// Audit records waiting for the writer's next group commit.
    pub(crate) audit_queue: Arc<crate::audit::AuditQueue>,
    /// The plans this storage enforces (see `plans_store.rs`).
    pub(crate) plans: crate::plans_store::PlanSlot,
}

impl Storage {
    /// Opens (creating if needed) the storage in `config.data_dir` with its metadata in the
    /// embedded SQLite database: see [`Storage::open_with_database`].
    pub async fn open(config: StorageConfig) -> Result<Storage, StorageError> {
        Self::open_with_database(config, MetadataDatabase::Embedded).await
    }

    /// Opens (creating if needed) the storage in `config.data_dir` with its metadata in
    /// `database`: migrates the database, starts the writer thread and reconciles the index
    /// files. The data directory holds the keys and the index files either way.
    ///
    /// # Errors
    /// A bad URL, an unreachable database or a refused login is one
    /// [`StorageError::InvalidDatabaseUrl`] or [`StorageError::DatabaseUnreachable`].
    pub async fn open_with_database(
        config: StorageConfig,
        database: MetadataDatabase,
    ) -> Result<Storage, StorageError> {
        Self::open_with_origin(config, database, None).await
    }

    /// [`Storage::open_with_database`], naming the registry `origin` in its signed documents
    /// when this start makes its keys. On PostgreSQL the node's keys are checked against the
    /// keyset the database records (`node_keys.rs`): a node without them, or with others,
    /// refuses to start ([`StorageError::NodeKeys`]).
    #[tracing::instrument(skip_all, fields(data_dir = %config.data_dir.display(), engine = database.engine().name()))]
    pub async fn open_with_origin(
        config: StorageConfig,
        database: MetadataDatabase,
        origin: Option<String>,
    ) -> Result<Storage, StorageError> {
        let data_dir = config.data_dir.clone();
        let db_path = data_dir.join(DB_FILE);
        let setup_dir = data_dir.clone();
        let s3 = config.blobs.connect().await?;
        let engine = database.engine();
        let pending_writes = Arc::new(PendingWrites::new());
        let (runtime, anchor_writes) = (tokio::runtime::Handle::current(), pending_writes.clone());
        let (stores, (writer, pool), keys, audit_queue) = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&setup_dir).map_err(|cause| StorageError::Path {
                path: setup_dir.clone(),
                cause,
            })?;
            let stores = config.blobs.open(&setup_dir, s3)?;
            // The audit head's anchor: a file beside SQLite's database, or each node's object
            // in the blob store all nodes on one PostgreSQL database share (`audit.rs`).
            let audit_queue = Arc::new(match engine {
                Engine::Sqlite => crate::audit::AuditQueue::new(setup_dir.clone()),
                Engine::Postgres => crate::audit::AuditQueue::in_store(
                    &setup_dir,
                    Arc::clone(&stores.blobs),
                    runtime,
                    anchor_writes,
                )?,
            });
            let engine = open_engine(&database, &db_path, Some(Arc::clone(&audit_queue)))?;
            let keys = match &engine.1 {
                EnginePool::Sqlite(_) => {
                    RegistryKeys::load_or_create(&setup_dir, origin.as_deref())?
                }
                EnginePool::Postgres(_) => engine.1.with_sql(|conn| {
                    crate::node_keys::load_node_keys(
                        conn,
                        &setup_dir,
                        origin.as_deref(),
                        now_unix(),
                    )
                })?,
            };
            Ok::<_, StorageError>((stores, engine, keys, audit_queue))
        })
        .await??;
        let keys = LiveKeys::new(&data_dir, keys);
        let (dirty, retry_queue) = DirtyIndexFiles::new();
        let token_cache = match engine {
            Engine::Sqlite => TokenCache::new(data_dir.join(DB_FILE)),
            Engine::Postgres => TokenCache::notified(),
        };
        let storage = Storage {
            inner: Arc::new(Inner {
                writer,
                audit_queue,
                pool,
                token_cache,
                projector: IndexProjector::new(Arc::clone(&stores.index)),
                pending_writes,
                dirty,
                stores,
                data_dir,
                opened: std::sync::OnceLock::new(),
                keys,
                committed: tokio::sync::watch::Sender::new(0),
                plans: crate::plans_store::PlanSlot::default(),
            }),
        };
        // Logs the events of a registry made before the log existed, and signs the first
        // checkpoint of a new one.
        let keys = storage.inner.keys.current();
        storage
            .inner
            .writer
            .run_sql(move |conn| log::append_pending(conn, &keys))
            .await?;
        start_retrying(Arc::downgrade(&storage.inner), retry_queue);
        if let EnginePool::Postgres(database) = &storage.inner.pool {
            crate::node_keys::follow_keyset(Arc::downgrade(&storage.inner), database);
        }
        let report = storage.reconcile().await?;
        tracing::info!(
            checked = report.checked,
            rebuilt = report.rebuilt.len(),
            "storage opened"
        );
        let _ = storage.inner.opened.set(report);
        Ok(storage)
    }

    /// Opens the existing storage in `config.data_dir` without changing anything in it: the
    /// database read-only (no migration: a schema other than this build's is refused), the
    /// keys loaded (never made), no log catch-up, no reconcile, the blob store opened without
    /// its write probe. Anything that would write fails (`SQLite` refuses it). For
    /// `wharf bundle export --data`, which reads a registry another process may serve.
    #[tracing::instrument(skip_all, fields(data_dir = %config.data_dir.display()))]
    pub async fn open_read_only(config: StorageConfig) -> Result<Storage, StorageError> {
        let data_dir = config.data_dir.clone();
        let db_path = data_dir.join(DB_FILE);
        let s3 = config.blobs.connect_read_only()?;
        let setup_dir = data_dir.clone();
        let (stores, conn, keys) = tokio::task::spawn_blocking(move || {
            let conn = crate::db::open_read_only(&db_path)?;
            crate::db::check_schema(&conn, &db_path)?;
            let keys = RegistryKeys::load(&setup_dir)?;
            let stores = config.blobs.open_existing(&setup_dir, s3)?;
            Ok::<_, StorageError>((stores, conn, keys))
        })
        .await??;
        let (dirty, _retry_queue) = DirtyIndexFiles::new();
        let keys = LiveKeys::new(&data_dir, keys);
        let audit_queue = Arc::new(crate::audit::AuditQueue::new(data_dir.clone()));
        let storage = Storage {
            inner: Arc::new(Inner {
                writer: EngineWriter::Sqlite(Writer::start_with_hook(conn, None)?),
                audit_queue,
                pool: EnginePool::Sqlite(ConnectionPool::read_only(data_dir.join(DB_FILE))),
                token_cache: TokenCache::new(data_dir.join(DB_FILE)),
                projector: IndexProjector::new(Arc::clone(&stores.index)),
                pending_writes: Arc::new(PendingWrites::new()),
                dirty,
                stores,
                data_dir,
                opened: std::sync::OnceLock::new(),
                keys,
                committed: tokio::sync::watch::Sender::new(0),
                plans: crate::plans_store::PlanSlot::default(),
            }),
        };
        let _ = storage.inner.opened.set(ReconcileReport::default());
        Ok(storage)
    }

    /// What the reconcile run by [`Storage::open`] checked and rebuilt.
    pub fn open_report(&self) -> &ReconcileReport {
        self.inner
            .opened
            .get()
            .expect("`open` sets the report before it returns the storage")
    }

    /// The data directory this storage was opened on.
    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// Which engine holds the metadata.
    pub fn engine_name(&self) -> &'static str {
        self.inner.pool.engine().name()
    }

    /// Whether the metadata is on PostgreSQL.
    pub fn on_postgres(&self) -> bool {
        self.inner.pool.engine() == Engine::Postgres
    }

    /// Runs a read (portable SQL) on a pooled connection of either engine, off the async
    /// runtime.
    pub(crate) async fn read_sql<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        F: FnOnce(&dyn Sql) -> Result<T, StorageError> + Send + 'static,
        T: Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.pool.with_sql(work)).await?
    }

    /// Brings a package's index file up to the committed log position `seq`, records what
    /// was written, and returns the file's snapshot (which may include later changes).
    async fn project(&self, package_id: i64, seq: u64) -> Result<IndexFileSnapshot, StorageError> {
        self.project_known(package_id, seq, None).await
    }

    /// [`Storage::project`] with the snapshot the caller already read in the transaction
    /// that made `seq` (`None`: read it now).
    async fn project_known(
        &self,
        package_id: i64,
        seq: u64,
        known: Option<IndexFileSnapshot>,
    ) -> Result<IndexFileSnapshot, StorageError> {
        let storage = self.clone();
        let load = async move {
            match known {
                Some(snapshot) => Ok(snapshot),
                None => {
                    storage
                        .read_sql(move |conn| queries::snapshot_by_id(conn, package_id))
                        .await
                }
            }
        };
        let projection = self.inner.projector.project(package_id, seq, load).await?;
        if projection.write_failed {
            self.inner.dirty.mark(package_id);
        }
        if let Some(sha256) = projection.written {
            let written_seq = projection.snapshot.seq;
            self.inner.writer.run_detached_sql(move |conn| {
                record_index_file(conn, package_id, written_seq, &sha256, now_unix())
            });
        }
        Ok(projection.snapshot)
    }

    /// Writes the index file of `snapshot` after the caller has answered; a failed write is
    /// logged and retried in the background (see [`Storage::dirty_index_files`]).
    fn project_behind(&self, package_id: i64, snapshot: IndexFileSnapshot) {
        let storage = self.clone();
        let pending = self.inner.pending_writes.start();
        tokio::spawn(async move {
            let _pending = pending;
            let (name, seq) = (snapshot.name.clone(), snapshot.seq);
            if let Err(error) = storage.project_known(package_id, seq, Some(snapshot)).await {
                tracing::warn!(%error, package = %name, "index file write failed; it is retried in the background");
                storage.inner.dirty.mark(package_id);
            }
            // Settled means recorded too: wait for the record of what was written.
            let _ = storage.inner.writer.run_sql(|_| Ok(())).await;
        });
    }

    /// Waits until every write running behind an acknowledged answer is done: index files
    /// behind publishes, audit anchors, and what callers count with
    /// [`Storage::write_behind`] (the server's download counts).
    /// Servers call it before they exit; [`Storage::verify`] and [`Storage::reconcile`]
    /// call it first.
    pub async fn settle(&self) {
        self.inner.pending_writes.settled().await;
    }

    /// Counts a write the caller runs behind an answer (e.g. the server's batch of download
    /// counts) until the returned guard is dropped, so [`Storage::settle`] waits for it too.
    pub fn write_behind(&self) -> PendingWrite {
        self.inner.pending_writes.start()
    }

    /// How many index-file writes are running behind acknowledged publishes.
    pub fn pending_index_writes(&self) -> usize {
        self.inner.pending_writes.len()
    }

    // ---- users and tokens ----

    /// Creates a token, and its user if the login is new. The secret is returned once. A
    /// token that would give a new user a seat beyond the plan's `seats` is refused
    /// ([`StorageError::QuotaExceeded`]).
    pub fn create_token(&self, request: NewToken) -> Result<CreatedToken, StorageError> {
        self.create_narrowed_token(request, None)
    }

    /// Creates a token narrowed to `role` (which must be within its user's role:
    /// [`StorageError::RoleAboveUser`] otherwise, and nothing is created); `None` is
    /// [`Storage::create_token`].
    pub fn create_narrowed_token(
        &self,
        request: NewToken,
        role: Option<crate::Role>,
    ) -> Result<CreatedToken, StorageError> {
        self.check_new_seat(&request.user)?;
        self.inner
            .pool
            .with_sql(move |conn| tokens::create_narrowed_token(conn, request, role, now_unix()))
    }

    /// Every token, or those of `user`, oldest first.
    pub fn list_tokens(&self, user: Option<&str>) -> Result<Vec<TokenInfo>, StorageError> {
        self.inner
            .pool
            .with_sql(|conn| tokens::list_tokens(conn, user))
    }

    /// Sets (or clears) the name shown next to `login` in owner lists
    /// ([`StorageError::UnknownUser`], [`StorageError::InvalidDisplayName`]).
    pub fn set_display_name(&self, login: &str, name: Option<&str>) -> Result<(), StorageError> {
        self.inner
            .pool
            .with_sql(|conn| tokens::set_display_name(conn, login, name))
    }

    /// Revokes a token ([`StorageError::UnknownToken`] when there is none with that id).
    pub fn revoke_token(&self, id: i64) -> Result<(), StorageError> {
        let revoked = self
            .inner
            .pool
            .with_sql(|conn| tokens::revoke_token(conn, id, now_unix()));
        self.inner.token_cache.forget_all();
        revoked
    }

    /// Finds who a presented token belongs to. Tokens verified since the database last
    /// changed (in this process or any other) are answered from memory; expiry is checked on
    /// every call. On PostgreSQL a change through another node is seen once its
    /// notification arrives (`token_notify.rs`). A miss waits for the database on the calling
    /// thread: async code calls [`Storage::authenticate_async`].
    pub fn authenticate(&self, presented: &str) -> Result<Principal, StorageError> {
        let digest = token_digest(presented.trim());
        self.inner
            .token_cache
            .authenticate(&self.inner.pool, &digest, now_unix())
    }

    /// [`Storage::authenticate`] for async callers (the server's requests): a token verified
    /// since the last change is answered at once; on PostgreSQL a miss is looked up on a
    /// blocking thread, so a slow or locked database holds up this request only, never a
    /// runtime worker and the other requests it runs. SQLite's lookup is a read of a local
    /// file that no writer blocks (WAL), answered on the calling thread: the hand-over to the
    /// blocking pool cost more than the read.
    pub async fn authenticate_async(&self, presented: &str) -> Result<Principal, StorageError> {
        self.authenticate_digest(token_digest(presented.trim()))
            .await
    }

    /// [`Storage::authenticate_async`] by the token's stored SHA-256 (hex), for a web
    /// session that keeps only the token's id.
    pub(crate) async fn authenticate_digest(
        &self,
        digest: String,
    ) -> Result<Principal, StorageError> {
        let now = now_unix();
        if !self.on_postgres() {
            // Checks the cache itself: one look at the database's version per request.
            return self
                .inner
                .token_cache
                .authenticate(&self.inner.pool, &digest, now);
        }
        if let Some(answer) = self.inner.token_cache.cached(&digest, now) {
            return answer;
        }
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            inner.token_cache.authenticate(&inner.pool, &digest, now)
        })
        .await?
    }

    // ---- writes ----

    /// Publishes a version: validates it, stores the blob durably, commits the version and
    /// its `release` event in one transaction, and returns the package's new index snapshot;
    /// the index file is written behind the answer (see [`Storage::settle`]).
    pub async fn publish(
        &self,
        who: &Principal,
        upload: Upload,
    ) -> Result<Published, StorageError> {
        self.publish_limited(who, upload, DailyLimits::default())
            .await
    }

    /// [`Storage::publish`] under daily publish limits: they are checked with the other rules
    /// before anything is written, and again inside the commit's transaction, so concurrent
    /// publishes cannot pass a limit together ([`StorageError::DailyLimitReached`]).
    pub async fn publish_limited(
        &self,
        who: &Principal,
        upload: Upload,
        limits: DailyLimits,
    ) -> Result<Published, StorageError> {
        self.publish_signed(who, upload, limits, ReleaseSigning::default())
            .await
    }

    /// [`Storage::publish_limited`] with the publisher's signatures and the registry's
    /// signing rule (`signed_publish.rs` documents the checks). A signed release's
    /// `pubtime` is its statement's `time`; its leaf carries the publisher's signatures and
    /// the registry's countersignature; the package's first signed release binds its key,
    /// logged as an `owner_key_add` event before the release. A refused signature leaves
    /// nothing behind.
    #[tracing::instrument(skip_all, fields(package = %upload.entry.name, version = %upload.entry.vers, user = %who.login))]
    pub async fn publish_signed(
        &self,
        who: &Principal,
        upload: Upload,
        limits: DailyLimits,
        signing: ReleaseSigning,
    ) -> Result<Published, StorageError> {
        let Upload {
            mut entry,
            crate_bytes,
            metadata,
        } = upload;
        PackageName::new(&entry.name)?;
        let version = entry.vers.to_string();
        let invalid = |reason: String| StorageError::InvalidUpload {
            name: entry.name.clone(),
            version: version.clone(),
            reason,
        };
        // The rule a publish body is held to; an upload may come from elsewhere.
        check_version_length(&version)?;
        if !entry.is_supported() {
            return Err(invalid(format!(
                "index schema version `{}` is newer than cargo supports",
                entry.v.unwrap_or_default()
            )));
        }
        entry.yanked = false;
        // Only the registry names a line's leaf.
        entry.extensions.remove(log::LINE_FIELD);
        entry.pubtime = Some(signing.signed.as_ref().map_or_else(Pubtime::now, |signed| {
            Pubtime::from_unix(signed.statement.time().unix())
        }));
        let origin = self.inner.keys.origin().to_owned();
        // The README (cut to the publish limit) reaches the catalogue: a trigger moves it out
        // of the version row into `catalogue_readmes`, so version rows stay small.

        // Hash the tarball and check every rule before anything is written.
        let quota = crate::write_ops::PublishQuota::new(self.plan_catalog(), &crate_bytes);
        let actual = self
            .check_before_writing(who, &entry, limits, &signing, &origin, crate_bytes)
            .await?;
        let (cksum, crate_bytes, checked_plan) = actual;
        if entry.cksum.is_empty() {
            entry.cksum.clone_from(&cksum);
        } else if entry.cksum != cksum {
            return Err(StorageError::ChecksumMismatch);
        }
        if let Some(signed) = &signing.signed {
            check_statement_matches(
                signed,
                &origin,
                &entry.name,
                &version,
                &cksum,
                &log::published_line(&entry.to_line()),
                now_unix(),
            )?;
        }

        self.inner
            .stores
            .put_blob(&cksum, crate_bytes.clone())
            .await?;

        let request = PublishRequest {
            who: who.clone(),
            entry: entry.clone(),
            metadata,
            limits,
            signing,
            origin,
            checked_plan,
            quota,
        };
        let keys = self.inner.keys.signing()?;
        let (outcome, snapshot, leaf) = self
            .inner
            .writer
            .run_sql(move |conn| {
                let outcome = apply_publish(conn, &request, now_unix())?;
                log::append_pending(conn, &keys)?;
                let leaf = log::leaf_of_event(conn, outcome.seq)?;
                // Read in the same transaction, so the answer needs no second trip.
                let snapshot = queries::snapshot_by_id(conn, outcome.package_id)?;
                Ok((outcome, snapshot, leaf))
            })
            .await?;
        if let Some(leaf) = leaf {
            log::set_leaf(&mut entry, leaf);
        }
        // A blob collection may have deleted a re-used blob between the put and the commit.
        keep_committed_blob(&self.inner.stores, &cksum, crate_bytes).await?;
        tracing::info!(
            seq = outcome.seq,
            created = outcome.created_package,
            "published"
        );
        self.project_behind(outcome.package_id, snapshot.clone());
        self.announce_committed(outcome.seq);
        Ok(Published {
            entry,
            index_file: snapshot,
            seq: outcome.seq,
            created_package: outcome.created_package,
        })
    }

    /// Hashes the tarball and checks every publish rule (scopes, ownership, duplicates,
    /// daily limits, signatures) on a read connection, before anything is written; returns
    /// the hash, the bytes and what the signatures do.
    async fn check_before_writing(
        &self,
        who: &Principal,
        entry: &wharf_index_format::IndexEntry,
        limits: DailyLimits,
        signing: &ReleaseSigning,
        origin: &str,
        crate_bytes: Bytes,
    ) -> Result<(String, Bytes, KeyPlan), StorageError> {
        let inner = Arc::clone(&self.inner);
        let quota = crate::write_ops::PublishQuota::new(self.plan_catalog(), &crate_bytes);
        let (checked_who, checked_entry) = (who.clone(), entry.clone());
        let (checked_signing, checked_origin) = (signing.clone(), origin.to_owned());
        tokio::task::spawn_blocking(move || {
            let actual = sha256_hex(&crate_bytes);
            let plan = inner.pool.with_sql(|conn| {
                let existing = check_publish(conn, &checked_who, &checked_entry)?;
                check_daily_limits(
                    conn,
                    &checked_who,
                    Some((&checked_entry.name, existing.is_none())),
                    limits,
                    now_unix(),
                )?;
                quota.check(conn, existing.is_none(), now_unix())?;
                plan_signing(
                    conn,
                    &checked_who,
                    &checked_entry.name,
                    existing.as_ref(),
                    &checked_signing,
                    &checked_origin,
                    now_unix(),
                )
            })?;
            Ok::<_, StorageError>((actual, crate_bytes, plan))
        })
        .await?
    }

    /// Runs a change to one package in the writer's next group commit, logs it, and brings
    /// the package's index file up to date; returns the new snapshot (`None` when nothing
    /// was logged) and what the change reports.
    pub(crate) async fn change_sql<T: Send + 'static>(
        &self,
        work: impl FnOnce(&dyn Sql, i64) -> Result<PackageChange<T>, StorageError> + Send + 'static,
    ) -> Result<(Option<IndexFileSnapshot>, T), StorageError> {
        let keys = self.inner.keys.signing()?;
        let change = self
            .inner
            .writer
            .run_sql(move |conn| {
                let change = work(conn, now_unix())?;
                log::append_pending(conn, &keys)?;
                Ok(change)
            })
            .await?;
        // A change that logged nothing (adding an existing owner) leaves the file as it is.
        let snapshot = if change.seq == 0 {
            None
        } else {
            let snapshot = self.project(change.package_id, change.seq).await?;
            self.announce_committed(change.seq);
            Some(snapshot)
        };
        Ok((snapshot, change.value))
    }

    /// Yanks or unyanks a version (idempotent, but always logged); returns the new index file.
    #[tracing::instrument(skip(self, who), fields(user = %who.login))]
    pub async fn set_yanked(
        &self,
        who: &Principal,
        name: &str,
        version: &str,
        yanked: bool,
    ) -> Result<IndexFileSnapshot, StorageError> {
        let (who, name, version) = (who.clone(), name.to_owned(), version.to_owned());
        let (snapshot, ()) = self
            .change_sql(move |conn, now| apply_set_yanked(conn, &who, &name, &version, yanked, now))
            .await?;
        snapshot.ok_or_else(|| StorageError::Corrupt {
            what: "a yank logged no event".to_owned(),
        })
    }

    /// Adds owners by login; returns the logins that were not owners before.
    #[tracing::instrument(skip(self, who), fields(user = %who.login))]
    pub async fn add_owners(
        &self,
        who: &Principal,
        name: &str,
        logins: &[String],
    ) -> Result<Vec<String>, StorageError> {
        self.change_owners(who, name, logins, OwnerChange::Add)
            .await
    }

    /// Removes owners by login; returns the logins that were owners. The last owner stays.
    #[tracing::instrument(skip(self, who), fields(user = %who.login))]
    pub async fn remove_owners(
        &self,
        who: &Principal,
        name: &str,
        logins: &[String],
    ) -> Result<Vec<String>, StorageError> {
        self.change_owners(who, name, logins, OwnerChange::Remove)
            .await
    }

    async fn change_owners(
        &self,
        who: &Principal,
        name: &str,
        logins: &[String],
        change: OwnerChange,
    ) -> Result<Vec<String>, StorageError> {
        let (who, name, logins) = (who.clone(), name.to_owned(), logins.to_vec());
        let (_, changed) = self
            .change_sql(move |conn, now| {
                apply_owner_change(conn, &who, &name, &logins, change, now)
            })
            .await?;
        Ok(changed)
    }

    // ---- publisher keys ----

    /// Registers the key of a self-signed key registration (its text and its
    /// `<key id>:<signature>`) to `who`.
    #[tracing::instrument(skip_all, fields(user = %who.login))]
    pub async fn register_publisher_key(
        &self,
        who: &Principal,
        registration: &str,
        signature: &str,
    ) -> Result<PublisherKeyInfo, StorageError> {
        let (who, registration, signature) =
            (who.clone(), registration.to_owned(), signature.to_owned());
        let origin = self.inner.keys.origin().to_owned();
        self.inner
            .writer
            .run_sql(move |conn| {
                publisher_keys::register(conn, &who, &origin, &registration, &signature, now_unix())
            })
            .await
    }

    /// Adds a publisher key to a package with an owner-key-add statement (its text) and
    /// signatures (`<key id>:<signature>`): by a current key of the package, or by the key
    /// itself when the package has none. The key must be registered to an owner. Returns the
    /// package's new index file state and the key added.
    #[tracing::instrument(skip_all, fields(user = %who.login))]
    pub async fn add_package_key(
        &self,
        who: &Principal,
        statement: &str,
        signatures: &[String],
    ) -> Result<wharf_trust::PublicKey, StorageError> {
        let (who, statement, signatures) = (who.clone(), statement.to_owned(), signatures.to_vec());
        let origin = self.inner.keys.origin().to_owned();
        let (_, key) = self
            .change_sql(move |conn, now| {
                crate::key_binding::add_to_package(
                    conn,
                    &who,
                    &origin,
                    &statement,
                    &signatures,
                    now,
                )
            })
            .await?;
        Ok(key)
    }

    /// The publisher keys registered to `who`, oldest first.
    pub async fn publisher_keys(
        &self,
        who: &Principal,
    ) -> Result<Vec<PublisherKeyInfo>, StorageError> {
        let user_id = who.user_id;
        self.read_sql(move |conn| publisher_keys::list(conn, user_id))
            .await
    }

    /// Revokes the publisher key `id` (64 hex digits, or the first 16) of `who`, optionally
    /// declared stolen since `compromised_since` (Unix seconds): every package it is bound
    /// to logs an `owner_key_revoke` event, and releases it signs are refused from then on
    /// (from `compromised_since` on, for a client replaying the log).
    #[tracing::instrument(skip(self, who), fields(user = %who.login))]
    pub async fn revoke_publisher_key(
        &self,
        who: &Principal,
        id: &str,
        compromised_since: Option<i64>,
    ) -> Result<PublisherKeyInfo, StorageError> {
        let (who, id) = (who.clone(), id.to_owned());
        let keys = self.inner.keys.signing()?;
        let (key, changed) = self
            .inner
            .writer
            .run_sql(move |conn| {
                let revoked =
                    publisher_keys::revoke(conn, &who, &id, compromised_since, now_unix())?;
                log::append_pending(conn, &keys)?;
                Ok(revoked)
            })
            .await?;
        for (package_id, seq) in changed {
            self.project(package_id, seq).await?;
        }
        Ok(key)
    }

    // ---- reads ----

    /// The owners of a package ([`StorageError::UnknownPackage`] when there is none).
    pub async fn owners(&self, name: &str) -> Result<Vec<Owner>, StorageError> {
        let name = name.to_owned();
        self.read_sql(move |conn| queries::owners(conn, &name))
            .await
    }

    /// The plugin named `name` with the kind and capabilities of each of its plugin
    /// versions; `None` when there is no such package or it is no plugin.
    pub async fn plugin(&self, name: &str) -> Result<Option<PluginPackage>, StorageError> {
        let name = name.to_owned();
        self.read_sql(move |conn| crate::plugins::plugin_package(conn, &name))
            .await
    }

    /// Searches names and descriptions; `total` counts every match. Runs off the async
    /// runtime: it reads every package, which takes a while in a large registry.
    pub async fn search(&self, query: &str, limit: usize) -> Result<SearchResults, StorageError> {
        let query = query.to_owned();
        self.read_sql(move |conn| queries::search(conn, &query, limit))
            .await
    }

    /// The index file of the package whose lowercase name is `name` lowercased (`-` and `_`
    /// are not folded: they are different files for cargo). `None` when there is none.
    pub async fn index_file(&self, name: &str) -> Result<Option<IndexFileSnapshot>, StorageError> {
        let name = name.to_owned();
        self.read_sql(move |conn| {
            queries::package_by_lower(conn, &name)?
                .map(|package| queries::snapshot(conn, &package))
                .transpose()
        })
        .await
    }

    /// Every package's index file, to warm a cache.
    pub async fn all_index_files(&self) -> Result<Vec<IndexFileSnapshot>, StorageError> {
        let files = self.read_sql(|conn| queries::all_snapshots(conn)).await?;
        Ok(files.into_iter().map(|(_, snapshot)| snapshot).collect())
    }

    /// The `.crate` bytes with this checksum; `None` when absent.
    pub async fn blob(&self, cksum: &str) -> Result<Option<Bytes>, StorageError> {
        get_blob(self.inner.stores.blobs.as_ref(), cksum).await
    }

    /// The `.crate` with this checksum, to be read a chunk at a time (what the server sends
    /// a download from, so a large blob is never held whole); `None` when absent.
    pub async fn blob_stream(&self, cksum: &str) -> Result<Option<BlobStream>, StorageError> {
        get_blob_stream(self.inner.stores.blobs.as_ref(), cksum).await
    }

    /// The checksum of a version. `version` is matched exactly, or, when it has no build
    /// metadata, against the version that equals it once build metadata is removed.
    pub async fn version_cksum(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<String>, StorageError> {
        let (name, version) = (name.to_owned(), version.to_owned());
        self.read_sql(move |conn| queries::version_cksum(conn, &name, &version))
            .await
    }

    /// Refuses with [`StorageError::DailyLimitReached`] when publishing now would pass a daily
    /// limit: `publishes-per-day` alone without a `name` (before an upload is parsed), and
    /// with one also the limit for that package (`new-crates-per-day` when it does not exist
    /// yet, else `versions-per-crate-per-day`). A cheap early answer; the publish checks again.
    pub async fn check_daily_limits(
        &self,
        who: &Principal,
        name: Option<&str>,
        limits: DailyLimits,
    ) -> Result<(), StorageError> {
        if limits == DailyLimits::default() {
            return Ok(());
        }
        let (who, name) = (who.clone(), name.map(str::to_owned));
        self.read_sql(move |conn| {
            let package = match &name {
                Some(name) => Some((
                    name.as_str(),
                    queries::package_by_canonical(conn, name)?.is_none(),
                )),
                None => None,
            };
            check_daily_limits(conn, &who, package, limits, now_unix())
        })
        .await
    }

    /// Whether a package with this name exists (case and `-`/`_` folded, as for publishing).
    pub async fn package_exists(&self, name: &str) -> Result<bool, StorageError> {
        let name = name.to_owned();
        self.read_sql(move |conn| Ok(queries::package_by_canonical(conn, &name)?.is_some()))
            .await
    }

    /// The user's versions published after `since` (seconds since the Unix epoch), the
    /// most recent first and at most `cap` of them: for daily publish limits.
    pub async fn recent_versions(
        &self,
        user_id: i64,
        since: i64,
        cap: u32,
    ) -> Result<RecentPublishes, StorageError> {
        self.read_sql(move |conn| recent::recent_versions(conn, user_id, since, cap))
            .await
    }

    /// The packages the user created (published the first version of) after `since`, the
    /// most recent first and at most `cap` of them: for daily new-package limits.
    pub async fn recent_new_packages(
        &self,
        user_id: i64,
        since: i64,
        cap: u32,
    ) -> Result<RecentPublishes, StorageError> {
        self.read_sql(move |conn| recent::recent_new_packages(conn, user_id, since, cap))
            .await
    }

    /// The versions of package `name` (any spelling of its canonical name) published after
    /// `since`, by anyone, the most recent first and at most `cap` of them: for the daily
    /// per-package limit.
    pub async fn recent_package_versions(
        &self,
        name: &str,
        since: i64,
        cap: u32,
    ) -> Result<RecentPublishes, StorageError> {
        let canonical = wharf_index_format::canonical_name(name);
        self.read_sql(move |conn| recent::recent_package_versions(conn, &canonical, since, cap))
            .await
    }

    /// Up to `limit` log events with `seq > after_seq`, in order.
    pub fn events(&self, after_seq: u64, limit: usize) -> Result<Vec<LogEvent>, StorageError> {
        self.inner
            .pool
            .with_sql(|conn| queries::events(conn, after_seq, limit))
    }
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;
    use object_store::path::Path as ObjectPath;
    use object_store::{ObjectStore, ObjectStoreExt};
    use wharf_index_format::IndexEntry;

    use super::*;
    use crate::BlobBackend;

    #[test]
    fn storage_is_shareable_across_tasks() {
        fn shareable<T: Send + Sync + Clone + 'static>() {}
        shareable::<Storage>();
    }

    #[tokio::test]
    async fn a_custom_store_holds_both_blobs_and_index_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(InMemory::new());
        let custom: Arc<dyn ObjectStore> = store.clone();
        let storage = Storage::open(StorageConfig {
            data_dir: dir.path().into(),
            blobs: BlobBackend::Custom(custom),
        })
        .await
        .unwrap();
        let who = crate::metadata_tests::storage_user(&storage, "alice");
        let bytes = Bytes::from_static(b"abc crate");
        let cksum = sha256_hex(&bytes);
        let line = format!(r#"{{"name":"abc","vers":"1.0.0","deps":[],"cksum":"{cksum}"}}"#);
        let published = storage
            .publish(
                &who,
                Upload {
                    entry: IndexEntry::from_line(&line).unwrap(),
                    crate_bytes: bytes.clone(),
                    metadata: wharf_index_format::PackageMetadata::default(),
                },
            )
            .await
            .unwrap();
        storage.settle().await;
        let index = store
            .get(&ObjectPath::from("index/3/a/abc"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(index, published.index_file.bytes);
        assert_eq!(storage.blob(&cksum).await.unwrap(), Some(bytes));
        assert!(!dir.path().join("blobs").exists());
        assert!(storage.verify().await.unwrap().problems.is_empty());
    }
}

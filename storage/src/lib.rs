//! Wharf storage: content-addressed blobs on `object_store`, metadata and the append-only
//! event log on SQLite, and the derived per-package index files.
//!
//! - **Blobs** are the exact `.crate` bytes under `sha256/ab/cd/<hex>`; the index `cksum` is
//!   the key. On the local backend a blob is fsynced (file and directory) before a publish
//!   is acknowledged.
//! - **The database** (`wharf.db`, WAL, `synchronous=FULL`) is the truth: users, tokens
//!   (SHA-256 only), packages, versions with their exact index lines, owners, and the event
//!   log (`release`, `yank`, `unyank`, `owner_add`, `owner_remove`), which triggers keep
//!   append-only. Package writes go through one writer thread that commits queued requests
//!   in groups (one fsync per group, a savepoint per request); token changes use a short
//!   transaction of their own; reads use pooled connections and never wait for the writer.
//!   Other processes may open the same database at the same time.
//! - **Index files** (`index/<index_path>`) are projections of the database, written
//!   atomically after each commit; changes to one package that queue up share one write.
//!   A publish returns the committed snapshot at once and writes its file behind the answer
//!   ([`Storage::settle`] waits for such writes); a failed write is retried in the background
//!   until it succeeds ([`Storage::dirty_index_files`]). [`Storage::reconcile`] (also run by
//!   [`Storage::open`]) rebuilds any that lag or differ; [`Storage::verify`] reports every
//!   inconsistency.
//!
//! A publish runs: validate and check every rule → blob put → one transaction (version
//! row, event, and the package's new index snapshot) → blob still there → answer → index
//! file. A crash at any point leaves no trace, a state reconcile completes, or an
//! unreferenced blob, which [`Storage::collect_garbage`] deletes once it is older than a grace
//! period (safe while a server publishes: see its documentation). All business rules (scopes, name patterns, ownership, duplicates,
//! canonical-name clashes) live here; [`StorageError::kind`] tells a server which HTTP
//! status to answer.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use wharf_storage::{BlobBackend, NewToken, Scope, Storage, StorageConfig};
//! let dir = tempfile::tempdir().unwrap();
//! let storage = Storage::open(StorageConfig { data_dir: dir.path().into(), blobs: BlobBackend::Memory })
//!     .await
//!     .unwrap();
//! let token = storage
//!     .create_token(NewToken {
//!         user: "alice".into(),
//!         scopes: Scope::ALL.to_vec(),
//!         expires_at: None,
//!         name_patterns: vec![],
//!         label: None,
//!     })
//!     .unwrap();
//! let who = storage.authenticate(token.secret.expose()).unwrap();
//! assert_eq!(who.login, "alice");
//! # });
//! ```

mod advisories;
mod audit;
#[cfg(test)]
mod audit_tests;
mod auth;
mod backup;
mod backup_archive;
mod blobs;
mod catalogue;
mod catalogue_api;
mod catalogue_compaction;
mod catalogue_page;
mod catalogue_search;
mod catalogue_sql;
#[cfg(test)]
mod catalogue_tests;
mod catalogue_web;
mod config;
mod daily_limits;
mod db;
mod dirty_files;
mod downloads;
mod engine;
mod entitlements;
mod error;
mod follower;
mod gc;
mod index_changes;
mod index_files;
mod install_reports;
mod key_binding;
mod keyset_rotation;
mod lifecycle;
mod lifecycle_serial;
#[cfg(test)]
mod lifecycle_tests;
mod log;
mod log_api;
mod log_verify;
#[cfg(test)]
mod marketplace_tests;
#[cfg_attr(
    not(test),
    allow(
        dead_code,
        reason = "the core on PostgreSQL is tested on both engines; `wharf serve` uses it in a later stage"
    )
)]
mod metadata;
#[cfg(test)]
mod metadata_tests;
mod model;
mod node_keys;
#[cfg_attr(
    not(test),
    allow(
        dead_code,
        reason = "used by `metadata.rs`, which `wharf serve` uses in a later stage"
    )
)]
mod pg;
mod pg_catalogue;
#[cfg_attr(
    not(test),
    allow(
        dead_code,
        reason = "used by `metadata.rs`, which `wharf serve` uses in a later stage"
    )
)]
mod pg_schema;
mod pg_tenants;
mod plans;
mod plans_store;
mod plugins;
#[cfg(test)]
mod publish_round_trips;
mod publisher_keys;
mod queries;
mod recent;
mod recommendations;
mod reconcile;
mod registry_keys;
mod restore;
mod review_moderation;
mod reviews;
mod roles;
mod roles_store;
mod s3;
mod sealed_box;
mod shared_blobs;
#[cfg(test)]
mod shared_blobs_tests;
mod shared_existing;
mod signed_publish;
#[cfg(test)]
mod signing_tests;
mod sql;
mod sql_sqlite;
mod storage;
mod teams;
#[cfg(test)]
mod teams_plans_tests;
mod tenant_keys;
mod tenant_rows;
mod token_cache;
mod token_notify;
mod tokens;
mod usage;
mod web_sessions;
mod webhook_outbox;
mod webhook_retry;
mod webhook_secrets;
mod webhooks;
#[cfg(test)]
mod webhooks_tests;
mod write_behind;
pub use write_behind::PendingWrite;
mod write_ops;
mod writer;

pub use advisories::{AdvisoryInput, MAX_ADVISORY_DESCRIPTION};
pub use audit::{
    AUDIT_HEAD_FILE, AUDIT_HEADS_PREFIX, AuditEntry, AuditRecord, DEFAULT_TENANT, GENESIS_HASH,
    read_head as read_audit_head, verify_records as verify_audit_records,
};
pub use auth::{CreatedToken, NewToken, Principal, Scope, SecretToken, TokenInfo};
pub use backup::{BackupProgress, BackupSummary, PAGES_PER_STEP, create_backup};
pub use blobs::BlobStream;
pub use catalogue::{
    CAPABILITIES, CatalogueHit, CataloguePage, CatalogueQuery, CatalogueSort, KINDS, RatingSummary,
};
pub use catalogue_page::{HOST_API_PACKAGE, PackagePage, PageDependency, PagePlugin, PageVersion};
pub use catalogue_web::{CategoryCount, ModeratedReview, OwnedPackage, UserSummary};
pub use config::{BlobBackend, StorageConfig};
pub use daily_limits::{DAY_SECONDS, DailyLimit, DailyLimits};
pub use db::DB_FILE as DATABASE_FILE;
pub use downloads::{
    CountedDownload, DailyDownloads, DownloadStats, SERIES_DAYS, VersionDownloads,
};
pub use engine::MetadataDatabase;
pub use entitlements::{DownloadRefusal, EntitlementInfo};
pub use error::{ErrorKind, StorageError};
pub use follower::FollowedLog;
pub use gc::{DEFAULT_GRACE, GcOptions, GcReport, OrphanBlob};
pub use index_changes::{IndexChanges, IndexState};
pub use install_reports::{INSTALL_ID_LEN, InstallReport, MAX_REPORTED_PACKAGES, ReportOutcome};
pub use keyset_rotation::{install_next_keyset, request_next_keyset};
pub use lifecycle::{MAX_LIFECYCLE_TEXT, PackageLifecycle};
pub use log::{LINE_FIELD, MAX_LEAVES_PER_PAGE};
pub use log_api::{LogLeaf, SignedTimestamp};
pub use model::{
    EventKind, IndexFileSnapshot, LogEvent, Owner, Published, RecentPublishes, ReconcileReport,
    SearchHit, SearchResults, Upload, VerifyReport,
};
pub use pg::redact as redact_database_url;
pub use pg_tenants::ExistingDatabase;
pub use plans::{Entitlement, Limits, Plans};
pub use plans_store::PlanCatalog;
pub use plugins::{PluginPackage, PluginRelease};
pub use publisher_keys::PublisherKeyInfo;
pub use recommendations::{
    MAX_RECOMMENDATIONS, Recommendation, RecommendationBasis, Recommendations,
};
pub use registry_keys::{
    KEYS_DIR, LiveKeys, ROOT_KEY_FILE, RegistryKeys, current_keyset, root_public_key,
};
pub use restore::{RestoreSummary, restore_backup};
pub use review_moderation::ReportedReview;
pub use reviews::{
    ADMIN_LOGIN, HiddenReview, MAX_REASON_CHARS, MAX_REPLY_CHARS, MAX_REVIEW_CHARS, Review,
    ReviewInput, ReviewReply,
};
pub use roles::{Action, PERMISSIONS, Role, permission_table_markdown};
pub use s3::{S3Config, S3Location};
pub use signed_publish::{ReleaseSigning, SIGNED_TIME_WINDOW_SECONDS, SignedRelease};
pub use storage::Storage;
pub use teams::{TEAM_PREFIX, Team};
pub use tenant_keys::{TENANT_KEY_FILE, install_tenant_keys, make_tenant_key, seal_tenant_keys};
pub use tenant_rows::{POLL_WHILE_DEAF, POLL_WHILE_LISTENING, TenantEntry, TenantWatch};
pub use tokens::check_display_name;
pub use usage::{EntitlementUsage, UsageReport};
pub use web_sessions::{MAX_WEB_SESSIONS, WebSession, web_session_digest};
pub use webhook_outbox::{DeliveryState, MAX_ATTEMPTS as WEBHOOK_MAX_ATTEMPTS, OutboxEntry};
pub use webhook_retry::WebhookRetry;
pub use webhook_secrets::WEBHOOK_KEY_FILE;
pub use webhooks::{ClaimedDeliveries, DueDelivery, Webhook, WebhookDelivery};

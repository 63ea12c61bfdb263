//! The one error type of `wharf-storage`, and its coarse [`ErrorKind`] for HTTP mapping.
//!
//! Messages are written for the person running cargo: they name the package, version, login or
//! scope involved, and say what to do next where there is something to do.

use wharf_index_format::FormatError;

use crate::{DailyLimit, Scope};

/// How an error should be reported to a client; the server maps each kind to one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request itself is wrong (bad name, checksum mismatch, removing the last owner).
    BadRequest,
    /// The token is missing, unknown, revoked or expired.
    Unauthorized,
    /// The token is valid but may not do this (scope, name pattern, ownership).
    Forbidden,
    /// The package, version, user or token does not exist.
    NotFound,
    /// The request clashes with what already exists (duplicate version, name taken).
    Conflict,
    /// A publish limit is reached; the client may try again later.
    TooManyRequests,
    /// The file system or quota holding the data is full; nothing was stored, and the client
    /// may try again once an operator has freed space.
    InsufficientStorage,
    /// A fault inside Wharf (database, object store, I/O); details go to the log, not the client.
    Internal,
    /// The feature is not available on this registry's database engine (a feature whose
    /// tables are not on PostgreSQL yet); the message names it.
    NotImplemented,
}

/// Everything that can go wrong in Wharf's storage layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The version (ignoring build metadata) already exists for this package.
    #[error(
        "crate `{name}` version `{version}` is already published; bump the version in Cargo.toml"
    )]
    DuplicateVersion {
        /// The package name.
        name: String,
        /// The version that was uploaded.
        version: String,
    },
    /// Another package already uses this name up to case and `-`/`_`.
    #[error(
        "the name `{name}` is taken by the existing crate `{existing}` (names are compared ignoring case and `-`/`_`); choose another name"
    )]
    NameTaken {
        /// The name that was uploaded.
        name: String,
        /// The existing package's name as published.
        existing: String,
    },
    /// The user is not an owner of the package.
    #[error(
        "user `{login}` is not an owner of crate `{name}`; ask an owner to run `cargo owner --registry <registry> --add {login} {name}` (`<registry>` being this registry's name in their cargo configuration)"
    )]
    NotOwner {
        /// The acting user's login.
        login: String,
        /// The package name.
        name: String,
    },
    /// The token lacks the scope this operation needs.
    #[error("this token lacks the `{scope}` scope; create a token that has it")]
    MissingScope {
        /// The scope that is needed.
        scope: Scope,
    },
    /// The token is restricted to name patterns that do not match this package.
    #[error(
        "this token may only act on crates matching `{}`, not on `{name}`; use a token whose name patterns allow it",
        patterns.join("`, `")
    )]
    NameNotAllowed {
        /// The package name.
        name: String,
        /// The token's name patterns.
        patterns: Vec<String>,
    },
    /// No package has this name.
    #[error("crate `{name}` does not exist in this registry")]
    UnknownPackage {
        /// The name as given.
        name: String,
    },
    /// The package has no such version.
    #[error("crate `{name}` has no version `{version}`")]
    UnknownVersion {
        /// The package name.
        name: String,
        /// The version as given.
        version: String,
    },
    /// No user has this login.
    #[error(
        "no user with login `{login}`; an operator creates it with `wharf token create --user {login}`"
    )]
    UnknownUser {
        /// The login as given.
        login: String,
    },
    /// Removing these owners would leave the package without any owner.
    #[error("cannot remove every owner of crate `{name}`; add another owner first")]
    LastOwner {
        /// The package name.
        name: String,
    },
    /// The presented token is not known to this registry.
    #[error("invalid token; create one with `wharf token create` and run `cargo login`")]
    InvalidToken,
    /// The presented token has expired.
    #[error("this token has expired; create a new one with `wharf token create`")]
    ExpiredToken,
    /// The presented token was revoked.
    #[error("this token was revoked; create a new one with `wharf token create`")]
    RevokedToken,
    /// No token has this id.
    #[error("there is no token with id `{id}`")]
    UnknownToken {
        /// The id as given.
        id: i64,
    },
    /// The uploaded bytes do not hash to the checksum in the index entry.
    #[error("the uploaded crate's sha256 does not match the checksum it was announced with")]
    ChecksumMismatch,
    /// The package name or the version breaks a rule of `wharf-index-format` (the message
    /// names which).
    #[error(transparent)]
    InvalidName(#[from] FormatError),
    /// The upload is malformed in a way the other variants do not cover.
    #[error("crate `{name}` version `{version}` cannot be published: {reason}")]
    InvalidUpload {
        /// The package name.
        name: String,
        /// The version.
        version: String,
        /// What is wrong, for a person.
        reason: String,
    },
    /// A login is empty, too long, or has characters other than printable ASCII.
    #[error("invalid login `{login}`: use 1 to 64 printable ASCII characters without spaces")]
    InvalidLogin {
        /// The login as given.
        login: String,
    },
    /// A display name is empty, too long, or holds control characters.
    #[error("invalid display name `{name}`: use 1 to 100 characters without control characters")]
    InvalidDisplayName {
        /// The name as given.
        name: String,
    },
    /// A scope string is not one of [`crate::Scope::ALL`].
    #[error(
        "unknown token scope `{scope}`; expected one of publish-new, publish-update, yank, owners, read"
    )]
    UnknownScope {
        /// The string as given.
        scope: String,
    },
    /// A write was accepted but the transaction holding it could not be committed.
    #[error("the write could not be committed: {reason}")]
    CommitFailed {
        /// What SQLite reported.
        reason: String,
    },
    /// A daily publish limit is reached; nothing was written.
    #[error(
        "`{login}` reached the daily limit `{limit}` = {max}{}: {counted} in the last 24 hours; there is room again in {retry_after_secs} s",
        name.as_deref().map(|n| format!(" publishing `{n}`")).unwrap_or_default()
    )]
    DailyLimitReached {
        /// Which limit.
        limit: DailyLimit,
        /// Its configured value.
        max: std::num::NonZeroU32,
        /// The publishes counted in the window (as many as `max`).
        counted: u32,
        /// The publishing user.
        login: String,
        /// The package being published, when the check knew it.
        name: Option<String>,
        /// Seconds until the oldest counted publish leaves the window.
        retry_after_secs: u64,
    },
    /// A licence administration request is refused (e.g. a revocation list that is not
    /// newer than the stored one).
    #[error("{reason}")]
    InvalidLicenceRequest {
        /// What is wrong and what to do.
        reason: String,
    },
    /// The storage's writer thread is gone (the storage is shutting down).
    #[error("the storage writer has stopped")]
    WriterStopped,
    /// A stored value could not be decoded (a corrupted database row).
    #[error("stored data is corrupt: {what}")]
    Corrupt {
        /// What could not be decoded, and where.
        what: String,
    },
    /// The file system or quota holding the data is full (`ENOSPC`, `EDQUOT`, SQLite's
    /// `SQLITE_FULL`): the write was refused and none of it was stored.
    #[error(
        "the registry's storage is full ({cause}); nothing was stored: retry once an operator has freed space"
    )]
    StorageFull {
        /// What failed, as the file system, SQLite or the object store reported it.
        cause: String,
    },
    /// A request would take the registry over a limit of its plan; nothing was changed.
    #[error(
        "{}: the limit `{entitlement}` of this registry's plan `{plan}` is {}, it uses {}{}; ask an operator to move this registry to a larger plan: wharf admin plan set NAME",
        crate::usage::refusal_subject(*entitlement),
        entitlement.show(*limit),
        entitlement.show(*usage),
        crate::usage::refusal_adding(*entitlement, *adding)
    )]
    QuotaExceeded {
        /// The entitlement over its limit.
        entitlement: crate::Entitlement,
        /// The registry's plan.
        plan: String,
        /// The plan's limit.
        limit: u64,
        /// The registry's usage before this request.
        usage: u64,
        /// What the request would add.
        adding: u64,
        /// For the publish rate: seconds until the oldest counted publish leaves the hour.
        retry_after_secs: Option<u64>,
    },
    /// The plans file cannot be read or has a mistake.
    #[error("plans file `{file}`: {}{reason}", crate::usage::shown_key(key))]
    PlansFile {
        /// The file as given.
        file: String,
        /// The key at fault (empty when the whole file is).
        key: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// A plan name that the plans file does not define.
    #[error("there is no plan `{name}` in {file}; the plans there are: {known}")]
    UnknownPlan {
        /// The name asked for.
        name: String,
        /// Where plans were looked up.
        file: String,
        /// The plans it defines, comma-separated.
        known: String,
    },
    /// SQLite failed (a full disk becomes [`StorageError::StorageFull`] instead).
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    /// PostgreSQL failed or refused a statement (a full disk becomes
    /// [`StorageError::StorageFull`] instead).
    #[error("PostgreSQL error: {reason}")]
    Postgres {
        /// What the server or the driver reported.
        reason: String,
    },
    /// A `--database` URL is not a PostgreSQL connection URL.
    #[error(
        "`{url}` is not a PostgreSQL database URL: {reason}; write it as `postgres://USER:PASSWORD@HOST:PORT/DATABASE`"
    )]
    InvalidDatabaseUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The PostgreSQL server named by `--database` cannot be reached or refused the login.
    #[error(
        "cannot connect to the PostgreSQL database `{url}`: {reason}; check that the server runs, that the URL's user, password and database are right, and that this host may connect"
    )]
    DatabaseUnreachable {
        /// The URL, password hidden.
        url: String,
        /// What the driver reported.
        reason: String,
    },
    /// A tenant's PostgreSQL database cannot be named or made.
    #[error("the PostgreSQL database `{database}` of tenant `{tenant}` cannot be used: {reason}")]
    TenantDatabase {
        /// The tenant.
        tenant: String,
        /// The database's name.
        database: String,
        /// Why, and what to do.
        reason: String,
    },
    /// A change of the tenants table on PostgreSQL was refused, or a tenant's signing keys
    /// cannot be handed to this node.
    #[error("tenant `{tenant}` {problem}")]
    Tenant {
        /// The tenant.
        tenant: String,
        /// What is wrong, and what to do.
        problem: String,
    },
    /// A feature whose tables are not on PostgreSQL yet was asked for on a PostgreSQL
    /// database.
    #[error(
        "{feature} is not supported on PostgreSQL yet; keep the registry's metadata in the embedded SQLite database to use it"
    )]
    NotOnPostgres {
        /// The feature, as a user names it.
        feature: String,
    },
    /// The object store failed (a full disk becomes [`StorageError::StorageFull`] instead).
    #[error("object store error: {0}")]
    ObjectStore(object_store::Error),
    /// An S3 storage URL is malformed.
    #[error("`{url}` is not an S3 storage URL: {reason}; write it as `s3://BUCKET/PREFIX`")]
    InvalidS3Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The S3 bucket cannot be used (checked when storage opens): unreachable, missing,
    /// credentials refused or missing.
    #[error("S3 storage `{location}`: {reason}")]
    S3Unusable {
        /// The bucket and prefix, as `s3://BUCKET/PREFIX`.
        location: String,
        /// What went wrong and what to do.
        reason: String,
    },
    /// A file-system operation failed (a full disk becomes [`StorageError::StorageFull`]
    /// instead).
    #[error("I/O error: {0}")]
    Io(std::io::Error),
    /// A file or directory of the data directory cannot be used. The OS error is part of the
    /// message and deliberately not a `source`, so it is printed once.
    #[error("cannot use `{}`: {cause}", path.display())]
    Path {
        /// The file or directory.
        path: std::path::PathBuf,
        /// What the operating system reported.
        cause: std::io::Error,
    },
    /// A registry's blob and the copy the server's tenants share would be linked across two
    /// file systems (a hard link cannot be).
    #[error(
        "cannot link `{}` to `{}`: they are on different file systems, and a tenant's blobs are hard links to the copies in `{}`; put that directory on the file system of the tenants' directories (move it there, or mount both from one file system), then try again",
        to.display(),
        from.display(),
        shared.display()
    )]
    BlobsOnTwoFileSystems {
        /// The existing file the link was to name.
        from: std::path::PathBuf,
        /// The link that could not be made.
        to: std::path::PathBuf,
        /// The directory of the shared copies (`DATA/tenants/.blobs`).
        shared: std::path::PathBuf,
    },
    /// A blocking task panicked or was cancelled.
    #[error("background task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// A file of the registry's signing keys (`<data>/keys/`) cannot be used.
    #[error("registry key file `{}`: {reason}", path.display())]
    Keys {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong, and what to do.
        reason: String,
    },
    /// A node of a registry on PostgreSQL holds no signing keys, or others than the keyset
    /// the database records: it refuses to start rather than sign with keys of its own.
    #[error(
        "the signing keys in `{}` {problem}; copy `keys/` (every file, mode 0600) from a running node of this registry into `{}` and start again: every node signs with the registry's one keyset",
        keys_dir.display(),
        keys_dir.display()
    )]
    NodeKeys {
        /// The node's key directory (`<data>/keys`).
        keys_dir: std::path::PathBuf,
        /// What is wrong with them, naming both root keys.
        problem: String,
    },
    /// A running node of a registry on PostgreSQL holds a keyset the registry has moved past
    /// (installed on another node): it signs nothing until the new keys are copied to it.
    #[error(
        "this node stopped signing: the signing keys in `{}` {problem}; copy `keys/` (every file, mode 0600) from the node where the keyset was installed into `{}`: the node picks them up without a restart",
        keys_dir.display(),
        keys_dir.display()
    )]
    KeysetMoved {
        /// The node's key directory (`<data>/keys`).
        keys_dir: std::path::PathBuf,
        /// What is wrong with them, naming both keysets.
        problem: String,
    },
    /// A request for log data names a leaf or tree size the log does not have.
    #[error("{reason}")]
    LogRange {
        /// The parameter, its value and the log's size, and what to ask instead.
        reason: String,
    },
    /// A signed release or key request does not match what it claims, or its signature does
    /// not verify.
    #[error("{reason}")]
    InvalidSignature {
        /// What does not match or verify, and what to do.
        reason: String,
    },
    /// A signature is valid but its key may not act for the package (unknown, another
    /// account's, revoked or compromised), or the package's releases must be signed.
    #[error("{reason}")]
    KeyNotAllowed {
        /// Which key, why, and what to do.
        reason: String,
    },
    /// The registry requires signed releases and the upload carries no signature.
    #[error("this registry requires signed releases: publish with `wharf publish --key FILE`")]
    SignatureRequired,
    /// No publisher key with this id is registered to the user.
    #[error(
        "no publisher key `{id}` is registered to user `{login}`; `wharf keys list` shows your keys"
    )]
    UnknownPublisherKey {
        /// The key id as given.
        id: String,
        /// The acting user's login.
        login: String,
    },
    /// The publisher key is registered already.
    #[error(
        "the publisher key `{id}` is registered already; a key belongs to one account (make a new one with `wharf keys new`)"
    )]
    KeyAlreadyRegistered {
        /// The key id (first 16 hex digits).
        id: String,
    },
    /// The publisher key is revoked already.
    #[error("the publisher key `{id}` is revoked already; nothing changed")]
    KeyRevoked {
        /// The key id (first 16 hex digits).
        id: String,
    },
    /// A key request is malformed (a registration that does not parse, a
    /// `compromised-since` in the future).
    #[error("{reason}")]
    InvalidKeyRequest {
        /// What is wrong, and what to do.
        reason: String,
    },
    /// A signing or Merkle-log primitive refused its input (a corrupt log row, a bad key).
    #[error("transparency log: {0}")]
    Trust(#[from] wharf_trust::TrustError),
    /// A catalogue request or review is malformed (a rating out of range, a review too long,
    /// an unknown sort order); the message names the field and what to send instead.
    #[error("{reason}")]
    InvalidCatalogueRequest {
        /// What is wrong, and what to do.
        reason: String,
    },
    /// The package has no review with this id.
    #[error(
        "crate `{name}` has no review {id}; list them with `GET /api/wharf/v1/catalogue/packages/{name}/reviews`"
    )]
    UnknownReview {
        /// The package name.
        name: String,
        /// The review id as given.
        id: i64,
    },
    /// A lifecycle request (deprecation, quarantine, advisory) is malformed.
    #[error("{reason}")]
    InvalidLifecycleRequest {
        /// What is wrong and what to do.
        reason: String,
    },
    /// A lifecycle request clashes with the current state (already quarantined, an
    /// advisory id taken).
    #[error("{reason}")]
    LifecycleConflict {
        /// What clashes and what to do.
        reason: String,
    },
    /// There is no such deprecation to withdraw.
    #[error("{what} is not deprecated; nothing to withdraw")]
    NotDeprecated {
        /// The package or version.
        what: String,
    },
    /// There is no such quarantine to release.
    #[error("crate `{name}` version `{version}` is not quarantined; nothing to release")]
    NotQuarantined {
        /// The package name.
        name: String,
        /// The version.
        version: String,
    },
    /// The version is quarantined: its owners cannot yank or unyank it, and its blob is
    /// not served, until the administrator releases it.
    #[error(
        "crate `{name}` version `{version}` is quarantined by the registry administrator ({reason}); it stays yanked until the administrator releases it"
    )]
    Quarantined {
        /// The package name.
        name: String,
        /// The version.
        version: String,
        /// The administrator's reason.
        reason: String,
    },
    /// Only a tenant admin may do this.
    #[error("user `{login}` may not {action}: only a tenant admin may (`wharf admin role set`)")]
    NotAdmin {
        /// The acting user's login.
        login: String,
        /// What was attempted.
        action: String,
    },
    /// A backup file cannot be written, or one being restored is damaged, altered or
    /// incomplete (the reason names the member); the restore changed nothing.
    #[error("backup `{}`: {reason}", file.display())]
    Backup {
        /// The backup file.
        file: std::path::PathBuf,
        /// What is wrong (naming the member), and what to do.
        reason: String,
    },
    /// A restore target cannot be used (e.g. it is not empty); nothing was written to it.
    #[error("restore target `{}`: {reason}", dir.display())]
    RestoreTarget {
        /// The data directory to restore into.
        dir: std::path::PathBuf,
        /// What is wrong, and what to do.
        reason: String,
    },
    /// The user's role, or the role the token is narrowed to, does not allow the action.
    #[error(
        "user `{login}` (role {role}) may not {what}: the action `{action}` needs the role {allowed}; ask a tenant admin (`wharf admin role set {login} ROLE`)"
    )]
    NotPermitted {
        /// The acting user's login.
        login: String,
        /// The role that refused (the user's, or the token's narrowed role).
        role: crate::Role,
        /// The action of the permission table.
        action: crate::Action,
        /// What was attempted, in words.
        what: String,
        /// The roles that may, joined with `or`.
        allowed: String,
    },
    /// No such role.
    #[error(
        "`{role}` is not a role; use one of tenant-admin, maintainer, publisher, reader, auditor"
    )]
    UnknownRole {
        /// The text given.
        role: String,
    },
    /// A token may not be narrowed to a role above its user's.
    #[error(
        "a token of `{login}` cannot have the role {requested}: it allows more than the user's role {user_role}; pick a role within it"
    )]
    RoleAboveUser {
        /// The token's user.
        login: String,
        /// The role asked for.
        requested: crate::Role,
        /// The user's role.
        user_role: crate::Role,
    },
    /// A team name or team change is not acceptable.
    #[error("{reason}")]
    InvalidTeamRequest {
        /// What is wrong and what to do.
        reason: String,
    },
    /// No webhook delivery (outbox row) with that id.
    #[error(
        "there is no webhook delivery {id}; `wharf admin webhooks deliveries` lists them (`GET /api/wharf/v1/webhooks/deliveries` under `outbox`)"
    )]
    UnknownWebhookDelivery {
        /// The id asked for.
        id: i64,
    },
    /// No team with that name.
    #[error("there is no team `{name}`; create it with `wharf team create {name}`")]
    UnknownTeam {
        /// The team name.
        name: String,
    },
    /// The change would leave the registry without a tenant admin.
    #[error(
        "`{login}` is the last tenant admin and keeps the role: make another user a tenant admin first (`wharf admin role set LOGIN tenant-admin`); nothing changed"
    )]
    LastTenantAdmin {
        /// The last tenant admin's login.
        login: String,
    },
}

impl StorageError {
    /// The coarse kind, so the server maps errors to HTTP statuses in one place.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::DuplicateVersion { .. }
            | Self::NameTaken { .. }
            | Self::KeyAlreadyRegistered { .. }
            | Self::KeyRevoked { .. }
            | Self::LifecycleConflict { .. }
            | Self::Quarantined { .. } => ErrorKind::Conflict,
            Self::NotOwner { .. }
            | Self::MissingScope { .. }
            | Self::NameNotAllowed { .. }
            | Self::KeyNotAllowed { .. }
            | Self::NotAdmin { .. }
            | Self::NotPermitted { .. }
            | Self::RoleAboveUser { .. } => ErrorKind::Forbidden,
            Self::UnknownPublisherKey { .. }
            | Self::UnknownPackage { .. }
            | Self::UnknownVersion { .. }
            | Self::UnknownUser { .. }
            | Self::UnknownToken { .. }
            | Self::UnknownReview { .. }
            | Self::UnknownTeam { .. }
            | Self::UnknownWebhookDelivery { .. }
            | Self::NotDeprecated { .. }
            | Self::NotQuarantined { .. } => ErrorKind::NotFound,
            Self::LastOwner { .. }
            | Self::LastTenantAdmin { .. }
            | Self::ChecksumMismatch
            | Self::InvalidName(_)
            | Self::InvalidUpload { .. }
            | Self::InvalidLogin { .. }
            | Self::InvalidDisplayName { .. }
            | Self::UnknownScope { .. }
            | Self::LogRange { .. }
            | Self::InvalidSignature { .. }
            | Self::InvalidKeyRequest { .. }
            | Self::SignatureRequired
            | Self::InvalidCatalogueRequest { .. }
            | Self::InvalidLicenceRequest { .. }
            | Self::InvalidLifecycleRequest { .. }
            | Self::PlansFile { .. }
            | Self::UnknownPlan { .. }
            | Self::UnknownRole { .. }
            | Self::InvalidTeamRequest { .. } => ErrorKind::BadRequest,
            Self::InvalidToken | Self::ExpiredToken | Self::RevokedToken => ErrorKind::Unauthorized,
            Self::DailyLimitReached { .. } => ErrorKind::TooManyRequests,
            Self::QuotaExceeded {
                retry_after_secs, ..
            } => {
                if retry_after_secs.is_some() {
                    ErrorKind::TooManyRequests
                } else {
                    ErrorKind::Forbidden
                }
            }
            Self::StorageFull { .. } => ErrorKind::InsufficientStorage,
            Self::NotOnPostgres { .. } => ErrorKind::NotImplemented,
            Self::CommitFailed { .. }
            | Self::WriterStopped
            | Self::Corrupt { .. }
            | Self::Sqlite(_)
            | Self::Postgres { .. }
            | Self::InvalidDatabaseUrl { .. }
            | Self::DatabaseUnreachable { .. }
            | Self::TenantDatabase { .. }
            | Self::Tenant { .. }
            | Self::ObjectStore(_)
            | Self::InvalidS3Url { .. }
            | Self::S3Unusable { .. }
            | Self::Io(_)
            | Self::Path { .. }
            | Self::BlobsOnTwoFileSystems { .. }
            | Self::Join(_)
            | Self::Keys { .. }
            | Self::NodeKeys { .. }
            | Self::KeysetMoved { .. }
            | Self::Backup { .. }
            | Self::RestoreTarget { .. }
            | Self::Trust(_) => ErrorKind::Internal,
        }
    }
}

/// Whether an I/O error says the file system or the user's quota is full.
pub(crate) fn io_error_is_full(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// Whether `error`, or any error it wraps (the object store wraps the file system's), is an
/// I/O error saying the file system or quota is full.
fn wraps_full_io_error(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |error| error.source()).any(|error| {
        error
            .downcast_ref::<std::io::Error>()
            .is_some_and(io_error_is_full)
    })
}

/// Whether SQLite reported `SQLITE_FULL` (it turns `ENOSPC` on a write into that code).
pub(crate) fn sqlite_error_is_full(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(failure, _) if failure.code == rusqlite::ErrorCode::DiskFull
    ) || wraps_full_io_error(error)
}

impl From<std::io::Error> for StorageError {
    fn from(error: std::io::Error) -> Self {
        if io_error_is_full(&error) {
            Self::StorageFull {
                cause: error.to_string(),
            }
        } else {
            Self::Io(error)
        }
    }
}

impl From<tokio_postgres::Error> for StorageError {
    fn from(error: tokio_postgres::Error) -> Self {
        let reason = match error.as_db_error() {
            Some(db) => format!("{}: {}", db.severity(), db.message()),
            None => std::iter::successors(Some(&error as &dyn std::error::Error), |e| e.source())
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(": "),
        };
        if crate::pg::postgres_error_is_full(&error) {
            Self::StorageFull {
                cause: format!("database: {reason}"),
            }
        } else {
            Self::Postgres { reason }
        }
    }
}

impl From<rusqlite::Error> for StorageError {
    fn from(error: rusqlite::Error) -> Self {
        if sqlite_error_is_full(&error) {
            Self::StorageFull {
                cause: format!("database: {error}"),
            }
        } else {
            Self::Sqlite(error)
        }
    }
}

impl From<object_store::Error> for StorageError {
    fn from(error: object_store::Error) -> Self {
        if wraps_full_io_error(&error) {
            Self::StorageFull {
                cause: error.to_string(),
            }
        } else {
            Self::ObjectStore(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_http_mapping() {
        let duplicate = StorageError::DuplicateVersion {
            name: "foo".into(),
            version: "1.0.0".into(),
        };
        assert_eq!(duplicate.kind(), ErrorKind::Conflict);
        assert_eq!(
            duplicate.to_string(),
            "crate `foo` version `1.0.0` is already published; bump the version in Cargo.toml"
        );
        assert_eq!(
            StorageError::MissingScope { scope: Scope::Yank }.kind(),
            ErrorKind::Forbidden
        );
        assert_eq!(StorageError::ExpiredToken.kind(), ErrorKind::Unauthorized);
        assert_eq!(
            StorageError::LastOwner { name: "x".into() }.kind(),
            ErrorKind::BadRequest
        );
        assert_eq!(StorageError::WriterStopped.kind(), ErrorKind::Internal);
        let not_owner = StorageError::NotOwner {
            login: "bob".into(),
            name: "widget".into(),
        };
        assert!(
            not_owner
                .to_string()
                .contains("`cargo owner --registry <registry> --add bob widget`"),
            "{not_owner}"
        );
        let unknown = StorageError::UnknownUser {
            login: "bob".into(),
        };
        assert_eq!(
            unknown.to_string(),
            "no user with login `bob`; an operator creates it with `wharf token create --user bob`"
        );
        let restricted = StorageError::NameNotAllowed {
            name: "other".into(),
            patterns: vec!["acme-*".into(), "*-plugin".into()],
        };
        assert!(
            restricted.to_string().starts_with(
                "this token may only act on crates matching `acme-*`, `*-plugin`, not on `other`"
            ),
            "{restricted}"
        );
    }

    #[test]
    fn a_full_disk_is_recognised_however_it_is_wrapped() {
        let enospc = || std::io::Error::from_raw_os_error(28);
        let edquot = || std::io::Error::from_raw_os_error(122);
        for io in [enospc(), edquot()] {
            let error = StorageError::from(io);
            assert_eq!(error.kind(), ErrorKind::InsufficientStorage, "{error}");
        }
        let wrapped = object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(enospc()),
        };
        let error = StorageError::from(wrapped);
        assert_eq!(error.kind(), ErrorKind::InsufficientStorage);
        assert!(
            error
                .to_string()
                .ends_with("nothing was stored: retry once an operator has freed space"),
            "{error}"
        );
        let sqlite_full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        assert_eq!(
            StorageError::from(sqlite_full).kind(),
            ErrorKind::InsufficientStorage
        );
        let other = StorageError::from(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert_eq!(other.kind(), ErrorKind::Internal);
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        assert_eq!(StorageError::from(busy).kind(), ErrorKind::Internal);
    }
}

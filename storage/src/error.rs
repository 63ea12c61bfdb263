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
    /// A fault inside Wharf (database, object store, I/O); details go to the log, not the client.
    Internal,
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
        "user `{login}` is not an owner of crate `{name}`; ask an owner to run `cargo owner --add {login} {name}`"
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
    #[error("there is no user with login `{login}`; they must create a token first")]
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
    /// The storage's writer thread is gone (the storage is shutting down).
    #[error("the storage writer has stopped")]
    WriterStopped,
    /// A stored value could not be decoded (a corrupted database row).
    #[error("stored data is corrupt: {what}")]
    Corrupt {
        /// What could not be decoded, and where.
        what: String,
    },
    /// SQLite failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The object store failed.
    #[error("object store error: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// A file-system operation failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A blocking task panicked or was cancelled.
    #[error("background task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

impl StorageError {
    /// The coarse kind, so the server maps errors to HTTP statuses in one place.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::DuplicateVersion { .. } | Self::NameTaken { .. } => ErrorKind::Conflict,
            Self::NotOwner { .. } | Self::MissingScope { .. } | Self::NameNotAllowed { .. } => {
                ErrorKind::Forbidden
            }
            Self::UnknownPackage { .. }
            | Self::UnknownVersion { .. }
            | Self::UnknownUser { .. }
            | Self::UnknownToken { .. } => ErrorKind::NotFound,
            Self::LastOwner { .. }
            | Self::ChecksumMismatch
            | Self::InvalidName(_)
            | Self::InvalidUpload { .. }
            | Self::InvalidLogin { .. }
            | Self::InvalidDisplayName { .. }
            | Self::UnknownScope { .. } => ErrorKind::BadRequest,
            Self::InvalidToken | Self::ExpiredToken | Self::RevokedToken => ErrorKind::Unauthorized,
            Self::DailyLimitReached { .. } => ErrorKind::TooManyRequests,
            Self::CommitFailed { .. }
            | Self::WriterStopped
            | Self::Corrupt { .. }
            | Self::Sqlite(_)
            | Self::ObjectStore(_)
            | Self::Io(_)
            | Self::Join(_) => ErrorKind::Internal,
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
}

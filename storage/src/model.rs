//! Plain data that goes in and out of [`crate::Storage`]: uploads, published results, index
//! file snapshots, owners, search results, log events, recent publishes and maintenance reports.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use wharf_index_format::{IndexEntry, PackageMetadata};

use crate::StorageError;

/// A publish request, already parsed from cargo's upload frame by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The index line to append. `cksum` must be the SHA-256 of `crate_bytes`; `pubtime` is
    /// set by storage and `yanked` is forced to `false`.
    pub entry: IndexEntry,
    /// The `.crate` tarball, stored unchanged.
    pub crate_bytes: bytes::Bytes,
    /// The descriptive metadata of the publish request, as `wharf-index-format` read it: kept
    /// with the version for search and display, without the README.
    pub metadata: PackageMetadata,
}

/// The result of a successful publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The index line as stored (with `pubtime`).
    pub entry: IndexEntry,
    /// The package's index file after the publish.
    pub index_file: IndexFileSnapshot,
    /// The log sequence number of the `release` event.
    pub seq: u64,
    /// Whether this publish created the package.
    pub created_package: bool,
}

/// A package's index file as of one log position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFileSnapshot {
    /// The package name as published.
    pub name: String,
    /// The file's path in the index tree (`index_path`, lowercase).
    pub path: String,
    /// The file's bytes: every version's line followed by `\n`, in publish order.
    pub bytes: bytes::Bytes,
    /// The sequence number of the package's latest event.
    pub seq: u64,
    /// Unix seconds of the package's latest event.
    pub last_modified: i64,
}

/// One owner of a package, in the shape cargo's owners API wants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Owner {
    /// The user's id.
    pub id: u32,
    /// The user's login.
    pub login: String,
    /// The user's display name, if any.
    pub name: Option<String>,
}

/// A page of search results.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SearchResults {
    /// The hits, best first, at most the requested limit.
    pub hits: Vec<SearchHit>,
    /// How many packages match in total.
    pub total: u64,
}

/// One package found by a search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchHit {
    /// The package name as published.
    pub name: String,
    /// The highest non-yanked version, or the highest version when all are yanked.
    pub max_version: String,
    /// The description of the latest publish.
    pub description: Option<String>,
    /// `plugin` or `template` when the package's latest plugin version says so; `None` for
    /// a crate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin_kind: Option<String>,
}

/// What an event in the log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A version was published.
    Release,
    /// A version was yanked.
    Yank,
    /// A version was unyanked.
    Unyank,
    /// An owner was added.
    OwnerAdd,
    /// An owner was removed.
    OwnerRemove,
    /// A publisher key was bound to a package.
    OwnerKeyAdd,
    /// A publisher key of a package was revoked.
    OwnerKeyRevoke,
    /// A package or version was deprecated.
    Deprecate,
    /// A deprecation was withdrawn.
    Undeprecate,
}

impl EventKind {
    /// The string stored in the log (`release`, `yank`, `unyank`, `owner_add`, `owner_remove`,
    /// `owner_key_add`, `owner_key_revoke`, `deprecate`, `undeprecate`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Release => "release",
            Self::Yank => "yank",
            Self::Unyank => "unyank",
            Self::OwnerAdd => "owner_add",
            Self::OwnerRemove => "owner_remove",
            Self::OwnerKeyAdd => "owner_key_add",
            Self::OwnerKeyRevoke => "owner_key_revoke",
            Self::Deprecate => "deprecate",
            Self::Undeprecate => "undeprecate",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = StorageError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        [
            Self::Release,
            Self::Yank,
            Self::Unyank,
            Self::OwnerAdd,
            Self::OwnerRemove,
            Self::OwnerKeyAdd,
            Self::OwnerKeyRevoke,
            Self::Deprecate,
            Self::Undeprecate,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
        .ok_or_else(|| StorageError::Corrupt {
            what: format!("unknown event kind `{text}` in the log"),
        })
    }
}

/// One entry of the append-only event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogEvent {
    /// Position in the log, starting at 1, without gaps.
    pub seq: u64,
    /// What happened.
    pub kind: EventKind,
    /// The package name as published.
    pub package: String,
    /// The version concerned, for releases and yanks.
    pub version: Option<String>,
    /// The login of the user who acted.
    pub actor: String,
    /// Unix seconds.
    pub time: i64,
    /// Details (`cksum` for a release, `login` for owner changes).
    pub payload: serde_json::Value,
}

/// What [`crate::Storage::reconcile`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    /// How many packages' index files were checked.
    pub checked: usize,
    /// The packages whose index file was rewritten.
    pub rebuilt: Vec<String>,
}

/// What [`crate::Storage::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Every inconsistency found, one sentence each; empty when all is well.
    pub problems: Vec<String>,
    /// How many index files were checked.
    pub index_files: usize,
    /// How many blobs were checked.
    pub blobs: usize,
}

/// A user's most recent publishes in a time window, counted up to a cap (see
/// [`crate::Storage::recent_versions`]). With `count` at the cap, `oldest` is when the window
/// next frees a place: once it is older than the window, fewer than `cap` remain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecentPublishes {
    /// How many were counted (never more than the cap asked for).
    pub count: u32,
    /// The publish time of the oldest one counted, in seconds since the Unix epoch.
    pub oldest: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_kinds_round_trip() {
        for kind in [
            EventKind::Release,
            EventKind::Yank,
            EventKind::Unyank,
            EventKind::OwnerAdd,
            EventKind::OwnerRemove,
            EventKind::OwnerKeyAdd,
            EventKind::OwnerKeyRevoke,
        ] {
            assert_eq!(kind.as_str().parse::<EventKind>().unwrap(), kind);
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{kind}\""));
        }
        assert!("delete".parse::<EventKind>().is_err());
    }
}

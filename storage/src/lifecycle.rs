//! Plugin lifecycle: deprecations (owners and the administrator), quarantines (the
//! administrator) and the signed lifecycle feed that carries them with the advisories
//! (`advisories.rs`) to installers and mirrors.
//!
//! A deprecation is logged as a `deprecate` / `undeprecate` event (a registry-signed
//! statement in the transparency log, its message by SHA-256). A quarantine is served to
//! cargo as a yank: the version's line turns `"yanked":true` through a `yank` event whose
//! payload names the quarantine, and its release turns it back through an `unyank` event
//! unless the version was yanked before, so the index, the log and `wharf verify` keep
//! agreeing and no other line changes. Owners cannot unyank a quarantined version, and its
//! blob is refused while the quarantine lasts.

use serde::Serialize;
use serde_json::json;
use wharf_index_format::IndexEntry;
use wharf_trust::{Deprecation, LifecycleFeed, LifecycleTerms, Quarantine, UtcTime};

use crate::queries::{find_version, insert_event, is_owner, require_package};
use crate::sql::{Sql, SqlRow, args};
use crate::storage::now_unix;
use crate::write_ops::PackageChange;
use crate::{Action, EventKind, Principal, Scope, Storage, StorageError};

/// The events table rebuilt to allow the deprecation kinds, and the lifecycle tables, on
/// SQLite (PostgreSQL's are in `pg_schema.rs`).
pub(crate) const MIGRATION: &str = r"
CREATE TABLE events_with_lifecycle_kinds (
    seq         INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('release', 'yank', 'unyank', 'owner_add', 'owner_remove', 'owner_key_add', 'owner_key_revoke', 'deprecate', 'undeprecate')),
    package_id  INTEGER NOT NULL REFERENCES packages(id),
    version     TEXT,
    actor       TEXT NOT NULL,
    time        INTEGER NOT NULL,
    payload     TEXT NOT NULL
);
INSERT INTO events_with_lifecycle_kinds (seq, kind, package_id, version, actor, time, payload)
    SELECT seq, kind, package_id, version, actor, time, payload FROM events;
DROP TABLE events;
ALTER TABLE events_with_lifecycle_kinds RENAME TO events;
CREATE INDEX events_by_package ON events (package_id, seq);
CREATE TRIGGER events_are_never_updated BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER events_are_never_deleted BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TABLE deprecations (
    package_id  INTEGER NOT NULL REFERENCES packages(id),
    version     TEXT NOT NULL,
    message     TEXT NOT NULL,
    successor   TEXT,
    actor       TEXT NOT NULL,
    since       INTEGER NOT NULL,
    PRIMARY KEY (package_id, version)
) WITHOUT ROWID;
CREATE TABLE quarantines (
    package_id  INTEGER NOT NULL REFERENCES packages(id),
    version     TEXT NOT NULL,
    cksum       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    was_yanked  INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    since       INTEGER NOT NULL,
    PRIMARY KEY (package_id, version)
) WITHOUT ROWID;
CREATE INDEX quarantines_by_cksum ON quarantines (cksum);
CREATE TABLE advisories (
    id            TEXT PRIMARY KEY,
    package_id    INTEGER NOT NULL REFERENCES packages(id),
    advisory      TEXT NOT NULL,
    published_at  INTEGER NOT NULL
);
CREATE TABLE lifecycle_serial (
    only   INTEGER PRIMARY KEY CHECK (only = 1),
    serial INTEGER NOT NULL
);
INSERT INTO lifecycle_serial (only, serial) VALUES (1, 0);
";

/// Longest deprecation message or quarantine reason, in characters.
pub const MAX_LIFECYCLE_TEXT: usize = 1000;

/// The stored version column of a whole package's deprecation.
const WHOLE_PACKAGE: &str = "";

/// A package's lifecycle state, for its catalogue page and the API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PackageLifecycle {
    /// The package's and its versions' deprecations.
    pub deprecations: Vec<Deprecation>,
    /// Its quarantined versions.
    pub quarantines: Vec<Quarantine>,
}

impl PackageLifecycle {
    /// Whether the package has neither deprecations nor quarantines.
    pub fn is_empty(&self) -> bool {
        self.deprecations.is_empty() && self.quarantines.is_empty()
    }
}

fn invalid(reason: String) -> StorageError {
    StorageError::InvalidLifecycleRequest { reason }
}

/// Checks a message or reason: not blank, one line, at most [`MAX_LIFECYCLE_TEXT`].
pub(crate) fn check_text(what: &str, text: &str) -> Result<(), StorageError> {
    if text.trim().is_empty() {
        return Err(invalid(format!(
            "the {what} is empty; say why in a sentence"
        )));
    }
    if text.chars().count() > MAX_LIFECYCLE_TEXT {
        return Err(invalid(format!(
            "the {what} has more than {MAX_LIFECYCLE_TEXT} characters; shorten it"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid(format!(
            "the {what} holds a control character (a line break?); write it on one line"
        )));
    }
    Ok(())
}

/// Checks a successor: a package name, optionally `name@version`.
fn check_successor(successor: &str) -> Result<(), StorageError> {
    let (name, version) = match successor.split_once('@') {
        Some((name, version)) => (name, Some(version)),
        None => (successor, None),
    };
    wharf_index_format::PackageName::new(name).map_err(|e| {
        invalid(format!(
            "the successor `{successor}` is not a package name (`name` or `name@version`): {e}"
        ))
    })?;
    if let Some(version) = version {
        semver::Version::parse(version).map_err(|e| {
            invalid(format!(
                "the successor `{successor}` has an invalid version: {e}"
            ))
        })?;
    }
    Ok(())
}

/// Whether the principal's role allows lifecycle actions on any package.
pub(crate) fn is_admin(who: &Principal) -> bool {
    who.allows(Action::Lifecycle)
}

/// Refuses unless the principal's role allows lifecycle actions ([`Action::Lifecycle`]).
pub(crate) fn require_admin(who: &Principal, action: &str) -> Result<(), StorageError> {
    who.require(Action::Lifecycle, action)
}

pub(crate) fn bump_serial(conn: &dyn Sql) -> Result<(), StorageError> {
    conn.exec("UPDATE lifecycle_serial SET serial = serial + 1", args![])?;
    Ok(())
}

/// The quarantine of a version, if any: its reason and whether it was yanked before.
fn quarantine_of(
    conn: &dyn Sql,
    package_id: i64,
    version: &str,
) -> Result<Option<(String, bool)>, StorageError> {
    conn.row(
        "SELECT reason, was_yanked FROM quarantines WHERE package_id = ?1 AND version = ?2",
        args![package_id, version],
    )?
    .map(|row| Ok::<_, StorageError>((row.string(0)?, row.bool(1)?)))
    .transpose()
}

/// Refuses an owner's yank or unyank of a quarantined version (run by the yank job).
pub(crate) fn refuse_if_quarantined(
    conn: &dyn Sql,
    package_id: i64,
    name: &str,
    version: &str,
) -> Result<(), StorageError> {
    match quarantine_of(conn, package_id, version)? {
        Some((reason, _)) => Err(StorageError::Quarantined {
            name: name.to_owned(),
            version: version.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// A deprecation to set.
#[derive(Debug, Clone)]
pub(crate) struct DeprecationRequest {
    pub(crate) name: String,
    pub(crate) version: Option<String>,
    pub(crate) message: String,
    pub(crate) successor: Option<String>,
}

/// Owners (with the `yank` scope) and the administrator may deprecate.
fn authorize_deprecation(
    conn: &dyn Sql,
    who: &Principal,
    name: &str,
) -> Result<crate::queries::PackageRow, StorageError> {
    let package = require_package(conn, name)?;
    if is_admin(who) {
        return Ok(package);
    }
    who.require_scope(Scope::Yank)?;
    who.require(Action::Yank, &format!("deprecate `{name}`"))?;
    who.require_name(name)?;
    if !is_owner(conn, package.id, who.user_id)? {
        return Err(StorageError::NotOwner {
            login: who.login.clone(),
            name: package.name,
        });
    }
    Ok(package)
}

/// The stored version of a request's version (which must exist), or the whole package.
fn deprecation_version(
    conn: &dyn Sql,
    package: &crate::queries::PackageRow,
    version: Option<&str>,
) -> Result<String, StorageError> {
    match version {
        None => Ok(WHOLE_PACKAGE.to_owned()),
        Some(version) => find_version(conn, package.id, version)?
            .map(|row| row.version)
            .ok_or_else(|| StorageError::UnknownVersion {
                name: package.name.clone(),
                version: version.to_owned(),
            }),
    }
}

pub(crate) fn apply_deprecate(
    conn: &dyn Sql,
    who: &Principal,
    request: &DeprecationRequest,
    now: i64,
) -> Result<PackageChange<()>, StorageError> {
    check_text("deprecation message", &request.message)?;
    if let Some(successor) = &request.successor {
        check_successor(successor)?;
    }
    let package = authorize_deprecation(conn, who, &request.name)?;
    let version = deprecation_version(conn, &package, request.version.as_deref())?;
    conn.exec(
        "INSERT INTO deprecations (package_id, version, message, successor, actor, since)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (package_id, version) DO UPDATE
           SET message = excluded.message, successor = excluded.successor,
               actor = excluded.actor, since = excluded.since",
        args![
            package.id,
            &version,
            &request.message,
            request.successor.as_deref(),
            &who.login,
            now
        ],
    )?;
    bump_serial(conn)?;
    let seq = insert_event(
        conn,
        EventKind::Deprecate,
        package.id,
        (!version.is_empty()).then_some(version.as_str()),
        &who.login,
        now,
        &json!({ "message": request.message, "successor": request.successor }),
    )?;
    Ok(PackageChange {
        package_id: package.id,
        seq,
        value: (),
    })
}

pub(crate) fn apply_undeprecate(
    conn: &dyn Sql,
    who: &Principal,
    name: &str,
    version: Option<&str>,
    now: i64,
) -> Result<PackageChange<()>, StorageError> {
    let package = authorize_deprecation(conn, who, name)?;
    let stored = deprecation_version(conn, &package, version)?;
    let removed = conn.exec(
        "DELETE FROM deprecations WHERE package_id = ?1 AND version = ?2",
        args![package.id, &stored],
    )?;
    if removed == 0 {
        return Err(StorageError::NotDeprecated {
            what: match version {
                Some(version) => format!("crate `{}` version `{version}`", package.name),
                None => format!("crate `{}` as a whole", package.name),
            },
        });
    }
    bump_serial(conn)?;
    let seq = insert_event(
        conn,
        EventKind::Undeprecate,
        package.id,
        (!stored.is_empty()).then_some(stored.as_str()),
        &who.login,
        now,
        &json!({}),
    )?;
    Ok(PackageChange {
        package_id: package.id,
        seq,
        value: (),
    })
}

/// Sets a version's line's `yanked` flag for a quarantine and logs the yank or unyank.
fn set_line_yanked(
    conn: &dyn Sql,
    package_id: i64,
    row: &crate::queries::VersionRow,
    yanked: bool,
    actor: &str,
    payload: &serde_json::Value,
    now: i64,
) -> Result<u64, StorageError> {
    let mut entry = IndexEntry::from_line(&row.line).map_err(|e| StorageError::Corrupt {
        what: format!("stored line of version `{}`: {e}", row.version),
    })?;
    entry.yanked = yanked;
    conn.exec(
        "UPDATE versions SET line = ?2, yanked = ?3 WHERE id = ?1",
        args![row.id, entry.to_line(), yanked],
    )?;
    let kind = if yanked {
        EventKind::Yank
    } else {
        EventKind::Unyank
    };
    insert_event(
        conn,
        kind,
        package_id,
        Some(&row.version),
        actor,
        now,
        payload,
    )
}

pub(crate) fn apply_quarantine(
    conn: &dyn Sql,
    who: &Principal,
    name: &str,
    version: &str,
    reason: &str,
    now: i64,
) -> Result<PackageChange<()>, StorageError> {
    require_admin(who, "quarantine a version")?;
    check_text("quarantine reason", reason)?;
    let package = require_package(conn, name)?;
    let row =
        find_version(conn, package.id, version)?.ok_or_else(|| StorageError::UnknownVersion {
            name: package.name.clone(),
            version: version.to_owned(),
        })?;
    if let Some((reason, _)) = quarantine_of(conn, package.id, &row.version)? {
        return Err(StorageError::LifecycleConflict {
            reason: format!(
                "crate `{}` version `{}` is already quarantined ({reason}); release it first to change the reason",
                package.name, row.version
            ),
        });
    }
    let was_yanked = conn.one_i64("SELECT yanked FROM versions WHERE id = ?1", args![row.id])? != 0;
    conn.exec(
        "INSERT INTO quarantines (package_id, version, cksum, reason, was_yanked, actor, since)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        args![
            package.id,
            &row.version,
            &row.cksum,
            reason,
            was_yanked,
            &who.login,
            now
        ],
    )?;
    bump_serial(conn)?;
    let seq = if was_yanked {
        0
    } else {
        set_line_yanked(
            conn,
            package.id,
            &row,
            true,
            &who.login,
            &json!({ "quarantine": reason }),
            now,
        )?
    };
    Ok(PackageChange {
        package_id: package.id,
        seq,
        value: (),
    })
}

pub(crate) fn apply_release_quarantine(
    conn: &dyn Sql,
    who: &Principal,
    name: &str,
    version: &str,
    now: i64,
) -> Result<PackageChange<()>, StorageError> {
    require_admin(who, "release a quarantined version")?;
    let package = require_package(conn, name)?;
    let row =
        find_version(conn, package.id, version)?.ok_or_else(|| StorageError::UnknownVersion {
            name: package.name.clone(),
            version: version.to_owned(),
        })?;
    let Some((_, was_yanked)) = quarantine_of(conn, package.id, &row.version)? else {
        return Err(StorageError::NotQuarantined {
            name: package.name,
            version: row.version,
        });
    };
    conn.exec(
        "DELETE FROM quarantines WHERE package_id = ?1 AND version = ?2",
        args![package.id, &row.version],
    )?;
    bump_serial(conn)?;
    let seq = if was_yanked {
        0
    } else {
        set_line_yanked(
            conn,
            package.id,
            &row,
            false,
            &who.login,
            &json!({ "quarantine_released": true }),
            now,
        )?
    };
    Ok(PackageChange {
        package_id: package.id,
        seq,
        value: (),
    })
}

fn read_deprecations(
    conn: &dyn Sql,
    package_id: Option<i64>,
) -> Result<Vec<Deprecation>, StorageError> {
    let read = |row: &SqlRow| {
        let version = row.string(1)?;
        Ok::<_, StorageError>(Deprecation {
            package: row.string(0)?,
            version: (!version.is_empty()).then_some(version),
            message: row.string(2)?,
            successor: row.opt_string(3)?,
        })
    };
    let rows = match package_id {
        Some(id) => conn.rows(
            "SELECT p.name, d.version, d.message, d.successor FROM deprecations d
             JOIN packages p ON p.id = d.package_id
             WHERE d.package_id = ?1 ORDER BY p.name, d.version",
            args![id],
        )?,
        None => conn.rows(
            "SELECT p.name, d.version, d.message, d.successor FROM deprecations d
             JOIN packages p ON p.id = d.package_id ORDER BY p.name, d.version",
            args![],
        )?,
    };
    rows.iter().map(read).collect()
}

fn read_quarantines(
    conn: &dyn Sql,
    package_id: Option<i64>,
) -> Result<Vec<Quarantine>, StorageError> {
    let rows = match package_id {
        Some(id) => conn.rows(
            "SELECT p.name, q.version, q.reason FROM quarantines q
             JOIN packages p ON p.id = q.package_id
             WHERE q.package_id = ?1 ORDER BY p.name, q.version",
            args![id],
        )?,
        None => conn.rows(
            "SELECT p.name, q.version, q.reason FROM quarantines q
             JOIN packages p ON p.id = q.package_id ORDER BY p.name, q.version",
            args![],
        )?,
    };
    rows.iter().map(quarantine_row).collect()
}

/// A quarantine from a `(name, version, reason)` row.
fn quarantine_row(row: &SqlRow) -> Result<Quarantine, StorageError> {
    Ok(Quarantine {
        package: row.string(0)?,
        version: row.string(1)?,
        reason: row.string(2)?,
    })
}

impl Storage {
    /// Deprecates a package (`version` `None`) or one of its versions, replacing an earlier
    /// deprecation of the same; owners with the `yank` scope and the administrator may.
    #[tracing::instrument(skip(self, who, message), fields(user = %who.login))]
    pub async fn deprecate(
        &self,
        who: &Principal,
        name: &str,
        version: Option<&str>,
        message: &str,
        successor: Option<&str>,
    ) -> Result<(), StorageError> {
        let who = who.clone();
        let request = DeprecationRequest {
            name: name.to_owned(),
            version: version.map(str::to_owned),
            message: message.to_owned(),
            successor: successor.map(str::to_owned),
        };
        self.change_sql(move |conn, now| apply_deprecate(conn, &who, &request, now))
            .await?;
        Ok(())
    }

    /// Withdraws a deprecation.
    #[tracing::instrument(skip(self, who), fields(user = %who.login))]
    pub async fn undeprecate(
        &self,
        who: &Principal,
        name: &str,
        version: Option<&str>,
    ) -> Result<(), StorageError> {
        let (who, name, version) = (who.clone(), name.to_owned(), version.map(str::to_owned));
        self.change_sql(move |conn, now| {
            apply_undeprecate(conn, &who, &name, version.as_deref(), now)
        })
        .await?;
        Ok(())
    }

    /// Quarantines a version (the administrator only): served as yanked, its blob refused.
    /// Returns the package's new index file when its line changed.
    #[tracing::instrument(skip(self, who, reason), fields(user = %who.login))]
    pub async fn quarantine(
        &self,
        who: &Principal,
        name: &str,
        version: &str,
        reason: &str,
    ) -> Result<Option<crate::IndexFileSnapshot>, StorageError> {
        let (who, name, version, reason) = (
            who.clone(),
            name.to_owned(),
            version.to_owned(),
            reason.to_owned(),
        );
        let (snapshot, ()) = self
            .change_sql(move |conn, now| {
                apply_quarantine(conn, &who, &name, &version, &reason, now)
            })
            .await?;
        Ok(snapshot)
    }

    /// Releases a quarantined version (the administrator only): its line and blob come back
    /// as they were. Returns the package's new index file when its line changed.
    #[tracing::instrument(skip(self, who), fields(user = %who.login))]
    pub async fn release_quarantine(
        &self,
        who: &Principal,
        name: &str,
        version: &str,
    ) -> Result<Option<crate::IndexFileSnapshot>, StorageError> {
        let (who, name, version) = (who.clone(), name.to_owned(), version.to_owned());
        let (snapshot, ()) = self
            .change_sql(move |conn, now| apply_release_quarantine(conn, &who, &name, &version, now))
            .await?;
        Ok(snapshot)
    }

    /// The quarantine of the release whose blob is `cksum`, if it is quarantined.
    pub async fn quarantined_blob(&self, cksum: &str) -> Result<Option<Quarantine>, StorageError> {
        let cksum = cksum.to_owned();
        self.read_sql(move |conn| {
            conn.row(
                "SELECT p.name, q.version, q.reason FROM quarantines q
                 JOIN packages p ON p.id = q.package_id WHERE q.cksum = ?1 LIMIT 1",
                args![cksum],
            )?
            .as_ref()
            .map(quarantine_row)
            .transpose()
        })
        .await
    }

    /// A package's deprecations and quarantines.
    pub async fn package_lifecycle(&self, name: &str) -> Result<PackageLifecycle, StorageError> {
        let name = name.to_owned();
        self.read_sql(move |conn| {
            let package = require_package(conn, &name)?;
            Ok(PackageLifecycle {
                deprecations: read_deprecations(conn, Some(package.id))?,
                quarantines: read_quarantines(conn, Some(package.id))?,
            })
        })
        .await
    }

    /// The lifecycle feed, signed now with the registry's release key: every deprecation,
    /// quarantine and advisory, and the serial of the last change.
    pub async fn lifecycle_feed(&self) -> Result<String, StorageError> {
        let terms = self
            .read_sql(|conn| {
                let mut terms = None;
                conn.consistent_read(&mut || {
                    terms = Some(LifecycleTerms {
                        origin: String::new(),
                        serial: crate::lifecycle_serial::serial(conn)?,
                        issued_at: UtcTime::from_unix(now_unix())?.to_string(),
                        deprecations: read_deprecations(conn, None)?,
                        quarantines: read_quarantines(conn, None)?,
                        advisories: crate::advisories::read_all(conn)?,
                    });
                    Ok(())
                })?;
                terms.ok_or_else(|| StorageError::Corrupt {
                    what: "the lifecycle feed was not read".to_owned(),
                })
            })
            .await?;
        let keys = self.inner.keys.signing()?;
        let terms = LifecycleTerms {
            origin: keys.origin().to_owned(),
            ..terms
        };
        Ok(LifecycleFeed::issue(terms, keys.release_key())?.to_text())
    }
}

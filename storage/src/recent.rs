//! What a user (or one package) got published recently, counted from the database so that
//! daily publish limits hold across restarts. The per-user queries walk the
//! `versions_by_publisher` index; the per-package one the package's own versions.

use crate::sql::{Sql, SqlValue, args};

use crate::{RecentPublishes, StorageError};

/// Counts the user's most recent versions (at most `cap`) with `pubtime > since`.
pub(crate) fn recent_versions(
    conn: &dyn Sql,
    user_id: i64,
    since: i64,
    cap: u32,
) -> Result<RecentPublishes, StorageError> {
    count(
        conn,
        "SELECT count(*), min(pubtime) FROM (
           SELECT pubtime FROM versions
           WHERE publisher_id = ?1 AND pubtime > ?2
           ORDER BY pubtime DESC LIMIT ?3) AS recent",
        user_id,
        since,
        cap,
    )
}

/// Counts the packages (at most `cap`, most recent first) the user created with a first
/// version published after `since`. A package's first version is the one that created it:
/// both are written in the same transaction, and versions are never deleted.
pub(crate) fn recent_new_packages(
    conn: &dyn Sql,
    user_id: i64,
    since: i64,
    cap: u32,
) -> Result<RecentPublishes, StorageError> {
    count(
        conn,
        "SELECT count(*), min(pubtime) FROM (
           SELECT v.pubtime FROM versions v
           WHERE v.publisher_id = ?1 AND v.pubtime > ?2
             AND NOT EXISTS (
               SELECT 1 FROM versions w WHERE w.package_id = v.package_id AND w.id < v.id)
           ORDER BY v.pubtime DESC LIMIT ?3) AS recent",
        user_id,
        since,
        cap,
    )
}

/// Counts the most recent versions (at most `cap`) of the package whose canonical name is
/// `canonical` with `pubtime > since`, whoever published them.
pub(crate) fn recent_package_versions(
    conn: &dyn Sql,
    canonical: &str,
    since: i64,
    cap: u32,
) -> Result<RecentPublishes, StorageError> {
    count(
        conn,
        "SELECT count(*), min(pubtime) FROM (
           SELECT v.pubtime FROM versions v JOIN packages p ON p.id = v.package_id
           WHERE p.canonical_name = ?1 AND v.pubtime > ?2
           ORDER BY v.pubtime DESC LIMIT ?3) AS recent",
        canonical,
        since,
        cap,
    )
}

/// Runs one of the counting queries above: `?1` is the user or the package, `?2` the start
/// of the window, `?3` the cap.
fn count(
    conn: &dyn Sql,
    sql: &str,
    who: impl Into<SqlValue>,
    since: i64,
    cap: u32,
) -> Result<RecentPublishes, StorageError> {
    let row = conn
        .row(sql, args![who.into(), since, i64::from(cap)])?
        .ok_or_else(|| StorageError::Corrupt {
            what: "a count returned no row".to_owned(),
        })?;
    let (count, oldest) = (row.i64(0)?, row.opt_i64(1)?);
    Ok(RecentPublishes {
        count: u32::try_from(count).unwrap_or(u32::MAX),
        oldest,
    })
}

//! Read queries shared by the write jobs and the read API: package and version lookups,
//! index file snapshots, owners, search, and the event log.

use std::collections::HashMap;

use wharf_index_format::{canonical_name, index_path};

use crate::sql::{Sql, SqlRow, SqlValue, args};
use crate::{
    EventKind, IndexFileSnapshot, LogEvent, Owner, SearchHit, SearchResults, StorageError,
};

/// A package row: its id and its name as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PackageRow {
    pub(crate) id: i64,
    pub(crate) name: String,
}

/// A version row, as needed to yank it or to serve its checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VersionRow {
    pub(crate) id: i64,
    pub(crate) version: String,
    pub(crate) line: String,
    pub(crate) cksum: String,
}

/// The version without build metadata: the key under which versions must be unique.
pub(crate) fn version_key(version: &str) -> String {
    match semver::Version::parse(version) {
        Ok(mut parsed) => {
            parsed.build = semver::BuildMetadata::EMPTY;
            parsed.to_string()
        }
        Err(_) => version.split('+').next().unwrap_or(version).to_owned(),
    }
}

pub(crate) fn sql_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}

fn package_row(row: &SqlRow) -> Result<PackageRow, StorageError> {
    Ok(PackageRow {
        id: row.i64(0)?,
        name: row.string(1)?,
    })
}

/// Looks a package up by canonical name (case and `-`/`_` folded), as the web API does.
pub(crate) fn package_by_canonical(
    conn: &dyn Sql,
    name: &str,
) -> Result<Option<PackageRow>, StorageError> {
    conn.row(
        "SELECT id, name FROM packages WHERE canonical_name = ?1",
        args![canonical_name(name)],
    )?
    .as_ref()
    .map(package_row)
    .transpose()
}

/// Like [`package_by_canonical`], failing with [`StorageError::UnknownPackage`].
pub(crate) fn require_package(conn: &dyn Sql, name: &str) -> Result<PackageRow, StorageError> {
    package_by_canonical(conn, name)?.ok_or_else(|| StorageError::UnknownPackage {
        name: name.to_owned(),
    })
}

/// Looks a package up by its lowercase name only (no `-`/`_` folding), as index paths do.
pub(crate) fn package_by_lower(
    conn: &dyn Sql,
    name: &str,
) -> Result<Option<PackageRow>, StorageError> {
    conn.row(
        "SELECT id, name FROM packages WHERE lower_name = ?1",
        args![name.to_ascii_lowercase()],
    )?
    .as_ref()
    .map(package_row)
    .transpose()
}

/// Whether the user owns the package, directly or through a team.
pub(crate) fn is_owner(
    conn: &dyn Sql,
    package_id: i64,
    user_id: i64,
) -> Result<bool, StorageError> {
    conn.exists(
        "SELECT 1 FROM owners WHERE package_id = ?1 AND user_id = ?2
         UNION ALL
         SELECT 1 FROM team_owners o JOIN team_members m ON m.team_id = o.team_id
         WHERE o.package_id = ?1 AND m.user_id = ?2",
        args![package_id, user_id],
    )
}

/// Finds a version: exactly as given, or, when the given version has no build metadata, the
/// one version that equals it once build metadata is removed.
pub(crate) fn find_version(
    conn: &dyn Sql,
    package_id: i64,
    version: &str,
) -> Result<Option<VersionRow>, StorageError> {
    let read = |row: &SqlRow| {
        Ok::<_, StorageError>(VersionRow {
            id: row.i64(0)?,
            version: row.string(1)?,
            line: row.string(2)?,
            cksum: row.string(3)?,
        })
    };
    let exact = conn
        .row(
            "SELECT id, version, line, cksum FROM versions WHERE package_id = ?1 AND version = ?2",
            args![package_id, version],
        )?
        .as_ref()
        .map(read)
        .transpose()?;
    if exact.is_some() || version.contains('+') {
        return Ok(exact);
    }
    conn.row(
        "SELECT id, version, line, cksum FROM versions WHERE package_id = ?1 AND version_key = ?2",
        args![package_id, version_key(version)],
    )?
    .as_ref()
    .map(read)
    .transpose()
}

/// Appends an event to the log and returns its sequence number: one more than the last,
/// assigned inside the writing transaction (which holds the write lock on either engine),
/// so a rolled-back write leaves no gap.
pub(crate) fn insert_event(
    conn: &dyn Sql,
    kind: EventKind,
    package_id: i64,
    version: Option<&str>,
    actor: &str,
    time: i64,
    payload: &serde_json::Value,
) -> Result<u64, StorageError> {
    let (sql, args) = event_statement(kind, package_id, version, actor, time, payload);
    Ok(sql_u64(conn.one_i64(sql, &args)?))
}

/// The statement [`insert_event`] runs and its values, for a caller that sends it with
/// others ([`crate::sql::Sql::pipeline`]); it returns the event's `seq`.
pub(crate) fn event_statement(
    kind: EventKind,
    package_id: i64,
    version: Option<&str>,
    actor: &str,
    time: i64,
    payload: &serde_json::Value,
) -> (&'static str, Vec<SqlValue>) {
    (
        "INSERT INTO events (seq, kind, package_id, version, actor, time, payload)
         VALUES ((SELECT coalesce(max(seq), 0) + 1 FROM events), ?1, ?2, ?3, ?4, ?5, ?6)
         RETURNING seq",
        args![
            kind.as_str(),
            package_id,
            version,
            actor,
            time,
            payload.to_string()
        ]
        .to_vec(),
    )
}

fn snapshot_from_lines(name: String, lines: &[String], seq: i64, time: i64) -> IndexFileSnapshot {
    let mut bytes = Vec::with_capacity(lines.iter().map(|line| line.len() + 1).sum());
    for line in lines {
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
    }
    IndexFileSnapshot {
        path: index_path(&name),
        name,
        bytes: bytes.into(),
        seq: sql_u64(seq),
        last_modified: time,
    }
}

/// The package's index file as the database says it is now (one read transaction, so the
/// lines and the log position agree; inside the writer's transaction, that one).
pub(crate) fn snapshot(
    conn: &dyn Sql,
    package: &PackageRow,
) -> Result<IndexFileSnapshot, StorageError> {
    let mut lines = Vec::new();
    let (mut seq, mut time) = (0, 0);
    conn.consistent_read(&mut || {
        lines = conn
            .rows(
                "SELECT line FROM versions WHERE package_id = ?1 ORDER BY id",
                args![package.id],
            )?
            .iter()
            .map(|row| row.string(0))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(row) = conn.row(
            "SELECT seq, time FROM events WHERE package_id = ?1 ORDER BY seq DESC LIMIT 1",
            args![package.id],
        )? {
            (seq, time) = (row.i64(0)?, row.i64(1)?);
        }
        Ok(())
    })?;
    Ok(snapshot_from_lines(package.name.clone(), &lines, seq, time))
}

/// [`snapshot`] of the package with this id.
pub(crate) fn snapshot_by_id(
    conn: &dyn Sql,
    package_id: i64,
) -> Result<IndexFileSnapshot, StorageError> {
    let name = conn
        .row("SELECT name FROM packages WHERE id = ?1", args![package_id])?
        .ok_or_else(|| StorageError::Corrupt {
            what: format!("no package with id {package_id}"),
        })?
        .string(0)?;
    snapshot(
        conn,
        &PackageRow {
            id: package_id,
            name,
        },
    )
}

/// Every package's index file (with the package id), ordered by package name. Reads in
/// one transaction: the caller's, or its own.
pub(crate) fn all_snapshots(conn: &dyn Sql) -> Result<Vec<(i64, IndexFileSnapshot)>, StorageError> {
    let mut lines: HashMap<i64, Vec<String>> = HashMap::new();
    let mut packages = Vec::new();
    conn.consistent_read(&mut || {
        lines.clear();
        for row in conn.rows("SELECT package_id, line FROM versions ORDER BY id", args![])? {
            lines.entry(row.i64(0)?).or_default().push(row.string(1)?);
        }
        packages = conn
            .rows(
                "SELECT p.id, p.name, e.seq, e.time
                 FROM packages p
                 JOIN events e ON e.seq = (SELECT max(seq) FROM events WHERE package_id = p.id)
                 ORDER BY p.name",
                args![],
            )?
            .iter()
            .map(|row| Ok((row.i64(0)?, row.string(1)?, row.i64(2)?, row.i64(3)?)))
            .collect::<Result<Vec<_>, StorageError>>()?;
        Ok(())
    })?;
    Ok(packages
        .into_iter()
        .map(|(id, name, seq, time)| {
            let package_lines = lines.remove(&id).unwrap_or_default();
            (id, snapshot_from_lines(name, &package_lines, seq, time))
        })
        .collect())
}

/// The owners of a package, oldest first.
pub(crate) fn owners(conn: &dyn Sql, name: &str) -> Result<Vec<Owner>, StorageError> {
    let package = require_package(conn, name)?;
    let rows = conn.rows(
        "SELECT u.id, u.login, u.name FROM owners o JOIN users u ON u.id = o.user_id
         WHERE o.package_id = ?1 ORDER BY o.added_at, u.id",
        args![package.id],
    )?;
    let mut owners = rows
        .iter()
        .map(|row| {
            let (id, login, name) = (row.i64(0)?, row.string(1)?, row.opt_string(2)?);
            let id = u32::try_from(id).map_err(|_| StorageError::Corrupt {
                what: format!("user id `{id}` does not fit in 32 bits"),
            })?;
            Ok(Owner { id, login, name })
        })
        .collect::<Result<Vec<_>, StorageError>>()?;
    owners.extend(
        crate::teams::team_owners(conn, package.id)?
            .into_iter()
            .map(|(id, team)| Owner {
                id: u32::try_from(id).unwrap_or(u32::MAX),
                login: format!("{}{team}", crate::TEAM_PREFIX),
                name: Some(format!("team {team}")),
            }),
    );
    Ok(owners)
}

/// Case-insensitive substring search on names (with `-`/`_` folded) and descriptions;
/// exact names first, then name matches, then description matches, each alphabetical.
/// Written once for both engines: SQLite's `instr` is PostgreSQL's `strpos`.
pub(crate) fn search(
    conn: &dyn Sql,
    query: &str,
    limit: usize,
) -> Result<SearchResults, StorageError> {
    let canonical = canonical_name(query.trim());
    let lower = query.trim().to_lowercase();
    let position = match conn.engine() {
        crate::sql::Engine::Sqlite => "instr",
        crate::sql::Engine::Postgres => "strpos",
    };
    let matches = format!(
        "{position}(canonical_name, ?1) > 0 \
         OR {position}(lower(coalesce(description, '')), ?2) > 0"
    );
    let total = conn.one_i64(
        &format!("SELECT count(*) FROM packages WHERE {matches}"),
        args![canonical.as_str(), lower.as_str()],
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let found = conn.rows(
        &format!(
            "SELECT id, name, description FROM packages WHERE {matches}
             ORDER BY canonical_name = ?1 DESC, {position}(canonical_name, ?1) > 0 DESC,
                      canonical_name
             LIMIT ?3"
        ),
        args![canonical.as_str(), lower.as_str(), limit],
    )?;
    let mut hits = Vec::with_capacity(found.len());
    for row in found {
        let id = row.i64(0)?;
        hits.push(SearchHit {
            name: row.string(1)?,
            max_version: max_version(conn, id)?,
            description: row.opt_string(2)?,
            plugin_kind: crate::plugins::latest_kind(conn, id)?,
        });
    }
    Ok(SearchResults {
        hits,
        total: sql_u64(total),
    })
}

/// The highest non-yanked version, or the highest version when every version is yanked.
fn max_version(conn: &dyn Sql, package_id: i64) -> Result<String, StorageError> {
    let versions = conn
        .rows(
            "SELECT version, yanked FROM versions WHERE package_id = ?1",
            args![package_id],
        )?
        .iter()
        .map(|row| Ok((row.string(0)?, row.i64(1)? != 0)))
        .collect::<Result<Vec<_>, StorageError>>()?;
    let parsed = versions
        .iter()
        .filter_map(|(text, yanked)| Some((semver::Version::parse(text).ok()?, *yanked)));
    let best_live = parsed.clone().filter(|(_, yanked)| !yanked).max();
    let best = best_live.or_else(|| parsed.max());
    Ok(best
        .map(|(version, _)| version.to_string())
        .unwrap_or_default())
}

/// The checksum of a version (see [`find_version`] for how the version is matched).
pub(crate) fn version_cksum(
    conn: &dyn Sql,
    name: &str,
    version: &str,
) -> Result<Option<String>, StorageError> {
    let Some(package) = package_by_canonical(conn, name)? else {
        return Ok(None);
    };
    Ok(find_version(conn, package.id, version)?.map(|row| row.cksum))
}

/// Up to `limit` events after `after_seq`, in log order.
pub(crate) fn events(
    conn: &dyn Sql,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<LogEvent>, StorageError> {
    let after = i64::try_from(after_seq).unwrap_or(i64::MAX);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = conn.rows(
        "SELECT e.seq, e.kind, p.name, e.version, e.actor, e.time, e.payload
         FROM events e JOIN packages p ON p.id = e.package_id
         WHERE e.seq > ?1 ORDER BY e.seq LIMIT ?2",
        args![after, limit],
    )?;
    rows.iter()
        .map(|row| {
            let (seq, kind, package, version, actor, time, payload) = (
                row.i64(0)?,
                row.string(1)?,
                row.string(2)?,
                row.opt_string(3)?,
                row.string(4)?,
                row.i64(5)?,
                row.string(6)?,
            );
            Ok(LogEvent {
                seq: sql_u64(seq),
                kind: kind.parse()?,
                package,
                version,
                actor,
                time,
                payload: serde_json::from_str(&payload).map_err(|e| StorageError::Corrupt {
                    what: format!("payload of event `{seq}`: {e}"),
                })?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_keys_drop_build_metadata_only() {
        assert_eq!(version_key("1.0.7+x.y"), "1.0.7");
        assert_eq!(version_key("1.0.7-beta.1+x"), "1.0.7-beta.1");
        assert_eq!(version_key("1.0.7"), "1.0.7");
        assert_eq!(version_key("not-semver+z"), "not-semver");
    }

    #[test]
    fn snapshots_end_every_line_with_a_newline() {
        let snap = snapshot_from_lines("Demo".into(), &["{}".into(), "{\"a\":1}".into()], 4, 9);
        assert_eq!(&snap.bytes[..], b"{}\n{\"a\":1}\n");
        assert_eq!(snap.path, "de/mo/demo");
        assert_eq!((snap.seq, snap.last_modified), (4, 9));
    }
}

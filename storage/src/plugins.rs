//! Plugins' own facts (kind, capabilities, entry point, host API range), one row per plugin
//! version beside its `versions` row. The index line stays what cargo reads; these are
//! shown by the API.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use wharf_index_format::PluginInfo;

use crate::StorageError;
use crate::queries::package_by_lower;

/// The migration that adds the table.
pub(crate) const MIGRATION: &str = r"
CREATE TABLE plugin_versions (
    version_id  INTEGER PRIMARY KEY REFERENCES versions(id),
    kind        TEXT NOT NULL CHECK (kind IN ('plugin', 'template')),
    info        TEXT NOT NULL
);
";

/// One published version of a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginRelease {
    /// The version.
    pub version: String,
    /// Whether it is yanked.
    pub yanked: bool,
    /// Its kind, capabilities, entry point and host API range.
    #[serde(flatten)]
    pub info: PluginInfo,
}

/// A plugin package and every version published as a plugin, in publish order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginPackage {
    /// The name as published.
    pub name: String,
    /// The description of the latest publish.
    pub description: Option<String>,
    /// Its versions.
    pub versions: Vec<PluginRelease>,
}

/// Records the plugin facts of the version row `version_id`.
pub(crate) fn record_plugin(
    conn: &Connection,
    version_id: i64,
    info: &PluginInfo,
) -> Result<(), StorageError> {
    let json = serde_json::to_string(info).map_err(|e| StorageError::Corrupt {
        what: format!("plugin facts of version row {version_id}: {e}"),
    })?;
    conn.prepare_cached(
        "INSERT INTO plugin_versions (version_id, kind, info) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![version_id, info.kind.as_str(), json])?;
    Ok(())
}

/// The plugin named `name` (case-insensitive), or `None` when no such package exists or
/// none of its versions is a plugin.
pub(crate) fn plugin_package(
    conn: &Connection,
    name: &str,
) -> Result<Option<PluginPackage>, StorageError> {
    let Some(package) = package_by_lower(conn, name)? else {
        return Ok(None);
    };
    let description: Option<String> = conn
        .prepare_cached("SELECT description FROM packages WHERE id = ?1")?
        .query_row([package.id], |row| row.get(0))
        .optional()?
        .flatten();
    let rows = conn
        .prepare_cached(
            "SELECT v.version, v.yanked, p.info FROM versions v
             JOIN plugin_versions p ON p.version_id = v.id
             WHERE v.package_id = ?1 ORDER BY v.id",
        )?
        .query_map([package.id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, bool>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    if rows.is_empty() {
        return Ok(None);
    }
    let versions = rows
        .into_iter()
        .map(|(version, yanked, info)| {
            let info = serde_json::from_str(&info).map_err(|e| StorageError::Corrupt {
                what: format!("plugin facts of `{}` `{version}`: {e}", package.name),
            })?;
            Ok(PluginRelease {
                version,
                yanked,
                info,
            })
        })
        .collect::<Result<Vec<_>, StorageError>>()?;
    Ok(Some(PluginPackage {
        name: package.name,
        description,
        versions,
    }))
}

/// The kind of the package's latest plugin version, for search results.
pub(crate) fn latest_kind(
    conn: &Connection,
    package_id: i64,
) -> Result<Option<String>, StorageError> {
    Ok(conn
        .prepare_cached(
            "SELECT p.kind FROM versions v JOIN plugin_versions p ON p.version_id = v.id
             WHERE v.package_id = ?1 ORDER BY v.id DESC LIMIT 1",
        )?
        .query_row([package_id], |row| row.get(0))
        .optional()?)
}

//! Plugins' own facts (kind, capabilities, entry point, host API range), one row per plugin
//! version beside its `versions` row. The index line stays what cargo reads; these are
//! shown by the API.

use serde::Serialize;
use wharf_index_format::PluginInfo;

use crate::StorageError;
use crate::queries::package_by_lower;
use crate::sql::{Sql, args};

/// The migration that adds the table on SQLite (PostgreSQL's is in `pg_schema.rs`).
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
    conn: &dyn Sql,
    version_id: i64,
    info: &PluginInfo,
) -> Result<(), StorageError> {
    let json = serde_json::to_string(info).map_err(|e| StorageError::Corrupt {
        what: format!("plugin facts of version row {version_id}: {e}"),
    })?;
    conn.exec(
        "INSERT INTO plugin_versions (version_id, kind, info) VALUES (?1, ?2, ?3)",
        args![version_id, info.kind.as_str(), json],
    )?;
    Ok(())
}

/// The plugin named `name` (case-insensitive), or `None` when no such package exists or
/// none of its versions is a plugin.
pub(crate) fn plugin_package(
    conn: &dyn Sql,
    name: &str,
) -> Result<Option<PluginPackage>, StorageError> {
    let Some(package) = package_by_lower(conn, name)? else {
        return Ok(None);
    };
    let description = conn
        .row(
            "SELECT description FROM packages WHERE id = ?1",
            args![package.id],
        )?
        .map(|row| row.opt_string(0))
        .transpose()?
        .flatten();
    let rows = conn
        .rows(
            "SELECT v.version, v.yanked, p.info FROM versions v
             JOIN plugin_versions p ON p.version_id = v.id
             WHERE v.package_id = ?1 ORDER BY v.id",
            args![package.id],
        )?
        .iter()
        .map(|row| Ok::<_, StorageError>((row.string(0)?, row.bool(1)?, row.string(2)?)))
        .collect::<Result<Vec<_>, StorageError>>()?;
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
pub(crate) fn latest_kind(conn: &dyn Sql, package_id: i64) -> Result<Option<String>, StorageError> {
    conn.row(
        "SELECT p.kind FROM versions v JOIN plugin_versions p ON p.version_id = v.id
         WHERE v.package_id = ?1 ORDER BY v.id DESC LIMIT 1",
        args![package_id],
    )?
    .map(|row| row.string(0))
    .transpose()
}

//! A package's catalogue page: its versions with dates, yanked state, publisher and signature
//! state; the latest release's descriptive metadata, README (as published: the server renders
//! it), dependencies and plugin facts; the packages whose latest release depends on it; its
//! owners, downloads and rating.

use rusqlite::{Connection, params};
use serde::Serialize;
use wharf_index_format::{IndexEntry, PackageMetadata, PluginInfo, Pubtime, TemplateInfo};

use crate::StorageError;
use crate::catalogue::RatingSummary;
use crate::queries::require_package;

/// One version on a package page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PageVersion {
    /// The version.
    pub version: String,
    /// When it was published (`YYYY-MM-DDTHH:MM:SSZ`).
    pub published: String,
    /// Whether it is yanked.
    pub yanked: bool,
    /// The login of the user who published it.
    pub publisher: String,
    /// Whether its release carries publisher signatures (checked at publish and logged).
    pub signed: bool,
}

/// One dependency of the latest release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PageDependency {
    /// The package depended on (its real name when renamed).
    pub name: String,
    /// The version requirement.
    pub req: String,
    /// `normal`, `dev` or `build`.
    pub kind: String,
    /// Whether it is optional.
    pub optional: bool,
}

/// The plugin facts of the latest release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PagePlugin {
    /// The capabilities it asks for, as its manifest states them.
    #[schema(value_type = Object)]
    pub capabilities: serde_json::Value,
    /// The `host-api` requirement.
    pub host_api: String,
    /// The oldest host version it runs on, when stated.
    pub min_host_version: Option<String>,
    /// The entry point.
    pub entry: String,
    /// A solution template's lineage (`forked_from`, `NAME@VERSION`) and parameters (name,
    /// type, description, default, validation), as its manifest declares them.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub template: Option<TemplateInfo>,
}

/// What the catalogue shows of one package.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PackagePage {
    /// The name as published.
    pub name: String,
    /// `crate`, `plugin` or `template` (of the latest release).
    pub kind: String,
    /// The latest release.
    pub latest: String,
    /// Its description.
    pub description: Option<String>,
    /// Its license expression.
    pub license: Option<String>,
    /// Its repository URL.
    pub repository: Option<String>,
    /// Its homepage URL.
    pub homepage: Option<String>,
    /// Its documentation URL.
    pub documentation: Option<String>,
    /// Its keywords.
    pub keywords: Vec<String>,
    /// Its categories.
    pub categories: Vec<String>,
    /// Every version, newest publish first.
    pub versions: Vec<PageVersion>,
    /// The latest release's dependencies, in index order.
    pub dependencies: Vec<PageDependency>,
    /// Packages whose latest release depends on this one, by name.
    pub reverse_dependencies: Vec<String>,
    /// The plugin facts, for plugins and templates.
    pub plugin: Option<PagePlugin>,
    /// The owners' logins.
    pub owners: Vec<String>,
    /// Downloads of every version, all time.
    pub downloads: u64,
    /// Visible ratings.
    pub rating: RatingSummary,
    /// The latest release's README as published (Markdown); the server renders it.
    #[serde(skip)]
    pub readme_markdown: Option<String>,
}

/// The latest release's version, index line, metadata, kind, plugin facts and README.
type Latest = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

fn corrupt(name: &str, what: &str, error: &dyn std::fmt::Display) -> StorageError {
    StorageError::Corrupt {
        what: format!("{what} of `{name}`: {error}"),
    }
}

/// The plugin facts a page shows, from the stored plugin facts (JSON).
fn page_plugin(info: &str) -> Result<PagePlugin, serde_json::Error> {
    let info: PluginInfo = serde_json::from_str(info)?;
    Ok(PagePlugin {
        capabilities: serde_json::to_value(&info.capabilities)?,
        host_api: info.host_api,
        min_host_version: info.min_host_version,
        entry: info.entry,
        template: info.template,
    })
}

/// The page of package `name` (case and `-`/`_` folded).
pub(crate) fn package_page(conn: &Connection, name: &str) -> Result<PackagePage, StorageError> {
    let package = require_package(conn, name)?;
    let versions = conn
        .prepare_cached(
            "SELECT v.version, v.pubtime, v.yanked, u.login,
                    EXISTS (SELECT 1 FROM events e WHERE e.package_id = v.package_id
                            AND e.kind = 'release' AND e.version = v.version
                            AND json_extract(e.payload, '$.signatures') IS NOT NULL)
             FROM versions v JOIN users u ON u.id = v.publisher_id
             WHERE v.package_id = ?1 ORDER BY v.id DESC",
        )?
        .query_map([package.id], |row| {
            Ok(PageVersion {
                version: row.get(0)?,
                published: Pubtime::from_unix(row.get(1)?).to_string(),
                yanked: row.get(2)?,
                publisher: row.get(3)?,
                signed: row.get(4)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let (latest, line, metadata, kind, info, readme): Latest = conn
        .prepare_cached(
            "SELECT v.version, v.line, v.metadata, e.kind, e.plugin_info, r.readme
             FROM catalogue_entries e JOIN versions v ON v.id = e.version_id
             LEFT JOIN catalogue_readmes r ON r.version_id = e.version_id
             WHERE e.package_id = ?1",
        )?
        .query_row([package.id], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
            ))
        })?;
    let metadata: PackageMetadata =
        serde_json::from_str(&metadata).map_err(|e| corrupt(&package.name, "metadata", &e))?;
    let entry =
        IndexEntry::from_line(&line).map_err(|e| corrupt(&package.name, "index line", &e))?;
    let dependencies = entry
        .deps
        .iter()
        .map(|dep| PageDependency {
            name: dep.package_name().to_owned(),
            req: dep.req.clone(),
            kind: serde_json::to_value(dep.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "normal".to_owned()),
            optional: dep.optional,
        })
        .collect();
    let plugin = info
        .map(|info| page_plugin(&info))
        .transpose()
        .map_err(|e| corrupt(&package.name, "plugin facts", &e))?;
    let (reverse_dependencies, owners) = dependents_and_owners(conn, &package)?;
    let (downloads, average, count): (i64, f64, i64) = conn
        .prepare_cached(
            "SELECT coalesce((SELECT total FROM download_totals WHERE package_id = ?1), 0),
                    coalesce((SELECT round(avg(rating), 2) FROM reviews
                              WHERE package_id = ?1 AND hidden_at IS NULL), 0),
                    (SELECT count(*) FROM reviews WHERE package_id = ?1 AND hidden_at IS NULL)",
        )?
        .query_row([package.id], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?;
    Ok(PackagePage {
        name: package.name,
        kind,
        latest,
        description: metadata.description,
        license: metadata.license,
        repository: metadata.repository,
        homepage: metadata.homepage,
        documentation: metadata.documentation,
        keywords: metadata.keywords,
        categories: metadata.categories,
        versions,
        dependencies,
        reverse_dependencies,
        plugin,
        owners,
        downloads: u64::try_from(downloads).unwrap_or(0),
        rating: RatingSummary {
            average,
            count: u64::try_from(count).unwrap_or(0),
        },
        readme_markdown: readme,
    })
}

/// The name of the host API package plugins and templates depend on. It stands for the
/// host a plugin runs in (the installer pins it, never installs it), so a plugin's dependency
/// on it is no reverse dependency of a package of that name.
pub const HOST_API_PACKAGE: &str = "host-api";

/// The packages whose latest release depends on `package` (plugins' and templates' host API
/// requirement left out), and its owners' logins.
fn dependents_and_owners(
    conn: &Connection,
    package: &crate::queries::PackageRow,
) -> Result<(Vec<String>, Vec<String>), StorageError> {
    let dependents = conn
        .prepare_cached(
            "SELECT p.name FROM catalogue_dependencies d JOIN packages p ON p.id = d.package_id
             JOIN catalogue_entries e ON e.package_id = d.package_id
             WHERE d.dependency = lower(?1) AND d.package_id <> ?2
               AND NOT (d.dependency = ?3 AND e.kind <> 'crate')
             ORDER BY p.name",
        )?
        .query_map(params![package.name, package.id, HOST_API_PACKAGE], |row| {
            row.get(0)
        })?
        .collect::<Result<Vec<String>, _>>()?;
    let owners = conn
        .prepare_cached(
            "SELECT u.login FROM owners o JOIN users u ON u.id = o.user_id
             WHERE o.package_id = ?1 ORDER BY u.login",
        )?
        .query_map([package.id], |row| row.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok((dependents, owners))
}

//! A package's catalogue page: its versions with dates, yanked state, publisher and signature
//! state; the latest release's descriptive metadata, README (as published: the server renders
//! it), dependencies and plugin facts; the packages whose latest release depends on it; its
//! owners, downloads and rating.

use serde::Serialize;
use wharf_index_format::{IndexEntry, PackageMetadata, PluginInfo, Pubtime, TemplateInfo};

use crate::StorageError;
use crate::catalogue::{RatingSummary, rating};
use crate::queries::require_package;
use crate::sql::{Sql, args, json_text};

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
pub(crate) fn package_page(conn: &dyn Sql, name: &str) -> Result<PackagePage, StorageError> {
    let package = require_package(conn, name)?;
    let signatures = json_text(conn.engine(), "e.payload", "signatures");
    let versions = conn
        .rows(
            &format!(
                "SELECT v.version, v.pubtime, v.yanked, u.login,
                        EXISTS (SELECT 1 FROM events e WHERE e.package_id = v.package_id
                                AND e.kind = 'release' AND e.version = v.version
                                AND {signatures} IS NOT NULL)
                 FROM versions v JOIN users u ON u.id = v.publisher_id
                 WHERE v.package_id = ?1 ORDER BY v.id DESC"
            ),
            args![package.id],
        )?
        .iter()
        .map(|row| {
            Ok(PageVersion {
                version: row.string(0)?,
                published: Pubtime::from_unix(row.i64(1)?).to_string(),
                yanked: row.bool(2)?,
                publisher: row.string(3)?,
                signed: row.bool(4)?,
            })
        })
        .collect::<Result<Vec<_>, StorageError>>()?;
    let latest = conn
        .row(
            "SELECT v.version, v.line, v.metadata, e.kind, e.plugin_info, r.readme
             FROM catalogue_entries e JOIN versions v ON v.id = e.version_id
             LEFT JOIN catalogue_readmes r ON r.version_id = e.version_id
             WHERE e.package_id = ?1",
            args![package.id],
        )?
        .ok_or_else(|| corrupt(&package.name, "catalogue entry", &"there is none"))?;
    let (latest_version, line, metadata, kind, info, readme) = (
        latest.string(0)?,
        latest.string(1)?,
        latest.string(2)?,
        latest.string(3)?,
        latest.opt_string(4)?,
        latest.opt_string(5)?,
    );
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
    let figures = conn
        .row(
            "SELECT coalesce((SELECT total FROM download_totals WHERE package_id = ?1), 0),
                    (SELECT CAST(coalesce(sum(rating), 0) AS BIGINT) FROM reviews
                     WHERE package_id = ?1 AND hidden_at IS NULL),
                    (SELECT count(*) FROM reviews WHERE package_id = ?1 AND hidden_at IS NULL)",
            args![package.id],
        )?
        .ok_or_else(|| corrupt(&package.name, "figures", &"no row"))?;
    Ok(PackagePage {
        name: package.name,
        kind,
        latest: latest_version,
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
        downloads: u64::try_from(figures.i64(0)?).unwrap_or(0),
        rating: rating(figures.i64(1)?, figures.i64(2)?),
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
    conn: &dyn Sql,
    package: &crate::queries::PackageRow,
) -> Result<(Vec<String>, Vec<String>), StorageError> {
    let dependents = conn
        .rows(
            "SELECT p.name FROM catalogue_dependencies d JOIN packages p ON p.id = d.package_id
             JOIN catalogue_entries e ON e.package_id = d.package_id
             WHERE d.dependency = lower(?1) AND d.package_id <> ?2
               AND NOT (d.dependency = ?3 AND e.kind <> 'crate')
             ORDER BY p.name",
            args![package.name.as_str(), package.id, HOST_API_PACKAGE],
        )?
        .iter()
        .map(|row| row.string(0))
        .collect::<Result<Vec<_>, _>>()?;
    let owners = conn
        .rows(
            "SELECT u.login FROM owners o JOIN users u ON u.id = o.user_id
             WHERE o.package_id = ?1 ORDER BY u.login",
            args![package.id],
        )?
        .iter()
        .map(|row| row.string(0))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((dependents, owners))
}

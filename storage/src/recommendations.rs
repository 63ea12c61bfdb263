//! Recommendations for a package page, each explained with the figure behind it:
//!
//! - **installed together**: first from the install sets `wharf install` reported (the share
//!   of the installs holding this package that also hold the other one), then from dependency
//!   graphs (packages that the dependents of this package use beside it);
//! - **alternatives**: packages of the same kind sharing categories or keywords whose host
//!   API requirement admits a host version this package's does too;
//! - **templates** whose latest release depends on this package.
//!
//! Every list is ordered by its figure, ties broken by name, so the answer is the same for
//! the same database. The host API package (`host-api`) is never recommended: it stands for
//! the host, not for a package anyone installs.

use std::collections::BTreeSet;

use serde::Serialize;
use wharf_index_format::canonical_name;

use crate::StorageError;
use crate::catalogue_page::HOST_API_PACKAGE;
use crate::queries::require_package;
use crate::sql::{Engine, Sql, args, json_text};

/// The most items in each list.
pub const MAX_RECOMMENDATIONS: usize = 10;

/// [`MAX_RECOMMENDATIONS`] as SQL takes it.
const LIMIT: i64 = 10;

/// What an item is recommended from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RecommendationBasis {
    /// Co-occurrence in reported install sets.
    Installs,
    /// Co-occurrence among the dependencies of the packages depending on this one.
    Dependencies,
    /// Shared categories and keywords, with an overlapping host API requirement.
    CategoriesAndKeywords,
    /// A template depending on this package.
    Template,
}

/// One recommended package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Recommendation {
    /// The package recommended.
    pub name: String,
    /// Its latest release.
    pub version: String,
    /// `crate`, `plugin` or `template`.
    pub kind: String,
    /// Its description.
    pub description: Option<String>,
    /// What it is recommended from.
    pub basis: RecommendationBasis,
    /// The figure: installs holding both, dependents using both, shared categories and
    /// keywords, or the plugins the template installs (see `out_of`).
    pub count: u64,
    /// What `count` is out of: installs holding this package, its dependents, its own
    /// categories and keywords, or the template's plugins.
    pub out_of: u64,
    /// One sentence with the figure, e.g. "installed together with http-client in 37 % of
    /// 120 reported installs".
    pub reason: String,
}

/// The recommendations for one package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Recommendations {
    /// The package, as published.
    pub name: String,
    /// Often installed together with it, install reports first.
    pub installed_together: Vec<Recommendation>,
    /// Packages of the same kind that do a similar job.
    pub alternatives: Vec<Recommendation>,
    /// Templates that use it.
    pub templates: Vec<Recommendation>,
}

/// A package's latest release as an item needs it.
struct Described {
    name: String,
    version: String,
    kind: String,
    description: Option<String>,
}

fn describe(conn: &dyn Sql, package_id: i64) -> Result<Described, StorageError> {
    let description = json_text(conn.engine(), "v.metadata", "description");
    let row = conn
        .row(
            &format!(
                "SELECT p.name, v.version, e.kind, {description}
                 FROM catalogue_entries e JOIN packages p ON p.id = e.package_id
                 JOIN versions v ON v.id = e.version_id WHERE e.package_id = ?1"
            ),
            args![package_id],
        )?
        .ok_or_else(|| StorageError::Corrupt {
            what: format!("package {package_id} has no catalogue entry"),
        })?;
    Ok(Described {
        name: row.string(0)?,
        version: row.string(1)?,
        kind: row.string(2)?,
        description: row.opt_string(3)?,
    })
}

/// The first two columns of each row as integers.
fn pairs(rows: &[crate::sql::SqlRow]) -> Result<Vec<(i64, i64)>, StorageError> {
    rows.iter()
        .map(|row| Ok((row.i64(0)?, row.i64(1)?)))
        .collect()
}

fn item(
    conn: &dyn Sql,
    package_id: i64,
    basis: RecommendationBasis,
    (count, out_of): (i64, i64),
    reason: impl FnOnce(&str) -> String,
) -> Result<Recommendation, StorageError> {
    let described = describe(conn, package_id)?;
    Ok(Recommendation {
        reason: reason(&described.name),
        name: described.name,
        version: described.version,
        kind: described.kind,
        description: described.description,
        basis,
        count: u64::try_from(count).unwrap_or(0),
        out_of: u64::try_from(out_of).unwrap_or(0),
    })
}

/// `part` of `whole` as a whole percentage, rounded half up.
fn percent(part: i64, whole: i64) -> i64 {
    if whole == 0 {
        0
    } else {
        (part * 200 + whole) / (whole * 2)
    }
}

/// Packages in the same reported install sets as `package_id`, most often first.
fn from_installs(
    conn: &dyn Sql,
    package_id: i64,
    name: &str,
) -> Result<Vec<Recommendation>, StorageError> {
    let installs = conn.one_i64(
        "SELECT count(*) FROM install_set_packages WHERE package_id = ?1",
        args![package_id],
    )?;
    let rows = pairs(&conn.rows(
        "SELECT b.package_id, count(*) AS together
         FROM install_set_packages a
         JOIN install_set_packages b ON b.install_id = a.install_id
         JOIN packages p ON p.id = b.package_id
         JOIN catalogue_entries e ON e.package_id = b.package_id
         WHERE a.package_id = ?1 AND b.package_id <> ?1 AND p.canonical_name <> ?2
           AND e.all_yanked = 0
         GROUP BY b.package_id, p.name ORDER BY together DESC, p.name LIMIT ?3",
        args![package_id, canonical_name(HOST_API_PACKAGE), LIMIT],
    )?)?;
    rows.into_iter()
        .map(|(other, together)| {
            item(
                conn,
                other,
                RecommendationBasis::Installs,
                (together, installs),
                |_| {
                    format!(
                        "installed together with {name} in {} % of {installs} reported installs",
                        percent(together, installs)
                    )
                },
            )
        })
        .collect()
}

/// Packages the dependents of `package_id` use beside it (its own dependencies left out:
/// they come with it anyway), most often first.
fn from_dependencies(
    conn: &dyn Sql,
    package_id: i64,
    name: &str,
    skip: &BTreeSet<i64>,
) -> Result<Vec<Recommendation>, StorageError> {
    let lower = name.to_lowercase();
    let dependents = conn.one_i64(
        "SELECT count(*) FROM catalogue_dependencies
         WHERE dependency = ?1 AND package_id <> ?2",
        args![lower.as_str(), package_id],
    )?;
    let rows = pairs(&conn.rows(
        "SELECT p.id, count(*) AS together
         FROM catalogue_dependencies mine
         JOIN catalogue_dependencies other ON other.package_id = mine.package_id
         JOIN packages p ON p.lower_name = other.dependency
         JOIN catalogue_entries e ON e.package_id = p.id
         WHERE mine.dependency = ?1 AND mine.package_id <> ?2 AND p.id <> ?2
           AND other.dependency <> ?3 AND e.all_yanked = 0
           AND other.dependency NOT IN
               (SELECT dependency FROM catalogue_dependencies WHERE package_id = ?2)
         GROUP BY p.id ORDER BY together DESC, p.name",
        args![lower.as_str(), package_id, HOST_API_PACKAGE],
    )?)?;
    rows.into_iter()
        .filter(|(other, _)| !skip.contains(other))
        .take(MAX_RECOMMENDATIONS)
        .map(|(other, together)| {
            item(
                conn,
                other,
                RecommendationBasis::Dependencies,
                (together, dependents),
                |_| {
                    format!(
                        "used beside {name} by {together} of the {dependents} packages that \
                         depend on {name}"
                    )
                },
            )
        })
        .collect()
}

/// The lowest version each comparator of a requirement admits, and the requirement.
fn host_probes(req: &str) -> Option<(semver::VersionReq, Vec<semver::Version>)> {
    let parsed = semver::VersionReq::parse(req).ok()?;
    let probes = parsed
        .comparators
        .iter()
        .map(|c| semver::Version::new(c.major, c.minor.unwrap_or(0), c.patch.unwrap_or(0)))
        .collect();
    Some((parsed, probes))
}

/// Whether some host version satisfies both host API requirements (judged at the lowest
/// version each of their comparators names); true when either is absent or unreadable.
fn hosts_overlap(mine: Option<&str>, theirs: Option<&str>) -> bool {
    let (Some((a, mut probes)), Some((b, more))) =
        (mine.and_then(host_probes), theirs.and_then(host_probes))
    else {
        return true;
    };
    probes.extend(more);
    probes.iter().any(|v| a.matches(v) && b.matches(v))
}

/// Packages of the same kind sharing categories or keywords with `package_id`, whose host
/// API requirement overlaps its own, most shared first.
fn alternatives(
    conn: &dyn Sql,
    package_id: i64,
    name: &str,
) -> Result<Vec<Recommendation>, StorageError> {
    let engine = conn.engine();
    let host_of = |column: &str| json_text(engine, column, "host_api");
    let own_row = conn
        .row(
            &format!(
                "SELECT kind, {} FROM catalogue_entries WHERE package_id = ?1",
                host_of("plugin_info")
            ),
            args![package_id],
        )?
        .ok_or_else(|| StorageError::Corrupt {
            what: format!("`{name}` has no catalogue entry"),
        })?;
    let (kind, host) = (own_row.string(0)?, own_row.opt_string(1)?);
    let own = conn.one_i64(
        "SELECT count(*) FROM catalogue_tags WHERE package_id = ?1",
        args![package_id],
    )?;
    let tag_list = match engine {
        Engine::Sqlite => "group_concat(t.tag_kind || ' ' || t.value, ', ')",
        Engine::Postgres => "string_agg(t.tag_kind || ' ' || t.value, ', ')",
    };
    let rows = conn
        .rows(
            &format!(
                "SELECT t.package_id, count(*) AS shared, {tag_list}, {}
                 FROM catalogue_tags mine
                 JOIN catalogue_tags t ON t.tag_kind = mine.tag_kind AND t.value = mine.value
                 JOIN catalogue_entries e ON e.package_id = t.package_id
                 JOIN packages p ON p.id = t.package_id
                 WHERE mine.package_id = ?1 AND t.package_id <> ?1 AND e.kind = ?2
                   AND e.all_yanked = 0 AND p.canonical_name <> ?3
                   AND NOT EXISTS (SELECT 1 FROM catalogue_dependencies d
                                   WHERE (d.package_id = ?1 AND d.dependency = p.lower_name)
                                      OR (d.package_id = p.id AND d.dependency = ?4))
                 GROUP BY t.package_id, e.plugin_info, p.name ORDER BY shared DESC, p.name",
                host_of("e.plugin_info")
            ),
            args![
                package_id,
                kind.as_str(),
                canonical_name(HOST_API_PACKAGE),
                name.to_lowercase()
            ],
        )?
        .iter()
        .map(|row| Ok((row.i64(0)?, row.i64(1)?, row.string(2)?, row.opt_string(3)?)))
        .collect::<Result<Vec<_>, StorageError>>()?;
    rows.into_iter()
        .filter(|(_, _, _, theirs)| hosts_overlap(host.as_deref(), theirs.as_deref()))
        .take(MAX_RECOMMENDATIONS)
        .map(|(other, shared, tags, theirs)| {
            let host_note = match (&host, &theirs) {
                (Some(mine), Some(theirs)) => {
                    format!("; host API {theirs} overlaps {name}'s {mine}")
                }
                _ => String::new(),
            };
            item(
                conn,
                other,
                RecommendationBasis::CategoriesAndKeywords,
                (shared, own),
                |_| {
                    let mut tags: Vec<&str> = tags.split(", ").collect();
                    tags.sort_unstable();
                    format!(
                        "a {kind} sharing {shared} of {name}'s {own} categories and keywords \
                         ({}){host_note}",
                        tags.join(", ")
                    )
                },
            )
        })
        .collect()
}

/// Templates whose latest release depends on `package_id`, by name.
fn templates(
    conn: &dyn Sql,
    package_id: i64,
    name: &str,
) -> Result<Vec<Recommendation>, StorageError> {
    let rows = pairs(&conn.rows(
        "SELECT d.package_id,
                (SELECT count(*) FROM catalogue_dependencies all_deps
                 WHERE all_deps.package_id = d.package_id AND all_deps.dependency <> ?3)
         FROM catalogue_dependencies d
         JOIN catalogue_entries e ON e.package_id = d.package_id
         JOIN packages p ON p.id = d.package_id
         WHERE d.dependency = ?1 AND d.package_id <> ?2 AND e.kind = 'template'
           AND e.all_yanked = 0
         ORDER BY p.name LIMIT ?4",
        args![name.to_lowercase(), package_id, HOST_API_PACKAGE, LIMIT],
    )?)?;
    rows.into_iter()
        .map(|(template, plugins)| {
            item(
                conn,
                template,
                RecommendationBasis::Template,
                (1, plugins),
                |template| {
                    format!("the template {template} installs {name}, one of its {plugins} plugins")
                },
            )
        })
        .collect()
}

/// The recommendations for package `name` (case and `-`/`_` folded).
pub(crate) fn recommend(conn: &dyn Sql, name: &str) -> Result<Recommendations, StorageError> {
    let package = require_package(conn, name)?;
    let mut installed_together = from_installs(conn, package.id, &package.name)?;
    let mut listed: BTreeSet<i64> = BTreeSet::new();
    for item in &installed_together {
        listed.insert(require_package(conn, &item.name)?.id);
    }
    let room = MAX_RECOMMENDATIONS.saturating_sub(installed_together.len());
    let by_dependencies = from_dependencies(conn, package.id, &package.name, &listed)?;
    installed_together.extend(by_dependencies.into_iter().take(room));
    Ok(Recommendations {
        alternatives: alternatives(conn, package.id, &package.name)?,
        templates: templates(conn, package.id, &package.name)?,
        installed_together,
        name: package.name,
    })
}

#[cfg(test)]
mod tests {
    use super::{hosts_overlap, percent};

    #[test]
    fn percentages_round_half_up() {
        assert_eq!(percent(37, 100), 37);
        assert_eq!(percent(1, 3), 33);
        assert_eq!(percent(2, 3), 67);
        assert_eq!(percent(1, 8), 13);
        assert_eq!(percent(0, 0), 0);
    }

    #[test]
    fn host_requirements_overlap_when_one_host_version_fits_both() {
        assert!(hosts_overlap(Some("^2.0"), Some("^2.1")));
        assert!(hosts_overlap(Some(">=1.0, <3"), Some("^2.5")));
        assert!(!hosts_overlap(Some("^1.2"), Some("^2.0")));
        assert!(hosts_overlap(None, Some("^2.0")));
    }
}

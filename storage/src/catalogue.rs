//! The catalogue's search: one row per package describing its latest release (kind, plugin
//! facts, keywords, categories, dependencies) and an FTS5 index over name, description,
//! keywords and README. Triggers on `versions` and `plugin_versions` keep both in step with
//! every publish inside the publish's own transaction, so the catalogue never lags the index.
//! The same trigger moves a release's README out of its `versions` row into
//! `catalogue_readmes`, so version rows stay small.

use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};
use serde::Serialize;
use wharf_index_format::{Pubtime, canonical_name};

use crate::StorageError;

/// The migration that adds the catalogue tables, their triggers, and fills them from the
/// packages already published.
pub(crate) const MIGRATION: &str = r"
CREATE TABLE catalogue_entries (
    package_id   INTEGER PRIMARY KEY REFERENCES packages(id),
    version_id   INTEGER NOT NULL REFERENCES versions(id),
    kind         TEXT NOT NULL DEFAULT 'crate',
    plugin_info  TEXT,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX catalogue_entries_by_version ON catalogue_entries (version_id);
CREATE INDEX catalogue_entries_by_kind ON catalogue_entries (kind, updated_at);
CREATE INDEX catalogue_entries_by_update ON catalogue_entries (updated_at);
CREATE TABLE catalogue_tags (
    tag_kind    TEXT NOT NULL CHECK (tag_kind IN ('keyword', 'category')),
    value       TEXT NOT NULL,
    package_id  INTEGER NOT NULL REFERENCES packages(id),
    PRIMARY KEY (tag_kind, value, package_id)
) WITHOUT ROWID;
CREATE INDEX catalogue_tags_by_package ON catalogue_tags (package_id);
CREATE TABLE catalogue_dependencies (
    dependency  TEXT NOT NULL,
    package_id  INTEGER NOT NULL REFERENCES packages(id),
    PRIMARY KEY (dependency, package_id)
) WITHOUT ROWID;
CREATE INDEX catalogue_dependencies_by_package ON catalogue_dependencies (package_id);
CREATE TABLE catalogue_readmes (
    version_id  INTEGER PRIMARY KEY REFERENCES versions(id),
    readme      TEXT NOT NULL
);
CREATE VIRTUAL TABLE catalogue_fts USING fts5(
    name, description, keywords, readme, tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER catalogue_on_release AFTER INSERT ON versions
BEGIN
    DELETE FROM catalogue_fts WHERE rowid = NEW.package_id;
    INSERT INTO catalogue_fts (rowid, name, description, keywords, readme)
        SELECT NEW.package_id, p.name,
               coalesce(json_extract(NEW.metadata, '$.description'), ''),
               coalesce((SELECT group_concat(value, ' ') FROM json_each(NEW.metadata, '$.keywords')), ''),
               coalesce(json_extract(NEW.metadata, '$.readme'), '')
        FROM packages p WHERE p.id = NEW.package_id;
    INSERT OR REPLACE INTO catalogue_entries (package_id, version_id, kind, plugin_info, updated_at)
        VALUES (NEW.package_id, NEW.id, 'crate', NULL, NEW.pubtime);
    DELETE FROM catalogue_tags WHERE package_id = NEW.package_id;
    INSERT OR IGNORE INTO catalogue_tags (tag_kind, value, package_id)
        SELECT 'keyword', lower(value), NEW.package_id FROM json_each(NEW.metadata, '$.keywords');
    INSERT OR IGNORE INTO catalogue_tags (tag_kind, value, package_id)
        SELECT 'category', lower(value), NEW.package_id FROM json_each(NEW.metadata, '$.categories');
    DELETE FROM catalogue_dependencies WHERE package_id = NEW.package_id;
    INSERT OR IGNORE INTO catalogue_dependencies (dependency, package_id)
        SELECT lower(coalesce(json_extract(value, '$.package'), json_extract(value, '$.name'))),
               NEW.package_id
        FROM json_each(NEW.line, '$.deps');
    INSERT INTO catalogue_readmes (version_id, readme)
        SELECT NEW.id, json_extract(NEW.metadata, '$.readme')
        WHERE json_extract(NEW.metadata, '$.readme') IS NOT NULL;
    UPDATE versions SET metadata = json_remove(NEW.metadata, '$.readme')
        WHERE id = NEW.id AND json_extract(NEW.metadata, '$.readme') IS NOT NULL;
END;
CREATE TRIGGER catalogue_on_plugin AFTER INSERT ON plugin_versions
BEGIN
    UPDATE catalogue_entries SET kind = NEW.kind, plugin_info = NEW.info
        WHERE version_id = NEW.version_id;
END;
INSERT INTO catalogue_fts (rowid, name, description, keywords, readme)
    SELECT v.package_id, p.name,
           coalesce(json_extract(v.metadata, '$.description'), ''),
           coalesce((SELECT group_concat(value, ' ') FROM json_each(v.metadata, '$.keywords')), ''),
           coalesce(json_extract(v.metadata, '$.readme'), '')
    FROM versions v JOIN packages p ON p.id = v.package_id
    WHERE v.id IN (SELECT max(id) FROM versions GROUP BY package_id);
INSERT INTO catalogue_entries (package_id, version_id, kind, plugin_info, updated_at)
    SELECT v.package_id, v.id, coalesce(pv.kind, 'crate'), pv.info, v.pubtime
    FROM versions v LEFT JOIN plugin_versions pv ON pv.version_id = v.id
    WHERE v.id IN (SELECT max(id) FROM versions GROUP BY package_id);
INSERT OR IGNORE INTO catalogue_tags (tag_kind, value, package_id)
    SELECT 'keyword', lower(j.value), v.package_id
    FROM versions v JOIN catalogue_entries e ON e.version_id = v.id, json_each(v.metadata, '$.keywords') j;
INSERT OR IGNORE INTO catalogue_tags (tag_kind, value, package_id)
    SELECT 'category', lower(j.value), v.package_id
    FROM versions v JOIN catalogue_entries e ON e.version_id = v.id, json_each(v.metadata, '$.categories') j;
INSERT OR IGNORE INTO catalogue_dependencies (dependency, package_id)
    SELECT lower(coalesce(json_extract(j.value, '$.package'), json_extract(j.value, '$.name'))), v.package_id
    FROM versions v JOIN catalogue_entries e ON e.version_id = v.id, json_each(v.line, '$.deps') j;
";

/// How search results are ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CatalogueSort {
    /// An exact name first, then by FTS5's BM25 score (name weighs most, then keywords,
    /// description, README); by name when there is no query text.
    #[default]
    Relevance,
    /// Most downloaded first.
    Downloads,
    /// Most recently published first.
    Recent,
    /// Highest average rating first, more ratings breaking ties.
    Rating,
}

impl std::str::FromStr for CatalogueSort {
    type Err = StorageError;

    fn from_str(value: &str) -> Result<Self, StorageError> {
        match value {
            "relevance" => Ok(Self::Relevance),
            "downloads" => Ok(Self::Downloads),
            "recent" => Ok(Self::Recent),
            "rating" => Ok(Self::Rating),
            other => Err(StorageError::InvalidCatalogueRequest {
                reason: format!(
                    "`sort={other}` is not a sort order; use relevance, downloads, recent or rating"
                ),
            }),
        }
    }
}

/// The capabilities a search may filter on, as the plugin manifest names them.
pub const CAPABILITIES: [&str; 6] = [
    "network",
    "secrets",
    "storage",
    "schedules",
    "webhooks",
    "exclusive",
];

/// The kinds a search may filter on.
pub const KINDS: [&str; 3] = ["crate", "plugin", "template"];

/// A catalogue search: free text plus filters, one page of results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogueQuery {
    /// Words to look for (each matches a word prefix); empty lists everything.
    pub text: String,
    /// `crate`, `plugin` or `template`.
    pub kind: Option<String>,
    /// Only kinds other than `crate` (plugins and templates), for host-compatibility searches.
    pub plugins_only: bool,
    /// A category the latest release lists.
    pub category: Option<String>,
    /// A keyword the latest release lists.
    pub keyword: Option<String>,
    /// A capability the latest release asks for (one of [`CAPABILITIES`]).
    pub capability: Option<String>,
    /// The order.
    pub sort: CatalogueSort,
    /// Hits skipped before the page.
    pub offset: usize,
    /// Hits on the page; `None` returns every hit.
    pub limit: Option<usize>,
}

/// One package in search results, described by its latest release.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CatalogueHit {
    /// The name as published.
    pub name: String,
    /// The latest release.
    pub version: String,
    /// Its description.
    pub description: Option<String>,
    /// `crate`, `plugin` or `template`.
    pub kind: String,
    /// Its keywords.
    pub keywords: Vec<String>,
    /// Its categories.
    pub categories: Vec<String>,
    /// When the latest release was published (`YYYY-MM-DDTHH:MM:SSZ`).
    pub updated: String,
    /// Downloads of every version, all time.
    pub downloads: u64,
    /// Visible ratings.
    pub rating: RatingSummary,
}

/// The average of a package's visible ratings.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RatingSummary {
    /// The mean rating rounded to two decimals; `0` when there is none.
    pub average: f64,
    /// How many ratings.
    pub count: u64,
}

/// One page of search results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CataloguePage {
    /// Every hit matching the query, not only this page's.
    pub total: u64,
    /// This page, in order.
    pub hits: Vec<CatalogueHit>,
}

/// The FTS5 query for free text: every run of letters and digits becomes a quoted prefix
/// term, all required (`"http"* "client"*`); `None` when the text has no such run.
pub(crate) fn fts_query(text: &str) -> Option<String> {
    let terms: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| format!("\"{}\"*", word.to_lowercase()))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// The SQL condition on the latest release's plugin facts (`e.plugin_info`) for a capability.
fn capability_condition(capability: &str) -> Result<&'static str, StorageError> {
    Ok(match capability {
        "network" => "json_array_length(e.plugin_info, '$.capabilities.network') > 0",
        "secrets" => "json_array_length(e.plugin_info, '$.capabilities.secrets') > 0",
        "storage" => {
            "coalesce(json_extract(e.plugin_info, '$.capabilities.storage'), 'none') <> 'none'"
        }
        "schedules" => "json_extract(e.plugin_info, '$.capabilities.schedules') = 1",
        "webhooks" => "json_extract(e.plugin_info, '$.capabilities.webhooks') = 1",
        "exclusive" => "json_extract(e.plugin_info, '$.capabilities.exclusive') IS NOT NULL",
        other => {
            return Err(StorageError::InvalidCatalogueRequest {
                reason: format!(
                    "`capability={other}` is not a capability; use one of {}",
                    CAPABILITIES.join(", ")
                ),
            });
        }
    })
}

/// The `FROM … WHERE …` part shared by the page and its count, with its bound values.
fn matching(query: &CatalogueQuery) -> Result<(String, Vec<Value>), StorageError> {
    let mut values = Vec::new();
    let mut sql = String::new();
    if let Some(fts) = fts_query(&query.text) {
        // The FTS hits and an exact (canonical) name match, the latter scored below any
        // BM25 score so it sorts first.
        sql.push_str(
            "FROM (SELECT id, min(score) AS score FROM (
                 SELECT rowid AS id, bm25(catalogue_fts, 10.0, 2.0, 4.0, 1.0) AS score
                 FROM catalogue_fts WHERE catalogue_fts MATCH ?
                 UNION ALL SELECT id, -1e9 FROM packages WHERE canonical_name = ?)
               GROUP BY id) AS m
             JOIN catalogue_entries e ON e.package_id = m.id ",
        );
        values.push(Value::Text(fts));
        values.push(Value::Text(canonical_name(query.text.trim())));
    } else {
        sql.push_str("FROM (SELECT NULL AS score) AS m JOIN catalogue_entries e ");
    }
    sql.push_str(
        "JOIN packages p ON p.id = e.package_id JOIN versions v ON v.id = e.version_id WHERE 1 = 1",
    );
    if let Some(kind) = &query.kind {
        if !KINDS.contains(&kind.as_str()) {
            return Err(StorageError::InvalidCatalogueRequest {
                reason: format!(
                    "`kind={kind}` is not a package kind; use crate, plugin or template"
                ),
            });
        }
        sql.push_str(" AND e.kind = ?");
        values.push(Value::Text(kind.clone()));
    }
    if query.plugins_only {
        sql.push_str(" AND e.kind <> 'crate'");
    }
    for (tag_kind, value) in [("keyword", &query.keyword), ("category", &query.category)] {
        if let Some(value) = value {
            sql.push_str(
                " AND EXISTS (SELECT 1 FROM catalogue_tags t WHERE t.tag_kind = ?
                   AND t.value = ? AND t.package_id = e.package_id)",
            );
            values.push(Value::Text(tag_kind.to_owned()));
            values.push(Value::Text(value.to_lowercase()));
        }
    }
    if let Some(capability) = &query.capability {
        sql.push_str(" AND ");
        sql.push_str(capability_condition(capability)?);
    }
    Ok((sql, values))
}

/// Runs a catalogue search.
pub(crate) fn search(
    conn: &Connection,
    query: &CatalogueQuery,
) -> Result<CataloguePage, StorageError> {
    let (from_where, values) = matching(query)?;
    let total: i64 = conn
        .prepare_cached(&format!("SELECT count(*) {from_where}"))?
        .query_row(params_from_iter(values.iter()), |row| row.get(0))?;
    let order = match query.sort {
        CatalogueSort::Relevance => "m.score, p.name",
        CatalogueSort::Downloads => "downloads DESC, p.name",
        CatalogueSort::Recent => "e.updated_at DESC, p.name",
        CatalogueSort::Rating => "rating_average DESC, rating_count DESC, p.name",
    };
    let limit = query
        .limit
        .map_or(-1, |limit| i64::try_from(limit).unwrap_or(i64::MAX));
    let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
    let sql = format!(
        "SELECT p.name, v.version, v.metadata, e.kind, e.updated_at,
                coalesce((SELECT total FROM download_totals d WHERE d.package_id = e.package_id), 0)
                  AS downloads,
                coalesce((SELECT round(avg(rating), 2) FROM reviews r
                          WHERE r.package_id = e.package_id AND r.hidden_at IS NULL), 0)
                  AS rating_average,
                (SELECT count(*) FROM reviews r
                 WHERE r.package_id = e.package_id AND r.hidden_at IS NULL) AS rating_count
         {from_where}
         ORDER BY {order} LIMIT {limit} OFFSET {offset}"
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(params_from_iter(values.iter()), |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, i64>(4)?,
            row.get::<_, i64>(5)?,
            row.get::<_, f64>(6)?,
            row.get::<_, i64>(7)?,
        ))
    })?;
    let mut hits = Vec::new();
    for row in rows {
        let (name, version, metadata, kind, updated, downloads, average, count) = row?;
        let metadata: wharf_index_format::PackageMetadata = serde_json::from_str(&metadata)
            .map_err(|e| StorageError::Corrupt {
                what: format!("metadata of `{name}` `{version}`: {e}"),
            })?;
        hits.push(CatalogueHit {
            name,
            version,
            description: metadata.description,
            kind,
            keywords: metadata.keywords,
            categories: metadata.categories,
            updated: Pubtime::from_unix(updated).to_string(),
            downloads: u64::try_from(downloads).unwrap_or(0),
            rating: RatingSummary {
                average,
                count: u64::try_from(count).unwrap_or(0),
            },
        });
    }
    Ok(CataloguePage {
        total: u64::try_from(total).unwrap_or(0),
        hits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_becomes_quoted_prefix_terms() {
        assert_eq!(
            fts_query("HTTP-client, retry").as_deref(),
            Some("\"http\"* \"client\"* \"retry\"*")
        );
        assert_eq!(fts_query("  \"*:( ").as_deref(), None);
    }

    #[test]
    fn unknown_sorts_kinds_and_capabilities_are_refused_by_name() {
        let sort = "stars".parse::<CatalogueSort>().unwrap_err().to_string();
        assert!(sort.contains("`sort=stars`"), "{sort}");
        let query = CatalogueQuery {
            capability: Some("root".to_owned()),
            ..CatalogueQuery::default()
        };
        let capability = matching(&query).unwrap_err().to_string();
        assert!(capability.contains("`capability=root`"), "{capability}");
        let query = CatalogueQuery {
            kind: Some("app".to_owned()),
            ..CatalogueQuery::default()
        };
        let kind = matching(&query).unwrap_err().to_string();
        assert!(kind.contains("`kind=app`"), "{kind}");
    }
}

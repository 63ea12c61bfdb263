//! The catalogue's search: one row per package describing its latest release (kind, plugin
//! facts, keywords, categories, dependencies) and a full-text index over name, description,
//! keywords and README (FTS5 on SQLite, below; a weighted `tsvector` on PostgreSQL, in
//! `pg_catalogue.rs`). Triggers on `versions` and `plugin_versions` keep both in step with
//! every publish inside the publish's own transaction, so the catalogue never lags the index.
//! The same trigger moves a release's README out of its `versions` row into
//! `catalogue_readmes`, so version rows stay small. The query itself is in
//! [`crate::catalogue_search`].

use serde::Serialize;

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

/// The migration that marks packages whose every version is yanked, so search leaves them
/// out without looking at their versions.
pub(crate) const SEARCH_MIGRATION: &str = r"
ALTER TABLE catalogue_entries ADD COLUMN all_yanked INTEGER NOT NULL DEFAULT 0;
UPDATE catalogue_entries SET all_yanked = NOT EXISTS (
    SELECT 1 FROM versions v WHERE v.package_id = catalogue_entries.package_id AND v.yanked = 0);
CREATE TRIGGER catalogue_on_yank AFTER UPDATE OF yanked ON versions
BEGIN
    UPDATE catalogue_entries SET all_yanked = NOT EXISTS (
        SELECT 1 FROM versions v WHERE v.package_id = NEW.package_id AND v.yanked = 0)
    WHERE package_id = NEW.package_id;
END;
CREATE INDEX reviews_visible_by_package ON reviews (package_id, rating) WHERE hidden_at IS NULL;
";

/// The migration that lets a search see in one index probe whether any package is fully
/// yanked (while none is, matches are counted in the full-text index alone).
pub(crate) const COUNT_MIGRATION: &str = r"
CREATE INDEX catalogue_entries_all_yanked ON catalogue_entries (package_id) WHERE all_yanked = 1;
";

/// The migration that keeps a second, small full-text index of the fully-yanked packages'
/// text, so a search counts its matches as the main index's count minus this one's instead
/// of looking up every match's catalogue row. A package enters it when its last version is
/// yanked and leaves it when a version is unyanked or a new release replaces its catalogue
/// row (`INSERT OR REPLACE` fires the insert trigger, never the update one).
pub(crate) const YANKED_INDEX_MIGRATION: &str = r"
CREATE VIRTUAL TABLE catalogue_fts_yanked USING fts5(
    name, description, keywords, readme, tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO catalogue_fts_yanked (rowid, name, description, keywords, readme)
    SELECT f.rowid, f.name, f.description, f.keywords, f.readme
    FROM catalogue_entries e JOIN catalogue_fts f ON f.rowid = e.package_id
    WHERE e.all_yanked = 1;
CREATE TRIGGER catalogue_yanked_on_change AFTER UPDATE OF all_yanked ON catalogue_entries
BEGIN
    DELETE FROM catalogue_fts_yanked WHERE rowid = NEW.package_id;
    INSERT INTO catalogue_fts_yanked (rowid, name, description, keywords, readme)
        SELECT rowid, name, description, keywords, readme FROM catalogue_fts
        WHERE rowid = NEW.package_id AND NEW.all_yanked = 1;
END;
CREATE TRIGGER catalogue_yanked_on_release AFTER INSERT ON catalogue_entries
BEGIN
    DELETE FROM catalogue_fts_yanked WHERE rowid = NEW.package_id;
END;
";

/// How search results are ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CatalogueSort {
    /// An exact name first, then every word in the name, then the other matches in the
    /// description or keywords, then README-only matches, each tier by its full-text score
    /// (FTS5's BM25 on SQLite, `ts_rank_cd` on PostgreSQL; the name weighs most); by name
    /// when there is no query text.
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
    /// Also list packages whose every version is yanked (left out by default).
    pub include_yanked: bool,
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

/// The summary of visible ratings from their sum and count: the mean rounded half up to two
/// decimals (computed from integers, so both engines give the same figure).
pub(crate) fn rating(sum: i64, count: i64) -> RatingSummary {
    let average = if count > 0 {
        // Hundredths, rounded half up: (sum / count * 100 + 0.5) floored, in integers; at
        // most 500.
        let hundredths = (sum * 200 + count) / (count * 2);
        f64::from(i32::try_from(hundredths).unwrap_or(i32::MAX)) / 100.0
    } else {
        0.0
    };
    RatingSummary {
        average,
        count: u64::try_from(count).unwrap_or(0),
    }
}

/// One page of search results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CataloguePage {
    /// Every hit matching the query, not only this page's.
    pub total: u64,
    /// This page, in order.
    pub hits: Vec<CatalogueHit>,
}

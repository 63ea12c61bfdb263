//! The catalogue search query: ranks and cuts to the page inside SQLite.
//!
//! With free text, FTS5 finds the matches and SQLite's sorter keeps only the page's rows
//! while it reads them (`ORDER BY … LIMIT`), and the columns a result shows (metadata,
//! downloads, rating) are read for the page's rows only. Relevance ranks in two tiers:
//! matches in the name, description or keywords (an FTS5 column filter), each scored by
//! BM25, then the matches found only in the README; the second tier is scored only when a
//! page reaches into it, so a word every README holds does not make SQLite score every
//! package. The first tier is itself split: matches with every word in the name come
//! before matches that need the description or keywords, so a word many descriptions hold
//! does not make SQLite score all of them for the first page. An exact name match is
//! looked up on its own (one index probe) and put first. Filters are SQL conditions on the
//! same query, and the count is a plain `count(*)` over the same matches without any
//! scoring, made only when the page does not tell it (a page that is not full ends the
//! matches); with no filter but the default one (fully-yanked packages left out) it is
//! counted in the full-text index alone, minus the matches in a small second index that
//! holds only the fully-yanked packages' text.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params_from_iter};
use wharf_index_format::{PackageMetadata, Pubtime, canonical_name};

use crate::StorageError;
use crate::catalogue::{
    CAPABILITIES, CatalogueHit, CataloguePage, CatalogueQuery, CatalogueSort, KINDS, RatingSummary,
};

/// The migration that marks packages whose every version is yanked, so search leaves them
/// out without looking at their versions.
pub(crate) const MIGRATION: &str = r"
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

/// The filters as SQL conditions on `e` (`catalogue_entries`), each starting with ` AND`,
/// with their bound values.
pub(crate) fn filters(query: &CatalogueQuery) -> Result<(String, Vec<Value>), StorageError> {
    let mut values = Vec::new();
    let mut sql = String::new();
    if !query.include_yanked {
        sql.push_str(" AND e.all_yanked = 0");
    }
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

/// The sort keys (`k1`, `k2`, ascending, then the name) and the joins they need.
fn sort_keys(sort: CatalogueSort, text: bool) -> (&'static str, &'static str) {
    match sort {
        CatalogueSort::Relevance if text => ("bm25(catalogue_fts, 10.0, 2.0, 4.0, 1.0), 0", ""),
        CatalogueSort::Relevance => ("0, 0", ""),
        CatalogueSort::Downloads => (
            "-coalesce(d.total, 0), 0",
            " LEFT JOIN download_totals d ON d.package_id = e.package_id",
        ),
        CatalogueSort::Recent => ("-e.updated_at, 0", ""),
        CatalogueSort::Rating => (
            "-coalesce((SELECT round(avg(r.rating), 2) FROM reviews r
                        WHERE r.package_id = e.package_id AND r.hidden_at IS NULL), 0),
             -(SELECT count(*) FROM reviews r
               WHERE r.package_id = e.package_id AND r.hidden_at IS NULL)",
            "",
        ),
    }
}

/// The matches of the query without the page cut: `FROM … WHERE …` and its values.
fn matches(
    query: &CatalogueQuery,
    fts: Option<&str>,
    exclude: Option<i64>,
) -> Result<(String, Vec<Value>), StorageError> {
    let (conditions, filter_values) = filters(query)?;
    let mut values = Vec::new();
    let mut sql = if let Some(fts) = fts {
        values.push(Value::Text(fts.to_owned()));
        "FROM catalogue_fts JOIN catalogue_entries e ON e.package_id = catalogue_fts.rowid
         WHERE catalogue_fts MATCH ?"
            .to_owned()
    } else {
        "FROM catalogue_entries e WHERE 1 = 1".to_owned()
    };
    if let Some(id) = exclude {
        sql.push_str(" AND e.package_id <> ?");
        values.push(Value::Integer(id));
    }
    sql.push_str(&conditions);
    values.extend(filter_values);
    Ok((sql, values))
}

/// The package whose name equals the query text (case and `-`/`_` folded) and passes the
/// filters, if any.
fn exact_match(conn: &Connection, query: &CatalogueQuery) -> Result<Option<i64>, StorageError> {
    let (conditions, mut values) = filters(query)?;
    values.insert(0, Value::Text(canonical_name(query.text.trim())));
    let sql = format!(
        "SELECT e.package_id FROM packages p JOIN catalogue_entries e ON e.package_id = p.id
         WHERE p.canonical_name = ?{conditions}"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params_from_iter(values.iter()), |row| row.get(0))
        .optional()?)
}

/// Converts a count or offset for SQLite.
fn sql_int(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The page's package ids in order: ranked and cut inside SQLite.
fn ranked_ids(
    conn: &Connection,
    query: &CatalogueQuery,
    fts: Option<&str>,
    exclude: Option<i64>,
    offset: usize,
    limit: Option<usize>,
) -> Result<Vec<i64>, StorageError> {
    if limit == Some(0) {
        return Ok(Vec::new());
    }
    let (from_where, mut values) = matches(query, fts, exclude)?;
    let (keys, joins) = sort_keys(query.sort, fts.is_some());
    let from_where = from_where.replacen(
        " WHERE ",
        &format!(" JOIN packages p ON p.id = e.package_id{joins} WHERE "),
        1,
    );
    let sql =
        format!("SELECT e.package_id, {keys} {from_where} ORDER BY 2, 3, p.name LIMIT ? OFFSET ?");
    values.push(Value::Integer(limit.map_or(-1, sql_int)));
    values.push(Value::Integer(sql_int(offset)));
    let ids = conn
        .prepare_cached(&sql)?
        .query_map(params_from_iter(values.iter()), |row| row.get(0))?
        .collect::<Result<Vec<i64>, _>>()?;
    Ok(ids)
}

/// Whether the query has no filter but the default one (fully-yanked packages left out).
fn only_default_filter(query: &CatalogueQuery) -> bool {
    !query.include_yanked
        && query.kind.is_none()
        && !query.plugins_only
        && query.keyword.is_none()
        && query.category.is_none()
        && query.capability.is_none()
}

/// How many packages match free text `fts` with only the default filter, `exclude` left
/// out: the matches in the full-text index minus those in the small index of fully-yanked
/// packages, both counted without looking up any match's catalogue row (the cost grows with
/// the matches, and with the fully-yanked packages only for the second count).
fn count_unfiltered(
    conn: &Connection,
    fts: &str,
    exclude: Option<i64>,
) -> Result<u64, StorageError> {
    let total: i64 = conn
        .prepare_cached(
            "SELECT (SELECT count(*) FROM catalogue_fts
                     WHERE catalogue_fts MATCH ?1 AND rowid IS NOT ?2)
                  - (SELECT count(*) FROM catalogue_fts_yanked
                     WHERE catalogue_fts_yanked MATCH ?1 AND rowid IS NOT ?2)",
        )?
        .query_row(rusqlite::params![fts, exclude], |row| row.get(0))?;
    Ok(u64::try_from(total).unwrap_or(0))
}

/// How many packages match.
fn count(
    conn: &Connection,
    query: &CatalogueQuery,
    fts: Option<&str>,
    exclude: Option<i64>,
) -> Result<u64, StorageError> {
    if let Some(fts) = fts
        && only_default_filter(query)
    {
        return count_unfiltered(conn, fts, exclude);
    }
    let (from_where, values) = matches(query, fts, exclude)?;
    let total: i64 = conn
        .prepare_cached(&format!("SELECT count(*) {from_where}"))?
        .query_row(params_from_iter(values.iter()), |row| row.get(0))?;
    Ok(u64::try_from(total).unwrap_or(0))
}

/// The search results of the given packages, in the given order: one statement for the
/// whole page.
pub(crate) fn hits(conn: &Connection, ids: &[i64]) -> Result<Vec<CatalogueHit>, StorageError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = serde_json::to_string(ids).map_err(|e| StorageError::Corrupt {
        what: format!("the page's package ids: {e}"),
    })?;
    let mut statement = conn.prepare_cached(
        "SELECT p.name, v.version, v.metadata, e.kind, e.updated_at,
                coalesce((SELECT total FROM download_totals d WHERE d.package_id = e.package_id), 0),
                coalesce((SELECT round(avg(rating), 2) FROM reviews r
                          WHERE r.package_id = e.package_id AND r.hidden_at IS NULL), 0),
                (SELECT count(*) FROM reviews r
                 WHERE r.package_id = e.package_id AND r.hidden_at IS NULL)
         FROM json_each(?1) j CROSS JOIN catalogue_entries e ON e.package_id = j.value
         JOIN packages p ON p.id = e.package_id
         JOIN versions v ON v.id = e.version_id
         ORDER BY j.key",
    )?;
    let rows = statement
        .query_map([list], |row| {
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
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut hits = Vec::with_capacity(rows.len());
    for (name, version, metadata, kind, updated, downloads, average, count) in rows {
        let metadata: PackageMetadata =
            serde_json::from_str(&metadata).map_err(|e| StorageError::Corrupt {
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
    Ok(hits)
}

/// The columns whose matches rank above README-only matches.
const MAIN_COLUMNS: &str = "{name description keywords}";

/// The relevance tiers of a free-text query: matches with every word in the name, then the
/// other matches in the name, description or keywords, then the matches found only in the
/// README. Each tier is ranked by BM25 on its own, so SQLite scores a tier only when a page
/// reaches into it.
fn relevance_tiers(terms: &str) -> [String; 3] {
    [
        format!("{{name}}: ({terms})"),
        format!("{MAIN_COLUMNS}: ({terms}) NOT {{name}}: ({terms})"),
        format!("({terms}) NOT {MAIN_COLUMNS}: ({terms})"),
    ]
}

/// The page of a relevance search with free text: the exact name, then each tier, reading
/// a tier's count only when the page starts beyond it.
fn relevance_page(
    conn: &Connection,
    query: &CatalogueQuery,
    terms: &str,
    exact: Option<i64>,
) -> Result<Vec<i64>, StorageError> {
    let mut ids = Vec::new();
    let mut skip = query.offset;
    let mut room = query.limit;
    if let Some(id) = exact {
        if skip == 0 {
            ids.push(id);
            room = room.map(|room| room.saturating_sub(1));
        } else {
            skip -= 1;
        }
    }
    for tier in relevance_tiers(terms) {
        if room == Some(0) {
            break;
        }
        let found = ranked_ids(conn, query, Some(&tier), exact, skip, room)?;
        if found.is_empty() && skip > 0 {
            let size = count(conn, query, Some(&tier), exact)?;
            skip -= usize::try_from(size).unwrap_or(usize::MAX).min(skip);
            continue;
        }
        skip = 0;
        room = room.map(|room| room.saturating_sub(found.len()));
        ids.extend(found);
    }
    Ok(ids)
}

/// The total a page shows without counting: when the page is not full (and not empty past
/// the start), it holds the last matches, so they end at its offset plus its length.
fn total_from_page(query: &CatalogueQuery, found: usize) -> Option<u64> {
    let short = query.limit.is_none_or(|limit| found < limit);
    (short && (found > 0 || query.offset == 0))
        .then(|| u64::try_from(query.offset + found).unwrap_or(u64::MAX))
}

/// Runs a catalogue search: the page's packages ranked and cut in SQLite, then described;
/// the matches are counted only when the page does not tell their number.
pub(crate) fn search(
    conn: &Connection,
    query: &CatalogueQuery,
) -> Result<CataloguePage, StorageError> {
    let fts = fts_query(&query.text);
    let ids = match (&fts, query.sort) {
        (Some(terms), CatalogueSort::Relevance) => {
            // An exact name comes first; the ranked matches follow without it.
            let exact = exact_match(conn, query)?;
            let ids = relevance_page(conn, query, terms, exact)?;
            let total = match total_from_page(query, ids.len()) {
                Some(total) => total,
                None => count(conn, query, Some(terms), exact)? + u64::from(exact.is_some()),
            };
            return Ok(CataloguePage {
                total,
                hits: hits(conn, &ids)?,
            });
        }
        _ => ranked_ids(conn, query, fts.as_deref(), None, query.offset, query.limit)?,
    };
    let total = match total_from_page(query, ids.len()) {
        Some(total) => total,
        None => count(conn, query, fts.as_deref(), None)?,
    };
    Ok(CataloguePage {
        total,
        hits: hits(conn, &ids)?,
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
        let capability = filters(&query).unwrap_err().to_string();
        assert!(capability.contains("`capability=root`"), "{capability}");
        let query = CatalogueQuery {
            kind: Some("app".to_owned()),
            ..CatalogueQuery::default()
        };
        let kind = filters(&query).unwrap_err().to_string();
        assert!(kind.contains("`kind=app`"), "{kind}");
    }
}

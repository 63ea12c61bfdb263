//! The catalogue search query: ranks and cuts to the page inside the database, on SQLite
//! (FTS5) or PostgreSQL (a weighted `tsvector` under a GIN index); the SQL pieces of each
//! dialect are in `catalogue_sql.rs`.
//!
//! With free text, the full-text index finds the matches and the database's sorter keeps
//! only the page's rows while it reads them (`ORDER BY … LIMIT`), and the columns a result
//! shows (metadata, downloads, rating) are read for the page's rows only. Relevance ranks
//! in three tiers: matches with every word in the name, then the other matches in the name,
//! description or keywords, then the matches found only in the README; each tier is ranked
//! on its own (BM25 on SQLite, cover density on PostgreSQL) and scored only when a page
//! reaches into it, so a word every README holds does not make the database score every
//! package for the first page. An exact name match is looked up on its own (one index
//! probe) and put first. Filters are SQL conditions on the same query, and the count is a
//! plain `count(*)` over the same matches without any scoring, made only when the page does
//! not tell it (a page that is not full ends the matches). On SQLite, with no filter but
//! the default one (fully-yanked packages left out), it is counted in the full-text index
//! alone, minus the matches in a small second index that holds only the fully-yanked
//! packages' text.

use wharf_index_format::{PackageMetadata, Pubtime, canonical_name};

use crate::StorageError;
use crate::catalogue::{CatalogueHit, CataloguePage, CatalogueQuery, CatalogueSort, rating};
use crate::catalogue_sql::{RELEVANCE_TIERS, Tier, filters, matches, sort_keys, text_query, words};
use crate::sql::{Engine, Sql, SqlValue, args};

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

/// The package whose name equals the query text (case and `-`/`_` folded) and passes the
/// filters, if any.
fn exact_match(conn: &dyn Sql, query: &CatalogueQuery) -> Result<Option<i64>, StorageError> {
    let (conditions, mut values) = filters(conn.engine(), query)?;
    values.insert(0, SqlValue::from(canonical_name(query.text.trim())));
    let sql = format!(
        "SELECT e.package_id FROM packages p JOIN catalogue_entries e ON e.package_id = p.id
         WHERE p.canonical_name = ?{conditions}"
    );
    conn.row(&sql, &values)?.map(|row| row.i64(0)).transpose()
}

/// Converts a count or offset for SQL (no limit is the largest integer, which both engines
/// take).
fn sql_int(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Free text as each part of a search needs it: the full-text query of the matches and,
/// for relevance on PostgreSQL, the plain query the rank is computed with.
#[derive(Clone, Copy)]
struct Text<'a> {
    matches: &'a str,
    rank: &'a str,
}

/// The page's package ids in order: ranked and cut inside the database.
fn ranked_ids(
    conn: &dyn Sql,
    query: &CatalogueQuery,
    text: Option<Text<'_>>,
    exclude: Option<i64>,
    offset: usize,
    limit: Option<usize>,
) -> Result<Vec<i64>, StorageError> {
    if limit == Some(0) {
        return Ok(Vec::new());
    }
    let engine = conn.engine();
    let keys = sort_keys(engine, query.sort, text.is_some());
    let joins = format!(" JOIN packages p ON p.id = e.package_id{}", keys.joins);
    let (from_where, mut values) =
        matches(engine, query, text.map(|t| t.matches), exclude, &joins)?;
    let sql = format!(
        "SELECT e.package_id {from_where} ORDER BY {}p.name LIMIT ? OFFSET ?",
        keys.terms
    );
    if keys.takes_query
        && let Some(text) = text
    {
        values.push(SqlValue::from(text.rank));
    }
    values.push(SqlValue::from(limit.map_or(i64::MAX, sql_int)));
    values.push(SqlValue::from(sql_int(offset)));
    conn.rows(&sql, &values)?
        .iter()
        .map(|row| row.i64(0))
        .collect()
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

/// How many packages match the FTS5 query `fts` with only the default filter, `exclude`
/// left out (SQLite): the matches in the full-text index minus those in the small index of
/// fully-yanked packages, both counted without looking up any match's catalogue row (the
/// cost grows with the matches, and with the fully-yanked packages only for the second
/// count).
fn count_unfiltered(conn: &dyn Sql, fts: &str, exclude: Option<i64>) -> Result<u64, StorageError> {
    let total = conn.one_i64(
        "SELECT (SELECT count(*) FROM catalogue_fts
                 WHERE catalogue_fts MATCH ?1 AND rowid IS NOT ?2)
              - (SELECT count(*) FROM catalogue_fts_yanked
                 WHERE catalogue_fts_yanked MATCH ?1 AND rowid IS NOT ?2)",
        args![fts, exclude],
    )?;
    Ok(u64::try_from(total).unwrap_or(0))
}

/// How many packages match (`text`: the engine's full-text query).
fn count(
    conn: &dyn Sql,
    query: &CatalogueQuery,
    text: Option<&str>,
    exclude: Option<i64>,
) -> Result<u64, StorageError> {
    if let Some(fts) = text
        && conn.engine() == Engine::Sqlite
        && only_default_filter(query)
    {
        return count_unfiltered(conn, fts, exclude);
    }
    let (from_where, values) = matches(conn.engine(), query, text, exclude, "")?;
    let total = conn.one_i64(&format!("SELECT count(*) {from_where}"), &values)?;
    Ok(u64::try_from(total).unwrap_or(0))
}

/// The search results of the given packages, in the given order: one statement for the
/// whole page (the ids travel as one JSON array).
pub(crate) fn hits(conn: &dyn Sql, ids: &[i64]) -> Result<Vec<CatalogueHit>, StorageError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = serde_json::to_string(ids).map_err(|e| StorageError::Corrupt {
        what: format!("the page's package ids: {e}"),
    })?;
    let page = match conn.engine() {
        Engine::Sqlite => "json_each(?1) j CROSS JOIN catalogue_entries e ON e.package_id = j.value",
        Engine::Postgres => {
            "jsonb_array_elements_text(CAST(CAST(?1 AS text) AS jsonb)) WITH ORDINALITY AS j(value, key)
             JOIN catalogue_entries e ON e.package_id = CAST(j.value AS BIGINT)"
        }
    };
    let rows = conn.rows(
        &format!(
            "SELECT p.name, v.version, v.metadata, e.kind, e.updated_at,
                coalesce((SELECT total FROM download_totals d WHERE d.package_id = e.package_id), 0),
                (SELECT CAST(coalesce(sum(r.rating), 0) AS BIGINT) FROM reviews r
                 WHERE r.package_id = e.package_id AND r.hidden_at IS NULL),
                (SELECT count(*) FROM reviews r
                 WHERE r.package_id = e.package_id AND r.hidden_at IS NULL)
             FROM {page}
             JOIN packages p ON p.id = e.package_id
             JOIN versions v ON v.id = e.version_id
             ORDER BY j.key"
        ),
        args![list],
    )?;
    let mut hits = Vec::with_capacity(rows.len());
    for row in rows {
        let (name, version) = (row.string(0)?, row.string(1)?);
        let metadata: PackageMetadata =
            serde_json::from_str(&row.string(2)?).map_err(|e| StorageError::Corrupt {
                what: format!("metadata of `{name}` `{version}`: {e}"),
            })?;
        hits.push(CatalogueHit {
            name,
            version,
            description: metadata.description,
            kind: row.string(3)?,
            keywords: metadata.keywords,
            categories: metadata.categories,
            updated: Pubtime::from_unix(row.i64(4)?).to_string(),
            downloads: u64::try_from(row.i64(5)?).unwrap_or(0),
            rating: rating(row.i64(6)?, row.i64(7)?),
        });
    }
    Ok(hits)
}

/// The page of a relevance search with free text: the exact name, then each tier, reading
/// a tier's count only when the page starts beyond it.
fn relevance_page(
    conn: &dyn Sql,
    query: &CatalogueQuery,
    words: &[String],
    exact: Option<i64>,
) -> Result<Vec<i64>, StorageError> {
    let engine = conn.engine();
    let rank = text_query(engine, words, Tier::All).unwrap_or_default();
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
    for tier in RELEVANCE_TIERS {
        if room == Some(0) {
            break;
        }
        let Some(tier_query) = text_query(engine, words, tier) else {
            break;
        };
        let text = Text {
            matches: &tier_query,
            rank: &rank,
        };
        let found = ranked_ids(conn, query, Some(text), exact, skip, room)?;
        if found.is_empty() && skip > 0 {
            let size = count(conn, query, Some(&tier_query), exact)?;
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

/// Runs a catalogue search: the page's packages ranked and cut in the database, then
/// described; the matches are counted only when the page does not tell their number.
pub(crate) fn search(
    conn: &dyn Sql,
    query: &CatalogueQuery,
) -> Result<CataloguePage, StorageError> {
    let words = words(&query.text);
    let all = text_query(conn.engine(), &words, Tier::All);
    if let (Some(all), CatalogueSort::Relevance) = (&all, query.sort) {
        // An exact name comes first; the ranked matches follow without it.
        let exact = exact_match(conn, query)?;
        let ids = relevance_page(conn, query, &words, exact)?;
        let total = match total_from_page(query, ids.len()) {
            Some(total) => total,
            None => count(conn, query, Some(all), exact)? + u64::from(exact.is_some()),
        };
        return Ok(CataloguePage {
            total,
            hits: hits(conn, &ids)?,
        });
    }
    let text = all.as_deref().map(|all| Text {
        matches: all,
        rank: all,
    });
    let ids = ranked_ids(conn, query, text, None, query.offset, query.limit)?;
    let total = match total_from_page(query, ids.len()) {
        Some(total) => total,
        None => count(conn, query, all.as_deref(), None)?,
    };
    Ok(CataloguePage {
        total,
        hits: hits(conn, &ids)?,
    })
}

//! The catalogue search query: ranks and cuts to the page inside the database, on SQLite
//! (FTS5) or PostgreSQL (a weighted `tsvector` under a GIN index); the SQL pieces of each
//! dialect are in `catalogue_sql.rs`.
//!
//! A search is one statement in the usual case: its `WITH` parts probe the exact name (one
//! index probe), rank and cut one tier of matches (the database's sorter keeps only the
//! page's rows while it reads them, `ORDER BY … LIMIT`), count every match without scoring
//! any, and its final `SELECT` reads the columns a result shows (metadata, downloads,
//! rating) for the page's rows only. Relevance ranks in three tiers: matches with every
//! word in the name, then the other matches in the name, description or keywords, then the
//! matches found only in the README; each tier is ranked on its own (BM25 on SQLite, cover
//! density on PostgreSQL) and scored only when a page reaches into it, so a word every
//! README holds does not make the database score every package for the first page. The
//! first statement ranks the name tier; a later tier costs one more statement, made only
//! when the page has room left and the count says matches remain. The exact name match
//! comes first. Filters are SQL conditions on the same statement. On SQLite, with no filter
//! but the default one (fully-yanked packages left out), the count is made in the full-text
//! index alone, minus the matches in a small second index that holds only the
//! fully-yanked packages' text.

use std::fmt::Write as _;

use wharf_index_format::{Pubtime, canonical_name};

use crate::StorageError;
use crate::catalogue::{CatalogueHit, CataloguePage, CatalogueQuery, CatalogueSort, rating};
use crate::catalogue_sql::{
    Exclude, TextMatch, Tier, filters, matches, sort_keys, text_match, words,
};
use crate::sql::{Engine, Sql, SqlRow, SqlValue, json_text};

/// SQL text and the values of its `?` placeholders, written in step so each value meets
/// its placeholder in order.
#[derive(Default)]
struct Statement {
    sql: String,
    values: Vec<SqlValue>,
}

impl Statement {
    /// Appends `sql` and the values of its placeholders.
    fn push(&mut self, sql: &str, values: impl IntoIterator<Item = SqlValue>) {
        self.sql.push_str(sql);
        self.values.extend(values);
    }
}

/// Converts a count or offset for SQL (no limit is the largest integer, which both engines
/// take).
fn sql_int(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Free text as each part of a search needs it: the matches and, for relevance on
/// PostgreSQL, the plain query the rank is computed with.
#[derive(Clone, Copy)]
struct Text<'a> {
    matches: &'a TextMatch,
    rank: &'a str,
}

/// What one search statement reads: a window of ranked matches, and optionally the exact
/// name match and the count of every match.
struct Plan<'a> {
    /// The matches ranked (`None`: every catalogue row that passes the filters), one entry
    /// per relevance tier read in order. A tier after the first is read only when fewer
    /// than `limit` rows come before it, from its start (a page at offset 0), and the
    /// statement's rows are then cut to `limit`.
    tiers: Vec<Option<Text<'a>>>,
    /// The package left out of the ranked matches.
    exclude: Exclude,
    /// Whether the statement also probes the exact name (and leaves it out of the ranked
    /// matches and of the count; `exclude` is then [`Exclude::ExactMatch`]).
    exact: bool,
    /// Whether and what the statement counts.
    count: Count<'a>,
    /// Ranked matches of the first tier skipped.
    offset: usize,
    /// Ranked matches read at most from each tier (`None`: all).
    limit: Option<usize>,
}

/// What a search statement counts.
#[derive(Clone, Copy)]
enum Count<'a> {
    /// Nothing.
    Nothing,
    /// The matches of the text (`None`: every catalogue row that passes the filters).
    Matches(Option<&'a TextMatch>),
}

/// What a search statement returned.
struct PageRows {
    /// Every match, when the plan asked for the count.
    total: Option<u64>,
    /// The exact name match (its package id and result), when probed and found.
    exact: Option<(i64, CatalogueHit)>,
    /// The window of ranked matches, in order.
    ranked: Vec<(i64, CatalogueHit)>,
}

/// The `WITH` part naming the exact name match (`exact`): the package whose name equals the
/// query text (case and `-`/`_` folded) and passes the filters, if any.
fn push_exact(
    statement: &mut Statement,
    engine: Engine,
    query: &CatalogueQuery,
) -> Result<(), StorageError> {
    let (conditions, values) = filters(engine, query)?;
    statement.push(
        "exact AS (SELECT e.package_id FROM packages p
             JOIN catalogue_entries e ON e.package_id = p.id WHERE p.canonical_name = ?",
        [SqlValue::from(canonical_name(query.text.trim()))],
    );
    statement.push(&conditions, values);
    statement.push("), ", []);
    Ok(())
}

/// The scalar expression counting the matches of `text`, `exclude` left out. On SQLite with
/// only the default filter, the matches in the full-text index minus those in the small
/// index of fully-yanked packages, both counted without looking up any match's catalogue
/// row (the cost grows with the matches, and with the fully-yanked packages only for the
/// second count).
fn push_count(
    statement: &mut Statement,
    engine: Engine,
    query: &CatalogueQuery,
    text: Option<&TextMatch>,
    exclude: Exclude,
) -> Result<(), StorageError> {
    if let Some(text) = text
        && engine == Engine::Sqlite
        && only_default_filter(query)
    {
        for (operator, table) in [("", "catalogue_fts"), (" - ", "catalogue_fts_yanked")] {
            let (excluded, value) = exclude.condition("rowid");
            statement.push(
                &format!("{operator}(SELECT count(*) FROM {table} WHERE {table} MATCH ?"),
                [SqlValue::from(text.query.as_str())],
            );
            let (except, except_value) = text.except_condition(table);
            statement.push(&except, except_value);
            statement.push(&excluded, value);
            statement.push(")", []);
        }
        return Ok(());
    }
    let (from_where, values) = matches(engine, query, text, exclude, "")?;
    statement.push(&format!("(SELECT count(*) {from_where})"), values);
    Ok(())
}

/// The columns of a result read for each ranked package `page.id`: name, version, the
/// description, keywords and categories of its metadata (taken out of the JSON document by
/// the database, so the README beside them is neither copied out nor parsed), kind, update
/// time, downloads, rating sum and count.
fn hit_columns(engine: Engine) -> String {
    let field = |path| json_text(engine, "v.metadata", path);
    format!(
        "p.name, v.version, {}, {}, {}, e.kind, e.updated_at,
    coalesce((SELECT total FROM download_totals d WHERE d.package_id = e.package_id), 0),
    (SELECT CAST(coalesce(sum(r.rating), 0) AS BIGINT) FROM reviews r
     WHERE r.package_id = e.package_id AND r.hidden_at IS NULL),
    (SELECT count(*) FROM reviews r WHERE r.package_id = e.package_id AND r.hidden_at IS NULL)",
        field("description"),
        field("keywords"),
        field("categories")
    )
}

/// The sort columns and joins of a statement's ranked windows.
struct Shape {
    /// The statement's engine.
    engine: Engine,
    /// `expression AS sort_key_N, ` for each sort key.
    columns: String,
    /// `sort_key_N direction, ` for each sort key.
    order: String,
    /// The joins after `catalogue_entries e`, `packages p` first.
    joins: String,
    /// Whether the sort keys take the plain full-text query as a value.
    takes_query: bool,
}

/// The `WITH` part `ranked_{tier}`: the tier's window of ranked matches with their sort
/// values. The first tier reads the page's rows from its start; a later one as many as the
/// rows `before` it leave room for, or none (a limit of 0 stops both engines before they
/// look at any match). On PostgreSQL a relevance window is ranked before any package's name
/// is read: an inner query keeps the best-ranked rows (every row tied with the last one
/// included), and only those are joined to their names for the tie-break, not every match.
fn push_ranked(
    statement: &mut Statement,
    query: &CatalogueQuery,
    plan: &Plan<'_>,
    shape: &Shape,
    tier: usize,
    text: Option<Text<'_>>,
    before: &[String],
) -> Result<(), StorageError> {
    let Shape {
        engine,
        columns,
        order,
        ..
    } = shape;
    let engine = *engine;
    let limit = SqlValue::from(plan.limit.map_or(i64::MAX, sql_int));
    let rank = text
        .filter(|_| shape.takes_query)
        .map(|text| SqlValue::from(text.rank));
    let (window, window_values) = if tier == 1 {
        (
            "? OFFSET ?".to_owned(),
            vec![limit, SqlValue::from(sql_int(plan.offset))],
        )
    } else {
        (
            format!(
                "(SELECT CASE WHEN count(*) < ? THEN CAST(? AS BIGINT) ELSE 0 END
                 FROM ({}) AS before_{tier})",
                before.join(" UNION ALL ")
            ),
            vec![limit.clone(), limit],
        )
    };
    let text = text.map(|t| t.matches);
    if engine == Engine::Postgres && shape.takes_query {
        statement.push(
            &format!(
                "ranked_{tier} AS (SELECT w.id, {tier} AS tier, w.sort_key_0, p.name AS sort_name
                 FROM (SELECT e.package_id AS id, {} ",
                columns.trim_end_matches(", ")
            ),
            rank,
        );
        let (from_where, values) = matches(engine, query, text, plan.exclude, "")?;
        statement.push(&from_where, values);
        let (fetched, fetched_values) = if tier == 1 {
            let rows = plan
                .limit
                .map_or(i64::MAX, sql_int)
                .saturating_add(sql_int(plan.offset));
            ("CAST(? AS BIGINT)".to_owned(), vec![SqlValue::from(rows)])
        } else {
            (window.clone(), window_values.clone())
        };
        statement.push(
            &format!(
                " ORDER BY {} FETCH FIRST ({fetched}) ROWS WITH TIES) AS w
                 JOIN packages p ON p.id = w.id",
                order.trim_end_matches(", "),
            ),
            fetched_values,
        );
    } else {
        statement.push(
            &format!(
                "ranked_{tier} AS (SELECT e.package_id AS id, {tier} AS tier, {columns}p.name AS sort_name "
            ),
            rank,
        );
        let (from_where, values) = matches(engine, query, text, plan.exclude, &shape.joins)?;
        statement.push(&from_where, values);
    }
    statement.push(
        &format!(" ORDER BY {order}p.name LIMIT {window}), "),
        window_values,
    );
    Ok(())
}

/// One search statement: `exact` (when planned), `ranked_1`, `ranked_2`, … (each tier's
/// window of ranked matches with their sort values), `page` (all of them, the exact match
/// as tier 0), `matched` (the count, or NULL), then one row per page entry with its
/// result's columns, or a single row of NULLs but the count when the page is empty.
fn build_statement(
    engine: Engine,
    query: &CatalogueQuery,
    plan: &Plan<'_>,
) -> Result<Statement, StorageError> {
    let has_text = plan.tiers.first().is_some_and(Option::is_some);
    let keys = sort_keys(engine, query.sort, has_text);
    let mut columns = String::new();
    let mut order = String::new();
    let mut nulls = String::new();
    for (index, (expression, direction)) in keys.keys.iter().enumerate() {
        let _ = write!(columns, "{expression} AS sort_key_{index}, ");
        let _ = write!(order, "sort_key_{index} {direction}, ");
        let _ = write!(nulls, "NULL AS sort_key_{index}, ");
    }
    let limit = SqlValue::from(plan.limit.map_or(i64::MAX, sql_int));
    let joins = format!(" JOIN packages p ON p.id = e.package_id{}", keys.joins);
    let mut statement = Statement::default();
    statement.push("WITH ", []);
    // The rows before each tier, for the gate of the next one.
    let mut before = Vec::new();
    if plan.exact {
        push_exact(&mut statement, engine, query)?;
        before.push("SELECT package_id FROM exact".to_owned());
    }
    let shape = Shape {
        engine,
        columns,
        order: order.clone(),
        joins,
        takes_query: keys.takes_query,
    };
    for (index, text) in plan.tiers.iter().enumerate() {
        let tier = index + 1;
        push_ranked(&mut statement, query, plan, &shape, tier, *text, &before)?;
        before.push(format!("SELECT id FROM ranked_{tier}"));
    }
    let mut arms: Vec<String> = (1..=plan.tiers.len())
        .map(|tier| format!("SELECT * FROM ranked_{tier}"))
        .collect();
    if plan.exact {
        arms.insert(
            0,
            format!("SELECT package_id AS id, 0 AS tier, {nulls}NULL AS sort_name FROM exact"),
        );
    }
    statement.push(
        &format!(
            "page AS ({}), matched AS (SELECT ",
            arms.join(" UNION ALL ")
        ),
        [],
    );
    match plan.count {
        Count::Matches(text) => {
            let exclude = if plan.exact {
                Exclude::ExactMatch
            } else {
                Exclude::Nothing
            };
            push_count(&mut statement, engine, query, text, exclude)?;
            if plan.exact {
                statement.push(" + (SELECT count(*) FROM exact)", []);
            }
        }
        Count::Nothing => statement.push("CAST(NULL AS BIGINT)", []),
    }
    statement.push(
        &format!(
            " AS n) SELECT matched.n, page.id, page.tier, {}
             FROM matched LEFT JOIN page ON 1 = 1
             LEFT JOIN catalogue_entries e ON e.package_id = page.id
             LEFT JOIN packages p ON p.id = e.package_id
             LEFT JOIN versions v ON v.id = e.version_id
             ORDER BY page.tier, {}page.sort_name",
            hit_columns(engine),
            order.replace("sort_key_", "page.sort_key_")
        ),
        [],
    );
    if plan.tiers.len() > 1 {
        statement.push(" LIMIT ?", [limit]);
    }
    Ok(statement)
}

/// The result in the columns of [`hit_columns`] starting at `first`.
fn hit(row: &SqlRow, first: usize) -> Result<CatalogueHit, StorageError> {
    let (name, version) = (row.string(first)?, row.string(first + 1)?);
    let list = |index| {
        serde_json::from_str::<Vec<String>>(row.str(index)?).map_err(|e| StorageError::Corrupt {
            what: format!("metadata of `{name}` `{version}`: {e}"),
        })
    };
    let (keywords, categories) = (list(first + 3)?, list(first + 4)?);
    Ok(CatalogueHit {
        description: row.opt_string(first + 2)?,
        keywords,
        categories,
        kind: row.string(first + 5)?,
        updated: Pubtime::from_unix(row.i64(first + 6)?).to_string(),
        downloads: u64::try_from(row.i64(first + 7)?).unwrap_or(0),
        rating: rating(row.i64(first + 8)?, row.i64(first + 9)?),
        name,
        version,
    })
}

/// Runs one search statement.
fn run(conn: &dyn Sql, query: &CatalogueQuery, plan: &Plan<'_>) -> Result<PageRows, StorageError> {
    let statement = build_statement(conn.engine(), query, plan)?;
    let rows = conn.rows(&statement.sql, &statement.values)?;
    let mut page = PageRows {
        total: None,
        exact: None,
        ranked: Vec::with_capacity(rows.len()),
    };
    for row in rows {
        page.total = row.opt_i64(0)?.map(|n| u64::try_from(n).unwrap_or(0));
        let Some(id) = row.opt_i64(1)? else {
            continue;
        };
        let entry = (id, hit(&row, 3)?);
        if row.i64(2)? == 0 {
            page.exact = Some(entry);
        } else {
            page.ranked.push(entry);
        }
    }
    Ok(page)
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

/// How many packages match `text`, `exclude` left out: for a page that starts beyond a
/// whole tier.
fn count(
    conn: &dyn Sql,
    query: &CatalogueQuery,
    text: &TextMatch,
    exclude: Exclude,
) -> Result<u64, StorageError> {
    let mut statement = Statement::default();
    statement.push("SELECT ", []);
    push_count(&mut statement, conn.engine(), query, Some(text), exclude)?;
    let total = conn.one_i64(&statement.sql, &statement.values)?;
    Ok(u64::try_from(total).unwrap_or(0))
}

/// Where a page stands while its tiers are read: matches still to skip, room left, and the
/// results so far.
struct Filling {
    skip: usize,
    room: Option<usize>,
    hits: Vec<CatalogueHit>,
}

impl Filling {
    /// Takes a tier's window of ranked matches, read from position `read_from` of the tier
    /// (never past the page's start, and holding more rows than the page skips in it);
    /// `tier_size` counts the tier when the window is empty and does not tell how far the
    /// tier reaches.
    fn take(
        &mut self,
        rows: Vec<(i64, CatalogueHit)>,
        read_from: usize,
        tier_size: impl FnOnce() -> Result<u64, StorageError>,
    ) -> Result<(), StorageError> {
        let start = self.skip - read_from;
        let read = rows.len();
        if read > start {
            let room = self.room.unwrap_or(usize::MAX);
            let taken: Vec<CatalogueHit> = rows
                .into_iter()
                .skip(start)
                .take(room)
                .map(|(_, hit)| hit)
                .collect();
            self.skip = 0;
            self.room = self.room.map(|room| room - taken.len());
            self.hits.extend(taken);
        } else if read > 0 || read_from == 0 {
            // The tier ended inside the window (which holds more rows than the one or none
            // read): it holds `read_from + read` matches.
            self.skip -= (read_from + read).min(self.skip);
        } else {
            let size = usize::try_from(tier_size()?).unwrap_or(usize::MAX);
            self.skip -= size.min(self.skip);
        }
        Ok(())
    }
}

/// The first page of a relevance search with free text, in one statement: the exact name,
/// then each tier while the page has room.
fn first_relevance_page(
    conn: &dyn Sql,
    query: &CatalogueQuery,
    tiers: &[TextMatch],
    all: &TextMatch,
) -> Result<CataloguePage, StorageError> {
    let page = run(
        conn,
        query,
        &Plan {
            tiers: tiers
                .iter()
                .map(|matches| {
                    Some(Text {
                        matches,
                        rank: &all.query,
                    })
                })
                .collect(),
            exclude: Exclude::ExactMatch,
            exact: true,
            count: Count::Matches(Some(all)),
            offset: 0,
            limit: query.limit,
        },
    )?;
    Ok(CataloguePage {
        total: page.total.unwrap_or(0),
        hits: page
            .exact
            .into_iter()
            .chain(page.ranked)
            .map(|(_, hit)| hit)
            .collect(),
    })
}

/// A later page of a relevance search with free text (or one of no room): the first
/// statement reads the exact name, the name tier's window and the count; the other tiers follow, one statement each,
/// while the page has room and matches remain.
fn later_relevance_page(
    conn: &dyn Sql,
    query: &CatalogueQuery,
    tiers: &[TextMatch],
    all: &TextMatch,
) -> Result<CataloguePage, StorageError> {
    // Whether an exact match exists is known only inside the statement, so the name tier's
    // window starts one match early (the exact match takes a position before the page)
    // and holds one more.
    let read_from = query.offset.saturating_sub(1);
    let limit = query.limit.map(|limit| limit.saturating_add(1));
    let text = |matches| {
        Some(Text {
            matches,
            rank: &all.query,
        })
    };
    let first = run(
        conn,
        query,
        &Plan {
            tiers: vec![text(&tiers[0])],
            exclude: Exclude::ExactMatch,
            exact: true,
            count: Count::Matches(Some(all)),
            offset: read_from,
            limit,
        },
    )?;
    let total = first.total.unwrap_or(0);
    let exclude = first
        .exact
        .as_ref()
        .map_or(Exclude::Nothing, |(id, _)| Exclude::Package(*id));
    let mut filling = Filling {
        skip: query.offset,
        room: query.limit,
        hits: Vec::new(),
    };
    if let Some((_, exact)) = first.exact {
        if query.offset == 0 {
            filling.hits.push(exact);
            filling.room = filling.room.map(|room| room.saturating_sub(1));
        } else {
            filling.skip -= 1;
        }
    }
    if filling.room != Some(0) {
        filling.take(first.ranked, read_from, || {
            count(conn, query, &tiers[0], exclude)
        })?;
    }
    for tier in &tiers[1..] {
        let placed = query.offset.saturating_add(filling.hits.len());
        if filling.room == Some(0) || u64::try_from(placed).unwrap_or(u64::MAX) >= total {
            break;
        }
        let read_from = filling.skip;
        let rows = run(
            conn,
            query,
            &Plan {
                tiers: vec![text(tier)],
                exclude,
                exact: false,
                count: Count::Nothing,
                offset: read_from,
                limit: filling.room,
            },
        )?;
        filling.take(rows.ranked, read_from, || count(conn, query, tier, exclude))?;
    }
    Ok(CataloguePage {
        total,
        hits: filling.hits,
    })
}

/// Runs a catalogue search: the page's packages ranked and cut in the database, described,
/// and every match counted, in one statement (a later page of a relevance search that
/// reaches past the name tier takes one more per tier).
pub(crate) fn search(
    conn: &dyn Sql,
    query: &CatalogueQuery,
) -> Result<CataloguePage, StorageError> {
    let words = words(&query.text);
    let all = text_match(conn.engine(), &words, Tier::All);
    if let (Some(all), CatalogueSort::Relevance) = (&all, query.sort) {
        let tiers: Vec<TextMatch> = [Tier::Name, Tier::OtherMain, Tier::ReadmeOnly]
            .into_iter()
            .filter_map(|tier| text_match(conn.engine(), &words, tier))
            .collect();
        // A limit of 0 would cut the statement's one row of the count.
        return if query.offset == 0 && query.limit != Some(0) {
            first_relevance_page(conn, query, &tiers, all)
        } else {
            later_relevance_page(conn, query, &tiers, all)
        };
    }
    let page = run(
        conn,
        query,
        &Plan {
            tiers: vec![all.as_ref().map(|all| Text {
                matches: all,
                rank: &all.query,
            })],
            exclude: Exclude::Nothing,
            exact: false,
            count: Count::Matches(all.as_ref()),
            offset: query.offset,
            limit: query.limit,
        },
    )?;
    Ok(CataloguePage {
        total: page.total.unwrap_or(0),
        hits: page.ranked.into_iter().map(|(_, hit)| hit).collect(),
    })
}

//! The SQL pieces of a catalogue search, in each engine's dialect: the full-text query of
//! free text and its relevance tiers (FTS5 on SQLite, `tsquery` on PostgreSQL), the filters,
//! the sort keys and the `FROM … WHERE …` of the matches. `catalogue_search.rs` runs them;
//! every difference between the engines is decided here, once per piece.

use crate::StorageError;
use crate::catalogue::{CAPABILITIES, CatalogueQuery, CatalogueSort, KINDS};
use crate::sql::{Engine, SqlValue, json_text};

/// The words of free text: every run of letters and digits, lowercased.
pub(crate) fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Which matches of the words a full-text query finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tier {
    /// Every word anywhere (name, description, keywords or README).
    All,
    /// Every word in the name.
    Name,
    /// Every word in the name, description or keywords, but not every word in the name.
    OtherMain,
    /// Every word somewhere, but not every word in the name, description or keywords.
    ReadmeOnly,
}

/// The full-text query finding `tier`'s matches of `words` (each word matches a word
/// prefix, all words required): an FTS5 expression with column filters on SQLite, a
/// `tsquery` with weight filters on PostgreSQL (name A, description and keywords B, README
/// D). `None` when there is no word. On SQLite the expression finds every match of the
/// tier's columns, the matches of earlier tiers included: [`TextMatch`] leaves those out.
pub(crate) fn text_query(engine: Engine, words: &[String], tier: Tier) -> Option<String> {
    if words.is_empty() {
        return None;
    }
    Some(match engine {
        Engine::Sqlite => {
            let terms = words
                .iter()
                .map(|word| format!("\"{word}\"*"))
                .collect::<Vec<_>>()
                .join(" ");
            match tier {
                Tier::All | Tier::ReadmeOnly => terms,
                Tier::Name => format!("{{name}}: ({terms})"),
                Tier::OtherMain => format!("{{name description keywords}}: ({terms})"),
            }
        }
        Engine::Postgres => {
            // Words hold letters and digits only, so quoting them needs no escapes.
            let all = |weights: &str| {
                words
                    .iter()
                    .map(|word| format!("'{word}':*{weights}"))
                    .collect::<Vec<_>>()
                    .join(" & ")
            };
            match tier {
                Tier::All => all(""),
                Tier::Name => all("A"),
                Tier::OtherMain => format!("({}) & !({})", all("AB"), all("A")),
                Tier::ReadmeOnly => format!("({}) & !({})", all(""), all("AB")),
            }
        }
    })
}

/// A tier's matches of the words as the engine looks for them: the tier and the engine's
/// full-text query. On SQLite the query is [`text_query`]'s FTS5 expression of the tier's
/// columns, and the matches of the earlier tiers are left out by their rowids (`except`)
/// rather than by FTS5's `NOT`, whose excluded phrases BM25 would also look up the document
/// counts of (the same rows and scores, fewer phrases to count). On
/// PostgreSQL the name tier and the other-main tier search the plain query (every word,
/// any weight) in the document's name part or its name, description and keywords part
/// (`ts_filter`, each under a GIN index of its own, so the index finds exactly the tier's
/// matches and PostgreSQL does not recheck every document that holds the words somewhere);
/// the other tiers use [`text_query`]'s `tsquery` on the whole document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TextMatch {
    /// Which matches.
    pub(crate) tier: Tier,
    /// The full-text query bound to the condition.
    pub(crate) query: String,
    /// On SQLite, the FTS5 expression whose matches are left out (the earlier tiers').
    pub(crate) except: Option<String>,
}

/// `tier`'s [`TextMatch`] of `words`; `None` when there is no word.
pub(crate) fn text_match(engine: Engine, words: &[String], tier: Tier) -> Option<TextMatch> {
    let (query_tier, except) = match (engine, tier) {
        (Engine::Postgres, Tier::Name | Tier::OtherMain) => (Tier::All, None),
        (Engine::Sqlite, Tier::OtherMain) => (tier, Some(Tier::Name)),
        (Engine::Sqlite, Tier::ReadmeOnly) => (Tier::All, Some(Tier::OtherMain)),
        _ => (tier, None),
    };
    Some(TextMatch {
        tier,
        query: text_query(engine, words, query_tier)?,
        except: except.and_then(|except| text_query(engine, words, except)),
    })
}

impl TextMatch {
    /// On SQLite, the condition (starting with ` AND`, or empty) leaving out the rows of
    /// `table` (`catalogue_fts` or a copy of its columns) whose `rowid` matches
    /// [`TextMatch::except`], with its value.
    pub(crate) fn except_condition(&self, table: &str) -> (String, Option<SqlValue>) {
        self.except.as_ref().map_or_else(
            || (String::new(), None),
            |except| {
                (
                    format!(
                        " AND {table}.rowid NOT IN
                         (SELECT rowid FROM {table} WHERE {table} MATCH ?)"
                    ),
                    Some(SqlValue::from(except.as_str())),
                )
            },
        )
    }
}

/// The PostgreSQL condition finding a [`TextMatch`]'s rows of `e`, with its values: the
/// name part of the document is `ts_filter(document, '{a}')`, the name, description and
/// keywords part `ts_filter(document, '{a,b}')`, the expressions of the GIN indexes
/// `catalogue_entries_name_words` and `catalogue_entries_main_words`.
fn postgres_condition(text: &TextMatch) -> (&'static str, Vec<SqlValue>) {
    let query = || SqlValue::from(text.query.as_str());
    match text.tier {
        Tier::All | Tier::ReadmeOnly => ("e.document @@ to_tsquery('simple', ?)", vec![query()]),
        Tier::Name => (
            "ts_filter(e.document, '{a}') @@ to_tsquery('simple', ?)",
            vec![query()],
        ),
        Tier::OtherMain => (
            "ts_filter(e.document, '{a,b}') @@ to_tsquery('simple', ?)
             AND NOT ts_filter(e.document, '{a}') @@ to_tsquery('simple', ?)",
            vec![query(), query()],
        ),
    }
}

/// The SQL condition on the latest release's plugin facts (`e.plugin_info`) for a capability.
fn capability_condition(engine: Engine, capability: &str) -> Result<String, StorageError> {
    if !CAPABILITIES.contains(&capability) {
        return Err(StorageError::InvalidCatalogueRequest {
            reason: format!(
                "`capability={capability}` is not a capability; use one of {}",
                CAPABILITIES.join(", ")
            ),
        });
    }
    let path = format!("capabilities.{capability}");
    let value = json_text(engine, "e.plugin_info", &path);
    Ok(match (capability, engine) {
        ("network" | "secrets", Engine::Sqlite) => {
            format!("json_array_length(e.plugin_info, '$.{path}') > 0")
        }
        ("network" | "secrets", Engine::Postgres) => format!(
            "jsonb_array_length(CAST(e.plugin_info AS jsonb) #> '{{capabilities,{capability}}}') > 0"
        ),
        ("storage", _) => format!("coalesce({value}, 'none') <> 'none'"),
        ("schedules" | "webhooks", Engine::Sqlite) => format!("{value} = 1"),
        ("schedules" | "webhooks", Engine::Postgres) => format!("{value} = 'true'"),
        _ => format!("{value} IS NOT NULL"),
    })
}

/// The filters as SQL conditions on `e` (`catalogue_entries`), each starting with ` AND`,
/// with their bound values.
pub(crate) fn filters(
    engine: Engine,
    query: &CatalogueQuery,
) -> Result<(String, Vec<SqlValue>), StorageError> {
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
        values.push(SqlValue::from(kind));
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
            values.push(SqlValue::from(tag_kind));
            values.push(SqlValue::from(value.to_lowercase()));
        }
    }
    if let Some(capability) = &query.capability {
        sql.push_str(" AND ");
        sql.push_str(&capability_condition(engine, capability)?);
    }
    Ok((sql, values))
}

/// How a page is ordered before the name: the sort values (each an SQL expression with its
/// direction), the joins they need, and whether they take the plain full-text query as a
/// value (the rank of a PostgreSQL relevance search).
pub(crate) struct SortKeys {
    /// `(expression, "ASC" or "DESC")`, in order; each becomes a column of the ranked rows.
    pub(crate) keys: &'static [(&'static str, &'static str)],
    /// Joins after `catalogue_entries e` and `packages p`.
    pub(crate) joins: &'static str,
    /// Whether `keys` hold one `?` for the plain full-text query.
    pub(crate) takes_query: bool,
}

/// The sort keys of `sort` (`text`: whether there is free text to rank by).
pub(crate) fn sort_keys(engine: Engine, sort: CatalogueSort, text: bool) -> SortKeys {
    let keys = |keys, joins| SortKeys {
        keys,
        joins,
        takes_query: false,
    };
    match (sort, engine) {
        // FTS5's BM25 (lower is better) with the columns weighted: name, description,
        // keywords, README.
        (CatalogueSort::Relevance, Engine::Sqlite) if text => {
            keys(&[("bm25(catalogue_fts, 10.0, 2.0, 4.0, 1.0)", "ASC")], "")
        }
        // Cover density with PostgreSQL's default weights (A 1.0, B 0.4, D 0.1), divided by
        // one plus the logarithm of the document's length.
        (CatalogueSort::Relevance, Engine::Postgres) if text => SortKeys {
            keys: &[("ts_rank_cd(e.document, to_tsquery('simple', ?), 1)", "DESC")],
            joins: "",
            takes_query: true,
        },
        (CatalogueSort::Relevance, _) => keys(&[], ""),
        (CatalogueSort::Downloads, _) => keys(
            &[("coalesce(d.total, 0)", "DESC")],
            " LEFT JOIN download_totals d ON d.package_id = e.package_id",
        ),
        (CatalogueSort::Recent, _) => keys(&[("e.updated_at", "DESC")], ""),
        (CatalogueSort::Rating, _) => keys(
            &[
                (
                    "coalesce((SELECT round(avg(r.rating), 2) FROM reviews r
                       WHERE r.package_id = e.package_id AND r.hidden_at IS NULL), 0)",
                    "DESC",
                ),
                (
                    "(SELECT count(*) FROM reviews r
                      WHERE r.package_id = e.package_id AND r.hidden_at IS NULL)",
                    "DESC",
                ),
            ],
            "",
        ),
    }
}

/// The package a search's matches leave out: the exact name match, which a relevance page
/// puts first on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exclude {
    /// Leave out nothing.
    Nothing,
    /// Leave out this package (the exact match an earlier statement found).
    Package(i64),
    /// Leave out the rows of the same statement's `exact` table (its exact match).
    ExactMatch,
}

impl Exclude {
    /// The condition (starting with ` AND`, or empty) leaving the package out of rows whose
    /// package id is `column`, with its value.
    pub(crate) fn condition(self, column: &str) -> (String, Option<SqlValue>) {
        match self {
            Self::Nothing => (String::new(), None),
            Self::Package(id) => (format!(" AND {column} <> ?"), Some(SqlValue::from(id))),
            Self::ExactMatch => (
                format!(" AND {column} NOT IN (SELECT package_id FROM exact)"),
                None,
            ),
        }
    }
}

/// The matches of the query without the page cut: `FROM … WHERE …` (with `joins` after the
/// catalogue row) and its values; `text` finds the full-text matches.
pub(crate) fn matches(
    engine: Engine,
    query: &CatalogueQuery,
    text: Option<&TextMatch>,
    exclude: Exclude,
    joins: &str,
) -> Result<(String, Vec<SqlValue>), StorageError> {
    let (conditions, filter_values) = filters(engine, query)?;
    let mut values = Vec::new();
    let mut sql = match (text, engine) {
        (Some(text), Engine::Sqlite) => {
            values.push(SqlValue::from(text.query.as_str()));
            let (except, value) = text.except_condition("catalogue_fts");
            values.extend(value);
            format!(
                "FROM catalogue_fts JOIN catalogue_entries e ON e.package_id = catalogue_fts.rowid
                 {joins} WHERE catalogue_fts MATCH ?{except}"
            )
        }
        (Some(text), Engine::Postgres) => {
            let (condition, text_values) = postgres_condition(text);
            values.extend(text_values);
            format!("FROM catalogue_entries e {joins} WHERE {condition}")
        }
        (None, _) => format!("FROM catalogue_entries e {joins} WHERE 1 = 1"),
    };
    let (excluded, value) = exclude.condition("e.package_id");
    sql.push_str(&excluded);
    values.extend(value);
    sql.push_str(&conditions);
    values.extend(filter_values);
    Ok((sql, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_becomes_prefix_terms_in_each_dialect() {
        let found = words("HTTP-client, retry");
        assert_eq!(found, ["http", "client", "retry"]);
        assert_eq!(
            text_query(Engine::Sqlite, &found, Tier::All).as_deref(),
            Some("\"http\"* \"client\"* \"retry\"*")
        );
        let one = words("retry");
        assert_eq!(
            text_query(Engine::Postgres, &one, Tier::OtherMain).as_deref(),
            Some("('retry':*AB) & !('retry':*A)")
        );
        assert_eq!(
            text_query(Engine::Postgres, &one, Tier::ReadmeOnly).as_deref(),
            Some("('retry':*) & !('retry':*AB)")
        );
        assert!(words("  \"*:( ").is_empty());
        assert_eq!(text_query(Engine::Postgres, &[], Tier::All), None);
    }

    #[test]
    fn unknown_sorts_kinds_and_capabilities_are_refused_by_name() {
        let sort = "stars".parse::<CatalogueSort>().unwrap_err().to_string();
        assert!(sort.contains("`sort=stars`"), "{sort}");
        for engine in [Engine::Sqlite, Engine::Postgres] {
            let query = CatalogueQuery {
                capability: Some("root".to_owned()),
                ..CatalogueQuery::default()
            };
            let capability = filters(engine, &query).unwrap_err().to_string();
            assert!(capability.contains("`capability=root`"), "{capability}");
            let query = CatalogueQuery {
                kind: Some("app".to_owned()),
                ..CatalogueQuery::default()
            };
            let kind = filters(engine, &query).unwrap_err().to_string();
            assert!(kind.contains("`kind=app`"), "{kind}");
        }
    }
}

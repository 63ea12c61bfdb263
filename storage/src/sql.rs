//! The seam between the storage rules and the database engine: a small synchronous SQL
//! interface ([`Sql`]) that SQLite (`sql_sqlite.rs`) and PostgreSQL (`pg.rs`) both
//! implement, so a query that is portable SQL is written once.
//!
//! Queries use SQLite's numbered placeholders (`?1`, `?2`, …); the PostgreSQL side rewrites
//! them to `$1`, `$2`, … ([`numbered_placeholders`]). Values travel as [`SqlValue`] (integer,
//! text, blob or NULL) and rows come back as [`SqlRow`], read with typed getters that name the
//! column on a mismatch. A module converted to this interface takes `&dyn Sql`; a
//! `&rusqlite::Connection` still coerces to it, so callers that have not moved keep working.

use crate::StorageError;

/// One value bound to a placeholder or read from a column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SqlValue {
    /// SQL `NULL`.
    Null,
    /// A 64-bit integer (SQLite `INTEGER`, PostgreSQL `BIGINT`; booleans read as 0 or 1).
    Integer(i64),
    /// Text.
    Text(String),
    /// Bytes (SQLite `BLOB`, PostgreSQL `BYTEA`).
    Blob(Vec<u8>),
}

/// The database engine behind a connection, for the few statements whose dialects differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Engine {
    /// SQLite (the embedded default).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Engine {
    /// The engine's name, for messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }
}

impl From<Vec<u8>> for SqlValue {
    fn from(value: Vec<u8>) -> Self {
        Self::Blob(value)
    }
}

impl From<&[u8]> for SqlValue {
    fn from(value: &[u8]) -> Self {
        Self::Blob(value.to_vec())
    }
}

impl From<u8> for SqlValue {
    fn from(value: u8) -> Self {
        Self::Integer(i64::from(value))
    }
}

impl From<i64> for SqlValue {
    fn from(value: i64) -> Self {
        Self::Integer(value)
    }
}

impl From<bool> for SqlValue {
    fn from(value: bool) -> Self {
        Self::Integer(i64::from(value))
    }
}

impl From<&str> for SqlValue {
    fn from(value: &str) -> Self {
        Self::Text(value.to_owned())
    }
}

impl From<String> for SqlValue {
    fn from(value: String) -> Self {
        Self::Text(value)
    }
}

impl From<&String> for SqlValue {
    fn from(value: &String) -> Self {
        Self::Text(value.clone())
    }
}

impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(value: Option<T>) -> Self {
        value.map_or(Self::Null, Into::into)
    }
}

/// The values of a query's placeholders, in order: `args![a, b]` is `&[SqlValue]`.
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        &[$($crate::sql::SqlValue::from($value)),*][..]
    };
}
pub(crate) use args;

/// One result row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SqlRow(pub(crate) Vec<SqlValue>);

impl SqlRow {
    fn value(&self, index: usize) -> Result<&SqlValue, StorageError> {
        self.0.get(index).ok_or_else(|| StorageError::Corrupt {
            what: format!("a query row has no column {index}"),
        })
    }

    fn mismatch(&self, index: usize, wanted: &str) -> StorageError {
        StorageError::Corrupt {
            what: format!(
                "column {index} of a query row is {:?}, not {wanted}",
                self.0.get(index)
            ),
        }
    }

    /// The integer in column `index`.
    pub(crate) fn i64(&self, index: usize) -> Result<i64, StorageError> {
        self.opt_i64(index)?
            .ok_or_else(|| self.mismatch(index, "an integer"))
    }

    /// The integer or NULL in column `index`.
    pub(crate) fn opt_i64(&self, index: usize) -> Result<Option<i64>, StorageError> {
        match self.value(index)? {
            SqlValue::Integer(value) => Ok(Some(*value)),
            SqlValue::Null => Ok(None),
            _ => Err(self.mismatch(index, "an integer")),
        }
    }

    /// Column `index` as a boolean (an integer, non-zero meaning true).
    pub(crate) fn bool(&self, index: usize) -> Result<bool, StorageError> {
        Ok(self.i64(index)? != 0)
    }

    /// The bytes or NULL in column `index`.
    pub(crate) fn opt_bytes(&self, index: usize) -> Result<Option<Vec<u8>>, StorageError> {
        match self.value(index)? {
            SqlValue::Blob(value) => Ok(Some(value.clone())),
            SqlValue::Null => Ok(None),
            _ => Err(self.mismatch(index, "bytes")),
        }
    }

    /// The bytes in column `index`.
    pub(crate) fn bytes(&self, index: usize) -> Result<Vec<u8>, StorageError> {
        self.opt_bytes(index)?
            .ok_or_else(|| self.mismatch(index, "bytes"))
    }

    /// The text in column `index`.
    pub(crate) fn string(&self, index: usize) -> Result<String, StorageError> {
        self.str(index).map(str::to_owned)
    }

    /// The text in column `index`, borrowed from the row (for text only read, such as a
    /// JSON document parsed into other values).
    pub(crate) fn str(&self, index: usize) -> Result<&str, StorageError> {
        self.opt_str(index)?
            .ok_or_else(|| self.mismatch(index, "text"))
    }

    /// The text or NULL in column `index`.
    pub(crate) fn opt_string(&self, index: usize) -> Result<Option<String>, StorageError> {
        Ok(self.opt_str(index)?.map(str::to_owned))
    }

    /// The text or NULL in column `index`, borrowed from the row.
    fn opt_str(&self, index: usize) -> Result<Option<&str>, StorageError> {
        match self.value(index)? {
            SqlValue::Text(value) => Ok(Some(value)),
            SqlValue::Null => Ok(None),
            _ => Err(self.mismatch(index, "text")),
        }
    }
}

/// A connection (or a transaction on one) that runs portable SQL.
///
/// Every method takes the SQL with `?N` placeholders and the values for them. Statements
/// are prepared once per connection and cached.
pub(crate) trait Sql {
    /// Runs one statement; returns how many rows it changed.
    fn exec(&self, sql: &str, args: &[SqlValue]) -> Result<u64, StorageError>;

    /// Runs one query and returns every row.
    fn rows(&self, sql: &str, args: &[SqlValue]) -> Result<Vec<SqlRow>, StorageError>;

    /// Runs independent statements in order and returns the rows of each. PostgreSQL sends
    /// them all before waiting for any answer (one round trip instead of one each); SQLite
    /// runs them one after the other. Inside a transaction, a failure fails the statements
    /// after it too; outside one, the statements before it stand.
    fn pipeline(
        &self,
        statements: &[(&str, Vec<SqlValue>)],
    ) -> Result<Vec<Vec<SqlRow>>, StorageError> {
        statements
            .iter()
            .map(|(sql, args)| self.rows(sql, args))
            .collect()
    }

    /// Runs statements without arguments, separated by `;` (schema changes, transaction
    /// control).
    fn batch(&self, sql: &str) -> Result<(), StorageError>;

    /// Which engine runs the SQL (for the few statements whose dialects differ).
    fn engine(&self) -> Engine {
        if self.sqlite().is_some() {
            Engine::Sqlite
        } else {
            Engine::Postgres
        }
    }

    /// The SQLite connection, for the parts of storage that have not moved to this interface
    /// (and are refused on PostgreSQL).
    fn sqlite(&self) -> Option<&rusqlite::Connection>;

    /// Runs `work` so that all its queries see one state of the database: inside the
    /// transaction already open (the writer's), or else in a read transaction of its own.
    fn consistent_read(
        &self,
        work: &mut dyn FnMut() -> Result<(), StorageError>,
    ) -> Result<(), StorageError>;

    /// The first row of a query, if any.
    fn row(&self, sql: &str, args: &[SqlValue]) -> Result<Option<SqlRow>, StorageError> {
        Ok(self.rows(sql, args)?.into_iter().next())
    }

    /// Whether a query returns any row.
    fn exists(&self, sql: &str, args: &[SqlValue]) -> Result<bool, StorageError> {
        Ok(self.row(sql, args)?.is_some())
    }

    /// The integer in the first column of the first row (a `count(*)`, a `RETURNING id`).
    fn one_i64(&self, sql: &str, args: &[SqlValue]) -> Result<i64, StorageError> {
        self.row(sql, args)?
            .ok_or_else(|| StorageError::Corrupt {
                what: format!("`{sql}` returned no row"),
            })?
            .i64(0)
    }
}

/// The SQLite connection behind `conn`, or [`StorageError::NotOnPostgres`] naming
/// `feature`: the gate in front of every part of storage whose tables are not on PostgreSQL
/// yet.
#[allow(
    dead_code,
    reason = "every module on the seam runs on PostgreSQL now; kept for the features still moving"
)]
pub(crate) fn sqlite_only<'a>(
    conn: &'a dyn Sql,
    feature: &str,
) -> Result<&'a rusqlite::Connection, StorageError> {
    conn.sqlite().ok_or_else(|| {
        tracing::debug!(engine = conn.engine().name(), feature, "feature refused");
        StorageError::NotOnPostgres {
            feature: feature.to_owned(),
        }
    })
}

/// The SQL expression for the text (or number, as text on PostgreSQL) at `path` (dot
/// separated keys) inside the JSON held in the text column `column`; NULL when absent or JSON
/// `null`. SQLite's `json_extract`, PostgreSQL's `#>>` on the column cast to `jsonb`.
pub(crate) fn json_text(engine: Engine, column: &str, path: &str) -> String {
    match engine {
        Engine::Sqlite => format!("json_extract({column}, '$.{path}')"),
        Engine::Postgres => format!(
            "(CAST({column} AS jsonb) #>> '{{{}}}')",
            path.replace('.', ",")
        ),
    }
}

/// Rewrites SQLite's `?N` placeholders (and bare `?`, numbered in order) to PostgreSQL's
/// `$N`, leaving string literals and quoted names alone.
pub(crate) fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut quote: Option<char> = None;
    let mut next = 0u32;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                out.push(c);
            }
            (None, '?') => {
                let mut digits = String::new();
                while let Some(digit) = chars.peek().copied().filter(char::is_ascii_digit) {
                    digits.push(digit);
                    chars.next();
                }
                out.push('$');
                if digits.is_empty() {
                    next += 1;
                    out.push_str(&next.to_string());
                } else {
                    out.push_str(&digits);
                }
            }
            (Some(open), _) if c == open => {
                quote = None;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_renumbered_outside_quotes() {
        assert_eq!(
            numbered_placeholders(
                "SELECT a FROM t WHERE b = ?2 AND c = ?1 AND d = '?3' AND \"?\" = ?"
            ),
            "SELECT a FROM t WHERE b = $2 AND c = $1 AND d = '?3' AND \"?\" = $1"
        );
        assert_eq!(numbered_placeholders("SELECT 1"), "SELECT 1");
    }

    #[test]
    fn json_paths_are_written_in_each_dialect() {
        assert_eq!(
            json_text(Engine::Sqlite, "v.metadata", "capabilities.storage"),
            "json_extract(v.metadata, '$.capabilities.storage')"
        );
        assert_eq!(
            json_text(Engine::Postgres, "v.metadata", "capabilities.storage"),
            "(CAST(v.metadata AS jsonb) #>> '{capabilities,storage}')"
        );
    }

    #[test]
    fn rows_name_the_column_on_a_type_mismatch() {
        let row = SqlRow(vec![
            SqlValue::Integer(3),
            SqlValue::Null,
            SqlValue::from("x"),
        ]);
        assert_eq!(row.i64(0).unwrap(), 3);
        assert!(row.bool(0).unwrap());
        assert_eq!(row.opt_string(1).unwrap(), None);
        assert_eq!(row.string(2).unwrap(), "x");
        let error = row.i64(2).unwrap_err().to_string();
        assert!(error.contains("column 2"), "{error}");
        assert!(row.i64(5).is_err());
    }
}

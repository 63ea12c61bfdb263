//! [`Sql`] on a SQLite connection: cached prepared statements, values bound as SQLite's own.

use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, ToSql, params_from_iter};

use crate::StorageError;
use crate::sql::{Sql, SqlRow, SqlValue};

impl ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Self::Null => ToSqlOutput::Owned(Value::Null),
            Self::Integer(value) => ToSqlOutput::Owned(Value::Integer(*value)),
            Self::Text(value) => ToSqlOutput::Borrowed(ValueRef::Text(value.as_bytes())),
            Self::Blob(value) => ToSqlOutput::Borrowed(ValueRef::Blob(value)),
        })
    }
}

/// A SQLite column value as a [`SqlValue`] (a real number, which Wharf never stores, reads
/// as its text).
fn column(value: ValueRef<'_>) -> SqlValue {
    match value {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(value) => SqlValue::Integer(value),
        ValueRef::Real(value) => SqlValue::Text(value.to_string()),
        ValueRef::Text(bytes) => SqlValue::Text(String::from_utf8_lossy(bytes).into_owned()),
        ValueRef::Blob(bytes) => SqlValue::Blob(bytes.to_vec()),
    }
}

impl Sql for Connection {
    fn exec(&self, sql: &str, args: &[SqlValue]) -> Result<u64, StorageError> {
        let changed = self
            .prepare_cached(sql)?
            .execute(params_from_iter(args.iter()))?;
        Ok(u64::try_from(changed).unwrap_or(u64::MAX))
    }

    fn rows(&self, sql: &str, args: &[SqlValue]) -> Result<Vec<SqlRow>, StorageError> {
        let mut statement = self.prepare_cached(sql)?;
        let width = statement.column_count();
        let mut rows = statement.query(params_from_iter(args.iter()))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let values = (0..width)
                .map(|index| row.get_ref(index).map(column))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            out.push(SqlRow(values));
        }
        Ok(out)
    }

    fn batch(&self, sql: &str) -> Result<(), StorageError> {
        Ok(self.execute_batch(sql)?)
    }

    fn sqlite(&self) -> Option<&rusqlite::Connection> {
        Some(self)
    }

    fn consistent_read(
        &self,
        work: &mut dyn FnMut() -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        if !self.is_autocommit() {
            return work();
        }
        let tx = self.unchecked_transaction()?;
        work()?;
        Ok(tx.finish()?)
    }
}

#[cfg(test)]
mod tests {
    use crate::sql::{Sql, args};

    #[test]
    fn values_round_trip_through_sqlite() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.batch("CREATE TABLE t (i INTEGER, s TEXT, n TEXT)")
            .unwrap();
        let none: Option<&str> = None;
        assert_eq!(
            conn.exec(
                "INSERT INTO t (i, s, n) VALUES (?1, ?2, ?3)",
                args![7_i64, "x", none]
            )
            .unwrap(),
            1
        );
        let row = conn
            .row("SELECT i, s, n FROM t WHERE i = ?1", args![7_i64])
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                row.i64(0).unwrap(),
                row.string(1).unwrap(),
                row.opt_string(2).unwrap()
            ),
            (7, "x".to_owned(), None)
        );
        assert!(
            !conn
                .exists("SELECT 1 FROM t WHERE i = ?1", args![8_i64])
                .unwrap()
        );
        assert_eq!(conn.one_i64("SELECT count(*) FROM t", args![]).unwrap(), 1);
    }
}

//! [`Sql`] on PostgreSQL: `tokio-postgres` connections from a `deadpool-postgres` pool,
//! driven by a small runtime of their own so the synchronous storage code (the writer
//! thread, reads on blocking threads) can wait on them.
//!
//! Placeholders are rewritten from `?N` to `$N`, statements are prepared once per connection
//! (deadpool's statement cache), and values are bound by the column type PostgreSQL
//! inferred (an integer into `BIGINT`, `INTEGER`, `SMALLINT` or `BOOLEAN`). A write
//! transaction first takes a transaction-scoped advisory lock, so the writers of every
//! process on one database take turns as SQLite's `BEGIN IMMEDIATE` makes them: that is
//! what keeps the event log's sequence gap-free (each number is `max + 1` inside the writing
//! transaction, never a sequence that skips on rollback).

use std::cell::{Cell, RefCell};
use std::error::Error;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::BytesMut;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::StorageError;
use crate::sql::{Sql, SqlRow, SqlValue, numbered_placeholders};

/// Most pooled connections (reads and token writes; the writer holds one more).
const MAX_CONNECTIONS: usize = 16;

/// The advisory lock every write transaction takes first (any constant would do; this one
/// spells "wharf").
const WRITE_LOCK: i64 = 0x0077_6861_7266;

impl ToSql for SqlValue {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Self::Null => Ok(IsNull::Yes),
            Self::Integer(value) => match *ty {
                Type::INT8 => value.to_sql(ty, out),
                Type::INT4 => i32::try_from(*value)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*value)?.to_sql(ty, out),
                Type::BOOL => (*value != 0).to_sql(ty, out),
                _ => Err(format!("the integer {value} cannot be bound to a {ty} parameter").into()),
            },
            Self::Text(value) => value.as_str().to_sql(ty, out),
            Self::Blob(value) => value.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Column `index` of a PostgreSQL row as a [`SqlValue`].
fn column(row: &tokio_postgres::Row, index: usize) -> Result<SqlValue, tokio_postgres::Error> {
    let ty = row.columns()[index].type_().clone();
    Ok(match ty {
        Type::INT8 => row
            .try_get::<_, Option<i64>>(index)?
            .map_or(SqlValue::Null, SqlValue::Integer),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(index)?
            .map_or(SqlValue::Null, |v| SqlValue::Integer(v.into())),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(index)?
            .map_or(SqlValue::Null, |v| SqlValue::Integer(v.into())),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(index)?
            .map_or(SqlValue::Null, |v| SqlValue::Integer(v.into())),
        Type::BYTEA => row
            .try_get::<_, Option<Vec<u8>>>(index)?
            .map_or(SqlValue::Null, SqlValue::Blob),
        _ => row
            .try_get::<_, Option<String>>(index)?
            .map_or(SqlValue::Null, SqlValue::Text),
    })
}

/// The runtime the pool's connections run on, shut down without waiting when dropped (so a
/// store may be dropped inside an async task).
#[derive(Debug)]
struct PgRuntime(Option<tokio::runtime::Runtime>);

impl PgRuntime {
    /// Waits for `future` on the calling (blocking) thread, with the runtime entered so new
    /// connections register with its reactor.
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        let runtime = self.0.as_ref().expect("the runtime lives until dropped");
        let _entered = runtime.enter();
        futures::executor::block_on(future)
    }
}

impl Drop for PgRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// A PostgreSQL database: its pool and the runtime driving it. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct PgDatabase {
    pool: Pool,
    runtime: Arc<PgRuntime>,
    /// The connection settings, for connections outside the pool (the log listener).
    config: Arc<tokio_postgres::Config>,
    /// Round trips to the server so far, through every connection of the pool.
    round_trips: Arc<AtomicU64>,
}

impl PgDatabase {
    /// Connects to `url` (`postgres://USER@HOST:PORT/DATABASE`) and checks that the server
    /// answers.
    pub(crate) fn connect(url: &str) -> Result<Self, StorageError> {
        let config = tokio_postgres::Config::from_str(url).map_err(|error| {
            StorageError::InvalidDatabaseUrl {
                url: redact(url),
                reason: error.to_string(),
            }
        })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("wharf-postgres")
            .enable_all()
            .build()?;
        let manager = Manager::from_config(
            config.clone(),
            tokio_postgres::NoTls,
            // A pooled connection is checked with a round trip before it is handed out, so a
            // connection the server closed meanwhile (a restart, `pg_terminate_backend`) is
            // replaced rather than failing the read that took it.
            ManagerConfig {
                recycling_method: RecyclingMethod::Verified,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(MAX_CONNECTIONS)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|error| StorageError::InvalidDatabaseUrl {
                url: redact(url),
                reason: error.to_string(),
            })?;
        let database = Self {
            pool,
            runtime: Arc::new(PgRuntime(Some(runtime))),
            config: Arc::new(config),
            round_trips: Arc::new(AtomicU64::new(0)),
        };
        database
            .connection()
            .map_err(|error| StorageError::DatabaseUnreachable {
                url: redact(url),
                reason: error.to_string(),
            })?;
        Ok(database)
    }

    /// Round trips to the server so far through the pool's connections: one per statement
    /// or batch of statements sent, per statement prepared (the first use of a statement on
    /// a connection; then it is cached) and per connection taken from the pool (it is
    /// checked with a round trip). What a publish costs is the difference across it.
    pub(crate) fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    fn count_round_trips(&self, count: u64) {
        self.round_trips.fetch_add(count, Ordering::Relaxed);
    }

    /// A pooled connection.
    pub(crate) fn connection(&self) -> Result<PgConn, StorageError> {
        self.count_round_trips(1);
        let client =
            self.runtime
                .block_on(self.pool.get())
                .map_err(|error| StorageError::Postgres {
                    reason: format!("no connection from the pool: {}", with_causes(&error)),
                })?;
        Ok(PgConn {
            client: RefCell::new(client),
            database: self.clone(),
            writing: Cell::new(false),
        })
    }
}

/// What a listening connection reports to its handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListenEvent {
    /// `LISTEN` took effect: every notification sent from now on arrives.
    Listening,
    /// A notification arrived on the channel.
    Notified,
    /// The connection ended or could not be made: notifications may be missed until the
    /// next [`ListenEvent::Listening`].
    Lost,
}

/// Called with each [`ListenEvent`] of a listening connection, on the database's runtime
/// (so it must not block).
pub(crate) type ListenHandler = Arc<dyn Fn(ListenEvent) + Send + Sync>;

impl PgDatabase {
    /// Listens on `channel` on a connection of its own, on the backend's runtime, telling
    /// `on_event` when `LISTEN` took effect, of every notification, and when the connection
    /// is lost (so a follower catches up on what it may have missed, and a cache stops
    /// trusting itself); a dropped connection is replaced a second later. Ends with the
    /// database's runtime.
    pub(crate) fn spawn_listener(&self, channel: &'static str, on_event: ListenHandler) {
        let config = Arc::clone(&self.config);
        let runtime = self
            .runtime
            .0
            .as_ref()
            .expect("the runtime lives until dropped");
        drop(runtime.spawn(async move {
            // Warned once per outage, not once per attempt.
            let mut warned = false;
            loop {
                let mut listened = false;
                let ended = listen(&config, channel, &on_event, &mut listened).await;
                if listened {
                    warned = false;
                }
                match ended {
                    Err(error) if !warned => {
                        warned = true;
                        tracing::warn!(%error, channel, "listening for PostgreSQL notifications failed; connecting again every second (meanwhile the log is polled and every token looked up)");
                    }
                    Err(error) => tracing::debug!(%error, channel, "still not listening"),
                    Ok(()) => tracing::debug!(channel, "the listening connection ended"),
                }
                on_event(ListenEvent::Lost);
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }));
    }
}

impl PgDatabase {
    /// Runs `task` on the database's runtime; it ends with the runtime at the latest.
    pub(crate) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let runtime = self
            .runtime
            .0
            .as_ref()
            .expect("the runtime lives until dropped");
        drop(runtime.spawn(task));
    }
}

/// One listening connection: `LISTEN channel` (then `listened` is set and `on_event` told),
/// then every notification is passed to `on_event`, until the connection ends.
async fn listen(
    config: &tokio_postgres::Config,
    channel: &str,
    on_event: &ListenHandler,
    listened: &mut bool,
) -> Result<(), tokio_postgres::Error> {
    use futures::StreamExt;
    let (client, mut connection) = config.connect(tokio_postgres::NoTls).await?;
    let notified = Arc::clone(on_event);
    let driver = tokio::spawn(async move {
        let mut messages = std::pin::pin!(futures::stream::poll_fn(
            move |cx| connection.poll_message(cx)
        ));
        while let Some(message) = messages.next().await {
            if let tokio_postgres::AsyncMessage::Notification(_) = message? {
                notified(ListenEvent::Notified);
            }
        }
        Ok::<(), tokio_postgres::Error>(())
    });
    client.batch_execute(&format!("LISTEN {channel}")).await?;
    *listened = true;
    tracing::debug!(channel, "listening for PostgreSQL notifications");
    on_event(ListenEvent::Listening);
    let ended = driver.await;
    drop(client);
    match ended {
        Ok(result) => result,
        Err(join) => {
            tracing::warn!(%join, "the PostgreSQL listener's task ended");
            Ok(())
        }
    }
}

/// An error and its causes on one line (`db error: FATAL: database "x" does not exist`):
/// the driver's own text of a server error is only `db error`.
fn with_causes(error: &dyn Error) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        let text = next.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = next.source();
    }
    line
}

/// A database URL without its password, for messages and logs
/// (`postgres://wharf:***@db:5432/wharf`, and `password=***` in its query); other URLs are
/// returned as they are.
pub fn redact(url: &str) -> String {
    let (url, query) = match url.split_once('?') {
        Some((url, query)) => (url, Some(query)),
        None => (url, None),
    };
    let mut redacted = redact_credentials(url);
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((name, _)) if name.eq_ignore_ascii_case("password") => format!("{name}=***"),
                _ => param.to_owned(),
            })
            .collect();
        redacted.push('?');
        redacted.push_str(&params.join("&"));
    }
    redacted
}

fn redact_credentials(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _password)) => {
                    format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
                }
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// One pooled PostgreSQL connection.
pub(crate) struct PgConn {
    /// The connection; replaced by a new one when the server closed it (see
    /// [`PgConn::begin_write`]).
    client: RefCell<Object>,
    /// Where it came from (and its runtime).
    database: PgDatabase,
    /// Whether [`PgConn::begin_write`] opened a transaction not yet committed or rolled back.
    writing: Cell<bool>,
}

impl std::fmt::Debug for PgConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgConn")
    }
}

impl PgConn {
    fn statement(&self, sql: &str) -> Result<tokio_postgres::Statement, StorageError> {
        let sql = numbered_placeholders(sql);
        let client = self.client.borrow();
        let cached = client.statement_cache.size();
        let statement = self.block_on(client.prepare_cached(&sql))?;
        if client.statement_cache.size() != cached {
            self.database.count_round_trips(1);
        }
        Ok(statement)
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.database.runtime.block_on(future)
    }

    /// Starts a write transaction: `BEGIN`, then the writers' advisory lock. When that fails
    /// (the server closed the connection: a restart, an administrator's
    /// `pg_terminate_backend`), the connection is replaced by a new one from the pool and
    /// the `BEGIN` tried once more, so a long-lived writer outlives its first connection;
    /// nothing of the group has run yet at that point.
    pub(crate) fn begin_write(&self) -> Result<(), StorageError> {
        self.begin_write_then("")
    }

    /// [`PgConn::begin_write`], then the statements `then` in the same round trip.
    pub(crate) fn begin_write_then(&self, then: &str) -> Result<(), StorageError> {
        let begin = joined(
            &format!("BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"),
            then,
        );
        if let Err(error) = self.batch(&begin) {
            // The connection's task may not have seen the socket close yet when the error
            // arrives, so any failure of this first statement gets one fresh connection.
            tracing::warn!(%error, "starting a PostgreSQL write failed; connecting again");
            let fresh = self.database.connection()?;
            drop(self.client.replace(fresh.client.into_inner()));
            self.batch(&begin)?;
        }
        self.writing.set(true);
        Ok(())
    }

    /// Ends the write transaction: `COMMIT`, or `ROLLBACK` when `commit` is false.
    pub(crate) fn end_write(&self, commit: bool) -> Result<(), StorageError> {
        self.end_write_after("", commit)
    }

    /// [`PgConn::end_write`] after the statements `first`, in the same round trip.
    pub(crate) fn end_write_after(&self, first: &str, commit: bool) -> Result<(), StorageError> {
        self.writing.set(false);
        self.batch(&joined(first, if commit { "COMMIT" } else { "ROLLBACK" }))
    }
}

/// Two runs of statements as one, either of which may be empty.
fn joined(first: &str, then: &str) -> String {
    match (first.is_empty(), then.is_empty()) {
        (true, _) => then.to_owned(),
        (_, true) => first.to_owned(),
        _ => format!("{first}; {then}"),
    }
}

/// Rows as [`SqlRow`]s.
fn sql_rows(rows: &[tokio_postgres::Row]) -> Result<Vec<SqlRow>, StorageError> {
    rows.iter()
        .map(|row| {
            (0..row.len())
                .map(|index| column(row, index))
                .collect::<Result<Vec<_>, _>>()
                .map(SqlRow)
                .map_err(StorageError::from)
        })
        .collect()
}

fn bound(args: &[SqlValue]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter().map(|arg| arg as &(dyn ToSql + Sync)).collect()
}

impl Sql for PgConn {
    fn exec(&self, sql: &str, args: &[SqlValue]) -> Result<u64, StorageError> {
        let statement = self.statement(sql)?;
        let client = self.client.borrow();
        self.database.count_round_trips(1);
        Ok(self.block_on(client.execute(&statement, &bound(args)))?)
    }

    fn rows(&self, sql: &str, args: &[SqlValue]) -> Result<Vec<SqlRow>, StorageError> {
        let statement = self.statement(sql)?;
        let client = self.client.borrow();
        self.database.count_round_trips(1);
        let rows = self.block_on(client.query(&statement, &bound(args)))?;
        sql_rows(&rows)
    }

    fn pipeline(
        &self,
        statements: &[(&str, Vec<SqlValue>)],
    ) -> Result<Vec<Vec<SqlRow>>, StorageError> {
        let prepared = statements
            .iter()
            .map(|(sql, _)| self.statement(sql))
            .collect::<Result<Vec<_>, _>>()?;
        let arguments: Vec<_> = statements.iter().map(|(_, args)| bound(args)).collect();
        let client = self.client.borrow();
        // Every query is sent before any answer is awaited (tokio-postgres pipelines the
        // requests of futures polled together), so the server runs them in order and the
        // answers come back in one round trip.
        let queries = prepared
            .iter()
            .zip(&arguments)
            .map(|(statement, args)| client.query(statement, args));
        self.database.count_round_trips(1);
        let answers = self.block_on(futures::future::try_join_all(queries))?;
        answers.iter().map(|rows| sql_rows(rows)).collect()
    }

    fn batch(&self, sql: &str) -> Result<(), StorageError> {
        let client = self.client.borrow();
        self.database.count_round_trips(1);
        Ok(self.block_on(client.batch_execute(sql))?)
    }

    fn sqlite(&self) -> Option<&rusqlite::Connection> {
        None
    }

    fn consistent_read(
        &self,
        work: &mut dyn FnMut() -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        if self.writing.get() {
            return work();
        }
        self.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
        let read = work();
        let ended = self.batch(if read.is_ok() { "COMMIT" } else { "ROLLBACK" });
        read.and(ended)
    }
}

/// Whether PostgreSQL refused a write because its disk is full (SQLSTATE class 53100).
pub(crate) fn postgres_error_is_full(error: &tokio_postgres::Error) -> bool {
    error.code() == Some(&tokio_postgres::error::SqlState::DISK_FULL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_left_out_of_messages() {
        assert_eq!(
            redact("postgres://wharf:secret@db:5432/wharf"),
            "postgres://wharf:***@db:5432/wharf"
        );
        assert_eq!(
            redact("postgres://wharf@db/wharf"),
            "postgres://wharf@db/wharf"
        );
        assert_eq!(
            redact("postgres://wharf@db/wharf?sslmode=disable&password=secret"),
            "postgres://wharf@db/wharf?sslmode=disable&password=***"
        );
    }
}

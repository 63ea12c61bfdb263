//! The single writer thread and its group commit.
//!
//! Every write to the metadata database goes through one thread that owns the write
//! connection. It takes the first queued job, drains whatever else is queued (up to
//! [`MAX_BATCH`]), runs each job inside its own savepoint of one `BEGIN IMMEDIATE`
//! transaction, commits once (one WAL fsync for the whole batch), and only then answers
//! every caller. A job that fails is rolled back to its savepoint without disturbing the
//! others; if the commit fails, every job of the batch is told so (as
//! [`StorageError::StorageFull`] when the disk is full, so callers can say so).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::StorageError;
use crate::sql::Sql;

/// Most jobs committed in one transaction.
const MAX_BATCH: usize = 512;

/// How long the queue stays empty after a commit before the writer starts its idle work,
/// so a client publishing one release after another is not slowed by it.
const IDLE_QUIET: Duration = Duration::from_millis(50);

/// A connection the writer thread can own: SQLite's, or a pooled PostgreSQL one.
pub(crate) trait WriteConn: Sql + Send + 'static {
    /// Starts the group's write transaction, waiting for other writers (SQLite's
    /// `BEGIN IMMEDIATE`; on PostgreSQL `BEGIN` and the writers' advisory lock), then runs
    /// the statements `then` in the same round trip.
    fn begin_write(&self, then: &str) -> Result<(), StorageError>;
    /// Rolls back a transaction left open by a failure, if there is one.
    fn rollback_if_open(&self);
    /// Runs the statements `first`, then commits the group's transaction, in one round trip.
    fn commit_after(&self, first: &str) -> Result<(), StorageError> {
        self.batch(&format!("{first}; COMMIT"))
    }
}

impl WriteConn for Connection {
    fn begin_write(&self, then: &str) -> Result<(), StorageError> {
        Ok(self.execute_batch(&format!("BEGIN IMMEDIATE; {then}"))?)
    }

    fn rollback_if_open(&self) {
        if !self.is_autocommit() {
            // Keep the original error; a failed rollback leaves nothing more to do.
            let _ignored = self.execute_batch("ROLLBACK");
        }
    }
}

impl WriteConn for crate::pg::PgConn {
    fn begin_write(&self, then: &str) -> Result<(), StorageError> {
        self.begin_write_then(then)
    }

    fn rollback_if_open(&self) {
        // Outside a transaction PostgreSQL only warns.
        let _ignored = self.end_write(false);
    }

    fn commit_after(&self, first: &str) -> Result<(), StorageError> {
        self.end_write_after(first, true)
    }
}

/// Work added to every group commit, after its jobs and in a savepoint of its own (the
/// audit log's queued records), and told whether the group committed.
pub(crate) trait GroupHook<C = Connection>: Send + Sync {
    /// Whether the hook has nothing to add to this group: its savepoint is then skipped (one
    /// round trip per group on PostgreSQL).
    fn is_idle(&self) -> bool {
        false
    }
    /// Runs inside the group's transaction; a failure is rolled back alone.
    fn before_commit(&self, conn: &C) -> Result<(), StorageError>;
    /// Runs after the group's commit (or its failure).
    fn after_commit(&self, committed: bool);
}

/// Upkeep the writer thread runs in bounded steps while no job is queued, after a group
/// commit, once the queue has stayed empty for [`IDLE_QUIET`] (SQLite's full-text index
/// compaction, `catalogue_compaction.rs`). A job queued meanwhile waits for the step
/// running, never for the rest.
pub(crate) trait IdleWork<C = Connection>: Send {
    /// Runs one bounded step on the writer's connection (outside any transaction; the step
    /// makes its own); returns whether more steps are due.
    fn step(&mut self, conn: &C) -> Result<bool, StorageError>;
}

/// A unit of work for the writer thread.
trait Job<C>: Send {
    /// Runs the work on the connection (inside a savepoint) and keeps its result.
    fn apply(&mut self, conn: &C);
    /// Whether `apply` succeeded, so its savepoint is released rather than rolled back.
    fn succeeded(&self) -> bool;
    /// Whether `apply` failed because the storage is full.
    fn found_storage_full(&self) -> bool;
    /// Answers the caller once the batch is committed (`Ok`) or has failed (`Err`).
    fn finish(self: Box<Self>, commit: Result<(), CommitFailure>);
}

/// Why a group commit failed, told to every job of the batch.
#[derive(Debug, Clone)]
enum CommitFailure {
    /// The disk or quota is full: nothing of the batch was stored.
    StorageFull(String),
    /// Anything else SQLite reported.
    Other(String),
}

impl CommitFailure {
    fn into_error(self) -> StorageError {
        match self {
            Self::StorageFull(cause) => StorageError::StorageFull { cause },
            Self::Other(reason) => StorageError::CommitFailed { reason },
        }
    }
}

/// A job built from a closure, answering through a oneshot channel (or nobody).
struct ClosureJob<F, T> {
    work: Option<F>,
    result: Option<Result<T, StorageError>>,
    reply: Option<oneshot::Sender<Result<T, StorageError>>>,
}

impl<C, F, T> Job<C> for ClosureJob<F, T>
where
    F: FnOnce(&C) -> Result<T, StorageError> + Send,
    T: Send,
{
    fn apply(&mut self, conn: &C) {
        let Some(work) = self.work.take() else {
            return;
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| work(conn))).unwrap_or_else(|_| {
            Err(StorageError::CommitFailed {
                reason: "a write job panicked".to_owned(),
            })
        });
        if let Err(error) = &outcome {
            tracing::debug!(%error, "write job refused");
        }
        self.result = Some(outcome);
    }

    fn succeeded(&self) -> bool {
        matches!(self.result, Some(Ok(_)))
    }

    fn found_storage_full(&self) -> bool {
        matches!(self.result, Some(Err(StorageError::StorageFull { .. })))
    }

    fn finish(self: Box<Self>, commit: Result<(), CommitFailure>) {
        let answer = match (commit, self.result) {
            (_, Some(Err(refused))) => Err(refused),
            (Ok(()), Some(Ok(value))) => Ok(value),
            (Err(failure), _) => Err(failure.into_error()),
            (Ok(()), None) => Err(StorageError::CommitFailed {
                reason: "the write job never ran".to_owned(),
            }),
        };
        if let Some(reply) = self.reply {
            // The caller may have gone away (a cancelled request); the write stands regardless.
            let _ignored = reply.send(answer);
        } else if let Err(error) = answer {
            tracing::warn!(%error, "background write failed");
        }
    }
}

/// Handle to the writer thread. Dropping it lets the thread finish queued jobs and exit.
pub(crate) struct Writer<C = Connection> {
    sender: Option<mpsc::Sender<Box<dyn Job<C>>>>,
    thread: Option<JoinHandle<()>>,
}

impl<C> std::fmt::Debug for Writer<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("running", &self.sender.is_some())
            .finish_non_exhaustive()
    }
}

impl<C: WriteConn> Writer<C> {
    /// Starts the thread, which owns `conn` from now on.
    #[cfg(test)]
    pub(crate) fn start(conn: C) -> Result<Self, StorageError> {
        Self::start_with_hook(conn, None)
    }

    /// Starts the thread with `hook` run in every group commit.
    pub(crate) fn start_with_hook(
        conn: C,
        hook: Option<std::sync::Arc<dyn GroupHook<C>>>,
    ) -> Result<Self, StorageError> {
        Self::start_with_idle_work(conn, hook, None)
    }

    /// Starts the thread with `hook` run in every group commit and `idle` run while no
    /// job is queued after a commit.
    pub(crate) fn start_with_idle_work(
        conn: C,
        hook: Option<std::sync::Arc<dyn GroupHook<C>>>,
        idle: Option<Box<dyn IdleWork<C>>>,
    ) -> Result<Self, StorageError> {
        let (sender, receiver) = mpsc::channel::<Box<dyn Job<C>>>();
        let thread = std::thread::Builder::new()
            .name("wharf-storage-writer".to_owned())
            .spawn(move || writer_loop(&conn, &receiver, hook.as_deref(), idle))?;
        Ok(Self {
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    /// Runs `work` in the next group commit and returns its result once it is durable.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        F: FnOnce(&C) -> Result<T, StorageError> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.enqueue(Box::new(ClosureJob {
            work: Some(work),
            result: None,
            reply: Some(reply),
        }))?;
        answer.await.map_err(|_| StorageError::WriterStopped)?
    }

    /// Queues `work` without waiting for it; failures are logged.
    pub(crate) fn run_detached<F>(&self, work: F)
    where
        F: FnOnce(&C) -> Result<(), StorageError> + Send + 'static,
    {
        let job: ClosureJob<F, ()> = ClosureJob {
            work: Some(work),
            result: None,
            reply: None,
        };
        if self.enqueue(Box::new(job)).is_err() {
            tracing::warn!("background write dropped: the storage writer has stopped");
        }
    }

    fn enqueue(&self, job: Box<dyn Job<C>>) -> Result<(), StorageError> {
        self.sender
            .as_ref()
            .ok_or(StorageError::WriterStopped)?
            .send(job)
            .map_err(|_| StorageError::WriterStopped)
    }
}

impl<C> Drop for Writer<C> {
    fn drop(&mut self) {
        drop(self.sender.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the storage writer thread panicked");
        }
    }
}

/// The next queued job, running steps of `idle` while none is queued and `idle_due` says
/// steps are due, the first once no job has come for [`IDLE_QUIET`]; `None` once every
/// sender is gone.
fn next_job<C>(
    conn: &C,
    receiver: &mpsc::Receiver<Box<dyn Job<C>>>,
    idle: Option<&mut Box<dyn IdleWork<C>>>,
    idle_due: &mut bool,
) -> Option<Box<dyn Job<C>>> {
    if let Some(idle) = idle {
        let mut wait = IDLE_QUIET;
        while *idle_due {
            match receiver.recv_timeout(wait) {
                Ok(job) => return Some(job),
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    wait = Duration::ZERO;
                    *idle_due = idle.step(conn).unwrap_or_else(|error| {
                        tracing::warn!(%error, "the writer's idle work failed; it runs again after the next commit");
                        false
                    });
                }
            }
        }
    }
    receiver.recv().ok()
}

fn writer_loop<C: WriteConn>(
    conn: &C,
    receiver: &mpsc::Receiver<Box<dyn Job<C>>>,
    hook: Option<&dyn GroupHook<C>>,
    mut idle: Option<Box<dyn IdleWork<C>>>,
) {
    let mut idle_due = false;
    while let Some(first) = next_job(conn, receiver, idle.as_mut(), &mut idle_due) {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let size = batch.len();
        let committed = commit_batch(conn, &mut batch, hook);
        if let Some(hook) = hook {
            hook.after_commit(committed.is_ok());
        }
        idle_due = committed.is_ok();
        let commit = committed.map_err(|error| {
            tracing::error!(%error, jobs = size, "group commit failed");
            // SQLite may roll the whole transaction back when a job hits a full disk, and
            // then the next savepoint statement fails for another reason: still a full disk.
            if matches!(error, StorageError::StorageFull { .. })
                || batch.iter().any(|job| job.found_storage_full())
            {
                CommitFailure::StorageFull(format!("database: {error}"))
            } else {
                CommitFailure::Other(error.to_string())
            }
        });
        tracing::trace!(jobs = size, "group commit done");
        for job in batch {
            job.finish(commit.clone());
        }
    }
}

/// The statements that close the savepoint `name` of work that succeeded or failed.
fn close_savepoint(name: &str, succeeded: bool) -> String {
    if succeeded {
        format!("RELEASE {name}")
    } else {
        format!("ROLLBACK TO {name}; RELEASE {name}")
    }
}

/// Runs the batch in one transaction. Every savepoint statement travels with the statement
/// before it (the `BEGIN`, the previous savepoint's release, the hook's), and the last
/// release with the `COMMIT`: on PostgreSQL a group of n jobs costs n + 1 round trips of
/// transaction control rather than 2n + 2.
fn commit_batch<C: WriteConn>(
    conn: &C,
    batch: &mut [Box<dyn Job<C>>],
    hook: Option<&dyn GroupHook<C>>,
) -> Result<(), StorageError> {
    conn.begin_write("SAVEPOINT job")?;
    let last = batch.len().saturating_sub(1);
    let applied = batch.iter_mut().enumerate().try_fold(
        String::new(),
        |_, (index, job)| -> Result<String, StorageError> {
            job.apply(conn);
            let close = close_savepoint("job", job.succeeded());
            if index == last {
                return Ok(close);
            }
            conn.batch(&format!("{close}; SAVEPOINT job"))?;
            Ok(String::new())
        },
    );
    let applied = applied.and_then(|close| match hook {
        Some(hook) if !hook.is_idle() => {
            conn.batch(&format!("{close}; SAVEPOINT hook"))?;
            let hooked = hook.before_commit(conn);
            if let Err(error) = &hooked {
                tracing::error!(%error, "the group commit's hook failed; its writes are dropped");
            }
            Ok(close_savepoint("hook", hooked.is_ok()))
        }
        _ => Ok(close),
    });
    let committed = applied.and_then(|close| conn.commit_after(&close));
    if committed.is_err() {
        conn.rollback_if_open();
    }
    committed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer_with_table() -> (tempfile::TempDir, Writer) {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::db::open_connection(&dir.path().join("w.db")).unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER NOT NULL UNIQUE)")
            .unwrap();
        (dir, Writer::start(conn).unwrap())
    }

    #[tokio::test]
    async fn a_refused_job_does_not_spoil_its_batch() {
        let (dir, writer) = writer_with_table();
        let writer = std::sync::Arc::new(writer);
        let mut tasks = Vec::new();
        for value in [1, 2, 1, 3] {
            let writer = std::sync::Arc::clone(&writer);
            tasks.push(tokio::spawn(async move {
                writer
                    .run(move |conn| Ok(conn.execute("INSERT INTO t (v) VALUES (?1)", [value])?))
                    .await
            }));
        }
        let mut failures = 0;
        for task in tasks {
            if task.await.unwrap().is_err() {
                failures += 1;
            }
        }
        assert_eq!(failures, 1, "only the duplicate insert fails");
        let check = crate::db::open_connection(&dir.path().join("w.db")).unwrap();
        let rows: i64 = check
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 3);
    }

    #[tokio::test]
    async fn a_panicking_job_is_reported_and_the_writer_survives() {
        let (_dir, writer) = writer_with_table();
        let outcome: Result<(), _> = writer.run(|_| panic!("boom")).await;
        assert!(matches!(outcome, Err(StorageError::CommitFailed { .. })));
        let inserted = writer
            .run(|conn| Ok(conn.execute("INSERT INTO t (v) VALUES (7)", [])?))
            .await
            .unwrap();
        assert_eq!(inserted, 1);
    }
}

//! Serving a registry that other nodes write to as well (metadata on PostgreSQL): the node
//! follows the event log and installs the index files the other nodes' writes changed.
//!
//! [`warm_and_follow`] reads the log's head, warms the cache (so every file reflects at least
//! that head) and, on PostgreSQL, starts a task that wakes on each `wharf_log` notification
//! (sent when a transaction appending to the log commits) or after [`POLL_INTERVAL`] at the
//! latest, reads the head, and when it moved brings the node's index files and cache up to
//! it ([`wharf_storage::Storage::follow_log`]). The same read tells readiness: while the
//! database cannot be reached or the node cannot catch up, `/ready` answers 503, and 200
//! again once it has caught up.
//!
//! [`FollowerLag`] tells `/metrics` how far behind the node is: the log entries between what
//! it serves and the head it last read (`wharf_follower_lag_entries`), and the seconds since
//! it last found itself at the head (`wharf_follower_lag_seconds`: under a second or so
//! while it follows, the poll interval; growing while the database cannot be reached or
//! catching up fails). A node on SQLite is the only writer of its log: both stay 0.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::server::warm_cache;
use crate::state::AppState;

/// The longest a node waits before it looks at the log's head, when no notification came
/// (the listening connection is down, or nothing was written).
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Warms the cache and, when the metadata is on PostgreSQL, starts following the log that
/// every node writes to; returns how many index files were loaded. Call it once per state.
///
/// # Errors
/// When the log's head or the index files cannot be read.
pub async fn warm_and_follow(state: &Arc<AppState>) -> Result<usize, wharf_storage::StorageError> {
    if !state.storage.on_postgres() {
        return warm_cache(state).await;
    }
    let head = state.storage.log_head().await?;
    let wake = state.storage.listen_for_log();
    let files = warm_cache(state).await?;
    state.follower_lag.observed(head, head);
    tracing::info!(head, "following the event log of every node");
    tokio::spawn(follow(Arc::clone(state), head, wake));
    Ok(files)
}

/// Follows the log from position `after` for as long as the runtime runs.
async fn follow(state: Arc<AppState>, mut after: u64, wake: Option<Arc<Notify>>) {
    loop {
        match &wake {
            Some(wake) => {
                tokio::select! {
                    () = wake.notified() => {}
                    () = tokio::time::sleep(POLL_INTERVAL) => {}
                }
            }
            None => tokio::time::sleep(POLL_INTERVAL).await,
        }
        match catch_up(&state, after).await {
            Ok(head) => {
                after = head;
                if !state.ready.swap(true, Ordering::AcqRel) {
                    tracing::info!(head, "caught up with the event log: ready");
                }
            }
            Err(error) => {
                if state.ready.swap(false, Ordering::AcqRel) {
                    tracing::warn!(%error, "cannot follow the event log: not ready until the database answers");
                }
            }
        }
    }
}

/// Installs the index files changed after `after`; returns the log's head.
async fn catch_up(state: &AppState, after: u64) -> Result<u64, wharf_storage::StorageError> {
    let head = state.storage.log_head().await?;
    state.follower_lag.observed(head, after);
    if head <= after {
        return Ok(after);
    }
    let followed = state.storage.follow_log(after).await?;
    for file in &followed.files {
        state.cache.install(file);
    }
    state.follower_lag.observed(followed.head, followed.head);
    tracing::debug!(
        from = after,
        to = followed.head,
        files = followed.files.len(),
        "followed the event log"
    );
    Ok(followed.head)
}

/// How far this node serves behind the event log's head, for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct FollowerLag(Mutex<Lag>);

#[derive(Debug, Default)]
struct Lag {
    /// The log's head as last read from the database.
    head: u64,
    /// The log position the node's index files and cache reflect.
    applied: u64,
    /// When the node last found itself at the head (`None`: never, or not following).
    at_head: Option<Instant>,
}

impl FollowerLag {
    /// Records a read of the log's `head` while the node serves position `applied`.
    pub(crate) fn observed(&self, head: u64, applied: u64) {
        let mut lag = self.lock();
        lag.head = head;
        lag.applied = applied;
        if applied >= head {
            lag.at_head = Some(Instant::now());
        }
    }

    /// Appends `wharf_follower_lag_entries` and `wharf_follower_lag_seconds`.
    pub(crate) fn render(&self, out: &mut String) {
        let (entries, seconds) = {
            let lag = self.lock();
            let seconds = lag.at_head.map_or(0.0, |at| at.elapsed().as_secs_f64());
            (lag.head.saturating_sub(lag.applied), seconds)
        };
        let _ = writeln!(
            out,
            "# HELP wharf_follower_lag_entries Event log entries between the database head last read and what this node serves (0 on SQLite).\n# TYPE wharf_follower_lag_entries gauge\nwharf_follower_lag_entries {entries}\n\
             # HELP wharf_follower_lag_seconds Seconds since this node last found itself at the event log's head (about the poll interval while following; 0 on SQLite).\n# TYPE wharf_follower_lag_seconds gauge\nwharf_follower_lag_seconds {seconds:.3}"
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lag> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::FollowerLag;

    fn rendered(lag: &FollowerLag) -> String {
        let mut out = String::new();
        lag.render(&mut out);
        out
    }

    #[test]
    fn the_lag_counts_the_entries_behind_the_head_read_last() {
        let lag = FollowerLag::default();
        let text = rendered(&lag);
        assert!(text.contains("\nwharf_follower_lag_entries 0\n"), "{text}");
        assert!(
            text.contains("\nwharf_follower_lag_seconds 0.000\n"),
            "{text}"
        );
        lag.observed(12, 9);
        assert!(rendered(&lag).contains("\nwharf_follower_lag_entries 3\n"));
        lag.observed(12, 12);
        assert!(rendered(&lag).contains("\nwharf_follower_lag_entries 0\n"));
    }
}

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

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

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
    if head <= after {
        return Ok(after);
    }
    let followed = state.storage.follow_log(after).await?;
    for file in &followed.files {
        state.cache.install(file);
    }
    tracing::debug!(
        from = after,
        to = followed.head,
        files = followed.files.len(),
        "followed the event log"
    );
    Ok(followed.head)
}

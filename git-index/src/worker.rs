//! The background task that keeps the export behind the event log: it wakes when this
//! process commits an event (and on a timer, for writes of other processes), commits what
//! changed, and pushes to the configured remotes. It never runs on a request's path: a
//! publish is answered before the export sees it, and a failing commit or push only logs
//! and tries again later.

use std::collections::HashMap;
use std::time::Duration;

use wharf_storage::Storage;

use crate::export::GitIndex;
use crate::push::{pack_when_needed, push};

/// How often the worker looks at the log when nothing woke it.
pub const DEFAULT_POLL: Duration = Duration::from_secs(30);
/// The first wait after a failure; it doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// The longest wait between retries.
const MAX_RETRY: Duration = Duration::from_mins(1);

/// What the worker does besides committing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerOptions {
    /// Remote URLs to push every branch to (forced) after each commit.
    pub remotes: Vec<String>,
    /// How often to look at the log without being woken.
    pub poll: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            remotes: Vec::new(),
            poll: DEFAULT_POLL,
        }
    }
}

/// Starts the worker on the current Tokio runtime. It first reconciles the export whole
/// (making the repository on a first start), then follows the log until the runtime ends.
pub fn spawn_worker(
    index: GitIndex,
    storage: Storage,
    options: WorkerOptions,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut log = storage.watch_log();
        let mut reconciled = false;
        // The commit each remote last accepted.
        let mut pushed: HashMap<String, String> = HashMap::new();
        let mut retry = FIRST_RETRY;
        loop {
            let mut failed = false;
            let synced = if reconciled {
                index.advance(&storage).await.map(|made| made.is_some())
            } else {
                index.reconcile(&storage).await.map(|report| {
                    tracing::info!(
                        seq = report.seq,
                        rebuilt = report.rebuilt.is_some(),
                        "git index reconciled"
                    );
                    true
                })
            };
            match synced {
                Ok(committed) => {
                    reconciled = true;
                    if committed {
                        let repo = index.repo_path();
                        let _ = tokio::task::spawn_blocking(move || pack_when_needed(&repo)).await;
                    }
                }
                Err(error) => {
                    failed = true;
                    tracing::warn!(%error, "git index update failed; it is retried");
                }
            }
            if !options.remotes.is_empty() && !push_all(&index, &options.remotes, &mut pushed).await
            {
                failed = true;
            }
            let wait = if failed {
                let wait = retry;
                retry = (retry * 2).min(MAX_RETRY);
                wait
            } else {
                retry = FIRST_RETRY;
                options.poll
            };
            tokio::select! {
                changed = log.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(wait) => {}
            }
        }
    })
}

/// Pushes `main`'s commit to every remote that has not accepted it yet; `false` when a push
/// failed (it is retried on the next round).
async fn push_all(
    index: &GitIndex,
    remotes: &[String],
    pushed: &mut HashMap<String, String>,
) -> bool {
    let head = match index.head().await {
        Ok(Some((commit, _))) => commit,
        Ok(None) => return true,
        Err(error) => {
            tracing::warn!(%error, "cannot read the git index to push it");
            return false;
        }
    };
    let mut all = true;
    for remote in remotes {
        if pushed.get(remote) == Some(&head) {
            continue;
        }
        let (repo, target) = (index.repo_path(), remote.clone());
        match tokio::task::spawn_blocking(move || push(&repo, &target)).await {
            Ok(Ok(())) => {
                tracing::info!(%remote, commit = %head, "git index pushed");
                pushed.insert(remote.clone(), head.clone());
            }
            Ok(Err(error)) => {
                all = false;
                tracing::warn!(%error, "git index push failed; it is retried");
            }
            Err(error) => {
                all = false;
                tracing::warn!(%error, %remote, "git index push task failed; it is retried");
            }
        }
    }
    all
}

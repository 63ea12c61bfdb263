//! Index-file writes that finish after their change was acknowledged.
//!
//! A publish is durable once its blob is fsynced and its transaction committed; the index
//! file is derived from the database (reconcile rebuilds it), and the server installs the
//! committed snapshot in its cache before answering. So the file write runs behind the
//! answer, and [`Storage::settle`](crate::Storage::settle) waits for the ones in flight
//! (before a shutdown, a verification, or a look at the files on disk).

use std::sync::Arc;

use tokio::sync::watch;

/// Counts the writes in flight.
#[derive(Debug)]
pub(crate) struct PendingWrites {
    count: watch::Sender<usize>,
}

impl PendingWrites {
    pub(crate) fn new() -> Self {
        Self {
            count: watch::channel(0).0,
        }
    }

    /// Counts one more write until the returned guard is dropped (finished, failed or
    /// cancelled alike).
    pub(crate) fn start(self: &Arc<Self>) -> PendingWrite {
        self.count.send_modify(|count| *count += 1);
        PendingWrite(Arc::clone(self))
    }

    /// How many writes are in flight.
    pub(crate) fn len(&self) -> usize {
        *self.count.borrow()
    }

    /// Resolves once no write is in flight.
    pub(crate) async fn settled(&self) {
        let mut count = self.count.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = count.wait_for(|count| *count == 0).await;
    }
}

/// One write in flight; dropping it ends the count.
#[derive(Debug)]
pub struct PendingWrite(Arc<PendingWrites>);

impl Drop for PendingWrite {
    fn drop(&mut self) {
        self.0.count.send_modify(|count| *count -= 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn settles_when_every_guard_is_gone() {
        let pending = Arc::new(PendingWrites::new());
        pending.settled().await;
        let first = pending.start();
        let second = pending.start();
        assert_eq!(pending.len(), 2);
        let waiter = tokio::spawn({
            let pending = Arc::clone(&pending);
            async move { pending.settled().await }
        });
        drop(first);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "one write is still in flight");
        drop(second);
        waiter.await.unwrap();
        assert_eq!(pending.len(), 0);
    }
}

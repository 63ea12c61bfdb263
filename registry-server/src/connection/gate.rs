//! The cap on open connections, shared by every worker.
//!
//! A worker that accepts a connection while `max-connections` are open holds it, unanswered,
//! until another connection closes, and accepts nothing else meanwhile: further connections
//! wait in the kernel's listen backlog, where they cost no file descriptor. Closing them at once
//! instead would turn every legitimate client that arrives during a flood of slow or idle
//! connections into a failed `cargo` run, while the timeouts free a slot within seconds; waiting
//! clients see a slower answer, and the kernel bounds the backlog (a full one drops new SYNs,
//! which the client's TCP stack sends again). The fds in use stay at most the cap plus one per
//! worker.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::counters::ConnectionCounters;

/// The shortest gap between two "limit reached" log lines.
const REPORT_EVERY: Duration = Duration::from_mins(1);

/// Slots for open connections; a connection holds its [`OwnedSemaphorePermit`] until it ends.
#[derive(Debug)]
pub(crate) struct ConnectionGate {
    slots: Arc<Semaphore>,
    max: usize,
    counters: Arc<ConnectionCounters>,
    /// When the last "limit reached" line was logged, and how many waited since.
    report: Mutex<Report>,
}

#[derive(Debug, Default)]
struct Report {
    last: Option<Instant>,
    waited_since: u64,
}

impl ConnectionGate {
    /// A gate with `max` slots (at least one).
    pub(crate) fn new(max: usize, counters: Arc<ConnectionCounters>) -> Self {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        counters.set_max(max);
        Self {
            slots: Arc::new(Semaphore::new(max)),
            max,
            counters,
            report: Mutex::new(Report::default()),
        }
    }

    /// A slot for a connection just accepted: at once when one is free, otherwise after
    /// another connection closes.
    pub(crate) async fn admit(&self) -> OwnedSemaphorePermit {
        if let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() {
            return permit;
        }
        self.counters.waited_for_slot();
        self.report_full();
        Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .expect("the connection semaphore is never closed")
    }

    /// Logs that the cap is reached, at most once per [`REPORT_EVERY`].
    fn report_full(&self) {
        let mut report = self
            .report
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        report.waited_since += 1;
        let now = Instant::now();
        if report
            .last
            .is_some_and(|last| now.duration_since(last) < REPORT_EVERY)
        {
            return;
        }
        tracing::warn!(
            max_connections = self.max,
            waited = report.waited_since,
            "connection limit reached: {} connections are open (max-connections); new connections wait in the listen backlog until one closes; raise max-connections (and the open-file limit) if this is normal load",
            self.max
        );
        report.last = Some(now);
        report.waited_since = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_connection_over_the_cap_waits_for_a_slot() {
        let counters = Arc::new(ConnectionCounters::default());
        let gate = Arc::new(ConnectionGate::new(2, Arc::clone(&counters)));
        let first = gate.admit().await;
        let _second = gate.admit().await;
        let waiting = tokio::spawn({
            let gate = Arc::clone(&gate);
            async move { gate.admit().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(first);
        let _third = waiting.await.expect("the waiting admission completes");
        let mut text = String::new();
        counters.render(&mut text);
        assert!(
            text.contains("wharf_connections_waited_for_slot_total 1\n"),
            "{text}"
        );
        assert!(text.contains("wharf_connections_max 2\n"), "{text}");
    }
}

//! Connection counts for `/metrics`: open connections, the cap, connections closed by each
//! timeout and connections that had to wait for a free slot.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why the server ended a connection (or an upload) on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// The request head did not arrive in time.
    Header,
    /// No request came for the idle timeout.
    Idle,
    /// An upload stalled or went slower than the minimum rate.
    Body,
}

impl Expiry {
    const ALL: [Expiry; 3] = [Expiry::Header, Expiry::Idle, Expiry::Body];

    fn label(self) -> &'static str {
        match self {
            Expiry::Header => "header_timeout",
            Expiry::Idle => "idle_timeout",
            Expiry::Body => "body_timeout",
        }
    }
}

/// Counters shared by every worker; updated once per connection or timeout, never per request.
#[derive(Debug, Default)]
pub(crate) struct ConnectionCounters {
    open: AtomicU64,
    max: AtomicU64,
    expired: [AtomicU64; Expiry::ALL.len()],
    waited_for_slot: AtomicU64,
}

impl ConnectionCounters {
    /// Records the cap in force.
    pub(crate) fn set_max(&self, max: usize) {
        self.max.store(max as u64, Ordering::Relaxed);
    }

    /// A connection was admitted.
    pub(crate) fn opened(&self) {
        self.open.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection was closed, for whatever reason.
    pub(crate) fn closed(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    /// The server ended a connection or upload for `why`.
    pub(crate) fn expired(&self, why: Expiry) {
        self.expired[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A connection arrived while the cap was reached and waited for a slot.
    pub(crate) fn waited_for_slot(&self) {
        self.waited_for_slot.fetch_add(1, Ordering::Relaxed);
    }

    /// Appends the Prometheus text of these counters.
    pub(crate) fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP wharf_connections_open HTTP connections open now.\n# TYPE wharf_connections_open gauge\nwharf_connections_open {}",
            self.open.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP wharf_connections_max Connections allowed open at once (max-connections).\n# TYPE wharf_connections_max gauge\nwharf_connections_max {}",
            self.max.load(Ordering::Relaxed)
        );
        out.push_str(
            "# HELP wharf_connections_timed_out_total Connections closed (header, idle) or uploads answered 408 (body) because a timeout ran out.\n# TYPE wharf_connections_timed_out_total counter\n",
        );
        for why in Expiry::ALL {
            let _ = writeln!(
                out,
                "wharf_connections_timed_out_total{{reason=\"{}\"}} {}",
                why.label(),
                self.expired[why as usize].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP wharf_connections_waited_for_slot_total Connections accepted while max-connections were open; each waited until another closed.\n# TYPE wharf_connections_waited_for_slot_total counter\nwharf_connections_waited_for_slot_total {}",
            self.waited_for_slot.load(Ordering::Relaxed)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_counter() {
        let counters = ConnectionCounters::default();
        counters.set_max(5);
        counters.opened();
        counters.opened();
        counters.closed();
        counters.expired(Expiry::Idle);
        counters.expired(Expiry::Body);
        counters.expired(Expiry::Body);
        counters.waited_for_slot();
        let mut text = String::new();
        counters.render(&mut text);
        assert!(text.contains("wharf_connections_open 1\n"), "{text}");
        assert!(text.contains("wharf_connections_max 5\n"), "{text}");
        assert!(text.contains("wharf_connections_timed_out_total{reason=\"header_timeout\"} 0\n"));
        assert!(text.contains("wharf_connections_timed_out_total{reason=\"idle_timeout\"} 1\n"));
        assert!(text.contains("wharf_connections_timed_out_total{reason=\"body_timeout\"} 2\n"));
        assert!(text.contains("wharf_connections_waited_for_slot_total 1\n"));
    }
}

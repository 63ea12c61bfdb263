//! Bounds on what one connection may hold: how long it may take to send a request head, how
//! long an upload may stall, how long it may sit idle, and how many connections may be open.
//!
//! Without them a client that opens a connection and sends half a request head, or nothing,
//! keeps a file descriptor and a task forever, and a few thousand such clients exhaust the
//! process. Every accepted stream is wrapped in a [`GuardedStream`](guard::GuardedStream) that
//! knows, from the service, whether a request is in flight, and times the gaps between:
//!
//! - **header timeout**: from accept (or, on HTTP/1.1, from the first byte after the previous
//!   request) until the request head is complete;
//! - **idle timeout**: from the end of the last request (or the last byte written) until the
//!   next request head is complete; it is the only clock between requests on HTTP/2, where
//!   clients send frames (pings, window updates) without asking anything;
//! - **body timeout** and **minimum upload rate**: while a handler reads an upload
//!   ([`upload::TimedBody`]), a stall or an average rate below the minimum ends it with 408.
//!
//! While a handler works on a request nothing is timed (a publish waits for its fsync). The
//! guard works on any byte stream, so a TLS layer can wrap it (the handshake then counts against
//! the header timeout). [`gate::ConnectionGate`] caps open connections across all workers.
//! [`counters::ConnectionCounters`] feeds `/metrics`. [`fd_limit`] raises the open-file limit
//! at start, so the default cap of [`DEFAULT_MAX_CONNECTIONS`] fits under it.

pub(crate) mod counters;
pub(crate) mod fd_limit;
pub(crate) mod gate;
pub(crate) mod guard;
pub(crate) mod upload;

use std::time::Duration;

/// The cap on open connections when the open-file limit is unknown or high: room for 10,000
/// keep-alive clients plus health checks, scrapes and publishes.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;
/// Time a client gets to send a complete request head, unless configured.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time an upload may go without sending a byte, unless configured.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_mins(1);
/// Time a connection may wait for its next request, unless configured.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);

/// How long connections may take and how many may be open. `None` turns a timeout off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time from accept (or from the first byte of a later HTTP/1.1 request) until the request
    /// head is complete; the connection is closed when it runs out.
    pub header_timeout: Option<Duration>,
    /// Time an upload may go without a byte arriving before it is answered with 408; also the
    /// window over which [`min_upload_rate`](Self::min_upload_rate) is averaged.
    pub body_timeout: Option<Duration>,
    /// Bytes per second an upload must average over each `body_timeout` window (0: any rate
    /// that keeps moving).
    pub min_upload_rate: u64,
    /// Time a connection with no request in flight is kept open.
    pub idle_timeout: Option<Duration>,
    /// Connections open at once across all workers; more wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout: Some(DEFAULT_HEADER_TIMEOUT),
            body_timeout: Some(DEFAULT_BODY_TIMEOUT),
            min_upload_rate: 0,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            max_connections: default_max_connections(),
        }
    }
}

/// Three quarters of the process's open-file limit (the rest is left for the database, blobs,
/// index files and listening sockets), at most [`DEFAULT_MAX_CONNECTIONS`] and at least 16.
pub fn default_max_connections() -> usize {
    open_file_limit().map_or(DEFAULT_MAX_CONNECTIONS, |limit| {
        let usable = usize::try_from(limit / 4 * 3).unwrap_or(usize::MAX);
        usable.clamp(16, DEFAULT_MAX_CONNECTIONS)
    })
}

/// The soft `RLIMIT_NOFILE` of this process, when there is one.
#[cfg(unix)]
fn open_file_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

#[cfg(not(unix))]
fn open_file_limit() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_stays_under_the_open_file_limit() {
        let max = default_max_connections();
        assert!((16..=DEFAULT_MAX_CONNECTIONS).contains(&max));
        if let Some(limit) = open_file_limit() {
            assert!(u64::try_from(max).unwrap() <= limit.max(16));
        }
    }
}

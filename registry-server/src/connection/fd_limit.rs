//! The open-file limit: every connection costs one descriptor, so a server meant to hold
//! 10,000 keep-alive connections raises its soft `RLIMIT_NOFILE` to the hard limit at start
//! (an unprivileged process may always do so) and says what it got.
//!
//! systemd and most distributions start services with a soft limit of 1024 and a hard limit of
//! 524288 or more: without the raise, the default connection cap would be 768.

/// The open-file limit before and after [`raise_open_file_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFileLimit {
    /// The soft limit the process started with (`None`: unlimited).
    pub before: Option<u64>,
    /// The soft limit now in force (`None`: unlimited).
    pub now: Option<u64>,
    /// The hard limit, the most the soft limit can be raised to (`None`: unlimited).
    pub hard: Option<u64>,
}

impl OpenFileLimit {
    /// Logs the limit in one line, and warns when it leaves fewer descriptors than
    /// `max_connections` plus a reserve for the database, blobs and index files need.
    pub fn log(&self, max_connections: usize) {
        let show =
            |limit: Option<u64>| limit.map_or_else(|| "unlimited".to_owned(), |n| n.to_string());
        let needed = u64::try_from(max_connections)
            .unwrap_or(u64::MAX)
            .saturating_add(RESERVED_DESCRIPTORS);
        if self.now.is_some_and(|now| now < needed) {
            tracing::warn!(
                open_file_limit = show(self.now),
                hard_limit = show(self.hard),
                max_connections,
                "open-file limit {} is below max-connections ({max_connections}) plus {RESERVED_DESCRIPTORS} for files: connections beyond it fail with `too many open files`; raise the hard limit (LimitNOFILE= in the systemd unit, `ulimit -Hn`) or lower max-connections",
                show(self.now)
            );
        } else if self.before == self.now {
            tracing::info!(
                open_file_limit = show(self.now),
                hard_limit = show(self.hard),
                max_connections,
                "open-file limit {} (already the hard limit)",
                show(self.now)
            );
        } else {
            tracing::info!(
                open_file_limit = show(self.now),
                raised_from = show(self.before),
                hard_limit = show(self.hard),
                max_connections,
                "open-file limit raised from {} to {} (the hard limit)",
                show(self.before),
                show(self.now)
            );
        }
    }
}

/// Descriptors kept free for the database, blobs, index files, listeners and logs.
pub const RESERVED_DESCRIPTORS: u64 = 256;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and reports both. A failure leaves the
/// limit as it was (and is logged); nothing else changes.
#[cfg(unix)]
pub fn raise_open_file_limit() -> OpenFileLimit {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let start = getrlimit(Resource::Nofile);
    let before = start.current;
    let hard = start.maximum;
    if before != hard {
        let mut raised = start;
        raised.current = hard;
        if let Err(error) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(%error, "cannot raise the open-file limit to the hard limit; it stays as it was");
        }
    }
    OpenFileLimit {
        before,
        now: getrlimit(Resource::Nofile).current,
        hard,
    }
}

/// Raises nothing where there is no `RLIMIT_NOFILE`.
#[cfg(not(unix))]
pub fn raise_open_file_limit() -> OpenFileLimit {
    OpenFileLimit {
        before: None,
        now: None,
        hard: None,
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_ends_at_the_hard_limit() {
        let limit = raise_open_file_limit();
        assert_eq!(limit.now, limit.hard);
        assert!(limit.now >= limit.before || limit.now.is_none());
        let again = raise_open_file_limit();
        assert_eq!(again.before, limit.now);
    }
}

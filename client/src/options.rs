//! [`ClientOptions`]: how a [`crate::SparseIndex`] talks to its registry.

use std::path::PathBuf;
use std::time::Duration;

/// Settings of a [`crate::SparseIndex`] beyond its URL and token.
///
/// ```
/// use wharf_client::ClientOptions;
///
/// let options = ClientOptions {
///     ca_certs: vec!["registry-ca.pem".into()],
///     ..ClientOptions::default()
/// };
/// assert_eq!(options.prefetch_threads, ClientOptions::DEFAULT_PREFETCH_THREADS);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// PEM files of CA certificates trusted for `https` on top of the platform's roots, as
    /// cargo's `http.cainfo` (e.g. a registry behind a private certificate authority).
    pub ca_certs: Vec<PathBuf>,
    /// How many index files are fetched ahead at once; `0` turns prefetch off, so every file
    /// is fetched only when asked for.
    pub prefetch_threads: usize,
    /// How often a request that failed in a way that may pass (no answer, a body cut short
    /// or stalled, HTTP 429 or 5xx) is
    /// sent again, as cargo's `net.retry`; `0` never retries.
    pub retries: u32,
    /// The wait before the first retry; it doubles for each further one. A `Retry-After` of
    /// the server's (in seconds) is used instead when it gives one; no wait exceeds
    /// [`ClientOptions::MAX_RETRY_DELAY`].
    pub retry_delay: Duration,
    /// Where index files are kept between runs with their `ETag` / `Last-Modified`, so the
    /// next run revalidates them (HTTP 304) instead of downloading them again; one directory
    /// per index URL underneath, holding its files in one pack file (`index.pack`). `None`
    /// (the default) keeps nothing on disk.
    pub cache_dir: Option<PathBuf>,
    /// A request that receives nothing for this long (no answer head, or no further bytes
    /// of its body) is given up and, like any request without an answer, retried: cargo's
    /// `http.timeout` / `http.low-speed-limit`. A slow transfer that keeps moving is never
    /// cut.
    pub stall_timeout: Duration,
    /// Entries of [`ClientOptions::cache_dir`] not used for this long are deleted (checked
    /// at most once a day, when a client opens the directory); `None` keeps them forever.
    pub cache_max_age: Option<Duration>,
}

impl ClientOptions {
    /// How many files are fetched ahead at once by default.
    pub const DEFAULT_PREFETCH_THREADS: usize = 8;
    /// How often a failed request is retried by default (cargo's `net.retry` default).
    pub const DEFAULT_RETRIES: u32 = 3;
    /// How long unused cache entries are kept by default: three months, as cargo keeps
    /// its index cache.
    pub const DEFAULT_CACHE_MAX_AGE: Duration = Duration::from_hours(90 * 24);
    /// How long a request may make no progress by default (cargo's `http.timeout`).
    pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(30);
    /// The wait before the first retry by default.
    pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_millis(500);
    /// The longest wait between two tries, whatever the server asks for.
    pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(10);

    /// The retry settings alone.
    pub(crate) fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            retries: self.retries,
            first_delay: self.retry_delay,
        }
    }
}

/// How a failed request is retried (from [`ClientOptions`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// Retries after the first try.
    pub(crate) retries: u32,
    /// The wait before the first retry; it doubles for each further one.
    first_delay: Duration,
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0 for the first), given the server's
    /// `Retry-After` in seconds if it sent one; never above [`ClientOptions::MAX_RETRY_DELAY`].
    pub(crate) fn delay_before(self, retry: u32, retry_after: Option<u64>) -> Duration {
        let wait = retry_after.map_or_else(
            || self.first_delay.saturating_mul(2u32.saturating_pow(retry)),
            Duration::from_secs,
        );
        wait.min(ClientOptions::MAX_RETRY_DELAY)
    }
}

impl Default for ClientOptions {
    /// The platform's roots only, [`ClientOptions::DEFAULT_PREFETCH_THREADS`] prefetch
    /// workers, [`ClientOptions::DEFAULT_RETRIES`] retries after
    /// [`ClientOptions::DEFAULT_RETRY_DELAY`], [`ClientOptions::DEFAULT_STALL_TIMEOUT`], no
    /// on-disk cache (and, for one set later,
    /// [`ClientOptions::DEFAULT_CACHE_MAX_AGE`]).
    fn default() -> Self {
        Self {
            ca_certs: Vec::new(),
            prefetch_threads: Self::DEFAULT_PREFETCH_THREADS,
            retries: Self::DEFAULT_RETRIES,
            retry_delay: Self::DEFAULT_RETRY_DELAY,
            stall_timeout: Self::DEFAULT_STALL_TIMEOUT,
            cache_dir: None,
            cache_max_age: Some(Self::DEFAULT_CACHE_MAX_AGE),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_follow_retry_after_and_are_capped() {
        let options = ClientOptions::default().retry_policy();
        assert_eq!(options.delay_before(0, None), Duration::from_millis(500));
        assert_eq!(options.delay_before(1, None), Duration::from_secs(1));
        assert_eq!(options.delay_before(2, None), Duration::from_secs(2));
        assert_eq!(options.delay_before(0, Some(3)), Duration::from_secs(3));
        assert_eq!(options.delay_before(0, Some(0)), Duration::ZERO);
        assert_eq!(
            options.delay_before(0, Some(3600)),
            ClientOptions::MAX_RETRY_DELAY
        );
        assert_eq!(
            options.delay_before(40, None),
            ClientOptions::MAX_RETRY_DELAY
        );
    }
}

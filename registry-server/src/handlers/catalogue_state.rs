//! What the catalogue keeps in memory: downloads counted but not yet written, host
//! compatibility answers, and the per-user review write limit.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use wharf_storage::{CountedDownload, Storage};

use super::install_reports::REPORTS_PER_MINUTE;
use crate::error::ApiError;
use crate::rate_limits::{human_wait, retry_after_seconds};

/// How long counted downloads wait before they are written together.
const FLUSH_DELAY: Duration = Duration::from_secs(1);

/// Compatibility answers kept before the cache is emptied.
const MAX_COMPAT_ANSWERS: usize = 100_000;

/// Review writes (rate, edit, reply, report, hide) one user may make per minute.
pub(crate) const REVIEW_WRITES_PER_MINUTE: u32 = 20;

/// A cached answer: the compatible version, or `None` when none is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KnownCompat(pub(crate) Option<String>);

/// One host-compatibility answer: (package, version, host API version).
type CompatKey = (String, String, String);

/// The catalogue's in-memory state, shared by every worker thread.
#[derive(Debug)]
pub(crate) struct CatalogueState {
    /// Downloads served since the last write.
    pending: Arc<Mutex<Vec<CountedDownload>>>,
    /// Answers, each with the log position it was computed at.
    compat: Mutex<HashMap<CompatKey, (u64, Option<String>)>>,
    /// Review writes per login.
    review_limiter: DefaultKeyedRateLimiter<String>,
    /// Install reports per client address.
    report_limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl Default for CatalogueState {
    fn default() -> Self {
        let rate = NonZeroU32::new(REVIEW_WRITES_PER_MINUTE).expect("the rate is not zero");
        Self {
            pending: Arc::new(Mutex::new(Vec::new())),
            compat: Mutex::new(HashMap::new()),
            review_limiter: RateLimiter::keyed(Quota::per_minute(rate)),
            report_limiter: RateLimiter::keyed(Quota::per_minute(
                NonZeroU32::new(REPORTS_PER_MINUTE).expect("the rate is not zero"),
            )),
        }
    }
}

impl CatalogueState {
    /// Counts one served download. Never blocks on storage: the first download after a write
    /// schedules the next write [`FLUSH_DELAY`] later, which takes every download counted
    /// meanwhile. A failed write is logged; downloads are never refused because of it.
    pub(crate) fn count_download(&self, storage: &Storage, download: CountedDownload) {
        let first = {
            let mut pending = self.pending.lock().expect("never poisoned");
            pending.push(download);
            pending.len() == 1
        };
        if first && let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let storage = storage.clone();
            let pending = Arc::clone(&self.pending);
            // Counted as a write behind an answer: a settled storage has written its counts.
            let in_flight = storage.write_behind();
            runtime.spawn(async move {
                let _in_flight = in_flight;
                tokio::time::sleep(FLUSH_DELAY).await;
                let batch = take_pending(&pending);
                write_batch(&storage, batch).await;
            });
        }
    }

    /// Writes the downloads counted so far now (before a read shows counts).
    pub(crate) async fn flush_downloads(&self, storage: &Storage) {
        let batch = take_pending(&self.pending);
        write_batch(storage, batch).await;
    }

    /// The cached compatible version of `name` (latest `version`) with `host` at log position
    /// `seq`, if known.
    pub(crate) fn cached_compat(&self, key: &CompatKey, seq: u64) -> Option<KnownCompat> {
        let cache = self.compat.lock().expect("never poisoned");
        cache
            .get(key)
            .and_then(|(at, compatible)| (*at == seq).then(|| KnownCompat(compatible.clone())))
    }

    /// Keeps a compatibility answer computed at log position `seq`.
    pub(crate) fn remember_compat(&self, key: CompatKey, seq: u64, compatible: Option<String>) {
        let mut cache = self.compat.lock().expect("never poisoned");
        if cache.len() >= MAX_COMPAT_ANSWERS {
            cache.clear();
        }
        cache.insert(key, (seq, compatible));
    }

    /// Takes one review write from `login`'s allowance, or refuses with 429.
    pub(crate) fn take_review_write(&self, login: &str) -> Result<(), ApiError> {
        let Err(not_until) = self.review_limiter.check_key(&login.to_owned()) else {
            return Ok(());
        };
        let wait = retry_after_seconds(
            not_until.wait_time_from(governor::clock::Clock::now(self.review_limiter.clock())),
        );
        Err(ApiError::too_many_requests(
            format!(
                "review rate limit reached for `{login}`: {REVIEW_WRITES_PER_MINUTE} review changes per minute; try again in {}",
                human_wait(wait)
            ),
            wait,
        ))
    }
}

impl CatalogueState {
    /// Takes one install report from `peer`'s allowance, or refuses with 429 (requests
    /// without a peer address, answered in process, share one allowance).
    pub(crate) fn take_install_report(&self, peer: Option<IpAddr>) -> Result<(), ApiError> {
        let key = peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let Err(not_until) = self.report_limiter.check_key(&key) else {
            return Ok(());
        };
        let wait = retry_after_seconds(
            not_until.wait_time_from(governor::clock::Clock::now(self.report_limiter.clock())),
        );
        Err(ApiError::too_many_requests(
            format!(
                "install report rate limit reached for {key}: {REPORTS_PER_MINUTE} reports per \
                 minute; try again in {}",
                human_wait(wait)
            ),
            wait,
        ))
    }
}

/// Takes every download counted so far.
fn take_pending(pending: &Mutex<Vec<CountedDownload>>) -> Vec<CountedDownload> {
    std::mem::take(&mut *pending.lock().expect("never poisoned"))
}

/// Writes a batch, logging (never returning) a failure.
async fn write_batch(storage: &Storage, batch: Vec<CountedDownload>) {
    let count = batch.len();
    if let Err(error) = storage.record_downloads(batch).await {
        tracing::warn!(
            downloads = count,
            "download counts were not written: {error}"
        );
    }
}

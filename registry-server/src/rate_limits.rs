//! Publish rate limits ("too many publishes" → 429): their settings, and the short-term token
//! bucket per user. The daily limits, counted from storage, are in `daily_limits.rs`.
//!
//! The bucket is `governor`'s GCRA, which behaves as a token bucket of `publish-burst` tokens
//! refilled at `publish-rate-per-minute`. It lives in memory, one bucket per login behind one
//! lock shared by every worker thread, and is checked right after authentication: a publish
//! that reaches it takes a token even when it is refused later for another reason (as on
//! crates.io), so a client that keeps sending broken uploads is slowed down too.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, MonotonicClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::error::ApiError;

/// How often one user may publish. Every limit is off (`None`) by default: a private registry
/// or a benchmark may publish thousands of versions a minute from one account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishRateLimits {
    /// Publishes per minute per user, sustained (`publish-rate-per-minute`): the refill rate
    /// of the user's token bucket.
    pub publish_rate_per_minute: Option<NonZeroU32>,
    /// Publishes one user may make at once before the per-minute rate applies
    /// (`publish-burst`): the size of the bucket. Defaults to the per-minute rate; ignored
    /// without it.
    pub publish_burst: Option<NonZeroU32>,
    /// New packages one user may create in any 24 hours (`new-crates-per-day`).
    pub new_crates_per_day: Option<NonZeroU32>,
    /// Versions one user may publish in any 24 hours (`publishes-per-day`), new packages
    /// included.
    pub publishes_per_day: Option<NonZeroU32>,
    /// Versions one package may get in any 24 hours, from all its owners together
    /// (`versions-per-crate-per-day`).
    pub versions_per_crate_per_day: Option<NonZeroU32>,
}

impl PublishRateLimits {
    /// The bucket's quota, when a per-minute rate is set.
    fn quota(&self) -> Option<Quota> {
        let rate = self.publish_rate_per_minute?;
        Some(Quota::per_minute(rate).allow_burst(self.publish_burst.unwrap_or(rate)))
    }
}

/// Seconds to announce in `Retry-After` for a wait: rounded up, at least one.
pub(crate) fn retry_after_seconds(wait: Duration) -> u64 {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    seconds.max(1)
}

/// A wait as a person reads it: "12 seconds", "5 min", "3 h 12 min" (minutes rounded up, so
/// trying again at the time said works).
pub(crate) fn human_wait(seconds: u64) -> String {
    match seconds {
        1 => "1 second".to_owned(),
        0..60 => format!("{seconds} seconds"),
        60..3600 => format!("{} min", seconds.div_ceil(60)),
        _ => {
            let minutes = seconds.div_ceil(60);
            match minutes % 60 {
                0 => format!("{} h", minutes / 60),
                rest => format!("{} h {rest} min", minutes / 60),
            }
        }
    }
}

/// Every this many checks, buckets that have refilled completely are dropped: they are
/// indistinguishable from new ones, so memory stays bounded by the users publishing now.
const PRUNE_EVERY: u64 = 1024;

type Bucket<C> =
    RateLimiter<String, HashMapStateStore<String>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// The per-user token buckets of the short-term publish rate.
#[derive(Debug)]
pub(crate) struct PublishLimiter<C: Clock = MonotonicClock> {
    limits: PublishRateLimits,
    bucket: Option<Bucket<C>>,
    /// Checks since the start, for pruning.
    checks: AtomicU64,
}

impl PublishLimiter {
    /// Buckets on the monotonic clock.
    pub(crate) fn new(limits: PublishRateLimits) -> Self {
        Self::with_clock(limits, MonotonicClock)
    }
}

impl<C: Clock> PublishLimiter<C> {
    /// Buckets on `clock` (tests use a fake one).
    pub(crate) fn with_clock(limits: PublishRateLimits, clock: C) -> Self {
        let bucket = limits
            .quota()
            .map(|quota| RateLimiter::hashmap_with_clock(quota, clock));
        Self {
            limits,
            bucket,
            checks: AtomicU64::new(0),
        }
    }

    /// The limits this limiter applies.
    pub(crate) fn limits(&self) -> &PublishRateLimits {
        &self.limits
    }

    /// Takes a token from `login`'s bucket, or refuses with 429 and the wait until the
    /// next token. A refused attempt takes nothing.
    pub(crate) fn take(&self, login: &str) -> Result<(), ApiError> {
        let (Some(bucket), Some(rate)) = (&self.bucket, self.limits.publish_rate_per_minute) else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            bucket.retain_recent();
        }
        let Err(not_until) = bucket.check_key(&login.to_owned()) else {
            return Ok(());
        };
        let wait = retry_after_seconds(not_until.wait_time_from(bucket.clock().now()));
        let burst = self.limits.publish_burst.unwrap_or(rate);
        let publishes = if rate.get() == 1 {
            "publish"
        } else {
            "publishes"
        };
        Err(ApiError::too_many_requests(
            format!(
                "publish rate limit reached for `{login}`: {rate} {publishes} per minute (burst {burst}); try again in {}",
                human_wait(wait)
            ),
            wait,
        ))
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn limits(rate: u32, burst: Option<u32>) -> PublishRateLimits {
        PublishRateLimits {
            publish_rate_per_minute: NonZeroU32::new(rate),
            publish_burst: burst.and_then(NonZeroU32::new),
            ..PublishRateLimits::default()
        }
    }

    #[test]
    fn refilled_buckets_are_dropped_and_busy_ones_kept() {
        let clock = FakeRelativeClock::default();
        // One token a second, two at once.
        let limiter = PublishLimiter::with_clock(limits(60, Some(2)), clock.clone());
        let bucket = limiter.bucket.as_ref().expect("a rate is set");
        let one_off = PRUNE_EVERY - 3;
        for user in 0..one_off {
            limiter
                .take(&format!("user-{user}"))
                .expect("a fresh bucket has room");
        }
        // Five seconds later every one-off bucket is full again; the busy user empties theirs.
        clock.advance(Duration::from_secs(5));
        limiter.take("busy").expect("room");
        limiter.take("busy").expect("the burst is 2");
        assert_eq!(bucket.len(), usize::try_from(one_off + 1).unwrap());
        // The next check prunes before it looks: the busy bucket stays, and stays empty.
        let (status, _) = refusal(&limiter, "busy");
        assert_eq!(status, 429);
        assert_eq!(bucket.len(), 1, "only the busy user's bucket is kept");
    }

    fn refusal(limiter: &PublishLimiter<FakeRelativeClock>, login: &str) -> (u16, String) {
        let response = limiter
            .take(login)
            .expect_err("the bucket is empty")
            .into_response();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .expect("a 429 says when to retry")
            .to_str()
            .expect("ASCII")
            .to_owned();
        (response.status().as_u16(), retry_after)
    }

    #[test]
    fn a_burst_then_one_token_per_interval() {
        let clock = FakeRelativeClock::default();
        // 30 a minute: one token every 2 s; 3 at once.
        let limiter = PublishLimiter::with_clock(limits(30, Some(3)), clock.clone());
        for _ in 0..3 {
            limiter.take("alice").expect("within the burst");
        }
        assert_eq!(refusal(&limiter, "alice"), (429, "2".to_owned()));
        // A refused attempt takes no token: the wait does not grow.
        assert_eq!(refusal(&limiter, "alice"), (429, "2".to_owned()));

        clock.advance(Duration::from_millis(500));
        assert_eq!(
            refusal(&limiter, "alice"),
            (429, "2".to_owned()),
            "1.5 s rounds up"
        );
        clock.advance(Duration::from_millis(1500));
        limiter.take("alice").expect("a token came back after 2 s");
        assert_eq!(refusal(&limiter, "alice").0, 429);

        // A quiet minute refills the whole burst, and no more.
        clock.advance(Duration::from_mins(1));
        for _ in 0..3 {
            limiter.take("alice").expect("the burst is back");
        }
        assert_eq!(refusal(&limiter, "alice").0, 429);
    }

    #[test]
    fn users_have_their_own_buckets() {
        let limiter = PublishLimiter::with_clock(limits(1, None), FakeRelativeClock::default());
        limiter.take("alice").expect("first publish");
        assert_eq!(refusal(&limiter, "alice"), (429, "60".to_owned()));
        assert_eq!(
            limiter.take("alice").expect_err("empty").detail(),
            "publish rate limit reached for `alice`: 1 publish per minute (burst 1); try again in 1 min"
        );
        limiter
            .take("bob")
            .expect("bob is not slowed down by alice");
    }

    #[test]
    fn the_burst_defaults_to_the_rate() {
        let limiter = PublishLimiter::with_clock(limits(5, None), FakeRelativeClock::default());
        for _ in 0..5 {
            limiter.take("alice").expect("within the default burst");
        }
        assert_eq!(refusal(&limiter, "alice"), (429, "12".to_owned()));
    }

    #[test]
    fn no_rate_means_no_limit() {
        let limiter = PublishLimiter::with_clock(
            PublishRateLimits {
                publish_burst: NonZeroU32::new(1),
                ..PublishRateLimits::default()
            },
            FakeRelativeClock::default(),
        );
        for _ in 0..1000 {
            limiter.take("alice").expect("no bucket without a rate");
        }
    }

    #[test]
    fn the_refusal_tells_the_limit_and_the_wait() {
        let limiter = PublishLimiter::with_clock(limits(30, Some(5)), FakeRelativeClock::default());
        for _ in 0..5 {
            limiter.take("alice").expect("within the burst");
        }
        let error = limiter.take("alice").expect_err("empty");
        assert_eq!(
            error.detail(),
            "publish rate limit reached for `alice`: 30 publishes per minute (burst 5); try again in 2 seconds"
        );
    }

    #[test]
    fn waits_read_well() {
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(11_001)), 12);
        assert_eq!(human_wait(1), "1 second");
        assert_eq!(human_wait(12), "12 seconds");
        assert_eq!(human_wait(61), "2 min");
        assert_eq!(human_wait(3 * 3600 + 11 * 60 + 30), "3 h 12 min");
        assert_eq!(human_wait(7200), "2 h");
    }
}

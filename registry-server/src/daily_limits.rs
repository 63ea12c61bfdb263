//! How the daily publish limits (`publishes-per-day`, `new-crates-per-day`,
//! `versions-per-crate-per-day`) answer: storage counts and enforces them (see
//! `wharf_storage::DailyLimits`, checked again inside the publish's transaction so concurrent
//! publishes cannot pass a limit together); this module turns a refusal into a 429 with
//! `Retry-After` and a message naming the limit and the wait.

use std::num::NonZeroU32;

use wharf_storage::{DailyLimit, DailyLimits};

use crate::error::ApiError;
use crate::rate_limits::{PublishRateLimits, human_wait};

impl PublishRateLimits {
    /// The daily part of the limits, as storage enforces it.
    pub(crate) fn daily(&self) -> DailyLimits {
        DailyLimits {
            publishes_per_day: self.publishes_per_day,
            new_crates_per_day: self.new_crates_per_day,
            versions_per_crate_per_day: self.versions_per_crate_per_day,
        }
    }
}

/// "3 versions" / "1 version", and who leaves the window: "the oldest of them" / "it".
fn counted(count: u32, one: &str, many: &str) -> (String, &'static str) {
    if count == 1 {
        (format!("1 {one}"), "it")
    } else {
        (format!("{count} {many}"), "the oldest of them")
    }
}

/// The 429 answer for a refusal by a daily limit.
pub(crate) fn refusal(
    limit: DailyLimit,
    max: NonZeroU32,
    count: u32,
    login: &str,
    name: Option<&str>,
    wait: u64,
) -> ApiError {
    let name = name.unwrap_or("this crate");
    let detail = match limit {
        DailyLimit::PublishesPerDay => {
            let (versions, oldest) = counted(count, "version", "versions");
            format!(
                "`{login}` published {versions} in the last 24 hours (limit `{limit}` = {max}); {oldest} leaves the window in {}",
                human_wait(wait)
            )
        }
        DailyLimit::NewCratesPerDay => {
            let (crates, oldest) = counted(count, "new crate", "new crates");
            format!(
                "`{login}` created {crates} in the last 24 hours (limit `{limit}` = {max}), so `{name}` cannot be created now; {oldest} leaves the window in {}. New versions of existing crates are not affected",
                human_wait(wait)
            )
        }
        DailyLimit::VersionsPerCratePerDay => {
            let (versions, oldest) = counted(count, "version", "versions");
            format!(
                "`{name}` got {versions} in the last 24 hours (limit `{limit}` = {max}); {oldest} leaves the window in {}",
                human_wait(wait)
            )
        }
    };
    ApiError::too_many_requests(detail, wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).expect("non-zero")
    }

    #[test]
    fn refusals_name_the_user_the_limit_and_the_wait() {
        let error = refusal(
            DailyLimit::PublishesPerDay,
            limit(100),
            100,
            "alice",
            None,
            3 * 3600 + 12 * 60,
        );
        assert_eq!(error.status(), http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            error.detail(),
            "`alice` published 100 versions in the last 24 hours (limit `publishes-per-day` = 100); the oldest of them leaves the window in 3 h 12 min"
        );
        let error = refusal(
            DailyLimit::PublishesPerDay,
            limit(1),
            1,
            "alice",
            Some("x"),
            86_390,
        );
        assert_eq!(
            error.detail(),
            "`alice` published 1 version in the last 24 hours (limit `publishes-per-day` = 1); it leaves the window in 24 h"
        );
        let error = refusal(
            DailyLimit::VersionsPerCratePerDay,
            limit(10),
            10,
            "bob",
            Some("busy"),
            2 * 3600,
        );
        assert_eq!(
            error.detail(),
            "`busy` got 10 versions in the last 24 hours (limit `versions-per-crate-per-day` = 10); the oldest of them leaves the window in 2 h"
        );
        let error = refusal(
            DailyLimit::NewCratesPerDay,
            limit(2),
            2,
            "alice",
            Some("fresh"),
            59,
        );
        assert!(
            error.detail().starts_with(
                "`alice` created 2 new crates in the last 24 hours (limit `new-crates-per-day` = 2), so `fresh` cannot be created now; the oldest of them leaves the window in 59 seconds"
            ),
            "{}",
            error.detail()
        );
    }
}

//! The daily publish limits (`publishes-per-day`, `new-crates-per-day`,
//! `versions-per-crate-per-day`): counted over a rolling 24 hours from the versions in storage,
//! so they hold across restarts.
//!
//! Each check asks storage for the user's most recent publishes, at most as many as the limit:
//! when there are that many, the publish is refused until the oldest of them is more than 24
//! hours old. The check and the write are not one transaction, so concurrent publishes of one
//! user may pass the limit by the number running at once.

use std::num::NonZeroU32;

use wharf_index_format::Pubtime;
use wharf_storage::{Principal, RecentPublishes};

use crate::error::ApiError;
use crate::rate_limits::human_wait;
use crate::state::AppState;

/// The window of the daily limits, in seconds.
const DAY_SECONDS: i64 = 24 * 60 * 60;

/// Seconds until the window has room again, or `None` when it has room now.
fn wait_for_room(recent: RecentPublishes, limit: NonZeroU32, now: i64) -> Option<u64> {
    if recent.count < limit.get() {
        return None;
    }
    let leaves_at = recent.oldest.map_or(now + DAY_SECONDS, |t| t + DAY_SECONDS);
    Some(u64::try_from(leaves_at - now).unwrap_or(0).max(1))
}

/// Refuses a publish once the user published `publishes-per-day` versions in the last 24 hours.
/// Needs no package name, so it runs before the upload is parsed.
pub(crate) async fn check_publishes(state: &AppState, who: &Principal) -> Result<(), ApiError> {
    let Some(limit) = state.publish_limiter.limits().publishes_per_day else {
        return Ok(());
    };
    let now = Pubtime::now().unix();
    let recent = state
        .storage
        .recent_versions(who.user_id, now - DAY_SECONDS, limit.get())
        .await?;
    match wait_for_room(recent, limit, now) {
        None => Ok(()),
        Some(wait) => Err(publishes_refusal(&who.login, recent.count, limit, wait)),
    }
}

/// Refuses a publish that would create a package once the user created `new-crates-per-day`
/// packages in the last 24 hours; new versions of existing packages pass.
pub(crate) async fn check_new_crates(
    state: &AppState,
    who: &Principal,
    name: &str,
) -> Result<(), ApiError> {
    let Some(limit) = state.publish_limiter.limits().new_crates_per_day else {
        return Ok(());
    };
    if state.storage.package_exists(name).await? {
        return Ok(());
    }
    let now = Pubtime::now().unix();
    let recent = state
        .storage
        .recent_new_packages(who.user_id, now - DAY_SECONDS, limit.get())
        .await?;
    match wait_for_room(recent, limit, now) {
        None => Ok(()),
        Some(wait) => Err(new_crates_refusal(
            &who.login,
            name,
            recent.count,
            limit,
            wait,
        )),
    }
}

/// Refuses a new version of `name` once the package got `versions-per-crate-per-day` versions
/// in the last 24 hours, from whichever owners.
pub(crate) async fn check_crate_versions(state: &AppState, name: &str) -> Result<(), ApiError> {
    let Some(limit) = state.publish_limiter.limits().versions_per_crate_per_day else {
        return Ok(());
    };
    let now = Pubtime::now().unix();
    let recent = state
        .storage
        .recent_package_versions(name, now - DAY_SECONDS, limit.get())
        .await?;
    match wait_for_room(recent, limit, now) {
        None => Ok(()),
        Some(wait) => Err(crate_versions_refusal(name, recent.count, limit, wait)),
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

fn publishes_refusal(login: &str, count: u32, limit: NonZeroU32, wait: u64) -> ApiError {
    let (versions, oldest) = counted(count, "version", "versions");
    ApiError::too_many_requests(
        format!(
            "`{login}` published {versions} in the last 24 hours (limit `publishes-per-day` = {limit}); {oldest} leaves the window in {}",
            human_wait(wait)
        ),
        wait,
    )
}

fn new_crates_refusal(
    login: &str,
    name: &str,
    count: u32,
    limit: NonZeroU32,
    wait: u64,
) -> ApiError {
    let (crates, oldest) = counted(count, "new crate", "new crates");
    ApiError::too_many_requests(
        format!(
            "`{login}` created {crates} in the last 24 hours (limit `new-crates-per-day` = {limit}), so `{name}` cannot be created now; {oldest} leaves the window in {}. New versions of existing crates are not affected",
            human_wait(wait)
        ),
        wait,
    )
}

fn crate_versions_refusal(name: &str, count: u32, limit: NonZeroU32, wait: u64) -> ApiError {
    let (versions, oldest) = counted(count, "version", "versions");
    ApiError::too_many_requests(
        format!(
            "`{name}` got {versions} in the last 24 hours (limit `versions-per-crate-per-day` = {limit}); {oldest} leaves the window in {}",
            human_wait(wait)
        ),
        wait,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn limit(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).expect("non-zero")
    }

    #[test]
    fn room_until_the_limit_is_reached() {
        let recent = RecentPublishes {
            count: 2,
            oldest: Some(NOW - 10),
        };
        assert_eq!(wait_for_room(recent, limit(3), NOW), None);
        assert_eq!(
            wait_for_room(RecentPublishes::default(), limit(1), NOW),
            None
        );
    }

    #[test]
    fn a_full_window_frees_up_when_its_oldest_publish_is_a_day_old() {
        let published_at = NOW - (20 * 3600 + 48 * 60);
        let recent = RecentPublishes {
            count: 3,
            oldest: Some(published_at),
        };
        let wait = wait_for_room(recent, limit(3), NOW).expect("full");
        assert_eq!(wait, 3 * 3600 + 12 * 60);
        // A publish from the last second still leaves a positive wait.
        let just_now = RecentPublishes {
            count: 1,
            oldest: Some(NOW - DAY_SECONDS + 1),
        };
        assert_eq!(wait_for_room(just_now, limit(1), NOW), Some(1));
    }

    #[test]
    fn refusals_name_the_user_the_limit_and_the_wait() {
        let error = publishes_refusal("alice", 100, limit(100), 3 * 3600 + 12 * 60);
        assert_eq!(error.status(), http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            error.detail(),
            "`alice` published 100 versions in the last 24 hours (limit `publishes-per-day` = 100); the oldest of them leaves the window in 3 h 12 min"
        );
        let error = publishes_refusal("alice", 1, limit(1), 86_390);
        assert_eq!(
            error.detail(),
            "`alice` published 1 version in the last 24 hours (limit `publishes-per-day` = 1); it leaves the window in 24 h"
        );
        let error = crate_versions_refusal("busy", 10, limit(10), 2 * 3600);
        assert_eq!(
            error.detail(),
            "`busy` got 10 versions in the last 24 hours (limit `versions-per-crate-per-day` = 10); the oldest of them leaves the window in 2 h"
        );
        let error = new_crates_refusal("alice", "fresh", 2, limit(2), 59);
        assert!(
            error.detail().starts_with(
                "`alice` created 2 new crates in the last 24 hours (limit `new-crates-per-day` = 2), so `fresh` cannot be created now; the oldest of them leaves the window in 59 seconds"
            ),
            "{}",
            error.detail()
        );
    }
}

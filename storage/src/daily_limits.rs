//! The daily publish limits (`publishes-per-day`, `new-crates-per-day`,
//! `versions-per-crate-per-day`), counted over a rolling 24 hours from the versions in the
//! database, so they hold across restarts.
//!
//! A check asks for the most recent publishes it counts, at most as many as the limit: when
//! there are that many, the publish is refused until the oldest of them is more than 24 hours
//! old. [`Storage::publish_limited`](crate::Storage::publish_limited) checks inside the
//! publish's own transaction, after the publishes committed before it in the same group, so
//! publishes running at once cannot pass a limit together.
//! [`Storage::check_daily_limits`](crate::Storage::check_daily_limits) runs the same checks
//! on a read connection, for refusing early, before an upload is even parsed.

use std::fmt;
use std::num::NonZeroU32;

use crate::sql::Sql;
use wharf_index_format::canonical_name;

use crate::{Principal, RecentPublishes, StorageError, recent};

/// The window of the daily limits, in seconds.
pub const DAY_SECONDS: i64 = 24 * 60 * 60;

/// Daily caps on publishing; `None` is no cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DailyLimits {
    /// Versions one user may publish in any 24 hours, new packages included.
    pub publishes_per_day: Option<NonZeroU32>,
    /// Packages one user may create in any 24 hours.
    pub new_crates_per_day: Option<NonZeroU32>,
    /// Versions one package may get in any 24 hours, from all its owners together.
    pub versions_per_crate_per_day: Option<NonZeroU32>,
}

/// Which daily limit refused a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DailyLimit {
    /// `publishes-per-day`: counts the user's versions.
    PublishesPerDay,
    /// `new-crates-per-day`: counts the packages the user created.
    NewCratesPerDay,
    /// `versions-per-crate-per-day`: counts the package's versions, from any owner.
    VersionsPerCratePerDay,
}

impl DailyLimit {
    /// The setting's name, as in the config file.
    pub fn key(self) -> &'static str {
        match self {
            Self::PublishesPerDay => "publishes-per-day",
            Self::NewCratesPerDay => "new-crates-per-day",
            Self::VersionsPerCratePerDay => "versions-per-crate-per-day",
        }
    }
}

impl fmt::Display for DailyLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// Seconds until the window has room again, or `None` when it has room now.
pub(crate) fn wait_for_room(recent: RecentPublishes, limit: NonZeroU32, now: i64) -> Option<u64> {
    if recent.count < limit.get() {
        return None;
    }
    let leaves_at = recent.oldest.map_or(now + DAY_SECONDS, |t| t + DAY_SECONDS);
    Some(u64::try_from(leaves_at - now).unwrap_or(0).max(1))
}

/// Refuses when `recent` fills `limit`'s window.
fn enforce(
    limit: DailyLimit,
    max: NonZeroU32,
    recent: RecentPublishes,
    who: &Principal,
    name: Option<&str>,
    now: i64,
) -> Result<(), StorageError> {
    match wait_for_room(recent, max, now) {
        None => Ok(()),
        Some(retry_after_secs) => Err(StorageError::DailyLimitReached {
            limit,
            max,
            counted: recent.count,
            login: who.login.clone(),
            name: name.map(str::to_owned),
            retry_after_secs,
        }),
    }
}

/// `publishes-per-day`: needs no package, so it can run before an upload is parsed.
fn check_user(
    conn: &dyn Sql,
    who: &Principal,
    limits: DailyLimits,
    now: i64,
) -> Result<(), StorageError> {
    let Some(max) = limits.publishes_per_day else {
        return Ok(());
    };
    let recent = recent::recent_versions(conn, who.user_id, now - DAY_SECONDS, max.get())?;
    enforce(DailyLimit::PublishesPerDay, max, recent, who, None, now)
}

/// `new-crates-per-day` when the publish creates the package `name`, else
/// `versions-per-crate-per-day` for it.
fn check_package(
    conn: &dyn Sql,
    who: &Principal,
    name: &str,
    creates_package: bool,
    limits: DailyLimits,
    now: i64,
) -> Result<(), StorageError> {
    let since = now - DAY_SECONDS;
    if creates_package {
        let Some(max) = limits.new_crates_per_day else {
            return Ok(());
        };
        let recent = recent::recent_new_packages(conn, who.user_id, since, max.get())?;
        return enforce(
            DailyLimit::NewCratesPerDay,
            max,
            recent,
            who,
            Some(name),
            now,
        );
    }
    let Some(max) = limits.versions_per_crate_per_day else {
        return Ok(());
    };
    let recent = recent::recent_package_versions(conn, &canonical_name(name), since, max.get())?;
    enforce(
        DailyLimit::VersionsPerCratePerDay,
        max,
        recent,
        who,
        Some(name),
        now,
    )
}

/// Every limit that applies: `publishes-per-day`, and with `package` = (name, whether the
/// publish creates it) the package's own limit.
pub(crate) fn check_daily_limits(
    conn: &dyn Sql,
    who: &Principal,
    package: Option<(&str, bool)>,
    limits: DailyLimits,
    now: i64,
) -> Result<(), StorageError> {
    check_user(conn, who, limits, now)?;
    match package {
        Some((name, creates_package)) => {
            check_package(conn, who, name, creates_package, limits, now)
        }
        None => Ok(()),
    }
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
}

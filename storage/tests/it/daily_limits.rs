//! Daily publish limits hold under concurrency: publishes that start together are counted
//! inside the commit's transaction, so exactly the limit gets through and the rest are
//! refused with nothing written for them.

use std::num::NonZeroU32;

use wharf_storage::{DailyLimit, DailyLimits, Storage, StorageError};

use crate::support::{TestResult, admin, fresh, upload};

fn limit(n: u32) -> Option<NonZeroU32> {
    NonZeroU32::new(n)
}

/// Starts every `(name, version)` publish at once under `limits`; returns how many were
/// acknowledged and the limits that refused the others.
async fn publish_together(
    storage: &Storage,
    user: &str,
    publishes: &[(String, String)],
    limits: DailyLimits,
) -> Result<(usize, Vec<DailyLimit>), Box<dyn std::error::Error>> {
    let who = admin(storage, user);
    let tasks: Vec<_> = publishes
        .iter()
        .map(|(name, version)| {
            let (storage, who, upload) = (storage.clone(), who.clone(), upload(name, version));
            tokio::spawn(async move { storage.publish_limited(&who, upload, limits).await })
        })
        .collect();
    let (mut landed, mut refused) = (0, Vec::new());
    for task in tasks {
        match task.await? {
            Ok(_) => landed += 1,
            Err(StorageError::DailyLimitReached {
                limit,
                retry_after_secs,
                ..
            }) => {
                assert!(retry_after_secs > 0 && retry_after_secs <= 86_400);
                refused.push(limit);
            }
            Err(other) => return Err(other.into()),
        }
    }
    Ok((landed, refused))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_publishes_of_one_user_pass_publishes_per_day_exactly_to_the_limit() -> TestResult
{
    let (_dir, storage) = fresh().await;
    let limits = DailyLimits {
        publishes_per_day: limit(3),
        ..DailyLimits::default()
    };
    let publishes: Vec<_> = (0..12)
        .map(|n| (format!("burst-{n}"), "1.0.0".to_owned()))
        .collect();
    let (landed, refused) = publish_together(&storage, "alice", &publishes, limits).await?;
    assert_eq!(landed, 3);
    assert_eq!(refused, vec![DailyLimit::PublishesPerDay; 9]);
    assert_eq!(
        storage.events(0, usize::MAX)?.len(),
        3,
        "nothing logged for refusals"
    );
    assert_eq!(storage.all_index_files().await?.len(), 3);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_versions_of_one_crate_pass_versions_per_crate_per_day_exactly_to_the_limit()
-> TestResult {
    let (_dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    storage.publish(&alice, upload("busy", "0.1.0")).await?;
    let limits = DailyLimits {
        versions_per_crate_per_day: limit(4),
        ..DailyLimits::default()
    };
    let publishes: Vec<_> = (1..=10)
        .map(|n| ("busy".to_owned(), format!("1.{n}.0")))
        .collect();
    let (landed, refused) = publish_together(&storage, "alice", &publishes, limits).await?;
    assert_eq!(landed, 3, "the first version already counts");
    assert_eq!(refused, vec![DailyLimit::VersionsPerCratePerDay; 7]);
    let file = storage.index_file("busy").await?.expect("published");
    assert_eq!(String::from_utf8(file.bytes.to_vec())?.lines().count(), 4);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_new_crates_pass_new_crates_per_day_exactly_to_the_limit() -> TestResult {
    let (_dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    storage.publish(&alice, upload("existing", "1.0.0")).await?;
    let limits = DailyLimits {
        new_crates_per_day: limit(3),
        ..DailyLimits::default()
    };
    // New versions of a crate that exists are not new crates.
    let mut publishes: Vec<_> = (0..8)
        .map(|n| (format!("fresh-{n}"), "1.0.0".to_owned()))
        .collect();
    publishes.extend((1..=4).map(|n| ("existing".to_owned(), format!("2.{n}.0"))));
    let (landed, refused) = publish_together(&storage, "alice", &publishes, limits).await?;
    assert_eq!(landed, 2 + 4, "two more new crates, and every new version");
    assert_eq!(refused, vec![DailyLimit::NewCratesPerDay; 6]);
    Ok(())
}

#[tokio::test]
async fn the_early_check_refuses_before_an_upload_and_names_the_package_after() -> TestResult {
    let (_dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    let limits = DailyLimits {
        publishes_per_day: limit(5),
        versions_per_crate_per_day: limit(1),
        ..DailyLimits::default()
    };
    storage.check_daily_limits(&alice, None, limits).await?;
    storage
        .publish_limited(&alice, upload("solo", "1.0.0"), limits)
        .await?;
    storage.check_daily_limits(&alice, None, limits).await?;
    storage
        .check_daily_limits(&alice, Some("other"), limits)
        .await?;
    let refused = storage
        .check_daily_limits(&alice, Some("SOLO"), limits)
        .await
        .expect_err("`solo` had its one version today");
    assert!(
        matches!(
            &refused,
            StorageError::DailyLimitReached {
                limit: DailyLimit::VersionsPerCratePerDay,
                counted: 1,
                name: Some(name),
                ..
            } if name == "SOLO"
        ),
        "{refused:?}"
    );
    assert!(
        refused.to_string().contains("versions-per-crate-per-day"),
        "{refused}"
    );
    Ok(())
}

//! Counting a user's (or a package's) recent publishes and new packages, for daily publish
//! limits.

use wharf_storage::RecentPublishes;

use crate::support::{TestResult, admin, fresh, open, upload};

const DAY: i64 = 24 * 60 * 60;

#[tokio::test]
async fn recent_publishes_count_each_users_versions_and_first_versions() -> TestResult {
    let (dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    let bob = admin(&storage, "bob");
    let mut alice_times = Vec::new();
    for (name, version) in [
        ("one", "1.0.0"),
        ("one", "1.1.0"),
        ("two", "0.1.0"),
        ("one", "1.2.0"),
    ] {
        let published = storage.publish(&alice, upload(name, version)).await?;
        alice_times.push(
            published
                .entry
                .pubtime
                .expect("storage sets pubtime")
                .unix(),
        );
    }
    // Bob adds a version to a package he was made owner of: it is his publish, not his package.
    storage
        .add_owners(&alice, "one", &["bob".to_owned()])
        .await?;
    let bobs = storage.publish(&bob, upload("one", "2.0.0")).await?;
    let bob_time = bobs.entry.pubtime.expect("storage sets pubtime").unix();
    storage.publish(&bob, upload("three", "1.0.0")).await?;

    let now = alice_times[0];
    let window = now - DAY;
    assert_eq!(
        storage.recent_versions(alice.user_id, window, 100).await?,
        RecentPublishes {
            count: 4,
            oldest: Some(alice_times[0]),
        }
    );
    assert_eq!(
        storage
            .recent_new_packages(alice.user_id, window, 100)
            .await?,
        RecentPublishes {
            count: 2,
            oldest: Some(alice_times[0]),
        }
    );
    assert_eq!(
        storage.recent_versions(bob.user_id, window, 100).await?,
        RecentPublishes {
            count: 2,
            oldest: Some(bob_time),
        }
    );
    assert_eq!(
        storage
            .recent_new_packages(bob.user_id, window, 100)
            .await?
            .count,
        1,
        "only `three` was created by bob"
    );

    // The cap keeps the most recent ones: the oldest counted is the cap-th most recent.
    let capped = storage.recent_versions(alice.user_id, window, 2).await?;
    assert_eq!(capped.count, 2);
    assert_eq!(capped.oldest, Some(alice_times[2]));

    // Publishes at or before `since` are outside the window.
    let latest = *alice_times.iter().max().expect("four publishes");
    assert_eq!(
        storage.recent_versions(alice.user_id, latest, 100).await?,
        RecentPublishes::default()
    );
    assert_eq!(
        storage
            .recent_new_packages(alice.user_id, latest, 100)
            .await?,
        RecentPublishes::default()
    );

    // The counts come from the database, so they survive a restart.
    assert!(storage.package_exists("ONE").await?);
    assert!(!storage.package_exists("four").await?);
    drop(storage);
    let reopened = open(dir.path()).await;
    assert_eq!(
        reopened
            .recent_versions(alice.user_id, window, 100)
            .await?
            .count,
        4
    );
    assert_eq!(
        reopened
            .recent_new_packages(alice.user_id, window, 100)
            .await?
            .count,
        2
    );
    Ok(())
}

#[tokio::test]
async fn recent_package_versions_count_every_owner_under_any_spelling() -> TestResult {
    let (_dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    let bob = admin(&storage, "bob");
    let first = storage.publish(&alice, upload("shared", "1.0.0")).await?;
    let first_time = first.entry.pubtime.expect("storage sets pubtime").unix();
    storage
        .add_owners(&alice, "shared", &["bob".to_owned()])
        .await?;
    storage.publish(&bob, upload("shared", "1.1.0")).await?;
    storage.publish(&alice, upload("other", "1.0.0")).await?;
    let window = first_time - DAY;

    let shared = storage
        .recent_package_versions("shared", window, 100)
        .await?;
    assert_eq!(
        shared,
        RecentPublishes {
            count: 2,
            oldest: Some(first_time),
        }
    );
    assert_eq!(
        storage
            .recent_package_versions("SHARED", window, 100)
            .await?,
        shared
    );
    assert_eq!(
        storage
            .recent_package_versions("other", window, 100)
            .await?
            .count,
        1
    );
    assert_eq!(
        storage
            .recent_package_versions("nothing", window, 100)
            .await?,
        RecentPublishes::default()
    );
    assert_eq!(
        storage
            .recent_package_versions("shared", window, 1)
            .await?
            .count,
        1,
        "the cap bounds the count"
    );
    Ok(())
}

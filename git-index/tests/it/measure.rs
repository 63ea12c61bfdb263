//! Figures, not checks: how long the export takes on a registry of a few thousand packages.
//! Run with `cargo test --release -p wharf-git-index --test it -- --ignored --nocapture`.

use std::time::Instant;

use tokio::task::JoinSet;
use wharf_git_index::{Author, GitIndex};

use super::{CONFIG, open, publish};

const PACKAGES: usize = 5_000;
const SINGLE_COMMITS: usize = 100;
const BATCH: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "prints timings for docs/git-index.md; slow in debug builds"]
async fn measure_commits_rebuilds_and_squash() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, who) = open(dir.path()).await;
    let started = Instant::now();
    for chunk in (0..PACKAGES).collect::<Vec<_>>().chunks(256) {
        let mut publishes = JoinSet::new();
        for &n in chunk {
            let (storage, who) = (storage.clone(), who.clone());
            publishes.spawn(async move {
                publish(&storage, &who, &format!("pkg{n:05}x"), "1.0.0").await;
            });
        }
        publishes.join_all().await;
    }
    println!("seeded {PACKAGES} packages in {:.1?}", started.elapsed());
    let index = GitIndex::create(dir.path(), CONFIG, Author::default()).unwrap();

    let started = Instant::now();
    index.reconcile(&storage).await.unwrap();
    println!(
        "first reconcile (whole tree of {PACKAGES} files): {:.1?}",
        started.elapsed()
    );

    let started = Instant::now();
    let report = index.reconcile(&storage).await.unwrap();
    assert!(report.rebuilt.is_none() && report.advanced.is_none());
    println!(
        "reconcile with nothing to do (every server start): {:.1?}",
        started.elapsed()
    );

    let started = Instant::now();
    for n in 0..SINGLE_COMMITS {
        publish(
            &storage,
            &who,
            &format!("pkg{:05}x", n * 37 % PACKAGES),
            "1.0.1",
        )
        .await;
        index.advance(&storage).await.unwrap().unwrap();
    }
    println!(
        "{SINGLE_COMMITS} publishes each followed by its commit: {:.2?} per publish and commit",
        started.elapsed() / u32::try_from(SINGLE_COMMITS).unwrap()
    );

    let mut commit_only = std::time::Duration::ZERO;
    for n in 0..SINGLE_COMMITS {
        publish(
            &storage,
            &who,
            &format!("pkg{:05}x", n * 41 % PACKAGES),
            "1.0.2",
        )
        .await;
        let started = Instant::now();
        index.advance(&storage).await.unwrap().unwrap();
        commit_only += started.elapsed();
    }
    println!(
        "one-event commit alone: {:.2?} on average over {SINGLE_COMMITS}",
        commit_only / u32::try_from(SINGLE_COMMITS).unwrap()
    );

    for n in 0..BATCH {
        publish(
            &storage,
            &who,
            &format!("pkg{:05}x", n * 13 % PACKAGES),
            "1.0.3",
        )
        .await;
    }
    let started = Instant::now();
    index.advance(&storage).await.unwrap().unwrap();
    println!(
        "one commit of a {BATCH}-event batch: {:.1?}",
        started.elapsed()
    );

    let started = Instant::now();
    index.squash("2026-12-06").await.unwrap();
    println!("squash: {:.1?}", started.elapsed());
}

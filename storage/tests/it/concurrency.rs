//! Concurrent publishers: every acknowledged publish lands, and the log has no gaps.

use std::collections::BTreeSet;

use crate::support::{TestResult, admin, fresh, upload};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_publishers_all_land_with_a_gap_free_log() -> TestResult {
    const TASKS: usize = 16;
    const PER_TASK: usize = 8;
    let (_dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    // Half the tasks share one package, so its index file sees concurrent writers.
    storage
        .publish(&alice, upload("shared-pkg", "0.0.0"))
        .await?;
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let storage = storage.clone();
        let alice = alice.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..PER_TASK {
                let (name, version) = if task % 2 == 0 {
                    ("shared-pkg".to_owned(), format!("{}.{i}.0", task + 1))
                } else {
                    (format!("own-{task}"), format!("1.{i}.0"))
                };
                let published = storage.publish(&alice, upload(&name, &version)).await?;
                seqs.push(published.seq);
            }
            Ok::<_, wharf_storage::StorageError>(seqs)
        }));
    }
    let mut acknowledged = BTreeSet::new();
    for task in tasks {
        acknowledged.extend(task.await??);
    }
    let total = TASKS * PER_TASK + 1;
    let events = storage.events(0, usize::MAX)?;
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    let expected: Vec<u64> = (1..=u64::try_from(total)?).collect();
    assert_eq!(seqs, expected, "the log is gap-free");
    assert_eq!(
        acknowledged.len(),
        total - 1,
        "every publish got its own seq"
    );

    let shared = storage.index_file("shared-pkg").await?.expect("exists");
    assert_eq!(
        String::from_utf8(shared.bytes.to_vec())?.lines().count(),
        TASKS / 2 * PER_TASK + 1
    );
    let last_shared = events
        .iter()
        .filter(|e| e.package == "shared-pkg")
        .map(|e| e.seq)
        .max();
    assert_eq!(Some(shared.seq), last_shared);
    storage.settle().await;
    let on_disk = std::fs::read(storage.data_dir().join("index/sh/ar/shared-pkg"))?;
    assert_eq!(on_disk, shared.bytes, "the newest state won on disk");
    let report = storage.verify().await?;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.index_files, TASKS / 2 + 1);
    assert_eq!(report.blobs, total);
    Ok(())
}

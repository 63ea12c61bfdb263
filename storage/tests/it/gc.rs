//! Orphan blob collection: blobs left by raced publishes and by a crash between the blob write
//! and the commit are deleted once older than the grace period; blobs of publishes in flight
//! and referenced blobs never are; a dry run deletes nothing; and publishes re-using a blob
//! while a collection runs (from another storage on the same data) keep their blob.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};
use wharf_storage::{GcOptions, GcReport, Storage, StorageError};

use crate::support::{TestResult, admin, fresh, open, sha256, upload, upload_bytes};

const HOUR: Duration = Duration::from_hours(1);

/// The file of the blob with this checksum in a local data directory.
fn blob_file(data: &Path, cksum: &str) -> PathBuf {
    data.join(format!(
        "blobs/sha256/{}/{}/{cksum}",
        &cksum[..2],
        &cksum[2..4]
    ))
}

/// Writes `bytes` into the blob store directly, through `object_store`, as a publish does
/// before its commit: what a crash between the blob write and the commit leaves behind.
async fn write_uncommitted_blob(data: &Path, bytes: Bytes) -> Result<String, StorageError> {
    let cksum = sha256(&bytes);
    let store = LocalFileSystem::new_with_prefix(data.join("blobs"))?;
    let key = ObjectPath::from(format!("sha256/{}/{}/{cksum}", &cksum[..2], &cksum[2..4]));
    store.put(&key, PutPayload::from_bytes(bytes)).await?;
    Ok(cksum)
}

/// Moves a blob's modification time `by` into the past.
fn age(data: &Path, cksum: &str, by: Duration) -> TestResult {
    let file = std::fs::File::options()
        .write(true)
        .open(blob_file(data, cksum))?;
    file.set_modified(SystemTime::now() - by)?;
    Ok(())
}

/// Every blob checksum stored under `data`.
fn stored_blobs(data: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![data.join("blobs")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    found.sort();
    found
}

fn collected(report: &GcReport) -> Vec<String> {
    let mut cksums: Vec<String> = report.collected.iter().map(|b| b.cksum.clone()).collect();
    cksums.sort();
    cksums
}

async fn assert_verifies_clean(storage: &Storage) -> TestResult {
    let report = storage.verify().await?;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    Ok(())
}

#[tokio::test]
async fn a_blob_written_without_a_commit_is_kept_while_young_and_collected_once_old() -> TestResult
{
    let (dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    let published = storage.publish(&alice, upload("kept", "1.0.0")).await?;
    let orphan = write_uncommitted_blob(
        dir.path(),
        Bytes::from_static(b"blob of a publish that never committed"),
    )
    .await?;

    // A publish in flight: the blob is younger than the grace period.
    let report = storage.collect_garbage(GcOptions::default()).await?;
    assert!(report.collected.is_empty(), "{report:?}");
    assert_eq!((report.blobs, report.referenced, report.young), (2, 1, 1));
    assert!(blob_file(dir.path(), &orphan).exists());

    age(dir.path(), &orphan, 2 * HOUR)?;
    age(dir.path(), &published.entry.cksum, 2 * HOUR)?;
    let report = storage.collect_garbage(GcOptions::default()).await?;
    assert_eq!(collected(&report), vec![orphan.clone()]);
    assert_eq!(
        report.bytes,
        u64::try_from(b"blob of a publish that never committed".len())?
    );
    assert_eq!(report.referenced, 1, "the old referenced blob is kept");
    assert!(!blob_file(dir.path(), &orphan).exists());
    assert_eq!(
        stored_blobs(dir.path()),
        vec![published.entry.cksum.clone()]
    );
    assert!(storage.blob(&published.entry.cksum).await?.is_some());
    assert_verifies_clean(&storage).await
}

#[tokio::test]
async fn referenced_blobs_are_never_collected_even_without_a_grace_period() -> TestResult {
    let (dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    for version in ["1.0.0", "1.1.0", "2.0.0"] {
        storage.publish(&alice, upload("busy", version)).await?;
    }
    storage.set_yanked(&alice, "busy", "1.1.0", true).await?;
    let before = stored_blobs(dir.path());
    let report = storage
        .collect_garbage(GcOptions {
            grace: Duration::ZERO,
            dry_run: false,
        })
        .await?;
    assert!(report.collected.is_empty(), "{report:?}");
    assert_eq!((report.blobs, report.referenced), (3, 3));
    assert_eq!(stored_blobs(dir.path()), before);
    assert_verifies_clean(&storage).await
}

#[tokio::test]
async fn a_dry_run_lists_the_orphans_and_deletes_nothing() -> TestResult {
    let (dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    storage.publish(&alice, upload("dry", "1.0.0")).await?;
    let first = write_uncommitted_blob(dir.path(), Bytes::from_static(b"first orphan")).await?;
    let second = write_uncommitted_blob(dir.path(), Bytes::from_static(b"second orphan!")).await?;
    age(dir.path(), &first, 2 * HOUR)?;
    age(dir.path(), &second, 2 * HOUR)?;
    let before = stored_blobs(dir.path());

    let dry = storage
        .collect_garbage(GcOptions {
            grace: HOUR,
            dry_run: true,
        })
        .await?;
    assert!(dry.dry_run);
    let mut orphans = vec![first.clone(), second.clone()];
    orphans.sort();
    assert_eq!(collected(&dry), orphans);
    assert_eq!(dry.bytes, 12 + 14);
    assert_eq!(
        stored_blobs(dir.path()),
        before,
        "a dry run deletes nothing"
    );

    let real = storage.collect_garbage(GcOptions::default()).await?;
    assert_eq!(collected(&real), orphans);
    assert_eq!(real.bytes, dry.bytes);
    assert_eq!(stored_blobs(dir.path()).len(), 1);
    assert_verifies_clean(&storage).await
}

#[tokio::test]
async fn a_publish_refused_by_the_checks_leaves_no_blob_to_collect() -> TestResult {
    let (dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    let bob = admin(&storage, "bob");
    storage.publish(&alice, upload("owned", "1.0.0")).await?;
    let not_owner = storage.publish(&bob, upload("owned", "2.0.0")).await;
    assert!(matches!(not_owner, Err(StorageError::NotOwner { .. })));
    let duplicate = storage
        .publish(
            &alice,
            upload_bytes("owned", "1.0.0", Bytes::from_static(b"other bytes")),
        )
        .await;
    assert!(matches!(
        duplicate,
        Err(StorageError::DuplicateVersion { .. })
    ));
    assert_eq!(stored_blobs(dir.path()).len(), 1);
    let report = storage
        .collect_garbage(GcOptions {
            grace: Duration::ZERO,
            dry_run: false,
        })
        .await?;
    assert!(report.collected.is_empty(), "{report:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_blobs_of_raced_duplicate_publishes_are_collected() -> TestResult {
    const RACERS: usize = 8;
    const MAX_ROUNDS: usize = 20;
    let (dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    storage.publish(&alice, upload("raced", "0.1.0")).await?;
    // Publishes of one version with different bytes, all at once: those that pass the checks
    // before the first commits write their blob and are refused inside the transaction.
    let mut refused_with_blob = Vec::new();
    let mut winners = Vec::new();
    for round in 0..MAX_ROUNDS {
        let version = format!("1.{round}.0");
        let mut tasks = Vec::new();
        for racer in 0..RACERS {
            let (storage, alice, version) = (storage.clone(), alice.clone(), version.clone());
            let bytes = Bytes::from(format!("racer {racer} of round {round}"));
            tasks.push(tokio::spawn(async move {
                let cksum = sha256(&bytes);
                let outcome = storage
                    .publish(&alice, upload_bytes("raced", &version, bytes))
                    .await;
                (cksum, outcome)
            }));
        }
        for task in tasks {
            match task.await? {
                (cksum, Ok(_)) => winners.push(cksum),
                (cksum, Err(StorageError::DuplicateVersion { .. })) => {
                    if blob_file(dir.path(), &cksum).exists() {
                        refused_with_blob.push(cksum);
                    }
                }
                (_, Err(other)) => return Err(other.into()),
            }
        }
        if !refused_with_blob.is_empty() {
            break;
        }
    }
    assert!(
        !refused_with_blob.is_empty(),
        "no raced publish passed the checks before another committed in {MAX_ROUNDS} rounds"
    );
    for cksum in stored_blobs(dir.path()) {
        age(dir.path(), &cksum, 2 * HOUR)?;
    }

    let report = storage.collect_garbage(GcOptions::default()).await?;
    refused_with_blob.sort();
    assert_eq!(collected(&report), refused_with_blob);
    for cksum in &winners {
        assert!(storage.blob(cksum).await?.is_some(), "winner {cksum} kept");
    }
    assert_eq!(stored_blobs(dir.path()).len(), winners.len() + 1);
    assert_verifies_clean(&storage).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn publishes_re_using_a_blob_while_another_process_collects_keep_their_blob() -> TestResult {
    const ROUNDS: usize = 40;
    let (dir, server) = fresh().await;
    // A second storage on the same data, as `wharf admin gc` runs next to a server.
    let admin_process = open(dir.path()).await;
    let alice = admin(&server, "alice");
    for round in 0..ROUNDS {
        // The blob a refused publish left, published again with the same bytes while a
        // collection with no grace period at all runs: only the reference checks protect it.
        let bytes = Bytes::from(format!("re-used bytes {round}"));
        let cksum = sha256(&bytes);
        write_uncommitted_blob(dir.path(), bytes.clone()).await?;
        let publish = {
            let (server, alice) = (server.clone(), alice.clone());
            tokio::spawn(async move {
                server
                    .publish(
                        &alice,
                        upload_bytes("reused", &format!("1.{round}.0"), bytes),
                    )
                    .await
            })
        };
        let collect = {
            let admin_process = admin_process.clone();
            tokio::spawn(async move {
                admin_process
                    .collect_garbage(GcOptions {
                        grace: Duration::ZERO,
                        dry_run: false,
                    })
                    .await
            })
        };
        publish.await??;
        collect.await??;
        assert!(
            server.blob(&cksum).await?.is_some(),
            "round {round}: the published version lost its blob"
        );
    }
    assert_verifies_clean(&server).await?;
    assert_verifies_clean(&admin_process).await
}

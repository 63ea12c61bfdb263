//! An index file whose write fails is retried in the background, without a restart, until
//! the write succeeds; meanwhile the change is committed and served from the database.

use std::time::{Duration, Instant};

use crate::support::{TestResult, admin, fresh, upload};

#[tokio::test]
async fn a_failed_index_write_is_retried_until_it_succeeds() -> TestResult {
    let (dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    // A file where the directory of two-letter names belongs: writing `index/2/ab` fails.
    let blocker = dir.path().join("index/2");
    std::fs::create_dir_all(dir.path().join("index"))?;
    std::fs::write(&blocker, b"in the way")?;

    let published = storage.publish(&alice, upload("ab", "1.0.0")).await?;
    storage.settle().await;
    assert_eq!(storage.dirty_index_files(), 1);
    assert!(!dir.path().join("index/2/ab").exists());
    // The change itself is committed: the database serves it.
    let served = storage.index_file("ab").await?.ok_or("ab exists")?;
    assert_eq!(served.bytes, published.index_file.bytes);

    // A yank writes the file before it answers: that write fails and stays dirty too.
    storage.set_yanked(&alice, "ab", "1.0.0", true).await?;
    assert_eq!(storage.dirty_index_files(), 1, "one package, however often");

    std::fs::remove_file(&blocker)?;
    let expected = storage.index_file("ab").await?.ok_or("ab exists")?;
    let deadline = Instant::now() + Duration::from_mins(1);
    while storage.dirty_index_files() > 0 {
        assert!(
            Instant::now() < deadline,
            "the file was not written within a minute of the fix"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        std::fs::read(dir.path().join("index/2/ab"))?,
        expected.bytes
    );
    let report = storage.verify().await?;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    Ok(())
}

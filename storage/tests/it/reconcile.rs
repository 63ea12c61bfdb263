//! Reconcile repairs index files that were deleted, corrupted, left stale, or never written
//! because of a crash between the database commit and the file write.

use rusqlite::params;

use crate::support::{TestResult, admin, fresh, open, sha256, upload};

#[tokio::test]
async fn deleted_corrupted_and_stale_files_are_rebuilt() -> TestResult {
    let (_dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    let old = storage.publish(&alice, upload("stale", "1.0.0")).await?;
    storage.publish(&alice, upload("stale", "1.1.0")).await?;
    storage.publish(&alice, upload("gone", "1.0.0")).await?;
    storage.publish(&alice, upload("junk", "1.0.0")).await?;
    storage.publish(&alice, upload("intact", "1.0.0")).await?;
    let expected = storage.all_index_files().await?;
    storage.settle().await;

    let index = storage.data_dir().join("index");
    std::fs::write(index.join("st/al/stale"), &old.index_file.bytes)?;
    std::fs::remove_file(index.join("go/ne/gone"))?;
    std::fs::write(index.join("ju/nk/junk"), b"{not json\n")?;

    let problems = storage.verify().await?.problems;
    assert_eq!(problems.len(), 3, "{problems:?}");
    let report = storage.reconcile().await?;
    assert_eq!(report.checked, 4);
    assert_eq!(report.rebuilt, vec!["gone", "junk", "stale"]);
    for file in &expected {
        assert_eq!(std::fs::read(index.join(&file.path))?, file.bytes);
    }
    assert!(storage.verify().await?.problems.is_empty());
    assert!(storage.reconcile().await?.rebuilt.is_empty());
    Ok(())
}

/// Writes a version row and its event straight into the database, as if the process had
/// crashed right after the commit and before the index file write.
fn commit_without_projection(db: &std::path::Path, version: &str) -> TestResult {
    let conn = rusqlite::Connection::open(db)?;
    let (package_id, user_id): (i64, i64) = conn.query_row(
        "SELECT p.id, o.user_id FROM packages p JOIN owners o ON o.package_id = p.id
         WHERE p.name = 'crashy'",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let cksum = sha256(version.as_bytes());
    let line = format!(
        r#"{{"name":"crashy","vers":"{version}","deps":[],"cksum":"{cksum}","features":{{}},"yanked":false,"links":null}}"#
    );
    conn.execute(
        "INSERT INTO versions (package_id, version, version_key, line, cksum, yanked, pubtime, metadata, publisher_id)
         VALUES (?1, ?2, ?2, ?3, ?4, 0, 0, '{}', ?5)",
        params![package_id, version, line, cksum, user_id],
    )?;
    conn.execute(
        "INSERT INTO events (kind, package_id, version, actor, time, payload)
         VALUES ('release', ?1, ?2, 'alice', 0, '{}')",
        params![package_id, version],
    )?;
    Ok(())
}

#[tokio::test]
async fn a_log_ahead_of_its_projection_is_completed() -> TestResult {
    let (dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    storage.publish(&alice, upload("crashy", "1.0.0")).await?;
    let db = dir.path().join("wharf.db");

    // While running: verify sees the gap, reconcile closes it.
    commit_without_projection(&db, "1.1.0")?;
    let problems = storage.verify().await?.problems;
    // Written behind storage's back, the version also has no log leaf (until the next
    // write or start logs it).
    assert_eq!(problems.len(), 4, "{problems:?}");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("1 events have no log leaf"))
    );
    assert!(problems.iter().any(|p| p.contains("has no release leaf")));
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`cr/as/crashy` of `crashy` differs"))
    );
    assert!(problems.iter().any(|p| p.contains("has no blob")));
    let report = storage.reconcile().await?;
    assert_eq!(report.rebuilt, vec!["crashy"]);
    let file = std::fs::read_to_string(dir.path().join("index/cr/as/crashy"))?;
    assert_eq!(file.lines().count(), 2);
    assert!(
        file.lines()
            .nth(1)
            .unwrap_or_default()
            .contains(r#""vers":"1.1.0""#)
    );

    // After a "crash": reopening reconciles before serving.
    commit_without_projection(&db, "1.2.0")?;
    drop(storage);
    let reopened = open(dir.path()).await;
    let file = std::fs::read_to_string(dir.path().join("index/cr/as/crashy"))?;
    assert_eq!(file.lines().count(), 3);
    let snapshot = reopened.index_file("crashy").await?.expect("exists");
    assert_eq!(snapshot.bytes, file.as_bytes());
    assert_eq!(snapshot.seq, 3);
    // The start logged the hand-written events; the blobs of those versions are missing,
    // and verify says so.
    let problems = reopened.verify().await?.problems;
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems.iter().all(|p| p.contains("has no blob")),
        "{problems:?}"
    );
    Ok(())
}

#[tokio::test]
async fn orphan_blobs_are_harmless_and_tampered_blobs_are_reported() -> TestResult {
    let (dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    let published = storage.publish(&alice, upload("blobby", "1.0.0")).await?;

    // A crash between the blob put and the commit leaves an orphan blob: harmless.
    let orphan = b"uploaded but never committed";
    let cksum = sha256(orphan);
    let orphan_dir = dir
        .path()
        .join(format!("blobs/sha256/{}/{}", &cksum[..2], &cksum[2..4]));
    std::fs::create_dir_all(&orphan_dir)?;
    std::fs::write(orphan_dir.join(&cksum), orphan)?;
    let report = storage.verify().await?;
    assert_eq!(report.blobs, 2);
    assert!(report.problems.is_empty(), "{:?}", report.problems);

    let real = &published.entry.cksum;
    let path = dir.path().join(format!(
        "blobs/sha256/{}/{}/{real}",
        &real[..2],
        &real[2..4]
    ));
    std::fs::write(path, b"tampered")?;
    let problems = storage.verify().await?.problems;
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains(real.as_str()), "{problems:?}");
    Ok(())
}

#[tokio::test]
async fn verify_reports_stored_lines_cargo_would_refuse() -> TestResult {
    let (dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    storage.publish(&alice, upload("strict", "1.0.0")).await?;
    assert!(storage.verify().await?.problems.is_empty());
    let conn = rusqlite::Connection::open(dir.path().join("wharf.db"))?;
    conn.execute(
        r#"UPDATE versions SET line = replace(line, '"features":{"std":[]}', '"features":null')"#,
        [],
    )?;
    let problems = storage.verify().await?.problems;
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`strict`") && p.contains("round-trip")),
        "{problems:?}"
    );
    Ok(())
}

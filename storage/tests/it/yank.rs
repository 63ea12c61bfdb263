//! Yank and unyank: scopes, ownership, idempotence, and that only `yanked` changes.

use wharf_storage::{EventKind, Scope, StorageError};

use crate::support::{TestResult, admin, fresh, principal, upload};

#[tokio::test]
async fn yank_flips_only_the_flag_and_always_logs() -> TestResult {
    let (_dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    let first = storage
        .publish(&alice, upload("yanky", "1.0.0+meta"))
        .await?;
    let second = storage.publish(&alice, upload("yanky", "1.1.0")).await?;
    let original = first.entry.to_line();

    // The version without build metadata finds `1.0.0+meta`.
    let snapshot = storage.set_yanked(&alice, "yanky", "1.0.0", true).await?;
    let text = String::from_utf8(snapshot.bytes.to_vec())?;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        original.replace(r#""yanked":false"#, r#""yanked":true"#)
    );
    assert_eq!(lines[1], second.entry.to_line());
    let on_disk = std::fs::read(storage.data_dir().join("index/ya/nk/yanky"))?;
    assert_eq!(on_disk, snapshot.bytes);

    // Yanking again changes nothing in the file but is still logged.
    let again = storage
        .set_yanked(&alice, "yanky", "1.0.0+meta", true)
        .await?;
    assert_eq!(again.bytes, snapshot.bytes);
    assert!(again.seq > snapshot.seq);

    let restored = storage.set_yanked(&alice, "YANKY", "1.0.0", false).await?;
    assert_eq!(restored.bytes, second.index_file.bytes);

    let kinds: Vec<EventKind> = storage
        .events(2, 10)?
        .into_iter()
        .map(|event| event.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![EventKind::Yank, EventKind::Yank, EventKind::Unyank]
    );
    assert_eq!(
        storage.events(2, 1)?[0].version.as_deref(),
        Some("1.0.0+meta")
    );
    // Downloads still work for yanked versions.
    assert!(storage.version_cksum("yanky", "1.0.0").await?.is_some());
    Ok(())
}

#[tokio::test]
async fn yank_needs_scope_ownership_and_an_existing_version() -> TestResult {
    let (_dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    storage.publish(&alice, upload("guarded", "1.0.0")).await?;

    let no_scope = principal(&storage, "alice", &[Scope::PublishUpdate], &[]);
    assert!(matches!(
        storage.set_yanked(&no_scope, "guarded", "1.0.0", true).await,
        Err(StorageError::MissingScope { scope }) if scope == Scope::Yank
    ));
    let stranger = admin(&storage, "eve");
    assert!(matches!(
        storage.set_yanked(&stranger, "guarded", "1.0.0", true).await,
        Err(StorageError::NotOwner { login, .. }) if login == "eve"
    ));
    assert!(matches!(
        storage.set_yanked(&alice, "guarded", "9.9.9", true).await,
        Err(StorageError::UnknownVersion { version, .. }) if version == "9.9.9"
    ));
    assert!(matches!(
        storage.set_yanked(&alice, "missing", "1.0.0", true).await,
        Err(StorageError::UnknownPackage { name }) if name == "missing"
    ));
    assert_eq!(storage.events(0, 100)?.len(), 1, "refusals are not logged");
    Ok(())
}

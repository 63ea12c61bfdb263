//! Publish rules: ownership, scopes, name patterns, canonical clashes, duplicates, checksums.

use wharf_index_format::MAX_VERSION_LEN;
use wharf_storage::{ErrorKind, EventKind, Scope, StorageError};

use crate::support::{
    TestResult, admin, fresh, observe, principal, sha256, tarball, upload, upload_bytes,
};

#[tokio::test]
async fn first_publish_creates_the_package_and_its_owner() -> TestResult {
    let (_dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    let published = storage.publish(&alice, upload("Demo-Pkg", "1.0.0")).await?;

    assert!(published.created_package);
    assert_eq!(published.seq, 1);
    let pubtime = published.entry.pubtime.expect("storage sets pubtime");
    assert_eq!(pubtime.to_string().len(), 20);
    let line = published.entry.to_line();
    assert_eq!(published.index_file.bytes, format!("{line}\n").as_bytes());
    assert_eq!(published.index_file.path, "de/mo/demo-pkg");
    assert_eq!(published.index_file.name, "Demo-Pkg");
    assert_eq!(published.index_file.seq, 1);

    storage.settle().await;
    let on_disk = std::fs::read(storage.data_dir().join("index/de/mo/demo-pkg"))?;
    assert_eq!(on_disk, published.index_file.bytes);
    let cksum = sha256(&tarball("Demo-Pkg", "1.0.0"));
    assert_eq!(published.entry.cksum, cksum);
    let blob_path = storage.data_dir().join(format!(
        "blobs/sha256/{}/{}/{cksum}",
        &cksum[..2],
        &cksum[2..4]
    ));
    assert_eq!(std::fs::read(blob_path)?, tarball("Demo-Pkg", "1.0.0"));
    assert_eq!(
        storage.blob(&cksum).await?,
        Some(tarball("Demo-Pkg", "1.0.0"))
    );

    let owners = storage.owners("demo_pkg").await?;
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0].login, "alice");
    let events = storage.events(0, 10)?;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::Release);
    assert_eq!(events[0].package, "Demo-Pkg");
    assert_eq!(events[0].version.as_deref(), Some("1.0.0"));
    assert_eq!(events[0].actor, "alice");
    assert_eq!(events[0].payload["cksum"], cksum.as_str());

    let second = storage.publish(&alice, upload("Demo-Pkg", "1.1.0")).await?;
    assert!(!second.created_package);
    let text = String::from_utf8(second.index_file.bytes.to_vec())?;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines, vec![line.as_str(), second.entry.to_line().as_str()]);
    assert!(storage.verify().await?.problems.is_empty());
    Ok(())
}

#[tokio::test]
async fn scopes_and_name_patterns_are_enforced() -> TestResult {
    let (_dir, storage) = fresh().await;
    let updater = principal(&storage, "carol", &[Scope::PublishUpdate], &[]);
    let refused = storage.publish(&updater, upload("newpkg", "1.0.0")).await;
    assert!(matches!(
        &refused,
        Err(StorageError::MissingScope { scope }) if *scope == Scope::PublishNew
    ));
    assert_eq!(refused.unwrap_err().kind(), ErrorKind::Forbidden);

    let acme = principal(&storage, "dora", &[Scope::PublishNew], &["acme-*"]);
    storage.publish(&acme, upload("acme_http", "1.0.0")).await?;
    let refused = storage.publish(&acme, upload("other", "1.0.0")).await;
    assert!(matches!(
        refused,
        Err(StorageError::NameNotAllowed { name, patterns }) if name == "other" && patterns == ["acme-*"]
    ));
    // Only publish-new: later versions need publish-update too.
    let refused = storage.publish(&acme, upload("acme_http", "1.1.0")).await;
    assert!(matches!(
        refused,
        Err(StorageError::MissingScope { scope }) if scope == Scope::PublishUpdate
    ));
    Ok(())
}

#[tokio::test]
async fn only_owners_publish_new_versions() -> TestResult {
    let (_dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    let mallory = admin(&storage, "mallory");
    storage.publish(&alice, upload("widget", "1.0.0")).await?;
    let before = observe(&storage).await;
    let refused = storage.publish(&mallory, upload("widget", "2.0.0")).await;
    assert!(matches!(
        &refused,
        Err(StorageError::NotOwner { login, name }) if login == "mallory" && name == "widget"
    ));
    assert_eq!(
        observe(&storage).await,
        before,
        "a refused publish leaves no trace"
    );
    Ok(())
}

#[tokio::test]
async fn canonical_name_clashes_are_refused() -> TestResult {
    let (_dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    storage.publish(&alice, upload("foo-bar", "1.0.0")).await?;
    for clash in ["foo_bar", "Foo-Bar", "FOO_BAR"] {
        let refused = storage.publish(&alice, upload(clash, "2.0.0")).await;
        assert!(
            matches!(&refused, Err(StorageError::NameTaken { name, existing }) if name == clash && existing == "foo-bar"),
            "{clash}: {refused:?}"
        );
        assert_eq!(refused.unwrap_err().kind(), ErrorKind::Conflict);
    }
    Ok(())
}

#[tokio::test]
async fn duplicate_versions_leave_everything_unchanged() -> TestResult {
    let (_dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    storage
        .publish(&alice, upload("dup", "1.0.0+first"))
        .await?;
    let before = observe(&storage).await;

    for version in ["1.0.0+first", "1.0.0", "1.0.0+second"] {
        let other_bytes = bytes::Bytes::from(format!("different bytes for {version}"));
        let cksum = sha256(&other_bytes);
        let refused = storage
            .publish(&alice, upload_bytes("dup", version, other_bytes))
            .await;
        let error = refused.expect_err("duplicate refused");
        assert!(
            matches!(&error, StorageError::DuplicateVersion { name, version: v } if name == "dup" && v == version),
            "{error:?}"
        );
        assert!(error.to_string().contains("already published"));
        assert_eq!(
            storage.blob(&cksum).await?,
            None,
            "no blob for a refused upload"
        );
    }
    assert_eq!(observe(&storage).await, before);
    assert_eq!(
        storage.version_cksum("dup", "1.0.0").await?,
        Some(sha256(&tarball("dup", "1.0.0+first")))
    );
    Ok(())
}

#[tokio::test]
async fn bad_uploads_are_rejected_before_anything_is_written() -> TestResult {
    let (_dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    let before = observe(&storage).await;

    let mut wrong_sum = upload("good", "1.0.0");
    wrong_sum.entry.cksum = sha256(b"something else");
    let error = storage.publish(&alice, wrong_sum).await.unwrap_err();
    assert!(matches!(error, StorageError::ChecksumMismatch));
    assert_eq!(error.kind(), ErrorKind::BadRequest);

    let error = storage
        .publish(&alice, upload("1bad", "1.0.0"))
        .await
        .unwrap_err();
    assert!(matches!(error, StorageError::InvalidName(_)), "{error:?}");
    assert_eq!(error.kind(), ErrorKind::BadRequest);

    // The version-length rule of a publish body holds for any upload.
    let longest = format!("1.0.0+{}", "a".repeat(MAX_VERSION_LEN - 6));
    let too_long = format!("{longest}b");
    let error = storage
        .publish(&alice, upload("good", &too_long))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BadRequest);
    assert!(
        error.to_string().contains(&format!(
            "it is {} characters long; the limit is {MAX_VERSION_LEN}",
            MAX_VERSION_LEN + 1
        )),
        "{error}"
    );

    let mut future = upload("good", "1.0.0");
    future.entry.v = Some(3);
    let error = storage.publish(&alice, future).await.unwrap_err();
    assert!(
        matches!(error, StorageError::InvalidUpload { .. }),
        "{error:?}"
    );

    assert_eq!(observe(&storage).await, before);
    Ok(())
}

#[tokio::test]
async fn published_lines_are_never_yanked_and_blobs_are_idempotent() -> TestResult {
    let (_dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    let mut pre_yanked = upload("fresh", "0.1.0");
    pre_yanked.entry.yanked = true;
    let published = storage.publish(&alice, pre_yanked).await?;
    assert!(!published.entry.yanked);
    // Same bytes under another version: the blob is simply written again.
    let same_bytes = upload_bytes("fresh", "0.2.0", tarball("fresh", "0.1.0"));
    storage.publish(&alice, same_bytes).await?;
    let report = storage.verify().await?;
    assert_eq!(report.blobs, 1);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    Ok(())
}

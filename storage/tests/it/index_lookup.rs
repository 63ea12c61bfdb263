//! Reads: index file lookup by URL name, download checksums, search.

use crate::support::{TestResult, admin, fresh, upload};

#[tokio::test]
async fn index_files_are_found_by_lowercase_name_without_folding_separators() -> TestResult {
    let (_dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    storage.publish(&alice, upload("Ea-Case", "1.0.0")).await?;
    storage.publish(&alice, upload("ab", "1.0.0")).await?;

    let found = storage
        .index_file("ea-case")
        .await?
        .expect("lowercase finds it");
    assert_eq!(found.name, "Ea-Case");
    assert_eq!(found.path, "ea/-c/ea-case");
    assert!(storage.index_file("EA-CASE").await?.is_some());
    assert!(
        storage.index_file("ea_case").await?.is_none(),
        "`_` is another file"
    );
    assert!(storage.index_file("nothing").await?.is_none());

    let all = storage.all_index_files().await?;
    let names: Vec<&str> = all.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, vec!["Ea-Case", "ab"]);
    Ok(())
}

#[tokio::test]
async fn version_checksums_match_exactly_or_without_build_metadata() -> TestResult {
    let (_dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    let built = storage
        .publish(&alice, upload("meta", "1.0.0+git.abc"))
        .await?;
    let plain = storage.publish(&alice, upload("meta", "2.0.0")).await?;
    assert_eq!(
        storage.version_cksum("meta", "1.0.0+git.abc").await?,
        Some(built.entry.cksum.clone())
    );
    assert_eq!(
        storage.version_cksum("meta", "1.0.0").await?,
        Some(built.entry.cksum)
    );
    assert_eq!(storage.version_cksum("meta", "1.0.0+other").await?, None);
    assert_eq!(
        storage.version_cksum("meta", "2.0.0").await?,
        Some(plain.entry.cksum)
    );
    assert_eq!(storage.version_cksum("meta", "3.0.0").await?, None);
    assert_eq!(storage.version_cksum("nope", "1.0.0").await?, None);
    Ok(())
}

#[tokio::test]
async fn search_ranks_exact_names_first_and_counts_every_match() -> TestResult {
    let (_dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    for name in [
        "sync-tool",
        "sync_tool_extra",
        "Sync",
        "unrelated",
        "asyncy",
    ] {
        storage.publish(&alice, upload(name, "1.0.0")).await?;
    }
    storage.publish(&alice, upload("Sync", "2.0.0")).await?;
    storage.set_yanked(&alice, "Sync", "2.0.0", true).await?;
    let mut described = upload("plain", "0.1.0");
    described.metadata.description = Some("Data SYNC helpers".into());
    storage.publish(&alice, described).await?;

    let results = storage.search("SYNC", 3).await?;
    assert_eq!(results.total, 5);
    let names: Vec<&str> = results.hits.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, vec!["Sync", "asyncy", "sync-tool"]);
    assert_eq!(results.hits[0].max_version, "1.0.0", "2.0.0 is yanked");
    assert_eq!(
        results.hits[0].description.as_deref(),
        Some("The Sync package")
    );

    let folded = storage.search("sync_tool", 10).await?;
    let names: Vec<&str> = folded.hits.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, vec!["sync-tool", "sync_tool_extra"]);
    assert_eq!(storage.search("data sync", 10).await?.hits[0].name, "plain");
    assert_eq!(storage.search("zzz", 10).await?.total, 0);

    storage.set_yanked(&alice, "Sync", "1.0.0", true).await?;
    let all_yanked = storage.search("sync", 1).await?;
    assert_eq!(all_yanked.hits[0].max_version, "2.0.0");
    Ok(())
}

//! The catalogue through `Storage` on SQLite: download counting and the downloads sort, with
//! a plugin published as `wharf plugin publish` does. Search, pages, reviews, install
//! reports, recommendations and web sessions run on both engines in the crate's own tests
//! (`catalogue_tests.rs`, `marketplace_tests.rs`); `postgres.rs` runs them through `Storage`
//! on PostgreSQL.

use wharf_index_format::{Capabilities, PluginInfo, PluginKind};
use wharf_storage::{CatalogueQuery, CatalogueSort, CountedDownload, Storage, StorageError};

use crate::support::{TestResult, admin, fresh, upload};

/// A result carrying a value.
type Outcome<T> = Result<T, Box<dyn std::error::Error>>;

fn query(text: &str) -> CatalogueQuery {
    CatalogueQuery {
        text: text.to_owned(),
        ..CatalogueQuery::default()
    }
}

async fn names(storage: &Storage, query: CatalogueQuery) -> Outcome<Vec<String>> {
    let page = storage.catalogue_search(query).await?;
    Ok(page.hits.into_iter().map(|hit| hit.name).collect())
}

/// Publishes a small catalogue: crates and a plugin with keywords, categories and READMEs.
async fn catalogue() -> Outcome<(tempfile::TempDir, Storage)> {
    let (dir, storage) = fresh().await;
    let who = admin(&storage, "alice");
    let describe =
        |name: &str, version: &str, description: &str, keywords: &[&str], readme: &str| {
            let mut up = upload(name, version);
            up.metadata.description = Some(description.to_owned());
            up.metadata.keywords = keywords.iter().map(|k| (*k).to_owned()).collect();
            up.metadata.categories = vec!["network-programming".to_owned()];
            up.metadata.readme = Some(readme.to_owned());
            up
        };
    storage
        .publish(
            &who,
            describe(
                "retry",
                "1.0.0",
                "Retry with back-off",
                &["retry"],
                "# retry",
            ),
        )
        .await?;
    storage
        .publish(
            &who,
            describe(
                "http-retry",
                "0.3.0",
                "HTTP middleware",
                &["http"],
                "Uses retry and back-off.",
            ),
        )
        .await?;
    storage
        .publish(
            &who,
            describe(
                "backoff-timer",
                "2.0.0",
                "Timers",
                &["timer"],
                "Also mentions retry once.",
            ),
        )
        .await?;
    let mut plugin = describe("mailer", "1.0.0", "Sends mail", &["email"], "SMTP plugin");
    plugin.metadata.plugin = Some(PluginInfo {
        kind: PluginKind::Plugin,
        capabilities: Capabilities {
            network: vec!["smtp.example.com:465".to_owned()],
            ..Capabilities::default()
        },
        entry: "main.wat".to_owned(),
        host_api: "^2".to_owned(),
        min_host_version: None,
        template: None,
    });
    storage.publish(&who, plugin).await?;
    Ok((dir, storage))
}

#[tokio::test]
async fn downloads_are_counted_per_version_and_day_and_sort_the_catalogue() -> TestResult {
    let (_dir, storage) = catalogue().await?;
    let page = storage.package_page("mailer").await?;
    assert_eq!(page.downloads, 0);
    let line = storage.index_file("mailer").await?.expect("an index file");
    let entry: serde_json::Value = serde_json::from_slice(line.bytes.trim_ascii_end())?;
    let cksum = entry["cksum"].as_str().ok_or("cksum")?.to_owned();
    let now = wharf_index_format::Pubtime::now().unix();
    let batch = vec![
        CountedDownload {
            cksum: cksum.clone(),
            at: now,
            user_id: None,
        },
        CountedDownload {
            cksum: cksum.clone(),
            at: now - 86_400,
            user_id: None,
        },
        CountedDownload {
            cksum: "0".repeat(64),
            at: now,
            user_id: None,
        },
    ];
    storage.record_downloads(batch).await?;
    let stats = storage.download_stats("mailer").await?;
    assert_eq!(stats.total, 2, "the unknown blob is skipped");
    assert_eq!(stats.daily.len(), 90);
    assert_eq!(stats.daily[89].downloads, 1);
    assert_eq!(stats.daily[88].downloads, 1);
    let popular = CatalogueQuery {
        sort: CatalogueSort::Downloads,
        limit: Some(1),
        ..CatalogueQuery::default()
    };
    assert_eq!(names(&storage, popular).await?, ["mailer"]);
    // The plugin publish recorded its kind in the catalogue.
    let found = storage.catalogue_search(query("smtp")).await?;
    let kinds: Vec<(&str, &str)> = found
        .hits
        .iter()
        .map(|hit| (hit.name.as_str(), hit.kind.as_str()))
        .collect();
    assert_eq!(kinds, [("mailer", "plugin")]);
    assert!(matches!(
        storage.download_stats("nothing").await,
        Err(StorageError::UnknownPackage { .. })
    ));
    Ok(())
}

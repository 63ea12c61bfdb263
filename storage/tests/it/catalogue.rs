//! The catalogue in storage: the FTS5 search with its filters and sorts, package pages,
//! download counting, and reviews with every refusal leaving the database unchanged.

use wharf_index_format::{Capabilities, PluginInfo, PluginKind};
use wharf_storage::{
    CatalogueQuery, CatalogueSort, CountedDownload, ReviewInput, Storage, StorageError,
};

use crate::support::{TestResult, admin, fresh, observe, upload};

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
async fn search_ranks_an_exact_name_first_and_filters_by_kind_tag_and_capability() -> TestResult {
    let (_dir, storage) = catalogue().await?;
    let found = names(&storage, query("retry")).await?;
    assert_eq!(
        found.first().map(String::as_str),
        Some("retry"),
        "{found:?}"
    );
    assert_eq!(
        found.len(),
        3,
        "name, README and description matches: {found:?}"
    );
    // A word prefix matches; names split on `-`.
    assert_eq!(names(&storage, query("back")).await?.len(), 3);
    assert_eq!(names(&storage, query("smtp")).await?, ["mailer"]);
    let plugins = CatalogueQuery {
        kind: Some("plugin".to_owned()),
        ..CatalogueQuery::default()
    };
    assert_eq!(names(&storage, plugins).await?, ["mailer"]);
    let keyword = CatalogueQuery {
        keyword: Some("HTTP".to_owned()),
        ..CatalogueQuery::default()
    };
    assert_eq!(names(&storage, keyword).await?, ["http-retry"]);
    let network = CatalogueQuery {
        capability: Some("network".to_owned()),
        ..CatalogueQuery::default()
    };
    assert_eq!(names(&storage, network).await?, ["mailer"]);
    let category = CatalogueQuery {
        category: Some("network-programming".to_owned()),
        limit: Some(2),
        offset: 1,
        ..CatalogueQuery::default()
    };
    let page = storage.catalogue_search(category).await?;
    assert_eq!(page.total, 4);
    assert_eq!(page.hits.len(), 2);
    let recent = CatalogueQuery {
        sort: CatalogueSort::Recent,
        ..CatalogueQuery::default()
    };
    assert_eq!(names(&storage, recent).await?.len(), 4);
    Ok(())
}

#[tokio::test]
async fn fully_yanked_packages_are_left_out_unless_asked_for() -> TestResult {
    let (_dir, storage) = catalogue().await?;
    let who = admin(&storage, "alice");
    storage
        .set_yanked(&who, "http-retry", "0.3.0", true)
        .await?;
    let found = names(&storage, query("retry")).await?;
    assert_eq!(found, ["retry", "backoff-timer"], "{found:?}");
    let with_yanked = CatalogueQuery {
        include_yanked: true,
        ..query("retry")
    };
    assert_eq!(names(&storage, with_yanked).await?.len(), 3);
    // A package with one version left unyanked stays listed; unyanking brings it back.
    storage
        .set_yanked(&who, "http-retry", "0.3.0", false)
        .await?;
    assert_eq!(names(&storage, query("retry")).await?.len(), 3);
    Ok(())
}

/// The total of a one-result page (counted) and the number of results of the whole list
/// (no count needed), which must agree.
async fn counted_and_listed(storage: &Storage, query: CatalogueQuery) -> Outcome<(u64, usize)> {
    let counted = storage
        .catalogue_search(CatalogueQuery {
            limit: Some(1),
            ..query.clone()
        })
        .await?
        .total;
    let listed = storage.catalogue_search(query).await?;
    assert_eq!(listed.total, u64::try_from(listed.hits.len())?);
    Ok((counted, listed.hits.len()))
}

#[tokio::test]
async fn search_counts_stay_right_while_packages_are_fully_yanked_and_released_again() -> TestResult
{
    let (_dir, storage) = catalogue().await?;
    let who = admin(&storage, "alice");
    let with_yanked = |text: &str| CatalogueQuery {
        include_yanked: true,
        ..query(text)
    };
    assert_eq!(counted_and_listed(&storage, query("retry")).await?, (3, 3));
    storage
        .set_yanked(&who, "http-retry", "0.3.0", true)
        .await?;
    // The fully-yanked package is left out of the count, on every page and for every word.
    assert_eq!(counted_and_listed(&storage, query("retry")).await?, (2, 2));
    assert_eq!(counted_and_listed(&storage, query("http")).await?, (0, 0));
    assert_eq!(counted_and_listed(&storage, query("back")).await?, (2, 2));
    assert_eq!(
        counted_and_listed(&storage, with_yanked("retry")).await?,
        (3, 3)
    );
    let second = storage
        .catalogue_search(CatalogueQuery {
            offset: 1,
            limit: Some(1),
            ..query("retry")
        })
        .await?;
    assert_eq!((second.total, second.hits.len()), (2, 1));
    // Unyanking counts it again; a new release of a fully-yanked package does too.
    storage
        .set_yanked(&who, "http-retry", "0.3.0", false)
        .await?;
    assert_eq!(counted_and_listed(&storage, query("retry")).await?, (3, 3));
    storage
        .set_yanked(&who, "http-retry", "0.3.0", true)
        .await?;
    storage
        .set_yanked(&who, "backoff-timer", "2.0.0", true)
        .await?;
    assert_eq!(counted_and_listed(&storage, query("retry")).await?, (1, 1));
    let mut next = upload("http-retry", "0.4.0");
    next.metadata.description = Some("HTTP retry middleware".to_owned());
    storage.publish(&who, next).await?;
    assert_eq!(counted_and_listed(&storage, query("retry")).await?, (2, 2));
    assert_eq!(counted_and_listed(&storage, query("http")).await?, (1, 1));
    assert_eq!(
        counted_and_listed(&storage, with_yanked("retry")).await?,
        (3, 3)
    );
    Ok(())
}

#[tokio::test]
async fn pages_of_a_ranked_search_follow_each_other_with_the_exact_name_first() -> TestResult {
    let (_dir, storage) = catalogue().await?;
    let all = names(&storage, query("retry")).await?;
    let mut paged = Vec::new();
    for offset in 0..all.len() {
        let page = storage
            .catalogue_search(CatalogueQuery {
                offset,
                limit: Some(1),
                ..query("retry")
            })
            .await?;
        assert_eq!(page.total, 3);
        paged.extend(page.hits.into_iter().map(|hit| hit.name));
    }
    assert_eq!(paged, all);
    assert_eq!(all.first().map(String::as_str), Some("retry"));
    Ok(())
}

#[tokio::test]
async fn a_plugins_host_api_requirement_is_no_reverse_dependency() -> TestResult {
    let (_dir, storage) = catalogue().await?;
    let who = admin(&storage, "alice");
    // A crate published under the host API's name, which a crate and the plugin depend on.
    storage.publish(&who, upload("host-api", "2.0.0")).await?;
    let mut user = upload("host-sdk-user", "1.0.0");
    user.entry
        .deps
        .push(wharf_test_support::dep("host-api", "^2"));
    storage.publish(&who, user).await?;
    let mut plugin = upload("mailer", "1.1.0");
    plugin
        .entry
        .deps
        .push(wharf_test_support::dep("host-api", "^2"));
    plugin.metadata.plugin = Some(PluginInfo {
        kind: PluginKind::Plugin,
        capabilities: Capabilities::default(),
        entry: "main.wat".to_owned(),
        host_api: "^2".to_owned(),
        min_host_version: None,
        template: None,
    });
    storage.publish(&who, plugin).await?;
    let page = storage.package_page("host-api").await?;
    assert_eq!(page.reverse_dependencies, ["host-sdk-user"]);
    Ok(())
}

#[tokio::test]
async fn a_new_release_replaces_the_searchable_text_of_the_old_one() -> TestResult {
    let (_dir, storage) = catalogue().await?;
    let who = admin(&storage, "alice");
    let mut next = upload("backoff-timer", "2.1.0");
    next.metadata.description = Some("Clocks".to_owned());
    storage.publish(&who, next).await?;
    assert!(
        !names(&storage, query("retry"))
            .await?
            .contains(&"backoff-timer".to_owned())
    );
    assert_eq!(names(&storage, query("clocks")).await?, ["backoff-timer"]);
    let page = storage.package_page("Backoff_Timer").await?;
    assert_eq!(page.latest, "2.1.0");
    assert_eq!(page.versions.len(), 2);
    assert_eq!(page.versions[0].version, "2.1.0", "newest first");
    Ok(())
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
    assert!(matches!(
        storage.download_stats("nothing").await,
        Err(StorageError::UnknownPackage { .. })
    ));
    Ok(())
}

#[tokio::test]
async fn reviews_are_kept_once_per_user_and_refusals_change_nothing() -> TestResult {
    let (_dir, storage) = catalogue().await?;
    let owner = admin(&storage, "alice");
    let bob = admin(&storage, "bob");
    let review = |rating: i64, body: Option<&str>, version: Option<&str>| ReviewInput {
        rating,
        body: body.map(str::to_owned),
        version: version.map(str::to_owned),
    };
    let first = storage
        .save_review(&bob, "retry", review(3, Some("ok"), None))
        .await?;
    assert_eq!(first.version, "1.0.0");
    let edited = storage
        .save_review(&bob, "RETRY", review(4, None, Some("1.0.0")))
        .await?;
    assert_eq!(edited.id, first.id);
    assert_eq!(edited.body, None);

    let admin_user = admin(&storage, "admin");
    let before = (
        observe(&storage).await,
        storage.reviews("retry", Some(&admin_user)).await?,
        storage.reviews("mailer", Some(&admin_user)).await?,
    );
    for (input, name) in [
        (review(0, None, None), "retry"),
        (review(3, Some(&"x".repeat(5_001)), None), "retry"),
        (review(3, None, Some("4.0.0")), "retry"),
        (review(3, None, None), "missing"),
    ] {
        let error = storage.save_review(&bob, name, input).await.unwrap_err();
        assert!(!error.to_string().is_empty());
    }
    assert!(matches!(
        storage
            .reply_to_review(&bob, "retry", first.id, "mine")
            .await,
        Err(StorageError::NotOwner { .. })
    ));
    assert!(matches!(
        storage.hide_review(&owner, "retry", first.id, "spam").await,
        Err(StorageError::NotPermitted { .. })
    ));
    assert!(matches!(
        storage
            .report_review(&owner, "mailer", first.id, "wrong package")
            .await,
        Err(StorageError::UnknownReview { .. })
    ));
    let after = (
        observe(&storage).await,
        storage.reviews("retry", Some(&admin_user)).await?,
        storage.reviews("mailer", Some(&admin_user)).await?,
    );
    assert!(after == before, "a refusal changed something");

    let replied = storage
        .reply_to_review(&owner, "retry", first.id, "Thanks")
        .await?;
    assert_eq!(replied.reply.map(|r| r.author), Some("alice".to_owned()));
    storage
        .hide_review(&admin_user, "retry", first.id, "off topic")
        .await?;
    assert!(storage.reviews("retry", None).await?.is_empty());
    let seen = storage.reviews("retry", Some(&admin_user)).await?;
    assert_eq!(
        seen[0].hidden.as_ref().map(|h| h.reason.as_str()),
        Some("off topic")
    );
    Ok(())
}

//! The catalogue on both engines (`on_both_engines!`, as `metadata_tests.rs`): search with
//! its relevance tiers, filters, sorts, counts and pages; fully-yanked packages; package
//! pages. Plugin facts are recorded as a plugin publish records them (a `plugin_versions`
//! row beside the version), which fires the same catalogue trigger on either engine.

use wharf_index_format::{Capabilities, IndexEntry, PackageMetadata, PluginInfo, PluginKind};
use wharf_test_support::{dep, pkg};

use crate::catalogue::{CataloguePage, CatalogueQuery, CatalogueSort};
use crate::metadata::MetadataStore;
use crate::metadata_tests::{TestDatabase, on_both_engines, open, postgres, sqlite, user};
use crate::sql::args;
use crate::{Principal, catalogue_page, catalogue_search, queries};

on_both_engines!(
    search_ranks_an_exact_name_first_and_filters_by_kind_tag_and_capability,
    relevance_puts_name_matches_before_description_and_readme_matches,
    fully_yanked_packages_are_left_out_unless_asked_for,
    search_counts_stay_right_while_packages_are_fully_yanked_and_released_again,
    pages_of_a_ranked_search_follow_each_other_with_the_exact_name_first,
    a_new_release_replaces_the_searchable_text_of_the_old_one,
    package_pages_show_versions_readme_dependencies_and_dependents,
    a_plugins_host_api_requirement_is_no_reverse_dependency,
);

/// A release with a description, keywords, one category, a README and dependencies.
pub(crate) struct Release<'a> {
    pub(crate) name: &'a str,
    pub(crate) version: &'a str,
    pub(crate) description: &'a str,
    pub(crate) keywords: &'a [&'a str],
    pub(crate) categories: &'a [&'a str],
    pub(crate) readme: &'a str,
    pub(crate) deps: &'a [&'a str],
}

impl Release<'_> {
    fn entry_and_metadata(&self) -> (IndexEntry, PackageMetadata) {
        let mut builder = pkg(self.name, self.version).cksum(&format!(
            "{:0>64}",
            format!("{}{}", self.name, self.version).len()
        ));
        for name in self.deps {
            builder = builder.with(dep(name, "*"));
        }
        let strings = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect();
        let metadata = PackageMetadata {
            description: Some(self.description.to_owned()),
            keywords: strings(self.keywords),
            categories: strings(self.categories),
            readme: (!self.readme.is_empty()).then(|| self.readme.to_owned()),
            ..PackageMetadata::default()
        };
        (builder.entry(), metadata)
    }
}

/// Publishes `release` (unsigned).
pub(crate) async fn release(store: &MetadataStore, who: &Principal, release: &Release<'_>) {
    let (entry, metadata) = release.entry_and_metadata();
    store.publish(who.clone(), entry, metadata).await.unwrap();
}

/// Records `name` `version` as a plugin (or template) with `info`, as a plugin publish does.
pub(crate) async fn record_plugin(
    store: &MetadataStore,
    name: &str,
    version: &str,
    info: &PluginInfo,
) {
    let json = serde_json::to_string(info).unwrap();
    let (name, version, kind) = (name.to_owned(), version.to_owned(), info.kind.as_str());
    store
        .write(move |conn| {
            let package = queries::require_package(conn, &name)?;
            let row = queries::find_version(conn, package.id, &version)?.unwrap();
            conn.exec(
                "INSERT INTO plugin_versions (version_id, kind, info) VALUES (?1, ?2, ?3)",
                args![row.id, kind, json],
            )?;
            Ok(())
        })
        .await
        .unwrap();
}

/// Plugin facts with a host API requirement and network access when `network` is given.
pub(crate) fn plugin_info(kind: PluginKind, host_api: &str, network: Option<&str>) -> PluginInfo {
    PluginInfo {
        kind,
        capabilities: Capabilities {
            network: network.map(|n| vec![n.to_owned()]).unwrap_or_default(),
            ..Capabilities::default()
        },
        entry: "main.wat".to_owned(),
        host_api: host_api.to_owned(),
        min_host_version: None,
        template: None,
    }
}

fn query(text: &str) -> CatalogueQuery {
    CatalogueQuery {
        text: text.to_owned(),
        ..CatalogueQuery::default()
    }
}

async fn search(store: &MetadataStore, query: CatalogueQuery) -> CataloguePage {
    store
        .read(move |conn| catalogue_search::search(conn, &query))
        .await
        .unwrap()
}

async fn names(store: &MetadataStore, query: CatalogueQuery) -> Vec<String> {
    search(store, query)
        .await
        .hits
        .into_iter()
        .map(|hit| hit.name)
        .collect()
}

/// A small catalogue: three crates and a plugin with keywords, a category and READMEs.
async fn catalogue(store: &MetadataStore) -> Principal {
    let alice = user(store, "alice").await;
    let network = ["network-programming"];
    for (name, version, description, keywords, readme) in [
        (
            "retry",
            "1.0.0",
            "Retry with back-off",
            ["retry"],
            "# retry",
        ),
        (
            "http-retry",
            "0.3.0",
            "HTTP middleware",
            ["http"],
            "Uses retry and back-off.",
        ),
        (
            "backoff-timer",
            "2.0.0",
            "Timers",
            ["timer"],
            "Also mentions retry once.",
        ),
        ("mailer", "1.0.0", "Sends mail", ["email"], "SMTP plugin"),
    ] {
        let spec = Release {
            name,
            version,
            description,
            keywords: &keywords,
            categories: &network,
            readme,
            deps: &[],
        };
        release(store, &alice, &spec).await;
    }
    let info = plugin_info(PluginKind::Plugin, "^2", Some("smtp.example.com:465"));
    record_plugin(store, "mailer", "1.0.0", &info).await;
    alice
}

async fn search_ranks_an_exact_name_first_and_filters_by_kind_tag_and_capability(db: TestDatabase) {
    let store = open(&db).await;
    catalogue(&store).await;
    let found = names(&store, query("retry")).await;
    assert_eq!(found.len(), 3, "name, README and description: {found:?}");
    assert_eq!(found[0], "retry", "{found:?}");
    // A word prefix matches; names split on `-`.
    assert_eq!(names(&store, query("back")).await.len(), 3);
    assert_eq!(names(&store, query("smtp")).await, ["mailer"]);
    assert!(names(&store, query("nothing-like-it")).await.is_empty());
    let plugins = CatalogueQuery {
        kind: Some("plugin".to_owned()),
        ..CatalogueQuery::default()
    };
    assert_eq!(names(&store, plugins).await, ["mailer"]);
    let keyword = CatalogueQuery {
        keyword: Some("HTTP".to_owned()),
        ..CatalogueQuery::default()
    };
    assert_eq!(names(&store, keyword).await, ["http-retry"]);
    for (capability, expected) in [("network", vec!["mailer"]), ("storage", vec![])] {
        let filtered = CatalogueQuery {
            capability: Some(capability.to_owned()),
            ..CatalogueQuery::default()
        };
        assert_eq!(names(&store, filtered).await, expected, "{capability}");
    }
    let category = CatalogueQuery {
        category: Some("network-programming".to_owned()),
        limit: Some(2),
        offset: 1,
        ..CatalogueQuery::default()
    };
    let page = search(&store, category).await;
    assert_eq!(page.total, 4);
    assert_eq!(page.hits.len(), 2);
    // Without text, relevance lists by name.
    assert_eq!(
        names(&store, CatalogueQuery::default()).await,
        ["backoff-timer", "http-retry", "mailer", "retry"]
    );
    let recent = CatalogueQuery {
        sort: CatalogueSort::Recent,
        ..CatalogueQuery::default()
    };
    assert_eq!(names(&store, recent).await.len(), 4);
    let hit = &search(&store, query("mailer")).await.hits[0];
    assert_eq!(
        (hit.kind.as_str(), hit.keywords.as_slice()),
        ("plugin", ["email".to_owned()].as_slice())
    );
}

async fn relevance_puts_name_matches_before_description_and_readme_matches(db: TestDatabase) {
    let store = open(&db).await;
    let alice = user(&store, "alice").await;
    for (name, description, keywords, readme) in [
        ("store", "Key-value files", &[][..], "Works as a cache too."),
        ("lru", "An LRU cache", &[][..], ""),
        ("fastmap", "Hash maps", &["cache"][..], ""),
        ("cache-utils", "Helpers", &[][..], ""),
        ("cache", "The cache", &[][..], ""),
        ("unrelated", "Nothing here", &[][..], "Nothing either."),
    ] {
        let spec = Release {
            name,
            version: "1.0.0",
            description,
            keywords,
            categories: &[],
            readme,
            deps: &[],
        };
        release(&store, &alice, &spec).await;
    }
    let found = names(&store, query("Cache")).await;
    assert_eq!(found.len(), 5, "{found:?}");
    assert_eq!(&found[..2], ["cache", "cache-utils"], "{found:?}");
    let mut middle = found[2..4].to_vec();
    middle.sort();
    assert_eq!(middle, ["fastmap", "lru"], "{found:?}");
    assert_eq!(
        found[4], "store",
        "README-only matches come last: {found:?}"
    );
    // Every word must match; the exact name is not needed for the tiers.
    assert_eq!(names(&store, query("lru cache")).await, ["lru"]);
    let utils = names(&store, query("cache util")).await;
    assert_eq!(utils, ["cache-utils"]);
}

async fn fully_yanked_packages_are_left_out_unless_asked_for(db: TestDatabase) {
    let store = open(&db).await;
    let alice = catalogue(&store).await;
    store
        .set_yanked(alice.clone(), "http-retry", "0.3.0", true)
        .await
        .unwrap();
    let found = names(&store, query("retry")).await;
    assert_eq!(found, ["retry", "backoff-timer"], "{found:?}");
    let with_yanked = CatalogueQuery {
        include_yanked: true,
        ..query("retry")
    };
    assert_eq!(names(&store, with_yanked).await.len(), 3);
    store
        .set_yanked(alice, "http-retry", "0.3.0", false)
        .await
        .unwrap();
    assert_eq!(names(&store, query("retry")).await.len(), 3);
}

/// The total of a one-result page (counted) and the number of results of the whole list
/// (no count needed), which must agree.
async fn counted_and_listed(store: &MetadataStore, query: CatalogueQuery) -> (u64, usize) {
    let counted = search(
        store,
        CatalogueQuery {
            limit: Some(1),
            ..query.clone()
        },
    )
    .await
    .total;
    let listed = search(store, query).await;
    assert_eq!(listed.total, u64::try_from(listed.hits.len()).unwrap());
    (counted, listed.hits.len())
}

async fn search_counts_stay_right_while_packages_are_fully_yanked_and_released_again(
    db: TestDatabase,
) {
    let store = open(&db).await;
    let alice = catalogue(&store).await;
    let yank = |name: &'static str, version: &'static str, yanked: bool| {
        let (store, alice) = (&store, alice.clone());
        async move {
            store
                .set_yanked(alice, name, version, yanked)
                .await
                .unwrap();
        }
    };
    let with_yanked = |text: &str| CatalogueQuery {
        include_yanked: true,
        ..query(text)
    };
    assert_eq!(counted_and_listed(&store, query("retry")).await, (3, 3));
    yank("http-retry", "0.3.0", true).await;
    assert_eq!(counted_and_listed(&store, query("retry")).await, (2, 2));
    assert_eq!(counted_and_listed(&store, query("http")).await, (0, 0));
    assert_eq!(counted_and_listed(&store, query("back")).await, (2, 2));
    assert_eq!(
        counted_and_listed(&store, with_yanked("retry")).await,
        (3, 3)
    );
    let second = search(
        &store,
        CatalogueQuery {
            offset: 1,
            limit: Some(1),
            ..query("retry")
        },
    )
    .await;
    assert_eq!((second.total, second.hits.len()), (2, 1));
    yank("http-retry", "0.3.0", false).await;
    assert_eq!(counted_and_listed(&store, query("retry")).await, (3, 3));
    yank("http-retry", "0.3.0", true).await;
    yank("backoff-timer", "2.0.0", true).await;
    assert_eq!(counted_and_listed(&store, query("retry")).await, (1, 1));
    // A new release of a fully-yanked package lists it again, with its new text.
    let next = Release {
        name: "http-retry",
        version: "0.4.0",
        description: "HTTP retry middleware",
        keywords: &[],
        categories: &[],
        readme: "",
        deps: &[],
    };
    release(&store, &alice, &next).await;
    assert_eq!(counted_and_listed(&store, query("retry")).await, (2, 2));
    assert_eq!(counted_and_listed(&store, query("http")).await, (1, 1));
    assert_eq!(
        counted_and_listed(&store, with_yanked("retry")).await,
        (3, 3)
    );
}

async fn pages_of_a_ranked_search_follow_each_other_with_the_exact_name_first(db: TestDatabase) {
    let store = open(&db).await;
    catalogue(&store).await;
    let all = names(&store, query("retry")).await;
    let mut paged = Vec::new();
    for offset in 0..all.len() {
        let page = search(
            &store,
            CatalogueQuery {
                offset,
                limit: Some(1),
                ..query("retry")
            },
        )
        .await;
        assert_eq!(page.total, 3);
        paged.extend(page.hits.into_iter().map(|hit| hit.name));
    }
    assert_eq!(paged, all);
    assert_eq!(all.first().map(String::as_str), Some("retry"));
    let beyond = search(
        &store,
        CatalogueQuery {
            offset: 5,
            limit: Some(2),
            ..query("retry")
        },
    )
    .await;
    assert_eq!((beyond.total, beyond.hits.len()), (3, 0));
}

async fn a_new_release_replaces_the_searchable_text_of_the_old_one(db: TestDatabase) {
    let store = open(&db).await;
    let alice = catalogue(&store).await;
    let next = Release {
        name: "backoff-timer",
        version: "2.1.0",
        description: "Clocks",
        keywords: &[],
        categories: &[],
        readme: "",
        deps: &[],
    };
    release(&store, &alice, &next).await;
    assert!(
        !names(&store, query("retry"))
            .await
            .contains(&"backoff-timer".to_owned())
    );
    assert_eq!(names(&store, query("clocks")).await, ["backoff-timer"]);
}

async fn page(store: &MetadataStore, name: &str) -> catalogue_page::PackagePage {
    let name = name.to_owned();
    store
        .read(move |conn| catalogue_page::package_page(conn, &name))
        .await
        .unwrap()
}

async fn package_pages_show_versions_readme_dependencies_and_dependents(db: TestDatabase) {
    let store = open(&db).await;
    let alice = catalogue(&store).await;
    let next = Release {
        name: "retry",
        version: "1.1.0",
        description: "Retry with back-off and jitter",
        keywords: &["retry", "jitter"],
        categories: &["network-programming"],
        readme: "# retry\n\nNow with *jitter*.",
        deps: &["backoff-timer"],
    };
    release(&store, &alice, &next).await;
    let user_of = Release {
        name: "client",
        version: "0.1.0",
        description: "A client",
        keywords: &[],
        categories: &[],
        readme: "",
        deps: &["retry"],
    };
    release(&store, &alice, &user_of).await;
    let shown = page(&store, "Retry").await;
    assert_eq!(shown.latest, "1.1.0");
    assert_eq!(
        shown
            .versions
            .iter()
            .map(|v| v.version.as_str())
            .collect::<Vec<_>>(),
        ["1.1.0", "1.0.0"],
        "newest first"
    );
    assert!(
        shown
            .versions
            .iter()
            .all(|v| v.publisher == "alice" && !v.signed)
    );
    assert_eq!(shown.kind, "crate");
    assert_eq!(shown.keywords, ["retry", "jitter"]);
    assert_eq!(
        shown.readme_markdown.as_deref(),
        Some("# retry\n\nNow with *jitter*.")
    );
    assert_eq!(
        shown
            .dependencies
            .iter()
            .map(|d| (d.name.as_str(), d.req.as_str()))
            .collect::<Vec<_>>(),
        [("backoff-timer", "*")]
    );
    assert_eq!(shown.reverse_dependencies, ["client"]);
    assert_eq!(shown.owners, ["alice"]);
    assert_eq!((shown.downloads, shown.rating.count), (0, 0));
    assert_eq!(
        page(&store, "backoff_timer").await.reverse_dependencies,
        ["retry"]
    );
    let plugin = page(&store, "mailer").await;
    assert_eq!(plugin.kind, "plugin");
    assert_eq!(plugin.plugin.map(|p| p.host_api), Some("^2".to_owned()));
    let missing = store
        .read(|conn| catalogue_page::package_page(conn, "missing"))
        .await
        .unwrap_err();
    assert!(
        matches!(missing, crate::StorageError::UnknownPackage { .. }),
        "{missing:?}"
    );
}

async fn a_plugins_host_api_requirement_is_no_reverse_dependency(db: TestDatabase) {
    let store = open(&db).await;
    let alice = catalogue(&store).await;
    let plain = |name: &'static str, deps: &'static [&'static str]| Release {
        name,
        version: "1.0.0",
        description: "x",
        keywords: &[],
        categories: &[],
        readme: "",
        deps,
    };
    // A crate published under the host API's name, which a crate and a plugin depend on.
    release(&store, &alice, &plain("host-api", &[])).await;
    release(&store, &alice, &plain("host-sdk-user", &["host-api"])).await;
    release(&store, &alice, &plain("pager", &["host-api"])).await;
    let info = plugin_info(PluginKind::Plugin, "^2", None);
    record_plugin(&store, "pager", "1.0.0", &info).await;
    assert_eq!(
        page(&store, "host-api").await.reverse_dependencies,
        ["host-sdk-user"]
    );
}

//! Reviews and their moderation, install reports, recommendations and web sessions on both
//! engines (`on_both_engines!`, as `metadata_tests.rs`), and recommendations compared
//! between the engines on one generated ecosystem.

use wharf_index_format::PluginKind;

use crate::catalogue_tests::{Release, plugin_info, record_plugin, release};
use crate::install_reports::{self, InstallReport};
use crate::metadata::MetadataStore;
use crate::metadata_tests::{TestDatabase, log, on_both_engines, open, postgres, sqlite, user};
use crate::recommendations::{self, Recommendations};
use crate::review_moderation;
use crate::reviews::{self, Review, ReviewInput};
use crate::sql::args;
use crate::storage::now_unix;
use crate::{CatalogueQuery, CatalogueSort, Principal, StorageError, catalogue_search};
use crate::{web_session_digest, web_sessions};

on_both_engines!(
    reviews_are_kept_once_per_user_and_refusals_change_nothing,
    moderation_hides_and_shows_again_with_logged_reasons,
    ratings_sort_the_catalogue_and_installs_verify_reviews,
    install_reports_replace_the_set_and_drive_recommendations,
    web_sessions_end_with_their_token_or_their_time,
);

fn crate_release<'a>(name: &'a str, deps: &'a [&'a str]) -> Release<'a> {
    Release {
        name,
        version: "1.0.0",
        description: "A package",
        keywords: &[],
        categories: &[],
        readme: "",
        deps,
    }
}

fn input(rating: i64, body: Option<&str>, version: Option<&str>) -> ReviewInput {
    ReviewInput {
        rating,
        body: body.map(str::to_owned),
        version: version.map(str::to_owned),
    }
}

async fn save(
    store: &MetadataStore,
    who: &Principal,
    name: &str,
    input: ReviewInput,
) -> Result<i64, StorageError> {
    let (who, name) = (who.clone(), name.to_owned());
    store
        .write(move |conn| reviews::upsert(conn, &who, &name, &input, now_unix()))
        .await
}

async fn listed(store: &MetadataStore, name: &str, with_hidden: bool) -> Vec<Review> {
    let name = name.to_owned();
    store
        .read(move |conn| reviews::list(conn, &name, with_hidden))
        .await
        .unwrap()
}

/// A change to a review: reply, report, hide or unhide (`conn, who, name, id, text, now`).
type ReviewChange =
    fn(&dyn crate::sql::Sql, &Principal, &str, i64, &str, i64) -> Result<(), StorageError>;

/// Runs `change` on review `id` of `name` as `who` in the writer.
async fn moderate(
    store: &MetadataStore,
    who: &Principal,
    name: &str,
    id: i64,
    change: ReviewChange,
    text: &str,
) -> Result<(), StorageError> {
    let (who, name, text) = (who.clone(), name.to_owned(), text.to_owned());
    store
        .write(move |conn| change(conn, &who, &name, id, &text, now_unix()))
        .await
}

async fn reviews_are_kept_once_per_user_and_refusals_change_nothing(db: TestDatabase) {
    let store = open(&db).await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let admin = user(&store, "admin").await;
    release(&store, &alice, &crate_release("retry", &[])).await;
    release(&store, &alice, &crate_release("mailer", &[])).await;
    let first = save(&store, &bob, "retry", input(3, Some("ok"), None))
        .await
        .unwrap();
    let edited = save(&store, &bob, "RETRY", input(4, None, Some("1.0.0")))
        .await
        .unwrap();
    assert_eq!(edited, first, "one review per user per package");
    let shown = &listed(&store, "retry", false).await[0];
    assert_eq!(
        (shown.rating, shown.body.as_deref(), shown.version.as_str()),
        (4, None, "1.0.0")
    );

    let before = (
        log(&store).await,
        listed(&store, "retry", true).await,
        listed(&store, "mailer", true).await,
    );
    for (refused, name) in [
        (input(0, None, None), "retry"),
        (input(3, Some(&"x".repeat(5_001)), None), "retry"),
        (input(3, Some("  "), None), "retry"),
        (input(3, None, Some("4.0.0")), "retry"),
        (input(3, None, None), "missing"),
    ] {
        let error = save(&store, &bob, name, refused).await.unwrap_err();
        assert_eq!(error.to_string().lines().count(), 1, "{error}");
    }
    let not_owner = moderate(&store, &bob, "retry", first, reviews::reply, "mine").await;
    assert!(
        matches!(not_owner, Err(StorageError::NotOwner { .. })),
        "{not_owner:?}"
    );
    let not_admin = moderate(&store, &alice, "retry", first, reviews::hide, "spam").await;
    assert!(
        matches!(not_admin, Err(StorageError::NotPermitted { .. })),
        "{not_admin:?}"
    );
    let elsewhere = moderate(&store, &alice, "mailer", first, reviews::report, "wrong").await;
    assert!(
        matches!(elsewhere, Err(StorageError::UnknownReview { .. })),
        "{elsewhere:?}"
    );
    let after = (
        log(&store).await,
        listed(&store, "retry", true).await,
        listed(&store, "mailer", true).await,
    );
    assert!(after == before, "a refusal changed something");

    moderate(&store, &alice, "retry", first, reviews::reply, "Thanks")
        .await
        .unwrap();
    let replied = &listed(&store, "retry", false).await[0];
    assert_eq!(
        replied
            .reply
            .as_ref()
            .map(|r| (r.author.as_str(), r.body.as_str())),
        Some(("alice", "Thanks"))
    );
    for reporter in [&alice, &admin, &alice] {
        moderate(
            &store,
            reporter,
            "retry",
            first,
            reviews::report,
            "off topic",
        )
        .await
        .unwrap();
    }
    assert_eq!(listed(&store, "retry", false).await[0].reports, 2);
}

async fn moderation_hides_and_shows_again_with_logged_reasons(db: TestDatabase) {
    let store = open(&db).await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let admin = user(&store, "admin").await;
    release(&store, &alice, &crate_release("retry", &[])).await;
    let id = save(&store, &bob, "retry", input(1, Some("spam spam"), None))
        .await
        .unwrap();
    moderate(&store, &alice, "retry", id, reviews::report, "spam")
        .await
        .unwrap();
    let reported =
        |with_hidden| store.read(move |conn| review_moderation::reported(conn, with_hidden));
    let open_reports = reported(false).await.unwrap();
    assert_eq!(
        open_reports
            .iter()
            .map(|r| (
                r.package.as_str(),
                r.id,
                r.reports,
                r.latest_reason.as_str(),
                r.hidden
            ))
            .collect::<Vec<_>>(),
        [("retry", id, 1, "spam", false)]
    );
    let not_hidden = moderate(
        &store,
        &admin,
        "retry",
        id,
        review_moderation::unhide,
        "fine",
    )
    .await;
    assert!(
        not_hidden
            .unwrap_err()
            .to_string()
            .contains("is not hidden"),
        "unhiding a shown review is refused"
    );
    moderate(&store, &admin, "retry", id, reviews::hide, "advertising")
        .await
        .unwrap();
    assert!(listed(&store, "retry", false).await.is_empty());
    assert!(reported(false).await.unwrap().is_empty());
    assert!(reported(true).await.unwrap()[0].hidden);
    let seen = listed(&store, "retry", true).await;
    assert_eq!(
        seen[0].hidden.as_ref().map(|h| h.reason.as_str()),
        Some("advertising")
    );
    moderate(
        &store,
        &admin,
        "retry",
        id,
        review_moderation::unhide,
        "appeal accepted",
    )
    .await
    .unwrap();
    assert_eq!(listed(&store, "retry", false).await.len(), 1);
    // The moderation log keeps both reasons and refuses to be rewritten.
    let reasons = store
        .read(|conn| {
            conn.rows(
                "SELECT action, reason FROM review_moderation ORDER BY id",
                args![],
            )?
            .iter()
            .map(|row| Ok((row.string(0)?, row.string(1)?)))
            .collect::<Result<Vec<_>, StorageError>>()
        })
        .await
        .unwrap();
    assert_eq!(
        reasons,
        [
            ("hide".to_owned(), "advertising".to_owned()),
            ("unhide".to_owned(), "appeal accepted".to_owned())
        ]
    );
    for tamper in [
        "UPDATE review_moderation SET reason = 'nothing'",
        "DELETE FROM review_moderation",
    ] {
        let refused = store
            .write(move |conn| conn.exec(tamper, args![]))
            .await
            .unwrap_err();
        assert!(
            refused.to_string().contains("append-only"),
            "{tamper}: {refused}"
        );
    }
}

async fn ratings_sort_the_catalogue_and_installs_verify_reviews(db: TestDatabase) {
    let store = open(&db).await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    for name in ["alpha", "beta", "gamma"] {
        release(&store, &alice, &crate_release(name, &[])).await;
    }
    for (who, name, rating) in [
        (&bob, "beta", 5),
        (&carol, "beta", 4),
        (&bob, "gamma", 5),
        (&carol, "alpha", 2),
    ] {
        save(&store, who, name, input(rating, None, None))
            .await
            .unwrap();
    }
    let query = CatalogueQuery {
        sort: CatalogueSort::Rating,
        ..CatalogueQuery::default()
    };
    let page = store
        .read(move |conn| catalogue_search::search(conn, &query))
        .await
        .unwrap();
    let ranked: Vec<(&str, f64, u64)> = page
        .hits
        .iter()
        .map(|hit| (hit.name.as_str(), hit.rating.average, hit.rating.count))
        .collect();
    assert_eq!(
        ranked,
        [("gamma", 5.0, 1), ("beta", 4.5, 2), ("alpha", 2.0, 1)]
    );
    // Bob's install report makes his review of beta a verified install; Carol's is not.
    let report = InstallReport {
        install_id: "0123456789abcdef0123456789abcdef".to_owned(),
        host_api: None,
        packages: vec![("beta".to_owned(), "1.0.0".to_owned())],
    };
    let reporter = bob.clone();
    store
        .write(move |conn| install_reports::record(conn, Some(&reporter), &report, now_unix()))
        .await
        .unwrap();
    let mut verified: Vec<(String, bool)> = listed(&store, "beta", false)
        .await
        .into_iter()
        .map(|review| (review.author, review.verified_install))
        .collect();
    verified.sort();
    assert_eq!(
        verified,
        [("bob".to_owned(), true), ("carol".to_owned(), false)]
    );
}

/// Publishes a small ecosystem of plugins, templates and crates with install reports, and
/// returns the recommendations for some of its packages.
async fn ecosystem_recommendations(store: &MetadataStore) -> Vec<Recommendations> {
    let alice = user(store, "alice").await;
    let plugins = [
        (
            "slack-notify",
            &["notifications"],
            &["chat", "alerts"][..],
            "^2",
        ),
        ("teams-notify", &["notifications"], &["chat"][..], "^2"),
        ("pager-duty", &["notifications"], &["alerts"][..], "^1"),
        ("http-client", &["network"], &["http"][..], "^2"),
    ];
    for (name, categories, keywords, host) in plugins {
        let spec = Release {
            name,
            version: "1.0.0",
            description: "A plugin",
            keywords,
            categories,
            readme: "",
            deps: &["host-api"],
        };
        release(store, &alice, &spec).await;
        let info = plugin_info(PluginKind::Plugin, host, None);
        record_plugin(store, name, "1.0.0", &info).await;
    }
    for (name, deps) in [
        (
            "approval-flow",
            &["slack-notify", "http-client", "host-api"][..],
        ),
        ("data-sync", &["http-client", "host-api"][..]),
    ] {
        release(store, &alice, &crate_release(name, deps)).await;
        let info = plugin_info(PluginKind::Template, "^2", None);
        record_plugin(store, name, "1.0.0", &info).await;
    }
    for (name, deps) in [
        ("json-codec", &[][..]),
        ("retry", &[][..]),
        ("api-sdk", &["retry", "json-codec"][..]),
        ("webhook-kit", &["retry", "json-codec"][..]),
    ] {
        release(store, &alice, &crate_release(name, deps)).await;
    }
    let sets: [&[&str]; 4] = [
        &["slack-notify", "http-client"],
        &["slack-notify", "http-client", "teams-notify"],
        &["slack-notify"],
        &["http-client", "pager-duty", "nowhere"],
    ];
    for (index, set) in sets.iter().enumerate() {
        let report = InstallReport {
            install_id: format!("{index:032x}"),
            host_api: Some("2.1.0".to_owned()),
            packages: set
                .iter()
                .map(|name| ((*name).to_owned(), "1.0.0".to_owned()))
                .collect(),
        };
        let outcome = store
            .write(move |conn| install_reports::record(conn, None, &report, now_unix()))
            .await
            .unwrap();
        assert_eq!(outcome.unknown, u64::from(set.contains(&"nowhere")));
    }
    let mut all = Vec::new();
    for name in ["slack-notify", "http-client", "retry", "json-codec"] {
        all.push(
            store
                .read(move |conn| recommendations::recommend(conn, name))
                .await
                .unwrap(),
        );
    }
    all
}

async fn install_reports_replace_the_set_and_drive_recommendations(db: TestDatabase) {
    let store = open(&db).await;
    let found = ecosystem_recommendations(&store).await;
    let slack = &found[0];
    let reasons = |list: &[crate::Recommendation]| {
        list.iter()
            .map(|item| (item.name.clone(), item.reason.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        reasons(&slack.installed_together),
        [
            (
                "http-client".to_owned(),
                "installed together with slack-notify in 67 % of 3 reported installs".to_owned()
            ),
            (
                "teams-notify".to_owned(),
                "installed together with slack-notify in 33 % of 3 reported installs".to_owned()
            ),
        ]
    );
    assert_eq!(
        reasons(&slack.alternatives),
        [(
            "teams-notify".to_owned(),
            "a plugin sharing 2 of slack-notify's 3 categories and keywords (category \
             notifications, keyword chat); host API ^2 overlaps slack-notify's ^2"
                .to_owned()
        )],
        "pager-duty needs host API ^1, which no host version of ^2 is"
    );
    assert_eq!(
        slack
            .templates
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["approval-flow"]
    );
    let http = &found[1];
    assert_eq!(
        http.templates
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["approval-flow", "data-sync"]
    );
    let retry = &found[2];
    assert_eq!(
        reasons(&retry.installed_together),
        [(
            "json-codec".to_owned(),
            "used beside retry by 2 of the 2 packages that depend on retry".to_owned()
        )]
    );
    // A new report from the same install replaces its set.
    let replaced = InstallReport {
        install_id: format!("{:032x}", 2),
        host_api: None,
        packages: vec![("teams-notify".to_owned(), "1.0.0".to_owned())],
    };
    store
        .write(move |conn| install_reports::record(conn, None, &replaced, now_unix()))
        .await
        .unwrap();
    let after = store
        .read(|conn| recommendations::recommend(conn, "slack-notify"))
        .await
        .unwrap();
    assert_eq!(
        after.installed_together[0].reason,
        "installed together with slack-notify in 100 % of 2 reported installs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recommendations_are_the_same_on_both_engines() {
    let (on_sqlite, on_postgres) = (sqlite(), postgres());
    let from_sqlite = ecosystem_recommendations(&open(&on_sqlite).await).await;
    let from_postgres = ecosystem_recommendations(&open(&on_postgres).await).await;
    assert!(from_sqlite.iter().any(|r| !r.installed_together.is_empty()));
    assert_eq!(from_sqlite, from_postgres);
}

async fn web_sessions_end_with_their_token_or_their_time(db: TestDatabase) {
    let store = open(&db).await;
    let carol = user(&store, "carol").await;
    let dave = user(&store, "dave").await;
    let now = now_unix();
    let (carol_token, dave_token) = (carol.token_id, dave.token_id);
    let (first, second) = (web_session_digest("first"), web_session_digest("second"));
    let (a, b) = (first.clone(), second.clone());
    store
        .write(move |conn| {
            web_sessions::insert(conn, &a, carol_token, now, now + 3_600)?;
            web_sessions::insert(conn, &b, dave_token, now, now + 10)
        })
        .await
        .unwrap();
    let lookup =
        |digest: String, at: i64| store.read(move |conn| web_sessions::lookup(conn, &digest, at));
    let found = lookup(first.clone(), now).await.unwrap();
    assert_eq!(found.map(|(_, expires)| expires), Some(now + 3_600));
    assert!(
        lookup(second.clone(), now + 10).await.unwrap().is_none(),
        "expired"
    );
    // Revoking the token deletes its sessions inside the same transaction.
    store.revoke_token(carol_token).await.unwrap();
    assert!(lookup(first, now).await.unwrap().is_none());
    let stored = || store.read(|conn| conn.one_i64("SELECT count(*) FROM web_sessions", args![]));
    assert_eq!(stored().await.unwrap(), 1);
    // The next sign-in sweeps expired sessions.
    let third = web_session_digest("third");
    store
        .write(move |conn| web_sessions::insert(conn, &third, dave_token, now + 20, now + 80))
        .await
        .unwrap();
    assert_eq!(stored().await.unwrap(), 1);
}

//! `Storage` with its metadata on a real PostgreSQL server (a throwaway cluster from
//! `wharf_test_support::postgres`): the core flow, a restart, two storages sharing one
//! database, the marketplace (search, pages, reviews and moderation, install reports,
//! recommendations, web sessions), cargo's search and webhooks, and
//! the start-up errors.

use std::path::Path;

use wharf_storage::{
    BlobBackend, CatalogueQuery, InstallReport, MetadataDatabase, NewToken, ReviewInput, Scope,
    Storage, StorageConfig, StorageError, web_session_digest,
};
use wharf_test_support::postgres::PostgresServer;

use crate::support::{TestResult, admin, observe, upload};

async fn open_on(server: &PostgresServer, data: &Path) -> Storage {
    Storage::open_with_database(
        StorageConfig {
            data_dir: data.to_path_buf(),
            blobs: BlobBackend::Local,
        },
        MetadataDatabase::Postgres(server.url()),
    )
    .await
    .expect("storage opens on PostgreSQL")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_yank_and_owners_run_on_postgres_and_survive_a_restart() -> TestResult {
    let server = PostgresServer::start();
    let dir = tempfile::tempdir()?;
    let storage = open_on(&server, dir.path()).await;
    assert!(storage.on_postgres());
    let alice = admin(&storage, "alice");
    let bob = admin(&storage, "bob");
    let first = storage.publish(&alice, upload("harbour", "1.0.0")).await?;
    assert!(first.created_package);
    let second = storage.publish(&alice, upload("harbour", "1.1.0")).await?;
    assert_eq!(second.seq, first.seq + 1);
    assert!(
        second
            .entry
            .extensions
            .contains_key(wharf_storage::LINE_FIELD),
        "the release is logged in the transparency log"
    );
    let yanked = storage.set_yanked(&alice, "harbour", "1.0.0", true).await?;
    let text = String::from_utf8(yanked.bytes.to_vec())?;
    assert_eq!(text.lines().count(), 2);
    assert!(
        text.lines()
            .next()
            .unwrap_or_default()
            .contains(r#""yanked":true"#)
    );
    let added = storage
        .add_owners(&alice, "harbour", &["bob".to_owned()])
        .await?;
    assert_eq!(added, vec!["bob".to_owned()]);
    let owners: Vec<String> = storage
        .owners("harbour")
        .await?
        .into_iter()
        .map(|owner| owner.login)
        .collect();
    assert_eq!(owners, ["alice", "bob"]);
    storage.publish(&bob, upload("harbour", "1.2.0")).await?;
    assert_eq!(
        storage.version_cksum("harbour", "1.2.0").await?,
        Some(crate::support::sha256(&crate::support::tarball(
            "harbour", "1.2.0"
        )))
    );
    storage.settle().await;
    let report = storage.verify().await?;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(storage.log_size().await? >= 5);
    let before = observe(&storage).await;
    let seqs: Vec<u64> = before.events.iter().map(|event| event.seq).collect();
    assert_eq!(seqs, (1..=u64::try_from(seqs.len())?).collect::<Vec<_>>());
    drop(storage);

    let reopened = open_on(&server, dir.path()).await;
    assert_eq!(observe(&reopened).await, before);
    assert!(reopened.open_report().rebuilt.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_storages_on_one_database_see_each_others_writes_and_revocations() -> TestResult {
    let server = PostgresServer::start();
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let node_a = open_on(&server, dir_a.path()).await;
    wharf_test_support::postgres::copy_keys(dir_a.path(), dir_b.path());
    let node_b = open_on(&server, dir_b.path()).await;
    let created = node_a.create_token(NewToken {
        user: "carol".to_owned(),
        scopes: Scope::ALL.to_vec(),
        expires_at: None,
        name_patterns: vec![],
        label: None,
    })?;
    let carol = node_b.authenticate(created.secret.expose())?;
    node_b.publish(&carol, upload("shared", "0.1.0")).await?;
    let seen_on_a = node_a
        .index_file("shared")
        .await?
        .expect("a publish through one storage is in the shared database");
    assert_eq!(
        seen_on_a
            .bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count(),
        1
    );
    node_a.revoke_token(created.info.id)?;
    assert!(matches!(
        node_b.authenticate(created.secret.expose()),
        Err(StorageError::RevokedToken)
    ));
    Ok(())
}

/// Storage on a new PostgreSQL cluster with two packages (`dock` depends on
/// `harbour-crane`) and the users `alice`, `bob` and `admin`.
async fn marketplace(
    server: &PostgresServer,
    data: &Path,
) -> Result<(Storage, [wharf_storage::Principal; 3]), Box<dyn std::error::Error>> {
    let storage = open_on(server, data).await;
    let (alice, bob, root) = (
        admin(&storage, "alice"),
        admin(&storage, "bob"),
        admin(&storage, "admin"),
    );
    let mut crane = upload("harbour-crane", "1.0.0");
    crane.metadata.description = Some("Lifts containers".to_owned());
    crane.metadata.categories = vec!["logistics".to_owned()];
    crane.metadata.readme = Some("# Crane\n\nMoves boxes.".to_owned());
    storage.publish(&alice, crane).await?;
    let mut dock = upload("dock", "0.1.0");
    dock.entry
        .deps
        .push(wharf_test_support::dep("harbour-crane", "^1"));
    storage.publish(&alice, dock).await?;

    Ok((storage, [alice, bob, root]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_pages_and_reviews_run_through_storage_on_postgres() -> TestResult {
    let server = PostgresServer::start();
    let dir = tempfile::tempdir()?;
    let (storage, [alice, bob, root]) = marketplace(&server, dir.path()).await?;
    let found = storage
        .catalogue_search(CatalogueQuery {
            text: "container".to_owned(),
            ..CatalogueQuery::default()
        })
        .await?;
    let names: Vec<&str> = found.hits.iter().map(|hit| hit.name.as_str()).collect();
    assert_eq!((found.total, names), (1, vec!["harbour-crane"]));
    let page = storage.package_page("Harbour_Crane").await?;
    assert_eq!(page.reverse_dependencies, ["dock"]);
    assert_eq!(
        page.readme_markdown.as_deref(),
        Some("# Crane\n\nMoves boxes.")
    );

    let review = storage
        .save_review(
            &bob,
            "harbour-crane",
            ReviewInput {
                rating: 5,
                body: Some("Solid".to_owned()),
                version: None,
            },
        )
        .await?;
    assert_eq!(
        (review.version.as_str(), review.verified_install),
        ("1.0.0", false)
    );
    let replied = storage
        .reply_to_review(&alice, "harbour-crane", review.id, "Thanks")
        .await?;
    assert_eq!(
        replied.reply.map(|reply| reply.body),
        Some("Thanks".to_owned())
    );
    storage
        .report_review(&alice, "harbour-crane", review.id, "too short")
        .await?;
    assert_eq!(storage.reported_reviews(&root, false).await?.len(), 1);
    storage
        .hide_review(&root, "harbour-crane", review.id, "testing")
        .await?;
    assert!(storage.reviews("harbour-crane", None).await?.is_empty());
    assert_eq!(storage.hidden_reviews(&root).await?[0].reason, "testing");
    storage
        .unhide_review(&root, "harbour-crane", review.id, "tested")
        .await?;
    assert_eq!(storage.package_page("harbour-crane").await?.rating.count, 1);

    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_reports_recommendations_and_web_sessions_run_through_storage_on_postgres()
-> TestResult {
    let server = PostgresServer::start();
    let dir = tempfile::tempdir()?;
    let (storage, [_, bob, root]) = marketplace(&server, dir.path()).await?;
    let outcome = storage
        .record_install_report(
            Some(&bob),
            InstallReport {
                install_id: "00112233445566778899aabbccddeeff".to_owned(),
                host_api: None,
                packages: vec![
                    ("harbour-crane".to_owned(), "1.0.0".to_owned()),
                    ("dock".to_owned(), "0.1.0".to_owned()),
                ],
            },
        )
        .await?;
    assert_eq!((outcome.recorded, outcome.unknown), (2, 0));
    let review = ReviewInput {
        rating: 4,
        body: None,
        version: None,
    };
    let saved = storage.save_review(&bob, "harbour-crane", review).await?;
    assert!(saved.verified_install, "bob reported installing it");
    let together = storage.recommendations("dock").await?.installed_together;
    assert_eq!(
        together.first().map(|item| item.reason.as_str()),
        Some("installed together with dock in 100 % of 1 reported installs")
    );
    let categories = storage.catalogue_categories(5).await?;
    assert_eq!(
        categories
            .iter()
            .map(|c| (c.category.as_str(), c.packages))
            .collect::<Vec<_>>(),
        [("logistics", 1)]
    );
    let owned = storage
        .packages_owned_by("alice")
        .await?
        .unwrap_or_default();
    assert_eq!(owned.len(), 2);
    assert!(storage.user_summaries(&root).await?.len() >= 3);

    // A web session lives until its token is revoked, on any server of the database.
    let created = storage.create_token(NewToken {
        user: "erin".to_owned(),
        scopes: Scope::ALL.to_vec(),
        expires_at: None,
        name_patterns: vec![],
        label: None,
    })?;
    let digest = web_session_digest("cookie-value");
    storage
        .create_web_session(created.secret.expose(), &digest, 3_600)
        .await?;
    let session = storage.web_session(&digest).await?;
    assert_eq!(session.map(|s| s.principal.login), Some("erin".to_owned()));
    storage.revoke_token(created.info.id)?;
    assert!(storage.web_session(&digest).await?.is_none());
    assert_eq!(storage.web_session_count().await?, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cargo_search_and_webhooks_read_from_postgres_and_change_nothing() -> TestResult {
    let server = PostgresServer::start();
    let dir = tempfile::tempdir()?;
    let storage = open_on(&server, dir.path()).await;
    let alice = admin(&storage, "alice");
    storage.publish(&alice, upload("quay", "1.0.0")).await?;
    storage.publish(&alice, upload("quay", "1.1.0")).await?;
    storage.publish(&alice, upload("quayside", "0.1.0")).await?;
    storage.set_yanked(&alice, "quay", "1.1.0", true).await?;
    let before = observe(&storage).await;
    let found = storage.search("QUAY", 10).await?;
    assert_eq!(found.total, 2);
    let names: Vec<(&str, &str)> = found
        .hits
        .iter()
        .map(|hit| (hit.name.as_str(), hit.max_version.as_str()))
        .collect();
    assert_eq!(
        names,
        [("quay", "1.0.0"), ("quayside", "0.1.0")],
        "the exact name first, the highest version not yanked"
    );
    assert!(storage.webhooks().await?.is_empty());
    assert_eq!(observe(&storage).await, before);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_password_is_never_shown() -> TestResult {
    let server = PostgresServer::start();
    let dir = tempfile::tempdir()?;
    // The server trusts loopback logins, so a password in the URL is accepted and unused.
    let url = server.url().replacen("://wharf@", "://wharf:hunter2@", 1);
    assert!(url.contains("hunter2"), "{url}");
    let database = MetadataDatabase::parse(&url)?;
    let storage = Storage::open_with_database(
        StorageConfig {
            data_dir: dir.path().to_path_buf(),
            blobs: BlobBackend::Local,
        },
        database.clone(),
    )
    .await?;
    let alice = admin(&storage, "alice");
    storage.publish(&alice, upload("harbour", "1.0.0")).await?;
    for shown in [
        format!("{database:?}"),
        format!("{database:#?}"),
        format!("{storage:?}"),
        format!("{storage:#?}"),
    ] {
        assert!(!shown.contains("hunter2"), "{shown}");
    }
    assert!(format!("{database:?}").contains("wharf:***@127.0.0.1"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_or_unreachable_database_is_one_line_at_open() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = StorageConfig {
        data_dir: dir.path().to_path_buf(),
        blobs: BlobBackend::Local,
    };
    let bad = MetadataDatabase::parse("mysql://wharf:secret@db/wharf")
        .unwrap_err()
        .to_string();
    assert!(
        bad.contains("mysql://wharf:***@db/wharf") && !bad.contains("secret"),
        "{bad}"
    );
    // A port nobody listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = format!("postgres://wharf:secret@127.0.0.1:{port}/wharf");
    let unreachable = Storage::open_with_database(config, MetadataDatabase::parse(&url)?)
        .await
        .unwrap_err();
    assert!(matches!(
        unreachable,
        StorageError::DatabaseUnreachable { .. }
    ));
    let message = unreachable.to_string();
    assert!(
        message.contains("cannot connect to the PostgreSQL database"),
        "{message}"
    );
    assert!(!message.contains("secret"), "{message}");
    assert_eq!(message.lines().count(), 1);
    Ok(())
}

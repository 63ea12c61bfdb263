//! The core storage tests, run on both engines: each test is written once as a function of
//! a [`Database`] and [`on_both_engines!`] makes a `sqlite` and a `postgres` case of it (the
//! PostgreSQL one on a throwaway cluster from `wharf_test_support::postgres`).

use wharf_index_format::{IndexEntry, PackageMetadata};
use wharf_test_support::pkg;
use wharf_test_support::postgres::PostgresServer;

use crate::metadata::{Database, MetadataStore};
use crate::sql::args;
use crate::write_ops::OwnerChange;
use crate::{DailyLimit, DailyLimits, EventKind, NewToken, Principal, Scope, StorageError};

/// A database for one test, and what must live as long as it.
pub(crate) struct TestDatabase {
    pub(crate) database: Database,
    /// The test's directory (a [`crate::Storage`]'s data directory, SQLite's file).
    dir: tempfile::TempDir,
    _server: Option<PostgresServer>,
}

impl TestDatabase {
    /// Opens a [`crate::Storage`] on this database, its data directory (and on SQLite the
    /// database file) in the test's temporary directory, its blobs on the local disk.
    pub(crate) async fn storage(&self) -> crate::Storage {
        let database = match &self.database {
            Database::Sqlite(_) => crate::MetadataDatabase::Embedded,
            Database::Postgres(url) => crate::MetadataDatabase::Postgres(url.clone()),
        };
        crate::Storage::open_with_database(crate::StorageConfig::local(self.dir.path()), database)
            .await
            .expect("storage opens")
    }
}

/// A token request for `login` with every scope, no expiry and no narrowing.
pub(crate) fn full_token(login: &str) -> NewToken {
    NewToken {
        user: login.to_owned(),
        scopes: Scope::ALL.to_vec(),
        expires_at: None,
        name_patterns: vec![],
        label: None,
    }
}

/// A user of `storage` with every scope, authenticated.
pub(crate) fn storage_user(storage: &crate::Storage, login: &str) -> Principal {
    let token = storage
        .create_token(full_token(login))
        .expect("token created");
    storage
        .authenticate(token.secret.expose())
        .expect("a fresh token authenticates")
}

/// An upload of `name` `version` whose `.crate` bytes are distinct per pair.
pub(crate) fn storage_upload(name: &str, version: &str) -> crate::Upload {
    let bytes = bytes::Bytes::from(format!("tarball of {name} {version}"));
    let (mut entry, metadata) = release(name, version);
    entry.cksum = crate::blobs::sha256_hex(&bytes);
    crate::Upload {
        entry,
        crate_bytes: bytes,
        metadata,
    }
}

pub(crate) fn sqlite() -> TestDatabase {
    let dir = tempfile::tempdir().unwrap();
    TestDatabase {
        database: Database::Sqlite(dir.path().join(crate::db::DB_FILE)),
        dir,
        _server: None,
    }
}

pub(crate) fn postgres() -> TestDatabase {
    let server = PostgresServer::start();
    TestDatabase {
        database: Database::Postgres(server.url()),
        dir: tempfile::tempdir().unwrap(),
        _server: Some(server),
    }
}

/// Makes `mod NAME { sqlite, postgres }` test cases of each async `fn NAME(TestDatabase)`.
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(super::sqlite()).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(super::postgres()).await;
                }
            }
        )*
    };
}
pub(crate) use on_both_engines;

on_both_engines!(
    publishes_are_read_back_in_order,
    publish_rules_refuse_without_a_trace,
    yanks_change_only_the_flag_and_are_logged,
    owners_are_added_and_removed_but_never_the_last,
    tokens_authenticate_until_revoked_or_expired,
    the_log_stays_gap_free_under_grouped_and_refused_writes,
    the_event_log_refuses_updates_and_deletes,
    everything_survives_a_restart,
    daily_limits_count_inside_the_transaction,
    two_writers_on_one_database_share_one_gap_free_log,
    index_snapshots_agree_with_the_log,
    the_transparency_log_grows_and_verifies,
);

pub(crate) async fn open(db: &TestDatabase) -> MetadataStore {
    MetadataStore::open(db.database.clone()).await.unwrap()
}

pub(crate) async fn user(store: &MetadataStore, login: &str) -> Principal {
    let token = store.create_token(full_token(login)).await.unwrap();
    store.authenticate(token.secret.expose()).await.unwrap()
}

pub(crate) fn release(name: &str, version: &str) -> (IndexEntry, PackageMetadata) {
    let entry = pkg(name, version)
        .cksum(&format!("{:0>64}", format!("{name}{version}").len()))
        .entry();
    let metadata = PackageMetadata {
        description: Some(format!("The {name} package")),
        ..PackageMetadata::default()
    };
    (entry, metadata)
}

pub(crate) async fn publish(
    store: &MetadataStore,
    who: &Principal,
    name: &str,
    version: &str,
) -> Result<u64, StorageError> {
    let (entry, metadata) = release(name, version);
    Ok(store.publish(who.clone(), entry, metadata).await?.seq)
}

/// Every event as `(seq, kind, package, version)`.
pub(crate) async fn log(store: &MetadataStore) -> Vec<(u64, EventKind, String, Option<String>)> {
    store
        .events(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|event| (event.seq, event.kind, event.package, event.version))
        .collect()
}

fn assert_gap_free(seqs: &[u64]) {
    let expected: Vec<u64> = (1..=u64::try_from(seqs.len()).unwrap()).collect();
    assert_eq!(seqs, expected, "the log's sequence numbers are 1, 2, 3, …");
}

async fn publishes_are_read_back_in_order(db: TestDatabase) {
    let store = open(&db).await;
    let alice = user(&store, "alice").await;
    assert_eq!(publish(&store, &alice, "demo", "1.0.0").await.unwrap(), 1);
    assert_eq!(publish(&store, &alice, "demo", "1.1.0").await.unwrap(), 2);
    assert_eq!(publish(&store, &alice, "other", "0.1.0").await.unwrap(), 3);
    let lines = store.lines("demo").await.unwrap();
    let versions: Vec<String> = lines
        .iter()
        .map(|line| IndexEntry::from_line(line).unwrap().vers.to_string())
        .collect();
    assert_eq!(versions, ["1.0.0", "1.1.0"]);
    assert_eq!(
        log(&store).await,
        [
            (1, EventKind::Release, "demo".into(), Some("1.0.0".into())),
            (2, EventKind::Release, "demo".into(), Some("1.1.0".into())),
            (3, EventKind::Release, "other".into(), Some("0.1.0".into())),
        ]
    );
    let owners = store.owners("demo").await.unwrap();
    assert_eq!(
        owners.iter().map(|o| o.login.as_str()).collect::<Vec<_>>(),
        ["alice"]
    );
}

async fn publish_rules_refuse_without_a_trace(db: TestDatabase) {
    let store = open(&db).await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    publish(&store, &alice, "demo", "1.0.0").await.unwrap();
    let before = log(&store).await;
    let duplicate = publish(&store, &alice, "demo", "1.0.0+build").await;
    assert!(
        matches!(duplicate, Err(StorageError::DuplicateVersion { .. })),
        "{duplicate:?}"
    );
    let not_owner = publish(&store, &bob, "demo", "2.0.0").await;
    assert!(
        matches!(not_owner, Err(StorageError::NotOwner { .. })),
        "{not_owner:?}"
    );
    let clash = publish(&store, &bob, "Demo", "1.0.0").await;
    assert!(
        matches!(clash, Err(StorageError::NameTaken { .. })),
        "{clash:?}"
    );
    assert_eq!(log(&store).await, before, "refused publishes log nothing");
    assert_eq!(store.lines("demo").await.unwrap().len(), 1);
    assert_eq!(publish(&store, &bob, "bobs", "1.0.0").await.unwrap(), 2);
}

async fn yanks_change_only_the_flag_and_are_logged(db: TestDatabase) {
    let store = open(&db).await;
    let alice = user(&store, "alice").await;
    publish(&store, &alice, "demo", "1.0.0").await.unwrap();
    let line = store.lines("demo").await.unwrap().remove(0);
    let yank = store
        .set_yanked(alice.clone(), "demo", "1.0.0", true)
        .await
        .unwrap();
    assert_eq!(yank.seq, 2);
    let yanked = store.lines("demo").await.unwrap().remove(0);
    let mut expected = IndexEntry::from_line(&line).unwrap();
    expected.yanked = true;
    assert_eq!(yanked, expected.to_line());
    store
        .set_yanked(alice.clone(), "demo", "1.0.0", false)
        .await
        .unwrap();
    assert_eq!(store.lines("demo").await.unwrap().remove(0), line);
    let unknown = store.set_yanked(alice, "demo", "9.9.9", true).await;
    assert!(
        matches!(unknown, Err(StorageError::UnknownVersion { .. })),
        "{unknown:?}"
    );
    let kinds: Vec<EventKind> = log(&store).await.into_iter().map(|e| e.1).collect();
    assert_eq!(
        kinds,
        [EventKind::Release, EventKind::Yank, EventKind::Unyank]
    );
}

async fn owners_are_added_and_removed_but_never_the_last(db: TestDatabase) {
    let store = open(&db).await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    publish(&store, &alice, "demo", "1.0.0").await.unwrap();
    let added = store
        .change_owners(alice.clone(), "demo", vec!["bob".into()], OwnerChange::Add)
        .await
        .unwrap();
    assert_eq!(added.value, ["bob"]);
    let again = store
        .change_owners(alice.clone(), "demo", vec!["bob".into()], OwnerChange::Add)
        .await
        .unwrap();
    assert!(
        again.value.is_empty(),
        "adding an owner twice changes nothing"
    );
    publish(&store, &bob, "demo", "1.1.0").await.unwrap();
    store
        .change_owners(
            bob.clone(),
            "demo",
            vec!["alice".into()],
            OwnerChange::Remove,
        )
        .await
        .unwrap();
    let last = store
        .change_owners(bob.clone(), "demo", vec!["bob".into()], OwnerChange::Remove)
        .await;
    assert!(
        matches!(last, Err(StorageError::LastOwner { .. })),
        "{last:?}"
    );
    let unknown = store
        .change_owners(bob, "demo", vec!["carol".into()], OwnerChange::Add)
        .await;
    assert!(
        matches!(unknown, Err(StorageError::UnknownUser { .. })),
        "{unknown:?}"
    );
    let owners = store.owners("demo").await.unwrap();
    assert_eq!(
        owners.iter().map(|o| o.login.as_str()).collect::<Vec<_>>(),
        ["bob"]
    );
    let kinds: Vec<EventKind> = log(&store).await.into_iter().map(|e| e.1).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Release,
            EventKind::OwnerAdd,
            EventKind::Release,
            EventKind::OwnerRemove
        ]
    );
    let denied = publish(&store, &alice, "demo", "2.0.0").await;
    assert!(
        matches!(denied, Err(StorageError::NotOwner { .. })),
        "{denied:?}"
    );
}

async fn tokens_authenticate_until_revoked_or_expired(db: TestDatabase) {
    let store = open(&db).await;
    let token = |user: &str, expires_at: Option<i64>| NewToken {
        user: user.to_owned(),
        scopes: vec![Scope::PublishNew],
        expires_at,
        name_patterns: vec!["demo-*".to_owned()],
        label: Some("ci".to_owned()),
    };
    let live = store.create_token(token("alice", None)).await.unwrap();
    let expired = store.create_token(token("alice", Some(1))).await.unwrap();
    let other = store.create_token(token("bob", None)).await.unwrap();
    let who = store.authenticate(live.secret.expose()).await.unwrap();
    assert_eq!(
        (
            who.login.as_str(),
            who.scopes.as_slice(),
            who.name_patterns.as_slice()
        ),
        (
            "alice",
            &[Scope::PublishNew][..],
            &["demo-*".to_owned()][..]
        )
    );
    let refused = store.authenticate(expired.secret.expose()).await;
    assert!(
        matches!(refused, Err(StorageError::ExpiredToken)),
        "{refused:?}"
    );
    let unknown = store.authenticate("wharf_not-a-token").await;
    assert!(
        matches!(unknown, Err(StorageError::InvalidToken)),
        "{unknown:?}"
    );
    store.revoke_token(live.info.id).await.unwrap();
    let revoked = store.authenticate(live.secret.expose()).await;
    assert!(
        matches!(revoked, Err(StorageError::RevokedToken)),
        "{revoked:?}"
    );
    let missing = store.revoke_token(9999).await;
    assert!(
        matches!(missing, Err(StorageError::UnknownToken { id: 9999 })),
        "{missing:?}"
    );
    let alices = store.list_tokens(Some("alice".into())).await.unwrap();
    assert_eq!(
        alices.iter().map(|t| (t.id, t.revoked)).collect::<Vec<_>>(),
        [(live.info.id, true), (expired.info.id, false)]
    );
    assert_eq!(store.list_tokens(None).await.unwrap().len(), 3);
    assert_eq!(
        store
            .authenticate(other.secret.expose())
            .await
            .unwrap()
            .login,
        "bob"
    );
}

async fn the_log_stays_gap_free_under_grouped_and_refused_writes(db: TestDatabase) {
    let store = std::sync::Arc::new(open(&db).await);
    let alice = user(&store, "alice").await;
    publish(&store, &alice, "demo", "0.0.1").await.unwrap();
    // Queued together, these commit in groups; every fourth is a duplicate, refused inside
    // the group and rolled back to its savepoint.
    let mut tasks = Vec::new();
    for n in 0..40_u32 {
        let (store, alice) = (std::sync::Arc::clone(&store), alice.clone());
        let version = if n % 4 == 3 {
            "0.0.1".to_owned()
        } else {
            format!("1.0.{n}")
        };
        tasks.push(tokio::spawn(async move {
            publish(&store, &alice, "demo", &version).await
        }));
    }
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => {}
            Err(StorageError::DuplicateVersion { .. }) => refused += 1,
            Err(other) => panic!("unexpected failure: {other}"),
        }
    }
    assert_eq!(refused, 10);
    // A job that appends an event and then fails leaves no number behind.
    let failed = store
        .write(|conn| {
            crate::queries::insert_event(
                conn,
                EventKind::Yank,
                1,
                Some("0.0.1"),
                "alice",
                0,
                &serde_json::json!({}),
            )?;
            Err::<(), _>(StorageError::WriterStopped)
        })
        .await;
    assert!(failed.is_err());
    publish(&store, &alice, "demo", "2.0.0").await.unwrap();
    let seqs: Vec<u64> = log(&store).await.into_iter().map(|e| e.0).collect();
    assert_eq!(seqs.len(), 32);
    assert_gap_free(&seqs);
}

async fn the_event_log_refuses_updates_and_deletes(db: TestDatabase) {
    let store = open(&db).await;
    let alice = user(&store, "alice").await;
    publish(&store, &alice, "demo", "1.0.0").await.unwrap();
    let before = log(&store).await;
    for statement in [
        "UPDATE events SET actor = 'mallory'",
        "DELETE FROM events",
        "INSERT INTO events (seq, kind, package_id, actor, time, payload)
             VALUES (2, 'delete', 1, 'mallory', 0, '{}')",
    ] {
        let refused = store
            .write(move |conn| conn.exec(statement, args![]))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("append-only")
                || refused.contains("CHECK")
                || refused.contains("check"),
            "{statement}: {refused}"
        );
    }
    assert_eq!(log(&store).await, before);
}

async fn everything_survives_a_restart(db: TestDatabase) {
    let store = open(&db).await;
    let alice = user(&store, "alice").await;
    let token = store
        .create_token(NewToken {
            user: "alice".into(),
            scopes: Scope::ALL.to_vec(),
            expires_at: None,
            name_patterns: vec![],
            label: None,
        })
        .await
        .unwrap();
    publish(&store, &alice, "demo", "1.0.0").await.unwrap();
    store
        .set_yanked(alice.clone(), "demo", "1.0.0", true)
        .await
        .unwrap();
    let before = log(&store).await;
    drop(store);
    let reopened = open(&db).await;
    assert_eq!(log(&reopened).await, before);
    let again = reopened.authenticate(token.secret.expose()).await.unwrap();
    assert_eq!(again.user_id, alice.user_id);
    assert_eq!(
        publish(&reopened, &again, "demo", "1.1.0").await.unwrap(),
        3
    );
    assert_eq!(reopened.lines("demo").await.unwrap().len(), 2);
}

async fn daily_limits_count_inside_the_transaction(db: TestDatabase) {
    let store = std::sync::Arc::new(open(&db).await);
    let alice = user(&store, "alice").await;
    let limits = DailyLimits {
        publishes_per_day: std::num::NonZeroU32::new(3),
        new_crates_per_day: std::num::NonZeroU32::new(1),
        versions_per_crate_per_day: None,
    };
    let limited = |name: &str, version: &str| {
        let (store, alice) = (std::sync::Arc::clone(&store), alice.clone());
        let (entry, metadata) = release(name, version);
        async move { store.publish_limited(alice, entry, metadata, limits).await }
    };
    limited("demo", "1.0.0").await.unwrap();
    let second_crate = limited("other", "1.0.0").await;
    assert!(
        matches!(
            second_crate,
            Err(StorageError::DailyLimitReached {
                limit: DailyLimit::NewCratesPerDay,
                ..
            })
        ),
        "{second_crate:?}"
    );
    // Started together, only as many as the limit leaves room for commit.
    let racing: Vec<_> = (1..=4)
        .map(|n| tokio::spawn(limited("demo", &format!("1.0.{n}"))))
        .collect();
    let mut stored = 0;
    for task in racing {
        match task.await.unwrap() {
            Ok(_) => stored += 1,
            Err(StorageError::DailyLimitReached {
                limit: DailyLimit::PublishesPerDay,
                ..
            }) => {}
            Err(other) => panic!("unexpected failure: {other}"),
        }
    }
    assert_eq!(
        stored, 2,
        "three publishes a day: one before, two of the four"
    );
    let seqs: Vec<u64> = log(&store).await.into_iter().map(|e| e.0).collect();
    assert_gap_free(&seqs);
    assert_eq!(seqs.len(), 3);
}

/// Two stores on one database (two processes, or two servers on one PostgreSQL): their
/// writers take turns, so racing publishes all commit and the log stays gap-free.
async fn two_writers_on_one_database_share_one_gap_free_log(db: TestDatabase) {
    let first = std::sync::Arc::new(open(&db).await);
    let second = std::sync::Arc::new(open(&db).await);
    let alice = user(&first, "alice").await;
    publish(&first, &alice, "demo", "0.1.0").await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..30_u32 {
        let store = std::sync::Arc::clone(if n % 2 == 0 { &first } else { &second });
        let alice = alice.clone();
        tasks.push(tokio::spawn(async move {
            publish(&store, &alice, "demo", &format!("1.0.{n}")).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let seen_by_first: Vec<u64> = log(&first).await.into_iter().map(|e| e.0).collect();
    assert_gap_free(&seen_by_first);
    assert_eq!(seen_by_first.len(), 31);
    assert_eq!(log(&second).await, log(&first).await);
}

async fn index_snapshots_agree_with_the_log(db: TestDatabase) {
    let store = open(&db).await;
    let alice = user(&store, "alice").await;
    publish(&store, &alice, "Demo", "1.0.0").await.unwrap();
    publish(&store, &alice, "other", "1.0.0").await.unwrap();
    publish(&store, &alice, "Demo", "1.1.0").await.unwrap();
    let yank = store
        .set_yanked(alice, "demo", "1.0.0", true)
        .await
        .unwrap();
    let snapshot = store.snapshot("demo").await.unwrap();
    let lines = store.lines("Demo").await.unwrap();
    assert_eq!(
        (snapshot.name.as_str(), snapshot.path.as_str(), snapshot.seq),
        ("Demo", "de/mo/demo", yank.seq)
    );
    assert_eq!(snapshot.bytes, format!("{}\n{}\n", lines[0], lines[1]));
    let event_time = store.events(yank.seq - 1, 1).await.unwrap()[0].time;
    assert_eq!(snapshot.last_modified, event_time);
    assert_eq!(store.snapshot("other").await.unwrap().seq, 2);
}

/// The writer keeps one PostgreSQL connection; when the server cuts it, the next group
/// commit connects again instead of failing for the rest of the process's life.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_writer_connects_again_after_its_connection_is_cut() {
    let db = postgres();
    let store = open(&db).await;
    let alice = user(&store, "alice").await;
    publish(&store, &alice, "demo", "1.0.0").await.unwrap();
    let cut = store
        .read(|conn| {
            conn.one_i64(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid()) AS cut",
                args![],
            )
        })
        .await
        .unwrap();
    assert!(cut >= 1, "the writer's connection was among those cut");
    assert_eq!(publish(&store, &alice, "demo", "1.1.0").await.unwrap(), 2);
    assert_eq!(store.lines("demo").await.unwrap().len(), 2);
}

async fn the_transparency_log_grows_and_verifies(db: TestDatabase) {
    let store = open(&db).await;
    let keys_dir = tempfile::tempdir().unwrap();
    let keys = std::sync::Arc::new(
        crate::registry_keys::RegistryKeys::load_or_create(keys_dir.path(), None).unwrap(),
    );
    let alice = user(&store, "alice").await;
    for version in ["1.0.0", "1.1.0", "2.0.0"] {
        publish(&store, &alice, "leafy", version).await.unwrap();
    }
    store
        .set_yanked(alice, "leafy", "1.0.0", true)
        .await
        .unwrap();
    let appended = std::sync::Arc::clone(&keys);
    let size = store
        .write(move |conn| crate::log::append_pending(conn, &appended))
        .await
        .unwrap();
    assert_eq!(size, 4, "three releases and a yank");
    let checked = std::sync::Arc::clone(&keys);
    let (problems, leaves, proof) = store
        .read(move |conn| {
            let problems = crate::log_verify::verify_log(conn, &checked)?;
            let leaves = crate::log::leaves(conn, 0, 10)?;
            let proof = crate::log::inclusion_proof(conn, 1, 4)?;
            Ok((problems, leaves, proof))
        })
        .await
        .unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(leaves.len(), 4);
    assert!(!proof.hashes().is_empty());
    let line = store.lines("leafy").await.unwrap().remove(1);
    assert!(line.contains(r#""wharf":{"leaf":1}"#), "{line}");
    let refused = store
        .write(|conn| conn.exec("DELETE FROM log_leaves", args![]))
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("append-only"), "{refused}");
}

/// A node of the registry in PostgreSQL `server`, its data directory `dir`.
pub(crate) async fn pg_node(dir: &std::path::Path, server: &PostgresServer) -> crate::Storage {
    crate::Storage::open_with_database(
        crate::StorageConfig::local(dir),
        crate::MetadataDatabase::Postgres(server.url()),
    )
    .await
    .unwrap()
}

/// Two nodes on one database (the second with the first's keys).
pub(crate) async fn two_pg_nodes(
    server: &PostgresServer,
    a: &tempfile::TempDir,
    b: &tempfile::TempDir,
) -> (crate::Storage, crate::Storage) {
    let first = pg_node(a.path(), server).await;
    wharf_test_support::postgres::copy_keys(a.path(), b.path());
    (first, pg_node(b.path(), server).await)
}

//! What a publish costs PostgreSQL in round trips, counted by the pool
//! ([`crate::pg::PgDatabase::round_trips`]): the checks before the blob is written, the
//! group commit's transaction, and the index file's record written behind the answer.

use crate::Storage;
use crate::engine::EnginePool;
use crate::metadata_tests::{postgres, storage_upload, storage_user};

/// The most round trips one publish may take, warm (statements prepared), from the checks
/// on a read connection to the index file's record written behind it (and the barrier
/// that waits for it). Measured: 28 for a new version and 26 for a new crate, where
/// sending one statement at a time took 48 and 40 (docs/postgres.md); the margin is for
/// the write behind joining the barrier's group or not.
const MOST_PER_UPDATE: u64 = 30;
/// [`MOST_PER_UPDATE`] for a publish that creates its crate (its package and first owner).
const MOST_PER_NEW_CRATE: u64 = 28;

fn round_trips(storage: &Storage) -> u64 {
    match &storage.inner.pool {
        EnginePool::Postgres(database) => database.round_trips(),
        EnginePool::Sqlite(_) => unreachable!("the storage is on PostgreSQL"),
    }
}

/// The round trips of publishing `name` `version`, once everything behind it is written.
async fn publish_cost(storage: &Storage, who: &crate::Principal, name: &str, version: &str) -> u64 {
    storage.settle().await;
    let before = round_trips(storage);
    storage
        .publish(who, storage_upload(name, version))
        .await
        .unwrap();
    storage.settle().await;
    round_trips(storage) - before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_takes_few_round_trips_on_postgres() {
    let db = postgres();
    let storage = db.storage().await;
    let alice = storage_user(&storage, "alice");
    // Warm-up: every statement of both kinds of publish prepared on the connections used.
    for (name, version) in [("warm", "1.0.0"), ("warm", "1.1.0"), ("warmer", "1.0.0")] {
        publish_cost(&storage, &alice, name, version).await;
    }
    let update = publish_cost(&storage, &alice, "warm", "1.2.0").await;
    let new_crate = publish_cost(&storage, &alice, "fresh", "0.1.0").await;
    tracing::info!(update, new_crate, "round trips per publish");
    assert!(
        update <= MOST_PER_UPDATE,
        "a new version took {update} round trips"
    );
    assert!(
        new_crate <= MOST_PER_NEW_CRATE,
        "a new crate took {new_crate} round trips"
    );
    // The log stays gap-free: three releases before, two now.
    let seqs: Vec<i64> = match &storage.inner.pool {
        EnginePool::Postgres(database) => {
            use crate::sql::Sql;
            database
                .connection()
                .unwrap()
                .rows("SELECT seq FROM events ORDER BY seq", crate::sql::args![])
                .unwrap()
                .iter()
                .map(|row| row.i64(0).unwrap())
                .collect()
        }
        EnginePool::Sqlite(_) => unreachable!(),
    };
    assert_eq!(seqs, (1..=5).collect::<Vec<_>>());
}

//! The audit log through [`crate::Storage`] on both engines: records appended by the
//! writer's group commit, by commands in a transaction of their own and with the change
//! they record (roles, teams, plans) form one chain that `verify_audit` checks against the
//! anchored head, catching an edited field, a dropped record, a swapped pair and a cut
//! tail. On PostgreSQL several nodes share the database and each anchors its own appends
//! in the shared blob store.

use std::sync::Arc;

use object_store::memory::InMemory;

use crate::audit::AuditEntry;
use crate::metadata_tests::{TestDatabase, on_both_engines, postgres, sqlite, storage_user};
use crate::sql::{Engine, args};
use crate::{BlobBackend, MetadataDatabase, Role, Storage, StorageConfig, StorageError};

on_both_engines!(
    verify_audit_catches_edits_drops_swaps_and_a_cut_tail,
    role_team_and_plan_changes_run_and_their_refusals_leave_nothing,
);

fn entry(action: &str, target: &str) -> AuditEntry {
    AuditEntry::new("alice", "127.0.0.1", action, target, "ok")
}

/// Runs `sql` (statements without arguments) on a pooled connection, bypassing every rule:
/// what someone with write access to the database could do.
fn tamper(storage: &Storage, sql: &str) {
    storage.inner.pool.with_sql(|conn| conn.batch(sql)).unwrap();
}

/// Lifts the append-only triggers of the audit table.
fn lift_triggers(storage: &Storage) {
    tamper(
        storage,
        match storage.inner.pool.engine() {
            Engine::Sqlite => {
                "DROP TRIGGER audit_is_never_updated; DROP TRIGGER audit_is_never_deleted"
            }
            Engine::Postgres => "ALTER TABLE audit_log DISABLE TRIGGER USER",
        },
    );
}

/// `verify_audit`'s problems, as one text.
async fn problems(storage: &Storage) -> String {
    storage.verify_audit().await.unwrap().join("\n")
}

async fn verify_audit_catches_edits_drops_swaps_and_a_cut_tail(db: TestDatabase) {
    let storage = db.storage().await;
    // Queued records join the writer's group commit; `audit_now` commits its own.
    storage.audit(entry("publish", "quay@1.0.0"));
    storage.audit(entry("yank", "quay@1.0.0"));
    storage.settle().await;
    storage
        .audit_now(&entry("token.create", "token 2"))
        .unwrap();
    storage.set_plan(None, "admin", "local").unwrap();
    storage.audit(entry("unyank", "quay@1.0.0"));
    storage.settle().await;
    let records = storage.audit_records(None).unwrap();
    let actions: Vec<&str> = records.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        ["publish", "yank", "token.create", "plan.set", "unyank"]
    );
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    assert_eq!(problems(&storage).await, "", "an intact log verifies");
    let heads = storage.audit_heads().await.unwrap();
    assert_eq!(heads, [(5, records[4].hash.clone())]);

    // The triggers refuse changes.
    let refused = storage.inner.pool.with_sql(|conn| {
        conn.exec(
            "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2",
            args![],
        )
    });
    assert!(refused.is_err(), "the audit log is append-only");
    lift_triggers(&storage);

    // An edited field.
    tamper(
        &storage,
        "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2",
    );
    let found = problems(&storage).await;
    assert!(
        found.contains("record 2") && found.contains("edited"),
        "{found}"
    );
    tamper(
        &storage,
        "UPDATE audit_log SET actor = 'alice' WHERE seq = 2",
    );
    assert_eq!(problems(&storage).await, "");

    // A dropped record.
    tamper(
        &storage,
        "CREATE TABLE audit_saved AS SELECT * FROM audit_log WHERE seq = 3;
         DELETE FROM audit_log WHERE seq = 3",
    );
    let found = problems(&storage).await;
    assert!(found.contains("missing"), "{found}");
    tamper(
        &storage,
        "INSERT INTO audit_log SELECT * FROM audit_saved; DROP TABLE audit_saved",
    );
    assert_eq!(problems(&storage).await, "");

    // A swapped pair.
    tamper(
        &storage,
        "UPDATE audit_log SET seq = 1000 WHERE seq = 2;
         UPDATE audit_log SET seq = 2 WHERE seq = 3;
         UPDATE audit_log SET seq = 3 WHERE seq = 1000",
    );
    let found = problems(&storage).await;
    assert!(
        found.contains("record 3") && found.contains("prev_hash"),
        "{found}"
    );
    tamper(
        &storage,
        "UPDATE audit_log SET seq = 1000 WHERE seq = 2;
         UPDATE audit_log SET seq = 2 WHERE seq = 3;
         UPDATE audit_log SET seq = 3 WHERE seq = 1000",
    );
    assert_eq!(problems(&storage).await, "");

    // A cut tail: the chain that is left is whole, but the anchor names record 5.
    tamper(&storage, "DELETE FROM audit_log WHERE seq = 5");
    let found = problems(&storage).await;
    assert!(
        found.contains("truncated") && found.contains("record 5"),
        "{found}"
    );
}

async fn role_team_and_plan_changes_run_and_their_refusals_leave_nothing(db: TestDatabase) {
    let storage = db.storage().await;
    storage_user(&storage, "root");
    let alice = storage_user(&storage, "alice");
    assert_eq!(
        storage.set_role(None, "root", Role::TenantAdmin).unwrap(),
        Role::Maintainer
    );
    // A maintainer may not change roles; the last tenant admin keeps the role.
    let denied = storage
        .set_role(Some(&alice), "alice", Role::TenantAdmin)
        .unwrap_err();
    assert!(
        matches!(denied, StorageError::NotPermitted { .. }),
        "{denied:?}"
    );
    let last = storage.set_role(None, "root", Role::Reader).unwrap_err();
    assert!(
        matches!(last, StorageError::LastTenantAdmin { .. }),
        "{last:?}"
    );
    assert_eq!(storage.role("root").unwrap(), Role::TenantAdmin);
    assert_eq!(storage.role("alice").unwrap(), Role::Maintainer);

    storage.create_team(None, "core").unwrap();
    let added = storage
        .add_team_members(None, "core", &["alice".to_owned()])
        .unwrap();
    assert_eq!(added, ["alice"]);
    // One unknown login refuses the whole change: nobody is added.
    let unknown = storage
        .add_team_members(None, "core", &["root".to_owned(), "nobody".to_owned()])
        .unwrap_err();
    assert!(
        matches!(unknown, StorageError::UnknownUser { .. }),
        "{unknown:?}"
    );
    let teams = storage.teams().unwrap();
    assert_eq!(teams.len(), 1);
    assert_eq!(teams[0].members, ["alice"]);
    let removed = storage
        .remove_team_members(None, "core", &["alice".to_owned()])
        .unwrap();
    assert_eq!(removed, ["alice"]);

    // A plan change is audited in its own transaction; an unknown plan changes nothing.
    let unknown_plan = storage
        .set_plan(Some("gold"), "admin", "local")
        .unwrap_err();
    assert!(
        matches!(unknown_plan, StorageError::UnknownPlan { .. }),
        "{unknown_plan:?}"
    );
    assert!(storage.audit_records(None).unwrap().is_empty());
    storage.set_plan(None, "admin", "local").unwrap();
    assert_eq!(storage.current_plan().unwrap(), None);
    let records = storage.audit_records(None).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].action, "plan.set");
    assert_eq!(problems(&storage).await, "");
}

/// Several nodes on one PostgreSQL database (each its own data directory, one shared blob
/// store): each anchors its own appends, and any node's verification catches a tail cut
/// below another node's last record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_on_one_postgres_database_anchors_its_appends() {
    let server = wharf_test_support::postgres::PostgresServer::start();
    let bucket: Arc<dyn object_store::ObjectStore> = Arc::new(InMemory::new());
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let open = |dir: &std::path::Path| {
        Storage::open_with_database(
            StorageConfig {
                data_dir: dir.to_path_buf(),
                blobs: BlobBackend::Custom(Arc::clone(&bucket)),
            },
            MetadataDatabase::Postgres(server.url()),
        )
    };
    let node_a = open(dir_a.path()).await.unwrap();
    wharf_test_support::postgres::copy_keys(dir_a.path(), dir_b.path());
    let node_b = open(dir_b.path()).await.unwrap();
    node_a.audit_now(&entry("token.create", "token 1")).unwrap();
    node_b.audit_now(&entry("token.create", "token 2")).unwrap();
    node_a.audit(entry("publish", "quay@1.0.0"));
    node_a.settle().await;
    node_b.settle().await;
    let mut heads = node_a.audit_heads().await.unwrap();
    heads.sort();
    assert_eq!(
        heads.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
        [2, 3],
        "node B anchored record 2, node A record 3"
    );
    assert!(node_a.verify_audit().await.unwrap().is_empty());
    assert!(node_b.verify_audit().await.unwrap().is_empty());
    // Cutting records 2 and 3 leaves a whole chain of one record, but both anchors are
    // past it: node B sees it from node A's anchor too.
    tamper(
        &node_a,
        "ALTER TABLE audit_log DISABLE TRIGGER USER; DELETE FROM audit_log WHERE seq > 1",
    );
    let found = node_b.verify_audit().await.unwrap().join("\n");
    assert!(
        found.contains("anchored head is record 3") && found.contains("anchored head is record 2"),
        "{found}"
    );
    // A restarted node appending to the cut chain does not move its anchor back.
    drop(node_a);
    let node_a = open(dir_a.path()).await.unwrap();
    node_a.audit_now(&entry("token.create", "token 3")).unwrap();
    let found = node_a.verify_audit().await.unwrap().join("\n");
    assert!(
        found.contains("anchored head is record 3")
            && found.contains("record 2: its hash differs from the anchored head"),
        "{found}"
    );
}

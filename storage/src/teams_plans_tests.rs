//! Roles, teams, the plan and usage metering, run on both engines like the core tests
//! (`metadata_tests.rs`): each test runs once on SQLite and once on a throwaway PostgreSQL.

use crate::metadata_tests::{
    TestDatabase, log, on_both_engines, open, postgres, publish, sqlite, user,
};
use crate::plans::{Entitlement, Limits};
use crate::plans_store::{PlanCatalog, store_plan};
use crate::storage::now_unix;
use crate::write_ops::OwnerChange;
use crate::{Role, StorageError, roles_store, teams, usage};

on_both_engines!(
    roles_are_set_and_the_last_tenant_admin_keeps_the_role,
    team_members_publish_and_a_team_counts_as_an_owner,
    team_changes_are_refused_without_a_trace,
    a_plan_limits_new_packages_and_usage_is_counted,
    a_plan_change_takes_effect_at_the_next_publish,
);

async fn roles_are_set_and_the_last_tenant_admin_keeps_the_role(db: TestDatabase) {
    let store = open(&db).await;
    user(&store, "root").await;
    user(&store, "alice").await;
    let before = store
        .write(|conn| roles_store::set_role(conn, "root", Role::TenantAdmin))
        .await
        .unwrap();
    assert_eq!(before, Role::Maintainer);
    let refused = store
        .write(|conn| roles_store::set_role(conn, "root", Role::Reader))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, StorageError::LastTenantAdmin { .. }),
        "{refused:?}"
    );
    assert_eq!(
        refused.to_string(),
        "`root` is the last tenant admin and keeps the role: make another user a tenant admin first (`wharf admin role set LOGIN tenant-admin`); nothing changed"
    );
    let roles = store
        .read(|conn| roles_store::users_with_roles(conn))
        .await
        .unwrap();
    assert_eq!(
        roles,
        vec![
            ("alice".to_owned(), Role::Maintainer),
            ("root".to_owned(), Role::TenantAdmin)
        ]
    );
    // With a second tenant admin, the first may step down.
    store
        .write(|conn| roles_store::set_role(conn, "alice", Role::TenantAdmin))
        .await
        .unwrap();
    store
        .write(|conn| roles_store::set_role(conn, "root", Role::Auditor))
        .await
        .unwrap();
    assert_eq!(
        store
            .read(|conn| roles_store::role_of(conn, "root"))
            .await
            .unwrap(),
        Role::Auditor
    );
    let unknown = store
        .write(|conn| roles_store::set_role(conn, "nobody", Role::Reader))
        .await
        .unwrap_err();
    assert!(
        matches!(unknown, StorageError::UnknownUser { .. }),
        "{unknown:?}"
    );
}

async fn team_members_publish_and_a_team_counts_as_an_owner(db: TestDatabase) {
    let store = open(&db).await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    publish(&store, &alice, "demo", "1.0.0").await.unwrap();
    assert!(matches!(
        publish(&store, &bob, "demo", "1.1.0").await,
        Err(StorageError::NotOwner { .. })
    ));
    store
        .write(|conn| teams::create(conn, "core", 10))
        .await
        .unwrap();
    let added = store
        .write(|conn| teams::change_members(conn, "core", &["bob".to_owned()], true, 11))
        .await
        .unwrap();
    assert_eq!(added, ["bob"]);
    let changed = store
        .change_owners(
            alice.clone(),
            "demo",
            vec!["team:core".to_owned()],
            OwnerChange::Add,
        )
        .await
        .unwrap();
    assert_eq!(changed.value, ["team:core"]);
    let owners: Vec<String> = store
        .owners("demo")
        .await
        .unwrap()
        .into_iter()
        .map(|owner| owner.login)
        .collect();
    assert_eq!(owners, ["alice", "team:core"]);
    publish(&store, &bob, "demo", "1.1.0").await.unwrap();
    // The team is an owner, so alice may leave; the team may not.
    store
        .change_owners(
            alice.clone(),
            "demo",
            vec!["alice".to_owned()],
            OwnerChange::Remove,
        )
        .await
        .unwrap();
    let last = store
        .change_owners(
            bob.clone(),
            "demo",
            vec!["team:core".to_owned()],
            OwnerChange::Remove,
        )
        .await
        .unwrap_err();
    assert!(matches!(last, StorageError::LastOwner { .. }), "{last:?}");
    let listed = store.read(|conn| teams::list(conn)).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "core");
    assert_eq!(listed[0].members, ["bob"]);
    assert_eq!(listed[0].packages, ["demo"]);
    // Leaving the team takes the ownership away.
    store
        .write(|conn| teams::change_members(conn, "core", &["bob".to_owned()], false, 12))
        .await
        .unwrap();
    assert!(matches!(
        publish(&store, &bob, "demo", "1.2.0").await,
        Err(StorageError::NotOwner { .. })
    ));
}

async fn team_changes_are_refused_without_a_trace(db: TestDatabase) {
    let store = open(&db).await;
    let alice = user(&store, "alice").await;
    user(&store, "bob").await;
    publish(&store, &alice, "demo", "1.0.0").await.unwrap();
    store
        .write(|conn| teams::create(conn, "core", 10))
        .await
        .unwrap();
    let again = store
        .write(|conn| teams::create(conn, "core", 11))
        .await
        .unwrap_err();
    assert!(again.to_string().contains("already exists"), "{again}");
    let log_before = log(&store).await;
    // One unknown login refuses the whole change, and bob is not added.
    let unknown = store
        .write(|conn| {
            teams::change_members(
                conn,
                "core",
                &["bob".to_owned(), "nobody".to_owned()],
                true,
                12,
            )
        })
        .await
        .unwrap_err();
    assert!(
        matches!(unknown, StorageError::UnknownUser { .. }),
        "{unknown:?}"
    );
    let no_team = store
        .change_owners(
            alice.clone(),
            "demo",
            vec!["team:ghosts".to_owned()],
            OwnerChange::Add,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(no_team, StorageError::UnknownTeam { .. }),
        "{no_team:?}"
    );
    let listed = store.read(|conn| teams::list(conn)).await.unwrap();
    assert!(listed[0].members.is_empty(), "{listed:?}");
    assert!(listed[0].packages.is_empty(), "{listed:?}");
    assert_eq!(log(&store).await, log_before, "refused changes log nothing");
}

fn limits(entitlement: Entitlement, limit: u64) -> Limits {
    let mut limits = Limits::UNLIMITED;
    limits.set(entitlement, Some(limit));
    limits
}

async fn usage_of(
    store: &crate::metadata::MetadataStore,
    entitlement: Entitlement,
) -> (u64, Option<u64>) {
    let report = store
        .read(|conn| usage::report(conn, &PlanCatalog::default(), now_unix()))
        .await
        .unwrap();
    let entry = report.get(entitlement).unwrap();
    (entry.usage, entry.limit)
}

async fn a_plan_limits_new_packages_and_usage_is_counted(db: TestDatabase) {
    let store = open(&db).await;
    let alice = user(&store, "alice").await;
    let previous = store
        .write(|conn| {
            store_plan(
                conn,
                Some(("free", limits(Entitlement::Packages, 1))),
                "admin",
                1,
            )
        })
        .await
        .unwrap();
    assert_eq!(previous, None);
    publish(&store, &alice, "demo", "1.0.0").await.unwrap();
    assert_eq!(usage_of(&store, Entitlement::Packages).await, (1, Some(1)));
    let before = log(&store).await;
    let refused = publish(&store, &alice, "other", "1.0.0").await.unwrap_err();
    assert!(
        matches!(
            refused,
            StorageError::QuotaExceeded {
                entitlement: Entitlement::Packages,
                limit: 1,
                usage: 1,
                ..
            }
        ),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("free"), "{refused}");
    assert_eq!(log(&store).await, before, "a refused publish logs nothing");
    assert_eq!(usage_of(&store, Entitlement::Packages).await, (1, Some(1)));
    // A new version of a package there already creates no package.
    publish(&store, &alice, "demo", "1.1.0").await.unwrap();
    assert_eq!(usage_of(&store, Entitlement::PublishesPerHour).await.0, 2);
    // Seats: alice holds one.
    assert_eq!(usage_of(&store, Entitlement::Seats).await.0, 1);
    // Recounting from the versions gives the same counters.
    store.write(|conn| usage::recount(conn, &[])).await.unwrap();
    assert_eq!(usage_of(&store, Entitlement::Packages).await, (1, Some(1)));
    // Downloads are added to the month.
    store
        .write(|conn| {
            conn.pipeline(&usage::count_publish("feed", 40, false))
                .map(drop)
        })
        .await
        .unwrap();
    store
        .write(|conn| usage::count_downloads(conn, [("feed", now_unix()), ("feed", now_unix())]))
        .await
        .unwrap();
    assert_eq!(
        usage_of(&store, Entitlement::MonthlyDownloadBytes).await.0,
        80
    );
}

async fn a_plan_change_takes_effect_at_the_next_publish(db: TestDatabase) {
    let store = open(&db).await;
    let alice = user(&store, "alice").await;
    store
        .write(|conn| {
            store_plan(
                conn,
                Some(("tiny", limits(Entitlement::PublishesPerHour, 1))),
                "admin",
                1,
            )
        })
        .await
        .unwrap();
    publish(&store, &alice, "demo", "1.0.0").await.unwrap();
    let refused = publish(&store, &alice, "demo", "1.1.0").await.unwrap_err();
    assert!(
        matches!(
            refused,
            StorageError::QuotaExceeded {
                entitlement: Entitlement::PublishesPerHour,
                ..
            }
        ),
        "{refused:?}"
    );
    let previous = store
        .write(|conn| {
            store_plan(
                conn,
                Some(("team", limits(Entitlement::PublishesPerHour, 10))),
                "admin",
                2,
            )
        })
        .await
        .unwrap();
    assert_eq!(previous.as_deref(), Some("tiny"));
    publish(&store, &alice, "demo", "1.1.0").await.unwrap();
    store
        .write(|conn| store_plan(conn, None, "admin", 3))
        .await
        .unwrap();
    assert_eq!(
        usage_of(&store, Entitlement::PublishesPerHour).await,
        (2, None)
    );
}

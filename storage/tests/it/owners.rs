//! Owner management: scopes, ownership, unknown users and the last owner.

use wharf_storage::{EventKind, Scope, StorageError};

use crate::support::{TestResult, admin, fresh, principal, upload};

#[tokio::test]
async fn owners_can_be_added_and_removed_but_never_all() -> TestResult {
    let (_dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    let bob = admin(&storage, "bob");
    storage.publish(&alice, upload("shared", "1.0.0")).await?;

    // Bob is not an owner yet.
    assert!(matches!(
        storage.publish(&bob, upload("shared", "1.1.0")).await,
        Err(StorageError::NotOwner { .. })
    ));
    let added = storage
        .add_owners(&alice, "shared", &["bob".to_owned(), "alice".to_owned()])
        .await?;
    assert_eq!(added, vec!["bob".to_owned()], "alice already owned it");
    let logins: Vec<String> = storage
        .owners("shared")
        .await?
        .into_iter()
        .map(|o| o.login)
        .collect();
    assert_eq!(logins, vec!["alice".to_owned(), "bob".to_owned()]);
    storage.publish(&bob, upload("shared", "1.1.0")).await?;

    let removed = storage
        .remove_owners(&bob, "shared", &["alice".to_owned()])
        .await?;
    assert_eq!(removed, vec!["alice".to_owned()]);
    assert!(matches!(
        storage.publish(&alice, upload("shared", "1.2.0")).await,
        Err(StorageError::NotOwner { .. })
    ));
    let refused = storage
        .remove_owners(&bob, "shared", &["bob".to_owned()])
        .await;
    assert!(matches!(refused, Err(StorageError::LastOwner { name }) if name == "shared"));
    assert_eq!(
        storage.owners("shared").await?.len(),
        1,
        "bob is still the owner"
    );

    let owner_events: Vec<(EventKind, serde_json::Value)> = storage
        .events(0, 100)?
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::OwnerAdd | EventKind::OwnerRemove))
        .map(|e| (e.kind, e.payload))
        .collect();
    assert_eq!(
        owner_events,
        vec![
            (EventKind::OwnerAdd, serde_json::json!({"login": "bob"})),
            (
                EventKind::OwnerRemove,
                serde_json::json!({"login": "alice"})
            ),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn owner_changes_need_scope_ownership_and_known_users() -> TestResult {
    let (_dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    storage.publish(&alice, upload("kept", "1.0.0")).await?;
    let events_before = storage.events(0, 100)?;

    let publisher_only = principal(&storage, "alice", &[Scope::PublishUpdate], &[]);
    assert!(matches!(
        storage.add_owners(&publisher_only, "kept", &["alice".to_owned()]).await,
        Err(StorageError::MissingScope { scope }) if scope == Scope::Owners
    ));
    let outsider = admin(&storage, "zed");
    assert!(matches!(
        storage
            .add_owners(&outsider, "kept", &["zed".to_owned()])
            .await,
        Err(StorageError::NotOwner { .. })
    ));
    // An unknown login fails the whole request, including the known login before it.
    admin(&storage, "known");
    assert!(matches!(
        storage.add_owners(&alice, "kept", &["known".to_owned(), "ghost".to_owned()]).await,
        Err(StorageError::UnknownUser { login }) if login == "ghost"
    ));
    assert_eq!(storage.owners("kept").await?.len(), 1);
    assert!(matches!(
        storage.owners("nothing").await,
        Err(StorageError::UnknownPackage { .. })
    ));
    let restricted = principal(&storage, "alice", &[Scope::Owners], &["other-*"]);
    assert!(matches!(
        storage
            .add_owners(&restricted, "kept", &["known".to_owned()])
            .await,
        Err(StorageError::NameNotAllowed { .. })
    ));
    assert_eq!(storage.events(0, 100)?, events_before);
    Ok(())
}

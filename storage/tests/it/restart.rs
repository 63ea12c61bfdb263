//! Dropping and reopening the storage keeps every acknowledged write.

use crate::support::{TestResult, admin, fresh, observe, open, upload};

#[tokio::test]
async fn everything_survives_a_restart() -> TestResult {
    let (dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    let bob = admin(&storage, "bob");
    let secret_user = storage.create_token(wharf_storage::NewToken {
        user: "carol".into(),
        scopes: vec![wharf_storage::Scope::Read],
        expires_at: None,
        name_patterns: vec![],
        label: None,
    })?;
    storage.publish(&alice, upload("persist", "1.0.0")).await?;
    storage.publish(&alice, upload("persist", "1.1.0")).await?;
    storage.publish(&bob, upload("other", "0.1.0")).await?;
    storage.set_yanked(&alice, "persist", "1.0.0", true).await?;
    storage
        .add_owners(&alice, "persist", &["bob".to_owned()])
        .await?;
    let before = observe(&storage).await;
    let owners = storage.owners("persist").await?;
    drop(storage);

    let reopened = open(dir.path()).await;
    assert_eq!(observe(&reopened).await, before);
    assert_eq!(reopened.owners("persist").await?, owners);
    assert!(reopened.authenticate(secret_user.secret.expose()).is_ok());
    let report = reopened.reconcile().await?;
    assert_eq!(report.checked, 2);
    assert!(report.rebuilt.is_empty(), "{:?}", report.rebuilt);
    assert!(reopened.verify().await?.problems.is_empty());
    // The log continues without a gap.
    let next = reopened.publish(&alice, upload("persist", "2.0.0")).await?;
    assert_eq!(next.seq, 6);
    Ok(())
}

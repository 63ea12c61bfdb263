//! Tokens across processes: a token created through a second `Storage` on the same data
//! directory (as `wharf token create` does while the server runs) works in the first.

use wharf_storage::{NewToken, Scope, StorageError};

use crate::support::{TestResult, fresh, open};

#[tokio::test]
async fn a_token_created_by_a_second_storage_authenticates_in_the_first() -> TestResult {
    let (dir, server) = fresh().await;
    let admin_command = open(dir.path()).await;
    let created = admin_command.create_token(NewToken {
        user: "ci".into(),
        scopes: vec![Scope::PublishNew, Scope::PublishUpdate],
        expires_at: None,
        name_patterns: vec![],
        label: Some("pipeline".into()),
    })?;
    drop(admin_command);
    let who = server.authenticate(created.secret.expose())?;
    assert_eq!(who.login, "ci");
    assert_eq!(who.token_id, created.info.id);
    assert_eq!(server.list_tokens(Some("ci"))?, vec![created.info.clone()]);

    server.revoke_token(created.info.id)?;
    assert!(matches!(
        server.authenticate(created.secret.expose()),
        Err(StorageError::RevokedToken)
    ));
    assert!(server.list_tokens(None)?[0].revoked);
    assert!(matches!(
        server.revoke_token(4242),
        Err(StorageError::UnknownToken { id: 4242 })
    ));
    Ok(())
}

#[tokio::test]
async fn expired_and_unknown_tokens_are_refused() -> TestResult {
    let (_dir, storage) = fresh().await;
    let expired = storage.create_token(NewToken {
        user: "old".into(),
        scopes: Scope::ALL.to_vec(),
        expires_at: Some(1),
        name_patterns: vec![],
        label: None,
    })?;
    assert!(matches!(
        storage.authenticate(expired.secret.expose()),
        Err(StorageError::ExpiredToken)
    ));
    assert!(matches!(
        storage.authenticate("wharf_0000"),
        Err(StorageError::InvalidToken)
    ));
    assert!(matches!(
        storage.authenticate(""),
        Err(StorageError::InvalidToken)
    ));
    Ok(())
}

#[tokio::test]
async fn a_token_revoked_by_a_second_storage_is_refused_by_the_first_at_once() -> TestResult {
    let (dir, server) = fresh().await;
    let created = server.create_token(NewToken {
        user: "ci".into(),
        scopes: Scope::ALL.to_vec(),
        expires_at: None,
        name_patterns: vec![],
        label: None,
    })?;
    // Verified twice, so the second answer may come from memory.
    for _ in 0..2 {
        assert_eq!(server.authenticate(created.secret.expose())?.login, "ci");
    }
    let admin_command = open(dir.path()).await;
    admin_command.revoke_token(created.info.id)?;
    drop(admin_command);
    assert!(matches!(
        server.authenticate(created.secret.expose()),
        Err(StorageError::RevokedToken)
    ));
    Ok(())
}

//! The transparency log: one leaf per event in the event's transaction, signed checkpoints,
//! and proofs read from the SQLite subtree table that verify with `wharf-trust` against the
//! keyset of the registry's root key.

use wharf_storage::{EventKind, Storage, StorageError};
use wharf_trust::{Checkpoint, KeyRole, Keyset, LogEvent, StatementBody, UtcTime};

use crate::support::{TestResult, admin, fresh, open, principal, upload};

/// The keyset a client gets by walking the chain from the root key it pinned.
fn keyset(storage: &Storage) -> Keyset {
    let notes = storage.keyset_chain();
    let chain: Vec<&[u8]> = notes.iter().map(String::as_bytes).collect();
    wharf_trust::verify_keyset_chain(
        &storage.root_key(),
        storage.log_origin(),
        &chain,
        UtcTime::now(),
    )
    .expect("the keyset chain verifies from the root key")
}

async fn checkpoint(storage: &Storage) -> Checkpoint {
    let note = storage.log_checkpoint().await.expect("checkpoint");
    Checkpoint::open(note.as_bytes(), &keyset(storage).note_key(KeyRole::Log))
        .expect("the checkpoint is signed by the log key")
}

#[tokio::test]
async fn every_event_is_a_leaf_with_a_verifying_inclusion_proof() -> TestResult {
    let (_dir, storage) = fresh().await;
    assert_eq!(
        checkpoint(&storage).await.size(),
        0,
        "a new log is signed empty"
    );
    let alice = admin(&storage, "alice");
    let _bob = admin(&storage, "bob");
    let published = storage.publish(&alice, upload("logged", "1.0.0")).await?;
    storage.set_yanked(&alice, "logged", "1.0.0", true).await?;
    storage.set_yanked(&alice, "logged", "1.0.0", false).await?;
    storage
        .add_owners(&alice, "logged", &["bob".into()])
        .await?;
    storage
        .remove_owners(&alice, "logged", &["bob".into()])
        .await?;
    storage
        .deprecate(
            &alice,
            "logged",
            Some("1.0.0"),
            "use logged-next",
            Some("logged-next"),
        )
        .await?;
    storage.undeprecate(&alice, "logged", Some("1.0.0")).await?;

    let events = storage.events(0, 100)?;
    let checkpoint = checkpoint(&storage).await;
    assert_eq!(checkpoint.size(), events.len() as u64);
    let leaves = storage.log_leaves(0, 100).await?;
    assert_eq!(leaves.len(), events.len());
    let release_key = *keyset(&storage).key(KeyRole::Release);
    for (leaf, event) in leaves.iter().zip(&events) {
        let parsed = LogEvent::parse(&leaf.bytes)?;
        let statement = parsed.statement();
        assert_eq!(statement.name(), "logged");
        assert_eq!(statement.origin(), storage.log_origin());
        statement.verify(&parsed.signatures()[0], &release_key)?;
        let tag = match event.kind {
            EventKind::Release => "wharf-release-v1",
            EventKind::Yank => "wharf-yank-v1",
            EventKind::Unyank => "wharf-unyank-v1",
            EventKind::OwnerAdd => "wharf-owner-add-v1",
            EventKind::OwnerRemove => "wharf-owner-remove-v1",
            EventKind::OwnerKeyAdd => "wharf-owner-key-add-v1",
            EventKind::OwnerKeyRevoke => "wharf-owner-key-revoke-v1",
            EventKind::Deprecate => "wharf-deprecate-v1",
            EventKind::Undeprecate => "wharf-undeprecate-v1",
        };
        assert_eq!(statement.kind().tag(), tag);
        let proof = storage
            .log_inclusion_proof(leaf.index, checkpoint.size())
            .await?;
        checkpoint.verify_inclusion(&leaf.bytes, &proof)?;
    }
    // The release statement's entry is the hash of the line as published.
    let release = LogEvent::parse(&leaves[0].bytes)?;
    let StatementBody::Release { entry, cksum, .. } = release.statement().body() else {
        panic!("the first leaf is the release");
    };
    // The index line names its leaf; the entry hash is over the line without that field.
    assert_eq!(
        published.entry.extensions["wharf"],
        serde_json::json!({ "leaf": 0 })
    );
    let mut as_published = published.entry.clone();
    as_published.extensions.remove("wharf");
    assert_eq!(
        *entry,
        wharf_trust::Hash::sha256(as_published.to_line().as_bytes())
    );
    let file = storage.index_file("logged").await?.expect("index file");
    assert!(
        std::str::from_utf8(&file.bytes)?.contains(r#""wharf":{"leaf":0}"#),
        "the served line names its leaf"
    );
    assert_eq!(cksum.to_hex(), published.entry.cksum);
    assert!(storage.verify().await?.problems.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_growing_log_stays_consistent_with_every_older_checkpoint() -> TestResult {
    let (dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    let mut seen = vec![checkpoint(&storage).await];
    for minor in 0..7 {
        storage
            .publish(&alice, upload("grows", &format!("1.{minor}.0")))
            .await?;
        seen.push(checkpoint(&storage).await);
    }
    let newest = seen.last().expect("checkpoints").clone();
    for older in &seen {
        let proof = storage
            .log_consistency_proof(older.size(), newest.size())
            .await?;
        newest.check_extends(older, &proof)?;
    }
    // The log and its checkpoint survive a restart unchanged.
    drop(storage);
    let reopened = open(dir.path()).await;
    let again = checkpoint(&reopened).await;
    assert_eq!((again.size(), again.root()), (newest.size(), newest.root()));
    Ok(())
}

#[tokio::test]
async fn a_refused_write_appends_no_leaf() -> TestResult {
    let (_dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    let mallory = principal(&storage, "mallory", &wharf_storage::Scope::ALL, &[]);
    storage.publish(&alice, upload("guarded", "1.0.0")).await?;
    let before = storage.log_checkpoint().await?;

    let duplicate = storage.publish(&alice, upload("guarded", "1.0.0")).await;
    assert!(matches!(
        duplicate,
        Err(StorageError::DuplicateVersion { .. })
    ));
    let not_owner = storage.set_yanked(&mallory, "guarded", "1.0.0", true).await;
    assert!(matches!(not_owner, Err(StorageError::NotOwner { .. })));
    let last_owner = storage
        .remove_owners(&alice, "guarded", &["alice".into()])
        .await;
    assert!(matches!(last_owner, Err(StorageError::LastOwner { .. })));

    assert_eq!(storage.log_checkpoint().await?, before);
    assert_eq!(storage.log_size().await?, 1);
    Ok(())
}

#[tokio::test]
async fn proofs_beyond_the_signed_tree_are_refused_with_the_size() -> TestResult {
    let (_dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    storage.publish(&alice, upload("small", "1.0.0")).await?;
    let error = storage.log_inclusion_proof(0, 5).await.unwrap_err();
    assert_eq!(error.kind(), wharf_storage::ErrorKind::BadRequest);
    assert!(error.to_string().contains("size 1"), "{error}");
    let error = storage.log_inclusion_proof(1, 1).await.unwrap_err();
    assert_eq!(error.kind(), wharf_storage::ErrorKind::BadRequest);
    let error = storage.log_consistency_proof(2, 1).await.unwrap_err();
    assert_eq!(error.kind(), wharf_storage::ErrorKind::BadRequest);
    let error = storage.log_leaves(3, 3).await.unwrap_err();
    assert_eq!(error.kind(), wharf_storage::ErrorKind::BadRequest);
    Ok(())
}

#[tokio::test]
async fn a_signed_timestamp_binds_the_checkpoint_and_the_index_files() -> TestResult {
    let (_dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    storage.publish(&alice, upload("stamped", "1.0.0")).await?;
    let signed = storage
        .sign_timestamp(std::time::Duration::from_hours(1))
        .await?;
    let keyset = keyset(&storage);
    let timestamp = wharf_trust::Timestamp::open(
        signed.note.as_bytes(),
        keyset.key(KeyRole::Timestamp),
        storage.log_origin(),
        UtcTime::now(),
    )?;
    timestamp.check_binds(&checkpoint(&storage).await)?;
    let file = storage.index_file("stamped").await?.expect("index file");
    let snapshot = wharf_trust::Snapshot::from_files([(
        file.path.as_str(),
        wharf_trust::Hash::sha256(&file.bytes),
    )])?;
    assert_eq!(timestamp.snapshot(), &snapshot.hash());
    Ok(())
}

#[tokio::test]
async fn a_client_recovers_the_entry_hash_from_a_served_yanked_line() -> TestResult {
    let (_dir, storage) = fresh().await;
    let alice = admin(&storage, "alice");
    storage.publish(&alice, upload("hidden", "1.0.0")).await?;
    let file = storage.set_yanked(&alice, "hidden", "1.0.0", true).await?;
    let served = std::str::from_utf8(&file.bytes)?.trim_end();
    assert!(served.contains(r#""yanked":true"#));
    // The documented rule: drop the leaf member, put `"yanked":false` back.
    let as_published = served
        .replace(r#","wharf":{"leaf":0}"#, "")
        .replace(r#""yanked":true"#, r#""yanked":false"#);
    let leaf = storage.log_leaves(0, 1).await?.remove(0);
    let event = LogEvent::parse(&leaf.bytes)?;
    let StatementBody::Release { entry, .. } = event.statement().body() else {
        panic!("leaf 0 is the release");
    };
    assert_eq!(*entry, wharf_trust::Hash::sha256(as_published.as_bytes()));
    Ok(())
}

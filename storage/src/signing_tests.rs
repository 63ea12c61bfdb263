//! Signed releases, publisher keys and plugin facts through [`crate::Storage`], on both
//! engines (the cases `::sqlite` and `::postgres` of [`on_both_engines!`]): a key is
//! registered, bound by a package's first signed release, required from then on, added by
//! statement and revoked; every refusal names its cause and leaves the log as it was.

use wharf_index_format::{Capabilities, PluginInfo, PluginKind, Pubtime, StorageAccess};
use wharf_trust::{Hash, KeyRegistration, SigningKey, Statement, StatementBody, UtcTime};

use crate::metadata_tests::{
    TestDatabase, on_both_engines, postgres, sqlite, storage_upload, storage_user,
};
use crate::{DailyLimits, EventKind, ReleaseSigning, SignedRelease, Storage, StorageError};

on_both_engines!(
    a_signed_release_binds_its_key_and_later_releases_need_it,
    keys_are_added_by_statement_and_refusals_change_nothing,
    plugin_facts_are_kept_per_version,
);

/// The upload of `name` `version` and its release statement signed by `key` for the
/// registry `origin`, with the key's owner-key-add statement when `binding`.
fn signed(
    origin: &str,
    key: &SigningKey,
    name: &str,
    version: &str,
    binding: bool,
) -> (crate::Upload, ReleaseSigning) {
    let upload = storage_upload(name, version);
    let time = UtcTime::now();
    // The line the registry derives: `pubtime` is the statement's time.
    let mut entry = upload.entry.clone();
    entry.pubtime = Some(Pubtime::from_unix(time.unix()));
    entry.yanked = false;
    let line = crate::log::published_line(&entry.to_line());
    let statement = Statement::new(
        origin,
        name,
        StatementBody::Release {
            version: version.to_owned(),
            cksum: Hash::sha256(&upload.crate_bytes),
            entry: Hash::sha256(line.as_bytes()),
        },
        time,
    )
    .unwrap();
    let key_statement = binding.then(|| {
        let add = Statement::new(
            origin,
            name,
            StatementBody::OwnerKeyAdd {
                key: key.public_key(),
            },
            time,
        )
        .unwrap();
        let signature = add.sign(key);
        (add, signature)
    });
    let signing = ReleaseSigning {
        signed: Some(SignedRelease {
            signatures: vec![statement.sign(key)],
            statement,
            key_statement,
        }),
        require_signatures: false,
    };
    (upload, signing)
}

/// Registers `key` to `who` (a self-signed registration for this registry).
async fn register(storage: &Storage, who: &crate::Principal, key: &SigningKey) {
    let origin = storage.inner.keys.origin().to_owned();
    let registration =
        KeyRegistration::new(&origin, &who.login, key.public_key(), UtcTime::now()).unwrap();
    storage
        .register_publisher_key(
            who,
            &registration.to_text(),
            &registration.sign(key).to_text(),
        )
        .await
        .unwrap();
}

/// The kinds of every logged event, in order.
fn kinds(storage: &Storage) -> Vec<EventKind> {
    storage
        .events(0, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|event| event.kind)
        .collect()
}

#[allow(
    clippy::too_many_lines,
    reason = "one package through its key's whole life"
)]
async fn a_signed_release_binds_its_key_and_later_releases_need_it(db: TestDatabase) {
    let storage = db.storage().await;
    let alice = storage_user(&storage, "alice");
    let origin = storage.inner.keys.origin().to_owned();
    let key = SigningKey::generate();

    // A registration naming another user is refused and registers nothing.
    let wrong = KeyRegistration::new(&origin, "bob", key.public_key(), UtcTime::now()).unwrap();
    let refused = storage
        .register_publisher_key(&alice, &wrong.to_text(), &wrong.sign(&key).to_text())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, StorageError::InvalidSignature { .. }),
        "{refused:?}"
    );
    assert!(storage.publisher_keys(&alice).await.unwrap().is_empty());
    register(&storage, &alice, &key).await;
    let again = KeyRegistration::new(&origin, "alice", key.public_key(), UtcTime::now()).unwrap();
    let twice = storage
        .register_publisher_key(&alice, &again.to_text(), &again.sign(&key).to_text())
        .await
        .unwrap_err();
    assert!(
        matches!(twice, StorageError::KeyAlreadyRegistered { .. }),
        "{twice:?}"
    );

    // The first signed release binds the key: its owner-key-add event comes first.
    let (upload, signing) = signed(&origin, &key, "harbour", "1.0.0", true);
    storage
        .publish_signed(&alice, upload, DailyLimits::default(), signing)
        .await
        .unwrap();
    assert_eq!(
        kinds(&storage),
        [EventKind::OwnerKeyAdd, EventKind::Release]
    );
    let keys = storage.publisher_keys(&alice).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].packages, ["harbour"]);
    let payload = &storage.events(1, 1).unwrap()[0].payload;
    assert!(payload.get("signatures").is_some(), "{payload}");

    // From now on an unsigned release, or one signed by another key, is refused.
    let unsigned = storage
        .publish(&alice, storage_upload("harbour", "1.1.0"))
        .await
        .unwrap_err();
    assert!(
        matches!(unsigned, StorageError::KeyNotAllowed { .. }),
        "{unsigned:?}"
    );
    let stranger = SigningKey::generate();
    register(&storage, &alice, &stranger).await;
    let (upload, signing) = signed(&origin, &stranger, "harbour", "1.1.0", false);
    let foreign = storage
        .publish_signed(&alice, upload, DailyLimits::default(), signing)
        .await
        .unwrap_err();
    assert!(
        matches!(foreign, StorageError::KeyNotAllowed { .. }),
        "{foreign:?}"
    );
    assert_eq!(kinds(&storage).len(), 2, "refused releases log nothing");

    // The bound key signs the next release without a key statement.
    let (upload, signing) = signed(&origin, &key, "harbour", "1.1.0", false);
    storage
        .publish_signed(&alice, upload, DailyLimits::default(), signing)
        .await
        .unwrap();

    // Revoking the key logs its revocation; releases it signs are refused after.
    let revoked = storage
        .revoke_publisher_key(&alice, &key.public_key().key_id().to_string(), None)
        .await
        .unwrap();
    assert!(revoked.revoked.is_some());
    assert_eq!(
        kinds(&storage),
        [
            EventKind::OwnerKeyAdd,
            EventKind::Release,
            EventKind::Release,
            EventKind::OwnerKeyRevoke
        ]
    );
    let (upload, signing) = signed(&origin, &key, "harbour", "1.2.0", false);
    let after = storage
        .publish_signed(&alice, upload, DailyLimits::default(), signing)
        .await
        .unwrap_err();
    assert!(
        matches!(after, StorageError::KeyNotAllowed { .. }),
        "{after:?}"
    );
    assert_eq!(kinds(&storage).len(), 4);
    storage.settle().await;
    let report = storage.verify().await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[allow(
    clippy::too_many_lines,
    reason = "each refusal in turn, then the addition"
)]
async fn keys_are_added_by_statement_and_refusals_change_nothing(db: TestDatabase) {
    let storage = db.storage().await;
    let alice = storage_user(&storage, "alice");
    let bob = storage_user(&storage, "bob");
    let origin = storage.inner.keys.origin().to_owned();
    storage
        .publish(&alice, storage_upload("quay", "1.0.0"))
        .await
        .unwrap();
    let (first, second) = (SigningKey::generate(), SigningKey::generate());
    register(&storage, &alice, &first).await;
    register(&storage, &bob, &second).await;
    let add = |key: &SigningKey| {
        Statement::new(
            &origin,
            "quay",
            StatementBody::OwnerKeyAdd {
                key: key.public_key(),
            },
            UtcTime::now(),
        )
        .unwrap()
    };

    // Bob's key is not an owner's: refused, nothing logged.
    let statement = add(&second);
    let refused = storage
        .add_package_key(
            &alice,
            &statement.to_text(),
            &[statement.sign(&second).to_text()],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(refused, StorageError::KeyNotAllowed { .. }),
        "{refused:?}"
    );
    // The first key must sign its own addition.
    let statement = add(&first);
    let unsigned = storage
        .add_package_key(
            &alice,
            &statement.to_text(),
            &[statement.sign(&second).to_text()],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(unsigned, StorageError::KeyNotAllowed { .. }),
        "{unsigned:?}"
    );
    assert_eq!(kinds(&storage), [EventKind::Release]);

    let added = storage
        .add_package_key(
            &alice,
            &statement.to_text(),
            &[statement.sign(&first).to_text()],
        )
        .await
        .unwrap();
    assert_eq!(added, first.public_key());
    assert_eq!(
        kinds(&storage),
        [EventKind::Release, EventKind::OwnerKeyAdd]
    );
    // Adding it again is refused.
    let statement = add(&first);
    let twice = storage
        .add_package_key(
            &alice,
            &statement.to_text(),
            &[statement.sign(&first).to_text()],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(twice, StorageError::KeyNotAllowed { .. }),
        "{twice:?}"
    );
    // An unknown key id cannot be revoked.
    let unknown = storage
        .revoke_publisher_key(&alice, &second.public_key().key_id().to_string(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(unknown, StorageError::UnknownPublisherKey { .. }),
        "{unknown:?}"
    );
    assert_eq!(kinds(&storage).len(), 2);
}

fn plugin(host_api: &str) -> PluginInfo {
    PluginInfo {
        kind: PluginKind::Plugin,
        capabilities: Capabilities {
            network: vec!["*.example.com:443".into()],
            storage: StorageAccess::ReadWrite,
            ..Capabilities::default()
        },
        entry: "main.wat".into(),
        host_api: host_api.into(),
        min_host_version: None,
        template: None,
    }
}

async fn plugin_facts_are_kept_per_version(db: TestDatabase) {
    let storage = db.storage().await;
    let alice = storage_user(&storage, "alice");
    for (version, host_api) in [("1.0.0", "^1"), ("2.0.0", "^2")] {
        let mut upload = storage_upload("email", version);
        upload.metadata.plugin = Some(plugin(host_api));
        storage.publish(&alice, upload).await.unwrap();
    }
    storage
        .publish(&alice, storage_upload("email-crate", "1.0.0"))
        .await
        .unwrap();
    storage
        .set_yanked(&alice, "email", "1.0.0", true)
        .await
        .unwrap();
    let package = storage.plugin("EMAIL").await.unwrap().expect("a plugin");
    assert_eq!(package.name, "email");
    assert_eq!(package.description.as_deref(), Some("The email package"));
    let versions: Vec<_> = package
        .versions
        .iter()
        .map(|release| (release.version.as_str(), release.yanked))
        .collect();
    assert_eq!(versions, [("1.0.0", true), ("2.0.0", false)]);
    assert_eq!(package.versions[1].info, plugin("^2"));
    assert!(storage.plugin("email-crate").await.unwrap().is_none());
    assert!(storage.plugin("missing").await.unwrap().is_none());
}

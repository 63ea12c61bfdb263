//! Downloads, index changes, garbage collection, entitlements and the plugin lifecycle
//! (deprecations, quarantines, advisories and their signed feed) through
//! [`crate::Storage`], on both engines (cases `::sqlite` and `::postgres`).

use std::time::Duration;

use wharf_trust::{LicenceRefusal, LifecycleFeed, Severity, SigningKey};

use crate::blobs::{put_blob, sha256_hex};
use crate::downloads::{self, CountedDownload};
use crate::metadata_tests::{
    TestDatabase, on_both_engines, postgres, sqlite, storage_upload, storage_user,
};
use crate::sql::args;
use crate::storage::now_unix;
use crate::{AdvisoryInput, EventKind, GcOptions, Role, Storage, StorageError};

on_both_engines!(
    downloads_are_counted_per_version_per_day,
    index_changes_and_garbage_collection_read_the_committed_state,
    premium_downloads_need_a_licence_and_changes_are_audited,
    deprecations_quarantines_and_advisories_reach_the_signed_feed,
);

/// The `.crate` hash of the test upload of `name` `version`.
fn cksum(name: &str, version: &str) -> String {
    sha256_hex(&storage_upload(name, version).crate_bytes)
}

async fn publish(storage: &Storage, who: &crate::Principal, name: &str, version: &str) {
    storage
        .publish(who, storage_upload(name, version))
        .await
        .unwrap();
}

async fn downloads_are_counted_per_version_per_day(db: TestDatabase) {
    let storage = db.storage().await;
    let alice = storage_user(&storage, "alice");
    publish(&storage, &alice, "quay", "1.0.0").await;
    publish(&storage, &alice, "quay", "1.1.0").await;
    let now = now_unix();
    let day = 86_400;
    let batch = vec![
        CountedDownload {
            cksum: cksum("quay", "1.0.0"),
            at: now,
            user_id: Some(alice.user_id),
        },
        CountedDownload {
            cksum: cksum("quay", "1.0.0"),
            at: now,
            user_id: Some(alice.user_id),
        },
        CountedDownload {
            cksum: cksum("quay", "1.1.0"),
            at: now - day,
            user_id: None,
        },
        CountedDownload {
            cksum: "0".repeat(64),
            at: now,
            user_id: None,
        },
    ];
    let again = vec![batch[2].clone()];
    storage
        .inner
        .writer
        .run_sql(move |conn| downloads::record(conn, &batch))
        .await
        .unwrap();
    storage
        .inner
        .writer
        .run_sql(move |conn| downloads::record(conn, &again))
        .await
        .unwrap();
    let stats = storage
        .read_sql(move |conn| downloads::stats(conn, "QUAY", now))
        .await
        .unwrap();
    assert_eq!(stats.total, 4);
    let versions: Vec<(&str, u64)> = stats
        .versions
        .iter()
        .map(|v| (v.version.as_str(), v.downloads))
        .collect();
    assert_eq!(versions, [("1.0.0", 2), ("1.1.0", 2)]);
    assert_eq!(stats.daily.len(), downloads::SERIES_DAYS);
    let last: Vec<u64> = stats.daily[stats.daily.len() - 2..]
        .iter()
        .map(|d| d.downloads)
        .collect();
    assert_eq!(last, [2, 2], "yesterday and today");
    let fetchers = storage
        .read_sql(|conn| conn.one_i64("SELECT count(*) FROM download_fetchers", args![]))
        .await
        .unwrap();
    assert_eq!(fetchers, 1, "a user who fetched twice counts once");
    let missing = storage
        .read_sql(move |conn| downloads::stats(conn, "missing", now))
        .await
        .unwrap_err();
    assert!(matches!(missing, StorageError::UnknownPackage { .. }));
}

async fn index_changes_and_garbage_collection_read_the_committed_state(db: TestDatabase) {
    let storage = db.storage().await;
    let alice = storage_user(&storage, "alice");
    let bob = storage_user(&storage, "bob");
    publish(&storage, &alice, "one", "1.0.0").await;
    publish(&storage, &alice, "two", "1.0.0").await;
    storage
        .add_owners(&alice, "two", &["bob".to_owned()])
        .await
        .unwrap();
    storage
        .set_yanked(&bob, "one", "1.0.0", true)
        .await
        .unwrap_err();
    storage
        .set_yanked(&alice, "one", "1.0.0", true)
        .await
        .unwrap();
    let since_first = storage.index_changes_since(1).await.unwrap();
    let kinds: Vec<&str> = since_first.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["release", "yank"]);
    let names: Vec<&str> = since_first.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["one", "two"]);
    assert!(String::from_utf8_lossy(&since_first.files[0].bytes).contains("\"yanked\":true"));
    let state = storage.index_state().await.unwrap();
    assert_eq!(state.head, since_first.head);
    assert_eq!(state.head, 4);
    assert_eq!(state.files, since_first.files);

    // An orphan blob is collected; the published ones stay.
    let orphan = bytes::Bytes::from_static(b"an upload whose publish was refused");
    let orphan_cksum = sha256_hex(&orphan);
    put_blob(storage.inner.stores.blobs.as_ref(), &orphan_cksum, orphan)
        .await
        .unwrap();
    let report = storage
        .collect_garbage(GcOptions {
            grace: Duration::ZERO,
            dry_run: false,
        })
        .await
        .unwrap();
    let collected: Vec<&str> = report.collected.iter().map(|b| b.cksum.as_str()).collect();
    assert_eq!(collected, [orphan_cksum.as_str()]);
    assert_eq!(report.referenced, 2);
    assert!(storage.blob(&orphan_cksum).await.unwrap().is_none());
    assert!(
        storage
            .blob(&cksum("one", "1.0.0"))
            .await
            .unwrap()
            .is_some()
    );
}

async fn premium_downloads_need_a_licence_and_changes_are_audited(db: TestDatabase) {
    let storage = db.storage().await;
    let alice = storage_user(&storage, "alice");
    publish(&storage, &alice, "quay", "1.0.0").await;
    publish(&storage, &alice, "free", "1.0.0").await;
    assert!(storage.set_premium("quay", true, "admin").unwrap());
    assert!(!storage.set_premium("quay", true, "admin").unwrap());
    let unknown = storage.set_premium("nope", true, "admin").unwrap_err();
    assert!(matches!(unknown, StorageError::UnknownPackage { .. }));
    let key = SigningKey::generate().public_key();
    assert!(storage.add_entitlement_key(&key, "admin").unwrap());
    let info = storage.entitlement_info().unwrap();
    assert_eq!(info.keys, [key.to_text()]);
    assert_eq!(info.premium, ["quay"]);
    assert_eq!(info.revocations, None);

    let refused = storage
        .check_download(&cksum("quay", "1.0.0"), None, None)
        .await
        .unwrap()
        .expect("a premium download needs a licence");
    assert_eq!(refused.release, "quay@1.0.0");
    assert!(matches!(refused.refusal, LicenceRefusal::Missing));
    let malformed = storage
        .check_download(
            &cksum("quay", "1.0.0"),
            Some("not a licence".to_owned()),
            None,
        )
        .await
        .unwrap()
        .expect("a malformed licence is refused");
    assert!(matches!(malformed.refusal, LicenceRefusal::Malformed(_)));
    assert!(
        storage
            .check_download(&cksum("free", "1.0.0"), None, None)
            .await
            .unwrap()
            .is_none()
    );

    let records = storage.audit_records(None).unwrap();
    let actions: Vec<(&str, bool)> = records
        .iter()
        .map(|r| (r.action.as_str(), r.outcome.starts_with("refused")))
        .collect();
    assert_eq!(
        actions,
        [
            ("premium.set", false),
            ("premium.set", false),
            ("premium.set", true),
            ("entitlement-key.add", false)
        ]
    );
    assert!(storage.verify_audit().await.unwrap().is_empty());
}

#[allow(
    clippy::too_many_lines,
    reason = "one registry through every lifecycle action and refusal, then the feed"
)]
async fn deprecations_quarantines_and_advisories_reach_the_signed_feed(db: TestDatabase) {
    let storage = db.storage().await;
    storage_user(&storage, "root");
    storage.set_role(None, "root", Role::TenantAdmin).unwrap();
    let root = storage_user(&storage, "root");
    let alice = storage_user(&storage, "alice");
    let bob = storage_user(&storage, "bob");
    publish(&storage, &alice, "quay", "1.0.0").await;
    publish(&storage, &alice, "quay", "1.1.0").await;

    // Deprecations: owners may, others may not; a blank message is refused.
    storage
        .deprecate(&alice, "quay", None, "use harbour", Some("harbour"))
        .await
        .unwrap();
    storage
        .deprecate(&alice, "quay", Some("1.0.0"), "too old", None)
        .await
        .unwrap();
    storage
        .deprecate(&alice, "quay", Some("1.0.0"), "much too old", None)
        .await
        .unwrap();
    let stranger = storage
        .deprecate(&bob, "quay", None, "mine now", None)
        .await
        .unwrap_err();
    assert!(
        matches!(stranger, StorageError::NotOwner { .. }),
        "{stranger:?}"
    );
    let blank = storage
        .deprecate(&alice, "quay", None, "  ", None)
        .await
        .unwrap_err();
    assert!(
        matches!(blank, StorageError::InvalidLifecycleRequest { .. }),
        "{blank:?}"
    );
    let lifecycle = storage.package_lifecycle("quay").await.unwrap();
    let messages: Vec<&str> = lifecycle
        .deprecations
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(messages, ["use harbour", "much too old"]);
    storage
        .undeprecate(&alice, "quay", Some("1.0.0"))
        .await
        .unwrap();
    let twice = storage
        .undeprecate(&alice, "quay", Some("1.0.0"))
        .await
        .unwrap_err();
    assert!(
        matches!(twice, StorageError::NotDeprecated { .. }),
        "{twice:?}"
    );

    // Quarantine: the administrator only; the version reads as yanked, its blob is held,
    // and its owner cannot unyank it until it is released.
    let denied = storage
        .quarantine(&alice, "quay", "1.1.0", "malware report")
        .await
        .unwrap_err();
    assert!(
        matches!(denied, StorageError::NotPermitted { .. }),
        "{denied:?}"
    );
    let snapshot = storage
        .quarantine(&root, "quay", "1.1.0", "malware report")
        .await
        .unwrap()
        .expect("the line turned yanked");
    assert_eq!(
        String::from_utf8_lossy(&snapshot.bytes)
            .matches("\"yanked\":true")
            .count(),
        1
    );
    let held = storage
        .quarantined_blob(&cksum("quay", "1.1.0"))
        .await
        .unwrap()
        .expect("the blob is held");
    assert_eq!(held.reason, "malware report");
    let unyank = storage
        .set_yanked(&alice, "quay", "1.1.0", false)
        .await
        .unwrap_err();
    assert!(
        matches!(unyank, StorageError::Quarantined { .. }),
        "{unyank:?}"
    );
    storage
        .release_quarantine(&root, "quay", "1.1.0")
        .await
        .unwrap();
    assert!(
        storage
            .quarantined_blob(&cksum("quay", "1.1.0"))
            .await
            .unwrap()
            .is_none()
    );

    // Advisories: the administrator publishes each id once.
    let advisory = AdvisoryInput {
        id: "WHARF-2026-0001".to_owned(),
        package: "quay".to_owned(),
        affected: vec!["<1.1.0".to_owned()],
        severity: Severity::High,
        fixed: Some("1.1.0".to_owned()),
        description: "Reads files it should not.".to_owned(),
    };
    storage
        .publish_advisory(&root, advisory.clone())
        .await
        .unwrap();
    let again = storage.publish_advisory(&root, advisory).await.unwrap_err();
    assert!(
        matches!(again, StorageError::LifecycleConflict { .. }),
        "{again:?}"
    );
    assert_eq!(storage.advisories().await.unwrap().len(), 1);

    // Four deprecation changes, a quarantine and its release, and an advisory.
    assert_eq!(storage.lifecycle_serial().await.unwrap(), 7);
    let feed = storage.lifecycle_feed().await.unwrap();
    let origin = storage.inner.keys.origin().to_owned();
    let opened = LifecycleFeed::open(
        &feed,
        &storage.inner.keys.current().release_key().public_key(),
        &origin,
    )
    .unwrap();
    let terms = opened.terms();
    assert_eq!(terms.serial, 7);
    assert_eq!(terms.deprecations.len(), 1);
    assert!(terms.quarantines.is_empty());
    assert_eq!(terms.advisories[0].id, "WHARF-2026-0001");
    let kinds: Vec<EventKind> = storage
        .events(0, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|event| event.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            EventKind::Release,
            EventKind::Release,
            EventKind::Deprecate,
            EventKind::Deprecate,
            EventKind::Deprecate,
            EventKind::Undeprecate,
            EventKind::Yank,
            EventKind::Unyank
        ]
    );
    storage.settle().await;
    let report = storage.verify().await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

//! Webhooks and their outbox on both engines (`metadata_tests.rs`'s pattern): each test runs
//! once on SQLite and once on a throwaway PostgreSQL.

use crate::metadata::MetadataStore;
use crate::metadata_tests::{TestDatabase, on_both_engines, open, postgres, sqlite};
use crate::sql::{Sql, args};
use crate::webhook_outbox::{
    self, DeliveryState, LEASE_SECONDS, MAX_ATTEMPTS, WebhookEvent, retry_delay,
};
use crate::webhook_retry::{WebhookRetry, requeue};
use crate::{AuditRecord, StorageError, webhooks};

on_both_engines!(
    an_event_is_queued_for_every_webhook_in_its_transaction,
    deliveries_are_retried_with_backoff_then_marked_failed,
    pending_deliveries_survive_a_restart,
    a_url_registered_twice_is_refused_without_a_trace,
    failed_deliveries_are_retried_with_a_fresh_round_and_others_refused,
);

const T0: i64 = 1_800_000_000;

fn event(id: &str, action: &str) -> WebhookEvent {
    WebhookEvent {
        id: id.to_owned(),
        action: action.to_owned(),
        target: "widget@1.0.0".to_owned(),
        actor: "alice".to_owned(),
        time: T0,
    }
}

fn record(action: &str, outcome: &str) -> AuditRecord {
    AuditRecord {
        seq: 1,
        time: "2027-01-15T08:00:00Z".to_owned(),
        actor: "alice".to_owned(),
        tenant: "default".to_owned(),
        source: "127.0.0.1".to_owned(),
        action: action.to_owned(),
        target: "widget".to_owned(),
        outcome: outcome.to_owned(),
        prev_hash: crate::GENESIS_HASH.to_owned(),
        hash: String::new(),
    }
}

fn outbox_rows(conn: &dyn Sql) -> Result<i64, StorageError> {
    conn.one_i64("SELECT count(*) FROM webhook_outbox", args![])
}

async fn an_event_is_queued_for_every_webhook_in_its_transaction(db: TestDatabase) {
    let store = open(&db).await;
    // No webhook: nothing is queued.
    let queued = store
        .write(|conn| webhook_outbox::enqueue(conn, &event("e0", "publish")))
        .await
        .unwrap();
    assert_eq!(queued, 0);
    let ids = store
        .write(|conn| {
            Ok((
                webhooks::insert(conn, "http://a.test/hook", b"sealed-a", T0)?,
                webhooks::insert(conn, "http://b.test/hook", b"sealed-b", T0)?,
            ))
        })
        .await
        .unwrap();
    assert_ne!(ids.0, ids.1);
    // A refused audit step (its transaction rolled back) leaves no delivery behind.
    let refused = store
        .write(|conn| {
            webhook_outbox::enqueue(conn, &event("e1", "publish"))?;
            Err::<(), _>(StorageError::Corrupt {
                what: "the write that announced it failed".to_owned(),
            })
        })
        .await;
    assert!(refused.is_err());
    assert_eq!(store.read(outbox_rows).await.unwrap(), 0);
    // Only successful announced actions are queued.
    let announced = store
        .write(|conn| {
            Ok([
                webhook_outbox::announce(conn, &record("publish", "ok"), T0)?,
                webhook_outbox::announce(conn, &record("publish", "403: no"), T0)?,
                webhook_outbox::announce(conn, &record("token.create", "ok"), T0)?,
            ])
        })
        .await
        .unwrap();
    assert_eq!(announced, [true, false, false]);
    let (due, next) = store
        .write(|conn| webhook_outbox::claim_due(conn, T0, 10))
        .await
        .unwrap();
    assert_eq!(due.len(), 2, "one delivery per webhook");
    assert_eq!(due[0].event_id, due[1].event_id);
    assert_eq!(due[0].body, due[1].body);
    assert_eq!(due[0].sealed.as_deref(), Some(&b"sealed-a"[..]));
    assert_eq!(due[0].attempt, 1);
    let body: serde_json::Value = serde_json::from_str(&due[0].body).unwrap();
    assert_eq!(body["event"], "publish");
    assert_eq!(body["target"], "widget");
    assert_eq!(body["actor"], "alice");
    assert_eq!(body["time"], T0);
    // Claimed rows are leased: not due again until the lease ends.
    assert_eq!(next, Some(T0 + LEASE_SECONDS));
    let (again, _) = store
        .write(|conn| webhook_outbox::claim_due(conn, T0 + 1, 10))
        .await
        .unwrap();
    assert!(again.is_empty());
}

/// A store with one webhook and one queued delivery of an `action` event (`e1`) at `T0`.
async fn one_queued_delivery(db: &TestDatabase, action: &'static str) -> MetadataStore {
    let store = open(db).await;
    store
        .write(move |conn| {
            webhooks::insert(conn, "http://a.test/hook", b"sealed", T0)?;
            webhook_outbox::enqueue(conn, &event("e1", action))
        })
        .await
        .unwrap();
    store
}

async fn deliveries_are_retried_with_backoff_then_marked_failed(db: TestDatabase) {
    let store = one_queued_delivery(&db, "yank").await;
    let mut now = T0;
    for attempt in 1..=MAX_ATTEMPTS {
        let (due, _) = store
            .write(move |conn| webhook_outbox::claim_due(conn, now, 10))
            .await
            .unwrap();
        assert_eq!(due.len(), 1, "attempt {attempt} is due at its time");
        assert_eq!(due[0].attempt, attempt);
        let delivery = due[0].clone();
        let state = store
            .write(move |conn| {
                webhook_outbox::record_attempt(conn, &delivery, "no answer: refused", false, now)
            })
            .await
            .unwrap();
        if attempt < MAX_ATTEMPTS {
            assert_eq!(state, Some(DeliveryState::Pending));
            // Not due before its backoff has passed.
            let early = now + retry_delay(attempt) - 1;
            let (none, next) = store
                .write(move |conn| webhook_outbox::claim_due(conn, early, 10))
                .await
                .unwrap();
            assert!(none.is_empty());
            assert_eq!(next, Some(now + retry_delay(attempt)));
            now += retry_delay(attempt);
        } else {
            assert_eq!(state, Some(DeliveryState::Failed));
        }
    }
    // Given up: never due again, and shown failed with its last error and every attempt.
    let (none, next) = store
        .write(|conn| webhook_outbox::claim_due(conn, i64::MAX / 2, 10))
        .await
        .unwrap();
    assert!(none.is_empty());
    assert_eq!(next, None);
    let entries = store
        .read(|conn| webhook_outbox::entries(conn, 10))
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].state, DeliveryState::Failed);
    assert_eq!(entries[0].attempts, MAX_ATTEMPTS);
    assert_eq!(entries[0].last_error.as_deref(), Some("no answer: refused"));
    let attempts = store
        .read(|conn| webhooks::attempts(conn, 100))
        .await
        .unwrap();
    assert_eq!(attempts.len(), usize::try_from(MAX_ATTEMPTS).unwrap());
    assert_eq!(attempts[0].attempt, MAX_ATTEMPTS);
}

async fn failed_deliveries_are_retried_with_a_fresh_round_and_others_refused(db: TestDatabase) {
    let store = one_queued_delivery(&db, "yank").await;
    // Every attempt fails.
    let mut now = T0;
    for attempt in 1..=MAX_ATTEMPTS {
        let (due, _) = store
            .write(move |conn| webhook_outbox::claim_due(conn, now, 10))
            .await
            .unwrap();
        let delivery = due[0].clone();
        store
            .write(move |conn| webhook_outbox::record_attempt(conn, &delivery, "500", false, now))
            .await
            .unwrap();
        now += retry_delay(attempt);
    }
    store
        .write(move |conn| webhook_outbox::enqueue(conn, &event("e2", "publish")))
        .await
        .unwrap();
    let entries = store
        .read(|conn| webhook_outbox::entries(conn, 10))
        .await
        .unwrap();
    let (pending, failed) = (entries[0].clone(), entries[1].clone());
    assert_eq!(
        (pending.state, failed.state),
        (DeliveryState::Pending, DeliveryState::Failed)
    );

    // Refused: an id no delivery has, a delivery that did not fail. Nothing changes.
    for (id, refusal) in [
        (failed.id + 100, "no webhook delivery"),
        (pending.id, "is pending, not failed"),
    ] {
        let error = store
            .write(move |conn| requeue(conn, WebhookRetry::Delivery(id), now))
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains(refusal) && !error.contains('\n'), "{error}");
    }
    let unchanged = store
        .read(|conn| webhook_outbox::entries(conn, 10))
        .await
        .unwrap();
    assert_eq!(unchanged, entries);

    // Retried: pending, due at once, a fresh round of attempts starting at 1.
    let retried = store
        .write(move |conn| requeue(conn, WebhookRetry::Delivery(failed.id), now))
        .await
        .unwrap();
    assert_eq!(retried, 1);
    let (due, _) = store
        .write(move |conn| webhook_outbox::claim_due(conn, now, 10))
        .await
        .unwrap();
    let retry = due
        .iter()
        .find(|delivery| delivery.event_id == "e1")
        .expect("the retried delivery is due at once")
        .clone();
    assert_eq!(retry.attempt, 1);
    let state = store
        .write(move |conn| webhook_outbox::record_attempt(conn, &retry, "200", true, now))
        .await
        .unwrap();
    assert_eq!(state, Some(DeliveryState::Delivered));
    // None failed is left: retrying every failed one retries none.
    let none = store
        .write(move |conn| requeue(conn, WebhookRetry::AllFailed, now))
        .await
        .unwrap();
    assert_eq!(none, 0);
}

async fn pending_deliveries_survive_a_restart(db: TestDatabase) {
    let store = one_queued_delivery(&db, "deprecate").await;
    let (due, _) = store
        .write(|conn| webhook_outbox::claim_due(conn, T0, 10))
        .await
        .unwrap();
    let first = due[0].clone();
    store
        .write(move |conn| webhook_outbox::record_attempt(conn, &first, "500", false, T0))
        .await
        .unwrap();
    drop(store);
    let reopened = open(&db).await;
    let later = T0 + retry_delay(1);
    let (due, _) = reopened
        .write(move |conn| webhook_outbox::claim_due(conn, later, 10))
        .await
        .unwrap();
    assert_eq!(due.len(), 1, "the pending delivery is still there");
    assert_eq!(due[0].attempt, 2);
    assert_eq!(due[0].event_id, "e1");
    let second = due[0].clone();
    let replayed = due[0].clone();
    let state = reopened
        .write(move |conn| webhook_outbox::record_attempt(conn, &second, "200", true, later))
        .await
        .unwrap();
    assert_eq!(state, Some(DeliveryState::Delivered));
    // The same attempt recorded again (a second worker) changes nothing.
    let state = reopened
        .write(move |conn| webhook_outbox::record_attempt(conn, &replayed, "200", true, later))
        .await
        .unwrap();
    assert_eq!(state, None);
    let entries = reopened
        .read(|conn| webhook_outbox::entries(conn, 10))
        .await
        .unwrap();
    assert_eq!(entries[0].state, DeliveryState::Delivered);
    assert_eq!(entries[0].attempts, 2);
    assert_eq!(entries[0].last_error, None);
    let outcomes: Vec<(u32, String)> = reopened
        .read(|conn| webhooks::attempts(conn, 10))
        .await
        .unwrap()
        .into_iter()
        .map(|attempt| (attempt.attempt, attempt.outcome))
        .collect();
    assert_eq!(outcomes, [(2, "200".to_owned()), (1, "500".to_owned())]);
}

async fn a_url_registered_twice_is_refused_without_a_trace(db: TestDatabase) {
    let store = open(&db).await;
    store
        .write(|conn| webhooks::insert(conn, "http://a.test/hook", b"one", T0))
        .await
        .unwrap();
    let refused = store
        .write(|conn| webhooks::insert(conn, "http://a.test/hook", b"two", T0))
        .await
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        StorageError::LifecycleConflict {
            reason: "a webhook for `http://a.test/hook` is already registered".to_owned()
        }
        .to_string()
    );
    let listed = store.read(webhooks::list).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].url, "http://a.test/hook");
    let sealed = store
        .read(|conn| {
            conn.row("SELECT secret_sealed, secret FROM webhooks", args![])?
                .map(|row| Ok((row.bytes(0)?, row.string(1)?)))
                .transpose()
        })
        .await
        .unwrap();
    assert_eq!(sealed, Some((b"one".to_vec(), String::new())));
}

/// Through [`crate::Storage`] on SQLite: the secret is sealed on registration, opens for the
/// delivery worker, is in no database file, and a registry whose key file is gone cannot
/// sign (the delivery says why instead of sending).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_without_the_key_file_cannot_sign() {
    use crate::{AuditEntry, NewToken, Scope, Storage, StorageConfig};

    const SECRET: &str = "a-long-webhook-secret";
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(StorageConfig::local(dir.path()))
        .await
        .unwrap();
    let token = storage
        .create_token(NewToken {
            user: "admin".to_owned(),
            scopes: Scope::ALL.to_vec(),
            expires_at: None,
            name_patterns: vec![],
            label: None,
        })
        .unwrap();
    let admin = storage.authenticate(token.secret.expose()).unwrap();
    storage
        .add_webhook(&admin, "http://a.test/hook", SECRET)
        .await
        .unwrap();
    let announce = |target: &str| {
        storage.audit(AuditEntry::new(
            "alice",
            "127.0.0.1",
            "publish",
            target,
            "ok",
        ));
    };
    announce("widget@1.0.0");
    storage.settle().await;
    let claimed = storage.claim_webhook_deliveries(10).await.unwrap();
    assert_eq!(claimed.due.len(), 1);
    assert_eq!(claimed.due[0].secret(), Ok(SECRET));
    assert_eq!(claimed.due[0].event(), "publish");
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().contains(crate::db::DB_FILE) {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes
                    .windows(SECRET.len())
                    .any(|window| window == SECRET.as_bytes()),
                "{} holds the secret",
                path.display()
            );
        }
    }

    std::fs::remove_file(crate::webhook_secrets::key_path(dir.path())).unwrap();
    announce("widget@1.1.0");
    storage.settle().await;
    let claimed = storage.claim_webhook_deliveries(10).await.unwrap();
    assert_eq!(claimed.due.len(), 1);
    let reason = claimed.due[0].secret().unwrap_err();
    assert!(reason.contains("webhook key file is missing"), "{reason}");
    assert!(reason.contains(crate::WEBHOOK_KEY_FILE), "{reason}");
}

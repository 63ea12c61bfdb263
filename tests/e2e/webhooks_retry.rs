//! Retrying failed webhook deliveries: a receiver that fails until it is repaired; the
//! delivery is failed (as the last of its attempts would leave it), only the administrator
//! may retry it (a refusal changes nothing), the retry sends it again and the outbox shows it
//! delivered, a delivery that did not fail is refused, and each retry request is in the
//! audit log.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use wharf_e2e_tests::TestResult;

use crate::lifecycle::{Lifecycle, ok};
use crate::webhooks::{Received, outbox, register_as_admin, serve};

/// The attempts a delivery gets before it is marked failed (storage's `WEBHOOK_MAX_ATTEMPTS`).
const MAX_ATTEMPTS: i64 = 12;

/// `POST /api/wharf/v1/webhooks/deliveries/retry` with `body` and `token`: status and body.
fn retry(
    lifecycle: &Lifecycle,
    token: &str,
    body: &serde_json::Value,
) -> TestResult<(u16, serde_json::Value)> {
    let response = lifecycle
        .registry
        .http()
        .post(format!(
            "{}/api/wharf/v1/webhooks/deliveries/retry",
            lifecycle.registry.url()
        ))
        .header("Authorization", token)
        .json(body)
        .send()?;
    Ok((response.status().as_u16(), response.json()?))
}

/// The outbox row of the delivery of the `event` event, once `ready` accepts it (up to 60 s:
/// a delivery retried on the data directory is sent within the worker's 30 s look).
pub(crate) fn outbox_row(
    lifecycle: &Lifecycle,
    event: &str,
    ready: impl Fn(&serde_json::Value) -> bool,
) -> TestResult<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        let rows = outbox(lifecycle)?;
        if let Some(row) = rows.iter().find(|row| row["event"] == event && ready(row)) {
            return Ok(row.clone());
        }
        assert!(Instant::now() < deadline, "no such delivery: {rows:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The outbox row of the deprecation's delivery, once `ready` accepts it.
fn deprecation_row(
    lifecycle: &Lifecycle,
    ready: impl Fn(&serde_json::Value) -> bool,
) -> TestResult<serde_json::Value> {
    outbox_row(lifecycle, "deprecate", ready)
}

/// A webhook registered by the administrator whose receiver answers 500 until it is
/// repaired.
pub(crate) struct FailingWebhook {
    /// The receiver's URL.
    pub(crate) url: String,
    /// Set to make the receiver answer 200.
    pub(crate) repaired: Arc<AtomicBool>,
    /// The requests it received.
    pub(crate) received: mpsc::Receiver<Received>,
}

impl FailingWebhook {
    /// Registers it on `lifecycle`'s registry.
    pub(crate) fn register(lifecycle: &Lifecycle) -> TestResult<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let repaired = Arc::new(AtomicBool::new(false));
        let received = {
            let repaired = Arc::clone(&repaired);
            serve(listener, move |_| repaired.load(Ordering::SeqCst))
        };
        register_as_admin(lifecycle, &url)?;
        Ok(Self {
            url,
            repaired,
            received,
        })
    }

    /// Waits (up to 60 s) for a delivery the repaired receiver answered 200.
    pub(crate) fn delivered(&self) -> TestResult<Received> {
        let deadline = Instant::now() + Duration::from_mins(1);
        loop {
            let delivery = self.received.recv_timeout(Duration::from_mins(1))?;
            if delivery.answered_ok {
                return Ok(delivery);
            }
            assert!(Instant::now() < deadline, "no successful delivery");
        }
    }
}

/// Leaves delivery `id` as its last failed attempt would: its attempts run out over about
/// half an hour (1 s, 2 s, ... 17 min apart), which a test does not wait for. A late attempt
/// of the worker cannot change it (it records only on top of the attempt it claimed).
pub(crate) fn mark_failed(lifecycle: &Lifecycle, id: i64) -> TestResult {
    let database = rusqlite::Connection::open(lifecycle.registry.data_dir().join("wharf.db"))?;
    database.busy_timeout(Duration::from_secs(10))?;
    let failed = database.execute(
        "UPDATE webhook_outbox SET state = 'failed', attempts = ?1, last_error = '500'
         WHERE id = ?2",
        rusqlite::params![MAX_ATTEMPTS, id],
    )?;
    assert_eq!(failed, 1);
    Ok(())
}

#[test]
fn a_failed_delivery_is_retried_by_the_administrator_and_audited() -> TestResult {
    let lifecycle = Lifecycle::start()?;
    let webhook = FailingWebhook::register(&lifecycle)?;
    ok(&lifecycle.wharf(
        &["deprecate", "widget", "--message", "use new-widget"],
        &lifecycle.alice,
    ));
    let first = webhook.received.recv_timeout(Duration::from_secs(30))?;
    assert!(!first.answered_ok);
    let row = deprecation_row(&lifecycle, |row| row["attempts"].as_u64() >= Some(1))?;
    let id = row["id"].as_i64().ok_or("an outbox id")?;

    mark_failed(&lifecycle, id)?;
    let row = deprecation_row(&lifecycle, |row| row["id"] == id)?;
    assert_eq!(row["state"], "failed", "{row}");

    // Only the administrator retries, and a refusal leaves it failed.
    let (status, answer) = retry(
        &lifecycle,
        &lifecycle.alice,
        &serde_json::json!({ "id": id }),
    )?;
    assert_eq!(status, 403, "{answer}");
    let (status, answer) = retry(
        &lifecycle,
        &lifecycle.admin,
        &serde_json::json!({ "id": 999_999 }),
    )?;
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = retry(
        &lifecycle,
        &lifecycle.admin,
        &serde_json::json!({ "id": id, "all_failed": true }),
    )?;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        deprecation_row(&lifecycle, |row| row["id"] == id)?["state"],
        "failed"
    );

    // The receiver is repaired; the retry delivers.
    webhook.repaired.store(true, Ordering::SeqCst);
    let (status, answer) = retry(
        &lifecycle,
        &lifecycle.admin,
        &serde_json::json!({ "id": id }),
    )?;
    assert_eq!(
        (status, &answer["retried"]),
        (200, &serde_json::json!(1)),
        "{answer}"
    );
    let delivery = webhook.delivered()?;
    assert_eq!(delivery.event, "deprecate");
    assert_eq!(delivery.body, first.body, "a retry sends the same event");
    let row = deprecation_row(&lifecycle, |row| {
        row["id"] == id && row["state"] == "delivered"
    })?;
    assert_eq!(row["attempts"], 1, "a fresh round of attempts: {row}");

    // A delivered one is not retried; every failed one, when none is left, is none.
    let (status, answer) = retry(
        &lifecycle,
        &lifecycle.admin,
        &serde_json::json!({ "id": id }),
    )?;
    assert_eq!(status, 409, "{answer}");
    let (status, answer) = retry(
        &lifecycle,
        &lifecycle.admin,
        &serde_json::json!({ "all_failed": true }),
    )?;
    assert_eq!(
        (status, &answer["retried"]),
        (200, &serde_json::json!(0)),
        "{answer}"
    );

    // Every retry request is in the audit log, the refused ones with their status.
    wait_for_retry_records(&lifecycle, id)
}

/// Waits (up to 30 s) until the audit log holds the retries of the test: delivery `id` by the
/// administrator, alice's refused one, and every failed one (records are appended with the
/// server's next commit, behind the answers).
fn wait_for_retry_records(lifecycle: &Lifecycle, id: i64) -> TestResult {
    let target = format!("webhook delivery {id}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let retries = retry_records(lifecycle)?;
        let found = retries.contains(&("admin".to_owned(), target.clone(), "ok".to_owned()))
            && retries
                .iter()
                .any(|(actor, _, outcome)| actor == "alice" && outcome.starts_with("403"))
            && retries.iter().any(|(_, target, outcome)| {
                target == "every failed webhook delivery" && outcome == "ok"
            });
        if found {
            return Ok(());
        }
        assert!(Instant::now() < deadline, "retries missing: {retries:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The `webhook.retry` records of the audit log (`wharf admin audit export`): actor, target
/// and outcome.
pub(crate) fn retry_records(lifecycle: &Lifecycle) -> TestResult<Vec<(String, String, String)>> {
    let export = lifecycle
        .registry
        .run_on_data(&["admin", "audit", "export"], &[]);
    let records: Vec<serde_json::Value> = String::from_utf8(export.stdout)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    Ok(records
        .iter()
        .filter(|record| record["action"] == "webhook.retry")
        .map(|record| {
            let field = |name: &str| record[name].as_str().unwrap_or_default().to_owned();
            (field("actor"), field("target"), field("outcome"))
        })
        .collect())
}

//! `wharf admin webhooks deliveries|retry` against a real server and a real receiver that
//! fails until it is repaired: the listing shows the failed deliveries with their receiver
//! and last error, a retry over the API (`--registry --token`) and one on the data directory
//! (`--data`, the server running) each deliver theirs, a refusal (not the administrator, an
//! unknown id, a delivery that did not fail) is one line and changes nothing, and every
//! retry request is a `webhook.retry` audit record, the refusals with their status.

use std::process::Output;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use wharf_e2e_tests::TestResult;

use crate::lifecycle::{Lifecycle, ok, stderr};
use crate::webhooks_retry::{FailingWebhook, mark_failed, outbox_row, retry_records};

/// `wharf admin webhooks ARGS --data DIR`.
fn on_data(lifecycle: &Lifecycle, args: &[&str]) -> Output {
    let mut command = vec!["admin", "webhooks"];
    command.extend_from_slice(args);
    lifecycle.registry.run_on_data(&command, &[])
}

/// `wharf admin webhooks ARGS --registry URL --token TOKEN`.
fn over_api(lifecycle: &Lifecycle, args: &[&str], token: &str) -> Output {
    let mut command = vec!["admin", "webhooks"];
    command.extend_from_slice(args);
    lifecycle.wharf(&command, token)
}

/// The one-line error of a command that must fail.
fn refused(output: &Output) -> String {
    assert!(!output.status.success(), "succeeded: {output:?}");
    let message = stderr(output);
    assert_eq!(message.trim_end().lines().count(), 1, "{message}");
    message
}

/// The outbox id of the first failed attempt of `event`, then marked failed (as its last
/// attempt would leave it).
fn failed_delivery(lifecycle: &Lifecycle, event: &str) -> TestResult<i64> {
    let row = outbox_row(lifecycle, event, |row| row["attempts"].as_u64() >= Some(1))?;
    let id = row["id"].as_i64().ok_or("an outbox id")?;
    mark_failed(lifecycle, id)?;
    Ok(id)
}

#[test]
fn deliveries_are_listed_and_failed_ones_retried_over_the_api_and_on_the_data_directory()
-> TestResult {
    let lifecycle = Lifecycle::start()?;
    let webhook = FailingWebhook::register(&lifecycle)?;
    ok(&lifecycle.wharf(
        &["deprecate", "widget", "--message", "use new-widget"],
        &lifecycle.alice,
    ));
    ok(&lifecycle.wharf(
        &[
            "admin",
            "quarantine",
            "new-widget",
            "1.0.0",
            "--reason",
            "under review",
        ],
        &lifecycle.admin,
    ));
    let deprecation = failed_delivery(&lifecycle, "deprecate")?;
    let quarantine = failed_delivery(&lifecycle, "quarantine")?;

    let listed = ok(&on_data(&lifecycle, &["deliveries", "--failed"]));
    for (id, event) in [(deprecation, "deprecate"), (quarantine, "quarantine")] {
        let line = listed
            .lines()
            .find(|line| line.starts_with(&format!("{id} failed {event},")))
            .ok_or_else(|| format!("no line for delivery {id}: {listed}"))?;
        assert!(line.contains(&webhook.url), "{line}");
        assert!(
            line.contains("12 attempts") && line.ends_with("last error: 500"),
            "{line}"
        );
    }

    // Refusals: one line each, and the deliveries stay failed.
    let id = deprecation.to_string();
    let by_alice = refused(&over_api(
        &lifecycle,
        &["retry", "--id", &id],
        &lifecycle.alice,
    ));
    assert!(by_alice.contains("403"), "{by_alice}");
    let unknown = refused(&on_data(&lifecycle, &["retry", "--id", "999999"]));
    assert!(
        unknown.contains(
            "there is no webhook delivery 999999; `wharf admin webhooks deliveries` lists them"
        ),
        "{unknown}"
    );
    let both = on_data(&lifecycle, &["retry", "--id", &id, "--all-failed"]);
    assert!(!both.status.success());
    assert_eq!(
        outbox_row(&lifecycle, "deprecate", |row| row["id"] == deprecation)?["state"],
        "failed"
    );

    // Repaired: one retried over the API, the other on the data directory; both arrive.
    webhook.repaired.store(true, Ordering::SeqCst);
    let retried = ok(&over_api(
        &lifecycle,
        &["retry", "--id", &id],
        &lifecycle.admin,
    ));
    assert!(
        retried.starts_with("retried 1 failed delivery:"),
        "{retried}"
    );
    assert_eq!(webhook.delivered()?.event, "deprecate");
    let retried = ok(&on_data(
        &lifecycle,
        &["retry", "--id", &quarantine.to_string()],
    ));
    assert!(
        retried.starts_with("retried 1 failed delivery:"),
        "{retried}"
    );
    assert!(retried.contains("within 30 seconds"), "{retried}");
    assert_eq!(webhook.delivered()?.event, "quarantine");
    for (event, delivered) in [("deprecate", deprecation), ("quarantine", quarantine)] {
        let row = outbox_row(&lifecycle, event, |row| {
            row["id"] == delivered && row["state"] == "delivered"
        })?;
        assert_eq!(row["attempts"], 1, "a fresh round of attempts: {row}");
    }

    // Delivered ones are not retried; none failed is none retried.
    let again = refused(&on_data(&lifecycle, &["retry", "--id", &id]));
    assert!(again.contains("is delivered, not failed"), "{again}");
    let none = ok(&over_api(
        &lifecycle,
        &["retry", "--all-failed"],
        &lifecycle.admin,
    ));
    assert!(none.starts_with("retried 0 failed deliveries"), "{none}");
    let listed = ok(&on_data(&lifecycle, &["deliveries"]));
    assert!(
        listed
            .lines()
            .any(|line| line.starts_with(&format!("{id} delivered deprecate,"))),
        "{listed}"
    );
    let failed = ok(&over_api(
        &lifecycle,
        &["deliveries", "--failed"],
        &lifecycle.admin,
    ));
    assert_eq!(failed.trim(), "no failed webhook deliveries");

    wait_for_records(&lifecycle, deprecation, quarantine)
}

/// Waits (up to 30 s) until the audit log holds every retry request of the test (the API's
/// are appended behind their answers).
fn wait_for_records(lifecycle: &Lifecycle, deprecation: i64, quarantine: i64) -> TestResult {
    let deadline = Instant::now() + Duration::from_secs(30);
    let expected: [(&str, String, &str); 6] = [
        // A request refused before it is read is recorded under its path.
        (
            "alice",
            "/api/wharf/v1/webhooks/deliveries/retry".to_owned(),
            "403: ",
        ),
        (
            "admin",
            "webhook delivery 999999".to_owned(),
            "404: there is no webhook delivery 999999",
        ),
        ("admin", format!("webhook delivery {deprecation}"), "ok"),
        ("admin", format!("webhook delivery {quarantine}"), "ok"),
        (
            "admin",
            format!("webhook delivery {deprecation}"),
            "409: webhook delivery",
        ),
        ("admin", "every failed webhook delivery".to_owned(), "ok"),
    ];
    loop {
        let records = retry_records(lifecycle)?;
        let missing: Vec<_> = expected
            .iter()
            .filter(|(actor, target, outcome)| {
                !records
                    .iter()
                    .any(|(a, t, o)| a == actor && t == target && o.starts_with(outcome))
            })
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        assert!(
            Instant::now() < deadline,
            "missing {missing:?} in {records:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

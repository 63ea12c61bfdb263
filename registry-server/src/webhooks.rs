//! The webhook delivery worker. A successful publish, yank, unyank, deprecation, quarantine
//! or advisory is announced by its audit record: storage queues one outbox row per webhook
//! in the transaction that appends the record (`storage/src/webhook_outbox.rs`), so no answer
//! waits for a receiver and a stop loses nothing. [`spawn_webhook_deliveries`] runs one
//! worker per registry: it claims the due rows, POSTs each event with
//! `Wharf-Signature: sha256=<hex HMAC-SHA256 of the body under the webhook's secret>` and
//! `Wharf-Event: <action>`, and records every attempt; storage decides when the next one is
//! due (backoff doubling from 1 s to an hour) and marks a delivery failed after
//! [`wharf_storage::WEBHOOK_MAX_ATTEMPTS`]. Deliveries pending when the server stops are
//! resumed by the next start.

use std::sync::Arc;
use std::time::Duration;

use wharf_storage::{DueDelivery, Storage};

use crate::state::AppState;

/// The header carrying the body's HMAC.
pub(crate) const SIGNATURE_HEADER: &str = "wharf-signature";

/// The header naming the event.
pub(crate) const EVENT_HEADER: &str = "wharf-event";

/// How long one attempt may take (less than storage's claim lease).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Deliveries claimed at once.
const BATCH: u32 = 32;

/// The longest the worker sleeps without looking at the outbox (deliveries queued by another
/// process, like a command run on the data directory, are seen within this).
const IDLE_POLL: Duration = Duration::from_secs(30);

/// How long the worker waits after the outbox could not be read.
const ERROR_PAUSE: Duration = Duration::from_secs(5);

/// `sha256=<hex>` of `body` under `secret`.
pub(crate) fn signature(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    format!(
        "sha256={}",
        hex::encode(ring::hmac::sign(&key, body).as_ref())
    )
}

fn client() -> Option<reqwest::Client> {
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("wharf-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| tracing::error!(%error, "the webhook HTTP client cannot be built"))
        .ok()
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

/// Starts the delivery worker of `state`'s registry on the current runtime: it seals any
/// plain-text secret an older Wharf stored, then delivers pending and new events until the
/// task is aborted.
pub fn spawn_webhook_deliveries(state: &Arc<AppState>) -> tokio::task::JoinHandle<()> {
    let storage = state.storage.clone();
    tokio::spawn(async move {
        if let Err(error) = storage.seal_plaintext_webhook_secrets().await {
            tracing::error!(%error, "plain-text webhook secrets could not be sealed");
        }
        let Some(client) = client() else { return };
        loop {
            let wait = match storage.claim_webhook_deliveries(BATCH).await {
                Ok(claimed) => {
                    let full = u32::try_from(claimed.due.len()).unwrap_or(u32::MAX) >= BATCH;
                    for delivery in claimed.due {
                        let (storage, client) = (storage.clone(), client.clone());
                        tokio::spawn(async move { deliver(&storage, &client, &delivery).await });
                    }
                    if full {
                        Duration::ZERO
                    } else {
                        claimed.next_due.map_or(IDLE_POLL, |due| {
                            let seconds = u64::try_from(due - now_unix()).unwrap_or(0);
                            Duration::from_secs(seconds).min(IDLE_POLL)
                        })
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "the webhook outbox could not be read");
                    ERROR_PAUSE
                }
            };
            if !wait.is_zero() {
                storage.wait_for_webhook_work(wait).await;
            }
        }
    })
}

/// Makes one attempt and records it.
async fn deliver(storage: &Storage, client: &reqwest::Client, delivery: &DueDelivery) {
    let (delivered, outcome) = match delivery.secret() {
        Ok(secret) => {
            let sent = client
                .post(delivery.url())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(
                    SIGNATURE_HEADER,
                    signature(secret, delivery.body().as_bytes()),
                )
                .header(EVENT_HEADER, delivery.event())
                .body(delivery.body().to_owned())
                .send()
                .await;
            match sent {
                Ok(response) => (
                    response.status().is_success(),
                    response.status().as_u16().to_string(),
                ),
                Err(error) => (false, format!("no answer: {error}")),
            }
        }
        Err(reason) => (false, format!("not sent: {reason}")),
    };
    match storage
        .record_webhook_attempt(delivery, &outcome, delivered)
        .await
    {
        Ok(Some(wharf_storage::DeliveryState::Failed)) => tracing::error!(
            url = delivery.url(),
            event_id = delivery.event_id(),
            outcome,
            "webhook delivery failed; giving up"
        ),
        Ok(Some(wharf_storage::DeliveryState::Pending)) => tracing::warn!(
            url = delivery.url(),
            attempt = delivery.attempt(),
            outcome,
            "webhook delivery failed; it is retried later"
        ),
        Ok(_) => {}
        Err(error) => {
            tracing::warn!(%error, "a webhook delivery attempt could not be recorded");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_rfc_4231_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}

//! Webhook deliveries: after a successful publish, yank, unyank, deprecation, quarantine or
//! advisory, the audit step ([`crate::audit`]) calls [`announce`], which spawns a task and
//! returns at once, so no answer waits for a receiver. The task POSTs the event to every
//! registered webhook with `Wharf-Signature: sha256=<hex HMAC-SHA256 of the body under the
//! webhook's secret>` and `Wharf-Event: <action>`, and retries a failed attempt (no answer,
//! or any status but 2xx) up to [`MAX_ATTEMPTS`] times, waiting 0.5 s, 1 s, 2 s, 4 s between
//! them. Every attempt is written to the delivery log. Deliveries still waiting when the
//! server stops are lost (docs/lifecycle.md).

use std::time::Duration;

use serde_json::json;
use wharf_storage::{Storage, Webhook, WebhookDelivery};

/// The header carrying the body's HMAC.
pub(crate) const SIGNATURE_HEADER: &str = "wharf-signature";

/// The header naming the event.
pub(crate) const EVENT_HEADER: &str = "wharf-event";

/// Attempts per webhook and event.
pub(crate) const MAX_ATTEMPTS: u32 = 5;

/// The wait before the second attempt; it doubles for each further one.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

/// The actions announced to webhooks (the audit log's names).
pub(crate) fn is_announced(action: &str) -> bool {
    matches!(
        action,
        "publish"
            | "yank"
            | "unyank"
            | "deprecate"
            | "undeprecate"
            | "quarantine"
            | "unquarantine"
            | "advisory.publish"
    )
}

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

/// Announces `action` on `target` by `actor` to every webhook, in the background.
pub(crate) fn announce(storage: &Storage, action: &str, target: &str, actor: &str) {
    let now = now_unix();
    let event_id = format!("{now}-{:016x}", rand_id(action, target, now));
    let body = json!({
        "id": event_id,
        "event": action,
        "target": target,
        "actor": actor,
        "time": now,
    })
    .to_string();
    let storage = storage.clone();
    let action = action.to_owned();
    tokio::spawn(async move {
        let hooks = match storage.webhooks().await {
            Ok(hooks) => hooks,
            Err(error) => {
                tracing::error!(%error, "webhooks could not be read; the event is not announced");
                return;
            }
        };
        if hooks.is_empty() {
            return;
        }
        let Some(client) = client() else { return };
        for hook in hooks {
            let (storage, client, body, action, event_id) = (
                storage.clone(),
                client.clone(),
                body.clone(),
                action.clone(),
                event_id.clone(),
            );
            tokio::spawn(async move {
                deliver(&storage, &client, &hook, &action, &event_id, body).await;
            });
        }
    });
}

/// A distinct-enough event id part without a random source: a hash of the event and the
/// process's clock.
fn rand_id(action: &str, target: &str, now: i64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write(action.as_bytes());
    hasher.write(target.as_bytes());
    hasher.write_i64(now);
    hasher.finish()
}

async fn deliver(
    storage: &Storage,
    client: &reqwest::Client,
    hook: &Webhook,
    action: &str,
    event_id: &str,
    body: String,
) {
    let signed = signature(&hook.secret, body.as_bytes());
    let mut wait = FIRST_BACKOFF;
    for attempt in 1..=MAX_ATTEMPTS {
        let sent = client
            .post(&hook.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, &signed)
            .header(EVENT_HEADER, action)
            .body(body.clone())
            .send()
            .await;
        let (delivered, outcome) = match sent {
            Ok(response) => (
                response.status().is_success(),
                response.status().as_u16().to_string(),
            ),
            Err(error) => (false, format!("no answer: {error}")),
        };
        let record = WebhookDelivery {
            webhook: hook.id,
            event_id: event_id.to_owned(),
            event: action.to_owned(),
            attempt,
            outcome: outcome.clone(),
            time: now_unix(),
        };
        if let Err(error) = storage.record_webhook_delivery(record).await {
            tracing::warn!(%error, "a webhook delivery could not be logged");
        }
        if delivered {
            return;
        }
        if attempt < MAX_ATTEMPTS {
            tracing::warn!(
                url = hook.url,
                attempt,
                outcome,
                "webhook delivery failed; retrying"
            );
            tokio::time::sleep(wait).await;
            wait *= 2;
        } else {
            tracing::error!(
                url = hook.url,
                outcome,
                "webhook delivery failed; giving up"
            );
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

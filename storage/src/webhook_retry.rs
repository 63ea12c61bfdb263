//! Retrying webhook deliveries that failed: an administrator puts a `failed` outbox row (or
//! every one) back to `pending`, due at once with a fresh round of [`MAX_ATTEMPTS`]
//! attempts. A refused retry (not the administrator, no such delivery, one that did not
//! fail) changes nothing. The server records each retry request, done or refused, in the
//! audit log as `webhook.retry` (`registry-server/src/audit.rs`), as it does every write.
//!
//! [`MAX_ATTEMPTS`]: crate::webhook_outbox::MAX_ATTEMPTS

use crate::lifecycle::require_admin;
use crate::sql::{Sql, args};
use crate::storage::now_unix;
use crate::{Principal, Storage, StorageError};

/// Which failed deliveries [`Storage::retry_webhook_deliveries`] retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookRetry {
    /// The outbox row with this id (as `GET /api/wharf/v1/webhooks/deliveries` shows it);
    /// refused unless it failed.
    Delivery(i64),
    /// Every failed delivery (none is no error).
    AllFailed,
}

/// Puts the failed deliveries `which` names back to pending, due at `now`; returns how many.
pub(crate) fn requeue(conn: &dyn Sql, which: WebhookRetry, now: i64) -> Result<u64, StorageError> {
    const REQUEUE: &str =
        "UPDATE webhook_outbox SET state = 'pending', attempts = 0, next_attempt = ?1
         WHERE state = 'failed'";
    match which {
        WebhookRetry::AllFailed => conn.exec(REQUEUE, args![now]),
        WebhookRetry::Delivery(id) => {
            let state = conn
                .row("SELECT state FROM webhook_outbox WHERE id = ?1", args![id])?
                .map(|row| row.string(0))
                .transpose()?;
            match state.as_deref() {
                None => Err(StorageError::UnknownWebhookDelivery { id }),
                Some("failed") => conn.exec(&format!("{REQUEUE} AND id = ?2"), args![now, id]),
                Some(state) => Err(StorageError::LifecycleConflict {
                    reason: format!(
                        "webhook delivery {id} is {state}, not failed; only failed deliveries are retried (a pending one is retried by itself)"
                    ),
                }),
            }
        }
    }
}

impl Storage {
    /// Retries the failed webhook deliveries `which` names (the administrator only): each is
    /// due at once with a fresh round of attempts, and the delivery worker is woken. Returns
    /// how many deliveries were put back.
    ///
    /// # Errors
    /// [`StorageError::NotPermitted`] for anyone but the administrator,
    /// [`StorageError::UnknownWebhookDelivery`] for an id no delivery has, and
    /// [`StorageError::LifecycleConflict`] for a delivery that did not fail.
    pub async fn retry_webhook_deliveries(
        &self,
        who: &Principal,
        which: WebhookRetry,
    ) -> Result<u64, StorageError> {
        require_admin(who, "retry webhook deliveries")?;
        let retried = self
            .inner
            .writer
            .run_sql(move |conn| requeue(conn, which, now_unix()))
            .await?;
        self.inner.audit_queue.webhooks_due();
        tracing::info!(retried, ?which, "failed webhook deliveries retried");
        Ok(retried)
    }
}

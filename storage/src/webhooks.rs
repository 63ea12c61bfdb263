//! Webhooks: the endpoints the administrator registers (URL and sealed HMAC secret), the
//! outbox of deliveries (`webhook_outbox.rs`) and the attempt log, one row per attempt.
//! Sending is the server's (`registry-server/src/webhooks.rs`); storage keeps what must
//! survive a stop and what happened.
//!
//! Secrets are sealed before they reach the database (`webhook_secrets.rs`); a secret kept
//! in plain text by an older Wharf is sealed by
//! [`Storage::seal_plaintext_webhook_secrets`], which the delivery worker runs when it
//! starts. The queries run on either engine through the [`Sql`] seam.

use std::time::Duration;

use serde::Serialize;

use crate::lifecycle::require_admin;
use crate::sql::{Sql, args};
use crate::storage::now_unix;
use crate::webhook_outbox::{self, DeliveryState, OutboxEntry, SealedDelivery};
use crate::webhook_secrets;
use crate::{Principal, Storage, StorageError};

/// The webhook tables (SQLite).
pub(crate) const MIGRATION: &str = r"
CREATE TABLE webhooks (
    id          INTEGER PRIMARY KEY,
    url         TEXT NOT NULL UNIQUE,
    secret      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE TABLE webhook_deliveries (
    id          INTEGER PRIMARY KEY,
    webhook_id  INTEGER NOT NULL REFERENCES webhooks(id),
    event_id    TEXT NOT NULL,
    event       TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    outcome     TEXT NOT NULL,
    time        INTEGER NOT NULL
);
";

/// Sealed secrets (the plain-text `secret` column is emptied once they are sealed) and the
/// outbox (SQLite; PostgreSQL's tables are in `pg_schema.rs`).
pub(crate) const OUTBOX_MIGRATION: &str = r"
ALTER TABLE webhooks ADD COLUMN secret_sealed BLOB;
CREATE TABLE webhook_outbox (
    id            INTEGER PRIMARY KEY,
    webhook_id    INTEGER NOT NULL REFERENCES webhooks(id),
    event_id      TEXT NOT NULL,
    event         TEXT NOT NULL,
    body          TEXT NOT NULL,
    attempts      INTEGER NOT NULL,
    next_attempt  INTEGER NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    last_error    TEXT,
    created_at    INTEGER NOT NULL,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (state, next_attempt);
";

/// A registered webhook (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Webhook {
    /// Its id.
    pub id: i64,
    /// Where deliveries go.
    pub url: String,
}

/// One delivery attempt, as `GET /api/wharf/v1/webhooks/deliveries` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookDelivery {
    /// The webhook's id.
    pub webhook: i64,
    /// The announced event's id (the same for every attempt and webhook).
    pub event_id: String,
    /// `publish`, `yank`, `deprecate`, `advisory.publish`, …
    pub event: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// `200`, another status, or the transport error.
    pub outcome: String,
    /// Unix seconds.
    pub time: i64,
}

/// A delivery the worker is to attempt now, with its webhook's secret opened.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    row: SealedDelivery,
    secret: Result<String, String>,
}

impl DueDelivery {
    /// Where to POST it.
    pub fn url(&self) -> &str {
        &self.row.url
    }

    /// The event's action (`publish`, …), for the `Wharf-Event` header.
    pub fn event(&self) -> &str {
        &self.row.event
    }

    /// The event's id.
    pub fn event_id(&self) -> &str {
        &self.row.event_id
    }

    /// The exact JSON body to send (the same for every attempt).
    pub fn body(&self) -> &str {
        &self.row.body
    }

    /// The number of this attempt (1 for the first).
    pub fn attempt(&self) -> u32 {
        self.row.attempt
    }

    /// The HMAC key, or why it cannot be opened (the attempt then fails with that reason).
    ///
    /// # Errors
    /// The reason the sealed secret did not open (its key file missing or another one).
    pub fn secret(&self) -> Result<&str, &str> {
        self.secret.as_deref().map_err(String::as_str)
    }
}

/// What a claim found: the deliveries due now and when the next pending one is due.
#[derive(Debug, Clone, Default)]
pub struct ClaimedDeliveries {
    /// Due now, each claimed for one attempt.
    pub due: Vec<DueDelivery>,
    /// The due time of the earliest pending delivery left (Unix seconds), if any.
    pub next_due: Option<i64>,
}

fn check_url(url: &str) -> Result<(), StorageError> {
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() <= 2048
        && !url.chars().any(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(StorageError::InvalidLifecycleRequest {
            reason: format!(
                "the webhook URL `{url}` is not an http:// or https:// URL without spaces"
            ),
        })
    }
}

/// Inserts a webhook with its sealed secret; refuses a URL already registered.
pub(crate) fn insert(
    conn: &dyn Sql,
    url: &str,
    sealed: &[u8],
    now: i64,
) -> Result<i64, StorageError> {
    if conn.exists("SELECT 1 FROM webhooks WHERE url = ?1", args![url])? {
        return Err(StorageError::LifecycleConflict {
            reason: format!("a webhook for `{url}` is already registered"),
        });
    }
    conn.one_i64(
        "INSERT INTO webhooks (url, secret, secret_sealed, created_at) VALUES (?1, '', ?2, ?3)
         RETURNING id",
        args![url, sealed, now],
    )
}

/// Every registered webhook, by id.
pub(crate) fn list(conn: &dyn Sql) -> Result<Vec<Webhook>, StorageError> {
    conn.rows("SELECT id, url FROM webhooks ORDER BY id", args![])?
        .iter()
        .map(|row| {
            Ok(Webhook {
                id: row.i64(0)?,
                url: row.string(1)?,
            })
        })
        .collect()
}

/// The newest `limit` attempts, newest first.
pub(crate) fn attempts(conn: &dyn Sql, limit: u32) -> Result<Vec<WebhookDelivery>, StorageError> {
    conn.rows(
        "SELECT webhook_id, event_id, event, attempt, outcome, time
         FROM webhook_deliveries ORDER BY id DESC LIMIT ?1",
        args![i64::from(limit)],
    )?
    .iter()
    .map(|row| {
        Ok(WebhookDelivery {
            webhook: row.i64(0)?,
            event_id: row.string(1)?,
            event: row.string(2)?,
            attempt: u32::try_from(row.i64(3)?).unwrap_or(0),
            outcome: row.string(4)?,
            time: row.i64(5)?,
        })
    })
    .collect()
}

impl Storage {
    /// Registers a webhook (the administrator only); returns its id. The secret is sealed
    /// before it is stored.
    pub async fn add_webhook(
        &self,
        who: &Principal,
        url: &str,
        secret: &str,
    ) -> Result<i64, StorageError> {
        require_admin(who, "register a webhook")?;
        check_url(url)?;
        if secret.len() < 16 {
            return Err(StorageError::InvalidLifecycleRequest {
                reason: "the webhook secret is shorter than 16 characters; use a long random one"
                    .to_owned(),
            });
        }
        let (data_dir, url_owned, secret) = (
            self.data_dir().to_path_buf(),
            url.to_owned(),
            secret.to_owned(),
        );
        let sealed = tokio::task::spawn_blocking(move || {
            webhook_secrets::seal(&data_dir, &url_owned, &secret)
        })
        .await??;
        let url = url.to_owned();
        self.inner
            .writer
            .run_sql(move |conn| insert(conn, &url, &sealed, now_unix()))
            .await
    }

    /// Every registered webhook.
    pub async fn webhooks(&self) -> Result<Vec<Webhook>, StorageError> {
        self.read_sql(list).await
    }

    /// The newest `limit` delivery attempts, newest first.
    pub async fn webhook_deliveries(
        &self,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, StorageError> {
        self.read_sql(move |conn| attempts(conn, limit)).await
    }

    /// The newest `limit` outbox rows (one per event and webhook), newest first.
    pub async fn webhook_outbox(&self, limit: u32) -> Result<Vec<OutboxEntry>, StorageError> {
        self.read_sql(move |conn| webhook_outbox::entries(conn, limit))
            .await
    }

    /// Claims up to `limit` deliveries due now for one attempt each and opens their secrets.
    pub async fn claim_webhook_deliveries(
        &self,
        limit: u32,
    ) -> Result<ClaimedDeliveries, StorageError> {
        let (rows, next_due) = self
            .inner
            .writer
            .run_sql(move |conn| webhook_outbox::claim_due(conn, now_unix(), limit))
            .await?;
        if rows.is_empty() {
            return Ok(ClaimedDeliveries {
                due: Vec::new(),
                next_due,
            });
        }
        let data_dir = self.data_dir().to_path_buf();
        let due = tokio::task::spawn_blocking(move || {
            rows.into_iter()
                .map(|row| {
                    let secret = match &row.sealed {
                        Some(sealed) => webhook_secrets::open(&data_dir, &row.url, sealed)
                            .map_err(|error| error.to_string()),
                        None => Ok(row.plain.clone()),
                    };
                    DueDelivery { row, secret }
                })
                .collect()
        })
        .await?;
        Ok(ClaimedDeliveries { due, next_due })
    }

    /// Records the outcome of one attempt (`delivered`: a 2xx came back); returns the
    /// delivery's new state (`None`: another worker had recorded this attempt already).
    pub async fn record_webhook_attempt(
        &self,
        delivery: &DueDelivery,
        outcome: &str,
        delivered: bool,
    ) -> Result<Option<DeliveryState>, StorageError> {
        let (row, outcome) = (delivery.row.clone(), outcome.to_owned());
        let state = self
            .inner
            .writer
            .run_sql(move |conn| {
                webhook_outbox::record_attempt(conn, &row, &outcome, delivered, now_unix())
            })
            .await?;
        if state == Some(DeliveryState::Pending) {
            // The worker sleeps until the earliest due time: let it see the new one.
            self.inner.audit_queue.webhooks_due();
        }
        Ok(state)
    }

    /// Seals every secret an older Wharf kept in plain text; returns how many.
    pub async fn seal_plaintext_webhook_secrets(&self) -> Result<usize, StorageError> {
        let plain: Vec<(i64, String, String)> = self
            .read_sql(|conn| {
                conn.rows(
                    "SELECT id, url, secret FROM webhooks WHERE secret <> ''",
                    args![],
                )?
                .iter()
                .map(|row| Ok((row.i64(0)?, row.string(1)?, row.string(2)?)))
                .collect()
            })
            .await?;
        if plain.is_empty() {
            return Ok(0);
        }
        let data_dir = self.data_dir().to_path_buf();
        let sealed = tokio::task::spawn_blocking(move || {
            plain
                .into_iter()
                .map(|(id, url, secret)| Ok((id, webhook_secrets::seal(&data_dir, &url, &secret)?)))
                .collect::<Result<Vec<_>, StorageError>>()
        })
        .await??;
        let count = sealed.len();
        self.inner
            .writer
            .run_sql(move |conn| {
                for (id, sealed) in &sealed {
                    conn.exec(
                        "UPDATE webhooks SET secret_sealed = ?1, secret = '' WHERE id = ?2",
                        args![sealed.as_slice(), *id],
                    )?;
                }
                Ok(())
            })
            .await?;
        tracing::info!(count, "plain-text webhook secrets sealed");
        Ok(count)
    }

    /// Waits until an event was queued for the webhooks or an attempt was rescheduled in this
    /// process, or `at_most` has passed (deliveries queued by another process are seen then).
    pub async fn wait_for_webhook_work(&self, at_most: Duration) {
        let _elapsed = tokio::time::timeout(at_most, self.inner.audit_queue.webhook_work()).await;
    }
}

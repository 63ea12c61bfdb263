//! Webhooks: the endpoints the administrator registers (URL and HMAC secret) and the
//! delivery log, one row per attempt. Delivering is the server's (`registry-server/src/
//! webhooks.rs`); storage only keeps what it needs and what happened.

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::lifecycle::require_admin;
use crate::storage::now_unix;
use crate::{Principal, Storage, StorageError};

/// The webhook tables.
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

/// A registered webhook (the secret included: the server signs with it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Its id.
    pub id: i64,
    /// Where deliveries go.
    pub url: String,
    /// The HMAC-SHA256 key.
    pub secret: String,
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

fn read_webhooks(conn: &Connection) -> Result<Vec<Webhook>, StorageError> {
    let mut statement = conn.prepare_cached("SELECT id, url, secret FROM webhooks ORDER BY id")?;
    let rows = statement.query_map([], |row| {
        Ok(Webhook {
            id: row.get(0)?,
            url: row.get(1)?,
            secret: row.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

impl Storage {
    /// Registers a webhook (the administrator only); returns its id.
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
        let (url, secret) = (url.to_owned(), secret.to_owned());
        self.inner
            .writer
            .run(move |conn| {
                if conn
                    .prepare_cached("SELECT 1 FROM webhooks WHERE url = ?1")?
                    .exists([&url])?
                {
                    return Err(StorageError::LifecycleConflict {
                        reason: format!("a webhook for `{url}` is already registered"),
                    });
                }
                conn.prepare_cached(
                    "INSERT INTO webhooks (url, secret, created_at) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![url, secret, now_unix()])?;
                Ok(conn.last_insert_rowid())
            })
            .await
    }

    /// Every registered webhook.
    pub async fn webhooks(&self) -> Result<Vec<Webhook>, StorageError> {
        self.read(read_webhooks).await
    }

    /// Records one delivery attempt.
    pub async fn record_webhook_delivery(
        &self,
        delivery: WebhookDelivery,
    ) -> Result<(), StorageError> {
        self.inner
            .writer
            .run(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO webhook_deliveries (webhook_id, event_id, event, attempt, outcome, time)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    delivery.webhook,
                    delivery.event_id,
                    delivery.event,
                    delivery.attempt,
                    delivery.outcome,
                    delivery.time
                ])?;
                Ok(())
            })
            .await
    }

    /// The newest `limit` delivery attempts, newest first.
    pub async fn webhook_deliveries(
        &self,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, StorageError> {
        self.read(move |conn| {
            let mut statement = conn.prepare_cached(
                "SELECT webhook_id, event_id, event, attempt, outcome, time
                 FROM webhook_deliveries ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = statement.query_map([limit], |row| {
                Ok(WebhookDelivery {
                    webhook: row.get(0)?,
                    event_id: row.get(1)?,
                    event: row.get(2)?,
                    attempt: row.get(3)?,
                    outcome: row.get(4)?,
                    time: row.get(5)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }
}

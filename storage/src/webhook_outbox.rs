//! The webhook outbox: one row per event and webhook, written in the transaction that
//! appends the audit record announcing the event, so a committed event always has its
//! deliveries and a refused one has none. A delivery worker (`registry-server/src/
//! webhooks.rs`) claims the due rows, sends them and records each attempt here; the rows
//! outlive a stop of the server, so a restart resumes them.
//!
//! A row is `pending` until an attempt gets a 2xx (`delivered`) or the
//! [`MAX_ATTEMPTS`]th attempt fails (`failed`, kept with its last error). After the `n`th
//! failed attempt the next one is due [`retry_delay`]`(n)` seconds later: 1, 2, 4, … up to
//! an hour. Claiming a row moves its due time [`LEASE_SECONDS`] ahead, so a row whose worker
//! stopped in mid-attempt is tried again after that, and two servers sharing one database do
//! not send it at once.
//!
//! Every query is portable SQL on the [`Sql`] seam (the tables are in `pg_schema.rs` too).

use serde::Serialize;

use crate::sql::{Sql, SqlRow, args};
use crate::{AuditRecord, StorageError};

/// Attempts per event and webhook before the delivery is marked failed.
pub const MAX_ATTEMPTS: u32 = 12;

/// The longest wait between two attempts, in seconds.
const MAX_DELAY_SECONDS: i64 = 3600;

/// How far claiming a row moves its due time ahead, in seconds (longer than one attempt may
/// take).
pub(crate) const LEASE_SECONDS: i64 = 30;

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

/// Seconds between the `attempt`th failed attempt and the next one: 1, 2, 4, … capped at an
/// hour.
pub(crate) fn retry_delay(attempt: u32) -> i64 {
    let shift = attempt.saturating_sub(1).min(31);
    (1_i64 << shift).min(MAX_DELAY_SECONDS)
}

/// An event to announce: what the audit record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WebhookEvent {
    /// The event's id (the same for every webhook and attempt).
    pub(crate) id: String,
    /// The audit action (`publish`, `yank`, …).
    pub(crate) action: String,
    /// What it was done to.
    pub(crate) target: String,
    /// Who did it.
    pub(crate) actor: String,
    /// Unix seconds.
    pub(crate) time: i64,
}

impl WebhookEvent {
    /// The JSON body every webhook receives for this event.
    pub(crate) fn body(&self) -> String {
        serde_json::json!({
            "id": self.id,
            "event": self.action,
            "target": self.target,
            "actor": self.actor,
            "time": self.time,
        })
        .to_string()
    }
}

/// Queues `event` for every registered webhook, due at once; returns how many rows. (The
/// casts give PostgreSQL the parameters' types, which a `SELECT` list does not.)
pub(crate) fn enqueue(conn: &dyn Sql, event: &WebhookEvent) -> Result<u64, StorageError> {
    conn.exec(
        "INSERT INTO webhook_outbox
             (webhook_id, event_id, event, body, attempts, next_attempt, state, created_at)
         SELECT id, CAST(?1 AS TEXT), CAST(?2 AS TEXT), CAST(?3 AS TEXT), 0,
                CAST(?4 AS BIGINT), 'pending', CAST(?4 AS BIGINT)
         FROM webhooks",
        args![
            event.id.as_str(),
            event.action.as_str(),
            event.body(),
            event.time
        ],
    )
}

/// Queues the event `record` tells of when it is a successful announced action (see
/// [`is_announced`]); returns whether any delivery was queued. Runs in the transaction that
/// appends the record.
pub(crate) fn announce(
    conn: &dyn Sql,
    record: &AuditRecord,
    now: i64,
) -> Result<bool, StorageError> {
    if record.outcome != "ok" || !is_announced(&record.action) {
        return Ok(false);
    }
    let event = WebhookEvent {
        id: format!("{now}-{:016x}", rand::random::<u64>()),
        action: record.action.clone(),
        target: record.target.clone(),
        actor: record.actor.clone(),
        time: now,
    };
    Ok(enqueue(conn, &event)? > 0)
}

/// A claimed delivery, its webhook's secret still sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SealedDelivery {
    /// The outbox row.
    pub(crate) id: i64,
    /// The webhook's id and URL.
    pub(crate) webhook: i64,
    pub(crate) url: String,
    /// The sealed secret (`None`: a plain-text secret of an older Wharf, in `plain`).
    pub(crate) sealed: Option<Vec<u8>>,
    pub(crate) plain: String,
    /// The event's id, action and JSON body.
    pub(crate) event_id: String,
    pub(crate) event: String,
    pub(crate) body: String,
    /// The number of this attempt (1 for the first).
    pub(crate) attempt: u32,
}

fn attempt_number(row: &SqlRow, index: usize) -> Result<u32, StorageError> {
    u32::try_from(row.i64(index)?).map_err(|_| StorageError::Corrupt {
        what: "a webhook outbox row has a negative attempt count".to_owned(),
    })
}

/// Claims up to `limit` rows due at `now` (moving each due time [`LEASE_SECONDS`] ahead);
/// returns them and the due time of the earliest pending row left, if any. Runs in the
/// writer's transaction.
pub(crate) fn claim_due(
    conn: &dyn Sql,
    now: i64,
    limit: u32,
) -> Result<(Vec<SealedDelivery>, Option<i64>), StorageError> {
    let rows = conn.rows(
        "SELECT o.id, o.webhook_id, w.url, w.secret_sealed, w.secret, o.event_id, o.event,
                o.body, o.attempts
         FROM webhook_outbox o JOIN webhooks w ON w.id = o.webhook_id
         WHERE o.state = 'pending' AND o.next_attempt <= ?1
         ORDER BY o.next_attempt, o.id LIMIT ?2",
        args![now, i64::from(limit)],
    )?;
    let mut due = Vec::with_capacity(rows.len());
    for row in rows {
        let delivery = SealedDelivery {
            id: row.i64(0)?,
            webhook: row.i64(1)?,
            url: row.string(2)?,
            sealed: row.opt_bytes(3)?,
            plain: row.string(4)?,
            event_id: row.string(5)?,
            event: row.string(6)?,
            body: row.string(7)?,
            attempt: attempt_number(&row, 8)? + 1,
        };
        conn.exec(
            "UPDATE webhook_outbox SET next_attempt = ?1 WHERE id = ?2",
            args![now + LEASE_SECONDS, delivery.id],
        )?;
        due.push(delivery);
    }
    let next = conn
        .row(
            "SELECT min(next_attempt) FROM webhook_outbox WHERE state = 'pending'",
            args![],
        )?
        .map(|row| row.opt_i64(0))
        .transpose()?
        .flatten();
    Ok((due, next))
}

/// What became of a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Another attempt is due later.
    Pending,
    /// A receiver answered 2xx.
    Delivered,
    /// Every attempt failed; no more are made.
    Failed,
}

impl DeliveryState {
    fn name(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    fn parse(name: &str) -> Result<Self, StorageError> {
        match name {
            "pending" => Ok(Self::Pending),
            "delivered" => Ok(Self::Delivered),
            "failed" => Ok(Self::Failed),
            other => Err(StorageError::Corrupt {
                what: format!("a webhook outbox row has the unknown state `{other}`"),
            }),
        }
    }
}

/// Records attempt `delivery.attempt` (its `outcome`: a status or a transport error) in the
/// outbox row and the attempt log; returns the row's new state. An attempt already recorded
/// (another worker's) changes nothing and answers `None`.
pub(crate) fn record_attempt(
    conn: &dyn Sql,
    delivery: &SealedDelivery,
    outcome: &str,
    delivered: bool,
    now: i64,
) -> Result<Option<DeliveryState>, StorageError> {
    let attempt = delivery.attempt;
    let state = if delivered {
        DeliveryState::Delivered
    } else if attempt >= MAX_ATTEMPTS {
        DeliveryState::Failed
    } else {
        DeliveryState::Pending
    };
    let next = if state == DeliveryState::Pending {
        now + retry_delay(attempt)
    } else {
        now
    };
    let error = (!delivered).then_some(outcome);
    let changed = conn.exec(
        "UPDATE webhook_outbox SET attempts = ?1, state = ?2, next_attempt = ?3, last_error = ?4
         WHERE id = ?5 AND attempts = ?6 AND state = 'pending'",
        args![
            i64::from(attempt),
            state.name(),
            next,
            error,
            delivery.id,
            i64::from(attempt - 1)
        ],
    )?;
    if changed == 0 {
        return Ok(None);
    }
    conn.exec(
        "INSERT INTO webhook_deliveries (webhook_id, event_id, event, attempt, outcome, time)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        args![
            delivery.webhook,
            delivery.event_id.as_str(),
            delivery.event.as_str(),
            i64::from(attempt),
            outcome,
            now
        ],
    )?;
    Ok(Some(state))
}

/// One event's delivery to one webhook, as `GET /api/wharf/v1/webhooks/deliveries` shows it
/// under `outbox`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxEntry {
    /// The row's id (what a retry names: `POST /api/wharf/v1/webhooks/deliveries/retry`).
    pub id: i64,
    /// The webhook's id.
    pub webhook: i64,
    /// The event's id.
    pub event_id: String,
    /// `publish`, `yank`, …
    pub event: String,
    /// `pending`, `delivered` or `failed`.
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (Unix seconds; meaningful while pending).
    pub next_attempt: i64,
    /// The last failed attempt's outcome, if any.
    pub last_error: Option<String>,
}

/// The newest `limit` outbox rows, newest first.
pub(crate) fn entries(conn: &dyn Sql, limit: u32) -> Result<Vec<OutboxEntry>, StorageError> {
    conn.rows(
        "SELECT webhook_id, event_id, event, state, attempts, next_attempt, last_error, id
         FROM webhook_outbox ORDER BY id DESC LIMIT ?1",
        args![i64::from(limit)],
    )?
    .iter()
    .map(|row| {
        Ok(OutboxEntry {
            id: row.i64(7)?,
            webhook: row.i64(0)?,
            event_id: row.string(1)?,
            event: row.string(2)?,
            state: DeliveryState::parse(&row.string(3)?)?,
            attempts: attempt_number(row, 4)?,
            next_attempt: row.i64(5)?,
            last_error: row.opt_string(6)?,
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_from_one_second_up_to_an_hour() {
        let delays: Vec<i64> = (1..MAX_ATTEMPTS).map(retry_delay).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]);
        assert_eq!(retry_delay(40), MAX_DELAY_SECONDS);
        assert_eq!(retry_delay(200), MAX_DELAY_SECONDS);
    }
}

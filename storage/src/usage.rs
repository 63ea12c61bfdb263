//! Usage metering and the plan's refusals.
//!
//! What a registry uses is read from its database, never by listing blobs: the writer keeps
//! two counters (`storage_bytes`: bytes of the distinct blobs versions reference, from
//! `blob_sizes`, and `packages`) in the transaction of each publish, and
//! [`crate::Storage::reconcile`] recounts both from the versions (looking up the size of a
//! blob published before sizes were kept). Seats are the users with a live token (tenant
//! admins left out: the registry's administrators never take a seat), downloaded bytes are added per calendar month (UTC) with each
//! batch of counted downloads, and publishes in the last hour are the newest versions.
//!
//! The queries run on either engine through the [`Sql`] seam (the tables are in
//! `pg_schema.rs` too).
//!
//! Each check compares the usage with the current plan's limit (`plans_store.rs`) and
//! refuses with [`StorageError::QuotaExceeded`]: publishes are checked before the blob is
//! written and again inside the publish's transaction, so nothing is left behind.

use serde::Serialize;

use crate::plans::{Entitlement, Limits};
use crate::plans_store::PlanCatalog;
use crate::sql::{Sql, SqlValue, args};
use crate::{Role, StorageError};

/// The migration that adds the current plan, blob sizes and the usage counters.
pub(crate) const MIGRATION: &str = r"
CREATE TABLE registry_plan (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    name    TEXT NOT NULL,
    limits  TEXT NOT NULL,
    set_at  INTEGER NOT NULL,
    set_by  TEXT NOT NULL
);
CREATE TABLE blob_sizes (
    cksum  TEXT PRIMARY KEY,
    bytes  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE usage_counters (
    name   TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE usage_download_months (
    month  TEXT PRIMARY KEY,
    bytes  INTEGER NOT NULL
) WITHOUT ROWID;
";

const STORAGE_BYTES: &str = "storage_bytes";
const PACKAGES: &str = "packages";
const HOUR: i64 = 3600;
/// The most recent versions looked at when counting publishes of the last hour for display.
const SHOWN_PUBLISHES_CAP: u64 = 100_000;

/// One entitlement's usage and limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct EntitlementUsage {
    /// Which entitlement (its plans-file key).
    pub entitlement: Entitlement,
    /// What the registry uses now.
    pub usage: u64,
    /// The plan's limit; `null` when unlimited.
    pub limit: Option<u64>,
}

/// What a registry uses, against its plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UsageReport {
    /// The registry's plan; `null` when it has none (everything unlimited).
    pub plan: Option<String>,
    /// Whether the plans file this process read defines that plan (the limits shown are the
    /// ones the database keeps, copied from the file when the plan was set or the server
    /// started).
    pub plan_defined: bool,
    /// The calendar month (UTC, `YYYY-MM`) `monthly-download-bytes` counts.
    pub month: String,
    /// Each entitlement, in a fixed order.
    pub entitlements: Vec<EntitlementUsage>,
}

impl UsageReport {
    /// The entry of `entitlement`.
    pub fn get(&self, entitlement: Entitlement) -> Option<&EntitlementUsage> {
        self.entitlements
            .iter()
            .find(|entry| entry.entitlement == entitlement)
    }
}

/// The start of a refusal, by what was refused.
pub(crate) fn refusal_subject(entitlement: Entitlement) -> &'static str {
    match entitlement {
        Entitlement::Seats => "no seat is left for a new user",
        Entitlement::MonthlyDownloadBytes => "download refused",
        _ => "publish refused",
    }
}

/// What the refused request would add, as the message says it.
pub(crate) fn refusal_adding(entitlement: Entitlement, adding: u64) -> String {
    match entitlement {
        Entitlement::StorageBytes => format!(
            " and this crate adds {}",
            Entitlement::StorageBytes.show(adding)
        ),
        Entitlement::MonthlyDownloadBytes => format!(
            " this month and this download adds {}",
            Entitlement::MonthlyDownloadBytes.show(adding)
        ),
        Entitlement::PublishesPerHour => " in the last hour".to_owned(),
        Entitlement::Packages | Entitlement::PrivatePackages => {
            " and this publish creates a new one".to_owned()
        }
        Entitlement::Seats => String::new(),
    }
}

/// `` `key`: `` before a plans-file reason, nothing when the whole file is at fault.
pub(crate) fn shown_key(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!("`{key}`: ")
    }
}

/// The calendar month (UTC) of a Unix time, `YYYY-MM`.
pub(crate) fn month_of(unix: i64) -> String {
    let text = wharf_index_format::Pubtime::from_unix(unix).to_string();
    text.get(..7).unwrap_or(&text).to_owned()
}

fn counter(conn: &dyn Sql, name: &str) -> Result<u64, StorageError> {
    let value = conn
        .row(
            "SELECT value FROM usage_counters WHERE name = ?1",
            args![name],
        )?
        .map(|row| row.i64(0))
        .transpose()?;
    Ok(value.map_or(0, |v| u64::try_from(v).unwrap_or(0)))
}

fn as_i64(amount: u64) -> i64 {
    i64::try_from(amount).unwrap_or(i64::MAX)
}

/// Adds `?2` to the counter named `?1`.
const ADD_TO_COUNTER: &str = "INSERT INTO usage_counters (name, value) VALUES (?1, ?2)
     ON CONFLICT (name) DO UPDATE SET value = usage_counters.value + excluded.value";

fn set_counter(conn: &dyn Sql, name: &str, value: u64) -> Result<(), StorageError> {
    conn.exec(
        "INSERT INTO usage_counters (name, value) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        args![name, as_i64(value)],
    )?;
    Ok(())
}

/// Versions published after `now - 1 hour`, looking at the newest `cap` only, and when the
/// oldest of those counted was published.
fn publishes_last_hour(
    conn: &dyn Sql,
    now: i64,
    cap: u64,
) -> Result<(u64, Option<i64>), StorageError> {
    let row = conn
        .row(
            "SELECT count(*), min(recent.pubtime) FROM
               (SELECT pubtime FROM versions ORDER BY id DESC LIMIT ?1) AS recent
             WHERE recent.pubtime > ?2",
            args![as_i64(cap), now - HOUR],
        )?
        .ok_or_else(|| StorageError::Corrupt {
            what: "counting recent publishes returned no row".to_owned(),
        })?;
    Ok((u64::try_from(row.i64(0)?).unwrap_or(0), row.opt_i64(1)?))
}

fn seats(conn: &dyn Sql, now: i64) -> Result<u64, StorageError> {
    let count = conn.one_i64(
        "SELECT count(DISTINCT t.user_id) FROM tokens t JOIN users u ON u.id = t.user_id
         WHERE t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ?1)
           AND u.role <> ?2",
        args![now, Role::TenantAdmin.as_str()],
    )?;
    Ok(u64::try_from(count).unwrap_or(0))
}

fn download_bytes(conn: &dyn Sql, now: i64) -> Result<u64, StorageError> {
    let bytes = conn
        .row(
            "SELECT bytes FROM usage_download_months WHERE month = ?1",
            args![month_of(now)],
        )?
        .map(|row| row.i64(0))
        .transpose()?;
    Ok(bytes.map_or(0, |b| u64::try_from(b).unwrap_or(0)))
}

/// The usage of every entitlement, with the plan's limits.
pub(crate) fn report(
    conn: &dyn Sql,
    catalog: &PlanCatalog,
    now: i64,
) -> Result<UsageReport, StorageError> {
    let (plan, limits) = catalog.current(conn)?;
    let packages = counter(conn, PACKAGES)?;
    let mut entitlements = Vec::new();
    for entitlement in Entitlement::ALL {
        let usage = match entitlement {
            Entitlement::StorageBytes => counter(conn, STORAGE_BYTES)?,
            Entitlement::Packages => packages,
            Entitlement::PrivatePackages => {
                if catalog.private_registry {
                    packages
                } else {
                    0
                }
            }
            Entitlement::Seats => seats(conn, now)?,
            Entitlement::MonthlyDownloadBytes => download_bytes(conn, now)?,
            Entitlement::PublishesPerHour => publishes_last_hour(conn, now, SHOWN_PUBLISHES_CAP)?.0,
        };
        entitlements.push(EntitlementUsage {
            entitlement,
            usage,
            limit: limits.and_then(|limits| limits.get(entitlement)),
        });
    }
    Ok(UsageReport {
        plan_defined: plan
            .as_deref()
            .is_some_and(|name| catalog.plans.get(name).is_some()),
        plan,
        month: month_of(now),
        entitlements,
    })
}

/// Refuses when `usage + adding` passes the limit.
fn enforce(
    plan: &str,
    limits: Limits,
    entitlement: Entitlement,
    usage: u64,
    adding: u64,
) -> Result<(), StorageError> {
    match limits.get(entitlement) {
        Some(limit) if usage.saturating_add(adding) > limit => Err(StorageError::QuotaExceeded {
            entitlement,
            plan: plan.to_owned(),
            limit,
            usage,
            adding,
            retry_after_secs: None,
        }),
        _ => Ok(()),
    }
}

/// Checks a publish of a `crate_len`-byte crate (creating a package when `creates_package`)
/// against the current plan.
pub(crate) fn check_publish(
    conn: &dyn Sql,
    catalog: &PlanCatalog,
    creates_package: bool,
    crate_len: u64,
    now: i64,
) -> Result<(), StorageError> {
    let (Some(plan), Some(limits)) = catalog.current(conn)? else {
        return Ok(());
    };
    if let Some(limit) = limits.get(Entitlement::PublishesPerHour) {
        let (count, oldest) = publishes_last_hour(conn, now, limit.max(1))?;
        if count >= limit {
            let leaves_at = oldest.map_or(now + HOUR, |t| t + HOUR);
            return Err(StorageError::QuotaExceeded {
                entitlement: Entitlement::PublishesPerHour,
                plan,
                limit,
                usage: count,
                adding: 1,
                retry_after_secs: Some(u64::try_from(leaves_at - now).unwrap_or(0).max(1)),
            });
        }
    }
    if creates_package {
        let packages = counter(conn, PACKAGES)?;
        enforce(&plan, limits, Entitlement::Packages, packages, 1)?;
        if catalog.private_registry {
            enforce(&plan, limits, Entitlement::PrivatePackages, packages, 1)?;
        }
    }
    let stored = counter(conn, STORAGE_BYTES)?;
    enforce(&plan, limits, Entitlement::StorageBytes, stored, crate_len)
}

/// The statements that count a publish: its blob's size (once per distinct blob) and a new
/// package. Run in order inside the publish's transaction (sent with its other writes): the
/// size is added only while the blob is not yet recorded, then the blob is recorded.
pub(crate) fn count_publish(
    cksum: &str,
    crate_len: u64,
    created_package: bool,
) -> Vec<(&'static str, Vec<SqlValue>)> {
    let mut statements = vec![
        (
            "INSERT INTO usage_counters (name, value)
             SELECT ?1, ?2 WHERE NOT EXISTS (SELECT 1 FROM blob_sizes WHERE cksum = ?3)
             ON CONFLICT (name) DO UPDATE SET value = usage_counters.value + excluded.value",
            args![STORAGE_BYTES, as_i64(crate_len), cksum].to_vec(),
        ),
        (
            "INSERT INTO blob_sizes (cksum, bytes) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            args![cksum, as_i64(crate_len)].to_vec(),
        ),
    ];
    if created_package {
        statements.push((ADD_TO_COUNTER, args![PACKAGES, 1_i64].to_vec()));
    }
    statements
}

/// Refuses a new seat: `login` has no live token yet and the plan's seats are taken.
pub(crate) fn check_new_seat(
    conn: &dyn Sql,
    catalog: &PlanCatalog,
    login: &str,
    now: i64,
) -> Result<(), StorageError> {
    let (Some(plan), Some(limits)) = catalog.current(conn)? else {
        return Ok(());
    };
    if limits.get(Entitlement::Seats).is_none() {
        return Ok(());
    }
    if crate::roles_store::role_or_first(conn, login)? == Role::TenantAdmin {
        return Ok(());
    }
    let has_seat = conn.exists(
        "SELECT 1 FROM tokens t JOIN users u ON u.id = t.user_id
         WHERE u.login = ?1 AND t.revoked_at IS NULL
           AND (t.expires_at IS NULL OR t.expires_at > ?2)",
        args![login, now],
    )?;
    if has_seat {
        return Ok(());
    }
    enforce(&plan, limits, Entitlement::Seats, seats(conn, now)?, 1)
}

/// Refuses a download of blob `cksum` when it would pass this month's download bytes.
pub(crate) fn check_download(
    conn: &dyn Sql,
    catalog: &PlanCatalog,
    cksum: &str,
    now: i64,
) -> Result<(), StorageError> {
    let (Some(plan), Some(limits)) = catalog.current(conn)? else {
        return Ok(());
    };
    if limits.get(Entitlement::MonthlyDownloadBytes).is_none() {
        return Ok(());
    }
    let size = blob_size(conn, cksum)?.unwrap_or(0);
    enforce(
        &plan,
        limits,
        Entitlement::MonthlyDownloadBytes,
        download_bytes(conn, now)?,
        size,
    )
}

fn blob_size(conn: &dyn Sql, cksum: &str) -> Result<Option<u64>, StorageError> {
    let bytes = conn
        .row(
            "SELECT bytes FROM blob_sizes WHERE cksum = ?1",
            args![cksum],
        )?
        .map(|row| row.i64(0))
        .transpose()?;
    Ok(bytes.map(|b| u64::try_from(b).unwrap_or(0)))
}

/// Adds the bytes of served downloads (blob checksum, Unix time) to their months.
pub(crate) fn count_downloads<'a>(
    conn: &dyn Sql,
    downloads: impl IntoIterator<Item = (&'a str, i64)>,
) -> Result<(), StorageError> {
    for (cksum, at) in downloads {
        let Some(size) = blob_size(conn, cksum)? else {
            continue;
        };
        conn.exec(
            "INSERT INTO usage_download_months (month, bytes) VALUES (?1, ?2)
             ON CONFLICT (month) DO UPDATE
               SET bytes = usage_download_months.bytes + excluded.bytes",
            args![month_of(at), as_i64(size)],
        )?;
    }
    Ok(())
}

/// The checksums of versions whose blob size is not recorded (published before sizes were
/// kept).
pub(crate) fn unsized_blobs(conn: &dyn Sql) -> Result<Vec<String>, StorageError> {
    conn.rows(
        "SELECT DISTINCT v.cksum FROM versions v
         WHERE NOT EXISTS (SELECT 1 FROM blob_sizes b WHERE b.cksum = v.cksum)",
        args![],
    )?
    .iter()
    .map(|row| row.string(0))
    .collect()
}

/// Records found blob sizes and recounts `storage_bytes` and `packages` from the database.
pub(crate) fn recount(conn: &dyn Sql, found: &[(String, u64)]) -> Result<(), StorageError> {
    for (cksum, bytes) in found {
        conn.exec(
            "INSERT INTO blob_sizes (cksum, bytes) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            args![cksum, as_i64(*bytes)],
        )?;
    }
    let stored = conn.one_i64(
        "SELECT CAST(coalesce(sum(b.bytes), 0) AS BIGINT) FROM blob_sizes b
         WHERE EXISTS (SELECT 1 FROM versions v WHERE v.cksum = b.cksum)",
        args![],
    )?;
    let packages = conn.one_i64("SELECT count(*) FROM packages", args![])?;
    set_counter(conn, STORAGE_BYTES, u64::try_from(stored).unwrap_or(0))?;
    set_counter(conn, PACKAGES, u64::try_from(packages).unwrap_or(0))?;
    Ok(())
}

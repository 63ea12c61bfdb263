//! Download counts per version per day, and which users fetched a package's blob (what makes
//! a review a "verified install"). The server counts downloads in memory and hands them over
//! in batches ([`crate::Storage::record_downloads`]), so a download never waits for a write.

use std::collections::BTreeMap;

use serde::Serialize;
use wharf_index_format::Pubtime;

use crate::StorageError;
use crate::queries::require_package;
use crate::sql::{Sql, args};

/// The migration that adds the download tables.
pub(crate) const MIGRATION: &str = r"
-- Blob downloads find their version by checksum (the entitlement check needs the same index).
CREATE INDEX IF NOT EXISTS versions_by_cksum ON versions (cksum);
CREATE TABLE downloads (
    version_id  INTEGER NOT NULL REFERENCES versions(id),
    day         INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (version_id, day)
) WITHOUT ROWID;
CREATE TABLE download_totals (
    package_id  INTEGER PRIMARY KEY REFERENCES packages(id),
    total       INTEGER NOT NULL
);
CREATE TABLE download_fetchers (
    package_id  INTEGER NOT NULL REFERENCES packages(id),
    user_id     INTEGER NOT NULL REFERENCES users(id),
    first_at    INTEGER NOT NULL,
    PRIMARY KEY (package_id, user_id)
) WITHOUT ROWID;
";

/// Seconds in a day: days are UTC days since the Unix epoch.
const DAY: i64 = 86_400;

/// How many days the daily series covers, today included.
pub const SERIES_DAYS: usize = 90;

/// One served blob download, as the server counted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedDownload {
    /// The blob's SHA-256 (the version's `cksum`).
    pub cksum: String,
    /// Unix seconds when it was served.
    pub at: i64,
    /// The user whose token fetched it, when a valid token came with the request.
    pub user_id: Option<i64>,
}

/// A package's download statistics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DownloadStats {
    /// The name as published.
    pub name: String,
    /// Every download of every version.
    pub total: u64,
    /// Totals per version, in publish order.
    pub versions: Vec<VersionDownloads>,
    /// The last 90 UTC days, oldest first, today last; days without downloads are `0`.
    pub daily: Vec<DailyDownloads>,
}

/// One version's download total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct VersionDownloads {
    /// The version.
    pub version: String,
    /// Its downloads, all time.
    pub downloads: u64,
}

/// Downloads of every version on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DailyDownloads {
    /// The day, `YYYY-MM-DD`.
    pub date: String,
    /// Downloads that day.
    pub downloads: u64,
}

/// Adds a batch of downloads; blobs no version references (deleted meanwhile) are skipped.
pub(crate) fn record(conn: &dyn Sql, batch: &[CountedDownload]) -> Result<(), StorageError> {
    let mut per_version_day: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    let mut per_package: BTreeMap<i64, i64> = BTreeMap::new();
    for download in batch {
        let found = conn
            .row(
                "SELECT id, package_id FROM versions WHERE cksum = ?1 LIMIT 1",
                args![&download.cksum],
            )?
            .map(|row| Ok::<_, StorageError>((row.i64(0)?, row.i64(1)?)))
            .transpose()?;
        let Some((version_id, package_id)) = found else {
            continue;
        };
        *per_version_day
            .entry((version_id, download.at.div_euclid(DAY)))
            .or_default() += 1;
        *per_package.entry(package_id).or_default() += 1;
        if let Some(user_id) = download.user_id {
            conn.exec(
                "INSERT INTO download_fetchers (package_id, user_id, first_at)
                 VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                args![package_id, user_id, download.at],
            )?;
        }
    }
    for ((version_id, day), count) in per_version_day {
        conn.exec(
            "INSERT INTO downloads (version_id, day, count) VALUES (?1, ?2, ?3)
             ON CONFLICT (version_id, day) DO UPDATE SET count = downloads.count + excluded.count",
            args![version_id, day, count],
        )?;
    }
    for (package_id, count) in per_package {
        conn.exec(
            "INSERT INTO download_totals (package_id, total) VALUES (?1, ?2)
             ON CONFLICT (package_id) DO UPDATE SET total = download_totals.total + excluded.total",
            args![package_id, count],
        )?;
    }
    Ok(())
}

/// `YYYY-MM-DD` of a day number.
fn date_of(day: i64) -> String {
    let mut text = Pubtime::from_unix(day * DAY).to_string();
    text.truncate(10);
    text
}

/// The statistics of the package `name` as of `now` (unix seconds).
pub(crate) fn stats(conn: &dyn Sql, name: &str, now: i64) -> Result<DownloadStats, StorageError> {
    let package = require_package(conn, name)?;
    // PostgreSQL sums BIGINTs as NUMERIC: the casts keep both engines' answers integers.
    let versions = conn
        .rows(
            "SELECT v.version, CAST(coalesce(sum(d.count), 0) AS BIGINT) FROM versions v
             LEFT JOIN downloads d ON d.version_id = v.id
             WHERE v.package_id = ?1 GROUP BY v.id, v.version ORDER BY v.id",
            args![package.id],
        )?
        .iter()
        .map(|row| {
            Ok::<_, StorageError>(VersionDownloads {
                version: row.string(0)?,
                downloads: u64::try_from(row.i64(1)?).unwrap_or(0),
            })
        })
        .collect::<Result<Vec<_>, StorageError>>()?;
    let today = now.div_euclid(DAY);
    let first = today - i64::try_from(SERIES_DAYS).expect("90 fits") + 1;
    let mut by_day: BTreeMap<i64, u64> = (first..=today).map(|day| (day, 0)).collect();
    let rows = conn
        .rows(
            "SELECT d.day, CAST(sum(d.count) AS BIGINT) FROM downloads d
             JOIN versions v ON v.id = d.version_id
             WHERE v.package_id = ?1 AND d.day >= ?2 AND d.day <= ?3 GROUP BY d.day",
            args![package.id, first, today],
        )?
        .iter()
        .map(|row| Ok::<_, StorageError>((row.i64(0)?, row.i64(1)?)))
        .collect::<Result<Vec<_>, StorageError>>()?;
    for (day, count) in rows {
        by_day.insert(day, u64::try_from(count).unwrap_or(0));
    }
    Ok(DownloadStats {
        name: package.name,
        total: versions.iter().map(|v| v.downloads).sum(),
        versions,
        daily: by_day
            .into_iter()
            .map(|(day, downloads)| DailyDownloads {
                date: date_of(day),
                downloads,
            })
            .collect(),
    })
}

//! Install reports: the set of packages an install directory holds, sent by `wharf install`
//! when its user opted in. A report is keyed by the random id kept in the install directory,
//! never by a user: each id keeps its newest set (a new report replaces the old one), and
//! those sets are what "often installed together" counts. When the report came with a valid
//! token, the token's user is noted apart from the set (`install_reporters`: package and user
//! only, no install id), which makes that user's review of the package a verified install.

use std::collections::BTreeSet;

use wharf_index_format::canonical_name;

use crate::queries::package_by_canonical;
use crate::sql::{Sql, args};
use crate::{Principal, StorageError};

/// The migration that adds the install report tables.
pub(crate) const MIGRATION: &str = r"
CREATE TABLE install_sets (
    install_id   TEXT PRIMARY KEY,
    host_api     TEXT,
    reported_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE install_set_packages (
    package_id  INTEGER NOT NULL REFERENCES packages(id),
    install_id  TEXT NOT NULL REFERENCES install_sets(install_id),
    version     TEXT NOT NULL,
    PRIMARY KEY (package_id, install_id)
) WITHOUT ROWID;
CREATE INDEX install_set_packages_by_install ON install_set_packages (install_id, package_id);
CREATE TABLE install_reporters (
    package_id  INTEGER NOT NULL REFERENCES packages(id),
    user_id     INTEGER NOT NULL REFERENCES users(id),
    first_at    INTEGER NOT NULL,
    PRIMARY KEY (package_id, user_id)
) WITHOUT ROWID;
";

/// The most packages one report may list.
pub const MAX_REPORTED_PACKAGES: usize = 1_000;

/// The length of an install id: 32 lowercase hexadecimal digits (128 random bits).
pub const INSTALL_ID_LEN: usize = 32;

/// One install directory's set, as `wharf install` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallReport {
    /// The random id kept in the install directory.
    pub install_id: String,
    /// The host API version the set was resolved for, if sent.
    pub host_api: Option<String>,
    /// Each installed package and version (the host API itself is not a package here).
    pub packages: Vec<(String, String)>,
}

/// What a report changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ReportOutcome {
    /// Packages recorded for the install.
    pub recorded: u64,
    /// Listed packages or versions this registry does not have, left out.
    pub unknown: u64,
}

fn refuse(reason: String) -> StorageError {
    StorageError::InvalidCatalogueRequest { reason }
}

/// Checks a report's fields, naming the first one that is wrong.
pub(crate) fn check(report: &InstallReport) -> Result<(), StorageError> {
    let id = &report.install_id;
    if id.len() != INSTALL_ID_LEN
        || !id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(refuse(format!(
            "`install_id` must be {INSTALL_ID_LEN} lowercase hexadecimal digits (the id `wharf \
             install --report-installs` keeps in DIR/.wharf/report-id), not `{id}`"
        )));
    }
    if let Some(host) = &report.host_api
        && semver::Version::parse(host).is_err()
    {
        return Err(refuse(format!(
            "`host_api` is `{host}`, not a version; send e.g. `2.1.0` or leave it out"
        )));
    }
    if report.packages.len() > MAX_REPORTED_PACKAGES {
        return Err(refuse(format!(
            "`packages` lists {} packages; the limit is {MAX_REPORTED_PACKAGES}",
            report.packages.len()
        )));
    }
    let mut seen = BTreeSet::new();
    for (name, version) in &report.packages {
        if name.is_empty() || name.len() > 64 {
            return Err(refuse(format!(
                "`packages[].name` `{name}` is not a package name"
            )));
        }
        if semver::Version::parse(version).is_err() {
            return Err(refuse(format!(
                "`packages[].version` of `{name}` is `{version}`, not a version"
            )));
        }
        if !seen.insert(canonical_name(name)) {
            return Err(refuse(format!(
                "`packages` lists `{name}` twice; send each installed package once"
            )));
        }
    }
    Ok(())
}

/// Replaces the install's set with the report's, and notes `who` (when the report came with
/// a valid token) as having installed each package.
pub(crate) fn record(
    conn: &dyn Sql,
    who: Option<&Principal>,
    report: &InstallReport,
    now: i64,
) -> Result<ReportOutcome, StorageError> {
    check(report)?;
    let mut known = Vec::new();
    for (name, version) in &report.packages {
        let Some(package) = package_by_canonical(conn, name)? else {
            continue;
        };
        let exists = conn.exists(
            "SELECT 1 FROM versions WHERE package_id = ?1 AND version = ?2",
            args![package.id, version.as_str()],
        )?;
        if exists {
            known.push((package.id, version));
        }
    }
    conn.exec(
        "DELETE FROM install_set_packages WHERE install_id = ?1",
        args![report.install_id.as_str()],
    )?;
    conn.exec(
        "INSERT INTO install_sets (install_id, host_api, reported_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (install_id) DO UPDATE SET host_api = excluded.host_api,
           reported_at = excluded.reported_at",
        args![report.install_id.as_str(), report.host_api.as_deref(), now],
    )?;
    for (package_id, version) in &known {
        conn.exec(
            "INSERT INTO install_set_packages (package_id, install_id, version)
             VALUES (?1, ?2, ?3)",
            args![*package_id, report.install_id.as_str(), version.as_str()],
        )?;
        if let Some(who) = who {
            conn.exec(
                "INSERT INTO install_reporters (package_id, user_id, first_at)
                 VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                args![*package_id, who.user_id, now],
            )?;
        }
    }
    let recorded = known.len();
    Ok(ReportOutcome {
        recorded: u64::try_from(recorded).unwrap_or(u64::MAX),
        unknown: u64::try_from(report.packages.len() - recorded).unwrap_or(u64::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(id: &str, packages: &[(&str, &str)]) -> InstallReport {
        InstallReport {
            install_id: id.to_owned(),
            host_api: Some("2.1.0".to_owned()),
            packages: packages
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn bad_reports_are_refused_naming_the_field() {
        let id = "0123456789abcdef0123456789abcdef";
        for (bad, field) in [
            (report("short", &[]), "`install_id`"),
            (report(&id.to_uppercase(), &[]), "`install_id`"),
            (report(id, &[("a", "one")]), "`packages[].version`"),
            (report(id, &[("", "1.0.0")]), "`packages[].name`"),
            (report(id, &[("a", "1.0.0"), ("A", "1.0.0")]), "twice"),
        ] {
            let error = check(&bad).unwrap_err().to_string();
            assert!(error.contains(field), "{error}");
        }
        let mut host = report(id, &[]);
        host.host_api = Some("two".to_owned());
        assert!(check(&host).unwrap_err().to_string().contains("`host_api`"));
        assert!(check(&report(id, &[("a", "1.0.0")])).is_ok());
    }
}

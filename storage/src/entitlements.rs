//! Premium packages and what their downloads are checked against: the entitlement keys
//! the registry trusts and the newest signed licence revocation list.
//!
//! A premium package stays visible (its index file is as public as any other); only its
//! blobs need a licence ([`Storage::check_download`]). The licence itself is checked by
//! `wharf_trust::Licence::check`, so the server and an offline installer refuse with the
//! same words.

use serde::Serialize;
use wharf_trust::{Licence, LicenceRefusal, LicenceRequest, PublicKey, RevocationList, UtcTime};

use crate::audit::AuditEntry;
use crate::queries::package_by_canonical;
use crate::sql::{Sql, args};
use crate::storage::now_unix;
use crate::{Storage, StorageError};

/// The migration that adds the tables on SQLite (and an index to find a blob's version;
/// PostgreSQL's are in `pg_schema.rs`).
pub(crate) const MIGRATION: &str = r"
CREATE TABLE premium_packages (
    package_id  INTEGER PRIMARY KEY REFERENCES packages(id),
    since       INTEGER NOT NULL
);
CREATE TABLE entitlement_keys (
    key_id      TEXT PRIMARY KEY,
    public_key  TEXT NOT NULL,
    added_at    INTEGER NOT NULL
);
CREATE TABLE licence_revocations (
    serial      INTEGER PRIMARY KEY,
    list        TEXT NOT NULL,
    stored_at   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS versions_by_cksum ON versions (cksum);
";

/// What an installer needs to check licences offline: the trusted keys, the premium
/// packages and the newest revocation list (`/api/wharf/v1/entitlements`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntitlementInfo {
    /// Public entitlement keys (`wharf-ed25519:…`).
    pub keys: Vec<String>,
    /// Names of the premium packages.
    pub premium: Vec<String>,
    /// The newest signed revocation list, if any.
    pub revocations: Option<String>,
}

/// A premium download refused: which release and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadRefusal {
    /// `name@version` of the blob asked for.
    pub release: String,
    /// The failed check.
    pub refusal: LicenceRefusal,
}

fn premium_names(conn: &dyn Sql) -> Result<Vec<String>, StorageError> {
    conn.rows(
        "SELECT p.name FROM premium_packages pp JOIN packages p ON p.id = pp.package_id ORDER BY p.name",
        args![],
    )?
    .iter()
    .map(|row| row.string(0))
    .collect()
}

fn keys(conn: &dyn Sql) -> Result<Vec<PublicKey>, StorageError> {
    conn.rows(
        "SELECT public_key FROM entitlement_keys ORDER BY added_at",
        args![],
    )?
    .iter()
    .map(|row| PublicKey::parse(&row.string(0)?).map_err(StorageError::from))
    .collect()
}

fn newest_list(conn: &dyn Sql) -> Result<Option<(u64, String)>, StorageError> {
    conn.row(
        "SELECT serial, list FROM licence_revocations ORDER BY serial DESC LIMIT 1",
        args![],
    )?
    .map(|row| Ok::<_, StorageError>((row.i64(0)?.unsigned_abs(), row.string(1)?)))
    .transpose()
}

/// The premium release a blob belongs to, if it is one.
fn premium_release(conn: &dyn Sql, cksum: &str) -> Result<Option<(String, String)>, StorageError> {
    conn.row(
        "SELECT p.name, v.version FROM versions v
         JOIN premium_packages pp ON pp.package_id = v.package_id
         JOIN packages p ON p.id = v.package_id
         WHERE v.cksum = ?1 LIMIT 1",
        args![cksum],
    )?
    .map(|row| Ok::<_, StorageError>((row.string(0)?, row.string(1)?)))
    .transpose()
}

/// Runs `work` in a write transaction with an audit record of its outcome, and moves the
/// audit head after the commit; a refused `work` leaves nothing but the record of the
/// refusal.
fn audited<T>(
    storage: &Storage,
    entry: AuditEntry,
    work: impl FnOnce(&dyn Sql) -> Result<T, StorageError>,
) -> Result<T, StorageError> {
    let done = storage.audited_change(|conn| Ok((work(conn)?, entry.clone())));
    match done {
        Ok(value) => Ok(value),
        Err(error) => {
            let refused = AuditEntry {
                outcome: format!("refused: {error}"),
                ..entry
            };
            storage.audit_now(&refused)?;
            Err(error)
        }
    }
}

impl Storage {
    /// Marks a package premium (or not); returns whether anything changed. Logged in the
    /// audit log, in the same transaction.
    pub fn set_premium(
        &self,
        name: &str,
        premium: bool,
        actor: &str,
    ) -> Result<bool, StorageError> {
        let action = if premium {
            "premium.set"
        } else {
            "premium.unset"
        };
        let entry = AuditEntry::new(actor, "local", action, name, "ok");
        audited(self, entry, |conn| {
            let package =
                package_by_canonical(conn, name)?.ok_or_else(|| StorageError::UnknownPackage {
                    name: name.to_owned(),
                })?;
            let changed = if premium {
                conn.exec(
                    "INSERT INTO premium_packages (package_id, since) VALUES (?1, ?2)
                     ON CONFLICT DO NOTHING",
                    args![package.id, now_unix()],
                )?
            } else {
                conn.exec(
                    "DELETE FROM premium_packages WHERE package_id = ?1",
                    args![package.id],
                )?
            };
            Ok(changed > 0)
        })
    }

    /// Trusts `key` to sign licences and revocation lists (audited).
    pub fn add_entitlement_key(&self, key: &PublicKey, actor: &str) -> Result<bool, StorageError> {
        let entry = AuditEntry::new(
            actor,
            "local",
            "entitlement-key.add",
            key.key_id().short(),
            "ok",
        );
        audited(self, entry, |conn| {
            let added = conn.exec(
                "INSERT INTO entitlement_keys (key_id, public_key, added_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
                args![key.key_id().to_string(), key.to_text(), now_unix()],
            )?;
            Ok(added > 0)
        })
    }

    /// Makes the trusted entitlement keys exactly `keys` (those of the keyset just installed,
    /// which from then on is the list); returns whether anything changed (audited).
    pub fn set_entitlement_keys(
        &self,
        keys: &[PublicKey],
        actor: &str,
    ) -> Result<bool, StorageError> {
        let shown: Vec<String> = keys.iter().map(|key| key.key_id().short()).collect();
        let entry = AuditEntry::new(
            actor,
            "local",
            "entitlement-key.set",
            if shown.is_empty() {
                "none".to_owned()
            } else {
                shown.join(",")
            },
            "ok",
        );
        audited(self, entry, |conn| {
            let before = self::keys(conn)?;
            let mut changed = 0;
            for old in &before {
                if !keys.contains(old) {
                    changed += conn.exec(
                        "DELETE FROM entitlement_keys WHERE key_id = ?1",
                        args![old.key_id().to_string()],
                    )?;
                }
            }
            for key in keys {
                changed += conn.exec(
                    "INSERT INTO entitlement_keys (key_id, public_key, added_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT DO NOTHING",
                    args![key.key_id().to_string(), key.to_text(), now_unix()],
                )?;
            }
            Ok(changed > 0)
        })
    }

    /// Stores a new signed revocation list: it must verify under a trusted entitlement key
    /// and carry a serial above the newest stored one (audited).
    pub fn store_revocation_list(&self, text: &str, actor: &str) -> Result<u64, StorageError> {
        let entry = AuditEntry::new(
            actor,
            "local",
            "licence.revocations",
            "revocation list",
            "ok",
        );
        audited(self, entry, |conn| {
            let list = RevocationList::open(text, &keys(conn)?)?;
            let serial = list.terms().serial;
            if let Some((newest, _)) = newest_list(conn)?
                && serial <= newest
            {
                return Err(StorageError::InvalidLicenceRequest {
                    reason: format!(
                        "revocation list serial {serial} is not above the stored serial {newest}; sign a list with serial {}",
                        newest + 1
                    ),
                });
            }
            conn.exec(
                "INSERT INTO licence_revocations (serial, list, stored_at) VALUES (?1, ?2, ?3)",
                args![
                    i64::try_from(serial).unwrap_or(i64::MAX),
                    list.to_text(),
                    now_unix()
                ],
            )?;
            Ok(serial)
        })
    }

    /// Records a licence issued (its id, licensee and packages; never its text).
    pub fn record_licence_issued(
        &self,
        licence: &Licence,
        actor: &str,
    ) -> Result<(), StorageError> {
        let terms = licence.terms();
        self.audit_now(&AuditEntry::new(
            actor,
            "local",
            "licence.issue",
            format!(
                "{} to {} for {}",
                terms.id,
                terms.licensee,
                terms.packages.join(",")
            ),
            "ok",
        ))
    }

    /// The trusted keys, premium packages and newest revocation list.
    pub fn entitlement_info(&self) -> Result<EntitlementInfo, StorageError> {
        self.inner.pool.with_sql(|conn| {
            Ok(EntitlementInfo {
                keys: keys(conn)?.iter().map(PublicKey::to_text).collect(),
                premium: premium_names(conn)?,
                revocations: newest_list(conn)?.map(|(_, list)| list),
            })
        })
    }

    /// Checks a download of the blob `cksum`: `Ok(None)` when it is no premium release or
    /// the presented licence covers it for `caller`; `Ok(Some(refusal))` naming the failed
    /// check otherwise.
    pub async fn check_download(
        &self,
        cksum: &str,
        licence: Option<String>,
        caller: Option<String>,
    ) -> Result<Option<DownloadRefusal>, StorageError> {
        let cksum = cksum.to_owned();
        self.read_sql(move |conn| {
            let Some((name, version)) = premium_release(conn, &cksum)? else {
                return Ok(None);
            };
            let release = format!("{name}@{version}");
            let refuse = |refusal| {
                Ok(Some(DownloadRefusal {
                    release: release.clone(),
                    refusal,
                }))
            };
            let Some(text) = licence else {
                return refuse(LicenceRefusal::Missing);
            };
            let licence = match Licence::parse(&text) {
                Ok(licence) => licence,
                Err(error) => return refuse(LicenceRefusal::Malformed(error.to_string())),
            };
            let keys = keys(conn)?;
            let list = match newest_list(conn)? {
                Some((_, text)) => Some(RevocationList::open(&text, &keys)?),
                None => None,
            };
            let request = LicenceRequest {
                package: &name,
                version: &version,
                caller: caller.as_deref(),
                now: UtcTime::now(),
            };
            match licence.check(&request, &keys, list.as_ref().map(RevocationList::as_check)) {
                Ok(()) => Ok(None),
                Err(refusal) => refuse(refusal),
            }
        })
        .await
    }
}

//! The bodies of write jobs: publish, yank/unyank and owner changes. Each runs inside the
//! writer's transaction, checks every rule first and fails without side effects (its
//! savepoint is rolled back on error).

use serde_json::json;
use wharf_index_format::{IndexEntry, PackageMetadata, canonical_name};

use crate::daily_limits::check_daily_limits;
use crate::queries::{
    PackageRow, event_statement, find_version, insert_event, is_owner, require_package, sql_u64,
    version_key,
};
use crate::signed_publish::{KeyPlan, ReleaseSigning, apply_plan, plan_signing, plan_still_holds};
use crate::sql::{Sql, SqlValue, args};
use crate::{Action, DailyLimits, EventKind, Principal, Scope, StorageError, TEAM_PREFIX};

/// A publish that passed validation and whose blob is stored.
#[derive(Debug, Clone)]
pub(crate) struct PublishRequest {
    pub(crate) who: Principal,
    /// The line to append, `pubtime` already set.
    pub(crate) entry: IndexEntry,
    pub(crate) metadata: PackageMetadata,
    /// Daily limits to enforce inside the transaction.
    pub(crate) limits: DailyLimits,
    /// The publisher's signatures and the registry's signing rule.
    pub(crate) signing: ReleaseSigning,
    /// The registry's origin (statements must name it).
    pub(crate) origin: String,
    /// What the signatures do, as checked before the transaction.
    pub(crate) checked_plan: KeyPlan,
    /// The plans to hold the publish to, and the crate's size.
    pub(crate) quota: PublishQuota,
}

/// What a publish is metered by: the storage's plans and the crate's size.
#[derive(Debug, Clone)]
pub(crate) struct PublishQuota {
    pub(crate) catalog: std::sync::Arc<crate::plans_store::PlanCatalog>,
    pub(crate) crate_len: u64,
}

impl PublishQuota {
    /// The quota of a publish of `crate_bytes` under `catalog`.
    pub(crate) fn new(
        catalog: std::sync::Arc<crate::plans_store::PlanCatalog>,
        crate_bytes: &[u8],
    ) -> Self {
        Self {
            catalog,
            crate_len: u64::try_from(crate_bytes.len()).unwrap_or(u64::MAX),
        }
    }

    /// Refuses when the publish would pass a limit of the registry's current plan.
    pub(crate) fn check(
        &self,
        conn: &dyn Sql,
        creates_package: bool,
        now: i64,
    ) -> Result<(), StorageError> {
        crate::usage::check_publish(conn, &self.catalog, creates_package, self.crate_len, now)
    }
}

/// What a committed publish produced.
#[derive(Debug, Clone)]
pub(crate) struct PublishOutcome {
    pub(crate) package_id: i64,
    pub(crate) seq: u64,
    pub(crate) created_package: bool,
}

/// A committed change to one package (yank, unyank, owner change): the package, the last
/// log position written, and what the change reports back.
#[derive(Debug, Clone)]
pub(crate) struct PackageChange<T> {
    pub(crate) package_id: i64,
    pub(crate) seq: u64,
    pub(crate) value: T,
}

fn require_owner(
    conn: &dyn Sql,
    who: &Principal,
    package: &PackageRow,
) -> Result<(), StorageError> {
    if is_owner(conn, package.id, who.user_id)? {
        Ok(())
    } else {
        Err(StorageError::NotOwner {
            login: who.login.clone(),
            name: package.name.clone(),
        })
    }
}

/// Checks every publish rule; returns the existing package, or `None` for a new one.
/// Runs both before the blob is written (on a read connection) and again inside the
/// transaction, so a refused publish leaves no trace. One query reads the package, whether
/// the publisher owns it and whether the version exists.
pub(crate) fn check_publish(
    conn: &dyn Sql,
    who: &Principal,
    entry: &IndexEntry,
) -> Result<Option<PackageRow>, StorageError> {
    let name = entry.name.as_str();
    who.require_name(name)?;
    let version = entry.vers.to_string();
    let found = conn.row(
        "SELECT p.id, p.name,
           EXISTS (SELECT 1 FROM owners WHERE package_id = p.id AND user_id = ?2)
           OR EXISTS (SELECT 1 FROM team_owners o JOIN team_members m ON m.team_id = o.team_id
                      WHERE o.package_id = p.id AND m.user_id = ?2),
           EXISTS (SELECT 1 FROM versions WHERE package_id = p.id AND version_key = ?3)
         FROM packages p WHERE p.canonical_name = ?1",
        args![canonical_name(name), who.user_id, version_key(&version)],
    )?;
    let Some(found) = found else {
        who.require_scope(Scope::PublishNew)?;
        who.require(
            Action::PublishNew,
            &format!("publish the new crate `{name}`"),
        )?;
        return Ok(None);
    };
    let package = PackageRow {
        id: found.i64(0)?,
        name: found.string(1)?,
    };
    if package.name != name {
        return Err(StorageError::NameTaken {
            name: name.to_owned(),
            existing: package.name,
        });
    }
    who.require_scope(Scope::PublishUpdate)?;
    who.require(
        Action::PublishUpdate,
        &format!("publish a new version of `{name}`"),
    )?;
    if !found.bool(2)? {
        return Err(StorageError::NotOwner {
            login: who.login.clone(),
            name: package.name,
        });
    }
    if found.bool(3)? {
        return Err(StorageError::DuplicateVersion {
            name: name.to_owned(),
            version,
        });
    }
    Ok(Some(package))
}

/// What the publish's signatures do: the plan checked before the transaction if it still
/// holds, otherwise planned again.
fn signing_plan(
    conn: &dyn Sql,
    request: &PublishRequest,
    existing: Option<&PackageRow>,
    now: i64,
) -> Result<KeyPlan, StorageError> {
    let PublishRequest {
        who,
        entry,
        signing,
        origin,
        checked_plan,
        ..
    } = request;
    if plan_still_holds(conn, who, existing, checked_plan)? {
        Ok(checked_plan.clone())
    } else {
        plan_signing(conn, who, &entry.name, existing, signing, origin, now)
    }
}

/// Creates a package with its first owner, the publisher.
fn insert_package(
    conn: &dyn Sql,
    who: &Principal,
    name: &str,
    now: i64,
) -> Result<PackageRow, StorageError> {
    let id = conn.one_i64(
        "INSERT INTO packages (name, lower_name, canonical_name, created_at)
         VALUES (?1, ?2, ?3, ?4) RETURNING id",
        args![name, name.to_ascii_lowercase(), canonical_name(name), now],
    )?;
    conn.exec(
        "INSERT INTO owners (package_id, user_id, added_at) VALUES (?1, ?2, ?3)",
        args![id, who.user_id, now],
    )?;
    Ok(PackageRow {
        id,
        name: name.to_owned(),
    })
}

/// The daily limits and the plan's quota, checked inside the publish's transaction.
fn check_limits(
    conn: &dyn Sql,
    request: &PublishRequest,
    created_package: bool,
    now: i64,
) -> Result<(), StorageError> {
    let package = Some((request.entry.name.as_str(), created_package));
    check_daily_limits(conn, &request.who, package, request.limits, now)?;
    request.quota.check(conn, created_package, now)
}

/// Inserts the version (creating the package and its first owner if needed) and the
/// `release` event.
pub(crate) fn apply_publish(
    conn: &dyn Sql,
    request: &PublishRequest,
    now: i64,
) -> Result<PublishOutcome, StorageError> {
    let PublishRequest {
        who,
        entry,
        metadata,
        limits: _,
        signing,
        quota,
        ..
    } = request;
    let existing = check_publish(conn, who, entry)?;
    let created_package = existing.is_none();
    // Inside the transaction: counts every publish committed before this one, including the
    // earlier ones of this group.
    check_limits(conn, request, created_package, now)?;
    let plan = signing_plan(conn, request, existing.as_ref(), now)?;
    let package = match existing {
        Some(package) => package,
        None => insert_package(conn, who, &entry.name, now)?,
    };
    let signed_payload = apply_plan(conn, who, package.id, signing, &plan, now)?;
    let version = entry.vers.to_string();
    let pubtime = entry.pubtime.map_or(now, wharf_index_format::Pubtime::unix);
    let metadata_json = serde_json::to_string(metadata).map_err(|e| StorageError::Corrupt {
        what: format!("metadata of `{}` `{version}`: {e}", entry.name),
    })?;
    let mut payload = json!({ "cksum": entry.cksum, "created_package": created_package });
    if let (Some(signed), Some(fields)) = (signed_payload, payload.as_object_mut())
        && let Some(signed) = signed.as_object()
    {
        fields.extend(signed.clone());
    }
    // The writes depend on nothing they return but each other's order: sent together, one
    // round trip on PostgreSQL. The version's row and then its `release` event come last.
    let mut statements = vec![(
        "UPDATE packages SET description = ?2 WHERE id = ?1",
        vec![
            SqlValue::from(package.id),
            SqlValue::from(metadata.description.as_deref()),
        ],
    )];
    statements.extend(crate::usage::count_publish(
        &entry.cksum,
        quota.crate_len,
        created_package,
    ));
    statements.push((
        "INSERT INTO versions
           (package_id, version, version_key, line, cksum, yanked, pubtime, metadata, publisher_id)
         VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7, ?8) RETURNING id",
        args![
            package.id,
            &version,
            version_key(&version),
            entry.to_line(),
            &entry.cksum,
            pubtime,
            metadata_json,
            who.user_id
        ]
        .to_vec(),
    ));
    statements.push(event_statement(
        EventKind::Release,
        package.id,
        Some(&version),
        &who.login,
        now,
        &payload,
    ));
    let answers = conn.pipeline(&statements)?;
    let returned = |index: usize| {
        answers
            .get(index)
            .and_then(|rows| rows.first())
            .ok_or_else(|| StorageError::Corrupt {
                what: format!("`{}` returned no row", statements[index].0),
            })?
            .i64(0)
    };
    let version_id = returned(statements.len() - 2)?;
    let seq = sql_u64(returned(statements.len() - 1)?);
    if let Some(plugin) = &metadata.plugin {
        crate::plugins::record_plugin(conn, version_id, plugin)?;
    }
    Ok(PublishOutcome {
        package_id: package.id,
        seq,
        created_package,
    })
}

/// Checks scope, name pattern, existence and ownership for an operation on a package.
pub(crate) fn authorize(
    conn: &dyn Sql,
    who: &Principal,
    name: &str,
    scope: Scope,
) -> Result<PackageRow, StorageError> {
    who.require_scope(scope)?;
    let (action, what) = match scope {
        Scope::Owners => (Action::ManageOwners, "change the owners of"),
        Scope::PublishNew => (Action::PublishNew, "publish"),
        Scope::PublishUpdate => (Action::PublishUpdate, "publish"),
        Scope::Yank => (Action::Yank, "yank or unyank versions of"),
        Scope::Read => (Action::Read, "read"),
    };
    who.require(action, &format!("{what} `{name}`"))?;
    who.require_name(name)?;
    let package = require_package(conn, name)?;
    require_owner(conn, who, &package)?;
    Ok(package)
}

/// Sets a version's `yanked` flag (only that field of its line changes) and logs the event,
/// even when the flag already had that value.
pub(crate) fn apply_set_yanked(
    conn: &dyn Sql,
    who: &Principal,
    name: &str,
    version: &str,
    yanked: bool,
    now: i64,
) -> Result<PackageChange<()>, StorageError> {
    let package = authorize(conn, who, name, Scope::Yank)?;
    let row =
        find_version(conn, package.id, version)?.ok_or_else(|| StorageError::UnknownVersion {
            name: package.name.clone(),
            version: version.to_owned(),
        })?;
    crate::lifecycle::refuse_if_quarantined(conn, package.id, &package.name, &row.version)?;
    let mut entry = IndexEntry::from_line(&row.line).map_err(|e| StorageError::Corrupt {
        what: format!("stored line of `{}` `{}`: {e}", package.name, row.version),
    })?;
    entry.yanked = yanked;
    conn.exec(
        "UPDATE versions SET line = ?2, yanked = ?3 WHERE id = ?1",
        args![row.id, entry.to_line(), yanked],
    )?;
    let kind = if yanked {
        EventKind::Yank
    } else {
        EventKind::Unyank
    };
    let seq = insert_event(
        conn,
        kind,
        package.id,
        Some(&row.version),
        &who.login,
        now,
        &json!({}),
    )?;
    Ok(PackageChange {
        package_id: package.id,
        seq,
        value: (),
    })
}

fn user_id(conn: &dyn Sql, login: &str) -> Result<i64, StorageError> {
    conn.row("SELECT id FROM users WHERE login = ?1", args![login])?
        .ok_or_else(|| StorageError::UnknownUser {
            login: login.to_owned(),
        })?
        .i64(0)
}

/// Which way an owners change goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OwnerChange {
    /// Add the logins as owners.
    Add,
    /// Remove the logins from the owners.
    Remove,
}

/// Adds or removes owners; returns the logins whose ownership actually changed (each gets an
/// `owner_add` or `owner_remove` event). Removing fails with [`StorageError::LastOwner`] when
/// no owner would remain.
pub(crate) fn apply_owner_change(
    conn: &dyn Sql,
    who: &Principal,
    name: &str,
    logins: &[String],
    change: OwnerChange,
    now: i64,
) -> Result<PackageChange<Vec<String>>, StorageError> {
    let package = authorize(conn, who, name, Scope::Owners)?;
    let mut last_seq = 0;
    let mut changed = Vec::new();
    for login in logins {
        if let Some(team) = login.strip_prefix(TEAM_PREFIX) {
            let add = change == OwnerChange::Add;
            if crate::teams::set_team_owner(conn, package.id, team, add, now)? {
                let kind = if add {
                    EventKind::OwnerAdd
                } else {
                    EventKind::OwnerRemove
                };
                let payload = json!({ "login": login });
                last_seq = insert_event(conn, kind, package.id, None, &who.login, now, &payload)?;
                changed.push(login.clone());
            }
            continue;
        }
        let user = user_id(conn, login)?;
        let (rows, kind) = match change {
            OwnerChange::Add => (
                conn.exec(
                    "INSERT INTO owners (package_id, user_id, added_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT DO NOTHING",
                    args![package.id, user, now],
                )?,
                EventKind::OwnerAdd,
            ),
            OwnerChange::Remove => (
                conn.exec(
                    "DELETE FROM owners WHERE package_id = ?1 AND user_id = ?2",
                    args![package.id, user],
                )?,
                EventKind::OwnerRemove,
            ),
        };
        if rows == 1 {
            let payload = json!({ "login": login });
            last_seq = insert_event(conn, kind, package.id, None, &who.login, now, &payload)?;
            changed.push(login.clone());
        }
    }
    if change == OwnerChange::Remove {
        let remaining = conn.one_i64(
            "SELECT (SELECT count(*) FROM owners WHERE package_id = ?1)
                  + (SELECT count(*) FROM team_owners WHERE package_id = ?1)",
            args![package.id],
        )?;
        if remaining == 0 {
            return Err(StorageError::LastOwner { name: package.name });
        }
    }
    Ok(PackageChange {
        package_id: package.id,
        seq: last_seq,
        value: changed,
    })
}

/// Records that the index file of a package now reflects `seq` and hashes to `sha256`.
/// An older record never overwrites a newer one.
pub(crate) fn record_index_file(
    conn: &dyn Sql,
    package_id: i64,
    seq: u64,
    sha256: &str,
    now: i64,
) -> Result<(), StorageError> {
    conn.exec(
        "INSERT INTO index_files (package_id, seq, sha256, written_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (package_id) DO UPDATE
           SET seq = excluded.seq, sha256 = excluded.sha256, written_at = excluded.written_at
           WHERE excluded.seq >= index_files.seq",
        args![
            package_id,
            i64::try_from(seq).unwrap_or(i64::MAX),
            sha256,
            now
        ],
    )?;
    Ok(())
}

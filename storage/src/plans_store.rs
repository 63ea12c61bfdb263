//! The registry's current plan and [`Storage`]'s plan and usage methods.
//!
//! The plans come from the operator's plans file, given to the storage with
//! [`Storage::set_plans`]. The database keeps which one applies together with a copy of its
//! limits, so every process enforces the same limits (`wharf token create` checks seats
//! without the file) and `wharf admin plan set` in another process takes effect at the
//! next request of a running server: each check reads the row in its own transaction. A
//! server started with a plans file brings the copy up to date when the file changed the
//! current plan ([`Storage::sync_plan_limits`]). No plan means no limit.

use std::sync::{Arc, RwLock};

use crate::audit::AuditEntry;
use crate::plans::{Limits, Plans, check_plan_name};
use crate::sql::{Sql, args};
use crate::storage::now_unix;
use crate::usage::{self, UsageReport};
use crate::{Action, Principal, Storage, StorageError};

/// The plans a storage knows and how to count private packages.
#[derive(Debug, Clone, Default)]
pub struct PlanCatalog {
    /// The plans of the plans file (none without one).
    pub plans: Plans,
    /// The plans file, for messages (empty without one).
    pub file: String,
    /// Whether every package counts as private (the registry is served with
    /// `auth-required`).
    pub private_registry: bool,
}

impl PlanCatalog {
    /// The current plan's name and limits (as the database keeps them).
    #[expect(
        clippy::unused_self,
        reason = "the catalog is how callers reach the plan; the limits live in the database"
    )]
    pub(crate) fn current(
        &self,
        conn: &dyn Sql,
    ) -> Result<(Option<String>, Option<Limits>), StorageError> {
        match stored_plan(conn)? {
            Some((name, limits)) => Ok((Some(name), Some(limits))),
            None => Ok((None, None)),
        }
    }
}

/// The shared, swappable catalog of one storage.
#[derive(Debug, Default)]
pub(crate) struct PlanSlot(RwLock<Arc<PlanCatalog>>);

impl PlanSlot {
    pub(crate) fn get(&self) -> Arc<PlanCatalog> {
        match self.0.read() {
            Ok(catalog) => Arc::clone(&catalog),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn set(&self, catalog: PlanCatalog) {
        let catalog = Arc::new(catalog);
        match self.0.write() {
            Ok(mut slot) => *slot = catalog,
            Err(poisoned) => *poisoned.into_inner() = catalog,
        }
    }
}

/// The registry's plan name and its stored limits, `None` without a plan.
pub(crate) fn stored_plan(conn: &dyn Sql) -> Result<Option<(String, Limits)>, StorageError> {
    conn.row(
        "SELECT name, limits FROM registry_plan WHERE id = 1",
        args![],
    )?
    .map(|row| Ok((row.string(0)?, Limits::from_json(&row.string(1)?)?)))
    .transpose()
}

/// The registry's plan name, `None` without one.
pub(crate) fn current_plan(conn: &dyn Sql) -> Result<Option<String>, StorageError> {
    Ok(stored_plan(conn)?.map(|(name, _)| name))
}

/// Writes the plan row (`None`: no plan, nothing limited); returns the plan before. Run it
/// inside a transaction, with the change's audit record.
pub(crate) fn store_plan(
    conn: &dyn Sql,
    plan: Option<(&str, Limits)>,
    actor: &str,
    now: i64,
) -> Result<Option<String>, StorageError> {
    let previous = current_plan(conn)?;
    match plan {
        Some((name, limits)) => conn.exec(
            "INSERT INTO registry_plan (id, name, limits, set_at, set_by) VALUES (1, ?1, ?2, ?3, ?4)
             ON CONFLICT (id) DO UPDATE
               SET name = excluded.name, limits = excluded.limits,
                   set_at = excluded.set_at, set_by = excluded.set_by",
            args![name, limits.to_json(), now, actor],
        )?,
        None => conn.exec("DELETE FROM registry_plan", args![])?,
    };
    Ok(previous)
}

/// Writes the plan row (`None`: no plan) inside the caller's transaction; returns the audit
/// entry `entry` makes of the plan before, to append in the same transaction.
fn write_plan(
    conn: &dyn Sql,
    plan: Option<(&str, Limits)>,
    entry: impl FnOnce(Option<&str>) -> AuditEntry,
    now: i64,
) -> Result<((), AuditEntry), StorageError> {
    let entry = entry(current_plan(conn)?.as_deref());
    store_plan(conn, plan, &entry.actor, now)?;
    Ok(((), entry))
}

impl Storage {
    /// Sets the plans this storage enforces (from the plans file) and whether its packages
    /// count as private. Takes effect at the next request.
    pub fn set_plans(&self, catalog: PlanCatalog) {
        self.inner.plans.set(catalog);
    }

    /// The plans this storage enforces.
    pub fn plan_catalog(&self) -> Arc<PlanCatalog> {
        self.inner.plans.get()
    }

    /// The registry's current plan, `None` without one.
    pub fn current_plan(&self) -> Result<Option<String>, StorageError> {
        self.inner.pool.with_sql(current_plan)
    }

    /// Moves the registry to plan `name` (`None`: no plan, nothing limited), which the plans
    /// of [`Storage::set_plans`] must define, and records it in the audit log (action
    /// `plan.set`, target the plan, outcome naming the previous one). Takes effect at once,
    /// also for a server running on the same data directory.
    pub fn set_plan(
        &self,
        name: Option<&str>,
        actor: &str,
        source: &str,
    ) -> Result<(), StorageError> {
        let limits = limits_of(&self.plan_catalog(), name)?;
        let now = now_unix();
        self.audited_change(|conn| {
            write_plan(
                conn,
                name.map(|name| (name, limits)),
                |previous| {
                    AuditEntry::new(
                        actor,
                        source,
                        "plan.set",
                        name.unwrap_or("none"),
                        format!("ok (was {})", previous.unwrap_or("none")),
                    )
                },
                now,
            )
        })?;
        tracing::info!(plan = name.unwrap_or("none"), actor, "registry plan set");
        Ok(())
    }

    /// [`Storage::set_plan`] for a user over the API: `who` needs [`Action::ChangePlan`] (a
    /// tenant admin). Returns the plan before. The caller records the change in the audit
    /// log (the server does so for every write request).
    pub fn change_plan(
        &self,
        who: &Principal,
        name: Option<&str>,
    ) -> Result<Option<String>, StorageError> {
        let shown = name.unwrap_or("none");
        who.require(
            Action::ChangePlan,
            &format!("move the registry to plan `{shown}`"),
        )?;
        let limits = limits_of(&self.plan_catalog(), name)?;
        let previous = self.inner.pool.with_write(|conn| {
            store_plan(
                conn,
                name.map(|name| (name, limits)),
                &who.login,
                now_unix(),
            )
        })?;
        tracing::info!(plan = shown, actor = %who.login, "registry plan changed over the API");
        Ok(previous)
    }

    /// Brings the stored limits of the current plan up to the plans of
    /// [`Storage::set_plans`] when the file changed them (audit action `plan.limits`), and
    /// says what applies: `Ok(None)` without a plan, `Ok(Some((name, defined)))` with
    /// `defined` false when the plans file lacks the plan (its stored limits still apply).
    pub fn sync_plan_limits(&self) -> Result<Option<(String, bool)>, StorageError> {
        let catalog = self.plan_catalog();
        let stored = self.inner.pool.with_sql(stored_plan)?;
        let Some((name, stored_limits)) = stored else {
            return Ok(None);
        };
        let Some(limits) = catalog.plans.get(&name) else {
            return Ok(Some((name, false)));
        };
        if limits != stored_limits {
            self.audited_change(|conn| {
                write_plan(
                    conn,
                    Some((&name, limits)),
                    |_| {
                        AuditEntry::new(
                            "admin",
                            "local",
                            "plan.limits",
                            name.as_str(),
                            format!("ok (limits from {})", catalog.file),
                        )
                    },
                    now_unix(),
                )
            })?;
            tracing::info!(plan = %name, "the plan's limits changed in the plans file and now apply");
        }
        Ok(Some((name, true)))
    }

    /// What the registry uses against its plan's limits.
    pub async fn usage(&self) -> Result<UsageReport, StorageError> {
        let catalog = self.plan_catalog();
        self.read_sql(move |conn| usage::report(conn, &catalog, now_unix()))
            .await
    }

    /// [`Storage::usage`] on the calling thread (a few indexed reads), for `/metrics`.
    pub fn usage_now(&self) -> Result<UsageReport, StorageError> {
        let catalog = self.plan_catalog();
        self.inner
            .pool
            .with_sql(|conn| usage::report(conn, &catalog, now_unix()))
    }

    /// Refuses ([`StorageError::QuotaExceeded`]) a download of blob `cksum` that would take
    /// this month's downloaded bytes over the plan's `monthly-download-bytes` (one read of
    /// the plan row, and two more when it limits downloads). Downloads are counted in
    /// batches, so a burst may pass the limit by what one batch holds.
    pub async fn check_download_quota(&self, cksum: &str) -> Result<(), StorageError> {
        let catalog = self.plan_catalog();
        let cksum = cksum.to_owned();
        self.read_sql(move |conn| usage::check_download(conn, &catalog, &cksum, now_unix()))
            .await
    }

    /// Refuses ([`StorageError::QuotaExceeded`]) a token for `login` when it would take a
    /// new seat beyond the plan's `seats`.
    pub fn check_new_seat(&self, login: &str) -> Result<(), StorageError> {
        let catalog = self.plan_catalog();
        self.inner
            .pool
            .with_sql(|conn| usage::check_new_seat(conn, &catalog, login, now_unix()))
    }

    /// Recounts the usage counters from the database, first looking up the size of every
    /// blob published before sizes were kept. Part of [`Storage::reconcile`].
    pub async fn recount_usage(&self) -> Result<(), StorageError> {
        let missing = self.read_sql(|conn| usage::unsized_blobs(conn)).await?;
        let mut found = Vec::with_capacity(missing.len());
        for cksum in missing {
            if let Some(bytes) = self.blob(&cksum).await? {
                found.push((cksum, u64::try_from(bytes.len()).unwrap_or(u64::MAX)));
            }
        }
        self.inner
            .writer
            .run_sql(move |conn| usage::recount(conn, &found))
            .await
    }
}

/// The limits of plan `name` in `catalog` (`None`: no plan, unlimited), or
/// [`StorageError::UnknownPlan`] naming the plans there.
fn limits_of(catalog: &PlanCatalog, name: Option<&str>) -> Result<Limits, StorageError> {
    let Some(name) = name else {
        return Ok(Limits::UNLIMITED);
    };
    check_plan_name(name).map_err(|reason| StorageError::UnknownPlan {
        name: name.to_owned(),
        file: shown_file(catalog),
        known: reason,
    })?;
    catalog.plans.get(name).ok_or_else(|| {
        let known = catalog.plans.names();
        StorageError::UnknownPlan {
            name: name.to_owned(),
            file: shown_file(catalog),
            known: if known.is_empty() {
                "none (give a plans file with --plans FILE or WHARF_PLANS)".to_owned()
            } else {
                known.join(", ")
            },
        }
    })
}

fn shown_file(catalog: &PlanCatalog) -> String {
    if catalog.file.is_empty() {
        "the plans file (none given)".to_owned()
    } else {
        format!("the plans file `{}`", catalog.file)
    }
}

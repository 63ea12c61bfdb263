//! The registry's current plan (a name kept in its database) and [`Storage`]'s plan and
//! usage methods.
//!
//! The plans themselves come from the operator's plans file, given to the storage with
//! [`Storage::set_plans`]; the database holds only which one applies, so
//! `wharf admin plan set` in another process takes effect at the next request of a running
//! server (each check reads the name in its own transaction). No plan means no limit; a plan
//! the server's plans file does not define limits nothing either (and is reported by
//! [`Storage::usage`] and logged at start).

use std::sync::{Arc, RwLock};

use rusqlite::{Connection, OptionalExtension, params};

use crate::audit::{AuditEntry, append, write_head};
use crate::plans::{Limits, Plans, check_plan_name};
use crate::storage::now_unix;
use crate::usage::{self, UsageReport};
use crate::{Storage, StorageError};

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
    /// The current plan's name and, when the plans file defines it, its limits.
    pub(crate) fn current(
        &self,
        conn: &Connection,
    ) -> Result<(Option<String>, Option<Limits>), StorageError> {
        let name = current_plan(conn)?;
        let limits = name.as_deref().and_then(|name| self.plans.get(name));
        Ok((name, limits))
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

/// The registry's plan name, `None` without one.
pub(crate) fn current_plan(conn: &Connection) -> Result<Option<String>, StorageError> {
    Ok(conn
        .prepare_cached("SELECT name FROM registry_plan WHERE id = 1")?
        .query_row([], |row| row.get(0))
        .optional()?)
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
        self.inner.pool.with(|conn| current_plan(conn))
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
        let catalog = self.plan_catalog();
        if let Some(name) = name {
            check_plan_name(name).map_err(|reason| StorageError::UnknownPlan {
                name: name.to_owned(),
                file: shown_file(&catalog),
                known: reason,
            })?;
            if catalog.plans.get(name).is_none() {
                let known = catalog.plans.names();
                return Err(StorageError::UnknownPlan {
                    name: name.to_owned(),
                    file: shown_file(&catalog),
                    known: if known.is_empty() {
                        "none (give a plans file with --plans FILE or WHARF_PLANS)".to_owned()
                    } else {
                        known.join(", ")
                    },
                });
            }
        }
        let now = now_unix();
        let record = self.inner.pool.with(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let previous = current_plan(&tx)?;
            match name {
                Some(name) => tx.execute(
                    "INSERT INTO registry_plan (id, name, set_at, set_by) VALUES (1, ?1, ?2, ?3)
                     ON CONFLICT (id) DO UPDATE
                       SET name = excluded.name, set_at = excluded.set_at, set_by = excluded.set_by",
                    params![name, now, actor],
                )?,
                None => tx.execute("DELETE FROM registry_plan", [])?,
            };
            let entry = AuditEntry::new(
                actor,
                source,
                "plan.set",
                name.unwrap_or("none"),
                format!("ok (was {})", previous.as_deref().unwrap_or("none")),
            );
            let record = append(&tx, &entry, now)?;
            tx.commit()?;
            Ok(record)
        })?;
        write_head(self.data_dir(), &record)?;
        tracing::info!(plan = name.unwrap_or("none"), actor, "registry plan set");
        Ok(())
    }

    /// What the registry uses against its plan's limits.
    pub async fn usage(&self) -> Result<UsageReport, StorageError> {
        let catalog = self.plan_catalog();
        self.read(move |conn| usage::report(conn, &catalog, now_unix()))
            .await
    }

    /// [`Storage::usage`] on the calling thread (a few indexed reads), for `/metrics`.
    pub fn usage_now(&self) -> Result<UsageReport, StorageError> {
        let catalog = self.plan_catalog();
        self.inner
            .pool
            .with(|conn| usage::report(conn, &catalog, now_unix()))
    }

    /// Refuses ([`StorageError::QuotaExceeded`]) a download of blob `cksum` that would take
    /// this month's downloaded bytes over the plan's `monthly-download-bytes`. Downloads are
    /// counted in batches, so a burst may pass the limit by what one batch holds.
    pub async fn check_download_quota(&self, cksum: &str) -> Result<(), StorageError> {
        let catalog = self.plan_catalog();
        if !catalog.plans.limits_downloads() {
            return Ok(());
        }
        let cksum = cksum.to_owned();
        self.read(move |conn| usage::check_download(conn, &catalog, &cksum, now_unix()))
            .await
    }

    /// Refuses ([`StorageError::QuotaExceeded`]) a token for `login` when it would take a
    /// new seat beyond the plan's `seats`.
    pub fn check_new_seat(&self, login: &str) -> Result<(), StorageError> {
        let catalog = self.plan_catalog();
        self.inner
            .pool
            .with(|conn| usage::check_new_seat(conn, &catalog, login, now_unix()))
    }

    /// Recounts the usage counters from the database, first looking up the size of every
    /// blob published before sizes were kept. Part of [`Storage::reconcile`].
    pub async fn recount_usage(&self) -> Result<(), StorageError> {
        let missing = self.read(usage::unsized_blobs).await?;
        let mut found = Vec::with_capacity(missing.len());
        for cksum in missing {
            if let Some(bytes) = self.blob(&cksum).await? {
                found.push((cksum, u64::try_from(bytes.len()).unwrap_or(u64::MAX)));
            }
        }
        self.inner
            .writer
            .run(move |conn| usage::recount(conn, &found))
            .await
    }
}

fn shown_file(catalog: &PlanCatalog) -> String {
    if catalog.file.is_empty() {
        "the plans file (none given)".to_owned()
    } else {
        format!("the plans file `{}`", catalog.file)
    }
}

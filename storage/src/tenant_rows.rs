//! The tenants table of a registry on PostgreSQL, in the registry's own database, so every
//! node serving the registry serves the same tenants.
//!
//! `wharf tenant create|suspend|resume --database` change it through any node's directory,
//! each change and its audit record in one transaction. A statement trigger sends
//! `NOTIFY wharf_tenants` in that transaction (delivered at its commit); every serving node
//! listens on a connection of its own ([`TenantWatch`]) and reads the table again on each
//! notification, and every [`POLL_WHILE_DEAF`] while that connection is down (every
//! [`POLL_WHILE_LISTENING`] otherwise, a backstop). Each row holds the tenant's signing keys
//! sealed under the registry's tenant key (`tenant_keys.rs`); the empty registry that
//! answers unknown tenant names keeps its sealed keys in `tenant_void`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::audit::AuditEntry;
use crate::engine::EnginePool;
use crate::pg::{ListenEvent, PgDatabase};
use crate::sql::{Sql, SqlRow, args};
use crate::{Storage, StorageError};

/// The notification channel of changes to the tenants table.
const TENANT_CHANNEL: &str = "wharf_tenants";

/// How often a node reads the tenants table while it is not listening for its changes.
pub const POLL_WHILE_DEAF: Duration = Duration::from_secs(1);

/// How often a node reads the tenants table while it listens (a backstop: notifications
/// come far sooner).
pub const POLL_WHILE_LISTENING: Duration = Duration::from_secs(10);

/// One tenant of a registry: a row of the tenants table (or of `tenants.json` on SQLite).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TenantEntry {
    /// The name in its paths (`/t/{name}/`).
    pub name: String,
    /// Whether every request needs a token of the tenant.
    pub auth_required: bool,
    /// When it was created (RFC 3339, UTC).
    pub created_at: String,
    /// Why it is suspended, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended: Option<String>,
}

/// Wakes a node's tenants follower when the tenants table changed (or may have).
#[derive(Debug, Default)]
pub struct TenantWatch {
    changed: tokio::sync::Notify,
    listening: AtomicBool,
}

impl TenantWatch {
    /// Waits for the next notification of a change, or for the time after which the table
    /// is read anyway ([`POLL_WHILE_DEAF`] while not listening, [`POLL_WHILE_LISTENING`]).
    pub async fn next(&self) {
        let wait = if self.listening() {
            POLL_WHILE_LISTENING
        } else {
            POLL_WHILE_DEAF
        };
        let _woken_or_timed_out = tokio::time::timeout(wait, self.changed.notified()).await;
    }

    /// Whether `LISTEN wharf_tenants` is in effect on the node's listening connection.
    pub fn listening(&self) -> bool {
        self.listening.load(Ordering::SeqCst)
    }

    fn on_event(&self, event: ListenEvent) {
        let listening = matches!(event, ListenEvent::Listening | ListenEvent::Notified);
        self.listening.store(listening, Ordering::SeqCst);
        // Also on (re)connecting and on a loss: a change may have been missed.
        self.changed.notify_one();
    }
}

fn entry(row: &SqlRow) -> Result<TenantEntry, StorageError> {
    Ok(TenantEntry {
        name: row.string(0)?,
        auth_required: row.bool(1)?,
        created_at: row.string(2)?,
        suspended: row.opt_string(3)?,
    })
}

fn refused(tenant: &str, problem: impl Into<String>) -> StorageError {
    StorageError::Tenant {
        tenant: tenant.to_owned(),
        problem: problem.into(),
    }
}

impl Storage {
    /// The database of a registry on PostgreSQL; a registry on SQLite keeps its tenants in
    /// `tenants.json`, so `tenant` (named in the refusal) is not in a table here.
    fn tenants_database(&self, tenant: &str) -> Result<&PgDatabase, StorageError> {
        match &self.inner.pool {
            EnginePool::Postgres(database) => Ok(database),
            EnginePool::Sqlite(_) => Err(refused(
                tenant,
                "is not in a tenants table: a registry on SQLite keeps its tenants in `tenants.json`",
            )),
        }
    }

    /// Every tenant of this registry on PostgreSQL, oldest first.
    ///
    /// # Errors
    /// [`StorageError::Tenant`] on SQLite, and the database's errors.
    pub fn tenant_entries(&self) -> Result<Vec<TenantEntry>, StorageError> {
        let conn = self.tenants_database("(any)")?.connection()?;
        conn.rows(
            "SELECT name, auth_required, created_at, suspended FROM tenants
             ORDER BY created_at, name",
            args![],
        )?
        .iter()
        .map(entry)
        .collect()
    }

    /// The sealed signing keys of tenant `name` (`tenant_keys.rs`), `None` when it is no
    /// tenant.
    ///
    /// # Errors
    /// As [`Storage::tenant_entries`].
    pub fn tenant_sealed_keys(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let conn = self.tenants_database(name)?.connection()?;
        conn.row(
            "SELECT sealed_keys FROM tenants WHERE name = ?1",
            args![name],
        )?
        .map(|row| row.bytes(0))
        .transpose()
    }

    /// Adds tenant `tenant` with its sealed keys, and `audit` to the audit log, in one
    /// transaction.
    ///
    /// # Errors
    /// [`StorageError::Tenant`] when a tenant of that name exists (nothing is written), and
    /// as [`Storage::tenant_entries`].
    pub fn add_tenant(
        &self,
        tenant: &TenantEntry,
        sealed_keys: Vec<u8>,
        audit: AuditEntry,
    ) -> Result<(), StorageError> {
        self.tenants_database(&tenant.name)?;
        let now = crate::storage::now_unix();
        self.audited_change(|conn| {
            let added = conn.exec(
                "INSERT INTO tenants (name, auth_required, created_at, suspended, sealed_keys, changed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (name) DO NOTHING",
                args![
                    tenant.name.as_str(),
                    tenant.auth_required,
                    tenant.created_at.as_str(),
                    tenant.suspended.clone(),
                    sealed_keys,
                    now
                ],
            )?;
            if added == 0 {
                return Err(refused(
                    &tenant.name,
                    "already exists; `wharf tenant list` shows the tenants",
                ));
            }
            Ok(((), audit))
        })
    }

    /// Suspends tenant `name` for `reason`, or resumes it (`None`), and appends `audit`, in
    /// one transaction.
    ///
    /// # Errors
    /// [`StorageError::Tenant`] when it is no tenant, or is not suspended when resumed
    /// (nothing is written); as [`Storage::tenant_entries`] otherwise.
    pub fn set_tenant_suspension(
        &self,
        name: &str,
        reason: Option<&str>,
        audit: AuditEntry,
    ) -> Result<(), StorageError> {
        self.tenants_database(name)?;
        let now = crate::storage::now_unix();
        self.audited_change(|conn| {
            let Some(row) = conn.row(
                "SELECT suspended FROM tenants WHERE name = ?1 FOR UPDATE",
                args![name],
            )?
            else {
                return Err(refused(
                    name,
                    "does not exist; `wharf tenant list` shows the tenants",
                ));
            };
            if reason.is_none() && row.opt_string(0)?.is_none() {
                return Err(refused(name, "is not suspended; nothing to resume"));
            }
            conn.exec(
                "UPDATE tenants SET suspended = ?2, changed_at = ?3 WHERE name = ?1",
                args![name, reason, now],
            )?;
            Ok(((), audit))
        })
    }

    /// The sealed keys of the empty registry that answers unknown tenant names, if a node
    /// recorded them.
    ///
    /// # Errors
    /// As [`Storage::tenant_entries`].
    pub fn void_sealed_keys(&self) -> Result<Option<Vec<u8>>, StorageError> {
        let conn = self.tenants_database("(unknown)")?.connection()?;
        conn.row("SELECT sealed_keys FROM tenant_void WHERE id = 1", args![])?
            .map(|row| row.bytes(0))
            .transpose()
    }

    /// Records the sealed keys of the empty registry unless a node recorded some first;
    /// returns the ones recorded.
    ///
    /// # Errors
    /// As [`Storage::tenant_entries`].
    pub fn record_void_keys(&self, sealed_keys: Vec<u8>) -> Result<Vec<u8>, StorageError> {
        let conn = self.tenants_database("(unknown)")?.connection()?;
        conn.exec(
            "INSERT INTO tenant_void (id, sealed_keys) VALUES (1, ?1) ON CONFLICT (id) DO NOTHING",
            args![sealed_keys],
        )?;
        self.void_sealed_keys()?
            .ok_or_else(|| StorageError::Corrupt {
                what: "table `tenant_void` lost the row just written".to_owned(),
            })
    }

    /// Starts listening for changes of the tenants table on a connection of its own.
    ///
    /// # Errors
    /// As [`Storage::tenant_entries`].
    pub fn watch_tenants(&self) -> Result<Arc<TenantWatch>, StorageError> {
        let database = self.tenants_database("(any)")?;
        let watch = Arc::new(TenantWatch::default());
        let handler = Arc::clone(&watch);
        database.spawn_listener(
            TENANT_CHANNEL,
            Arc::new(move |event| handler.on_event(event)),
        );
        Ok(watch)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use wharf_test_support::postgres::PostgresServer;

    use super::TenantEntry;
    use crate::metadata_tests::two_pg_nodes;
    use crate::{AuditEntry, Storage, StorageConfig};

    /// A bound for a stuck notification, not a performance target.
    const DEADLINE: Duration = Duration::from_secs(30);

    fn acme() -> TenantEntry {
        TenantEntry {
            name: "acme".to_owned(),
            auth_required: true,
            created_at: "2026-01-01T00:00:00Z".to_owned(),
            suspended: None,
        }
    }

    fn audit(action: &str) -> AuditEntry {
        AuditEntry::new("admin", "local", action, "tenant acme", "ok")
    }

    fn actions(storage: &Storage) -> Vec<String> {
        let records = storage.audit_records(None).unwrap();
        records.into_iter().map(|record| record.action).collect()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_tenant_added_through_one_node_wakes_the_other_and_refusals_change_nothing() {
        let server = PostgresServer::start();
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, b) = two_pg_nodes(&server, &dir_a, &dir_b).await;
        let watch = b.watch_tenants().unwrap();
        tokio::time::timeout(DEADLINE, async {
            while !watch.listening() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("node B listens");
        // The wake-up of `LISTEN` itself.
        let _ = tokio::time::timeout(Duration::from_millis(1), watch.changed.notified()).await;

        a.add_tenant(&acme(), vec![1, 2, 3], audit("tenant.create"))
            .unwrap();
        tokio::time::timeout(DEADLINE, watch.changed.notified())
            .await
            .expect("node B is notified of the new tenant");
        assert_eq!(b.tenant_entries().unwrap(), vec![acme()]);
        assert_eq!(b.tenant_sealed_keys("acme").unwrap(), Some(vec![1, 2, 3]));
        let logged = actions(&a);
        assert_eq!(logged.last().map(String::as_str), Some("tenant.create"));

        // Refusals: one line naming the tenant, no row and no audit record written.
        let refusals = [
            a.add_tenant(&acme(), vec![9], audit("tenant.create")),
            b.set_tenant_suspension("acme", None, audit("tenant.resume")),
            b.set_tenant_suspension("nobody", Some("unpaid"), audit("tenant.suspend")),
        ];
        for refusal in refusals {
            let error = refusal.unwrap_err().to_string();
            assert!(
                error.starts_with("tenant `") && !error.contains('\n'),
                "{error}"
            );
        }
        assert_eq!(b.tenant_sealed_keys("acme").unwrap(), Some(vec![1, 2, 3]));
        assert_eq!(actions(&a), logged);

        b.set_tenant_suspension("acme", Some("invoice 42 unpaid"), audit("tenant.suspend"))
            .unwrap();
        let suspended = a.tenant_entries().unwrap();
        assert_eq!(suspended[0].suspended.as_deref(), Some("invoice 42 unpaid"));
        b.set_tenant_suspension("acme", None, audit("tenant.resume"))
            .unwrap();
        assert_eq!(a.tenant_entries().unwrap(), vec![acme()]);
    }

    #[test]
    fn a_registry_on_sqlite_has_no_tenants_table() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let storage = runtime
            .block_on(Storage::open(StorageConfig::local(dir.path())))
            .unwrap();
        let error = storage.tenant_entries().unwrap_err().to_string();
        assert!(error.contains("tenants.json"), "{error}");
    }
}

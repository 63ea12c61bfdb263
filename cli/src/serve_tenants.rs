//! `wharf serve`'s tenants: opening each tenant's registry and following the tenants table.
//!
//! The table (`<data>/tenants.json`, written by `wharf tenant`) is read at start, then again
//! whenever its modification time or size changes (checked every [`POLL_INTERVAL`]); on
//! PostgreSQL it is the `tenants` table of the registry's database, read at start, on each
//! `NOTIFY wharf_tenants` and every second while the node is not listening
//! ([`wharf_storage::TenantWatch`]), so every node serving the registry follows it. New
//! tenants are opened and served (on PostgreSQL after their keys are written into this
//! node's directory), suspended ones answer 403 (their registry stays open, so a resume is
//! immediate), removed ones are closed. A table that does not parse is logged and ignored;
//! the tenants keep their last state. On PostgreSQL a tenant this node could not open is
//! tried again at the next read.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use wharf_index_format::{PublishLimits, own_index_url};
use wharf_registry_server::{AppState, ServerConfig, TENANT_PREFIX, Tenants, warm_and_follow};

use wharf_storage::{ExistingDatabase, MetadataDatabase, Storage, TenantWatch};

use crate::open_registry::{open_existing_on, open_node, open_tenant_node};
use crate::tenant_table::{
    TENANTS_DIR, TenantRecord, TenantTable, VOID_DIR, table_path, tenant_dir,
};

/// How often the server looks at the tenants table.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// What every tenant's configuration is made from.
pub(crate) struct TenantSetup {
    /// The default registry's data directory.
    pub(crate) data: PathBuf,
    /// The default registry's metadata database; each tenant's is derived from it
    /// ([`MetadataDatabase::for_tenant`]).
    pub(crate) database: MetadataDatabase,
    /// The default registry's configuration (public URL, limits, timeouts).
    pub(crate) base: ServerConfig,
    /// Upload limits before the allowed dependency registries were added (each tenant allows
    /// its own index).
    pub(crate) base_limits: PublishLimits,
    /// The other registries dependencies may come from.
    pub(crate) allowed_dependency_registries: Vec<String>,
    /// The plans file's plans, which each tenant's storage enforces (docs/plans.md).
    pub(crate) plans: Option<wharf_storage::PlanCatalog>,
}

/// A tenant's open registry, the task refreshing its signed timestamp and its webhook
/// delivery worker.
struct Opened {
    state: Arc<AppState>,
    auth_required: bool,
    refresh: tokio::task::JoinHandle<()>,
    webhooks: tokio::task::JoinHandle<()>,
}

impl Drop for Opened {
    fn drop(&mut self) {
        self.refresh.abort();
        self.webhooks.abort();
    }
}

/// Serves the tenants of the table now (before the server announces itself), and keeps
/// following the table on the current runtime. Starts the default registry's webhook
/// delivery worker too (each tenant's starts when the tenant is opened).
pub(crate) async fn start(setup: TenantSetup, tenants: Arc<Tenants>) -> anyhow::Result<()> {
    let _default_webhooks =
        wharf_registry_server::spawn_webhook_deliveries(tenants.default_state());
    let table = match setup.database {
        MetadataDatabase::Embedded => Table::File { seen: None },
        MetadataDatabase::Postgres(_) => {
            let registry = tenants.default_state().storage.clone();
            let watch = registry.watch_tenants()?;
            Table::Database {
                registry,
                watch,
                seen: None,
            }
        }
    };
    let mut follower = Follower {
        setup,
        tenants,
        opened: HashMap::new(),
        table,
        void_open: false,
    };
    let mut complete = follower.check().await?;
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(POLL_INTERVAL);
        loop {
            match &follower.table {
                Table::Database { watch, .. } if complete => watch.next().await,
                // A table not applied in full is read again a second later.
                _ => {
                    ticks.tick().await;
                }
            }
            complete = follower.check().await.unwrap_or_else(|error| {
                tracing::error!("tenants table not applied: {error:#}");
                false
            });
        }
    });
    Ok(())
}

/// Where the tenants table is, and what of it was applied last.
enum Table {
    /// `<data>/tenants.json`, with its modification time and size when it was last read.
    File { seen: Option<(SystemTime, u64)> },
    /// The `tenants` table of the registry's PostgreSQL database, with the rows last
    /// applied in full (`None` until then, or while a tenant could not be opened).
    Database {
        registry: Storage,
        watch: Arc<TenantWatch>,
        seen: Option<Vec<TenantRecord>>,
    },
}

/// Follows the table.
struct Follower {
    setup: TenantSetup,
    tenants: Arc<Tenants>,
    opened: HashMap<String, Opened>,
    table: Table,
    void_open: bool,
}

impl Follower {
    /// Applies the table if it changed since it was last applied; returns whether every
    /// tenant is served as the table says.
    async fn check(&mut self) -> anyhow::Result<bool> {
        let Some(table) = self.read_changed().await? else {
            return Ok(true);
        };
        if !self.void_open {
            let void = self
                .open_void()
                .await
                .context("opening the empty registry that answers unknown tenants")?;
            self.tenants.set_void(void);
            self.void_open = true;
        }
        let applied = self.apply(&table).await;
        if let Table::Database { seen, .. } = &mut self.table {
            *seen = applied.then_some(table.tenants);
        }
        Ok(applied)
    }

    /// The table when it changed since it was last applied, `None` otherwise (and while
    /// there is no table: no file, or no rows on PostgreSQL).
    async fn read_changed(&mut self) -> anyhow::Result<Option<TenantTable>> {
        match &mut self.table {
            Table::File { seen } => {
                let stamp = std::fs::metadata(table_path(&self.setup.data))
                    .ok()
                    .and_then(|meta| Some((meta.modified().ok()?, meta.len())));
                if stamp.is_none() || stamp == *seen {
                    return Ok(None);
                }
                *seen = stamp;
                TenantTable::load(&self.setup.data).map(Some)
            }
            Table::Database { registry, seen, .. } => {
                let tenants = crate::tenant_nodes::entries(registry).await?;
                let unchanged = seen.as_ref() == Some(&tenants);
                let none_yet = tenants.is_empty() && !self.void_open;
                Ok((!unchanged && !none_yet).then_some(TenantTable { tenants }))
            }
        }
    }

    /// Makes the served tenants what `table` says; returns whether every tenant it names
    /// is served as it says.
    async fn apply(&mut self, table: &TenantTable) -> bool {
        let mut applied = true;
        for record in &table.tenants {
            if let Some(reason) = &record.suspended {
                tracing::info!(tenant = %record.name, reason, "tenant suspended");
                self.tenants.suspend(&record.name);
                continue;
            }
            let reusable = self
                .opened
                .get(&record.name)
                .is_some_and(|opened| opened.auth_required == record.auth_required);
            if !reusable {
                self.opened.remove(&record.name);
                match self.open(record).await {
                    Ok(opened) => {
                        self.opened.insert(record.name.clone(), opened);
                    }
                    Err(error) => {
                        tracing::error!(tenant = %record.name, "tenant not served: {error:#}");
                        self.tenants.remove(&record.name);
                        applied = false;
                        continue;
                    }
                }
            }
            if let Some(opened) = self.opened.get(&record.name) {
                self.tenants
                    .activate(&record.name, Arc::clone(&opened.state));
            }
        }
        let gone: Vec<String> = self
            .tenants
            .names()
            .into_iter()
            .filter(|name| table.get(name).is_none())
            .collect();
        for name in gone {
            tracing::info!(tenant = %name, "tenant no longer in the table; not served");
            self.tenants.remove(&name);
            self.opened.remove(&name);
        }
        applied
    }

    /// Opens (making it on the first start) the empty registry whose storage answers names
    /// that are no tenant, on the engine the tenants use, so a refusal does the same work
    /// whether the tenant exists or not. On PostgreSQL every node opens the one registry of
    /// the database `<database>_void`, with the keys the first node recorded.
    async fn open_void(&self) -> anyhow::Result<Storage> {
        let database = self.setup.database.for_unknown_tenants()?;
        database
            .create_database(&self.setup.database, VOID_DIR, ExistingDatabase::Reuse)
            .await?;
        let data = &self.setup.data;
        let dir = data.join(TENANTS_DIR).join(VOID_DIR);
        let Table::Database { registry, .. } = &self.table else {
            return open_node(&dir, None, &database, None).await;
        };
        let recorded = crate::tenant_nodes::install_void_keys(registry, data).await?;
        let void = open_node(&dir, None, &database, None).await?;
        if !recorded {
            crate::tenant_nodes::record_void_keys(registry, data).await?;
        }
        Ok(void)
    }

    /// Opens a tenant's registry and warms its index cache (following its log on
    /// PostgreSQL).
    async fn open(&self, record: &TenantRecord) -> anyhow::Result<Opened> {
        let data = &self.setup.data;
        let dir = tenant_dir(data, &record.name);
        let database = self.setup.database.for_tenant(&record.name)?;
        let storage = match &self.table {
            Table::File { .. } => open_existing_on(&dir, &database).await?,
            Table::Database { registry, .. } => {
                crate::tenant_nodes::install_keys(
                    registry,
                    data,
                    &record.name,
                    &self.setup.database,
                )
                .await?;
                open_tenant_node(data, &record.name, &database).await?
            }
        };
        storage.set_tenant(&record.name);
        if let Some(catalog) = &self.setup.plans {
            let catalog = wharf_storage::PlanCatalog {
                private_registry: record.auth_required,
                ..catalog.clone()
            };
            crate::plan::use_catalog(&storage, catalog)?;
        }
        let state = Arc::new(AppState::new(storage, self.config_for(record)));
        // On PostgreSQL the tenant's index follows its log, as the default registry's does,
        // so a publish through any node is served by this one.
        warm_and_follow(&state)
            .await
            .with_context(|| format!("loading the index files of tenant `{}`", record.name))?;
        let refresh = wharf_registry_server::spawn_timestamp_refresh(Arc::clone(&state));
        let webhooks = wharf_registry_server::spawn_webhook_deliveries(&state);
        tracing::info!(tenant = %record.name, auth_required = record.auth_required, "tenant served");
        Ok(Opened {
            state,
            auth_required: record.auth_required,
            refresh,
            webhooks,
        })
    }

    /// The default registry's configuration with the tenant's URL and access.
    fn config_for(&self, record: &TenantRecord) -> ServerConfig {
        let mut config = self.setup.base.clone();
        config.public_url = tenant_url(&self.setup.base.public_url, &record.name);
        config.auth_required = record.auth_required;
        config.git_index = None;
        config.presigned_downloads = None;
        config.limits = self.setup.base_limits.clone().with_dependency_registries(
            &own_index_url(&config.public_url),
            &self.setup.allowed_dependency_registries,
        );
        config
    }
}

/// The public URL of tenant `name` on a server at `base`.
fn tenant_url(base: &str, name: &str) -> String {
    format!("{}{TENANT_PREFIX}{name}", base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::tenant_url;

    #[test]
    fn a_tenant_url_adds_the_prefix() {
        assert_eq!(
            tenant_url("http://127.0.0.1:80/", "acme"),
            "http://127.0.0.1:80/t/acme"
        );
    }
}

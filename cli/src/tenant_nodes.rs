//! Tenants of a registry on PostgreSQL, served by every node: the tenants table is in the
//! registry's own database (`wharf_storage::TenantEntry`), each row with the tenant's
//! signing keys sealed under the registry's tenant key (`<data>/keys/tenants.key`, which
//! every node holds with the rest of `keys/`). `wharf tenant` commands with `--database`
//! change the table through any node's directory; each node writes a tenant's keys into its
//! own `<data>/tenants/<name>/` before it serves or a command opens the tenant there.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use wharf_storage::{AuditEntry, ExistingDatabase, MetadataDatabase, Storage};

use crate::open_registry::{open_existing_on, open_tenant_node, shown};
use crate::tenant_table::{TenantRecord, tenant_dir};

/// Runs `work` on the registry's storage on a blocking thread (its PostgreSQL calls wait).
async fn blocking<T: Send + 'static>(
    registry: &Storage,
    work: impl FnOnce(&Storage) -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let registry = registry.clone();
    tokio::task::spawn_blocking(move || work(&registry))
        .await
        .context("a blocking task of the tenants table ended abnormally")?
}

/// Every tenant in the registry's tenants table.
pub(crate) async fn entries(registry: &Storage) -> anyhow::Result<Vec<TenantRecord>> {
    blocking(registry, |registry| Ok(registry.tenant_entries()?)).await
}

/// The refusal of a name that is not in the table.
fn no_tenant(name: &str, database: &MetadataDatabase) -> anyhow::Error {
    anyhow::anyhow!(
        "no tenant `{name}` in the registry in `{}`; create it with `wharf tenant create {name} --database URL` or see `wharf tenant list --database URL`",
        shown(database)
    )
}

/// Writes the signing keys of tenant `name` from the tenants table into its directory under
/// `data` (unless they are there already).
pub(crate) async fn install_keys(
    registry: &Storage,
    data: &Path,
    name: &str,
    database: &MetadataDatabase,
) -> anyhow::Result<()> {
    let (data, name, refusal) = (
        data.to_path_buf(),
        name.to_owned(),
        no_tenant(name, database),
    );
    blocking(registry, move |registry| {
        let sealed = registry.tenant_sealed_keys(&name)?.ok_or(refusal)?;
        wharf_storage::install_tenant_keys(&data, &name, &sealed, &tenant_dir(&data, &name))?;
        Ok(())
    })
    .await
}

/// `wharf tenant create` on PostgreSQL: the tenant's database and registry (its keys made
/// here), then its row with the sealed keys and its audit record in one transaction, which
/// every serving node is notified of. Returns the tenant's directory.
pub(crate) async fn create(
    registry: &Storage,
    data: &Path,
    database: &MetadataDatabase,
    record: TenantRecord,
    audit: AuditEntry,
) -> anyhow::Result<PathBuf> {
    let name = record.name.clone();
    if entries(registry)
        .await?
        .iter()
        .any(|tenant| tenant.name == name)
    {
        bail!(
            "tenant `{name}` already exists; `wharf tenant list --database URL` shows the tenants"
        );
    }
    let dir = tenant_dir(data, &name);
    if dir.exists() {
        bail!(
            "`{}` already exists but is no tenant of the registry in `{}`; move it away or choose another name",
            dir.display(),
            shown(database)
        );
    }
    if wharf_storage::make_tenant_key(data)? {
        eprintln!(
            "made the registry's tenant key `{}`; copy it to the `keys/` of every other node, which serve the registry's tenants with it",
            data.join("keys")
                .join(wharf_storage::TENANT_KEY_FILE)
                .display()
        );
    }
    prepare_void(registry, data, database).await?;
    let tenant_database = database.for_tenant(&name)?;
    tenant_database
        .create_database(database, &name, ExistingDatabase::Refuse)
        .await?;
    let storage = open_tenant_node(data, &name, &tenant_database)
        .await
        .with_context(|| format!("creating the registry of tenant `{name}`"))?;
    storage.settle().await;
    drop(storage);
    let sealed = wharf_storage::seal_tenant_keys(data, &name, &dir)?;
    blocking(registry, move |registry| {
        Ok(registry.add_tenant(&record, sealed, audit)?)
    })
    .await?;
    Ok(dir)
}

/// Opens the registry of tenant `name` of the registry on PostgreSQL whose node directory is
/// `data`, for commands that work on a tenant (`wharf token --tenant NAME`), writing its
/// keys into the node's directory first; refuses a name that is no tenant.
pub(crate) async fn open_tenant(
    data: &Path,
    name: &str,
    database: &MetadataDatabase,
) -> anyhow::Result<Storage> {
    let registry = open_existing_on(data, database).await?;
    install_keys(&registry, data, name, database).await?;
    let tenant_database = database.for_tenant(name)?;
    let dir = tenant_dir(data, name);
    if !dir.join(crate::open_registry::DATABASE_RECORD).exists() {
        // This node has not served the tenant yet: make its directory as a node would.
        open_tenant_node(data, name, &tenant_database)
            .await?
            .settle()
            .await;
    }
    open_existing_on(&dir, &tenant_database).await
}

/// The directory of the empty registry that answers unknown tenant names on this node.
fn void_dir(data: &Path) -> PathBuf {
    data.join(crate::tenant_table::TENANTS_DIR)
        .join(crate::tenant_table::VOID_DIR)
}

/// Writes the keys of the empty registry that answers unknown tenant names, as the first
/// node recorded them, into its directory under `data`; returns whether there were any.
pub(crate) async fn install_void_keys(registry: &Storage, data: &Path) -> anyhow::Result<bool> {
    let data = data.to_path_buf();
    blocking(registry, move |registry| {
        let Some(sealed) = registry.void_sealed_keys()? else {
            return Ok(false);
        };
        let void = crate::tenant_table::VOID_DIR;
        wharf_storage::install_tenant_keys(&data, void, &sealed, &void_dir(&data))?;
        Ok(true)
    })
    .await
}

/// Records the keys of the empty registry this node made (its first start with tenants),
/// so every other node answers unknown tenant names with the same registry.
pub(crate) async fn record_void_keys(registry: &Storage, data: &Path) -> anyhow::Result<()> {
    let data = data.to_path_buf();
    blocking(registry, move |registry| {
        let void = crate::tenant_table::VOID_DIR;
        let mine = wharf_storage::seal_tenant_keys(&data, void, &void_dir(&data))?;
        let recorded = registry.record_void_keys(mine.clone())?;
        if recorded != mine {
            bail!(
                "another node recorded the keys of the registry answering unknown tenants first; this node takes them at its next read of the tenants table"
            );
        }
        Ok(())
    })
    .await
}

/// Makes the empty registry that answers unknown tenant names and records its keys, unless
/// that was done: before the first tenant's row exists, so the nodes that then serve it
/// install these keys instead of racing to make their own.
async fn prepare_void(
    registry: &Storage,
    data: &Path,
    database: &MetadataDatabase,
) -> anyhow::Result<()> {
    if blocking(registry, |registry| {
        Ok(registry.void_sealed_keys()?.is_some())
    })
    .await?
    {
        return Ok(());
    }
    let void_database = database.for_unknown_tenants()?;
    void_database
        .create_database(
            database,
            crate::tenant_table::VOID_DIR,
            ExistingDatabase::Reuse,
        )
        .await?;
    let void = crate::open_registry::open_node(&void_dir(data), None, &void_database, None)
        .await
        .context("making the registry that answers unknown tenant names")?;
    void.settle().await;
    drop(void);
    record_void_keys(registry, data).await
}

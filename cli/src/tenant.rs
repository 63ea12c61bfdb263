//! `wharf tenant create|list|suspend|resume`: tenants, managed directly on the data directory.
//!
//! A running `wharf serve` notices the changed table within about a second: a new tenant
//! serves, a suspended one answers 403, a resumed one serves again. On PostgreSQL the table
//! is in the registry's database and every node serving it follows it (`tenant_nodes.rs`).
//! Every change is recorded in the default registry's audit log.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use wharf_storage::{AuditEntry, MetadataDatabase, Storage};

use crate::open_registry::{DatabaseArg, open_existing_on, open_tenant_node};
use crate::settings::default_data_dir;
use crate::tenant_table::{
    TenantRecord, TenantTable, check_tenant_name, lock_table, table_path, tenant_dir,
};

/// Tenant subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum TenantCommand {
    /// Create a tenant: a registry of its own served under `/t/NAME/`.
    Create(CreateArgs),
    /// List the tenants with their state.
    List(DataArg),
    /// Suspend a tenant: it answers 403 and keeps its data.
    Suspend(SuspendArgs),
    /// Resume a suspended tenant.
    Resume(NameArgs),
}

/// Where the data lives.
#[derive(Debug, Args)]
pub(crate) struct DataArg {
    /// Data directory of the registry `wharf serve` serves [default: ./wharf-data].
    #[arg(long, env = "WHARF_DATA", value_name = "DIR")]
    data: Option<PathBuf>,
    /// The registry's PostgreSQL database, when `wharf serve --database` keeps its metadata
    /// there; each tenant then has a database of its own on the same server.
    #[command(flatten)]
    database: DatabaseArg,
}

impl DataArg {
    fn dir(&self) -> PathBuf {
        self.data.clone().unwrap_or_else(default_data_dir)
    }
}

/// `wharf tenant create`.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    data: DataArg,
    /// The tenant's name: lower-case letters, digits and `-`, starting with a letter.
    name: String,
    /// Every request to the tenant needs one of its tokens (its index is private).
    #[arg(long)]
    auth_required: bool,
}

/// `wharf tenant suspend`.
#[derive(Debug, Args)]
pub(crate) struct SuspendArgs {
    #[command(flatten)]
    data: DataArg,
    /// The tenant's name.
    name: String,
    /// Why (kept in the table and the audit log; not shown to the tenant's clients).
    #[arg(long)]
    reason: String,
}

/// A subcommand that names one tenant.
#[derive(Debug, Args)]
pub(crate) struct NameArgs {
    #[command(flatten)]
    data: DataArg,
    /// The tenant's name.
    name: String,
}

/// Runs a tenant subcommand.
pub(crate) fn run(command: TenantCommand) -> anyhow::Result<ExitCode> {
    crate::open_registry::run_command(async move {
        match command {
            TenantCommand::Create(args) => create(args).await,
            TenantCommand::List(args) => list(&args).await,
            TenantCommand::Suspend(args) => {
                let reason = args.reason.trim().to_owned();
                if reason.is_empty() || reason.contains('\n') {
                    bail!("--reason must be one non-empty line saying why the tenant is suspended");
                }
                change(&args.data, &args.name, Change::Suspend(reason)).await
            }
            TenantCommand::Resume(args) => change(&args.data, &args.name, Change::Resume).await,
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn create(args: CreateArgs) -> anyhow::Result<()> {
    let data = args.data.dir();
    let name = args.name;
    check_tenant_name(&name)?;
    let database = args.data.database.parsed()?;
    let registry = open_existing_on(&data, &database).await?;
    let record = TenantRecord {
        name: name.clone(),
        auth_required: args.auth_required,
        created_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        suspended: None,
    };
    let audit = AuditEntry::new(
        crate::admin_licence::ADMIN_ACTOR,
        "local",
        "tenant.create",
        format!("tenant {name} (auth-required: {})", args.auth_required),
        "ok",
    );
    let dir = match database {
        MetadataDatabase::Postgres(_) => {
            crate::tenant_nodes::create(&registry, &data, &database, record, audit).await?
        }
        MetadataDatabase::Embedded => create_in_file(&registry, &data, record, audit).await?,
    };
    eprintln!(
        "created tenant `{name}` in {}; its index is sparse+PUBLIC-URL/t/{name}/index/; give it a first user with `wharf token create --tenant {name} --user LOGIN`",
        dir.display()
    );
    Ok(())
}

/// `wharf tenant create` on an embedded registry: the tenant's registry, then its line in
/// `tenants.json` (under the table's lock) and its audit record.
async fn create_in_file(
    registry: &Storage,
    data: &Path,
    record: TenantRecord,
    audit: AuditEntry,
) -> anyhow::Result<PathBuf> {
    let name = record.name.clone();
    let _lock = lock_table(data)?;
    let mut table = TenantTable::load(data)?;
    if table.get(&name).is_some() {
        bail!("tenant `{name}` already exists; `wharf tenant list` shows the tenants");
    }
    let dir = tenant_dir(data, &name);
    if dir.exists() {
        bail!(
            "`{}` already exists but is no tenant in `{}`; move it away or choose another name",
            dir.display(),
            table_path(data).display()
        );
    }
    let storage = open_tenant_node(data, &name, &MetadataDatabase::Embedded)
        .await
        .with_context(|| format!("creating the registry of tenant `{name}`"))?;
    storage.settle().await;
    drop(storage);
    table.tenants.push(record);
    table.save(data)?;
    registry.audit_now(&audit)?;
    Ok(dir)
}

async fn list(args: &DataArg) -> anyhow::Result<()> {
    let tenants = match args.database.parsed()? {
        MetadataDatabase::Embedded => TenantTable::load(&args.dir())?.tenants,
        database @ MetadataDatabase::Postgres(_) => {
            let registry = open_existing_on(&args.dir(), &database).await?;
            crate::tenant_nodes::entries(&registry).await?
        }
    };
    println!(
        "{:<24} {:<14} {:<22} state",
        "name", "auth-required", "created"
    );
    for tenant in &tenants {
        println!(
            "{:<24} {:<14} {:<22} {}",
            tenant.name,
            if tenant.auth_required { "yes" } else { "no" },
            tenant.created_at,
            tenant.suspended.as_ref().map_or_else(
                || "active".to_owned(),
                |reason| format!("suspended: {reason}")
            )
        );
    }
    Ok(())
}

/// A change of a tenant's state.
enum Change {
    Suspend(String),
    Resume,
}

async fn change(data: &DataArg, name: &str, change: Change) -> anyhow::Result<()> {
    let database = data.database.parsed()?;
    let registry = open_existing_on(&data.dir(), &database).await?;
    let data = &data.dir();
    let (action, detail, reason) = match change {
        Change::Suspend(reason) => (
            "tenant.suspend",
            format!("tenant {name}: {reason}"),
            Some(reason),
        ),
        Change::Resume => ("tenant.resume", format!("tenant {name}"), None),
    };
    let audit = AuditEntry::new(
        crate::admin_licence::ADMIN_ACTOR,
        "local",
        action,
        detail,
        "ok",
    );
    if let MetadataDatabase::Postgres(_) = database {
        let name = name.to_owned();
        let registry = registry.clone();
        tokio::task::spawn_blocking(move || {
            registry.set_tenant_suspension(&name, reason.as_deref(), audit)
        })
        .await
        .context("the tenants table change ended abnormally")??;
    } else {
        let _lock = lock_table(data)?;
        let mut table = TenantTable::load(data)?;
        let Some(tenant) = table.get_mut(name) else {
            bail!(
                "no tenant `{name}` in `{}`; `wharf tenant list` shows the tenants",
                table_path(data).display()
            );
        };
        if reason.is_none() && tenant.suspended.is_none() {
            bail!("tenant `{name}` is not suspended; nothing to resume");
        }
        tenant.suspended = reason;
        table.save(data)?;
        registry.audit_now(&audit)?;
    }
    eprintln!(
        "{} tenant `{name}`; every server of the registry applies it within a second",
        if action == "tenant.suspend" {
            "suspended"
        } else {
            "resumed"
        }
    );
    Ok(())
}

/// Opens the registry of tenant `name` of the registry in `data` whose metadata is in
/// `database` (the tenant's own database is derived from it), for commands that work on a
/// tenant's registry (`wharf token --tenant NAME`); refuses a name that is no tenant.
pub(crate) async fn open_tenant(
    data: &Path,
    name: &str,
    database: &DatabaseArg,
) -> anyhow::Result<Storage> {
    let database = database.parsed()?;
    if let MetadataDatabase::Postgres(_) = database {
        return crate::tenant_nodes::open_tenant(data, name, &database).await;
    }
    let dir = resolve_tenant_data(data, name)?;
    open_existing_on(&dir, &database.for_tenant(name)?).await
}

/// The data directory of tenant `name` of the registry in `data`, for commands that work on
/// a tenant's registry (`wharf token create --tenant NAME`); refuses a name that is no tenant.
pub(crate) fn resolve_tenant_data(data: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let table = TenantTable::load(data)?;
    if table.get(name).is_none() {
        bail!(
            "no tenant `{name}` in `{}`; create it with `wharf tenant create {name}` or see `wharf tenant list`",
            table_path(data).display()
        );
    }
    Ok(tenant_dir(data, name))
}

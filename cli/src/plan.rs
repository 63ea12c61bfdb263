//! `wharf admin plan set|clear|show`: the registry's plan (docs/plans.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::builder::BoolishValueParser;
use clap::{Args, Subcommand};
use wharf_storage::{PlanCatalog, Plans, Storage};

use crate::admin_licence::{ADMIN_ACTOR, DataDir};

/// `wharf admin plan …`.
#[derive(Debug, Subcommand)]
pub(crate) enum PlanCommand {
    /// Move the registry to plan NAME of the plans file; a running server applies it to
    /// its next request. Recorded in the audit log.
    Set(SetArgs),
    /// Take the registry off any plan: nothing is limited.
    Clear(ClearArgs),
    /// Print the registry's plan, each limit and what the registry uses.
    Show(ShowArgs),
}

/// `wharf admin plan set`.
#[derive(Debug, Args)]
pub(crate) struct SetArgs {
    /// The plan, as named in the plans file (`[plans.NAME]`).
    name: String,
    /// The plans file (docs/plans.md).
    #[arg(long, env = "WHARF_PLANS", value_name = "FILE")]
    plans: PathBuf,
    #[command(flatten)]
    data: DataDir,
}

/// `wharf admin plan clear`.
#[derive(Debug, Args)]
pub(crate) struct ClearArgs {
    #[command(flatten)]
    data: DataDir,
}

/// `wharf admin plan show`.
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The plans file, for the limits (without it only the usage is shown).
    #[arg(long, env = "WHARF_PLANS", value_name = "FILE")]
    plans: Option<PathBuf>,
    /// Count every package as private, as a server with `auth-required` does.
    #[arg(
        long,
        env = "WHARF_AUTH_REQUIRED",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new()
    )]
    auth_required: Option<bool>,
    #[command(flatten)]
    data: DataDir,
}

/// Reads a plans file into the catalog a storage enforces.
pub(crate) fn load_catalog(path: &Path, private_registry: bool) -> anyhow::Result<PlanCatalog> {
    let plans = Plans::load(path)?;
    Ok(PlanCatalog {
        plans,
        file: path.display().to_string(),
        private_registry,
    })
}

/// Makes a serving storage enforce `catalog`, saying which plan applies.
pub(crate) fn use_catalog(storage: &Storage, catalog: PlanCatalog) -> anyhow::Result<()> {
    let file = catalog.file.clone();
    storage.set_plans(catalog);
    match storage.sync_plan_limits()? {
        Some((name, false)) => tracing::warn!(
            plan = %name,
            %file,
            "the registry's plan is not in the plans file; the limits it was set with still apply (define it there, or run `wharf admin plan set NAME`)"
        ),
        Some((name, true)) => tracing::info!(plan = %name, %file, "plan limits on"),
        None => tracing::info!(%file, "plans loaded; the registry is on no plan"),
    }
    Ok(())
}

/// Runs `wharf admin plan …`.
pub(crate) async fn run(command: PlanCommand) -> anyhow::Result<ExitCode> {
    match command {
        PlanCommand::Set(args) => {
            let catalog = load_catalog(&args.plans, false)?;
            let storage = args.data.open().await?;
            storage.set_plans(catalog);
            storage.set_plan(Some(&args.name), ADMIN_ACTOR, "local")?;
            println!("the registry is on plan `{}`", args.name);
            Ok(ExitCode::SUCCESS)
        }
        PlanCommand::Clear(args) => {
            let storage = args.data.open().await?;
            storage.set_plan(None, ADMIN_ACTOR, "local")?;
            println!("the registry is on no plan: nothing is limited");
            Ok(ExitCode::SUCCESS)
        }
        PlanCommand::Show(args) => {
            let private = args.auth_required.unwrap_or(false);
            let catalog = match &args.plans {
                Some(path) => load_catalog(path, private)?,
                None => PlanCatalog {
                    private_registry: private,
                    ..PlanCatalog::default()
                },
            };
            let storage = args.data.open().await?;
            storage.set_plans(catalog);
            show(&storage, args.plans.is_some()).await
        }
    }
}

async fn show(storage: &Storage, with_plans: bool) -> anyhow::Result<ExitCode> {
    let report = storage.usage().await.context("reading the usage")?;
    match (&report.plan, !report.plan_defined && with_plans) {
        (None, _) => println!("plan: none (nothing is limited)"),
        (Some(plan), false) => println!("plan: {plan}"),
        (Some(plan), true) => {
            println!("plan: {plan} (not in the plans file; the limits it was set with apply)");
        }
    }
    println!("month: {}", report.month);
    for entry in &report.entitlements {
        let limit = entry
            .limit
            .map_or_else(|| "unlimited".to_owned(), |l| entry.entitlement.show(l));
        println!(
            "{}: {} of {limit}",
            entry.entitlement,
            entry.entitlement.show(entry.usage)
        );
    }
    Ok(ExitCode::SUCCESS)
}

//! `wharf admin …`: operator maintenance.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::settings::{default_data_dir, open_existing_storage};

/// Admin subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// Rebuild every derived file (index files) that lags the event log, then verify that
    /// index files match the log and blobs match their hashes. Exits 1 if problems remain.
    Reconcile(ReconcileArgs),
}

/// `wharf admin reconcile`.
#[derive(Debug, Args)]
pub(crate) struct ReconcileArgs {
    /// Data directory of a registry `wharf serve` created [default: ./wharf-data].
    #[arg(long, env = "WHARF_DATA", value_name = "DIR")]
    data: Option<PathBuf>,
}

/// Runs an admin subcommand.
pub(crate) fn run(command: AdminCommand) -> anyhow::Result<ExitCode> {
    let AdminCommand::Reconcile(args) = command;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let dir = args.data.unwrap_or_else(default_data_dir);
        let storage = open_existing_storage(&dir).await?;
        // Opening storage already reconciles; report what that run fixed, plus anything a
        // second pass still finds (another process may have written meanwhile).
        let opened = storage.open_report().clone();
        let again = storage.reconcile().await.context("reconciling")?;
        let mut rebuilt = opened.rebuilt;
        rebuilt.extend(again.rebuilt);
        rebuilt.sort();
        rebuilt.dedup();
        println!(
            "checked {} index files; rebuilt {}",
            opened.checked.max(again.checked),
            rebuilt.len()
        );
        for name in &rebuilt {
            println!("rebuilt {name}");
        }
        let verify = storage.verify().await.context("verifying")?;
        println!(
            "verified {} index files and {} blobs: {} problems",
            verify.index_files,
            verify.blobs,
            verify.problems.len()
        );
        for problem in &verify.problems {
            println!("problem: {problem}");
        }
        anyhow::Ok(if verify.problems.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}

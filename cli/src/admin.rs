//! `wharf admin …`: operator maintenance.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use wharf_storage::{BlobBackend, Storage, StorageConfig};

use crate::settings::default_data_dir;

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
    /// Data directory of the registry [default: ./wharf-data].
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
        let storage = Storage::open(StorageConfig {
            data_dir: dir.clone(),
            blobs: BlobBackend::Local,
        })
        .await
        .with_context(|| format!("opening storage in `{}`", dir.display()))?;
        let report = storage.reconcile().await.context("reconciling")?;
        println!(
            "checked {} index files; rebuilt {}",
            report.checked,
            report.rebuilt.len()
        );
        for name in &report.rebuilt {
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

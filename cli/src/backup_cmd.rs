//! `wharf admin backup` and `wharf admin restore` (docs/backup.md).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use wharf_storage::{BackupProgress, BlobBackend, S3Config, Storage, StorageConfig};

use crate::admin_licence::ADMIN_ACTOR;
use crate::settings::default_data_dir;

/// `wharf admin backup`.
#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    /// The backup file to write (must not exist; written with mode 0600: it holds the
    /// registry's secret keys).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Data directory of the registry [default: ./wharf-data].
    #[arg(long, env = "WHARF_DATA", value_name = "DIR")]
    data: Option<PathBuf>,
}

/// `wharf admin restore`.
#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// A file `wharf admin backup` wrote.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The data directory to restore into: new or empty.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Put the blobs into this bucket (`s3://BUCKET/PREFIX`, settings from the `AWS_*`
    /// variables) instead of `<DIR>/blobs`.
    #[arg(long, value_name = "URL")]
    storage: Option<String>,
    /// A file holding the registry's root public key (`wharf-ed25519:…`, as `wharf admin
    /// root-key export` prints it): the backup's keyset chain must start at it. Without it
    /// the manifest's signature is checked against the keys the backup itself holds, which
    /// catches a damaged or half-altered file but not a backup re-signed with other keys.
    #[arg(long, value_name = "FILE")]
    root_key: Option<PathBuf>,
}

/// Writes the backup, reporting progress on stderr and a summary on stdout.
pub(crate) async fn backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let dir = args.data.unwrap_or_else(default_data_dir);
    crate::open_registry::refuse_postgres_node(&dir)?;
    let blobs = crate::blob_storage::for_existing(&dir)?;
    let progress: Arc<dyn Fn(BackupProgress) + Send + Sync> =
        Arc::new(|step: BackupProgress| match step {
            BackupProgress::Database { copied, total } => {
                eprintln!("database: {copied}/{total} pages copied");
            }
            BackupProgress::Blobs { done, total, bytes } => {
                eprintln!("blobs: {done}/{total} written ({bytes} bytes)");
            }
        });
    let summary = wharf_storage::create_backup(&dir, &blobs, &args.out, progress)
        .await
        .with_context(|| format!("backing up the registry in `{}`", dir.display()))?;
    println!(
        "database snapshot at event {}: read snapshot held {:.2} s (the server's writer never waits for it)",
        summary.last_event,
        summary.snapshot_held.as_secs_f64()
    );
    println!(
        "backup `{}`: {} versions of {} packages, {} blobs, {} bytes ({} bytes compressed) in {:.2} s; mode 0600: it holds the registry's secret keys, keep it as safe as the data directory",
        summary.file.display(),
        summary.versions,
        summary.packages,
        summary.blobs,
        summary.bytes,
        summary.file_bytes,
        summary.elapsed.as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// Unpacks the backup, opens the registry (which rebuilds its index files), then runs the
/// checks of `wharf admin reconcile` (index files, blobs, the signed log) and prints them.
/// Exits 1 when a problem remains.
pub(crate) async fn restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let location = args
        .storage
        .as_deref()
        .map(crate::blob_storage::parse_storage)
        .transpose()?;
    let blobs = location.clone().map_or(BlobBackend::Local, |location| {
        BlobBackend::S3(S3Config::from_env(location))
    });
    let pinned_root = args
        .root_key
        .as_deref()
        .map(crate::install_cmd::read_root_key)
        .transpose()?;
    let summary = wharf_storage::restore_backup(&args.file, &args.data, &blobs, pinned_root)
        .await
        .with_context(|| format!("restoring `{}`", args.file.display()))?;
    if let Some(location) = &location {
        let record = args.data.join(crate::blob_storage::BLOB_STORAGE_FILE);
        std::fs::write(&record, format!("{location}\n"))
            .with_context(|| format!("cannot write `{}`", record.display()))?;
    }
    println!(
        "restored `{}` (snapshot of {}, event {}): {} versions of {} packages, {} blobs{}, {} bytes in {:.2} s",
        args.file.display(),
        summary.created,
        summary.last_event,
        summary.versions,
        summary.packages,
        summary.blobs,
        location
            .as_ref()
            .map(|location| format!(" (to {location})"))
            .unwrap_or_default(),
        summary.bytes,
        summary.elapsed.as_secs_f64()
    );
    let storage = Storage::open(StorageConfig {
        data_dir: args.data.clone(),
        blobs,
    })
    .await
    .with_context(|| format!("opening the restored registry in `{}`", args.data.display()))?;
    let rebuilt = storage.open_report().rebuilt.len();
    let again = storage.reconcile().await.context("reconciling")?;
    let verify = storage.verify().await.context("verifying")?;
    println!(
        "rebuilt {} index files; verified {} index files, {} blobs and the signed log: {} problems",
        rebuilt + again.rebuilt.len(),
        verify.index_files,
        verify.blobs,
        verify.problems.len()
    );
    storage.audit_now(&wharf_storage::AuditEntry::new(
        ADMIN_ACTOR,
        "local",
        "admin.restore",
        args.file.display().to_string(),
        format!("ok, {} problems", verify.problems.len()),
    ))?;
    for problem in &verify.problems {
        println!("problem: {problem}");
    }
    if verify.problems.is_empty() {
        println!(
            "restore clean: start it with `wharf serve --data {}`",
            args.data.display()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!("restore NOT clean: the problems above remain");
        Ok(ExitCode::from(1))
    }
}

//! `wharf admin …`: operator maintenance.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;
use clap::{Args, Subcommand};
use wharf_git_index::{Author, GitIndex};
use wharf_storage::{AuditEntry, GcOptions};

use crate::admin_audit::{AuditCommand, record_admin_action};
use crate::admin_keyset::{KeysetCommand, RootKeyNewArgs, root_key_new};
use crate::admin_licence::{ADMIN_ACTOR, LicenceCommand, PremiumCommand};
use crate::open_registry::{DatabaseArg, open_existing_storage_on, run_command};
use crate::settings::default_data_dir;

/// Admin subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// Rebuild every derived file (index files, and the git index when the server keeps one)
    /// that lags the event log, then verify that index files match the log and blobs match
    /// their hashes. Exits 1 if problems remain.
    Reconcile(ReconcileArgs),
    /// Write a consistent online backup of the registry (database snapshot, every blob it
    /// references, keys) into one file, mode 0600; safe while the server runs and publishes
    /// (docs/backup.md).
    Backup(crate::backup_cmd::BackupArgs),
    /// Restore a backup into a new or empty data directory, rebuild its index files and
    /// check it like `reconcile` does. Exits 1 if problems remain.
    Restore(crate::backup_cmd::RestoreArgs),
    /// Start the git index's history again: a new root commit with the current tree on
    /// `main`, the old history kept on branch `snapshot-<today>`. A running server pushes it
    /// (forced) to its remotes on its next round.
    #[command(name = "git-squash")]
    GitSquash(GitSquashArgs),
    /// Delete blobs that no version references (left by refused or raced publishes, failed
    /// commits or crashes) once they are older than the grace period. Safe while the server
    /// runs.
    Gc(GcArgs),
    /// The registry's root key.
    #[command(subcommand, name = "root-key")]
    RootKey(RootKeyCommand),
    /// The next keyset, signed by a root key kept offline.
    #[command(subcommand)]
    Keyset(KeysetCommand),
    /// Premium packages: their downloads need a licence (docs/entitlements.md).
    #[command(subcommand)]
    Premium(PremiumCommand),
    /// Entitlement keys, licences and their revocation (docs/entitlements.md).
    #[command(subcommand)]
    Licence(LicenceCommand),
    /// The hash-chained audit log: export and verify (docs/audit.md).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The registry's plan and what it uses of it (docs/plans.md).
    #[command(subcommand)]
    Plan(crate::plan::PlanCommand),
    /// Quarantine a version pending review (or release it with --release), over the API
    /// with the administrator's token (docs/lifecycle.md).
    Quarantine(crate::lifecycle_cmd::QuarantineArgs),
    /// Signed security advisories (docs/lifecycle.md).
    #[command(subcommand)]
    Advisory(crate::lifecycle_cmd::AdvisoryCommand),
    /// Review moderation: hide, unhide, list reported reviews (docs/catalogue.md).
    #[command(subcommand)]
    Review(crate::admin_review::ReviewCommand),
    /// Users' roles: tenant-admin, maintainer, publisher, reader, auditor (docs/roles.md).
    #[command(subcommand)]
    Role(crate::role_cmd::RoleCommand),
    /// Webhook deliveries: list them, retry failed ones (docs/lifecycle.md).
    #[command(subcommand)]
    Webhooks(crate::admin_webhooks::WebhooksCommand),
}

/// `wharf admin root-key …`.
#[derive(Debug, Subcommand)]
pub(crate) enum RootKeyCommand {
    /// Print the public root key clients pin (one line, `wharf-ed25519:…`). Works when the
    /// root key file was moved offline: the key is read from the signed keyset then.
    Export(RootKeyExportArgs),
    /// Make a root key file to keep offline (prints its public key); name it in
    /// `wharf admin keyset request --new-root`.
    New(RootKeyNewArgs),
}

/// `wharf admin root-key export`.
#[derive(Debug, Args)]
pub(crate) struct RootKeyExportArgs {
    /// Data directory of a registry `wharf serve` created [default: ./wharf-data].
    #[arg(long, env = "WHARF_DATA", value_name = "DIR")]
    data: Option<PathBuf>,
}

/// `wharf admin gc`.
#[derive(Debug, Args)]
pub(crate) struct GcArgs {
    /// Data directory of the registry [default: ./wharf-data].
    #[arg(long, env = "WHARF_DATA", value_name = "DIR")]
    data: Option<PathBuf>,
    #[command(flatten)]
    database: DatabaseArg,
    /// List what would be deleted (every blob, with its size), and delete nothing.
    #[arg(long)]
    dry_run: bool,
    /// Keep unreferenced blobs younger than this (`90m`, `1h`, `2d`): a publish that has
    /// written its blob but not committed yet must keep it.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_grace)]
    grace: Duration,
    /// Print every blob deleted.
    #[arg(long, short)]
    verbose: bool,
}

/// A grace period as humantime reads it.
fn parse_grace(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|error| {
        format!("`{text}` is not a duration ({error}); write it like `1h`, `90m` or `2d`")
    })
}

/// `wharf admin git-squash`.
#[derive(Debug, Args)]
pub(crate) struct GitSquashArgs {
    /// Data directory of a registry whose server keeps a git index [default: ./wharf-data].
    #[arg(long, env = "WHARF_DATA", value_name = "DIR")]
    data: Option<PathBuf>,
}

/// `wharf admin reconcile`.
#[derive(Debug, Args)]
pub(crate) struct ReconcileArgs {
    /// Data directory of a registry `wharf serve` created [default: ./wharf-data].
    #[arg(long, env = "WHARF_DATA", value_name = "DIR")]
    data: Option<PathBuf>,
    #[command(flatten)]
    database: DatabaseArg,
}

/// Runs an admin subcommand.
pub(crate) fn run(command: AdminCommand) -> anyhow::Result<ExitCode> {
    match command {
        AdminCommand::Reconcile(args) => run_command(reconcile(args)),
        AdminCommand::Gc(args) => run_command(gc(args)),
        AdminCommand::Backup(args) => run_command(crate::backup_cmd::backup(args)),
        AdminCommand::Restore(args) => run_command(crate::backup_cmd::restore(args)),
        AdminCommand::GitSquash(args) => run_command(git_squash(args)),
        AdminCommand::RootKey(RootKeyCommand::Export(args)) => root_key_export(&args),
        AdminCommand::RootKey(RootKeyCommand::New(args)) => root_key_new(&args),
        AdminCommand::Keyset(command) => crate::admin_keyset::run(command),
        AdminCommand::Premium(command) => run_command(crate::admin_licence::premium(command)),
        AdminCommand::Licence(command) => run_command(crate::admin_licence::licence(command)),
        AdminCommand::Audit(command) => run_command(crate::admin_audit::run(command)),
        AdminCommand::Review(command) => run_command(crate::admin_review::run(command)),
        AdminCommand::Plan(command) => run_command(crate::plan::run(command)),
        AdminCommand::Quarantine(args) => crate::lifecycle_cmd::quarantine(&args),
        AdminCommand::Advisory(command) => crate::lifecycle_cmd::advisory(&command),
        AdminCommand::Role(command) => run_command(crate::role_cmd::run(command)),
        AdminCommand::Webhooks(command) => crate::admin_webhooks::run(&command),
    }
}

/// `wharf admin root-key export`: the root public key on one line.
fn root_key_export(args: &RootKeyExportArgs) -> anyhow::Result<ExitCode> {
    let dir = args.data.clone().unwrap_or_else(default_data_dir);
    let shown = std::path::absolute(&dir).unwrap_or_else(|_| dir.clone());
    if !dir.join(wharf_storage::KEYS_DIR).is_dir() {
        anyhow::bail!(
            "no registry keys in `{}` (it has no `{}` directory); point to the registry's data directory with `--data DIR` or `WHARF_DATA` (`wharf serve` makes the keys on its first start)",
            shown.display(),
            wharf_storage::KEYS_DIR
        );
    }
    let key = wharf_storage::root_public_key(&dir)
        .with_context(|| format!("reading the root key of `{}`", shown.display()))?;
    println!("{key}");
    Ok(ExitCode::SUCCESS)
}

/// `wharf admin gc`: prints what it freed (or would free), then each blob with `--verbose`
/// or `--dry-run`.
async fn gc(args: GcArgs) -> anyhow::Result<ExitCode> {
    let dir = args.data.unwrap_or_else(default_data_dir);
    let storage = open_existing_storage_on(&dir, &args.database).await?;
    let options = GcOptions {
        grace: args.grace,
        dry_run: args.dry_run,
    };
    let report = storage
        .collect_garbage(options)
        .await
        .with_context(|| format!("collecting unreferenced blobs in `{}`", dir.display()))?;
    let grace = humantime::format_duration(args.grace);
    println!(
        "listed {} blobs: {} referenced, {} unreferenced but younger than {grace}, {} not blobs",
        report.blobs, report.referenced, report.young, report.unrecognised
    );
    let count = report.collected.len();
    record_admin_action(
        &storage,
        &AuditEntry::new(
            ADMIN_ACTOR,
            "local",
            "admin.gc",
            format!("{count} unreferenced blobs"),
            if report.dry_run { "ok (dry run)" } else { "ok" },
        ),
    )?;
    let plural = if count == 1 { "" } else { "s" };
    if report.dry_run {
        println!(
            "would free {count} unreferenced blob{plural}, {} bytes (dry run: nothing deleted)",
            report.bytes
        );
    } else {
        println!(
            "freed {count} unreferenced blob{plural}, {} bytes",
            report.bytes
        );
    }
    if report.shared > 0 {
        let plural = if report.shared == 1 { "" } else { "s" };
        println!(
            "{} {} blob file{plural} written before tenants shared blobs into links to the shared copies, freeing {} bytes{}",
            if report.dry_run {
                "would turn"
            } else {
                "turned"
            },
            report.shared,
            report.shared_bytes,
            if report.dry_run {
                " (dry run: nothing changed)"
            } else {
                ""
            }
        );
    }
    if args.verbose || report.dry_run {
        for blob in &report.collected {
            let written = UNIX_EPOCH
                + Duration::from_millis(u64::try_from(blob.written_at_ms).unwrap_or_default());
            println!(
                "{} {} {} bytes, written {}",
                if report.dry_run {
                    "would free"
                } else {
                    "freed"
                },
                blob.key,
                blob.size,
                humantime::format_rfc3339_seconds(written)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `wharf admin reconcile`.
async fn reconcile(args: ReconcileArgs) -> anyhow::Result<ExitCode> {
    let dir = args.data.unwrap_or_else(default_data_dir);
    let storage = open_existing_storage_on(&dir, &args.database).await?;
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
    if let Some(export) =
        GitIndex::existing(&dir, Author::default()).context("reading the git index settings")?
    {
        let report = export
            .reconcile(&storage)
            .await
            .context("reconciling the git index")?;
        for (what, commit) in [("advanced", &report.advanced), ("rebuilt", &report.rebuilt)] {
            if let Some(commit) = commit {
                println!("git index {what}: {} {}", commit.commit, commit.subject);
            }
        }
        println!("git index at event {}", report.seq);
    }
    let verify = storage.verify().await.context("verifying")?;
    record_admin_action(
        &storage,
        &AuditEntry::new(
            ADMIN_ACTOR,
            "local",
            "admin.reconcile",
            format!("{} index files rebuilt", rebuilt.len()),
            format!("ok, {} problems", verify.problems.len()),
        ),
    )?;
    println!(
        "verified {} index files and {} blobs: {} problems",
        verify.index_files,
        verify.blobs,
        verify.problems.len()
    );
    for problem in &verify.problems {
        println!("problem: {problem}");
    }
    Ok(if verify.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `wharf admin git-squash`.
async fn git_squash(args: GitSquashArgs) -> anyhow::Result<ExitCode> {
    let dir = args.data.unwrap_or_else(default_data_dir);
    let export = GitIndex::require(&dir, Author::default())?;
    let today = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let squashed = export
        .squash(&today[..10])
        .await
        .with_context(|| format!("squashing `{}`", export.repo_path().display()))?;
    println!(
        "main is now the root commit {} (event {}); the earlier history is on branch {}",
        squashed.root.commit, squashed.root.seq, squashed.branch
    );
    Ok(ExitCode::SUCCESS)
}

//! `wharf admin audit export|verify`: the hash-chained audit log (docs/audit.md).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use wharf_storage::{AuditEntry, AuditRecord, verify_audit_records};
use wharf_trust::UtcTime;

use crate::admin_licence::{ADMIN_ACTOR, DataDir};

/// Appends `entry` to the audit log now ([`crate::open_registry::run_command`] waits for its
/// anchor before the command exits).
pub(crate) fn record_admin_action(
    storage: &wharf_storage::Storage,
    entry: &AuditEntry,
) -> anyhow::Result<()> {
    storage
        .audit_now(entry)
        .context("recording the change in the audit log")
}

/// `wharf admin audit …`.
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Print the audit records (JSON lines, oldest first).
    Export(ExportArgs),
    /// Check the audit log (or an export of it) against its hash chain and the anchored
    /// head; prints each problem and exits 1 when there is one.
    Verify(VerifyArgs),
}

/// `wharf admin audit export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Only records from this time on (`YYYY-MM-DDTHH:MM:SSZ`).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    #[command(flatten)]
    data: DataDir,
}

/// `wharf admin audit verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// An export to check instead of the database (the registry's anchored head is still
    /// read from the data directory).
    #[arg(long, value_name = "EXPORT")]
    file: Option<PathBuf>,
    #[command(flatten)]
    data: DataDir,
}

/// Runs `wharf admin audit …`.
pub(crate) async fn run(command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Export(args) => export(args).await,
        AuditCommand::Verify(args) => verify(args).await,
    }
}

async fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let since = args
        .since
        .as_deref()
        .map(|text| UtcTime::parse(text, "--since").map(UtcTime::unix))
        .transpose()?;
    let storage = args.data.open().await?;
    let records = storage.audit_records(since)?;
    let mut out = std::io::stdout().lock();
    for record in &records {
        let line = serde_json::to_string(record).context("encoding an audit record")?;
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    // The registry's own log remembers where each export ended, so a copy whose tail was
    // cut off no longer ends where an export did.
    let target = match (records.first(), records.last()) {
        (Some(first), Some(last)) => {
            format!("{EXPORT_TARGET}{}{EXPORT_THROUGH}{}", first.seq, last.seq)
        }
        _ => format!("{EXPORT_TARGET}none"),
    };
    record_admin_action(
        &storage,
        &AuditEntry::new(ADMIN_ACTOR, "local", "audit.export", target, "ok"),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// How an export's record names the records it wrote: `records 1 through 42`.
const EXPORT_TARGET: &str = "records ";
const EXPORT_THROUGH: &str = " through ";

async fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let storage = args.data.open().await?;
    // The registry's own log against its chain and every anchored head (the head file on
    // SQLite, each node's anchor object on PostgreSQL).
    let mut problems = storage.verify_audit().await?;
    let head = storage.audit_heads().await?.into_iter().max();
    let stored = storage.audit_records(None)?;
    let mut checked = stored.len();
    if let Some(path) = &args.file {
        let (records, mut found) = read_export(path)?;
        checked = records.len();
        let complete = records.first().is_none_or(|first| first.seq == 1);
        found.extend(verify_audit_records(&records, None, complete));
        found.extend(check_against_registry(&records, &stored, complete));
        problems.extend(found);
    }
    let source = args.file.as_ref().map_or_else(
        || "the registry's audit log".to_owned(),
        |p| format!("`{}`", p.display()),
    );
    record_admin_action(
        &storage,
        &AuditEntry::new(
            ADMIN_ACTOR,
            "local",
            "audit.verify",
            source.clone(),
            if problems.is_empty() {
                "ok".to_owned()
            } else {
                format!("{} problems", problems.len())
            },
        ),
    )?;
    if problems.is_empty() {
        println!(
            "{source}: {checked} records, chain intact{}",
            head.map_or_else(String::new, |(seq, _)| format!(
                ", registry head {seq} anchored"
            ))
        );
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &problems {
        eprintln!("audit problem in {source}: {problem}");
    }
    Ok(ExitCode::from(1))
}

/// An export must join the registry's chain where it starts, hold the registry's records,
/// and end where an export ended (else its tail was cut off).
fn check_against_registry(
    records: &[AuditRecord],
    stored: &[AuditRecord],
    complete: bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    let at = |seq: u64| stored.iter().find(|record| record.seq == seq);
    if let Some(first) = records.first().filter(|_| !complete)
        && at(first.seq - 1).is_none_or(|before| before.hash != first.prev_hash)
    {
        problems.push(format!(
            "record {}: its `prev_hash` is not the hash of record {} in the registry's log",
            first.seq,
            first.seq - 1
        ));
    }
    let Some(last) = records.last() else {
        return problems;
    };
    if at(last.seq).is_none_or(|record| record.hash != last.hash) {
        problems.push(format!(
            "record {}: the export's last record differs from the registry's record {}",
            last.seq, last.seq
        ));
    }
    let through = format!("{EXPORT_THROUGH}{}", last.seq);
    let ended_here = stored.iter().any(|record| {
        record.action == "audit.export"
            && record.target.starts_with(EXPORT_TARGET)
            && record.target.ends_with(&through)
    });
    if !ended_here {
        problems.push(format!(
            "the export ends at record {}, where no export of the registry ended: its tail was truncated",
            last.seq
        ));
    }
    problems
}

/// The records of an export; a line that is no record is a problem, not an abort.
fn read_export(path: &PathBuf) -> anyhow::Result<(Vec<AuditRecord>, Vec<String>)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the audit export `{}`", path.display()))?;
    let mut records = Vec::new();
    let mut problems = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<AuditRecord>(line) {
            Ok(record) => records.push(record),
            Err(error) => {
                problems.push(format!("line {}: not an audit record: {error}", number + 1));
            }
        }
    }
    Ok((records, problems))
}

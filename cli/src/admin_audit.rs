//! `wharf admin audit export|verify`: the hash-chained audit log (docs/audit.md).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use wharf_storage::{AuditEntry, AuditRecord, read_audit_head, verify_audit_records};
use wharf_trust::UtcTime;

use crate::admin_licence::{ADMIN_ACTOR, DataDir};

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
    storage.audit_now(&AuditEntry::new(
        ADMIN_ACTOR,
        "local",
        "audit.export",
        format!(
            "{} records since {}",
            records.len(),
            args.since.as_deref().unwrap_or("the start")
        ),
        "ok",
    ))?;
    Ok(ExitCode::SUCCESS)
}

async fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let storage = args.data.open().await?;
    let head = read_audit_head(storage.data_dir())?;
    let (records, mut problems) = match &args.file {
        None => (storage.audit_records(None)?, Vec::new()),
        Some(path) => read_export(path)?,
    };
    let complete = records.first().is_none_or(|first| first.seq == 1);
    problems.extend(verify_audit_records(&records, head.as_ref(), complete));
    // An export that starts later (made with --since) must join the registry's chain.
    if let Some(first) = records.first().filter(|_| !complete) {
        let before = storage
            .audit_records(None)?
            .into_iter()
            .find(|record| record.seq + 1 == first.seq);
        if before.is_none_or(|before| before.hash != first.prev_hash) {
            problems.push(format!(
                "record {}: its `prev_hash` is not the hash of record {} in the registry's log",
                first.seq,
                first.seq - 1
            ));
        }
    }
    let source = args.file.as_ref().map_or_else(
        || "the registry's audit log".to_owned(),
        |p| format!("`{}`", p.display()),
    );
    storage.audit_now(&AuditEntry::new(
        ADMIN_ACTOR,
        "local",
        "audit.verify",
        source.clone(),
        if problems.is_empty() {
            "ok".to_owned()
        } else {
            format!("{} problems", problems.len())
        },
    ))?;
    if problems.is_empty() {
        println!(
            "{source}: {} records, chain intact{}",
            records.len(),
            head.map_or_else(String::new, |(seq, _)| format!(
                ", anchored head {seq} matches"
            ))
        );
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &problems {
        eprintln!("audit problem in {source}: {problem}");
    }
    Ok(ExitCode::from(1))
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

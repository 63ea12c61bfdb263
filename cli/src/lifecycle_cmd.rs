//! `wharf deprecate`, `wharf admin quarantine` and `wharf admin advisory publish`: the
//! lifecycle endpoints of a running registry (docs/lifecycle.md), over its web API.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use reqwest::Method;

use crate::registry_api::{RegistryApi, RegistryArgs};

/// `wharf deprecate`.
#[derive(Debug, Args)]
pub(crate) struct DeprecateArgs {
    /// The package.
    name: String,
    /// One version only [default: the whole package].
    version: Option<String>,
    /// Why, in one line; installers show it.
    #[arg(long, required_unless_present = "undo")]
    message: Option<String>,
    /// The package to use instead (`name` or `name@version`).
    #[arg(long, conflicts_with = "undo")]
    successor: Option<String>,
    /// Withdraw the deprecation instead.
    #[arg(long)]
    undo: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// The API path of a package's (or version's) `leaf` endpoint. Names and versions hold
/// no character a path needs to escape; anything that would is refused here.
fn package_path(name: &str, version: Option<&str>, leaf: &str) -> anyhow::Result<String> {
    for (what, value) in [("package name", Some(name)), ("version", version)] {
        if let Some(value) = value
            && !value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'))
        {
            anyhow::bail!(
                "`{value}` is not a {what}: use letters, digits, `-`, `_`, `.` or `+` only"
            );
        }
    }
    Ok(match version {
        Some(version) => format!("/api/wharf/v1/packages/{name}/{version}/{leaf}"),
        None => format!("/api/wharf/v1/packages/{name}/{leaf}"),
    })
}

/// Deprecates (or with `--undo` undeprecates) a package or version.
pub(crate) fn deprecate(args: &DeprecateArgs) -> anyhow::Result<ExitCode> {
    let api = RegistryApi::new(&args.registry)?;
    let path = package_path(&args.name, args.version.as_deref(), "deprecation")?;
    let what = match &args.version {
        Some(version) => format!("{}@{version}", args.name),
        None => args.name.clone(),
    };
    if args.undo {
        api.send(
            api.request(Method::DELETE, &path),
            &format!("withdrawing the deprecation of {what}"),
        )?;
        eprintln!("{what} is no longer deprecated");
    } else {
        let body = serde_json::json!({ "message": args.message, "successor": args.successor });
        api.send(
            api.request(Method::PUT, &path).json(&body),
            &format!("deprecating {what}"),
        )?;
        eprintln!("{what} is deprecated");
    }
    Ok(ExitCode::SUCCESS)
}

/// `wharf admin quarantine`.
#[derive(Debug, Args)]
pub(crate) struct QuarantineArgs {
    /// The package.
    name: String,
    /// The version.
    version: String,
    /// Why (logged in the audit trail and shown to whoever tries to download it).
    #[arg(long, required_unless_present = "release")]
    reason: Option<String>,
    /// Release the quarantine instead.
    #[arg(long, conflicts_with = "reason")]
    release: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// Quarantines (or with `--release` releases) a version.
pub(crate) fn quarantine(args: &QuarantineArgs) -> anyhow::Result<ExitCode> {
    let api = RegistryApi::new(&args.registry)?;
    let path = package_path(&args.name, Some(&args.version), "quarantine")?;
    let what = format!("{}@{}", args.name, args.version);
    if args.release {
        api.send(
            api.request(Method::DELETE, &path),
            &format!("releasing the quarantine of {what}"),
        )?;
        eprintln!("{what} is released from quarantine");
    } else {
        let body = serde_json::json!({ "reason": args.reason });
        api.send(
            api.request(Method::PUT, &path).json(&body),
            &format!("quarantining {what}"),
        )?;
        eprintln!("{what} is quarantined");
    }
    Ok(ExitCode::SUCCESS)
}

/// `wharf admin advisory …`.
#[derive(Debug, Subcommand)]
pub(crate) enum AdvisoryCommand {
    /// Publish a signed security advisory: installers refuse the affected versions.
    Publish(AdvisoryPublishArgs),
}

/// An advisory's severity.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum SeverityArg {
    Low,
    Medium,
    High,
    Critical,
}

/// `wharf admin advisory publish`.
#[derive(Debug, Args)]
pub(crate) struct AdvisoryPublishArgs {
    /// The advisory's id, e.g. `WHARF-2026-0001`.
    #[arg(long)]
    id: String,
    /// The affected package.
    #[arg(long)]
    package: String,
    /// An affected range, as a semver requirement (`>=1.0.0, <1.2.3`); repeat for more.
    #[arg(long = "affected", required = true, value_name = "RANGE")]
    affected: Vec<String>,
    /// How bad it is.
    #[arg(long, value_enum)]
    severity: SeverityArg,
    /// The first fixed version.
    #[arg(long)]
    fixed: Option<String>,
    /// What the issue is.
    #[arg(long)]
    description: String,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// Runs `wharf admin advisory …`.
pub(crate) fn advisory(command: &AdvisoryCommand) -> anyhow::Result<ExitCode> {
    let AdvisoryCommand::Publish(args) = command;
    let api = RegistryApi::new(&args.registry)?;
    let severity = match args.severity {
        SeverityArg::Low => "low",
        SeverityArg::Medium => "medium",
        SeverityArg::High => "high",
        SeverityArg::Critical => "critical",
    };
    let body = serde_json::json!({
        "id": args.id,
        "package": args.package,
        "affected": args.affected,
        "severity": severity,
        "fixed": args.fixed,
        "description": args.description,
    });
    let published = api
        .send(
            api.request(Method::POST, "/api/wharf/v1/advisories")
                .json(&body),
            &format!("publishing advisory {}", args.id),
        )
        .context("the advisory was not published")?;
    println!(
        "{}",
        serde_json::to_string(&published).context("printing the advisory")?
    );
    Ok(ExitCode::SUCCESS)
}

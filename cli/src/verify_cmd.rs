//! `wharf verify`: check a registry's index against its signed log from a pinned root key,
//! failing closed. Exit 0 when everything holds, 1 with one line per failure, 2 on a usage
//! error (an unreadable root key file, no state directory).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use wharf_client::ClientOptions;
use wharf_client::verify::{Selection, Verifier, VerifyOptions};
use wharf_trust::PublicKey;

use crate::resolve_cmd::Token;

/// Verify a registry's packages against its transparency log, from a pinned root key.
///
/// Checks the keyset chain from the root key, the timestamp (signature, expiry), the
/// checkpoint (consistency with the one kept from earlier runs), the snapshot of the index
/// files, the log's leaves and their signatures, and every line of the packages' index files
/// against its release leaf. Any failure exits with status 1, one line each.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("packages").required(true).args(["names", "all"])))]
pub(crate) struct VerifyArgs {
    /// The registry's sparse index, e.g. `sparse+https://registry.example/index/`.
    #[arg(long, value_name = "URL")]
    index_url: String,
    /// A file holding the registry's root public key (`wharf-ed25519:…`, as `wharf admin
    /// root-key export` prints it).
    #[arg(long, value_name = "FILE")]
    root_key: PathBuf,
    /// Where the newest verified checkpoint and timestamp are kept between runs (never a
    /// cache directory: losing it forgets what rollbacks to detect). Defaults to
    /// `$XDG_STATE_HOME/wharf/verify` or `~/.local/state/wharf/verify`.
    #[arg(long, env = "WHARF_VERIFY_STATE", value_name = "DIR")]
    state: Option<PathBuf>,
    /// Token sent as `Authorization` to a registry that requires authentication.
    #[arg(
        long,
        env = "WHARF_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    token: Option<Token>,
    /// A PEM file of CA certificates to trust for `https`, on top of the system's roots.
    #[arg(long, env = "WHARF_CA_CERT", value_name = "FILE")]
    ca_cert: Vec<PathBuf>,
    /// Packages to verify (with each line's inclusion proof).
    #[arg(value_name = "NAME")]
    names: Vec<String>,
    /// Verify every package the log has.
    #[arg(long)]
    all: bool,
    /// Also download each version's `.crate` and check its SHA-256.
    #[arg(long)]
    crates: bool,
    /// How far ahead of this machine's clock a timestamp may have been issued, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    clock_skew: u64,
    /// The longest one answer may take, in seconds (a stalling server fails the run).
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    timeout: u64,
    #[command(flatten)]
    overrides: Overrides,
}

/// Explicit overrides of checks; each one used is reported in the output.
#[derive(Debug, clap::Args)]
struct Overrides {
    /// Override: accept an expired timestamp (reported in the output).
    #[arg(long)]
    allow_expired: bool,
    /// Override: accept a checkpoint or timestamp older than the one kept (reported in the
    /// output; the kept state is left as it was).
    #[arg(long)]
    allow_rollback: bool,
}

/// The default state directory (also used by `wharf install --root-key`).
pub(crate) fn default_state_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state"))
        })?;
    Some(base.join("wharf").join("verify"))
}

/// Runs `wharf verify`.
pub(crate) fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.root_key).with_context(|| {
        format!(
            "cannot read the root key file `{}`",
            args.root_key.display()
        )
    })?;
    let root = PublicKey::parse(text.trim()).with_context(|| {
        format!(
            "`{}` is not a root public key: put the line `wharf admin root-key export` prints in it",
            args.root_key.display()
        )
    })?;
    let state = args.state.or_else(default_state_dir).context(
        "no state directory: pass `--state DIR` (neither XDG_STATE_HOME nor HOME is set)",
    )?;
    let options = VerifyOptions {
        client: ClientOptions {
            ca_certs: args.ca_cert,
            ..ClientOptions::default()
        },
        clock_skew: Duration::from_secs(args.clock_skew),
        timeout: Duration::from_secs(args.timeout.max(1)),
        allow_expired: args.overrides.allow_expired,
        allow_rollback: args.overrides.allow_rollback,
        check_crates: args.crates,
        now: None,
    };
    let verifier = Verifier::new(
        root,
        &args.index_url,
        args.token.map(|token| token.0),
        state,
        options,
    )?;
    let selection = if args.all {
        Selection::All
    } else {
        Selection::Packages(args.names)
    };
    let report = match verifier.verify(&selection) {
        Ok(report) => report,
        Err(error) => {
            println!("{error}");
            return Ok(ExitCode::FAILURE);
        }
    };
    for notice in &report.notices {
        println!("note: {notice}");
    }
    for line in &report.overrides {
        println!("override: {line}");
    }
    for failure in &report.failures {
        println!("{failure}");
    }
    if report.passed() {
        println!(
            "verified {} packages ({} versions) against the log of {} leaves",
            report.packages, report.versions, report.tree_size
        );
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::FAILURE)
    }
}

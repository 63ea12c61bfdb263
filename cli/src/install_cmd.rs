//! `wharf install`, `wharf update`, `wharf remove` and `wharf list`: the plugin installer
//! (`wharf_client::install`) on the command line.
//!
//! Every refusal prints one line `error[CODE]: …` (a resolver explanation follows it on the
//! next lines) and exits with the code of `InstallError::exit_code`; the codes are listed in
//! docs/install.md.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use wharf_client::ClientOptions;
use wharf_client::install::{
    InstallError, InstallProgress, InstallReport, Installer, PackageRequest, list,
};
use wharf_resolver::Version;
use wharf_trust::PublicKey;

use crate::install_report::{self, ReportChoice, ReportTarget};
use crate::resolve_cmd::Token;

/// Where and how to install; shared by `install`, `update` and `remove`.
#[derive(Debug, clap::Args)]
pub(crate) struct InstallDirArgs {
    /// The install directory (created by the first install).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// The registry's sparse index (`sparse+https://host/index/`); required by the first
    /// install into DIR, remembered in `DIR/wharf-install.toml` after.
    #[arg(long, value_name = "URL")]
    index_url: Option<String>,
    /// The host API version this host provides; required by the first install, remembered
    /// after (giving another one moves the install to it).
    #[arg(long, value_name = "VERSION")]
    host_api: Option<Version>,
    /// The host API package's name [default: host-api, or what DIR remembers].
    #[arg(long, value_name = "NAME")]
    host_api_name: Option<String>,
    /// A public key file of the registry's root, to verify release signatures with.
    #[arg(long, value_name = "FILE")]
    root_key: Option<PathBuf>,
    /// Token sent as `Authorization` to a registry that requires authentication.
    #[arg(
        long,
        env = "WHARF_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    token: Option<Token>,
    /// A licence file for premium packages (`wharf admin licence issue` writes one),
    /// checked before each premium download and presented with it; remembered in DIR.
    #[arg(long, value_name = "FILE")]
    licence: Option<PathBuf>,
    /// A PEM file of extra CA certificates to trust for `https` (repeatable).
    #[arg(long, env = "WHARF_CA_CERT", value_name = "FILE")]
    ca_cert: Vec<PathBuf>,
    /// How often a request that failed in a way that may pass is sent again.
    #[arg(long, value_name = "N", env = "WHARF_NET_RETRY", default_value_t = ClientOptions::DEFAULT_RETRIES)]
    retries: u32,
    /// Give up on (and retry) a request that receives nothing for this long (`30s`, `2m`),
    /// as cargo's `http.timeout`.
    #[arg(long, value_name = "DURATION", env = "WHARF_STALL_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    stall_timeout: Duration,
    /// Archives downloaded at once.
    #[arg(long, value_name = "N", default_value_t = Installer::DEFAULT_DOWNLOAD_THREADS)]
    jobs: usize,
    /// Wait for another run working in DIR to finish instead of refusing (`dir-locked`).
    #[arg(long)]
    wait: bool,
    /// After each successful run, report the installed set to the registry for its
    /// recommendations (anonymous: a random id kept in DIR/.wharf/report-id); remembered
    /// for DIR.
    #[arg(long, conflicts_with = "no_report_installs")]
    report_installs: bool,
    /// Stop reporting installs from DIR (deletes DIR/.wharf/report-id).
    #[arg(long)]
    no_report_installs: bool,
    /// Install versions under this security advisory anyway (repeatable); any other
    /// advisory affecting a chosen version refuses the run (`advisory`).
    #[arg(long = "allow-advisory", value_name = "ID")]
    allow_advisory: Vec<String>,
}

/// `wharf install NAME[@REQ]...`.
#[derive(Debug, clap::Args)]
pub(crate) struct InstallArgs {
    /// Packages to install: `NAME` (newest that fits) or `NAME@REQ` (a cargo requirement,
    /// e.g. `greeter@1.2`, `greeter@=1.2.3`).
    #[arg(value_name = "NAME[@REQ]", required = true)]
    packages: Vec<String>,
    /// Install exactly what `DIR/wharf.lock` says, or refuse (`lock-mismatch`).
    #[arg(long)]
    locked: bool,
    #[command(flatten)]
    dir: InstallDirArgs,
}

/// `wharf update [NAME...]`.
#[derive(Debug, clap::Args)]
pub(crate) struct UpdateArgs {
    /// Installed packages to move to their newest fitting versions [default: all].
    #[arg(value_name = "NAME")]
    packages: Vec<String>,
    #[command(flatten)]
    dir: InstallDirArgs,
}

/// `wharf remove NAME...`.
#[derive(Debug, clap::Args)]
pub(crate) struct RemoveArgs {
    /// Requested packages to remove (what only they needed goes too).
    #[arg(value_name = "NAME", required = true)]
    packages: Vec<String>,
    #[command(flatten)]
    dir: InstallDirArgs,
}

/// `wharf list`.
#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// The install directory.
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Check the installed packages against the registry's signed lifecycle feed: print
    /// each one under a security advisory, quarantined or deprecated, and exit 1 when any
    /// is under an advisory or quarantined.
    #[arg(long)]
    audit: bool,
    /// Token sent as `Authorization` to a registry that requires authentication.
    #[arg(
        long,
        env = "WHARF_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    token: Option<Token>,
    /// A PEM file of extra CA certificates to trust for `https` (repeatable).
    #[arg(long, env = "WHARF_CA_CERT", value_name = "FILE")]
    ca_cert: Vec<PathBuf>,
}

/// Runs `wharf install`.
pub(crate) fn install(args: &InstallArgs) -> ExitCode {
    finish(
        &args.dir,
        args.packages
            .iter()
            .map(|text| text.parse::<PackageRequest>())
            .collect::<Result<Vec<_>, _>>()
            .and_then(|requests| installer(&args.dir)?.locked(args.locked).install(&requests)),
    )
}

/// Runs `wharf update`.
pub(crate) fn update(args: &UpdateArgs) -> ExitCode {
    finish(
        &args.dir,
        installer(&args.dir).and_then(|installer| installer.update(&args.packages)),
    )
}

/// Runs `wharf remove`.
pub(crate) fn remove(args: &RemoveArgs) -> ExitCode {
    finish(
        &args.dir,
        installer(&args.dir).and_then(|installer| installer.remove(&args.packages)),
    )
}

/// Runs `wharf list`: `name version` per installed package, ` (requested REQ)` after the
/// ones asked for.
pub(crate) fn list_installed(args: &ListArgs) -> ExitCode {
    let dir = wharf_client::install::InstallDir::new(&args.dir);
    match list(&dir) {
        Ok(packages) if args.audit => audit_installed(args, &dir, &packages),
        Ok(packages) => {
            for package in packages {
                match &package.requested {
                    Some(req) => println!("{} {} (requested {req})", package.name, package.version),
                    None => println!("{} {}", package.name, package.version),
                }
            }
            ExitCode::SUCCESS
        }
        Err(error) => refused(&error),
    }
}

/// `wharf list --audit`: one line per finding, exit 1 when any blocks.
fn audit_installed(
    args: &ListArgs,
    dir: &wharf_client::install::InstallDir,
    packages: &[wharf_client::install::InstalledPackage],
) -> ExitCode {
    let config = match wharf_client::install::InstallConfig::read(&dir.config_path()) {
        Ok(Some(config)) => config,
        Ok(None) => {
            println!("nothing is installed in `{}`", args.dir.display());
            return ExitCode::SUCCESS;
        }
        Err(error) => return refused(&error),
    };
    let options = ClientOptions {
        ca_certs: args.ca_cert.clone(),
        ..ClientOptions::default()
    };
    let token = args.token.clone().map(Token::into_inner);
    match wharf_client::install::audit(packages, &config, token, &options) {
        Ok(findings) => {
            let blocking = findings.iter().filter(|f| f.is_blocking()).count();
            for finding in &findings {
                let label = if finding.is_blocking() {
                    "VULNERABLE"
                } else {
                    "deprecated"
                };
                println!("{label}: {finding}");
            }
            println!(
                "{} package(s) checked, {blocking} under an advisory or quarantined, {} deprecated",
                packages.len(),
                findings.len() - blocking
            );
            if blocking > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(error) => refused(&error),
    }
}

fn installer(args: &InstallDirArgs) -> Result<Installer, InstallError> {
    let mut installer = Installer::new(&args.dir)
        .token(args.token.clone().map(Token::into_inner))
        .client_options(ClientOptions {
            ca_certs: args.ca_cert.clone(),
            retries: args.retries,
            stall_timeout: args.stall_timeout,
            ..ClientOptions::default()
        })
        .download_threads(args.jobs)
        .wait_for_lock(args.wait)
        .allow_advisories(args.allow_advisory.iter().cloned())
        .progress(Arc::new(Bars::default()))
        .pause_before_switch(
            std::env::var_os("WHARF_INSTALL_PAUSE_BEFORE_SWITCH").map(PathBuf::from),
        );
    if let Some(url) = &args.index_url {
        installer = installer.index_url(url.clone());
    }
    if let Some(version) = &args.host_api {
        installer = installer.host_api(version.clone());
    }
    if let Some(name) = &args.host_api_name {
        installer = installer.host_api_name(name.clone());
    }
    if let Some(path) = &args.root_key {
        installer = installer.root_key(Some(read_root_key(path)?));
    }
    if let Some(path) = &args.licence {
        installer = installer.licence_file(Some(path.clone()));
    }
    Ok(installer)
}

/// Reads the registry's root public key that `--root-key` names (the line `wharf admin
/// root-key export` prints).
pub(crate) fn read_root_key(path: &Path) -> Result<PublicKey, InstallError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        InstallError::InvalidRequest(format!(
            "cannot read the root key file `{}`: {e}; give the file `wharf admin root-key \
             export` wrote",
            path.display()
        ))
    })?;
    PublicKey::parse(text.trim()).map_err(|e| {
        InstallError::InvalidRequest(format!(
            "`{}` is not a Wharf root public key: {e}; give the line `wharf admin root-key \
             export` prints",
            path.display()
        ))
    })
}

fn finish(args: &InstallDirArgs, outcome: Result<InstallReport, InstallError>) -> ExitCode {
    let dir = &args.dir;
    match outcome {
        Ok(report) => {
            for notice in &report.notices {
                eprintln!("warning: {notice}");
            }
            let changes = report.changes.to_string();
            print!("{changes}");
            println!(
                "{} package(s) in use in `{}`",
                report.installed.len(),
                dir.display()
            );
            let token = args.token.clone().map(Token::into_inner);
            install_report::after_success(
                dir,
                ReportChoice {
                    opt_in: args.report_installs,
                    opt_out: args.no_report_installs,
                },
                &report.installed,
                &ReportTarget {
                    token: token.as_deref(),
                    ca_certs: &args.ca_cert,
                },
            );
            ExitCode::SUCCESS
        }
        Err(error) => refused(&error),
    }
}

fn refused(error: &InstallError) -> ExitCode {
    eprintln!("error[{}]: {error}", error.code());
    ExitCode::from(error.exit_code())
}

/// Progress bars on stderr (drawn only on a terminal).
#[derive(Debug, Default)]
struct Bars {
    bar: std::sync::OnceLock<ProgressBar>,
}

impl InstallProgress for Bars {
    fn fetching(&self, count: usize) {
        let bar = ProgressBar::new(u64::try_from(count).unwrap_or(u64::MAX));
        bar.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix("Fetching");
        let _ = self.bar.set(bar);
    }

    fn fetched(&self, name: &str, version: &str, _bytes: usize, _from_cache: bool) {
        if let Some(bar) = self.bar.get() {
            bar.set_message(format!("{name} {version}"));
            bar.inc(1);
            if bar.position() == bar.length().unwrap_or(0) {
                bar.finish_and_clear();
            }
        }
    }
}

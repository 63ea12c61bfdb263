//! `wharf template new`: resolve a solution template, install it and the plugins it uses
//! through the plugin installer (verified as `wharf install` verifies), and render its files
//! into a new folder.
//!
//! Nothing is written before everything is known to work: the template is installed into a
//! temporary install directory beside the target, its values are checked and its files are
//! rendered in memory, and only then are the files written and the install directory moved
//! to `DIR/plugins`. Staging folders that killed runs left beside the target are removed
//! first (see [`staging`]).

mod source;
mod staging;
mod write;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use wharf_client::ClientOptions;
use wharf_client::install::{Installer, PackageRequest};
use wharf_resolver::Version;

use crate::install_cmd::read_root_key;
use crate::resolve_cmd::Token;

/// The folder under the target that holds the installed plugins (an install directory
/// `wharf install --dir` and `wharf list --dir` work on).
pub(crate) const PLUGINS_DIR: &str = "plugins";

/// The template commands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum TemplateCommand {
    /// Render a solution template into a new folder, installing the plugins it uses.
    New(NewArgs),
}

/// `wharf template new NAME[@REQ] --dir DIR [--set KEY=VALUE]...`.
#[derive(Debug, clap::Args)]
pub(crate) struct NewArgs {
    /// The template: `NAME` (newest that fits the host API) or `NAME@REQ`.
    #[arg(value_name = "NAME[@REQ]")]
    template: String,
    /// The folder to render into; it must not exist or be empty (see `--force`). The plugins
    /// go to `DIR/plugins`.
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// A parameter's value (repeatable), checked against the template's parameter spec.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// The host API version the plugins must run on.
    #[arg(long, value_name = "VERSION")]
    host_api: Version,
    /// The registry's sparse index (`sparse+https://host/index/`).
    #[arg(long, value_name = "URL")]
    index_url: String,
    /// A public key file of the registry's root: every package is checked against the
    /// registry's signed log, as `wharf install --root-key` does.
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
    /// A PEM file of extra CA certificates to trust for `https` (repeatable).
    #[arg(long, env = "WHARF_CA_CERT", value_name = "FILE")]
    ca_cert: Vec<PathBuf>,
    /// Render into a folder that is not empty, replacing files the template writes.
    #[arg(long)]
    force: bool,
}

/// Runs a `wharf template` command.
pub(crate) fn run(command: TemplateCommand) -> anyhow::Result<ExitCode> {
    match command {
        TemplateCommand::New(args) => new(&args),
    }
}

fn new(args: &NewArgs) -> anyhow::Result<ExitCode> {
    let request: PackageRequest = args.template.parse()?;
    let given = parse_sets(&args.set)?;
    let dir = &args.dir;
    write::check_target(dir, args.force)?;
    let plugins_dir = dir.join(PLUGINS_DIR);
    if std::fs::symlink_metadata(&plugins_dir).is_ok() {
        bail!(
            "`{}` already exists; render into a folder without a `{PLUGINS_DIR}` folder",
            plugins_dir.display()
        );
    }
    // The install happens beside DIR (the same file system), so it can be moved in at the end.
    let parent = match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create `{}`", parent.display()))?;
    let stale = staging::remove_stale(&parent);
    let staging = staging::Staging::create(&parent)?;
    let install_dir = staging.path().join(PLUGINS_DIR);
    let report = installer(args, &install_dir)?
        .install(std::slice::from_ref(&request))
        .map_err(|e| anyhow::anyhow!("cannot install `{}`: {e}", args.template))?;
    let template = source::InstalledTemplate::read(&report.set_dir, &report.installed, &request)?;
    let spec = template.spec()?;
    let values = spec
        .values(&given)
        .map_err(|e| anyhow::anyhow!("{} {}: {e}", template.name, template.version))?;
    let files = template.files_for_render();
    let rendered = spec
        .render(&files, &values)
        .map_err(|e| anyhow::anyhow!("{} {}: {e}", template.name, template.version))?;
    let written = write::write_rendered(dir, &rendered)?;
    std::fs::rename(&install_dir, &plugins_dir).with_context(|| {
        format!(
            "cannot move the installed plugins to `{}`",
            plugins_dir.display()
        )
    })?;
    println!(
        "Rendered {} {} into `{}`",
        template.name,
        template.version,
        dir.display()
    );
    for path in &written {
        println!("  wrote {path}");
    }
    for package in report.installed.iter().filter(|p| p.name != template.name) {
        println!(
            "  installed {} {} in `{}`",
            package.name,
            package.version,
            plugins_dir.display()
        );
    }
    for folder in &stale {
        println!(
            "  removed `{}`, left by an interrupted run",
            folder.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `KEY=VALUE` pairs; a pair without `=` is refused naming it.
fn parse_sets(sets: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    sets.iter()
        .map(|set| match set.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
            _ => bail!("`--set {set}`: write `--set KEY=VALUE`, e.g. `--set port=8080`"),
        })
        .collect()
}

fn installer(args: &NewArgs, install_dir: &Path) -> anyhow::Result<Installer> {
    let mut installer = Installer::new(install_dir)
        .index_url(args.index_url.clone())
        .host_api(args.host_api.clone())
        .token(args.token.clone().map(Token::into_inner))
        .client_options(ClientOptions {
            ca_certs: args.ca_cert.clone(),
            ..ClientOptions::default()
        })
        // As for `wharf install`: a marker file to pause at, so a run can be stopped there.
        .pause_before_switch(
            std::env::var_os("WHARF_INSTALL_PAUSE_BEFORE_SWITCH").map(PathBuf::from),
        );
    if let Some(path) = &args.root_key {
        installer = installer.root_key(Some(read_root_key(path)?));
    }
    Ok(installer)
}

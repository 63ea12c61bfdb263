//! The `wharf` binary: the composition root of the registry.
//!
//! Exit codes: 0 success, 1 a command ran and reports failure (e.g. no resolution), 2 usage or
//! runtime error; `install`, `update`, `remove` and `list` add 3 to 6 (docs/install.md).

mod admin;
mod admin_audit;
mod admin_keyset;
mod admin_licence;
mod admin_review;
mod admin_webhooks;
mod backup_cmd;
mod blob_storage;
mod bundle;
mod closure;
mod connection_keys;
mod entitlement_info;
mod install_cmd;
mod install_report;
mod keys_cmd;
mod lifecycle_cmd;
mod listen;
mod mirror;
mod open_registry;
mod operator_docs;
mod plan;
mod plugin_cmd;
mod publish;
mod registry_api;
mod resolve_cmd;
mod role_cmd;
mod serve;
mod serve_mirror;
mod serve_tenants;
mod serve_tls;
mod settings;
mod team_cmd;
mod template_cmd;
mod tenant;
mod tenant_nodes;
mod tenant_table;
mod token;
mod verify_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of the system allocator: `wharf resolve` allocates and frees many small
/// values (catalogs, feature tables, PubGrub's terms), where glibc's malloc took 14 % of
/// the instructions of a 730-package resolve (docs/benchmark-history.md §15).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The version `wharf --version` prints: the crate's version and the commit it was built from
/// (`cli/build.rs`).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("WHARF_COMMIT"),
    ")"
);

/// Wharf: a Cargo-compatible registry for plugins and solution templates.
#[derive(Debug, Parser)]
#[command(
    name = "wharf",
    version = VERSION,
    about = "Wharf: a Cargo-compatible registry for plugins and solution templates.",
    long_about = None
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the registry server (SQLite + local files under ./wharf-data by default).
    Serve(serve::ServeArgs),
    /// Create, list and revoke API tokens (works while a server runs on the same data).
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Create, list, suspend and resume tenants: registries of their own under `/t/NAME/`.
    #[command(subcommand)]
    Tenant(tenant::TenantCommand),
    /// Maintenance commands for operators.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Teams of users that own packages together (`cargo owner --add team:NAME`).
    #[command(subcommand)]
    Team(team_cmd::TeamCommand),
    /// Copy a Wharf registry (index and blobs) into a directory a static server can serve.
    #[command(subcommand)]
    Mirror(mirror::MirrorCommand),
    /// Carry a registry's packages across an air gap in one signed, verifiable file.
    #[command(subcommand)]
    Bundle(bundle::BundleCommand),
    /// Publisher keys: make one, register it to your account, list and revoke them.
    #[command(subcommand)]
    Keys(keys_cmd::KeysCommand),
    /// Deprecate a package or version (message, optional successor), or withdraw it with --undo.
    Deprecate(lifecycle_cmd::DeprecateArgs),
    /// Publish a crate (through `cargo package`) or a plugin folder with a signed release statement.
    Publish(publish::PublishArgs),
    /// Plugin author tools: scaffold, check, pack and publish a plugin or template.
    #[command(subcommand)]
    Plugin(plugin_cmd::PluginCommand),
    /// Solution templates: render one into a new folder with the plugins it uses.
    #[command(subcommand)]
    Template(template_cmd::TemplateCommand),
    /// Resolve a Cargo.toml (or a plugin set against a host API) from a sparse index tree or URL.
    Resolve(resolve_cmd::ResolveArgs),
    /// Verify a registry's packages against its signed transparency log, from a pinned root key.
    Verify(verify_cmd::VerifyArgs),
    /// Install plugins into a directory, resolved against the host's API (docs/install.md).
    Install(install_cmd::InstallArgs),
    /// Move installed plugins to the newest versions that fit.
    Update(install_cmd::UpdateArgs),
    /// Remove installed plugins.
    Remove(install_cmd::RemoveArgs),
    /// List the plugins installed in a directory.
    List(install_cmd::ListArgs),
    /// Print a shell completion script (bash, elvish, fish, powershell, zsh) on stdout.
    Completions(operator_docs::CompletionsArgs),
    /// Print the manual page wharf(1), or write every page with --out DIR.
    Man(operator_docs::ManArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server logs its life at `info`; one-shot commands only warn, so their output stays clean.
    init_tracing(if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    });
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Token(command) => token::run(command),
        Command::Tenant(command) => tenant::run(command),
        Command::Admin(command) => admin::run(command),
        Command::Team(command) => team_cmd::run(command),
        Command::Keys(command) => keys_cmd::run(command),
        Command::Publish(args) => publish::run(&args),
        Command::Deprecate(args) => lifecycle_cmd::deprecate(&args),
        Command::Resolve(args) => resolve_cmd::run(&args),
        Command::Mirror(command) => mirror::run(command),
        Command::Bundle(command) => bundle::run(command),
        Command::Verify(args) => verify_cmd::run(args),
        Command::Plugin(command) => plugin_cmd::run(command),
        Command::Template(command) => template_cmd::run(command),
        Command::Install(args) => Ok(install_cmd::install(&args)),
        Command::Update(args) => Ok(install_cmd::update(&args)),
        Command::Remove(args) => Ok(install_cmd::remove(&args)),
        Command::List(args) => Ok(install_cmd::list_installed(&args)),
        Command::Completions(args) => operator_docs::completions(&args),
        Command::Man(args) => operator_docs::man(&args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            if error.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", one_line(&error));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, `outer: cause: …`, each cause only when its text is
/// not already in the line: many errors embed their source's text in their own message (`I/O
/// error: {0}`) and also return it as their source, so anyhow's `{:#}` would print the OS text
/// twice.
pub(crate) fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        let text = text.trim();
        if text.is_empty() || line.contains(text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(text);
    }
    line
}

/// Logs go to stderr, coloured only on a terminal; `RUST_LOG` overrides the default level
/// of Wharf's crates.
fn init_tracing(level: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "warn,wharf={level},wharf_registry_server={level},wharf_storage={level},wharf_git_index={level},wharf_resolver={level}"
        ))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

#[cfg(test)]
mod tests {
    use anyhow::Context as _;

    use super::one_line;

    #[test]
    fn a_source_embedded_in_its_error_is_printed_once() {
        let io = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let os_text = io.to_string();
        let error = Err::<(), _>(wharf_storage::StorageError::Io(io))
            .context("cannot open the registry in `data`")
            .unwrap_err();
        let line = one_line(&error);
        assert_eq!(
            line,
            format!("cannot open the registry in `data`: I/O error: {os_text}")
        );
        assert_eq!(line.matches(&os_text).count(), 1, "{line}");
    }

    #[test]
    fn causes_that_add_information_are_kept() {
        let error = Err::<(), _>(std::io::Error::from(std::io::ErrorKind::NotFound))
            .context("reading `a.toml`")
            .context("loading settings")
            .unwrap_err();
        let line = one_line(&error);
        assert!(
            line.starts_with("loading settings: reading `a.toml`: "),
            "{line}"
        );
    }
}

//! `wharf resolve`: resolve a manifest against a local sparse-index tree.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use wharf_resolver::{
    HostPin, LocalIndex, Lockfile, ResolveError, ResolveOptions, RootManifest, Version, resolve,
};

/// Output formats of `wharf resolve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ResolveFormat {
    /// `{"packages":[{"name":…,"version":…,"features":[…]},…]}`, root excluded.
    Json,
    /// A Cargo.lock v4.
    CargoLock,
    /// A `wharf.lock` (plugin install set).
    WharfLock,
}

/// Resolve a manifest's dependencies the way `cargo generate-lockfile` does, or as a plugin
/// install set when `--host-api` is given.
#[derive(Debug, clap::Args)]
pub(crate) struct ResolveArgs {
    /// Sparse-index directory tree (cargo layout).
    #[arg(long)]
    index_dir: PathBuf,
    /// The root `Cargo.toml`.
    #[arg(long)]
    manifest: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "json")]
    format: ResolveFormat,
    /// An existing Cargo.lock or wharf.lock whose versions are kept when they still fit.
    #[arg(long)]
    lock: Option<PathBuf>,
    /// Plugin mode: the host API version this host provides (pinned exactly).
    #[arg(long)]
    host_api: Option<Version>,
    /// Name of the host API package.
    #[arg(long, default_value = HostPin::DEFAULT_NAME)]
    host_api_name: String,
    /// Prefer versions whose `rust-version` this toolchain version satisfies.
    #[arg(long)]
    rust_version: Option<Version>,
    /// Source id written into Cargo.lock entries.
    #[arg(
        long,
        default_value = "registry+https://github.com/rust-lang/crates.io-index"
    )]
    source_id: String,
}

/// Runs `wharf resolve`; exit code 1 with the explanation on stderr when nothing fits.
pub(crate) fn run(args: &ResolveArgs) -> anyhow::Result<ExitCode> {
    let root = RootManifest::from_path(&args.manifest)?;
    let lock = args
        .lock
        .as_deref()
        .map(Lockfile::from_path)
        .transpose()
        .context("reading the lockfile")?;
    let options = ResolveOptions {
        rust_version: args.rust_version.clone(),
        lock,
        host_api: args.host_api.clone().map(|version| HostPin {
            name: args.host_api_name.clone(),
            version,
        }),
        unlock: Vec::new(),
    };
    let index = LocalIndex::new(&args.index_dir);
    match resolve(&index, &root, &options) {
        Ok(resolution) => {
            let text = match args.format {
                ResolveFormat::Json => resolution.to_json() + "\n",
                ResolveFormat::CargoLock => resolution.to_cargo_lock(&root, &args.source_id),
                ResolveFormat::WharfLock => resolution.to_wharf_lock(),
            };
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Err(error @ (ResolveError::NoSolution(_) | ResolveError::Cycle { .. })) => {
            eprint!("error: {error}");
            if !error.to_string().ends_with('\n') {
                eprintln!();
            }
            Ok(ExitCode::from(1))
        }
        Err(other) => Err(other.into()),
    }
}

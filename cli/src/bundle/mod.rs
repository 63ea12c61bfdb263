//! `wharf bundle …`: verifiable bundles that carry a registry's packages across an air gap
//! (docs/bundles.md). `export` records and verifies a registry and signs one file; `import`
//! verifies a bundle offline and switches a served copy to it, as `mirror sync` does;
//! `unpack` verifies it and writes a cargo `local-registry` directory.

mod export;
mod format;
mod import;
mod local_registry;
mod loopback;
mod open;
mod premium;
mod served;
mod snapshot;
mod source;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use wharf_trust::PublicKey;

/// `wharf bundle …`.
#[derive(Debug, Subcommand)]
pub(crate) enum BundleCommand {
    /// Verify a registry from a pinned root key and write its chosen packages, their blobs and
    /// the trust material into one signed file.
    Export(Box<ExportArgs>),
    /// Verify a bundle offline and switch `<DIR>/current` to a copy of it.
    Import(ImportArgs),
    /// Verify a bundle offline and write it as a cargo `local-registry` directory.
    Unpack(UnpackArgs),
}

/// `wharf bundle export`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("choice").required(true).args(["all", "roots", "lockfile"])))]
#[command(group(clap::ArgGroup::new("source").required(true).args(["from", "data"])))]
pub(crate) struct ExportArgs {
    /// The registry's sparse index URL (`sparse+https://registry.example/index/`).
    #[arg(long, value_name = "URL")]
    from: Option<String>,
    /// A registry's data directory (`wharf serve --data`), read in this process: no server
    /// needs to run, and nothing in it changes. Blobs come from its own store (disk or bucket).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// With `--data`: the URL cargo reaches the registry at (`wharf serve --public-url`),
    /// which its `config.json` names.
    #[arg(long, value_name = "URL", requires = "data")]
    public_url: Option<String>,
    /// What to write: a signed bundle file, or a cargo `local-registry` directory.
    #[arg(long, value_enum, default_value = "bundle")]
    format: ExportFormat,
    /// The bundle file to write (with `--format local-registry`: the directory, new or empty).
    #[arg(long, value_name = "PATH")]
    out: PathBuf,
    /// The exporter's key file (`wharf keys new --out FILE`), which signs the MANIFEST
    /// (needed for `--format bundle`).
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// The environment variable holding the key file's passphrase, when it is encrypted.
    #[arg(long, value_name = "VAR")]
    passphrase_env: Option<String>,
    /// The registry's root public key (`wharf admin root-key export`): the registry is
    /// verified before anything is signed.
    #[arg(long, value_name = "FILE")]
    root_key: PathBuf,
    /// Every package of the registry.
    #[arg(long)]
    all: bool,
    /// These packages (`NAME` or `NAME@REQ`): every matching version and, transitively, every
    /// matching version of their dependencies from the same registry.
    #[arg(long, value_name = "NAME[@REQ]", num_args = 1..)]
    roots: Vec<String>,
    /// With `--roots`: the host API version plugins must fit; versions whose requirement on
    /// the host API package excludes it are left out.
    #[arg(long, value_name = "VERSION", requires = "roots")]
    host_api: Option<semver::Version>,
    /// The host API package's name.
    #[arg(long, value_name = "NAME", default_value = wharf_resolver::HostPin::DEFAULT_NAME)]
    host_api_name: String,
    /// Exactly the registry versions a `Cargo.lock` pins.
    #[arg(long, value_name = "FILE")]
    lockfile: Option<PathBuf>,
    /// An earlier bundle: blobs it carried are left out, and import requires it first.
    #[arg(long, value_name = "FILE")]
    since: Option<PathBuf>,
    /// With `--format local-registry`: write premium packages too (a local registry checks
    /// no licence).
    #[arg(long)]
    include_premium: bool,
    /// With `--from`: a licence file presented with each premium download (`--data` reads
    /// the blob store itself).
    #[arg(long, value_name = "FILE", requires = "from")]
    licence: Option<PathBuf>,
    /// A token for a registry that requires one (`read` scope).
    #[arg(
        long,
        env = "WHARF_BUNDLE_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
}

/// What `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ExportFormat {
    /// One signed bundle file (tar + zstd) for `import` or `unpack`.
    Bundle,
    /// A cargo `local-registry` directory, read by cargo with no Wharf at all.
    LocalRegistry,
}

/// The keys every verifying command pins.
#[derive(Debug, Args)]
pub(crate) struct PinnedKeys {
    /// The exporter's public key: a line `wharf keys new` printed, or its key file.
    #[arg(long, value_name = "FILE")]
    trust: PathBuf,
    /// The registry's root public key (`wharf admin root-key export`).
    #[arg(long, value_name = "FILE")]
    root_key: PathBuf,
}

/// `wharf bundle import`.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The bundle file.
    file: PathBuf,
    /// The served directory; the copy is `<DIR>/current`.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    #[command(flatten)]
    keys: PinnedKeys,
    /// Accept a bundle whose log is older than the one `<DIR>` holds (printed as an override).
    #[arg(long)]
    allow_rollback: bool,
}

/// What `unpack` writes.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum UnpackFormat {
    /// A cargo `local-registry` directory.
    LocalRegistry,
}

/// `wharf bundle unpack`.
#[derive(Debug, Args)]
pub(crate) struct UnpackArgs {
    /// The bundle file.
    file: PathBuf,
    #[command(flatten)]
    keys: PinnedKeys,
    /// The layout to write.
    #[arg(long, value_enum, default_value = "local-registry")]
    format: UnpackFormat,
    /// The directory to write (created; must be empty when it exists).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Write premium packages too (a local registry checks no licence).
    #[arg(long)]
    include_premium: bool,
}

/// Runs a bundle subcommand. Import and unpack refusals exit 1 with one line.
pub(crate) fn run(command: BundleCommand) -> anyhow::Result<ExitCode> {
    let refused = match command {
        BundleCommand::Export(args) => return export::run(&args),
        BundleCommand::Import(args) => import::import(&args),
        BundleCommand::Unpack(args) => import::unpack(&args),
    };
    match refused {
        Ok(code) => Ok(code),
        Err(error) => {
            eprintln!("error: {}", crate::one_line(&error));
            Ok(ExitCode::FAILURE)
        }
    }
}

/// A public key from a file holding its line, or from a key file.
pub(crate) fn load_public_key(path: &Path, what: &str) -> anyhow::Result<PublicKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the {what} key file `{}`", path.display()))?;
    PublicKey::parse(text.trim())
        .or_else(|_| wharf_trust::key_file_public_key(&text))
        .with_context(|| {
            format!(
                "`{}` is not a {what} public key: put the `public key:` line wharf printed in it",
                path.display()
            )
        })
}

/// `(origin, index path)` of an index URL: `http://host:port` and `/index/`.
pub(crate) fn origin_of(index: &str) -> Option<(String, String)> {
    let url = reqwest::Url::parse(index).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let origin = url.origin().ascii_serialization();
    let mut path = url.path().to_owned();
    if !path.ends_with('/') {
        path.push('/');
    }
    Some((origin, path))
}

/// An earlier bundle's manifest and its hash (for `--since`).
pub(crate) fn previous_bundle(path: &Path) -> anyhow::Result<(String, format::Manifest)> {
    let members = format::read_bundle(path)?;
    let bytes = members.get(format::MANIFEST).with_context(|| {
        format!(
            "`{}` has no MANIFEST: it is not a Wharf bundle",
            path.display()
        )
    })?;
    let manifest = format::Manifest::parse(&String::from_utf8_lossy(bytes))
        .with_context(|| format!("the MANIFEST of `{}` cannot be read", path.display()))?;
    Ok((format::sha256_hex(bytes), manifest))
}

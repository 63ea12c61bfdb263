//! `wharf mirror sync`: copies a registry's sparse index and every blob it names into a
//! directory that `wharf serve --data DIR` (or any static file server) serves as a sparse
//! registry. Packages are listed from the upstream's snapshot bins (`/index/.wharf/bins/NN`)
//! or chosen by `--roots`/`--lockfile`; each file is checked against the hash its bin gives,
//! and every blob against its `cksum`; a version whose blob is missing or wrong is left out
//! and named, and the command then exits 1. The copy is built in a staging directory and
//! switched in at once: `<dir>/current` is a symbolic link replaced by a rename. Blobs live
//! in one store shared by all copies (`copy.rs`); the copy served before the current one is
//! kept as a spare and brought up to date by the next sync, writing only the files that
//! differ (`spare.rs`); without one, a sync takes unchanged index files from the previous
//! copy by hard link (`file.rs`, `state.rs`). A sync fetches only the bins
//! that changed (`bins.rs`), asking the upstream only for what changed. All requests run on
//! one thread (an async client on a single-threaded runtime).

mod bins;
mod copy;
mod file;
mod followed;
mod git_source;
mod line;
mod premium;
mod run;
mod select;
mod signed;
mod spare;
mod state;
mod trust;
mod upstream;

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use wharf_index_format::{RegistryConfig, index_path};

pub(crate) use bins::{Bins, write_listing};
pub(crate) use copy::{remove_stale_copies, switch_current};
pub(crate) use file::ORIGIN_DIR;
use file::{Listed, Synced, sha256_hex};
use futures::StreamExt as _;
use git_source::GitIndexTree;
use select::{Chosen, Include};
pub(crate) use signed::write_head;
use upstream::Upstream;

/// `wharf mirror …`.
#[derive(Debug, Subcommand)]
pub(crate) enum MirrorCommand {
    /// Copy a registry's sparse index and blobs into `<dir>/current` (staged, checked,
    /// switched in at once). Exits 1 when a version had to be left out.
    Sync(SyncArgs),
}

/// `wharf mirror sync`.
#[derive(Debug, Args)]
pub(crate) struct SyncArgs {
    /// The upstream's sparse index URL (`sparse+https://registry.example/index/`).
    #[arg(long, value_name = "URL")]
    from: String,
    /// The mirror directory; the copy is `<DIR>/current`.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// The URL the mirror will be served at: its `config.json` then sends downloads there
    /// (`<URL>/blobs/sha256/…`). Without it, `config.json` is the upstream's.
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// A token for an upstream that requires one (`read` scope).
    #[arg(
        long,
        env = "WHARF_MIRROR_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// Copy only packages whose name matches GLOB (repeatable; `serde*`).
    #[arg(long, value_name = "GLOB")]
    include: Vec<String>,
    /// Copy the resolver closure of these requirements (`NAME` or `NAME@REQ`): every version
    /// of each that matches, and of their dependencies, transitively.
    #[arg(long, value_name = "NAME[@REQ]", num_args = 1.., conflicts_with = "lockfile")]
    roots: Vec<String>,
    /// With `--roots`: plugins for this host API version only.
    #[arg(long, value_name = "VERSION", requires = "roots")]
    host_api: Option<semver::Version>,
    /// The host API package's name.
    #[arg(long, value_name = "NAME", default_value = wharf_resolver::HostPin::DEFAULT_NAME)]
    host_api_name: String,
    /// Copy exactly the packages and versions this `Cargo.lock` takes from the upstream.
    #[arg(long, value_name = "FILE")]
    lockfile: Option<PathBuf>,
    /// Files and blobs fetched at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    jobs: usize,
    /// The upstream's root public key (`wharf admin root-key export` prints it): its signed
    /// log is checked against this key. Without it, the key the upstream serves at the first
    /// sync is trusted and recorded in `<DIR>/trust/root.pub`.
    #[arg(long, value_name = "KEYFILE")]
    trust: Option<PathBuf>,
    /// A licence file (the line `wharf admin licence issue` printed), presented with each
    /// premium download as the installer presents it. Without it, the upstream's premium
    /// packages are skipped and named.
    #[arg(long, value_name = "FILE")]
    licence: Option<PathBuf>,
}

/// Runs a mirror subcommand.
pub(crate) fn run(command: MirrorCommand) -> anyhow::Result<ExitCode> {
    match command {
        MirrorCommand::Sync(args) => run::sync(&args),
    }
}

/// The versions `--roots` or `--lockfile` choose; `None` for every package.
fn chosen(
    follow: &followed::Follow<'_>,
    args: &SyncArgs,
    git: Option<&GitIndexTree>,
    into: &mut followed::Followed,
) -> anyhow::Result<Option<Chosen>> {
    if let Some(lockfile) = &args.lockfile {
        return select::locked(lockfile, &args.from).map(Some);
    }
    if args.roots.is_empty() {
        return Ok(None);
    }
    let host = args
        .host_api
        .clone()
        .map(|version| wharf_resolver::HostPin {
            name: args.host_api_name.clone(),
            version,
        });
    let mut fetch = |path: &str| match git {
        Some(tree) => Ok(tree.files.get(path).cloned()),
        None => follow.fetch(path, into),
    };
    let closure = crate::closure::closure(&args.roots, host.as_ref(), &mut fetch)?;
    Ok(Some(
        closure
            .into_iter()
            .map(|(name, versions)| (name.to_ascii_lowercase(), versions))
            .collect(),
    ))
}

/// What a sync copies, and the bins it is checked against.
struct Listing {
    /// The files to sync.
    files: Vec<Listed>,
    /// The upstream's listing, when it serves one.
    listed: Option<bins::Bins>,
    /// The origin's signed snapshot, when the upstream is a partial mirror (whose listing is
    /// its own).
    origin: Option<bins::Bins>,
}

impl Listing {
    /// The bins the signed timestamp binds (the copy's `snapshot/`).
    fn signed(&self) -> Option<&bins::Bins> {
        self.origin.as_ref().or(self.listed.as_ref())
    }

    /// The bins a copy that is already the result is recognised by; none from a partial
    /// upstream, whose listing may change under an unchanged signed snapshot.
    fn comparable(&self) -> Option<&bins::Bins> {
        if self.origin.is_some() {
            None
        } else {
            self.listed.as_ref()
        }
    }
}

impl SyncArgs {
    /// Whether the packages copied are chosen (`--include`, `--roots`, `--lockfile`), so the
    /// copy may hold part of the upstream.
    fn chooses_part(&self) -> bool {
        !self.include.is_empty() || !self.roots.is_empty() || self.lockfile.is_some()
    }
}

/// The files to sync, and the upstream's bins when it serves them; the files `--roots`
/// followed go into `followed`. With `documents` (the verified signed head) the bin list it
/// binds is the listing's and is not asked for again, unless the upstream is a partial
/// mirror: its listing is its own, and the signed snapshot (the origin's) is fetched apart,
/// to check the files against and to serve again.
fn listing(
    follow: &followed::Follow<'_>,
    args: &SyncArgs,
    git: Option<&GitIndexTree>,
    followed: &mut followed::Followed,
    documents: Option<&wharf_client::verify::HeadDocuments>,
) -> anyhow::Result<Listing> {
    let (runtime, upstream, previous) = (follow.runtime, follow.upstream, follow.previous);
    let verified_bins = documents.map(|documents| bins::Verified {
        list: &documents.bin_list,
        path: &documents.bins_path,
    });
    let verified_bins = verified_bins.as_ref();
    let origin = match verified_bins {
        Some(verified) => {
            runtime.block_on(bins::origin(upstream, previous, args.jobs, verified))?
        }
        None => None,
    };
    let include = Include::parse(&args.include)?;
    let chosen = chosen(follow, args, git, followed)?;
    let fetched_bins = match git {
        Some(_) => None,
        None if chosen.is_some() => runtime
            .block_on(bins::fetch(upstream, previous, args.jobs, verified_bins))
            .ok()
            .flatten(),
        None => runtime.block_on(bins::fetch(upstream, previous, args.jobs, verified_bins))?,
    };
    // A git index lists itself: its tree, each file with the hash of its bytes.
    let files: Option<BTreeMap<String, String>> = match (git, &fetched_bins) {
        (Some(tree), _) => Some(
            tree.files
                .iter()
                .map(|(path, bytes)| (path.clone(), sha256_hex(bytes)))
                .collect(),
        ),
        (None, Some(bins)) => Some(bins.files()?),
        (None, None) => None,
    };
    let listed: Vec<Listed> = match (chosen, files) {
        (None, None) => bail!(
            "`{}/.wharf/bins` is missing: without --roots or --lockfile, mirror sync lists packages from a Wharf registry's snapshot bins; point --from at a Wharf registry's sparse index, or choose packages with --roots or --lockfile",
            upstream.index
        ),
        (None, Some(files)) => files
            .into_iter()
            .map(|(path, sha256)| Listed {
                path,
                sha256: Some(sha256),
                versions: None,
            })
            .collect(),
        // Bins only add hashes here; an upstream that refuses them (not a Wharf) has none.
        (Some(chosen), files) => chosen
            .into_iter()
            .map(|(name, versions)| {
                let path = index_path(&name);
                Listed {
                    sha256: files.as_ref().and_then(|files| files.get(&path).cloned()),
                    path,
                    versions: Some(versions),
                }
            })
            .collect(),
    };
    let files: Vec<Listed> = listed
        .into_iter()
        .filter(|listed| include.admits(&listed.path))
        .collect();
    tracing::debug!(files = files.len(), "sync: listed");
    Ok(Listing {
        files,
        listed: fetched_bins,
        origin,
    })
}

/// Syncs every listed file, `jobs` at a time on the runtime's one thread; the first error
/// stops the others.
async fn sync_all(cx: &file::Context<'_>, files: &[Listed], jobs: usize) -> anyhow::Result<Synced> {
    let progress = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(files.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    progress.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} files {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut total = Synced::default();
    let mut done = futures::stream::iter(files)
        .map(|listed| file::sync_file(cx, listed))
        .buffer_unordered(jobs.max(1));
    while let Some(part) = done.next().await {
        total.add(part?);
        progress.set_message(format!("{} blobs downloaded", total.downloaded));
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(total)
}

/// The upstream's API URL: its `config.json`'s `api` or, for a sparse index, the index URL
/// without `/index`; `None` for a git index whose `config.json` names no API.
fn api_of(upstream: &Upstream, config: &RegistryConfig, git: bool) -> Option<String> {
    match &config.api {
        Some(api) => Some(api.clone()),
        None if git => None,
        None => Some(upstream.index.trim_end_matches("/index").to_owned()),
    }
}

/// What `connect` finds: the upstream, its `config.json` (parsed, and as served), and for a
/// git index its fetched tree.
type Connected = (Upstream, RegistryConfig, Vec<u8>, Option<GitIndexTree>);

/// The upstream `--from` names, and its `config.json`.
fn connect(runtime: &tokio::runtime::Runtime, args: &SyncArgs) -> anyhow::Result<Connected> {
    let git = git_source::is_git(&args.from);
    let index = args
        .from
        .trim()
        .trim_start_matches("sparse+")
        .trim_end_matches('/')
        .to_owned();
    if !(git || index.starts_with("http://") || index.starts_with("https://")) {
        bail!(
            "`{}` is not a sparse index URL nor a git index; give one as cargo does, e.g. `sparse+https://registry.example/index/` or `git+https://registry.example/git/index`",
            args.from
        );
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The platform's roots are read once and shared with the log's verifier.
    let tls = wharf_client::tls_client_config(&[])?;
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .user_agent(concat!("wharf-mirror/", env!("CARGO_PKG_VERSION")))
        .timeout(Duration::from_mins(5))
        .pool_max_idle_per_host(args.jobs.max(1))
        .build()
        .context("building the HTTP client")?;
    let upstream = Upstream {
        http,
        index,
        token: args.token.clone(),
    };
    let config_url = format!("{}/config.json", upstream.index);
    let tree = if git {
        Some(git_source::fetch(&args.from, &args.data)?)
    } else {
        None
    };
    let config_bytes = match &tree {
        Some(tree) => tree.config.clone(),
        None => runtime
            .block_on(upstream.get(&config_url))?
            .with_context(|| {
                format!(
                    "`{config_url}` is missing; is `{}` a registry's index?",
                    args.from
                )
            })?,
    };
    let config: RegistryConfig = serde_json::from_slice(&config_bytes)
        .with_context(|| format!("`{config_url}` is not a registry configuration"))?;
    Ok((upstream, config, config_bytes, tree))
}

#[cfg(test)]
mod tests {
    use wharf_index_format::download_url;

    #[test]
    fn download_urls_follow_cargo_templates() {
        let sum = "ab".repeat(32);
        assert_eq!(
            download_url(
                "https://r.example/blobs/sha256/{sha256-checksum}",
                "Foo",
                "1.0.0",
                &sum
            ),
            format!("https://r.example/blobs/sha256/{sum}")
        );
        assert_eq!(
            download_url("https://r.example/dl", "foo", "1.0.0", &sum),
            "https://r.example/dl/foo/1.0.0/download"
        );
        assert_eq!(
            download_url(
                "https://r.example/{lowerprefix}/{crate}-{version}",
                "Serde",
                "1.0.0",
                &sum
            ),
            "https://r.example/se/rd/Serde-1.0.0"
        );
    }
}

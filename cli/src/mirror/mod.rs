//! `wharf mirror sync`: copies a registry's sparse index and every blob it names into a
//! directory that `wharf serve --data DIR` (or any static file server) serves as a sparse
//! registry. Packages are listed from the upstream's snapshot bins (`/index/.wharf/bins/NN`)
//! or chosen by `--roots`/`--lockfile`; each file is checked against the hash its bin gives,
//! and every blob against its `cksum`; a version whose blob is missing or wrong is left out
//! and named, and the command then exits 1. The copy is built in a staging directory and
//! switched in at once: `<dir>/current` is a symbolic link replaced by a rename. A second
//! sync takes unchanged files and blobs from the previous copy by hard link (`file.rs`,
//! `state.rs`), asking the upstream only for what changed.

mod copy;
mod file;
mod git_source;
mod select;
mod state;
mod upstream;

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use wharf_index_format::{RegistryConfig, index_path};

use copy::write;
pub(crate) use copy::{remove_stale_copies, switch_current};
use file::{Listed, Synced, sha256_hex, sync_file};
use git_source::GitIndexTree;
use select::{Chosen, Include};
use state::{STATE_FILE, SyncState};
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
}

/// Runs a mirror subcommand.
pub(crate) fn run(command: MirrorCommand) -> anyhow::Result<ExitCode> {
    match command {
        MirrorCommand::Sync(args) => sync(&args),
    }
}

/// Every index path the upstream's snapshot bins list, with its SHA-256; `None` when the
/// upstream has no bins (not a Wharf registry). The 256 bins are fetched on `jobs` threads.
fn list_bins(upstream: &Upstream, jobs: usize) -> anyhow::Result<Option<BTreeMap<String, String>>> {
    let next = AtomicUsize::new(0);
    let fetched: Mutex<Vec<(usize, Option<Vec<u8>>)>> = Mutex::new(Vec::with_capacity(256));
    let failed: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, 256) {
            scope.spawn(|| {
                loop {
                    let bin = next.fetch_add(1, Ordering::Relaxed);
                    if bin > 255 {
                        return;
                    }
                    let url = format!("{}/.wharf/bins/{bin:02x}", upstream.index);
                    match upstream.get(&url) {
                        Ok(body) => lock(&fetched).push((bin, body)),
                        Err(error) => {
                            *lock(&failed) = Some(error);
                            next.store(256, Ordering::Relaxed);
                            return;
                        }
                    }
                }
            });
        }
    });
    if let Some(error) = lock(&failed).take() {
        return Err(error);
    }
    let mut fetched = fetched.into_inner().unwrap_or_else(PoisonError::into_inner);
    fetched.sort_by_key(|(bin, _)| *bin);
    let mut files = BTreeMap::new();
    for (bin, body) in fetched {
        let Some(text) = body else {
            return Ok(None);
        };
        for line in String::from_utf8_lossy(&text).lines() {
            let Some((path, hash)) = line.split_once(' ') else {
                bail!(
                    "`{}/.wharf/bins/{bin:02x}` has a line that is not `<index path> <sha256>`: `{line}`",
                    upstream.index
                );
            };
            files.insert(path.to_owned(), hash.to_owned());
        }
    }
    Ok(Some(files))
}

/// Locks a mutex, also after a worker panicked.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The versions `--roots` or `--lockfile` choose; `None` for every package.
fn chosen(
    args: &SyncArgs,
    upstream: &Upstream,
    git: Option<&GitIndexTree>,
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
        None => upstream.get(&format!("{}/{path}", upstream.index)),
    };
    let closure = crate::closure::closure(&args.roots, host.as_ref(), &mut fetch)?;
    Ok(Some(
        closure
            .into_iter()
            .map(|(name, versions)| (name.to_ascii_lowercase(), versions))
            .collect(),
    ))
}

/// The files to sync.
fn listing(
    args: &SyncArgs,
    upstream: &Upstream,
    git: Option<&GitIndexTree>,
) -> anyhow::Result<Vec<Listed>> {
    let include = Include::parse(&args.include)?;
    let chosen = chosen(args, upstream, git)?;
    // A git index lists itself: its tree, each file with the hash of its bytes.
    let bins = match git {
        Some(tree) => Some(
            tree.files
                .iter()
                .map(|(path, bytes)| (path.clone(), sha256_hex(bytes)))
                .collect(),
        ),
        None => list_bins(upstream, args.jobs)?,
    };
    let listed: Vec<Listed> = match (chosen, bins) {
        (None, None) => bail!(
            "`{}/.wharf/bins/00` is missing: without --roots or --lockfile, mirror sync lists packages from a Wharf registry's snapshot bins; point --from at a Wharf registry's sparse index, or choose packages with --roots or --lockfile",
            upstream.index
        ),
        (None, Some(bins)) => bins
            .into_iter()
            .map(|(path, sha256)| Listed {
                path,
                sha256: Some(sha256),
                versions: None,
            })
            .collect(),
        (Some(chosen), bins) => chosen
            .into_iter()
            .map(|(name, versions)| {
                let path = index_path(&name);
                Listed {
                    sha256: bins.as_ref().and_then(|bins| bins.get(&path).cloned()),
                    path,
                    versions: Some(versions),
                }
            })
            .collect(),
    };
    Ok(listed
        .into_iter()
        .filter(|listed| include.admits(&listed.path))
        .collect())
}

/// Syncs every listed file on `jobs` threads; the first error stops the others.
fn sync_all(cx: &file::Context<'_>, files: &[Listed], jobs: usize) -> anyhow::Result<Synced> {
    let progress = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(files.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    progress.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} files {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let next = AtomicUsize::new(0);
    let total = Mutex::new(Ok(Synced::default()));
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(listed) = files.get(index) else {
                        return;
                    };
                    let done = sync_file(cx, listed);
                    let mut total = total
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    match (&mut *total, done) {
                        (Ok(total), Ok(part)) => {
                            total.add(part);
                            progress.set_message(format!("{} blobs downloaded", total.downloaded));
                        }
                        (Ok(_), Err(error)) => {
                            *total = Err(error);
                            next.store(files.len(), Ordering::Relaxed);
                        }
                        (Err(_), _) => return,
                    }
                    progress.inc(1);
                }
            });
        }
    });
    progress.finish_and_clear();
    total.into_inner().unwrap_or_else(PoisonError::into_inner)
}

/// What `connect` finds: the upstream, its `config.json` (parsed, and as served), and for a
/// git index its fetched tree.
type Connected = (Upstream, RegistryConfig, Vec<u8>, Option<GitIndexTree>);

/// The upstream `--from` names, and its `config.json`.
fn connect(args: &SyncArgs) -> anyhow::Result<Connected> {
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
    let http = reqwest::blocking::Client::builder()
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
        None => upstream.get(&config_url)?.with_context(|| {
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

/// Prints what a sync did (the summary and one `left out:` line per version left out) and
/// returns its exit code.
fn report(synced: Synced, current: &std::path::Path) -> ExitCode {
    println!(
        "mirrored {} packages, {} versions into {} ({} blobs downloaded, {} reused)",
        synced.packages,
        synced.versions,
        current.display(),
        synced.downloaded,
        synced.reused
    );
    println!(
        "summary: {} packages, {} versions, {} bytes downloaded, {} index files unchanged, {} left out",
        synced.packages,
        synced.versions,
        synced.bytes,
        synced.unchanged,
        synced.left_out.len()
    );
    let mut left_out = synced.left_out;
    left_out.sort();
    for problem in &left_out {
        println!("left out: {problem}");
    }
    if left_out.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `wharf mirror sync`.
fn sync(args: &SyncArgs) -> anyhow::Result<ExitCode> {
    let (upstream, upstream_config, config_bytes, tree) = connect(args)?;
    let files = listing(args, &upstream, tree.as_ref())?;

    // Everything is staged next to `current`, so the switch is a rename on one file system.
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("creating `{}`", args.data.display()))?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let stage_name = format!("copy-{stamp}");
    let stage = args.data.join(&stage_name);
    let current = args.data.join("current");
    let previous = std::fs::canonicalize(&current).ok();
    remove_stale_copies(&args.data, previous.as_deref());
    let held = SyncState::load(previous.as_deref(), &args.from);
    let cx = file::Context {
        upstream: &upstream,
        dl: &upstream_config.dl,
        previous: previous.as_deref(),
        held: &held,
        stage: &stage,
        git_files: tree.as_ref().map(|tree| &tree.files),
    };
    let staged = (|| {
        std::fs::create_dir_all(stage.join("index"))
            .with_context(|| format!("creating `{}`", stage.display()))?;
        let mut synced = sync_all(&cx, &files, args.jobs)?;
        let config = match &args.public_url {
            Some(url) => RegistryConfig::for_public_url(url, upstream_config.auth_required)
                .to_json()
                .into_bytes(),
            None => config_bytes.clone(),
        };
        write(&stage.join("index/config.json"), &config)?;
        let record = wharf_registry_server::MirrorRecord {
            upstream: args.from.clone(),
        };
        write(
            &stage.join(wharf_registry_server::MIRROR_RECORD),
            &serde_json::to_vec(&record)?,
        )?;
        let remembered = SyncState {
            upstream: args.from.clone(),
            files: std::mem::take(&mut synced.kept).into_iter().collect(),
        };
        write(&stage.join(STATE_FILE), &serde_json::to_vec(&remembered)?)?;
        anyhow::Ok(synced)
    })();
    let synced = match staged {
        Ok(synced) => synced,
        Err(error) => {
            let _ = std::fs::remove_dir_all(&stage);
            return Err(error);
        }
    };
    switch_current(&args.data, &stage_name, previous.as_deref())?;
    Ok(report(synced, &current))
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

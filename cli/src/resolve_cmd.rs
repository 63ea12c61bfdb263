//! `wharf resolve`: resolve a manifest against a local sparse-index tree or a registry's
//! sparse index over HTTPS or HTTP.

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use anyhow::Context as _;
use wharf_client::{ClientOptions, SparseIndex};
use wharf_index_format::IndexDependency;
use wharf_resolver::{
    HostPin, IndexSource, LocalIndex, Lockfile, ResolveError, ResolveOptions, Resolver,
    RootManifest, Version, Workspace, resolve,
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

/// A registry token; never shown by `Debug`.
#[derive(Clone)]
pub(crate) struct Token(pub(crate) String);

impl Token {
    /// The token's text.
    pub(crate) fn into_inner(self) -> String {
        self.0
    }
}

impl FromStr for Token {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self(text.to_owned()))
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<hidden>)")
    }
}

/// Resolve a manifest's dependencies the way `cargo generate-lockfile` does, or as a plugin
/// install set when `--host-api` is given.
///
/// The index is either a local sparse-index tree (`--index-dir`) or a registry's sparse index
/// over HTTPS or HTTP (`--index-url`); exactly one of them is required.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("index").required(true).args(["index_dir", "index_url"])))]
pub(crate) struct ResolveArgs {
    /// Sparse-index directory tree (cargo layout), e.g. a registry's `<data>/index`.
    #[arg(long, value_name = "DIR")]
    index_dir: Option<PathBuf>,
    /// A registry's sparse index over HTTPS or HTTP, as cargo writes it:
    /// `sparse+https://host/index/` (`sparse+` and the trailing slash are optional).
    #[arg(long, value_name = "URL")]
    index_url: Option<String>,
    /// A PEM file of CA certificates to trust for `https`, on top of the system's roots (as
    /// cargo's `http.cainfo`), e.g. for a registry behind a private certificate authority.
    /// Repeatable; the environment variable names one file (`--index-url` only).
    #[arg(long, env = "WHARF_CA_CERT", value_name = "FILE")]
    ca_cert: Vec<PathBuf>,
    /// Token sent as `Authorization` to a registry that requires authentication
    /// (`--index-url` only).
    #[arg(
        long,
        env = "WHARF_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    token: Option<Token>,
    /// Index files fetched ahead in parallel while resolving (`--index-url` only); 0 fetches
    /// each file only when the resolver asks for it.
    #[arg(long, value_name = "N", default_value_t = SparseIndex::DEFAULT_PREFETCH_THREADS)]
    prefetch: usize,
    /// How often an index request that got no answer (or a body cut short or stalled), HTTP
    /// 429 or 5xx is sent again
    /// (`--index-url` only; waits of 0.5 s, doubling, or the server's `Retry-After`), as
    /// cargo's `net.retry`.
    #[arg(long, value_name = "N", env = "WHARF_NET_RETRY", default_value_t = ClientOptions::DEFAULT_RETRIES)]
    retries: u32,
    /// Give up on (and retry) an index request that receives nothing for this long (`30s`,
    /// `2m`; `--index-url` only), as cargo's `http.timeout`: a slow answer that keeps coming
    /// is never cut.
    #[arg(long, value_name = "DURATION", env = "WHARF_STALL_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    stall_timeout: std::time::Duration,
    /// Keep index files in DIR between runs and revalidate them (`If-None-Match` /
    /// `If-Modified-Since`; a 304 reuses the copy) instead of downloading them again, as
    /// cargo's sparse index cache (`--index-url` only; one directory per index URL).
    /// `config.json` is always fetched afresh. No cache unless given.
    #[arg(long, env = "WHARF_CACHE_DIR", value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Delete cached index files not used for this long (`90d`, `12w`, …; `never` keeps
    /// them), checked at most once a day when the cache is opened.
    #[arg(long, env = "WHARF_CACHE_MAX_AGE", value_name = "AGE", default_value = "90d", value_parser = parse_max_age)]
    cache_max_age: MaxAge,
    /// The root `Cargo.toml` [default: ./Cargo.toml, in the current directory].
    #[arg(
        long,
        value_name = "FILE",
        default_value = "Cargo.toml",
        hide_default_value = true
    )]
    manifest: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "json")]
    format: ResolveFormat,
    /// An existing Cargo.lock or wharf.lock whose versions are kept when they still fit.
    #[arg(long)]
    lock: Option<PathBuf>,
    /// Check that this Cargo.lock or wharf.lock still satisfies the manifest instead of
    /// printing a resolution: exit 0 when it does, else 1 with one line per unsatisfied entry
    /// on stdout (for CI).
    #[arg(long, value_name = "FILE", conflicts_with = "lock")]
    check_lock: Option<PathBuf>,
    /// Plugin mode: the host API version this host provides (pinned exactly).
    #[arg(long)]
    host_api: Option<Version>,
    /// Name of the host API package.
    #[arg(long, default_value = HostPin::DEFAULT_NAME)]
    host_api_name: String,
    /// Prefer versions whose `rust-version` this toolchain version satisfies [default, as
    /// cargo: with resolver 3 (edition 2024), the manifest's `rust-version`, else the installed
    /// rustc's version; no preference with older resolvers].
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
    if args.index_url.is_some() {
        without_huge_pages();
    }
    let workspace = Workspace::load(&args.manifest)?;
    if !workspace.is_single_package() {
        return run_workspace(args, &workspace);
    }
    let root = workspace.packages[0].manifest.clone();
    let lock = args
        .lock
        .as_deref()
        .map(Lockfile::from_path)
        .transpose()
        .context("reading the lockfile")?;
    let options = ResolveOptions {
        rust_version: wharf_resolver::preferred_rust_version(&root, args.rust_version.as_ref()),
        lock,
        host_api: args.host_api.clone().map(|version| HostPin {
            name: args.host_api_name.clone(),
            version,
        }),
        unlock: Vec::new(),
        discouraged: std::collections::BTreeMap::new(),
    };
    let index = open_index(args, &root.dependencies)?;
    if let Some(path) = &args.check_lock {
        let problems = check_lock(path, index.as_ref(), &root, options)?;
        for problem in &problems {
            println!("{problem}");
        }
        return Ok(if problems.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    match resolve(index.as_ref(), &root, &options) {
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

/// `wharf resolve` for a workspace, or a package with path dependencies: every member
/// resolved together, path packages read from disk.
fn run_workspace(args: &ResolveArgs, workspace: &Workspace) -> anyhow::Result<ExitCode> {
    let lock = args
        .lock
        .as_deref()
        .map(Lockfile::from_path)
        .transpose()
        .context("reading the lockfile")?;
    let root_dependencies: Vec<IndexDependency> = workspace
        .packages
        .iter()
        .flat_map(|p| p.manifest.dependencies.iter().cloned())
        .collect();
    let index = open_index(args, &root_dependencies)?;
    let mut resolver = Resolver::new(index.as_ref());
    if let Some(lock) = lock {
        resolver = resolver.lock(lock);
    }
    if let Some(version) = &args.host_api {
        resolver = resolver.host_pin(HostPin {
            name: args.host_api_name.clone(),
            version: version.clone(),
        });
    }
    resolver = match &args.rust_version {
        Some(version) => resolver.rust_version(version.clone()),
        None => resolver.rust_version_as_cargo(),
    };
    if let Some(path) = &args.check_lock {
        let problems = check_workspace_lock(path, resolver, workspace)?;
        for problem in &problems {
            println!("{problem}");
        }
        return Ok(if problems.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    match resolver.resolve_workspace(workspace) {
        Ok(resolution) => {
            let text = match args.format {
                ResolveFormat::Json => resolution.to_json() + "\n",
                ResolveFormat::CargoLock => {
                    resolution.to_workspace_cargo_lock(workspace, &args.source_id)
                }
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

/// `--check-lock` for a workspace: every member resolved together preferring the lock; each
/// difference between the lock and that resolution (members and path packages included, as
/// Cargo.lock lists them) is an unsatisfied entry. Returns one line per entry.
fn check_workspace_lock(
    path: &std::path::Path,
    resolver: Resolver<'_>,
    workspace: &Workspace,
) -> anyhow::Result<Vec<String>> {
    let lock = Lockfile::from_path(path)
        .with_context(|| format!("reading the lockfile `{}`", path.display()))?;
    let mut problems = Vec::new();
    let outcome = resolver.lock(lock.clone()).resolve_workspace(workspace);
    let no_earlier_reports = std::collections::BTreeSet::new();
    let comparison = LockedOutcome {
        lockfile: path,
        locked: &lock,
        subject: "workspace",
        already_reported: &no_earlier_reports,
    };
    comparison.report(outcome, &mut problems)?;
    Ok(problems)
}

/// A resolution that preferred a lock, compared with that lock for `--check-lock`.
struct LockedOutcome<'a> {
    /// The lock file's path, named in each line.
    lockfile: &'a std::path::Path,
    /// The lock's packages, compared with the resolution.
    locked: &'a Lockfile,
    /// What was resolved (`workspace`, `manifest`), named when it does not resolve.
    subject: &'a str,
    /// Packages with a line already (from the lock's own check): not reported again.
    already_reported: &'a std::collections::BTreeSet<String>,
}

impl LockedOutcome<'_> {
    /// Adds one line per difference between the lock and the resolution, or one line saying
    /// the subject does not resolve; any other resolver failure is the command's error.
    fn report(
        &self,
        outcome: Result<wharf_resolver::Resolution, ResolveError>,
        problems: &mut Vec<String>,
    ) -> anyhow::Result<()> {
        match outcome {
            Ok(resolution) => {
                for change in self.locked.diff(&Lockfile::from(&resolution)).changes {
                    if self.already_reported.contains(&change.name) {
                        continue;
                    }
                    problems.push(format!(
                        "`{}`: {change}; the lock is out of date, update it (`wharf resolve --lock {}`)",
                        change.name,
                        self.lockfile.display()
                    ));
                }
            }
            Err(error @ (ResolveError::NoSolution(_) | ResolveError::Cycle { .. })) => {
                let text = error.to_string();
                problems.push(format!(
                    "the {} does not resolve against the index: {}",
                    self.subject,
                    text.lines().collect::<Vec<_>>().join(" ")
                ));
            }
            Err(other) => return Err(other.into()),
        }
        Ok(())
    }
}

/// `--check-lock`: the lock's own check against the manifest, then a resolution that
/// prefers the lock, whose every difference from it is an unsatisfied entry (what
/// `cargo --locked` would refuse). Returns one line per unsatisfied entry.
fn check_lock(
    path: &std::path::Path,
    index: &dyn IndexSource,
    root: &RootManifest,
    mut options: ResolveOptions,
) -> anyhow::Result<Vec<String>> {
    let lock = Lockfile::from_path(path)
        .with_context(|| format!("reading the lockfile `{}`", path.display()))?;
    let mut problems: Vec<String> = Vec::new();
    let mut reported = std::collections::BTreeSet::new();
    for problem in lock.check(root) {
        reported.insert(problem.package.clone());
        problems.push(problem.to_string());
    }
    // The root's own entry (Cargo.lock lists it, without source or checksum) is no package.
    let locked = Lockfile {
        packages: lock
            .packages
            .iter()
            .filter(|p| !(p.name == root.name && p.source.is_none() && p.checksum.is_none()))
            .cloned()
            .collect(),
    };
    options.lock = Some(lock);
    let comparison = LockedOutcome {
        lockfile: path,
        locked: &locked,
        subject: "manifest",
        already_reported: &reported,
    };
    comparison.report(resolve(index, root, &options), &mut problems)?;
    Ok(problems)
}

/// Turns transparent huge pages off for this process. mimalloc asks for them on its arenas,
/// and over HTTP the prefetch threads' response bodies, freed and handed back to the kernel,
/// are faulted in again as fresh 2 MiB pages the kernel zeroes whole: that doubled the CPU
/// time of a cold resolve (1.5 s against 0.93 s on `popular-88`, docs/benchmark-history.md
/// §15). A local resolve keeps them (it allocates once and is faster with them). Failing is
/// harmless.
fn without_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(error) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::debug!(%error, "cannot turn transparent huge pages off");
    }
}

/// How long unused cache entries are kept; `None` is forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MaxAge(Option<std::time::Duration>);

/// `never`, or a duration as humantime reads it (`90d`, `12w`, `1month`).
fn parse_max_age(text: &str) -> Result<MaxAge, String> {
    if text.trim() == "never" {
        return Ok(MaxAge(None));
    }
    humantime::parse_duration(text.trim())
        .map(|age| MaxAge(Some(age)))
        .map_err(|error| format!("{error}: give a duration such as `90d` or `12w`, or `never`"))
}

/// The index named by `--index-dir` or `--index-url`; a remote one starts fetching the root's
/// dependencies at once.
fn open_index(
    args: &ResolveArgs,
    dependencies: &[IndexDependency],
) -> anyhow::Result<Box<dyn IndexSource>> {
    if let Some(url) = &args.index_url {
        let token = args.token.clone().map(|Token(token)| token);
        let options = ClientOptions {
            ca_certs: args.ca_cert.clone(),
            prefetch_threads: args.prefetch,
            retries: args.retries,
            stall_timeout: args.stall_timeout,
            cache_dir: args.cache_dir.clone(),
            cache_max_age: args.cache_max_age.0,
            ..ClientOptions::default()
        };
        let index = SparseIndex::with_options(url, token, &options)?;
        index.prefetch(dependencies.iter().map(IndexDependency::package_name));
        return Ok(Box::new(index));
    }
    let dir = args
        .index_dir
        .as_ref()
        .context("either --index-dir or --index-url is required")?;
    Ok(Box::new(LocalIndex::open(dir)?))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::{Path, PathBuf};

    use clap::Parser as _;
    use wharf_index_format::index_path;

    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: ResolveArgs,
    }

    /// A scratch directory removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(label: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("wharf-resolve-{label}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn cache_max_age_reads_durations_and_never() {
        let day = std::time::Duration::from_hours(24);
        assert_eq!(parse_max_age("90d"), Ok(MaxAge(Some(90 * day))));
        assert_eq!(parse_max_age("2w"), Ok(MaxAge(Some(14 * day))));
        assert_eq!(parse_max_age("never"), Ok(MaxAge(None)));
        let error = parse_max_age("soon").unwrap_err();
        assert!(
            error.contains("`90d`") && error.contains("`never`"),
            "{error}"
        );
    }

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn setup(label: &str, requirement: &str) -> (Scratch, Vec<String>) {
        let scratch = Scratch::new(label);
        let index = scratch.0.join("index");
        write(
            &index.join(index_path("plugin")),
            r#"{"name":"plugin","vers":"1.0.0","deps":[{"name":"host-api","req":"^2","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"}],"cksum":"aa","features":{},"yanked":false,"links":null}"#,
        );
        let manifest = scratch.0.join("Cargo.toml");
        write(
            &manifest,
            &format!("[package]\nname = \"host\"\n[dependencies]\nplugin = \"{requirement}\"\n"),
        );
        let args = vec![
            "resolve".to_owned(),
            "--index-dir".to_owned(),
            index.display().to_string(),
            "--manifest".to_owned(),
            manifest.display().to_string(),
        ];
        (scratch, args)
    }

    #[test]
    fn resolves_a_workspace_and_names_a_git_dependency() {
        let (scratch, mut args) = setup("workspace", "1");
        write(
            &scratch.0.join("Cargo.toml"),
            "[workspace]\nmembers = [\"crates/*\"]\n[workspace.dependencies]\nplugin = \"1\"\n",
        );
        write(
            &scratch.0.join("crates/host/Cargo.toml"),
            "[package]\nname = \"host\"\nversion = \"0.1.0\"\n[dependencies]\nplugin.workspace = true\ncommon = { path = \"../common\" }\n",
        );
        write(
            &scratch.0.join("crates/common/Cargo.toml"),
            "[package]\nname = \"common\"\nversion = \"0.2.0\"\n",
        );
        write(
            &scratch.0.join("index").join(index_path("host-api")),
            r#"{"name":"host-api","vers":"2.0.0","deps":[],"cksum":"bb","features":{},"yanked":false}"#,
        );
        args.extend(["--format".to_owned(), "cargo-lock".to_owned()]);
        let cli = Cli::parse_from(args.clone());
        assert_eq!(run(&cli.args).unwrap(), ExitCode::SUCCESS);

        write(
            &scratch.0.join("crates/common/Cargo.toml"),
            "[package]\nname = \"common\"\nversion = \"0.2.0\"\n[dependencies]\nremote = { git = \"https://example.com/remote.git\" }\n",
        );
        let error = run(&Cli::parse_from(args).args).unwrap_err().to_string();
        assert_eq!(
            error,
            "dependency `remote` of `common` is a git dependency (https://example.com/remote.git); Wharf's resolver reads registry and path dependencies only"
        );
    }

    /// `--check-lock` and `--host-api` take a workspace too: a lock written for it passes,
    /// one whose entry no longer fits a member's requirement fails.
    #[test]
    fn checks_a_workspace_lock_and_pins_its_host() {
        let (scratch, args) = setup("workspace-check", "1");
        write(
            &scratch.0.join("Cargo.toml"),
            "[workspace]\nmembers = [\"crates/*\"]\n",
        );
        let member = scratch.0.join("crates/host/Cargo.toml");
        write(
            &member,
            "[package]\nname = \"host\"\nversion = \"0.1.0\"\n[dependencies]\nplugin = \"1\"\ncommon = { path = \"../common\" }\n",
        );
        write(
            &scratch.0.join("crates/common/Cargo.toml"),
            "[package]\nname = \"common\"\nversion = \"0.2.0\"\n",
        );
        let host_api = scratch.0.join("index").join(index_path("host-api"));
        write(
            &host_api,
            &[
                r#"{"name":"host-api","vers":"2.0.0","deps":[],"cksum":"bb","features":{},"yanked":false}"#,
                r#"{"name":"host-api","vers":"2.1.0","deps":[],"cksum":"cc","features":{},"yanked":false}"#,
            ]
            .join("\n"),
        );
        let workspace = Workspace::load(&scratch.0).unwrap();
        let index = LocalIndex::open(scratch.0.join("index")).unwrap();
        let resolution = Resolver::new(&index)
            .host_pin(HostPin::new(Version::new(2, 0, 0)))
            .resolve_workspace(&workspace)
            .unwrap();
        assert_eq!(resolution.versions_of("host-api"), [&Version::new(2, 0, 0)]);
        let lock = scratch.0.join("Cargo.lock");
        fs::write(
            &lock,
            resolution.to_workspace_cargo_lock(&workspace, "registry+https://example.com/index"),
        )
        .unwrap();
        let check = |extra: &[&str]| {
            let mut args = args.clone();
            args.extend(extra.iter().map(|s| (*s).to_owned()));
            args.extend(["--check-lock".to_owned(), lock.display().to_string()]);
            run(&Cli::parse_from(args).args).unwrap()
        };
        assert_eq!(check(&["--host-api", "2.0.0"]), ExitCode::SUCCESS);
        // Unpinned, host-api 2.1.0 would be picked, but the lock's 2.0.0 still fits.
        assert_eq!(check(&[]), ExitCode::SUCCESS);
        assert_eq!(check(&["--host-api", "2.1.0"]), ExitCode::from(1));
        let problems = check_workspace_lock(
            &lock,
            Resolver::new(&index).host_pin(HostPin::new(Version::new(2, 1, 0))),
            &workspace,
        )
        .unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("`host-api`: "), "{problems:?}");
    }

    #[test]
    fn resolves_in_plugin_mode() {
        let (_scratch, mut args) = setup("ok", "1");
        args.extend([
            "--host-api".to_owned(),
            "2.4.1".to_owned(),
            "--format".to_owned(),
            "wharf-lock".to_owned(),
        ]);
        let cli = Cli::parse_from(args);
        assert_eq!(run(&cli.args).unwrap(), ExitCode::SUCCESS);
    }

    #[test]
    fn check_lock_passes_a_fitting_lock_and_fails_a_stale_one() {
        let (scratch, args) = setup("check-lock", "1");
        let root = RootManifest::from_path(&scratch.0.join("Cargo.toml")).unwrap();
        let index = LocalIndex::open(scratch.0.join("index")).unwrap();
        let options = ResolveOptions {
            host_api: Some(HostPin::new(Version::new(2, 4, 1))),
            ..ResolveOptions::default()
        };
        let fitting = scratch.0.join("wharf.lock");
        let resolution = resolve(&index, &root, &options).unwrap();
        fs::write(&fitting, resolution.to_wharf_lock()).unwrap();
        let stale = scratch.0.join("stale.lock");
        fs::write(
            &stale,
            "[[package]]\nname = \"plugin\"\nversion = \"0.9.0\"\n",
        )
        .unwrap();
        let check = |lock: &Path| {
            let mut args = args.clone();
            args.extend([
                "--host-api".to_owned(),
                "2.4.1".to_owned(),
                "--check-lock".to_owned(),
                lock.display().to_string(),
            ]);
            run(&Cli::parse_from(args).args).unwrap()
        };
        assert_eq!(check(&fitting), ExitCode::SUCCESS);
        assert_eq!(check(&stale), ExitCode::from(1));
        let lines = |lock: &Path| check_lock(lock, &index, &root, options.clone()).unwrap();
        assert!(lines(&fitting).is_empty());
        assert_eq!(
            lines(&stale),
            [
                "`plugin`: the manifest requires 1 but the lock has 0.9.0; update the lock (`wharf resolve --lock`)",
                &format!(
                    "`host-api`: added `host-api` 2.4.1 (needed by `plugin`); the lock is out of date, update it (`wharf resolve --lock {}`)",
                    stale.display()
                ),
            ]
        );
    }

    #[test]
    fn a_mistyped_index_directory_is_named() {
        let (scratch, mut args) = setup("typo", "1");
        let typo = scratch.0.join("indx");
        args[2] = typo.display().to_string();
        let error = run(&Cli::parse_from(args).args).unwrap_err().to_string();
        assert!(
            error.contains(&format!(
                "`{}` is not a sparse-index directory",
                typo.display()
            )),
            "{error}"
        );
    }

    #[test]
    fn no_solution_exits_with_code_one() {
        let (_scratch, mut args) = setup("none", "1");
        args.extend(["--host-api".to_owned(), "3.0.0".to_owned()]);
        let cli = Cli::parse_from(args);
        assert_eq!(run(&cli.args).unwrap(), ExitCode::from(1));
    }

    #[test]
    fn exactly_one_index_is_required_and_the_token_is_never_shown() {
        let base = ["resolve", "--manifest", "Cargo.toml"];
        let neither = Cli::try_parse_from(base).unwrap_err();
        assert_eq!(
            neither.kind(),
            clap::error::ErrorKind::MissingRequiredArgument
        );
        let both = Cli::try_parse_from(base.iter().chain(&[
            "--index-dir",
            "i",
            "--index-url",
            "http://h/index/",
        ]))
        .unwrap_err();
        assert_eq!(both.kind(), clap::error::ErrorKind::ArgumentConflict);
        let remote = Cli::try_parse_from(base.iter().chain(&[
            "--index-url",
            "sparse+http://h/index/",
            "--token",
            "s3cr3t-value",
        ]))
        .unwrap();
        assert_eq!(remote.args.prefetch, SparseIndex::DEFAULT_PREFETCH_THREADS);
        let shown = format!("{:?}", remote.args);
        assert!(shown.contains("sparse+http://h/index/"), "{shown}");
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
    }

    #[test]
    fn the_manifest_defaults_to_the_current_directory() {
        let cli = Cli::try_parse_from(["resolve", "--index-dir", "i"]).unwrap();
        assert_eq!(cli.args.manifest, PathBuf::from("Cargo.toml"));
    }

    #[test]
    fn ca_certs_are_repeatable_and_a_bad_one_is_named() {
        let (scratch, _) = setup("ca", "1");
        let manifest = scratch.0.join("Cargo.toml").display().to_string();
        let missing = scratch.0.join("missing-ca.pem");
        let notes = scratch.0.join("notes.txt");
        write(&notes, "not a certificate\n");
        let cli = Cli::parse_from([
            "resolve",
            "--manifest",
            &manifest,
            // Port 9 (discard) is never asked: the files are read before any request.
            "--index-url",
            "sparse+https://127.0.0.1:9/index/",
            "--ca-cert",
            &notes.display().to_string(),
            "--ca-cert",
            &missing.display().to_string(),
        ]);
        assert_eq!(cli.args.ca_cert, [notes.clone(), missing]);
        let error = format!("{:#}", run(&cli.args).unwrap_err());
        assert!(
            error.contains(&format!(
                "cannot use `{}` as a CA certificate",
                notes.display()
            )),
            "{error}"
        );
    }

    #[test]
    fn unreadable_inputs_are_errors() {
        let (_scratch, mut args) = setup("bad", "not a version");
        args.extend(["--format".to_owned(), "cargo-lock".to_owned()]);
        let cli = Cli::parse_from(args);
        let err = run(&cli.args).unwrap_err();
        assert!(err.to_string().contains("not a version"), "{err}");
    }
}

//! `wharf-load`: drives a running Wharf registry over HTTP.
//!
//! - `publish`: M small valid crates, N publishers at once; prints publishes/s, latency
//!   percentiles and the count of non-200 answers (exit status 1 unless it is 0); `--sign`
//!   signs every release with a publisher key registered first.
//! - `seed`: fills a registry with packages, versions and dependencies for the index benchmark
//!   and writes the list of their index paths.
//! - `fetch-index`: downloads index files (optionally into a tree a static server can serve)
//!   and writes each file's `ETag`.
//! - `publish-ecosystem`: publishes what `gen-ecosystem` wrote and yanks its yank list.
//! - `read-load`: GETs index files for a while and counts the requests that failed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use wharf_bench::{
    PublishReport, PublishTarget, PublishUpload, RegisteredKey, SeedPlan, SyntheticCrate,
    fetch_index_files, publish_all, seed_waves,
};
use wharf_index_format::index_path;

/// Load tools for a Wharf registry.
#[derive(Debug, Parser)]
#[command(name = "wharf-load", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Publish COUNT new packages with CONCURRENCY publishers and report throughput.
    Publish(PublishArgs),
    /// Fill a registry with packages and versions; write their index paths.
    Seed(SeedArgs),
    /// Download index files, write their ETags, and optionally mirror them into a directory.
    FetchIndex(FetchArgs),
    /// Publish a `gen-ecosystem` output (`DIR/publish/*.body`), then yank `DIR/yanked.txt`.
    PublishEcosystem(EcosystemArgs),
    /// GET index files for SECONDS and count the requests not answered with 200.
    ReadLoad(ReadLoadArgs),
}

#[derive(Debug, Args)]
struct ReadLoadArgs {
    /// Base URL of the server, e.g. `http://127.0.0.1:8080`; files are read from `/index/…`.
    #[arg(long)]
    url: String,
    /// File with one index path per line (`ka/mo/kamo-s1`), read in turn.
    #[arg(long, value_name = "FILE")]
    paths: PathBuf,
    /// How long to keep reading.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
}

/// The registry and the token to use.
#[derive(Debug, Args)]
struct Registry {
    /// Base URL of the registry, e.g. `http://127.0.0.1:8080`.
    #[arg(long)]
    url: String,
    /// API token with publish scopes.
    #[arg(long, env = "WHARF_TOKEN", hide_env_values = true)]
    token: String,
}

#[derive(Debug, Args)]
struct PublishArgs {
    #[command(flatten)]
    registry: Registry,
    /// Publishers sending at the same time.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// How many packages to publish (one version each).
    #[arg(long)]
    count: usize,
    /// Start of every package name (`{prefix}-{n}`).
    #[arg(long, default_value = "load")]
    prefix: String,
    /// Write the index path of every acknowledged package here, one per line.
    #[arg(long, value_name = "FILE")]
    paths_out: Option<PathBuf>,
    /// Sign every release as `wharf publish --key` does: a new publisher key is registered
    /// to the token's account first, and each package's release binds it (two log leaves
    /// per publish: the key's addition and the release).
    #[arg(long)]
    sign: bool,
}

#[derive(Debug, Args)]
struct SeedArgs {
    #[command(flatten)]
    registry: Registry,
    /// How many packages.
    #[arg(long)]
    packages: usize,
    /// Versions of each package.
    #[arg(long, default_value_t = 3)]
    versions: usize,
    /// Part of every package name.
    #[arg(long, default_value = "s")]
    prefix: String,
    /// Publishers sending at the same time.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Write the index path of every package here, one per line.
    #[arg(long, value_name = "FILE")]
    paths_out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct EcosystemArgs {
    #[command(flatten)]
    registry: Registry,
    /// The folder `gen-ecosystem --out` wrote.
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Publishers sending at the same time.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
}

#[derive(Debug, Args)]
struct FetchArgs {
    /// Base URL of the server, e.g. `http://127.0.0.1:8080`; files are read from `/index/…`.
    #[arg(long)]
    url: String,
    /// File with one index path per line (`ka/mo/kamo-s1`).
    #[arg(long, value_name = "FILE")]
    paths: PathBuf,
    /// Write each body to `DIR/index/{path}`.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Write `{path}<TAB>{etag}` lines here.
    #[arg(long, value_name = "FILE")]
    etags_out: PathBuf,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: starting the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Publish(args) => publish(args).await,
            Command::Seed(args) => seed(args).await,
            Command::FetchIndex(args) => fetch(args).await,
            Command::PublishEcosystem(args) => publish_ecosystem(args).await,
            Command::ReadLoad(args) => read_load(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

async fn publish(args: PublishArgs) -> anyhow::Result<ExitCode> {
    let target = PublishTarget::new(&args.registry.url, &args.registry.token)?;
    let building = Instant::now();
    let names: Vec<String> = (0..args.count)
        .map(|i| format!("{}-{i}", args.prefix))
        .collect();
    let key = if args.sign {
        Some(RegisteredKey::register(&args.registry.url, &args.registry.token).await?)
    } else {
        None
    };
    let bodies = names
        .iter()
        .map(|name| {
            let krate = SyntheticCrate::new(name.as_str(), "1.0.0");
            match &key {
                Some(key) => key.sign(&krate),
                None => krate.publish_body().map(PublishUpload::from),
            }
        })
        .collect::<Result<Vec<PublishUpload>, _>>()?;
    let bytes: usize = bodies.iter().map(|upload| upload.body.len()).sum();
    eprintln!(
        "built {} publish bodies ({} bytes on average) in {:.2} s; publishing…",
        bodies.len(),
        bytes.checked_div(bodies.len()).unwrap_or(0),
        building.elapsed().as_secs_f64()
    );
    let report = publish_all(&target, bodies, args.concurrency).await?;
    print!("{}", describe("publish", &report));
    if let Some(out) = args.paths_out {
        let refused: std::collections::BTreeSet<usize> =
            report.failures.iter().map(|f| f.index).collect();
        let acknowledged = names
            .iter()
            .enumerate()
            .filter(|(i, _)| !refused.contains(i))
            .map(|(_, name)| name.as_str());
        write_paths(&out, acknowledged)?;
    }
    Ok(if report.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn seed(args: SeedArgs) -> anyhow::Result<ExitCode> {
    let target = PublishTarget::new(&args.registry.url, &args.registry.token)?;
    let plan = SeedPlan {
        packages: args.packages,
        versions: args.versions,
        prefix: args.prefix,
    };
    let waves = seed_waves(&plan);
    let total: usize = waves.iter().map(Vec::len).sum();
    eprintln!(
        "seeding {} packages × {} versions ({total} publishes) in {} waves",
        plan.packages,
        plan.versions,
        waves.len()
    );
    let started = Instant::now();
    for (number, wave) in waves.iter().enumerate() {
        let bodies = wave
            .iter()
            .map(SyntheticCrate::publish_body)
            .collect::<Result<Vec<Bytes>, _>>()?;
        let report = publish_all(&target, bodies, args.concurrency).await?;
        eprint!(
            "{}",
            describe(&format!("seed wave {}", number + 1), &report)
        );
        if let Some(failure) = report.failures.first() {
            bail!(
                "seeding stopped: `{} {}` got {:?}: {}",
                wave[failure.index].name,
                wave[failure.index].version,
                failure.status,
                failure.detail
            );
        }
    }
    println!(
        "seeded {total} versions of {} packages in {:.1} s",
        plan.packages,
        started.elapsed().as_secs_f64()
    );
    if let Some(out) = args.paths_out {
        let names: Vec<String> = (0..plan.packages).map(|i| plan.package_name(i)).collect();
        write_paths(&out, names.iter().map(String::as_str))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Publishes every body of a generated ecosystem (the registry does not need dependencies
/// to exist first, so they go out concurrently), then yanks the listed versions.
async fn publish_ecosystem(args: EcosystemArgs) -> anyhow::Result<ExitCode> {
    let target = PublishTarget::new(&args.registry.url, &args.registry.token)?;
    let folder = args.dir.join("publish");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&folder)
        .with_context(|| format!("reading `{}`", folder.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading `{}`", folder.display()))?;
    paths.retain(|path| path.extension().is_some_and(|ext| ext == "body"));
    paths.sort();
    let bodies = paths
        .iter()
        .map(|path| {
            std::fs::read(path)
                .map(Bytes::from)
                .with_context(|| format!("reading `{}`", path.display()))
        })
        .collect::<anyhow::Result<Vec<Bytes>>>()?;
    let report = publish_all(&target, bodies, args.concurrency).await?;
    print!("{}", describe("publish-ecosystem", &report));
    if let Some(failure) = report.failures.first() {
        bail!(
            "`{}` got {:?}: {}",
            paths[failure.index].display(),
            failure.status,
            failure.detail
        );
    }
    let list_path = args.dir.join("yanked.txt");
    let list = std::fs::read_to_string(&list_path)
        .with_context(|| format!("reading `{}`", list_path.display()))?;
    let mut yanked = 0;
    for line in list.lines().filter(|line| !line.trim().is_empty()) {
        let Some((name, version)) = line.split_once(' ') else {
            bail!("`{}`: `{line}` is not `NAME VERSION`", list_path.display());
        };
        match target.yank(name, version).await {
            Ok(200) => yanked += 1,
            Ok(status) => bail!("yanking {name} {version} got HTTP {status}"),
            Err(error) => bail!("yanking {name} {version}: {error}"),
        }
    }
    println!("yanked {yanked} versions");
    Ok(ExitCode::SUCCESS)
}

/// Reads index files for a while; prints the counts and a `RESULT` line (exit status 0 even
/// when requests failed: counting them is the point).
async fn read_load(args: ReadLoadArgs) -> anyhow::Result<ExitCode> {
    let list = std::fs::read_to_string(&args.paths)
        .with_context(|| format!("reading `{}`", args.paths.display()))?;
    let paths: Vec<String> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if paths.is_empty() {
        bail!("`{}` lists no index paths", args.paths.display());
    }
    let report = wharf_bench::read_for(
        &args.url,
        paths,
        args.concurrency,
        Duration::from_secs(args.seconds),
    )
    .await?;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (p50, p99) = report
        .latency
        .map_or((0.0, 0.0), |l| (ms(l.p50), ms(l.p99)));
    for example in &report.examples {
        println!("  failed: {example}");
    }
    println!(
        "RESULT what=read_load total={} failed={} seconds={:.3} per_second={:.1} p50_ms={p50:.2} p99_ms={p99:.2}",
        report.total,
        report.failed,
        report.elapsed.as_secs_f64(),
        f64::from(u32::try_from(report.total).unwrap_or(u32::MAX))
            / report.elapsed.as_secs_f64().max(f64::EPSILON)
    );
    Ok(ExitCode::SUCCESS)
}

async fn fetch(args: FetchArgs) -> anyhow::Result<ExitCode> {
    let list = std::fs::read_to_string(&args.paths)
        .with_context(|| format!("reading `{}`", args.paths.display()))?;
    let paths: Vec<String> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let started = Instant::now();
    let files = fetch_index_files(&args.url, &paths, args.out.as_deref(), args.concurrency).await?;
    let mut text = String::new();
    for file in &files {
        let _ = writeln!(text, "{}\t{}", file.path, file.etag);
    }
    std::fs::write(&args.etags_out, text)
        .with_context(|| format!("writing `{}`", args.etags_out.display()))?;
    let bytes: usize = files.iter().map(|f| f.len).sum();
    println!(
        "fetched {} index files ({bytes} bytes, {} on average) from {} in {:.2} s",
        files.len(),
        bytes.checked_div(files.len()).unwrap_or(0),
        args.url,
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes the index path of each name, one per line.
fn write_paths<'a>(out: &Path, names: impl Iterator<Item = &'a str>) -> anyhow::Result<()> {
    let mut text = String::new();
    for name in names {
        let _ = writeln!(text, "{}", index_path(name));
    }
    std::fs::write(out, text).with_context(|| format!("writing `{}`", out.display()))
}

/// A human summary followed by one `RESULT key=value …` line for scripts.
fn describe(what: &str, report: &PublishReport) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{what}: {} of {} acknowledged in {:.2} s with {} publisher(s): {:.1} publishes/s",
        report.succeeded,
        report.attempted,
        report.elapsed.as_secs_f64(),
        report.concurrency,
        report.per_second()
    );
    if let Some(l) = report.latency {
        let _ = writeln!(
            out,
            "  latency: min {:.2} ms, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(l.min),
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.max)
        );
    }
    let _ = writeln!(out, "  non-200 answers: {}", report.failures.len());
    for failure in report.failures.iter().take(5) {
        let _ = writeln!(
            out,
            "    #{} → {}: {}",
            failure.index,
            failure
                .status
                .map_or_else(|| "no answer".to_owned(), |s| s.to_string()),
            failure.detail
        );
    }
    let (p50, p99) = report
        .latency
        .map_or((0.0, 0.0), |l| (ms(l.p50), ms(l.p99)));
    let _ = writeln!(
        out,
        "RESULT what={} count={} concurrency={} seconds={:.3} per_second={:.1} p50_ms={p50:.2} p99_ms={p99:.2} non_200={}",
        what.replace(' ', "_"),
        report.attempted,
        report.concurrency,
        report.elapsed.as_secs_f64(),
        report.per_second(),
        report.failures.len()
    );
    out
}

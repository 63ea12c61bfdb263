//! `wharf-install-bench`: how often plugin installs succeed through a faulting network.
//!
//! Publishes an ecosystem (generated from a seed, or the publish bodies of a directory, e.g.
//! what `gen-ecosystem` writes, yanking what its `yanked.txt` lists) to
//! a registry (a running one given by `--registry` and `--token`, else a `wharf serve`
//! started for the run), puts a fault proxy in front of it (`--fault-share` of requests get a
//! reset, 503, 429, a cut body or a stall), and sends `--requests` random install requests
//! (a random host API version, 1–8 plugins mostly among those with a version for it) through it, with Wharf's installer and
//! then with a greedy one (newest compatible first, no backtracking, no retries). Each request
//! is judged satisfiable or not by exhaustive search, without any resolver. Prints, for each
//! installer, the share of satisfiable requests installed, the share of unsatisfiable ones
//! refused with an explanation naming a blocking package, failures and wall time; the first
//! line is `install success: NN.N %` (Wharf's installer).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom as _;
use rand::{Rng as _, SeedableRng as _};
use semver::{Version, VersionReq};
use wharf_bench::install_bench::ecosystem::{Ecosystem, HOST_API};
use wharf_bench::install_bench::greedy::{Greedy, GreedyOutcome};
use wharf_bench::install_bench::satisfy::{Graph, Satisfiable, satisfiable};
use wharf_client::ClientOptions;
use wharf_client::install::{InstallError, Installer, PackageRequest};
use wharf_e2e_tests::TestRegistry;
use wharf_e2e_tests::fault_proxy::{FaultConfig, FaultProxy};

/// Measure install success through a faulting proxy.
#[derive(Debug, Parser)]
#[command(name = "wharf-install-bench", version, about, long_about = None)]
struct Args {
    /// A running registry (`http://host:port`); without it a `wharf serve` is started.
    #[arg(long, requires = "token")]
    registry: Option<String>,
    /// A token of the running registry allowed to publish.
    #[arg(long, env = "WHARF_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Publish the `*.publish` / `*.body` files of this directory (or of its `publish/`, as
    /// `gen-ecosystem` writes it; file-name order, then the yanks of `yanked.txt`) instead
    /// of a generated ecosystem.
    #[arg(long, value_name = "DIR")]
    ecosystem_dir: Option<PathBuf>,
    /// Also write the ecosystem published as `*.publish` files into this directory.
    #[arg(long, value_name = "DIR")]
    write_ecosystem: Option<PathBuf>,
    /// Install requests to send.
    #[arg(long, default_value_t = 1000)]
    requests: usize,
    /// Share of requests the proxy hits with a fault.
    #[arg(long, default_value_t = 0.05)]
    fault_share: f64,
    /// Seed of the ecosystem, the requests and the faults.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Requests installed at once.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Both installers give up on a request that receives nothing for this long.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    stall_timeout: Duration,
}

/// One install request.
#[derive(Debug, Clone)]
struct Request {
    packages: Vec<(String, VersionReq)>,
    host: Version,
    judged: Satisfiable,
}

/// How one install ended, for either installer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Installed,
    /// Refused as unsatisfiable; whether the explanation names a blocking package, and the
    /// explanation.
    Refused {
        names_blocker: bool,
        why: String,
    },
    /// Anything else (network, integrity), by error code.
    Failed(String),
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let ecosystem = match &args.ecosystem_dir {
        Some(dir) => Ecosystem::from_dir(dir)?,
        None => Ecosystem::generate(args.seed),
    };
    if let Some(dir) = &args.write_ecosystem {
        ecosystem.write_dir(dir)?;
    }
    let mut started = None;
    let (base, token) = if let (Some(url), Some(token)) = (&args.registry, &args.token) {
        (url.trim_end_matches('/').to_owned(), token.clone())
    } else {
        let registry = TestRegistry::start();
        let pair = (registry.url(), registry.admin_token.clone());
        started = Some(registry);
        pair
    };
    publish(&ecosystem, &base, &token)?;
    if let Some(registry) = &started {
        registry.settle();
    } else {
        std::thread::sleep(Duration::from_secs(1));
    }
    let graph = ecosystem.graph();
    let requests = requests(&ecosystem, &graph, args.requests, args.seed);
    let mut faults = FaultConfig::new(args.fault_share, args.seed);
    faults.stall = Duration::from_secs(40);
    let proxy = FaultProxy::start(&base, faults);
    let temp = tempfile::tempdir()?;

    let index_url = proxy.index_url();
    let stall = args.stall_timeout;
    let start = Instant::now();
    let wharf = run_all(&requests, args.workers, |n, request| {
        wharf_install(
            &graph,
            &index_url,
            &temp.path().join(format!("w{n}")),
            request,
            stall,
        )
    });
    let wharf_wall = start.elapsed();
    let wharf_faults = proxy.faults();
    let start = Instant::now();
    let greedy = run_all(&requests, args.workers, |_, request| {
        greedy_install(&index_url, request, stall)
    });
    let greedy_wall = start.elapsed();

    let wharf_report = summarise(&requests, &wharf);
    // Requests the search found a solution for but the installer refused, for a look.
    for (request, outcome) in requests
        .iter()
        .zip(&wharf)
        .filter(|(request, outcome)| {
            request.judged == Satisfiable::Yes && matches!(outcome, Outcome::Refused { .. })
        })
        .take(3)
    {
        if let Outcome::Refused { why, .. } = outcome {
            eprintln!(
                "refused though satisfiable: host {} {:?}\n{why}",
                request.host, request.packages
            );
        }
    }
    println!("install success: {:.1} %", wharf_report.success * 100.0);
    println!(
        "ecosystem: {} releases, {} plugins; {} requests: {} satisfiable, {} unsatisfiable, {} undecided; proxy: {:.1} % faults, {} of {} requests hit",
        ecosystem.releases.len(),
        ecosystem.plugins().len(),
        requests.len(),
        count(&requests, Satisfiable::Yes),
        count(&requests, Satisfiable::No),
        count(&requests, Satisfiable::Unknown),
        args.fault_share * 100.0,
        proxy.faults(),
        proxy.requests(),
    );
    print_report("wharf ", &wharf_report, wharf_wall);
    print_report("greedy", &summarise(&requests, &greedy), greedy_wall);
    println!(
        "(faults during the wharf phase: {wharf_faults}; stall timeout {}; {} workers; seed {})",
        humantime::format_duration(stall),
        args.workers,
        args.seed
    );
    if wharf_report.installed_unsatisfiable > 0 {
        bail!(
            "{} requests judged unsatisfiable were installed",
            wharf_report.installed_unsatisfiable
        );
    }
    Ok(())
}

fn publish(ecosystem: &Ecosystem, base: &str, token: &str) -> anyhow::Result<()> {
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::blocking::Client::new();
    for release in &ecosystem.releases {
        let response = http
            .put(format!("{base}/api/v1/crates/new"))
            .header("Authorization", token)
            .body(release.body.clone())
            .send()
            .with_context(|| format!("publishing {} {}", release.name, release.version))?;
        let status = response.status();
        let text = response.text().unwrap_or_default();
        if !status.is_success() && !text.contains("already") {
            bail!(
                "publishing {} {}: HTTP {status}: {text}",
                release.name,
                release.version
            );
        }
    }
    for (name, version) in &ecosystem.yanked {
        let response = http
            .delete(format!("{base}/api/v1/crates/{name}/{version}/yank"))
            .header("Authorization", token)
            .send()
            .with_context(|| format!("yanking {name} {version}"))?;
        if !response.status().is_success() {
            bail!("yanking {name} {version}: HTTP {}", response.status());
        }
    }
    Ok(())
}

/// `count` random requests: a random host API version, then 1–8 distinct plugins, each
/// drawn (nine times in ten) from those with a version for that host or (else) from all, with
/// any version or (one time in five) a caret on one of its majors.
fn requests(ecosystem: &Ecosystem, graph: &Graph, count: usize, seed: u64) -> Vec<Request> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let plugins: Vec<String> = ecosystem
        .plugins()
        .into_iter()
        .filter(|name| graph.contains_key(name))
        .collect();
    let hosts = ecosystem.host_versions();
    (0..count)
        .map(|_| {
            let host = hosts.choose(&mut rng).expect("a host API version").clone();
            let fitting: Vec<&String> = plugins
                .iter()
                .filter(|name| {
                    graph[name.as_str()].iter().any(|node| {
                        node.deps
                            .iter()
                            .any(|(dep, req)| dep == HOST_API && req.matches(&host))
                    })
                })
                .collect();
            let size = rng.random_range(1..=8usize.min(plugins.len()));
            let mut packages: Vec<(String, VersionReq)> = Vec::new();
            while packages.len() < size {
                let name = if fitting.is_empty() || rng.random_range(0..10) == 0 {
                    plugins.choose(&mut rng).expect("a plugin")
                } else {
                    fitting.choose(&mut rng).expect("a fitting plugin")
                };
                if packages.iter().any(|(p, _)| p == name) {
                    continue;
                }
                let req = if rng.random_range(0..5) == 0 {
                    let versions = &graph[name.as_str()];
                    let major = versions[rng.random_range(0..versions.len())].version.major;
                    format!("^{major}").parse().expect("a caret requirement")
                } else {
                    VersionReq::STAR
                };
                packages.push((name.clone(), req));
            }
            let judged = satisfiable(graph, HOST_API, &host, &packages);
            Request {
                packages,
                host,
                judged,
            }
        })
        .collect()
}

fn run_all(
    requests: &[Request],
    workers: usize,
    install: impl Fn(usize, &Request) -> Outcome + Sync,
) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(vec![None; requests.len()]);
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let Some(request) = requests.get(n) else {
                        break;
                    };
                    let outcome = install(n, request);
                    results.lock().expect("no worker panics holding it")[n] = Some(outcome);
                }
            });
        }
    });
    results
        .into_inner()
        .expect("no worker panics holding it")
        .into_iter()
        .map(|o| o.expect("every request ran"))
        .collect()
}

fn wharf_install(
    graph: &Graph,
    index_url: &str,
    dir: &std::path::Path,
    request: &Request,
    stall: Duration,
) -> Outcome {
    let packages: Vec<PackageRequest> = request
        .packages
        .iter()
        .map(|(name, req)| PackageRequest {
            name: name.clone(),
            requirement: req.to_string(),
        })
        .collect();
    let installer = Installer::new(dir)
        .index_url(index_url)
        .host_api(request.host.clone())
        .client_options(ClientOptions {
            stall_timeout: stall,
            ..ClientOptions::default()
        });
    let outcome = match installer.install(&packages) {
        Ok(_) => Outcome::Installed,
        Err(InstallError::IncompatibleHostApi(why) | InstallError::Unresolvable(why)) => {
            // A package of the ecosystem other than the host API: a plugin or a library
            // whose versions stand in the way.
            let names_blocker = why
                .involved_packages()
                .iter()
                .any(|name| name != HOST_API && graph.contains_key(name));
            Outcome::Refused {
                names_blocker,
                why: why.render(),
            }
        }
        Err(other) => Outcome::Failed(format!("{}: {other}", other.code())),
    };
    let _ = std::fs::remove_dir_all(dir);
    outcome
}

fn greedy_install(index_url: &str, request: &Request, stall: Duration) -> Outcome {
    let mut greedy = match Greedy::new(index_url, stall) {
        Ok(greedy) => greedy,
        Err(e) => return Outcome::Failed(e),
    };
    match greedy.install(&request.packages, &request.host) {
        GreedyOutcome::Installed => Outcome::Installed,
        GreedyOutcome::Refused(why) => Outcome::Refused {
            why,
            names_blocker: true,
        },
        GreedyOutcome::Failed(e) => Outcome::Failed(format!("network: {e}")),
    }
}

#[derive(Debug)]
struct Summary {
    satisfiable: usize,
    installed: usize,
    success: f64,
    unsatisfiable: usize,
    refused_named: usize,
    installed_unsatisfiable: usize,
    refused_satisfiable: usize,
    failed: BTreeMap<String, usize>,
}

fn summarise(requests: &[Request], outcomes: &[Outcome]) -> Summary {
    let mut s = Summary {
        satisfiable: 0,
        installed: 0,
        success: 0.0,
        unsatisfiable: 0,
        refused_named: 0,
        installed_unsatisfiable: 0,
        refused_satisfiable: 0,
        failed: BTreeMap::new(),
    };
    for (request, outcome) in requests.iter().zip(outcomes) {
        match (request.judged, outcome) {
            (Satisfiable::Yes, Outcome::Installed) => s.installed += 1,
            (Satisfiable::Yes, Outcome::Refused { .. }) => s.refused_satisfiable += 1,
            (Satisfiable::No, Outcome::Installed) => s.installed_unsatisfiable += 1,
            (
                Satisfiable::No,
                Outcome::Refused {
                    names_blocker: true,
                    ..
                },
            ) => s.refused_named += 1,
            (_, Outcome::Failed(reason)) => {
                let kind = reason.split(':').next().unwrap_or_default().to_owned();
                *s.failed.entry(kind).or_default() += 1;
            }
            _ => {}
        }
        match request.judged {
            Satisfiable::Yes => s.satisfiable += 1,
            Satisfiable::No => s.unsatisfiable += 1,
            Satisfiable::Unknown => {}
        }
    }
    s.success = ratio(s.installed, s.satisfiable);
    s
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let r = part as f64 / whole as f64;
    r
}

fn count(requests: &[Request], judged: Satisfiable) -> usize {
    requests.iter().filter(|r| r.judged == judged).count()
}

fn print_report(label: &str, s: &Summary, wall: Duration) {
    println!(
        "{label}: installed {}/{} satisfiable ({:.1} %); refused {}/{} unsatisfiable naming a blocking package ({:.1} %); refused satisfiable {}; installed unsatisfiable {}; failed {:?}; wall {:.1} s",
        s.installed,
        s.satisfiable,
        s.success * 100.0,
        s.refused_named,
        s.unsatisfiable,
        ratio(s.refused_named, s.unsatisfiable) * 100.0,
        s.refused_satisfiable,
        s.installed_unsatisfiable,
        s.failed,
        wall.as_secs_f64(),
    );
}

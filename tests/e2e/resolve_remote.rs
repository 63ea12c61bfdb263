//! `wharf resolve --index-url`: the real binary resolving over HTTP from a real `wharf serve`
//! gives exactly what `--index-dir` gives on the server's own index files, and over HTTPS
//! (through a TLS-terminating proxy) exactly what it gives over HTTP; with `--cache-dir`, a
//! second run revalidates every index file (304) and a newly published version still shows.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wharf_e2e_tests::upload::publish_body_with_deps;
use wharf_e2e_tests::{TestRegistry, TestResult, describe, wharf_binary};

use crate::tls_proxy::TlsProxy;
use wharf_e2e_tests::fault_proxy::{FaultConfig, FaultProxy};

/// Normal dependencies as `(package, requirement)`.
type Deps = &'static [(&'static str, &'static str)];

/// Packages, versions and dependencies published in this order.
const ECOSYSTEM: &[(&str, &str, Deps)] = &[
    ("rr-base", "1.0.0", &[]),
    ("rr-base", "1.1.0", &[]),
    ("rr-base", "1.2.0", &[]),
    ("rr-util", "0.3.0", &[("rr-base", "^1")]),
    ("rr-util", "0.3.1", &[("rr-base", "^1.1")]),
    ("rr-log", "2.0.0", &[("rr-base", "^1.0")]),
    ("RR-Mixed", "1.0.0", &[("rr-base", "^1")]),
    (
        "rr-core",
        "1.0.0",
        &[("rr-util", "^0.3"), ("rr-log", "^2"), ("RR-Mixed", "^1")],
    ),
];

/// Publishes [`ECOSYSTEM`] over HTTP with the admin token and yanks `rr-base` 1.2.0.
fn publish_ecosystem(registry: &TestRegistry) -> TestResult {
    let http = registry.http();
    let base = registry.url();
    for (name, version, deps) in ECOSYSTEM {
        let published = http
            .put(format!("{base}/api/v1/crates/new"))
            .header("Authorization", &registry.admin_token)
            .body(publish_body_with_deps(name, version, deps))
            .send()?;
        assert_eq!(
            published.status(),
            200,
            "{name} {version}: {}",
            published.text()?
        );
    }
    let yanked = http
        .delete(format!("{base}/api/v1/crates/rr-base/1.2.0/yank"))
        .header("Authorization", &registry.admin_token)
        .send()?;
    assert_eq!(yanked.status(), 200, "{}", yanked.text()?);
    Ok(())
}

/// A root manifest with `deps` (`name = "requirement"` lines) in the registry's data dir.
fn manifest(registry: &TestRegistry, label: &str, deps: &str) -> TestResult<PathBuf> {
    let path = registry.data_dir().join(format!("{label}.toml"));
    std::fs::write(
        &path,
        format!("[package]\nname = \"{label}\"\nversion = \"0.1.0\"\n[dependencies]\n{deps}"),
    )?;
    Ok(path)
}

/// Runs `wharf resolve` with `args` after `--manifest`, without any token from the outside.
fn wharf_resolve(manifest: &Path, args: &[&str], token: Option<&str>) -> TestResult<Output> {
    let mut command = Command::new(wharf_binary());
    command
        .arg("resolve")
        .arg("--manifest")
        .arg(manifest)
        .args(args)
        .env_remove("WHARF_TOKEN")
        .env_remove("WHARF_CA_CERT")
        .env_remove("WHARF_CACHE_DIR");
    if let Some(token) = token {
        command.env("WHARF_TOKEN", token);
    }
    Ok(command.output()?)
}

fn stdout_of(output: &Output) -> String {
    assert!(output.status.success(), "{}", describe(output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The JSON and Cargo.lock output of `--index-dir` on the server's own files.
fn local_resolutions(registry: &TestRegistry, manifest: &Path) -> TestResult<[String; 2]> {
    // The server writes index files behind its answers: wait for them.
    registry.settle();
    let dir = registry.data_dir().join("index");
    let dir = dir.to_str().expect("a UTF-8 temp path");
    let json = stdout_of(&wharf_resolve(manifest, &["--index-dir", dir], None)?);
    let lock = stdout_of(&wharf_resolve(
        manifest,
        &["--index-dir", dir, "--format", "cargo-lock"],
        None,
    )?);
    Ok([json, lock])
}

#[test]
fn resolving_over_http_matches_the_index_dir_and_skips_yanked_versions() -> TestResult {
    let registry = TestRegistry::start();
    publish_ecosystem(&registry)?;
    let manifest = manifest(&registry, "app", "rr-core = \"1\"\nrr-util = \"0.3\"\n")?;
    let [local_json, local_lock] = local_resolutions(&registry, &manifest)?;
    let url = registry.index_url();
    for prefetch in ["0", "8"] {
        let remote = wharf_resolve(
            &manifest,
            &["--index-url", &url, "--prefetch", prefetch],
            None,
        )?;
        assert_eq!(stdout_of(&remote), local_json, "--prefetch {prefetch}");
    }
    // The bare URL without `sparse+` and the trailing slash works too.
    let bare = format!("{}/index", registry.url());
    let remote_lock = wharf_resolve(
        &manifest,
        &["--index-url", &bare, "--format", "cargo-lock"],
        None,
    )?;
    assert_eq!(stdout_of(&remote_lock), local_lock);

    let resolution: serde_json::Value = serde_json::from_str(&local_json)?;
    let picked: Vec<String> = resolution["packages"]
        .as_array()
        .expect("a package list")
        .iter()
        .map(|package| format!("{} {}", package["name"], package["version"]))
        .collect();
    // rr-base 1.2.0 is yanked, so 1.1.0 is the newest usable version.
    assert!(
        picked.contains(&r#""rr-base" "1.1.0""#.to_owned()),
        "{picked:?}"
    );
    assert!(
        picked.contains(&r#""RR-Mixed" "1.0.0""#.to_owned()),
        "{picked:?}"
    );
    assert!(
        picked.contains(&r#""rr-util" "0.3.1""#.to_owned()),
        "{picked:?}"
    );
    assert_eq!(picked.len(), 5, "{picked:?}");
    Ok(())
}

/// How many resolutions run through the faulting proxy.
const FAULTED_RUNS: usize = 20;

#[test]
fn resolving_through_a_proxy_faulting_five_percent_gives_the_direct_answer() -> TestResult {
    let registry = TestRegistry::start();
    publish_ecosystem(&registry)?;
    let manifest = manifest(&registry, "app", "rr-core = \"1\"\nrr-util = \"0.3\"\n")?;
    let direct = stdout_of(&wharf_resolve(
        &manifest,
        &["--index-url", &registry.index_url()],
        None,
    )?);
    let proxy = FaultProxy::start(&registry.url(), FaultConfig::new(0.05, 3));
    for run in 0..FAULTED_RUNS {
        let output = Command::new(wharf_binary())
            .args(["resolve", "--manifest"])
            .arg(&manifest)
            .args(["--index-url", &proxy.index_url()])
            .env("WHARF_STALL_TIMEOUT", "1s")
            .env_remove("WHARF_TOKEN")
            .env_remove("WHARF_CACHE_DIR")
            .output()?;
        assert!(output.status.success(), "run {run}: {}", describe(&output));
        assert_eq!(String::from_utf8_lossy(&output.stdout), direct, "run {run}");
    }
    assert!(
        proxy.faults() > 0,
        "no request of {} was hit",
        proxy.requests()
    );
    Ok(())
}

#[test]
fn a_dependency_on_a_missing_package_exits_one_with_an_explanation() -> TestResult {
    let registry = TestRegistry::start();
    publish_ecosystem(&registry)?;
    let manifest = manifest(&registry, "lost", "rr-core = \"1\"\nrr-nowhere = \"1\"\n")?;
    let output = wharf_resolve(&manifest, &["--index-url", &registry.index_url()], None)?;
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("rr-nowhere"), "{stderr}");
    assert!(output.stdout.is_empty(), "{}", describe(&output));
    Ok(())
}

#[test]
fn an_auth_required_registry_needs_the_token() -> TestResult {
    let registry = TestRegistry::start_with(&["--auth-required"]);
    publish_ecosystem(&registry)?;
    let manifest = manifest(&registry, "private", "rr-core = \"1\"\n")?;
    let [local_json, _] = local_resolutions(&registry, &manifest)?;
    let url = registry.index_url();

    let anonymous = wharf_resolve(&manifest, &["--index-url", &url], None)?;
    assert!(!anonymous.status.success(), "{}", describe(&anonymous));
    let stderr = String::from_utf8_lossy(&anonymous.stderr);
    assert!(stderr.contains("requires authentication"), "{stderr}");
    assert!(
        stderr.contains("--token") && stderr.contains("WHARF_TOKEN"),
        "{stderr}"
    );

    let refused = wharf_resolve(&manifest, &["--index-url", &url], Some("wharf_not_a_token"))?;
    assert!(!refused.status.success(), "{}", describe(&refused));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("refused the token (HTTP 401"), "{stderr}");
    assert!(
        !stderr.contains("wharf_not_a_token"),
        "the token is never echoed: {stderr}"
    );

    let reader = registry.create_token("reader", &["read"]);
    let from_env = wharf_resolve(&manifest, &["--index-url", &url], Some(&reader))?;
    assert_eq!(stdout_of(&from_env), local_json);
    let from_flag = wharf_resolve(&manifest, &["--index-url", &url, "--token", &reader], None)?;
    assert_eq!(stdout_of(&from_flag), local_json);
    Ok(())
}

#[test]
fn resolving_over_https_with_the_ca_matches_http() -> TestResult {
    let registry = TestRegistry::start();
    publish_ecosystem(&registry)?;
    let manifest = manifest(&registry, "secure", "rr-core = \"1\"\n")?;
    registry.settle();
    let over_http = stdout_of(&wharf_resolve(
        &manifest,
        &["--index-url", &registry.index_url()],
        None,
    )?);
    let proxy = TlsProxy::start(registry.url().trim_start_matches("http://"))?;
    let ca = registry.data_dir().join("proxy-ca.pem");
    std::fs::write(&ca, proxy.ca_pem())?;
    let ca = ca.to_str().expect("a UTF-8 temp path");
    let url = proxy.index_url();

    let trusted = wharf_resolve(&manifest, &["--index-url", &url, "--ca-cert", ca], None)?;
    assert_eq!(stdout_of(&trusted), over_http);
    let from_env = Command::new(wharf_binary())
        .args(["resolve", "--index-url", &url, "--manifest"])
        .arg(&manifest)
        .env_remove("WHARF_TOKEN")
        .env("WHARF_CA_CERT", ca)
        .output()?;
    assert_eq!(stdout_of(&from_env), over_http);

    let untrusted = wharf_resolve(&manifest, &["--index-url", &url], None)?;
    assert!(!untrusted.status.success(), "{}", describe(&untrusted));
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    let config_url = url.trim_start_matches("sparse+").to_owned() + "config.json";
    assert!(
        stderr.contains(&format!("TLS certificate problem with `{config_url}`")),
        "{stderr}"
    );
    assert!(stderr.contains("--ca-cert"), "{stderr}");

    // A machine without system root certificates still resolves over HTTP, and over HTTPS
    // with the CA given.
    let no_roots = registry.data_dir().join("no-system-roots");
    std::fs::create_dir_all(&no_roots)?;
    let without_system_roots = |args: &[&str]| {
        Command::new(wharf_binary())
            .args(["resolve", "--manifest"])
            .arg(&manifest)
            .args(args)
            .env_remove("WHARF_TOKEN")
            .env_remove("WHARF_CA_CERT")
            .env("SSL_CERT_FILE", no_roots.join("missing.pem"))
            .env("SSL_CERT_DIR", &no_roots)
            .output()
    };
    let plain = without_system_roots(&["--index-url", &registry.index_url()])?;
    assert_eq!(stdout_of(&plain), over_http);
    let secure = without_system_roots(&["--index-url", &url, "--ca-cert", ca])?;
    assert_eq!(stdout_of(&secure), over_http);
    let untrusted = without_system_roots(&["--index-url", &url])?;
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");
    Ok(())
}

/// The server's `wharf_http_requests_total` for `route` and `status`.
fn answers(registry: &TestRegistry, route: &str, status: u16) -> TestResult<u64> {
    let metrics = registry
        .http()
        .get(format!("{}/metrics", registry.url()))
        .send()?
        .text()?;
    let key = format!("wharf_http_requests_total{{route=\"{route}\",status=\"{status}\"}} ");
    Ok(metrics
        .lines()
        .find_map(|line| line.strip_prefix(&key))
        .map_or(Ok(0), str::parse)?)
}

/// Index file answers and snapshot bin answers (the `log` route) with status 200, and index
/// file answers 304, so far.
fn counts(registry: &TestRegistry) -> TestResult<[u64; 3]> {
    Ok([
        answers(registry, "index_file", 200)?,
        answers(registry, "index_file", 304)?,
        answers(registry, "log", 200)?,
    ])
}

#[test]
fn a_cache_dir_uses_files_the_snapshot_lists_unchanged_and_still_sees_new_versions() -> TestResult {
    let registry = TestRegistry::start();
    publish_ecosystem(&registry)?;
    let manifest = manifest(&registry, "cached", "rr-core = \"1\"\n")?;
    registry.settle();
    let cache = registry.data_dir().join("client-cache");
    let cache = cache.to_str().expect("a UTF-8 temp path");
    let args = ["--index-url", &registry.index_url(), "--cache-dir", cache];
    // rr-core, rr-util, rr-log, RR-Mixed and rr-base.
    let files = 5;

    // Nothing cached: every file is fetched, no bin is needed.
    let [ok, not_modified, bins] = counts(&registry)?;
    let first = stdout_of(&wharf_resolve(&manifest, &args, None)?);
    let [ok_first, not_modified_first, bins_first] = counts(&registry)?;
    assert_eq!(
        [ok_first, not_modified_first, bins_first],
        [ok + files, not_modified, bins]
    );

    // Everything cached: the bin list and the bins of the five files (at most five, kept in
    // the cache), and no index file request at all.
    let second = stdout_of(&wharf_resolve(&manifest, &args, None)?);
    assert_eq!(second, first);
    let [ok, not_modified, after_second] = counts(&registry)?;
    assert_eq!([ok, not_modified], [ok_first, not_modified_first]);
    assert!(
        (bins + 2..=bins + 1 + files).contains(&after_second),
        "{bins} -> {after_second}"
    );

    // A third run against an unchanged index: one request, the bin list.
    let third = stdout_of(&wharf_resolve(&manifest, &args, None)?);
    assert_eq!(third, first);
    assert_eq!(counts(&registry)?, [ok, not_modified, after_second + 1]);

    // A new version changes rr-base's file and bin: the list, that bin, and that file (200).
    let published = registry
        .http()
        .put(format!("{}/api/v1/crates/new", registry.url()))
        .header("Authorization", &registry.admin_token)
        .body(publish_body_with_deps("rr-base", "1.3.0", &[]))
        .send()?;
    assert_eq!(published.status(), 200, "{}", published.text()?);
    registry.settle();
    let fourth = stdout_of(&wharf_resolve(&manifest, &args, None)?);
    assert!(
        fourth.contains(r#""name":"rr-base","version":"1.3.0""#),
        "{fourth}"
    );
    assert_eq!(
        counts(&registry)?,
        [ok + 1, not_modified, after_second + 1 + 2]
    );
    // The new file and bin replaced the entries: a fifth run needs the bin list only.
    let fifth = stdout_of(&wharf_resolve(&manifest, &args, None)?);
    assert_eq!(fifth, fourth);
    assert_eq!(
        counts(&registry)?,
        [ok + 1, not_modified, after_second + 1 + 2 + 1]
    );
    Ok(())
}

/// The async client on a tokio runtime feeds the resolver from a real `wharf serve` (the
/// resolver on its own thread, so a single-threaded runtime suffices) and selects exactly
/// what `wharf resolve --index-dir` selects from the server's files.
#[test]
fn the_async_source_on_tokio_resolves_as_the_index_dir_does() -> TestResult {
    let registry = TestRegistry::start();
    publish_ecosystem(&registry)?;
    let manifest = manifest(&registry, "app", "rr-core = \"1\"\nrr-util = \"0.3\"\n")?;
    let [local_json, _] = local_resolutions(&registry, &manifest)?;
    let root = wharf_resolver::RootManifest::from_path(&manifest)?;
    let url = registry.index_url();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (json, requests) = runtime.block_on(async move {
        let options = wharf_client::ClientOptions::default();
        let index = wharf_client::AsyncSparseIndex::connect(&url, None, &options).await?;
        let resolution = wharf_resolver::run_with_async_source(&index, move |source| {
            wharf_resolver::Resolver::new(source).resolve(&root)
        })
        .await?;
        Ok::<_, Box<dyn std::error::Error>>((resolution.to_json(), index.requests()))
    })?;
    assert_eq!(json + "\n", local_json);
    // `config.json` and each of the five packages' files, once.
    assert_eq!(requests, 6);
    Ok(())
}

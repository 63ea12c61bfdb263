//! `wharf install`, `update`, `remove` and `list` against a real `wharf serve`: sets for two
//! host API versions, `--locked` reproduction, refusals that leave the set in use alone
//! (incompatible host, tampered archive), crashes mid-download and mid-switch, concurrent
//! runs, and an install through a proxy that faults 5 % of requests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use wharf_e2e_tests::core_plugins::{CORE_PLUGINS, core_plugin_dir};
use wharf_e2e_tests::fault_proxy::{Fault, FaultConfig, FaultProxy};
use wharf_e2e_tests::upload::publish_body_with_deps;
use wharf_e2e_tests::{TestRegistry, TestResult, describe, wharf_binary};

/// Normal dependencies as `(package, requirement)`.
type Deps = &'static [(&'static str, &'static str)];

/// Two host API versions, a shared library and plugins for each.
const ECOSYSTEM: &[(&str, &str, Deps)] = &[
    ("host-api", "1.0.0", &[]),
    ("host-api", "2.0.0", &[]),
    ("util", "1.0.0", &[]),
    ("greeter", "1.0.0", &[("host-api", "^1"), ("util", "^1")]),
    ("greeter", "2.0.0", &[("host-api", "^2"), ("util", "^1")]),
    ("painter", "1.0.0", &[("host-api", "^2")]),
];

fn publish(registry: &TestRegistry, name: &str, version: &str, deps: Deps) -> TestResult {
    let response = registry
        .http()
        .put(format!("{}/api/v1/crates/new", registry.url()))
        .header("Authorization", &registry.admin_token)
        .body(publish_body_with_deps(name, version, deps))
        .send()?;
    assert_eq!(
        response.status(),
        200,
        "{name} {version}: {}",
        response.text()?
    );
    Ok(())
}

/// A registry with [`ECOSYSTEM`] published and its index files written.
fn registry() -> TestResult<TestRegistry> {
    registry_with(&[])
}

/// The same, with extra `serve` flags.
fn registry_with(flags: &[&str]) -> TestResult<TestRegistry> {
    let registry = TestRegistry::start_with(flags);
    for (name, version, deps) in ECOSYSTEM {
        publish(&registry, name, version, deps)?;
    }
    registry.settle();
    Ok(registry)
}

/// `wharf COMMAND ARGS --dir DIR`, without tokens or CA files from the outside.
fn wharf(command: &str, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(wharf_binary());
    cmd.arg(command)
        .args(args)
        .arg("--dir")
        .arg(dir)
        .env_remove("WHARF_TOKEN")
        .env_remove("WHARF_CA_CERT")
        .env_remove("WHARF_INSTALL_PAUSE_BEFORE_SWITCH");
    cmd
}

fn run(command: &str, dir: &Path, args: &[&str]) -> TestResult<Output> {
    Ok(wharf(command, dir, args).output()?)
}

fn ok(output: &Output) -> String {
    assert!(output.status.success(), "{}", describe(output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The refusal's exit code and stderr.
fn refused(output: &Output) -> (i32, String) {
    assert!(!output.status.success(), "{}", describe(output));
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn list(dir: &Path) -> TestResult<String> {
    Ok(ok(&run("list", dir, &[])?))
}

/// The set `DIR/current` points at.
fn current(dir: &Path) -> TestResult<PathBuf> {
    Ok(std::fs::read_link(dir.join("current"))?)
}

fn first_install(
    registry: &TestRegistry,
    dir: &Path,
    host: &str,
    packages: &[&str],
) -> TestResult<String> {
    let url = registry.index_url();
    let mut args = vec!["--index-url", url.as_str(), "--host-api", host];
    args.extend_from_slice(packages);
    Ok(ok(&run("install", dir, &args)?))
}

/// Waits until `condition` holds (a failed test after a minute).
fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < Duration::from_mins(1),
            "waited a minute for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill9(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn install_sets_for_two_host_api_versions() -> TestResult {
    let registry = registry()?;
    let temp = tempfile::tempdir()?;
    let old_host = temp.path().join("old-host");
    first_install(&registry, &old_host, "1.0.0", &["greeter"])?;
    assert_eq!(
        list(&old_host)?,
        "greeter 1.0.0 (requested *)\nutil 1.0.0\n"
    );
    let manifest = std::fs::read_to_string(old_host.join("current/greeter-1.0.0/Cargo.toml"))?;
    assert!(manifest.contains("name = \"greeter\""), "{manifest}");
    assert!(old_host.join("current/util-1.0.0/Cargo.toml").is_file());
    assert!(old_host.join("wharf.lock").is_file());
    let config = std::fs::read_to_string(old_host.join("wharf-install.toml"))?;
    assert!(config.contains("host-api = \"1.0.0\""), "{config}");

    let new_host = temp.path().join("new-host");
    first_install(&registry, &new_host, "2.0.0", &["greeter@2", "painter"])?;
    assert_eq!(
        list(&new_host)?,
        "greeter 2.0.0 (requested 2)\npainter 1.0.0 (requested *)\nutil 1.0.0\n"
    );
    // A later install needs neither the URL nor the host API again.
    let again = run("install", &old_host, &["util@1"])?;
    ok(&again);
    assert_eq!(
        list(&old_host)?,
        "greeter 1.0.0 (requested *)\nutil 1.0.0 (requested 1)\n"
    );
    Ok(())
}

#[test]
fn locked_reproduces_in_a_fresh_dir_update_moves_and_remove_drops() -> TestResult {
    let registry = registry()?;
    let temp = tempfile::tempdir()?;
    let first = temp.path().join("first");
    first_install(&registry, &first, "2.0.0", &["greeter", "painter"])?;
    publish(&registry, "util", "1.1.0", &[])?;
    registry.settle();

    // A fresh directory with the lock copied: `--locked` gives exactly the locked set.
    let fresh = temp.path().join("fresh");
    std::fs::create_dir_all(&fresh)?;
    std::fs::copy(first.join("wharf.lock"), fresh.join("wharf.lock"))?;
    let url = registry.index_url();
    let locked_args = [
        "--index-url",
        url.as_str(),
        "--host-api",
        "2.0.0",
        "--locked",
        "greeter",
        "painter",
    ];
    ok(&run("install", &fresh, &locked_args)?);
    assert_eq!(list(&fresh)?, list(&first)?);
    assert_eq!(
        std::fs::read_to_string(fresh.join("wharf.lock"))?,
        std::fs::read_to_string(first.join("wharf.lock"))?
    );

    // A lock whose checksum does not match the index is refused and changes nothing.
    let lock = std::fs::read_to_string(fresh.join("wharf.lock"))?;
    let line = lock
        .lines()
        .find(|line| line.starts_with("checksum"))
        .expect("the lock has checksums");
    std::fs::write(
        fresh.join("wharf.lock"),
        lock.replace(line, &format!("checksum = \"{}\"", "0".repeat(64))),
    )?;
    let before = current(&fresh)?;
    let (code, stderr) = refused(&run(
        "install",
        &fresh,
        &["--locked", "greeter", "painter"],
    )?);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.starts_with("error[lock-mismatch]: "), "{stderr}");
    assert!(stderr.contains("run without `--locked`"), "{stderr}");
    assert_eq!(current(&fresh)?, before);

    // `update` moves util to 1.1.0; `remove` drops greeter and util with it.
    let updated = ok(&run("update", &first, &[])?);
    assert!(updated.contains("`util` 1.0.0 -> 1.1.0"), "{updated}");
    assert_eq!(
        list(&first)?,
        "greeter 2.0.0 (requested *)\npainter 1.0.0 (requested *)\nutil 1.1.0\n"
    );
    ok(&run("remove", &first, &["greeter"])?);
    assert_eq!(list(&first)?, "painter 1.0.0 (requested *)\n");
    assert!(!first.join("current/greeter-2.0.0").exists());
    let sets = std::fs::read_dir(first.join(".wharf/sets"))?.count();
    assert_eq!(sets, 2, "the set in use and the one it replaced are kept");
    let (code, stderr) = refused(&run("remove", &first, &["greeter"])?);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("error[not-installed]: `greeter` is not installed"),
        "{stderr}"
    );
    Ok(())
}

#[test]
fn a_registry_that_requires_authentication_needs_the_token_for_index_and_downloads() -> TestResult {
    let registry = registry_with(&["--auth-required"])?;
    let temp = tempfile::tempdir()?;
    let dir = temp.path().join("plugins");
    let url = registry.index_url();
    let args = [
        "--index-url",
        url.as_str(),
        "--host-api",
        "2.0.0",
        "greeter",
    ];
    let (code, stderr) = refused(&run("install", &dir, &args)?);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.starts_with("error[index-failed]: "), "{stderr}");
    assert!(stderr.contains("requires authentication"), "{stderr}");
    let token = registry.create_token("reader", &["read"]);
    ok(&wharf("install", &dir, &args)
        .env("WHARF_TOKEN", token)
        .output()?);
    assert_eq!(list(&dir)?, "greeter 2.0.0 (requested *)\nutil 1.0.0\n");
    Ok(())
}

#[test]
fn an_incompatible_host_api_is_refused_with_the_explanation() -> TestResult {
    let registry = registry()?;
    let temp = tempfile::tempdir()?;
    let dir = temp.path().join("plugins");
    first_install(&registry, &dir, "1.0.0", &["greeter"])?;
    let before = (current(&dir)?, list(&dir)?);
    let (code, stderr) = refused(&run("install", &dir, &["painter"])?);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.starts_with("error[incompatible-host-api]: "),
        "{stderr}"
    );
    assert!(stderr.contains("painter"), "{stderr}");
    assert!(stderr.contains("^2"), "{stderr}");
    assert!(stderr.contains("1.0.0"), "{stderr}");
    assert_eq!((current(&dir)?, list(&dir)?), before);

    let (code, stderr) = refused(&run("install", &dir, &["no-such-plugin"])?);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("error[not-found]: no package named `no-such-plugin`"),
        "{stderr}"
    );
    let (code, stderr) = refused(&run("install", &temp.path().join("new"), &["greeter"])?);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("needs `--index-url URL` and `--host-api VERSION`"),
        "{stderr}"
    );
    Ok(())
}

/// The blob file of `cksum` in the server's data directory.
fn blob_file(registry: &TestRegistry, cksum: &str) -> Option<PathBuf> {
    let mut pending = vec![registry.data_dir().join("blobs")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).ok()?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.file_name().and_then(|n| n.to_str()) == Some(cksum) {
                return Some(path);
            }
        }
    }
    None
}

#[test]
fn a_tampered_archive_is_refused_and_the_previous_set_stays() -> TestResult {
    let registry = registry()?;
    let temp = tempfile::tempdir()?;
    let dir = temp.path().join("plugins");
    first_install(&registry, &dir, "2.0.0", &["painter"])?;
    let before = (current(&dir)?, list(&dir)?);
    let index = registry
        .http()
        .get(format!("{}/index/gr/ee/greeter", registry.url()))
        .send()?
        .text()?;
    let line = index
        .lines()
        .find(|l| l.contains("\"2.0.0\""))
        .expect("greeter 2.0.0 is published");
    let cksum = serde_json::from_str::<serde_json::Value>(line)?["cksum"]
        .as_str()
        .expect("a cksum")
        .to_owned();
    let blob = blob_file(&registry, &cksum).expect("the blob is on disk");
    let mut bytes = std::fs::read(&blob)?;
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&blob, bytes)?;

    let (code, stderr) = refused(&run("install", &dir, &["greeter"])?);
    assert_eq!(code, 5, "{stderr}");
    assert!(
        stderr.starts_with("error[digest-mismatch]: greeter 2.0.0 from "),
        "{stderr}"
    );
    assert!(stderr.contains(&cksum), "{stderr}");
    assert_eq!((current(&dir)?, list(&dir)?), before);
    assert!(dir.join("current/painter-1.0.0/Cargo.toml").is_file());
    Ok(())
}

#[test]
fn a_run_killed_mid_download_leaves_the_old_set_and_the_next_run_succeeds() -> TestResult {
    let registry = registry()?;
    let proxy = FaultProxy::start(&registry.url(), FaultConfig::none());
    let temp = tempfile::tempdir()?;
    let dir = temp.path().join("plugins");
    let url = proxy.index_url();
    ok(&run(
        "install",
        &dir,
        &["--index-url", &url, "--host-api", "2.0.0", "painter"],
    )?);
    let before = (current(&dir)?, list(&dir)?);

    proxy.hold("/blobs/");
    let mut child = wharf("install", &dir, &["greeter"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    wait_for("a download to start", || proxy.held() > 0);
    kill9(&mut child);
    assert_eq!((current(&dir)?, list(&dir)?), before);
    proxy.release();

    let out = ok(&run("install", &dir, &["greeter"])?);
    assert!(out.contains("greeter"), "{out}");
    assert_eq!(
        list(&dir)?,
        "greeter 2.0.0 (requested *)\npainter 1.0.0 (requested *)\nutil 1.0.0\n"
    );
    assert_eq!(std::fs::read_dir(dir.join(".wharf/staging"))?.count(), 0);
    Ok(())
}

#[test]
fn a_run_killed_mid_switch_leaves_the_old_set_and_the_next_run_cleans_up() -> TestResult {
    let registry = registry()?;
    let temp = tempfile::tempdir()?;
    let dir = temp.path().join("plugins");
    first_install(&registry, &dir, "2.0.0", &["painter"])?;
    let before = (current(&dir)?, list(&dir)?);
    let marker = temp.path().join("paused");
    let mut child = wharf("install", &dir, &["greeter"])
        .env("WHARF_INSTALL_PAUSE_BEFORE_SWITCH", &marker)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    wait_for("the run to reach the switch", || marker.exists());
    kill9(&mut child);
    assert_eq!((current(&dir)?, list(&dir)?), before);
    assert_eq!(
        std::fs::read_dir(dir.join(".wharf/sets"))?.count(),
        2,
        "the new set was complete"
    );

    ok(&run("install", &dir, &["greeter"])?);
    assert_eq!(
        list(&dir)?,
        "greeter 2.0.0 (requested *)\npainter 1.0.0 (requested *)\nutil 1.0.0\n"
    );
    // The unfinished set is gone; the one in use before the run is kept until the next one.
    let sets: Vec<PathBuf> = std::fs::read_dir(dir.join(".wharf/sets"))?
        .map(|entry| entry.map(|e| PathBuf::from(".wharf/sets").join(e.file_name())))
        .collect::<Result<_, _>>()?;
    assert_eq!(sets.len(), 2, "{sets:?}");
    assert!(sets.contains(&before.0), "{sets:?} {:?}", before.0);
    Ok(())
}

#[test]
fn a_second_concurrent_run_is_refused_or_waits_and_never_both_write() -> TestResult {
    let registry = registry()?;
    let proxy = FaultProxy::start(&registry.url(), FaultConfig::none());
    let temp = tempfile::tempdir()?;
    let dir = temp.path().join("plugins");
    let url = proxy.index_url();
    ok(&run(
        "install",
        &dir,
        &["--index-url", &url, "--host-api", "2.0.0", "painter"],
    )?);

    proxy.hold("/blobs/");
    let first = wharf("install", &dir, &["greeter"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    wait_for("the first run to download", || proxy.held() > 0);
    let (code, stderr) = refused(&run("install", &dir, &["util"])?);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.starts_with("error[dir-locked]: the install directory"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("pid {}", first.id())), "{stderr}");

    // With `--wait` the second run starts once the first is done, from its result.
    let waiting = wharf("install", &dir, &["--wait", "util"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    std::thread::sleep(Duration::from_millis(300));
    proxy.release();
    ok(&first.wait_with_output()?);
    ok(&waiting.wait_with_output()?);
    assert_eq!(
        list(&dir)?,
        "greeter 2.0.0 (requested *)\npainter 1.0.0 (requested *)\nutil 1.0.0 (requested *)\n"
    );
    Ok(())
}

#[test]
fn an_install_through_a_proxy_faulting_five_percent_succeeds() -> TestResult {
    let registry = registry()?;
    let mut config = FaultConfig::new(0.05, 7);
    config.stall = Duration::from_secs(40);
    let proxy = FaultProxy::start(&registry.url(), config);
    let temp = tempfile::tempdir()?;
    for round in 0..6 {
        let dir = temp.path().join(format!("plugins-{round}"));
        let url = proxy.index_url();
        ok(&run(
            "install",
            &dir,
            &[
                "--index-url",
                &url,
                "--host-api",
                "2.0.0",
                "--stall-timeout",
                "1s",
                "greeter",
                "painter",
            ],
        )?);
        assert_eq!(
            list(&dir)?,
            "greeter 2.0.0 (requested *)\npainter 1.0.0 (requested *)\nutil 1.0.0\n"
        );
    }
    Ok(())
}

#[test]
fn cut_and_stalled_bodies_are_retried() -> TestResult {
    let registry = registry()?;
    for kind in [
        Fault::TruncatedBody,
        Fault::Stall,
        Fault::Reset,
        Fault::TooManyRequests,
    ] {
        let mut config = FaultConfig::new(0.3, 11);
        config.kinds = vec![kind];
        let proxy = FaultProxy::start(&registry.url(), config);
        let temp = tempfile::tempdir()?;
        let dir = temp.path().join("plugins");
        let url = proxy.index_url();
        let output = run(
            "install",
            &dir,
            &[
                "--index-url",
                &url,
                "--host-api",
                "2.0.0",
                "--stall-timeout",
                "1s",
                "--retries",
                "10",
                "greeter",
                "painter",
            ],
        )?;
        assert!(output.status.success(), "{kind:?}: {}", describe(&output));
        assert!(proxy.faults() > 0, "{kind:?}: no request was hit");
    }
    Ok(())
}

#[test]
fn published_plugins_install_for_each_host_api_major() -> TestResult {
    let registry = TestRegistry::start();
    for (name, version) in CORE_PLUGINS {
        let published = Command::new(wharf_binary())
            .args(["plugin", "publish"])
            .arg(core_plugin_dir(name, version))
            .args([
                "--registry",
                &registry.index_url(),
                "--token",
                &registry.admin_token,
            ])
            .env_remove("WHARF_TOKEN")
            .output()?;
        ok(&published);
    }
    registry.settle();
    let temp = tempfile::tempdir()?;
    let wanted = [
        "approval-step",
        "webhook-trigger",
        "scheduler",
        "data-mapper",
    ];
    let old_host = temp.path().join("host-1.5");
    first_install(&registry, &old_host, "1.5.0", &wanted)?;
    assert_eq!(
        list(&old_host)?,
        "approval-step 1.0.0 (requested *)\ndata-mapper 1.3.0 (requested *)\nemail 1.4.0\n\
         http-client 1.4.0\nnotifications 1.0.0\nscheduler 1.0.0 (requested *)\n\
         webhook-trigger 1.1.0 (requested *)\n"
    );
    let manifest =
        std::fs::read_to_string(old_host.join("current/approval-step-1.0.0/plugin.toml"))?;
    assert!(manifest.contains("name = \"approval-step\""), "{manifest}");
    let new_host = temp.path().join("host-2.1");
    first_install(&registry, &new_host, "2.1.0", &wanted)?;
    assert_eq!(
        list(&new_host)?,
        "approval-step 2.0.0 (requested *)\ndata-mapper 1.3.0 (requested *)\nemail 2.0.0\n\
         http-client 2.0.0\nnotifications 2.0.0\nscheduler 1.0.0 (requested *)\n\
         webhook-trigger 2.0.0 (requested *)\n"
    );
    Ok(())
}

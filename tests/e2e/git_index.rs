//! The git export of the index (`--git-index`): real server, real git, real cargo fetching
//! the index as a git registry over smart HTTP.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use wharf_e2e_tests::{CargoEnv, CrateProject, TestRegistry, TestResult, describe};

const PUBLISH: [&str; 4] = ["publish", "--registry", "wharf", "--no-verify"];

fn git(dir: Option<&Path>, args: &[&str]) -> Output {
    let mut command = Command::new("git");
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    command
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs")
}

fn git_ok(dir: Option<&Path>, args: &[&str]) -> String {
    let output = git(dir, args);
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        describe(&output)
    );
    String::from_utf8(output.stdout).expect("git prints UTF-8")
}

fn repo(registry: &TestRegistry) -> PathBuf {
    registry.data_dir().join("git/index.git")
}

fn git_url(registry: &TestRegistry) -> String {
    format!("{}/git/index", registry.url())
}

/// The sparse index's bytes at `path` (`config.json` or a package's path).
fn sparse(registry: &TestRegistry, path: &str) -> Vec<u8> {
    let response = registry
        .http()
        .get(format!("{}/index/{path}", registry.url()))
        .send()
        .expect("the sparse index answers");
    assert_eq!(response.status(), 200, "GET /index/{path}");
    response.bytes().expect("a body").to_vec()
}

/// The bytes of `path` on the export's `main`, `None` when absent.
fn in_repo(repo: &Path, path: &str) -> Option<Vec<u8>> {
    let output = git(
        None,
        &[
            "--git-dir",
            repo.to_str().expect("UTF-8 path"),
            "show",
            &format!("main:{path}"),
        ],
    );
    output.status.success().then_some(output.stdout)
}

/// Waits (a minute at most) until the export, written behind the answers, holds the sparse
/// index's current file at `path`.
fn wait_for_git(registry: &TestRegistry, path: &str) {
    let expected = sparse(registry, path);
    let deadline = Instant::now() + Duration::from_mins(1);
    while in_repo(&repo(registry), path).as_deref() != Some(expected.as_slice()) {
        assert!(
            Instant::now() < deadline,
            "the git index did not catch up with `{path}` within a minute"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A cargo home whose `wharf-git` registry is the export, fetched by libgit2 or by the git
/// program.
fn cargo_on_git(registry: &TestRegistry, fetch_with_cli: bool) -> CargoEnv {
    let cargo = CargoEnv::new(&registry.index_url())
        .with_var("CARGO_NET_GIT_FETCH_WITH_CLI", fetch_with_cli.to_string());
    let config = cargo.home().join("config.toml");
    let mut text = std::fs::read_to_string(&config).expect("the cargo config exists");
    let _ = write!(
        text,
        "\n[registries.wharf-git]\nindex = \"{}\"\n",
        git_url(registry)
    );
    std::fs::write(&config, text).expect("writing the cargo config");
    cargo
}

fn consumer(work: &Path) -> PathBuf {
    CrateProject::new("git-consumer", "0.1.0")
        .dep("gitdep", r#"{ version = "1", registry = "wharf-git" }"#)
        .main("fn main() { println!(\"value={}\", gitdep::value()); }")
        .write(work)
}

fn locked_gitdep(project: &Path) -> String {
    let lock = std::fs::read_to_string(project.join("Cargo.lock")).expect("a Cargo.lock");
    let at = lock.find("name = \"gitdep\"").expect("gitdep is locked");
    lock[at..]
        .lines()
        .nth(1)
        .and_then(|line| line.strip_prefix("version = "))
        .expect("a version line")
        .trim_matches('"')
        .to_owned()
}

#[test]
fn cargo_builds_and_updates_from_the_git_index_with_libgit2_and_the_git_program() {
    let registry = TestRegistry::start_with(&["--git-index"]);
    let publisher = CargoEnv::new(&registry.index_url());
    publisher.login(&registry.admin_token);
    let work = publisher.work_dir().to_path_buf();
    let dep = CrateProject::new("gitdep", "1.0.0")
        .lib("pub fn value() -> u32 { 10 }")
        .write(&work);
    publisher.cargo_ok(&dep, &PUBLISH);
    wait_for_git(&registry, "gi/td/gitdep");

    let mut homes = Vec::new();
    for fetch_with_cli in [false, true] {
        let cargo = cargo_on_git(&registry, fetch_with_cli);
        let project = consumer(cargo.work_dir());
        let run = cargo.cargo_ok(&project, &["run", "--quiet"]);
        assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "value=10");
        homes.push((cargo, project));
    }

    // A new version shows up through `cargo update` once the export has committed it.
    let next = CrateProject::new("gitdep", "1.1.0")
        .lib("pub fn value() -> u32 { 11 }")
        .write(&work);
    publisher.cargo_ok(&next, &PUBLISH);
    wait_for_git(&registry, "gi/td/gitdep");
    for (cargo, project) in &homes {
        cargo.cargo_ok(project, &["update"]);
        assert_eq!(locked_gitdep(project), "1.1.0");
    }

    // After a squash, cargo's earlier fetches do not stand in the way of the new history.
    let squashed = registry.run_on_data(&["admin", "git-squash"], &[]);
    assert!(squashed.status.success(), "{}", describe(&squashed));
    let said = String::from_utf8_lossy(&squashed.stdout);
    assert!(
        said.contains("the earlier history is on branch snapshot-"),
        "{said}"
    );
    let last = CrateProject::new("gitdep", "1.2.0")
        .lib("pub fn value() -> u32 { 12 }")
        .write(&work);
    publisher.cargo_ok(&last, &PUBLISH);
    wait_for_git(&registry, "gi/td/gitdep");
    for (cargo, project) in &homes {
        cargo.cargo_ok(project, &["update"]);
        assert_eq!(locked_gitdep(project), "1.2.0");
        let run = cargo.cargo_ok(project, &["run", "--quiet"]);
        assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "value=12");
    }
    let heads = git_ok(None, &["ls-remote", "--heads", &git_url(&registry)]);
    assert!(heads.contains("refs/heads/main"), "{heads}");
    assert!(heads.contains("refs/heads/snapshot-"), "{heads}");
}

/// Every file of a checkout (outside `.git`), by path relative to it.
fn checkout_files(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("a readable checkout") {
            let path = entry.expect("an entry").path();
            if path.file_name().is_some_and(|name| name == ".git") {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, found);
            } else {
                let relative = path.strip_prefix(root).expect("inside the checkout");
                found.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut found = Vec::new();
    walk(root, root, &mut found);
    found.sort();
    found
}

#[test]
fn a_clone_equals_the_sparse_index_and_yanks_pushes_and_reconcile_follow_the_log() -> TestResult {
    let remotes = tempfile::tempdir()?;
    let remote = remotes.path().join("mirror.git");
    git_ok(
        None,
        &["init", "--bare", "--quiet", remote.to_str().expect("UTF-8")],
    );
    let remote_url = format!("file://{}", remote.display());
    let mut registry = TestRegistry::start_with(&["--git-index", "--git-push", &remote_url]);
    let names = ["a", "ab", "abc", "abcd", "Serde_Like"];
    for name in names {
        registry.publish_as_admin(name, "1.0.0");
    }
    let paths = ["1/a", "2/ab", "3/a/abc", "ab/cd/abcd", "se/rd/serde_like"];
    for path in paths {
        wait_for_git(&registry, path);
    }
    registry.yank_as_admin("abc", "1.0.0");
    wait_for_git(&registry, "3/a/abc");

    let clones = tempfile::tempdir()?;
    let clone = clones.path().join("index");
    git_ok(
        None,
        &[
            "clone",
            "--quiet",
            &git_url(&registry),
            clone.to_str().expect("UTF-8"),
        ],
    );
    let mut expected: Vec<String> = paths.iter().map(|p| (*p).to_owned()).collect();
    expected.push("config.json".to_owned());
    expected.sort();
    assert_eq!(checkout_files(&clone), expected);
    for path in &expected {
        assert_eq!(
            std::fs::read(clone.join(path))?,
            sparse(&registry, path),
            "{path}"
        );
    }
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(clone.join("config.json"))?)?;
    assert_eq!(
        config["dl"],
        format!("{}/blobs/sha256/{{sha256-checksum}}", registry.url())
    );
    let log = git_ok(Some(&clone), &["log", "--format=%an <%ae> %s"]);
    let newest = log.lines().next().unwrap_or_default();
    assert_eq!(newest, "Wharf <wharf@localhost> Yank abc 1.0.0");
    let body = git_ok(Some(&clone), &["log", "-1", "--format=%B"]);
    assert!(
        body.trim_end()
            .lines()
            .last()
            .unwrap_or_default()
            .starts_with("Wharf-Event: "),
        "{body}"
    );

    wait_for_mirror(&registry, &remote);
    registry.stop();
    reconcile_advances_and_rebuilds(&registry, &paths)?;
    Ok(())
}

/// Waits (a minute at most) until the mirror's `main` is the export's.
fn wait_for_mirror(registry: &TestRegistry, remote: &Path) {
    let local = git_ok(
        None,
        &[
            "--git-dir",
            repo(registry).to_str().expect("UTF-8"),
            "rev-parse",
            "main",
        ],
    );
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        let pushed = git(
            None,
            &[
                "--git-dir",
                remote.to_str().expect("UTF-8"),
                "rev-parse",
                "main",
            ],
        );
        if pushed.status.success() && pushed.stdout == local.as_bytes() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the mirror did not receive main within a minute"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// With the server stopped: reconcile brings a lagging export up to the log, and makes a
/// deleted one again.
fn reconcile_advances_and_rebuilds(registry: &TestRegistry, paths: &[&str]) -> TestResult {
    let repo_dir = repo(registry);
    let repo_arg = repo_dir.to_str().expect("UTF-8");
    git_ok(
        None,
        &[
            "--git-dir",
            repo_arg,
            "update-ref",
            "refs/heads/main",
            "main~1",
        ],
    );
    let reconciled = registry.run_on_data(&["admin", "reconcile"], &[]);
    assert!(reconciled.status.success(), "{}", describe(&reconciled));
    let said = String::from_utf8_lossy(&reconciled.stdout);
    assert!(
        said.contains("git index advanced: ") && said.contains(" Yank abc 1.0.0"),
        "{said}"
    );
    std::fs::remove_dir_all(&repo_dir)?;
    let rebuilt = registry.run_on_data(&["admin", "reconcile"], &[]);
    assert!(rebuilt.status.success(), "{}", describe(&rebuilt));
    let said = String::from_utf8_lossy(&rebuilt.stdout);
    assert!(said.contains("git index rebuilt: "), "{said}");
    for path in paths {
        let on_disk = std::fs::read(registry.data_dir().join("index").join(path))?;
        assert_eq!(in_repo(&repo_dir, path), Some(on_disk), "{path}");
    }
    Ok(())
}

#[test]
fn the_git_index_is_read_only_private_when_the_registry_is_and_absent_unless_turned_on()
-> TestResult {
    let plain = TestRegistry::start();
    let response = plain
        .http()
        .get(format!(
            "{}/info/refs?service=git-upload-pack",
            git_url(&plain)
        ))
        .send()?;
    assert_eq!(response.status(), 404);
    assert!(response.text()?.contains("git-index = true"));

    let registry = TestRegistry::start_with(&["--git-index", "--auth-required"]);
    registry.publish_as_admin("private", "1.0.0");
    let refs = format!("{}/info/refs?service=git-upload-pack", git_url(&registry));
    let anonymous = registry.http().get(&refs).send()?;
    assert_eq!(anonymous.status(), 401);
    assert!(
        anonymous.headers()["www-authenticate"]
            .to_str()?
            .starts_with("Basic ")
    );
    assert!(anonymous.text()?.contains("as the HTTP password"));
    let refused = git(None, &["ls-remote", &git_url(&registry)]);
    assert!(!refused.status.success(), "{}", describe(&refused));

    let with_token =
        git_url(&registry).replacen("://", &format!("://reader:{}@", registry.admin_token), 1);
    let deadline = Instant::now() + Duration::from_mins(1);
    while !git_ok(None, &["ls-remote", &with_token]).contains("refs/heads/main") {
        assert!(Instant::now() < deadline, "no main branch within a minute");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Pushing is refused before git sees the request, with a message saying why.
    let push = registry
        .http()
        .get(format!(
            "{}/info/refs?service=git-receive-pack",
            git_url(&registry)
        ))
        .header("Authorization", &registry.admin_token)
        .send()?;
    assert_eq!(push.status(), 405);
    assert!(push.text()?.contains("read-only"));
    let post = registry
        .http()
        .post(format!("{}/git-receive-pack", git_url(&registry)))
        .header("Authorization", &registry.admin_token)
        .send()?;
    assert_eq!(post.status(), 405);
    Ok(())
}

#[test]
fn a_failing_push_is_logged_and_retried_without_holding_up_publishes() -> TestResult {
    let remotes = tempfile::tempdir()?;
    let remote = remotes.path().join("late.git");
    let remote_url = format!("file://{}", remote.display());
    let registry = TestRegistry::start_with(&["--git-index", "--git-push", &remote_url]);
    let warning = registry.wait_for_log("git index push failed");
    assert!(warning.contains("late.git"), "{warning}");
    registry.publish_as_admin("during", "1.0.0");
    wait_for_git(&registry, "du/ri/during");

    // Once the remote exists, a retry delivers everything.
    git_ok(
        None,
        &["init", "--bare", "--quiet", remote.to_str().expect("UTF-8")],
    );
    wait_for_mirror(&registry, &remote);
    Ok(())
}

#[test]
fn cargo_fetches_a_private_git_index_with_the_token_from_a_git_credential_helper() -> TestResult {
    let registry = TestRegistry::start_with(&["--git-index", "--auth-required"]);
    let publisher = CargoEnv::new(&registry.index_url());
    publisher.login(&registry.admin_token);
    let dep = CrateProject::new("gitdep", "1.0.0")
        .lib("pub fn value() -> u32 { 7 }")
        .write(publisher.work_dir());
    publisher.cargo_ok(&dep, &PUBLISH);
    let reader = registry.create_token("reader", &["read"]);
    let http = registry.http();
    let deadline = Instant::now() + Duration::from_mins(1);
    while http
        .get(format!("{}/index/gi/td/gitdep", registry.url()))
        .header("Authorization", &reader)
        .send()?
        .status()
        != 200
    {
        assert!(
            Instant::now() < deadline,
            "gitdep is not served within a minute"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let expected = in_repo_wait(&registry);
    assert!(String::from_utf8_lossy(&expected).contains("\"vers\":\"1.0.0\""));

    for fetch_with_cli in [false, true] {
        // git's credential store gives the token as the password for the registry's host.
        let home = tempfile::tempdir()?;
        let store = home.path().join("git-credentials");
        std::fs::write(
            &store,
            format!(
                "{}\n",
                registry
                    .url()
                    .replacen("://", &format!("://reader:{reader}@"), 1)
            ),
        )?;
        std::fs::write(
            home.path().join(".gitconfig"),
            format!(
                "[credential]\n\thelper = store --file={}\n",
                store.display()
            ),
        )?;
        let cargo = cargo_on_git(&registry, fetch_with_cli)
            .with_var("HOME", home.path())
            .with_var("CARGO_REGISTRIES_WHARF_GIT_TOKEN", &reader);
        let project = consumer(cargo.work_dir());
        let run = cargo.cargo_ok(&project, &["run", "--quiet"]);
        assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "value=7");
    }
    Ok(())
}

/// Waits until the export holds gitdep's file, and returns it.
fn in_repo_wait(registry: &TestRegistry) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        if let Some(bytes) = in_repo(&repo(registry), "gi/td/gitdep") {
            return bytes;
        }
        assert!(
            Instant::now() < deadline,
            "gitdep is not in the git index within a minute"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

//! `wharf mirror sync` incremental and selective: a second sync fetches only what changed
//! and links the rest from the previous copy; `--include`, `--roots` and `--lockfile` choose
//! what is copied.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::process::{Command, Output};

use wharf_e2e_tests::fault_proxy::{FaultConfig, FaultProxy};
use wharf_e2e_tests::upload::{publish_body, publish_body_with_deps};
use wharf_e2e_tests::{TestRegistry, TestResult, describe, wharf_binary};
use wharf_index_format::index_path;

fn publish(registry: &TestRegistry, body: Vec<u8>) {
    let response = registry
        .http()
        .put(format!("{}/api/v1/crates/new", registry.url()))
        .header("Authorization", &registry.admin_token)
        .body(body)
        .send()
        .expect("publish answers");
    assert_eq!(response.status(), 200, "{:?}", response.text());
}

fn sync(registry: &TestRegistry, mirror: &Path, extra: &[&str]) -> Output {
    sync_from(&registry.index_url(), mirror, extra)
}

fn sync_from(index_url: &str, mirror: &Path, extra: &[&str]) -> Output {
    let output = Command::new(wharf_binary())
        .args(["mirror", "sync", "--from"])
        .arg(index_url)
        .arg("--data")
        .arg(mirror)
        .args(extra)
        .output()
        .expect("wharf runs");
    assert!(output.status.success(), "{}", describe(&output));
    output
}

/// Index files and blobs the upstream answered 200 so far.
fn served(registry: &TestRegistry) -> TestResult<(u64, u64)> {
    Ok((
        registry.metric(r#"wharf_http_requests_total{route="index_file",status="200"}"#)?,
        registry.metric(r#"wharf_http_requests_total{route="download",status="200"}"#)?,
    ))
}

/// `name → versions` of the copy's index files.
fn copied(mirror: &Path, names: &[&str]) -> Vec<(String, Vec<String>)> {
    names
        .iter()
        .filter_map(|name| {
            let text = std::fs::read_to_string(mirror.join("current/index").join(index_path(name)))
                .ok()?;
            let versions = text
                .lines()
                .map(|line| {
                    let entry: serde_json::Value = serde_json::from_str(line).expect("JSON");
                    entry["vers"].as_str().expect("a version").to_owned()
                })
                .collect();
            Some(((*name).to_owned(), versions))
        })
        .collect()
}

#[test]
fn a_second_sync_fetches_only_the_changed_file_and_its_new_blob() -> TestResult {
    let upstream = TestRegistry::start();
    for name in ["aa", "bbb", "cc", "dddd", "eeeee"] {
        publish(&upstream, publish_body(name, "1.0.0"));
    }
    upstream.settle();
    let dir = tempfile::tempdir()?;
    let mirror = dir.path().join("mirror");
    // Through a proxy that counts the paths asked.
    let proxy = FaultProxy::start(&upstream.url(), FaultConfig::none());
    sync_from(&proxy.index_url(), &mirror, &[]);
    let blob_inode = |mirror: &Path| -> TestResult<u64> {
        let text = std::fs::read_to_string(mirror.join("current/index/2/aa"))?;
        let entry: serde_json::Value = serde_json::from_str(text.lines().next().unwrap_or(""))?;
        let cksum = entry["cksum"].as_str().unwrap_or_default().to_owned();
        Ok(std::fs::metadata(mirror.join("current/blobs/sha256").join(cksum))?.ino())
    };
    let inode_before = blob_inode(&mirror)?;
    let before = served(&upstream)?;

    publish(&upstream, publish_body("cc", "1.1.0"));
    upstream.settle();
    let second = sync_from(&proxy.index_url(), &mirror, &[]);
    let after = served(&upstream)?;
    assert_eq!(
        after.0 - before.0,
        1,
        "only `cc`'s index file is fetched again"
    );
    assert_eq!(
        after.1 - before.1,
        1,
        "only the new version's blob is downloaded"
    );
    let said = String::from_utf8_lossy(&second.stdout);
    assert!(said.contains("(1 blobs downloaded, 5 reused)"), "{said}");
    assert!(
        said.contains("4 index files unchanged, 0 left out"),
        "{said}"
    );
    // Unchanged blobs are the store's files, neither linked again nor copied.
    assert_eq!(blob_inode(&mirror)?, inode_before);
    assert_eq!(
        std::fs::read(mirror.join("current/index/2/cc"))?,
        upstream
            .http()
            .get(format!("{}/index/2/cc", upstream.url()))
            .send()?
            .bytes()?
            .to_vec()
    );

    // Nothing changed upstream: no index file, bin or blob is fetched, and the copy served
    // stays the same directory. The bin list is asked once per sync: the signed head binds
    // it, and the listing starts from the verified list.
    let before = served(&upstream)?;
    let asked = |path: &str| proxy.requests_for(path);
    let (bin_lists, timestamps) = (
        asked("/index/.wharf/bins"),
        asked("/index/.wharf/timestamp"),
    );
    let served_copy = std::fs::read_link(mirror.join("current"))?;
    let third = sync_from(&proxy.index_url(), &mirror, &[]);
    assert_eq!(served(&upstream)?, before);
    assert_eq!(
        asked("/index/.wharf/bins") - bin_lists,
        1,
        "the bin list is asked once"
    );
    assert_eq!(asked("/index/.wharf/timestamp") - timestamps, 1);
    assert_eq!(std::fs::read_link(mirror.join("current"))?, served_copy);
    let said = String::from_utf8_lossy(&third.stdout);
    assert!(
        said.contains("0 bytes downloaded, 5 index files unchanged, 0 left out"),
        "{said}"
    );

    // The bins carry their hash as ETag and answer 304 to it.
    let bin = upstream
        .http()
        .get(format!("{}/index/.wharf/bins/00", upstream.url()))
        .send()?;
    let etag = bin.headers()["etag"].to_str()?.to_owned();
    let text = bin.bytes()?;
    assert_eq!(
        etag,
        format!("\"{}\"", wharf_trust::Hash::sha256(&text).to_hex())
    );
    let again = upstream
        .http()
        .get(format!("{}/index/.wharf/bins/00", upstream.url()))
        .header("If-None-Match", &etag)
        .send()?;
    assert_eq!(again.status(), 304);
    Ok(())
}

#[test]
fn include_roots_and_lockfile_choose_what_is_copied() -> TestResult {
    let upstream = TestRegistry::start();
    publish(&upstream, publish_body("leaf", "1.0.0"));
    publish(&upstream, publish_body("leaf", "2.0.0"));
    publish(
        &upstream,
        publish_body_with_deps("mid", "1.0.0", &[("leaf", "^1")]),
    );
    publish(
        &upstream,
        publish_body_with_deps("top", "0.1.0", &[("mid", "^1")]),
    );
    publish(&upstream, publish_body("serde-like", "1.0.0"));
    publish(&upstream, publish_body("serde-other", "1.0.0"));
    upstream.settle();
    let names = ["leaf", "mid", "top", "serde-like", "serde-other"];
    let dir = tempfile::tempdir()?;
    let v = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();

    let included = dir.path().join("included");
    sync(
        &upstream,
        &included,
        &["--include", "serde-*", "--include", "leaf"],
    );
    assert_eq!(
        copied(&included, &names),
        vec![
            ("leaf".to_owned(), v(&["1.0.0", "2.0.0"])),
            ("serde-like".to_owned(), v(&["1.0.0"])),
            ("serde-other".to_owned(), v(&["1.0.0"])),
        ]
    );

    // The closure of `top`: `mid`, and `leaf` 1 only (`^1` excludes 2.0.0).
    let rooted = dir.path().join("rooted");
    sync(&upstream, &rooted, &["--roots", "top"]);
    assert_eq!(
        copied(&rooted, &names),
        vec![
            ("leaf".to_owned(), v(&["1.0.0"])),
            ("mid".to_owned(), v(&["1.0.0"])),
            ("top".to_owned(), v(&["0.1.0"])),
        ]
    );

    // Exactly what a Cargo.lock takes from this registry.
    let lockfile = dir.path().join("Cargo.lock");
    std::fs::write(
        &lockfile,
        format!(
            "version = 4\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n\n\
             [[package]]\nname = \"leaf\"\nversion = \"2.0.0\"\nsource = \"{0}\"\n\n\
             [[package]]\nname = \"serde-like\"\nversion = \"1.0.0\"\nsource = \"{0}\"\n\n\
             [[package]]\nname = \"mid\"\nversion = \"1.0.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n",
            upstream.index_url()
        ),
    )?;
    let locked = dir.path().join("locked");
    let said = sync(
        &upstream,
        &locked,
        &["--lockfile", &lockfile.to_string_lossy()],
    );
    assert_eq!(
        copied(&locked, &names),
        vec![
            ("leaf".to_owned(), v(&["2.0.0"])),
            ("serde-like".to_owned(), v(&["1.0.0"])),
        ],
        "{}",
        describe(&said)
    );
    Ok(())
}

/// Waits (a minute at most) until the upstream's git export serves `path` as its sparse
/// index does (the export is written behind the answers).
fn wait_for_git_export(registry: &TestRegistry, path: &str) -> TestResult {
    let sparse = registry
        .http()
        .get(format!("{}/index/{path}", registry.url()))
        .send()?
        .bytes()?
        .to_vec();
    let repo = registry.data_dir().join("git/index.git");
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
    loop {
        let shown = Command::new("git")
            .arg("--git-dir")
            .arg(&repo)
            .args(["show", &format!("main:{path}")])
            .output()?;
        if shown.status.success() && shown.stdout == sparse {
            return Ok(());
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the git export did not catch up with `{path}`"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_git_upstream_is_fetched_into_a_kept_clone_and_synced_incrementally() -> TestResult {
    let upstream = TestRegistry::start_with(&["--git-index"]);
    for name in ["aa", "bbb", "cc"] {
        publish(&upstream, publish_body(name, "1.0.0"));
    }
    upstream.settle();
    wait_for_git_export(&upstream, "2/cc")?;
    let from = format!("git+{}/git/index", upstream.url());
    let dir = tempfile::tempdir()?;
    let mirror = dir.path().join("mirror");
    let git_sync = |mirror: &Path, from: &str| {
        let output = Command::new(wharf_binary())
            .args(["mirror", "sync", "--from", from, "--data"])
            .arg(mirror)
            .output()
            .expect("wharf runs");
        assert!(output.status.success(), "{}", describe(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let said = git_sync(&mirror, &from);
    assert!(
        said.starts_with("mirrored 3 packages, 3 versions"),
        "{said}"
    );
    assert!(mirror.join("upstream.git").is_dir(), "the clone is kept");
    for path in ["2/aa", "3/b/bbb", "2/cc"] {
        let sparse = upstream
            .http()
            .get(format!("{}/index/{path}", upstream.url()))
            .send()?
            .bytes()?
            .to_vec();
        assert_eq!(
            std::fs::read(mirror.join("current/index").join(path))?,
            sparse
        );
    }

    // One more version: the next sync fetches the new commit and downloads one blob.
    let downloads = |registry: &TestRegistry| {
        registry.metric(r#"wharf_http_requests_total{route="download",status="200"}"#)
    };
    let before = downloads(&upstream)?;
    publish(&upstream, publish_body("cc", "1.1.0"));
    upstream.settle();
    wait_for_git_export(&upstream, "2/cc")?;
    let said = git_sync(&mirror, &from);
    assert!(said.contains("(1 blobs downloaded, 3 reused)"), "{said}");
    assert!(said.contains("2 index files unchanged"), "{said}");
    assert_eq!(downloads(&upstream)? - before, 1);
    assert_eq!(copied(&mirror, &["cc"])[0].1, vec!["1.0.0", "1.1.0"]);

    // A local path to a git index works too.
    let local = dir.path().join("local");
    let repo = upstream.data_dir().join("git/index.git");
    let said = git_sync(&local, &repo.to_string_lossy());
    assert!(
        said.starts_with("mirrored 3 packages, 4 versions"),
        "{said}"
    );
    Ok(())
}

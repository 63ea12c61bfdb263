//! `wharf mirror sync`: a Wharf registry's index and blobs copied into a directory, every blob
//! checked, a version without its blob left out and named, and retried by the next sync.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wharf_e2e_tests::fault_proxy::{FaultConfig, FaultProxy};
use wharf_e2e_tests::{TestRegistry, TestResult, describe, wharf_binary};
use wharf_index_format::index_path;

fn sync(registry: &TestRegistry, mirror: &Path) -> Output {
    Command::new(wharf_binary())
        .args(["mirror", "sync", "--from"])
        .arg(registry.index_url())
        .arg("--data")
        .arg(mirror)
        .args(["--public-url", "http://mirror.example"])
        .output()
        .expect("wharf runs")
}

fn sparse(registry: &TestRegistry, path: &str) -> Vec<u8> {
    let response = registry
        .http()
        .get(format!("{}/index/{path}", registry.url()))
        .send()
        .expect("the index answers");
    assert_eq!(response.status(), 200, "{path}");
    response.bytes().expect("a body").to_vec()
}

fn cksums(index_file: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(index_file)
        .lines()
        .map(|line| {
            let entry: serde_json::Value = serde_json::from_str(line).expect("JSON lines");
            entry["cksum"].as_str().expect("a cksum").to_owned()
        })
        .collect()
}

/// An upstream blob: `<data>/blobs/sha256/ab/cd/<hex>`.
fn upstream_blob(data: &Path, cksum: &str) -> std::path::PathBuf {
    data.join("blobs/sha256")
        .join(&cksum[..2])
        .join(&cksum[2..4])
        .join(cksum)
}

#[test]
fn a_mirror_copies_index_and_checked_blobs_and_leaves_out_a_version_without_its_blob() -> TestResult
{
    let upstream = TestRegistry::start();
    upstream.publish_as_admin("aa", "1.0.0");
    upstream.publish_as_admin("aa", "1.1.0");
    upstream.publish_as_admin("bbb", "1.0.0");
    let mirrors = tempfile::tempdir()?;
    let mirror = mirrors.path().join("mirror");

    let first = sync(&upstream, &mirror);
    assert!(first.status.success(), "{}", describe(&first));
    let said = String::from_utf8_lossy(&first.stdout);
    assert!(
        said.starts_with("mirrored 2 packages, 3 versions into "),
        "{said}"
    );
    let current = mirror.join("current");
    for path in ["2/aa", "3/b/bbb"] {
        let file = sparse(&upstream, path);
        assert_eq!(
            std::fs::read(current.join("index").join(path))?,
            file,
            "{path}"
        );
        for cksum in cksums(&file) {
            let bytes = std::fs::read(current.join("blobs/sha256").join(&cksum))?;
            assert_eq!(hex::encode(Sha256::digest(&bytes)), cksum);
        }
    }
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(current.join("index/config.json"))?)?;
    assert_eq!(
        config["dl"],
        "http://mirror.example/blobs/sha256/{sha256-checksum}"
    );

    // A new version whose blob is gone upstream is left out and named, and the command
    // exits 1; blobs the mirror already checked are reused.
    upstream.publish_as_admin("cc", "1.0.0");
    upstream.publish_as_admin("dd", "1.0.0");
    let lost = cksums(&sparse(&upstream, "2/dd")).remove(0);
    let lost_blob = upstream_blob(upstream.data_dir(), &lost);
    let lost_bytes = std::fs::read(&lost_blob)?;
    std::fs::remove_file(&lost_blob)?;
    let second = sync(&upstream, &mirror);
    assert_eq!(second.status.code(), Some(1), "{}", describe(&second));
    let said = String::from_utf8_lossy(&second.stdout);
    assert!(
        said.starts_with("mirrored 3 packages, 4 versions into "),
        "{said}"
    );
    assert!(said.contains("(1 blobs downloaded, 3 reused)"), "{said}");
    assert!(
        said.contains("left out: crate `dd` version `1.0.0`: its blob is missing upstream"),
        "{said}"
    );
    assert!(!current.join("index/2/dd").exists());
    assert_eq!(
        std::fs::read(current.join("index/2/cc"))?,
        sparse(&upstream, "2/cc")
    );
    // With nothing changed upstream, the next sync retries the package whose every version
    // was left out (it does not find nothing changed) and still exits 1 while it stays out.
    let retried = sync(&upstream, &mirror);
    assert_eq!(retried.status.code(), Some(1), "{}", describe(&retried));
    let said = String::from_utf8_lossy(&retried.stdout);
    assert!(
        said.contains("left out: crate `dd` version `1.0.0`: its blob is missing upstream"),
        "{said}"
    );
    assert!(!current.join("index/2/dd").exists());
    // Once the blob is back, the retry copies it and the sync succeeds.
    std::fs::write(&lost_blob, &lost_bytes)?;
    let recovered = sync(&upstream, &mirror);
    assert!(recovered.status.success(), "{}", describe(&recovered));
    let said = String::from_utf8_lossy(&recovered.stdout);
    assert!(said.contains(", 0 left out"), "{said}");
    assert_eq!(
        std::fs::read(current.join("index/2/dd"))?,
        sparse(&upstream, "2/dd")
    );
    assert_eq!(
        std::fs::read(current.join("blobs/sha256").join(&lost))?,
        lost_bytes
    );
    let copies = std::fs::read_dir(&mirror)?.count();
    assert_eq!(
        copies, 5,
        "`current`, the copy it points at, the spare copy the next sync updates, the blob store and the kept trust state"
    );

    // Something that is not a sparse index URL changes nothing.
    let refused = Command::new(wharf_binary())
        .args(["mirror", "sync", "--from", "ftp://example/index"])
        .arg("--data")
        .arg(mirrors.path().join("other"))
        .output()?;
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("is not a sparse index URL"), "{stderr}");
    assert!(!mirrors.path().join("other").exists());
    Ok(())
}

#[test]
fn a_sync_killed_midway_leaves_the_previous_view_and_the_next_sync_completes() -> TestResult {
    let registry = TestRegistry::start();
    registry.publish_as_admin("kept", "1.0.0");
    let dir = tempfile::tempdir()?;
    let mirror = dir.path().join("mirror");
    let first = sync(&registry, &mirror);
    assert!(first.status.success(), "{}", describe(&first));
    let served = std::fs::read_link(mirror.join("current"))?;
    let kept_file = mirror.join("current/index").join(index_path("kept"));
    let kept_bytes = std::fs::read(&kept_file)?;

    // A new version whose blob the next sync must download: held at a proxy, then killed.
    registry.publish_as_admin("added", "1.0.0");
    registry.settle();
    let proxy = FaultProxy::start(&registry.url(), FaultConfig::none());
    proxy.hold(&blob_pattern(&registry));
    let mut child = Command::new(wharf_binary())
        .args(["mirror", "sync", "--from"])
        .arg(proxy.index_url())
        .arg("--data")
        .arg(&mirror)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let start = Instant::now();
    while proxy.held() == 0 {
        assert!(
            start.elapsed() < Duration::from_mins(1),
            "the sync never asked for the new blob"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill()?;
    child.wait()?;
    proxy.release();

    // The previous view is still the one served, whole.
    assert_eq!(std::fs::read_link(mirror.join("current"))?, served);
    assert_eq!(std::fs::read(&kept_file)?, kept_bytes);
    assert!(
        !mirror
            .join("current/index")
            .join(index_path("added"))
            .exists()
    );

    // The next sync completes and clears what the killed one left.
    let again = sync(&registry, &mirror);
    assert!(again.status.success(), "{}", describe(&again));
    assert!(
        mirror
            .join("current/index")
            .join(index_path("added"))
            .is_file()
    );
    let copies: Vec<String> = std::fs::read_dir(&mirror)?
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !["current", "blobs", "trust"].contains(&name.as_str()))
        .collect();
    assert_eq!(
        copies.len(),
        2,
        "the copy behind `current` and the spare: {copies:?}"
    );
    for copy in &copies {
        assert!(!mirror.join(copy).join(".unfinished").exists(), "{copy}");
    }
    Ok(())
}

/// A part of the download URL of every blob, from the upstream's `config.json` `dl`.
fn blob_pattern(registry: &TestRegistry) -> String {
    let config: serde_json::Value =
        serde_json::from_slice(&sparse(registry, "config.json")).expect("config.json is JSON");
    let dl = config["dl"].as_str().expect("a dl").to_owned();
    let path = dl
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('/'))
        .map_or_else(String::new, |(_, path)| format!("/{path}"));
    path.split('{').next().unwrap_or_default().to_owned()
}

//! A registry whose data lives on a 4 MiB tmpfs that fills up: publishes get 507 with a
//! message saying the storage is full and nothing was stored, nothing acknowledged is lost,
//! an index file whose write failed is written again without a restart once space is freed,
//! and publishes succeed again.
//!
//! Mounting needs root (CI runs the tests as root). Without it the test fails and says how
//! to run it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use wharf_e2e_tests::upload::publish_body_with_deps;
use wharf_e2e_tests::{TestRegistry, TestResult};

/// The package whose index file grows large enough that rewriting it needs more room than a
/// publish's blob and database pages.
const BIG: &str = "full-disk-big";
/// Versions of [`BIG`] published before the disk is filled.
const BIG_VERSIONS: usize = 40;
/// Dependencies per version, to make each index line a few KiB long.
const DEPS: usize = 30;
/// Space left free after filling, in bytes: room for a publish or two, less than the index
/// file of [`BIG`].
const LEFT_FREE: u64 = 80 * 1024;

/// A tmpfs mounted on a temporary directory for the life of the value.
struct Tmpfs {
    dir: TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("wharf-full-disk-")
            .tempdir()
            .expect("a temp dir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match mounted {
            Ok(output) if output.status.success() => Self { dir },
            Ok(output) => panic!(
                "this test mounts a {size} tmpfs to fill it and needs root (`mount` said: {}); \
                 run it as root, e.g. `sudo -E cargo nextest run -p wharf-e2e-tests full_disk`, as CI does",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            Err(error) => panic!(
                "this test mounts a {size} tmpfs to fill it and needs the `mount` command and root \
                 ({error}); run it as root, e.g. `sudo -E cargo nextest run -p wharf-e2e-tests full_disk`, as CI does"
            ),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Fills the file system holding `path` with a file there, then frees `left_free` bytes of it.
fn fill_leaving(path: &Path, left_free: u64) -> TestResult<PathBuf> {
    let filler = path.join("filler");
    let mut file = std::fs::File::create(&filler)?;
    for chunk in [64 * 1024, 4 * 1024] {
        let bytes = vec![0xA5_u8; chunk];
        loop {
            match file.write_all(&bytes) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::StorageFull => break,
                Err(error) => return Err(error.into()),
            }
        }
    }
    let written = std::fs::metadata(&filler)?.len();
    file.set_len(written.saturating_sub(left_free) / 4096 * 4096)?;
    file.sync_all()?;
    Ok(filler)
}

fn deps() -> Vec<(String, &'static str)> {
    (0..DEPS)
        .map(|i| (format!("full-disk-dep-{i:02}"), "^1"))
        .collect()
}

/// Publishes a version of [`BIG`] and returns the status and body.
fn publish_big(registry: &TestRegistry, version: &str) -> TestResult<(u16, String)> {
    let deps = deps();
    let deps: Vec<(&str, &str)> = deps.iter().map(|(n, r)| (n.as_str(), *r)).collect();
    let answer = registry
        .http()
        .put(format!("{}/api/v1/crates/new", registry.url()))
        .header("Authorization", &registry.admin_token)
        .body(publish_body_with_deps(BIG, version, &deps))
        .send()?;
    Ok((answer.status().as_u16(), answer.text()?))
}

fn contains_version(file: &[u8], version: &str) -> bool {
    String::from_utf8_lossy(file).contains(&format!("\"vers\":\"{version}\""))
}

#[test]
fn a_full_disk_answers_507_loses_nothing_and_catches_up_once_space_is_freed() -> TestResult {
    let tmpfs = Tmpfs::mount("8m");
    let registry = TestRegistry::start_in(tmpfs.path(), &[]);
    let mut acknowledged = Vec::new();
    for patch in 0..BIG_VERSIONS {
        let version = format!("1.0.{patch}");
        let (status, body) = publish_big(&registry, &version)?;
        assert_eq!(
            status, 200,
            "publishing {version} before the disk is full: {body}"
        );
        acknowledged.push(version);
    }
    registry.settle();
    let on_disk = registry
        .data_dir()
        .join("index")
        .join(wharf_index_format::index_path(BIG));
    let filler = fill_leaving(tmpfs.path(), LEFT_FREE)?;

    // Publish until the storage is full.
    let mut refusal = None;
    for patch in BIG_VERSIONS..BIG_VERSIONS + 100 {
        let version = format!("1.0.{patch}");
        let (status, body) = publish_big(&registry, &version)?;
        match status {
            200 => acknowledged.push(version),
            507 => {
                refusal = Some(body);
                break;
            }
            other => panic!("publishing {version} on a full disk answered {other}: {body}"),
        }
    }
    let refusal = refusal.ok_or("100 publishes did not fill 4 MiB")?;
    let detail: serde_json::Value = serde_json::from_str(&refusal)?;
    assert_eq!(
        detail["errors"][0]["detail"],
        "the registry's storage is full, so nothing was stored; retry once an operator has freed space"
    );
    assert_eq!(
        registry.metric("wharf_http_requests_total{route=\"publish\",status=\"507\"}")?,
        1
    );

    // Nothing acknowledged is lost: the server serves every acknowledged version ...
    registry.settle();
    let last = acknowledged
        .last()
        .ok_or("versions were acknowledged")?
        .clone();
    let served = registry
        .http()
        .get(format!(
            "{}/index/{}",
            registry.url(),
            wharf_index_format::index_path(BIG)
        ))
        .send()?
        .bytes()?;
    for version in &acknowledged {
        assert!(
            contains_version(&served, version),
            "{BIG} {version} was acknowledged"
        );
    }
    // ... while the file on disk, too large to rewrite, is stale and waits for a retry.
    assert!(
        !contains_version(&std::fs::read(&on_disk)?, &last),
        "the index file was rewritten on a full disk"
    );
    assert_eq!(registry.metric("wharf_index_files_dirty")?, 1);

    // An operator frees space: the file catches up without a restart.
    std::fs::remove_file(&filler)?;
    let deadline = Instant::now() + Duration::from_mins(1);
    while !contains_version(&std::fs::read(&on_disk)?, &last) {
        assert!(
            Instant::now() < deadline,
            "the stale index file was not rewritten within a minute of freeing space"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(std::fs::read(&on_disk)?, served.as_ref());
    assert_eq!(registry.metric("wharf_index_files_dirty")?, 0);

    let (status, body) = publish_big(&registry, "2.0.0")?;
    assert_eq!(status, 200, "publishing once space is back: {body}");
    registry.settle();
    assert!(contains_version(&std::fs::read(&on_disk)?, "2.0.0"));

    // The blobs of refused publishes are collected, and everything verifies.
    let gc = registry.run_on_data(&["admin", "gc"], &["--grace", "0s"]);
    assert!(
        gc.status.success(),
        "{}",
        String::from_utf8_lossy(&gc.stderr)
    );
    let reconcile = registry.run_on_data(&["admin", "reconcile"], &[]);
    let report = String::from_utf8(reconcile.stdout)?;
    assert!(reconcile.status.success(), "{report}");
    assert!(report.contains(": 0 problems"), "{report}");
    drop(registry);
    drop(tmpfs);
    Ok(())
}

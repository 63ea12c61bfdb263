//! `wharf admin gc` on the data of a running server that keeps publishing: a dry run deletes
//! nothing, a blob left without a commit is deleted once older than the grace period, a
//! younger one (a publish in flight) is kept, no acknowledged version loses its blob even
//! with no grace at all, and `wharf admin reconcile` verifies clean afterwards.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use wharf_e2e_tests::upload::{crate_tarball, publish_body};
use wharf_e2e_tests::{TestRegistry, TestResult};

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn blob_file(data: &Path, cksum: &str) -> PathBuf {
    data.join(format!(
        "blobs/sha256/{}/{}/{cksum}",
        &cksum[..2],
        &cksum[2..4]
    ))
}

/// Writes a blob file as a publish does before its commit, `age` in the past: what a crash
/// between the blob write and the commit leaves.
fn write_uncommitted_blob(data: &Path, bytes: &[u8], age: Duration) -> TestResult<String> {
    let cksum = sha256(bytes);
    let path = blob_file(data, &cksum);
    std::fs::create_dir_all(path.parent().ok_or("blob files have a parent")?)?;
    std::fs::write(&path, bytes)?;
    std::fs::File::options()
        .write(true)
        .open(&path)?
        .set_modified(SystemTime::now() - age)?;
    Ok(cksum)
}

fn gc(registry: &TestRegistry, args: &[&str]) -> TestResult<String> {
    let output = registry.run_on_data(&["admin", "gc"], args);
    let stdout = String::from_utf8(output.stdout)?;
    assert!(
        output.status.success(),
        "wharf admin gc {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(stdout)
}

#[test]
fn admin_gc_collects_orphans_next_to_a_publishing_server() -> TestResult {
    let registry = TestRegistry::start();
    let (url, token) = (registry.url(), registry.admin_token.clone());
    let http = registry.http();
    let kept = http
        .put(format!("{url}/api/v1/crates/new"))
        .header("Authorization", &token)
        .body(publish_body("gc-kept", "1.0.0"))
        .send()?;
    assert_eq!(kept.status(), 200);
    let data = registry.data_dir();
    let crashed: &[u8] = b"left by a crash two hours ago";
    let old = write_uncommitted_blob(data, crashed, Duration::from_hours(2))?;
    let in_flight = write_uncommitted_blob(data, b"written a moment ago", Duration::ZERO)?;

    // Publishes keep coming while every collection runs.
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let publisher = {
        let (stop, acknowledged, http) = (
            Arc::clone(&stop),
            Arc::clone(&acknowledged),
            registry.http(),
        );
        std::thread::spawn(move || {
            for patch in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let version = format!("1.0.{patch}");
                let answer = http
                    .put(format!("{url}/api/v1/crates/new"))
                    .header("Authorization", &token)
                    .body(publish_body("gc-busy", &version))
                    .send()
                    .expect("the server answers");
                assert_eq!(answer.status(), 200, "publishing gc-busy {version}");
                acknowledged.lock().expect("no poisoned lock").push(version);
            }
        })
    };

    let dry = gc(&registry, &["--dry-run"])?;
    let size = crashed.len();
    assert!(
        dry.contains(&format!(
            "would free 1 unreferenced blob, {size} bytes (dry run: nothing deleted)"
        )),
        "{dry}"
    );
    assert!(dry.contains(&old), "a dry run lists each blob: {dry}");
    assert!(blob_file(data, &old).exists(), "a dry run deletes nothing");

    let freed = gc(&registry, &["--verbose"])?;
    assert!(freed.starts_with("listed "), "{freed}");
    assert!(
        freed.contains(&format!("\nfreed 1 unreferenced blob, {size} bytes\n")),
        "{freed}"
    );
    assert!(freed.contains(&old), "{freed}");
    assert!(!blob_file(data, &old).exists());
    assert!(
        blob_file(data, &in_flight).exists(),
        "younger than the grace period: kept"
    );

    // Without any grace period only the database protects the publishes in flight.
    let freed = gc(&registry, &["--grace", "0s", "--verbose"])?;
    assert!(freed.contains(&in_flight), "{freed}");
    stop.store(true, Ordering::Relaxed);
    publisher.join().map_err(|_| "the publisher panicked")?;

    let acknowledged = acknowledged.lock().expect("no poisoned lock").clone();
    assert!(
        !acknowledged.is_empty(),
        "no publish ran next to the collections"
    );
    let mut versions = vec![("gc-kept", "1.0.0".to_owned())];
    versions.extend(acknowledged.into_iter().map(|v| ("gc-busy", v)));
    for (name, version) in &versions {
        let cksum = sha256(&crate_tarball(name, version));
        let download = http
            .get(format!("{}/blobs/sha256/{cksum}", registry.url()))
            .send()?;
        assert_eq!(download.status(), 200, "{name} {version} lost its blob");
        assert_eq!(
            download.bytes()?.as_ref(),
            crate_tarball(name, version).as_slice()
        );
    }

    registry.settle();
    let output = registry.run_on_data(&["admin", "reconcile"], &[]);
    let report = String::from_utf8(output.stdout)?;
    assert!(output.status.success(), "{report}");
    assert!(report.contains(": 0 problems"), "{report}");
    Ok(())
}

//! A served mirror's signed timestamp is the origin's and expires with it: `wharf mirror
//! sync` warns, naming when, when the copy it switched in expires within a day.

use std::path::Path;
use std::process::{Command, Output};

use wharf_e2e_tests::upload::publish_body;
use wharf_e2e_tests::{TestRegistry, TestResult, describe, wharf_binary};
use wharf_trust::{Note, Timestamp};

fn sync(upstream: &TestRegistry, mirror: &Path) -> Output {
    let output = Command::new(wharf_binary())
        .args(["mirror", "sync", "--from"])
        .arg(upstream.index_url())
        .arg("--data")
        .arg(mirror)
        .output()
        .expect("wharf runs");
    assert!(output.status.success(), "{}", describe(&output));
    output
}

/// An upstream with one published package, signing timestamps valid for `expiry`.
fn upstream(expiry: &str) -> TestRegistry {
    let registry = TestRegistry::start_with(&["--timestamp-expiry", expiry]);
    let response = registry
        .http()
        .put(format!("{}/api/v1/crates/new", registry.url()))
        .header("Authorization", &registry.admin_token)
        .body(publish_body("stamped", "1.0.0"))
        .send()
        .expect("publish answers");
    assert_eq!(response.status(), 200);
    registry.settle();
    registry
}

#[test]
fn a_sync_warns_when_the_copy_it_switched_in_expires_within_a_day() -> TestResult {
    let dir = tempfile::tempdir()?;

    // The origin's timestamps are valid for 2 hours: the copy expires when the served
    // timestamp does, and the sync says when.
    let short = upstream("2h");
    let mirror = dir.path().join("short");
    let output = sync(&short, &mirror);
    let served = std::fs::read(mirror.join("current/signed/timestamp"))?;
    let note = Note::parse(&served)?;
    let expires = Timestamp::parse(note.text())?.expires();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("warning:"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    // Signed in the same second or just before: 2h00m or 1h59m left.
    assert!(
        warnings[0].contains(&format!("expires at {expires} (expires in 2h00m)"))
            || warnings[0].contains(&format!("expires at {expires} (expires in 1h59m)")),
        "{stderr}"
    );
    assert!(warnings[0].contains("sync again before then"), "{stderr}");

    // Valid for three days: no warning.
    let long = upstream("3d");
    let output = sync(&long, &dir.path().join("long"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("warning:"), "{stderr}");
    Ok(())
}

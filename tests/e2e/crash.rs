//! Crash consistency: publishes in flight while the server is killed with SIGKILL at varied
//! moments. After each restart every acknowledged publish is served, every index file equals
//! what the log says, and every blob matches its hash.

use std::sync::Arc;
use std::time::Duration;

use wharf_e2e_tests::crash_round::{SendPublish, publish_until_killed};
use wharf_e2e_tests::upload::publish_body;
use wharf_e2e_tests::{TestRegistry, TestResult};

const PUBLISHERS: usize = 4;
const KILL_AFTER_MS: [u64; 6] = [5, 40, 90, 150, 250, 400];

#[test]
fn sigkill_during_publishes_loses_no_acknowledged_version() -> TestResult {
    let mut registry = TestRegistry::start();
    let mut acknowledged: Vec<(String, String)> = Vec::new();
    for (round, delay) in KILL_AFTER_MS.iter().enumerate() {
        let token = registry.admin_token.clone();
        let send: Arc<SendPublish> = Arc::new(move |http, url, name, version| {
            http.put(format!("{url}/api/v1/crates/new"))
                .header("Authorization", &token)
                .body(publish_body(name, version))
                .send()
                .is_ok_and(|response| response.status() == 200)
        });
        acknowledged.extend(publish_until_killed(
            &mut registry,
            &format!("crash-{round}"),
            PUBLISHERS,
            Duration::from_millis(*delay),
            &send,
        ));

        let http = registry.http();
        // Each acknowledged publish is a leaf under the newest checkpoint (its second line
        // is the tree size), signed in the publish's own transaction.
        let checkpoint = http
            .get(format!("{}/api/wharf/v1/log/checkpoint", registry.url()))
            .send()?
            .text()?;
        let size: usize = checkpoint.lines().nth(1).unwrap_or_default().parse()?;
        assert!(
            size >= acknowledged.len(),
            "round {round}: the checkpoint covers {size} events, {} publishes were acknowledged",
            acknowledged.len()
        );
        for (name, version) in &acknowledged {
            let path = wharf_index_format::index_path(name);
            let file = http
                .get(format!("{}/index/{path}", registry.url()))
                .send()?
                .text()?;
            assert!(
                file.contains(&format!("\"vers\":\"{version}\"")),
                "round {round}: acknowledged {name}@{version} is missing after SIGKILL and restart"
            );
        }
    }
    registry.stop();
    let output = registry.run_on_data(&["admin", "reconcile"], &[]);
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        report.contains("rebuilt 0"),
        "startup should already have repaired everything: {report}"
    );
    // Verify also checks the log: leaf hashes recomputed from the leaves, the subtree
    // table, the newest checkpoint's root against the tree, a release leaf per version.
    assert!(report.contains(": 0 problems"), "{report}");
    assert!(
        !acknowledged.is_empty(),
        "no publish was acknowledged at all"
    );
    Ok(())
}

#[test]
fn admin_reconcile_reports_the_index_files_it_rebuilt() -> TestResult {
    let mut registry = TestRegistry::start();
    let published = registry
        .http()
        .put(format!("{}/api/v1/crates/new", registry.url()))
        .header("Authorization", &registry.admin_token)
        .body(publish_body("lost-file", "1.0.0"))
        .send()?;
    assert_eq!(published.status(), 200);
    registry.stop();
    let path = registry
        .data_dir()
        .join("index")
        .join(wharf_index_format::index_path("lost-file"));
    std::fs::remove_file(&path)?;

    let output = registry.run_on_data(&["admin", "reconcile"], &[]);
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{report}");
    assert!(
        report.contains("rebuilt 1\n") && report.contains("rebuilt lost-file"),
        "{report}"
    );
    assert!(report.contains(": 0 problems"), "{report}");
    assert!(path.exists(), "the index file is back");
    Ok(())
}

//! Crash consistency of signed publishes: publishers sending signed releases (the first of
//! each package binding its key) while the server is killed with SIGKILL. After each restart
//! every acknowledged version is served, and at the end `wharf admin reconcile` finds the
//! log, its tree, its checkpoints and the index files agreeing, and a client replaying the
//! log accepts every release with the packages' publisher keys.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use wharf_e2e_tests::crash_round::{SendPublish, publish_until_killed};
use wharf_e2e_tests::upload::{crate_tarball, frame, metadata_json};
use wharf_e2e_tests::{TestRegistry, TestResult};
use wharf_trust::{KeyRegistration, LogEvent, OwnerKeys, SigningKey, StatementKind, UtcTime};

const PUBLISHERS: usize = 3;
const KILL_AFTER_MS: [u64; 4] = [10, 60, 150, 300];

/// Registers `key` to the admin account over HTTP.
fn register(registry: &TestRegistry, key: &SigningKey) -> TestResult<String> {
    let http = registry.http();
    let checkpoint = http
        .get(format!("{}/api/wharf/v1/log/checkpoint", registry.url()))
        .send()?
        .text()?;
    let origin = checkpoint
        .lines()
        .next()
        .ok_or("empty checkpoint")?
        .to_owned();
    let registration = KeyRegistration::new(&origin, "admin", key.public_key(), UtcTime::now())?;
    let answer = http
        .post(format!("{}/api/wharf/v1/keys", registry.url()))
        .header("Authorization", &registry.admin_token)
        .json(&serde_json::json!({
            "registration": registration.to_text(),
            "signature": registration.sign(key).to_text(),
        }))
        .send()?;
    assert_eq!(answer.status(), 200, "{}", answer.text()?);
    Ok(origin)
}

#[test]
fn sigkill_during_signed_publishes_leaves_log_tree_checkpoints_and_index_agreeing() -> TestResult {
    let mut registry = TestRegistry::start();
    let key = Arc::new(SigningKey::generate());
    let origin = register(&registry, &key)?;
    let mut acknowledged: Vec<(String, String)> = Vec::new();
    for (round, delay) in KILL_AFTER_MS.iter().enumerate() {
        let (token, origin, key) = (
            registry.admin_token.clone(),
            origin.clone(),
            Arc::clone(&key),
        );
        let send: Arc<SendPublish> = Arc::new(move |http, url, name, version| {
            let json = metadata_json(name, version).to_string();
            let krate = crate_tarball(name, version);
            let headers = wharf_test_support::signed_publish_headers(
                &key,
                &origin,
                json.as_bytes(),
                &krate,
                UtcTime::now(),
            )
            .expect("a signed publish");
            let mut request = http
                .put(format!("{url}/api/v1/crates/new"))
                .header("Authorization", &token)
                .body(frame(json.as_bytes(), &krate));
            for (header, value) in headers {
                request = request.header(header, value);
            }
            request
                .send()
                .is_ok_and(|response| response.status() == 200)
        });
        let round_acknowledged = publish_until_killed(
            &mut registry,
            &format!("signed-crash-{round}"),
            PUBLISHERS,
            Duration::from_millis(*delay),
            &send,
        );
        acknowledged.extend(round_acknowledged);
        let http = registry.http();
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
    assert!(
        !acknowledged.is_empty(),
        "no publish was acknowledged at all"
    );

    // A client replays the whole log: every package's first event binds the key, and every
    // release verifies against the package's keys at the time it was logged.
    let events = all_leaves(&registry)?;
    let mut owners: BTreeMap<String, OwnerKeys> = BTreeMap::new();
    let mut releases = 0;
    for event in &events {
        let name = event.statement().name().to_owned();
        let keys = owners
            .entry(name.clone())
            .or_insert_with(|| OwnerKeys::new(&name, 1));
        keys.apply(event)?;
        releases += usize::from(event.statement().kind() == StatementKind::Release);
    }
    assert!(releases >= acknowledged.len());

    registry.stop();
    let output = registry.run_on_data(&["admin", "reconcile"], &[]);
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains(": 0 problems"), "{report}");
    Ok(())
}

fn all_leaves(registry: &TestRegistry) -> TestResult<Vec<LogEvent>> {
    let http = registry.http();
    let checkpoint = http
        .get(format!("{}/api/wharf/v1/log/checkpoint", registry.url()))
        .send()?
        .text()?;
    let size: u64 = checkpoint.lines().nth(1).ok_or("no size")?.parse()?;
    let mut events = Vec::new();
    while u64::try_from(events.len())? < size {
        let start = events.len();
        let page: serde_json::Value = http
            .get(format!(
                "{}/api/wharf/v1/log/leaves?start={start}&end={size}",
                registry.url()
            ))
            .send()?
            .json()?;
        for leaf in page["leaves"].as_array().ok_or("no leaves")? {
            let text = leaf["leaf"].as_str().ok_or("a leaf is not text")?;
            events.push(LogEvent::parse(text.as_bytes())?);
        }
    }
    Ok(events)
}

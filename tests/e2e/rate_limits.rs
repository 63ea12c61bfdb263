//! Publish rate limits: with limits set, the publish past a limit is answered with 429,
//! `Retry-After` and a detail naming the limit, and changes nothing; daily limits survive a
//! restart; other users are not affected; without limits nothing is ever refused.

use std::process::Command;

use wharf_e2e_tests::upload::publish_body;
use wharf_e2e_tests::{TestRegistry, TestResult, wharf_binary};

/// One publish over raw HTTP: status, `Retry-After` (if any) and the error detail (if any).
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    detail: String,
}

fn publish(registry: &TestRegistry, token: &str, name: &str, version: &str) -> TestResult<Answer> {
    let response = registry
        .http()
        .put(format!("{}/api/v1/crates/new", registry.url()))
        .header("Authorization", token)
        .body(publish_body(name, version))
        .send()?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().map(str::parse::<u64>))
        .transpose()?
        .transpose()?;
    let body: serde_json::Value = response.json()?;
    let detail = body["errors"][0]["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok(Answer {
        status,
        retry_after,
        detail,
    })
}

impl Answer {
    /// Asserts a 429 whose detail starts with `detail_start` and whose `Retry-After` is between
    /// one second and `max_wait` seconds.
    fn assert_refused(&self, detail_start: &str, max_wait: u64) {
        assert_eq!(self.status, 429, "{}", self.detail);
        assert!(self.detail.starts_with(detail_start), "{}", self.detail);
        let wait = self.retry_after.expect("a 429 carries Retry-After");
        assert!((1..=max_wait).contains(&wait), "Retry-After: {wait}");
    }
}

fn publish_ok(registry: &TestRegistry, token: &str, name: &str, version: &str) -> TestResult {
    let answer = publish(registry, token, name, version)?;
    assert_eq!(answer.status, 200, "{name} {version}: {}", answer.detail);
    Ok(())
}

#[test]
fn the_token_bucket_from_the_config_file_refuses_with_retry_after() -> TestResult {
    let config = tempfile::NamedTempFile::new()?;
    // One token a minute, three at once: the fourth quick publish must wait for the next.
    std::fs::write(
        config.path(),
        "publish-rate-per-minute = 1\npublish-burst = 3\n",
    )?;
    let config_path = config.path().to_str().expect("a UTF-8 temp path");
    let registry = TestRegistry::start_with(&["--config", config_path]);
    let alice = registry.create_token("alice", &[]);
    let bob = registry.create_token("bob", &[]);
    for version in ["1.0.0", "1.1.0", "1.2.0"] {
        publish_ok(&registry, &alice, "bucket", version)?;
    }

    let before = registry.data_snapshot();
    publish(&registry, &alice, "bucket", "1.3.0")?.assert_refused(
        "publish rate limit reached for `alice`: 1 publish per minute (burst 3); try again in ",
        60,
    );
    assert_eq!(
        registry.data_snapshot(),
        before,
        "a refused publish changed stored data"
    );
    assert_eq!(
        registry.metric("wharf_http_requests_total{route=\"publish\",status=\"429\"}")?,
        1
    );

    // Bob has a bucket of his own.
    publish_ok(&registry, &bob, "bobs-crate", "1.0.0")?;
    Ok(())
}

#[test]
fn daily_limits_refuse_hold_across_a_restart_and_spare_other_users() -> TestResult {
    let mut registry =
        TestRegistry::start_with(&["--publishes-per-day", "3", "--new-crates-per-day", "2"]);
    let alice = registry.create_token("alice", &[]);
    let bob = registry.create_token("bob", &[]);
    publish_ok(&registry, &alice, "first", "1.0.0")?;
    publish_ok(&registry, &alice, "second", "1.0.0")?;

    // A third new crate is refused; a new version of an existing one is not.
    let before = registry.data_snapshot();
    publish(&registry, &alice, "third", "1.0.0")?.assert_refused(
        "`alice` created 2 new crates in the last 24 hours (limit `new-crates-per-day` = 2), so `third` cannot be created now; the oldest of them leaves the window in ",
        86_400,
    );
    assert_eq!(
        registry.data_snapshot(),
        before,
        "a refused publish changed stored data"
    );
    publish_ok(&registry, &alice, "first", "1.1.0")?;

    // Three versions in the day: the fourth is refused, also after a restart.
    let before = registry.data_snapshot();
    for round in ["before the restart", "after the restart"] {
        publish(&registry, &alice, "first", "1.2.0")?.assert_refused(
            "`alice` published 3 versions in the last 24 hours (limit `publishes-per-day` = 3); the oldest of them leaves the window in ",
            86_400,
        );
        assert_eq!(
            registry.data_snapshot(),
            before,
            "{round}: a refused publish changed stored data"
        );
        if round == "before the restart" {
            registry.restart();
        }
    }

    // Bob's day is his own.
    publish_ok(&registry, &bob, "bobs-first", "1.0.0")?;
    publish_ok(&registry, &bob, "bobs-second", "1.0.0")?;
    publish_ok(&registry, &bob, "bobs-second", "1.1.0")?;
    Ok(())
}

#[test]
fn a_crate_limit_counts_every_owner_and_spares_other_crates() -> TestResult {
    let registry = TestRegistry::start_with(&["--versions-per-crate-per-day", "2"]);
    let alice = registry.create_token("alice", &[]);
    let bob = registry.create_token("bob", &[]);
    publish_ok(&registry, &alice, "shared", "1.0.0")?;
    let added = registry
        .http()
        .put(format!("{}/api/v1/crates/shared/owners", registry.url()))
        .header("Authorization", &alice)
        .json(&serde_json::json!({ "users": ["bob"] }))
        .send()?;
    assert_eq!(added.status(), 200, "{}", added.text()?);
    publish_ok(&registry, &bob, "shared", "1.1.0")?;

    // Two versions of `shared` today, one from each owner: the third is refused, for anyone.
    let before = registry.data_snapshot();
    for who in [&alice, &bob] {
        publish(&registry, who, "shared", "1.2.0")?.assert_refused(
            "`shared` got 2 versions in the last 24 hours (limit `versions-per-crate-per-day` = 2); the oldest of them leaves the window in ",
            86_400,
        );
    }
    assert_eq!(
        registry.data_snapshot(),
        before,
        "a refused publish changed stored data"
    );

    // Other crates have days of their own.
    publish_ok(&registry, &alice, "other", "1.0.0")?;
    publish_ok(&registry, &alice, "other", "1.1.0")?;
    Ok(())
}

#[test]
fn without_limits_quick_publishes_are_never_refused() -> TestResult {
    let registry = TestRegistry::start();
    for patch in 0..50 {
        publish_ok(
            &registry,
            &registry.admin_token,
            "busy",
            &format!("1.0.{patch}"),
        )?;
    }
    assert_eq!(
        registry.metric("wharf_http_requests_total{route=\"publish\",status=\"200\"}")?,
        50
    );
    Ok(())
}

#[test]
fn serve_explains_its_rate_limit_flags_and_refuses_a_burst_without_a_rate() -> TestResult {
    let help = Command::new(wharf_binary())
        .args(["serve", "--help"])
        .output()?;
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout)?;
    for needle in [
        "--publish-rate-per-minute <N>",
        "WHARF_PUBLISH_BURST",
        "--new-crates-per-day <N>",
        "--versions-per-crate-per-day <N>",
        "WHARF_PUBLISHES_PER_DAY",
    ] {
        assert!(help.contains(needle), "`{needle}` missing from:\n{help}");
    }

    let data = tempfile::tempdir()?;
    let refused = Command::new(wharf_binary())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--publish-burst",
            "5",
            "--data",
        ])
        .arg(data.path())
        .output()?;
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8(refused.stderr)?;
    assert!(
        stderr.contains("`publish-burst` is set without `publish-rate-per-minute`"),
        "{stderr}"
    );
    // The same settings arrive through `WHARF_*` variables.
    let refused = Command::new(wharf_binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .env("WHARF_PUBLISH_BURST", "5")
        .output()?;
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8(refused.stderr)?.contains("`publish-burst` is set without"));
    Ok(())
}

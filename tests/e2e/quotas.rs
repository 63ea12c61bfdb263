//! Plans and quotas through a real server and real cargo: a publish over the plan's packages
//! or storage bytes is refused with a message naming the limit, the usage and how to raise
//! it, and changes nothing; `wharf admin plan set` in another process takes effect on the
//! running server at once; the publish rate answers 429 with `Retry-After`; usage is shown
//! by the API and `/metrics`; a bad plans file stops `wharf serve` before it touches data.

use std::path::Path;
use std::process::Command;

use wharf_e2e_tests::upload::publish_body;
use wharf_e2e_tests::{CargoEnv, CrateProject, TestRegistry, TestResult, wharf_binary};

const PUBLISH: [&str; 4] = ["publish", "--registry", "wharf", "--no-verify"];

const PLANS: &str = r#"
[plans.small]
packages = 1

[plans.large]
packages = 10
storage-bytes = "1 MiB"
"#;

/// `wharf admin plan set NAME --plans FILE` on the registry's data, while it runs.
fn set_plan(registry: &TestRegistry, name: &str, plans: &Path) {
    let plans = plans.to_str().expect("a UTF-8 path");
    let output = registry.run_on_data(&["admin", "plan", "set", name], &["--plans", plans]);
    assert!(
        output.status.success(),
        "wharf admin plan set {name}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `GET /api/wharf/v1/usage` with `token`.
fn usage(registry: &TestRegistry, token: &str) -> TestResult<serde_json::Value> {
    let response = registry
        .http()
        .get(format!("{}/api/wharf/v1/usage", registry.url()))
        .header("Authorization", token)
        .send()?;
    assert_eq!(response.status().as_u16(), 200);
    Ok(response.json()?)
}

/// The usage of one entitlement in a usage report.
fn used(report: &serde_json::Value, key: &str) -> u64 {
    report["entitlements"]
        .as_array()
        .and_then(|all| all.iter().find(|e| e["entitlement"] == key))
        .and_then(|e| e["usage"].as_u64())
        .unwrap_or_else(|| panic!("no usage of `{key}` in {report}"))
}

#[test]
fn cargo_publishes_over_the_plan_are_refused_leave_nothing_and_pass_once_the_plan_grows()
-> TestResult {
    let scratch = tempfile::tempdir()?;
    let plans = scratch.path().join("plans.toml");
    std::fs::write(&plans, PLANS)?;
    let plans_arg = plans.to_str().expect("a UTF-8 path");
    let registry = TestRegistry::start_with(&["--plans", plans_arg]);
    let cargo = CargoEnv::new(&registry.index_url());
    cargo.login(&registry.admin_token);
    let work = cargo.work_dir().to_path_buf();

    let first = CrateProject::new("quota-first", "0.1.0").write(&work);
    cargo.cargo_ok(&first, &PUBLISH);
    set_plan(&registry, "small", &plans);

    // A second package passes `packages = 1`.
    let second = CrateProject::new("quota-second", "0.1.0").write(&work);
    let before = registry.data_snapshot();
    let refused = cargo.cargo_err(&second, &PUBLISH);
    assert!(refused.contains("403"), "{refused}");
    assert!(
        refused.contains(
            "publish refused: the limit `packages` of this registry's plan `small` is 1, it uses 1 and this publish creates a new one; ask an operator to move this registry to a larger plan: wharf admin plan set NAME"
        ),
        "{refused}"
    );
    assert_eq!(registry.data_snapshot(), before);

    // A plan whose bytes the first crate fills: its next version passes `storage-bytes`.
    let stored = used(&usage(&registry, &registry.admin_token)?, "storage-bytes");
    assert!(stored > 0);
    std::fs::write(
        &plans,
        format!("{PLANS}\n[plans.tight]\nstorage-bytes = {}\n", stored + 1),
    )?;
    set_plan(&registry, "tight", &plans);
    let next = CrateProject::new("quota-first", "0.2.0").write(&work);
    let before = registry.data_snapshot();
    let refused = cargo.cargo_err(&next, &PUBLISH);
    assert!(refused.contains("403"), "{refused}");
    let detail = refused
        .split("publish refused: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no refusal in {refused}"));
    assert!(
        detail.starts_with("the limit `storage-bytes` of this registry's plan `tight` is "),
        "{refused}"
    );
    // The limit and the usage are named in bytes (sizes of 1 KiB and more also as such).
    let limit_at = detail.find(&(stored + 1).to_string()).expect("the limit");
    let usage_at = detail.find(", it uses ").expect("the usage") + ", it uses ".len();
    assert!(limit_at < usage_at, "{refused}");
    assert!(
        detail[usage_at..].contains(&stored.to_string()),
        "{refused}"
    );
    assert!(detail.contains(" and this crate adds "), "{refused}");
    assert!(refused.contains("wharf admin plan set"), "{refused}");
    assert_eq!(registry.data_snapshot(), before);

    // The operator raises the plan; the running server takes both publishes at once.
    set_plan(&registry, "large", &plans);
    cargo.cargo_ok(&second, &PUBLISH);
    cargo.cargo_ok(&next, &PUBLISH);

    let report = usage(&registry, &registry.admin_token)?;
    assert_eq!(report["plan"], "large");
    assert_eq!(used(&report, "packages"), 2);
    assert!(used(&report, "storage-bytes") > stored);
    assert_eq!(registry.metric("wharf_usage_packages")?, 2);
    assert_eq!(registry.metric("wharf_plan_limit_packages")?, 10);
    assert_eq!(registry.metric("wharf_plan_limit_storage_bytes")?, 1 << 20);
    Ok(())
}

#[test]
fn the_plan_publish_rate_answers_429_and_usage_needs_a_token() -> TestResult {
    let scratch = tempfile::tempdir()?;
    let plans = scratch.path().join("plans.toml");
    std::fs::write(&plans, "[plans.hourly]\npublishes-per-hour = 2\n")?;
    let plans_arg = plans.to_str().expect("a UTF-8 path");
    let registry = TestRegistry::start_with(&["--plans", plans_arg]);
    set_plan(&registry, "hourly", &plans);
    let token = registry.create_token("alice", &[]);
    let put = |name: &str| {
        registry
            .http()
            .put(format!("{}/api/v1/crates/new", registry.url()))
            .header("Authorization", &token)
            .body(publish_body(name, "1.0.0"))
            .send()
    };
    assert_eq!(put("rate-one")?.status().as_u16(), 200);
    assert_eq!(put("rate-two")?.status().as_u16(), 200);
    let before = registry.data_snapshot();
    let refused = put("rate-three")?;
    assert_eq!(refused.status().as_u16(), 429);
    let wait: u64 = refused
        .headers()
        .get("retry-after")
        .expect("a 429 carries Retry-After")
        .to_str()?
        .parse()?;
    assert!((1..=3600).contains(&wait), "Retry-After: {wait}");
    let body: serde_json::Value = refused.json()?;
    assert_eq!(
        body["errors"][0]["detail"],
        "publish refused: the limit `publishes-per-hour` of this registry's plan `hourly` is 2, it uses 2 in the last hour; ask an operator to move this registry to a larger plan: wharf admin plan set NAME"
    );
    assert_eq!(registry.data_snapshot(), before);

    // Any valid token of the registry reads the usage; no token is refused.
    let anonymous = registry
        .http()
        .get(format!("{}/api/wharf/v1/usage", registry.url()))
        .send()?;
    assert_eq!(anonymous.status().as_u16(), 401);
    let report = usage(&registry, &token)?;
    assert_eq!(report["plan"], "hourly");
    assert_eq!(used(&report, "publishes-per-hour"), 2);
    assert_eq!(used(&report, "seats"), 1);

    // `wharf admin plan show` prints the same figures.
    let shown = registry.run_on_data(&["admin", "plan", "show"], &["--plans", plans_arg]);
    let shown = String::from_utf8(shown.stdout)?;
    assert!(shown.starts_with("plan: hourly\n"), "{shown}");
    assert!(shown.contains("publishes-per-hour: 2 of 2\n"), "{shown}");
    assert!(shown.contains("packages: 2 of unlimited\n"), "{shown}");
    Ok(())
}

#[test]
fn a_bad_plans_file_stops_serve_with_one_line_and_creates_nothing() -> TestResult {
    let scratch = tempfile::tempdir()?;
    let plans = scratch.path().join("plans.toml");
    std::fs::write(&plans, "[plans.free]\nstorage-bytes = \"a lot\"\n")?;
    let data = scratch.path().join("data");
    let output = Command::new(wharf_binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .arg("--plans")
        .arg(&plans)
        .output()?;
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr)?;
    let expected = format!(
        "plans file `{}`: `plans.free.storage-bytes`: `a lot` is not a size; write it like \"1 GiB\", \"500 MB\" or a number of bytes",
        plans.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(!data.exists(), "nothing was created");
    Ok(())
}

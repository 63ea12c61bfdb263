//! Operating tenants on a running server: suspend answers 403 with a message naming the
//! tenant and keeps its data, resume serves it again, every change is in the audit log, the
//! gate's refusals are audited in the log of the registry asked (never another tenant's),
//! a tenant cannot change its own plan, and bad names are refused with one line, creating
//! nothing.

use std::path::Path;

use wharf_e2e_tests::upload::publish_body;
use wharf_e2e_tests::{TestRegistry, TestResult, wharf_binary};

use crate::tenants::{create_tenant, tenant_token, wait_for_tenant};

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).trim().to_owned()
}

#[test]
fn a_suspended_tenant_answers_403_keeps_its_data_and_resumes() -> TestResult {
    let registry = TestRegistry::start();
    suspend_and_resume(&registry)?;
    // Each change is in the default registry's audit log.
    let export = registry.run_on_data(&["admin", "audit", "export"], &[]);
    let export = String::from_utf8_lossy(&export.stdout).into_owned();
    for action in ["tenant.create", "tenant.suspend", "tenant.resume"] {
        assert!(
            export
                .lines()
                .any(|line| line.contains(&format!("\"{action}\"")) && line.contains("shop")),
            "no {action} record in:\n{export}"
        );
    }
    let verify = registry.run_on_data(&["admin", "audit", "verify"], &[]);
    assert!(verify.status.success(), "{}", stderr_of(&verify));
    Ok(())
}

/// The same with the registry's metadata in PostgreSQL: `wharf tenant create|list|suspend|
/// resume` and `wharf token --tenant` work on it (given the database, here by
/// `WHARF_DATABASE`).
#[test]
fn a_suspended_tenant_answers_403_keeps_its_data_and_resumes_on_postgres() -> TestResult {
    suspend_and_resume(&TestRegistry::start_on_postgres_and_s3())
}

/// Tenant `shop`: published to, suspended (403 naming it, not the reason), listed with the
/// reason, its tokens still there, resumed serving what it served.
fn suspend_and_resume(registry: &TestRegistry) -> TestResult {
    create_tenant(registry, "shop", &[]);
    let owner = tenant_token(registry, "shop", "owner");
    wait_for_tenant(registry, "shop", &owner, 200)?;
    let url = registry.url();
    let published = registry
        .http()
        .put(format!("{url}/t/shop/api/v1/crates/new"))
        .header("Authorization", &owner)
        .body(publish_body("shop-lib", "1.0.0"))
        .send()?;
    assert_eq!(published.status(), 200, "{}", published.text()?);
    let entry = |registry: &TestRegistry| -> TestResult<(u16, String)> {
        let response = registry
            .http()
            .get(format!("{url}/t/shop/index/sh/op/shop-lib"))
            .send()?;
        Ok((response.status().as_u16(), response.text()?))
    };
    let (status, served) = entry(registry)?;
    assert_eq!(status, 200);

    let suspended = registry.run_on_data(
        &["tenant", "suspend"],
        &["shop", "--reason", "invoice 42 unpaid"],
    );
    assert!(suspended.status.success(), "{}", stderr_of(&suspended));
    wait_for_tenant(registry, "shop", &owner, 403)?;
    for path in [
        "/index/config.json",
        "/index/sh/op/shop-lib",
        "/api/v1/crates?q=shop",
    ] {
        let response = registry
            .http()
            .get(format!("{url}/t/shop{path}"))
            .header("Authorization", &owner)
            .send()?;
        assert_eq!(response.status(), 403, "{path}");
        let body: serde_json::Value = response.json()?;
        let detail = body["errors"][0]["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("tenant `shop` is suspended")
                && detail.contains("an operator must resume it")
                && !detail.contains('\n')
                && !detail.contains("invoice"),
            "{detail}"
        );
    }
    // Its registry is still there: its tokens list, and the listing names the reason.
    let tokens = registry.run_on_data(&["token", "list"], &["--tenant", "shop"]);
    assert!(String::from_utf8_lossy(&tokens.stdout).contains("owner"));
    let listed = registry.run_on_data(&["tenant", "list"], &[]);
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.contains("suspended: invoice 42 unpaid"), "{listed}");

    let resumed = registry.run_on_data(&["tenant", "resume"], &["shop"]);
    assert!(resumed.status.success(), "{}", stderr_of(&resumed));
    wait_for_tenant(registry, "shop", &owner, 200)?;
    assert_eq!(entry(registry)?, (200, served));
    Ok(())
}

#[test]
fn bad_tenant_names_are_refused_with_one_line_and_create_nothing() -> TestResult {
    let registry = TestRegistry::start();
    for (name, cause) in [
        ("../x", "contains `.`"),
        ("Acme", "contains `A`"),
        ("default", "is reserved"),
        ("api", "is reserved"),
        ("acme-", "must start with a letter and not end with `-`"),
        ("", "is empty"),
    ] {
        let refused = registry.run_on_data(&["tenant", "create"], &[name]);
        assert!(!refused.status.success(), "`{name}` was accepted");
        let message = stderr_of(&refused);
        assert_eq!(message.lines().count(), 1, "{message}");
        assert!(
            message.contains(&format!("tenant name `{name}`")) && message.contains(cause),
            "{message}"
        );
    }
    assert!(!registry.data_dir().join("tenants.json").exists());
    assert!(!registry.data_dir().join("tenants").exists());
    assert!(!registry.data_dir().join("x").exists());

    // A second tenant of the same name, and suspending one that does not exist, are refused.
    create_tenant(&registry, "acme", &[]);
    let table = std::fs::read(registry.data_dir().join("tenants.json"))?;
    let again = registry.run_on_data(&["tenant", "create"], &["acme"]);
    assert!(stderr_of(&again).contains("tenant `acme` already exists"));
    let unknown = registry.run_on_data(&["tenant", "suspend"], &["nobody", "--reason", "x"]);
    assert!(stderr_of(&unknown).contains("no tenant `nobody`"));
    let token = registry.run_on_data(&["token", "create"], &["--tenant", "nobody", "--user", "u"]);
    assert!(stderr_of(&token).contains("no tenant `nobody`"));
    assert_eq!(
        std::fs::read(registry.data_dir().join("tenants.json"))?,
        table
    );
    Ok(())
}

/// The audit records of `data` (a registry's data directory), one JSON value each, once
/// `wanted` holds for them: a record is queued behind the answer and joins the writer's
/// next commit, so it is waited for (up to 30 s), never assumed.
fn audit_records(
    data: &Path,
    wanted: impl Fn(&[serde_json::Value]) -> bool,
) -> TestResult<Vec<serde_json::Value>> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let output = std::process::Command::new(wharf_binary())
            .args(["admin", "audit", "export", "--data"])
            .arg(data)
            .output()?;
        assert!(output.status.success(), "{}", stderr_of(&output));
        let records: Vec<serde_json::Value> = String::from_utf8(output.stdout)?
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?;
        if wanted(&records) || std::time::Instant::now() > deadline {
            return Ok(records);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Whether a `tenant.refused` record for `path` with `status` is among `records`.
fn refusal_recorded(records: &[serde_json::Value], path: &str, status: &str) -> bool {
    records.iter().any(|record| {
        record["action"] == "tenant.refused"
            && record["target"] == path
            && record["outcome"]
                .as_str()
                .is_some_and(|outcome| outcome.starts_with(status))
    })
}

#[test]
#[allow(clippy::too_many_lines)] // one server through every kind of gate refusal and its log
fn tenant_gate_refusals_are_audited_without_crossing_tenants() -> TestResult {
    let registry = TestRegistry::start();
    create_tenant(&registry, "shop", &[]);
    create_tenant(&registry, "vault", &["--auth-required"]);
    let owner = tenant_token(&registry, "shop", "owner");
    let keeper = tenant_token(&registry, "vault", "keeper");
    wait_for_tenant(&registry, "shop", &owner, 200)?;
    wait_for_tenant(&registry, "vault", &keeper, 200)?;
    let url = registry.url();
    let get = |path: &str, token: &str| -> TestResult<u16> {
        Ok(registry
            .http()
            .get(format!("{url}{path}"))
            .header("Authorization", token)
            .send()?
            .status()
            .as_u16())
    };

    // A name that is no tenant, and another tenant's token on an auth-required one.
    assert_eq!(get("/t/nowhere/index/config.json", &owner)?, 401);
    assert_eq!(get("/t/vault/index/config.json", &owner)?, 401);
    // A tenant's admin cannot move it to another plan: the operator does.
    let plan = registry
        .http()
        .put(format!("{url}/t/shop/api/wharf/v1/plan"))
        .header("Authorization", &owner)
        .body(r#"{"plan":"enterprise"}"#)
        .send()?;
    assert_eq!(plan.status(), 403);
    let detail = plan.json::<serde_json::Value>()?["errors"][0]["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        detail.contains("tenant `shop` cannot change its own plan")
            && detail.contains("wharf admin plan set"),
        "{detail}"
    );
    // A suspended tenant.
    let suspended = registry.run_on_data(&["tenant", "suspend"], &["shop", "--reason", "audit"]);
    assert!(suspended.status.success(), "{}", stderr_of(&suspended));
    wait_for_tenant(&registry, "shop", &owner, 403)?;

    let data = registry.data_dir().to_owned();
    let operator = audit_records(&data, |records| {
        refusal_recorded(records, "/t/nowhere/index/config.json", "401")
            && refusal_recorded(records, "/t/shop/index/config.json", "403")
    })?;
    assert!(
        refusal_recorded(&operator, "/t/nowhere/index/config.json", "401"),
        "{operator:#?}"
    );
    assert!(
        refusal_recorded(&operator, "/t/shop/index/config.json", "403"),
        "{operator:#?}"
    );
    let vault = audit_records(&data.join("tenants/vault"), |records| {
        refusal_recorded(records, "/t/vault/index/config.json", "401")
    })?;
    assert!(
        refusal_recorded(&vault, "/t/vault/index/config.json", "401"),
        "{vault:#?}"
    );
    let plan_refused = |records: &[serde_json::Value]| {
        records.iter().any(|record| {
            record["action"] == "plan.set"
                && record["actor"] == "owner"
                && record["outcome"]
                    .as_str()
                    .is_some_and(|outcome| outcome.starts_with("403"))
        })
    };
    let shop = audit_records(&data.join("tenants/shop"), plan_refused)?;
    assert!(plan_refused(&shop), "{shop:#?}");
    // Each record names its tenant: a tenant's own log names that tenant, the operator's
    // refusals at a tenant's gate name the tenant that was asked.
    for (name, records) in [("vault", &vault), ("shop", &shop)] {
        assert!(!records.is_empty(), "{name}");
        for record in records.as_slice() {
            assert_eq!(record["tenant"], name, "{record}");
        }
    }
    for (path, tenant) in [
        ("/t/nowhere/index/config.json", "nowhere"),
        ("/t/shop/index/config.json", "shop"),
    ] {
        let refusal = operator
            .iter()
            .find(|record| record["action"] == "tenant.refused" && record["target"] == path)
            .ok_or("the refusal is recorded")?;
        assert_eq!(refusal["tenant"], tenant, "{refusal}");
    }
    assert!(
        operator
            .iter()
            .filter(|record| record["action"] != "tenant.refused")
            .all(|record| record["tenant"] == "default"),
        "{operator:#?}"
    );
    // No tenant's log tells of a request to another tenant, and none holds a token.
    for (name, records) in [("vault", &vault), ("shop", &shop)] {
        let text = serde_json::to_string(records)?;
        assert!(!text.contains("nowhere"), "{name}: {text}");
        assert!(!text.contains(&owner) && !text.contains(&keeper), "{name}");
    }
    assert!(
        !serde_json::to_string(&vault)?.contains("/t/shop"),
        "the vault's log names the shop"
    );
    for dir in [
        data.clone(),
        data.join("tenants/vault"),
        data.join("tenants/shop"),
    ] {
        let verify = std::process::Command::new(wharf_binary())
            .args(["admin", "audit", "verify", "--data"])
            .arg(&dir)
            .output()?;
        assert!(verify.status.success(), "{}", stderr_of(&verify));
    }
    Ok(())
}

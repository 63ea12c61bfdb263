//! Operating tenants on a running server: suspend answers 403 with a message naming the
//! tenant and keeps its data, resume serves it again, every change is in the audit log, and
//! bad names are refused with one line, creating nothing.

use wharf_e2e_tests::upload::publish_body;
use wharf_e2e_tests::{TestRegistry, TestResult};

use crate::tenants::{create_tenant, tenant_token, wait_for_tenant};

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).trim().to_owned()
}

#[test]
fn a_suspended_tenant_answers_403_keeps_its_data_and_resumes() -> TestResult {
    let registry = TestRegistry::start();
    create_tenant(&registry, "shop", &[]);
    let owner = tenant_token(&registry, "shop", "owner");
    wait_for_tenant(&registry, "shop", &owner, 200)?;
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
    let (status, served) = entry(&registry)?;
    assert_eq!(status, 200);

    let suspended = registry.run_on_data(
        &["tenant", "suspend"],
        &["shop", "--reason", "invoice 42 unpaid"],
    );
    assert!(suspended.status.success(), "{}", stderr_of(&suspended));
    wait_for_tenant(&registry, "shop", &owner, 403)?;
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
    wait_for_tenant(&registry, "shop", &owner, 200)?;
    assert_eq!(entry(&registry)?, (200, served));

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

//! `--auth-required`: the 401 probe, `cargo login`, a build with a token on every request, and
//! tokens that stop working while the server runs.

use wharf_e2e_tests::{CargoEnv, CrateProject, TestRegistry, TestResult};

#[test]
fn auth_required_registry_works_with_cargo_login() -> TestResult {
    let registry = TestRegistry::start_with(&["--auth-required"]);
    let http = registry.http();

    // The anonymous probe is 401 with cargo's challenge, never 403.
    let probe = http
        .get(format!("{}/index/config.json", registry.url()))
        .send()?;
    assert_eq!(probe.status(), 401);
    let challenge = probe.headers()["www-authenticate"].to_str()?.to_owned();
    assert!(challenge.starts_with("Cargo login_url=\""), "{challenge}");
    let authed = http
        .get(format!("{}/index/config.json", registry.url()))
        .header("Authorization", &registry.admin_token)
        .send()?;
    assert_eq!(authed.status(), 200);
    let config: serde_json::Value = authed.json()?;
    assert_eq!(config["auth-required"], true);
    // Downloads and API calls need a token too.
    let anonymous_search = http
        .get(format!("{}/api/v1/crates?q=x", registry.url()))
        .send()?;
    assert_eq!(anonymous_search.status(), 401);
    let bad_token = http
        .get(format!("{}/index/config.json", registry.url()))
        .header("Authorization", "wharf_not_a_real_token")
        .send()?;
    assert_eq!(bad_token.status(), 401);

    let cargo = CargoEnv::new(&registry.index_url());
    cargo.login(&registry.admin_token);
    let work = cargo.work_dir().to_path_buf();
    let lib = CrateProject::new("private-lib", "0.3.0")
        .lib("pub fn secret() -> &'static str { \"shh\" }")
        .write(&work);
    cargo.cargo_ok(&lib, &["publish", "--registry", "wharf", "--no-verify"]);
    let app = CrateProject::new("private-app", "0.1.0")
        .dep("private-lib", "{ version = \"0.3\", registry = \"wharf\" }")
        .main("fn main() { println!(\"{}\", private_lib::secret()); }")
        .write(&work);
    let run = cargo.cargo_ok(&app, &["run", "--quiet"]);
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "shh");

    // Without a token cargo cannot even read the index.
    let stranger = CargoEnv::new(&registry.index_url());
    let refused = stranger.cargo_err(&app, &["generate-lockfile"]);
    assert!(
        refused.contains("token") || refused.contains("401"),
        "{refused}"
    );
    Ok(())
}

/// Reads config.json with `token`: the status and the body.
fn read_config(registry: &TestRegistry, token: &str) -> TestResult<(u16, String)> {
    let response = registry
        .http()
        .get(format!("{}/index/config.json", registry.url()))
        .header("Authorization", token)
        .send()?;
    Ok((response.status().as_u16(), response.text()?))
}

#[test]
fn revoked_and_expired_tokens_lose_read_access_at_once() -> TestResult {
    let registry = TestRegistry::start_with(&["--auth-required"]);
    let reader = registry.create_token("reader", &["read"]);
    // Read more than once, so the server has verified the token and may remember it.
    for _ in 0..3 {
        assert_eq!(read_config(&registry, &reader)?.0, 200);
    }
    let revoked = registry.run_on_data(&["token", "revoke"], &[&registry.token_id("reader")]);
    assert!(revoked.status.success());
    let (status, body) = read_config(&registry, &reader)?;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("revoked"), "{body}");

    let output = registry.run_on_data(
        &["token", "create"],
        &["--user", "visitor", "--scope", "read", "--expires", "2s"],
    );
    let visitor = String::from_utf8(output.stdout)?.trim().to_owned();
    let created = std::time::Instant::now();
    let (status, body) = read_config(&registry, &visitor)?;
    assert_eq!(status, 200, "{body}");
    std::thread::sleep(std::time::Duration::from_secs(3).saturating_sub(created.elapsed()));
    let (status, body) = read_config(&registry, &visitor)?;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("expired"), "{body}");
    Ok(())
}

#[test]
fn a_token_without_the_read_scope_cannot_read_a_private_registry() -> TestResult {
    let registry = TestRegistry::start_with(&["--auth-required"]);
    let publisher = registry.create_token("ci", &["publish-new", "publish-update"]);
    let (status, body) = read_config(&registry, &publisher)?;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("lacks the `read` scope"), "{body}");
    let reader = registry.create_token("reader", &["read"]);
    assert_eq!(read_config(&registry, &reader)?.0, 200);
    Ok(())
}

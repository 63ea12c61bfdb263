//! Tenants over a real server: a tenant is a registry of its own under `/t/{tenant}/` that real
//! cargo publishes to, builds from, yanks and manages owners on; another tenant's token (and
//! the default registry's) gets, on every endpoint of an `auth-required` tenant, exactly the
//! answer a name that is no tenant gets.

use std::path::Path;
use std::time::{Duration, Instant};

use wharf_e2e_tests::{CargoEnv, CrateProject, TestRegistry, TestResult};

/// Runs `wharf tenant create NAME [flags]` on the registry's data and panics unless it works.
pub(crate) fn create_tenant(registry: &TestRegistry, name: &str, flags: &[&str]) {
    let mut args = vec![name];
    args.extend_from_slice(flags);
    let output = registry.run_on_data(&["tenant", "create"], &args);
    assert!(
        output.status.success(),
        "wharf tenant create {name} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `wharf token create --tenant TENANT --user USER` on the registry's data: the token.
pub(crate) fn tenant_token(registry: &TestRegistry, tenant: &str, user: &str) -> String {
    let output = registry.run_on_data(&["token", "create"], &["--tenant", tenant, "--user", user]);
    assert!(
        output.status.success(),
        "wharf token create --tenant {tenant} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("the token is UTF-8")
        .lines()
        .last()
        .expect("the token is the last line")
        .trim()
        .to_owned()
}

/// Waits (up to a minute) until `GET /t/{tenant}/index/config.json` with `token` answers
/// `status`: the running server has applied the tenants table.
pub(crate) fn wait_for_tenant(
    registry: &TestRegistry,
    tenant: &str,
    token: &str,
    status: u16,
) -> TestResult {
    let url = format!("{}/t/{tenant}/index/config.json", registry.url());
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        let answer = registry
            .http()
            .get(&url)
            .header("Authorization", token)
            .send()?
            .status()
            .as_u16();
        if answer == status {
            return Ok(());
        }
        assert!(
            Instant::now() < deadline,
            "tenant `{tenant}` still answers {answer}, not {status}, a minute after the change"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A tenant's sparse index URL.
pub(crate) fn tenant_index(registry: &TestRegistry, tenant: &str) -> String {
    format!("sparse+{}/t/{tenant}/index/", registry.url())
}

#[test]
fn cargo_publishes_builds_yanks_and_manages_owners_on_a_tenant() -> TestResult {
    let registry = TestRegistry::start();
    create_tenant(&registry, "acme", &["--auth-required"]);
    let alice = tenant_token(&registry, "acme", "alice");
    let bob = tenant_token(&registry, "acme", "bob");
    wait_for_tenant(&registry, "acme", &alice, 200)?;

    // config.json names the tenant's own URLs, so cargo stays under the prefix.
    let config: serde_json::Value = registry
        .http()
        .get(format!("{}/t/acme/index/config.json", registry.url()))
        .header("Authorization", &alice)
        .send()?
        .json()?;
    assert_eq!(config["api"], format!("{}/t/acme", registry.url()));
    assert_eq!(
        config["dl"],
        format!("{}/t/acme/blobs/sha256/{{sha256-checksum}}", registry.url())
    );

    let cargo = CargoEnv::new(&tenant_index(&registry, "acme"));
    cargo.login(&alice);
    let work = cargo.work_dir().to_path_buf();
    let lib = CrateProject::new("acme-lib", "1.0.0")
        .lib("pub fn who() -> &'static str { \"acme\" }")
        .write(&work);
    cargo.cargo_ok(&lib, &["publish", "--registry", "wharf", "--no-verify"]);
    let app = CrateProject::new("acme-app", "0.1.0")
        .dep("acme-lib", "{ version = \"1\", registry = \"wharf\" }")
        .main("fn main() { println!(\"{}\", acme_lib::who()); }")
        .write(&work);
    let run = cargo.cargo_ok(&app, &["run", "--quiet"]);
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "acme");

    yank_and_owners(&cargo, &work, &app, &registry, &bob)?;

    // The default registry knows nothing of the tenant's package.
    let default_file = registry
        .http()
        .get(format!("{}/index/ac/me/acme-lib", registry.url()))
        .send()?;
    assert_eq!(default_file.status(), 404);
    Ok(())
}

/// Yank and unyank through cargo, then owners: bob added, listed, and able to publish.
fn yank_and_owners(
    cargo: &CargoEnv,
    work: &Path,
    app: &Path,
    registry: &TestRegistry,
    bob: &str,
) -> TestResult {
    cargo.cargo_ok(work, &["yank", "--registry", "wharf", "acme-lib@1.0.0"]);
    let entry = registry
        .http()
        .get(format!("{}/t/acme/index/ac/me/acme-lib", registry.url()))
        .header("Authorization", bob)
        .send()?
        .text()?;
    assert!(entry.contains("\"yanked\":true"), "{entry}");
    cargo.cargo_ok(
        work,
        &["yank", "--undo", "--registry", "wharf", "acme-lib@1.0.0"],
    );
    cargo.cargo_ok(app, &["generate-lockfile"]);

    cargo.cargo_ok(
        work,
        &["owner", "--registry", "wharf", "--add", "bob", "acme-lib"],
    );
    let listed = cargo.cargo_ok(
        work,
        &["owner", "--registry", "wharf", "--list", "acme-lib"],
    );
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("bob") && listed.contains("alice"),
        "{listed}"
    );
    // Bob, now an owner, publishes the next version with his own token.
    let bob_cargo = CargoEnv::new(&tenant_index(registry, "acme"));
    bob_cargo.login(bob);
    let next = CrateProject::new("acme-lib", "1.0.1")
        .lib("pub fn who() -> &'static str { \"acme\" }")
        .write(bob_cargo.work_dir());
    bob_cargo.cargo_ok(&next, &["publish", "--registry", "wharf", "--no-verify"]);
    Ok(())
}

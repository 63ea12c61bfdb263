//! Which registries a published crate's dependencies may come from. Cargo omits `registry`
//! in the publish metadata for a dependency on the registry it publishes to and sends the
//! other registry's index URL otherwise; a registry that accepted any URL would let a
//! publisher send its users anywhere for a dependency (dependency confusion). By default
//! Wharf accepts itself and crates.io; anything else is refused with 400 and stores nothing.

use std::io::Write as _;

use serde_json::{Value, json};
use wharf_e2e_tests::upload::{crate_tarball, frame, metadata_json, publish_body};
use wharf_e2e_tests::{CargoEnv, CrateProject, TestRegistry, TestResult};

const PUBLISH: [&str; 4] = ["publish", "--registry", "wharf", "--no-verify"];
const CRATES_IO_GIT: &str = "https://github.com/rust-lang/crates.io-index";
const CRATES_IO_SPARSE: &str = "sparse+https://index.crates.io/";

/// A publish body of `name` 1.0.0 with one normal dependency on `dep` from `registry`
/// (`None`: no `registry` field, as cargo sends a dependency on the same registry).
fn body_with_dependency(name: &str, dep: &str, registry: Option<&str>) -> Vec<u8> {
    let mut metadata = metadata_json(name, "1.0.0");
    let mut dependency = json!({
        "optional": false, "default_features": true, "name": dep, "features": [],
        "version_req": "^1", "target": null, "kind": "normal"
    });
    if let Some(registry) = registry {
        dependency["registry"] = json!(registry);
    }
    metadata["deps"] = json!([dependency]);
    frame(
        metadata.to_string().as_bytes(),
        &crate_tarball(name, "1.0.0"),
    )
}

/// Sends a publish with the admin token; returns the status and the error detail (if any).
fn publish(registry: &TestRegistry, body: Vec<u8>) -> TestResult<(u16, String)> {
    let response = registry
        .http()
        .put(format!("{}/api/v1/crates/new", registry.url()))
        .header("Authorization", &registry.admin_token)
        .body(body)
        .send()?;
    let status = response.status().as_u16();
    let answer: Value = response.json().unwrap_or_default();
    let detail = answer["errors"][0]["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok((status, detail))
}

/// The dependencies of the one line of `name`'s index file.
fn index_deps(registry: &TestRegistry, name: &str) -> TestResult<Value> {
    let text = registry
        .http()
        .get(format!(
            "{}/index/{}",
            registry.url(),
            wharf_index_format::index_path(name)
        ))
        .send()?
        .error_for_status()?
        .text()?;
    let line: Value = serde_json::from_str(text.lines().last().unwrap_or_default())?;
    Ok(line["deps"].clone())
}

#[test]
fn a_dependency_from_an_unknown_registry_is_refused_and_stores_nothing() -> TestResult {
    let registry = TestRegistry::start();
    let (status, detail) = publish(&registry, publish_body("seed-crate", "1.0.0"))?;
    assert_eq!(status, 200, "{detail}");
    let before = registry.data_snapshot();

    let (status, detail) = publish(
        &registry,
        body_with_dependency("confused", "serde", Some("https://evil.invalid/index")),
    )?;
    assert_eq!(status, 400, "{detail}");
    let allowed = format!(
        "`{}`, `{CRATES_IO_GIT}`, `{CRATES_IO_SPARSE}`",
        registry.index_url()
    );
    assert!(
        detail.starts_with(
            "invalid dependency `serde`: it comes from registry `https://evil.invalid/index`"
        ) && detail.contains(&allowed)
            && detail.contains("allowed-dependency-registries")
            && !detail.contains('\n'),
        "{detail}"
    );
    // Another registry's sparse spelling and a look-alike of crates.io are refused too.
    for elsewhere in [
        "sparse+https://index.crates.io.evil.invalid/",
        "sparse+http://127.0.0.1:1/index/",
    ] {
        let (status, detail) = publish(
            &registry,
            body_with_dependency("confused", "serde", Some(elsewhere)),
        )?;
        assert_eq!(status, 400, "{elsewhere}: {detail}");
        assert!(detail.contains(&format!("`{elsewhere}`")), "{detail}");
    }
    assert_eq!(
        registry.data_snapshot(),
        before,
        "a refused publish changed stored data"
    );
    let missing = registry
        .http()
        .get(format!("{}/index/co/nf/confused", registry.url()))
        .send()?;
    assert_eq!(missing.status(), 404);
    Ok(())
}

#[test]
fn real_cargo_cannot_publish_a_dependency_on_another_registry() -> TestResult {
    // Another registry holds the dependency; cargo resolves it there and names its URL.
    let elsewhere = TestRegistry::start();
    let publisher = CargoEnv::new(&elsewhere.index_url());
    publisher.login(&elsewhere.admin_token);
    let far = CrateProject::new("far-dep", "1.0.0")
        .lib("pub fn far() -> u32 { 1 }")
        .write(publisher.work_dir());
    publisher.cargo_ok(&far, &PUBLISH);

    let registry = TestRegistry::start();
    let cargo = CargoEnv::new(&registry.index_url());
    std::fs::OpenOptions::new()
        .append(true)
        .open(cargo.home().join("config.toml"))?
        .write_all(
            format!(
                "\n[registries.elsewhere]\nindex = \"{}\"\n",
                elsewhere.index_url()
            )
            .as_bytes(),
        )?;
    cargo.login(&registry.admin_token);
    let before = registry.data_snapshot();
    let confused = CrateProject::new("confused", "1.0.0")
        .dep("far-dep", r#"{ version = "1", registry = "elsewhere" }"#)
        .lib("pub fn f() -> u32 { far_dep::far() }")
        .write(cargo.work_dir());
    let stderr = cargo.cargo_err(&confused, &PUBLISH);
    assert!(
        stderr.contains(&format!(
            "invalid dependency `far-dep`: it comes from registry `{}`",
            elsewhere.index_url()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("400"), "{stderr}");
    assert_eq!(registry.data_snapshot(), before);
    Ok(())
}

#[test]
fn crates_io_and_same_registry_dependencies_are_accepted_and_build() -> TestResult {
    let registry = TestRegistry::start();
    let cargo = CargoEnv::new(&registry.index_url());
    cargo.login(&registry.admin_token);
    let work = cargo.work_dir().to_path_buf();

    // crates.io in both spellings cargo writes: accepted, and the line keeps the URL so cargo
    // fetches the dependency from crates.io (not built here: there is no network).
    for (name, url) in [
        ("uses-git-cio", CRATES_IO_GIT),
        ("uses-sparse-cio", CRATES_IO_SPARSE),
    ] {
        let (status, detail) = publish(&registry, body_with_dependency(name, "serde", Some(url)))?;
        assert_eq!(status, 200, "{name}: {detail}");
        assert_eq!(index_deps(&registry, name)?[0]["registry"], url);
    }

    // A dependency on this registry, through real cargo: cargo leaves `registry` out.
    let base = CrateProject::new("home-base", "1.0.0")
        .lib("pub fn base() -> u32 { 40 }")
        .write(&work);
    cargo.cargo_ok(&base, &PUBLISH);
    let middle = CrateProject::new("home-middle", "1.0.0")
        .dep("home-base", r#"{ version = "1", registry = "wharf" }"#)
        .lib("pub fn middle() -> u32 { home_base::base() + 2 }")
        .write(&work);
    cargo.cargo_ok(&middle, &PUBLISH);
    let deps = index_deps(&registry, "home-middle")?;
    assert_eq!(deps[0]["name"], "home-base");
    assert!(deps[0].get("registry").is_none(), "{deps}");

    // The same dependency spelled with this registry's own index URL is accepted as well.
    let (status, detail) = publish(
        &registry,
        body_with_dependency("home-explicit", "home-base", Some(&registry.index_url())),
    )?;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(
        index_deps(&registry, "home-explicit")?[0]["registry"],
        registry.index_url()
    );

    // Real cargo builds a crate whose dependency depends on the same-registry dependency.
    let app = CrateProject::new("home-app", "0.1.0")
        .dep("home-middle", r#"{ version = "1", registry = "wharf" }"#)
        .main("fn main() { println!(\"answer={}\", home_middle::middle()); }")
        .write(&work);
    let run = cargo.cargo_ok(&app, &["run", "--quiet"]);
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "answer=42");
    Ok(())
}

#[test]
fn an_operator_narrows_the_list_to_this_registry_alone() -> TestResult {
    let registry = TestRegistry::start_with(&["--allowed-dependency-registry", ""]);
    let (status, detail) = publish(
        &registry,
        body_with_dependency("uses-cio", "serde", Some(CRATES_IO_GIT)),
    )?;
    assert_eq!(status, 400, "{detail}");
    assert!(
        detail.contains(&format!(
            "accepts dependencies only from `{}`;",
            registry.index_url()
        )),
        "{detail}"
    );
    let (status, detail) = publish(&registry, publish_body("home-base", "1.0.0"))?;
    assert_eq!(status, 200, "{detail}");
    let (status, detail) = publish(
        &registry,
        body_with_dependency("home-user", "home-base", None),
    )?;
    assert_eq!(status, 200, "{detail}");
    Ok(())
}

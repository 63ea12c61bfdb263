//! A feature that enables a feature of a dev-dependency (syn's
//! `test = ["syn-test-suite/all-features"]`) is published by the real cargo and accepted, as
//! crates.io accepts it, with the line cargo sent kept as it is; a feature naming a
//! dependency the package does not have is still refused.

use wharf_e2e_tests::upload::{crate_tarball, frame, metadata_json};
use wharf_e2e_tests::{CargoEnv, CrateProject, TestRegistry, TestResult};

#[test]
fn a_feature_naming_a_dev_dependency_publishes_as_on_crates_io() -> TestResult {
    let registry = TestRegistry::start();
    let cargo = CargoEnv::new(&registry.index_url());
    cargo.login(&registry.admin_token);
    let publish = ["publish", "--registry", "wharf", "--no-verify"];
    let helper = CrateProject::new("suite-helper", "0.1.0")
        .feature("all-features", &[])
        .lib("pub fn helper() {}")
        .write(cargo.work_dir());
    cargo.cargo_ok(&helper, &publish);
    let package = CrateProject::new("parser-like", "1.0.0")
        .feature("test", &["suite-helper/all-features"])
        .lib("pub fn parse() {}")
        .write(cargo.work_dir());
    let manifest = package.join("Cargo.toml");
    let mut text = std::fs::read_to_string(&manifest)?;
    text.push_str(
        "\n[dev-dependencies]\nsuite-helper = { version = \"0.1\", registry = \"wharf\" }\n",
    );
    std::fs::write(&manifest, text)?;
    cargo.cargo_ok(&package, &publish);

    // The index line keeps what cargo sent: the dev-dependency and the feature naming it.
    registry.settle();
    let line = registry
        .http()
        .get(format!("{}/index/pa/rs/parser-like", registry.url()))
        .send()?
        .text()?;
    let entry: serde_json::Value = serde_json::from_str(line.trim())?;
    assert_eq!(
        entry["features"]["test"],
        serde_json::json!(["suite-helper/all-features"]),
        "{line}"
    );
    let dev = entry["deps"]
        .as_array()
        .and_then(|deps| deps.iter().find(|d| d["name"] == "suite-helper"))
        .expect("the dev-dependency is listed");
    assert_eq!(dev["kind"], "dev", "{line}");

    // A dependent that turns the feature on still resolves and builds (cargo ignores a
    // dependency's dev-dependencies).
    let consumer = CrateProject::new("parser-user", "0.1.0")
        .dep(
            "parser-like",
            r#"{ version = "1", registry = "wharf", features = ["test"] }"#,
        )
        .lib("pub fn run() { parser_like::parse() }")
        .write(cargo.work_dir());
    cargo.cargo_ok(&consumer, &["build"]);

    // A feature naming no dependency at all is still refused, naming the value.
    let mut metadata = metadata_json("dangling-feature", "1.0.0");
    metadata["features"] = serde_json::json!({ "test": ["nowhere/all-features"] });
    let refused = registry
        .http()
        .put(format!("{}/api/v1/crates/new", registry.url()))
        .header("Authorization", &registry.admin_token)
        .body(frame(
            metadata.to_string().as_bytes(),
            &crate_tarball("dangling-feature", "1.0.0"),
        ))
        .send()?;
    assert_eq!(refused.status().as_u16(), 400);
    let text = refused.text()?;
    assert!(
        text.contains("`nowhere/all-features` names `nowhere`, which is not a dependency"),
        "{text}"
    );
    Ok(())
}

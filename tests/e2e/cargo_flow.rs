//! The whole life of crates through real cargo: publish, build, yank, owners, search, restart;
//! on the embedded default and on PostgreSQL with blobs in S3.

use std::path::{Path, PathBuf};

use wharf_e2e_tests::{CargoEnv, CrateProject, TestRegistry, TestResult};

const REG: &str = r#"registry = "wharf""#;

fn lock_versions(lock: &str, name: &str) -> Vec<String> {
    let parsed: toml_lite::Lock = toml_lite::parse(lock);
    parsed
        .packages
        .into_iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v)
        .collect()
}

/// A tiny reader for the `name`/`version` pairs of a Cargo.lock, enough for assertions.
mod toml_lite {
    pub(super) struct Lock {
        pub(super) packages: Vec<(String, String)>,
    }

    pub(super) fn parse(text: &str) -> Lock {
        let mut packages = Vec::new();
        let mut name = None;
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("name = ") {
                name = Some(v.trim_matches('"').to_owned());
            } else if let Some(v) = line.strip_prefix("version = ")
                && let Some(n) = name.take()
            {
                packages.push((n, v.trim_matches('"').to_owned()));
            }
        }
        Lock { packages }
    }
}

const PUBLISH: [&str; 4] = ["publish", "--registry", "wharf", "--no-verify"];

#[test]
fn cargo_publishes_builds_yanks_manages_owners_and_searches() -> TestResult {
    whole_life(TestRegistry::start())
}

/// The same life on a registry whose metadata is in PostgreSQL and whose blobs are in an S3
/// bucket (Garage), both started by the test; the `wharf token` commands it runs find the
/// database through `WHARF_DATABASE`.
#[test]
fn cargo_publishes_builds_yanks_manages_owners_and_searches_on_postgres_and_s3() -> TestResult {
    let registry = TestRegistry::start_on_postgres_and_s3();
    assert!(!registry.data_dir().join("wharf.db").exists());
    assert!(!registry.data_dir().join("blobs").exists());
    whole_life(registry)
}

fn whole_life(mut registry: TestRegistry) -> TestResult {
    let cargo = CargoEnv::new(&registry.index_url());
    cargo.login(&registry.admin_token);
    let work = cargo.work_dir().to_path_buf();
    let consumer = publish_and_build(&registry, &cargo, &work)?;
    yank_and_unyank(&cargo, &work, &consumer)?;
    owners_and_permissions(&registry, &cargo, &work);
    search(&cargo, &work);

    // A restart keeps everything: a fresh cargo home resolves and builds the same project.
    registry.restart();
    let after = CargoEnv::new(&registry.index_url());
    after.login(&registry.admin_token);
    std::fs::remove_file(consumer.join("Cargo.lock"))?;
    let run = after.cargo_ok(&consumer, &["run", "--quiet"]);
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "sum=51");
    Ok(())
}

/// Publishes crates with an optional dependency, a renamed dependency and a `+build` version,
/// then builds and runs a consumer of all of them. Returns the consumer's directory.
fn publish_and_build(
    registry: &TestRegistry,
    cargo: &CargoEnv,
    work: &Path,
) -> TestResult<PathBuf> {
    let publish = PUBLISH;

    let base = CrateProject::new("wharf-base", "1.0.0")
        .lib("pub fn base() -> u32 { 1 }")
        .write(work);
    cargo.cargo_ok(&base, &publish);
    let extra = CrateProject::new("wharf_extra", "0.2.0")
        .lib("pub fn extra() -> u32 { 40 }")
        .write(work);
    cargo.cargo_ok(&extra, &publish);
    let optional = CrateProject::new("wharf-opt", "1.0.0")
        .dep("wharf_extra", &format!("{{ version = \"0.2\", {REG}, optional = true }}"))
        .feature("more", &["dep:wharf_extra"])
        .lib("pub fn value() -> u32 { if cfg!(feature = \"more\") { extra() + 2 } else { 2 } }\n#[cfg(feature = \"more\")] fn extra() -> u32 { wharf_extra::extra() }\n#[cfg(not(feature = \"more\"))] fn extra() -> u32 { 0 }")
        .write(work);
    cargo.cargo_ok(&optional, &publish);
    // Verified publish: cargo builds the packaged crate, downloading its dependency from Wharf.
    let renamed = CrateProject::new("wharf-renamed", "0.1.0")
        .dep(
            "basic",
            &format!("{{ package = \"wharf-base\", version = \"1\", {REG} }}"),
        )
        .lib("pub fn via() -> u32 { basic::base() }")
        .write(work);
    cargo.cargo_ok(&renamed, &["publish", "--registry", "wharf"]);
    let meta = CrateProject::new("wharf-meta", "1.0.0+build.7")
        .lib("pub fn meta() -> u32 { 7 }")
        .write(work);
    cargo.cargo_ok(&meta, &publish);

    // The index line of the renamed dependency carries the alias and the real package.
    let line = registry
        .http()
        .get(format!("{}/index/wh/ar/wharf-renamed", registry.url()))
        .send()?
        .text()?;
    assert!(
        line.contains(r#""name":"basic""#) && line.contains(r#""package":"wharf-base""#),
        "{line}"
    );
    let opt_line = registry
        .http()
        .get(format!("{}/index/wh/ar/wharf-opt", registry.url()))
        .send()?
        .text()?;
    assert!(
        opt_line.contains(r#""features2":{"more":["dep:wharf_extra"]}"#),
        "{opt_line}"
    );
    assert!(opt_line.contains(r#""v":2"#), "{opt_line}");

    let consumer = CrateProject::new("consumer", "0.1.0")
        .dep("wharf-base", &format!("{{ version = \"1\", {REG} }}"))
        .dep("wharf-opt", &format!("{{ version = \"1\", {REG}, features = [\"more\"] }}"))
        .dep("wharf-renamed", &format!("{{ version = \"0.1\", {REG} }}"))
        .dep("wharf-meta", &format!("{{ version = \"1\", {REG} }}"))
        .main("fn main() { println!(\"sum={}\", wharf_base::base() + wharf_opt::value() + wharf_renamed::via() + wharf_meta::meta()); }")
        .write(work);
    let run = cargo.cargo_ok(&consumer, &["run", "--quiet"]);
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "sum=51");

    // Publishing the same version again is refused.
    let duplicate = cargo.cargo_err(&base, &publish);
    assert!(
        duplicate.contains("already exists") || duplicate.contains("already published"),
        "{duplicate}"
    );
    Ok(consumer)
}

fn yank_and_unyank(cargo: &CargoEnv, work: &Path, consumer: &Path) -> TestResult {
    let publish = PUBLISH;
    // Yank makes resolution avoid the version; unyank brings it back.
    let newer = CrateProject::new("wharf-base", "1.0.1")
        .lib("pub fn base() -> u32 { 1 }")
        .write(&work.join("newer"));
    cargo.cargo_ok(&newer, &publish);
    cargo.cargo_ok(work, &["yank", "--registry", "wharf", "wharf-base@1.0.1"]);
    cargo.cargo_ok(consumer, &["generate-lockfile"]);
    let lock = std::fs::read_to_string(consumer.join("Cargo.lock"))?;
    assert_eq!(lock_versions(&lock, "wharf-base"), ["1.0.0"]);
    cargo.cargo_ok(
        work,
        &["yank", "--undo", "--registry", "wharf", "wharf-base@1.0.1"],
    );
    cargo.cargo_ok(consumer, &["generate-lockfile"]);
    let lock = std::fs::read_to_string(consumer.join("Cargo.lock"))?;
    assert_eq!(lock_versions(&lock, "wharf-base"), ["1.0.1"]);
    Ok(())
}

fn owners_and_permissions(registry: &TestRegistry, cargo: &CargoEnv, work: &Path) {
    let publish = PUBLISH;
    // Owners: add, list, remove.
    let _bob = registry.create_token("bob", &[]);
    // A second token for bob, carrying his display name, which owner lists show.
    let named = registry.run_on_data(
        &["token", "create"],
        &["--user", "bob", "--display-name", "Bob Builder"],
    );
    assert!(named.status.success());
    let added = cargo.cargo_ok(
        work,
        &["owner", "--registry", "wharf", "--add", "bob", "wharf-base"],
    );
    assert!(String::from_utf8_lossy(&added.stderr).contains("bob"));
    let listed = cargo.cargo_ok(
        work,
        &["owner", "--registry", "wharf", "--list", "wharf-base"],
    );
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        listed.contains("admin") && listed.contains("bob (Bob Builder)"),
        "{listed}"
    );
    cargo.cargo_ok(
        work,
        &[
            "owner",
            "--registry",
            "wharf",
            "--remove",
            "bob",
            "wharf-base",
        ],
    );
    let listed = cargo.cargo_ok(
        work,
        &["owner", "--registry", "wharf", "--list", "wharf-base"],
    );
    assert!(!String::from_utf8_lossy(&listed.stdout).contains("bob"));

    // A token of a user who does not own the crate cannot publish to it or yank it.
    let mallory = CargoEnv::new(&registry.index_url());
    mallory.login(&registry.create_token("mallory", &[]));
    let intruder = CrateProject::new("wharf-base", "9.0.0").write(mallory.work_dir());
    let refused = mallory.cargo_err(&intruder, &publish);
    assert!(
        refused.contains("403") && refused.contains("not an owner"),
        "{refused}"
    );
    let refused = mallory.cargo_err(
        mallory.work_dir(),
        &["yank", "--registry", "wharf", "wharf-base@1.0.0"],
    );
    assert!(refused.contains("not an owner"), "{refused}");
}

fn search(cargo: &CargoEnv, work: &Path) {
    // Search sees names and descriptions, with the total.
    let found = cargo.cargo_ok(
        work,
        &["search", "--registry", "wharf", "--limit", "2", "wharf"],
    );
    let found = String::from_utf8_lossy(&found.stdout).into_owned();
    assert!(found.contains("wharf-base = \"1.0.1\""), "{found}");
    assert!(found.contains("and 3 crates more"), "{found}");
}

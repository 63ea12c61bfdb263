//! `wharf bundle export --data DIR` (a stopped registry's data directory, no server) and
//! `--format local-registry` (a directory plain cargo builds from offline, with no Wharf).

use std::path::Path;
use std::process::{Command, Output};

use wharf_e2e_tests::{
    CargoEnv, CrateProject, DataSnapshot, TestRegistry, TestResult, describe, wharf_binary,
};

use crate::bundle::{crate_files, import, keys, tampered, tree, unpack};

/// `wharf bundle export --data <registry's data dir> --public-url URL …`.
fn export_data(registry: &TestRegistry, public_url: &str, args: &[&str], out: &Path) -> Output {
    Command::new(wharf_binary())
        .args(["bundle", "export", "--data"])
        .arg(registry.data_dir())
        .args(["--public-url", public_url])
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .expect("wharf runs")
}

/// `export_data` with `--format local-registry` (no exporter key) and the choice `args`.
fn export_local(
    registry: &TestRegistry,
    public_url: &str,
    root: &Path,
    args: &[&str],
    out: &Path,
) -> Output {
    let mut all = args.to_vec();
    all.extend([
        "--format",
        "local-registry",
        "--root-key",
        root.to_str().expect("UTF-8"),
    ]);
    export_data(registry, public_url, &all, out)
}

/// Appends `text` to the cargo home's `config.toml`.
fn append_config(cargo: &CargoEnv, text: &str) {
    let config = cargo.home().join("config.toml");
    let mut current = std::fs::read_to_string(&config).expect("the cargo config");
    current.push('\n');
    current.push_str(text);
    std::fs::write(&config, current).expect("written");
}

/// Publishes `air-base 1.0.0` and `air-top 0.1.0` (which depends on it) with the real cargo.
pub(crate) fn publish_pair(registry: &TestRegistry) {
    let cargo = CargoEnv::new(&registry.index_url());
    cargo.login(&registry.admin_token);
    let work = cargo.work_dir().to_path_buf();
    let publish_args = ["publish", "--registry", "wharf", "--no-verify"];
    let base = CrateProject::new("air-base", "1.0.0")
        .lib("pub fn base() -> u32 { 40 }")
        .write(&work);
    cargo.cargo_ok(&base, &publish_args);
    let top = CrateProject::new("air-top", "0.1.0")
        .dep("air-base", r#"{ version = "1", registry = "wharf" }"#)
        .lib("pub fn top() -> u32 { air_base::base() + 2 }")
        .write(&work);
    cargo.cargo_ok(&top, &publish_args);
}

#[test]
fn a_stopped_registrys_data_directory_exports_a_bundle_that_imports_and_verifies() -> TestResult {
    let mut registry = TestRegistry::start();
    publish_pair(&registry);
    let public_url = registry.url();
    let dir = tempfile::tempdir()?;
    let (key, exporter_pub, root) = keys(&registry, dir.path());
    registry.stop();
    let stored = tree(&registry.data_dir().join("index"));
    let key_args = [
        "--key",
        key.to_str().expect("UTF-8"),
        "--root-key",
        root.to_str().expect("UTF-8"),
    ];

    // A directory that holds no registry: one line, exit 2, nothing created.
    let empty = dir.path().join("not-a-registry");
    std::fs::create_dir(&empty)?;
    let refused = Command::new(wharf_binary())
        .args(["bundle", "export", "--all", "--data"])
        .arg(&empty)
        .args(["--public-url", &public_url])
        .args(key_args)
        .arg("--out")
        .arg(dir.path().join("never.bundle"))
        .output()?;
    assert_eq!(refused.status.code(), Some(2), "{}", describe(&refused));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no registry in"), "{stderr}");
    assert_eq!(std::fs::read_dir(&empty)?.count(), 0);
    assert!(!dir.path().join("never.bundle").exists());

    let bundle = dir.path().join("from-data.bundle");
    let mut args = vec!["--all"];
    args.extend(key_args);
    // Export only reads: every file of the data directory, the database included, is
    // byte-identical afterwards and none is added (no `-wal`/`-shm`, no migration, no repair).
    let before = tree(registry.data_dir());
    let exported = export_data(&registry, &public_url, &args, &bundle);
    assert!(exported.status.success(), "{}", describe(&exported));
    assert!(
        before == tree(registry.data_dir()),
        "export changed the data directory"
    );
    // Also while another reader holds the database open in WAL mode: the same rows.
    let logical = DataSnapshot::take(registry.data_dir());
    let files = tree(registry.data_dir());
    let again = export_data(
        &registry,
        &public_url,
        &args,
        &dir.path().join("again.bundle"),
    );
    assert!(again.status.success(), "{}", describe(&again));
    assert_eq!(DataSnapshot::take(registry.data_dir()), logical);
    assert!(
        files == tree(registry.data_dir()),
        "export changed the data directory"
    );
    let said = String::from_utf8_lossy(&exported.stdout);
    assert!(
        said.starts_with("exported 2 packages, 2 versions (2 blobs)"),
        "{said}"
    );

    // Imported elsewhere from the pinned keys alone: the index files the registry stored,
    // byte for byte, and the config.json its server would serve.
    let served = dir.path().join("served");
    let imported = import(&bundle, &served, &exporter_pub, &root, &[]);
    assert!(imported.status.success(), "{}", describe(&imported));
    let copy = tree(&served.join("current"));
    for path in ["ai/r-/air-base", "ai/r-/air-top"] {
        assert_eq!(
            copy.get(&format!("index/{path}")),
            stored.get(path),
            "{path}"
        );
    }
    let config: serde_json::Value = serde_json::from_slice(&copy["index/config.json"])?;
    assert_eq!(
        config["dl"],
        format!("{public_url}/blobs/sha256/{{sha256-checksum}}")
    );
    assert_eq!(copy.keys().filter(|p| p.starts_with("blobs/")).count(), 2);

    // One flipped byte of one blob: refused by unpack too, and nothing is written.
    let bad = tampered(&bundle, &dir.path().join("bad.bundle"), "blobs/", |body| {
        body[10] ^= 1;
    });
    let out = dir.path().join("bad-unpack");
    let refused = unpack(&bad, &exporter_pub, &root, &out);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("member `blobs/sha256/"),
        "{}",
        describe(&refused)
    );
    assert!(!out.exists());
    Ok(())
}

#[test]
fn export_as_a_local_registry_lets_plain_cargo_build_offline_without_wharf() -> TestResult {
    let mut registry = TestRegistry::start();
    publish_pair(&registry);
    let public_url = registry.url();
    let dir = tempfile::tempdir()?;
    let (_, _, root) = keys(&registry, dir.path());
    // A project that names the registry, locked by the real cargo while it runs.
    let index_url = registry.index_url();
    let locking = CargoEnv::new(&index_url);
    let locked_project = CrateProject::new("air-locked", "0.1.0")
        .dep("air-top", r#"{ version = "0.1", registry = "wharf" }"#)
        .main("fn main() { println!(\"value={}\", air_top::top()); }")
        .write(locking.work_dir());
    locking.cargo_ok(&locked_project, &["generate-lockfile"]);
    registry.stop();

    // From the stopped registry's data: the closure of `air-top`, no exporter key needed.
    let offline = dir.path().join("offline-registry");
    let exported = export_local(
        &registry,
        &public_url,
        &root,
        &["--roots", "air-top@0.1"],
        &offline,
    );
    assert!(exported.status.success(), "{}", describe(&exported));
    assert_eq!(
        crate_files(&offline),
        ["air-base-1.0.0.crate", "air-top-0.1.0.crate"]
    );
    assert!(offline.join("index/ai/r-/air-top").is_file());

    // A new cargo home that knows no Wharf: crates.io replaced by the directory.
    let cargo = CargoEnv::new("sparse+http://127.0.0.1:9/unused/");
    append_config(
        &cargo,
        &format!(
            "[source.crates-io]\nreplace-with = \"air-gapped\"\n\n[source.air-gapped]\nlocal-registry = \"{}\"\n",
            offline.display()
        ),
    );
    let consumer = CrateProject::new("air-consumer", "0.1.0")
        .dep("air-top", r#""0.1""#)
        .main("fn main() { println!(\"value={}\", air_top::top()); }")
        .write(cargo.work_dir());
    let built = cargo.cargo_ok(&consumer, &["build", "--offline"]);
    assert!(built.status.success(), "{}", describe(&built));
    let run = cargo.cargo_ok(&consumer, &["run", "--offline", "--quiet"]);
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "value=42");

    // Exactly the versions that project's Cargo.lock pins, for the registry under its name.
    let from_lock = dir.path().join("from-lock");
    let lockfile = locked_project.join("Cargo.lock");
    let exported = export_local(
        &registry,
        &public_url,
        &root,
        &["--lockfile", lockfile.to_str().expect("UTF-8")],
        &from_lock,
    );
    assert!(exported.status.success(), "{}", describe(&exported));
    assert_eq!(
        crate_files(&from_lock),
        ["air-base-1.0.0.crate", "air-top-0.1.0.crate"]
    );
    append_config(
        &locking,
        &format!(
            "[source.wharf-remote]\nregistry = \"{index_url}\"\nreplace-with = \"wharf-offline\"\n\n[source.wharf-offline]\nlocal-registry = \"{}\"\n",
            from_lock.display()
        ),
    );
    let run = locking.cargo_ok(
        &locked_project,
        &["run", "--offline", "--locked", "--quiet"],
    );
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "value=42");

    // The directory must be new or empty: a second export changes nothing in it.
    let before = tree(&offline);
    let again = export_local(&registry, &public_url, &root, &["--all"], &offline);
    assert_eq!(again.status.code(), Some(2), "{}", describe(&again));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("is not empty"),
        "{}",
        describe(&again)
    );
    assert_eq!(tree(&offline), before);
    Ok(())
}

#[test]
fn a_registry_with_its_blobs_on_s3_exports_from_its_data_directory() -> TestResult {
    let garage = wharf_test_support::garage::GarageServer::start();
    let url = garage.url("bundle/blobs");
    let mut registry =
        TestRegistry::start_with_env(&["--storage", url.as_str()], &garage.aws_env());
    publish_pair(&registry);
    let public_url = registry.url();
    let dir = tempfile::tempdir()?;
    let (key, exporter_pub, root) = keys(&registry, dir.path());
    registry.stop();
    assert!(!registry.data_dir().join("blobs").join("sha256").exists());
    let before = tree(registry.data_dir());

    // The blobs are read from the bucket the data directory records, with the `AWS_*`
    // settings, and nothing in the directory changes.
    let bundle = dir.path().join("s3.bundle");
    let exported = Command::new(wharf_binary())
        .args(["bundle", "export", "--all", "--data"])
        .arg(registry.data_dir())
        .args(["--public-url", &public_url, "--key"])
        .arg(&key)
        .arg("--root-key")
        .arg(&root)
        .arg("--out")
        .arg(&bundle)
        .envs(garage.aws_env())
        .output()?;
    assert!(exported.status.success(), "{}", describe(&exported));
    assert!(
        String::from_utf8_lossy(&exported.stdout)
            .starts_with("exported 2 packages, 2 versions (2 blobs)"),
        "{}",
        describe(&exported)
    );
    assert!(
        before == tree(registry.data_dir()),
        "export changed the data directory"
    );
    let served = dir.path().join("served");
    let imported = import(&bundle, &served, &exporter_pub, &root, &[]);
    assert!(imported.status.success(), "{}", describe(&imported));
    assert_eq!(
        tree(&served.join("current"))
            .keys()
            .filter(|p| p.starts_with("blobs/"))
            .count(),
        2
    );

    // Without credentials for the bucket: one line naming the bucket, exit 2, no file.
    let refused = Command::new(wharf_binary())
        .args(["bundle", "export", "--all", "--data"])
        .arg(registry.data_dir())
        .args(["--public-url", &public_url, "--key"])
        .arg(&key)
        .arg("--root-key")
        .arg(&root)
        .arg("--out")
        .arg(dir.path().join("never.bundle"))
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()?;
    assert_eq!(refused.status.code(), Some(2), "{}", describe(&refused));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no credentials"), "{stderr}");
    assert!(!dir.path().join("never.bundle").exists());
    Ok(())
}

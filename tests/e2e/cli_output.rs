//! What the `wharf` binary and the registry tell a new user: listen addresses in the forms
//! people type, token expiries as times, `wharf resolve` on the current directory's manifest,
//! and owner messages that say the cargo command that works.

use std::process::Command;

use wharf_e2e_tests::{CargoEnv, CrateProject, TestRegistry, TestResult, describe, wharf_binary};

use crate::settings_precedence::Served;

const PUBLISH: [&str; 4] = ["publish", "--registry", "wharf", "--no-verify"];

#[test]
fn listen_takes_localhost_and_a_bare_port_and_explains_bad_values() -> TestResult {
    let dir = tempfile::tempdir()?;
    for (listen, data) in [("localhost:0", "a"), ("0", "b")] {
        let data = dir.path().join(data).display().to_string();
        let served = Served::start_with(&["--data", &data, "--listen", listen], &[]);
        assert!(
            served.url.starts_with("http://127.0.0.1:"),
            "{listen}: {}",
            served.url
        );
    }
    for bad in ["localhost", "example.invalid:80", "127.0.0.1"] {
        let output = Command::new(wharf_binary())
            .args(["serve", "--data"])
            .arg(dir.path().join("c"))
            .args(["--listen", bad])
            .output()?;
        assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("`{bad}` is not a listen address; use HOST:PORT"))
                && stderr.contains("`127.0.0.1:8080`, `0.0.0.0:80`, `[::1]:8080`")
                && stderr.contains("a port alone"),
            "{stderr}"
        );
    }
    // The config-file key takes the same forms and says the same.
    let config = dir.path().join("wharf.toml");
    std::fs::write(&config, "listen = \"localhost\"\n")?;
    let output = Command::new(wharf_binary())
        .args(["serve", "--config"])
        .arg(&config)
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("config file `{}` line 1", config.display()))
            && stderr.contains("`localhost` is not a listen address; use HOST:PORT"),
        "{stderr}"
    );
    assert!(!dir.path().join("c").exists());
    Ok(())
}

#[test]
fn token_expiries_print_as_rfc3339_times() -> TestResult {
    let registry = TestRegistry::start();
    let created = registry.run_on_data(
        &["token", "create"],
        &["--user", "gina", "--expires", "2031-02-03T04:05:06Z"],
    );
    assert!(created.status.success(), "{}", describe(&created));
    let stderr = String::from_utf8_lossy(&created.stderr);
    assert!(
        stderr.contains("expiring at 2031-02-03T04:05:06Z"),
        "{stderr}"
    );
    // The unix time of that instant, as `--expires` also accepts it, prints the same.
    registry.run_on_data(
        &["token", "create"],
        &["--user", "gina", "--expires", "1927857906"],
    );
    let listed = registry.run_on_data(&["token", "list"], &["--user", "gina"]);
    let listing = String::from_utf8(listed.stdout)?;
    assert_eq!(
        listing.matches("2031-02-03T04:05:06Z").count(),
        2,
        "{listing}"
    );
    assert!(!listing.contains("1927857906"), "{listing}");
    Ok(())
}

#[test]
fn resolve_reads_the_manifest_of_the_current_directory() -> TestResult {
    let registry = TestRegistry::start();
    let cargo = CargoEnv::new(&registry.index_url());
    cargo.login(&registry.admin_token);
    let dep = CrateProject::new("near-dep", "1.2.3").write(cargo.work_dir());
    cargo.cargo_ok(&dep, &PUBLISH);
    registry.settle();
    let app = CrateProject::new("near-app", "0.1.0")
        .dep("near-dep", r#"{ version = "1", registry = "wharf" }"#)
        .write(cargo.work_dir());
    let output = Command::new(wharf_binary())
        .args(["resolve", "--index-dir"])
        .arg(registry.data_dir().join("index"))
        .current_dir(&app)
        .output()?;
    assert!(output.status.success(), "{}", describe(&output));
    let resolved: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(resolved["packages"][0]["name"], "near-dep", "{resolved}");
    assert_eq!(resolved["packages"][0]["version"], "1.2.3", "{resolved}");
    Ok(())
}

#[test]
fn owner_messages_say_what_works() {
    let registry = TestRegistry::start();
    let cargo = CargoEnv::new(&registry.index_url());
    cargo.login(&registry.admin_token);
    let owned = CrateProject::new("owned-crate", "1.0.0").write(cargo.work_dir());
    cargo.cargo_ok(&owned, &PUBLISH);

    // Adding an owner who has no account: only an operator can create one.
    let refused = cargo.cargo_err(
        cargo.work_dir(),
        &[
            "owner",
            "--registry",
            "wharf",
            "--add",
            "hana",
            "owned-crate",
        ],
    );
    assert!(
        refused.contains(
            "no user with login `hana`; an operator creates it with `wharf token create --user hana`"
        ),
        "{refused}"
    );

    // A non-owner is told the cargo command, registry included, that an owner runs.
    let other = CargoEnv::new(&registry.index_url());
    other.login(&registry.create_token("hana", &[]));
    let intruder = CrateProject::new("owned-crate", "2.0.0").write(other.work_dir());
    let refused = other.cargo_err(&intruder, &PUBLISH);
    assert!(
        refused.contains(
            "user `hana` is not an owner of crate `owned-crate`; ask an owner to run `cargo owner --registry <registry> --add hana owned-crate`"
        ),
        "{refused}"
    );
}

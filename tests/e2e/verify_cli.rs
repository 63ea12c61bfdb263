//! `wharf verify` and `wharf install --root-key` on honest registries: the state it keeps,
//! a wrong or unreadable root key, a private registry, releases signed by publisher keys,
//! and an install refused when a line does not match its leaf. The threats themselves are
//! in `threats.rs`.

use std::process::Command;

use wharf_e2e_tests::forged_log::{ForgedLog, StolenKeys};
use wharf_e2e_tests::tamper_proxy::{Rule, edit, edit_line};
use wharf_e2e_tests::verify_setup::{VerifySetup as Setup, publish};
use wharf_e2e_tests::{TestResult, wharf_binary};
use wharf_trust::SigningKey;

const TIMESTAMP: &str = "/index/.wharf/timestamp";

#[test]
fn the_honest_path_passes_and_keeps_state() -> TestResult {
    let setup = Setup::start();
    let stdout = setup.passes(&["--all"]);
    assert!(
        stdout.contains("verified 2 packages (3 versions) against the log of 3 leaves"),
        "{stdout}"
    );
    setup.passes(&["demo-pkg", "other-pkg", "--crates"]);
    let kept = std::fs::read_dir(setup.state())?.count();
    assert_eq!(kept, 2, "one state file and one leaves file per root key");
    publish(&setup.registry, "demo-pkg", "1.2.0");
    setup.passes(&["demo-pkg"]);
    setup.fails_with(&["no-such-pkg"], "no-such-pkg: no such package");
    // The leaves kept beside the state are only a speed-up: altered or damaged, they are
    // fetched again.
    let kept_leaves = std::fs::read_dir(setup.state())?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "leaves"))
        .ok_or("a kept leaves file")?;
    let text = std::fs::read_to_string(&kept_leaves)?;
    std::fs::write(&kept_leaves, text.replacen("demo-pkg", "demo-pkx", 1))?;
    publish(&setup.registry, "other-pkg", "0.2.0");
    setup.passes(&["--all"]);
    std::fs::write(&kept_leaves, "garbage")?;
    setup.passes(&["--all"]);
    Ok(())
}

#[test]
fn another_root_key_or_an_unreadable_one_is_refused() {
    let setup = Setup::start();
    let root = setup.client.path().join("root.pub");
    let pinned = std::fs::read(&root).expect("the root key");
    std::fs::write(
        &root,
        format!("{}\n", SigningKey::generate().public_key().to_text()),
    )
    .expect("written");
    setup.fails_with(&["demo-pkg"], "is not the pinned root key");
    std::fs::write(&root, "not a key\n").expect("written");
    let output = Command::new(wharf_binary())
        .args([
            "verify",
            "--index-url",
            &setup.proxy.index_url(),
            "--root-key",
        ])
        .arg(&root)
        .arg("--state")
        .arg(setup.state())
        .arg("demo-pkg")
        .output()
        .expect("wharf runs");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("is not a root public key"), "{stderr}");
    std::fs::write(&root, pinned).expect("written");
    assert!(
        !setup.state().exists(),
        "failed runs keep no state: {:?}",
        setup.state()
    );
    setup.passes(&["demo-pkg"]);
}

#[test]
fn a_private_registry_needs_the_token_for_every_document() {
    let setup = Setup::start_with(&["--auth-required"]);
    setup.fails_with(
        &["demo-pkg"],
        "HTTP 401; the registry needs a token: pass `--token`",
    );
    let token = setup.registry.admin_token.clone();
    setup.passes(&["demo-pkg", "--token", &token]);
}

#[test]
fn install_with_a_root_key_checks_each_release_against_the_log() -> TestResult {
    use wharf_e2e_tests::upload::publish_body_with_deps;
    let setup = Setup::start();
    for (name, version, deps) in [
        ("host-api", "1.0.0", &[][..]),
        ("greeter", "1.0.0", &[("host-api", "^1")][..]),
    ] {
        let response = setup
            .registry
            .http()
            .put(format!("{}/api/v1/crates/new", setup.registry.url()))
            .header("Authorization", &setup.registry.admin_token)
            .body(publish_body_with_deps(name, version, deps))
            .send()?;
        assert_eq!(response.status(), 200, "{name}");
    }
    let install = |dir: &str| {
        Command::new(wharf_binary())
            .args(["install", "greeter", "--host-api", "1.0.0", "--index-url"])
            .arg(setup.proxy.index_url())
            .arg("--root-key")
            .arg(setup.client.path().join("root.pub"))
            .arg("--dir")
            .arg(setup.client.path().join(dir))
            .env("WHARF_VERIFY_STATE", setup.state())
            .env_remove("WHARF_TOKEN")
            .output()
    };
    let output = install("honest")?;
    assert!(output.status.success(), "{output:?}");
    let greeter = format!("/index/{}", wharf_index_format::index_path("greeter"));
    setup.proxy.add(Rule::exact(
        &greeter,
        edit(|file| {
            edit_line(file, "1.0.0", |line| {
                line.replacen(",\"wharf\"", ",\"x\":1,\"wharf\"", 1)
            })
        }),
    ));
    let output = install("tampered")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("error[signature-invalid]") && stderr.contains("entry mismatch"),
        "{stderr}"
    );
    Ok(())
}

#[test]
fn publisher_signed_releases_verify_and_a_registry_only_signature_does_not() -> TestResult {
    use wharf_e2e_tests::{CargoEnv, CrateProject};
    let setup = Setup::start();
    let registry = &setup.registry;
    let cargo = CargoEnv::new(&registry.index_url());
    cargo.login(&registry.admin_token);
    let key = cargo.work_dir().join("alice.key");
    let wharf = |args: &[&str]| {
        let output = Command::new(wharf_binary())
            .args(args)
            .env("CARGO_HOME", cargo.home())
            .env(
                "CARGO_TARGET_DIR",
                std::env::temp_dir().join("wharf-e2e-cargo-target"),
            )
            .env_remove("WHARF_TOKEN")
            .env_remove("WHARF_REGISTRY")
            .output()
            .expect("wharf runs");
        assert!(output.status.success(), "wharf {args:?}: {output:?}");
    };
    let key_text = key.to_str().ok_or("a UTF-8 path")?;
    let url = registry.url();
    let signed = [
        "--registry",
        &url,
        "--token",
        &registry.admin_token,
        "--key",
        key_text,
    ];
    wharf(&["keys", "new", "--out", key_text]);
    wharf(&[&["keys", "register"][..], &signed[..]].concat());
    let dir = CrateProject::new("signed-demo", "1.0.0")
        .lib("pub fn answer() -> u32 { 42 }\n")
        .write(cargo.work_dir());
    let dir_text = dir.to_str().ok_or("a UTF-8 path")?;
    wharf(&[&["publish", dir_text, "--no-verify"][..], &signed[..]].concat());
    setup.passes(&["signed-demo"]);
    setup.passes(&["--all"]);

    // The registry's online key alone (the publisher's signature removed) is not enough for
    // a package with publisher keys.
    let mut forged = ForgedLog::of(registry);
    let release = forged
        .leaves
        .iter()
        .position(|leaf| {
            let text = String::from_utf8_lossy(leaf);
            text.starts_with("wharf-release-v1\n") && text.contains("name: signed-demo\n")
        })
        .ok_or("a release leaf of signed-demo")?;
    let text = String::from_utf8(forged.leaves[release].clone())?;
    let publisher_id =
        wharf_trust::SigningKey::from_key_file(&std::fs::read_to_string(&key)?, None)?
            .key_id()
            .to_string();
    let line = text
        .lines()
        .find(|line| line.starts_with(&format!("signature: {publisher_id}")))
        .ok_or("the publisher's signature")?
        .to_owned();
    forged.rewrite_leaf(release, &format!("{line}\n"), "");
    let keys = StolenKeys::of(registry);
    setup
        .proxy
        .set(forged.rules(&keys, &setup.fetch(TIMESTAMP)));
    // A client that never saw this registry (no kept checkpoint to show the fork).
    std::fs::remove_dir_all(setup.state())?;
    setup.fails_with(&["signed-demo"], "signed-demo 1.0.0: bad signature: leaf");
    let (_, stdout) = setup.verify(&["signed-demo"]);
    assert!(
        stdout.contains("0 valid signatures by current owner keys of signed-demo"),
        "{stdout}"
    );
    Ok(())
}
